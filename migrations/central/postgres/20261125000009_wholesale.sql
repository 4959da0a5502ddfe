-- What each reseller owes the platform per period: its customers' usage at the wholesale rates frozen on
-- each session (less its discount), active subscriptions at wholesale, the platform fee and any commission
-- on retail revenue. One invoice per (tenant, period); numbers from a central gapless counter.
CREATE TABLE wholesale_invoices (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL REFERENCES tenants(id),
    period               TEXT NOT NULL,
    period_start         BIGINT NOT NULL,
    period_end           BIGINT NOT NULL,
    number               BIGINT NOT NULL UNIQUE,
    -- finalised | paid | void
    status               TEXT NOT NULL,
    currency             TEXT NOT NULL,
    retail_minor         BIGINT NOT NULL,
    usage_minor          BIGINT NOT NULL,
    discount_minor       BIGINT NOT NULL,
    subscriptions_minor  BIGINT NOT NULL,
    platform_fee_minor   BIGINT NOT NULL,
    commission_minor     BIGINT NOT NULL,
    total_minor          BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    emailed_at           BIGINT,
    paid_at              BIGINT,
    UNIQUE (tenant_id, period)
);

CREATE TABLE wholesale_lines (
    id            TEXT PRIMARY KEY,
    invoice_id    TEXT NOT NULL REFERENCES wholesale_invoices(id),
    position      BIGINT NOT NULL,
    description   TEXT NOT NULL,
    amount_minor  BIGINT NOT NULL,
    UNIQUE (invoice_id, position)
);

CREATE TABLE central_counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO central_counters (name, value) VALUES ('wholesale_number', 0);
