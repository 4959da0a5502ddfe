//! What a server function or a server-rendered page needs from the request it is serving: the shared
//! state, the tenant the Host belongs to, and the signed-in customer. Authorisation starts here.

use std::net::IpAddr;
use std::sync::Arc;

use http::header::{HeaderValue, COOKIE, SET_COOKIE};
use http::request::Parts;
use leptos::prelude::use_context;

use super::auth;
use super::customers::{self, Customer};
use super::state::{AppState, Tenant};
use super::tenants::{Site, TenantEntry};
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

/// The client's address as the edge middleware established it (a trusted proxy's forwarded address, or
/// the TCP peer).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// The site this request's Host resolved to (set by the server's edge middleware before any handler).
pub fn site() -> Site {
    parts().and_then(|p| p.extensions.get::<Site>().cloned()).unwrap_or(Site::Unknown)
}

/// The storefront serving this request: only an active tenant's own host gets one. On the admin host,
/// a suspended tenant's host or an unknown host, storefront functions answer "not found".
pub fn tenant_entry() -> Result<Arc<TenantEntry>, AppError> {
    match site() {
        Site::Tenant(t) => Ok(t),
        _ => Err(AppError::NotFound),
    }
}

/// The state and the tenant (with its database) serving this request's Host.
pub async fn tenant() -> Result<(AppState, Tenant), AppError> {
    let state = app_state()?;
    let entry = tenant_entry()?;
    let tenant = state.tenant_by_id(entry.id).await?.ok_or(AppError::NotFound)?;
    Ok((state, tenant))
}

/// Platform-admin functions run only on the admin host.
pub fn require_admin_site() -> Result<AppState, AppError> {
    match site() {
        Site::Admin => app_state(),
        _ => Err(AppError::NotFound),
    }
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
    let (state, tenant) = tenant().await?;
    let Some(token) = session_token() else { return Ok(None) };
    let Some(id) = auth::session_customer(&tenant.db, &token).await? else { return Ok(None) };
    let Some(customer) = customers::get(&tenant.db, id).await? else { return Ok(None) };
    Ok(Some((state, tenant, customer)))
}

/// The platform admin acting as the signed-in customer, if this session is an impersonation.
pub async fn customer_impersonator(tenant: &Tenant) -> Result<Option<String>, AppError> {
    let Some(token) = session_token() else { return Ok(None) };
    Ok(auth::session_impersonator(&tenant.db, &token).await?)
}

/// While an admin acts as this customer, records the action in the audit log (under the admin's name).
pub async fn audit_if_impersonating(
    state: &AppState,
    tenant: &Tenant,
    customer: &Customer,
    action: &str,
    detail: &str,
) -> Result<(), AppError> {
    if let Some(admin) = customer_impersonator(tenant).await? {
        let detail = format!("as {}: {detail}", customer.email);
        super::audit::record(state.central(), super::audit::ActorKind::Admin, &admin, Some(tenant.id), action, &detail)
            .await?;
    }
    Ok(())
}

/// Like [`current_customer`], but signing in is required.
pub async fn require_customer() -> Result<(AppState, Tenant, Customer), AppError> {
    current_customer().await?.ok_or(AppError::NotSignedIn)
}

/// The client's address: a trusted proxy's forwarded address, or the TCP peer.
pub fn client_ip() -> Option<IpAddr> {
    let p = parts()?;
    p.extensions
        .get::<ClientIp>()
        .map(|c| c.0)
        .or_else(|| p.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip()))
}

/// This storefront's origin as the browser sees it (`https://shop.example.com`, `http://acme.localhost:3000`),
/// for links in emails. Built from the resolved host (never a raw, unchecked header) and, in development,
/// the Host header's port.
pub fn origin() -> Option<String> {
    let p = parts()?;
    let host = p.extensions.get::<super::host::HostName>()?;
    let state = use_context::<AppState>()?;
    let scheme = if state.settings().secure_cookies { "https" } else { "http" };
    let port = p
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .map(|(_, port)| port)
        .filter(|port| !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()));
    Some(match port {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

/// A named cookie from this request.
pub fn cookie(name: &str) -> Option<String> {
    let p = parts()?;
    p.headers.get_all(COOKIE).iter().filter_map(|h| h.to_str().ok()).find_map(|h| {
        h.split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    })
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
