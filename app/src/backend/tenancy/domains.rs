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
        "INSERT INTO tenant_domains (domain, tenant_id, kind, verify_token_id, verify_token, created_at, next_check_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(d.as_str())
    .bind(id.to_string())
    .bind(kind.as_str())
    .bind(uuid::Uuid::new_v4().simple().to_string())
    .bind(domain_ownership::new_token())
    .bind(now().as_millis())
    .bind(now().as_millis() + CHECK_AFTER_MS[0])
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

/// How many domains one storefront may have (its own names and aliases).
pub const MAX_DOMAINS: i64 = 20;

/// When an unverified domain is checked again by itself, after the n-th check (the first 1 minute after
/// it was added): backing off from minutes to hours, as DNS changes usually show within minutes but can
/// take hours. The last interval repeats until [`CHECK_FOR_MS`] after the domain was added.
pub const CHECK_AFTER_MS: [i64; 7] =
    [60_000, 5 * 60_000, 15 * 60_000, 30 * 60_000, 3_600_000, 3 * 3_600_000, 6 * 3_600_000];
/// How long a domain is checked by itself: 72 hours from when it was added. After that only "check now".
pub const CHECK_FOR_MS: i64 = 72 * 3_600_000;

/// When the check after `attempts` scheduled checks is due, for a domain added at `added`; `None` once the
/// 72 hours are over.
pub fn next_check(added: i64, attempts: i64, now: i64) -> Option<i64> {
    let i = usize::try_from(attempts).unwrap_or(usize::MAX).min(CHECK_AFTER_MS.len() - 1);
    let at = now + CHECK_AFTER_MS[i];
    (at <= added + CHECK_FOR_MS).then_some(at)
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
    /// When it is checked again by itself (`None`: verified, or the 72 hours of checks are over).
    pub next_check_at: Option<i64>,
}

pub async fn domains(state: &AppState, tenant: TenantId) -> Result<Vec<DomainRecord>> {
    let rows = sqlx::query_as::<_, DomainRow>(
        "SELECT domain, kind, verify_token_id, verify_token, verified_at, verified_by, last_check_error, tls_asked_at, \
         next_check_at FROM tenant_domains WHERE tenant_id = $1 ORDER BY kind DESC, domain",
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
    next_check_at: Option<i64>,
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
            next_check_at: r.next_check_at,
        })
    }
}

pub async fn add_domain(state: &AppState, slug: &str, raw: &str, primary: bool) -> Result<()> {
    let rec = by_slug(state, slug).await?;
    let d = HostName::parse_domain(raw)
        .map_err(|_| TenantError::Invalid("The domain must be a name like shop.example.com.".into()))?;
    check_custom_domain(state, &d)?;
    let mut tx = state.central().begin().await?;
    let have: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenant_domains WHERE tenant_id = $1")
        .bind(rec.id.to_string())
        .fetch_one(&mut *tx)
        .await?;
    if have >= MAX_DOMAINS {
        return Err(TenantError::Invalid(format!("A storefront has at most {MAX_DOMAINS} domains.")));
    }
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

/// Which proofs a check looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckBy {
    /// One method (an admin's `Admin` takes their word for it).
    Method(VerifyMethod),
    /// The TXT record, then the HTTP token: what "check now" and the scheduled checks do.
    Either,
}

/// What a check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checked {
    /// It was verified before this check.
    AlreadyVerified,
    /// Verified by this check: it routes from now on.
    Verified(VerifyMethod),
    /// Not (yet): why, in the reseller's words.
    NotYet(String),
}

impl Checked {
    pub fn is_verified(&self) -> bool {
        !matches!(self, Checked::NotYet(_))
    }
}

/// Checks a domain's token and, when it is there, marks the domain verified (it starts routing).
/// Returns whether it is verified now.
pub async fn verify_domain(state: &AppState, slug: &str, domain: &str, by: VerifyBy) -> Result<bool> {
    let rec = by_slug(state, slug).await?;
    Ok(check(state, rec.id, domain, CheckBy::Method(by), false).await?.is_verified())
}

