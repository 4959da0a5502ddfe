//! Operator alerts (a Discord webhook) when provisioning fails. The webhook URL comes from configuration,
//! but it is still an outbound request made by the server, so it is treated as hostile: HTTPS only, no
//! credentials in the URL, every resolved address must be public (no loopback, private, link-local or
//! metadata addresses — the request is pinned to the checked addresses, so DNS cannot swap them later),
//! no redirects, short timeouts. Delivery is best effort with a few retries; the workspace page and the
//! logs carry the failure regardless.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde_json::json;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AlertError {
    #[error("webhook URL is invalid: {0}")]
    BadUrl(String),
    #[error("webhook host resolves to a non-public address")]
    PrivateAddress,
    #[error("webhook host does not resolve")]
    Unresolvable,
    #[error("webhook answered HTTP {0}")]
    Status(u16),
    #[error("webhook unreachable: {0}")]
    Transport(String),
}

/// One alert: a title and a few labelled facts (never secrets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alert {
    pub title: String,
    pub fields: Vec<(&'static str, String)>,
}

#[derive(Clone, Debug)]
pub struct Alerter {
    target: Option<Target>,
}

#[derive(Clone, Debug)]
struct Target {
    url: reqwest::Url,
    /// Development and tests only: lets the webhook live on this machine.
    allow_private: bool,
}

impl Alerter {
    pub fn disabled() -> Self {
        Alerter { target: None }
    }

    pub fn discord(url: &str, allow_private: bool) -> Result<Self, AlertError> {
        let url = reqwest::Url::parse(url).map_err(|e| AlertError::BadUrl(e.to_string()))?;
        let scheme_ok = url.scheme() == "https" || (allow_private && url.scheme() == "http");
        if !scheme_ok {
            return Err(AlertError::BadUrl("must be https".into()));
        }
        if !url.username().is_empty() || url.password().is_some() || url.host_str().is_none() {
            return Err(AlertError::BadUrl("no credentials, and a host is required".into()));
        }
        Ok(Alerter { target: Some(Target { url, allow_private }) })
    }

    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// Sends in the background (up to three attempts); never blocks or fails the caller.
    pub fn send(&self, alert: Alert) {
        let Some(target) = self.target.clone() else { return };
        tokio::spawn(async move {
            for attempt in 0..3u32 {
                match deliver(&target, &alert).await {
                    Ok(()) => return,
                    Err(e @ (AlertError::PrivateAddress | AlertError::BadUrl(_))) => {
                        tracing::error!(error = %e, "alert webhook refused by policy");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, attempt, "alert delivery failed");
                        tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
                    }
                }
            }
        });
    }

    /// Delivers now (tests and the admin's "send a test alert").
    pub async fn deliver_now(&self, alert: &Alert) -> Result<(), AlertError> {
        match &self.target {
            Some(t) => deliver(t, alert).await,
            None => Ok(()),
        }
    }
}

async fn deliver(target: &Target, alert: &Alert) -> Result<(), AlertError> {
    let host = target.url.host_str().ok_or_else(|| AlertError::BadUrl("no host".into()))?.to_owned();
    let port = target.url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host.as_str(), port)).await.map_err(|_| AlertError::Unresolvable)?.collect();
    if addrs.is_empty() {
        return Err(AlertError::Unresolvable);
    }
    if !target.allow_private && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(AlertError::PrivateAddress);
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .resolve_to_addrs(&host, &addrs)
        .build()
        .map_err(|e| AlertError::Transport(e.to_string()))?;
    let fields: Vec<_> =
        alert.fields.iter().map(|(k, v)| json!({ "name": k, "value": truncate(v, 1000), "inline": false })).collect();
    let body = json!({
        "content": truncate(&alert.title, 1900),
        "embeds": [{ "title": truncate(&alert.title, 250), "fields": fields }],
        // Never let a value from a failure message ping anyone.
        "allowed_mentions": { "parse": [] },
    });
    let res = client
        .post(target.url.clone())
        .json(&body)
        .send()
        .await
        .map_err(|e| AlertError::Transport(e.without_url().to_string()))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(AlertError::Status(res.status().as_u16()))
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Is this an address on the public internet? Loopback, private (RFC 1918, ULA), link-local (incl.
/// cloud metadata 169.254.169.254), CGNAT, unspecified, broadcast, documentation and multicast are not.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            let ip: IpAddr = private.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
            assert!(!is_public(ip), "{private} must not count as public");
        }
        for public in ["1.1.1.1", "162.159.135.232", "2606:4700::6810:84e5"] {
            let ip: IpAddr = public.parse().unwrap_or(IpAddr::from([127, 0, 0, 1]));
            assert!(is_public(ip), "{public} is public");
        }
    }

    #[test]
    fn webhook_urls_are_checked() {
        assert!(Alerter::discord("https://discord.com/api/webhooks/1/x", false).is_ok());
        assert!(Alerter::discord("http://discord.com/api/webhooks/1/x", false).is_err());
        assert!(Alerter::discord("https://user:pw@discord.com/x", false).is_err());
        assert!(Alerter::discord("not a url", false).is_err());
    }

    #[tokio::test]
    async fn a_webhook_on_a_private_address_is_refused() {
        let a = Alerter::discord("https://127.0.0.1:9/x", false).unwrap_or_else(|_| Alerter::disabled());
        let alert = Alert { title: "t".into(), fields: vec![] };
        assert_eq!(a.deliver_now(&alert).await, Err(AlertError::PrivateAddress));
    }
}
