package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/authflow/authflow/store"
)

const twoFactorCols = `telegram_enabled, email_enabled, totp_enabled, totp_secret, totp_last_step`

func scanTwoFactor(r scanner) (store.TwoFactorSettings, error) {
	var t store.TwoFactorSettings
	err := r.Scan(&t.TelegramEnabled, &t.EmailEnabled, &t.TOTPEnabled, &t.TOTPSecretSealed, &t.TOTPLastStep)
	if len(t.TOTPSecretSealed) == 0 {
		t.TOTPSecretSealed = nil
	}
	return t, err
}

// TwoFactorSettings returns zero settings for a user that never set any
// (and for an unknown user).
func (s *Store) TwoFactorSettings(ctx context.Context, userID string) (store.TwoFactorSettings, error) {
	t, err := scanTwoFactor(s.db.Reader().QueryRow(ctx,
		`SELECT `+twoFactorCols+` FROM two_factor WHERE user_id = $1`, userID))
	if errors.Is(err, ErrNoRows) {
		return store.TwoFactorSettings{}, nil
	}
	if err != nil {
		return store.TwoFactorSettings{}, s.wrap("two factor settings", err)
	}
	return t, nil
}

// SecondFactors is one statement where a login's password step made five:
// the user's row drives it, the settings and the counter are joined (NULL
// when the account has none), the counts are subqueries, and there is one
// row per phone (one row with NULL phone columns when there is none).
func (s *Store) SecondFactors(ctx context.Context, userID, scope string) (store.SecondFactors, error) {
	var out store.SecondFactors
	rows, err := s.db.Reader().Query(ctx,
		`SELECT COALESCE(t.telegram_enabled, FALSE), COALESCE(t.email_enabled, FALSE), COALESCE(t.totp_enabled, FALSE),
		        t.totp_secret, COALESCE(t.totp_last_step, 0),
		        (SELECT count(*) FROM webauthn_credentials c WHERE c.user_id = u.id AND c.suspended_by IS NULL),
		        (SELECT count(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL AND r.suspended_by IS NULL),
		        COALESCE(a.failures, 0), a.locked_until,
		        p.id, p.number, p.verified, p.created_at
		 FROM users u
		 LEFT JOIN two_factor t ON t.user_id = u.id
		 LEFT JOIN attempts a ON a.scope = $2 AND a.key = u.id
		 LEFT JOIN phones p ON p.user_id = u.id
		 WHERE u.id = $1
		 ORDER BY p.created_at, p.id`, userID, scope)
	if err != nil {
		return out, s.wrap("second factors", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			tf              store.TwoFactorSettings
			passkeys, codes int64
			counter         store.AttemptState
			id, number      sql.NullString
			verified        sql.NullBool
			created         time.Time
		)
		if err := rows.Scan(&tf.TelegramEnabled, &tf.EmailEnabled, &tf.TOTPEnabled, &tf.TOTPSecretSealed, &tf.TOTPLastStep,
			&passkeys, &codes, &counter.Failures, timeDest{&counter.LockedUntil},
			&id, &number, &verified, timeDest{&created}); err != nil {
			return store.SecondFactors{}, s.wrap("second factors", err)
		}
		if len(tf.TOTPSecretSealed) == 0 {
			tf.TOTPSecretSealed = nil
		}
		out.TwoFactor, out.Passkeys, out.RecoveryCodesLeft, out.Counter = tf, int(passkeys), int(codes), counter
		if id.Valid {
			out.Phones = append(out.Phones, store.Phone{ID: id.String, UserID: userID, Number: number.String,
				Verified: verified.Bool, CreatedAt: created})
		}
	}
	if err := rows.Err(); err != nil {
		return store.SecondFactors{}, s.wrap("second factors", err)
	}
	return out, nil
}

// SetTelegramEnabled switches Telegram 2FA; ErrNotFound for an unknown user.
func (s *Store) SetTelegramEnabled(ctx context.Context, userID string, enabled bool) error {
	_, err := s.db.Writer().Exec(ctx,
		`INSERT INTO two_factor (user_id, telegram_enabled) VALUES ($1, $2)
		 ON CONFLICT (user_id) DO UPDATE SET telegram_enabled = excluded.telegram_enabled`, userID, enabled)
	if err != nil {
		return s.wrap("set telegram enabled", err)
	}
	return nil
}

