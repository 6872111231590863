package bench

import (
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/security"
)

func TestHashCost(t *testing.T) {
	for _, c := range []struct {
		in   string
		want security.Argon2Params
		bad  bool
	}{
		{in: "", want: security.DefaultArgon2},
		{in: "m=65536,t=3,p=2", want: security.Argon2Params{MemoryKiB: 65536, Time: 3, Threads: 2}},
		{in: "t=4", want: security.Argon2Params{MemoryKiB: security.DefaultArgon2.MemoryKiB, Time: 4, Threads: 1}},
		{in: "x=1", bad: true},
		{in: "m=abc", bad: true},
		{in: "t=0", bad: true},
		{in: "-5ms", bad: true},
	} {
		t.Run("case="+c.in, func(t *testing.T) {
			hc, err := HashCost(c.in, true)
			got := hc.Argon2
			if hc.PeerHash != 0 || hc.PeerCompare {
				t.Errorf("HashCost(%q) = %+v: a comparison with the peer", c.in, hc)
			}
			if c.bad {
				if err == nil {
					t.Fatalf("HashCost(%q) = %+v, want an error", c.in, got)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("HashCost(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			}
		})
	}
	t.Run("case=a duration calibrates passes against a cost model", func(t *testing.T) {
		// 2 ms to allocate and fill, 1 ms per pass per MiB.
		model := func(p security.Argon2Params) time.Duration {
			return 2*time.Millisecond + time.Duration(p.Time)*time.Duration(p.MemoryKiB/1024)*time.Millisecond
		}
		base := security.Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}
		if p := calibrate(343*time.Millisecond, base, model); p.Time != 18 || p.MemoryKiB != base.MemoryKiB {
			t.Errorf("calibrate(343ms) = %+v, want t=18 at 19 MiB (2 + 18×19 = 344 ms)", p)
		}
		if p := calibrate(10*time.Millisecond, base, model); p.Time != 1 || p.MemoryKiB >= base.MemoryKiB {
			t.Errorf("calibrate(10ms) = %+v, want less memory at t=1", p)
		}
		for name, six := range map[string]time.Duration{"faster than two": 10 * time.Millisecond, "as fast as two": 40*time.Millisecond + time.Microsecond} {
			noisy := func(p security.Argon2Params) time.Duration {
				if p.Time == 6 {
					return six
				}
				return model(p)
			}
			if p := calibrate(343*time.Millisecond, base, noisy); p.Time < 9 || p.Time > 36 {
				t.Errorf("calibrate when six passes measure %s = %+v, want a sane number of passes", name, p)
			}
		}
	})
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	if p := percentile(d, 0.5); p != 50 {
		t.Errorf("p50 = %d, want 50", p)
	}
	if p := percentile(d, 0.99); p != 99 {
		t.Errorf("p99 = %d, want 99", p)
	}
	if p := percentile(d[:1], 0.99); p != 1 {
		t.Errorf("p99 of one = %d, want 1", p)
	}
}

func TestHashCostBcryptTimesThePeersHashAndCalibratesToIt(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes bcrypt cost 12 and argon2id for a few seconds")
	}
	hc, err := HashCost("bcrypt", false)
	if err != nil {
		t.Fatal(err)
	}
	p, peer := hc.Argon2, hc.PeerHash
	if !hc.PeerCompare {
		t.Error("--hash-cost bcrypt is not a comparison with the peer")
	}
	// Cost 12 is 4096 rounds: well over 10 ms on any machine this runs on.
	if peer < 10*time.Millisecond {
		t.Fatalf("bcrypt cost 12 timed at %s", peer)
	}
	if p.MemoryKiB != security.DefaultArgon2.MemoryKiB || p.Time <= security.DefaultArgon2.Time {
		t.Errorf("parameters %+v: want the production memory and more passes than production's %d", p, security.DefaultArgon2.Time)
	}
	h := security.NewIsolatedHasher(p)
	defer h.Close()
	got := measure(h, p)
	if got < peer/3 || got > peer*3 {
		t.Errorf("calibrated argon2id costs %s against bcrypt's %s", got, peer)
	}
}

func TestReportSetsThePeerAgainstTheRun(t *testing.T) {
	full := Phase{Name: "full login", Ops: 60, Elapsed: 10 * time.Second, P99: 8 * time.Second}
	r := Report{Options: Options{Rounds: 1, PeerCompare: true}, Full: full,
		RoundTrip: Phase{Ops: 1, Elapsed: time.Millisecond}, Crypto: Phase{Ops: 1, Elapsed: time.Millisecond}}
	var out strings.Builder
	r.Print(&out)
	// 6 logins/s against the peer's 5.36.
	for _, want := range []string{"5.36 logins/s, p99 10.7s", "1.12× its throughput, p99 8.00s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	r.Options.PeerCompare = false
	out.Reset()
	r.Print(&out)
	if strings.Contains(out.String(), "peer") {
		t.Errorf("without a --hash-cost duration or bcrypt the report names the peer:\n%s", out.String())
	}
}
