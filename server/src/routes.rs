//! The HTTP surface: Leptos pages and server functions, health probes, static files, and the
//! middleware around them (request ids and tracing, same-origin check, error statuses).

use std::time::{Duration, Instant};

use app::backend::state::AppState;
use app::backend::tenancy::registry::Site;
use app::error::AppError;
use app::{shell, App};
use axum::body::{to_bytes, Body};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Instrument;

const REQUEST_ID: &str = "x-request-id";

#[derive(Clone)]
struct RouterState {
    app: AppState,
    leptos: LeptosOptions,
}

impl axum::extract::FromRef<RouterState> for LeptosOptions {
    fn from_ref(s: &RouterState) -> LeptosOptions {
        s.leptos.clone()
    }
}

impl axum::extract::FromRef<RouterState> for AppState {
    fn from_ref(s: &RouterState) -> AppState {
        s.app.clone()
    }
}

/// Every POST route besides the server functions (which are all under `/api/`). The router adds them
/// from this table, and the cross-origin test walks [`post_route_paths`], so a new POST route added here
/// is covered by that test by itself.
fn post_routes() -> Vec<(&'static str, MethodRouter<RouterState>)> {
    vec![
        ("/__test/clock/advance", post(advance_test_clock)),
        ("/stripe/webhook/{slug}", post(stripe_webhook).layer(DefaultBodyLimit::max(256 * 1024))),
        (
            "/manage/branding/{kind}",
            post(crate::tenancy::upload_asset).layer(DefaultBodyLimit::max(crate::tenancy::UPLOAD_LIMIT)),
        ),
    ]
}

/// The paths of [`post_routes`], as the router matches them (`{name}` is a path parameter).
pub fn post_route_paths() -> Vec<&'static str> {
    post_routes().into_iter().map(|(path, _)| path).collect()
}

/// Where requests are logged, and at which level: INFO when serving behind HTTPS (production), DEBUG
/// otherwise (development: `RUST_LOG=ezscale::request=debug` shows them).
pub const REQUEST_LOG_TARGET: &str = "ezscale::request";

pub fn router(app: AppState, leptos: LeptosOptions) -> Router {
    let routes = generate_route_list(App);
    let state = RouterState { app: app.clone(), leptos: leptos.clone() };
    let ctx_app = app.clone();
    let fn_app = app.clone();
    let https = app.settings().secure_cookies;
    let site_app = app.clone();
    let mut router = Router::new();
    for (path, route) in post_routes() {
        router = router.route(path, route);
    }
    router
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/events/workspaces", get(workspace_events))
        .route("/workspaces/{id}/launch", get(launch))
        .route("/invoices/{id}/csv", get(invoice_csv))
        .route("/invoices/{id}/pdf", get(invoice_pdf))
        .route("/manage/billing/wholesale/{id}/pdf", get(wholesale_pdf))
        .route("/brand/theme.css", get(crate::tenancy::theme_css))
        .route("/brand/asset/{file}", get(crate::tenancy::brand_asset))
        .route("/.well-known/ezscale-verify/{id}", get(crate::tenancy::verification_token))
        .route(
            "/api/{*fn_name}",
            post(move |req: Request| {
                let app = fn_app.clone();
                async move { handle_server_fns_with_context(move || provide_context(app.clone()), req).await }
            }),
        )
        .leptos_routes_with_context(
            &state,
            routes,
            move || {
                provide_context(ctx_app.clone());
                page_csp();
            },
            {
                let leptos = leptos.clone();
                move || shell(leptos.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler_with_context::<RouterState, _>(
            move || provide_context(app.clone()),
            shell,
        ))
        .layer(middleware::from_fn_with_state(https, security_headers))
        .layer(middleware::from_fn(server_fn_status))
        .layer(middleware::from_fn_with_state(site_app.clone(), audit_impersonation))
        .layer(middleware::from_fn_with_state(site_app.clone(), same_origin))
        .layer(middleware::from_fn(label_site))
        .layer(middleware::from_fn_with_state(site_app, crate::tenancy::resolve_site))
        .layer(middleware::from_fn_with_state(RequestLog { production: https }, log_request))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
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

/// Headers on every response. Pages set their own CSP (with a nonce); everything else gets a policy
/// that allows nothing. HSTS only when serving behind HTTPS (the same switch as Secure cookies).
async fn security_headers(State(https): State<bool>, req: Request, next: Next) -> Response {
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

/// Liveness: the process is up and serving.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the databases answer. (Kasm being down does not make us unready: pages still work and
/// workspace jobs retry.)
async fn readyz(State(s): State<RouterState>) -> Response {
    let check = async {
        sqlx::query("SELECT 1").execute(s.app.central().pool()).await?;
        let house = s.app.house().await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        sqlx::query("SELECT 1").execute(house.db.pool()).await?;
        Ok::<_, sqlx::Error>(())
    };
    match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database timeout").into_response(),
    }
}

/// The operations listener (`OPS_ADDR`): Prometheus metrics and the proxy's TLS ask. It is a router of
/// its own on its own socket, so no public request can reach these, whatever a proxy in front forwards
/// (behind a local proxy every visitor's TCP peer is loopback, so a peer check could not tell them apart).
pub fn ops_router(app: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/tls/ask", get(crate::tenancy::tls_ask))
        .route("/healthz", get(healthz))
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &Request| tracing::debug_span!("ops", method = %req.method(), path = %req.uri().path()),
        ))
        .with_state(app)
}

/// Prometheus metrics (operations listener only).
async fn metrics(State(app): State<AppState>) -> Response {
    match app::backend::metrics::render(&app).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => error_response(&AppError::from(e)),
    }
}

