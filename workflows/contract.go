// Package workflows holds authflow's durable flows (Login, Enroll) and their
// wire contract: this file. Every Temporal name the API, the worker and the
// tests use is declared here and nowhere else.
package workflows

import (
	"encoding/json"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/rules"
)

// TaskQueue is the one task queue authflow's workers poll.
const TaskQueue = "authflow"

// Workflow type names. Renaming one breaks running histories: version it.
const (
	LoginWorkflowName  = "Login"
	EnrollWorkflowName = "Enroll"
)

// Update, signal and query names.
const (
	// UpdateSubmitPassword carries the password (sealed) and answers with the
	// flow's next state. The API sends it with Update-With-Start.
	UpdateSubmitPassword = "submit-password"
	// UpdateChallenge chooses a method and sends its challenge.
	UpdateChallenge = "challenge"
	// UpdateVerify submits a code or a WebAuthn assertion.
	UpdateVerify = "verify"
	// SignalTelegramAnswer is a click on a Telegram prompt's button.
	SignalTelegramAnswer = "telegram-answer"
	// QueryState returns the flow's View. A login flow's query takes the
	// caller's flow secret MAC as its argument and answers ErrFlowNotFound
	// when it is not the flow's (docs/security.md "Flow secret").
	QueryState = "state"
)

// Search attributes on every flow (Keyword), registered by the dev server and
// by `authflow` on an external Temporal.
var (
	SearchUserID = temporal.NewSearchAttributeKeyKeyword("AuthflowUserID")
	SearchKind   = temporal.NewSearchAttributeKeyKeyword("AuthflowKind")
	SearchState  = temporal.NewSearchAttributeKeyKeyword("AuthflowState")
	SearchMethod = temporal.NewSearchAttributeKeyKeyword("AuthflowMethod")
	// SearchStateChangedAt is when AuthflowState or AuthflowMethod last
	// changed: how operators find flows stuck in one state.
	SearchStateChangedAt = temporal.NewSearchAttributeKeyTime("AuthflowStateChangedAt")
)

// SearchAttributes lists the keys above with their types, for registration
// on a namespace.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	"AuthflowUserID":         enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"AuthflowKind":           enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"AuthflowState":          enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"AuthflowMethod":         enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	"AuthflowStateChangedAt": enumspb.INDEXED_VALUE_TYPE_DATETIME,
}

// Kinds of flows (AuthflowKind).
const (
	KindLogin  = "login"
	KindEnroll = "enroll"
)

// LoginWorkflowID is the workflow id of a login flow.
func LoginWorkflowID(flowID string) string { return "login/" + flowID }

// EnrollWorkflowID is the workflow id of an enrollment flow.
func EnrollWorkflowID(flowID string) string { return "enroll/" + flowID }

// State is where a flow is, as docs/api.md names it.
type State string

// Flow states.
const (
	StatePassword     State = "password" // internal: before the password is checked
	StateChooseMethod State = "choose_method"
	StateChallenge    State = "challenge"
	StateDone         State = "done"
	StateFailed       State = "failed"
	StateExpired      State = "expired"
)

// Method is a second factor.
type Method string

// Methods, in the order docs/api.md lists them.
const (
	MethodTelegram Method = "telegram"
	MethodTOTP     Method = "totp"
	MethodEmail    Method = "email"
	MethodWebAuthn Method = "webauthn"
	MethodCall     Method = "call"
	MethodSMS      Method = "sms"
	// MethodRecoveryCode is one of the account's single-use recovery codes.
	MethodRecoveryCode Method = "recovery_code"
	MethodPhone        Method = "phone" // enrollment only
)

// Limits of a login flow (docs/api.md "Rules behind the calls", docs/security.md).
const (
	// FlowTTL bounds a login flow and its codes (NIST §5.1.3.2: ≤ 10 min).
	FlowTTL = 10 * time.Minute
	// FlashCallTTL is short because 4 digits of a caller id have little
	// entropy (docs/security.md "Flash call").
	FlashCallTTL = 3 * time.Minute
	// MaxFlowAttempts wrong answers fail the flow.
	MaxFlowAttempts = 5
)

