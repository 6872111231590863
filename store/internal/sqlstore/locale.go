package sqlstore

import (
	"context"
	"errors"
)

// SetUserLocale stores the user's language.
func (s *Store) SetUserLocale(ctx context.Context, userID, locale string) error {
	const op = "set user locale"
	if locale == "" {
		return s.invalid(op, "empty locale")
	}
	_, err := s.db.Writer().Exec(ctx,
		`INSERT INTO user_locales (user_id, locale) VALUES ($1, $2)
		 ON CONFLICT (user_id) DO UPDATE SET locale = excluded.locale`, userID, locale)
	if err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// UserLocale is the user's language, "" when they chose none.
func (s *Store) UserLocale(ctx context.Context, userID string) (string, error) {
	var l string
	err := s.db.Reader().QueryRow(ctx, `SELECT locale FROM user_locales WHERE user_id = $1`, userID).Scan(&l)
	if errors.Is(err, ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", s.wrap("user locale", err)
	}
	return l, nil
}
