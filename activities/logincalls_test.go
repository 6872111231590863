package activities_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"go.temporal.io/sdk/testsuite"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// countingStore records the store calls made through it, by method and
// counter scope. It embeds a nil store: a call to a method it does not
// list panics, so a login that starts making another call fails the test
// until that call is listed here and in the test's count.
type countingStore struct {
	store.Store // nil
	st          store.Store
	mu          sync.Mutex
	calls       []string
}

func (c *countingStore) call(name string) {
	c.mu.Lock()
	c.calls = append(c.calls, name)
	c.mu.Unlock()
}

func (c *countingStore) taken() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

func (c *countingStore) ReserveAttempt(ctx context.Context, scope, key string, now time.Time, lockFor func(int) time.Duration) (store.Reservation, error) {
	c.call("ReserveAttempt " + scope)
	return c.st.ReserveAttempt(ctx, scope, key, now, lockFor)
}

func (c *countingStore) ReleaseAttempt(ctx context.Context, scope, key string, r store.Reservation) error {
	c.call("ReleaseAttempt " + scope)
	return c.st.ReleaseAttempt(ctx, scope, key, r)
}

func (c *countingStore) ResetAttempts(ctx context.Context, scope, key string) error {
	c.call("ResetAttempts " + scope)
	return c.st.ResetAttempts(ctx, scope, key)
}

func (c *countingStore) GetAttempts(ctx context.Context, scope, key string) (store.AttemptState, error) {
	c.call("GetAttempts " + scope)
	return c.st.GetAttempts(ctx, scope, key)
}

func (c *countingStore) UserByEmail(ctx context.Context, email string) (store.User, error) {
	c.call("UserByEmail")
	return c.st.UserByEmail(ctx, email)
}

func (c *countingStore) TwoFactorSettings(ctx context.Context, userID string) (store.TwoFactorSettings, error) {
	c.call("TwoFactorSettings")
	return c.st.TwoFactorSettings(ctx, userID)
}

func (c *countingStore) SecondFactors(ctx context.Context, userID, scope string) (store.SecondFactors, error) {
	c.call("SecondFactors " + scope)
	return c.st.SecondFactors(ctx, userID, scope)
}

func (c *countingStore) ListTelegram(ctx context.Context, userID string) ([]store.TelegramAccount, error) {
	c.call("ListTelegram")
	return c.st.ListTelegram(ctx, userID)
}

func (c *countingStore) ListCredentials(ctx context.Context, userID string) ([]store.Credential, error) {
	c.call("ListCredentials")
	return c.st.ListCredentials(ctx, userID)
}

func (c *countingStore) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	c.call("RecoveryCodesLeft")
	return c.st.RecoveryCodesLeft(ctx, userID)
}

func (c *countingStore) ListPhones(ctx context.Context, userID string) ([]store.Phone, error) {
	c.call("ListPhones")
	return c.st.ListPhones(ctx, userID)
}

func (c *countingStore) UseTOTPStep(ctx context.Context, userID string, step int64, key string) (bool, error) {
	c.call("UseTOTPStep")
	return c.st.UseTOTPStep(ctx, userID, step, key)
}

func (c *countingStore) CreateSession(ctx context.Context, s store.Session) (store.Session, error) {
	c.call("CreateSession")
	return c.st.CreateSession(ctx, s)
}

func (c *countingStore) SessionByTokenHash(ctx context.Context, tokenHash []byte, now time.Time) (store.Session, error) {
	c.call("SessionByTokenHash")
	return c.st.SessionByTokenHash(ctx, tokenHash, now)
}

func (c *countingStore) AddEvent(ctx context.Context, e store.Event) error {
	c.call("AddEvent")
	return c.st.AddEvent(ctx, e)
}

func (c *countingStore) WaitingRecoveries(ctx context.Context, userID string) ([]string, error) {
	c.call("WaitingRecoveries")
	return c.st.WaitingRecoveries(ctx, userID)
}