// Error types of the ApplicationErrors the flows return: kinds of errkind,
// the one list of error kinds (each with its HTTP status and API code,
// which the API renders in api/errors.go). The activities raise the same
// kinds, so a flow passes their failures on as they are; a failure of
// another kind becomes ErrUnavailable.
const (
	ErrInvalidCredentials    = errkind.InvalidCredentials
	ErrRateLimited           = errkind.RateLimited // details: RateLimitDetails
	ErrInvalidCode           = errkind.InvalidCode // details: AttemptsDetails
	ErrInvalidAssertion      = errkind.InvalidAssertion
	ErrCodeAlreadyUsed       = errkind.CodeAlreadyUsed // details: AttemptsDetails
	ErrDowngradeNotConfirmed = errkind.DowngradeNotConfirmed
	ErrMethodUnavailable     = errkind.MethodUnavailable
	ErrWrongState            = errkind.WrongState
	ErrFlowExpired           = errkind.FlowExpired
	ErrBadRequest            = errkind.BadRequest
	ErrConflict              = errkind.Conflict
	// ErrFlowNotFound: no flow, or not the caller's (a wrong or missing
	// flow secret, another account's enrollment: each looks exactly like
	// an unknown flow id).
	ErrFlowNotFound = errkind.FlowNotFound
	// ErrUnavailable: a step failed for good (the saga was compensated) or
	// a dependency is down; the client may retry later.
	ErrUnavailable = errkind.Unavailable
)

// RateLimitDetails ride on ErrRateLimited.
type RateLimitDetails = errkind.RateLimitDetails

// AttemptsDetails ride on ErrInvalidCode, ErrInvalidAssertion and
// ErrCodeAlreadyUsed.
type AttemptsDetails = errkind.AttemptsDetails

// LoginInput starts a Login workflow.
type LoginInput struct {
	FlowID    string
	IP        string
	UserAgent string
	// Passwordless starts at the passkey challenge (POST /v1/login/passkey).
	Passwordless bool
	// FlowSecretMAC is security.FlowSecretMAC of the flow secret the API
	// handed to the client that started the flow; every later call must
	// carry the same MAC. The secret itself never enters history.
	FlowSecretMAC []byte
	// SessionTokenHash is the hash of the session token the API answers
	// once the flow is done (security.SessionTokenHash, bound to the flow
	// secret): the session is stored under it. The token never enters
	// history.
	SessionTokenHash []byte `json:",omitempty"`
	// Locale is the language the starting browser asked for
	// (Accept-Language, matched to i18n.Supported; "" for none): what the
	// flow's messages are written in when the user chose no language.
	Locale string `json:",omitempty"`
}

// SubmitPasswordInput is UpdateSubmitPassword's argument.
type SubmitPasswordInput struct {
	Email string
	// PasswordSealed is the password sealed under AUTHFLOW_SECRET_KEY so it
	// never appears in clear in the workflow history.
	PasswordSealed []byte
}

// ChallengeInput is UpdateChallenge's argument.
type ChallengeInput struct {
	// FlowSecretMAC proves the caller started the flow (LoginInput).
	FlowSecretMAC    []byte
	Method           Method
	PhoneID          string
	ConfirmDowngrade bool
}

// VerifyInput is UpdateVerify's argument: a sealed code, or a WebAuthn
// credential (public data: a signature over a single-use challenge).
type VerifyInput struct {
	// FlowSecretMAC proves the caller started the flow (LoginInput).
	FlowSecretMAC []byte
	CodeSealed    []byte
	// CodeLength lets the validator reject a 6-digit answer to a 4-digit
	// call (and the reverse) without opening the code.
	CodeLength int
	Credential json.RawMessage
	// Method answers straight from choose_method, with no challenge call,
	// for a method whose challenge sends nothing (totp, recovery_code):
	// a login in two calls. Empty: the answer to the current challenge.
	Method Method
}

// TelegramAnswer is SignalTelegramAnswer's argument, sent by the bot handler.
type TelegramAnswer struct {
	ChatID int64
	Number int  // the button clicked
	NotMe  bool // the "Not me" button
}

