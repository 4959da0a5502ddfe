//! Passwords (argon2id) and browser sessions (random token in an HttpOnly cookie, only its hash stored),
//! and the customers' single-use links sent by email (verification, password reset, email change), kept
//! by [`super::tokens`].

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use sqlx::FromRow;
use tokio::sync::Semaphore;

use super::customers::{customer_columns_of_c, Customer, CustomerRow};
use super::tokens::{self, TokenTable};
use crate::backend::platform::db::{now, TenantDb};
use crate::backend::{BackendError, Result};
use crate::domain::ids::CustomerId;
use crate::domain::time::Timestamp;

pub const SESSION_COOKIE: &str = "ezs_session";

/// How long emailed links stay valid.
pub const RESET_TTL_MINUTES: u32 = 60;
pub const VERIFY_TTL_HOURS: i64 = 48;

/// OWASP's argon2id recommendation: m = 19 MiB, t = 2, p = 1.
pub const ARGON2_M_KIB: u32 = 19_456;
pub const ARGON2_T: u32 = 2;
pub const ARGON2_P: u32 = 1;

fn argon2() -> Result<Argon2<'static>> {
    let params = Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, None).map_err(|e| BackendError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// At most this many hashes at once: each takes 19 MiB and a core for tens of milliseconds, so a burst of
/// sign-ins queues here instead of exhausting memory or starving every other request.
fn hashing_slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()).max(2)))
}

/// Runs CPU-bound hashing on the blocking pool (never on the async workers), within the concurrency limit.
async fn hashing<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let _slot = hashing_slots().acquire().await.map_err(|e| BackendError::Hash(e.to_string()))?;
    tokio::task::spawn_blocking(f).await.map_err(|e| BackendError::Hash(e.to_string()))?
}

pub async fn hash_password(password: String) -> Result<String> {
    hashing(move || {
        argon2()?
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| BackendError::Hash(e.to_string()))
    })
    .await
}

/// Whether a stored hash was made with other parameters than today's (then it is redone at the next
/// successful sign-in, while the password is at hand).
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return true };
    let param = |name: &str| parsed.params.get_decimal(name);
    parsed.algorithm.as_str() != "argon2id"
        || param("m") != Some(ARGON2_M_KIB)
        || param("t") != Some(ARGON2_T)
        || param("p") != Some(ARGON2_P)
}

/// Verifies a password. With no stored hash (unknown account) a dummy hash is checked anyway, so the
/// answer takes as long for unknown emails as for known ones.
pub async fn verify_password(stored: Option<String>, password: String) -> Result<bool> {
    let known = stored.is_some();
    let phc = match stored {
        Some(h) => h,
        None => dummy_hash().await?,
    };
    let ok = hashing(move || {
        // Verification reads the parameters from the stored hash itself.
        Ok(PasswordHash::new(&phc)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false))
    })
    .await?;
    Ok(known && ok)
}

async fn dummy_hash() -> Result<String> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h.clone());
    }
    let h = hash_password("not-a-real-password".into()).await?;
    Ok(DUMMY.get_or_init(|| h).clone())
}

/// (Named here by its callers outside identity: the request context and limits keyed by a token.)
pub use super::tokens::token_hash;

/// The customers' emailed links: scoped by purpose, carrying the customer and (for an email change) the
/// new address.
const LINKS: TokenTable = TokenTable::new("auth_tokens", "purpose");

/// Starts a session for a customer and returns the cookie value (256 random bits). `ttl_ms` is the
/// absolute lifetime; the idle timeout is applied when the session is used.
pub async fn create_session(db: &TenantDb, customer: CustomerId, ttl_ms: i64) -> Result<String> {
    create_session_as(db, customer, ttl_ms, None).await
}

/// Like [`create_session`], recording the platform admin who acts as this customer (impersonation).
pub async fn create_session_as(
    db: &TenantDb,
    customer: CustomerId,
    ttl_ms: i64,
    impersonator: Option<&str>,
) -> Result<String> {
    let token = tokens::new_token();
    let t = now();
    sqlx::query(
        "INSERT INTO auth_sessions (token_hash, customer_id, created_at, expires_at, last_seen_at, impersonator) \
         VALUES ($1, $2, $3, $4, $3, $5)",
    )
    .bind(token_hash(&token))
    .bind(customer.to_string())
    .bind(t.as_millis())
    .bind(t.plus_millis(ttl_ms).as_millis())
    .bind(impersonator)
    .execute(db.pool())
    .await?;
    Ok(token)
}

