//! Logo and favicon uploads from the branding page: a plain multipart form, so it works without scripts.
//! Its answers are pages (a redirect, or a short page saying what was wrong), not JSON.

use app::backend::platform::audit;
use app::backend::request::{ClientIp, SignedInStaff};
use app::backend::state::AppState;
use app::backend::tenancy::branding::{self, image::AssetKind};
use app::backend::tenancy::registry::Site;
use app::error::AppError;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::Extension;

use super::Routes;
use crate::tenancy::{escape, page};

/// The 2 MB image limit plus room for the multipart framing.
const UPLOAD_LIMIT: usize = 2 * 1024 * 1024 + 64 * 1024;

pub(super) fn routes() -> Routes {
    Routes::new().post("/manage/branding/{kind}", post(upload_asset).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
}

/// Staff of this tenant only; the image is sniffed, decoded with limits and re-encoded before storing.
async fn upload_asset(
    State(app): State<AppState>,
    site: Option<Extension<Site>>,
    client: Option<Extension<ClientIp>>,
    Path(kind): Path<String>,
    staff: Result<SignedInStaff, AppError>,
    mut multipart: Multipart,
) -> Response {
    let ip = client.map(|Extension(ClientIp(ip))| ip);
    let Some(Extension(Site::Tenant(_))) = site else { return StatusCode::NOT_FOUND.into_response() };
    let kind = match kind.as_str() {
        "logo" => AssetKind::Logo,
        "favicon" => AssetKind::Favicon,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let Ok(SignedInStaff { tenant: t, member }) = staff else {
        return Redirect::to("/manage/login").into_response();
    };
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
    if let Err(e) =
        audit::record_by(app.central(), ip, &member.actor(), Some(t.id), action, &processed.sha256_hex).await
    {
        tracing::error!(error = %e, "audit record failed");
    }
    Redirect::to("/manage/branding").into_response()
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
