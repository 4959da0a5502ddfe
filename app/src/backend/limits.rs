//! Attempt limits for sign-in, checked before any password hashing so that guessing is slow and hashing
//! cannot be used to exhaust the CPU. Fixed windows in memory, per client address and per account; with
//! several app servers each enforces its own share (a shared store would make them cluster-wide).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Limiter {
    window: Duration,
    per_ip: u32,
    per_account: u32,
    counts: Mutex<HashMap<Key, (Instant, u32)>>,
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
        Limiter { window, per_ip, per_account, counts: Mutex::new(HashMap::new()) }
    }

    /// Counts one attempt; `Err(retry_after)` when the address or the account is over its limit.
    pub fn attempt(&self, ip: Option<IpAddr>, account: &str) -> Result<(), Duration> {
        self.attempt_at(Instant::now(), ip, account)
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
}
