package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	commonpb "go.temporal.io/api/common/v1"

	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/metrics"
)

// The HTTP contract, api/openapi.yaml, against the router in both
// directions: every route gin serves is documented, and every documented
// path and method is served. (apitest checks real answers against it.)

// nopCodec is a payload codec that changes nothing: enough to mount /codec.
type nopCodec struct{}

func (nopCodec) Encode(p []*commonpb.Payload) ([]*commonpb.Payload, error) { return p, nil }
func (nopCodec) Decode(p []*commonpb.Payload) ([]*commonpb.Payload, error) { return p, nil }

// fullRouter is the router with every optional part mounted: metrics, the
// payload codec and the dev outbox. Building it touches no dependency.
func fullRouter(t *testing.T) *gin.Engine {
	t.Helper()
	srv := &api.Server{Cfg: config.Config{PublicURL: "http://localhost:8080", Dev: true}, Metrics: metrics.New(),
		Codec: nopCodec{}, Outbox: channels.NewOutbox()}
	g, ok := srv.Handler().(*gin.Engine)
	if !ok {
		t.Fatalf("Handler is %T, not a *gin.Engine", srv.Handler())
	}
	return g
}

// ginParam matches gin's path parameters, :name and *name.
var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// openAPIPath writes a gin path as OpenAPI does: /v1/login/:flow_id →
// /v1/login/{flow_id}.
func openAPIPath(ginPath string) string { return ginParam.ReplaceAllString(ginPath, "{$1}") }

// openAPIDoc is the served document, decoded.
func openAPIDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(api.OpenAPIJSON(), &doc); err != nil {
		t.Fatalf("api/openapi.yaml as JSON: %v", err)
	}
	return doc
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// documentedRoutes are "METHOD /path" for every operation of the document.
func documentedRoutes(t *testing.T, doc map[string]any) []string {
	t.Helper()
	paths, _ := doc["paths"].(map[string]any)
	var out []string
	for p, item := range paths {
		for m := range item.(map[string]any) {
			if slices.Contains(httpMethods, m) {
				out = append(out, strings.ToUpper(m)+" "+p)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestOpenAPIDocumentsEveryRouteAndServesEveryDocumentedOne(t *testing.T) {
	var served []string
	for _, r := range fullRouter(t).Routes() {
		served = append(served, r.Method+" "+openAPIPath(r.Path))
	}
	slices.Sort(served)
	documented := documentedRoutes(t, openAPIDoc(t))
	if len(served) < 40 || len(documented) < 40 {
		t.Fatalf("%d routes served, %d documented: the router or the document was not read", len(served), len(documented))
	}
	t.Run("case=every route the router serves is in api/openapi.yaml", func(t *testing.T) {
		for _, r := range served {
			if !slices.Contains(documented, r) {
				t.Errorf("%s is served but not documented in api/openapi.yaml", r)
			}
		}
	})
	t.Run("case=every operation of api/openapi.yaml is served", func(t *testing.T) {
		for _, r := range documented {
			if !slices.Contains(served, r) {
				t.Errorf("%s is documented in api/openapi.yaml but not served", r)
			}
		}
	})
}

func TestOpenAPIIsServedAsJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	fullRouter(t).ServeHTTP(rec, httptest.NewRequest("GET", "/v1/openapi.json", nil))
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /v1/openapi.json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(rec.Body.Bytes(), api.OpenAPIJSON()) {
		t.Fatal("GET /v1/openapi.json is not api/openapi.yaml as JSON")
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct{ Title string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1.") || doc.Info.Title == "" {
		t.Fatalf("openapi %q, title %q, err %v", doc.OpenAPI, doc.Info.Title, err)
	}
}

// TestOpenAPIDocumentIsConsistent checks what a reader of the document
// relies on: every local $ref resolves, every operation has a unique
// operationId, answers and a description for each, and every {param} of
// a path is declared as a path parameter.
func TestOpenAPIDocumentIsConsistent(t *testing.T) {
	doc := openAPIDoc(t)
	resolve := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			var cur any = doc
			for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
				cm, _ := cur.(map[string]any)
				cur = cm[strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")]
			}
			m, _ = cur.(map[string]any)
		}
		return m
	}
	t.Run("case=every $ref resolves", func(t *testing.T) {
		var walk func(at string, v any)
		walk = func(at string, v any) {
			switch n := v.(type) {
			case map[string]any:
				if ref, ok := n["$ref"].(string); ok {
					if !strings.HasPrefix(ref, "#/") || resolve(n) == nil {
						t.Errorf("%s: $ref %q does not resolve", at, ref)
					}
				}
				for k, c := range n {
					walk(at+"/"+k, c)
				}
			case []any:
				for _, c := range n {
					walk(at, c)
				}
			}
		}
		walk("#", doc)
	})
	t.Run("case=operations have unique ids, answers and path parameters", func(t *testing.T) {
		ids := map[string]string{}
		braces := regexp.MustCompile(`\{([^}]+)\}`)
		for p, item := range doc["paths"].(map[string]any) {
			im := item.(map[string]any)
			for _, m := range httpMethods {
				op, ok := im[m].(map[string]any)
				if !ok {
					continue
				}
				where := strings.ToUpper(m) + " " + p
				id, _ := op["operationId"].(string)
				if id == "" || ids[id] != "" {
					t.Errorf("%s: operationId %q missing or also used by %s", where, id, ids[id])
				}
				ids[id] = where
				responses, _ := op["responses"].(map[string]any)
				if len(responses) == 0 {
					t.Errorf("%s: no responses", where)
				}
				for code, r := range responses {
					if d, _ := resolve(r)["description"].(string); d == "" {
						t.Errorf("%s %s: no description", where, code)
					}
				}
				declared := map[string]bool{}
				for _, list := range []any{im["parameters"], op["parameters"]} {
					ps, _ := list.([]any)
					for _, prm := range ps {
						pm := resolve(prm)
						if pm["in"] == "path" {
							declared[pm["name"].(string)] = true
						}
					}
				}
				for _, b := range braces.FindAllStringSubmatch(p, -1) {
					if !declared[b[1]] {
						t.Errorf("%s: path parameter %s is not declared", where, b[1])
					}
				}
			}
		}
	})
}
