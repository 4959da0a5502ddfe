-- One file sent with a message (an invoice's PDF). Stored with the message, so a retried delivery sends
-- exactly what was queued, even if the source changes later.
ALTER TABLE outbox ADD COLUMN attachment_name TEXT;
ALTER TABLE outbox ADD COLUMN attachment_type TEXT;
ALTER TABLE outbox ADD COLUMN attachment_body BYTEA;
