//! The audit log: admin and reseller actions with actor, tenant, time and client address. Written in
//! the same breath as the action (best effort never: a failure to record is an error of the action).

use sqlx::Row;

use super::db::{now, CentralDb};
use super::request;
use super::Result;
use crate::domain::ids::TenantId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    Admin,
    Staff,
    Customer,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Admin => "admin",
            ActorKind::Staff => "staff",
            ActorKind::Customer => "customer",
            ActorKind::System => "system",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub at: i64,
    pub actor_kind: String,
    pub actor: String,
    pub tenant_id: Option<String>,
    pub action: String,
    pub detail: String,
    pub ip: Option<String>,
}

/// Records an action. The client address comes from the current request, when there is one.
pub async fn record(
    central: &CentralDb,
    kind: ActorKind,
    actor: &str,
    tenant: Option<TenantId>,
    action: &str,
    detail: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_kind, actor, tenant_id, action, detail, ip) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(now().as_millis())
    .bind(kind.as_str())
    .bind(actor)
    .bind(tenant.map(|t| t.to_string()))
    .bind(action)
    .bind(detail)
    .bind(request::client_ip().map(|ip| ip.to_string()))
    .execute(central.pool())
    .await?;
    Ok(())
}

/// Filters for the admin view; empty strings mean "any".
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub tenant: Option<TenantId>,
    pub action: String,
    pub actor: String,
}

/// Newest first, at most `limit`.
pub async fn list(central: &CentralDb, f: &Filter, limit: i64) -> Result<Vec<Entry>> {
    let rows = sqlx::query(
        "SELECT at, actor_kind, actor, tenant_id, action, detail, ip FROM audit_log \
         WHERE ($1 = '' OR tenant_id = $1) AND ($2 = '' OR action = $2) AND ($3 = '' OR actor = $3) \
         ORDER BY at DESC, id DESC LIMIT $4",
    )
    .bind(f.tenant.map(|t| t.to_string()).unwrap_or_default())
    .bind(&f.action)
    .bind(&f.actor)
    .bind(limit.clamp(1, 1000))
    .fetch_all(central.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Entry {
                at: r.try_get(0)?,
                actor_kind: r.try_get(1)?,
                actor: r.try_get(2)?,
                tenant_id: r.try_get(3)?,
                action: r.try_get(4)?,
                detail: r.try_get(5)?,
                ip: r.try_get(6)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}
