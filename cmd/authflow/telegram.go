package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/telegram"
	"github.com/authflow/authflow/config"
)

// webhookPath is where Telegram posts updates in webhook mode (docs/api.md).
const webhookPath = "/v1/telegram/webhook"

// needsOutbox reports whether some channel has no provider configured, so
// `authflow dev` must stand the dev outbox in for it.
func needsOutbox(c config.Config) bool {
	return c.TelegramBotToken == "" || c.TwilioAccountSID == "" || c.SMTPURL == ""
}

// startTelegram connects the bot to srv, the API that handles updates:
//
//   - TELEGRAM_WEBHOOK_SECRET set: setWebhook(AUTHFLOW_PUBLIC_URL +
//     /v1/telegram/webhook, secret). A refusal (bad token, a URL Telegram
//     will not call) stops the start; Telegram being unreachable does not:
//     the call is retried in the background.
//   - unset: a long poller hands every update to srv.ServeTelegramUpdate.
//     Only one process per bot may poll.
//
// The background work ends with ctx, or when the returned stop is called
// (which waits for it).
func startTelegram(ctx context.Context, cfg config.Config, log *slog.Logger, srv *api.Server) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	stop = func() {
		cancel()
		<-done
	}
	if cfg.TelegramBotToken == "" {
		close(done)
		return stop, nil
	}
	client := telegram.New(cfg.TelegramBotToken, cfg.TelegramAPIURL)
	pollLog := log
	log = log.With("component", "telegram")

	if secret := cfg.TelegramWebhookSecret; secret != "" {
		url := cfg.PublicURL + webhookPath
		err := client.SetWebhook(ctx, url, secret)
		var perm *channels.PermanentError
		if errors.As(err, &perm) {
			close(done)
			cancel()
			return stop, err
		}
		if err == nil {
			log.Info("telegram webhook set", "url", url)
			close(done)
			return stop, nil
		}
		log.Warn("telegram setWebhook failed; retrying in the background", "err", err)
		go func() {
			defer close(done)
			for d := time.Second; ; d = min(2*d, time.Minute) {
				t := time.NewTimer(max(d, telegram.RetryAfter(err)))
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				if err = client.SetWebhook(ctx, url, secret); err == nil {
					log.Info("telegram webhook set", "url", url)
					return
				}
				log.Warn("telegram setWebhook failed; retrying", "err", err)
			}
		}()
		return stop, nil
	}

	p := &telegram.Poller{
		Client: client,
		Log:    pollLog,
		Handle: srv.ServeTelegramUpdate,
	}
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	log.Info("telegram long polling started")
	return stop, nil
}
