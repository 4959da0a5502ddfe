-- The central database: which storefronts (tenants) exist and where their data lives, plus the job queue
-- shared by all of them. Timestamps are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    -- active | suspended
    status      TEXT NOT NULL DEFAULT 'active',
    -- The house tenant is EZSCALE's own storefront: never wholesale-billed.
    is_house    BIGINT NOT NULL DEFAULT 0,
    currency    TEXT NOT NULL DEFAULT 'USD',
    -- Where this tenant's database lives (a SQLite file URL or a PostgreSQL URL).
    db_url      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Durable background jobs. A job is claimed by setting a lease; a crashed worker's lease expires and the job
-- runs again, so every handler is written to be safe to re-run.
CREATE TABLE jobs (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    -- At most one live job per dedupe key (e.g. one provisioning job per workspace).
    dedupe_key   TEXT NOT NULL UNIQUE,
    -- queued | done | dead
    state        TEXT NOT NULL DEFAULT 'queued',
    -- Bumped when the job is enqueued again while it runs, so finishing the old run does not swallow it.
    generation   BIGINT NOT NULL DEFAULT 0,
    attempts     BIGINT NOT NULL DEFAULT 0,
    run_at       BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (state, run_at);
