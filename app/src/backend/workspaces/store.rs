//! Workspace and usage-session rows. State changes are conditional updates (`... WHERE state = <from>`),
//! so concurrent requests and retried jobs cannot apply a transition twice; the meter is opened and closed
//! in the same transaction as the state change it belongs to.

use uuid::Uuid;

use crate::backend::platform::db::TenantDb;
use crate::backend::{corrupt, Result};
use crate::domain::billing::{billable_seconds, cost_of_billable};
use crate::domain::ids::{CustomerId, UsageSessionId, WorkspaceId};
use crate::domain::money::{Currency, Money, Rate};
use crate::domain::plan::PlanCode;
use crate::domain::time::Timestamp;
use crate::domain::workspace::{display_name, WorkspaceName, WorkspaceState};

#[derive(Clone, Debug)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub customer_id: CustomerId,
    pub plan: PlanCode,
    pub state: WorkspaceState,
    pub kasm_id: Option<String>,
    pub failure_reason: Option<String>,
    pub transition_at: Timestamp,
    pub created_at: Timestamp,
    /// The Kasm server (zone) it runs on, fixed when ordered.
    pub kasm_server: String,
    /// Its customer's name for it (empty for a workspace ordered before workspaces had names).
    pub name: String,
}

macro_rules! workspace_columns {
    () => {
        "id, customer_id, plan_code, state, kasm_id, failure_reason, transition_at, created_at, kasm_server, name"
    };
}

/// A `workspaces` row as stored ([`workspace_columns!`]).
#[derive(sqlx::FromRow)]
struct WorkspaceRow {
    id: String,
    customer_id: String,
    plan_code: String,
    state: String,
    kasm_id: Option<String>,
    failure_reason: Option<String>,
    transition_at: i64,
    created_at: i64,
    kasm_server: String,
    name: String,
}

impl TryFrom<WorkspaceRow> for Workspace {
    type Error = crate::backend::BackendError;

    fn try_from(r: WorkspaceRow) -> Result<Workspace> {
        Ok(Workspace {
            id: r.id.parse().map_err(|_| corrupt("workspaces.id"))?,
            customer_id: r.customer_id.parse().map_err(|_| corrupt("workspaces.customer_id"))?,
            plan: PlanCode::parse(&r.plan_code).map_err(|_| corrupt("workspaces.plan_code"))?,
            state: WorkspaceState::parse(&r.state).ok_or_else(|| corrupt("workspaces.state"))?,
            kasm_id: r.kasm_id,
            failure_reason: r.failure_reason,
            transition_at: Timestamp::from_millis(r.transition_at),
            created_at: Timestamp::from_millis(r.created_at),
            kasm_server: r.kasm_server,
            name: r.name,
        })
    }
}

