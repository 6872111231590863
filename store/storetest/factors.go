package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/store"
)

func settings(t *testing.T, s store.Store, userID string) store.TwoFactorSettings {
	t.Helper()
	tf, err := s.TwoFactorSettings(t.Context(), userID)
	mustNil(t, err)
	return tf
}

func testTwoFactorDefaults(t *testing.T, s store.Store) {
	u := newUser(t, s)
	if tf := settings(t, s, u.ID); !zeroSettings(tf) {
		t.Errorf("TwoFactorSettings of a new user = %+v, want zero", tf)
	}
}

func zeroSettings(tf store.TwoFactorSettings) bool {
	return !tf.TelegramEnabled && !tf.EmailEnabled && !tf.TOTPEnabled && tf.TOTPSecretSealed == nil && tf.TOTPLastStep == 0
}

func testSetSwitches(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	mustNil(t, s.SetTelegramEnabled(ctx, u.ID, true))
	mustNil(t, s.SetEmailEnabled(ctx, u.ID, true))
	tf := settings(t, s, u.ID)
	if !tf.TelegramEnabled || !tf.EmailEnabled || tf.TOTPEnabled {
		t.Errorf("after enabling telegram and email: %+v", tf)
	}
	mustNil(t, s.SetTelegramEnabled(ctx, u.ID, false))
	tf = settings(t, s, u.ID)
	if tf.TelegramEnabled || !tf.EmailEnabled {
		t.Errorf("after disabling telegram: %+v", tf)
	}
	mustNil(t, s.SetEmailEnabled(ctx, u.ID, false))
	if tf := settings(t, s, u.ID); !zeroSettings(tf) {
		t.Errorf("after disabling both: %+v", tf)
	}
	if tf := settings(t, s, other.ID); !zeroSettings(tf) {
		t.Errorf("another user's settings changed: %+v", tf)
	}
}

func testSwitchesUnknownUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	wantErr(t, "SetTelegramEnabled", s.SetTelegramEnabled(ctx, "no-such-user", true), store.ErrNotFound)
	wantErr(t, "SetEmailEnabled", s.SetEmailEnabled(ctx, "no-such-user", true), store.ErrNotFound)
	wantErr(t, "SetTOTPSecret", s.SetTOTPSecret(ctx, "no-such-user", []byte("sealed"), 1), store.ErrNotFound)
}

func testSetTOTPSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	mustNil(t, s.SetEmailEnabled(ctx, u.ID, true))
	sealed := RandomBytes(60)
	mustNil(t, s.SetTOTPSecret(ctx, u.ID, sealed, 57_000_000))
	tf := settings(t, s, u.ID)
	if !tf.TOTPEnabled || !bytes.Equal(tf.TOTPSecretSealed, sealed) || tf.TOTPLastStep != 57_000_000 || !tf.EmailEnabled {
		t.Errorf("after SetTOTPSecret: %+v", tf)
	}
	sealed2 := RandomBytes(60)
	mustNil(t, s.SetTOTPSecret(ctx, u.ID, sealed2, 57_000_100))
	tf = settings(t, s, u.ID)
	if !tf.TOTPEnabled || !bytes.Equal(tf.TOTPSecretSealed, sealed2) || tf.TOTPLastStep != 57_000_100 {
		t.Errorf("after replacing the secret: %+v", tf)
	}
}

func testDeleteTOTPSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	mustNil(t, s.SetTelegramEnabled(ctx, u.ID, true))
	mustNil(t, s.SetTOTPSecret(ctx, u.ID, RandomBytes(60), 100))
	mustNil(t, s.DeleteTOTPSecret(ctx, u.ID))
	tf := settings(t, s, u.ID)
	if tf.TOTPEnabled || tf.TOTPSecretSealed != nil || !tf.TelegramEnabled {
		t.Errorf("after DeleteTOTPSecret: %+v", tf)
	}
	_, err := s.UseTOTPStep(ctx, u.ID, 200, "k")
	wantErr(t, "UseTOTPStep after delete", err, store.ErrNotFound)
	mustNil(t, s.DeleteTOTPSecret(ctx, u.ID))
}

