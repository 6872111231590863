-- +goose Up
-- Recovery codes: ten single-use codes per account, kept as keyed hashes.
-- suspended_by is the key of a phone downgrade in progress: the saga turns
-- every second factor off and may have to put them back.
CREATE TABLE recovery_codes (
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash    bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    used_at      timestamptz,
    suspended_by text,
    PRIMARY KEY (user_id, code_hash)
);

-- +goose Down
DROP TABLE recovery_codes;
