//! A reseller's storefront from creation to deletion: creation as a recorded, resumable sequence (its
//! database, owner account and catalog); suspension; deletion with its database; billing terms. It sits
//! above identity and workspaces because creating a storefront creates its owner and its catalog.
//!
//! Creation first *reserves* the tenant in one central transaction (tenant row in `creating`, its primary
//! domain, its owner), so a taken slug or domain is refused before anything exists. Then each step runs
//! and records itself in `creation_step`: database → migrated → seeded → branded → active. Every step is
//! idempotent and the database URL is fixed at reservation, so a retry after any failure continues where
//! it stopped and never makes a second database. A failure leaves status `failed` with the reason; the
//! admin can retry, or delete (which drops whatever was made).

use crate::backend::corrupt;
use crate::backend::identity::accounts::{self, StaffRole};
use crate::backend::identity::{auth, staff_password};
use crate::backend::platform::db::{drop_tenant_database, is_unique_violation, now, tenant_db_url, Engine, TenantDb};
use crate::backend::platform::host::HostName;
use crate::backend::state::AppState;
use crate::backend::tenancy::db_servers;
use crate::backend::tenancy::registry::{self, bump_version, TenantRecord};
use crate::backend::tenancy::{domains, TenantError};
use crate::backend::workspaces::catalog::{self, Plan};
use crate::domain::branding::Theme;
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;
use crate::domain::money::Rate;
use crate::domain::plan::PlanCode;
use crate::domain::tenant::{BillingTerms, CreationStep, DomainKind, Slug, TenantStatus};
use crate::domain::tenant_billing::TenantBillingStatus;

type Result<T, E = TenantError> = std::result::Result<T, E>;

/// A new tenant, every field already checked.
#[derive(Clone, Debug)]
pub struct NewTenant {
    pub name: String,
    pub slug: Slug,
    pub owner_email: String,
    pub owner_name: String,
    /// Only ever `Some` in development (the CLI's `--owner-password`, the demo storefront): everywhere
    /// else the owner chooses their password from the welcome email, and nobody else ever knows it.
    pub owner_password: Option<String>,
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
    /// Development only (see [`NewTenant::owner_password`]); the admin app never sends one.
    pub owner_password: Option<String>,
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
    if let Some(p) = &input.owner_password {
        if p.chars().count() < 10 || p.len() > 1024 {
            return Err(TenantError::Invalid("The owner's first password needs at least 10 characters.".into()));
        }
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

/// A plausible address (see [`crate::domain::email::parse_email`]), or `Invalid` saying what is expected.
pub fn parse_email(raw: &str) -> Result<String> {
    crate::domain::email::parse_email(raw)
        .ok_or_else(|| TenantError::Invalid(crate::domain::email::INVALID_EMAIL.into()))
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
        domains::check_custom_domain(state, d)?;
    }
    let id = TenantId::new_random();
    // PostgreSQL: on the database server with the most room; SQLite: next to the central database.
    let (db_server, db_url) = match state.central().engine() {
        Engine::Postgres => {
            let server = db_servers::place(state.central(), central_url).await?;
            let url = server.tenant_url(central_url, new.slug.as_str())?;
            (Some(server.name), url)
        }
        Engine::Sqlite => (None, tenant_db_url(central_url, new.slug.as_str())?),
    };
    let hash = match &new.owner_password {
        Some(p) => auth::hash_password(p.clone()).await?,
        None => staff_password::NO_PASSWORD.to_owned(),
    };
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
         owner_email, creation_step, trial_ends_at, billing_status, db_server) \
         VALUES ($1, $2, $3, 'creating', 0, $4, $5, $6, $6, $7, 'validated', $8, $9, $10)",
    )
    .bind(id.to_string())
    .bind(new.slug.as_str())
    .bind(&new.name)
    .bind(new.currency.code())
    .bind(&db_url)
    .bind(t)
    .bind(&new.owner_email)
    .bind(trial)
    // A trial starts with the tenant: no platform fee until it ends (`collection` decides the end).
    .bind((if trial.is_some() { TenantBillingStatus::Trial } else { TenantBillingStatus::Active }).as_str())
    .bind(db_server)
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
        domains::insert(&mut tx, id, d, DomainKind::Primary).await?;
    }
    accounts::ensure_staff(&mut tx, id, &new.owner_email, &new.owner_name, StaffRole::Owner, &hash).await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    tracing::info!(tenant = %new.slug, "tenant reserved");
    Ok(id)
}

