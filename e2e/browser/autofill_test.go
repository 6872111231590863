package browser_test

import (
	"context"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/authflow/authflow/api/apitest"
)

// present says whether the person is at the authenticator. Present (the
// default), every passkey request is answered at once — the login page's
// autofill request too, as if the person picked the passkey from the email
// field's suggestions the moment /login opened. Away, requests wait
// unanswered, and one already waiting stays so when the person is back:
// the autofill of a person who goes on with the password. (A request the
// page has only just made may not have reached the authenticator yet: turn
// presence back on only once the page has moved on.)
func (p *page) present(yes bool) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.SetAutomaticPresenceSimulation, webauthn.SetAutomaticPresenceSimulationParams{
		AuthenticatorID: p.authenticator, Enabled: yes}); err != nil {
		p.t.Fatal(err)
	}
}

// recordPasskeyCalls makes every document of the tab note, in its session
// storage, each passkey request ("get:conditional" from the autofill,
// "get:modal" from a button) and each passwordless flow it starts
// ("start").
func (p *page) recordPasskeyCalls() {
	p.t.Helper()
	p.onEveryDocument(`(function () {
		function note(s) {
			try {
				const a = JSON.parse(sessionStorage.getItem('authflow.test.calls') || '[]');
				a.push(s);
				sessionStorage.setItem('authflow.test.calls', JSON.stringify(a));
			} catch (e) { /* no storage: nothing noted */ }
		}
		if (navigator.credentials && navigator.credentials.get) {
			const get = navigator.credentials.get.bind(navigator.credentials);
			navigator.credentials.get = function (o) { note('get:' + ((o && o.mediation) || 'modal')); return get(o); };
		}
		const fetch = window.fetch.bind(window);
		window.fetch = function (url, o) {
			if (String(url).endsWith('/v1/login/passkey')) note('start');
			return fetch(url, o);
		};
	})();`)
}

// withoutConditionalMediation takes conditional mediation away from every
// later document of the tab, as in a browser that lacks it.
func (p *page) withoutConditionalMediation() {
	p.t.Helper()
	p.onEveryDocument(`if (window.PublicKeyCredential) PublicKeyCredential.isConditionalMediationAvailable = undefined;`)
}

// onEveryDocument runs a script first in every later document of the tab.
func (p *page) onEveryDocument(src string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
		p.t.Fatal(err)
	}
}

// passkeyCalls returns and forgets what recordPasskeyCalls noted.
func (p *page) passkeyCalls() string {
	p.t.Helper()
	return js[string](p, `(function(){const a=JSON.parse(sessionStorage.getItem('authflow.test.calls')||'[]');sessionStorage.removeItem('authflow.test.calls');return a.join(',')})()`)
}

// TestPasskeyAutofill: /login offers passkeys in the email field's
// suggestions (WebAuthn conditional mediation) from the moment it opens,
// through the passwordless login API; the button stays for browsers
// without it.
func TestPasskeyAutofill(t *testing.T) {
	a := newAccount(t, "ui-autofill")
	p := open(t)
	p.addAuthenticator()
	p.recordPasskeyCalls()
	p.signIn(a.email, pw)
	p.signedInAs(a.email)
	p.click("#wa-configure")
	p.waitVisible("#wa-form")
	p.typeIn("#wa-name", "Test laptop")
	p.click("#wa-add")
	p.waitText("#wa-devices", "Test laptop")
	p.passkeyCalls()

	t.Run("case=the email field asks for passkeys as the page opens, and the request waits for the person", func(t *testing.T) {
		p.t = t
		p.present(false)
		p.signOut()
		if got := js[string](p, `document.getElementById('email').getAttribute('autocomplete')`); got != "username webauthn" {
			t.Fatalf("the email field's autocomplete is %q", got)
		}
		p.wait("a waiting autofill request", `(sessionStorage.getItem('authflow.test.calls')||'').includes('get:conditional')`)
		if got := p.passkeyCalls(); got != "start,get:conditional" {
			t.Fatalf("the page made %q", got)
		}
		// Nothing else changed: the password and the button are there.
		if !p.visible("#password-form") || !p.visible("#passkey-login") || p.message() != "" {
			t.Fatalf("the page moved on by itself (message %q)", p.message())
		}
		// Going on with the password drops the request.
		p.typeIn("#email", a.email)
		p.typeIn("#password", pw)
		p.click("#password-submit")
		p.waitVisible("#step-choose")
		p.present(true)
		p.click(`#methods [data-method="webauthn"]`)
		p.signedInAs(a.email)
		if got := p.passkeyCalls(); got != "get:modal" {
			t.Fatalf("the second step made %q", got)
		}
	})
	t.Run("case=a passkey picked without passwordless is refused and the page says why", func(t *testing.T) {
		p.t = t
		p.signOut() // present: the passkey is picked as /login opens
		p.waitText("#msg", "Log in without password")
		if got := p.passkeyCalls(); got != "start,get:conditional" {
			t.Fatalf("the page made %q", got)
		}
		p.shot("autofill-refused")
		// Back on the password step, passkeys are offered again.
		p.present(false)
		p.click("#challenge-back")
		p.waitVisible("#password-form")
		p.wait("a new autofill request", `(sessionStorage.getItem('authflow.test.calls')||'').includes('get:conditional')`)
		if got := p.passkeyCalls(); got != "start,get:conditional" {
			t.Fatalf("the page made %q", got)
		}
	})
	t.Run("case=a passwordless passkey picked from the autofill signs in", func(t *testing.T) {
		p.t = t
		u := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/users/"+a.id, nil), 200)
		dev := u.Get("two_factor.webauthn.devices").([]any)[0].(map[string]any)["id"].(string)
		if err := env.Store.SetCredentialPasswordless(context.Background(), a.id, dev, true); err != nil {
			t.Fatal(err)
		}
		p.present(true)
		p.nav("/login")
		p.signedInAs(a.email)
		if got := p.passkeyCalls(); got != "start,get:conditional" {
			t.Fatalf("the page made %q", got)
		}
		p.shot("autofill-signed-in")
	})
	t.Run("case=without conditional mediation the page asks for nothing until the button", func(t *testing.T) {
		p.t = t
		p.passkeyCalls()
		p.withoutConditionalMediation()
		p.signOut()
		p.waitVisible("#password-form")
		time.Sleep(500 * time.Millisecond)
		if got := p.passkeyCalls(); got != "" {
			t.Fatalf("the page made %q before the button", got)
		}
		p.click("#passkey-login")
		p.signedInAs(a.email)
		if got := p.passkeyCalls(); got != "start,get:modal" {
			t.Fatalf("the button made %q", got)
		}
	})
}
