//! Customer accounts of one tenant, and the Kasm user each one is mapped to.

use crate::backend::platform::db::{is_unique_violation, now, TenantDb};
use crate::backend::{corrupt, Result};
use crate::domain::ids::CustomerId;
use crate::domain::time::Timestamp;

#[derive(Clone, Debug)]
pub struct Customer {
    pub id: CustomerId,
    pub email: String,
    pub name: String,
    pub kasm_user_id: Option<String>,
    pub kasm_username: Option<String>,
    /// Unverified accounts can sign in but cannot order.
    pub email_verified: bool,
    /// Suspended by the storefront: can sign in and pay, but not order or start workspaces.
    pub suspended: bool,
}

macro_rules! customer_columns {
    () => {
        "id, email, name, kasm_user_id, kasm_username, email_verified_at, suspended_at"
    };
}

/// [`customer_columns!`] of the `customers` table named `c` in a join (a unit test keeps the two lists equal).
macro_rules! customer_columns_of_c {
    () => {
        "c.id, c.email, c.name, c.kasm_user_id, c.kasm_username, c.email_verified_at, c.suspended_at"
    };
}
pub(crate) use customer_columns_of_c;

/// A `customers` row as the app knows a customer ([`customer_columns!`]).
#[derive(sqlx::FromRow)]
pub(crate) struct CustomerRow {
    id: String,
    email: String,
    name: String,
    kasm_user_id: Option<String>,
    kasm_username: Option<String>,
    email_verified_at: Option<i64>,
    suspended_at: Option<i64>,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = crate::backend::BackendError;

    fn try_from(r: CustomerRow) -> Result<Customer> {
        Ok(Customer {
            id: r.id.parse().map_err(|_| corrupt("customers.id"))?,
            email: r.email,
            name: r.name,
            kasm_user_id: r.kasm_user_id,
            kasm_username: r.kasm_username,
            email_verified: r.email_verified_at.is_some(),
            suspended: r.suspended_at.is_some(),
        })
    }
}

