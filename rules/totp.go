package rules

import (
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/authflow/authflow/security"
)

// TOTP parameters (RFC 6238; docs/security.md "Codes").
const (
	// TOTPIssuer is the issuer authenticator apps show next to the account.
	TOTPIssuer = "authflow"
	totpPeriod = 30
	totpSkew   = 1
	// totpSecretSize is 160 bits, RFC 4226's recommendation.
	totpSecretSize = 20
)

// TOTPValidateOpts are RFC 6238 SHA1, 6 digits, 30 s, ±1 step.
var TOTPValidateOpts = totp.ValidateOpts{Period: totpPeriod, Skew: totpSkew, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// NewTOTPKey makes a new key of 160 bits from crypto/rand for the account
// named email: its otpauth:// URL holds the secret.
func NewTOTPKey(email string) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{Issuer: TOTPIssuer, AccountName: email, SecretSize: totpSecretSize,
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// SealTOTPKey seals a key's otpauth:// URL, so the secret never sits in
// clear in a workflow history.
func SealTOTPKey(s *security.Sealer, k *otp.Key) []byte {
	return s.Seal(security.PurposeTOTPSecret, []byte(k.URL()))
}

// OpenTOTPKey opens what SealTOTPKey sealed.
func OpenTOTPKey(s *security.Sealer, sealed []byte) (*otp.Key, error) {
	url, err := s.Open(security.PurposeTOTPSecret, sealed)
	if err != nil {
		return nil, err
	}
	return otp.NewKeyFromURL(string(url))
}

// MatchTOTPStep returns the time step at which code is valid for secret
// within ±1 step of now, or -1. A step is used once: the caller records
// it, and a code of a used step is a replay.
func MatchTOTPStep(secret, code string, now time.Time) int64 {
	step := now.Unix() / totpPeriod
	for _, d := range []int64{0, -1, 1} {
		s := step + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0).UTC(), TOTPValidateOpts)
		if err == nil && security.ConstantTimeEqual(want, code) {
			return s
		}
	}
	return -1
}

// PurposeTelegramLink seals a Telegram deep-link token in an enrollment's
// answer, so the token never sits in clear in workflow history.
const PurposeTelegramLink = "telegram-link"
