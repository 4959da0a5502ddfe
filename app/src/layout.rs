//! The page frame around every page, chosen by host and path ([`Area`]): the storefront's (its brand,
//! catalogue, workspaces, billing and who is signed in, and its footer), the management frame of its
//! `/manage` pages (the reseller's brand, the management pages, the staff member signed in, a way to the
//! storefront), or the platform admin app's. On narrow screens each frame's navigation folds into a
//! "Menu" disclosure ([`NavMenu`]).

use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::auth::{Logout, Me};
use crate::error::AppError;
use crate::manage::model::StaffMe;
use crate::manage::platform_billing::{wholesale_account, StandingNotice};
use crate::manage::server::{current_staff, StaffLogout, StaffLogoutEverywhere};

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
    match request::customer().await {
        Ok((_, me)) => Ok(me.impersonator.map(|admin| format!("{admin} as {}", me.customer.email))),
        Err(AppError::NotSignedIn) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Which frame a page gets, from its path alone (so the server and the browser agree before any data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// The customer's storefront (and the admin app, whose host decides its frame).
    Storefront,
    /// `/manage` pages that need a staff session: the management frame.
    Manage,
    /// The management pages for someone not signed in yet (sign in, forgotten password, accepting an
    /// invitation, choosing a password): a minimal management frame, no navigation.
    ManageSignedOut,
}

impl Area {
    pub fn of(path: &str) -> Self {
        let Some(rest) = path.strip_prefix("/manage") else { return Self::Storefront };
        match rest.trim_end_matches('/') {
            "/login" | "/forgot" | "/accept" | "/set-password" => Self::ManageSignedOut,
            r if r.is_empty() || r.starts_with('/') => Self::Manage,
            // "/managers" is not a management page.
            _ => Self::Storefront,
        }
    }

    fn is_manage(self) -> bool {
        self != Self::Storefront
    }
}

/// Whether the navigation link to `href` is the current page at `path` (`aria-current="page"`): the
/// section roots ("/", "/manage", "/admin") only on themselves, other links on themselves and the pages
/// under them (a customer's page is under Customers); an invoice is part of Billing, and a tenant's page
/// of the admin's tenants list.
pub fn nav_current(path: &str, href: &str) -> bool {
    let path = match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    match href {
        "/" | "/manage" => path == href,
        "/admin" => path == "/admin" || path.starts_with("/admin/tenants/"),
        "/billing" => path == "/billing" || path.starts_with("/invoices/"),
        _ => path == href || path.strip_prefix(href).is_some_and(|rest| rest.starts_with('/')),
    }
}

#[component]
pub fn Frame(children: Children) -> impl IntoView {
    let path = leptos_router::hooks::use_location().pathname;
    let area = Memo::new(move |_| Area::of(&path.get()));
    // Every resource is created here, at the top: resources created inside a suspended block get other
    // ids on the server and in the browser, and hydration then fails. Each asks only for what its frame
    // shows: the storefront's customer, or the management frame's staff member and account standing.
    let brand = Resource::<_, crate::resource::Json>::new_with_options(|| (), |_| get_site_brand(), true);
    let logout = ServerAction::<Logout>::new();
    let staff_logout = ServerAction::<StaffLogout>::new();
    let staff_everywhere = ServerAction::<StaffLogoutEverywhere>::new();
    let who = crate::resource::new(
        move || (logout.version().get(), area.get() == Area::Storefront),
        |(_, storefront)| async move {
            if storefront {
                crate::auth::who_am_i().await
            } else {
                Ok(None)
            }
        },
    );
    let staff = crate::resource::new(
        move || area.get() == Area::Manage,
        |manage| async move {
            if manage {
                current_staff().await
            } else {
                Ok(None)
            }
        },
    );
    let standing = crate::resource::new(
        move || area.get() == Area::Manage,
        |manage| async move {
            if manage {
                wholesale_account().await.ok()
            } else {
                None
            }
        },
    );
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            go_to("/");
        }
    });
    Effect::new(move |_| {
        if matches!(staff_logout.value().get(), Some(Ok(()))) || matches!(staff_everywhere.value().get(), Some(Ok(_))) {
            go_to("/manage/login");
        }
    });
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                // Read before the first await, so the frame follows a client-side navigation.
                let here = area.get();
                match brand.await {
                    Ok(b) if b.kind == SiteKind::Admin => view! { <AdminHeader brand=b/> }.into_any(),
                    Ok(b) => match here {
                        Area::Storefront => {
                            let me = who.await.ok().flatten();
                            view! { <StorefrontHeader brand=b me logout/> }.into_any()
                        }
                        Area::Manage | Area::ManageSignedOut => match staff.await.ok().flatten() {
                            Some(me) => view! {
                                <ManageHeader brand=b me logout=staff_logout everywhere=staff_everywhere/>
                            }.into_any(),
                            None => view! { <ManageSignedOutHeader brand=b/> }.into_any(),
                        },
                    },
                    Err(_) => ().into_any(),
                }
            })}
        </Transition>
        <main class="mx-auto max-w-5xl px-4 py-6 sm:px-6 sm:py-8">
            // The account's standing (past due, suspended) under the management frame; /manage/billing
            // says it in full itself.
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let here = path.get();
                    let v = standing.await.filter(|_| here.trim_end_matches('/') != "/manage/billing");
                    v.map(|v| view! { <StandingNotice v/> })
                })}
            </Transition>
            {children()}
        </main>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let manage = area.get().is_manage();
                match brand.await {
                    Ok(b) if b.kind == SiteKind::Storefront && !manage => view! {
                        <footer data-testid="site-footer" class="mx-auto max-w-5xl px-4 py-8 text-xs text-slate-500 sm:px-6">
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

/// The frames' navigation: a row of links on wide screens, a "Menu" disclosure on narrow ones. It is a
/// `<details>` element, so it opens before hydration and from the keyboard (Enter or Space on "Menu");
/// from 48rem up, style/tailwind.css (`.nav-menu`) shows its content and hides the summary. The panel
/// drops below the header, which is its positioned ancestor (`relative`).
#[component]
fn NavMenu(#[prop(optional)] dark: bool, children: Children) -> impl IntoView {
    let path = leptos_router::hooks::use_location().pathname;
    let menu = NodeRef::<leptos::html::Details>::new();
    // The frame outlives a client-side navigation: close the menu when the page changes under it.
    Effect::new(move |before: Option<()>| {
        path.track();
        if before.is_some() {
            if let Some(d) = menu.get() {
                let _ = d.remove_attribute("open");
            }
        }
    });
    let (summary, panel) = if dark {
        ("text-white hover:bg-slate-800 focus-visible:outline-white", "border-slate-700 bg-slate-900 md:bg-transparent")
    } else {
        (
            "text-slate-700 hover:bg-slate-100 focus-visible:outline-slate-900",
            "border-slate-200 bg-white md:bg-transparent",
        )
    };
    view! {
        <details node_ref=menu class="nav-menu ml-auto md:ml-0 md:flex-1" data-testid="nav-menu">
            <summary data-testid="nav-menu-toggle" class=format!(
                "flex cursor-pointer list-none items-center gap-2 rounded px-3 py-2 text-sm font-medium \
                 focus-visible:outline-2 focus-visible:outline-offset-2 [&::-webkit-details-marker]:hidden {summary}"
            )>
                <svg aria-hidden="true" viewBox="0 0 20 20" class="h-5 w-5 fill-current">
                    <path d="M3 5h14v2H3zM3 9h14v2H3zM3 13h14v2H3z"/>
                </svg>
                "Menu"
            </summary>
            <div class=format!(
                "absolute inset-x-0 top-full z-20 flex flex-col gap-1 border-b px-4 py-3 shadow-md \
                 md:static md:flex-row md:flex-wrap md:items-center md:gap-x-6 md:gap-y-2 md:border-0 md:p-0 md:shadow-none {panel}"
            )>
                {children()}
            </div>
        </details>
    }
}

/// A link of the frame's navigation, marked `aria-current="page"` on its own page.
#[component]
fn NavLink(href: &'static str, label: &'static str, #[prop(optional)] dark: bool) -> impl IntoView {
    let path = leptos_router::hooks::use_location().pathname;
    let tone = if dark {
        "text-slate-300 hover:text-white aria-[current=page]:text-white"
    } else {
        "text-slate-600 hover:text-slate-900 aria-[current=page]:text-slate-900"
    };
    view! {
        <a href=href aria-current=move || nav_current(&path.get(), href).then_some("page")
            class=format!("block rounded py-2 text-sm aria-[current=page]:font-semibold aria-[current=page]:underline \
                           aria-[current=page]:underline-offset-4 md:py-0 {tone}")>
            {label}
        </a>
    }
}

/// Set while a platform admin acts as someone here (storefront and management frames alike).
#[component]
fn ImpersonationBanner(who: Option<String>) -> impl IntoView {
    who.map(|who| {
        view! {
            <div data-testid="impersonation-banner" class="bg-amber-400 px-4 py-2 text-center text-sm font-medium text-slate-900">
                {format!("Impersonating: {who}. Everything done here is audited.")}
            </div>
        }
    })
}

/// The brand as the frames show it: logo and company name.
#[component]
fn BrandMark(brand: SiteBrand, href: &'static str) -> impl IntoView {
    view! {
        <a href=href data-testid="brand-name" class="flex min-w-0 items-center gap-2 break-words text-lg font-bold text-brand">
            {brand.logo_url.map(|src| view! { <img src=src alt="" class="h-8 w-auto shrink-0"/> })}
            {brand.company_name}
        </a>
    }
}

/// The platform admin app's header.
#[component]
fn AdminHeader(brand: SiteBrand) -> impl IntoView {
    view! {
        <Title text=brand.company_name.clone()/>
        <header class="border-b border-slate-200 bg-slate-900 text-white">
            <div class="relative mx-auto flex max-w-6xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3 sm:px-6 md:py-4">
                <a href="/admin" class="min-w-0 break-words text-lg font-bold">{brand.company_name}</a>
                <NavMenu dark=true>
                    <nav aria-label="Platform admin" class="flex flex-col md:flex-row md:flex-wrap md:items-center md:gap-x-6 md:gap-y-2">
                        <NavLink dark=true href="/admin" label="Tenants"/>
                        <NavLink dark=true href="/admin/audit" label="Audit log"/>
                        <NavLink dark=true href="/admin/mail" label="Mail"/>
                        <NavLink dark=true href="/admin/provisioning" label="Provisioning"/>
                        <NavLink dark=true href="/admin/kasm" label="Kasm"/>
                        <NavLink dark=true href="/admin/databases" label="Databases"/>
                        <NavLink dark=true href="/admin/billing" label="Billing"/>
                        <NavLink dark=true href="/admin/prices" label="Prices"/>
                    </nav>
                </NavMenu>
            </div>
        </header>
    }
}

/// The storefront's header: its brand, navigation, and who is signed in (plain view: no resources here).
#[component]
fn StorefrontHeader(brand: SiteBrand, me: Option<Me>, logout: ServerAction<Logout>) -> impl IntoView {
    let title = format!("{} Workspaces", brand.company_name);
    view! {
        <Title text=title/>
        <ImpersonationBanner who=brand.impersonating.clone()/>
        <header class="border-b border-slate-200 bg-white">
            <div class="relative mx-auto flex max-w-5xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3 sm:px-6 md:py-4">
                <BrandMark brand href="/"/>
                <NavMenu>
                    <nav aria-label="Storefront" class="flex flex-col md:flex-row md:items-center md:gap-6">
                        <NavLink href="/" label="Catalog"/>
                        <NavLink href="/workspaces" label="My workspaces"/>
                        <NavLink href="/billing" label="Billing"/>
                    </nav>
                    <div class="mt-2 flex flex-wrap items-center gap-x-3 gap-y-2 border-t border-slate-100 pt-3 text-sm md:ml-auto md:mt-0 md:border-0 md:pt-0">
                        {match me {
                            Some(Me { name, .. }) => view! {
                                <a href="/account" data-testid="signed-in-as" class="break-all text-slate-600 hover:underline">{name}</a>
                                <ActionForm action=logout attr:class="inline">
                                    <button type="submit" class="text-slate-600 underline">"Sign out"</button>
                                </ActionForm>
                            }.into_any(),
                            None => view! {
                                <a href="/login" class="underline">"Sign in"</a>
                                <a href="/signup" class="rounded bg-brand px-3 py-1 text-on-brand">"Sign up"</a>
                            }.into_any(),
                        }}
                    </div>
                </NavMenu>
            </div>
        </header>
    }
}

/// The management frame (`/manage` with a staff session): the reseller's brand, the management pages,
/// who is signed in and a way out, and the storefront as customers see it. Never the storefront's own
/// navigation or its "Sign in / Sign up".
#[component]
fn ManageHeader(
    brand: SiteBrand,
    me: StaffMe,
    logout: ServerAction<StaffLogout>,
    everywhere: ServerAction<StaffLogoutEverywhere>,
) -> impl IntoView {
    let title = format!("Manage · {}", brand.company_name);
    view! {
        <Title text=title/>
        <ImpersonationBanner who=brand.impersonating.clone()/>
        <header class="border-b border-slate-200 bg-white" data-testid="manage-frame">
            <div class="relative mx-auto flex max-w-5xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3 sm:px-6 md:py-4">
                <div class="flex min-w-0 items-center gap-2">
                    <BrandMark brand href="/manage"/>
                    <span class="rounded bg-slate-100 px-1.5 py-0.5 text-xs font-medium text-slate-600">"Manage"</span>
                </div>
                <NavMenu>
                    <nav aria-label="Manage" data-testid="manage-nav"
                        class="flex flex-col md:w-full md:flex-row md:flex-wrap md:items-center md:gap-x-5 md:gap-y-1">
                        <NavLink href="/manage" label="Overview"/>
                        <NavLink href="/manage/customers" label="Customers"/>
                        <NavLink href="/manage/catalog" label="Catalogue"/>
                        <NavLink href="/manage/billing" label="Billing"/>
                        <NavLink href="/manage/branding" label="Branding"/>
                        <NavLink href="/manage/staff" label="Staff"/>
                        <NavLink href="/manage/domains" label="Domains"/>
                        <NavLink href="/manage/guide" label="Guide"/>
                    </nav>
                    <div class="mt-2 flex flex-wrap items-center gap-x-4 gap-y-2 border-t border-slate-100 pt-3 text-sm md:mt-0 md:w-full md:pt-2">
                        <p data-testid="staff-signed-in" class="min-w-0 break-all text-slate-600">
                            <span class="font-medium text-slate-900">{me.name}</span>
                            {format!(" · {} · {}", me.role.label(), me.email)}
                        </p>
                        <a href="/" data-testid="view-storefront" class="text-brand underline">"View storefront"</a>
                        <ActionForm action=logout attr:class="inline">
                            <button type="submit" class="text-slate-600 underline">"Sign out"</button>
                        </ActionForm>
                        <ActionForm action=everywhere attr:class="inline">
                            <button type="submit" class="text-slate-600 underline">"Sign out everywhere"</button>
                        </ActionForm>
                    </div>
                </NavMenu>
            </div>
        </header>
    }
}

/// The management pages before a staff session exists: the brand, that this is the management side,
/// and the way to the storefront. Nothing else to navigate to yet.
#[component]
fn ManageSignedOutHeader(brand: SiteBrand) -> impl IntoView {
    let title = format!("Manage · {}", brand.company_name);
    view! {
        <Title text=title/>
        <ImpersonationBanner who=brand.impersonating.clone()/>
        <header class="border-b border-slate-200 bg-white" data-testid="manage-frame">
            <div class="mx-auto flex max-w-5xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3 sm:px-6 md:py-4">
                <div class="flex min-w-0 items-center gap-2">
                    <BrandMark brand href="/manage/login"/>
                    <span class="rounded bg-slate-100 px-1.5 py-0.5 text-xs font-medium text-slate-600">"Manage"</span>
                </div>
                <a href="/" data-testid="view-storefront" class="ml-auto text-sm text-brand underline">"View storefront"</a>
            </div>
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

#[cfg(test)]
mod tests {
    use super::{nav_current, Area};

    #[test]
    fn management_pages_get_the_management_frame_and_sign_in_pages_the_minimal_one() {
        for path in
            ["/manage", "/manage/", "/manage/customers", "/manage/customers/abc", "/manage/billing", "/manage/guide"]
        {
            assert_eq!(Area::of(path), Area::Manage, "{path}");
        }
        for path in ["/manage/login", "/manage/forgot", "/manage/accept", "/manage/set-password", "/manage/login/"] {
            assert_eq!(Area::of(path), Area::ManageSignedOut, "{path}");
        }
        for path in ["/", "/billing", "/workspaces/1", "/managers", "/admin", "/login"] {
            assert_eq!(Area::of(path), Area::Storefront, "{path}");
        }
    }

    #[test]
    fn the_current_page_is_marked_on_its_own_link_only() {
        assert!(nav_current("/", "/"));
        assert!(!nav_current("/workspaces", "/"));
        assert!(nav_current("/workspaces/0d6f", "/workspaces"));
        assert!(nav_current("/invoices/42", "/billing"));
        assert!(!nav_current("/billingx", "/billing"));
        assert!(nav_current("/manage", "/manage"));
        assert!(!nav_current("/manage/customers", "/manage"));
        assert!(nav_current("/manage/customers/7", "/manage/customers"));
        assert!(nav_current("/manage/billing/", "/manage/billing"));
        assert!(nav_current("/admin/tenants/acme", "/admin"));
        assert!(!nav_current("/admin/audit", "/admin"));
        assert!(nav_current("/admin/audit", "/admin/audit"));
    }
}
