package bench

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/authflow/authflow/security"
)

// HashCost reads --hash-cost: "" (the production parameters), argon2id
// parameters "m=KiB,t=N,p=N" (any of them; the others stay production), or
// a duration ("300ms") that Calibrate turns into parameters costing that
// much per hash on this machine, to compare with a server whose password
// hash costs that much. Calibration hashes where the run will: in child
// processes unless inProcess.
func HashCost(s string, inProcess bool) (security.Argon2Params, error) {
	p := security.DefaultArgon2
	s = strings.TrimSpace(s)
	if s == "" {
		return p, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return p, fmt.Errorf("--hash-cost %s: a duration must be positive", s)
		}
		return Calibrate(d, p, inProcess), nil
	}
	return argon2Params(s)
}

// argon2Params reads "m=KiB,t=N,p=N" over the production parameters.
func argon2Params(s string) (security.Argon2Params, error) {
	p := security.DefaultArgon2
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		var n uint32
		if _, err := fmt.Sscanf(v, "%d", &n); !ok || err != nil || n == 0 {
			return p, fmt.Errorf("--hash-cost %q: want m=KiB,t=N,p=N or a duration such as 300ms", s)
		}
		switch k {
		case "m":
			p.MemoryKiB = n
		case "t":
			p.Time = n
		case "p":
			if n > 255 {
				return p, fmt.Errorf("--hash-cost: p=%d is more than 255", n)
			}
			p.Threads = uint8(n)
		default:
			return p, fmt.Errorf("--hash-cost %q: unknown parameter %q (m, t, p)", s, k)
		}
	}
	if p.MemoryKiB < 8*uint32(p.Threads) {
		return p, fmt.Errorf("--hash-cost: m must be at least 8*p KiB")
	}
	return p, nil
}

// Calibrate returns argon2id parameters whose verification costs about
// target on this machine, single-threaded: the memory and lanes of base,
// and as many passes (t) as fit (a pass costs the same; allocating and
// filling the memory is a fixed cost on top). A target below one pass of
// base's memory lowers the memory instead.
func Calibrate(target time.Duration, base security.Argon2Params, inProcess bool) security.Argon2Params {
	h := security.NewHasherWithIsolation(base, !inProcess)
	defer h.Close()
	// A new child's first hashes grow its heap and fault its pages in:
	// give every child a few before timing anything.
	for range 3 * runtime.GOMAXPROCS(0) {
		_, _ = h.Hash(password)
	}
	return calibrate(target, base, func(p security.Argon2Params) time.Duration { return measure(h, p) })
}

// calibrate is Calibrate with the clock as a parameter (tests pass a model).
func calibrate(target time.Duration, base security.Argon2Params, measure func(security.Argon2Params) time.Duration) security.Argon2Params {
	at := func(t uint32) time.Duration {
		p := base
		p.Time = t
		return measure(p)
	}
	two, six := at(2), at(6)
	perPass := (six - two) / 4
	if perPass < two/8 || perPass > two {
		// Noise (a busy machine, page faults): two passes and a fixed
		// cost smaller than a pass explain two, so a pass is about a half.
		perPass = two / 2
	}
	one := two - perPass
	fixed := max(one-perPass, 0)
	p := base
	if target < one*3/4 {
		p.Time = 1
		p.MemoryKiB = max(8*uint32(p.Threads), uint32(float64(base.MemoryKiB)*float64(target)/float64(one)))
		return p
	}
	p.Time = uint32(max(1, (target-fixed+perPass/2)/perPass))
	// One correction against the measured cost (the fit is rough on a
	// busy machine), by at most half.
	if got := at(p.Time); got > 0 {
		fix := max(min(int64((target-got)/perPass), int64(p.Time/2)), -int64(p.Time/2))
		p.Time = uint32(max(1, int64(p.Time)+fix))
	}
	return p
}

// measure is the best of three hashes with p, after one to warm up (the
// first touches of fresh memory fault pages in).
func measure(h *security.Hasher, p security.Argon2Params) time.Duration {
	h.Params = p
	return bestOf3(func() error { _, err := h.Hash(password); return err })
}

// bestOf3 times op three times after one warm-up run and keeps the best:
// the least disturbed by the rest of the machine. A failing op is a
// millisecond (it cannot happen with the fixed inputs used here).
func bestOf3(op func() error) time.Duration {
	_ = op()
	best := time.Duration(1<<63 - 1)
	for range 3 {
		t := time.Now()
		if err := op(); err != nil {
			return time.Millisecond
		}
		best = min(best, time.Since(t))
	}
	return best
}
