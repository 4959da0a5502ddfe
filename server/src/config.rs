//! Configuration from the environment (and `.env`), parsed once into typed values at startup.
//! Secrets are wrapped so they never appear in logs or `Debug` output.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use app::backend::clients::kasm::{KasmAuthStyle, KasmConfig};
use app::backend::platform::crypto::DataKey;
use app::backend::platform::host::{HostName, TrustedProxies};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A configuration value that must never be printed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where workspaces run: a real Kasm, or the simulator built into this binary.
#[derive(Clone, Debug)]
pub enum KasmTarget {
    Remote {
        url: String,
        api_key: String,
        api_secret: Secret,
        auth: KasmAuthStyle,
        insecure_tls: bool,
        /// Extra root certificate(s) to trust (PEM), read from `KASM_CA_FILE`.
        ca_pem: Option<String>,
    },
    /// The in-process simulator; `start_delay` is how long its sessions take to come up; `port` 0 picks
    /// a free one.
    Simulator {
        start_delay: Duration,
        port: u16,
        /// Concurrent-session licence cap (Kasm's unlicensed default is 5).
        license_cap: usize,
    },
}

#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    pub database_url: String,
    /// A PgBouncer in transaction pooling mode in front of `database_url`'s server
    /// (`DATABASE_POOLER_URL`): queries to the central database, and to tenant databases on that server,
    /// go through it; what needs a session of its own stays on `database_url`.
    pub database_pooler_url: Option<String>,
    pub data_dir: PathBuf,
    pub kasm: KasmTarget,
    pub kasm_timeout: Duration,
    /// How long the configured Kasm server's circuit breaker fails calls fast after a streak of failures.
    pub kasm_breaker_cool_down: Duration,
    pub reconcile_interval: Duration,
    pub meter_interval: Duration,
    pub billing_interval: Duration,
    pub domain_check_interval: Duration,
    /// Sign-in (and other account action) attempts allowed per client address per window, all accounts
    /// together (`ATTEMPTS_PER_ADDRESS`; per account it stays 10).
    pub attempts_per_address: u32,
    /// This server's name among the app servers (`SERVER_NAME`; default `<host name>:<port>`), shown in
    /// `/metrics` and in the loops' and jobs' leases.
    pub server_name: Option<String>,
    /// Run the built-in Stripe fake on this port (0 = any) and point the demo storefronts at it (and the
    /// platform's own account, when `platform_stripe` is not set).
    pub stripe_fake_port: Option<u16>,
    /// The platform's own Stripe account, which collects wholesale invoices (`PLATFORM_STRIPE_*`).
    pub platform_stripe: Option<PlatformStripeConfig>,
    /// `POST /__test/clock/advance` (loopback only) moves the clock forward: end-to-end tests only.
    pub test_clock: bool,
    pub log_format: LogFormat,
    pub secure_cookies: bool,
    pub demo_data: bool,
    /// Also create the demo reseller "acme" (its own database, owner and customer).
    pub demo_reseller: bool,
    /// A Discord webhook for provisioning failures (its URL is a credential).
    pub alert_webhook: Option<Secret>,
    /// Development and tests only: allow the webhook on a private or loopback address.
    pub alert_allow_private: bool,
    /// `<slug>.<platform_domain>` reaches a reseller; the bare domain reaches the house storefront.
    pub platform_domain: HostName,
    /// Hosts of the admin app (default `admin.<platform_domain>`).
    pub admin_hosts: Vec<HostName>,
    /// Proxies whose `Forwarded` / `X-Forwarded-*` headers are believed.
    pub trusted_proxies: TrustedProxies,
    /// At most this many tenant database pools are open at once (least recently used closed first).
    pub tenant_pool_cap: usize,
    /// Outgoing mail server (`smtp://`, `smtp+starttls://`, `smtps://`); unset = messages stay in the outbox.
    pub smtp_url: Option<Secret>,
    /// The platform's sender (and the fallback for tenants without their own address).
    pub mail_from: String,
    pub mail_from_name: String,
    /// The port of public links in emails sent from background jobs (unset: the scheme's default; in
    /// development the listening port is used).
    pub public_port: Option<u16>,
    /// Resolver for custom-domain DNS checks: the system's, or one `ip:port`.
    pub dns_server: Option<std::net::SocketAddr>,
    /// The operations listener (`/metrics`, the TLS ask): never the public one, loopback by default.
    pub ops_addr: std::net::SocketAddr,
    data_key: DataKeySource,
}

