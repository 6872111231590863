package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authflow/authflow/store"
)

const bankCardCols = `id, user_id, brand, last4, linked, created_at, unlinked_at`

func scanBankCard(r scanner) (store.BankCard, error) {
	var c store.BankCard
	err := r.Scan(&c.ID, &c.UserID, &c.Brand, &c.Last4, &c.Linked, timeDest{&c.CreatedAt}, nullTimeDest{&c.UnlinkedAt})
	return c, err
}

// AddBankCard links a card to the account; ErrNotFound for an unknown user.
func (s *Store) AddBankCard(ctx context.Context, userID, brand, last4 string) (store.BankCard, error) {
	c := store.BankCard{ID: NewID(), UserID: userID, Brand: brand, Last4: last4, Linked: true, CreatedAt: s.stamp(time.Time{})}
	_, err := s.db.Writer().Exec(ctx,
		`INSERT INTO bank_cards (id, user_id, brand, last4, linked, created_at) VALUES ($1, $2, $3, $4, TRUE, $5)`,
		c.ID, c.UserID, c.Brand, c.Last4, c.CreatedAt)
	if err != nil {
		return store.BankCard{}, s.wrap("add bank card", err)
	}
	return c, nil
}

// ListBankCards returns the user's cards, linked or not, oldest first.
func (s *Store) ListBankCards(ctx context.Context, userID string) ([]store.BankCard, error) {
	out, err := list(ctx, s.db.Reader(), scanBankCard,
		`SELECT `+bankCardCols+` FROM bank_cards WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, s.wrap("list bank cards", err)
	}
	return out, nil
}

// UnlinkBankCards unlinks every linked card of the user once per key: called
// again with the same key it changes nothing and returns the count of the
// first call. A key first used for another user is ErrConflict.
func (s *Store) UnlinkBankCards(ctx context.Context, userID, key string, now time.Time) (int, error) {
	const op = "unlink bank cards"
	if key == "" {
		return 0, s.invalid(op, "empty key")
	}
	now = ts(now)
	var count int
	err := s.db.Tx(ctx, func(q Querier) error {
		// Claiming the key first makes a concurrent call with the same key
		// wait for this transaction and then read its count.
		n, err := q.Exec(ctx,
			`INSERT INTO bank_card_unlinks (key, user_id, count, unlinked_at) VALUES ($1, $2, 0, $3)
			 ON CONFLICT (key) DO NOTHING`, key, userID, now)
		if err != nil {
			return err
		}
		if n == 0 {
			var owner string
			if err := q.QueryRow(ctx, `SELECT user_id, count FROM bank_card_unlinks WHERE key = $1`, key).
				Scan(&owner, &count); err != nil {
				return err
			}
			if owner != userID {
				count = 0
				return fmt.Errorf("key used for another account: %w", store.ErrConflict)
			}
			return nil
		}
		n, err = q.Exec(ctx,
			`UPDATE bank_cards SET linked = FALSE, unlinked_at = $2 WHERE user_id = $1 AND linked`, userID, now)
		if err != nil {
			return err
		}
		count = int(n)
		_, err = q.Exec(ctx, `UPDATE bank_card_unlinks SET count = $2 WHERE key = $1`, key, count)
		return err
	})
	if err != nil {
		return 0, s.wrap(op, err)
	}
	return count, nil
}

// Downgrade states.
const (
	downgradeDisabled = "disabled"
	downgradeRestored = "restored"
	downgradeFinished = "finished"
)

// downgrade is a row of downgrades: what DisableTwoFactor found switched on,
// and the TOTP secret it took away.
type downgrade struct {
	telegramWas, emailWas, totpWas bool
	totpSecret                     []byte
	totpLastStep                   int64
	state                          string
}

// lockTwoFactor returns the user's two_factor row locked until the end of
// the transaction (ErrNoRows when missing). Every downgrade step takes this
// lock first, so concurrent steps of one user queue here and always lock in
// the same order: two_factor, downgrades, webauthn_credentials.
func (s *Store) lockTwoFactor(ctx context.Context, q Querier, userID string) (store.TwoFactorSettings, error) {
	return scanTwoFactor(q.QueryRow(ctx,
		`SELECT `+twoFactorCols+` FROM two_factor WHERE user_id = $1`+s.d.ForUpdate, userID))
}

// pendingDowngrade returns the user's downgrade under key, locked, when it is
// still in the disabled state; ok is false when there is nothing to undo or
// finish (never disabled, already restored or finished, another user's).
func (s *Store) pendingDowngrade(ctx context.Context, q Querier, userID, key string) (d downgrade, ok bool, err error) {
	err = q.QueryRow(ctx,
		`SELECT telegram_was_enabled, email_was_enabled, totp_was_enabled, totp_secret, totp_last_step, state
		 FROM downgrades WHERE key = $1 AND user_id = $2`+s.d.ForUpdate, key, userID).
		Scan(&d.telegramWas, &d.emailWas, &d.totpWas, &d.totpSecret, &d.totpLastStep, &d.state)
	if errors.Is(err, ErrNoRows) {
		return downgrade{}, false, nil
	}
	if err != nil {
		return downgrade{}, false, err
	}
	return d, d.state == downgradeDisabled, nil
}

// DisableTwoFactor turns every second factor off: the switches are recorded
// under key, the TOTP secret (with its last used step) moves into the
// downgrade record, passkeys and recovery codes are suspended. Telegram accounts and phones
// stay. A repeated call with the same key changes nothing; a key first used
// for another user is ErrConflict; an unknown user is ErrNotFound.
func (s *Store) DisableTwoFactor(ctx context.Context, userID, key string, now time.Time) error {
	const op = "disable two factor"
	if key == "" {
		return s.invalid(op, "empty key")
	}
	err := s.db.Tx(ctx, func(q Querier) error {
		// Disable needs the row to lock; creating it also proves the user
		// exists (ErrForeignKeyViolation otherwise).
		if _, err := q.Exec(ctx,
			`INSERT INTO two_factor (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING`, userID); err != nil {
			return err
		}
		tf, err := s.lockTwoFactor(ctx, q, userID)
		if err != nil {
			return err
		}
		n, err := q.Exec(ctx,
			`INSERT INTO downgrades (key, user_id, telegram_was_enabled, email_was_enabled, totp_was_enabled,
			 totp_secret, totp_last_step, state, disabled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			 ON CONFLICT (key) DO NOTHING`,
			key, userID, tf.TelegramEnabled, tf.EmailEnabled, tf.TOTPEnabled,
			nullBytes(tf.TOTPSecretSealed), tf.TOTPLastStep, downgradeDisabled, ts(now))
		if err != nil {
			return err
		}
		if n == 0 {
			var owner string
			if err := q.QueryRow(ctx, `SELECT user_id FROM downgrades WHERE key = $1`, key).Scan(&owner); err != nil {
				return err
			}
			if owner != userID {
				return fmt.Errorf("key used for another account: %w", store.ErrConflict)
			}
			return nil
		}
		if _, err := q.Exec(ctx,
			`UPDATE two_factor SET telegram_enabled = FALSE, email_enabled = FALSE, totp_enabled = FALSE,
			 totp_secret = NULL, totp_last_step = 0 WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if _, err := q.Exec(ctx,
			`UPDATE webauthn_credentials SET suspended_by = $2 WHERE user_id = $1 AND suspended_by IS NULL`,
			userID, key); err != nil {
			return err
		}
		_, err = q.Exec(ctx,
			`UPDATE recovery_codes SET suspended_by = $2 WHERE user_id = $1 AND suspended_by IS NULL`, userID, key)
		return err
	})
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// RestoreTwoFactor puts back exactly what DisableTwoFactor switched off
// under key: the switches that were on, the TOTP secret with its last used
// step (unless a new secret was set meanwhile), the passkeys it suspended.
// It is a no-op for a key never disabled, restored or finished already.
func (s *Store) RestoreTwoFactor(ctx context.Context, userID, key string) error {
	err := s.db.Tx(ctx, func(q Querier) error {
		tf, err := s.lockTwoFactor(ctx, q, userID)
		if errors.Is(err, ErrNoRows) {
			return nil // DisableTwoFactor creates the row: nothing was disabled
		}
		if err != nil {
			return err
		}
		d, ok, err := s.pendingDowngrade(ctx, q, userID, key)
		if err != nil || !ok {
			return err
		}
		tf.TelegramEnabled = tf.TelegramEnabled || d.telegramWas
		tf.EmailEnabled = tf.EmailEnabled || d.emailWas
		if d.totpWas && tf.TOTPSecretSealed == nil && len(d.totpSecret) > 0 {
			tf.TOTPEnabled, tf.TOTPSecretSealed, tf.TOTPLastStep = true, d.totpSecret, d.totpLastStep
		}
		if _, err := q.Exec(ctx,
			`UPDATE two_factor SET telegram_enabled = $2, email_enabled = $3, totp_enabled = $4,
			 totp_secret = $5, totp_last_step = $6 WHERE user_id = $1`,
			userID, tf.TelegramEnabled, tf.EmailEnabled, tf.TOTPEnabled,
			nullBytes(tf.TOTPSecretSealed), tf.TOTPLastStep); err != nil {
			return err
		}
		if _, err := q.Exec(ctx,
			`UPDATE webauthn_credentials SET suspended_by = NULL WHERE user_id = $1 AND suspended_by = $2`,
			userID, key); err != nil {
			return err
		}
		if _, err := q.Exec(ctx,
			`UPDATE recovery_codes SET suspended_by = NULL WHERE user_id = $1 AND suspended_by = $2`, userID, key); err != nil {
			return err
		}
		_, err = q.Exec(ctx,
			`UPDATE downgrades SET state = $2, totp_secret = NULL, totp_last_step = 0 WHERE key = $1`,
			key, downgradeRestored)
		return err
	})
	if err != nil {
		return s.wrap("restore two factor", err)
	}
	return nil
}

// FinishDowngrade destroys what DisableTwoFactor kept under key: the TOTP
// secret, the suspended passkeys and recovery codes. It is a no-op for a key never
// disabled, restored or finished already.
func (s *Store) FinishDowngrade(ctx context.Context, userID, key string) error {
	err := s.db.Tx(ctx, func(q Querier) error {
		if _, err := s.lockTwoFactor(ctx, q, userID); errors.Is(err, ErrNoRows) {
			return nil // DisableTwoFactor creates the row: nothing was disabled
		} else if err != nil {
			return err
		}
		if _, ok, err := s.pendingDowngrade(ctx, q, userID, key); err != nil || !ok {
			return err
		}
		if _, err := q.Exec(ctx,
			`DELETE FROM webauthn_credentials WHERE user_id = $1 AND suspended_by = $2`, userID, key); err != nil {
			return err
		}
		if _, err := q.Exec(ctx,
			`DELETE FROM recovery_codes WHERE user_id = $1 AND suspended_by = $2`, userID, key); err != nil {
			return err
		}
		_, err := q.Exec(ctx,
			`UPDATE downgrades SET state = $2, totp_secret = NULL, totp_last_step = 0 WHERE key = $1`,
			key, downgradeFinished)
		return err
	})
	if err != nil {
		return s.wrap("finish downgrade", err)
	}
	return nil
}
