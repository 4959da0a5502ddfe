//! Builds what the workspace pages show, and applies the customer's actions. Every lookup here is scoped
//! to the signed-in customer: another customer's workspace id is answered exactly like an unknown one.

use crate::backend::corrupt;
use crate::backend::identity::customers::Customer;
use crate::backend::platform::db::now;
use crate::backend::platform::events::WorkspaceChanged;
use crate::backend::state::{AppState, Tenant};
use crate::backend::workspaces::catalog;
use crate::backend::workspaces::price_book;
use crate::backend::workspaces::provisioning;
use crate::backend::workspaces::store::{self, Workspace};
use crate::domain::ids::WorkspaceId;
use crate::domain::money::Rate;
use crate::domain::plan::PlanCode;
use crate::domain::price_book::retail_floor;
use crate::domain::workspace::{display_name, Action, WorkspaceName, WorkspaceState};
use crate::domain::workspace_view::{Meter, UsageLine, WorkspaceCard, WorkspaceDetail, WorkspaceList};
use crate::error::AppError;

fn parse_id(id: &str) -> Result<WorkspaceId, AppError> {
    // A malformed id is answered like an unknown one: there is nothing to learn from the difference.
    id.parse().map_err(|_| AppError::NotFound)
}

pub async fn list(state: &AppState, tenant: &Tenant, customer: &Customer) -> Result<WorkspaceList, AppError> {
    // One statement whatever the number of workspaces (the workspaces with their plans and meters; the
    // price book is kept in memory): the dashboard is the page customers keep open and come back to.
    let rows = store::list_owned_with_meters(&tenant.db, customer.id).await?;
    let wholesale = price_book::wholesale_now(state, tenant).await?;
    let items = rows
        .iter()
        .map(|o| {
            let meter = o.meter.map(|(started_at, rate)| Meter { started_at, rate });
            card(&o.plan_name, o.plan_retail, &wholesale, &o.workspace, meter)
        })
        .collect();
    Ok(WorkspaceList { items, server_now: now() })
}

/// A workspace as its pages show it, with its plan's name and storefront price; `wholesale` is what the
/// storefront pays now for each plan (the price shown is what its next session bills: the storefront's,
/// never below that); `meter`, its open session.
fn card(
    plan_name: &str,
    retail: Rate,
    wholesale: &[(PlanCode, Rate)],
    ws: &Workspace,
    meter: Option<Meter>,
) -> WorkspaceCard {
    let rate = wholesale.iter().find(|(code, _)| *code == ws.plan).map_or(retail, |(_, w)| retail_floor(retail, *w));
    WorkspaceCard {
        id: ws.id,
        name: display_name(&ws.name, plan_name, &ws.id.to_string()),
        plan_name: plan_name.to_owned(),
        state: ws.state,
        rate,
        meter,
        created_at: ws.created_at,
    }
}

pub async fn detail(
    state: &AppState,
    tenant: &Tenant,
    customer: &Customer,
    id: &str,
) -> Result<WorkspaceDetail, AppError> {
    let ws_id = parse_id(id)?;
    let ws = store::get_owned(&tenant.db, ws_id, customer.id).await?.ok_or(AppError::NotFound)?;
    let usage = store::usage_of(&tenant.db, ws_id).await?;
    let plan = catalog::get(&tenant.db, ws.plan).await?.ok_or_else(|| corrupt("workspace plan"))?;
    // `usage` is newest first: the open session, if any, is the latest without an end.
    let meter = usage.iter().find(|u| u.ended_at.is_none()).map(|u| Meter { started_at: u.started_at, rate: u.retail });
    // Launching goes through our own route, which asks Kasm for a fresh login link at click time.
    let launch_url = (ws.state == WorkspaceState::Running).then(|| format!("/workspaces/{}/launch", ws.id));
    Ok(WorkspaceDetail {
        card: card(&plan.name, plan.retail, &price_book::wholesale_now(state, tenant).await?, &ws, meter),
        failure: ws.failure_reason.clone(),
        launch_url,
        usage: usage
            .into_iter()
            .map(|u| UsageLine {
                started_at: u.started_at,
                ended_at: u.ended_at,
                rate: u.retail,
                billable_seconds: u.billable_seconds,
                amount: u.amount,
            })
            .collect(),
        period: None,
        server_now: now(),
    })
}

/// Renames one of the customer's workspaces; the name is checked here, once. The customer's other open
/// pages (another tab, another device, on any server) hear of it and show the new name.
pub async fn rename(
    state: &AppState,
    tenant: &Tenant,
    customer: &Customer,
    id: &str,
    name: &str,
) -> Result<WorkspaceDetail, AppError> {
    let ws_id = parse_id(id)?;
    let name = WorkspaceName::parse(name).map_err(AppError::Invalid)?;
    if !store::rename(&tenant.db, ws_id, customer.id, &name).await? {
        return Err(AppError::NotFound);
    }
    state.publish(WorkspaceChanged { tenant: tenant.id, customer: customer.id, workspace: ws_id });
    detail(state, tenant, customer, id).await
}

/// Applies a customer action: ownership, then the state machine, then a conditional transition (so a
/// double click applies once), then the next step is driven right away.
pub async fn change(
    state: &AppState,
    tenant: &Tenant,
    customer: &Customer,
    id: &str,
    action: Action,
) -> Result<WorkspaceDetail, AppError> {
    let ws_id = parse_id(id)?;
    let ws = store::get_owned(&tenant.db, ws_id, customer.id).await?.ok_or(AppError::NotFound)?;
    // A suspended customer may stop or delete, never start something that bills (the meter refuses too).
    if customer.suspended && matches!(action, Action::Start | Action::Retry) {
        return Err(AppError::Suspended);
    }
    let next = ws.state.apply(action).map_err(|e| AppError::Conflict(sentence(&e.to_string())))?;
    if !store::transition(&tenant.db, ws_id, ws.state, next, now()).await? {
        return Err(AppError::Conflict("This workspace changed state meanwhile. Please look again.".into()));
    }
    provisioning::announce(state, tenant, &ws);
    provisioning::drive(state, tenant, ws_id).await?;
    detail(state, tenant, customer, id).await
}

fn sentence(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect::<String>() + ".").unwrap_or_default()
}
