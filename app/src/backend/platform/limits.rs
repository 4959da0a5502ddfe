//! Attempt limits for sign-in and the other unauthenticated account actions (sign-up, reset, invitation
//! links), checked before any password hashing so that guessing is slow and hashing cannot be used to
//! exhaust the CPU. Fixed windows per client address and per account key.
//!
//! The counts live in the central database (`attempt_limits`), so every app server sharing it enforces one
//! limit together: 20 guesses spread over three servers are refused exactly as 20 sent to one. One attempt
//! is one statement (an atomic upsert of the account's row and the address's row that answers with both
//! counts), so a refused attempt costs a keyed hash and that one small query, never a password hash. Keys
//! are stored as keyed hashes ([`Crypto::keyed_hash`]): no email or address is ever written in clear, and
//! every server (sharing the data key) names a key the same way. Finished windows are deleted by
//! [`Limiter::purge_expired`], which the reconciler's periodic loop calls.
//!
//! SQLite deployments, a single server by nature, use the same table: one code path, tested on both
//! engines, and counts that survive a restart. (SQLite in WAL mode takes these small writes easily; the
//! write lock is held for one row update.)
//!
//! If the count cannot be taken (the central database is unreachable), the attempt is refused as an
//! internal error rather than let through: the limiter never fails open.
//!
//! The limiter also keeps the security counters `/metrics` shows: failed sign-ins and refused attempts,
//! per [`Role`], per server (a scraper sums the servers). Both are logged as they happen, with the role and
//! the client's address (never the email or password typed).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::backend::platform::crypto::Crypto;
use crate::backend::platform::db::{self, CentralDb};

/// Who was trying to get in: a storefront's customer, a reseller's staff member, or a platform admin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Customer,
    Staff,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Customer, Role::Staff, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    fn index(self) -> usize {
        match self {
            Role::Customer => 0,
            Role::Staff => 1,
            Role::Admin => 2,
        }
    }
}

/// How many attempts a key may make per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    pub window: Duration,
    pub per_ip: u32,
    pub per_account: u32,
}

impl Default for Policy {
    fn default() -> Self {
        // 10 tries per account and 50 per address every 5 minutes: plenty for people, little for bots.
        Policy { window: Duration::from_secs(300), per_ip: 50, per_account: 10 }
    }
}

/// The answer to one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Over the limit of the address or the account key; the window ends after this long.
    Refused {
        retry_after: Duration,
    },
}

/// The keyed-hash purposes of the two kinds of key: an account key and an address never share a row.
const ACCOUNT_KEY: &str = "attempt-limit/account";
const IP_KEY: &str = "attempt-limit/ip";

/// Counts one attempt per listed key and answers with each key's count and window. A key whose window
/// has ended (started at or before the cut-off, a whole window before now) starts a new one at 1. The
/// account's row comes first in every statement, so concurrent attempts lock rows in one order (no
/// deadlock). Placeholders are numbered in order of appearance (SQLite numbers them so).
const COUNT_ONE: &str = "INSERT INTO attempt_limits (key_hash, window_start, attempts) VALUES ($1, $2, 1) \
     ON CONFLICT (key_hash) DO UPDATE SET \
       attempts = CASE WHEN attempt_limits.window_start <= $3 THEN 1 ELSE attempt_limits.attempts + 1 END, \
       window_start = CASE WHEN attempt_limits.window_start <= $3 THEN excluded.window_start \
                      ELSE attempt_limits.window_start END \
     RETURNING key_hash, attempts, window_start";
const COUNT_TWO: &str =
    "INSERT INTO attempt_limits (key_hash, window_start, attempts) VALUES ($1, $2, 1), ($3, $2, 1) \
     ON CONFLICT (key_hash) DO UPDATE SET \
       attempts = CASE WHEN attempt_limits.window_start <= $4 THEN 1 ELSE attempt_limits.attempts + 1 END, \
       window_start = CASE WHEN attempt_limits.window_start <= $4 THEN excluded.window_start \
                      ELSE attempt_limits.window_start END \
     RETURNING key_hash, attempts, window_start";

