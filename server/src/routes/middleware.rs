//! The layers every public request goes through (see [`super::router`] for their order): the
//! security headers, the same-origin check, the impersonation audit, server-function error statuses and
//! body limit, the site label and the request log.

use std::time::Instant;

use app::backend::state::AppState;
use app::backend::tenancy::registry::Site;
use app::error::AppError;
use axum::body::{to_bytes, Body};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

const REQUEST_ID: &str = "x-request-id";

/// Where requests are logged, and at which level: INFO when serving behind HTTPS (production), DEBUG
/// otherwise (development: `RUST_LOG=ezscale::request=debug` shows them).
pub const REQUEST_LOG_TARGET: &str = "ezscale::request";

/// Headers on every response. Pages set their own CSP (with a nonce); everything else gets a policy
/// that allows nothing. HSTS only when serving behind HTTPS (the same switch as Secure cookies).
pub(super) async fn security_headers(State(https): State<bool>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    if https {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    res
}

/// How long browsers may keep the built site's files under their plain names (`/pkg/`: the WebAssembly,
/// its JavaScript and the stylesheet). Those names do not change between releases, so a browser must ask
/// again each time (a 304 from `Last-Modified` costs no body); left to its own heuristics, it would keep an
/// old WebAssembly for a while after a deploy and fail to hydrate the new pages. (Pages link the same files
/// under their build's id, `/assets/<id>/pkg/`, which are cached for a year.) Other answers set their own
/// caching.
pub(super) async fn site_file_caching(req: Request, next: Next) -> Response {
    let site_file = req.uri().path().starts_with("/pkg/");
    let mut res = next.run(req).await;
    if site_file && (res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED) {
        let h = res.headers_mut();
        h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-cache"));
        // The body depends on Accept-Encoding (the build's brotli or gzip copy): a shared cache must keep
        // the copies apart.
        h.entry(header::VARY).or_insert(HeaderValue::from_static("accept-encoding"));
    }
    res
}

/// Refuses state-changing requests that a browser marks as coming from another site or origin. Tenant
/// subdomains share a "site", so SameSite cookies alone do not stop them; this explicit check does.
/// Requests without either header (curl, server-to-server) are not browser-driven CSRF and pass.
/// An `Origin` must match this site's scheme as well as its host: `http://x` is not the origin of
/// `https://x` (a page served over plain HTTP, e.g. injected on the way, is another origin).
pub(super) async fn same_origin(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let h = req.headers();
    let allowed = match h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin" || site == "none",
        None => match h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            Some(origin) => {
                let host = h.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
                let peer = app::backend::request::peer_of(req.extensions());
                let scheme = app::backend::request::site_scheme(app.settings(), h, peer);
                origin_parts(origin)
                    .is_some_and(|(s, o)| s.eq_ignore_ascii_case(scheme) && o.eq_ignore_ascii_case(host))
            }
            None => true,
        },
    };
    if allowed {
        next.run(req).await
    } else {
        AppError::CrossSite.into_response()
    }
}

/// `https://a.example:3000` -> (`https`, `a.example:3000`).
fn origin_parts(origin: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = origin.split_once("://")?;
    Some((scheme, rest.split('/').next().unwrap_or(rest)))
}

/// Impersonation is audited here, for every call at once: a mutating request (any POST but the read-only
/// server functions) made on a storefront through a session that a platform admin opened "as" a
/// customer or staff member is recorded under the admin's name and the impersonated user's, *before* it
/// runs. No server function or route has to remember it; one that cannot be recorded does not run.
pub(super) async fn audit_impersonation(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let Some(route) = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()) else {
        return next.run(req).await;
    };
    // The catch-all matches only names that are not registered server functions: nothing runs there.
    let registered = route != super::pages::SERVER_FNS;
    let Some(Site::Tenant(entry)) = req.extensions().get::<Site>().cloned() else { return next.run(req).await };
    if !registered || !app::backend::platform::audit::is_mutating(req.method(), &route) {
        return next.run(req).await;
    }
    let call = route.strip_prefix(app::backend::platform::audit::SERVER_FN_PREFIX).unwrap_or(&route);
    let ip = req.extensions().get::<app::backend::request::ClientIp>().map(|c| c.0);
    // (The headers, not the request, go into the future: a request body is not `Sync`.)
    let headers = req.headers();
    let recorded = async {
        for imp in app::backend::request::impersonations(&app, &entry, headers).await? {
            app::backend::platform::audit::record_impersonated_call(app.central(), entry.id, &imp, call, ip).await?;
        }
        Ok::<_, app::backend::BackendError>(())
    };
    match recorded.await {
        Ok(()) => next.run(req).await,
        Err(e) => AppError::from(e).into_response(),
    }
}

