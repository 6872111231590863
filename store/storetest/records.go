package storetest

import (
	"bytes"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/store"
)

func testAttemptsZero(t *testing.T, s store.Store) {
	a, err := s.GetAttempts(t.Context(), "2fa", "no-such-key")
	mustNil(t, err)
	if a.Failures != 0 || !a.LockedUntil.IsZero() {
		t.Errorf("GetAttempts = %+v, want zero", a)
	}
}

func testAddFailure(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	var asked []int
	lockFor := func(failures int) time.Duration {
		asked = append(asked, failures)
		return lockAfter(3)(failures)
	}
	for i, want := range []struct {
		failures int
		locked   time.Duration // from now; 0 = not locked
	}{{1, 0}, {2, 0}, {3, 3 * time.Minute}} {
		a, err := s.AddFailure(ctx, "2fa", "user-1", now, lockFor)
		mustNil(t, err)
		if a.Failures != want.failures {
			t.Fatalf("failure %d: Failures = %d, want %d", i+1, a.Failures, want.failures)
		}
		if want.locked == 0 {
			if !a.LockedUntil.IsZero() {
				t.Errorf("failure %d: LockedUntil = %v, want not locked", i+1, a.LockedUntil)
			}
		} else {
			sameTime(t, "LockedUntil", a.LockedUntil, now.Add(want.locked))
		}
	}
	got, err := s.GetAttempts(ctx, "2fa", "user-1")
	mustNil(t, err)
	if got.Failures != 3 {
		t.Errorf("GetAttempts.Failures = %d, want 3", got.Failures)
	}
	sameTime(t, "GetAttempts.LockedUntil", got.LockedUntil, now.Add(3*time.Minute))

	later := now.Add(5 * time.Minute)
	a, err := s.AddFailure(ctx, "2fa", "user-1", later, lockFor)
	mustNil(t, err)
	if a.Failures != 4 {
		t.Errorf("Failures = %d, want 4", a.Failures)
	}
	sameTime(t, "LockedUntil after the 4th failure", a.LockedUntil, later.Add(4*time.Minute))
	if !slices.Equal(asked, []int{1, 2, 3, 4}) {
		t.Errorf("lockFor was asked for %v, want [1 2 3 4]", asked)
	}

	a, err = s.AddFailure(ctx, "2fa", "user-2", now, nil)
	mustNil(t, err)
	if a.Failures != 1 || !a.LockedUntil.IsZero() {
		t.Errorf("AddFailure with a nil lockFor = %+v", a)
	}
}

func testResetAttempts(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	for range 3 {
		_, err := s.AddFailure(ctx, "password", "user-1", now, lockAfter(2))
		mustNil(t, err)
	}
	mustNil(t, s.ResetAttempts(ctx, "password", "user-1"))
	a, err := s.GetAttempts(ctx, "password", "user-1")
	mustNil(t, err)
	if a.Failures != 0 || !a.LockedUntil.IsZero() {
		t.Errorf("GetAttempts after reset = %+v, want zero", a)
	}
	a, err = s.AddFailure(ctx, "password", "user-1", now, lockAfter(2))
	mustNil(t, err)
	if a.Failures != 1 || !a.LockedUntil.IsZero() {
		t.Errorf("AddFailure after reset = %+v, want 1 failure, not locked", a)
	}
	mustNil(t, s.ResetAttempts(ctx, "password", "never-failed"))
}

func testAttemptsSeparate(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	add := func(scope, key string, times int) {
		for range times {
			_, err := s.AddFailure(ctx, scope, key, now, nil)
			mustNil(t, err)
		}
	}
	add("password", "user-1", 1)
	add("password_ip", "user-1", 2)
	add("password", "user-2", 3)
	add("2fa", "user-1", 4)
	for _, c := range []struct {
		scope, key string
		want       int
	}{{"password", "user-1", 1}, {"password_ip", "user-1", 2}, {"password", "user-2", 3}, {"2fa", "user-1", 4}} {
		a, err := s.GetAttempts(ctx, c.scope, c.key)
		mustNil(t, err)
		if a.Failures != c.want {
			t.Errorf("GetAttempts(%s, %s).Failures = %d, want %d", c.scope, c.key, a.Failures, c.want)
		}
	}
	mustNil(t, s.ResetAttempts(ctx, "password", "user-1"))
	a, err := s.GetAttempts(ctx, "password_ip", "user-1")
	mustNil(t, err)
	if a.Failures != 2 {
		t.Errorf("reset of one scope changed another: %+v", a)
	}
}

func testFailuresConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 32
	now := time.Now()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen []int
	)
	for range n {
		wg.Go(func() {
			a, err := s.AddFailure(ctx, "2fa", "user-1", now, lockAfter(10))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Error(err)
				return
			}
			seen = append(seen, a.Failures)
		})
	}
	wg.Wait()
	slices.Sort(seen)
	want := make([]int, n)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(seen, want) {
		t.Errorf("concurrent AddFailure returned counts %v, want each of 1..%d once", seen, n)
	}
	a, err := s.GetAttempts(ctx, "2fa", "user-1")
	mustNil(t, err)
	if a.Failures != n {
		t.Errorf("Failures = %d, want %d", a.Failures, n)
	}
	sameTime(t, "LockedUntil", a.LockedUntil, now.Add(n*time.Minute))
}

func testSentMessageNotFound(t *testing.T, s store.Store) {
	_, err := s.SentMessage(t.Context(), "login/f1/send-1")
	wantErr(t, "SentMessage", err, store.ErrNotFound)
}

func sameSent(t *testing.T, what string, got, want store.SentMessage) {
	t.Helper()
	if got.Key != want.Key || got.UserID != want.UserID || got.Channel != want.Channel ||
		got.Recipient != want.Recipient || got.ProviderID != want.ProviderID || !bytes.Equal(got.CodeMAC, want.CodeMAC) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	sameTime(t, what+".SentAt", got.SentAt, want.SentAt)
}

func testRecordSentIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	m := store.SentMessage{Key: "login/f1/send-sms", UserID: u.ID, Channel: "sms", Recipient: "+380501234567",
		ProviderID: "SM123", SentAt: time.Now(), CodeMAC: []byte{1, 2, 3, 0, 255}}
	mustNil(t, s.RecordSentMessage(ctx, m))
	again := m
	again.ProviderID, again.SentAt, again.CodeMAC = "SM999", m.SentAt.Add(time.Minute), []byte{9}
	mustNil(t, s.RecordSentMessage(ctx, again))
	got, err := s.SentMessage(ctx, m.Key)
	mustNil(t, err)
	sameSent(t, "SentMessage", got, m)
	n, err := s.CountSent(ctx, u.ID, "", m.SentAt.Add(-time.Hour))
	mustNil(t, err)
	if n != 1 {
		t.Errorf("CountSent after recording one key twice = %d, want 1", n)
	}

	// A message to no account.
	anon := store.SentMessage{Key: "enroll/f2/send", Channel: "telegram", Recipient: "1001", SentAt: time.Now()}
	mustNil(t, s.RecordSentMessage(ctx, anon))
	got, err = s.SentMessage(ctx, anon.Key)
	mustNil(t, err)
	sameSent(t, "SentMessage without user", got, anon)
}

func testCountSent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	now := time.Now()
	const phone, otherPhone = "+380501234567", "+14155550123"
	for i, m := range []store.SentMessage{
		{UserID: u.ID, Channel: "sms", Recipient: phone, SentAt: now.Add(-2 * time.Hour)},
		{UserID: u.ID, Channel: "sms", Recipient: phone, SentAt: now.Add(-30 * time.Minute)},
		{UserID: u.ID, Channel: "call", Recipient: phone, SentAt: now.Add(-10 * time.Minute)},
		{UserID: other.ID, Channel: "sms", Recipient: phone, SentAt: now.Add(-5 * time.Minute)},
		{UserID: u.ID, Channel: "sms", Recipient: otherPhone, SentAt: now.Add(-time.Minute)},
		{UserID: u.ID, Channel: "email", Recipient: "a@example.com", SentAt: now.Add(-time.Second)},
	} {
		m.Key = "k" + string(rune('a'+i))
		mustNil(t, s.RecordSentMessage(ctx, m))
	}
	since := now.Add(-time.Hour)
	for _, c := range []struct {
		userID, recipient string
		want              int
	}{
		{u.ID, "", 4},
		{other.ID, "", 1},
		{"", phone, 3},
		{"", otherPhone, 1},
		{"", "+10000000000", 0},
		{"no-such-user", "", 0},
	} {
		n, err := s.CountSent(ctx, c.userID, c.recipient, since)
		mustNil(t, err)
		if n != c.want {
			t.Errorf("CountSent(%q, %q) = %d, want %d", c.userID, c.recipient, n, c.want)
		}
	}
	n, err := s.CountSent(ctx, u.ID, "", now.Add(-3*time.Hour))
	mustNil(t, err)
	if n != 5 {
		t.Errorf("CountSent over 3 hours = %d, want 5", n)
	}
}

