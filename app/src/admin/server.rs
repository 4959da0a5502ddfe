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

    /// The signed-in admin acting from this request's client address, for the audited operations.
    pub fn by(admin: &PlatformAdmin) -> crate::backend::platform::audit::ByAdmin<'_> {
        crate::backend::platform::audit::ByAdmin { email: &admin.email, ip: request::client_ip() }
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
    use crate::backend::identity::sign_in;
    use crate::backend::platform::limits::Role;
    use crate::backend::request;
    let state = request::require_admin_site()?;
    if email.len() > 254 || password.len() > 1024 {
        return Err(AppError::BadCredentials);
    }
    request::limit_attempt(&state, Role::Admin, &format!("admin:{email}")).await?;
    let old = request::cookie(ADMIN_COOKIE);
    let session = sign_in::admin(&state, request::client_ip(), &email, &password, old.as_deref())
        .await?
        .ok_or(AppError::BadCredentials)?;
    request::set_cookie(&accounts::cookie(
        ADMIN_COOKIE,
        &session.token,
        session.max_age_secs,
        state.settings().secure_cookies,
    ));
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
    let (state, _) = guard::admin().await?;
    Ok(crate::backend::resellers::overview::list(&state).await?)
}

/// Creates a tenant and returns its slug (also when a step after the reservation failed: the tenant's
/// page shows the failed step and offers a retry).
#[server(prefix = "/api", endpoint = "admin_create_tenant")]
pub async fn create_tenant(
    name: String,
    slug: String,
    owner_email: String,
    primary_domain: String,
    currency: String,
    trial_days: String,
) -> Result<String, AppError> {
    use crate::backend::resellers::{lifecycle::NewTenantInput, operations};
    let (state, admin) = guard::admin().await?;
    // No password: the owner chooses it from the welcome email.
    let input = NewTenantInput { name, slug, owner_email, owner_password: None, primary_domain, currency, trial_days };
    Ok(operations::create(&state, guard::by(&admin), &input).await?)
}

#[server(prefix = "/api", endpoint = "admin_tenant")]
pub async fn get_tenant(slug: String) -> Result<TenantDetail, AppError> {
    let (state, _) = guard::admin().await?;
    Ok(crate::backend::resellers::overview::detail(&state, &slug).await?)
}

#[server(prefix = "/api", endpoint = "admin_retry_tenant")]
pub async fn retry_tenant(slug: String) -> Result<TenantDetail, AppError> {
    let (state, admin) = guard::admin().await?;
    Ok(crate::backend::resellers::operations::retry(&state, guard::by(&admin), &slug).await?)
}

/// Sends the owner of a storefront a fresh welcome email, while they have not chosen a password.
#[server(prefix = "/api", endpoint = "admin_resend_welcome")]
pub async fn resend_welcome(slug: String) -> Result<TenantDetail, AppError> {
    let (state, admin) = guard::admin().await?;
    Ok(crate::backend::resellers::operations::resend_welcome(&state, guard::by(&admin), &slug).await?)
}

#[server(prefix = "/api", endpoint = "admin_suspend_tenant")]
pub async fn suspend_tenant(slug: String) -> Result<TenantDetail, AppError> {
    let (state, admin) = guard::admin().await?;
    Ok(crate::backend::resellers::operations::suspend(&state, guard::by(&admin), &slug).await?)
}

#[server(prefix = "/api", endpoint = "admin_unsuspend_tenant")]
pub async fn unsuspend_tenant(slug: String) -> Result<TenantDetail, AppError> {
    let (state, admin) = guard::admin().await?;
    Ok(crate::backend::resellers::operations::unsuspend(&state, guard::by(&admin), &slug).await?)
}

/// Deletes a tenant with its database. The admin types the slug again to confirm.
#[server(prefix = "/api", endpoint = "admin_delete_tenant")]
pub async fn delete_tenant(slug: String, confirm: String) -> Result<(), AppError> {
    let (state, admin) = guard::admin().await?;
    Ok(crate::backend::resellers::operations::delete(&state, guard::by(&admin), &slug, &confirm).await?)
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
    use crate::domain::tenant::TermsInput;
    let (state, admin) = guard::admin().await?;
    let input = TermsInput {
        tier: &tier,
        wholesale_discount_percent: &discount_percent,
        platform_fee: &platform_fee,
        commission_percent: &commission_percent,
        billing_cycle_day: &billing_cycle_day,
    };
    Ok(crate::backend::resellers::operations::set_terms(&state, guard::by(&admin), &slug, &input).await?)
}

#[server(prefix = "/api", endpoint = "admin_add_domain")]
pub async fn add_domain(slug: String, domain: String, primary: Option<String>) -> Result<TenantDetail, AppError> {
    let (state, admin) = guard::admin().await?;
    let by = guard::by(&admin);
    Ok(crate::backend::resellers::operations::add_domain(&state, by, &slug, &domain, primary.is_some()).await?)
}

#[server(prefix = "/api", endpoint = "admin_remove_domain")]
pub async fn remove_domain(slug: String, domain: String) -> Result<TenantDetail, AppError> {
    let (state, admin) = guard::admin().await?;
    Ok(crate::backend::resellers::operations::remove_domain(&state, guard::by(&admin), &slug, &domain).await?)
}

/// Checks a domain's token now: `method` is `dns`, `http`, or `admin` (the admin vouches for it).
#[server(prefix = "/api", endpoint = "admin_verify_domain")]
pub async fn verify_domain(slug: String, domain: String, method: String) -> Result<TenantDetail, AppError> {
    use crate::domain::tenant::VerifyMethod;
    let (state, admin) = guard::admin().await?;
    let by: VerifyMethod =
        method.parse().map_err(|_| AppError::Invalid("Choose DNS, HTTP or manual verification.".into()))?;
    Ok(crate::backend::resellers::operations::verify_domain(&state, guard::by(&admin), &slug, &domain, by).await?)
}
