package api

import (
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/i18n"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// The pages of docs/api.md "Pages": the login page, the account recovery
// pages and the "Security" tab of the settings, served from assets embedded
// in the binary. They are plain HTML and a little JavaScript that call the
// public API like any other client.

//go:embed web
var webFS embed.FS

// pageCSP allows nothing from another origin and no inline script or style:
// everything the pages need is under /assets. img-src allows data: for the
// TOTP QR code, which the enrollment answer carries as base64 PNG.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// pageTmpls holds, for each language, the pages (web/*.html) and what
// they share (web/head.tmpl): the <head>, which each page fills with
// head . "page.<page>.title" "script.js", and the language switch. In
// them, t "page.id" ["Field" value]... is a message of that language
// (i18n/locales), so a page is parsed once per language.
var pageTmpls = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, lang := range i18n.Supported {
		out[lang] = template.Must(template.New("pages").Funcs(template.FuncMap{
			"head": func(d pageData, titleID, script string) pageHead {
				return pageHead{Title: i18n.T(lang, titleID, nil), Script: script, Lang: lang, Messages: d.Messages}
			},
			"t": func(id string, kv ...any) string {
				var data map[string]any
				for i := 0; i+1 < len(kv); i += 2 {
					if data == nil {
						data = map[string]any{}
					}
					data[fmt.Sprint(kv[i])] = kv[i+1]
				}
				return i18n.T(lang, id, data)
			},
		}).ParseFS(webFS, "web/*.html", "web/*.tmpl"))
	}
	return out
}()

// pageHead is what the shared <head> needs from a page: its title, its
// script, its language and the messages its scripts show (the page.js.*
// ones), which the head puts into the page as JSON for common.js.
type pageHead struct {
	Title, Script, Lang string
	Messages            map[string]string
}

// langCookie keeps the language picked with the pages' switch (docs/design.md
// "Languages"): it beats the stored and the browser's language on the
// pages, and is ignored unless it names a language authflow speaks.
const langCookie = "authflow_lang"

// assetTypes are the only files /assets serves; anything else is 404.
var assetTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

type pageData struct {
	// Lang is the page's language; Messages its scripts' messages in it.
	Lang     string
	Messages map[string]string
	// SignedIn says the request carries a session: the language switch
	// then stores the choice for emails, SMS and calls too.
	SignedIn bool
	// Dev links the dev outbox and offers the dev Telegram helper.
	Dev bool
	// RecoveryWait is AUTHFLOW_RECOVERY_DELAY in words ("3 days"), for the
	// recovery page to say how long a person without factors waits.
	RecoveryWait string
}

// pageRoutes mounts GET /, /login, /recover, /recover/cancel, /settings,
// /admin/codec (with a codec) and /assets/*.
func (s *Server) pageRoutes(r gin.IRoutes) {
	r.GET("/", s.pageRoot)
	r.GET("/login", s.pageLogin)
	// The recovery pages are served with or without a session: a notice's
	// cancel link must work in a browser signed in to the account, and
	// the flow's own state says what /recover shows.
	r.GET("/recover", func(c *gin.Context) { s.renderPage(c, "recover.html", s.sessionUser(c)) })
	r.GET("/recover/cancel", func(c *gin.Context) { s.renderPage(c, "recover-cancel.html", s.sessionUser(c)) })
	r.GET("/settings", s.pageSettings)
	if s.Codec != nil {
		r.GET("/admin/codec", func(c *gin.Context) { s.renderPage(c, "admin-codec.html", "") })
	}
	r.GET("/assets/:name", pageAsset)
}

// hasSession says whether the request carries a live session cookie.
func (s *Server) hasSession(c *gin.Context) bool {
	_, _, ok := s.cookieSession(c)
	return ok
}

// cookieSession is the live session of the request's session cookie and
// its token.
func (s *Server) cookieSession(c *gin.Context) (store.Session, string, bool) {
	tok, err := c.Cookie(sessionCookie)
	if err != nil || tok == "" {
		return store.Session{}, "", false
	}
	sess, err := s.Store.SessionByTokenHash(c.Request.Context(), security.HashToken(tok), s.now())
	return sess, tok, err == nil
}

