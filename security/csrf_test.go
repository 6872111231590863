package security_test

import (
	"bytes"
	"testing"

	"github.com/authflow/authflow/security"
)

func TestCSRFToken(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	t.Run("case=the CSRF token is bound to the session token and the key", func(t *testing.T) {
		a := security.CSRFToken(key, "session-a")
		if len(a)*5 < 128 || a != security.CSRFToken(key, "session-a") {
			t.Fatalf("token %q", a)
		}
		if a == security.CSRFToken(key, "session-b") || a == security.CSRFToken(bytes.Repeat([]byte{2}, 32), "session-a") ||
			a == security.SessionToken(key, "session-a", "") {
			t.Fatal("the CSRF token does not depend on the session, the key and its purpose")
		}
	})
	t.Run("case=only the session's own token matches", func(t *testing.T) {
		if !security.CSRFTokenMatches(key, "session-a", security.CSRFToken(key, "session-a")) {
			t.Fatal("the right token does not match")
		}
		for _, bad := range []string{"", "planted", security.CSRFToken(key, "session-b")} {
			if security.CSRFTokenMatches(key, "session-a", bad) {
				t.Fatalf("%q matches", bad)
			}
		}
	})
}
