package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authflow/authflow/store"
)

func testRecoveryWait(t *testing.T, s store.Store) {
	ctx := context.Background()
	u, other := newUser(t, s), newUser(t, s)
	now := time.Now()
	if err := s.StartRecoveryWait(ctx, "r1", u.ID, now.Add(72*time.Hour), now); err != nil {
		t.Fatal(err)
	}
	// Recorded again: nothing changes (an activity's retry).
	if err := s.StartRecoveryWait(ctx, "r1", u.ID, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	// One wait per account at a time.
	if err := s.StartRecoveryWait(ctx, "r2", u.ID, now.Add(72*time.Hour), now); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second wait of one account: %v, want ErrConflict", err)
	}
	if err := s.StartRecoveryWait(ctx, "r3", other.ID, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	got, err := s.WaitingRecoveries(ctx, u.ID)
	if err != nil || !slices.Equal(got, []string{"r1"}) {
		t.Fatalf("waiting %v %v, want r1", got, err)
	}
	if err := s.EndRecovery(ctx, "r1", "cancelled", now); err != nil {
		t.Fatal(err)
	}
	if err := s.EndRecovery(ctx, "r1", "ready", now); err != nil { // ended already: kept
		t.Fatal(err)
	}
	if err := s.EndRecovery(ctx, "unknown", "ready", now); err != nil {
		t.Fatal(err)
	}
	got, err = s.WaitingRecoveries(ctx, u.ID)
	if err != nil || len(got) != 0 {
		t.Fatalf("waiting after the end %v %v, want none", got, err)
	}
	// The first ended, the next may wait; an ended flow recorded again
	// stays ended.
	if err := s.StartRecoveryWait(ctx, "r2", u.ID, now.Add(72*time.Hour), now); err != nil {
		t.Fatalf("a wait after the first ended: %v", err)
	}
	if err := s.StartRecoveryWait(ctx, "r1", u.ID, now.Add(72*time.Hour), now); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("the ended r1 again while r2 waits: %v", err)
	}
	got, err = s.WaitingRecoveries(ctx, u.ID)
	if err != nil || !slices.Equal(got, []string{"r2"}) {
		t.Fatalf("waiting %v %v, want r2", got, err)
	}
	if err := s.StartRecoveryWait(ctx, "r9", "no-such-user", now, now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}

	t.Run("case=a wait left open a week after its ready_at (its flow stopped from outside) blocks nothing", func(t *testing.T) {
		stale := newUser(t, s)
		if err := s.StartRecoveryWait(ctx, stale.ID+"-old", stale.ID, now.Add(-8*24*time.Hour), now.Add(-11*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.StartRecoveryWait(ctx, stale.ID+"-new", stale.ID, now.Add(72*time.Hour), now); err != nil {
			t.Fatalf("blocked by a stale wait: %v", err)
		}
	})
	t.Run("case=recoveries of one account starting their wait at once: exactly one waits", func(t *testing.T) {
		racer := newUser(t, s)
		var ok, conflict atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.StartRecoveryWait(ctx, racer.ID+"-race-"+string(rune('a'+i)), racer.ID, now.Add(time.Hour), now)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, store.ErrConflict):
					conflict.Add(1)
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 || conflict.Load() != 7 {
			t.Fatalf("%d waits started, %d refused; want 1 and 7", ok.Load(), conflict.Load())
		}
		if got, err := s.WaitingRecoveries(ctx, racer.ID); err != nil || len(got) != 1 {
			t.Fatalf("waiting %v %v", got, err)
		}
	})
}

func testRecoveryCancelToken(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s)
	now := time.Now()
	if err := s.CreateRecoveryCancelToken(ctx, []byte("h1"), "f1", u.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRecoveryCancelToken(ctx, []byte("h2"), "f1", u.ID, now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseRecoveryCancelToken(ctx, []byte("h2"), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired token: %v", err)
	}
	flow, err := s.UseRecoveryCancelToken(ctx, []byte("h1"), now)
	if err != nil || flow != "f1" {
		t.Fatalf("first use %q %v", flow, err)
	}
	if _, err := s.UseRecoveryCancelToken(ctx, []byte("h1"), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second use: %v", err)
	}
	if _, err := s.UseRecoveryCancelToken(ctx, []byte("unknown"), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	if err := s.CreateRecoveryCancelToken(ctx, []byte("h1"), "f2", u.ID, now.Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("hash taken: %v", err)
	}
	// A notice's retry stores its token again for the same flow: no error,
	// and a token spent meanwhile stays spent.
	if err := s.CreateRecoveryCancelToken(ctx, []byte("h1"), "f1", u.ID, now.Add(time.Hour)); err != nil {
		t.Fatalf("the same token for the same flow again: %v", err)
	}
	if _, err := s.UseRecoveryCancelToken(ctx, []byte("h1"), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a spent token stored again works again: %v", err)
	}
	if err := s.CreateRecoveryCancelToken(ctx, []byte("h3"), "f1", u.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRecoveryCancelToken(ctx, []byte("h3"), "f1", u.ID, now.Add(time.Hour)); err != nil {
		t.Fatalf("an unspent token stored twice: %v", err)
	}
	if flow, err := s.UseRecoveryCancelToken(ctx, []byte("h3"), now); err != nil || flow != "f1" {
		t.Fatalf("a token stored twice: %q %v", flow, err)
	}
}

func testRecoveryCancelTokenConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s)
	now := time.Now()
	if err := s.CreateRecoveryCancelToken(ctx, []byte("hc"), "fc", u.ID, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var passed atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.UseRecoveryCancelToken(ctx, []byte("hc"), now); err == nil {
				passed.Add(1)
			} else if !errors.Is(err, store.ErrNotFound) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if passed.Load() != 1 {
		t.Fatalf("%d uses passed, want 1", passed.Load())
	}
}

func testUserLocale(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := newUser(t, s)
	if l, err := s.UserLocale(ctx, u.ID); err != nil || l != "" {
		t.Fatalf("before any choice: %q %v", l, err)
	}
	for _, want := range []string{"uk", "en"} {
		if err := s.SetUserLocale(ctx, u.ID, want); err != nil {
			t.Fatal(err)
		}
		if l, err := s.UserLocale(ctx, u.ID); err != nil || l != want {
			t.Fatalf("locale %q %v, want %q", l, err, want)
		}
	}
	if err := s.SetUserLocale(ctx, "no-such-user", "uk"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown user: %v", err)
	}
}
