//! A durable job queue in the central database, and the worker that runs it.
//!
//! Jobs are claimed with a short lease that the worker renews while the job runs: a job whose server was
//! killed runs again on another server (or the restarted one) within [`LEASE_MS`] and a poll, so every
//! handler must be safe to re-run. A dedupe key keeps one live job per subject; enqueueing a subject that
//! already has a live job only pulls its run time forward and bumps its generation, so a run that was
//! already in flight does not mark the newer request as done.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Notify, Semaphore};
use tracing::Instrument;

use crate::backend::platform::db::{now, CentralDb};
use crate::backend::{corrupt, Result};
use crate::domain::ids::{TenantId, WorkspaceId};
use crate::domain::platform::JobState;
use crate::domain::time::Timestamp;

/// After this many failed attempts a job is dead: visible, and the workspace shows why.
pub const MAX_ATTEMPTS: i64 = 8;
/// A claimed job's lease. Short, so a dead server's job is taken over within seconds; renewed every
/// [`RENEW_EVERY`] while the job runs, so a long job (a slow Kasm call) keeps it.
pub const LEASE_MS: i64 = 6_000;
const RENEW_EVERY: Duration = Duration::from_millis(2_000);

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobKind {
    /// Drive a workspace towards the state it should be in (provision, await running, stop).
    SyncWorkspace { workspace_id: WorkspaceId },
}

