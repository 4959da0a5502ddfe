//! What only end-to-end tests may use: `TEST_CLOCK=true` (refused in production), and only from this
//! machine. Anyone else finds nothing here (404).

use std::net::SocketAddr;

use app::backend::platform::db;
use app::backend::state::AppState;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::Routes;

pub(super) fn routes() -> Routes {
    Routes::new().post("/__test/clock/advance", post(advance_test_clock))
}

/// Moves the clock forward by `ms` milliseconds, so a billing period can end during a test.
async fn advance_test_clock(
    State(app): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: String,
) -> Response {
    if !app.settings().test_clock || !peer.ip().is_loopback() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let ms = body.trim().strip_prefix("ms=").unwrap_or(body.trim()).parse::<i64>();
    match ms {
        Ok(ms) if (0..=400 * 86_400_000).contains(&ms) => {
            db::advance_clock(ms);
            tracing::warn!(ms, "test clock moved forward");
            (StatusCode::OK, db::now().as_millis().to_string()).into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "ms=<milliseconds, 0 to 400 days>").into_response(),
    }
}
