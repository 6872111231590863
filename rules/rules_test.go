package rules_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/opener"
)

func newStore(t *testing.T) store.Store {
	t.Helper()
	st, err := opener.Open(context.Background(), "sqlite://:memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestLimits(t *testing.T) {
	l := rules.DefaultLimits
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{9, 0}, {10, time.Minute}, {11, 2 * time.Minute}, {16, time.Hour}, {19, time.Hour}, {20, rules.HardLock}, {40, rules.HardLock}} {
		if got := l.LockFor(c.n); got != c.want {
			t.Errorf("LockFor(%d) = %s, want %s", c.n, got, c.want)
		}
	}
	if l.LockPasswordFor(40) != time.Hour {
		t.Error("passwords have no hard cap: a locked-out owner could not sign in")
	}
	if l.LockIPFor(99) != 0 || l.LockIPFor(100) != time.Minute {
		t.Error("an IP locks at IPFailuresBeforeLock")
	}
	if !l.HardLocked(20) || l.HardLocked(19) || (rules.Limits{}).HardLocked(1000) {
		t.Error("HardLocked is wrong")
	}
	if (rules.Limits{}).OrDefault() != rules.DefaultLimits || (rules.Limits{HardCap: 3}).OrDefault().HardCap != 3 {
		t.Error("OrDefault is wrong")
	}
}

func TestPasswordGuard(t *testing.T) {
	ctx := context.Background()
	t.Run("case=a wrong password counts on the account and the IP until it locks; a right one gives its attempt back", func(t *testing.T) {
		st := newStore(t)
		g := rules.PasswordGuard{Store: st, Limits: rules.DefaultLimits}
		for range 9 {
			if _, ra, err := g.Reserve(ctx, " Ann@Example.com", "203.0.113.1"); err != nil || ra != 0 {
				t.Fatalf("reserve: %d %v", ra, err)
			}
		}
		att, ra, err := g.Reserve(ctx, "ann@example.com", "203.0.113.1")
		if err != nil || ra != 0 {
			t.Fatalf("10th reserve: %d %v", ra, err)
		}
		if _, ra, _ := g.Reserve(ctx, "ANN@example.com", "203.0.113.2"); ra <= 0 {
			t.Fatal("the 11th attempt on the account ran, from another IP too")
		}
		if ip, _ := st.GetAttempts(ctx, rules.ScopePasswordIP, "203.0.113.2"); ip.Failures != 0 {
			t.Fatalf("a refused attempt counted on its IP: %+v", ip)
		}
		if err := att.Succeeded(ctx); err != nil {
			t.Fatal(err)
		}
		acct, _ := st.GetAttempts(ctx, rules.ScopePassword, "ann@example.com")
		ip, _ := st.GetAttempts(ctx, rules.ScopePasswordIP, "203.0.113.1")
		if acct.Failures != 0 || ip.Failures != 9 {
			t.Fatalf("after a right password: account %+v, IP %+v", acct, ip)
		}
	})
	t.Run("case=Unlock ends the second step's hard lock and the password's", func(t *testing.T) {
		st := newStore(t)
		l := rules.DefaultLimits
		now := time.Now()
		for range l.HardCap {
			_, _ = st.AddFailure(ctx, rules.ScopeSecondFactor, "u1", now, l.LockFor)
			_, _ = st.AddFailure(ctx, rules.ScopePassword, "bob@example.com", now, l.LockPasswordFor)
		}
		if err := rules.Unlock(ctx, st, "u1", "Bob@Example.com "); err != nil {
			t.Fatal(err)
		}
		a, _ := st.GetAttempts(ctx, rules.ScopeSecondFactor, "u1")
		p, _ := st.GetAttempts(ctx, rules.ScopePassword, "bob@example.com")
		if a.Failures != 0 || p.Failures != 0 || a.LockedUntil.After(now) || p.LockedUntil.After(now) {
			t.Fatalf("still locked: %+v %+v", a, p)
		}
	})
}

