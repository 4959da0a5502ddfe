//! The billing run of one tenant for one period: exactly once, resumable.
//!
//! For each customer with usage in the period, one transaction writes the invoice (a draft), its lines and
//! the `billed_segments` rows that mark every (session, period) it bills. Unique keys make a second writer
//! fail instead of billing twice: one invoice per (customer, period), one billing per (session, period).
//! Then each draft is finalised (numbered, settled from credit) and its email queued (the outbox dedupes;
//! `emailed_at` records it). Every step looks at what is already recorded, so after a crash at any point a
//! rerun finishes the job, and a rerun of a finished period reports nothing to do. Two runs at once are safe:
//! the loser of each race finds the winner's rows.

use uuid::Uuid;

use super::invoices::{self, is_unique_violation, Status};
use super::notify;
use super::usage::{self, Session};
use crate::backend::platform::db::{now, values_sql, Engine};
use crate::backend::platform::loops::Loop;
use crate::backend::state::{AppState, Tenant};
use crate::backend::{corrupt, BackendError};
use crate::domain::billing::{lines_total, window_lines};
use crate::domain::billing_state::BillingRunState;
use crate::domain::ids::CustomerId;
use crate::domain::money::Money;
use crate::domain::period::Period;
use crate::domain::time::Timestamp;

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunReport {
    pub period: String,
    /// Customers with usage in the period.
    pub customers: usize,
    /// Invoices written by this run.
    pub created: usize,
    /// Drafts this run finalised (its own, or ones a crashed run left).
    pub finalised: usize,
    /// Invoice emails this run queued.
    pub emailed: usize,
    /// Customers whose invoice for the period already existed.
    pub already_invoiced: usize,
    /// Session segments this run billed.
    pub segments: usize,
    /// The total of the invoices this run wrote, in minor units of `currency`.
    pub total_minor: i64,
    /// The tenant's currency (absent from reports written before it was recorded).
    #[serde(default)]
    pub currency: Option<crate::domain::money::Currency>,
    /// The reseller's wholesale invoice for the period (runs over all tenants only).
    pub wholesale: Option<super::wholesale::Outcome>,
}

impl RunReport {
    /// The total written, with its currency ("$12.50"); only reports older than the currency field
    /// fall back to the bare count of minor units, saying so.
    pub fn total_text(&self) -> String {
        match self.currency {
            Some(c) => crate::domain::money::Money::from_minor(self.total_minor, c).to_string(),
            None => format!("{} minor units", self.total_minor),
        }
    }

