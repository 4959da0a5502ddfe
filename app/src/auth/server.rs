//! Customer accounts: sign-up with email verification, sign-in and out, password reset, profile, change of
//! email or password with re-authentication, and "sign out everywhere".
//!
//! Answers never reveal whether an email has an account: sign-up requests answer the same for known and
//! unknown addresses and cost a password hash either way; reset requests answer before anything that
//! depends on the address is done. Attempts are limited per client address and per account *before* any
//! hashing; failed sign-ins and refused attempts are counted and logged (`backend::platform::limits`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub name: String,
    pub email: String,
    pub email_verified: bool,
}

#[cfg(feature = "ssr")]
mod edge {
    use crate::backend::request;
    use crate::backend::state::AppState;
    use crate::error::AppError;

    /// Applies the attempt limits (per client address and per account key) before any work.
    pub fn limit(state: &AppState, key: &str) -> Result<(), AppError> {
        crate::backend::request::limit_attempt(state, crate::backend::platform::limits::Role::Customer, key)
    }

    /// Counts and logs a customer's failed sign-in (or failed re-authentication, or a dead reset link).
    pub fn failed(state: &AppState) {
        crate::backend::request::sign_in_failed(state, crate::backend::platform::limits::Role::Customer);
    }

    pub fn email(raw: &str) -> Result<String, AppError> {
        crate::backend::resellers::lifecycle::parse_email(raw).map_err(|e| AppError::Invalid(e.to_string()))
    }

    pub fn new_password(p: &str) -> Result<(), AppError> {
        if p.chars().count() < 10 {
            return Err(AppError::Invalid("Choose a password of at least 10 characters.".into()));
        }
        if p.len() > 1024 {
            return Err(AppError::Invalid("That password is too long.".into()));
        }
        Ok(())
    }

    pub fn name(raw: &str) -> Result<String, AppError> {
        let n = raw.trim();
        if n.is_empty() || n.chars().count() > 80 || n.chars().any(char::is_control) {
            return Err(AppError::Invalid("Your name is 1 to 80 characters.".into()));
        }
        Ok(n.to_owned())
    }

    /// A fresh session cookie for this customer; any session the browser brought is ended first, so a
    /// session id planted before sign-in is never promoted.
    pub async fn start_session(
        state: &AppState,
        tenant: &crate::backend::state::Tenant,
        id: crate::domain::ids::CustomerId,
    ) -> Result<(), AppError> {
        use crate::backend::identity::auth;
        if let Some(old) = request::session_token() {
            auth::end_session(&tenant.db, &old).await?;
        }
        let ttl = state.settings().session_ttl;
        let token = auth::create_session(&tenant.db, id, auth::expires_in_ms(ttl)).await?;
        let max_age = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        request::set_cookie(&auth::session_cookie(&token, max_age, state.settings().secure_cookies));
        Ok(())
    }
}

/// The signed-in customer, if any.
#[server(prefix = "/api", endpoint = "who_am_i")]
pub async fn who_am_i() -> Result<Option<Me>, AppError> {
    use crate::backend::request;
    Ok(request::current_customer().await?.map(|(_, _, c)| Me {
        name: c.name,
        email: c.email,
        email_verified: c.email_verified,
    }))
}

#[server(prefix = "/api", endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<(), AppError> {
    use crate::backend::{identity::auth, identity::customers, request};
    let (state, tenant) = request::tenant().await?;
    if email.len() > 254 || password.len() > 1024 {
        return Err(AppError::BadCredentials);
    }
    edge::limit(&state, &format!("login:{}:{}", tenant.id, email.trim().to_lowercase()))?;
    let found = customers::find_login(&tenant.db, &email).await?;
    let (id, hash) = match found {
        Some((id, hash)) => (Some(id), Some(hash)),
        None => (None, None),
    };
    // Verified even for unknown emails (against a dummy hash): the answer takes the same time either way.
    let ok = auth::verify_password(hash.clone(), password.clone()).await?;
    let (true, Some(id)) = (ok, id) else {
        edge::failed(&state);
        return Err(AppError::BadCredentials);
    };
    // Parameters raised since this hash was made: redo it now, while the password is at hand.
    if hash.as_deref().is_some_and(auth::needs_rehash) {
        let fresh = auth::hash_password(password).await?;
        let mut conn = tenant.db.pool().acquire().await.map_err(crate::backend::BackendError::from)?;
        customers::set_password_hash(&mut conn, id, &fresh).await?;
    }
    edge::start_session(&state, &tenant, id).await
}

