package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/workflows"
)

// Account recovery (docs/api.md "Account recovery", docs/design.md
// "Account recovery"). Every call under a recovery flow needs its flow
// secret, as a login's do.

// recoveryJSON is a recovery flow as docs/api.md shows it: a login flow's
// fields and when the wait ends.
type recoveryJSON struct {
	flowJSON
	ReadyAt    *time.Time `json:"ready_at,omitempty"`
	ReminderAt *time.Time `json:"reminder_at,omitempty"`
}

// recoveryAnswer renders a recovery; a done one carries the session its
// new password gave, whose token the caller's flow secret makes.
func (s *Server) recoveryAnswer(v workflows.RecoveryView, flowSecret string) recoveryJSON {
	out := recoveryJSON{flowJSON: s.flowAnswer(v.View, flowSecret)}
	switch v.State {
	case workflows.StateSecondFactor:
		out.Methods = v.Methods
		if out.Methods == nil {
			out.Methods = []workflows.MethodOption{}
		}
		if v.Method == workflows.MethodTelegram && v.TelegramNumber > 0 {
			out.Telegram = &telegramChallenge{Number: v.TelegramNumber}
		}
		out.WebAuthn = passkeyOptions(v.WebAuthnOptions)
	case workflows.StateWaiting:
		out.ReadyAt, out.ReminderAt = utcPtr(v.ReadyAt), utcPtr(v.ReminderAt)
	case workflows.StateSetPassword, workflows.StateCancelled:
		out.ReadyAt = utcPtr(v.ReadyAt)
	}
	return out
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (s *Server) respondRecovery(c *gin.Context, v workflows.RecoveryView) {
	out := s.recoveryAnswer(v, callerFlowSecret(c))
	if out.Session != nil {
		s.setSessionCookies(c, out.Session.Token, out.Session.ExpiresAt)
	}
	c.JSON(http.StatusOK, out)
}

// startRecovery answers 202 at once, the same for every well-formed
// address: the flow looks the account up and sends the code itself, so
// the answer's content and timing say nothing of whether it exists.
func (s *Server) startRecovery(c *gin.Context) {
	var req struct {
		Email string `json:"email"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	email, err := rules.ParseEmail(req.Email)
	if err != nil {
		fail(c, badRequest(err.Error()))
		return
	}
	flowID := security.RandomToken()
	secret, mac, tokenHash := s.newFlowSecret(flowID)
	expires := s.now().Add(workflows.RecoveryTTL).UTC().Truncate(time.Second)
	in := workflows.RecoveryInput{FlowID: flowID, Email: email, IP: clientIP(c), UserAgent: c.Request.UserAgent(), Locale: acceptLocale(c),
		FlowSecretMAC: mac, SessionTokenHash: tokenHash, ExpiresAt: expires, Delay: s.Cfg.RecoveryDelay}
	ctx, cancel := rpc(c, rpcTimeout)
	defer cancel()
	_, err = s.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.RecoveryWorkflowID(flowID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// The flow ends itself; this bounds one whose worker vanished.
		WorkflowExecutionTimeout: workflows.RecoveryTTL + s.Cfg.RecoveryDelay + workflows.RecoveryReadyTTL + time.Hour,
		StaticSummary:            "Account recovery",
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchKind.ValueSet(workflows.KindRecovery),
			workflows.SearchState.ValueSet(string(workflows.StateEmailSent)),
			workflows.SearchMethod.ValueSet(""),
			workflows.SearchStateChangedAt.ValueSet(time.Now().UTC()),
		),
	}, workflows.RecoveryWorkflowName, in)
	if err != nil {
		fail(c, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: flowSecretCookie, Value: secret, Path: "/v1/recovery/" + flowID,
		MaxAge: int((workflows.RecoveryTTL + s.Cfg.RecoveryDelay + workflows.RecoveryReadyTTL) / time.Second), HttpOnly: true,
		Secure: s.Cfg.Secure(), SameSite: http.SameSiteStrictMode})
	c.JSON(http.StatusAccepted, gin.H{"flow_id": flowID, "flow_secret": secret, "state": workflows.StateEmailSent,
		"expires_at": expires})
}

// queryRecovery reads a recovery; it answers only to its own secret's MAC.
func (s *Server) queryRecovery(c *gin.Context, id string, mac []byte) (workflows.RecoveryView, error) {
	ctx, cancel := rpc(c, rpcTimeout)
	defer cancel()
	var v workflows.RecoveryView
	res, err := s.Temporal.QueryWorkflow(ctx, workflows.RecoveryWorkflowID(id), "", workflows.QueryState, mac)
	if err == nil {
		err = res.Get(&v)
	}
	return v, err
}

// recoveryFlow reads the path's flow id and the caller's flow secret.
func (s *Server) recoveryFlow(c *gin.Context) (id string, mac []byte, ok bool) {
	if id, ok = flowID(c); !ok {
		return "", nil, false
	}
	mac, ok = s.flowSecretMAC(c, id)
	return id, mac, ok
}

func (s *Server) recoveryState(c *gin.Context) {
	id, mac, ok := s.recoveryFlow(c)
	if !ok {
		return
	}
	v, err := s.queryRecovery(c, id, mac)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s.recoveryAnswer(v, callerFlowSecret(c)))
}

// updateRecovery sends an update to a running recovery; one that has
// closed answers with its final state (expired → 410, others → 409), to
// its own secret only.
func (s *Server) updateRecovery(c *gin.Context, id string, mac []byte, name string, arg any) (workflows.RecoveryView, error) {
	var v workflows.RecoveryView
	err := s.sendUpdate(c, workflows.RecoveryWorkflowID(id), name, arg, verifyTimeout, &v)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) && mac != nil {
		final, qerr := s.queryRecovery(c, id, mac)
		if qerr != nil {
			return v, qerr
		}
		return v, closedFlowErr(final.State, "the recovery")
	}
	if errors.As(err, &nf) {
		return v, newErr(errkind.FlowNotFound, "no such open recovery")
	}
	return v, err
}

func (s *Server) recoveryVerify(c *gin.Context) {
	id, mac, ok := s.recoveryFlow(c)
	if !ok {
		return
	}
	in, err := s.loginAnswer(c, mac)
	if err != nil {
		fail(c, err)
		return
	}
	v, err := s.updateRecovery(c, id, mac, workflows.UpdateVerify, in)
	if err != nil {
		fail(c, err)
		return
	}
	s.respondRecovery(c, v)
}

func (s *Server) recoveryChallenge(c *gin.Context) {
	id, mac, ok := s.recoveryFlow(c)
	if !ok {
		return
	}
	var req challengeRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.updateRecovery(c, id, mac, workflows.UpdateChallenge, workflows.ChallengeInput{FlowSecretMAC: mac,
		Method: req.Method, PhoneID: req.PhoneID, ConfirmDowngrade: req.ConfirmDowngrade})
	if err != nil {
		fail(c, err)
		return
	}
	s.respondRecovery(c, v)
}

func (s *Server) recoveryLostFactors(c *gin.Context) {
	id, mac, ok := s.recoveryFlow(c)
	if !ok {
		return
	}
	var req struct{}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.updateRecovery(c, id, mac, workflows.UpdateLostFactors, workflows.LostFactorsInput{FlowSecretMAC: mac})
	if err != nil {
		fail(c, err)
		return
	}
	s.respondRecovery(c, v)
}

func (s *Server) recoveryPassword(c *gin.Context) {
	id, mac, ok := s.recoveryFlow(c)
	if !ok {
		return
	}
	var req struct {
		NewPassword string `json:"new_password"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := rules.CheckNewPassword(req.NewPassword); err != nil {
		fail(c, err)
		return
	}
	v, err := s.updateRecovery(c, id, mac, workflows.UpdateSetPassword, workflows.SetPasswordInput{FlowSecretMAC: mac,
		PasswordSealed: s.Sealer.Seal(security.PurposePassword, []byte(req.NewPassword))})
	if err != nil {
		fail(c, err)
		return
	}
	s.respondRecovery(c, v)
}

// cancelRecoveryByLink spends a notice's single-use token and cancels its
// recovery. A POST, never the link's GET: mail scanners open links.
func (s *Server) cancelRecoveryByLink(c *gin.Context) {
	var req struct {
		Token string `json:"token"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Token == "" || len(req.Token) > 128 {
		fail(c, badRequest("token is required"))
		return
	}
	flow, err := s.Store.UseRecoveryCancelToken(c.Request.Context(), security.HashToken(strings.TrimSpace(req.Token)), s.now())
	if errors.Is(err, store.ErrNotFound) {
		fail(c, newErr(errkind.NotFound, "this link is invalid, used or expired"))
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	v, err := s.updateRecovery(c, flow, nil, workflows.UpdateRecoveryCancel, workflows.RecoveryCancel{Reason: "link"})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"flow_id": flow, "state": v.State})
}

// adminCancelFlow cancels a recovery for an operator (docs/api.md
// "Admin"); other kinds of flows end by themselves.
func (s *Server) adminCancelFlow(c *gin.Context) {
	id, ok := flowID(c)
	if !ok {
		return
	}
	v, err := s.updateRecovery(c, id, nil, workflows.UpdateRecoveryCancel, workflows.RecoveryCancel{Reason: "admin"})
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"flow_id": id, "state": v.State})
}
