//! The reconciler: once per interval, one `get_kasms` call per Kasm server, diffed against our
//! workspaces. Kasm has no webhooks, so this is how we learn that a session was stopped from Kasm's own
//! UI, died, expired, or was started behind our back. (`get_kasm_status` is never used for this: it
//! rotates the session token and would break the customer's open desktop.)
//!
//! Billing rule for sessions found stopped or gone: the meter closes at the last completed pass that
//! still saw the session running (at most one interval late, never later), or at the meter's start.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::watch;

use crate::backend::clients::kasm::{KasmClient, KasmId, KasmSession, KasmStatus};
use crate::backend::platform::db::now;
use crate::backend::platform::loops::Loop;
use crate::backend::state::{AppState, Tenant};
use crate::backend::workspaces::catalog;
use crate::backend::workspaces::provisioning::{announce, SyncError};
use crate::backend::workspaces::store;
use crate::backend::{corrupt, BackendError};
use crate::backend::{workspaces::kasm_servers, workspaces::plan_templates};
use crate::domain::ids::CustomerId;
use crate::domain::time::Timestamp;
use crate::domain::workspace::WorkspaceState;

/// What one pass found and did; logged, and exported as counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Kasm servers listed successfully.
    pub servers: usize,
    /// Kasm servers that could not be listed (their workspaces are left as they were until a later pass).
    pub failed_servers: usize,
    /// Sessions Kasm listed.
    pub sessions: usize,
    /// Our workspaces checked against them.
    pub checked: usize,
    /// Running workspaces whose session had vanished: meter closed.
    pub closed_gone: usize,
    /// Running workspaces whose session was stopped or paused in Kasm: meter closed.
    pub closed_stopped: usize,
    /// Stopped workspaces whose session was running: meter reopened.
    pub reopened: usize,
    /// Sessions of deleted workspaces still alive in Kasm: destroyed.
    pub destroyed: usize,
    /// Sessions of ours that no workspace recorded (a crash between Kasm's answer and our commit), given
    /// to the customer's workspace that was waiting for one.
    pub adopted: usize,
    /// Sessions of our platform's users that no workspace of ours knows and none is waiting for
    /// (reported, left alone).
    pub orphans: usize,
    /// Kasm API calls made.
    pub calls: usize,
    /// Workspaces with a Kasm session that this pass left running / stopped (what `/metrics` reports,
    /// so a scrape never has to open the tenants' databases).
    pub running: usize,
    pub stopped: usize,
}

impl Report {
    fn add(&mut self, o: &Report) {
        self.servers += o.servers;
        self.failed_servers += o.failed_servers;
        self.sessions += o.sessions;
        self.checked += o.checked;
        self.closed_gone += o.closed_gone;
        self.closed_stopped += o.closed_stopped;
        self.reopened += o.reopened;
        self.destroyed += o.destroyed;
        self.adopted += o.adopted;
        self.orphans += o.orphans;
        self.calls += o.calls;
        self.running += o.running;
        self.stopped += o.stopped;
    }
}

/// How long after a stop a session may still be listed as running without counting as restarted.
const STOP_GRACE_MS: i64 = 120_000;

/// One pass over every Kasm server, each with its own `get_kasms`. A server that cannot be listed is
/// skipped (counted in `failed_servers`); the others are still reconciled. Fails only when every server
/// failed.
pub async fn reconcile_once(state: &AppState) -> Result<Report, SyncError> {
    let mut total = Report::default();
    let mut last_err = None;
    for server in kasm_servers::list(state.central()).await? {
        match reconcile_server(state, &server.id).await {
            Ok(r) => total.add(&r),
            Err(e) => {
                tracing::warn!(error = %e, server = %server.id, "reconciling a Kasm server failed");
                total.failed_servers += 1;
                last_err = Some(e);
            }
        }
    }
    match last_err {
        Some(e) if total.servers == 0 => Err(e),
        _ => Ok(total),
    }
}

