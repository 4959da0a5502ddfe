//! A new reseller's way to a working business, as `/manage` shows it: the onboarding checklist, read from
//! what is really there (each step ticks itself), and what the reseller guide needs to speak about their
//! own storefront (its addresses, the records to publish, their terms).

use crate::backend::billing::payments;
use crate::backend::identity::staff_password;
use crate::backend::platform::audit::{self, Actor};
use crate::backend::platform::db::now;
use crate::backend::resellers::{lifecycle, overview};
use crate::backend::state::{AppState, Tenant};
use crate::backend::tenancy::{branding, domains, TenantError};
use crate::domain::branding::Theme;
use crate::domain::money::Money;
use crate::domain::onboarding::{Checklist, OnboardingStep};
use crate::domain::tenant::bp_to_percent;
use crate::domain::tenant_view::ResellerGuide;

type Result<T, E = TenantError> = std::result::Result<T, E>;

/// Which onboarding steps the storefront has done, each read from its real state.
pub async fn checklist(state: &AppState, tenant: &Tenant) -> Result<Checklist> {
    let central = state.central();
    let mut done = Vec::new();
    if staff_password::owner_has_password(state, tenant.id).await? {
        done.push(OnboardingStep::PasswordSet);
    }
    if let Some(b) = branding::get(central, tenant.id).await? {
        // Their own logo, and colours other than the ones every new storefront starts with.
        let stock = Theme::default_for("");
        if b.logo_sha.is_some() && (b.theme.primary != stock.primary || b.theme.secondary != stock.secondary) {
            done.push(OnboardingStep::Branded);
        }
    }
    let domains = domains::domains(state, tenant.id).await?;
    if domains.iter().any(|d| d.verified_at.is_some()) {
        done.push(OnboardingStep::DomainVerified);
    }
    if payments::enabled(state, tenant).await? {
        done.push(OnboardingStep::StripeKeys);
    }
    let reviewed: Option<i64> = sqlx::query_scalar("SELECT prices_reviewed_at FROM tenants WHERE id = $1")
        .bind(tenant.id.to_string())
        .fetch_optional(central.pool())
        .await?
        .flatten();
    if reviewed.is_some() {
        done.push(OnboardingStep::PricesReviewed);
    }
    // A customer counts once they confirmed their address (an unconfirmed sign-up cannot order).
    let customers: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM customers WHERE email_verified_at IS NOT NULL LIMIT 1) c",
    )
    .fetch_one(tenant.db.pool())
    .await?;
    if customers > 0 {
        done.push(OnboardingStep::FirstCustomer);
    }
    let paid: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM invoices WHERE kind = 'invoice' AND status = 'paid' LIMIT 1) p",
    )
    .fetch_one(tenant.db.pool())
    .await?;
    if paid > 0 {
        done.push(OnboardingStep::FirstPaidInvoice);
    }
    Ok(Checklist { done })
}

/// The reseller confirms their retail prices as they are (saving a price counts too, see
/// `workspaces::catalog::reprice_by`). Recorded the first time only; later confirmations change nothing.
pub async fn confirm_prices_by(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    actor: &Actor<'_>,
    tenant: &Tenant,
) -> Result<Checklist> {
    let first = sqlx::query("UPDATE tenants SET prices_reviewed_at = $1 WHERE id = $2 AND prices_reviewed_at IS NULL")
        .bind(now().as_millis())
        .bind(tenant.id.to_string())
        .execute(state.central().pool())
        .await?
        .rows_affected();
    if first > 0 {
        audit::record_by(state.central(), ip, actor, Some(tenant.id), "prices.reviewed", "").await?;
    }
    checklist(state, tenant).await
}

/// What the reseller guide says about this storefront in particular.
pub async fn guide(state: &AppState, tenant: &Tenant) -> Result<ResellerGuide> {
    let rec = lifecycle::by_slug(state, &tenant.slug).await?;
    let domains = domains::domains(state, tenant.id).await?;
    Ok(ResellerGuide {
        platform_host: format!("{}.{}", rec.slug, state.registry().sites().platform_domain),
        domains: domains.into_iter().map(overview::domain_view).collect(),
        currency: rec.currency,
        discount_percent: bp_to_percent(rec.terms.wholesale_discount_bp),
        platform_fee: Money::from_minor(rec.terms.platform_fee_minor, rec.currency),
        commission_percent: bp_to_percent(rec.terms.commission_bp),
        billing_cycle_day: rec.terms.billing_cycle_day,
    })
}
