-- PostgreSQL servers for tenant databases (issue 15, item 4). The central database's own server is
-- "primary" and is not listed here; these are the others. New tenants are placed on the active server
-- (primary included) with the fewest tenants per unit of weight; a draining server takes no new tenants.
-- url: a PostgreSQL URL without a password (passwords live in the app servers' ~/.pgpass or PGPASSFILE,
-- never in the database); its database part is ignored, each tenant has its own database on it.
CREATE TABLE db_servers (
    name        TEXT NOT NULL PRIMARY KEY,
    url         TEXT NOT NULL,
    weight      BIGINT NOT NULL,
    state       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- The server a tenant's database is on: NULL is "primary" (tenants created before this existed).
ALTER TABLE tenants ADD COLUMN db_server TEXT;
-- Bumped whenever the tenant's database changes under its pools (a move pauses its writes, switches it to
-- the copy, or is rolled back): every app server then opens fresh connections to it.
ALTER TABLE tenants ADD COLUMN db_epoch BIGINT NOT NULL DEFAULT 0;

-- A tenant's database moving to another server: one row per tenant, kept when done as its history.
-- step: paused (its database takes no writes) -> copied -> switched (tenants.db_url points at the copy)
-- -> done (the old database dropped); or rolled_back. A move cut short resumes from its step.
-- counts: the verified row count of every table, as JSON, once copied.
CREATE TABLE tenant_moves (
    tenant_id    TEXT NOT NULL PRIMARY KEY,
    from_server  TEXT NOT NULL,
    to_server    TEXT NOT NULL,
    from_url     TEXT NOT NULL,
    to_url       TEXT NOT NULL,
    step         TEXT NOT NULL,
    counts       TEXT,
    error        TEXT,
    started_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
