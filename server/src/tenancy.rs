//! The tenancy edge: every request is resolved to one site by its Host before anything else runs, and
//! the routes that belong to tenancy itself (theme stylesheet, logos, domain verification, the TLS ask,
//! logo uploads).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use app::backend::identity::accounts::{self, STAFF_COOKIE};
use app::backend::platform::host::{self, HostName};
use app::backend::request::ClientIp;
use app::backend::state::AppState;
use app::backend::tenancy::branding::{self, image::AssetKind};
use app::backend::tenancy::registry::Site;
use axum::extract::{ConnectInfo, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

/// Logo and favicon uploads: the 2 MB image limit plus room for the multipart framing.
pub const UPLOAD_LIMIT: usize = 2 * 1024 * 1024 + 64 * 1024;

/// Paths served on every host: probes are for machines on our side, and the domain verification token
/// must be served before the domain is verified (that is how it gets verified). (Metrics and the TLS ask
/// are not public at all: they live on the operations listener.)
fn host_independent(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz") || path.starts_with("/.well-known/ezscale-verify/")
}

/// Paths of the built site (WASM, CSS) and public files, served on any routed site.
fn is_asset(path: &str) -> bool {
    path.starts_with("/pkg/") || matches!(path, "/favicon.ico" | "/robots.txt")
}

/// Resolves the request's Host (and, from trusted proxies only, its forwarded host and client address)
/// to a [`Site`] and puts both in the request's extensions. Unknown hosts get a 404 here; suspended
/// storefronts get their notice; the admin app and storefronts keep to their own paths.
pub async fn resolve_site(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let peer =
        req.extensions().get::<ConnectInfo<SocketAddr>>().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let trusted = &app.settings().trusted_proxies;
    let client = host::client_ip(req.headers(), peer, trusted);
    req.extensions_mut().insert(ClientIp(client));
    let host = match host::request_host(req.headers(), req.uri(), peer, trusted) {
        Ok(h) => h,
        Err(e) if !host_independent(&path) => {
            tracing::debug!(error = %e, "unusable Host");
            return page(StatusCode::BAD_REQUEST, "Bad request", "This request did not name a valid host.");
        }
        Err(_) => return next.run(req).await,
    };
    req.extensions_mut().insert(host.clone());
    if host_independent(&path) {
        return next.run(req).await;
    }
    let site = match app.registry().resolve(&host).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "tenant registry unavailable");
            return page(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "Please try again in a moment.");
        }
    };
    match &site {
        Site::Unknown => return page(StatusCode::NOT_FOUND, "Not found", "There is no storefront at this address."),
        Site::Suspended(t) if !is_asset(&path) && !path.starts_with("/brand/") => {
            return page(
                StatusCode::FORBIDDEN,
                &t.brand.theme.company_name,
                "This storefront is currently unavailable. Please contact its operator.",
            );
        }
        Site::Admin if path == "/" => return Redirect::to("/admin").into_response(),
        Site::Admin
            if !(path == "/admin" || path.starts_with("/admin/") || path.starts_with("/api/") || is_asset(&path)) =>
        {
            return page(StatusCode::NOT_FOUND, "Not found", "The admin app lives under /admin.");
        }
        Site::Tenant(_) if path == "/admin" || path.starts_with("/admin/") => {
            return page(StatusCode::NOT_FOUND, "Not found", "There is no such page.");
        }
        _ => {}
    }
    req.extensions_mut().insert(site);
    next.run(req).await
}

/// A minimal self-contained HTML page (no scripts, no user markup: the text is escaped).
fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem\">\
         <h1>{t}</h1><p>{m}</p></body></html>",
        t = escape(title),
        m = escape(message)
    );
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // The inline style above is the only style; no script may run.
    res.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    res
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

#[derive(serde::Deserialize)]
pub struct AskQuery {
    domain: Option<String>,
}

