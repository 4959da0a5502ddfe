-- Kasm servers (zones), the platform's workspace templates, and the images each server offers.

-- One row per Kasm deployment. The server given by configuration (KASM_URL, or the built-in simulator) is
-- recorded as `default` with from_config = 1: its credentials stay in the environment, never here.
-- Others are added by an admin; their API secret is sealed (AEAD, bound to the row).
CREATE TABLE kasm_servers (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    zone            TEXT NOT NULL,
    base_url        TEXT NOT NULL,
    -- body (JSON credentials under /api/public/) | basic (HTTP Basic under /api/)
    auth_style      TEXT NOT NULL DEFAULT 'body',
    api_key         TEXT NOT NULL DEFAULT '',
    api_secret_enc  TEXT,
    insecure_tls    BIGINT NOT NULL DEFAULT 0,
    ca_pem          TEXT,
    from_config     BIGINT NOT NULL DEFAULT 0,
    enabled         BIGINT NOT NULL DEFAULT 1,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

-- The six tiers every storefront sells, managed by the platform admin. Each maps to a Kasm image and to the
-- Kasm group that holds it (customers of the plan join that group). Storefronts set their own retail prices.
CREATE TABLE plan_templates (
    code         TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    summary      TEXT NOT NULL,
    vcpu         BIGINT NOT NULL,
    ram_gb       BIGINT NOT NULL,
    -- Preinstalled applications, one per line.
    apps         TEXT NOT NULL,
    icon         TEXT NOT NULL,
    -- active | hidden (not orderable; running workspaces are left alone)
    status       TEXT NOT NULL DEFAULT 'active',
    sort_order   BIGINT NOT NULL,
    kasm_image   TEXT NOT NULL,
    kasm_group   TEXT NOT NULL,
    -- A pinned server for this plan; NULL = the tenant's pin, else the default server.
    kasm_server  TEXT REFERENCES kasm_servers(id),
    updated_at   BIGINT NOT NULL
);

-- What "sync images" last found on each server (get_images).
CREATE TABLE kasm_images (
    server_id      TEXT NOT NULL REFERENCES kasm_servers(id) ON DELETE CASCADE,
    image_id       TEXT NOT NULL,
    name           TEXT NOT NULL,
    friendly_name  TEXT NOT NULL,
    enabled        BIGINT NOT NULL,
    synced_at      BIGINT NOT NULL,
    PRIMARY KEY (server_id, image_id)
);

-- A tenant may pin all its workspaces to one server (a reseller selling only in one region).
ALTER TABLE tenants ADD COLUMN kasm_server TEXT REFERENCES kasm_servers(id);
