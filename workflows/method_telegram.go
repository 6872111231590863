package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/security"
)

// telegramMethod is number matching in Telegram: every linked chat gets a
// prompt with four number buttons and "Not me"; the page shows the right
// number and the click arrives as a signal. Enrollment links a chat by a
// t.me deep link whose /start the bot signals.
type telegramMethod struct{}

func (telegramMethod) method() Method { return MethodTelegram }

func (telegramMethod) offer(o activities.LoginOptions) []MethodOption {
	return offerIf(o.Telegram, MethodTelegram)
}

func (telegramMethod) challenge(ctx workflow.Context, l *login, _ MethodOption) error {
	return l.challengeTelegram(ctx)
}

func (telegramMethod) validateAnswer(VerifyInput) error {
	return appErr(ErrWrongState, "a Telegram challenge is answered with the button in Telegram", nil)
}

func (telegramMethod) check(workflow.Context, *login, VerifyInput) (checked, error) {
	return checked{}, appErr(ErrWrongState, "a Telegram challenge is answered with the button in Telegram", nil)
}

func (telegramMethod) close(ctx workflow.Context, l *login, outcome string) {
	l.closeTelegram(ctx, outcome)
}

func (telegramMethod) validateBegin(EnrollInput) error { return nil }

func (telegramMethod) begin(ctx workflow.Context, e *enroll) error {
	var t activities.TelegramLinkToken
	err := workflow.ExecuteLocalActivity(localCtx(ctx), a.CreateTelegramLink, activities.CreateTelegramLinkInput{
		UserID: e.in.UserID, FlowID: e.in.FlowID, ExpiresAt: e.view.ExpiresAt}).Get(ctx, &t)
	e.view.TelegramTokenSealed = t.TokenSealed
	return err
}

func (telegramMethod) validateConfirm(EnrollConfirmInput) error {
	return appErr(ErrWrongState, "a Telegram link is confirmed by opening it in Telegram", nil)
}

func (telegramMethod) confirm(workflow.Context, *enroll, EnrollConfirmInput) (activities.FinishEnrollmentInput, string, error) {
	return activities.FinishEnrollmentInput{}, "", appErr(ErrWrongState, "a Telegram link is confirmed by opening it in Telegram", nil)
}

func (telegramMethod) finishActivity() any { return a.FinishTelegramEnrollment }

func (telegramMethod) done(v *EnrollView, res activities.EnrollmentResult) {
	if t := res.Telegram; t != nil {
		v.TelegramAccount = &EnrolledTelegram{ID: t.ID, Username: t.Username, ChatID: t.ChatID, LinkedAt: t.LinkedAt}
	}
}

// ---- Login: the prompt, and the click as a signal ----

// challengeTelegram picks the number the page shows and three decoys, all
// distinct, in random order (a SideEffect: random once, replayed as recorded).
func (l *login) challengeTelegram(ctx workflow.Context) error {
	var numbers []int
	var right int
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return telegramNumbers() }).Get(&numbers); err != nil {
		return err
	}
	right = numbers[0]
	shuffled := append([]int(nil), numbers...)
	// Deterministic rotation by a recorded random offset keeps the right
	// button's position unpredictable.
	var off int
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return security.RandomInt(len(numbers)) }).Get(&off); err != nil {
		return err
	}
	for i := range numbers {
		shuffled[i] = numbers[(i+off)%len(numbers)]
	}
	var sent int
	if err := workflow.ExecuteActivity(activityCtx(ctx), a.SendTelegramPrompts, activities.SendTelegramPromptsInput{
		FlowID: l.in.FlowID, UserID: l.view.UserID, Chats: l.opts.TelegramChats, Numbers: shuffled, IP: l.in.IP,
		Recovery: l.f.kind == KindRecovery, Locale: l.in.Locale,
	}).Get(ctx, &sent); err != nil {
		return err
	}
	l.tgNumber, l.view.TelegramNumber = right, right
	return nil
}

func telegramNumbers() []int {
	seen := map[int]bool{}
	var out []int
	for len(out) < 4 {
		n := 10 + security.RandomInt(90)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func (l *login) telegramAnswer(ctx workflow.Context, ans TelegramAnswer) {
	if l.f.finished() || l.f.expired(ctx) || !l.ownsChat(ans.ChatID) {
		return
	}
	if ans.NotMe {
		_ = l.f.fail(ctx, "denied_by_user", nil)
		l.record(ctx, "login_denied_by_user", map[string]any{"method": string(MethodTelegram)})
		l.closeTelegram(ctx, "denied")
		return
	}
	if l.view.State != l.challengeState || l.view.Method != MethodTelegram || l.tgNumber == 0 {
		return
	}
	var res activities.Answer
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.ReserveSecondFactorAttempt, l.view.UserID).Get(ctx, &res); err != nil {
		return // the button may be pressed again
	}
	if res.Refused {
		// Locked meanwhile (answers in other flows): this click cannot count.
		l.view.AttemptsLeft = 0
		_ = l.f.fail(ctx, "rate_limited", nil)
		l.closeTelegram(ctx, "failed")
		return
	}
	if ans.Number != l.tgNumber {
		l.tgNumber = 0 // the prompt is spent; the page may challenge again
		l.closeTelegram(ctx, "wrong")
		_ = l.wrongAnswer(ctx, "wrong_button", ErrInvalidCode, "wrong button", res)
		return
	}
	if err := l.done(ctx, MethodTelegram); err == nil {
		l.closeTelegram(ctx, "confirmed")
	}
}

func (l *login) ownsChat(chatID int64) bool {
	for _, c := range l.opts.TelegramChats {
		if c == chatID {
			return true
		}
	}
	return false
}

func (l *login) closeTelegram(ctx workflow.Context, outcome string) {
	if l.view.Method != MethodTelegram {
		return
	}
	// Best effort: a message that cannot be edited must not fail the flow.
	_ = workflow.ExecuteActivity(activityCtx(ctx), a.CloseTelegramPrompts,
		activities.CloseTelegramPromptsInput{FlowID: l.in.FlowID, Outcome: outcome, UserID: l.view.UserID, Locale: l.in.Locale}).Get(ctx, nil)
}

// ---- Enrollment: /start <token> arrives as a signal ----

// telegramLink links the chat. A chat linked to another account is refused
// in the chat and the flow keeps waiting: the same link may still be opened
// from the right Telegram account until the flow expires.
func (e *enroll) telegramLink(ctx workflow.Context, l TelegramLink) {
	if e.in.Method != MethodTelegram || e.view.State != StateChallenge || e.f.checkOpen(ctx) != nil || l.ChatID == 0 {
		return
	}
	res, err := e.finish(ctx, telegramMethod{}, activities.FinishEnrollmentInput{ChatID: l.ChatID, Username: l.Username})
	if err != nil {
		// The person can send /start again; the flow keeps waiting.
		workflow.GetLogger(ctx).Warn("linking a Telegram account failed", "err", err)
		return
	}
	if res.Refused {
		return
	}
	e.done(ctx, res)
}
