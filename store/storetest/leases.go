package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/store"
)

// acquire is AcquireLease that must not fail.
func acquire(t *testing.T, s store.Store, name, holder string, now time.Time, ttl time.Duration) (store.Lease, bool) {
	t.Helper()
	l, ok, err := s.AcquireLease(t.Context(), name, holder, now, ttl)
	mustNil(t, err)
	return l, ok
}

func wantLease(t *testing.T, what string, got store.Lease, ok, wantOK bool, holder string, acquired, expires time.Time) {
	t.Helper()
	if ok != wantOK || got.Holder != holder {
		t.Fatalf("%s: holder %q ok %v, want %q ok %v", what, got.Holder, ok, holder, wantOK)
	}
	sameTime(t, what+": AcquiredAt", got.AcquiredAt, acquired)
	sameTime(t, what+": ExpiresAt", got.ExpiresAt, expires)
}

func testLeases(t *testing.T, s store.Store) {
	name, other := "telegram-poller/"+RandomString(), "telegram-poller/"+RandomString()
	t0 := time.Now().UTC().Truncate(time.Second)
	const ttl = 30 * time.Second

	l, ok := acquire(t, s, name, "a", t0, ttl)
	wantLease(t, "a takes the free lease", l, ok, true, "a", t0, t0.Add(ttl))
	if l.Name != name {
		t.Errorf("lease name %q, want %q", l.Name, name)
	}

	l, ok = acquire(t, s, name, "b", t0.Add(10*time.Second), ttl)
	wantLease(t, "b while a holds it", l, ok, false, "a", t0, t0.Add(ttl))

	l, ok = acquire(t, s, name, "a", t0.Add(10*time.Second), ttl)
	wantLease(t, "a renews", l, ok, true, "a", t0, t0.Add(40*time.Second))

	// Refused just before the renewed expiry, and nothing changed.
	l, ok = acquire(t, s, name, "b", t0.Add(40*time.Second-time.Millisecond), ttl)
	wantLease(t, "b a millisecond before the expiry", l, ok, false, "a", t0, t0.Add(40*time.Second))

	// Another name is another lease.
	l, ok = acquire(t, s, other, "b", t0.Add(11*time.Second), time.Hour)
	wantLease(t, "b takes another name", l, ok, true, "b", t0.Add(11*time.Second), t0.Add(11*time.Second+time.Hour))

	// At the expiry a's lease is over: b takes it, a renewing late is
	// refused and told b holds it.
	t1 := t0.Add(40 * time.Second)
	l, ok = acquire(t, s, name, "b", t1, ttl)
	wantLease(t, "b at a's expiry", l, ok, true, "b", t1, t1.Add(ttl))
	l, ok = acquire(t, s, name, "a", t1.Add(time.Second), ttl)
	wantLease(t, "a renewing after losing it", l, ok, false, "b", t1, t1.Add(ttl))

	// Only the holder's release frees it.
	mustNil(t, s.ReleaseLease(t.Context(), name, "a"))
	l, ok = acquire(t, s, name, "c", t1.Add(2*time.Second), ttl)
	wantLease(t, "c after a released what it no longer held", l, ok, false, "b", t1, t1.Add(ttl))
	mustNil(t, s.ReleaseLease(t.Context(), name, "b"))
	t2 := t1.Add(3 * time.Second)
	l, ok = acquire(t, s, name, "c", t2, ttl)
	wantLease(t, "c after b released it", l, ok, true, "c", t2, t2.Add(ttl))
	mustNil(t, s.ReleaseLease(t.Context(), "telegram-poller/never-taken", "c"))

	// The other name was left alone throughout.
	l, ok = acquire(t, s, other, "d", t2, ttl)
	wantLease(t, "d on the other name", l, ok, false, "b", t0.Add(11*time.Second), t0.Add(11*time.Second+time.Hour))

	for _, bad := range []struct {
		name, holder string
		ttl          time.Duration
	}{{"", "a", ttl}, {name, "", ttl}, {name, "a", 0}} {
		if _, _, err := s.AcquireLease(t.Context(), bad.name, bad.holder, t2, bad.ttl); err == nil {
			t.Errorf("AcquireLease(%q, %q, ttl %v) succeeded", bad.name, bad.holder, bad.ttl)
		}
	}
}

// testLeaseConcurrent: 16 processes race for a free lease, then for the
// same lease once expired: each time exactly one gets it and every other
// is told that one holds it.
func testLeaseConcurrent(t *testing.T, s store.Store) {
	name := "telegram-poller/" + RandomString()
	t0 := time.Now().UTC().Truncate(time.Second)
	const n, ttl = 16, 30 * time.Second
	race := func(round string, now time.Time) string {
		var wg sync.WaitGroup
		got := make([]store.Lease, n)
		oks := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				got[i], oks[i], errs[i] = s.AcquireLease(t.Context(), name, round+"-"+string(rune('a'+i)), now, ttl)
			})
		}
		wg.Wait()
		winner := ""
		for i := range n {
			mustNil(t, errs[i])
			if oks[i] {
				if winner != "" {
					t.Fatalf("%s: both %s and %s got the lease", round, winner, got[i].Holder)
				}
				winner = got[i].Holder
			}
		}
		if winner == "" {
			t.Fatalf("%s: nobody got the lease", round)
		}
		for i := range n {
			if !oks[i] && got[i].Holder != winner {
				t.Errorf("%s: a loser was told %q holds it, not %q", round, got[i].Holder, winner)
			}
		}
		return winner
	}
	race("free", t0)
	race("expired", t0.Add(ttl))
}
