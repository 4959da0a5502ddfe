//! Who is asking, for plain handlers: the signed-in customer of this storefront, or one of its staff.
//! Both are axum extractors rejecting with the same [`AppError`] a server function would return; a
//! handler that answers differently (a redirect to the sign-in page) takes `Result<_, AppError>`.

use std::sync::Arc;

use app::backend::identity::accounts::{self, StaffMember, STAFF_COOKIE};
use app::backend::identity::auth;
use app::backend::state::{AppState, Tenant};
use app::backend::tenancy::registry::{Site, TenantEntry};
use app::domain::ids::CustomerId;
use app::error::AppError;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

/// The storefront this request was resolved to (an active one), or `NotFound`.
fn storefront(site: Option<&Site>) -> Result<&Arc<TenantEntry>, AppError> {
    site.and_then(Site::tenant).ok_or(AppError::NotFound)
}

/// The signed-in customer of this request's storefront, from the session cookie.
pub(super) struct SignedIn {
    pub tenant: Tenant,
    pub customer: CustomerId,
}

impl<S> FromRequestParts<S> for SignedIn
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        let app = AppState::from_ref(state);
        let entry = storefront(parts.extensions.get::<Site>())?;
        let tenant = app.tenant_by_id(entry.id).await?.ok_or(AppError::NotFound)?;
        let token = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|h| h.to_str().ok())
            .find_map(auth::token_from_cookie_header)
            .ok_or(AppError::NotSignedIn)?;
        let customer = auth::session_customer(&tenant.db, token).await?.ok_or(AppError::NotSignedIn)?;
        Ok(SignedIn { tenant, customer })
    }
}

/// A staff member of this request's storefront, signed in there: a staff session is bound to its
/// tenant, so another tenant's staff cookie finds nobody here.
pub(super) struct Staff {
    pub entry: Arc<TenantEntry>,
    pub member: StaffMember,
}

impl Staff {
    /// What the extractor does, for a handler that first checks what costs nothing.
    pub(super) async fn of(app: &AppState, site: Option<&Site>, headers: &HeaderMap) -> Result<Staff, AppError> {
        let entry = storefront(site)?;
        let token = cookie_value(headers, STAFF_COOKIE).ok_or(AppError::NotSignedIn)?;
        let member = accounts::session_staff(app.central(), &token, entry.id).await?.ok_or(AppError::NotSignedIn)?;
        Ok(Staff { entry: entry.clone(), member })
    }
}

impl<S> FromRequestParts<S> for Staff
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        Staff::of(&AppState::from_ref(state), parts.extensions.get::<Site>(), &parts.headers).await
    }
}

/// A cookie's value from the request's `Cookie` headers (`None` when absent or empty).
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
}
