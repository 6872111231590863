package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger adapts Temporal's log.Logger to slog.
type serverLogger struct {
	l *slog.Logger
}

var (
	_ log.Logger     = serverLogger{}
	_ log.WithLogger = serverLogger{}
	// Lets Temporal code that wants an slog.Logger unwrap ours.
	_ log.SLogWrapper = serverLogger{}
)

// newServerLogger logs to l through a quietHandler muted by muted.
func newServerLogger(l *slog.Logger, muted *atomic.Bool) log.Logger {
	return serverLogger{l: slog.New(quietHandler{inner: l.Handler(), muted: muted})}
}

func (s serverLogger) Debug(msg string, tags ...tag.Tag) { s.log(slog.LevelDebug, msg, tags) }
func (s serverLogger) Info(msg string, tags ...tag.Tag)  { s.log(slog.LevelInfo, msg, tags) }
func (s serverLogger) Warn(msg string, tags ...tag.Tag)  { s.log(slog.LevelWarn, msg, tags) }
func (s serverLogger) Error(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

// DPanic only logs, as Temporal's own production logger does.
func (s serverLogger) DPanic(msg string, tags ...tag.Tag) { s.log(slog.LevelError, msg, tags) }

func (s serverLogger) Panic(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic(msg)
}

// Fatal panics instead of exiting: the server runs inside someone else's
// process (a test binary, `authflow dev`), which must get an error rather
// than vanish. Start turns the panic back into an error when it happens
// during start-up (e.g. a port taken between picking and binding it).
func (s serverLogger) Fatal(msg string, tags ...tag.Tag) {
	s.log(slog.LevelError, msg, tags)
	panic(fatalError{msg: msg, attrs: attrs(tags)})
}

func (s serverLogger) With(tags ...tag.Tag) log.Logger {
	args := make([]any, 0, len(tags))
	for _, a := range attrs(tags) {
		args = append(args, a)
	}
	return serverLogger{l: s.l.With(args...)}
}

func (s serverLogger) SLog() *slog.Logger { return s.l }

func (s serverLogger) log(level slog.Level, msg string, tags []tag.Tag) {
	// Temporal logs a lot at debug and info; skip converting tags nobody reads.
	if !s.l.Enabled(context.Background(), level) {
		return
	}
	s.l.LogAttrs(context.Background(), level, msg, attrs(tags)...)
}

func attrs(tags []tag.Tag) []slog.Attr {
	out := make([]slog.Attr, 0, len(tags))
	for _, t := range tags {
		out = append(out, slog.Any(t.Key(), t.Value()))
	}
	return out
}

// quietHandler keeps the server's and the SDK's known noise out of the
// caller's logs.
type quietHandler struct {
	inner slog.Handler
	// muted is set when Stop begins: shutting down makes every service log
	// cancelled polls and refused dials as warnings and errors, which would
	// bury the host program's own last words. Stop's result carries what
	// matters. nil for SDK clients, which outlive no server.
	muted *atomic.Bool
}

// benignMessages are warnings about choices this server makes on purpose.
var benignMessages = []string{
	"HTTP API port has not been set", // no Nexus, and one port fewer
}

// benignErrors are errors that echo a client going away or a service still
// starting: a worker stopping cancels its long polls, matching then unloads
// the idle task queue, and the internal worker service dials the frontend
// before it reports healthy (and retries). Temporal logs them as warnings or
// errors; on a laptop where workers restart all the time they are noise.
var benignErrors = []string{
	"context canceled",
	"task queue shutting down",
	"Frontend is not healthy yet",
}

func (h quietHandler) Enabled(ctx context.Context, level slog.Level) bool {
	if h.muted != nil && h.muted.Load() {
		return false
	}
	return h.inner.Enabled(ctx, level)
}

// Handle logs benign warnings and errors at debug level.
func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.muted != nil && h.muted.Load() {
		return nil
	}
	if r.Level >= slog.LevelWarn && isBenign(r) {
		if !h.inner.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		debug := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool {
			debug.AddAttrs(a)
			return true
		})
		r = debug
	}
	return h.inner.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{inner: h.inner.WithAttrs(as), muted: h.muted}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{inner: h.inner.WithGroup(name), muted: h.muted}
}

func isBenign(r slog.Record) bool {
	for _, prefix := range benignMessages {
		if strings.HasPrefix(r.Message, prefix) {
			return true
		}
	}
	benign := false
	r.Attrs(func(a slog.Attr) bool {
		// Temporal's server says "error", its SDK "Error".
		if !strings.EqualFold(a.Key, "error") {
			return true
		}
		text := a.Value.String()
		for _, e := range benignErrors {
			if strings.Contains(text, e) {
				benign = true
			}
		}
		return !benign
	})
	return benign
}

// fatalError is what serverLogger.Fatal panics with.
type fatalError struct {
	msg   string
	attrs []slog.Attr
}

func (e fatalError) Error() string {
	s := e.msg
	for _, a := range e.attrs {
		s += fmt.Sprintf(" %s=%v", a.Key, a.Value)
	}
	return s
}

// catchFatal runs f and turns a fatalError panic into an error. Other panics
// are not ours to swallow.
func catchFatal[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			fe, ok := r.(fatalError)
			if !ok {
				panic(r)
			}
			err = fe
		}
	}()
	return f()
}

// sdkLogger is the SDK client logger for clients of the server: l, without
// the warnings a stopping worker produces.
func sdkLogger(l *slog.Logger) sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(quietHandler{inner: l.Handler()}))
}
