//! Metering against prepaid credit, as usage accrues.
//!
//! Each pass (every minute, and after downtime: it recomputes, so nothing is lost) takes each customer's
//! month-to-date amount — `window_lines` over the period so far, the invoice's own function — and charges
//! what is new to their credit. The ledger reference is the cumulative amount, so a repeated or concurrent
//! pass records each step once. What credit cannot cover is kept as `uncharged` (due on the invoice, paid by
//! card). A customer with no card whose credit has run out is warned and their running workspaces are
//! stopped at once: the only usage past zero is the increment that had already started.
//!
//! Low-balance alerts (email + the page's banner) go out once per threshold and per top-up.

use super::ledger::{self, EntryKind};
use super::usage::{self, Session};
use crate::backend::billing::notify;
use crate::backend::platform::db::now;
use crate::backend::platform::loops::Loop;
use crate::backend::state::{AppState, Tenant};
use crate::backend::{corrupt, workspaces::provisioning, workspaces::store, BackendError};
use crate::domain::billing::{line_amount, lines_total, window_lines};
use crate::domain::ids::CustomerId;
use crate::domain::money::Money;
use crate::domain::period::Period;
use crate::domain::time::Timestamp;
use crate::domain::workspace::{Action, WorkspaceState};

/// Balances under which customers are told, in minor units (5.00 and 1.00).
pub const LOW_BALANCE_THRESHOLDS: [i64; 2] = [500, 100];
/// The least credit that lets a customer without a card order a workspace (5.00).
pub const MIN_CREDIT_TO_ORDER: i64 = 500;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeterReport {
    pub customers: usize,
    /// Charged to credit by this pass.
    pub charged_minor: i64,
    /// Newly due on invoices (credit could not cover it).
    pub uncharged_minor: i64,
    /// Workspaces stopped because credit ran out.
    pub stopped: usize,
    /// Low-balance or out-of-credit notices queued.
    pub notices: usize,
}

/// A customer's billing account (card, alert state).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    pub stripe_customer_id: Option<String>,
    pub payment_method_id: Option<String>,
    pub card_label: Option<String>,
    pub low_balance_notified: Option<i64>,
    pub exhausted_at: Option<Timestamp>,
}

pub async fn account(tenant: &Tenant, customer: CustomerId) -> Result<Account, BackendError> {
    let row = sqlx::query_as::<_, AccountRow>(
        "SELECT stripe_customer_id, payment_method_id, card_label, low_balance_notified, exhausted_at \
         FROM billing_accounts WHERE customer_id = $1",
    )
    .bind(customer.to_string())
    .fetch_optional(tenant.db.pool())
    .await?;
    Ok(row.map(Account::from).unwrap_or_default())
}

/// A `billing_accounts` row as stored.
#[derive(sqlx::FromRow)]
struct AccountRow {
    stripe_customer_id: Option<String>,
    payment_method_id: Option<String>,
    card_label: Option<String>,
    low_balance_notified: Option<i64>,
    exhausted_at: Option<i64>,
}

impl From<AccountRow> for Account {
    fn from(r: AccountRow) -> Account {
        Account {
            stripe_customer_id: r.stripe_customer_id,
            payment_method_id: r.payment_method_id,
            card_label: r.card_label,
            low_balance_notified: r.low_balance_notified,
            exhausted_at: r.exhausted_at.map(Timestamp::from_millis),
        }
    }
}

/// Why a customer may not order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MayNotOrder {
    /// The storefront suspended the account.
    Suspended,
    /// Neither a saved card nor this much credit.
    NeedsCredit(Money),
}

/// Whether the customer may order something that runs up charges (a workspace, a subscription): never
/// while suspended; a saved card is enough on its own; prepaid customers need some credit to start with.
pub async fn may_order(tenant: &Tenant, customer: CustomerId) -> Result<Result<(), MayNotOrder>, BackendError> {
    if crate::backend::identity::customers::get(&tenant.db, customer).await?.is_none_or(|c| c.suspended) {
        return Ok(Err(MayNotOrder::Suspended));
    }
    if account(tenant, customer).await?.payment_method_id.is_some() {
        return Ok(Ok(()));
    }
    let balance = ledger::balance(&tenant.db, customer, tenant.currency).await?;
    if balance.minor() < MIN_CREDIT_TO_ORDER {
        return Ok(Err(MayNotOrder::NeedsCredit(Money::from_minor(MIN_CREDIT_TO_ORDER, tenant.currency))));
    }
    Ok(Ok(()))
}

