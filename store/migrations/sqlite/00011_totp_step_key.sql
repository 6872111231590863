-- +goose Up
-- The idempotency key of the answer that used totp_last_step: the same
-- answer checked again (its workflow task retried after a worker died)
-- finds its own use instead of a replay (store.Factors.UseTOTPStep).
ALTER TABLE two_factor ADD COLUMN totp_last_key TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE two_factor DROP COLUMN totp_last_key;
