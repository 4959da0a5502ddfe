//! The platform admin's operations on the Kasm side: servers, image lists, plan templates, tenant pins
//! and dead letters. Each does its work and records it in the audit log with the admin and their address,
//! so no caller can forget the record.

use crate::backend::platform::audit::ByAdmin;
use crate::backend::state::AppState;
use crate::backend::workspaces::dead_letters::{self, Requeued};
use crate::backend::workspaces::kasm_servers::{self, ServerError, ServerInput, SyncImagesError};
use crate::backend::workspaces::plan_templates::{self, TemplateError, TemplateInput};
use crate::backend::BackendError;

/// Adds a server (`existing = false`) or edits one; returns its id.
pub async fn save_server(
    state: &AppState,
    by: ByAdmin<'_>,
    input: &ServerInput,
    existing: bool,
) -> Result<String, ServerError> {
    let saved = kasm_servers::save(state.central(), state.crypto(), input, existing).await?;
    let action = if existing { "kasm_server.updated" } else { "kasm_server.added" };
    by.record(state.central(), None, action, &saved.id).await?;
    Ok(saved.id)
}

/// Refreshes a server's image list from Kasm; `None` for an unknown server. Only a refresh that happened
/// is recorded.
pub async fn sync_images(state: &AppState, by: ByAdmin<'_>, id: &str) -> Result<Option<usize>, SyncImagesError> {
    let Some(n) = kasm_servers::refresh_images(state, id).await? else { return Ok(None) };
    by.record(state.central(), None, "kasm_images.synced", &format!("{id}: {n}")).await?;
    Ok(Some(n))
}

/// Saves a plan template from the admin's form; returns its code.
pub async fn save_template(state: &AppState, by: ByAdmin<'_>, input: &TemplateInput) -> Result<String, TemplateError> {
    let saved = plan_templates::update(state.central(), input).await?;
    let detail = format!(
        "{}: {} vCPU, {} GB, image {}, group {}, server {}, {}",
        saved.code,
        saved.vcpu,
        saved.ram_gb,
        saved.kasm_image,
        saved.kasm_group,
        saved.kasm_server.as_deref().unwrap_or("-"),
        saved.status.as_str()
    );
    by.record(state.central(), None, "template.updated", &detail).await?;
    Ok(saved.code.as_str().to_owned())
}

/// Pins the tenant `slug` to a server (`None`: unpins it).
pub async fn pin_tenant(
    state: &AppState,
    by: ByAdmin<'_>,
    slug: &str,
    server: Option<&str>,
) -> Result<(), ServerError> {
    let record = kasm_servers::pin_tenant_by_slug(state.central(), slug, server).await?;
    by.record(state.central(), Some(record.id), "tenant.kasm_pinned", server.unwrap_or("-")).await?;
    Ok(())
}

/// Sends a dead letter round again (a new job does the work).
pub async fn requeue(state: &AppState, by: ByAdmin<'_>, job_id: &str) -> Result<Requeued, BackendError> {
    let requeued = dead_letters::requeue(state, job_id).await?;
    if let Requeued::Done(dead) = &requeued {
        let detail = dead.workspace_id.map(|w| w.to_string()).unwrap_or_default();
        by.record(state.central(), Some(dead.tenant_id), "job.requeued", &detail).await?;
    }
    Ok(requeued)
}
