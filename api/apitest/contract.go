package apitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/authflow/authflow/api"
)

// The contract check: every answer Env receives is checked against
// api/openapi.yaml (api.OpenAPIJSON) — its path and method are documented,
// its status is one the operation lists, the headers the document requires
// are there, its media type is documented, and a JSON body matches the
// schema of that status.
//
// The document is OpenAPI 3.1, whose schemas are JSON Schema 2020-12, so a
// JSON Schema validator checks them: santhosh-tekuri/jsonschema, the one
// kin-openapi itself uses for 3.1 (kin-openapi v0.153.0 would have raised
// two versions the module already pins).
//
// The document leaves its objects open, as the contract says clients must
// ignore fields they do not know. The check closes them: every object
// schema with properties gets "unevaluatedProperties": false, so a field the
// server sends and the document does not describe fails the test.
//
// An answer has no null fields but those the document says may be null
// (`type: 'null'`, as a passkey's last_used_at): a field that does not
// apply is left out. The schemas catch a null where they give a type;
// checkNulls catches it everywhere else too (inside an open object such as
// the WebAuthn options), by name: a property the document lets be null
// somewhere passes wherever it is.

// contractURL names the document inside the validator (never fetched).
const contractURL = "https://authflow.invalid/openapi.json"

// contract is the loaded document and its compiled schemas.
type contract struct {
	doc   map[string]any
	paths []docPath

	// nullable names the properties the document lets be null somewhere.
	nullable map[string]bool

	mu       sync.Mutex
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
}

// docPath is one documented path, split into segments ("{x}" matches any).
type docPath struct {
	template string
	segs     []string
	literals int
}

// loadContract reads the document once per test binary.
var loadContract = sync.OnceValues(func() (*contract, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.OpenAPIJSON()))
	if err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %w", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("api/openapi.yaml: not an object")
	}
	closeObjects(doc)
	c := &contract{doc: doc, compiler: jsonschema.NewCompiler(), schemas: map[string]*jsonschema.Schema{}, nullable: map[string]bool{}}
	c.findNullable(doc)
	c.compiler.DefaultDraft(jsonschema.Draft2020)
	c.compiler.AssertFormat()
	if err := c.compiler.AddResource(contractURL, doc); err != nil {
		return nil, err
	}
	paths, _ := doc["paths"].(map[string]any)
	for p := range paths {
		d := docPath{template: p, segs: strings.Split(p, "/")}
		for _, s := range d.segs {
			if !isParam(s) {
				d.literals++
			}
		}
		c.paths = append(c.paths, d)
	}
	if len(c.paths) == 0 {
		return nil, errors.New("api/openapi.yaml: no paths")
	}
	return c, nil
})

// closeObjects adds "unevaluatedProperties": false to every object schema
// that lists properties and says nothing about others.
func closeObjects(v any) {
	switch n := v.(type) {
	case map[string]any:
		if t, _ := n["type"].(string); t == "object" && n["properties"] != nil {
			_, ap := n["additionalProperties"]
			_, up := n["unevaluatedProperties"]
			if !ap && !up {
				n["unevaluatedProperties"] = false
			}
		}
		for _, c := range n {
			closeObjects(c)
		}
	case []any:
		for _, c := range n {
			closeObjects(c)
		}
	}
}

// findNullable collects the names of the properties whose schema allows
// null.
func (c *contract) findNullable(v any) {
	switch n := v.(type) {
	case map[string]any:
		if props, ok := n["properties"].(map[string]any); ok {
			for name, p := range props {
				if c.allowsNull(p, 0) {
					c.nullable[name] = true
				}
			}
		}
		for _, ch := range n {
			c.findNullable(ch)
		}
	case []any:
		for _, ch := range n {
			c.findNullable(ch)
		}
	}
}

// allowsNull says whether a schema admits null: its type is or lists
// "null", or one of its oneOf/anyOf alternatives (or its $ref) does.
func (c *contract) allowsNull(v any, depth int) bool {
	m, ok := v.(map[string]any)
	if !ok || depth > 10 {
		return false
	}
	switch t := m["type"].(type) {
	case string:
		if t == "null" {
			return true
		}
	case []any:
		if slices.Contains(t, any("null")) {
			return true
		}
	}
	if _, ok := m["$ref"]; ok {
		if r, _, ok := c.resolve(map[string]any{"$ref": m["$ref"]}, nil); ok && c.allowsNull(r, depth+1) {
			return true
		}
	}
	for _, k := range []string{"oneOf", "anyOf"} {
		alts, _ := m[k].([]any)
		for _, a := range alts {
			if c.allowsNull(a, depth+1) {
				return true
			}
		}
	}
	return false
}

