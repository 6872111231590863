package phone_test

import (
	"testing"

	"github.com/authflow/authflow/phone"
)

func TestPhone(t *testing.T) {
	t.Run("case=separators are dropped and E.164 is checked", func(t *testing.T) {
		if n, err := phone.Normalize(" +380 (50) 123-45-67 "); err != nil || n != "+380501234567" {
			t.Fatalf("%q %v", n, err)
		}
		for _, bad := range []string{"0501234567", "+0501234567", "+38050abc4567", "+1234567", "+12345678901234567", ""} {
			if _, err := phone.Normalize(bad); err == nil {
				t.Errorf("%q accepted", bad)
			}
		}
	})
	t.Run("case=+380 is Ukrainian, everything else foreign", func(t *testing.T) {
		if phone.KindOf("+380501234567") != phone.Ukrainian || phone.KindOf("+14155550123") != phone.Foreign || phone.KindOf("+38150123456") != phone.Foreign {
			t.Fatal("wrong kind")
		}
	})
	t.Run("case=mask keeps the first 4 characters and the last 2 digits", func(t *testing.T) {
		if got := phone.Mask("+380501234567"); got != "+380*******67" {
			t.Fatalf("mask %q", got)
		}
	})
}
