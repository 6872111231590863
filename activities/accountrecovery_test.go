package activities_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

func (f *enrollFixture) run(activity any, in any) error {
	f.t.Helper()
	_, err := f.env.ExecuteActivity(activity, in)
	return err
}

func countOutbox(out *channels.Outbox, match func(channels.OutboxEntry) bool) int {
	n := 0
	for _, e := range out.Entries() {
		if match(e) {
			n++
		}
	}
	return n
}

func TestRecoveryNotice(t *testing.T) {
	t.Run("case=every channel is told once, each with a cancel link, and a login finds the wait", func(t *testing.T) {
		f := newEnrollFixture(t)
		ctx := context.Background()
		if _, err := f.st.LinkTelegram(ctx, f.user.ID, 4401, "owner"); err != nil {
			t.Fatal(err)
		}
		p, err := f.st.AddPhone(ctx, f.user.ID, "+380501234567", true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.AddPhone(ctx, f.user.ID, "+380671112233", false); err != nil { // not verified: not told
			t.Fatal(err)
		}
		in := activities.RecoveryNoticeInput{FlowID: "rf-notice", UserID: f.user.ID, ReadyAt: time.Now().Add(72 * time.Hour),
			TokenExpiresAt: time.Now().Add(96 * time.Hour)}
		if err := f.run(f.acts.RecoveryNotice, in); err != nil {
			t.Fatal(err)
		}
		email := countOutbox(f.outbox, func(e channels.OutboxEntry) bool {
			return e.Channel == "email" && e.To == f.user.Email && strings.Contains(e.Text, "/recover/cancel?token=")
		})
		tg := countOutbox(f.outbox, func(e channels.OutboxEntry) bool {
			return e.Channel == "telegram" && e.To == "4401" && strings.Contains(e.Text, "/recover/cancel?token=")
		})
		sms := countOutbox(f.outbox, func(e channels.OutboxEntry) bool { return e.Channel == "sms" && e.To == p.Number })
		others := countOutbox(f.outbox, func(e channels.OutboxEntry) bool { return e.Channel == "sms" && e.To != p.Number })
		if email != 1 || tg != 1 || sms != 1 || others != 0 {
			t.Fatalf("email %d, telegram %d, sms %d (unverified %d); outbox %+v", email, tg, sms, others, f.outbox.Entries())
		}
		waiting, err := f.st.WaitingRecoveries(ctx, f.user.ID)
		if err != nil || !slices.Equal(waiting, []string{"rf-notice"}) {
			t.Fatalf("waiting %v %v", waiting, err)
		}
		if ev := f.events(); ev["recovery_waiting"] != 1 {
			t.Fatalf("events %v", ev)
		}
	})
	t.Run("case=a notice sent again by the retry of a kill between send and record is an identical copy whose link works", func(t *testing.T) {
		f := newEnrollFixture(t)
		f.acts.Store = &noticeRecordFailsOnce{Store: f.st}
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.RegisterActivity(f.acts)
		env.RegisterWorkflow(noticeWithRetries)
		in := activities.RecoveryNoticeInput{FlowID: "rf-retry", UserID: f.user.ID, ReadyAt: time.Now().Add(72 * time.Hour),
			TokenExpiresAt: time.Now().Add(96 * time.Hour)}
		env.ExecuteWorkflow(noticeWithRetries, in)
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, e := range f.outbox.Entries() {
			if e.Channel == "email" && e.To == f.user.Email {
				texts = append(texts, e.Text)
			}
		}
		if len(texts) != 2 || texts[0] != texts[1] {
			t.Fatalf("want the notice and one identical copy, got %q", texts)
		}
		token := regexp.MustCompile(`/recover/cancel\?token=([a-z2-7]+)`).FindStringSubmatch(texts[0])
		if token == nil {
			t.Fatalf("no cancel link in %q", texts[0])
		}
		flow, err := f.st.UseRecoveryCancelToken(context.Background(), security.HashToken(token[1]), time.Now())
		if err != nil || flow != "rf-retry" {
			t.Fatalf("the copy's link: %q %v", flow, err)
		}
	})
	t.Run("case=a login of the account cancels its waiting recoveries", func(t *testing.T) {
		f := newEnrollFixture(t)
		var cancelled []string
		f.acts.CancelRecovery = func(_ context.Context, flowID, reason string) error {
			cancelled = append(cancelled, flowID+":"+reason)
			return nil
		}
		now := time.Now()
		if err := f.st.StartRecoveryWait(context.Background(), "rf-wait", f.user.ID, now.Add(time.Hour), now); err != nil {
			t.Fatal(err)
		}
		if err := f.run(f.acts.IssueSession, activities.IssueSessionInput{UserID: f.user.ID, FlowID: "login-flow", TokenHash: sessionHash("login-flow")}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cancelled, []string{"rf-wait:login"}) {
			t.Fatalf("cancelled %v", cancelled)
		}
	})
}

// noticeRecordFailsOnce fails the first write of an email notice's send
// record, as a worker killed after the provider took the email would.
type noticeRecordFailsOnce struct {
	store.Store
	failed bool
}

func (s *noticeRecordFailsOnce) RecordSentMessage(ctx context.Context, m store.SentMessage) error {
	if !s.failed && m.Channel == activities.ChannelEmailNotice {
		s.failed = true
		return errors.New("the worker died before the record")
	}
	return s.Store.RecordSentMessage(ctx, m)
}

// noticeWithRetries runs RecoveryNotice the way the recovery workflow
// does: a failed attempt is retried under the same activity id, hence the
// same idempotency key.
func noticeWithRetries(ctx workflow.Context, in activities.RecoveryNoticeInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Millisecond, MaximumAttempts: 3}})
	var a *activities.Activities
	return workflow.ExecuteActivity(ctx, a.RecoveryNotice, in).Get(ctx, nil)
}

