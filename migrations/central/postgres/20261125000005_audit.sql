-- Who did what, where and when: admin and reseller actions (tenants created, suspended or deleted; branding,
-- prices or terms changed; impersonation). Append-only.
CREATE TABLE audit_log (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    -- admin | staff | customer | system
    actor_kind  TEXT NOT NULL,
    actor       TEXT NOT NULL,
    tenant_id   TEXT,
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    ip          TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, at);