/// Records an order. The same (customer, order key) always yields the same workspace: a double submit
/// returns the first one with `created = false`. It is named after its plan as the storefront lists it,
/// numbered among the customer's workspaces of that plan, until the customer renames it.
pub async fn insert_order(
    db: &TenantDb,
    customer: CustomerId,
    plan: PlanCode,
    order_key: Uuid,
    kasm_server: &str,
    now: Timestamp,
) -> Result<(WorkspaceId, bool)> {
    let id = WorkspaceId::new_random();
    let (plan_name, own_name): (String, Option<String>) =
        sqlx::query_as("SELECT name, display_name FROM plans WHERE code = $1")
            .bind(plan.as_str())
            .fetch_optional(db.pool())
            .await?
            .unwrap_or_else(|| (plan.as_str().to_owned(), None));
    let of_plan: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workspaces WHERE customer_id = $1 AND plan_code = $2")
        .bind(customer.to_string())
        .bind(plan.as_str())
        .fetch_one(db.pool())
        .await?;
    let name =
        WorkspaceName::for_order(own_name.as_deref().filter(|n| !n.is_empty()).unwrap_or(&plan_name), of_plan + 1);
    let inserted = sqlx::query(
        "INSERT INTO workspaces (id, customer_id, plan_code, order_key, state, transition_at, created_at, updated_at, \
         kasm_server, name) VALUES ($1, $2, $3, $4, $5, $6, $6, $6, $7, $8) ON CONFLICT (customer_id, order_key) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(customer.to_string())
    .bind(plan.as_str())
    .bind(order_key.to_string())
    .bind(WorkspaceState::Provisioning.as_str())
    .bind(now.as_millis())
    .bind(kasm_server)
    .bind(name.as_str())
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1;
    if inserted {
        return Ok((id, true));
    }
    let existing: String = sqlx::query_scalar("SELECT id FROM workspaces WHERE customer_id = $1 AND order_key = $2")
        .bind(customer.to_string())
        .bind(order_key.to_string())
        .fetch_one(db.pool())
        .await?;
    Ok((existing.parse().map_err(|_| corrupt("workspaces.id"))?, false))
}

pub async fn get(db: &TenantDb, id: WorkspaceId) -> Result<Option<Workspace>> {
    let row =
        sqlx::query_as::<_, WorkspaceRow>(concat!("SELECT ", workspace_columns!(), " FROM workspaces WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    row.map(Workspace::try_from).transpose()
}

/// A workspace only if it belongs to this customer: the one lookup every customer-facing path uses.
pub async fn get_owned(db: &TenantDb, id: WorkspaceId, customer: CustomerId) -> Result<Option<Workspace>> {
    let row = sqlx::query_as::<_, WorkspaceRow>(concat!(
        "SELECT ",
        workspace_columns!(),
        " FROM workspaces WHERE id = $1 AND customer_id = $2"
    ))
    .bind(id.to_string())
    .bind(customer.to_string())
    .fetch_optional(db.pool())
    .await?;
    row.map(Workspace::try_from).transpose()
}

/// Renames a workspace of this customer's; `false` when it is not theirs (or does not exist).
pub async fn rename(db: &TenantDb, id: WorkspaceId, customer: CustomerId, name: &WorkspaceName) -> Result<bool> {
    let n = sqlx::query("UPDATE workspaces SET name = $1 WHERE id = $2 AND customer_id = $3")
        .bind(name.as_str())
        .bind(id.to_string())
        .bind(customer.to_string())
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// A workspace as its customer's pages and invoices name it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Label {
    pub id: String,
    /// As chosen (empty for a workspace ordered before names existed).
    pub name: String,
    pub plan_name: String,
}

impl Label {
    /// What the pages show (`domain::workspace::display_name`).
    pub fn shown(&self) -> String {
        display_name(&self.name, &self.plan_name, &self.id)
    }
}

/// Every workspace of the customer's, labelled: for naming sessions and invoice lines.
pub async fn labels(db: &TenantDb, customer: CustomerId) -> Result<Vec<Label>> {
    Ok(sqlx::query_as::<_, Label>(
        "SELECT w.id, w.name, COALESCE(p.name, w.plan_code) AS plan_name FROM workspaces w \
         LEFT JOIN plans p ON p.code = w.plan_code WHERE w.customer_id = $1",
    )
    .bind(customer.to_string())
    .fetch_all(db.pool())
    .await?)
}

pub async fn list_owned(db: &TenantDb, customer: CustomerId) -> Result<Vec<Workspace>> {
    let rows = sqlx::query_as::<_, WorkspaceRow>(concat!(
        "SELECT ",
        workspace_columns!(),
        " FROM workspaces WHERE customer_id = $1 ORDER BY created_at DESC"
    ))
    .bind(customer.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Workspace::try_from).collect()
}

/// Workspaces on one Kasm server attached to a session, in the states the reconciler checks against Kasm.
pub async fn list_attached(db: &TenantDb, kasm_server: &str) -> Result<Vec<Workspace>> {
    let rows = sqlx::query_as::<_, WorkspaceRow>(concat!(
        "SELECT ",
        workspace_columns!(),
        " FROM workspaces WHERE kasm_id IS NOT NULL AND kasm_server = $4 AND state IN ($1, $2, $3)"
    ))
    .bind(WorkspaceState::Running.as_str())
    .bind(WorkspaceState::Stopped.as_str())
    .bind(WorkspaceState::Terminated.as_str())
    .bind(kasm_server)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Workspace::try_from).collect()
}

/// Every Kasm session id this tenant knows (to tell our sessions from orphans).
pub async fn known_kasm_ids(db: &TenantDb) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT kasm_id FROM workspaces WHERE kasm_id IS NOT NULL").fetch_all(db.pool()).await?)
}

/// A customer's workspaces on a server that are waiting for a Kasm session (ordered, or started after
/// their session was gone), oldest first: where an orphaned session of theirs belongs.
pub async fn awaiting_session(db: &TenantDb, customer: CustomerId, kasm_server: &str) -> Result<Vec<Workspace>> {
    let rows = sqlx::query_as::<_, WorkspaceRow>(concat!(
        "SELECT ",
        workspace_columns!(),
        " FROM workspaces WHERE customer_id = $1 AND kasm_server = $2 AND kasm_id IS NULL AND state = $3 \
         ORDER BY transition_at"
    ))
    .bind(customer.to_string())
    .bind(kasm_server)
    .bind(WorkspaceState::Provisioning.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Workspace::try_from).collect()
}

/// The open meter's start, if the workspace has one.
pub async fn open_meter_start(db: &TenantDb, id: WorkspaceId) -> Result<Option<Timestamp>> {
    let t: Option<i64> =
        sqlx::query_scalar("SELECT started_at FROM usage_sessions WHERE workspace_id = $1 AND ended_at IS NULL")
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    Ok(t.map(Timestamp::from_millis))
}

/// Workspaces that still need the provisioner (used to re-enqueue their jobs after a restart).
pub async fn list_unsettled(db: &TenantDb) -> Result<Vec<WorkspaceId>> {
    let rows: Vec<String> = sqlx::query_scalar("SELECT id FROM workspaces WHERE state IN ($1, $2, $3, $4)")
        .bind(WorkspaceState::Provisioning.as_str())
        .bind(WorkspaceState::Starting.as_str())
        .bind(WorkspaceState::Stopping.as_str())
        .bind(WorkspaceState::Terminating.as_str())
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(|s| s.parse().map_err(|_| corrupt("workspaces.id"))).collect()
}

/// Moves `from` -> `to` and stamps the transition time; false when the workspace was not in `from`.
pub async fn transition(
    db: &TenantDb,
    id: WorkspaceId,
    from: WorkspaceState,
    to: WorkspaceState,
    now: Timestamp,
) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE workspaces SET state = $1, transition_at = $2, updated_at = $2, failure_reason = NULL \
         WHERE id = $3 AND state = $4",
    )
    .bind(to.as_str())
    .bind(now.as_millis())
    .bind(id.to_string())
    .bind(from.as_str())
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Takes the per-workspace lease that serialises conversations with Kasm about this workspace.
pub async fn acquire_lease(db: &TenantDb, id: WorkspaceId, owner: &str, now: Timestamp, ttl_ms: i64) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE workspaces SET sync_owner = $1, sync_lease_until = $2 \
         WHERE id = $3 AND (sync_lease_until IS NULL OR sync_lease_until < $4 OR sync_owner = $1)",
    )
    .bind(owner)
    .bind(now.plus_millis(ttl_ms).as_millis())
    .bind(id.to_string())
    .bind(now.as_millis())
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Extends `owner`'s lease on the workspace; `false` when it no longer holds it.
pub async fn renew_lease(db: &TenantDb, id: WorkspaceId, owner: &str, now: Timestamp, ttl_ms: i64) -> Result<bool> {
    let n = sqlx::query("UPDATE workspaces SET sync_lease_until = $1 WHERE id = $2 AND sync_owner = $3")
        .bind(now.plus_millis(ttl_ms).as_millis())
        .bind(id.to_string())
        .bind(owner)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(n == 1)
}

