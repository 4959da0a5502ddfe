//! Custom domains of a storefront: adding (never one of the platform's own names), removing, verifying
//! ownership by DNS TXT or HTTP token, the on-demand TLS "ask", and the token served for HTTP checks.

use crate::backend::corrupt;
use crate::backend::platform::db::{is_unique_violation, now};
use crate::backend::platform::host::HostName;
use crate::backend::state::AppState;
use crate::backend::tenancy::registry::{self, bump_version, TenantRecord};
use crate::backend::tenancy::{domain_ownership, TenantError};
use crate::domain::ids::TenantId;
use crate::domain::tenant::{DomainKind, VerifyMethod};

type Result<T, E = TenantError> = std::result::Result<T, E>;

async fn by_slug(state: &AppState, slug: &str) -> Result<TenantRecord> {
    registry::record_by_slug(state.central(), slug).await?.ok_or(TenantError::NotFound)
}

/// Records a new domain of a tenant, inside the caller's transaction; a domain another storefront has is
/// a conflict.
pub(crate) async fn insert(tx: &mut sqlx::AnyConnection, id: TenantId, d: &HostName, kind: DomainKind) -> Result<()> {
    let r = sqlx::query(
        "INSERT INTO tenant_domains (domain, tenant_id, kind, verify_token_id, verify_token, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(d.as_str())
    .bind(id.to_string())
    .bind(kind.as_str())
    .bind(uuid::Uuid::new_v4().simple().to_string())
    .bind(domain_ownership::new_token())
    .bind(now().as_millis())
    .execute(tx)
    .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => {
            Err(TenantError::Conflict("That domain is already used by another storefront.".into()))
        }
        Err(e) => Err(e.into()),
    }
}

/// A tenant's domain as the admin and the reseller see it.
#[derive(Clone, Debug)]
pub struct DomainRecord {
    pub domain: String,
    pub kind: DomainKind,
    pub verify_token_id: String,
    pub verify_token: String,
    pub verified_at: Option<i64>,
    pub verified_by: Option<VerifyMethod>,
    pub last_check_error: Option<String>,
    pub tls_asked_at: Option<i64>,
}

pub async fn domains(state: &AppState, tenant: TenantId) -> Result<Vec<DomainRecord>> {
    let rows = sqlx::query_as::<_, DomainRow>(
        "SELECT domain, kind, verify_token_id, verify_token, verified_at, verified_by, last_check_error, tls_asked_at \
         FROM tenant_domains WHERE tenant_id = $1 ORDER BY kind DESC, domain",
    )
    .bind(tenant.to_string())
    .fetch_all(state.central().pool())
    .await?;
    Ok(rows.into_iter().map(DomainRecord::try_from).collect::<crate::backend::Result<_>>()?)
}

/// A `tenant_domains` row as stored.
#[derive(sqlx::FromRow)]
struct DomainRow {
    domain: String,
    kind: String,
    verify_token_id: String,
    verify_token: String,
    verified_at: Option<i64>,
    verified_by: Option<String>,
    last_check_error: Option<String>,
    tls_asked_at: Option<i64>,
}

impl TryFrom<DomainRow> for DomainRecord {
    type Error = crate::backend::BackendError;

    fn try_from(r: DomainRow) -> crate::backend::Result<DomainRecord> {
        Ok(DomainRecord {
            domain: r.domain,
            kind: r.kind.parse().map_err(corrupt)?,
            verify_token_id: r.verify_token_id,
            verify_token: r.verify_token,
            verified_at: r.verified_at,
            verified_by: r.verified_by.as_deref().map(str::parse).transpose().map_err(corrupt)?,
            last_check_error: r.last_check_error,
            tls_asked_at: r.tls_asked_at,
        })
    }
}

