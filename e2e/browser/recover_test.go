package browser_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels"
)

// The account recovery pages (docs/api.md "Pages"): /recover from "Forgot
// password?" to a new session, and the wait of a person who lost every
// second factor, cancelled from a notice's link on /recover/cancel.

var (
	recoverLink = regexp.MustCompile(`/recover\?flow=[a-z0-9]+`)
	cancelLink  = regexp.MustCompile(`/recover/cancel\?token=[A-Za-z0-9_-]+`)
)

// recoveryMail waits for the email with a recovery's code.
func recoveryMail(t *testing.T, email, flow string) channels.OutboxEntry {
	t.Helper()
	return env.LastOutbox(t, func(e channels.OutboxEntry) bool {
		return e.Channel == "email" && e.To == email && strings.Contains(e.Text, "/recover?flow="+flow)
	})
}

// askCode fills /recover's email step and returns the flow the page started.
func (p *page) askCode(email string) string {
	p.t.Helper()
	p.waitVisible("#email-form")
	p.typeIn("#email", email)
	p.click("#email-submit")
	p.waitVisible("#step-code")
	flow := js[string](p, `new URLSearchParams(location.search).get('flow') || ''`)
	if flow == "" {
		p.t.Fatalf("the address %s does not name the flow", p.url())
	}
	return flow
}

func (p *page) clearInput(css string) {
	p.t.Helper()
	js[bool](p, `(function(){document.querySelector(`+quote(css)+`).value='';return true})()`)
}

func TestRecoverFromForgotPasswordToANewSession(t *testing.T) {
	const newPW = "a brand new password"
	a := newAccount(t, "ui-recover")
	p := open(t)
	p.nav("/login")
	p.waitVisible("#forgot-password")
	p.click("#forgot-password")
	p.waitPath("/recover")
	p.waitVisible("#email-form")
	p.atWidths(func(name string, width int) {
		p.fits(width)
		p.shot("recover-email-" + name)
	})

	flow := p.askCode(a.email)
	p.waitText("#code-hint", a.email)
	p.waitText("#step-code [data-expires]", "Expires in")
	mail := recoveryMail(t, a.email, flow)
	code := digits6.FindString(mail.Text)
	p.atWidths(func(name string, width int) {
		p.fits(width)
		p.shot("recover-code-" + name)
	})

	t.Run("case=the email's link in another browser says where it works", func(t *testing.T) {
		o := open(t)
		o.nav(recoverLink.FindString(mail.Text))
		o.waitText("#h-ended", "not known in this browser")
		o.waitText("#ended-text", "browser where you asked for the code")
	})

	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	p.typeIn("#code", wrong) // six digits submit by themselves
	p.waitText("#msg", "4 attempts left")
	p.waitText("#step-code [data-attempts]", "4 attempts left")
	p.typeIn("#code", code)

	p.waitVisible("#step-password")
	p.typeIn("#new-password", newPW)
	p.typeIn("#new-password2", newPW+" typo")
	p.click("#password-submit")
	p.waitText("#msg", "not the same")
	p.clearInput("#new-password2")
	p.typeIn("#new-password2", newPW)
	p.shot("recover-password")
	p.click("#password-submit")
	p.signedInAs(a.email)

	apitest.ExpectError(t, env.Login(t, a.email, pw), 401, "invalid_credentials")
	apitest.Expect(t, env.Login(t, a.email, newPW), 200)
}

