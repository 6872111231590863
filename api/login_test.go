package api_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/workflows"
)

// account is a seeded user for second-step tests.
type account struct {
	id, email string
	totp      string // the TOTP secret, when seeded
}

func newAccount(t *testing.T, prefix string) account {
	t.Helper()
	email := apitest.UniqueEmail(prefix)
	return account{id: env.NewUser(t, email, pw), email: email}
}

// withTOTP stores a TOTP secret straight in the store, as a confirmed
// enrollment would.
func (a *account) withTOTP(t *testing.T) {
	t.Helper()
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "authflow", AccountName: a.email, SecretSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	a.totp = key.Secret()
	sealed := env.Activities.Sealer.Seal(security.PurposeTOTPSecret, []byte(a.totp))
	if err := env.Store.SetTOTPSecret(context.Background(), a.id, sealed, 0); err != nil {
		t.Fatal(err)
	}
}

func (a account) withEmail(t *testing.T) {
	t.Helper()
	if err := env.Store.SetEmailEnabled(context.Background(), a.id, true); err != nil {
		t.Fatal(err)
	}
}

func (a account) withTelegram(t *testing.T, chats ...int64) {
	t.Helper()
	for _, c := range chats {
		if _, err := env.Store.LinkTelegram(context.Background(), a.id, c, "user"+strconv.FormatInt(c, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.Store.SetTelegramEnabled(context.Background(), a.id, true); err != nil {
		t.Fatal(err)
	}
}

func (a account) withPhone(t *testing.T, number string) string {
	t.Helper()
	return apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+a.id+"/phones", map[string]string{"number": number}), 201).Str("id")
}

func (a account) withCard(t *testing.T, last4 string) {
	t.Helper()
	apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+a.id+"/bank-cards", map[string]string{"brand": "visa", "last4": last4}), 201)
}

// start posts the password and expects choose_method.
func (a account) start(t *testing.T) apitest.Response {
	t.Helper()
	r := apitest.Expect(t, env.Login(t, a.email, pw), 200)
	if r.Str("state") != "choose_method" || r.Str("session.token") != "" {
		t.Fatalf("want choose_method without a session: %s", r.Raw)
	}
	return r
}

func challenge(t *testing.T, flow string, body map[string]any) apitest.Response {
	t.Helper()
	return env.Do(t, "POST", "/v1/login/"+flow+"/challenge", "", body)
}

func verify(t *testing.T, flow, code string) apitest.Response {
	t.Helper()
	return env.Do(t, "POST", "/v1/login/"+flow+"/verify", "", map[string]string{"code": code})
}

func totpNow(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, rules.TOTPValidateOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var digits6 = regexp.MustCompile(`\b\d{6}\b`)

// outboxTo returns the newest message of a channel to a recipient.
func outboxTo(t *testing.T, channel, to string) channels.OutboxEntry {
	t.Helper()
	return env.LastOutbox(t, func(e channels.OutboxEntry) bool { return e.Channel == channel && e.To == to })
}

func methodTypes(r apitest.Response) []string {
	var out []string
	for _, m := range r.Get("methods").([]any) {
		out = append(out, m.(map[string]any)["type"].(string))
	}
	return out
}

// TestLoginTOTPEnrollmentCodeReplayed: the code that turned the app on is
// typed again at the next sign-in (docs/security.md "TOTP replay"). It is
// refused as used, costs no attempt however often it is sent, and the
// app's next code signs in.
func TestLoginTOTPEnrollmentCodeReplayed(t *testing.T) {
	u := newUser(t, "enrolledcode")
	secret, confirmCode := u.enrollTOTP(t)
	id := u.start(t).Str("flow_id")
	apitest.Expect(t, challenge(t, id, map[string]any{"method": "totp"}), 200)
	for i := range workflows.MaxFlowAttempts + 1 {
		r := apitest.ExpectError(t, verify(t, id, confirmCode), 400, "code_already_used")
		if r.Get("error.attempts_left") != float64(workflows.MaxFlowAttempts) || !strings.Contains(r.Str("error.message"), "wait for the next") {
			t.Fatalf("replay %d: %s", i, r.Raw)
		}
	}
	if st, err := env.Store.GetAttempts(context.Background(), rules.ScopeSecondFactor, u.id); err != nil || st.Failures != 0 {
		t.Fatalf("the replays counted on the account: %+v %v", st, err)
	}
	if g := apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+id, "", nil), 200); g.Str("state") != "challenge" || g.Get("attempts_left") != 5.0 {
		t.Fatalf("flow after replays %s", g.Raw)
	}
	// A wrong code still costs one.
	r := apitest.ExpectError(t, verify(t, id, otherCode(confirmCode)), 400, "invalid_code")
	if r.Get("error.attempts_left") != 4.0 {
		t.Fatalf("wrong code %s", r.Raw)
	}
	d := apitest.Expect(t, verify(t, id, totpNow(t, secret, time.Now().Add(30*time.Second))), 200)
	if d.Str("state") != "done" || d.Str("session.token") == "" {
		t.Fatalf("next code %s", d.Raw)
	}
	if n := u.eventTypes(t)["totp_replay_rejected"]; n != workflows.MaxFlowAttempts+1 {
		t.Fatalf("replay events %d: %v", n, u.eventTypes(t))
	}
}

