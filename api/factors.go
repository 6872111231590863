package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/workflows"
)

// API.md "Managing factors": switching factors off, unlinking Telegram
// accounts, passkeys and phones. Each change needs a recent login (reauth),
// is an audit event and is told to the account's channels (a Notice flow).

// noticeTimeout bounds a Notice flow whose worker vanished for good.
const noticeTimeout = time.Hour

// reauthBody is the body of a factor change: only the re-authentication.
type reauthBody struct {
	CurrentPassword *string `json:"current_password"`
}

// reauth enforces the recent-login rule (ASVS 5.0 7.5.1): a session whose
// last full login is older than 15 minutes must send current_password. A
// right password re-authenticates the session; a wrong one is 403
// invalid_credentials, whatever the session's age.
func (s *Server) reauth(c *gin.Context, currentPassword *string) error {
	cur := session(c)
	now := s.now()
	if currentPassword == nil || *currentPassword == "" {
		if now.Sub(cur.AuthenticatedAt) <= recentAuth {
			return nil
		}
		return newErr(errkind.ReauthRequired, "the last sign-in is older than 15 minutes: send current_password")
	}
	ctx := c.Request.Context()
	u, err := s.Store.UserByID(ctx, cur.UserID)
	if err != nil {
		return err
	}
	if err := s.checkCurrentPassword(c, u, *currentPassword); err != nil {
		return err
	}
	return s.Store.MarkAuthenticated(ctx, cur.ID, now)
}

// passwords is the login's password guard (docs/security.md "Password
// attempts"), on the same counters.
func (s *Server) passwords() rules.PasswordGuard {
	return rules.PasswordGuard{Store: s.Store, Limits: s.Limits.OrDefault(), Now: s.now}
}

// checkCurrentPassword checks a signed-in user's current_password under the
// login's throttle: 429 while the account or the IP is locked, and a wrong
// one counts like a wrong password at login. Without it, a stolen session
// could guess the password at the speed of the server.
func (s *Server) checkCurrentPassword(c *gin.Context, u store.User, password string) error {
	ctx, ip := c.Request.Context(), clientIP(c)
	attempt, retryAfter, err := s.passwords().Reserve(ctx, u.Email, ip)
	if err != nil {
		return err
	}
	if retryAfter > 0 {
		return rateLimited(retryAfter)
	}
	if !s.Hasher.Verify(u.PasswordHash, password) {
		// The reservation stands: it is the wrong password's count.
		_ = s.event(ctx, u.ID, "login_failed", ip, map[string]any{"reason": "wrong_current_password"})
		return newErr(errkind.WrongCurrentPassword, "the current password is wrong")
	}
	return attempt.Succeeded(ctx)
}

// changed records a change the API made as an audit event and tells every
// channel of the account. The notice runs as a Notice flow, retried by the
// worker; failing to start it does not undo the change.
func (s *Server) changed(c *gin.Context, typ string, detail map[string]any, subject, text string) error {
	cur := session(c)
	if err := s.event(c.Request.Context(), cur.UserID, typ, clientIP(c), detail); err != nil {
		return err
	}
	s.notice(c, cur.UserID, subject, text+" If this was not you, change your password and review Settings → Security.")
	return nil
}

func (s *Server) notice(c *gin.Context, userID, subject, text string) {
	ctx, cancel := rpc(c, rpcTimeout)
	defer cancel()
	_, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.NoticeWorkflowID(security.RandomToken()), TaskQueue: workflows.TaskQueue,
		WorkflowExecutionTimeout: noticeTimeout, StaticSummary: "Notice: " + subject,
	}, workflows.NoticeWorkflowName, workflows.NoticeInput{UserID: userID, Subject: subject, Text: text})
	if err != nil {
		logFrom(c).Error("notice not started", "subject", subject, "err", err)
	}
}

// bindReauth decodes a body that carries only current_password and checks
// the recent-login rule with it.
func (s *Server) bindReauth(c *gin.Context) bool {
	var req reauthBody
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return false
	}
	if err := s.reauth(c, req.CurrentPassword); err != nil {
		fail(c, err)
		return false
	}
	return true
}

