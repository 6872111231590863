package durability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/store/opener"
)

// flowClient calls a dev server as the admin, with each flow's secret on
// the calls under it (login and recovery flows alike).
type flowClient struct {
	base, admin string
	secrets     map[string]string // flow id → flow secret
}

func (c *flowClient) call(method, path string, body any) answer {
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.admin)
	for _, prefix := range []string{"/v1/login/", "/v1/recovery/"} {
		if rest, ok := strings.CutPrefix(path, prefix); ok {
			id, _, _ := strings.Cut(rest, "/")
			req.Header.Set("X-Flow-Secret", c.secrets[id])
		}
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// outbox counts the messages in the dev outbox to one address whose
// subject starts with prefix, and returns the text of the first sent (the
// outbox lists the newest first). Entries
// with one idempotency key are one message: a send whose worker was killed
// after the provider took it but before its record was written is sent
// again with the same key on the activity's retry, which an SMTP receiver
// sees as one Message-ID (docs/security.md, "Durability"). Two keys are two
// messages, which is what a notice sent twice by the flow would be. A copy
// that differs from its first (another cancel link) fails t.
func (c *flowClient) outbox(t *testing.T, to, prefix string) (int, string) {
	t.Helper()
	var outbox struct {
		Entries []struct{ Channel, To, Subject, Text, Key string } `json:"entries"`
	}
	_ = json.Unmarshal([]byte(c.call("GET", "/dev/outbox.json", nil).raw), &outbox)
	first, n, text := map[string]string{}, 0, ""
	for _, e := range outbox.Entries {
		if e.Channel != "email" || e.To != to || !strings.HasPrefix(e.Subject, prefix) {
			continue
		}
		if prev, seen := first[e.Key]; e.Key == "" || !seen {
			n++
			first[e.Key] = e.Text
		} else if prev != e.Text {
			t.Errorf("two sends of %q with key %s differ:\n%s\n%s", e.Subject, e.Key, prev, e.Text)
		}
		text = e.Text
	}
	return n, text
}

// TestDevKilledDuringARecoveryWait kills `authflow dev` with SIGKILL while
// an account recovery waits out its delay, starts it again on the same data
// dir, and checks that the reminder and the end of the wait still happen,
// each once, and the new password can then be set. The delay is short
// (AUTHFLOW_RECOVERY_DELAY may be anything in dev); the workflow tests
// cover the 72 h default with skipped time.
func TestDevKilledDuringARecoveryWait(t *testing.T) {
	if testing.Short() {
		t.Skip("builds authflow and runs it twice")
	}
	const delay = 40 * time.Second
	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	devEnv := map[string]string{
		"AUTHFLOW_HTTP_ADDR":        httpAddr,
		"AUTHFLOW_PUBLIC_URL":       "http://localhost" + httpAddr[len("127.0.0.1"):],
		"AUTHFLOW_ADMIN_TOKEN":      "durability-admin-token",
		"AUTHFLOW_TEMPORAL_PORT":    fmt.Sprint(freePort(t)),
		"AUTHFLOW_TEMPORAL_UI_PORT": fmt.Sprint(freePort(t)),
		"AUTHFLOW_RECOVERY_DELAY":   delay.String(),
	}
	c := &flowClient{base: "http://" + httpAddr, admin: devEnv["AUTHFLOW_ADMIN_TOKEN"], secrets: map[string]string{}}
	ready := func(p *proc) {
		t.Helper()
		eventually(t, 2*time.Minute, "authflow dev to be ready", func() bool {
			if p.cmd.ProcessState != nil {
				t.Fatalf("authflow dev exited:\n%s", p.out.String())
			}
			return c.call("GET", "/readyz", nil).status == http.StatusOK
		})
	}
	dev := startAuthflow(t, devEnv, "dev", "--data-dir", dir)
	ready(dev)

	email := fmt.Sprintf("recovering-%d@example.com", time.Now().UnixNano())
	u := c.call("POST", "/v1/admin/users", map[string]string{"email": email, "password": pw})
	if u.status != http.StatusCreated {
		t.Fatalf("create user: %d %s", u.status, u.raw)
	}
	st, err := opener.Open(context.Background(), "sqlite://"+filepath.Join(dir, "authflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetEmailEnabled(context.Background(), u.body["id"].(string), true); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()

	r := c.call("POST", "/v1/recovery", map[string]string{"email": email})
	if r.status != http.StatusAccepted {
		t.Fatalf("start: %d %s", r.status, r.raw)
	}
	flow := r.body["flow_id"].(string)
	c.secrets[flow] = r.body["flow_secret"].(string)
	var code string
	eventually(t, 20*time.Second, "the recovery code in the dev outbox", func() bool {
		_, text := c.outbox(t, email, "Your authflow code")
		code = regexp.MustCompile(`\b\d{6}\b`).FindString(text)
		return code != ""
	})
	if v := c.call("POST", "/v1/recovery/"+flow+"/verify", map[string]string{"code": code}); v.body["state"] != "second_factor" {
		t.Fatalf("verify: %d %s", v.status, v.raw)
	}
	w := c.call("POST", "/v1/recovery/"+flow+"/lost-factors", map[string]any{})
	if w.body["state"] != "waiting" {
		t.Fatalf("lost factors: %d %s", w.status, w.raw)
	}
	eventually(t, 20*time.Second, "the first notice", func() bool {
		n, _ := c.outbox(t, email, "Someone is recovering")
		return n == 1
	})

	dev.kill()
	dev = startAuthflow(t, devEnv, "dev", "--data-dir", dir)
	ready(dev)

	eventually(t, delay+time.Minute, "set_password after the wait", func() bool {
		return c.call("GET", "/v1/recovery/"+flow, nil).body["state"] == "set_password"
	})
	if n, _ := c.outbox(t, email, "Someone is recovering"); n != 1 {
		t.Errorf("%d first notices, want 1", n)
	}
	if n, _ := c.outbox(t, email, "Reminder: your authflow account"); n != 1 {
		t.Errorf("%d reminders, want 1", n)
	}
	s := c.call("GET", "/v1/recovery/"+flow, nil)
	if d, _ := s.body["downgrade"].(map[string]any); d["two_factor_disabled"] != true {
		t.Errorf("the wait ended without the downgrade: %s", s.raw)
	}
	done := c.call("POST", "/v1/recovery/"+flow+"/password", map[string]string{"new_password": "a new long password"})
	if done.status != http.StatusOK || done.body["state"] != "done" {
		t.Fatalf("password: %d %s", done.status, done.raw)
	}
}
