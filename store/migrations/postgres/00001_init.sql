-- +goose Up
-- Emails are stored trimmed and lower-cased by the store, so the plain
-- unique constraint is case-insensitive.
CREATE TABLE users (
    id            text PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL
);

-- Only the SHA-256 of a bearer token is kept.
CREATE TABLE sessions (
    id               text PRIMARY KEY,
    user_id          text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash       bytea NOT NULL UNIQUE,
    authenticated_at timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    ip               text NOT NULL DEFAULT '',
    user_agent       text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Per-method switches and the sealed (AES-GCM) TOTP secret with the last
-- accepted time step (RFC 6238 §5.2).
CREATE TABLE two_factor (
    user_id          text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    telegram_enabled boolean NOT NULL DEFAULT false,
    email_enabled    boolean NOT NULL DEFAULT false,
    totp_enabled     boolean NOT NULL DEFAULT false,
    totp_secret      bytea,
    totp_last_step   bigint NOT NULL DEFAULT 0
);

CREATE TABLE telegram_accounts (
    id        text PRIMARY KEY,
    user_id   text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chat_id   bigint NOT NULL UNIQUE,
    username  text NOT NULL DEFAULT '',
    linked_at timestamptz NOT NULL
);
CREATE INDEX telegram_accounts_user_id_idx ON telegram_accounts (user_id);

-- suspended_by is the key of the downgrade that suspended the passkey
-- (NULL: active); suspended passkeys are invisible to look-ups.
CREATE TABLE webauthn_credentials (
    id            text PRIMARY KEY,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id bytea NOT NULL UNIQUE,
    data          bytea NOT NULL,
    name          text NOT NULL DEFAULT '',
    passwordless  boolean NOT NULL DEFAULT false,
    sign_count    bigint NOT NULL DEFAULT 0,
    clone_warning boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    suspended_by  text
);
CREATE INDEX webauthn_credentials_user_id_idx ON webauthn_credentials (user_id);

CREATE TABLE phones (
    id         text PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    number     text NOT NULL,
    verified   boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    UNIQUE (user_id, number)
);

CREATE TABLE bank_cards (
    id          text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    brand       text NOT NULL,
    last4       text NOT NULL,
    linked      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    unlinked_at timestamptz
);
CREATE INDEX bank_cards_user_id_idx ON bank_cards (user_id);

-- One row per UnlinkBankCards key: a repeated call returns count.
CREATE TABLE bank_card_unlinks (
    key         text PRIMARY KEY,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    count       integer NOT NULL,
    unlinked_at timestamptz NOT NULL
);
CREATE INDEX bank_card_unlinks_user_id_idx ON bank_card_unlinks (user_id);

-- One row per DisableTwoFactor key: the switches that were on and, while
-- the downgrade is pending, the TOTP secret it took away.
CREATE TABLE downgrades (
    key                  text PRIMARY KEY,
    user_id              text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    telegram_was_enabled boolean NOT NULL,
    email_was_enabled    boolean NOT NULL,
    totp_was_enabled     boolean NOT NULL,
    totp_secret          bytea,
    totp_last_step       bigint NOT NULL DEFAULT 0,
    state                text NOT NULL CHECK (state IN ('disabled', 'restored', 'finished')),
    disabled_at          timestamptz NOT NULL
);
CREATE INDEX downgrades_user_id_idx ON downgrades (user_id);

-- Failure counters; key is an account id or an IP, so no foreign key.
CREATE TABLE attempts (
    scope        text NOT NULL,
    key          text NOT NULL,
    failures     integer NOT NULL,
    locked_until timestamptz,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);

-- user_id is NULL for a message sent to no account.
CREATE TABLE sent_messages (
    key         text PRIMARY KEY,
    user_id     text REFERENCES users (id) ON DELETE CASCADE,
    channel     text NOT NULL,
    recipient   text NOT NULL,
    provider_id text NOT NULL DEFAULT '',
    sent_at     timestamptz NOT NULL
);
CREATE INDEX sent_messages_user_id_sent_at_idx ON sent_messages (user_id, sent_at);
CREATE INDEX sent_messages_recipient_sent_at_idx ON sent_messages (recipient, sent_at);

-- seq orders events of the same instant by insertion.
CREATE TABLE events (
    seq     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id      text NOT NULL UNIQUE,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type    text NOT NULL,
    at      timestamptz NOT NULL,
    ip      text NOT NULL DEFAULT '',
    detail  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_user_id_at_idx ON events (user_id, at DESC, seq DESC);

CREATE TABLE link_tokens (
    token_hash bytea PRIMARY KEY,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    flow_id    text NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX link_tokens_user_id_idx ON link_tokens (user_id);

CREATE TABLE telegram_prompts (
    flow_id    text NOT NULL,
    chat_id    bigint NOT NULL,
    message_id bigint NOT NULL,
    sent_at    timestamptz NOT NULL,
    PRIMARY KEY (flow_id, chat_id, message_id)
);

-- +goose Down
DROP TABLE telegram_prompts;
DROP TABLE link_tokens;
DROP TABLE events;
DROP TABLE sent_messages;
DROP TABLE attempts;
DROP TABLE downgrades;
DROP TABLE bank_card_unlinks;
DROP TABLE bank_cards;
DROP TABLE phones;
DROP TABLE webauthn_credentials;
DROP TABLE telegram_accounts;
DROP TABLE two_factor;
DROP TABLE sessions;
DROP TABLE users;
