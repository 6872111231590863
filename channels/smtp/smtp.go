// Package smtp sends authflow's email (codes and notices) over SMTP with
// github.com/wneessen/go-mail: a text and an HTML part, a Message-ID and an
// X-Authflow-Idempotency-Key header derived from the send's idempotency key,
// STARTTLS whenever the server offers it (smtp://) or implicit TLS
// (smtps://).
package smtp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/internal/sendonce"
)

// IdempotencyHeader carries a digest of the send's idempotency key, so a
// duplicate can be recognised downstream. It is a digest because the key
// names the flow, and flow ids are bearer secrets.
const IdempotencyHeader = "X-Authflow-Idempotency-Key"

// Default ports: submission with STARTTLS, and implicit TLS.
const (
	DefaultPort    = 587
	DefaultTLSPort = 465
	defaultTimeout = 15 * time.Second
)

// Config is what the sender needs; worker.NewActivities fills it from
// SMTP_URL and SMTP_FROM.
type Config struct {
	// URL is smtp://[user[:password]@]host[:port] (STARTTLS when the server
	// offers it, port 587 by default) or smtps://… (implicit TLS, port 465).
	// User and password are URL-encoded.
	URL string
	// From is the sender, "no-reply@example.com" or "authflow <no-reply@example.com>".
	From string
	// TLSConfig verifies the server; nil means the system roots and the
	// URL's host name.
	TLSConfig *tls.Config
	// Timeout bounds connecting and each SMTP command (15 s when 0).
	Timeout time.Duration
}

// Sender is the SMTP adapter. It is safe for concurrent use: every email
// gets its own connection (authflow sends few, and a pooled connection
// would have to survive server idle timeouts).
type Sender struct {
	host, user, pass string
	port             int
	implicitTLS      bool
	from, domain     string
	tls              *tls.Config
	timeout          time.Duration
	sent             *sendonce.Cache[string]
}

var _ channels.EmailSender = (*Sender)(nil)

// New parses cfg and returns the sender. It does not connect.
func New(cfg Config) (*Sender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, errors.New("smtp: SMTP_URL is not a URL") // the URL may hold a password: not echoed
	}
	s := &Sender{host: u.Hostname(), timeout: cfg.Timeout, sent: sendonce.New[string](sendonce.DefaultTTL, sendonce.DefaultMax)}
	switch u.Scheme {
	case "smtp":
		s.port = DefaultPort
	case "smtps":
		s.port, s.implicitTLS = DefaultTLSPort, true
	default:
		return nil, fmt.Errorf("smtp: SMTP_URL scheme %q, want smtp or smtps", u.Scheme)
	}
	if s.host == "" {
		return nil, errors.New("smtp: SMTP_URL has no host")
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil || s.port < 1 || s.port > 65535 {
			return nil, fmt.Errorf("smtp: SMTP_URL port %q is not a port", p)
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	addr, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: SMTP_FROM %q is not an email address: %v", cfg.From, err)
	}
	s.from = addr.String()
	s.domain = addr.Address[strings.LastIndexByte(addr.Address, '@')+1:]
	if cfg.TLSConfig != nil {
		s.tls = cfg.TLSConfig.Clone()
	} else {
		s.tls = &tls.Config{}
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = s.host
	}
	if s.tls.MinVersion == 0 {
		s.tls.MinVersion = tls.VersionTLS12
	}
	if s.timeout <= 0 {
		s.timeout = defaultTimeout
	}
	return s, nil
}

// SendEmail sends m as multipart/alternative (text, then HTML) and returns
// its Message-ID. A retry with the same key returns the first Message-ID
// instead of sending again.
func (s *Sender) SendEmail(ctx context.Context, m channels.Email) (string, error) {
	return s.sent.Do(ctx, m.Key, func() (string, error) {
		msg, id, err := s.message(m)
		if err != nil {
			return "", &channels.PermanentError{Err: err}
		}
		c, err := mail.NewClient(s.host, s.options()...)
		if err != nil {
			return "", &channels.PermanentError{Err: fmt.Errorf("smtp: %w", err)}
		}
		if err := c.DialAndSendWithContext(ctx, msg); err != nil {
			return "", classify(err)
		}
		return id, nil
	})
}

func (s *Sender) options() []mail.Option {
	opts := []mail.Option{mail.WithPort(s.port), mail.WithTimeout(s.timeout), mail.WithTLSConfig(s.tls.Clone())}
	if s.implicitTLS {
		opts = append(opts, mail.WithSSL())
	} else {
		// Encrypt whenever the server can; a server without STARTTLS (a
		// local relay, Mailpit) still gets the mail.
		opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
	}
	if s.user != "" {
		// Auto-discovery picks the strongest mechanism the server offers and
		// never sends a password in clear over an unencrypted connection.
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(s.user), mail.WithPassword(s.pass))
	}
	return opts
}

// message builds the email; the returned id is its Message-ID.
func (s *Sender) message(m channels.Email) (*mail.Msg, string, error) {
	msg := mail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return nil, "", fmt.Errorf("smtp: sender %q: %w", s.from, err)
	}
	if err := msg.To(m.To); err != nil {
		return nil, "", fmt.Errorf("smtp: recipient %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	// RFC 3834: out-of-office robots must not answer a code.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	var digest string
	if m.Key != "" {
		sum := sha256.Sum256([]byte("authflow email\x00" + m.Key))
		digest = hex.EncodeToString(sum[:16])
		msg.SetGenHeader(IdempotencyHeader, digest)
	} else {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		digest = hex.EncodeToString(b)
	}
	id := digest + "@" + s.domain
	msg.SetMessageIDWithValue(id)
	msg.SetBodyString(mail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.HTML)
	}
	return msg, "<" + id + ">", nil
}

// classify makes permanent SMTP answers (5xx: mailbox unavailable, relay
// denied, authentication failed) *channels.PermanentError; 4xx answers and
// connection failures stay retryable.
func classify(err error) error {
	var se *mail.SendError
	if errors.As(err, &se) {
		switch {
		case se.Reason == mail.ErrGetSender, se.Reason == mail.ErrGetRcpts, se.Reason == mail.ErrNoUnencoded:
			return &channels.PermanentError{Err: err}
		case se.ErrorCode() >= 500 && !se.IsTemp():
			return &channels.PermanentError{Err: err}
		}
		return err
	}
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return &channels.PermanentError{Err: err}
	}
	// No mechanism fits (only PLAIN or LOGIN offered without TLS, or no
	// AUTH at all): the configuration must change, retrying cannot help.
	if errors.Is(err, mail.ErrNoSupportedAuthDiscovered) || strings.Contains(err.Error(), "does not support SMTP AUTH") {
		return &channels.PermanentError{Err: err}
	}
	return err
}

// Code returns the SMTP reply code in err (550, 421, …) or 0.
func Code(err error) int {
	var se *mail.SendError
	if errors.As(err, &se) {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
