package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authflow/authflow/i18n"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/store"
)

// The documents of docs/api.md "Self-service".

type telegramAccountJSON struct {
	ID       string    `json:"id"`
	Username string    `json:"username"`
	ChatID   int64     `json:"chat_id"`
	LinkedAt time.Time `json:"linked_at"`
}

type deviceJSON struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Passwordless bool       `json:"passwordless"`
	CreatedAt    time.Time  `json:"created_at"`
	LastUsedAt   *time.Time `json:"last_used_at"`
}

type phoneJSON struct {
	ID           string     `json:"id"`
	NumberMasked string     `json:"number_masked"`
	Verified     bool       `json:"verified"`
	Kind         phone.Kind `json:"kind"`
}

type bankCardJSON struct {
	ID     string `json:"id"`
	Brand  string `json:"brand"`
	Last4  string `json:"last4"`
	Linked bool   `json:"linked"`
}

type enabledJSON struct {
	Enabled bool `json:"enabled"`
}

type meJSON struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	TwoFactor struct {
		Enabled  bool `json:"enabled"`
		Telegram struct {
			Enabled  bool                  `json:"enabled"`
			Accounts []telegramAccountJSON `json:"accounts"`
		} `json:"telegram"`
		TOTP     enabledJSON `json:"totp"`
		Email    enabledJSON `json:"email"`
		WebAuthn struct {
			Devices []deviceJSON `json:"devices"`
		} `json:"webauthn"`
	} `json:"two_factor"`
	Phones    []phoneJSON    `json:"phones"`
	BankCards []bankCardJSON `json:"bank_cards"`
	// Locale is the language the person chose ("" for none: their
	// browser's, else AUTHFLOW_DEFAULT_LOCALE).
	Locale        string `json:"locale"`
	RecoveryCodes struct {
		Remaining int `json:"remaining"`
	} `json:"recovery_codes"`
}

func toTelegramJSON(t store.TelegramAccount) telegramAccountJSON {
	return telegramAccountJSON{ID: t.ID, Username: t.Username, ChatID: t.ChatID, LinkedAt: t.LinkedAt.UTC()}
}

func toDeviceJSON(d store.Credential) deviceJSON {
	out := deviceJSON{ID: d.ID, Name: d.Name, Passwordless: d.Passwordless, CreatedAt: d.CreatedAt.UTC()}
	if d.LastUsedAt != nil {
		t := d.LastUsedAt.UTC()
		out.LastUsedAt = &t
	}
	return out
}

func toPhoneJSON(p store.Phone) phoneJSON {
	return phoneJSON{ID: p.ID, NumberMasked: phone.Mask(p.Number), Verified: p.Verified, Kind: phone.KindOf(p.Number)}
}

func toCardJSON(b store.BankCard) bankCardJSON {
	return bankCardJSON{ID: b.ID, Brand: b.Brand, Last4: b.Last4, Linked: b.Linked}
}

// meDocument builds GET /v1/me for a user.
func (s *Server) meDocument(ctx context.Context, userID string) (meJSON, error) {
	var m meJSON
	u, err := s.Store.UserByID(ctx, userID)
	if err != nil {
		return m, err
	}
	m.ID, m.Email = u.ID, u.Email
	if m.Locale, err = s.Store.UserLocale(ctx, userID); err != nil {
		return m, err
	}
	tf, err := s.Store.TwoFactorSettings(ctx, userID)
	if err != nil {
		return m, err
	}
	tg, err := s.Store.ListTelegram(ctx, userID)
	if err != nil {
		return m, err
	}
	creds, err := s.Store.ListCredentials(ctx, userID)
	if err != nil {
		return m, err
	}
	phones, err := s.Store.ListPhones(ctx, userID)
	if err != nil {
		return m, err
	}
	cards, err := s.Store.ListBankCards(ctx, userID)
	if err != nil {
		return m, err
	}
	m.TwoFactor.Telegram.Enabled = tf.TelegramEnabled
	m.TwoFactor.Telegram.Accounts = make([]telegramAccountJSON, 0, len(tg))
	for _, t := range tg {
		m.TwoFactor.Telegram.Accounts = append(m.TwoFactor.Telegram.Accounts, toTelegramJSON(t))
	}
	m.TwoFactor.TOTP.Enabled = tf.TOTPEnabled && len(tf.TOTPSecretSealed) > 0
	m.TwoFactor.Email.Enabled = tf.EmailEnabled
	m.TwoFactor.WebAuthn.Devices = make([]deviceJSON, 0, len(creds))
	for _, d := range creds {
		m.TwoFactor.WebAuthn.Devices = append(m.TwoFactor.WebAuthn.Devices, toDeviceJSON(d))
	}
	if m.RecoveryCodes.Remaining, err = s.Store.RecoveryCodesLeft(ctx, userID); err != nil {
		return m, err
	}
	// Recovery codes count as a factor: a login still asks for one.
	m.TwoFactor.Enabled = rules.Status{Telegram: tf.TelegramEnabled && len(tg) > 0, TOTP: m.TwoFactor.TOTP.Enabled, Email: tf.EmailEnabled,
		Passkeys: len(creds) > 0, RecoveryCodes: m.RecoveryCodes.Remaining}.On()
	m.Phones = make([]phoneJSON, 0, len(phones))
	for _, p := range phones {
		m.Phones = append(m.Phones, toPhoneJSON(p))
	}
	m.BankCards = make([]bankCardJSON, 0, len(cards))
	for _, b := range cards {
		m.BankCards = append(m.BankCards, toCardJSON(b))
	}
	return m, nil
}

