//! EZSCALE Workspaces: the Leptos app, rendered on the server (feature `ssr`) and hydrated in the browser
//! (feature `hydrate`).
//!
//! | module       | holds |
//! |--------------|-------|
//! | `domain`     | pure types and rules (money, rates, billing increments, plans, workspace states) |
//! | `error`      | `AppError`, the one error type of the server-function boundary |
//! | `layout`     | the page frame: header, navigation, footer |
//! | `charts`     | the one SVG bar chart (axes, values, hover and focus, empty state, table) every chart page uses |
//! | `admin`      | the platform admin app: tenants, domains, terms |
//! | `manage`     | the reseller's pages: staff sign-in and passwords, onboarding and guide, branding, staff, billing, own domains, catalogue and customers |
//! | `auth`       | sign in / sign out pages and server functions |
//! | `catalog`    | the plan catalog and ordering |
//! | `workspaces` | the customer's workspaces: list, detail, start/stop, the live meter |
//! | `pages`      | the pages loaded on first use (their own WebAssembly chunks) and the prefetching of their code |
//! | `resource`   | resources as pages create them (JSON read back with the same reader server functions use) |
//! | `backend`    | server-only: databases, Kasm client, provisioning, jobs (the one `ssr` gate) |

// Deeply nested views (the branding editor) build deep types.
#![recursion_limit = "256"]

pub mod admin;
pub mod auth;
pub mod billing;
pub mod catalog;
pub mod charts;
pub mod domain;
pub mod error;
pub mod layout;
pub mod manage;
pub mod pages;
pub mod resource;
pub mod workspaces;

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The HTML document around the app, rendered on the server. The storefront's theme is inlined as CSS
/// variables (first paint is already in its colours) and its stylesheet linked by version. The built
/// site's files (WebAssembly, loaders, stylesheet) are linked under the id of their build, so browsers
/// keep them for a year (see `backend::platform::site_files`).
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let head = brand_head();
    #[cfg(feature = "ssr")]
    let root = backend::platform::site_files::site_files(&options).root().to_owned();
    #[cfg(not(feature = "ssr"))]
    let root = String::new();
    let stylesheet = format!("{root}/{}/{}.css", options.site_pkg_dir, options.output_name);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                {head}
                <AutoReload options=options.clone()/>
                <HydrationScripts options root/>
                <link rel="stylesheet" id="leptos" href=stylesheet/>
                <MetaTags/>
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900">
                <App/>
            </body>
        </html>
    }
}

/// The tenant's theme in the document head: inline variables (nonce-tagged, fixed format: only hex
/// colours and our own text) and a link to its versioned stylesheet and favicon.
fn brand_head() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        use backend::tenancy::registry::Site;
        let site = backend::request::site();
        let (Site::Tenant(t) | Site::Suspended(t)) = site else { return ().into_any() };
        let vars = t.brand.theme.css_variables();
        let nonce = leptos::nonce::use_nonce().map(|n| n.to_string()).unwrap_or_default();
        let sheet = format!("/brand/theme.css?v={}", t.brand.version);
        let favicon = t.brand.favicon_sha.as_ref().map(|s| format!("/brand/asset/{s}.png"));
        view! {
            <style id="brand-vars" nonce=nonce inner_html=vars></style>
            <link rel="stylesheet" href=sheet/>
            {favicon.map(|href| view! { <link rel="icon" type="image/png" href=href/> })}
        }
        .into_any()
    }
    #[cfg(not(feature = "ssr"))]
    ().into_any()
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="EZSCALE Workspaces"/>
        <Router>
            <pages::PrefetchLinks/>
            <layout::Frame>
                // The storefront's own pages are rendered whole once their data is in (a few milliseconds
                // of database reads): one response, no fallbacks streamed first and then replaced by
                // script. The other pages stream out of order, so a slow read does not hold back the rest
                // of the page.
                <Routes fallback=|| view! { <layout::NotFound/> }>
                    <Route path=path!("/") view=catalog::CatalogPage ssr=SsrMode::Async/>
                    <Route path=path!("/login") view=auth::LoginPage/>
                    <Route path=path!("/signup") view=pages::Signup::route()/>
                    <Route path=path!("/verify") view=pages::Verify::route()/>
                    <Route path=path!("/forgot") view=pages::Forgot::route()/>
                    <Route path=path!("/reset") view=pages::Reset::route()/>
                    <Route path=path!("/account") view=pages::Account::route()/>
                    <Route path=path!("/confirm-email") view=pages::ConfirmEmail::route()/>
                    <Route path=path!("/workspaces") view=workspaces::WorkspacesPage ssr=SsrMode::Async/>
                    <Route path=path!("/workspaces/:id") view=workspaces::WorkspacePage ssr=SsrMode::Async/>
                    <Route path=path!("/billing") view=pages::Billing::route()/>
                    <Route path=path!("/invoices/:id") view=pages::Invoice::route()/>
                    <Route path=path!("/admin") view=pages::AdminTenants::route()/>
                    <Route path=path!("/admin/login") view=pages::AdminLogin::route()/>
                    <Route path=path!("/admin/audit") view=pages::AdminAudit::route()/>
                    <Route path=path!("/admin/mail") view=pages::AdminMail::route()/>
                    <Route path=path!("/admin/provisioning") view=pages::AdminProvisioning::route()/>
                    <Route path=path!("/admin/kasm") view=pages::AdminKasm::route()/>
                    <Route path=path!("/admin/databases") view=pages::AdminDatabases::route()/>
                    <Route path=path!("/admin/billing") view=pages::AdminBilling::route()/>
                    <Route path=path!("/admin/prices") view=pages::AdminPrices::route()/>
                    <Route path=path!("/admin/tenants/new") view=pages::AdminNewTenant::route()/>
                    <Route path=path!("/admin/tenants/:slug") view=pages::AdminTenant::route()/>
                    <Route path=path!("/manage") view=pages::ManageHome::route()/>
                    <Route path=path!("/manage/login") view=pages::ManageLogin::route()/>
                    <Route path=path!("/manage/branding") view=pages::ManageBranding::route()/>
                    <Route path=path!("/manage/staff") view=pages::ManageStaff::route()/>
                    <Route path=path!("/manage/billing") view=pages::ManageBilling::route()/>
                    <Route path=path!("/manage/customers") view=pages::ManageCustomers::route()/>
                    <Route path=path!("/manage/customers/:id") view=pages::ManageCustomer::route()/>
                    <Route path=path!("/manage/accept") view=pages::ManageAccept::route()/>
                    <Route path=path!("/manage/forgot") view=pages::ManageForgot::route()/>
                    <Route path=path!("/manage/set-password") view=pages::ManageSetPassword::route()/>
                    <Route path=path!("/manage/guide") view=pages::ManageGuide::route()/>
                    <Route path=path!("/manage/domains") view=pages::ManageDomains::route()/>
                    <Route path=path!("/manage/catalog") view=pages::ManageCatalog::route()/>
                    <Route path=path!("/impersonate") view=pages::Impersonate::route()/>
                </Routes>
            </layout::Frame>
        </Router>
    }
}
