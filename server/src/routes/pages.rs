//! The Leptos side: every page of the app, the server functions under `/api/`, the built site's files
//! (under `/pkg/` and under their build's id), and the fallback that renders the not-found page.

use app::backend::platform::site_files;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::*;
use std::sync::OnceLock;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use leptos_axum::{generate_route_list, handle_server_fns_with_context, AxumRouteListing, LeptosRoutes};

use super::RouterState;
use app::{shell, App};

/// Where every server function is served. (The impersonation audit recognises this catch-all: a name
/// that matches it and nothing else is not a registered function.)
pub(super) const SERVER_FNS: &str = "/api/{*fn_name}";

/// Adds the server functions, the pages and the fallback to `router`. Added last, so the fallback only
/// answers paths that no area claims.
pub(super) fn add(router: Router<RouterState>, state: &RouterState) -> Router<RouterState> {
    let fn_app = state.app.clone();
    let page_app = state.app.clone();
    let fallback_app = state.app.clone();
    let leptos = state.leptos.clone();
    router
        // The built site's files, served from the whole request (the fallback below would pass on only
        // its Accept-Encoding): a browser revalidating one with If-Modified-Since gets a 304 without a body.
        .route_service(
            &leptos_axum::site_pkg_dir_service_route_path(&state.leptos),
            leptos_axum::site_pkg_dir_service(&state.leptos),
        )
        // The same files under their build's id, as pages link them: kept by browsers for a year.
        .route(&format!("{}/{{id}}/{{*file}}", site_files::PREFIX), get(build_file))
        .route(
            SERVER_FNS,
            post(move |req: Request| {
                let app = fn_app.clone();
                async move { handle_server_fns_with_context(move || provide_context(app.clone()), req).await }
            }),
        )
        .leptos_routes_with_context(
            state,
            page_routes(),
            move || {
                provide_context(page_app.clone());
                page_csp();
            },
            move || shell(leptos.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<RouterState, _>(
            // The not-found page is rendered here: it gets a page's policy, or it could not hydrate.
            move || {
                provide_context(fallback_app.clone());
                page_csp();
            },
            shell,
        ))
}

/// A file of the built site under its build's id (`/assets/<id>/pkg/<file>`), served as `/pkg/<file>` is
/// (the build's brotli or gzip copy, validators) but cacheable for a year. Another build's id, or a file
/// that was not part of this build when the server started, is a 404 that no cache keeps.
async fn build_file(
    State(leptos): State<LeptosOptions>,
    Path((id, file)): Path<(String, String)>,
    mut req: Request,
) -> Response {
    let files = site_files::site_files(&leptos);
    let pkg = format!("{}/", leptos.site_pkg_dir);
    let uri = file.strip_prefix(&pkg).filter(|f| files.serves(&id, f)).and_then(|f| format!("/{f}").parse().ok());
    let Some(uri) = uri else {
        return (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-store")]).into_response();
    };
    *req.uri_mut() = uri;
    let dir = std::path::Path::new(&*leptos.site_root).join(&*leptos.site_pkg_dir);
    let res = ServeDir::new(dir).precompressed_br().precompressed_gzip().oneshot(req).await;
    let mut res = res.unwrap_or_else(|never| match never {}).map(Body::new);
    if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(site_files::IMMUTABLE));
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    res
}

/// The app's pages as routes, listed once per process. Listing them renders the app with resource loading
/// switched off for the whole process (leptos_router's `generate_route_list` holds a global flag while it
/// runs), so a page that a server of this process renders meanwhile gets data that never arrives and never
/// answers. Every router built after the first (another server in the same process, as the tests and the
/// benches start them) reuses the first list instead.
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

/// The Content-Security-Policy of a rendered page: scripts only from us or carrying this response's nonce
/// (Leptos puts it on its hydration scripts), WebAssembly allowed, nothing framed, no plugins.
fn page_csp() {
    let (Some(nonce), Some(res)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>()) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{n}' 'wasm-unsafe-eval'; style-src 'self' 'nonce-{n}'; \
         img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'",
        n = &*nonce
    );
    if let Ok(v) = HeaderValue::from_str(&policy) {
        res.insert_header(header::CONTENT_SECURITY_POLICY, v);
    }
}

#[cfg(test)]
mod tests {
    /// The prefetch table (`app::pages::LAZY_PAGES`) names real routes only, and every page outside what a
    /// storefront visitor needs first is in it (so is loaded on first use, not with the first page).
    #[tokio::test]
    async fn lazy_pages_are_the_apps_routes_except_the_first_load() {
        let _ = any_spawner::Executor::init_tokio();
        let routes: Vec<String> = super::page_routes().iter().map(|r| r.path().to_string()).collect();
        // The route list writes `:id` as axum does, `{id}`.
        let axum_form = |pattern: &str| {
            let segments: Vec<String> =
                pattern.split('/').map(|s| s.strip_prefix(':').map_or(s.to_string(), |n| format!("{{{n}}}"))).collect();
            segments.join("/")
        };
        let lazy: Vec<String> = app::pages::LAZY_PAGES.iter().map(|(p, _)| axum_form(p)).collect();
        for pattern in &lazy {
            assert!(routes.contains(pattern), "{pattern} is not a route of the app: {routes:?}");
        }
        let mut eager: Vec<&str> = routes.iter().filter(|r| !lazy.contains(r)).map(String::as_str).collect();
        eager.sort_unstable();
        eager.dedup();
        assert_eq!(eager, ["/", "/login", "/workspaces", "/workspaces/{id}"]);
    }
}
