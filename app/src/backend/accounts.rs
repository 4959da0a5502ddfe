//! The people who run things: platform admins (central, admin host only) and reseller staff (central,
//! bound to one tenant). Their sessions live in the central database; only a hash of the cookie is kept,
//! and a staff session names its tenant, so a cookie carried to another tenant's host is worthless.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::auth;
use super::db::{now, CentralDb};
use super::{corrupt, Result};
use crate::domain::ids::TenantId;

pub const ADMIN_COOKIE: &str = "ezs_admin";
pub const STAFF_COOKIE: &str = "ezs_staff";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StaffRole {
    Owner,
    Admin,
}

impl StaffRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Owner => "owner",
            StaffRole::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<StaffRole> {
        match s {
            "owner" => Some(StaffRole::Owner),
            "admin" => Some(StaffRole::Admin),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct PlatformAdmin {
    pub id: String,
    pub email: String,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct StaffMember {
    pub id: String,
    pub tenant_id: TenantId,
    pub email: String,
    pub name: String,
    pub role: StaffRole,
}

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
    let row = sqlx::query("SELECT id, email, name, password_hash FROM platform_admins WHERE email = $1")
        .bind(email.trim().to_lowercase())
        .fetch_optional(central.pool())
        .await?;
    let hash = row.as_ref().map(|r| r.try_get::<String, _>(3)).transpose()?;
    if !auth::verify_password(hash, password.to_owned()).await? {
        return Ok(None);
    }
    let Some(r) = row else { return Ok(None) };
    Ok(Some(PlatformAdmin { id: r.try_get(0)?, email: r.try_get(1)?, name: r.try_get(2)? }))
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
    let row = sqlx::query(
        "SELECT id, tenant_id, email, name, role, password_hash FROM staff WHERE tenant_id = $1 AND email = $2",
    )
    .bind(tenant.to_string())
    .bind(email.trim().to_lowercase())
    .fetch_optional(central.pool())
    .await?;
    let hash = row.as_ref().map(|r| r.try_get::<String, _>(5)).transpose()?;
    if !auth::verify_password(hash, password.to_owned()).await? {
        return Ok(None);
    }
    row.as_ref().map(staff_from_row).transpose()
}

fn staff_from_row(r: &sqlx::any::AnyRow) -> Result<StaffMember> {
    let tenant: String = r.try_get(1)?;
    let role: String = r.try_get(4)?;
    Ok(StaffMember {
        id: r.try_get(0)?,
        tenant_id: tenant.parse().map_err(|_| corrupt("staff.tenant_id"))?,
        email: r.try_get(2)?,
        name: r.try_get(3)?,
        role: StaffRole::parse(&role).ok_or_else(|| corrupt("staff.role"))?,
    })
}

fn token_hash(token: &str) -> String {
    B64URL.encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    B64URL.encode(raw)
}

/// Starts an admin (tenant `None`) or staff session; returns the cookie value.
pub async fn create_session(
    central: &CentralDb,
    kind: &str,
    user_id: &str,
    tenant: Option<TenantId>,
    ttl_ms: i64,
) -> Result<String> {
    let token = new_token();
    let t = now();
    sqlx::query(
        "INSERT INTO central_sessions (token_hash, kind, user_id, tenant_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token_hash(&token))
    .bind(kind)
    .bind(user_id)
    .bind(tenant.map(|t| t.to_string()))
    .bind(t.as_millis())
    .bind(t.plus_millis(ttl_ms).as_millis())
    .execute(central.pool())
    .await?;
    Ok(token)
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
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT a.id, a.email, a.name FROM central_sessions s JOIN platform_admins a ON a.id = s.user_id \
         WHERE s.token_hash = $1 AND s.kind = 'admin' AND s.expires_at > $2",
    )
    .bind(token_hash(token))
    .bind(now().as_millis())
    .fetch_optional(central.pool())
    .await?;
    row.map(|r| Ok(PlatformAdmin { id: r.try_get(0)?, email: r.try_get(1)?, name: r.try_get(2)? })).transpose()
}

/// The staff member a cookie belongs to, on this tenant only: the tenant is part of the lookup.
pub async fn session_staff(central: &CentralDb, token: &str, tenant: TenantId) -> Result<Option<StaffMember>> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let row = sqlx::query(
        "SELECT m.id, m.tenant_id, m.email, m.name, m.role, m.password_hash FROM central_sessions s \
         JOIN staff m ON m.id = s.user_id \
         WHERE s.token_hash = $1 AND s.kind = 'staff' AND s.tenant_id = $2 AND m.tenant_id = $2 AND s.expires_at > $3",
    )
    .bind(token_hash(token))
    .bind(tenant.to_string())
    .bind(now().as_millis())
    .fetch_optional(central.pool())
    .await?;
    row.as_ref().map(staff_from_row).transpose()
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
