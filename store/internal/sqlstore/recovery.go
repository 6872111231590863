package sqlstore

import (
	"context"
	"time"
)

// ReplaceRecoveryCodes stores a new set of recovery codes (keyed hashes)
// and forgets every earlier code of the user, used or not; ErrNotFound for
// an unknown user.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte, now time.Time) error {
	const op = "replace recovery codes"
	if len(hashes) == 0 {
		return s.invalid(op, "no codes")
	}
	now = ts(now)
	err := s.db.Tx(ctx, func(q Querier) error {
		if _, err := q.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := q.Exec(ctx, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)`,
				userID, h, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// RecoveryCodesLeft counts the user's unused codes (a downgrade in progress
// suspends them).
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.db.Reader().QueryRow(ctx,
		`SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL AND suspended_by IS NULL`, userID).Scan(&n)
	if err != nil {
		return 0, s.wrap("recovery codes left", err)
	}
	return n, nil
}

// UseRecoveryCode marks the code with hash used, once: false when the user
// has no such unused code. One statement decides, so two concurrent uses of
// one code cannot both pass.
func (s *Store) UseRecoveryCode(ctx context.Context, userID string, hash []byte, now time.Time) (bool, error) {
	n, err := s.db.Writer().Exec(ctx,
		`UPDATE recovery_codes SET used_at = $3
		 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL AND suspended_by IS NULL`, userID, hash, ts(now))
	if err != nil {
		return false, s.wrap("use recovery code", err)
	}
	return n == 1, nil
}