// checkNulls fails on a null the document does not allow, naming where in
// the body it is.
func (c *contract) checkNulls(body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("body is not JSON: %v", err)
	}
	var walk func(v any, at, name string) error
	walk = func(v any, at, name string) error {
		switch n := v.(type) {
		case nil:
			if !c.nullable[name] {
				return fmt.Errorf("%s is null: leave out a field that does not apply (the document allows null only where it says type 'null')", at)
			}
		case map[string]any:
			for _, k := range slices.Sorted(maps.Keys(n)) {
				if err := walk(n[k], at+"."+k, k); err != nil {
					return err
				}
			}
		case []any:
			for i, e := range n {
				if err := walk(e, at+"["+strconv.Itoa(i)+"]", ""); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(v, "$", "")
}

func isParam(seg string) bool { return strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") }

// match finds the documented path of a request path; literal segments win
// over parameters (/v1/login/passkey before /v1/login/{flow_id}).
func (c *contract) match(path string) (string, bool) {
	segs := strings.Split(path, "/")
	best, found := docPath{literals: -1}, false
	for _, d := range c.paths {
		if len(d.segs) != len(segs) || d.literals <= best.literals {
			continue
		}
		ok := true
		for i, s := range d.segs {
			if isParam(s) {
				ok = segs[i] != ""
			} else {
				ok = s == segs[i]
			}
			if !ok {
				break
			}
		}
		if ok {
			best, found = d, true
		}
	}
	return best.template, found
}

// check says how an answer departs from the document ("" when it does not).
func (c *contract) check(method, rawPath string, status int, header http.Header, body []byte) error {
	path, _, _ := strings.Cut(rawPath, "?")
	tmpl, ok := c.match(path)
	if !ok {
		// The router's NoRoute: 404 not_found.
		return c.checkBareError(status, body, http.StatusNotFound, "not_found", "path not in the document")
	}
	item := c.doc["paths"].(map[string]any)[tmpl].(map[string]any)
	op, ok := item[strings.ToLower(method)].(map[string]any)
	if !ok {
		// The router's NoMethod: 405 method_not_allowed.
		return c.checkBareError(status, body, http.StatusMethodNotAllowed, "method_not_allowed", method+" not documented for "+tmpl)
	}
	opPtr := []string{"paths", tmpl, strings.ToLower(method)}
	responses, _ := op["responses"].(map[string]any)
	code := strconv.Itoa(status)
	resp, ptr, ok := c.resolve(responses[code], append(opPtr, "responses", code))
	if !ok {
		if resp, ptr, ok = c.resolve(responses["default"], append(opPtr, "responses", "default")); !ok {
			return fmt.Errorf("status %d is not documented for %s %s (documented: %s)", status, method, tmpl, keys(responses))
		}
	}
	headers, _ := resp["headers"].(map[string]any)
	for name, h := range headers {
		hd, _, _ := c.resolve(h, nil)
		if req, _ := hd["required"].(bool); req && header.Get(name) == "" {
			return fmt.Errorf("%s %s %d: header %s is required", method, tmpl, status, name)
		}
	}
	content, _ := resp["content"].(map[string]any)
	ct := header.Get("Content-Type")
	if len(body) == 0 && ct == "" {
		if _, json := content["application/json"]; json {
			return fmt.Errorf("%s %s %d: no body, the document has a JSON one", method, tmpl, status)
		}
		return nil
	}
	if content == nil {
		return fmt.Errorf("%s %s %d: the document has no body, got %s %q", method, tmpl, status, ct, truncate(body))
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("%s %s %d: Content-Type %q: %v", method, tmpl, status, ct, err)
	}
	media, ok := content[mt].(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s %d: media type %s is not documented (documented: %s)", method, tmpl, status, mt, keys(content))
	}
	if mt != "application/json" || media["schema"] == nil {
		return nil
	}
	if err := c.validate(append(ptr, "content", mt, "schema"), body); err != nil {
		return err
	}
	if err := c.checkNulls(body); err != nil {
		return fmt.Errorf("%s %s %d: %v", method, tmpl, status, err)
	}
	return nil
}

// checkBareError checks an answer of the router itself (no route, no
// method): the status and the error document with its code.
func (c *contract) checkBareError(status int, body []byte, want int, code, why string) error {
	if status != want {
		return fmt.Errorf("%s: status %d, want %d", why, status, want)
	}
	if err := c.validate([]string{"components", "schemas", "Error"}, body); err != nil {
		return err
	}
	var doc struct {
		Error struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Error.Code != code {
		return fmt.Errorf("%s: want error code %s", why, code)
	}
	return nil
}

// resolve follows a local $ref and returns the node and its pointer.
func (c *contract) resolve(v any, ptr []string) (map[string]any, []string, bool) {
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, nil, false
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, ptr, true
		}
		toks, ok := strings.CutPrefix(ref, "#/")
		if !ok {
			return nil, nil, false
		}
		ptr = nil
		var cur any = c.doc
		for _, t := range strings.Split(toks, "/") {
			t = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
			ptr = append(ptr, t)
			cm, _ := cur.(map[string]any)
			cur = cm[t]
		}
		v = cur
	}
	return nil, nil, false
}

// validate checks a JSON body against the schema at ptr.
func (c *contract) validate(ptr []string, body []byte) error {
	sch, err := c.schema(ptr)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("body is not JSON: %v", err)
	}
	if err := sch.Validate(v); err != nil {
		// %#v lists every failing keyword with its place in the body.
		return fmt.Errorf("against %q: %#v", strings.Join(ptr, " › "), err)
	}
	return nil
}

// schema compiles (once) the schema at a pointer into the document.
func (c *contract) schema(ptr []string) (*jsonschema.Schema, error) {
	var frag strings.Builder
	for _, t := range ptr {
		frag.WriteString("/" + url.PathEscape(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")))
	}
	loc := contractURL + "#" + frag.String()
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.schemas[loc]; ok {
		return s, nil
	}
	s, err := c.compiler.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("api/openapi.yaml: %v", err)
	}
	c.schemas[loc] = s
	return s, nil
}

func keys(m map[string]any) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return strings.Join(ks, ", ")
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}
