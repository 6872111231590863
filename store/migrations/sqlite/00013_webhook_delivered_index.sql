-- +goose Up
-- Delivered deliveries by when, for the relay's pruning past
-- AUTHFLOW_WEBHOOK_RETENTION (store.Webhooks.PruneWebhookDeliveries): the
-- pending and failed rows are never pruned, so the index leaves them out.
CREATE INDEX webhook_deliveries_delivered_idx ON webhook_deliveries (delivered_at) WHERE status = 'delivered';

-- +goose Down
DROP INDEX webhook_deliveries_delivered_idx;
