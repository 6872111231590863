package activities

import (
	"context"
	"errors"
	"time"

	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// Attempt counter scopes.
const (
	scopePassword   = "password"    // key: normalized email, so unknown emails lock too
	scopePasswordIP = "password_ip" // key: client IP
	scopeSecond     = "2fa"         // key: user id
)

// VerifyPasswordInput is the password step.
type VerifyPasswordInput struct {
	Email          string
	PasswordSealed []byte
	IP             string
	// WithOptions also reads, after a right password, what the user can use
	// as a second step and the account's second-step budget, so the whole
	// password step is one local activity (one marker, one store pass).
	WithOptions bool `json:",omitempty"`
}

// VerifyPasswordResult says who logged in, or why not.
type VerifyPasswordResult struct {
	UserID            string
	OK                bool
	RetryAfterSeconds int // > 0: throttled, nothing was checked
	// Options and Budget are set when WithOptions was asked and OK; Budget
	// only when a second step is needed (Options.Any()).
	Options *LoginOptions       `json:",omitempty"`
	Budget  *SecondFactorBudget `json:",omitempty"`
}

// VerifyPassword checks a password with per-account and per-IP throttling.
// Unknown emails cost one dummy argon2id verification, like a wrong password
// (ASVS 5.0 6.3.8).
func (a *Activities) VerifyPassword(ctx context.Context, in VerifyPasswordInput) (VerifyPasswordResult, error) {
	email := NormalizeEmail(in.Email)
	guard := a.passwords()
	retryAfter, counted, err := guard.Check(ctx, email, in.IP)
	if err != nil {
		return VerifyPasswordResult{}, err
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
	if a.Hasher.Verify(u.PasswordHash, string(pw)) {
		if counted {
			// A success resets the account's counter; most logins have
			// nothing to reset, and skip the write.
			if err := guard.Succeeded(ctx, email); err != nil {
				return VerifyPasswordResult{}, err
			}
		}
		res := VerifyPasswordResult{UserID: u.ID, OK: true}
		if in.WithOptions {
			opts, err := a.loginOptions(ctx, u.ID)
			if err != nil {
				return VerifyPasswordResult{}, err
			}
			res.Options = &opts
			if opts.Any() {
				b, err := a.SecondFactorStatus(ctx, u.ID)
				if err != nil {
					return VerifyPasswordResult{}, err
				}
				res.Budget = &b
			}
		}
		return res, nil
	}
	if err := guard.Failed(ctx, email, in.IP); err != nil {
		return VerifyPasswordResult{}, err
	}
	if u.ID != "" {
		if err := a.addEvent(ctx, u.ID, "login_failed", in.IP, map[string]any{"reason": "wrong_password"}); err != nil {
			return VerifyPasswordResult{}, storeErr("event", err)
		}
	}
	a.metrics().Login("", "invalid_credentials")
	return VerifyPasswordResult{}, nil
}

func ceilSeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }

// PhoneOption is a verified phone offered as a reserve method.
type PhoneOption struct {
	ID           string
	NumberMasked string
	Kind         phone.Kind
	// CallOnly: the number takes calls but no SMS (a fixed line): offer it
	// for call only. The zero value (SMS too) is what flows recorded before
	// the field existed meant.
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
}

// Any reports whether 2FA is on (API.md: any method other than the phone).
func (o LoginOptions) Any() bool { return o.Telegram || o.TOTP || o.Email || o.WebAuthn }

// LoadLoginOptions reads which second factors the user has.
func (a *Activities) LoadLoginOptions(ctx context.Context, userID string) (LoginOptions, error) {
	return a.loginOptions(ctx, userID)
}

func (a *Activities) loginOptions(ctx context.Context, userID string) (LoginOptions, error) {
	var o LoginOptions
	tf, err := a.Store.TwoFactorSettings(ctx, userID)
	if err != nil {
		return o, storeErr("2fa settings", err)
	}
	o.TOTP = tf.TOTPEnabled && len(tf.TOTPSecretSealed) > 0
	o.Email = tf.EmailEnabled
	tg, err := a.Store.ListTelegram(ctx, userID)
	if err != nil {
		return o, storeErr("telegram accounts", err)
	}
	for _, t := range tg {
		o.TelegramChats = append(o.TelegramChats, t.ChatID)
	}
	o.Telegram = tf.TelegramEnabled && len(tg) > 0
	creds, err := a.Store.ListCredentials(ctx, userID)
	if err != nil {
		return o, storeErr("passkeys", err)
	}
	o.WebAuthn = len(creds) > 0
	phones, err := a.Store.ListPhones(ctx, userID)
	if err != nil {
		return o, storeErr("phones", err)
	}
	for _, p := range phones {
		// A number that may get no code (its type or region; verified
		// before the rule) is not offered: SendCode would refuse it.
		if !p.Verified || a.PhonePolicy.Check(p.Number, phone.UseCall) != nil {
			continue
		}
		o.Phones = append(o.Phones, PhoneOption{ID: p.ID, NumberMasked: phone.Mask(p.Number), Kind: phone.KindOf(p.Number),
			CallOnly: a.PhonePolicy.Check(p.Number, phone.UseSMS) != nil})
	}
	return o, nil
}

// IssueSessionInput asks for the session of a finished login flow.
type IssueSessionInput struct {
	UserID    string
	FlowID    string
	IP        string
	UserAgent string
	Method    string // "" for password only
}

// IssuedSession says which session the flow got; the token is derived from
// the flow id by the API (security.SessionToken), never returned here.
type IssuedSession struct {
	ID        string
	ExpiresAt time.Time
}

// IssueSession creates the flow's session (idempotent: the token is derived
// from the flow id, so a retry finds the session the first try made), resets
// the second-step counter and records login_succeeded.
func (a *Activities) IssueSession(ctx context.Context, in IssueSessionInput) (IssuedSession, error) {
	now := a.now()
	hash := security.HashToken(security.SessionToken(a.SecretKey, in.FlowID))
	s, err := a.Store.SessionByTokenHash(ctx, hash, now)
	if errors.Is(err, store.ErrNotFound) {
		s, err = a.Store.CreateSession(ctx, store.Session{
			UserID: in.UserID, TokenHash: hash, AuthenticatedAt: now, CreatedAt: now, LastSeenAt: now,
			ExpiresAt: now.Add(a.SessionTTL), IP: in.IP, UserAgent: truncate(in.UserAgent, 512),
		})
		if errors.Is(err, store.ErrConflict) {
			s, err = a.Store.SessionByTokenHash(ctx, hash, now)
		}
		if err != nil {
			return IssuedSession{}, storeErr("create session", err)
		}
		detail := map[string]any{}
		if in.Method != "" {
			detail["method"] = in.Method
		}
		if err := a.addEvent(ctx, in.UserID, "login_succeeded", in.IP, detail); err != nil {
			return IssuedSession{}, storeErr("event", err)
		}
		a.metrics().Login(in.Method, "success")
	} else if err != nil {
		return IssuedSession{}, storeErr("session", err)
	}
	if err := a.Store.ResetAttempts(ctx, scopeSecond, in.UserID); err != nil {
		return IssuedSession{}, storeErr("reset attempts", err)
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
}

// SecondFactorStatus reads the per-account counter (RFC 4226 §7.3: across
// login sessions).
func (a *Activities) SecondFactorStatus(ctx context.Context, userID string) (SecondFactorBudget, error) {
	st, err := a.Store.GetAttempts(ctx, scopeSecond, userID)
	if err != nil {
		return SecondFactorBudget{}, storeErr("attempts", err)
	}
	return a.budget(st), nil
}

func (a *Activities) budget(st store.AttemptState) SecondFactorBudget {
	now := a.now()
	b := SecondFactorBudget{Left: max(1, a.Limits.FailuresBeforeLock-st.Failures)}
	if st.LockedUntil.After(now) {
		b.RetryAfterSeconds = ceilSeconds(st.LockedUntil.Sub(now))
		b.Left = 0
	}
	return b
}

// SecondFactorFailureInput is one wrong answer.
type SecondFactorFailureInput struct {
	UserID string
	Method string
	IP     string
	Reason string // "wrong_code", "wrong_button", "replay", …
}

// RecordSecondFactorFailure counts a wrong answer against the account and
// records second_factor_failed (or totp_replay_rejected).
func (a *Activities) RecordSecondFactorFailure(ctx context.Context, in SecondFactorFailureInput) (SecondFactorBudget, error) {
	st, err := a.Store.AddFailure(ctx, scopeSecond, in.UserID, a.now(), a.Limits.lockFor)
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
		if err := a.addEvent(ctx, in.UserID, "rate_limited", in.IP, map[string]any{"retry_after": b.RetryAfterSeconds}); err != nil {
			return SecondFactorBudget{}, storeErr("event", err)
		}
	}
	return b, nil
}
