//! "Act as": a platform admin continues as a reseller's owner or one of its customers, through a
//! single-use handle valid for 60 seconds, redeemed on the tenant's own host (so the session cookie is
//! that host's). The session is marked, shows a banner, lasts an hour, cannot change credentials, and
//! what it does is audited.

use leptos::prelude::*;

use crate::error::AppError;
use crate::layout::{go_to, ErrorNote};

/// Returns the URL on the tenant's host that redeems the handle.
#[server(prefix = "/api", endpoint = "admin_impersonate")]
pub async fn impersonate(slug: String, target: String, email: String) -> Result<String, AppError> {
    use crate::backend::request;
    use crate::backend::resellers::operations::{self, ActAs};
    let (state, admin) = super::server::guard::admin().await?;
    let who = match target.as_str() {
        "owner" => ActAs::Owner,
        "customer" => ActAs::Customer(email),
        _ => return Err(AppError::Invalid("Choose the owner or a customer.".into())),
    };
    let origin = request::origin().unwrap_or_default();
    Ok(operations::impersonate(&state, super::server::guard::by(&admin), &slug, &who, &origin).await?)
}

#[component]
pub fn ImpersonateForm(slug: String) -> impl IntoView {
    let act = ServerAction::<Impersonate>::new();
    Effect::new(move |_| {
        if let Some(Ok(url)) = act.value().get() {
            go_to(&url);
        }
    });
    let owner_slug = slug.clone();
    view! {
        <section data-testid="impersonate" class="mt-8">
            <h2 class="text-lg font-semibold">"Act as"</h2>
            <p class="text-sm text-slate-600">"Opens the storefront signed in as them for up to an hour. Everything you do is audited."</p>
            <div class="mt-2 flex flex-wrap items-end gap-4">
                <ActionForm action=act>
                    <input type="hidden" name="slug" value=owner_slug/>
                    <input type="hidden" name="target" value="owner"/>
                    <input type="hidden" name="email" value=""/>
                    <button type="submit" data-testid="act-as-owner" class="rounded border px-3 py-1 text-sm">"Act as the owner"</button>
                </ActionForm>
                <ActionForm action=act attr:class="flex flex-wrap items-end gap-2">
                    <input type="hidden" name="slug" value=slug/>
                    <input type="hidden" name="target" value="customer"/>
                    <label class="flex flex-col text-xs">"Customer email"<input type="email" name="email" required class="rounded border px-2 py-1 text-sm"/></label>
                    <button type="submit" class="rounded border px-3 py-1 text-sm">"Act as this customer"</button>
                </ActionForm>
            </div>
            {move || match act.value().get() {
                Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                _ => ().into_any(),
            }}
        </section>
    }
}

/// The page the handle opens on the tenant's host: redeems it with a POST (never on the GET itself).
#[component]
pub fn ImpersonatePage() -> impl IntoView {
    use crate::manage::server::RedeemImpersonation;
    let q = leptos_router::hooks::use_query_map();
    let token = move || q.read().get("token").unwrap_or_default();
    let redeem = ServerAction::<RedeemImpersonation>::new();
    Effect::new(move |_| {
        if let Some(Ok(go)) = redeem.value().get() {
            go_to(&go);
        }
    });
    view! {
        <h1 class="text-2xl font-semibold">"Continue as this account"</h1>
        <ActionForm action=redeem attr:class="mt-6">
            <input type="hidden" name="token" prop:value=token/>
            <button type="submit" data-testid="continue-impersonation" class="rounded bg-brand px-4 py-2 text-on-brand">"Continue"</button>
        </ActionForm>
        {move || match redeem.value().get() {
            Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
            _ => ().into_any(),
        }}
    }
}