/// How long a session may go unused before it ends.
pub const IDLE_TIMEOUT_MS: i64 = 24 * 3600 * 1000;
/// `last_seen_at` is refreshed at most this often, so reads do not each become a write.
const TOUCH_EVERY_MS: i64 = 60_000;

/// Who a valid session cookie signs in, and the platform admin acting as them if it is an impersonation.
#[derive(Clone, Debug)]
pub struct SessionCustomer {
    pub customer: Customer,
    pub impersonator: Option<String>,
}

/// The customer a session cookie belongs to, if it is valid: within its absolute lifetime and used within
/// the idle timeout. Using it keeps it alive. One query reads the session and its customer: every signed-in
/// request asks.
pub async fn session_customer(db: &TenantDb, token: &str) -> Result<Option<SessionCustomer>> {
    if tokens::is_malformed(token) {
        return Ok(None);
    }
    let t = now().as_millis();
    let hash = token_hash(token);
    let row = sqlx::query_as::<_, SessionRow>(concat!(
        "SELECT s.last_seen_at, s.impersonator, ",
        customer_columns_of_c!(),
        " FROM auth_sessions s JOIN customers c ON c.id = s.customer_id \
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3"
    ))
    .bind(&hash)
    .bind(t)
    .bind(t - IDLE_TIMEOUT_MS)
    .fetch_optional(db.pool())
    .await?;
    let Some(SessionRow { last_seen_at: seen, impersonator, customer }) = row else { return Ok(None) };
    if t - seen > TOUCH_EVERY_MS {
        let touched = sqlx::query("UPDATE auth_sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(t)
            .bind(&hash)
            .execute(db.pool())
            .await;
        match touched {
            Ok(_) => {}
            // The storefront's database is paused for a move: reading goes on, and the session is
            // kept alive by a later request.
            Err(e) if crate::backend::platform::db::is_read_only(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(SessionCustomer { customer: Customer::try_from(customer)?, impersonator }))
}

/// A live `auth_sessions` row with its customer: when it was last used, and who acts through it.
#[derive(sqlx::FromRow)]
struct SessionRow {
    last_seen_at: i64,
    impersonator: Option<String>,
    #[sqlx(flatten)]
    customer: CustomerRow,
}

/// A customer's signed-in browser session, as the storefront's staff see it (never its token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveSession {
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    /// A platform admin acting as the customer (their email).
    pub impersonator: Option<String>,
}

/// The customer's sessions that are still valid, most recently used first.
pub async fn live_sessions(db: &TenantDb, customer: CustomerId) -> Result<Vec<LiveSession>> {
    let t = now().as_millis();
    let rows = sqlx::query_as::<_, LiveRow>(
        "SELECT created_at, last_seen_at, expires_at, impersonator FROM auth_sessions \
         WHERE customer_id = $1 AND expires_at > $2 AND last_seen_at > $3 ORDER BY last_seen_at DESC LIMIT 50",
    )
    .bind(customer.to_string())
    .bind(t)
    .bind(t - IDLE_TIMEOUT_MS)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| LiveSession {
            created_at: Timestamp::from_millis(r.created_at),
            last_seen_at: Timestamp::from_millis(r.last_seen_at),
            expires_at: Timestamp::from_millis(r.expires_at),
            impersonator: r.impersonator,
        })
        .collect())
}

/// An `auth_sessions` row as the staff's list shows it.
#[derive(sqlx::FromRow)]
struct LiveRow {
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    impersonator: Option<String>,
}

/// Ends every session of a customer ("sign out everywhere", and after a password reset).
pub async fn end_all_sessions(db: &TenantDb, customer: CustomerId) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM auth_sessions WHERE customer_id = $1")
        .bind(customer.to_string())
        .execute(db.pool())
        .await?
        .rows_affected())
}

/// What an emailed token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenPurpose {
    Verify,
    Reset,
    EmailChange,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Verify => "verify",
            TokenPurpose::Reset => "reset",
            TokenPurpose::EmailChange => "email_change",
        }
    }
}

