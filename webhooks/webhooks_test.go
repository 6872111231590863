package webhooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/webhooks"
)

// specVerify checks a delivery exactly as the Standard Webhooks
// specification describes it, written from the specification and not
// from authflow's code: the secret is "whsec_" followed by the base64 of
// the key; the signed content is the webhook-id, the webhook-timestamp
// and the body joined by full stops; webhook-signature is a
// space-delimited list of "<version>,<base64 signature>" entries of which
// one "v1" entry must match; the timestamp must be within 5 minutes.
func specVerify(secret string, header http.Header, body []byte, now time.Time) error {
	const prefix = "whsec_"
	if !strings.HasPrefix(secret, prefix) {
		return errors.New("secret without whsec_")
	}
	key, err := base64.StdEncoding.DecodeString(secret[len(prefix):])
	if err != nil {
		return err
	}
	msgID := header.Get("Webhook-Id")
	stamp := header.Get("Webhook-Timestamp")
	list := header.Get("Webhook-Signature")
	if msgID == "" || stamp == "" || list == "" {
		return errors.New("missing header")
	}
	secs, err := strconv.ParseInt(stamp, 10, 64)
	if err != nil {
		return errors.New("timestamp not an integer")
	}
	if diff := now.Unix() - secs; diff > 300 || diff < -300 {
		return errors.New("timestamp outside 5 minutes")
	}
	content := []byte(msgID + "." + stamp + ".")
	content = append(content, body...)
	h := hmac.New(sha256.New, key)
	h.Write(content)
	expected := base64.StdEncoding.EncodeToString(h.Sum(nil))
	for _, entry := range strings.Split(list, " ") {
		parts := strings.SplitN(entry, ",", 2)
		if len(parts) == 2 && parts[0] == "v1" && hmac.Equal([]byte(parts[1]), []byte(expected)) {
			return nil
		}
	}
	return errors.New("no v1 signature matches")
}

func TestSignature(t *testing.T) {
	t.Run("case=the specification's test vector", func(t *testing.T) {
		// From the Standard Webhooks reference library's tests
		// (libraries/go/webhook_test.go, TestWebhookSign).
		got, err := webhooks.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
			[]byte(`{"test": 2432232314}`))
		if err != nil {
			t.Fatal(err)
		}
		if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
			t.Fatalf("Sign = %s, want %s", got, want)
		}
	})
	secret := webhooks.NewSecret()
	now := time.Now()
	msg := webhooks.Message{ID: "ev123", Type: "login_failed", OccurredAt: now.Add(-time.Minute), UserID: "u1",
		Data: map[string]any{"reason": "wrong_password"}}
	signed := func(t *testing.T) (http.Header, []byte) {
		t.Helper()
		req, err := webhooks.NewRequest(context.Background(), "https://hooks.example.com/x", []string{secret}, msg, now)
		if err != nil {
			t.Fatal(err)
		}
		body, err := readAll(req)
		if err != nil {
			t.Fatal(err)
		}
		return req.Header, body
	}
	t.Run("case=a request verifies with an independent implementation of the specification", func(t *testing.T) {
		h, body := signed(t)
		if err := specVerify(secret, h, body, now); err != nil {
			t.Fatalf("independent verification: %v (headers %v)", err, h)
		}
		if err := webhooks.Verify(secret, h, body, now); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if h.Get("webhook-id") != "ev123" || h.Get("webhook-timestamp") != strconv.FormatInt(now.Unix(), 10) ||
			h.Get("Content-Type") != "application/json" {
			t.Errorf("headers %v", h)
		}
	})
	t.Run("case=a changed body, id or timestamp, or another secret, does not verify", func(t *testing.T) {
		h, body := signed(t)
		other := webhooks.NewSecret()
		for name, tc := range map[string]struct {
			secret string
			h      http.Header
			body   []byte
		}{
			"body":      {secret, h, bytes.Replace(body, []byte("wrong_password"), []byte("wrong_passwore"), 1)},
			"id":        {secret, with(h, "webhook-id", "ev124"), body},
			"timestamp": {secret, with(h, "webhook-timestamp", strconv.FormatInt(now.Unix()+1, 10)), body},
			"secret":    {other, h, body},
			"version":   {secret, with(h, "webhook-signature", strings.Replace(h.Get("webhook-signature"), "v1,", "v2,", 1)), body},
		} {
			if err := specVerify(tc.secret, tc.h, tc.body, now); err == nil {
				t.Errorf("%s changed: the independent verifier accepted it", name)
			}
			if err := webhooks.Verify(tc.secret, tc.h, tc.body, now); err == nil {
				t.Errorf("%s changed: Verify accepted it", name)
			}
		}
	})
	t.Run("case=signed with two secrets while one is rotated: either verifies, a third does not, none is refused", func(t *testing.T) {
		next := webhooks.NewSecret()
		req, err := webhooks.NewRequest(context.Background(), "https://hooks.example.com/x", []string{next, secret}, msg, now)
		if err != nil {
			t.Fatal(err)
		}
		body, err := readAll(req)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(strings.Fields(req.Header.Get("webhook-signature"))); n != 2 {
			t.Fatalf("webhook-signature %q: %d signatures, want 2", req.Header.Get("webhook-signature"), n)
		}
		for _, s := range []string{next, secret} {
			if err := specVerify(s, req.Header, body, now); err != nil {
				t.Errorf("independent verification with one of the two: %v", err)
			}
		}
		if err := specVerify(webhooks.NewSecret(), req.Header, body, now); err == nil {
			t.Error("a third secret verified")
		}
		if _, err := webhooks.NewRequest(context.Background(), "https://hooks.example.com/x", nil, msg, now); !errors.Is(err, webhooks.ErrBadSecret) {
			t.Errorf("no secret: %v, want ErrBadSecret (nothing unsigned is sent)", err)
		}
	})
	t.Run("case=Verify takes one matching signature of several and refuses an old timestamp", func(t *testing.T) {
		h, body := signed(t)
		several := with(h, "webhook-signature", "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "+h.Get("webhook-signature"))
		if err := webhooks.Verify(secret, several, body, now); err != nil {
			t.Errorf("several signatures: %v", err)
		}
		if err := webhooks.Verify(secret, h, body, now.Add(webhooks.Tolerance)); !errors.Is(err, webhooks.ErrTimestamp) {
			t.Errorf("5 minutes later: %v, want ErrTimestamp", err)
		}
		if err := webhooks.Verify(secret, with(h, "webhook-id", ""), body, now); !errors.Is(err, webhooks.ErrMissingHeaders) {
			t.Errorf("no id: %v", err)
		}
	})
	t.Run("case=secrets are whsec_ and 32 random bytes; malformed ones sign nothing", func(t *testing.T) {
		a, b := webhooks.NewSecret(), webhooks.NewSecret()
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
		if !strings.HasPrefix(a, "whsec_") || err != nil || len(key) != 32 || a == b {
			t.Fatalf("secrets %q %q", a, b)
		}
		for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not base64!", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 8))} {
			if _, err := webhooks.Sign(bad, "id", 1, nil); !errors.Is(err, webhooks.ErrBadSecret) {
				t.Errorf("Sign with %q: %v", bad, err)
			}
		}
	})
}

