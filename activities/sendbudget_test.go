package activities_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// The send budgets and the phone rules of docs/security.md "Send budgets"
// and "SMS pumping".

// refusals counts PhoneSendRefused by reason.
type refusals struct {
	activities.Metrics
	mu sync.Mutex
	n  map[string]int
}

func (r *refusals) PhoneSendRefused(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[reason]++
}

func (r *refusals) count(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reason]
}

func (f *enrollFixture) countRefusals() *refusals {
	r := &refusals{n: map[string]int{}}
	f.acts.Metrics = r
	return r
}

func (f *enrollFixture) logs() *bytes.Buffer {
	var buf bytes.Buffer
	f.acts.Log = slog.New(slog.NewTextHandler(&buf, nil))
	return &buf
}

func (f *enrollFixture) newUser() store.User {
	f.t.Helper()
	u, err := f.st.CreateUser(context.Background(), "other-"+security.RandomToken()[:8]+"@example.com", "hash")
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func (f *enrollFixture) phone(userID, number string) string {
	f.t.Helper()
	p, err := f.st.AddPhone(context.Background(), userID, number, true)
	if err != nil {
		f.t.Fatal(err)
	}
	return p.ID
}

func (f *enrollFixture) send(in activities.SendCodeInput) error {
	f.t.Helper()
	if in.FlowID == "" {
		in.FlowID = "flow-" + security.RandomToken()[:8]
	}
	if in.Purpose == "" {
		in.Purpose = "login"
		if in.Number != "" {
			in.Purpose = "enroll"
		}
	}
	_, err := f.env.ExecuteActivity(f.acts.SendCode, in)
	return err
}

// errType is the type of a non-retryable application error, "" otherwise.
func errType(t *testing.T, err error) errkind.Kind {
	t.Helper()
	if err == nil {
		return ""
	}
	ae, ok := errors.AsType[*temporal.ApplicationError](err)
	if !ok {
		t.Fatalf("err %v is not an application error", err)
	}
	if !ae.NonRetryable() {
		t.Fatalf("err %v is retryable", err)
	}
	return errkind.Kind(ae.Type())
}

func (f *enrollFixture) outboxCount(channel, to string) int {
	n := 0
	for _, e := range f.outbox.Entries() {
		if e.Channel == channel && e.To == to {
			n++
		}
	}
	return n
}

func TestNoticesNeverUseUpCodes(t *testing.T) {
	t.Run("case=two notices, then 5 email codes all go out and the 6th within the hour is 429", func(t *testing.T) {
		f := newEnrollFixture(t)
		for range 2 {
			if _, err := f.env.ExecuteActivity(f.acts.Notify, activities.NotifyInput{UserID: f.user.ID,
				Notice: rules.Notice{ID: "notice.totp_disabled"}}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 5 {
			if err := f.send(activities.SendCodeInput{Channel: activities.ChannelEmail, UserID: f.user.ID}); err != nil {
				t.Fatalf("email code %d after two notices: %v", i+1, err)
			}
		}
		if n := f.outboxCount("email", f.user.Email); n != 7 {
			t.Fatalf("%d emails, want 2 notices and 5 codes", n)
		}
		if got := errType(t, f.send(activities.SendCodeInput{Channel: activities.ChannelEmail, UserID: f.user.ID})); got != errkind.RateLimited {
			t.Fatalf("6th code: %q, want %s", got, errkind.RateLimited)
		}
	})
}

func TestPhoneNumberRules(t *testing.T) {
	t.Run("case=a stored premium-rate number gets no code, and the refusal is counted", func(t *testing.T) {
		f := newEnrollFixture(t)
		r := f.countRefusals()
		id := f.phone(f.user.ID, "+449012345678")
		for _, ch := range []string{activities.ChannelSMS, activities.ChannelCallDictate} {
			err := f.send(activities.SendCodeInput{Channel: ch, UserID: f.user.ID, PhoneID: id})
			if errType(t, err) != errkind.MethodUnavailable || !strings.Contains(err.Error(), "premium-rate numbers cannot receive codes") {
				t.Fatalf("%s to a premium-rate number: %v", ch, err)
			}
		}
		if n := f.outboxCount("sms", "+449012345678") + f.outboxCount("call", "+449012345678"); n != 0 {
			t.Fatalf("%d messages sent to a premium-rate number", n)
		}
		if r.count(phone.RuleType) != 2 {
			t.Fatalf("refusals %v", r.n)
		}
	})
	t.Run("case=a premium-rate number being enrolled gets no SMS", func(t *testing.T) {
		f := newEnrollFixture(t)
		err := f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.user.ID, Number: "+449012345678", IP: "203.0.113.1"})
		if errType(t, err) != errkind.MethodUnavailable || !strings.Contains(err.Error(), "premium-rate") {
			t.Fatalf("enrollment SMS to a premium-rate number: %v", err)
		}
	})
	t.Run("case=a fixed-line-or-mobile number gets calls but no SMS, a fixed line nothing", func(t *testing.T) {
		f := newEnrollFixture(t)
		id := f.phone(f.user.ID, "+14155550123")
		if err := f.send(activities.SendCodeInput{Channel: activities.ChannelCallDictate, UserID: f.user.ID, PhoneID: id}); err != nil {
			t.Fatalf("call to a fixed-line-or-mobile number: %v", err)
		}
		err := f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.user.ID, PhoneID: id})
		if errType(t, err) != errkind.MethodUnavailable || !strings.Contains(err.Error(), "cannot receive SMS") {
			t.Fatalf("SMS to a fixed-line-or-mobile number: %v", err)
		}
		fixed := f.phone(f.user.ID, "+380442345678")
		err = f.send(activities.SendCodeInput{Channel: activities.ChannelCallDictate, UserID: f.user.ID, PhoneID: fixed})
		if errType(t, err) != errkind.MethodUnavailable || !strings.Contains(err.Error(), "fixed-line numbers cannot receive codes") {
			t.Fatalf("call to a fixed line: %v", err)
		}
	})
	t.Run("case=a number outside AUTHFLOW_PHONE_REGIONS gets no code", func(t *testing.T) {
		f := newEnrollFixture(t)
		r := f.countRefusals()
		f.acts.PhonePolicy = phone.Policy{Regions: []string{"UA"}}
		id := f.phone(f.user.ID, "+48501234567")
		err := f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.user.ID, PhoneID: id})
		if errType(t, err) != errkind.MethodUnavailable || !strings.Contains(err.Error(), "PL") {
			t.Fatalf("SMS to PL with regions UA: %v", err)
		}
		if r.count(phone.RuleRegion) != 1 {
			t.Fatalf("refusals %v", r.n)
		}
		ua := f.phone(f.user.ID, "+380671234501")
		if err := f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.user.ID, PhoneID: ua}); err != nil {
			t.Fatalf("SMS to UA with regions UA: %v", err)
		}
	})
	t.Run("case=login offers a fixed-line-or-mobile number for calls only and a number that may get nothing not at all", func(t *testing.T) {
		f := newEnrollFixture(t)
		f.acts.PhonePolicy = phone.Policy{Regions: []string{"UA", "US"}}
		mobile := f.phone(f.user.ID, "+380501234567")
		fixed := f.phone(f.user.ID, "+14155550123")
		f.phone(f.user.ID, "+380442345678") // a fixed line, stored before the rule
		f.phone(f.user.ID, "+380800123456") // toll-free, stored before the rule
		f.phone(f.user.ID, "+48501234567")  // outside the regions
		v, err := f.env.ExecuteActivity(f.acts.LoadLoginOptions, f.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		var o activities.LoginOptions
		if err := v.Get(&o); err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, p := range o.Phones {
			got[p.ID] = p.CallOnly
		}
		if len(o.Phones) != 2 || got[mobile] || !got[fixed] {
			t.Fatalf("phones %+v: want the mobile (SMS too) and the fixed-line-or-mobile number (call only)", o.Phones)
		}
	})
}