func TestRecoverWithLostFactorsWaitsAndTheNoticeLinkCancels(t *testing.T) {
	a := newAccount(t, "ui-recover-lost")
	a.withTOTP(t)
	p := open(t)
	p.nav("/recover")
	flow := p.askCode(a.email)
	mail := recoveryMail(t, a.email, flow)

	// The email's link, in another tab of the same browser: it holds the
	// flow secret's cookie.
	q := p.tab()
	q.nav(recoverLink.FindString(mail.Text))
	q.waitVisible("#step-code")
	q.waitText("#code-hint", "Enter the 6-digit code from the email")
	q.typeIn("#code", digits6.FindString(mail.Text))

	q.waitVisible("#step-choose")
	if got := js[[]string](q, `Array.from(document.querySelectorAll('#methods button.method')).map(b => b.dataset.method)`); !slices.Equal(got, []string{"totp"}) {
		t.Fatalf("methods %v", got)
	}
	q.click(`#methods [data-method="totp"]`)
	q.waitVisible("#factor-form")
	q.waitText("#factor-hint", "authenticator app")
	q.click(`#step-challenge [data-back="choose"]`)
	q.waitVisible("#step-choose")
	q.atWidths(func(name string, width int) {
		q.fits(width)
		q.shot("recover-second-factor-" + name)
	})

	q.click("#lost")
	q.waitVisible("#step-lost")
	q.waitText("#lost-what", "waits 3 days first")
	q.waitText("#lost-what", "two-step authentication is turned off and every bank card linked to the account is unlinked")
	q.click("#lost-go")

	q.waitVisible("#step-waiting")
	countdown := `/^(2 days 23:5\d:\d\d|3 days 00:00:00)$/.test(document.getElementById('wait-left').innerText)`
	q.wait("a countdown of 3 days", countdown)
	first := q.text("#wait-left")
	q.wait("the countdown to tick", countdown+` && document.getElementById('wait-left').innerText !== `+quote(first))
	for css, wants := range map[string][]string{
		"#wait-what": {"Two-step authentication is turned off", "Every bank card linked to the account is unlinked", "You set a new password on this page"},
		"#wait-told": {"Every channel of the account", "was told, and will be told again on", "cancels this recovery", "signed in to"},
	} {
		for _, want := range wants {
			q.waitText(css, want)
		}
	}
	if q.text("#wait-at") == "" || q.text("#wait-until") == "" {
		t.Fatal("the waiting page does not say when")
	}
	q.atWidths(func(name string, width int) {
		q.fits(width)
		q.oneLine(width, "#wait-left")
		q.shot("recover-waiting-" + name)
	})

	// The notice's cancel link, opened where the owner reads mail.
	notice := env.LastOutbox(t, func(e channels.OutboxEntry) bool {
		return e.Channel == "email" && e.To == a.email && cancelLink.MatchString(e.Text)
	})
	link := cancelLink.FindString(notice.Text)
	if link == "" {
		t.Fatalf("a notice without a cancel link: %+v", notice)
	}
	o := open(t)
	o.nav(link)
	o.waitVisible("#step-ask")
	o.waitText("#step-ask", "two-step authentication will be turned off")
	o.atWidths(func(name string, width int) {
		o.fits(width)
		o.shot("recover-cancel-" + name)
	})
	// Opening the link changed nothing: mail scanners open links.
	q.nav("/recover?flow=" + flow)
	q.waitVisible("#step-waiting")
	if !waiting(t, a.id, flow) {
		t.Fatal("opening the cancel link cancelled the recovery")
	}

	o.click("#cancel-go")
	o.waitVisible("#step-cancelled")
	o.waitText("#step-cancelled", "Nothing in your account was changed")
	o.shot("recover-cancelled")
	if waiting(t, a.id, flow) {
		t.Fatal("the recovery still waits")
	}
	q.nav("/recover?flow=" + flow)
	q.waitText("#h-ended", "This recovery was cancelled")
	q.shot("recover-ended")

	// Each link works once.
	o.nav(link)
	o.click("#cancel-go")
	o.waitVisible("#step-invalid")
	// A link without its token asks nothing.
	o.nav("/recover/cancel")
	o.waitVisible("#step-invalid")
}

// waiting says whether the account's recovery flow still waits.
func waiting(t *testing.T, userID, flow string) bool {
	t.Helper()
	ids, err := env.Store.WaitingRecoveries(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Contains(ids, flow)
}

func TestRecoverPagesSendTheCSPAndNoInlineScript(t *testing.T) {
	for _, path := range []string{"/recover", "/recover?flow=0123456789abcdef0123", "/recover/cancel?token=x"} {
		res, err := http.Get(env.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		html := readAll(res)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Security-Policy"), "default-src 'self'; script-src 'self';") {
			t.Fatalf("%s: %d, CSP %q", path, res.StatusCode, res.Header.Get("Content-Security-Policy"))
		}
		for _, m := range inlineScripts(html) {
			t.Errorf("%s has an inline script: %.120q", path, m)
		}
		for _, bad := range []*regexp.Regexp{
			regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=`),
			regexp.MustCompile(`(?i)(src|href|action)="(https?:)?//`),
		} {
			if m := bad.FindString(html); m != "" {
				t.Errorf("%s has %q", path, m)
			}
		}
	}
}

func TestRecoverWithTheTelegramSecondFactor(t *testing.T) {
	// Unique per run: a chat links to one account only.
	chat := 890000 + time.Now().UnixNano()%100000
	a := newAccount(t, "ui-recover-tg")
	a.withTelegram(t, chat)
	p := open(t)
	p.nav("/recover")
	flow := p.askCode(a.email)
	p.typeIn("#code", digits6.FindString(recoveryMail(t, a.email, flow).Text))
	p.waitVisible("#step-choose")
	p.click(`#methods [data-method="telegram"]`)
	p.waitVisible("#tg-number")
	n, err := strconv.Atoi(strings.TrimSpace(p.text("#tg-number")))
	if err != nil || n < 10 || n > 99 {
		t.Fatalf("the page shows %q, not the number", p.text("#tg-number"))
	}
	prompt := env.LastOutbox(t, func(e channels.OutboxEntry) bool {
		return e.Channel == "telegram" && e.ChatID == chat && len(e.Buttons) > 0
	})
	// The page's number pressed in the dev outbox, as in the bot's message.
	outbox := p.tab()
	outbox.nav("/dev/outbox")
	id := strconv.FormatInt(prompt.ID, 10)
	outbox.waitVisible("#m" + id)
	outbox.clickX(`//*[@id="m` + id + `"]//button[normalize-space(.)="` + strconv.Itoa(n) + `"]`)
	outbox.waitPath("/dev/outbox")

	// The page read the flow until it left second_factor.
	p.waitVisible("#step-password")
	p.typeIn("#new-password", "telegram said it was me")
	p.typeIn("#new-password2", "telegram said it was me")
	p.click("#password-submit")
	p.signedInAs(a.email)
}
