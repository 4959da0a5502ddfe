//! Strict resolution of the host a request was addressed to, and of the client address behind our proxies.
//!
//! Why this is strict: every request is routed to a tenant by its host name, so the host decides which
//! tenant database, which branding and which session cookies a request meets. Two spellings of one name
//! (`Example.COM.` and `example.com`, `bücher.example` and `xn--bcher-kva.example`) must land on the same
//! tenant, and anything ambiguous (two `Host` headers, a `Host` that disagrees with the HTTP/2 authority,
//! userinfo, numeric forms such as `0x7f.1` that some parsers read as IP addresses) must be refused rather
//! than guessed at: a guess that differs from the one a cache, proxy or browser makes is how requests for
//! one tenant end up served, cached or cookie-scoped as another. So there is exactly one canonical text
//! per host ([`HostName`]), and every way into it goes through the same checks.
//!
//! Forwarding headers (`Forwarded`, `X-Forwarded-Host`, `X-Forwarded-For`) are only believed when the
//! TCP peer is one of our own proxies ([`TrustedProxies`]); from anyone else they are attacker-chosen text
//! and are ignored entirely. Deployment note: `Forwarded` is preferred over the `X-Forwarded-*` headers,
//! so a proxy that only writes `X-Forwarded-*` must strip (or overwrite) any client-sent `Forwarded`
//! header, or the client could choose the host and address we see.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use http::header::{HeaderMap, HeaderName, HOST};
use http::Uri;

/// Longest raw input we look at. Far above any valid host (253 bytes of name, brackets, a port, or the
/// UTF-8 of an IDN that encodes to at most 253 bytes) and small enough that IDNA processing of hostile
/// input stays cheap.
const MAX_RAW_LEN: usize = 1024;
/// RFC 1035: a name is at most 253 characters in text form (without the root dot).
const MAX_NAME_LEN: usize = 253;
/// RFC 1035: a label is at most 63 octets.
const MAX_LABEL_LEN: usize = 63;
/// How much of a rejected input an error message may quote (escaped), so logs stay readable and an
/// attacker cannot push large or control-character payloads into them.
const EXCERPT_CHARS: usize = 40;

/// Why a host could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// Neither a `Host` header nor a request-target authority.
    #[error("request names no host (no Host header and no authority)")]
    Missing,
    /// Two or more `Host` headers: different hops could each pick a different one.
    #[error("request has more than one Host header")]
    Duplicate,
    /// The `Host` header and the request-target authority name different hosts.
    #[error("Host header and request authority name different hosts")]
    Conflict,
    /// The text is not an acceptable host; the message carries the reason and a short escaped excerpt.
    #[error("invalid host: {0}")]
    Invalid(String),
}

fn invalid(reason: &str, raw: &str) -> HostError {
    HostError::Invalid(format!("{reason} (in \"{}\")", excerpt(raw)))
}

/// A short, escaped excerpt of attacker-controlled text, fit for an error message or a log line.
fn excerpt(raw: &str) -> String {
    let mut out: String = raw.chars().take(EXCERPT_CHARS).flat_map(char::escape_default).collect();
    if raw.chars().nth(EXCERPT_CHARS).is_some() {
        out.push_str("...");
    }
    out
}

/// A normalised host name: what tenants are looked up by.
///
/// The text is canonical, so two `HostName`s name the same host exactly when they are equal:
/// - a DNS name: lowercase ASCII, IDN labels in punycode (`xn--`), no trailing dot, no port;
/// - an IPv4 address: dotted quad (`192.0.2.1`);
/// - an IPv6 address: its canonical (RFC 5952, as printed by [`Ipv6Addr`]) text *inside brackets*
///   (`[::1]`). The brackets are kept so that [`HostName::as_str`] can be parsed back, and so that an
///   IPv6 literal can never be mistaken for a name with a port.
///
/// IDN input goes through UTS #46 (non-transitional, as in current browsers): letters are case-folded,
/// fullwidth forms and ideographic dots map to ASCII, ignorable characters such as U+00AD vanish, and
/// `ß` stays `ß` (`xn--zca`). So a name reaches the same tenant however a browser was given it.
///
/// The port is dropped: tenants are told apart by name only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostName(String);

/// Whether a port may follow the host (a `Host` header) or not (an admin-entered domain).
#[derive(Clone, Copy, PartialEq, Eq)]
enum PortRule {
    Allowed,
    Forbidden,
}

impl HostName {
    /// Parses a raw `Host` header value (or URI authority): `name[:port]`, `a.b.c.d[:port]` or
    /// `[ipv6][:port]`.
    ///
    /// Rejected: empty input, any whitespace or control character (including surrounding whitespace:
    /// a hop that trims and one that doesn't would disagree), userinfo (`a@b`), path/query/fragment or
    /// percent characters, a port that is empty, non-numeric or outside 1..=65535, empty labels (so
    /// `example.com..`), labels outside 1..=63 LDH characters or with a leading/trailing hyphen,
    /// underscores, names over 253 characters, and a numeric last label (`127.1`, `1.2.3.256`,
    /// `a.0x10`) that is not a plain dotted-quad IPv4 address.
    pub fn parse(raw: &str) -> Result<HostName, HostError> {
        parse_host(raw, PortRule::Allowed)
    }