func useStep(t *testing.T, s store.Store, userID string, step int64) bool {
	t.Helper()
	ok, err := s.UseTOTPStep(t.Context(), userID, step, "")
	mustNil(t, err)
	return ok
}

func testTOTPReplay(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	mustNil(t, s.SetTOTPSecret(ctx, u.ID, RandomBytes(60), 100))
	mustNil(t, s.SetTOTPSecret(ctx, other.ID, RandomBytes(60), 100))
	for _, c := range []struct {
		step int64
		want bool
	}{
		{100, false}, // the confirming code's step is used up
		{99, false},
		{101, true},
		{101, false}, // replay
		{100, false},
		{103, true},
		{102, false}, // earlier than the last used
	} {
		if got := useStep(t, s, u.ID, c.step); got != c.want {
			t.Errorf("UseTOTPStep(%d) = %v, want %v", c.step, got, c.want)
		}
	}
	if tf := settings(t, s, u.ID); tf.TOTPLastStep != 103 {
		t.Errorf("TOTPLastStep = %d, want 103", tf.TOTPLastStep)
	}
	if !useStep(t, s, other.ID, 101) {
		t.Error("another user's step 101 was rejected")
	}
}

// testTOTPSameAnswerAgain: the answer that used a step, checked again
// under its own key (its workflow task retried after a worker died), is
// accepted again; any other answer with that step is still a replay, and
// once a later step is used the key opens nothing.
func testTOTPSameAnswerAgain(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	mustNil(t, s.SetTOTPSecret(ctx, u.ID, RandomBytes(60), 100))
	use := func(step int64, key string) bool {
		t.Helper()
		ok, err := s.UseTOTPStep(ctx, u.ID, step, key)
		mustNil(t, err)
		return ok
	}
	if use(100, "") {
		t.Fatal("the confirming step with an empty key was accepted")
	}
	if !use(101, "login/f1/run/3") {
		t.Fatal("a fresh step was refused")
	}
	if !use(101, "login/f1/run/3") {
		t.Fatal("the same answer again was refused: a retried workflow task would see its own code as used")
	}
	for _, key := range []string{"login/f2/run/3", "", "login/f1/run/4"} {
		if use(101, key) {
			t.Fatalf("step 101 accepted again for another answer %q", key)
		}
	}
	if !use(102, "login/f3/run/1") || use(101, "login/f1/run/3") {
		t.Fatal("after a later step, the old answer's key must open nothing")
	}
	// A new secret forgets the key.
	mustNil(t, s.SetTOTPSecret(ctx, u.ID, RandomBytes(60), 102))
	if use(102, "login/f3/run/1") {
		t.Fatal("the key survived a new secret")
	}
}

func testTOTPConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	mustNil(t, s.SetTOTPSecret(ctx, u.ID, RandomBytes(60), 1000))
	for round := range int64(5) {
		step := 1001 + round
		var wg sync.WaitGroup
		results := make(chan error, 16)
		accepted := make(chan bool, 16)
		for i := range 16 {
			wg.Go(func() {
				ok, err := s.UseTOTPStep(ctx, u.ID, step, fmt.Sprintf("flow-%d/answer", i))
				results <- err
				accepted <- ok
			})
		}
		wg.Wait()
		close(results)
		close(accepted)
		for err := range results {
			mustNil(t, err)
		}
		n := 0
		for ok := range accepted {
			if ok {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("step %d accepted %d times by 16 concurrent calls, want exactly once", step, n)
		}
	}
}

func testTOTPWithoutSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	_, err := s.UseTOTPStep(ctx, u.ID, 100, "k")
	wantErr(t, "UseTOTPStep without a secret", err, store.ErrNotFound)
	mustNil(t, s.SetEmailEnabled(ctx, u.ID, true))
	_, err = s.UseTOTPStep(ctx, u.ID, 100, "k")
	wantErr(t, "UseTOTPStep with settings but no secret", err, store.ErrNotFound)
	_, err = s.UseTOTPStep(ctx, "no-such-user", 100, "")
	wantErr(t, "UseTOTPStep of an unknown user", err, store.ErrNotFound)
}

