//! Attempt limits for sign-in and the other unauthenticated account actions (sign-up, reset, invitation
//! links), checked before any password hashing so that guessing is slow and hashing cannot be used to
//! exhaust the CPU. Fixed windows in memory, per client address and per account key; with several app
//! servers each enforces its own share (a shared store would make them cluster-wide).
//!
//! The limiter also keeps the security counters `/metrics` shows: failed sign-ins and refused attempts,
//! per [`Role`]. Both are logged as they happen, with the role and the client's address (never the email
//! or password typed).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

#[derive(Debug)]
pub struct Limiter {
    window: Duration,
    per_ip: u32,
    per_account: u32,
    counts: Mutex<HashMap<Key, (Instant, u32)>>,
    failed_sign_ins: [AtomicU64; 3],
    refusals: [AtomicU64; 3],
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Ip(IpAddr),
    Account(String),
}

impl Default for Limiter {
    fn default() -> Self {
        // 10 tries per account and 50 per address every 5 minutes: plenty for people, little for bots.
        Limiter::new(Duration::from_secs(300), 50, 10)
    }
}

impl Limiter {
    pub fn new(window: Duration, per_ip: u32, per_account: u32) -> Self {
        Limiter {
            window,
            per_ip,
            per_account,
            counts: Mutex::new(HashMap::new()),
            failed_sign_ins: Default::default(),
            refusals: Default::default(),
        }
    }

    /// Counts one attempt; `Err(retry_after)` when the address or the account key is over its limit. A
    /// refusal is counted for `role` and logged with the address.
    pub fn attempt(&self, role: Role, ip: Option<IpAddr>, account: &str) -> Result<(), Duration> {
        let outcome = self.attempt_at(Instant::now(), ip, account);
        if let Err(wait) = outcome {
            self.refusals[role.index()].fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                role = role.as_str(),
                client = %show_ip(ip),
                retry_after_secs = wait.as_secs().max(1),
                "too many attempts: refused"
            );
        }
        outcome
    }

    /// Counts and logs a failed sign-in: a wrong email or password, or a made-up, used or expired
    /// reset or invitation link.
    pub fn record_failed_sign_in(&self, role: Role, ip: Option<IpAddr>) {
        self.failed_sign_ins[role.index()].fetch_add(1, Ordering::Relaxed);
        tracing::warn!(role = role.as_str(), client = %show_ip(ip), "sign-in failed");
    }

    /// Failed sign-ins of `role` since the server started.
    pub fn failed_sign_ins(&self, role: Role) -> u64 {
        self.failed_sign_ins[role.index()].load(Ordering::Relaxed)
    }

    /// Attempts of `role` refused by the limits since the server started.
    pub fn refusals(&self, role: Role) -> u64 {
        self.refusals[role.index()].load(Ordering::Relaxed)
    }

    /// Both counters in the Prometheus text format, one series per role:
    /// `ezs_sign_in_failures_total{role="…"}` and `ezs_limiter_refusals_total{role="…"}`.
    pub fn render_metrics(&self, out: &mut String) {
        let series = [
            ("ezs_sign_in_failures_total", "Failed sign-ins (wrong credentials, bad one-time links).", 0),
            ("ezs_limiter_refusals_total", "Attempts refused by the attempt limits.", 1),
        ];
        for (name, help, which) in series {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for role in Role::ALL {
                let v = if which == 0 { self.failed_sign_ins(role) } else { self.refusals(role) };
                let _ = writeln!(out, "{name}{{role=\"{}\"}} {v}", role.as_str());
            }
        }
    }

    fn attempt_at(&self, now: Instant, ip: Option<IpAddr>, account: &str) -> Result<(), Duration> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        // Forget finished windows now and then, so the map cannot grow without bound.
        if counts.len() > 100_000 {
            counts.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let mut keys = vec![(Key::Account(account.trim().to_lowercase()), self.per_account)];
        if let Some(ip) = ip {
            keys.push((Key::Ip(ip), self.per_ip));
        }
        let mut wait = None;
        for (key, limit) in keys {
            let entry = counts.entry(key).or_insert((now, 0));
            if now.duration_since(entry.0) >= self.window {
                *entry = (now, 0);
            }
            entry.1 = entry.1.saturating_add(1);
            if entry.1 > limit {
                let left = self.window.saturating_sub(now.duration_since(entry.0));
                wait = Some(wait.map_or(left, |w: Duration| w.max(left)));
            }
        }
        wait.map_or(Ok(()), Err)
    }
}

fn show_ip(ip: Option<IpAddr>) -> String {
    ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_limited_until_its_window_ends() {
        let l = Limiter::new(Duration::from_secs(60), 100, 3);
        let t = Instant::now();
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..3 {
            assert!(l.attempt_at(t, ip, "A@x.test").is_ok());
        }
        let wait = l.attempt_at(t + Duration::from_secs(10), ip, "a@x.test");
        assert_eq!(wait, Err(Duration::from_secs(50)), "same account, any case");
        assert!(l.attempt_at(t, ip, "b@x.test").is_ok(), "other accounts are unaffected");
        assert!(l.attempt_at(t + Duration::from_secs(61), ip, "a@x.test").is_ok(), "a new window");
    }

    #[test]
    fn one_address_cannot_spray_many_accounts() {
        let l = Limiter::new(Duration::from_secs(60), 5, 100);
        let t = Instant::now();
        let ip = Some(IpAddr::from([10, 0, 0, 2]));
        for i in 0..5 {
            assert!(l.attempt_at(t, ip, &format!("user{i}@x.test")).is_ok());
        }
        assert!(l.attempt_at(t, ip, "user9@x.test").is_err());
        assert!(l.attempt_at(t, Some(IpAddr::from([10, 0, 0, 3])), "user9@x.test").is_ok());
    }

    #[test]
    fn refusals_and_failures_are_counted_per_role() {
        let l = Limiter::new(Duration::from_secs(60), 100, 1);
        let ip = Some(IpAddr::from([10, 0, 0, 4]));
        assert!(l.attempt(Role::Staff, ip, "k").is_ok());
        assert!(l.attempt(Role::Staff, ip, "k").is_err());
        assert!(l.attempt(Role::Admin, ip, "k").is_err());
        l.record_failed_sign_in(Role::Customer, ip);
        l.record_failed_sign_in(Role::Customer, None);
        assert_eq!(Role::ALL.map(|r| l.refusals(r)), [0, 1, 1]);
        assert_eq!(Role::ALL.map(|r| l.failed_sign_ins(r)), [2, 0, 0]);
        let mut text = String::new();
        l.render_metrics(&mut text);
        assert!(text.contains("# TYPE ezs_sign_in_failures_total counter\n"), "{text}");
        assert!(text.contains("ezs_sign_in_failures_total{role=\"customer\"} 2\n"), "{text}");
        assert!(text.contains("ezs_limiter_refusals_total{role=\"staff\"} 1\n"), "{text}");
        assert!(text.contains("ezs_limiter_refusals_total{role=\"customer\"} 0\n"), "{text}");
    }
}