func TestLoginSecondStepTOTP(t *testing.T) {
	a := newAccount(t, "totp")
	a.withTOTP(t)

	t.Run("case=code from the app completes the login", func(t *testing.T) {
		flow := a.start(t).Str("flow_id")
		ch := apitest.Expect(t, challenge(t, flow, map[string]any{"method": "totp"}), 200)
		if ch.Str("state") != "challenge" || ch.Str("method") != "totp" || ch.Get("attempts_left") != 5.0 {
			t.Fatalf("challenge %s", ch.Raw)
		}
		r := apitest.Expect(t, verify(t, flow, totpNow(t, a.totp, time.Now())), 200)
		if r.Str("state") != "done" || r.Str("session.token") == "" {
			t.Fatalf("verify %s", r.Raw)
		}
		apitest.Expect(t, env.Do(t, "GET", "/v1/me", r.Str("session.token"), nil), 200)
		recordHistory(t, "login/"+flow, "login-totp")
	})
	t.Run("case=the same code is accepted once, across flows, and the replay is an event", func(t *testing.T) {
		b := newAccount(t, "replay")
		b.withTOTP(t)
		code := totpNow(t, b.totp, time.Now())
		flow := b.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "totp"}), 200)
		tok := apitest.Expect(t, verify(t, flow, code), 200).Str("session.token")
		flow2 := b.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow2, map[string]any{"method": "totp"}), 200)
		// Refused, and no attempt: not in the flow, not on the account.
		r := apitest.ExpectError(t, verify(t, flow2, code), 400, "code_already_used")
		if r.Get("error.attempts_left") != 5.0 {
			t.Fatalf("attempts_left %s", r.Raw)
		}
		if st, err := env.Store.GetAttempts(context.Background(), rules.ScopeSecondFactor, b.id); err != nil || st.Failures != 0 {
			t.Fatalf("the replay counted on the account: %+v %v", st, err)
		}
		ev := apitest.Expect(t, env.Do(t, "GET", "/v1/me/events", tok, nil), 200)
		if !strings.Contains(string(ev.Raw), "totp_replay_rejected") {
			t.Fatalf("no replay event: %s", ev.Raw)
		}
	})
	t.Run("case=wrong codes count down and the fifth fails the flow", func(t *testing.T) {
		b := newAccount(t, "wrongtotp")
		b.withTOTP(t)
		flow := b.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "totp"}), 200)
		for i := range 5 {
			r := apitest.ExpectError(t, verify(t, flow, "000000"), 400, "invalid_code")
			if r.Get("error.attempts_left") != float64(4-i) {
				t.Fatalf("try %d: %s", i, r.Raw)
			}
		}
		st := apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+flow, "", nil), 200)
		if st.Str("state") != "failed" {
			t.Fatalf("state %s", st.Raw)
		}
		apitest.ExpectError(t, verify(t, flow, totpNow(t, b.totp, time.Now())), 409, "wrong_state")
		recordHistory(t, "login/"+flow, "login-totp-attempts-exhausted")
	})
	t.Run("case=ten wrong answers across flows lock the account's second step", func(t *testing.T) {
		b := newAccount(t, "lock2fa")
		b.withTOTP(t)
		for range 2 {
			flow := b.start(t).Str("flow_id")
			apitest.Expect(t, challenge(t, flow, map[string]any{"method": "totp"}), 200)
			for range 5 {
				apitest.ExpectError(t, verify(t, flow, "000000"), 400, "invalid_code")
			}
		}
		flow := b.start(t).Str("flow_id")
		r := apitest.ExpectError(t, challenge(t, flow, map[string]any{"method": "totp"}), 429, "rate_limited")
		if ra, _ := r.Get("error.retry_after").(float64); ra < 1 || ra > 60 {
			t.Fatalf("retry_after %s", r.Raw)
		}
	})
	t.Run("case=malformed codes are bad requests and cost nothing", func(t *testing.T) {
		flow := a.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "totp"}), 200)
		for _, c := range []string{"12345", "1234567", "12a456", ""} {
			apitest.ExpectError(t, verify(t, flow, c), 400, "bad_request")
		}
		apitest.ExpectError(t, verify(t, flow, "1234"), 400, "bad_request") // 4 digits are for calls
		st := apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+flow, "", nil), 200)
		if st.Get("attempts_left") != 5.0 {
			t.Fatalf("attempts_left %s", st.Raw)
		}
	})
	t.Run("case=verify before a challenge is wrong_state; unknown method is bad_request; method not offered is method_unavailable", func(t *testing.T) {
		flow := a.start(t).Str("flow_id")
		apitest.ExpectError(t, verify(t, flow, "123456"), 409, "wrong_state")
		apitest.ExpectError(t, challenge(t, flow, map[string]any{"method": "carrier-pigeon"}), 400, "bad_request")
		apitest.ExpectError(t, challenge(t, flow, map[string]any{"method": "email"}), 409, "method_unavailable")
	})
}

