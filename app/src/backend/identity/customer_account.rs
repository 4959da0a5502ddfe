//! A customer's own account, one function per flow: signing in, signing up, confirming the address,
//! resetting or changing the password, changing the address, renaming. Each is called by one server
//! function, which has already checked access, applied the attempt limits and parsed the input (those
//! need the request); what the request would otherwise tell (the client's address, the storefront's
//! origin, the session the browser brought) is passed in.
//!
//! Answers never reveal whether an email has an account: sign-up answers the same for known and unknown
//! addresses and costs a password hash either way; a reset request is answered before anything that
//! depends on the address is done. Failed sign-ins (a wrong password, at sign-in or when re-authenticating,
//! or a dead reset link) are counted and logged here, with the client's address
//! (`backend::platform::limits`).

use std::net::IpAddr;

use crate::backend::identity::auth::{self, TokenPurpose};
use crate::backend::identity::customers::{self, Customer};
use crate::backend::identity::notify;
use crate::backend::platform::limits::Role;
use crate::backend::state::{AppState, Tenant};
use crate::backend::{BackendError, Result};
use crate::domain::ids::CustomerId;
use crate::error::AppError;

/// The outcomes of an account flow that are the customer's to fix (anything else is `Backend`).
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The email and password (or, re-authenticating, the current password) do not match an account.
    #[error("the email and password do not match an account")]
    BadCredentials,
    /// The emailed link of this purpose is made up, used or expired.
    #[error("the {0:?} link is dead")]
    LinkDead(TokenPurpose),
    /// The new email address is the one the account already has.
    #[error("that is already the account's address")]
    AlreadyYours,
    /// The confirmed new address was taken by another account since the link was sent.
    #[error("the address now belongs to another account")]
    EmailTaken,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        AccountError::Backend(e.into())
    }
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> AppError {
        match e {
            AccountError::BadCredentials => AppError::BadCredentials,
            AccountError::LinkDead(TokenPurpose::Verify) => {
                AppError::Invalid("This link has expired or was already used. Sign in to get a new one.".into())
            }
            AccountError::LinkDead(TokenPurpose::Reset) => {
                AppError::Invalid("This reset link has expired or was already used. Ask for a new one.".into())
            }
            AccountError::LinkDead(TokenPurpose::EmailChange) => {
                AppError::Invalid("This link has expired or was already used.".into())
            }
            AccountError::AlreadyYours => AppError::Invalid("That is already your email address.".into()),
            AccountError::EmailTaken => AppError::Conflict("That address now belongs to another account.".into()),
            AccountError::Backend(b) => b.into(),
        }
    }
}

/// A session just started: the token for the cookie, and how long the cookie lives (its Max-Age).
#[derive(Clone, Debug)]
pub struct NewSession {
    pub token: String,
    pub max_age_secs: i64,
}

impl NewSession {
    /// A session whose cookie lives `ttl`.
    pub(super) fn lasting(token: String, ttl: std::time::Duration) -> NewSession {
        NewSession { token, max_age_secs: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX) }
    }
}

/// Counts and logs a customer's failed sign-in (or failed re-authentication, or a dead reset link).
fn failed(state: &AppState, ip: Option<IpAddr>) {
    state.login_limits().record_failed_sign_in(Role::Customer, ip);
}

/// A fresh session for this customer; `replacing`, the session the browser brought, is ended first, so a
/// session id planted before sign-in is never promoted.
async fn start_session(
    state: &AppState,
    tenant: &Tenant,
    id: CustomerId,
    replacing: Option<&str>,
) -> Result<NewSession> {
    if let Some(old) = replacing {
        auth::end_session(&tenant.db, old).await?;
    }
    let ttl = state.settings().session_ttl;
    let token = auth::create_session(&tenant.db, id, auth::expires_in_ms(ttl)).await?;
    Ok(NewSession::lasting(token, ttl))
}

/// Signs a customer in with email and password: a new session (replacing the one the browser brought,
/// see [`start_session`]), or `BadCredentials`, counted as a failed sign-in from `ip`.
pub async fn sign_in(
    state: &AppState,
    tenant: &Tenant,
    ip: Option<IpAddr>,
    email: &str,
    password: String,
    replacing: Option<&str>,
) -> Result<NewSession, AccountError> {
    let (id, hash) = customers::find_login(&tenant.db, email).await?.unzip();
    // Verified even for unknown emails (against a dummy hash): the answer takes the same time either way.
    let ok = auth::verify_password(hash.clone(), password.clone()).await?;
    let (true, Some(id)) = (ok, id) else {
        failed(state, ip);
        return Err(AccountError::BadCredentials);
    };
    // Parameters raised since this hash was made: redo it now, while the password is at hand.
    if hash.as_deref().is_some_and(auth::needs_rehash) {
        let fresh = auth::hash_password(password).await?;
        let mut tx = tenant.db.begin().await?;
        customers::set_password_hash(&mut tx, id, &fresh).await?;
        tx.commit().await?;
    }
    Ok(start_session(state, tenant, id, replacing).await?)
}

