package ops_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/authflow/authflow/codec"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/workflows"
)

// found is a payload of a history and where it sits.
type found struct {
	path    string
	payload *commonpb.Payload
}

// payloads walks a message for every Payload in it.
func payloads(path string, m protoreflect.Message, out *[]found) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		*out = append(*out, found{path, p})
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				payloads(name, v.List().Get(i).Message(), out)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				payloads(name+"["+k.String()+"]", mv.Message(), out)
				return true
			})
		case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
			payloads(name, v.Message(), out)
		}
		return true
	})
}

func history(t *testing.T, workflowID string) []found {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []found
	it := env.Temporal.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		payloads(e.GetEventType().String(), e.ProtoReflect(), &out)
	}
	return out
}

func encoding(p *commonpb.Payload) string { return string(p.GetMetadata()[converter.MetadataEncoding]) }

// readableByDesign are the payloads the codec leaves in clear: search
// attributes (not payloads of the data converter), and bare strings (the
// UI's summaries, version markers' change ids).
func readableByDesign(f found) bool {
	if strings.Contains(f.path, ".search_attributes") {
		return true
	}
	var s string
	return encoding(f.payload) == "json/plain" && json.Unmarshal(f.payload.GetData(), &s) == nil
}

func codecCall(t *testing.T, op, token, origin string, in []*commonpb.Payload) (*http.Response, []*commonpb.Payload) {
	t.Helper()
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: in})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/codec/"+op, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	var out commonpb.Payloads
	if err := protojson.Unmarshal(raw, &out); err != nil {
		t.Fatalf("codec answer %s: %v", raw, err)
	}
	return resp, out.Payloads
}

func TestPayloadCodec(t *testing.T) {
	flow, userID, session := totpLogin(t)
	wid := workflows.LoginWorkflowID(flow)
	all := history(t, wid)

	var secret []*commonpb.Payload
	t.Run("case=history payloads are ciphertext, search attributes and summary stay readable", func(t *testing.T) {
		var summary string
		for _, f := range all {
			switch {
			case strings.HasPrefix(f.path, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED.String()) && strings.Contains(f.path, ".user_metadata.summary"):
				_ = converter.GetDefaultDataConverter().FromPayload(f.payload, &summary)
			case readableByDesign(f):
			case encoding(f.payload) != codec.Encoding:
				t.Errorf("%s is %q in clear: %s", f.path, encoding(f.payload), f.payload.GetData())
			default:
				if bytes.Contains(f.payload.GetData(), []byte(userID)) || bytes.Contains(f.payload.GetData(), []byte(flow)) {
					t.Errorf("%s: ciphertext shows the user or flow id", f.path)
				}
				secret = append(secret, f.payload)
			}
		}
		if len(secret) < 5 {
			t.Fatalf("only %d encrypted payloads in the history: the walk missed them", len(secret))
		}
		if summary != "Login (password)" {
			t.Errorf("summary %q, want it readable", summary)
		}
	})

	t.Run("case=a client without the key reads the details, not the state", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		plain, err := env.Server.NewClient(client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		// What the Temporal UI asks for a flow's current details.
		res, err := plain.QueryWorkflow(ctx, wid, "", "__temporal_workflow_metadata")
		if err != nil {
			t.Fatal(err)
		}
		var md sdkpb.WorkflowMetadata
		if err := res.Get(&md); err != nil {
			t.Fatalf("metadata is not readable without the key: %v", err)
		}
		if d := md.GetCurrentDetails(); !strings.Contains(d, "state: done") || !strings.Contains(d, userID) {
			t.Errorf("current details %q, want the state and the user", d)
		}
		// Even with the flow's secret (its MAC is the query's argument),
		// the answer is ciphertext to a client without the key.
		res, err = plain.QueryWorkflow(ctx, wid, "", workflows.QueryState,
			security.FlowSecretMAC(env.Config.SecretKey, flow, env.FlowSecret(flow)))
		if err != nil {
			t.Fatal(err)
		}
		var v workflows.View
		if err := res.Get(&v); err == nil {
			t.Errorf("the flow's state decoded without the key: %+v", v)
		}
	})

	t.Run("case=the codec endpoint decodes for the admin token only", func(t *testing.T) {
		if len(secret) == 0 {
			t.Skip("no payload")
		}
		resp, out := codecCall(t, "decode", env.AdminToken, "", secret)
		if resp.StatusCode != 200 || len(out) != len(secret) {
			t.Fatalf("decode: %d, %d payloads", resp.StatusCode, len(out))
		}
		var clear strings.Builder
		for _, p := range out {
			if e := encoding(p); e == codec.Encoding || e == "" {
				t.Errorf("decoded payload still %q", e)
			}
			clear.Write(p.GetData())
		}
		if !strings.Contains(clear.String(), flow) {
			t.Error("decoded payloads do not show the flow id: they were not opened")
		}
		for _, tok := range []string{"", "wrong-token", env.AdminToken + "x"} {
			if resp, _ := codecCall(t, "decode", tok, "", secret); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("decode with token %q: %d, want 401", tok, resp.StatusCode)
			}
		}
		if resp, _ := codecCall(t, "decode", session, "", secret); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("decode with a user's session token: %d, want 401", resp.StatusCode)
		}
	})

	t.Run("case=encode then decode gives the payload back", func(t *testing.T) {
		in, _ := converter.GetDefaultDataConverter().ToPayload(map[string]string{"hello": "operator"})
		_, enc := codecCall(t, "encode", env.AdminToken, "", []*commonpb.Payload{in})
		if len(enc) != 1 || encoding(enc[0]) != codec.Encoding || bytes.Contains(enc[0].GetData(), []byte("operator")) {
			t.Fatalf("encode gave %v", enc)
		}
		_, dec := codecCall(t, "decode", env.AdminToken, "", enc)
		if len(dec) != 1 || !proto.Equal(dec[0], in) {
			t.Fatalf("round trip gave %v, want %v", dec, in)
		}
	})

	t.Run("case=CORS answers the Temporal UI's origin only", func(t *testing.T) {
		for origin, want := range map[string]string{uiOrigin: uiOrigin, "https://evil.example": ""} {
			req, _ := http.NewRequest(http.MethodOptions, env.URL+"/codec/decode", nil)
			req.Header.Set("Origin", origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,x-namespace")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want {
				t.Errorf("preflight from %s: Allow-Origin %q, want %q", origin, got, want)
			}
			if want != "" && !strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") {
				t.Errorf("preflight does not allow the Authorization header")
			}
		}
		resp, _ := codecCall(t, "decode", env.AdminToken, uiOrigin, nil)
		if resp.Header.Get("Access-Control-Allow-Origin") != uiOrigin {
			t.Error("the POST answer lacks Allow-Origin for the UI")
		}
	})
}

