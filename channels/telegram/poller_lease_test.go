package telegram_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/channels/telegram"
)

// memLease is one lease shared by several pollers, with the store's rules
// (store.Leases): taken when free or expired, renewed by its holder.
type memLease struct {
	mu     sync.Mutex
	holder string
	until  time.Time
}

func (m *memLease) state() (string, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.holder, m.until
}

// leaseOf is one process's view of the lease; a dead one never releases.
type leaseOf struct {
	m    *memLease
	me   string
	dead bool
}

func (l *leaseOf) Acquire(_ context.Context, ttl time.Duration) (bool, string, time.Time, error) {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	now := time.Now()
	if l.m.holder == "" || l.m.holder == l.me || !now.Before(l.m.until) {
		l.m.holder, l.m.until = l.me, now.Add(ttl)
		return true, l.me, l.m.until, nil
	}
	return false, l.m.holder, l.m.until, nil
}

func (l *leaseOf) Release(context.Context) error {
	if l.dead {
		return nil
	}
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if l.m.holder == l.me {
		l.m.holder = ""
	}
	return nil
}

// botQueue plays Telegram's side of getUpdates on a fakeBotAPI: updates
// wait until a getUpdates with a higher offset confirms them; a call waits
// up to its timeout (at most 300 ms here) for one, or until its poller went
// away; and, as Telegram does, a getUpdates that arrives while another is
// in flight is a conflict (409).
type botQueue struct {
	mu        sync.Mutex
	pending   []int64
	next      int64
	inFlight  int
	conflicts int
}

func (q *botQueue) add(n int) []int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	var ids []int64
	for range n {
		q.next++
		q.pending = append(q.pending, q.next)
		ids = append(ids, q.next)
	}
	return ids
}

