package client

import (
	"context"
	"net/http"
)

// FlowSecret sends a flow's secret (the flow_secret of the answer that
// started it) with a call of that flow, as the X-Flow-Secret header: every
// call under /v1/login/{flow_id} and /v1/recovery/{flow_id} needs it
// (docs/api.md "Login flows and the flow secret"); enrollments belong to
// the session that started them and need none.
func FlowSecret(secret string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("X-Flow-Secret", secret)
		return nil
	}
}

// Bearer sends a session token (a login's session.token) or, for
// /v1/admin/*, the admin token as Authorization: Bearer.
func Bearer(token string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}
