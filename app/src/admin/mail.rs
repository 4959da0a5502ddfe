//! The outbox in the admin app (`/admin/mail`): every message the platform and its storefronts queued,
//! with its delivery state. In development (no SMTP server configured) this is where emails "arrive".
//!
//! One-time tokens (verification, reset, email-change and invitation links) are masked: an admin reading
//! the outbox must not be able to use a customer's link. Only a development server without an SMTP server
//! (where this page is the developer's inbox, and where the browser tests pick links up) shows the links of
//! messages not sent yet.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::platform::OutboxState;
use crate::domain::time::{format_utc, Timestamp};
use crate::error::AppError;
use crate::layout::ErrorNote;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailRow {
    pub id: String,
    pub tenant: Option<String>,
    pub kind: String,
    pub to: String,
    pub from: String,
    pub subject: String,
    pub text: String,
    pub state: OutboxState,
    /// Whether the message carries a one-time link (masked in `text`).
    pub has_secret: bool,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

#[server(prefix = "/api", endpoint = "admin_mail")]
pub async fn outbox() -> Result<Vec<MailRow>, AppError> {
    use crate::backend::mail::outbox;
    use crate::backend::tenancy::registry;
    let (state, _) = super::server::guard::admin().await?;
    let reveal = state.settings().mail_drop;
    let records = registry::list_records(state.central()).await?;
    let rows = outbox::list(state.central(), None, 200).await.map_err(|e| {
        tracing::error!(error = %e, "outbox unavailable");
        AppError::Internal
    })?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let text = if reveal { r.revealed_text(state.crypto()) } else { r.masked_text() };
            let has_secret = r.text_body.contains(crate::backend::mail::SECRET_PLACEHOLDER);
            MailRow {
                tenant: r
                    .tenant_id
                    .map(|id| records.iter().find(|t| t.id == id).map_or(id.to_string(), |t| t.slug.clone())),
                kind: r.kind,
                to: r.to_addr,
                from: format!("{} <{}>", r.from_name, r.from_addr),
                text,
                has_secret,
                subject: r.subject,
                state: r.state,
                attempts: r.attempts,
                last_error: r.last_error,
                created_at: r.created_at,
                id: r.id,
            }
        })
        .collect())
}

#[component]
pub fn AdminMailPage() -> impl IntoView {
    let rows = crate::resource::new(|| (), |_| outbox());
    view! {
        <h1 class="text-2xl font-semibold">"Mail"</h1>
        <p class="mt-1 text-sm text-slate-600">"Newest first. Without SMTP_URL, messages stay here as queued."</p>
        <Suspense fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(list) if list.is_empty() => view! { <p class="mt-4 text-slate-600">"No mail yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="mt-4 flex flex-col gap-3">
                            {list.into_iter().map(|m| view! {
                                <details data-testid="mail" data-to=m.to.clone() data-kind=m.kind.clone() class="rounded border border-slate-200 bg-white p-3">
                                    <summary class="cursor-pointer text-sm">
                                        <span class="font-medium">{m.subject.clone()}</span>
                                        {format!(" — to {} — {} — {} ({}), {}", m.to, m.tenant.clone().unwrap_or_else(|| "platform".into()), m.state, m.attempts, format_utc(m.created_at))}
                                    </summary>
                                    <p class="mt-2 text-xs text-slate-500">{format!("From: {}", m.from)}</p>
                                    {m.has_secret.then(|| view! { <p class="text-xs text-slate-500">"Its one-time link is masked; only the recipient receives it."</p> })}
                                    {m.last_error.map(|e| view! { <p class="text-xs text-red-700">{e}</p> })}
                                    <pre data-testid="mail-text" class="mt-2 whitespace-pre-wrap text-sm">{m.text}</pre>
                                </details>
                            }).collect_view()}
                        </div>
                    }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <p class="mt-4"><a class="underline" href="/admin/login">"Sign in"</a></p> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}