func sameTelegram(t *testing.T, what string, got, want store.TelegramAccount) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.ChatID != want.ChatID || got.Username != want.Username {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	sameTime(t, what+".LinkedAt", got.LinkedAt, want.LinkedAt)
}

func testLinkTelegram(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	a, err := s.LinkTelegram(ctx, u.ID, 5_000_000_001, "alice")
	mustNil(t, err)
	if a.ID == "" || a.UserID != u.ID || a.ChatID != 5_000_000_001 || a.Username != "alice" {
		t.Fatalf("LinkTelegram = %+v", a)
	}
	near(t, "LinkedAt", a.LinkedAt, time.Now(), time.Minute)
	got, err := s.TelegramByChatID(ctx, 5_000_000_001)
	mustNil(t, err)
	sameTelegram(t, "TelegramByChatID", got, a)
	b, err := s.LinkTelegram(ctx, u.ID, -100200300, "")
	mustNil(t, err)
	list, err := s.ListTelegram(ctx, u.ID)
	mustNil(t, err)
	sameIDs(t, "ListTelegram", ids(list, func(x store.TelegramAccount) string { return x.ID }), []string{a.ID, b.ID})
	_, err = s.TelegramByChatID(ctx, 42)
	wantErr(t, "TelegramByChatID(unlinked)", err, store.ErrNotFound)
}

func testRelinkTelegram(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	a, err := s.LinkTelegram(ctx, u.ID, 1001, "alice")
	mustNil(t, err)
	again, err := s.LinkTelegram(ctx, u.ID, 1001, "alice")
	mustNil(t, err)
	sameTelegram(t, "LinkTelegram again", again, a)
	list, err := s.ListTelegram(ctx, u.ID)
	mustNil(t, err)
	if len(list) != 1 {
		t.Errorf("ListTelegram = %d links, want 1", len(list))
	}
}

func testTelegramConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	a, err := s.LinkTelegram(ctx, u.ID, 1001, "alice")
	mustNil(t, err)
	_, err = s.LinkTelegram(ctx, other.ID, 1001, "mallory")
	wantErr(t, "LinkTelegram by another user", err, store.ErrConflict)
	got, err := s.TelegramByChatID(ctx, 1001)
	mustNil(t, err)
	sameTelegram(t, "TelegramByChatID", got, a)
	list, err := s.ListTelegram(ctx, other.ID)
	mustNil(t, err)
	if len(list) != 0 {
		t.Errorf("the refused user has %d links", len(list))
	}
}

func testTelegramConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	users := make([]store.User, 8)
	for i := range users {
		users[i] = newUser(t, s)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		linked  []string
		unknown []error
	)
	for _, u := range users {
		wg.Go(func() {
			_, err := s.LinkTelegram(ctx, u.ID, 7007, "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				linked = append(linked, u.ID)
			case !errors.Is(err, store.ErrConflict):
				unknown = append(unknown, err)
			}
		})
	}
	wg.Wait()
	for _, err := range unknown {
		t.Error(err)
	}
	if len(linked) != 1 {
		t.Fatalf("%d users linked the chat, want exactly 1", len(linked))
	}
	got, err := s.TelegramByChatID(ctx, 7007)
	mustNil(t, err)
	if got.UserID != linked[0] {
		t.Errorf("chat belongs to %s, want the winner %s", got.UserID, linked[0])
	}
}

