//! Tenant branding: what a reseller's storefront looks like, stored centrally.
//!
//! Nothing a reseller types reaches a page unchecked: colours are parsed strictly, custom CSS is parsed
//! and re-serialised from an allow-list ([`css`]), logos are sniffed, decoded with limits and re-encoded
//! ([`image`]). Every save bumps the branding version (stylesheet URLs and ETags) and the registry
//! version (so every server's cached theme reloads).

pub mod css;
pub mod image;

use crate::backend::platform::db::{now, CentralDb};
use crate::backend::state::AppState;
use crate::backend::tenancy::registry::bump_version;
use crate::backend::{corrupt, Result};
use crate::domain::branding::{Colour, Theme};
use crate::domain::ids::TenantId;

/// A tenant's branding as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct BrandingRecord {
    pub theme: Theme,
    pub support_email: String,
    pub support_phone: String,
    pub from_email: String,
    pub from_name: String,
    pub custom_css: String,
    pub logo_sha: Option<String>,
    pub favicon_sha: Option<String>,
    pub version: i64,
}

/// A checked branding change (everything but the images).
#[derive(Clone, Debug)]
pub struct BrandingUpdate {
    pub theme: Theme,
    pub support_email: String,
    pub support_phone: String,
    pub from_email: String,
    pub from_name: String,
    /// Already sanitised by [`css::sanitize_css`].
    pub custom_css: String,
}

pub async fn get(central: &CentralDb, tenant: TenantId) -> Result<Option<BrandingRecord>> {
    let row = sqlx::query_as::<_, BrandingRow>(
        "SELECT company_name, primary_color, secondary_color, support_email, support_phone, from_email, from_name, \
         custom_css, logo_sha, favicon_sha, version FROM tenant_branding WHERE tenant_id = $1",
    )
    .bind(tenant.to_string())
    .fetch_optional(central.pool())
    .await?;
    row.map(BrandingRecord::try_from).transpose()
}

/// A `tenant_branding` row as stored.
#[derive(sqlx::FromRow)]
struct BrandingRow {
    company_name: String,
    primary_color: String,
    secondary_color: String,
    support_email: String,
    support_phone: String,
    from_email: String,
    from_name: String,
    custom_css: String,
    logo_sha: Option<String>,
    favicon_sha: Option<String>,
    version: i64,
}

impl TryFrom<BrandingRow> for BrandingRecord {
    type Error = crate::backend::BackendError;

    fn try_from(r: BrandingRow) -> Result<BrandingRecord> {
        let colour = |s: &str| Colour::parse(s).map_err(|_| corrupt("tenant_branding colour"));
        Ok(BrandingRecord {
            theme: Theme {
                company_name: r.company_name,
                primary: colour(&r.primary_color)?,
                secondary: colour(&r.secondary_color)?,
            },
            support_email: r.support_email,
            support_phone: r.support_phone,
            from_email: r.from_email,
            from_name: r.from_name,
            custom_css: r.custom_css,
            logo_sha: r.logo_sha,
            favicon_sha: r.favicon_sha,
            version: r.version,
        })
    }
}

/// Saves a tenant's branding; its pages pick it up on their next load (the registry reloads).
pub async fn save(state: &AppState, tenant: TenantId, u: &BrandingUpdate) -> Result<()> {
    let mut tx = state.central().begin().await?;
    sqlx::query(
        "UPDATE tenant_branding SET company_name = $1, primary_color = $2, secondary_color = $3, support_email = $4, \
         support_phone = $5, from_email = $6, from_name = $7, custom_css = $8, version = version + 1, updated_at = $9 \
         WHERE tenant_id = $10",
    )
    .bind(&u.theme.company_name)
    .bind(u.theme.primary.to_hex())
    .bind(u.theme.secondary.to_hex())
    .bind(&u.support_email)
    .bind(&u.support_phone)
    .bind(&u.from_email)
    .bind(&u.from_name)
    .bind(&u.custom_css)
    .bind(now().as_millis())
    .bind(tenant.to_string())
    .execute(&mut *tx)
    .await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(())
}

/// [`save`], by a member of the storefront's staff (or an admin acting through their session), from
/// `ip`: recorded in the audit log with the new colours.
pub async fn save_by(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    actor: &crate::backend::platform::audit::Actor<'_>,
    tenant: TenantId,
    u: &BrandingUpdate,
) -> Result<()> {
    save(state, tenant, u).await?;
    let detail = format!("primary {}, secondary {}", u.theme.primary.to_hex(), u.theme.secondary.to_hex());
    crate::backend::platform::audit::record_by(state.central(), ip, actor, Some(tenant), "branding.changed", &detail)
        .await
}

/// Stores a processed logo or favicon and makes it the tenant's current one.
pub async fn set_asset(
    state: &AppState,
    tenant: TenantId,
    kind: image::AssetKind,
    img: &image::ProcessedImage,
) -> Result<()> {
    use base64::Engine as _;
    let column = match kind {
        image::AssetKind::Logo => {
            "UPDATE tenant_branding SET logo_sha = $1, version = version + 1, updated_at = $2 WHERE tenant_id = $3"
        }
        image::AssetKind::Favicon => {
            "UPDATE tenant_branding SET favicon_sha = $1, version = version + 1, updated_at = $2 WHERE tenant_id = $3"
        }
    };
    let t = now().as_millis();
    let mut tx = state.central().begin().await?;
    sqlx::query(
        "INSERT INTO tenant_assets (tenant_id, sha256, png_base64, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, sha256) DO NOTHING",
    )
    .bind(tenant.to_string())
    .bind(&img.sha256_hex)
    .bind(base64::engine::general_purpose::STANDARD.encode(&img.png))
    .bind(t)
    .execute(&mut *tx)
    .await?;
    sqlx::query(column).bind(&img.sha256_hex).bind(t).bind(tenant.to_string()).execute(&mut *tx).await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(())
}

/// A stored image, looked up by tenant *and* hash: another tenant's hash finds nothing.
pub async fn asset(central: &CentralDb, tenant: TenantId, sha: &str) -> Result<Option<Vec<u8>>> {
    use base64::Engine as _;
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let row: Option<String> =
        sqlx::query_scalar("SELECT png_base64 FROM tenant_assets WHERE tenant_id = $1 AND sha256 = $2")
            .bind(tenant.to_string())
            .bind(sha)
            .fetch_optional(central.pool())
            .await?;
    row.map(|b| base64::engine::general_purpose::STANDARD.decode(b).map_err(|_| corrupt("tenant_assets.png_base64")))
        .transpose()
}
