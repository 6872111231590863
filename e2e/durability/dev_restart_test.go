package durability_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/authflow/authflow/store/opener"
)

// TestDevKilledAndRestarted kills `authflow dev` with SIGKILL while logins
// wait for their emailed codes, starts it again on the same data dir, and
// finishes the logins with those codes.
func TestDevKilledAndRestarted(t *testing.T) {
	if testing.Short() {
		t.Skip("builds authflow and runs it twice")
	}
	dir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	base := "http://" + httpAddr
	admin := "durability-admin-token"
	devEnv := map[string]string{
		"AUTHFLOW_HTTP_ADDR":        httpAddr,
		"AUTHFLOW_PUBLIC_URL":       "http://localhost" + httpAddr[len("127.0.0.1"):],
		"AUTHFLOW_ADMIN_TOKEN":      admin,
		"AUTHFLOW_TEMPORAL_PORT":    fmt.Sprint(freePort(t)),
		"AUTHFLOW_TEMPORAL_UI_PORT": fmt.Sprint(freePort(t)),
	}
	c := &flowClient{base: base, admin: admin, secrets: map[string]string{}}
	call, secrets := c.call, c.secrets
	ready := func(p *proc) {
		t.Helper()
		eventually(t, 2*time.Minute, "authflow dev to be ready", func() bool {
			if p.cmd.ProcessState != nil {
				t.Fatalf("authflow dev exited:\n%s", p.out.String())
			}
			return call("GET", "/readyz", nil).status == http.StatusOK
		})
	}

	dev := startAuthflow(t, devEnv, "dev", "--data-dir", dir)
	ready(dev)

	// Users with email 2FA, set in the store as a confirmed enrollment
	// would (the dev process has the database open: SQLite in WAL mode
	// takes a second connection).
	type waiting struct{ email, flow, code string }
	var logins []waiting
	st, err := opener.Open(context.Background(), "sqlite://"+filepath.Join(dir, "authflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		email := fmt.Sprintf("waiting-%d-%d@example.com", i, time.Now().UnixNano())
		u := call("POST", "/v1/admin/users", map[string]string{"email": email, "password": pw})
		if u.status != http.StatusCreated {
			t.Fatalf("create user: %d %s", u.status, u.raw)
		}
		if err := st.SetEmailEnabled(context.Background(), u.body["id"].(string), true); err != nil {
			t.Fatal(err)
		}
		logins = append(logins, waiting{email: email})
	}
	_ = st.Close()
	code6 := regexp.MustCompile(`\b\d{6}\b`)
	for i := range logins {
		l := &logins[i]
		r := call("POST", "/v1/login", map[string]string{"email": l.email, "password": pw})
		if r.status != http.StatusOK || r.body["state"] != "choose_method" {
			t.Fatalf("login: %d %s", r.status, r.raw)
		}
		l.flow = r.body["flow_id"].(string)
		secrets[l.flow] = r.body["flow_secret"].(string)
		if r := call("POST", "/v1/login/"+l.flow+"/challenge", map[string]string{"method": "email"}); r.status != http.StatusOK {
			t.Fatalf("challenge: %d %s", r.status, r.raw)
		}
		eventually(t, 20*time.Second, "the emailed code in the dev outbox", func() bool {
			var outbox struct {
				Entries []struct{ Channel, To, Text string } `json:"entries"`
			}
			_ = json.Unmarshal([]byte(call("GET", "/dev/outbox.json", nil).raw), &outbox)
			for _, e := range outbox.Entries {
				if e.Channel == "email" && e.To == l.email {
					l.code = code6.FindString(e.Text)
					return l.code != ""
				}
			}
			return false
		})
	}

	dev.kill()
	dev = startAuthflow(t, devEnv, "dev", "--data-dir", dir)
	ready(dev)

	for _, l := range logins {
		r := call("POST", "/v1/login/"+l.flow+"/verify", map[string]string{"code": l.code})
		if r.status != http.StatusOK || r.body["state"] != "done" {
			t.Fatalf("verify after the restart: %d %s", r.status, r.raw)
		}
		tok, _ := r.body["session"].(map[string]any)["token"].(string)
		req, _ := http.NewRequest("GET", base+"/v1/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /v1/me with the new session: %d", resp.StatusCode)
		}
	}
}
