package storetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/store"
)

func bankCards(t *testing.T, s store.Store, userID string) map[string]store.BankCard {
	t.Helper()
	list, err := s.ListBankCards(t.Context(), userID)
	mustNil(t, err)
	m := map[string]store.BankCard{}
	for _, c := range list {
		m[c.ID] = c
	}
	return m
}

func addCard(t *testing.T, s store.Store, userID, last4 string) store.BankCard {
	t.Helper()
	c, err := s.AddBankCard(t.Context(), userID, "visa", last4)
	mustNil(t, err)
	return c
}

func testAddBankCards(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	a, err := s.AddBankCard(ctx, u.ID, "visa", "4242")
	mustNil(t, err)
	if a.ID == "" || a.UserID != u.ID || a.Brand != "visa" || a.Last4 != "4242" || !a.Linked || a.UnlinkedAt != nil {
		t.Fatalf("AddBankCard = %+v", a)
	}
	near(t, "CreatedAt", a.CreatedAt, time.Now(), time.Minute)
	b := addCard(t, s, u.ID, "4444")
	cards := bankCards(t, s, u.ID)
	if len(cards) != 2 {
		t.Fatalf("ListBankCards = %d cards, want 2", len(cards))
	}
	got := cards[a.ID]
	if got.Brand != "visa" || got.Last4 != "4242" || !got.Linked || got.UnlinkedAt != nil || got.UserID != u.ID {
		t.Errorf("listed card = %+v", got)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, a.CreatedAt)
	if _, ok := cards[b.ID]; !ok {
		t.Error("second card not listed")
	}
	if n := len(bankCards(t, s, other.ID)); n != 0 {
		t.Errorf("another user has %d cards", n)
	}
	_, err = s.AddBankCard(ctx, "no-such-user", "visa", "4242")
	wantErr(t, "AddBankCard(unknown user)", err, store.ErrNotFound)
}

func testUnlinkIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	a, b := addCard(t, s, u.ID, "4242"), addCard(t, s, u.ID, "4444")
	theirs := addCard(t, s, other.ID, "5555")
	t1 := time.Now()

	n, err := s.UnlinkBankCards(ctx, u.ID, "login/flow-1/unlink", t1)
	mustNil(t, err)
	if n != 2 {
		t.Fatalf("UnlinkBankCards = %d, want 2", n)
	}
	cards := bankCards(t, s, u.ID)
	for _, id := range []string{a.ID, b.ID} {
		c := cards[id]
		if c.Linked || c.UnlinkedAt == nil {
			t.Fatalf("card after unlink = %+v", c)
		}
		sameTime(t, "UnlinkedAt", *c.UnlinkedAt, t1)
	}
	if c := bankCards(t, s, other.ID)[theirs.ID]; !c.Linked {
		t.Error("another user's card was unlinked")
	}

	// A card linked after the first call stays linked when the call is
	// repeated with the same key, and the count stays the first one.
	c := addCard(t, s, u.ID, "1111")
	n, err = s.UnlinkBankCards(ctx, u.ID, "login/flow-1/unlink", t1.Add(time.Minute))
	mustNil(t, err)
	if n != 2 {
		t.Errorf("UnlinkBankCards again = %d, want the first count 2", n)
	}
	cards = bankCards(t, s, u.ID)
	if !cards[c.ID].Linked {
		t.Error("the repeated call unlinked a card")
	}
	sameTime(t, "UnlinkedAt after the repeated call", *cards[a.ID].UnlinkedAt, t1)

	n, err = s.UnlinkBankCards(ctx, u.ID, "login/flow-2/unlink", t1.Add(2*time.Minute))
	mustNil(t, err)
	if n != 1 {
		t.Errorf("UnlinkBankCards with a new key = %d, want 1", n)
	}
	if bankCards(t, s, u.ID)[c.ID].Linked {
		t.Error("the new key did not unlink the new card")
	}
}

func testUnlinkConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	for i := range 3 {
		addCard(t, s, u.ID, fmt.Sprintf("000%d", i))
	}
	now := time.Now()
	var wg sync.WaitGroup
	counts := make(chan int, 8)
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			n, err := s.UnlinkBankCards(ctx, u.ID, "login/flow-1/unlink", now)
			counts <- n
			errs <- err
		})
	}
	wg.Wait()
	close(counts)
	close(errs)
	for err := range errs {
		mustNil(t, err)
	}
	for n := range counts {
		if n != 3 {
			t.Errorf("a concurrent call returned %d, want 3", n)
		}
	}
	for _, c := range bankCards(t, s, u.ID) {
		if c.Linked {
			t.Errorf("card %s still linked", c.ID)
		}
	}
}

func testUnlinkKeyOfAnotherUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	addCard(t, s, u.ID, "4242")
	theirs := addCard(t, s, other.ID, "5555")
	now := time.Now()
	_, err := s.UnlinkBankCards(ctx, u.ID, "k", now)
	mustNil(t, err)
	_, err = s.UnlinkBankCards(ctx, other.ID, "k", now)
	wantErr(t, "UnlinkBankCards with another user's key", err, store.ErrConflict)
	if !bankCards(t, s, other.ID)[theirs.ID].Linked {
		t.Error("card unlinked under another user's key")
	}
}

func testUnlinkNoCards(t *testing.T, s store.Store) {
	u := newUser(t, s)
	n, err := s.UnlinkBankCards(t.Context(), u.ID, "k", time.Now())
	mustNil(t, err)
	if n != 0 {
		t.Errorf("UnlinkBankCards = %d, want 0", n)
	}
}

// factors is what a downgrade test sets up on an account.
type factors struct {
	telegram, email, totp bool
	secret                []byte
	passkeys              []store.Credential
}

// setUp switches the given factors on, adds two passkeys, a Telegram account
// and a phone (which downgrades leave alone).
func setUp(t *testing.T, s store.Store, userID string, telegram, email, totp bool) factors {
	t.Helper()
	ctx := t.Context()
	f := factors{telegram: telegram, email: email, totp: totp}
	mustNil(t, s.SetTelegramEnabled(ctx, userID, telegram))
	mustNil(t, s.SetEmailEnabled(ctx, userID, email))
	if totp {
		f.secret = RandomBytes(60)
		mustNil(t, s.SetTOTPSecret(ctx, userID, f.secret, 100))
	}
	f.passkeys = []store.Credential{addCredential(t, s, userID), addCredential(t, s, userID)}
	_, err := s.LinkTelegram(ctx, userID, int64(binary.BigEndian.Uint64(RandomBytes(8))>>1), "tg")
	mustNil(t, err)
	_, err = s.AddPhone(ctx, userID, "+380501234567", true)
	mustNil(t, err)
	return f
}

// checkDowngraded checks every second factor is off and every passkey
// hidden, and that Telegram accounts and phones stayed.
func checkDowngraded(t *testing.T, s store.Store, userID string, f factors) {
	t.Helper()
	ctx := t.Context()
	tf := settings(t, s, userID)
	if tf.TelegramEnabled || tf.EmailEnabled || tf.TOTPEnabled {
		t.Errorf("settings after downgrade = %+v, want every factor off", tf)
	}
	if _, err := s.UseTOTPStep(ctx, userID, 1_000_000, ""); err == nil {
		t.Error("UseTOTPStep succeeded while TOTP is off")
	}
	list, err := s.ListCredentials(ctx, userID)
	mustNil(t, err)
	if len(list) != 0 {
		t.Errorf("ListCredentials after downgrade = %d passkeys, want 0", len(list))
	}
	for _, c := range f.passkeys {
		_, err := s.CredentialByCredentialID(ctx, c.CredentialID)
		wantErr(t, "CredentialByCredentialID of a suspended passkey", err, store.ErrNotFound)
	}
	checkKept(t, s, userID)
}

// checkKept checks the Telegram account and phone setUp added are there.
func checkKept(t *testing.T, s store.Store, userID string) {
	t.Helper()
	ctx := t.Context()
	tg, err := s.ListTelegram(ctx, userID)
	mustNil(t, err)
	phones, err := s.ListPhones(ctx, userID)
	mustNil(t, err)
	if len(tg) != 1 || len(phones) != 1 {
		t.Errorf("telegram accounts %d, phones %d; want both kept", len(tg), len(phones))
	}
}

