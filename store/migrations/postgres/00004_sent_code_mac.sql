-- +goose Up
-- The keyed MAC of the code a send carried, so that a retried send answers
-- with the code it sent even when that code was drawn at random (a flash
-- call's caller). Never the code itself.
ALTER TABLE sent_messages ADD COLUMN code_mac bytea;

-- +goose Down
ALTER TABLE sent_messages DROP COLUMN code_mac;
