// Package durability_test breaks things on purpose and checks that nothing
// is lost or done twice (docs/security.md "Durability"): a worker process killed
// with SIGKILL in the middle of the phone saga, `authflow dev` killed and
// restarted with logins waiting for a code, the database unreachable while
// UnlinkBankCards runs, and Temporal unreachable behind the API.
//
// The killed processes are real `authflow` binaries, built once per run.
package durability_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/internal/smtpsink"
	"github.com/authflow/authflow/internal/syncbuf"
	"github.com/authflow/authflow/security"
)

var env *apitest.Env

func TestMain(m *testing.M) {
	code := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		e, err := apitest.Start(ctx, apitest.Options{
			// The worker process uses the production data converter: the
			// API must encrypt payloads under the same key.
			EncryptPayloads: true,
			Argon2:          &security.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1},
			// Webhook receivers run on loopback (webhooks_test.go).
			Configure: func(c *config.Config) { c.WebhookAllowPrivate = true },
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "start test stack:", err)
			return 1
		}
		env = e
		defer e.Close()
		return m.Run()
	}()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

const pw = "correct horse battery"

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// authflowBinary builds cmd/authflow once per test run.
func authflowBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "authflow-durability-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "authflow")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/authflow/authflow/cmd/authflow")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/authflow: %v\n%s", err, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is a running authflow process.
type proc struct {
	cmd *exec.Cmd
	out *syncbuf.Buffer
}

// startAuthflow runs the binary with args and exactly the environment env
// (plus PATH and HOME).
func startAuthflow(t *testing.T, env map[string]string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(authflowBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &proc{cmd: cmd, out: &syncbuf.Buffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("authflow %s output:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// kill sends SIGKILL (nothing is flushed, nothing is drained) and reaps.
func (p *proc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// waitOutput waits for s in the process's output.
func (p *proc) waitOutput(t *testing.T, s string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(p.out.String(), s) {
			return
		}
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %q from authflow within %s:\n%s", s, d, p.out.String())
}

// freePort returns a port nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// secretKeyHex is the stack's AUTHFLOW_SECRET_KEY as the environment gives it.
func secretKeyHex() string { return hex.EncodeToString(env.Config.SecretKey) }

// externalWorkerEnv stops the stack's own worker until the test ends, so
// that `authflow worker` processes started with the environment it
// returns (the stack's store, keys and Temporal, email to sink, plus
// extra) do the work, as in production.
func externalWorkerEnv(t *testing.T, sink *smtpsink.Sink, extra map[string]string) map[string]string {
	t.Helper()
	env.StopWorker()
	t.Cleanup(func() {
		if err := env.StartWorker(); err != nil {
			t.Error(err)
		}
	})
	out := map[string]string{
		"AUTHFLOW_DATABASE_URL": env.Config.DatabaseURL,
		"AUTHFLOW_SECRET_KEY":   secretKeyHex(),
		"AUTHFLOW_ADMIN_TOKEN":  env.AdminToken,
		"AUTHFLOW_METRICS":      "off", // the first worker serves no /metrics
		"AUTHFLOW_PUBLIC_URL":   env.Config.PublicURL,
		"TEMPORAL_ADDRESS":      env.Server.FrontendHostPort(),
		"TEMPORAL_NAMESPACE":    env.Server.Namespace(),
		"SMTP_URL":              "smtp://" + sink.Addr,
		"SMTP_FROM":             "authflow@example.com",
	}
	maps.Copy(out, extra)
	return out
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
