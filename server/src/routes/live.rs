//! Live updates for open pages: server-sent events when one of the signed-in customer's workspaces
//! changes.

use std::convert::Infallible;
use std::time::Duration;

use app::backend::platform::events::LiveEvent;
use app::backend::request::SignedInCustomer;
use app::backend::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures::StreamExt;
use tokio::sync::broadcast::error::RecvError;

use super::Routes;

pub(super) fn routes() -> Routes {
    Routes::new().get("/events/workspaces", workspace_events)
}

/// `workspace` (data: the workspace id) whenever one of their workspaces changes, `resync` when this
/// stream may have missed events (it fell behind, or this server's live-event listener was reconnecting).
/// Pages refetch on either. Events come from every app server (`platform::events`); this stream keeps
/// only those of its own tenant and customer.
async fn workspace_events(State(app): State<AppState>, me: SignedInCustomer) -> impl IntoResponse {
    let (tenant, customer) = (me.tenant, me.customer.id);
    let rx = app.events().subscribe();
    let resync = || Event::default().event("resync").data("");
    let stream = futures::stream::unfold(rx, move |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(LiveEvent::Workspace(ev)) if ev.tenant == tenant.id && ev.customer == customer => {
                    let event = Event::default().event("workspace").data(ev.workspace.to_string());
                    return Some((Ok::<_, Infallible>(event), rx));
                }
                Ok(LiveEvent::Workspace(_)) => continue,
                Ok(LiveEvent::Resync) | Err(RecvError::Lagged(_)) => return Some((Ok(resync()), rx)),
                Err(RecvError::Closed) => return None,
            }
        }
    })
    // End with the server: a graceful shutdown waits for open connections.
    .take_until(Box::pin(app.shutting_down()));
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
