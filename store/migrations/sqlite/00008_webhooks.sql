-- +goose Up
-- Webhook endpoints and their durable outbox (docs/design.md "Webhooks").
-- events is the filter as ",type,type," or ",*," (every type), so one LIKE
-- matches it; secret_sealed is the whsec_ secret sealed under
-- AUTHFLOW_SECRET_KEY, as TOTP secrets are.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    events          TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    secret_sealed   BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    disabled_at     INTEGER,
    disabled_reason TEXT NOT NULL DEFAULT ''
) STRICT;

-- One row per event and matching endpoint, written in the transaction that
-- adds the event: the outbox the endpoint's workflow reads in event_seq
-- order. status is pending (not yet delivered, or retried by an admin),
-- delivered or failed (the endpoint was disabled first).
CREATE TABLE webhook_deliveries (
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_seq       INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    last_attempt_at INTEGER,
    delivered_at    INTEGER,
    PRIMARY KEY (endpoint_id, event_seq)
) STRICT;
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (endpoint_id, status, event_seq);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_seq);

-- Every attempt of a delivery, for GET /v1/admin/webhooks/{id}/deliveries.
CREATE TABLE webhook_attempts (
    endpoint_id TEXT NOT NULL,
    event_seq   INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (endpoint_id, event_seq, n),
    FOREIGN KEY (endpoint_id, event_seq) REFERENCES webhook_deliveries (endpoint_id, event_seq) ON DELETE CASCADE
) STRICT;

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
