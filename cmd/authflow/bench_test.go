//go:build !nodev

package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/bench"
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

// TestBenchDeploymentOptions: --shape fills the deployment from
// shape.json (flags and AUTHFLOW_SECRET_KEY win), and a deployment without
// what it needs is refused with what to give.
func TestBenchDeploymentOptions(t *testing.T) {
	dir := t.TempDir()
	key := strings.Repeat("ab", 32)
	raw, _ := json.Marshal(Shape{TemporalAddress: "127.0.0.1:7999", Namespace: "ns", StoreURL: "postgres://p@127.0.0.1:5432/s_store",
		APIURLs: []string{"http://localhost:1", "http://localhost:2"}, SecretKey: key,
		Processes: []ShapeProcess{{Name: "temporal", PID: 10}, {Name: "worker-1", PID: 11}, {Name: "api-1", PID: 12}}})
	if err := os.WriteFile(filepath.Join(dir, ShapeFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AUTHFLOW_SECRET_KEY", "")
	t.Setenv("AUTHFLOW_DATABASE_URL", "sqlite://ignored.db")

	var o bench.Options
	if err := deploymentOptions(&o, dir); err != nil {
		t.Fatal(err)
	}
	if o.TemporalAddress != "127.0.0.1:7999" || o.TemporalNamespace != "ns" || o.DatabaseURL != "postgres://p@127.0.0.1:5432/s_store" ||
		strings.Join(o.APIURLs, " ") != "http://localhost:1 http://localhost:2" || hex.EncodeToString(o.SecretKey) != key ||
		len(o.Processes) != 3 || o.Processes[1] != (bench.Process{Name: "worker-1", PID: 11}) {
		t.Errorf("from the shape: %+v", o)
	}

	other := strings.Repeat("cd", 32)
	t.Setenv("AUTHFLOW_SECRET_KEY", other)
	o = bench.Options{TemporalAddress: "10.0.0.1:7233", APIURLs: []string{"http://api"}}
	if err := deploymentOptions(&o, dir); err != nil {
		t.Fatal(err)
	}
	if o.TemporalAddress != "10.0.0.1:7233" || strings.Join(o.APIURLs, " ") != "http://api" || hex.EncodeToString(o.SecretKey) != other {
		t.Errorf("flags and AUTHFLOW_SECRET_KEY do not win over the shape: %+v", o)
	}

	t.Setenv("AUTHFLOW_SECRET_KEY", "")
	for _, c := range []struct {
		o     bench.Options
		shape string
		want  string
	}{
		{bench.Options{APIURLs: []string{"http://api"}}, "", "--api-url needs --temporal-address"},
		{bench.Options{TemporalAddress: "10.0.0.1:7233"}, "", "set AUTHFLOW_SECRET_KEY"},
		{bench.Options{}, filepath.Join(dir, "absent"), "prodshape up"},
	} {
		if err := deploymentOptions(&c.o, c.shape); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v, shape %q: err %v, want one saying %q", c.o, c.shape, err, c.want)
		}
	}
	o = bench.Options{}
	if err := deploymentOptions(&o, ""); err != nil || o.TemporalAddress != "" {
		t.Errorf("no deployment: %v, %+v", err, o)
	}
}
