package activities_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/security"
)

// TestFlashCallSend: a flash call's caller is drawn from the pool at random,
// its last 4 digits are the code the flow keeps a MAC of, the code lives 3
// minutes and takes one answer, and a retried send calls no one again
// (docs/security.md "Flash calls").
func TestFlashCallSend(t *testing.T) {
	setup := func(t *testing.T) (*enrollFixture, string) {
		f := newEnrollFixture(t)
		f.acts.FlashCalls = phone.NewFlashPool(phone.DevFlashPool())
		p, err := f.st.AddPhone(context.Background(), f.user.ID, "+447400123456", true)
		if err != nil {
			t.Fatal(err)
		}
		return f, p.ID
	}
	send := func(f *enrollFixture, phoneID, flowID string) activities.SentCode {
		f.t.Helper()
		return execute[activities.SentCode](f, f.acts.SendCode, activities.SendCodeInput{FlowID: flowID, UserID: f.user.ID,
			Channel: activities.ChannelCallFlash, PhoneID: phoneID, Purpose: "login"})
	}
	t.Run("case=the caller's last 4 digits are the code, for 3 minutes and one answer", func(t *testing.T) {
		f, phoneID := setup(t)
		start := time.Now()
		sent := send(f, phoneID, "flow-flash")
		calls := f.outbox.Entries()
		if len(calls) != 1 || calls[0].Kind != "flash" || len(calls[0].From) < 5 {
			t.Fatalf("outbox %+v, want one flash call", calls)
		}
		code := calls[0].From[len(calls[0].From)-4:]
		if !security.CodeMACMatches(f.acts.SecretKey, "flow-flash", code, sent.MAC) {
			t.Fatal("the MAC the flow keeps is not the caller's last 4 digits")
		}
		if !sent.OneAnswer || sent.Digits != 4 {
			t.Fatalf("sent %+v, want 4 digits and one answer", sent)
		}
		if ttl := sent.ExpiresAt.Sub(start); ttl < 3*time.Minute-5*time.Second || ttl > 3*time.Minute+5*time.Second {
			t.Fatalf("the code lives %s, want 3 minutes", ttl)
		}
		// A retried send (same idempotency key) answers from the record:
		// it must hold the code's MAC, since a new draw would be another
		// code. Never the code itself.
		// (The provider's key is the send's key and the caller.)
		rec, err := f.st.SentMessage(context.Background(), strings.TrimSuffix(calls[0].Key, "/"+calls[0].From))
		if err != nil || string(rec.CodeMAC) != string(sent.MAC) {
			t.Fatalf("record %+v %v: no code MAC a retry could answer with", rec, err)
		}
	})
	t.Run("case=callers are drawn at random, not derived from the flow", func(t *testing.T) {
		seen := map[string]bool{}
		for range 8 {
			f, phoneID := setup(t) // a fresh store: every send is a first try
			send(f, phoneID, "flow-same")
			seen[f.outbox.Entries()[0].From] = true
		}
		// 8 draws from 10,000 suffixes repeat one with probability < 0.3 %.
		if len(seen) < 7 {
			t.Fatalf("8 sends for the same flow used %d callers: the draw is not random", len(seen))
		}
	})
}
