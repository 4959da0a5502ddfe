//! Dead letters in the admin app (`/admin/provisioning`): workspace jobs that gave up after their retries,
//! with the last error, and a requeue button.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::time::{format_utc, Timestamp};
use crate::error::AppError;
use crate::layout::ErrorNote;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterRow {
    pub job_id: String,
    pub tenant: String,
    pub workspace_id: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub at: Timestamp,
}

#[server(prefix = "/api", endpoint = "admin_dead_letters")]
pub async fn dead_letters() -> Result<Vec<DeadLetterRow>, AppError> {
    use crate::backend::workspaces::dead_letters;
    let (state, _) = super::server::guard::admin().await?;
    Ok(dead_letters::list(&state, 200)
        .await?
        .into_iter()
        .map(|(tenant, d)| DeadLetterRow {
            tenant,
            workspace_id: d.workspace_id.map(|w| w.to_string()),
            attempts: d.attempts,
            last_error: d.last_error,
            at: Timestamp::from_millis(d.updated_at),
            job_id: d.job_id,
        })
        .collect())
}

#[server(prefix = "/api", endpoint = "admin_requeue")]
pub async fn requeue(job_id: String) -> Result<Vec<DeadLetterRow>, AppError> {
    use crate::backend::workspaces::{dead_letters::Requeued, operations};
    let (state, admin) = super::server::guard::admin().await?;
    match operations::requeue(&state, super::server::guard::by(&admin), &job_id).await? {
        Requeued::Done(_) => {}
        Requeued::NotFound => return Err(AppError::NotFound),
        Requeued::AlreadyRequeued => return Err(AppError::Conflict("This job was already requeued.".into())),
    }
    dead_letters().await
}

#[component]
pub fn AdminProvisioningPage() -> impl IntoView {
    let requeue = ServerAction::<Requeue>::new();
    let rows = crate::resource::new(move || requeue.version().get(), |_| dead_letters());
    view! {
        <h1 class="text-2xl font-semibold">"Provisioning: dead letters"</h1>
        <p class="mt-1 text-sm text-slate-600">"Workspace jobs that gave up after their retries. Requeue once the cause is fixed."</p>
        {move || match requeue.value().get() {
            Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
            _ => ().into_any(),
        }}
        <Suspense fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(list) if list.is_empty() => view! { <p data-testid="no-dead-letters" class="mt-4 text-slate-600">"Nothing has given up."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="mt-4 w-full text-left text-sm">
                            <thead><tr class="text-xs uppercase text-slate-500">
                                <th class="py-1">"When (UTC)"</th><th>"Tenant"</th><th>"Workspace"</th><th>"Attempts"</th><th>"Last error"</th><th></th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|d| view! {
                                    <tr data-testid="dead-letter" class="border-t border-slate-100">
                                        <td class="py-1 whitespace-nowrap">{format_utc(d.at)}</td>
                                        <td>{d.tenant}</td>
                                        <td class="font-mono text-xs">{d.workspace_id.unwrap_or_default()}</td>
                                        <td>{d.attempts}</td>
                                        <td>{d.last_error.unwrap_or_default()}</td>
                                        <td>
                                            <ActionForm action=requeue>
                                                <input type="hidden" name="job_id" value=d.job_id/>
                                                <button type="submit" class="rounded border px-2 py-1 text-xs">"Requeue"</button>
                                            </ActionForm>
                                        </td>
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
