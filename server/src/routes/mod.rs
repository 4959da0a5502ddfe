//! The HTTP surface. Each area contributes its own routes; [`router`] merges them with the Leptos pages
//! and server functions in one place and wraps the whole in one middleware stack (request ids and
//! logging, site resolution, same-origin check, impersonation audit, error statuses, security headers,
//! compression).
//! The operations listener has a router of its own ([`ops_router`]).
//!
//! | module         | owns |
//! |----------------|------|
//! | `middleware`   | the layers every public request goes through, and the request log |
//! | `session`      | extractors for the signed-in customer and the storefront's staff member |
//! | `health`       | `/healthz` and `/readyz` |
//! | `pages`        | the Leptos pages, the server functions under `/api/`, the built site (`/pkg/`), the fallback |
//! | `brand`        | a storefront's theme stylesheet and logos, and the domain verification token |
//! | `uploads`      | logo and favicon uploads from the branding page |
//! | `documents`    | invoice CSV and PDF, wholesale bill PDF |
//! | `workspaces`   | "open workspace": a fresh Kasm login link at click time |
//! | `live`         | server-sent events when a customer's workspaces change |
//! | `webhooks`     | Stripe's webhooks, one per storefront |
//! | `test_support` | the end-to-end tests' clock |
//! | `ops`          | the operations listener: metrics, the TLS ask, a liveness probe |

mod brand;
mod documents;
mod health;
mod live;
mod middleware;
mod ops;
mod pages;
mod test_support;
mod uploads;
mod webhooks;
mod workspaces;

use app::backend::state::AppState;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::handler::Handler;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::MethodRouter;
use axum::Router;
use leptos::prelude::LeptosOptions;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::CompressionLevel;

pub use middleware::REQUEST_LOG_TARGET;
pub use ops::ops_router;

/// What every public handler can extract: the application and the Leptos options.
#[derive(Clone)]
struct RouterState {
    app: AppState,
    leptos: LeptosOptions,
}

impl FromRef<RouterState> for LeptosOptions {
    fn from_ref(s: &RouterState) -> LeptosOptions {
        s.leptos.clone()
    }
}

impl FromRef<RouterState> for AppState {
    fn from_ref(s: &RouterState) -> AppState {
        s.app.clone()
    }
}

/// One area's routes. A POST route can only be added through [`Routes::post`], which records its path:
/// the cross-origin and impersonation tests walk [`post_route_paths`], so a new POST route is covered
/// by them by itself.
struct Routes {
    router: Router<RouterState>,
    posts: Vec<&'static str>,
}

impl Routes {
    fn new() -> Routes {
        Routes { router: Router::new(), posts: Vec::new() }
    }

    /// A route answering GET (and HEAD).
    fn get<H, T>(mut self, path: &'static str, handler: H) -> Routes
    where
        H: Handler<T, RouterState>,
        T: 'static,
    {
        self.router = self.router.route(path, axum::routing::get(handler));
        self
    }

    /// A state-changing route: `route` is a `post(…)` method router, with whatever layers it needs (a body
    /// limit, say).
    fn post(mut self, path: &'static str, route: MethodRouter<RouterState>) -> Routes {
        self.router = self.router.route(path, route);
        self.posts.push(path);
        self
    }
}

/// Every area with plain axum handlers. (Pages and server functions are added by [`router`]: they need
/// the application to build.)
fn areas() -> [Routes; 8] {
    [
        test_support::routes(),
        webhooks::routes(),
        uploads::routes(),
        health::routes(),
        brand::routes(),
        documents::routes(),
        workspaces::routes(),
        live::routes(),
    ]
}

/// Every POST route besides the server functions (which are all under `/api/`), as the router matches
/// them (`{name}` is a path parameter).
pub fn post_route_paths() -> Vec<&'static str> {
    areas().into_iter().flat_map(|area| area.posts).collect()
}

/// The public router: every area, then the pages (whose fallback answers whatever no route claims), all
/// inside one middleware stack. The last layer written is the outermost: a request gets its id, is
/// logged, resolved to a site, labelled, checked for its origin, audited when impersonated and, for a
/// server function, has its body read up to the limit before it reaches a handler; its answer gets its
/// caching, the security headers and its error status, then is compressed when the client accepts it.
pub fn router(app: AppState, leptos: LeptosOptions) -> Router {
    let state = RouterState { app: app.clone(), leptos };
    let https = app.settings().secure_cookies;
    let areas = areas().into_iter().fold(Router::new(), |router, area| router.merge(area.router));
    pages::add(areas, &state)
        // Server functions read their body through axum's limit (2 MB unless raised): raised to ours, which
        // `limit_server_fn_body` enforces first with a clear 413. Routes with their own limit keep it.
        .layer(DefaultBodyLimit::max(middleware::SERVER_FN_BODY_LIMIT))
        .layer(from_fn(middleware::limit_server_fn_body))
        .layer(from_fn(middleware::site_file_caching))
        .layer(from_fn_with_state(https, middleware::security_headers))
        .layer(from_fn(middleware::server_fn_status))
        // Pages and server functions compressed as they are sent, at a level cheap enough per request
        // (outside the error status, which reads the body); the built site's files are compressed once at
        // build time (brotli 11 and gzip, `cargo leptos --precompress`) and served as they are. Event streams
        // are never compressed (they would be held back).
        .layer(CompressionLayer::new().br(true).gzip(true).quality(CompressionLevel::Precise(4)))
        .layer(from_fn_with_state(app.clone(), middleware::audit_impersonation))
        .layer(from_fn_with_state(app.clone(), middleware::same_origin))
        .layer(from_fn(middleware::label_site))
        .layer(from_fn_with_state(app, crate::tenancy::resolve_site))
        .layer(from_fn_with_state(middleware::RequestLog { production: https }, middleware::log_request))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}
