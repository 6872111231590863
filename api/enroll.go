package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/authflow/authflow/channels/telegram"
	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/i18n"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/workflows"
)

// The enrollment flows of docs/api.md "Enrollment flows" and the bot's /start.

const (
	// maxDeviceName bounds a passkey's name (given once, never changed).
	maxDeviceName = 64
	// devBotUsername is the bot a dev server links to when no
	// TELEGRAM_BOT_USERNAME is configured (the outbox plays the bot).
	devBotUsername = "authflow_dev_bot"
	// qrSize is the side of the TOTP QR code in pixels.
	qrSize = 256
)

// enrollInputs are the HTTP side of the methods that need more than their
// name to begin: each checks its fields of the request and fills them into
// the flow's input. The flows themselves know each method as one unit
// (workflows/methods.go); a method without an entry needs nothing.
var enrollInputs = map[workflows.Method]func(s *Server, c *gin.Context, req enrollRequest, in *workflows.EnrollInput) error{
	workflows.MethodWebAuthn: (*Server).passkeyEnrollInput,
	workflows.MethodPhone:    (*Server).phoneEnrollInput,
	workflows.MethodTelegram: (*Server).telegramEnrollInput,
}

type enrollRequest struct {
	Method          workflows.Method `json:"method"`
	Name            *string          `json:"name"`
	Number          string           `json:"number"`
	CurrentPassword *string          `json:"current_password"`
}

type totpSetupJSON struct {
	Secret      string `json:"secret"`
	OTPAuthURL  string `json:"otpauth_url"`
	QRPNGBase64 string `json:"qr_png_base64"`
}

type telegramLinkJSON struct {
	Link  string `json:"link"`
	Token string `json:"token"`
}

// enrollJSON is an enrollment flow as docs/api.md shows it.
type enrollJSON struct {
	FlowID       string           `json:"flow_id"`
	Method       workflows.Method `json:"method"`
	State        workflows.State  `json:"state"`
	ExpiresAt    time.Time        `json:"expires_at"`
	AttemptsLeft int              `json:"attempts_left"`
	// TOTP is the key (totpSetupJSON) in the answer that starts a TOTP
	// enrollment, and {"enabled":true} once it is done.
	TOTP            any                  `json:"totp,omitempty"`
	WebAuthn        json.RawMessage      `json:"webauthn,omitempty"`
	Telegram        *telegramLinkJSON    `json:"telegram,omitempty"`
	Device          *deviceJSON          `json:"device,omitempty"`
	Phone           *phoneJSON           `json:"phone,omitempty"`
	TelegramAccount *telegramAccountJSON `json:"telegram_account,omitempty"`
}

// botUsername is the bot deep links point to; "" when Telegram is not set
// up outside dev.
func (s *Server) botUsername() string {
	if s.Cfg.TelegramBotUsername != "" {
		return s.Cfg.TelegramBotUsername
	}
	if s.Cfg.Dev {
		return devBotUsername
	}
	return ""
}

