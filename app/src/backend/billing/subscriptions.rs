//! Monthly fixed-price subscriptions (a VPS beside the hourly workspaces), with retail and wholesale
//! prices frozen when they start. Each period bills the share of the month a subscription was active,
//! rounded once (`domain::billing::prorated`).

use uuid::Uuid;

use crate::backend::platform::db::TenantDb;
use crate::backend::state::Tenant;
use crate::backend::{corrupt, BackendError, Result};
use crate::domain::billing::{overlap_ms, prorated};
use crate::domain::billing_state::SubscriptionStatus;
use crate::domain::ids::CustomerId;
use crate::domain::money::{Currency, Money};
use crate::domain::period::Period;
use crate::domain::time::Timestamp;

/// The seed's example: a VPS at 15.00 a month retail, 8.00 wholesale; and a larger one.
pub const SEED_PLANS: [(&str, &str, &str, i64, i64); 2] = [
    ("vps-basic", "VPS Basic", "2 vCPU, 4 GB RAM, 80 GB disk, billed monthly", 1_500, 800),
    ("vps-pro", "VPS Pro", "4 vCPU, 8 GB RAM, 160 GB disk, billed monthly", 3_000, 1_600),
];

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubscriptionPlan {
    pub code: String,
    pub name: String,
    pub description: String,
    pub retail_monthly: Money,
    pub wholesale_monthly: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subscription {
    pub id: String,
    pub customer_id: String,
    pub plan_code: String,
    pub status: SubscriptionStatus,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub retail_monthly: Money,
    pub wholesale_monthly: Money,
}

pub async fn seed_plans(db: &TenantDb, currency: Currency) -> Result<()> {
    for (i, (code, name, description, retail, wholesale)) in SEED_PLANS.iter().enumerate() {
        sqlx::query(
            "INSERT INTO subscription_plans (code, name, description, retail_monthly_minor, wholesale_monthly_minor, \
             currency, active, sort_order) VALUES ($1, $2, $3, $4, $5, $6, 1, $7) ON CONFLICT (code) DO NOTHING",
        )
        .bind(code)
        .bind(name)
        .bind(description)
        .bind(retail)
        .bind(wholesale)
        .bind(currency.code())
        .bind(i64::try_from(i).unwrap_or(0))
        .execute(db.pool())
        .await?;
    }
    Ok(())
}

pub async fn plans(db: &TenantDb) -> Result<Vec<SubscriptionPlan>> {
    let rows = sqlx::query_as::<_, PlanRow>(
        "SELECT code, name, description, retail_monthly_minor, wholesale_monthly_minor, currency \
         FROM subscription_plans WHERE active = 1 ORDER BY sort_order",
    )
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(SubscriptionPlan::try_from).collect()
}

/// A `subscription_plans` row as stored.
#[derive(sqlx::FromRow)]
struct PlanRow {
    code: String,
    name: String,
    description: String,
    retail_monthly_minor: i64,
    wholesale_monthly_minor: i64,
    currency: String,
}

impl TryFrom<PlanRow> for SubscriptionPlan {
    type Error = BackendError;

    fn try_from(r: PlanRow) -> Result<SubscriptionPlan> {
        let c = Currency::parse(&r.currency).map_err(|_| corrupt("subscription_plans.currency"))?;
        Ok(SubscriptionPlan {
            code: r.code,
            name: r.name,
            description: r.description,
            retail_monthly: Money::from_minor(r.retail_monthly_minor, c),
            wholesale_monthly: Money::from_minor(r.wholesale_monthly_minor, c),
        })
    }
}

/// Subscribes (once per order key); `None` when there is no such active plan.
pub async fn subscribe(
    db: &TenantDb,
    customer: CustomerId,
    plan_code: &str,
    order_key: Uuid,
    at: Timestamp,
) -> Result<Option<String>> {
    let Some(plan) = plans(db).await?.into_iter().find(|p| p.code == plan_code) else { return Ok(None) };
    let id = Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO subscriptions (id, customer_id, plan_code, order_key, status, started_at, retail_monthly_minor, \
         wholesale_monthly_minor, currency) VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8) \
         ON CONFLICT (customer_id, order_key) DO NOTHING",
    )
    .bind(&id)
    .bind(customer.to_string())
    .bind(&plan.code)
    .bind(order_key.to_string())
    .bind(at.as_millis())
    .bind(plan.retail_monthly.minor())
    .bind(plan.wholesale_monthly.minor())
    .bind(plan.retail_monthly.currency().code())
    .execute(db.pool())
    .await?;
    let existing: String = sqlx::query_scalar("SELECT id FROM subscriptions WHERE customer_id = $1 AND order_key = $2")
        .bind(customer.to_string())
        .bind(order_key.to_string())
        .fetch_one(db.pool())
        .await?;
    Ok(Some(existing))
}

/// What a customer's order for a subscription did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ordered {
    /// Subscribed (now, or by an earlier submit of the same order key): the subscription's id.
    Subscribed(String),
    NoSuchPlan,
    /// Neither a saved card nor this much credit.
    NeedsCredit(Money),
    /// The storefront suspended the account.
    Suspended,
}