/// The site a request was served for, as the request log names it.
#[derive(Clone, Debug)]
struct SiteLabel(String);

/// Copies the resolved site onto the response, where the request log (outside site resolution) reads it.
pub(super) async fn label_site(req: Request, next: Next) -> Response {
    let label = match req.extensions().get::<Site>() {
        Some(Site::Tenant(t) | Site::Suspended(t)) => t.slug.clone(),
        Some(Site::Admin) => "admin".to_owned(),
        Some(Site::Unknown) | None => "-".to_owned(),
    };
    let mut res = next.run(req).await;
    res.extensions_mut().insert(SiteLabel(label));
    res
}

#[derive(Clone, Copy)]
pub(super) struct RequestLog {
    pub(super) production: bool,
}

/// One span and one log line per request: method, matched route (the route's pattern, never the raw
/// path, which can carry anything), status, latency, tenant and request id. Never bodies, cookies,
/// query strings or other headers.
pub(super) async fn log_request(State(log): State<RequestLog>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().map_or("-", |p| p.as_str()).to_owned();
    let id = request_id(req.headers());
    let span = tracing::info_span!("http", method = %method, route = %route, request_id = %id);
    let res = next.run(req).instrument(span.clone()).await;
    let line = RequestLine {
        method: method.as_str(),
        route: &route,
        status: res.status().as_u16(),
        latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        tenant: res.extensions().get::<SiteLabel>().map_or("-", |l| l.0.as_str()),
        request_id: &id,
    };
    let _entered = span.enter();
    if log.production {
        line.emit_info();
    } else {
        line.emit_debug();
    }
    res
}

/// The fields of a request's log line.
struct RequestLine<'a> {
    method: &'a str,
    route: &'a str,
    status: u16,
    latency_us: u64,
    tenant: &'a str,
    request_id: &'a str,
}

impl RequestLine<'_> {
    fn latency_ms(&self) -> String {
        format!("{}.{:03}", self.latency_us / 1000, self.latency_us % 1000)
    }

    fn emit_info(&self) {
        tracing::info!(
            target: REQUEST_LOG_TARGET,
            method = self.method,
            route = self.route,
            status = self.status,
            latency_ms = %self.latency_ms(),
            tenant = self.tenant,
            request_id = self.request_id,
            "request"
        );
    }

    fn emit_debug(&self) {
        tracing::debug!(
            target: REQUEST_LOG_TARGET,
            method = self.method,
            route = self.route,
            status = self.status,
            latency_ms = %self.latency_ms(),
            tenant = self.tenant,
            request_id = self.request_id,
            "request"
        );
    }
}

/// The request id (ours, or a caller's when it looks like one: at most 64 characters of letters, digits,
/// `-` and `_`, so a client cannot write into our logs through it).
fn request_id(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or("-")
        .to_owned()
}