async fn ensure_account(tenant: &Tenant, customer: CustomerId) -> Result<(), BackendError> {
    sqlx::query(
        "INSERT INTO billing_accounts (customer_id, updated_at) VALUES ($1, $2) ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(customer.to_string())
    .bind(now().as_millis())
    .execute(tenant.db.pool())
    .await?;
    Ok(())
}

/// Adds prepaid credit (a top-up paid by card, or an admin's adjustment) once per `reference`, and
/// re-arms the low-balance alerts. `true` when recorded now.
pub async fn top_up(
    tenant: &Tenant,
    customer: CustomerId,
    amount: Money,
    kind: EntryKind,
    reference: &str,
    memo: &str,
) -> Result<bool, BackendError> {
    let posted = ledger::post(&tenant.db, customer, kind, amount, reference, memo, now()).await?;
    if posted == ledger::Posted::Done && amount.minor() > 0 {
        ensure_account(tenant, customer).await?;
        sqlx::query(
            "UPDATE billing_accounts SET low_balance_notified = NULL, exhausted_at = NULL, updated_at = $1 \
             WHERE customer_id = $2",
        )
        .bind(now().as_millis())
        .bind(customer.to_string())
        .execute(tenant.db.pool())
        .await?;
    }
    Ok(posted == ledger::Posted::Done)
}

/// Records the customer's saved card (from a completed checkout).
pub async fn save_card(
    tenant: &Tenant,
    customer: CustomerId,
    stripe_customer: &str,
    payment_method: Option<(&str, &str)>,
) -> Result<(), BackendError> {
    ensure_account(tenant, customer).await?;
    sqlx::query(
        "UPDATE billing_accounts SET stripe_customer_id = $1, payment_method_id = COALESCE($2, payment_method_id), \
         card_label = COALESCE($3, card_label), exhausted_at = NULL, updated_at = $4 WHERE customer_id = $5",
    )
    .bind(stripe_customer)
    .bind(payment_method.map(|p| p.0))
    .bind(payment_method.map(|p| p.1))
    .bind(now().as_millis())
    .bind(customer.to_string())
    .execute(tenant.db.pool())
    .await?;
    Ok(())
}

/// One metering pass over a tenant.
pub async fn meter_tenant(state: &AppState, tenant: &Tenant, t: Timestamp) -> Result<MeterReport, BackendError> {
    let period = super::period_at(state, tenant.id, t).await?;
    let mut report = MeterReport::default();
    for customer in usage::customers_with_usage(&tenant.db, period.start(), t.plus_millis(1)).await? {
        report.customers += 1;
        meter_customer(state, tenant, customer, period, t, &mut report).await?;
    }
    Ok(report)
}

/// The month-to-date lines and total of a customer at `t` (what the page shows, what metering charges).
pub async fn month_to_date(
    tenant: &Tenant,
    customer: CustomerId,
    period: Period,
    t: Timestamp,
) -> Result<(Vec<Session>, Money), BackendError> {
    let sessions = usage::customer_sessions(tenant.db.pool(), customer, period.start(), period.end()).await?;
    let facts: Vec<_> = sessions.iter().map(Session::retail_fact).collect();
    let lines = window_lines(&facts, period.start(), period.end(), t).map_err(|e| corrupt(e.to_string()))?;
    let total = lines_total(&lines, tenant.currency).map_err(|e| corrupt(e.to_string()))?;
    Ok((sessions, total))
}

async fn meter_customer(
    state: &AppState,
    tenant: &Tenant,
    customer: CustomerId,
    period: Period,
    t: Timestamp,
    report: &mut MeterReport,
) -> Result<(), BackendError> {
    let (sessions, mtd) = month_to_date(tenant, customer, period, t).await?;
    let key = period.key();
    let mut tx = tenant.db.begin().await?;
    // The balance row first: every posting of this customer queues on it, so two passes cannot both charge.
    sqlx::query(
        "INSERT INTO credit_balances (customer_id, balance_minor) VALUES ($1, 0) ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(customer.to_string())
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE credit_balances SET balance_minor = balance_minor WHERE customer_id = $1")
        .bind(customer.to_string())
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query_as::<_, ChargesRow>(
        "SELECT charged_minor, uncharged_minor FROM usage_charges WHERE customer_id = $1 AND period = $2",
    )
    .bind(customer.to_string())
    .bind(&key)
    .fetch_optional(&mut *tx)
    .await?;
    let (charged, uncharged) = row.map_or((0, 0), |r| (r.charged_minor, r.uncharged_minor));
    let due = mtd.minor() - charged - uncharged;
    if due <= 0 {
        tx.rollback().await?;
        return Ok(());
    }
    let balance = ledger::balance_in(&mut tx, customer).await?;
    let take = balance.min(due).max(0);
    if take > 0 {
        ledger::post_in(
            &mut tx,
            customer,
            EntryKind::Usage,
            Money::from_minor(-take, tenant.currency),
            &format!("usage:{customer}:{key}:{}", charged + take),
            &format!("Usage {key}"),
            t,
        )
        .await?;
    }
    let short = due - take;
    sqlx::query(
        "INSERT INTO usage_charges (customer_id, period, charged_minor, uncharged_minor, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (customer_id, period) DO UPDATE SET \
         charged_minor = excluded.charged_minor, uncharged_minor = excluded.uncharged_minor, updated_at = excluded.updated_at",
    )
    .bind(customer.to_string())
    .bind(&key)
    .bind(charged + take)
    .bind(uncharged + short)
    .bind(t.as_millis())
    .execute(&mut *tx)
    .await?;
    state.failpoints().check("meter.charged")?;
    tx.commit().await?;
    report.charged_minor += take;
    report.uncharged_minor += short;

    let acct = account(tenant, customer).await?;
    let has_card = acct.payment_method_id.is_some();
    let after = balance - take;
    let episode = ledger::topup_count(&tenant.db, customer).await?;
    ensure_account(tenant, customer).await?;
    // Thresholds crossed since the last top-up, announced once each.
    for th in LOW_BALANCE_THRESHOLDS {
        if after < th && acct.low_balance_notified.is_none_or(|n| n > th) && !has_card {
            notify::low_balance(state, tenant, customer, Money::from_minor(after, tenant.currency), th, episode)
                .await?;
            sqlx::query("UPDATE billing_accounts SET low_balance_notified = $1 WHERE customer_id = $2")
                .bind(th)
                .bind(customer.to_string())
                .execute(tenant.db.pool())
                .await?;
            report.notices += 1;
        }
    }
    // Out of credit with no card: warn, and stop what runs (the increment already started is the only
    // usage past zero).
    if short > 0 && !has_card {
        let running: Vec<_> = sessions.iter().filter(|s| s.ended_at.is_none()).collect();
        if acct.exhausted_at.is_none() {
            sqlx::query(
                "UPDATE billing_accounts SET exhausted_at = $1 WHERE customer_id = $2 AND exhausted_at IS NULL",
            )
            .bind(t.as_millis())
            .bind(customer.to_string())
            .execute(tenant.db.pool())
            .await?;
            notify::low_balance(state, tenant, customer, Money::zero(tenant.currency), 0, episode).await?;
            report.notices += 1;
        }
        for s in running {
            let Ok(ws_id) = s.workspace_id.parse() else { continue };
            let Some(ws) = store::get(&tenant.db, ws_id).await? else { continue };
            if ws.state != WorkspaceState::Running {
                continue;
            }
            let Ok(next) = ws.state.apply(Action::Stop) else { continue };
            if store::transition(&tenant.db, ws_id, ws.state, next, t).await? {
                tracing::info!(workspace = %ws_id, customer = %customer, "credit exhausted; workspace stopped");
                provisioning::announce(state, tenant, &ws);
                provisioning::drive(state, tenant, ws_id).await?;
                report.stopped += 1;
            }
        }
    }
    Ok(())
}

/// What a customer's usage this period has been charged so far (`usage_charges`).
#[derive(sqlx::FromRow)]
struct ChargesRow {
    charged_minor: i64,
    uncharged_minor: i64,
}

/// What one more increment of every running workspace would cost (the page warns when credit is below it).
pub fn next_increment_cost(sessions: &[Session], currency: crate::domain::money::Currency) -> Money {
    sessions
        .iter()
        .filter(|s| s.ended_at.is_none())
        .filter_map(|s| line_amount(1, &s.retail).ok())
        .try_fold(Money::zero(currency), |acc, m| acc.checked_add(m))
        .unwrap_or(Money::zero(currency))
}

/// Runs metering every `interval` until shutdown, for every tenant, once across the cluster.
pub async fn run(state: AppState, interval: std::time::Duration, shutdown: tokio::sync::watch::Receiver<bool>) {
    let loops = state.loops();
    loops
        .run(state.central(), Loop::Meter, interval, shutdown, || async {
            match state.registry().entries().await {
                Ok(entries) => {
                    for e in entries {
                        let Ok(Some(tenant)) = state.tenant_by_id(e.id).await else { continue };
                        if let Err(err) = meter_tenant(&state, &tenant, now()).await {
                            tracing::warn!(error = %err, tenant = %tenant.slug, "metering pass failed; the next one catches up");
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "metering: listing tenants failed"),
            }
        })
        .await;
}