// MethodOption is one entry of a choose_method answer.
type MethodOption struct {
	Type         Method `json:"type"`
	PhoneID      string `json:"phone_id,omitempty"`
	NumberMasked string `json:"number_masked,omitempty"`
	CallKind     string `json:"call_kind,omitempty"` // dictate | flash
	Downgrade    bool   `json:"downgrade,omitempty"`
	// Remaining is how many recovery codes are left (recovery_code).
	Remaining int `json:"remaining,omitempty"`
}

// Downgrade reports the phone saga's result.
type Downgrade struct {
	TwoFactorDisabled bool `json:"two_factor_disabled"`
	BankCardsUnlinked int  `json:"bank_cards_unlinked"`
}

// View is what a flow shows: the answer of every update and of QueryState.
// It carries nothing secret: the session token is computed by the API from
// the flow id, the caller's flow secret and AUTHFLOW_SECRET_KEY, never
// stored in history.
type View struct {
	FlowStatus
	Methods []MethodOption
	// Session is set once State is done.
	Session *SessionInfo
	// TelegramNumber is the number the page shows for a Telegram challenge.
	TelegramNumber int
	// WebAuthnOptions is the request options JSON for a passkey challenge.
	WebAuthnOptions json.RawMessage
	Downgrade       *Downgrade
}

// FlowStatus is what every flow shows, whatever its kind: the fields of
// View and EnrollView they share (embedded, so their JSON is unchanged).
type FlowStatus struct {
	FlowID       string
	UserID       string
	State        State
	Method       Method
	ExpiresAt    time.Time
	AttemptsLeft int
	// Reason says why a flow failed ("attempts", "denied_by_user", "saga",
	// "error", …).
	Reason string
}

// SessionInfo says a session was issued for the flow.
type SessionInfo struct {
	ID        string
	ExpiresAt time.Time
}

// ---- Enrollment ----

// Enrollment update and signal names. QueryState answers an EnrollView.
const (
	// UpdateEnrollBegin makes the enrollment's challenge (a TOTP secret, a
	// code sent, passkey creation options, a Telegram link) and answers with
	// it. The API sends it with Update-With-Start.
	UpdateEnrollBegin = "enroll-begin"
	// UpdateEnrollConfirm submits a code or a passkey attestation.
	UpdateEnrollConfirm = "enroll-confirm"
	// SignalTelegramLink is a /start <token> the bot received for the flow.
	SignalTelegramLink = "telegram-link"
)

// StateStarting is internal to an enrollment: before its challenge is made.
const StateStarting State = "starting"

// EnrollInput starts an Enroll workflow.
type EnrollInput struct {
	FlowID string
	UserID string
	// SessionID is the session that started the enrollment: when the
	// enrollment turns 2FA on, every other session of the account ends.
	SessionID string
	IP        string
	Method    Method
	// DeviceName names the passkey (webauthn); it never changes afterwards.
	DeviceName string
	// Number is the phone being verified (phone), E.164.
	Number string
	// Locale is as LoginInput's.
	Locale string `json:",omitempty"`
}

// EnrollConfirmInput is UpdateEnrollConfirm's argument: a sealed code, or
// the browser's attestation (public data over a single-use challenge).
type EnrollConfirmInput struct {
	// UserID is the caller's account: another account's flow is not found.
	UserID     string
	CodeSealed []byte
	CodeLength int
	Credential json.RawMessage
}

// TelegramLink is SignalTelegramLink's argument, sent by the bot handler.
type TelegramLink struct {
	ChatID   int64
	Username string
}

// EnrolledDevice is the passkey an enrollment registered.
type EnrolledDevice struct {
	ID           string
	Name         string
	Passwordless bool
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}

// EnrolledPhone is the phone an enrollment verified.
type EnrolledPhone struct {
	ID       string
	Number   string
	Verified bool
}

// EnrolledTelegram is the Telegram account an enrollment linked.
type EnrolledTelegram struct {
	ID       string
	Username string
	ChatID   int64
	LinkedAt time.Time
}