/// A customer subscribes to a plan (once per order key). It needs the same credit (or card) as ordering a
/// workspace.
pub async fn order(
    tenant: &Tenant,
    customer: CustomerId,
    plan_code: &str,
    order_key: Uuid,
    at: Timestamp,
) -> Result<Ordered> {
    match super::meter::may_order(tenant, customer).await? {
        Ok(()) => {}
        Err(super::meter::MayNotOrder::NeedsCredit(min)) => return Ok(Ordered::NeedsCredit(min)),
        Err(super::meter::MayNotOrder::Suspended) => return Ok(Ordered::Suspended),
    }
    Ok(match subscribe(&tenant.db, customer, plan_code, order_key, at).await? {
        Some(id) => Ordered::Subscribed(id),
        None => Ordered::NoSuchPlan,
    })
}

/// Cancels at `at` (billed up to then). `false` if it was not the customer's active subscription.
pub async fn cancel(db: &TenantDb, customer: CustomerId, id: &str, at: Timestamp) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE subscriptions SET status = 'cancelled', ended_at = $1 WHERE id = $2 AND customer_id = $3 AND status = 'active'",
    )
    .bind(at.as_millis())
    .bind(id)
    .bind(customer.to_string())
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1)
}

macro_rules! sub_select {
    () => {
        "SELECT id, customer_id, plan_code, status, started_at, ended_at, retail_monthly_minor, \
         wholesale_monthly_minor, currency FROM subscriptions "
    };
}

/// A `subscriptions` row as stored.
#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: String,
    customer_id: String,
    plan_code: String,
    status: String,
    started_at: i64,
    ended_at: Option<i64>,
    retail_monthly_minor: i64,
    wholesale_monthly_minor: i64,
    currency: String,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = BackendError;

    fn try_from(r: SubscriptionRow) -> Result<Subscription> {
        let c = Currency::parse(&r.currency).map_err(|_| corrupt("subscriptions.currency"))?;
        Ok(Subscription {
            id: r.id,
            customer_id: r.customer_id,
            plan_code: r.plan_code,
            status: SubscriptionStatus::parse(&r.status).map_err(|_| corrupt("subscriptions.status"))?,
            started_at: Timestamp::from_millis(r.started_at),
            ended_at: r.ended_at.map(Timestamp::from_millis),
            retail_monthly: Money::from_minor(r.retail_monthly_minor, c),
            wholesale_monthly: Money::from_minor(r.wholesale_monthly_minor, c),
        })
    }
}

/// A customer's subscriptions, newest first.
pub async fn of_customer(db: &TenantDb, customer: CustomerId) -> Result<Vec<Subscription>> {
    let rows =
        sqlx::query_as::<_, SubscriptionRow>(concat!(sub_select!(), "WHERE customer_id = $1 ORDER BY started_at DESC"))
            .bind(customer.to_string())
            .fetch_all(db.pool())
            .await?;
    rows.into_iter().map(Subscription::try_from).collect()
}

/// Every subscription active at some point of the period (one customer's, or all).
pub async fn active_in(db: &TenantDb, period: Period, customer: Option<CustomerId>) -> Result<Vec<Subscription>> {
    let rows = match customer {
        Some(c) => {
            sqlx::query_as::<_, SubscriptionRow>(concat!(
                sub_select!(),
                "WHERE customer_id = $1 AND started_at < $2 AND (ended_at IS NULL OR ended_at > $3) ORDER BY started_at, id"
            ))
            .bind(c.to_string())
            .bind(period.end().as_millis())
            .bind(period.start().as_millis())
            .fetch_all(db.pool())
            .await?
        }
        None => {
            sqlx::query_as::<_, SubscriptionRow>(concat!(
                sub_select!(),
                "WHERE started_at < $1 AND (ended_at IS NULL OR ended_at > $2) ORDER BY started_at, id"
            ))
            .bind(period.end().as_millis())
            .bind(period.start().as_millis())
            .fetch_all(db.pool())
            .await?
        }
    };
    rows.into_iter().map(Subscription::try_from).collect()
}

/// (retail, wholesale) minor units a subscription bills for a period.
pub fn amounts(s: &Subscription, period: Period) -> (i64, i64) {
    let active = overlap_ms(s.started_at, s.ended_at, period.start(), period.end());
    let len = period.start().millis_until(period.end());
    (prorated(s.retail_monthly.minor(), active, len), prorated(s.wholesale_monthly.minor(), active, len))
}

/// The tenant's subscriptions at wholesale for a period (its wholesale bill).
pub async fn wholesale_total(db: &TenantDb, period: Period) -> Result<i64> {
    Ok(active_in(db, period, None).await?.iter().map(|s| amounts(s, period).1).sum())
}

/// Customers with a subscription active in the period.
pub async fn customers_in(db: &TenantDb, period: Period) -> Result<Vec<CustomerId>> {
    let mut ids: Vec<CustomerId> = Vec::new();
    for s in active_in(db, period, None).await? {
        let id = s.customer_id.parse().map_err(|_| corrupt("subscriptions.customer_id"))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}
