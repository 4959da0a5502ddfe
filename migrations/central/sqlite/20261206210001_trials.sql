-- Trials that work (issue 14, item 2). A tenant created with trial_days has trial_ends_at (already
-- there) and billing_status 'trial'. At the end, domain::tenant_billing::decide converts it (a card saved
-- with the platform) or suspends it (none) until a card is saved or the admin extends the trial.

-- When the trial converted to paying; NULL while it has not (or there is no trial). Once set, the trial is
-- never decided again.
ALTER TABLE tenants ADD COLUMN trial_converted_at INTEGER;
-- Reminders sent before the end (the number of the last domain::tenant_billing::TrialReminder; 0: none).
-- An extension starts them again.
ALTER TABLE tenants ADD COLUMN trial_reminders_sent INTEGER NOT NULL DEFAULT 0;

-- Trials recorded before they did anything: those already over count as converted (nothing is taken
-- away from a tenant for a date that had no meaning when it was set); those still running are trials.
UPDATE tenants SET trial_converted_at = trial_ends_at
    WHERE trial_ends_at IS NOT NULL AND trial_ends_at <= CAST(strftime('%s', 'now') AS INTEGER) * 1000;
UPDATE tenants SET billing_status = 'trial'
    WHERE trial_ends_at IS NOT NULL AND trial_converted_at IS NULL AND billing_status = 'active';
