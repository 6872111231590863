-- +goose Up
-- The deliveries still to make, for the worker's relay, which asks every
-- second which endpoints have some (docs/design.md "Webhooks"): delivered
-- and failed rows pile up, pending ones stay few, so the index holds only
-- those.
CREATE INDEX webhook_deliveries_waiting_idx ON webhook_deliveries (endpoint_id, event_seq) WHERE status = 'pending';

-- +goose Down
DROP INDEX webhook_deliveries_waiting_idx;