/// Creates an unverified account and emails a verification link; an address that already has an account
/// gets nothing, and the caller cannot tell the two apart (no one learns who is a customer here).
pub async fn sign_up(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
    email: &str,
    name: &str,
    password: String,
) -> Result<()> {
    // Hashed whether or not the address is taken: both answers cost the same.
    let hash = auth::hash_password(password).await?;
    if let Some(id) = customers::create_unverified(&tenant.db, email, name, &hash).await? {
        let ttl = auth::VERIFY_TTL_HOURS * 3600 * 1000;
        let token = auth::issue_token(&tenant.db, id, TokenPurpose::Verify, None, ttl).await?;
        notify::verify_email(state, tenant, origin, email, name, &token).await?;
        tracing::info!(tenant = %tenant.slug, customer = %id, "customer signed up");
    }
    Ok(())
}

/// Emails a fresh verification link to a customer whose address is not confirmed yet.
pub async fn resend_verification(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
    customer: &Customer,
) -> Result<()> {
    let ttl = auth::VERIFY_TTL_HOURS * 3_600_000;
    let token = auth::issue_token(&tenant.db, customer.id, TokenPurpose::Verify, None, ttl).await?;
    notify::verify_email(state, tenant, origin, &customer.email, &customer.name, &token).await
}

/// Confirms an email address with the emailed link's token (single use), then sends the welcome mail.
pub async fn verify_email(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
    token: &str,
) -> Result<(), AccountError> {
    let mut tx = tenant.db.begin().await?;
    let Some((id, _)) = auth::consume_token(&mut tx, token, TokenPurpose::Verify).await? else {
        return Err(AccountError::LinkDead(TokenPurpose::Verify));
    };
    customers::mark_verified(&mut tx, id).await?;
    tx.commit().await?;
    notify::welcome(state, tenant, origin, id).await?;
    Ok(())
}

/// A request for a password-reset link for `email`: returns at once, and the link is sent (if the
/// address has an account) on a task of its own.
///
/// The request is answered before anything that depends on the address happens: looking it up, issuing a
/// token and queueing the mail run afterwards, on their own task. The request itself therefore does the
/// same work for known and unknown addresses, and its timing cannot tell them apart.
pub fn request_reset(state: &AppState, tenant: &Tenant, origin: Option<String>, email: String) {
    let (state, tenant) = (state.clone(), tenant.clone());
    tokio::spawn(async move {
        if let Err(e) = send_reset_link(&state, &tenant, origin, &email).await {
            tracing::warn!(tenant = %tenant.slug, error = %e, "sending a password reset link failed");
        }
    });
}

/// The part of a reset request that depends on the address (see [`request_reset`]).
pub async fn send_reset_link(state: &AppState, tenant: &Tenant, origin: Option<String>, email: &str) -> Result<()> {
    let Some((id, _)) = customers::find_login(&tenant.db, email).await? else { return Ok(()) };
    let ttl = i64::from(auth::RESET_TTL_MINUTES) * 60_000;
    let token = auth::issue_token(&tenant.db, id, TokenPurpose::Reset, None, ttl).await?;
    let name = customers::get(&tenant.db, id).await?.map(|c| c.name).unwrap_or_default();
    notify::password_reset(state, tenant, origin, email, &name, &token).await
}

/// Sets a new password from a reset link: single use, within 60 minutes; every session and every other
/// reset or email-change link of the account is ended. A dead link is counted as a failed sign-in from
/// `ip`.
pub async fn reset_password(
    state: &AppState,
    tenant: &Tenant,
    ip: Option<IpAddr>,
    token: &str,
    password: String,
) -> Result<(), AccountError> {
    // The link first: a made-up one costs no password hash.
    if !auth::token_is_live(&tenant.db, token, TokenPurpose::Reset).await? {
        failed(state, ip);
        return Err(AccountError::LinkDead(TokenPurpose::Reset));
    }
    let hash = auth::hash_password(password).await?;
    let mut tx = tenant.db.begin().await?;
    let Some((id, _)) = auth::consume_token(&mut tx, token, TokenPurpose::Reset).await? else {
        // Used by a concurrent request since the check above.
        return Err(AccountError::LinkDead(TokenPurpose::Reset));
    };
    customers::set_password_hash(&mut tx, id, &hash).await?;
    auth::revoke_tokens(&mut tx, id, &[TokenPurpose::Reset, TokenPurpose::EmailChange]).await?;
    // Opening the link proves the address, too.
    customers::mark_verified(&mut tx, id).await?;
    tx.commit().await?;
    auth::end_all_sessions(&tenant.db, id).await?;
    tracing::info!(tenant = %tenant.slug, customer = %id, "password reset; all sessions ended");
    Ok(())
}

