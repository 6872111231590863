// Package e2e_test signs in end to end through each real channel adapter —
// SMTP, Twilio (SMS, dictating call, flash call) and the Telegram Bot API —
// against the embedded Temporal server, with every provider faked on
// 127.0.0.1: a real SMTP server (github.com/emersion/go-smtp), a fake Twilio
// REST API and a fake Bot API.
package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels/telegram"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/internal/smtpsink"
)

const (
	pw            = "correct horse battery"
	accountSID    = "AC0123456789abcdef0123456789abcdef"
	authToken     = "authtoken0123456789"
	fromNumber    = "+15005550006"
	botToken      = "123456:e2e-token"
	webhookSecret = "e2e_webhook-secret"
)

var flashPool = []string{"+15550101111", "+15550102222"}

var (
	env     *apitest.Env
	twilioF *fakeTwilio
	botF    *fakeBot
	mailbox *smtpsink.Sink
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	twilioF = newFakeTwilio()
	defer twilioF.Close()
	botF = newFakeBot()
	defer botF.Close()
	var err error
	var stopSMTP func() error
	mailbox, stopSMTP, err = smtpsink.Listen()
	if err != nil {
		fmt.Fprintln(os.Stderr, "smtp server:", err)
		return 1
	}
	defer stopSMTP()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	env, err = apitest.Start(ctx, apitest.Options{Configure: func(c *config.Config) {
		c.SMTPURL, c.SMTPFrom = "smtp://"+mailbox.Addr, "authflow <no-reply@authflow.test>"
		c.TwilioAccountSID, c.TwilioAuthToken, c.TwilioAPIURL = accountSID, authToken, twilioF.URL
		c.TwilioFromNumber, c.TwilioFlashCallNumbers = fromNumber, flashPool
		c.TelegramBotToken, c.TelegramBotUsername, c.TelegramAPIURL = botToken, "authflow_e2e_bot", botF.URL
		c.TelegramWebhookSecret = webhookSecret
	}})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start test stack:", err)
		return 1
	}
	defer env.Close()
	// Button presses are answered through the real adapter too.
	env.API.Bot = telegram.New(botToken, botF.URL)
	return m.Run()
}

// --- fakes -----------------------------------------------------------------

// fakeTwilio records the form of every Messages and Calls request.
type fakeTwilio struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []url.Values
	n    int
}

func newFakeTwilio() *fakeTwilio {
	f := &fakeTwilio{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != accountSID || p != authToken {
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"code":20003,"message":"Authenticate","status":401}`)
			return
		}
		_ = r.ParseForm()
		form := r.PostForm
		form.Set("_path", r.URL.Path)
		f.mu.Lock()
		f.reqs = append(f.reqs, form)
		f.n++
		n := f.n
		f.mu.Unlock()
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"sid":"XX%030d"}`, n)
	}))
	return f
}

// await returns the requests to `to` on path, once at least one arrived.
func (f *fakeTwilio) await(t *testing.T, path, to string) []url.Values {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var out []url.Values
		f.mu.Lock()
		for _, r := range f.reqs {
			if strings.HasSuffix(r.Get("_path"), path) && r.Get("To") == to {
				out = append(out, r)
			}
		}
		f.mu.Unlock()
		if len(out) > 0 {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no Twilio %s request to %s", path, to)
	return nil
}

// fakeBot is a Bot API that records "method body" and numbers messages.
type fakeBot struct {
	*httptest.Server
	mu    sync.Mutex
	calls []botCall
	next  int64
}

type botCall struct {
	Method string
	Body   map[string]any
	ID     int64 // the message id a sendMessage got
}

func newFakeBot() *fakeBot {
	f := &fakeBot{next: 100}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prefix := "/bot" + botToken + "/"
		if !strings.HasPrefix(r.URL.Path, prefix) {
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"ok":false,"error_code":404,"description":"Not Found"}`)
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		method := strings.TrimPrefix(r.URL.Path, prefix)
		f.mu.Lock()
		f.next++
		id := f.next
		f.calls = append(f.calls, botCall{method, body, id})
		f.mu.Unlock()
		if method == "sendMessage" {
			fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"chat":{"id":%v}}}`, id, body["chat_id"])
			return
		}
		_, _ = io.WriteString(w, `{"ok":true,"result":true}`)
	}))
	return f
}

