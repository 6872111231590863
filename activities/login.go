package activities

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// VerifyPasswordInput is the password step.
type VerifyPasswordInput struct {
	Email          string
	PasswordSealed []byte
	IP             string
}

// VerifyPasswordResult says who logged in, or why not.
type VerifyPasswordResult struct {
	UserID            string
	OK                bool
	RetryAfterSeconds int // > 0: throttled, nothing was checked
	// Options is what the user can use as a second step, and Budget what
	// the account's second step has left (when Options.Any()): read here so
	// that the whole password step is one local activity.
	Options LoginOptions       `json:",omitzero"`
	Budget  SecondFactorBudget `json:",omitzero"`
}

// VerifyPassword checks a password with per-account and per-IP throttling.
// Unknown emails cost one dummy argon2id verification, like a wrong password
// (ASVS 5.0 6.3.8).
func (a *Activities) VerifyPassword(ctx context.Context, in VerifyPasswordInput) (VerifyPasswordResult, error) {
	email := rules.NormalizeEmail(in.Email)
	// Counted before the hash runs, so parallel guesses cannot overshoot
	// the limits (docs/security.md "Counters are exact").
	attempt, retryAfter, err := a.passwords().Reserve(ctx, email, in.IP)
	if err != nil {
		return VerifyPasswordResult{}, storeErr("password attempt", err)
	}
	if retryAfter > 0 {
		a.metrics().Login("", "rate_limited")
		return VerifyPasswordResult{RetryAfterSeconds: retryAfter}, nil
	}
	pw, err := a.Sealer.Open(security.PurposePassword, in.PasswordSealed)
	if err != nil {
		return VerifyPasswordResult{}, storeErr("open password", err)
	}
	u, err := a.Store.UserByEmail(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return VerifyPasswordResult{}, storeErr("user by email", err)
	}
	if !a.Hasher.Verify(u.PasswordHash, string(pw)) {
		// The reservation stands: it is the wrong password's count.
		if u.ID != "" {
			if err := a.addEvent(ctx, u.ID, "login_failed", in.IP, map[string]any{"reason": "wrong_password"}); err != nil {
				return VerifyPasswordResult{}, storeErr("event", err)
			}
		}
		a.metrics().Login("", "invalid_credentials")
		return VerifyPasswordResult{}, nil
	}
	if err := attempt.Succeeded(ctx); err != nil {
		return VerifyPasswordResult{}, storeErr("password attempt", err)
	}
	res := VerifyPasswordResult{UserID: u.ID, OK: true}
	var counter store.AttemptState
	if res.Options, counter, err = a.loginOptions(ctx, u.ID); err != nil {
		return VerifyPasswordResult{}, err
	}
	if res.Options.Any() {
		res.Budget = a.budget(counter)
	}
	return res, nil
}

// PhoneOption is a verified phone offered as a reserve method.
type PhoneOption struct {
	ID           string
	NumberMasked string
	Kind         phone.Kind
	// CallOnly: the number takes calls but no SMS (fixed-line-or-mobile, as
	// in the +1 plan): offer it for call only. The zero value (SMS too) is
	// what flows recorded before the field existed meant.
	CallOnly bool `json:",omitempty"`
}

// LoginOptions is what a user can use as a second step.
type LoginOptions struct {
	Telegram bool
	// TelegramChats are the linked chats a prompt goes to.
	TelegramChats []int64
	TOTP          bool
	Email         bool
	WebAuthn      bool
	Phones        []PhoneOption
	// FlashCalls says a flash-call pool is configured: foreign numbers get
	// a flash call, else a dictated one like Ukrainian numbers.
	FlashCalls bool
	// RecoveryCodes is how many unused recovery codes the account has.
	RecoveryCodes int `json:",omitempty"`
}

// Any reports whether 2FA is on (docs/api.md: any method other than the phone).
func (o LoginOptions) Any() bool {
	return rules.Status{Telegram: o.Telegram, TOTP: o.TOTP, Email: o.Email, Passkeys: o.WebAuthn, RecoveryCodes: o.RecoveryCodes}.On()
}

// LoadLoginOptions reads which second factors the user has (an enrollment
// reads it before it changes them).
func (a *Activities) LoadLoginOptions(ctx context.Context, userID string) (LoginOptions, error) {
	o, _, err := a.loginOptions(ctx, userID)
	return o, err
}

