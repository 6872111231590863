package security

import (
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cheap keeps the tests fast; isolation does not depend on the cost.
var cheap = Argon2Params{MemoryKiB: 4 * 1024, Time: 1, Threads: 1}

func newIsolated(t *testing.T) *Hasher {
	t.Helper()
	h := NewIsolatedHasher(cheap)
	t.Cleanup(h.Close)
	return h
}

func TestIsolatedHasherAgreesWithInProcess(t *testing.T) {
	iso, plain := newIsolated(t), NewHasher(cheap)
	fromChild, err := iso.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	fromProcess, err := plain.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		h    *Hasher
		hash string
	}{"child verifies its own": {iso, fromChild}, "child verifies in-process": {iso, fromProcess}, "in-process verifies child": {plain, fromChild}} {
		if !c.h.Verify(c.hash, "correct horse") {
			t.Errorf("%s: right password rejected", name)
		}
		if c.h.Verify(c.hash, "correct horsE") {
			t.Errorf("%s: wrong password accepted", name)
		}
	}
	if n := iso.pool.fallbacks; n != 0 {
		t.Errorf("%d hashes fell back to the process", n)
	}
}

func TestIsolatedHasherKeepsArgon2MemoryOutOfTheHeap(t *testing.T) {
	iso := newIsolated(t)
	hash, _ := iso.Hash("pw")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 5 {
		iso.Verify(hash, "pw")
	}
	runtime.ReadMemStats(&after)
	// In process, each verification allocates the whole 4 MiB.
	if grew := after.TotalAlloc - before.TotalAlloc; grew > uint64(cheap.MemoryKiB)*1024 {
		t.Errorf("5 verifications allocated %d KiB in this process, want far less than one hash's %d KiB", grew>>10, cheap.MemoryKiB)
	}
	if runtime.GOOS == "linux" && iso.ChildPeakRSS() < int64(cheap.MemoryKiB)<<10 {
		t.Errorf("children's peak RSS %d KiB, want at least one hash's %d KiB", iso.ChildPeakRSS()>>10, cheap.MemoryKiB)
	}
	if iso.ChildCPU() <= 0 && runtime.GOOS == "linux" {
		// 5+ hashes of 4 MiB take well over one 10 ms tick.
		for range 20 {
			iso.Verify(hash, "pw")
		}
		if iso.ChildCPU() <= 0 {
			t.Errorf("children report no CPU time")
		}
	}
}

func TestIsolatedHasherSurvivesAKilledChild(t *testing.T) {
	iso := newIsolated(t)
	hash, _ := iso.Hash("pw")
	iso.pool.mu.Lock()
	var pids []int
	for c := range iso.pool.live {
		pids = append(pids, c.cmd.Process.Pid)
	}
	iso.pool.mu.Unlock()
	if len(pids) == 0 {
		t.Fatal("no child running after a hash")
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	// Whichever slot a verification takes, its child is dead or new.
	for i := range 2 * cap(iso.pool.slots) {
		if !iso.Verify(hash, "pw") || iso.Verify(hash, "nope") {
			t.Fatalf("verification %d after the kill is wrong", i)
		}
	}
	if iso.pool.fallbacks == 0 {
		t.Errorf("no hash noticed the dead child")
	}
	iso.pool.mu.Lock()
	defer iso.pool.mu.Unlock()
	for c := range iso.pool.live {
		for _, pid := range pids {
			if c.cmd.Process.Pid == pid {
				t.Errorf("killed child %d still counted as live", pid)
			}
		}
	}
}

func TestIsolatedHasherGivesUpOnAStuckChild(t *testing.T) {
	defer func(d time.Duration) { hashTimeout = d }(hashTimeout)
	hashTimeout = 2 * time.Second
	iso := newIsolated(t)
	hash, _ := iso.Hash("pw")
	iso.pool.mu.Lock()
	for c := range iso.pool.live {
		if err := syscall.Kill(c.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	iso.pool.mu.Unlock()
	start := time.Now()
	if !iso.Verify(hash, "pw") {
		t.Fatal("right password rejected while the child was stuck")
	}
	if took := time.Since(start); took < hashTimeout || iso.pool.fallbacks == 0 {
		t.Fatalf("took %s, %d fallbacks: the stuck child was not given up on", took, iso.pool.fallbacks)
	}
}

func TestIsolatedHasherConcurrentVerifications(t *testing.T) {
	iso := newIsolated(t)
	hash, _ := iso.Hash("pw")
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := range 16 {
		wg.Go(func() {
			pw := "pw"
			if i%2 == 1 {
				pw = "other"
			}
			if iso.Verify(hash, pw) != (i%2 == 0) {
				errs <- pw
			}
		})
	}
	wg.Wait()
	close(errs)
	for pw := range errs {
		t.Errorf("concurrent verification of %q gave the wrong answer", pw)
	}
}

func TestIsolatedHasherAfterCloseRunsInProcess(t *testing.T) {
	iso := NewIsolatedHasher(cheap)
	hash, _ := iso.Hash("pw")
	iso.Close()
	if !iso.Verify(hash, "pw") {
		t.Fatal("right password rejected after Close")
	}
	if n := len(iso.pool.live); n != 0 {
		t.Errorf("%d children live after Close", n)
	}
}

// BenchmarkVerify compares one production-cost verification in process and
// in a child: go test ./security -run - -bench Verify
func BenchmarkVerify(b *testing.B) {
	for name, h := range map[string]*Hasher{"in-process": NewHasher(DefaultArgon2), "isolated": NewIsolatedHasher(DefaultArgon2)} {
		hash, _ := h.Hash("pw")
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				h.Verify(hash, "pw")
			}
		})
		h.Close()
	}
}
