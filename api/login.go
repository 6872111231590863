package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/i18n"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/workflows"
)

// Timeouts of calls to Temporal. A verify may run the phone saga.
const (
	rpcTimeout    = 15 * time.Second
	verifyTimeout = 60 * time.Second
)

type sessionJSON struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// flowJSON is a login flow as docs/api.md shows it.
type flowJSON struct {
	FlowID string `json:"flow_id"`
	// FlowSecret is only in the answer that starts the flow.
	FlowSecret   string                   `json:"flow_secret,omitempty"`
	State        workflows.State          `json:"state"`
	Method       workflows.Method         `json:"method"`
	ExpiresAt    time.Time                `json:"expires_at"`
	AttemptsLeft int                      `json:"attempts_left"`
	Methods      []workflows.MethodOption `json:"methods,omitempty"`
	Session      *sessionJSON             `json:"session,omitempty"`
	Telegram     *telegramChallenge       `json:"telegram,omitempty"`
	WebAuthn     json.RawMessage          `json:"webauthn,omitempty"`
	Downgrade    *workflows.Downgrade     `json:"downgrade,omitempty"`
}

type telegramChallenge struct {
	Number int `json:"number"`
}

// passkeyOptions is a View's WebAuthn options as an answer's field: absent when
// the flow made none. A View read back from Temporal holds JSON null there,
// and omitempty leaves out only an empty json.RawMessage, so the answer of
// every other method would carry "webauthn": null.
func passkeyOptions(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

// flowAnswer renders a View; a done flow carries its session while the flow
// is retained (until its expires_at), whose token is computed from the
// caller's flow secret ("" answers no token: a flow that is not a login).
func (s *Server) flowAnswer(v workflows.View, flowSecret string) flowJSON {
	out := flowJSON{FlowID: v.FlowID, State: v.State, Method: v.Method, ExpiresAt: v.ExpiresAt.UTC(),
		AttemptsLeft: v.AttemptsLeft, Downgrade: v.Downgrade}
	if out.State == workflows.StatePassword {
		out.State = workflows.StateFailed // not visible outside: the password step is synchronous
	}
	switch v.State {
	case workflows.StateChooseMethod:
		out.Methods = v.Methods
		if out.Methods == nil {
			out.Methods = []workflows.MethodOption{}
		}
	case workflows.StateChallenge:
		if v.Method == workflows.MethodTelegram && v.TelegramNumber > 0 {
			out.Telegram = &telegramChallenge{Number: v.TelegramNumber}
		}
		out.WebAuthn = passkeyOptions(v.WebAuthnOptions)
	case workflows.StateDone:
		if v.Session != nil && flowSecret != "" && s.now().Before(v.ExpiresAt) {
			out.Session = &sessionJSON{Token: security.SessionToken(s.Cfg.SecretKey, v.FlowID, flowSecret), ExpiresAt: v.Session.ExpiresAt.UTC()}
		}
	}
	return out
}

func (s *Server) respondFlow(c *gin.Context, v workflows.View) {
	out := s.flowAnswer(v, callerFlowSecret(c))
	if out.Session != nil {
		s.setSessionCookies(c, out.Session.Token, out.Session.ExpiresAt)
	}
	c.JSON(http.StatusOK, out)
}

// startOptions start a Login flow with the search attributes of its first
// state: the flow upserts only what changes after it.
func (s *Server) startOptions(in workflows.LoginInput, summary string) client.StartWorkflowOptions {
	first := workflows.StatePassword
	if in.Passwordless {
		first = workflows.StateChooseMethod // the passkey is its only step
	}
	return client.StartWorkflowOptions{
		ID:                       workflows.LoginWorkflowID(in.FlowID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// The flow ends itself at expiry; this bounds a flow whose worker
		// vanished for good.
		WorkflowExecutionTimeout: workflows.FlowTTL + 10*time.Minute,
		StaticSummary:            summary,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchKind.ValueSet(workflows.KindLogin),
			workflows.SearchState.ValueSet(string(first)),
			workflows.SearchMethod.ValueSet(""),
			workflows.SearchStateChangedAt.ValueSet(time.Now().UTC()),
		),
	}
}

// updateWithStart starts a Login flow and sends its first update in one
// round trip, returning the update's answer.
func (s *Server) updateWithStart(c *gin.Context, in workflows.LoginInput, summary, update string, arg any) (workflows.View, error) {
	ctx, cancel := rpc(c, rpcTimeout)
	defer cancel()
	op := s.Temporal.NewWithStartWorkflowOperation(s.startOptions(in, summary), workflows.LoginWorkflowName, in)
	h, err := s.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   update,
			Args:         []any{arg},
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var v workflows.View
	if err == nil {
		err = h.Get(ctx, &v)
	}
	return v, err
}

// flowSecretCookie carries a login flow's secret for the pages: HttpOnly,
// SameSite=Strict and scoped to the flow's own path, so that no script and
// no other site's request carries it (docs/security.md "Flow secret").
const (
	flowSecretCookie = "authflow_flow_secret"
	flowSecretHeader = "X-Flow-Secret"
)

// newFlowSecret makes the secret of a flow the caller is starting, the
// MAC the flow keeps of it, and the hash of the session token the secret
// makes (security.SessionTokenHash), under which the flow's session is
// stored.
func (s *Server) newFlowSecret(flowID string) (secret string, mac, sessionTokenHash []byte) {
	secret = security.RandomToken()
	return secret, security.FlowSecretMAC(s.Cfg.SecretKey, flowID, secret), security.SessionTokenHash(s.Cfg.SecretKey, flowID, secret)
}

// respondStarted answers the call that started a flow: the flow, its
// secret, and the secret as a cookie scoped to the flow.
func (s *Server) respondStarted(c *gin.Context, v workflows.View, secret string) {
	out := s.flowAnswer(v, secret)
	out.FlowSecret = secret
	http.SetCookie(c.Writer, &http.Cookie{Name: flowSecretCookie, Value: secret, Path: "/v1/login/" + v.FlowID,
		MaxAge: int(workflows.FlowTTL / time.Second), HttpOnly: true, Secure: s.Cfg.Secure(), SameSite: http.SameSiteStrictMode})
	if out.Session != nil {
		s.setSessionCookies(c, out.Session.Token, out.Session.ExpiresAt)
	}
	c.JSON(http.StatusOK, out)
}

// flowSecretMAC reads the caller's flow secret (header, else the flow's
// cookie) and returns its MAC for the flow to compare. Without one the
// answer is the unknown flow's 404: a flow id alone opens nothing.
func (s *Server) flowSecretMAC(c *gin.Context, flowID string) ([]byte, bool) {
	secret := callerFlowSecret(c)
	if secret == "" {
		fail(c, newErr(errkind.FlowNotFound, "no such flow"))
		return nil, false
	}
	return security.FlowSecretMAC(s.Cfg.SecretKey, flowID, secret), true
}

// callerFlowSecret is the flow secret the call carries (header, else the
// flow's cookie), "" when none or an overlong one.
func callerFlowSecret(c *gin.Context) string {
	secret := c.GetHeader(flowSecretHeader)
	if secret == "" {
		secret, _ = c.Cookie(flowSecretCookie)
	}
	if len(secret) > 128 {
		return ""
	}
	return secret
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) login(c *gin.Context) {
	var req loginRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	email := strings.TrimSpace(req.Email)
	if email == "" || req.Password == "" {
		fail(c, badRequest("email and password are required"))
		return
	}
	if len(email) > 254 || len(req.Password) > 1024 {
		fail(c, badRequest("email or password too long"))
		return
	}
	flowID := security.RandomToken()
	secret, mac, tokenHash := s.newFlowSecret(flowID)
	in := workflows.LoginInput{FlowID: flowID, IP: clientIP(c), UserAgent: c.Request.UserAgent(), FlowSecretMAC: mac,
		SessionTokenHash: tokenHash, Locale: acceptLocale(c)}
	v, err := s.updateWithStart(c, in, "Login (password)", workflows.UpdateSubmitPassword, workflows.SubmitPasswordInput{
		Email: email, PasswordSealed: s.Sealer.Seal(security.PurposePassword, []byte(req.Password)),
	})
	if err != nil {
		fail(c, err)
		return
	}
	s.respondStarted(c, v, secret)
}

func (s *Server) loginPasskey(c *gin.Context) {
	var req struct{}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	flowID := security.RandomToken()
	secret, mac, tokenHash := s.newFlowSecret(flowID)
	in := workflows.LoginInput{FlowID: flowID, IP: clientIP(c), UserAgent: c.Request.UserAgent(), Passwordless: true, Locale: acceptLocale(c),
		FlowSecretMAC: mac, SessionTokenHash: tokenHash}
	v, err := s.updateWithStart(c, in, "Login (passkey)", workflows.UpdateChallenge,
		workflows.ChallengeInput{FlowSecretMAC: mac, Method: workflows.MethodWebAuthn})
	if err != nil {
		fail(c, err)
		return
	}
	s.respondStarted(c, v, secret)
}

// flowID reads and sanity-checks the path's flow id: a malformed one cannot
// name a flow, so it is 404 without asking Temporal.
func flowID(c *gin.Context) (string, bool) {
	id := c.Param("flow_id")
	if len(id) < 16 || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}) {
		fail(c, newErr(errkind.FlowNotFound, "no such flow"))
		return "", false
	}
	return id, true
}