func TestCompleteRecovery(t *testing.T) {
	t.Run("case=the password is replaced, every session ends, the lockouts reset", func(t *testing.T) {
		f := newEnrollFixture(t)
		f.acts.Hasher = security.NewHasher(security.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1})
		ctx := context.Background()
		f.session()
		f.session()
		for range rules.DefaultLimits.HardCap {
			if _, err := f.st.AddFailure(ctx, rules.ScopeSecondFactor, f.user.ID, time.Now(), rules.DefaultLimits.LockFor); err != nil {
				t.Fatal(err)
			}
		}
		in := activities.CompleteRecoveryInput{FlowID: "rf-done", UserID: f.user.ID,
			PasswordSealed: f.acts.Sealer.Seal(security.PurposePassword, []byte("a new long password"))}
		if err := f.run(f.acts.CompleteRecovery, in); err != nil {
			t.Fatal(err)
		}
		u, err := f.st.UserByID(ctx, f.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !f.acts.Hasher.Verify(u.PasswordHash, "a new long password") {
			t.Fatal("the new password does not verify")
		}
		if s, err := f.st.ListSessions(ctx, f.user.ID, time.Now()); err != nil || len(s) != 0 {
			t.Fatalf("sessions left %d %v", len(s), err)
		}
		if a, err := f.st.GetAttempts(ctx, rules.ScopeSecondFactor, f.user.ID); err != nil || a.Failures != 0 {
			t.Fatalf("second-step failures %+v %v", a, err)
		}
		if ev := f.events(); ev["recovery_completed"] != 1 || ev["password_changed"] != 1 || ev["sessions_ended"] != 1 {
			t.Fatalf("events %v", ev)
		}
	})
	t.Run("case=a password the rules refuse is a bad request, nothing changes", func(t *testing.T) {
		f := newEnrollFixture(t)
		in := activities.CompleteRecoveryInput{FlowID: "rf-bad", UserID: f.user.ID,
			PasswordSealed: f.acts.Sealer.Seal(security.PurposePassword, []byte("short"))}
		if err := f.run(f.acts.CompleteRecovery, in); err == nil || !strings.Contains(err.Error(), "password") {
			t.Fatalf("err %v", err)
		}
		if ev := f.events(); ev["password_changed"] != 0 {
			t.Fatalf("events %v", ev)
		}
	})
}

