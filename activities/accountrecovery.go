package activities

import (
	"context"
	"errors"
	"time"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/i18n"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// The account recovery's side effects (docs/design.md "Account recovery").

// ChannelSMSNotice is a notice by SMS to a verified phone.
const ChannelSMSNotice = "sms_notice"

// BeginRecoveryInput starts a recovery for an address.
type BeginRecoveryInput struct {
	FlowID string
	Email  string
	IP     string
	Locale string `json:",omitempty"`
}

// BeginRecoveryResult names the account and the code sent to it; both are
// empty for an address without an account, and Code is nil when a send
// budget refused the email.
type BeginRecoveryResult struct {
	UserID string
	Code   *SentCode
}

// BeginRecovery looks the address up and, when it has an account, emails
// it a code with a link back to the flow, under the login codes' send
// budgets. An unknown address sends nothing and is no error: the flow
// looks the same either way.
func (a *Activities) BeginRecovery(ctx context.Context, in BeginRecoveryInput) (BeginRecoveryResult, error) {
	u, err := a.Store.UserByEmail(ctx, in.Email)
	if errors.Is(err, store.ErrNotFound) {
		a.log(ctx).Info("recovery for an unknown address", "flow_id", in.FlowID)
		return BeginRecoveryResult{}, nil
	}
	if err != nil {
		return BeginRecoveryResult{}, storeErr("user", err)
	}
	res := BeginRecoveryResult{UserID: u.ID}
	if err := a.onceEvent(ctx, idemKey(ctx)+"/started", u.ID, "recovery_started", in.IP, nil); err != nil {
		return res, err
	}
	code, err := a.SendCode(ctx, SendCodeInput{Channel: ChannelEmail, FlowID: in.FlowID, UserID: u.ID, Purpose: "recovery", IP: in.IP,
		Locale: in.Locale})
	if errkind.Is(err, errkind.RateLimited) {
		// The flow goes on without a code (every answer is wrong): the
		// person is not told, or the answer would differ from an unknown
		// address's.
		a.log(ctx).Warn("recovery code not sent: send budget", "flow_id", in.FlowID, "user_id", u.ID)
		return res, nil
	}
	if err != nil {
		return res, err
	}
	res.Code = &code
	return res, nil
}

// BeginRecoveryWaitInput starts the wait of a person who lost every
// factor.
type BeginRecoveryWaitInput struct {
	FlowID  string
	UserID  string
	ReadyAt time.Time
}

// BeginRecoveryWait records the wait before the flow waits: an account
// waits for one recovery at a time, so whoever holds only the mailbox
// cannot stack waits, each telling every channel (and texting every phone)
// again. A second one is Conflict, and the flow stays in second_factor.
func (a *Activities) BeginRecoveryWait(ctx context.Context, in BeginRecoveryWaitInput) error {
	err := a.Store.StartRecoveryWait(ctx, in.FlowID, in.UserID, in.ReadyAt, a.now())
	if errors.Is(err, store.ErrConflict) {
		a.log(ctx).Warn("recovery wait refused: another recovery of the account waits", "flow_id", in.FlowID, "user_id", in.UserID)
		return errkind.Wrap(errkind.Conflict, "a recovery of this account is already waiting (every channel of the account was told, "+
			"with a link that cancels it); only one waits at a time", err)
	}
	return storeErr("start recovery wait", err)
}

// RecoveryNoticeInput tells an account that a recovery waits.
type RecoveryNoticeInput struct {
	FlowID  string
	UserID  string
	IP      string
	ReadyAt time.Time
	// Reminder: the second notice, before ReadyAt.
	Reminder bool
	// TokenExpiresAt is when the notice's cancel link stops working (the
	// flow's end).
	TokenExpiresAt time.Time
}

// RecoveryNotice tells every channel of the account (email, Telegram
// chats, verified phones by SMS) that a recovery waits and what happens at
// ReadyAt, with a single-use cancel link of its own (derived from the
// notice's idempotency key, so a retried notice is an identical copy and
// its link is the first's). The first notice records the wait, so that a
// login of the account can cancel it. Each channel is told once per notice
// (keyed sends).
func (a *Activities) RecoveryNotice(ctx context.Context, in RecoveryNoticeInput) error {
	key := idemKey(ctx)
	if !in.Reminder {
		if err := a.Store.StartRecoveryWait(ctx, in.FlowID, in.UserID, in.ReadyAt, a.now()); err != nil {
			return storeErr("start recovery wait", err)
		}
		if err := a.onceEvent(ctx, key+"/event", in.UserID, "recovery_waiting", in.IP,
			map[string]any{"ready_at": in.ReadyAt.UTC().Format(time.RFC3339)}); err != nil {
			return err
		}
	}
	// Derived from the send's key: a retry after a kill that straddled a
	// send repeats the same link, so the copy is identical.
	token := security.RecoveryCancelToken(a.SecretKey, key)
	if err := a.Store.CreateRecoveryCancelToken(ctx, security.HashToken(token), in.FlowID, in.UserID, in.TokenExpiresAt); err != nil {
		return storeErr("recovery cancel token", err)
	}
	link := a.PublicURL + "/recover/cancel?token=" + token
	data := map[string]any{"ReadyAt": in.ReadyAt.UTC().Format("2006-01-02 15:04 MST"), "Link": link}
	n := rules.Notice{ID: "notice.recovery_waiting", Data: data}
	if in.Reminder {
		n.ID = "notice.recovery_reminder"
	}
	if err := a.notify(ctx, in.UserID, key, n); err != nil {
		return err
	}
	lang := a.lang(ctx, in.UserID, "")
	phones, err := a.Store.ListPhones(ctx, in.UserID)
	if err != nil {
		return storeErr("phones", err)
	}
	for _, p := range phones {
		if !p.Verified || a.PhonePolicy.Check(p.Number, phone.UseSMS) != nil {
			continue
		}
		if _, err := a.Store.SentMessage(ctx, key+"/sms/"+p.ID); err != nil {
			// Not sent yet: the SMS costs what a code does, so it fits the
			// phone budgets or waits for the other channels to do.
			if ok, err := a.noticeSMSAllowed(ctx, p.Number); err != nil || !ok {
				if err != nil {
					return err
				}
				continue
			}
		}
		sms := i18n.T(lang, "notice.recovery_waiting.sms", data)
		if err := a.once(ctx, key+"/sms/"+p.ID, "", ChannelSMSNotice, p.Number, func() (string, error) {
			return a.SMS.SendSMS(ctx, p.Number, sms, key+"/sms/"+p.ID)
		}); err != nil {
			return err
		}
	}
	return nil
}

// noticeSMSAllowed says whether a recovery notice may be texted to number
// (docs/security.md "Send budgets"): the hourly cap on every phone send
// counts it like a code, and a number gets at most SendsPerRecipient notice
// texts per send window. Refused, the email and Telegram notices still go;
// the refusal is logged and counted.
func (a *Activities) noticeSMSAllowed(ctx context.Context, number string) (bool, error) {
	now := a.now()
	if capped := a.Limits.PhoneSendsPerHour; capped > 0 {
		n, err := a.Store.CountSends(ctx, store.SentQuery{Channels: phoneChannels, Since: now.Add(-time.Hour)})
		if err != nil {
			return false, storeErr("count phone sends", err)
		}
		if n >= capped {
			a.metrics().PhoneSendRefused("cap")
			a.log(ctx).Error("recovery notice not texted: the hourly cap on all phone sends (AUTHFLOW_PHONE_SENDS_PER_HOUR) is reached",
				"cap", capped, "sent_last_hour", n, "to", maskRecipient(number))
			return false, nil
		}
	}
	if limit := a.Limits.SendsPerRecipient; limit > 0 {
		n, err := a.Store.CountSends(ctx, store.SentQuery{Recipient: number, Channels: []string{ChannelSMSNotice}, Since: now.Add(-a.Limits.SendWindow)})
		if err != nil {
			return false, storeErr("count notice texts", err)
		}
		if n >= limit {
			a.metrics().PhoneSendRefused("notice_budget")
			a.log(ctx).Warn("recovery notice not texted: the number's notice budget is spent", "limit", limit, "to", maskRecipient(number))
			return false, nil
		}
	}
	return true, nil
}

// EndRecoveryWaitInput records how a wait ended.
type EndRecoveryWaitInput struct {
	FlowID  string
	UserID  string
	Outcome string // ready, cancelled, expired
	IP      string
}

// EndRecoveryWait records that a recovery no longer waits: a login of the
// account no longer cancels it.
func (a *Activities) EndRecoveryWait(ctx context.Context, in EndRecoveryWaitInput) error {
	if err := a.Store.EndRecovery(ctx, in.FlowID, in.Outcome, a.now()); err != nil {
		return storeErr("end recovery", err)
	}
	return nil
}

// CompleteRecoveryInput is the new password of a recovery.
type CompleteRecoveryInput struct {
	FlowID         string
	UserID         string
	PasswordSealed []byte
	IP             string
}

// CompleteRecovery replaces the password through rules.Account: the
// lockouts of the account reset and every session ends (the recovery has
// none of its own yet); then the event and a notice on every channel.
func (a *Activities) CompleteRecovery(ctx context.Context, in CompleteRecoveryInput) error {
	key := idemKey(ctx)
	pw, err := a.Sealer.Open(security.PurposePassword, in.PasswordSealed)
	if err != nil {
		return errkind.Wrap(errkind.Internal, "sealed password", err)
	}
	if err := rules.CheckNewPassword(string(pw)); err != nil {
		return err
	}
	u, err := a.Store.UserByID(ctx, in.UserID)
	if err != nil {
		return storeErr("user", err)
	}
	hash, err := a.Hasher.Hash(string(pw))
	if err != nil {
		return err
	}
	if _, err := a.account().ChangePassword(ctx, rules.Change{UserID: u.ID, IP: in.IP, Key: key}, u.Email, hash); err != nil {
		return storeErr("change password", err)
	}
	if err := a.onceEvent(ctx, key+"/completed", u.ID, "recovery_completed", in.IP, nil); err != nil {
		return err
	}
	return a.notify(ctx, u.ID, key+"/notice", rules.Notice{ID: "notice.recovery_done"})
}

// cancelRecoveries cancels the account's waiting recoveries but the flow
// that logs in: a login shows the owner still has the account.
func (a *Activities) cancelRecoveries(ctx context.Context, userID, flowID string) {
	if a.CancelRecovery == nil {
		return
	}
	ids, err := a.Store.WaitingRecoveries(ctx, userID)
	if err != nil {
		a.log(ctx).Warn("waiting recoveries", "err", err)
		return
	}
	for _, id := range ids {
		if id == flowID {
			continue
		}
		if err := a.CancelRecovery(ctx, id, "login"); err != nil {
			// Gone already (it ended meanwhile): its row is stale.
			a.log(ctx).Warn("cancel recovery after a login", "flow_id", id, "err", err)
			_ = a.Store.EndRecovery(ctx, id, "gone", a.now())
		}
	}
}