pub async fn add_domain(state: &AppState, slug: &str, raw: &str, primary: bool) -> Result<()> {
    let rec = by_slug(state, slug).await?;
    let d = HostName::parse_domain(raw)
        .map_err(|_| TenantError::Invalid("The domain must be a name like shop.example.com.".into()))?;
    check_custom_domain(state, &d)?;
    let mut tx = state.central().begin().await?;
    if primary {
        sqlx::query("UPDATE tenant_domains SET kind = $1 WHERE tenant_id = $2")
            .bind(DomainKind::Alias.as_str())
            .bind(rec.id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    insert(&mut tx, rec.id, &d, if primary { DomainKind::Primary } else { DomainKind::Alias }).await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(())
}

/// A tenant's own domain (primary or alias) is never one of the platform's names: not the platform
/// domain, nothing under it (another storefront's `<slug>.<platform>`, names that could become one), not
/// an admin host or anything under it.
pub(crate) fn check_custom_domain(state: &AppState, d: &HostName) -> Result<()> {
    let sites = state.registry().sites();
    if sites.is_platform_name(d) {
        return Err(TenantError::Invalid(format!(
            "{d} belongs to the platform: {} and the names under it, and the admin host, cannot be a \
             storefront's own domain. Use a domain of your own.",
            sites.platform_domain
        )));
    }
    Ok(())
}

pub async fn remove_domain(state: &AppState, slug: &str, domain: &str) -> Result<()> {
    let rec = by_slug(state, slug).await?;
    let mut tx = state.central().begin().await?;
    let n = sqlx::query("DELETE FROM tenant_domains WHERE tenant_id = $1 AND domain = $2")
        .bind(rec.id.to_string())
        .bind(domain)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(TenantError::NotFound);
    }
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(())
}

/// How a domain is to be checked.
pub type VerifyBy = VerifyMethod;

/// Checks a domain's token and, when it is there, marks the domain verified (it starts routing).
/// Returns whether it is verified now.
pub async fn verify_domain(state: &AppState, slug: &str, domain: &str, by: VerifyBy) -> Result<bool> {
    let rec = by_slug(state, slug).await?;
    let d = domains(state, rec.id).await?.into_iter().find(|d| d.domain == domain).ok_or(TenantError::NotFound)?;
    if d.verified_at.is_some() {
        return Ok(true);
    }
    let (ok, method, error) = match by {
        VerifyBy::Admin => (true, VerifyMethod::Admin, None),
        VerifyBy::Dns => match state.verifier().check_dns(&d.domain, &d.verify_token).await {
            Ok(true) => (true, VerifyMethod::Dns, None),
            Ok(false) => (
                false,
                VerifyMethod::Dns,
                Some(format!("No TXT record {} with the token yet.", domain_ownership::txt_record_name(&d.domain))),
            ),
            Err(e) => (false, VerifyMethod::Dns, Some(e.to_string())),
        },
        VerifyBy::Http => match state.verifier().check_http(&d.domain, &d.verify_token_id, &d.verify_token).await {
            Ok(true) => (true, VerifyMethod::Http, None),
            Ok(false) => {
                (false, VerifyMethod::Http, Some("The token was not served at the verification address yet.".into()))
            }
            Err(e) => (false, VerifyMethod::Http, Some(e.to_string())),
        },
    };
    let t = now().as_millis();
    let mut tx = state.central().begin().await?;
    sqlx::query(
        "UPDATE tenant_domains SET verified_at = $1, verified_by = $2, last_check_at = $3, last_check_error = $4 \
         WHERE domain = $5 AND tenant_id = $6",
    )
    .bind(ok.then_some(t))
    .bind(ok.then_some(method.as_str()))
    .bind(t)
    .bind(error)
    .bind(&d.domain)
    .bind(rec.id.to_string())
    .execute(&mut *tx)
    .await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(ok)
}

/// The on-demand TLS "ask": may the proxy get a certificate for this name? Only for verified domains of
/// active tenants (and our own platform names). The first yes is recorded as the domain's TLS state.
pub async fn tls_allowed(state: &AppState, raw: &str) -> Result<bool> {
    let Ok(host) = HostName::parse_domain(raw) else { return Ok(false) };
    match state.registry().resolve(&host).await? {
        registry::Site::Tenant(_) | registry::Site::Admin => {}
        _ => return Ok(false),
    }
    sqlx::query("UPDATE tenant_domains SET tls_asked_at = $1 WHERE domain = $2 AND tls_asked_at IS NULL")
        .bind(now().as_millis())
        .bind(host.as_str())
        .execute(state.central().pool())
        .await?;
    Ok(true)
}

/// The token a domain serves over HTTP for verification (`/.well-known/ezscale-verify/<id>`), only on
/// that domain itself.
pub async fn http_token(state: &AppState, host: &HostName, token_id: &str) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT verify_token FROM tenant_domains WHERE domain = $1 AND verify_token_id = $2")
        .bind(host.as_str())
        .bind(token_id)
        .fetch_optional(state.central().pool())
        .await?)
}
