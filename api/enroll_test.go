package api_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/descope/virtualwebauthn"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/telegram"
	"github.com/authflow/authflow/internal/webauthntest"
	"github.com/authflow/authflow/security"
)

// The enrollment flows and factor management of docs/api.md "Self-service",
// end to end against the shared stack.

// user is an account signed in without 2FA, with its session token.
type user struct {
	account
	tok string
}

func newUser(t *testing.T, prefix string) user {
	t.Helper()
	a := newAccount(t, prefix)
	return user{account: a, tok: env.SessionToken(t, a.email, pw)}
}

func (u user) do(t *testing.T, method, path string, body any) apitest.Response {
	t.Helper()
	return env.Do(t, method, path, u.tok, body)
}

func (u user) me(t *testing.T) apitest.Response {
	t.Helper()
	return apitest.Expect(t, u.do(t, "GET", "/v1/me", nil), 200)
}

func (u user) enroll(t *testing.T, body map[string]any) apitest.Response {
	t.Helper()
	return u.do(t, "POST", "/v1/me/enrollments", body)
}

func (u user) confirm(t *testing.T, flow string, body map[string]any) apitest.Response {
	t.Helper()
	return u.do(t, "POST", "/v1/me/enrollments/"+flow+"/confirm", body)
}

// started expects a started enrollment in state challenge.
func started(t *testing.T, r apitest.Response, method string) apitest.Response {
	t.Helper()
	apitest.Expect(t, r, 200)
	exp, err := time.Parse(time.RFC3339, r.Str("expires_at"))
	if r.Str("flow_id") == "" || r.Str("state") != "challenge" || err != nil || time.Until(exp) > 10*time.Minute || time.Until(exp) < 9*time.Minute {
		t.Fatalf("start %s: %s", method, r.Raw)
	}
	return r
}

