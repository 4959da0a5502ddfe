//! The reseller's own domains (`/manage/domains`): add one, see exactly what to publish, check now, make
//! one primary, remove one. The platform admin sees the same domains on the tenant's page.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::tenant_view::DomainView;
use crate::error::AppError;
use crate::layout::ErrorNote;

/// What "check now" found, with the list as it now is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub domain: String,
    pub verified: bool,
    /// Why not, when not.
    pub reason: Option<String>,
    pub domains: Vec<DomainView>,
}

#[server(prefix = "/api", endpoint = "my_domains")]
pub async fn my_domains() -> Result<Vec<DomainView>, AppError> {
    let (state, tenant, _) = super::server::guard::staff().await?;
    Ok(crate::backend::resellers::own_domains::list(&state, tenant.id).await?)
}

#[server(prefix = "/api", endpoint = "add_my_domain")]
pub async fn add_my_domain(domain: String, primary: Option<String>) -> Result<Vec<DomainView>, AppError> {
    use crate::backend::{request, resellers::own_domains};
    let (state, tenant, me) = super::server::guard::staff().await?;
    let primary = primary.is_some_and(|p| p == "on");
    Ok(own_domains::add_by(&state, request::client_ip(), &me.actor(), &tenant, &domain, primary).await?)
}

#[server(prefix = "/api", endpoint = "check_my_domain")]
pub async fn check_my_domain(domain: String) -> Result<CheckOutcome, AppError> {
    use crate::backend::tenancy::domains::Checked;
    use crate::backend::{request, resellers::own_domains};
    let (state, tenant, me) = super::server::guard::staff().await?;
    let (checked, domains) =
        own_domains::check_now_by(&state, request::client_ip(), &me.actor(), &tenant, &domain).await?;
    let reason = match checked {
        Checked::NotYet(why) => Some(why),
        Checked::AlreadyVerified | Checked::Verified(_) => None,
    };
    Ok(CheckOutcome { verified: reason.is_none(), reason, domain, domains })
}

#[server(prefix = "/api", endpoint = "make_domain_primary")]
pub async fn make_domain_primary(domain: String) -> Result<Vec<DomainView>, AppError> {
    use crate::backend::{request, resellers::own_domains};
    let (state, tenant, me) = super::server::guard::staff().await?;
    Ok(own_domains::make_primary_by(&state, request::client_ip(), &me.actor(), &tenant, &domain).await?)
}

#[server(prefix = "/api", endpoint = "remove_my_domain")]
pub async fn remove_my_domain(domain: String) -> Result<Vec<DomainView>, AppError> {
    use crate::backend::{request, resellers::own_domains};
    let (state, tenant, me) = super::server::guard::staff().await?;
    Ok(own_domains::remove_by(&state, request::client_ip(), &me.actor(), &tenant, &domain).await?)
}