func TestEmailsAndPasswords(t *testing.T) {
	if e, err := rules.ParseEmail("  Ann@Example.COM "); err != nil || e != "ann@example.com" {
		t.Fatalf("ParseEmail = %q %v", e, err)
	}
	for _, bad := range []string{"ann", "Ann <ann@example.com>", "a@b.c" + strings.Repeat("x", 260)} {
		if _, err := rules.ParseEmail(bad); !errkind.Is(err, errkind.BadRequest) {
			t.Errorf("ParseEmail(%q) = %v, want BadRequest", bad, err)
		}
	}
	for p, ok := range map[string]bool{"1234567": false, "12345678": true, strings.Repeat("x", 1024): true, strings.Repeat("x", 1025): false} {
		if err := rules.CheckNewPassword(p); (err == nil) != ok || (err != nil && !errkind.Is(err, errkind.BadRequest)) {
			t.Errorf("CheckNewPassword(%d bytes) = %v", len(p), err)
		}
	}
}

func TestTOTP(t *testing.T) {
	sealer, err := security.NewSealer([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	key, err := rules.NewTOTPKey("ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	opened, err := rules.OpenTOTPKey(sealer, rules.SealTOTPKey(sealer, key))
	if err != nil || opened.Secret() != key.Secret() || len(key.Secret()) != 32 || opened.Issuer() != rules.TOTPIssuer {
		t.Fatalf("opened %v %v: a 160-bit secret, sealed and opened", opened, err)
	}
	now := time.Unix(1_700_000_025, 0) // 15 s into its step (steps start at multiples of 30 s)
	// matches checks the code of the instant d away from now: accepted at
	// that instant's step, or refused (-1).
	matches := func(t *testing.T, d time.Duration, want bool) {
		t.Helper()
		code, err := totp.GenerateCodeCustom(key.Secret(), now.Add(d), rules.TOTPValidateOpts)
		if err != nil {
			t.Fatal(err)
		}
		step := rules.MatchTOTPStep(key.Secret(), code, now)
		if (step >= 0) != want || (want && step != now.Add(d).Unix()/30) {
			t.Errorf("the code of %s away: step %d, accepted want %v", d, step, want)
		}
	}
	t.Run("case=the current step is accepted", func(t *testing.T) {
		matches(t, 0, true)
		matches(t, 14*time.Second, true)
		matches(t, -15*time.Second, true)
	})
	t.Run("case=the previous and the next step are accepted", func(t *testing.T) {
		matches(t, -30*time.Second, true)
		matches(t, -16*time.Second, true)
		matches(t, 30*time.Second, true)
		matches(t, 15*time.Second, true)
	})
	t.Run("case=a code two or more steps away is refused", func(t *testing.T) {
		for _, d := range []time.Duration{-60 * time.Second, -46 * time.Second, 45 * time.Second, 60 * time.Second,
			-90 * time.Second, 90 * time.Second, -10 * time.Minute, 10 * time.Minute} {
			matches(t, d, false)
		}
	})
	t.Run("case=a wrong code and a malformed one are refused", func(t *testing.T) {
		valid := map[string]bool{}
		for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
			c, err := totp.GenerateCodeCustom(key.Secret(), now.Add(d), rules.TOTPValidateOpts)
			if err != nil {
				t.Fatal(err)
			}
			valid[c] = true
		}
		code, _ := totp.GenerateCodeCustom(key.Secret(), now, rules.TOTPValidateOpts)
		wrong := code
		for n := atoi(t, code); valid[wrong]; n++ {
			wrong = fmt.Sprintf("%06d", (n+1)%1_000_000) // the nearest code none of the three steps has
		}
		for _, c := range []string{wrong, "", code[:5], code + "0", " " + code} {
			if step := rules.MatchTOTPStep(key.Secret(), c, now); step != -1 {
				t.Errorf("code %q: step %d, want -1", c, step)
			}
		}
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTelegramCallbackData(t *testing.T) {
	for _, c := range []struct {
		data   string
		flow   string
		number int
		notMe  bool
	}{{rules.LoginCallbackData("f1", 42), "f1", 42, false}, {rules.NotMeCallbackData("f2"), "f2", 0, true}} {
		flow, n, notMe, err := rules.ParseCallbackData(c.data)
		if err != nil || flow != c.flow || n != c.number || notMe != c.notMe {
			t.Errorf("%q → %q %d %v %v", c.data, flow, n, notMe, err)
		}
	}
	for _, bad := range []string{"l:f1:9", "l:f1:100", "l:f1:x", "x:f1", "l:f1", ""} {
		if _, _, _, err := rules.ParseCallbackData(bad); err == nil {
			t.Errorf("%q was read as a button", bad)
		}
	}
}
