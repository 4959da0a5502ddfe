//! Server functions of the reseller's management pages (`/manage` on the reseller's own hosts). Each
//! one requires a staff session *of this tenant*: a staff cookie from another tenant finds no session.

// The branding form is submitted as plain fields (it works before hydration); the generated client
// function takes one argument per field.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use super::model::{BrandingForm, StaffMe};
use crate::error::AppError;

#[cfg(feature = "ssr")]
pub(crate) mod guard {
    use std::sync::Arc;

    use crate::backend::identity::accounts::StaffMember;
    use crate::backend::request::{self, SignedInStaff};
    use crate::backend::state::{AppState, Tenant};
    use crate::backend::tenancy::registry::TenantEntry;
    use crate::error::AppError;

    /// The signed-in staff member of this storefront (the same extractor the upload handler uses).
    pub async fn staff() -> Result<(AppState, Arc<TenantEntry>, StaffMember), AppError> {
        let (state, SignedInStaff { tenant, member }) = request::staff().await?;
        Ok((state, tenant, member))
    }

    /// Like [`staff`], with the storefront's database open.
    pub async fn staff_on_tenant() -> Result<(AppState, Tenant, StaffMember), AppError> {
        let (state, entry, member) = staff().await?;
        let tenant = state.tenant_by_id(entry.id).await?.ok_or(AppError::NotFound)?;
        Ok((state, tenant, member))
    }
}

#[server(prefix = "/api", endpoint = "staff_me")]
pub async fn current_staff() -> Result<Option<StaffMe>, AppError> {
    match guard::staff().await {
        Ok((_, _, m)) => Ok(Some(StaffMe { name: m.name, email: m.email, role: m.role })),
        Err(AppError::NotSignedIn) => Ok(None),
        Err(e) => Err(e),
    }
}

#[server(prefix = "/api", endpoint = "staff_login")]
pub async fn staff_login(email: String, password: String) -> Result<(), AppError> {
    use crate::backend::identity::accounts::{self, STAFF_COOKIE};
    use crate::backend::identity::sign_in;
    use crate::backend::platform::limits::Role;
    use crate::backend::request;
    let state = request::app_state()?;
    let tenant = request::tenant_entry()?;
    if email.len() > 254 || password.len() > 1024 {
        return Err(AppError::BadCredentials);
    }
    request::limit_attempt(&state, Role::Staff, &format!("staff:{}:{email}", tenant.id)).await?;
    let old = request::cookie(STAFF_COOKIE);
    let session = sign_in::staff(&state, request::client_ip(), tenant.id, &email, &password, old.as_deref())
        .await?
        .ok_or(AppError::BadCredentials)?;
    request::set_cookie(&accounts::cookie(
        STAFF_COOKIE,
        &session.token,
        session.max_age_secs,
        state.settings().secure_cookies,
    ));
    Ok(())
}

#[server(prefix = "/api", endpoint = "staff_logout")]
pub async fn staff_logout() -> Result<(), AppError> {
    use crate::backend::identity::accounts::{self, STAFF_COOKIE};
    use crate::backend::request;
    let state = request::app_state()?;
    if let Some(token) = request::cookie(STAFF_COOKIE) {
        accounts::end_session(state.central(), &token).await?;
    }
    request::set_cookie(&accounts::cookie(STAFF_COOKIE, "", 0, state.settings().secure_cookies));
    Ok(())
}

/// Ends every session of the signed-in staff member, on every device.
#[server(prefix = "/api", endpoint = "staff_logout_everywhere")]
pub async fn staff_logout_everywhere() -> Result<u64, AppError> {
    use crate::backend::identity::accounts::{self, STAFF_COOKIE};
    use crate::backend::request;
    let (state, _, me) = guard::staff().await?;
    let n = accounts::end_user_sessions(state.central(), &me.id).await?;
    request::set_cookie(&accounts::cookie(STAFF_COOKIE, "", 0, state.settings().secure_cookies));
    Ok(n)
}

#[server(prefix = "/api", endpoint = "get_branding")]
pub async fn get_branding() -> Result<BrandingForm, AppError> {
    let (state, tenant, _) = guard::staff().await?;
    form(&state, tenant.id).await
}