// queryLogin reads a flow's View; the flow answers only to the MAC of its
// own secret.
func (s *Server) queryLogin(c *gin.Context, id string, secretMAC []byte) (workflows.View, error) {
	ctx, cancel := rpc(c, rpcTimeout)
	defer cancel()
	var v workflows.View
	res, err := s.Temporal.QueryWorkflow(ctx, workflows.LoginWorkflowID(id), "", workflows.QueryState, secretMAC)
	if err == nil {
		err = res.Get(&v)
	}
	return v, err
}

func (s *Server) loginState(c *gin.Context) {
	id, ok := flowID(c)
	if !ok {
		return
	}
	mac, ok := s.flowSecretMAC(c, id)
	if !ok {
		return
	}
	v, err := s.queryLogin(c, id, mac)
	if err != nil {
		fail(c, err)
		return
	}
	// A page waiting on Telegram gets its cookie session here, but only on
	// its own origin's fetch: a link from elsewhere that names a flow id
	// must not sign the visitor's browser into that account (login CSRF).
	if c.GetHeader("Sec-Fetch-Site") == "same-origin" {
		s.respondFlow(c, v)
		return
	}
	c.JSON(http.StatusOK, s.flowAnswer(v, callerFlowSecret(c)))
}

// updateLogin sends an update to a running flow. A flow that has already
// closed answers with its final state: expired → 410, done/failed → 409.
func (s *Server) updateLogin(c *gin.Context, id string, secretMAC []byte, name string, arg any, timeout time.Duration) (workflows.View, error) {
	var v workflows.View
	err := s.sendUpdate(c, workflows.LoginWorkflowID(id), name, arg, timeout, &v)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		final, qerr := s.queryLogin(c, id, secretMAC)
		if qerr != nil {
			return v, qerr
		}
		return v, closedFlowErr(final.State, "the flow")
	}
	return v, err
}

