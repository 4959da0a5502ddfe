//! The reconciler: once per interval, one `get_kasms` call per Kasm server, diffed against our
//! workspaces. Kasm has no webhooks, so this is how we learn that a session was stopped from Kasm's own
//! UI, died, expired, or was started behind our back. (`get_kasm_status` is never used for this: it
//! rotates the session token and would break the customer's open desktop.)
//!
//! Billing rule for sessions found stopped or gone: the meter closes at the last completed pass that
//! still saw the session running (at most one interval late, never later), or at the meter's start.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::Row;
use tokio::sync::watch;

use super::catalog;
use super::db::now;
use super::kasm::{KasmId, KasmSession, KasmStatus};
use super::provisioning::{announce, SyncError};
use super::state::{AppState, Tenant};
use super::workspaces;
use super::{corrupt, BackendError};
use crate::domain::time::Timestamp;
use crate::domain::workspace::WorkspaceState;

/// What one pass found and did; logged, and exported as counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
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
    /// Sessions of our platform's users that no workspace of ours knows (reported, left alone).
    pub orphans: usize,
    /// Kasm API calls made.
    pub calls: usize,
}

/// How long after a stop a session may still be listed as running without counting as restarted.
const STOP_GRACE_MS: i64 = 120_000;

/// The name a Kasm server is recorded under (one server for now; zones later).
const SERVER: &str = "default";

pub async fn reconcile_once(state: &AppState) -> Result<Report, SyncError> {
    let started = now();
    let list = state.kasm().get_kasms().await?;
    let mut report = Report { sessions: list.kasms.len(), calls: 1, ..Report::default() };
    let by_id: HashMap<KasmId, &KasmSession> = list.kasms.iter().map(|s| (s.kasm_id, s)).collect();
    let last_pass = last_pass(state).await?;

    // Kasm's clock minus ours, measured at the listing: applied to Kasm's timestamps.
    let skew_ms = list.current_time.map_or(0, |k| now().as_millis() - k.as_millis());
    let mut known: HashSet<KasmId> = HashSet::new();
    for entry in state.registry().entries().await? {
        let Some(tenant) = state.tenant_by_id(entry.id).await? else { continue };
        reconcile_tenant(state, &tenant, &by_id, last_pass, skew_ms, &mut report).await?;
        known.extend(workspaces::known_kasm_ids(&tenant.db).await?.iter().filter_map(|k| KasmId::parse(k).ok()));
    }
    let orphans: Vec<&KasmSession> = list
        .kasms
        .iter()
        .filter(|s| !known.contains(&s.kasm_id))
        .filter(|s| s.username.as_deref().is_some_and(|u| u.starts_with("ezs-")))
        .filter(|s| !s.status.is_gone_or_going())
        .collect();
    report.orphans = orphans.len();
    for o in &orphans {
        tracing::warn!(kasm = %o.kasm_id, user = ?o.username, "Kasm session of ours that no workspace knows");
    }
    record_pass(state, started).await?;
    Ok(report)
}

async fn reconcile_tenant(
    state: &AppState,
    tenant: &Tenant,
    by_id: &HashMap<KasmId, &KasmSession>,
    last_pass: Option<Timestamp>,
    skew_ms: i64,
    report: &mut Report,
) -> Result<(), SyncError> {
    for ws in workspaces::list_attached(&tenant.db).await? {
        report.checked += 1;
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
                let meter_start = workspaces::open_meter_start(&tenant.db, ws.id).await?.unwrap_or(ws.transition_at);
                // A vanished session's exact end is in Kasm's accounting history (undocumented, so it
                // may be missing); otherwise the last pass that still saw it running.
                let destroyed = if gone { destroyed_at(state, kasm_id, skew_ms, report).await } else { None };
                let ended = destroyed.or(last_pass).unwrap_or(meter_start).max(meter_start).min(t);
                let closed = workspaces::stop_meter(
                    &tenant.db,
                    ws.id,
                    WorkspaceState::Running,
                    WorkspaceState::Stopped,
                    ended,
                    t,
                )
                .await?;
                if closed.is_some() {
                    tracing::info!(workspace = %ws.id, kasm = %kasm_id, gone, "session ended in Kasm; meter closed");
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
                if workspaces::start_meter(
                    &tenant.db,
                    ws.id,
                    WorkspaceState::Stopped,
                    t,
                    &plan.retail,
                    &plan.wholesale,
                    t,
                )
                .await?
                {
                    tracing::info!(workspace = %ws.id, kasm = %kasm_id, "session running in Kasm; meter reopened");
                    report.reopened += 1;
                    announce(state, tenant, &ws);
                }
            }
            // Deleted on our side but still alive in Kasm (its destroy failed earlier): destroy it now.
            WorkspaceState::Terminated if status.is_some_and(|s| !s.is_gone_or_going()) => {
                if let Some(user) = session.map(|s| s.user_id) {
                    report.calls += 1;
                    match state.kasm().destroy_kasm(kasm_id, user).await {
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
async fn destroyed_at(state: &AppState, kasm_id: KasmId, skew_ms: i64, report: &mut Report) -> Option<Timestamp> {
    report.calls += 1;
    let page = match state.kasm().get_session_history(Some(kasm_id), 1, 5).await {
        Ok(p) => p,
        Err(e) => {
            tracing::debug!(error = %e, kasm = %kasm_id, "no session history; billing to the last pass");
            return None;
        }
    };
    let destroyed = page.sessions.into_iter().find(|r| r.kasm_id == kasm_id)?.destroyed_date?;
    Some(destroyed.plus_millis(skew_ms))
}

async fn last_pass(state: &AppState) -> Result<Option<Timestamp>, BackendError> {
    let row = sqlx::query("SELECT last_ok_at FROM reconciler_passes WHERE kasm_server = $1")
        .bind(SERVER)
        .fetch_optional(state.central().pool())
        .await?;
    Ok(match row {
        Some(r) => Some(Timestamp::from_millis(r.try_get(0)?)),
        None => None,
    })
}

/// Records the pass as of when it *started* listing: a session seen running then was alive at that time.
async fn record_pass(state: &AppState, at: Timestamp) -> Result<(), BackendError> {
    sqlx::query(
        "INSERT INTO reconciler_passes (kasm_server, last_ok_at) VALUES ($1, $2) \
         ON CONFLICT (kasm_server) DO UPDATE SET last_ok_at = excluded.last_ok_at",
    )
    .bind(SERVER)
    .bind(at.as_millis())
    .execute(state.central().pool())
    .await?;
    Ok(())
}

/// Runs a pass every `interval` until shutdown.
pub async fn run(state: AppState, interval: Duration, mut shutdown: watch::Receiver<bool>) {
    loop {
        let result = reconcile_once(&state).await;
        match &result {
            Ok(r) => state.metrics().record_pass(r),
            Err(_) => state.metrics().record_failed_pass(),
        }
        match result {
            Ok(r) if r.closed_gone + r.closed_stopped + r.reopened + r.destroyed + r.orphans > 0 => {
                tracing::info!(?r, "reconciled with Kasm");
            }
            Ok(r) => tracing::debug!(?r, "reconciled with Kasm"),
            Err(e) => tracing::warn!(error = %e, "reconcile pass failed; next pass will retry"),
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        if *shutdown.borrow() {
            return;
        }
    }
}