#[cfg(feature = "ssr")]
async fn form(
    state: &crate::backend::state::AppState,
    tenant: crate::domain::ids::TenantId,
) -> Result<BrandingForm, AppError> {
    let b = crate::backend::tenancy::branding::get(state.central(), tenant).await?.ok_or(AppError::NotFound)?;
    Ok(BrandingForm {
        company_name: b.theme.company_name,
        primary: b.theme.primary.to_hex(),
        secondary: b.theme.secondary.to_hex(),
        support_email: b.support_email,
        support_phone: b.support_phone,
        from_email: b.from_email,
        from_name: b.from_name,
        custom_css: b.custom_css,
        logo_url: b.logo_sha.map(|s| format!("/brand/asset/{s}.png")),
        favicon_url: b.favicon_sha.map(|s| format!("/brand/asset/{s}.png")),
    })
}

/// Saves the branding. Every field is checked first; nothing is stored unless all of them pass.
#[server(prefix = "/api", endpoint = "save_branding")]
pub async fn save_branding(
    company_name: String,
    primary: String,
    secondary: String,
    support_email: String,
    support_phone: String,
    from_email: String,
    from_name: String,
    custom_css: String,
) -> Result<BrandingForm, AppError> {
    use crate::backend::request;
    use crate::backend::resellers::lifecycle::parse_email;
    use crate::backend::tenancy::branding::{self, css, BrandingUpdate};
    use crate::domain::branding::{validate_company_name, validate_phone, Colour, Theme};
    let (state, tenant, member) = guard::staff().await?;
    let invalid = |e: &dyn std::fmt::Display| AppError::Invalid(e.to_string());
    let theme = Theme {
        company_name: validate_company_name(&company_name).map_err(|e| invalid(&e))?,
        primary: Colour::parse(primary.trim()).map_err(|e| invalid(&e))?,
        secondary: Colour::parse(secondary.trim()).map_err(|e| invalid(&e))?,
    };
    let optional_email = |raw: &str| -> Result<String, AppError> {
        if raw.trim().is_empty() {
            Ok(String::new())
        } else {
            parse_email(raw).map_err(|e| invalid(&e))
        }
    };
    let from_name = from_name.trim();
    if from_name.chars().count() > 80 || from_name.chars().any(char::is_control) {
        return Err(AppError::Invalid("The sender name is at most 80 characters, on one line.".into()));
    }
    let update = BrandingUpdate {
        theme,
        support_email: optional_email(&support_email)?,
        support_phone: validate_phone(&support_phone).map_err(|e| invalid(&e))?.unwrap_or_default(),
        from_email: optional_email(&from_email)?,
        from_name: from_name.to_owned(),
        custom_css: css::sanitize_css(&custom_css).map_err(|e| invalid(&e))?,
    };
    branding::save_by(&state, request::client_ip(), &member.actor(), tenant.id, &update).await?;
    tracing::info!(tenant = %tenant.slug, staff = %member.email, "branding saved");
    form(&state, tenant.id).await
}

/// The custom CSS being edited, sanitised exactly as saving would and limited to the preview's element
/// ([`super::model::PREVIEW_SCOPE`]), so the preview shows it while the rest of the page keeps the saved
/// theme. Nothing is stored. Too large an input is refused with the limit in the message, as on saving.
#[server(prefix = "/api", endpoint = "preview_custom_css")]
pub async fn preview_custom_css(custom_css: String) -> Result<String, AppError> {
    use crate::backend::tenancy::branding::css;
    guard::staff().await?;
    css::sanitize_css_scoped(&custom_css, super::model::PREVIEW_SCOPE).map_err(|e| AppError::Invalid(e.to_string()))
}

/// A staff member as the staff page lists them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StaffRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: crate::domain::staff::StaffRole,
    pub is_me: bool,
}

#[server(prefix = "/api", endpoint = "list_staff")]
pub async fn list_staff() -> Result<Vec<StaffRow>, AppError> {
    use crate::backend::identity::accounts;
    let (state, tenant, me) = guard::staff().await?;
    Ok(accounts::list_staff(state.central(), tenant.id)
        .await?
        .into_iter()
        .map(|m| StaffRow { is_me: m.id == me.id, id: m.id, name: m.name, email: m.email, role: m.role })
        .collect())
}

/// Invites a colleague by email (owners only). The link lets them choose a name and password. Someone who
/// is on the team already is not invited again.
#[server(prefix = "/api", endpoint = "invite_staff")]
pub async fn invite_staff(email: String, role: String) -> Result<(), AppError> {
    use crate::backend::identity::{accounts::StaffRole, team};
    use crate::backend::{request, resellers::lifecycle};
    let (state, _, me) = guard::staff().await?;
    let email = lifecycle::parse_email(&email).map_err(|e| AppError::Invalid(e.to_string()))?;
    let role = StaffRole::parse(role.trim()).map_err(|_| AppError::Invalid("Choose owner or admin.".into()))?;
    let origin = request::origin().unwrap_or_default();
    Ok(team::invite(&state, request::client_ip(), &origin, &me, &email, role).await?)
}

