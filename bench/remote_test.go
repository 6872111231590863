package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/authflow/authflow/internal/stack"
	"github.com/authflow/authflow/security"
)

// TestRunAgainstADeployment runs the bench against a deployment reached
// only through its addresses, as it runs against `prodshape up`: here an
// embedded stack whose API is given twice (logins take them in turn), its
// Temporal address, its store's URL and its secret key. Its "worker" is a
// process that burns CPU, its "temporal" one that ended before the run:
// the phases' CPU splits by part, the burner's CPU lands with the workers,
// the total is the parts but PostgreSQL, and the ended one is reported.
func TestRunAgainstADeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	params := security.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "deployment.db")
	st, err := stack.Start(ctx, stack.Options{DatabaseURL: dbURL, Argon2: &params, EncryptPayloads: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	burner := exec.Command("sh", "-c", "while :; do :; done")
	if err := burner.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = burner.Process.Kill(); _ = burner.Wait() }()
	ended := exec.Command("true")
	if err := ended.Run(); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	r, err := Run(ctx, Options{
		Logins: 6, Concurrency: 2, Rounds: 1, Argon2: params, HashInProcess: true, Log: &logs,
		TemporalAddress: st.Server.FrontendHostPort(), TemporalNamespace: st.Server.Namespace(),
		DatabaseURL: dbURL, APIURLs: []string{st.URL, st.URL}, SecretKey: st.Config.SecretKey,
		Processes: []Process{{Name: "worker-1", PID: burner.Process.Pid}, {Name: "temporal", PID: ended.Process.Pid}},
	})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	if !r.Split || r.Target == "the embedded stack" {
		t.Fatalf("a run against a deployment: split %v, target %q", r.Split, r.Target)
	}
	var burned, elapsed time.Duration
	phases := []Phase{r.Full, r.RoundTrip, r.Crypto, r.UpdateWithStart}
	for _, p := range phases {
		if p.Ops != 6 || p.Errors != 0 {
			t.Errorf("%s: %d ops, %d errors (%v)", p.Name, p.Ops, p.Errors, p.FirstErr)
		}
		if len(p.Parts) != numParts {
			t.Fatalf("%s: %d parts, want %d", p.Name, len(p.Parts), numParts)
		}
		var sum time.Duration
		for i, d := range p.Parts {
			if i != partPostgres {
				sum += d
			}
		}
		if sum != p.CPU {
			t.Errorf("%s: CPU %s, the parts but PostgreSQL sum to %s", p.Name, p.CPU, sum)
		}
		// The burner runs all along: a busy core while the phase ran (it
		// shares two cores with the stack, so at least a fifth of the
		// elapsed time), less one tick: /proc counts in clock ticks, so a
		// phase of a few milliseconds may read none (CI saw 0 s in 3.4 ms).
		if w := p.Parts[partWorkers]; w < p.Elapsed/5-clockTick {
			t.Errorf("%s: workers' CPU %s in %s: the burner's CPU is not counted", p.Name, w, p.Elapsed)
		}
		burned += p.Parts[partWorkers]
		elapsed += p.Elapsed
		if d := p.Parts[partTemporal]; d != 0 {
			t.Errorf("%s: %s CPU for a temporal process that had ended", p.Name, d)
		}
		if p.Parts[partBench] <= 0 {
			t.Errorf("%s: no CPU for this process", p.Name)
		}
	}
	// Over all phases the ticks' rounding is at most one per phase.
	if burned < elapsed/5-time.Duration(len(phases))*clockTick || burned == 0 {
		t.Errorf("workers' CPU %s over the phases' %s: the burner's CPU is not counted", burned, elapsed)
	}
	if len(r.Gone) != 1 || !strings.Contains(r.Gone[0], "temporal") {
		t.Errorf("gone %v, want the temporal process", r.Gone)
	}
	var out bytes.Buffer
	r.Print(&out)
	text := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`against Temporal \S+, APIs http://127\.0\.0\.1:\d+ http://127\.0\.0\.1:\d+`),
		regexp.MustCompile(`(?m)^\s+Temporal\s+workers\s+APIs\s+bench\s+PostgreSQL$`),
		regexp.MustCompile(`(?m)^full login\s+0\.0000\s+[0-9.]+\s+0\.0000\s+[0-9.]+\s+[0-9.]+$`),
		regexp.MustCompile(`warning: temporal \(pid \d+\) ended during the run`),
	} {
		if !want.MatchString(text) {
			t.Errorf("the report lacks %s:\n%s", want, text)
		}
	}
}

// TestLoginsTakeTheAPIsInTurn: with two APIs, logins alternate between
// them and each login makes all its calls on one.
func TestLoginsTakeTheAPIsInTurn(t *testing.T) {
	secret, err := totp.Generate(totp.GenerateOpts{Issuer: "authflow-bench", AccountName: "bench", SecretSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	u := user{email: "bench@example.com", secret: secret.Secret()}
	var mu sync.Mutex
	var got []string
	api := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			got = append(got, name+" "+r.URL.Path)
			mu.Unlock()
			if r.URL.Path == "/v1/login" {
				_, _ = w.Write([]byte(`{"flow_id":"f","flow_secret":"s","state":"choose_method"}`))
				return
			}
			_, _ = w.Write([]byte(`{"flow_id":"f","state":"done","session":{"token":"t"}}`))
		}))
		t.Cleanup(s.Close)
		return s
	}
	a, b := api("a"), api("b")
	cl := newAPIClient([]string{a.URL, b.URL}, http.DefaultClient, twoCalls)
	for range 3 {
		if _, err := cl.login(context.Background(), u, 2); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"a /v1/login", "a /v1/login/f/verify", "b /v1/login", "b /v1/login/f/verify", "a /v1/login", "a /v1/login/f/verify"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("calls %v, want %v", got, want)
	}
}
