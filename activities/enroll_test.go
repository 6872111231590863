package activities_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/pquerna/otp/totp"
	"go.temporal.io/sdk/testsuite"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/internal/webauthntest"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/opener"
	"github.com/authflow/authflow/worker"
)

// enrollFixture is a user in a fresh SQLite store with activities wired to
// the dev outbox.
type enrollFixture struct {
	t      *testing.T
	acts   *activities.Activities
	outbox *channels.Outbox
	st     store.Store
	user   store.User
	env    *testsuite.TestActivityEnvironment
}

const (
	testOrigin = "https://authflow.example"
	testRPID   = "authflow.example"
)

func newEnrollFixture(t *testing.T) *enrollFixture {
	t.Helper()
	ctx := context.Background()
	st, err := opener.Open(ctx, "sqlite://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	key := []byte(strings.Repeat("k", 32))
	sealer, err := security.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	// The worker's configuration: challenges expire after 5 minutes.
	wa, err := worker.NewWebAuthn(config.Config{RPID: testRPID, PublicURL: testOrigin})
	if err != nil {
		t.Fatal(err)
	}
	out := channels.NewOutbox()
	acts := &activities.Activities{Store: st, Sealer: sealer, SecretKey: key, WebAuthn: wa,
		Email: out, SMS: out, Voice: out, Telegram: out, Limits: rules.DefaultLimits,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	u, err := st.CreateUser(ctx, "enroll-"+security.RandomToken()[:8]+"@example.com", "hash")
	if err != nil {
		t.Fatal(err)
	}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return &enrollFixture{t: t, acts: acts, outbox: out, st: st, user: u, env: env}
}

func (f *enrollFixture) session() store.Session {
	f.t.Helper()
	now := time.Now().UTC()
	s, err := f.st.CreateSession(context.Background(), store.Session{UserID: f.user.ID, TokenHash: security.HashToken(security.RandomToken()),
		AuthenticatedAt: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// execute runs an activity in the fixture's environment and returns its
// result; an error fails the test.
func execute[T any](f *enrollFixture, activity, in any) T {
	f.t.Helper()
	var out T
	v, err := f.env.ExecuteActivity(activity, in)
	if err != nil {
		f.t.Fatalf("%T: %v", in, err)
	}
	if err := v.Get(&out); err != nil {
		f.t.Fatal(err)
	}
	return out
}

func (f *enrollFixture) finish(activity any, in activities.FinishEnrollmentInput) activities.EnrollmentResult {
	f.t.Helper()
	in.UserID, in.FlowID = f.user.ID, "flow-"+security.RandomToken()[:8]
	return execute[activities.EnrollmentResult](f, activity, in)
}

func (f *enrollFixture) events() map[string]int {
	f.t.Helper()
	list, err := f.st.ListEvents(context.Background(), f.user.ID, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]int{}
	for _, e := range list {
		out[e.Type]++
	}
	return out
}

func (f *enrollFixture) liveSessions() int {
	f.t.Helper()
	list, err := f.st.ListSessions(context.Background(), f.user.ID, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return len(list)
}

func TestTOTPEnrollment(t *testing.T) {
	t.Run("case=the key has 160 bits, is sealed, and its code's step is used up on confirm", func(t *testing.T) {
		f := newEnrollFixture(t)
		k := execute[activities.TOTPEnrollment](f, f.acts.BeginTOTPEnrollment, f.user.ID)
		key, err := rules.OpenTOTPKey(f.acts.Sealer, k.KeySealed)
		if err != nil {
			t.Fatal(err)
		}
		if len(key.Secret()) < 32 || key.Issuer() != "authflow" || key.AccountName() != f.user.Email ||
			strings.Contains(string(k.KeySealed), key.Secret()) {
			t.Fatalf("key %s (secret %d base32 chars)", key.URL(), len(key.Secret()))
		}
		code, err := totp.GenerateCodeCustom(key.Secret(), time.Now(), rules.TOTPValidateOpts)
		if err != nil {
			t.Fatal(err)
		}
		check := func(code string) int64 {
			v, err := f.env.ExecuteLocalActivity(f.acts.CheckTOTPEnrollment, activities.CheckTOTPEnrollmentInput{
				KeySealed: k.KeySealed, CodeSealed: f.acts.Sealer.Seal(security.PurposeCode, []byte(code))})
			if err != nil {
				t.Fatal(err)
			}
			var step int64
			if err := v.Get(&step); err != nil {
				t.Fatal(err)
			}
			return step
		}
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		if check(wrong) != -1 {
			t.Fatal("a wrong code matched")
		}
		step := check(code)
		if step < 0 {
			t.Fatal("the right code did not match")
		}
		f.finish(f.acts.FinishTOTPEnrollment, activities.FinishEnrollmentInput{TOTPKeySealed: k.KeySealed, TOTPStep: step})
		tf, err := f.st.TwoFactorSettings(context.Background(), f.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		secret, err := f.acts.Sealer.Open(security.PurposeTOTPSecret, tf.TOTPSecretSealed)
		if !tf.TOTPEnabled || err != nil || string(secret) != key.Secret() || tf.TOTPLastStep != step {
			t.Fatalf("settings %+v secret ok %v", tf, string(secret) == key.Secret())
		}
		// The confirming code cannot sign in (RFC 6238 §5.2).
		res := execute[activities.Answer](f, f.acts.VerifyTOTP, activities.VerifyTOTPInput{UserID: f.user.ID,
			CodeSealed: f.acts.Sealer.Seal(security.PurposeCode, []byte(code))})
		if res.OK || !res.Replay {
			t.Fatalf("login with the confirming code: %+v", res)
		}
		if f.events()["factor_enabled"] != 1 {
			t.Fatalf("events %v", f.events())
		}
	})
}

func TestFinishEnrollmentSessions(t *testing.T) {
	t.Run("case=the first factor ends every other session but the enrolling one", func(t *testing.T) {
		f := newEnrollFixture(t)
		keep := f.session()
		f.session()
		f.session()
		res := f.finish(f.acts.FinishEmailEnrollment, activities.FinishEnrollmentInput{SessionID: keep.ID})
		if res.SessionsEnded != 2 || f.liveSessions() != 1 {
			t.Fatalf("ended %d, %d live", res.SessionsEnded, f.liveSessions())
		}
		if _, err := f.st.SessionByTokenHash(context.Background(), keep.TokenHash, time.Now()); err != nil {
			t.Fatalf("the enrolling session ended: %v", err)
		}
		if ev := f.events(); ev["sessions_ended"] != 1 || ev["factor_enabled"] != 1 {
			t.Fatalf("events %v", ev)
		}
		tf, _ := f.st.TwoFactorSettings(context.Background(), f.user.ID)
		if !tf.EmailEnabled {
			t.Fatal("email 2FA is off")
		}
	})
	t.Run("case=a second factor ends no session", func(t *testing.T) {
		f := newEnrollFixture(t)
		keep := f.session()
		f.session()
		res := f.finish(f.acts.FinishEmailEnrollment, activities.FinishEnrollmentInput{SessionID: keep.ID, Before: activities.LoginOptions{TOTP: true}})
		if res.SessionsEnded != 0 || f.liveSessions() != 2 || f.events()["sessions_ended"] != 0 {
			t.Fatalf("ended %d, %d live", res.SessionsEnded, f.liveSessions())
		}
	})
	t.Run("case=a phone is no second factor: it ends no session", func(t *testing.T) {
		f := newEnrollFixture(t)
		keep := f.session()
		f.session()
		res := f.finish(f.acts.FinishPhoneEnrollment, activities.FinishEnrollmentInput{SessionID: keep.ID, Number: "+447700900123"})
		if res.SessionsEnded != 0 || f.liveSessions() != 2 || res.Phone == nil || !res.Phone.Verified {
			t.Fatalf("res %+v, %d live", res, f.liveSessions())
		}
		if f.events()["phone_added"] != 1 {
			t.Fatalf("events %v", f.events())
		}
		// The same number again (a retry) is that phone, not a second one.
		again := f.finish(f.acts.FinishPhoneEnrollment, activities.FinishEnrollmentInput{SessionID: keep.ID, Number: "+447700900123"})
		list, _ := f.st.ListPhones(context.Background(), f.user.ID)
		if again.Phone == nil || again.Phone.ID != res.Phone.ID || len(list) != 1 {
			t.Fatalf("again %+v, %d phones", again, len(list))
		}
	})
}

func TestFinishEnrollmentTelegram(t *testing.T) {
	t.Run("case=linking turns Telegram 2FA on and tells every channel", func(t *testing.T) {
		f := newEnrollFixture(t)
		res := f.finish(f.acts.FinishTelegramEnrollment, activities.FinishEnrollmentInput{ChatID: 777001, Username: "alice"})
		if res.Refused || res.Telegram == nil || res.Telegram.ChatID != 777001 || res.Telegram.Username != "alice" {
			t.Fatalf("res %+v", res)
		}
		tf, _ := f.st.TwoFactorSettings(context.Background(), f.user.ID)
		if !tf.TelegramEnabled {
			t.Fatal("Telegram 2FA is off")
		}
		if ev := f.events(); ev["telegram_linked"] != 1 || ev["factor_enabled"] != 1 {
			t.Fatalf("events %v", ev)
		}
		var toChat, toEmail bool
		for _, e := range f.outbox.Entries() {
			toChat = toChat || (e.ChatID == 777001 && strings.Contains(e.Text, "@alice"))
			toEmail = toEmail || (e.Channel == "email" && e.To == f.user.Email)
		}
		if !toChat || !toEmail {
			t.Fatalf("notice in chat %v by email %v: %+v", toChat, toEmail, f.outbox.Entries())
		}
	})
	t.Run("case=a chat linked to another account is refused in the chat and nothing changes", func(t *testing.T) {
		f := newEnrollFixture(t)
		other, err := f.st.CreateUser(context.Background(), "other-"+security.RandomToken()[:8]+"@example.com", "hash")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.LinkTelegram(context.Background(), other.ID, 777002, "bob"); err != nil {
			t.Fatal(err)
		}
		res := f.finish(f.acts.FinishTelegramEnrollment, activities.FinishEnrollmentInput{ChatID: 777002, Username: "bob"})
		if !res.Refused || res.Telegram != nil {
			t.Fatalf("res %+v", res)
		}
		tf, _ := f.st.TwoFactorSettings(context.Background(), f.user.ID)
		tg, _ := f.st.ListTelegram(context.Background(), f.user.ID)
		if tf.TelegramEnabled || len(tg) != 0 || len(f.events()) != 0 {
			t.Fatalf("settings %+v accounts %v events %v", tf, tg, f.events())
		}
		entries := f.outbox.Entries()
		if len(entries) != 1 || entries[0].ChatID != 777002 || !strings.Contains(entries[0].Text, "another authflow account") {
			t.Fatalf("outbox %+v", entries)
		}
	})
}

// testRP is the relying party the virtual authenticator answers.
var testRP = virtualwebauthn.RelyingParty{Name: "authflow", ID: testRPID, Origin: testOrigin}

// beginRegistration asks for a passkey registration of the fixture's user.
func (f *enrollFixture) beginRegistration() (activities.WebAuthnChallenge, *virtualwebauthn.AttestationOptions) {
	f.t.Helper()
	ch := execute[activities.WebAuthnChallenge](f, f.acts.BeginWebAuthnRegistration, f.user.ID)
	opts, err := virtualwebauthn.ParseAttestationOptions(string(ch.Options))
	if err != nil {
		f.t.Fatal(err)
	}
	return ch, opts
}

// verifyRegistration checks an attestation against a registration's
// challenge.
func (f *enrollFixture) verifyRegistration(ch activities.WebAuthnChallenge, cred string) activities.WebAuthnRegistration {
	f.t.Helper()
	return execute[activities.WebAuthnRegistration](f, f.acts.VerifyWebAuthnRegistration, activities.VerifyWebAuthnRegistrationInput{
		UserID: f.user.ID, Session: ch.Session, Credential: json.RawMessage(cred)})
}

func TestWebAuthnRegistration(t *testing.T) {
	t.Run("case=an attestation registers the named passkey, which later registrations exclude", func(t *testing.T) {
		f := newEnrollFixture(t)
		auth := virtualwebauthn.NewAuthenticator()
		cred := webauthntest.Credential()
		ch, opts := f.beginRegistration()
		var sel struct {
			PublicKey protocol.PublicKeyCredentialCreationOptions `json:"publicKey"`
		}
		if err := json.Unmarshal(ch.Options, &sel); err != nil {
			t.Fatal(err)
		}
		if sel.PublicKey.AuthenticatorSelection.ResidentKey != protocol.ResidentKeyRequirementPreferred {
			t.Fatalf("resident key %q", sel.PublicKey.AuthenticatorSelection.ResidentKey)
		}
		reg := f.verifyRegistration(ch, virtualwebauthn.CreateAttestationResponse(testRP, auth, cred, *opts))
		if !reg.OK {
			t.Fatal("the attestation was rejected")
		}
		keep := f.session()
		in := activities.FinishEnrollmentInput{Credential: reg.Credential, DeviceName: "Laptop", SessionID: keep.ID}
		res := f.finish(f.acts.FinishPasskeyEnrollment, in)
		if res.Device == nil || res.Device.Name != "Laptop" || res.Device.Passwordless || res.Device.Data != nil {
			t.Fatalf("device %+v", res.Device)
		}
		if ev := f.events(); ev["device_added"] != 1 {
			t.Fatalf("events %v", ev)
		}
		// A retry of the same step finds the passkey it stored.
		again := f.finish(f.acts.FinishPasskeyEnrollment, in)
		if again.Device == nil || again.Device.ID != res.Device.ID {
			t.Fatalf("retry %+v", again.Device)
		}
		_, opts2 := f.beginRegistration()
		if !cred.IsExcludedForAttestation(*opts2) {
			t.Fatal("the registered passkey is not excluded")
		}
		if list, _ := f.st.ListCredentials(context.Background(), f.user.ID); len(list) != 1 {
			t.Fatalf("%d passkeys", len(list))
		}
	})
	t.Run("case=an attestation for another challenge is refused", func(t *testing.T) {
		f := newEnrollFixture(t)
		auth := virtualwebauthn.NewAuthenticator()
		cred := webauthntest.Credential()
		_, stale := f.beginRegistration()
		ch, _ := f.beginRegistration()
		if reg := f.verifyRegistration(ch, virtualwebauthn.CreateAttestationResponse(testRP, auth, cred, *stale)); reg.OK {
			t.Fatal("an attestation over another challenge was accepted")
		}
		if reg := f.verifyRegistration(ch, `{"id":"garbage"}`); reg.OK {
			t.Fatal("garbage was accepted")
		}
	})
}
