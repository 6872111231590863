package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/authflow/authflow/store"
)

func testPing(t *testing.T, s store.Store) {
	mustNil(t, s.Ping(t.Context()))
}

func sameUser(t *testing.T, what string, got, want store.User) {
	t.Helper()
	if got.ID != want.ID || got.Email != want.Email || got.PasswordHash != want.PasswordHash {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	sameTime(t, what+".CreatedAt", got.CreatedAt, want.CreatedAt)
}

func testCreateUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, err := s.CreateUser(ctx, "alice@example.com", "$argon2id$hash-1")
	mustNil(t, err)
	if u.ID == "" || u.Email != "alice@example.com" || u.PasswordHash != "$argon2id$hash-1" {
		t.Fatalf("CreateUser = %+v", u)
	}
	near(t, "CreatedAt", u.CreatedAt, time.Now(), time.Minute)
	got, err := s.UserByID(ctx, u.ID)
	mustNil(t, err)
	sameUser(t, "UserByID", got, u)
	got, err = s.UserByEmail(ctx, "alice@example.com")
	mustNil(t, err)
	sameUser(t, "UserByEmail", got, u)
}

func testEmailCaseInsensitive(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, err := s.CreateUser(ctx, "  Bob.Smith@Example.COM ", "h")
	mustNil(t, err)
	if u.Email != "bob.smith@example.com" {
		t.Fatalf("Email = %q, want it trimmed and lower-cased", u.Email)
	}
	for _, email := range []string{"bob.smith@example.com", "BOB.SMITH@EXAMPLE.COM", " Bob.Smith@example.com\t"} {
		got, err := s.UserByEmail(ctx, email)
		mustNil(t, err)
		sameUser(t, "UserByEmail("+email+")", got, u)
	}
}

func testEmailTaken(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.CreateUser(ctx, "carol@example.com", "h1")
	mustNil(t, err)
	for _, email := range []string{"carol@example.com", "Carol@Example.com", " CAROL@EXAMPLE.COM "} {
		_, err = s.CreateUser(ctx, email, "h2")
		wantErr(t, "CreateUser("+email+")", err, store.ErrConflict)
	}
	u, err := s.UserByEmail(ctx, "carol@example.com")
	mustNil(t, err)
	if u.PasswordHash != "h1" {
		t.Errorf("the first account was changed: %+v", u)
	}
}

func testUnknownUser(t *testing.T, s store.Store) {
	ctx := t.Context()
	newUser(t, s)
	_, err := s.UserByID(ctx, "no-such-user")
	wantErr(t, "UserByID", err, store.ErrNotFound)
	_, err = s.UserByEmail(ctx, "nobody@example.com")
	wantErr(t, "UserByEmail", err, store.ErrNotFound)
	wantErr(t, "SetPasswordHash", s.SetPasswordHash(ctx, "no-such-user", "h"), store.ErrNotFound)
}

func testSetPasswordHash(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	mustNil(t, s.SetPasswordHash(ctx, u.ID, "$argon2id$new"))
	got, err := s.UserByID(ctx, u.ID)
	mustNil(t, err)
	if got.PasswordHash != "$argon2id$new" {
		t.Errorf("PasswordHash = %q", got.PasswordHash)
	}
	got, err = s.UserByID(ctx, other.ID)
	mustNil(t, err)
	if got.PasswordHash != other.PasswordHash {
		t.Errorf("another account's hash changed to %q", got.PasswordHash)
	}
}

func testIDsDistinct(t *testing.T, s store.Store) {
	seen := map[string]bool{}
	for range 50 {
		u := newUser(t, s)
		// 64 bits take at least 11 characters even in base64.
		if len(u.ID) < 11 || seen[u.ID] {
			t.Fatalf("id %q is short or repeated", u.ID)
		}
		seen[u.ID] = true
	}
}

// emails lists the users' emails.
func emails(us []store.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Email
	}
	return out
}

func testListUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	want := []string{"ada@example.com", "bob@example.org", "cy@example.com", "dee@example.net", "eve@example.com"}
	made := map[string]store.User{}
	for _, i := range []int{3, 0, 4, 1, 2} { // created out of order
		u, err := s.CreateUser(ctx, want[i], "h")
		mustNil(t, err)
		made[u.Email] = u
	}
	var got []string
	after := ""
	for page := 0; ; page++ {
		us, err := s.ListUsers(ctx, store.UserQuery{AfterEmail: after, Limit: 2})
		mustNil(t, err)
		if len(us) > 2 || page > 3 {
			t.Fatalf("page %d has %d users (limit 2), or the pages never end", page, len(us))
		}
		for _, u := range us {
			sameUser(t, "ListUsers "+u.Email, u, made[u.Email])
		}
		if len(us) == 0 {
			break
		}
		got = append(got, emails(us)...)
		after = us[len(us)-1].Email
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages of 2 list %v, want %v in email order", got, want)
	}
	_, err := s.ListUsers(ctx, store.UserQuery{})
	if err == nil {
		t.Error("ListUsers without a limit succeeded")
	}
}