    /// Parses a domain an admin enters for a tenant: the rules of [`HostName::parse`], and also no port,
    /// no IP literal, at least two labels, and a top-level label that is not all digits.
    ///
    /// Surrounding whitespace is rejected rather than trimmed; a form handler that wants to be forgiving
    /// trims before calling.
    pub fn parse_domain(input: &str) -> Result<HostName, HostError> {
        if input.starts_with('[') {
            return Err(invalid("an IP address is not a domain", input));
        }
        let host = parse_host(input, PortRule::Forbidden)?;
        if host.ip().is_some() {
            return Err(invalid("an IP address is not a domain", input));
        }
        let mut labels = host.0.rsplit('.');
        let tld = labels.next().unwrap_or_default();
        if labels.next().is_none() {
            return Err(invalid("a domain needs at least two labels", input));
        }
        // Unreachable today (a numeric last label is only accepted as an IPv4 address), but this is the
        // rule admins are promised, so it is checked here rather than left to a detail of `parse_host`.
        if tld.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("the top-level label must not be all digits", input));
        }
        Ok(host)
    }

    /// The canonical text (see the type's documentation).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address, when the host is an IP literal rather than a name.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.0.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')) {
            Some(v6) => v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6),
            None => self.0.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
        }
    }

    /// The left-most label when `self` is exactly one label below `parent` (`acme.example.com` under
    /// `example.com` gives `acme`). Deeper names (`a.b.example.com`), `parent` itself and IP literals
    /// give `None`: a tenant sub-domain is a single label, and anything else must not be mistaken for one.
    pub fn is_subdomain_of(&self, parent: &HostName) -> Option<&str> {
        if self.ip().is_some() || parent.ip().is_some() {
            return None;
        }
        let label = self.0.strip_suffix(parent.0.as_str())?.strip_suffix('.')?;
        if label.is_empty() || label.contains('.') {
            return None;
        }
        Some(label)
    }

    /// Whether `self` is `parent` or any name below it, at any depth (`a.b.example.com` is within
    /// `example.com`; `badexample.com` is not). IP literals are within only themselves.
    pub fn is_within(&self, parent: &HostName) -> bool {
        if self == parent {
            return true;
        }
        if self.ip().is_some() || parent.ip().is_some() {
            return false;
        }
        self.0.strip_suffix(parent.0.as_str()).is_some_and(|rest| rest.ends_with('.'))
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for HostName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for HostName {
    type Err = HostError;

    fn from_str(s: &str) -> Result<HostName, HostError> {
        HostName::parse(s)
    }
}

fn parse_host(raw: &str, ports: PortRule) -> Result<HostName, HostError> {
    if raw.is_empty() {
        return Err(HostError::Invalid("empty host".to_owned()));
    }
    if raw.len() > MAX_RAW_LEN {
        return Err(invalid("host too long", raw));
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("whitespace or control character in host", raw));
    }
    if raw.contains('@') {
        return Err(invalid("userinfo is not allowed in a host", raw));
    }
    if raw.contains(['/', '?', '#', '\\', '%']) {
        return Err(invalid("path, query, fragment or escape character in host", raw));
    }

    let (host, port) = split_port(raw)?;
    if let Some(port) = port {
        if ports == PortRule::Forbidden {
            return Err(invalid("a port is not allowed here", raw));
        }
        check_port(port, raw)?;
    }

    if let Some(inner) = host.strip_prefix('[') {
        let v6 = inner
            .strip_suffix(']')
            .and_then(|v6| v6.parse::<Ipv6Addr>().ok())
            .ok_or_else(|| invalid("bad IPv6 literal", raw))?;
        return Ok(HostName(format!("[{v6}]")));
    }
    if host.contains([']', ':']) {
        return Err(invalid("stray bracket or colon in host", raw));
    }
    normalise_name(host, raw).map(HostName)
}

/// Splits `host[:port]`. A bracketed IPv6 literal may only be followed by nothing or `:port`; outside
/// brackets a second colon is an error (bare IPv6 is not a valid `Host`, and guessing where its port
/// starts is exactly the ambiguity we refuse).
fn split_port(raw: &str) -> Result<(&str, Option<&str>), HostError> {
    if raw.starts_with('[') {
        let close = raw.find(']').ok_or_else(|| invalid("unclosed IPv6 bracket", raw))?;
        let (host, rest) = raw.split_at(close + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => match rest.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(invalid("unexpected text after IPv6 literal", raw)),
            },
        };
    }
    match raw.split_once(':') {
        None => Ok((raw, None)),
        Some((_, port)) if port.contains(':') => Err(invalid("too many colons in host", raw)),
        Some((host, port)) => Ok((host, Some(port))),
    }
}

fn check_port(port: &str, raw: &str) -> Result<(), HostError> {
    // Digits only: `u16::from_str` would also take a `+` sign.
    let ok = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p != 0);
    if ok {
        Ok(())
    } else {
        Err(invalid("port must be a number in 1..=65535", raw))
    }
}

/// IDNA (UTS #46) to ASCII, then our own LDH and length checks on the result.
fn normalise_name(host: &str, raw: &str) -> Result<String, HostError> {
    // STD3 rules deny everything but letters, digits, hyphen and dot (so `_`, `*`, quotes...). Hyphens
    // are checked at label ends only: the stricter third/fourth-position rule rejects real names such
    // as CDN nodes, and `xn--` labels are validated as punycode either way. Lengths are ignored here
    // because the trailing dot is still on, and checked below on the final text.
    let ascii = idna::uts46::Uts46::new()
        .to_ascii(
            host.as_bytes(),
            idna::uts46::AsciiDenyList::STD3,
            idna::uts46::Hyphens::CheckFirstLast,
            idna::uts46::DnsLength::Ignore,
        )
        .map_err(|_| invalid("not a valid (internationalised) domain name", raw))?;
    // IDNA maps fullwidth and ideographic dots to `.`, so the one trailing root dot is removed only now;
    // a second one leaves an empty label and is rejected below.
    let name = ascii.strip_suffix('.').unwrap_or(&ascii);
    if name.is_empty() {
        return Err(invalid("empty host", raw));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("host name longer than 253 characters", raw));
    }
    for label in name.split('.') {
        check_label(label, raw)?;
    }
    if ends_in_number(name) {
        // Other parsers (browsers, WHATWG URL) read `127.1`, `0x7f.0.0.1` or `2130706433` as IPv4
        // addresses; we accept only the one unambiguous spelling, and as an address, never as a name.
        return match name.parse::<Ipv4Addr>() {
            Ok(v4) => Ok(v4.to_string()),
            Err(_) => Err(invalid("numeric host that is not a dotted-quad IPv4 address", raw)),
        };
    }
    Ok(name.to_owned())
}

fn check_label(label: &str, raw: &str) -> Result<(), HostError> {
    if label.is_empty() {
        return Err(invalid("empty label in host", raw));
    }
    if label.len() > MAX_LABEL_LEN {
        return Err(invalid("label longer than 63 characters", raw));
    }
    // IDNA has already checked this, but the canonical text is what tenants are matched by, so its
    // shape is asserted here independently of the library's options.
    if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(invalid("host labels may only contain letters, digits and hyphens", raw));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(invalid("host label starts or ends with a hyphen", raw));
    }
    Ok(())
}

