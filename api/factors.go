package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"

	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/workflows"
)

// docs/api.md "Managing factors": switching factors off, unlinking Telegram
// accounts, passkeys and phones. Each change needs a recent login (reauth)
// and goes through rules.Account, as an enrollment's does: it records the
// change, decides what follows and tells the account's channels (a Notice
// flow).

// noticeTimeout bounds a Notice flow whose worker vanished for good.
const noticeTimeout = time.Hour

// reauthBody is the body of a factor change: only the re-authentication.
type reauthBody struct {
	CurrentPassword *string `json:"current_password"`
}

// account is the domain's account changes, on the API's store and clock,
// telling the account's channels through Notice flows.
func (s *Server) account() *rules.Account {
	return &rules.Account{Store: s.Store, Notify: rules.NotifierFunc(s.startNotice), Hasher: s.Hasher,
		Limits: s.Limits.OrDefault(), Now: s.now}
}

// change is a change made by the request's session.
func change(c *gin.Context) rules.Change {
	cur := session(c)
	return rules.Change{UserID: cur.UserID, SessionID: cur.ID, IP: clientIP(c)}
}

// reauth enforces the recent-login rule (rules.Account.Reauthenticate) for
// the request's session.
func (s *Server) reauth(c *gin.Context, currentPassword *string) error {
	return s.account().Reauthenticate(c.Request.Context(), change(c), session(c).AuthenticatedAt, currentPassword)
}

// startNotice tells every channel of the account in a Notice flow, retried
// by the worker; failing to start it is logged and does not undo the
// change. A keyed notice is one flow per key.
func (s *Server) startNotice(ctx context.Context, userID, key string, n rules.Notice) error {
	if key == "" {
		key = security.RandomToken()
	}
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	_, err := s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.NoticeWorkflowID(key), TaskQueue: workflows.TaskQueue,
		WorkflowExecutionTimeout: noticeTimeout, StaticSummary: "Notice: " + n.ID,
	}, workflows.NoticeWorkflowName, workflows.NoticeInput{UserID: userID, Notice: n})
	if err != nil {
		s.logger().Error("notice not started", "user_id", userID, "notice", n.ID, "err", err)
	}
	return nil
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

// factorChange makes one change for the request's session and answers
// 204.
func (s *Server) factorChange(c *gin.Context, apply func(ctx context.Context, a *rules.Account, ch rules.Change) (rules.Result, error)) {
	if _, err := apply(c.Request.Context(), s.account(), change(c)); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) disableTOTP(c *gin.Context) {
	if !s.bindReauth(c) {
		return
	}
	s.factorChange(c, func(ctx context.Context, a *rules.Account, ch rules.Change) (rules.Result, error) {
		return a.DisableTOTP(ctx, ch)
	})
}

func (s *Server) disableEmail(c *gin.Context) {
	if !s.bindReauth(c) {
		return
	}
	s.factorChange(c, func(ctx context.Context, a *rules.Account, ch rules.Change) (rules.Result, error) {
		return a.DisableEmail(ctx, ch)
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
	s.factorChange(c, func(ctx context.Context, a *rules.Account, ch rules.Change) (rules.Result, error) {
		return a.SetTelegram(ctx, ch, *req.Enabled)
	})
}

func (s *Server) unlinkTelegram(c *gin.Context) {
	if !s.bindReauth(c) {
		return
	}
	s.factorChange(c, func(ctx context.Context, a *rules.Account, ch rules.Change) (rules.Result, error) {
		return a.UnlinkTelegram(ctx, ch, c.Param("id"))
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
	s.factorChange(c, func(ctx context.Context, a *rules.Account, ch rules.Change) (rules.Result, error) {
		return a.SetPasswordless(ctx, ch, c.Param("id"), *req.Passwordless)
	})
}

func (s *Server) deleteDevice(c *gin.Context) {
	if !s.bindReauth(c) {
		return
	}
	s.factorChange(c, func(ctx context.Context, a *rules.Account, ch rules.Change) (rules.Result, error) {
		return a.RemovePasskey(ctx, ch, c.Param("id"))
	})
}

func (s *Server) deletePhone(c *gin.Context) {
	if !s.bindReauth(c) {
		return
	}
	s.factorChange(c, func(ctx context.Context, a *rules.Account, ch rules.Change) (rules.Result, error) {
		return a.RemovePhone(ctx, ch, c.Param("id"))
	})
}
