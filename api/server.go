// Package api is authflow's HTTP face: the gin router of docs/api.md, its error
// mapping (errors.go), session and CSRF middleware, the Telegram webhook and
// the dev outbox. It talks to workflows only through the Temporal client and
// the contract in package workflows.
package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/metrics"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// Server holds the API's dependencies.
type Server struct {
	Cfg      config.Config
	Store    store.Store
	Temporal client.Client
	Hasher   *security.Hasher
	Sealer   *security.Sealer
	// Outbox is mounted at /dev/outbox when set (dev mode without real
	// channels only).
	Outbox *channels.Outbox
	// Bot answers Telegram button presses and /start messages.
	Bot channels.TelegramBot
	Log *slog.Logger
	// SessionTTL is how long a session lives; the worker issues sessions with
	// the same value.
	SessionTTL time.Duration
	// Now is the clock (tests move it).
	Now func() time.Time
	// Metrics, when set, is served at /metrics and records every request.
	Metrics *metrics.Metrics
	// Codec, when set, is served at /codec/{decode,encode} for the admin
	// token (the Temporal UI's codec server); CodecOrigins may call it from
	// a browser (CORS).
	Codec        converter.PayloadCodec
	CodecOrigins []string
	// Limits throttle wrong current passwords like the login's (zero:
	// rules.DefaultLimits); the worker must use the same.
	Limits rules.Limits
}

// Cookie names of docs/api.md.
const (
	sessionCookie = "authflow_session"
	csrfCookie    = "authflow_csrf"
	csrfHeader    = "X-CSRF-Token"
	maxBody       = 64 << 10
	// recentAuth is how fresh a login must be to change factors (ASVS 5.0
	// 7.5.1).
	recentAuth = 15 * time.Minute
)

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Handler returns the router.
func (s *Server) Handler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	// Per-IP throttling must see the real peer, not a forged X-Forwarded-For.
	_ = r.SetTrustedProxies(nil)
	r.Use(gin.Recovery(), s.observe, s.logRequests, limitBody, securityHeaders(s.Cfg.Secure()), s.refuseCrossSite(publicOrigin(s.Cfg.PublicURL)))
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) { fail(c, newErr(errkind.NotFound, "no such endpoint")) })
	r.NoMethod(func(c *gin.Context) { fail(c, newErr(errkind.MethodNotAllowed, "method not allowed")) })

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	s.pageRoutes(r)
	s.mountOps(r)

	v1 := r.Group("/v1")
	v1.GET("/openapi.json", serveOpenAPI)
	v1.POST("/login", s.login)
	v1.POST("/login/passkey", s.loginPasskey)
	v1.GET("/login/:flow_id", s.loginState)
	v1.POST("/login/:flow_id/challenge", s.loginChallenge)
	v1.POST("/login/:flow_id/verify", s.loginVerify)
	v1.POST("/telegram/webhook", s.telegramWebhook)
	v1.POST("/recovery", s.startRecovery)
	v1.POST("/recovery/cancel", s.cancelRecoveryByLink)
	v1.GET("/recovery/:flow_id", s.recoveryState)
	v1.POST("/recovery/:flow_id/verify", s.recoveryVerify)
	v1.POST("/recovery/:flow_id/challenge", s.recoveryChallenge)
	v1.POST("/recovery/:flow_id/lost-factors", s.recoveryLostFactors)
	v1.POST("/recovery/:flow_id/password", s.recoveryPassword)

	authed := v1.Group("", s.requireSession)
	authed.POST("/logout", s.logout)
	me := authed.Group("/me")
	me.GET("", s.getMe)
	me.GET("/sessions", s.listSessions)
	me.DELETE("/sessions", s.endOtherSessions)
	me.DELETE("/sessions/:id", s.endSession)
	me.POST("/password", s.changePassword)
	me.GET("/events", s.listEvents)
	me.PUT("/locale", s.setLocale)
	me.POST("/enrollments", s.startEnrollment)
	me.GET("/enrollments/:flow_id", s.enrollmentState)
	me.POST("/enrollments/:flow_id/confirm", s.confirmEnrollment)
	me.DELETE("/factors/totp", s.disableTOTP)
	me.DELETE("/factors/email", s.disableEmail)
	me.PUT("/factors/telegram", s.setTelegramFactor)
	me.DELETE("/telegram-accounts/:id", s.unlinkTelegram)
	me.PATCH("/webauthn/:id", s.patchDevice)
	me.DELETE("/webauthn/:id", s.deleteDevice)
	me.DELETE("/phones/:id", s.deletePhone)
	me.POST("/recovery-codes", s.newRecoveryCodes)

	admin := v1.Group("/admin", s.requireAdmin)
	admin.POST("/users", s.adminCreateUser)
	admin.GET("/users", s.adminListUsers)
	admin.GET("/users/:id", s.adminGetUser)
	admin.POST("/users/:id/bank-cards", s.adminAddCard)
	admin.POST("/users/:id/phones", s.adminAddPhone)
	admin.POST("/users/:id/unlock", s.adminUnlock)
	admin.GET("/flows", s.adminFlows)
	admin.POST("/flows/:flow_id/cancel", s.adminCancelFlow)
	s.webhookRoutes(admin)
	if s.Codec != nil {
		admin.POST("/codec-session", s.codecSignIn)
		v1.DELETE("/admin/codec-session", s.codecSignOut)
	}

	if s.Outbox != nil {
		r.GET("/dev/outbox.json", s.outboxJSON)
		r.GET("/dev/outbox", s.outboxPage)
		r.POST("/dev/outbox/telegram", s.outboxTelegramClick)
		s.mountDevTelegram(r)
	}
	return r
}

