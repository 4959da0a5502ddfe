//! Starting staff and platform-admin sessions: signing in, accepting a staff invitation, and redeeming a
//! platform admin's "act as" handle on the tenant's own host. Each flow is one call; the caller applies the
//! attempt limits first and sets the cookie of the session it gets back.

use std::net::IpAddr;
use std::time::Duration;

use crate::backend::identity::accounts::{self, Accepted, ImpersonationTarget, Invitation, SessionKind, StaffMember};
use crate::backend::identity::auth;
use crate::backend::identity::customer_account::NewSession;
use crate::backend::platform::audit::{self, ActorKind};
use crate::backend::platform::limits::Role;
use crate::backend::state::{AppState, Tenant};
use crate::backend::BackendError;
use crate::domain::ids::{CustomerId, TenantId};

/// Admin and staff sessions last 12 hours (and end sooner when idle).
pub(super) const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// An impersonation lasts an hour at most.
const IMPERSONATION_TTL: Duration = Duration::from_secs(3600);

/// Signs a platform admin in; `None` for a wrong email or password (counted, and audited with the
/// client's address). A session the browser brought (`replacing`) is ended first, so a planted session id
/// is never promoted.
pub async fn admin(
    state: &AppState,
    ip: Option<IpAddr>,
    email: &str,
    password: &str,
    replacing: Option<&str>,
) -> Result<Option<NewSession>, BackendError> {
    let Some(admin) = accounts::admin_login(state.central(), email, password).await? else {
        state.login_limits().record_failed_sign_in(Role::Admin, ip);
        // The limits the caller applied bound how many rows a guesser can add. The name typed is recorded
        // only if it is an email address: a password typed into the wrong field must not end up in the log.
        let tried = crate::domain::email::parse_email(email).unwrap_or_else(|| "(not an email address)".to_owned());
        audit::record(
            state.central(),
            ip,
            ActorKind::Admin,
            &tried,
            None,
            "admin.sign_in_failed",
            "wrong email or password",
        )
        .await?;
        return Ok(None);
    };
    if let Some(old) = replacing {
        accounts::end_session(state.central(), old).await?;
    }
    let token = accounts::create_session(
        state.central(),
        SessionKind::Admin,
        &admin.id,
        None,
        auth::expires_in_ms(SESSION_TTL),
    )
    .await?;
    Ok(Some(NewSession::lasting(token, SESSION_TTL)))
}

/// Signs a staff member in on their own storefront; `None` for a wrong email or password (counted).
pub async fn staff(
    state: &AppState,
    ip: Option<IpAddr>,
    tenant: TenantId,
    email: &str,
    password: &str,
    replacing: Option<&str>,
) -> Result<Option<NewSession>, BackendError> {
    let Some(member) = accounts::staff_login(state.central(), tenant, email, password).await? else {
        state.login_limits().record_failed_sign_in(Role::Staff, ip);
        return Ok(None);
    };
    if let Some(old) = replacing {
        accounts::end_session(state.central(), old).await?;
    }
    Ok(Some(staff_session(state, &member).await?))
}

async fn staff_session(state: &AppState, member: &StaffMember) -> Result<NewSession, BackendError> {
    let expires = auth::expires_in_ms(SESSION_TTL);
    let token =
        accounts::create_session(state.central(), SessionKind::Staff, &member.id, Some(member.tenant_id), expires)
            .await?;
    Ok(NewSession::lasting(token, SESSION_TTL))
}

/// Why an invitation was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("Your name is 1 to 80 characters.")]
    Name,
    #[error("Staff passwords have at least 12 characters.")]
    Password,
    /// Made up, used, expired, or for another storefront.
    #[error("This invitation has expired or was already used.")]
    Unusable,
    /// Its email already has access here: accepting must never sign anyone in as an existing member.
    #[error("This email address already has access to this storefront. Sign in with its password instead.")]
    AlreadyMember,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Accepts an invitation (from the emailed link, on its storefront's host) and signs the new member in.
/// The link is checked before the password is hashed, so a flood of made-up links costs no hashing; a
/// dead link counts as a failed sign-in.
pub async fn accept_invite(
    state: &AppState,
    ip: Option<IpAddr>,
    tenant: TenantId,
    token: &str,
    name: &str,
    password: String,
) -> Result<NewSession, InviteError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(InviteError::Name);
    }
    if password.chars().count() < 12 || password.len() > 1024 {
        return Err(InviteError::Password);
    }
    match accounts::invitation(state.central(), tenant, token).await? {
        Invitation::Open => {}
        Invitation::AlreadyMember => return Err(InviteError::AlreadyMember),
        Invitation::Unusable => {
            state.login_limits().record_failed_sign_in(Role::Staff, ip);
            return Err(InviteError::Unusable);
        }
    }
    let hash = auth::hash_password(password).await?;
    let member = match accounts::accept_invite(state.central(), tenant, token, name, &hash).await? {
        Accepted::Joined(member) => member,
        Accepted::AlreadyMember => return Err(InviteError::AlreadyMember),
        Accepted::Unusable => return Err(InviteError::Unusable),
    };
    Ok(staff_session(state, &member).await?)
}

/// An impersonation session started on the tenant's host: whose cookie it is and where to go.
#[derive(Debug)]
pub struct Impersonating {
    pub target: ImpersonationTarget,
    pub session: NewSession,
    /// The page to open: the storefront's management for staff, the workspaces for a customer.
    pub go: &'static str,
}

/// Turns an admin's single-use "act as" handle into a session on this tenant's host (marked with the
/// admin, lasting an hour), recorded in the audit log. `None` for a dead handle.
pub async fn impersonation(
    state: &AppState,
    ip: Option<IpAddr>,
    tenant: &Tenant,
    token: &str,
) -> Result<Option<Impersonating>, BackendError> {
    let Some((target, id, admin)) = accounts::redeem_impersonation(state.central(), tenant.id, token).await? else {
        return Ok(None);
    };
    let expires = auth::expires_in_ms(IMPERSONATION_TTL);
    let (token, go, whom) = match target {
        ImpersonationTarget::Staff => {
            let t = accounts::create_session_as(
                state.central(),
                SessionKind::Staff,
                &id,
                Some(tenant.id),
                expires,
                Some(&admin),
            )
            .await?;
            (t, "/manage", format!("staff {id}"))
        }
        ImpersonationTarget::Customer => {
            let customer: CustomerId =
                id.parse().map_err(|_| crate::backend::corrupt("impersonation_tokens.target_id"))?;
            let t = auth::create_session_as(&tenant.db, customer, expires, Some(&admin)).await?;
            (t, "/workspaces", format!("customer {id}"))
        }
    };
    audit::record(state.central(), ip, ActorKind::Admin, &admin, Some(tenant.id), "impersonation.started", &whom)
        .await?;
    Ok(Some(Impersonating { target, session: NewSession::lasting(token, IMPERSONATION_TTL), go }))
}

impl From<InviteError> for crate::error::AppError {
    fn from(e: InviteError) -> Self {
        use crate::error::AppError;
        match e {
            e @ (InviteError::Name | InviteError::Password | InviteError::Unusable) => AppError::Invalid(e.to_string()),
            e @ InviteError::AlreadyMember => AppError::Conflict(e.to_string()),
            InviteError::Backend(b) => b.into(),
        }
    }
}
