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

// TestBenchCommand runs `authflow bench --breakdown` with a tiny load: the
// command, the embedded stack, the seeding, the three phases and the two
// cut-short ones work and report no error.
// It asserts no timing: CI machines vary.
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
	root.SetArgs([]string{"bench", "--breakdown", "--logins", "5", "--concurrency", "2", "--hash-cost", "m=1024,t=1,p=1"})
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	text := out.String()
	t.Log("\n" + text)
	for _, phase := range []string{"full login", "floor 1: Temporal round trip", "floor 2: argon2id + TOTP",
		"login cut after step 1", "login cut after step 2", "bare Temporal, 3 calls"} {
		m := regexp.MustCompile(regexp.QuoteMeta(phase) + `\s+(\d+)\s+(\d+)\s+([0-9.]+)`).FindStringSubmatch(text)
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
	if !strings.Contains(text, "m=1024 KiB, t=1, p=1") || !regexp.MustCompile(`ratio full login / combined floor:\s+[0-9.]+`).MatchString(text) {
		t.Errorf("the report lacks the parameters or the ratio")
	}
	for _, step := range []string{"POST /v1/login (argon2id)", "POST …/challenge totp", "POST …/verify (TOTP, session)"} {
		if !regexp.MustCompile(regexp.QuoteMeta(step) + `\s+-?[0-9.]+ CPU-s`).MatchString(text) {
			t.Errorf("the breakdown has no CPU figure for %q", step)
		}
	}
}
