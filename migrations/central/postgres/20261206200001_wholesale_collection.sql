-- Collecting wholesale invoices through the platform's own Stripe account (issue 14, item 3).

-- The tenant's billing status: where it stands with the platform as a payer, apart from its lifecycle
-- (`status`: creating | active | suspended | failed | deleting, which decides whether it is served at all).
-- trial | active | past_due | suspended | cancelled; every change is made by one pure function
-- (domain::tenant_billing::decide), audited and emailed to the owner. past_due and suspended refuse new
-- customer orders on the storefront; running workspaces are never stopped for it.
-- (Parsed strictly as domain::tenant_billing::TenantBillingStatus, like every stored state.)
ALTER TABLE tenants ADD COLUMN billing_status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE tenants ADD COLUMN billing_status_at BIGINT;
-- The reseller's wholesale terms: a finalised wholesale invoice is due this many days later; unpaid this
-- many days past its due date the tenant is past due; this many days more and it is suspended.
ALTER TABLE tenants ADD COLUMN wholesale_due_days BIGINT NOT NULL DEFAULT 14;
ALTER TABLE tenants ADD COLUMN wholesale_grace_days BIGINT NOT NULL DEFAULT 7;
ALTER TABLE tenants ADD COLUMN wholesale_suspend_days BIGINT NOT NULL DEFAULT 14;

-- Collection state of each wholesale invoice. `next_payment_at`: when the saved card is (re)tried, per the
-- dunning schedule (NULL: not before a new card is saved). `paid_at` (already there) is set once, with the
-- PaymentIntent that paid it.
ALTER TABLE wholesale_invoices ADD COLUMN due_at BIGINT;
ALTER TABLE wholesale_invoices ADD COLUMN next_payment_at BIGINT;
ALTER TABLE wholesale_invoices ADD COLUMN payment_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE wholesale_invoices ADD COLUMN last_payment_error TEXT;
ALTER TABLE wholesale_invoices ADD COLUMN payment_intent TEXT;
ALTER TABLE wholesale_invoices ADD COLUMN reminders_sent BIGINT NOT NULL DEFAULT 0;
-- Invoices written before due dates existed: due 14 days after they were issued, charged at the next pass.
UPDATE wholesale_invoices SET due_at = created_at + 1209600000, next_payment_at = created_at
    WHERE due_at IS NULL AND status = 'finalised';

-- The reseller as a customer of the platform's Stripe account: its Stripe customer and saved card.
CREATE TABLE platform_billing_accounts (
    tenant_id           TEXT PRIMARY KEY REFERENCES tenants(id),
    stripe_customer_id  TEXT NOT NULL,
    payment_method_id   TEXT,
    card_label          TEXT,
    updated_at          BIGINT NOT NULL
);

-- Every off-session charge of a wholesale invoice, written (pending) before Stripe is called, with the
-- idempotency key it is sent with: a crash or a second runner resends the same key, and Stripe answers
-- with the first charge instead of making another. One row per (invoice, attempt).
CREATE TABLE wholesale_charges (
    invoice_id       TEXT NOT NULL REFERENCES wholesale_invoices(id),
    attempt          BIGINT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    amount_minor     BIGINT NOT NULL,
    -- pending | succeeded | failed
    state            TEXT NOT NULL,
    payment_intent   TEXT,
    error            TEXT,
    created_at       BIGINT NOT NULL,
    finished_at      BIGINT,
    PRIMARY KEY (invoice_id, attempt)
);
CREATE INDEX wholesale_invoices_collect ON wholesale_invoices (status, next_payment_at);