/// The signed-in customer of this request's tenant, from the session cookie.
async fn cookie_customer(
    s: &RouterState,
    site: &app::backend::tenancy::registry::Site,
    headers: &axum::http::HeaderMap,
) -> Result<(app::backend::state::Tenant, app::domain::ids::CustomerId), AppError> {
    use app::backend::identity::auth;
    let entry = site.tenant().ok_or(AppError::NotFound)?;
    let tenant = s.app.tenant_by_id(entry.id).await?.ok_or(AppError::NotFound)?;
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(|h| auth::token_from_cookie_header(h).map(str::to_owned))
        .ok_or(AppError::NotSignedIn)?;
    let customer = auth::session_customer(&tenant.db, &token).await?.ok_or(AppError::NotSignedIn)?;
    Ok((tenant, customer))
}

/// "Open workspace": asks Kasm for a fresh login link at click time and sends the browser there. A
/// link is never stored (it carries a token); a workspace that is not running goes back to its page.
async fn launch(
    State(s): State<RouterState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Extension(site): axum::Extension<app::backend::tenancy::registry::Site>,
    headers: axum::http::HeaderMap,
) -> Response {
    use app::backend::{workspaces::provisioning, workspaces::store};
    use app::domain::workspace::WorkspaceState;
    use axum::response::Redirect;
    let (tenant, customer) = match cookie_customer(&s, &site, &headers).await {
        Ok(c) => c,
        Err(_) => return Redirect::to("/login").into_response(),
    };
    let Ok(ws_id) = id.parse() else { return error_response(&AppError::NotFound) };
    let ws = match store::get_owned(&tenant.db, ws_id, customer).await {
        Ok(Some(ws)) => ws,
        Ok(None) => return error_response(&AppError::NotFound),
        Err(e) => return error_response(&AppError::from(e)),
    };
    if ws.state != WorkspaceState::Running {
        return Redirect::to(&format!("/workspaces/{ws_id}")).into_response();
    }
    match provisioning::login_link(&s.app, &tenant, &ws).await {
        Ok(Some(url)) => Redirect::to(&url).into_response(),
        Ok(None) => Redirect::to(&format!("/workspaces/{ws_id}")).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, workspace = %ws_id, "no login link from Kasm");
            error_response(&AppError::Unavailable(
                "The workspace service is not answering right now. Please try again in a moment.".into(),
            ))
        }
    }
}

