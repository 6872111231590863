package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authflow/authflow/channels"
)

// Poller defaults.
const (
	// DefaultPollTimeout is how long one getUpdates waits for an update.
	DefaultPollTimeout = 30 * time.Second
	// DefaultMinBackoff and DefaultMaxBackoff bound the wait after a failed
	// poll: it starts at the minimum and doubles up to the maximum.
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = time.Minute
	// DefaultHandleTimeout bounds the handling of one update.
	DefaultHandleTimeout = 30 * time.Second
)

// Poller receives updates by long polling (getUpdates), for deployments
// without a public webhook (TELEGRAM_WEBHOOK_SECRET unset). Only one poller
// may run per bot: Telegram answers a second one with 409 Conflict, so a
// scaled-out API uses the webhook instead.
type Poller struct {
	Client *Client
	// Handle is called with each update, one at a time, in order.
	Handle func(ctx context.Context, u Update)

	// Zero values mean the Default… constants.
	PollTimeout   time.Duration
	MinBackoff    time.Duration
	MaxBackoff    time.Duration
	HandleTimeout time.Duration
	Log           *slog.Logger
}

// Run deletes any webhook (getUpdates refuses to work while one is set),
// then polls until ctx ends, handing every update to Handle. After a failed
// call it waits — MinBackoff doubling to MaxBackoff, or longer when Telegram
// says retry_after — and polls again from the same offset. It returns when
// ctx is done.
func (p *Poller) Run(ctx context.Context) {
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "telegram-poller")
	b := backoff{min: or(p.MinBackoff, DefaultMinBackoff), max: or(p.MaxBackoff, DefaultMaxBackoff)}

	for {
		err := p.Client.DeleteWebhook(ctx)
		if err == nil {
			break
		}
		if !b.wait(ctx, log, "deleteWebhook", err) {
			return
		}
	}
	b.reset()

	var offset int64
	pollTimeout := or(p.PollTimeout, DefaultPollTimeout)
	for {
		updates, err := p.Client.GetUpdates(ctx, offset, pollTimeout)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !b.wait(ctx, log, "getUpdates", err) {
				return
			}
			continue
		}
		b.reset()
		for _, u := range updates {
			if u.ID < offset {
				continue // already handled
			}
			offset = u.ID + 1
			p.handle(ctx, log, u)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// handle runs Handle with its own deadline; a panicking handler is logged,
// not fatal: one bad update must not stop the bot.
func (p *Poller) handle(ctx context.Context, log *slog.Logger, u Update) {
	hctx, cancel := context.WithTimeout(ctx, or(p.HandleTimeout, DefaultHandleTimeout))
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			log.Error("telegram update handler panicked", "update_id", u.ID, "panic", fmt.Sprint(r))
		}
	}()
	p.Handle(hctx, u)
}

// backoff is the poller's wait between failed calls.
type backoff struct {
	min, max, next time.Duration
}

func (b *backoff) reset() { b.next = 0 }

// wait logs err and sleeps; it reports false when ctx ended first.
func (b *backoff) wait(ctx context.Context, log *slog.Logger, method string, err error) bool {
	if b.next == 0 {
		b.next = b.min
	}
	d := b.next
	b.next = min(b.next*2, b.max)
	if ra := RetryAfter(err); ra > d {
		d = ra
	}
	var perm *channels.PermanentError
	if errors.As(err, &perm) {
		// A revoked token or a bot polled elsewhere (409) needs a person.
		log.Error("telegram "+method+" failed; retrying", "err", err, "retry_in", d)
	} else {
		log.Warn("telegram "+method+" failed; retrying", "err", err, "retry_in", d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
