package security_test

import (
	"testing"

	"github.com/authflow/authflow/security"
)

func TestDisplayName(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"case=a right-to-left override is dropped", "Phone\u202Eexe.txt", "Phoneexe.txt"},
		{"case=every bidi embedding, override, isolate and mark is dropped",
			"a\u202Ab\u202Bc\u202Cd\u202De\u202Ef\u2066g\u2067h\u2068i\u2069j\u200Ek\u200Fl\u061Cm", "abcdefghijklm"},
		{"case=control characters (C0, DEL, C1) are dropped", "Lap\x00t\x07o\x1bp\x7f\u0085\n\t", "Laptop"},
		{"case=other format characters and separators are dropped", "zero\u200Bwidth\uFEFF\u2028line\u2029", "zerowidthline"},
		{"case=invalid UTF-8 is dropped", "ok\xff\xfe", "ok"},
		{"case=spaces around are trimmed, letters of any script kept", "  Ноутбук 💻 محمول ", "Ноутбук 💻 محمول"},
		{"case=a name of nothing but controls is empty", "\u202E\x01", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := security.DisplayName(c.in); got != c.want {
				t.Fatalf("DisplayName(%+q) = %+q, want %+q", c.in, got, c.want)
			}
		})
	}
}
