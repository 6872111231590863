package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/store"
)

// waUser adapts an account and its passkeys to go-webauthn.
type waUser struct {
	u     store.User
	creds []store.Credential
	wa    []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return []byte(u.u.ID) }
func (u *waUser) WebAuthnName() string                       { return u.u.Email }
func (u *waUser) WebAuthnDisplayName() string                { return u.u.Email }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.wa }

func (a *Activities) loadWAUser(ctx context.Context, userID string) (*waUser, error) {
	u, err := a.Store.UserByID(ctx, userID)
	if err != nil {
		return nil, storeErr("user", err)
	}
	creds, err := a.Store.ListCredentials(ctx, userID)
	if err != nil {
		return nil, storeErr("passkeys", err)
	}
	w := &waUser{u: u, creds: creds}
	for _, c := range creds {
		var wc webauthn.Credential
		if err := json.Unmarshal(c.Data, &wc); err != nil {
			return nil, fmt.Errorf("passkey %s: %w", c.ID, err)
		}
		w.wa = append(w.wa, wc)
	}
	return w, nil
}

// WebAuthnChallenge is a begun ceremony: options for the browser and the
// session data the finish step needs (a public, single-use challenge).
type WebAuthnChallenge struct {
	Options json.RawMessage
	Session json.RawMessage
}

// BeginWebAuthnLoginInput starts a passkey assertion; UserID "" begins a
// passwordless (discoverable) login.
type BeginWebAuthnLoginInput struct {
	UserID string
}

// BeginWebAuthnLogin creates request options.
func (a *Activities) BeginWebAuthnLogin(ctx context.Context, in BeginWebAuthnLoginInput) (WebAuthnChallenge, error) {
	var (
		opts *protocol.CredentialAssertion
		sess *webauthn.SessionData
		err  error
	)
	if in.UserID == "" {
		// Passwordless requires user verification (docs/security.md "WebAuthn").
		opts, sess, err = a.WebAuthn.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	} else {
		var u *waUser
		if u, err = a.loadWAUser(ctx, in.UserID); err != nil {
			return WebAuthnChallenge{}, err
		}
		if len(u.wa) == 0 {
			return WebAuthnChallenge{}, errkind.New(errkind.MethodUnavailable, "no passkeys")
		}
		opts, sess, err = a.WebAuthn.BeginLogin(u)
	}
	if err != nil {
		return WebAuthnChallenge{}, errkind.Wrap(errkind.Internal, "begin login: "+err.Error(), err)
	}
	return marshalChallenge(opts, sess)
}

func marshalChallenge(opts any, sess *webauthn.SessionData) (WebAuthnChallenge, error) {
	o, err := json.Marshal(opts)
	if err != nil {
		return WebAuthnChallenge{}, err
	}
	s, err := json.Marshal(sess)
	if err != nil {
		return WebAuthnChallenge{}, err
	}
	return WebAuthnChallenge{Options: o, Session: s}, nil
}

// FinishWebAuthnLoginInput is the browser's assertion for a begun ceremony.
type FinishWebAuthnLoginInput struct {
	UserID     string // "" for passwordless
	Session    json.RawMessage
	Credential json.RawMessage
}

// WebAuthnLoginResult says whose passkey answered, or why it failed.
type WebAuthnLoginResult struct {
	OK       bool
	UserID   string
	DeviceID string
	Reason   string // why OK is false: "invalid", "not_passwordless", "unknown_credential"
}

// FinishWebAuthnLogin verifies an assertion and stores what it teaches (sign
// count, clone warning, flags, last use). A failed verification is an answer
// (OK false), not an error, so the workflow can count the attempt.
func (a *Activities) FinishWebAuthnLogin(ctx context.Context, in FinishWebAuthnLoginInput) (WebAuthnLoginResult, error) {
	var sess webauthn.SessionData
	if err := json.Unmarshal(in.Session, &sess); err != nil {
		return WebAuthnLoginResult{}, errkind.Wrap(errkind.Internal, "session data", err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(in.Credential)
	if err != nil {
		return WebAuthnLoginResult{Reason: "invalid"}, nil
	}
	var (
		user *waUser
		cred *webauthn.Credential
	)
	if in.UserID != "" {
		if user, err = a.loadWAUser(ctx, in.UserID); err != nil {
			return WebAuthnLoginResult{}, err
		}
		cred, err = a.WebAuthn.ValidateLogin(user, sess, parsed)
	} else {
		handler := func(rawID, userHandle []byte) (webauthn.User, error) {
			c, err := a.Store.CredentialByCredentialID(ctx, rawID)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal([]byte(c.UserID), userHandle) {
				return nil, errors.New("user handle does not own the credential")
			}
			u, err := a.loadWAUser(ctx, c.UserID)
			if err != nil {
				return nil, err
			}
			user = u
			return u, nil
		}
		cred, err = a.WebAuthn.ValidateDiscoverableLogin(handler, sess, parsed)
	}
	if err != nil {
		if user == nil && in.UserID == "" {
			return WebAuthnLoginResult{Reason: "unknown_credential"}, nil
		}
		a.log(ctx).Info("passkey assertion rejected", "err", err)
		return WebAuthnLoginResult{UserID: userIDOf(user), Reason: "invalid"}, nil
	}
	var rec store.Credential
	for _, c := range user.creds {
		if bytes.Equal(c.CredentialID, cred.ID) {
			rec = c
		}
	}
	if in.UserID == "" && !rec.Passwordless {
		return WebAuthnLoginResult{UserID: user.u.ID, DeviceID: rec.ID, Reason: "not_passwordless"}, nil
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return WebAuthnLoginResult{}, err
	}
	if err := a.Store.UpdateCredentialUse(ctx, rec.ID, data, cred.Authenticator.SignCount, cred.Authenticator.CloneWarning, a.now()); err != nil {
		return WebAuthnLoginResult{}, storeErr("update passkey", err)
	}
	if cred.Authenticator.CloneWarning {
		a.log(ctx).Warn("passkey sign count went backwards: possible clone", "device", rec.ID)
	}
	return WebAuthnLoginResult{OK: true, UserID: user.u.ID, DeviceID: rec.ID}, nil
}

func userIDOf(u *waUser) string {
	if u == nil {
		return ""
	}
	return u.u.ID
}
