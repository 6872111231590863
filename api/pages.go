package api

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authflow/authflow/errkind"
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

// pageTmpl holds the pages (web/*.html) and the <head> they share
// (web/head.tmpl), which each page fills with head "Title" "script.js".
var pageTmpl = template.Must(template.New("pages").Funcs(template.FuncMap{
	"head": func(title, script string) pageHead { return pageHead{Title: title, Script: script} },
}).ParseFS(webFS, "web/*.html", "web/*.tmpl"))

// pageHead is what the shared <head> needs from a page.
type pageHead struct{ Title, Script string }

// assetTypes are the only files /assets serves; anything else is 404.
var assetTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

type pageData struct {
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
	r.GET("/recover", func(c *gin.Context) { s.renderPage(c, "recover.html") })
	r.GET("/recover/cancel", func(c *gin.Context) { s.renderPage(c, "recover-cancel.html") })
	r.GET("/settings", s.pageSettings)
	if s.Codec != nil {
		r.GET("/admin/codec", func(c *gin.Context) { s.renderPage(c, "admin-codec.html") })
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
	s.renderPage(c, "login.html")
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
	s.renderPage(c, "settings.html")
}

func (s *Server) renderPage(c *gin.Context, name string) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusOK)
	data := pageData{Dev: s.Outbox != nil, RecoveryWait: durationWords(s.Cfg.RecoveryDelay)}
	if err := pageTmpl.ExecuteTemplate(c.Writer, name, data); err != nil {
		logFrom(c).Error("render page", "page", name, "err", err)
	}
}

// durationWords says a duration as a person would: "3 days", "36 hours",
// "1 hour", "90 minutes" (the largest unit that divides it; seconds are
// dropped).
func durationWords(d time.Duration) string {
	unit := func(n int64, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + many
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day", "days")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour", "hours")
	default:
		return unit(max(int64(d/time.Minute), 1), "minute", "minutes")
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
