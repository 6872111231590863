package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/opener"
)

// noRelease is a store whose process dies holding its lease: it never
// releases it.
type noRelease struct{ store.Store }

func (noRelease) ReleaseLease(context.Context, string, string) error { return nil }

// TestTelegramPollersTakeTheLease starts long polling in three processes
// of one bot on one store (SQLite, as a shared PostgreSQL would be), each
// seeing Telegram through a fake of its own: only the lease's holder calls
// Telegram and no two getUpdates ever overlap; a process refused logs who
// holds the lease; a holder that stops releases it and the next takes over
// at once; a holder that dies holding it is taken over once it expired.
func TestTelegramPollersTakeTheLease(t *testing.T) {
	ttl := 2 * time.Second
	defer func(d time.Duration) { telegramLeaseTTL = d }(telegramLeaseTTL)
	telegramLeaseTTL = ttl

	ctx := context.Background()
	st, err := opener.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "authflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// One Telegram: a getUpdates holds for 200 ms (or until its caller
	// went away: a closed long poll is no longer open, at Telegram too),
	// and one arriving while another is in flight is a conflict, as
	// Telegram's 409.
	var inFlight, conflicts atomic.Int32
	type proc struct {
		name  string
		bot   *fakeBot
		logs  *syncBuffer
		stop  func()
		polls atomic.Int32
		first atomic.Int64 // unix nanos of its first call to Telegram
	}
	start := func(name, addr string, s store.Store) *proc {
		p := &proc{name: name, bot: newFakeBot(t), logs: &syncBuffer{}}
		go func() { // the fake's record of calls, not needed here
			for range p.bot.got {
			}
		}()
		p.bot.replyCtx = func(ctx context.Context, method string) (int, string) {
			p.first.CompareAndSwap(0, time.Now().UnixNano())
			if method != "getUpdates" {
				return 200, `{"ok":true,"result":true}`
			}
			p.polls.Add(1)
			if inFlight.Add(1) > 1 {
				conflicts.Add(1)
			}
			defer inFlight.Add(-1)
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
			}
			return 200, `{"ok":true,"result":[]}`
		}
		a := testApp(p.bot, "")
		a.cfg.HTTPAddr = addr
		a.log = slog.New(slog.NewTextHandler(p.logs, nil))
		srv := &api.Server{Bot: a.bot(), Log: a.log, Store: s}
		stop, err := a.startTelegram(ctx, srv)
		if err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		p.stop = func() { once.Do(stop) }
		t.Cleanup(p.stop)
		return p
	}
	polling := func(p *proc, within time.Duration) time.Time {
		t.Helper()
		deadline := time.Now().Add(within)
		for p.polls.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not poll within %s; its log:\n%s", p.name, within, p.logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Unix(0, p.first.Load())
	}
	refused := func(p *proc, holderAddr string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(p.logs.String(), holderAddr) || !strings.Contains(p.logs.String(), "held by another process") {
			if time.Now().After(deadline) {
				t.Fatalf("%s never logged that the process on %s holds the lease:\n%s", p.name, holderAddr, p.logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	a := start("a", "127.0.0.1:10001", st)
	polling(a, 5*time.Second)
	b := start("b", "127.0.0.1:10002", noRelease{st})
	refused(b, "127.0.0.1:10001")
	time.Sleep(2 * ttl) // a renews: b stays out
	if b.first.Load() != 0 {
		t.Fatalf("b called Telegram while a held the lease")
	}

	// a stops and releases: b takes over within its retry (half the ttl).
	a.stop()
	stopped := time.Now()
	if took := polling(b, 3*ttl); took.Sub(stopped) > ttl/2+500*time.Millisecond {
		t.Errorf("b took over %s after a released the lease, want within half the ttl", took.Sub(stopped))
	}
	aPolls := a.polls.Load()

	// b dies holding the lease: c, waiting, takes over only once it
	// expired.
	c := start("c", "127.0.0.1:10003", st)
	refused(c, "127.0.0.1:10002")
	b.stop()
	died := time.Now()
	left, free, err := st.AcquireLease(ctx, "telegram-poller/1", "probe", died, ttl)
	if err != nil || free || !strings.Contains(left.Holder, "127.0.0.1:10002") {
		t.Fatalf("after b died the lease is %+v (free %v, err %v), want b's still", left, free, err)
	}
	took := polling(c, 3*ttl)
	if took.Before(left.ExpiresAt) {
		t.Errorf("c called Telegram at %s, before b's lease expired at %s", took.Format("15:04:05.000"), left.ExpiresAt.Format("15:04:05.000"))
	}
	if late := took.Sub(left.ExpiresAt); late > ttl/2 {
		t.Errorf("c took over %s after b's lease expired, want within half the ttl", late)
	}
	time.Sleep(ttl / 2)
	if a.polls.Load() != aPolls || b.first.Load() == 0 {
		t.Errorf("a polled after it stopped, or b never polled")
	}
	if n := conflicts.Load(); n > 0 {
		t.Errorf("%d getUpdates overlapped another", n)
	}
}
