package api

import (
	"testing"
	"time"

	"github.com/authflow/authflow/i18n"
)

// The recovery page says AUTHFLOW_RECOVERY_DELAY in words, in the page's
// language, with the plural form the number needs.
func TestPagesSayTheRecoveryWaitInWords(t *testing.T) {
	for _, c := range []struct {
		lang string
		d    time.Duration
		want string
	}{
		{i18n.English, 72 * time.Hour, "3 days"},
		{i18n.English, 24 * time.Hour, "1 day"},
		{i18n.English, 36 * time.Hour, "36 hours"},
		{i18n.English, time.Hour, "1 hour"},
		{i18n.English, 90 * time.Minute, "90 minutes"},
		{i18n.English, 2*time.Minute + 5*time.Second, "2 minutes"},
		{i18n.English, 10 * time.Second, "1 minute"},
		{i18n.Ukrainian, 72 * time.Hour, "3 дні"},
		{i18n.Ukrainian, 24 * time.Hour, "1 день"},
		{i18n.Ukrainian, 5 * 24 * time.Hour, "5 днів"},
		{i18n.Ukrainian, 21 * 24 * time.Hour, "21 день"},
		{i18n.Ukrainian, 36 * time.Hour, "36 годин"},
		{i18n.Ukrainian, time.Hour, "1 годину"},
		{i18n.Ukrainian, 22 * time.Hour, "22 години"},
		{i18n.Ukrainian, 90 * time.Minute, "90 хвилин"},
		{i18n.Ukrainian, 2*time.Minute + 5*time.Second, "2 хвилини"},
	} {
		if got := durationWords(c.lang, c.d); got != c.want {
			t.Errorf("%s %s: %q, want %q", c.lang, c.d, got, c.want)
		}
	}
}
