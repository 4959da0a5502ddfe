//! The platform admin's view of storefronts: the tenants list and one tenant's detail, as the admin
//! pages show them.

use crate::backend::billing::{collection, trials};
use crate::backend::identity::staff_password;
use crate::backend::resellers::lifecycle;
use crate::backend::state::AppState;
use crate::backend::tenancy::{domain_ownership, domains, registry, TenantError};
use crate::backend::workspaces::price_book;
use crate::domain::money::Money;
use crate::domain::tenant::{bp_to_percent, DomainKind, TlsState};
use crate::domain::tenant_view::{DomainView, TenantDetail, TenantSummary};
use crate::domain::time::Timestamp;

/// Every tenant with its counts and primary domain. A tenant whose database cannot answer still appears
/// (without counts): the list is where an admin finds a broken one.
pub async fn list(state: &AppState) -> Result<Vec<TenantSummary>, TenantError> {
    let mut out = Vec::new();
    for rec in registry::list_records(state.central()).await? {
        let counts = lifecycle::counts(state, rec.id).await.unwrap_or_else(|e| {
            tracing::warn!(tenant = %rec.slug, error = %e, "tenant counts unavailable");
            None
        });
        let primary = domains::domains(state, rec.id).await?.into_iter().find(|d| d.kind == DomainKind::Primary);
        out.push(TenantSummary {
            billing_status: collection::status(state.central(), rec.id).await?,
            slug: rec.slug,
            name: rec.name,
            status: rec.status,
            is_house: rec.is_house,
            customers: counts.map(|c| c.0),
            workspaces: counts.map(|c| c.1),
            primary_domain: primary.map(|d| d.domain),
            created_at: Timestamp::from_millis(rec.created_at),
        });
    }
    Ok(out)
}

/// A domain as the admin's and the reseller's pages show it: its state and what to publish to verify it.
pub fn domain_view(d: domains::DomainRecord) -> DomainView {
    DomainView {
        txt_name: domain_ownership::txt_record_name(&d.domain),
        txt_value: domain_ownership::txt_record_value(&d.verify_token),
        http_path: domain_ownership::http_token_path(&d.verify_token_id),
        primary: d.kind == DomainKind::Primary,
        verified: d.verified_at.is_some(),
        verified_by: d.verified_by,
        last_check_error: d.last_check_error,
        next_check_at: d.next_check_at.map(Timestamp::from_millis),
        tls: TlsState::of(d.verified_at.is_some(), d.tls_asked_at.is_some()),
        domain: d.domain,
    }
}

/// One tenant: its state, terms (also as the form shows them), domains with what the reseller publishes
/// to verify each, and counts.
pub async fn detail(state: &AppState, slug: &str) -> Result<TenantDetail, TenantError> {
    let rec = lifecycle::by_slug(state, slug).await?;
    let counts = lifecycle::counts(state, rec.id).await.unwrap_or(None);
    let domains = domains::domains(state, rec.id).await?.into_iter().map(domain_view).collect();
    let fee = Money::from_minor(rec.terms.platform_fee_minor, rec.currency);
    let owner_has_password = staff_password::owner_has_password(state, rec.id).await?;
    let trial = trials::get(state.central(), rec.id).await?;
    let card = collection::account(state.central(), rec.id).await?;
    Ok(TenantDetail {
        owner_has_password,
        platform_host: format!("{}.{}", rec.slug, state.registry().sites().platform_domain),
        slug: rec.slug,
        name: rec.name,
        status: rec.status,
        is_house: rec.is_house,
        owner_email: rec.owner_email,
        currency: rec.currency.code().to_owned(),
        creation_step: rec.creation_step,
        last_error: rec.last_error,
        trial_ends_at: rec.trial_ends_at.map(Timestamp::from_millis),
        trial_converted_at: trial.converted_at,
        billing_status: collection::status(state.central(), rec.id).await?,
        wholesale_terms: collection::terms(state.central(), rec.id).await?,
        platform_card: card.payment_method_id.and(card.card_label),
        created_at: Timestamp::from_millis(rec.created_at),
        discount_percent: bp_to_percent(rec.terms.wholesale_discount_bp),
        platform_fee: fee.to_decimal().to_string(),
        commission_percent: bp_to_percent(rec.terms.commission_bp),
        terms: rec.terms,
        tiers: price_book::tiers(state.central()).await?.into_iter().map(|t| (t.name, t.label)).collect(),
        domains,
        customers: counts.map(|c| c.0),
        workspaces: counts.map(|c| c.1),
    })
}