// testCountSendsByKind: each send budget counts only its own kind, so
// notices never use up a code budget and another account's enrollment
// sends to a number never use up its owner's login codes.
func testCountSendsByKind(t *testing.T, s store.Store) {
	ctx := t.Context()
	owner, other := newUser(t, s), newUser(t, s)
	now := time.Now()
	const number, email, ip = "+380501112299", "kinds@example.com", "203.0.113.9"
	for i, m := range []store.SentMessage{
		{UserID: owner.ID, Channel: "sms", Recipient: number},                                    // a login code; no kind is a code
		{UserID: owner.ID, Channel: "call_dictate", Recipient: number, Kind: store.SentKindCode}, // another
		{UserID: other.ID, Channel: "sms", Recipient: number, Kind: store.SentKindEnroll, IP: ip},
		{UserID: other.ID, Channel: "sms", Recipient: number, Kind: store.SentKindEnroll, IP: ip},
		{UserID: other.ID, Channel: "sms", Recipient: "+380501112298", Kind: store.SentKindEnroll, IP: "198.51.100.1"},
		{Channel: "email_notice", Recipient: email, Kind: store.SentKindNotice},
		{UserID: owner.ID, Channel: "email", Recipient: email, Kind: store.SentKindCode},
		{UserID: owner.ID, Channel: "telegram", Recipient: "telegram:" + owner.ID, Kind: store.SentKindPrompt},
		{UserID: owner.ID, Channel: "sms", Recipient: number, Kind: store.SentKindCode, SentAt: now.Add(-2 * time.Hour)},
	} {
		m.Key = "kinds/" + RandomString() + "/" + string(rune('a'+i))
		if m.SentAt.IsZero() {
			m.SentAt = now
		}
		mustNil(t, s.RecordSentMessage(ctx, m))
		got, err := s.SentMessage(ctx, m.Key)
		mustNil(t, err)
		wantKind := m.Kind
		if wantKind == "" {
			wantKind = store.SentKindCode
		}
		if got.Kind != wantKind || got.IP != m.IP {
			t.Errorf("message %d read back with kind %q ip %q, want %q %q", i, got.Kind, got.IP, wantKind, m.IP)
		}
	}
	since := now.Add(-time.Hour)
	codes := []store.SentKind{store.SentKindCode}
	enroll := []store.SentKind{store.SentKindEnroll}
	for _, c := range []struct {
		name string
		q    store.SentQuery
		want int
	}{
		{"codes to the number", store.SentQuery{Recipient: number, Kinds: codes}, 2},
		{"everything to the number", store.SentQuery{Recipient: number}, 4},
		{"enrollment sends to the number", store.SentQuery{Recipient: number, Kinds: enroll}, 2},
		{"the other account's enrollment sends", store.SentQuery{UserID: other.ID, Kinds: enroll}, 3},
		{"enrollment sends from one IP", store.SentQuery{IP: ip, Kinds: enroll}, 2},
		{"codes to the email (the notice is not one)", store.SentQuery{Recipient: email, Kinds: codes}, 1},
		{"the owner's codes and prompts", store.SentQuery{UserID: owner.ID, Kinds: []store.SentKind{store.SentKindCode, store.SentKindPrompt}}, 4},
		{"the owner's codes since 3 hours", store.SentQuery{UserID: owner.ID, Kinds: codes, Since: now.Add(-3 * time.Hour)}, 4},
		{"phone sends of the number's two accounts", store.SentQuery{Recipient: number, Channels: []string{"sms", "call_dictate", "call_flash"}}, 4},
		{"notices only", store.SentQuery{Recipient: email, Kinds: []store.SentKind{store.SentKindNotice}}, 1},
	} {
		if c.q.Since.IsZero() {
			c.q.Since = since
		}
		n, err := s.CountSends(ctx, c.q)
		mustNil(t, err)
		if n != c.want {
			t.Errorf("CountSends(%s) = %d, want %d", c.name, n, c.want)
		}
	}
	// Phone sends of every account together (the hourly cap): at least the
	// five phone sends of this hour recorded here, other tests' too.
	n, err := s.CountSends(ctx, store.SentQuery{Channels: []string{"sms", "call_dictate", "call_flash"}, Since: since})
	mustNil(t, err)
	if n < 5 {
		t.Errorf("CountSends(every phone send) = %d, want at least 5", n)
	}
	if _, err := s.CountSends(ctx, store.SentQuery{Recipient: number}); err == nil {
		t.Error("CountSends without Since succeeded")
	}
}

func testEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	now := time.Now()
	events := []store.Event{
		{UserID: u.ID, Type: "login_succeeded", At: now.Add(-3 * time.Minute), IP: "203.0.113.7",
			Detail: map[string]any{"method": "totp"}},
		{UserID: u.ID, Type: "bank_cards_unlinked", At: now.Add(-time.Minute), IP: "2001:db8::1",
			Detail: map[string]any{"count": 2.0, "ok": true, "method": "sms", "nested": map[string]any{"a": "b"},
				"list": []any{"x", 1.5}}},
		{UserID: u.ID, Type: "sessions_ended", At: now.Add(-2 * time.Minute)},
		{UserID: other.ID, Type: "login_failed", At: now},
	}
	for _, e := range events {
		mustNil(t, s.AddEvent(ctx, e))
	}
	list, err := s.ListEvents(ctx, u.ID, 10)
	mustNil(t, err)
	if len(list) != 3 {
		t.Fatalf("ListEvents = %d events, want 3", len(list))
	}
	for i, want := range []store.Event{events[1], events[2], events[0]} {
		got := list[i]
		if got.ID == "" || got.UserID != u.ID || got.Type != want.Type || got.IP != want.IP {
			t.Errorf("event %d = %+v, want %+v", i, got, want)
		}
		sameTime(t, "At", got.At, want.At)
		if len(want.Detail) == 0 {
			if len(got.Detail) != 0 {
				t.Errorf("event %d Detail = %v, want empty", i, got.Detail)
			}
		} else if !reflect.DeepEqual(got.Detail, want.Detail) {
			t.Errorf("event %d Detail = %#v, want %#v", i, got.Detail, want.Detail)
		}
	}
	list, err = s.ListEvents(ctx, u.ID, 2)
	mustNil(t, err)
	if len(list) != 2 || list[0].Type != "bank_cards_unlinked" || list[1].Type != "sessions_ended" {
		t.Errorf("ListEvents(limit 2) = %+v, want the 2 newest", list)
	}
	list, err = s.ListEvents(ctx, other.ID, 10)
	mustNil(t, err)
	if len(list) != 1 || list[0].Type != "login_failed" {
		t.Errorf("ListEvents of the other user = %+v", list)
	}
}

func testEventsSameInstant(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	at := time.Now()
	types := []string{"two_factor_downgraded", "bank_cards_unlinked", "login_succeeded"}
	for _, typ := range types {
		mustNil(t, s.AddEvent(ctx, store.Event{UserID: u.ID, Type: typ, At: at}))
	}
	list, err := s.ListEvents(ctx, u.ID, 0)
	mustNil(t, err)
	got := ids(list, func(e store.Event) string { return e.Type })
	if want := []string{"login_succeeded", "bank_cards_unlinked", "two_factor_downgraded"}; !slices.Equal(got, want) {
		t.Errorf("ListEvents = %v, want %v", got, want)
	}
}

func testEventIDIdempotent(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	e := store.Event{ID: "login/f1/event-1", UserID: u.ID, Type: "login_succeeded", At: time.Now()}
	mustNil(t, s.AddEvent(ctx, e))
	mustNil(t, s.AddEvent(ctx, e))
	list, err := s.ListEvents(ctx, u.ID, 0)
	mustNil(t, err)
	if len(list) != 1 || list[0].ID != e.ID {
		t.Errorf("ListEvents = %+v, want the one event", list)
	}
}

func testEventUnknownUser(t *testing.T, s store.Store) {
	err := s.AddEvent(t.Context(), store.Event{UserID: "no-such-user", Type: "login_failed", At: time.Now()})
	wantErr(t, "AddEvent", err, store.ErrNotFound)
}

func testLinkToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	now := time.Now()
	in := store.LinkToken{TokenHash: RandomBytes(32), UserID: u.ID, FlowID: "flow-1", ExpiresAt: now.Add(10 * time.Minute)}
	mustNil(t, s.CreateLinkToken(ctx, in))
	got, err := s.LinkTokenByHash(ctx, in.TokenHash, now)
	mustNil(t, err)
	if !slices.Equal(got.TokenHash, in.TokenHash) || got.UserID != in.UserID || got.FlowID != in.FlowID {
		t.Errorf("LinkTokenByHash = %+v, want %+v", got, in)
	}
	sameTime(t, "ExpiresAt", got.ExpiresAt, in.ExpiresAt)
	_, err = s.LinkTokenByHash(ctx, in.TokenHash, now.Add(11*time.Minute))
	wantErr(t, "LinkTokenByHash after expiry", err, store.ErrNotFound)
	_, err = s.LinkTokenByHash(ctx, RandomBytes(32), now)
	wantErr(t, "LinkTokenByHash(unknown)", err, store.ErrNotFound)
	wantErr(t, "CreateLinkToken twice", s.CreateLinkToken(ctx, in), store.ErrConflict)
	wantErr(t, "CreateLinkToken of an unknown user", s.CreateLinkToken(ctx, store.LinkToken{
		TokenHash: RandomBytes(32), UserID: "no-such-user", FlowID: "flow-2", ExpiresAt: now.Add(time.Minute)}),
		store.ErrNotFound)
}

func testTelegramPrompts(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	prompts := []store.TelegramPrompt{
		{FlowID: "flow-1", ChatID: 1001, MessageID: 10, SentAt: now},
		{FlowID: "flow-1", ChatID: -1002, MessageID: 11, SentAt: now.Add(time.Second)},
		{FlowID: "flow-2", ChatID: 1001, MessageID: 12, SentAt: now},
	}
	for _, p := range prompts {
		mustNil(t, s.AddTelegramPrompt(ctx, p))
	}
	mustNil(t, s.AddTelegramPrompt(ctx, prompts[0])) // a retried activity
	got, err := s.TelegramPrompts(ctx, "flow-1")
	mustNil(t, err)
	if len(got) != 2 {
		t.Fatalf("TelegramPrompts = %+v, want 2 prompts", got)
	}
	for i, want := range prompts[:2] {
		if got[i].FlowID != want.FlowID || got[i].ChatID != want.ChatID || got[i].MessageID != want.MessageID {
			t.Errorf("prompt %d = %+v, want %+v", i, got[i], want)
		}
		sameTime(t, "SentAt", got[i].SentAt, want.SentAt)
	}
	got, err = s.TelegramPrompts(ctx, "no-such-flow")
	mustNil(t, err)
	if len(got) != 0 {
		t.Errorf("TelegramPrompts(unknown flow) = %+v", got)
	}
}

func testReserveAttempt(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	for i := 1; i <= 3; i++ {
		r, err := s.ReserveAttempt(ctx, "password", "a@example.com", now, lockAfter(3))
		mustNil(t, err)
		if !r.Granted || r.State.Failures != i {
			t.Fatalf("reservation %d = %+v, want granted with %d failures", i, r, i)
		}
		if r.LockSet != (i == 3) {
			t.Errorf("reservation %d LockSet = %v, want %v", i, r.LockSet, i == 3)
		}
	}
	// The third reservation locked the key: the fourth is refused and
	// changes nothing.
	r, err := s.ReserveAttempt(ctx, "password", "a@example.com", now.Add(time.Second), lockAfter(3))
	mustNil(t, err)
	if r.Granted {
		t.Fatalf("reservation while locked was granted: %+v", r)
	}
	a, err := s.GetAttempts(ctx, "password", "a@example.com")
	mustNil(t, err)
	if a.Failures != 3 {
		t.Errorf("Failures after a refused reservation = %d, want 3", a.Failures)
	}
	sameTime(t, "LockedUntil", a.LockedUntil, now.Add(3*time.Minute))
	// Once the lock has passed, the next reservation is granted and locks
	// for longer.
	later := now.Add(4 * time.Minute)
	r, err = s.ReserveAttempt(ctx, "password", "a@example.com", later, lockAfter(3))
	mustNil(t, err)
	if !r.Granted || r.State.Failures != 4 || !r.LockSet {
		t.Fatalf("reservation after the lock = %+v, want granted, 4 failures, a new lock", r)
	}
	sameTime(t, "LockedUntil", r.State.LockedUntil, later.Add(4*time.Minute))
}

