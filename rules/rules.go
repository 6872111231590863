// Package rules holds authflow's domain rules: what is true of an
// account whatever calls it — a login's activity, an enrollment's, or an
// API handler. The limits on wrong answers and sends, the password guard
// (one set of counters for logins and re-authentication), emails and new
// passwords, TOTP keys, the data of Telegram login buttons, and Factors,
// the one way a second factor is turned on or off. It depends on the store
// and on narrow interfaces; it starts no workflow and sends nothing
// itself.
package rules

import (
	"net/mail"
	"strings"

	"github.com/authflow/authflow/errkind"
)

// NormalizeEmail trims and lower-cases an address (docs/api.md "Ids"):
// accounts, password counters and logins all key on this form.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// maxEmail is RFC 5321's limit on a path, which an address must fit.
const maxEmail = 254

// ParseEmail normalizes a new account's email and checks it is one
// address (BadRequest otherwise).
func ParseEmail(raw string) (string, error) {
	e := NormalizeEmail(raw)
	if len(e) > maxEmail {
		return "", errkind.New(errkind.BadRequest, "email is too long")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || !strings.Contains(e, "@") {
		return "", errkind.New(errkind.BadRequest, "email is not a valid address")
	}
	return e, nil
}

// Password lengths: long enough to matter, short enough for argon2id.
const (
	MinPassword = 8
	MaxPassword = 1024
)

// CheckNewPassword says why a new password is refused (BadRequest), or nil.
func CheckNewPassword(p string) error {
	if len(p) < MinPassword {
		return errkind.New(errkind.BadRequest, "the password must have at least 8 characters")
	}
	if len(p) > MaxPassword {
		return errkind.New(errkind.BadRequest, "the password must have at most 1024 bytes")
	}
	return nil
}