func (f *fakeBot) await(t *testing.T, match func(botCall) bool) botCall {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		for _, c := range f.calls {
			if match(c) {
				f.mu.Unlock()
				return c
			}
		}
		f.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no matching Bot API call")
	return botCall{}
}

func chatIs(c botCall, chat int64) bool {
	id, _ := c.Body["chat_id"].(float64)
	return int64(id) == chat
}

// --- helpers ---------------------------------------------------------------

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// loginToChoice creates a user with email 2FA on and, when number is set, a
// verified phone, then signs in with the password. It returns the email,
// the phone id and the flow id.
func loginToChoice(t *testing.T, prefix, number string) (email, phoneID, flowID string) {
	t.Helper()
	ctx := context.Background()
	email = apitest.UniqueEmail(prefix)
	userID := env.NewUser(t, email, pw)
	if err := env.Store.SetEmailEnabled(ctx, userID, true); err != nil {
		t.Fatal(err)
	}
	if number != "" {
		p, err := env.Store.AddPhone(ctx, userID, number, true)
		if err != nil {
			t.Fatal(err)
		}
		phoneID = p.ID
	}
	r := apitest.Expect(t, env.Login(t, email, pw), 200)
	if r.Str("state") != "choose_method" {
		t.Fatalf("login: %s", r.Raw)
	}
	return email, phoneID, r.Str("flow_id")
}

func verify(t *testing.T, flowID, code string) apitest.Response {
	t.Helper()
	r := apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flowID+"/verify", "", map[string]string{"code": code}), 200)
	if r.Str("state") != "done" || r.Str("session.token") == "" {
		t.Fatalf("verify: %s", r.Raw)
	}
	return r
}

// --- tests -----------------------------------------------------------------

