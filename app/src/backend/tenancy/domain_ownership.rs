//! Proof that a reseller controls a custom domain, checked before we route the domain to their tenant or ask a CA
//! for a certificate in its name.
//!
//! Without this step, anyone could attach `shop.example.com` to their tenant the moment its owner points it at us
//! (or before, waiting for it), and we would serve their branding — and obtain a certificate — for a name they do
//! not own. The reseller proves control in one of two ways, both of which only the domain's owner can arrange:
//!
//! * **DNS**: a TXT record at [`txt_record_name`] whose value is `ezscale-verify=<token>`. Works before the domain
//!   points at us, so it is the one to offer first.
//! * **HTTP**: `http://<domain>/.well-known/ezscale-verify/<token_id>` answers the token. Since a reseller's domain
//!   points at our own servers, our router serves that path from the stored token; the check therefore proves that
//!   the domain resolves to us, the same thing an ACME HTTP-01 challenge proves.
//!
//! The token ([`new_token`]) is not a secret — it ends up in public DNS — but it must be unguessable, or someone
//! could publish tokens for domains in advance of a reseller claiming them.
//!
//! Both checks answer `Ok(false)` for "the proof is not (yet) there" and `Err` only when we could not find out
//! (resolver down, connection refused, timeout), so the UI can tell a reseller "not published yet" apart from
//! "try again later". Nothing here logs a token.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{Name, ResolveError, TokioResolver};
use rand::RngCore;

/// The label under the reseller's domain where the TXT record lives. An underscore label cannot be a hostname, so it
/// never collides with anything the reseller serves.
const TXT_LABEL: &str = "_ezscale-verify";
/// What the TXT record's value starts with; the rest is the token.
const TXT_PREFIX: &str = "ezscale-verify=";
const HTTP_PATH_PREFIX: &str = "/.well-known/ezscale-verify/";
/// The token is 43 characters; anything longer than this is not a token, and reading on would only let a hostile or
/// misconfigured server make us buffer its whole response.
const MAX_HTTP_BODY: usize = 1024;
/// Overall deadline for one TXT lookup, whatever the resolver's own timeouts and retries add up to.
const DEFAULT_DNS_TIMEOUT: Duration = Duration::from_secs(10);
const USER_AGENT: &str = "ezscale-domain-verify/1";

/// Why a check could not tell whether the proof is there. "Not there" is `Ok(false)`, never an error.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("not a valid domain name: {0:?}")]
    InvalidDomain(String),
    /// The token id is ours, so this is a bug, not user input; it matters because the id goes into a URL path.
    #[error("verification token id must be 1-128 characters of A-Z, a-z, 0-9, '-' or '_'")]
    InvalidTokenId,
    /// An empty token would "match" an empty TXT record or an empty page.
    #[error("verification token is empty")]
    EmptyToken,
    #[error("DNS lookup failed: {0}")]
    Dns(String),
    #[error("HTTP check failed: {0}")]
    Http(String),
}

/// A fresh verification token: 32 random bytes (256 bits) as unpadded base64url, 43 characters that are safe in a
/// TXT record, a URL path and a copy-paste.
pub fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    B64URL.encode(raw)
}

/// Where the reseller publishes the TXT record: `_ezscale-verify.<domain>`. The domain is written in its canonical
/// form (trimmed, lowercase, no trailing dot) so the name we show is the name we look up.
pub fn txt_record_name(domain: &str) -> String {
    format!("{TXT_LABEL}.{}", canonical_domain(domain))
}

/// The TXT value that proves control for `token`.
pub fn txt_record_value(token: &str) -> String {
    format!("{TXT_PREFIX}{token}")
}

/// The path our router serves the token at (and the HTTP check fetches): `/.well-known/ezscale-verify/<token_id>`.
pub fn http_token_path(token_id: &str) -> String {
    format!("{HTTP_PATH_PREFIX}{token_id}")
}

/// Which DNS servers the TXT check asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsConfig {
    /// The host's resolvers (`/etc/resolv.conf`), or public resolvers if that cannot be read.
    System,
    /// Only this server, over UDP and TCP. For tests and for pinning a known resolver.
    Nameserver(SocketAddr),
}