// SetEmailEnabled switches email 2FA; ErrNotFound for an unknown user.
func (s *Store) SetEmailEnabled(ctx context.Context, userID string, enabled bool) error {
	_, err := s.db.Writer().Exec(ctx,
		`INSERT INTO two_factor (user_id, email_enabled) VALUES ($1, $2)
		 ON CONFLICT (user_id) DO UPDATE SET email_enabled = excluded.email_enabled`, userID, enabled)
	if err != nil {
		return s.wrap("set email enabled", err)
	}
	return nil
}

// SetTOTPSecret stores a new sealed secret, enables TOTP and keeps lastStep
// as the last used step; ErrNotFound for an unknown user.
func (s *Store) SetTOTPSecret(ctx context.Context, userID string, sealed []byte, lastStep int64) error {
	const op = "set totp secret"
	if len(sealed) == 0 {
		return s.invalid(op, "empty secret")
	}
	_, err := s.db.Writer().Exec(ctx,
		`INSERT INTO two_factor (user_id, totp_enabled, totp_secret, totp_last_step) VALUES ($1, TRUE, $2, $3)
		 ON CONFLICT (user_id) DO UPDATE SET totp_enabled = TRUE, totp_secret = excluded.totp_secret,
		 totp_last_step = excluded.totp_last_step, totp_last_key = ''`, userID, sealed, lastStep)
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// DeleteTOTPSecret disables TOTP and destroys the secret, including a copy a
// pending downgrade keeps, so restoring that downgrade cannot bring it back.
func (s *Store) DeleteTOTPSecret(ctx context.Context, userID string) error {
	err := s.db.Tx(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx,
			`UPDATE two_factor SET totp_enabled = FALSE, totp_secret = NULL, totp_last_step = 0 WHERE user_id = $1`,
			userID); err != nil {
			return err
		}
		_, err := q.Exec(ctx,
			`UPDATE downgrades SET totp_was_enabled = FALSE, totp_secret = NULL, totp_last_step = 0
			 WHERE user_id = $1 AND state = 'disabled'`, userID)
		return err
	})
	if err != nil {
		return s.wrap("delete totp secret", err)
	}
	return nil
}

// UseTOTPStep atomically accepts step when it is later than the last used
// one, or when the answer that used it (key) asks again; false means the
// code was already used (a replay). ErrNotFound when the user has no TOTP
// secret.
func (s *Store) UseTOTPStep(ctx context.Context, userID string, step int64, key string) (bool, error) {
	const op = "use totp step"
	// One conditional UPDATE: of concurrent calls with the same step exactly
	// one matches (PostgreSQL re-checks the WHERE after the row lock; SQLite
	// serializes writes).
	n, err := s.db.Writer().Exec(ctx,
		`UPDATE two_factor SET totp_last_step = $2, totp_last_key = $3
		 WHERE user_id = $1 AND totp_secret IS NOT NULL
		 AND (totp_last_step < $2 OR (totp_last_step = $2 AND totp_last_key = $3 AND $3 <> ''))`, userID, step, key)
	if err != nil {
		return false, s.wrap(op, err)
	}
	if n == 1 {
		return true, nil
	}
	var one int
	err = s.db.Reader().QueryRow(ctx,
		`SELECT 1 FROM two_factor WHERE user_id = $1 AND totp_secret IS NOT NULL`, userID).Scan(&one)
	if err != nil {
		return false, s.wrap(op, err)
	}
	return false, nil
}

const telegramCols = `id, user_id, chat_id, username, linked_at`

func scanTelegram(r scanner) (store.TelegramAccount, error) {
	var a store.TelegramAccount
	err := r.Scan(&a.ID, &a.UserID, &a.ChatID, &a.Username, timeDest{&a.LinkedAt})
	return a, err
}

// LinkTelegram links a chat; linking it again to the same user returns the
// existing link (with the username updated); a chat linked to another user
// is ErrConflict; an unknown user is ErrNotFound.
func (s *Store) LinkTelegram(ctx context.Context, userID string, chatID int64, username string) (store.TelegramAccount, error) {
	const op = "link telegram"
	// The upsert only touches a row of the same user; a row of another user
	// returns nothing. The loop covers the chat being unlinked between the
	// upsert and the look-up that tells the two cases apart.
	for range 3 {
		a, err := scanTelegram(s.db.Writer().QueryRow(ctx,
			`INSERT INTO telegram_accounts (id, user_id, chat_id, username, linked_at) VALUES ($1, $2, $3, $4, $5)
			 ON CONFLICT (chat_id) DO UPDATE SET username = excluded.username
			 WHERE telegram_accounts.user_id = excluded.user_id
			 RETURNING `+telegramCols, NewID(), userID, chatID, username, s.stamp(time.Time{})))
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, ErrNoRows) {
			return store.TelegramAccount{}, s.wrap(op, err)
		}
		other, err := s.TelegramByChatID(ctx, chatID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return store.TelegramAccount{}, err
		case other.UserID != userID:
			return store.TelegramAccount{}, s.wrap(op, fmt.Errorf("chat linked to another account: %w", store.ErrConflict))
		}
	}
	return store.TelegramAccount{}, s.invalid(op, "chat link keeps changing, try again")
}

