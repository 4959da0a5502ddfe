//! The workspace emails: "your workspace is ready". Sent by the system (a job may be the one to see it
//! running), so links point at the storefront's public address.

use crate::backend::mail::storefront::{brand, queue};
use crate::backend::mail::templates;
use crate::backend::state::{AppState, Tenant};
use crate::backend::Result;

/// "Your workspace is ready", once per workspace (the first time it runs).
pub async fn workspace_ready(
    state: &AppState,
    tenant: &Tenant,
    customer: crate::domain::ids::CustomerId,
    workspace: crate::domain::ids::WorkspaceId,
    plan_name: &str,
) -> Result<()> {
    let Some(c) = crate::backend::identity::customers::get(&tenant.db, customer).await? else { return Ok(()) };
    let (ctx, _, _) = brand(state, tenant, None).await?;
    let link = format!("{}/workspaces/{workspace}", ctx.base_url);
    let rendered = templates::workspace_ready(&ctx, &c.name, plan_name, &link);
    queue(state, tenant, None, "workspace_ready", format!("ready:{}:{workspace}", tenant.id), &c.email, rendered, None)
        .await
}
