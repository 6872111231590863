package api

import (
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/authflow/authflow/config"
)

// TestAdminBearer: the admin token is compared whole, and a server whose
// token is empty (built by hand; config.Load refuses it) admits nobody,
// not even an empty bearer token.
func TestAdminBearer(t *testing.T) {
	const token = "0123456789abcdef"
	admits := func(t *testing.T, token, header string, want bool) {
		t.Helper()
		s := &Server{Cfg: config.Config{AdminToken: token}}
		ctx, _ := gin.CreateTestContext(httptest.NewRecorder())
		ctx.Request = httptest.NewRequest("GET", "/v1/admin/flows", nil)
		if header != "" {
			ctx.Request.Header.Set("Authorization", header)
		}
		if got := s.adminBearer(ctx); got != want {
			t.Errorf("adminBearer(%q) with token %q = %v, want %v", header, token, got, want)
		}
	}
	t.Run("case=the token is admitted", func(t *testing.T) { admits(t, token, "Bearer "+token, true) })
	t.Run("case=a prefix of the token is refused", func(t *testing.T) { admits(t, token, "Bearer "+token[:15], false) })
	t.Run("case=another scheme is refused", func(t *testing.T) { admits(t, token, "Basic "+token, false) })
	t.Run("case=no header is refused", func(t *testing.T) { admits(t, token, "", false) })
	t.Run("case=an empty token admits no empty bearer", func(t *testing.T) {
		admits(t, "", "Bearer ", false)
		admits(t, "", "Bearer x", false)
	})
}
