package worker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/workflows"
)

// Relay wakes webhook deliveries (docs/design.md "Webhooks"): the outbox
// rows in the store are the truth, written in each event's own
// transaction, and every Every the relay asks the store which enabled
// endpoints have pending deliveries. For one whose outbox changed since it
// last looked (a new event, a retry), it Signal-With-Starts the endpoint's
// Webhook workflow: a running one takes the signal, a stopped one starts.
// For one whose outbox did not change it only makes sure, every
// EnsureEvery, that the workflow runs (a plain start that finds a running
// workflow adds nothing to its history): an endpoint backing off for days
// is not signalled every second. Every worker runs a relay; the workflow
// id makes several relays harmless.
type Relay struct {
	Store    store.Store
	Temporal client.Client
	Log      *slog.Logger
	// Every is how often the store is asked; 0: a second.
	Every time.Duration
	// EnsureEvery is how often a workflow whose outbox did not change is
	// made sure to run; 0: 30 seconds.
	EnsureEvery time.Duration
	// Retention is how long a delivered delivery is kept, with its
	// attempts, for GET …/deliveries (AUTHFLOW_WEBHOOK_RETENTION); 0 keeps
	// them all. Pending and failed deliveries are never pruned.
	Retention time.Duration
	// PruneEvery is how often the relay prunes; 0: ten minutes.
	PruneEvery time.Duration

	seen      map[string]seenOutbox
	lastError time.Time
	prunedAt  time.Time
}

type seenOutbox struct {
	pending   int
	newest    int64
	ensuredAt time.Time
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	every := r.Every
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		r.Tick(ctx)
		r.pruneIfDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick looks at the outbox once and wakes what needs waking.
func (r *Relay) Tick(ctx context.Context) {
	ps, err := r.Store.PendingWebhookEndpoints(ctx)
	if err != nil {
		r.warn(ctx, "webhook relay: the store did not answer; deliveries wait", err)
		return
	}
	if r.seen == nil {
		r.seen = map[string]seenOutbox{}
	}
	ensureEvery := r.EnsureEvery
	if ensureEvery <= 0 {
		ensureEvery = 30 * time.Second
	}
	now := time.Now()
	live := make(map[string]bool, len(ps))
	for _, p := range ps {
		live[p.EndpointID] = true
		last, known := r.seen[p.EndpointID]
		next := seenOutbox{pending: p.Pending, newest: p.Newest, ensuredAt: last.ensuredAt}
		var err error
		switch {
		case !known || p.Newest > last.newest || p.Pending > last.pending:
			err = workflows.WakeWebhook(ctx, r.Temporal, p.EndpointID, workflows.SignalWebhookPending, nil, now)
			next.ensuredAt = now
		case now.Sub(last.ensuredAt) >= ensureEvery:
			_, err = r.Temporal.ExecuteWorkflow(ctx, workflows.WebhookStartOptions(p.EndpointID, now),
				workflows.WebhookWorkflowName, workflows.WebhookInput{EndpointID: p.EndpointID})
			next.ensuredAt = now
		}
		if err != nil {
			// Not seen: the next tick tries again.
			r.warn(ctx, "webhook relay: could not wake a delivery workflow; the next tick tries again", err,
				"endpoint_id", p.EndpointID)
			continue
		}
		r.seen[p.EndpointID] = next
	}
	for id := range r.seen {
		if !live[id] {
			delete(r.seen, id)
		}
	}
}

// pruneBatch and pruneBatches bound one pruning: a thousand rows a
// transaction, ten transactions; what is left waits for the next one.
const (
	pruneBatch   = 1000
	pruneBatches = 10
)

func (r *Relay) pruneIfDue(ctx context.Context) {
	every := r.PruneEvery
	if every <= 0 {
		every = 10 * time.Minute
	}
	if r.Retention <= 0 || time.Since(r.prunedAt) < every {
		return
	}
	r.prunedAt = time.Now()
	r.Prune(ctx)
}

// Prune forgets the deliveries delivered more than Retention ago, in
// bounded batches, and says how many it forgot. Every worker's relay
// prunes; two at once delete the same rows once.
func (r *Relay) Prune(ctx context.Context) int {
	if r.Retention <= 0 {
		return 0
	}
	before := time.Now().Add(-r.Retention)
	total := 0
	for range pruneBatches {
		n, err := r.Store.PruneWebhookDeliveries(ctx, before, pruneBatch)
		total += n
		if err != nil {
			r.warn(ctx, "webhook relay: pruning delivered deliveries failed; the next pruning tries again", err)
			break
		}
		if n < pruneBatch {
			break
		}
	}
	if total > 0 && r.Log != nil {
		r.Log.Info("webhook deliveries pruned", "count", total, "delivered_before", before.UTC().Format(time.RFC3339),
			"retention", r.Retention.String())
	}
	return total
}

// warn logs a failure at most once a minute: the store or Temporal down
// is said once, not every second.
func (r *Relay) warn(ctx context.Context, msg string, err error, args ...any) {
	if ctx.Err() != nil || time.Since(r.lastError) < time.Minute {
		return
	}
	r.lastError = time.Now()
	if r.Log != nil {
		r.Log.Warn(msg, append(args, "err", err)...)
	}
}

// relayWorker is a worker that runs a Relay while it runs.
type relayWorker struct {
	worker.Worker
	relay *Relay

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// WebhookRetention is how long its relay keeps delivered deliveries (0:
// all), as configured.
func (w *relayWorker) WebhookRetention() time.Duration { return w.relay.Retention }

func (w *relayWorker) Start() error {
	if err := w.Worker.Start(); err != nil {
		return err
	}
	w.startRelay()
	return nil
}

func (w *relayWorker) Run(interruptCh <-chan any) error {
	w.startRelay()
	defer w.stopRelay()
	return w.Worker.Run(interruptCh)
}

func (w *relayWorker) Stop() {
	w.stopRelay()
	w.Worker.Stop()
}

func (w *relayWorker) startRelay() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		w.relay.Run(ctx)
	}(w.done)
}

func (w *relayWorker) stopRelay() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancel == nil {
		return
	}
	w.cancel()
	<-w.done
	w.cancel, w.done = nil, nil
}
