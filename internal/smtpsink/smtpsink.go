// Package smtpsink is an SMTP server on loopback for tests that run
// authflow's real SMTP adapter: it accepts every message and keeps it,
// once per recipient. The tests' one copy of it.
package smtpsink

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// Mail is one message as one recipient got it.
type Mail struct {
	To     string
	Header mail.Header
	// Body is the message after its header, as sent (still MIME-encoded).
	Body []byte
	// At is when the sink accepted the message (its answer to DATA).
	At time.Time
}

// Sink is the server; SMTP_URL=smtp://<Addr> sends to it.
type Sink struct {
	Addr  string
	mu    sync.Mutex
	mails []Mail
}

// Start listens on a loopback port until the test ends.
func Start(t testing.TB) *Sink {
	t.Helper()
	s, stop, err := Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop() })
	return s
}

// Listen listens on a loopback port until stop is called: for a TestMain,
// which has no test to end with.
func Listen() (s *Sink, stop func() error, err error) {
	s = &Sink{}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &session{s: s}, nil }))
	srv.Domain = "mx.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	s.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	return s, srv.Close, nil
}

// Await is the messages to addr once there is at least one, or the test
// fails after d.
func (s *Sink) Await(t testing.TB, addr string, d time.Duration) []Mail {
	t.Helper()
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if got := s.To(addr); len(got) > 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no email to %s within %s", addr, d)
			return nil
		}
	}
}

// Mails is every message so far, oldest first.
func (s *Sink) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails)
}

// To is the messages to addr (any case), oldest first.
func (s *Sink) To(addr string) []Mail {
	var out []Mail
	for _, m := range s.Mails() {
		if strings.EqualFold(m.To, addr) {
			out = append(out, m)
		}
	}
	return out
}

// Text is the text/plain part of a multipart email (or the body of a
// single-part one), its transfer encoding undone.
func (m Mail) Text() string {
	mt, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if !strings.HasPrefix(mt, "multipart/") {
		return decodePart(m.Header.Get("Content-Transfer-Encoding"), m.Body)
	}
	mr := multipart.NewReader(bytes.NewReader(m.Body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return ""
		}
		body, _ := io.ReadAll(p) // quoted-printable is undone by NextPart
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct == "text/plain" {
			return decodePart(p.Header.Get("Content-Transfer-Encoding"), body)
		}
	}
}

func decodePart(encoding string, body []byte) string {
	if strings.EqualFold(encoding, "base64") {
		b, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), ""))
		return string(b)
	}
	return string(body)
}

type session struct {
	s  *Sink
	to []string
}

func (ss *session) Mail(string, *gosmtp.MailOptions) error { return nil }

func (ss *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		return err
	}
	at := time.Now()
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	for _, to := range ss.to {
		ss.s.mails = append(ss.s.mails, Mail{To: to, Header: msg.Header, Body: body, At: at})
	}
	return nil
}

func (ss *session) Reset()        { ss.to = nil }
func (ss *session) Logout() error { return nil }