// waitEnroll polls GET /v1/me/enrollments/{id} until the state is want.
func (u user) waitEnroll(t *testing.T, flow, want string) apitest.Response {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := apitest.Expect(t, u.do(t, "GET", "/v1/me/enrollments/"+flow, nil), 200)
		if r.Str("state") == want || time.Now().After(deadline) {
			if r.Str("state") != want {
				t.Fatalf("state %s, want %s", r.Raw, want)
			}
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (u user) eventTypes(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, e := range apitest.Expect(t, u.do(t, "GET", "/v1/me/events", nil), 200).Get("events").([]any) {
		out[e.(map[string]any)["type"].(string)]++
	}
	return out
}

// enrollTOTP enrolls TOTP and returns the secret and the confirming code.
func (u user) enrollTOTP(t *testing.T) (secret, code string) {
	t.Helper()
	r := started(t, u.enroll(t, map[string]any{"method": "totp"}), "totp")
	secret = r.Str("totp.secret")
	code = totpNow(t, secret, time.Now())
	d := apitest.Expect(t, u.confirm(t, r.Str("flow_id"), map[string]any{"code": code}), 200)
	if d.Str("state") != "done" || d.Get("totp.enabled") != true {
		t.Fatalf("confirm %s", d.Raw)
	}
	return secret, code
}

// enrollEmail enrolls email 2FA with the code from the outbox.
func (u user) enrollEmail(t *testing.T) apitest.Response {
	t.Helper()
	flow := started(t, u.enroll(t, map[string]any{"method": "email"}), "email").Str("flow_id")
	code := u.emailCode(t, flow)
	return apitest.Expect(t, u.confirm(t, flow, map[string]any{"code": code}), 200)
}

// emailCode reads the code a flow (enrollment or login) sent to the
// account email.
func (u user) emailCode(t *testing.T, flow string) string {
	t.Helper()
	m := env.LastOutbox(t, func(e channels.OutboxEntry) bool {
		return e.Channel == "email" && e.To == u.email && strings.Contains(e.Key, flow) && strings.HasPrefix(e.Subject, "Your authflow code")
	})
	return digits6.FindString(m.Text)
}

func otherCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

func loggedIn(t *testing.T, tok string) bool {
	t.Helper()
	return env.Do(t, "GET", "/v1/me", tok, nil).Status == 200
}

var (
	// chatBase is random per test binary, so runs against a shared database
	// (AUTHFLOW_TEST_STACK_DATABASE_URL) do not meet each other's chats.
	chatBase = 7_000_000_000 + int64(security.RandomInt(1_000_000))*1_000
	chatSeq  atomic.Int64
)

// newChat is a Telegram chat id no other test uses.
func newChat() int64 { return chatBase + chatSeq.Add(1) }

// telegramStart plays "/start <token>" from a chat through the dev helper.
func telegramStart(t *testing.T, chat int64, username, token string) string {
	t.Helper()
	r := apitest.Expect(t, env.Do(t, "POST", "/dev/telegram/start", "", map[string]any{"chat_id": chat, "username": username, "token": token}), 200)
	return r.Str("answer")
}

func TestEnrollTOTP(t *testing.T) {
	u := newUser(t, "entotp")
	var secret, confirmCode string

	t.Run("case=the answer has a 160-bit secret, its otpauth URL and a QR code", func(t *testing.T) {
		r := started(t, u.enroll(t, map[string]any{"method": "totp"}), "totp")
		secret = r.Str("totp.secret")
		if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret); err != nil || len(raw) < 20 {
			t.Fatalf("secret %q: %d bytes, %v", secret, len(raw), err)
		}
		url := r.Str("totp.otpauth_url")
		if !strings.HasPrefix(url, "otpauth://totp/authflow:") || !strings.Contains(url, "secret="+secret) || !strings.Contains(url, "issuer=authflow") {
			t.Fatalf("otpauth_url %q", url)
		}
		png, err := base64.StdEncoding.DecodeString(r.Str("totp.qr_png_base64"))
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatalf("qr_png_base64 is no PNG: %v", err)
		}
		flow := r.Str("flow_id")
		confirmCode = totpNow(t, secret, time.Now())
		w := apitest.ExpectError(t, u.confirm(t, flow, map[string]any{"code": otherCode(confirmCode)}), 400, "invalid_code")
		if w.Get("error.attempts_left") != 4.0 {
			t.Fatalf("attempts_left %s", w.Raw)
		}
		d := apitest.Expect(t, u.confirm(t, flow, map[string]any{"code": confirmCode}), 200)
		if d.Str("state") != "done" || d.Str("flow_id") != flow || d.Get("totp.enabled") != true || d.Get("totp.secret") != nil {
			t.Fatalf("confirm %s", d.Raw)
		}
		g := apitest.Expect(t, u.do(t, "GET", "/v1/me/enrollments/"+flow, nil), 200)
		if g.Str("state") != "done" || g.Str("method") != "totp" || g.Get("totp.enabled") != true || g.Str("expires_at") == "" {
			t.Fatalf("GET %s", g.Raw)
		}
		me := u.me(t)
		if me.Get("two_factor.enabled") != true || me.Get("two_factor.totp.enabled") != true {
			t.Fatalf("me %s", me.Raw)
		}
		if u.eventTypes(t)["factor_enabled"] != 1 {
			t.Fatalf("events %v", u.eventTypes(t))
		}
		apitest.ExpectError(t, u.confirm(t, flow, map[string]any{"code": confirmCode}), 409, "wrong_state")
		recordHistory(t, "enroll/"+flow, "enroll/totp")
	})

	t.Run("case=login offers totp and takes a computed code, but not the confirming one", func(t *testing.T) {
		flow := u.start(t)
		if got := methodTypes(flow); len(got) != 1 || got[0] != "totp" {
			t.Fatalf("methods %v", got)
		}
		id := flow.Str("flow_id")
		apitest.Expect(t, challenge(t, id, map[string]any{"method": "totp"}), 200)
		// Confirming the enrollment used up the confirming code's step.
		apitest.ExpectError(t, verify(t, id, confirmCode), 400, "code_already_used")
		r := apitest.Expect(t, verify(t, id, totpNow(t, secret, time.Now().Add(30*time.Second))), 200)
		if r.Str("state") != "done" || r.Str("session.token") == "" {
			t.Fatalf("verify %s", r.Raw)
		}
	})

	t.Run("case=re-enrolling replaces the secret and the old one stops working", func(t *testing.T) {
		newSecret, _ := u.enrollTOTP(t)
		if newSecret == secret {
			t.Fatal("the same secret twice")
		}
		id := u.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, id, map[string]any{"method": "totp"}), 200)
		apitest.ExpectError(t, verify(t, id, totpNow(t, secret, time.Now().Add(30*time.Second))), 400, "invalid_code")
		apitest.Expect(t, verify(t, id, totpNow(t, newSecret, time.Now().Add(30*time.Second))), 200)
	})

	t.Run("case=DELETE destroys the secret and login needs only the password", func(t *testing.T) {
		apitest.Expect(t, u.do(t, "DELETE", "/v1/me/factors/totp", nil), 204)
		tf, err := env.Store.TwoFactorSettings(context.Background(), u.id)
		if err != nil || tf.TOTPEnabled || tf.TOTPSecretSealed != nil {
			t.Fatalf("settings %+v %v", tf, err)
		}
		if me := u.me(t); me.Get("two_factor.enabled") != false || me.Get("two_factor.totp.enabled") != false {
			t.Fatalf("me %s", me.Raw)
		}
		if r := apitest.Expect(t, env.Login(t, u.email, pw), 200); r.Str("state") != "done" {
			t.Fatalf("login %s", r.Raw)
		}
		if u.eventTypes(t)["factor_disabled"] != 1 {
			t.Fatalf("events %v", u.eventTypes(t))
		}
		// The notice reaches the account email through a Notice flow.
		env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.Channel == "email" && e.To == u.email && e.Subject == "Authenticator app disabled"
		})
	})
}