func TestLoginSecondStepEmail(t *testing.T) {
	a := newAccount(t, "email2fa")
	a.withEmail(t)
	t.Run("case=code from the email completes the login", func(t *testing.T) {
		r := a.start(t)
		if got := methodTypes(r); len(got) != 1 || got[0] != "email" {
			t.Fatalf("methods %v", got)
		}
		flow := r.Str("flow_id")
		ch := apitest.Expect(t, challenge(t, flow, map[string]any{"method": "email"}), 200)
		code := digits6.FindString(outboxTo(t, "email", a.email).Text)
		if strings.Contains(string(ch.Raw), code) {
			t.Fatal("the code leaked into the challenge answer")
		}
		apitest.Expect(t, verify(t, flow, code), 200)
		// Valid once.
		apitest.ExpectError(t, verify(t, flow, code), 409, "wrong_state")
		recordHistory(t, "login/"+flow, "login-email")
	})
	t.Run("case=an email code is bound to its flow", func(t *testing.T) {
		f1 := a.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, f1, map[string]any{"method": "email"}), 200)
		code1 := digits6.FindString(outboxTo(t, "email", a.email).Text)
		f2 := a.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, f2, map[string]any{"method": "email"}), 200)
		code2 := digits6.FindString(outboxTo(t, "email", a.email).Text)
		if code1 == code2 {
			t.Skip("the two random codes collided (1 in a million)")
		}
		apitest.ExpectError(t, verify(t, f2, code1), 400, "invalid_code")
		apitest.Expect(t, verify(t, f2, code2), 200)
	})
}