/// Checks one of `tenant`'s domains and records the outcome. A `scheduled` check that finds nothing moves
/// the domain's next check along the backing-off schedule (or ends it after 72 hours); a check someone
/// asked for leaves the schedule as it is.
pub async fn check(state: &AppState, tenant: TenantId, domain: &str, by: CheckBy, scheduled: bool) -> Result<Checked> {
    let d = domains(state, tenant).await?.into_iter().find(|d| d.domain == domain).ok_or(TenantError::NotFound)?;
    if d.verified_at.is_some() {
        return Ok(Checked::AlreadyVerified);
    }
    let found = match by {
        CheckBy::Method(VerifyMethod::Admin) => Ok(VerifyMethod::Admin),
        CheckBy::Method(VerifyMethod::Dns) => dns_proof(state, &d).await,
        CheckBy::Method(VerifyMethod::Http) => http_proof(state, &d).await,
        CheckBy::Either => match dns_proof(state, &d).await {
            Ok(m) => Ok(m),
            Err(by_dns) => http_proof(state, &d).await.map_err(|by_http| format!("{by_dns} {by_http}")),
        },
    };
    let t = now().as_millis();
    let (verified_at, method, error) = match &found {
        Ok(m) => (Some(t), Some(m.as_str()), None),
        Err(e) => (None, None, Some(e.clone())),
    };
    let next = match (&found, scheduled) {
        (Ok(_), _) => None,
        (Err(_), true) => {
            let (added, attempts): (i64, i64) =
                sqlx::query_as("SELECT created_at, check_attempts FROM tenant_domains WHERE domain = $1")
                    .bind(&d.domain)
                    .fetch_one(state.central().pool())
                    .await?;
            next_check(added, attempts + 1, t)
        }
        (Err(_), false) => d.next_check_at,
    };
    let mut tx = state.central().begin().await?;
    sqlx::query(
        "UPDATE tenant_domains SET verified_at = $1, verified_by = $2, last_check_at = $3, last_check_error = $4, \
         next_check_at = $5, check_attempts = check_attempts + $6 WHERE domain = $7 AND tenant_id = $8 AND verified_at IS NULL",
    )
    .bind(verified_at)
    .bind(method)
    .bind(t)
    .bind(error)
    .bind(next)
    .bind(i64::from(scheduled))
    .bind(&d.domain)
    .bind(tenant.to_string())
    .execute(&mut *tx)
    .await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(match found {
        Ok(m) => Checked::Verified(m),
        Err(e) => Checked::NotYet(e),
    })
}

/// The TXT record's proof, or why it is not there (yet).
async fn dns_proof(state: &AppState, d: &DomainRecord) -> std::result::Result<VerifyMethod, String> {
    match state.verifier().check_dns(&d.domain, &d.verify_token).await {
        Ok(true) => Ok(VerifyMethod::Dns),
        Ok(false) => Err(format!("No TXT record {} with the token yet.", domain_ownership::txt_record_name(&d.domain))),
        Err(e) => Err(e.to_string()),
    }
}

/// The HTTP token's proof, or why it is not there (yet).
async fn http_proof(state: &AppState, d: &DomainRecord) -> std::result::Result<VerifyMethod, String> {
    match state.verifier().check_http(&d.domain, &d.verify_token_id, &d.verify_token).await {
        Ok(true) => Ok(VerifyMethod::Http),
        Ok(false) => Err("The token was not served at the verification address yet.".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// The unverified domains whose scheduled check is due, of active storefronts: (tenant, domain), oldest
/// due first.
pub async fn due_for_check(state: &AppState, limit: i64) -> Result<Vec<(TenantId, String)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT d.tenant_id, d.domain FROM tenant_domains d JOIN tenants t ON t.id = d.tenant_id \
         WHERE d.verified_at IS NULL AND d.next_check_at IS NOT NULL AND d.next_check_at <= $1 AND t.status = 'active' \
         ORDER BY d.next_check_at LIMIT $2",
    )
    .bind(now().as_millis())
    .bind(limit)
    .fetch_all(state.central().pool())
    .await?;
    rows.into_iter().map(|(t, d)| Ok((t.parse().map_err(|_| corrupt("tenant_domains.tenant_id"))?, d))).collect()
}

/// Claims the one "your domain is live" email of a verified domain: `true` the first time only.
pub async fn claim_live_notice(state: &AppState, tenant: TenantId, domain: &str) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE tenant_domains SET live_notified_at = $1 WHERE tenant_id = $2 AND domain = $3 \
         AND verified_at IS NOT NULL AND live_notified_at IS NULL",
    )
    .bind(now().as_millis())
    .bind(tenant.to_string())
    .bind(domain)
    .execute(state.central().pool())
    .await?
    .rows_affected();
    Ok(n > 0)
}

/// Makes one of the tenant's domains its primary (the others become aliases).
pub async fn make_primary(state: &AppState, tenant: TenantId, domain: &str) -> Result<()> {
    let mut tx = state.central().begin().await?;
    let exists: Option<String> =
        sqlx::query_scalar("SELECT domain FROM tenant_domains WHERE tenant_id = $1 AND domain = $2")
            .bind(tenant.to_string())
            .bind(domain)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Err(TenantError::NotFound);
    }
    sqlx::query("UPDATE tenant_domains SET kind = CASE WHEN domain = $1 THEN $2 ELSE $3 END WHERE tenant_id = $4")
        .bind(domain)
        .bind(DomainKind::Primary.as_str())
        .bind(DomainKind::Alias.as_str())
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduled_checks_back_off_to_six_hours_and_stop_after_72() {
        let added = 1_000_000;
        let min = 60_000;
        assert_eq!(next_check(added, 1, added + min), Some(added + 6 * min), "5 minutes after the first check");
        assert_eq!(next_check(added, 2, added), Some(added + 15 * min));
        assert_eq!(next_check(added, 6, added), Some(added + 6 * 3_600_000));
        assert_eq!(next_check(added, 40, added), Some(added + 6 * 3_600_000), "the last interval repeats");
        assert_eq!(next_check(added, i64::MAX, added), Some(added + 6 * 3_600_000));
        // Until 72 hours after the domain was added, never later.
        assert_eq!(next_check(added, 10, added + 66 * 3_600_000), Some(added + CHECK_FOR_MS));
        assert_eq!(next_check(added, 10, added + 66 * 3_600_000 + 1), None);
        assert_eq!(next_check(added, 0, added + CHECK_FOR_MS), None);
    }
}
