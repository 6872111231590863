// Package bench is `authflow bench`: it drives full logins (password, then
// TOTP; every login a distinct user with 2FA on) through the HTTP API of the
// embedded stack at a given concurrency, and measures in the same run the two
// floors a login cannot go under on this machine: the bare Temporal round
// trip (eager start of a trivial workflow, one update that runs a local
// activity, its result; plus, for reference, the same driven by a single
// Update-With-Start) and the bare crypto (one argon2id verification with the run's
// parameters plus one TOTP validation). A login is two calls, the password
// and then the TOTP code with its method (docs/api.md); the three calls of a
// login that asks for the challenge first can run beside it for comparison.
// It reports throughput, p50 and p99 of each, errors by code, CPU-seconds
// per operation, the login's CPU beyond the crypto floor, its p50 beyond one
// argon2id verification, and the ratio of the full login's throughput to the
// combined floor 1/(1/floor1 + 1/floor2). It prints only what it measured.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/workflows"
)

// Options configure a run.
type Options struct {
	// Logins is how many full logins (and floor operations) to run.
	Logins int
	// Concurrency is how many run at once.
	Concurrency int
	// Argon2 are the password hash parameters of the run (the production
	// ones unless --hash-cost says otherwise).
	Argon2 security.Argon2Params
	// HashInProcess runs argon2id in this process instead of in hashing
	// child processes (the default, as in production).
	HashInProcess bool
	// DatabaseURL is the store: postgres://… or sqlite://PATH; empty is a
	// SQLite file in a temporary directory.
	DatabaseURL string
	// Rounds splits every phase in that many parts, run interleaved
	// (floors, then full logins, round after round), so a slow spell of a
	// shared machine or the server's growing state weighs on all phases
	// alike. Zero is DefaultRounds.
	Rounds int
	// ThreeCalls adds to every round the same number of logins made in
	// three calls (POST …/challenge totp, then verify the code alone), on
	// users of their own: the way a login went before verify took the
	// method, for comparison with the two-call login.
	ThreeCalls bool
	// Breakdown adds to every round a phase of logins cut short after the
	// password step, on users of their own, and the login's calls as bare
	// Temporal: the difference between the cut logins and the full login
	// is what the verify step adds, in CPU and time. With ThreeCalls it
	// adds logins cut after the challenge and the three calls as bare
	// Temporal too. The flows they leave open are terminated after each
	// phase, outside its measurement.
	Breakdown bool
	// CPUProfile, when set, receives a CPU profile from the first round's
	// full logins to the last's (with Rounds 1: the full logins alone).
	CPUProfile io.Writer

	// TemporalAddress, when set, runs the bench against a deployment
	// instead of the embedded stack — `authflow prodshape up`'s, say: its
	// Temporal (TemporalNamespace, default "default"), its store
	// (DatabaseURL, required), its APIs (APIURLs, taken in turn) and its
	// AUTHFLOW_SECRET_KEY (SecretKey: the users' TOTP secrets are sealed
	// under it). The floors run here, on that Temporal.
	TemporalAddress, TemporalNamespace string
	APIURLs                            []string
	SecretKey                          []byte
	// Processes are the deployment's processes. With them, a phase's CPU
	// is theirs (and their children's: hashing, reaped ones) read from
	// /proc/<pid>/stat plus this process's, and is split by part: the
	// Temporal server, the workers, the APIs, this process; the machine's
	// postgres processes are shown beside, outside the total. Without
	// them it is this process's alone.
	Processes []Process
	// Proc is where /proc is (tests); empty is /proc.
	Proc string
	// Log receives the stack's errors (default: stderr).
	Log io.Writer
}

// DefaultRounds is Options.Rounds when zero.
const DefaultRounds = 3

// Phase is what one measured phase did.
type Phase struct {
	Name   string
	Ops    int
	Errors int
	ByCode map[string]int
	// FirstErr is the first error of each code, to say what went wrong.
	FirstErr map[string]string
	Elapsed  time.Duration
	P50, P99 time.Duration
	// CPU is the CPU time (user + system) of this process and its hashing
	// children during the phase; against a deployment, with its processes'.
	CPU time.Duration
	// Parts split CPU by part of a deployment (partNames); nil when the
	// parts are unknown.
	Parts []time.Duration
	// lat is every operation's latency, for merging rounds.
	lat []time.Duration
}