// change is what a factor call changed, to record and announce (changed).
type change struct {
	typ           string
	detail        map[string]any
	subject, text string
}

// applyChange runs apply for the session's user, records and announces
// the change it reports (none when it reports nil: the call changed
// nothing) and answers 204.
func (s *Server) applyChange(c *gin.Context, apply func(ctx context.Context, userID string) (*change, error)) {
	ch, err := apply(c.Request.Context(), session(c).UserID)
	if err == nil && ch != nil {
		err = s.changed(c, ch.typ, ch.detail, ch.subject, ch.text)
	}
	if err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) disableTOTP(c *gin.Context) {
	if !s.bindReauth(c) {
		return
	}
	s.applyChange(c, func(ctx context.Context, userID string) (*change, error) {
		tf, err := s.Store.TwoFactorSettings(ctx, userID)
		if err != nil {
			return nil, err
		}
		if err := s.Store.DeleteTOTPSecret(ctx, userID); err != nil {
			return nil, err
		}
		if !tf.TOTPEnabled && tf.TOTPSecretSealed == nil {
			return nil, nil // there was nothing to turn off
		}
		return &change{"factor_disabled", map[string]any{"method": "totp"}, "Authenticator app disabled",
			"Two-step authentication with an authenticator app (GAuth) was turned off and its secret destroyed."}, nil
	})
}

func (s *Server) disableEmail(c *gin.Context) {
	if !s.bindReauth(c) {
		return
	}
	s.applyChange(c, func(ctx context.Context, userID string) (*change, error) {
		tf, err := s.Store.TwoFactorSettings(ctx, userID)
		if err != nil {
			return nil, err
		}
		if err := s.Store.SetEmailEnabled(ctx, userID, false); err != nil {
			return nil, err
		}
		if !tf.EmailEnabled {
			return nil, nil
		}
		return &change{"factor_disabled", map[string]any{"method": "email"}, "Email two-step authentication disabled",
			"Two-step authentication with codes sent by email was turned off."}, nil
	})
}

