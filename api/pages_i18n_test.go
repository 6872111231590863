package api

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/i18n"
)

// pagesOnly is a server with the pages and no store: enough for the pages
// a browser without a session gets.
func pagesOnly(def string) http.Handler {
	gin.SetMode(gin.TestMode)
	s := &Server{Cfg: config.Config{DefaultLocale: def, RecoveryDelay: 72 * time.Hour}}
	r := gin.New()
	s.pageRoutes(r)
	return r
}

// getPage is path's page for a browser sending acceptLanguage and, if not
// "", the language switch's cookie.
func getPage(t *testing.T, h http.Handler, path, acceptLanguage, cookie string) (string, *httptest.ResponseRecorder) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	if cookie != "" {
		req.Header.Set("Cookie", langCookie+"="+cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Fatalf("GET %s: %d", path, w.Code)
	}
	return w.Body.String(), w
}

var (
	htmlLang   = regexp.MustCompile(`<html lang="([^"]*)">`)
	i18nScript = regexp.MustCompile(`(?s)<script type="application/json" id="i18n">(.*?)</script>`)
)

// dictionary is the page's JSON messages, read as a browser's JSON.parse
// of the script element's text would.
func dictionary(t *testing.T, body string) map[string]string {
	t.Helper()
	m := i18nScript.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no #i18n script in the page")
	}
	var d map[string]string
	if err := json.Unmarshal([]byte(m[1]), &d); err != nil {
		t.Fatalf("#i18n is not JSON: %v: %.200s", err, m[1])
	}
	return d
}

