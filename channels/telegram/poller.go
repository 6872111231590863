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
	// DefaultLeaseTTL is how long a lease lasts without renewal: how long
	// a dead poller's process keeps the others from polling.
	DefaultLeaseTTL = time.Minute
)

// Lease makes long polling exclusive among the processes that share one
// bot: only the process holding the lease polls. Telegram serves one
// getUpdates per bot at a time (a second one ends the first with 409
// Conflict), so two pollers would take updates from each other and fail by
// turns.
type Lease interface {
	// Acquire takes the lease for ttl, or renews it when this poller holds
	// it. When another holds it, it returns false with that holder and the
	// end of its lease.
	Acquire(ctx context.Context, ttl time.Duration) (held bool, holder string, until time.Time, err error)
	// Release gives the lease up when this poller holds it.
	Release(ctx context.Context) error
}

// Poller receives updates by long polling (getUpdates), for deployments
// without a public webhook (TELEGRAM_WEBHOOK_SECRET unset). Only one poller
// may run per bot: Telegram answers a second one with 409 Conflict. With a
// Lease, every process may run a Poller and only the lease's holder polls;
// the others wait and take over once its lease expires.
type Poller struct {
	Client *Client
	// Handle is called with each update, one at a time, in order.
	Handle func(ctx context.Context, u Update)
	// Lease, when set, is held while polling (see Run).
	Lease Lease

	// Zero values mean the Default… constants.
	PollTimeout   time.Duration
	MinBackoff    time.Duration
	MaxBackoff    time.Duration
	HandleTimeout time.Duration
	LeaseTTL      time.Duration
	Log           *slog.Logger
}

// Run deletes any webhook (getUpdates refuses to work while one is set),
// then polls until ctx ends, handing every update to Handle. After a failed
// call it waits — MinBackoff doubling to MaxBackoff, or longer when Telegram
// says retry_after — and polls again from the same offset. It returns when
// ctx is done.
//
// With a Lease, it first takes the lease (LeaseTTL) and calls Telegram only
// while it holds it. Refused, it logs who holds it and until when, and tries
// again when that lease would end: a holder that stopped renewing (a dead
// process) is taken over from then on. Holding it, it renews the lease once
// half of it is gone, and every getUpdates ends a sixth of the ttl before
// the lease does, so the process that takes over next never polls beside
// it. A lease lost (another took it after a renewal failed for the whole
// ttl) stops the polling at once. When ctx ends, it confirms the updates it
// handled (getUpdates with the next offset) and releases the lease, so the
// next holder starts at once and after them.
func (p *Poller) Run(ctx context.Context) {
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	r := &pollRun{Poller: p, log: log.With("component", "telegram-poller"),
		b: backoff{min: or(p.MinBackoff, DefaultMinBackoff), max: or(p.MaxBackoff, DefaultMaxBackoff)}}
	if p.Lease == nil {
		if r.deleteWebhook(ctx, time.Time{}) {
			r.poll(ctx, nil)
		}
		return
	}
	r.runLeased(ctx)
}

// pollRun is one Run: its log, back-off and offset.
type pollRun struct {
	*Poller
	log    *slog.Logger
	b      backoff
	offset int64
	// sent is the offset of the last getUpdates sent, which confirmed the
	// updates before it.
	sent int64
}

// deleteWebhook calls deleteWebhook until it succeeds; false when ctx
// ended first or, with a non-zero stopBy, that time came.
func (r *pollRun) deleteWebhook(ctx context.Context, stopBy time.Time) bool {
	for {
		dctx, cancel := ctx, context.CancelFunc(func() {})
		if !stopBy.IsZero() {
			dctx, cancel = context.WithDeadline(ctx, stopBy)
		}
		err := r.Client.DeleteWebhook(dctx)
		cancel()
		if err == nil {
			r.b.reset()
			return true
		}
		if ctx.Err() != nil || (!stopBy.IsZero() && !time.Now().Before(stopBy)) {
			return false
		}
		if !r.b.wait(ctx, r.log, "deleteWebhook", err) {
			return false
		}
	}
}

