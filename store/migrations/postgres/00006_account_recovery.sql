-- +goose Up
-- Account recovery (docs/design.md "Account recovery"): a recovery that
-- waits out its delay has a row until it ends, so that a login of the
-- account can cancel it; each notice about it carries a single-use cancel
-- token, stored hashed.
CREATE TABLE account_recoveries (
    flow_id    text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ready_at   timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    ended_at   timestamptz,
    outcome    text
);
CREATE INDEX account_recoveries_waiting ON account_recoveries (user_id) WHERE ended_at IS NULL;

CREATE TABLE recovery_cancel_tokens (
    token_hash bytea PRIMARY KEY,
    flow_id    text NOT NULL,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);

-- +goose Down
DROP TABLE recovery_cancel_tokens;
DROP TABLE account_recoveries;
