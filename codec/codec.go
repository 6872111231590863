// Package codec encrypts Temporal payloads with AES-256-GCM under a key
// derived from AUTHFLOW_SECRET_KEY, so workflow inputs, update arguments,
// results and activity data are ciphertext in Temporal's database and UI.
// Every authflow client (API, worker, CLI, tests, bench) uses DataConverter;
// the API serves the codec over HTTP (POST /codec/decode, /codec/encode) for
// an operator holding the admin token (the Temporal UI's "codec server").
//
// Two kinds of value stay readable: bare strings and the SDK's workflow
// metadata (the answer to the UI's __temporal_workflow_metadata query). They are what the Temporal UI shows as a flow's summary and
// current details (user, method, state), and authflow's contract never puts
// a secret in a bare string: secrets travel sealed inside structs. Search
// attributes are not payloads of the data converter and stay readable too.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/converter"
)

// Payload metadata the codec writes.
const (
	// Encoding marks an encrypted payload.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key that encrypted it (a fingerprint, not the
	// key): a payload from another key fails with a clear error.
	MetadataKeyID = "encryption-key-id"
)

// AESGCM is a converter.PayloadCodec: Encode seals each whole payload
// (metadata and data) into a new binary/encrypted payload; Decode opens
// those and passes any other payload through unchanged.
type AESGCM struct {
	aead  cipher.AEAD
	keyID string
}

var _ converter.PayloadCodec = (*AESGCM)(nil)

// New derives the codec's key from the 32-byte AUTHFLOW_SECRET_KEY: the same
// secret also seals TOTP secrets and signs session tokens, so each use gets
// its own key.
func New(secretKey []byte) (*AESGCM, error) {
	if len(secretKey) != 32 {
		return nil, errors.New("codec: the secret key must be 32 bytes")
	}
	m := hmac.New(sha256.New, secretKey)
	m.Write([]byte("authflow temporal payload codec v1"))
	key := m.Sum(nil)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	fp := sha256.Sum256(key)
	return &AESGCM{aead: aead, keyID: "authflow-" + hex.EncodeToString(fp[:6])}, nil
}

// KeyID is the fingerprint written to MetadataKeyID.
func (c *AESGCM) KeyID() string { return c.keyID }

// Encode implements converter.PayloadCodec.
func (c *AESGCM) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := p.Marshal()
		if err != nil {
			return payloads, fmt.Errorf("codec: %w", err)
		}
		nonce := make([]byte, c.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return payloads, fmt.Errorf("codec: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(c.keyID),
			},
			Data: c.aead.Seal(nonce, nonce, plain, []byte(c.keyID)),
		}
	}
	return out, nil
}

// Decode implements converter.PayloadCodec.
func (c *AESGCM) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		if id := string(p.GetMetadata()[MetadataKeyID]); id != c.keyID {
			return payloads, fmt.Errorf("codec: payload encrypted under key %q, this process has %q (was AUTHFLOW_SECRET_KEY changed?)", id, c.keyID)
		}
		n := c.aead.NonceSize()
		if len(p.GetData()) < n {
			return payloads, errors.New("codec: encrypted payload too short")
		}
		plain, err := c.aead.Open(nil, p.Data[:n], p.Data[n:], []byte(c.keyID))
		if err != nil {
			return payloads, errors.New("codec: encrypted payload does not open (tampered, or another key)")
		}
		var dec commonpb.Payload
		if err := dec.Unmarshal(plain); err != nil {
			return payloads, fmt.Errorf("codec: %w", err)
		}
		out[i] = &dec
	}
	return out, nil
}

// DataConverter is the data converter every authflow client uses: the SDK's
// default converter, with every payload but the readable ones (see the
// package doc) encrypted by the codec.
func DataConverter(secretKey []byte) (converter.DataConverter, error) {
	c, err := New(secretKey)
	if err != nil {
		return nil, err
	}
	plain := converter.GetDefaultDataConverter()
	return &selective{DataConverter: converter.NewCodecDataConverter(plain, c), plain: plain}, nil
}

// selective encrypts everything except readable values; decoding needs no
// choice (the codec passes unencrypted payloads through).
type selective struct {
	converter.DataConverter // encrypting
	plain                   converter.DataConverter
}

// workflowMetadata is the message type of the UI's metadata query answer
// (the SDK hands it over already converted, as a RawValue).
var workflowMetadata = string((&sdkpb.WorkflowMetadata{}).ProtoReflect().Descriptor().FullName())

func readable(v any) bool {
	switch v := v.(type) {
	case string:
		return true
	case converter.RawValue:
		return string(v.Payload().GetMetadata()[converter.MetadataMessageType]) == workflowMetadata
	}
	return false
}

func (s *selective) ToPayload(v any) (*commonpb.Payload, error) {
	if readable(v) {
		return s.plain.ToPayload(v)
	}
	return s.DataConverter.ToPayload(v)
}

func (s *selective) ToPayloads(values ...any) (*commonpb.Payloads, error) {
	if len(values) == 0 {
		return s.DataConverter.ToPayloads()
	}
	out := &commonpb.Payloads{Payloads: make([]*commonpb.Payload, len(values))}
	for i, v := range values {
		p, err := s.ToPayload(v)
		if err != nil {
			return nil, fmt.Errorf("values[%d]: %w", i, err)
		}
		out.Payloads[i] = p
	}
	return out, nil
}
