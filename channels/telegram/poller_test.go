package telegram_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/channels/telegram"
)

func TestPoller(t *testing.T) {
	t.Run("case=offset advances past handled updates and polling backs off after a 500", func(t *testing.T) {
		f := newFakeBotAPI(t)
		type poll struct {
			offset int64
			at     time.Time
		}
		var mu sync.Mutex
		var polls []poll
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f.setReply(func(method, body string) (int, string) {
			if method == "deleteWebhook" {
				return 200, `{"ok":true,"result":true}`
			}
			var p struct {
				Offset  int64 `json:"offset"`
				Timeout int   `json:"timeout"`
			}
			_ = json.Unmarshal([]byte(body), &p)
			mu.Lock()
			polls = append(polls, poll{p.Offset, time.Now()})
			n := len(polls)
			mu.Unlock()
			switch n {
			case 1:
				return 200, `{"ok":true,"result":[{"update_id":500,"message":{"text":"/start a"}},{"update_id":501,"callback_query":{"id":"q1","data":"n:f"}}]}`
			case 2:
				return 500, `{"ok":false,"error_code":500,"description":"Internal Server Error"}`
			case 3:
				return 200, `{"ok":true,"result":[{"update_id":502,"message":{"text":"/start b"}}]}`
			default:
				cancel()
				return 200, `{"ok":true,"result":[]}`
			}
		})
		var handled []int64
		p := &telegram.Poller{
			Client:      telegram.New(token, f.URL),
			Handle:      func(_ context.Context, u telegram.Update) { handled = append(handled, u.ID) },
			PollTimeout: time.Second,
			MinBackoff:  150 * time.Millisecond,
			MaxBackoff:  time.Second,
			Log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
		done := make(chan struct{})
		go func() { p.Run(ctx); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("poller did not stop when its context ended")
		}

		calls := f.takeCalls()
		if len(calls) == 0 || calls[0].Path != "/bot"+token+"/deleteWebhook" {
			t.Fatalf("first call %v, want deleteWebhook (getUpdates fails while a webhook is set)", calls)
		}
		if len(handled) != 3 || handled[0] != 500 || handled[1] != 501 || handled[2] != 502 {
			t.Fatalf("handled %v, want [500 501 502]", handled)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(polls) < 4 {
			t.Fatalf("%d polls, want 4", len(polls))
		}
		wantOffsets := []int64{0, 502, 502, 503}
		for i, w := range wantOffsets {
			if polls[i].offset != w {
				t.Fatalf("poll %d offset %d, want %d (all: %v)", i+1, polls[i].offset, w, polls)
			}
		}
		if gap := polls[2].at.Sub(polls[1].at); gap < 150*time.Millisecond {
			t.Fatalf("polled again %s after a 500, want at least the 150ms back-off", gap)
		}
	})

	t.Run("case=retry_after from a 429 outlasts the back-off", func(t *testing.T) {
		f := newFakeBotAPI(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var mu sync.Mutex
		var at []time.Time
		f.setReply(func(method, _ string) (int, string) {
			if method == "deleteWebhook" {
				return 200, `{"ok":true,"result":true}`
			}
			mu.Lock()
			at = append(at, time.Now())
			n := len(at)
			mu.Unlock()
			if n == 1 {
				return 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 1","parameters":{"retry_after":1}}`
			}
			cancel()
			return 200, `{"ok":true,"result":[]}`
		})
		p := &telegram.Poller{Client: telegram.New(token, f.URL), Handle: func(context.Context, telegram.Update) {},
			MinBackoff: 10 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		p.Run(ctx)
		mu.Lock()
		defer mu.Unlock()
		if len(at) != 2 {
			t.Fatalf("%d polls, want 2", len(at))
		}
		if gap := at[1].Sub(at[0]); gap < 900*time.Millisecond {
			t.Fatalf("polled again after %s, want ≥ retry_after (1s)", gap)
		}
	})

	t.Run("case=context cancel stops a waiting poller", func(t *testing.T) {
		f := newFakeBotAPI(t)
		f.setReply(func(string, string) (int, string) { return 503, `{"ok":false,"error_code":503,"description":"down"}` })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		p := &telegram.Poller{Client: telegram.New(token, f.URL), Handle: func(context.Context, telegram.Update) {},
			MinBackoff: time.Hour, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		start := time.Now()
		p.Run(ctx)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Run returned after %s, want soon after the context ended", d)
		}
	})
}
