//! What a server function, a server-rendered page or a plain axum handler needs from the request it is
//! serving: the shared state, the tenant the Host belongs to, who is signed in, the client's address and
//! origin. Authorisation starts here, and this is the only module that reads the Leptos request context.
//!
//! Who is signed in comes from one set of axum extractors ([`SignedInCustomer`], [`SignedInStaff`],
//! [`SignedInAdmin`]): plain handlers take them as arguments, server functions get them through
//! [`customer`], [`staff`] and [`admin`], which run the same extractor on the request's parts.

use std::net::IpAddr;
use std::sync::Arc;

use http::header::{HeaderValue, COOKIE, SET_COOKIE};
use http::request::Parts;
use leptos::prelude::use_context;

use axum::extract::{FromRef, FromRequestParts};

use crate::backend::identity::accounts::{self, PlatformAdmin, StaffMember, ADMIN_COOKIE, STAFF_COOKIE};
use crate::backend::identity::auth;
use crate::backend::identity::customers::Customer;
use crate::backend::platform::limits::{Role, Verdict};
use crate::backend::state::{AppState, Tenant};
use crate::backend::tenancy::registry::{Site, TenantEntry};
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
    match customer().await {
        Ok((state, me)) => Ok(Some((state, me.tenant, me.customer))),
        Err(AppError::NotSignedIn) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The platform admin acting as the signed-in customer, if this session is an impersonation.
pub async fn customer_impersonator() -> Result<Option<String>, AppError> {
    match customer().await {
        Ok((_, me)) => Ok(me.impersonator),
        Err(AppError::NotSignedIn) => Ok(None),
        Err(e) => Err(e),
    }
}

/// While an admin acts as this customer, records the action in the audit log (under the admin's name).
/// (Every mutating call made under impersonation is also recorded by the request layer before it runs;
/// this adds what the call did, e.g. which workspace.)
pub async fn audit_if_impersonating(
    state: &AppState,
    tenant: &Tenant,
    customer: &Customer,
    action: &str,
    detail: &str,
) -> Result<(), AppError> {
    let admin = customer_impersonator().await?;
    let actor =
        crate::backend::platform::audit::Actor::Customer { email: &customer.email, impersonator: admin.as_deref() };
    Ok(crate::backend::platform::audit::record_by(
        state.central(),
        client_ip(),
        &actor,
        Some(tenant.id),
        action,
        detail,
    )
    .await?)
}

/// The platform admins acting through this request's sessions on storefront `entry`: its customer
/// session, its staff session, or both. Read from the cookies directly (this runs in the request layer,
/// before any server function): a session that is an impersonation is one whatever its state, so even a
/// call that will be refused is recorded.
pub async fn impersonations(
    state: &AppState,
    entry: &TenantEntry,
    headers: &http::HeaderMap,
) -> Result<Vec<crate::backend::platform::audit::Impersonation>, crate::backend::BackendError> {
    use crate::backend::platform::audit::{Impersonated, Impersonation};
    let cookies = || headers.get_all(COOKIE).iter().filter_map(|h| h.to_str().ok());
    let mut found = Vec::new();
    let customer_token = cookies().find_map(|h| auth::token_from_cookie_header(h).map(str::to_owned));
    if let Some(token) = customer_token.filter(|t| t.len() <= 128) {
        if let Some(tenant) = state.tenant_by_id(entry.id).await? {
            let row = sqlx::query_as::<_, ImpersonatedRow>(
                "SELECT s.impersonator, c.email FROM auth_sessions s JOIN customers c ON c.id = s.customer_id \
                 WHERE s.token_hash = $1 AND s.impersonator IS NOT NULL",
            )
            .bind(auth::token_hash(&token))
            .fetch_optional(tenant.db.pool())
            .await?;
            if let Some(r) = row {
                found.push(Impersonation { admin: r.impersonator, as_whom: Impersonated::Customer(r.email) });
            }
        }
    }
    let staff_token = cookies().find_map(|h| cookie_in(h, crate::backend::identity::accounts::STAFF_COOKIE));
    if let Some(token) = staff_token.filter(|t| t.len() <= 128) {
        let row = sqlx::query_as::<_, ImpersonatedRow>(
            "SELECT s.impersonator, m.email FROM central_sessions s JOIN staff m ON m.id = s.user_id \
             WHERE s.token_hash = $1 AND s.kind = 'staff' AND s.tenant_id = $2 AND s.impersonator IS NOT NULL",
        )
        .bind(auth::token_hash(&token))
        .bind(entry.id.to_string())
        .fetch_optional(state.central().pool())
        .await?;
        if let Some(r) = row {
            found.push(Impersonation { admin: r.impersonator, as_whom: Impersonated::Staff(r.email) });
        }
    }
    Ok(found)
}

/// A session that is an impersonation: the admin acting, and the email of the account they act as.
#[derive(sqlx::FromRow)]
struct ImpersonatedRow {
    impersonator: String,
    email: String,
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

/// The scheme browsers use to reach this site: `https` when we serve behind HTTPS (Secure cookies:
/// production, or `SECURE_COOKIES`) or when a trusted proxy says the client came over HTTPS; else `http`.
/// The same-origin check and links in emails both use it.
pub fn site_scheme(
    settings: &crate::backend::state::Settings,
    headers: &http::HeaderMap,
    peer: Option<IpAddr>,
) -> &'static str {
    let proxied_https = peer
        .is_some_and(|peer| crate::backend::platform::host::forwarded_https(headers, peer, &settings.trusted_proxies));
    if settings.secure_cookies || proxied_https {
        "https"
    } else {
        "http"
    }
}

/// The TCP peer of a request (before any proxy's forwarded address).
pub fn peer_of(extensions: &http::Extensions) -> Option<IpAddr> {
    extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())
}