func TestEnrollEmail(t *testing.T) {
	t.Run("case=a code to the account email turns email 2FA on, and login offers email", func(t *testing.T) {
		u := newUser(t, "enemail")
		flow := started(t, u.enroll(t, map[string]any{"method": "email"}), "email").Str("flow_id")
		code := u.emailCode(t, flow)
		apitest.ExpectError(t, u.confirm(t, flow, map[string]any{"code": otherCode(code)}), 400, "invalid_code")
		d := apitest.Expect(t, u.confirm(t, flow, map[string]any{"code": code}), 200)
		if d.Str("state") != "done" {
			t.Fatalf("confirm %s", d.Raw)
		}
		if me := u.me(t); me.Get("two_factor.email.enabled") != true || me.Get("two_factor.enabled") != true {
			t.Fatalf("me %s", me.Raw)
		}
		if got := methodTypes(u.start(t)); len(got) != 1 || got[0] != "email" {
			t.Fatalf("methods %v", got)
		}
		recordHistory(t, "enroll/"+flow, "enroll/email")

		apitest.Expect(t, u.do(t, "DELETE", "/v1/me/factors/email", nil), 204)
		if me := u.me(t); me.Get("two_factor.email.enabled") != false {
			t.Fatalf("me %s", me.Raw)
		}
		if ev := u.eventTypes(t); ev["factor_enabled"] != 1 || ev["factor_disabled"] != 1 {
			t.Fatalf("events %v", ev)
		}
	})

	t.Run("case=five wrong codes fail the enrollment", func(t *testing.T) {
		u := newUser(t, "enwrong")
		flow := started(t, u.enroll(t, map[string]any{"method": "email"}), "email").Str("flow_id")
		code := u.emailCode(t, flow)
		for i := range 5 {
			r := apitest.ExpectError(t, u.confirm(t, flow, map[string]any{"code": otherCode(code)}), 400, "invalid_code")
			if r.Get("error.attempts_left") != float64(4-i) {
				t.Fatalf("try %d: %s", i+1, r.Raw)
			}
		}
		if g := u.waitEnroll(t, flow, "failed"); g.Get("attempts_left") != 0.0 {
			t.Fatalf("GET %s", g.Raw)
		}
		apitest.ExpectError(t, u.confirm(t, flow, map[string]any{"code": code}), 409, "wrong_state")
		if me := u.me(t); me.Get("two_factor.email.enabled") != false {
			t.Fatalf("me %s", me.Raw)
		}
	})

	t.Run("case=malformed codes are bad requests and cost nothing", func(t *testing.T) {
		u := newUser(t, "enbad")
		flow := started(t, u.enroll(t, map[string]any{"method": "email"}), "email").Str("flow_id")
		for _, body := range []any{map[string]any{"code": "12a456"}, map[string]any{"code": "1234"}, map[string]any{}, `{"code":`, map[string]any{"code": 123456}} {
			apitest.ExpectError(t, u.do(t, "POST", "/v1/me/enrollments/"+flow+"/confirm", body), 400, "bad_request")
		}
		if g := apitest.Expect(t, u.do(t, "GET", "/v1/me/enrollments/"+flow, nil), 200); g.Get("attempts_left") != 5.0 {
			t.Fatalf("GET %s", g.Raw)
		}
	})
}

func TestEnrollPhone(t *testing.T) {
	u := newUser(t, "enphone")
	var phoneID string

	t.Run("case=invalid numbers are bad requests", func(t *testing.T) {
		for _, n := range []string{"0501234567", "+0501234567", "+38050123456789012", "", "+38050abc4567"} {
			apitest.ExpectError(t, u.enroll(t, map[string]any{"method": "phone", "number": n}), 400, "bad_request")
		}
	})

	t.Run("case=an SMS code verifies a Ukrainian number", func(t *testing.T) {
		number := "+38050" + strconv.FormatInt(1_000_000+time.Now().UnixNano()%8_999_999, 10)
		flow := started(t, u.enroll(t, map[string]any{"method": "phone", "number": number[:6] + " " + number[6:]}), "phone").Str("flow_id")
		code := digits6.FindString(outboxTo(t, "sms", number).Text)
		apitest.ExpectError(t, u.confirm(t, flow, map[string]any{"code": otherCode(code)}), 400, "invalid_code")
		d := apitest.Expect(t, u.confirm(t, flow, map[string]any{"code": code}), 200)
		masked := number[:4] + strings.Repeat("*", len(number)-6) + number[len(number)-2:]
		if d.Str("state") != "done" || d.Str("phone.number_masked") != masked || d.Get("phone.verified") != true || d.Str("phone.kind") != "ukrainian" {
			t.Fatalf("confirm %s", d.Raw)
		}
		phoneID = d.Str("phone.id")
		g := apitest.Expect(t, u.do(t, "GET", "/v1/me/enrollments/"+flow, nil), 200)
		if g.Str("phone.id") != phoneID || g.Str("method") != "phone" {
			t.Fatalf("GET %s", g.Raw)
		}
		me := u.me(t)
		phones := me.Get("phones").([]any)
		if len(phones) != 1 || phones[0].(map[string]any)["id"] != phoneID || me.Get("two_factor.enabled") != false {
			t.Fatalf("me %s", me.Raw)
		}
		if u.eventTypes(t)["phone_added"] != 1 {
			t.Fatalf("events %v", u.eventTypes(t))
		}
		apitest.ExpectError(t, u.enroll(t, map[string]any{"method": "phone", "number": number}), 409, "conflict")
		recordHistory(t, "enroll/"+flow, "enroll/phone")
	})

	t.Run("case=several phones; a foreign one is foreign", func(t *testing.T) {
		number := "+4474009" + strconv.FormatInt(10_000+time.Now().UnixNano()%89_999, 10) // a GB mobile
		flow := started(t, u.enroll(t, map[string]any{"method": "phone", "number": number}), "phone").Str("flow_id")
		d := apitest.Expect(t, u.confirm(t, flow, map[string]any{"code": digits6.FindString(outboxTo(t, "sms", number).Text)}), 200)
		if d.Str("phone.kind") != "foreign" || len(u.me(t).Get("phones").([]any)) != 2 {
			t.Fatalf("confirm %s", d.Raw)
		}
	})

	t.Run("case=DELETE removes a phone; unknown and other accounts' ids are not found", func(t *testing.T) {
		other := newUser(t, "enphone2")
		otherPhone := other.withPhone(t, "+380671112233")
		apitest.ExpectError(t, u.do(t, "DELETE", "/v1/me/phones/"+otherPhone, nil), 404, "not_found")
		apitest.Expect(t, u.do(t, "DELETE", "/v1/me/phones/"+phoneID, nil), 204)
		apitest.ExpectError(t, u.do(t, "DELETE", "/v1/me/phones/"+phoneID, nil), 404, "not_found")
		if n := len(u.me(t).Get("phones").([]any)); n != 1 {
			t.Fatalf("%d phones", n)
		}
		if len(other.me(t).Get("phones").([]any)) != 1 {
			t.Fatal("the other account's phone is gone")
		}
		if u.eventTypes(t)["phone_removed"] != 1 {
			t.Fatalf("events %v", u.eventTypes(t))
		}
	})
}