/// The platform's own Stripe account: `PLATFORM_STRIPE_SECRET_KEY`, `PLATFORM_STRIPE_WEBHOOK_SECRET`
/// (required with it) and `PLATFORM_STRIPE_API_BASE` (Stripe's own by default; production refuses a plain
/// HTTP one, which can only be a fake).
#[derive(Clone, Debug)]
pub struct PlatformStripeConfig {
    pub api_base: String,
    pub secret_key: Secret,
    pub webhook_secret: Secret,
}

/// The operations listener's default: this machine only, a port no common exporter uses.
pub const DEFAULT_OPS_ADDR: &str = "127.0.0.1:3090";

#[derive(Clone, Debug)]
enum DataKeySource {
    Given(Secret),
    /// Development only: generated on first run and kept in the data directory.
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is invalid: {why}")]
    Invalid { name: &'static str, why: String },
    #[error("{0} must be set in production")]
    Required(&'static str),
    #[error("data key file {path}: {why}")]
    KeyFile { path: String, why: String },
    /// A combination that is unsafe for the environment (a demo switch in production, a real domain in
    /// development): the server refuses to start rather than guess.
    #[error("{name} {why}")]
    Refused { name: &'static str, why: String },
}

fn invalid(name: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { name, why: why.into() }
}

fn refused(name: &'static str, why: impl Into<String>) -> ConfigError {
    ConfigError::Refused { name, why: why.into() }
}

/// A development-only switch: its default in development, refused when turned on in production.
fn dev_switch(name: &'static str, v: Option<String>, prod: bool) -> Result<bool, ConfigError> {
    match parse_bool(name, v, !prod)? {
        true if prod => Err(refused(
            name,
            "is for development and tests only and is refused in production (APP_ENV defaults to production; \
             set APP_ENV=development for a local run)",
        )),
        on => Ok(on),
    }
}

/// Names that can never be a public deployment: `localhost` and the reserved names (RFC 2606/6761:
/// `*.localhost`, `*.test`, `*.example`, `*.invalid`) and IP addresses.
fn is_reserved_domain(host: &HostName) -> bool {
    let name = host.as_str();
    host.ip().is_some()
        || name == "localhost"
        || [".localhost", ".test", ".example", ".invalid"].iter().any(|tld| name.ends_with(tld))
}

impl Config {
    /// Reads `.env` (if present) and the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Parses configuration from any key lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |k: &str| get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        // Development only when asked for: a deployment that forgets APP_ENV gets production's safe
        // defaults (no demo accounts, no Stripe fake, Secure cookies) and its checks.
        let environment = match get("APP_ENV").as_deref().unwrap_or("production") {
            "development" | "dev" => Environment::Development,
            "production" | "prod" => Environment::Production,
            other => return Err(invalid("APP_ENV", format!("{other:?} (use development or production)"))),
        };
        let prod = environment == Environment::Production;
        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "data".into()));
        let database_url = get("DATABASE_URL").unwrap_or_else(|| format!("sqlite://{}/ezscale.db", data_dir.display()));
        let engine = app::backend::platform::db::Engine::of_url(&database_url)
            .map_err(|e| invalid("DATABASE_URL", e.to_string()))?;
        let database_pooler_url = match get("DATABASE_POOLER_URL") {
            None => None,
            Some(_) if engine != app::backend::platform::db::Engine::Postgres => {
                return Err(invalid("DATABASE_POOLER_URL", "a pooler is for a PostgreSQL DATABASE_URL only"))
            }
            Some(url) if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) => {
                return Err(invalid("DATABASE_POOLER_URL", "must start with postgres://"))
            }
            Some(url) => Some(url),
        };

