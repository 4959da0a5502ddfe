-- Onboarding a reseller without shared passwords, and their own domains without the platform's help.

-- "Set your password" links for staff: the welcome link a new storefront's owner gets (no admin ever
-- chooses or sees that password) and the reset link any member can ask for. Single use; only the SHA-256
-- of the token is stored.
CREATE TABLE staff_password_tokens (
    token_hash  TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    staff_id    TEXT NOT NULL,
    -- welcome | reset
    purpose     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX staff_password_tokens_staff ON staff_password_tokens (staff_id);

-- When the reseller first saved or confirmed their retail prices (a step of the onboarding checklist).
ALTER TABLE tenants ADD COLUMN prices_reviewed_at INTEGER;

-- Resellers add their own domains; an unverified domain is checked again on a backing-off schedule (for
-- 72 hours after it was added), and its owner is emailed once when it goes live.
ALTER TABLE tenant_domains ADD COLUMN next_check_at INTEGER;
ALTER TABLE tenant_domains ADD COLUMN check_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenant_domains ADD COLUMN live_notified_at INTEGER;
CREATE INDEX tenant_domains_due ON tenant_domains (next_check_at);
