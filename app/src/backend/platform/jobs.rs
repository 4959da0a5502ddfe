//! A durable job queue in the central database, and the worker that runs it.
//!
//! Jobs are claimed with a lease (a crashed worker's job runs again once the lease lapses), so every
//! handler must be safe to re-run. A dedupe key keeps one live job per subject; enqueueing a subject that
//! already has a live job only pulls its run time forward and bumps its generation, so a run that was
//! already in flight does not mark the newer request as done.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use tokio::sync::{watch, Semaphore};
use tracing::Instrument;

use crate::backend::clients::kasm::KasmError;
use crate::backend::platform::db::{now, CentralDb};
use crate::backend::state::AppState;
use crate::backend::workspaces::provisioning::{self, Step, SyncError};
use crate::backend::{corrupt, Result};
use crate::domain::ids::{TenantId, WorkspaceId};
use crate::domain::time::Timestamp;

/// After this many failed attempts a job is dead: visible, and the workspace shows why.
pub const MAX_ATTEMPTS: i64 = 8;
const LEASE_MS: i64 = 60_000;

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

    fn name(&self) -> &'static str {
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
    let row = sqlx::query(
        "UPDATE jobs SET lease_owner = $1, lease_until = $2, updated_at = $3 \
         WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= $3 \
                     AND (lease_until IS NULL OR lease_until < $3) ORDER BY run_at LIMIT 1) \
           AND state = 'queued' AND (lease_until IS NULL OR lease_until < $3) \
         RETURNING id, tenant_id, payload, attempts, generation",
    )
    .bind(owner)
    .bind(t + LEASE_MS)
    .bind(t)
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let tenant: String = r.try_get(1)?;
    let payload: String = r.try_get(2)?;
    Ok(Some(Job {
        id: r.try_get(0)?,
        tenant_id: tenant.parse().map_err(|_| corrupt("jobs.tenant_id"))?,
        kind: serde_json::from_str(&payload).map_err(|e| corrupt(format!("jobs.payload: {e}")))?,
        attempts: r.try_get(3)?,
        generation: r.try_get(4)?,
    }))
}

/// Done. If the job was enqueued again while it ran, it is released to run once more instead.
pub async fn complete(db: &CentralDb, job: &Job) -> Result<()> {
    let t = now().as_millis();
    let done = sqlx::query(
        "UPDATE jobs SET state = 'done', dedupe_key = dedupe_key || '#' || id, lease_owner = NULL, \
             lease_until = NULL, updated_at = $1 WHERE id = $2 AND generation = $3",
    )
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
        "UPDATE jobs SET state = 'dead', dedupe_key = dedupe_key || '#' || id, lease_owner = NULL, \
             lease_until = NULL, attempts = attempts + 1, last_error = $1, updated_at = $2 WHERE id = $3",
    )
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

/// Re-enqueues work that a previous process left unfinished (workspaces mid-transition).
pub async fn recover(state: &AppState) -> Result<usize> {
    let mut total = 0;
    for entry in state.registry().entries().await? {
        let Some(tenant) = state.tenant_by_id(entry.id).await? else { continue };
        let ids = crate::backend::workspaces::store::list_unsettled(&tenant.db).await?;
        for id in &ids {
            enqueue(state.central(), tenant.id, &JobKind::SyncWorkspace { workspace_id: *id }, now()).await?;
        }
        total += ids.len();
    }
    Ok(total)
}

/// Runs jobs until `shutdown` flips to true; in-flight jobs finish first.
pub async fn run_worker(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let owner = format!("worker-{}", uuid::Uuid::new_v4());
    let permits = Arc::new(Semaphore::new(8));
    loop {
        if *shutdown.borrow() {
            break;
        }
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else { return };
            match claim(state.central(), &owner).await {
                Ok(Some(job)) => {
                    let st = state.clone();
                    tokio::spawn(async move {
                        run_one(&st, job).await;
                        drop(permit);
                    });
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
            _ = state.jobs_ready() => {}
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
    // Wait for in-flight jobs (each holds a permit).
    let _ = permits.acquire_many(8).await;
}

async fn run_one(state: &AppState, job: Job) {
    let tenant = match state.tenant_by_id(job.tenant_id).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            // Deleted, or not active yet: nothing can be done for it now.
            let _ = bury(state.central(), &job, "tenant unavailable").await;
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, tenant = %job.tenant_id, "tenant database unavailable; job retried later");
            let _ =
                release(state.central(), &job, now().plus_millis(5_000), Some("tenant database unavailable"), 1).await;
            return;
        }
    };
    let JobKind::SyncWorkspace { workspace_id } = job.kind.clone();
    let span = tracing::info_span!("job", job = %job.id, tenant = %tenant.slug, workspace = %workspace_id);
    // Instrumented, never entered: a span entered across an await stays current on whatever task the
    // worker thread polls next (nesting unrelated jobs' spans, and panicking the subscriber when it closes).
    sync_and_record(state, &tenant, &job, workspace_id).instrument(span).await;
}

async fn sync_and_record(
    state: &AppState,
    tenant: &crate::backend::state::Tenant,
    job: &Job,
    workspace_id: WorkspaceId,
) {
    let outcome = provisioning::sync(state, tenant, workspace_id).await;
    let poll = state.settings().poll_interval;
    let result = match outcome {
        Ok(Step::Settled) => complete(state.central(), job).await,
        Ok(Step::Again) => release(state.central(), job, now().plus_millis(ms(poll)), None, 0).await,
        Ok(Step::Busy) => release(state.central(), job, now().plus_millis(1000), None, 0).await,
        // Not this job's failure: the Kasm server is resting after a streak of failures (anyone's). Waiting
        // for the breaker without spending an attempt keeps a burst of failures elsewhere from using up this
        // workspace's retries within one cool-down; the call that trips or probes it spends its own.
        Err(SyncError::Kasm(KasmError::CircuitOpen { retry_in })) => {
            let wait = retry_in + Duration::from_millis(rand::rng().random_range(0..=1_000));
            tracing::info!(retry_in_ms = ms(wait), "Kasm's circuit breaker is open; the job waits for it");
            release(state.central(), job, now().plus_millis(ms(wait)), None, 0).await
        }
        Err(e) if job.attempts + 1 >= MAX_ATTEMPTS => {
            tracing::error!(error = %e, attempts = job.attempts + 1, "job failed for the last time");
            let _ = provisioning::give_up(state, tenant, workspace_id, &e.to_string()).await;
            bury(state.central(), job, &e.to_string()).await
        }
        Err(e) => {
            let wait = backoff(job.attempts);
            tracing::warn!(error = %e, attempts = job.attempts + 1, retry_in_ms = ms(wait), "job failed; will retry");
            release(state.central(), job, now().plus_millis(ms(wait)), Some(&e.to_string()), 1).await
        }
    };
    if let Err(e) = result {
        tracing::error!(error = %e, "recording a job outcome failed; its lease will lapse and it will run again");
    }
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
