//! Customer accounts: sign-up with email verification, sign-in and out, password reset, profile, change of
//! email or password with re-authentication, and "sign out everywhere".
//!
//! Each function checks access, applies the attempt limits and parses its input here, then runs one flow
//! of `backend::identity::customer_account` and answers with its outcome (setting or clearing the session cookie).
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
    use crate::backend::identity::customer_account::NewSession;
    use crate::backend::identity::{auth, customers::Customer};
    use crate::backend::platform::limits::Role;
    use crate::backend::request;
    use crate::backend::state::{AppState, Tenant};
    use crate::error::AppError;

    /// Applies the attempt limits (per client address and per account key) before any work.
    pub async fn limit(state: &AppState, key: &str) -> Result<(), AppError> {
        request::limit_attempt(state, Role::Customer, key).await
    }

    /// What must hold before the current password is even checked (re-authentication before a change of
    /// credentials): the session is the customer's own, and the attempt limits allow another try.
    pub async fn may_reauthenticate(state: &AppState, tenant: &Tenant, customer: &Customer) -> Result<(), AppError> {
        // An admin acting as the customer never changes their credentials.
        if request::customer_impersonator().await?.is_some() {
            return Err(AppError::Forbidden);
        }
        limit(state, &format!("login:{}:{}", tenant.id, customer.email)).await
    }

    /// Hands the browser the cookie of a session just started.
    pub fn set_session(state: &AppState, session: &NewSession) {
        let secure = state.settings().secure_cookies;
        request::set_cookie(&auth::session_cookie(&session.token, session.max_age_secs, secure));
    }

    /// Ends the session cookie in the browser.
    pub fn clear_session(state: &AppState) {
        request::set_cookie(&auth::clear_cookie(state.settings().secure_cookies));
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

/// Signs in; any session the browser brought is replaced (never promoted).
#[server(prefix = "/api", endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<(), AppError> {
    use crate::backend::{identity::customer_account, request};
    let (state, tenant) = request::tenant().await?;
    if email.len() > 254 || password.len() > 1024 {
        return Err(AppError::BadCredentials);
    }
    edge::limit(&state, &format!("login:{}:{}", tenant.id, email.trim().to_lowercase())).await?;
    let old = request::session_token();
    let session =
        customer_account::sign_in(&state, &tenant, request::client_ip(), &email, password, old.as_deref()).await?;
    edge::set_session(&state, &session);
    Ok(())
}

#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::backend::{identity::auth, request};
    let (state, tenant) = request::tenant().await?;
    if let Some(token) = request::session_token() {
        auth::end_session(&tenant.db, &token).await?;
    }
    edge::clear_session(&state);
    Ok(())
}

/// Ends every session of the signed-in customer, on every device (this one too).
#[server(prefix = "/api", endpoint = "logout_everywhere")]
pub async fn logout_everywhere() -> Result<u64, AppError> {
    use crate::backend::{identity::auth, request};
    let (state, tenant, customer) = request::require_customer().await?;
    let n = auth::end_all_sessions(&tenant.db, customer.id).await?;
    edge::clear_session(&state);
    Ok(n)
}

/// Creates an account and emails a verification link. Answers the same whether or not the email already
/// has an account (no one learns who is a customer here) — which is also why it does not sign in: a
/// session cookie on one answer and not the other would tell.
#[server(prefix = "/api", endpoint = "signup")]
pub async fn signup(name: String, email: String, password: String) -> Result<(), AppError> {
    use crate::backend::{identity::customer_account, request};
    let (state, tenant) = request::tenant().await?;
    let email = edge::email(&email)?;
    edge::limit(&state, &format!("signup:{}:{email}", tenant.id)).await?;
    let name = edge::name(&name)?;
    edge::new_password(&password)?;
    customer_account::sign_up(&state, &tenant, request::origin(), &email, &name, password).await?;
    Ok(())
}

/// Sends a fresh verification link to the signed-in, unverified customer.
#[server(prefix = "/api", endpoint = "resend_verification")]
pub async fn resend_verification() -> Result<(), AppError> {
    use crate::backend::{identity::customer_account, request};
    let (state, tenant, customer) = request::require_customer().await?;
    if customer.email_verified {
        return Ok(());
    }
    edge::limit(&state, &format!("verify:{}:{}", tenant.id, customer.email)).await?;
    customer_account::resend_verification(&state, &tenant, request::origin(), &customer).await?;
    Ok(())
}

