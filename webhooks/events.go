package webhooks

import (
	"fmt"
	"slices"
	"strings"
)

// EventType is an audit event type an endpoint may ask for.
type EventType struct {
	Name string
	// About says when it happens and what its data holds.
	About string
}

// AllEvents in an endpoint's filter is every type, those added later
// included.
const AllEvents = "*"

// EventTypes is every audit event authflow records, and so every type a
// webhook may carry (docs/design.md "Webhooks"). A test reads the code
// that records events and fails when a type is missing here or listed but
// never recorded; another keeps api/openapi.yaml's lists equal to it.
var EventTypes = []EventType{
	{"login_succeeded", "a login (or a recovery) ended with a session; data: method, when there was a second step"},
	{"login_failed", "a wrong password at login, or a wrong current_password; data: reason"},
	{"second_factor_failed", "a wrong second-step answer; data: method, reason"},
	{"totp_replay_rejected", "an authenticator code used already was refused (no attempt); data: method, reason"},
	{"login_denied_by_user", "the person pressed \"Not me\" on a Telegram prompt; data: method"},
	{"rate_limited", "the account's second step was throttled; data: retry_after, or locked and failures at the hard cap"},
	{"factor_enabled", "a second factor or passwordless sign-in turned on; data: method (and device_id, name for a passkey)"},
	{"factor_disabled", "a second factor or passwordless sign-in turned off; data: method"},
	{"device_added", "a passkey was registered; data: device_id, name"},
	{"device_removed", "a passkey was removed; data: device_id, name"},
	{"phone_added", "a phone was verified (the reserve method); data: phone_id, number_masked, kind"},
	{"phone_removed", "a phone was removed; data: phone_id, number_masked"},
	{"telegram_linked", "a Telegram account was linked; data: account_id, username, chat_id"},
	{"telegram_unlinked", "a Telegram account was unlinked; data: account_id, username, chat_id"},
	{"two_factor_downgraded", "a phone login turned every second factor off (the downgrade saga); data: method"},
	{"bank_cards_unlinked", "the downgrade saga unlinked the account's bank cards; data: count"},
	{"sessions_ended", "sessions ended at once; data: count, reason"},
	{"password_changed", "the password changed (every other session ended)"},
	{"account_unlocked", "an admin ended the account's lockouts; data: by"},
	{"recovery_codes_created", "a new set of recovery codes; data: count, replaced"},
	{"recovery_started", "an account recovery began for the account"},
	{"recovery_second_factor", "a recovery was proven with a second factor; data: method"},
	{"recovery_waiting", "a recovery waits out its delay because every factor was lost; data: ready_at"},
	{"recovery_cancelled", "a recovery was cancelled; data: reason"},
	{"recovery_completed", "a recovery set a new password"},
}

// KnownEventType says whether name is in EventTypes.
func KnownEventType(name string) bool {
	return slices.ContainsFunc(EventTypes, func(t EventType) bool { return t.Name == name })
}

// ParseFilter checks an endpoint's event filter: known types or "*", at
// least one. Duplicates are dropped; "*" with other types is "*" alone.
func ParseFilter(types []string) ([]string, error) {
	if len(types) == 0 {
		return nil, fmt.Errorf("events: name at least one event type, or %q for every type", AllEvents)
	}
	var out, unknown []string
	all := false
	for _, t := range types {
		switch {
		case t == AllEvents:
			all = true
		case !KnownEventType(t):
			unknown = append(unknown, fmt.Sprintf("%q", t))
		case !slices.Contains(out, t):
			out = append(out, t)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("events: unknown event type %s (known: %s, or %q for every type)",
			strings.Join(unknown, ", "), strings.Join(Names(), ", "), AllEvents)
	}
	if all {
		return []string{AllEvents}, nil
	}
	return out, nil
}

// Names lists EventTypes' names in their order.
func Names() []string {
	out := make([]string, len(EventTypes))
	for i, t := range EventTypes {
		out[i] = t.Name
	}
	return out
}
