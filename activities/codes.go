package activities

import (
	"context"
	"errors"
	"fmt"
	htmlpkg "html"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/i18n"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// Code channels.
const (
	ChannelEmail        = "email"
	ChannelSMS          = "sms"
	ChannelCallDictate  = "call_dictate"
	ChannelCallFlash    = "call_flash"
	ChannelTelegram     = "telegram"
	ChannelEmailNotice  = "email_notice"
	ChannelTelegramNote = "telegram_notice"
)

// SendCodeInput asks for a one-time code to be sent.
type SendCodeInput struct {
	FlowID  string
	UserID  string
	Channel string // ChannelEmail, ChannelSMS, ChannelCallDictate, ChannelCallFlash
	// PhoneID names the user's phone for SMS and calls (login).
	PhoneID string
	// Number is an unverified number being enrolled (SMS only).
	Number string
	// Purpose words the message ("login", "enroll").
	Purpose string
	// IP is the client that asked for the send, when known: a number
	// being enrolled counts against its IP's budget.
	IP string `json:",omitempty"`
	// Locale is the language of the browser that started the flow, the
	// message's language when the user chose none.
	Locale string `json:",omitempty"`
}

// SentCode is what the workflow keeps of a code: a MAC, never the code.
type SentCode struct {
	MAC       []byte
	Digits    int
	ExpiresAt time.Time
	// OneAnswer: the code takes one answer, right or wrong (a flash call:
	// its 4 digits are few; docs/security.md "Flash calls").
	OneAnswer bool `json:",omitempty"`
}

// SendCode makes a code, sends it and returns its MAC. The code is derived
// from the send's idempotency key, so a retry sends (or skips, when the first
// try was recorded) the very same code: never a second code, and a second
// copy only when a worker dies between the provider's acceptance and the
// record (README "Exactly once, as far as a provider allows").
func (a *Activities) SendCode(ctx context.Context, in SendCodeInput) (SentCode, error) {
	key := idemKey(ctx)
	now := a.now()
	var to string
	switch {
	case in.Channel == ChannelEmail:
		u, err := a.Store.UserByID(ctx, in.UserID)
		if err != nil {
			return SentCode{}, storeErr("user", err)
		}
		to = u.Email
	case in.Number != "":
		to = in.Number
	default:
		p, err := a.Store.Phone(ctx, in.UserID, in.PhoneID)
		if err != nil {
			return SentCode{}, storeErr("phone", err)
		}
		to = p.Number
	}
	ttl := 10 * time.Minute
	digits := 6
	var code, from string
	switch in.Channel {
	case ChannelEmail, ChannelSMS:
		code = security.DerivedDigits(a.SecretKey, key, digits)
	case ChannelCallDictate:
		digits = 4
		code = security.DerivedDigits(a.SecretKey, key, digits)
	case ChannelCallFlash:
		if a.FlashCalls.Suffixes() == 0 {
			return SentCode{}, errkind.New(errkind.MethodUnavailable, "no TWILIO_FLASH_CALL_NUMBERS configured")
		}
		digits, ttl = 4, 3*time.Minute
	default:
		return SentCode{}, errkind.New(errkind.Internal, "unknown channel "+in.Channel)
	}
	out := SentCode{Digits: digits, ExpiresAt: now.Add(ttl), OneAnswer: in.Channel == ChannelCallFlash}

	if sent, err := a.Store.SentMessage(ctx, key); err == nil {
		// The first try sent it: the same code, from its MAC on record
		// (a flash call's caller was drawn at random).
		out.MAC = sent.CodeMAC
		if len(out.MAC) == 0 {
			out.MAC = security.CodeMAC(a.SecretKey, in.FlowID, code)
		}
		return out, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return SentCode{}, storeErr("sent message", err)
	}
	if in.Channel == ChannelCallFlash {
		// Drawn with crypto/rand, uniformly over the pool's distinct
		// suffixes: each of them is one possible code.
		var err error
		if from, err = a.FlashCalls.Draw(); err != nil {
			return SentCode{}, errkind.New(errkind.MethodUnavailable, err.Error())
		}
		code = from[len(from)-4:]
	}
	out.MAC = security.CodeMAC(a.SecretKey, in.FlowID, code)
	send := outgoing{userID: in.UserID, to: to, ip: in.IP, channel: in.Channel, kind: store.SentKindCode}
	if in.Number != "" {
		send.kind = store.SentKindEnroll
	}
	if err := a.checkSendLimits(ctx, send); err != nil {
		return SentCode{}, err
	}
	var providerID string
	var err error
	switch in.Channel {
	case ChannelEmail:
		providerID, err = a.Email.SendEmail(ctx, a.codeEmail(ctx, to, code, in, key))
	case ChannelSMS:
		providerID, err = a.SMS.SendSMS(ctx, to, i18n.T(a.lang(ctx, in.UserID, in.Locale), "code.sms", map[string]any{"Code": code}), key)
	case ChannelCallDictate:
		providerID, err = a.Voice.DictateCall(ctx, to, code, key)
	case ChannelCallFlash:
		// The caller is part of the provider's key: a retry that drew
		// another caller (its first try's record never landed) must place
		// that call, not be answered with the first one, or the code the
		// flow keeps would not be the caller the person sees.
		providerID, err = a.Voice.FlashCall(ctx, to, from, key+"/"+from)
	}
	if err != nil {
		return SentCode{}, sendErr(in.Channel, err)
	}
	if err := a.Store.RecordSentMessage(ctx, store.SentMessage{Key: key, UserID: in.UserID, Channel: in.Channel,
		Recipient: to, ProviderID: providerID, SentAt: now, CodeMAC: out.MAC, Kind: send.kind, IP: in.IP}); err != nil {
		// The provider accepted the message: failing now would make the
		// retry send it again. Losing the record only loses one count of
		// the send limit.
		a.log(ctx).Warn("code sent but not recorded", "channel", in.Channel, "err", err)
	}
	a.log(ctx).Info("code sent", "channel", in.Channel, "to", maskRecipient(to))
	return out, nil
}

func (a *Activities) codeEmail(ctx context.Context, to, code string, in SendCodeInput, key string) channels.Email {
	lang := a.lang(ctx, in.UserID, in.Locale)
	purpose, after := "login", "code.email.after.login"
	switch in.Purpose {
	case "enroll":
		purpose = "enroll"
	case "recovery":
		purpose, after = "recovery", "code.email.after.recovery"
	}
	intro := i18n.T(lang, "code.email.intro", map[string]any{"What": i18n.T(lang, "code.email.what."+purpose, nil)})
	expires := i18n.T(lang, "code.email.expires", nil)
	afterText := i18n.T(lang, after, map[string]any{"Link": a.PublicURL + "/recover?flow=" + in.FlowID})
	text := fmt.Sprintf("%s %s\n\n%s %s\n", intro, code, expires, afterText)
	html := fmt.Sprintf(`<p>%s</p><p style="font-size:28px;font-weight:bold;letter-spacing:4px">%s</p><p>%s %s</p>`,
		htmlpkg.EscapeString(intro), code, htmlpkg.EscapeString(expires), htmlpkg.EscapeString(afterText))
	// Never the code in the subject: mail lists, notification previews and
	// lock screens show subjects to whoever looks (docs/security.md).
	return channels.Email{To: to, Subject: i18n.T(lang, "code.email.subject", nil), Text: text, HTML: html, Key: key}
}

// outgoing is a send about to be made, as the budgets see it.
type outgoing struct {
	userID, to, ip, channel string
	kind                    store.SentKind
}

// phoneChannels are the sends the hourly phone cap counts: codes, and the
// recovery notices texted to phones (they cost the same).
var phoneChannels = []string{ChannelSMS, ChannelCallDictate, ChannelCallFlash, ChannelSMSNotice}

// phoneUse is what a phone channel asks of a number.
func phoneUse(channel string) (phone.Use, bool) {
	switch channel {
	case ChannelSMS:
		return phone.UseSMS, true
	case ChannelCallDictate, ChannelCallFlash:
		return phone.UseCall, true
	}
	return "", false
}

// checkSendLimits stops the system from texting or calling in a loop, and
// from sending codes where SMS pumping and toll fraud earn
// (docs/security.md "Send budgets"):
//   - a phone send goes only to a number whose type and region may get
//     codes (PhonePolicy);
//   - codes and prompts count per account, codes per recipient;
//   - codes to a number not yet verified count per account, per IP and per
//     number on budgets of their own, so another account enrolling a
//     victim's number never uses up the victim's login codes;
//   - notices count nowhere;
//   - every phone send of every account counts against the hourly cap.
func (a *Activities) checkSendLimits(ctx context.Context, o outgoing) error {
	use, isPhone := phoneUse(o.channel)
	if isPhone {
		if err := a.PhonePolicy.Check(o.to, use); err != nil {
			rule := phone.RuleType
			if r, ok := errors.AsType[*phone.Refusal](err); ok {
				rule = r.Rule
			}
			a.metrics().PhoneSendRefused(rule)
			a.log(ctx).Warn("code not sent: the number may not get codes", "channel", o.channel, "to", maskRecipient(o.to), "rule", rule)
			return errkind.New(errkind.MethodUnavailable, err.Error())
		}
	}
	now := a.now()
	since := now.Add(-a.Limits.SendWindow)
	type budget struct {
		q     store.SentQuery
		limit int
	}
	var budgets []budget
	if o.kind == store.SentKindEnroll {
		enroll := []store.SentKind{store.SentKindEnroll}
		budgets = append(budgets, budget{store.SentQuery{UserID: o.userID, Kinds: enroll}, a.Limits.EnrollSendsPerAccount})
		if o.ip != "" {
			budgets = append(budgets, budget{store.SentQuery{IP: o.ip, Kinds: enroll}, a.Limits.EnrollSendsPerIP})
		}
		budgets = append(budgets, budget{store.SentQuery{Recipient: o.to, Kinds: enroll}, a.Limits.SendsPerRecipient})
	} else {
		if o.userID != "" {
			budgets = append(budgets, budget{store.SentQuery{UserID: o.userID,
				Kinds: []store.SentKind{store.SentKindCode, store.SentKindPrompt}}, a.Limits.SendsPerAccount})
		}
		if o.to != "" {
			budgets = append(budgets, budget{store.SentQuery{Recipient: o.to, Kinds: []store.SentKind{store.SentKindCode}}, a.Limits.SendsPerRecipient})
		}
	}
	for _, b := range budgets {
		if b.limit <= 0 || (b.q.UserID == "" && b.q.Recipient == "" && b.q.IP == "") {
			continue
		}
		b.q.Since = since
		n, err := a.Store.CountSends(ctx, b.q)
		if err != nil {
			return storeErr("count sends", err)
		}
		if n >= b.limit {
			return rateLimited(a.Limits.SendWindow / time.Duration(b.limit))
		}
	}
	if capped := a.Limits.PhoneSendsPerHour; isPhone && capped > 0 {
		n, err := a.Store.CountSends(ctx, store.SentQuery{Channels: phoneChannels, Since: now.Add(-time.Hour)})
		if err != nil {
			return storeErr("count phone sends", err)
		}
		if n >= capped {
			a.metrics().PhoneSendRefused("cap")
			a.log(ctx).Error("phone send refused: the hourly cap on all phone sends (AUTHFLOW_PHONE_SENDS_PER_HOUR) is reached; "+
				"an SMS pumping wave may be under way", "cap", capped, "sent_last_hour", n, "channel", o.channel,
				"to", maskRecipient(o.to), "kind", string(o.kind), "ip", o.ip)
			return errkind.New(errkind.Unavailable,
				"codes by phone are paused: too many were sent in the last hour; use another method or try again later")
		}
	}
	return nil
}

func sendErr(channel string, err error) error {
	var perm *channels.PermanentError
	if errors.As(err, &perm) {
		return errkind.Wrap(errkind.MethodUnavailable, channel+": "+perm.Error(), err)
	}
	if d := channels.RetryDelay(err); d > 0 {
		// The provider said when: the next attempt waits that long
		// instead of the retry policy's back-off (which could come back
		// sooner and be throttled again, or later than needed).
		return temporal.NewApplicationErrorWithOptions(channel+": "+err.Error(), string(errkind.ProviderThrottled),
			temporal.ApplicationErrorOptions{Cause: err, NextRetryDelay: d})
	}
	return fmt.Errorf("%s: %w", channel, err)
}

func maskRecipient(to string) string {
	if phone.Valid(to) {
		return phone.Mask(to)
	}
	if at := strings.IndexByte(to, '@'); at > 1 {
		return to[:1] + "***" + to[at:]
	}
	return "***"
}

// CheckCodeInput compares a submitted (sealed) code with the MAC the flow
// keeps.
type CheckCodeInput struct {
	FlowID string
	// UserID is the account the answer counts on.
	UserID     string
	CodeSealed []byte
	MAC        []byte
}

// CheckCode reserves the answer on the account (a login's; an enrollment
// passes no UserID and counts in its flow only), then opens the submitted
// code and compares it with the flow's MAC in constant time.
func (a *Activities) CheckCode(ctx context.Context, in CheckCodeInput) (Answer, error) {
	code, err := a.Sealer.Open(security.PurposeCode, in.CodeSealed)
	if err != nil {
		return Answer{}, errkind.Wrap(errkind.Internal, "sealed code", err)
	}
	var ans Answer
	if in.UserID != "" {
		if ans, err = a.reserveAnswer(ctx, in.UserID); err != nil || ans.Refused {
			return ans, err
		}
	}
	ans.OK = security.CodeMACMatches(a.SecretKey, in.FlowID, string(code), in.MAC)
	err = a.keepIfRight(ctx, in.UserID, &ans)
	return ans, err
}

// keepIfRight gives a right answer's reservation back by resetting the
// account's counter, and says so in ans.Reset: only wrong answers count
// (a phone saga may still fail before any session exists), and the session
// that follows does not reset it again.
func (a *Activities) keepIfRight(ctx context.Context, userID string, ans *Answer) error {
	if !ans.OK || !ans.Counted {
		return nil
	}
	if err := a.Store.ResetAttempts(ctx, rules.ScopeSecondFactor, userID); err != nil {
		return storeErr("reset attempts", err)
	}
	ans.Reset = true
	return nil
}

// VerifyTOTPInput is a TOTP answer.
type VerifyTOTPInput struct {
	UserID     string
	CodeSealed []byte
	// IP is the client that answered, for the replay's event.
	IP string `json:",omitempty"`
}

// VerifyTOTP reserves the answer on the account, checks the code against
// the user's secret and uses its time step up, so the same code never
// passes twice (RFC 6238 §5.2).
//
// A replay — the code of a step in the window that is used already — is
// refused (Replay) but is no attempt: the reservation is given back and
// the totp_replay_rejected event recorded here. Only a code that matches
// the secret can be a replay, so a guess never escapes the count: the
// person who just used a code (to turn the app on, or to sign in) and
// types it again is told to wait for the next one instead of losing an
// attempt (docs/security.md "TOTP replay").
func (a *Activities) VerifyTOTP(ctx context.Context, in VerifyTOTPInput) (Answer, error) {
	code, err := a.Sealer.Open(security.PurposeCode, in.CodeSealed)
	if err != nil {
		return Answer{}, errkind.Wrap(errkind.Internal, "sealed code", err)
	}
	tf, err := a.Store.TwoFactorSettings(ctx, in.UserID)
	if err != nil {
		return Answer{}, storeErr("2fa settings", err)
	}
	if !tf.TOTPEnabled || len(tf.TOTPSecretSealed) == 0 {
		return Answer{}, errkind.New(errkind.MethodUnavailable, "totp is off")
	}
	secret, err := a.Sealer.Open(security.PurposeTOTPSecret, tf.TOTPSecretSealed)
	if err != nil {
		return Answer{}, errkind.Wrap(errkind.MethodUnavailable, "totp secret cannot be opened (was AUTHFLOW_SECRET_KEY changed?)", err)
	}
	// Reserved before the check even for what may prove a replay: a locked
	// account is refused before its code is looked at, so a lock tells
	// nothing about a code either.
	ans, r, err := a.reserve(ctx, in.UserID)
	if err != nil || ans.Refused {
		return ans, err
	}
	if step := rules.MatchTOTPStep(string(secret), string(code), a.now()); step >= 0 {
		// Keyed by this answer: a check run again for the same answer (its
		// workflow task retried on another worker after one died between
		// the check and the task's end) is not its own replay.
		used, err := a.Store.UseTOTPStep(ctx, in.UserID, step, idemKey(ctx))
		if err != nil {
			return Answer{}, storeErr("use totp step", err)
		}
		ans.OK, ans.Replay = used, !used
	}
	if ans.Replay {
		return a.releaseReplay(ctx, in, ans, r)
	}
	err = a.keepIfRight(ctx, in.UserID, &ans)
	return ans, err
}

// releaseReplay gives a replay's reservation back and records it.
func (a *Activities) releaseReplay(ctx context.Context, in VerifyTOTPInput, ans Answer, r store.Reservation) (Answer, error) {
	if err := a.Store.ReleaseAttempt(ctx, rules.ScopeSecondFactor, in.UserID, r); err != nil {
		return Answer{}, storeErr("release attempt", err)
	}
	st, err := a.Store.GetAttempts(ctx, rules.ScopeSecondFactor, in.UserID)
	if err != nil {
		return Answer{}, storeErr("attempts", err)
	}
	ans.Counted, ans.Failures, ans.Budget = false, st.Failures, a.budget(st)
	if err := a.addEvent(ctx, in.UserID, "totp_replay_rejected", in.IP, map[string]any{"method": "totp", "reason": "replay"}); err != nil {
		return Answer{}, storeErr("event", err)
	}
	a.metrics().Login("totp", "replay")
	return ans, nil
}

// itoa64 formats chat ids for the sent-message log.
func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