func (q *botQueue) reply(ctx context.Context, method, body string) (int, string) {
	if method != "getUpdates" {
		return 200, `{"ok":true,"result":true}`
	}
	var p struct {
		Offset  int64 `json:"offset"`
		Timeout int   `json:"timeout"`
	}
	_ = json.Unmarshal([]byte(body), &p)
	q.mu.Lock()
	q.inFlight++
	if q.inFlight > 1 {
		q.conflicts++
		q.inFlight--
		q.mu.Unlock()
		return 409, `{"ok":false,"error_code":409,"description":"Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}`
	}
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.inFlight--
		q.mu.Unlock()
	}()
	deadline := time.Now().Add(min(time.Duration(p.Timeout)*time.Second, 300*time.Millisecond))
	for {
		q.mu.Lock()
		q.pending = slices.DeleteFunc(q.pending, func(id int64) bool { return id < p.Offset })
		ids := slices.Clone(q.pending)
		q.mu.Unlock()
		if ctx.Err() != nil {
			return 499, "" // the poller went away: the call is over
		}
		if len(ids) > 0 || !time.Now().Before(deadline) {
			var us []string
			for _, id := range ids {
				us = append(us, fmt.Sprintf(`{"update_id":%d,"message":{"text":"/start %d"}}`, id, id))
			}
			return 200, `{"ok":true,"result":[` + strings.Join(us, ",") + `]}`
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPollersShareOneLease runs three pollers of one bot against one fake
// Telegram, one lease between them: only the holder ever calls Telegram
// (no getUpdates overlaps another), the others log who holds it; when the
// holder dies without releasing, the next takes over once its lease
// expired, not before; when a holder stops and releases, the next takes
// over at once; every update is handled once.
func TestPollersShareOneLease(t *testing.T) {
	const ttl = 2 * time.Second
	f := newFakeBotAPI(t)
	q := &botQueue{}
	f.mu.Lock()
	f.replyCtx = q.reply
	f.mu.Unlock()
	m := &memLease{}

	var mu sync.Mutex
	handled := map[int64][]string{}
	type poller struct {
		name   string
		lease  *leaseOf
		logs   *syncBuf
		cancel context.CancelFunc
		done   chan struct{}
	}
	start := func(name string) *poller {
		p := &poller{name: name, lease: &leaseOf{m: m, me: name}, logs: &syncBuf{}, done: make(chan struct{})}
		ctx, cancel := context.WithCancel(context.Background())
		p.cancel = cancel
		tp := &telegram.Poller{
			Client: telegram.New(token, f.URL+"/"+name),
			Handle: func(_ context.Context, u telegram.Update) {
				mu.Lock()
				handled[u.ID] = append(handled[u.ID], name)
				mu.Unlock()
			},
			Lease: p.lease, LeaseTTL: ttl, PollTimeout: time.Second,
			MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
			Log: slog.New(slog.NewTextHandler(p.logs, nil)),
		}
		go func() { tp.Run(ctx); close(p.done) }()
		t.Cleanup(func() { cancel(); <-p.done })
		return p
	}
	// Who called Telegram, in order of arrival.
	var callers []string
	takeCallers := func() []string {
		for _, c := range f.takeCalls() {
			callers = append(callers, strings.SplitN(strings.TrimPrefix(c.Path, "/"), "/", 2)[0])
		}
		return callers
	}
	// firstCall waits for name's first call and returns when it was seen.
	firstCall := func(name string, within time.Duration) time.Time {
		t.Helper()
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if slices.Contains(takeCallers(), name) {
				return time.Now()
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("%s made no call within %s (callers: %v)", name, within, callers)
		return time.Time{}
	}
	waitHandled := func(ids []int64, by string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			all := true
			for _, id := range ids {
				all = all && len(handled[id]) > 0
			}
			mu.Unlock()
			if all {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if !slices.Equal(handled[id], []string{by}) {
				t.Fatalf("update %d handled by %v, want %s alone", id, handled[id], by)
			}
		}
	}

	a := start("a")
	firstCall("a", 5*time.Second)
	waitHandled(q.add(3), "a")

	// b starts while a holds the lease: it never calls Telegram, and says
	// who holds it.
	b := start("b")
	for range 3 {
		waitHandled(q.add(2), "a")
		time.Sleep(ttl / 2)
	}
	if slices.Contains(takeCallers(), "b") {
		t.Fatalf("b called Telegram while a held the lease: %v", callers)
	}
	if !strings.Contains(b.logs.String(), "holder=a") {
		t.Fatalf("b's log does not name the holder:\n%s", b.logs.String())
	}

	// a dies: its lease is never released. b takes over once it expired.
	a.lease.dead = true
	a.cancel()
	<-a.done
	_, aUntil := m.state()
	took := firstCall("b", 3*ttl)
	if took.Before(aUntil) {
		t.Fatalf("b called Telegram at %s, before a's lease ended at %s", took.Format("15:04:05.000"), aUntil.Format("15:04:05.000"))
	}
	if late := took.Sub(aUntil); late > ttl {
		t.Errorf("b took over %s after a's lease ended, want within %s", late, ttl)
	}
	waitHandled(q.add(3), "b")

	// c waits; b stops and releases: c takes over within its retry interval
	// (half the ttl), not at an expiry.
	c := start("c")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(c.logs.String(), "holder=b") {
		if time.Now().After(deadline) {
			t.Fatalf("c never logged that b holds the lease:\n%s", c.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitHandled(q.add(2), "b")
	b.cancel()
	<-b.done
	stopped := time.Now()
	if holder, _ := m.state(); holder != "" {
		t.Fatalf("b stopped without releasing the lease (held by %q)", holder)
	}
	if took := firstCall("c", 3*ttl); took.Sub(stopped) > ttl/2+300*time.Millisecond {
		t.Errorf("c took over %s after b released the lease, want within half the ttl", took.Sub(stopped))
	}
	waitHandled(q.add(3), "c")

	// Calls came from one poller at a time, in the order of the hand-overs.
	seen := slices.Compact(slices.Clone(takeCallers()))
	if !slices.Equal(seen, []string{"a", "b", "c"}) {
		t.Errorf("calls came from %v, want a, then b, then c", seen)
	}
	q.mu.Lock()
	conflicts := q.conflicts
	q.mu.Unlock()
	if conflicts > 0 {
		t.Errorf("%d getUpdates overlapped another (Telegram's 409)", conflicts)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, by := range handled {
		if len(by) != 1 {
			t.Errorf("update %d handled %d times (%v)", id, len(by), by)
		}
	}
	if int64(len(handled)) != q.next {
		t.Errorf("%d of %d updates handled", len(handled), q.next)
	}
}

// syncBuf is a log destination safe for concurrent writes and reads.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