func TestCodecSignInCookie(t *testing.T) {
	in, _ := converter.GetDefaultDataConverter().ToPayload(map[string]string{"hello": "operator"})
	_, enc := codecCall(t, "encode", env.AdminToken, "", []*commonpb.Payload{in})
	decodeWithCookie := func(cookie *http.Cookie) *http.Response {
		body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: enc})
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/codec/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	signIn := func(token string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, env.URL+"/v1/admin/codec-session", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	t.Run("case=only the admin token signs a browser in", func(t *testing.T) {
		for _, tok := range []string{"", "not-the-admin-token"} {
			if r := signIn(tok); r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 {
				t.Errorf("sign-in with %q: %d, cookies %v", tok, r.StatusCode, r.Cookies())
			}
		}
	})
	t.Run("case=the cookie is for the codec only, HttpOnly and same-site, and decodes", func(t *testing.T) {
		r := signIn(env.AdminToken)
		if r.StatusCode != http.StatusNoContent || len(r.Cookies()) != 1 {
			t.Fatalf("sign-in: %d, cookies %v", r.StatusCode, r.Cookies())
		}
		c := r.Cookies()[0]
		if c.Path != "/codec" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge <= 0 || strings.Contains(c.Value, env.AdminToken) {
			t.Fatalf("cookie %+v", c)
		}
		resp := decodeWithCookie(c)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var out commonpb.Payloads
		if resp.StatusCode != http.StatusOK || protojson.Unmarshal(raw, &out) != nil || len(out.Payloads) != 1 || !proto.Equal(out.Payloads[0], in) {
			t.Fatalf("decode with the cookie: %d %s", resp.StatusCode, raw)
		}
	})
	t.Run("case=without the cookie, or with another value, the codec refuses", func(t *testing.T) {
		for _, c := range []*http.Cookie{nil, {Name: "authflow_codec", Value: "forged"}} {
			resp := decodeWithCookie(c)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("decode with cookie %v: %d, want 401", c, resp.StatusCode)
			}
		}
	})
	t.Run("case=sign-out clears the cookie", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodDelete, env.URL+"/v1/admin/codec-session", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || len(resp.Cookies()) != 1 || resp.Cookies()[0].MaxAge >= 0 {
			t.Fatalf("sign-out: %d, cookies %v", resp.StatusCode, resp.Cookies())
		}
	})
	t.Run("case=the sign-in page is served with the pages' CSP", func(t *testing.T) {
		resp, err := http.Get(env.URL + "/admin/codec")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(raw), `id="codec-form"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Fatalf("GET /admin/codec: %d %s", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
	})
}
