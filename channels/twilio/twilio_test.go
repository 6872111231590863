package twilio_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/twilio"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "authtoken0123456789"
	fromNumber = "+15005550006"
)

// request is one call the fake Twilio API received.
type request struct {
	Method string
	Path   string
	Form   url.Values
}

// fakeTwilio is Twilio's REST API on loopback: it checks Basic auth, records
// the form of every request and answers with what reply says (by default a
// created message or call).
type fakeTwilio struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
	reply    func(r request) (status int, header http.Header, body string)
	n        int
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != accountSID || pass != authToken {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"code":20003,"message":"Authenticate","status":401}`)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type %q, want a form", ct)
		}
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		req := request{Method: r.Method, Path: r.URL.Path, Form: r.PostForm}
		f.mu.Lock()
		f.requests = append(f.requests, req)
		f.n++
		n, reply := f.n, f.reply
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if reply != nil {
			status, header, body := reply(req)
			for k, v := range header {
				w.Header()[k] = v
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
			return
		}
		w.WriteHeader(http.StatusCreated)
		prefix := "SM"
		if strings.HasSuffix(r.URL.Path, "/Calls.json") {
			prefix = "CA"
		}
		fmt.Fprintf(w, `{"sid":"%s%030d","status":"queued","to":%q}`, prefix, n, req.Form.Get("To"))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeTwilio) setReply(r func(request) (int, http.Header, string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = r
}

func (f *fakeTwilio) take() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.requests
	f.requests = nil
	return r
}

func (f *fakeTwilio) only(t *testing.T, path string) request {
	t.Helper()
	reqs := f.take()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want one to %s: %+v", len(reqs), path, reqs)
	}
	if reqs[0].Method != http.MethodPost || reqs[0].Path != path {
		t.Fatalf("%s %s, want POST %s", reqs[0].Method, reqs[0].Path, path)
	}
	return reqs[0]
}

func newClient(t *testing.T, baseURL string, mod func(*twilio.Config)) *twilio.Client {
	t.Helper()
	cfg := twilio.Config{AccountSID: accountSID, AuthToken: authToken, BaseURL: baseURL, From: fromNumber}
	if mod != nil {
		mod(&cfg)
	}
	c, err := twilio.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	messagesPath = "/2010-04-01/Accounts/" + accountSID + "/Messages.json"
	callsPath    = "/2010-04-01/Accounts/" + accountSID + "/Calls.json"
)

// twiml is the part of a TwiML document the tests read.
type twiml struct {
	XMLName xml.Name
	Verbs   []struct {
		XMLName  xml.Name
		Language string `xml:"language,attr"`
		Voice    string `xml:"voice,attr"`
		Length   string `xml:"length,attr"`
		Text     string `xml:",chardata"`
	} `xml:",any"`
}

func parseTwiML(t *testing.T, doc string) twiml {
	t.Helper()
	var tw twiml
	if err := xml.Unmarshal([]byte(doc), &tw); err != nil {
		t.Fatalf("TwiML is not XML: %v\n%s", err, doc)
	}
	if tw.XMLName.Local != "Response" {
		t.Fatalf("TwiML root %q, want Response", tw.XMLName.Local)
	}
	return tw
}

// spoken returns the digits said, in order, and checks every <Say> has the
// language and voice.
func spoken(t *testing.T, tw twiml, lang, voice string) (digits string, pausesBeforeDigits int) {
	t.Helper()
	prevPause := false
	for _, v := range tw.Verbs {
		switch v.XMLName.Local {
		case "Say":
			if v.Language != lang || v.Voice != voice {
				t.Fatalf("<Say language=%q voice=%q>, want %q, %q", v.Language, v.Voice, lang, voice)
			}
			if len(v.Text) == 1 && v.Text[0] >= '0' && v.Text[0] <= '9' {
				digits += v.Text
				if prevPause {
					pausesBeforeDigits++
				}
			}
			prevPause = false
		case "Pause":
			prevPause = true
		}
	}
	return digits, pausesBeforeDigits
}

func TestTwilio(t *testing.T) {
	ctx := context.Background()
	f := newFakeTwilio(t)
	c := newClient(t, f.URL, nil)

	t.Run("case=sms goes from the configured number with the body", func(t *testing.T) {
		sid, err := c.SendSMS(ctx, "+380501234567", "123456 is your authflow code.", "login/f/r/1")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(sid, "SM") {
			t.Fatalf("sid = %q, want the message SID", sid)
		}
		r := f.only(t, messagesPath)
		want := url.Values{"To": {"+380501234567"}, "From": {fromNumber}, "Body": {"123456 is your authflow code."}}
		if r.Form.Encode() != want.Encode() {
			t.Fatalf("form %v, want %v", r.Form, want)
		}
	})

	t.Run("case=sms through a messaging service", func(t *testing.T) {
		c := newClient(t, f.URL, func(c *twilio.Config) { c.From = "MG0123456789abcdef0123456789abcdef" })
		if _, err := c.SendSMS(ctx, "+380501234567", "hi", ""); err != nil {
			t.Fatal(err)
		}
		r := f.only(t, messagesPath)
		if r.Form.Get("MessagingServiceSid") != "MG0123456789abcdef0123456789abcdef" || r.Form.Has("From") {
			t.Fatalf("form %v, want MessagingServiceSid and no From", r.Form)
		}
	})

	t.Run("case=dictating call reads the digits one by one twice in Ukrainian", func(t *testing.T) {
		sid, err := c.DictateCall(ctx, "+380501234567", "4071", "login/f/r/2")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(sid, "CA") {
			t.Fatalf("sid = %q, want the call SID", sid)
		}
		r := f.only(t, callsPath)
		if r.Form.Get("To") != "+380501234567" || r.Form.Get("From") != fromNumber {
			t.Fatalf("To/From = %q/%q", r.Form.Get("To"), r.Form.Get("From"))
		}
		if r.Form.Get("Timeout") != "30" || r.Form.Get("TimeLimit") != "90" {
			t.Fatalf("Timeout/TimeLimit = %q/%q, want 30/90", r.Form.Get("Timeout"), r.Form.Get("TimeLimit"))
		}
		if r.Form.Has("Url") {
			t.Fatal("the TwiML must be inline, not at a URL")
		}
		tw := parseTwiML(t, r.Form.Get("Twiml"))
		digits, paused := spoken(t, tw, "uk-UA", "Google.uk-UA-Standard-A")
		if digits != "40714071" {
			t.Fatalf("digits said %q, want 4071 twice, one per <Say>", digits)
		}
		if paused != 8 {
			t.Fatalf("%d of 8 digits follow a <Pause>", paused)
		}
		if !strings.Contains(r.Form.Get("Twiml"), "Повторюю") {
			t.Fatalf("TwiML %s has no Ukrainian words", r.Form.Get("Twiml"))
		}
	})

	t.Run("case=dictating call in English when configured", func(t *testing.T) {
		c := newClient(t, f.URL, func(c *twilio.Config) { c.Language = "en-US"; c.Voice = "Polly.Joanna" })
		if _, err := c.DictateCall(ctx, "+380501234567", "0099", ""); err != nil {
			t.Fatal(err)
		}
		r := f.only(t, callsPath)
		digits, _ := spoken(t, parseTwiML(t, r.Form.Get("Twiml")), "en-US", "Polly.Joanna")
		if digits != "00990099" || !strings.Contains(r.Form.Get("Twiml"), "Again") {
			t.Fatalf("TwiML %s", r.Form.Get("Twiml"))
		}
	})

	t.Run("case=a foreign number hears the dictated code in English, a Ukrainian one in Ukrainian", func(t *testing.T) {
		if _, err := c.DictateCall(ctx, "+447700900123", "5150", "login/f/r/9"); err != nil {
			t.Fatal(err)
		}
		r := f.only(t, callsPath)
		digits, _ := spoken(t, parseTwiML(t, r.Form.Get("Twiml")), "en-US", "")
		if digits != "51505150" || strings.Contains(r.Form.Get("Twiml"), "Повторюю") {
			t.Fatalf("TwiML %s", r.Form.Get("Twiml"))
		}
	})

	t.Run("case=flash call comes from the pool number and hangs up at once", func(t *testing.T) {
		if _, err := c.FlashCall(ctx, "+14155550123", "+15550105678", "login/f/r/3"); err != nil {
			t.Fatal(err)
		}
		r := f.only(t, callsPath)
		want := url.Values{"To": {"+14155550123"}, "From": {"+15550105678"}, "Twiml": {"<Response><Hangup/></Response>"}, "Timeout": {"10"}}
		if r.Form.Encode() != want.Encode() {
			t.Fatalf("form %v, want %v", r.Form, want)
		}
	})

	t.Run("case=retried send with the same key reaches twilio once", func(t *testing.T) {
		first, err := c.SendSMS(ctx, "+380501234567", "code", "same-key")
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.SendSMS(ctx, "+380501234567", "code", "same-key")
		if err != nil || again != first {
			t.Fatalf("retry = %q, %v; want the first SID %q", again, err, first)
		}
		f.only(t, messagesPath)
	})

	t.Run("case=base url with a path prefix", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.Handle("/twilio/", http.StripPrefix("/twilio", f.Config.Handler))
		prefixed := httptest.NewServer(mux)
		defer prefixed.Close()
		c := newClient(t, prefixed.URL+"/twilio/", nil)
		if _, err := c.SendSMS(ctx, "+380501234567", "x", ""); err != nil {
			t.Fatal(err)
		}
		f.only(t, messagesPath)
	})
}

func TestTwilioErrors(t *testing.T) {
	ctx := context.Background()
	f := newFakeTwilio(t)
	c := newClient(t, f.URL, nil)
	isPermanent := func(err error) bool {
		var p *channels.PermanentError
		return errors.As(err, &p)
	}
	twilioError := func(status, code int, msg string, header http.Header) func(request) (int, http.Header, string) {
		return func(request) (int, http.Header, string) {
			return status, header, fmt.Sprintf(`{"code":%d,"message":%q,"more_info":"https://www.twilio.com/docs/errors/%d","status":%d}`, code, msg, code, status)
		}
	}

	for _, tc := range []struct {
		name      string
		reply     func(request) (int, http.Header, string)
		permanent bool
		says      string
	}{
		{"case=invalid number (21211) is permanent", twilioError(400, 21211, "The 'To' number +1 is not a valid phone number.", nil), true, "21211"},
		{"case=not a mobile number (21614) is permanent", twilioError(400, 21614, "'To' number is not a valid mobile number", nil), true, "21614"},
		{"case=other 4xx is permanent", twilioError(403, 20008, "Resource not accessible with Test Account Credentials", nil), true, "20008"},
		{"case=too many requests is retryable and says retry after", twilioError(429, 20429, "Too Many Requests", http.Header{"Retry-After": {"3"}}), false, "retry after 3s"},
		{"case=server error is retryable", twilioError(500, 20500, "Internal Server Error", nil), false, "status 500"},
		{"case=unreadable 503 is retryable", func(request) (int, http.Header, string) { return 503, nil, "<html>busy</html>" }, false, "status 503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.setReply(tc.reply)
			_, err := c.SendSMS(ctx, "+1", "x", "")
			if err == nil {
				t.Fatal("want an error")
			}
			if isPermanent(err) != tc.permanent {
				t.Fatalf("err = %v; permanent = %v, want %v", err, isPermanent(err), tc.permanent)
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err %q does not say %q", err, tc.says)
			}
			// What activities read to delay the next attempt.
			if want := twilio.RetryAfter(err); channels.RetryDelay(err) != want || (strings.Contains(tc.says, "retry after 3s") && want != 3*time.Second) {
				t.Fatalf("retry delay %s, want %s", channels.RetryDelay(err), want)
			}
			f.take()
		})
	}

	t.Run("case=failed call is not remembered as sent", func(t *testing.T) {
		f.setReply(twilioError(500, 20500, "Internal Server Error", nil))
		if _, err := c.DictateCall(ctx, "+380501234567", "1234", "k"); err == nil || isPermanent(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
		f.setReply(nil)
		if _, err := c.DictateCall(ctx, "+380501234567", "1234", "k"); err != nil {
			t.Fatal(err)
		}
		if n := len(f.take()); n != 2 {
			t.Fatalf("%d requests, want 2 (the retry after a failure sends)", n)
		}
	})

	t.Run("case=wrong credentials are permanent", func(t *testing.T) {
		f.setReply(nil)
		c := newClient(t, f.URL, func(c *twilio.Config) { c.AuthToken = "wrongtoken" })
		if _, err := c.SendSMS(ctx, "+380501234567", "x", ""); !isPermanent(err) || !strings.Contains(err.Error(), "401") {
			t.Fatalf("err = %v, want a permanent 401", err)
		}
	})

	t.Run("case=network failure is retryable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		_, err := newClient(t, dead.URL, nil).FlashCall(ctx, "+14155550123", "+15550105678", "")
		if err == nil || isPermanent(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
	})

	t.Run("case=canceled context stops the request", func(t *testing.T) {
		block := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}))
		defer slow.Close()
		defer close(block)
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := newClient(t, slow.URL, nil).SendSMS(ctx, "+380501234567", "x", "")
		if err == nil || time.Since(start) > 5*time.Second {
			t.Fatalf("err = %v after %s, want a quick context error", err, time.Since(start))
		}
	})

	t.Run("case=code with a non-digit is refused", func(t *testing.T) {
		if _, err := c.DictateCall(ctx, "+380501234567", "12a4", ""); !isPermanent(err) {
			t.Fatalf("err = %v, want permanent", err)
		}
	})
}

func TestDictateTwiMLEscapes(t *testing.T) {
	doc := twilio.DictateTwiML("12", `en-US`, `Polly"<x>`)
	tw := parseTwiML(t, doc)
	if got, _ := spoken(t, tw, "en-US", `Polly"<x>`); got != "1212" {
		t.Fatalf("digits %q", got)
	}
}
