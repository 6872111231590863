// Package security holds authflow's cryptography: argon2id password hashes,
// random tokens and codes, their hashes, constant-time comparison, and
// AES-GCM sealing under AUTHFLOW_SECRET_KEY.
package security

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are argon2id cost parameters.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
}

// DefaultArgon2 is OWASP's floor for argon2id (m=19 MiB, t=2, p=1)
// (docs/security.md, "Passwords").
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
)

// Hasher hashes and verifies passwords with argon2id. The zero value uses
// DefaultArgon2.
type Hasher struct {
	Params Argon2Params
	// dummy is verified for unknown emails so both answers cost the same.
	dummy string
	// slots bounds the hashes running at once to the CPUs: argon2id is
	// CPU-bound, so more at once only adds memory (m each) and GC work,
	// and makes every one of them finish late.
	slots chan struct{}
	// pool, when set, runs the hashes in child processes, one per slot of
	// slots (see hashproc.go).
	pool *hashPool
}

// NewHasher returns a hasher with the given parameters and a dummy hash of
// the same cost.
func NewHasher(p Argon2Params) *Hasher {
	return newHasher(p, false)
}

// NewIsolatedHasher is NewHasher whose hashes run in child processes (this
// executable re-run as a hashing loop), one per CPU, so that argon2id's
// memory is never garbage in this process's heap. A failing child costs
// nothing but that hash running in process. Close ends the children.
func NewIsolatedHasher(p Argon2Params) *Hasher {
	return newHasher(p, true)
}

// NewHasherWithIsolation is NewIsolatedHasher when isolated, else
// NewHasher: for callers whose configuration decides
// (AUTHFLOW_HASH_ISOLATION, authflow bench --hash-in-process).
func NewHasherWithIsolation(p Argon2Params, isolated bool) *Hasher {
	return newHasher(p, isolated)
}

func newHasher(p Argon2Params, isolated bool) *Hasher {
	h := &Hasher{Params: p, slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	if isolated {
		h.pool = newHashPool(h.slots)
	}
	d, err := h.Hash(RandomToken())
	if err != nil {
		panic(err)
	}
	h.dummy = d
	return h
}

// Close ends an isolated hasher's children once their hashes are done;
// later hashes run in process. A no-op for other hashers.
func (h *Hasher) Close() {
	if h.pool != nil {
		h.pool.close()
	}
}

// ChildCPU is the CPU time an isolated hasher's children used so far, for
// measurements that count the whole cost of a login.
func (h *Hasher) ChildCPU() time.Duration {
	if h.pool == nil {
		return 0
	}
	return h.pool.cpu()
}

// ChildPeakRSS is the largest peak resident memory of an isolated hasher's
// live children, in bytes (binary pages shared with this process
// included); 0 for other hashers.
func (h *Hasher) ChildPeakRSS() int64 {
	if h.pool == nil {
		return 0
	}
	return h.pool.peakRSS()
}

// idKey is argon2.IDKey in a child (isolated) or in process, one slot each.
func (h *Hasher) idKey(password, salt []byte, t, m uint32, p uint8, size uint32) []byte {
	if h.pool != nil {
		return h.pool.idKey(password, salt, t, m, p, size)
	}
	defer h.acquire()()
	return argon2.IDKey(password, salt, t, m, p, size)
}

// ErrPasswordTooLong guards argon2 against megabyte passwords.
var ErrPasswordTooLong = errors.New("password longer than 1024 bytes")

// Hash returns a PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash.
func (h *Hasher) Hash(password string) (string, error) {
	if len(password) > 1024 {
		return "", ErrPasswordTooLong
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := h.Params
	sum := h.idKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum)), nil
}

// Verify checks password against a PHC hash in constant time. An empty
// encoded hash (unknown account) verifies the dummy hash, so the caller's
// timing does not reveal whether the account exists, and returns false.
func (h *Hasher) Verify(encoded, password string) bool {
	if encoded == "" {
		h.verify(h.dummy, password)
		return false
	}
	return h.verify(encoded, password)
}

