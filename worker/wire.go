package worker

import (
	"errors"
	"log/slog"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// SessionTTL is how long a login session lives.
const SessionTTL = 24 * time.Hour

// NewWebAuthn configures go-webauthn for the public URL, with the library's
// timeout enforcement on (SECURITY.md: challenges expire).
func NewWebAuthn(cfg config.Config) (*webauthn.WebAuthn, error) {
	return webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: "authflow",
		RPOrigins:     []string{cfg.PublicURL},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
		},
	})
}

// NewActivities builds the activities from configuration: real channels
// where credentials are configured, the dev outbox for the others (dev mode
// only; outside dev an unconfigured channel sends nothing and says so).
func NewActivities(cfg config.Config, st store.Store, outbox *channels.Outbox, hasher *security.Hasher, log *slog.Logger) (*activities.Activities, error) {
	sealer, err := security.NewSealer(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	wa, err := NewWebAuthn(cfg)
	if err != nil {
		return nil, err
	}
	a := &activities.Activities{
		Store: st, Hasher: hasher, Sealer: sealer, SecretKey: cfg.SecretKey, WebAuthn: wa,
		FlashCallNumbers: cfg.TwilioFlashCallNumbers, SessionTTL: SessionTTL,
		Limits: activities.DefaultLimits, Log: log,
	}
	if cfg.BillingWebhookURL != "" {
		a.Billing = &activities.BillingWebhook{URL: cfg.BillingWebhookURL}
	}
	if cfg.TelegramBotToken != "" || cfg.TwilioAccountSID != "" || cfg.SMTPURL != "" {
		return nil, errors.New("real Telegram, Twilio and SMTP adapters are not built yet: unset TELEGRAM_*, TWILIO_* and SMTP_* to use the dev outbox")
	}
	if outbox == nil {
		return nil, errors.New("no channel is configured: set TELEGRAM_*, TWILIO_* and SMTP_* or run `authflow dev`")
	}
	a.Email, a.SMS, a.Voice, a.Telegram = outbox, outbox, outbox, outbox
	if len(a.FlashCallNumbers) == 0 {
		// The outbox needs callers to show; these are the ITU's fictional
		// range, never dialled.
		a.FlashCallNumbers = []string{"+15550101234", "+15550105678", "+15550109012"}
	}
	return a, nil
}