pub async fn release_lease(db: &TenantDb, id: WorkspaceId, owner: &str) -> Result<()> {
    sqlx::query("UPDATE workspaces SET sync_owner = NULL, sync_lease_until = NULL WHERE id = $1 AND sync_owner = $2")
        .bind(id.to_string())
        .bind(owner)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Provisioning -> Starting once Kasm has a session for this workspace.
pub async fn attach_kasm(db: &TenantDb, id: WorkspaceId, kasm_id: &str, now: Timestamp) -> Result<bool> {
    let n = sqlx::query("UPDATE workspaces SET kasm_id = $1, state = $2, updated_at = $3 WHERE id = $4 AND state = $5")
        .bind(kasm_id)
        .bind(WorkspaceState::Starting.as_str())
        .bind(now.as_millis())
        .bind(id.to_string())
        .bind(WorkspaceState::Provisioning.as_str())
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// The Kasm session is gone (destroyed or expired while stopped): the next start requests a new one.
pub async fn detach_kasm(db: &TenantDb, id: WorkspaceId, from: WorkspaceState, now: Timestamp) -> Result<bool> {
    let n =
        sqlx::query("UPDATE workspaces SET kasm_id = NULL, state = $1, updated_at = $2 WHERE id = $3 AND state = $4")
            .bind(WorkspaceState::Provisioning.as_str())
            .bind(now.as_millis())
            .bind(id.to_string())
            .bind(from.as_str())
            .execute(db.pool())
            .await?
            .rows_affected();
    Ok(n == 1)
}

pub async fn mark_failed(db: &TenantDb, id: WorkspaceId, reason: &str, now: Timestamp) -> Result<()> {
    sqlx::query(
        "UPDATE workspaces SET state = $1, failure_reason = $2, updated_at = $3 WHERE id = $4 AND state IN ($5, $6)",
    )
    .bind(WorkspaceState::Failed.as_str())
    .bind(reason)
    .bind(now.as_millis())
    .bind(id.to_string())
    .bind(WorkspaceState::Provisioning.as_str())
    .bind(WorkspaceState::Starting.as_str())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// `from` -> Running and the meter opens at `started_at` with the rates in force now, in one transaction.
/// `from` is Starting normally, or Stopped when the reconciler finds a session running that we had
/// stopped (started from Kasm's own UI). `false` (nothing changed) when the workspace was not in `from`,
/// or when its customer is suspended: the customer's row is locked first, so a suspension committing at
/// the same moment either sees this workspace running (and stops it) or makes this refuse.
pub async fn start_meter(
    db: &TenantDb,
    id: WorkspaceId,
    from: WorkspaceState,
    started_at: Timestamp,
    retail: &Rate,
    wholesale: &Rate,
    now: Timestamp,
) -> Result<bool> {
    let mut tx = db.begin().await?;
    // The write comes first so SQLite takes its write lock at once (no read-then-upgrade deadlock). It is the
    // customer's row: PostgreSQL re-checks `suspended_at IS NULL` after waiting for a suspension's lock.
    let active = sqlx::query(
        "UPDATE customers SET suspended_at = suspended_at \
         WHERE id = (SELECT customer_id FROM workspaces WHERE id = $1) AND suspended_at IS NULL",
    )
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !active {
        tx.rollback().await?;
        return Ok(false);
    }
    let moved = sqlx::query("UPDATE workspaces SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4")
        .bind(WorkspaceState::Running.as_str())
        .bind(now.as_millis())
        .bind(id.to_string())
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if !moved {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO usage_sessions (id, workspace_id, started_at, retail_per_hour, wholesale_per_hour, currency) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(UsageSessionId::new_random().to_string())
    .bind(id.to_string())
    .bind(started_at.as_millis())
    .bind(retail.amount_per_hour().to_string())
    .bind(wholesale.amount_per_hour().to_string())
    .bind(retail.currency().code())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// `from` -> `to` and the open meter closes at `ended_at`, its amount computed by the domain rule, in one
/// transaction. Stopping -> Stopped is the customer's stop; Running -> Stopped the reconciler finding the
/// session stopped or gone; Terminating -> Terminated a deletion. Returns the closed session's amount, if
/// one was open.
pub async fn stop_meter(
    db: &TenantDb,
    id: WorkspaceId,
    from: WorkspaceState,
    to: WorkspaceState,
    ended_at: Timestamp,
    now: Timestamp,
) -> Result<Option<Money>> {
    let mut tx = db.begin().await?;
    let moved = sqlx::query("UPDATE workspaces SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4")
        .bind(to.as_str())
        .bind(now.as_millis())
        .bind(id.to_string())
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if !moved {
        tx.rollback().await?;
        return Ok(None);
    }
    let open = sqlx::query_as::<_, OpenSessionRow>(
        "SELECT id, started_at, retail_per_hour, currency FROM usage_sessions WHERE workspace_id = $1 AND ended_at IS NULL",
    )
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    let mut amount = None;
    if let Some(r) = open {
        let session_id = r.id;
        let started = Timestamp::from_millis(r.started_at);
        let rate = parse_rate(&r.retail_per_hour, &r.currency)?;
        // A stop can never end before the session began (clock skew between us and Kasm).
        let ended = ended_at.max(started);
        let billable = billable_seconds(started.millis_until(ended));
        let cost = cost_of_billable(billable, &rate).map_err(|e| corrupt(format!("usage amount: {e}")))?;
        sqlx::query(
            "UPDATE usage_sessions SET ended_at = $1, billable_seconds = $2, amount_minor = $3 \
             WHERE id = $4 AND ended_at IS NULL",
        )
        .bind(ended.as_millis())
        .bind(billable)
        .bind(cost.minor())
        .bind(session_id)
        .execute(&mut *tx)
        .await?;
        amount = Some(cost);
    }
    tx.commit().await?;
    Ok(amount)
}

/// The open `usage_sessions` row of a workspace being stopped.
#[derive(sqlx::FromRow)]
struct OpenSessionRow {
    id: String,
    started_at: i64,
    retail_per_hour: String,
    currency: String,
}

fn parse_rate(rate: &str, currency: &str) -> Result<Rate> {
    let currency = Currency::parse(currency).map_err(|_| corrupt("usage_sessions.currency"))?;
    Rate::parse(rate, currency).map_err(|_| corrupt("usage_sessions.retail_per_hour"))
}

#[derive(Clone, Debug)]
pub struct Usage {
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub retail: Rate,
    pub billable_seconds: Option<i64>,
    pub amount: Option<Money>,
}

/// Usage sessions of a workspace, newest first.
pub async fn usage_of(db: &TenantDb, id: WorkspaceId) -> Result<Vec<Usage>> {
    let rows = sqlx::query_as::<_, UsageRow>(
        "SELECT started_at, ended_at, retail_per_hour, currency, billable_seconds, amount_minor \
         FROM usage_sessions WHERE workspace_id = $1 ORDER BY started_at DESC",
    )
    .bind(id.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Usage::try_from).collect()
}

/// A workspace as the customer's dashboard lists it: with its plan's name and storefront price, and its
/// open usage session if it has one (when it started and the retail rate it froze).
#[derive(Clone, Debug)]
pub struct Owned {
    pub workspace: Workspace,
    pub plan_name: String,
    pub plan_retail: Rate,
    pub meter: Option<(Timestamp, Rate)>,
}

/// A customer's workspaces, newest first, as [`Owned`]: one statement for the whole dashboard list,
/// however many workspaces (the page customers keep open and come back to).
pub async fn list_owned_with_meters(db: &TenantDb, customer: CustomerId) -> Result<Vec<Owned>> {
    let rows = sqlx::query_as::<_, OwnedRow>(
        "SELECT w.id, w.customer_id, w.plan_code, w.state, w.kasm_id, w.failure_reason, w.transition_at, \
         w.created_at, w.kasm_server, w.name, p.name AS plan_name, p.retail_per_hour AS plan_rate, \
         p.currency AS plan_currency, u.started_at AS meter_started_at, u.retail_per_hour AS meter_rate, \
         u.currency AS meter_currency FROM workspaces w LEFT JOIN plans p ON p.code = w.plan_code \
         LEFT JOIN usage_sessions u ON u.workspace_id = w.id AND u.ended_at IS NULL \
         WHERE w.customer_id = $1 ORDER BY w.created_at DESC, w.id, u.started_at DESC",
    )
    .bind(customer.to_string())
    .fetch_all(db.pool())
    .await?;
    let mut list: Vec<Owned> = Vec::with_capacity(rows.len());
    for r in rows {
        // At most one session is open per workspace; were there two, the latest (its first row) is the
        // one running.
        if list.last().is_some_and(|o| o.workspace.id.to_string() == r.workspace.id) {
            continue;
        }
        let (Some(plan_name), Some(plan_rate), Some(plan_currency)) = (r.plan_name, r.plan_rate, r.plan_currency)
        else {
            return Err(corrupt("workspace plan"));
        };
        let plan_currency = Currency::parse(&plan_currency).map_err(|_| corrupt("plans.currency"))?;
        let plan_retail = Rate::parse(&plan_rate, plan_currency).map_err(|_| corrupt("plans.retail_per_hour"))?;
        let meter = match (r.meter_started_at, r.meter_rate, r.meter_currency) {
            (Some(started), Some(rate), Some(currency)) => {
                Some((Timestamp::from_millis(started), parse_rate(&rate, &currency)?))
            }
            _ => None,
        };
        list.push(Owned { workspace: Workspace::try_from(r.workspace)?, plan_name, plan_retail, meter });
    }
    Ok(list)
}

#[derive(sqlx::FromRow)]
struct OwnedRow {
    #[sqlx(flatten)]
    workspace: WorkspaceRow,
    plan_name: Option<String>,
    plan_rate: Option<String>,
    plan_currency: Option<String>,
    meter_started_at: Option<i64>,
    meter_rate: Option<String>,
    meter_currency: Option<String>,
}

/// A `usage_sessions` row as a workspace's usage lists it.
#[derive(sqlx::FromRow)]
struct UsageRow {
    started_at: i64,
    ended_at: Option<i64>,
    retail_per_hour: String,
    currency: String,
    billable_seconds: Option<i64>,
    amount_minor: Option<i64>,
}

impl TryFrom<UsageRow> for Usage {
    type Error = crate::backend::BackendError;

    fn try_from(r: UsageRow) -> Result<Usage> {
        let retail = parse_rate(&r.retail_per_hour, &r.currency)?;
        Ok(Usage {
            started_at: Timestamp::from_millis(r.started_at),
            ended_at: r.ended_at.map(Timestamp::from_millis),
            billable_seconds: r.billable_seconds,
            amount: r.amount_minor.map(|m| Money::from_minor(m, retail.currency())),
            retail,
        })
    }
}
