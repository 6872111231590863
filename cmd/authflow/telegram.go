package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/telegram"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
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
//     Only one process per bot may poll (Telegram answers a second
//     getUpdates with 409 Conflict), so every process that starts one
//     takes the bot's lease in the store first (store.Leases, outside
//     `authflow dev`, which holds its data dir alone): the others log who
//     holds it and take over when its lease expires (telegram.Poller).
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
	if srv.Store != nil && !cfg.Dev {
		l := pollingLease(srv.Store, cfg)
		p.Lease, p.LeaseTTL, p.Log = l, telegramLeaseTTL, pollLog.With("this_process", l.holder)
	}
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	log.Info("telegram long polling started", "lease", p.Lease != nil)
	return stop, nil
}

// telegramLeaseTTL is how long the polling lease lasts unrenewed: how long
// the other processes wait after its holder died.
var telegramLeaseTTL = telegram.DefaultLeaseTTL

// storeLease is the bot's polling lease in the store, held as one process.
type storeLease struct {
	st           store.Leases
	name, holder string
}

// pollingLease names the lease after the bot (its token's numeric id: two
// bots on one database poll each their own) and the holder after this
// process: host, pid, listener and a random tag (a restarted container has
// the same host name and pid).
func pollingLease(st store.Leases, cfg config.Config) storeLease {
	bot, _, _ := strings.Cut(cfg.TelegramBotToken, ":")
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return storeLease{st: st, name: "telegram-poller/" + bot,
		holder: fmt.Sprintf("%s pid %d %s #%s", host, os.Getpid(), cfg.HTTPAddr, security.RandomToken()[:6])}
}

func (l storeLease) Acquire(ctx context.Context, ttl time.Duration) (bool, string, time.Time, error) {
	got, ok, err := l.st.AcquireLease(ctx, l.name, l.holder, time.Now(), ttl)
	return ok, got.Holder, got.ExpiresAt, err
}

func (l storeLease) Release(ctx context.Context) error {
	return l.st.ReleaseLease(ctx, l.name, l.holder)
}
