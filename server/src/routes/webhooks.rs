//! Stripe's webhooks, one URL per storefront (its slug in the path: each storefront has its own Stripe
//! account and signing secret), and one for the platform's own account (wholesale collection). Stripe reads only the status: 2xx is done, 4xx will never work, 5xx is
//! retried later.

use app::backend::billing::collection;
use app::backend::billing::payments::{self, WebhookOutcome};
use app::backend::state::AppState;
use app::error::AppError;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;

use super::Routes;

pub(super) fn routes() -> Routes {
    Routes::new()
        .post("/stripe/webhook/{slug}", post(stripe_webhook).layer(DefaultBodyLimit::max(256 * 1024)))
        .post(collection::PLATFORM_WEBHOOK_PATH, post(platform_webhook).layer(DefaultBodyLimit::max(256 * 1024)))
}

/// The platform account's webhook: verified with `PLATFORM_STRIPE_WEBHOOK_SECRET`, handled idempotently.
async fn platform_webhook(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    Ok(answer(collection::handle_webhook(&app, &body, signature).await?))
}

/// Verified before anything is read; handled idempotently, so a retried event is harmless.
async fn stripe_webhook(
    State(app): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let Some(entry) = app.registry().entry_by_slug(slug.trim()).await? else { return Ok(StatusCode::NOT_FOUND) };
    let Ok(Some(tenant)) = app.tenant_by_id(entry.id).await else { return Ok(StatusCode::NOT_FOUND) };
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    // An error is a 5xx, which Stripe retries: the handling is idempotent.
    Ok(answer(payments::handle_webhook(&app, &tenant, &body, signature).await?))
}

fn answer(outcome: WebhookOutcome) -> StatusCode {
    StatusCode::from_u16(outcome.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
