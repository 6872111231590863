package codec

import (
	"bytes"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestAESGCM(t *testing.T) {
	c, err := New(key(1))
	if err != nil {
		t.Fatal(err)
	}
	in, _ := converter.GetDefaultDataConverter().ToPayload(map[string]string{"code": "123456"})
	enc, err := c.Encode([]*commonpb.Payload{in})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("case=ciphertext hides the payload and names the key", func(t *testing.T) {
		if string(enc[0].Metadata[converter.MetadataEncoding]) != Encoding || string(enc[0].Metadata[MetadataKeyID]) != c.KeyID() {
			t.Fatalf("metadata %v", enc[0].Metadata)
		}
		if bytes.Contains(enc[0].Data, []byte("123456")) || bytes.Contains(enc[0].Data, []byte("json/plain")) {
			t.Fatal("the ciphertext shows the plaintext")
		}
	})
	t.Run("case=decode gives back the payload", func(t *testing.T) {
		dec, err := c.Decode(enc)
		if err != nil || !proto.Equal(dec[0], in) {
			t.Fatalf("decode = %v, %v", dec, err)
		}
	})
	t.Run("case=unencrypted payloads pass through", func(t *testing.T) {
		dec, err := c.Decode([]*commonpb.Payload{in})
		if err != nil || dec[0] != in {
			t.Fatalf("decode = %v, %v", dec, err)
		}
	})
	t.Run("case=another key is refused", func(t *testing.T) {
		other, _ := New(key(2))
		if _, err := other.Decode(enc); err == nil || !strings.Contains(err.Error(), "AUTHFLOW_SECRET_KEY") {
			t.Fatalf("decode under another key: %v", err)
		}
	})
	t.Run("case=tampering is detected", func(t *testing.T) {
		bad := proto.Clone(enc[0]).(*commonpb.Payload)
		bad.Data[len(bad.Data)-1] ^= 1
		if _, err := c.Decode([]*commonpb.Payload{bad}); err == nil {
			t.Fatal("a flipped bit decoded")
		}
	})
	t.Run("case=the key must be 32 bytes", func(t *testing.T) {
		if _, err := New(key(1)[:16]); err == nil {
			t.Fatal("a 16-byte key was accepted")
		}
	})
}

func TestDataConverter(t *testing.T) {
	dc, err := DataConverter(key(3))
	if err != nil {
		t.Fatal(err)
	}
	type view struct{ FlowID string }
	ps, err := dc.ToPayloads("Login (password)", view{FlowID: "f1"})
	if err != nil {
		t.Fatal(err)
	}
	if e := string(ps.Payloads[0].Metadata[converter.MetadataEncoding]); e != "json/plain" {
		t.Errorf("a bare string is %q, want it readable", e)
	}
	if e := string(ps.Payloads[1].Metadata[converter.MetadataEncoding]); e != Encoding {
		t.Errorf("a struct is %q, want it encrypted", e)
	}
	var s string
	var v view
	if err := dc.FromPayloads(ps, &s, &v); err != nil || s != "Login (password)" || v.FlowID != "f1" {
		t.Fatalf("round trip = %q %+v %v", s, v, err)
	}
}
