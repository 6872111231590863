// Package storetest is the conformance suite every store.Store
// implementation passes. An implementation's tests call Run with a function
// that returns a fresh, empty, migrated store:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return newTestStore(t) })
//	}
//
// Every case gets its own store and runs in parallel with the others, so
// newStore must give stores that share no data, and register their cleanup
// with t.Cleanup.
package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/store"
)

// Run runs every conformance case against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	cases := []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"ping answers", testPing},

		{"create user and read it by id and email", testCreateUser},
		{"email is trimmed and case-insensitive", testEmailCaseInsensitive},
		{"email taken is conflict", testEmailTaken},
		{"unknown user is not found", testUnknownUser},
		{"set password hash", testSetPasswordHash},
		{"ids are distinct random strings", testIDsDistinct},
		{"list users by email in pages", testListUsers},
		{"list users filters on a part of the email, in any case, wildcards as text", testListUsersFilter},

		{"create session and find it by token hash", testCreateSession},
		{"expired session is not found", testSessionExpiry},
		{"token hash taken is conflict", testTokenHashTaken},
		{"session of unknown user is not found", testSessionUnknownUser},
		{"touch session moves last seen", testTouchSession},
		{"mark authenticated moves authenticated at", testMarkAuthenticated},
		{"list sessions lists the user's live sessions", testListSessions},
		{"delete session of another user is not found", testDeleteSession},
		{"delete other sessions keeps one and counts the rest", testDeleteOtherSessions},

		{"two factor settings default to zero", testTwoFactorDefaults},
		{"second factors in one statement say what the five calls say", testSecondFactors},
		{"set telegram and email enabled", testSetSwitches},
		{"two factor switches of unknown user are not found", testSwitchesUnknownUser},
		{"set totp secret enables totp and keeps the last step", testSetTOTPSecret},
		{"delete totp secret disables totp and destroys the secret", testDeleteTOTPSecret},
		{"totp step is accepted once and replay rejected", testTOTPReplay},
		{"concurrent use of the same totp step is accepted exactly once", testTOTPConcurrent},
		{"the answer that used a totp step is accepted again under its own key, no other", testTOTPSameAnswerAgain},
		{"totp step without a secret is not found", testTOTPWithoutSecret},

		{"link telegram and find it by chat id", testLinkTelegram},
		{"linking the same chat again returns the existing link", testRelinkTelegram},
		{"chat linked to another user is conflict", testTelegramConflict},
		{"concurrent links of one chat by several users: one wins", testTelegramConcurrent},
		{"unlink telegram of another user is not found", testUnlinkTelegram},
		{"telegram of unknown user is not found", testTelegramUnknownUser},

		{"add credential and find it by credential id", testAddCredential},
		{"credential id registered on any account is conflict", testCredentialIDTaken},
		{"update credential use", testUpdateCredentialUse},
		{"set credential passwordless of another user is not found", testSetPasswordless},
		{"delete credential of another user is not found", testDeleteCredential},
		{"credential of unknown user is not found", testCredentialUnknownUser},

		{"add phone and read it", testAddPhone},
		{"same number twice on one account is conflict", testPhoneTwice},
		{"phone of another user is not found", testPhoneOfAnotherUser},
		{"delete phone", testDeletePhone},
		{"phone of unknown user is not found", testPhoneUnknownUser},

		{"add and list bank cards", testAddBankCards},
		{"unlink bank cards is idempotent per key", testUnlinkIdempotent},
		{"concurrent unlinks with one key unlink once", testUnlinkConcurrent},
		{"unlink key of another user is conflict", testUnlinkKeyOfAnotherUser},
		{"unlink without linked cards counts zero", testUnlinkNoCards},

		{"disable two factor turns factors off and restore brings back exactly what was on", testDisableRestore},
		{"restore brings back exactly the flags that were on", testRestoreExactFlags},
		{"finish downgrade destroys the totp secret and suspended passkeys", testFinishDowngrade},
		{"downgrade calls are idempotent per key", testDowngradeIdempotent},
		{"restore and finish with a key never disabled are no-ops", testDowngradeUnknownKey},
		{"downgrade key of another user", testDowngradeKeyOfAnotherUser},
		{"concurrent downgrade calls with one key", testDowngradeConcurrent},
		{"disable two factor of unknown user is not found", testDisableUnknownUser},

		{"attempts start at zero", testAttemptsZero},
		{"add failure counts and locks with lockFor", testAddFailure},
		{"reset attempts", testResetAttempts},
		{"attempts are separate per scope and key", testAttemptsSeparate},
		{"concurrent failures are each counted once", testFailuresConcurrent},
		{"reserve attempt counts before the check and refuses while locked", testReserveAttempt},
		{"40 concurrent reservations grant exactly the limit", testReserveConcurrent},
		{"reservations around locks: passed, ending, from the first attempt, none", testReserveAroundLocks},
		{"recovery codes: stored, used once, replaced as a set", testRecoveryCodes},
		{"concurrent uses of one recovery code: one passes", testRecoveryCodeConcurrentUse},
		{"a downgrade suspends recovery codes, a restore brings them back, a finish destroys them", testRecoveryCodesInDowngrade},
		{"release gives back a reservation and undoes its lock", testReleaseAttempt},

		{"nothing sent under key is not found", testSentMessageNotFound},
		{"record sent message is idempotent", testRecordSentIdempotent},
		{"count sent by user and by recipient since a time", testCountSent},
		{"count sends by kind, IP and channel", testCountSendsByKind},

		{"events newest first with detail round trip", testEvents},
		{"events of one instant newest added first", testEventsSameInstant},
		{"event id recorded twice is added once", testEventIDIdempotent},
		{"event of unknown user is not found", testEventUnknownUser},

		{"link token round trip and expiry", testLinkToken},

		{"account recovery: one wait per account, until ended, recorded once", testRecoveryWait},
		{"a user's locale: none, set, changed; unknown user not found", testUserLocale},
		{"recovery cancel token: spent once, not after expiry", testRecoveryCancelToken},
		{"concurrent uses of one cancel token: one passes", testRecoveryCancelTokenConcurrent},

		{"telegram prompts of a flow", testTelegramPrompts},
		{"leases: taken when free, renewed by the holder, refused to others until expiry, released by the holder only", testLeases},
		{"concurrent takers of a free or expired lease: exactly one gets it", testLeaseConcurrent},
		{"webhook endpoints: stored, listed, deleted", testWebhookEndpoints},
		{"an event queues a delivery for each enabled endpoint its filter matches, in order, once", testWebhookQueueing},
		{"webhook attempts: counted, delivered once, retried by an admin", testWebhookAttempts},
		{"disabling an endpoint fails its pending deliveries and queues nothing more", testWebhookDisable},
		{"enabling a disabled endpoint queues again and, when asked, makes what failed pending in order", testWebhookEnable},
		{"a secret rotation keeps the replaced secret until its end, or not at all; an older one is dropped", testWebhookRotate},
		{"a cancelled delivery is failed with its reason and the next one is pending first; a delivered one cannot be cancelled", testWebhookCancel},
		{"pruning forgets delivered deliveries older than the bound with their attempts, oldest first, never pending or failed ones", testWebhookPrune},
		{"endpoints with pending deliveries: counted, changed by a new event, a delivery or a retry; disabled ones left out", testWebhookPendingEndpoints},

		{"64 concurrent writers see no errors", func(t *testing.T, s store.Store) { MixedWrites(t, s, 64, 5) }},
	}
	for _, c := range cases {
		t.Run("case="+c.name, func(t *testing.T) {
			t.Parallel()
			c.test(t, newStore(t))
		})
	}
}