// merge adds round q to p.
func (p Phase) merge(q Phase) Phase {
	if p.ByCode == nil {
		p.Name, p.ByCode, p.FirstErr = q.Name, map[string]int{}, map[string]string{}
	}
	p.Ops += q.Ops
	p.Errors += q.Errors
	for c, n := range q.ByCode {
		if p.ByCode[c] == 0 {
			p.FirstErr[c] = q.FirstErr[c]
		}
		p.ByCode[c] += n
	}
	p.Elapsed += q.Elapsed
	p.CPU += q.CPU
	if q.Parts != nil {
		if p.Parts == nil {
			p.Parts = make([]time.Duration, len(q.Parts))
		}
		for i, d := range q.Parts {
			p.Parts[i] += d
		}
	}
	p.lat = append(p.lat, q.lat...)
	p.P50, p.P99 = p50p99(p.lat)
	return p
}

// Throughput is successful operations per second.
func (p Phase) Throughput() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Ops-p.Errors) / p.Elapsed.Seconds()
}

// CPUPerOp is CPU-seconds per operation.
func (p Phase) CPUPerOp() float64 {
	if p.Ops == 0 {
		return 0
	}
	return p.CPU.Seconds() / float64(p.Ops)
}

// PartPerOp is the CPU-seconds per operation of one part (partNames) of a
// deployment; 0 when the parts are unknown.
func (p Phase) PartPerOp(part int) float64 {
	if p.Ops == 0 || part >= len(p.Parts) {
		return 0
	}
	return p.Parts[part].Seconds() / float64(p.Ops)
}

// Report is a run's result.
type Report struct {
	Options  Options
	Database string // "SQLite" or "PostgreSQL"
	// Target is "the embedded stack" or the deployment's Temporal address
	// and APIs.
	Target string
	// Split says the phases' CPU is split by part (Phase.Parts).
	Split bool
	// Gone are the deployment's processes that ended during the run
	// (restarted): their CPU from then on is missing from the figures.
	Gone []string
	// HashTime is the median of argon2id verifications run alone (nothing
	// else in flight), a few in every round: the "argon2id time" of the
	// p50 target, sampled through the run like the phases it is set
	// against.
	HashTime time.Duration
	// HashFastest is the fastest of those lone verifications.
	HashFastest time.Duration
	// MaxRSS is the process's peak resident memory; ChildRSS the largest
	// of its hashing children's.
	MaxRSS, ChildRSS int64
	// Full is the login in two calls; Steps are its calls, each timed
	// alone.
	Full  Phase
	Steps []Step
	// ThreeCall is the login in three calls and ThreeCallSteps its calls
	// (--three-calls; zero otherwise).
	ThreeCall      Phase
	ThreeCallSteps []Step
	// RoundTrip is floor 1, Crypto floor 2.
	RoundTrip, Crypto Phase
	// UpdateWithStart is floor 1's workflow driven by one Update-With-Start
	// call: a stricter floor, reported beside the ratio.
	UpdateWithStart Phase
	// CutPassword are --breakdown's logins stopped after the password step;
	// CutChallenge the three-call logins stopped after the challenge (with
	// --three-calls). Zero without --breakdown.
	CutPassword, CutChallenge Phase
	// Bare are the login's calls as bare Temporal (--breakdown): the
	// trivial workflow started by Update-With-Start, then one more update
	// for the two-call login (Bare[0]), two for the three-call one
	// (Bare[1], with --three-calls); the last update ends it.
	Bare [2]Phase
}

// Step is one HTTP call of a login.
type Step struct {
	Name     string
	P50, P99 time.Duration
}

// Combined is 1/(1/floor1 + 1/floor2): the throughput of a login that costs
// exactly one bare round trip plus the bare crypto.
func (r Report) Combined() float64 { return combine(r.RoundTrip, r.Crypto) }

// Ratio is the full login's throughput over the combined floor.
func (r Report) Ratio() float64 { return r.Full.over(r.Combined()) }

// StrictRatio is Ratio with the Update-With-Start round trip as floor 1.
func (r Report) StrictRatio() float64 { return r.Full.over(combine(r.UpdateWithStart, r.Crypto)) }

