package api

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// The pages of docs/api.md "Pages": the login page and the "Security" tab of the
// settings, served from assets embedded in the binary. They are plain HTML
// and a little JavaScript that call the public API like any other client.

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
}

// pageRoutes mounts GET /, /login, /settings, /admin/codec (with a codec)
// and /assets/*.
func (s *Server) pageRoutes(r gin.IRoutes) {
	r.GET("/", s.pageRoot)
	r.GET("/login", s.pageLogin)
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
	if err := pageTmpl.ExecuteTemplate(c.Writer, name, pageData{Dev: s.Outbox != nil}); err != nil {
		logFrom(c).Error("render page", "page", name, "err", err)
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
