//! Server functions of the workspace pages: thin — authorise, then call the backend.

use leptos::prelude::*;

use crate::domain::workspace_view::{WorkspaceDetail, WorkspaceList};
use crate::error::AppError;

/// The signed-in customer's workspaces, newest first.
#[server(prefix = "/api", endpoint = "list_workspaces")]
pub async fn list_workspaces() -> Result<WorkspaceList, AppError> {
    use crate::backend::{request, workspaces::views};
    let (state, tenant, customer) = request::require_customer().await?;
    views::list(&state, &tenant, &customer).await
}

/// One workspace, with its usage this billing period.
#[server(prefix = "/api", endpoint = "get_workspace")]
pub async fn get_workspace(id: String) -> Result<WorkspaceDetail, AppError> {
    use crate::backend::{billing::overview, request};
    let (state, tenant, customer) = request::require_customer().await?;
    overview::workspace_page(&state, &tenant, &customer, &id).await
}

/// Names a workspace (one line, at most 60 characters).
#[server(prefix = "/api", endpoint = "rename_workspace")]
pub async fn rename_workspace(id: String, name: String) -> Result<WorkspaceDetail, AppError> {
    use crate::backend::{request, workspaces::views};
    let (state, tenant, customer) = request::require_customer().await?;
    let d = views::rename(&state, &tenant, &customer, &id, &name).await?;
    request::audit_if_impersonating(&state, &tenant, &customer, "workspace.rename", &id).await?;
    Ok(d)
}

#[server(prefix = "/api", endpoint = "start_workspace")]
pub async fn start_workspace(id: String) -> Result<WorkspaceDetail, AppError> {
    use crate::backend::{request, workspaces::views};
    let (state, tenant, customer) = request::require_customer().await?;
    let d = views::change(&state, &tenant, &customer, &id, crate::domain::workspace::Action::Start).await?;
    request::audit_if_impersonating(&state, &tenant, &customer, "workspace.start", &id).await?;
    Ok(d)
}

#[server(prefix = "/api", endpoint = "stop_workspace")]
pub async fn stop_workspace(id: String) -> Result<WorkspaceDetail, AppError> {
    use crate::backend::{request, workspaces::views};
    let (state, tenant, customer) = request::require_customer().await?;
    let d = views::change(&state, &tenant, &customer, &id, crate::domain::workspace::Action::Stop).await?;
    request::audit_if_impersonating(&state, &tenant, &customer, "workspace.stop", &id).await?;
    Ok(d)
}

#[server(prefix = "/api", endpoint = "retry_workspace")]
pub async fn retry_workspace(id: String) -> Result<WorkspaceDetail, AppError> {
    use crate::backend::{request, workspaces::views};
    let (state, tenant, customer) = request::require_customer().await?;
    let d = views::change(&state, &tenant, &customer, &id, crate::domain::workspace::Action::Retry).await?;
    request::audit_if_impersonating(&state, &tenant, &customer, "workspace.retry", &id).await?;
    Ok(d)
}

/// Deletes the workspace: its Kasm session is destroyed and a running meter closes now.
#[server(prefix = "/api", endpoint = "terminate_workspace")]
pub async fn terminate_workspace(id: String) -> Result<WorkspaceDetail, AppError> {
    use crate::backend::{request, workspaces::views};
    let (state, tenant, customer) = request::require_customer().await?;
    let d = views::change(&state, &tenant, &customer, &id, crate::domain::workspace::Action::Terminate).await?;
    request::audit_if_impersonating(&state, &tenant, &customer, "workspace.terminate", &id).await?;
    Ok(d)
}
