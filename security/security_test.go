package security_test

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/authflow/authflow/security"
)

// allocated returns the bytes f allocates: argon2id's cost is its memory, so
// an equal allocation means an equal amount of work, without timing.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestHasher(t *testing.T) {
	h := security.NewHasher(security.DefaultArgon2)
	hash, err := h.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("case=argon2id at OWASP's floor or stronger", func(t *testing.T) {
		p := security.DefaultArgon2
		if p.MemoryKiB < 19*1024 || p.Time < 2 || p.Threads < 1 || !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Fatalf("params %+v hash %s", p, hash)
		}
	})
	t.Run("case=right password verifies, wrong does not, salts differ", func(t *testing.T) {
		if !h.Verify(hash, "correct horse") || h.Verify(hash, "correct horsE") {
			t.Fatal("verify is wrong")
		}
		again, _ := h.Hash("correct horse")
		if again == hash {
			t.Fatal("two hashes of one password are equal: no salt")
		}
	})
	t.Run("case=an unknown account costs a full argon2id verification", func(t *testing.T) {
		known := allocated(func() { h.Verify(hash, "wrong") })
		unknown := allocated(func() { h.Verify("", "wrong") })
		if known < 19<<20 || unknown < known*9/10 {
			t.Fatalf("known account allocates %d bytes, unknown %d: the dummy verification is missing or cheaper", known, unknown)
		}
		if h.Verify("", "") {
			t.Fatal("an unknown account verified")
		}
	})
	t.Run("case=malformed hashes and huge passwords never verify", func(t *testing.T) {
		for _, bad := range []string{"x", "$argon2i$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=1$$"} {
			if h.Verify(bad, "x") {
				t.Fatalf("%q verified", bad)
			}
		}
		if _, err := h.Hash(strings.Repeat("x", 1025)); err == nil {
			t.Fatal("a 1025-byte password was hashed")
		}
	})
}

func TestSealer(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := security.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("case=sealed values open for their purpose only", func(t *testing.T) {
		sealed := s.Seal(security.PurposeTOTPSecret, []byte("JBSWY3DPEHPK3PXP"))
		if bytes.Contains(sealed, []byte("JBSWY3DPEHPK3PXP")) {
			t.Fatal("plaintext visible in the sealed value")
		}
		if got, err := s.Open(security.PurposeTOTPSecret, sealed); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
			t.Fatalf("open: %q %v", got, err)
		}
		if _, err := s.Open(security.PurposeSession, sealed); err == nil {
			t.Fatal("opened under another purpose")
		}
		sealed[len(sealed)-1] ^= 1
		if _, err := s.Open(security.PurposeTOTPSecret, sealed); err == nil {
			t.Fatal("tampered value opened")
		}
	})
	t.Run("case=another key cannot open", func(t *testing.T) {
		other, _ := security.NewSealer(bytes.Repeat([]byte{8}, 32))
		if _, err := other.Open(security.PurposeCode, s.Seal(security.PurposeCode, []byte("123456"))); err == nil {
			t.Fatal("opened with another key")
		}
	})
	t.Run("case=a key that is not 32 bytes is refused", func(t *testing.T) {
		if _, err := security.NewSealer(make([]byte, 16)); err == nil {
			t.Fatal("16-byte key accepted")
		}
	})
}

