//! Builds the whole application from a `Config`: databases, Kasm (real or simulated), the job worker and
//! the HTTP router. `main` and the tests both go through [`Application::build`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use app::backend::clients::kasm::KasmClient;
use app::backend::mail::{parse_smtp_url, Mailer, Transport};
use app::backend::platform::alerts::Alerter;
use app::backend::platform::crypto::Crypto;
use app::backend::platform::db::{CentralDb, TenantDb};
use app::backend::state::{AppState, PlatformStripe, Settings};
use app::backend::tenancy::domain_ownership::{DnsConfig, Verifier};
use app::backend::tenancy::registry::{Registry, SiteConfig};
use app::backend::{platform::jobs, seed, tenancy::registry, workspaces::provisioning, workspaces::reconciler};
use axum::serve::ListenerExt;
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Config, KasmTarget};
use crate::kasm_sim::{SimConfig, Simulator};
use crate::routes;
use crate::stripe_fake::{FakeConfig, StripeFake};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("database: {0}")]
    Db(#[from] app::backend::platform::db::DbError),
    #[error("startup: {0}")]
    Backend(#[from] app::backend::BackendError),
    #[error("kasm client: {0}")]
    Kasm(#[from] app::backend::clients::kasm::KasmError),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// The operations listener (`OPS_ADDR`): metrics and the TLS ask, never on the public one.
    ops_listener: TcpListener,
    ops_router: axum::Router,
    state: AppState,
    simulator: Option<(Simulator, SocketAddr)>,
    sim_task: Option<JoinHandle<()>>,
    stripe_fake: Option<(StripeFake, SocketAddr)>,
    stripe_task: Option<JoinHandle<()>>,
}

impl Application {
    /// Opens and migrates the databases, seeds the catalog (and demo data when configured), starts Kasm
    /// or its simulator, and binds `leptos.site_addr` and `OPS_ADDR` (port 0 picks a free port).
    pub async fn build(config: Config, leptos: LeptosOptions) -> Result<Application, StartupError> {
        let key = config.data_key()?;
        // Bound first: links in emails sent by background jobs carry the real port in development.
        let listener = TcpListener::bind(leptos.site_addr).await?;
        let bound_port = listener.local_addr()?.port();
        let ops_listener = TcpListener::bind(config.ops_addr).await?;
        let central = CentralDb::open_at(&app::backend::platform::db::DbAddress {
            direct: config.database_url.clone(),
            pooler: config.database_pooler_url.clone(),
        })
        .await?;
        // Demo accounts have published passwords: never on a platform that has a real admin.
        let real_admin = (config.demo_data || config.demo_reseller) && seed::real_admin_exists(&central).await?;
        if real_admin {
            tracing::warn!(
                "a real platform admin exists: demo data is not created (DEMO_DATA / DEMO_RESELLER ignored)"
            );
        }
        let (demo_data, demo_reseller) = (config.demo_data && !real_admin, config.demo_reseller && !real_admin);
        let house_url = registry::ensure_house(&central, &config.database_url).await?;
        let house_db = TenantDb::open(&house_url).await?;
        app::backend::resellers::lifecycle::seed_catalog(&house_db, app::domain::money::Currency::USD).await?;
        if demo_data {
            seed::seed_demo(&house_db).await?;
        }
        house_db.close().await;
        let sites = SiteConfig {
            platform_domain: config.platform_domain.clone(),
            admin_hosts: config.admin_hosts.clone(),
            loopback_is_house: config.environment == crate::config::Environment::Development,
        };
        let registry = Registry::new(central.clone(), sites, config.tenant_pool_cap);

        let (simulator, sim_task, sim_url) = match &config.kasm {
            KasmTarget::Simulator { start_delay, port, license_cap } => {
                let sim = Simulator::new(SimConfig {
                    start_delay: *start_delay,
                    license_cap: *license_cap,
                    ..SimConfig::default()
                });
                let (addr, task) = sim.clone().spawn(SocketAddr::from(([127, 0, 0, 1], *port))).await?;
                (Some((sim, addr)), Some(task), Some(format!("http://{addr}")))
            }
            KasmTarget::Remote { .. } => (None, None, None),
        };
        let kasm = KasmClient::new(config.kasm_client_config(sim_url.as_deref()))?.with_breaker(
            app::backend::clients::kasm::BreakerConfig {
                cool_down: config.kasm_breaker_cool_down,
                ..app::backend::clients::kasm::BreakerConfig::default()
            },
        );

        // Development and tests (configuration refuses it in production): a local Stripe. Started before the
        // settings, since the platform's own account lives on it unless PLATFORM_STRIPE_* names a real one.
        let stripe = match config.stripe_fake_port {
            Some(port) => {
                let fake = StripeFake::new(FakeConfig::default());
                let (addr, task) = fake.clone().spawn(SocketAddr::from(([127, 0, 0, 1], port))).await?;
                Some((fake, addr, task))
            }
            None => None,
        };
        let platform_stripe = match (&config.platform_stripe, &stripe) {
            (Some(p), _) => Some(PlatformStripe {
                api_base: p.api_base.clone(),
                secret_key: p.secret_key.expose().to_owned(),
                webhook_secret: p.webhook_secret.expose().to_owned(),
            }),
            // The fake is empty at each start, so fresh keys each start too.
            (None, Some((fake, addr, _))) => {
                let (key, secret) = (format!("sk_test_platform_{}", random_hex()), format!("whsec_{}", random_hex()));
                let hook = format!(
                    "http://127.0.0.1:{bound_port}{}",
                    app::backend::billing::collection::PLATFORM_WEBHOOK_PATH
                );
                fake.register_account(&key, Some(&hook), &secret);
                Some(PlatformStripe { api_base: format!("http://{addr}"), secret_key: key, webhook_secret: secret })
            }
            (None, None) => None,
        };
        let settings = Settings {
            secure_cookies: config.secure_cookies,
            reconcile_interval: config.reconcile_interval,
            central_url: config.database_url.clone(),
            public_port: config
                .public_port
                .or_else(|| (config.environment == crate::config::Environment::Development).then_some(bound_port)),
            trusted_proxies: config.trusted_proxies.clone(),
            kasm_timeout: config.kasm_timeout,
            meter_interval: config.meter_interval,
            billing_interval: config.billing_interval,
            domain_check_interval: config.domain_check_interval,
            test_clock: config.test_clock,
            mail_drop: config.environment == crate::config::Environment::Development && config.smtp_url.is_none(),
            platform_stripe,
            attempt_policy: app::backend::platform::limits::Policy {
                per_ip: config.attempts_per_address,
                ..app::backend::platform::limits::Policy::default()
            },
            server_name: config.server_name.clone().unwrap_or_else(|| format!("{}:{bound_port}", host_name())),
            ..Settings::default()
        };
        let dns = match config.dns_server {
            Some(addr) => DnsConfig::Nameserver(addr),
            None => DnsConfig::System,
        };
        let verifier = Verifier::new(dns, Duration::from_secs(10));
        let alerts = match &config.alert_webhook {
            Some(url) => Alerter::discord(url.expose(), config.alert_allow_private).map_err(|e| {
                crate::config::ConfigError::Invalid { name: "ALERT_DISCORD_WEBHOOK", why: e.to_string() }
            })?,
            None => Alerter::disabled(),
        };
        let transport = match &config.smtp_url {
            Some(url) => Transport::Smtp(
                parse_smtp_url(url.expose())
                    .map_err(|why| crate::config::ConfigError::Invalid { name: "SMTP_URL", why })?,
            ),
            None => Transport::OutboxOnly,
        };
        let mailer = Mailer::new(transport, &config.mail_from_name, &config.mail_from)
            .map_err(|e| crate::config::ConfigError::Invalid { name: "MAIL_FROM", why: e.to_string() })?;
        // The configured Kasm server is `default`; templates are seeded once and then the admin's to edit.
        app::backend::workspaces::kasm_servers::record_default(&central, kasm.base_url(), "default").await?;
        app::backend::workspaces::plan_templates::ensure_defaults(&central).await?;
        let state = AppState::new(central, registry, kasm, Crypto::new(&key), settings, alerts, verifier, mailer);
        let mut demo_storefronts = Vec::new();
        if demo_data {
            seed::seed_demo_admin(&state).await?;
            demo_storefronts.push(registry::HOUSE_SLUG);
        }
        if demo_reseller {
            seed::seed_demo_reseller(&state).await?;
            demo_storefronts.push(seed::DEMO_RESELLER.0);
        }
        // The demo storefronts' keys point at the local Stripe. No other storefront's keys are ever touched.
        if let Some((fake, addr, _)) = &stripe {
            for slug in demo_storefronts {
                connect_demo_storefront(&state, fake, *addr, bound_port, slug).await?;
            }
        }
        let recovered = provisioning::recover(&state).await?;
        if recovered > 0 {
            tracing::info!(recovered, "re-enqueued unfinished workspace work");
        }

        // The built site's id is read now, not by the first page request.
        let site = app::backend::platform::site_files::site_files(&leptos);
        tracing::info!(build = site.id(), "built site files under {}", site.root());
        let router = routes::router(state.clone(), leptos);
        let ops_router = routes::ops_router(state.clone());
        let (stripe_fake, stripe_task) = match stripe {
            Some((fake, addr, task)) => (Some((fake, addr)), Some(task)),
            None => (None, None),
        };
        Ok(Application {
            listener,
            router,
            ops_listener,
            ops_router,
            state,
            simulator,
            sim_task,
            stripe_fake,
            stripe_task,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The operations listener's address (`/metrics`, `/tls/ask`).
    pub fn ops_addr(&self) -> std::io::Result<SocketAddr> {
        self.ops_listener.local_addr()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The in-process Stripe fake (development and tests).
    pub fn stripe_fake(&self) -> Option<&(StripeFake, SocketAddr)> {
        self.stripe_fake.as_ref()
    }

    /// The in-process simulator, when no Kasm URL is configured.
    pub fn simulator(&self) -> Option<&(Simulator, SocketAddr)> {
        self.simulator.as_ref()
    }

    /// Serves until `shutdown` resolves, then stops taking requests, lets in-flight requests and jobs
    /// finish (bounded), and closes the databases.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let worker = tokio::spawn(jobs::run_worker(
            self.state.central().clone(),
            Arc::new(provisioning::JobRunner(self.state.clone())),
            self.state.jobs_ready(),
            self.state.settings().server_name.clone(),
            stop_rx.clone(),
        ));
        let interval = self.state.settings().reconcile_interval;
        let reconciler = tokio::spawn(reconciler::run(self.state.clone(), interval, stop_rx.clone()));
        let settings = self.state.settings();
        let meter = tokio::spawn(app::backend::billing::meter::run(
            self.state.clone(),
            settings.meter_interval,
            stop_rx.clone(),
        ));
        let billing = tokio::spawn(app::backend::billing::run::schedule(
            self.state.clone(),
            settings.billing_interval,
            stop_rx.clone(),
        ));
        let domain_checks = tokio::spawn(app::backend::resellers::own_domains::run(
            self.state.clone(),
            settings.domain_check_interval,
            stop_rx.clone(),
        ));
        // PostgreSQL: this server's pages hear live events from every server through one listening connection.
        let live = self.state.events().is_clustered().then(|| {
            tokio::spawn(app::backend::platform::events::listen(
                self.state.events().listener(),
                settings.central_url.clone(),
                stop_rx.clone(),
            ))
        });
        if live.is_some() && !self.state.events().until_listening(Duration::from_secs(5)).await {
            tracing::warn!("not yet listening for live events; serving anyway (the listener keeps trying)");
        }
        let mail = tokio::spawn(app::backend::mail::outbox::run_worker(
            self.state.central().clone(),
            self.state.mailer().clone(),
            stop_rx,
            self.state.mail_ready(),
        ));
        // No Nagle: streamed responses (static files, SSR chunks) otherwise stall on delayed ACKs.
        let listener = self.listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let state = self.state.clone();
        let shutdown = async move {
            shutdown.await;
            // Long-lived event streams end now, so the graceful shutdown is not held open by them.
            state.begin_shutdown();
        };
        // The operations listener answers until the public one has drained (metrics stay scrapeable).
        let (ops_stop, ops_stopped) = tokio::sync::oneshot::channel::<()>();
        let ops = axum::serve(self.ops_listener, self.ops_router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = ops_stopped.await;
            });
        let ops = tokio::spawn(async move { ops.await });
        let served = axum::serve(listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = ops_stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), ops).await;
        tracing::info!("shutting down: waiting for running jobs");
        let _ = stop_tx.send(true);
        let _ = reconciler.await;
        // Each loop finishes its pass; one that takes longer is left behind, said so in the log.
        let waited = |name: &'static str, secs: u64, r: Result<_, tokio::time::error::Elapsed>| {
            if r.is_err() {
                tracing::warn!(task = name, secs, "still running at shutdown; left behind");
            }
        };
        waited("meter", 20, tokio::time::timeout(Duration::from_secs(20), meter).await.map(drop));
        waited("billing", 60, tokio::time::timeout(Duration::from_secs(60), billing).await.map(drop));
        waited("domain checks", 20, tokio::time::timeout(Duration::from_secs(20), domain_checks).await.map(drop));
        waited("mail", 10, tokio::time::timeout(Duration::from_secs(10), mail).await.map(drop));
        if let Some(live) = live {
            waited("live events", 5, tokio::time::timeout(Duration::from_secs(5), live).await.map(drop));
        }
        if tokio::time::timeout(Duration::from_secs(20), worker).await.is_err() {
            tracing::warn!("jobs still running after 20 s; their leases will lapse and they will run again");
        }
        if let Some(t) = self.sim_task {
            t.abort();
        }
        if let Some(t) = self.stripe_task {
            t.abort();
        }
        // Closing a pool waits for the connections in use to come back; one held by a task that is stuck
        // must not keep a stopping server alive, so after 5 s the process ends and the system closes it.
        waited(
            "closing tenant databases",
            5,
            tokio::time::timeout(Duration::from_secs(5), self.state.registry().close_all()).await,
        );
        waited(
            "closing the central database",
            5,
            tokio::time::timeout(Duration::from_secs(5), self.state.central().close()).await,
        );
        served
    }
}