func TestBeginRecoveryWait(t *testing.T) {
	t.Run("case=one wait per account: a second recovery is a conflict until the first ends", func(t *testing.T) {
		f := newEnrollFixture(t)
		ctx := context.Background()
		ready := time.Now().Add(72 * time.Hour)
		if err := f.run(f.acts.BeginRecoveryWait, activities.BeginRecoveryWaitInput{FlowID: "rf-a", UserID: f.user.ID, ReadyAt: ready}); err != nil {
			t.Fatal(err)
		}
		// The activity's retry of the same flow is no second wait.
		if err := f.run(f.acts.BeginRecoveryWait, activities.BeginRecoveryWaitInput{FlowID: "rf-a", UserID: f.user.ID, ReadyAt: ready}); err != nil {
			t.Fatalf("the same flow again: %v", err)
		}
		if got := errType(t, f.run(f.acts.BeginRecoveryWait, activities.BeginRecoveryWaitInput{FlowID: "rf-b", UserID: f.user.ID, ReadyAt: ready})); got != errkind.Conflict {
			t.Fatalf("a second wait: %q, want %s", got, errkind.Conflict)
		}
		// Another account is not concerned.
		if err := f.run(f.acts.BeginRecoveryWait, activities.BeginRecoveryWaitInput{FlowID: "rf-c", UserID: f.newUser().ID, ReadyAt: ready}); err != nil {
			t.Fatalf("another account: %v", err)
		}
		if err := f.st.EndRecovery(ctx, "rf-a", "cancelled", time.Now()); err != nil {
			t.Fatal(err)
		}
		if err := f.run(f.acts.BeginRecoveryWait, activities.BeginRecoveryWaitInput{FlowID: "rf-b", UserID: f.user.ID, ReadyAt: ready}); err != nil {
			t.Fatalf("after the first ended: %v", err)
		}
	})
}

func TestRecoveryNoticeTextsWithinThePhoneBudgets(t *testing.T) {
	notice := func(f *enrollFixture, flow string) {
		t.Helper()
		in := activities.RecoveryNoticeInput{FlowID: flow, UserID: f.user.ID, ReadyAt: time.Now().Add(72 * time.Hour),
			TokenExpiresAt: time.Now().Add(96 * time.Hour)}
		if err := f.run(f.acts.RecoveryNotice, in); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("case=past the hourly cap the notice is not texted, but emailed; and a texted notice counts against the cap for codes", func(t *testing.T) {
		f := newEnrollFixture(t)
		r := f.countRefusals()
		ctx := context.Background()
		p, err := f.st.AddPhone(ctx, f.user.ID, "+380501234571", true)
		if err != nil {
			t.Fatal(err)
		}
		f.acts.Limits.PhoneSendsPerHour = 1
		notice(f, "rf-cap-1")
		if n := countOutbox(f.outbox, func(e channels.OutboxEntry) bool { return e.Channel == "sms" && e.To == p.Number }); n != 1 {
			t.Fatalf("texted %d, want 1 (under the cap)", n)
		}
		// The notice used the hour's one phone send: a code is refused.
		if got := errType(t, f.send(activities.SendCodeInput{Channel: activities.ChannelSMS, UserID: f.user.ID, PhoneID: p.ID})); got != errkind.Unavailable {
			t.Fatalf("a code after the notice used the cap: %q, want %s", got, errkind.Unavailable)
		}
		if err := f.st.EndRecovery(ctx, "rf-cap-1", "cancelled", time.Now()); err != nil {
			t.Fatal(err)
		}
		emails := countOutbox(f.outbox, func(e channels.OutboxEntry) bool { return e.Channel == "email" })
		notice(f, "rf-cap-2")
		if n := countOutbox(f.outbox, func(e channels.OutboxEntry) bool { return e.Channel == "sms" && e.To == p.Number }); n != 1 {
			t.Fatalf("texted %d in all, want still 1 past the cap", n)
		}
		if n := countOutbox(f.outbox, func(e channels.OutboxEntry) bool { return e.Channel == "email" }); n != emails+1 {
			t.Fatalf("emails %d, want %d: the email notice must still go", n, emails+1)
		}
		if r.count("cap") < 2 {
			t.Fatalf("refusals %v, want the code's and the notice's", r.n)
		}
	})
	t.Run("case=a number gets at most SendsPerRecipient notice texts per window", func(t *testing.T) {
		f := newEnrollFixture(t)
		r := f.countRefusals()
		ctx := context.Background()
		p, err := f.st.AddPhone(ctx, f.user.ID, "+380501234572", true)
		if err != nil {
			t.Fatal(err)
		}
		f.acts.Limits.SendsPerRecipient = 2
		for i, flow := range []string{"rf-n1", "rf-n2", "rf-n3", "rf-n4"} {
			notice(f, flow)
			if err := f.st.EndRecovery(ctx, flow, "cancelled", time.Now()); err != nil {
				t.Fatal(err)
			}
			want := min(i+1, 2)
			if n := countOutbox(f.outbox, func(e channels.OutboxEntry) bool { return e.Channel == "sms" && e.To == p.Number }); n != want {
				t.Fatalf("after notice %d: texted %d, want %d", i+1, n, want)
			}
		}
		if r.count("notice_budget") != 2 {
			t.Fatalf("refusals %v, want 2 notice_budget", r.n)
		}
	})
}
