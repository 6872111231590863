package durability_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// fakeTwilio answers Twilio's Messages and Calls APIs and keeps what was sent.
type fakeTwilio struct {
	*httptest.Server
	mu   sync.Mutex
	sent []map[string]string // form values: To, Body, ...
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	t.Helper()
	f := &fakeTwilio{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		m := map[string]string{"path": r.URL.Path}
		for k := range r.PostForm {
			m[k] = r.PostForm.Get(k)
		}
		f.mu.Lock()
		f.sent = append(f.sent, m)
		n := len(f.sent)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":"SM%030d","status":"queued","to":%q}`, n, m["To"])
	}))
	t.Cleanup(f.Close)
	return f
}

// lastTo returns the newest message body to a number, waiting for it.
func (f *fakeTwilio) lastTo(t *testing.T, to string) string {
	t.Helper()
	var body string
	eventually(t, 20*time.Second, "an SMS to "+to, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for i := len(f.sent) - 1; i >= 0; i-- {
			if f.sent[i]["To"] == to {
				body = f.sent[i]["Body"]
				return true
			}
		}
		return false
	})
	return body
}

// fakeBilling is BILLING_WEBHOOK_URL. While held, a request waits (the
// worker is killed meanwhile); arrived is told about every request.
type fakeBilling struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []string
	hold    chan struct{} // closed: answer at once
	arrived chan string
}

func newFakeBilling(t *testing.T) *fakeBilling {
	t.Helper()
	f := &fakeBilling{hold: make(chan struct{}), arrived: make(chan string, 16)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		key := r.Header.Get("Idempotency-Key")
		f.mu.Lock()
		f.keys = append(f.keys, key)
		f.mu.Unlock()
		f.arrived <- key
		select {
		case <-f.hold:
		case <-r.Context().Done(): // the caller died
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(func() {
		f.release()
		f.Close()
	})
	return f
}

func (f *fakeBilling) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	select {
	case <-f.hold:
	default:
		close(f.hold)
	}
}

func (f *fakeBilling) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.keys...)
}

// smtpSink accepts every message and keeps the recipients.
type smtpSink struct {
	addr string
	mu   sync.Mutex
	to   []string
}

func newSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	s := &smtpSink{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &sinkSession{s: s}, nil }))
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *smtpSink) count(to string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.to {
		if strings.EqualFold(r, to) {
			n++
		}
	}
	return n
}

type sinkSession struct {
	s  *smtpSink
	to []string
}

func (ss *sinkSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	_, _ = io.Copy(io.Discard, r)
	ss.s.mu.Lock()
	ss.s.to = append(ss.s.to, ss.to...)
	ss.s.mu.Unlock()
	return nil
}
func (ss *sinkSession) Reset()        { ss.to = nil }
func (ss *sinkSession) Logout() error { return nil }