    pub fn nothing_to_do(&self) -> bool {
        self.created == 0
            && self.finalised == 0
            && self.emailed == 0
            && !matches!(self.wholesale, Some(super::wholesale::Outcome::Written))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("period {0} is not over yet; it can be billed from its end")]
    NotOver(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<sqlx::Error> for RunError {
    fn from(e: sqlx::Error) -> Self {
        RunError::Backend(e.into())
    }
}

/// Bills `period` for the tenant. `on_customer` is told after each customer (progress bars).
pub async fn run_tenant(
    state: &AppState,
    tenant: &Tenant,
    period: Period,
    mut on_customer: impl FnMut(usize, usize),
) -> Result<RunReport, RunError> {
    let t = now();
    if t < period.end() {
        return Err(RunError::NotOver(period.key()));
    }
    let key = period.key();
    let mut report = RunReport { period: key.clone(), currency: Some(tenant.currency), ..RunReport::default() };
    let mut customers = usage::customers_with_usage(&tenant.db, period.start(), period.end()).await?;
    for c in super::subscriptions::customers_in(&tenant.db, period).await? {
        if !customers.contains(&c) {
            customers.push(c);
        }
    }
    report.customers = customers.len();
    let plan_names = plan_names(tenant).await?;
    for (i, customer) in customers.iter().enumerate() {
        match bill_customer(state, tenant, *customer, period, t, &plan_names).await? {
            Billed::Created { segments, total } => {
                report.created += 1;
                report.segments += segments;
                report.total_minor += total;
            }
            Billed::Existing => report.already_invoiced += 1,
            Billed::Nothing => {}
        }
        on_customer(i + 1, customers.len());
    }
    // Finish every invoice of the period: this run's, and any a crashed run left half-way.
    let terms = super::terms::get(state.central(), tenant.id).await?;
    // The brand the emails carry, read when the first is sent.
    let mut sender = None;
    for inv in invoices::list_period(&tenant.db, &key).await? {
        if inv.status == Status::Draft {
            if invoices::finalise(&tenant.db, &inv.id, now(), terms, state.failpoints()).await? {
                report.finalised += 1;
            }
            state.failpoints().check("billing.finalised")?;
        }
        let Some(inv) = invoices::get(&tenant.db, &inv.id).await? else { continue };
        if inv.emailed_at.is_none() && matches!(inv.status, Status::Finalised | Status::Paid) {
            let sender = match &mut sender {
                Some(s) => s,
                None => sender.insert(notify::Sender::of(state, tenant).await?),
            };
            notify::invoice_issued(state, tenant, sender, &inv).await?;
            state.failpoints().check("billing.email_queued")?;
            if invoices::mark_emailed(&tenant.db, &inv.id, now()).await? {
                report.emailed += 1;
            }
        }
        // What credit did not cover goes to the saved card (first attempt; dunning does the rest).
        if inv.status == Status::Finalised && inv.payment_attempts == 0 && inv.amount_due().minor() > 0 {
            if let Err(e) = crate::backend::billing::payments::collect(state, tenant, &inv).await {
                tracing::warn!(error = %e, invoice = %inv.id, "charging the invoice failed; dunning retries");
            }
        }
    }
    Ok(report)
}

enum Billed {
    Created { segments: usize, total: i64 },
    Existing,
    Nothing,
}

/// One customer's invoice, lines and segment marks, in one transaction.
async fn bill_customer(
    state: &AppState,
    tenant: &Tenant,
    customer: CustomerId,
    period: Period,
    t: Timestamp,
    plan_names: &[(String, String)],
) -> Result<Billed, RunError> {
    let key = period.key();
    let subs = super::subscriptions::active_in(&tenant.db, period, Some(customer)).await?;
    // Lines name each workspace as its customer does (read before the transaction: labels only).
    let labels = crate::backend::workspaces::store::labels(&tenant.db, customer).await?;
    let mut tx = tenant.db.begin().await?;
    // Take the write lock first (SQLite: a read-then-write transaction could not upgrade under a
    // concurrent writer; PostgreSQL: runs for the same customer queue here).
    sqlx::query("UPDATE counters SET value = value WHERE name = 'invoice_number'").execute(&mut *tx).await?;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT id FROM invoices WHERE customer_id = $1 AND period = $2 AND kind = 'invoice'")
            .bind(customer.to_string())
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await?;
    if existing.is_some() {
        tx.rollback().await?;
        return Ok(Billed::Existing);
    }
    let sessions: Vec<Session> = usage::customer_sessions(&mut *tx, customer, period.start(), period.end()).await?;
    let facts: Vec<_> = sessions.iter().map(Session::retail_fact).collect();
    let lines = window_lines(&facts, period.start(), period.end(), t).map_err(|e| corrupt(e.to_string()))?;
    let sub_amounts: Vec<(i64, i64)> = subs.iter().map(|s| super::subscriptions::amounts(s, period)).collect();
    if lines.is_empty() && sub_amounts.iter().all(|a| a.0 == 0) {
        tx.rollback().await?;
        return Ok(Billed::Nothing);
    }
    let currency = tenant.currency;
    let usage_total = lines_total(&lines, currency).map_err(|e| corrupt(e.to_string()))?;
    let total = Money::from_minor(usage_total.minor() + sub_amounts.iter().map(|a| a.0).sum::<i64>(), currency);
    let invoice_id = Uuid::new_v4().to_string();
    let inserted = sqlx::query(
        "INSERT INTO invoices (id, customer_id, kind, period, period_start, period_end, status, currency, \
         total_minor, created_at) VALUES ($1, $2, 'invoice', $3, $4, $5, 'draft', $6, $7, $8)",
    )
    .bind(&invoice_id)
    .bind(customer.to_string())
    .bind(&key)
    .bind(period.start().as_millis())
    .bind(period.end().as_millis())
    .bind(currency.code())
    .bind(total.minor())
    .bind(t.as_millis())
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        // Another run got there first.
        Err(e) if is_unique_violation(&e) => {
            tx.rollback().await?;
            return Ok(Billed::Existing);
        }
        Err(e) => return Err(e.into()),
    }
    state.failpoints().check("billing.invoice_written")?;
    // (session id, line id, increments) of every segment this invoice bills, written together below.
    let mut marks: Vec<(&str, String, i64)> = Vec::with_capacity(sessions.len());
    let mut usage_lines = Vec::with_capacity(lines.len());
    for (pos, line) in lines.iter().enumerate() {
        let line_id = Uuid::new_v4().to_string();
        let line_sessions: Vec<&Session> = line.sessions.iter().map(|(i, _)| &sessions[*i]).collect();
        let plan = line_sessions.first().map_or("", |s| s.plan_code.as_str());
        let name = plan_names.iter().find(|(c, _)| c == plan).map_or(plan, |(_, n)| n.as_str());
        let description = match labels.iter().find(|w| w.id == line.workspace && !w.name.is_empty()) {
            Some(w) => format!("{} ({name}) — {} × 15 min at {}", w.name, line.increments, line.rate),
            None => {
                format!("{name} workspace {} — {} × 15 min at {}", short(&line.workspace), line.increments, line.rate)
            }
        };
        let wholesale_facts: Vec<_> = line_sessions.iter().map(|s| s.wholesale_fact()).collect();
        let wholesale = lines_total(
            &window_lines(&wholesale_facts, period.start(), period.end(), t).map_err(|e| corrupt(e.to_string()))?,
            currency,
        )
        .map_err(|e| corrupt(e.to_string()))?;
        marks.extend(line.sessions.iter().map(|(i, n)| (sessions[*i].id.as_str(), line_id.clone(), *n)));
        usage_lines.push(UsageLine {
            id: line_id,
            position: i64::try_from(pos + 1).unwrap_or(i64::MAX),
            workspace: &line.workspace,
            description,
            rate: line.rate.amount_per_hour().to_string(),
            increments: line.increments,
            amount: line.amount.minor(),
            wholesale: wholesale.minor(),
        });
    }
    let engine = tenant.db.pool().engine();
    insert_lines(&mut tx, engine, &invoice_id, &usage_lines).await?;
    mark_segments(&mut tx, engine, &key, &marks).await?;
    let segments = marks.len();
    for (i, (sub, (retail, wholesale))) in subs.iter().zip(&sub_amounts).enumerate() {
        if *retail == 0 {
            continue;
        }
        let line_id = Uuid::new_v4().to_string();
        let description = format!(
            "{} subscription ({} a month), {}",
            sub.plan_code,
            sub.retail_monthly,
            super::super::super::domain::period::Period::to_string(&period)
        );
        sqlx::query(
            "INSERT INTO invoice_lines (id, invoice_id, position, workspace_id, description, rate, increments, \
             amount_minor, wholesale_minor) VALUES ($1, $2, $3, NULL, $4, NULL, 0, $5, $6)",
        )
        .bind(&line_id)
        .bind(&invoice_id)
        .bind(i64::try_from(lines.len() + i + 1).unwrap_or(i64::MAX))
        .bind(&description)
        .bind(*retail)
        .bind(*wholesale)
        .execute(&mut *tx)
        .await?;
        // The primary key (subscription, period) refuses billing the same month twice.
        sqlx::query(
            "INSERT INTO billed_subscription_periods (subscription_id, period, line_id, amount_minor) VALUES ($1, $2, $3, $4)",
        )
        .bind(&sub.id)
        .bind(&key)
        .bind(&line_id)
        .bind(*retail)
        .execute(&mut *tx)
        .await?;
    }
    state.failpoints().check("billing.lines_written")?;
    tx.commit().await?;
    state.failpoints().check("billing.committed")?;
    Ok(Billed::Created { segments, total: total.minor() })
}

/// Rows per statement when marking segments: 4 parameters each, well under SQLite's and PostgreSQL's limits.
const SEGMENT_BATCH: usize = 250;
/// Invoice lines per statement: 9 parameters each.
const LINE_BATCH: usize = 100;

/// A usage line of an invoice, as written.
struct UsageLine<'a> {
    id: String,
    position: i64,
    workspace: &'a str,
    description: String,
    /// The frozen hourly rate, as exact decimal text.
    rate: String,
    increments: i64,
    amount: i64,
    wholesale: i64,
}