// EnrollView is what an enrollment shows: the answer of its updates and of
// QueryState. Secrets in it are sealed under AUTHFLOW_SECRET_KEY; the API
// opens them for the one answer that shows them.
type EnrollView struct {
	FlowStatus
	// TOTPKeySealed is the otpauth:// URL (it holds the secret), sealed for
	// security.PurposeTOTPSecret.
	TOTPKeySealed []byte
	// WebAuthnOptions is the creation options JSON of a passkey challenge.
	WebAuthnOptions json.RawMessage
	// TelegramTokenSealed is the deep-link token, sealed for
	// account.PurposeTelegramLink.
	TelegramTokenSealed []byte
	// What the enrollment made, once done.
	TOTPEnabled     bool
	Device          *EnrolledDevice
	Phone           *EnrolledPhone
	TelegramAccount *EnrolledTelegram
}

// NoticeWorkflowName is a one-activity workflow that sends a notice to every
// channel of an account, durably, for changes the API makes itself
// (disabling a factor, removing a device).
const NoticeWorkflowName = "Notice"

// NoticeWorkflowID is the workflow id of a notice.
func NoticeWorkflowID(id string) string { return "notice/" + id }

// NoticeInput starts a Notice workflow.
type NoticeInput struct {
	UserID string
	// Notice is rendered in the account's language by the activity.
	Notice rules.Notice
}

// ---- Account recovery (docs/design.md "Account recovery") ----

// RecoveryWorkflowName is the account recovery flow.
const RecoveryWorkflowName = "Recovery"

// KindRecovery is a recovery's AuthflowKind.
const KindRecovery = "recovery"

// RecoveryWorkflowID is the workflow id of a recovery flow.
func RecoveryWorkflowID(flowID string) string { return "recovery/" + flowID }

// Recovery states, beside done, failed and expired.
const (
	// StateEmailSent: a code went to the address, if it has an account.
	StateEmailSent State = "email_sent"
	// StateSecondFactor: the account has 2FA; one of its methods (no
	// phone) proves the person, or they say they lost every factor.
	StateSecondFactor State = "second_factor"
	// StateWaiting: the person lost every factor; the account is told on
	// every channel and the flow waits until ReadyAt, cancellable.
	StateWaiting State = "waiting"
	// StateSetPassword: the person may set a new password.
	StateSetPassword State = "set_password"
	// StateCancelled: the owner (a link, a login) or an admin cancelled.
	StateCancelled State = "cancelled"
)

// Limits of a recovery flow.
const (
	// RecoveryTTL bounds a recovery before it waits.
	RecoveryTTL = time.Hour
	// RecoveryReadyTTL is how long a recovery stays open after ReadyAt.
	RecoveryReadyTTL = 24 * time.Hour
	// RecoveryReminderLead is how long before ReadyAt the account is told
	// again; a shorter delay (dev) reminds at its half.
	RecoveryReminderLead = 24 * time.Hour
	// MinRecoveryDelay is the shortest AUTHFLOW_RECOVERY_DELAY outside dev.
	MinRecoveryDelay = time.Hour
)

// Recovery update and signal names; QueryState answers a RecoveryView and,
// as a login's, takes the caller's flow secret MAC. UpdateChallenge and
// UpdateVerify are the login's: verify takes the emailed code in
// email_sent and a second factor's answer in second_factor.
const (
	// UpdateLostFactors starts the wait of a person who lost every factor.
	UpdateLostFactors = "lost-factors"
	// UpdateSetPassword sets the new password (sealed) and ends the flow
	// with a session.
	UpdateSetPassword = "set-password"
	// UpdateRecoveryCancel cancels a recovery (a link, an admin).
	UpdateRecoveryCancel = "cancel"
	// SignalRecoveryCancel cancels a waiting recovery because the account
	// logged in (sent by the login's IssueSession).
	SignalRecoveryCancel = "cancel"
)

