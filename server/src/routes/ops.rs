//! The operations listener (`OPS_ADDR`): Prometheus metrics and the proxy's TLS ask. It is a router of
//! its own on its own socket, so no public request can reach these, whatever a proxy in front forwards
//! (behind a local proxy every visitor's TCP peer is loopback, so a peer check could not tell them apart).

use app::backend::state::AppState;
use app::backend::tenancy::domains;
use app::error::AppError;
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tower_http::trace::TraceLayer;

use super::health::healthz;

pub fn ops_router(app: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/tls/ask", get(tls_ask))
        .route("/healthz", get(healthz))
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &Request| tracing::debug_span!("ops", method = %req.method(), path = %req.uri().path()),
        ))
        .with_state(app)
}

/// Prometheus metrics.
async fn metrics(State(app): State<AppState>) -> Result<impl IntoResponse, AppError> {
    let text = app::backend::metrics::render(&app).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}

#[derive(serde::Deserialize)]
struct AskQuery {
    domain: Option<String>,
}

/// On-demand TLS ask (Caddy's `on_demand_tls { ask … }`): 200 only for names we serve — verified
/// domains of active tenants, tenant subdomains, the admin host. (The proxy reads the status only.)
async fn tls_ask(State(app): State<AppState>, Query(q): Query<AskQuery>) -> impl IntoResponse {
    let Some(domain) = q.domain else { return StatusCode::BAD_REQUEST.into_response() };
    match domains::tls_allowed(&app, &domain).await {
        Ok(true) => (StatusCode::OK, "ok").into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "tls ask failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
