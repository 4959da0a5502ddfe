//! Counters for `/metrics` (Prometheus text format). Counts of rows are read at scrape time; events that
//! leave no row (reconciler findings) are counted here as they happen.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::reconciler::Report;
use super::state::AppState;
use super::Result;

#[derive(Debug, Default)]
pub struct Metrics {
    reconcile_passes: AtomicU64,
    reconcile_failures: AtomicU64,
    reconcile_calls: AtomicU64,
    closed_gone: AtomicU64,
    closed_stopped: AtomicU64,
    reopened: AtomicU64,
    destroyed: AtomicU64,
    adopted: AtomicU64,
    failed_servers: AtomicU64,
    orphans_last_pass: AtomicU64,
}

impl Metrics {
    pub fn record_pass(&self, r: &Report) {
        let add = |c: &AtomicU64, n: usize| c.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
        add(&self.reconcile_passes, 1);
        add(&self.reconcile_calls, r.calls);
        add(&self.closed_gone, r.closed_gone);
        add(&self.closed_stopped, r.closed_stopped);
        add(&self.reopened, r.reopened);
        add(&self.destroyed, r.destroyed);
        add(&self.adopted, r.adopted);
        add(&self.failed_servers, r.failed_servers);
        self.orphans_last_pass.store(u64::try_from(r.orphans).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    pub fn record_failed_pass(&self) {
        self.reconcile_failures.fetch_add(1, Ordering::Relaxed);
    }
}

/// The whole exposition.
pub async fn render(state: &AppState) -> Result<String> {
    let m = state.metrics();
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, v: &AtomicU64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Ordering::Relaxed));
    };
    counter("ezs_reconcile_passes_total", "Completed reconcile passes.", &m.reconcile_passes);
    counter("ezs_reconcile_failures_total", "Reconcile passes that failed.", &m.reconcile_failures);
    counter("ezs_reconcile_kasm_calls_total", "Kasm API calls made by the reconciler.", &m.reconcile_calls);
    counter("ezs_reconcile_meters_closed_gone_total", "Meters closed because the session vanished.", &m.closed_gone);
    counter(
        "ezs_reconcile_meters_closed_stopped_total",
        "Meters closed because Kasm stopped the session.",
        &m.closed_stopped,
    );
    counter("ezs_reconcile_meters_reopened_total", "Meters reopened for sessions found running.", &m.reopened);
    counter(
        "ezs_reconcile_sessions_destroyed_total",
        "Leftover sessions of deleted workspaces destroyed.",
        &m.destroyed,
    );
    counter(
        "ezs_reconcile_sessions_adopted_total",
        "Unrecorded sessions of ours adopted by waiting workspaces.",
        &m.adopted,
    );
    counter(
        "ezs_reconcile_server_failures_total",
        "Kasm servers that could not be listed in a pass.",
        &m.failed_servers,
    );
    let _ = writeln!(
        out,
        "# HELP ezs_reconcile_orphans Kasm sessions of our users that no workspace knows (last pass).\n\
         # TYPE ezs_reconcile_orphans gauge\nezs_reconcile_orphans {}",
        m.orphans_last_pass.load(Ordering::Relaxed)
    );

    let _ = writeln!(out, "# HELP ezs_workspaces Workspaces by state.\n# TYPE ezs_workspaces gauge");
    for entry in state.registry().entries().await? {
        let Some(tenant) = state.tenant_by_id(entry.id).await? else { continue };
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM workspaces GROUP BY state").fetch_all(tenant.db.pool()).await?;
        for (st, n) in rows {
            let _ = writeln!(out, "ezs_workspaces{{tenant=\"{}\",state=\"{st}\"}} {n}", tenant.slug);
        }
    }
    let _ = writeln!(out, "# HELP ezs_jobs Background jobs by state.\n# TYPE ezs_jobs gauge");
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetch_all(state.central().pool()).await?;
    for (st, n) in rows {
        let _ = writeln!(out, "ezs_jobs{{state=\"{st}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP ezs_kasm_breaker_open 1 while a Kasm server's circuit breaker fails calls fast.\n\
         # TYPE ezs_kasm_breaker_open gauge"
    );
    for server in super::kasm_servers::list(state.central()).await? {
        let breaker = state.kasm_servers().breaker_state(&server.id);
        let _ = writeln!(
            out,
            "ezs_kasm_breaker_open{{server=\"{}\",state=\"{}\"}} {}",
            server.id,
            breaker.as_str(),
            u8::from(breaker != super::kasm::BreakerState::Closed)
        );
    }
    Ok(out)
}