/// End-to-end tests only (`TEST_CLOCK=true`, refused in production) and only from this machine: moves
/// the clock forward by `ms` milliseconds, so a billing period can end during a test.
async fn advance_test_clock(
    State(s): State<RouterState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    body: String,
) -> Response {
    if !s.app.settings().test_clock || !peer.ip().is_loopback() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let ms = body.trim().strip_prefix("ms=").unwrap_or(body.trim()).parse::<i64>();
    match ms {
        Ok(ms) if (0..=400 * 86_400_000).contains(&ms) => {
            app::backend::platform::db::advance_clock(ms);
            tracing::warn!(ms, "test clock moved forward");
            (StatusCode::OK, app::backend::platform::db::now().as_millis().to_string()).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "ms=<milliseconds, 0 to 400 days>").into_response(),
    }
}

/// An invoice as CSV, for its own customer only.
async fn invoice_csv(
    State(s): State<RouterState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Extension(site): axum::Extension<app::backend::tenancy::registry::Site>,
    headers: axum::http::HeaderMap,
) -> Response {
    use app::backend::billing::invoices;
    let (tenant, customer) = match cookie_customer(&s, &site, &headers).await {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let inv = match invoices::get_owned(&tenant.db, &id, customer).await {
        Ok(Some(i)) if i.status != invoices::Status::Draft => i,
        Ok(_) => return error_response(&AppError::NotFound),
        Err(e) => return error_response(&AppError::from(e)),
    };
    let lines = match invoices::lines(&tenant.db, &inv.id, inv.total.currency()).await {
        Ok(l) => l,
        Err(e) => return error_response(&AppError::from(e)),
    };
    let name = format!("attachment; filename=\"{}.csv\"", inv.display_number());
    (
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, name)],
        invoices::csv(&inv, &lines),
    )
        .into_response()
}

/// An invoice as PDF (built from the same view as the invoice page), for its own customer only.
async fn invoice_pdf(
    State(s): State<RouterState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Extension(site): axum::Extension<app::backend::tenancy::registry::Site>,
    headers: axum::http::HeaderMap,
) -> Response {
    let view = async {
        let (tenant, customer) = cookie_customer(&s, &site, &headers).await?;
        let customer =
            app::backend::identity::customers::get(&tenant.db, customer).await?.ok_or(AppError::NotSignedIn)?;
        app::billing::invoice_view(&s.app, &tenant, &customer, id.trim()).await?.ok_or(AppError::NotFound)
    };
    match view.await {
        Ok(v) => {
            let name = format!("inline; filename=\"{}.pdf\"", v.number);
            (
                [(header::CONTENT_TYPE, "application/pdf".to_owned()), (header::CONTENT_DISPOSITION, name)],
                app::billing::pdf::invoice(&v),
            )
                .into_response()
        }
        Err(e) => error_response(&e),
    }
}

/// A wholesale bill as PDF, for the reseller's own staff on its own host only.
async fn wholesale_pdf(
    State(s): State<RouterState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Extension(site): axum::Extension<app::backend::tenancy::registry::Site>,
    headers: axum::http::HeaderMap,
) -> Response {
    use app::backend::billing::wholesale;
    use app::backend::{identity::accounts, tenancy::registry};
    let pdf = async {
        let entry = site.tenant().ok_or(AppError::NotFound)?;
        let token = crate::tenancy::cookie_value(&headers, accounts::STAFF_COOKIE).ok_or(AppError::NotSignedIn)?;
        // The staff session is bound to this tenant: another tenant's staff cookie finds nobody here.
        accounts::session_staff(s.app.central(), &token, entry.id).await?.ok_or(AppError::NotSignedIn)?;
        let inv = wholesale::get_for(&s.app, entry.id, id.trim()).await?.ok_or(AppError::NotFound)?;
        let record = registry::record_by_slug(s.app.central(), &entry.slug).await?.ok_or(AppError::NotFound)?;
        Ok::<_, AppError>((inv.display_number(), wholesale::pdf(&s.app, &record, &inv).await?))
    };
    match pdf.await {
        Ok((number, body)) => (
            [
                (header::CONTENT_TYPE, "application/pdf".to_owned()),
                (header::CONTENT_DISPOSITION, format!("inline; filename=\"{number}.pdf\"")),
            ],
            body,
        )
            .into_response(),
        Err(e) => error_response(&e),
    }
}

