package apitest

import (
	"net/http"
	"strings"
	"testing"
)

// TestContractRefusesNulls: an answer's null passes only where the document
// says a field may be null.
func TestContractRefusesNulls(t *testing.T) {
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	const flow = `"flow_id":"abcdefghijklmnop0123","state":"challenge","expires_at":"2026-01-01T00:00:00Z","attempts_left":5`
	for _, tc := range []struct {
		name, path, body, wantErr string
	}{
		{"case=a TOTP challenge without webauthn passes", "/v1/login/abcdefghijklmnop0123/challenge",
			`{` + flow + `,"method":"totp"}`, ""},
		{"case=a TOTP challenge with webauthn null fails", "/v1/login/abcdefghijklmnop0123/challenge",
			`{` + flow + `,"method":"totp","webauthn":null}`, "webauthn"},
		{"case=a passkey challenge passes", "/v1/login/abcdefghijklmnop0123/challenge",
			`{` + flow + `,"method":"webauthn","webauthn":{"publicKey":{"challenge":"abc","rpId":"localhost"}}}`, ""},
		{"case=a null inside the open passkey options fails", "/v1/login/abcdefghijklmnop0123/challenge",
			`{` + flow + `,"method":"webauthn","webauthn":{"publicKey":{"challenge":"abc","allowCredentials":null}}}`, "$.webauthn.publicKey.allowCredentials is null"},
		{"case=an enrollment's challenge with webauthn null fails", "/v1/me/enrollments",
			`{"flow_id":"abcdefghijklmnop0123","method":"email","state":"challenge","expires_at":"2026-01-01T00:00:00Z","attempts_left":5,"webauthn":null}`, "webauthn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.check("POST", tc.path, 200, h, []byte(tc.body))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatal("passed")
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("the error does not name %q: %v", tc.wantErr, err)
			}
		})
	}
	t.Run("case=a passkey that was never used has last_used_at null", func(t *testing.T) {
		if !c.nullable["last_used_at"] || c.nullable["session"] {
			t.Fatalf("nullable fields: %v", c.nullable)
		}
	})
}