func TestLoginSecondStepTelegram(t *testing.T) {
	a := newAccount(t, "tg")
	a.withTelegram(t, 7001, 7002)
	prompt := func(t *testing.T, flow string, chat int64) channels.OutboxEntry {
		return env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.Channel == "telegram" && e.ChatID == chat && len(e.Buttons) > 0 && strings.Contains(e.Buttons[0].Data, flow)
		})
	}
	click := func(t *testing.T, chat int64, data string) {
		apitest.Expect(t, env.Do(t, "POST", "/dev/outbox/telegram", "", map[string]any{"chat_id": chat, "data": data}), 200)
	}
	waitState := func(t *testing.T, flow, want string) apitest.Response {
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+flow, "", nil), 200)
			if r.Str("state") == want || time.Now().After(deadline) {
				if r.Str("state") != want {
					t.Fatalf("state %s, want %s", r.Raw, want)
				}
				return r
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Run("case=every linked chat gets the buttons and the right click completes the login", func(t *testing.T) {
		flow := a.start(t).Str("flow_id")
		ch := apitest.Expect(t, challenge(t, flow, map[string]any{"method": "telegram"}), 200)
		n := int(ch.Get("telegram.number").(float64))
		if n < 10 || n > 99 {
			t.Fatalf("number %d", n)
		}
		var data string
		for _, chat := range []int64{7001, 7002} {
			p := prompt(t, flow, chat)
			if len(p.Buttons) != 5 || p.Buttons[4].Text != "Not me" {
				t.Fatalf("buttons %+v", p.Buttons)
			}
			for _, b := range p.Buttons {
				if b.Text == strconv.Itoa(n) {
					data = b.Data
				}
			}
		}
		if data == "" {
			t.Fatal("no button carries the page's number")
		}
		apitest.ExpectError(t, verify(t, flow, "123456"), 409, "wrong_state")
		click(t, 7002, data)
		r := waitState(t, flow, "done")
		if r.Str("session.token") == "" || r.Str("method") != "telegram" {
			t.Fatalf("done without a session: %s", r.Raw)
		}
		// The prompts say how it ended and lose their buttons.
		edited := env.LastOutbox(t, func(e channels.OutboxEntry) bool { return e.ChatID == 7001 && e.Kind == "edited" })
		if !strings.Contains(edited.Text, "confirmed") {
			t.Fatalf("edited prompt %q", edited.Text)
		}
		recordHistory(t, "login/"+flow, "login-telegram")
	})
	t.Run("case=a wrong button costs an attempt and the page may challenge again", func(t *testing.T) {
		flow := a.start(t).Str("flow_id")
		n := int(apitest.Expect(t, challenge(t, flow, map[string]any{"method": "telegram"}), 200).Get("telegram.number").(float64))
		p := prompt(t, flow, 7001)
		var wrong string
		for _, b := range p.Buttons[:4] {
			if b.Text != strconv.Itoa(n) {
				wrong = b.Data
			}
		}
		click(t, 7001, wrong)
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+flow, "", nil), 200)
			if r.Get("attempts_left") == 4.0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("attempt not counted: %s", r.Raw)
			}
			time.Sleep(50 * time.Millisecond)
		}
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "telegram"}), 200)
	})
	t.Run("case=not me fails the flow at once", func(t *testing.T) {
		flow := a.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "telegram"}), 200)
		p := prompt(t, flow, 7002)
		click(t, 7002, p.Buttons[4].Data)
		waitState(t, flow, "failed")
		recordHistory(t, "login/"+flow, "login-telegram-not-me")
	})
	t.Run("case=a chat not linked to the account cannot confirm", func(t *testing.T) {
		flow := a.start(t).Str("flow_id")
		n := int(apitest.Expect(t, challenge(t, flow, map[string]any{"method": "telegram"}), 200).Get("telegram.number").(float64))
		p := prompt(t, flow, 7001)
		for _, b := range p.Buttons {
			if b.Text == strconv.Itoa(n) {
				click(t, 9999, b.Data)
			}
		}
		time.Sleep(300 * time.Millisecond)
		r := apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+flow, "", nil), 200)
		if r.Str("state") != "challenge" || r.Get("attempts_left") != 5.0 {
			t.Fatalf("a stranger's click changed the flow: %s", r.Raw)
		}
	})
}