/// Server functions answer every error with 500; this gives each `AppError` its own status (400, 401,
/// 404, 409, 503 ...), chosen in one place: `AppError::status`.
pub(super) async fn server_fn_status(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    if !res.headers().contains_key("serverfnerror") {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let status = serde_json::from_slice::<AppError>(&bytes)
        .ok()
        .and_then(|e| StatusCode::from_u16(e.status()).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    parts.status = status;
    Response::from_parts(parts, Body::from(bytes))
}

/// The largest request body a server function accepts: 4 MB. Above every form we have (custom CSS is at
/// most 128 KB, and even 1 MB of it, percent-encoded, stays under this, so its save answers with the CSS
/// limit); an upload has its own route and limit.
pub const SERVER_FN_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Beyond this, an oversized body is not even read to its end before the 413 (the connection closes).
const DRAIN_LIMIT: usize = 8 * SERVER_FN_BODY_LIMIT;

/// Reads a server function's body, up to [`SERVER_FN_BODY_LIMIT`], before the function does: a larger
/// one is answered 413 with the limit in the message, as JSON the pages can show, instead of failing
/// inside the function. The rest of a moderately oversized body is read and dropped first, so that the
/// client, still sending, gets the answer rather than a reset connection.
pub(super) async fn limit_server_fn_body(req: Request, next: Next) -> Response {
    use futures::StreamExt;
    if req.method() != Method::POST || !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let too_large = || {
        let error = AppError::Invalid(format!(
            "This request is too large: at most {} MB ({SERVER_FN_BODY_LIMIT} bytes).",
            SERVER_FN_BODY_LIMIT / (1024 * 1024)
        ));
        let body = serde_json::to_string(&error).unwrap_or_default();
        (StatusCode::PAYLOAD_TOO_LARGE, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    let announced =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > DRAIN_LIMIT) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let mut chunks = body.into_data_stream();
    let mut kept = Vec::with_capacity(announced.unwrap_or(0).min(SERVER_FN_BODY_LIMIT));
    let mut total = 0usize;
    while let Some(chunk) = chunks.next().await {
        let Ok(chunk) = chunk else {
            return AppError::Invalid("The request body could not be read.".into()).into_response();
        };
        total = total.saturating_add(chunk.len());
        if total <= SERVER_FN_BODY_LIMIT {
            kept.extend_from_slice(&chunk);
        } else if total > DRAIN_LIMIT {
            break;
        }
    }
    if total > SERVER_FN_BODY_LIMIT {
        return too_large();
    }
    next.run(Request::from_parts(parts, Body::from(kept))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A router with one server-function-like route behind the body limit, answering the length it read.
    fn limited() -> axum::Router {
        axum::Router::new()
            .route("/api/echo", axum::routing::post(|body: axum::body::Bytes| async move { body.len().to_string() }))
            .layer(axum::extract::DefaultBodyLimit::max(SERVER_FN_BODY_LIMIT))
            .layer(axum::middleware::from_fn(limit_server_fn_body))
    }

    async fn post_streamed(chunks: usize, chunk: usize) -> (u16, String) {
        use tower::ServiceExt;
        let stream = futures::stream::iter(
            (0..chunks).map(move |_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'x'; chunk]))),
        );
        // No Content-Length: the limit is found while reading.
        let req = Request::post("/api/echo").body(Body::from_stream(stream)).unwrap_or_default();
        let res = limited().oneshot(req).await.unwrap_or_else(|e| match e {});
        let status = res.status().as_u16();
        let body = to_bytes(res.into_body(), 1024 * 1024).await.unwrap_or_default();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_server_function_body_over_the_limit_is_refused_with_the_limit_even_unannounced() {
        let (status, body) = post_streamed(4, 1024 * 1024).await;
        assert_eq!((status, body.as_str()), (200, "4194304"), "exactly the limit passes, whole");
        let (status, body) = post_streamed(5, 1024 * 1024).await;
        assert_eq!(status, 413);
        assert!(body.contains("at most 4 MB (4194304 bytes)"), "{body}");
        // Far beyond: not read to the end, still a 413.
        let (status, _) = post_streamed(40, 1024 * 1024).await;
        assert_eq!(status, 413);
    }

    #[test]
    fn origins_are_split_into_scheme_and_host() {
        assert_eq!(origin_parts("http://localhost:3000"), Some(("http", "localhost:3000")));
        assert_eq!(origin_parts("https://shop.example/path"), Some(("https", "shop.example")));
        assert_eq!(origin_parts("null"), None);
    }

    #[test]
    fn request_ids_from_callers_are_kept_only_when_harmless() {
        let id = |v: &'static str| {
            let mut h = axum::http::HeaderMap::new();
            h.insert(REQUEST_ID, HeaderValue::from_static(v));
            request_id(&h)
        };
        assert_eq!(id("3f2c9a40-1b7e-4d0e-9a55-0c1d2e3f4a5b"), "3f2c9a40-1b7e-4d0e-9a55-0c1d2e3f4a5b");
        assert_eq!(id("a b"), "-");
        assert_eq!(id("x\"}{\"status\":200"), "-");
        assert_eq!(request_id(&axum::http::HeaderMap::new()), "-");
    }

    #[test]
    fn latency_is_written_in_milliseconds_with_microseconds() {
        let line =
            |us| RequestLine { method: "GET", route: "/", status: 200, latency_us: us, tenant: "-", request_id: "-" };
        assert_eq!(line(1_234_567).latency_ms(), "1234.567");
        assert_eq!(line(42).latency_ms(), "0.042");
    }
}
