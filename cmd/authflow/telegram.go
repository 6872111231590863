package main

import (
	"context"
	"errors"
	"time"

	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/telegram"
)

// webhookPath is where Telegram posts updates in webhook mode (API.md).
const webhookPath = "/v1/telegram/webhook"

// needsOutbox reports whether some channel has no provider configured, so
// `authflow dev` must stand the dev outbox in for it.
func needsOutbox(a *app) bool {
	c := a.cfg
	return c.TelegramBotToken == "" || c.TwilioAccountSID == "" || c.SMTPURL == ""
}

// bot is the Telegram bot the API answers button presses with: the real
// one when TELEGRAM_BOT_TOKEN is set, else the dev outbox (if any).
func (a *app) bot() channels.TelegramBot {
	if a.cfg.TelegramBotToken != "" {
		return telegram.New(a.cfg.TelegramBotToken, a.cfg.TelegramAPIURL)
	}
	if a.outbox != nil {
		return a.outbox
	}
	return nil
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
func (a *app) startTelegram(ctx context.Context, srv *api.Server) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	stop = func() {
		cancel()
		<-done
	}
	if a.cfg.TelegramBotToken == "" {
		close(done)
		return stop, nil
	}
	client := telegram.New(a.cfg.TelegramBotToken, a.cfg.TelegramAPIURL)
	log := a.log.With("component", "telegram")

	if secret := a.cfg.TelegramWebhookSecret; secret != "" {
		url := a.cfg.PublicURL + webhookPath
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
		Log:    a.log,
		Handle: srv.ServeTelegramUpdate,
	}
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	log.Info("telegram long polling started")
	return stop, nil
}