/// One `get_kasms` against one server, diffed with the workspaces placed on it.
pub async fn reconcile_server(state: &AppState, server: &str) -> Result<Report, SyncError> {
    let started = now();
    let kasm = state.kasm_for(server).await?;
    let list = kasm.get_kasms().await?;
    let mut report = Report { servers: 1, sessions: list.kasms.len(), calls: 1, ..Report::default() };
    let by_id: HashMap<KasmId, &KasmSession> = list.kasms.iter().map(|s| (s.kasm_id, s)).collect();
    let last_pass = last_pass(state, server).await?;

    // Kasm's clock minus ours, measured at the listing: applied to Kasm's timestamps.
    let skew_ms = list.current_time.map_or(0, |k| now().as_millis() - k.as_millis());
    let mut known: HashSet<KasmId> = HashSet::new();
    let mut tenants_by_slug = HashMap::new();
    let ctx = ServerCtx { kasm: &kasm, server, by_id: &by_id, last_pass, skew_ms };
    for entry in state.registry().entries().await? {
        let Some(tenant) = state.tenant_by_id(entry.id).await? else { continue };
        reconcile_tenant(state, &tenant, &ctx, &mut report).await?;
        known.extend(store::known_kasm_ids(&tenant.db).await?.iter().filter_map(|k| KasmId::parse(k).ok()));
        tenants_by_slug.insert(tenant.slug.clone(), tenant);
    }
    let unknown: Vec<&KasmSession> = list
        .kasms
        .iter()
        .filter(|s| !known.contains(&s.kasm_id))
        .filter(|s| s.username.as_deref().is_some_and(|u| u.starts_with("ezs-")))
        .filter(|s| !s.status.is_gone_or_going())
        .collect();
    for o in unknown {
        if adopt(state, server, o, &tenants_by_slug).await? {
            report.adopted += 1;
        } else {
            report.orphans += 1;
            tracing::warn!(kasm = %o.kasm_id, user = ?o.username, server, "Kasm session of ours that no workspace knows");
        }
    }
    record_pass(state, server, started).await?;
    Ok(report)
}

/// Gives an unrecorded session to the workspace that was waiting for it. Our usernames carry the tenant
/// and the customer (`ezs-<slug>-<customer>`); Kasm's listing does not show the session's environment,
/// so the match is: that customer's oldest workspace on this server still waiting for a session, whose
/// plan launches this image. Under the workspace's lease, so a provisioning job running at the same time
/// cannot attach a second session.
async fn adopt(
    state: &AppState,
    server: &str,
    session: &KasmSession,
    tenants: &HashMap<String, Tenant>,
) -> Result<bool, SyncError> {
    let Some((tenant, customer)) = session.username.as_deref().and_then(|u| owner_of(u, tenants)) else {
        return Ok(false);
    };
    let kasm = state.kasm_for(server).await?;
    let images = kasm.get_images().await?;
    let Some(image) = images.iter().find(|i| i.image_id == session.image_id) else { return Ok(false) };
    for ws in store::awaiting_session(&tenant.db, customer, server).await? {
        let template = plan_templates::get(state.central(), ws.plan).await?;
        if template.is_none_or(|t| t.kasm_image != image.name) {
            continue;
        }
        let owner = format!("reconciler-{}", uuid::Uuid::new_v4());
        if !store::acquire_lease(&tenant.db, ws.id, &owner, now(), 30_000).await? {
            continue;
        }
        let attached = store::attach_kasm(&tenant.db, ws.id, &session.kasm_id.to_string(), now()).await;
        store::release_lease(&tenant.db, ws.id, &owner).await?;
        if attached? {
            tracing::info!(workspace = %ws.id, kasm = %session.kasm_id, "adopted an unrecorded Kasm session");
            announce(state, tenant, &ws);
            crate::backend::workspaces::provisioning::enqueue(state, tenant, ws.id).await?;
            return Ok(true);
        }
    }
    Ok(false)
}