// passkey is a virtual authenticator holding one credential.
type passkey struct {
	rp   virtualwebauthn.RelyingParty
	auth virtualwebauthn.Authenticator
	cred virtualwebauthn.Credential
}

func newPasskey(userID string) *passkey {
	auth := virtualwebauthn.NewAuthenticatorWithOptions(virtualwebauthn.AuthenticatorOptions{UserHandle: []byte(userID)})
	return &passkey{
		rp:   virtualwebauthn.RelyingParty{Name: "authflow", ID: env.Config.RPID, Origin: env.Config.PublicURL},
		auth: auth, cred: webauthntest.Credential(),
	}
}

// attest answers creation options (the "webauthn" object of an answer).
func (p *passkey) attest(t *testing.T, r apitest.Response) (json.RawMessage, *virtualwebauthn.AttestationOptions) {
	t.Helper()
	opts, err := virtualwebauthn.ParseAttestationOptions(string(mustJSON(t, r.Get("webauthn"))))
	if err != nil {
		t.Fatalf("creation options %s: %v", r.Raw, err)
	}
	return json.RawMessage(virtualwebauthn.CreateAttestationResponse(p.rp, p.auth, p.cred, *opts)), opts
}

// assert answers request options.
func (p *passkey) assert(t *testing.T, r apitest.Response) json.RawMessage {
	t.Helper()
	opts, err := virtualwebauthn.ParseAssertionOptions(string(mustJSON(t, r.Get("webauthn"))))
	if err != nil {
		t.Fatalf("request options %s: %v", r.Raw, err)
	}
	p.auth.Credentials = []virtualwebauthn.Credential{p.cred}
	return json.RawMessage(virtualwebauthn.CreateAssertionResponse(p.rp, p.auth, p.cred, *opts))
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// enrollPasskey registers p under name and returns the device.
func (u user) enrollPasskey(t *testing.T, p *passkey, name string) map[string]any {
	t.Helper()
	r := started(t, u.enroll(t, map[string]any{"method": "webauthn", "name": name}), "webauthn")
	cred, _ := p.attest(t, r)
	d := apitest.Expect(t, u.confirm(t, r.Str("flow_id"), map[string]any{"credential": cred}), 200)
	dev, _ := d.Get("device").(map[string]any)
	if d.Str("state") != "done" || dev == nil || dev["name"] != name || dev["passwordless"] != false || dev["id"] == "" {
		t.Fatalf("confirm %s", d.Raw)
	}
	return dev
}

func TestEnrollWebAuthn(t *testing.T) {
	u := newUser(t, "enpasskey")
	laptop, phone := newPasskey(u.id), newPasskey(u.id)
	var laptopID, phoneID string

	t.Run("case=a name is required, 1-64 characters", func(t *testing.T) {
		apitest.ExpectError(t, u.enroll(t, map[string]any{"method": "webauthn"}), 400, "bad_request")
		apitest.ExpectError(t, u.enroll(t, map[string]any{"method": "webauthn", "name": "  "}), 400, "bad_request")
		apitest.ExpectError(t, u.enroll(t, map[string]any{"method": "webauthn", "name": strings.Repeat("x", 65)}), 400, "bad_request")
	})

	t.Run("case=an attestation registers the named device and GET /v1/me lists it", func(t *testing.T) {
		r := started(t, u.enroll(t, map[string]any{"method": "webauthn", "name": "Laptop"}), "webauthn")
		flow := r.Str("flow_id")
		// An attestation over another challenge costs an attempt; the flow
		// offers new options.
		_, opts := laptop.attest(t, r)
		opts.Challenge = []byte("not the challenge the server made")
		forged := virtualwebauthn.CreateAttestationResponse(laptop.rp, laptop.auth, laptop.cred, *opts)
		w := apitest.ExpectError(t, u.confirm(t, flow, map[string]any{"credential": json.RawMessage(forged)}), 400, "invalid_code")
		if w.Get("error.attempts_left") != 4.0 {
			t.Fatalf("attempts_left %s", w.Raw)
		}
		g := apitest.Expect(t, u.do(t, "GET", "/v1/me/enrollments/"+flow, nil), 200)
		if g.Str("state") != "challenge" || g.Get("webauthn.publicKey.challenge") == r.Get("webauthn.publicKey.challenge") {
			t.Fatalf("GET after a rejected attestation %s", g.Raw)
		}
		cred, _ := laptop.attest(t, g)
		d := apitest.Expect(t, u.confirm(t, flow, map[string]any{"credential": cred}), 200)
		dev, _ := d.Get("device").(map[string]any)
		if d.Str("state") != "done" || dev == nil || dev["name"] != "Laptop" || dev["passwordless"] != false ||
			dev["created_at"] == nil || dev["last_used_at"] != nil {
			t.Fatalf("confirm %s", d.Raw)
		}
		laptopID = dev["id"].(string)
		devices := u.me(t).Get("two_factor.webauthn.devices").([]any)
		if len(devices) != 1 || devices[0].(map[string]any)["id"] != laptopID {
			t.Fatalf("devices %v", devices)
		}
		if g := apitest.Expect(t, u.do(t, "GET", "/v1/me/enrollments/"+flow, nil), 200); g.Str("device.id") != laptopID {
			t.Fatalf("GET %s", g.Raw)
		}
		if u.eventTypes(t)["device_added"] != 1 {
			t.Fatalf("events %v", u.eventTypes(t))
		}
		recordHistory(t, "enroll/"+flow, "enroll/webauthn")
	})

	t.Run("case=the next registration excludes the registered passkey; the same passkey twice is a conflict", func(t *testing.T) {
		r := started(t, u.enroll(t, map[string]any{"method": "webauthn", "name": "Laptop again"}), "webauthn")
		cred, opts := laptop.attest(t, r)
		if !laptop.cred.IsExcludedForAttestation(*opts) {
			t.Fatalf("the registered passkey is not excluded: %s", r.Raw)
		}
		// The virtual authenticator ignores the exclusion; the server does not.
		apitest.ExpectError(t, u.confirm(t, r.Str("flow_id"), map[string]any{"credential": cred}), 409, "conflict")
	})

	t.Run("case=several devices per account", func(t *testing.T) {
		phoneID = u.enrollPasskey(t, phone, "Phone")["id"].(string)
		if n := len(u.me(t).Get("two_factor.webauthn.devices").([]any)); n != 2 {
			t.Fatalf("%d devices", n)
		}
	})

	t.Run("case=login offers webauthn and a registered passkey completes it", func(t *testing.T) {
		flow := u.start(t)
		if got := methodTypes(flow); len(got) != 1 || got[0] != "webauthn" {
			t.Fatalf("methods %v", got)
		}
		id := flow.Str("flow_id")
		ch := apitest.Expect(t, challenge(t, id, map[string]any{"method": "webauthn"}), 200)
		r := apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+id+"/verify", "", map[string]any{"credential": phone.assert(t, ch)}), 200)
		if r.Str("state") != "done" {
			t.Fatalf("verify %s", r.Raw)
		}
	})

	t.Run("case=PATCH switches passwordless; a name in the body is a bad request", func(t *testing.T) {
		apitest.ExpectError(t, u.do(t, "PATCH", "/v1/me/webauthn/"+laptopID, map[string]any{"name": "Renamed"}), 400, "bad_request")
		apitest.ExpectError(t, u.do(t, "PATCH", "/v1/me/webauthn/"+laptopID, map[string]any{"name": "Renamed", "passwordless": true}), 400, "bad_request")
		apitest.ExpectError(t, u.do(t, "PATCH", "/v1/me/webauthn/"+laptopID, map[string]any{}), 400, "bad_request")
		apitest.ExpectError(t, u.do(t, "PATCH", "/v1/me/webauthn/"+laptopID, map[string]any{"passwordless": "yes"}), 400, "bad_request")
		apitest.Expect(t, u.do(t, "PATCH", "/v1/me/webauthn/"+laptopID, map[string]any{"passwordless": true}), 204)
		for _, d := range u.me(t).Get("two_factor.webauthn.devices").([]any) {
			m := d.(map[string]any)
			if want := m["id"] == laptopID; m["passwordless"] != want || (m["id"] == laptopID && m["name"] != "Laptop") {
				t.Fatalf("device %v", m)
			}
		}
		apitest.ExpectError(t, u.do(t, "PATCH", "/v1/me/webauthn/nope", map[string]any{"passwordless": true}), 404, "not_found")
	})

	t.Run("case=DELETE removes one passkey; another account's is not found", func(t *testing.T) {
		other := newUser(t, "enpasskey2")
		otherID := other.enrollPasskey(t, newPasskey(other.id), "Other")["id"].(string)
		apitest.ExpectError(t, u.do(t, "DELETE", "/v1/me/webauthn/"+otherID, nil), 404, "not_found")
		apitest.ExpectError(t, u.do(t, "PATCH", "/v1/me/webauthn/"+otherID, map[string]any{"passwordless": true}), 404, "not_found")
		apitest.Expect(t, u.do(t, "DELETE", "/v1/me/webauthn/"+phoneID, nil), 204)
		apitest.ExpectError(t, u.do(t, "DELETE", "/v1/me/webauthn/"+phoneID, nil), 404, "not_found")
		devices := u.me(t).Get("two_factor.webauthn.devices").([]any)
		if len(devices) != 1 || devices[0].(map[string]any)["id"] != laptopID {
			t.Fatalf("devices %v", devices)
		}
		if u.eventTypes(t)["device_removed"] != 1 {
			t.Fatalf("events %v", u.eventTypes(t))
		}
		if len(other.me(t).Get("two_factor.webauthn.devices").([]any)) != 1 {
			t.Fatal("the other account's passkey is gone")
		}
	})
}

