package browser_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels"
)

// Layout checks: what a person would see at a glance on a phone (390 px, an
// iPhone's width) and on a laptop (1280 px), as assertions. Each width also
// saves a screenshot with AUTHFLOW_SCREENSHOTS=1.

// widths are the checked window widths; phone says which one emulates a
// phone.
var widths = []struct {
	name          string
	width, height int64
	phone         bool
}{
	{"phone", 390, 844, true},
	{"desktop", 1280, 900, false},
}

// atWidths runs check at each width, then restores the window.
func (p *page) atWidths(check func(name string, width int)) {
	p.t.Helper()
	defer p.do(chromedp.ResetViewport())
	for _, w := range widths {
		opts := []chromedp.EmulateViewportOption{}
		if w.phone {
			opts = append(opts, chromedp.EmulateMobile)
		}
		p.do(chromedp.EmulateViewport(w.width, w.height, opts...))
		// A phone's screen, not its window: a phone widens the window to a
		// page that overflows, which fits then reports.
		n := strconv.FormatInt(w.width, 10)
		p.wait("the window to be "+n+" px wide", `innerWidth === `+n+` || screen.width === `+n)
		check(w.name, int(w.width))
	}
}

// fits fails when anything makes the page scroll sideways, and names what
// sticks out.
func (p *page) fits(width int) {
	p.t.Helper()
	w := strconv.Itoa(width)
	over := js[[]string](p, `(function(){
		if (document.scrollingElement.scrollWidth <= innerWidth && innerWidth === `+w+`) return [];
		const out = ['the page is ' + document.scrollingElement.scrollWidth + ' px wide in a ' + innerWidth + ' px window'];
		for (const e of document.querySelectorAll('body *')) {
			const r = e.getBoundingClientRect();
			if (r.width && r.right > `+w+` + 0.5) {
				out.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && e.className.baseVal === undefined ? '.' + String(e.className).split(' ').join('.') : '') + ' ends at ' + Math.round(r.right));
				if (out.length > 8) break;
			}
		}
		return out;
	})()`)
	if len(over) > 0 {
		p.t.Errorf("at %d px: %s", width, strings.Join(over, "; "))
	}
}

// oneLine fails for every match of css whose text takes more than one line.
func (p *page) oneLine(width int, css string) {
	p.t.Helper()
	bad := js[[]string](p, `(function(){
		const out = [];
		for (const e of document.querySelectorAll(`+quote(css)+`)) {
			if (!e.getClientRects().length) continue;
			const r = document.createRange();
			r.selectNodeContents(e);
			const tops = new Set(Array.from(r.getClientRects()).filter(b => b.width > 0).map(b => Math.round(b.top)));
			if (tops.size > 1) out.push(JSON.stringify(e.innerText) + ' takes ' + tops.size + ' lines');
		}
		return out;
	})()`)
	if len(bad) > 0 {
		p.t.Errorf("at %d px, %s: %s", width, css, strings.Join(bad, "; "))
	}
}

func TestDevOutboxFitsAPhone(t *testing.T) {
	// One message of each kind, with the long words that used to push the
	// page sideways: an address, a link, a long number.
	ctx := context.Background()
	// No hyphen or space in them: nothing a browser would break a line at.
	long := "very.long.name.of.someone+securitynotices@accounts.examplehostingcompany.com.ua"
	_, _ = env.Outbox.SendEmail(ctx, channels.Email{To: long, Subject: "Your sign-in code",
		Text: "Your code is 123456. It expires in 10 minutes.\n\nNot you? Change your password: http://localhost:8080/settings?token=AbCdEf0123456789AbCdEf0123456789AbCdEf0123456789"})
	_, _ = env.Outbox.SendSMS(ctx, "+380671234567", "authflow code: 654321", "layout-sms")
	_, _ = env.Outbox.DictateCall(ctx, "+380671234567", "4821", "layout-dictate")
	_, _ = env.Outbox.FlashCall(ctx, "+447400123456", "+441632960123456", "layout-flash")
	buttons := []channels.Button{}
	for n := 10; n < 20; n++ {
		buttons = append(buttons, channels.Button{Text: strconv.Itoa(n), Data: "layout:" + strconv.Itoa(n)})
	}
	buttons = append(buttons, channels.Button{Text: "Not me", Data: "layout:deny"})
	_, _ = env.Outbox.SendPrompt(ctx, 123456789, "Sign-in to authflow from Chrome on Linux, IP 203.0.113.77. Press the number the login page shows.", buttons, "layout-prompt")

	p := open(t)
	p.nav("/dev/outbox")
	p.waitVisible(".msg-telegram .msg-buttons")
	p.atWidths(func(name string, width int) {
		p.fits(width)
		p.oneLine(width, ".msg-code")
		p.oneLine(width, ".msg-buttons .btn")
		p.oneLine(width, ".topbar .btn")
		p.shot("outbox-" + name)
	})
}