// poll polls until ctx ends, or until lease says to stop.
func (r *pollRun) poll(ctx context.Context, lease *heldLease) {
	pollTimeout := or(r.PollTimeout, DefaultPollTimeout)
	for {
		timeout, pctx, cancel := pollTimeout, ctx, context.CancelFunc(func() {})
		if lease != nil {
			stopBy, ok := lease.keep(ctx)
			if !ok {
				return
			}
			// Ends before the lease can: Telegram's timeout is whole
			// seconds, and the deadline cuts a call that overruns.
			timeout = min(timeout, time.Until(stopBy).Truncate(time.Second))
			pctx, cancel = context.WithDeadline(ctx, stopBy)
		}
		r.sent = r.offset
		updates, err := r.Client.GetUpdates(pctx, r.offset, timeout)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !r.b.wait(ctx, r.log, "getUpdates", err) {
				return
			}
			continue
		}
		r.b.reset()
		for _, u := range updates {
			if u.ID < r.offset {
				continue // already handled
			}
			r.offset = u.ID + 1
			r.handle(ctx, r.log, u)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// runLeased waits for the lease, polls while it holds it, and waits again
// when it lost it, until ctx ends.
func (r *pollRun) runLeased(ctx context.Context) {
	ttl := or(r.LeaseTTL, DefaultLeaseTTL)
	refusedBy := ""
	for ctx.Err() == nil {
		start := time.Now()
		held, holder, until, err := r.Lease.Acquire(ctx, ttl)
		if err != nil {
			if ctx.Err() != nil || !r.b.wait(ctx, r.log, "taking the polling lease", err) {
				return
			}
			continue
		}
		r.b.reset()
		if !held {
			// Back when that lease would end (a live holder will have
			// renewed it by then), and at least every half ttl.
			retry := min(max(time.Until(until)+ttl/20, ttl/20), ttl/2)
			if holder != refusedBy {
				r.log.Warn("telegram long polling is held by another process: this one does not poll, and takes over if that one stops renewing its lease",
					"holder", holder, "until", until, "retry_in", retry)
				refusedBy = holder
			}
			if !sleep(ctx, retry) {
				return
			}
			continue
		}
		r.log.Info("telegram long polling lease taken: this process polls", "ttl", ttl, "previous_holder", refusedBy)
		refusedBy = ""
		l := &heldLease{lease: r.Lease, ttl: ttl, validUntil: start.Add(ttl), log: r.log}
		if r.deleteWebhook(ctx, l.stopBy()) {
			r.poll(ctx, l)
		}
		if ctx.Err() != nil {
			r.release(l)
			return
		}
		if !l.lost {
			// deleteWebhook failed for as long as the lease could last.
			r.log.Warn("telegram long polling stopped: the lease ran out before deleteWebhook succeeded")
		}
	}
}

// release hands over after ctx ended: it confirms what was handled since
// the last getUpdates (while the lease still covers the call) and releases
// the lease.
func (r *pollRun) release(l *heldLease) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if stopBy := l.stopBy(); r.offset > r.sent && time.Until(stopBy) > 0 {
		cctx, ccancel := context.WithDeadline(ctx, stopBy)
		if _, err := r.Client.GetUpdates(cctx, r.offset, 0); err != nil {
			r.log.Warn("telegram: confirming the handled updates failed; the next poller gets them again", "err", err)
		}
		ccancel()
	}
	if err := l.lease.Release(ctx); err != nil {
		r.log.Warn("telegram: releasing the polling lease failed; another process takes over when it expires", "err", err)
		return
	}
	r.log.Info("telegram long polling lease released")
}

// heldLease is the lease while this poller holds it.
type heldLease struct {
	lease Lease
	ttl   time.Duration
	// validUntil is when the lease ends by this process's clock: the
	// start of the last successful Acquire plus ttl.
	validUntil time.Time
	lost       bool
	log        *slog.Logger
}

// stopBy is when polling must have ended: a sixth of the ttl before the
// lease does, room for the clocks of two hosts to differ.
func (l *heldLease) stopBy() time.Time { return l.validUntil.Add(-l.ttl / 6) }

// keep renews the lease when half of it is gone (or less than two seconds
// of polling are left: a short ttl) and reports until when this poller may
// poll; false when it may not poll any more (lost, or ctx ended). A failed
// renewal keeps the lease it still has: renewals are retried each second
// until it is too short to poll a second.
func (l *heldLease) keep(ctx context.Context) (time.Time, bool) {
	for ctx.Err() == nil {
		if time.Until(l.validUntil) < l.ttl/2 || time.Until(l.stopBy()) < 2*time.Second {
			start := time.Now()
			held, holder, until, err := l.lease.Acquire(ctx, l.ttl)
			switch {
			case err != nil:
				if ctx.Err() != nil {
					return time.Time{}, false
				}
				l.log.Warn("telegram: renewing the polling lease failed", "err", err, "lease_left", time.Until(l.validUntil).Round(time.Millisecond))
			case !held:
				l.lost = true
				l.log.Error("telegram: the polling lease was taken by another process: this one stops polling", "holder", holder, "until", until)
				return time.Time{}, false
			default:
				l.validUntil = start.Add(l.ttl)
			}
		}
		if time.Until(l.stopBy()) >= time.Second {
			return l.stopBy(), true
		}
		if !time.Now().Before(l.validUntil) {
			l.lost = true
			l.log.Error("telegram: the polling lease ran out without a renewal: this one stops polling")
			return time.Time{}, false
		}
		if !sleep(ctx, time.Second) {
			return time.Time{}, false
		}
	}
	return time.Time{}, false
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
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