func TestEnrollTelegram(t *testing.T) {
	u := newUser(t, "entg")
	chat := newChat()
	var accountID string

	t.Run("case=the deep link's /start links the chat and turns Telegram 2FA on", func(t *testing.T) {
		r := started(t, u.enroll(t, map[string]any{"method": "telegram"}), "telegram")
		tok := r.Str("telegram.token")
		if tok == "" || r.Str("telegram.link") != "https://t.me/authflow_dev_bot?start="+tok {
			t.Fatalf("start %s", r.Raw)
		}
		flow := r.Str("flow_id")
		apitest.ExpectError(t, u.confirm(t, flow, map[string]any{"code": "123456"}), 409, "wrong_state")
		if g := apitest.Expect(t, u.do(t, "GET", "/v1/me/enrollments/"+flow, nil), 200); g.Str("state") != "challenge" || g.Get("telegram") != nil {
			t.Fatalf("GET %s", g.Raw)
		}
		telegramStart(t, chat, "alice", tok)
		g := u.waitEnroll(t, flow, "done")
		if g.Get("telegram_account.chat_id") != float64(chat) || g.Str("telegram_account.username") != "alice" || g.Str("telegram_account.linked_at") == "" {
			t.Fatalf("GET %s", g.Raw)
		}
		accountID = g.Str("telegram_account.id")
		me := u.me(t)
		accounts := me.Get("two_factor.telegram.accounts").([]any)
		if me.Get("two_factor.telegram.enabled") != true || me.Get("two_factor.enabled") != true || len(accounts) != 1 ||
			accounts[0].(map[string]any)["id"] != accountID {
			t.Fatalf("me %s", me.Raw)
		}
		env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.ChatID == chat && strings.Contains(e.Text, "@alice was linked")
		})
		if ev := u.eventTypes(t); ev["telegram_linked"] != 1 || ev["factor_enabled"] != 1 {
			t.Fatalf("events %v", ev)
		}
		// The link is spent.
		if a := telegramStart(t, chat, "alice", tok); !strings.Contains(a, "used already") {
			t.Fatalf("answer %q", a)
		}
		if got := methodTypes(u.start(t)); len(got) != 1 || got[0] != "telegram" {
			t.Fatalf("methods %v", got)
		}
		recordHistory(t, "enroll/"+flow, "enroll/telegram")
	})

	t.Run("case=a chat linked to another account is refused in the chat; the flow keeps waiting", func(t *testing.T) {
		other := newAccount(t, "entg-other")
		taken := newChat()
		other.withTelegram(t, taken)
		r := started(t, u.enroll(t, map[string]any{"method": "telegram"}), "telegram")
		flow, tok := r.Str("flow_id"), r.Str("telegram.token")
		telegramStart(t, taken, "mallory", tok)
		env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.ChatID == taken && strings.Contains(e.Text, "already linked to another authflow account")
		})
		if g := apitest.Expect(t, u.do(t, "GET", "/v1/me/enrollments/"+flow, nil), 200); g.Str("state") != "challenge" {
			t.Fatalf("GET %s", g.Raw)
		}
		// A second Telegram account of the same person, through the bot
		// handler itself.
		second := newChat()
		m := &telegram.Message{From: telegram.User{ID: second, Username: "alice2"}, Chat: telegram.Chat{ID: second}, Text: "/start " + tok}
		env.API.HandleTelegramUpdate(context.Background(), telegram.Update{ID: 1, Message: m})
		u.waitEnroll(t, flow, "done")
		if n := len(u.me(t).Get("two_factor.telegram.accounts").([]any)); n != 2 {
			t.Fatalf("%d accounts", n)
		}
		if tg, _ := env.Store.TelegramByChatID(context.Background(), taken); tg.UserID != other.id {
			t.Fatal("the chat moved to another account")
		}
	})

	t.Run("case=an unknown token is answered in the chat", func(t *testing.T) {
		stranger := newChat()
		if a := telegramStart(t, stranger, "eve", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); !strings.Contains(a, "invalid or expired") {
			t.Fatalf("answer %q", a)
		}
		env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.ChatID == stranger && strings.Contains(e.Text, "invalid or expired")
		})
	})

	t.Run("case=PUT switches Telegram 2FA while the accounts stay linked", func(t *testing.T) {
		apitest.ExpectError(t, u.do(t, "PUT", "/v1/me/factors/telegram", map[string]any{}), 400, "bad_request")
		apitest.Expect(t, u.do(t, "PUT", "/v1/me/factors/telegram", map[string]any{"enabled": false}), 204)
		me := u.me(t)
		if me.Get("two_factor.telegram.enabled") != false || me.Get("two_factor.enabled") != false || len(me.Get("two_factor.telegram.accounts").([]any)) != 2 {
			t.Fatalf("me %s", me.Raw)
		}
		if r := apitest.Expect(t, env.Login(t, u.email, pw), 200); r.Str("state") != "done" {
			t.Fatalf("login with Telegram 2FA off %s", r.Raw)
		}
		apitest.Expect(t, u.do(t, "PUT", "/v1/me/factors/telegram", map[string]any{"enabled": true}), 204)
		if u.me(t).Get("two_factor.telegram.enabled") != true {
			t.Fatal("Telegram 2FA stayed off")
		}
		if ev := u.eventTypes(t); ev["factor_disabled"] != 1 {
			t.Fatalf("events %v", ev)
		}
	})

	t.Run("case=DELETE unlinks one account; another account's is not found", func(t *testing.T) {
		other := newUser(t, "entg-del")
		otherChat := newChat()
		other.withTelegram(t, otherChat)
		otherAcc := other.me(t).Get("two_factor.telegram.accounts").([]any)[0].(map[string]any)["id"].(string)
		apitest.ExpectError(t, u.do(t, "DELETE", "/v1/me/telegram-accounts/"+otherAcc, nil), 404, "not_found")
		apitest.Expect(t, u.do(t, "DELETE", "/v1/me/telegram-accounts/"+accountID, nil), 204)
		apitest.ExpectError(t, u.do(t, "DELETE", "/v1/me/telegram-accounts/"+accountID, nil), 404, "not_found")
		accounts := u.me(t).Get("two_factor.telegram.accounts").([]any)
		if len(accounts) != 1 || accounts[0].(map[string]any)["id"] == accountID {
			t.Fatalf("accounts %v", accounts)
		}
		if u.eventTypes(t)["telegram_unlinked"] != 1 {
			t.Fatalf("events %v", u.eventTypes(t))
		}
	})

	t.Run("case=Telegram 2FA cannot be switched on without a linked account", func(t *testing.T) {
		v := newUser(t, "entg-none")
		apitest.ExpectError(t, v.do(t, "PUT", "/v1/me/factors/telegram", map[string]any{"enabled": true}), 409, "method_unavailable")
	})
}