/// Runs the DNS and HTTP checks. Cheap to clone; build one at startup and share it.
#[derive(Clone)]
pub struct Verifier {
    resolver: TokioResolver,
    dns_timeout: Duration,
    http_timeout: Duration,
    http_port: u16,
    /// Per-domain address overrides for the HTTP check (tests point a domain at a local server).
    http_resolve: Vec<(String, SocketAddr)>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("nameservers", &self.resolver.config().name_servers().len())
            .field("dns_timeout", &self.dns_timeout)
            .field("http_timeout", &self.http_timeout)
            .field("http_port", &self.http_port)
            .field("http_resolve", &self.http_resolve)
            .finish()
    }
}

impl Verifier {
    /// `http_timeout` bounds a whole HTTP check (connect, headers and body).
    pub fn new(dns: DnsConfig, http_timeout: Duration) -> Self {
        let provider = TokioConnectionProvider::default();
        let mut builder = match dns {
            DnsConfig::System => match TokioResolver::builder_tokio() {
                Ok(builder) => builder,
                Err(e) => {
                    // A container without a usable resolv.conf should still be able to verify domains.
                    tracing::warn!(error = %e, "reading the system DNS configuration failed; using public resolvers");
                    TokioResolver::builder_with_config(ResolverConfig::cloudflare(), provider)
                }
            },
            DnsConfig::Nameserver(addr) => {
                let servers = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
                let config = ResolverConfig::from_parts(None, Vec::new(), servers);
                TokioResolver::builder_with_config(config, provider).with_options(ResolverOpts::default())
            }
        };
        let opts = builder.options_mut();
        // No cache: a reseller who has just published the record and clicks "verify again" must not be told "not
        // found" from a negative answer we cached a minute ago. Verification is rare; the extra query is free.
        opts.cache_size = 0;
        // /etc/hosts says nothing about TXT records, and must not be able to vouch for a domain.
        opts.use_hosts_file = ResolveHosts::Never;
        Verifier {
            resolver: builder.build(),
            dns_timeout: DEFAULT_DNS_TIMEOUT,
            http_timeout,
            http_port: 80,
            http_resolve: Vec::new(),
        }
    }

    /// Overall deadline for one TXT lookup (default 10 s).
    pub fn with_dns_timeout(mut self, timeout: Duration) -> Self {
        self.dns_timeout = timeout;
        self
    }

    /// Makes the HTTP check connect to `addr` for `domain` instead of resolving it, and use `addr`'s port (the
    /// `Host` header still names the domain). For tests against a local server.
    pub fn with_http_resolve(mut self, domain: &str, addr: SocketAddr) -> Self {
        self.http_resolve.push((canonical_domain(domain), addr));
        self.http_port = addr.port();
        self
    }

    /// The port the HTTP check connects to (default 80, which is what a reseller's visitors use).
    pub fn with_http_port(mut self, port: u16) -> Self {
        self.http_port = port;
        self
    }

    /// Whether a TXT record at [`txt_record_name`]`(domain)` reads `ezscale-verify=<token>`. Other TXT records there
    /// (an old token, someone else's) do not matter as long as one matches.
    pub async fn check_dns(&self, domain: &str, token: &str) -> Result<bool, VerifyError> {
        if token.is_empty() {
            return Err(VerifyError::EmptyToken);
        }
        let domain = valid_domain(domain)?;
        // Fully qualified (trailing dot), so the resolver never tries the name under a search domain from
        // resolv.conf: a record at `_ezscale-verify.shop.example.com.corp.internal` proves nothing.
        let name = Name::from_ascii(format!("{TXT_LABEL}.{domain}."))
            .map_err(|_| VerifyError::InvalidDomain(domain.clone()))?;
        let expected = txt_record_value(token);

        let lookup = match tokio::time::timeout(self.dns_timeout, self.resolver.txt_lookup(name)).await {
            Err(_) => return Err(VerifyError::Dns(format!("no answer within {:?}", self.dns_timeout))),
            Ok(Err(e)) if is_absent(&e) => {
                tracing::debug!(%domain, "domain verification: no TXT record");
                return Ok(false);
            }
            Ok(Err(e)) => return Err(VerifyError::Dns(describe_resolve_error(&e))),
            Ok(Ok(lookup)) => lookup,
        };

        let found = lookup.iter().any(|txt| {
            // A TXT record is a list of character-strings of at most 255 bytes each; DNS providers split long values
            // into several, and the value is their concatenation.
            let value: Vec<u8> = txt.txt_data().iter().flat_map(|part| part.iter().copied()).collect();
            eq_bytes(value.trim_ascii(), expected.as_bytes())
        });
        tracing::debug!(%domain, found, "domain verification: TXT checked");
        Ok(found)
    }