// enrollAnswer renders a view. The secrets of a challenge (TOTP key,
// Telegram token) are shown only in the answer that starts it (reveal).
func (s *Server) enrollAnswer(v workflows.EnrollView, reveal bool) (enrollJSON, error) {
	out := enrollJSON{FlowID: v.FlowID, Method: v.Method, State: v.State, ExpiresAt: v.ExpiresAt.UTC(), AttemptsLeft: v.AttemptsLeft}
	switch v.State {
	case workflows.StateStarting:
		// Internal: the challenge is being made.
		out.State = workflows.StateChallenge
	case workflows.StateChallenge:
		out.WebAuthn = passkeyOptions(v.WebAuthnOptions)
		if reveal && len(v.TOTPKeySealed) > 0 {
			key, err := rules.OpenTOTPKey(s.Sealer, v.TOTPKeySealed)
			if err != nil {
				return out, fmt.Errorf("open totp key: %w", err)
			}
			img, err := key.Image(qrSize, qrSize)
			if err != nil {
				return out, fmt.Errorf("totp qr code: %w", err)
			}
			var buf bytes.Buffer
			if err := png.Encode(&buf, img); err != nil {
				return out, fmt.Errorf("totp qr code: %w", err)
			}
			out.TOTP = totpSetupJSON{Secret: key.Secret(), OTPAuthURL: key.URL(), QRPNGBase64: base64.StdEncoding.EncodeToString(buf.Bytes())}
		}
		if reveal && len(v.TelegramTokenSealed) > 0 {
			tok, err := s.Sealer.Open(rules.PurposeTelegramLink, v.TelegramTokenSealed)
			if err != nil {
				return out, fmt.Errorf("open telegram link token: %w", err)
			}
			out.Telegram = &telegramLinkJSON{Link: "https://t.me/" + s.botUsername() + "?start=" + string(tok), Token: string(tok)}
		}
	case workflows.StateDone:
		if v.TOTPEnabled {
			out.TOTP = enabledJSON{Enabled: true}
		}
		if d := v.Device; d != nil {
			j := toDeviceJSON(store.Credential{ID: d.ID, Name: d.Name, Passwordless: d.Passwordless, CreatedAt: d.CreatedAt, LastUsedAt: d.LastUsedAt})
			out.Device = &j
		}
		if p := v.Phone; p != nil {
			j := toPhoneJSON(store.Phone{ID: p.ID, Number: p.Number, Verified: p.Verified})
			out.Phone = &j
		}
		if t := v.TelegramAccount; t != nil {
			j := toTelegramJSON(store.TelegramAccount{ID: t.ID, Username: t.Username, ChatID: t.ChatID, LinkedAt: t.LinkedAt})
			out.TelegramAccount = &j
		}
	}
	return out, nil
}

