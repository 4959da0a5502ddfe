-- Customer care: what a reseller does for (and to) their own customers from /manage/customers.

-- Suspended by the reseller, with the reason they gave (NULL = active). A suspended customer cannot order or
-- start workspaces; their running ones were stopped when the suspension began.
ALTER TABLE customers ADD COLUMN suspended_at BIGINT;
ALTER TABLE customers ADD COLUMN suspended_reason TEXT;
-- The customers page lists newest first, a page at a time: the index keeps a page an index walk, not a sort
-- of every customer.
CREATE INDEX customers_created ON customers (created_at, id);

-- The PaymentIntent that paid an invoice by card: a refund of it goes back through the same payment.
ALTER TABLE invoices ADD COLUMN card_payment_intent TEXT;
-- The one-time key of the form that issued a credit note: a retried submit finds the first one instead of
-- crediting twice.
ALTER TABLE invoices ADD COLUMN request_key TEXT;
CREATE UNIQUE INDEX invoices_request_key ON invoices (request_key);

-- Refunds to the card an invoice was paid with. Written `pending` in the credit note's own transaction, before
-- Stripe is asked (with this row's id as the idempotency key), so a refund interrupted at any point is
-- finished by the next attempt and never sent twice.
CREATE TABLE card_refunds (
    id               TEXT PRIMARY KEY,
    invoice_id       TEXT NOT NULL REFERENCES invoices(id),
    credit_note_id   TEXT NOT NULL UNIQUE REFERENCES invoices(id),
    payment_intent   TEXT NOT NULL,
    amount_minor     BIGINT NOT NULL,
    currency         TEXT NOT NULL,
    -- pending | refunded | failed (then the amount went to prepaid credit instead)
    status           TEXT NOT NULL,
    stripe_refund_id TEXT,
    failure          TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    CHECK (amount_minor > 0)
);
CREATE INDEX card_refunds_invoice ON card_refunds (invoice_id);