// TestTOTPLoginStoreCalls counts the store calls of a TOTP login in two
// calls, made by its activities in the order the Login workflow runs them
// (the password step, the TOTP answer, the session), on both stores: every
// call is listed, so one added or made twice shows here. The second-step
// counter is reset once, by the right answer's check.
func TestTOTPLoginStoreCalls(t *testing.T) {
	for name, open := range bothStores {
		t.Run("store="+name, func(t *testing.T) {
			ctx := context.Background()
			st := open(t)
			key := []byte(strings.Repeat("k", 32))
			sealer, err := security.NewSealer(key)
			if err != nil {
				t.Fatal(err)
			}
			hasher := security.NewHasher(cheapArgon2)
			hash, err := hasher.Hash("right password")
			if err != nil {
				t.Fatal(err)
			}
			u, err := st.CreateUser(ctx, "totp-calls@example.com", hash)
			if err != nil {
				t.Fatal(err)
			}
			const secret = "JBSWY3DPEHPK3PXP"
			if err := st.SetTOTPSecret(ctx, u.ID, sealer.Seal(security.PurposeTOTPSecret, []byte(secret)), 0); err != nil {
				t.Fatal(err)
			}
			// A wrong answer on record: the login resets it.
			if _, err := st.AddFailure(ctx, rules.ScopeSecondFactor, u.ID, time.Now(), nil); err != nil {
				t.Fatal(err)
			}
			counting := &countingStore{st: st}
			acts := &activities.Activities{Store: counting, Sealer: sealer, SecretKey: key, Hasher: hasher,
				Limits: rules.DefaultLimits, SessionTTL: time.Hour, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				// As the worker wires it: a login cancels waiting recoveries.
				CancelRecovery: func(context.Context, string, string) error { return nil }}
			var suite testsuite.WorkflowTestSuite
			env := suite.NewTestActivityEnvironment()
			env.RegisterActivity(acts)
			run := func(activity, in, out any) {
				t.Helper()
				v, err := env.ExecuteActivity(activity, in)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.Get(out); err != nil {
					t.Fatal(err)
				}
			}

			var pw activities.VerifyPasswordResult
			run(acts.VerifyPassword, activities.VerifyPasswordInput{Email: u.Email, IP: "203.0.113.9",
				PasswordSealed: sealer.Seal(security.PurposePassword, []byte("right password"))}, &pw)
			if !pw.OK || !pw.Options.TOTP {
				t.Fatalf("password step: %+v", pw)
			}
			password := counting.taken()
			code, err := totp.GenerateCode(secret, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			var ans activities.Answer
			run(acts.VerifyTOTP, activities.VerifyTOTPInput{UserID: u.ID, CodeSealed: sealer.Seal(security.PurposeCode, []byte(code))}, &ans)
			if !ans.OK || !ans.Reset {
				t.Fatalf("TOTP answer: %+v", ans)
			}
			answer := counting.taken()
			var s activities.IssuedSession
			run(acts.IssueSession, activities.IssueSessionInput{UserID: u.ID, FlowID: "flow-totp-calls", TokenHash: sessionHash("flow-totp-calls"), IP: "203.0.113.9",
				Method: "totp", SecondStepReset: ans.Reset}, &s)
			session := counting.taken()

			for step, c := range map[string]struct{ got, want []string }{
				"password": {password, []string{"ReserveAttempt password_ip", "ReserveAttempt password", "UserByEmail",
					"ResetAttempts password", "ReleaseAttempt password_ip",
					"SecondFactors 2fa"}},
				"TOTP answer": {answer, []string{"TwoFactorSettings", "ReserveAttempt 2fa", "UseTOTPStep", "ResetAttempts 2fa"}},
				"session":     {session, []string{"CreateSession", "AddEvent", "WaitingRecoveries"}},
			} {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("the %s step's store calls:\n  %s\nwant:\n  %s", step, strings.Join(c.got, "\n  "), strings.Join(c.want, "\n  "))
				}
			}
			if n := len(password) + len(answer) + len(session); n != 13 {
				t.Errorf("a TOTP login makes %d store calls, want 13", n)
			}
			if a, err := st.GetAttempts(ctx, rules.ScopeSecondFactor, u.ID); err != nil || a.Failures != 0 {
				t.Errorf("second-step failures after the login: %d, %v; want 0", a.Failures, err)
			}
		})
	}
}

