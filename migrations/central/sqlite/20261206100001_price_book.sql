-- The platform's wholesale price book (issue 14): what each plan costs a reseller per hour, effective-dated.
-- Before this, wholesale prices were copied into each tenant's `plans` table at creation and could never
-- change; that column is now only the seed's reference, and this table is the source.
--
-- A row says: from `effective_at` (ms UTC) on, plan `plan_code` costs `per_hour` (an exact decimal, read in
-- the storefront's currency) for everyone in `scope_kind`/`scope`:
--   base   scope ''            every storefront
--   tier   scope <tier name>   storefronts of that reseller tier (an override of the base book)
--   tenant scope <tenant id>   one storefront (an override of its tier and the base book)
-- The most specific scope with a row in force wins; `per_hour` NULL ends an override from that time (the
-- wider scope applies again). Rows are never updated once in force: a change is a new row, and a session
-- freezes the rate resolved at its start, so history never moves. A scheduled row (effective in the future)
-- may be replaced or withdrawn until it takes effect; one row per scope and instant.
CREATE TABLE wholesale_prices (
    id            TEXT PRIMARY KEY,
    plan_code     TEXT NOT NULL,
    scope_kind    TEXT NOT NULL,
    scope         TEXT NOT NULL DEFAULT '',
    per_hour      TEXT,
    effective_at  INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (plan_code, scope_kind, scope, effective_at)
);
CREATE INDEX wholesale_prices_effective ON wholesale_prices (effective_at);

-- The base book as the plans were seeded (domain::plan), in force since the beginning of time: nothing
-- changes for anyone until an admin schedules a price.
INSERT INTO wholesale_prices (id, plan_code, scope_kind, scope, per_hour, effective_at, created_by, created_at) VALUES
    ('seed-developer-basic', 'developer-basic', 'base', '', '0.10', 0, 'seed', 0),
    ('seed-developer-pro', 'developer-pro', 'base', '', '0.20', 0, 'seed', 0),
    ('seed-developer-enterprise', 'developer-enterprise', 'base', '', '0.40', 0, 'seed', 0),
    ('seed-business-basic', 'business-basic', 'base', '', '0.14', 0, 'seed', 0),
    ('seed-business-pro', 'business-pro', 'base', '', '0.28', 0, 'seed', 0),
    ('seed-business-enterprise', 'business-enterprise', 'base', '', '0.56', 0, 'seed', 0);

-- Reseller tiers, defined by the admin (`tenants.reseller_tier` names one). The four the platform started
-- with; more can be added on /admin/prices.
CREATE TABLE reseller_tiers (
    name        TEXT PRIMARY KEY,
    label       TEXT NOT NULL,
    sort_order  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
INSERT INTO reseller_tiers (name, label, sort_order, created_at) VALUES
    ('standard', 'Standard', 0, 0),
    ('silver', 'Silver', 1, 0),
    ('gold', 'Gold', 2, 0),
    ('platinum', 'Platinum', 3, 0);