// loginOptions reads the user's second factors and the second step's
// counter in one store call (store.SecondFactors), and Telegram's chats
// when Telegram is on.
func (a *Activities) loginOptions(ctx context.Context, userID string) (LoginOptions, store.AttemptState, error) {
	o := LoginOptions{FlashCalls: a.FlashCalls.Suffixes() > 0}
	sf, err := a.Store.SecondFactors(ctx, userID, rules.ScopeSecondFactor)
	if err != nil {
		return o, store.AttemptState{}, storeErr("second factors", err)
	}
	tf := sf.TwoFactor
	o.TOTP = tf.TOTPEnabled && len(tf.TOTPSecretSealed) > 0
	o.Email = tf.EmailEnabled
	if tf.TelegramEnabled {
		// The chats matter only to Telegram's prompts and their answers.
		tg, err := a.Store.ListTelegram(ctx, userID)
		if err != nil {
			return o, store.AttemptState{}, storeErr("telegram accounts", err)
		}
		for _, t := range tg {
			o.TelegramChats = append(o.TelegramChats, t.ChatID)
		}
		o.Telegram = len(tg) > 0
	}
	o.WebAuthn = sf.Passkeys > 0
	o.RecoveryCodes = sf.RecoveryCodesLeft
	for _, p := range sf.Phones {
		// A number that may get no code (its type or region; verified
		// before the rule) is not offered: SendCode would refuse it.
		if !p.Verified || a.PhonePolicy.Check(p.Number, phone.UseCall) != nil {
			continue
		}
		o.Phones = append(o.Phones, PhoneOption{ID: p.ID, NumberMasked: phone.Mask(p.Number), Kind: phone.KindOf(p.Number),
			CallOnly: a.PhonePolicy.Check(p.Number, phone.UseSMS) != nil})
	}
	return o, sf.Counter, nil
}

// IssueSessionInput asks for the session of a finished login flow.
type IssueSessionInput struct {
	UserID string
	FlowID string
	// TokenHash is the hash of the session's token, from the flow's input
	// (security.SessionTokenHash): the API answers the token itself.
	TokenHash []byte
	IP        string
	UserAgent string
	Method    string // "" for password only
	// SecondStepReset: the right answer's check reset the account's
	// second-step counter already (Answer.Reset), so the session does not
	// write it again.
	SecondStepReset bool `json:",omitempty"`
}

// IssuedSession says which session the flow got; the token is computed by
// the API from the flow id and the caller's flow secret
// (security.SessionToken), never returned here.
type IssuedSession struct {
	ID        string
	ExpiresAt time.Time
}

