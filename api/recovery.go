package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/authflow/authflow/security"
)

// newRecoveryCodes makes a new set of ten recovery codes for the session's
// account (POST /v1/me/recovery-codes): reauth as for a factor change; the
// codes appear in this answer only and the store keeps keyed hashes; an
// earlier set stops working; every channel is told. It ends no session:
// recovery codes back up a second factor that is on already, so they never
// turn 2FA on (409 conflict without one).
func (s *Server) newRecoveryCodes(c *gin.Context) {
	if !s.bindReauth(c) {
		return
	}
	ctx, userID := c.Request.Context(), session(c).UserID
	m, err := s.meDocument(ctx, userID)
	if err != nil {
		fail(c, err)
		return
	}
	tf := m.TwoFactor
	if !((tf.Telegram.Enabled && len(tf.Telegram.Accounts) > 0) || tf.TOTP.Enabled || tf.Email.Enabled || len(tf.WebAuthn.Devices) > 0) {
		fail(c, newErr(codeConflict, "turn two-step authentication on first: recovery codes back up a second factor"))
		return
	}
	codes := security.NewRecoveryCodes()
	hashes := make([][]byte, len(codes))
	for i, code := range codes {
		n, _ := security.NormalizeRecoveryCode(code)
		hashes[i] = security.RecoveryCodeHash(s.Cfg.SecretKey, userID, n)
	}
	if err := s.Store.ReplaceRecoveryCodes(ctx, userID, hashes, s.now()); err != nil {
		fail(c, err)
		return
	}
	if err := s.changed(c, "recovery_codes_created", map[string]any{"count": len(codes), "replaced": m.RecoveryCodes.Remaining},
		"New recovery codes", "A new set of recovery codes was made for your account; any earlier codes no longer work."); err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"codes": codes})
}
