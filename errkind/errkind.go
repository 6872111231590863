// Package errkind is authflow's one list of error kinds. Every failure a
// client can see has a kind: the activities raise it, the workflows return
// it, the API answers it. A kind is the type string of the Temporal
// ApplicationError that carries it (workflow histories record it, so a
// kind's string never changes once released), and the list below gives
// each kind the HTTP status and the API code of docs/api.md. The API
// renders a kind (api/errors.go); nothing else translates one.
package errkind

import (
	"errors"
	"net/http"

	"go.temporal.io/sdk/temporal"
)

// Kind is one kind of failure: an ApplicationError type.
type Kind string

// The kinds a client can see, with the code docs/api.md gives each.
const (
	// BadRequest: malformed input, never an attempt (bad_request).
	BadRequest Kind = "BadRequest"
	// InvalidCredentials: unknown email or wrong password at login
	// (401 invalid_credentials).
	InvalidCredentials Kind = "InvalidCredentials"
	// WrongCurrentPassword: a signed-in user's current_password is wrong
	// (403 invalid_credentials: the session is fine, the proof is not).
	WrongCurrentPassword Kind = "WrongCurrentPassword"
	// Unauthorized: no session, a bad one, or no admin token.
	Unauthorized Kind = "Unauthorized"
	// Forbidden: a state-changing request from another origin.
	Forbidden Kind = "Forbidden"
	// ReauthRequired: a factor change needs a login under 15 minutes old
	// or current_password.
	ReauthRequired Kind = "ReauthRequired"
	// InvalidCode and InvalidAssertion are wrong answers, each an attempt;
	// they carry AttemptsDetails.
	InvalidCode      Kind = "InvalidCode"
	InvalidAssertion Kind = "InvalidAssertion"
	// CodeAlreadyUsed: an authenticator app's right code whose time step
	// was used already (to turn the app on, or to sign in). It is never
	// accepted and is no attempt: the next code will do. It carries
	// AttemptsDetails, unchanged.
	CodeAlreadyUsed Kind = "CodeAlreadyUsed"
	// DowngradeNotConfirmed: a phone method without confirm_downgrade.
	DowngradeNotConfirmed Kind = "DowngradeNotConfirmed"
	// MethodUnavailable: the method is not offered to this account, its
	// channel is not configured, or what it needs is gone (a phone removed
	// meanwhile, a number that may get no code, a chat that blocked the
	// bot).
	MethodUnavailable Kind = "MethodUnavailable"
	// WrongState: the flow is not at the step the call is for.
	WrongState Kind = "WrongState"
	// Conflict: the thing exists already (a passkey on another account, a
	// phone already on the account).
	Conflict Kind = "Conflict"
	// FlowExpired: the flow's timer ran out.
	FlowExpired Kind = "FlowExpired"
	// FlowNotFound: no such flow, or not the caller's (a wrong or missing
	// flow secret looks exactly like an unknown flow id).
	FlowNotFound Kind = "FlowNotFound"
	// NotFound: no such user, session, device, phone, or route.
	NotFound Kind = "NotFound"
	// MethodNotAllowed: the route exists, not with this HTTP method.
	MethodNotAllowed Kind = "MethodNotAllowed"
	// PayloadTooLarge: a body over 64 KiB.
	PayloadTooLarge Kind = "PayloadTooLarge"
	// RateLimited: too many attempts or sends; it carries RateLimitDetails.
	RateLimited Kind = "RateLimited"
	// Unavailable: a dependency did not answer in time, a step failed for
	// good (the phone saga was compensated), or phone sends are capped.
	// The client may retry later.
	Unavailable Kind = "Unavailable"
)

// Kinds a client never sees as they are: a flow returns Unavailable for
// them ("a step of the flow failed"), and the API answers 503 unavailable
// with a message of its own.
const (
	// Internal: input the code itself made is unreadable (a sealed value
	// under another secret key, an unknown method or channel), or a
	// library refused what it was given. A bug or a changed
	// AUTHFLOW_SECRET_KEY, never the client's doing.
	Internal Kind = "Internal"
	// ProviderThrottled is retryable: the provider asked to be called
	// again later, and the error's NextRetryDelay is when.
	ProviderThrottled Kind = "ProviderThrottled"
)

