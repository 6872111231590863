// Package tools pins the code generators authflow runs, in a module of its
// own so that their dependencies never enter authflow's build: the typed
// client (client/) is generated from api/openapi.yaml with
//
//	go -C tools tool oapi-codegen -config ../client/oapi-codegen.yaml ../api/openapi.yaml
//
// which `go generate ./client` runs.
package tools
