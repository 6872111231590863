package errkind_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/authflow/authflow/errkind"
)

// declaredKinds reads errkind.go for every constant of type Kind: a kind
// declared there and left out of the list must fail, whatever the list
// says.
func declaredKinds(t *testing.T) []errkind.Kind {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errkind.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []errkind.Kind
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Kind" {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok {
					t.Fatalf("a kind's value is not a string literal: %T", v)
				}
				s, _ := strconv.Unquote(lit.Value)
				out = append(out, errkind.Kind(s))
			}
		}
	}
	if len(out) < 15 {
		t.Fatalf("only %d kinds found in errkind.go: the parse missed them", len(out))
	}
	return out
}

// apiCodes reads docs/api.md's table of statuses and codes: status → codes.
func apiCodes(t *testing.T) map[int]map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| (\\d{3}) \\| (.*) \\|$")
	paren := regexp.MustCompile(`\([^)]*\)`)
	code := regexp.MustCompile("`([a-z_]+)`")
	out := map[int]map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		status, _ := strconv.Atoi(m[1])
		out[status] = map[string]bool{}
		for _, c := range code.FindAllStringSubmatch(paren.ReplaceAllString(m[2], ""), -1) {
			out[status][c[1]] = true
		}
	}
	if len(out) < 8 {
		t.Fatalf("docs/api.md's table of codes has %d statuses: the parse missed it", len(out))
	}
	return out
}

func TestEveryKindMapsToAStatusAndCodeOfTheAPI(t *testing.T) {
	docs := apiCodes(t)
	listed := map[errkind.Kind]bool{}
	for _, k := range errkind.Kinds() {
		listed[k] = true
	}
	for _, k := range declaredKinds(t) {
		h, ok := k.HTTP()
		switch {
		case !ok || !listed[k]:
			t.Errorf("kind %s has no HTTP mapping: add it to errkind's list", k)
		case !docs[h.Status][h.Code]:
			t.Errorf("kind %s answers %d %s, which docs/api.md does not list", k, h.Status, h.Code)
		}
		delete(listed, k)
	}
	for k := range listed {
		t.Errorf("the list maps %s, which is not a declared constant", k)
	}
	t.Run("case=every code of docs/api.md is some kind's", func(t *testing.T) {
		answered := map[string]bool{}
		for _, k := range errkind.Kinds() {
			h, _ := k.HTTP()
			answered[fmt.Sprint(h.Status, h.Code)] = true
		}
		for status, codes := range docs {
			for c := range codes {
				if !answered[fmt.Sprint(status, c)] {
					t.Errorf("docs/api.md lists %d %s, which no kind answers", status, c)
				}
			}
		}
	})
}

func TestOf(t *testing.T) {
	t.Run("case=a kind is found through wrapping, with its details", func(t *testing.T) {
		err := fmt.Errorf("activity: %w", errkind.New(errkind.RateLimited, "slow down", errkind.RateLimitDetails{RetryAfterSeconds: 7}))
		k, ae, ok := errkind.Of(err)
		var d errkind.RateLimitDetails
		if !ok || k != errkind.RateLimited || ae.Details(&d) != nil || d.RetryAfterSeconds != 7 || ae.NonRetryable() != true {
			t.Fatalf("Of = %q %v %v, details %+v", k, ae, ok, d)
		}
	})
	t.Run("case=an unlisted type or a plain error has no kind", func(t *testing.T) {
		for _, err := range []error{errors.New("boom"), temporal.NewApplicationError("x", "SomethingElse")} {
			if _, _, ok := errkind.Of(err); ok {
				t.Errorf("%v has a kind", err)
			}
		}
	})
	t.Run("case=internal kinds are not public", func(t *testing.T) {
		if errkind.Internal.Public() || errkind.ProviderThrottled.Public() || !errkind.Conflict.Public() || errkind.Kind("Nope").Public() {
			t.Fatal("Public is wrong")
		}
	})
}