// HTTP is how the API answers a kind: a status and docs/api.md's code.
type HTTP struct {
	Status int
	Code   string
	// Hidden: the failure's message is not shown (an Internal kind).
	Hidden bool
}

// list is the one mapping of kinds to HTTP. A kind declared above and
// missing here fails errkind's tests.
var list = map[Kind]HTTP{
	BadRequest:            {http.StatusBadRequest, "bad_request", false},
	InvalidCredentials:    {http.StatusUnauthorized, "invalid_credentials", false},
	WrongCurrentPassword:  {http.StatusForbidden, "invalid_credentials", false},
	Unauthorized:          {http.StatusUnauthorized, "unauthorized", false},
	Forbidden:             {http.StatusForbidden, "forbidden", false},
	ReauthRequired:        {http.StatusForbidden, "reauth_required", false},
	InvalidCode:           {http.StatusBadRequest, "invalid_code", false},
	InvalidAssertion:      {http.StatusBadRequest, "invalid_assertion", false},
	CodeAlreadyUsed:       {http.StatusBadRequest, "code_already_used", false},
	DowngradeNotConfirmed: {http.StatusConflict, "downgrade_not_confirmed", false},
	MethodUnavailable:     {http.StatusConflict, "method_unavailable", false},
	WrongState:            {http.StatusConflict, "wrong_state", false},
	Conflict:              {http.StatusConflict, "conflict", false},
	FlowExpired:           {http.StatusGone, "flow_expired", false},
	FlowNotFound:          {http.StatusNotFound, "flow_not_found", false},
	NotFound:              {http.StatusNotFound, "not_found", false},
	MethodNotAllowed:      {http.StatusMethodNotAllowed, "method_not_allowed", false},
	PayloadTooLarge:       {http.StatusRequestEntityTooLarge, "payload_too_large", false},
	RateLimited:           {http.StatusTooManyRequests, "rate_limited", false},
	Unavailable:           {http.StatusServiceUnavailable, "unavailable", false},

	Internal:          {http.StatusServiceUnavailable, "unavailable", true},
	ProviderThrottled: {http.StatusServiceUnavailable, "unavailable", true},
}

// HTTP is how the API answers k; ok is false for a string that is not a
// listed kind.
func (k Kind) HTTP() (h HTTP, ok bool) {
	h, ok = list[k]
	return h, ok
}

// Public reports whether a client may see a failure of kind k as it is.
func (k Kind) Public() bool {
	h, ok := list[k]
	return ok && !h.Hidden
}

// Kinds lists every kind.
func Kinds() []Kind {
	out := make([]Kind, 0, len(list))
	for k := range list {
		out = append(out, k)
	}
	return out
}

// RateLimitDetails ride on RateLimited.
type RateLimitDetails struct {
	RetryAfterSeconds int `json:"retry_after"`
	// Locked: the account's second step reached the hard cap and stays
	// locked until the password is changed or an admin unlocks it.
	Locked bool `json:"locked,omitempty"`
}

// AttemptsDetails ride on InvalidCode, InvalidAssertion and CodeAlreadyUsed.
type AttemptsDetails struct {
	AttemptsLeft int `json:"attempts_left"`
}

// New is a non-retryable failure of kind k, with at most one details
// value (RateLimitDetails, AttemptsDetails).
func New(k Kind, msg string, details ...any) error {
	return Wrap(k, msg, nil, details...)
}

// Wrap is New with the cause kept (for logs; the client sees msg).
func Wrap(k Kind, msg string, cause error, details ...any) error {
	return temporal.NewNonRetryableApplicationError(msg, string(k), cause, details...)
}

// Of finds the failure in err (which may wrap it, as an activity error
// wraps its cause) and its kind; ok is false when err carries no listed
// kind.
func Of(err error) (k Kind, ae *temporal.ApplicationError, ok bool) {
	if !errors.As(err, &ae) {
		return "", nil, false
	}
	k = Kind(ae.Type())
	_, ok = list[k]
	return k, ae, ok
}

// Is reports whether err carries a failure of kind k.
func Is(err error, k Kind) bool {
	got, _, ok := Of(err)
	return ok && got == k
}