// ListTelegram returns the user's linked chats, oldest first.
func (s *Store) ListTelegram(ctx context.Context, userID string) ([]store.TelegramAccount, error) {
	out, err := list(ctx, s.db.Reader(), scanTelegram,
		`SELECT `+telegramCols+` FROM telegram_accounts WHERE user_id = $1 ORDER BY linked_at, id`, userID)
	if err != nil {
		return nil, s.wrap("list telegram", err)
	}
	return out, nil
}

// TelegramByChatID returns the link of a chat; ErrNotFound when unlinked.
func (s *Store) TelegramByChatID(ctx context.Context, chatID int64) (store.TelegramAccount, error) {
	a, err := scanTelegram(s.db.Reader().QueryRow(ctx,
		`SELECT `+telegramCols+` FROM telegram_accounts WHERE chat_id = $1`, chatID))
	if err != nil {
		return store.TelegramAccount{}, s.wrap("telegram by chat id", err)
	}
	return a, nil
}

// UnlinkTelegram removes one link of the user; ErrNotFound when absent or
// another user's.
func (s *Store) UnlinkTelegram(ctx context.Context, userID, id string) error {
	n, err := s.db.Writer().Exec(ctx, `DELETE FROM telegram_accounts WHERE id = $1 AND user_id = $2`, id, userID)
	return s.notFoundIfNone("unlink telegram", n, err)
}

const credentialCols = `id, user_id, credential_id, data, name, passwordless, sign_count, clone_warning, created_at, last_used_at`

func scanCredential(r scanner) (store.Credential, error) {
	var c store.Credential
	var signCount int64
	err := r.Scan(&c.ID, &c.UserID, &c.CredentialID, &c.Data, &c.Name, &c.Passwordless, &signCount,
		&c.CloneWarning, timeDest{&c.CreatedAt}, nullTimeDest{&c.LastUsedAt})
	c.SignCount = uint32(signCount)
	return c, err
}

// AddCredential registers a passkey and returns it as stored (an empty ID is
// generated, a zero CreatedAt is now); ErrConflict when the credential id is
// registered already on any account (suspended passkeys included).
func (s *Store) AddCredential(ctx context.Context, c store.Credential) (store.Credential, error) {
	const op = "add credential"
	switch {
	case c.UserID == "":
		return store.Credential{}, s.invalid(op, "empty user id")
	case len(c.CredentialID) == 0:
		return store.Credential{}, s.invalid(op, "empty credential id")
	}
	if c.ID == "" {
		c.ID = NewID()
	}
	if c.Data == nil {
		c.Data = []byte{}
	}
	c.CreatedAt = s.stamp(c.CreatedAt)
	if c.LastUsedAt != nil {
		t := ts(*c.LastUsedAt)
		c.LastUsedAt = &t
	}
	_, err := s.db.Writer().Exec(ctx,
		`INSERT INTO webauthn_credentials (`+credentialCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		c.ID, c.UserID, c.CredentialID, c.Data, c.Name, c.Passwordless, int64(c.SignCount), c.CloneWarning,
		c.CreatedAt, nullTime(c.LastUsedAt))
	if err != nil {
		return store.Credential{}, s.wrap(op, err)
	}
	return c, nil
}

