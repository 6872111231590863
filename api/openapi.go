package api

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"sigs.k8s.io/yaml"
)

// openAPIYAML is the HTTP contract (docs/api.md is its guide): every route
// of Handler, checked against the router and against real answers by the
// tests (openapi_test.go, apitest).
//
//go:embed openapi.yaml
var openAPIYAML []byte

// openAPIJSON is openAPIYAML as JSON, converted once at start: a broken
// document stops the process before it serves anything.
var openAPIJSON = mustYAMLToJSON(openAPIYAML)

func mustYAMLToJSON(y []byte) []byte {
	// Strict: a key written twice is a mistake, not an override.
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		panic(fmt.Sprintf("api/openapi.yaml: %v", err))
	}
	return j
}

// OpenAPIJSON returns the HTTP contract (api/openapi.yaml) as JSON, as
// GET /v1/openapi.json serves it.
func OpenAPIJSON() []byte { return bytes.Clone(openAPIJSON) }

// serveOpenAPI answers GET /v1/openapi.json.
func serveOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPIJSON)
}
