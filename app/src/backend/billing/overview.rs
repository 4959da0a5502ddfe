//! What the billing pages show, each read in one call: the customer's billing page (`/billing`), the
//! reseller's money page (`/manage/billing`) and the platform admin's billing page (`/admin/billing`).
//!
//! Every amount comes from `domain::billing::window_lines`, the function invoices are written with.

use std::collections::HashSet;

use super::invoices::{self, Invoice};
use super::ledger::{self, Entry};
use super::run::{self, RunRecord};
use super::subscriptions::{self, Subscription, SubscriptionPlan};
use super::usage::{self, Session};
use super::wholesale::{self, WholesaleInvoice};
use super::{meter, payments};
use crate::backend::platform::db::{now, TenantDb};
use crate::backend::state::{AppState, Tenant};
use crate::backend::tenancy::registry;
use crate::backend::workspaces::catalog::{self, Plan};
use crate::backend::workspaces::price_book;
use crate::backend::{corrupt, BackendError};
use crate::domain::billing::{increments_in_window, lines_total, window_lines, UsageFact};
use crate::domain::ids::CustomerId;
use crate::domain::money::{Currency, Money, Rate};
use crate::domain::period::Period;
use crate::domain::time::Timestamp;

const DAY_MS: i64 = 86_400_000;

/// The customer's billing page.
#[derive(Clone, Debug)]
pub struct CustomerBilling {
    /// When this was read (the page's clock starts here).
    pub now: Timestamp,
    pub period: Period,
    pub balance: Money,
    /// The saved card's label; `None` without a card.
    pub card: Option<String>,
    /// Below the first low-balance threshold with no card.
    pub low_balance: bool,
    /// Credit ran out with no card: running workspaces were stopped.
    pub exhausted: bool,
    /// This period's usage at retail, for the live month-to-date figure.
    pub period_facts: Vec<UsageFact>,
    /// The newest 50 sessions of the last 30 days, newest first.
    pub history: Vec<Session>,
    /// Billed quarter-hours per day over the last 30 days, oldest first, labelled `MM-DD`.
    pub daily_increments: Vec<(String, i64)>,
    pub invoices: Vec<Invoice>,
    /// The latest 50 credit movements.
    pub ledger: Vec<Entry>,
    /// The storefront takes cards (it has Stripe keys).
    pub payments_enabled: bool,
    pub subscription_plans: Vec<SubscriptionPlan>,
    pub subscriptions: Vec<Subscription>,
    /// What each of the customer's workspaces is called (sessions are labelled with it).
    pub workspaces: Vec<crate::backend::workspaces::store::Label>,
    /// The rates of the sessions running now, added up; `None` when nothing runs.
    pub running_per_hour: Option<Rate>,
}

pub async fn customer(
    state: &AppState,
    tenant: &Tenant,
    customer: CustomerId,
) -> Result<CustomerBilling, BackendError> {
    let t = now();
    let period = super::period_at(state, tenant.id, t).await?;
    let sessions = usage::customer_sessions(tenant.db.pool(), customer, period.start(), period.end()).await?;
    let balance = ledger::balance(&tenant.db, customer, tenant.currency).await?;
    let account = meter::account(tenant, customer).await?;
    let today = t.as_millis().div_euclid(DAY_MS);
    let since = Timestamp::from_millis((today - 29) * DAY_MS);
    let recent = usage::customer_sessions(tenant.db.pool(), customer, since, t.plus_millis(1)).await?;
    let daily_increments = (0..30)
        .map(|d| {
            let from = Timestamp::from_millis((today - 29 + d) * DAY_MS);
            let to = from.plus_millis(DAY_MS);
            let n: i64 = recent.iter().map(|s| increments_in_window(s.started_at, s.ended_at, t, from, to)).sum();
            let (_, m, day) = crate::domain::period::civil_from_days(today - 29 + d);
            (format!("{m:02}-{day:02}"), n)
        })
        .collect();
    let mut history: Vec<Session> = recent.iter().rev().take(50).cloned().collect();
    history.sort_by_key(|s| std::cmp::Reverse(s.started_at));
    let running = recent.iter().filter(|s| s.ended_at.is_none()).map(|s| s.retail.amount_per_hour());
    let running: rust_decimal::Decimal = running.sum();
    let running_per_hour = Rate::per_hour(running, tenant.currency).ok().filter(|r| !r.amount_per_hour().is_zero());
    let has_card = account.payment_method_id.is_some();
    Ok(CustomerBilling {
        now: t,
        period,
        balance,
        card: account.card_label.clone().filter(|_| has_card),
        low_balance: !has_card && balance.minor() < meter::LOW_BALANCE_THRESHOLDS[0],
        exhausted: !has_card && account.exhausted_at.is_some(),
        period_facts: sessions.iter().map(Session::retail_fact).collect(),
        history,
        daily_increments,
        invoices: invoices::list_for(&tenant.db, customer).await?,
        ledger: ledger::entries(&tenant.db, customer, 50).await?,
        payments_enabled: payments::enabled(state, tenant).await?,
        subscription_plans: subscriptions::plans(&tenant.db).await?,
        subscriptions: subscriptions::of_customer(&tenant.db, customer).await?,
        workspaces: crate::backend::workspaces::store::labels(&tenant.db, customer).await?,
        running_per_hour,
    })
}

