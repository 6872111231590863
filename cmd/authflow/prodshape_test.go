//go:build !nodev

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShapeUpGivesUpOnAProcessThatCannotStart: a worker that exits at
// once (here: no SMTP_URL) is not restarted until the readiness wait runs
// out: the wait ends after its third exit, naming it and quoting its log.
// A process that keeps running does not end the wait.
func TestShapeUpGivesUpOnAProcessThatCannotStart(t *testing.T) {
	dir := t.TempDir()
	s := &supervisor{bin: "/bin/sh", delay: 10 * time.Millisecond, path: filepath.Join(dir, ShapeFile)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); s.stopAll(log) }()

	// A port nothing answers on: the wait can end only by failedToStart.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/readyz"
	ln.Close()

	api := &member{name: "api-1", args: []string{"-c", "exec sleep 60"}, log: filepath.Join(dir, "api-1.log")}
	s.supervise(ctx, log, api)
	if err := waitReady(ctx, closed, 500*time.Millisecond, s.failedToStart); err == nil || errors.As(err, new(*startError)) {
		t.Fatalf("a running process ended the wait: %v", err)
	}

	worker := &member{name: "worker-1", log: filepath.Join(dir, "worker-1.log"), args: []string{"-c",
		"echo starting; echo 'authflow: no provider is configured for email (SMTP_URL, SMTP_FROM)' >&2; exit 1"}}
	s.supervise(ctx, log, worker)
	err = waitReady(ctx, closed, time.Minute, s.failedToStart)
	var se *startError
	if !errors.As(err, &se) {
		t.Fatalf("wait: %v, want the worker's start error", err)
	}
	if se.name != "worker-1" || se.exits < startupExits {
		t.Errorf("start error names %s after %d exits, want worker-1 after %d", se.name, se.exits, startupExits)
	}
	for _, want := range []string{"worker-1 exited", "worker-1.log", "no provider is configured for email (SMTP_URL, SMTP_FROM)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q:\n%s", want, err)
		}
	}
	if err := waitLog(ctx, filepath.Join(dir, "never.log"), "ready", time.Minute, s.failedToStart); !errors.As(err, &se) {
		t.Errorf("waitLog: %v, want the worker's start error", err)
	}
}

func TestLogTailIsTheLastLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	if got := logTail(path, 2); got != "" {
		t.Errorf("a missing log's tail = %q", got)
	}
	if err := os.WriteFile(path, []byte("a\nb\nc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := logTail(path, 2); got != "b\nc" {
		t.Errorf("tail = %q, want \"b\\nc\"", got)
	}
	if got := logTail(path, 5); got != "a\nb\nc" {
		t.Errorf("tail of a short log = %q", got)
	}
}
