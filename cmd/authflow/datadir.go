package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// `authflow dev` keeps its state in a data dir (./.authflow): the SQLite
// files, the secret key, the admin token, the outbox. Two dev servers on
// one data dir would both own the Temporal database's history shard and
// corrupt it, so the first holds a lock on the dir (flock on lockFileName,
// which names its pid) until it exits, and the second stops at once,
// naming it. While it runs it also describes itself in stateFileName, so
// `authflow flows` finds its Temporal whatever port it got.
const (
	lockFileName  = "dev.lock"
	stateFileName = "dev.json"
)

// devIP is where `authflow dev` binds the embedded Temporal's frontend and
// UI (devserver's default), and so where the CLI looks for them.
const devIP = "127.0.0.1"

// errLocked is tryLock's answer when another open file holds the lock.
var errLocked = errors.New("locked")

// dataDirLock is a running dev's hold on its data dir.
type dataDirLock struct {
	f *os.File
}

// lockDataDir takes the data dir for this process, or says which process
// has it. A lock held only for a moment (`authflow flows` checking that a
// dev runs) is waited for.
func lockDataDir(dir string) (*dataDirLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	for attempt := 0; ; attempt++ {
		err = tryLock(f)
		if !errors.Is(err, errLocked) || attempt == 5 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if errors.Is(err, errLocked) {
		f.Close()
		abs, _ := filepath.Abs(dir)
		holder := "another process"
		if pid := readPID(path); pid > 0 {
			holder = fmt.Sprintf("another authflow dev (pid %d)", pid)
		}
		return nil, fmt.Errorf("data dir %s is in use by %s: stop it first, or start this one with another --data-dir or with --ephemeral", abs, holder)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	return &dataDirLock{f: f}, nil
}

// Release lets another dev have the data dir.
func (l *dataDirLock) Release() {
	_ = l.f.Truncate(0)
	_ = l.f.Close() // closing the file drops the lock
}

// dataDirHolder says whether a dev runs on dir, and its pid.
func dataDirHolder(dir string) (pid int, running bool) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, false
	}
	defer f.Close() // also drops the lock when we got it
	if err := tryLock(f); errors.Is(err, errLocked) {
		return readPID(path), true
	}
	return 0, false
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// devState is what a running dev says about itself in its data dir.
type devState struct {
	PID               int    `json:"pid"`
	TemporalAddress   string `json:"temporal_address"`
	TemporalNamespace string `json:"temporal_namespace"`
	API               string `json:"api"`
	TemporalUI        string `json:"temporal_ui,omitempty"`
}

// writeDevState describes the running dev in dir; the returned func
// removes the description again.
func writeDevState(dir string, s devState) (remove func(), err error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, stateFileName)
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return func() { _ = os.Remove(path) }, nil
}

// runningDev is the state of the dev running on dir, if one does and has
// described itself (a killed one leaves its file behind; its lock is gone).
func runningDev(dir string) (devState, bool) {
	pid, running := dataDirHolder(dir)
	if !running {
		return devState{}, false
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		return devState{}, false
	}
	var s devState
	if json.Unmarshal(b, &s) != nil || s.PID != pid || s.TemporalAddress == "" {
		return devState{}, false
	}
	return s, true
}