/// The WHATWG URL "ends in a number" test: the last label is all digits, or `0x` followed by hex digits.
fn ends_in_number(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or_default();
    if !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    last.strip_prefix("0x").is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// One network in CIDR notation. A bare address is a /32 (IPv4) or /128 (IPv6) network.
///
/// IPv4-mapped IPv6 networks with a prefix of at least 96 (`::ffff:10.0.0.0/104`) are stored as the
/// IPv4 network they cover, so that they match the same peers however the socket reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr` or `addr/prefix`. Host bits set below the prefix (`10.0.0.1/8`) are an error: such an
    /// entry usually means the operator meant something else, and a trust list must not be guessed at.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| format!("`{s}`: not an IP address"))?;
        let max = match network {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("`{s}`: prefix above {max}"))?
            }
            Some(_) => return Err(format!("`{s}`: prefix length must be a number")),
        };
        let cidr = match network {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => Cidr { network: IpAddr::V4(v4), prefix: prefix - 96 },
                None => Cidr { network, prefix },
            },
            _ => Cidr { network, prefix },
        };
        if cidr.masked(cidr.network) != Some(cidr.network) {
            return Err(format!("`{s}`: address has bits set beyond the /{prefix} prefix"));
        }
        Ok(cidr)
    }

    /// Whether `ip` is inside this network; IPv4-mapped IPv6 addresses count as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.masked(ip.to_canonical()) == Some(self.network)
    }

    /// `ip` with the bits below the prefix cleared, or `None` when the families differ.
    fn masked(&self, ip: IpAddr) -> Option<IpAddr> {
        match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                Some(IpAddr::V4(Ipv4Addr::from(u32::from(ip) & mask)))
            }
            (IpAddr::V6(_), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                Some(IpAddr::V6(Ipv6Addr::from(u128::from(ip) & mask)))
            }
            _ => None,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// The proxies whose forwarding headers we believe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// No proxy trusted: forwarding headers are always ignored.
    pub fn none() -> TrustedProxies {
        TrustedProxies(Vec::new())
    }

    /// Parses a comma-separated list of addresses and CIDR networks, e.g.
    /// `"127.0.0.1, 10.0.0.0/8, ::1, fd00::/8"`. An empty (or all-blank) string trusts no one; an empty
    /// entry between commas is an error, since it usually means a value went missing in the config.
    pub fn parse(s: &str) -> Result<TrustedProxies, String> {
        if s.trim().is_empty() {
            return Ok(TrustedProxies::none());
        }
        s.split(',')
            .map(|entry| match entry.trim() {
                "" => Err(format!("empty entry in trusted proxy list `{s}`")),
                entry => Cidr::parse(entry),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn cidrs(&self) -> &[Cidr] {
        &self.0
    }

    /// Whether `ip` is one of our proxies (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(ip))
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, cidr) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{cidr}")?;
        }
        Ok(())
    }
}

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(s: &str) -> Result<TrustedProxies, String> {
        TrustedProxies::parse(s)
    }
}

const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The host this request is for.
///
/// From a trusted proxy: the `host=` of the last `Forwarded` element (the one our proxy added), else the
/// last `X-Forwarded-Host` value, else the rules below. From anyone else, forwarding headers are ignored.
///
/// Exactly one `Host` header (several: [`HostError::Duplicate`]); without one, the request-target
/// authority (HTTP/2 `:authority`, or an absolute-form HTTP/1.1 target); neither: [`HostError::Missing`].
/// When both exist they must name the same host ([`HostError::Conflict`]): RFC 9112 would have the
/// authority win, but a hop that reads the `Host` header instead would route elsewhere.
pub fn request_host(
    headers: &HeaderMap,
    uri: &Uri,
    peer: IpAddr,
    trusted: &TrustedProxies,
) -> Result<HostName, HostError> {
    if trusted.contains(peer) {
        if let Some(host) = forwarded_host(headers)? {
            return Ok(host);
        }
    }

    let mut hosts = headers.get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err(HostError::Duplicate),
        (Some(value), None) => {
            let text = value.to_str().map_err(|_| HostError::Invalid("Host header is not visible ASCII".to_owned()))?;
            Some(HostName::parse(text)?)
        }
        (None, _) => None,
    };
    let authority = uri.authority().map(|a| HostName::parse(a.as_str())).transpose()?;
    match (host, authority) {
        (Some(host), Some(authority)) if host != authority => Err(HostError::Conflict),
        (Some(host), _) | (None, Some(host)) => Ok(host),
        (None, None) => Err(HostError::Missing),
    }
}

/// The host our (trusted) proxy forwarded, if it forwarded one.
fn forwarded_host(headers: &HeaderMap) -> Result<Option<HostName>, HostError> {
    let elements = forwarded_elements(headers)?;
    if let Some(last) = elements.last() {
        if let Some(host) = param(last, "host") {
            return HostName::parse(host).map(Some);
        }
    }
    let mut last = None;
    for line in headers.get_all(X_FORWARDED_HOST) {
        let line =
            line.to_str().map_err(|_| HostError::Invalid("X-Forwarded-Host header is not visible ASCII".to_owned()))?;
        if let Some(value) = line.split(',').map(trim_ows).rfind(|v| !v.is_empty()) {
            last = Some(value);
        }
    }
    last.map(HostName::parse).transpose()
}

/// The address of the client: the peer itself, unless the peer is a trusted proxy, in which case the
/// forwarding chain (`Forwarded: for=` when any element carries one, else `X-Forwarded-For`) is walked
/// from the right, past our own proxies, to the first address we did not add ourselves.
///
/// The walk stops at the first entry that is not an address (`unknown`, an obfuscated `_node`, garbage):
/// everything left of it was vouched for by no one we trust, so the peer is returned instead. The same
/// happens when the chain is all trusted proxies, or missing or malformed. Returned addresses are
/// canonical: an IPv4-mapped IPv6 address comes back as IPv4, so one client has one address.
pub fn client_ip(headers: &HeaderMap, peer: IpAddr, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let chain: Vec<Option<IpAddr>> = match forwarded_elements(headers) {
        Err(_) => return peer,
        Ok(elements) if elements.iter().any(|e| param(e, "for").is_some()) => {
            elements.iter().map(|e| param(e, "for").and_then(parse_node)).collect()
        }
        Ok(_) => {
            let mut chain = Vec::new();
            for line in headers.get_all(X_FORWARDED_FOR) {
                let Ok(line) = line.to_str() else { return peer };
                chain.extend(line.split(',').map(trim_ows).filter(|v| !v.is_empty()).map(parse_node));
            }
            chain
        }
    };
    for node in chain.into_iter().rev() {
        match node {
            Some(ip) if trusted.contains(ip) => continue,
            Some(ip) => return ip.to_canonical(),
            None => return peer,
        }
    }
    peer
}

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Whether our (trusted) proxy says the client reached it over HTTPS: the `proto=` of the last
/// `Forwarded` element (the one our proxy added), else the last `X-Forwarded-Proto` value. From anyone
/// else, or when the headers are malformed, the answer is no.
pub fn forwarded_https(headers: &HeaderMap, peer: IpAddr, trusted: &TrustedProxies) -> bool {
    if !trusted.contains(peer.to_canonical()) {
        return false;
    }
    let Ok(elements) = forwarded_elements(headers) else { return false };
    if let Some(proto) = elements.last().and_then(|e| param(e, "proto")) {
        return proto.eq_ignore_ascii_case("https");
    }
    let mut last = None;
    for line in headers.get_all(X_FORWARDED_PROTO) {
        let Ok(line) = line.to_str() else { return false };
        if let Some(value) = line.split(',').map(trim_ows).rfind(|v| !v.is_empty()) {
            last = Some(value);
        }
    }
    last.is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// A node from `X-Forwarded-For` or `Forwarded: for=`: an IPv4 or IPv6 address, optionally with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`; bare IPv6 is taken whole). `unknown` and obfuscated
/// identifiers give `None`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port_ok = after.is_empty() || after.strip_prefix(':').is_some_and(is_port);
        return if port_ok { v6.parse::<Ipv6Addr>().ok().map(IpAddr::V6) } else { None };
    }
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    let (v4, port) = node.rsplit_once(':')?;
    if is_port(port) {
        v4.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    } else {
        None
    }
}