func TestLoginPhoneDowngrade(t *testing.T) {
	t.Run("case=sms needs the downgrade confirmed, then disables 2FA and unlinks every card", func(t *testing.T) {
		a := newAccount(t, "smsdown")
		a.withTOTP(t)
		a.withEmail(t)
		a.withTelegram(t, 7101)
		number := gbMobile()
		phoneID := a.withPhone(t, number)
		a.withCard(t, "4242")
		a.withCard(t, "1881")
		// Recovery codes are offered after the other non-phone methods,
		// and the downgrade takes them too.
		if err := env.Store.ReplaceRecoveryCodes(context.Background(), a.id, [][]byte{[]byte("h1"), []byte("h2")}, time.Now()); err != nil {
			t.Fatal(err)
		}
		r := a.start(t)
		if got := methodTypes(r); strings.Join(got, ",") != "telegram,totp,email,recovery_code,call,sms" {
			t.Fatalf("methods %v: %s", got, r.Raw)
		}
		flow := r.Str("flow_id")
		apitest.ExpectError(t, challenge(t, flow, map[string]any{"method": "sms", "phone_id": phoneID}), 409, "downgrade_not_confirmed")
		apitest.ExpectError(t, challenge(t, flow, map[string]any{"method": "sms"}), 400, "bad_request")
		apitest.ExpectError(t, challenge(t, flow, map[string]any{"method": "sms", "phone_id": "someone-elses", "confirm_downgrade": true}), 409, "method_unavailable")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "sms", "phone_id": phoneID, "confirm_downgrade": true}), 200)
		code := digits6.FindString(outboxTo(t, "sms", number).Text)
		v := apitest.Expect(t, verify(t, flow, code), 200)
		if v.Str("state") != "done" || v.Get("downgrade.two_factor_disabled") != true || v.Get("downgrade.bank_cards_unlinked") != 2.0 {
			t.Fatalf("verify %s", v.Raw)
		}
		me := apitest.Expect(t, env.Do(t, "GET", "/v1/me", v.Str("session.token"), nil), 200)
		if me.Get("two_factor.enabled") != false || me.Get("two_factor.totp.enabled") != false || me.Get("two_factor.email.enabled") != false ||
			me.Get("two_factor.telegram.enabled") != false || me.Get("recovery_codes.remaining") != float64(0) {
			t.Fatalf("2FA still on: %s", me.Raw)
		}
		if len(me.Get("two_factor.telegram.accounts").([]any)) != 1 || len(me.Get("phones").([]any)) != 1 {
			t.Fatalf("telegram accounts and phones must stay: %s", me.Raw)
		}
		for _, c := range me.Get("bank_cards").([]any) {
			if c.(map[string]any)["linked"] != false {
				t.Fatalf("card still linked: %s", me.Raw)
			}
		}
		// Notified on the remaining channels, recorded, and the next login
		// needs only the password.
		outboxTo(t, "email", a.email)
		env.LastOutbox(t, func(e channels.OutboxEntry) bool { return e.ChatID == 7101 && e.Kind == "text" })
		ev := string(apitest.Expect(t, env.Do(t, "GET", "/v1/me/events", v.Str("session.token"), nil), 200).Raw)
		for _, want := range []string{"two_factor_downgraded", "bank_cards_unlinked", "login_succeeded"} {
			if !strings.Contains(ev, want) {
				t.Fatalf("no %s event: %s", want, ev)
			}
		}
		next := apitest.Expect(t, env.Login(t, a.email, pw), 200)
		if next.Str("state") != "done" {
			t.Fatalf("next login %s", next.Raw)
		}
		recordHistory(t, "login/"+flow, "login-sms-downgrade")
		recordHistory(t, "login/"+next.Str("flow_id"), "login-password-only")
	})
	t.Run("case=a call to a Ukrainian number dictates 4 digits", func(t *testing.T) {
		a := newAccount(t, "dictate")
		a.withEmail(t)
		phoneID := a.withPhone(t, "+380501112233")
		r := a.start(t)
		var kind string
		for _, m := range r.Get("methods").([]any) {
			if mm := m.(map[string]any); mm["type"] == "call" {
				kind, _ = mm["call_kind"].(string)
				if mm["number_masked"] != "+380*******33" || mm["downgrade"] != true {
					t.Fatalf("call option %v", mm)
				}
			}
		}
		if kind != "dictate" {
			t.Fatalf("call_kind %q", kind)
		}
		flow := r.Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "call", "phone_id": phoneID, "confirm_downgrade": true}), 200)
		call := outboxTo(t, "call", "+380501112233")
		if call.Kind != "dictate" || len(call.Digits) != 4 {
			t.Fatalf("call %+v", call)
		}
		apitest.ExpectError(t, verify(t, flow, "123456"), 400, "bad_request")
		v := apitest.Expect(t, verify(t, flow, call.Digits), 200)
		if v.Get("downgrade.two_factor_disabled") != true {
			t.Fatalf("verify %s", v.Raw)
		}
		recordHistory(t, "login/"+flow, "login-call-dictate")
	})
	t.Run("case=a call to a foreign number is a flash call whose caller's last 4 digits are the code", func(t *testing.T) {
		a := newAccount(t, "flash")
		a.withEmail(t)
		number := gbMobile()
		phoneID := a.withPhone(t, number)
		flow := a.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "call", "phone_id": phoneID, "confirm_downgrade": true}), 200)
		call := outboxTo(t, "call", number)
		if call.Kind != "flash" || len(call.From) < 8 {
			t.Fatalf("call %+v", call)
		}
		wrong := "0000"
		if call.From[len(call.From)-4:] == wrong {
			wrong = "1111"
		}
		// One call takes one answer: after a wrong one the call's own
		// digits no longer work, and a new call comes from a new draw.
		apitest.ExpectError(t, verify(t, flow, wrong), 400, "invalid_code")
		apitest.ExpectError(t, verify(t, flow, call.From[len(call.From)-4:]), 409, "wrong_state")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "call", "phone_id": phoneID, "confirm_downgrade": true}), 200)
		again := outboxTo(t, "call", number)
		if again.ID == call.ID || again.Kind != "flash" {
			t.Fatalf("the second challenge made no new call: %+v", again)
		}
		apitest.Expect(t, verify(t, flow, again.From[len(again.From)-4:]), 200)
		recordHistory(t, "login/"+flow, "login-call-flash")
	})
	t.Run("case=a number is not texted in a loop", func(t *testing.T) {
		a := newAccount(t, "loop")
		a.withEmail(t)
		phoneID := a.withPhone(t, gbMobile())
		flow := a.start(t).Str("flow_id")
		limited := false
		for range 8 {
			r := challenge(t, flow, map[string]any{"method": "sms", "phone_id": phoneID, "confirm_downgrade": true})
			if r.Status == http.StatusTooManyRequests {
				apitest.ExpectError(t, r, 429, "rate_limited")
				limited = true
				break
			}
			apitest.Expect(t, r, 200)
		}
		if !limited {
			t.Fatal("eight SMS to one number in a row were all sent")
		}
	})
}

