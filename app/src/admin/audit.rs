//! The audit log in the admin app (`/admin/audit`): filterable by tenant, action and actor.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::domain::time::{format_utc, Timestamp};
use crate::error::AppError;
use crate::layout::ErrorNote;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    pub at: Timestamp,
    pub actor_kind: crate::domain::platform::ActorKind,
    pub actor: String,
    /// The tenant's slug (or its id if it was deleted since).
    pub tenant: Option<String>,
    pub action: String,
    pub detail: String,
    pub ip: Option<String>,
}

#[server(prefix = "/api", endpoint = "admin_audit")]
pub async fn audit_log(tenant: String, action: String, actor: String) -> Result<Vec<AuditRow>, AppError> {
    use crate::backend::platform::audit::{self, Filter};
    use crate::backend::tenancy::registry;
    let (state, _) = super::server::guard::admin().await?;
    let records = registry::list_records(state.central()).await?;
    let tenant_id = match tenant.trim() {
        "" => None,
        slug => Some(records.iter().find(|r| r.slug == slug).map(|r| r.id).ok_or(AppError::NotFound)?),
    };
    let filter = Filter { tenant: tenant_id, action: action.trim().to_owned(), actor: actor.trim().to_lowercase() };
    let rows = audit::list(state.central(), &filter, 500).await?;
    Ok(rows
        .into_iter()
        .map(|e| AuditRow {
            at: Timestamp::from_millis(e.at),
            actor_kind: e.actor_kind,
            actor: e.actor,
            tenant: e
                .tenant_id
                .map(|id| records.iter().find(|r| r.id.to_string() == id).map_or(id, |r| r.slug.clone())),
            action: e.action,
            detail: e.detail,
            ip: e.ip,
        })
        .collect())
}

#[component]
pub fn AdminAuditPage() -> impl IntoView {
    let q = use_query_map();
    let param = move |k: &str| q.read().get(k).unwrap_or_default();
    let rows = crate::resource::new(
        move || (param("tenant"), param("action"), param("actor")),
        |(t, a, who)| audit_log(t, a, who),
    );
    let field = "rounded border px-2 py-1 text-sm";
    view! {
        <h1 class="text-2xl font-semibold">"Audit log"</h1>
        <form method="get" action="/admin/audit" class="mt-4 flex flex-wrap items-end gap-3">
            <label class="flex flex-col text-xs">"Tenant (short name)"<input name="tenant" class=field value=move || param("tenant")/></label>
            <label class="flex flex-col text-xs">"Action"<input name="action" class=field placeholder="tenant.suspended" value=move || param("action")/></label>
            <label class="flex flex-col text-xs">"Actor (email)"<input name="actor" class=field value=move || param("actor")/></label>
            <button type="submit" class="rounded border px-3 py-1 text-sm">"Filter"</button>
        </form>
        <Suspense fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(list) if list.is_empty() => view! { <p class="mt-4 text-slate-600">"Nothing recorded."</p> }.into_any(),
                    Ok(list) => view! {
                        <table data-testid="audit-table" class="mt-4 w-full text-left text-sm">
                            <thead><tr class="text-xs uppercase text-slate-500">
                                <th class="py-1">"When (UTC)"</th><th>"Who"</th><th>"Tenant"</th><th>"Action"</th><th>"Detail"</th><th>"IP"</th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|r| view! {
                                    <tr data-testid="audit-row" class="border-t border-slate-100">
                                        <td class="py-1 whitespace-nowrap">{format_utc(r.at)}</td>
                                        <td>{format!("{} ({})", r.actor, r.actor_kind)}</td>
                                        <td>{r.tenant.unwrap_or_else(|| "—".into())}</td>
                                        <td class="font-mono">{r.action}</td>
                                        <td>{r.detail}</td>
                                        <td>{r.ip.unwrap_or_else(|| "—".into())}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <p class="mt-4"><a class="underline" href="/admin/login">"Sign in"</a></p> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