func (h *Hasher) verify(encoded, password string) bool {
	if len(password) > 1024 {
		return false
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := h.idKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// acquire waits for a hashing slot and returns its release.
func (h *Hasher) acquire() func() {
	if h.slots == nil {
		return func() {}
	}
	h.slots <- struct{}{}
	return func() { <-h.slots }
}

// NeedsRehash reports whether a stored hash is weaker than the hasher's
// parameters.
func (h *Hasher) NeedsRehash(encoded string) bool {
	return !strings.Contains(encoded, fmt.Sprintf("$m=%d,t=%d,p=%d$", h.Params.MemoryKiB, h.Params.Time, h.Params.Threads))
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// RandomToken returns 160 random bits, URL-safe (lower-case base32), for
// session tokens, flow ids and link tokens (docs/security.md: ≥128 bits).
func RandomToken() string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return strings.ToLower(b32.EncodeToString(b))
}

// HashToken is how tokens and codes are stored: SHA-256 (they have enough
// entropy, or are bound to a flow with few attempts, so a fast hash is right).
func HashToken(token string) []byte {
	s := sha256.Sum256([]byte(token))
	return s[:]
}

// RandomDigits returns n decimal digits from crypto/rand.
func RandomDigits(n int) string {
	var sb strings.Builder
	for range n {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			panic(err)
		}
		sb.WriteByte(byte('0' + d.Int64()))
	}
	return sb.String()
}

// RandomInt returns a uniform integer in [0, n).
func RandomInt(n int) int {
	d, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err)
	}
	return int(d.Int64())
}

// Sealer encrypts small secrets with AES-256-GCM.
type Sealer struct{ aead cipher.AEAD }

// NewSealer takes the 32-byte AUTHFLOW_SECRET_KEY.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, errors.New("secret key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext; purpose is authenticated data, so a secret sealed
// for one purpose (a TOTP secret) cannot be opened as another (a session).
func (s *Sealer) Seal(purpose string, plaintext []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return s.aead.Seal(nonce, nonce, plaintext, []byte(purpose))
}

// ErrUnseal means the ciphertext was tampered with, sealed under another key
// or for another purpose.
var ErrUnseal = errors.New("cannot open sealed value")

// Open decrypts what Seal made for the same purpose.
func (s *Sealer) Open(purpose string, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrUnseal
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(purpose))
	if err != nil {
		return nil, ErrUnseal
	}
	return out, nil
}

// Purposes for Seal.
const (
	PurposePassword   = "password"
	PurposeSession    = "session"
	PurposeTOTPSecret = "totp-secret"
	PurposeCode       = "code"
)

// Keyed derivations. They let a retried activity recompute exactly what the
// first attempt made (the same code, the same session token) without ever
// putting the secret itself into a workflow history.

