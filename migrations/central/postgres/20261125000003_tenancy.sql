-- Multi-tenancy: each reseller's lifecycle, domains, billing terms and branding, plus the people who run
-- the platform (admins) and the storefronts (staff), and their browser sessions.

-- creating | active | suspended | failed | deleting. A tenant is routed only when active (or suspended,
-- which shows a notice); the others are visible to admins only.
ALTER TABLE tenants ADD COLUMN owner_email TEXT NOT NULL DEFAULT '';
-- The last completed step of the creation sequence (validated, database, migrated, seeded, branded, done);
-- a failed creation resumes after it.
ALTER TABLE tenants ADD COLUMN creation_step TEXT NOT NULL DEFAULT 'done';
ALTER TABLE tenants ADD COLUMN last_error TEXT;
ALTER TABLE tenants ADD COLUMN trial_ends_at BIGINT;
ALTER TABLE tenants ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
-- Billing terms. Percentages are basis points (1250 = 12.50 %); the fee is in minor units.
ALTER TABLE tenants ADD COLUMN reseller_tier TEXT NOT NULL DEFAULT 'standard';
ALTER TABLE tenants ADD COLUMN wholesale_discount_bp BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN platform_fee_minor BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN commission_bp BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN billing_cycle_day BIGINT NOT NULL DEFAULT 1;

-- Bumped by every change that affects routing or branding, so each server's cached map can tell it is stale.
CREATE TABLE registry_version (
    id       BIGINT PRIMARY KEY,
    version  BIGINT NOT NULL
);
INSERT INTO registry_version (id, version) VALUES (1, 1);

-- Custom domains. Unique across all tenants (the primary key); routed only once verified.
CREATE TABLE tenant_domains (
    domain           TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    -- primary | alias
    kind             TEXT NOT NULL,
    verify_token_id  TEXT NOT NULL,
    verify_token     TEXT NOT NULL,
    verified_at      BIGINT,
    -- dns | http | admin
    verified_by      TEXT,
    last_check_at    BIGINT,
    last_check_error TEXT,
    -- When the TLS proxy first asked for a certificate (our answer was yes).
    tls_asked_at     BIGINT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX tenant_domains_tenant ON tenant_domains (tenant_id);

CREATE TABLE tenant_branding (
    tenant_id        TEXT PRIMARY KEY REFERENCES tenants(id),
    company_name     TEXT NOT NULL,
    primary_color    TEXT NOT NULL,
    secondary_color  TEXT NOT NULL,
    support_email    TEXT NOT NULL DEFAULT '',
    support_phone    TEXT NOT NULL DEFAULT '',
    from_email       TEXT NOT NULL DEFAULT '',
    from_name        TEXT NOT NULL DEFAULT '',
    -- Already sanitised: re-serialised from an allow-list, never the reseller's text as typed.
    custom_css       TEXT NOT NULL DEFAULT '',
    logo_sha         TEXT,
    favicon_sha      TEXT,
    -- Part of every stylesheet URL and ETag.
    version          BIGINT NOT NULL DEFAULT 1,
    updated_at       BIGINT NOT NULL
);

-- Logos and favicons, re-encoded as PNG by us, addressed by tenant and content hash.
CREATE TABLE tenant_assets (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    sha256      TEXT NOT NULL,
    png_base64  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, sha256)
);

CREATE TABLE platform_admins (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- Reseller staff: owner | admin, per tenant.
CREATE TABLE staff (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants(id),
    email          TEXT NOT NULL,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    UNIQUE (tenant_id, email)
);

-- Admin and staff sessions. Only a hash of the cookie is stored; a staff session names its tenant and is
-- honoured on that tenant's hosts only.
CREATE TABLE central_sessions (
    token_hash   TEXT PRIMARY KEY,
    -- admin | staff
    kind         TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    tenant_id    TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX central_sessions_user ON central_sessions (user_id);