    /// Whether `http://<domain>/.well-known/ezscale-verify/<token_id>` answers 200 with the token as its body
    /// (surrounding whitespace ignored). Redirects are not followed: the proof is that *this* name serves the token,
    /// and following a redirect would accept a domain that merely forwards to one where the token is served.
    pub async fn check_http(&self, domain: &str, token_id: &str, token: &str) -> Result<bool, VerifyError> {
        if token.is_empty() {
            return Err(VerifyError::EmptyToken);
        }
        let domain = valid_domain(domain)?;
        if !valid_token_id(token_id) {
            return Err(VerifyError::InvalidTokenId);
        }
        let port = if self.http_port == 80 { String::new() } else { format!(":{}", self.http_port) };
        let url = format!("http://{domain}{port}{}", http_token_path(token_id));

        let result = tokio::time::timeout(self.http_timeout, self.fetch_capped(&url)).await;
        let body = match result {
            Err(_) => return Err(VerifyError::Http(format!("no answer within {:?}", self.http_timeout))),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Fetched::Body(body))) => body,
            Ok(Ok(Fetched::Status(status))) => {
                tracing::debug!(%domain, %status, "domain verification: HTTP check got a non-200 answer");
                return Ok(false);
            }
            Ok(Ok(Fetched::TooLarge)) => {
                tracing::debug!(%domain, "domain verification: HTTP body larger than a token");
                return Ok(false);
            }
        };
        let found = eq_bytes(body.trim_ascii(), token.as_bytes());
        tracing::debug!(%domain, found, "domain verification: HTTP checked");
        Ok(found)
    }

    /// GETs `url` and reads at most [`MAX_HTTP_BODY`] bytes of a 200 answer.
    async fn fetch_capped(&self, url: &str) -> Result<Fetched, VerifyError> {
        let mut response = self.http_client()?.get(url).send().await.map_err(|e| http_error(&e))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Ok(Fetched::Status(status));
        }
        // A declared length over the cap is refused before reading anything.
        if response.content_length().is_some_and(|len| len > MAX_HTTP_BODY as u64) {
            return Ok(Fetched::TooLarge);
        }
        let mut body = Vec::new();
        // Chunked or lying servers are cut off as soon as they send more than the cap.
        while let Some(chunk) = response.chunk().await.map_err(|e| http_error(&e))? {
            if body.len() + chunk.len() > MAX_HTTP_BODY {
                return Ok(Fetched::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body(body))
    }

    /// A client per check: verification is rare, and a fresh client means no pooled connection to an address the
    /// domain no longer resolves to.
    fn http_client(&self) -> Result<reqwest::Client, VerifyError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.http_timeout)
            .connect_timeout(self.http_timeout)
            // The check is about where the domain itself resolves, not what a proxy in between would make of it.
            .no_proxy()
            .pool_max_idle_per_host(0)
            .user_agent(USER_AGENT);
        for (domain, addr) in &self.http_resolve {
            builder = builder.resolve(domain, *addr);
        }
        builder.build().map_err(|e| http_error(&e))
    }
}

enum Fetched {
    Body(Vec<u8>),
    Status(reqwest::StatusCode),
    TooLarge,
}

/// Trimmed, without a trailing dot, ASCII-lowercased: DNS names compare case-insensitively, so this is the one
/// spelling we show and query.
fn canonical_domain(domain: &str) -> String {
    let d = domain.trim();
    d.strip_suffix('.').unwrap_or(d).to_ascii_lowercase()
}

