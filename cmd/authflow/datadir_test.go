package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// holdDataDirEnv makes the test binary a process that holds a data dir
// (TestHelperHoldsDataDir) until its stdin closes.
const holdDataDirEnv = "AUTHFLOW_TEST_HOLD_DATA_DIR"

func TestHelperHoldsDataDir(t *testing.T) {
	dir := os.Getenv(holdDataDirEnv)
	if dir == "" {
		t.Skip("a helper process for the data dir tests")
	}
	lock, err := lockDataDir(dir)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	lock.Release()
	os.Exit(0)
}

// holdDataDir starts another process that holds dir, and returns its pid.
func holdDataDir(t *testing.T, dir string) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldsDataDir$")
	cmd.Env = append(os.Environ(), holdDataDirEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("the helper did not take the data dir: %q, %v", line, err)
	}
	return cmd.Process.Pid
}

func TestDataDirIsHeldByOneProcess(t *testing.T) {
	t.Run("case=a second lock on a held data dir fails naming the holder's pid", func(t *testing.T) {
		dir := t.TempDir()
		pid := holdDataDir(t, dir)
		_, err := lockDataDir(dir)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", pid)) || !strings.Contains(err.Error(), "--data-dir") {
			t.Fatalf("error %v, want the holder's pid %d and the way out", err, pid)
		}
		if got, running := dataDirHolder(dir); !running || got != pid {
			t.Errorf("dataDirHolder = %d, %v; want %d, true", got, running, pid)
		}
	})
	t.Run("case=a released data dir can be taken again", func(t *testing.T) {
		dir := t.TempDir()
		lock, err := lockDataDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, running := dataDirHolder(dir); !running {
			t.Error("a held data dir is not reported as held")
		}
		lock.Release()
		if _, running := dataDirHolder(dir); running {
			t.Error("a released data dir is reported as held")
		}
		again, err := lockDataDir(dir)
		if err != nil {
			t.Fatalf("relock: %v", err)
		}
		again.Release()
	})
}

func TestCLIFindsTemporal(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	t.Run("case=TEMPORAL_ADDRESS wins", func(t *testing.T) {
		got := findTemporal(env(map[string]string{"TEMPORAL_ADDRESS": "temporal:7233", "AUTHFLOW_TEMPORAL_PORT": "7300"}), t.TempDir())
		if got.address != "temporal:7233" {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("case=the dev running on the data dir is found whatever its port", func(t *testing.T) {
		dir := t.TempDir()
		lock, err := lockDataDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer lock.Release()
		remove, err := writeDevState(dir, devState{PID: os.Getpid(), TemporalAddress: "127.0.0.1:41234", TemporalNamespace: "dev-ns"})
		if err != nil {
			t.Fatal(err)
		}
		defer remove()
		got := findTemporal(env(nil), dir)
		if got.address != "127.0.0.1:41234" || got.namespace != "dev-ns" || !strings.Contains(got.from, "authflow dev") {
			t.Fatalf("%+v", got)
		}
		if fi, err := os.Stat(filepath.Join(dir, stateFileName)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("state file: %v %v", fi, err)
		}
	})
	t.Run("case=a killed dev's state file is ignored: its lock is gone", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := writeDevState(dir, devState{PID: 999999, TemporalAddress: "127.0.0.1:41235"}); err != nil {
			t.Fatal(err)
		}
		got := findTemporal(env(map[string]string{"AUTHFLOW_TEMPORAL_PORT": "7300"}), dir)
		if got.address != "127.0.0.1:7300" {
			t.Fatalf("%+v, want AUTHFLOW_TEMPORAL_PORT's address", got)
		}
	})
	t.Run("case=AUTHFLOW_TEMPORAL_PORT, as dev reads it, without a running dev", func(t *testing.T) {
		got := findTemporal(env(map[string]string{"AUTHFLOW_TEMPORAL_PORT": "7300"}), t.TempDir())
		if got.address != "127.0.0.1:7300" || !strings.Contains(got.from, "AUTHFLOW_TEMPORAL_PORT") {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("case=nothing set is localhost:7233", func(t *testing.T) {
		if got := findTemporal(env(nil), t.TempDir()); got.address != "localhost:7233" {
			t.Fatalf("%+v", got)
		}
	})
}
