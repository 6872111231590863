package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command with spaces and parentheses: fields count from the last ')'.
	s, err := parseStat("4242 (authflow (api) x) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 75 3 2 20 0 12 0 1000 1 1 rest")
	if err != nil {
		t.Fatal(err)
	}
	if s.pid != 4242 || s.ppid != 17 || s.comm != "authflow (api) x" {
		t.Errorf("pid %d ppid %d comm %q", s.pid, s.ppid, s.comm)
	}
	// utime 250 + stime 75 + cutime 3 + cstime 2 ticks of 10 ms.
	if s.cpu != 3300*time.Millisecond {
		t.Errorf("cpu %s, want 3.3s", s.cpu)
	}
	for _, bad := range []string{"", "12 no-parens S 1", "x (a) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14", "12 (a) S 1 2 3"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) succeeded", bad)
		}
	}
}

// fakeProc writes a /proc of processes: pid → (ppid, comm, utime ticks).
func fakeProc(t *testing.T, procs map[int]struct {
	ppid  int
	comm  string
	ticks int
}) string {
	t.Helper()
	dir := t.TempDir()
	for pid, p := range procs {
		d := filepath.Join(dir, fmt.Sprint(pid))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf("%d (%s) S %d 1 1 0 -1 0 0 0 0 0 %d 0 0 0 20 0 1 0 0 0 0\n", pid, p.comm, p.ppid, p.ticks)
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not a process: ignored.
	if err := os.WriteFile(filepath.Join(dir, "uptime"), []byte("1 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestProcTableTreesAndPostgres(t *testing.T) {
	type p = struct {
		ppid  int
		comm  string
		ticks int
	}
	dir := fakeProc(t, map[int]p{
		1:   {0, "init", 1},
		10:  {1, "authflow", 100}, // a worker
		11:  {10, "authflow", 20}, // its hashing children
		12:  {10, "authflow", 30},
		13:  {11, "sh", 5},       // a grandchild
		20:  {1, "authflow", 7},  // an API: not under the worker
		30:  {1, "postgres", 40}, // a postmaster and its backends
		31:  {30, "postgres", 8},
		32:  {30, "postgres", 9},
		40:  {1, "postgres", 1}, // a second server
		50:  {1, "bash", 1000},
		999: {31, "postgres", 2}, // a backend's helper
	})
	tab, err := readProcs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := tab.tree(10); !ok || got != 1550*time.Millisecond {
		t.Errorf("tree(10) = %s %v, want the worker and its three descendants, 1.55s", got, ok)
	}
	if got, ok := tab.tree(20); !ok || got != 70*time.Millisecond {
		t.Errorf("tree(20) = %s %v, want 70ms", got, ok)
	}
	if _, ok := tab.tree(77); ok {
		t.Error("tree of a pid that does not run reported it running")
	}
	if got := tab.postgres(); got != 600*time.Millisecond {
		t.Errorf("postgres() = %s, want both servers' trees, 0.6s", got)
	}
}

// TestTreeCountsAChildsCPU burns CPU in a real child process: while it
// runs and once it was reaped, this process's tree holds it.
func TestTreeCountsAChildsCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	tab, err := readProcs(procDir)
	if err != nil {
		t.Fatal(err)
	}
	before, ok := tab.tree(os.Getpid())
	if !ok {
		t.Fatal("this process is not in /proc")
	}
	burn := exec.Command("sh", "-c", `i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done`)
	if err := burn.Run(); err != nil {
		t.Fatal(err)
	}
	used := burn.ProcessState.UserTime() + burn.ProcessState.SystemTime()
	if used < 50*time.Millisecond {
		t.Skipf("the child burned only %s: too little to see in ticks", used)
	}
	tab, err = readProcs(procDir)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := tab.tree(os.Getpid())
	// The reaped child's CPU is in this process's cutime + cstime (ticks:
	// two of rounding); this process ran meanwhile too, so at least.
	if got := after - before; got < used-20*time.Millisecond {
		t.Errorf("the tree grew by %s while a child used %s", got, used)
	}
}
