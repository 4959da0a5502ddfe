//! Money: prepaid credit, metering, customer invoices and the monthly billing run.
//!
//! - `ledger`: the append-only credit ledger; debits never overdraw.
//! - `usage`: the metered facts (usage sessions with their frozen rates) of a customer in a period.
//! - `meter`: charges month-to-date usage to credit as it accrues, announces low balances, and stops the
//!   running workspaces of a customer whose credit ran out with no card.
//! - `invoices`: invoices, lines, numbering, finalising, credit notes, voiding, CSV.
//! - `document`: the invoice document (`domain::invoice`) the invoice page, its PDF and its email are made from.
//! - `pdf`: invoices and wholesale bills as PDF files, written directly.
//! - `run`: the billing run of a tenant for a period — exactly once, resumable after a crash at any step.
//! - `subscriptions`: monthly fixed-price plans, prorated per period.
//! - `wholesale`: what each reseller owes the platform for the period, exactly once.
//! - `collection`: collecting wholesale invoices through the platform's own Stripe (saved card, "Pay now",
//!   dunning, reminders) exactly once, and the reseller's billing status (past due, suspended, resumed).
//! - `trials`: a reseller's trial: no platform fee during it, reminders before its end, the admin's
//!   extension (the end itself is decided with the billing status, in `collection`).
//! - `payments`: each storefront's Stripe: top-up checkout, saved card, invoice charges, refunds, webhooks,
//!   dunning.
//! - `refunds`: refunds to the card an invoice was paid with: written pending with their credit note, sent
//!   to Stripe once, credited instead when Stripe refuses.
//! - `notify`: the invoice, reminder, low-balance and failed-payment emails.
//! - `terms`: the storefront's payment terms for its customers (due dates, the order block) and the
//!   reminders about invoices left due.
//! - `orders`: ordering a workspace: for sale here, paid for (credit or card), placed, recorded once per
//!   order key, handed to provisioning. In billing because it is paying that decides.
//! - `overview`: what the billing pages show: the customer's, the reseller's and the platform admin's.
//!
//! All amounts come from `domain::billing::window_lines`, the same function the customer's page runs in the
//! browser for "so far this month".

pub mod collection;
pub mod document;
pub mod invoices;
pub mod ledger;
pub mod meter;
pub mod notify;
pub mod orders;
pub mod overview;
pub mod payments;
pub mod pdf;
pub mod refunds;
pub mod run;
pub mod subscriptions;
pub mod terms;
pub mod trials;
pub mod usage;
pub mod wholesale;

use crate::backend::state::AppState;
use crate::backend::BackendError;
use crate::domain::ids::TenantId;
use crate::domain::period::Period;

/// Reading the tenant's billing cycle day (central terms).
pub async fn cycle_day(state: &AppState, tenant: TenantId) -> Result<u32, BackendError> {
    let day: Option<i64> = sqlx::query_scalar("SELECT billing_cycle_day FROM tenants WHERE id = $1")
        .bind(tenant.to_string())
        .fetch_optional(state.central().pool())
        .await?;
    Ok(u32::try_from(day.unwrap_or(1)).ok().filter(|d| (1..=28).contains(d)).unwrap_or(1))
}

/// The tenant's period containing `t`.
pub async fn period_at(
    state: &AppState,
    tenant: TenantId,
    t: crate::domain::time::Timestamp,
) -> Result<Period, BackendError> {
    let day = cycle_day(state, tenant).await?;
    Period::containing(t, day).map_err(|e| crate::backend::corrupt(e.to_string()))
}