// NonHashCPU is the CPU-seconds a login of phase p spends beyond the
// crypto floor's argon2id + TOTP: issue 20's first target (≤ 0.012 at
// concurrency 40).
func (r Report) NonHashCPU(p Phase) float64 { return p.CPUPerOp() - r.Crypto.CPUPerOp() }

// OverHash is how much a login of phase p takes at its median beyond one
// argon2id verification alone (r.HashTime): issue 20's second target
// (≤ 15 ms at concurrency 1).
func (r Report) OverHash(p Phase) time.Duration { return p.P50 - r.HashTime }

// combine is 1/(1/a + 1/b) of two phases' throughputs; 0 if one is 0.
func combine(a, b Phase) float64 {
	x, y := a.Throughput(), b.Throughput()
	if x <= 0 || y <= 0 {
		return 0
	}
	return 1 / (1/x + 1/y)
}

// over is p's throughput over floor; 0 without a floor.
func (p Phase) over(floor float64) float64 {
	if floor <= 0 {
		return 0
	}
	return p.Throughput() / floor
}

// Run starts the embedded stack, seeds the users and runs the phases in
// interleaved rounds: in each, the floors, then the full logins, then the
// three-call logins and --breakdown's phases when asked for.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.Logins < 1 || o.Concurrency < 1 {
		return Report{}, errors.New("bench: logins and concurrency must be at least 1")
	}
	if o.Rounds <= 0 {
		o.Rounds = DefaultRounds
	}
	o.Rounds = min(o.Rounds, o.Logins)
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.Argon2 == (security.Argon2Params{}) {
		o.Argon2 = security.DefaultArgon2
	}
	if o.Proc == "" {
		o.Proc = procDir
	}
	r := Report{Options: o, Database: "SQLite", Target: "the embedded stack"}
	if strings.HasPrefix(o.DatabaseURL, "postgres") {
		r.Database = "PostgreSQL"
	}
	start := embedded
	if o.TemporalAddress != "" {
		start = remote
		r.Target = fmt.Sprintf("Temporal %s, APIs %s", o.TemporalAddress, strings.Join(o.APIURLs, " "))
	}
	s, err := start(ctx, o)
	if err != nil {
		return r, err
	}
	defer s.close()
	r.Split = s.split

	warm := min(o.Concurrency, 5)
	// Every phase of logins has users of its own: a block of o.Logins each,
	// in this order, then the warm-up's.
	blocks := 1
	if o.ThreeCalls {
		blocks++
	}
	if o.Breakdown {
		blocks++
		if o.ThreeCalls {
			blocks++
		}
	}
	users, err := seedUsers(ctx, s, blocks*o.Logins+warm)
	if err != nil {
		return r, err
	}
	hash := users[0].hash
	block := func(k int) []user { return users[k*o.Logins : (k+1)*o.Logins] }

	transport := &http.Transport{
		MaxIdleConns: o.Concurrency + 8, MaxIdleConnsPerHost: o.Concurrency + 8, IdleConnTimeout: time.Minute,
	}
	defer transport.CloseIdleConnections()
	httpClient := &http.Client{Timeout: 2 * time.Minute, Transport: transport}
	// A client per kind of login: each keeps its own step times.
	full := newAPIClient(s.urls, httpClient, twoCalls)
	three := newAPIClient(s.urls, httpClient, threeCalls)
	cut := newAPIClient(s.urls, httpClient, threeCalls)

	// Warm up: the first workflow tasks and connections cost more.
	_ = phase("warm-up", warm, o.Concurrency, s.cpu, func(i int) error {
		_, err := full.login(ctx, users[blocks*o.Logins+i], len(twoCalls))
		return err
	})
	_ = phase("warm-up", warm, o.Concurrency, s.cpu, func(int) error { return roundTrip(ctx, s.temporal) })

	full.steps.reset()
	rounds := o.Rounds
	var hashes []time.Duration
	for k := range rounds {
		hashes = append(hashes, timeHashes(s.hasher, hash, hashSamples)...)
		// Round k's share of the operations, and of each block's users.
		lo, hi := o.Logins*k/rounds, o.Logins*(k+1)/rounds
		n := hi - lo
		next := 0 // the next phase's block of users
		take := func() []user { next++; return block(next - 1)[lo:hi] }
		r.RoundTrip = r.RoundTrip.merge(phase("floor 1: Temporal round trip", n, o.Concurrency, s.cpu, func(int) error {
			return roundTrip(ctx, s.temporal)
		}))
		r.UpdateWithStart = r.UpdateWithStart.merge(phase("Update-With-Start alone", n, o.Concurrency, s.cpu, func(int) error {
			return updateWithStart(ctx, s.temporal)
		}))
		r.Crypto = r.Crypto.merge(phase("floor 2: argon2id + TOTP", n, o.Concurrency, s.cpu, func(int) error {
			// The current code, as a login gets it (a phase may outlast a step).
			code, _ := totp.GenerateCode(users[0].secret, time.Now())
			if !crypto(s.hasher, hash, password, users[0].secret, code) {
				return &codeError{code: "crypto_mismatch"}
			}
			return nil
		}))
		if k == 0 && o.CPUProfile != nil {
			if err := pprof.StartCPUProfile(o.CPUProfile); err != nil {
				return r, err
			}
			defer pprof.StopCPUProfile()
		}
		r.Full = r.Full.merge(loginPhase(ctx, s, full, fullName, take(), len(twoCalls), o.Concurrency))
		if k == rounds-1 && o.CPUProfile != nil {
			pprof.StopCPUProfile()
		}
		if o.ThreeCalls {
			r.ThreeCall = r.ThreeCall.merge(loginPhase(ctx, s, three, threeCallName, take(), len(threeCalls), o.Concurrency))
		}
		if o.Breakdown {
			r.Bare[0] = r.Bare[0].merge(phase(bareNames[0], n, o.Concurrency, s.cpu, func(int) error {
				return updates(ctx, s.temporal, 2)
			}))
			r.CutPassword = r.CutPassword.merge(loginPhase(ctx, s, cut, cutNames[0], take(), 1, o.Concurrency))
			if o.ThreeCalls {
				r.Bare[1] = r.Bare[1].merge(phase(bareNames[1], n, o.Concurrency, s.cpu, func(int) error {
					return updates(ctx, s.temporal, 3)
				}))
				r.CutChallenge = r.CutChallenge.merge(loginPhase(ctx, s, cut, cutNames[1], take(), 2, o.Concurrency))
			}
		}
	}
	r.Steps, r.ThreeCallSteps = full.steps.stats(full.calls), three.steps.stats(three.calls)
	if !o.ThreeCalls {
		r.ThreeCallSteps = nil
	}
	r.HashTime, _ = p50p99(hashes)
	if len(hashes) > 0 {
		r.HashFastest = hashes[0] // sorted by p50p99
	}
	r.MaxRSS, r.ChildRSS = maxRSS(), s.hasher.ChildPeakRSS()
	r.Gone = s.goneProcesses()
	return r, ctx.Err()
}