#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::backend::{identity::auth, request};
    let (state, tenant) = request::tenant().await?;
    if let Some(token) = request::session_token() {
        auth::end_session(&tenant.db, &token).await?;
    }
    request::set_cookie(&auth::clear_cookie(state.settings().secure_cookies));
    Ok(())
}

/// Ends every session of the signed-in customer, on every device (this one too).
#[server(prefix = "/api", endpoint = "logout_everywhere")]
pub async fn logout_everywhere() -> Result<u64, AppError> {
    use crate::backend::{identity::auth, request};
    let (state, tenant, customer) = request::require_customer().await?;
    let n = auth::end_all_sessions(&tenant.db, customer.id).await?;
    request::set_cookie(&auth::clear_cookie(state.settings().secure_cookies));
    Ok(n)
}

/// Creates an account and emails a verification link. Answers the same whether or not the email already
/// has an account (no one learns who is a customer here) — which is also why it does not sign in: a
/// session cookie on one answer and not the other would tell.
#[server(prefix = "/api", endpoint = "signup")]
pub async fn signup(name: String, email: String, password: String) -> Result<(), AppError> {
    use crate::backend::{identity::auth, identity::customers, identity::notify, request};
    let (state, tenant) = request::tenant().await?;
    let email = edge::email(&email)?;
    edge::limit(&state, &format!("signup:{}:{email}", tenant.id))?;
    let name = edge::name(&name)?;
    edge::new_password(&password)?;
    // Hashed whether or not the address is taken: both answers cost the same.
    let hash = auth::hash_password(password).await?;
    if let Some(id) = customers::create_unverified(&tenant.db, &email, &name, &hash).await? {
        let ttl = auth::VERIFY_TTL_HOURS * 3600 * 1000;
        let token = auth::issue_token(&tenant.db, id, auth::TokenPurpose::Verify, None, ttl).await?;
        notify::verify_email(&state, &tenant, request::origin(), &email, &name, &token).await?;
        tracing::info!(tenant = %tenant.slug, customer = %id, "customer signed up");
    }
    Ok(())
}

/// Sends a fresh verification link to the signed-in, unverified customer.
#[server(prefix = "/api", endpoint = "resend_verification")]
pub async fn resend_verification() -> Result<(), AppError> {
    use crate::backend::{identity::auth, identity::notify, request};
    let (state, tenant, customer) = request::require_customer().await?;
    if customer.email_verified {
        return Ok(());
    }
    edge::limit(&state, &format!("verify:{}:{}", tenant.id, customer.email))?;
    let token = auth::issue_token(
        &tenant.db,
        customer.id,
        auth::TokenPurpose::Verify,
        None,
        auth::VERIFY_TTL_HOURS * 3_600_000,
    )
    .await?;
    notify::verify_email(&state, &tenant, request::origin(), &customer.email, &customer.name, &token).await?;
    Ok(())
}

/// Confirms an email address from the emailed link (a POST from the page the link opens: nothing
/// changes on a GET, so link scanners cannot confirm on the customer's behalf).
#[server(prefix = "/api", endpoint = "verify_email")]
pub async fn verify_email(token: String) -> Result<(), AppError> {
    use crate::backend::{identity::auth, identity::customers, request, BackendError};
    let (state, tenant) = request::tenant().await?;
    let mut tx = tenant.db.begin().await.map_err(BackendError::from)?;
    let Some((id, _)) = auth::consume_token(&mut tx, &token, auth::TokenPurpose::Verify).await? else {
        return Err(AppError::Invalid("This link has expired or was already used. Sign in to get a new one.".into()));
    };
    customers::mark_verified(&mut tx, id).await?;
    tx.commit().await.map_err(BackendError::from)?;
    crate::backend::identity::notify::welcome(&state, &tenant, request::origin(), id).await?;
    Ok(())
}

