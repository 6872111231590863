package sendonce

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	ctx := context.Background()
	t.Run("case=same key sends once", func(t *testing.T) {
		c := New[string](time.Hour, 10)
		var n atomic.Int32
		send := func() (string, error) { n.Add(1); return "id-1", nil }
		for range 3 {
			id, err := c.Do(ctx, "k", send)
			if err != nil || id != "id-1" {
				t.Fatalf("Do = %q, %v", id, err)
			}
		}
		if n.Load() != 1 {
			t.Fatalf("sent %d times, want 1", n.Load())
		}
	})
	t.Run("case=failed send is retried", func(t *testing.T) {
		c := New[string](time.Hour, 10)
		calls := 0
		send := func() (string, error) {
			calls++
			if calls == 1 {
				return "", errors.New("boom")
			}
			return "id", nil
		}
		if _, err := c.Do(ctx, "k", send); err == nil {
			t.Fatal("first send should fail")
		}
		if id, err := c.Do(ctx, "k", send); err != nil || id != "id" {
			t.Fatalf("second Do = %q, %v", id, err)
		}
		if calls != 2 {
			t.Fatalf("calls = %d, want 2", calls)
		}
	})
	t.Run("case=empty key always sends", func(t *testing.T) {
		c := New[int](time.Hour, 10)
		calls := 0
		for range 2 {
			_, _ = c.Do(ctx, "", func() (int, error) { calls++; return 1, nil })
		}
		if calls != 2 {
			t.Fatalf("calls = %d, want 2", calls)
		}
	})
	t.Run("case=concurrent callers wait for the first", func(t *testing.T) {
		c := New[int](time.Hour, 10)
		var n atomic.Int32
		release := make(chan struct{})
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := c.Do(ctx, "k", func() (int, error) { n.Add(1); <-release; return 7, nil })
				if err != nil || v != 7 {
					t.Errorf("Do = %d, %v", v, err)
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		close(release)
		wg.Wait()
		if n.Load() != 1 {
			t.Fatalf("sent %d times, want 1", n.Load())
		}
	})
	t.Run("case=expired and excess keys are forgotten", func(t *testing.T) {
		c := New[int](time.Minute, 2)
		now := time.Unix(1000, 0)
		c.now = func() time.Time { return now }
		one := func() (int, error) { return 1, nil }
		_, _ = c.Do(ctx, "a", one)
		_, _ = c.Do(ctx, "b", one)
		_, _ = c.Do(ctx, "c", one) // evicts nothing yet: a, b, c then trimmed on next call
		_, _ = c.Do(ctx, "d", one)
		if c.Len() > 3 {
			t.Fatalf("Len = %d, want ≤ 3", c.Len())
		}
		now = now.Add(2 * time.Minute)
		calls := 0
		_, _ = c.Do(ctx, "d", func() (int, error) { calls++; return 2, nil })
		if calls != 1 {
			t.Fatal("an expired key must send again")
		}
		if c.Len() != 1 {
			t.Fatalf("Len = %d, want 1 after expiry", c.Len())
		}
	})
}