func (s *Server) respondEnroll(c *gin.Context, v workflows.EnrollView, reveal bool) {
	out, err := s.enrollAnswer(v, reveal)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// deviceName checks a passkey's name: given once, 1-64 characters once
// control, format and bidi-override characters are stripped
// (security.DisplayName), so the name shown in the settings, notices and
// events reads as it is.
func deviceName(raw *string) (string, error) {
	if raw == nil {
		return "", badRequest("name is required for a passkey (1-64 characters); it cannot be changed later")
	}
	name := security.DisplayName(*raw)
	if n := utf8.RuneCountInString(name); n < 1 || n > maxDeviceName {
		return "", badRequest("name must have 1-64 characters")
	}
	return name, nil
}

func (s *Server) startEnrollment(c *gin.Context) {
	var req enrollRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if methods := workflows.EnrollMethods(); !slices.Contains(methods, req.Method) {
		fail(c, badRequest("method must be one of "+methodNames(methods)))
		return
	}
	cur := session(c)
	in := workflows.EnrollInput{Method: req.Method}
	if check := enrollInputs[req.Method]; check != nil {
		if err := check(s, c, req, &in); err != nil {
			fail(c, err)
			return
		}
	}
	if err := s.reauth(c, req.CurrentPassword); err != nil {
		fail(c, err)
		return
	}
	in.FlowID, in.UserID, in.SessionID, in.IP, in.Locale = security.RandomToken(), cur.UserID, cur.ID, clientIP(c), acceptLocale(c)
	v, err := s.enrollWithStart(c, in)
	if err != nil {
		fail(c, err)
		return
	}
	s.respondEnroll(c, v, true)
}

// passkeyEnrollInput takes the passkey's name.
func (s *Server) passkeyEnrollInput(_ *gin.Context, req enrollRequest, in *workflows.EnrollInput) error {
	name, err := deviceName(req.Name)
	in.DeviceName = name
	return err
}

// phoneEnrollInput takes a number that may get an SMS code and is not on
// the account yet.
func (s *Server) phoneEnrollInput(c *gin.Context, req enrollRequest, in *workflows.EnrollInput) error {
	n, err := phone.Normalize(req.Number)
	if err != nil {
		return badRequest(err.Error())
	}
	// The enrollment code goes by SMS: only a number that takes SMS
	// codes, in AUTHFLOW_PHONE_REGIONS (premium-rate and the like
	// never: SMS pumping, docs/security.md).
	if err := s.phonePolicy().Check(n, phone.UseSMS); err != nil {
		return badRequest(err.Error())
	}
	phones, err := s.Store.ListPhones(c.Request.Context(), session(c).UserID)
	if err != nil {
		return err
	}
	for _, p := range phones {
		if p.Number == n {
			return newErr(errkind.Conflict, "this phone is on the account already")
		}
	}
	in.Number = n
	return nil
}

// telegramEnrollInput needs a bot to link to.
func (s *Server) telegramEnrollInput(*gin.Context, enrollRequest, *workflows.EnrollInput) error {
	if s.botUsername() == "" {
		return newErr(errkind.MethodUnavailable, "Telegram is not configured on this server")
	}
	return nil
}

// phonePolicy says which numbers may get codes (AUTHFLOW_PHONE_REGIONS);
// the worker's SendCode applies the same policy.
func (s *Server) phonePolicy() phone.Policy { return phone.Policy{Regions: s.Cfg.PhoneRegions} }

// enrollWithStart starts an Enroll flow and makes its challenge in one round
// trip, returning the challenge.
func (s *Server) enrollWithStart(c *gin.Context, in workflows.EnrollInput) (workflows.EnrollView, error) {
	ctx, cancel := rpc(c, rpcTimeout)
	defer cancel()
	opts := client.StartWorkflowOptions{
		ID:                       workflows.EnrollWorkflowID(in.FlowID),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		// The flow ends itself at expiry; this bounds a flow whose worker
		// vanished for good.
		WorkflowExecutionTimeout: workflows.FlowTTL + 10*time.Minute,
		StaticSummary:            "Enroll (" + string(in.Method) + ")",
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchKind.ValueSet(workflows.KindEnroll),
			workflows.SearchUserID.ValueSet(in.UserID),
			workflows.SearchState.ValueSet(string(workflows.StateStarting)),
			workflows.SearchMethod.ValueSet(string(in.Method)),
			workflows.SearchStateChangedAt.ValueSet(time.Now().UTC()),
		),
	}
	op := s.Temporal.NewWithStartWorkflowOperation(opts, workflows.EnrollWorkflowName, in)
	h, err := s.Temporal.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{
			UpdateName:   workflows.UpdateEnrollBegin,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		},
	})
	var v workflows.EnrollView
	if err == nil {
		err = h.Get(ctx, &v)
	}
	return v, err
}

// queryEnroll reads an enrollment of the caller; another account's flow is
// not found, like an unknown one.
func (s *Server) queryEnroll(c *gin.Context, id, userID string) (workflows.EnrollView, error) {
	ctx, cancel := rpc(c, rpcTimeout)
	defer cancel()
	var v workflows.EnrollView
	res, err := s.Temporal.QueryWorkflow(ctx, workflows.EnrollWorkflowID(id), "", workflows.QueryState)
	if err == nil {
		err = res.Get(&v)
	}
	if err == nil && v.UserID != userID {
		return workflows.EnrollView{}, newErr(errkind.FlowNotFound, "no such flow")
	}
	return v, err
}

func (s *Server) enrollmentState(c *gin.Context) {
	id, ok := flowID(c)
	if !ok {
		return
	}
	v, err := s.queryEnroll(c, id, session(c).UserID)
	if err != nil {
		fail(c, err)
		return
	}
	s.respondEnroll(c, v, false)
}

func (s *Server) confirmEnrollment(c *gin.Context) {
	id, ok := flowID(c)
	if !ok {
		return
	}
	var req verifyRequest
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	a, err := s.sealAnswer(req, "code must be 6 digits", 6)
	if err != nil {
		fail(c, err)
		return
	}
	in := workflows.EnrollConfirmInput{UserID: session(c).UserID, CodeSealed: a.codeSealed, CodeLength: a.codeLength, Credential: a.credential}
	v, err := s.updateEnroll(c, id, in)
	if err != nil {
		fail(c, err)
		return
	}
	s.respondEnroll(c, v, false)
}

