//! What a server function or a server-rendered page needs from the request it is serving: the shared
//! state, the tenant the Host belongs to, and the signed-in customer. Authorisation starts here.

use http::header::{HeaderValue, COOKIE, HOST, SET_COOKIE};
use http::request::Parts;
use leptos::prelude::use_context;

use super::auth;
use super::customers::{self, Customer};
use super::state::{AppState, Tenant};
use crate::error::AppError;

pub fn app_state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the request context");
        AppError::Internal
    })
}

fn parts() -> Option<Parts> {
    use_context::<Parts>()
}

/// The state and the tenant serving this request's Host.
pub fn tenant() -> Result<(AppState, Tenant), AppError> {
    let state = app_state()?;
    let p = parts();
    let host = p.as_ref().and_then(|p| p.headers.get(HOST)).and_then(|h| h.to_str().ok());
    let tenant = state.tenant_for_host(host).clone();
    Ok((state, tenant))
}

/// The session token from this request's cookies.
pub fn session_token() -> Option<String> {
    let p = parts()?;
    p.headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .find_map(|h| auth::token_from_cookie_header(h).map(str::to_owned))
}

/// The signed-in customer of this tenant, if any.
pub async fn current_customer() -> Result<Option<(AppState, Tenant, Customer)>, AppError> {
    let (state, tenant) = tenant()?;
    let Some(token) = session_token() else { return Ok(None) };
    let Some(id) = auth::session_customer(&tenant.db, &token).await? else { return Ok(None) };
    let Some(customer) = customers::get(&tenant.db, id).await? else { return Ok(None) };
    Ok(Some((state, tenant, customer)))
}

/// Like [`current_customer`], but signing in is required.
pub async fn require_customer() -> Result<(AppState, Tenant, Customer), AppError> {
    current_customer().await?.ok_or(AppError::NotSignedIn)
}

/// The client's address (the TCP peer; a trusted proxy's forwarded address comes with proxy support).
pub fn client_ip() -> Option<std::net::IpAddr> {
    parts()?.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())
}

/// Adds a response header to the current server function's answer.
pub fn set_header(name: http::header::HeaderName, value: &str) {
    if let (Some(res), Ok(v)) = (use_context::<leptos_axum::ResponseOptions>(), HeaderValue::from_str(value)) {
        res.insert_header(name, v);
    }
}

pub fn set_cookie(value: &str) {
    if let (Some(res), Ok(v)) = (use_context::<leptos_axum::ResponseOptions>(), HeaderValue::from_str(value)) {
        res.append_header(SET_COOKIE, v);
    }
}