pub async fn get(db: &TenantDb, id: CustomerId) -> Result<Option<Customer>> {
    let row =
        sqlx::query_as::<_, CustomerRow>(concat!("SELECT ", customer_columns!(), " FROM customers WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    row.map(Customer::try_from).transpose()
}

/// The customer and their password hash, by (lower-cased) email.
pub async fn find_login(db: &TenantDb, email: &str) -> Result<Option<(CustomerId, String)>> {
    let row = sqlx::query_as::<_, LoginRow>("SELECT id, password_hash FROM customers WHERE email = $1")
        .bind(email.trim().to_lowercase())
        .fetch_optional(db.pool())
        .await?;
    match row {
        None => Ok(None),
        Some(r) => Ok(Some((r.id.parse().map_err(|_| corrupt("customers.id"))?, r.password_hash))),
    }
}

/// What signing in checks (`customers`).
#[derive(sqlx::FromRow)]
struct LoginRow {
    id: String,
    password_hash: String,
}

/// Signs up a new, unverified account. `None` when the email is taken (the caller answers the same either
/// way, so sign-up does not reveal who has an account).
pub async fn create_unverified(
    db: &TenantDb,
    email: &str,
    name: &str,
    password_hash: &str,
) -> Result<Option<CustomerId>> {
    let id = CustomerId::new_random();
    let n = sqlx::query(
        "INSERT INTO customers (id, email, name, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)          ON CONFLICT (email) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(email.trim().to_lowercase())
    .bind(name)
    .bind(password_hash)
    .bind(now().as_millis())
    .execute(db.pool())
    .await?
    .rows_affected();
    Ok((n == 1).then_some(id))
}

pub async fn mark_verified(tx: &mut sqlx::AnyConnection, id: CustomerId) -> Result<()> {
    sqlx::query("UPDATE customers SET email_verified_at = $1 WHERE id = $2 AND email_verified_at IS NULL")
        .bind(now().as_millis())
        .bind(id.to_string())
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn password_hash(db: &TenantDb, id: CustomerId) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT password_hash FROM customers WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?)
}

pub async fn set_password_hash(tx: &mut sqlx::AnyConnection, id: CustomerId, hash: &str) -> Result<()> {
    sqlx::query("UPDATE customers SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(id.to_string())
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn set_name(db: &TenantDb, id: CustomerId, name: &str) -> Result<()> {
    sqlx::query("UPDATE customers SET name = $1 WHERE id = $2")
        .bind(name)
        .bind(id.to_string())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Moves the account to a confirmed new address. `false` when another account took it meanwhile.
pub async fn set_email(tx: &mut sqlx::AnyConnection, id: CustomerId, email: &str) -> Result<bool> {
    let r = sqlx::query("UPDATE customers SET email = $1, email_verified_at = $2 WHERE id = $3")
        .bind(email)
        .bind(now().as_millis())
        .bind(id.to_string())
        .execute(tx)
        .await;
    match r {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Creates the account unless the email is taken; returns the id of the account with that email.
/// (Seeding and tests: such accounts count as verified.)
pub async fn ensure(db: &TenantDb, email: &str, name: &str, password_hash: &str) -> Result<CustomerId> {
    let email = email.trim().to_lowercase();
    sqlx::query(
        "INSERT INTO customers (id, email, name, password_hash, created_at, email_verified_at) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (email) DO NOTHING",
    )
    .bind(CustomerId::new_random().to_string())
    .bind(&email)
    .bind(name)
    .bind(password_hash)
    .bind(now().as_millis())
    .execute(db.pool())
    .await?;
    find_login(db, &email).await?.map(|(id, _)| id).ok_or_else(|| corrupt("customer vanished after insert"))
}

/// Records the Kasm username and sealed password we are about to create, unless some earlier attempt
/// already did (then that earlier identity is kept and reused).
pub async fn reserve_kasm_identity(db: &TenantDb, id: CustomerId, username: &str, password_sealed: &str) -> Result<()> {
    sqlx::query(
        "UPDATE customers SET kasm_username = $1, kasm_password_enc = $2 WHERE id = $3 AND kasm_username IS NULL",
    )
    .bind(username)
    .bind(password_sealed)
    .bind(id.to_string())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// The reserved Kasm username and sealed password.
pub async fn kasm_identity(db: &TenantDb, id: CustomerId) -> Result<Option<(String, String)>> {
    let row =
        sqlx::query_as::<_, KasmIdentityRow>("SELECT kasm_username, kasm_password_enc FROM customers WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    Ok(row.and_then(|r| r.kasm_username.zip(r.kasm_password_enc)))
}

/// A customer's Kasm identity, both halves unset until it is reserved (`customers`).
#[derive(sqlx::FromRow)]
struct KasmIdentityRow {
    kasm_username: Option<String>,
    kasm_password_enc: Option<String>,
}

pub async fn set_kasm_user_id(db: &TenantDb, id: CustomerId, kasm_user_id: &str) -> Result<()> {
    sqlx::query("UPDATE customers SET kasm_user_id = $1 WHERE id = $2 AND kasm_user_id IS NULL")
        .bind(kasm_user_id)
        .bind(id.to_string())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Suspends the account with the reseller's reason. `false` when it already was (the first reason stays).
/// A meter start locks the customer's row first (see `workspaces::store::start_meter`), so once this
/// commits no workspace of theirs starts billing.
pub async fn suspend(db: &TenantDb, id: CustomerId, reason: &str, at: Timestamp) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE customers SET suspended_at = $1, suspended_reason = $2 WHERE id = $3 AND suspended_at IS NULL",
    )
    .bind(at.as_millis())
    .bind(reason)
    .bind(id.to_string())
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1)
}

/// Lifts a suspension. `false` when the account was not suspended.
pub async fn unsuspend(db: &TenantDb, id: CustomerId) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE customers SET suspended_at = NULL, suspended_reason = NULL WHERE id = $1 AND suspended_at IS NOT NULL",
    )
    .bind(id.to_string())
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1)
}

/// How the account stands: when it was opened and, if it is suspended, since when and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub created_at: Timestamp,
    pub suspended: Option<(Timestamp, String)>,
}

pub async fn standing(db: &TenantDb, id: CustomerId) -> Result<Option<Standing>> {
    let row = sqlx::query_as::<_, StandingRow>(
        "SELECT created_at, suspended_at, suspended_reason FROM customers WHERE id = $1",
    )
    .bind(id.to_string())
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(|r| Standing {
        created_at: Timestamp::from_millis(r.created_at),
        suspended: r.suspended_at.map(|t| (Timestamp::from_millis(t), r.suspended_reason.unwrap_or_default())),
    }))
}

/// A customer's opening and suspension columns.
#[derive(sqlx::FromRow)]
struct StandingRow {
    created_at: i64,
    suspended_at: Option<i64>,
    suspended_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_joined_columns_are_the_same_columns_of_c() {
        let prefixed: Vec<String> = customer_columns!().split(", ").map(|c| format!("c.{c}")).collect();
        assert_eq!(prefixed.join(", "), customer_columns_of_c!());
    }
}
