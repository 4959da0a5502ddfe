//! The audit log: admin and reseller actions with actor, tenant, time and client address. Written in
//! the same breath as the action (best effort never: a failure to record is an error of the action).

use crate::backend::platform::db::{now, CentralDb};
use crate::backend::{corrupt, Result};
use crate::domain::ids::TenantId;

pub use crate::domain::platform::ActorKind;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub at: i64,
    pub actor_kind: ActorKind,
    pub actor: String,
    pub tenant_id: Option<String>,
    pub action: String,
    pub detail: String,
    pub ip: Option<String>,
}

/// Records an action, with the client address it came from (`None` for the system's own actions).
/// Callers that act for a signed-in staff member or customer go through [`record_by`] instead, which
/// names an impersonating admin by itself.
pub async fn record(
    central: &CentralDb,
    ip: Option<std::net::IpAddr>,
    kind: ActorKind,
    actor: &str,
    tenant: Option<TenantId>,
    action: &str,
    detail: &str,
) -> Result<()> {
    insert(central, kind, actor, tenant, action, detail, ip).await
}

async fn insert(
    central: &CentralDb,
    kind: ActorKind,
    actor: &str,
    tenant: Option<TenantId>,
    action: &str,
    detail: &str,
    ip: Option<std::net::IpAddr>,
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
    .bind(ip.map(|ip| ip.to_string()))
    .execute(central.pool())
    .await?;
    Ok(())
}

/// A platform admin acting from an address. The admin's operations take one and record what they did
/// themselves, so no caller can forget the record.
#[derive(Clone, Copy, Debug)]
pub struct ByAdmin<'a> {
    pub email: &'a str,
    pub ip: Option<std::net::IpAddr>,
}

impl ByAdmin<'_> {
    pub async fn record(
        &self,
        central: &CentralDb,
        tenant: Option<TenantId>,
        action: &str,
        detail: &str,
    ) -> Result<()> {
        record(central, self.ip, ActorKind::Admin, self.email, tenant, action, detail).await
    }
}

/// Who did something, as the guard that resolved them knows it: an impersonated staff member or customer
/// carries the platform admin acting through their session, so no caller can forget to name them.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    Admin { email: &'a str },
    Staff { email: &'a str, impersonator: Option<&'a str> },
    Customer { email: &'a str, impersonator: Option<&'a str> },
}

/// Records an action by `actor`. A staff member's action under impersonation stays theirs, with the
/// admin named in the detail; an impersonated customer's action is the admin's ("as <customer>"), and a
/// customer's own actions are not audit events (only admin and reseller actions are).
pub async fn record_by(
    central: &CentralDb,
    ip: Option<std::net::IpAddr>,
    actor: &Actor<'_>,
    tenant: Option<TenantId>,
    action: &str,
    detail: &str,
) -> Result<()> {
    match *actor {
        Actor::Admin { email } => record(central, ip, ActorKind::Admin, email, tenant, action, detail).await,
        Actor::Staff { email, impersonator: None } => {
            record(central, ip, ActorKind::Staff, email, tenant, action, detail).await
        }
        Actor::Staff { email, impersonator: Some(admin) } => {
            let detail = format!("{detail} (by admin {admin})");
            record(central, ip, ActorKind::Staff, email, tenant, action, detail.trim_start()).await
        }
        Actor::Customer { impersonator: None, .. } => Ok(()),
        Actor::Customer { email, impersonator: Some(admin) } => {
            let detail = format!("as {email}: {detail}");
            record(central, ip, ActorKind::Admin, admin, tenant, action, &detail).await
        }
    }
}

/// Server functions that change nothing (they only read). Every other server function, and every other
/// POST route, is a mutating call: under impersonation it is recorded before it runs. Being left off this
/// list is the safe mistake (a read gets recorded); a test keeps every name here a registered function.
pub const READ_ONLY_FUNCTIONS: &[&str] = &[
    "admin_audit",
    "admin_billing",
    "admin_databases",
    "admin_dead_letters",
    "admin_kasm",
    "admin_mail",
    "admin_me",
    "admin_prices",
    "admin_tenant",
    "admin_tenants",
    "billing_overview",
    "catalog",
    "get_branding",
    "get_invoice",
    "get_workspace",
    "list_staff",
    "list_workspaces",
    "manage_billing",
    "manage_customer",
    "manage_customers",
    "my_catalog",
    "my_domains",
    "onboarding",
    "preview_custom_css",
    "reseller_guide",
    "site_brand",
    "staff_me",
    "who_am_i",
    "wholesale_account",
];

/// The server-function prefix: `/api/<name>` is the function `name`.
pub const SERVER_FN_PREFIX: &str = "/api/";

/// Whether a request to `route` (the router's matched path: `/api/subscribe`, `/manage/branding/{kind}`)
/// with `method` may change something, and so is recorded when made under impersonation.
pub fn is_mutating(method: &http::Method, route: &str) -> bool {
    if matches!(*method, http::Method::GET | http::Method::HEAD | http::Method::OPTIONS) {
        return false;
    }
    match route.strip_prefix(SERVER_FN_PREFIX) {
        Some(name) => !READ_ONLY_FUNCTIONS.contains(&name),
        None => true,
    }
}

/// Whom a platform admin is acting as in a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Impersonated {
    Customer(String),
    Staff(String),
}

/// A platform admin acting through an impersonation session, as a request's cookies show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Impersonation {
    pub admin: String,
    pub as_whom: Impersonated,
}

/// The action of a call made under impersonation (`detail`: "<call> as customer <email>").
pub const IMPERSONATED_CALL: &str = "impersonation.call";

/// Records a mutating call made under impersonation, under the admin's name with the impersonated
/// user's. Written before the call runs: a call that cannot be recorded does not run.
pub async fn record_impersonated_call(
    central: &CentralDb,
    tenant: TenantId,
    imp: &Impersonation,
    call: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<()> {
    let detail = match &imp.as_whom {
        Impersonated::Customer(email) => format!("{call} as customer {email}"),
        Impersonated::Staff(email) => format!("{call} as staff {email}"),
    };
    insert(central, ActorKind::Admin, &imp.admin, Some(tenant), IMPERSONATED_CALL, &detail, ip).await
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
    let rows = sqlx::query_as::<_, EntryRow>(
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
    rows.into_iter().map(Entry::try_from).collect()
}

/// An `audit_log` row as stored.
#[derive(sqlx::FromRow)]
struct EntryRow {
    at: i64,
    actor_kind: String,
    actor: String,
    tenant_id: Option<String>,
    action: String,
    detail: String,
    ip: Option<String>,
}

impl TryFrom<EntryRow> for Entry {
    type Error = crate::backend::BackendError;

    fn try_from(r: EntryRow) -> Result<Entry> {
        Ok(Entry {
            at: r.at,
            actor_kind: r.actor_kind.parse().map_err(corrupt)?,
            actor: r.actor,
            tenant_id: r.tenant_id,
            action: r.action,
            detail: r.detail,
            ip: r.ip,
        })
    }
}