/// Renames the customer.
pub async fn set_name(tenant: &Tenant, id: CustomerId, name: &str) -> Result<()> {
    customers::set_name(&tenant.db, id, name).await
}

/// Checks the current password of the signed-in customer (re-authentication before sensitive changes); a
/// wrong one is counted as a failed sign-in from `ip`.
async fn reauthenticate(
    state: &AppState,
    tenant: &Tenant,
    ip: Option<IpAddr>,
    customer: &Customer,
    password: String,
) -> Result<(), AccountError> {
    let hash = customers::password_hash(&tenant.db, customer.id).await?;
    if !auth::verify_password(hash, password).await? {
        failed(state, ip);
        return Err(AccountError::BadCredentials);
    }
    Ok(())
}

/// Changes the password (the current one is required); other sessions end, this one continues (as a new
/// session replacing `replacing`, see [`start_session`]), and every reset or email-change link still
/// outstanding dies.
pub async fn change_password(
    state: &AppState,
    tenant: &Tenant,
    ip: Option<IpAddr>,
    customer: &Customer,
    current_password: String,
    new_password: String,
    replacing: Option<&str>,
) -> Result<NewSession, AccountError> {
    reauthenticate(state, tenant, ip, customer, current_password).await?;
    let hash = auth::hash_password(new_password).await?;
    let mut tx = tenant.db.begin().await?;
    customers::set_password_hash(&mut tx, customer.id, &hash).await?;
    auth::revoke_tokens(&mut tx, customer.id, &[TokenPurpose::Reset, TokenPurpose::EmailChange]).await?;
    tx.commit().await?;
    auth::end_all_sessions(&tenant.db, customer.id).await?;
    Ok(start_session(state, tenant, customer.id, replacing).await?)
}

/// Starts a change of email address (the current password is required): a confirmation link goes to the
/// new address, and the change happens when it is opened ([`confirm_email_change`]).
pub async fn change_email(
    state: &AppState,
    tenant: &Tenant,
    ip: Option<IpAddr>,
    origin: Option<String>,
    customer: &Customer,
    current_password: String,
    new_email: &str,
) -> Result<(), AccountError> {
    reauthenticate(state, tenant, ip, customer, current_password).await?;
    if new_email == customer.email {
        return Err(AccountError::AlreadyYours);
    }
    let ttl = 24 * 3_600_000;
    let token = auth::issue_token(&tenant.db, customer.id, TokenPurpose::EmailChange, Some(new_email), ttl).await?;
    notify::confirm_email_change(state, tenant, origin, new_email, &customer.name, &token).await?;
    Ok(())
}

/// Moves the account to the new address of an email-change link (single use).
pub async fn confirm_email_change(tenant: &Tenant, token: &str) -> Result<(), AccountError> {
    let mut tx = tenant.db.begin().await?;
    let Some((id, Some(email))) = auth::consume_token(&mut tx, token, TokenPurpose::EmailChange).await? else {
        return Err(AccountError::LinkDead(TokenPurpose::EmailChange));
    };
    if !customers::set_email(&mut tx, id, &email).await? {
        return Err(AccountError::EmailTaken);
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_answer_with_the_messages_customers_know() {
        let answer = |e: AccountError| AppError::from(e).to_string();
        assert_eq!(answer(AccountError::BadCredentials), "That email and password do not match an account.");
        assert_eq!(
            answer(AccountError::LinkDead(TokenPurpose::Verify)),
            "This link has expired or was already used. Sign in to get a new one."
        );
        assert_eq!(
            answer(AccountError::LinkDead(TokenPurpose::Reset)),
            "This reset link has expired or was already used. Ask for a new one."
        );
        assert_eq!(
            answer(AccountError::LinkDead(TokenPurpose::EmailChange)),
            "This link has expired or was already used."
        );
        assert_eq!(answer(AccountError::AlreadyYours), "That is already your email address.");
        assert_eq!(
            AppError::from(AccountError::EmailTaken),
            AppError::Conflict("That address now belongs to another account.".into())
        );
        assert_eq!(AppError::from(AccountError::Backend(BackendError::Hash("x".into()))), AppError::Internal);
    }
}
