-- +goose Up
-- The secret a rotation replaced, sealed as secret_sealed is, and until
-- when deliveries are signed with it too (docs/design.md "Webhooks"): a
-- receiver swaps secrets without dropping a delivery. NULL: none.
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_sealed bytea;
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret_until timestamptz;

-- +goose Down
ALTER TABLE webhook_endpoints DROP COLUMN previous_secret_until;
ALTER TABLE webhook_endpoints DROP COLUMN previous_secret_sealed;
