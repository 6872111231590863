package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/authflow/authflow/codec"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/opener"
)

// target is what a run drives: the embedded stack, or a deployment
// (Options.TemporalAddress) such as `authflow prodshape up`'s.
type target struct {
	// urls are the APIs; logins take them in turn.
	urls     []string
	temporal client.Client
	store    store.Store
	sealer   *security.Sealer
	// hasher makes the users' hashes and runs floor 2.
	hasher *security.Hasher
	// meter reads the CPU time used so far.
	meter func() cpuSample
	// split says meter reads the deployment's processes by part.
	split bool
	close func()

	mu   sync.Mutex
	gone map[string]bool // processes of the deployment that ended during the run
}

// cpuSample is the CPU time used so far: in all (what a phase's CPU-s
// count), and by part (partNames; nil for the embedded stack, where every
// part is this process).
type cpuSample struct {
	total time.Duration
	parts []time.Duration
}

func (s *target) cpu() cpuSample { return s.meter() }

// embedded starts the embedded stack (with the floor's worker).
func embedded(ctx context.Context, o Options) (*target, error) {
	st, err := startStack(ctx, o.DatabaseURL, o.Argon2, o.HashInProcess, o.Log)
	if err != nil {
		return nil, err
	}
	return &target{urls: []string{st.URL}, temporal: st.Temporal, store: st.Store, sealer: st.Sealer, hasher: st.Hasher,
		meter: func() cpuSample { return cpuSample{total: st.cpu()} }, close: st.close}, nil
}

// remote connects to a deployment: its Temporal (with the payload codec of
// its secret key, as its own clients), its store, its APIs; it runs the
// floor's worker and floor 2 here. With o.Processes, meter reads their CPU
// (and their children's) from /proc by part, with this process's and the
// machine's postgres processes'.
func remote(ctx context.Context, o Options) (_ *target, err error) {
	switch {
	case o.DatabaseURL == "":
		return nil, errors.New("bench: a deployment (--temporal-address) needs its store's --database-url")
	case len(o.APIURLs) == 0:
		return nil, errors.New("bench: a deployment (--temporal-address) needs its APIs' URLs")
	case len(o.SecretKey) != 32:
		return nil, errors.New("bench: a deployment (--temporal-address) needs its AUTHFLOW_SECRET_KEY: the users' TOTP secrets are sealed under it")
	}
	s := &target{urls: o.APIURLs, gone: map[string]bool{}}
	var closers []func()
	s.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.hasher = security.NewHasherWithIsolation(o.Argon2, !o.HashInProcess)
	closers = append(closers, s.hasher.Close)
	if s.sealer, err = security.NewSealer(o.SecretKey); err != nil {
		return nil, err
	}
	if s.store, err = opener.Open(ctx, o.DatabaseURL); err != nil {
		return nil, fmt.Errorf("bench: the deployment's store: %w", err)
	}
	closers = append(closers, func() { _ = s.store.Close() })
	dc, err := codec.DataConverter(o.SecretKey)
	if err != nil {
		return nil, err
	}
	ns := o.TemporalNamespace
	if ns == "" {
		ns = "default"
	}
	s.temporal, err = client.DialContext(ctx, client.Options{HostPort: o.TemporalAddress, Namespace: ns, DataConverter: dc,
		Logger: sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(o.Log, &slog.HandlerOptions{Level: slog.LevelError})))})
	if err != nil {
		return nil, fmt.Errorf("bench: connect to Temporal at %s: %w", o.TemporalAddress, err)
	}
	closers = append(closers, s.temporal.Close)
	floor := newFloorWorker(s.temporal)
	if err := floor.Start(); err != nil {
		return nil, fmt.Errorf("bench: start the floor's worker: %w", err)
	}
	closers = append(closers, floor.Stop)
	if err := waitAPIs(ctx, o.APIURLs); err != nil {
		return nil, err
	}
	self := func() time.Duration { return cpuTime() + s.hasher.ChildCPU() }
	if len(o.Processes) == 0 {
		s.meter = func() cpuSample { return cpuSample{total: self()} }
		return s, nil
	}
	for _, p := range o.Processes {
		if _, ok := partOf(p.Name); !ok {
			return nil, fmt.Errorf("bench: process %q (pid %d) is not temporal, worker… or api…", p.Name, p.PID)
		}
	}
	if _, err := readProcs(o.Proc); err != nil {
		return nil, fmt.Errorf("bench: the deployment's CPU is read from %s: %w", o.Proc, err)
	}
	s.split = true
	s.meter = func() cpuSample {
		parts := make([]time.Duration, numParts)
		t, err := readProcs(o.Proc)
		if err != nil {
			t = procTable{}
		}
		for _, p := range o.Processes {
			part, _ := partOf(p.Name)
			d, ok := t.tree(p.PID)
			if !ok {
				s.mu.Lock()
				s.gone[fmt.Sprintf("%s (pid %d)", p.Name, p.PID)] = true
				s.mu.Unlock()
			}
			parts[part] += d
		}
		parts[partBench] = self()
		parts[partPostgres] = t.postgres()
		var total time.Duration
		for i, d := range parts {
			if i != partPostgres {
				total += d
			}
		}
		return cpuSample{total: total, parts: parts}
	}
	return s, nil
}

// goneProcesses lists the deployment's processes that ended during the
// run: their CPU from then on is missing.
func (s *target) goneProcesses() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p := range s.gone {
		out = append(out, p)
	}
	return out
}

// waitAPIs waits for every API's /readyz.
func waitAPIs(ctx context.Context, urls []string) error {
	c := &http.Client{Timeout: 5 * time.Second}
	for _, u := range urls {
		deadline := time.Now().Add(time.Minute)
		for {
			resp, err := c.Get(strings.TrimSuffix(u, "/") + "/readyz")
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("bench: %s/readyz does not answer 200 (%v)", u, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// procDir is where the kernel shows processes.
const procDir = "/proc"