// RecoveryInput starts a Recovery workflow. The API answers at once, the
// same for every address: the flow looks the account up itself.
type RecoveryInput struct {
	FlowID    string
	Email     string
	IP        string
	UserAgent string
	// FlowSecretMAC and SessionTokenHash are as LoginInput's: a recovery
	// ends in a session.
	FlowSecretMAC    []byte
	SessionTokenHash []byte `json:",omitempty"`
	// ExpiresAt is the expiry the API answered with.
	ExpiresAt time.Time
	// Delay is AUTHFLOW_RECOVERY_DELAY: how long a person who lost every
	// factor waits.
	Delay time.Duration
	// Locale is as LoginInput's.
	Locale string `json:",omitempty"`
}

// SetPasswordInput is UpdateSetPassword's argument.
type SetPasswordInput struct {
	FlowSecretMAC  []byte
	PasswordSealed []byte // sealed for security.PurposePassword
}

// LostFactorsInput is UpdateLostFactors' argument.
type LostFactorsInput struct {
	FlowSecretMAC []byte
}

// RecoveryCancel is UpdateRecoveryCancel's and SignalRecoveryCancel's
// argument: why ("link", "login", "admin").
type RecoveryCancel struct {
	Reason string
}

// RecoveryView is what a recovery shows: a login's view (methods, a
// challenge, the session at the end) and when the wait ends.
type RecoveryView struct {
	View
	ReadyAt *time.Time
	// ReminderAt is when the account is told again during the wait.
	ReminderAt *time.Time
}

// ---- Webhooks (docs/design.md "Webhooks") ----

// WebhookWorkflowName delivers an endpoint's outbox: one workflow per
// endpoint, so deliveries to it keep their order and one is in flight at
// a time.
const WebhookWorkflowName = "Webhook"

// KindWebhook is a delivery workflow's AuthflowKind.
const KindWebhook = "webhook"

// WebhookWorkflowID is the workflow id of an endpoint's deliveries.
func WebhookWorkflowID(endpointID string) string { return "webhook/" + endpointID }

// States of a delivery workflow (AuthflowState): how operators find an
// endpoint backing off (AuthflowKind = "webhook" AND AuthflowState =
// "retrying").
const (
	// StateDelivering: attempting the outbox's next delivery.
	StateDelivering State = "delivering"
	// StateRetrying: the last attempt failed; waiting out the back-off.
	StateRetrying State = "retrying"
	// StateIdle: nothing left to deliver; the run ends (the relay starts
	// another when the outbox fills again).
	StateIdle State = "idle"
	// StateDisabled: the endpoint failed for WebhookDisableAfter and was
	// disabled; StateDeleted: it was deleted (or disabled by someone else).
	StateDisabled State = "disabled"
	StateDeleted  State = "deleted"
)

// Signals of a delivery workflow. Both are hints: the outbox in the store
// is the truth, and the workflow reads it again whatever it is told.
const (
	// SignalWebhookPending: the relay saw the endpoint's outbox change.
	// It starts a workflow that is not running (Signal-With-Start) and
	// never shortens a back-off.
	SignalWebhookPending = "webhook-pending"
	// SignalWebhookRetry: an admin asked for a redelivery; a back-off in
	// progress ends and the next attempt is made at once.
	SignalWebhookRetry = "webhook-retry"
)

// WebhookRetry is SignalWebhookRetry's argument.
type WebhookRetry struct {
	EventID string
}

// Back-off of a failing endpoint: WebhookFirstRetry after the first failed
// attempt, doubling to WebhookMaxBackoff; an endpoint that has failed for
// WebhookDisableAfter (its last attempt made then) is disabled.
const (
	WebhookFirstRetry   = 5 * time.Second
	WebhookMaxBackoff   = time.Hour
	WebhookDisableAfter = 72 * time.Hour
)

// WebhookInput starts a delivery workflow; a run continued-as-new carries
// the failing streak on.
type WebhookInput struct {
	EndpointID string
	// FailingSince is the first failed attempt since the last delivery
	// (nil: not failing).
	FailingSince *time.Time `json:",omitempty"`
	// Failures is how many attempts failed in a row: the back-off's step.
	Failures int `json:",omitempty"`
	// NextAttemptAt is when the back-off in progress ends.
	NextAttemptAt *time.Time `json:",omitempty"`
}
