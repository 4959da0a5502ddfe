-- Monthly fixed-price plans (a VPS, say) beside the hourly workspaces, each with a retail and a wholesale
-- price. A subscription freezes both prices when it starts; each period bills the share of the month it
-- was active in, rounded once.
CREATE TABLE subscription_plans (
    code                     TEXT PRIMARY KEY,
    name                     TEXT NOT NULL,
    description              TEXT NOT NULL,
    retail_monthly_minor     INTEGER NOT NULL,
    wholesale_monthly_minor  INTEGER NOT NULL,
    currency                 TEXT NOT NULL,
    active                   INTEGER NOT NULL DEFAULT 1,
    sort_order               INTEGER NOT NULL,
    CHECK (retail_monthly_minor >= wholesale_monthly_minor)
);

CREATE TABLE subscriptions (
    id                       TEXT PRIMARY KEY,
    customer_id              TEXT NOT NULL REFERENCES customers(id),
    plan_code                TEXT NOT NULL REFERENCES subscription_plans(code),
    -- The order form's one-time key: a double submit finds the first subscription.
    order_key                TEXT NOT NULL,
    -- active | cancelled
    status                   TEXT NOT NULL,
    started_at               INTEGER NOT NULL,
    ended_at                 INTEGER,
    retail_monthly_minor     INTEGER NOT NULL,
    wholesale_monthly_minor  INTEGER NOT NULL,
    currency                 TEXT NOT NULL,
    UNIQUE (customer_id, order_key)
);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);

-- Exactly once: each (subscription, period) is billed by one invoice line.
CREATE TABLE billed_subscription_periods (
    subscription_id  TEXT NOT NULL REFERENCES subscriptions(id),
    period           TEXT NOT NULL,
    line_id          TEXT NOT NULL REFERENCES invoice_lines(id),
    amount_minor     INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, period)
);