// ListCredentials returns the user's passkeys, oldest first; passkeys a
// downgrade suspended are left out.
func (s *Store) ListCredentials(ctx context.Context, userID string) ([]store.Credential, error) {
	out, err := list(ctx, s.db.Reader(), scanCredential,
		`SELECT `+credentialCols+` FROM webauthn_credentials
		 WHERE user_id = $1 AND suspended_by IS NULL ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, s.wrap("list credentials", err)
	}
	return out, nil
}

// CredentialByCredentialID finds a passkey by the authenticator's id;
// ErrNotFound when unknown or suspended.
func (s *Store) CredentialByCredentialID(ctx context.Context, credentialID []byte) (store.Credential, error) {
	c, err := scanCredential(s.db.Reader().QueryRow(ctx,
		`SELECT `+credentialCols+` FROM webauthn_credentials WHERE credential_id = $1 AND suspended_by IS NULL`,
		credentialID))
	if err != nil {
		return store.Credential{}, s.wrap("credential by credential id", err)
	}
	return c, nil
}

// UpdateCredentialUse stores what a login taught; ErrNotFound when the
// passkey does not exist.
func (s *Store) UpdateCredentialUse(ctx context.Context, id string, data []byte, signCount uint32, cloneWarning bool, at time.Time) error {
	if data == nil {
		data = []byte{}
	}
	n, err := s.db.Writer().Exec(ctx,
		`UPDATE webauthn_credentials SET data = $2, sign_count = $3, clone_warning = $4, last_used_at = $5 WHERE id = $1`,
		id, data, int64(signCount), cloneWarning, ts(at))
	return s.notFoundIfNone("update credential use", n, err)
}

// SetCredentialPasswordless switches passwordless login for one passkey of
// the user; ErrNotFound when absent, suspended or another user's.
func (s *Store) SetCredentialPasswordless(ctx context.Context, userID, id string, passwordless bool) error {
	n, err := s.db.Writer().Exec(ctx,
		`UPDATE webauthn_credentials SET passwordless = $3 WHERE id = $1 AND user_id = $2 AND suspended_by IS NULL`,
		id, userID, passwordless)
	return s.notFoundIfNone("set credential passwordless", n, err)
}

// DeleteCredential removes one passkey of the user; ErrNotFound when
// absent, suspended or another user's.
func (s *Store) DeleteCredential(ctx context.Context, userID, id string) error {
	n, err := s.db.Writer().Exec(ctx,
		`DELETE FROM webauthn_credentials WHERE id = $1 AND user_id = $2 AND suspended_by IS NULL`, id, userID)
	return s.notFoundIfNone("delete credential", n, err)
}

const phoneCols = `id, user_id, number, verified, created_at`

func scanPhone(r scanner) (store.Phone, error) {
	var p store.Phone
	err := r.Scan(&p.ID, &p.UserID, &p.Number, &p.Verified, timeDest{&p.CreatedAt})
	return p, err
}

// AddPhone adds a number; the same number twice on one account is
// ErrConflict; an unknown user is ErrNotFound.
func (s *Store) AddPhone(ctx context.Context, userID, number string, verified bool) (store.Phone, error) {
	const op = "add phone"
	if number == "" {
		return store.Phone{}, s.invalid(op, "empty number")
	}
	p := store.Phone{ID: NewID(), UserID: userID, Number: number, Verified: verified, CreatedAt: s.stamp(time.Time{})}
	_, err := s.db.Writer().Exec(ctx, `INSERT INTO phones (`+phoneCols+`) VALUES ($1, $2, $3, $4, $5)`,
		p.ID, p.UserID, p.Number, p.Verified, p.CreatedAt)
	if err != nil {
		return store.Phone{}, s.wrap(op, err)
	}
	return p, nil
}

// ListPhones returns the user's numbers, oldest first.
func (s *Store) ListPhones(ctx context.Context, userID string) ([]store.Phone, error) {
	out, err := list(ctx, s.db.Reader(), scanPhone,
		`SELECT `+phoneCols+` FROM phones WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, s.wrap("list phones", err)
	}
	return out, nil
}

// Phone returns one number of the user; ErrNotFound when absent or another
// user's.
func (s *Store) Phone(ctx context.Context, userID, id string) (store.Phone, error) {
	p, err := scanPhone(s.db.Reader().QueryRow(ctx,
		`SELECT `+phoneCols+` FROM phones WHERE id = $1 AND user_id = $2`, id, userID))
	if err != nil {
		return store.Phone{}, s.wrap("phone", err)
	}
	return p, nil
}

// DeletePhone removes one number of the user; ErrNotFound when absent or
// another user's.
func (s *Store) DeletePhone(ctx context.Context, userID, id string) error {
	n, err := s.db.Writer().Exec(ctx, `DELETE FROM phones WHERE id = $1 AND user_id = $2`, id, userID)
	return s.notFoundIfNone("delete phone", n, err)
}
