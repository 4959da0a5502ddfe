-- The mail outbox: every message is written here first and delivered by a worker, so a slow or failing SMTP
-- server never blocks a request, and a message survives a restart. Timestamps are integer milliseconds.
--
-- No foreign key to tenants: platform mail has no tenant (NULL), and a tenant's deletion removes its rows
-- explicitly (tenant_admin) rather than being blocked by them.
CREATE TABLE outbox (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT,
    -- Chosen by the caller (e.g. verify:<tenant>:<customer>:<token-hash-prefix>); enqueueing the same key again
    -- is a no-op, so a retried request never sends a second copy.
    dedupe_key       TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    to_addr          TEXT NOT NULL,
    from_name        TEXT NOT NULL,
    -- Empty: the platform's default sender, with the tenant's name as display name.
    from_addr        TEXT NOT NULL,
    reply_to         TEXT,
    subject          TEXT NOT NULL,
    text_body        TEXT NOT NULL,
    html_body        TEXT NOT NULL,
    -- queued | sent | dead
    state            TEXT NOT NULL DEFAULT 'queued',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    -- A worker's claim; a crashed worker's lease lapses and the message is tried again.
    lease_owner      TEXT,
    lease_until      INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_tenant ON outbox (tenant_id, created_at);
