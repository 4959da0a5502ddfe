//! Passwords (argon2id) and browser sessions (random token in an HttpOnly cookie, only its hash stored).

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::db::{now, TenantDb};
use super::{BackendError, Result};
use crate::domain::ids::CustomerId;

pub const SESSION_COOKIE: &str = "ezs_session";

/// argon2id with the crate defaults, which are OWASP's recommendation (m = 19 MiB, t = 2, p = 1).
/// Hashing is CPU-bound, so it runs on the blocking pool and never stalls the async workers.
pub async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| BackendError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| BackendError::Hash(e.to_string()))?
}

/// Verifies a password. With no stored hash (unknown account) a dummy hash is checked anyway, so the
/// answer takes as long for unknown emails as for known ones.
pub async fn verify_password(stored: Option<String>, password: String) -> Result<bool> {
    let known = stored.is_some();
    let phc = match stored {
        Some(h) => h,
        None => dummy_hash().await?,
    };
    let ok = tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    })
    .await
    .map_err(|e| BackendError::Hash(e.to_string()))?;
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

fn token_hash(token: &str) -> String {
    B64URL.encode(Sha256::digest(token.as_bytes()))
}

/// Starts a session for a customer and returns the cookie value (256 random bits).
pub async fn create_session(db: &TenantDb, customer: CustomerId, ttl_ms: i64) -> Result<String> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = B64URL.encode(raw);
    let t = now();
    sqlx::query("INSERT INTO auth_sessions (token_hash, customer_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(token_hash(&token))
        .bind(customer.to_string())
        .bind(t.as_millis())
        .bind(t.plus_millis(ttl_ms).as_millis())
        .execute(db.pool())
        .await?;
    Ok(token)
}

/// The customer a session cookie belongs to, if it is valid and unexpired.
pub async fn session_customer(db: &TenantDb, token: &str) -> Result<Option<CustomerId>> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let row = sqlx::query("SELECT customer_id FROM auth_sessions WHERE token_hash = $1 AND expires_at > $2")
        .bind(token_hash(token))
        .bind(now().as_millis())
        .fetch_optional(db.pool())
        .await?;
    match row {
        Some(r) => {
            let id: String = r.try_get(0)?;
            Ok(Some(id.parse().map_err(|_| super::corrupt("auth_sessions.customer_id"))?))
        }
        None => Ok(None),
    }
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
    async fn passwords_verify_and_unknown_accounts_never_do() {
        let h = hash_password("correct horse".into()).await.unwrap_or_default();
        assert!(h.starts_with("$argon2id$"));
        assert!(matches!(verify_password(Some(h.clone()), "correct horse".into()).await, Ok(true)));
        assert!(matches!(verify_password(Some(h), "wrong".into()).await, Ok(false)));
        assert!(matches!(verify_password(None, "not-a-real-password".into()).await, Ok(false)));
    }
}