func testListUsersFilter(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, e := range []string{"ann@example.com", "ann_b@example.com", "annxb@example.com", "bo%b@example.org", "Carl@Example.ORG"} {
		_, err := s.CreateUser(ctx, e, "h")
		mustNil(t, err)
	}
	for filter, want := range map[string][]string{
		"@EXAMPLE.org ": {"bo%b@example.org", "carl@example.org"},
		"ann_b":         {"ann_b@example.com"}, // not annxb: _ is no wildcard
		"%":             {"bo%b@example.org"},
		"":              {"ann@example.com", "ann_b@example.com", "annxb@example.com", "bo%b@example.org", "carl@example.org"},
		"nobody":        {},
	} {
		us, err := s.ListUsers(ctx, store.UserQuery{EmailContains: filter, Limit: 10})
		mustNil(t, err)
		if got := emails(us); !slices.Equal(got, want) {
			t.Errorf("EmailContains %q: %v, want %v", filter, got, want)
		}
	}
	us, err := s.ListUsers(ctx, store.UserQuery{EmailContains: "ann", AfterEmail: "ann_b@example.com", Limit: 10})
	mustNil(t, err)
	if got := emails(us); !slices.Equal(got, []string{"annxb@example.com"}) {
		t.Errorf("the second page of \"ann\" is %v", got)
	}
}

// newSession creates a live session of userID created at now, expiring an
// hour later.
func newSession(t *testing.T, s store.Store, userID string, now time.Time) store.Session {
	t.Helper()
	x, err := s.CreateSession(t.Context(), store.Session{
		UserID:          userID,
		TokenHash:       RandomBytes(32),
		AuthenticatedAt: now,
		CreatedAt:       now,
		LastSeenAt:      now,
		ExpiresAt:       now.Add(time.Hour),
		IP:              "203.0.113.7",
		UserAgent:       "Mozilla/5.0 (test)",
	})
	mustNil(t, err)
	return x
}

