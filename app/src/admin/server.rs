//! Server functions of the admin app. Each one answers only on the admin host and only to a signed-in
//! platform admin; everything else gets "not found" (the admin surface does not exist on storefronts).

use leptos::prelude::*;

use super::model::{AdminMe, TenantDetail, TenantSummary};
use crate::error::AppError;

#[cfg(feature = "ssr")]
pub(crate) mod guard {
    use crate::backend::identity::accounts::PlatformAdmin;
    use crate::backend::request;
    use crate::backend::state::AppState;
    use crate::error::AppError;

    /// The signed-in platform admin, on the admin host (the same extractor handlers use).
    pub async fn admin() -> Result<(AppState, PlatformAdmin), AppError> {
        let (state, me) = request::admin().await?;
        Ok((state, me.admin))
    }

    /// Records an admin action on a tenant in the audit log.
    pub async fn audit(
        state: &AppState,
        admin: &PlatformAdmin,
        slug: &str,
        action: &str,
        detail: &str,
    ) -> Result<(), AppError> {
        use crate::backend::platform::audit::{self, ActorKind};
        let tenant = crate::backend::tenancy::registry::record_by_slug(state.central(), slug).await?.map(|r| r.id);
        let detail = if tenant.is_none() { format!("{slug}: {detail}") } else { detail.to_owned() };
        audit::record(
            state.central(),
            crate::backend::request::client_ip(),
            ActorKind::Admin,
            &admin.email,
            tenant,
            action,
            &detail,
        )
        .await?;
        Ok(())
    }
}

#[server(prefix = "/api", endpoint = "admin_me")]
pub async fn current_admin() -> Result<Option<AdminMe>, AppError> {
    match guard::admin().await {
        Ok((_, a)) => Ok(Some(AdminMe { name: a.name, email: a.email })),
        Err(AppError::NotSignedIn) => Ok(None),
        Err(e) => Err(e),
    }
}

#[server(prefix = "/api", endpoint = "admin_login")]
pub async fn admin_login(email: String, password: String) -> Result<(), AppError> {
    use crate::backend::identity::accounts::{self, ADMIN_COOKIE};
    use crate::backend::platform::audit::{self, ActorKind};
    use crate::backend::platform::limits::Role;
    use crate::backend::{identity::auth, request, resellers::lifecycle};
    let state = request::require_admin_site()?;
    if email.len() > 254 || password.len() > 1024 {
        return Err(AppError::BadCredentials);
    }
    request::limit_attempt(&state, Role::Admin, &format!("admin:{email}"))?;
    let Some(admin) = accounts::admin_login(state.central(), &email, &password).await? else {
        request::sign_in_failed(&state, Role::Admin);
        // Audited with the client's address (the limits above bound how many rows a guesser can add). The
        // name typed is recorded only if it is an email address: a password typed into the wrong field
        // must not end up in the log.
        let tried = lifecycle::parse_email(&email).unwrap_or_else(|_| "(not an email address)".to_owned());
        audit::record(
            state.central(),
            crate::backend::request::client_ip(),
            ActorKind::Admin,
            &tried,
            None,
            "admin.sign_in_failed",
            "wrong email or password",
        )
        .await?;
        return Err(AppError::BadCredentials);
    };
    if let Some(old) = request::cookie(ADMIN_COOKIE) {
        accounts::end_session(state.central(), &old).await?;
    }
    // Admin sessions are short: 12 hours.
    let ttl = std::time::Duration::from_secs(12 * 3600);
    let token = accounts::create_session(
        state.central(),
        accounts::SessionKind::Admin,
        &admin.id,
        None,
        auth::expires_in_ms(ttl),
    )
    .await?;
    let max_age = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    request::set_cookie(&accounts::cookie(ADMIN_COOKIE, &token, max_age, state.settings().secure_cookies));
    Ok(())
}

#[server(prefix = "/api", endpoint = "admin_logout")]
pub async fn admin_logout() -> Result<(), AppError> {
    use crate::backend::identity::accounts::{self, ADMIN_COOKIE};
    use crate::backend::request;
    let state = request::require_admin_site()?;
    if let Some(token) = request::cookie(ADMIN_COOKIE) {
        accounts::end_session(state.central(), &token).await?;
    }
    request::set_cookie(&accounts::cookie(ADMIN_COOKIE, "", 0, state.settings().secure_cookies));
    Ok(())
}

/// Ends every session of the signed-in admin, on every device.
#[server(prefix = "/api", endpoint = "admin_logout_everywhere")]
pub async fn admin_logout_everywhere() -> Result<u64, AppError> {
    use crate::backend::identity::accounts::{self, ADMIN_COOKIE};
    use crate::backend::request;
    let (state, admin) = guard::admin().await?;
    let n = accounts::end_user_sessions(state.central(), &admin.id).await?;
    request::set_cookie(&accounts::cookie(ADMIN_COOKIE, "", 0, state.settings().secure_cookies));
    Ok(n)
}

