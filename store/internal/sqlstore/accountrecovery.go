package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authflow/authflow/store"
)

// staleRecoveryWait is how long after its ready_at an unended wait stops
// blocking the account's next one: its flow ends a day after ready_at
// (workflows.RecoveryReadyTTL) and records the end, so a wait still open a
// week later belongs to a flow stopped from outside (terminated by an
// operator), which must not lock its account out of recovery for good.
const staleRecoveryWait = 7 * 24 * time.Hour

// StartRecoveryWait records that a recovery waits until readyAt; recording
// it again changes nothing. An account waits for one recovery at a time:
// while another of its recoveries waits this is store.ErrConflict. The
// user's row is locked for the check, so two recoveries of one account
// starting their wait at once cannot both pass.
func (s *Store) StartRecoveryWait(ctx context.Context, flowID, userID string, readyAt, now time.Time) error {
	const op = "start recovery wait"
	if flowID == "" || userID == "" {
		return s.invalid(op, "empty flow or user id")
	}
	err := s.db.Tx(ctx, func(q Querier) error {
		var id string
		if err := q.QueryRow(ctx, `SELECT id FROM users WHERE id = $1`+s.d.ForUpdate, userID).Scan(&id); err != nil {
			return err
		}
		var other string
		err := q.QueryRow(ctx, `SELECT flow_id FROM account_recoveries
			WHERE user_id = $1 AND ended_at IS NULL AND flow_id <> $2 AND ready_at > $3 LIMIT 1`,
			userID, flowID, ts(now.Add(-staleRecoveryWait))).Scan(&other)
		switch {
		case err == nil:
			return fmt.Errorf("recovery %s of the account waits already: %w", other, store.ErrConflict)
		case !isNoRows(err):
			return err
		}
		_, err = q.Exec(ctx,
			`INSERT INTO account_recoveries (flow_id, user_id, ready_at, created_at) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (flow_id) DO NOTHING`, flowID, userID, ts(readyAt), ts(now))
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%s: %s: %w", s.d.Name, op, err)
	}
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// EndRecovery records how a waiting recovery ended; an unknown or ended one
// is left as it is.
func (s *Store) EndRecovery(ctx context.Context, flowID, outcome string, now time.Time) error {
	_, err := s.db.Writer().Exec(ctx,
		`UPDATE account_recoveries SET ended_at = $2, outcome = $3 WHERE flow_id = $1 AND ended_at IS NULL`,
		flowID, ts(now), outcome)
	if err != nil {
		return s.wrap("end recovery", err)
	}
	return nil
}

// WaitingRecoveries lists the flow ids of the user's waiting recoveries.
func (s *Store) WaitingRecoveries(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.db.Reader().Query(ctx,
		`SELECT flow_id FROM account_recoveries WHERE user_id = $1 AND ended_at IS NULL ORDER BY created_at`, userID)
	if err != nil {
		return nil, s.wrap("waiting recoveries", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.wrap("waiting recoveries", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("waiting recoveries", err)
	}
	return out, nil
}

// CreateRecoveryCancelToken stores a cancel token's hash. The same hash for
// the same flow again (a notice's retry) leaves the row as it is, spent or
// not; the hash of another flow's token is ErrConflict.
func (s *Store) CreateRecoveryCancelToken(ctx context.Context, tokenHash []byte, flowID, userID string, expiresAt time.Time) error {
	const op = "create recovery cancel token"
	if len(tokenHash) == 0 || flowID == "" {
		return s.invalid(op, "empty token hash or flow id")
	}
	// The no-op update makes the retry count one row; a WHERE that fails
	// (another flow) counts none.
	n, err := s.db.Writer().Exec(ctx,
		`INSERT INTO recovery_cancel_tokens (token_hash, flow_id, user_id, expires_at) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (token_hash) DO UPDATE SET flow_id = recovery_cancel_tokens.flow_id
		 WHERE recovery_cancel_tokens.flow_id = excluded.flow_id`,
		tokenHash, flowID, userID, ts(expiresAt))
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %s: the token is another flow's: %w", s.d.Name, op, store.ErrConflict)
	}
	return nil
}

// UseRecoveryCancelToken spends a token once: one UPDATE decides, so two
// clicks of one link cannot both pass.
func (s *Store) UseRecoveryCancelToken(ctx context.Context, tokenHash []byte, now time.Time) (string, error) {
	const op = "use recovery cancel token"
	var flowID string
	err := s.db.Tx(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, `UPDATE recovery_cancel_tokens SET used_at = $2
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2`, tokenHash, ts(now))
		if err != nil {
			return err
		}
		if n != 1 {
			return ErrNoRows
		}
		return q.QueryRow(ctx, `SELECT flow_id FROM recovery_cancel_tokens WHERE token_hash = $1`, tokenHash).Scan(&flowID)
	})
	if err != nil {
		return "", s.wrap(op, err)
	}
	return flowID, nil
}