// MixedWrites runs workers goroutines that each do rounds of the writes
// logins do (create a user, a session, count a failure on a shared key,
// record a send to a shared recipient, add an event, read the session back)
// at once, and fails the test on any error: a store must queue concurrent
// writers, never answer "database is locked".
func MixedWrites(t testing.TB, s store.Store, workers, rounds int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	var (
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	run := RandomString()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				u, err := s.CreateUser(ctx, fmt.Sprintf("w%d.r%d.%s@example.com", w, r, run), "$argon2id$hash")
				if err != nil {
					fail(fmt.Errorf("create user: %w", err))
					continue
				}
				sess, err := s.CreateSession(ctx, store.Session{UserID: u.ID, TokenHash: RandomBytes(32),
					AuthenticatedAt: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
				if err != nil {
					fail(fmt.Errorf("create session: %w", err))
				}
				if _, err := s.AddFailure(ctx, "password_ip", "198.51.100.7", now, lockAfter(1000)); err != nil {
					fail(fmt.Errorf("add failure: %w", err))
				}
				if err := s.RecordSentMessage(ctx, store.SentMessage{Key: RandomString(), UserID: u.ID,
					Channel: "sms", Recipient: "+380501234567", SentAt: now}); err != nil {
					fail(fmt.Errorf("record sent message: %w", err))
				}
				if err := s.AddEvent(ctx, store.Event{UserID: u.ID, Type: "login_succeeded", At: now}); err != nil {
					fail(fmt.Errorf("add event: %w", err))
				}
				if _, err := s.SessionByTokenHash(ctx, sess.TokenHash, now); err != nil {
					fail(fmt.Errorf("session by token hash: %w", err))
				}
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if i == 10 {
			t.Errorf("... and %d more errors", len(errs)-i)
			break
		}
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	a, err := s.GetAttempts(ctx, "password_ip", "198.51.100.7")
	if err != nil {
		t.Fatal(err)
	}
	if a.Failures != workers*rounds {
		t.Errorf("failures on the shared key = %d, want %d", a.Failures, workers*rounds)
	}
	n, err := s.CountSent(ctx, "", "+380501234567", now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != workers*rounds {
		t.Errorf("sent to the shared recipient = %d, want %d", n, workers*rounds)
	}
}

// CreateSessionsParallel benchmarks CreateSession called from
// b.RunParallel goroutines (GOMAXPROCS of them, times -cpu).
func CreateSessionsParallel(b *testing.B, s store.Store) {
	ctx := context.Background()
	u, err := s.CreateUser(ctx, RandomString()+"@example.com", "$argon2id$hash")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.CreateSession(ctx, store.Session{UserID: u.ID, TokenHash: RandomBytes(32),
				AuthenticatedAt: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour),
				IP: "203.0.113.9", UserAgent: "bench"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// LoginQueries runs, per iteration, the store calls of one TOTP login
// (TOTPLogin).
func LoginQueries(b *testing.B, s store.Store) {
	login := TOTPLogin(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		login(i)
	}
}

// TOTPLoginCalls is how many store calls TOTPLogin's login makes.
const TOTPLoginCalls = 13

// TOTPLogin sets up an account with a TOTP secret and returns a function
// that makes the store calls of one TOTP login of it in the order the
// activities make them (activities.TestTOTPLoginStoreCalls lists them and
// fails when they change), with the default limits' lock rules: the
// password step's throttle, user and second-step options, the TOTP answer
// (i picks a fresh step), and the session with its event and the waiting
// recoveries it cancels.
func TOTPLogin(tb testing.TB, s store.Store) func(i int) {
	ctx := context.Background()
	email := RandomString() + "@example.com"
	u, err := s.CreateUser(ctx, email, "$argon2id$hash")
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.SetTOTPSecret(ctx, u.ID, RandomBytes(48), 0); err != nil {
		tb.Fatal(err)
	}
	const ip = "203.0.113.9"
	now := time.Now()
	step := now.Unix() / 30
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	// rules.DefaultLimits' thresholds: the IP, the password, the second step.
	lockIP, lockPassword, lockSecond := lockAfter(100), lockAfter(10), lockAfter(10)
	return func(i int) {
		// The password step.
		ipr, err := s.ReserveAttempt(ctx, "password_ip", ip, now, lockIP)
		must(err)
		_, err = s.ReserveAttempt(ctx, "password", email, now, lockPassword)
		must(err)
		_, err = s.UserByEmail(ctx, email)
		must(err)
		must(s.ResetAttempts(ctx, "password", email))
		must(s.ReleaseAttempt(ctx, "password_ip", ip, ipr))
		_, err = s.SecondFactors(ctx, u.ID, "2fa")
		must(err)
		// The TOTP answer.
		_, err = s.TwoFactorSettings(ctx, u.ID)
		must(err)
		_, err = s.ReserveAttempt(ctx, "2fa", u.ID, now, lockSecond)
		must(err)
		_, err = s.UseTOTPStep(ctx, u.ID, step+int64(i), fmt.Sprintf("login-%d", i))
		must(err)
		must(s.ResetAttempts(ctx, "2fa", u.ID))
		// The session.
		_, err = s.CreateSession(ctx, store.Session{UserID: u.ID, TokenHash: RandomBytes(32),
			AuthenticatedAt: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour),
			IP: ip, UserAgent: "bench"})
		must(err)
		must(s.AddEvent(ctx, store.Event{UserID: u.ID, Type: "login_succeeded", At: now, IP: ip}))
		_, err = s.WaitingRecoveries(ctx, u.ID)
		must(err)
	}
}

// SecondFactorsRead measures what the password step reads about an
// account's second step: in one statement (store.SecondFactors) and, for
// comparison, in the five calls it replaced. The account has a TOTP
// secret, a passkey, recovery codes and a phone.
func SecondFactorsRead(b *testing.B, s store.Store) {
	ctx := context.Background()
	u, err := s.CreateUser(ctx, RandomString()+"@example.com", "$argon2id$hash")
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SetTOTPSecret(ctx, u.ID, RandomBytes(48), 0); err != nil {
		b.Fatal(err)
	}
	if _, err := s.AddCredential(ctx, newCredential(u.ID)); err != nil {
		b.Fatal(err)
	}
	if err := s.ReplaceRecoveryCodes(ctx, u.ID, [][]byte{RandomBytes(32), RandomBytes(32)}, time.Now()); err != nil {
		b.Fatal(err)
	}
	if _, err := s.AddPhone(ctx, u.ID, "+380501234567", true); err != nil {
		b.Fatal(err)
	}
	b.Run("one statement", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.SecondFactors(ctx, u.ID, "2fa"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("five calls", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, err1 := s.TwoFactorSettings(ctx, u.ID)
			_, err2 := s.ListCredentials(ctx, u.ID)
			_, err3 := s.RecoveryCodesLeft(ctx, u.ID)
			_, err4 := s.ListPhones(ctx, u.ID)
			_, err5 := s.GetAttempts(ctx, "2fa", u.ID)
			if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// RandomBytes returns n bytes from crypto/rand.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// RandomString returns a random string fit for keys and email local parts.
func RandomString() string {
	return fmt.Sprintf("%x", RandomBytes(8))
}

// Helpers shared by the cases.

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// sameTime checks a time read back: UTC and within a millisecond of want.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	near(t, what, got, want, time.Millisecond)
}

func near(t *testing.T, what string, got, want time.Time, tolerance time.Duration) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s = %v, want a UTC time", what, got)
	}
	if d := got.Sub(want); d < -tolerance || d > tolerance {
		t.Errorf("%s = %v, want %v (±%v)", what, got, want, tolerance)
	}
}

func newUser(t *testing.T, s store.Store) store.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), RandomString()+"@example.com", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
	mustNil(t, err)
	return u
}

// lockAfter is a lockFor that locks for one minute per failure from the
// threshold on.
func lockAfter(threshold int) func(int) time.Duration {
	return func(failures int) time.Duration {
		if failures < threshold {
			return 0
		}
		return time.Duration(failures) * time.Minute
	}
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		out = append(out, id(it))
	}
	return out
}

func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}