#[server(prefix = "/api", endpoint = "admin_tenants")]
pub async fn list_tenants() -> Result<Vec<TenantSummary>, AppError> {
    use crate::backend::{resellers::lifecycle, tenancy::registry};
    use crate::domain::tenant::DomainKind;
    use crate::domain::time::Timestamp;
    let (state, _) = guard::admin().await?;
    let mut out = Vec::new();
    for rec in registry::list_records(state.central()).await? {
        let counts = lifecycle::counts(&state, rec.id).await.unwrap_or_else(|e| {
            tracing::warn!(tenant = %rec.slug, error = %e, "tenant counts unavailable");
            None
        });
        let primary = crate::backend::tenancy::domains::domains(&state, rec.id)
            .await?
            .into_iter()
            .find(|d| d.kind == DomainKind::Primary);
        out.push(TenantSummary {
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

/// Creates a tenant and returns its slug. A failure after the reservation still returns the slug: the
/// tenant's page shows the failed step and offers a retry.
#[server(prefix = "/api", endpoint = "admin_create_tenant")]
pub async fn create_tenant(
    name: String,
    slug: String,
    owner_email: String,
    owner_password: String,
    primary_domain: String,
    currency: String,
    trial_days: String,
) -> Result<String, AppError> {
    use crate::backend::resellers::lifecycle::{self, NewTenantInput};
    use crate::backend::tenancy::TenantError;
    let (state, admin) = guard::admin().await?;
    let input = NewTenantInput { name, slug, owner_email, owner_password, primary_domain, currency, trial_days };
    let new = lifecycle::validate(&input)?;
    let slug = new.slug.as_str().to_owned();
    match lifecycle::create(&state, state.settings().central_url.as_str(), new).await {
        Ok(_) => {
            tracing::info!(tenant = %slug, admin = %admin.email, "tenant created");
            guard::audit(&state, &admin, &slug, "tenant.created", "").await?;
            Ok(slug)
        }
        Err(TenantError::Backend(e)) if lifecycle::by_slug(&state, &slug).await.is_ok() => {
            tracing::error!(tenant = %slug, error = %e, "tenant creation stopped; retry from its page");
            Ok(slug)
        }
        Err(e) => Err(e.into()),
    }
}

#[server(prefix = "/api", endpoint = "admin_tenant")]
pub async fn get_tenant(slug: String) -> Result<TenantDetail, AppError> {
    let (state, _) = guard::admin().await?;
    detail(&state, &slug).await
}

#[cfg(feature = "ssr")]
async fn detail(state: &crate::backend::state::AppState, slug: &str) -> Result<TenantDetail, AppError> {
    use super::model::DomainView;
    use crate::backend::{resellers::lifecycle, tenancy::domain_ownership};
    use crate::domain::money::Money;
    use crate::domain::tenant::{bp_to_percent, DomainKind, TlsState};
    use crate::domain::time::Timestamp;
    let rec = lifecycle::by_slug(state, slug).await?;
    let counts = lifecycle::counts(state, rec.id).await.unwrap_or(None);
    let domains = crate::backend::tenancy::domains::domains(state, rec.id)
        .await?
        .into_iter()
        .map(|d| DomainView {
            txt_name: domain_ownership::txt_record_name(&d.domain),
            txt_value: domain_ownership::txt_record_value(&d.verify_token),
            http_path: domain_ownership::http_token_path(&d.verify_token_id),
            primary: d.kind == DomainKind::Primary,
            verified: d.verified_at.is_some(),
            verified_by: d.verified_by,
            last_check_error: d.last_check_error,
            tls: TlsState::of(d.verified_at.is_some(), d.tls_asked_at.is_some()),
            domain: d.domain,
        })
        .collect();
    let fee = Money::from_minor(rec.terms.platform_fee_minor, rec.currency);
    Ok(TenantDetail {
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
        created_at: Timestamp::from_millis(rec.created_at),
        discount_percent: bp_to_percent(rec.terms.wholesale_discount_bp),
        platform_fee: fee.to_decimal().to_string(),
        commission_percent: bp_to_percent(rec.terms.commission_bp),
        terms: rec.terms,
        domains,
        customers: counts.map(|c| c.0),
        workspaces: counts.map(|c| c.1),
    })
}

#[server(prefix = "/api", endpoint = "admin_retry_tenant")]
pub async fn retry_tenant(slug: String) -> Result<TenantDetail, AppError> {
    use crate::backend::resellers::lifecycle;
    use crate::backend::tenancy::TenantError;
    let (state, _) = guard::admin().await?;
    match lifecycle::resume(&state, &slug).await {
        // The failure is recorded on the tenant and shown on its page.
        Ok(()) | Err(TenantError::Backend(_)) => detail(&state, &slug).await,
        Err(e) => Err(e.into()),
    }
}

#[server(prefix = "/api", endpoint = "admin_suspend_tenant")]
pub async fn suspend_tenant(slug: String) -> Result<TenantDetail, AppError> {
    let (state, admin) = guard::admin().await?;
    crate::backend::resellers::lifecycle::suspend(&state, &slug).await?;
    tracing::info!(tenant = %slug, admin = %admin.email, "tenant suspended");
    guard::audit(&state, &admin, &slug, "tenant.suspended", "").await?;
    detail(&state, &slug).await
}

#[server(prefix = "/api", endpoint = "admin_unsuspend_tenant")]
pub async fn unsuspend_tenant(slug: String) -> Result<TenantDetail, AppError> {
    let (state, admin) = guard::admin().await?;
    crate::backend::resellers::lifecycle::unsuspend(&state, &slug).await?;
    tracing::info!(tenant = %slug, admin = %admin.email, "tenant resumed");
    guard::audit(&state, &admin, &slug, "tenant.resumed", "").await?;
    detail(&state, &slug).await
}

/// Deletes a tenant with its database. The admin types the slug again to confirm.
#[server(prefix = "/api", endpoint = "admin_delete_tenant")]
pub async fn delete_tenant(slug: String, confirm: String) -> Result<(), AppError> {
    let (state, admin) = guard::admin().await?;
    if confirm.trim() != slug {
        return Err(AppError::Invalid("Type the tenant's short name to confirm the deletion.".into()));
    }
    let rec = crate::backend::resellers::lifecycle::by_slug(&state, &slug).await?;
    crate::backend::resellers::lifecycle::delete(&state, &slug).await?;
    tracing::warn!(tenant = %slug, admin = %admin.email, "tenant deleted");
    crate::backend::platform::audit::record(
        state.central(),
        crate::backend::request::client_ip(),
        crate::backend::platform::audit::ActorKind::Admin,
        &admin.email,
        Some(rec.id),
        "tenant.deleted",
        &slug,
    )
    .await?;
    Ok(())
}

#[server(prefix = "/api", endpoint = "admin_update_terms")]
pub async fn update_terms(
    slug: String,
    tier: String,
    discount_percent: String,
    platform_fee: String,
    commission_percent: String,
    billing_cycle_day: String,
) -> Result<TenantDetail, AppError> {
    use crate::domain::tenant::{BillingTerms, TermsInput};
    let (state, admin) = guard::admin().await?;
    let rec = crate::backend::resellers::lifecycle::by_slug(&state, &slug).await?;
    let input = TermsInput {
        tier: &tier,
        wholesale_discount_percent: &discount_percent,
        platform_fee: &platform_fee,
        commission_percent: &commission_percent,
        billing_cycle_day: &billing_cycle_day,
    };
    let terms = BillingTerms::parse(&input, rec.currency).map_err(|e| AppError::Invalid(e.to_string()))?;
    crate::backend::resellers::lifecycle::set_terms(&state, &slug, &terms).await?;
    let summary = format!(
        "tier {}, discount {} bp, fee {} minor, commission {} bp, day {}",
        terms.tier.as_str(),
        terms.wholesale_discount_bp,
        terms.platform_fee_minor,
        terms.commission_bp,
        terms.billing_cycle_day
    );
    guard::audit(&state, &admin, &slug, "tenant.terms_changed", &summary).await?;
    detail(&state, &slug).await
}

#[server(prefix = "/api", endpoint = "admin_add_domain")]
pub async fn add_domain(slug: String, domain: String, primary: Option<String>) -> Result<TenantDetail, AppError> {
    let (state, admin) = guard::admin().await?;
    crate::backend::tenancy::domains::add_domain(&state, &slug, &domain, primary.is_some()).await?;
    guard::audit(&state, &admin, &slug, "domain.added", domain.trim()).await?;
    detail(&state, &slug).await
}

#[server(prefix = "/api", endpoint = "admin_remove_domain")]
pub async fn remove_domain(slug: String, domain: String) -> Result<TenantDetail, AppError> {
    let (state, admin) = guard::admin().await?;
    crate::backend::tenancy::domains::remove_domain(&state, &slug, &domain).await?;
    guard::audit(&state, &admin, &slug, "domain.removed", &domain).await?;
    detail(&state, &slug).await
}

/// Checks a domain's token now: `method` is `dns`, `http`, or `admin` (the admin vouches for it).
#[server(prefix = "/api", endpoint = "admin_verify_domain")]
pub async fn verify_domain(slug: String, domain: String, method: String) -> Result<TenantDetail, AppError> {
    use crate::domain::tenant::VerifyMethod;
    let (state, admin) = guard::admin().await?;
    let by: VerifyMethod =
        method.parse().map_err(|_| AppError::Invalid("Choose DNS, HTTP or manual verification.".into()))?;
    if crate::backend::tenancy::domains::verify_domain(&state, &slug, &domain, by).await? {
        guard::audit(&state, &admin, &slug, "domain.verified", &format!("{domain} by {method}")).await?;
    }
    detail(&state, &slug).await
}
