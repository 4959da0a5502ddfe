-- Staff invitations, idle timeouts for admin/staff sessions, and impersonation.

-- An owner invites a colleague by email; the link (single use, 7 days) lets them choose a name and password.
CREATE TABLE staff_invites (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    email       TEXT NOT NULL,
    -- owner | admin
    role        TEXT NOT NULL,
    invited_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX staff_invites_tenant ON staff_invites (tenant_id);

ALTER TABLE central_sessions ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
UPDATE central_sessions SET last_seen_at = created_at;
-- Set when a platform admin is acting as this staff member: the admin's email.
ALTER TABLE central_sessions ADD COLUMN impersonator TEXT;

-- Short-lived, single-use handles that turn an admin's "act as" into a session on the tenant's own host.
CREATE TABLE impersonation_tokens (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    -- staff | customer
    target_kind TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    admin_email TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