/// The canonical domain if it is a plausible public hostname in ASCII (A-label) form. Anything else — a URL, a
/// `host:port`, `user@host`, an IP address — is refused, because it ends up in a URL we fetch and a name we query.
fn valid_domain(domain: &str) -> Result<String, VerifyError> {
    let d = canonical_domain(domain);
    let labels: Vec<&str> = d.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    // Room for our label in front: the whole TXT name must stay within DNS's 253 characters.
    let fits = d.len() + TXT_LABEL.len() < 253;
    // An all-digit last label is an IPv4 address, never a top-level domain.
    let tld_ok = labels.last().is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    if labels.len() >= 2 && labels.iter().all(label_ok) && fits && tld_ok {
        Ok(d)
    } else {
        Err(VerifyError::InvalidDomain(domain.to_string()))
    }
}

fn valid_token_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Comparison whose time does not depend on where the inputs differ. The token is public once published, so this
/// is belt and braces, but it costs nothing and keeps the helper safe to reuse for secrets.
fn eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// "The name does not exist" or "it has no TXT records": the proof is not there. Other negative answers (SERVFAIL,
/// REFUSED, ...) arrive as the same error kind but mean the resolver could not tell, so they are errors.
fn is_absent(e: &ResolveError) -> bool {
    match e.proto().map(|p| p.kind()) {
        Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => {
            matches!(*response_code, ResponseCode::NXDomain | ResponseCode::NoError)
        }
        _ => false,
    }
}

fn describe_resolve_error(e: &ResolveError) -> String {
    match e.proto().map(|p| p.kind()) {
        // The default text dumps the whole query struct; the response code is what a person needs.
        Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => format!("the resolver answered {response_code}"),
        _ => e.to_string(),
    }
}

