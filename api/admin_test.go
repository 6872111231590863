package api_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/security"
)

// listedEmails are the emails of a GET /v1/admin/users answer.
func listedEmails(t *testing.T, r apitest.Response) []string {
	t.Helper()
	var out []string
	users, _ := r.Get("users").([]any)
	for _, u := range users {
		row, _ := u.(map[string]any)
		email, _ := row["email"].(string)
		id, _ := row["id"].(string)
		if email == "" || id == "" || row["created_at"] == nil {
			t.Fatalf("a user row lacks id, email or created_at: %v", row)
		}
		out = append(out, email)
	}
	return out
}

func TestAdminFindsUsersByEmail(t *testing.T) {
	// A tag no other test's emails have: what the filter finds is this
	// test's users only.
	tag := "find" + strings.ToLower(security.RandomToken()[:8])
	var made []string
	ids := map[string]string{}
	for _, who := range []string{"cat", "ann", "bob", "dan", "eve"} {
		email := who + "." + tag + "@example.com"
		ids[email] = env.NewUser(t, email, "correct horse battery")
		made = append(made, email)
	}
	slices.Sort(made)

	t.Run("case=an exact email finds its one user, in any case", func(t *testing.T) {
		r := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/users?email="+url.QueryEscape(" BOB."+strings.ToUpper(tag)+"@Example.com"), nil), 200)
		if got := listedEmails(t, r); !slices.Equal(got, []string{"bob." + tag + "@example.com"}) {
			t.Fatalf("found %v", got)
		}
		if users := r.Get("users").([]any); users[0].(map[string]any)["id"] != ids["bob."+tag+"@example.com"] {
			t.Errorf("the row's id is not the user's")
		}
		if r.Get("next_cursor") != nil {
			t.Errorf("a single page has a next_cursor: %v", r.Get("next_cursor"))
		}
	})
	t.Run("case=a part of the email finds every user with it, page by page with next_cursor", func(t *testing.T) {
		var got []string
		cursor := ""
		for page := 0; page < 5; page++ {
			q := url.Values{"email": {tag}, "limit": {"2"}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			r := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/users?"+q.Encode(), nil), 200)
			got = append(got, listedEmails(t, r)...)
			cursor = r.Str("next_cursor")
			if cursor == "" {
				break
			}
		}
		if !slices.Equal(got, made) {
			t.Fatalf("pages of 2 listed %v, want %v", got, made)
		}
	})
	t.Run("case=the contract's after and next page the same way", func(t *testing.T) {
		var got []string
		after := ""
		for page := 0; page < 5; page++ {
			q := url.Values{"email": {tag}, "limit": {"2"}}
			if after != "" {
				q.Set("after", after)
			}
			r := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/users?"+q.Encode(), nil), 200)
			got = append(got, listedEmails(t, r)...)
			if _, ok := r.Body["next"]; !ok {
				t.Fatalf("no next in %s", r.Raw)
			}
			if after = r.Str("next"); after == "" {
				break
			}
		}
		if !slices.Equal(got, made) {
			t.Fatalf("pages of 2 listed %v, want %v", got, made)
		}
	})
	t.Run("case=an email nobody has is an empty list", func(t *testing.T) {
		r := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/users?email=nobody-"+tag, nil), 200)
		if got := listedEmails(t, r); len(got) != 0 {
			t.Fatalf("found %v", got)
		}
	})
	t.Run("case=a bad limit or a cursor no page gave is 400", func(t *testing.T) {
		for _, q := range []string{"limit=0", "limit=1001", "limit=ten", "cursor=%21%21", "after=%21%21"} {
			apitest.ExpectError(t, env.Admin(t, "GET", "/v1/admin/users?"+q, nil), 400, "bad_request")
		}
	})
	t.Run("case=without the admin token it is 401", func(t *testing.T) {
		apitest.ExpectError(t, env.Do(t, "GET", "/v1/admin/users?email="+tag, "", nil), 401, "unauthorized")
	})
}

func TestAdminFlowsRefuseUnknownKindAndState(t *testing.T) {
	t.Run("case=an unknown state or kind is 400, naming the ones there are", func(t *testing.T) {
		r := apitest.ExpectError(t, env.Admin(t, "GET", "/v1/admin/flows?state=stuck", nil), 400, "bad_request")
		if msg, _ := r.Get("error.message").(string); !strings.Contains(msg, "choose_method") {
			t.Errorf("the message %q does not say which states there are", msg)
		}
		apitest.ExpectError(t, env.Admin(t, "GET", "/v1/admin/flows?kind=logins", nil), 400, "bad_request")
	})
	t.Run("case=every state a flow has is accepted", func(t *testing.T) {
		for _, st := range []string{"password", "starting", "choose_method", "challenge", "done", "failed", "expired"} {
			apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/flows?kind=login&state="+st, nil), 200)
		}
	})
}
