package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// cpuPhase is a phase of ops operations that used cpu in all.
func cpuPhase(name string, ops int, cpu time.Duration) Phase {
	return Phase{Name: name, Ops: ops, CPU: cpu, Elapsed: time.Second}
}

func TestStepCPUIsWhatEachCallAddsToTheCutLogins(t *testing.T) {
	r := Report{
		Options:   Options{Breakdown: true},
		Full:      cpuPhase("full login", 100, 6*time.Second), // 60 ms a login
		RoundTrip: cpuPhase("floor 1", 100, time.Second),      // 10 ms
		Crypto:    cpuPhase("floor 2", 100, 3*time.Second),    // 30 ms
		Cut:       [2]Phase{cpuPhase(cutNames[0], 100, 4*time.Second), cpuPhase(cutNames[1], 100, 5*time.Second)},
	}
	// Throughputs for the bound: floor 1 100/s, floor 2 25/s (combined 20/s);
	// the three calls 50/s with floor 2: 1/(1/50 + 1/25) = 16.67/s.
	r.Crypto.Elapsed = 4 * time.Second
	r.ThreeCalls = Phase{Name: threeCallsName, Ops: 100, CPU: 2 * time.Second, Elapsed: 2 * time.Second}
	if b := r.Bound(); math.Abs(b-(50.0/3)/20) > 1e-9 {
		t.Errorf("Bound = %.4f, want %.4f", b, (50.0/3)/20)
	}
	got := r.StepCPU()
	want := []float64{0.040, 0.010, 0.010}
	if len(got) != len(want) {
		t.Fatalf("StepCPU = %v, want %v", got, want)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9 {
			t.Errorf("step %d: %.4f CPU-s, want %.4f", i+1, got[i], want[i])
		}
	}
	var out bytes.Buffer
	r.printBreakdown(&out)
	// Compared with runs of spaces as one: the columns are not the point.
	printed := strings.Join(strings.Fields(out.String()), " ")
	for _, line := range []string{
		"POST /v1/login (argon2id) 0.0400 CPU-s (0.0100 without floor 2's argon2id + TOTP) 4.00× floor 1",
		"POST …/challenge totp 0.0100 CPU-s 1.00× floor 1",
		"bare Temporal, 3 calls 0.0200 CPU-s 2.00× floor 1",
		"would reach: 0.83",
	} {
		if !strings.Contains(printed, line) {
			t.Errorf("the breakdown lacks %q:\n%s", line, out.String())
		}
	}
}

func TestStepCPUIsNilWithoutBreakdown(t *testing.T) {
	r := Report{Full: cpuPhase("full login", 10, time.Second)}
	if got := r.StepCPU(); got != nil {
		t.Errorf("StepCPU without --breakdown = %v, want nil", got)
	}
	var out bytes.Buffer
	r.printBreakdown(&out)
	if out.Len() != 0 {
		t.Errorf("printed a breakdown without --breakdown:\n%s", out.String())
	}
	if b := r.Bound(); b != 0 {
		t.Errorf("Bound without --breakdown = %v, want 0", b)
	}
	if n := len(r.phases()); n != 4 {
		t.Errorf("%d phases in the table without --breakdown, want 4", n)
	}
}
