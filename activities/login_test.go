package activities_test

import (
	"context"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/security"
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

func (f *enrollFixture) verifyPassword(pw string, withOptions bool) activities.VerifyPasswordResult {
	f.t.Helper()
	v, err := f.env.ExecuteActivity(f.acts.VerifyPassword, activities.VerifyPasswordInput{Email: f.user.Email,
		PasswordSealed: f.acts.Sealer.Seal(security.PurposePassword, []byte(pw)), IP: "203.0.113.9", WithOptions: withOptions})
	if err != nil {
		f.t.Fatalf("verify password: %v", err)
	}
	var res activities.VerifyPasswordResult
	if err := v.Get(&res); err != nil {
		f.t.Fatal(err)
	}
	return res
}

func TestVerifyPasswordWithOptions(t *testing.T) {
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
		res := f.verifyPassword("right password", true)
		if !res.OK || res.Options == nil || !res.Options.TOTP || res.Budget == nil {
			t.Fatalf("%+v", res)
		}
		if want := activities.DefaultLimits.FailuresBeforeLock - 3; res.Budget.Left != want {
			t.Fatalf("budget left %d, want %d", res.Budget.Left, want)
		}
	})
	t.Run("case=without 2FA there is no budget, and without the flag no options", func(t *testing.T) {
		f := newEnrollFixture(t)
		f.withPassword("right password")
		res := f.verifyPassword("right password", true)
		if !res.OK || res.Options == nil || res.Options.Any() || res.Budget != nil {
			t.Fatalf("%+v", res)
		}
		if res := f.verifyPassword("right password", false); !res.OK || res.Options != nil || res.Budget != nil {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("case=a right password after wrong ones resets the account's counter", func(t *testing.T) {
		f := newEnrollFixture(t)
		f.withPassword("right password")
		if res := f.verifyPassword("wrong password", true); res.OK || res.Options != nil {
			t.Fatalf("%+v", res)
		}
		if st, _ := f.st.GetAttempts(context.Background(), "password", activities.NormalizeEmail(f.user.Email)); st.Failures != 1 {
			t.Fatalf("failures %d after a wrong password", st.Failures)
		}
		f.verifyPassword("right password", true)
		if st, _ := f.st.GetAttempts(context.Background(), "password", activities.NormalizeEmail(f.user.Email)); st.Failures != 0 {
			t.Fatalf("failures %d after a right password", st.Failures)
		}
	})
}

func TestVerifyTOTPCheckLock(t *testing.T) {
	setup := func(t *testing.T) (*enrollFixture, string) {
		f := newEnrollFixture(t)
		const secret = "JBSWY3DPEHPK3PXP"
		if err := f.st.SetTOTPSecret(context.Background(), f.user.ID, f.acts.Sealer.Seal(security.PurposeTOTPSecret, []byte(secret)), 0); err != nil {
			t.Fatal(err)
		}
		return f, secret
	}
	verify := func(f *enrollFixture, code string, checkLock bool) activities.TOTPResult {
		f.t.Helper()
		v, err := f.env.ExecuteActivity(f.acts.VerifyTOTP, activities.VerifyTOTPInput{UserID: f.user.ID,
			CodeSealed: f.acts.Sealer.Seal(security.PurposeCode, []byte(code)), CheckLock: checkLock})
		if err != nil {
			f.t.Fatal(err)
		}
		var res activities.TOTPResult
		if err := v.Get(&res); err != nil {
			f.t.Fatal(err)
		}
		return res
	}
	lock := func(f *enrollFixture) {
		_, err := f.st.AddFailure(context.Background(), "2fa", f.user.ID, time.Now(), func(int) time.Duration { return time.Minute })
		if err != nil {
			f.t.Fatal(err)
		}
	}
	t.Run("case=a locked account gets the back-off and its right code is not used up", func(t *testing.T) {
		f, secret := setup(t)
		lock(f)
		code, _ := totp.GenerateCode(secret, time.Now())
		res := verify(f, code, true)
		if res.OK || res.RetryAfterSeconds <= 0 || res.RetryAfterSeconds > 60 {
			t.Fatalf("%+v", res)
		}
		// Without the check (older flows check the lock in their own
		// activity) the same code is still fresh.
		if res := verify(f, code, false); !res.OK {
			t.Fatalf("the code was used up while locked: %+v", res)
		}
	})
	t.Run("case=an unlocked account's right code passes once", func(t *testing.T) {
		f, secret := setup(t)
		code, _ := totp.GenerateCode(secret, time.Now())
		if res := verify(f, code, true); !res.OK || res.RetryAfterSeconds != 0 {
			t.Fatalf("%+v", res)
		}
		if res := verify(f, code, true); res.OK || !res.Replay {
			t.Fatalf("second use: %+v", res)
		}
	})
}
