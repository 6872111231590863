// Package browser_test drives the login and settings pages in headless
// Chromium (chromedp) against the whole stack of apitest: an embedded
// Temporal, a worker, the store and the API. It needs a Chromium: Debian's
// chromium at /usr/bin/chromium, or AUTHFLOW_CHROMIUM; without one the
// browser tests skip and say why.
//
// On failure each test saves a screenshot of its page into artifacts/ at the
// repository root; AUTHFLOW_SCREENSHOTS=1 saves one at every checkpoint.
package browser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/security"
)

const pw = "correct horse battery"

var (
	// uiStandIn is the origin of a page standing in for the Temporal UI.
	uiStandIn string
	// env is the one stack shared by every test of this binary.
	env *apitest.Env
	// base is the stack's URL with localhost for 127.0.0.1: WebAuthn needs
	// the relying party's domain (AUTHFLOW_PUBLIC_URL) as the origin.
	base string
	// browser is the one Chromium; each test opens its own incognito-like
	// browser context in it.
	browser context.Context
	// noBrowser says why the browser tests skip; browserErr why they fail.
	noBrowser  string
	browserErr error
)

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	// Cheap password hashing: the pages, not argon2, are under test here.
	// A stand-in for the Temporal UI: a page on another port of localhost
	// (another origin, the same site), allowed to call the codec.
	uiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	uiStandIn = "http://localhost:" + strconv.Itoa(uiLn.Addr().(*net.TCPAddr).Port)
	go func() {
		_ = http.Serve(uiLn, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("<!doctype html><title>UI stand-in</title>"))
		}))
	}()
	e, err := apitest.Start(ctx, apitest.Options{Argon2: &security.Argon2Params{MemoryKiB: 8 * 1024, Time: 1, Threads: 1},
		EncryptPayloads: true, Configure: func(c *config.Config) { c.CodecOrigins = []string{uiStandIn} }})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start test stack:", err)
		os.Exit(1)
	}
	env = e
	base = strings.Replace(e.URL, "127.0.0.1", "localhost", 1)

	stop := func() {}
	if exe := chromiumPath(); exe == "" {
		noBrowser = "no Chromium found: install Debian's chromium (apt-get install chromium) or set AUTHFLOW_CHROMIUM to a Chrome or Chromium binary"
		fmt.Fprintln(os.Stderr, "browser tests skip:", noBrowser)
	} else {
		stop, browserErr = startBrowser(exe)
	}
	code := m.Run()
	stop()
	e.Close()
	os.Exit(code)
}

