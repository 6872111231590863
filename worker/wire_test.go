package worker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/smtp"
	"github.com/authflow/authflow/channels/telegram"
	"github.com/authflow/authflow/channels/twilio"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/security"
)

func loadConfig(t *testing.T, mode config.Mode, env map[string]string) (config.Config, error) {
	t.Helper()
	base := map[string]string{
		"AUTHFLOW_DATABASE_URL": "sqlite://:memory:",
		"AUTHFLOW_SECRET_KEY":   strings.Repeat("ab", 32),
		"AUTHFLOW_ADMIN_TOKEN":  "admin-token-0123456789",
		"AUTHFLOW_METRICS":      "off",
	}
	for k, v := range env {
		base[k] = v
	}
	return config.LoadFrom(func(k string) string { return base[k] }, mode, "")
}

var realChannels = map[string]string{
	"TELEGRAM_BOT_TOKEN": "1:tok", "TELEGRAM_BOT_USERNAME": "authflow_bot", "TELEGRAM_API_URL": "http://127.0.0.1:1",
	"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "tok", "TWILIO_FROM_NUMBER": "+15005550006",
	"TWILIO_API_URL": "http://127.0.0.1:1", "TWILIO_FLASH_CALL_NUMBERS": strings.Join(phone.DevFlashPool()[:1000], ","),
	"SMTP_URL": "smtp://127.0.0.1:1", "SMTP_FROM": "no-reply@authflow.test",
}

func TestNewActivitiesChannels(t *testing.T) {
	hasher := security.NewHasher(security.DefaultArgon2)

	t.Run("case=dev without providers uses the outbox", func(t *testing.T) {
		cfg, err := loadConfig(t, config.Dev, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := channels.NewOutbox()
		a, err := NewActivities(cfg, nil, out, hasher, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.Email != out || a.SMS != out || a.Voice != out || a.Telegram != out || a.FlashCalls.Suffixes() != 10000 {
			t.Fatalf("channels %T %T %T %T, want the outbox", a.Email, a.SMS, a.Voice, a.Telegram)
		}
	})

	t.Run("case=configured providers get the real adapters", func(t *testing.T) {
		cfg, err := loadConfig(t, config.Production, realChannels)
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewActivities(cfg, nil, nil, hasher, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := a.Telegram.(*telegram.Client); !ok {
			t.Fatalf("Telegram is %T", a.Telegram)
		}
		if _, ok := a.SMS.(*twilio.Client); !ok {
			t.Fatalf("SMS is %T", a.SMS)
		}
		if _, ok := a.Voice.(*twilio.Client); !ok {
			t.Fatalf("Voice is %T", a.Voice)
		}
		if _, ok := a.Email.(*smtp.Sender); !ok {
			t.Fatalf("Email is %T", a.Email)
		}
		if a.FlashCalls.Suffixes() != 1000 {
			t.Fatalf("flash pool has %d suffixes, want the 1000 configured", a.FlashCalls.Suffixes())
		}
	})

	t.Run("case=dev mixes real providers and the outbox", func(t *testing.T) {
		cfg, err := loadConfig(t, config.Dev, map[string]string{"SMTP_URL": "smtp://127.0.0.1:1025", "SMTP_FROM": "a@b.test"})
		if err != nil {
			t.Fatal(err)
		}
		out := channels.NewOutbox()
		a, err := NewActivities(cfg, nil, out, hasher, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := a.Email.(*smtp.Sender); !ok || a.SMS != out || a.Telegram != out {
			t.Fatalf("channels %T %T %T", a.Email, a.SMS, a.Telegram)
		}
	})

	t.Run("case=outside dev an unconfigured Twilio is off and its sends fail for good", func(t *testing.T) {
		env := map[string]string{}
		for k, v := range realChannels {
			if !strings.HasPrefix(k, "TWILIO_") {
				env[k] = v
			}
		}
		cfg, err := loadConfig(t, config.Production, env)
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewActivities(cfg, nil, channels.NewOutbox(), hasher, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := a.SMS.(channels.Off); !ok {
			t.Fatalf("SMS is %T, want channels.Off", a.SMS)
		}
		_, err = a.SMS.SendSMS(context.Background(), "+14155550100", "x", "k")
		var perm *channels.PermanentError
		if !errors.As(err, &perm) || !strings.Contains(err.Error(), "Twilio") {
			t.Fatalf("send on an unconfigured channel: %v", err)
		}
	})
	t.Run("case=outside dev email is required", func(t *testing.T) {
		env := map[string]string{}
		for k, v := range realChannels {
			if !strings.HasPrefix(k, "SMTP_") {
				env[k] = v
			}
		}
		cfg, err := loadConfig(t, config.Production, env)
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewActivities(cfg, nil, channels.NewOutbox(), hasher, nil)
		if err == nil || !strings.Contains(err.Error(), "email") || strings.Contains(err.Error(), "Twilio") {
			t.Fatalf("err = %v, want one naming email only", err)
		}
	})
}

func TestChannelConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"case=webhook secret with a bad character", map[string]string{"TELEGRAM_BOT_TOKEN": "1:t", "TELEGRAM_BOT_USERNAME": "b", "TELEGRAM_WEBHOOK_SECRET": "no spaces"}, "TELEGRAM_WEBHOOK_SECRET"},
		{"case=webhook secret without a bot", map[string]string{"TELEGRAM_WEBHOOK_SECRET": "abc"}, "needs TELEGRAM_BOT_TOKEN"},
		{"case=telegram api url not http", map[string]string{"TELEGRAM_API_URL": "ftp://x"}, "TELEGRAM_API_URL"},
		{"case=twilio api url not http", map[string]string{"TWILIO_API_URL": "127.0.0.1:8080"}, "TWILIO_API_URL"},
		{"case=call language neither ukrainian nor english", map[string]string{"TWILIO_CALL_LANGUAGE": "de-DE"}, "TWILIO_CALL_LANGUAGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig(t, config.Dev, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one about %s", err, tc.want)
			}
		})
	}
	t.Run("case=call language defaults to ukrainian and english is accepted", func(t *testing.T) {
		cfg, err := loadConfig(t, config.Dev, nil)
		if err != nil || cfg.TwilioCallLanguage != "uk-UA" {
			t.Fatalf("language %q, %v", cfg.TwilioCallLanguage, err)
		}
		cfg, err = loadConfig(t, config.Dev, map[string]string{"TWILIO_CALL_LANGUAGE": "en-GB", "TWILIO_CALL_VOICE": "Polly.Amy"})
		if err != nil || cfg.TwilioCallLanguage != "en-GB" || cfg.TwilioCallVoice != "Polly.Amy" {
			t.Fatalf("cfg %q %q, %v", cfg.TwilioCallLanguage, cfg.TwilioCallVoice, err)
		}
	})
}

func TestNewActivitiesPhoneRules(t *testing.T) {
	t.Run("case=AUTHFLOW_PHONE_REGIONS and AUTHFLOW_PHONE_SENDS_PER_HOUR reach the activities", func(t *testing.T) {
		cfg, err := loadConfig(t, config.Dev, map[string]string{"AUTHFLOW_PHONE_REGIONS": "UA,PL", "AUTHFLOW_PHONE_SENDS_PER_HOUR": "42"})
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewActivities(cfg, nil, channels.NewOutbox(), security.NewHasher(security.DefaultArgon2), nil)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(a.PhonePolicy.Regions, ",") != "UA,PL" || a.Limits.PhoneSendsPerHour != 42 {
			t.Fatalf("regions %v, cap %d", a.PhonePolicy.Regions, a.Limits.PhoneSendsPerHour)
		}
	})
}