/// Emails a password-reset link if the address has an account; answers the same either way.
///
/// The answer is given before anything that depends on the address happens: looking it up, issuing a
/// token and queueing the mail run afterwards, on their own task. The request itself therefore does the
/// same work for known and unknown addresses, and its timing cannot tell them apart.
#[server(prefix = "/api", endpoint = "request_password_reset")]
pub async fn request_password_reset(email: String) -> Result<(), AppError> {
    use crate::backend::request;
    let (state, tenant) = request::tenant().await?;
    let email = edge::email(&email)?;
    edge::limit(&state, &format!("reset:{}:{email}", tenant.id))?;
    let origin = request::origin();
    tokio::spawn(async move {
        if let Err(e) = send_reset_link(&state, &tenant, origin, &email).await {
            tracing::warn!(tenant = %tenant.slug, error = %e, "sending a password reset link failed");
        }
    });
    Ok(())
}

/// The part of a reset request that depends on the address (see [`request_password_reset`]).
#[cfg(feature = "ssr")]
async fn send_reset_link(
    state: &crate::backend::state::AppState,
    tenant: &crate::backend::state::Tenant,
    origin: Option<String>,
    email: &str,
) -> crate::backend::Result<()> {
    use crate::backend::{identity::auth, identity::customers, identity::notify};
    let Some((id, _)) = customers::find_login(&tenant.db, email).await? else { return Ok(()) };
    let ttl = i64::from(auth::RESET_TTL_MINUTES) * 60_000;
    let token = auth::issue_token(&tenant.db, id, auth::TokenPurpose::Reset, None, ttl).await?;
    let name = customers::get(&tenant.db, id).await?.map(|c| c.name).unwrap_or_default();
    notify::password_reset(state, tenant, origin, email, &name, &token).await
}

/// Sets a new password from a reset link: single use, within 60 minutes; every session and every other
/// reset or email-change link of the account is ended.
#[server(prefix = "/api", endpoint = "reset_password")]
pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    use crate::backend::identity::auth::{self, TokenPurpose};
    use crate::backend::{identity::customers, request, BackendError};
    let (state, tenant) = request::tenant().await?;
    edge::new_password(&password)?;
    // Keyed by the link (and, in the limiter, by the client's address): one address's guesses never lock
    // anyone else out of their own link.
    edge::limit(&state, &format!("reset-token:{}:{}", tenant.id, auth::token_hash(&token)))?;
    let dead = || AppError::Invalid("This reset link has expired or was already used. Ask for a new one.".into());
    // The link first: a made-up one costs no password hash.
    if !auth::token_is_live(&tenant.db, &token, TokenPurpose::Reset).await? {
        edge::failed(&state);
        return Err(dead());
    }
    let hash = auth::hash_password(password).await?;
    let mut tx = tenant.db.begin().await.map_err(BackendError::from)?;
    let Some((id, _)) = auth::consume_token(&mut tx, &token, TokenPurpose::Reset).await? else {
        // Used by a concurrent request since the check above.
        return Err(dead());
    };
    customers::set_password_hash(&mut tx, id, &hash).await?;
    auth::revoke_tokens(&mut tx, id, &[TokenPurpose::Reset, TokenPurpose::EmailChange]).await?;
    // Opening the link proves the address, too.
    customers::mark_verified(&mut tx, id).await?;
    tx.commit().await.map_err(BackendError::from)?;
    auth::end_all_sessions(&tenant.db, id).await?;
    request::set_cookie(&auth::clear_cookie(state.settings().secure_cookies));
    tracing::info!(tenant = %tenant.slug, customer = %id, "password reset; all sessions ended");
    Ok(())
}

