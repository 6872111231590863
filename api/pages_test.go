package api

import (
	"testing"
	"time"
)

// The recovery page says AUTHFLOW_RECOVERY_DELAY in words.
func TestPagesSayTheRecoveryWaitInWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		72 * time.Hour:                "3 days",
		24 * time.Hour:                "1 day",
		36 * time.Hour:                "36 hours",
		time.Hour:                     "1 hour",
		90 * time.Minute:              "90 minutes",
		2*time.Minute + 5*time.Second: "2 minutes",
		10 * time.Second:              "1 minute",
	} {
		if got := durationWords(d); got != want {
			t.Errorf("%s: %q, want %q", d, got, want)
		}
	}
}
