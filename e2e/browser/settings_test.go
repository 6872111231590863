package browser_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/rules"
)

// addAuthenticator gives the tab a virtual platform authenticator that
// keeps discoverable credentials and verifies the user (a laptop with a
// fingerprint reader, as far as the page can tell).
func (p *page) addAuthenticator() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		p.t.Fatal(err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		p.t.Fatal(err)
	}
	p.authenticator = res.AuthenticatorID
}

// confirm presses the confirmation dialog's button.
func (p *page) confirm() {
	p.t.Helper()
	p.wait("the confirmation dialog", `document.getElementById('confirm').open`)
	p.click("#confirm-ok")
	p.wait("the confirmation dialog to close", `!document.getElementById('confirm').open`)
}

func (p *page) signOut() {
	p.t.Helper()
	p.click("#logout")
	p.waitPath("/login")
}

func TestPasskeyRegistrationAndPasswordlessLogin(t *testing.T) {
	a := newAccount(t, "ui-passkey")
	p := open(t)
	p.addAuthenticator()
	// The button and the second step; TestPasskeyAutofill has the email
	// field's autofill, which would answer at once here.
	p.withoutConditionalMediation()

	t.Run("case=a passkey is added on the settings page with a name", func(t *testing.T) {
		p.t = t
		p.signIn(a.email, pw)
		p.signedInAs(a.email)
		p.waitText("#tf-status", "Off")
		p.click("#wa-configure")
		p.waitVisible("#wa-form")
		p.typeIn("#wa-name", "Test laptop")
		p.click("#wa-add")
		p.waitText("#wa-devices", "Test laptop")
		p.waitText("#wa-pill", "1 device")
		p.waitText("#tf-status", "On")
		if p.count("#wa-devices input[type=checkbox]:checked") != 0 {
			t.Fatal("a new passkey must not sign in without a password until asked")
		}
		p.shot("passkey-added")
	})
	t.Run("case=a passkey without passwordless cannot sign in alone", func(t *testing.T) {
		p.t = t
		p.signOut()
		p.click("#passkey-login")
		p.waitText("#msg", "Log in without password")
		p.shot("passwordless-refused")
	})
	t.Run("case=the passkey is the second step after the password", func(t *testing.T) {
		p.t = t
		p.nav("/login")
		p.signIn(a.email, pw)
		p.waitVisible("#step-choose")
		if got := strings.Join(p.methods(), ","); got != "webauthn" {
			t.Fatalf("methods %q", got)
		}
		p.click(`#methods [data-method="webauthn"]`)
		p.signedInAs(a.email)
	})
	t.Run("case=turning passwordless on lets the passkey sign in without a password", func(t *testing.T) {
		p.t = t
		p.click("#wa-configure")
		p.click("#wa-devices input[type=checkbox]")
		deadline := time.Now().Add(10 * time.Second)
		for {
			u := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/users/"+a.id, nil), 200)
			devs, _ := u.Get("two_factor.webauthn.devices").([]any)
			if len(devs) == 1 && devs[0].(map[string]any)["passwordless"] == true {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("passwordless not on: %s", u.Raw)
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.wait("the switch to stay on", `document.querySelector('#wa-devices input[type=checkbox]').checked`)
		p.signOut()
		p.click("#passkey-login")
		p.signedInAs(a.email)
		p.shot("passwordless")
	})
}

// forgeConfirmations rewrites every enrollment confirmation the tab sends:
// the passkey's client data names another challenge than the server's, as a
// replayed or forged attestation would.
func (p *page) forgeConfirmations() {
	p.t.Helper()
	t := p.t
	forge := func(body []byte) []byte {
		var req struct {
			Credential map[string]any `json:"credential"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Errorf("confirmation body %s: %v", body, err)
			return body
		}
		resp, _ := req.Credential["response"].(map[string]any)
		enc, _ := resp["clientDataJSON"].(string)
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
		var cd map[string]any
		if err == nil {
			err = json.Unmarshal(raw, &cd)
		}
		if err != nil {
			t.Errorf("clientDataJSON %q: %v", enc, err)
			return body
		}
		cd["challenge"] = base64.RawURLEncoding.EncodeToString([]byte("not the challenge the server made"))
		raw, _ = json.Marshal(cd)
		resp["clientDataJSON"] = base64.RawURLEncoding.EncodeToString(raw)
		out, _ := json.Marshal(req)
		return out
	}
	if err := chromedp.Listen(p.ctx, func(ev any) {
		e, ok := ev.(*fetch.EventRequestPaused)
		if !ok {
			return
		}
		var body []byte
		for _, d := range e.Request.PostDataEntries {
			body = append(body, d.Bytes...)
		}
		// Commands may not run inside a listener.
		go func() {
			_, err := chromedp.Call(p.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: e.RequestID, PostData: forge(body)})
			if err != nil && p.ctx.Err() == nil {
				t.Errorf("continue the confirmation: %v", err)
			}
		}()
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*/v1/me/enrollments/*/confirm"}}}); err != nil {
		t.Fatal(err)
	}
}

func TestSettingsSaysWhenThePasskeyIsNotAccepted(t *testing.T) {
	a := newAccount(t, "ui-passkey-refused")
	p := open(t)
	p.addAuthenticator()
	p.forgeConfirmations()
	p.signIn(a.email, pw)
	p.signedInAs(a.email)
	p.click("#wa-configure")
	p.waitVisible("#wa-form")
	p.typeIn("#wa-name", "Test laptop")
	p.click("#wa-add")
	// The API answers invalid_code (docs/api.md's confirm); the page names the
	// passkey, not a mistyped code.
	p.waitText("#wa-msg", "The passkey was not accepted")
	if got := p.text("#wa-msg"); strings.Contains(got, "code") {
		t.Fatalf("the message speaks of a code: %q", got)
	}
	if p.count("#wa-devices input[type=checkbox]") != 0 {
		t.Fatal("a refused passkey is listed")
	}
	p.shot("passkey-refused")
}

func TestEndAllOtherSessionsFromSettings(t *testing.T) {
	a := newAccount(t, "ui-sessions")
	others := []string{env.SessionToken(t, a.email, pw), env.SessionToken(t, a.email, pw)}
	p := open(t)
	p.signIn(a.email, pw)
	p.signedInAs(a.email)
	p.wait("three sessions", `document.querySelectorAll('#sessions .row').length === 3`)
	p.waitText("#sessions [data-current]", "This session")
	p.shot("three-sessions")

	p.click("#end-others")
	p.confirm()
	p.waitText("#sess-msg", "Every other session was ended")
	p.wait("one session", `document.querySelectorAll('#sessions .row').length === 1 && !!document.querySelector('#sessions [data-current]')`)
	p.shot("one-session")
	for _, tok := range others {
		apitest.ExpectError(t, env.Do(t, "GET", "/v1/me", tok, nil), 401, "unauthorized")
	}
	apitest.Expect(t, env.Do(t, "GET", "/v1/me", p.sessionToken(), nil), 200)
	p.waitText("#events", "Sessions ended")
}

func TestSettingsAsksForThePasswordWhenTheLoginIsOld(t *testing.T) {
	a := newAccount(t, "ui-reauth")
	p := open(t)
	p.signIn(a.email, pw)
	p.signedInAs(a.email)

	// Age the session's last full login past the 15 minutes of docs/api.md.
	tok := p.sessionToken()
	var current string
	for _, s := range apitest.Expect(t, env.Do(t, "GET", "/v1/me/sessions", tok, nil), 200).Get("sessions").([]any) {
		if m := s.(map[string]any); m["current"] == true {
			current = m["id"].(string)
		}
	}
	if err := env.Store.MarkAuthenticated(context.Background(), current, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}

	p.click("#email-enable")
	p.wait("the password dialog", `document.getElementById('reauth').open`)
	p.typeIn("#reauth-password", "not the password")
	p.click("#reauth-submit")
	p.waitText("#reauth-msg", "The current password is wrong")
	p.shot("reauth")
	p.typeIn("#reauth-password", pw)
	p.click("#reauth-submit")
	p.wait("the dialog to close", `!document.getElementById('reauth').open`)
	p.waitVisible("#email-form")
	code := digits6.FindString(outboxTo(t, "email", a.email).Text)
	p.typeIn("#email-code", code)
	p.click("#email-confirm")
	p.waitText("#email-pill", "On")
	p.waitText("#tf-status", "On")
}

func TestGAuthEnrollmentOnSettings(t *testing.T) {
	a := newAccount(t, "ui-gauth")
	p := open(t)
	p.signIn(a.email, pw)
	p.signedInAs(a.email)
	p.click("#totp-enable")
	p.waitVisible("#totp-panel")
	p.wait("the QR code to be drawn", `document.getElementById('totp-qr').complete && document.getElementById('totp-qr').naturalWidth > 0`)
	secret := strings.ReplaceAll(p.text("#totp-secret"), " ", "")
	if len(secret) < 16 {
		t.Fatalf("secret %q", secret)
	}
	p.shot("gauth-setup")
	used := totpCode(t, secret)
	p.typeIn("#totp-code", used)
	p.click("#totp-confirm")
	p.waitText("#totp-pill", "On")
	if p.visible("#totp-panel") {
		t.Fatal("the secret is still on the page after confirming")
	}
	// The next login asks for the app's code.
	p.signOut()
	p.signIn(a.email, pw)
	p.waitVisible("#step-choose")
	if got := strings.Join(p.methods(), ","); got != "totp" {
		t.Fatalf("methods %q", got)
	}
	p.click(`#methods [data-method="totp"]`)
	p.waitVisible("#code-form")
	// The enrollment used up this time step: its code is refused, and the
	// page says to wait for the next one rather than that it is wrong.
	p.typeIn("#code", used)
	p.waitText("#msg", "This code was already used")
	p.waitText("#msg", "Wait for the app to show the next code")
	if got := p.text("#msg"); strings.Contains(got, "not right") || !js[bool](p, `document.getElementById('msg').classList.contains('alert-warn')`) {
		t.Fatalf("the page calls the used code wrong: %q", got)
	}
	p.shot("gauth-code-used")
	// The next step's code, which the ±1 step window accepts, signs in.
	next, err := totp.GenerateCodeCustom(secret, time.Now().Add(30*time.Second), rules.TOTPValidateOpts)
	if err != nil {
		t.Fatal(err)
	}
	p.typeIn("#code", next)
	p.signedInAs(a.email)

	// Disabling destroys the secret: the next login needs only the password.
	p.click("#totp-disable")
	p.confirm()
	p.waitText("#totp-pill", "Off")
	p.signOut()
	p.signIn(a.email, pw)
	p.signedInAs(a.email)
}

func TestTelegramLinkOnSettings(t *testing.T) {
	a := newAccount(t, "ui-tglink")
	chat := 770000000 + time.Now().UnixNano()%1000000
	p := open(t)
	p.signIn(a.email, pw)
	p.signedInAs(a.email)
	p.click("#tg-link")
	p.waitVisible("#tg-linking")
	href := js[string](p, `document.getElementById('tg-deeplink').href`)
	if !strings.HasPrefix(href, "https://t.me/") || !strings.Contains(href, "?start=") {
		t.Fatalf("deep link %q", href)
	}
	p.shot("tg-linking")
	p.do(chromedp.SetValue(chromedp.CSS("#tg-dev-chat"), strconv.FormatInt(chat, 10)))
	p.click("#tg-dev-start")
	p.waitText("#tg-accounts", "@dev_user")
	p.waitText("#tg-pill", "On")
	p.waitText("#tf-status", "On")
	p.shot("tg-linked")

	// Disabling keeps the account linked.
	p.click("#tg-toggle")
	p.confirm()
	p.waitText("#tg-pill", "Off")
	p.waitText("#tg-accounts", "@dev_user")
	p.waitText("#tf-status", "Off")
}

func TestPhoneAddVerifyAndDeleteOnSettings(t *testing.T) {
	a := newAccount(t, "ui-phone")
	const number = "+380671234567"
	p := open(t)
	p.signIn(a.email, pw)
	p.signedInAs(a.email)

	p.typeIn("#phone-number", "050 123")
	p.click("#phone-add")
	p.waitText("#phone-msg", "international format")

	p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById('phone-number').value = ''`))
	p.typeIn("#phone-number", "+380 67 123 45 67")
	p.click("#phone-add")
	p.waitVisible("#phone-verify")
	p.waitText("#phone-expires", "expires in")
	code := digits6.FindString(outboxTo(t, "sms", number).Text)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	p.typeIn("#phone-code", wrong)
	p.click("#phone-confirm")
	p.waitText("#phone-msg", "4 attempts left")
	p.typeIn("#phone-code", code)
	p.click("#phone-confirm")
	p.waitText("#phones", "+380*******67")
	p.waitText("#phones", "Verified")
	p.shot("phone-added")

	p.click("#phones [data-phone] .btn-danger")
	p.confirm()
	p.waitText("#phones", "No phones yet")
	p.waitText("#events", "Phone removed")
}

func TestSettingsCountsDownARateLimit(t *testing.T) {
	a := newAccount(t, "ui-ratelimit")
	p := open(t)
	p.signIn(a.email, pw)
	p.signedInAs(a.email)

	// Lock the account's password for 90 s, as ten wrong passwords would.
	lock := func(int) time.Duration { return 90 * time.Second }
	if _, err := env.Store.AddFailure(context.Background(), "password", rules.NormalizeEmail(a.email), time.Now(), lock); err != nil {
		t.Fatal(err)
	}
	p.typeIn("#pw-current", pw)
	p.typeIn("#pw-new", "another horse")
	p.typeIn("#pw-repeat", "another horse")
	p.click("#pw-submit")
	p.waitText("#pw-msg", "Too many attempts. Try again in 1:")
	first := p.text("#pw-msg")
	p.wait("the wait to count down from "+quote(first),
		`(function(){const t=document.getElementById('pw-msg').innerText;return t.includes('Try again in ')&&t!==`+quote(first)+`})()`)
	p.shot("rate-limit-countdown")

	// A new message stops the count: it must not overwrite what follows.
	js[string](p, `(document.getElementById('pw-current').value = '')`)
	p.click("#pw-submit")
	p.waitText("#pw-msg", "Enter the current and the new password")
	time.Sleep(1500 * time.Millisecond)
	if got := p.text("#pw-msg"); !strings.Contains(got, "Enter the current and the new password") {
		t.Fatalf("the old countdown overwrote the new message: %q", got)
	}
}
