// Package client is a typed Go client of authflow's HTTP API, generated
// from the contract, api/openapi.yaml, by oapi-codegen (pinned in
// tools/go.mod; settings in oapi-codegen.yaml). Do not edit client.gen.go:
// change api/openapi.yaml and run `go generate ./client`;
// TestGeneratedClientIsCurrent fails while the two differ.
//
// NewClientWithResponses(baseURL) gives one method per operation of the
// contract, named after its operationId (LoginWithResponse,
// LoginVerifyWithResponse, …), each answer decoded into the contract's
// types (JSON200, JSON401, …). The headers a flow or a session needs go in
// as request editors: FlowSecret and Bearer. README.md shows a TOTP login.
package client

//go:generate sh -c "go -C ../tools tool oapi-codegen -config ../client/oapi-codegen.yaml ../api/openapi.yaml > client.gen.go"