func TestEnrollEndsOtherSessions(t *testing.T) {
	t.Run("case=turning 2FA on for an account without it ends every other session but the enrolling one", func(t *testing.T) {
		u := newUser(t, "ensess")
		other1, other2 := env.SessionToken(t, u.email, pw), env.SessionToken(t, u.email, pw)
		u.enrollEmail(t)
		if !loggedIn(t, u.tok) || loggedIn(t, other1) || loggedIn(t, other2) {
			t.Fatalf("enrolling session %v, others %v %v", loggedIn(t, u.tok), loggedIn(t, other1), loggedIn(t, other2))
		}
		if u.eventTypes(t)["sessions_ended"] != 1 {
			t.Fatalf("events %v", u.eventTypes(t))
		}
	})

	t.Run("case=enabling a second factor ends no session", func(t *testing.T) {
		u := newUser(t, "ensess2")
		u.enrollEmail(t)
		// A session made after 2FA was on.
		flow := u.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "email"}), 200)
		other := apitest.Expect(t, verify(t, flow, u.emailCode(t, flow)), 200).Str("session.token")
		u.enrollTOTP(t)
		if !loggedIn(t, u.tok) || !loggedIn(t, other) {
			t.Fatal("a session ended")
		}
	})

	t.Run("case=linking Telegram keeps the session that started the enrollment", func(t *testing.T) {
		u := newUser(t, "ensess3")
		other := env.SessionToken(t, u.email, pw)
		r := started(t, u.enroll(t, map[string]any{"method": "telegram"}), "telegram")
		telegramStart(t, newChat(), "carol", r.Str("telegram.token"))
		u.waitEnroll(t, r.Str("flow_id"), "done")
		if !loggedIn(t, u.tok) || loggedIn(t, other) {
			t.Fatal("the wrong session was kept")
		}
	})

	t.Run("case=switching Telegram 2FA on for an account without 2FA ends other sessions", func(t *testing.T) {
		u := newUser(t, "ensess4")
		if _, err := env.Store.LinkTelegram(context.Background(), u.id, newChat(), "dave"); err != nil {
			t.Fatal(err)
		}
		other := env.SessionToken(t, u.email, pw)
		apitest.Expect(t, u.do(t, "PUT", "/v1/me/factors/telegram", map[string]any{"enabled": true}), 204)
		if !loggedIn(t, u.tok) || loggedIn(t, other) {
			t.Fatal("sessions were not ended")
		}
	})
}