// loginPhase runs one login per user through the first `calls` calls of
// cl's login; a login cut short leaves its flow waiting, and those flows
// are terminated afterwards (not measured).
func loginPhase(ctx context.Context, s *target, cl *apiClient, name string, users []user, calls, c int) Phase {
	flows := make([]string, len(users))
	p := phase(name, len(users), c, s.cpu, func(i int) (err error) {
		flows[i], err = cl.login(ctx, users[i], calls)
		return err
	})
	if calls < len(cl.calls) {
		parallel(len(flows), 8, func(i int) {
			if flows[i] != "" {
				_ = s.temporal.TerminateWorkflow(ctx, workflows.LoginWorkflowID(flows[i]), "", "authflow bench: a login cut short")
			}
		})
	}
	return p
}

// The phases' names.
const (
	fullName      = "full login"
	threeCallName = "full login, 3 calls"
)

// cutNames name --breakdown's cut logins, bareNames the login's calls as
// bare Temporal.
var (
	cutNames  = [2]string{"login cut after the password", "login cut after the challenge"}
	bareNames = [2]string{"bare Temporal, 2 calls", "bare Temporal, 3 calls"}
)

// phase runs op n times, c at a time, and measures it.
func phase(name string, n, c int, cpu func() cpuSample, op func(i int) error) Phase {
	p := Phase{Name: name, Ops: n, ByCode: map[string]int{}, FirstErr: map[string]string{}}
	lat := make([]time.Duration, n)
	var mu sync.Mutex
	cpu0 := cpu()
	start := time.Now()
	parallel(n, c, func(i int) {
		t := time.Now()
		err := op(i)
		lat[i] = time.Since(t)
		if err != nil {
			mu.Lock()
			p.Errors++
			code := errCode(err)
			if p.ByCode[code]++; p.ByCode[code] == 1 {
				p.FirstErr[code] = err.Error()
			}
			mu.Unlock()
		}
	})
	p.Elapsed = time.Since(start)
	cpu1 := cpu()
	p.CPU = cpu1.total - cpu0.total
	if cpu0.parts != nil && cpu1.parts != nil {
		p.Parts = make([]time.Duration, len(cpu1.parts))
		for i := range p.Parts {
			p.Parts[i] = cpu1.parts[i] - cpu0.parts[i]
		}
	}
	p.P50, p.P99 = p50p99(lat)
	p.lat = lat
	return p
}