func chromiumPath() string {
	if p := os.Getenv("AUTHFLOW_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// startBrowser starts one headless Chromium with a fresh profile.
func startBrowser(exe string) (func(), error) {
	dir, err := os.MkdirTemp("", "authflow-chromium-")
	if err != nil {
		return func() {}, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(dir),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	stop := func() {
		cancelBrowser()
		cancelAlloc()
		_ = os.RemoveAll(dir)
	}
	// The first run starts the browser and ties it to its context: no
	// timeout on it, or the browser dies with the timer.
	if err := chromedp.Do(ctx); err != nil {
		stop()
		return func() {}, fmt.Errorf("start %s: %w", exe, err)
	}
	browser = ctx
	return stop, nil
}

// ---- a page under test ----

// page is one tab in its own browser context (own cookies), which records
// the page's script errors and CSP violations.
type page struct {
	// t is the running (sub)test, owner the test that opened the page and
	// runs its cleanups.
	t, owner *testing.T
	ctx      context.Context
	// authenticator is the tab's virtual passkey authenticator, if any.
	authenticator webauthn.AuthenticatorID

	mu       sync.Mutex
	problems []string
}

// open starts a tab for the test; it skips when there is no browser.
func open(t *testing.T) *page {
	t.Helper()
	if noBrowser != "" {
		t.Skip(noBrowser)
	}
	if browserErr != nil {
		t.Fatal(browserErr)
	}
	p := &page{t: t, owner: t}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext(), chromedp.WithListener(p.listen))
	p.ctx = ctx
	// Cleanups run last first: check the console, save the failure's
	// screenshot, then close the tab.
	t.Cleanup(cancel)
	t.Cleanup(func() {
		if t.Failed() {
			p.save("failure")
		}
	})
	t.Cleanup(p.checkConsole)
	p.start()
	return p
}

// tab opens another tab in the same browser context (same cookies).
func (p *page) tab() *page {
	q := &page{t: p.t, owner: p.owner}
	ctx, cancel := chromedp.NewContext(p.ctx, chromedp.WithListener(q.listen))
	q.ctx = ctx
	p.owner.Cleanup(cancel)
	p.owner.Cleanup(func() {
		if p.owner.Failed() {
			q.save("failure-tab2")
		}
	})
	p.owner.Cleanup(q.checkConsole)
	q.start()
	return q
}

// start opens the tab. The first run ties the tab to its context, so it
// runs on the page's context itself, not on one with a timeout.
func (p *page) start() {
	p.t.Helper()
	if err := chromedp.Do(p.ctx); err != nil {
		p.t.Fatalf("open a tab: %v", err)
	}
}

func (p *page) listen(ev any) {
	var problem string
	switch e := ev.(type) {
	case *runtime.EventExceptionThrown:
		problem = "uncaught exception: " + e.ExceptionDetails.Text
		if e.ExceptionDetails.Exception != nil {
			problem += " " + e.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		// Network errors are the API's expected 4xx answers; everything
		// else at error level (CSP violations, script errors) is a bug.
		if e.Entry.Level == log.EntryLevelError && e.Entry.Source != log.EntrySourceNetwork {
			problem = string(e.Entry.Source) + ": " + e.Entry.Text
		}
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			problem = "console.error"
		}
	}
	if problem != "" {
		p.mu.Lock()
		p.problems = append(p.problems, problem)
		p.mu.Unlock()
	}
}

// checkConsole fails the test when the page logged a script error or a
// CSP violation.
func (p *page) checkConsole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.problems {
		p.owner.Errorf("the page logged: %s", pr)
	}
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v (page %s, message %q)", err, p.url(), p.message())
	}
}

