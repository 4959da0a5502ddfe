//! The platform admin's operations on storefronts. Each does its work, records it in the audit log with
//! the admin and the address they acted from, and answers with the tenant as its page now shows it — so
//! no caller can forget the record, and a server function is one call.

use crate::backend::billing::{collection, trials};
use crate::backend::identity::staff_password;
use crate::backend::resellers::lifecycle::{self, NewTenantInput};
use crate::backend::resellers::overview;
use crate::backend::state::AppState;
use crate::backend::tenancy::{domains, registry, TenantError};
use crate::backend::workspaces::price_book;
use crate::domain::tenant::{BillingTerms, TermsInput, VerifyMethod};
use crate::domain::tenant_billing::WholesaleTerms;
use crate::domain::tenant_view::TenantDetail;

type Result<T, E = TenantError> = std::result::Result<T, E>;

pub use crate::backend::platform::audit::ByAdmin;

/// Records an action on the tenant `slug` (a slug that names no tenant any more is kept in the detail).
async fn audit_on(state: &AppState, by: ByAdmin<'_>, slug: &str, action: &str, detail: &str) -> Result<()> {
    let tenant = registry::record_by_slug(state.central(), slug).await?.map(|r| r.id);
    let detail = if tenant.is_none() { format!("{slug}: {detail}") } else { detail.to_owned() };
    by.record(state.central(), tenant, action, &detail).await?;
    Ok(())
}

/// Creates a tenant and returns its slug. A failure after the reservation still returns the slug: the
/// tenant's page shows the failed step and offers a retry.
pub async fn create(state: &AppState, by: ByAdmin<'_>, input: &NewTenantInput) -> Result<String> {
    let new = lifecycle::validate(input)?;
    let slug = new.slug.as_str().to_owned();
    match lifecycle::create(state, state.settings().central_url.as_str(), new).await {
        Ok(_) => {
            tracing::info!(tenant = %slug, admin = %by.email, "tenant created");
            audit_on(state, by, &slug, "tenant.created", "").await?;
            Ok(slug)
        }
        Err(TenantError::Backend(e)) if lifecycle::by_slug(state, &slug).await.is_ok() => {
            tracing::error!(tenant = %slug, error = %e, "tenant creation stopped; retry from its page");
            Ok(slug)
        }
        Err(e) => Err(e),
    }
}

/// Continues a stopped creation from its last step. A step that fails again is recorded on the tenant
/// and shown on its page, so it is not an error of this call.
pub async fn retry(state: &AppState, by: ByAdmin<'_>, slug: &str) -> Result<TenantDetail> {
    match lifecycle::resume(state, slug).await {
        Ok(()) | Err(TenantError::Backend(_)) => {}
        Err(e) => return Err(e),
    }
    audit_on(state, by, slug, "tenant.creation_retried", "").await?;
    overview::detail(state, slug).await
}

/// Sends the owner a fresh welcome email (their earlier link stops working), while they have no password.
pub async fn resend_welcome(state: &AppState, by: ByAdmin<'_>, slug: &str) -> Result<TenantDetail> {
    let rec = lifecycle::by_slug(state, slug).await?;
    let tenant = state
        .tenant_by_id(rec.id)
        .await?
        .ok_or_else(|| TenantError::Conflict("The storefront is not active yet: finish its creation first.".into()))?;
    if !staff_password::send_welcome(state, &tenant).await? {
        return Err(TenantError::Conflict("The owner has already chosen a password.".into()));
    }
    audit_on(state, by, slug, "tenant.welcome_resent", &rec.owner_email).await?;
    overview::detail(state, slug).await
}

pub async fn suspend(state: &AppState, by: ByAdmin<'_>, slug: &str) -> Result<TenantDetail> {
    lifecycle::suspend(state, slug).await?;
    tracing::info!(tenant = %slug, admin = %by.email, "tenant suspended");
    audit_on(state, by, slug, "tenant.suspended", "").await?;
    overview::detail(state, slug).await
}

