package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

// cpuPhase is a phase of ops operations that used cpu in all.
func cpuPhase(name string, ops int, cpu time.Duration) Phase {
	return Phase{Name: name, Ops: ops, CPU: cpu, Elapsed: time.Second}
}

// printed is what Print or printBreakdown wrote, with runs of spaces as
// one: the columns are not the point.
func printed(print func(w *bytes.Buffer)) (flat, raw string) {
	var out bytes.Buffer
	print(&out)
	return strings.Join(strings.Fields(out.String()), " "), out.String()
}

func TestStepCPUIsWhatEachCallAddsToTheCutLogins(t *testing.T) {
	r := Report{
		Options:      Options{Breakdown: true, ThreeCalls: true},
		Full:         cpuPhase(fullName, 100, 5*time.Second),      // 50 ms a login
		ThreeCall:    cpuPhase(threeCallName, 100, 6*time.Second), // 60 ms
		RoundTrip:    cpuPhase("floor 1", 100, time.Second),       // 10 ms
		Crypto:       cpuPhase("floor 2", 100, 3*time.Second),     // 30 ms
		CutPassword:  cpuPhase(cutNames[0], 100, 4*time.Second),
		CutChallenge: cpuPhase(cutNames[1], 100, 5*time.Second),
	}
	// Throughputs for the bounds: floor 1 100/s, floor 2 25/s (combined
	// 20/s); the two bare calls 100/s with floor 2: 1/(1/100 + 1/25) = 20/s;
	// the three 50/s: 1/(1/50 + 1/25) = 16.67/s.
	r.Crypto.Elapsed = 4 * time.Second
	r.Bare[0] = Phase{Name: bareNames[0], Ops: 100, CPU: 1500 * time.Millisecond, Elapsed: time.Second}
	r.Bare[1] = Phase{Name: bareNames[1], Ops: 100, CPU: 2 * time.Second, Elapsed: 2 * time.Second}
	if b := r.Bound(2); math.Abs(b-1) > 1e-9 {
		t.Errorf("Bound(2) = %.4f, want 1", b)
	}
	if b := r.Bound(3); math.Abs(b-(50.0/3)/20) > 1e-9 {
		t.Errorf("Bound(3) = %.4f, want %.4f", b, (50.0/3)/20)
	}
	for name, c := range map[string]struct{ got, want []float64 }{
		"two calls":   {r.StepCPU(), []float64{0.040, 0.010}},
		"three calls": {r.ThreeCallStepCPU(), []float64{0.040, 0.010, 0.010}},
	} {
		if len(c.got) != len(c.want) {
			t.Fatalf("%s: step CPU %v, want %v", name, c.got, c.want)
		}
		for i := range c.want {
			if math.Abs(c.got[i]-c.want[i]) > 1e-9 {
				t.Errorf("%s, call %d: %.4f CPU-s, want %.4f", name, i+1, c.got[i], c.want[i])
			}
		}
	}
	flat, raw := printed(func(w *bytes.Buffer) { r.printBreakdown(w) })
	for _, line := range []string{
		"full login: POST /v1/login (argon2id) 0.0400 CPU-s (0.0100 beyond floor 2's argon2id + TOTP) 4.00× floor 1 " +
			"POST …/verify totp (TOTP, session) 0.0100 CPU-s 1.00× floor 1",
		"full login, 3 calls: POST /v1/login (argon2id) 0.0400 CPU-s",
		"POST …/challenge totp 0.0100 CPU-s 1.00× floor 1 POST …/verify (TOTP, session) 0.0100 CPU-s 1.00× floor 1",
		"bare Temporal, 2 calls 0.0150 CPU-s 1.50× floor 1 (Update-With-Start, then one more update)",
		"bare Temporal, 3 calls 0.0200 CPU-s 2.00× floor 1 (Update-With-Start, then two more updates)",
		"would reach: 1.00 (in 3 calls: 0.83)",
	} {
		if !strings.Contains(flat, line) {
			t.Errorf("the breakdown lacks %q:\n%s", line, raw)
		}
	}
}

func TestBreakdownWithoutThreeCallsIsTheTwoCallLoginAlone(t *testing.T) {
	r := Report{
		Options:     Options{Breakdown: true},
		Full:        cpuPhase(fullName, 100, 5*time.Second),
		RoundTrip:   cpuPhase("floor 1", 100, time.Second),
		Crypto:      cpuPhase("floor 2", 100, 3*time.Second),
		CutPassword: cpuPhase(cutNames[0], 100, 4*time.Second),
		Bare:        [2]Phase{cpuPhase(bareNames[0], 100, time.Second)},
	}
	if got := r.ThreeCallStepCPU(); got != nil {
		t.Errorf("ThreeCallStepCPU without --three-calls = %v, want nil", got)
	}
	if b := r.Bound(3); b != 0 {
		t.Errorf("Bound(3) without --three-calls = %v, want 0", b)
	}
	var names []string
	for _, p := range r.phases() {
		names = append(names, p.Name)
	}
	want := []string{fullName, "floor 1", "floor 2", "", bareNames[0], cutNames[0]}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("phases %q, want %q", names, want)
	}
	flat, raw := printed(func(w *bytes.Buffer) { r.printBreakdown(w) })
	for _, absent := range []string{"3 calls", "challenge"} {
		if strings.Contains(flat, absent) {
			t.Errorf("the breakdown without --three-calls mentions %q:\n%s", absent, raw)
		}
	}
}

