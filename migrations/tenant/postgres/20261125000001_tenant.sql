-- One tenant's own database: its catalog, customers, workspaces and metered usage.
-- Money: integer minor units; rates: exact decimal text ("0.15" per hour); timestamps: integer ms UTC.

CREATE TABLE plans (
    code               TEXT PRIMARY KEY,           -- developer-basic, business-pro, ...
    name               TEXT NOT NULL,
    summary            TEXT NOT NULL,
    vcpu               BIGINT NOT NULL,
    ram_gb             BIGINT NOT NULL,
    kasm_image         TEXT NOT NULL,              -- the Kasm image name this plan launches
    retail_per_hour    TEXT NOT NULL,              -- what the customer pays
    wholesale_per_hour TEXT NOT NULL,              -- what the tenant pays EZSCALE
    currency           TEXT NOT NULL,
    sort_order         BIGINT NOT NULL,
    active             BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE customers (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE,        -- stored lower-cased
    name              TEXT NOT NULL,
    password_hash     TEXT NOT NULL,               -- argon2id PHC string
    kasm_user_id      TEXT,                        -- set once the Kasm user exists
    kasm_username     TEXT,
    kasm_password_enc TEXT,                        -- AEAD-encrypted, bound to this row
    created_at        BIGINT NOT NULL
);

-- Signed-in browser sessions. Only a hash of the cookie value is stored.
CREATE TABLE auth_sessions (
    token_hash   TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE TABLE workspaces (
    id              TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL REFERENCES customers(id),
    plan_code       TEXT NOT NULL REFERENCES plans(code),
    -- The order form's one-time key: a double submit finds the first workspace instead of making a second.
    order_key       TEXT NOT NULL,
    state           TEXT NOT NULL,
    kasm_id         TEXT,
    kasm_url        TEXT,                          -- relative connect path from Kasm
    failure_reason  TEXT,                          -- readable, safe to show the customer
    -- When the current transition (order, start, stop) was requested: a stop closes the meter at this time.
    transition_at   BIGINT NOT NULL,
    -- A short lease so that only one worker at a time talks to Kasm about this workspace.
    sync_owner      TEXT,
    sync_lease_until BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (customer_id, order_key)
);
CREATE INDEX workspaces_customer ON workspaces (customer_id, created_at);
CREATE UNIQUE INDEX workspaces_kasm_id ON workspaces (kasm_id);

-- One contiguous running interval of a workspace, with the rates frozen when it began.
CREATE TABLE usage_sessions (
    id                 TEXT PRIMARY KEY,
    workspace_id       TEXT NOT NULL REFERENCES workspaces(id),
    started_at         BIGINT NOT NULL,
    ended_at           BIGINT,
    retail_per_hour    TEXT NOT NULL,
    wholesale_per_hour TEXT NOT NULL,
    currency           TEXT NOT NULL,
    billable_seconds   BIGINT,                    -- set when the session closes
    amount_minor       BIGINT,                    -- set when the session closes (retail)
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
-- At most one open session per workspace: a retried "open" can never start a second meter.
CREATE UNIQUE INDEX usage_sessions_one_open ON usage_sessions (workspace_id) WHERE ended_at IS NULL;
CREATE INDEX usage_sessions_workspace ON usage_sessions (workspace_id, started_at);
