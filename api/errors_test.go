package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/store"
)

// rendered renders err as fail does and reads the status, the code and the
// message back.
func rendered(t *testing.T, err error) (status int, code, message string, body map[string]any) {
	t.Helper()
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest("GET", "/", nil)
	fail(c, err)
	var doc struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	code, _ = doc.Error["code"].(string)
	message, _ = doc.Error["message"].(string)
	return w.Code, code, message, doc.Error
}

func TestEveryKindIsAnsweredAsTheListSays(t *testing.T) {
	for _, k := range errkind.Kinds() {
		want, _ := k.HTTP()
		// From a flow (an ApplicationError, wrapped as the client returns
		// it) and from the API itself.
		for _, err := range []error{fmt.Errorf("update: %w", errkind.New(k, "the message")), newErr(k, "the message")} {
			status, code, msg, _ := rendered(t, err)
			if status != want.Status || code != want.Code {
				t.Errorf("%s answered %d %s, want %d %s", k, status, code, want.Status, want.Code)
			}
			if (msg == "the message") == want.Hidden {
				t.Errorf("%s answered the message %q (hidden: %v)", k, msg, want.Hidden)
			}
		}
	}
}

func TestErrorsWithoutAKind(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("x: %w", store.ErrNotFound), 404, "not_found"},
		{store.ErrConflict, 409, "conflict"},
		{serviceerror.NewNotFound("gone"), 404, "flow_not_found"},
		{serviceerror.NewQueryFailed("no secret"), 404, "flow_not_found"},
		{errors.New("the database is down"), 503, "unavailable"},
	} {
		if status, code, _, _ := rendered(t, c.err); status != c.status || code != c.code {
			t.Errorf("%v answered %d %s, want %d %s", c.err, status, code, c.status, c.code)
		}
	}
	t.Run("case=details ride along", func(t *testing.T) {
		_, _, _, body := rendered(t, errkind.New(errkind.RateLimited, "slow", errkind.RateLimitDetails{RetryAfterSeconds: 9, Locked: true}))
		if body["retry_after"] != 9.0 || body["locked"] != true {
			t.Fatalf("body %v", body)
		}
		_, _, _, body = rendered(t, errkind.New(errkind.InvalidCode, "wrong", errkind.AttemptsDetails{AttemptsLeft: 2}))
		if body["attempts_left"] != 2.0 {
			t.Fatalf("body %v", body)
		}
	})
}
