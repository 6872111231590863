-- +goose Up
-- Account recovery (docs/design.md "Account recovery"): a recovery that
-- waits out its delay has a row until it ends, so that a login of the
-- account can cancel it; each notice about it carries a single-use cancel
-- token, stored hashed.
CREATE TABLE account_recoveries (
    flow_id    TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ready_at   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    ended_at   INTEGER,
    outcome    TEXT
) STRICT;
CREATE INDEX account_recoveries_waiting ON account_recoveries (user_id) WHERE ended_at IS NULL;

CREATE TABLE recovery_cancel_tokens (
    token_hash BLOB PRIMARY KEY,
    flow_id    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

-- +goose Down
DROP TABLE recovery_cancel_tokens;
DROP TABLE account_recoveries;