// testReserveAroundLocks covers the reservations that set no lock (one
// statement) beside those that do: a lock that has passed, the instant it
// ends, a lockFor that locks from the first attempt, and none at all.
func testReserveAroundLocks(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	const key = "b@example.com"
	// One failure with a lock of its own: the count is far below the
	// threshold, the key locked all the same.
	_, err := s.AddFailure(ctx, "password", key, now, func(int) time.Duration { return time.Minute })
	mustNil(t, err)
	r, err := s.ReserveAttempt(ctx, "password", key, now.Add(59*time.Second), lockAfter(10))
	mustNil(t, err)
	if r.Granted {
		t.Fatalf("reservation while locked below the threshold was granted: %+v", r)
	}
	if r.State.Failures != 1 {
		t.Errorf("refused reservation's state = %+v, want the 1 failure stored", r.State)
	}
	sameTime(t, "refused reservation's LockedUntil", r.State.LockedUntil, now.Add(time.Minute))
	// The instant the lock ends, the key is free.
	r, err = s.ReserveAttempt(ctx, "password", key, now.Add(time.Minute), lockAfter(10))
	mustNil(t, err)
	if !r.Granted || r.State.Failures != 2 || r.LockSet {
		t.Fatalf("reservation as the lock ends = %+v, want granted with 2 failures, no lock", r)
	}
	sameTime(t, "PrevLockedUntil", r.PrevLockedUntil, now.Add(time.Minute))
	// Releasing it restores the count and keeps the passed lock.
	mustNil(t, s.ReleaseAttempt(ctx, "password", key, r))
	a, err := s.GetAttempts(ctx, "password", key)
	mustNil(t, err)
	if a.Failures != 1 {
		t.Errorf("Failures after the release = %d, want 1", a.Failures)
	}
	sameTime(t, "LockedUntil after the release", a.LockedUntil, now.Add(time.Minute))

	// A lockFor that locks from the first attempt: the first reservation
	// of a new key sets it.
	r, err = s.ReserveAttempt(ctx, "password_ip", "192.0.2.9", now, lockAfter(1))
	mustNil(t, err)
	if !r.Granted || r.State.Failures != 1 || !r.LockSet {
		t.Fatalf("first reservation with lockAfter(1) = %+v, want granted, 1 failure, a lock", r)
	}
	sameTime(t, "lockAfter(1)'s lock", r.State.LockedUntil, now.Add(time.Minute))

	// No lockFor: every attempt is counted, none locks.
	for i := 1; i <= 3; i++ {
		r, err = s.ReserveAttempt(ctx, "2fa", "user-without-limit", now, nil)
		mustNil(t, err)
		if !r.Granted || r.State.Failures != i || r.LockSet || !r.State.LockedUntil.IsZero() {
			t.Fatalf("reservation %d without lockFor = %+v, want granted with %d failures, no lock", i, r, i)
		}
	}
}

func testReserveConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n, limit = 40, 10
	now := time.Now()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		granted []int
		refused int
	)
	for range n {
		wg.Go(func() {
			r, err := s.ReserveAttempt(ctx, "password", "victim@example.com", now, lockAfter(limit))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case r.Granted:
				granted = append(granted, r.State.Failures)
			default:
				refused++
			}
		})
	}
	wg.Wait()
	slices.Sort(granted)
	want := make([]int, limit)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(granted, want) || refused != n-limit {
		t.Errorf("40 concurrent reservations: granted with counts %v and %d refused, want each of 1..%d once and %d refused",
			granted, refused, limit, n-limit)
	}
}

func testReleaseAttempt(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	r1, err := s.ReserveAttempt(ctx, "password_ip", "192.0.2.1", now, lockAfter(2))
	mustNil(t, err)
	r2, err := s.ReserveAttempt(ctx, "password_ip", "192.0.2.1", now, lockAfter(2))
	mustNil(t, err)
	if !r2.LockSet {
		t.Fatalf("second reservation did not lock: %+v", r2)
	}
	// The attempt that locked the key succeeded: its count and its lock go.
	mustNil(t, s.ReleaseAttempt(ctx, "password_ip", "192.0.2.1", r2))
	a, err := s.GetAttempts(ctx, "password_ip", "192.0.2.1")
	mustNil(t, err)
	if a.Failures != 1 || !a.LockedUntil.IsZero() {
		t.Errorf("after releasing the locking reservation: %+v, want 1 failure and no lock", a)
	}
	mustNil(t, s.ReleaseAttempt(ctx, "password_ip", "192.0.2.1", r1))
	mustNil(t, s.ReleaseAttempt(ctx, "password_ip", "192.0.2.1", r1)) // never below zero
	a, err = s.GetAttempts(ctx, "password_ip", "192.0.2.1")
	mustNil(t, err)
	if a.Failures != 0 {
		t.Errorf("Failures after releasing both = %d, want 0", a.Failures)
	}
	// A refused reservation has nothing to give back.
	mustNil(t, s.ReleaseAttempt(ctx, "password_ip", "192.0.2.1", store.Reservation{}))
}