func testUnlinkTelegram(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	a, err := s.LinkTelegram(ctx, u.ID, 1001, "alice")
	mustNil(t, err)
	wantErr(t, "UnlinkTelegram by another user", s.UnlinkTelegram(ctx, other.ID, a.ID), store.ErrNotFound)
	_, err = s.TelegramByChatID(ctx, 1001)
	mustNil(t, err)
	mustNil(t, s.UnlinkTelegram(ctx, u.ID, a.ID))
	_, err = s.TelegramByChatID(ctx, 1001)
	wantErr(t, "TelegramByChatID after unlink", err, store.ErrNotFound)
	wantErr(t, "UnlinkTelegram again", s.UnlinkTelegram(ctx, u.ID, a.ID), store.ErrNotFound)
	_, err = s.LinkTelegram(ctx, other.ID, 1001, "bob")
	mustNil(t, err)
}

func testTelegramUnknownUser(t *testing.T, s store.Store) {
	_, err := s.LinkTelegram(t.Context(), "no-such-user", 1001, "x")
	wantErr(t, "LinkTelegram", err, store.ErrNotFound)
}

func newCredential(userID string) store.Credential {
	return store.Credential{
		UserID:       userID,
		CredentialID: RandomBytes(32),
		Data:         []byte(`{"id":"x","publicKey":"cHVi","authenticator":{"signCount":7}}`),
		Name:         "Laptop",
		Passwordless: true,
		SignCount:    7,
	}
}

func addCredential(t *testing.T, s store.Store, userID string) store.Credential {
	t.Helper()
	c, err := s.AddCredential(t.Context(), newCredential(userID))
	mustNil(t, err)
	return c
}

func sameCredential(t *testing.T, what string, got, want store.Credential) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || !bytes.Equal(got.CredentialID, want.CredentialID) ||
		!bytes.Equal(got.Data, want.Data) || got.Name != want.Name || got.Passwordless != want.Passwordless ||
		got.SignCount != want.SignCount || got.CloneWarning != want.CloneWarning ||
		(got.LastUsedAt == nil) != (want.LastUsedAt == nil) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
		return
	}
	sameTime(t, what+".CreatedAt", got.CreatedAt, want.CreatedAt)
	if got.LastUsedAt != nil {
		sameTime(t, what+".LastUsedAt", *got.LastUsedAt, *want.LastUsedAt)
	}
}

func testAddCredential(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	in := newCredential(u.ID)
	c, err := s.AddCredential(ctx, in)
	mustNil(t, err)
	if c.ID == "" || c.LastUsedAt != nil {
		t.Fatalf("AddCredential = %+v", c)
	}
	near(t, "CreatedAt", c.CreatedAt, time.Now(), time.Minute)
	in.ID, in.CreatedAt = c.ID, c.CreatedAt
	sameCredential(t, "AddCredential", c, in)
	got, err := s.CredentialByCredentialID(ctx, in.CredentialID)
	mustNil(t, err)
	sameCredential(t, "CredentialByCredentialID", got, in)
	c2 := addCredential(t, s, u.ID)
	list, err := s.ListCredentials(ctx, u.ID)
	mustNil(t, err)
	sameIDs(t, "ListCredentials", ids(list, func(x store.Credential) string { return x.ID }), []string{c.ID, c2.ID})
	_, err = s.CredentialByCredentialID(ctx, RandomBytes(32))
	wantErr(t, "CredentialByCredentialID(unknown)", err, store.ErrNotFound)
}

func testCredentialIDTaken(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	c := addCredential(t, s, u.ID)
	dup := newCredential(other.ID)
	dup.CredentialID = c.CredentialID
	_, err := s.AddCredential(ctx, dup)
	wantErr(t, "AddCredential on another account", err, store.ErrConflict)
	dup.UserID = u.ID
	_, err = s.AddCredential(ctx, dup)
	wantErr(t, "AddCredential twice", err, store.ErrConflict)
	list, err := s.ListCredentials(ctx, other.ID)
	mustNil(t, err)
	if len(list) != 0 {
		t.Errorf("the refused account has %d passkeys", len(list))
	}
}

func testUpdateCredentialUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	c := addCredential(t, s, u.ID)
	at := time.Now().Add(time.Minute)
	data := []byte(`{"id":"x","authenticator":{"signCount":42,"cloneWarning":true}}`)
	mustNil(t, s.UpdateCredentialUse(ctx, c.ID, data, 42, true, at))
	got, err := s.CredentialByCredentialID(ctx, c.CredentialID)
	mustNil(t, err)
	want := c
	want.Data, want.SignCount, want.CloneWarning, want.LastUsedAt = data, 42, true, &at
	sameCredential(t, "after UpdateCredentialUse", got, want)
	mustNil(t, s.UpdateCredentialUse(ctx, c.ID, data, 4_000_000_000, false, at))
	got, err = s.CredentialByCredentialID(ctx, c.CredentialID)
	mustNil(t, err)
	if got.SignCount != 4_000_000_000 {
		t.Errorf("SignCount = %d, want 4000000000 (uint32 range)", got.SignCount)
	}
	wantErr(t, "UpdateCredentialUse(unknown)",
		s.UpdateCredentialUse(ctx, "no-such-credential", data, 1, false, at), store.ErrNotFound)
}

func testSetPasswordless(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	c := addCredential(t, s, u.ID) // passwordless
	wantErr(t, "SetCredentialPasswordless by another user",
		s.SetCredentialPasswordless(ctx, other.ID, c.ID, false), store.ErrNotFound)
	got, err := s.CredentialByCredentialID(ctx, c.CredentialID)
	mustNil(t, err)
	if !got.Passwordless {
		t.Fatal("another user switched passwordless off")
	}
	mustNil(t, s.SetCredentialPasswordless(ctx, u.ID, c.ID, false))
	got, err = s.CredentialByCredentialID(ctx, c.CredentialID)
	mustNil(t, err)
	if got.Passwordless {
		t.Error("Passwordless still on")
	}
	mustNil(t, s.SetCredentialPasswordless(ctx, u.ID, c.ID, true))
	got, err = s.CredentialByCredentialID(ctx, c.CredentialID)
	mustNil(t, err)
	if !got.Passwordless {
		t.Error("Passwordless still off")
	}
	wantErr(t, "SetCredentialPasswordless(unknown)",
		s.SetCredentialPasswordless(ctx, u.ID, "no-such-credential", true), store.ErrNotFound)
}

func testDeleteCredential(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	c := addCredential(t, s, u.ID)
	wantErr(t, "DeleteCredential by another user", s.DeleteCredential(ctx, other.ID, c.ID), store.ErrNotFound)
	_, err := s.CredentialByCredentialID(ctx, c.CredentialID)
	mustNil(t, err)
	mustNil(t, s.DeleteCredential(ctx, u.ID, c.ID))
	_, err = s.CredentialByCredentialID(ctx, c.CredentialID)
	wantErr(t, "CredentialByCredentialID after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteCredential again", s.DeleteCredential(ctx, u.ID, c.ID), store.ErrNotFound)
}

func testCredentialUnknownUser(t *testing.T, s store.Store) {
	_, err := s.AddCredential(t.Context(), newCredential("no-such-user"))
	wantErr(t, "AddCredential", err, store.ErrNotFound)
}

func samePhone(t *testing.T, what string, got, want store.Phone) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || got.Number != want.Number || got.Verified != want.Verified {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	sameTime(t, what+".CreatedAt", got.CreatedAt, want.CreatedAt)
}

func testAddPhone(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p, err := s.AddPhone(ctx, u.ID, "+380501234567", true)
	mustNil(t, err)
	if p.ID == "" || p.UserID != u.ID || p.Number != "+380501234567" || !p.Verified {
		t.Fatalf("AddPhone = %+v", p)
	}
	near(t, "CreatedAt", p.CreatedAt, time.Now(), time.Minute)
	got, err := s.Phone(ctx, u.ID, p.ID)
	mustNil(t, err)
	samePhone(t, "Phone", got, p)
	q, err := s.AddPhone(ctx, u.ID, "+14155550123", false)
	mustNil(t, err)
	list, err := s.ListPhones(ctx, u.ID)
	mustNil(t, err)
	sameIDs(t, "ListPhones", ids(list, func(x store.Phone) string { return x.ID }), []string{p.ID, q.ID})
	for _, x := range list {
		if x.ID == q.ID && x.Verified {
			t.Error("unverified phone listed as verified")
		}
	}
}