/// `ezs-<slug>-<32 hex>` → the tenant and customer it names.
fn owner_of<'a>(username: &str, tenants: &'a HashMap<String, Tenant>) -> Option<(&'a Tenant, CustomerId)> {
    let rest = username.strip_prefix("ezs-")?;
    let (slug, customer) = rest.rsplit_once('-')?;
    let customer = uuid::Uuid::try_parse(customer).ok()?;
    Some((tenants.get(slug)?, CustomerId::from_uuid(customer)))
}

struct ServerCtx<'a> {
    kasm: &'a KasmClient,
    server: &'a str,
    by_id: &'a HashMap<KasmId, &'a KasmSession>,
    last_pass: Option<Timestamp>,
    skew_ms: i64,
}

async fn reconcile_tenant(
    state: &AppState,
    tenant: &Tenant,
    ctx: &ServerCtx<'_>,
    report: &mut Report,
) -> Result<(), SyncError> {
    let ServerCtx { kasm, by_id, last_pass, skew_ms, .. } = *ctx;
    for ws in store::list_attached(&tenant.db, ctx.server).await? {
        report.checked += 1;
        // Counted as found; a workspace this pass stops or restarts moves over below.
        match ws.state {
            WorkspaceState::Running => report.running += 1,
            WorkspaceState::Stopped => report.stopped += 1,
            _ => {}
        }
        let Some(kasm_id) = ws.kasm_id.as_deref().and_then(|k| KasmId::parse(k).ok()) else { continue };
        let session = by_id.get(&kasm_id);
        let status = session.map(|s| &s.status);
        let t = now();
        match ws.state {
            WorkspaceState::Running => {
                let stopped = matches!(status, Some(KasmStatus::Stopped | KasmStatus::Paused | KasmStatus::Stopping));
                let gone = status.is_none_or(KasmStatus::is_gone_or_going);
                if !(stopped || gone) {
                    continue;
                }
                let meter_start = store::open_meter_start(&tenant.db, ws.id).await?.unwrap_or(ws.transition_at);
                // A vanished session's exact end is in Kasm's accounting history (undocumented, so it
                // may be missing); otherwise the last pass that still saw it running.
                let destroyed = if gone { destroyed_at(kasm, kasm_id, skew_ms, report).await } else { None };
                let ended = destroyed.or(last_pass).unwrap_or(meter_start).max(meter_start).min(t);
                let closed =
                    store::stop_meter(&tenant.db, ws.id, WorkspaceState::Running, WorkspaceState::Stopped, ended, t)
                        .await?;
                if closed.is_some() {
                    tracing::info!(workspace = %ws.id, kasm = %kasm_id, gone, "session ended in Kasm; meter closed");
                    report.running = report.running.saturating_sub(1);
                    report.stopped += 1;
                    if gone {
                        report.closed_gone += 1;
                    } else {
                        report.closed_stopped += 1;
                    }
                    announce(state, tenant, &ws);
                }
            }
            // Kasm stops asynchronously: right after our stop it may still list the session as running.
            // Only a workspace stopped for a while and running in Kasm was really started behind our back.
            WorkspaceState::Stopped
                if status.is_some_and(KasmStatus::is_running) && ws.transition_at.millis_until(t) > STOP_GRACE_MS =>
            {
                let plan = catalog::get(&tenant.db, ws.plan).await?.ok_or_else(|| corrupt("workspace plan"))?;
                let rates = super::price_book::session_rates(state.central(), tenant, &plan, t).await?;
                if store::start_meter(&tenant.db, ws.id, WorkspaceState::Stopped, t, &rates.retail, &rates.wholesale, t)
                    .await?
                {
                    tracing::info!(workspace = %ws.id, kasm = %kasm_id, "session running in Kasm; meter reopened");
                    report.reopened += 1;
                    report.stopped = report.stopped.saturating_sub(1);
                    report.running += 1;
                    announce(state, tenant, &ws);
                } else if let Some(user) = session.map(|s| s.user_id) {
                    // Refused because its customer is suspended: started from Kasm's own UI, it is stopped
                    // there again and never billed.
                    let suspended = crate::backend::identity::customers::get(&tenant.db, ws.customer_id)
                        .await?
                        .is_some_and(|c| c.suspended);
                    if suspended {
                        report.calls += 1;
                        match kasm.stop_kasm(kasm_id, user).await {
                            Ok(()) => tracing::info!(workspace = %ws.id, "suspended customer's session stopped"),
                            Err(e) => {
                                tracing::warn!(error = %e, workspace = %ws.id, "stopping a suspended customer's session failed")
                            }
                        }
                    }
                }
            }
            // Deleted on our side but still alive in Kasm (its destroy failed earlier): destroy it now.
            WorkspaceState::Terminated if status.is_some_and(|s| !s.is_gone_or_going()) => {
                if let Some(user) = session.map(|s| s.user_id) {
                    report.calls += 1;
                    match kasm.destroy_kasm(kasm_id, user).await {
                        Ok(()) => report.destroyed += 1,
                        Err(e) => {
                            tracing::warn!(error = %e, kasm = %kasm_id, "destroying a deleted workspace's session failed")
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// When Kasm destroyed the session, on our clock (Kasm's timestamp plus `skew_ms`). `None` when the
/// history endpoint is unavailable or has no row for it.
async fn destroyed_at(kasm: &KasmClient, kasm_id: KasmId, skew_ms: i64, report: &mut Report) -> Option<Timestamp> {
    report.calls += 1;
    let page = match kasm.get_session_history(Some(kasm_id), 1, 5).await {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(error = %e, kasm = %kasm_id, "no session history; billing to the last pass");
            return None;
        }
    };
    let destroyed = page.sessions.into_iter().find(|r| r.kasm_id == kasm_id)?.destroyed_date?;
    Some(destroyed.plus_millis(skew_ms))
}

async fn last_pass(state: &AppState, server: &str) -> Result<Option<Timestamp>, BackendError> {
    let at: Option<i64> = sqlx::query_scalar("SELECT last_ok_at FROM reconciler_passes WHERE kasm_server = $1")
        .bind(server)
        .fetch_optional(state.central().pool())
        .await?;
    Ok(at.map(Timestamp::from_millis))
}

/// Records the pass as of when it *started* listing: a session seen running then was alive at that time.
async fn record_pass(state: &AppState, server: &str, at: Timestamp) -> Result<(), BackendError> {
    sqlx::query(
        "INSERT INTO reconciler_passes (kasm_server, last_ok_at) VALUES ($1, $2) \
         ON CONFLICT (kasm_server) DO UPDATE SET last_ok_at = excluded.last_ok_at",
    )
    .bind(server)
    .bind(at.as_millis())
    .execute(state.central().pool())
    .await?;
    Ok(())
}

/// Runs a pass every `interval` until shutdown, once across the cluster (a new deployment's first pass at
/// once).
pub async fn run(state: AppState, interval: Duration, shutdown: watch::Receiver<bool>) {
    let loops = state.loops();
    loops
        .run(state.central(), Loop::Reconciler, interval, shutdown, || async {
            let result = reconcile_once(&state).await;
            match &result {
                Ok(r) => state.metrics().record_pass(r),
                Err(_) => state.metrics().record_failed_pass(),
            }
            match result {
                Ok(r)
                    if r.closed_gone
                        + r.closed_stopped
                        + r.reopened
                        + r.destroyed
                        + r.adopted
                        + r.orphans
                        + r.failed_servers
                        > 0 =>
                {
                    tracing::info!(?r, "reconciled with Kasm");
                }
                Ok(r) => tracing::debug!(?r, "reconciled with Kasm"),
                Err(e) => tracing::warn!(error = %e, "reconcile pass failed; next pass will retry"),
            }
            // Housekeeping on the same steady beat: the rows of attempt-limit windows that have ended.
            if let Err(e) = state.login_limits().purge_expired().await {
                tracing::warn!(error = %e, "purging ended attempt-limit windows failed; the next pass retries");
            }
        })
        .await;
}
