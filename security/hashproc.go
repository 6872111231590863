package security

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/argon2"
)

// Isolated hashing: argon2id allocates its whole memory (19 MiB at the
// production parameters) on every call, garbage the moment the hash is done.
// In a server whose heap holds the embedded Temporal server (hundreds of
// MB), that garbage starts a collection every few logins, and the hashing
// goroutine pays for marking the server's heap before it may allocate:
// a quarter of all CPU at concurrency 40. A child process — this same
// executable, re-run as a bare hashing loop — has a heap of a few MB, so
// collecting after each hash costs it next to nothing.
//
// The child reads requests on stdin and answers on stdout, one at a time;
// a Hasher keeps one child per hashing slot. Anything going wrong with a
// child (it died, it answered garbage) makes that one hash run in process
// and the child be replaced on next use: isolation never fails a login.

// hashChildEnv marks a process started as a hashing child; its value must
// be hashChildToken, so an inherited stray variable does nothing.
const (
	hashChildEnv   = "AUTHFLOW_ARGON2_CHILD"
	hashChildToken = "v1"
)

func init() {
	if os.Getenv(hashChildEnv) == hashChildToken {
		os.Exit(serveHashes(os.Stdin, os.Stdout))
	}
}

// maxHashField bounds a request's variable fields (salt, password).
const maxHashField = 4096

// serveHashes is the child's loop. It ignores SIGINT and SIGTERM: a Ctrl-C
// in a terminal reaches the whole process group, and the parent, shutting
// down gracefully, may still need a hash; the child ends when its stdin
// closes, which also happens when the parent dies.
func serveHashes(in io.Reader, out io.Writer) int {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	r, w := bufio.NewReader(in), bufio.NewWriter(out)
	for {
		var head [13]byte // t, m, keyLen (uint32 each), p (uint8)
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return 0 // parent closed stdin: done
		}
		salt, err := readField(r)
		if err != nil {
			return 1
		}
		password, err := readField(r)
		if err != nil {
			return 1
		}
		t, m, keyLen := binary.LittleEndian.Uint32(head[0:]), binary.LittleEndian.Uint32(head[4:]), binary.LittleEndian.Uint32(head[8:])
		p := head[12]
		var key []byte
		if t > 0 && m >= 8*uint32(p) && p > 0 && keyLen > 0 && keyLen <= 1024 {
			key = argon2.IDKey(password, salt, t, m, p, keyLen)
		}
		clear(password)
		if err := writeField(w, key); err != nil {
			return 1
		}
		if err := w.Flush(); err != nil {
			return 1
		}
	}
}

func readField(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.LittleEndian.Uint32(n[:])
	if size > maxHashField {
		return nil, fmt.Errorf("field of %d bytes", size)
	}
	b := make([]byte, size)
	_, err := io.ReadFull(r, b)
	return b, err
}

func writeField(w io.Writer, b []byte) error {
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(b)))
	if _, err := w.Write(n[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// hashTimeout bounds one answer of a child: far above any hash authflow
// makes (0.4 s at the peer's cost), so only a stuck child reaches it, and
// that hash then runs in process.
var hashTimeout = time.Minute

// hashProc is one running child.
type hashProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	// deadline sets the read deadline of the pipe under out.
	deadline interface{ SetReadDeadline(time.Time) error }
	out      *bufio.Reader
	buf      []byte // request being written
}

// startHashProc starts a child from the running executable.
func startHashProc() (*hashProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	// Nothing of the parent's environment (its secrets included) is passed.
	cmd.Env = []string{hashChildEnv + "=" + hashChildToken}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &hashProc{cmd: cmd, in: in, out: bufio.NewReader(out)}
	c.deadline, _ = out.(interface{ SetReadDeadline(time.Time) error })
	return c, nil
}

// idKey asks the child for argon2.IDKey(password, salt, t, m, p, keyLen).
func (c *hashProc) idKey(password, salt []byte, t, m uint32, p uint8, keyLen uint32) ([]byte, error) {
	b := c.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, t)
	b = binary.LittleEndian.AppendUint32(b, m)
	b = binary.LittleEndian.AppendUint32(b, keyLen)
	b = append(b, p)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(salt)))
	b = append(b, salt...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(password)))
	b = append(b, password...)
	_, err := c.in.Write(b)
	clear(b)
	c.buf = b
	if err != nil {
		return nil, err
	}
	if c.deadline != nil {
		if err := c.deadline.SetReadDeadline(time.Now().Add(hashTimeout)); err != nil {
			return nil, err
		}
	}
	key, err := readField(c.out)
	if err != nil {
		return nil, err
	}
	if uint32(len(key)) != keyLen {
		return nil, errors.New("security: hashing child refused the request")
	}
	return key, nil
}

