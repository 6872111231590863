package activities_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/internal/webauthntest"
	"github.com/authflow/authflow/store"
)

// registerPasskey registers cred of auth for the fixture's user through
// the activities, as an enrollment does, and returns what the store keeps.
func (f *enrollFixture) registerPasskey(auth virtualwebauthn.Authenticator, cred virtualwebauthn.Credential) store.Credential {
	f.t.Helper()
	ch, opts := f.beginRegistration()
	reg := f.verifyRegistration(ch, virtualwebauthn.CreateAttestationResponse(testRP, auth, cred, *opts))
	if !reg.OK {
		f.t.Fatal("the attestation was rejected")
	}
	res := f.finish(f.acts.FinishPasskeyEnrollment, activities.FinishEnrollmentInput{Credential: reg.Credential,
		DeviceName: "Key", SessionID: f.session().ID})
	if res.Device == nil {
		f.t.Fatalf("no passkey stored: %+v", res)
	}
	return f.passkey(res.Device.ID)
}

// passkey reads a stored passkey back.
func (f *enrollFixture) passkey(id string) store.Credential {
	f.t.Helper()
	list, err := f.st.ListCredentials(context.Background(), f.user.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range list {
		if c.ID == id {
			return c
		}
	}
	f.t.Fatalf("passkey %s is gone", id)
	return store.Credential{}
}

// beginPasskeyLogin asks for an assertion of the fixture's user's passkeys
// (the second step of a login).
func (f *enrollFixture) beginPasskeyLogin() (activities.WebAuthnChallenge, virtualwebauthn.AssertionOptions) {
	f.t.Helper()
	ch := execute[activities.WebAuthnChallenge](f, f.acts.BeginWebAuthnLogin, activities.BeginWebAuthnLoginInput{UserID: f.user.ID})
	opts, err := virtualwebauthn.ParseAssertionOptions(string(ch.Options))
	if err != nil {
		f.t.Fatal(err)
	}
	return ch, *opts
}

// finishPasskeyLogin checks an assertion against a login challenge's
// session.
func (f *enrollFixture) finishPasskeyLogin(session json.RawMessage, assertion string) activities.WebAuthnLoginResult {
	f.t.Helper()
	return execute[activities.WebAuthnLoginResult](f, f.acts.FinishWebAuthnLogin, activities.FinishWebAuthnLoginInput{UserID: f.user.ID,
		Session: session, Credential: json.RawMessage(assertion)})
}

// authenticatorOf decodes what the store keeps of go-webauthn's credential.
func authenticatorOf(t *testing.T, c store.Credential) webauthn.Credential {
	t.Helper()
	var wc webauthn.Credential
	if err := json.Unmarshal(c.Data, &wc); err != nil {
		t.Fatal(err)
	}
	return wc
}

// TestPasskeyLoginRecordsTheAuthenticator: after a passkey login the store
// holds the authenticator's new sign count, its flags and the last use; a
// count that goes backwards is a clone warning; an expired challenge is
// refused (docs/security.md "WebAuthn").
func TestPasskeyLoginRecordsTheAuthenticator(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	setup := func(t *testing.T) (*enrollFixture, virtualwebauthn.Authenticator, virtualwebauthn.Credential, store.Credential) {
		f := newEnrollFixture(t)
		f.acts.Now = func() time.Time { return now }
		auth := virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{BackupEligible: true})
		cred := webauthntest.Credential()
		cred.Counter = 1
		return f, auth, cred, f.registerPasskey(auth, cred)
	}

	t.Run("case=a login stores the new sign count, the backup state, user verification and the last use", func(t *testing.T) {
		f, auth, cred, key := setup(t)
		if key.SignCount != 1 || key.LastUsedAt != nil || authenticatorOf(t, key).Flags.BackupState {
			t.Fatalf("registered passkey %+v", key)
		}
		// The passkey has since been synced: the authenticator now says
		// backed up.
		auth.Options.BackupState = true
		cred.Counter = 7
		ch, opts := f.beginPasskeyLogin()
		if res := f.finishPasskeyLogin(ch.Session, virtualwebauthn.CreateAssertionResponse(testRP, auth, cred, opts)); !res.OK || res.DeviceID != key.ID {
			t.Fatalf("login %+v", res)
		}
		got := f.passkey(key.ID)
		wc := authenticatorOf(t, got)
		if got.SignCount != 7 || wc.Authenticator.SignCount != 7 || got.CloneWarning {
			t.Errorf("after the login: sign count %d (in the data %d), clone warning %v; want 7, 7, false",
				got.SignCount, wc.Authenticator.SignCount, got.CloneWarning)
		}
		if !wc.Flags.BackupState || !wc.Flags.BackupEligible || !wc.Flags.UserVerified {
			t.Errorf("after the login the flags are %+v, want backup eligible, backed up, user verified", wc.Flags)
		}
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(now) {
			t.Errorf("last use %v, want %s", got.LastUsedAt, now)
		}
	})

	t.Run("case=a sign count that goes backwards is stored as a clone warning", func(t *testing.T) {
		f, auth, cred, key := setup(t)
		cred.Counter = 9
		ch, opts := f.beginPasskeyLogin()
		if res := f.finishPasskeyLogin(ch.Session, virtualwebauthn.CreateAssertionResponse(testRP, auth, cred, opts)); !res.OK {
			t.Fatalf("login %+v", res)
		}
		// A copy of the key that signed less often answers next.
		cred.Counter = 4
		ch, opts = f.beginPasskeyLogin()
		f.finishPasskeyLogin(ch.Session, virtualwebauthn.CreateAssertionResponse(testRP, auth, cred, opts))
		got := f.passkey(key.ID)
		if !got.CloneWarning || !authenticatorOf(t, got).Authenticator.CloneWarning {
			t.Errorf("a count going from 9 to 4 left no clone warning: %+v", got)
		}
		if got.SignCount != 9 {
			t.Errorf("sign count %d after the backwards count, want 9 kept", got.SignCount)
		}
	})

	t.Run("case=an expired challenge is refused and changes nothing", func(t *testing.T) {
		f, auth, cred, key := setup(t)
		begun := time.Now()
		ch, opts := f.beginPasskeyLogin()
		// The session the workflow keeps says when its challenge ends: 5
		// minutes after it began (the library's clock).
		var sess map[string]any
		if err := json.Unmarshal(ch.Session, &sess); err != nil {
			t.Fatal(err)
		}
		ends, _ := sess["expires"].(string)
		if at, err := time.Parse(time.RFC3339Nano, ends); err != nil || at.Before(begun.Add(5*time.Minute-time.Second)) || at.After(time.Now().Add(5*time.Minute)) {
			t.Fatalf("the challenge ends at %q, want 5 minutes after it began (%s)", ends, begun)
		}
		// A second past that.
		sess["expires"] = time.Now().Add(-time.Second).Format(time.RFC3339Nano)
		expired, err := json.Marshal(sess)
		if err != nil {
			t.Fatal(err)
		}
		cred.Counter = 2
		if res := f.finishPasskeyLogin(expired, virtualwebauthn.CreateAssertionResponse(testRP, auth, cred, opts)); res.OK {
			t.Fatalf("an assertion over an expired challenge passed: %+v", res)
		}
		if got := f.passkey(key.ID); got.SignCount != 1 || got.LastUsedAt != nil {
			t.Errorf("the refused login changed the passkey: %+v", got)
		}
		// The same assertion within the challenge's time passes: the
		// refusal was the expiry.
		if res := f.finishPasskeyLogin(ch.Session, virtualwebauthn.CreateAssertionResponse(testRP, auth, cred, opts)); !res.OK {
			t.Fatalf("the same assertion in time was refused: %+v", res)
		}
	})
}
