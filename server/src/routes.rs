//! The HTTP surface: Leptos pages and server functions, health probes, static files, and the
//! middleware around them (request ids and tracing, same-origin check, error statuses).

use std::time::Duration;

use app::backend::state::AppState;
use app::error::AppError;
use app::{shell, App};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, handle_server_fns_with_context, LeptosRoutes};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

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

pub fn router(app: AppState, leptos: LeptosOptions) -> Router {
    let routes = generate_route_list(App);
    let state = RouterState { app: app.clone(), leptos: leptos.clone() };
    let ctx_app = app.clone();
    let fn_app = app.clone();
    let https = app.settings().secure_cookies;
    let site_app = app.clone();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/events/workspaces", get(workspace_events))
        .route("/workspaces/{id}/launch", get(launch))
        .route("/invoices/{id}/csv", get(invoice_csv))
        .route("/invoices/{id}/pdf", get(invoice_pdf))
        .route("/manage/billing/wholesale/{id}/pdf", get(wholesale_pdf))
        .route("/__test/clock/advance", axum::routing::post(advance_test_clock))
        .route(
            "/stripe/webhook/{slug}",
            axum::routing::post(stripe_webhook).layer(axum::extract::DefaultBodyLimit::max(256 * 1024)),
        )
        .route("/brand/theme.css", get(crate::tenancy::theme_css))
        .route("/brand/asset/{file}", get(crate::tenancy::brand_asset))
        .route("/.well-known/ezscale-verify/{id}", get(crate::tenancy::verification_token))
        .route(
            "/manage/branding/{kind}",
            axum::routing::post(crate::tenancy::upload_asset)
                .layer(axum::extract::DefaultBodyLimit::max(crate::tenancy::UPLOAD_LIMIT)),
        )
        .route(
            "/api/{*fn_name}",
            axum::routing::post(move |req: Request| {
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
        .layer(middleware::from_fn(same_origin))
        .layer(middleware::from_fn_with_state(site_app, crate::tenancy::resolve_site))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
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
    site: &app::backend::tenants::Site,
    headers: &axum::http::HeaderMap,
) -> Result<(app::backend::state::Tenant, app::domain::ids::CustomerId), AppError> {
    use app::backend::auth;
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
    axum::Extension(site): axum::Extension<app::backend::tenants::Site>,
    headers: axum::http::HeaderMap,
) -> Response {
    use app::backend::{provisioning, workspaces};
    use app::domain::workspace::WorkspaceState;
    use axum::response::Redirect;
    let (tenant, customer) = match cookie_customer(&s, &site, &headers).await {
        Ok(c) => c,
        Err(_) => return Redirect::to("/login").into_response(),
    };
    let Ok(ws_id) = id.parse() else { return error_response(&AppError::NotFound) };
    let ws = match workspaces::get_owned(&tenant.db, ws_id, customer).await {
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
            app::backend::db::advance_clock(ms);
            tracing::warn!(ms, "test clock moved forward");
            (StatusCode::OK, app::backend::db::now().as_millis().to_string()).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "ms=<milliseconds, 0 to 400 days>").into_response(),
    }
}

/// An invoice as CSV, for its own customer only.
async fn invoice_csv(
    State(s): State<RouterState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Extension(site): axum::Extension<app::backend::tenants::Site>,
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
    axum::Extension(site): axum::Extension<app::backend::tenants::Site>,
    headers: axum::http::HeaderMap,
) -> Response {
    let view = async {
        let (tenant, customer) = cookie_customer(&s, &site, &headers).await?;
        let customer = app::backend::customers::get(&tenant.db, customer).await?.ok_or(AppError::NotSignedIn)?;
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
    axum::Extension(site): axum::Extension<app::backend::tenants::Site>,
    headers: axum::http::HeaderMap,
) -> Response {
    use app::backend::billing::wholesale;
    use app::backend::{accounts, tenants};
    let pdf = async {
        let entry = site.tenant().ok_or(AppError::NotFound)?;
        let token = crate::tenancy::cookie_value(&headers, accounts::STAFF_COOKIE).ok_or(AppError::NotSignedIn)?;
        // The staff session is bound to this tenant: another tenant's staff cookie finds nobody here.
        accounts::session_staff(s.app.central(), &token, entry.id).await?.ok_or(AppError::NotSignedIn)?;
        let inv = wholesale::get_for(&s.app, entry.id, id.trim()).await?.ok_or(AppError::NotFound)?;
        let record = tenants::record_by_slug(s.app.central(), &entry.slug).await?.ok_or(AppError::NotFound)?;
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
    use app::backend::payments::{self, WebhookOutcome};
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
    axum::Extension(site): axum::Extension<app::backend::tenants::Site>,
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
async fn same_origin(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let h = req.headers();
    let allowed = match h.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => site == "same-origin" || site == "none",
        None => match h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            Some(origin) => {
                let host = h.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
                origin_host(origin).is_some_and(|o| o.eq_ignore_ascii_case(host))
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

/// `https://a.example:3000` -> `a.example:3000`.
fn origin_host(origin: &str) -> Option<&str> {
    let rest = origin.split_once("://")?.1;
    Some(rest.split('/').next().unwrap_or(rest))
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
    fn origin_hosts_are_extracted() {
        assert_eq!(origin_host("http://localhost:3000"), Some("localhost:3000"));
        assert_eq!(origin_host("https://shop.example/path"), Some("shop.example"));
        assert_eq!(origin_host("null"), None);
    }
}