// IssueSession creates the flow's session under the token hash the flow
// was started with (idempotent: a retry finds the session the first try
// made under the same hash), resets
// the second-step counter unless the right answer's check did
// (SecondStepReset: a passkey or a Telegram button leaves it to the
// session) and records login_succeeded.
func (a *Activities) IssueSession(ctx context.Context, in IssueSessionInput) (IssuedSession, error) {
	now := a.now()
	hash := in.TokenHash
	if len(hash) != sha256.Size {
		// A flow started without one answers no session token: refuse
		// rather than store a session nobody can use.
		return IssuedSession{}, errkind.New(errkind.Internal, "the flow has no session token hash")
	}
	// Created first: a retry, whose first try made the session, is the
	// rare case and pays the read.
	s, err := a.Store.CreateSession(ctx, store.Session{
		UserID: in.UserID, TokenHash: hash, AuthenticatedAt: now, CreatedAt: now, LastSeenAt: now,
		ExpiresAt: now.Add(a.SessionTTL), IP: in.IP, UserAgent: truncate(in.UserAgent, 512),
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		if s, err = a.Store.SessionByTokenHash(ctx, hash, now); err != nil {
			return IssuedSession{}, storeErr("session", err)
		}
	case err != nil:
		return IssuedSession{}, storeErr("create session", err)
	default:
		detail := map[string]any{}
		if in.Method != "" {
			detail["method"] = in.Method
		}
		if err := a.addEvent(ctx, in.UserID, "login_succeeded", in.IP, detail); err != nil {
			return IssuedSession{}, storeErr("event", err)
		}
		a.metrics().Login(in.Method, "success")
		a.cancelRecoveries(ctx, in.UserID, in.FlowID)
	}
	if !in.SecondStepReset {
		if err := a.Store.ResetAttempts(ctx, rules.ScopeSecondFactor, in.UserID); err != nil {
			return IssuedSession{}, storeErr("reset attempts", err)
		}
	}
	return IssuedSession{ID: s.ID, ExpiresAt: s.ExpiresAt}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// SecondFactorBudget is what the account's second step has left.
type SecondFactorBudget struct {
	Left              int // wrong answers before the account locks
	RetryAfterSeconds int // > 0: locked now
	// Locked: the hard cap was reached; only a password change or an
	// admin unlock ends the lock.
	Locked bool `json:",omitempty"`
}

// SecondFactorStatus reads the per-account counter (RFC 4226 §7.3: across
// login sessions).
func (a *Activities) SecondFactorStatus(ctx context.Context, userID string) (SecondFactorBudget, error) {
	st, err := a.Store.GetAttempts(ctx, rules.ScopeSecondFactor, userID)
	if err != nil {
		return SecondFactorBudget{}, storeErr("attempts", err)
	}
	return a.budget(st), nil
}

func (a *Activities) budget(st store.AttemptState) SecondFactorBudget {
	now := a.now()
	b := SecondFactorBudget{Left: max(0, a.Limits.FailuresBeforeLock-st.Failures)}
	if st.LockedUntil.After(now) {
		b.RetryAfterSeconds = rules.CeilSeconds(st.LockedUntil.Sub(now))
		b.Left = 0
		b.Locked = a.Limits.HardLocked(st.Failures)
	}
	return b
}

// Answer is what checking one second-step answer found. Its attempt was
// reserved on the account before the check (docs/security.md "Counters are
// exact"): a wrong answer is already counted, a right one given back.
type Answer struct {
	OK bool
	// Replay: a TOTP code that was right but whose time step was used.
	// It is no attempt: its reservation was given back (not Counted) and
	// the flow counts it nowhere; it is never accepted either.
	Replay bool `json:",omitempty"`
	// Refused: the account's second step is locked; the answer was not
	// looked at and nothing was counted (Budget says for how long).
	Refused bool `json:",omitempty"`
	// Counted: the attempt was reserved on the account's counter.
	Counted bool `json:",omitempty"`
	// Failures is the account's wrong answers in a row, this one included
	// (when Counted).
	Failures int `json:",omitempty"`
	// Budget is what the account has left should this answer be wrong.
	Budget SecondFactorBudget
	// Reset: the answer was right and gave its reservation back by
	// resetting the account's counter (a code, a TOTP or a recovery code).
	Reset bool `json:",omitempty"`
}

// ReserveSecondFactorAttempt counts an answer on the account before it is
// checked (passkeys and Telegram buttons, whose check runs elsewhere).
func (a *Activities) ReserveSecondFactorAttempt(ctx context.Context, userID string) (Answer, error) {
	return a.reserveAnswer(ctx, userID)
}

func (a *Activities) reserveAnswer(ctx context.Context, userID string) (Answer, error) {
	ans, _, err := a.reserve(ctx, userID)
	return ans, err
}

// reserve is reserveAnswer that also hands back the reservation, for an
// answer that may turn out to be no attempt at all (a replayed TOTP code)
// and give it back.
func (a *Activities) reserve(ctx context.Context, userID string) (Answer, store.Reservation, error) {
	r, err := a.Store.ReserveAttempt(ctx, rules.ScopeSecondFactor, userID, a.now(), a.Limits.LockFor)
	if err != nil {
		return Answer{}, store.Reservation{}, storeErr("reserve attempt", err)
	}
	return Answer{Refused: !r.Granted, Counted: r.Granted, Failures: r.State.Failures, Budget: a.budget(r.State)}, r, nil
}

// SecondFactorFailureInput is one wrong answer.
type SecondFactorFailureInput struct {
	UserID string
	Method string
	IP     string
	Reason string // "wrong_code", "wrong_button", "replay", …
	// Counted: the answer's attempt was reserved (Answer.Counted), so the
	// counter holds it already; Failures is the count it reached.
	Counted  bool `json:",omitempty"`
	Failures int  `json:",omitempty"`
}

// RecordSecondFactorFailure records second_factor_failed (or
// totp_replay_rejected), counts the wrong answer unless its attempt was
// reserved, and tells every channel of the account when it reached the hard
// cap.
func (a *Activities) RecordSecondFactorFailure(ctx context.Context, in SecondFactorFailureInput) (SecondFactorBudget, error) {
	var st store.AttemptState
	var err error
	if in.Counted {
		st, err = a.Store.GetAttempts(ctx, rules.ScopeSecondFactor, in.UserID)
	} else {
		st, err = a.Store.AddFailure(ctx, rules.ScopeSecondFactor, in.UserID, a.now(), a.Limits.LockFor)
		in.Failures = st.Failures
	}
	if err != nil {
		return SecondFactorBudget{}, storeErr("count failure", err)
	}
	typ := "second_factor_failed"
	if in.Reason == "replay" {
		typ = "totp_replay_rejected"
	}
	if err := a.addEvent(ctx, in.UserID, typ, in.IP, map[string]any{"method": in.Method, "reason": in.Reason}); err != nil {
		return SecondFactorBudget{}, storeErr("event", err)
	}
	a.metrics().Login(in.Method, in.Reason)
	b := a.budget(st)
	if b.RetryAfterSeconds > 0 {
		detail := map[string]any{"retry_after": b.RetryAfterSeconds}
		if b.Locked {
			detail = map[string]any{"locked": true, "failures": in.Failures}
		}
		if err := a.addEvent(ctx, in.UserID, "rate_limited", in.IP, detail); err != nil {
			return SecondFactorBudget{}, storeErr("event", err)
		}
	}
	if a.Limits.HardCap > 0 && in.Failures == a.Limits.HardCap {
		// Exactly once: the answer that reached the cap tells the owner.
		a.log(ctx).Error("second step locked at the hard cap", "user_id", in.UserID, "failures", in.Failures)
		if err := a.notify(ctx, in.UserID, idemKey(ctx)+"/hard-cap", rules.Notice{ID: "notice.hard_cap",
			Data: map[string]any{"Failures": in.Failures}}); err != nil {
			return SecondFactorBudget{}, err
		}
	}
	return b, nil
}