func with(h http.Header, k, v string) http.Header {
	c := h.Clone()
	c.Set(k, v)
	return c
}

func readAll(req *http.Request) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(req.Body)
	return b.Bytes(), err
}

func TestPayload(t *testing.T) {
	t.Run("case=the body is id, type, occurred_at in UTC, user_id and data", func(t *testing.T) {
		at := time.Date(2026, 5, 1, 12, 30, 0, 0, time.FixedZone("EEST", 3*3600))
		body, err := webhooks.Message{ID: "e1", Type: "password_changed", OccurredAt: at, UserID: "u1"}.Body()
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		keys := []string{}
		for k := range got {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, []string{"data", "id", "occurred_at", "type", "user_id"}) {
			t.Fatalf("keys %v in %s", keys, body)
		}
		if got["occurred_at"] != "2026-05-01T09:30:00Z" || got["id"] != "e1" || got["type"] != "password_changed" || got["user_id"] != "u1" {
			t.Errorf("body %s", body)
		}
		if d, ok := got["data"].(map[string]any); !ok || len(d) != 0 {
			t.Errorf("no data should be {}: %s", body)
		}
	})
}

func TestEventFilter(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
		bad  string
	}{
		{name: "known types are kept in order, once", in: []string{"login_failed", "password_changed", "login_failed"}, want: []string{"login_failed", "password_changed"}},
		{name: "star is every type, alone", in: []string{"login_failed", "*"}, want: []string{"*"}},
		{name: "an unknown type is refused, named", in: []string{"login_failed", "login_faild"}, bad: `"login_faild"`},
		{name: "an unknown type beside star is refused too", in: []string{"*", "bogus"}, bad: `"bogus"`},
		{name: "no type is refused", in: nil, bad: "at least one"},
		{name: "an empty name is refused", in: []string{""}, bad: `""`},
	} {
		t.Run("case="+tc.name, func(t *testing.T) {
			got, err := webhooks.ParseFilter(tc.in)
			if tc.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tc.bad) {
					t.Fatalf("ParseFilter(%q) = %v, %v; want an error naming %s", tc.in, got, err, tc.bad)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParseFilter(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}