func TestStepCPUIsNilWithoutBreakdown(t *testing.T) {
	r := Report{Full: cpuPhase(fullName, 10, time.Second)}
	if got := r.StepCPU(); got != nil {
		t.Errorf("StepCPU without --breakdown = %v, want nil", got)
	}
	var out bytes.Buffer
	r.printBreakdown(&out)
	if out.Len() != 0 {
		t.Errorf("printed a breakdown without --breakdown:\n%s", out.String())
	}
	if b := r.Bound(2); b != 0 {
		t.Errorf("Bound without --breakdown = %v, want 0", b)
	}
	if n := len(r.phases()); n != 4 {
		t.Errorf("%d phases in the table without --breakdown, want 4", n)
	}
	r.Options.ThreeCalls = true
	if n := len(r.phases()); n != 5 {
		t.Errorf("%d phases in the table with --three-calls, want 5", n)
	}
}

// TestReportPrintsWhatEachLoginCostsBeyondTheCrypto: the two
// figures, each login's CPU beyond floor 2 and its p50 beyond one lone
// argon2id verification, and nothing the run did not measure.
func TestReportPrintsWhatEachLoginCostsBeyondTheCrypto(t *testing.T) {
	full := cpuPhase(fullName, 100, 4*time.Second) // 40 ms a login
	full.P50 = 45 * time.Millisecond
	three := cpuPhase(threeCallName, 100, 5*time.Second)
	three.P50 = 60 * time.Millisecond
	r := Report{Options: Options{Rounds: 1, Logins: 100, Concurrency: 1, ThreeCalls: true},
		Full: full, ThreeCall: three, HashTime: 30 * time.Millisecond,
		Steps:          []Step{{Name: callNames[callPassword]}, {Name: callNames[callVerifyTOTP]}},
		ThreeCallSteps: []Step{{Name: callNames[callPassword]}, {Name: callNames[callChallenge]}, {Name: callNames[callVerify]}},
		RoundTrip:      cpuPhase("floor 1: Temporal round trip", 100, time.Second),
		Crypto:         cpuPhase("floor 2: argon2id + TOTP", 100, 3*time.Second)} // 30 ms
	if got := r.NonHashCPU(r.Full); math.Abs(got-0.010) > 1e-9 {
		t.Errorf("NonHashCPU = %.4f, want 0.0100", got)
	}
	if got := r.OverHash(r.Full); got != 15*time.Millisecond {
		t.Errorf("OverHash = %s, want 15ms", got)
	}
	flat, raw := printed(func(w *bytes.Buffer) { r.Print(w) })
	for _, want := range []string{
		"full login: 0.0100 CPU-s per login beyond floor 2's argon2id + TOTP; p50 15.0ms beyond one argon2id verification alone",
		"full login, 3 calls: 0.0200 CPU-s per login beyond floor 2's argon2id + TOTP; p50 30.0ms beyond",
		// Each login's calls under its own row.
		"full login 100 0 100.00 45.0ms 0.0ms 0.0400 POST /v1/login (argon2id) 0.0ms 0.0ms POST …/verify totp (TOTP, session) 0.0ms 0.0ms full login, 3 calls",
		"full login, 3 calls 100 0 100.00 60.0ms 0.0ms 0.0500 POST /v1/login (argon2id) 0.0ms 0.0ms POST …/challenge totp",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("the report lacks %q:\n%s", want, raw)
		}
	}
	if strings.Contains(strings.ToLower(flat), "peer") {
		t.Errorf("the report names a peer it did not measure:\n%s", raw)
	}
}

// TestLoginCalls runs each kind of login against a stand-in for the API:
// the two-call login verifies with the method straight from choose_method,
// the three-call one asks for the challenge first, and a cut login stops.
func TestLoginCalls(t *testing.T) {
	secret, err := totp.Generate(totp.GenerateOpts{Issuer: "authflow-bench", AccountName: "bench", SecretSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	u := user{email: "bench@example.com", secret: secret.Secret()}
	var mu sync.Mutex
	var got []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+body["method"]+" secret="+r.Header.Get("X-Flow-Secret"))
		mu.Unlock()
		switch {
		case r.URL.Path == "/v1/login" && body["email"] == u.email && body["password"] == password:
			_, _ = w.Write([]byte(`{"flow_id":"f1","flow_secret":"s1","state":"choose_method"}`))
		case strings.HasSuffix(r.URL.Path, "/challenge"):
			_, _ = w.Write([]byte(`{"flow_id":"f1","state":"challenge","method":"totp"}`))
		case strings.HasSuffix(r.URL.Path, "/verify") && totp.Validate(body["code"], u.secret):
			_, _ = w.Write([]byte(`{"flow_id":"f1","state":"done","session":{"token":"t"}}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"code":"bad_request","message":"unexpected"}}`))
		}
	}))
	defer api.Close()
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		calls []call
		n     int
		want  []string
	}{
		{"two calls", twoCalls, 2, []string{"/v1/login  secret=", "/v1/login/f1/verify totp secret=s1"}},
		{"three calls", threeCalls, 3, []string{"/v1/login  secret=", "/v1/login/f1/challenge totp secret=s1", "/v1/login/f1/verify  secret=s1"}},
		{"cut after the password", threeCalls, 1, []string{"/v1/login  secret="}},
		{"cut after the challenge", threeCalls, 2, []string{"/v1/login  secret=", "/v1/login/f1/challenge totp secret=s1"}},
	} {
		t.Run("case="+c.name, func(t *testing.T) {
			got = nil
			cl := newAPIClient([]string{api.URL}, api.Client(), c.calls)
			flow, err := cl.login(ctx, u, c.n)
			if err != nil || flow != "f1" {
				t.Fatalf("login: flow %q, %v", flow, err)
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			steps := cl.steps.stats(cl.calls)
			for i, st := range steps {
				if st.Name != callNames[c.calls[i]] || (i < c.n) != (st.P50 > 0) {
					t.Errorf("step %d: %+v, want %q timed %v", i, st, callNames[c.calls[i]], i < c.n)
				}
			}
		})
	}
}