// parallel runs op(0) … op(n-1), c at a time, and waits for them.
func parallel(n, c int, op func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(c, n) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				op(i)
			}
		})
	}
	wg.Wait()
}

// p50p99 sorts lat and returns its median and 99th percentile.
func p50p99(lat []time.Duration) (p50, p99 time.Duration) {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return percentile(lat, 0.50), percentile(lat, 0.99)
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	ru := selfUsage()
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// selfUsage is this process's resource usage (zero if it cannot be read).
func selfUsage() syscall.Rusage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru
}

// hashSamples is how many lone verifications each round times.
const hashSamples = 5

// timeHashes times n verifications one after the other, nothing else in
// flight.
func timeHashes(h *security.Hasher, hash string, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		t := time.Now()
		h.Verify(hash, password)
		out[i] = time.Since(t)
	}
	return out
}

// maxRSS is the process's peak resident set size in bytes (Linux reports
// kilobytes).
func maxRSS() int64 { return int64(selfUsage().Maxrss) * 1024 }

// password is every benchmark user's password (their hashes differ only by
// salt; each login still costs one full verification).
const password = "correct horse battery staple"

type user struct {
	email, secret, hash string
}

// seedUsers creates n users with TOTP on. The password is hashed once and
// the hash shared: seeding 1000 users must not take 1000 hashes.
func seedUsers(ctx context.Context, s *target, n int) ([]user, error) {
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return nil, err
	}
	run := security.RandomToken()[:8]
	out := make([]user, n)
	for i := range out {
		key, err := totp.Generate(totp.GenerateOpts{Issuer: "authflow-bench", AccountName: "bench", SecretSize: 20})
		if err != nil {
			return nil, err
		}
		u := user{email: fmt.Sprintf("bench-%s-%d@example.com", run, i), secret: key.Secret(), hash: hash}
		created, err := s.store.CreateUser(ctx, u.email, hash)
		if err != nil {
			return nil, fmt.Errorf("seed user: %w", err)
		}
		if err := s.store.SetTOTPSecret(ctx, created.ID, s.sealer.Seal(security.PurposeTOTPSecret, []byte(u.secret)), 0); err != nil {
			return nil, fmt.Errorf("seed TOTP: %w", err)
		}
		out[i] = u
	}
	return out, nil
}

// apiClient speaks the public API like a browser would, making one kind
// of login; logins take the APIs in turn, each login all its calls on one.
type apiClient struct {
	bases []string
	next  atomic.Int64
	http  *http.Client
	calls []call
	steps stepTimes
}

func newAPIClient(bases []string, h *http.Client, calls []call) *apiClient {
	return &apiClient{bases: bases, http: h, calls: calls, steps: stepTimes{d: make([][]time.Duration, len(calls))}}
}

// call is one HTTP call of a login.
type call int

const (
	callPassword   call = iota // POST /v1/login
	callChallenge              // POST …/challenge {"method":"totp"}
	callVerify                 // POST …/verify {"code"}: the challenge's answer
	callVerifyTOTP             // POST …/verify {"method":"totp","code"}: straight from choose_method
)

// callNames name the calls in the report.
var callNames = map[call]string{
	callPassword:   "POST /v1/login (argon2id)",
	callChallenge:  "POST …/challenge totp",
	callVerify:     "POST …/verify (TOTP, session)",
	callVerifyTOTP: "POST …/verify totp (TOTP, session)",
}

