package activities_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/opener"
	"github.com/authflow/authflow/store/postgres/pgtest"
)

// cheapArgon2 keeps these tests fast; the parameters do not change the logic.
var cheapArgon2 = security.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}

func (f *enrollFixture) withPassword(pw string) {
	f.t.Helper()
	f.acts.Hasher = security.NewHasher(cheapArgon2)
	h, err := f.acts.Hasher.Hash(pw)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.SetPasswordHash(context.Background(), f.user.ID, h); err != nil {
		f.t.Fatal(err)
	}
}

func (f *enrollFixture) verifyPassword(pw string) activities.VerifyPasswordResult {
	f.t.Helper()
	return execute[activities.VerifyPasswordResult](f, f.acts.VerifyPassword, activities.VerifyPasswordInput{Email: f.user.Email,
		PasswordSealed: f.acts.Sealer.Seal(security.PurposePassword, []byte(pw)), IP: "203.0.113.9"})
}

func TestVerifyPassword(t *testing.T) {
	t.Run("case=a right password brings the second-step options and budget in the same activity", func(t *testing.T) {
		f := newEnrollFixture(t)
		f.withPassword("right password")
		if err := f.st.SetTOTPSecret(context.Background(), f.user.ID, f.acts.Sealer.Seal(security.PurposeTOTPSecret, []byte("JBSWY3DPEHPK3PXP")), 0); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := f.st.AddFailure(context.Background(), "2fa", f.user.ID, time.Now(), func(int) time.Duration { return 0 }); err != nil {
				t.Fatal(err)
			}
		}
		res := f.verifyPassword("right password")
		if !res.OK || !res.Options.TOTP {
			t.Fatalf("%+v", res)
		}
		if want := rules.DefaultLimits.FailuresBeforeLock - 3; res.Budget.Left != want {
			t.Fatalf("budget left %d, want %d", res.Budget.Left, want)
		}
	})
	t.Run("case=without 2FA there is no budget", func(t *testing.T) {
		f := newEnrollFixture(t)
		f.withPassword("right password")
		res := f.verifyPassword("right password")
		if !res.OK || res.Options.Any() || res.Budget != (activities.SecondFactorBudget{}) {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("case=a right password after wrong ones resets the account's counter and gives the IP's attempt back", func(t *testing.T) {
		f := newEnrollFixture(t)
		f.withPassword("right password")
		if res := f.verifyPassword("wrong password"); res.OK {
			t.Fatalf("%+v", res)
		}
		ctx := context.Background()
		if st, _ := f.st.GetAttempts(ctx, "password", rules.NormalizeEmail(f.user.Email)); st.Failures != 1 {
			t.Fatalf("failures %d after a wrong password", st.Failures)
		}
		f.verifyPassword("right password")
		if st, _ := f.st.GetAttempts(ctx, "password", rules.NormalizeEmail(f.user.Email)); st.Failures != 0 {
			t.Fatalf("account failures %d after a right password", st.Failures)
		}
		if st, _ := f.st.GetAttempts(ctx, "password_ip", "203.0.113.9"); st.Failures != 1 {
			t.Fatalf("IP failures %d, want 1: the wrong password counts, the right one does not", st.Failures)
		}
	})
}

// TestPasswordCountersAreExact fires parallel wrong passwords at one
// account: each is counted before its hash runs, so exactly the limit run
// and every other one is refused, on both stores (docs/security.md
// "Counters are exact"). Counting after the check let 15–26 of 40 through.
func TestPasswordCountersAreExact(t *testing.T) {
	for name, open := range bothStores {
		t.Run("store="+name, func(t *testing.T) {
			t.Run("case=40 parallel wrong passwords for one account: 10 checked, 30 refused", func(t *testing.T) {
				checked, refused := parallelWrongPasswords(t, open(t), 40, 40, func(int) string { return "victim@example.com" }, func(i int) string {
					return "198.51.100." + strconv.Itoa(i) // many IPs: the account's limit decides
				})
				if checked != 10 || refused != 30 {
					t.Fatalf("checked %d, refused %d; want 10 and 30", checked, refused)
				}
			})
			t.Run("case=200 wrong passwords from one IP at concurrency 20: 100 checked", func(t *testing.T) {
				checked, refused := parallelWrongPasswords(t, open(t), 200, 20, func(i int) string { return "user" + strconv.Itoa(i) + "@example.com" },
					func(int) string { return "203.0.113.50" })
				if checked != 100 || refused != 100 {
					t.Fatalf("checked %d, refused %d; want 100 and 100", checked, refused)
				}
			})
		})
	}
}

// bothStores opens a fresh store of each kind (PostgreSQL is skipped with
// a message where no test database is configured).
var bothStores = map[string]func(t *testing.T) store.Store{
	"sqlite": func(t *testing.T) store.Store {
		st, err := opener.Open(context.Background(), "sqlite://"+t.TempDir()+"/authflow.db")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	},
	"postgres": func(t *testing.T) store.Store { return pgtest.Open(t) },
}

// TestSecondFactorCountersAreExact fires 40 parallel wrong codes at one
// account, as an attacker with the password would from 40 flows: each
// answer is reserved on the account before it is checked, so exactly
// FailuresBeforeLock are checked and the rest refused, on both stores.
// answersInParallel runs answer(0) … answer(n-1) at once and returns the
// answers of those that did not fail; a failure is a test error.
func answersInParallel(t *testing.T, n int, answer func(i int) (activities.Answer, error)) []activities.Answer {
	t.Helper()
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out []activities.Answer
	)
	for i := range n {
		wg.Go(func() {
			ans, err := answer(i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			out = append(out, ans)
		})
	}
	wg.Wait()
	return out
}

func TestSecondFactorCountersAreExact(t *testing.T) {
	for name, open := range bothStores {
		t.Run("store="+name+"/case=40 parallel wrong codes for one account: 10 checked, 30 refused", func(t *testing.T) {
			st := open(t)
			key := []byte(strings.Repeat("k", 32))
			sealer, err := security.NewSealer(key)
			if err != nil {
				t.Fatal(err)
			}
			u, err := st.CreateUser(context.Background(), "target@example.com", "hash")
			if err != nil {
				t.Fatal(err)
			}
			acts := &activities.Activities{Store: st, Sealer: sealer, SecretKey: key, Limits: rules.DefaultLimits,
				Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			checked, refused := 0, 0
			for _, ans := range answersInParallel(t, 40, func(i int) (activities.Answer, error) {
				flow := "flow-" + strconv.Itoa(i)
				return acts.CheckCode(context.Background(), activities.CheckCodeInput{FlowID: flow, UserID: u.ID,
					CodeSealed: sealer.Seal(security.PurposeCode, []byte("000000")), MAC: security.CodeMAC(key, flow, "123456")})
			}) {
				switch {
				case ans.Refused:
					refused++
				case ans.Counted && !ans.OK:
					checked++
				}
			}
			if checked != 10 || refused != 30 {
				t.Fatalf("checked %d, refused %d; want 10 and 30", checked, refused)
			}
		})
		// Passkey assertions and Telegram buttons take their reservation
		// before the check with ReserveSecondFactorAttempt, in the workflow
		// (workflows/method_webauthn.go, method_telegram.go).
		t.Run("store="+name+"/case=40 parallel passkey or Telegram answers for one account: 10 reserved, 30 refused", func(t *testing.T) {
			st := open(t)
			u, err := st.CreateUser(context.Background(), "target@example.com", "hash")
			if err != nil {
				t.Fatal(err)
			}
			acts := &activities.Activities{Store: st, Limits: rules.DefaultLimits, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			var granted []int
			refused := 0
			for _, ans := range answersInParallel(t, 40, func(int) (activities.Answer, error) {
				return acts.ReserveSecondFactorAttempt(context.Background(), u.ID)
			}) {
				switch {
				case ans.Refused:
					refused++
				case ans.Counted:
					granted = append(granted, ans.Failures)
				}
			}
			slices.Sort(granted)
			if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(granted, want) || refused != 30 {
				t.Fatalf("reserved with counts %v, refused %d; want each of 1..10 once and 30 refused", granted, refused)
			}
			if a, err := st.GetAttempts(context.Background(), rules.ScopeSecondFactor, u.ID); err != nil || a.Failures != 10 || a.LockedUntil.IsZero() {
				t.Fatalf("the account's counter after the race: %+v %v, want 10 failures and a lock", a, err)
			}
		})
	}
}

// parallelWrongPasswords runs n wrong-password verifications, conc at a
// time, and counts those whose hash ran (checked) and those refused.
func parallelWrongPasswords(t *testing.T, st store.Store, n, conc int, email, ip func(int) string) (checked, refused int) {
	t.Helper()
	key := []byte(strings.Repeat("k", 32))
	sealer, err := security.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	hasher := security.NewHasher(cheapArgon2)
	h, err := hasher.Hash("right password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(context.Background(), "victim@example.com", h); err != nil {
		t.Fatal(err)
	}
	out := channels.NewOutbox()
	acts := &activities.Activities{Store: st, Sealer: sealer, SecretKey: key, Hasher: hasher, Email: out,
		Limits: rules.DefaultLimits, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sem  = make(chan struct{}, conc)
		errs []error
	)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := acts.VerifyPassword(context.Background(), activities.VerifyPasswordInput{Email: email(i), IP: ip(i),
				PasswordSealed: sealer.Seal(security.PurposePassword, []byte("wrong guess"))})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case res.RetryAfterSeconds > 0:
				refused++
			case !res.OK:
				checked++
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}
	return checked, refused
}

func TestVerifyTOTP(t *testing.T) {
	setup := func(t *testing.T) (*enrollFixture, string) {
		f := newEnrollFixture(t)
		const secret = "JBSWY3DPEHPK3PXP"
		if err := f.st.SetTOTPSecret(context.Background(), f.user.ID, f.acts.Sealer.Seal(security.PurposeTOTPSecret, []byte(secret)), 0); err != nil {
			t.Fatal(err)
		}
		return f, secret
	}
	verify := func(f *enrollFixture, code string) activities.Answer {
		f.t.Helper()
		return execute[activities.Answer](f, f.acts.VerifyTOTP, activities.VerifyTOTPInput{UserID: f.user.ID,
			CodeSealed: f.acts.Sealer.Seal(security.PurposeCode, []byte(code))})
	}
	failures := func(f *enrollFixture) int {
		st, err := f.st.GetAttempts(context.Background(), "2fa", f.user.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		return st.Failures
	}
	t.Run("case=a locked account gets the back-off and its right code is not used up", func(t *testing.T) {
		f, secret := setup(t)
		if _, err := f.st.AddFailure(context.Background(), "2fa", f.user.ID, time.Now(), func(int) time.Duration { return time.Minute }); err != nil {
			t.Fatal(err)
		}
		code, _ := totp.GenerateCode(secret, time.Now())
		res := verify(f, code)
		if !res.Refused || res.OK || res.Budget.RetryAfterSeconds <= 0 || res.Budget.RetryAfterSeconds > 60 || failures(f) != 1 {
			t.Fatalf("%+v, failures %d", res, failures(f))
		}
		if used, err := f.st.UseTOTPStep(context.Background(), f.user.ID, time.Now().Unix()/30, "another-answer"); err != nil || !used {
			t.Fatalf("the code's step was used while locked: %v %v", used, err)
		}
	})
	t.Run("case=a wrong code is counted on the account before the check", func(t *testing.T) {
		f, _ := setup(t)
		res := verify(f, "000000")
		if res.OK || !res.Counted || res.Failures != 1 || res.Budget.Left != rules.DefaultLimits.FailuresBeforeLock-1 || failures(f) != 1 {
			t.Fatalf("%+v, failures %d", res, failures(f))
		}
	})
	t.Run("case=a right code passes once and resets the account's counter", func(t *testing.T) {
		f, secret := setup(t)
		verify(f, "000000")
		code, _ := totp.GenerateCode(secret, time.Now())
		if res := verify(f, code); !res.OK || failures(f) != 0 {
			t.Fatalf("%+v, failures %d", res, failures(f))
		}
		if res := verify(f, code); res.OK || !res.Replay || res.Counted || failures(f) != 0 {
			t.Fatalf("second use: %+v, failures %d", res, failures(f))
		}
	})
	t.Run("case=a replay gives its reservation back: the account's counter and lock are unchanged, the event recorded", func(t *testing.T) {
		f, secret := setup(t)
		ctx := context.Background()
		code, _ := totp.GenerateCode(secret, time.Now())
		if res := verify(f, code); !res.OK {
			t.Fatalf("first use: %+v", res)
		}
		// One short of the lock: the replay's reservation reaches it, and
		// giving it back must undo that lock too.
		for range rules.DefaultLimits.FailuresBeforeLock - 1 {
			if _, err := f.st.AddFailure(ctx, "2fa", f.user.ID, time.Now(), f.acts.Limits.LockFor); err != nil {
				t.Fatal(err)
			}
		}
		before := failures(f)
		for i := range 3 {
			res := verify(f, code)
			if res.OK || !res.Replay || res.Counted || res.Refused || failures(f) != before {
				t.Fatalf("replay %d: %+v, failures %d (before %d)", i, res, failures(f), before)
			}
		}
		st, err := f.st.GetAttempts(ctx, "2fa", f.user.ID)
		if err != nil || st.LockedUntil.After(time.Now()) {
			t.Fatalf("locked after replays: %+v %v", st, err)
		}
		if f.events()["totp_replay_rejected"] != 3 || f.events()["second_factor_failed"] != 0 {
			t.Fatalf("events %v", f.events())
		}
		// A wrong code still counts, and this one locks.
		if res := verify(f, "000000"); res.OK || res.Replay || !res.Counted || failures(f) != before+1 || res.Budget.RetryAfterSeconds <= 0 {
			t.Fatalf("wrong code after replays: %+v, failures %d", res, failures(f))
		}
		// Locked: even the replayed code is refused unlooked at.
		if res := verify(f, code); !res.Refused || res.Replay || failures(f) != before+1 {
			t.Fatalf("replay while locked: %+v, failures %d", res, failures(f))
		}
	})
}

// TestSecondFactorBackoffAndHardCap walks one account through 20 wrong
// answers in a row: from the 10th the lock starts at 60 s and doubles to
// an hour, and the 20th locks the second step for good and tells every
// channel (docs/security.md "Brute force", "Hard cap").
func TestSecondFactorBackoffAndHardCap(t *testing.T) {
	f := newEnrollFixture(t)
	ctx := context.Background()
	if _, err := f.st.LinkTelegram(ctx, f.user.ID, 4242, "owner"); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	f.acts.Now = func() time.Time { return now }
	want := map[int]time.Duration{10: time.Minute, 11: 2 * time.Minute, 12: 4 * time.Minute, 13: 8 * time.Minute,
		14: 16 * time.Minute, 15: 32 * time.Minute, 16: time.Hour, 19: time.Hour}
	for n := 1; n <= 20; n++ {
		ans := execute[activities.Answer](f, f.acts.ReserveSecondFactorAttempt, f.user.ID)
		if ans.Refused || ans.Failures != n {
			t.Fatalf("answer %d: %+v, want granted as the %dth failure", n, ans, n)
		}
		if _, err := f.env.ExecuteActivity(f.acts.RecordSecondFactorFailure, activities.SecondFactorFailureInput{
			UserID: f.user.ID, Method: "totp", Reason: "wrong_code", Counted: true, Failures: ans.Failures}); err != nil {
			t.Fatal(err)
		}
		st, err := f.st.GetAttempts(ctx, "2fa", f.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		lock := st.LockedUntil.Sub(now)
		switch {
		case n < 10 && !st.LockedUntil.IsZero():
			t.Fatalf("locked after %d wrong answers", n)
		case want[n] != 0 && (lock < want[n]-time.Second || lock > want[n]):
			t.Fatalf("after %d wrong answers the lock is %s, want %s", n, lock, want[n])
		case n == 20 && lock < 50*365*24*time.Hour:
			t.Fatalf("after 20 wrong answers the lock is %s, want the hard lock", lock)
		}
		if n < 20 {
			if n == 19 && len(f.outbox.Entries()) != 0 {
				t.Fatalf("notices before the hard cap: %+v", f.outbox.Entries())
			}
			now = st.LockedUntil.Add(time.Second) // the back-off has passed
			if st.LockedUntil.IsZero() {
				now = now.Add(time.Second)
			}
		}
	}
	// A week later the account is still locked, and says it is for good.
	now = now.Add(7 * 24 * time.Hour)
	v, err := f.env.ExecuteActivity(f.acts.SecondFactorStatus, f.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	var b activities.SecondFactorBudget
	if err := v.Get(&b); err != nil || !b.Locked || b.RetryAfterSeconds <= 0 {
		t.Fatalf("a week after the hard cap: %+v %v", b, err)
	}
	var email, telegram int
	for _, e := range f.outbox.Entries() {
		switch {
		case e.Channel == "email" && e.To == f.user.Email && strings.Contains(e.Subject, "locked"):
			email++
		case e.Channel == "telegram" && strings.Contains(e.Text, "locked"):
			telegram++
		}
	}
	if email != 1 || telegram != 1 {
		t.Fatalf("hard-cap notices: %d emails, %d Telegram messages, want one each: %+v", email, telegram, f.outbox.Entries())
	}
	// A password change (or an admin) unlocks it.
	if err := rules.Unlock(ctx, f.st, f.user.ID, f.user.Email); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.st.GetAttempts(ctx, "2fa", f.user.ID); st.Failures != 0 || !st.LockedUntil.IsZero() {
		t.Fatalf("after the unlock: %+v", st)
	}
}
