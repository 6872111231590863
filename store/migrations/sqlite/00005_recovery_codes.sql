-- +goose Up
-- Recovery codes: ten single-use codes per account, kept as keyed hashes.
-- suspended_by is the key of a phone downgrade in progress: the saga turns
-- every second factor off and may have to put them back.
CREATE TABLE recovery_codes (
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash    BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    used_at      INTEGER,
    suspended_by TEXT,
    PRIMARY KEY (user_id, code_hash)
) STRICT;

-- +goose Down
DROP TABLE recovery_codes;