/// Issues a single-use token (see [`super::tokens`]) and returns it for the email link.
pub async fn issue_token(
    db: &TenantDb,
    customer: CustomerId,
    purpose: TokenPurpose,
    new_email: Option<&str>,
    ttl_ms: i64,
) -> Result<String> {
    let customer = customer.to_string();
    let fields = [("customer_id", Some(customer.as_str())), ("new_email", new_email)];
    LINKS.issue(db.pool(), purpose.as_str(), &fields, ttl_ms).await
}

/// Consumes a token: valid only once, before it expires, for its purpose. Returns its customer and (for
/// email changes) the new address.
pub async fn consume_token(
    tx: &mut sqlx::AnyConnection,
    token: &str,
    purpose: TokenPurpose,
) -> Result<Option<(CustomerId, Option<String>)>> {
    let Some(row) = LINKS.redeem(tx, token, purpose.as_str(), "customer_id, new_email").await? else {
        return Ok(None);
    };
    let r = LinkRow::from_row(&row)?;
    Ok(Some((r.customer_id.parse().map_err(|_| crate::backend::corrupt("auth_tokens.customer_id"))?, r.new_email)))
}

/// What a customer's emailed link carries (`auth_tokens`).
#[derive(sqlx::FromRow)]
struct LinkRow {
    customer_id: String,
    new_email: Option<String>,
}

/// Whether a token could be consumed now (unused, unexpired, for this purpose), without using it: checked
/// before a password is hashed, so a made-up link costs no hash.
pub async fn token_is_live(db: &TenantDb, token: &str, purpose: TokenPurpose) -> Result<bool> {
    Ok(LINKS.peek(db.pool(), token, purpose.as_str(), "token_hash").await?.is_some())
}

/// Ends a customer's outstanding tokens of these purposes (marked used). A password change ends every
/// reset and email-change link still in someone's mailbox: whoever knew the old password, or held a link,
/// must not be able to use what they set in motion.
pub async fn revoke_tokens(
    tx: &mut sqlx::AnyConnection,
    customer: CustomerId,
    purposes: &[TokenPurpose],
) -> Result<u64> {
    let customer = customer.to_string();
    let mut ended = 0;
    for purpose in purposes {
        ended += LINKS.revoke(&mut *tx, purpose.as_str(), "customer_id", &customer).await?;
    }
    Ok(ended)
}

pub async fn end_session(db: &TenantDb, token: &str) -> Result<()> {
    sqlx::query("DELETE FROM auth_sessions WHERE token_hash = $1").bind(token_hash(token)).execute(db.pool()).await?;
    Ok(())
}

/// `Set-Cookie` value for a new session. Host-only (no Domain attribute), so it is sent back only to the
/// storefront that issued it.
pub fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}

pub fn clear_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

/// The session token from a `Cookie` header, if present.
pub fn token_from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

pub fn expires_in_ms(ttl: std::time::Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_token_is_found_among_other_cookies() {
        assert_eq!(token_from_cookie_header("a=1; ezs_session=abc; b=2"), Some("abc"));
        assert_eq!(token_from_cookie_header("ezs_session="), None);
        assert_eq!(token_from_cookie_header("other=1"), None);
    }

    #[test]
    fn session_cookies_are_httponly_and_lax() {
        let c = session_cookie("t", 60, true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.ends_with("; Secure"));
        assert!(!session_cookie("t", 60, false).contains("Secure"));
    }

    #[tokio::test]
    async fn hashes_use_owasp_parameters_and_old_ones_are_flagged_for_rehash() {
        let h = hash_password("pw".into()).await.unwrap_or_default();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(!needs_rehash(&h));
        // Made with weaker parameters (as an older release might have): verified, and flagged.
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(8192, 1, 1, None).unwrap_or_default())
            .hash_password(b"pw")
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(needs_rehash(&weak));
        assert!(matches!(verify_password(Some(weak), "pw".into()).await, Ok(true)));
        assert!(needs_rehash("not a hash"));
    }

    #[tokio::test]
    async fn passwords_verify_and_unknown_accounts_never_do() {
        let h = hash_password("correct horse".into()).await.unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(matches!(verify_password(Some(h.clone()), "correct horse".into()).await, Ok(true)));
        assert!(matches!(verify_password(Some(h), "wrong".into()).await, Ok(false)));
        assert!(matches!(verify_password(None, "not-a-real-password".into()).await, Ok(false)));
    }
}
