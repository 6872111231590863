package security_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// root is the repository, from this package's folder.
const root = ".."

// guardLine is a "Guarded by" entry of docs/security.md:
// - `path` · `TestName` · `case=…`, `case=…`
// (with `helper` after the path for a conformance case of store/storetest).
var guardLine = regexp.MustCompile("^- `([^`]+)`(?: `[^`]+`)? · `(Test[A-Za-z0-9_]+)`(.*)$")

var backticked = regexp.MustCompile("`([^`]+)`")

// TestEveryGuardInTheSecurityDocExists reads every "Guarded by" entry of
// docs/security.md and checks that its file exists, holds (or, for a
// conformance case of store/storetest, the stores' tests hold) the test
// function it names, and that every case it quotes is a test name in that
// file: a test renamed or removed must take its rule's line with it, or
// the rule would claim a guard it no longer has.
func TestEveryGuardInTheSecurityDocExists(t *testing.T) {
	f, err := os.Open(filepath.Join(root, "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Each file and its cases are read once: many lines name the same.
	srcs, patterns := map[string]string{}, map[string][]*regexp.Regexp{}
	read := func(path string) (string, error) {
		if src, ok := srcs[path]; ok {
			return src, nil
		}
		src, err := sources(filepath.Join(root, path))
		srcs[path] = src
		return src, err
	}
	checked := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		m := guardLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		path, test, rest := m[1], m[2], m[3]
		where := "docs/security.md:" + strconv.Itoa(n)
		src, err := read(path)
		if err != nil {
			t.Errorf("%s names %s: %v", where, path, err)
			continue
		}
		funcs, casesAt := src, path
		conformance := strings.HasPrefix(path, "store/storetest")
		if conformance {
			// TestStore runs the conformance cases, named in storetest.go,
			// on each store.
			if funcs, err = read("store/sqlite"); err != nil {
				t.Fatal(err)
			}
			casesAt = "store/storetest"
		}
		names, ok := patterns[casesAt]
		if !ok {
			cases, err := read(casesAt)
			if err != nil {
				t.Fatal(err)
			}
			names = caseNames(cases, conformance)
			patterns[casesAt] = names
		}
		if !strings.Contains(funcs, "func "+test+"(") {
			t.Errorf("%s names %s in %s, which has no such test", where, test, path)
		}
		for _, q := range backticked.FindAllStringSubmatch(rest, -1) {
			name := q[1]
			if !strings.Contains(name, "case=") || strings.HasSuffix(name, "case=") || strings.ContainsAny(name, "<…") {
				continue // not a case, or a pattern: "every `case=`", "case=<file>", "store=postgres/…"
			}
			if !slices.ContainsFunc(names, func(re *regexp.Regexp) bool { return re.MatchString(name) }) {
				t.Errorf("%s quotes %q of %s, which %s does not hold", where, name, test, path)
			}
			checked++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	// The parse found the entries: docs/security.md has some two hundred.
	if checked < 150 {
		t.Fatalf("checked %d cases: the parse of docs/security.md missed its entries", checked)
	}
}

// subtest is a t.Run whose name has a case: the name's expression.
var subtest = regexp.MustCompile(`t\.Run\((".*?), func`)

// conformance is a conformance case of store/storetest: {"name", test}.
var conformance = regexp.MustCompile(`^\s*\{("(?:[^"\\]|\\.)*"),`)

// literal is a Go string literal.
var literal = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// caseNames are the names of the subtests src defines that hold "case=",
// as patterns: a name built at run time ("case="+m+" leads to …")
// matches any text where it concatenates a variable. In store/storetest
// the names are the conformance cases', which TestStore runs as
// "case=<name>".
func caseNames(src string, storetest bool) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, line := range strings.Split(src, "\n") {
		var m []string
		if storetest {
			m = conformance.FindStringSubmatch(line)
		} else {
			m = subtest.FindStringSubmatch(line)
		}
		if m == nil {
			continue
		}
		var parts []string
		for _, lit := range literal.FindAllString(m[1], -1) {
			if s, err := strconv.Unquote(lit); err == nil {
				parts = append(parts, regexp.QuoteMeta(s))
			}
		}
		name := strings.Join(parts, ".+")
		if storetest {
			name = "case=" + name
		}
		if strings.Contains(name, "case=") {
			out = append(out, regexp.MustCompile("^"+name+"$"))
		}
	}
	return out
}

// sources is the text of the Go file at path, or of every Go file under
// the folder at path.
func sources(path string) (string, error) {
	var b strings.Builder
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		raw, err := os.ReadFile(p)
		b.Write(raw)
		return err
	})
	return b.String(), err
}