pub async fn unsuspend(state: &AppState, by: ByAdmin<'_>, slug: &str) -> Result<TenantDetail> {
    lifecycle::unsuspend(state, slug).await?;
    tracing::info!(tenant = %slug, admin = %by.email, "tenant resumed");
    audit_on(state, by, slug, "tenant.resumed", "").await?;
    overview::detail(state, slug).await
}

/// Deletes a tenant with its database. `confirm` is the slug typed again.
pub async fn delete(state: &AppState, by: ByAdmin<'_>, slug: &str, confirm: &str) -> Result<()> {
    if confirm.trim() != slug {
        return Err(TenantError::Invalid("Type the tenant's short name to confirm the deletion.".into()));
    }
    let rec = lifecycle::by_slug(state, slug).await?;
    lifecycle::delete(state, slug).await?;
    tracing::warn!(tenant = %slug, admin = %by.email, "tenant deleted");
    // Recorded against the id it had: the slug no longer resolves.
    by.record(state.central(), Some(rec.id), "tenant.deleted", slug).await?;
    Ok(())
}

/// Sets the wholesale terms from the form's fields (checked against the tenant's currency).
pub async fn set_terms(state: &AppState, by: ByAdmin<'_>, slug: &str, input: &TermsInput<'_>) -> Result<TenantDetail> {
    let rec = lifecycle::by_slug(state, slug).await?;
    let terms = BillingTerms::parse(input, rec.currency).map_err(|e| TenantError::Invalid(e.to_string()))?;
    if !price_book::tiers(state.central()).await?.iter().any(|t| t.name == terms.tier.as_str()) {
        return Err(TenantError::Invalid(format!("There is no reseller tier \"{}\".", terms.tier)));
    }
    lifecycle::set_terms(state, slug, &terms).await?;
    let summary = format!(
        "tier {}, discount {} bp, fee {} minor, commission {} bp, day {}",
        terms.tier.as_str(),
        terms.wholesale_discount_bp,
        terms.platform_fee_minor,
        terms.commission_bp,
        terms.billing_cycle_day
    );
    audit_on(state, by, slug, "tenant.terms_changed", &summary).await?;
    overview::detail(state, slug).await
}

/// Sets the reseller's wholesale payment terms (due, grace, suspension delay in days). A new payment term
/// applies to invoices issued from now; the grace and suspension delays apply at once, so the billing
/// status is decided again now.
pub async fn set_wholesale_terms(
    state: &AppState,
    by: ByAdmin<'_>,
    slug: &str,
    due_days: &str,
    grace_days: &str,
    suspend_days: &str,
) -> Result<TenantDetail> {
    let rec = lifecycle::by_slug(state, slug).await?;
    let t = WholesaleTerms::parse(due_days, grace_days, suspend_days).map_err(TenantError::Invalid)?;
    sqlx::query(
        "UPDATE tenants SET wholesale_due_days = $1, wholesale_grace_days = $2, wholesale_suspend_days = $3 WHERE id = $4",
    )
    .bind(i64::from(t.due_days))
    .bind(i64::from(t.grace_days))
    .bind(i64::from(t.suspend_days))
    .bind(rec.id.to_string())
    .execute(state.central().pool())
    .await?;
    let summary =
        format!("due {} days, grace {} days, suspended {} days later", t.due_days, t.grace_days, t.suspend_days);
    audit_on(state, by, slug, "tenant.wholesale_terms_changed", &summary).await?;
    collection::refresh_status(state, rec.id).await?;
    overview::detail(state, slug).await
}

/// Extends the reseller's trial by `days` (see `billing::trials::extend`).
pub async fn extend_trial(state: &AppState, by: ByAdmin<'_>, slug: &str, days: &str) -> Result<TenantDetail> {
    let rec = lifecycle::by_slug(state, slug).await?;
    trials::extend(state, by, rec.id, days).await?;
    overview::detail(state, slug).await
}