/// This storefront's origin as the browser sees it (`https://shop.example.com`, `http://acme.localhost:3000`),
/// for links in emails. Built from the resolved host (never a raw, unchecked header) and, in development,
/// the Host header's port.
pub fn origin() -> Option<String> {
    let p = parts()?;
    let host = p.extensions.get::<crate::backend::platform::host::HostName>()?;
    let state = use_context::<AppState>()?;
    let scheme = site_scheme(state.settings(), &p.headers, peer_of(&p.extensions));
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
    p.headers.get_all(COOKIE).iter().filter_map(|h| h.to_str().ok()).find_map(|h| cookie_in(h, name))
}

/// A named cookie from one `Cookie` header line (`None` when absent or empty).
fn cookie_in(header: &str, name: &str) -> Option<String> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Adds a response header to the current server function's answer.
pub fn set_header(name: http::header::HeaderName, value: &str) {
    if let (Some(res), Ok(v)) = (use_context::<leptos_axum::ResponseOptions>(), HeaderValue::from_str(value)) {
        res.insert_header(name, v);
    }
}

/// Sets the status of the response being rendered (a page that is not found still renders, with 404).
pub fn set_status(status: http::StatusCode) {
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(status);
    }
}

pub fn set_cookie(value: &str) {
    if let (Some(res), Ok(v)) = (use_context::<leptos_axum::ResponseOptions>(), HeaderValue::from_str(value)) {
        res.append_header(SET_COOKIE, v);
    }
}

/// Applies the sign-in attempt limits to the current request (its client address, and `account`: a key
/// naming what is being tried, e.g. `login:<tenant>:<email>`) before any work. Counted cluster-wide in the
/// central database. Over the limit: `RateLimited` with a `Retry-After` header; the count not taken: an
/// internal error (never let through unlimited).
pub async fn limit_attempt(state: &AppState, role: Role, account: &str) -> Result<(), AppError> {
    let verdict =
        state.login_limits().attempt(role, client_ip(), account).await.map_err(crate::backend::BackendError::from)?;
    if let Verdict::Refused { retry_after } = verdict {
        let secs = retry_after.as_secs().max(1);
        set_header(http::header::RETRY_AFTER, &secs.to_string());
        return Err(AppError::RateLimited { retry_after_secs: secs });
    }
    Ok(())
}

/// Counts and logs a failed sign-in of the current request.
pub fn sign_in_failed(state: &AppState, role: Role) {
    state.login_limits().record_failed_sign_in(role, client_ip());
}

/// The signed-in customer of the storefront serving this request (an active one; otherwise `NotFound`).
#[derive(Clone)]
pub struct SignedInCustomer {
    pub tenant: Tenant,
    pub customer: Customer,
    /// The platform admin acting as the customer, when the session is an impersonation.
    pub impersonator: Option<String>,
}

