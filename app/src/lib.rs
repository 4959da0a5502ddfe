//! EZSCALE Workspaces: the Leptos app, rendered on the server (feature `ssr`) and hydrated in the browser
//! (feature `hydrate`).
//!
//! | module       | holds |
//! |--------------|-------|
//! | `domain`     | pure types and rules (money, rates, billing increments, plans, workspace states) |
//! | `error`      | `AppError`, the one error type of the server-function boundary |
//! | `layout`     | the page frame: header, navigation, footer |
//! | `auth`       | sign in / sign out pages and server functions |
//! | `catalog`    | the plan catalog and ordering |
//! | `workspaces` | the customer's workspaces: list, detail, start/stop, the live meter |
//! | `backend`    | server-only: databases, Kasm client, provisioning, jobs (the one `ssr` gate) |

pub mod auth;
pub mod catalog;
pub mod domain;
pub mod error;
pub mod layout;
pub mod workspaces;

#[cfg(feature = "ssr")]
pub mod backend;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
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
                    <Route path=path!("/workspaces") view=workspaces::WorkspacesPage/>
                    <Route path=path!("/workspaces/:id") view=workspaces::WorkspacePage/>
                </Routes>
            </layout::Frame>
        </Router>
    }
}