#[derive(Debug)]
pub struct Limiter {
    central: CentralDb,
    crypto: Crypto,
    policy: Policy,
    failed_sign_ins: [AtomicU64; 3],
    refusals: [AtomicU64; 3],
}

impl Limiter {
    /// Counts in `central`, naming keys with `crypto`'s keyed hash, under the default [`Policy`].
    pub fn new(central: CentralDb, crypto: Crypto) -> Self {
        Limiter::with_policy(central, crypto, Policy::default())
    }

    pub fn with_policy(central: CentralDb, crypto: Crypto, policy: Policy) -> Self {
        Limiter { central, crypto, policy, failed_sign_ins: Default::default(), refusals: Default::default() }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The stored name of an account key (any case, surrounding blanks ignored) and of an address.
    pub fn account_key(&self, account: &str) -> String {
        self.crypto.keyed_hash(ACCOUNT_KEY, &account.trim().to_lowercase())
    }

    pub fn ip_key(&self, ip: IpAddr) -> String {
        self.crypto.keyed_hash(IP_KEY, &ip.to_string())
    }

    /// Counts one attempt of the account key `account` from `ip`, cluster-wide. A refusal is counted for
    /// `role` and logged with the address.
    pub async fn attempt(&self, role: Role, ip: Option<IpAddr>, account: &str) -> Result<Verdict, sqlx::Error> {
        let now = db::now().as_millis();
        let window = millis(self.policy.window);
        let account_key = self.account_key(account);
        let ip_key = ip.map(|ip| self.ip_key(ip));
        let query = match &ip_key {
            Some(ip_key) => sqlx::query_as::<_, (String, i64, i64)>(COUNT_TWO)
                .bind(account_key.as_str())
                .bind(now)
                .bind(ip_key.as_str())
                .bind(now.saturating_sub(window)),
            None => sqlx::query_as::<_, (String, i64, i64)>(COUNT_ONE)
                .bind(account_key.as_str())
                .bind(now)
                .bind(now.saturating_sub(window)),
        };
        let rows = query.fetch_all(self.central.pool()).await?;
        let mut wait: Option<Duration> = None;
        for (key, attempts, window_start) in rows {
            let limit = if key == account_key { self.policy.per_account } else { self.policy.per_ip };
            if let Some(left) = over_limit(attempts, limit, window_start, now, self.policy.window) {
                wait = Some(wait.map_or(left, |w| w.max(left)));
            }
        }
        let Some(retry_after) = wait else { return Ok(Verdict::Allowed) };
        self.refusals[role.index()].fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            role = role.as_str(),
            client = %show_ip(ip),
            retry_after_secs = retry_after.as_secs().max(1),
            "too many attempts: refused"
        );
        Ok(Verdict::Refused { retry_after })
    }

