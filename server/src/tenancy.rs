//! The tenancy edge: every request is resolved to one site by its Host before anything else runs. (The
//! routes that belong to tenancy itself live with the other routes: `routes::brand`, `routes::uploads`,
//! the TLS ask in `routes::ops`.)

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use app::backend::platform::host;
use app::backend::request::{ClientIp, RequestMemo};
use app::backend::state::AppState;
use app::backend::tenancy::registry::Site;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

/// Paths served on every host: probes are for machines on our side, and the domain verification token
/// must be served before the domain is verified (that is how it gets verified). (Metrics and the TLS ask
/// are not public at all: they live on the operations listener.)
fn host_independent(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz") || path.starts_with("/.well-known/ezscale-verify/")
}

/// Paths of the built site (WASM, CSS) and public files, served on any routed site.
fn is_asset(path: &str) -> bool {
    path.starts_with("/pkg/")
        || path.strip_prefix(app::backend::platform::site_files::PREFIX).is_some_and(|p| p.starts_with('/'))
        || matches!(path, "/favicon.ico" | "/robots.txt")
}

/// Resolves the request's Host (and, from trusted proxies only, its forwarded host and client address)
/// to a [`Site`] and puts both in the request's extensions. Unknown hosts get a 404 here; suspended
/// storefronts get their notice; the admin app and storefronts keep to their own paths.
pub async fn resolve_site(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let peer =
        req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let trusted = &app.settings().trusted_proxies;
    let client = host::client_ip(req.headers(), peer, trusted);
    req.extensions_mut().insert(ClientIp(client));
    // Who is signed in is looked up once per request, however many parts of a page ask.
    req.extensions_mut().insert(RequestMemo::default());
    let host = match host::request_host(req.headers(), req.uri(), peer, trusted) {
        Ok(h) => h,
        Err(e) if !host_independent(&path) => {
            tracing::debug!(error = %e, "unusable Host");
            return page(StatusCode::BAD_REQUEST, "Bad request", "This request did not name a valid host.");
        }
        Err(_) => return next.run(req).await,
    };
    req.extensions_mut().insert(host.clone());
    if host_independent(&path) {
        return next.run(req).await;
    }
    let site = match app.registry().resolve(&host).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "tenant registry unavailable");
            return page(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "Please try again in a moment.");
        }
    };
    match &site {
        Site::Unknown => return page(StatusCode::NOT_FOUND, "Not found", "There is no storefront at this address."),
        Site::Suspended(t) if !is_asset(&path) && !path.starts_with("/brand/") => {
            return page(
                StatusCode::FORBIDDEN,
                &t.brand.theme.company_name,
                "This storefront is currently unavailable. Please contact its operator.",
            );
        }
        Site::Admin if path == "/" => return Redirect::to("/admin").into_response(),
        Site::Admin
            if !(path == "/admin" || path.starts_with("/admin/") || path.starts_with("/api/") || is_asset(&path)) =>
        {
            return page(StatusCode::NOT_FOUND, "Not found", "The admin app lives under /admin.");
        }
        Site::Tenant(_) if path == "/admin" || path.starts_with("/admin/") => {
            return page(StatusCode::NOT_FOUND, "Not found", "There is no such page.");
        }
        _ => {}
    }
    req.extensions_mut().insert(site);
    next.run(req).await
}

/// A minimal self-contained HTML page (no scripts, no user markup: the text is escaped).
pub(crate) fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem\">\
         <h1>{t}</h1><p>{m}</p></body></html>",
        t = escape(title),
        m = escape(message)
    );
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // The inline style above is the only style; no script may run.
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    res
}

/// `s` as HTML text.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}
