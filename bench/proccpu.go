package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Process is one process of a deployment the bench runs against (from
// `prodshape up`'s shape.json): its CPU time, with its children's, is
// charged to its part — Temporal, the workers or the APIs — by its name.
type Process struct {
	Name string // temporal, worker-1, api-2, …
	PID  int
}

// The parts of a deployment's CPU a report splits a login's CPU into; the
// last two are what the run itself adds, and every postgres process of the
// machine (not counted in the total: the embedded bench's total leaves the
// database out too, and other users of the server show in it).
const (
	partTemporal = iota
	partWorkers
	partAPIs
	partBench
	partPostgres
	numParts
)

// partNames name the parts in the report.
var partNames = [numParts]string{
	partTemporal: "Temporal server",
	partWorkers:  "workers",
	partAPIs:     "APIs",
	partBench:    "bench (client, floor worker, floor 2)",
	partPostgres: "PostgreSQL (all its processes here)",
}

// partOf is the part a shape process's name belongs to; false for a name
// the bench does not know.
func partOf(name string) (int, bool) {
	switch {
	case name == "temporal":
		return partTemporal, true
	case strings.HasPrefix(name, "worker"):
		return partWorkers, true
	case strings.HasPrefix(name, "api"):
		return partAPIs, true
	}
	return 0, false
}

// clockTick is the unit of /proc/<pid>/stat's times: USER_HZ, 100 on
// every Linux architecture Go runs on.
const clockTick = 10 * time.Millisecond

// procStat is what the bench reads of /proc/<pid>/stat.
type procStat struct {
	pid, ppid int
	comm      string
	// cpu is utime + stime + cutime + cstime: the process's own CPU time
	// and that of its children it has reaped.
	cpu time.Duration
}

// parseStat reads one /proc/<pid>/stat line. The command (field 2) is in
// parentheses and may hold spaces and parentheses itself: the fields after
// it are counted from the last ')'.
func parseStat(line string) (procStat, error) {
	open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("bench: /proc stat line %q has no command", line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return procStat{}, fmt.Errorf("bench: /proc stat line %q: pid: %w", line, err)
	}
	// After the command: state (3), ppid (4), … utime (14), stime (15),
	// cutime (16), cstime (17).
	f := strings.Fields(line[end+1:])
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("bench: /proc stat line %q has %d fields after the command", line, len(f))
	}
	s := procStat{pid: pid, comm: line[open+1 : end]}
	if s.ppid, err = strconv.Atoi(f[1]); err != nil {
		return procStat{}, fmt.Errorf("bench: /proc stat line %q: ppid: %w", line, err)
	}
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("bench: /proc stat line %q: times: %w", line, err)
		}
		s.cpu += time.Duration(n) * clockTick
	}
	return s, nil
}

// procTable is every process of the machine at one moment.
type procTable map[int]procStat

// readProcs reads /proc (proc is its path); processes that end while it
// reads are left out.
func readProcs(proc string) (procTable, error) {
	ents, err := os.ReadDir(proc)
	if err != nil {
		return nil, err
	}
	t := procTable{}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(proc, e.Name(), "stat"))
		if err != nil {
			continue // it ended
		}
		s, err := parseStat(strings.TrimSpace(string(raw)))
		if err != nil {
			return nil, err
		}
		t[s.pid] = s
	}
	return t, nil
}

// tree is the CPU time of pid and all its live descendants (each with
// what it reaped), and whether pid runs.
func (t procTable) tree(pid int) (time.Duration, bool) {
	root, ok := t[pid]
	if !ok {
		return 0, false
	}
	children := map[int][]int{}
	for _, s := range t {
		children[s.ppid] = append(children[s.ppid], s.pid)
	}
	total := root.cpu
	stack := append([]int(nil), children[pid]...)
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		total += t[p].cpu
		stack = append(stack, children[p]...)
	}
	return total, true
}

// postgres is the CPU time of every postgres process tree: each server's
// postmaster (a postgres process whose parent is not one) with its
// backends, live and reaped.
func (t procTable) postgres() time.Duration {
	var total time.Duration
	for _, s := range t {
		if s.comm == "postgres" && t[s.ppid].comm != "postgres" {
			d, _ := t.tree(s.pid)
			total += d
		}
	}
	return total
}
