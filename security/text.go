package security

import (
	"strings"
	"unicode"
)

// DisplayName cleans a name that a user or Telegram supplies and that
// authflow shows back to people (a passkey's device name, a Telegram
// username) before it is stored: it drops control characters (Unicode Cc:
// C0, DEL, C1), format characters (Cf: the bidi embeddings and overrides
// U+202A–U+202E, the isolates U+2066–U+2069, the marks U+200E/U+200F and
// U+061C, zero-width characters, the BOM …), line and paragraph separators
// and invalid UTF-8, then trims spaces. An override in a device name could
// otherwise make "Phone\u202Eexe.txt" read as another name in the settings
// page, a notice or an email.
func DisplayName(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp) {
			return -1
		}
		return r
	}, s))
}
