//! The people who run things: platform admins (central, admin host only) and reseller staff (central,
//! bound to one tenant). Their sessions live in the central database; only a hash of the cookie is kept,
//! and a staff session names its tenant, so a cookie carried to another tenant's host is worthless.

use sqlx::FromRow;

use super::tokens::{self, new_token, token_hash, TokenTable};
use crate::backend::identity::auth;
use crate::backend::platform::db::{now, CentralDb};
use crate::backend::{corrupt, Result};
use crate::domain::ids::TenantId;
pub use crate::domain::staff::{ImpersonationTarget, SessionKind, StaffRole};

/// Staff invitations: bound to their tenant, carrying the email, the role and who invited.
const INVITES: TokenTable = TokenTable::new("staff_invites", "tenant_id");
/// How long an invitation link stays usable.
const INVITE_TTL_MS: i64 = 7 * 24 * 3_600_000;
/// Impersonation handles: bound to the tenant whose host redeems them, carrying who becomes whom.
const IMPERSONATIONS: TokenTable = TokenTable::new("impersonation_tokens", "tenant_id");

pub const ADMIN_COOKIE: &str = "ezs_admin";
pub const STAFF_COOKIE: &str = "ezs_staff";

#[derive(Clone, Debug)]
pub struct PlatformAdmin {
    pub id: String,
    pub email: String,
    pub name: String,
}

/// A `platform_admins` row as the app knows an admin.
#[derive(FromRow)]
struct AdminRow {
    id: String,
    email: String,
    name: String,
}

impl From<AdminRow> for PlatformAdmin {
    fn from(r: AdminRow) -> PlatformAdmin {
        PlatformAdmin { id: r.id, email: r.email, name: r.name }
    }
}

/// An admin with the hash their password is checked against.
#[derive(FromRow)]
struct AdminLoginRow {
    #[sqlx(flatten)]
    admin: AdminRow,
    password_hash: String,
}

/// An admin found by their session, with when the session was last used.
#[derive(FromRow)]
struct AdminSessionRow {
    #[sqlx(flatten)]
    admin: AdminRow,
    last_seen_at: i64,
}

#[derive(Clone, Debug)]
pub struct StaffMember {
    pub id: String,
    pub tenant_id: TenantId,
    pub email: String,
    pub name: String,
    pub role: StaffRole,
    /// Set when a platform admin is acting as this member (the admin's email).
    pub impersonator: Option<String>,
}

impl StaffMember {
    /// This member as the audit log names them (with the admin acting through their session, if any).
    pub fn actor(&self) -> crate::backend::platform::audit::Actor<'_> {
        crate::backend::platform::audit::Actor::Staff { email: &self.email, impersonator: self.impersonator.as_deref() }
    }
}

/// Admin and staff sessions end after this long without use (and at their absolute expiry).
pub const IDLE_TIMEOUT_MS: i64 = 30 * 60 * 1000;
const TOUCH_EVERY_MS: i64 = 60_000;

