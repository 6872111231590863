// Package sendonce remembers, for a while, which idempotency keys a provider
// has already accepted, so an adapter can answer a retried send with the
// first send's result instead of sending again.
//
// Activities record every send in the store after the provider accepts it;
// when that record fails (the database blinks, the attempt times out) the
// activity is retried and would send a second message. None of our providers
// takes an idempotency key (the Telegram Bot API, Twilio's Messages and Calls
// APIs and SMTP have none), so the adapter keeps the keys it delivered. The
// memory is per process: it covers retries that land on the same worker,
// which is every retry in `authflow dev` and `authflow server` with one
// worker; a worker killed between the provider's answer and the store's
// record can still send twice (with the same code, which is derived from the
// key).
package sendonce

import (
	"context"
	"sync"
	"time"
)

// Defaults bound the memory: Temporal retries a send within minutes, and a
// code is worthless after 10.
const (
	DefaultTTL = time.Hour
	DefaultMax = 10000
)

// Cache maps idempotency keys to what the provider answered. The zero value
// is not usable; call New.
type Cache[T any] struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	now   func() time.Time
	m     map[string]*entry[T]
	order []slot[T] // insertion order, which is also expiry order
}

type entry[T any] struct {
	done chan struct{} // closed when the send finished
	val  T
	err  error
	at   time.Time
}

type slot[T any] struct {
	key string
	e   *entry[T]
}

// New returns a cache keeping up to max keys for ttl.
func New[T any](ttl time.Duration, max int) *Cache[T] {
	return &Cache[T]{ttl: ttl, max: max, now: time.Now, m: map[string]*entry[T]{}}
}

// Do runs send unless key was sent successfully within the TTL, in which case
// it returns the first result. Concurrent calls with one key send once: the
// later ones wait for the first. A failed send is forgotten, so the next try
// sends again. An empty key always sends.
func (c *Cache[T]) Do(ctx context.Context, key string, send func() (T, error)) (T, error) {
	if key == "" {
		return send()
	}
	for {
		c.mu.Lock()
		c.evict()
		e, ok := c.m[key]
		if !ok {
			e = &entry[T]{done: make(chan struct{}), at: c.now()}
			c.m[key] = e
			c.order = append(c.order, slot[T]{key, e})
			c.mu.Unlock()
			val, err := send()
			c.mu.Lock()
			e.val, e.err = val, err
			if err != nil && c.m[key] == e {
				delete(c.m, key)
			}
			close(e.done)
			c.mu.Unlock()
			return val, err
		}
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
		if e.err == nil {
			return e.val, nil
		}
		// The send we waited for failed and was forgotten: try ourselves.
	}
}

// Len is the number of keys remembered.
func (c *Cache[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// evict forgets expired keys and, beyond max, the oldest ones; a send still
// in flight stops it. c.mu is held.
func (c *Cache[T]) evict() {
	now := c.now()
	i := 0
scan:
	for ; i < len(c.order); i++ {
		s := c.order[i]
		if c.m[s.key] != s.e {
			continue // forgotten after a failure, or sent again since
		}
		if len(c.order)-i <= c.max && now.Sub(s.e.at) <= c.ttl {
			break
		}
		select {
		case <-s.e.done:
			delete(c.m, s.key)
		default:
			break scan
		}
	}
	c.order = c.order[i:]
}