func TestPagesSpeakThePagesLanguage(t *testing.T) {
	h := pagesOnly(i18n.English)
	pages := []string{"/login", "/recover", "/recover/cancel"}

	t.Run("case=Accept-Language uk gives Ukrainian pages", func(t *testing.T) {
		for _, p := range pages {
			body, w := getPage(t, h, p, "uk-UA,uk;q=0.9,en;q=0.5", "")
			if got := htmlLang.FindStringSubmatch(body); got == nil || got[1] != "uk" {
				t.Errorf("%s: html lang %v", p, got)
			}
			if w.Header().Get("Content-Language") != "uk" {
				t.Errorf("%s: Content-Language %q", p, w.Header().Get("Content-Language"))
			}
			if d := dictionary(t, body); d["page.js.expired"] != i18n.T(i18n.Ukrainian, "page.js.expired", nil) {
				t.Errorf("%s: the scripts' messages are not Ukrainian: %q", p, d["page.js.expired"])
			}
		}
		body, _ := getPage(t, h, "/login", "uk", "")
		for _, want := range []string{"<title>Вхід · authflow</title>", "Забули пароль?", "Увійти за допомогою ключа доступу"} {
			if !strings.Contains(body, want) {
				t.Errorf("the Ukrainian login page lacks %q", want)
			}
		}
		if strings.Contains(body, "Forgot password?") {
			t.Error("the Ukrainian login page has English text")
		}
		body, _ = getPage(t, h, "/recover", "uk", "")
		if !strings.Contains(body, `<span class="wait-words">3 дні</span>`) {
			t.Error("the Ukrainian recovery page does not say the wait in Ukrainian")
		}
	})

	t.Run("case=no Accept-Language gives AUTHFLOW_DEFAULT_LOCALE", func(t *testing.T) {
		body, _ := getPage(t, pagesOnly(i18n.Ukrainian), "/login", "", "")
		if got := htmlLang.FindStringSubmatch(body); got[1] != "uk" {
			t.Errorf("html lang %q", got[1])
		}
		body, _ = getPage(t, h, "/login", "fr-FR", "")
		if got := htmlLang.FindStringSubmatch(body); got[1] != "en" || !strings.Contains(body, "Forgot password?") {
			t.Errorf("html lang %q", got[1])
		}
	})

	t.Run("case=the switch's cookie beats Accept-Language", func(t *testing.T) {
		body, _ := getPage(t, h, "/login", "uk-UA,uk", "en")
		if got := htmlLang.FindStringSubmatch(body); got[1] != "en" || !strings.Contains(body, "Forgot password?") {
			t.Errorf("cookie en, browser uk: html lang %q", got[1])
		}
		body, _ = getPage(t, h, "/recover", "en-US", "uk")
		if got := htmlLang.FindStringSubmatch(body); got[1] != "uk" {
			t.Errorf("cookie uk, browser en: html lang %q", got[1])
		}
		// The switch shows which language is on.
		if !strings.Contains(body, `data-lang="uk" lang="uk" title="Українська" aria-pressed="true"`) {
			t.Error("the switch does not press Ukrainian")
		}
	})

	t.Run("case=a bad cookie is ignored", func(t *testing.T) {
		for _, bad := range []string{"de", "UK", "uk-UA", "", "en;uk", `uk"><script>alert(1)</script>`} {
			req := httptest.NewRequest("GET", "/login", nil)
			req.Header.Set("Accept-Language", "uk")
			req.AddCookie(&http.Cookie{Name: langCookie, Value: strings.NewReplacer(`"`, "", ";", "").Replace(bad)})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if got := htmlLang.FindStringSubmatch(w.Body.String()); got == nil || got[1] != "uk" {
				t.Errorf("cookie %q: html lang %v, want the browser's uk", bad, got)
			}
		}
	})

	t.Run("case=an attacker's cookie or header cannot inject markup", func(t *testing.T) {
		evil := `</script><script>alert(1)</script><html lang="x">`
		req := httptest.NewRequest("GET", "/login", nil)
		req.Header.Set("Accept-Language", evil)
		req.Header.Set("Cookie", langCookie+"="+evil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		body := w.Body.String()
		if strings.Contains(body, "alert(1)") || strings.Count(body, "<html") != 1 || htmlLang.FindStringSubmatch(body)[1] != "en" {
			t.Fatalf("the page took the attacker's text: %.300s", body)
		}
	})

}

// The dictionary is escaped: a message with markup in it (none has any;
// this checks html/template does its part for the day one does) stays
// inside the script element and parses back to itself.
func TestPagesDictionaryIsEscaped(t *testing.T) {
	body, _ := getPage(t, pagesOnly(i18n.English), "/login", "uk", "")
	raw := i18nScript.FindStringSubmatch(body)[1]
	if strings.ContainsAny(raw, "<>") {
		t.Errorf("raw < or > inside the script element: %.200s", raw)
	}
	d := dictionary(t, body)
	want := i18n.Page(i18n.Ukrainian, i18n.PageScriptPrefix)
	if len(d) != len(want) {
		t.Errorf("%d messages, want the %d page.js ones", len(d), len(want))
	}
	for id, s := range want {
		if d[id] != s {
			t.Errorf("%s: %q, want %q", id, d[id], s)
		}
	}
	var buf strings.Builder
	if err := pageTmpls[i18n.English].ExecuteTemplate(&buf, "head", pageHead{
		Title: "x", Script: "login.js", Lang: "en",
		Messages: map[string]string{"page.js.evil": `</script><script>alert(1)</script>`},
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "</script><script>") {
		t.Fatalf("a message closed the script element: %s", buf.String())
	}
	if got := dictionary(t, buf.String())["page.js.evil"]; got != `</script><script>alert(1)</script>` {
		t.Fatalf("the message did not survive: %q", got)
	}
}

// Every page renders every message it names, in both languages: an id
// missing from the locale files would show as itself.
func TestPagesNameOnlyMessagesThatExist(t *testing.T) {
	for _, lang := range i18n.Supported {
		for _, name := range []string{"login.html", "recover.html", "recover-cancel.html", "settings.html", "admin-codec.html"} {
			var buf strings.Builder
			data := pageData{Lang: lang, Messages: map[string]string{}, Dev: true, RecoveryWait: durationWords(lang, time.Hour)}
			if err := pageTmpls[lang].ExecuteTemplate(&buf, name, data); err != nil {
				t.Fatalf("%s %s: %v", lang, name, err)
			}
			if m := regexp.MustCompile(`page\.[a-z_.0-9]+`).FindString(html.UnescapeString(buf.String())); m != "" {
				t.Errorf("%s %s: %q is not a message", lang, name, m)
			}
		}
	}
}

// The scripts show no text of their own: every word a person reads comes
// from the page's messages through AF.t (common.js), so a Ukrainian page
// has no English in it. This fails for a quoted literal that reads as
// English words or a capitalized word, unless it is one of the names below
// (the same in every language) or code.
func TestPageScriptsHaveNoEnglishOfTheirOwn(t *testing.T) {
	allowed := []string{
		// Names, the same in every language.
		"Telegram", "GAuth", "SMS", "WebAuthn", "Visa", "Mastercard", "American Express", "Maestro",
		"Edge", "Opera", "Headless Chrome", "Chrome", "Firefox", "Safari",
		"Windows", "iOS", "macOS", "Android", "ChromeOS", "Linux",
		// Code: API fields, headers, DOM and WebAuthn names.
		"Accept", "Content-Type", "X-CSRF-Token", "Retry-After", "NotAllowedError", "InvalidStateError",
		"NotSupportedError", "SecurityError", "HTTP ", "#methods .method, #phone-methods .method",
		"#methods .method", "use strict", "no conditional mediation", "Bearer ",
	}
	// Class lists ('btn btn-sm btn-danger', 'alert alert-' + kind) are
	// code too: every word a class of app.css, or the start of one.
	css, err := os.ReadFile("web/assets/app.css")
	if err != nil {
		t.Fatal(err)
	}
	classes := map[string]bool{}
	for _, m := range regexp.MustCompile(`\.([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(css), -1) {
		classes[m[1]] = true
	}
	isClass := func(w string) bool {
		if classes[w] {
			return true
		}
		for c := range classes {
			if strings.HasSuffix(w, "-") && strings.HasPrefix(c, w) {
				return true
			}
		}
		return false
	}
	classList := func(s string) bool {
		words := strings.Fields(s)
		return len(words) > 0 && !slices.ContainsFunc(words, func(w string) bool { return !isClass(w) })
	}
	literal := regexp.MustCompile(`'((?:[^'\\\n]|\\.)*)'`)
	english := regexp.MustCompile(`[A-Za-z]{2,} [A-Za-z]{2,}|^[A-Z][a-z]+|[a-z]{3,}[.!?…]$`)
	files, err := filepath.Glob("web/assets/*.js")
	if err != nil || len(files) < 5 {
		t.Fatalf("assets: %v %v", files, err)
	}
	for _, f := range files {
		if filepath.Base(f) == "admin-codec.js" {
			continue // an operator's page, in English only (docs/design.md "Languages")
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue
			}
			for _, m := range literal.FindAllStringSubmatch(line, -1) {
				s := m[1]
				if strings.HasPrefix(s, "page.") || slices.Contains(allowed, s) || classList(s) || !english.MatchString(s) {
					continue
				}
				t.Errorf("%s:%d: text of its own, not a message: '%s'", f, n+1, s)
			}
		}
	}

	t.Run("case=every message a script names exists", func(t *testing.T) {
		id := regexp.MustCompile(`\b(t|tn|known)\('(page\.[a-z_.0-9]+)'`)
		en := i18n.Page(i18n.English, i18n.PagePrefix)
		for _, f := range files {
			b, _ := os.ReadFile(f)
			for _, m := range id.FindAllStringSubmatch(string(b), -1) {
				name := m[2]
				if m[1] == "tn" {
					name += ".other"
				}
				if strings.HasSuffix(name, ".") {
					continue // a prefix completed at run time (an error code, an event type)
				}
				if _, ok := en[name]; !ok {
					t.Errorf("%s: no message %s", f, name)
				}
			}
		}
	})
}