/// Creates a platform admin, or resets the password of an existing one with that email (the CLI's
/// `admin create` is also the recovery path). Returns whether a new account was made.
pub async fn upsert_admin(central: &CentralDb, email: &str, name: &str, password: &str) -> Result<bool> {
    let email = email.trim().to_lowercase();
    let hash = auth::hash_password(password.to_owned()).await?;
    let updated = sqlx::query("UPDATE platform_admins SET password_hash = $1, name = $2 WHERE email = $3")
        .bind(&hash)
        .bind(name)
        .bind(&email)
        .execute(central.pool())
        .await?
        .rows_affected();
    if updated > 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO platform_admins (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(&email)
    .bind(name)
    .bind(&hash)
    .bind(now().as_millis())
    .execute(central.pool())
    .await?;
    Ok(true)
}

/// Checks an admin's credentials; unknown emails cost a dummy hash, so timing does not tell them apart.
pub async fn admin_login(central: &CentralDb, email: &str, password: &str) -> Result<Option<PlatformAdmin>> {
    let row = sqlx::query_as::<_, AdminLoginRow>(
        "SELECT id, email, name, password_hash FROM platform_admins WHERE email = $1",
    )
    .bind(email.trim().to_lowercase())
    .fetch_optional(central.pool())
    .await?;
    let hash = row.as_ref().map(|r| r.password_hash.clone());
    if !auth::verify_password(hash, password.to_owned()).await? {
        return Ok(None);
    }
    let Some(r) = row else { return Ok(None) };
    Ok(Some(r.admin.into()))
}

/// Adds a staff member to a tenant (idempotent on (tenant, email): a retried tenant creation finds the
/// owner it already made).
pub async fn ensure_staff(
    db: &mut sqlx::AnyConnection,
    tenant: TenantId,
    email: &str,
    name: &str,
    role: StaffRole,
    password_hash: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO staff (id, tenant_id, email, name, role, password_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, email) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(tenant.to_string())
    .bind(email.trim().to_lowercase())
    .bind(name)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(now().as_millis())
    .execute(db)
    .await?;
    Ok(())
}

pub async fn staff_login(
    central: &CentralDb,
    tenant: TenantId,
    email: &str,
    password: &str,
) -> Result<Option<StaffMember>> {
    let row = sqlx::query_as::<_, StaffRow>(
        "SELECT id, tenant_id, email, name, role, password_hash FROM staff WHERE tenant_id = $1 AND email = $2",
    )
    .bind(tenant.to_string())
    .bind(email.trim().to_lowercase())
    .fetch_optional(central.pool())
    .await?;
    // A member who has not chosen a password yet is checked like an unknown address: same work, no.
    let hash = row.as_ref().map(|r| r.password_hash.clone()).filter(|h| h != super::staff_password::NO_PASSWORD);
    if !auth::verify_password(hash, password.to_owned()).await? {
        return Ok(None);
    }
    row.map(StaffMember::try_from).transpose()
}

pub async fn list_staff(central: &CentralDb, tenant: TenantId) -> Result<Vec<StaffMember>> {
    let rows = sqlx::query_as::<_, StaffRow>(
        "SELECT id, tenant_id, email, name, role, password_hash FROM staff WHERE tenant_id = $1 ORDER BY role DESC, email",
    )
    .bind(tenant.to_string())
    .fetch_all(central.pool())
    .await?;
    rows.into_iter().map(StaffMember::try_from).collect()
}

/// A member of `tenant` by their email address.
pub async fn staff_by_email(central: &CentralDb, tenant: TenantId, email: &str) -> Result<Option<StaffMember>> {
    let row = sqlx::query_as::<_, StaffRow>(
        "SELECT id, tenant_id, email, name, role, password_hash FROM staff WHERE tenant_id = $1 AND email = $2",
    )
    .bind(tenant.to_string())
    .bind(email.trim().to_lowercase())
    .fetch_optional(central.pool())
    .await?;
    row.map(StaffMember::try_from).transpose()
}

pub async fn staff_by_id(central: &CentralDb, tenant: TenantId, id: &str) -> Result<Option<StaffMember>> {
    let row = sqlx::query_as::<_, StaffRow>(
        "SELECT id, tenant_id, email, name, role, password_hash FROM staff WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.to_string())
    .bind(id)
    .fetch_optional(central.pool())
    .await?;
    row.map(StaffMember::try_from).transpose()
}

/// Removes a staff member of this tenant (never the last owner) and ends their sessions.
pub async fn remove_staff(central: &CentralDb, tenant: TenantId, id: &str) -> Result<bool> {
    let mut tx = central.begin().await?;
    let owners: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM staff WHERE tenant_id = $1 AND role = 'owner' AND id <> $2")
            .bind(tenant.to_string())
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    let role: Option<String> = sqlx::query_scalar("SELECT role FROM staff WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let role = role.map(|r| StaffRole::parse(&r).map_err(|_| corrupt("staff.role"))).transpose()?;
    match role {
        None => return Ok(false),
        Some(StaffRole::Owner) if owners == 0 => return Ok(false),
        Some(_) => {}
    }
    sqlx::query("DELETE FROM central_sessions WHERE user_id = $1 AND kind = 'staff'")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM staff WHERE tenant_id = $1 AND id = $2")
        .bind(tenant.to_string())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// An invitation for `email` to join `tenant` as `role`; returns the token for the emailed link.
pub async fn invite_staff(
    central: &CentralDb,
    tenant: TenantId,
    email: &str,
    role: StaffRole,
    invited_by: &str,
) -> Result<String> {
    let email = email.trim().to_lowercase();
    let fields = [("email", Some(email.as_str())), ("role", Some(role.as_str())), ("invited_by", Some(invited_by))];
    INVITES.issue(central.pool(), &tenant.to_string(), &fields, INVITE_TTL_MS).await
}

/// Whether `email` is already a staff member of `tenant`.
pub async fn is_staff(central: &CentralDb, tenant: TenantId, email: &str) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staff WHERE tenant_id = $1 AND email = $2")
        .bind(tenant.to_string())
        .bind(email.trim().to_lowercase())
        .fetch_one(central.pool())
        .await?;
    Ok(n > 0)
}

/// What an invitation link is worth right now.
#[derive(Clone, Debug)]
pub enum Invitation {
    /// Unused, unexpired, for this tenant, and its email has no access yet.
    Open,
    /// Its email already has staff access here: accepting would mean signing in as that member without
    /// their password, so it is refused.
    AlreadyMember,
    /// Made up, used, expired, or for another tenant.
    Unusable,
}

/// What accepting an invitation did.
#[derive(Clone, Debug)]
pub enum Accepted {
    /// The new member, signed up with the invitation's email and role.
    Joined(StaffMember),
    AlreadyMember,
    Unusable,
}

/// Looks at an invitation without using it: checked before a password is hashed, so a made-up link
/// costs no hash.
pub async fn invitation(central: &CentralDb, tenant: TenantId, token: &str) -> Result<Invitation> {
    let row = INVITES.peek(central.pool(), token, &tenant.to_string(), "email").await?;
    let email = row.map(|r| InvitedEmail::from_row(&r)).transpose()?.map(|r| r.email);
    Ok(match email {
        None => Invitation::Unusable,
        Some(email) if is_staff(central, tenant, &email).await? => Invitation::AlreadyMember,
        Some(_) => Invitation::Open,
    })
}

/// Accepts an invitation on its tenant: single use, unexpired, and only for an email without access yet
/// (otherwise nothing changes and the invitation stays as it was). Creates the member and returns it.
pub async fn accept_invite(
    central: &CentralDb,
    tenant: TenantId,
    token: &str,
    name: &str,
    password_hash: &str,
) -> Result<Accepted> {
    let t = now().as_millis();
    let mut tx = central.begin().await?;
    let Some(row) = INVITES.redeem(&mut tx, token, &tenant.to_string(), "email, role").await? else {
        return Ok(Accepted::Unusable);
    };
    let InviteRow { email, role } = InviteRow::from_row(&row)?;
    let role = StaffRole::parse(&role).map_err(|_| corrupt("staff_invites.role"))?;
    let added = sqlx::query(
        "INSERT INTO staff (id, tenant_id, email, name, role, password_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, email) DO NOTHING",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(tenant.to_string())
    .bind(email.trim().to_lowercase())
    .bind(name)
    .bind(role.as_str())
    .bind(password_hash)
    .bind(t)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if added == 0 {
        // Became a member since the invitation was looked at: the invitation stays unused.
        tx.rollback().await?;
        return Ok(Accepted::AlreadyMember);
    }
    let member = sqlx::query_as::<_, StaffRow>(
        "SELECT id, tenant_id, email, name, role, password_hash FROM staff WHERE tenant_id = $1 AND email = $2",
    )
    .bind(tenant.to_string())
    .bind(&email)
    .fetch_one(&mut *tx)
    .await?;
    let member = StaffMember::try_from(member)?;
    tx.commit().await?;
    Ok(Accepted::Joined(member))
}

/// Ends every session of one admin or staff member ("sign out everywhere").
pub async fn end_user_sessions(central: &CentralDb, user_id: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM central_sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(central.pool())
        .await?
        .rows_affected())
}

/// What a staff invitation carries when it is looked at (`staff_invites`).
#[derive(FromRow)]
struct InvitedEmail {
    email: String,
}

/// What a staff invitation carries when it is accepted (`staff_invites`).
#[derive(FromRow)]
struct InviteRow {
    email: String,
    role: String,
}

/// A single-use handle, valid for 60 seconds, that the admin's browser redeems on the tenant's host.
pub async fn issue_impersonation(
    central: &CentralDb,
    tenant: TenantId,
    target: ImpersonationTarget,
    target_id: &str,
    admin_email: &str,
) -> Result<String> {
    let fields =
        [("target_kind", Some(target.as_str())), ("target_id", Some(target_id)), ("admin_email", Some(admin_email))];
    IMPERSONATIONS.issue(central.pool(), &tenant.to_string(), &fields, 60_000).await
}

/// Redeems an impersonation token on its own tenant: (target, target id, admin email).
pub async fn redeem_impersonation(
    central: &CentralDb,
    tenant: TenantId,
    token: &str,
) -> Result<Option<(ImpersonationTarget, String, String)>> {
    let mut tx = central.begin().await?;
    let columns = "target_kind, target_id, admin_email";
    let Some(row) = IMPERSONATIONS.redeem(&mut tx, token, &tenant.to_string(), columns).await? else {
        return Ok(None);
    };
    tx.commit().await?;
    let r = ImpersonationRow::from_row(&row)?;
    let target = ImpersonationTarget::parse(&r.target_kind).map_err(|_| corrupt("impersonation_tokens.target_kind"))?;
    Ok(Some((target, r.target_id, r.admin_email)))
}

/// What an impersonation handle carries (`impersonation_tokens`).
#[derive(FromRow)]
struct ImpersonationRow {
    target_kind: String,
    target_id: String,
    admin_email: String,
}

/// A `staff` row as stored.
#[derive(FromRow)]
struct StaffRow {
    id: String,
    tenant_id: String,
    email: String,
    name: String,
    role: String,
    password_hash: String,
}

impl TryFrom<StaffRow> for StaffMember {
    type Error = crate::backend::BackendError;

    fn try_from(r: StaffRow) -> Result<StaffMember> {
        Ok(StaffMember {
            id: r.id,
            tenant_id: r.tenant_id.parse().map_err(|_| corrupt("staff.tenant_id"))?,
            email: r.email,
            name: r.name,
            role: StaffRole::parse(&r.role).map_err(|_| corrupt("staff.role"))?,
            impersonator: None,
        })
    }
}

/// A staff member found by their session, with when it was last used and the admin acting through it.
#[derive(FromRow)]
struct StaffSessionRow {
    #[sqlx(flatten)]
    member: StaffRow,
    last_seen_at: i64,
    impersonator: Option<String>,
}

/// Starts an admin (tenant `None`) or staff session; returns the cookie value.
pub async fn create_session(
    central: &CentralDb,
    kind: SessionKind,
    user_id: &str,
    tenant: Option<TenantId>,
    ttl_ms: i64,
) -> Result<String> {
    create_session_as(central, kind, user_id, tenant, ttl_ms, None).await
}

/// Like [`create_session`], recording the admin who acts as this user (impersonation).
pub async fn create_session_as(
    central: &CentralDb,
    kind: SessionKind,
    user_id: &str,
    tenant: Option<TenantId>,
    ttl_ms: i64,
    impersonator: Option<&str>,
) -> Result<String> {
    let token = new_token();
    let t = now();
    sqlx::query(
        "INSERT INTO central_sessions (token_hash, kind, user_id, tenant_id, created_at, expires_at, last_seen_at, impersonator) \
         VALUES ($1, $2, $3, $4, $5, $6, $5, $7)",
    )
    .bind(token_hash(&token))
    .bind(kind.as_str())
    .bind(user_id)
    .bind(tenant.map(|t| t.to_string()))
    .bind(t.as_millis())
    .bind(t.plus_millis(ttl_ms).as_millis())
    .bind(impersonator)
    .execute(central.pool())
    .await?;
    Ok(token)
}

/// Keeps a session alive (at most one write a minute).
async fn touch(central: &CentralDb, hash: &str, seen: i64, t: i64) -> Result<()> {
    if t - seen > TOUCH_EVERY_MS {
        sqlx::query("UPDATE central_sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(t)
            .bind(hash)
            .execute(central.pool())
            .await?;
    }
    Ok(())
}

pub async fn end_session(central: &CentralDb, token: &str) -> Result<()> {
    sqlx::query("DELETE FROM central_sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(central.pool())
        .await?;
    Ok(())
}

/// The admin a cookie belongs to (admin sessions only).
pub async fn session_admin(central: &CentralDb, token: &str) -> Result<Option<PlatformAdmin>> {
    if tokens::is_malformed(token) {
        return Ok(None);
    }
    let t = now().as_millis();
    let hash = token_hash(token);
    let row = sqlx::query_as::<_, AdminSessionRow>(
        "SELECT a.id, a.email, a.name, s.last_seen_at FROM central_sessions s JOIN platform_admins a ON a.id = s.user_id \
         WHERE s.token_hash = $1 AND s.kind = 'admin' AND s.expires_at > $2 AND s.last_seen_at > $3",
    )
    .bind(&hash)
    .bind(t)
    .bind(t - IDLE_TIMEOUT_MS)
    .fetch_optional(central.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    touch(central, &hash, r.last_seen_at, t).await?;
    Ok(Some(r.admin.into()))
}

/// The staff member a cookie belongs to, on this tenant only: the tenant is part of the lookup.
pub async fn session_staff(central: &CentralDb, token: &str, tenant: TenantId) -> Result<Option<StaffMember>> {
    if tokens::is_malformed(token) {
        return Ok(None);
    }
    let t = now().as_millis();
    let hash = token_hash(token);
    let row = sqlx::query_as::<_, StaffSessionRow>(
        "SELECT m.id, m.tenant_id, m.email, m.name, m.role, m.password_hash, s.last_seen_at, s.impersonator \
         FROM central_sessions s JOIN staff m ON m.id = s.user_id \
         WHERE s.token_hash = $1 AND s.kind = 'staff' AND s.tenant_id = $2 AND m.tenant_id = $2 AND s.expires_at > $3 \
         AND s.last_seen_at > $4",
    )
    .bind(&hash)
    .bind(tenant.to_string())
    .bind(t)
    .bind(t - IDLE_TIMEOUT_MS)
    .fetch_optional(central.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    touch(central, &hash, r.last_seen_at, t).await?;
    let mut member = StaffMember::try_from(r.member)?;
    member.impersonator = r.impersonator;
    Ok(Some(member))
}

/// Ends every session of a tenant's staff (suspension, deletion).
pub async fn end_tenant_sessions(tx: &mut sqlx::AnyConnection, tenant: TenantId) -> Result<()> {
    sqlx::query("DELETE FROM central_sessions WHERE tenant_id = $1").bind(tenant.to_string()).execute(tx).await?;
    Ok(())
}

/// `Set-Cookie` for a named session cookie: host-only, HttpOnly, SameSite=Lax, Secure when configured.
pub fn cookie(name: &str, token: &str, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}
