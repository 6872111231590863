package i18n_test

import (
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/authflow/authflow/i18n"
)

func catalog(t *testing.T, lang string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("locales/" + lang + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", lang, err)
	}
	return m
}

var field = regexp.MustCompile(`\{\{[^}]*\.(\w+)[^}]*\}\}`)

func fields(s string) []string {
	var out []string
	for _, m := range field.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestEveryMessageInEveryLanguage(t *testing.T) {
	t.Run("case=the same ids in English and Ukrainian, with the same fields", func(t *testing.T) {
		en, uk := catalog(t, i18n.English), catalog(t, i18n.Ukrainian)
		for _, id := range slices.Sorted(maps.Keys(en)) {
			u, ok := uk[id]
			if !ok {
				t.Errorf("%s: no Ukrainian", id)
				continue
			}
			if u == en[id] {
				t.Errorf("%s: the Ukrainian is the English", id)
			}
			if !slices.Equal(fields(en[id]), fields(u)) {
				t.Errorf("%s: fields %v in English, %v in Ukrainian", id, fields(en[id]), fields(u))
			}
		}
		for id := range uk {
			if _, ok := en[id]; !ok {
				t.Errorf("%s: no English", id)
			}
		}
	})
	t.Run("case=messages render in the language asked for, with their fields", func(t *testing.T) {
		if got := i18n.T(i18n.Ukrainian, "code.sms", map[string]any{"Code": "123456"}); got != "123456 — ваш код authflow. Дійсний 10 хвилин. Нікому його не повідомляйте." {
			t.Fatalf("uk: %q", got)
		}
		if got := i18n.T(i18n.English, "notice.telegram_linked.text", map[string]any{"Username": "ann"}); got[:30] != "Telegram account @ann was link" {
			t.Fatalf("en: %q", got)
		}
		if got := i18n.T("fr", "code.email.subject", nil); got != "Your authflow code" {
			t.Fatalf("an unknown language falls back to English: %q", got)
		}
	})
}

func TestPick(t *testing.T) {
	for _, c := range []struct{ stored, accept, def, want string }{
		{"uk", "en-US,en;q=0.9", "en", "uk"},        // the stored language wins
		{"", "uk-UA,uk;q=0.9,en;q=0.8", "en", "uk"}, // then the browser's
		{"", "ru-RU,ru;q=0.9", "uk", "uk"},          // nothing matching: the default
		{"", "", "uk", "uk"},                        // no header: the default
		{"de", "en-GB", "uk", "en"},                 // an unknown stored language is ignored
		{"", "", "xx", "en"},                        // a bad default is English
		{"", "not a header;;;", "uk", "uk"},         // a malformed header is ignored
	} {
		if got := i18n.Pick(c.stored, c.accept, c.def); got != c.want {
			t.Errorf("Pick(%q, %q, %q) = %q, want %q", c.stored, c.accept, c.def, got, c.want)
		}
	}
}
