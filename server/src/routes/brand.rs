//! A storefront's public face, served on its own hosts: the theme stylesheet, logos and favicons, and
//! the token that proves a custom domain is the reseller's (served before the domain is verified: that
//! is how it gets verified). Failures answer a bare status: these are fetched by browsers and checkers,
//! not read by our pages.

use std::sync::Arc;

use app::backend::platform::host::HostName;
use app::backend::state::AppState;
use app::backend::tenancy::registry::{Site, TenantEntry};
use app::backend::tenancy::{branding, domains};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::Routes;

pub(super) fn routes() -> Routes {
    Routes::new()
        .get("/brand/theme.css", theme_css)
        .get("/brand/asset/{file}", brand_asset)
        .get("/.well-known/ezscale-verify/{id}", verification_token)
}

/// The storefront of this host, active or suspended (a suspended one keeps its look on its notice).
fn tenant_of(site: Option<&Site>) -> Option<&Arc<TenantEntry>> {
    match site? {
        Site::Tenant(t) | Site::Suspended(t) => Some(t),
        _ => None,
    }
}

/// The storefront's theme: its colours as CSS variables plus its sanitised custom CSS. Versioned URL and
/// ETag; pages also inline the variables, so first paint never waits for it.
async fn theme_css(State(app): State<AppState>, site: Option<Extension<Site>>, headers: HeaderMap) -> Response {
    let Some(t) = tenant_of(site.as_ref().map(|s| &s.0)) else { return StatusCode::NOT_FOUND.into_response() };
    let etag = format!("\"{}-{}\"", t.id.as_uuid().simple(), t.brand.version);
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    let custom = if t.brand.has_custom_css {
        match branding::get(app.central(), t.id).await {
            Ok(Some(b)) => b.custom_css,
            Ok(None) => String::new(),
            Err(e) => {
                tracing::error!(error = %e, "theme unavailable");
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
        }
    } else {
        String::new()
    };
    let body = format!("{}\n{custom}", t.brand.theme.css_variables());
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, "public, max-age=60".to_owned()),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// A tenant's logo or favicon, looked up by this host's tenant and the content hash.
async fn brand_asset(State(app): State<AppState>, site: Option<Extension<Site>>, Path(file): Path<String>) -> Response {
    let Some(t) = tenant_of(site.as_ref().map(|s| &s.0)) else { return StatusCode::NOT_FOUND.into_response() };
    let Some(sha) = file.strip_suffix(".png") else { return StatusCode::NOT_FOUND.into_response() };
    match branding::asset(app.central(), t.id, sha).await {
        Ok(Some(png)) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                // Content-addressed: a new logo has a new URL.
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            png,
        )
            .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "logo unavailable");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// HTTP verification: the token of *this* domain, served on this domain only.
async fn verification_token(
    State(app): State<AppState>,
    host: Option<Extension<HostName>>,
    Path(id): Path<String>,
) -> Response {
    let Some(Extension(host)) = host else { return StatusCode::NOT_FOUND.into_response() };
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match domains::http_token(&app, &host, &id).await {
        Ok(Some(token)) => ([(header::CONTENT_TYPE, "text/plain")], token).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "verification token unavailable");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