// sendUpdate delivers an update within rpcTimeout, so an unreachable
// Temporal answers 503 in seconds, and waits for its answer within timeout
// (a verify may run the phone saga). An update answered in the workflow task
// that accepted it comes back with the acceptance: no extra call.
func (s *Server) sendUpdate(c *gin.Context, workflowID, name string, arg any, timeout time.Duration, out any) error {
	sctx, scancel := rpc(c, rpcTimeout)
	defer scancel()
	h, err := s.Temporal.UpdateWorkflow(sctx, client.UpdateWorkflowOptions{
		WorkflowID: workflowID, UpdateName: name, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageAccepted,
	})
	if err != nil {
		return err
	}
	ctx, cancel := rpc(c, timeout)
	defer cancel()
	return h.Get(ctx, out)
}

// closedFlowErr answers an update sent to a flow that has already closed.
func closedFlowErr(final workflows.State, what string) error {
	if final == workflows.StateExpired {
		return newErr(errkind.FlowExpired, what+" expired; start again")
	}
	return newErr(errkind.WrongState, what+" is "+string(final))
}

type challengeRequest struct {
	Method           workflows.Method `json:"method"`
	PhoneID          string           `json:"phone_id"`
	ConfirmDowngrade bool             `json:"confirm_downgrade"`
}

func (s *Server) loginChallenge(c *gin.Context) {
	id, ok := flowID(c)
	if !ok {
		return
	}
	mac, ok := s.flowSecretMAC(c, id)
	if !ok {
		return
	}
	var req challengeRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if methods := workflows.LoginMethods(); !slices.Contains(methods, req.Method) {
		fail(c, badRequest("method must be one of "+methodNames(methods)))
		return
	}
	v, err := s.updateLogin(c, id, mac, workflows.UpdateChallenge, workflows.ChallengeInput{
		FlowSecretMAC: mac, Method: req.Method, PhoneID: req.PhoneID, ConfirmDowngrade: req.ConfirmDowngrade}, rpcTimeout)
	if err != nil {
		fail(c, err)
		return
	}
	s.respondFlow(c, v)
}

