// Package webhooks is what authflow's webhooks are on the wire: the
// payload, its Standard Webhooks signature (https://www.standardwebhooks.com,
// the "symmetric" scheme), the secrets that sign it, the event types an
// endpoint may ask for, and an HTTP client that sends one delivery attempt
// without letting a webhook URL reach inside the network it runs in
// (docs/security.md "Webhooks"). Durability — the outbox, retries, order —
// is the Webhook workflow's (docs/design.md "Webhooks").
package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery, as the Standard Webhooks specification names them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every signing secret; the rest is the base64 of the
// HMAC key.
const SecretPrefix = "whsec_"

// PurposeSecret is the security.Sealer purpose a signing secret is sealed
// for in the store.
const PurposeSecret = "webhook-secret"

// secretBytes is the length of a new secret's key: 256 bits, inside the
// 24–64 bytes the specification recommends.
const secretBytes = 32

// NewSecret draws a signing secret: "whsec_" and the base64 of 32 random
// bytes.
func NewSecret() string {
	key := make([]byte, secretBytes)
	if _, err := rand.Read(key); err != nil {
		panic("webhooks: crypto/rand failed: " + err.Error())
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// ErrBadSecret is a secret that is not "whsec_" and the base64 of 24 to 64
// bytes.
var ErrBadSecret = errors.New("webhooks: a secret is whsec_ and the base64 of 24 to 64 bytes")

// secretKey is the HMAC key of a secret: the base64 part, decoded.
func secretKey(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, ErrBadSecret
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, ErrBadSecret
	}
	return key, nil
}

// Sign is the webhook-signature header of a message: "v1," and the base64
// of HMAC-SHA256(key, id + "." + timestamp + "." + body), the timestamp in
// Unix seconds as the webhook-timestamp header carries it.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, timestamp, body)), nil
}

func mac(key []byte, id string, timestamp int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	m.Write(body)
	return m.Sum(nil)
}

// Tolerance is how far from the receiver's clock a timestamp may be: the
// specification's default, which bounds how long a captured delivery can
// be replayed.
const Tolerance = 5 * time.Minute

// Verification failures.
var (
	ErrMissingHeaders = errors.New("webhooks: webhook-id, webhook-timestamp and webhook-signature are required")
	ErrTimestamp      = errors.New("webhooks: webhook-timestamp is malformed or too far from now")
	ErrSignature      = errors.New("webhooks: no signature matches")
)

// Verify checks a delivery as a receiver does: the timestamp within
// Tolerance of now, and one of the space-separated v1 signatures equal
// (in constant time) to the body's. Receivers in other languages use any
// Standard Webhooks library instead.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(sec, 0)); d >= Tolerance || d <= -Tolerance {
		return ErrTimestamp
	}
	want := mac(key, id, sec, body)
	for _, s := range strings.Fields(sigs) {
		v, b64, ok := strings.Cut(s, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrSignature
}

// Message is one event as a delivery's body carries it:
// {"id","type","occurred_at","user_id","data"}. ID is the audit event's
// id, which is also the webhook-id header: the same on every attempt, so
// a receiver drops duplicates by it.
type Message struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	OccurredAt time.Time      `json:"occurred_at"`
	UserID     string         `json:"user_id"`
	Data       map[string]any `json:"data"`
}

// Body is the message's JSON, occurred_at in UTC; no data is {}.
func (m Message) Body() ([]byte, error) {
	if m.Data == nil {
		m.Data = map[string]any{}
	}
	m.OccurredAt = m.OccurredAt.UTC()
	return json.Marshal(m)
}

// UserAgent names authflow to receivers.
const UserAgent = "authflow-webhooks/1"

// NewRequest is the POST of m to url, stamped now and signed with each of
// secrets (at least one): webhook-signature carries a signature per
// secret, space-separated, as the specification allows while a secret is
// rotated — a receiver that knows either one verifies.
func NewRequest(ctx context.Context, url string, secrets []string, m Message, now time.Time) (*http.Request, error) {
	if len(secrets) == 0 {
		// Nothing unsigned is ever sent.
		return nil, ErrBadSecret
	}
	body, err := m.Body()
	if err != nil {
		return nil, fmt.Errorf("webhooks: encode message %s: %w", m.ID, err)
	}
	ts := now.Unix()
	sigs := make([]string, len(secrets))
	for i, secret := range secrets {
		if sigs[i], err = Sign(secret, m.ID, ts, body); err != nil {
			return nil, err
		}
	}
	sig := strings.Join(sigs, " ")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderID, m.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, sig)
	return req, nil
}
