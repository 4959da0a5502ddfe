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
pub mod workspaces;

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The HTML document around the app, rendered on the server. The storefront's theme is inlined as CSS
/// variables (first paint is already in its colours) and its stylesheet linked by version.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let head = brand_head();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                {head}
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
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
        <Stylesheet id="leptos" href="/pkg/ezscale.css"/>
        <Title text="EZSCALE Workspaces"/>
        <Router>
            <layout::Frame>
                <Routes fallback=|| view! { <layout::NotFound/> }>
                    <Route path=path!("/") view=catalog::CatalogPage/>
                    <Route path=path!("/login") view=auth::LoginPage/>
                    <Route path=path!("/signup") view=auth::SignupPage/>
                    <Route path=path!("/verify") view=auth::VerifyPage/>
                    <Route path=path!("/forgot") view=auth::ForgotPage/>
                    <Route path=path!("/reset") view=auth::ResetPage/>
                    <Route path=path!("/account") view=auth::AccountPage/>
                    <Route path=path!("/confirm-email") view=auth::ConfirmEmailChangePage/>
                    <Route path=path!("/workspaces") view=workspaces::WorkspacesPage/>
                    <Route path=path!("/workspaces/:id") view=workspaces::WorkspacePage/>
                    <Route path=path!("/billing") view=billing::BillingPage/>
                    <Route path=path!("/invoices/:id") view=billing::InvoicePage/>
                    <Route path=path!("/admin") view=admin::AdminTenantsPage/>
                    <Route path=path!("/admin/login") view=admin::AdminLoginPage/>
                    <Route path=path!("/admin/audit") view=admin::audit::AdminAuditPage/>
                    <Route path=path!("/admin/mail") view=admin::mail::AdminMailPage/>
                    <Route path=path!("/admin/provisioning") view=admin::provisioning::AdminProvisioningPage/>
                    <Route path=path!("/admin/kasm") view=admin::kasm::AdminKasmPage/>
                    <Route path=path!("/admin/databases") view=admin::databases::AdminDatabasesPage/>
                    <Route path=path!("/admin/billing") view=admin::billing::AdminBillingPage/>
                    <Route path=path!("/admin/prices") view=admin::prices::AdminPricesPage/>
                    <Route path=path!("/admin/tenants/new") view=admin::AdminNewTenantPage/>
                    <Route path=path!("/admin/tenants/:slug") view=admin::AdminTenantPage/>
                    <Route path=path!("/manage") view=manage::ManageHomePage/>
                    <Route path=path!("/manage/login") view=manage::ManageLoginPage/>
                    <Route path=path!("/manage/branding") view=manage::BrandingPage/>
                    <Route path=path!("/manage/staff") view=manage::StaffPage/>
                    <Route path=path!("/manage/billing") view=manage::billing::ManageBillingPage/>
                    <Route path=path!("/manage/customers") view=manage::customers::CustomersPage/>
                    <Route path=path!("/manage/customers/:id") view=manage::customers::CustomerPage/>
                    <Route path=path!("/manage/accept") view=manage::AcceptInvitePage/>
                    <Route path=path!("/manage/forgot") view=manage::StaffForgotPage/>
                    <Route path=path!("/manage/set-password") view=manage::SetPasswordPage/>
                    <Route path=path!("/manage/guide") view=manage::onboarding::GuidePage/>
                    <Route path=path!("/manage/domains") view=manage::domains::DomainsPage/>
                    <Route path=path!("/manage/catalog") view=manage::catalog::CatalogPage/>
                    <Route path=path!("/impersonate") view=admin::impersonate::ImpersonatePage/>
                </Routes>
            </layout::Frame>
        </Router>
    }
}
