//! The page frame shared by every page: the storefront's brand (name, logo) in the header and footer,
//! or the admin app's.

use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::auth::{Logout, Me};
use crate::error::AppError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SiteKind {
    Storefront,
    Admin,
}

/// Who this host belongs to and how it looks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteBrand {
    pub kind: SiteKind,
    pub company_name: String,
    pub logo_url: Option<String>,
    pub support_email: String,
    /// Set while a platform admin acts as someone here: "<admin> as <account>".
    pub impersonating: Option<String>,
}

#[server(prefix = "/api", endpoint = "site_brand")]
pub async fn get_site_brand() -> Result<SiteBrand, AppError> {
    use crate::backend::request;
    use crate::backend::tenancy::registry::Site;
    match request::site() {
        Site::Tenant(t) => Ok(SiteBrand {
            kind: SiteKind::Storefront,
            company_name: t.brand.theme.company_name.clone(),
            logo_url: t.brand.logo_sha.as_ref().map(|s| format!("/brand/asset/{s}.png")),
            support_email: t.brand.support_email.clone(),
            impersonating: impersonation(&t).await?,
        }),
        Site::Admin => Ok(SiteBrand {
            kind: SiteKind::Admin,
            company_name: "EZSCALE Platform Admin".into(),
            logo_url: None,
            support_email: String::new(),
            impersonating: None,
        }),
        Site::Suspended(_) | Site::Unknown => Err(AppError::NotFound),
    }
}

/// Who a platform admin is acting as on this storefront, if anyone (staff session first, then customer).
#[cfg(feature = "ssr")]
async fn impersonation(t: &crate::backend::tenancy::registry::TenantEntry) -> Result<Option<String>, AppError> {
    use crate::backend::{identity::accounts, request};
    let state = request::app_state()?;
    if let Some(token) = request::cookie(accounts::STAFF_COOKIE) {
        if let Some(m) = accounts::session_staff(state.central(), &token, t.id).await? {
            if let Some(admin) = m.impersonator {
                return Ok(Some(format!("{admin} as {}", m.email)));
            }
        }
    }
    if let Some((_, tenant, customer)) = request::current_customer().await? {
        if let Some(admin) = request::customer_impersonator(&tenant).await? {
            return Ok(Some(format!("{admin} as {}", customer.email)));
        }
    }
    Ok(None)
}

#[component]
pub fn Frame(children: Children) -> impl IntoView {
    // Every resource is created here, at the top: resources created inside a suspended block get other
    // ids on the server and in the browser, and hydration then fails.
    let brand = Resource::new_blocking(|| (), |_| get_site_brand());
    let logout = ServerAction::<Logout>::new();
    let who = Resource::new(move || logout.version().get(), |_| crate::auth::who_am_i());
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            go_to("/");
        }
    });
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let b = brand.await;
                let me = who.await.ok().flatten();
                match b {
                    Ok(b) if b.kind == SiteKind::Admin => view! {
                        <Title text=b.company_name.clone()/>
                        <header class="border-b border-slate-200 bg-slate-900 text-white">
                            <nav class="mx-auto flex max-w-6xl items-center gap-6 px-6 py-4">
                                <a href="/admin" class="text-lg font-bold">{b.company_name}</a>
                                <a href="/admin" class="text-sm text-slate-300 hover:text-white">"Tenants"</a>
                                <a href="/admin/audit" class="text-sm text-slate-300 hover:text-white">"Audit log"</a>
                                <a href="/admin/mail" class="text-sm text-slate-300 hover:text-white">"Mail"</a>
                                <a href="/admin/provisioning" class="text-sm text-slate-300 hover:text-white">"Provisioning"</a>
                                <a href="/admin/kasm" class="text-sm text-slate-300 hover:text-white">"Kasm"</a>
                                <a href="/admin/billing" class="text-sm text-slate-300 hover:text-white">"Billing"</a>
                                <a href="/admin/prices" class="text-sm text-slate-300 hover:text-white">"Prices"</a>
                            </nav>
                        </header>
                    }.into_any(),
                    Ok(b) => view! { <StorefrontHeader brand=b me logout/> }.into_any(),
                    Err(_) => ().into_any(),
                }
            })}
        </Transition>
        <main class="mx-auto max-w-5xl px-6 py-8">{children()}</main>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match brand.await {
                    Ok(b) if b.kind == SiteKind::Storefront => view! {
                        <footer data-testid="site-footer" class="mx-auto max-w-5xl px-6 py-8 text-xs text-slate-500">
                            <p>"Usage is billed in 15-minute increments, rounded up, at the rate in force when it ran."</p>
                            <p class="mt-1">
                                {format!("© {}", b.company_name)}
                                {(!b.support_email.is_empty()).then(|| view! {
                                    " · Support: " <a class="underline" href=format!("mailto:{}", b.support_email)>{b.support_email.clone()}</a>
                                })}
                            </p>
                        </footer>
                    }.into_any(),
                    _ => ().into_any(),
                }
            })}
        </Transition>
    }
}

/// The storefront's header: its brand, navigation, and who is signed in (plain view: no resources here).
#[component]
fn StorefrontHeader(brand: SiteBrand, me: Option<Me>, logout: ServerAction<Logout>) -> impl IntoView {
    let name = brand.company_name.clone();
    view! {
        <Title text=format!("{name} Workspaces")/>
        {brand.impersonating.clone().map(|who| view! {
            <div data-testid="impersonation-banner" class="bg-amber-400 px-6 py-2 text-center text-sm font-medium text-slate-900">
                {format!("Impersonating: {who}. Everything done here is audited.")}
            </div>
        })}
        <header class="border-b border-slate-200 bg-white">
            <nav class="mx-auto flex max-w-5xl items-center gap-6 px-6 py-4">
                <a href="/" data-testid="brand-name" class="flex items-center gap-2 text-lg font-bold text-brand">
                    {brand.logo_url.map(|src| view! { <img src=src alt="" class="h-8 w-auto"/> })}
                    {name}
                </a>
                <a href="/" class="text-sm text-slate-600 hover:text-slate-900">"Catalog"</a>
                <a href="/workspaces" class="text-sm text-slate-600 hover:text-slate-900">"My workspaces"</a>
                <a href="/billing" class="text-sm text-slate-600 hover:text-slate-900">"Billing"</a>
                <span class="ml-auto text-sm">
                    {match me {
                        Some(Me { name, .. }) => view! {
                            <a href="/account" data-testid="signed-in-as" class="mr-3 text-slate-600 hover:underline">{name}</a>
                            <ActionForm action=logout attr:class="inline">
                                <button type="submit" class="text-slate-600 underline">"Sign out"</button>
                            </ActionForm>
                        }.into_any(),
                        None => view! {
                            <a href="/login" class="underline">"Sign in"</a>
                            <a href="/signup" class="ml-3 rounded bg-brand px-3 py-1 text-on-brand">"Sign up"</a>
                        }.into_any(),
                    }}
                </span>
            </nav>
        </header>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::backend::request::set_status(http::StatusCode::NOT_FOUND);
    view! {
        <h1 class="text-2xl font-semibold">"Page not found"</h1>
        <p class="mt-2"><a class="underline" href="/">"Back to the catalog"</a></p>
    }
}

/// A message box for errors returned by server functions.
#[component]
pub fn ErrorNote(message: String) -> impl IntoView {
    view! {
        <p role="alert" data-testid="error" class="rounded border border-red-200 bg-red-50 px-3 py-2 text-sm text-red-800">
            {message}
        </p>
    }
}

/// Full navigation in the browser (a fresh page, so every resource reloads with the new session state).
pub fn go_to(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}