func js[T any](p *page, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (p *page) url() string {
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	u, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	return u
}

// message is the text of the login page's alert, for failure messages.
func (p *page) message() string {
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	m, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){const e=document.querySelector('#msg:not([hidden]), .alert-error:not([hidden])');return e?e.innerText:''})()`))
	return m
}

func (p *page) nav(path string) {
	p.t.Helper()
	p.do(chromedp.Navigate(base + path))
}

func (p *page) click(css string) {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
}

func (p *page) clickX(xpath string) {
	p.t.Helper()
	p.do(chromedp.Click(xpath, chromedp.NodeVisible))
}

func (p *page) typeIn(css, text string) {
	p.t.Helper()
	p.do(chromedp.SendKeys(chromedp.CSS(css), text, chromedp.NodeVisible))
}

// text is the visible text of the first match, "" when there is none.
func (p *page) text(css string) string {
	p.t.Helper()
	return js[string](p, `(function(){const e=document.querySelector(`+quote(css)+`);return e?e.innerText:''})()`)
}

func (p *page) visible(css string) bool {
	p.t.Helper()
	return js[bool](p, `(function(){const e=document.querySelector(`+quote(css)+`);return !!e&&e.getClientRects().length>0&&getComputedStyle(e).visibility!=='hidden'})()`)
}

func (p *page) count(css string) int {
	p.t.Helper()
	return js[int](p, `document.querySelectorAll(`+quote(css)+`).length`)
}

// wait polls a JavaScript condition until it holds.
func (p *page) wait(what, cond string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	expr := `!!(function(){try{return ` + cond + `}catch(e){return false}})()`
	for {
		// A navigation in progress (the page moving to /settings) makes an
		// evaluation fail with "Inspected target navigated": that is "not
		// yet", not a failure.
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waited 20s for %s (page %s, message %q, last error %v)", what, p.url(), p.message(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *page) waitVisible(css string) {
	p.t.Helper()
	p.wait(css+" to be visible", `(function(){const e=document.querySelector(`+quote(css)+`);return !!e&&e.getClientRects().length>0})()`)
}

func (p *page) waitText(css, substr string) {
	p.t.Helper()
	p.wait(fmt.Sprintf("%s to say %q (it says %q)", css, substr, p.text(css)),
		`(function(){const e=document.querySelector(`+quote(css)+`);return !!e&&e.innerText.includes(`+quote(substr)+`)})()`)
}

func (p *page) waitPath(path string) {
	p.t.Helper()
	p.wait("the page "+path, `location.pathname===`+quote(path)+` && document.readyState==='complete'`)
}

// save writes a screenshot of the whole page into artifacts/.
func (p *page) save(name string) {
	p.saveShot(name, chromedp.FullScreenshot(100))
}

func (p *page) saveShot(name string, shot chromedp.Action[[]byte]) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, shot)
	if err != nil {
		p.owner.Logf("screenshot %s: %v", name, err)
		return
	}
	dir := artifactsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.owner.Logf("screenshot %s: %v", name, err)
		return
	}
	clean := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(p.owner.Name()+"-"+name, "_")
	file := filepath.Join(dir, clean+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		p.owner.Logf("screenshot %s: %v", name, err)
		return
	}
	p.owner.Logf("screenshot: %s", file)
}

// shot saves a checkpoint screenshot when AUTHFLOW_SCREENSHOTS is set.
func (p *page) shot(name string) {
	if os.Getenv("AUTHFLOW_SCREENSHOTS") != "" {
		p.save(name)
	}
}

// shotMobile saves a checkpoint screenshot at a phone's width.
func (p *page) shotMobile(name string) {
	if os.Getenv("AUTHFLOW_SCREENSHOTS") == "" {
		return
	}
	p.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	p.saveShot(name, chromedp.CaptureScreenshot())
	p.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, document.body.scrollHeight)`))
	p.saveShot(name+"-end", chromedp.CaptureScreenshot())
	p.do(chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`), chromedp.ResetViewport())
}

// artifactsDir is artifacts/browser at the repository root (the directory
// with go.mod), or AUTHFLOW_ARTIFACTS.
func artifactsDir() string {
	if d := os.Getenv("AUTHFLOW_ARTIFACTS"); d != "" {
		return d
	}
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "artifacts", "browser")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, "artifacts")
		}
	}
}

// sessionToken is the page's HttpOnly session cookie, for API calls the
// test makes as the same session.
func (p *page) sessionToken() string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		p.t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "authflow_session" {
			if !c.HTTPOnly {
				p.t.Fatal("the session cookie is not HttpOnly")
			}
			return c.Value
		}
	}
	p.t.Fatal("no session cookie")
	return ""
}

// signIn fills the password step.
func (p *page) signIn(email, password string) {
	p.t.Helper()
	p.nav("/login")
	p.waitVisible("#password-form")
	p.typeIn("#email", email)
	p.typeIn("#password", password)
	p.click("#password-submit")
}

// signedInAs waits for the settings page of the account.
func (p *page) signedInAs(email string) {
	p.t.Helper()
	p.waitPath("/settings")
	p.waitText("#who", email)
}

// ---- accounts ----

type account struct {
	id, email string
}

func newAccount(t *testing.T, prefix string) account {
	t.Helper()
	email := apitest.UniqueEmail(prefix)
	return account{id: env.NewUser(t, email, pw), email: email}
}

var digits6 = regexp.MustCompile(`\b\d{6}\b`)

// outboxTo returns the newest message of a channel to a recipient.
func outboxTo(t *testing.T, channel, to string) channels.OutboxEntry {
	t.Helper()
	return env.LastOutbox(t, func(e channels.OutboxEntry) bool { return e.Channel == channel && e.To == to })
}

// uniqueNumber is prefix, n random digits, then suffix: a number no other
// run of the test has texted (send limits count per number), masked the
// same way every time.
func uniqueNumber(prefix string, n int, suffix string) string {
	d := security.RandomDigits(n)
	if d[0] == '0' {
		d = "1" + d[1:]
	}
	return prefix + d + suffix
}

func sentTo(channel, to string) int {
	n := 0
	for _, e := range env.Outbox.Entries() {
		if e.Channel == channel && e.To == to {
			n++
		}
	}
	return n
}

// ---- pages without a browser ----

func TestPagesHeadersAndRedirects(t *testing.T) {
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(t *testing.T, path, cookie string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", env.URL+path, nil)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "authflow_session", Value: cookie})
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	wantCSP := "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

	t.Run("case=the pages send the CSP, no-store and deny framing", func(t *testing.T) {
		for _, path := range []string{"/login", "/assets/login.js"} {
			res := get(t, path, "")
			if res.StatusCode != 200 {
				t.Fatalf("%s: %d", path, res.StatusCode)
			}
			if got := res.Header.Get("Content-Security-Policy"); got != wantCSP {
				t.Errorf("%s: CSP %q", path, got)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("%s: Cache-Control %q", path, got)
			}
			if got := res.Header.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("%s: X-Frame-Options %q", path, got)
			}
		}
	})
	t.Run("case=without a session / and /settings go to /login", func(t *testing.T) {
		for _, path := range []string{"/", "/settings"} {
			res := get(t, path, "")
			if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/login" {
				t.Errorf("%s: %d %q", path, res.StatusCode, res.Header.Get("Location"))
			}
		}
		if res := get(t, "/", "not-a-session"); res.Header.Get("Location") != "/login" {
			t.Errorf("a bad cookie went to %q", res.Header.Get("Location"))
		}
	})
	t.Run("case=with a session / and /login go to /settings", func(t *testing.T) {
		a := newAccount(t, "redirect")
		tok := env.SessionToken(t, a.email, pw)
		for _, path := range []string{"/", "/login"} {
			res := get(t, path, tok)
			if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/settings" {
				t.Errorf("%s: %d %q", path, res.StatusCode, res.Header.Get("Location"))
			}
		}
		if res := get(t, "/settings", tok); res.StatusCode != 200 {
			t.Errorf("/settings: %d", res.StatusCode)
		}
	})
	t.Run("case=assets have their types and nothing else is served", func(t *testing.T) {
		for path, typ := range map[string]string{"/assets/app.css": "text/css", "/assets/settings.js": "text/javascript", "/assets/logo.svg": "image/svg+xml"} {
			res := get(t, path, "")
			if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), typ) {
				t.Errorf("%s: %d %q", path, res.StatusCode, res.Header.Get("Content-Type"))
			}
		}
		for _, path := range []string{"/assets/nope.js", "/assets/login.html", "/assets/..%2flogin.html", "/assets/"} {
			if res := get(t, path, ""); res.StatusCode != 404 {
				t.Errorf("%s: %d", path, res.StatusCode)
			}
		}
	})
	t.Run("case=the pages load nothing from another origin and have no inline script or style", func(t *testing.T) {
		for _, path := range []string{"/login", "/settings"} {
			req, _ := http.NewRequest("GET", env.URL+path, nil)
			if path == "/settings" {
				a := newAccount(t, "inline")
				req.AddCookie(&http.Cookie{Name: "authflow_session", Value: env.SessionToken(t, a.email, pw)})
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			_, _ = fmt.Fprint(&b, readAll(res))
			html := b.String()
			for _, m := range inlineScripts(html) {
				t.Errorf("%s has an inline script: %.120q", path, m)
			}
			for _, bad := range []*regexp.Regexp{
				regexp.MustCompile(`(?i)<style`),
				regexp.MustCompile(`(?i)\sstyle=`),
				regexp.MustCompile(`(?i)\son[a-z]+=`),
				regexp.MustCompile(`(?i)(src|href)="(https?:)?//`),
			} {
				if m := bad.FindString(html); m != "" {
					t.Errorf("%s has %q", path, m)
				}
			}
		}
	})
}

// inlineScripts are the script elements of a page with content of their
// own: inline script, which the CSP forbids. The page's messages are not
// one: a JSON data block (type application/json), which no browser runs.
func inlineScripts(html string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?i)<script(\s[^>]*)?>([^<]*)</script>`).FindAllStringSubmatch(html, -1) {
		if m[2] != "" && m[1] != ` type="application/json" id="i18n"` {
			out = append(out, m[0])
		}
	}
	return out
}

func readAll(res *http.Response) string {
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}