// stop closes the child's stdin, which ends it, and reaps it; a child that
// does not end within a second is killed.
func (c *hashProc) stop() {
	_ = c.in.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// kill ends a child that misbehaved.
func (c *hashProc) kill() {
	_ = c.cmd.Process.Kill()
	_ = c.in.Close()
	_ = c.cmd.Wait()
}

// procFile reads the child's /proc/<pid>/name (Linux).
func (c *hashProc) procFile(name string) ([]byte, error) {
	return os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/" + name)
}

// cpu is the child's CPU time so far (user + system), read from /proc; 0
// where there is none.
func (c *hashProc) cpu() time.Duration {
	raw, err := c.procFile("stat")
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: utime and stime are the 12th and 13th.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	k, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(u+k) * time.Second / clockTicks
}

// peakRSS is the child's peak resident memory in bytes (VmHWM in /proc);
// 0 where there is none.
func (c *hashProc) peakRSS() int64 {
	raw, err := c.procFile("status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// clockTicks is Linux's USER_HZ, the unit of /proc's CPU times: 100 on
// every architecture Go supports.
const clockTicks = 100

// hashPool is a Hasher's children: at most one per slot, started on first
// use. An idle child is reused last-in first-out: at low load one child
// does the hashing and its memory stays warm in the caches.
type hashPool struct {
	slots chan struct{} // the Hasher's: one token per hash in flight

	mu      sync.Mutex
	free    []*hashProc // idle children, most recently used last
	live    map[*hashProc]bool
	exitCPU time.Duration // CPU of children already ended
	closed  bool
	// fallbacks counts hashes that ran in process because a child failed.
	fallbacks int
}

func newHashPool(slots chan struct{}) *hashPool {
	return &hashPool{slots: slots, live: map[*hashProc]bool{}}
}

// idKey runs one argon2id in a child, holding one slot; a failing child is
// replaced and the hash runs in process.
func (p *hashPool) idKey(password, salt []byte, t, m uint32, threads uint8, keyLen uint32) []byte {
	p.slots <- struct{}{}
	defer func() { <-p.slots }()
	c, err := p.take()
	if err != nil {
		return p.fallback(password, salt, t, m, threads, keyLen)
	}
	key, err := c.idKey(password, salt, t, m, threads, keyLen)
	if err != nil {
		p.retire(c, true)
		return p.fallback(password, salt, t, m, threads, keyLen)
	}
	p.mu.Lock()
	p.free = append(p.free, c)
	p.mu.Unlock()
	return key
}

// take returns the most recently used idle child, or starts one.
func (p *hashPool) take() (*hashProc, error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		c := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	return p.start()
}

func (p *hashPool) start() (*hashProc, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("security: hasher closed")
	}
	c, err := startHashProc()
	if err != nil {
		return nil, err
	}
	p.live[c] = true
	return c, nil
}

func (p *hashPool) fallback(password, salt []byte, t, m uint32, threads uint8, keyLen uint32) []byte {
	p.mu.Lock()
	p.fallbacks++
	p.mu.Unlock()
	return argon2.IDKey(password, salt, t, m, threads, keyLen)
}

// retire ends c (killing it if it misbehaved) and keeps its CPU time.
func (p *hashPool) retire(c *hashProc, kill bool) {
	used := c.cpu()
	if kill {
		c.kill()
	} else {
		c.stop()
	}
	p.mu.Lock()
	delete(p.live, c)
	p.exitCPU += used
	p.mu.Unlock()
}

// cpu is the CPU time all children used so far.
func (p *hashPool) cpu() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	total := p.exitCPU
	for c := range p.live {
		total += c.cpu()
	}
	return total
}

// peakRSS is the largest peak resident memory of the live children.
func (p *hashPool) peakRSS() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var peak int64
	for c := range p.live {
		peak = max(peak, c.peakRSS())
	}
	return peak
}

// close waits for the hashes in flight, then ends every child; later
// hashes run in process.
func (p *hashPool) close() {
	for range cap(p.slots) {
		p.slots <- struct{}{}
	}
	p.mu.Lock()
	free := p.free
	p.free, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range free {
		p.retire(c, false)
	}
	for range cap(p.slots) {
		<-p.slots
	}
}
