//! Probes for whatever runs us: liveness and readiness.

use std::time::Duration;

use app::backend::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;

use super::Routes;

pub(super) fn routes() -> Routes {
    Routes::new().get("/healthz", healthz).get("/readyz", readyz)
}

/// Liveness: the process is up and serving.
pub(super) async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the databases answer. (Kasm being down does not make us unready: pages still work and
/// workspace jobs retry.)
async fn readyz(State(app): State<AppState>) -> (StatusCode, &'static str) {
    let check = async {
        sqlx::query("SELECT 1").execute(app.central().pool()).await?;
        let house = app.house().await.map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        sqlx::query("SELECT 1").execute(house.db.pool()).await?;
        Ok::<_, sqlx::Error>(())
    };
    match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database timeout"),
    }
}
