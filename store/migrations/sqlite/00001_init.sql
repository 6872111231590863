-- +goose Up
-- SQLite schema: STRICT tables; times are INTEGER unix microseconds,
-- booleans INTEGER 0/1, JSON is TEXT.
-- Emails are stored trimmed and lower-cased by the store, so the plain
-- unique constraint is case-insensitive.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

-- Only the SHA-256 of a bearer token is kept.
CREATE TABLE sessions (
    id               TEXT PRIMARY KEY,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash       BLOB NOT NULL UNIQUE,
    authenticated_at INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    ip               TEXT NOT NULL DEFAULT '',
    user_agent       TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- Per-method switches and the sealed (AES-GCM) TOTP secret with the last
-- accepted time step (RFC 6238 §5.2).
CREATE TABLE two_factor (
    user_id          TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    telegram_enabled INTEGER NOT NULL DEFAULT 0,
    email_enabled    INTEGER NOT NULL DEFAULT 0,
    totp_enabled     INTEGER NOT NULL DEFAULT 0,
    totp_secret      BLOB,
    totp_last_step   INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE telegram_accounts (
    id        TEXT PRIMARY KEY,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chat_id   INTEGER NOT NULL UNIQUE,
    username  TEXT NOT NULL DEFAULT '',
    linked_at INTEGER NOT NULL
) STRICT;
CREATE INDEX telegram_accounts_user_id_idx ON telegram_accounts (user_id);

-- suspended_by is the key of the downgrade that suspended the passkey
-- (NULL: active); suspended passkeys are invisible to look-ups.
CREATE TABLE webauthn_credentials (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL UNIQUE,
    data          BLOB NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    passwordless  INTEGER NOT NULL DEFAULT 0,
    sign_count    INTEGER NOT NULL DEFAULT 0,
    clone_warning INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    suspended_by  TEXT
) STRICT;
CREATE INDEX webauthn_credentials_user_id_idx ON webauthn_credentials (user_id);

CREATE TABLE phones (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    number     TEXT NOT NULL,
    verified   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, number)
) STRICT;

CREATE TABLE bank_cards (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    brand       TEXT NOT NULL,
    last4       TEXT NOT NULL,
    linked      INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    unlinked_at INTEGER
) STRICT;
CREATE INDEX bank_cards_user_id_idx ON bank_cards (user_id);

-- One row per UnlinkBankCards key: a repeated call returns count.
CREATE TABLE bank_card_unlinks (
    key         TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    count       INTEGER NOT NULL,
    unlinked_at INTEGER NOT NULL
) STRICT;
CREATE INDEX bank_card_unlinks_user_id_idx ON bank_card_unlinks (user_id);

-- One row per DisableTwoFactor key: the switches that were on and, while
-- the downgrade is pending, the TOTP secret it took away.
CREATE TABLE downgrades (
    key                  TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    telegram_was_enabled INTEGER NOT NULL,
    email_was_enabled    INTEGER NOT NULL,
    totp_was_enabled     INTEGER NOT NULL,
    totp_secret          BLOB,
    totp_last_step       INTEGER NOT NULL DEFAULT 0,
    state                TEXT NOT NULL CHECK (state IN ('disabled', 'restored', 'finished')),
    disabled_at          INTEGER NOT NULL
) STRICT;
CREATE INDEX downgrades_user_id_idx ON downgrades (user_id);

-- Failure counters; key is an account id or an IP, so no foreign key.
CREATE TABLE attempts (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until INTEGER,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT;

-- user_id is NULL for a message sent to no account.
CREATE TABLE sent_messages (
    key         TEXT PRIMARY KEY,
    user_id     TEXT REFERENCES users (id) ON DELETE CASCADE,
    channel     TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    provider_id TEXT NOT NULL DEFAULT '',
    sent_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX sent_messages_user_id_sent_at_idx ON sent_messages (user_id, sent_at);
CREATE INDEX sent_messages_recipient_sent_at_idx ON sent_messages (recipient, sent_at);

-- seq orders events of the same instant by insertion.
CREATE TABLE events (
    seq     INTEGER PRIMARY KEY,
    id      TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    ip      TEXT NOT NULL DEFAULT '',
    detail  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
) STRICT;
CREATE INDEX events_user_id_at_idx ON events (user_id, at DESC, seq DESC);

CREATE TABLE link_tokens (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    flow_id    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX link_tokens_user_id_idx ON link_tokens (user_id);

CREATE TABLE telegram_prompts (
    flow_id    TEXT NOT NULL,
    chat_id    INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    sent_at    INTEGER NOT NULL,
    PRIMARY KEY (flow_id, chat_id, message_id)
) STRICT;

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
