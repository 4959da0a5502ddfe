//! "Open workspace": a link to the running desktop, asked of Kasm at click time. A link is never stored
//! (it carries a token).

use app::backend::request::SignedInCustomer;
use app::backend::state::AppState;
use app::backend::workspaces::{provisioning, store};
use app::domain::workspace::WorkspaceState;
use app::error::AppError;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::Routes;

pub(super) fn routes() -> Routes {
    Routes::new().get("/workspaces/{id}/launch", launch)
}

/// Sends the browser to a fresh Kasm login link; a workspace that is not running goes back to its page,
/// a visitor who is not signed in to the sign-in page.
async fn launch(
    State(app): State<AppState>,
    Path(id): Path<String>,
    me: Result<SignedInCustomer, AppError>,
) -> Result<Response, AppError> {
    let Ok(SignedInCustomer { tenant, customer, .. }) = me else { return Ok(Redirect::to("/login").into_response()) };
    let ws_id = id.parse().map_err(|_| AppError::NotFound)?;
    let ws = store::get_owned(&tenant.db, ws_id, customer.id).await?.ok_or(AppError::NotFound)?;
    if ws.state != WorkspaceState::Running {
        return Ok(Redirect::to(&format!("/workspaces/{ws_id}")).into_response());
    }
    match provisioning::login_link(&app, &tenant, &ws).await {
        Ok(Some(url)) => Ok(Redirect::to(&url).into_response()),
        Ok(None) => Ok(Redirect::to(&format!("/workspaces/{ws_id}")).into_response()),
        Err(e) => {
            tracing::warn!(error = %e, workspace = %ws_id, "no login link from Kasm");
            Err(AppError::Unavailable(
                "The workspace service is not answering right now. Please try again in a moment.".into(),
            ))
        }
    }
}