/// Runs the collection pass for this tenant now: charges due, reminders, its billing status.
pub async fn collect_now(state: &AppState, by: ByAdmin<'_>, slug: &str) -> Result<TenantDetail> {
    let rec = lifecycle::by_slug(state, slug).await?;
    let r = collection::pass_for(state, rec.id).await?;
    let summary = format!("{} charged, {} reminded, {} status changes", r.charged, r.reminded, r.status_changes);
    audit_on(state, by, slug, "tenant.collection_run", &summary).await?;
    overview::detail(state, slug).await
}

pub async fn add_domain(
    state: &AppState,
    by: ByAdmin<'_>,
    slug: &str,
    domain: &str,
    primary: bool,
) -> Result<TenantDetail> {
    domains::add_domain(state, slug, domain, primary).await?;
    audit_on(state, by, slug, "domain.added", domain.trim()).await?;
    overview::detail(state, slug).await
}

pub async fn remove_domain(state: &AppState, by: ByAdmin<'_>, slug: &str, domain: &str) -> Result<TenantDetail> {
    domains::remove_domain(state, slug, domain).await?;
    audit_on(state, by, slug, "domain.removed", domain).await?;
    overview::detail(state, slug).await
}

/// Checks a domain's token now (or takes the admin's word for it); only a verification is recorded.
pub async fn verify_domain(
    state: &AppState,
    by: ByAdmin<'_>,
    slug: &str,
    domain: &str,
    method: VerifyMethod,
) -> Result<TenantDetail> {
    if domains::verify_domain(state, slug, domain, method).await? {
        audit_on(state, by, slug, "domain.verified", &format!("{domain} by {}", method.as_str())).await?;
        let rec = lifecycle::by_slug(state, slug).await?;
        super::own_domains::announce_live(state, rec.id, domain).await?;
    }
    overview::detail(state, slug).await
}

/// Who an admin wants to act as on a storefront.
#[derive(Clone, Debug)]
pub enum ActAs {
    /// The storefront's (first) owner.
    Owner,
    /// The customer with this email address.
    Customer(String),
}

/// Issues a single-use "act as" handle (valid for 60 seconds) and returns the URL on the tenant's own
/// platform host that redeems it — with the scheme and port of `origin`, the admin's own address — so the
/// session cookie is that host's. Recorded in the audit log with whom.
pub async fn impersonate(state: &AppState, by: ByAdmin<'_>, slug: &str, who: &ActAs, origin: &str) -> Result<String> {
    use crate::backend::identity::accounts::{self, ImpersonationTarget, StaffRole};
    use crate::backend::identity::customers;
    let rec = lifecycle::by_slug(state, slug).await?;
    let (kind, id, whom) = match who {
        ActAs::Owner => {
            let owner = accounts::list_staff(state.central(), rec.id)
                .await?
                .into_iter()
                .find(|m| m.role == StaffRole::Owner)
                .ok_or(TenantError::NotFound)?;
            (ImpersonationTarget::Staff, owner.id, owner.email)
        }
        ActAs::Customer(email) => {
            let tenant = state.tenant_by_id(rec.id).await?.ok_or(TenantError::NotFound)?;
            let (id, _) = customers::find_login(&tenant.db, email.trim()).await?.ok_or(TenantError::NotFound)?;
            (ImpersonationTarget::Customer, id.to_string(), email.trim().to_lowercase())
        }
    };
    let token = accounts::issue_impersonation(state.central(), rec.id, kind, &id, by.email).await?;
    by.record(state.central(), Some(rec.id), "impersonation.issued", &whom).await?;
    let (scheme, rest) = origin.split_once("://").unwrap_or(("https", ""));
    let port = rest.rsplit_once(':').map(|(_, p)| format!(":{p}")).unwrap_or_default();
    let host = format!("{}.{}", rec.slug, state.registry().sites().platform_domain);
    Ok(format!("{scheme}://{host}{port}/impersonate?token={token}"))
}