// TestIssueSession: the session resets the second-step counter unless the
// answer's check did, and a retry finds the session its first try made
// without recording the login again.
func TestIssueSession(t *testing.T) {
	setup := func(t *testing.T) (*enrollFixture, *countingStore) {
		f := newEnrollFixture(t)
		f.acts.SessionTTL = time.Hour
		if _, err := f.st.AddFailure(context.Background(), rules.ScopeSecondFactor, f.user.ID, time.Now(), nil); err != nil {
			t.Fatal(err)
		}
		c := &countingStore{st: f.st}
		f.acts.Store = c
		return f, c
	}
	issue := func(f *enrollFixture, in activities.IssueSessionInput) activities.IssuedSession {
		f.t.Helper()
		return execute[activities.IssuedSession](f, f.acts.IssueSession, in)
	}
	failures := func(f *enrollFixture) int {
		a, err := f.st.GetAttempts(context.Background(), rules.ScopeSecondFactor, f.user.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		return a.Failures
	}
	t.Run("case=after a passkey or a Telegram button the session resets the counter", func(t *testing.T) {
		f, _ := setup(t)
		issue(f, activities.IssueSessionInput{UserID: f.user.ID, FlowID: "flow-tg", TokenHash: sessionHash("flow-tg"), Method: "telegram"})
		if n := failures(f); n != 0 {
			t.Fatalf("%d failures after the session, want 0", n)
		}
	})
	t.Run("case=after an answer that reset it the session writes no reset", func(t *testing.T) {
		f, c := setup(t)
		issue(f, activities.IssueSessionInput{UserID: f.user.ID, FlowID: "flow-totp", TokenHash: sessionHash("flow-totp"), Method: "totp", SecondStepReset: true})
		if got := c.taken(); slices.Contains(got, "ResetAttempts 2fa") {
			t.Fatalf("store calls %v: the counter was reset again", got)
		}
	})
	t.Run("case=a retry finds the first try's session and records the login once", func(t *testing.T) {
		f, c := setup(t)
		in := activities.IssueSessionInput{UserID: f.user.ID, FlowID: "flow-retry", TokenHash: sessionHash("flow-retry"), Method: "totp", SecondStepReset: true}
		first := issue(f, in)
		c.taken()
		again := issue(f, in)
		if again.ID != first.ID {
			t.Fatalf("the retry issued session %s, the first try %s", again.ID, first.ID)
		}
		if got := c.taken(); !slices.Equal(got, []string{"CreateSession", "SessionByTokenHash"}) {
			t.Fatalf("the retry's store calls %v, want CreateSession (taken) then SessionByTokenHash", got)
		}
	})
	t.Run("case=the session is stored under the hash the flow was started with", func(t *testing.T) {
		f, _ := setup(t)
		s := issue(f, activities.IssueSessionInput{UserID: f.user.ID, FlowID: "flow-hash", TokenHash: sessionHash("flow-hash")})
		got, err := f.st.SessionByTokenHash(context.Background(), sessionHash("flow-hash"), time.Now())
		if err != nil || got.ID != s.ID {
			t.Fatalf("session under the flow's hash: %+v %v, want %s", got, err, s.ID)
		}
	})
	t.Run("case=a flow without a session token hash gets no session", func(t *testing.T) {
		f, c := setup(t)
		for _, hash := range [][]byte{nil, []byte("short")} {
			_, err := f.env.ExecuteActivity(f.acts.IssueSession, activities.IssueSessionInput{UserID: f.user.ID, FlowID: "flow-nohash", TokenHash: hash})
			if err == nil {
				t.Fatalf("token hash %q: a session was issued", hash)
			}
		}
		if got := c.taken(); slices.Contains(got, "CreateSession") {
			t.Fatalf("store calls %v: a session was written", got)
		}
	})
}

// sessionHash stands for the session token hash the API puts in a login's
// input (security.SessionTokenHash).
func sessionHash(flow string) []byte { return security.HashToken("token-of-" + flow) }