func mac(key []byte, purpose string, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// SessionToken is the bearer token of the session a login flow issues:
// HMAC(key, flowID, flowSecret). The flow secret is random and only its
// client holds it (the flow keeps a MAC of it), so the token has the flow
// secret's 128 random bits: the flow id, which shows in logs and the
// Temporal UI, and the key together do not make it. The API computes it
// from the caller's flow secret; the worker stores only its hash, which the
// API put in the flow's input (SessionTokenHash), so the token never
// passes through Temporal (docs/security.md "Sessions").
func SessionToken(key []byte, flowID, flowSecret string) string {
	return strings.ToLower(b32.EncodeToString(mac(key, "session-token", flowID, flowSecret)))
}

// SessionTokenHash is what the store and the flow keep of SessionToken.
func SessionTokenHash(key []byte, flowID, flowSecret string) []byte {
	return HashToken(SessionToken(key, flowID, flowSecret))
}

// FlowSecretMAC is what a login flow keeps of its flow secret: a keyed hash
// bound to the flow id. The secret proves the caller started the flow (a
// flow id is not a credential: it shows in logs and the Temporal UI), and
// the MAC is useless without the key (docs/security.md "Flow secret").
func FlowSecretMAC(key []byte, flowID, secret string) []byte {
	return mac(key, "flow-secret", flowID, secret)
}

// CodecCookie is the value of the cookie that lets a browser call the
// payload codec (see api): HMAC(key, admin token). It changes when either
// does, so rotating the admin token signs every browser out.
func CodecCookie(key []byte, adminToken string) string {
	return strings.ToLower(b32.EncodeToString(mac(key, "codec-cookie", adminToken)))
}

// CSRFToken is the CSRF token of a cookie session: HMAC(key, session
// token). The API sets it as the authflow_csrf cookie and checks the
// X-CSRF-Token header against the token recomputed from the session it
// received, so a cookie pair planted by another site (or a sibling
// subdomain) does not pass: it cannot be computed without the key and the
// victim's session token.
func CSRFToken(key []byte, sessionToken string) string {
	return strings.ToLower(b32.EncodeToString(mac(key, "csrf-token", sessionToken)))
}

// CSRFTokenMatches compares a submitted CSRF token with the session's in
// constant time.
func CSRFTokenMatches(key []byte, sessionToken, got string) bool {
	return got != "" && ConstantTimeEqual(got, CSRFToken(key, sessionToken))
}

// RecoveryCancelToken is the cancel link's token of one recovery notice,
// derived from the notice send's idempotency key: a notice sent again by
// the activity's retry (the worker killed after the provider took it,
// before its record) carries the same link, so the copy is identical and
// one token is stored (docs/security.md "Durability"). Like derived codes
// it cannot be made without the key; 256 bits.
func RecoveryCancelToken(key []byte, idemKey string) string {
	return strings.ToLower(b32.EncodeToString(mac(key, "recovery-cancel-token", idemKey)))
}

// DerivedDigits returns n decimal digits derived from key and the send's
// idempotency key: a retried send produces the same code.
func DerivedDigits(key []byte, idemKey string, n int) string {
	sum := mac(key, "code", idemKey)
	v := binary.BigEndian.Uint64(sum[:8])
	var sb strings.Builder
	for range n {
		sb.WriteByte(byte('0' + v%10))
		v /= 10
	}
	return sb.String()
}

// CodeMAC is what a workflow keeps of a one-time code: a MAC bound to the
// flow, useless offline without the key (a plain hash of 6 digits is not).
func CodeMAC(key []byte, flowID, code string) []byte {
	return mac(key, "code-mac", flowID, code)
}

// CodeMACMatches compares in constant time.
func CodeMACMatches(key []byte, flowID, code string, want []byte) bool {
	return hmac.Equal(CodeMAC(key, flowID, code), want)
}

// ConstantTimeEqual compares two strings in constant time.
func ConstantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Recovery codes: ten per set, each 10 characters of RFC 4648 base32 in
// lower case (50 bits from crypto/rand), shown as "xxxxx-xxxxx".
const (
	RecoveryCodeCount = 10
	recoveryCodeLen   = 10
)

// NewRecoveryCodes draws a set of recovery codes, as they are shown.
func NewRecoveryCodes() []string {
	out := make([]string, RecoveryCodeCount)
	for i := range out {
		b := make([]byte, 7) // 56 bits, of which the first 10 base32 digits keep 50
		if _, err := rand.Read(b); err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		c := strings.ToLower(b32.EncodeToString(b))[:recoveryCodeLen]
		out[i] = c[:5] + "-" + c[5:]
	}
	return out
}

// NormalizeRecoveryCode reads a recovery code as a person may type it:
// any case, with spaces and hyphens anywhere. ok is false when what is
// left is not 10 base32 characters.
func NormalizeRecoveryCode(s string) (code string, ok bool) {
	var sb strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == ' ' || r == '-':
		case r >= 'a' && r <= 'z', r >= '2' && r <= '7':
			sb.WriteRune(r)
		default:
			return "", false
		}
	}
	code = sb.String()
	return code, len(code) == recoveryCodeLen
}

// RecoveryCodeHash is how a recovery code is stored: a MAC bound to the
// account, so a leaked table is useless without the key (normalized code).
func RecoveryCodeHash(key []byte, userID, code string) []byte {
	return mac(key, "recovery-code", userID, code)
}
