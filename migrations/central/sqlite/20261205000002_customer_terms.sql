-- A storefront's payment terms for its own customers: an invoice left due when it is finalised is due this
-- many days later; this many days past its due date, the customer can no longer order new workspaces
-- (running ones keep running until the reseller chooses to suspend).
ALTER TABLE tenants ADD COLUMN customer_terms_days INTEGER NOT NULL DEFAULT 7;
ALTER TABLE tenants ADD COLUMN customer_grace_days INTEGER NOT NULL DEFAULT 14;