/// Points a demo storefront at the (in-process, empty at each start) Stripe fake:
/// - no keys saved yet: a fresh test key and a random webhook signing secret, saved sealed;
/// - keys of a previous start's fake (a loopback API base): the same keys registered with this start's
///   fake, and the API base moved to it;
/// - keys its owner saved (any other API base): left exactly as they are.
///
/// Keys from before secrets were random (`whsec_<slug>_dev`, guessable by anyone) are replaced.
async fn connect_demo_storefront(
    state: &AppState,
    fake: &StripeFake,
    fake_addr: SocketAddr,
    public_port: u16,
    slug: &str,
) -> Result<(), StartupError> {
    use app::backend::billing::payments;
    let Some(entry) = state.registry().entry_by_slug(slug).await? else { return Ok(()) };
    let api_base = format!("http://{fake_addr}");
    let hook = format!("http://127.0.0.1:{public_port}/stripe/webhook/{slug}");
    let saved = payments::settings(state, entry.id).await?;
    let (key, secret) = match saved {
        Some(s) if !is_local_fake(&s.api_base) => {
            tracing::info!(
                storefront = slug,
                "demo storefront has its own Stripe keys; the Stripe fake leaves them alone"
            );
            return Ok(());
        }
        Some(s) if s.webhook_secret != format!("whsec_{slug}_dev") => {
            fake.register_account(&s.secret_key, Some(&hook), &s.webhook_secret);
            if s.api_base == api_base {
                return Ok(());
            }
            (s.secret_key, s.webhook_secret)
        }
        _ => {
            let (key, secret) = (format!("sk_test_{slug}_{}", random_hex()), format!("whsec_{}", random_hex()));
            fake.register_account(&key, Some(&hook), &secret);
            (key, secret)
        }
    };
    payments::save_settings(state, entry.id, &api_base, &key, &secret).await?;
    Ok(())
}

/// An API base on this machine over plain HTTP can only be a Stripe fake (Stripe itself is HTTPS).
fn is_local_fake(api_base: &str) -> bool {
    api_base
        .strip_prefix("http://")
        .and_then(|rest| rest.split(':').next())
        .is_some_and(|host| host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

/// The machine's host name (for the default server name), or `localhost` when it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-')).collect::<String>())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// A v4 UUID's 122 random bits, as hex.
fn random_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
