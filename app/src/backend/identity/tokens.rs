//! Random tokens and their hashes (what a session cookie or an emailed link carries), and the one
//! implementation of single-use tokens: email verification, password reset and email change for
//! customers, staff invitations, impersonation handles.
//!
//! A single-use token is 256 random bits, handed out once; only its SHA-256 is stored, so the table grants
//! nothing to whoever reads it. It is bound to a scope (its purpose, or its tenant) and worth nothing
//! outside it; it expires; and it is used at most once: the use is one conditional update, so two
//! concurrent uses cannot both succeed. Each kind has a table of its own with the same shape: `token_hash`
//! (the primary key), the scope column, what the token carries, `created_at`, `expires_at`, `used_at`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::backend::platform::db::now;
use crate::backend::Result;

/// A fresh token: 256 random bits, base64url (43 characters, safe in a cookie and a URL).
pub fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    B64URL.encode(raw)
}

/// What is stored for a token: its SHA-256, never the token itself.
pub fn token_hash(token: &str) -> String {
    B64URL.encode(Sha256::digest(token.as_bytes()))
}

/// Not a token we could have issued (empty, or longer than any of ours): refused before any hashing or
/// query, whatever a client sends.
pub fn is_malformed(token: &str) -> bool {
    token.is_empty() || token.len() > 128
}

/// Where one kind of single-use token lives. Table and column names are constants of this crate, never
/// input: they are the only text spliced into the statements below.
pub(crate) struct TokenTable {
    table: &'static str,
    /// The column a token must match, besides its hash, to be used.
    scope: &'static str,
}

impl TokenTable {
    pub(crate) const fn new(table: &'static str, scope: &'static str) -> TokenTable {
        TokenTable { table, scope }
    }

    /// Stores a new token for `scope`, carrying `fields` (column, value), valid for `ttl_ms`, and returns it:
    /// the only time it exists in clear.
    pub(crate) async fn issue<'e, E>(
        &self,
        db: E,
        scope: &str,
        fields: &[(&'static str, Option<&str>)],
        ttl_ms: i64,
    ) -> Result<String>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let token = new_token();
        let t = now();
        let columns: String = fields.iter().map(|(column, _)| format!(", {column}")).collect();
        let params: String = (0..fields.len()).map(|i| format!(", ${}", i + 5)).collect();
        let sql = format!(
            "INSERT INTO {} (token_hash, {}, created_at, expires_at{columns}) VALUES ($1, $2, $3, $4{params})",
            self.table, self.scope
        );
        let mut insert = sqlx::query(AssertSqlSafe(sql))
            .bind(token_hash(&token))
            .bind(scope)
            .bind(t.as_millis())
            .bind(t.plus_millis(ttl_ms).as_millis());
        for (_, value) in fields {
            insert = insert.bind(*value);
        }
        insert.execute(db).await?;
        Ok(token)
    }

