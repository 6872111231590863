package api_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/workflows"
)

// recordHistory writes a finished flow's history to workflows/testdata when
// AUTHFLOW_RECORD_HISTORIES=1, so the replay test there can check that a
// changed workflow still replays it (see the README, "Replay histories").
func recordHistory(t *testing.T, workflowID, name string) {
	t.Helper()
	if os.Getenv("AUTHFLOW_RECORD_HISTORIES") != "1" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Wait for the run to close so the history is complete.
	run := env.Temporal.GetWorkflow(ctx, workflowID, "")
	var v workflows.View
	if err := run.Get(ctx, &v); err != nil && !temporal.IsCanceledError(err) {
		// A cancelled run (a webhook endpoint deleted during a back-off)
		// is closed too, and replays like any other.
		t.Fatalf("wait for %s: %v", workflowID, err)
	}
	it := env.Temporal.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "workflows", "testdata", name+".json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %s (%d events)", path, len(h.Events))
}

// historyText returns every payload of a flow's history, decoded, as one
// string: what an operator with access to the Temporal UI could read.
func historyText(t *testing.T, workflowID string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := env.Temporal.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var sb strings.Builder
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		// protojson renders payload data as base64: decode every field that
		// parses so that secrets inside JSON payloads are visible to the test.
		b, _ := protojson.Marshal(e)
		sb.Write(b)
		for _, m := range base64Field.FindAllSubmatch(b, -1) {
			if d, err := base64.StdEncoding.DecodeString(string(m[1])); err == nil {
				sb.Write(d)
			}
		}
	}
	return sb.String()
}

var base64Field = regexp.MustCompile(`"data":"([A-Za-z0-9+/=]+)"`)

func TestNoSecretInWorkflowHistory(t *testing.T) {
	t.Run("case=password, codes and session token never appear in history", func(t *testing.T) {
		a := newAccount(t, "secrets")
		a.withEmail(t)
		a.withTOTP(t)
		flow := a.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "email"}), 200)
		code := digits6.FindString(outboxTo(t, "email", a.email).Text)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		apitest.ExpectError(t, verify(t, flow, wrong), 400, "invalid_code")
		tok := apitest.Expect(t, verify(t, flow, code), 200).Str("session.token")
		text := historyText(t, "login/"+flow)
		if !strings.Contains(text, "submit-password") || !strings.Contains(text, a.id) {
			t.Fatal("the history decoder sees nothing: the test would pass vacuously")
		}
		for name, secret := range map[string]string{"password": pw, "email code": code, "wrong code": wrong, "session token": tok, "totp secret": a.totp} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s appears in the workflow history", name)
			}
		}
	})
}
