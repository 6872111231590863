package worker

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/billing"
	"github.com/authflow/authflow/channels/smtp"
	"github.com/authflow/authflow/channels/telegram"
	"github.com/authflow/authflow/channels/twilio"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/webhooks"
)

// SessionTTL is how long a login session lives.
const SessionTTL = 24 * time.Hour

// NewWebAuthn configures go-webauthn for the public URL, with the library's
// timeout enforcement on (docs/security.md: challenges expire).
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
		FlashCalls: phone.NewFlashPool(cfg.TwilioFlashCallNumbers), SessionTTL: SessionTTL,
		Limits: rules.DefaultLimits, Log: log, PublicURL: cfg.PublicURL, DefaultLocale: cfg.DefaultLocale,
	}
	// Which numbers get codes, and the hourly cap on all phone sends
	// (AUTHFLOW_PHONE_REGIONS, AUTHFLOW_PHONE_SENDS_PER_HOUR).
	a.PhonePolicy = phone.Policy{Regions: cfg.PhoneRegions}
	if cfg.PhoneSendsPerHour > 0 {
		a.Limits.PhoneSendsPerHour = cfg.PhoneSendsPerHour
	}
	if cfg.BillingWebhookURL != "" {
		a.Billing = &billing.Webhook{URL: cfg.BillingWebhookURL}
	}
	// Webhook URLs: https outside dev, no internal address unless
	// AUTHFLOW_WEBHOOK_ALLOW_PRIVATE (docs/security.md "Webhooks").
	a.Webhooks = webhooks.NewClient(webhooks.Policy{AllowHTTP: cfg.Dev, AllowPrivate: cfg.WebhookAllowPrivate})
	if err := pickChannels(a, cfg, outbox); err != nil {
		return nil, err
	}
	return a, nil
}

// pickChannels gives each channel its real adapter when configured, the dev
// outbox otherwise (dev mode only). Outside dev, email is required (every
// account has one and notices go there), while Telegram and Twilio are
// optional: an unconfigured one is Off — its methods answer
// method_unavailable — and a warning says so at start.
func pickChannels(a *activities.Activities, cfg config.Config, outbox *channels.Outbox) error {
	var missing []string
	useOutbox := func(name string) bool {
		if cfg.Dev && outbox != nil {
			return true
		}
		missing = append(missing, name)
		return false
	}
	off := func(name string) channels.Off {
		missing = missing[:len(missing)-1]
		if a.Log != nil {
			a.Log.Warn("channel not configured: its login and enrollment methods are unavailable", "channel", name)
		}
		return channels.Off{Name: name}
	}

	if cfg.TelegramBotToken != "" {
		a.Telegram = telegram.New(cfg.TelegramBotToken, cfg.TelegramAPIURL)
	} else if useOutbox("Telegram (TELEGRAM_BOT_TOKEN, TELEGRAM_BOT_USERNAME)") {
		a.Telegram = outbox
	} else {
		a.Telegram = off("Telegram (TELEGRAM_BOT_TOKEN, TELEGRAM_BOT_USERNAME)")
	}

	if cfg.TwilioAccountSID != "" {
		tw, err := twilio.New(twilio.Config{
			AccountSID: cfg.TwilioAccountSID, AuthToken: cfg.TwilioAuthToken, BaseURL: cfg.TwilioAPIURL,
			From: cfg.TwilioFromNumber, Language: cfg.TwilioCallLanguage, Voice: cfg.TwilioCallVoice,
		})
		if err != nil {
			return err
		}
		a.SMS, a.Voice = tw, tw
	} else if useOutbox("Twilio (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER)") {
		a.SMS, a.Voice = outbox, outbox
		if a.FlashCalls.Suffixes() == 0 {
			// The outbox needs callers to show: a pool as large as a real
			// one must be (every suffix), of fictional numbers never dialled.
			a.FlashCalls = phone.NewFlashPool(phone.DevFlashPool())
		}
	} else {
		o := off("Twilio (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER)")
		a.SMS, a.Voice = o, o
	}

	if cfg.SMTPURL != "" {
		m, err := smtp.New(smtp.Config{URL: cfg.SMTPURL, From: cfg.SMTPFrom})
		if err != nil {
			return err
		}
		a.Email = m
	} else if useOutbox("email (SMTP_URL, SMTP_FROM)") {
		a.Email = outbox
	}

	if len(missing) > 0 {
		return fmt.Errorf("no provider is configured for %s: configure them, or run `authflow dev` to send to the dev outbox",
			strings.Join(missing, ", "))
	}
	return nil
}
