-- +goose Up
-- Webhook endpoints and their durable outbox (docs/design.md "Webhooks").
-- events is the filter as ",type,type," or ",*," (every type), so one LIKE
-- matches it; secret_sealed is the whsec_ secret sealed under
-- AUTHFLOW_SECRET_KEY, as TOTP secrets are.
CREATE TABLE webhook_endpoints (
    id              text PRIMARY KEY,
    url             text NOT NULL,
    events          text NOT NULL,
    description     text NOT NULL DEFAULT '',
    secret_sealed   bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    disabled_at     timestamptz,
    disabled_reason text NOT NULL DEFAULT ''
);

-- One row per event and matching endpoint, written in the transaction that
-- adds the event: the outbox the endpoint's workflow reads in event_seq
-- order. status is pending (not yet delivered, or retried by an admin),
-- delivered or failed (the endpoint was disabled first).
CREATE TABLE webhook_deliveries (
    endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_seq       bigint NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    status          text NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    last_status     integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL,
    last_attempt_at timestamptz,
    delivered_at    timestamptz,
    PRIMARY KEY (endpoint_id, event_seq)
);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (endpoint_id, status, event_seq);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_seq);

-- Every attempt of a delivery, for GET /v1/admin/webhooks/{id}/deliveries.
CREATE TABLE webhook_attempts (
    endpoint_id text NOT NULL,
    event_seq   bigint NOT NULL,
    n           integer NOT NULL,
    at          timestamptz NOT NULL,
    status_code integer NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT '',
    PRIMARY KEY (endpoint_id, event_seq, n),
    FOREIGN KEY (endpoint_id, event_seq) REFERENCES webhook_deliveries (endpoint_id, event_seq) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