#[server(prefix = "/api", endpoint = "remove_staff")]
pub async fn remove_staff(id: String) -> Result<Vec<StaffRow>, AppError> {
    use crate::backend::{identity::team, request};
    let (state, _, me) = guard::staff().await?;
    team::remove(&state, request::client_ip(), &me, &id).await?;
    list_staff().await
}

/// Accepts an invitation (from the emailed link, on this tenant's host) and signs the new member in.
///
/// Limited like sign-in, and keyed by the link. An invitation for an email that already has access here
/// is refused: it must never sign anyone in as an existing member.
#[server(prefix = "/api", endpoint = "accept_invite")]
pub async fn accept_invite(token: String, name: String, password: String) -> Result<(), AppError> {
    use crate::backend::identity::accounts::{self, STAFF_COOKIE};
    use crate::backend::identity::{auth, sign_in};
    use crate::backend::platform::limits::Role;
    use crate::backend::request;
    let state = request::app_state()?;
    let tenant = request::tenant_entry()?;
    request::limit_attempt(&state, Role::Staff, &format!("invite:{}:{}", tenant.id, auth::token_hash(&token))).await?;
    let session = sign_in::accept_invite(&state, request::client_ip(), tenant.id, &token, &name, password).await?;
    request::set_cookie(&accounts::cookie(
        STAFF_COOKIE,
        &session.token,
        session.max_age_secs,
        state.settings().secure_cookies,
    ));
    Ok(())
}

/// Asks for a link to choose a new staff password. The answer is the same whether or not the address is
/// a member here (the link is sent afterwards, on a task of its own); limited per address like sign-in.
#[server(prefix = "/api", endpoint = "staff_forgot_password")]
pub async fn staff_forgot_password(email: String) -> Result<(), AppError> {
    use crate::backend::identity::staff_password;
    use crate::backend::platform::limits::Role;
    use crate::backend::{request, resellers::lifecycle};
    let (state, tenant) = request::tenant().await?;
    let email = lifecycle::parse_email(&email).map_err(|e| AppError::Invalid(e.to_string()))?;
    request::limit_attempt(&state, Role::Staff, &format!("staff-reset:{}:{email}", tenant.id)).await?;
    staff_password::request_reset(&state, &tenant, request::origin(), email);
    Ok(())
}

/// Chooses a staff password from a welcome or reset link (single use) and signs the member in; every
/// other session and link of theirs ends. Limited like sign-in, keyed by the link.
#[server(prefix = "/api", endpoint = "staff_set_password")]
pub async fn staff_set_password(token: String, password: String) -> Result<(), AppError> {
    use crate::backend::identity::accounts::{self, STAFF_COOKIE};
    use crate::backend::identity::{auth, staff_password};
    use crate::backend::platform::limits::Role;
    use crate::backend::request;
    let state = request::app_state()?;
    let tenant = request::tenant_entry()?;
    request::limit_attempt(&state, Role::Staff, &format!("staff-link:{}:{}", tenant.id, auth::token_hash(&token)))
        .await?;
    let session = staff_password::set_password(&state, request::client_ip(), tenant.id, &token, password).await?;
    request::set_cookie(&accounts::cookie(
        STAFF_COOKIE,
        &session.token,
        session.max_age_secs,
        state.settings().secure_cookies,
    ));
    Ok(())
}

/// Turns an admin's single-use "act as" handle into a session on this tenant's host. Returns where to go.
#[server(prefix = "/api", endpoint = "redeem_impersonation")]
pub async fn redeem_impersonation(token: String) -> Result<String, AppError> {
    use crate::backend::identity::accounts::{self, ImpersonationTarget, STAFF_COOKIE};
    use crate::backend::identity::{auth, sign_in};
    use crate::backend::request;
    let (state, tenant) = request::tenant().await?;
    let started = sign_in::impersonation(&state, request::client_ip(), &tenant, &token)
        .await?
        .ok_or_else(|| AppError::Invalid("This link has expired or was already used.".into()))?;
    let (secure, s) = (state.settings().secure_cookies, &started.session);
    request::set_cookie(&match started.target {
        ImpersonationTarget::Staff => accounts::cookie(STAFF_COOKIE, &s.token, s.max_age_secs, secure),
        ImpersonationTarget::Customer => auth::session_cookie(&s.token, s.max_age_secs, secure),
    });
    Ok(started.go.to_owned())
}