type verifyRequest struct {
	Code       *string         `json:"code"`
	Credential json.RawMessage `json:"credential"`
}

func (s *Server) loginVerify(c *gin.Context) {
	id, ok := flowID(c)
	if !ok {
		return
	}
	mac, ok := s.flowSecretMAC(c, id)
	if !ok {
		return
	}
	in, err := s.loginAnswer(c, mac)
	if err != nil {
		fail(c, err)
		return
	}
	v, err := s.updateLogin(c, id, mac, workflows.UpdateVerify, in, verifyTimeout)
	if err != nil {
		fail(c, err)
		return
	}
	s.respondFlow(c, v)
}

// loginAnswer reads a login's (or a recovery's second step's) verify
// body: an answer, and optionally the method it answers straight from
// choose_method (totp, recovery_code: a login in two calls).
func (s *Server) loginAnswer(c *gin.Context, mac []byte) (workflows.VerifyInput, error) {
	var req struct {
		verifyRequest
		Method workflows.Method `json:"method"`
	}
	if err := bind(c, &req); err != nil {
		return workflows.VerifyInput{}, err
	}
	if methods := workflows.LoginMethods(); req.Method != "" && !slices.Contains(methods, req.Method) {
		return workflows.VerifyInput{}, badRequest("method must be one of " + methodNames(methods))
	}
	a, err := s.sealLoginAnswer(req.verifyRequest)
	if err != nil {
		return workflows.VerifyInput{}, err
	}
	return workflows.VerifyInput{FlowSecretMAC: mac, CodeSealed: a.codeSealed, CodeLength: a.codeLength, Credential: a.credential,
		Method: req.Method}, nil
}

// sealLoginAnswer is sealAnswer for a login: a code of 6 digits (4 for
// calls), or a recovery code as shown (any case, spaces and hyphens
// ignored), sealed normalized with its length 10; the flow's method says
// which it takes.
func (s *Server) sealLoginAnswer(req verifyRequest) (answer, error) {
	if req.Code != nil && len(req.Credential) == 0 && !(allDigits(*req.Code) && (len(*req.Code) == 4 || len(*req.Code) == 6)) {
		if n, ok := security.NormalizeRecoveryCode(*req.Code); ok {
			return answer{codeSealed: s.Sealer.Seal(security.PurposeCode, []byte(n)), codeLength: len(n)}, nil
		}
	}
	return s.sealAnswer(req, "code must be 6 digits (4 for calls) or a recovery code (xxxxx-xxxxx)", 4, 6)
}

// answer is a checked verify or confirm body: a sealed code, or a passkey
// credential.
type answer struct {
	codeSealed []byte
	codeLength int
	credential json.RawMessage
}

// sealAnswer checks that req carries exactly one of a code (all digits, one
// of lengths) or a credential object, and seals the code: from here on it
// only travels sealed. A malformed answer is 400 bad_request, never an
// attempt.
func (s *Server) sealAnswer(req verifyRequest, badCode string, lengths ...int) (answer, error) {
	switch {
	case req.Code != nil && len(req.Credential) > 0:
		return answer{}, badRequest("send either code or credential")
	case req.Code != nil:
		code := *req.Code
		if !allDigits(code) || !slices.Contains(lengths, len(code)) {
			return answer{}, badRequest(badCode)
		}
		return answer{codeSealed: s.Sealer.Seal(security.PurposeCode, []byte(code)), codeLength: len(code)}, nil
	case len(req.Credential) > 0 && string(req.Credential) != "null":
		if !json.Valid(req.Credential) || req.Credential[0] != '{' {
			return answer{}, badRequest("credential must be the PublicKeyCredential JSON object")
		}
		return answer{credential: req.Credential}, nil
	}
	return answer{}, badRequest("code or credential is required")
}

// acceptLocale is the language of the caller's browser that authflow
// speaks ("" for none): a flow's messages use it when the user chose none.
func acceptLocale(c *gin.Context) string { return i18n.Match(c.GetHeader("Accept-Language")) }

// methodNames lists methods for an error message.
func methodNames(methods []workflows.Method) string {
	names := make([]string, len(methods))
	for i, m := range methods {
		names[i] = string(m)
	}
	return strings.Join(names, ", ")
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
