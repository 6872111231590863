package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// Enrollment methods, as the workflows contract names them.
const (
	enrollTOTP     = "totp"
	enrollEmail    = "email"
	enrollWebAuthn = "webauthn"
	enrollTelegram = "telegram"
	enrollPhone    = "phone"
)

// TOTPEnrollment is a fresh TOTP key: its otpauth:// URL, which holds the
// secret, sealed for security.PurposeTOTPSecret.
type TOTPEnrollment struct {
	KeySealed []byte
}

// BeginTOTPEnrollment makes a new secret of 160 bits from crypto/rand for
// the user's authenticator app. Nothing is stored until a code confirms it.
func (a *Activities) BeginTOTPEnrollment(ctx context.Context, userID string) (TOTPEnrollment, error) {
	u, err := a.Store.UserByID(ctx, userID)
	if err != nil {
		return TOTPEnrollment{}, storeErr("user", err)
	}
	key, err := rules.NewTOTPKey(u.Email)
	if err != nil {
		return TOTPEnrollment{}, fmt.Errorf("generate totp key: %w", err)
	}
	return TOTPEnrollment{KeySealed: rules.SealTOTPKey(a.Sealer, key)}, nil
}

// CheckTOTPEnrollmentInput is a code for a key not stored yet.
type CheckTOTPEnrollmentInput struct {
	KeySealed  []byte
	CodeSealed []byte
}

// CheckTOTPEnrollment returns the time step at which the code is valid for
// the new key, or -1. It is a local activity: no I/O, just the key the
// workflow must not hold.
func (a *Activities) CheckTOTPEnrollment(_ context.Context, in CheckTOTPEnrollmentInput) (int64, error) {
	code, err := a.Sealer.Open(security.PurposeCode, in.CodeSealed)
	if err != nil {
		return -1, errkind.Wrap(errkind.Internal, "sealed code", err)
	}
	key, err := rules.OpenTOTPKey(a.Sealer, in.KeySealed)
	if err != nil {
		return -1, errkind.Wrap(errkind.Internal, "sealed totp key", err)
	}
	return rules.MatchTOTPStep(key.Secret(), string(code), a.now()), nil
}

// BeginWebAuthnRegistration creates passkey creation options for the user.
// The account's passkeys are excluded, so one authenticator holds one
// passkey per account; a resident (discoverable) key is preferred, so the
// passkey can also sign in without a password.
func (a *Activities) BeginWebAuthnRegistration(ctx context.Context, userID string) (WebAuthnChallenge, error) {
	u, err := a.loadWAUser(ctx, userID)
	if err != nil {
		return WebAuthnChallenge{}, err
	}
	opts, sess, err := a.WebAuthn.BeginRegistration(u,
		webauthn.WithExclusions(webauthn.Credentials(u.wa).CredentialDescriptors()),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred))
	if err != nil {
		return WebAuthnChallenge{}, errkind.Wrap(errkind.Internal, "begin registration: "+err.Error(), err)
	}
	return marshalChallenge(opts, sess)
}

// VerifyWebAuthnRegistrationInput is the browser's attestation for a begun
// registration.
type VerifyWebAuthnRegistrationInput struct {
	UserID     string
	Session    json.RawMessage
	Credential json.RawMessage
}

// WebAuthnRegistration is a verified attestation: the go-webauthn
// credential as JSON (public key, flags, transports), ready to store.
type WebAuthnRegistration struct {
	OK         bool
	Credential json.RawMessage
}