func (s *Server) getMe(c *gin.Context) {
	m, err := s.meDocument(c.Request.Context(), session(c).UserID)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, m)
}

// setLocale stores the language the person reads authflow in (docs/api.md
// "Languages"): emails, SMS, calls, Telegram messages and pages follow it.
func (s *Server) setLocale(c *gin.Context) {
	var req struct {
		Locale string `json:"locale"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if !i18n.Valid(req.Locale) {
		fail(c, badRequest("locale must be one of "+strings.Join(i18n.Supported, ", ")))
		return
	}
	if err := s.Store.SetUserLocale(c.Request.Context(), session(c).UserID, req.Locale); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type sessionInfoJSON struct {
	ID         string    `json:"id"`
	Current    bool      `json:"current"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
}

func (s *Server) listSessions(c *gin.Context) {
	cur := session(c)
	list, err := s.Store.ListSessions(c.Request.Context(), cur.UserID, s.now())
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]sessionInfoJSON, 0, len(list))
	for _, x := range list {
		out = append(out, sessionInfoJSON{ID: x.ID, Current: x.ID == cur.ID, CreatedAt: x.CreatedAt.UTC(),
			LastSeenAt: x.LastSeenAt.UTC(), IP: x.IP, UserAgent: x.UserAgent})
	}
	c.JSON(http.StatusOK, gin.H{"sessions": out})
}

func (s *Server) endOtherSessions(c *gin.Context) {
	if _, err := s.account().EndOtherSessions(c.Request.Context(), change(c), rules.EndedByUser); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) endSession(c *gin.Context) {
	cur := session(c)
	id := c.Param("id")
	if err := s.account().EndSession(c.Request.Context(), change(c), id); err != nil {
		fail(c, err)
		return
	}
	if id == cur.ID {
		s.clearSessionCookies(c)
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) logout(c *gin.Context) {
	cur := session(c)
	if err := s.Store.DeleteSession(c.Request.Context(), cur.UserID, cur.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		fail(c, err)
		return
	}
	s.clearSessionCookies(c)
	c.Status(http.StatusNoContent)
}

func (s *Server) changePassword(c *gin.Context) {
	var req struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.CurrentPassword == "" {
		fail(c, badRequest("current_password is required"))
		return
	}
	if err := rules.CheckNewPassword(req.NewPassword); err != nil {
		fail(c, err)
		return
	}
	cur := session(c)
	ctx := c.Request.Context()
	u, err := s.Store.UserByID(ctx, cur.UserID)
	if err != nil {
		fail(c, err)
		return
	}
	acct := s.account()
	if err := acct.CheckPassword(ctx, change(c), u, req.CurrentPassword); err != nil {
		fail(c, err)
		return
	}
	hash, err := s.Hasher.Hash(req.NewPassword)
	if err != nil {
		fail(c, err)
		return
	}
	if _, err := acct.ChangePassword(ctx, change(c), u.Email, hash); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

type eventJSON struct {
	Type   string         `json:"type"`
	At     time.Time      `json:"at"`
	IP     string         `json:"ip"`
	Detail map[string]any `json:"detail"`
}

func (s *Server) listEvents(c *gin.Context) {
	list, err := s.Store.ListEvents(c.Request.Context(), session(c).UserID, 100)
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]eventJSON, 0, len(list))
	for _, e := range list {
		d := e.Detail
		if d == nil {
			d = map[string]any{}
		}
		out = append(out, eventJSON{Type: e.Type, At: e.At.UTC(), IP: e.IP, Detail: d})
	}
	c.JSON(http.StatusOK, gin.H{"events": out})
}
