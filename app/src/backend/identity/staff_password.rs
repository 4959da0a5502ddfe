//! Staff passwords chosen from an emailed link, so no one ever types a password for someone else: the
//! welcome link a new storefront's owner gets when the platform creates it (the admin never chooses or
//! sees that password), and the reset link any member can ask for on `/manage/forgot`.
//!
//! The links follow the rules of the customers' reset links ([`super::tokens`]): 256 random bits, only
//! the hash stored, queued sealed in the outbox, single use, bound to their storefront, expiring. Setting
//! a password ends every other link of that member and every session they had.

use std::net::IpAddr;

use sqlx::FromRow;

use super::tokens::TokenTable;
use crate::backend::identity::accounts::{self, SessionKind, StaffMember};
use crate::backend::identity::auth;
use crate::backend::identity::customer_account::NewSession;
use crate::backend::mail::storefront::storefront_url;
use crate::backend::mail::{outbox, templates, token_dedupe_key, Outgoing, SECRET_PLACEHOLDER};
use crate::backend::platform::audit::{self, ActorKind};
use crate::backend::platform::limits::Role;
use crate::backend::state::{AppState, Tenant};
use crate::backend::tenancy::branding;
use crate::backend::{corrupt, BackendError, Result};
use crate::domain::ids::TenantId;
pub use crate::domain::staff::PasswordLink;

/// The links, bound to their storefront, carrying the member and why the link was sent.
const LINKS: TokenTable = TokenTable::new("staff_password_tokens", "tenant_id");
/// A welcome link waits a week for its owner (the admin can send a fresh one; so can "forgot password").
pub const WELCOME_TTL_MS: i64 = 7 * 24 * 3_600_000;
/// What a staff member's `password_hash` holds until they choose a password: no hash matches it, so no
/// password signs in as them.
pub const NO_PASSWORD: &str = "";
/// Staff passwords are longer than customers' (they run a business, and its customers' money).
pub const MIN_STAFF_PASSWORD: usize = 12;

/// Why a password was not set.
#[derive(Debug, thiserror::Error)]
pub enum SetPasswordError {
    #[error("Staff passwords have at least 12 characters.")]
    TooShort,
    /// Made up, used, expired, or for another storefront.
    #[error("This link has expired or was already used. Ask for a new one from the sign-in page.")]
    Unusable,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<sqlx::Error> for SetPasswordError {
    fn from(e: sqlx::Error) -> Self {
        SetPasswordError::Backend(e.into())
    }
}

/// What a link carries (`staff_password_tokens`).
#[derive(FromRow)]
struct LinkRow {
    staff_id: String,
    purpose: String,
}

/// The owner who has no password yet, if any (the one a welcome link is for).
#[derive(FromRow)]
struct OwnerRow {
    id: String,
    email: String,
    name: String,
}

async fn owner_without_password(state: &AppState, tenant: TenantId) -> Result<Option<OwnerRow>> {
    Ok(sqlx::query_as::<_, OwnerRow>(
        "SELECT id, email, name FROM staff WHERE tenant_id = $1 AND role = 'owner' AND password_hash = $2 \
         ORDER BY created_at, id LIMIT 1",
    )
    .bind(tenant.to_string())
    .bind(NO_PASSWORD)
    .fetch_optional(state.central().pool())
    .await?)
}

/// Whether some owner of the storefront has chosen a password (the first step of onboarding).
pub async fn owner_has_password(state: &AppState, tenant: TenantId) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM staff WHERE tenant_id = $1 AND role = 'owner' AND password_hash <> $2",
    )
    .bind(tenant.to_string())
    .bind(NO_PASSWORD)
    .fetch_one(state.central().pool())
    .await?;
    Ok(n > 0)
}

/// Sends the owner of a new storefront the welcome email with a link to choose their password, on the
/// storefront's own address. Any earlier welcome link of theirs stops working. Returns whether a mail was
/// queued: `false` when every owner already has a password (nothing to welcome).
///
/// The message comes from the platform (the house storefront's name and colours): it is the platform
/// welcoming its reseller, before the reseller has a brand of their own.
pub async fn send_welcome(state: &AppState, tenant: &Tenant) -> Result<bool> {
    let Some(owner) = owner_without_password(state, tenant.id).await? else { return Ok(false) };
    let scope = tenant.id.to_string();
    let mut tx = state.central().begin().await?;
    LINKS.revoke(&mut tx, &scope, "staff_id", &owner.id).await?;
    let fields = [("staff_id", Some(owner.id.as_str())), ("purpose", Some(PasswordLink::Welcome.as_str()))];
    let token = LINKS.issue(&mut *tx, &scope, &fields, WELCOME_TTL_MS).await?;
    tx.commit().await?;

    let house = state.house().await?;
    let platform = branding::get(state.central(), house.id).await?.ok_or_else(|| corrupt("house branding missing"))?;
    let storefront = storefront_url(state, tenant).await?;
    let ctx = crate::backend::mail::brand_context(&platform, &storefront_url(state, &house).await?);
    let link = format!("{storefront}/manage/set-password?token={SECRET_PLACEHOLDER}");
    let days = u32::try_from(WELCOME_TTL_MS / 86_400_000).unwrap_or(7);
    let rendered = templates::reseller_welcome(&ctx, &owner.name, &tenant.name, &storefront, &link, days);
    let o = Outgoing {
        tenant: Some(tenant.id),
        dedupe_key: token_dedupe_key("staff_welcome", tenant.id, &token),
        kind: "staff_welcome".into(),
        to: owner.email.clone(),
        from_name: platform.theme.company_name.clone(),
        from_addr: platform.from_email.clone(),
        reply_to: (!platform.support_email.trim().is_empty()).then(|| platform.support_email.trim().to_owned()),
        rendered,
        attachment: None,
    };
    outbox::enqueue_with_secret(state.central(), state.crypto(), &o, &token).await?;
    state.notify_mail();
    tracing::info!(tenant = %tenant.slug, "welcome email queued for the owner");
    Ok(true)
}

