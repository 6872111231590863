package devserver

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"go.temporal.io/server/common/log/tag"
)

func TestServerLogger(t *testing.T) {
	newLogger := func() (*bytes.Buffer, *atomic.Bool, serverLogger) {
		var buf bytes.Buffer
		muted := new(atomic.Bool)
		l := newServerLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})), muted)
		return &buf, muted, l.(serverLogger)
	}

	t.Run("case=warnings pass with their tags", func(t *testing.T) {
		buf, _, l := newLogger()
		l.Warn("disk almost full", tag.NewStringTag("path", "/tmp"))
		if got := buf.String(); !strings.Contains(got, "disk almost full") || !strings.Contains(got, "path=/tmp") {
			t.Fatalf("log = %q", got)
		}
	})

	t.Run("case=info is below the default level", func(t *testing.T) {
		buf, _, l := newLogger()
		l.Info("started")
		if buf.Len() != 0 {
			t.Fatalf("log = %q, want nothing", buf)
		}
	})

	t.Run("case=a cancelled poll is not an error", func(t *testing.T) {
		buf, _, l := newLogger()
		l.Error("Unable to call matching.PollWorkflowTaskQueue.", tag.Error(errors.New("context canceled")))
		if buf.Len() != 0 {
			t.Fatalf("log = %q, want nothing", buf)
		}
	})

	t.Run("case=nothing is logged once stopping", func(t *testing.T) {
		buf, muted, l := newLogger()
		muted.Store(true)
		l.Error("shard lost", tag.Error(errors.New("boom")))
		if buf.Len() != 0 {
			t.Fatalf("log = %q, want nothing", buf)
		}
	})

	t.Run("case=fatal becomes an error instead of an exit", func(t *testing.T) {
		_, _, l := newLogger()
		_, err := catchFatal(func() (int, error) {
			l.Fatal("Failed to start gRPC listener", tag.NewStringTag("address", "127.0.0.1:1"))
			return 0, nil
		})
		if err == nil || !strings.Contains(err.Error(), "Failed to start gRPC listener") || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestDialHost(t *testing.T) {
	for ip, want := range map[string]string{
		"0.0.0.0":   "127.0.0.1",
		"::":        "::1",
		"127.0.0.1": "127.0.0.1",
		"10.1.2.3":  "10.1.2.3",
	} {
		if got := dialHost(ip); got != want {
			t.Errorf("dialHost(%q) = %q, want %q", ip, got, want)
		}
	}
}