func testPhoneTwice(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	_, err := s.AddPhone(ctx, u.ID, "+380501234567", true)
	mustNil(t, err)
	_, err = s.AddPhone(ctx, u.ID, "+380501234567", false)
	wantErr(t, "AddPhone twice", err, store.ErrConflict)
	_, err = s.AddPhone(ctx, other.ID, "+380501234567", true)
	mustNil(t, err) // the same number may belong to several accounts
}

func testPhoneOfAnotherUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	p, err := s.AddPhone(ctx, u.ID, "+380501234567", true)
	mustNil(t, err)
	_, err = s.Phone(ctx, other.ID, p.ID)
	wantErr(t, "Phone of another user", err, store.ErrNotFound)
	wantErr(t, "DeletePhone by another user", s.DeletePhone(ctx, other.ID, p.ID), store.ErrNotFound)
	_, err = s.Phone(ctx, u.ID, p.ID)
	mustNil(t, err)
	list, err := s.ListPhones(ctx, other.ID)
	mustNil(t, err)
	if len(list) != 0 {
		t.Errorf("ListPhones of another user = %d phones", len(list))
	}
}

func testDeletePhone(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	p, err := s.AddPhone(ctx, u.ID, "+380501234567", true)
	mustNil(t, err)
	mustNil(t, s.DeletePhone(ctx, u.ID, p.ID))
	_, err = s.Phone(ctx, u.ID, p.ID)
	wantErr(t, "Phone after delete", err, store.ErrNotFound)
	wantErr(t, "DeletePhone again", s.DeletePhone(ctx, u.ID, p.ID), store.ErrNotFound)
	list, err := s.ListPhones(ctx, u.ID)
	mustNil(t, err)
	if len(list) != 0 {
		t.Errorf("ListPhones after delete = %d phones", len(list))
	}
}

func testPhoneUnknownUser(t *testing.T, s store.Store) {
	_, err := s.AddPhone(t.Context(), "no-such-user", "+380501234567", true)
	wantErr(t, "AddPhone", err, store.ErrNotFound)
}

// sameSecondFactors: SecondFactors says what the five calls it replaces say.
func sameSecondFactors(t *testing.T, s store.Store, userID, scope string) store.SecondFactors {
	t.Helper()
	ctx := t.Context()
	got, err := s.SecondFactors(ctx, userID, scope)
	mustNil(t, err)
	tf, err := s.TwoFactorSettings(ctx, userID)
	mustNil(t, err)
	creds, err := s.ListCredentials(ctx, userID)
	mustNil(t, err)
	codes, err := s.RecoveryCodesLeft(ctx, userID)
	mustNil(t, err)
	phones, err := s.ListPhones(ctx, userID)
	mustNil(t, err)
	counter, err := s.GetAttempts(ctx, scope, userID)
	mustNil(t, err)
	if got.TwoFactor.TelegramEnabled != tf.TelegramEnabled || got.TwoFactor.EmailEnabled != tf.EmailEnabled ||
		got.TwoFactor.TOTPEnabled != tf.TOTPEnabled || !bytes.Equal(got.TwoFactor.TOTPSecretSealed, tf.TOTPSecretSealed) ||
		(got.TwoFactor.TOTPSecretSealed == nil) != (tf.TOTPSecretSealed == nil) || got.TwoFactor.TOTPLastStep != tf.TOTPLastStep {
		t.Errorf("SecondFactors.TwoFactor = %+v, TwoFactorSettings = %+v", got.TwoFactor, tf)
	}
	if got.Passkeys != len(creds) || got.RecoveryCodesLeft != codes {
		t.Errorf("SecondFactors: %d passkeys, %d recovery codes; the calls: %d, %d", got.Passkeys, got.RecoveryCodesLeft, len(creds), codes)
	}
	if got.Counter.Failures != counter.Failures {
		t.Errorf("SecondFactors.Counter = %+v, GetAttempts = %+v", got.Counter, counter)
	}
	sameTime(t, "SecondFactors.Counter.LockedUntil", got.Counter.LockedUntil, counter.LockedUntil)
	if len(got.Phones) != len(phones) {
		t.Fatalf("SecondFactors: %d phones, ListPhones %d", len(got.Phones), len(phones))
	}
	for i := range phones {
		samePhone(t, fmt.Sprintf("SecondFactors.Phones[%d]", i), got.Phones[i], phones[i])
	}
	return got
}

