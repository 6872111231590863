// Package twilio sends text messages and places voice calls through Twilio's
// REST API with github.com/twilio/twilio-go: SMS through the Messages API,
// and through the Calls API with inline TwiML the dictating call (a robot
// reads the 4 digits, twice) and the flash call (a call that hangs up at
// once; the caller's last digits are the code).
//
// TWILIO_API_URL points every request at another host (a fake on loopback in
// tests): the library has no base-URL setting, so the client's HTTP
// transport rewrites the scheme and host (and prefixes the path) of each
// request. The same transport gives every request the caller's context,
// which the library does not pass on.
package twilio

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	twclient "github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/internal/sendonce"
)

// Call defaults.
const (
	// DefaultLanguage is the dictating call's language: Ukrainian, which
	// Twilio speaks with Google voices.
	DefaultLanguage = "uk-UA"
	// DefaultUkrainianVoice is a Twilio-supported Google voice for uk-UA.
	DefaultUkrainianVoice = "Google.uk-UA-Standard-A"
	// DefaultFlashRing is how long a flash call rings: long enough to show
	// up as a missed call, short enough not to be answered by voicemail.
	DefaultFlashRing = 10 * time.Second
	// dictateRing and dictateTimeLimit bound the dictating call's ringing
	// and length (it takes about 20 s).
	dictateRing      = 30 * time.Second
	dictateTimeLimit = 90 * time.Second
	requestTimeout   = 15 * time.Second
)

// Config is what the adapter needs; worker.NewActivities fills it from
// TWILIO_* variables.
type Config struct {
	AccountSID string // TWILIO_ACCOUNT_SID
	AuthToken  string // TWILIO_AUTH_TOKEN
	// BaseURL replaces https://api.twilio.com (TWILIO_API_URL); empty keeps
	// the library's host (and its TWILIO_EDGE / TWILIO_REGION handling).
	BaseURL string
	// From sends SMS and dictating calls (TWILIO_FROM_NUMBER). A Messaging
	// Service SID (MG…) is used as such for SMS.
	From string
	// Language of the dictating call (TWILIO_CALL_LANGUAGE): Ukrainian
	// ("uk-UA", the default) or English ("en-US", "en-GB", …).
	Language string
	// Voice of the dictating call (TWILIO_CALL_VOICE); empty means
	// DefaultUkrainianVoice for Ukrainian and Twilio's default otherwise.
	Voice string
	// FlashRing is how long a flash call rings (DefaultFlashRing when 0).
	FlashRing time.Duration
	// Transport carries the HTTP requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

// Client is the Twilio adapter. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base *url.URL
	sent *sendonce.Cache[string]
}

var (
	_ channels.SMSSender = (*Client)(nil)
	_ channels.Caller    = (*Client)(nil)
)

// New checks cfg and returns the adapter.
func New(cfg Config) (*Client, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" || cfg.From == "" {
		return nil, errors.New("twilio: account SID, auth token and from number are required")
	}
	c := &Client{cfg: cfg, sent: sendonce.New[string](sendonce.DefaultTTL, sendonce.DefaultMax)}
	if cfg.BaseURL != "" {
		u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("twilio: base URL %q is not an absolute http(s) URL", cfg.BaseURL)
		}
		c.base = u
	}
	if c.cfg.Language == "" {
		c.cfg.Language = DefaultLanguage
	}
	if c.cfg.Voice == "" && ukrainian(c.cfg.Language) {
		c.cfg.Voice = DefaultUkrainianVoice
	}
	if c.cfg.FlashRing <= 0 {
		c.cfg.FlashRing = DefaultFlashRing
	}
	return c, nil
}

func ukrainian(lang string) bool { return strings.HasPrefix(strings.ToLower(lang), "uk") }

// callLanguage is the language and voice a dictating call to a number
// speaks: TWILIO_CALL_LANGUAGE (Ukrainian by default) to Ukrainian (+380)
// numbers, English to others when that language is Ukrainian (a number
// abroad is no sign its owner reads Ukrainian; docs/design.md "Languages").
func (c *Client) callLanguage(to string) (lang, voice string) {
	if strings.HasPrefix(to, "+380") || !ukrainian(c.cfg.Language) {
		return c.cfg.Language, c.cfg.Voice
	}
	return "en-US", ""
}

