//! Periodic loops that every app server runs and the cluster runs once per interval.
//!
//! Each server runs every loop ([`Loops::run`]), but a pass happens only on the server that claims the
//! loop's row in the central database (`loop_leases`). A claim succeeds when the next pass is due and no
//! pass holds a live lease; it moves `next_due` one interval on, so however many servers there are, the
//! loop runs once per interval. The server running a pass renews its lease every third of it; a server
//! that dies mid-pass stops renewing, and the first server to look after the lease has lapsed runs the next
//! pass: within one interval, since the lease is never longer than the interval (or 1 s, if that is longer). Passes must therefore
//! be safe to repeat and to be cut short, which the reconciler, the meter, the billing scheduler and the
//! domain checks are: each step of theirs is idempotent and transactional.
//!
//! A loop's row is created when a server first runs it: due at once for the reconciler (a new deployment
//! compares Kasm with its records straight away), one interval ahead for the others (a new deployment, or a
//! test's new database, meters and bills nothing before the interval has passed). A server that restarts
//! does not run an early pass: the cluster's schedule stands, and after a stop longer than the interval the
//! first server back runs the overdue pass at once.
//!
//! `/metrics` shows, per loop, the passes this server ran and the last pass the cluster ran (which server,
//! when it finished): [`Loops::render_metrics`].

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

use crate::backend::platform::db::{now, CentralDb};

/// The periodic loops of the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Loop {
    /// Compares Kasm's sessions with the workspaces and mends the difference.
    Reconciler,
    /// Charges running usage to prepaid credit.
    Meter,
    /// Bills finished periods, retries due payments, collects wholesale invoices.
    Billing,
    /// Checks unverified custom domains that are due a check.
    DomainChecks,
}

impl Loop {
    pub const ALL: [Loop; 4] = [Loop::Reconciler, Loop::Meter, Loop::Billing, Loop::DomainChecks];

    /// Whether a new deployment's first pass is due at once (otherwise one interval after it starts).
    fn first_pass_at_once(self) -> bool {
        matches!(self, Loop::Reconciler)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Loop::Reconciler => "reconciler",
            Loop::Meter => "meter",
            Loop::Billing => "billing",
            Loop::DomainChecks => "domain_checks",
        }
    }
}

/// How long a pass's lease lasts before it must be renewed: as long as the interval, so another server
/// takes over a dead server's loop within one interval, but no longer than 10 s (a dead server's pass is
/// taken over quickly) and no shorter than 1 s (a busy database does not make healthy passes lose it).
pub fn lease_for(interval: Duration) -> Duration {
    interval.clamp(Duration::from_secs(1), Duration::from_secs(10))
}

/// What a claim found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This server runs the pass; renew and finish it with this token. `took_over_from`: the server whose
    /// pass never finished (it stopped renewing its lease: it died or lost the database).
    Won { token: Token, took_over_from: Option<String> },
    /// Not now: the next pass is not due, or another server's pass holds the lease. Look again at this
    /// instant (ms since the Unix epoch, on the servers' clock).
    NotYet { look_again_at: i64 },
}

/// One claimed pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token(uuid::Uuid);