func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	if c.Writer.Status() >= 500 || s.Log == nil {
		return
	}
	logFrom(c).Debug("http", "method", c.Request.Method, "path", c.FullPath(), "status", c.Writer.Status(), "ms", time.Since(start).Milliseconds())
}

func logFrom(c *gin.Context) *slog.Logger {
	if l, ok := c.Get("log"); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
}

// limitBody answers 413 for bodies over 64 KiB (docs/api.md).
func limitBody(c *gin.Context) {
	if c.Request.ContentLength > maxBody {
		fail(c, newErr(errkind.PayloadTooLarge, "body over 64 KiB"))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
	c.Next()
}

// hstsHeader tells browsers to use https only, for a year, on the public
// host and its subdomains.
const hstsHeader = "max-age=31536000; includeSubDomains"

// securityHeaders go on every answer; Strict-Transport-Security only when
// the public URL is https (on http it would be ignored, and wrong).
func securityHeaders(hsts bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Frame-Options", "DENY")
		if hsts {
			h.Set("Strict-Transport-Security", hstsHeader)
		}
		c.Next()
	}
}

// bind decodes a JSON body into v; malformed JSON, wrong types, trailing
// data and bodies over the limit get docs/api.md's 400/413. An empty body is {}.
func bind(c *gin.Context, v any) error {
	raw, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newErr(errkind.PayloadTooLarge, "body over 64 KiB")
		}
		return badRequest("cannot read body")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest("field " + te.Field + " has the wrong type")
		}
		return badRequest("malformed JSON: " + err.Error())
	}
	if dec.More() {
		return badRequest("malformed JSON: data after the object")
	}
	return nil
}

// ---- authentication ----

type sessionKey struct{}

func (s *Server) requireSession(c *gin.Context) {
	token, fromCookie := "", false
	if h := c.GetHeader("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			token = strings.TrimSpace(t)
		}
	} else if ck, err := c.Cookie(sessionCookie); err == nil {
		token, fromCookie = ck, true
	}
	if token == "" {
		fail(c, newErr(errkind.Unauthorized, "sign in first"))
		return
	}
	now := s.now()
	sess, err := s.Store.SessionByTokenHash(c.Request.Context(), security.HashToken(token), now)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			fail(c, newErr(errkind.Unauthorized, "the session is unknown, ended or expired"))
			return
		}
		fail(c, err)
		return
	}
	if fromCookie && c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
		// CSRF check for cookie sessions (docs/api.md "Sessions"): the page
		// copies the authflow_csrf cookie into the header, and the token
		// is HMAC(secret key, session token), recomputed here from the
		// session cookie received. A cookie and header pair planted by
		// another site does not pass.
		if !security.CSRFTokenMatches(s.Cfg.SecretKey, token, c.GetHeader(csrfHeader)) {
			fail(c, newErr(errkind.Unauthorized, "missing or wrong X-CSRF-Token for a cookie session"))
			return
		}
	}
	// Writing last_seen_at on every request would make every read a write.
	if now.Sub(sess.LastSeenAt) > time.Minute {
		if err := s.Store.TouchSession(c.Request.Context(), sess.ID, now); err == nil {
			sess.LastSeenAt = now
		}
	}
	c.Set("session", sess)
	c.Set("log", logFrom(c).With("user_id", sess.UserID))
	c.Next()
}

