//! A storefront's team, as its owners run it: inviting a colleague by email and removing a member. Both
//! are owners' actions and recorded in the audit log with who did them (and the admin acting through their
//! session, if any).

use std::net::IpAddr;

use crate::backend::identity::accounts::{self, StaffMember, StaffRole};
use crate::backend::mail::{self, outbox, templates, token_dedupe_key, Outgoing, SECRET_PLACEHOLDER};
use crate::backend::platform::audit;
use crate::backend::state::AppState;
use crate::backend::tenancy::branding;
use crate::backend::BackendError;

/// Why a team change was refused.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// Only owners manage the team.
    #[error("only owners manage the team")]
    NotOwner,
    #[error("{0} is already on the team.")]
    AlreadyOnTeam(String),
    #[error("no such member")]
    NotFound,
    #[error("A storefront keeps at least one owner.")]
    LastOwner,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Invites `email` (already checked) as `role`: the emailed link, on `origin`, lets them choose a name
/// and password. Someone who is on the team already is not invited again. The token is stored only
/// sealed; the mail is built around its placeholder.
pub async fn invite(
    state: &AppState,
    ip: Option<IpAddr>,
    origin: &str,
    me: &StaffMember,
    email: &str,
    role: StaffRole,
) -> Result<(), TeamError> {
    if me.role != StaffRole::Owner {
        return Err(TeamError::NotOwner);
    }
    let tenant = me.tenant_id;
    if accounts::is_staff(state.central(), tenant, email).await? {
        return Err(TeamError::AlreadyOnTeam(email.to_owned()));
    }
    let token = accounts::invite_staff(state.central(), tenant, email, role, &me.email).await?;
    let b = branding::get(state.central(), tenant).await?.ok_or(TeamError::NotFound)?;
    let link = format!("{origin}/manage/accept?token={SECRET_PLACEHOLDER}");
    let rendered = templates::staff_invite(&mail::brand_context(&b, origin), &me.name, &link);
    let key = token_dedupe_key("invite", tenant, &token);
    let o = Outgoing::for_tenant(tenant, &b, "staff_invite", key, email, rendered);
    outbox::enqueue_with_secret(state.central(), state.crypto(), &o, &token).await.map_err(BackendError::from)?;
    state.notify_mail();
    let detail = format!("{email} as {}", role.as_str());
    audit::record_by(state.central(), ip, &me.actor(), Some(tenant), "staff.invited", &detail).await?;
    Ok(())
}

/// Removes a member of `me`'s storefront; the last owner stays.
pub async fn remove(state: &AppState, ip: Option<IpAddr>, me: &StaffMember, id: &str) -> Result<(), TeamError> {
    if me.role != StaffRole::Owner {
        return Err(TeamError::NotOwner);
    }
    let tenant = me.tenant_id;
    let target = accounts::staff_by_id(state.central(), tenant, id).await?.ok_or(TeamError::NotFound)?;
    if !accounts::remove_staff(state.central(), tenant, id).await? {
        return Err(TeamError::LastOwner);
    }
    audit::record_by(state.central(), ip, &me.actor(), Some(tenant), "staff.removed", &target.email).await?;
    Ok(())
}

impl From<TeamError> for crate::error::AppError {
    fn from(e: TeamError) -> Self {
        use crate::error::AppError;
        match e {
            TeamError::NotOwner => AppError::Forbidden,
            TeamError::NotFound => AppError::NotFound,
            e @ (TeamError::AlreadyOnTeam(_) | TeamError::LastOwner) => AppError::Conflict(e.to_string()),
            TeamError::Backend(b) => b.into(),
        }
    }
}
