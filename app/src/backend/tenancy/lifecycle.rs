//! A tenant's life: creation as a recorded, resumable sequence; suspension; deletion with its database;
//! billing terms; custom domains and their verification.
//!
//! Creation first *reserves* the tenant in one central transaction (tenant row in `creating`, its primary
//! domain, its owner), so a taken slug or domain is refused before anything exists. Then each step runs
//! and records itself in `creation_step`: database → migrated → seeded → branded → active. Every step is
//! idempotent and the database URL is fixed at reservation, so a retry after any failure continues where
//! it stopped and never makes a second database. A failure leaves status `failed` with the reason; the
//! admin can retry, or delete (which drops whatever was made).

use sqlx::Row;

use crate::backend::identity::accounts::{self, StaffRole};
use crate::backend::platform::db::{drop_tenant_database, is_unique_violation, now, tenant_db_url, TenantDb};
use crate::backend::platform::host::HostName;
use crate::backend::state::AppState;
use crate::backend::tenancy::domain_ownership;
use crate::backend::tenancy::registry::{self, bump_version, TenantRecord};
use crate::backend::{identity::auth, seed, BackendError};
use crate::domain::branding::Theme;
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;
use crate::domain::tenant::{BillingTerms, Slug, TenantStatus};
use crate::error::AppError;

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// Input that cannot be accepted; the message says why (shown to the admin).
    #[error("{0}")]
    Invalid(String),
    /// Taken or in the wrong state; the message says why.
    #[error("{0}")]
    Conflict(String),
    #[error("no such tenant")]
    NotFound,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<sqlx::Error> for TenantError {
    fn from(e: sqlx::Error) -> Self {
        TenantError::Backend(e.into())
    }
}

impl From<crate::backend::platform::db::DbError> for TenantError {
    fn from(e: crate::backend::platform::db::DbError) -> Self {
        TenantError::Backend(e.into())
    }
}

impl From<TenantError> for AppError {
    fn from(e: TenantError) -> AppError {
        match e {
            TenantError::Invalid(m) => AppError::Invalid(m),
            TenantError::Conflict(m) => AppError::Conflict(m),
            TenantError::NotFound => AppError::NotFound,
            TenantError::Backend(b) => b.into(),
        }
    }
}

type Result<T, E = TenantError> = std::result::Result<T, E>;

/// A new tenant, every field already checked.
#[derive(Clone, Debug)]
pub struct NewTenant {
    pub name: String,
    pub slug: Slug,
    pub owner_email: String,
    pub owner_name: String,
    pub owner_password: String,
    pub primary_domain: Option<HostName>,
    pub currency: Currency,
    pub trial_days: Option<u32>,
}

/// The creation form as typed.
#[derive(Clone, Debug, Default)]
pub struct NewTenantInput {
    pub name: String,
    pub slug: String,
    pub owner_email: String,
    pub owner_password: String,
    pub primary_domain: String,
    pub currency: String,
    pub trial_days: String,
}

pub fn validate(input: &NewTenantInput) -> Result<NewTenant> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(TenantError::Invalid("The company name is 1 to 80 characters.".into()));
    }
    let slug = Slug::parse(&input.slug).map_err(|e| TenantError::Invalid(e.to_string()))?;
    let owner_email = parse_email(&input.owner_email)?;
    if input.owner_password.chars().count() < 10 || input.owner_password.len() > 1024 {
        return Err(TenantError::Invalid("The owner's first password needs at least 10 characters.".into()));
    }
    let primary_domain = match input.primary_domain.trim() {
        "" => None,
        d => Some(
            HostName::parse_domain(d)
                .map_err(|_| TenantError::Invalid("The domain must be a name like shop.example.com.".into()))?,
        ),
    };
    let currency = if input.currency.trim().is_empty() {
        Currency::USD
    } else {
        Currency::parse(&input.currency).map_err(|_| TenantError::Invalid("Choose USD, EUR or GBP.".into()))?
    };
    let trial_days = match input.trial_days.trim() {
        "" | "0" => None,
        d => Some(
            d.parse::<u32>()
                .ok()
                .filter(|n| (1..=365).contains(n))
                .ok_or_else(|| TenantError::Invalid("A trial lasts 1 to 365 days.".into()))?,
        ),
    };
    Ok(NewTenant {
        name: name.to_owned(),
        slug,
        owner_name: name.to_owned(),
        owner_email,
        owner_password: input.owner_password.clone(),
        primary_domain,
        currency,
        trial_days,
    })
}

