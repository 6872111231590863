package bench

import (
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
			got, err := HashCost(c.in, true)
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