/// A member's request for a reset link: answered at once, the link sent (if `email` is a member here)
/// on a task of its own, so the answer takes as long for unknown addresses as for known ones.
pub fn request_reset(state: &AppState, tenant: &Tenant, origin: Option<String>, email: String) {
    let (state, tenant) = (state.clone(), tenant.clone());
    tokio::spawn(async move {
        if let Err(e) = send_reset(&state, &tenant, origin, &email).await {
            tracing::warn!(tenant = %tenant.slug, error = %e, "sending a staff password reset link failed");
        }
    });
}

/// The part of a reset request that depends on the address (see [`request_reset`]). The mail is the
/// storefront's own, like its other staff mail; its link is on `origin`, the address the member used
/// (`None`: the storefront's public address).
pub async fn send_reset(state: &AppState, tenant: &Tenant, origin: Option<String>, email: &str) -> Result<()> {
    let Some(member) = accounts::staff_by_email(state.central(), tenant.id, email).await? else { return Ok(()) };
    let origin = match origin {
        Some(o) => o,
        None => storefront_url(state, tenant).await?,
    };
    let ttl = i64::from(auth::RESET_TTL_MINUTES) * 60_000;
    let fields = [("staff_id", Some(member.id.as_str())), ("purpose", Some(PasswordLink::Reset.as_str()))];
    let token = LINKS.issue(state.central().pool(), &tenant.id.to_string(), &fields, ttl).await?;
    let b = branding::get(state.central(), tenant.id).await?.ok_or_else(|| corrupt("tenant branding missing"))?;
    let link = format!("{origin}/manage/set-password?token={SECRET_PLACEHOLDER}");
    let ctx = crate::backend::mail::brand_context(&b, &origin);
    let rendered = templates::password_reset(&ctx, &member.name, &link, auth::RESET_TTL_MINUTES);
    let key = token_dedupe_key("staff_reset", tenant.id, &token);
    let o = Outgoing::for_tenant(tenant.id, &b, "staff_reset", key, &member.email, rendered);
    outbox::enqueue_with_secret(state.central(), state.crypto(), &o, &token).await?;
    state.notify_mail();
    Ok(())
}

/// Sets a member's password from a welcome or reset link and signs them in. The link is checked before
/// the password is hashed (a made-up link costs no hash, and counts as a failed sign-in from `ip`); the
/// link is used, the password stored, every other link and session of theirs ended, all in one
/// transaction. Recorded in the audit log.
pub async fn set_password(
    state: &AppState,
    ip: Option<IpAddr>,
    tenant: TenantId,
    token: &str,
    password: String,
) -> std::result::Result<NewSession, SetPasswordError> {
    if password.chars().count() < MIN_STAFF_PASSWORD || password.len() > 1024 {
        return Err(SetPasswordError::TooShort);
    }
    let scope = tenant.to_string();
    if LINKS.peek(state.central().pool(), token, &scope, "staff_id").await?.is_none() {
        state.login_limits().record_failed_sign_in(Role::Staff, ip);
        return Err(SetPasswordError::Unusable);
    }
    let hash = auth::hash_password(password).await?;
    let mut tx = state.central().begin().await?;
    let Some(row) = LINKS.redeem(&mut tx, token, &scope, "staff_id, purpose").await? else {
        return Err(SetPasswordError::Unusable);
    };
    let LinkRow { staff_id, purpose } = LinkRow::from_row(&row)?;
    let purpose = PasswordLink::parse(&purpose).map_err(|_| corrupt("staff_password_tokens.purpose"))?;
    let updated = sqlx::query("UPDATE staff SET password_hash = $1 WHERE tenant_id = $2 AND id = $3")
        .bind(&hash)
        .bind(&scope)
        .bind(&staff_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if updated == 0 {
        // The member was removed since the link was sent.
        return Err(SetPasswordError::Unusable);
    }
    LINKS.revoke(&mut tx, &scope, "staff_id", &staff_id).await?;
    sqlx::query("DELETE FROM central_sessions WHERE user_id = $1 AND kind = 'staff'")
        .bind(&staff_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let member: StaffMember =
        accounts::staff_by_id(state.central(), tenant, &staff_id).await?.ok_or(SetPasswordError::Unusable)?;
    let action = match purpose {
        PasswordLink::Welcome => "staff.password_chosen",
        PasswordLink::Reset => "staff.password_reset",
    };
    audit::record(state.central(), ip, ActorKind::Staff, &member.email, Some(tenant), action, "").await?;
    let ttl = super::sign_in::SESSION_TTL;
    let session = accounts::create_session(
        state.central(),
        SessionKind::Staff,
        &member.id,
        Some(tenant),
        auth::expires_in_ms(ttl),
    )
    .await?;
    tracing::info!(tenant = %tenant, staff = %member.email, "staff password set from a link");
    Ok(NewSession::lasting(session, ttl))
}

impl From<SetPasswordError> for crate::error::AppError {
    fn from(e: SetPasswordError) -> Self {
        use crate::error::AppError;
        match e {
            e @ (SetPasswordError::TooShort | SetPasswordError::Unusable) => AppError::Invalid(e.to_string()),
            SetPasswordError::Backend(b) => b.into(),
        }
    }
}
