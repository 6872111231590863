-- +goose Up
-- Leases: a role only one process of several may hold at a time (the
-- Telegram bot's long poller: Telegram serves one getUpdates per bot). The
-- holder renews its row before expires_at; another process takes the role
-- only once the row has expired (store.Leases).
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE leases;
