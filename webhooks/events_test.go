package webhooks_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/authflow/authflow/webhooks"
)

// eventName is the shape of an event type.
var eventName = regexp.MustCompile(`^[a-z]+(_[a-z]+)+$`)

// recordedEventTypes reads the packages that record audit events and
// collects the event types they pass, in the ways the code passes them:
// a literal argument of addEvent, onceEvent, record or RecordEvent; the
// first field or Type of an Event or RecordEventInput literal; the first
// field of a {"type", map…} pair; a literal assigned to typ.
func recordedEventTypes(t *testing.T) map[string]string {
	t.Helper()
	found := map[string]string{}
	fset := token.NewFileSet()
	add := func(e ast.Expr) {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return
		}
		s, err := strconv.Unquote(lit.Value)
		if err == nil && eventName.MatchString(s) {
			found[s] = fset.Position(lit.Pos()).String()
		}
	}
	typeName := func(e ast.Expr) string {
		switch x := e.(type) {
		case *ast.Ident:
			return x.Name
		case *ast.SelectorExpr:
			return x.Sel.Name
		}
		return ""
	}
	for _, dir := range []string{"activities", "rules", "workflows", "api"} {
		files, err := filepath.Glob(filepath.Join("..", dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(fset, path, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.CallExpr:
					switch typeName(x.Fun) {
					case "addEvent", "onceEvent", "record", "RecordEvent":
						for _, arg := range x.Args {
							add(arg)
						}
					}
				case *ast.CompositeLit:
					switch typeName(x.Type) {
					case "Event", "RecordEventInput":
						for i, el := range x.Elts {
							if kv, ok := el.(*ast.KeyValueExpr); ok {
								if typeName(kv.Key) == "Type" {
									add(kv.Value)
								}
							} else if i == 0 {
								add(el)
							}
						}
					case "":
						if len(x.Elts) == 2 {
							if m, ok := x.Elts[1].(*ast.CompositeLit); ok {
								if _, isMap := m.Type.(*ast.MapType); isMap {
									add(x.Elts[0])
								}
							}
						}
					}
				case *ast.AssignStmt:
					for i, lhs := range x.Lhs {
						if id, ok := lhs.(*ast.Ident); ok && id.Name == "typ" && i < len(x.Rhs) {
							add(x.Rhs[i])
						}
					}
				}
				return true
			})
		}
	}
	return found
}

func TestEventTypesAreTheRecordedOnes(t *testing.T) {
	found := recordedEventTypes(t)
	if len(found) < 20 {
		t.Fatalf("only %d event types found in the code (%v): the scan lost its way", len(found), found)
	}
	for name, where := range found {
		if !webhooks.KnownEventType(name) {
			t.Errorf("%s records event type %q, which webhooks.EventTypes lacks: add it (and to api/openapi.yaml)", where, name)
		}
	}
	for _, name := range webhooks.Names() {
		if _, ok := found[name]; !ok {
			t.Errorf("webhooks.EventTypes lists %q, which nothing records", name)
		}
	}
	names := webhooks.Names()
	slices.Sort(names)
	if len(slices.Compact(names)) != len(webhooks.EventTypes) {
		t.Error("webhooks.EventTypes lists a type twice")
	}
}