func TestEnrollNeedsRecentLogin(t *testing.T) {
	later := func(t *testing.T) {
		t.Helper()
		env.API.Now = func() time.Time { return time.Now().Add(16 * time.Minute) }
		t.Cleanup(func() { env.API.Now = nil })
	}

	t.Run("case=after 15 minutes every factor change needs current_password", func(t *testing.T) {
		u := newUser(t, "reauth")
		later(t)
		calls := []struct {
			method, path string
			body         map[string]any
		}{
			{"POST", "/v1/me/enrollments", map[string]any{"method": "totp"}},
			{"DELETE", "/v1/me/factors/totp", nil},
			{"DELETE", "/v1/me/factors/email", nil},
			{"PUT", "/v1/me/factors/telegram", map[string]any{"enabled": false}},
			{"DELETE", "/v1/me/telegram-accounts/x", nil},
			{"PATCH", "/v1/me/webauthn/x", map[string]any{"passwordless": true}},
			{"DELETE", "/v1/me/webauthn/x", nil},
			{"DELETE", "/v1/me/phones/x", nil},
		}
		for _, c := range calls {
			apitest.ExpectError(t, u.do(t, c.method, c.path, c.body), 403, "reauth_required")
		}
		body := map[string]any{"method": "totp", "current_password": "wrong password"}
		apitest.ExpectError(t, u.enroll(t, body), 403, "invalid_credentials")
		apitest.ExpectError(t, u.do(t, "DELETE", "/v1/me/factors/email", map[string]any{"current_password": "wrong password"}), 403, "invalid_credentials")
		body["current_password"] = pw
		started(t, u.enroll(t, body), "totp")
		// The password re-authenticated the session: the next change needs none.
		apitest.Expect(t, u.do(t, "DELETE", "/v1/me/factors/email", nil), 204)
	})

	t.Run("case=a recent login needs no password", func(t *testing.T) {
		u := newUser(t, "reauth2")
		env.API.Now = func() time.Time { return time.Now().Add(14 * time.Minute) }
		t.Cleanup(func() { env.API.Now = nil })
		started(t, u.enroll(t, map[string]any{"method": "totp"}), "totp")
	})
}

