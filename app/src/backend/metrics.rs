//! Counters for `/metrics` (Prometheus text format), served on the operations listener only. A scrape
//! reads central figures (jobs, tenants, Kasm servers) and what the workers counted as they went (the
//! reconciler's findings and the workspaces its last pass saw); it never opens a tenant's database, so
//! its cost does not grow with the number of tenants.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::state::AppState;
use crate::backend::workspaces::reconciler::Report;
use crate::backend::Result;

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
    sessions_last_pass: AtomicU64,
    running_last_pass: AtomicU64,
    stopped_last_pass: AtomicU64,
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
        let set = |g: &AtomicU64, n: usize| g.store(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
        set(&self.orphans_last_pass, r.orphans);
        set(&self.sessions_last_pass, r.sessions);
        set(&self.running_last_pass, r.running);
        set(&self.stopped_last_pass, r.stopped);
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

    let _ = writeln!(
        out,
        "# HELP ezs_workspaces Workspaces with a Kasm session, by state, as the last reconcile pass left them.\n\
         # TYPE ezs_workspaces gauge\nezs_workspaces{{state=\"running\"}} {}\nezs_workspaces{{state=\"stopped\"}} {}",
        m.running_last_pass.load(Ordering::Relaxed),
        m.stopped_last_pass.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP ezs_kasm_sessions Sessions Kasm listed in the last reconcile pass (all servers).\n\
         # TYPE ezs_kasm_sessions gauge\nezs_kasm_sessions {}",
        m.sessions_last_pass.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "# HELP ezs_tenants Tenants by status.\n# TYPE ezs_tenants gauge");
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM tenants GROUP BY status ORDER BY status")
            .fetch_all(state.central().pool())
            .await?;
    for (st, n) in rows {
        let _ = writeln!(out, "ezs_tenants{{status=\"{st}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP ezs_tenant_pools_open Tenant database pools open in this process.\n\
         # TYPE ezs_tenant_pools_open gauge\nezs_tenant_pools_open {}",
        state.registry().open_pools()
    );
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
    for server in crate::backend::workspaces::kasm_servers::list(state.central()).await? {
        let breaker = state.kasm_servers().breaker_state(&server.id);
        let _ = writeln!(
            out,
            "ezs_kasm_breaker_open{{server=\"{}\",state=\"{}\"}} {}",
            server.id,
            breaker.as_str(),
            u8::from(breaker != crate::backend::clients::kasm::BreakerState::Closed)
        );
    }
    // Failed sign-ins and limiter refusals per role (customer, staff, admin), as counted when they happened.
    state.login_limits().render_metrics(&mut out);
    // The live-event listener of this server (PostgreSQL only).
    state.events().render_metrics(&mut out);
    // The periodic loops: what this server ran, and which server ran each loop's last pass.
    let loops = crate::backend::platform::loops::records(state.central()).await?;
    state.loops().render_metrics(&mut out, &loops);
    Ok(out)
}
