// Package layers holds the test of the import rule the README states:
// imports go one way, cmd → app → api, worker → workflows → activities →
// rules, store, channels (and the small libraries beside them). A package
// imports only from a lower layer or from its own folder.
package layers

import (
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/authflow/authflow/"

// layer of every package, by its path (the longest matching prefix wins).
var layers = []struct {
	prefix string
	layer  int
}{
	// Libraries: no authflow package above them.
	{"store", 0}, {"channels", 0}, {"security", 0}, {"phone", 0}, {"config", 0},
	{"metrics", 0}, {"codec", 0}, {"devserver", 0}, {"internal/webauthntest", 0}, {"internal/syncbuf", 0}, {"internal/smtpsink", 0}, {"errkind", 0}, {"rules", 0}, {"i18n", 0},
	// Webhooks on the wire: payload, signature, event types, the SSRF-safe
	// client.
	{"webhooks", 0},
	// The typed client is generated from the contract and imports nothing
	// of authflow: any program, apitest included, may use it.
	{"client", 0},
	{"activities", 1},
	{"workflows", 2},
	{"api", 3}, {"worker", 3},
	// What builds the app (app.New), the whole stack in one process, and
	// what uses them.
	{"app", 4},
	{"internal/stack", 5},
	{"api/apitest", 6}, {"bench", 6},
	{"cmd", 7},
}

// apart are imports the layers would allow but the design does not: the
// API reaches the flows only through Temporal, and what it shares with
// the activities is in rules (docs/design.md "Layout").
var apart = []struct{ from, to string }{
	{"api", "activities"},
}

func under(pkg, prefix string) bool { return pkg == prefix || strings.HasPrefix(pkg, prefix+"/") }

func layerOf(pkg string) (int, bool) {
	best, layer := -1, 0
	for _, l := range layers {
		if (pkg == l.prefix || strings.HasPrefix(pkg, l.prefix+"/")) && len(l.prefix) > best {
			best, layer = len(l.prefix), l.layer
		}
	}
	return layer, best >= 0
}

func topDir(pkg string) string { d, _, _ := strings.Cut(pkg, "/"); return d }

func TestImportsGoOneWay(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		if _, err := fs.Stat(os.DirFS(path), "go.mod"); err == nil && path != root {
			return filepath.SkipDir // another module (tools/): not authflow's packages
		}
		p, err := build.Default.ImportDir(path, 0)
		if err != nil || len(p.GoFiles) == 0 {
			return nil // no Go files, or tests only
		}
		rel, _ := filepath.Rel(root, path)
		pkg := filepath.ToSlash(rel)
		if _, ok := layerOf(pkg); !ok {
			t.Errorf("package %s has no layer: add it to the list in this test (and the README's layout)", pkg)
			return nil
		}
		checked++
		for _, v := range violations(pkg, p.Imports) {
			t.Error(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("only %d packages checked: the walk missed the tree", checked)
	}
}

// violations lists the imports of pkg that break the rule.
func violations(pkg string, imports []string) []string {
	from, _ := layerOf(pkg)
	var out []string
	for _, imp := range imports {
		dep, ours := strings.CutPrefix(imp, module)
		if !ours {
			continue
		}
		to, known := layerOf(dep)
		switch {
		case !known:
			out = append(out, fmt.Sprintf("%s imports %s, which has no layer", pkg, dep))
		case topDir(dep) == topDir(pkg) || (from == 0 && to == 0):
			// its own folder, or one library using another
		case to >= from:
			out = append(out, fmt.Sprintf("%s (layer %d) imports %s (layer %d): imports go one way, down", pkg, from, dep, to))
		}
		for _, a := range apart {
			if under(pkg, a.from) && under(dep, a.to) {
				out = append(out, fmt.Sprintf("%s imports %s: %s never imports %s", pkg, dep, a.from, a.to))
			}
		}
	}
	return out
}

func TestTheRuleCatchesAWrongImport(t *testing.T) {
	for _, c := range []struct{ pkg, imp string }{
		{"activities", module + "workflows"}, {"workflows", module + "api"}, {"store/sqlite", module + "activities"},
		{"channels/twilio", module + "workflows"}, {"api", module + "internal/stack"}, {"api", module + "app"},
		{"rules", module + "activities"}, {"errkind", module + "workflows"}, {"app", module + "internal/stack"},
		{"api", module + "activities"}, {"api/apitest", module + "activities"},
	} {
		if len(violations(c.pkg, []string{c.imp})) != 1 {
			t.Errorf("%s importing %s passes the rule", c.pkg, c.imp)
		}
	}
	if v := violations("api", []string{module + "workflows", module + "rules", "fmt"}); len(v) != 0 {
		t.Errorf("downward imports refused: %v", v)
	}
}