func testSecondFactors(t *testing.T, s store.Store) {
	ctx := t.Context()
	const scope = "2fa"
	u, other := newUser(t, s), newUser(t, s)

	// Nothing set: zero, and the same for an unknown user.
	if got := sameSecondFactors(t, s, u.ID, scope); !zeroSettings(got.TwoFactor) || got.Passkeys != 0 ||
		got.RecoveryCodesLeft != 0 || got.Phones != nil || got.Counter != (store.AttemptState{}) {
		t.Errorf("a new user's second factors = %+v, want zero", got)
	}
	if got, err := s.SecondFactors(ctx, "no-such-user", scope); err != nil || !zeroSettings(got.TwoFactor) || got.Phones != nil {
		t.Errorf("an unknown user's second factors = %+v, %v; want zero", got, err)
	}

	// Everything set, the other account too (it must not leak in).
	for _, id := range []string{u.ID, other.ID} {
		mustNil(t, s.SetEmailEnabled(ctx, id, true))
		mustNil(t, s.SetTOTPSecret(ctx, id, []byte("sealed-"+id), 7))
		addCredential(t, s, id)
		mustNil(t, s.ReplaceRecoveryCodes(ctx, id, [][]byte{[]byte("h1-" + id), []byte("h2-" + id), []byte("h3-" + id)}, time.Now()))
		_, err := s.AddPhone(ctx, id, "+380501234567", true)
		mustNil(t, err)
	}
	mustNil(t, s.SetTelegramEnabled(ctx, u.ID, true))
	addCredential(t, s, u.ID)
	used, err := s.UseRecoveryCode(ctx, u.ID, []byte("h2-"+u.ID), time.Now())
	mustNil(t, err)
	if !used {
		t.Fatal("a recovery code was not used")
	}
	_, err = s.AddPhone(ctx, u.ID, "+14155550123", false)
	mustNil(t, err)
	for range 2 {
		_, err := s.AddFailure(ctx, scope, u.ID, time.Now(), func(int) time.Duration { return time.Hour })
		mustNil(t, err)
	}
	_, err = s.AddFailure(ctx, "password", u.ID, time.Now(), nil) // another scope: not this counter
	mustNil(t, err)
	got := sameSecondFactors(t, s, u.ID, scope)
	if !got.TwoFactor.TelegramEnabled || !got.TwoFactor.EmailEnabled || !got.TwoFactor.TOTPEnabled ||
		string(got.TwoFactor.TOTPSecretSealed) != "sealed-"+u.ID || got.TwoFactor.TOTPLastStep != 7 ||
		got.Passkeys != 2 || got.RecoveryCodesLeft != 2 || len(got.Phones) != 2 || got.Phones[1].Verified ||
		got.Counter.Failures != 2 || got.Counter.LockedUntil.IsZero() {
		t.Errorf("second factors = %+v", got)
	}

	// A downgrade suspends the passkeys and the recovery codes.
	mustNil(t, s.DisableTwoFactor(ctx, u.ID, "downgrade-"+u.ID, time.Now()))
	if got := sameSecondFactors(t, s, u.ID, scope); got.Passkeys != 0 || got.RecoveryCodesLeft != 0 || len(got.Phones) != 2 {
		t.Errorf("after a downgrade: %+v", got)
	}
	sameSecondFactors(t, s, other.ID, scope)
}
