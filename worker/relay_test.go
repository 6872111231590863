package worker

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/opener"
	"github.com/authflow/authflow/workflows"
)

// wakeRecorder is a Temporal client that records how the relay wakes
// workflows (every other call panics: the relay must make no other).
type wakeRecorder struct {
	client.Client
	calls []string // "signal <workflow id>" or "start <workflow id>"
	fail  bool
}

func (w *wakeRecorder) SignalWithStartWorkflow(_ context.Context, id, signal string, _ any, o client.StartWorkflowOptions,
	wf any, args ...any) (client.WorkflowRun, error) {
	if w.fail {
		return nil, errors.New("temporal is down")
	}
	if signal != workflows.SignalWebhookPending || o.ID != id || wf != workflows.WebhookWorkflowName ||
		args[0].(workflows.WebhookInput).EndpointID == "" || id != workflows.WebhookWorkflowID(args[0].(workflows.WebhookInput).EndpointID) {
		panic("unexpected signal-with-start")
	}
	w.calls = append(w.calls, "signal "+id)
	return nil, nil
}

func (w *wakeRecorder) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, wf any, _ ...any) (client.WorkflowRun, error) {
	if w.fail {
		return nil, errors.New("temporal is down")
	}
	if wf != workflows.WebhookWorkflowName {
		panic("unexpected start")
	}
	w.calls = append(w.calls, "start "+o.ID)
	return nil, nil
}

func (w *wakeRecorder) take() []string {
	out := w.calls
	w.calls = nil
	return out
}

func TestRelay(t *testing.T) {
	ctx := context.Background()
	st, err := opener.Open(ctx, "sqlite://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, "relay@example.com", "hash")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := func(events ...string) string {
		e, err := st.CreateWebhookEndpoint(ctx, store.WebhookEndpoint{URL: "https://hooks.example.com/", Events: events, SecretSealed: []byte("s")})
		if err != nil {
			t.Fatal(err)
		}
		return e.ID
	}
	event := func(typ string) string {
		ev := store.Event{UserID: u.ID, Type: typ, ID: typ + time.Now().Format("150405.000000000")}
		if err := st.AddEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		return ev.ID
	}
	a, b := endpoint("*"), endpoint("password_changed")
	tc := &wakeRecorder{}
	r := &Relay{Store: st, Temporal: tc, EnsureEvery: time.Hour}
	wf := workflows.WebhookWorkflowID

	t.Run("case=nothing pending wakes nothing", func(t *testing.T) {
		r.Tick(ctx)
		if got := tc.take(); len(got) != 0 {
			t.Fatalf("woke %v", got)
		}
	})
	t.Run("case=a new event signals the workflow of each endpoint it was queued for, once", func(t *testing.T) {
		event("login_failed")
		r.Tick(ctx)
		if got := tc.take(); !slices.Equal(got, []string{"signal " + wf(a)}) {
			t.Fatalf("woke %v", got)
		}
		r.Tick(ctx)
		if got := tc.take(); len(got) != 0 {
			t.Fatalf("an unchanged outbox woke %v", got)
		}
		event("password_changed")
		r.Tick(ctx)
		got := tc.take()
		slices.Sort(got)
		if want := slices.Sorted(slices.Values([]string{"signal " + wf(a), "signal " + wf(b)})); !slices.Equal(got, want) {
			t.Fatalf("woke %v, want %v", got, want)
		}
	})
	t.Run("case=a workflow that cannot be woken is tried again at the next tick", func(t *testing.T) {
		event("account_unlocked")
		tc.fail = true
		r.Tick(ctx)
		tc.fail = false
		r.Tick(ctx)
		if got := tc.take(); !slices.Equal(got, []string{"signal " + wf(a)}) {
			t.Fatalf("woke %v", got)
		}
	})
	t.Run("case=an unchanged outbox is only made sure to run, every EnsureEvery, with no signal", func(t *testing.T) {
		r.EnsureEvery = time.Nanosecond
		r.Tick(ctx)
		got := tc.take()
		slices.Sort(got)
		if want := slices.Sorted(slices.Values([]string{"start " + wf(a), "start " + wf(b)})); !slices.Equal(got, want) {
			t.Fatalf("woke %v, want %v", got, want)
		}
		r.EnsureEvery = time.Hour
	})
	t.Run("case=a relay that starts anew signals every endpoint with pending deliveries", func(t *testing.T) {
		fresh := &Relay{Store: st, Temporal: tc}
		fresh.Tick(ctx)
		got := tc.take()
		slices.Sort(got)
		if want := slices.Sorted(slices.Values([]string{"signal " + wf(a), "signal " + wf(b)})); !slices.Equal(got, want) {
			t.Fatalf("woke %v, want %v", got, want)
		}
	})
	t.Run("case=a disabled endpoint is not woken", func(t *testing.T) {
		if err := st.DisableWebhookEndpoint(ctx, b, "test", time.Now()); err != nil {
			t.Fatal(err)
		}
		fresh := &Relay{Store: st, Temporal: tc}
		fresh.Tick(ctx)
		if got := tc.take(); !slices.Equal(got, []string{"signal " + wf(a)}) {
			t.Fatalf("woke %v", got)
		}
	})
	t.Run("case=pruning forgets deliveries delivered before the retention, once per PruneEvery, and only with a retention", func(t *testing.T) {
		c := endpoint("*")
		ev := []string{event("login_failed"), event("login_failed"), event("login_failed")}
		old := time.Now().Add(-31 * 24 * time.Hour)
		for i, at := range []time.Time{old, old.Add(time.Second), time.Now()} {
			if _, err := st.RecordWebhookAttempt(ctx, c, ev[i], store.WebhookAttempt{At: at, StatusCode: 204}); err != nil {
				t.Fatal(err)
			}
		}
		keep := &Relay{Store: st, Temporal: tc}
		if n := keep.Prune(ctx); n != 0 {
			t.Fatalf("pruned %d without a retention", n)
		}
		r := &Relay{Store: st, Temporal: tc, Retention: 30 * 24 * time.Hour}
		if n := r.Prune(ctx); n != 2 {
			t.Fatalf("pruned %d, want the two delivered 31 days ago", n)
		}
		for i, want := range []bool{true, true, false} {
			_, err := st.WebhookDelivery(ctx, c, ev[i])
			if gone := errors.Is(err, store.ErrNotFound); gone != want {
				t.Errorf("delivery %d gone: %v (%v), want %v", i, gone, err, want)
			}
		}
		// Due once per PruneEvery.
		event("login_failed")
		r.pruneIfDue(ctx)
		if r.prunedAt.IsZero() {
			t.Fatal("a relay with a retention never pruned")
		}
		at := r.prunedAt
		r.pruneIfDue(ctx)
		if r.prunedAt != at {
			t.Error("pruned again within PruneEvery")
		}
		tc.take()
	})
}