/// Writes an invoice's usage lines, many rows per INSERT (one statement per line was a round trip each).
async fn insert_lines(
    tx: &mut super::ledger::Tx<'_>,
    engine: Engine,
    invoice_id: &str,
    lines: &[UsageLine<'_>],
) -> Result<(), sqlx::Error> {
    for chunk in lines.chunks(LINE_BATCH) {
        let sql = values_sql(
            "INSERT INTO invoice_lines (id, invoice_id, position, workspace_id, description, rate, increments, \
             amount_minor, wholesale_minor) VALUES ",
            engine,
            chunk.len(),
            9,
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for l in chunk {
            q = q
                .bind(l.id.as_str())
                .bind(invoice_id)
                .bind(l.position)
                .bind(l.workspace)
                .bind(l.description.as_str())
                .bind(l.rate.as_str())
                .bind(l.increments)
                .bind(l.amount)
                .bind(l.wholesale);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Records the (session, period) segments an invoice bills, many rows per INSERT (one statement per
/// segment was two thirds of a run's time). The primary key (session, period) refuses a second billing of
/// any segment, failing the whole transaction.
async fn mark_segments(
    tx: &mut super::ledger::Tx<'_>,
    engine: Engine,
    period: &str,
    marks: &[(&str, String, i64)],
) -> Result<(), sqlx::Error> {
    for chunk in marks.chunks(SEGMENT_BATCH) {
        let sql = values_sql(
            "INSERT INTO billed_segments (usage_session_id, period, line_id, increments) VALUES ",
            engine,
            chunk.len(),
            4,
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (session, line, n) in chunk {
            q = q.bind(*session).bind(period).bind(line.as_str()).bind(*n);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

async fn plan_names(tenant: &Tenant) -> Result<Vec<(String, String)>, BackendError> {
    Ok(sqlx::query_as("SELECT code, name FROM plans").fetch_all(tenant.db.pool()).await?)
}

/// What a customer's invoices add up to, for checks and reports.
pub async fn invoiced_total(tenant: &Tenant, period: &str) -> Result<Money, BackendError> {
    let total: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(total_minor) AS BIGINT) FROM invoices WHERE period = $1 AND kind = 'invoice' AND status <> 'void'",
    )
    .bind(period)
    .fetch_one(tenant.db.pool())
    .await?;
    Ok(Money::from_minor(total.unwrap_or(0), tenant.currency))
}

/// One tenant's outcome in a run over many.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TenantOutcome {
    pub slug: String,
    pub period: String,
    pub result: Result<RunReport, String>,
}

/// Bills `period` (`YYYY-MM`, read with each tenant's own cycle day; `None` = each tenant's last finished
/// period) for every tenant, or just `only` (a slug). Every run is recorded in `billing_runs`. A tenant that
/// fails does not stop the others.
///
/// Tenants are billed [`concurrency`] at a time: each has its own database, so their runs share nothing
/// but the central rows each writes for itself, and a machine's cores render their PDFs side by side. The
/// outcomes come back in the registry's order. An error of the platform itself (the central database) is
/// returned once every tenant begun has finished, never by abandoning a tenant half-way.
pub async fn run_all(
    state: &AppState,
    period: Option<&str>,
    only: Option<&str>,
    progress: impl FnMut(&str, usize, usize) + Send,
) -> Result<Vec<TenantOutcome>, RunError> {
    use futures::StreamExt;
    let progress = std::sync::Mutex::new(progress);
    let entries = state.registry().entries().await?;
    // Filter on the registry entry: opening every tenant's database to compare slugs would make the
    // scheduler's one-tenant-at-a-time runs quadratic in the number of tenants.
    let chosen = entries.into_iter().filter(|entry| only.is_none_or(|s| s == entry.slug));
    // The futures are made first and polled by the stream (a stream mapping borrowed items with a closure
    // would leave the future not `Send` for the scheduler's task: the compiler cannot prove it for every
    // lifetime of the closure's argument).
    let runs: Vec<_> = chosen
        .map(|entry| {
            let progress = &progress;
            async move {
                let Some((tenant, own)) = state.registry().tenant_for_batch(entry.id).await? else {
                    return Ok(None);
                };
                let report = |slug: &str, i: usize, n: usize| {
                    (progress.lock().unwrap_or_else(|e| e.into_inner()))(slug, i, n);
                };
                let outcome = bill_one(state, &tenant, period, report).await;
                // A database opened for this run alone closes with it, whatever the outcome.
                if own {
                    tenant.db.close().await;
                }
                outcome.map(Some)
            }
        })
        .collect();
    let results: Vec<Result<Option<TenantOutcome>, RunError>> =
        futures::stream::iter(runs).buffered(concurrency()).collect().await;
    let mut out = Vec::with_capacity(results.len());
    for result in results {
        out.extend(result?);
    }
    if let (Some(slug), true) = (only, out.is_empty()) {
        return Err(RunError::Invalid(format!("there is no active tenant {slug}")));
    }
    Ok(out)
}

/// How many tenants a run over many bills at once: two per core the process may use, at least four and
/// at most sixteen. A tenant's run spends much of its time waiting: on its database's thread (SQLite) or
/// server (PostgreSQL, where every commit waits for the disk), and on the PDF threads. With one tenant per
/// core a run over 1,000 SQLite tenants kept 1.2 of 2 cores busy; two per core billed 40% more sessions a
/// second, and PostgreSQL 80% more (`server bench-billing`). Each tenant in flight holds up to one pool of
/// its database's connections, so the ceiling keeps a run's connections well under a server's limit.
pub fn concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().saturating_mul(2)).clamp(4, 16)
}

/// One tenant's part of [`run_all`]: recorded as started, billed, its reseller billed, recorded as ended.
async fn bill_one(
    state: &AppState,
    tenant: &Tenant,
    period: Option<&str>,
    progress: impl Fn(&str, usize, usize),
) -> Result<TenantOutcome, RunError> {
    let day = super::cycle_day(state, tenant.id).await?;
    let p = match period {
        Some(text) => Period::parse(text, day).map_err(|e| RunError::Invalid(format!("period {text:?}: {e}")))?,
        None => Period::containing(now(), day).map_err(|e| corrupt(e.to_string()))?.previous(),
    };
    record_start(state, tenant, &p.key()).await?;
    let slug = tenant.slug.clone();
    let mut result = run_tenant(state, tenant, p, |i, n| progress(&slug, i, n)).await;
    if let Ok(report) = &mut result {
        // The reseller's own bill for the same period (exactly once too).
        let subs = super::subscriptions::wholesale_total(&tenant.db, p).await?;
        match super::wholesale::bill_tenant(state, tenant, p, subs).await {
            Ok(o) => report.wholesale = Some(o),
            Err(e) => result = Err(RunError::Backend(e)),
        }
    }
    record_end(state, tenant, &p.key(), &result).await?;
    Ok(TenantOutcome { slug: tenant.slug.clone(), period: p.key(), result: result.map_err(|e| e.to_string()) })
}

async fn record_start(state: &AppState, tenant: &Tenant, period: &str) -> Result<(), BackendError> {
    sqlx::query(
        "INSERT INTO billing_runs (tenant_id, period, state, started_at) VALUES ($1, $2, 'running', $3) \
         ON CONFLICT (tenant_id, period) DO UPDATE SET state = 'running', started_at = excluded.started_at, \
         finished_at = NULL, error = NULL, runs = billing_runs.runs + 1",
    )
    .bind(tenant.id.to_string())
    .bind(period)
    .bind(now().as_millis())
    .execute(state.central().pool())
    .await?;
    Ok(())
}

async fn record_end(
    state: &AppState,
    tenant: &Tenant,
    period: &str,
    result: &Result<RunReport, RunError>,
) -> Result<(), BackendError> {
    let (st, report, error) = match result {
        Ok(r) => (BillingRunState::Done, serde_json::to_string(r).ok(), None),
        Err(e) => (BillingRunState::Failed, None, Some(e.to_string())),
    };
    sqlx::query(
        "UPDATE billing_runs SET state = $1, finished_at = $2, report = COALESCE($3, report), error = $4 \
         WHERE tenant_id = $5 AND period = $6",
    )
    .bind(st.as_str())
    .bind(now().as_millis())
    .bind(report)
    .bind(error)
    .bind(tenant.id.to_string())
    .bind(period)
    .execute(state.central().pool())
    .await?;
    Ok(())
}

/// A billing run as the admin page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRecord {
    pub tenant_id: String,
    pub period: String,
    pub state: BillingRunState,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub report: Option<RunReport>,
    pub error: Option<String>,
    pub runs: i64,
}

pub async fn records(state: &AppState, limit: i64) -> Result<Vec<RunRecord>, BackendError> {
    let rows = sqlx::query_as::<_, RunRow>(
        "SELECT tenant_id, period, state, started_at, finished_at, report, error, runs FROM billing_runs \
         ORDER BY started_at DESC LIMIT $1",
    )
    .bind(limit.clamp(1, 1000))
    .fetch_all(state.central().pool())
    .await?;
    rows.into_iter().map(RunRecord::try_from).collect()
}

/// A `billing_runs` row as stored.
#[derive(sqlx::FromRow)]
struct RunRow {
    tenant_id: String,
    period: String,
    state: String,
    started_at: i64,
    finished_at: Option<i64>,
    report: Option<String>,
    error: Option<String>,
    runs: i64,
}

impl TryFrom<RunRow> for RunRecord {
    type Error = BackendError;

    fn try_from(r: RunRow) -> Result<RunRecord, BackendError> {
        Ok(RunRecord {
            state: BillingRunState::parse(&r.state).map_err(|_| corrupt("billing_runs.state"))?,
            tenant_id: r.tenant_id,
            period: r.period,
            started_at: r.started_at,
            finished_at: r.finished_at,
            report: r.report.and_then(|s| serde_json::from_str(&s).ok()),
            error: r.error,
            runs: r.runs,
        })
    }
}

/// The scheduler: every `interval`, once across the cluster, bills each tenant's last finished period
/// unless a run of it already finished (so each cycle day's run happens once, the first check after it).
pub async fn schedule(state: AppState, interval: std::time::Duration, shutdown: tokio::sync::watch::Receiver<bool>) {
    let loops = state.loops();
    loops
        .run(state.central(), Loop::Billing, interval, shutdown, || async {
            match scheduled_pass(&state).await {
                Ok(n) if n > 0 => tracing::info!(tenants = n, "scheduled billing runs done"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "scheduled billing pass failed; the next one retries"),
            }
        })
        .await;
}

/// One scheduler pass (public for tests): bills each tenant's last finished period unless a run of it
/// finished, then retries due invoice payments, then collects wholesale invoices (`collection::pass`).
/// Returns how many tenants it billed. Safe beside another server's pass (one whose lease lapsed): an
/// invoice is unique per customer and period, so a second run finds it and bills nothing twice.
pub async fn scheduled_pass(state: &AppState) -> Result<usize, RunError> {
    use futures::StreamExt;
    let mut due = Vec::new();
    for entry in state.registry().entries().await? {
        // Central lookups first: a tenant already billed for its period is skipped without opening its
        // database.
        let day = super::cycle_day(state, entry.id).await?;
        let p = Period::containing(now(), day).map_err(|e| corrupt(e.to_string()))?.previous();
        let done: Option<String> =
            sqlx::query_scalar("SELECT state FROM billing_runs WHERE tenant_id = $1 AND period = $2")
                .bind(entry.id.to_string())
                .bind(p.key())
                .fetch_optional(state.central().pool())
                .await?;
        if done.as_deref() == Some(BillingRunState::Done.as_str()) || state.tenant_by_id(entry.id).await?.is_none() {
            continue;
        }
        due.push((entry.slug.clone(), p.key()));
    }
    // Several tenants at once, as `run_all` bills them.
    let runs: Vec<_> =
        due.iter().map(|(slug, period)| run_all(state, Some(period), Some(slug), |_, _, _| {})).collect();
    let billed: Vec<Result<Vec<TenantOutcome>, RunError>> =
        futures::stream::iter(runs).buffered(concurrency()).collect().await;
    for outcome in billed {
        outcome?;
    }
    let ran = due.len();
    // Dunning: retry the card for invoices whose next attempt is due.
    for entry in state.registry().entries().await? {
        let Some(tenant) = state.tenant_by_id(entry.id).await? else { continue };
        for inv in crate::backend::billing::payments::due_for_collection(&tenant, now()).await? {
            crate::backend::billing::payments::collect(state, &tenant, &inv).await?;
        }
        // Reminders about invoices left due (customers without a card pay them with "Pay now").
        super::terms::remind(state, &tenant).await?;
    }
    // What resellers owe the platform: card charges on the dunning schedule, reminders, billing statuses.
    let collected = super::collection::pass(state).await?;
    if collected != super::collection::PassReport::default() {
        tracing::info!(?collected, "wholesale collection pass");
    }
    Ok(ran)
}

/// [`run_all`] started by a platform admin: recorded in the audit log once the run has gone through
/// (a tenant that failed is in the outcomes, and a rerun finishes it).
pub async fn run_by(
    state: &AppState,
    by: crate::backend::platform::audit::ByAdmin<'_>,
    period: &str,
    only: Option<&str>,
) -> Result<Vec<TenantOutcome>, RunError> {
    let outcomes = run_all(state, Some(period), only, |_, _, _| {}).await?;
    let detail = format!("{period} ({})", only.unwrap_or("all tenants"));
    by.record(state.central(), None, "billing.run", &detail).await?;
    Ok(outcomes)
}