// updateEnroll confirms a running flow. A flow that has already closed
// answers with its final state: expired → 410, done/failed → 409.
func (s *Server) updateEnroll(c *gin.Context, id string, in workflows.EnrollConfirmInput) (workflows.EnrollView, error) {
	var v workflows.EnrollView
	err := s.sendUpdate(c, workflows.EnrollWorkflowID(id), workflows.UpdateEnrollConfirm, in, rpcTimeout, &v)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		final, qerr := s.queryEnroll(c, id, in.UserID)
		if qerr != nil {
			return v, qerr
		}
		return v, closedFlowErr(final.State, "the enrollment")
	}
	return v, err
}

// ---- Telegram: /start <token> ----

// handleTelegramMessage links the sender's chat when the message is
// /start <token> from an enrollment's deep link: the token names the flow,
// which gets a signal and answers in the chat itself. It returns what the
// person is told.
func (s *Server) handleTelegramMessage(ctx context.Context, updateID int64, m *telegram.Message) string {
	fields := strings.Fields(m.Text)
	if len(fields) == 0 || (fields[0] != "/start" && !strings.HasPrefix(fields[0], "/start@")) {
		return ""
	}
	lang := i18n.Pick("", m.From.LanguageCode, s.Cfg.DefaultLocale)
	reply := func(text string) string {
		if s.Bot != nil {
			if err := s.Bot.SendText(ctx, m.Chat.ID, text, fmt.Sprintf("telegram-update/%d", updateID)); err != nil {
				s.logger().Warn("telegram reply", "err", err)
			}
		}
		return text
	}
	if len(fields) < 2 {
		return reply(i18n.T(lang, "telegram.start.howto", nil))
	}
	if m.Chat.ID != m.From.ID {
		// Login prompts must go to one person, never to a group.
		return reply(i18n.T(lang, "telegram.start.private", nil))
	}
	t, err := s.Store.LinkTokenByHash(ctx, security.HashToken(fields[1]), s.now())
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.logger().Error("telegram link token", "err", err)
			return reply(i18n.T(lang, "telegram.start.error", nil))
		}
		return reply(i18n.T(lang, "telegram.start.invalid", nil))
	}
	err = s.Temporal.SignalWorkflow(ctx, workflows.EnrollWorkflowID(t.FlowID), "", workflows.SignalTelegramLink,
		workflows.TelegramLink{ChatID: m.Chat.ID, Username: security.DisplayName(m.From.Username)})
	if err != nil {
		return reply(i18n.T(lang, "telegram.start.used", nil))
	}
	return i18n.T(lang, "telegram.start.linking", nil)
}

// mountDevTelegram adds POST /dev/telegram/start in dev mode: the outbox
// cannot type /start, so this plays the message through the same handler
// as a real one. Body {"chat_id","username","token"}.
func (s *Server) mountDevTelegram(r gin.IRouter) {
	if s.Outbox == nil {
		return
	}
	r.POST("/dev/telegram/start", s.devTelegramStart)
}

func (s *Server) devTelegramStart(c *gin.Context) {
	var req struct {
		ChatID   int64  `json:"chat_id"`
		Username string `json:"username"`
		Token    string `json:"token"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.ChatID == 0 || req.Token == "" {
		fail(c, badRequest("chat_id and token are required"))
		return
	}
	m := &telegram.Message{From: telegram.User{ID: req.ChatID, Username: req.Username}, Chat: telegram.Chat{ID: req.ChatID},
		Text: "/start " + req.Token}
	answer := s.HandleTelegramUpdate(c.Request.Context(), telegram.Update{Message: m})
	c.JSON(http.StatusOK, gin.H{"answer": answer})
}
