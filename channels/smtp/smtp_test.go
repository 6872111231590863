package smtp_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/authflow/authflow/channels"
	authsmtp "github.com/authflow/authflow/channels/smtp"
)

// delivery is one message the test server accepted.
type delivery struct {
	AuthUser string
	TLS      bool
	From     string
	To       []string
	Data     []byte
}

// server is a real SMTP server (github.com/emersion/go-smtp) on 127.0.0.1.
type server struct {
	srv  *gosmtp.Server
	addr string

	user, pass string // required AUTH PLAIN credentials, when set
	rcptErr    error  // answer to RCPT TO, when set

	mu        sync.Mutex
	delivered []delivery
	authTried bool
}

type serverMode int

const (
	plainServer    serverMode = iota // no TLS at all (like Mailpit)
	startTLSServer                   // STARTTLS offered
	implicitTLS                      // TLS from the first byte (smtps)
)

func newServer(t *testing.T, mode serverMode, cert tls.Certificate) *server {
	t.Helper()
	s := &server{}
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(c *gosmtp.Conn) (gosmtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	s.srv.Domain = "mx.test"
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.srv.AllowInsecureAuth = mode == plainServer
	var ln net.Listener
	var err error
	switch mode {
	case plainServer:
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	case startTLSServer:
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	case implicitTLS:
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		ln, err = tls.Listen("tcp", "127.0.0.1:0", s.srv.TLSConfig)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

func (s *server) take() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.delivered
	s.delivered = nil
	return d
}

type session struct {
	s    *server
	c    *gosmtp.Conn
	user string
	cur  delivery
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		ss.s.mu.Lock()
		ss.s.authTried = true
		ss.s.mu.Unlock()
		if username != ss.s.user || password != ss.s.pass {
			return gosmtp.ErrAuthFailed
		}
		ss.user = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if ss.s.user != "" && ss.user == "" {
		return gosmtp.ErrAuthRequired
	}
	_, tlsOn := ss.c.TLSConnectionState()
	ss.cur = delivery{AuthUser: ss.user, TLS: tlsOn, From: from}
	return nil
}

func (ss *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if ss.s.rcptErr != nil {
		return ss.s.rcptErr
	}
	ss.cur.To = append(ss.cur.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cur.Data = b
	ss.s.mu.Lock()
	ss.s.delivered = append(ss.s.delivered, ss.cur)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.cur = delivery{} }
func (ss *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// parts reads a delivered message: its headers and its MIME parts by type.
func parts(t *testing.T, data []byte) (netmail.Header, map[string]string) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a message: %v\n%s", err, data)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative\n%s", msg.Header.Get("Content-Type"), data)
	}
	out := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(p) // quoted-printable is decoded by NextPart
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
			body, _ = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), ""))
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out[ct] = string(body)
	}
	return msg.Header, out
}

func email(key string) channels.Email {
	return channels.Email{
		To: "ivan@example.com", Subject: "Your authflow code: 493027", Key: key,
		Text: "Your code to sign in: 493027\n\nIt expires in 10 minutes.\n",
		HTML: `<p>Your code to sign in:</p><p style="font-size:28px">493027</p>`,
	}
}

