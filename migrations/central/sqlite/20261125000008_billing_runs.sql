-- The state of billing runs, for the admin page and the scheduler: one row per (tenant, period), updated by
-- every run of it (the run itself is idempotent; this only records what happened).
CREATE TABLE billing_runs (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    period       TEXT NOT NULL,
    -- running | done | failed
    state        TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    -- The last run's report (JSON) or error.
    report       TEXT,
    error        TEXT,
    runs         INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, period)
);

-- Periodic work that should run on one server at a time (the billing scheduler): a lease per name.
CREATE TABLE scheduler_leases (
    name         TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    lease_until  INTEGER NOT NULL
);
