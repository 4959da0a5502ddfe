-- Customer accounts: email verification, one-time tokens (verification, password reset, email change) and
-- idle timeouts on sessions.

-- NULL until the customer opens the verification link; unverified accounts cannot order.
ALTER TABLE customers ADD COLUMN email_verified_at INTEGER;
-- Existing accounts (created before verification existed, e.g. seeded) count as verified.
UPDATE customers SET email_verified_at = created_at;

-- Sessions also expire after a period without use.
ALTER TABLE auth_sessions ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
UPDATE auth_sessions SET last_seen_at = created_at;
CREATE INDEX auth_sessions_customer ON auth_sessions (customer_id);

-- Single-use tokens sent by email. Only a hash of the token is stored.
CREATE TABLE auth_tokens (
    token_hash   TEXT PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    -- verify | reset | email_change
    purpose      TEXT NOT NULL,
    -- For email_change: the address being confirmed.
    new_email    TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);
CREATE INDEX auth_tokens_customer ON auth_tokens (customer_id, purpose);
