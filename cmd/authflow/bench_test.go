//go:build !nodev

package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBenchCommand runs `authflow bench --three-calls --breakdown` with a
// tiny load: the command, the embedded stack, the seeding, the logins in two
// and in three calls, the floors, the cut-short logins and the bare calls
// work and report no error. It asserts no timing: CI machines vary.
func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	t.Setenv("AUTHFLOW_DATABASE_URL", "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	root := rootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	// Cheap argon2id parameters: the test is about the command, not the hash.
	root.SetArgs([]string{"bench", "--three-calls", "--breakdown", "--logins", "5", "--concurrency", "2", "--hash-cost", "m=1024,t=1,p=1"})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	text := out.String()
	t.Log("\n" + text)
	for _, phase := range []string{"full login", "full login, 3 calls", "floor 1: Temporal round trip", "floor 2: argon2id + TOTP",
		"login cut after the password", "login cut after the challenge", "bare Temporal, 2 calls", "bare Temporal, 3 calls"} {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(phase) + `\s+(\d+)\s+(\d+)\s+([0-9.]+)`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no %q row in the report", phase)
		}
		if m[1] != "5" || m[2] != "0" {
			t.Errorf("%s: %s ops, %s errors; want 5 ops, 0 errors", phase, m[1], m[2])
		}
		if m[3] == "0.00" {
			t.Errorf("%s: zero throughput", phase)
		}
	}
	if !strings.Contains(text, "m=1024 KiB, t=1, p=1") || !regexp.MustCompile(`ratio full login / combined floor:\s+[0-9.]+ \(in 3 calls: [0-9.]+\)`).MatchString(text) {
		t.Errorf("the report lacks the parameters or the ratios")
	}
	for _, login := range []string{"full login", "full login, 3 calls"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(login) + `: -?[0-9.]+ CPU-s per login beyond floor 2's argon2id \+ TOTP; p50 -?[0-9.]+m?s beyond`).MatchString(text) {
			t.Errorf("the report lacks what %q costs beyond the crypto", login)
		}
	}
	for _, call := range []string{"POST /v1/login (argon2id)", "POST …/verify totp (TOTP, session)", "POST …/challenge totp", "POST …/verify (TOTP, session)"} {
		if !regexp.MustCompile(regexp.QuoteMeta(call) + `\s+-?[0-9.]+ CPU-s`).MatchString(text) {
			t.Errorf("the breakdown has no CPU figure for %q", call)
		}
	}
}