// sessionUser is the user of the request's live session, "" without one.
func (s *Server) sessionUser(c *gin.Context) string {
	sess, _, ok := s.cookieSession(c)
	if !ok {
		return ""
	}
	return sess.UserID
}

// pageLang is the language of a page (docs/design.md "Languages"): the
// switch's cookie, else the signed-in user's stored language (userID ""
// for none), else Accept-Language, else AUTHFLOW_DEFAULT_LOCALE.
func (s *Server) pageLang(c *gin.Context, userID string) string {
	if v, err := c.Cookie(langCookie); err == nil && i18n.Valid(v) {
		return v
	}
	stored := ""
	if userID != "" {
		// A store error leaves the browser's language: the page still works.
		stored, _ = s.Store.UserLocale(c.Request.Context(), userID)
	}
	return i18n.Pick(stored, c.GetHeader("Accept-Language"), s.Cfg.DefaultLocale)
}

func (s *Server) pageRoot(c *gin.Context) {
	if s.hasSession(c) {
		c.Redirect(http.StatusFound, "/settings")
		return
	}
	c.Redirect(http.StatusFound, "/login")
}

func (s *Server) pageLogin(c *gin.Context) {
	if s.hasSession(c) {
		c.Redirect(http.StatusFound, "/settings")
		return
	}
	s.renderPage(c, "login.html", "")
}

func (s *Server) pageSettings(c *gin.Context) {
	sess, tok, ok := s.cookieSession(c)
	if !ok {
		c.Redirect(http.StatusFound, "/login")
		return
	}
	// The page sends its session's CSRF token, HMAC(key, session token);
	// a browser signed in before the token was bound to the session holds
	// a random one, and would be refused every change, sign-out included.
	s.setCSRFCookie(c, tok, int(sess.ExpiresAt.Sub(s.now()).Seconds()))
	s.renderPage(c, "settings.html", sess.UserID)
}

// renderPage renders page name for the user of the request's session
// (userID "" for none) in the page's language.
func (s *Server) renderPage(c *gin.Context, name, userID string) {
	lang := s.pageLang(c, userID)
	if name == "admin-codec.html" {
		// An operator's page, in English only (docs/design.md "Languages").
		lang = i18n.English
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", lang)
	h.Set("Vary", "Accept-Language, Cookie")
	c.Status(http.StatusOK)
	data := pageData{
		Lang: lang, Messages: i18n.Page(lang, i18n.PageScriptPrefix), SignedIn: userID != "",
		Dev: s.Outbox != nil, RecoveryWait: durationWords(lang, s.Cfg.RecoveryDelay),
	}
	if err := pageTmpls[lang].ExecuteTemplate(c.Writer, name, data); err != nil {
		logFrom(c).Error("render page", "page", name, "err", err)
	}
}

// durationWords says a duration as a person would, in lang: "3 days",
// "36 hours", "1 hour", "90 minutes" (the largest unit that divides it;
// seconds are dropped).
func durationWords(lang string, d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return i18n.TN(lang, "page.duration.days", int(d/(24*time.Hour)), nil)
	case d >= time.Hour && d%time.Hour == 0:
		return i18n.TN(lang, "page.duration.hours", int(d/time.Hour), nil)
	default:
		return i18n.TN(lang, "page.duration.minutes", max(int(d/time.Minute), 1), nil)
	}
}

func pageAsset(c *gin.Context) {
	name := c.Param("name")
	typ, ok := assetTypes[path.Ext(name)]
	if !ok || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		fail(c, newErr(errkind.NotFound, "no such asset"))
		return
	}
	b, err := fs.ReadFile(webFS, "web/assets/"+name)
	if err != nil {
		fail(c, newErr(errkind.NotFound, "no such asset"))
		return
	}
	c.Header("Content-Security-Policy", pageCSP)
	c.Data(http.StatusOK, typ, b)
}
