package webhooks

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Defaults of a Client.
const (
	// DefaultTimeout bounds one attempt, from dialling to the end of the
	// answer's headers and the part of its body that is read.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxResponse is how much of an answer is read (and thrown
	// away): a receiver cannot make the worker read without end.
	DefaultMaxResponse = 64 << 10
)

// Client sends one delivery attempt at a time under its Policy: the URL
// checked again (scheme, shape), the address really connected to checked
// in the dialer (DNS rebinding), no proxy, no redirect followed (a 3xx is
// a failed attempt), a timeout, and a capped read of the answer.
type Client struct {
	Policy Policy
	// RootCAs verifies receivers' certificates; nil: the system's
	// (SSL_CERT_FILE and SSL_CERT_DIR move them).
	RootCAs *x509.CertPool
	// Timeout bounds an attempt; 0: DefaultTimeout.
	Timeout time.Duration
	// MaxResponse bounds the bytes of an answer read; 0:
	// DefaultMaxResponse.
	MaxResponse int64

	once sync.Once
	hc   *http.Client
}

// NewClient is a Client under p with the defaults.
func NewClient(p Policy) *Client { return &Client{Policy: p} }

// Result is one attempt's outcome: delivered when Err is nil (a 2xx).
// StatusCode is the answer's status, 0 when none came.
type Result struct {
	StatusCode int
	Err        error
}

// Delivered says whether the receiver answered 2xx.
func (r Result) Delivered() bool { return r.Err == nil }

func (c *Client) http() *http.Client {
	c.once.Do(func() {
		timeout := c.Timeout
		if timeout <= 0 {
			timeout = DefaultTimeout
		}
		p := c.Policy
		dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: p.control}
		tr := &http.Transport{
			// A proxy would be what the dialer checks, not the receiver.
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, port, err := net.SplitHostPort(addr)
				if err != nil {
					return nil, err
				}
				if ip := net.ParseIP(host); ip != nil {
					return dialer.DialContext(ctx, network, addr)
				}
				ips, err := p.resolve(ctx, host)
				if err != nil {
					return nil, fmt.Errorf("resolve %s: %w", host, err)
				}
				if len(ips) == 0 {
					return nil, fmt.Errorf("resolve %s: no address", host)
				}
				var errs []error
				for _, ip := range ips {
					conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
					if err == nil {
						return conn, nil
					}
					errs = append(errs, err)
				}
				return nil, errors.Join(errs...)
			},
			ForceAttemptHTTP2:     true,
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: c.RootCAs},
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       30 * time.Second,
		}
		c.hc = &http.Client{
			Transport: tr,
			Timeout:   timeout,
			// A redirect is not followed: its target was never checked,
			// and a receiver that moved must be configured again.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	return c.hc
}

// Send makes one attempt to deliver m to rawURL, signed with each of
// secrets (see NewRequest) and stamped now. It never retries: the Webhook
// workflow decides when to try again, with the same message id.
func (c *Client) Send(ctx context.Context, rawURL string, secrets []string, m Message, now time.Time) Result {
	if _, err := c.Policy.parse(rawURL); err != nil {
		return Result{Err: err}
	}
	req, err := NewRequest(ctx, rawURL, secrets, m, now)
	if err != nil {
		return Result{Err: err}
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return Result{Err: attemptError(err)}
	}
	defer resp.Body.Close()
	limit := c.MaxResponse
	if limit <= 0 {
		limit = DefaultMaxResponse
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, limit))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return Result{StatusCode: resp.StatusCode}
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return Result{StatusCode: resp.StatusCode, Err: fmt.Errorf("answered %s: redirects are not followed", resp.Status)}
	}
	return Result{StatusCode: resp.StatusCode, Err: fmt.Errorf("answered %s", resp.Status)}
}

// attemptError is what an admin reads of a failed attempt: the cause,
// without the URL net/http wraps around it (a URL may carry a token).
func attemptError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("no answer in time: %w", err)
	}
	return err
}
