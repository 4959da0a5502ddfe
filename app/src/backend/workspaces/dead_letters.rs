//! Dead letters as the admin's provisioning page handles them: the workspace jobs that gave up, listed
//! with their storefront's slug, and requeued one at a time (see `provisioning::requeue_dead`).

use super::provisioning::{self, DeadLetter};
use crate::backend::state::AppState;
use crate::backend::tenancy::registry;
use crate::backend::BackendError;

/// The latest `limit` dead letters, newest first, each with its tenant's slug (the id when the tenant has
/// been deleted since).
pub async fn list(state: &AppState, limit: i64) -> Result<Vec<(String, DeadLetter)>, BackendError> {
    let records = registry::list_records(state.central()).await?;
    Ok(provisioning::dead_letters(state, limit)
        .await?
        .into_iter()
        .map(|d| {
            let slug = records.iter().find(|r| r.id == d.tenant_id).map_or(d.tenant_id.to_string(), |r| r.slug.clone());
            (slug, d)
        })
        .collect())
}

/// What requeueing a dead letter did.
#[derive(Clone, Debug)]
pub enum Requeued {
    /// Back in the queue: the dead letter that was requeued.
    Done(DeadLetter),
    NotFound,
    /// Someone requeued it first.
    AlreadyRequeued,
}

pub async fn requeue(state: &AppState, job_id: &str) -> Result<Requeued, BackendError> {
    let dead = provisioning::dead_letters(state, 1000).await?.into_iter().find(|d| d.job_id == job_id);
    let Some(dead) = dead else { return Ok(Requeued::NotFound) };
    if !provisioning::requeue_dead(state, job_id).await? {
        return Ok(Requeued::AlreadyRequeued);
    }
    Ok(Requeued::Done(dead))
}