fn is_port(port: &str) -> bool {
    !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
}

/// HTTP optional whitespace: spaces and tabs only.
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// One `Forwarded` element: its parameters, names lowercased, values unquoted.
type Element = Vec<(String, String)>;

fn param<'e>(element: &'e Element, name: &str) -> Option<&'e str> {
    element.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

/// All `Forwarded` elements, in order, across every `Forwarded` header line. Each line is parsed on its
/// own, so that a quote left open by a client in one line cannot swallow the element our proxy added in
/// the next.
fn forwarded_elements(headers: &HeaderMap) -> Result<Vec<Element>, HostError> {
    let mut elements = Vec::new();
    for line in headers.get_all(FORWARDED) {
        let line = line.to_str().map_err(|_| HostError::Invalid("Forwarded header is not visible ASCII".to_owned()))?;
        elements.extend(parse_forwarded(line).map_err(|reason| invalid(reason, line))?);
    }
    Ok(elements)
}

/// RFC 7230 `tchar`.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Parses one `Forwarded` header line (RFC 7239 section 4):
/// `element *( OWS "," OWS element )`, `element = [pair] *( ";" [pair] )`, `pair = token "=" value`,
/// `value = token / quoted-string`. Empty elements are skipped (RFC 9110 list rules); a parameter given
/// twice in one element is an error (RFC 7239 forbids it, and which one wins would be a guess).
///
/// Leniency, on purpose: unquoted values may also contain `:`, `[` and `]`, because common proxy
/// configurations emit `for=192.0.2.1:4711` unquoted; those characters cannot blur element or pair
/// boundaries.
fn parse_forwarded(line: &str) -> Result<Vec<Element>, &'static str> {
    let mut elements = Vec::new();
    let mut current: Element = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        match chars.peek() {
            None => break,
            Some(',') => {
                chars.next();
                if !current.is_empty() {
                    elements.push(std::mem::take(&mut current));
                }
                continue;
            }
            Some(';') => {
                chars.next();
                continue;
            }
            Some(_) => {}
        }
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| is_tchar(*c)) {
            name.push(c.to_ascii_lowercase());
        }
        if name.is_empty() || chars.next() != Some('=') {
            return Err("malformed Forwarded parameter");
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted string in Forwarded"),
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err("unterminated quoted string in Forwarded"),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| is_tchar(*c) || matches!(c, ':' | '[' | ']')) {
                value.push(c);
            }
            if value.is_empty() {
                return Err("empty Forwarded parameter value");
            }
        }
        if current.iter().any(|(n, _)| *n == name) {
            return Err("Forwarded parameter repeated in one element");
        }
        current.push((name, value));
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        if !matches!(chars.peek(), None | Some(',') | Some(';')) {
            return Err("malformed Forwarded element");
        }
    }
    if !current.is_empty() {
        elements.push(current);
    }
    Ok(elements)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    fn host(raw: &str) -> String {
        HostName::parse(raw).map(|h| h.0).unwrap_or_else(|e| panic!("{raw:?} should parse: {e}"))
    }

    fn rejects(raw: &str) {
        let got = HostName::parse(raw);
        assert!(matches!(got, Err(HostError::Invalid(_))), "{raw:?} should be rejected, got {got:?}");
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trusted(s: &str) -> TrustedProxies {
        TrustedProxies::parse(s).unwrap()
    }

    /// A header map from (name, value) pairs; repeated names become repeated header lines.
    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    fn path_only() -> Uri {
        Uri::from_static("/")
    }

    const PROXY: &str = "10.0.0.1";
    const STRANGER: &str = "203.0.113.9";

    fn resolve(pairs: &[(&str, &[u8])], peer: &str) -> Result<HostName, HostError> {
        request_host(&headers(pairs), &path_only(), ip(peer), &trusted("127.0.0.1, 10.0.0.0/8, ::1"))
    }

    #[test]
    fn accepts_and_normalises() {
        let cases = [
            ("example.com", "example.com"),
            ("localhost", "localhost"),
            ("a", "a"),
            ("example.com:3000", "example.com"),
            ("example.com:1", "example.com"),
            ("example.com:65535", "example.com"),
            ("example.com:080", "example.com"),
            ("Example.COM", "example.com"),
            ("Example.COM.", "example.com"),
            ("example.com.:8080", "example.com"),
            ("acme.ezscale.test", "acme.ezscale.test"),
            ("a-b.c-d.example", "a-b.c-d.example"),
            ("ab--cd.example", "ab--cd.example"),
            ("123abc.example", "123abc.example"),
            ("123.example", "123.example"),
            ("bücher.example", "xn--bcher-kva.example"),
            ("BÜCHER.example", "xn--bcher-kva.example"),
            ("Bücher.Example.:443", "xn--bcher-kva.example"),
            ("XN--BCHER-KVA.example", "xn--bcher-kva.example"),
            ("xn--bcher-kva.example", "xn--bcher-kva.example"),
            ("müller.de", "xn--mller-kva.de"),
            ("ｅｘａｍｐｌｅ.com", "example.com"),
            ("example。com", "example.com"),
            ("example.com\u{ff0e}", "example.com"),
            // UTS #46 maps these invisible characters to nothing, as browsers do.
            ("exa\u{ad}mple.com", "example.com"),
            ("ex\u{200b}ample.com", "example.com"),
            ("faß.de", "xn--fa-hia.de"),
            ("127.0.0.1", "127.0.0.1"),
            ("127.0.0.1:8080", "127.0.0.1"),
            ("127.0.0.1.", "127.0.0.1"),
            ("[::1]", "[::1]"),
            ("[::1]:3000", "[::1]"),
            ("[0:0:0:0:0:0:0:1]", "[::1]"),
            ("[2001:DB8::A]:443", "[2001:db8::a]"),
            ("[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]"),
        ];
        for (raw, want) in cases {
            assert_eq!(host(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn limits_at_the_edge() {
        let label63 = "a".repeat(63);
        assert_eq!(host(&format!("{label63}.example")), format!("{label63}.example"));
        // 4 * 63 + 3 dots = 255 > 253; 3 * 63 + 61 + 3 dots = 253.
        let name253 = format!("{label63}.{label63}.{label63}.{}", "b".repeat(61));
        assert_eq!(name253.len(), 253);
        assert_eq!(host(&name253), name253);
        assert_eq!(host(&format!("{name253}.")), name253);
        rejects(&format!("{label63}.{label63}.{label63}.{}", "b".repeat(62)));
        rejects(&format!("{}.example", "a".repeat(64)));
        // An IDN label whose punycode form is too long.
        rejects(&format!("{}.example", "ü".repeat(60)));
        rejects(&"a.".repeat(600));
    }

    #[test]
    fn rejects_matrix() {
        let cases = [
            "",
            ".",
            "..",
            "example.com..",
            ".example.com",
            "example..com",
            " example.com",
            "example.com ",
            "exa mple.com",
            "example.com\t",
            "example.com\r\n",
            "example.com\0",
            "example.com:",
            "example.com:0",
            "example.com:00000",
            "example.com:65536",
            "example.com:99999",
            "example.com:123456",
            "example.com:abc",
            "example.com:+80",
            "example.com:-1",
            "example.com:80:80",
            ":3000",
            "user@example.com",
            "user:pass@example.com",
            "@example.com",
            "example.com/",
            "example.com/path",
            "example.com?x=1",
            "example.com#frag",
            "example.com\\x",
            "exa%6dple.com",
            "under_score.example",
            "_dmarc.example",
            "-leading.example",
            "trailing-.example",
            "example.-com",
            "*.example.com",
            "exa\"mple.com",
            "exa,mple.com",
            "exa;mple.com",
            "xn--.example",
            "xn--zzzz-.example",
            "::1",
            "[::1",
            "::1]",
            "[]",
            "[::1]x",
            "[::1]:",
            "[::1]:0",
            "[::1]:70000",
            "[::1].",
            "[127.0.0.1]",
            "[fe80::1%25eth0]",
            "[v1.x]",
            "[[::1]]",
            "example.com]",
            "127.1",
            "127.0.0.01",
            "0127.0.0.1",
            "1.2.3.256",
            "1.2.3.4.5",
            "2130706433",
            "0x7f.0.0.1",
            "0x7f000001",
            "a.0x10",
            "example.123",
            "127.0.0.1..",
            // Fullwidth look-alikes of delimiters map to the delimiter under IDNA, and are then refused.
            "example.com\u{ff1a}80",
            "evil\u{ff20}example.com",
            "example.com\u{ff0f}x",
            "\u{ff3b}::1\u{ff3d}",
            "example\u{3000}com",
        ];
        for raw in cases {
            rejects(raw);
        }
        rejects(&"x".repeat(MAX_RAW_LEN + 1));
    }

    #[test]
    fn error_messages_quote_short_escaped_excerpts() {
        let Err(HostError::Invalid(msg)) = HostName::parse(&format!("\u{1b}[31m{}", "a".repeat(500))) else {
            panic!("should be invalid")
        };
        assert!(!msg.contains('\u{1b}'), "{msg}");
        assert!(msg.contains("\\u{1b}"), "{msg}");
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.ends_with("...\")"), "{msg}");
        assert_eq!(HostError::Missing.to_string(), "request names no host (no Host header and no authority)");
    }

    #[test]
    fn ip_accessor() {
        assert_eq!(HostName::parse("192.0.2.1:80").unwrap().ip(), Some(ip("192.0.2.1")));
        assert_eq!(HostName::parse("[::1]:80").unwrap().ip(), Some(ip("::1")));
        assert_eq!(HostName::parse("[::ffff:192.0.2.1]").unwrap().ip(), Some(ip("::ffff:192.0.2.1")));
        assert_eq!(HostName::parse("example.com").unwrap().ip(), None);
        assert_eq!(HostName::parse("localhost").unwrap().ip(), None);
    }

    #[test]
    fn display_as_str_and_from_str_agree() {
        let h: HostName = "Bücher.Example:8080".parse().unwrap();
        assert_eq!(h.to_string(), "xn--bcher-kva.example");
        assert_eq!(h.as_str(), "xn--bcher-kva.example");
        assert_eq!(h.as_ref(), "xn--bcher-kva.example");
        assert_eq!(HostName::parse(h.as_str()).unwrap(), h);
    }

    #[test]
    fn subdomain_is_exactly_one_label() {
        let parent = HostName::parse("ezscale.test").unwrap();
        let sub = |s: &str| HostName::parse(s).unwrap();
        assert_eq!(sub("acme.ezscale.test").is_subdomain_of(&parent), Some("acme"));
        assert_eq!(sub("ACME.ezscale.test.:3000").is_subdomain_of(&parent), Some("acme"));
        assert_eq!(sub("bücher.ezscale.test").is_subdomain_of(&parent), Some("xn--bcher-kva"));
        assert_eq!(sub("a.b.ezscale.test").is_subdomain_of(&parent), None);
        assert_eq!(sub("ezscale.test").is_subdomain_of(&parent), None);
        assert_eq!(sub("acmeezscale.test").is_subdomain_of(&parent), None);
        assert_eq!(sub("acme.notezscale.test").is_subdomain_of(&parent), None);
        assert_eq!(sub("acme.ezscale.testx").is_subdomain_of(&parent), None);
        assert_eq!(sub("test").is_subdomain_of(&parent), None);
        let v4 = sub("10.0.0.1");
        assert_eq!(sub("10.0.0.1").is_subdomain_of(&v4), None);
        assert_eq!(sub("acme.localhost").is_subdomain_of(&sub("localhost")), Some("acme"));
    }

    #[test]
    fn within_is_the_name_or_any_name_below_it() {
        let parent = HostName::parse("ezscale.test").unwrap();
        let sub = |s: &str| HostName::parse(s).unwrap();
        for inside in ["ezscale.test", "EZSCALE.test.", "acme.ezscale.test", "a.b.ezscale.test"] {
            assert!(sub(inside).is_within(&parent), "{inside}");
        }
        for outside in ["acmeezscale.test", "ezscale.testx", "test", "acme.notezscale.test", "10.0.0.1"] {
            assert!(!sub(outside).is_within(&parent), "{outside}");
        }
        assert!(sub("10.0.0.1").is_within(&sub("10.0.0.1")));
    }

    #[test]
    fn admin_domains() {
        let ok = |s: &str| HostName::parse_domain(s).map(|h| h.0).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!(ok("Shop.Example.COM"), "shop.example.com");
        assert_eq!(ok("example.com."), "example.com");
        assert_eq!(ok("bücher.de"), "xn--bcher-kva.de");
        assert_eq!(ok("123.example"), "123.example");
        for bad in [
            "",
            "example.com:443",
            "example.com:",
            "localhost",
            "com",
            "com.",
            "127.0.0.1",
            "[::1]",
            "[::1]:80",
            "::1",
            "example.123",
            "1.2.3",
            "1.2.3.4.5",
            "example.0x1f",
            " example.com",
            "example.com ",
            "under_score.example.com",
            "example..com",
            "example.com..",
            "admin@example.com",
            "example.com/",
        ] {
            let got = HostName::parse_domain(bad);
            assert!(matches!(got, Err(HostError::Invalid(_))), "{bad:?} should be rejected, got {got:?}");
        }
    }

    #[test]
    fn cidr_parsing() {
        let c = |s: &str| Cidr::parse(s).unwrap().to_string();
        assert_eq!(c("127.0.0.1"), "127.0.0.1/32");
        assert_eq!(c("10.0.0.0/8"), "10.0.0.0/8");
        assert_eq!(c("0.0.0.0/0"), "0.0.0.0/0");
        assert_eq!(c("::1"), "::1/128");
        assert_eq!(c("fd00::/8"), "fd00::/8");
        assert_eq!(c("::/0"), "::/0");
        assert_eq!(c("::ffff:10.0.0.0/104"), "10.0.0.0/8");
        assert_eq!(c("::ffff:10.1.2.3"), "10.1.2.3/32");
        for bad in [
            "",
            "/8",
            "10.0.0.0/",
            "10.0.0.0/33",
            "10.0.0.0/256",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "10.0.0.0/8/8",
            "10.0.0.1/8",
            "fd00::1/8",
            "::/129",
            "10.0.0",
            "10.0.0.0.0/8",
            "localhost",
            "[::1]",
            "::1%lo",
            "010.0.0.0/8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn trusted_proxy_lists() {
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse("  ").unwrap().is_empty());
        assert_eq!(TrustedProxies::default(), TrustedProxies::none());
        let t = trusted("127.0.0.1, 10.0.0.0/8, ::1, fd00::/8");
        assert_eq!(t.cidrs().len(), 4);
        assert_eq!(t.to_string(), "127.0.0.1/32, 10.0.0.0/8, ::1/128, fd00::/8");
        assert_eq!("10.0.0.0/8".parse::<TrustedProxies>().unwrap().cidrs().len(), 1);
        for (addr, want) in [
            ("127.0.0.1", true),
            ("127.0.0.2", false),
            ("10.0.0.0", true),
            ("10.255.255.255", true),
            ("11.0.0.0", false),
            ("9.255.255.255", false),
            ("::1", true),
            ("::2", false),
            ("fd12:3456::1", true),
            ("fe80::1", false),
            // IPv4-mapped peers are the IPv4 address, as a dual-stack socket reports them.
            ("::ffff:127.0.0.1", true),
            ("::ffff:10.9.8.7", true),
            ("::ffff:192.0.2.1", false),
            // IPv4-compatible (deprecated) addresses are not mapped ones.
            ("::127.0.0.1", false),
        ] {
            assert_eq!(t.contains(ip(addr)), want, "{addr}");
        }
        assert!(!TrustedProxies::none().contains(ip("127.0.0.1")));
        assert!(trusted("0.0.0.0/0").contains(ip("::ffff:1.2.3.4")));
        assert!(!trusted("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(trusted("::ffff:10.0.0.0/104").contains(ip("10.1.1.1")));
        for bad in ["10.0.0.0/8,", ",10.0.0.0/8", "10.0.0.0/8,,::1", "10.0.0.0/8 ::1", "10.0.0.0/8; ::1", "nope"] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn host_header_basics() {
        assert_eq!(resolve(&[("host", b"Example.COM:3000")], STRANGER).unwrap().as_str(), "example.com");
        assert_eq!(resolve(&[], STRANGER), Err(HostError::Missing));
        assert_eq!(resolve(&[("host", b"a.example"), ("host", b"a.example")], STRANGER), Err(HostError::Duplicate));
        assert_eq!(resolve(&[("host", b"a.example"), ("host", b"b.example")], STRANGER), Err(HostError::Duplicate));
        assert_eq!(resolve(&[("host", b"a.example"), ("host", b"b.example")], PROXY), Err(HostError::Duplicate));
        assert!(matches!(resolve(&[("host", b"")], STRANGER), Err(HostError::Invalid(_))));
        assert!(matches!(resolve(&[("host", b"b\xc3\xbccher.example")], STRANGER), Err(HostError::Invalid(_))));
        assert!(matches!(resolve(&[("host", b"a\xffb.example")], STRANGER), Err(HostError::Invalid(_))));
        assert!(matches!(resolve(&[("host", b"evil@a.example")], STRANGER), Err(HostError::Invalid(_))));
        assert!(matches!(resolve(&[("host", b"a.example, b.example")], STRANGER), Err(HostError::Invalid(_))));
    }

    #[test]
    fn authority_from_uri() {
        let t = trusted("10.0.0.0/8");
        let h2 = Uri::from_static("https://Acme.Example:8443/dashboard");
        let peer = ip(STRANGER);
        assert_eq!(request_host(&HeaderMap::new(), &h2, peer, &t).unwrap().as_str(), "acme.example");
        let same = headers(&[("host", b"acme.example")]);
        assert_eq!(request_host(&same, &h2, peer, &t).unwrap().as_str(), "acme.example");
        let other = headers(&[("host", b"other.example")]);
        assert_eq!(request_host(&other, &h2, peer, &t), Err(HostError::Conflict));
        let userinfo = Uri::from_static("http://user@acme.example/");
        assert!(matches!(request_host(&HeaderMap::new(), &userinfo, peer, &t), Err(HostError::Invalid(_))));
        let two = headers(&[("host", b"acme.example"), ("host", b"acme.example")]);
        assert_eq!(request_host(&two, &h2, peer, &t), Err(HostError::Duplicate));
    }

    #[test]
    fn forwarding_headers_only_from_trusted_peers() {
        let fwd: &[(&str, &[u8])] = &[("host", b"internal.svc"), ("forwarded", b"for=192.0.2.1;host=acme.example")];
        assert_eq!(resolve(fwd, PROXY).unwrap().as_str(), "acme.example");
        assert_eq!(resolve(fwd, STRANGER).unwrap().as_str(), "internal.svc");
        assert_eq!(resolve(fwd, "::ffff:10.0.0.1").unwrap().as_str(), "acme.example");
        assert_eq!(resolve(fwd, "::1").unwrap().as_str(), "acme.example");

        let xfh: &[(&str, &[u8])] = &[("host", b"internal.svc"), ("x-forwarded-host", b"acme.example")];
        assert_eq!(resolve(xfh, PROXY).unwrap().as_str(), "acme.example");
        assert_eq!(resolve(xfh, STRANGER).unwrap().as_str(), "internal.svc");

        // Garbage in forwarding headers from a stranger is not even parsed.
        let junk: &[(&str, &[u8])] =
            &[("host", b"a.example"), ("forwarded", b"host=\"unterminated"), ("x-forwarded-host", b"\xff")];
        assert_eq!(resolve(junk, STRANGER).unwrap().as_str(), "a.example");
        assert!(matches!(resolve(junk, PROXY), Err(HostError::Invalid(_))));
    }

    #[test]
    fn forwarded_host_selection() {
        let r = |pairs: &[(&str, &[u8])]| resolve(pairs, PROXY).map(|h| h.0);
        // The last element is the one our proxy added.
        assert_eq!(r(&[("forwarded", b"host=evil.example, for=192.0.2.1;host=acme.example")]).unwrap(), "acme.example");
        assert_eq!(
            r(&[("forwarded", b"host=evil.example"), ("forwarded", b"host=acme.example")]).unwrap(),
            "acme.example"
        );
        // Quoted values, escapes, case-insensitive names, whitespace around separators.
        assert_eq!(r(&[("forwarded", b"Host=\"Acme.Example:8443\"")]).unwrap(), "acme.example");
        assert_eq!(r(&[("forwarded", b"HOST=\"[::1]:8443\"")]).unwrap(), "[::1]");
        assert_eq!(
            r(&[("forwarded", b"for=\"[2001:db8::1]:4711\" ; host=\"ac\\me.example\"")]).unwrap(),
            "acme.example"
        );
        assert_eq!(r(&[("forwarded", b"for=\"a,b;c\";host=acme.example")]).unwrap(), "acme.example");
        assert_eq!(r(&[("forwarded", b"host=acme.example:8080")]).unwrap(), "acme.example");
        assert_eq!(r(&[("forwarded", b"host=acme.example,,")]).unwrap(), "acme.example");
        // No host= in the last element: X-Forwarded-Host, then Host.
        let fallback: &[(&str, &[u8])] = &[
            ("host", b"internal.svc"),
            ("forwarded", b"host=evil.example, for=192.0.2.1;proto=https"),
            ("x-forwarded-host", b"evil.example, acme.example"),
        ];
        assert_eq!(r(fallback).unwrap(), "acme.example");
        assert_eq!(r(&[("host", b"internal.svc"), ("forwarded", b"for=192.0.2.1")]).unwrap(), "internal.svc");
        // X-Forwarded-Host: last value across all lines.
        let xfh: &[(&str, &[u8])] =
            &[("x-forwarded-host", b"evil.example"), ("x-forwarded-host", b"other.example,  acme.example ,")];
        assert_eq!(r(xfh).unwrap(), "acme.example");
        // A malformed or invalid forwarded host from our own proxy is an error, not a silent fallback.
        for bad in [
            &b"host=\"acme.example"[..],
            b"host=",
            b"host",
            b"=acme.example",
            b"host=acme.example;host=evil.example",
            b"host=acme example",
            b"host=acme.example junk",
            b"host=\"acme.example\"x",
            b"host=\"acme.example\\",
            b"host=\"a@b.example\"",
            b"host=\"\"",
            b"host=under_score.example",
        ] {
            let got = r(&[("host", b"internal.svc"), ("forwarded", bad)]);
            assert!(matches!(got, Err(HostError::Invalid(_))), "{:?} gave {got:?}", String::from_utf8_lossy(bad));
        }
        // A quote left open by the client in its own line cannot swallow our proxy's element.
        let split: &[(&str, &[u8])] = &[("forwarded", b"for=\"x"), ("forwarded", b"host=\"acme.example\"")];
        assert!(matches!(r(split), Err(HostError::Invalid(_))));
        assert!(matches!(r(&[("x-forwarded-host", b"a.example, bad_host")]), Err(HostError::Invalid(_))));
    }

    #[test]
    fn forwarded_parser() {
        let p = |s: &str| parse_forwarded(s).unwrap();
        assert_eq!(p(""), Vec::<Element>::new());
        assert_eq!(p(" , ,"), Vec::<Element>::new());
        assert_eq!(
            p("For=192.0.2.60;Proto=http;By=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\""),
            vec![
                vec![
                    ("for".to_owned(), "192.0.2.60".to_owned()),
                    ("proto".to_owned(), "http".to_owned()),
                    ("by".to_owned(), "203.0.113.43".to_owned()),
                ],
                vec![("for".to_owned(), "[2001:db8:cafe::17]:4711".to_owned())],
            ]
        );
        assert_eq!(p(";;for=x;;"), vec![vec![("for".to_owned(), "x".to_owned())]]);
        assert_eq!(p("for=\"a\\\"b\""), vec![vec![("for".to_owned(), "a\"b".to_owned())]]);
    }

    #[test]
    fn client_ip_chains() {
        let t = trusted("127.0.0.1, 10.0.0.0/8, ::1");
        let c = |pairs: &[(&str, &[u8])], peer: &str| client_ip(&headers(pairs), ip(peer), &t);
        let xff: &[(&str, &[u8])] = &[("x-forwarded-for", b"198.51.100.7, 192.0.2.1, 10.0.0.2")];
        assert_eq!(c(xff, PROXY), ip("192.0.2.1"));
        assert_eq!(c(xff, STRANGER), ip(STRANGER));
        assert_eq!(c(&[], PROXY), ip(PROXY));
        assert_eq!(c(&[("x-forwarded-for", b"10.0.0.3, 127.0.0.1")], PROXY), ip(PROXY));
        assert_eq!(c(&[("x-forwarded-for", b"192.0.2.1, unknown")], PROXY), ip(PROXY));
        assert_eq!(c(&[("x-forwarded-for", b"192.0.2.1, unknown, 10.0.0.3")], PROXY), ip(PROXY));
        assert_eq!(c(&[("x-forwarded-for", b"unknown, 192.0.2.1")], PROXY), ip("192.0.2.1"));
        assert_eq!(c(&[("x-forwarded-for", b"\xff")], PROXY), ip(PROXY));
        // Several lines form one list; ports and brackets are tolerated; bare IPv6 too.
        let lines: &[(&str, &[u8])] =
            &[("x-forwarded-for", b"198.51.100.7"), ("x-forwarded-for", b"192.0.2.1:4711 , 10.0.0.2:80")];
        assert_eq!(c(lines, PROXY), ip("192.0.2.1"));
        assert_eq!(c(&[("x-forwarded-for", b"[2001:db8::1]:4711, ::1")], PROXY), ip("2001:db8::1"));
        assert_eq!(c(&[("x-forwarded-for", b"2001:db8::1")], PROXY), ip("2001:db8::1"));
        assert_eq!(c(&[("x-forwarded-for", b"[2001:db8::1]junk")], PROXY), ip(PROXY));
        // IPv4-mapped peers and entries are treated (and returned) as IPv4.
        assert_eq!(c(xff, "::ffff:10.0.0.1"), ip("192.0.2.1"));
        assert_eq!(c(&[("x-forwarded-for", b"::ffff:192.0.2.1")], PROXY), ip("192.0.2.1"));
        assert_eq!(c(&[("x-forwarded-for", b"192.0.2.1, ::ffff:10.0.0.9")], PROXY), ip("192.0.2.1"));
        assert_eq!(c(&[], "::ffff:203.0.113.9"), ip(STRANGER));
        assert_eq!(client_ip(&HeaderMap::new(), ip("10.0.0.1"), &TrustedProxies::none()), ip("10.0.0.1"));
    }

    #[test]
    fn https_is_believed_from_trusted_proxies_only() {
        let t = trusted("127.0.0.1, 10.0.0.0/8, ::1");
        let https = |pairs: &[(&str, &[u8])], peer: &str| forwarded_https(&headers(pairs), ip(peer), &t);
        assert!(https(&[("forwarded", b"for=192.0.2.1;proto=https;host=a.example")], PROXY));
        assert!(https(&[("forwarded", b"proto=http, for=192.0.2.1;proto=HTTPS")], PROXY), "the last element");
        assert!(!https(&[("forwarded", b"proto=https, for=192.0.2.1;proto=http")], PROXY));
        assert!(https(&[("x-forwarded-proto", b"http, https")], PROXY));
        assert!(!https(&[("x-forwarded-proto", b"https, http")], PROXY));
        assert!(!https(&[], PROXY));
        assert!(!https(&[("forwarded", b"for=192.0.2.1;proto=https")], STRANGER), "not our proxy");
        assert!(!https(&[("x-forwarded-proto", b"https")], STRANGER));
    }

    #[test]
    fn client_ip_from_forwarded() {
        let t = trusted("10.0.0.0/8");
        let c = |pairs: &[(&str, &[u8])]| client_ip(&headers(pairs), ip(PROXY), &t);
        let both: &[(&str, &[u8])] = &[
            ("forwarded", b"for=198.51.100.7, For=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.5"),
            ("x-forwarded-for", b"192.0.2.99"),
        ];
        assert_eq!(c(both), ip("2001:db8:cafe::17"));
        assert_eq!(c(&[("forwarded", b"for=192.0.2.43:47011")]), ip("192.0.2.43"));
        assert_eq!(c(&[("forwarded", b"for=\"192.0.2.43:47011\"")]), ip("192.0.2.43"));
        assert_eq!(c(&[("forwarded", b"for=192.0.2.1, for=unknown")]), ip(PROXY));
        assert_eq!(c(&[("forwarded", b"for=192.0.2.1, for=_hidden")]), ip(PROXY));
        assert_eq!(c(&[("forwarded", b"for=192.0.2.1, proto=https")]), ip(PROXY));
        // Forwarded without any for=: X-Forwarded-For is used.
        assert_eq!(c(&[("forwarded", b"host=a.example"), ("x-forwarded-for", b"192.0.2.7")]), ip("192.0.2.7"));
        // Malformed Forwarded: the peer, not a fallback to another client-writable header.
        assert_eq!(c(&[("forwarded", b"for=\"192.0.2.1"), ("x-forwarded-for", b"192.0.2.7")]), ip(PROXY));
    }

    #[test]
    fn node_parsing() {
        assert_eq!(parse_node("192.0.2.1"), Some(ip("192.0.2.1")));
        assert_eq!(parse_node("192.0.2.1:65535"), Some(ip("192.0.2.1")));
        assert_eq!(parse_node("192.0.2.1:65536"), None);
        assert_eq!(parse_node("192.0.2.1:"), None);
        assert_eq!(parse_node("[::1]"), Some(ip("::1")));
        assert_eq!(parse_node("[::1]:80"), Some(ip("::1")));
        assert_eq!(parse_node("[192.0.2.1]"), None);
        assert_eq!(parse_node("unknown"), None);
        assert_eq!(parse_node("_gazonk"), None);
        assert_eq!(parse_node(""), None);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_is_idempotent(raw in any::<String>()) {
            if let Ok(h) = HostName::parse(&raw) {
                prop_assert_eq!(HostName::parse(h.as_str()), Ok(h.clone()));
            }
            if let Ok(h) = HostName::parse_domain(&raw) {
                prop_assert_eq!(HostName::parse_domain(h.as_str()), Ok(h.clone()));
                prop_assert_eq!(HostName::parse(h.as_str()), Ok(h));
            }
        }

        #[test]
        fn hostlike_inputs_are_idempotent(raw in "[a-zA-Z0-9.:\\-_\\[\\]üÜß。ｅ]{0,40}") {
            if let Ok(h) = HostName::parse(&raw) {
                prop_assert!(h.as_str().len() <= MAX_NAME_LEN + 2);
                prop_assert_eq!(HostName::parse(h.as_str()), Ok(h.clone()));
                prop_assert_eq!(HostName::parse(&h.to_string().to_uppercase()), Ok(h.clone()));
                prop_assert_eq!(HostName::parse(&format!("{h}:8080")), Ok(h));
            }
        }

        #[test]
        fn forwarding_never_panics(fwd in any::<Vec<u8>>(), xff in "[0-9a-f.:, \\[\\]]{0,60}") {
            let mut map = HeaderMap::new();
            if let Ok(v) = HeaderValue::from_bytes(&fwd) {
                map.append(FORWARDED, v.clone());
                map.append(X_FORWARDED_HOST, v);
            }
            if let Ok(v) = HeaderValue::from_str(&xff) {
                map.append(X_FORWARDED_FOR, v);
            }
            let t = trusted("10.0.0.0/8");
            let _ = request_host(&map, &path_only(), ip(PROXY), &t);
            let _ = client_ip(&map, ip(PROXY), &t);
        }

        #[test]
        fn cidr_never_panics(s in "[0-9a-f.:/]{0,50}") {
            if let Ok(c) = Cidr::parse(&s) {
                prop_assert!(c.contains(c.network));
            }
        }
    }
}
