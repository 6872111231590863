package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// newRecoveryCodes makes a new set of ten recovery codes for the session's
// account (POST /v1/me/recovery-codes), reauth as for a factor change; the
// rules (rules.Account.ReplaceRecoveryCodes) decide and announce, and the
// codes appear in this answer only.
func (s *Server) newRecoveryCodes(c *gin.Context) {
	if !s.bindReauth(c) {
		return
	}
	codes, _, err := s.account().ReplaceRecoveryCodes(c.Request.Context(), change(c), s.Cfg.SecretKey)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"codes": codes})
}