#[component]
pub fn DomainsPage() -> impl IntoView {
    let add = ServerAction::<AddMyDomain>::new();
    let check = ServerAction::<CheckMyDomain>::new();
    let primary = ServerAction::<MakeDomainPrimary>::new();
    let remove = ServerAction::<RemoveMyDomain>::new();
    let list = crate::resource::new(
        move || (add.version().get(), check.version().get(), primary.version().get(), remove.version().get()),
        |_| my_domains(),
    );
    let field = "rounded border px-2 py-1 text-sm";
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(domains) => view! {
                        <h1 class="text-2xl font-semibold">"Domains"</h1>
                        <p class="mt-1 text-sm text-slate-600">
                            "Your storefront answers on a domain once it is verified: publish its TXT record (and point it at us with a CNAME). "
                            <a class="underline" href="/manage/guide#domains">"How to publish DNS records"</a>
                        </p>
                        {move || check.value().get().map(|r| match r {
                            Ok(o) if o.verified => view! {
                                <p role="status" data-testid="check-result" class="mt-3 rounded border border-green-200 bg-green-50 p-2 text-sm text-green-800">
                                    {format!("{} is verified: your storefront answers on it now.", o.domain)}
                                </p>
                            }.into_any(),
                            Ok(o) => view! {
                                <p role="status" data-testid="check-result" class="mt-3 rounded border border-amber-200 bg-amber-50 p-2 text-sm text-amber-900">
                                    {format!("{} is not verified yet: {}", o.domain, o.reason.unwrap_or_default())}
                                </p>
                            }.into_any(),
                            Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                        })}
                        {move || [add.value().get(), primary.value().get(), remove.value().get()]
                            .into_iter().flatten().find_map(Result::err)
                            .map(|e| view! { <ErrorNote message=e.to_string()/> })}
                        <DomainList domains check primary remove/>
                        <h2 class="mt-8 font-semibold">"Add a domain"</h2>
                        <ActionForm action=add attr:class="mt-2 flex flex-wrap items-end gap-3" attr:data-testid="add-my-domain">
                            <label class="flex flex-col text-xs">"Domain"
                                <input name="domain" required maxlength="253" placeholder="shop.example.com" autocomplete="off" class=field/>
                            </label>
                            <label class="flex items-center gap-2 text-sm">
                                <input type="checkbox" name="primary" value="on" class="h-4 w-4"/>
                                "Make it the primary address"
                            </label>
                            <button type="submit" data-testid="add-domain" class="rounded bg-brand px-3 py-1 text-sm text-on-brand"
                                disabled=move || add.pending().get()>"Add domain"</button>
                        </ActionForm>
                    }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <super::StaffSignInFirst/> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn DomainList(
    domains: Vec<DomainView>,
    check: ServerAction<CheckMyDomain>,
    primary: ServerAction<MakeDomainPrimary>,
    remove: ServerAction<RemoveMyDomain>,
) -> impl IntoView {
    if domains.is_empty() {
        return view! { <p class="mt-4 text-sm text-slate-600" data-testid="no-domains">"No domains yet."</p> }
            .into_any();
    }
    view! {
        <ul class="mt-4 flex flex-col gap-3">
            {domains.into_iter().map(|d| {
                let state = d.state_text();
                let (name_check, name_primary, name_remove) = (d.domain.clone(), d.domain.clone(), d.domain.clone());
                view! {
                    <li class="rounded border border-slate-200 bg-white p-3 text-sm" data-testid="my-domain" data-domain=d.domain.clone()>
                        <div class="flex flex-wrap items-center gap-2">
                            <span class="font-mono font-medium">{d.domain.clone()}</span>
                            {d.primary.then(|| view! { <span class="rounded bg-slate-100 px-2 text-xs">"Primary"</span> })}
                            <span data-testid="domain-state" data-verified=if d.verified { "true" } else { "false" }
                                class=if d.verified { "text-green-700" } else { "text-amber-800" }>{state}</span>
                        </div>
                        {(!d.verified).then(|| view! {
                            <dl class="mt-2 grid gap-1 text-xs sm:grid-cols-[auto_1fr]">
                                <dt class="text-slate-500">"TXT record name"</dt><dd class="font-mono break-all" data-testid="txt-name">{d.txt_name.clone()}</dd>
                                <dt class="text-slate-500">"TXT record value"</dt><dd class="font-mono break-all" data-testid="txt-value">{d.txt_value.clone()}</dd>
                                <dt class="text-slate-500">"or HTTP token at"</dt><dd class="font-mono break-all">{format!("http://{}{}", d.domain, d.http_path)}</dd>
                            </dl>
                        })}
                        <div class="mt-2 flex flex-wrap gap-3">
                            {(!d.verified).then(|| view! {
                                <ActionForm action=check>
                                    <input type="hidden" name="domain" value=name_check/>
                                    <button type="submit" data-testid="check-now" class="rounded border px-2 py-0.5"
                                        disabled=move || check.pending().get()>"Check now"</button>
                                </ActionForm>
                            })}
                            {(!d.primary).then(|| view! {
                                <ActionForm action=primary>
                                    <input type="hidden" name="domain" value=name_primary/>
                                    <button type="submit" data-testid="make-primary" class="rounded border px-2 py-0.5">"Make primary"</button>
                                </ActionForm>
                            })}
                            <ActionForm action=remove>
                                <input type="hidden" name="domain" value=name_remove/>
                                <button type="submit" data-testid="remove-domain" class="text-red-700 underline">"Remove"</button>
                            </ActionForm>
                        </div>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
    .into_any()
}