func newSender(t *testing.T, rawURL string, pool *x509.CertPool) *authsmtp.Sender {
	t.Helper()
	cfg := authsmtp.Config{URL: rawURL, From: "authflow <no-reply@authflow.test>", Timeout: 5 * time.Second}
	if pool != nil {
		cfg.TLSConfig = &tls.Config{RootCAs: pool}
	}
	s, err := authsmtp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func isPermanent(err error) bool {
	var p *channels.PermanentError
	return errors.As(err, &p)
}

func TestSMTP(t *testing.T) {
	ctx := context.Background()
	cert, pool := selfSigned(t)
	const pass = "p@ss:w/rd"
	userinfo := url.UserPassword("mailer", pass).String()

	t.Run("case=starttls and auth deliver text and html with the code", func(t *testing.T) {
		srv := newServer(t, startTLSServer, cert)
		srv.user, srv.pass = "mailer", pass
		s := newSender(t, "smtp://"+userinfo+"@"+srv.addr, pool)
		const key = "login/flowsecret/run/7"
		id, err := s.SendEmail(ctx, email(key))
		if err != nil {
			t.Fatal(err)
		}
		got := srv.take()
		if len(got) != 1 {
			t.Fatalf("%d deliveries, want 1", len(got))
		}
		d := got[0]
		if !d.TLS {
			t.Fatal("the server offered STARTTLS but the mail went in clear")
		}
		if d.AuthUser != "mailer" {
			t.Fatalf("authenticated as %q, want mailer", d.AuthUser)
		}
		if d.From != "no-reply@authflow.test" || len(d.To) != 1 || d.To[0] != "ivan@example.com" {
			t.Fatalf("MAIL FROM %q RCPT TO %v", d.From, d.To)
		}
		h, p := parts(t, d.Data)
		if h.Get("Subject") != "Your authflow code: 493027" || !strings.Contains(h.Get("From"), "no-reply@authflow.test") ||
			!strings.Contains(h.Get("To"), "ivan@example.com") {
			t.Fatalf("headers %v", h)
		}
		if h.Get("Message-Id") != id || !regexp.MustCompile(`^<[0-9a-f]{32}@authflow\.test>$`).MatchString(id) {
			t.Fatalf("Message-ID %q, returned id %q", h.Get("Message-Id"), id)
		}
		idem := h.Get(authsmtp.IdempotencyHeader)
		if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(idem) || strings.Contains(string(d.Data), "flowsecret") {
			t.Fatalf("%s = %q; want a digest that does not reveal the flow id", authsmtp.IdempotencyHeader, idem)
		}
		if !strings.Contains(p["text/plain"], "493027") || !strings.Contains(p["text/html"], "493027") {
			t.Fatalf("parts %v: want the code in text/plain and text/html", p)
		}
		if !strings.Contains(p["text/html"], "<p style=") {
			t.Fatalf("html part %q is not the HTML body", p["text/html"])
		}
	})

	t.Run("case=retried email with the same key is delivered once", func(t *testing.T) {
		srv := newServer(t, plainServer, cert)
		s := newSender(t, "smtp://"+srv.addr, nil)
		first, err := s.SendEmail(ctx, email("k1"))
		if err != nil {
			t.Fatal(err)
		}
		again, err := s.SendEmail(ctx, email("k1"))
		if err != nil || again != first {
			t.Fatalf("retry = %q, %v; want %q", again, err, first)
		}
		if n := len(srv.take()); n != 1 {
			t.Fatalf("%d deliveries, want 1", n)
		}
	})

	t.Run("case=smtps uses implicit tls", func(t *testing.T) {
		srv := newServer(t, implicitTLS, cert)
		srv.user, srv.pass = "mailer", pass
		s := newSender(t, "smtps://"+userinfo+"@"+srv.addr, pool)
		if _, err := s.SendEmail(ctx, email("")); err != nil {
			t.Fatal(err)
		}
		got := srv.take()
		if len(got) != 1 || !got[0].TLS || got[0].AuthUser != "mailer" {
			t.Fatalf("deliveries %+v, want one over TLS, authenticated", got)
		}
	})

	t.Run("case=server without starttls (mailpit) still gets the mail", func(t *testing.T) {
		srv := newServer(t, plainServer, cert)
		s := newSender(t, "smtp://"+srv.addr, nil)
		if _, err := s.SendEmail(ctx, email("")); err != nil {
			t.Fatal(err)
		}
		if got := srv.take(); len(got) != 1 || got[0].TLS {
			t.Fatalf("deliveries %+v, want one in clear", got)
		}
	})

	t.Run("case=untrusted certificate is refused", func(t *testing.T) {
		srv := newServer(t, startTLSServer, cert)
		s := newSender(t, "smtp://"+srv.addr, nil) // system roots do not know the test CA
		if _, err := s.SendEmail(ctx, email("")); err == nil {
			t.Fatal("want a certificate error")
		}
		if n := len(srv.take()); n != 0 {
			t.Fatalf("%d deliveries over an unverified connection", n)
		}
	})

	t.Run("case=password is never sent over an unencrypted connection", func(t *testing.T) {
		srv := newServer(t, plainServer, cert)
		srv.user, srv.pass = "mailer", pass
		s := newSender(t, "smtp://"+userinfo+"@"+srv.addr, nil)
		_, err := s.SendEmail(ctx, email(""))
		if err == nil || !isPermanent(err) {
			t.Fatalf("err = %v, want a permanent error", err)
		}
		srv.mu.Lock()
		defer srv.mu.Unlock()
		if srv.authTried {
			t.Fatal("AUTH PLAIN was sent in clear")
		}
	})
}

func TestSMTPErrors(t *testing.T) {
	ctx := context.Background()
	cert, pool := selfSigned(t)

	t.Run("case=mailbox unavailable (550) is permanent", func(t *testing.T) {
		srv := newServer(t, plainServer, cert)
		srv.rcptErr = &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
		_, err := newSender(t, "smtp://"+srv.addr, nil).SendEmail(ctx, email("k550"))
		if !isPermanent(err) || authsmtp.Code(err) != 550 {
			t.Fatalf("err = %v (code %d), want a permanent 550", err, authsmtp.Code(err))
		}
	})

	t.Run("case=temporary failure (451) is retryable and not remembered", func(t *testing.T) {
		srv := newServer(t, plainServer, cert)
		srv.rcptErr = &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		s := newSender(t, "smtp://"+srv.addr, nil)
		_, err := s.SendEmail(ctx, email("k451"))
		if err == nil || isPermanent(err) || authsmtp.Code(err) != 451 {
			t.Fatalf("err = %v (code %d), want a retryable 451", err, authsmtp.Code(err))
		}
		srv.rcptErr = nil
		if _, err := s.SendEmail(ctx, email("k451")); err != nil {
			t.Fatalf("retry: %v", err)
		}
		if n := len(srv.take()); n != 1 {
			t.Fatalf("%d deliveries, want the retry delivered", n)
		}
	})

	t.Run("case=wrong password is permanent", func(t *testing.T) {
		srv := newServer(t, startTLSServer, cert)
		srv.user, srv.pass = "mailer", "right"
		_, err := newSender(t, "smtp://mailer:wrong@"+srv.addr, pool).SendEmail(ctx, email(""))
		if !isPermanent(err) {
			t.Fatalf("err = %v, want permanent", err)
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Fatalf("error %q shows the password", err)
		}
	})

	t.Run("case=connection refused is retryable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, err = newSender(t, "smtp://"+addr, nil).SendEmail(ctx, email(""))
		if err == nil || isPermanent(err) {
			t.Fatalf("err = %v, want retryable", err)
		}
	})

	t.Run("case=invalid recipient is permanent", func(t *testing.T) {
		s := newSender(t, "smtp://127.0.0.1:1", nil)
		m := email("")
		m.To = "not an address"
		if _, err := s.SendEmail(ctx, m); !isPermanent(err) {
			t.Fatalf("err = %v, want permanent", err)
		}
	})
}

func TestNew(t *testing.T) {
	for _, tc := range []struct{ url, from string }{
		{"http://host", "a@b.c"},
		{"smtp://", "a@b.c"},
		{"smtp://host:99999", "a@b.c"},
		{"smtp://host", "not an address"},
	} {
		t.Run("case=rejects "+tc.url+" from "+tc.from, func(t *testing.T) {
			if _, err := authsmtp.New(authsmtp.Config{URL: tc.url, From: tc.from}); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}
