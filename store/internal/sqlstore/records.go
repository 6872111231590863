package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/authflow/authflow/store"
)

// GetAttempts returns a failure counter; zero for a key that never failed.
// LockedUntil is the stored lock, which may lie in the past: callers compare
// it with their own now.
func (s *Store) GetAttempts(ctx context.Context, scope, key string) (store.AttemptState, error) {
	var a store.AttemptState
	err := s.db.Reader().QueryRow(ctx,
		`SELECT failures, locked_until FROM attempts WHERE scope = $1 AND key = $2`, scope, key).
		Scan(&a.Failures, timeDest{&a.LockedUntil})
	if err != nil && !isNoRows(err) {
		return store.AttemptState{}, s.wrap("get attempts", err)
	}
	return a, nil
}

// AddFailure counts one failure atomically and locks the key until
// now+lockFor(failures) (no new lock when lockFor is nil or returns 0; a lock
// is never shortened).
func (s *Store) AddFailure(ctx context.Context, scope, key string, now time.Time, lockFor func(failures int) time.Duration) (store.AttemptState, error) {
	now = ts(now)
	var a store.AttemptState
	err := s.db.Tx(ctx, func(q Querier) error {
		// The upsert takes the row lock: concurrent failures of one key are
		// counted one after the other, none lost.
		err := q.QueryRow(ctx,
			`INSERT INTO attempts (scope, key, failures, updated_at) VALUES ($1, $2, 1, $3)
			 ON CONFLICT (scope, key) DO UPDATE SET failures = attempts.failures + 1, updated_at = excluded.updated_at
			 RETURNING failures, locked_until`, scope, key, now).
			Scan(&a.Failures, timeDest{&a.LockedUntil})
		if err != nil || lockFor == nil {
			return err
		}
		d := lockFor(a.Failures)
		if d <= 0 {
			return nil
		}
		until := ts(now.Add(d))
		if !until.After(a.LockedUntil) {
			return nil
		}
		a.LockedUntil = until
		_, err = q.Exec(ctx, `UPDATE attempts SET locked_until = $3 WHERE scope = $1 AND key = $2`, scope, key, until)
		return err
	})
	if err != nil {
		return store.AttemptState{}, s.wrap("add failure", err)
	}
	return a, nil
}

// ReserveAttempt counts an attempt before it is checked (see
// store.Attempts). Concurrent reservations of one key are decided one after
// the other under its row lock, so the limit can never be overshot.
//
// An attempt that sets no lock (the key is not locked and lockFor of its
// new count is 0: every attempt of a login that succeeds) is one statement,
// which counts it only under those two conditions. Any other attempt is a
// transaction that reads the counter, asks lockFor and writes the lock: a
// Go function cannot run inside the statement (docs/performance.md "One
// statement a reservation").
func (s *Store) ReserveAttempt(ctx context.Context, scope, key string, now time.Time, lockFor func(failures int) time.Duration) (store.Reservation, error) {
	now = ts(now)
	if below := firstLock(lockFor); below > 1 {
		var a store.AttemptState
		err := s.db.Writer().QueryRow(ctx,
			`INSERT INTO attempts (scope, key, failures, updated_at) VALUES ($1, $2, 1, $3)
			 ON CONFLICT (scope, key) DO UPDATE SET failures = attempts.failures + 1, updated_at = excluded.updated_at
			 WHERE (attempts.locked_until IS NULL OR attempts.locked_until <= $3) AND attempts.failures + 1 < $4
			 RETURNING failures, locked_until`, scope, key, now, below).
			Scan(&a.Failures, timeDest{&a.LockedUntil})
		switch {
		case err == nil:
			return store.Reservation{State: a, Granted: true, PrevLockedUntil: a.LockedUntil}, nil
		case !isNoRows(err):
			return store.Reservation{}, s.wrap("reserve attempt", err)
		}
		// Locked, or this attempt sets a lock: decided below.
	}
	var r store.Reservation
	err := s.db.Tx(ctx, func(q Querier) error {
		r = store.Reservation{}
		var a store.AttemptState
		err := q.QueryRow(ctx,
			`INSERT INTO attempts (scope, key, failures, updated_at) VALUES ($1, $2, 0, $3)
			 ON CONFLICT (scope, key) DO UPDATE SET updated_at = attempts.updated_at
			 RETURNING failures, locked_until`, scope, key, now).
			Scan(&a.Failures, timeDest{&a.LockedUntil})
		if err != nil {
			return err
		}
		if a.LockedUntil.After(now) {
			r.State = a
			return nil
		}
		r.Granted, r.PrevLockedUntil = true, a.LockedUntil
		a.Failures++
		if lockFor != nil {
			if d := lockFor(a.Failures); d > 0 {
				if until := ts(now.Add(d)); until.After(a.LockedUntil) {
					a.LockedUntil, r.LockSet = until, true
				}
			}
		}
		r.State = a
		_, err = q.Exec(ctx, `UPDATE attempts SET failures = $3, locked_until = $4, updated_at = $5 WHERE scope = $1 AND key = $2`,
			scope, key, a.Failures, nullTime(&a.LockedUntil), now)
		return err
	})
	if err != nil {
		return store.Reservation{}, s.wrap("reserve attempt", err)
	}
	return r, nil
}