#[server(prefix = "/api", endpoint = "update_profile")]
pub async fn update_profile(name: String) -> Result<Me, AppError> {
    use crate::backend::{identity::customers, request};
    let (_, tenant, customer) = request::require_customer().await?;
    let name = edge::name(&name)?;
    customers::set_name(&tenant.db, customer.id, &name).await?;
    Ok(Me { name, email: customer.email, email_verified: customer.email_verified })
}

/// Checks the current password of the signed-in customer (re-authentication before sensitive changes).
#[cfg(feature = "ssr")]
async fn reauthenticate(
    state: &crate::backend::state::AppState,
    tenant: &crate::backend::state::Tenant,
    customer: &crate::backend::identity::customers::Customer,
    password: String,
) -> Result<(), AppError> {
    use crate::backend::{identity::auth, identity::customers, request};
    // An admin acting as the customer never changes their credentials.
    if request::customer_impersonator(tenant).await?.is_some() {
        return Err(AppError::Forbidden);
    }
    edge::limit(state, &format!("login:{}:{}", tenant.id, customer.email))?;
    let hash = customers::password_hash(&tenant.db, customer.id).await?;
    if !auth::verify_password(hash, password).await? {
        edge::failed(state);
        return Err(AppError::BadCredentials);
    }
    Ok(())
}

/// Changes the password (the current one is required); other sessions end, this one continues, and
/// every reset or email-change link still outstanding dies.
#[server(prefix = "/api", endpoint = "change_password")]
pub async fn change_password(current_password: String, new_password: String) -> Result<(), AppError> {
    use crate::backend::identity::auth::{self, TokenPurpose};
    use crate::backend::{identity::customers, request, BackendError};
    let (state, tenant, customer) = request::require_customer().await?;
    edge::new_password(&new_password)?;
    reauthenticate(&state, &tenant, &customer, current_password).await?;
    let hash = auth::hash_password(new_password).await?;
    let mut tx = tenant.db.begin().await.map_err(BackendError::from)?;
    customers::set_password_hash(&mut tx, customer.id, &hash).await?;
    auth::revoke_tokens(&mut tx, customer.id, &[TokenPurpose::Reset, TokenPurpose::EmailChange]).await?;
    tx.commit().await.map_err(BackendError::from)?;
    auth::end_all_sessions(&tenant.db, customer.id).await?;
    edge::start_session(&state, &tenant, customer.id).await
}

/// Starts a change of email address (the current password is required): a confirmation link goes to the
/// new address, and the change happens when it is opened.
#[server(prefix = "/api", endpoint = "change_email")]
pub async fn change_email(current_password: String, new_email: String) -> Result<(), AppError> {
    use crate::backend::{identity::auth, identity::notify, request};
    let (state, tenant, customer) = request::require_customer().await?;
    let new_email = edge::email(&new_email)?;
    reauthenticate(&state, &tenant, &customer, current_password).await?;
    if new_email == customer.email {
        return Err(AppError::Invalid("That is already your email address.".into()));
    }
    let token =
        auth::issue_token(&tenant.db, customer.id, auth::TokenPurpose::EmailChange, Some(&new_email), 24 * 3_600_000)
            .await?;
    notify::confirm_email_change(&state, &tenant, request::origin(), &new_email, &customer.name, &token).await?;
    Ok(())
}

#[server(prefix = "/api", endpoint = "confirm_email_change")]
pub async fn confirm_email_change(token: String) -> Result<(), AppError> {
    use crate::backend::{identity::auth, identity::customers, request, BackendError};
    let (_, tenant) = request::tenant().await?;
    let mut tx = tenant.db.begin().await.map_err(BackendError::from)?;
    let Some((id, Some(email))) = auth::consume_token(&mut tx, &token, auth::TokenPurpose::EmailChange).await? else {
        return Err(AppError::Invalid("This link has expired or was already used.".into()));
    };
    if !customers::set_email(&mut tx, id, &email).await? {
        return Err(AppError::Conflict("That address now belongs to another account.".into()));
    }
    tx.commit().await.map_err(BackendError::from)?;
    Ok(())
}