/// Claims the next pass of `name` for `server`, if it is due and no pass holds a live lease.
pub async fn claim(central: &CentralDb, name: Loop, server: &str, interval: Duration) -> Result<Claim, sqlx::Error> {
    let t = now().as_millis();
    let every = ms(interval);
    let lease = ms(lease_for(interval));
    sqlx::query("INSERT INTO loop_leases (name, next_due) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name.as_str())
        .bind(if name.first_pass_at_once() { t } else { t.saturating_add(every) })
        .execute(central.pool())
        .await?;
    // Read first only to know when to look again, and whose lapsed pass a win takes over; the claim itself
    // is the one UPDATE below.
    let (next_due, lease_until, holder): (i64, Option<i64>, Option<String>) =
        sqlx::query_as("SELECT next_due, lease_until, holder FROM loop_leases WHERE name = $1")
            .bind(name.as_str())
            .fetch_one(central.pool())
            .await?;
    let free_at = lease_until.map_or(0, |l| l.saturating_add(1));
    let look_again_at = next_due.max(free_at);
    if look_again_at > t {
        return Ok(Claim::NotYet { look_again_at });
    }
    let token = uuid::Uuid::new_v4();
    // One statement: the row's check and its change are atomic on both engines, so of two servers claiming
    // at the same instant exactly one changes the row.
    let won = sqlx::query(
        "UPDATE loop_leases SET token = $1, holder = $2, lease_until = $3, next_due = $4, last_started_at = $5 \
         WHERE name = $6 AND next_due <= $5 AND (lease_until IS NULL OR lease_until < $5)",
    )
    .bind(token.to_string())
    .bind(server)
    .bind(t.saturating_add(lease))
    .bind(t.saturating_add(every))
    .bind(t)
    .bind(name.as_str())
    .execute(central.pool())
    .await?
    .rows_affected();
    if won == 1 {
        return Ok(Claim::Won { token: Token(token), took_over_from: holder });
    }
    // Another server won the race; its pass's lease says when to look again.
    Ok(Claim::NotYet { look_again_at: t.saturating_add(lease) })
}

/// Extends a running pass's lease. `false` when the pass no longer holds it (it lapsed and another server
/// claimed the loop): the pass goes on (it is safe beside another), but it is logged.
pub async fn renew(central: &CentralDb, name: Loop, token: Token, interval: Duration) -> Result<bool, sqlx::Error> {
    let t = now().as_millis();
    let n = sqlx::query("UPDATE loop_leases SET lease_until = $1 WHERE name = $2 AND token = $3")
        .bind(t.saturating_add(ms(lease_for(interval))))
        .bind(name.as_str())
        .bind(token.0.to_string())
        .execute(central.pool())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Records a finished pass and frees the lease.
pub async fn finish(central: &CentralDb, name: Loop, token: Token, server: &str) -> Result<bool, sqlx::Error> {
    let t = now().as_millis();
    let n = sqlx::query(
        "UPDATE loop_leases SET token = NULL, holder = NULL, lease_until = NULL, passes = passes + 1, \
             last_server = $1, last_finished_at = $2 WHERE name = $3 AND token = $4",
    )
    .bind(server)
    .bind(t)
    .bind(name.as_str())
    .bind(token.0.to_string())
    .execute(central.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The cluster's record of a loop.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct LoopRecord {
    pub name: String,
    pub next_due: i64,
    pub holder: Option<String>,
    pub lease_until: Option<i64>,
    pub passes: i64,
    pub last_server: Option<String>,
    pub last_started_at: Option<i64>,
    pub last_finished_at: Option<i64>,
}

/// Every loop's record, by name.
pub async fn records(central: &CentralDb) -> Result<Vec<LoopRecord>, sqlx::Error> {
    sqlx::query_as(
        "SELECT name, next_due, holder, lease_until, passes, last_server, last_started_at, last_finished_at \
         FROM loop_leases ORDER BY name",
    )
    .fetch_all(central.pool())
    .await
}

/// This server's loops: its name in the cluster and what it ran.
#[derive(Debug)]
pub struct Loops {
    server: String,
    passes: HashMap<Loop, AtomicU64>,
    takeovers: HashMap<Loop, AtomicU64>,
    lost_leases: HashMap<Loop, AtomicU64>,
}

impl Loops {
    pub fn new(server: impl Into<String>) -> Loops {
        let counters = || Loop::ALL.iter().map(|l| (*l, AtomicU64::new(0))).collect::<HashMap<_, _>>();
        Loops { server: server.into(), passes: counters(), takeovers: counters(), lost_leases: counters() }
    }

    /// This server's name in `loop_leases` and `/metrics`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Passes of `name` this server ran since it started.
    pub fn passes(&self, name: Loop) -> u64 {
        self.passes.get(&name).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn bump(map: &HashMap<Loop, AtomicU64>, name: Loop) {
        if let Some(c) = map.get(&name) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Runs `pass` whenever this server wins the loop, until `shutdown` flips; a pass in progress finishes
    /// first.
    pub async fn run<F, Fut>(
        &self,
        central: &CentralDb,
        name: Loop,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
        mut pass: F,
    ) where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let wait = match claim(central, name, &self.server, interval).await {
                Ok(Claim::Won { token, took_over_from }) => {
                    if let Some(other) = took_over_from {
                        Self::bump(&self.takeovers, name);
                        tracing::info!(r#loop = name.as_str(), from = %other, "took over a loop whose pass never finished");
                    }
                    self.run_pass(central, name, interval, token, &mut pass).await;
                    interval
                }
                Ok(Claim::NotYet { look_again_at }) => {
                    // Never longer than an interval (a clock that jumps, a row changed by hand), never a
                    // busy loop.
                    let ms = look_again_at.saturating_sub(now().as_millis()).clamp(10, ms(interval).max(10));
                    Duration::from_millis(u64::try_from(ms).unwrap_or(10))
                }
                Err(e) => {
                    tracing::warn!(error = %e, r#loop = name.as_str(), "claiming a loop's pass failed; trying again");
                    lease_for(interval)
                }
            };
            tokio::select! {
                changed = shutdown.changed() => {
                    // The sender is gone: nobody can ask this loop to stop any more, so it stops now.
                    if changed.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn run_pass<F, Fut>(&self, central: &CentralDb, name: Loop, interval: Duration, token: Token, pass: &mut F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        let holding = std::sync::atomic::AtomicBool::new(true);
        super::leases::while_renewing(pass(), lease_for(interval) / 3, || async {
            match renew(central, name, token, interval).await {
                Ok(true) => {}
                Ok(false) => {
                    if holding.swap(false, Ordering::Relaxed) {
                        Self::bump(&self.lost_leases, name);
                        tracing::warn!(
                            r#loop = name.as_str(),
                            "a pass outlived its lease; another server may run the loop"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, r#loop = name.as_str(), "renewing a loop's lease failed"),
            }
        })
        .await;
        Self::bump(&self.passes, name);
        if let Err(e) = finish(central, name, token, &self.server).await {
            tracing::warn!(error = %e, r#loop = name.as_str(), "recording a finished pass failed; its lease lapses");
        }
    }

    /// The loops' series for `/metrics`: this server's passes, takeovers and lost leases, and the cluster's
    /// last pass of each loop with the server that ran it.
    pub fn render_metrics(&self, out: &mut String, records: &[LoopRecord]) {
        let series = |out: &mut String, metric: &str, help: &str, map: &HashMap<Loop, AtomicU64>| {
            let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
            for l in Loop::ALL {
                let n = map.get(&l).map_or(0, |c| c.load(Ordering::Relaxed));
                let _ = writeln!(out, "{metric}{{loop=\"{}\",server=\"{}\"}} {n}", l.as_str(), label(&self.server));
            }
        };
        series(out, "ezs_loop_passes_total", "Periodic passes this server ran.", &self.passes);
        series(
            out,
            "ezs_loop_takeovers_total",
            "Passes this server ran after another server's lease lapsed.",
            &self.takeovers,
        );
        series(
            out,
            "ezs_loop_leases_lost_total",
            "Passes of this server that outlived their lease.",
            &self.lost_leases,
        );
        let _ = writeln!(
            out,
            "# HELP ezs_loop_last_pass_seconds When the cluster's last pass of a loop finished, by the server that ran it.\n\
             # TYPE ezs_loop_last_pass_seconds gauge"
        );
        for r in records {
            if let (Some(server), Some(at)) = (&r.last_server, r.last_finished_at) {
                let _ = writeln!(
                    out,
                    "ezs_loop_last_pass_seconds{{loop=\"{}\",server=\"{}\"}} {}",
                    label(&r.name),
                    label(server),
                    at / 1000
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP ezs_loop_cluster_passes_total Passes of a loop run by any server.\n\
             # TYPE ezs_loop_cluster_passes_total counter"
        );
        for r in records {
            let _ = writeln!(out, "ezs_loop_cluster_passes_total{{loop=\"{}\"}} {}", label(&r.name), r.passes);
        }
    }
}

/// A Prometheus label value: quotes, backslashes and line breaks escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_lasts_an_interval_between_one_and_ten_seconds() {
        assert_eq!(lease_for(Duration::from_millis(200)), Duration::from_secs(1));
        assert_eq!(lease_for(Duration::from_secs(4)), Duration::from_secs(4));
        assert_eq!(lease_for(Duration::from_secs(3600)), Duration::from_secs(10));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
