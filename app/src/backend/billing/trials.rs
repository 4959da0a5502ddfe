//! A reseller's trial with the platform.
//!
//! A tenant created with `trial_days` starts in the `trial` billing status with `tenants.trial_ends_at`.
//! During the trial the platform fee is not charged (the part of a period inside the trial is free, the
//! rest prorated: `domain::tenant_billing::platform_fee_after_trial`); usage and subscriptions are still
//! billed at wholesale, because the platform's own Kasm costs run from the first session. The owner is
//! reminded a week and a day before the end. At the end the collection pass decides
//! (`collection::refresh_status`): with a card saved the trial converts (remembered in
//! `trial_converted_at`, so it is never decided again); without one the tenant is suspended until a card
//! is saved or the admin extends the trial. Running workspaces are never stopped for it.

use crate::backend::platform::audit::ByAdmin;
use crate::backend::platform::db::{now, CentralDb};
use crate::backend::state::AppState;
use crate::backend::tenancy::TenantError;
use crate::backend::BackendError;
use crate::domain::ids::TenantId;
use crate::domain::payment_terms::DAY_MS;
use crate::domain::tenant_billing::trial_reminder_due;
use crate::domain::time::Timestamp;

use super::collection::{self, day, mail_owner};

/// The longest extension the admin may give at once, in days.
pub const MAX_EXTENSION_DAYS: u32 = 365;

/// A tenant's trial as stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Trial {
    pub ends_at: Option<Timestamp>,
    /// When it converted to paying (`None`: not yet, or no trial).
    pub converted_at: Option<Timestamp>,
    /// The number of the last reminder sent before the end.
    pub reminders_sent: i64,
}

impl Trial {
    /// The end of a trial still to be decided (`None`: no trial, or converted).
    pub fn pending_end(&self) -> Option<Timestamp> {
        self.ends_at.filter(|_| self.converted_at.is_none())
    }
}

pub async fn get(central: &CentralDb, tenant: TenantId) -> Result<Trial, BackendError> {
    let row: Option<(Option<i64>, Option<i64>, i64)> =
        sqlx::query_as("SELECT trial_ends_at, trial_converted_at, trial_reminders_sent FROM tenants WHERE id = $1")
            .bind(tenant.to_string())
            .fetch_optional(central.pool())
            .await?;
    Ok(row.map_or_else(Trial::default, |(end, converted, sent)| Trial {
        ends_at: end.map(Timestamp::from_millis),
        converted_at: converted.map(Timestamp::from_millis),
        reminders_sent: sent,
    }))
}

/// Queues the reminder now due before the tenant's trial ends (a week before, a day before; each once, the
/// latest only after a gap). Returns how many (0 or 1).
pub async fn remind(state: &AppState, tenant: TenantId) -> Result<usize, BackendError> {
    let trial = get(state.central(), tenant).await?;
    let Some(end) = trial.pending_end() else { return Ok(0) };
    let Some(reminder) = trial_reminder_due(end, now(), trial.reminders_sent) else { return Ok(0) };
    let card = collection::account(state.central(), tenant).await?;
    let on = day(end);
    let subject = format!("Your trial ends on {on}");
    let mut lines = vec![format!("Your free trial of the platform ends on {on} (UTC).")];
    lines.push(match card.payment_method_id.and(card.card_label) {
        Some(label) => format!(
            "Your card {label} is saved: your storefront carries on without a break, the platform fee applies \
             from then and wholesale invoices are charged to the card."
        ),
        None => "No card is saved yet. Save one before then to carry on without a break: without one, your \
                 storefront stops taking new customer orders when the trial ends (running workspaces are not \
                 stopped)."
            .to_owned(),
    });
    // The end is in the key: an extended trial is reminded again.
    let key = format!("trial_reminder:{tenant}:{}:{}", end.as_millis(), reminder.number());
    mail_owner(state, tenant, "trial_reminder", key, &subject, &lines, "See your billing").await?;
    let marked = sqlx::query(
        "UPDATE tenants SET trial_reminders_sent = $1 WHERE id = $2 AND trial_reminders_sent < $1 AND trial_ends_at = $3",
    )
    .bind(reminder.number())
    .bind(tenant.to_string())
    .bind(end.as_millis())
    .execute(state.central().pool())
    .await?
    .rows_affected();
    Ok(usize::from(marked == 1))
}

/// The admin extends the tenant's trial by `days` (from its end, or from now when it has ended): audited,
/// emailed to the owner, and a tenant suspended for the trial's end is a trial again at once. Returns the
/// new end.
pub async fn extend(state: &AppState, by: ByAdmin<'_>, tenant: TenantId, days: &str) -> Result<Timestamp, TenantError> {
    let days = days
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|d| (1..=MAX_EXTENSION_DAYS).contains(d))
        .ok_or_else(|| TenantError::Invalid(format!("Extend by 1 to {MAX_EXTENSION_DAYS} days.")))?;
    let trial = get(state.central(), tenant).await?;
    if trial.converted_at.is_some() {
        return Err(TenantError::Conflict(
            "The trial has already converted to paying; there is nothing to extend.".into(),
        ));
    }
    let Some(end) = trial.ends_at else {
        return Err(TenantError::Conflict("This storefront has no trial to extend.".into()));
    };
    let new_end = end.max(now()).plus_millis(i64::from(days) * DAY_MS);
    // Conditional on the end read: two admins extending at once do not lose one another's days silently.
    let changed = sqlx::query(
        "UPDATE tenants SET trial_ends_at = $1, trial_reminders_sent = 0 \
         WHERE id = $2 AND trial_ends_at = $3 AND trial_converted_at IS NULL",
    )
    .bind(new_end.as_millis())
    .bind(tenant.to_string())
    .bind(end.as_millis())
    .execute(state.central().pool())
    .await?
    .rows_affected();
    if changed != 1 {
        return Err(TenantError::Conflict("The trial changed meanwhile; reload the page and try again.".into()));
    }
    by.record(state.central(), Some(tenant), "trial.extended", &format!("by {days} days, to {}", day(new_end))).await?;
    let subject = format!("Your trial is extended to {}", day(new_end));
    let lines = vec![format!("Good news: your free trial of the platform now ends on {} (UTC).", day(new_end))];
    let key = format!("trial_extended:{tenant}:{}", new_end.as_millis());
    mail_owner(state, tenant, "trial_extended", key, &subject, &lines, "See your billing").await?;
    collection::refresh_status(state, tenant).await?;
    Ok(new_end)
}
