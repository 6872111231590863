// Package phone validates, classifies and masks phone numbers (E.164).
package phone

import (
	"errors"
	"strings"
)

// ErrInvalid means the number is not E.164.
var ErrInvalid = errors.New("phone number must be E.164: + then 8 to 15 digits, no leading 0 (e.g. +380501234567)")

// Kind says which call a number gets: Ukrainian numbers (+380) get a robot
// dictating the code, foreign ones a flash call.
type Kind string

// Kinds of numbers, as docs/api.md names them.
const (
	Ukrainian Kind = "ukrainian"
	Foreign   Kind = "foreign"
)

// Normalize trims spaces, dashes, dots and brackets people type and checks the
// result is E.164.
func Normalize(raw string) (string, error) {
	n := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '.', '(', ')', '\t':
			return -1
		}
		return r
	}, strings.TrimSpace(raw))
	if !Valid(n) {
		return "", ErrInvalid
	}
	return n, nil
}

// Valid reports whether n is an E.164 number as written (no separators).
func Valid(n string) bool {
	if len(n) < 9 || len(n) > 16 || n[0] != '+' || n[1] == '0' {
		return false
	}
	for _, r := range n[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// KindOf classifies a valid number.
func KindOf(n string) Kind {
	if strings.HasPrefix(n, "+380") {
		return Ukrainian
	}
	return Foreign
}

// Mask keeps the first 4 characters and the last 2 digits: +380*******67.
func Mask(n string) string {
	if len(n) <= 6 {
		return n
	}
	return n[:4] + strings.Repeat("*", len(n)-6) + n[len(n)-2:]
}