        let kasm = match get("KASM_URL") {
            Some(url) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(invalid("KASM_URL", "must start with https:// or http://"));
                }
                KasmTarget::Remote {
                    url: url.trim_end_matches('/').to_owned(),
                    api_key: get("KASM_API_KEY").ok_or(ConfigError::Required("KASM_API_KEY (with KASM_URL)"))?,
                    api_secret: Secret::new(
                        get("KASM_API_SECRET").ok_or(ConfigError::Required("KASM_API_SECRET (with KASM_URL)"))?,
                    ),
                    auth: match get("KASM_AUTH").as_deref().unwrap_or("body") {
                        "body" => KasmAuthStyle::JsonBody,
                        "basic" => KasmAuthStyle::HttpBasic,
                        other => return Err(invalid("KASM_AUTH", format!("{other:?} (use body or basic)"))),
                    },
                    insecure_tls: parse_bool("KASM_INSECURE_TLS", get("KASM_INSECURE_TLS"), false)?,
                    ca_pem: match get("KASM_CA_FILE") {
                        Some(path) => Some(
                            std::fs::read_to_string(&path)
                                .map_err(|e| invalid("KASM_CA_FILE", format!("cannot read {path}: {e}")))?,
                        ),
                        None => None,
                    },
                }
            }
            None if prod => return Err(ConfigError::Required("KASM_URL")),
            None => KasmTarget::Simulator {
                start_delay: Duration::from_millis(parse_u64(
                    "KASM_SIM_START_DELAY_MS",
                    get("KASM_SIM_START_DELAY_MS"),
                    1500,
                )?),
                port: u16::try_from(parse_u64("KASM_SIM_PORT", get("KASM_SIM_PORT"), 0)?)
                    .map_err(|_| invalid("KASM_SIM_PORT", "must be a port number"))?,
                license_cap: usize::try_from(parse_u64("KASM_SIM_LICENSE_CAP", get("KASM_SIM_LICENSE_CAP"), 5)?)
                    .map_err(|_| invalid("KASM_SIM_LICENSE_CAP", "too large"))?,
            },
        };
        let log_format = match get("LOG_FORMAT").as_deref() {
            None if prod => LogFormat::Json,
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => return Err(invalid("LOG_FORMAT", format!("{other:?} (use pretty or json)"))),
        };
        let data_key = match get("DATA_KEY") {
            Some(k) => {
                DataKey::from_base64(&k).map_err(|e| invalid("DATA_KEY", e.to_string()))?;
                DataKeySource::Given(Secret::new(k))
            }
            None if prod => return Err(ConfigError::Required("DATA_KEY")),
            None => DataKeySource::File(data_dir.join(".data-key")),
        };
        let platform_domain = HostName::parse(&get("PLATFORM_DOMAIN").unwrap_or_else(|| "localhost".into()))
            .map_err(|e| invalid("PLATFORM_DOMAIN", e.to_string()))?;
        if !prod && !is_reserved_domain(&platform_domain) {
            return Err(refused(
                "PLATFORM_DOMAIN",
                format!(
                    "{platform_domain} is a real domain, but APP_ENV is development (demo accounts with published \
                     passwords, the Stripe fake, cookies without Secure): set APP_ENV=production, or use a name \
                     under .localhost or .test"
                ),
            ));
        }
        let admin_hosts = match get("ADMIN_HOSTS") {
            Some(list) => list
                .split(',')
                .map(|h| HostName::parse(h.trim()).map_err(|e| invalid("ADMIN_HOSTS", e.to_string())))
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![HostName::parse(&format!("admin.{platform_domain}"))
                .map_err(|e| invalid("PLATFORM_DOMAIN", e.to_string()))?],
        };
        let trusted_proxies = TrustedProxies::parse(&get("TRUSTED_PROXIES").unwrap_or_default())
            .map_err(|e| invalid("TRUSTED_PROXIES", e))?;
        let dns_server = get("DNS_SERVER")
            .map(|v| v.parse().map_err(|_| invalid("DNS_SERVER", "an address like 127.0.0.1:53")))
            .transpose()?;
        let smtp_url = get("SMTP_URL").map(Secret::new);
        if let Some(u) = &smtp_url {
            app::backend::mail::parse_smtp_url(u.expose()).map_err(|e| invalid("SMTP_URL", e))?;
        }
        let mail_from = get("MAIL_FROM").unwrap_or_else(|| format!("no-reply@{platform_domain}"));
        app::backend::mail::validate_address(&mail_from).map_err(|e| invalid("MAIL_FROM", e.to_string()))?;
        let ops_addr = get("OPS_ADDR")
            .unwrap_or_else(|| DEFAULT_OPS_ADDR.into())
            .parse()
            .map_err(|_| invalid("OPS_ADDR", "an address like 127.0.0.1:3090"))?;
        let platform_stripe = match get("PLATFORM_STRIPE_SECRET_KEY") {
            Some(key) => {
                if !(key.starts_with("sk_") || key.starts_with("rk_")) {
                    return Err(invalid(
                        "PLATFORM_STRIPE_SECRET_KEY",
                        "must be a secret key (sk_…) or restricted key (rk_…)",
                    ));
                }
                let webhook_secret = get("PLATFORM_STRIPE_WEBHOOK_SECRET")
                    .ok_or(ConfigError::Required("PLATFORM_STRIPE_WEBHOOK_SECRET (with PLATFORM_STRIPE_SECRET_KEY)"))?;
                let api_base = get("PLATFORM_STRIPE_API_BASE")
                    .unwrap_or_else(|| app::backend::clients::stripe::DEFAULT_BASE_URL.to_owned());
                if prod && !api_base.starts_with("https://") {
                    return Err(refused(
                        "PLATFORM_STRIPE_API_BASE",
                        "is not https://, which only a Stripe fake is; production refuses it",
                    ));
                }
                if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
                    return Err(invalid("PLATFORM_STRIPE_API_BASE", "must start with https:// or http://"));
                }
                Some(PlatformStripeConfig {
                    api_base: api_base.trim_end_matches('/').to_owned(),
                    secret_key: Secret::new(key),
                    webhook_secret: Secret::new(webhook_secret),
                })
            }
            None if get("PLATFORM_STRIPE_WEBHOOK_SECRET").is_some() || get("PLATFORM_STRIPE_API_BASE").is_some() => {
                return Err(ConfigError::Required(
                    "PLATFORM_STRIPE_SECRET_KEY (with the other PLATFORM_STRIPE_* settings)",
                ))
            }
            None => None,
        };
        let public_port = get("PUBLIC_PORT")
            .map(|p| p.parse::<u16>().map_err(|_| invalid("PUBLIC_PORT", "a port number")))
            .transpose()?;
        Ok(Config {
            platform_stripe,
            public_port,
            smtp_url,
            mail_from,
            mail_from_name: get("MAIL_FROM_NAME").unwrap_or_else(|| "EZSCALE Workspaces".into()),
            platform_domain,
            admin_hosts,
            trusted_proxies,
            tenant_pool_cap: usize::try_from(parse_u64("TENANT_POOL_CAP", get("TENANT_POOL_CAP"), 256)?)
                .map_err(|_| invalid("TENANT_POOL_CAP", "too large"))?,
            dns_server,
            ops_addr,
            environment,
            database_url,
            database_pooler_url,
            kasm,
            kasm_timeout: Duration::from_secs(parse_u64("KASM_TIMEOUT_SECS", get("KASM_TIMEOUT_SECS"), 15)?),
            kasm_breaker_cool_down: Duration::from_millis(parse_u64(
                "KASM_BREAKER_COOL_DOWN_MS",
                get("KASM_BREAKER_COOL_DOWN_MS"),
                30_000,
            )?),
            reconcile_interval: Duration::from_millis(parse_u64(
                "RECONCILE_INTERVAL_MS",
                get("RECONCILE_INTERVAL_MS"),
                60_000,
            )?),
            meter_interval: Duration::from_millis(
                parse_u64("METER_INTERVAL_MS", get("METER_INTERVAL_MS"), 60_000)?.max(100),
            ),
            billing_interval: Duration::from_millis(
                parse_u64("BILLING_INTERVAL_MS", get("BILLING_INTERVAL_MS"), 3_600_000)?.max(1_000),
            ),
            domain_check_interval: Duration::from_millis(
                parse_u64("DOMAIN_CHECK_INTERVAL_MS", get("DOMAIN_CHECK_INTERVAL_MS"), 60_000)?.max(1_000),
            ),
            attempts_per_address: u32::try_from(parse_u64("ATTEMPTS_PER_ADDRESS", get("ATTEMPTS_PER_ADDRESS"), 50)?)
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or_else(|| invalid("ATTEMPTS_PER_ADDRESS", "must be between 1 and 1000000"))?,
            server_name: match get("SERVER_NAME").map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
                Some(name)
                    if name.len() <= 64
                        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':')) =>
                {
                    Some(name)
                }
                Some(_) => {
                    return Err(invalid(
                        "SERVER_NAME",
                        "must be at most 64 letters, digits, dots, dashes, underscores or colons",
                    ))
                }
                None => None,
            },
            test_clock: match parse_bool("TEST_CLOCK", get("TEST_CLOCK"), false)? {
                true if prod => {
                    return Err(refused("TEST_CLOCK", "is for end-to-end tests and is refused in production"))
                }
                v => v,
            },
            stripe_fake_port: if dev_switch("STRIPE_FAKE", get("STRIPE_FAKE"), prod)? {
                Some(
                    u16::try_from(parse_u64("STRIPE_FAKE_PORT", get("STRIPE_FAKE_PORT"), 0)?)
                        .map_err(|_| invalid("STRIPE_FAKE_PORT", "must be a port number"))?,
                )
            } else {
                None
            },
            log_format,
            secure_cookies: match parse_bool("SECURE_COOKIES", get("SECURE_COOKIES"), prod)? {
                false if prod => {
                    return Err(refused(
                        "SECURE_COOKIES",
                        "is false, which production refuses: session cookies must only travel over HTTPS",
                    ))
                }
                v => v,
            },
            demo_data: dev_switch("DEMO_DATA", get("DEMO_DATA"), prod)?,
            demo_reseller: dev_switch("DEMO_RESELLER", get("DEMO_RESELLER"), prod)?,
            alert_webhook: get("ALERT_DISCORD_WEBHOOK").map(Secret::new),
            alert_allow_private: parse_bool("ALERT_WEBHOOK_ALLOW_PRIVATE", get("ALERT_WEBHOOK_ALLOW_PRIVATE"), false)?,
            data_dir,
            data_key,
        })
    }

    /// The data-encryption key: from `DATA_KEY`, or (development) from a key file created on first run.
    pub fn data_key(&self) -> Result<DataKey, ConfigError> {
        match &self.data_key {
            DataKeySource::Given(s) => DataKey::from_base64(s.expose()).map_err(|e| invalid("DATA_KEY", e.to_string())),
            DataKeySource::File(path) => load_or_create_key(path),
        }
    }

    pub fn kasm_client_config(&self, sim_url: Option<&str>) -> KasmConfig {
        match (&self.kasm, sim_url) {
            (KasmTarget::Remote { url, api_key, api_secret, auth, insecure_tls, ca_pem }, _) => KasmConfig {
                base_url: url.clone(),
                api_key: api_key.clone(),
                api_secret: api_secret.expose().to_owned(),
                auth: *auth,
                timeout: self.kasm_timeout,
                insecure_skip_tls_verify: *insecure_tls,
                ca_pem: ca_pem.clone(),
            },
            (KasmTarget::Simulator { .. }, url) => {
                let sim = crate::kasm_sim::SimConfig::default();
                KasmConfig {
                    base_url: url.unwrap_or("http://127.0.0.1:0").to_owned(),
                    api_key: sim.api_key,
                    api_secret: sim.api_secret,
                    auth: KasmAuthStyle::JsonBody,
                    timeout: self.kasm_timeout,
                    insecure_skip_tls_verify: false,
                    ca_pem: None,
                }
            }
        }
    }
}