func TestDerivations(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	t.Run("case=session tokens have at least 128 bits and depend on key, flow and flow secret", func(t *testing.T) {
		secret := security.RandomToken()
		a := security.SessionToken(key, "flow-a", secret)
		if len(a)*5 < 128 || a != security.SessionToken(key, "flow-a", secret) {
			t.Fatalf("token %q", a)
		}
		if a == security.SessionToken(key, "flow-b", secret) || a == security.SessionToken(bytes.Repeat([]byte{2}, 32), "flow-a", secret) {
			t.Fatal("token does not depend on the flow or the key")
		}
		// The key and the flow id (which shows in logs and the Temporal
		// UI) do not make the token: the flow secret, which only the
		// client holds, does.
		if a == security.SessionToken(key, "flow-a", "") || a == security.SessionToken(key, "flow-a", security.RandomToken()) {
			t.Fatal("token does not depend on the flow secret")
		}
		if h := security.SessionTokenHash(key, "flow-a", secret); !bytes.Equal(h, security.HashToken(a)) {
			t.Fatal("SessionTokenHash is not the hash of SessionToken")
		}
	})
	t.Run("case=derived codes are digits, stable per key, different per send", func(t *testing.T) {
		c := security.DerivedDigits(key, "send-1", 6)
		if len(c) != 6 || strings.Trim(c, "0123456789") != "" || c != security.DerivedDigits(key, "send-1", 6) {
			t.Fatalf("code %q", c)
		}
		seen := map[string]bool{}
		for i := range 50 {
			seen[security.DerivedDigits(key, "send-"+string(rune('a'+i)), 6)] = true
		}
		if len(seen) < 45 {
			t.Fatalf("only %d distinct codes in 50 sends", len(seen))
		}
	})
	t.Run("case=a recovery cancel token is stable per send, different per send and per key", func(t *testing.T) {
		a := security.RecoveryCancelToken(key, "notice-1")
		if len(a)*5 < 128 || a != security.RecoveryCancelToken(key, "notice-1") {
			t.Fatalf("token %q", a)
		}
		if a == security.RecoveryCancelToken(key, "notice-2") || a == security.RecoveryCancelToken(bytes.Repeat([]byte{2}, 32), "notice-1") {
			t.Fatal("token does not depend on the send or the key")
		}
	})
	t.Run("case=a code MAC binds the code to its flow", func(t *testing.T) {
		m := security.CodeMAC(key, "flow-a", "123456")
		if !security.CodeMACMatches(key, "flow-a", "123456", m) || security.CodeMACMatches(key, "flow-b", "123456", m) || security.CodeMACMatches(key, "flow-a", "123457", m) {
			t.Fatal("MAC does not bind code and flow")
		}
	})
	t.Run("case=random tokens have 160 bits and do not repeat", func(t *testing.T) {
		a, b := security.RandomToken(), security.RandomToken()
		if len(a) != 32 || a == b {
			t.Fatalf("tokens %q %q", a, b)
		}
	})
}

func TestRecoveryCodes(t *testing.T) {
	t.Run("case=a set is ten distinct codes of 50 bits, shown in two groups", func(t *testing.T) {
		codes := security.NewRecoveryCodes()
		seen := map[string]bool{}
		for _, c := range codes {
			n, ok := security.NormalizeRecoveryCode(c)
			if len(c) != 11 || c[5] != '-' || !ok || len(n) != 10 {
				t.Fatalf("code %q", c)
			}
			seen[n] = true
		}
		if len(codes) != 10 || len(seen) != 10 {
			t.Fatalf("%d codes, %d distinct", len(codes), len(seen))
		}
	})
	t.Run("case=case, spaces and hyphens do not matter; other characters do", func(t *testing.T) {
		for in, want := range map[string]string{"abcde-fg234": "abcdefg234", " ABCDE FG234 ": "abcdefg234", "ab-cd-efg234": "abcdefg234"} {
			if got, ok := security.NormalizeRecoveryCode(in); !ok || got != want {
				t.Errorf("%q → %q %v, want %q", in, got, ok, want)
			}
		}
		for _, in := range []string{"abcde-fg23", "abcde-fg2345", "abcde-fg018", "123456"} {
			if _, ok := security.NormalizeRecoveryCode(in); ok {
				t.Errorf("%q was taken for a recovery code", in)
			}
		}
	})
	t.Run("case=the stored hash is keyed and bound to the account", func(t *testing.T) {
		k1, k2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
		h := security.RecoveryCodeHash(k1, "u1", "abcdefg234")
		if bytes.Equal(h, security.RecoveryCodeHash(k2, "u1", "abcdefg234")) || bytes.Equal(h, security.RecoveryCodeHash(k1, "u2", "abcdefg234")) {
			t.Fatal("the hash does not depend on the key and the account")
		}
	})
}