func TestLoginSurvivesWorkerRestart(t *testing.T) {
	t.Run("case=a worker stopped after the code was sent; a new worker completes the login and nothing is sent twice", func(t *testing.T) {
		a := newAccount(t, "restart")
		a.withEmail(t)
		flow := a.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "email"}), 200)
		code := digits6.FindString(outboxTo(t, "email", a.email).Text)
		env.StopWorker()
		if err := env.StartWorker(); err != nil {
			t.Fatal(err)
		}
		apitest.Expect(t, verify(t, flow, code), 200)
		sent := 0
		for _, e := range env.Outbox.Entries() {
			if e.Channel == "email" && e.To == a.email {
				sent++
			}
		}
		if sent != 1 {
			t.Fatalf("%d emails sent, want 1", sent)
		}
	})
}

// gbMobile is a GB mobile number no other test texts (send budgets count
// per number). +1 numbers take calls only: their plan does not tell mobiles
// from landlines.
func gbMobile() string {
	return "+4474009" + security.RandomDigits(5)
}

// TestLoginInTwoCalls: a code that needs no sending is answered straight
// from choose_method (docs/api.md "Login flows").
func TestLoginInTwoCalls(t *testing.T) {
	t.Run("case=password, then the TOTP code with its method: a session in two calls", func(t *testing.T) {
		a := newAccount(t, "two-calls")
		a.withTOTP(t)
		flow := a.start(t).Str("flow_id")
		r := apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/verify", "",
			map[string]string{"method": "totp", "code": totpNow(t, a.totp, time.Now())}), 200)
		if r.Str("state") != "done" || r.Str("session.token") == "" || r.Str("method") != "totp" {
			t.Fatalf("verify %s", r.Raw)
		}
		recordHistory(t, "login/"+flow, "login-totp-two-calls")
	})
	t.Run("case=a wrong direct code is an attempt; the right one then needs no method", func(t *testing.T) {
		a := newAccount(t, "two-calls-wrong")
		a.withTOTP(t)
		flow := a.start(t).Str("flow_id")
		code := totpNow(t, a.totp, time.Now())
		w := apitest.ExpectError(t, env.Do(t, "POST", "/v1/login/"+flow+"/verify", "",
			map[string]string{"method": "totp", "code": otherCode(code)}), 400, "invalid_code")
		if w.Get("error.attempts_left") != float64(4) {
			t.Fatalf("%s", w.Raw)
		}
		apitest.Expect(t, verify(t, flow, code), 200)
	})
	t.Run("case=a method that sends a code, or one not offered, is refused and costs nothing", func(t *testing.T) {
		a := newAccount(t, "two-calls-refused")
		a.withTOTP(t)
		flow := a.start(t).Str("flow_id")
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/login/"+flow+"/verify", "", map[string]string{"method": "email", "code": "123456"}),
			400, "bad_request")
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/login/"+flow+"/verify", "", map[string]string{"method": "recovery_code", "code": "aaaaa-bbbbb"}),
			409, "method_unavailable")
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/login/"+flow+"/verify", "", map[string]string{"method": "nope", "code": "123456"}),
			400, "bad_request")
		s := apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+flow, "", nil), 200)
		if s.Get("attempts_left") != float64(5) || s.Str("state") != "choose_method" {
			t.Fatalf("state %s", s.Raw)
		}
	})
}