/// On-demand TLS ask (Caddy's `on_demand_tls { ask … }`): 200 only for names we serve — verified
/// domains of active tenants, tenant subdomains, the admin host. Served on the operations listener only
/// (`OPS_ADDR`), which is where the proxy asks.
pub async fn tls_ask(State(app): State<AppState>, Query(q): Query<AskQuery>) -> Response {
    let Some(domain) = q.domain else { return StatusCode::BAD_REQUEST.into_response() };
    match app::backend::tenancy::domains::tls_allowed(&app, &domain).await {
        Ok(true) => (StatusCode::OK, "ok").into_response(),
        Ok(false) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "tls ask failed");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

fn tenant_of(site: Option<&Site>) -> Option<&std::sync::Arc<app::backend::tenancy::registry::TenantEntry>> {
    match site? {
        Site::Tenant(t) | Site::Suspended(t) => Some(t),
        _ => None,
    }
}

/// The storefront's theme: its colours as CSS variables plus its sanitised custom CSS. Versioned URL and
/// ETag; pages also inline the variables, so first paint never waits for it.
pub async fn theme_css(State(app): State<AppState>, site: Option<Extension<Site>>, headers: HeaderMap) -> Response {
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
pub async fn brand_asset(
    State(app): State<AppState>,
    site: Option<Extension<Site>>,
    Path(file): Path<String>,
) -> Response {
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
pub async fn verification_token(
    State(app): State<AppState>,
    host: Option<Extension<HostName>>,
    Path(id): Path<String>,
) -> Response {
    let Some(Extension(host)) = host else { return StatusCode::NOT_FOUND.into_response() };
    if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    match app::backend::tenancy::domains::http_token(&app, &host, &id).await {
        Ok(Some(token)) => ([(header::CONTENT_TYPE, "text/plain")], token).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "verification token unavailable");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// Logo / favicon upload from the branding page (a plain multipart form, so it works without scripts).
/// Staff of this tenant only; the image is sniffed, decoded with limits and re-encoded before storing.
pub async fn upload_asset(
    State(app): State<AppState>,
    site: Option<Extension<Site>>,
    client: Option<Extension<ClientIp>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let Some(Extension(Site::Tenant(t))) = site else { return StatusCode::NOT_FOUND.into_response() };
    let ip = client.map(|Extension(ClientIp(ip))| ip);
    let kind = match kind.as_str() {
        "logo" => AssetKind::Logo,
        "favicon" => AssetKind::Favicon,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let token = cookie_value(&headers, STAFF_COOKIE);
    let member = match token {
        Some(tok) => accounts::session_staff(app.central(), &tok, t.id).await.ok().flatten(),
        None => None,
    };
    let Some(member) = member else { return Redirect::to("/manage/login").into_response() };
    let mut bytes = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) if field.name() == Some("file") => match field.bytes().await {
                Ok(b) => {
                    bytes = Some(b);
                    break;
                }
                Err(_) => return upload_error("The upload was interrupted or is larger than 2 MB."),
            },
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(_) => return upload_error("The upload could not be read. Choose a file and try again."),
        }
    }
    let Some(bytes) = bytes.filter(|b| !b.is_empty()) else { return upload_error("Choose a file to upload.") };
    let processed = match tokio::task::spawn_blocking(move || branding::image::process_upload(&bytes, kind)).await {
        Ok(Ok(img)) => img,
        Ok(Err(e)) => return upload_error(&e.to_string()),
        Err(_) => return upload_error("The image could not be processed."),
    };
    if let Err(e) = branding::set_asset(&app, t.id, kind, &processed).await {
        tracing::error!(error = %e, "storing a logo failed");
        return page(StatusCode::SERVICE_UNAVAILABLE, "Upload failed", "Please try again in a moment.");
    }
    tracing::info!(tenant = %t.slug, sha = %processed.sha256_hex, "brand image stored");
    let action = match kind {
        AssetKind::Logo => "branding.logo_changed",
        AssetKind::Favicon => "branding.favicon_changed",
    };
    let actor = member.actor();
    if let Err(e) =
        app::backend::platform::audit::record_by(app.central(), ip, &actor, Some(t.id), action, &processed.sha256_hex)
            .await
    {
        tracing::error!(error = %e, "audit record failed");
    }
    Redirect::to("/manage/branding").into_response()
}

/// A cookie's value from the request's `Cookie` headers (`None` when absent or empty).
pub(crate) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
}

fn upload_error(message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Upload refused</title></head>\
         <body><h1>Upload refused</h1><p data-testid=\"upload-error\">{}</p><p><a href=\"/manage/branding\">Back to branding</a></p></body></html>",
        escape(message)
    );
    let mut res = (StatusCode::BAD_REQUEST, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    res
}