/// Confirms an email address from the emailed link (a POST from the page the link opens: nothing
/// changes on a GET, so link scanners cannot confirm on the customer's behalf).
#[server(prefix = "/api", endpoint = "verify_email")]
pub async fn verify_email(token: String) -> Result<(), AppError> {
    use crate::backend::{identity::customer_account, request};
    let (state, tenant) = request::tenant().await?;
    customer_account::verify_email(&state, &tenant, request::origin(), &token).await?;
    Ok(())
}

/// Emails a password-reset link if the address has an account; answers the same either way, and before
/// anything that depends on the address is done (see `customer_account::request_reset`).
#[server(prefix = "/api", endpoint = "request_password_reset")]
pub async fn request_password_reset(email: String) -> Result<(), AppError> {
    use crate::backend::{identity::customer_account, request};
    let (state, tenant) = request::tenant().await?;
    let email = edge::email(&email)?;
    edge::limit(&state, &format!("reset:{}:{email}", tenant.id)).await?;
    customer_account::request_reset(&state, &tenant, request::origin(), email);
    Ok(())
}

/// Sets a new password from a reset link: single use, within 60 minutes; every session and every other
/// reset or email-change link of the account is ended (this browser's cookie too).
#[server(prefix = "/api", endpoint = "reset_password")]
pub async fn reset_password(token: String, password: String) -> Result<(), AppError> {
    use crate::backend::identity::{auth, customer_account};
    use crate::backend::request;
    let (state, tenant) = request::tenant().await?;
    edge::new_password(&password)?;
    // Keyed by the link (and, in the limiter, by the client's address): one address's guesses never lock
    // anyone else out of their own link.
    edge::limit(&state, &format!("reset-token:{}:{}", tenant.id, auth::token_hash(&token))).await?;
    customer_account::reset_password(&state, &tenant, request::client_ip(), &token, password).await?;
    edge::clear_session(&state);
    Ok(())
}

#[server(prefix = "/api", endpoint = "update_profile")]
pub async fn update_profile(name: String) -> Result<Me, AppError> {
    use crate::backend::{identity::customer_account, request};
    let (_, tenant, customer) = request::require_customer().await?;
    let name = edge::name(&name)?;
    customer_account::set_name(&tenant, customer.id, &name).await?;
    Ok(Me { name, email: customer.email, email_verified: customer.email_verified })
}

/// Changes the password (the current one is required); other sessions end, this one continues, and
/// every reset or email-change link still outstanding dies.
#[server(prefix = "/api", endpoint = "change_password")]
pub async fn change_password(current_password: String, new_password: String) -> Result<(), AppError> {
    use crate::backend::{identity::customer_account, request};
    let (state, tenant, customer) = request::require_customer().await?;
    edge::new_password(&new_password)?;
    edge::may_reauthenticate(&state, &tenant, &customer).await?;
    let old = request::session_token();
    let ip = request::client_ip();
    let session = customer_account::change_password(
        &state,
        &tenant,
        ip,
        &customer,
        current_password,
        new_password,
        old.as_deref(),
    )
    .await?;
    edge::set_session(&state, &session);
    Ok(())
}

/// Starts a change of email address (the current password is required): a confirmation link goes to the
/// new address, and the change happens when it is opened.
#[server(prefix = "/api", endpoint = "change_email")]
pub async fn change_email(current_password: String, new_email: String) -> Result<(), AppError> {
    use crate::backend::{identity::customer_account, request};
    let (state, tenant, customer) = request::require_customer().await?;
    let new_email = edge::email(&new_email)?;
    edge::may_reauthenticate(&state, &tenant, &customer).await?;
    let (ip, origin) = (request::client_ip(), request::origin());
    customer_account::change_email(&state, &tenant, ip, origin, &customer, current_password, &new_email).await?;
    Ok(())
}

#[server(prefix = "/api", endpoint = "confirm_email_change")]
pub async fn confirm_email_change(token: String) -> Result<(), AppError> {
    use crate::backend::{identity::customer_account, request};
    let (_, tenant) = request::tenant().await?;
    customer_account::confirm_email_change(&tenant, &token).await?;
    Ok(())
}
