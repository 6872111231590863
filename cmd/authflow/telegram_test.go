package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/app"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/config"
)

// fakeBot is a Telegram Bot API on loopback that records method and body.
type fakeBot struct {
	*httptest.Server
	mu    sync.Mutex
	calls []string // "method body"
	got   chan string
	reply func(method string) (int, string)
	// replyCtx, when set, answers instead of reply, with the request's
	// context: it ends when the caller goes away.
	replyCtx func(ctx context.Context, method string) (int, string)
}

func newFakeBot(t *testing.T) *fakeBot {
	f := &fakeBot{got: make(chan string, 100)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		method := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		f.mu.Lock()
		reply, replyCtx := f.reply, f.replyCtx
		f.mu.Unlock()
		f.got <- method + " " + string(b)
		status, body := 200, `{"ok":true,"result":true}`
		switch {
		case replyCtx != nil:
			status, body = replyCtx(r.Context(), method)
		case reply != nil:
			status, body = reply(method)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

// botProcess is what startTelegram takes: a configuration and a log.
type botProcess struct {
	cfg    config.Config
	log    *slog.Logger
	outbox *channels.Outbox
}

func (p botProcess) startTelegram(ctx context.Context, srv *api.Server) (func(), error) {
	return startTelegram(ctx, p.cfg, p.log, srv)
}

func (p botProcess) bot() channels.TelegramBot { return app.Bot(p.cfg, p.outbox) }

func testApp(f *fakeBot, secret string) botProcess {
	return botProcess{
		cfg: config.Config{TelegramBotToken: "1:tok", TelegramBotUsername: "authflow_bot", TelegramAPIURL: f.URL,
			TelegramWebhookSecret: secret, PublicURL: "https://panel.example.com"},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func TestStartTelegram(t *testing.T) {
	t.Run("case=webhook mode sets the webhook with the secret", func(t *testing.T) {
		f := newFakeBot(t)
		a := testApp(f, "hook_secret-1")
		stop, err := a.startTelegram(context.Background(), &api.Server{})
		if err != nil {
			t.Fatal(err)
		}
		stop()
		got := <-f.got
		var body map[string]any
		method, raw, _ := strings.Cut(got, " ")
		_ = json.Unmarshal([]byte(raw), &body)
		if method != "setWebhook" || body["url"] != "https://panel.example.com/v1/telegram/webhook" || body["secret_token"] != "hook_secret-1" {
			t.Fatalf("got %s", got)
		}
	})

	t.Run("case=webhook refused by telegram stops the start", func(t *testing.T) {
		f := newFakeBot(t)
		f.reply = func(string) (int, string) {
			return 400, `{"ok":false,"error_code":400,"description":"Bad Request: bad webhook: HTTPS url must be provided for webhook"}`
		}
		_, err := testApp(f, "s").startTelegram(context.Background(), &api.Server{})
		if err == nil || !strings.Contains(err.Error(), "HTTPS url must be provided") {
			t.Fatalf("err = %v, want Telegram's refusal", err)
		}
	})

	t.Run("case=poll mode hands updates to the api and answers the button", func(t *testing.T) {
		f := newFakeBot(t)
		polls := 0
		f.reply = func(method string) (int, string) {
			if method != "getUpdates" {
				return 200, `{"ok":true,"result":true}`
			}
			polls++
			if polls == 1 {
				return 200, `{"ok":true,"result":[{"update_id":9,"callback_query":{"id":"cbq-9","from":{"id":42},"data":"garbage"}}]}`
			}
			return 200, `{"ok":true,"result":[]}`
		}
		a := testApp(f, "")
		srv := &api.Server{Bot: a.bot(), Log: a.log}
		stop, err := a.startTelegram(context.Background(), srv)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for answered := false; !answered; {
			select {
			case got := <-f.got:
				if strings.HasPrefix(got, "answerCallbackQuery ") {
					if !strings.Contains(got, `"callback_query_id":"cbq-9"`) || !strings.Contains(got, "not valid") {
						t.Fatalf("answer %s", got)
					}
					answered = true
				}
			case <-deadline:
				t.Fatal("the poller's update was never answered")
			}
		}
		// stop ends the poller without the parent context ending (a
		// failed start must not hang).
		stopped := make(chan struct{})
		go func() { stop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Fatal("stop did not end the poller")
		}
	})

	t.Run("case=no token runs no bot", func(t *testing.T) {
		a := botProcess{cfg: config.Config{}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), outbox: channels.NewOutbox()}
		stop, err := a.startTelegram(context.Background(), &api.Server{})
		if err != nil {
			t.Fatal(err)
		}
		stop()
		if a.bot() != channels.TelegramBot(a.outbox) {
			t.Fatal("without a token the API answers through the dev outbox")
		}
	})
}
