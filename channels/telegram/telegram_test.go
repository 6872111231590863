package telegram_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/telegram"
)

const token = "123456:ABC-def_ghi"

// call is one request the fake Bot API received.
type call struct {
	Path string
	Body string
}

// fakeBotAPI is a Bot API on loopback: it records every request and answers
// with what reply says (by default {"ok":true,"result":true}).
type fakeBotAPI struct {
	*httptest.Server
	mu    sync.Mutex
	calls []call
	reply func(method, body string) (status int, answer string)
	// replyCtx, when set, answers instead of reply, with the request's
	// context (done when the client went away).
	replyCtx func(ctx context.Context, method, body string) (status int, answer string)
}

func newFakeBotAPI(t *testing.T) *fakeBotAPI {
	t.Helper()
	f := &fakeBotAPI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s with Content-Type %q, want a JSON POST", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.calls = append(f.calls, call{Path: r.URL.Path, Body: string(b)})
		reply, replyCtx := f.reply, f.replyCtx
		f.mu.Unlock()
		status, answer := http.StatusOK, `{"ok":true,"result":true}`
		method := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		switch {
		case replyCtx != nil:
			status, answer = replyCtx(r.Context(), method, string(b))
		case reply != nil:
			status, answer = reply(method, string(b))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeBotAPI) setReply(r func(method, body string) (int, string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = r
}

func (f *fakeBotAPI) takeCalls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// assertJSON compares two JSON documents regardless of key order.
func assertJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("request body is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("request body\n got %s\nwant %s", gb, wb)
	}
}

func onlyCall(t *testing.T, f *fakeBotAPI, path string) call {
	t.Helper()
	calls := f.takeCalls()
	if len(calls) != 1 {
		t.Fatalf("got %d requests %v, want one to %s", len(calls), calls, path)
	}
	if calls[0].Path != path {
		t.Fatalf("request to %s, want %s", calls[0].Path, path)
	}
	return calls[0]
}

func TestClient(t *testing.T) {
	ctx := context.Background()
	f := newFakeBotAPI(t)
	c := telegram.New(token, f.URL+"/")

	t.Run("case=prompt has number buttons and not me", func(t *testing.T) {
		f.setReply(func(method, _ string) (int, string) {
			return 200, `{"ok":true,"result":{"message_id":777,"chat":{"id":42},"text":"x"}}`
		})
		buttons := []channels.Button{
			{Text: "12", Data: "l:flow1:12"}, {Text: "34", Data: "l:flow1:34"},
			{Text: "56", Data: "l:flow1:56"}, {Text: "78", Data: "l:flow1:78"},
			{Text: "Not me", Data: "n:flow1"},
		}
		id, err := c.SendPrompt(ctx, 42, "Someone is signing in", buttons, "login/flow1/run/5/42")
		if err != nil {
			t.Fatal(err)
		}
		if id != 777 {
			t.Fatalf("message id = %d, want 777", id)
		}
		got := onlyCall(t, f, "/bot"+token+"/sendMessage")
		assertJSON(t, got.Body, `{"chat_id":42,"text":"Someone is signing in","reply_markup":{"inline_keyboard":[[
			{"text":"12","callback_data":"l:flow1:12"},{"text":"34","callback_data":"l:flow1:34"},
			{"text":"56","callback_data":"l:flow1:56"},{"text":"78","callback_data":"l:flow1:78"},
			{"text":"Not me","callback_data":"n:flow1"}]]}}`)
	})

	t.Run("case=retried prompt with the same key is sent once", func(t *testing.T) {
		f.setReply(func(string, string) (int, string) { return 200, `{"ok":true,"result":{"message_id":900}}` })
		for range 2 {
			id, err := c.SendPrompt(ctx, 42, "again", []channels.Button{{Text: "1", Data: "d"}}, "same-key")
			if err != nil || id != 900 {
				t.Fatalf("SendPrompt = %d, %v", id, err)
			}
		}
		onlyCall(t, f, "/bot"+token+"/sendMessage")
	})

	t.Run("case=edit removes the buttons", func(t *testing.T) {
		f.setReply(nil)
		if err := c.EditPrompt(ctx, 42, 777, "✅ Login confirmed."); err != nil {
			t.Fatal(err)
		}
		got := onlyCall(t, f, "/bot"+token+"/editMessageText")
		assertJSON(t, got.Body, `{"chat_id":42,"message_id":777,"text":"✅ Login confirmed.","reply_markup":{"inline_keyboard":[]}}`)
	})

	t.Run("case=editing again to the same text is not an error", func(t *testing.T) {
		f.setReply(func(string, string) (int, string) {
			return 400, `{"ok":false,"error_code":400,"description":"Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"}`
		})
		if err := c.EditPrompt(ctx, 42, 777, "✅ Login confirmed."); err != nil {
			t.Fatalf("EditPrompt = %v, want nil", err)
		}
		f.takeCalls()
	})

	t.Run("case=notice is a plain message sent once per key", func(t *testing.T) {
		f.setReply(func(string, string) (int, string) { return 200, `{"ok":true,"result":{"message_id":5}}` })
		for range 2 {
			if err := c.SendText(ctx, -100200, "Two-step authentication was disabled", "notice-key"); err != nil {
				t.Fatal(err)
			}
		}
		got := onlyCall(t, f, "/bot"+token+"/sendMessage")
		assertJSON(t, got.Body, `{"chat_id":-100200,"text":"Two-step authentication was disabled"}`)
	})

	t.Run("case=callback answer carries the toast", func(t *testing.T) {
		f.setReply(nil)
		if err := c.AnswerCallback(ctx, "cbq-1", "Answer received."); err != nil {
			t.Fatal(err)
		}
		got := onlyCall(t, f, "/bot"+token+"/answerCallbackQuery")
		assertJSON(t, got.Body, `{"callback_query_id":"cbq-1","text":"Answer received."}`)
	})

	t.Run("case=webhook is set with the secret token", func(t *testing.T) {
		f.setReply(nil)
		if err := c.SetWebhook(ctx, "https://panel.example.com/v1/telegram/webhook", "s3cret_TOKEN-1"); err != nil {
			t.Fatal(err)
		}
		got := onlyCall(t, f, "/bot"+token+"/setWebhook")
		assertJSON(t, got.Body, `{"url":"https://panel.example.com/v1/telegram/webhook","secret_token":"s3cret_TOKEN-1","allowed_updates":["message","callback_query"]}`)
		if err := c.DeleteWebhook(ctx); err != nil {
			t.Fatal(err)
		}
		got = onlyCall(t, f, "/bot"+token+"/deleteWebhook")
		assertJSON(t, got.Body, `{"drop_pending_updates":false}`)
	})

	t.Run("case=updates are polled with offset and timeout", func(t *testing.T) {
		f.setReply(func(string, string) (int, string) {
			return 200, `{"ok":true,"result":[{"update_id":10,"message":{"message_id":1,"chat":{"id":42},"text":"/start tok"}},
				{"update_id":11,"callback_query":{"id":"q","from":{"id":42},"data":"n:flow1"}}]}`
		})
		ups, err := c.GetUpdates(ctx, 10, 25*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(ups) != 2 || ups[0].ID != 10 || ups[0].Message == nil || ups[0].Message.Text != "/start tok" || ups[0].Message.Chat.ID != 42 ||
			ups[1].ID != 11 || ups[1].Callback == nil || ups[1].Callback.Data != "n:flow1" || ups[1].Callback.From.ID != 42 {
			t.Fatalf("updates = %+v", ups)
		}
		got := onlyCall(t, f, "/bot"+token+"/getUpdates")
		assertJSON(t, got.Body, `{"offset":10,"timeout":25,"allowed_updates":["message","callback_query"]}`)
	})

	t.Run("case=an update authflow cannot read is passed on empty, so the poller moves past it", func(t *testing.T) {
		f.setReply(func(string, string) (int, string) {
			return 200, `{"ok":true,"result":[{"update_id":12,"message":"not an object"}]}`
		})
		ups, err := c.GetUpdates(ctx, 12, time.Second)
		if err != nil || len(ups) != 1 || ups[0].ID != 12 || ups[0].Message != nil || ups[0].Callback != nil {
			t.Fatalf("updates = %+v, err %v", ups, err)
		}
		_ = onlyCall(t, f, "/bot"+token+"/getUpdates")
	})
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	f := newFakeBotAPI(t)
	c := telegram.New(token, f.URL)
	permanent := func(err error) bool {
		var p *channels.PermanentError
		return errors.As(err, &p)
	}

	t.Run("case=blocked bot (403) is permanent", func(t *testing.T) {
		f.setReply(func(string, string) (int, string) {
			return 403, `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`
		})
		_, err := c.SendPrompt(ctx, 42, "x", nil, "k403")
		if !permanent(err) {
			t.Fatalf("err = %v, want *channels.PermanentError", err)
		}
		if err := c.SendText(ctx, 42, "x", "k403b"); !permanent(err) {
			t.Fatalf("SendText err = %v, want *channels.PermanentError", err)
		}
	})

	t.Run("case=chat not found (400) is permanent", func(t *testing.T) {
		f.setReply(func(string, string) (int, string) {
			return 400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`
		})
		if err := c.EditPrompt(ctx, 1, 2, "x"); !permanent(err) || !strings.Contains(err.Error(), "chat not found") {
			t.Fatalf("err = %v, want a permanent chat not found", err)
		}
	})

	t.Run("case=too many requests is retryable and says retry_after", func(t *testing.T) {
		f.setReply(func(string, string) (int, string) {
			return 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}`
		})
		_, err := c.SendPrompt(ctx, 42, "x", nil, "k429")
		if err == nil || permanent(err) {
			t.Fatalf("err = %v, want a retryable error", err)
		}
		if got := telegram.RetryAfter(err); got != 7*time.Second || channels.RetryDelay(err) != got {
			t.Fatalf("RetryAfter = %s, channels.RetryDelay = %s, want 7s", got, channels.RetryDelay(err))
		}
		if !strings.Contains(err.Error(), "retry after 7s") {
			t.Fatalf("message %q does not say when to retry", err)
		}
	})

	t.Run("case=a retryable failure is not remembered as sent", func(t *testing.T) {
		f.setReply(func(string, string) (int, string) { return 200, `{"ok":true,"result":{"message_id":31}}` })
		id, err := c.SendPrompt(ctx, 42, "x", nil, "k429")
		if err != nil || id != 31 {
			t.Fatalf("retry = %d, %v; want the message sent", id, err)
		}
	})

	t.Run("case=server error is retryable", func(t *testing.T) {
		f.setReply(func(string, string) (int, string) { return 502, `<html>Bad Gateway</html>` })
		err := c.SendText(ctx, 42, "x", "k502")
		if err == nil || permanent(err) {
			t.Fatalf("err = %v, want a retryable error", err)
		}
	})

	t.Run("case=network failure is retryable and hides the token", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		err := telegram.New(token, dead.URL).SendText(ctx, 42, "x", "")
		if err == nil || permanent(err) {
			t.Fatalf("err = %v, want a retryable error", err)
		}
		if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "ABC-def") {
			t.Fatalf("error %q leaks the bot token", err)
		}
	})
}