func TestSettingsLayout(t *testing.T) {
	a := newAccount(t, "ui-layout")
	p := open(t)
	// Events of several kinds for the table: a failure, a sign-in, a
	// factor turned on with the sessions that ended.
	p.signIn(a.email, "not the password")
	p.waitText("#msg", "Wrong email or password")
	p.signIn(a.email, pw)
	p.signedInAs(a.email)

	t.Run("case=one page, no tab bar of one tab", func(t *testing.T) {
		p.t = t
		if got := p.text("main h1"); got != "Security" {
			t.Errorf("the heading is %q", got)
		}
		if n := p.count("main .tabs, main [role=tablist], main nav"); n != 0 {
			t.Errorf("%d tab bars on a page of one tab", n)
		}
		if title := js[string](p, `document.title`); strings.Contains(title, "Personal data") {
			t.Errorf("title %q", title)
		}
	})
	t.Run("case=GAuth is explained where it first appears", func(t *testing.T) {
		p.t = t
		p.waitText("#totp-pill", "Off")
		where := js[string](p, `(function(){
			const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
			for (let n = w.nextNode(); n; n = w.nextNode()) {
				if (!n.textContent.includes('GAuth') || !n.parentElement.getClientRects().length) continue;
				const box = n.parentElement.closest('.row, .method, p, li') || n.parentElement;
				return box.innerText;
			}
			return '';
		})()`)
		if !strings.Contains(where, "authenticator app (Google Authenticator, Aegis, …)") {
			t.Errorf("the first GAuth on the page reads %q", where)
		}
	})
	t.Run("case=the sessions warning shows only while 2FA is off", func(t *testing.T) {
		p.t = t
		p.waitText("#tf-status", "Off")
		if !p.visible("#tf-attention") {
			t.Fatal("2FA is off and the page does not say that turning it on ends the other sessions")
		}
		// Turn email on through the API, as the page would: events follow.
		tok := p.sessionToken()
		r := apitest.Expect(t, env.Do(t, "POST", "/v1/me/enrollments", tok, map[string]any{"method": "email"}), 200)
		code := digits6.FindString(outboxTo(t, "email", a.email).Text)
		apitest.Expect(t, env.Do(t, "POST", "/v1/me/enrollments/"+r.Str("flow_id")+"/confirm", tok, map[string]any{"code": code}), 200)
		p.nav("/settings")
		p.waitText("#tf-status", "On")
		if p.visible("#tf-attention") {
			t.Fatal("2FA is on and the page still warns about turning it on")
		}
	})
	t.Run("case=the page fits a phone and a laptop, event dates on one line", func(t *testing.T) {
		p.t = t
		p.waitText("#events", "2FA method enabled")
		p.atWidths(func(name string, width int) {
			p.fits(width)
			p.oneLine(width, "#events td.when")
			if over := js[bool](p, `(function(){const e=document.querySelector('#events-card .table-wrap');return e.scrollWidth>e.clientWidth})()`); over {
				t.Errorf("at %d px the events table scrolls sideways", width)
			}
			p.shot("settings-" + name)
		})
	})
}