func TestPhoneSendsHourlyCap(t *testing.T) {
	t.Run("case=past the cap phone sends of every account fail as capped, counted and logged as an ERROR", func(t *testing.T) {
		f := newEnrollFixture(t)
		r := f.countRefusals()
		logs := f.logs()
		f.acts.Limits.PhoneSendsPerHour = 3
		other := f.newUser()
		if err := f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.user.ID, PhoneID: f.phone(f.user.ID, "+380671234502")}); err != nil {
			t.Fatal(err)
		}
		if err := f.send(activities.SendCodeInput{Channel: activities.ChannelCallDictate, UserID: other.ID, PhoneID: f.phone(other.ID, "+380671234503")}); err != nil {
			t.Fatal(err)
		}
		if err := f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: other.ID, Number: "+380671234504", IP: "203.0.113.7"}); err != nil {
			t.Fatal(err)
		}
		for _, in := range []activities.SendCodeInput{
			{Channel: activities.ChannelSMS, UserID: f.user.ID, PhoneID: f.phone(f.user.ID, "+380671234505")},
			{Channel: activities.ChannelCallDictate, UserID: f.user.ID, PhoneID: f.phone(f.user.ID, "+380671234506")},
			{Channel: activities.ChannelSMS, UserID: f.newUser().ID, Number: "+380671234507", IP: "198.51.100.7"},
		} {
			if got := errType(t, f.send(in)); got != errkind.Unavailable {
				t.Fatalf("%s past the cap: %q, want %s", in.Channel, got, errkind.Unavailable)
			}
		}
		if r.count("cap") != 3 {
			t.Fatalf("refusals %v, want 3 cap", r.n)
		}
		if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "pumping wave may be under way") {
			t.Fatalf("no ERROR log of a pumping wave: %s", logs)
		}
		// Email is not a phone send.
		if err := f.send(activities.SendCodeInput{Channel: activities.ChannelEmail, UserID: f.user.ID}); err != nil {
			t.Fatalf("email past the phone cap: %v", err)
		}
	})
}