// The two kinds of login: the password, then the code with its method
// (docs/api.md); and the same with the challenge asked for first.
var (
	twoCalls   = []call{callPassword, callVerifyTOTP}
	threeCalls = []call{callPassword, callChallenge, callVerify}
)

// stepTimes keeps the latencies of each call of a login, by position.
type stepTimes struct {
	mu sync.Mutex
	d  [][]time.Duration
}

func (s *stepTimes) add(i int, d time.Duration) {
	s.mu.Lock()
	s.d[i] = append(s.d[i], d)
	s.mu.Unlock()
}

func (s *stepTimes) reset() {
	s.mu.Lock()
	s.d = make([][]time.Duration, len(s.d))
	s.mu.Unlock()
}

// stats names calls' latencies: calls are the login's, in order.
func (s *stepTimes) stats(calls []call) []Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Step, len(s.d))
	for i, d := range s.d {
		out[i] = Step{Name: callNames[calls[i]]}
		out[i].P50, out[i].P99 = p50p99(d)
	}
	return out
}

// codeError is a failed step: the API's error code, or what went wrong.
type codeError struct {
	code string
	msg  string
}

func (e *codeError) Error() string { return e.code + ": " + e.msg }

func errCode(err error) string {
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "transport"
}

// login makes the first n calls of c's login and returns its flow id. A
// full login (all its calls) must end with a session.
func (c *apiClient) login(ctx context.Context, u user, n int) (string, error) {
	var r struct {
		FlowID     string `json:"flow_id"`
		FlowSecret string `json:"flow_secret"`
		State      string `json:"state"`
		Session    struct {
			Token string `json:"token"`
		} `json:"session"`
	}
	var flow, secret string
	base := c.bases[int(c.next.Add(1)-1)%len(c.bases)]
	for i, k := range c.calls[:n] {
		path, body := "", map[string]string{}
		switch k {
		case callPassword:
			path, body = "/v1/login", map[string]string{"email": u.email, "password": password}
		case callChallenge:
			path, body = "/v1/login/"+flow+"/challenge", map[string]string{"method": "totp"}
		case callVerify, callVerifyTOTP:
			code, err := totp.GenerateCode(u.secret, time.Now())
			if err != nil {
				return flow, err
			}
			path, body = "/v1/login/"+flow+"/verify", map[string]string{"code": code}
			if k == callVerifyTOTP {
				body["method"] = "totp"
			}
		}
		if err := c.post(ctx, i, base+path, secret, body, &r); err != nil {
			return flow, err
		}
		if k == callPassword {
			if r.State != "choose_method" {
				return "", &codeError{code: "unexpected_state", msg: r.State}
			}
			flow, secret = r.FlowID, r.FlowSecret
		}
	}
	if n == len(c.calls) && (r.State != "done" || r.Session.Token == "") {
		return flow, &codeError{code: "no_session", msg: r.State}
	}
	return flow, nil
}

// post sends a login's call (the step-th), with the flow's secret when it
// has one, and times it.
func (c *apiClient) post(ctx context.Context, step int, url, flowSecret string, body, out any) error {
	start := time.Now()
	defer func() { c.steps.add(step, time.Since(start)) }()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if flowSecret != "" {
		req.Header.Set("X-Flow-Secret", flowSecret)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		if e.Error.Code == "" {
			e.Error.Code = fmt.Sprintf("http_%d", resp.StatusCode)
		}
		return &codeError{code: e.Error.Code, msg: url + ": " + e.Error.Message}
	}
	return json.Unmarshal(raw, out)
}

