// Package store holds authflow's account data behind one interface, Store,
// with two implementations: PostgreSQL (store/postgres) and SQLite
// (store/sqlite). Both pass the same conformance suite (store/storetest).
//
// The store knows nothing of Temporal, HTTP or cryptography: it keeps what it
// is given (password hashes, sealed secrets, token hashes) and enforces the
// invariants that need a transaction (unique emails, one authflow account per
// Telegram chat and per WebAuthn credential, a TOTP step used once,
// idempotent card unlinking and 2FA downgrades).
package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors every implementation returns (wrapped or not); callers test
// them with errors.Is.
var (
	// ErrNotFound means the row does not exist, or belongs to another user.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a uniqueness rule would be broken (email taken,
	// Telegram chat linked to another account, credential id registered).
	ErrConflict = errors.New("store: conflict")
)

// Store is everything authflow persists. Methods taking a userID only touch
// that user's rows: asking for another user's phone or device is ErrNotFound.
type Store interface {
	Users
	Sessions
	TwoFactor
	TelegramAccounts
	WebAuthnCredentials
	Phones
	BankCards
	Downgrades
	Attempts
	SentMessages
	Events
	LinkTokens
	TelegramPrompts
	RecoveryCodes
	AccountRecoveries
	Locales
	Webhooks
	Leases

	// Ping checks the database answers.
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
}

