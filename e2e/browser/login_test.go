package browser_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
)

// withTOTP stores a TOTP secret straight in the store, as a confirmed
// enrollment would, and returns it.
func (a account) withTOTP(t *testing.T) string {
	t.Helper()
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "authflow", AccountName: a.email, SecretSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	sealed := env.Activities.Sealer.Seal(security.PurposeTOTPSecret, []byte(key.Secret()))
	if err := env.Store.SetTOTPSecret(context.Background(), a.id, sealed, 0); err != nil {
		t.Fatal(err)
	}
	return key.Secret()
}

func (a account) withEmail(t *testing.T) {
	t.Helper()
	if err := env.Store.SetEmailEnabled(context.Background(), a.id, true); err != nil {
		t.Fatal(err)
	}
}

func (a account) withTelegram(t *testing.T, chat int64) {
	t.Helper()
	if _, err := env.Store.LinkTelegram(context.Background(), a.id, chat, "user"+strconv.FormatInt(chat, 10)); err != nil {
		t.Fatal(err)
	}
	if err := env.Store.SetTelegramEnabled(context.Background(), a.id, true); err != nil {
		t.Fatal(err)
	}
}

func (a account) withPhone(t *testing.T, number string) string {
	t.Helper()
	return apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+a.id+"/phones", map[string]string{"number": number}), 201).Str("id")
}

func (a account) withCard(t *testing.T, last4 string) {
	t.Helper()
	apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+a.id+"/bank-cards", map[string]string{"brand": "visa", "last4": last4}), 201)
}