// Print writes the report as a table.
func (r Report) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "authflow bench: %d logins at concurrency %d, %s store, GOMAXPROCS %d, %d interleaved rounds\n",
		o.Logins, o.Concurrency, r.Database, runtime.GOMAXPROCS(0), o.Rounds)
	if o.TemporalAddress != "" {
		fmt.Fprintf(w, "against %s\n", r.Target)
		if r.Split {
			fmt.Fprintf(w, "CPU-s: the deployment's %d processes (with their children) and this one, from /proc; split by part below\n", len(o.Processes))
		} else {
			fmt.Fprintln(w, "CPU-s: this process only (the deployment's processes are unknown: give them, e.g. with --shape)")
		}
	}
	fmt.Fprintf(w, "argon2id m=%d KiB, t=%d, p=%d: one verification %s here alone (median of %d through the run)\n",
		o.Argon2.MemoryKiB, o.Argon2.Time, o.Argon2.Threads, ms(r.HashTime), hashSamples*o.Rounds)
	where := "in child processes (AUTHFLOW_HASH_ISOLATION=on)"
	if o.HashInProcess {
		where = "in process (AUTHFLOW_HASH_ISOLATION=off)"
	}
	fmt.Fprintf(w, "hashing %s; GOGC %s, peak RSS %d MiB (this process)", where, gogc(), r.MaxRSS>>20)
	if r.ChildRSS > 0 {
		fmt.Fprintf(w, ", %d MiB (each child, at most; shares the binary's pages)", r.ChildRSS>>20)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-36s %6s %7s %12s %10s %10s %10s\n", "", "ops", "errors", "per second", "p50", "p99", "CPU-s/op")
	for _, p := range r.phases() {
		fmt.Fprintf(w, "%-36s %6d %7d %12.2f %10s %10s %10.4f\n", p.Name, p.Ops, p.Errors, p.Throughput(), ms(p.P50), ms(p.P99), p.CPUPerOp())
		steps := map[string][]Step{fullName: r.Steps, threeCallName: r.ThreeCallSteps}[p.Name]
		for _, st := range steps {
			fmt.Fprintf(w, "  %-34s %6s %7s %12s %10s %10s\n", st.Name, "", "", "", ms(st.P50), ms(st.P99))
		}
	}
	r.printSplit(w)
	fmt.Fprintln(w)
	for _, p := range r.logins() {
		fmt.Fprintf(w, "%s: %.4f CPU-s per login beyond floor 2's argon2id + TOTP; p50 %s beyond one argon2id verification alone\n",
			p.Name, r.NonHashCPU(p), ms(r.OverHash(p)))
	}
	fmt.Fprintf(w, "combined floor 1/(1/floor1 + 1/floor2): %.2f/s\n", r.Combined())
	fmt.Fprintf(w, "ratio full login / combined floor:     %.2f", r.Ratio())
	if o.ThreeCalls {
		fmt.Fprintf(w, " (in 3 calls: %.2f)", r.ThreeCall.over(r.Combined()))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  (with Update-With-Start alone as floor 1: %.2f)\n", r.StrictRatio())
	fmt.Fprintf(w, "p50 full login / (argon2id + round-trip p50): %.2f (%.2f against the fastest lone hash, %s)\n",
		float64(r.Full.P50)/float64(r.HashTime+r.RoundTrip.P50), float64(r.Full.P50)/float64(r.HashFastest+r.RoundTrip.P50), ms(r.HashFastest))
	r.printBreakdown(w)
	for _, p := range r.phases() {
		if p.Errors == 0 {
			continue
		}
		codes := make([]string, 0, len(p.ByCode))
		for c, n := range p.ByCode {
			codes = append(codes, fmt.Sprintf("%s=%d", c, n))
		}
		sort.Strings(codes)
		fmt.Fprintf(w, "errors in %s: %s\n", p.Name, strings.Join(codes, " "))
		for _, c := range codes {
			c, _, _ = strings.Cut(c, "=")
			fmt.Fprintf(w, "  first %s: %s\n", c, p.FirstErr[c])
		}
	}
}

// printSplit writes each phase's CPU-s per operation by part of the
// deployment, when it is known.
func (r Report) printSplit(w io.Writer) {
	if !r.Split {
		return
	}
	fmt.Fprintf(w, "\nCPU-s per operation by process (the total above is the first four; PostgreSQL is every postgres process of this machine):\n")
	fmt.Fprintf(w, "%-36s", "")
	for _, n := range partNames {
		fmt.Fprintf(w, " %12s", strings.SplitN(n, " ", 2)[0])
	}
	fmt.Fprintln(w)
	for _, p := range r.phases() {
		fmt.Fprintf(w, "%-36s", p.Name)
		for i := range partNames {
			fmt.Fprintf(w, " %12.4f", p.PartPerOp(i))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "(%s)\n", strings.Join(partNames[:], "; "))
	if len(r.Gone) > 0 {
		sort.Strings(r.Gone)
		fmt.Fprintf(w, "warning: %s ended during the run: the CPU it used after that is missing\n", strings.Join(r.Gone, ", "))
	}
}

// logins are the phases of full logins: in two calls, and in three with
// --three-calls.
func (r Report) logins() []Phase {
	if r.Options.ThreeCalls {
		return []Phase{r.Full, r.ThreeCall}
	}
	return []Phase{r.Full}
}

// phases are the report's phases in table order: the full logins first.
func (r Report) phases() []Phase {
	out := append(r.logins(), r.RoundTrip, r.Crypto, r.UpdateWithStart)
	if r.Options.Breakdown {
		out = append(out, r.Bare[0], r.CutPassword)
		if r.Options.ThreeCalls {
			out = append(out, r.Bare[1], r.CutChallenge)
		}
	}
	return out
}

// StepCPU is what each call of the two-call login adds in CPU-seconds,
// from the --breakdown phases: the logins cut after the password, then the
// full login minus those. Nil without --breakdown.
func (r Report) StepCPU() []float64 {
	if !r.Options.Breakdown {
		return nil
	}
	one := r.CutPassword.CPUPerOp()
	return []float64{one, r.Full.CPUPerOp() - one}
}

// ThreeCallStepCPU is StepCPU for the three-call login: the cut after the
// password, the cut after the challenge minus it, the full three-call login
// minus that. Nil without --breakdown and --three-calls.
func (r Report) ThreeCallStepCPU() []float64 {
	if !r.Options.Breakdown || !r.Options.ThreeCalls {
		return nil
	}
	one, two := r.CutPassword.CPUPerOp(), r.CutChallenge.CPUPerOp()
	return []float64{one, two - one, r.ThreeCall.CPUPerOp() - two}
}

// Bound is the ratio a login would reach if it cost exactly its calls
// (2 or 3) as bare Temporal plus the crypto: the most any implementation of
// those calls can reach on Temporal here (0 without the --breakdown phase).
func (r Report) Bound(calls int) float64 {
	if !r.Options.Breakdown || calls < 2 || calls > 3 || (calls == 3 && !r.Options.ThreeCalls) {
		return 0
	}
	return combine(r.Bare[calls-2], r.Crypto) / max(r.Combined(), 1e-9)
}

// printBreakdown sets each call's CPU against floor 1's whole round trip.
func (r Report) printBreakdown(w io.Writer) {
	steps := r.StepCPU()
	if steps == nil {
		return
	}
	fmt.Fprintf(w, "\nwhat each call adds (--breakdown: the cut logins' CPU-s/op and the differences between them):\n")
	floor1 := r.RoundTrip.CPUPerOp()
	printSteps := func(name string, calls []call, cpu []float64) {
		fmt.Fprintf(w, "  %s:\n", name)
		for i, c := range cpu {
			fmt.Fprintf(w, "    %-34s %8.4f CPU-s", callNames[calls[i]], c)
			if i == 0 {
				fmt.Fprintf(w, "  (%.4f beyond floor 2's argon2id + TOTP)", c-r.Crypto.CPUPerOp())
			}
			fmt.Fprintf(w, "  %.2f× floor 1\n", c/floor1)
		}
	}
	printSteps(fullName, twoCalls, steps)
	if three := r.ThreeCallStepCPU(); three != nil {
		printSteps(threeCallName, threeCalls, three)
	}
	fmt.Fprintf(w, "  %-36s %8.4f CPU-s  (start, one update, result: the whole of floor 1)\n", "floor 1", floor1)
	bound := fmt.Sprintf("%.2f", r.Bound(2))
	for i, p := range r.Bare[:len(r.logins())] {
		fmt.Fprintf(w, "  %-36s %8.4f CPU-s  %.2f× floor 1 (Update-With-Start, then %s)\n",
			p.Name, p.CPUPerOp(), p.CPUPerOp()/floor1, [2]string{"one more update", "two more updates"}[i])
	}
	if r.Options.ThreeCalls {
		bound += fmt.Sprintf(" (in 3 calls: %.2f)", r.Bound(3))
	}
	fmt.Fprintf(w, "ratio a login costing its calls as bare Temporal + floor 2 would reach: %s\n", bound)
}

// gogc is the collector's setting as the runtime reads it: GOGC from the
// environment, else 100.
func gogc() string {
	pct := debug.SetGCPercent(-1)
	debug.SetGCPercent(pct)
	if pct < 0 {
		return "off"
	}
	return fmt.Sprint(pct)
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}