/// Runs the remaining creation steps of a tenant in `creating` (or `failed`, when retried).
pub async fn run_steps(state: &AppState, id: TenantId) -> Result<()> {
    let rec = record_by_id(state, id).await?.ok_or(TenantError::NotFound)?;
    if rec.status == TenantStatus::Active || rec.creation_step == CreationStep::Done {
        return Ok(());
    }
    if !matches!(rec.status, TenantStatus::Creating | TenantStatus::Failed) {
        return Err(TenantError::Conflict(format!("The tenant is {}.", rec.status.label().to_lowercase())));
    }
    set_status(state, id, TenantStatus::Creating, None).await?;
    for &step in rec.creation_step.remaining() {
        if let Err(e) = run_step(state, &rec, step).await {
            let reason = format!("step \"{step}\" failed: {e}");
            tracing::error!(tenant = %rec.slug, error = %e, step = step.as_str(), "tenant creation step failed");
            set_status(state, id, TenantStatus::Failed, Some(&reason)).await?;
            return Err(e);
        }
        record_step(state, id, step).await?;
    }
    tracing::info!(tenant = %rec.slug, "tenant active");
    welcome_owner(state, id, &rec.slug).await;
    Ok(())
}

/// The owner's welcome email with their "choose your password" link, once the storefront is live. A
/// failure to queue it does not undo the storefront: it is logged, and the admin's tenant page shows that
/// the owner has no password yet, with a button that sends a fresh welcome.
async fn welcome_owner(state: &AppState, id: TenantId, slug: &str) {
    let sent = match state.tenant_by_id(id).await {
        Ok(Some(tenant)) => staff_password::send_welcome(state, &tenant).await.map(|_| ()),
        Ok(None) => Err(crate::backend::corrupt("an active tenant has no database")),
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        tracing::error!(tenant = %slug, error = %e, "the owner's welcome email could not be queued; resend it from the tenant's page");
    }
}

async fn run_step(state: &AppState, rec: &TenantRecord, step: CreationStep) -> Result<()> {
    state.failpoints().check(&format!("tenant.create.{step}"))?;
    match step {
        // Creating is idempotent (an existing database is reused), so a retry never makes a second one.
        CreationStep::Database => TenantDb::create(&rec.db_url).await?,
        CreationStep::Migrated => {
            let db = TenantDb::create_and_migrate(&rec.db_url).await?;
            db.close().await;
        }
        CreationStep::Seeded => {
            let db = TenantDb::connect(&rec.db_url).await?;
            let seeded = seed_catalog(&db, rec.currency).await;
            db.close().await;
            seeded?;
        }
        CreationStep::Branded => {
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
        CreationStep::Validated | CreationStep::Done => {}
    }
    Ok(())
}

async fn record_step(state: &AppState, id: TenantId, step: CreationStep) -> Result<()> {
    let mut tx = state.central().begin().await?;
    let status = if step == CreationStep::Done { TenantStatus::Active } else { TenantStatus::Creating };
    sqlx::query("UPDATE tenants SET creation_step = $1, status = $2, last_error = NULL, updated_at = $3 WHERE id = $4")
        .bind(step.as_str())
        .bind(status.as_str())
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
        "DELETE FROM staff_password_tokens WHERE tenant_id = $1",
        "DELETE FROM staff_invites WHERE tenant_id = $1",
        "DELETE FROM tenant_payment_settings WHERE tenant_id = $1",
        "DELETE FROM impersonation_tokens WHERE tenant_id = $1",
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
    // The tier decides which rows of the price book apply: the registry's version moves with it, so pages
    // showing prices drop the book they keep.
    let mut tx = state.central().begin().await?;
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
    .execute(&mut *tx)
    .await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(())
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

/// The six plans at the seed's prices. Idempotent: existing plans are left as they are.
pub async fn seed_catalog(db: &TenantDb, currency: Currency) -> crate::backend::Result<()> {
    crate::backend::billing::subscriptions::seed_plans(db, currency).await?;
    for (i, code) in PlanCode::ALL.into_iter().enumerate() {
        let spec = code.spec();
        let rate = |s: &str| Rate::parse(s, currency).map_err(|_| corrupt(format!("seed rate {s}")));
        let plan = Plan {
            code,
            name: spec.name.to_owned(),
            summary: spec.summary.to_owned(),
            vcpu: i64::from(spec.vcpu),
            ram_gb: i64::from(spec.ram_gb),
            kasm_image: spec.kasm_image.to_owned(),
            retail: rate(spec.retail_per_hour)?,
        };
        catalog::ensure_plan(db, &plan, i64::try_from(i).unwrap_or(0)).await?;
    }
    Ok(())
}