    /// Uses a token: only if it is unused, unexpired and for `scope`; otherwise nothing changes and the
    /// answer is `None`. Returns `columns` of its row. Run it in the transaction that does what the token
    /// allows, so that a failure there leaves the token unused.
    pub(crate) async fn redeem(
        &self,
        tx: &mut AnyConnection,
        token: &str,
        scope: &str,
        columns: &'static str,
    ) -> Result<Option<AnyRow>> {
        if is_malformed(token) {
            return Ok(None);
        }
        let hash = token_hash(token);
        let used = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {} SET used_at = $1 WHERE token_hash = $2 AND {} = $3 AND used_at IS NULL AND expires_at > $1",
            self.table, self.scope
        )))
        .bind(now().as_millis())
        .bind(&hash)
        .bind(scope)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if used == 0 {
            return Ok(None);
        }
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {columns} FROM {} WHERE token_hash = $1", self.table)))
            .bind(hash)
            .fetch_one(&mut *tx)
            .await?;
        Ok(Some(row))
    }

    /// What [`TokenTable::redeem`] would find now, without using the token: checked before costly work (a
    /// password hash), so a made-up link costs none. `columns` of its row.
    pub(crate) async fn peek<'e, E>(
        &self,
        db: E,
        token: &str,
        scope: &str,
        columns: &'static str,
    ) -> Result<Option<AnyRow>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        if is_malformed(token) {
            return Ok(None);
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {columns} FROM {} WHERE token_hash = $1 AND {} = $2 AND used_at IS NULL AND expires_at > $3",
            self.table, self.scope
        )))
        .bind(token_hash(token))
        .bind(scope)
        .bind(now().as_millis())
        .fetch_optional(db)
        .await?;
        Ok(row)
    }

    /// Ends the outstanding tokens for `scope` whose `column` is `value` (marked used, as if redeemed).
    /// Returns how many.
    pub(crate) async fn revoke(
        &self,
        tx: &mut AnyConnection,
        scope: &str,
        column: &'static str,
        value: &str,
    ) -> Result<u64> {
        let ended = sqlx::query(AssertSqlSafe(format!(
            "UPDATE {} SET used_at = $1 WHERE {column} = $2 AND {} = $3 AND used_at IS NULL",
            self.table, self.scope
        )))
        .bind(now().as_millis())
        .bind(value)
        .bind(scope)
        .execute(tx)
        .await?
        .rows_affected();
        Ok(ended)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sqlx::{Connection, Row};

    use super::*;

    const KEYS: TokenTable = TokenTable::new("keys", "tenant_id");

    async fn conn() -> AnyConnection {
        sqlx::any::install_default_drivers();
        let mut c = AnyConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query(
            "CREATE TABLE keys (token_hash TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, email TEXT, note TEXT, \
             created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER)",
        )
        .execute(&mut c)
        .await
        .unwrap();
        c
    }

    #[test]
    fn tokens_are_long_random_and_stored_only_as_hashes() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert!(is_malformed("") && is_malformed(&"x".repeat(129)) && !is_malformed(&a));
    }

    #[tokio::test]
    async fn a_token_is_stored_hashed_used_once_and_only_in_its_scope() {
        let mut c = conn().await;
        let token = KEYS.issue(&mut c, "t1", &[("email", Some("a@x")), ("note", None)], 60_000).await.unwrap();
        let stored: String = sqlx::query_scalar("SELECT token_hash FROM keys").fetch_one(&mut c).await.unwrap();
        assert_eq!(stored, token_hash(&token));

        assert!(KEYS.peek(&mut c, &token, "t2", "email").await.unwrap().is_none(), "another scope");
        assert!(KEYS.redeem(&mut c, &token, "t2", "email").await.unwrap().is_none(), "another scope");
        let peeked = KEYS.peek(&mut c, &token, "t1", "email").await.unwrap().unwrap();
        assert_eq!(peeked.try_get::<String, _>(0).unwrap(), "a@x");
        let row = KEYS.redeem(&mut c, &token, "t1", "email, note").await.unwrap().unwrap();
        assert_eq!(row.try_get::<String, _>(0).unwrap(), "a@x");
        assert_eq!(row.try_get::<Option<String>, _>(1).unwrap(), None);
        assert!(KEYS.redeem(&mut c, &token, "t1", "email").await.unwrap().is_none(), "used");
        assert!(KEYS.peek(&mut c, &token, "t1", "email").await.unwrap().is_none(), "used");
        assert!(KEYS.redeem(&mut c, "", "t1", "email").await.unwrap().is_none());
        assert!(KEYS.redeem(&mut c, &new_token(), "t1", "email").await.unwrap().is_none(), "made up");
    }

    #[tokio::test]
    async fn an_expired_or_revoked_token_is_worth_nothing() {
        let mut c = conn().await;
        let expired = KEYS.issue(&mut c, "t1", &[], -1).await.unwrap();
        assert!(KEYS.peek(&mut c, &expired, "t1", "email").await.unwrap().is_none());
        assert!(KEYS.redeem(&mut c, &expired, "t1", "email").await.unwrap().is_none());

        let mine = KEYS.issue(&mut c, "t1", &[("email", Some("a@x"))], 60_000).await.unwrap();
        let other = KEYS.issue(&mut c, "t1", &[("email", Some("b@x"))], 60_000).await.unwrap();
        assert_eq!(KEYS.revoke(&mut c, "t1", "email", "a@x").await.unwrap(), 1);
        assert!(KEYS.redeem(&mut c, &mine, "t1", "email").await.unwrap().is_none());
        assert!(KEYS.redeem(&mut c, &other, "t1", "email").await.unwrap().is_some());
    }
}