/// A workspace's page: what `workspaces::views` shows of it, with its usage this billing period (the page
/// ticks "this period" from it).
pub async fn workspace_page(
    state: &AppState,
    tenant: &Tenant,
    customer: &crate::backend::identity::customers::Customer,
    id: &str,
) -> Result<crate::domain::workspace_view::WorkspaceDetail, crate::error::AppError> {
    let mut d = crate::backend::workspaces::views::detail(state, tenant, customer, id).await?;
    let period = super::period_at(state, tenant.id, d.server_now).await?;
    let workspace = d.card.id.to_string();
    let sessions = usage::customer_sessions(tenant.db.pool(), customer.id, period.start(), period.end()).await?;
    d.period = Some(crate::domain::workspace_view::PeriodSoFar {
        label: period.to_string(),
        start: period.start(),
        end: period.end(),
        facts: sessions.iter().filter(|s| s.workspace_id == workspace).map(Session::retail_fact).collect(),
        currency: tenant.currency,
    });
    Ok(d)
}

/// The reseller's money page.
#[derive(Clone, Debug)]
pub struct ResellerBilling {
    pub currency: Currency,
    /// The last six periods, oldest first, the current one last.
    pub months: Vec<Month>,
    /// How many customers the storefront has.
    pub customers: i64,
    /// Up to 200 customers, biggest spenders this period first.
    pub customer_rows: Vec<CustomerFigures>,
    /// Every plan, in catalog order, with the wholesale price in force now (the price editor).
    pub plans: Vec<(Plan, Rate)>,
    /// Scheduled changes to the storefront's wholesale prices, with the margin each leaves.
    pub upcoming: Vec<crate::domain::price_book::UpcomingPrice>,
    /// The latest 24 wholesale invoices the platform sent, with their (description, amount) lines.
    pub invoices: Vec<(WholesaleInvoice, Vec<(String, Money)>)>,
    pub stripe_configured: bool,
    /// The storefront's payment terms for its customers.
    pub customer_terms: crate::domain::payment_terms::CustomerTerms,
}

/// One period's revenue against wholesale cost.
#[derive(Clone, Debug)]
pub struct Month {
    /// `2026-10`
    pub period: String,
    pub revenue: Money,
    pub wholesale: Money,
    pub margin: Money,
    /// Billed quarter-hours.
    pub increments: i64,
    /// Customers with usage in the period.
    pub customers: usize,
}

#[derive(Clone, Debug)]
pub struct CustomerFigures {
    pub email: String,
    pub name: String,
    pub balance: Money,
    /// Usage so far this period, at retail.
    pub this_period: Money,
}