func TestEnrollFlowRules(t *testing.T) {
	u := newUser(t, "enrules")
	other := newUser(t, "enrules2")

	t.Run("case=unknown methods and bodies are bad requests", func(t *testing.T) {
		apitest.ExpectError(t, u.enroll(t, map[string]any{"method": "carrier-pigeon"}), 400, "bad_request")
		apitest.ExpectError(t, u.enroll(t, map[string]any{}), 400, "bad_request")
		apitest.ExpectError(t, u.do(t, "POST", "/v1/me/enrollments", `{"method":`), 400, "bad_request")
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/me/enrollments", "", map[string]any{"method": "totp"}), 401, "unauthorized")
	})

	t.Run("case=unknown flows and another account's flows are not found", func(t *testing.T) {
		flow := started(t, u.enroll(t, map[string]any{"method": "email"}), "email").Str("flow_id")
		code := u.emailCode(t, flow)
		apitest.ExpectError(t, other.do(t, "GET", "/v1/me/enrollments/"+flow, nil), 404, "flow_not_found")
		apitest.ExpectError(t, other.confirm(t, flow, map[string]any{"code": code}), 404, "flow_not_found")
		apitest.ExpectError(t, u.do(t, "GET", "/v1/me/enrollments/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", nil), 404, "flow_not_found")
		apitest.ExpectError(t, u.confirm(t, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", map[string]any{"code": "123456"}), 404, "flow_not_found")
		// A login flow id is not an enrollment.
		login := apitest.Expect(t, env.Login(t, u.email, pw), 200).Str("flow_id")
		apitest.ExpectError(t, u.do(t, "GET", "/v1/me/enrollments/"+login, nil), 404, "flow_not_found")
		// The other account's attempt changed nothing.
		apitest.Expect(t, u.confirm(t, flow, map[string]any{"code": code}), 200)
		apitest.ExpectError(t, other.do(t, "GET", "/v1/me/enrollments/"+flow, nil), 404, "flow_not_found")
	})

	t.Run("case=operators find enrollments by kind, user, state and method", func(t *testing.T) {
		flow := started(t, u.enroll(t, map[string]any{"method": "totp"}), "totp").Str("flow_id")
		deadline := time.Now().Add(20 * time.Second)
		for {
			r := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/flows?kind=enroll&state=challenge&user_id="+u.id, nil), 200)
			for _, f := range r.Get("flows").([]any) {
				m := f.(map[string]any)
				if m["flow_id"] == flow && m["kind"] == "enroll" && m["method"] == "totp" && m["workflow_id"] == "enroll/"+flow {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("flow %s not listed: %s", flow, r.Raw)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}

func TestEnrollKeepsSecretsOutOfHistory(t *testing.T) {
	t.Run("case=the TOTP secret, the Telegram token and codes never appear in history", func(t *testing.T) {
		u := newUser(t, "ensecret")
		r := started(t, u.enroll(t, map[string]any{"method": "totp"}), "totp")
		secret, flow := r.Str("totp.secret"), r.Str("flow_id")
		apitest.Expect(t, u.confirm(t, flow, map[string]any{"code": totpNow(t, secret, time.Now())}), 200)
		mail := started(t, u.enroll(t, map[string]any{"method": "email"}), "email").Str("flow_id")
		code := u.emailCode(t, mail)
		apitest.Expect(t, u.confirm(t, mail, map[string]any{"code": code}), 200)
		tg := started(t, u.enroll(t, map[string]any{"method": "telegram"}), "telegram")
		token := tg.Str("telegram.token")
		telegramStart(t, newChat(), "frank", token)
		u.waitEnroll(t, tg.Str("flow_id"), "done")

		for name, c := range map[string]struct{ flow, secret string }{
			"totp secret": {flow, secret}, "email code": {mail, code}, "telegram token": {tg.Str("flow_id"), token},
		} {
			text := historyText(t, "enroll/"+c.flow)
			if !strings.Contains(text, "enroll-begin") || !strings.Contains(text, u.id) {
				t.Fatal("the history decoder sees nothing: the test would pass vacuously")
			}
			if strings.Contains(text, c.secret) {
				t.Errorf("the %s appears in the workflow history", name)
			}
		}
	})
}

// TestEnrollSurvivesWorkerRestart: an enrollment whose worker stops after
// the code went out is finished by the next worker, with nothing sent or
// recorded twice (docs/security.md "Durability").
func TestEnrollSurvivesWorkerRestart(t *testing.T) {
	t.Run("case=a worker stopped after the enrollment's code was sent; a new worker enables the factor once and sends nothing twice", func(t *testing.T) {
		u := newUser(t, "enrestart")
		flow := started(t, u.enroll(t, map[string]any{"method": "email"}), "email").Str("flow_id")
		code := u.emailCode(t, flow)
		env.StopWorker()
		if err := env.StartWorker(); err != nil {
			t.Fatal(err)
		}
		if d := apitest.Expect(t, u.confirm(t, flow, map[string]any{"code": code}), 200); d.Str("state") != "done" {
			t.Fatalf("confirm after the restart %s", d.Raw)
		}
		if me := u.me(t); me.Get("two_factor.email.enabled") != true {
			t.Fatalf("me %s", me.Raw)
		}
		codes := 0
		for _, e := range env.Outbox.Entries() {
			if e.Channel == "email" && e.To == u.email && strings.HasPrefix(e.Subject, "Your authflow code") {
				codes++
			}
		}
		if codes != 1 {
			t.Fatalf("%d code emails for one enrollment across the restart, want 1", codes)
		}
		if ev := u.eventTypes(t); ev["factor_enabled"] != 1 {
			t.Fatalf("events %v, want factor_enabled once", ev)
		}
	})
}