// Leases give a role only one process of several may play at a time (the
// Telegram bot's long poller) to one holder until its lease expires. Times
// are the callers' clocks: hosts sharing a lease keep them in sync (NTP) to
// well under its ttl.
type Leases interface {
	// AcquireLease gives lease name to holder until now+ttl when nobody
	// holds it, its lease expired (expires_at <= now), or holder holds it
	// already (a renewal, which keeps AcquiredAt), and returns it with
	// true. Otherwise it changes nothing and returns the current holder's
	// lease with false.
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (Lease, bool, error)
	// ReleaseLease ends holder's lease on name at once; it does nothing
	// when another holds it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Lease is who holds a role, since when and until when.
type Lease struct {
	Name, Holder          string
	AcquiredAt, ExpiresAt time.Time
}

// User is an account.
type User struct {
	ID           string
	Email        string // trimmed, lower-cased
	PasswordHash string // PHC string ($argon2id$...)
	CreatedAt    time.Time
}

// Users stores accounts.
type Users interface {
	// CreateUser adds an account; ErrConflict when the email is taken.
	CreateUser(ctx context.Context, email, passwordHash string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
	// UserByEmail looks the email up case-insensitively.
	UserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers lists accounts in the order of their emails, for operators
	// finding one: at most q.Limit, after q.AfterEmail.
	ListUsers(ctx context.Context, q UserQuery) ([]User, error)
	SetPasswordHash(ctx context.Context, userID, passwordHash string) error
}

// UserQuery selects accounts for ListUsers.
type UserQuery struct {
	// EmailContains keeps accounts whose email contains it, in any case
	// ("" keeps every account). % and _ are plain characters.
	EmailContains string
	// AfterEmail starts the list after this email: the last one of the
	// previous page ("" starts at the first).
	AfterEmail string
	// Limit is how many at most (1 or more).
	Limit int
}

// Session is a logged-in client. The token itself is never stored.
type Session struct {
	ID        string
	UserID    string
	TokenHash []byte // SHA-256 of the bearer token
	// AuthenticatedAt is the last full login (password + second step, or a
	// re-authentication); factor changes need it to be recent.
	AuthenticatedAt time.Time
	CreatedAt       time.Time
	LastSeenAt      time.Time
	ExpiresAt       time.Time
	IP              string
	UserAgent       string
}

// Sessions stores sessions.
type Sessions interface {
	CreateSession(ctx context.Context, s Session) (Session, error)
	// SessionByTokenHash returns ErrNotFound for unknown or expired sessions.
	SessionByTokenHash(ctx context.Context, tokenHash []byte, now time.Time) (Session, error)
	// TouchSession records activity (last_seen_at).
	TouchSession(ctx context.Context, id string, now time.Time) error
	// MarkAuthenticated moves AuthenticatedAt to now (after re-authentication).
	MarkAuthenticated(ctx context.Context, id string, now time.Time) error
	ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// DeleteSession ends one session of the user; ErrNotFound when absent.
	DeleteSession(ctx context.Context, userID, id string) error
	// DeleteOtherSessions ends every session of the user except keepID
	// (keepID "" ends all) and says how many ended.
	DeleteOtherSessions(ctx context.Context, userID, keepID string) (int, error)
}

// TwoFactorSettings is the per-method switch board of an account.
type TwoFactorSettings struct {
	TelegramEnabled bool
	EmailEnabled    bool
	TOTPEnabled     bool
	// TOTPSecretSealed is the AES-GCM sealed secret; nil when none.
	TOTPSecretSealed []byte
	// TOTPLastStep is the last accepted time step (RFC 6238 §5.2); 0 = none.
	TOTPLastStep int64
}

// SecondFactors is what a login's password step reads about an account's
// second step, in one statement (docs/performance.md: it was five calls).
type SecondFactors struct {
	TwoFactor TwoFactorSettings
	// Passkeys counts the usable (not suspended) passkeys.
	Passkeys int
	// RecoveryCodesLeft counts the unused codes that are not suspended.
	RecoveryCodesLeft int
	// Phones are the account's numbers, oldest first, verified or not.
	Phones []Phone
	// Counter is the account's failure counter of the scope asked for.
	Counter AttemptState
}

// TwoFactor stores per-method settings and the TOTP secret.
type TwoFactor interface {
	// TwoFactorSettings returns zero settings for a user that never set any.
	TwoFactorSettings(ctx context.Context, userID string) (TwoFactorSettings, error)
	// SecondFactors reads, in one statement, what TwoFactorSettings,
	// ListCredentials, RecoveryCodesLeft, ListPhones and GetAttempts(scope,
	// userID) would (one snapshot of them); zero for an unknown user.
	SecondFactors(ctx context.Context, userID, scope string) (SecondFactors, error)
	SetTelegramEnabled(ctx context.Context, userID string, enabled bool) error
	SetEmailEnabled(ctx context.Context, userID string, enabled bool) error
	// SetTOTPSecret stores a new sealed secret, enables TOTP and keeps
	// lastStep as the last used step (the confirming code's step).
	SetTOTPSecret(ctx context.Context, userID string, sealed []byte, lastStep int64) error
	// DeleteTOTPSecret disables TOTP and destroys the secret.
	DeleteTOTPSecret(ctx context.Context, userID string) error
	// UseTOTPStep atomically accepts step when it is later than the last used
	// one; false means the code was already used (a replay). key is the
	// answer's idempotency key: the same answer checked again (its workflow
	// task retried after a worker died) is accepted again, where another
	// answer with that step is a replay. An empty key matches nothing.
	UseTOTPStep(ctx context.Context, userID string, step int64, key string) (bool, error)
}

// TelegramAccount is a Telegram chat linked to an account.
type TelegramAccount struct {
	ID       string
	UserID   string
	ChatID   int64
	Username string
	LinkedAt time.Time
}

// TelegramAccounts stores linked Telegram chats.
type TelegramAccounts interface {
	// LinkTelegram links a chat; linking it again to the same user returns the
	// existing link; a chat linked to another user is ErrConflict.
	LinkTelegram(ctx context.Context, userID string, chatID int64, username string) (TelegramAccount, error)
	ListTelegram(ctx context.Context, userID string) ([]TelegramAccount, error)
	TelegramByChatID(ctx context.Context, chatID int64) (TelegramAccount, error)
	UnlinkTelegram(ctx context.Context, userID, id string) error
}

// Credential is a WebAuthn credential (passkey) of an account.
type Credential struct {
	ID           string
	UserID       string
	CredentialID []byte // the authenticator's id; unique across accounts
	// Data is the JSON of go-webauthn's webauthn.Credential (public key,
	// sign count, flags, transports); the store does not interpret it.
	Data         []byte
	Name         string // fixed at registration
	Passwordless bool
	SignCount    uint32
	CloneWarning bool
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}

// WebAuthnCredentials stores passkeys.
type WebAuthnCredentials interface {
	// AddCredential registers a passkey; ErrConflict when the credential id
	// is registered already (on any account).
	AddCredential(ctx context.Context, c Credential) (Credential, error)
	ListCredentials(ctx context.Context, userID string) ([]Credential, error)
	CredentialByCredentialID(ctx context.Context, credentialID []byte) (Credential, error)
	// UpdateCredentialUse stores what a login taught: new Data, sign count,
	// clone warning, last use.
	UpdateCredentialUse(ctx context.Context, id string, data []byte, signCount uint32, cloneWarning bool, at time.Time) error
	SetCredentialPasswordless(ctx context.Context, userID, id string, passwordless bool) error
	DeleteCredential(ctx context.Context, userID, id string) error
}

// Phone is a phone number of an account (E.164).
type Phone struct {
	ID        string
	UserID    string
	Number    string
	Verified  bool
	CreatedAt time.Time
}

// Phones stores phone numbers. The same number may belong to several accounts.
type Phones interface {
	// AddPhone adds a number; the same number twice on one account is
	// ErrConflict.
	AddPhone(ctx context.Context, userID, number string, verified bool) (Phone, error)
	ListPhones(ctx context.Context, userID string) ([]Phone, error)
	Phone(ctx context.Context, userID, id string) (Phone, error)
	DeletePhone(ctx context.Context, userID, id string) error
}

// BankCard is a payment card linked to an account.
type BankCard struct {
	ID         string
	UserID     string
	Brand      string
	Last4      string
	Linked     bool
	CreatedAt  time.Time
	UnlinkedAt *time.Time
}

// BankCards stores bank cards.
type BankCards interface {
	AddBankCard(ctx context.Context, userID, brand, last4 string) (BankCard, error)
	ListBankCards(ctx context.Context, userID string) ([]BankCard, error)
	// UnlinkBankCards unlinks every linked card of the user once per key:
	// called again with the same key it changes nothing and returns the
	// count of the first call.
	UnlinkBankCards(ctx context.Context, userID, key string, now time.Time) (int, error)
}

// RecoveryCodes stores an account's single-use recovery codes as keyed
// hashes (the store never sees a code).
type RecoveryCodes interface {
	// ReplaceRecoveryCodes stores a new set and forgets every earlier code
	// of the user; ErrNotFound for an unknown user.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, now time.Time) error
	// RecoveryCodesLeft counts the unused codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	// UseRecoveryCode marks a code used, once; false when the user has no
	// such unused code.
	UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) (bool, error)
}

// Downgrades implement the phone saga's 2FA step and its compensation.
// DisableTwoFactor turns every second factor off (TOTP, email, Telegram 2FA;
// Telegram accounts and phones stay) but keeps the TOTP secret and suspends
// passkeys and recovery codes (suspended ones are invisible to
// ListCredentials, CredentialByCredentialID and the recovery-code calls), so RestoreTwoFactor can put back exactly what
// was on before; FinishDowngrade destroys the kept secret and the suspended
// passkeys once the saga succeeded. All three are idempotent per key: a
// repeated call with the same key changes nothing more, and RestoreTwoFactor
// or FinishDowngrade with a key never disabled is a no-op.
type Downgrades interface {
	DisableTwoFactor(ctx context.Context, userID, key string, now time.Time) error
	RestoreTwoFactor(ctx context.Context, userID, key string) error
	FinishDowngrade(ctx context.Context, userID, key string) error
}

// AttemptState is a failure counter (per account or per IP).
type AttemptState struct {
	Failures    int
	LockedUntil time.Time // zero when not locked
}

// Attempts stores failure counters. scope names the counter family
// ("2fa", "password", "password_ip"); key the account or IP.
type Attempts interface {
	GetAttempts(ctx context.Context, scope, key string) (AttemptState, error)
	// AddFailure counts one failure atomically and locks the key for
	// lockFor(failures) (no lock when it returns 0).
	AddFailure(ctx context.Context, scope, key string, now time.Time, lockFor func(failures int) time.Duration) (AttemptState, error)
	// ReserveAttempt counts an attempt before it is checked, so that
	// concurrent attempts can never overshoot a limit (docs/security.md
	// "Counters are exact"): while the key is locked (LockedUntil after
	// now) nothing is counted and the reservation is refused; otherwise
	// failures grows by one and the key is locked for lockFor(failures)
	// (a lock is never shortened). The attempt counts as a failure unless
	// it is released.
	ReserveAttempt(ctx context.Context, scope, key string, now time.Time, lockFor func(failures int) time.Duration) (Reservation, error)
	// ReleaseAttempt gives back a granted reservation whose attempt
	// succeeded: failures shrinks by one, and a lock the reservation set is
	// undone.
	ReleaseAttempt(ctx context.Context, scope, key string, r Reservation) error
	ResetAttempts(ctx context.Context, scope, key string) error
}

// Reservation is what ReserveAttempt decided.
type Reservation struct {
	// State is the counter after the reservation (before it, when refused).
	State AttemptState
	// Granted is false when the key was locked: the attempt must not run.
	Granted bool
	// PrevLockedUntil is the lock before the reservation; LockSet says the
	// reservation itself moved the lock (to State.LockedUntil).
	PrevLockedUntil time.Time
	LockSet         bool
}

// SentMessage records one code, call, notice or prompt sent to a person.
type SentMessage struct {
	Key        string // idempotency key: workflow id + activity id
	UserID     string
	Channel    string // email, sms, call, telegram
	Recipient  string // address, number or chat id
	ProviderID string // the provider's message/call id, when it gives one
	SentAt     time.Time
	// CodeMAC is the keyed MAC of the code it carried (security.CodeMAC),
	// never the code: a retried send answers with the code it sent.
	CodeMAC []byte
	// Kind says which send budgets the message counts against; empty is
	// SentKindCode.
	Kind SentKind
	// IP is the client that asked for it, when known (phone enrollment).
	IP string
}

// SentKind is what a sent message was, for the send budgets
// (docs/security.md "Send budgets").
type SentKind string

// Kinds of sent messages.
const (
	// SentKindCode is a code to the account's own email or verified phone.
	SentKindCode SentKind = "code"
	// SentKindEnroll is a code to a number not yet verified (phone
	// enrollment): it has budgets of its own and never uses up the budget
	// of the account that owns the number.
	SentKindEnroll SentKind = "enroll"
	// SentKindPrompt is a Telegram login prompt.
	SentKindPrompt SentKind = "prompt"
	// SentKindNotice is a notice (a factor changed, a downgrade, a lock)
	// or a once-only record: no budget counts it.
	SentKindNotice SentKind = "notice"
)

// SentQuery selects sent messages to count. Empty fields match every
// message; Since is required.
type SentQuery struct {
	UserID    string
	Recipient string
	IP        string
	Kinds     []SentKind // any of these kinds
	Channels  []string   // any of these channels
	Since     time.Time  // sent at or after
}

// SentMessages makes sends idempotent and rate-limitable.
type SentMessages interface {
	// SentMessage returns ErrNotFound when nothing was sent under key.
	SentMessage(ctx context.Context, key string) (SentMessage, error)
	// RecordSentMessage stores m; recording the same key twice is a no-op.
	RecordSentMessage(ctx context.Context, m SentMessage) error
	// CountSent counts messages of every kind to a user (recipient "") or
	// to a recipient (userID "") since a time.
	CountSent(ctx context.Context, userID, recipient string, since time.Time) (int, error)
	// CountSends counts the messages q selects (the send budgets).
	CountSends(ctx context.Context, q SentQuery) (int, error)
}

// Event is an audit event shown to the user.
type Event struct {
	ID     string
	UserID string
	Type   string
	At     time.Time
	IP     string
	Detail map[string]any // never a secret
}

// Events stores the audit log.
type Events interface {
	AddEvent(ctx context.Context, e Event) error
	// ListEvents returns the newest first.
	ListEvents(ctx context.Context, userID string, limit int) ([]Event, error)
}

// LinkToken binds a Telegram deep-link token (stored hashed) to the
// enrollment flow that issued it.
type LinkToken struct {
	TokenHash []byte
	UserID    string
	FlowID    string
	ExpiresAt time.Time
}

// LinkTokens stores Telegram deep-link tokens.
type LinkTokens interface {
	CreateLinkToken(ctx context.Context, t LinkToken) error
	// LinkTokenByHash returns ErrNotFound for unknown or expired tokens.
	LinkTokenByHash(ctx context.Context, tokenHash []byte, now time.Time) (LinkToken, error)
}

// TelegramPrompt is a login prompt message sent to a chat, kept so the
// message can be edited once the flow is decided.
type TelegramPrompt struct {
	FlowID    string
	ChatID    int64
	MessageID int64
	SentAt    time.Time
}

// TelegramPrompts stores sent login prompts.
type TelegramPrompts interface {
	AddTelegramPrompt(ctx context.Context, p TelegramPrompt) error
	TelegramPrompts(ctx context.Context, flowID string) ([]TelegramPrompt, error)
}

// AccountRecoveries stores the account recoveries that wait out their
// delay and the single-use tokens that cancel them (docs/design.md
// "Account recovery").
type AccountRecoveries interface {
	// StartRecoveryWait records that flowID waits until readyAt; recording
	// it again changes nothing. An account waits for one recovery at a
	// time: ErrConflict while another of its recoveries waits (so whoever
	// holds the mailbox cannot stack waits, each telling every channel).
	StartRecoveryWait(ctx context.Context, flowID, userID string, readyAt, now time.Time) error
	// EndRecovery records how a waiting recovery ended (cancelled, ready,
	// expired); an unknown or ended one is left as it is.
	EndRecovery(ctx context.Context, flowID, outcome string, now time.Time) error
	// WaitingRecoveries lists the flow ids of the user's recoveries that
	// wait.
	WaitingRecoveries(ctx context.Context, userID string) ([]string, error)
	// CreateRecoveryCancelToken stores a cancel token's hash for a flow;
	// storing it again for the same flow changes nothing (not even a spent
	// token), for another flow is ErrConflict.
	CreateRecoveryCancelToken(ctx context.Context, tokenHash []byte, flowID, userID string, expiresAt time.Time) error
	// UseRecoveryCancelToken spends a token, once, and names its flow;
	// ErrNotFound for an unknown, expired or spent token.
	UseRecoveryCancelToken(ctx context.Context, tokenHash []byte, now time.Time) (flowID string, err error)
}

// Locales stores the language each person chose (en, uk).
type Locales interface {
	// SetUserLocale stores the user's language; ErrNotFound for an unknown
	// user.
	SetUserLocale(ctx context.Context, userID, locale string) error
	// UserLocale is the user's language, "" when they chose none.
	UserLocale(ctx context.Context, userID string) (string, error)
}

// WebhookEndpoint is a URL told of audit events (docs/design.md
// "Webhooks").
type WebhookEndpoint struct {
	ID  string
	URL string
	// Events are the event types sent; "*" is every type.
	Events      []string
	Description string
	// SecretSealed is the whsec_ signing secret sealed under
	// AUTHFLOW_SECRET_KEY; the store never sees it in clear.
	SecretSealed []byte
	CreatedAt    time.Time
	// DisabledAt is set once the endpoint failed for too long; nothing is
	// queued for it any more.
	DisabledAt     *time.Time
	DisabledReason string
	// PreviousSecretSealed is the secret the last rotation replaced: it
	// signs deliveries too, next to the current one, until
	// PreviousSecretUntil, so that a receiver can swap secrets without
	// refusing a delivery. Nil when there is none.
	PreviousSecretSealed []byte
	PreviousSecretUntil  *time.Time
}

// SigningSecrets are the sealed secrets a delivery at now is signed with:
// the current one, and the previous one while it lasts.
func (e WebhookEndpoint) SigningSecrets(now time.Time) [][]byte {
	out := [][]byte{e.SecretSealed}
	if len(e.PreviousSecretSealed) > 0 && e.PreviousSecretUntil != nil && now.Before(*e.PreviousSecretUntil) {
		out = append(out, e.PreviousSecretSealed)
	}
	return out
}

// Statuses of a webhook delivery.
const (
	// DeliveryPending waits for its first attempt or for a retry.
	DeliveryPending = "pending"
	// DeliveryDelivered was answered with a 2xx.
	DeliveryDelivered = "delivered"
	// DeliveryFailed was given up: its endpoint was disabled.
	DeliveryFailed = "failed"
)

// WebhookDelivery is one event queued for one endpoint: the outbox row
// AddEvent writes in the event's own transaction. Event.ID is its id
// (the webhook-id header, the same on every attempt).
type WebhookDelivery struct {
	EndpointID    string
	Event         Event
	Status        string
	Attempts      int
	LastStatus    int // HTTP status of the last attempt; 0 when none answered
	LastError     string
	CreatedAt     time.Time
	LastAttemptAt *time.Time
	DeliveredAt   *time.Time
}

// WebhookAttempt is one try to deliver an event to an endpoint.
type WebhookAttempt struct {
	N          int // 1 for the first
	At         time.Time
	StatusCode int    // 0 when no answer came
	Error      string // "" when delivered
}

// Webhooks stores webhook endpoints and their deliveries. AddEvent queues
// a delivery, in the event's transaction, for every enabled endpoint whose
// filter matches the event's type.
type Webhooks interface {
	// CreateWebhookEndpoint stores e with a new id and CreatedAt.
	CreateWebhookEndpoint(ctx context.Context, e WebhookEndpoint) (WebhookEndpoint, error)
	WebhookEndpoint(ctx context.Context, id string) (WebhookEndpoint, error)
	// ListWebhookEndpoints lists every endpoint, oldest first.
	ListWebhookEndpoints(ctx context.Context) ([]WebhookEndpoint, error)
	// DeleteWebhookEndpoint forgets the endpoint and its deliveries.
	DeleteWebhookEndpoint(ctx context.Context, id string) error
	// DisableWebhookEndpoint stops queueing for the endpoint and fails its
	// pending deliveries; disabling it again changes nothing.
	DisableWebhookEndpoint(ctx context.Context, id, reason string, now time.Time) error
	// EnableWebhookEndpoint queues for a disabled endpoint again (what
	// happened while it was disabled was never queued for it); with
	// redeliverFailed its failed deliveries become pending again, in their
	// events' order, and requeued counts them. Enabling an enabled
	// endpoint changes nothing else. ErrNotFound for an unknown id.
	EnableWebhookEndpoint(ctx context.Context, id string, redeliverFailed bool) (requeued int, err error)
	// RotateWebhookSecret makes sealed the endpoint's secret. The one it
	// replaces signs too until previousUntil; nil stops it at once (a
	// leaked secret). An older previous secret is dropped either way.
	// ErrNotFound for an unknown id.
	RotateWebhookSecret(ctx context.Context, id string, sealed []byte, previousUntil *time.Time) (WebhookEndpoint, error)
	// PendingWebhookDeliveries lists up to limit pending deliveries of the
	// endpoint in the order their events were added.
	PendingWebhookDeliveries(ctx context.Context, endpointID string, limit int) ([]WebhookDelivery, error)
	// WebhookDelivery is the endpoint's delivery of the event eventID.
	WebhookDelivery(ctx context.Context, endpointID, eventID string) (WebhookDelivery, error)
	// ListWebhookDeliveries lists up to limit deliveries of the endpoint,
	// newest first.
	ListWebhookDeliveries(ctx context.Context, endpointID string, limit int) ([]WebhookDelivery, error)
	// WebhookAttempts lists a delivery's attempts, first first.
	WebhookAttempts(ctx context.Context, endpointID, eventID string) ([]WebhookAttempt, error)
	// RecordWebhookAttempt adds the next attempt of a pending delivery
	// (a.N is set from the count) and marks it delivered when a.Error is
	// empty. An attempt of a delivery no longer pending is not recorded and
	// answers ErrConflict.
	RecordWebhookAttempt(ctx context.Context, endpointID, eventID string, a WebhookAttempt) (WebhookDelivery, error)
	// RetryWebhookDelivery makes a delivery pending again (any status).
	RetryWebhookDelivery(ctx context.Context, endpointID, eventID string) error
	// CancelWebhookDelivery gives a pending delivery up: it becomes failed
	// with reason as its last error, and the deliveries behind it go on.
	// A failed one stays as it is; ErrConflict for a delivered one,
	// ErrNotFound when there is no such delivery.
	CancelWebhookDelivery(ctx context.Context, endpointID, eventID, reason string) (WebhookDelivery, error)
	// PruneWebhookDeliveries forgets up to about limit delivered
	// deliveries (and their attempts) delivered before deliveredBefore,
	// oldest first, and says how many it forgot. Pending and failed ones
	// are never pruned.
	PruneWebhookDeliveries(ctx context.Context, deliveredBefore time.Time, limit int) (int, error)
	// PendingWebhookEndpoints lists the enabled endpoints that have
	// pending deliveries, by id: what the worker's relay wakes a delivery
	// workflow for.
	PendingWebhookEndpoints(ctx context.Context) ([]PendingWebhooks, error)
}

// PendingWebhooks is an enabled endpoint with deliveries waiting.
type PendingWebhooks struct {
	EndpointID string
	// Pending counts its pending deliveries.
	Pending int
	// Newest is the outbox position of its newest pending delivery: it
	// grows with every event queued. With Pending it says whether the
	// endpoint's outbox changed since it was last read.
	Newest int64
}
