package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/i18n"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
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
	// Locale is the language of the browser that started the enrollment.
	Locale string `json:",omitempty"`
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

// The Finish*Enrollment activities store a confirmed factor, one per
// method, through rules.Account, the one way a factor changes: it ends
// every other session when the factor turns 2FA on for an account that had
// none (the help page's "Attention!"), records the audit events and
// notifies every channel of the account. Each is idempotent: a retry finds
// what the first try stored, decides from the same Before, and events and
// notices are keyed.

// FinishTOTPEnrollment stores the confirmed authenticator-app key; the
// confirming code's step is used up.
func (a *Activities) FinishTOTPEnrollment(ctx context.Context, in FinishEnrollmentInput) (EnrollmentResult, error) {
	return a.finishEnrollment(ctx, in, func(acct *rules.Account, c rules.Change, _ *EnrollmentResult) (rules.Result, error) {
		k, err := rules.OpenTOTPKey(a.Sealer, in.TOTPKeySealed)
		if err != nil {
			return rules.Result{}, errkind.Wrap(errkind.Internal, "sealed totp key", err)
		}
		return acct.EnableTOTP(ctx, c, a.Sealer.Seal(security.PurposeTOTPSecret, []byte(k.Secret())), in.TOTPStep)
	})
}

// FinishEmailEnrollment turns codes by email on.
func (a *Activities) FinishEmailEnrollment(ctx context.Context, in FinishEnrollmentInput) (EnrollmentResult, error) {
	return a.finishEnrollment(ctx, in, func(acct *rules.Account, c rules.Change, _ *EnrollmentResult) (rules.Result, error) {
		return acct.EnableEmail(ctx, c)
	})
}

// FinishPasskeyEnrollment stores the verified passkey under its name.
func (a *Activities) FinishPasskeyEnrollment(ctx context.Context, in FinishEnrollmentInput) (EnrollmentResult, error) {
	return a.finishEnrollment(ctx, in, func(acct *rules.Account, c rules.Change, res *EnrollmentResult) (rules.Result, error) {
		var wc webauthn.Credential
		if err := json.Unmarshal(in.Credential, &wc); err != nil {
			return rules.Result{}, errkind.Wrap(errkind.Internal, "credential", err)
		}
		dev, done, err := acct.AddPasskey(ctx, c, store.Credential{CredentialID: wc.ID, Data: in.Credential, Name: in.DeviceName,
			SignCount: wc.Authenticator.SignCount})
		if err == nil {
			res.Device = &dev
		}
		return done, err
	})
}

// FinishPhoneEnrollment stores the number its SMS code verified.
func (a *Activities) FinishPhoneEnrollment(ctx context.Context, in FinishEnrollmentInput) (EnrollmentResult, error) {
	return a.finishEnrollment(ctx, in, func(acct *rules.Account, c rules.Change, res *EnrollmentResult) (rules.Result, error) {
		p, done, err := acct.AddPhone(ctx, c, in.Number)
		if err == nil {
			res.Phone = &p
		}
		return done, err
	})
}

// FinishTelegramEnrollment links the chat that sent /start with the
// flow's token. A Telegram account links to one authflow account only: a
// chat linked elsewhere is told so, and nothing changes (Refused).
func (a *Activities) FinishTelegramEnrollment(ctx context.Context, in FinishEnrollmentInput) (EnrollmentResult, error) {
	key := idemKey(ctx)
	return a.finishEnrollment(ctx, in, func(acct *rules.Account, c rules.Change, res *EnrollmentResult) (rules.Result, error) {
		t, done, err := acct.LinkTelegram(ctx, c, in.ChatID, security.DisplayName(in.Username))
		if errors.Is(err, rules.ErrChatLinkedElsewhere) {
			res.Refused = true
			return done, a.once(ctx, key+"/refused", "", ChannelTelegramNote, "telegram:"+itoa64(in.ChatID), func() (string, error) {
				return "", a.Telegram.SendText(ctx, in.ChatID, i18n.T(a.lang(ctx, in.UserID, in.Locale), "telegram.linked_elsewhere", nil), key+"/refused")
			})
		}
		if err == nil {
			res.Telegram = &t
		}
		return done, err
	})
}

// finishEnrollment runs one method's change of the account with what every
// enrollment shares: clean names, the change's keys and what the account
// had before.
func (a *Activities) finishEnrollment(ctx context.Context, in FinishEnrollmentInput,
	change func(acct *rules.Account, c rules.Change, res *EnrollmentResult) (rules.Result, error)) (EnrollmentResult, error) {
	// Names a user or Telegram supplied are stored without control or
	// bidi-override characters (the API strips them too; this covers
	// flows started before it did).
	in.DeviceName = security.DisplayName(in.DeviceName)
	c := rules.Change{UserID: in.UserID, SessionID: in.SessionID, IP: in.IP, Key: idemKey(ctx), Before: &rules.Status{
		Telegram: in.Before.Telegram, TOTP: in.Before.TOTP, Email: in.Before.Email, Passkeys: in.Before.WebAuthn,
		RecoveryCodes: in.Before.RecoveryCodes}}
	var res EnrollmentResult
	done, err := change(a.account(), c, &res)
	if res.Refused {
		return EnrollmentResult{Refused: true}, err
	}
	if err != nil {
		return EnrollmentResult{}, storeErr("finish enrollment", err)
	}
	res.SessionsEnded = done.SessionsEnded
	return res, nil
}