/// A plausible address: one `@`, a dotted domain, no spaces or control characters, ≤ 254.
pub fn parse_email(raw: &str) -> Result<String> {
    let e = raw.trim().to_lowercase();
    let bad = || TenantError::Invalid("Enter an email address like owner@example.com.".into());
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if e.len() > 254
        || local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || e.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ',' | ';'))
    {
        return Err(bad());
    }
    Ok(e)
}

/// Reserves and builds a tenant. On a step failure the tenant stays `failed` (visible, retryable) and
/// the error is returned.
pub async fn create(state: &AppState, central_url: &str, new: NewTenant) -> Result<TenantId> {
    let id = reserve(state, central_url, &new).await?;
    run_steps(state, id).await?;
    Ok(id)
}

async fn reserve(state: &AppState, central_url: &str, new: &NewTenant) -> Result<TenantId> {
    if let Some(d) = &new.primary_domain {
        check_custom_domain(state, d)?;
    }
    let id = TenantId::new_random();
    let db_url = tenant_db_url(central_url, new.slug.as_str())?;
    let hash = auth::hash_password(new.owner_password.clone()).await?;
    let t = now().as_millis();
    let trial = new.trial_days.map(|d| t + i64::from(d) * 86_400_000);
    let central = state.central();
    let mut tx = central.begin().await?;
    let taken: Option<String> = sqlx::query_scalar("SELECT slug FROM tenants WHERE slug = $1")
        .bind(new.slug.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    if taken.is_some() {
        return Err(TenantError::Conflict("That short name is taken.".into()));
    }
    if let Some(d) = &new.primary_domain {
        let used: Option<String> = sqlx::query_scalar("SELECT domain FROM tenant_domains WHERE domain = $1")
            .bind(d.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if used.is_some() {
            return Err(TenantError::Conflict("That domain is already used by another storefront.".into()));
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO tenants (id, slug, name, status, is_house, currency, db_url, created_at, updated_at, \
         owner_email, creation_step, trial_ends_at) VALUES ($1, $2, $3, 'creating', 0, $4, $5, $6, $6, $7, 'validated', $8)",
    )
    .bind(id.to_string())
    .bind(new.slug.as_str())
    .bind(&new.name)
    .bind(new.currency.code())
    .bind(&db_url)
    .bind(t)
    .bind(&new.owner_email)
    .bind(trial)
    .execute(&mut *tx)
    .await;
    if let Err(e) = inserted {
        // Two admins racing for the same slug: the unique index decides.
        if is_unique_violation(&e) {
            return Err(TenantError::Conflict("That short name is taken.".into()));
        }
        return Err(e.into());
    }
    if let Some(d) = &new.primary_domain {
        insert_domain(&mut tx, id, d, "primary").await?;
    }
    accounts::ensure_staff(&mut tx, id, &new.owner_email, &new.owner_name, StaffRole::Owner, &hash).await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    tracing::info!(tenant = %new.slug, "tenant reserved");
    Ok(id)
}

async fn insert_domain(tx: &mut sqlx::AnyConnection, id: TenantId, d: &HostName, kind: &str) -> Result<()> {
    let r = sqlx::query(
        "INSERT INTO tenant_domains (domain, tenant_id, kind, verify_token_id, verify_token, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(d.as_str())
    .bind(id.to_string())
    .bind(kind)
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

/// The creation steps in order; each names the step it completes.
const STEPS: [&str; 5] = ["database", "migrated", "seeded", "branded", "done"];

/// Runs the remaining creation steps of a tenant in `creating` (or `failed`, when retried).
pub async fn run_steps(state: &AppState, id: TenantId) -> Result<()> {
    let rec = record_by_id(state, id).await?.ok_or(TenantError::NotFound)?;
    if rec.status == TenantStatus::Active || rec.creation_step == "done" {
        return Ok(());
    }
    if !matches!(rec.status, TenantStatus::Creating | TenantStatus::Failed) {
        return Err(TenantError::Conflict(format!("The tenant is {}.", rec.status.label().to_lowercase())));
    }
    set_status(state, id, TenantStatus::Creating, None).await?;
    let start = STEPS.iter().position(|s| *s == rec.creation_step).map_or(0, |i| i + 1);
    for step in &STEPS[start..] {
        if let Err(e) = run_step(state, &rec, step).await {
            let reason = format!("step \"{step}\" failed: {e}");
            tracing::error!(tenant = %rec.slug, error = %e, step, "tenant creation step failed");
            set_status(state, id, TenantStatus::Failed, Some(&reason)).await?;
            return Err(e);
        }
        record_step(state, id, step).await?;
    }
    tracing::info!(tenant = %rec.slug, "tenant active");
    Ok(())
}

async fn run_step(state: &AppState, rec: &TenantRecord, step: &str) -> Result<()> {
    state.failpoints().check(&format!("tenant.create.{step}"))?;
    match step {
        // Creating is idempotent (an existing database is reused), so a retry never makes a second one.
        "database" => TenantDb::create(&rec.db_url).await?,
        "migrated" => {
            let db = TenantDb::create_and_migrate(&rec.db_url).await?;
            db.close().await;
        }
        "seeded" => {
            let db = TenantDb::connect(&rec.db_url).await?;
            let seeded = seed::seed_catalog(&db, rec.currency).await;
            db.close().await;
            seeded?;
        }
        "branded" => {
            let theme = Theme::default_for(&rec.name);
            sqlx::query(
                "INSERT INTO tenant_branding (tenant_id, company_name, primary_color, secondary_color, \
                 support_email, from_email, from_name, version, updated_at) VALUES ($1, $2, $3, $4, $5, $5, $2, 1, $6) \
                 ON CONFLICT (tenant_id) DO NOTHING",
            )
            .bind(rec.id.to_string())
            .bind(&theme.company_name)
            .bind(theme.primary.to_hex())
            .bind(theme.secondary.to_hex())
            .bind(&rec.owner_email)
            .bind(now().as_millis())
            .execute(state.central().pool())
            .await?;
        }
        _ => {}
    }
    Ok(())
}

async fn record_step(state: &AppState, id: TenantId, step: &str) -> Result<()> {
    let mut tx = state.central().begin().await?;
    let status = if step == "done" { "active" } else { "creating" };
    sqlx::query("UPDATE tenants SET creation_step = $1, status = $2, last_error = NULL, updated_at = $3 WHERE id = $4")
        .bind(step)
        .bind(status)
        .bind(now().as_millis())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(())
}

async fn set_status(state: &AppState, id: TenantId, status: TenantStatus, error: Option<&str>) -> Result<()> {
    let mut tx = state.central().begin().await?;
    sqlx::query("UPDATE tenants SET status = $1, last_error = $2, updated_at = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(error)
        .bind(now().as_millis())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    if status == TenantStatus::Suspended {
        // No signed-in staff survives a suspension.
        accounts::end_tenant_sessions(&mut tx, id).await?;
    }
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(())
}

async fn record_by_id(state: &AppState, id: TenantId) -> Result<Option<TenantRecord>> {
    let slug: Option<String> = sqlx::query_scalar("SELECT slug FROM tenants WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(state.central().pool())
        .await?;
    match slug {
        Some(s) => Ok(registry::record_by_slug(state.central(), &s).await?),
        None => Ok(None),
    }
}

pub async fn by_slug(state: &AppState, slug: &str) -> Result<TenantRecord> {
    registry::record_by_slug(state.central(), slug).await?.ok_or(TenantError::NotFound)
}

/// Retries a failed creation from the step after the last one that completed.
pub async fn resume(state: &AppState, slug: &str) -> Result<()> {
    let rec = by_slug(state, slug).await?;
    run_steps(state, rec.id).await
}

pub async fn suspend(state: &AppState, slug: &str) -> Result<()> {
    let rec = by_slug(state, slug).await?;
    if rec.is_house {
        return Err(TenantError::Conflict("The house storefront cannot be suspended.".into()));
    }
    match rec.status {
        TenantStatus::Suspended => Ok(()),
        TenantStatus::Active => set_status(state, rec.id, TenantStatus::Suspended, None).await,
        s => Err(TenantError::Conflict(format!("A tenant that is {} cannot be suspended.", s.label().to_lowercase()))),
    }
}

pub async fn unsuspend(state: &AppState, slug: &str) -> Result<()> {
    let rec = by_slug(state, slug).await?;
    match rec.status {
        TenantStatus::Active => Ok(()),
        TenantStatus::Suspended => set_status(state, rec.id, TenantStatus::Active, None).await,
        s => Err(TenantError::Conflict(format!("A tenant that is {} cannot be resumed.", s.label().to_lowercase()))),
    }
}

/// Deletes a tenant and its database. Recorded (`deleting`) first, so an interrupted deletion is
/// finished by running it again; the tenant stops being routed at once.
pub async fn delete(state: &AppState, slug: &str) -> Result<()> {
    let rec = by_slug(state, slug).await?;
    if rec.is_house {
        return Err(TenantError::Conflict("The house storefront cannot be deleted.".into()));
    }
    set_status(state, rec.id, TenantStatus::Deleting, None).await?;
    state.registry().forget_pool(rec.id).await;
    state.failpoints().check("tenant.delete.database")?;
    drop_tenant_database(&rec.db_url).await?;
    let id = rec.id.to_string();
    let mut tx = state.central().begin().await?;
    for sql in [
        "DELETE FROM central_sessions WHERE tenant_id = $1",
        "DELETE FROM staff WHERE tenant_id = $1",
        "DELETE FROM tenant_assets WHERE tenant_id = $1",
        "DELETE FROM tenant_branding WHERE tenant_id = $1",
        "DELETE FROM tenant_domains WHERE tenant_id = $1",
        "DELETE FROM jobs WHERE tenant_id = $1",
        "DELETE FROM outbox WHERE tenant_id = $1",
        "DELETE FROM tenants WHERE id = $1",
    ] {
        sqlx::query(sql).bind(&id).execute(&mut *tx).await?;
    }
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    tracing::info!(tenant = %rec.slug, "tenant deleted");
    Ok(())
}

pub async fn set_terms(state: &AppState, slug: &str, terms: &BillingTerms) -> Result<()> {
    let rec = by_slug(state, slug).await?;
    sqlx::query(
        "UPDATE tenants SET reseller_tier = $1, wholesale_discount_bp = $2, platform_fee_minor = $3, commission_bp = $4, \
         billing_cycle_day = $5, updated_at = $6 WHERE id = $7",
    )
    .bind(terms.tier.as_str())
    .bind(i64::from(terms.wholesale_discount_bp))
    .bind(terms.platform_fee_minor)
    .bind(i64::from(terms.commission_bp))
    .bind(i64::from(terms.billing_cycle_day))
    .bind(now().as_millis())
    .bind(rec.id.to_string())
    .execute(state.central().pool())
    .await?;
    Ok(())
}

/// A tenant's domain as the admin and the reseller see it.
#[derive(Clone, Debug)]
pub struct DomainRecord {
    pub domain: String,
    pub kind: String,
    pub verify_token_id: String,
    pub verify_token: String,
    pub verified_at: Option<i64>,
    pub verified_by: Option<String>,
    pub last_check_error: Option<String>,
    pub tls_asked_at: Option<i64>,
}

pub async fn domains(state: &AppState, tenant: TenantId) -> Result<Vec<DomainRecord>> {
    let rows = sqlx::query(
        "SELECT domain, kind, verify_token_id, verify_token, verified_at, verified_by, last_check_error, tls_asked_at \
         FROM tenant_domains WHERE tenant_id = $1 ORDER BY kind DESC, domain",
    )
    .bind(tenant.to_string())
    .fetch_all(state.central().pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DomainRecord {
                domain: r.try_get(0)?,
                kind: r.try_get(1)?,
                verify_token_id: r.try_get(2)?,
                verify_token: r.try_get(3)?,
                verified_at: r.try_get(4)?,
                verified_by: r.try_get(5)?,
                last_check_error: r.try_get(6)?,
                tls_asked_at: r.try_get(7)?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub async fn add_domain(state: &AppState, slug: &str, raw: &str, primary: bool) -> Result<()> {
    let rec = by_slug(state, slug).await?;
    let d = HostName::parse_domain(raw)
        .map_err(|_| TenantError::Invalid("The domain must be a name like shop.example.com.".into()))?;
    check_custom_domain(state, &d)?;
    let mut tx = state.central().begin().await?;
    if primary {
        sqlx::query("UPDATE tenant_domains SET kind = 'alias' WHERE tenant_id = $1")
            .bind(rec.id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    insert_domain(&mut tx, rec.id, &d, if primary { "primary" } else { "alias" }).await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(())
}

/// A tenant's own domain (primary or alias) is never one of the platform's names: not the platform
/// domain, nothing under it (another storefront's `<slug>.<platform>`, names that could become one), not
/// an admin host or anything under it.
fn check_custom_domain(state: &AppState, d: &HostName) -> Result<()> {
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyBy {
    Dns,
    Http,
    /// A platform admin vouches for it (e.g. a domain we host ourselves).
    Admin,
}

/// Checks a domain's token and, when it is there, marks the domain verified (it starts routing).
/// Returns whether it is verified now.
pub async fn verify_domain(state: &AppState, slug: &str, domain: &str, by: VerifyBy) -> Result<bool> {
    let rec = by_slug(state, slug).await?;
    let d = domains(state, rec.id).await?.into_iter().find(|d| d.domain == domain).ok_or(TenantError::NotFound)?;
    if d.verified_at.is_some() {
        return Ok(true);
    }
    let (ok, method, error) = match by {
        VerifyBy::Admin => (true, "admin", None),
        VerifyBy::Dns => match state.verifier().check_dns(&d.domain, &d.verify_token).await {
            Ok(true) => (true, "dns", None),
            Ok(false) => (
                false,
                "dns",
                Some(format!("No TXT record {} with the token yet.", domain_ownership::txt_record_name(&d.domain))),
            ),
            Err(e) => (false, "dns", Some(e.to_string())),
        },
        VerifyBy::Http => match state.verifier().check_http(&d.domain, &d.verify_token_id, &d.verify_token).await {
            Ok(true) => (true, "http", None),
            Ok(false) => (false, "http", Some("The token was not served at the verification address yet.".into())),
            Err(e) => (false, "http", Some(e.to_string())),
        },
    };
    let t = now().as_millis();
    let mut tx = state.central().begin().await?;
    sqlx::query(
        "UPDATE tenant_domains SET verified_at = $1, verified_by = $2, last_check_at = $3, last_check_error = $4 \
         WHERE domain = $5 AND tenant_id = $6",
    )
    .bind(ok.then_some(t))
    .bind(ok.then_some(method))
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
    let row = sqlx::query("SELECT verify_token FROM tenant_domains WHERE domain = $1 AND verify_token_id = $2")
        .bind(host.as_str())
        .bind(token_id)
        .fetch_optional(state.central().pool())
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Counts for the admin list: customers and workspaces per tenant (read from each tenant's database).
pub async fn counts(state: &AppState, id: TenantId) -> Result<Option<(i64, i64)>> {
    let Some(t) = state.tenant_by_id(id).await? else { return Ok(None) };
    let customers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers").fetch_one(t.db.pool()).await?;
    let workspaces: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workspaces WHERE state <> 'terminated'")
        .fetch_one(t.db.pool())
        .await?;
    Ok(Some((customers, workspaces)))
}