func (s *Server) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func session(c *gin.Context) store.Session {
	v, _ := c.Get("session")
	return v.(store.Session)
}

func (s *Server) requireAdmin(c *gin.Context) {
	if !s.adminBearer(c) {
		fail(c, newErr(errkind.Unauthorized, "admin calls need Authorization: Bearer <AUTHFLOW_ADMIN_TOKEN>"))
		return
	}
	c.Next()
}

// adminBearer says whether the request carries the admin token as its
// bearer token (compared in constant time). A server without a token
// refuses every admin call: config.Load never leaves it empty, but a
// Server built by hand could, and "Bearer " would then match it.
func (s *Server) adminBearer(c *gin.Context) bool {
	t, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	return ok && s.Cfg.AdminToken != "" &&
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(t)), []byte(s.Cfg.AdminToken)) == 1
}

// setSessionCookies gives a browser its session and a CSRF token.
func (s *Server) setSessionCookies(c *gin.Context, token string, expires time.Time) {
	maxAge := int(time.Until(expires).Seconds())
	secure := s.Cfg.Secure()
	http.SetCookie(c.Writer, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
	s.setCSRFCookie(c, token, maxAge)
}

// setCSRFCookie gives a browser the CSRF token of its session,
// HMAC(secret key, session token) (see requireSession). The cookie is
// readable by the page's script on purpose: the page copies it into
// X-CSRF-Token.
func (s *Server) setCSRFCookie(c *gin.Context, sessionToken string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: csrfCookie, Value: security.CSRFToken(s.Cfg.SecretKey, sessionToken), Path: "/",
		MaxAge: maxAge, Secure: s.Cfg.Secure(), SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearSessionCookies(c *gin.Context) {
	for _, n := range []string{sessionCookie, csrfCookie} {
		http.SetCookie(c.Writer, &http.Cookie{Name: n, Value: "", Path: "/", MaxAge: -1, HttpOnly: n == sessionCookie,
			Secure: s.Cfg.Secure(), SameSite: http.SameSiteLaxMode})
	}
}

func clientIP(c *gin.Context) string { return c.ClientIP() }

// rpc bounds a call to Temporal so that an unreachable cluster answers 503
// quickly instead of hanging the client.
func rpc(c *gin.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.Request.Context(), d)
}

// refuseCrossSite stops another site's page from making a browser change
// state here (a form posting text/plain JSON to /v1/login would sign the
// visitor into the attacker's account). A state-changing request that says
// where it comes from must come from the public URL's exact origin
// (scheme, host and port, as parsed once from AUTHFLOW_PUBLIC_URL), never
// merely from the Host it was sent to, which an attacker's DNS controls.
// "Origin: null" (sandboxed frames, data: URLs, some redirects) is refused.
// Servers (curl, the control panel's backend, Telegram) send neither
// Origin nor Sec-Fetch-Site and are not affected.
func (s *Server) refuseCrossSite(public string) gin.HandlerFunc {
	return func(c *gin.Context) {
		switch {
		case c.Request.Method == http.MethodGet, c.Request.Method == http.MethodHead, c.Request.Method == http.MethodOptions,
			// The codec is called cross-origin by the Temporal UI by design; it
			// checks its own origin list and the admin token.
			strings.HasPrefix(c.Request.URL.Path, "/codec/"):
			c.Next()
			return
		}
		site := c.GetHeader("Sec-Fetch-Site")
		origins, sent := c.Request.Header["Origin"]
		refused := site == "cross-site" || site == "same-site"
		if sent {
			got := ""
			if len(origins) == 1 {
				got = originOf(origins[0])
			}
			refused = refused || public == "" || got != public
		}
		if refused {
			fail(c, newErr(errkind.Forbidden, "cross-site requests are refused"))
			return
		}
		c.Next()
	}
}

// publicOrigin is the origin of AUTHFLOW_PUBLIC_URL (its path, if any,
// left out).
func publicOrigin(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	return originOf(u.Scheme + "://" + u.Host)
}

// originOf is the origin of an http(s) URL as a browser serializes it:
// lower-case scheme and host, and the port only when it is not the
// scheme's default. Anything else ("null", a path, user info, another
// scheme) is "".
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return ""
	}
	scheme, host, port := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname()), u.Port()
	if (scheme != "http" && scheme != "https") || host == "" {
		return ""
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host
}
