package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/store"
)

func codeHashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(RandomString())
	}
	return out
}

func left(t *testing.T, s store.Store, userID string) int {
	t.Helper()
	n, err := s.RecoveryCodesLeft(t.Context(), userID)
	mustNil(t, err)
	return n
}

func testRecoveryCodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	if n := left(t, s, u.ID); n != 0 {
		t.Fatalf("a new account has %d recovery codes", n)
	}
	first := codeHashes(10)
	mustNil(t, s.ReplaceRecoveryCodes(ctx, u.ID, first, time.Now()))
	if n := left(t, s, u.ID); n != 10 {
		t.Fatalf("after storing 10: %d left", n)
	}
	ok, err := s.UseRecoveryCode(ctx, other.ID, first[0], time.Now())
	mustNil(t, err)
	if ok {
		t.Fatal("another account used the code")
	}
	for i, want := range []bool{true, false} {
		ok, err := s.UseRecoveryCode(ctx, u.ID, first[0], time.Now())
		mustNil(t, err)
		if ok != want {
			t.Fatalf("use %d of one code: %v, want %v (each code works once)", i+1, ok, want)
		}
	}
	if n := left(t, s, u.ID); n != 9 {
		t.Fatalf("after one use: %d left, want 9", n)
	}
	// A new set replaces the earlier one, used or not.
	mustNil(t, s.ReplaceRecoveryCodes(ctx, u.ID, codeHashes(10), time.Now()))
	ok, err = s.UseRecoveryCode(ctx, u.ID, first[1], time.Now())
	mustNil(t, err)
	if ok || left(t, s, u.ID) != 10 {
		t.Fatalf("an earlier set's code still works (%v) or the new set is not whole (%d)", ok, left(t, s, u.ID))
	}
	wantErr(t, "ReplaceRecoveryCodes of an unknown user", s.ReplaceRecoveryCodes(ctx, "no-such-user", codeHashes(1), time.Now()), store.ErrNotFound)
}

func testRecoveryCodeConcurrentUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	hashes := codeHashes(10)
	mustNil(t, s.ReplaceRecoveryCodes(ctx, u.ID, hashes, time.Now()))
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 16 {
		wg.Go(func() {
			ok, err := s.UseRecoveryCode(ctx, u.ID, hashes[3], time.Now())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins++
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("16 concurrent uses of one code: %d passed, want exactly 1", wins)
	}
}

func testRecoveryCodesInDowngrade(t *testing.T, s store.Store) {
	ctx := t.Context()
	restored, finished := newUser(t, s), newUser(t, s)
	for _, u := range []store.User{restored, finished} {
		mustNil(t, s.ReplaceRecoveryCodes(ctx, u.ID, codeHashes(10), time.Now()))
		mustNil(t, s.DisableTwoFactor(ctx, u.ID, "down-"+u.ID, time.Now()))
		if n := left(t, s, u.ID); n != 0 {
			t.Fatalf("during a downgrade %d recovery codes are usable, want none", n)
		}
	}
	mustNil(t, s.RestoreTwoFactor(ctx, restored.ID, "down-"+restored.ID))
	if n := left(t, s, restored.ID); n != 10 {
		t.Fatalf("after the compensation %d codes, want the 10 back", n)
	}
	mustNil(t, s.FinishDowngrade(ctx, finished.ID, "down-"+finished.ID))
	if n := left(t, s, finished.ID); n != 0 {
		t.Fatalf("after a finished downgrade %d codes, want none", n)
	}
	mustNil(t, s.RestoreTwoFactor(ctx, finished.ID, "down-"+finished.ID)) // too late: nothing comes back
	if n := left(t, s, finished.ID); n != 0 {
		t.Fatalf("a restore after the finish brought back %d codes", n)
	}
}