func TestLoginThroughRealAdapters(t *testing.T) {
	t.Run("case=email code over smtp signs in", func(t *testing.T) {
		email, _, flow := loginToChoice(t, "e2e-mail", "")
		apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/challenge", "", map[string]any{"method": "email"}), 200)
		msg := mailbox.Await(t, email, 15*time.Second)[0]
		// The code is in the text, never in the subject (a preview or a
		// lock screen shows subjects).
		if subject := msg.Header.Get("Subject"); sixDigits.MatchString(subject) {
			t.Fatalf("a code in the subject %q", subject)
		}
		m := regexp.MustCompile(`code to sign in: (\d{6})`).FindStringSubmatch(msg.Text())
		if m == nil {
			t.Fatalf("no code in the message %s", msg.Text())
		}
		verify(t, flow, m[1])
		if n := len(mailbox.To(email)); n != 1 {
			t.Fatalf("%d emails, want 1", n)
		}
	})

	t.Run("case=sms code through twilio signs in and downgrades", func(t *testing.T) {
		const number = "+380501110001"
		_, phoneID, flow := loginToChoice(t, "e2e-sms", number)
		apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/challenge", "",
			map[string]any{"method": "sms", "phone_id": phoneID, "confirm_downgrade": true}), 200)
		sms := twilioF.await(t, "/Messages.json", number)
		if len(sms) != 1 || sms[0].Get("From") != fromNumber {
			t.Fatalf("sms %v", sms)
		}
		r := verify(t, flow, sixDigits.FindString(sms[0].Get("Body")))
		if r.Get("downgrade.two_factor_disabled") != true {
			t.Fatalf("verify: %s", r.Raw)
		}
	})

	t.Run("case=dictating call through twilio signs in", func(t *testing.T) {
		const number = "+380501110002"
		_, phoneID, flow := loginToChoice(t, "e2e-call", number)
		apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/challenge", "",
			map[string]any{"method": "call", "phone_id": phoneID, "confirm_downgrade": true}), 200)
		calls := twilioF.await(t, "/Calls.json", number)
		said := regexp.MustCompile(`>(\d)</Say>`).FindAllStringSubmatch(calls[0].Get("Twiml"), -1)
		if len(calls) != 1 || len(said) != 8 {
			t.Fatalf("calls %v", calls)
		}
		code := said[0][1] + said[1][1] + said[2][1] + said[3][1]
		verify(t, flow, code)
	})

	t.Run("case=flash call through twilio signs in with the caller's last digits", func(t *testing.T) {
		const number = "+14155550123"
		_, phoneID, flow := loginToChoice(t, "e2e-flash", number)
		apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/challenge", "",
			map[string]any{"method": "call", "phone_id": phoneID, "confirm_downgrade": true}), 200)
		calls := twilioF.await(t, "/Calls.json", number)
		from := calls[0].Get("From")
		if len(calls) != 1 || (from != flashPool[0] && from != flashPool[1]) || calls[0].Get("Twiml") != "<Response><Hangup/></Response>" {
			t.Fatalf("calls %v", calls)
		}
		verify(t, flow, from[len(from)-4:])
	})

	t.Run("case=telegram prompt through the bot api and a webhook click signs in", func(t *testing.T) {
		ctx := context.Background()
		email := apitest.UniqueEmail("e2e-tg")
		uid := env.NewUser(t, email, pw)
		const chat = int64(777001)
		if _, err := env.Store.LinkTelegram(ctx, uid, chat, "ivan"); err != nil {
			t.Fatal(err)
		}
		if err := env.Store.SetTelegramEnabled(ctx, uid, true); err != nil {
			t.Fatal(err)
		}
		flow := apitest.Expect(t, env.Login(t, email, pw), 200).Str("flow_id")
		ch := apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/challenge", "", map[string]any{"method": "telegram"}), 200)
		number := fmt.Sprint(ch.Get("telegram.number"))

		prompt := botF.await(t, func(c botCall) bool { return c.Method == "sendMessage" && chatIs(c, chat) })
		rows, _ := prompt.Body["reply_markup"].(map[string]any)["inline_keyboard"].([]any)
		if len(rows) != 1 {
			t.Fatalf("keyboard %v, want one row", prompt.Body["reply_markup"])
		}
		var data string
		var texts []string
		for _, b := range rows[0].([]any) {
			btn := b.(map[string]any)
			texts = append(texts, btn["text"].(string))
			if btn["text"] == number {
				data = btn["callback_data"].(string)
			}
		}
		if data == "" || texts[len(texts)-1] != "Not me" || len(texts) != 5 {
			t.Fatalf("buttons %v, want 4 numbers including %s and Not me", texts, number)
		}

		update := fmt.Sprintf(`{"update_id":1,"callback_query":{"id":"cbq-e2e","from":{"id":%d},"message":{"message_id":1,"chat":{"id":%d}},"data":%q}}`, chat, chat, data)
		req, _ := http.NewRequest("POST", env.URL+"/v1/telegram/webhook", strings.NewReader(update))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", webhookSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("webhook answered %d", resp.StatusCode)
		}

		deadline := time.Now().Add(15 * time.Second)
		for {
			st := apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+flow, "", nil), 200)
			if st.Str("state") == "done" && st.Str("session.token") != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("flow not done: %s", st.Raw)
			}
			time.Sleep(50 * time.Millisecond)
		}
		edit := botF.await(t, func(c botCall) bool { return c.Method == "editMessageText" && chatIs(c, chat) })
		kb, _ := edit.Body["reply_markup"].(map[string]any)["inline_keyboard"].([]any)
		if edit.Body["message_id"] != float64(prompt.ID) || len(kb) != 0 || !strings.Contains(fmt.Sprint(edit.Body["text"]), "confirmed") {
			t.Fatalf("edit %v, want the buttons removed and the login confirmed", edit.Body)
		}
		botF.await(t, func(c botCall) bool {
			return c.Method == "answerCallbackQuery" && c.Body["callback_query_id"] == "cbq-e2e"
		})
	})
}
