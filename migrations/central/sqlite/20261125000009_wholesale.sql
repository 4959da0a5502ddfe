-- What each reseller owes the platform per period: its customers' usage at the wholesale rates frozen on
-- each session (less its discount), active subscriptions at wholesale, the platform fee and any commission
-- on retail revenue. One invoice per (tenant, period); numbers from a central gapless counter.
CREATE TABLE wholesale_invoices (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants(id),
    period               TEXT NOT NULL,
    period_start         INTEGER NOT NULL,
    period_end           INTEGER NOT NULL,
    number               INTEGER NOT NULL UNIQUE,
    -- finalised | paid | void
    status               TEXT NOT NULL,
    currency             TEXT NOT NULL,
    retail_minor         INTEGER NOT NULL,
    usage_minor          INTEGER NOT NULL,
    discount_minor       INTEGER NOT NULL,
    subscriptions_minor  INTEGER NOT NULL,
    platform_fee_minor   INTEGER NOT NULL,
    commission_minor     INTEGER NOT NULL,
    total_minor          INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    emailed_at           INTEGER,
    paid_at              INTEGER,
    UNIQUE (tenant_id, period)
);

CREATE TABLE wholesale_lines (
    id            TEXT PRIMARY KEY,
    invoice_id    TEXT NOT NULL REFERENCES wholesale_invoices(id),
    position      INTEGER NOT NULL,
    description   TEXT NOT NULL,
    amount_minor  INTEGER NOT NULL,
    UNIQUE (invoice_id, position)
);

CREATE TABLE central_counters (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
);
INSERT INTO central_counters (name, value) VALUES ('wholesale_number', 0);
