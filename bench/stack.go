package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/authflow/authflow/internal/stack"
	"github.com/authflow/authflow/security"
)

// benchStack is the embedded production shape in one process
// (internal/stack, with the payload codec and the hashing of the run) plus
// the floor's worker.
type benchStack struct {
	*stack.Stack
	floor sdkworker.Worker
}

func startStack(ctx context.Context, databaseURL string, params security.Argon2Params, hashInProcess bool, logOut io.Writer) (_ *benchStack, err error) {
	st, err := stack.Start(ctx, stack.Options{DatabaseURL: databaseURL, Argon2: &params,
		IsolatedHashing: !hashInProcess, EncryptPayloads: true,
		Log: slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		return nil, err
	}
	s := &benchStack{Stack: st}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.floor = newFloorWorker(s.Temporal)
	if err := s.floor.Start(); err != nil {
		return nil, fmt.Errorf("start the floor's worker: %w", err)
	}
	return s, s.WaitReady(ctx)
}

// cpu is the CPU time the stack used so far: this process's and that of
// the hashing children.
func (s *benchStack) cpu() time.Duration {
	return cpuTime() + s.Hasher.ChildCPU()
}

func (s *benchStack) close() {
	if s.floor != nil {
		s.floor.Stop()
	}
	s.Stack.Close()
}
