-- Metering, prepaid credit and customer invoices. Money in integer minor units; timestamps in ms UTC.

-- Prepaid credit: an append-only ledger (never updated or deleted); a customer's balance is its sum.
-- credit_balances keeps that sum beside it so that a debit is one conditional UPDATE: concurrent debits
-- queue on the row and can never take the balance below zero (the CHECK is the last line of defence).
CREATE TABLE credit_ledger (
    id            TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL REFERENCES customers(id),
    -- topup | usage | invoice_payment | refund | adjustment
    kind          TEXT NOT NULL,
    -- Positive adds credit, negative spends it.
    amount_minor  BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    -- What the entry is for (a checkout session, a metering step, an invoice). Unique, so a retried webhook,
    -- metering pass or payment is recorded once.
    reference     TEXT NOT NULL UNIQUE,
    memo          TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL
);
CREATE INDEX credit_ledger_customer ON credit_ledger (customer_id, created_at);

CREATE TABLE credit_balances (
    customer_id    TEXT PRIMARY KEY REFERENCES customers(id),
    balance_minor  BIGINT NOT NULL,
    CHECK (balance_minor >= 0)
);

-- Per customer: what metering has charged to credit for a period so far (the month-to-date amount it
-- last settled), and the credit state the page and the stopper act on.
CREATE TABLE usage_charges (
    customer_id    TEXT NOT NULL REFERENCES customers(id),
    period         TEXT NOT NULL,
    charged_minor  BIGINT NOT NULL,
    -- Usage that could not be charged (no credit left, no card): due on the invoice.
    uncharged_minor BIGINT NOT NULL DEFAULT 0,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (customer_id, period)
);

CREATE TABLE billing_accounts (
    customer_id          TEXT PRIMARY KEY REFERENCES customers(id),
    -- The customer's Stripe customer and default card (set once a checkout saved one).
    stripe_customer_id   TEXT,
    payment_method_id    TEXT,
    card_label           TEXT,
    -- The lowest low-balance threshold (minor units) already announced; reset by a top-up.
    low_balance_notified BIGINT,
    -- When the credit ran out with no card: running workspaces were warned then, and are stopped after the grace.
    exhausted_at         BIGINT,
    updated_at           BIGINT NOT NULL
);

-- Invoices and credit notes. Numbers are assigned when an invoice is finalised, from counters in the same
-- transaction, so they are sequential and gapless per tenant. A finalised invoice never changes except for
-- its payment state; corrections are credit notes.
CREATE TABLE invoices (
    id                    TEXT PRIMARY KEY,
    customer_id           TEXT NOT NULL REFERENCES customers(id),
    -- invoice | credit_note
    kind                  TEXT NOT NULL,
    corrects              TEXT REFERENCES invoices(id),
    period                TEXT NOT NULL,
    period_start          BIGINT NOT NULL,
    period_end            BIGINT NOT NULL,
    number                BIGINT UNIQUE,
    -- draft | finalised | paid | void
    status                TEXT NOT NULL,
    currency              TEXT NOT NULL,
    total_minor           BIGINT NOT NULL,
    -- Settled from prepaid credit (metering charges for the period, plus credit applied at issue).
    credit_applied_minor  BIGINT NOT NULL DEFAULT 0,
    -- Paid by card.
    card_paid_minor       BIGINT NOT NULL DEFAULT 0,
    payment_attempts      BIGINT NOT NULL DEFAULT 0,
    next_payment_at       BIGINT,
    last_payment_error    TEXT,
    memo                  TEXT NOT NULL DEFAULT '',
    -- When its email was queued (the outbox dedupes too; this makes a rerun report nothing to do).
    emailed_at            BIGINT,
    created_at            BIGINT NOT NULL,
    finalised_at          BIGINT,
    paid_at               BIGINT,
    voided_at             BIGINT
);
-- Exactly one invoice per customer per period.
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (customer_id, period) WHERE kind = 'invoice';
CREATE INDEX invoices_customer ON invoices (customer_id, created_at);

CREATE TABLE invoice_lines (
    id            TEXT PRIMARY KEY,
    invoice_id    TEXT NOT NULL REFERENCES invoices(id),
    position      BIGINT NOT NULL,
    workspace_id  TEXT,
    description   TEXT NOT NULL,
    -- The frozen hourly rate (exact decimal text), for usage lines.
    rate          TEXT,
    increments    BIGINT NOT NULL,
    amount_minor  BIGINT NOT NULL,
    -- The same usage at the frozen wholesale rates (what the reseller owes the platform for it).
    wholesale_minor BIGINT NOT NULL DEFAULT 0,
    UNIQUE (invoice_id, position)
);

-- Exactly once: each (usage session, period) segment is billed by one invoice line, ever.
CREATE TABLE billed_segments (
    usage_session_id  TEXT NOT NULL REFERENCES usage_sessions(id),
    period            TEXT NOT NULL,
    line_id           TEXT NOT NULL REFERENCES invoice_lines(id),
    increments        BIGINT NOT NULL,
    PRIMARY KEY (usage_session_id, period)
);

CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('invoice_number', 0);
