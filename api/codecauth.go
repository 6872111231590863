package api

import (
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/security"
)

// The Temporal UI calls the payload codec from the operator's browser, and
// the stock UI cannot send the admin token. So an operator signs the
// browser in once at /admin/codec with the admin token; the answer is a
// cookie for /codec only (HttpOnly, SameSite=Strict), which the UI sends
// when its codec setting includes credentials (authflow dev configures its
// embedded UI so).

const (
	codecCookieName = "authflow_codec"
	codecCookieTTL  = 12 * time.Hour
	codecPath       = "/codec"
)

// codecCookieValue is what the cookie must hold.
func (s *Server) codecCookieValue() string {
	return security.CodecCookie(s.Cfg.SecretKey, s.Cfg.AdminToken)
}

// codecSignIn answers POST /v1/admin/codec-session (admin token checked
// before): the browser gets the codec cookie.
func (s *Server) codecSignIn(c *gin.Context) {
	s.setCodecCookie(c, s.codecCookieValue(), int(codecCookieTTL.Seconds()))
}

// codecSignOut answers DELETE /v1/admin/codec-session: the cookie is gone.
func (s *Server) codecSignOut(c *gin.Context) {
	s.setCodecCookie(c, "", -1)
}

// setCodecCookie sets (maxAge > 0) or removes (maxAge < 0) the codec
// cookie and answers 204.
func (s *Server) setCodecCookie(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: codecCookieName, Value: value, Path: codecPath, MaxAge: maxAge,
		HttpOnly: true, Secure: s.Cfg.Secure(), SameSite: http.SameSiteStrictMode})
	c.Status(http.StatusNoContent)
}

// requireCodecAuth lets the codec be called with the admin token, as the
// CLI does, or with the cookie of a signed-in browser.
func (s *Server) requireCodecAuth(c *gin.Context) {
	if s.adminBearer(c) {
		c.Next()
		return
	}
	if v, err := c.Cookie(codecCookieName); err == nil && subtle.ConstantTimeCompare([]byte(v), []byte(s.codecCookieValue())) == 1 {
		c.Next()
		return
	}
	fail(c, newErr(errkind.Unauthorized, "the codec needs Authorization: Bearer <AUTHFLOW_ADMIN_TOKEN>, or a browser signed in at /admin/codec"))
}