/// reqwest's top-level message is generic ("error sending request"); the cause chain says what happened.
fn http_error(e: &reqwest::Error) -> VerifyError {
    let mut msg = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        msg.push_str(": ");
        msg.push_str(&cause.to_string());
        source = cause.source();
    }
    VerifyError::Http(msg)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use hickory_resolver::proto::op::{Message, MessageType};
    use hickory_resolver::proto::rr::rdata::{SOA, TXT};
    use hickory_resolver::proto::rr::{RData, Record};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, UdpSocket};

    use super::*;

    // ---- pure helpers ----

    #[test]
    fn tokens_are_43_url_safe_chars_and_distinct() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 43);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn names_and_paths() {
        assert_eq!(txt_record_name("shop.example.com"), "_ezscale-verify.shop.example.com");
        assert_eq!(txt_record_name(" Shop.Example.COM. "), "_ezscale-verify.shop.example.com");
        assert_eq!(txt_record_value("abc"), "ezscale-verify=abc");
        assert_eq!(http_token_path("t1"), "/.well-known/ezscale-verify/t1");
    }

    #[test]
    fn domain_validation() {
        for ok in ["example.com", "a-b.example.co.uk", "xn--bcher-kva.example", "EXAMPLE.com."] {
            assert!(valid_domain(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "localhost",
            "example..com",
            "-a.example.com",
            "exa mple.com",
            "example.com:8080",
            "user@example.com",
            "example.com/x",
            "10.0.0.1",
            "bücher.example",
            "_sub.example.com",
        ] {
            assert!(matches!(valid_domain(bad), Err(VerifyError::InvalidDomain(_))), "{bad}");
        }
        assert!(valid_domain(&format!("{}.com", "a.".repeat(120))).is_err());
    }

    #[test]
    fn byte_equality() {
        assert!(eq_bytes(b"abc", b"abc"));
        assert!(!eq_bytes(b"abc", b"abd"));
        assert!(!eq_bytes(b"abc", b"abcd"));
        assert!(eq_bytes(b"", b""));
    }

    // ---- fake DNS server ----

    #[derive(Clone, Copy)]
    enum DnsMode {
        Answer,
        ServFail,
        Silent,
    }

    /// Lowercased name (no trailing dot) → TXT records, each a list of character-strings.
    type Zone = Arc<Mutex<HashMap<String, Vec<Vec<String>>>>>;

    async fn fake_dns(mode: DnsMode) -> (SocketAddr, Zone) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let zone: Zone = Arc::default();
        let served = zone.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            loop {
                let Ok((n, peer)) = socket.recv_from(&mut buf).await else { return };
                let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
                let Some(reply) = dns_reply(&query, mode, &served) else { continue };
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
            }
        });
        (addr, zone)
    }

    fn dns_reply(query: &Message, mode: DnsMode, zone: &Zone) -> Option<Message> {
        let mut reply = Message::new();
        reply
            .set_id(query.id())
            .set_message_type(MessageType::Response)
            .set_op_code(query.op_code())
            .set_recursion_desired(query.recursion_desired())
            .set_recursion_available(true)
            .set_authoritative(true);
        let q = query.queries().first()?.clone();
        reply.add_query(q.clone());
        match mode {
            DnsMode::Silent => return None,
            DnsMode::ServFail => {
                reply.set_response_code(ResponseCode::ServFail);
                return Some(reply);
            }
            DnsMode::Answer => {}
        }
        // Real servers match names case-insensitively; so does this one.
        let key = q.name().to_ascii().trim_end_matches('.').to_ascii_lowercase();
        match zone.lock().unwrap().get(&key) {
            Some(records) => {
                for parts in records {
                    let rdata = RData::TXT(TXT::new(parts.clone()));
                    reply.add_answer(Record::from_rdata(q.name().clone(), 60, rdata));
                }
            }
            None => {
                // With an SOA, as real servers send it, the answer is cacheable for its minimum TTL: the test that a
                // later record is seen at once then depends on the verifier not caching.
                let zone_apex = Name::from_ascii("example.com.").unwrap();
                let soa = SOA::new(zone_apex.clone(), zone_apex.clone(), 1, 3600, 600, 86400, 300);
                reply.set_response_code(ResponseCode::NXDomain);
                reply.add_name_server(Record::from_rdata(zone_apex, 300, RData::SOA(soa)));
            }
        }
        Some(reply)
    }

    fn publish(zone: &Zone, domain: &str, parts: &[&str]) {
        let parts = parts.iter().map(|p| p.to_string()).collect();
        zone.lock().unwrap().entry(txt_record_name(domain)).or_default().push(parts);
    }

    fn dns_verifier(addr: SocketAddr) -> Verifier {
        Verifier::new(DnsConfig::Nameserver(addr), Duration::from_secs(5))
    }

    #[tokio::test]
    async fn dns_correct_token_verifies() {
        let (addr, zone) = fake_dns(DnsMode::Answer).await;
        let token = new_token();
        publish(&zone, "shop.example.com", &["v=spf1 -all"]);
        publish(&zone, "shop.example.com", &[&txt_record_value(&token)]);
        let v = dns_verifier(addr);
        assert!(v.check_dns("shop.example.com", &token).await.unwrap());
    }

    #[tokio::test]
    async fn dns_wrong_token_does_not_verify() {
        let (addr, zone) = fake_dns(DnsMode::Answer).await;
        publish(&zone, "shop.example.com", &[&txt_record_value(&new_token())]);
        let v = dns_verifier(addr);
        assert!(!v.check_dns("shop.example.com", &new_token()).await.unwrap());
        // The bare token, without the prefix, is not the proof either.
        let token = new_token();
        publish(&zone, "other.example.com", &[&token]);
        assert!(!v.check_dns("other.example.com", &token).await.unwrap());
    }

    #[tokio::test]
    async fn dns_split_txt_is_joined() {
        let (addr, zone) = fake_dns(DnsMode::Answer).await;
        let token = new_token();
        let value = txt_record_value(&token);
        let (head, tail) = value.split_at(20);
        publish(&zone, "split.example.com", &[head, tail]);
        let v = dns_verifier(addr);
        assert!(v.check_dns("split.example.com", &token).await.unwrap());
    }

    #[tokio::test]
    async fn dns_missing_record_is_false_and_a_later_record_is_seen() {
        let (addr, zone) = fake_dns(DnsMode::Answer).await;
        let token = new_token();
        let v = dns_verifier(addr);
        assert!(!v.check_dns("late.example.com", &token).await.unwrap());
        // The reseller publishes and retries at once: no cached NXDOMAIN may stand in the way.
        publish(&zone, "late.example.com", &[&txt_record_value(&token)]);
        assert!(v.check_dns("late.example.com", &token).await.unwrap());
    }

    #[tokio::test]
    async fn dns_name_is_case_insensitive() {
        let (addr, zone) = fake_dns(DnsMode::Answer).await;
        let token = new_token();
        publish(&zone, "shop.example.com", &[&txt_record_value(&token)]);
        let v = dns_verifier(addr);
        assert!(v.check_dns("Shop.EXAMPLE.com.", &token).await.unwrap());
    }

    #[tokio::test]
    async fn dns_servfail_and_silence_are_errors() {
        let (addr, _zone) = fake_dns(DnsMode::ServFail).await;
        let err = dns_verifier(addr).check_dns("shop.example.com", "t").await.unwrap_err();
        assert!(matches!(&err, VerifyError::Dns(m) if m.contains("SERVFAIL") || m.contains("Server Failure")), "{err}");

        let (addr, _zone) = fake_dns(DnsMode::Silent).await;
        let v = dns_verifier(addr).with_dns_timeout(Duration::from_millis(300));
        let err = v.check_dns("shop.example.com", "t").await.unwrap_err();
        assert!(matches!(err, VerifyError::Dns(_)), "{err}");
    }

    #[tokio::test]
    async fn dns_refuses_bad_input() {
        let v = dns_verifier("127.0.0.1:9".parse().unwrap());
        assert!(matches!(v.check_dns("shop.example.com", "").await, Err(VerifyError::EmptyToken)));
        assert!(matches!(v.check_dns("not a domain", "t").await, Err(VerifyError::InvalidDomain(_))));
    }

    // ---- fake HTTP server ----

    #[derive(Clone)]
    enum Reply {
        Ok(String),
        Redirect(String),
        /// Declares a huge Content-Length and trickles bytes.
        HugeDeclared,
        /// Chunked, no length, never ends.
        Endless,
    }

    struct FakeHttp {
        addr: SocketAddr,
        hits: Arc<Mutex<HashMap<String, usize>>>,
        bytes_sent: Arc<AtomicUsize>,
    }

    async fn fake_http(routes: Vec<(String, Reply)>) -> FakeHttp {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<HashMap<String, Reply>> = Arc::new(routes.into_iter().collect());
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let bytes_sent = Arc::new(AtomicUsize::new(0));
        let (h, b) = (hits.clone(), bytes_sent.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                tokio::spawn(serve_one(stream, routes.clone(), h.clone(), b.clone()));
            }
        });
        FakeHttp { addr, hits, bytes_sent }
    }

    async fn serve_one(
        mut stream: tokio::net::TcpStream,
        routes: Arc<HashMap<String, Reply>>,
        hits: Arc<Mutex<HashMap<String, usize>>>,
        bytes_sent: Arc<AtomicUsize>,
    ) {
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        let head = String::from_utf8_lossy(&req).to_string();
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
        let head = match routes.get(&path) {
            None => "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found".to_string(),
            Some(Reply::Ok(body)) => {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            }
            Some(Reply::Redirect(to)) => {
                format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            }
            Some(Reply::HugeDeclared) => {
                "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\nConnection: close\r\n\r\n".to_string()
            }
            Some(Reply::Endless) => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".into(),
        };
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let endless = match routes.get(&path) {
            Some(Reply::HugeDeclared) => false,
            Some(Reply::Endless) => true,
            _ => return,
        };
        // Keep sending until the client hangs up; a client that read everything would never finish.
        let block = vec![b' '; 4096];
        let chunk = [format!("{:x}\r\n", block.len()).into_bytes(), block.clone(), b"\r\n".to_vec()].concat();
        loop {
            let data = if endless { &chunk } else { &block };
            if stream.write_all(data).await.is_err() {
                return;
            }
            bytes_sent.fetch_add(data.len(), Ordering::Relaxed);
        }
    }

    const DOMAIN: &str = "shop.example.com";

    fn http_verifier(server: &FakeHttp) -> Verifier {
        // The nameserver is never asked in HTTP tests.
        Verifier::new(DnsConfig::Nameserver("127.0.0.1:9".parse().unwrap()), Duration::from_secs(5))
            .with_http_resolve(DOMAIN, server.addr)
    }

    #[tokio::test]
    async fn http_correct_token_verifies() {
        let token = new_token();
        // Trailing newline, as `echo token > file` would serve it.
        let server = fake_http(vec![(http_token_path("id1"), Reply::Ok(format!("{token}\n")))]).await;
        assert!(http_verifier(&server).check_http(DOMAIN, "id1", &token).await.unwrap());
        assert!(http_verifier(&server).check_http("SHOP.example.com", "id1", &token).await.unwrap());
    }

    #[tokio::test]
    async fn http_wrong_body_does_not_verify() {
        let server = fake_http(vec![(http_token_path("id1"), Reply::Ok(new_token()))]).await;
        assert!(!http_verifier(&server).check_http(DOMAIN, "id1", &new_token()).await.unwrap());
    }

    #[tokio::test]
    async fn http_404_does_not_verify() {
        let server = fake_http(vec![]).await;
        assert!(!http_verifier(&server).check_http(DOMAIN, "id1", &new_token()).await.unwrap());
    }

    #[tokio::test]
    async fn http_redirects_are_not_followed() {
        let token = new_token();
        let server = fake_http(vec![
            (http_token_path("id1"), Reply::Redirect(http_token_path("elsewhere"))),
            (http_token_path("elsewhere"), Reply::Ok(token.clone())),
        ])
        .await;
        assert!(!http_verifier(&server).check_http(DOMAIN, "id1", &token).await.unwrap());
        assert_eq!(server.hits.lock().unwrap().get(&http_token_path("elsewhere")), None);
    }

    #[tokio::test]
    async fn http_huge_bodies_are_not_read() {
        let token = new_token();
        let server = fake_http(vec![
            (http_token_path("declared"), Reply::HugeDeclared),
            (http_token_path("endless"), Reply::Endless),
            // The token followed by more padding than the cap: an uncapped reader would trim it and say yes.
            (http_token_path("padded"), Reply::Ok(format!("{token}{}", " ".repeat(2 * MAX_HTTP_BODY)))),
        ])
        .await;
        let v = http_verifier(&server);
        assert!(!v.check_http(DOMAIN, "declared", &token).await.unwrap());
        assert!(!v.check_http(DOMAIN, "endless", &token).await.unwrap());
        assert!(!v.check_http(DOMAIN, "padded", &token).await.unwrap());
        // Far less than the gigabyte on offer went out (socket buffers account for what did).
        assert!(server.bytes_sent.load(Ordering::Relaxed) < 64 * 1024 * 1024);
    }

    #[tokio::test]
    async fn http_unreachable_is_an_error() {
        // Bind then drop, so nothing listens on the port.
        let addr = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
        let v = Verifier::new(DnsConfig::Nameserver("127.0.0.1:9".parse().unwrap()), Duration::from_secs(5))
            .with_http_resolve(DOMAIN, addr);
        let err = v.check_http(DOMAIN, "id1", "t").await.unwrap_err();
        assert!(matches!(&err, VerifyError::Http(m) if m.contains("connect")), "{err}");
    }

    #[tokio::test]
    async fn http_refuses_bad_input() {
        let server = fake_http(vec![]).await;
        let v = http_verifier(&server);
        assert!(matches!(v.check_http(DOMAIN, "../admin", "t").await, Err(VerifyError::InvalidTokenId)));
        assert!(matches!(v.check_http(DOMAIN, "", "t").await, Err(VerifyError::InvalidTokenId)));
        assert!(matches!(v.check_http(DOMAIN, "id1", "").await, Err(VerifyError::EmptyToken)));
        assert!(matches!(v.check_http("evil.com/x?", "id1", "t").await, Err(VerifyError::InvalidDomain(_))));
        assert!(server.hits.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn system_config_builds() {
        // Whatever the host's resolv.conf holds (or lacks), construction does not fail.
        let v = Verifier::new(DnsConfig::System, Duration::from_secs(1));
        assert!(format!("{v:?}").contains("Verifier"));
    }
}
