package security_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// secretName is what a value compared in constant time is called: a MAC,
// a hash, a secret, a token, a password or a code (docs/security.md
// "Codes").
var secretName = regexp.MustCompile(`(?i)(mac|hash|secret|token|password|code)s?$`)

// exprName is the last name of an operand: x, a.b.X, f(), m[k].
func exprName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return x.Sel.Name
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "string" && len(x.Args) == 1 {
			return exprName(x.Args[0]) // string(mac) == string(want)
		}
		return exprName(x.Fun)
	case *ast.IndexExpr:
		return exprName(x.X)
	case *ast.ParenExpr:
		return exprName(x.X)
	}
	return ""
}

// notSecret says an operand is a constant a value is checked against (a
// literal, nil, a status, a flow state or an error), not a secret.
func notSecret(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.BasicLit:
		return true
	case *ast.Ident:
		return x.Name == "nil" || constantName(x.Name)
	case *ast.SelectorExpr:
		return constantName(x.Sel.Name)
	}
	return false
}

func constantName(n string) bool {
	return strings.HasPrefix(n, "Status") || strings.HasPrefix(n, "State") || strings.HasPrefix(n, "Err")
}

// variableTimeComparisons lists the comparisons in src that may return as
// soon as two secrets differ: ==, != and bytes.Equal with an operand named
// like a secret, against something other than a constant.
func variableTimeComparisons(t *testing.T, fset *token.FileSet, path string, src any) []string {
	t.Helper()
	f, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		var x, y ast.Expr
		switch c := n.(type) {
		case *ast.BinaryExpr:
			if c.Op != token.EQL && c.Op != token.NEQ {
				return true
			}
			x, y = c.X, c.Y
		case *ast.CallExpr:
			sel, ok := c.Fun.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Equal" || len(c.Args) != 2 {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "bytes" {
				return true
			}
			x, y = c.Args[0], c.Args[1]
		default:
			return true
		}
		if notSecret(x) || notSecret(y) || strings.Contains(exprName(x)+exprName(y), "StatusCode") {
			return true
		}
		if secretName.MatchString(exprName(x)) || secretName.MatchString(exprName(y)) {
			p := fset.Position(n.Pos())
			out = append(out, filepath.ToSlash(p.Filename)+":"+exprName(x)+" vs "+exprName(y))
		}
		return true
	})
	return out
}

// TestSecretsAreComparedInConstantTime reads every production Go file of
// the module: no code, MAC, token, secret, password or hash is compared
// with ==, != or bytes.Equal, which return at the first differing byte;
// they go through hmac.Equal or subtle.ConstantTimeCompare
// (security.CodeMACMatches, security.ConstantTimeEqual, the CSRF and
// admin-token checks).
func TestSecretsAreComparedInConstantTime(t *testing.T) {
	t.Run("case=the scan finds a code compared with ==, a MAC with bytes.Equal or as strings", func(t *testing.T) {
		got := variableTimeComparisons(t, token.NewFileSet(), "planted.go", `package p
import "bytes"
func f(code, want string, mac, sum []byte) bool {
	return code == want || bytes.Equal(sum, mac) || string(mac) != string(sum) || code == "" || mac == nil
}`)
		if want := []string{"planted.go:code vs want", "planted.go:sum vs mac", "planted.go:mac vs sum"}; !slices.Equal(got, want) {
			t.Fatalf("the scan found %q, want %q", got, want)
		}
	})
	t.Run("case=no production file compares a secret in variable time", func(t *testing.T) {
		// Test helpers and tools compare what they made themselves; the
		// generated client compares status codes.
		skip := map[string]bool{"e2e": true, "tools": true, "storetest": true, "apitest": true, "bench": true, "client": true}
		// The hashing child is told it is one by an environment variable
		// its parent sets: nothing an attacker times.
		allowed := map[string]bool{"security/hashproc.go:Getenv vs hashChildToken": true}
		fset := token.NewFileSet()
		files := 0
		var found []string
		err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if skip[d.Name()] || (strings.HasPrefix(d.Name(), ".") && path != "..") || d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			files++
			for _, c := range variableTimeComparisons(t, fset, path, nil) {
				if c = strings.TrimPrefix(c, "../"); !allowed[c] {
					found = append(found, c)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if files < 100 {
			t.Fatalf("read %d Go files: the walk missed the module", files)
		}
		for _, c := range found {
			t.Errorf("%s: compared with ==, != or bytes.Equal; use hmac.Equal or subtle.ConstantTimeCompare", c)
		}
	})
}