// SendSMS sends body to to. A retry with the same key returns the first
// message's SID instead of sending again.
func (c *Client) SendSMS(ctx context.Context, to, body, key string) (string, error) {
	return c.sent.Do(ctx, key, func() (string, error) {
		p := (&openapi.CreateMessageParams{}).SetTo(to).SetBody(body)
		if strings.HasPrefix(c.cfg.From, "MG") {
			p.SetMessagingServiceSid(c.cfg.From)
		} else {
			p.SetFrom(c.cfg.From)
		}
		api, ex := c.api(ctx)
		m, err := api.CreateMessage(p)
		if err = ex.classify("sms", err); err != nil || m == nil || m.Sid == nil {
			return "", err
		}
		return *m.Sid, nil
	})
}

// DictateCall calls to from the configured number; a robot reads digits one
// by one, with pauses, twice. The TwiML goes inline: no public URL needed.
func (c *Client) DictateCall(ctx context.Context, to, digits, key string) (string, error) {
	for _, d := range digits {
		if d < '0' || d > '9' {
			return "", &channels.PermanentError{Err: errors.New("twilio call: the code to dictate must be digits")}
		}
	}
	lang, voice := c.callLanguage(to)
	twiml := DictateTwiML(digits, lang, voice)
	return c.call(ctx, "dictating call", to, c.cfg.From, twiml, dictateRing, dictateTimeLimit, key)
}

// FlashCall calls to from the number from and hangs up if answered; it
// rings for Config.FlashRing only.
func (c *Client) FlashCall(ctx context.Context, to, from, key string) (string, error) {
	return c.call(ctx, "flash call", to, from, FlashTwiML, c.cfg.FlashRing, 0, key)
}

func (c *Client) call(ctx context.Context, op, to, from, twiml string, ring, limit time.Duration, key string) (string, error) {
	return c.sent.Do(ctx, key, func() (string, error) {
		p := (&openapi.CreateCallParams{}).SetTo(to).SetFrom(from).SetTwiml(twiml).SetTimeout(int(ring / time.Second))
		if limit > 0 {
			p.SetTimeLimit(int(limit / time.Second))
		}
		api, ex := c.api(ctx)
		call, err := api.CreateCall(p)
		if err = ex.classify(op, err); err != nil || call == nil || call.Sid == nil {
			return "", err
		}
		return *call.Sid, nil
	})
}

// FlashTwiML answers a flash call that was picked up by hanging up at once.
const FlashTwiML = `<Response><Hangup/></Response>`

// words are the dictating call's phrases.
var words = map[bool]struct{ intro, again, bye string }{
	true:  {"Ваш код підтвердження.", "Повторюю.", "Нікому не повідомляйте цей код."},
	false: {"Your authflow code is:", "Again.", "Do not share this code with anyone."},
}