func (s *Server) setTelegramFactor(c *gin.Context) {
	var req struct {
		Enabled         *bool   `json:"enabled"`
		CurrentPassword *string `json:"current_password"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Enabled == nil {
		fail(c, badRequest("enabled (true or false) is required"))
		return
	}
	if err := s.reauth(c, req.CurrentPassword); err != nil {
		fail(c, err)
		return
	}
	cur := session(c)
	ctx := c.Request.Context()
	before, err := s.meDocument(ctx, cur.UserID)
	if err != nil {
		fail(c, err)
		return
	}
	on := *req.Enabled
	if on && len(before.TwoFactor.Telegram.Accounts) == 0 {
		fail(c, newErr(errkind.MethodUnavailable, "link a Telegram account first"))
		return
	}
	if before.TwoFactor.Telegram.Enabled == on {
		c.Status(http.StatusNoContent)
		return
	}
	if err := s.Store.SetTelegramEnabled(ctx, cur.UserID, on); err != nil {
		fail(c, err)
		return
	}
	typ, subject, text := "factor_disabled", "Telegram two-step authentication disabled",
		"Two-step authentication with Telegram was turned off; your Telegram accounts stay linked for notices."
	if on {
		typ, subject, text = "factor_enabled", "Telegram two-step authentication enabled",
			"Two-step authentication with Telegram was turned on."
	}
	if err := s.changed(c, typ, map[string]any{"method": "telegram"}, subject, text); err != nil {
		fail(c, err)
		return
	}
	if on && !before.TwoFactor.Enabled {
		// Turning 2FA on for an account that had none ends every other
		// session (the help page).
		if err := s.endOthers(ctx, cur.UserID, cur.ID, clientIP(c), "two_factor_enabled"); err != nil {
			fail(c, err)
			return
		}
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) unlinkTelegram(c *gin.Context) {
	if !s.bindReauth(c) {
		return
	}
	id := c.Param("id")
	s.applyChange(c, func(ctx context.Context, userID string) (*change, error) {
		acc, err := findOne(ctx, userID, s.Store.ListTelegram, func(t store.TelegramAccount) bool { return t.ID == id })
		if err != nil {
			return nil, err
		}
		if err := s.Store.UnlinkTelegram(ctx, userID, id); err != nil {
			return nil, err
		}
		name := "A Telegram account"
		if acc.Username != "" {
			name = "Telegram account @" + acc.Username
		}
		return &change{"telegram_unlinked", map[string]any{"account_id": acc.ID, "username": acc.Username, "chat_id": acc.ChatID},
			"Telegram account unlinked", name + " was unlinked from your account."}, nil
	})
}

func (s *Server) patchDevice(c *gin.Context) {
	var req struct {
		Passwordless    *bool           `json:"passwordless"`
		Name            json.RawMessage `json:"name"`
		CurrentPassword *string         `json:"current_password"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Name != nil {
		fail(c, badRequest("a passkey's name is fixed: delete the device and add it again to change it"))
		return
	}
	if req.Passwordless == nil {
		fail(c, badRequest("passwordless (true or false) is required"))
		return
	}
	if err := s.reauth(c, req.CurrentPassword); err != nil {
		fail(c, err)
		return
	}
	id, on := c.Param("id"), *req.Passwordless
	s.applyChange(c, func(ctx context.Context, userID string) (*change, error) {
		dev, err := findOne(ctx, userID, s.Store.ListCredentials, func(d store.Credential) bool { return d.ID == id })
		if err != nil {
			return nil, err
		}
		if err := s.Store.SetCredentialPasswordless(ctx, userID, id, on); err != nil {
			return nil, err
		}
		if dev.Passwordless == on {
			return nil, nil
		}
		typ, verb := "factor_disabled", "can no longer"
		if on {
			typ, verb = "factor_enabled", "can now"
		}
		return &change{typ, map[string]any{"method": "passwordless", "device_id": dev.ID, "name": dev.Name},
			"Passwordless sign-in changed", "The passkey \"" + dev.Name + "\" " + verb + " sign in without a password."}, nil
	})
}

func (s *Server) deleteDevice(c *gin.Context) {
	if !s.bindReauth(c) {
		return
	}
	id := c.Param("id")
	s.applyChange(c, func(ctx context.Context, userID string) (*change, error) {
		dev, err := findOne(ctx, userID, s.Store.ListCredentials, func(d store.Credential) bool { return d.ID == id })
		if err != nil {
			return nil, err
		}
		if err := s.Store.DeleteCredential(ctx, userID, id); err != nil {
			return nil, err
		}
		return &change{"device_removed", map[string]any{"device_id": dev.ID, "name": dev.Name},
			"Passkey removed", "The passkey \"" + dev.Name + "\" was removed from your account."}, nil
	})
}

func (s *Server) deletePhone(c *gin.Context) {
	if !s.bindReauth(c) {
		return
	}
	id := c.Param("id")
	s.applyChange(c, func(ctx context.Context, userID string) (*change, error) {
		p, err := s.Store.Phone(ctx, userID, id)
		if err != nil {
			return nil, err
		}
		if err := s.Store.DeletePhone(ctx, userID, id); err != nil {
			return nil, err
		}
		masked := phone.Mask(p.Number)
		return &change{"phone_removed", map[string]any{"phone_id": p.ID, "number_masked": masked},
			"Phone removed", "The phone " + masked + " was removed from your account."}, nil
	})
}

// findOne returns the user's row that matches, or store.ErrNotFound (an
// unknown id and another account's id look the same: 404 not_found).
func findOne[T any](ctx context.Context, userID string, list func(context.Context, string) ([]T, error), match func(T) bool) (T, error) {
	var zero T
	rows, err := list(ctx, userID)
	if err != nil {
		return zero, err
	}
	for _, r := range rows {
		if match(r) {
			return r, nil
		}
	}
	return zero, store.ErrNotFound
}