// firstLockSearch bounds firstLock's search: past it, every attempt takes
// ReserveAttempt's transaction, which is right for any lockFor.
const firstLockSearch = 1000

// firstLock is the smallest count n for which lockFor(n) sets a lock
// (firstLockSearch+1 when none up to it does): an attempt whose new count
// is below it sets none.
func firstLock(lockFor func(failures int) time.Duration) int {
	if lockFor == nil {
		return firstLockSearch + 1
	}
	n := 1
	for n <= firstLockSearch && lockFor(n) <= 0 {
		n++
	}
	return n
}

// ReleaseAttempt gives a granted reservation back (see store.Attempts).
func (s *Store) ReleaseAttempt(ctx context.Context, scope, key string, r store.Reservation) error {
	if !r.Granted {
		return nil
	}
	q := `UPDATE attempts SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END WHERE scope = $1 AND key = $2`
	args := []any{scope, key}
	if r.LockSet {
		// No other attempt can have moved the lock since: the lock this
		// reservation set refused them all.
		q = `UPDATE attempts SET failures = CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END, locked_until = $3
			 WHERE scope = $1 AND key = $2`
		args = append(args, nullTime(&r.PrevLockedUntil))
	}
	if _, err := s.db.Writer().Exec(ctx, q, args...); err != nil {
		return s.wrap("release attempt", err)
	}
	return nil
}

// ResetAttempts forgets a counter and its lock.
func (s *Store) ResetAttempts(ctx context.Context, scope, key string) error {
	if _, err := s.db.Writer().Exec(ctx, `DELETE FROM attempts WHERE scope = $1 AND key = $2`, scope, key); err != nil {
		return s.wrap("reset attempts", err)
	}
	return nil
}

const sentMessageCols = `key, COALESCE(user_id, ''), channel, recipient, provider_id, sent_at, code_mac, kind, ip`

// SentMessage returns ErrNotFound when nothing was sent under key.
func (s *Store) SentMessage(ctx context.Context, key string) (store.SentMessage, error) {
	var m store.SentMessage
	err := s.db.Reader().QueryRow(ctx, `SELECT `+sentMessageCols+` FROM sent_messages WHERE key = $1`, key).
		Scan(&m.Key, &m.UserID, &m.Channel, &m.Recipient, &m.ProviderID, timeDest{&m.SentAt}, &m.CodeMAC, &m.Kind, &m.IP)
	if err != nil {
		return store.SentMessage{}, s.wrap("sent message", err)
	}
	return m, nil
}