// VerifyWebAuthnRegistration checks an attestation. A failed check is an
// answer (OK false), not an error, so the workflow can count the attempt.
func (a *Activities) VerifyWebAuthnRegistration(ctx context.Context, in VerifyWebAuthnRegistrationInput) (WebAuthnRegistration, error) {
	var sess webauthn.SessionData
	if err := json.Unmarshal(in.Session, &sess); err != nil {
		return WebAuthnRegistration{}, errkind.Wrap(errkind.Internal, "session data", err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(in.Credential)
	if err != nil {
		a.log(ctx).Info("passkey attestation unreadable", "err", err)
		return WebAuthnRegistration{}, nil
	}
	u, err := a.loadWAUser(ctx, in.UserID)
	if err != nil {
		return WebAuthnRegistration{}, err
	}
	cred, err := a.WebAuthn.CreateCredential(u, sess, parsed)
	if err != nil {
		a.log(ctx).Info("passkey attestation rejected", "err", err)
		return WebAuthnRegistration{}, nil
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return WebAuthnRegistration{}, err
	}
	return WebAuthnRegistration{OK: true, Credential: data}, nil
}

// CreateTelegramLinkInput binds a deep-link token to an enrollment flow.
type CreateTelegramLinkInput struct {
	UserID    string
	FlowID    string
	ExpiresAt time.Time
}

// TelegramLinkToken is a deep-link token, sealed for rules.PurposeTelegramLink.
type TelegramLinkToken struct {
	TokenSealed []byte
}

// CreateTelegramLink makes a random token (160 bits) for
// https://t.me/<bot>?start=<token> and stores its hash, bound to the flow
// and expiring with it. A retry makes another token; only the one the flow
// records is ever shown.
func (a *Activities) CreateTelegramLink(ctx context.Context, in CreateTelegramLinkInput) (TelegramLinkToken, error) {
	token := security.RandomToken()
	if err := a.Store.CreateLinkToken(ctx, store.LinkToken{TokenHash: security.HashToken(token), UserID: in.UserID,
		FlowID: in.FlowID, ExpiresAt: in.ExpiresAt}); err != nil {
		return TelegramLinkToken{}, storeErr("create link token", err)
	}
	return TelegramLinkToken{TokenSealed: a.Sealer.Seal(rules.PurposeTelegramLink, []byte(token))}, nil
}

// FinishEnrollmentInput is a confirmed enrollment: what to store.
type FinishEnrollmentInput struct {
	FlowID    string
	UserID    string
	SessionID string // kept when the enrollment turns 2FA on
	IP        string
	Method    string // totp, email, webauthn, telegram, phone
	// Before is what the account could use before this enrollment, read by
	// the workflow before this activity so that a retry decides the same.
	Before LoginOptions

	TOTPKeySealed []byte
	TOTPStep      int64 // the confirming code's step: used up
	Credential    json.RawMessage
	DeviceName    string
	Number        string
	ChatID        int64
	Username      string
}

// EnrollmentResult is what the enrollment made.
type EnrollmentResult struct {
	Device   *store.Credential // Data left out
	Phone    *store.Phone
	Telegram *store.TelegramAccount
	// Refused: the Telegram chat is linked to another account; it was told
	// so and nothing changed.
	Refused bool
	// SessionsEnded counts the other sessions ended because 2FA turned on.
	SessionsEnded int
}

// FinishEnrollment stores a confirmed factor, ends every other session when
// it turns 2FA on for an account that had none (the help page's
// "Attention!"), records the audit events and notifies every channel of the
// account. It is idempotent: a retry finds what the first try stored, and
// events and notices are keyed.
func (a *Activities) FinishEnrollment(ctx context.Context, in FinishEnrollmentInput) (EnrollmentResult, error) {
	key := idemKey(ctx)
	// Names a user or Telegram supplied are stored without control or
	// bidi-override characters (the API strips them too; this covers
	// flows started before it did).
	in.DeviceName, in.Username = security.DisplayName(in.DeviceName), security.DisplayName(in.Username)
	var (
		res           EnrollmentResult
		events        []pendingEvent
		subject, text string
	)
	switch in.Method {
	case enrollTOTP:
		k, err := rules.OpenTOTPKey(a.Sealer, in.TOTPKeySealed)
		if err != nil {
			return res, errkind.Wrap(errkind.Internal, "sealed totp key", err)
		}
		// Storing the new secret replaces the old one: codes of the old
		// secret stop working at once.
		if err := a.Store.SetTOTPSecret(ctx, in.UserID, a.Sealer.Seal(security.PurposeTOTPSecret, []byte(k.Secret())), in.TOTPStep); err != nil {
			return res, storeErr("set totp secret", err)
		}
		events = append(events, pendingEvent{"factor_enabled", map[string]any{"method": enrollTOTP, "replaced": in.Before.TOTP}})
		subject, text = "Authenticator app enabled", "Two-step authentication with an authenticator app (GAuth) was turned on for your account."
	case enrollEmail:
		if err := a.Store.SetEmailEnabled(ctx, in.UserID, true); err != nil {
			return res, storeErr("enable email 2fa", err)
		}
		events = append(events, pendingEvent{"factor_enabled", map[string]any{"method": enrollEmail}})
		subject, text = "Email two-step authentication enabled", "Two-step authentication with codes sent to this email was turned on for your account."
	case enrollWebAuthn:
		c, err := a.addCredential(ctx, in)
		if err != nil {
			return res, err
		}
		res.Device = &c
		events = append(events, pendingEvent{"device_added", map[string]any{"device_id": c.ID, "name": c.Name}})
		subject, text = "Passkey added", fmt.Sprintf("A passkey named %q was added to your account.", c.Name)
	case enrollPhone:
		p, err := a.addPhone(ctx, in.UserID, in.Number)
		if err != nil {
			return res, err
		}
		res.Phone = &p
		events = append(events, pendingEvent{"phone_added", map[string]any{"phone_id": p.ID, "number_masked": phone.Mask(p.Number), "kind": string(phone.KindOf(p.Number))}})
		subject, text = "Phone added", fmt.Sprintf("The phone %s was verified and added to your account as a reserve sign-in method.", phone.Mask(p.Number))
	case enrollTelegram:
		t, err := a.Store.LinkTelegram(ctx, in.UserID, in.ChatID, in.Username)
		if errors.Is(err, store.ErrConflict) {
			// A Telegram account links to one authflow account only (API.md).
			res.Refused = true
			return res, a.once(ctx, key+"/refused", "", ChannelTelegramNote, "telegram:"+itoa64(in.ChatID), func() (string, error) {
				return "", a.Telegram.SendText(ctx, in.ChatID, "This Telegram account is already linked to another authflow account. "+
					"Unlink it there first, or open the link from another Telegram account.", key+"/refused")
			})
		}
		if err != nil {
			return res, storeErr("link telegram", err)
		}
		// Linking turns Telegram 2FA on by itself (the help page).
		if err := a.Store.SetTelegramEnabled(ctx, in.UserID, true); err != nil {
			return res, storeErr("enable telegram 2fa", err)
		}
		res.Telegram = &t
		events = append(events, pendingEvent{"telegram_linked", map[string]any{"account_id": t.ID, "username": t.Username, "chat_id": t.ChatID}})
		if !in.Before.Telegram {
			events = append(events, pendingEvent{"factor_enabled", map[string]any{"method": enrollTelegram}})
		}
		name := "A Telegram account"
		if t.Username != "" {
			name = "Telegram account @" + t.Username
		}
		subject, text = "Telegram account linked", name+" was linked to your authflow account. "+
			"Login confirmations will be sent to every linked Telegram account; Telegram two-step authentication is on."
	default:
		return res, errkind.New(errkind.Internal, "unknown enrollment method "+in.Method)
	}

	if in.Method != enrollPhone && !in.Before.Any() {
		// Turning 2FA on for an account that had none ends every other
		// session (the help page); the session that enrolled is kept.
		n, err := a.Store.DeleteOtherSessions(ctx, in.UserID, in.SessionID)
		if err != nil {
			return res, storeErr("end other sessions", err)
		}
		res.SessionsEnded = n
		if n > 0 {
			events = append(events, pendingEvent{"sessions_ended", map[string]any{"count": n, "reason": "two_factor_enabled"}})
			text += fmt.Sprintf(" Two-step authentication is now on: %d other session(s) were signed out.", n)
		}
	}
	for i, ev := range events {
		if err := a.onceEvent(ctx, fmt.Sprintf("%s/event%d", key, i), in.UserID, ev.typ, in.IP, ev.detail); err != nil {
			return res, err
		}
	}
	text += " If this was not you, change your password and review Settings → Security."
	return res, a.notify(ctx, in.UserID, key+"/notice", subject, text)
}

type pendingEvent struct {
	typ    string
	detail map[string]any
}

// addCredential stores a verified passkey. A retry finds the passkey the
// first try stored; a credential of another account is a Conflict.
func (a *Activities) addCredential(ctx context.Context, in FinishEnrollmentInput) (store.Credential, error) {
	var wc webauthn.Credential
	if err := json.Unmarshal(in.Credential, &wc); err != nil {
		return store.Credential{}, errkind.Wrap(errkind.Internal, "credential", err)
	}
	c, err := a.Store.AddCredential(ctx, store.Credential{UserID: in.UserID, CredentialID: wc.ID, Data: in.Credential,
		Name: in.DeviceName, SignCount: wc.Authenticator.SignCount, CreatedAt: a.now()})
	if errors.Is(err, store.ErrConflict) {
		if prev, perr := a.Store.CredentialByCredentialID(ctx, wc.ID); perr == nil && prev.UserID == in.UserID &&
			prev.Name == in.DeviceName && bytes.Equal(prev.Data, in.Credential) {
			c, err = prev, nil
		}
	}
	if errors.Is(err, store.ErrConflict) {
		return store.Credential{}, errkind.Wrap(errkind.Conflict, "this passkey is registered already; use another authenticator", err)
	}
	if err != nil {
		return store.Credential{}, storeErr("add passkey", err)
	}
	c.Data = nil
	return c, nil
}

// addPhone stores a verified phone; the number already on the account (a
// retry, or two flows for one number) is that phone.
func (a *Activities) addPhone(ctx context.Context, userID, number string) (store.Phone, error) {
	p, err := a.Store.AddPhone(ctx, userID, number, true)
	if errors.Is(err, store.ErrConflict) {
		list, lerr := a.Store.ListPhones(ctx, userID)
		if lerr != nil {
			return store.Phone{}, storeErr("phones", lerr)
		}
		for _, x := range list {
			if x.Number == number {
				return x, nil
			}
		}
	}
	return p, storeErr("add phone", err)
}