fn parse_bool(name: &'static str, v: Option<String>, default: bool) -> Result<bool, ConfigError> {
    match v.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(invalid(name, format!("{other:?} is not true or false"))),
    }
}

fn parse_u64(name: &'static str, v: Option<String>, default: u64) -> Result<u64, ConfigError> {
    v.map_or(Ok(default), |s| s.parse().map_err(|_| invalid(name, format!("{s:?} is not a whole number"))))
}

fn load_or_create_key(path: &Path) -> Result<DataKey, ConfigError> {
    let err = |why: String| ConfigError::KeyFile { path: path.display().to_string(), why };
    match std::fs::read_to_string(path) {
        Ok(text) => DataKey::from_base64(&text).map_err(|e| err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            }
            let key = DataKey::generate();
            write_private(path, &key.to_base64()).map_err(|e| err(e.to_string()))?;
            tracing::warn!(path = %path.display(), "generated a development data key; set DATA_KEY in production");
            Ok(key)
        }
        Err(e) => Err(err(e.to_string())),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|k| m.get(k).cloned())
    }

    const DEV: (&str, &str) = ("APP_ENV", "development");

    /// What a production deployment sets (no APP_ENV: production is the default).
    fn production(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut pairs = vec![
            ("PLATFORM_DOMAIN", "example.com"),
            ("KASM_URL", "https://kasm.example.com"),
            ("KASM_API_KEY", "k"),
            ("KASM_API_SECRET", "s"),
            ("DATA_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ];
        pairs.extend_from_slice(extra);
        parse(&pairs)
    }

    fn refusal(r: Result<Config, ConfigError>) -> (&'static str, String) {
        match r {
            Err(e @ ConfigError::Refused { name, .. }) => (name, e.to_string()),
            Err(e) => panic!("expected a refusal, got: {e}"),
            Ok(_) => panic!("expected a refusal, the configuration was accepted"),
        }
    }

    #[test]
    fn development_defaults_just_work() {
        let c = parse(&[DEV]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.environment, Environment::Development);
        assert_eq!(c.database_url, "sqlite://data/ezscale.db");
        assert!(matches!(c.kasm, KasmTarget::Simulator { .. }));
        assert!(c.demo_data && c.demo_reseller && c.stripe_fake_port.is_some() && !c.secure_cookies);
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.ops_addr.to_string(), DEFAULT_OPS_ADDR);
    }

    #[test]
    fn without_app_env_it_is_production_with_safe_defaults() {
        // Nothing set: production, so a Kasm and a key are required rather than demo data started.
        assert!(matches!(parse(&[]), Err(ConfigError::Required("KASM_URL"))));
        let c = production(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.environment, Environment::Production);
        assert!(!c.demo_data && !c.demo_reseller && !c.test_clock && c.stripe_fake_port.is_none());
        assert!(c.secure_cookies);
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(c.ops_addr.ip().is_loopback(), "the operations listener is local by default");
    }

    #[test]
    fn attempts_per_address_defaults_to_50_and_refuses_nonsense_naming_it() {
        assert_eq!(parse(&[DEV]).unwrap_or_else(|e| panic!("{e}")).attempts_per_address, 50);
        let c = production(&[("ATTEMPTS_PER_ADDRESS", "400")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.attempts_per_address, 400);
        for bad in ["0", "-1", "many", "1000001", "99999999999"] {
            match production(&[("ATTEMPTS_PER_ADDRESS", bad)]) {
                Err(ConfigError::Invalid { name, .. }) => assert_eq!(name, "ATTEMPTS_PER_ADDRESS", "{bad}"),
                other => panic!("{bad}: expected ATTEMPTS_PER_ADDRESS refused, got {:?}", other.map(|_| ())),
            }
        }
    }

    #[test]
    fn a_pooler_url_is_for_a_postgresql_central_database_only() {
        assert_eq!(parse(&[DEV]).unwrap_or_else(|e| panic!("{e}")).database_pooler_url, None);
        let pg = ("DATABASE_URL", "postgres://app@db:5432/ezscale");
        let c = parse(&[DEV, pg, ("DATABASE_POOLER_URL", "postgres://app@pgb:6432/ezscale")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.database_pooler_url.as_deref(), Some("postgres://app@pgb:6432/ezscale"));
        for bad in
            [vec![DEV, ("DATABASE_POOLER_URL", "postgres://pgb/x")], vec![DEV, pg, ("DATABASE_POOLER_URL", "pgb:6432")]]
        {
            match parse(&bad) {
                Err(ConfigError::Invalid { name, .. }) => assert_eq!(name, "DATABASE_POOLER_URL"),
                other => panic!("expected DATABASE_POOLER_URL refused, got {:?}", other.map(|_| ())),
            }
        }
    }

    #[test]
    fn a_server_name_is_optional_and_refused_when_it_would_break_a_metrics_label() {
        assert_eq!(parse(&[DEV]).unwrap_or_else(|e| panic!("{e}")).server_name, None);
        let c = production(&[("SERVER_NAME", " app-2.eu:3000 ")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.server_name.as_deref(), Some("app-2.eu:3000"));
        const SIXTY_FIVE: &str = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";
        assert_eq!(SIXTY_FIVE.len(), 65);
        for bad in ["a\"b", "two words", "x\ny", SIXTY_FIVE] {
            match production(&[("SERVER_NAME", bad)]) {
                Err(ConfigError::Invalid { name, .. }) => assert_eq!(name, "SERVER_NAME", "{bad}"),
                other => panic!("{bad}: expected SERVER_NAME refused, got {:?}", other.map(|_| ())),
            }
        }
    }

    #[test]
    fn production_refuses_every_development_switch_naming_it() {
        for (name, value) in [
            ("DEMO_DATA", "true"),
            ("DEMO_RESELLER", "true"),
            ("STRIPE_FAKE", "true"),
            ("TEST_CLOCK", "true"),
            ("SECURE_COOKIES", "false"),
        ] {
            let (refused, message) = refusal(production(&[(name, value)]));
            assert_eq!(refused, name);
            assert!(message.starts_with(name) && !message.contains('\n'), "one line naming {name}: {message}");
            // The same with APP_ENV spelled out.
            assert_eq!(refusal(production(&[("APP_ENV", "production"), (name, value)])).0, name);
        }
        // Turning them off explicitly is fine.
        let off = [("DEMO_DATA", "false"), ("DEMO_RESELLER", "false"), ("STRIPE_FAKE", "false"), ("TEST_CLOCK", "0")];
        assert!(production(&off).is_ok());
    }

    #[test]
    fn development_refuses_a_real_platform_domain() {
        for real in ["example.com", "ezscale.cloud", "shop.example.co.uk"] {
            let (name, message) = refusal(parse(&[DEV, ("PLATFORM_DOMAIN", real)]));
            assert_eq!(name, "PLATFORM_DOMAIN");
            assert!(message.contains(real) && !message.contains('\n'), "{message}");
        }
        for reserved in ["localhost", "acme.localhost", "ezscale.test", "shop.example", "x.invalid", "10.0.0.7"] {
            // (An address has no `admin.` subdomain, so it needs its own admin host.)
            let c = parse(&[DEV, ("PLATFORM_DOMAIN", reserved), ("ADMIN_HOSTS", "admin.localhost")])
                .unwrap_or_else(|e| panic!("{reserved}: {e}"));
            assert_eq!(c.environment, Environment::Development);
        }
    }

    #[test]
    fn the_platform_stripe_account_needs_its_webhook_secret_and_https_in_production() {
        let base = [("APP_ENV", "development"), ("PLATFORM_STRIPE_SECRET_KEY", "sk_test_platform")];
        assert!(matches!(parse(&base), Err(ConfigError::Required(_))), "the webhook secret is required with the key");
        let full = [
            ("APP_ENV", "development"),
            ("PLATFORM_STRIPE_SECRET_KEY", "sk_test_platform"),
            ("PLATFORM_STRIPE_WEBHOOK_SECRET", "whsec_platform"),
            ("PLATFORM_STRIPE_API_BASE", "http://127.0.0.1:12111/"),
        ];
        let c = parse(&full).unwrap_or_else(|e| panic!("{e}"));
        let p = c.platform_stripe.unwrap_or_else(|| panic!("configured"));
        assert_eq!(p.api_base, "http://127.0.0.1:12111");
        assert!(!format!("{p:?}").contains("sk_test_platform") && !format!("{p:?}").contains("whsec_platform"));
        let (refused, _) = refusal(production(&[
            ("PLATFORM_STRIPE_SECRET_KEY", "sk_live_x"),
            ("PLATFORM_STRIPE_WEBHOOK_SECRET", "whsec_x"),
            ("PLATFORM_STRIPE_API_BASE", "http://127.0.0.1:12111"),
        ]));
        assert_eq!(refused, "PLATFORM_STRIPE_API_BASE", "a plain-HTTP base is a fake: refused in production");
        assert!(matches!(
            parse(&[("APP_ENV", "development"), ("PLATFORM_STRIPE_WEBHOOK_SECRET", "whsec_x")]),
            Err(ConfigError::Required(_))
        ));
    }

    #[test]
    fn production_requires_a_key_and_a_kasm() {
        assert!(matches!(parse(&[("APP_ENV", "production")]), Err(ConfigError::Required("KASM_URL"))));
        let r = parse(&[
            ("APP_ENV", "production"),
            ("KASM_URL", "https://kasm"),
            ("KASM_API_KEY", "k"),
            ("KASM_API_SECRET", "s"),
        ]);
        assert!(matches!(r, Err(ConfigError::Required("DATA_KEY"))));
    }

    #[test]
    fn bad_values_are_named() {
        let e = parse(&[DEV, ("DATABASE_URL", "mysql://x")]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("DATABASE_URL"), "{e}");
        let e = parse(&[DEV, ("SECURE_COOKIES", "maybe")]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("SECURE_COOKIES"), "{e}");
        let e = parse(&[DEV, ("OPS_ADDR", "everywhere")]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("OPS_ADDR"), "{e}");
        let c = parse(&[DEV, ("OPS_ADDR", "127.0.0.1:0")]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.ops_addr.port(), 0);
    }

    #[test]
    fn secrets_never_print() {
        let c = parse(&[DEV, ("KASM_URL", "https://kasm"), ("KASM_API_KEY", "k"), ("KASM_API_SECRET", "topsecret")])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{c:?}").contains("topsecret"));
    }
}
