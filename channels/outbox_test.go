package channels_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/authflow/authflow/channels"
)

func TestOutbox(t *testing.T) {
	ctx := context.Background()
	t.Run("case=entries come newest first and an edit removes the buttons", func(t *testing.T) {
		o := channels.NewOutbox()
		_, _ = o.SendSMS(ctx, "+14155550100", "123456 is your code", "k1")
		id, _ := o.SendPrompt(ctx, 42, "confirm?", []channels.Button{{Text: "17", Data: "l:f:17"}}, "k2")
		if e := o.Entries(); len(e) != 2 || e[0].Channel != "telegram" || e[1].Channel != "sms" {
			t.Fatalf("entries %+v", e)
		}
		_ = o.EditPrompt(ctx, 42, id, "done")
		if e := o.Entries()[0]; e.Text != "done" || e.Buttons != nil || e.Kind != "edited" {
			t.Fatalf("edited %+v", e)
		}
	})
	t.Run("case=a file-backed outbox survives a restart, edits included", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "outbox.jsonl")
		o, err := channels.OpenOutbox(path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = o.SendEmail(ctx, channels.Email{To: "a@example.com", Subject: "code", Text: "654321"})
		id, _ := o.SendPrompt(ctx, 7, "confirm?", []channels.Button{{Text: "11", Data: "l:f:11"}}, "k")
		_ = o.EditPrompt(ctx, 7, id, "confirmed")
		_ = o.Close()

		again, err := channels.OpenOutbox(path)
		if err != nil {
			t.Fatal(err)
		}
		defer again.Close()
		e := again.Entries()
		if len(e) != 2 || e[0].Text != "confirmed" || e[0].Buttons != nil || e[1].Text != "654321" {
			t.Fatalf("reloaded %+v", e)
		}
		_, _ = again.SendSMS(ctx, "+14155550100", "x", "k3")
		if got := again.Entries()[0].ID; got != 3 {
			t.Fatalf("ids restart at %d, want 3", got)
		}
	})
}
