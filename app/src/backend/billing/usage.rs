//! The metered facts: usage sessions with their frozen retail and wholesale rates.

use crate::backend::platform::db::TenantDb;
use crate::backend::{corrupt, BackendError, Result};
use crate::domain::billing::UsageFact;
use crate::domain::ids::CustomerId;
use crate::domain::money::{Currency, Rate};
use crate::domain::time::Timestamp;

/// One usage session as billing sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub workspace_id: String,
    pub customer_id: String,
    pub plan_code: String,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub retail: Rate,
    pub wholesale: Rate,
}

impl Session {
    pub fn retail_fact(&self) -> UsageFact {
        UsageFact {
            workspace: self.workspace_id.clone(),
            started_at: self.started_at,
            ended_at: self.ended_at,
            rate: self.retail,
        }
    }

    pub fn wholesale_fact(&self) -> UsageFact {
        UsageFact { rate: self.wholesale, ..self.retail_fact() }
    }
}

macro_rules! session_select {
    () => {
        "SELECT u.id, u.workspace_id, w.customer_id, w.plan_code, u.started_at, u.ended_at, u.retail_per_hour, \
         u.wholesale_per_hour, u.currency FROM usage_sessions u JOIN workspaces w ON w.id = u.workspace_id "
    };
}

/// A usage session row (with its workspace's customer and plan) as stored.
#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    workspace_id: String,
    customer_id: String,
    plan_code: String,
    started_at: i64,
    ended_at: Option<i64>,
    retail_per_hour: String,
    wholesale_per_hour: String,
    currency: String,
}

impl TryFrom<SessionRow> for Session {
    type Error = BackendError;

    fn try_from(r: SessionRow) -> Result<Session> {
        let currency = Currency::parse(&r.currency).map_err(|_| corrupt("usage_sessions.currency"))?;
        Ok(Session {
            retail: Rate::parse(&r.retail_per_hour, currency).map_err(|_| corrupt("usage_sessions.retail_per_hour"))?,
            wholesale: Rate::parse(&r.wholesale_per_hour, currency)
                .map_err(|_| corrupt("usage_sessions.wholesale_per_hour"))?,
            id: r.id,
            workspace_id: r.workspace_id,
            customer_id: r.customer_id,
            plan_code: r.plan_code,
            started_at: Timestamp::from_millis(r.started_at),
            ended_at: r.ended_at.map(Timestamp::from_millis),
        })
    }
}

/// A customer's sessions that ran at some point in `[from, to)`, oldest first. `exec` is a pool, or the
/// billing run's transaction (it reads and writes under one lock).
pub async fn customer_sessions<'e, E>(
    exec: E,
    customer: CustomerId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Session>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query_as::<_, SessionRow>(concat!(
        session_select!(),
        "WHERE w.customer_id = $1 AND u.started_at < $2 AND (u.ended_at IS NULL OR u.ended_at > $3) \
         ORDER BY u.started_at, u.id"
    ))
    .bind(customer.to_string())
    .bind(to.as_millis())
    .bind(from.as_millis())
    .fetch_all(exec)
    .await?;
    rows.into_iter().map(Session::try_from).collect()
}

/// A customer's latest `limit` sessions, newest first (what the storefront's staff see of them).
pub async fn recent_of(db: &TenantDb, customer: CustomerId, limit: i64) -> Result<Vec<Session>> {
    let rows = sqlx::query_as::<_, SessionRow>(concat!(
        session_select!(),
        "WHERE w.customer_id = $1 ORDER BY u.started_at DESC, u.id LIMIT $2"
    ))
    .bind(customer.to_string())
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Session::try_from).collect()
}

/// Every session of the tenant that ran in `[from, to)` (the wholesale bill).
pub async fn all_sessions(db: &TenantDb, from: Timestamp, to: Timestamp) -> Result<Vec<Session>> {
    let rows = sqlx::query_as::<_, SessionRow>(concat!(
        session_select!(),
        "WHERE u.started_at < $1 AND (u.ended_at IS NULL OR u.ended_at > $2) ORDER BY u.started_at, u.id"
    ))
    .bind(to.as_millis())
    .bind(from.as_millis())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Session::try_from).collect()
}

/// Customers with usage in `[from, to)`. Two indexed halves (sessions that ended after `from`, and open
/// ones) rather than one OR, so a run reads recent rows only, however long the history.
pub async fn customers_with_usage(db: &TenantDb, from: Timestamp, to: Timestamp) -> Result<Vec<CustomerId>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT w.customer_id FROM usage_sessions u JOIN workspaces w ON w.id = u.workspace_id \
         WHERE u.ended_at > $2 AND u.started_at < $1 \
         UNION \
         SELECT w.customer_id FROM usage_sessions u JOIN workspaces w ON w.id = u.workspace_id \
         WHERE u.ended_at IS NULL AND u.started_at < $1",
    )
    .bind(to.as_millis())
    .bind(from.as_millis())
    .fetch_all(db.pool())
    .await?;
    ids.iter().map(|s| s.parse().map_err(|_| corrupt("workspaces.customer_id"))).collect::<Result<_, BackendError>>()
}