func TestUnverifiedNumberBudgets(t *testing.T) {
	t.Run("case=another account enrolling a victim's number 5 times does not stop the victim's SMS and call codes", func(t *testing.T) {
		f := newEnrollFixture(t)
		const number = "+380671234510"
		victimPhone := f.phone(f.user.ID, number)
		attacker := f.newUser()
		for i := range 5 {
			if err := f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: attacker.ID, Number: number, IP: "203.0.113.66"}); err != nil {
				t.Fatalf("enrollment SMS %d: %v", i+1, err)
			}
		}
		// The number's enrollment budget is spent, for every account.
		if got := errType(t, f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.newUser().ID, Number: number, IP: "198.51.100.66"})); got != errkind.RateLimited {
			t.Fatalf("6th enrollment SMS to the number: %q, want rate limited", got)
		}
		for _, ch := range []string{activities.ChannelSMS, activities.ChannelCallDictate, activities.ChannelSMS} {
			if err := f.send(activities.SendCodeInput{Channel: ch, UserID: f.user.ID, PhoneID: victimPhone}); err != nil {
				t.Fatalf("the victim's %s code after another account's 5 enrollments: %v", ch, err)
			}
		}
		if n := f.outboxCount("sms", number); n != 7 {
			t.Fatalf("%d SMS to the number, want 5 enrollment and 2 login codes", n)
		}
	})
	t.Run("case=an account enrolls at most 5 numbers an hour, and its sends leave its own code budget alone", func(t *testing.T) {
		f := newEnrollFixture(t)
		for i := range 5 {
			if err := f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.user.ID, Number: "+38067123452" + string(rune('0'+i)), IP: "203.0.113.8"}); err != nil {
				t.Fatalf("enrollment SMS %d: %v", i+1, err)
			}
		}
		if got := errType(t, f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.user.ID, Number: "+380671234529", IP: "198.51.100.8"})); got != errkind.RateLimited {
			t.Fatalf("6th number enrolled by one account in an hour: %q, want rate limited", got)
		}
		for i := range 5 {
			if err := f.send(activities.SendCodeInput{Channel: activities.ChannelEmail, UserID: f.user.ID}); err != nil {
				t.Fatalf("email code %d after 5 enrollment SMS: %v", i+1, err)
			}
		}
	})
	t.Run("case=one IP enrolls at most EnrollSendsPerIP numbers an hour, whatever the accounts", func(t *testing.T) {
		f := newEnrollFixture(t)
		f.acts.Limits.EnrollSendsPerIP = 3
		for i := range 3 {
			if err := f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.newUser().ID, Number: "+38067123453" + string(rune('0'+i)), IP: "203.0.113.9"}); err != nil {
				t.Fatalf("enrollment SMS %d: %v", i+1, err)
			}
		}
		if got := errType(t, f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.newUser().ID, Number: "+380671234539", IP: "203.0.113.9"})); got != errkind.RateLimited {
			t.Fatalf("4th enrollment from one IP: %q, want rate limited", got)
		}
		if err := f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.newUser().ID, Number: "+380671234539", IP: "203.0.113.10"}); err != nil {
			t.Fatalf("another IP: %v", err)
		}
	})
}

