-- When an invoice left due must be paid by, and the last reminder about it that was queued
-- (0 none, 1 "due soon", 2 "overdue", 3 "still overdue").
ALTER TABLE invoices ADD COLUMN due_at INTEGER;
ALTER TABLE invoices ADD COLUMN reminders_sent INTEGER NOT NULL DEFAULT 0;
-- The Checkout session ("Pay now") that paid it, so a repeated webhook or return records it once.
ALTER TABLE invoices ADD COLUMN paid_checkout TEXT;
UPDATE invoices SET due_at = finalised_at + 604800000 WHERE status = 'finalised' AND finalised_at IS NOT NULL;
CREATE INDEX invoices_open ON invoices (status, due_at);
