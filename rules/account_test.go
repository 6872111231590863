package rules_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// notice is one call of the notifier.
type notice struct{ userID, key, subject, text string }

// accountFixture is a user in a fresh SQLite store, an Account that
// records its notices, and the session that makes the changes.
type accountFixture struct {
	t       *testing.T
	st      store.Store
	acct    *rules.Account
	user    store.User
	mine    store.Session
	notices []notice
}

func newAccount(t *testing.T) *accountFixture {
	t.Helper()
	f := &accountFixture{t: t, st: newStore(t)}
	f.acct = &rules.Account{Store: f.st, Hasher: security.NewHasher(security.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}),
		Notify: rules.NotifierFunc(func(_ context.Context, userID, key string, n rules.Notice) error {
			subject, text := n.Render("en")
			f.notices = append(f.notices, notice{userID, key, subject, text})
			return nil
		})}
	hash, err := f.acct.Hasher.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if f.user, err = f.st.CreateUser(context.Background(), "ann-"+security.RandomToken()[:6]+"@example.com", hash); err != nil {
		t.Fatal(err)
	}
	f.mine = f.session()
	return f
}

func (f *accountFixture) session() store.Session {
	f.t.Helper()
	now := time.Now().UTC()
	s, err := f.st.CreateSession(context.Background(), store.Session{UserID: f.user.ID, TokenHash: security.HashToken(security.RandomToken()),
		AuthenticatedAt: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *accountFixture) change() rules.Change {
	return rules.Change{UserID: f.user.ID, SessionID: f.mine.ID, IP: "203.0.113.7"}
}

func (f *accountFixture) events() map[string][]map[string]any {
	f.t.Helper()
	list, err := f.st.ListEvents(context.Background(), f.user.ID, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string][]map[string]any{}
	for _, e := range list {
		out[e.Type] = append(out[e.Type], e.Detail)
	}
	return out
}

func (f *accountFixture) live() int {
	f.t.Helper()
	list, err := f.st.ListSessions(context.Background(), f.user.ID, time.Now())
	if err != nil {
		f.t.Fatal(err)
	}
	return len(list)
}

func TestFactorChanges(t *testing.T) {
	ctx := context.Background()
	t.Run("case=turning the first factor on ends every other session but the changer's, records it and says so", func(t *testing.T) {
		f := newAccount(t)
		f.session()
		f.session()
		res, err := f.acct.EnableEmail(ctx, f.change())
		if err != nil || !res.Changed || res.SessionsEnded != 2 || f.live() != 1 {
			t.Fatalf("res %+v err %v, %d live", res, err, f.live())
		}
		if _, err := f.st.SessionByTokenHash(ctx, f.mine.TokenHash, time.Now()); err != nil {
			t.Fatalf("the changer's session ended: %v", err)
		}
		ev := f.events()
		if len(ev["factor_enabled"]) != 1 || ev["factor_enabled"][0]["method"] != "email" || len(ev["sessions_ended"]) != 1 ||
			ev["sessions_ended"][0]["reason"] != "two_factor_enabled" {
			t.Fatalf("events %v", ev)
		}
		if len(f.notices) != 1 || !strings.Contains(f.notices[0].text, "2 other session(s) were signed out") ||
			!strings.Contains(f.notices[0].text, "If this was not you") || f.notices[0].key != "" {
			t.Fatalf("notices %+v", f.notices)
		}
	})
	t.Run("case=a second factor, a phone or a passkey setting ends no session", func(t *testing.T) {
		f := newAccount(t)
		if _, err := f.acct.EnableEmail(ctx, f.change()); err != nil {
			t.Fatal(err)
		}
		f.session()
		if res, err := f.acct.SetTelegram(ctx, f.change(), true); !errkind.Is(err, errkind.MethodUnavailable) || res.Changed {
			t.Fatalf("Telegram on without a chat: %+v %v", res, err)
		}
		if _, _, err := f.acct.LinkTelegram(ctx, f.change(), 4242, "ann"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.acct.AddPhone(ctx, f.change(), "+447700900123"); err != nil {
			t.Fatal(err)
		}
		if f.live() != 2 || len(f.events()["sessions_ended"]) != 0 {
			t.Fatalf("%d live, events %v", f.live(), f.events())
		}
	})
	t.Run("case=a phone on an account without 2FA ends no session either", func(t *testing.T) {
		f := newAccount(t)
		f.session()
		if _, res, err := f.acct.AddPhone(ctx, f.change(), "+447700900124"); err != nil || res.SessionsEnded != 0 || f.live() != 2 {
			t.Fatalf("res %+v err %v, %d live", res, err, f.live())
		}
	})
	t.Run("case=turning a factor off records the event and notifies; turning it off again does nothing", func(t *testing.T) {
		f := newAccount(t)
		if _, err := f.acct.EnableEmail(ctx, f.change()); err != nil {
			t.Fatal(err)
		}
		f.notices = nil
		res, err := f.acct.DisableEmail(ctx, f.change())
		if err != nil || !res.Changed {
			t.Fatalf("res %+v err %v", res, err)
		}
		if ev := f.events()["factor_disabled"]; len(ev) != 1 || ev[0]["method"] != "email" {
			t.Fatalf("events %v", f.events())
		}
		if len(f.notices) != 1 || f.notices[0].subject != "Email two-step authentication disabled" || f.notices[0].userID != f.user.ID {
			t.Fatalf("notices %+v", f.notices)
		}
		tf, _ := f.st.TwoFactorSettings(ctx, f.user.ID)
		if tf.EmailEnabled {
			t.Fatal("email 2FA is still on")
		}
		if res, err := f.acct.DisableEmail(ctx, f.change()); err != nil || res.Changed || len(f.notices) != 1 || len(f.events()["factor_disabled"]) != 1 {
			t.Fatalf("again: %+v %v, %d notices", res, err, len(f.notices))
		}
	})
	t.Run("case=a keyed change retried records and notifies once, and decides from the same before", func(t *testing.T) {
		f := newAccount(t)
		f.session()
		c := f.change()
		c.Key, c.Before = "enroll/f1/run/5", &rules.Status{}
		for range 2 {
			if _, err := f.acct.EnableEmail(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		ev := f.events()
		if len(ev["factor_enabled"]) != 1 || len(ev["sessions_ended"]) != 1 {
			t.Fatalf("events %v", ev)
		}
		for _, n := range f.notices {
			if n.key != "enroll/f1/run/5/notice" {
				t.Fatalf("notice key %q", n.key)
			}
		}
	})
	t.Run("case=another account's passkey, phone or chat is not found and nothing is recorded", func(t *testing.T) {
		f := newAccount(t)
		if _, err := f.acct.RemovePasskey(ctx, f.change(), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("passkey: %v", err)
		}
		if _, err := f.acct.RemovePhone(ctx, f.change(), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("phone: %v", err)
		}
		if _, err := f.acct.UnlinkTelegram(ctx, f.change(), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("chat: %v", err)
		}
		if len(f.events()) != 0 || len(f.notices) != 0 {
			t.Fatalf("events %v notices %v", f.events(), f.notices)
		}
	})
	t.Run("case=a passkey registered on another account is a conflict; the same one again is a retry", func(t *testing.T) {
		f := newAccount(t)
		bob, err := f.st.CreateUser(ctx, "bob-"+security.RandomToken()[:6]+"@example.com", "h")
		if err != nil {
			t.Fatal(err)
		}
		key := store.Credential{CredentialID: []byte("cred-1"), Data: []byte(`{"id":"cred-1"}`), Name: "Laptop"}
		if _, _, err := f.acct.AddPasskey(ctx, rules.Change{UserID: bob.ID}, key); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.acct.AddPasskey(ctx, f.change(), key); !errkind.Is(err, errkind.Conflict) {
			t.Fatalf("another account's passkey: %v", err)
		}
		first, _, err := f.acct.AddPasskey(ctx, rules.Change{UserID: bob.ID}, key)
		if err != nil || first.Name != "Laptop" || first.Data != nil {
			t.Fatalf("retry: %+v %v", first, err)
		}
	})
	t.Run("case=a chat linked to another account changes nothing", func(t *testing.T) {
		f := newAccount(t)
		g := &accountFixture{t: t, st: f.st, acct: f.acct}
		var err error
		if g.user, err = f.st.CreateUser(ctx, "bob-"+security.RandomToken()[:6]+"@example.com", "h"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.acct.LinkTelegram(ctx, rules.Change{UserID: g.user.ID}, 5151, "bob"); err != nil {
			t.Fatal(err)
		}
		f.notices = nil
		if _, _, err := f.acct.LinkTelegram(ctx, f.change(), 5151, "bob"); !errors.Is(err, rules.ErrChatLinkedElsewhere) {
			t.Fatalf("err %v", err)
		}
		if tf, _ := f.st.TwoFactorSettings(ctx, f.user.ID); tf.TelegramEnabled || len(f.events()) != 0 || len(f.notices) != 0 {
			t.Fatalf("settings %+v events %v", tf, f.events())
		}
	})
}

func TestPasswordAndSessions(t *testing.T) {
	ctx := context.Background()
	t.Run("case=a password change unlocks the account and ends the other sessions", func(t *testing.T) {
		f := newAccount(t)
		f.session()
		for range 25 {
			_, _ = f.st.AddFailure(ctx, rules.ScopeSecondFactor, f.user.ID, time.Now(), rules.DefaultLimits.LockFor)
		}
		res, err := f.acct.ChangePassword(ctx, f.change(), f.user.Email, "new-hash")
		if err != nil || res.SessionsEnded != 1 || f.live() != 1 {
			t.Fatalf("res %+v err %v, %d live", res, err, f.live())
		}
		if st, _ := f.st.GetAttempts(ctx, rules.ScopeSecondFactor, f.user.ID); st.Failures != 0 {
			t.Fatalf("still locked: %+v", st)
		}
		ev := f.events()
		if len(ev["password_changed"]) != 1 || len(ev["sessions_ended"]) != 1 || ev["sessions_ended"][0]["reason"] != "password_changed" {
			t.Fatalf("events %v", ev)
		}
	})
	t.Run("case=a wrong current password counts like a wrong password at login, then is refused", func(t *testing.T) {
		f := newAccount(t)
		for i := range rules.DefaultLimits.FailuresBeforeLock {
			if err := f.acct.CheckPassword(ctx, f.change(), f.user, "wrong"); !errkind.Is(err, errkind.WrongCurrentPassword) {
				t.Fatalf("wrong password %d: %v", i, err)
			}
		}
		if err := f.acct.CheckPassword(ctx, f.change(), f.user, "correct horse"); !errkind.Is(err, errkind.RateLimited) {
			t.Fatalf("locked: %v", err)
		}
		if n := len(f.events()["login_failed"]); n != rules.DefaultLimits.FailuresBeforeLock {
			t.Fatalf("%d login_failed events", n)
		}
	})
	t.Run("case=a recent login needs no password, an old one does", func(t *testing.T) {
		f := newAccount(t)
		now := time.Now().Add(30 * time.Minute)
		f.acct.Now = func() time.Time { return now }
		if err := f.acct.Reauthenticate(ctx, f.change(), now.Add(-10*time.Minute), nil); err != nil {
			t.Fatal(err)
		}
		if err := f.acct.Reauthenticate(ctx, f.change(), now.Add(-20*time.Minute), nil); !errkind.Is(err, errkind.ReauthRequired) {
			t.Fatalf("old login: %v", err)
		}
		pw := "correct horse"
		if err := f.acct.Reauthenticate(ctx, f.change(), now.Add(-20*time.Minute), &pw); err != nil {
			t.Fatal(err)
		}
		if s, _ := f.st.SessionByTokenHash(ctx, f.mine.TokenHash, time.Now()); now.Sub(s.AuthenticatedAt).Abs() > time.Second {
			t.Fatalf("the session was not re-authenticated: %v, want %v", s.AuthenticatedAt, now)
		}
	})
}

func TestReplaceRecoveryCodes(t *testing.T) {
	key := make([]byte, 32)
	t.Run("case=without another factor no codes are made", func(t *testing.T) {
		f := newAccount(t)
		if _, _, err := f.acct.ReplaceRecoveryCodes(t.Context(), f.change(), key); !errkind.Is(err, errkind.Conflict) {
			t.Fatalf("err %v, want Conflict", err)
		}
		if n, _ := f.st.RecoveryCodesLeft(t.Context(), f.user.ID); n != 0 {
			t.Fatalf("%d codes stored", n)
		}
	})
	t.Run("case=with a factor on: ten codes, recorded and told, no session ended", func(t *testing.T) {
		f := newAccount(t)
		ctx := t.Context()
		if _, err := f.acct.EnableEmail(ctx, f.change()); err != nil {
			t.Fatal(err)
		}
		f.session()
		live, told := f.live(), len(f.notices)
		codes, res, err := f.acct.ReplaceRecoveryCodes(ctx, f.change(), key)
		if err != nil || len(codes) != 10 || res.SessionsEnded != 0 || f.live() != live {
			t.Fatalf("codes %v result %+v err %v, live %d → %d", codes, res, err, live, f.live())
		}
		if n, _ := f.st.RecoveryCodesLeft(ctx, f.user.ID); n != 10 || len(f.events()["recovery_codes_created"]) != 1 || len(f.notices) != told+1 {
			t.Fatalf("%d codes left, events %v, %d notices", n, f.events(), len(f.notices))
		}
	})
}