// DictateTwiML is the TwiML of a dictating call: an introduction, the digits
// one per <Say> with a one-second <Pause> between them, then the digits
// again. Ukrainian words for a Ukrainian language, English otherwise.
func DictateTwiML(digits, language, voice string) string {
	w := words[ukrainian(language)]
	var b strings.Builder
	say := func(text string) {
		b.WriteString(`<Say language="`)
		xmlEscape(&b, language)
		b.WriteString(`"`)
		if voice != "" {
			b.WriteString(` voice="`)
			xmlEscape(&b, voice)
			b.WriteString(`"`)
		}
		b.WriteString(`>`)
		xmlEscape(&b, text)
		b.WriteString(`</Say>`)
	}
	pause := func(secs int) { fmt.Fprintf(&b, `<Pause length="%d"/>`, secs) }
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response>`)
	say(w.intro)
	for round := range 2 {
		if round == 1 {
			pause(2)
			say(w.again)
		}
		for _, d := range digits {
			pause(1)
			say(string(d))
		}
	}
	pause(1)
	say(w.bye)
	b.WriteString(`</Response>`)
	return b.String()
}

func xmlEscape(b *strings.Builder, s string) { _ = xml.EscapeText(b, []byte(s)) }

// api returns the library's API service for one request, bound to ctx, and
// the exchange that records what the server answered.
func (c *Client) api(ctx context.Context) (*openapi.ApiService, *exchange) {
	next := c.cfg.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	ex := &exchange{}
	hc := &http.Client{
		Transport: &transport{ctx: ctx, base: c.base, next: next, ex: ex},
		Timeout:   requestTimeout,
		// As the library's default client: the last response is the answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	tc := &twclient.Client{Credentials: twclient.NewCredentials(c.cfg.AccountSID, c.cfg.AuthToken), HTTPClient: hc}
	tc.SetAccountSid(c.cfg.AccountSID)
	return openapi.NewApiServiceWithClient(tc), ex
}

// transport points the library's requests at the base URL and the caller's
// context, and keeps the status of the answer.
type transport struct {
	ctx  context.Context
	base *url.URL
	next http.RoundTripper
	ex   *exchange
}

// RoundTrip sends a copy of req carrying t.ctx, to t.base when set.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(t.ctx)
	if t.base != nil {
		r.URL.Scheme, r.URL.Host = t.base.Scheme, t.base.Host
		r.URL.Path, r.URL.RawPath = t.base.Path+r.URL.Path, ""
		r.Host = ""
	}
	resp, err := t.next.RoundTrip(r)
	if err == nil {
		t.ex.status = resp.StatusCode
		if s := resp.Header.Get("Retry-After"); s != "" {
			if secs, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && secs > 0 {
				t.ex.retryAfter = time.Duration(secs) * time.Second
			}
		}
	}
	return resp, err
}

// exchange is what one request got back.
type exchange struct {
	status     int
	retryAfter time.Duration
}

// Error is a Twilio request that failed: Status is the HTTP status (0 when
// no answer came), Code Twilio's error code (https://www.twilio.com/docs/api/errors).
type Error struct {
	Op         string
	Status     int
	Code       int
	Message    string
	RetryAfter time.Duration
	Err        error
}

// Error says what failed, with Twilio's status, code and message.
func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("twilio %s: %v", e.Op, e.Err)
	}
	msg := fmt.Sprintf("twilio %s: status %d", e.Op, e.Status)
	if e.Code != 0 {
		msg += fmt.Sprintf(", error %d", e.Code)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retryable: Twilio asks to retry after %s)", e.RetryAfter)
	}
	return msg
}

// RetryDelay is how long Twilio asked us to wait (channels.RetryDelay).
func (e *Error) RetryDelay() time.Duration { return e.RetryAfter }

// Unwrap returns the library's error.
func (e *Error) Unwrap() error { return e.Err }

// Twilio error codes that mean the number will never take this message or
// call (https://www.twilio.com/docs/api/errors).
var permanentCodes = map[int]bool{
	21211: true, // invalid 'To' phone number
	21214: true, // 'To' phone number cannot be reached
	21217: true, // phone number does not appear to be valid
	21407: true, // this phone number type does not support SMS
	21408: true, // permission to send to this region is not enabled
	21610: true, // the recipient unsubscribed (STOP)
	21612: true, // cannot route to this number
	21614: true, // 'To' number is not a valid mobile number
	21215: true, // geo permission for this number is off
	13224: true, // invalid phone number for a call
}

// Retryable reports whether the same request may succeed later: no answer,
// 408, 429 (or Twilio's 20429), or a server error.
func (e *Error) Retryable() bool {
	switch {
	case permanentCodes[e.Code]:
		return false
	case e.Status == 0, e.Code == 20429:
		return true
	case e.Status == http.StatusRequestTimeout, e.Status == http.StatusTooManyRequests, e.Status >= 500:
		return true
	}
	return e.Status < 400 // a 3xx the library treats as an answer; never seen
}

// RetryAfter returns how long Twilio asked to wait, if err carries it.
func RetryAfter(err error) time.Duration {
	var te *Error
	if errors.As(err, &te) {
		return te.RetryAfter
	}
	return 0
}

// classify turns the library's error into *Error, wrapped in
// *channels.PermanentError when retrying cannot help (an invalid number,
// any other 4xx such as bad credentials).
func (ex *exchange) classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if ex.status >= 200 && ex.status < 300 {
		// Twilio accepted it; only its answer was unreadable. Sending again
		// would call twice.
		return nil
	}
	e := &Error{Op: op, Status: ex.status, Message: err.Error(), RetryAfter: ex.retryAfter, Err: err}
	var rest *twclient.TwilioRestError
	var v1 *twclient.RestErrorV1
	switch {
	case errors.As(err, &rest):
		e.Code, e.Message = rest.Code, rest.Message
		if rest.Status != 0 {
			e.Status = rest.Status
		}
	case errors.As(err, &v1):
		e.Code, e.Message = v1.Code, v1.Message
		if v1.HttpStatusCode != 0 {
			e.Status = v1.HttpStatusCode
		}
	case ex.status != 0:
		e.Message = "unreadable answer (" + http.StatusText(ex.status) + ")"
	}
	if e.Retryable() {
		return e
	}
	return &channels.PermanentError{Err: e}
}