// TestLoginResetsTheSecondStepCounter: a successful login forgets the
// account's wrong second-step answers, however its answer was checked —
// the TOTP check resets the counter itself (the session then does not
// write it again), a Telegram button leaves it to the session.
func TestLoginResetsTheSecondStepCounter(t *testing.T) {
	failures := func(t *testing.T, a account) int {
		t.Helper()
		st, err := env.Store.GetAttempts(context.Background(), "2fa", a.id)
		if err != nil {
			t.Fatal(err)
		}
		return st.Failures
	}
	// threeWrong puts three wrong answers on the account's counter.
	threeWrong := func(t *testing.T, a account) {
		t.Helper()
		for range 3 {
			if _, err := env.Store.AddFailure(context.Background(), "2fa", a.id, time.Now(), nil); err != nil {
				t.Fatal(err)
			}
		}
		if n := failures(t, a); n != 3 {
			t.Fatalf("%d failures on record, want 3", n)
		}
	}
	t.Run("case=TOTP in two calls", func(t *testing.T) {
		a := newAccount(t, "reset-two")
		a.withTOTP(t)
		threeWrong(t, a)
		flow := a.start(t).Str("flow_id")
		apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/verify", "",
			map[string]string{"method": "totp", "code": totpNow(t, a.totp, time.Now())}), 200)
		if n := failures(t, a); n != 0 {
			t.Fatalf("%d failures after a successful login, want 0", n)
		}
	})
	t.Run("case=TOTP in three calls", func(t *testing.T) {
		a := newAccount(t, "reset-three")
		a.withTOTP(t)
		threeWrong(t, a)
		flow := a.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "totp"}), 200)
		apitest.Expect(t, verify(t, flow, totpNow(t, a.totp, time.Now())), 200)
		if n := failures(t, a); n != 0 {
			t.Fatalf("%d failures after a successful login, want 0", n)
		}
	})
	t.Run("case=a Telegram button", func(t *testing.T) {
		a := newAccount(t, "reset-tg")
		chat := newChat()
		a.withTelegram(t, chat)
		threeWrong(t, a)
		flow := a.start(t).Str("flow_id")
		n := int(apitest.Expect(t, challenge(t, flow, map[string]any{"method": "telegram"}), 200).Get("telegram.number").(float64))
		p := env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.Channel == "telegram" && e.ChatID == chat && len(e.Buttons) > 0 && strings.Contains(e.Buttons[0].Data, flow)
		})
		var data string
		for _, b := range p.Buttons {
			if b.Text == strconv.Itoa(n) {
				data = b.Data
			}
		}
		apitest.Expect(t, env.Do(t, "POST", "/dev/outbox/telegram", "", map[string]any{"chat_id": chat, "data": data}), 200)
		deadline := time.Now().Add(10 * time.Second)
		for apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+flow, "", nil), 200).Str("state") != "done" {
			if time.Now().After(deadline) {
				t.Fatal("the right button did not end the login")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n := failures(t, a); n != 0 {
			t.Fatalf("%d failures after a successful login, want 0", n)
		}
	})
}
