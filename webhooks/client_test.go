package webhooks_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/webhooks"
)

// receiver is a webhook receiver on loopback that keeps what it got.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	hand http.HandlerFunc // nil: 204
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, tls bool, hand http.HandlerFunc) *receiver {
	r := &receiver{hand: hand}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		r.mu.Unlock()
		if r.hand != nil {
			r.hand(w, req)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	if tls {
		r.Server = httptest.NewTLSServer(h)
	} else {
		r.Server = httptest.NewServer(h)
	}
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

var testMsg = webhooks.Message{ID: "ev-1", Type: "password_changed", OccurredAt: time.Now().Add(-time.Second), UserID: "u1",
	Data: map[string]any{"ip": "203.0.113.9"}}

func TestClient(t *testing.T) {
	secret := webhooks.NewSecret()
	open := webhooks.Policy{AllowHTTP: true, AllowPrivate: true}
	t.Run("case=a 2xx is delivered: one signed POST carrying the message", func(t *testing.T) {
		r := newReceiver(t, false, nil)
		now := time.Now()
		res := webhooks.NewClient(open).Send(context.Background(), r.URL+"/hooks", []string{secret}, testMsg, now)
		if !res.Delivered() || res.StatusCode != 204 {
			t.Fatalf("result %+v", res)
		}
		got := r.requests()
		if len(got) != 1 {
			t.Fatalf("%d requests", len(got))
		}
		if err := specVerify(secret, got[0].header, got[0].body, time.Now()); err != nil {
			t.Fatalf("the receiver's independent check: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(got[0].body, &m); err != nil || m["id"] != "ev-1" || m["type"] != "password_changed" ||
			m["user_id"] != "u1" || got[0].header.Get("webhook-id") != "ev-1" {
			t.Fatalf("body %s (%v), headers %v", got[0].body, err, got[0].header)
		}
	})
	t.Run("case=https to a receiver whose certificate the roots hold", func(t *testing.T) {
		r := newReceiver(t, true, nil)
		roots := x509.NewCertPool()
		roots.AddCert(r.Certificate())
		c := &webhooks.Client{Policy: webhooks.Policy{AllowPrivate: true}, RootCAs: roots}
		if res := c.Send(context.Background(), r.URL, []string{secret}, testMsg, time.Now()); !res.Delivered() {
			t.Fatalf("result %+v", res)
		}
		// The system's roots do not hold it: not delivered.
		if res := webhooks.NewClient(webhooks.Policy{AllowPrivate: true}).Send(context.Background(), r.URL, []string{secret}, testMsg, time.Now()); res.Delivered() {
			t.Fatal("delivered to an untrusted certificate")
		}
	})
	t.Run("case=other statuses are failed attempts with their status", func(t *testing.T) {
		for _, status := range []int{400, 410, 500, 503} {
			r := newReceiver(t, false, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) })
			res := webhooks.NewClient(open).Send(context.Background(), r.URL, []string{secret}, testMsg, time.Now())
			if res.Delivered() || res.StatusCode != status || !strings.Contains(res.Err.Error(), "answered") {
				t.Errorf("status %d: %+v", status, res)
			}
		}
	})
	t.Run("case=loopback is refused when the dialer connects, even to a URL that looks allowed", func(t *testing.T) {
		r := newReceiver(t, false, nil)
		// http is allowed (dev) but private addresses are not.
		res := webhooks.NewClient(webhooks.Policy{AllowHTTP: true}).Send(context.Background(), r.URL, []string{secret}, testMsg, time.Now())
		if res.Delivered() || !errors.Is(res.Err, webhooks.ErrForbiddenAddress) {
			t.Fatalf("result %+v, want ErrForbiddenAddress", res)
		}
		if n := len(r.requests()); n != 0 {
			t.Fatalf("the receiver got %d requests", n)
		}
	})
	t.Run("case=DNS rebinding: a name checked as public that resolves to loopback at connect time is refused", func(t *testing.T) {
		r := newReceiver(t, false, nil)
		u, _ := url.Parse(r.URL)
		dns := fakeDNS{"rebind.example.com": {{"93.184.216.34"}, {"127.0.0.1"}}}
		p := webhooks.Policy{AllowHTTP: true, Resolve: dns.resolve}
		target := "http://rebind.example.com:" + u.Port() + "/hooks"
		if err := p.CheckURL(context.Background(), target); err != nil {
			t.Fatalf("the first answer is public, the check passes: %v", err)
		}
		res := webhooks.NewClient(p).Send(context.Background(), target, []string{secret}, testMsg, time.Now())
		if res.Delivered() || !errors.Is(res.Err, webhooks.ErrForbiddenAddress) || !strings.Contains(res.Err.Error(), "127.0.0.1") {
			t.Fatalf("result %+v, want the dialer's refusal of 127.0.0.1", res)
		}
		if n := len(r.requests()); n != 0 {
			t.Fatalf("the receiver got %d requests", n)
		}
	})
	t.Run("case=a redirect is not followed, to a private address or anywhere", func(t *testing.T) {
		target := newReceiver(t, false, nil)
		for _, loc := range []string{"http://169.254.169.254/latest/meta-data/", target.URL + "/elsewhere"} {
			r := newReceiver(t, false, func(w http.ResponseWriter, req *http.Request) {
				http.Redirect(w, req, loc, http.StatusFound)
			})
			res := webhooks.NewClient(open).Send(context.Background(), r.URL, []string{secret}, testMsg, time.Now())
			if res.Delivered() || res.StatusCode != 302 || !strings.Contains(res.Err.Error(), "redirects are not followed") {
				t.Errorf("redirect to %s: %+v", loc, res)
			}
		}
		if n := len(target.requests()); n != 0 {
			t.Fatalf("the redirect's target got %d requests", n)
		}
	})
	t.Run("case=a receiver that does not answer in time is a failed attempt", func(t *testing.T) {
		release := make(chan struct{})
		r := newReceiver(t, false, func(w http.ResponseWriter, req *http.Request) {
			select {
			case <-release:
			case <-req.Context().Done():
			}
		})
		defer close(release)
		c := &webhooks.Client{Policy: open, Timeout: 300 * time.Millisecond}
		start := time.Now()
		res := c.Send(context.Background(), r.URL, []string{secret}, testMsg, time.Now())
		if res.Delivered() || time.Since(start) > 5*time.Second {
			t.Fatalf("result %+v after %s", res, time.Since(start))
		}
	})
	t.Run("case=an endless answer is read only up to the cap", func(t *testing.T) {
		r := newReceiver(t, false, func(w http.ResponseWriter, req *http.Request) {
			w.WriteHeader(http.StatusOK)
			chunk := []byte(strings.Repeat("x", 32<<10))
			for req.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})
		c := &webhooks.Client{Policy: open, Timeout: 20 * time.Second, MaxResponse: 1 << 10}
		start := time.Now()
		res := c.Send(context.Background(), r.URL, []string{secret}, testMsg, time.Now())
		if !res.Delivered() || time.Since(start) > 5*time.Second {
			t.Fatalf("result %+v after %s: the answer was read past the cap", res, time.Since(start))
		}
	})
	t.Run("case=the URL is checked again when sending", func(t *testing.T) {
		for _, u := range []string{"http://hooks.example.com/", "https://user:pw@hooks.example.com/", "https://2130706433/"} {
			if res := webhooks.NewClient(webhooks.Policy{}).Send(context.Background(), u, []string{secret}, testMsg, time.Now()); res.Delivered() {
				t.Errorf("%s delivered", u)
			} else if _, ok := errors.AsType[*webhooks.URLError](res.Err); !ok {
				t.Errorf("%s: %v, want a URL refusal", u, res.Err)
			}
		}
	})
}