// checkRestored checks the factors of f are exactly what is on, with the
// TOTP secret, its last used step and the passkeys back.
func checkRestored(t *testing.T, s store.Store, userID string, f factors) {
	t.Helper()
	ctx := t.Context()
	tf := settings(t, s, userID)
	if tf.TelegramEnabled != f.telegram || tf.EmailEnabled != f.email || tf.TOTPEnabled != f.totp {
		t.Errorf("settings after restore = %+v, want telegram %v email %v totp %v", tf, f.telegram, f.email, f.totp)
	}
	if f.totp {
		if !bytes.Equal(tf.TOTPSecretSealed, f.secret) || tf.TOTPLastStep != 100 {
			t.Errorf("TOTP after restore: secret kept %v, last step %d (want 100)",
				bytes.Equal(tf.TOTPSecretSealed, f.secret), tf.TOTPLastStep)
		}
		if useStep(t, s, userID, 100) {
			t.Error("the last used step was accepted again after restore")
		}
	} else if tf.TOTPSecretSealed != nil {
		t.Error("restore brought a TOTP secret to an account that had none")
	}
	list, err := s.ListCredentials(ctx, userID)
	mustNil(t, err)
	sameIDs(t, "passkeys after restore", ids(list, func(c store.Credential) string { return c.ID }),
		ids(f.passkeys, func(c store.Credential) string { return c.ID }))
	for _, c := range f.passkeys {
		_, err := s.CredentialByCredentialID(ctx, c.CredentialID)
		mustNil(t, err)
	}
	checkKept(t, s, userID)
}

func testDisableRestore(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	f := setUp(t, s, u.ID, true, false, true)
	g := setUp(t, s, other.ID, true, true, true)
	mustNil(t, s.DisableTwoFactor(ctx, u.ID, "login/f1/disable", time.Now()))
	checkDowngraded(t, s, u.ID, f)
	checkRestored(t, s, other.ID, g) // untouched
	mustNil(t, s.RestoreTwoFactor(ctx, u.ID, "login/f1/disable"))
	checkRestored(t, s, u.ID, f)
}

func testRestoreExactFlags(t *testing.T, s store.Store) {
	ctx := t.Context()
	for mask := range 8 {
		telegram, email, totp := mask&1 != 0, mask&2 != 0, mask&4 != 0
		u := newUser(t, s)
		f := setUp(t, s, u.ID, telegram, email, totp)
		key := fmt.Sprintf("login/f%d/disable", mask)
		mustNil(t, s.DisableTwoFactor(ctx, u.ID, key, time.Now()))
		checkDowngraded(t, s, u.ID, f)
		mustNil(t, s.RestoreTwoFactor(ctx, u.ID, key))
		checkRestored(t, s, u.ID, f)
	}
}

func testFinishDowngrade(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	f := setUp(t, s, u.ID, true, true, true)
	mustNil(t, s.DisableTwoFactor(ctx, u.ID, "k", time.Now()))
	mustNil(t, s.FinishDowngrade(ctx, u.ID, "k"))
	checkDowngraded(t, s, u.ID, f)
	if tf := settings(t, s, u.ID); tf.TOTPSecretSealed != nil {
		t.Error("TOTP secret kept after FinishDowngrade")
	}
	_, err := s.UseTOTPStep(ctx, u.ID, 1_000_000, "")
	wantErr(t, "UseTOTPStep after FinishDowngrade", err, store.ErrNotFound)

	// Restoring a finished downgrade changes nothing: the secret and the
	// passkeys are gone for good.
	mustNil(t, s.RestoreTwoFactor(ctx, u.ID, "k"))
	checkDowngraded(t, s, u.ID, f)
	if tf := settings(t, s, u.ID); tf.TOTPSecretSealed != nil {
		t.Error("RestoreTwoFactor after FinishDowngrade brought the secret back")
	}
	// The passkeys were deleted, not hidden: their credential ids are free.
	for _, c := range f.passkeys {
		again := newCredential(u.ID)
		again.CredentialID = c.CredentialID
		_, err := s.AddCredential(ctx, again)
		mustNil(t, err)
	}
}

func testDowngradeIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	f := setUp(t, s, u.ID, true, false, true)
	mustNil(t, s.DisableTwoFactor(ctx, u.ID, "k", time.Now()))

	// The user turns email on; disabling again with the same key changes
	// nothing more.
	mustNil(t, s.SetEmailEnabled(ctx, u.ID, true))
	mustNil(t, s.DisableTwoFactor(ctx, u.ID, "k", time.Now()))
	if tf := settings(t, s, u.ID); !tf.EmailEnabled {
		t.Error("a repeated DisableTwoFactor turned email off again")
	}
	mustNil(t, s.SetEmailEnabled(ctx, u.ID, false))

	mustNil(t, s.RestoreTwoFactor(ctx, u.ID, "k"))
	checkRestored(t, s, u.ID, f)
	// The user turns Telegram off; restoring again changes nothing.
	mustNil(t, s.SetTelegramEnabled(ctx, u.ID, false))
	mustNil(t, s.RestoreTwoFactor(ctx, u.ID, "k"))
	if tf := settings(t, s, u.ID); tf.TelegramEnabled {
		t.Error("a repeated RestoreTwoFactor turned Telegram on again")
	}
	mustNil(t, s.SetTelegramEnabled(ctx, u.ID, true))

	// Finishing a restored downgrade changes nothing either.
	mustNil(t, s.FinishDowngrade(ctx, u.ID, "k"))
	checkRestored(t, s, u.ID, f)

	// Finish twice: the second call leaves a passkey added since alone.
	v := newUser(t, s)
	g := setUp(t, s, v.ID, false, true, false)
	mustNil(t, s.DisableTwoFactor(ctx, v.ID, "k2", time.Now()))
	mustNil(t, s.FinishDowngrade(ctx, v.ID, "k2"))
	checkDowngraded(t, s, v.ID, g)
	c := addCredential(t, s, v.ID)
	mustNil(t, s.FinishDowngrade(ctx, v.ID, "k2"))
	mustNil(t, s.DisableTwoFactor(ctx, v.ID, "k2", time.Now()))
	list, err := s.ListCredentials(ctx, v.ID)
	mustNil(t, err)
	sameIDs(t, "passkeys after repeated calls", ids(list, func(c store.Credential) string { return c.ID }), []string{c.ID})
}

func testDowngradeUnknownKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	f := setUp(t, s, u.ID, true, true, true)
	mustNil(t, s.RestoreTwoFactor(ctx, u.ID, "never-disabled"))
	mustNil(t, s.FinishDowngrade(ctx, u.ID, "never-disabled"))
	checkRestored(t, s, u.ID, f)
	v := newUser(t, s) // no settings at all
	mustNil(t, s.RestoreTwoFactor(ctx, v.ID, "never-disabled"))
	mustNil(t, s.FinishDowngrade(ctx, v.ID, "never-disabled"))
	if tf := settings(t, s, v.ID); !zeroSettings(tf) {
		t.Errorf("settings = %+v, want zero", tf)
	}
	mustNil(t, s.RestoreTwoFactor(ctx, "no-such-user", "never-disabled"))
	mustNil(t, s.FinishDowngrade(ctx, "no-such-user", "never-disabled"))
}

func testDowngradeKeyOfAnotherUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	f := setUp(t, s, u.ID, true, true, true)
	g := setUp(t, s, other.ID, true, false, true)
	mustNil(t, s.DisableTwoFactor(ctx, u.ID, "k", time.Now()))
	err := s.DisableTwoFactor(ctx, other.ID, "k", time.Now())
	wantErr(t, "DisableTwoFactor with another user's key", err, store.ErrConflict)
	checkRestored(t, s, other.ID, g)
	// Restore and finish with another user's key touch nothing of either.
	mustNil(t, s.RestoreTwoFactor(ctx, other.ID, "k"))
	mustNil(t, s.FinishDowngrade(ctx, other.ID, "k"))
	checkDowngraded(t, s, u.ID, f)
	checkRestored(t, s, other.ID, g)
	mustNil(t, s.RestoreTwoFactor(ctx, u.ID, "k"))
	checkRestored(t, s, u.ID, f)
}

func testDowngradeConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	f := setUp(t, s, u.ID, true, true, true)
	run := func(calls ...func() error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, len(calls))
		for _, call := range calls {
			wg.Go(func() { errs <- call() })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			mustNil(t, err)
		}
	}
	disable := func() error { return s.DisableTwoFactor(ctx, u.ID, "k", time.Now()) }
	run(disable, disable, disable, disable, disable, disable, disable, disable)
	checkDowngraded(t, s, u.ID, f)
	restore := func() error { return s.RestoreTwoFactor(ctx, u.ID, "k") }
	finish := func() error { return s.FinishDowngrade(ctx, u.ID, "k") }
	run(restore, finish, restore, finish, restore, finish)
	// One of them won; the account is either fully restored or fully
	// downgraded, never half.
	tf := settings(t, s, u.ID)
	if tf.TOTPEnabled {
		checkRestored(t, s, u.ID, f)
	} else {
		checkDowngraded(t, s, u.ID, f)
		if tf.TOTPSecretSealed != nil {
			t.Error("finished downgrade kept the TOTP secret")
		}
	}
}

func testDisableUnknownUser(t *testing.T, s store.Store) {
	err := s.DisableTwoFactor(t.Context(), "no-such-user", "k", time.Now())
	wantErr(t, "DisableTwoFactor", err, store.ErrNotFound)
	if errors.Is(err, store.ErrConflict) {
		t.Error("unknown user reported as conflict")
	}
}