    /// Deletes the rows of windows that have ended (they would start afresh anyway). Returns how many.
    pub async fn purge_expired(&self) -> Result<u64, sqlx::Error> {
        let before = db::now().as_millis().saturating_sub(millis(self.policy.window));
        let done = sqlx::query("DELETE FROM attempt_limits WHERE window_start <= $1")
            .bind(before)
            .execute(self.central.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Counts and logs a failed sign-in: a wrong email or password, or a made-up, used or expired
    /// reset or invitation link.
    pub fn record_failed_sign_in(&self, role: Role, ip: Option<IpAddr>) {
        self.failed_sign_ins[role.index()].fetch_add(1, Ordering::Relaxed);
        tracing::warn!(role = role.as_str(), client = %show_ip(ip), "sign-in failed");
    }

    /// Failed sign-ins of `role` on this server since it started.
    pub fn failed_sign_ins(&self, role: Role) -> u64 {
        self.failed_sign_ins[role.index()].load(Ordering::Relaxed)
    }

    /// Attempts of `role` this server refused by the limits since it started.
    pub fn refusals(&self, role: Role) -> u64 {
        self.refusals[role.index()].load(Ordering::Relaxed)
    }

    /// Both counters in the Prometheus text format, one series per role:
    /// `ezs_sign_in_failures_total{role="…"}` and `ezs_limiter_refusals_total{role="…"}`.
    pub fn render_metrics(&self, out: &mut String) {
        render_counters(out, |role| self.failed_sign_ins(role), |role| self.refusals(role));
    }
}

fn render_counters(out: &mut String, failed: impl Fn(Role) -> u64, refused: impl Fn(Role) -> u64) {
    /// One counter series: its name, its help text and its value per role.
    type Series<'a> = (&'a str, &'a str, &'a dyn Fn(Role) -> u64);
    let series: [Series; 2] = [
        ("ezs_sign_in_failures_total", "Failed sign-ins (wrong credentials, bad one-time links).", &failed),
        ("ezs_limiter_refusals_total", "Attempts refused by the attempt limits.", &refused),
    ];
    for (name, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for role in Role::ALL {
            let _ = writeln!(out, "{name}{{role=\"{}\"}} {}", role.as_str(), value(role));
        }
    }
}

/// A key that has made `attempts` attempts in the window that began at `window_start` (ms), counted at
/// `now`: over `limit`, how long until that window ends (the `Retry-After`); within it, `None`.
fn over_limit(attempts: i64, limit: u32, window_start: i64, now: i64, window: Duration) -> Option<Duration> {
    if attempts <= i64::from(limit) {
        return None;
    }
    let elapsed = Duration::from_millis(u64::try_from(now.saturating_sub(window_start)).unwrap_or(0));
    Some(window.saturating_sub(elapsed))
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn show_ip(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_key_within_its_limit_is_allowed_and_over_it_waits_for_the_end_of_its_window() {
        assert_eq!(over_limit(3, 3, 0, 10_000, MINUTE), None, "the limit itself is allowed");
        assert_eq!(over_limit(4, 3, 0, 10_000, MINUTE), Some(Duration::from_secs(50)));
        assert_eq!(over_limit(400, 3, 5_000, 5_000, MINUTE), Some(MINUTE), "refused at once: a whole window");
        // A row counted as the window ended (clocks of servers a little apart) waits no less than nothing.
        assert_eq!(over_limit(4, 3, 0, 61_000, MINUTE), Some(Duration::ZERO));
        // A window start in the future (another server's clock ahead) never lengthens the wait.
        assert_eq!(over_limit(4, 3, 2_000, 1_000, MINUTE), Some(MINUTE));
    }

    #[test]
    fn counters_render_one_series_per_role() {
        let mut text = String::new();
        render_counters(&mut text, |r| if r == Role::Customer { 2 } else { 0 }, |r| u64::from(r == Role::Staff));
        assert!(text.contains("# TYPE ezs_sign_in_failures_total counter\n"), "{text}");
        assert!(text.contains("ezs_sign_in_failures_total{role=\"customer\"} 2\n"), "{text}");
        assert!(text.contains("ezs_sign_in_failures_total{role=\"admin\"} 0\n"), "{text}");
        assert!(text.contains("# TYPE ezs_limiter_refusals_total counter\n"), "{text}");
        assert!(text.contains("ezs_limiter_refusals_total{role=\"staff\"} 1\n"), "{text}");
        assert!(text.contains("ezs_limiter_refusals_total{role=\"customer\"} 0\n"), "{text}");
    }

    #[test]
    fn the_default_policy_is_ten_per_account_and_fifty_per_address_every_five_minutes() {
        assert_eq!(Policy::default(), Policy { window: Duration::from_secs(300), per_ip: 50, per_account: 10 });
    }
}