/// Stripe's webhooks for one storefront (its slug in the path: each storefront has its own Stripe account
/// and signing secret). Verified before anything is read; handled idempotently.
async fn stripe_webhook(
    State(s): State<RouterState>,
    axum::extract::Path(slug): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    use app::backend::billing::payments::{self, WebhookOutcome};
    let tenant = match s.app.registry().entry_by_slug(slug.trim()).await {
        Ok(Some(entry)) => match s.app.tenant_by_id(entry.id).await {
            Ok(Some(t)) => t,
            _ => return StatusCode::NOT_FOUND.into_response(),
        },
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => return error_response(&AppError::from(e)),
    };
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    match payments::handle_webhook(&s.app, &tenant, &body, signature).await {
        Ok(WebhookOutcome::Handled | WebhookOutcome::Ignored) => StatusCode::OK.into_response(),
        Ok(WebhookOutcome::Rejected) => StatusCode::BAD_REQUEST.into_response(),
        Ok(WebhookOutcome::Unknown) => StatusCode::NOT_FOUND.into_response(),
        // Stripe retries on 5xx: the handling is idempotent.
        Err(e) => error_response(&AppError::from(e)),
    }
}

/// Server-sent events for the signed-in customer: `workspace` (data: the workspace id) whenever one of
/// their workspaces changes, `resync` when this stream fell behind. Pages refetch on either.
async fn workspace_events(
    State(s): State<RouterState>,
    axum::Extension(site): axum::Extension<app::backend::tenancy::registry::Site>,
    headers: axum::http::HeaderMap,
) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures::StreamExt;
    use tokio::sync::broadcast::error::RecvError;

    let (tenant, customer) = match cookie_customer(&s, &site, &headers).await {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    let rx = s.app.events().subscribe();
    let stream = futures::stream::unfold(rx, move |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(ev) if ev.tenant == tenant.id && ev.customer == customer => {
                    let event = Event::default().event("workspace").data(ev.workspace.to_string());
                    return Some((Ok::<_, std::convert::Infallible>(event), rx));
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => return Some((Ok(Event::default().event("resync").data("")), rx)),
                Err(RecvError::Closed) => return None,
            }
        }
    })
    // End with the server: a graceful shutdown waits for open connections.
    .take_until(Box::pin(s.app.shutting_down()));
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

/// Refuses state-changing requests that a browser marks as coming from another site or origin. Tenant
/// subdomains share a "site", so SameSite cookies alone do not stop them; this explicit check does.
/// Requests without either header (curl, server-to-server) are not browser-driven CSRF and pass.
/// An `Origin` must match this site's scheme as well as its host: `http://x` is not the origin of
/// `https://x` (a page served over plain HTTP, e.g. injected on the way, is another origin).
async fn same_origin(State(app): State<AppState>, req: Request, next: Next) -> Response {
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
        error_response(&AppError::CrossSite)
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
async fn audit_impersonation(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let Some(route) = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()) else {
        return next.run(req).await;
    };
    // The catch-all matches only names that are not registered server functions: nothing runs there.
    let registered = route != "/api/{*fn_name}";
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
        Err(e) => error_response(&AppError::from(e)),
    }
}

/// The site a request was served for, as the request log names it.
#[derive(Clone, Debug)]
struct SiteLabel(String);

/// Copies the resolved site onto the response, where the request log (outside site resolution) reads it.
async fn label_site(req: Request, next: Next) -> Response {
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
struct RequestLog {
    production: bool,
}

/// One span and one log line per request: method, matched route (the route's pattern, never the raw
/// path, which can carry anything), status, latency, tenant and request id. Never bodies, cookies,
/// query strings or other headers.
async fn log_request(State(log): State<RequestLog>, req: Request, next: Next) -> Response {
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
async fn server_fn_status(req: Request, next: Next) -> Response {
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

pub(crate) fn error_response(e: &AppError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_string(e).unwrap_or_default();
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

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