/// What one request has found out about who is signed in, kept for the rest of that request. A page's
/// server-rendered parts each ask (the frame's brand and greeting, the page's own data), and the answer
/// cannot change within one request: without this, each asked the database again. The edge puts one in
/// every request's extensions; a clone of the request's parts (a server function's context) shares it.
#[derive(Clone, Default)]
pub struct RequestMemo {
    /// `None`: nobody (validly) signed in.
    customer: Arc<tokio::sync::OnceCell<Option<SignedInCustomer>>>,
}

async fn look_up_customer(app: &AppState, parts: &Parts) -> Result<Option<SignedInCustomer>, AppError> {
    let entry = storefront_of(parts)?;
    let tenant = app.tenant_by_id(entry.id).await?.ok_or(AppError::NotFound)?;
    let Some(token) = cookies_of(parts).find_map(|h| auth::token_from_cookie_header(h)) else { return Ok(None) };
    let Some(session) = auth::session_customer(&tenant.db, token).await? else { return Ok(None) };
    Ok(Some(SignedInCustomer { tenant, customer: session.customer, impersonator: session.impersonator }))
}

impl<S> FromRequestParts<S> for SignedInCustomer
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let app = AppState::from_ref(state);
        // Only an answer is kept: an error (a database that did not answer) is asked again next time.
        let found = match parts.extensions.get::<RequestMemo>().cloned() {
            Some(memo) => memo.customer.get_or_try_init(|| look_up_customer(&app, parts)).await?.clone(),
            None => look_up_customer(&app, parts).await?,
        };
        found.ok_or(AppError::NotSignedIn)
    }
}

/// A staff member of the storefront serving this request, signed in there: a staff session is bound to
/// its tenant, so another tenant's staff cookie finds nobody here.
pub struct SignedInStaff {
    pub tenant: Arc<TenantEntry>,
    pub member: StaffMember,
}

impl<S> FromRequestParts<S> for SignedInStaff
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let app = AppState::from_ref(state);
        let tenant = storefront_of(parts)?.clone();
        let token = cookies_of(parts).find_map(|h| cookie_in(h, STAFF_COOKIE)).ok_or(AppError::NotSignedIn)?;
        let member = accounts::session_staff(app.central(), &token, tenant.id).await?.ok_or(AppError::NotSignedIn)?;
        Ok(SignedInStaff { tenant, member })
    }
}

/// A platform admin, signed in, on the admin host (anywhere else the admin surface does not exist:
/// `NotFound`).
pub struct SignedInAdmin {
    pub admin: PlatformAdmin,
}

impl<S> FromRequestParts<S> for SignedInAdmin
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let app = AppState::from_ref(state);
        if !matches!(parts.extensions.get::<Site>(), Some(Site::Admin)) {
            return Err(AppError::NotFound);
        }
        let token = cookies_of(parts).find_map(|h| cookie_in(h, ADMIN_COOKIE)).ok_or(AppError::NotSignedIn)?;
        let admin = accounts::session_admin(app.central(), &token).await?.ok_or(AppError::NotSignedIn)?;
        Ok(SignedInAdmin { admin })
    }
}

fn storefront_of(parts: &Parts) -> Result<&Arc<TenantEntry>, AppError> {
    parts.extensions.get::<Site>().and_then(Site::tenant).ok_or(AppError::NotFound)
}

fn cookies_of(parts: &Parts) -> impl Iterator<Item = &str> {
    parts.headers.get_all(COOKIE).iter().filter_map(|h| h.to_str().ok())
}

/// Runs an extractor on the request a server function is serving, so server functions and handlers
/// decide who is signed in with the same code.
async fn extract<T: FromRequestParts<AppState, Rejection = AppError>>() -> Result<(AppState, T), AppError> {
    let state = app_state()?;
    let mut parts = parts().ok_or_else(|| {
        tracing::error!("request parts missing from the request context");
        AppError::Internal
    })?;
    let found = T::from_request_parts(&mut parts, &state).await?;
    Ok((state, found))
}

/// The signed-in customer (see [`SignedInCustomer`]).
pub async fn customer() -> Result<(AppState, SignedInCustomer), AppError> {
    extract().await
}

/// The signed-in staff member of this storefront (see [`SignedInStaff`]).
pub async fn staff() -> Result<(AppState, SignedInStaff), AppError> {
    extract().await
}

/// The signed-in platform admin, on the admin host (see [`SignedInAdmin`]).
pub async fn admin() -> Result<(AppState, SignedInAdmin), AppError> {
    extract().await
}
