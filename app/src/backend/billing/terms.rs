//! A storefront's payment terms for its own customers (when an invoice left due must be paid, how long an
//! overdue customer may still order), kept with the tenant in the central database and set by its staff;
//! and the reminders about invoices left due, queued by the billing scheduler.

use std::net::IpAddr;

use crate::backend::billing::{invoices, notify};
use crate::backend::platform::audit::{self, Actor};
use crate::backend::platform::db::{now, CentralDb};
use crate::backend::state::{AppState, Tenant};
use crate::backend::{corrupt, BackendError};
use crate::domain::ids::TenantId;
use crate::domain::payment_terms::{reminder_due, CustomerTerms};

pub async fn get(central: &CentralDb, tenant: TenantId) -> Result<CustomerTerms, BackendError> {
    let (due, grace): (i64, i64) =
        sqlx::query_as("SELECT customer_terms_days, customer_grace_days FROM tenants WHERE id = $1")
            .bind(tenant.to_string())
            .fetch_one(central.pool())
            .await?;
    Ok(CustomerTerms {
        due_days: u32::try_from(due).map_err(|_| corrupt("tenants.customer_terms_days"))?,
        grace_days: u32::try_from(grace).map_err(|_| corrupt("tenants.customer_grace_days"))?,
    })
}

/// Sets the terms (for invoices finalised from now on; earlier ones keep their due dates), recorded in the
/// audit log.
pub async fn save_by(
    state: &AppState,
    ip: Option<IpAddr>,
    actor: &Actor<'_>,
    tenant: TenantId,
    terms: CustomerTerms,
) -> Result<(), BackendError> {
    sqlx::query("UPDATE tenants SET customer_terms_days = $1, customer_grace_days = $2 WHERE id = $3")
        .bind(i64::from(terms.due_days))
        .bind(i64::from(terms.grace_days))
        .bind(tenant.to_string())
        .execute(state.central().pool())
        .await?;
    let detail = format!("due in {} days, orders refused {} days after", terms.due_days, terms.grace_days);
    audit::record_by(state.central(), ip, actor, Some(tenant), "customer_terms.changed", &detail).await?;
    Ok(())
}

/// Queues the reminders now due about the storefront's invoices left due (each at most once: the outbox
/// drops a repeated key, and the invoice remembers the last one queued). Returns how many were queued.
pub async fn remind(state: &AppState, tenant: &Tenant) -> Result<usize, BackendError> {
    let t = now();
    let mut queued = 0;
    for inv in invoices::open_with_due_date(&tenant.db).await? {
        let Some(due_at) = inv.due_at else { continue };
        let Some(reminder) = reminder_due(due_at, t, inv.reminders_sent) else { continue };
        // Queued first, then remembered: a crash between the two queues the same key again, which the outbox
        // drops.
        notify::invoice_reminder(state, tenant, &inv, reminder).await?;
        if invoices::mark_reminded(&tenant.db, &inv.id, reminder.number()).await? {
            queued += 1;
        }
    }
    Ok(queued)
}