pub async fn reseller(state: &AppState, tenant: &Tenant) -> Result<ResellerBilling, BackendError> {
    let t = now();
    let total = |facts: &[UsageFact], p: Period| -> Result<(Money, i64), BackendError> {
        let lines = window_lines(facts, p.start(), p.end(), t).map_err(|e| corrupt(e.to_string()))?;
        let sum = lines_total(&lines, tenant.currency).map_err(|e| corrupt(e.to_string()))?;
        Ok((sum, lines.iter().map(|l| l.increments).sum()))
    };
    let current = super::period_at(state, tenant.id, t).await?;
    let mut p = current;
    let mut months = Vec::new();
    for _ in 0..6 {
        let sessions = usage::all_sessions(&tenant.db, p.start(), p.end()).await?;
        let retail: Vec<_> = sessions.iter().map(Session::retail_fact).collect();
        let wholesale: Vec<_> = sessions.iter().map(Session::wholesale_fact).collect();
        let (revenue, increments) = total(&retail, p)?;
        let (cost, _) = total(&wholesale, p)?;
        let customers: HashSet<_> = sessions.iter().map(|s| s.customer_id.clone()).collect();
        months.push(Month {
            period: p.key(),
            margin: Money::from_minor(revenue.minor() - cost.minor(), tenant.currency),
            revenue,
            wholesale: cost,
            increments,
            customers: customers.len(),
        });
        p = p.previous();
    }
    months.reverse();

    let sessions = usage::all_sessions(&tenant.db, current.start(), current.end()).await?;
    let mut customer_rows = Vec::new();
    for (id, email, name) in customer_list(&tenant.db).await? {
        let facts: Vec<_> = sessions.iter().filter(|s| s.customer_id == id).map(Session::retail_fact).collect();
        let (this_period, _) = total(&facts, current)?;
        let cid = id.parse().map_err(|_| corrupt("customers.id"))?;
        let balance = ledger::balance(&tenant.db, cid, tenant.currency).await?;
        customer_rows.push(CustomerFigures { email, name, balance, this_period });
    }
    customer_rows.sort_by_key(|c| std::cmp::Reverse(c.this_period.minor()));
    customer_rows.truncate(200);

    let mut invoices = Vec::new();
    for w in wholesale::list(state, Some(tenant.id), 24).await? {
        let lines = wholesale::lines(state, &w.id)
            .await?
            .into_iter()
            .map(|(d, a)| (d, Money::from_minor(a, w.currency)))
            .collect();
        invoices.push((w, lines));
    }
    Ok(ResellerBilling {
        currency: tenant.currency,
        months,
        customers: customer_count(&tenant.db).await?,
        customer_rows,
        plans: with_wholesale(state, tenant).await?,
        upcoming: price_book::upcoming_for(state.central(), tenant).await?,
        invoices,
        stripe_configured: payments::enabled(state, tenant).await?,
        customer_terms: super::terms::get(state.central(), tenant.id).await?,
    })
}

/// Every plan of the storefront, in catalog order, with the wholesale price it pays for it now.
pub async fn with_wholesale(state: &AppState, tenant: &Tenant) -> Result<Vec<(Plan, Rate)>, BackendError> {
    let wholesale = price_book::wholesale_now(state, tenant).await?;
    catalog::list_all(&tenant.db)
        .await?
        .into_iter()
        .map(|p| -> Result<(Plan, Rate), BackendError> {
            let w = wholesale.iter().find(|(c, _)| *c == p.code).map(|(_, w)| *w);
            Ok((p, w.ok_or_else(|| corrupt("price book: plan without a price"))?))
        })
        .collect()
}

async fn customer_count(db: &TenantDb) -> Result<i64, BackendError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM customers").fetch_one(db.pool()).await?)
}

/// (id, email, name) of the first 1000 customers, oldest first.
async fn customer_list(db: &TenantDb) -> Result<Vec<(String, String, String)>, BackendError> {
    Ok(sqlx::query_as("SELECT id, email, name FROM customers ORDER BY created_at LIMIT 1000")
        .fetch_all(db.pool())
        .await?)
}

/// The platform admin's billing page: billing runs and wholesale invoices across tenants, each with its
/// tenant's slug (the id when the tenant has been deleted since).
#[derive(Clone, Debug)]
pub struct PlatformBilling {
    /// The latest 200 runs, newest first.
    pub runs: Vec<(String, RunRecord)>,
    /// The latest 200 wholesale invoices, newest period first.
    pub wholesale: Vec<(String, WholesaleInvoice)>,
}

pub async fn platform(state: &AppState) -> Result<PlatformBilling, BackendError> {
    let records = registry::list_records(state.central()).await?;
    let slug = |id: &str| records.iter().find(|r| r.id.to_string() == id).map_or(id.to_owned(), |r| r.slug.clone());
    let runs = run::records(state, 200).await?.into_iter().map(|r| (slug(&r.tenant_id), r)).collect();
    let wholesale = wholesale::list(state, None, 200).await?.into_iter().map(|w| (slug(&w.tenant_id), w)).collect();
    Ok(PlatformBilling { runs, wholesale })
}
