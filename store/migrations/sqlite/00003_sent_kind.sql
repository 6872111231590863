-- +goose Up
-- What a sent message was, so that each send budget counts only its own
-- kind (docs/security.md "Send budgets"): "code" (to the account's own
-- email or verified phone), "enroll" (to a number not yet verified),
-- "prompt" (a Telegram login prompt), "notice" (never counted). ip is the
-- client that asked for an enrollment send.
ALTER TABLE sent_messages ADD COLUMN kind TEXT NOT NULL DEFAULT 'code';
ALTER TABLE sent_messages ADD COLUMN ip TEXT NOT NULL DEFAULT '';
UPDATE sent_messages SET kind = 'notice' WHERE channel IN ('email_notice', 'telegram_notice', 'event');
UPDATE sent_messages SET kind = 'prompt' WHERE channel = 'telegram';
UPDATE sent_messages SET kind = 'enroll' WHERE channel = 'sms' AND key LIKE 'enroll/%';
-- The hourly cap on every phone send, and the per-IP enrollment budget.
CREATE INDEX sent_messages_channel_sent_at_idx ON sent_messages (channel, sent_at);
CREATE INDEX sent_messages_ip_sent_at_idx ON sent_messages (ip, sent_at);

-- +goose Down
DROP INDEX sent_messages_ip_sent_at_idx;
DROP INDEX sent_messages_channel_sent_at_idx;
ALTER TABLE sent_messages DROP COLUMN ip;
ALTER TABLE sent_messages DROP COLUMN kind;