func sameSession(t *testing.T, what string, got, want store.Session) {
	t.Helper()
	if got.ID != want.ID || got.UserID != want.UserID || !bytes.Equal(got.TokenHash, want.TokenHash) ||
		got.IP != want.IP || got.UserAgent != want.UserAgent {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	sameTime(t, what+".AuthenticatedAt", got.AuthenticatedAt, want.AuthenticatedAt)
	sameTime(t, what+".CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, what+".LastSeenAt", got.LastSeenAt, want.LastSeenAt)
	sameTime(t, what+".ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func testCreateSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	now := time.Now()
	in := store.Session{
		UserID:          u.ID,
		TokenHash:       RandomBytes(32),
		AuthenticatedAt: now.Add(-time.Minute),
		CreatedAt:       now,
		LastSeenAt:      now.Add(time.Second),
		ExpiresAt:       now.Add(24 * time.Hour),
		IP:              "2001:db8::1",
		UserAgent:       "curl/8.0",
	}
	x, err := s.CreateSession(ctx, in)
	mustNil(t, err)
	if x.ID == "" {
		t.Fatal("CreateSession returned no ID")
	}
	in.ID = x.ID
	sameSession(t, "CreateSession", x, in)
	got, err := s.SessionByTokenHash(ctx, in.TokenHash, now)
	mustNil(t, err)
	sameSession(t, "SessionByTokenHash", got, in)
	list, err := s.ListSessions(ctx, u.ID, now)
	mustNil(t, err)
	if len(list) != 1 {
		t.Fatalf("ListSessions = %d sessions, want 1", len(list))
	}
	sameSession(t, "ListSessions[0]", list[0], in)
	_, err = s.SessionByTokenHash(ctx, RandomBytes(32), now)
	wantErr(t, "SessionByTokenHash(unknown)", err, store.ErrNotFound)
}

func testSessionExpiry(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	now := time.Now()
	x := newSession(t, s, u.ID, now) // expires at now+1h
	_, err := s.SessionByTokenHash(ctx, x.TokenHash, now.Add(59*time.Minute))
	mustNil(t, err)
	_, err = s.SessionByTokenHash(ctx, x.TokenHash, now.Add(time.Hour+time.Second))
	wantErr(t, "SessionByTokenHash after expiry", err, store.ErrNotFound)
	list, err := s.ListSessions(ctx, u.ID, now.Add(2*time.Hour))
	mustNil(t, err)
	if len(list) != 0 {
		t.Errorf("ListSessions after expiry = %d sessions, want 0", len(list))
	}
}

func testTokenHashTaken(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	now := time.Now()
	x := newSession(t, s, u.ID, now)
	_, err := s.CreateSession(ctx, store.Session{UserID: other.ID, TokenHash: x.TokenHash,
		AuthenticatedAt: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
	wantErr(t, "CreateSession with a taken hash", err, store.ErrConflict)
}

func testSessionUnknownUser(t *testing.T, s store.Store) {
	now := time.Now()
	_, err := s.CreateSession(t.Context(), store.Session{UserID: "no-such-user", TokenHash: RandomBytes(32),
		AuthenticatedAt: now, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
	wantErr(t, "CreateSession", err, store.ErrNotFound)
}

func testTouchSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	now := time.Now()
	x := newSession(t, s, u.ID, now)
	mustNil(t, s.TouchSession(ctx, x.ID, now.Add(5*time.Minute)))
	got, err := s.SessionByTokenHash(ctx, x.TokenHash, now)
	mustNil(t, err)
	sameTime(t, "LastSeenAt", got.LastSeenAt, now.Add(5*time.Minute))
	sameTime(t, "AuthenticatedAt", got.AuthenticatedAt, now)
	wantErr(t, "TouchSession(unknown)", s.TouchSession(ctx, "no-such-session", now), store.ErrNotFound)
}

func testMarkAuthenticated(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	now := time.Now()
	x := newSession(t, s, u.ID, now)
	mustNil(t, s.MarkAuthenticated(ctx, x.ID, now.Add(20*time.Minute)))
	got, err := s.SessionByTokenHash(ctx, x.TokenHash, now)
	mustNil(t, err)
	sameTime(t, "AuthenticatedAt", got.AuthenticatedAt, now.Add(20*time.Minute))
	wantErr(t, "MarkAuthenticated(unknown)", s.MarkAuthenticated(ctx, "no-such-session", now), store.ErrNotFound)
}

func testListSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	now := time.Now()
	a := newSession(t, s, u.ID, now)
	b := newSession(t, s, u.ID, now.Add(time.Second))
	newSession(t, s, u.ID, now.Add(-2*time.Hour)) // expired an hour ago
	newSession(t, s, other.ID, now)
	list, err := s.ListSessions(ctx, u.ID, now.Add(2*time.Second))
	mustNil(t, err)
	sameIDs(t, "ListSessions", ids(list, func(x store.Session) string { return x.ID }), []string{a.ID, b.ID})
	list, err = s.ListSessions(ctx, "no-such-user", now)
	mustNil(t, err)
	if len(list) != 0 {
		t.Errorf("ListSessions(unknown user) = %d sessions", len(list))
	}
}

func testDeleteSession(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	now := time.Now()
	x := newSession(t, s, u.ID, now)
	wantErr(t, "DeleteSession by another user", s.DeleteSession(ctx, other.ID, x.ID), store.ErrNotFound)
	_, err := s.SessionByTokenHash(ctx, x.TokenHash, now)
	mustNil(t, err)
	mustNil(t, s.DeleteSession(ctx, u.ID, x.ID))
	_, err = s.SessionByTokenHash(ctx, x.TokenHash, now)
	wantErr(t, "SessionByTokenHash after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteSession again", s.DeleteSession(ctx, u.ID, x.ID), store.ErrNotFound)
}

func testDeleteOtherSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := newUser(t, s), newUser(t, s)
	now := time.Now()
	keep := newSession(t, s, u.ID, now)
	newSession(t, s, u.ID, now)
	newSession(t, s, u.ID, now)
	theirs := newSession(t, s, other.ID, now)

	n, err := s.DeleteOtherSessions(ctx, u.ID, keep.ID)
	mustNil(t, err)
	if n != 2 {
		t.Errorf("DeleteOtherSessions = %d, want 2", n)
	}
	list, err := s.ListSessions(ctx, u.ID, now)
	mustNil(t, err)
	sameIDs(t, "sessions left", ids(list, func(x store.Session) string { return x.ID }), []string{keep.ID})
	_, err = s.SessionByTokenHash(ctx, theirs.TokenHash, now)
	mustNil(t, err)

	n, err = s.DeleteOtherSessions(ctx, u.ID, "")
	mustNil(t, err)
	if n != 1 {
		t.Errorf("DeleteOtherSessions(keep none) = %d, want 1", n)
	}
	n, err = s.DeleteOtherSessions(ctx, u.ID, "")
	mustNil(t, err)
	if n != 0 {
		t.Errorf("DeleteOtherSessions with none left = %d, want 0", n)
	}
	_, err = s.SessionByTokenHash(ctx, theirs.TokenHash, now)
	mustNil(t, err)
}