func totpCode(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, time.Now(), rules.TOTPValidateOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// methods lists the chooser's buttons in their order.
func (p *page) methods() []string {
	p.t.Helper()
	return js[[]string](p, `Array.from(document.querySelectorAll('#step-choose button.method')).map(b => b.dataset.method)`)
}

func TestLoginWithPasswordAndTOTP(t *testing.T) {
	a := newAccount(t, "ui-totp")
	secret := a.withTOTP(t)
	a.withEmail(t)
	p := open(t)

	t.Run("case=wrong password says so and stays on the password step", func(t *testing.T) {
		p.t = t
		p.signIn(a.email, "not the password")
		p.waitText("#msg", "Wrong email or password")
		if !p.visible("#step-password") || p.visible("#step-choose") {
			t.Fatal("left the password step after a wrong password")
		}
	})
	t.Run("case=the chooser offers every method in the API's order", func(t *testing.T) {
		p.t = t
		p.signIn(a.email, pw)
		p.waitVisible("#step-choose")
		if got := strings.Join(p.methods(), ","); got != "totp,email" {
			t.Fatalf("methods %q", got)
		}
		p.waitText("#choose-email", a.email)
		p.waitText("#step-choose [data-expires]", "Expires in")
		// GAuth is said with what it is: an app, and which ones.
		if got := p.text(`#methods [data-method="totp"]`); !strings.Contains(got, "GAuth") || !strings.Contains(got, "Authenticator app (Google Authenticator, Aegis, …)") {
			t.Errorf("the GAuth method reads %q", got)
		}
		p.atWidths(func(name string, width int) {
			p.fits(width)
			p.oneLine(width, "#methods .m-title")
			p.shot("chooser-" + name)
		})
	})
	t.Run("case=a wrong code shows the attempts left", func(t *testing.T) {
		p.t = t
		p.click(`#methods [data-method="totp"]`)
		p.waitVisible("#code-form")
		if ml := js[int](p, `document.getElementById('code').maxLength`); ml != 6 {
			t.Fatalf("code box takes %d digits", ml)
		}
		wrong := "000000"
		if totpCode(t, secret) == wrong {
			wrong = "111111"
		}
		p.typeIn("#code", wrong) // six digits submit by themselves
		p.waitText("#msg", "4 attempts left")
		p.waitText("#attempts", "4 attempts left")
		p.shot("wrong-code")
	})
	t.Run("case=the code from the app signs in and opens the settings", func(t *testing.T) {
		p.t = t
		p.typeIn("#code", totpCode(t, secret))
		p.signedInAs(a.email)
		p.waitText("#totp-pill", "On")
		p.waitText("#email-pill", "On")
		p.waitText("#tf-status", "On")
		p.shot("settings")
		p.shotMobile("settings-mobile")
	})
}

func TestLoginWithTelegramThroughTheDevOutbox(t *testing.T) {
	// Unique per run: a chat links to one account only, and -count=2 runs
	// the test again against the same store.
	chat := 880000 + time.Now().UnixNano()%100000
	a := newAccount(t, "ui-telegram")
	a.withTelegram(t, chat)
	p := open(t)

	p.signIn(a.email, pw)
	p.waitVisible("#step-choose")
	if p.count("#outbox-link") != 1 {
		t.Fatal("the login page in dev mode does not link the dev outbox")
	}
	p.click(`#methods [data-method="telegram"]`)
	p.waitVisible("#tg-number")
	n, err := strconv.Atoi(strings.TrimSpace(p.text("#tg-number")))
	if err != nil || n < 10 || n > 99 {
		t.Fatalf("the page shows %q, not the number", p.text("#tg-number"))
	}
	p.waitText("#tg-waiting", "Waiting for your confirmation")
	p.shot("telegram-number")

	prompt := env.LastOutbox(t, func(e channels.OutboxEntry) bool {
		return e.Channel == "telegram" && e.ChatID == chat && len(e.Buttons) > 0
	})
	// Press the page's number in the dev outbox, in a second tab, as a
	// person with the bot's message would.
	outbox := p.tab()
	outbox.nav("/dev/outbox")
	outbox.waitVisible("#m" + strconv.FormatInt(prompt.ID, 10))
	outbox.shot("outbox")
	outbox.clickX(`//*[@id="m` + strconv.FormatInt(prompt.ID, 10) + `"]//button[normalize-space(.)="` + strconv.Itoa(n) + `"]`)
	outbox.waitPath("/dev/outbox")

	p.signedInAs(a.email)
	p.waitText("#tg-pill", "On")
	p.waitText("#tg-accounts", "@user"+strconv.FormatInt(chat, 10))
}

func TestLoginByPhoneWarnsAndNeedsConfirmation(t *testing.T) {
	t.Run("case=sms shows the warning, sends nothing until confirmed, then disables 2FA and unlinks the cards", func(t *testing.T) {
		a := newAccount(t, "ui-sms")
		a.withTOTP(t)
		number := uniqueNumber("+447400", 4, "23") // a GB mobile: +1 numbers take calls only
		a.withPhone(t, number)
		a.withCard(t, "4242")
		a.withCard(t, "1881")
		p := open(t)
		p.signIn(a.email, pw)
		p.waitVisible("#step-choose")
		if got := strings.Join(p.methods(), ","); got != "totp,call,sms" {
			t.Fatalf("methods %q", got)
		}
		p.waitText("#phone-methods", "Turns off 2FA")
		p.click(`#phone-methods [data-method="sms"]`)
		p.waitVisible("#step-downgrade")
		warning := p.text("#downgrade-warning")
		for _, want := range []string{"two-step authentication will be disabled", "all previously linked bank cards will be unlinked", "only if absolutely necessary"} {
			if !strings.Contains(warning, want) {
				t.Fatalf("the warning %q does not say %q", warning, want)
			}
		}
		if !js[bool](p, `document.getElementById('downgrade-go').disabled`) {
			t.Fatal("the phone can be used without ticking the confirmation")
		}
		p.shot("warning")
		time.Sleep(300 * time.Millisecond)
		if n := sentTo("sms", number); n != 0 {
			t.Fatalf("%d SMS sent before the downgrade was confirmed", n)
		}
		p.click("#downgrade-ok")
		p.click("#downgrade-go")
		p.waitVisible("#code-form")
		p.waitText("#code-hint", "+447*******23")
		code := digits6.FindString(outboxTo(t, "sms", number).Text)
		p.typeIn("#code", code)
		p.signedInAs(a.email)
		p.waitText("#banner", "two-step authentication has been turned off and 2 linked bank cards were unlinked")
		p.waitText("#tf-status", "Off")
		p.wait("both cards to show unlinked", `Array.from(document.querySelectorAll('#cards .pill')).filter(e => e.innerText === 'Unlinked').length === 2`)
		p.shot("after-downgrade")
		me := apitest.Expect(t, env.Do(t, "GET", "/v1/me", p.sessionToken(), nil), 200)
		if me.Get("two_factor.enabled") != false {
			t.Fatalf("2FA still on: %s", me.Raw)
		}
	})
	t.Run("case=a call to a Ukrainian number asks for the 4 digits the robot dictates", func(t *testing.T) {
		a := newAccount(t, "ui-dictate")
		a.withEmail(t)
		number := uniqueNumber("+38067", 5, "33")
		a.withPhone(t, number)
		p := open(t)
		p.signIn(a.email, pw)
		p.waitVisible("#step-choose")
		p.click(`#phone-methods [data-method="call"]`)
		p.waitVisible("#step-downgrade")
		p.click("#downgrade-ok")
		p.click("#downgrade-go")
		p.waitVisible("#code-form")
		p.waitText("#code-hint", "the robot will dictate 4 digits")
		if ml := js[int](p, `document.getElementById('code').maxLength`); ml != 4 {
			t.Fatalf("the call's code box takes %d digits", ml)
		}
		p.shot("dictate")
		call := outboxTo(t, "call", number)
		p.typeIn("#code", call.Digits)
		p.signedInAs(a.email)
		p.waitText("#banner", "two-step authentication has been turned off")
	})
	t.Run("case=a call to a foreign number asks for the last 4 digits of the caller", func(t *testing.T) {
		a := newAccount(t, "ui-flash")
		a.withEmail(t)
		number := uniqueNumber("+447400", 4, "50")
		a.withPhone(t, number)
		p := open(t)
		p.signIn(a.email, pw)
		p.waitVisible("#step-choose")
		p.click(`#phone-methods [data-method="call"]`)
		p.waitVisible("#step-downgrade")
		p.click("#downgrade-ok")
		p.click("#downgrade-go")
		p.waitVisible("#code-form")
		p.waitText("#code-hint", "enter the last 4 digits of the number that calls you")
		call := outboxTo(t, "call", number)
		if os.Getenv("AUTHFLOW_SCREENSHOTS") != "" {
			o := p.tab()
			o.nav("/dev/outbox")
			o.shot("outbox")
		}
		p.typeIn("#code", call.From[len(call.From)-4:])
		p.signedInAs(a.email)
	})
}