func TestPerAccountSendBudget(t *testing.T) {
	t.Run("case=10 codes an hour to an account's recipients together, then 429 on a fresh one; another account is not held back", func(t *testing.T) {
		f := newEnrollFixture(t)
		now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
		f.acts.Now = func() time.Time { return now }
		phoneA := f.phone(f.user.ID, "+48501234567")
		phoneB := f.phone(f.user.ID, "+48501234568")
		// Five to the email and five to one phone: each recipient within
		// its own budget of 5, the account at its 10.
		for i := range 5 {
			if err := f.send(activities.SendCodeInput{Channel: activities.ChannelEmail, UserID: f.user.ID}); err != nil {
				t.Fatalf("email code %d: %v", i+1, err)
			}
			if err := f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.user.ID, PhoneID: phoneA}); err != nil {
				t.Fatalf("SMS code %d: %v", i+1, err)
			}
		}
		// The second phone has had nothing: only the account's budget
		// refuses it.
		if got := errType(t, f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.user.ID, PhoneID: phoneB})); got != errkind.RateLimited {
			t.Fatalf("11th code of the hour, to a fresh number: %q, want %s", got, errkind.RateLimited)
		}
		if n := f.outboxCount("sms", "+48501234568"); n != 0 {
			t.Fatalf("the refused code went out: %d SMS to the second phone", n)
		}
		other := f.newUser()
		if err := f.send(activities.SendCodeInput{Channel: activities.ChannelEmail, UserID: other.ID}); err != nil {
			t.Fatalf("another account's code: %v", err)
		}
		// An hour after the first sends the budget is back.
		now = now.Add(time.Hour + time.Second)
		if err := f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.user.ID, PhoneID: phoneB}); err != nil {
			t.Fatalf("a code an hour later: %v", err)
		}
	})
}

func TestSentCodesLiveTenMinutes(t *testing.T) {
	t.Run("case=email, SMS and dictated-call codes expire 10 minutes after the send", func(t *testing.T) {
		f := newEnrollFixture(t)
		now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
		f.acts.Now = func() time.Time { return now }
		phoneID := f.phone(f.user.ID, "+380501234567")
		for _, in := range []activities.SendCodeInput{
			{Channel: activities.ChannelEmail, UserID: f.user.ID},
			{Channel: activities.ChannelSMS, UserID: f.user.ID, PhoneID: phoneID},
			{Channel: activities.ChannelCallDictate, UserID: f.user.ID, PhoneID: phoneID},
		} {
			in.FlowID, in.Purpose = "flow-"+security.RandomToken()[:8], "login"
			sent := execute[activities.SentCode](f, f.acts.SendCode, in)
			if !sent.ExpiresAt.Equal(now.Add(10 * time.Minute)) {
				t.Errorf("%s code expires at %s, want 10 minutes after %s", in.Channel, sent.ExpiresAt, now)
			}
		}
	})
}
