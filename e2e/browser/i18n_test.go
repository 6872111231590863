package browser_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
)

// The pages in Ukrainian and English (docs/design.md "Languages"): the
// switch on every page, what it keeps, and the Ukrainian pages' layout at
// a phone's and a laptop's width.

// lang is the page's language as the browser sees it.
func (p *page) lang() string {
	p.t.Helper()
	return js[string](p, `document.documentElement.lang`)
}

// switchTo presses the switch's button for lang and waits for the page to
// come back in it.
func (p *page) switchTo(lang string) {
	p.t.Helper()
	p.click(`.lang-switch [data-lang="` + lang + `"]`)
	p.wait("the page in "+lang, `document.documentElement.lang === `+quote(lang)+` && document.readyState === 'complete'`)
}

func (p *page) storedLocale(userID string) string {
	p.t.Helper()
	l, err := env.Store.UserLocale(context.Background(), userID)
	if err != nil {
		p.t.Fatal(err)
	}
	return l
}

func TestLanguageSwitchOnThePages(t *testing.T) {
	a := newAccount(t, "ui-lang")
	p := open(t)

	t.Run("case=the login page follows the switch, and the cookie keeps it", func(t *testing.T) {
		p.t = t
		p.nav("/login")
		p.waitVisible("#password-form")
		if l := p.lang(); l != "en" {
			t.Fatalf("an English browser got %q", l)
		}
		p.switchTo("uk")
		p.waitVisible("#password-form")
		body := p.text("body")
		for _, want := range []string{"Забули пароль?", "Увійти"} {
			if !strings.Contains(body, want) {
				t.Errorf("the Ukrainian login page lacks %q", want)
			}
		}
		if strings.Contains(body, "Forgot password?") {
			t.Error("English left on the Ukrainian login page")
		}
		if js[string](p, `document.title`) != "Вхід · authflow" {
			t.Errorf("title %q", js[string](p, `document.title`))
		}
		// A new visit keeps it: the cookie, not the browser's language.
		p.nav("/recover")
		p.wait("the recovery page", `document.readyState === 'complete'`)
		if l := p.lang(); l != "uk" {
			t.Fatalf("the next page is %q", l)
		}
		p.nav("/login")
		p.waitVisible("#password-form")
		p.atWidths(func(name string, width int) {
			p.fits(width)
			p.oneLine(width, ".lang-switch button")
			p.shot("login-uk-" + name)
		})
	})

	t.Run("case=a wrong password is said in Ukrainian", func(t *testing.T) {
		p.t = t
		p.signIn(a.email, "not the password")
		p.waitText("#msg", "Неправильний email або пароль")
	})

	t.Run("case=signed in, the switch also stores the language for emails, SMS and calls", func(t *testing.T) {
		p.t = t
		p.signIn(a.email, pw)
		p.signedInAs(a.email)
		if l := p.lang(); l != "uk" {
			t.Fatalf("settings in %q after a Ukrainian login page", l)
		}
		p.waitText("#tf-status", "Вимкнено")
		p.atWidths(func(name string, width int) {
			p.fits(width)
			p.shot("settings-uk-" + name)
		})
		p.switchTo("en")
		p.waitText("#who", a.email)
		deadline := time.Now().Add(5 * time.Second)
		for p.storedLocale(a.id) != "en" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if l := p.storedLocale(a.id); l != "en" {
			t.Fatalf("stored locale %q after switching to English on settings", l)
		}
		p.waitText("#tf-status", "Off")
		p.switchTo("uk")
		p.waitText("#tf-status", "Вимкнено")
		if l := p.storedLocale(a.id); l != "uk" {
			t.Fatalf("stored locale %q after switching back", l)
		}
	})
}

// TestUsedAppCodeSaysWaitForTheNext: the code that was just used (here by
// a sign-in through the API) typed again on the page is refused with
// "wait for the next code", in the page's language, and costs no attempt.
func TestUsedAppCodeSaysWaitForTheNext(t *testing.T) {
	a := newAccount(t, "ui-used")
	secret := a.withTOTP(t)
	code := totpCode(t, secret)
	flow := env.Login(t, a.email, pw).Str("flow_id")
	apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/verify", "", map[string]string{"method": "totp", "code": code}), 200)

	p := open(t)
	for _, c := range []struct{ lang, says, left string }{
		{"en", "Wait for the app to show the next code", "5 attempts left"},
		{"uk", "Дочекайтеся, поки застосунок покаже наступний код", "5 спроб"},
	} {
		t.Run("case="+c.lang, func(t *testing.T) {
			p.t = t
			p.nav("/login")
			p.waitVisible("#password-form")
			if p.lang() != c.lang {
				p.switchTo(c.lang)
			}
			p.signIn(a.email, pw)
			p.waitVisible("#step-choose")
			p.click(`#methods [data-method="totp"]`)
			p.waitVisible("#code-form")
			p.typeIn("#code", code)
			p.waitText("#msg", c.says)
			if got := p.text("#attempts"); !strings.Contains(got, c.left) {
				t.Errorf("attempts after the used code: %q, want %q", got, c.left)
			}
			p.shot("used-code-" + c.lang)
		})
	}
}