// RecordSentMessage stores m (a zero SentAt is now; UserID may be empty);
// recording the same key twice is a no-op that keeps the first record.
func (s *Store) RecordSentMessage(ctx context.Context, m store.SentMessage) error {
	const op = "record sent message"
	if m.Key == "" {
		return s.invalid(op, "empty key")
	}
	if m.Kind == "" {
		m.Kind = store.SentKindCode
	}
	_, err := s.db.Writer().Exec(ctx,
		`INSERT INTO sent_messages (key, user_id, channel, recipient, provider_id, sent_at, code_mac, kind, ip)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (key) DO NOTHING`,
		m.Key, nullString(m.UserID), m.Channel, m.Recipient, m.ProviderID, s.stamp(m.SentAt), nullBytes(m.CodeMAC), string(m.Kind), m.IP)
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// CountSent counts messages of every kind sent at or after since to a user
// (recipient "") or to a recipient (userID ""); given both, messages
// matching both.
func (s *Store) CountSent(ctx context.Context, userID, recipient string, since time.Time) (int, error) {
	if userID == "" && recipient == "" {
		return 0, s.invalid("count sent", "neither user id nor recipient")
	}
	return s.CountSends(ctx, store.SentQuery{UserID: userID, Recipient: recipient, Since: since})
}

// CountSends counts the messages q selects: every condition given must
// hold; a list matches any of its values.
func (s *Store) CountSends(ctx context.Context, q store.SentQuery) (int, error) {
	const op = "count sent"
	if q.Since.IsZero() {
		return 0, s.invalid(op, "no since")
	}
	where := []string{"sent_at >= $1"}
	args := []any{ts(q.Since)}
	eq := func(col, v string) {
		if v != "" {
			args = append(args, v)
			where = append(where, col+" = $"+strconv.Itoa(len(args)))
		}
	}
	in := func(col string, vs []string) {
		if len(vs) == 0 {
			return
		}
		ps := make([]string, len(vs))
		for i, v := range vs {
			args = append(args, v)
			ps[i] = "$" + strconv.Itoa(len(args))
		}
		where = append(where, col+" IN ("+strings.Join(ps, ", ")+")")
	}
	eq("user_id", q.UserID)
	eq("recipient", q.Recipient)
	eq("ip", q.IP)
	kinds := make([]string, len(q.Kinds))
	for i, k := range q.Kinds {
		kinds[i] = string(k)
	}
	in("kind", kinds)
	in("channel", q.Channels)
	var n int
	err := s.db.Reader().QueryRow(ctx,
		`SELECT count(*) FROM sent_messages WHERE `+strings.Join(where, " AND "), args...).Scan(&n)
	if err != nil {
		return 0, s.wrap(op, err)
	}
	return n, nil
}

// AddEvent appends to the user's audit log (an empty ID is generated, a zero
// At is now) and queues a webhook delivery of it for every enabled endpoint
// whose filter matches. An event whose ID is recorded already is not added
// (nor queued) twice, so a retried activity can pass a stable ID.
func (s *Store) AddEvent(ctx context.Context, e store.Event) error {
	const op = "add event"
	switch {
	case e.UserID == "":
		return s.invalid(op, "empty user id")
	case e.Type == "":
		return s.invalid(op, "empty type")
	}
	if e.ID == "" {
		e.ID = NewID()
	}
	detail := []byte("{}")
	if len(e.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(e.Detail); err != nil {
			return s.wrap(op, fmt.Errorf("encode detail: %w", err))
		}
	}
	// The webhook outbox is written with the event, atomically: an event
	// stored is an event delivered, whatever fails after the commit
	// (docs/design.md "Webhooks"). A replayed id (ON CONFLICT) queues
	// nothing again.
	const insertEvent = `INSERT INTO events (id, user_id, type, at, ip, detail) VALUES ($1, $2, $3, $4, $5, $6)
		 ON CONFLICT (id) DO NOTHING`
	args := []any{e.ID, e.UserID, e.Type, s.stamp(e.At), e.IP, string(detail)}
	if s.d.WritableCTE {
		// One statement, one round trip: the deliveries read the event
		// from the rows its insert returns.
		_, err := s.db.Writer().Exec(ctx,
			`WITH ev AS (`+insertEvent+` RETURNING id, seq, at) `+queueDeliveries("ev", "$7", "$8"),
			append(args, store.DeliveryPending, typePattern(e.Type))...)
		if err != nil {
			return s.wrap(op, err)
		}
		return nil
	}
	err := s.db.Tx(ctx, func(q Querier) error {
		n, err := q.Exec(ctx, insertEvent, args...)
		if err != nil || n == 0 {
			return err
		}
		_, err = q.Exec(ctx, queueDeliveries("events", "$2", "$3"), e.ID, store.DeliveryPending, typePattern(e.Type))
		return err
	})
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// ListEvents returns the user's newest limit events, newest first (events
// of the same instant: the last added first); limit <= 0 returns all. Detail
// is never nil; JSON numbers read back as float64.
func (s *Store) ListEvents(ctx context.Context, userID string, limit int) ([]store.Event, error) {
	query := `SELECT id, user_id, type, at, ip, detail FROM events WHERE user_id = $1 ORDER BY at DESC, seq DESC`
	args := []any{userID}
	if limit > 0 {
		query += ` LIMIT $2`
		args = append(args, limit)
	}
	out, err := list(ctx, s.db.Reader(), scanEvent, query, args...)
	if err != nil {
		return nil, s.wrap("list events", err)
	}
	return out, nil
}

func scanEvent(r scanner) (store.Event, error) {
	var e store.Event
	var detail []byte
	if err := r.Scan(&e.ID, &e.UserID, &e.Type, timeDest{&e.At}, &e.IP, &detail); err != nil {
		return store.Event{}, err
	}
	e.Detail = map[string]any{}
	if err := json.Unmarshal(detail, &e.Detail); err != nil {
		return store.Event{}, fmt.Errorf("decode detail of event %s: %w", e.ID, err)
	}
	if e.Detail == nil { // the JSON null
		e.Detail = map[string]any{}
	}
	return e, nil
}

// CreateLinkToken stores a Telegram deep-link token; ErrConflict when the
// hash is stored already, ErrNotFound for an unknown user.
func (s *Store) CreateLinkToken(ctx context.Context, t store.LinkToken) error {
	const op = "create link token"
	switch {
	case len(t.TokenHash) == 0:
		return s.invalid(op, "empty token hash")
	case t.ExpiresAt.IsZero():
		return s.invalid(op, "zero expiry")
	}
	_, err := s.db.Writer().Exec(ctx,
		`INSERT INTO link_tokens (token_hash, user_id, flow_id, expires_at) VALUES ($1, $2, $3, $4)`,
		t.TokenHash, t.UserID, t.FlowID, ts(t.ExpiresAt))
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// LinkTokenByHash returns ErrNotFound for unknown or expired tokens.
func (s *Store) LinkTokenByHash(ctx context.Context, tokenHash []byte, now time.Time) (store.LinkToken, error) {
	var t store.LinkToken
	err := s.db.Reader().QueryRow(ctx,
		`SELECT token_hash, user_id, flow_id, expires_at FROM link_tokens WHERE token_hash = $1 AND expires_at > $2`,
		tokenHash, ts(now)).Scan(&t.TokenHash, &t.UserID, &t.FlowID, timeDest{&t.ExpiresAt})
	if err != nil {
		return store.LinkToken{}, s.wrap("link token by hash", err)
	}
	return t, nil
}

// AddTelegramPrompt records a prompt sent to a chat (a zero SentAt is now);
// the same flow, chat and message recorded twice is a no-op.
func (s *Store) AddTelegramPrompt(ctx context.Context, p store.TelegramPrompt) error {
	const op = "add telegram prompt"
	if p.FlowID == "" {
		return s.invalid(op, "empty flow id")
	}
	_, err := s.db.Writer().Exec(ctx,
		`INSERT INTO telegram_prompts (flow_id, chat_id, message_id, sent_at) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (flow_id, chat_id, message_id) DO NOTHING`,
		p.FlowID, p.ChatID, p.MessageID, s.stamp(p.SentAt))
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// TelegramPrompts returns the prompts of a flow, oldest first.
func (s *Store) TelegramPrompts(ctx context.Context, flowID string) ([]store.TelegramPrompt, error) {
	out, err := list(ctx, s.db.Reader(), func(r scanner) (store.TelegramPrompt, error) {
		var p store.TelegramPrompt
		err := r.Scan(&p.FlowID, &p.ChatID, &p.MessageID, timeDest{&p.SentAt})
		return p, err
	}, `SELECT flow_id, chat_id, message_id, sent_at FROM telegram_prompts
	    WHERE flow_id = $1 ORDER BY sent_at, chat_id, message_id`, flowID)
	if err != nil {
		return nil, s.wrap("telegram prompts", err)
	}
	return out, nil
}