impl JobKind {
    fn dedupe_key(&self, tenant: TenantId) -> String {
        match self {
            JobKind::SyncWorkspace { workspace_id } => format!("sync_workspace:{tenant}:{workspace_id}"),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            JobKind::SyncWorkspace { .. } => "sync_workspace",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Job {
    pub id: String,
    pub tenant_id: TenantId,
    pub kind: JobKind,
    pub attempts: i64,
    pub generation: i64,
}

pub async fn enqueue(db: &CentralDb, tenant: TenantId, kind: &JobKind, run_at: Timestamp) -> Result<()> {
    let payload = serde_json::to_string(kind).map_err(|e| corrupt(format!("job payload: {e}")))?;
    let t = now();
    sqlx::query(
        "INSERT INTO jobs (id, tenant_id, kind, payload, dedupe_key, run_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (dedupe_key) DO UPDATE SET generation = jobs.generation + 1, \
             run_at = CASE WHEN excluded.run_at < jobs.run_at THEN excluded.run_at ELSE jobs.run_at END, \
             updated_at = excluded.updated_at",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(tenant.to_string())
    .bind(kind.name())
    .bind(payload)
    .bind(kind.dedupe_key(tenant))
    .bind(run_at.as_millis())
    .bind(t.as_millis())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Claims one due job, or none.
pub async fn claim(db: &CentralDb, owner: &str) -> Result<Option<Job>> {
    let t = now().as_millis();
    // The inner SELECT may race with another worker on PostgreSQL; the outer WHERE re-checks the lease
    // after the row lock, so exactly one claimer wins and the other gets no row.
    let row = sqlx::query_as::<_, JobRow>(
        "UPDATE jobs SET lease_owner = $1, lease_until = $2, updated_at = $3 \
         WHERE id = (SELECT id FROM jobs WHERE state = $4 AND run_at <= $3 \
                     AND (lease_until IS NULL OR lease_until < $3) ORDER BY run_at LIMIT 1) \
           AND state = $4 AND (lease_until IS NULL OR lease_until < $3) \
         RETURNING id, tenant_id, payload, attempts, generation",
    )
    .bind(owner)
    .bind(t + LEASE_MS)
    .bind(t)
    .bind(JobState::Queued.as_str())
    .fetch_optional(db.pool())
    .await?;
    row.map(Job::try_from).transpose()
}

/// Extends a running job's lease. `false` when this worker no longer holds it (the lease lapsed and
/// another worker claimed the job).
pub async fn renew(db: &CentralDb, job: &Job, owner: &str) -> Result<bool> {
    let t = now().as_millis();
    let n = sqlx::query("UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_owner = $3")
        .bind(t + LEASE_MS)
        .bind(&job.id)
        .bind(owner)
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// A claimed `jobs` row as stored.
#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    tenant_id: String,
    payload: String,
    attempts: i64,
    generation: i64,
}

impl TryFrom<JobRow> for Job {
    type Error = crate::backend::BackendError;

    fn try_from(r: JobRow) -> Result<Job> {
        Ok(Job {
            id: r.id,
            tenant_id: r.tenant_id.parse().map_err(|_| corrupt("jobs.tenant_id"))?,
            kind: serde_json::from_str(&r.payload).map_err(|e| corrupt(format!("jobs.payload: {e}")))?,
            attempts: r.attempts,
            generation: r.generation,
        })
    }
}

/// Done. If the job was enqueued again while it ran, it is released to run once more instead.
pub async fn complete(db: &CentralDb, job: &Job) -> Result<()> {
    let t = now().as_millis();
    let done = sqlx::query(
        "UPDATE jobs SET state = $1, dedupe_key = dedupe_key || '#' || id, lease_owner = NULL, \
             lease_until = NULL, updated_at = $2 WHERE id = $3 AND generation = $4",
    )
    .bind(JobState::Done.as_str())
    .bind(t)
    .bind(&job.id)
    .bind(job.generation)
    .execute(db.pool())
    .await?
    .rows_affected();
    if done == 0 {
        release(db, job, Timestamp::from_millis(t), None, 0).await?;
    }
    Ok(())
}

/// Runs the job again at `run_at`; `failed` adds one attempt and records the error.
pub async fn release(db: &CentralDb, job: &Job, run_at: Timestamp, error: Option<&str>, failed: i64) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET lease_owner = NULL, lease_until = NULL, run_at = $1, attempts = attempts + $2, \
             last_error = COALESCE($3, last_error), updated_at = $4 WHERE id = $5",
    )
    .bind(run_at.as_millis())
    .bind(failed)
    .bind(error)
    .bind(now().as_millis())
    .bind(&job.id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Gives up: the job stays in the table as `dead` with its last error, for an operator to see.
pub async fn bury(db: &CentralDb, job: &Job, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE jobs SET state = $1, dedupe_key = dedupe_key || '#' || id, lease_owner = NULL, \
             lease_until = NULL, attempts = attempts + 1, last_error = $2, updated_at = $3 WHERE id = $4",
    )
    .bind(JobState::Dead.as_str())
    .bind(error)
    .bind(now().as_millis())
    .bind(&job.id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Exponential backoff with full jitter: up to 0.5 s, 1 s, 2 s ... capped at 60 s.
pub fn backoff(attempts: i64) -> Duration {
    let exp = attempts.clamp(0, 7) as u32;
    let cap_ms = (500u64 << exp).min(60_000);
    Duration::from_millis(rand::rng().random_range(cap_ms / 2..=cap_ms))
}

/// What a job's handler made of one run.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing left to do: the job is done.
    Settled,
    /// Run again after `after` without spending an attempt: more to wait for, someone else busy with the
    /// subject, or a dependency resting (a circuit breaker that is open is not this job's failure).
    Again { after: Duration },
    /// Failed: retried with backoff until [`MAX_ATTEMPTS`], when the runner's `give_up` hears of it and
    /// the job is buried as a dead letter.
    Failed(String),
    /// The job cannot run at all (its tenant is gone): buried at once with this reason.
    Abandon(String),
    /// Its tenant's database is unreachable right now: retried shortly, spending one attempt.
    Unavailable(String),
}

/// The code that runs jobs, registered by the server at start-up, so the queue itself knows nothing of
/// workspaces (or any other capability) and depends only on the central database.
pub trait Runner: Send + Sync + 'static {
    /// Runs one job. Must be safe to re-run: a job whose lease lapsed runs again.
    fn run<'a>(&'a self, tenant: TenantId, kind: &'a JobKind) -> BoxFuture<'a, Outcome>;
    /// The job failed for the last time: leave the subject in a state a person can see and act on.
    fn give_up<'a>(&'a self, tenant: TenantId, kind: &'a JobKind, error: &'a str) -> BoxFuture<'a, ()>;
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Runs jobs until `shutdown` flips to true; in-flight jobs finish first. `ready` wakes it when work is
/// enqueued, so new work does not wait for the next poll. `server` names this server in the leases.
pub async fn run_worker(
    central: CentralDb,
    runner: Arc<dyn Runner>,
    ready: Arc<Notify>,
    server: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let owner: Arc<str> = format!("{server}/worker-{}", uuid::Uuid::new_v4()).into();
    let permits = Arc::new(Semaphore::new(8));
    loop {
        if *shutdown.borrow() {
            break;
        }
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else { return };
            match claim(&central, &owner).await {
                Ok(Some(job)) => {
                    let (central, runner, owner) = (central.clone(), runner.clone(), owner.clone());
                    let span =
                        tracing::info_span!("job", job = %job.id, tenant = %job.tenant_id, kind = job.kind.name());
                    // Instrumented, never entered: a span entered across an await stays current on whatever
                    // task the worker thread polls next (nesting unrelated jobs' spans, and panicking the
                    // subscriber when it closes).
                    tokio::spawn(
                        async move {
                            run_one(&central, runner.as_ref(), &job, &owner).await;
                            drop(permit);
                        }
                        .instrument(span),
                    );
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = ready.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
    // Wait for in-flight jobs (each holds a permit).
    let _ = permits.acquire_many(8).await;
}

async fn run_one(central: &CentralDb, runner: &dyn Runner, job: &Job, owner: &str) {
    let outcome = super::leases::while_renewing(runner.run(job.tenant_id, &job.kind), RENEW_EVERY, || async {
        match renew(central, job, owner).await {
            Ok(true) => {}
            // Handlers are safe to re-run, so the run goes on; its outcome is recorded as usual.
            Ok(false) => tracing::warn!("a job outlived its lease; another worker may run it too"),
            Err(e) => tracing::warn!(error = %e, "renewing a job's lease failed"),
        }
    })
    .await;
    let result = match outcome {
        Outcome::Settled => complete(central, job).await,
        Outcome::Again { after } => release(central, job, now().plus_millis(ms(after)), None, 0).await,
        Outcome::Abandon(reason) => bury(central, job, &reason).await,
        Outcome::Unavailable(reason) => {
            tracing::warn!(reason, tenant = %job.tenant_id, "job's tenant unavailable; retried later");
            release(central, job, now().plus_millis(5_000), Some(&reason), 1).await
        }
        Outcome::Failed(e) if job.attempts + 1 >= MAX_ATTEMPTS => {
            tracing::error!(error = %e, attempts = job.attempts + 1, "job failed for the last time");
            runner.give_up(job.tenant_id, &job.kind, &e).await;
            bury(central, job, &e).await
        }
        Outcome::Failed(e) => {
            let wait = backoff(job.attempts);
            tracing::warn!(error = %e, attempts = job.attempts + 1, retry_in_ms = ms(wait), "job failed; will retry");
            release(central, job, now().plus_millis(ms(wait)), Some(&e), 1).await
        }
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "recording a job outcome failed; its lease will lapse and it will run again");
    }
}

/// A job that gave up (a dead letter), for an operator to see.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub job_id: String,
    pub tenant_id: TenantId,
    /// `None` when the payload no longer parses (a job kind since removed).
    pub kind: Option<JobKind>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// The newest dead letters first.
pub async fn dead_letters(db: &CentralDb, limit: i64) -> Result<Vec<DeadLetter>> {
    let rows = sqlx::query_as::<_, DeadLetterRow>(
        "SELECT id, tenant_id, payload, attempts, last_error, updated_at FROM jobs WHERE state = $1 \
         ORDER BY updated_at DESC LIMIT $2",
    )
    .bind(JobState::Dead.as_str())
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(DeadLetter::try_from).collect()
}

/// A dead `jobs` row as stored.
#[derive(sqlx::FromRow)]
struct DeadLetterRow {
    id: String,
    tenant_id: String,
    payload: String,
    attempts: i64,
    last_error: Option<String>,
    updated_at: i64,
}

impl TryFrom<DeadLetterRow> for DeadLetter {
    type Error = crate::backend::BackendError;

    fn try_from(r: DeadLetterRow) -> Result<DeadLetter> {
        Ok(DeadLetter {
            job_id: r.id,
            tenant_id: r.tenant_id.parse().map_err(|_| corrupt("jobs.tenant_id"))?,
            kind: serde_json::from_str::<JobKind>(&r.payload).ok(),
            attempts: r.attempts,
            last_error: r.last_error,
            updated_at: r.updated_at,
        })
    }
}

/// Marks a dead letter `requeued` (the row stays, so the history does). `false` when it is not dead
/// (already requeued by someone else).
pub async fn mark_requeued(db: &CentralDb, job_id: &str) -> Result<bool> {
    let claimed = sqlx::query("UPDATE jobs SET state = $1, updated_at = $2 WHERE id = $3 AND state = $4")
        .bind(JobState::Requeued.as_str())
        .bind(now().as_millis())
        .bind(job_id)
        .bind(JobState::Dead.as_str())
        .execute(db.pool())
        .await?
        .rows_affected();
    Ok(claimed > 0)
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempts in 0..20 {
            let d = backoff(attempts).as_millis();
            let cap = (500u128 << attempts.clamp(0, 7)).min(60_000);
            assert!(d >= cap / 2 && d <= cap, "attempt {attempts}: {d} ms");
        }
    }

    #[test]
    fn job_payloads_round_trip() {
        let k = JobKind::SyncWorkspace { workspace_id: WorkspaceId::from_uuid(uuid::Uuid::nil()) };
        let text = serde_json::to_string(&k).unwrap_or_default();
        assert_eq!(serde_json::from_str::<JobKind>(&text).ok(), Some(k));
    }
}
