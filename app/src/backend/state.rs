//! Shared application state. Cheap to clone; handed to every request and worker.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use crate::backend::clients::kasm::KasmClient;
use crate::backend::metrics::Metrics;
use crate::backend::platform::alerts::Alerter;
use crate::backend::platform::crypto::Crypto;
use crate::backend::platform::db::CentralDb;
use crate::backend::platform::events::{Events, WorkspaceChanged};
use crate::backend::platform::failpoints::Failpoints;
use crate::backend::platform::limits::Limiter;
use crate::backend::platform::loops::Loops;
use crate::backend::tenancy::domain_ownership::Verifier;
use crate::backend::tenancy::registry::Registry;
use crate::backend::workspaces::kasm_servers::KasmServers;
use crate::domain::ids::TenantId;

// A storefront and its database. Defined by the tenancy registry that opens it (so the registry needs
// nothing from here); named here too because every service takes it beside `AppState`.
pub use crate::backend::tenancy::registry::Tenant;

/// Knobs the backend needs at run time (parsed from configuration by the server crate).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Mark cookies `Secure` (on behind HTTPS; off for plain-HTTP local development).
    pub secure_cookies: bool,
    pub session_ttl: Duration,
    /// How long Kasm may take to bring a session up before the workspace is marked failed.
    pub start_timeout: Duration,
    /// How often a starting workspace is checked.
    pub poll_interval: Duration,
    /// How often the reconciler compares Kasm's sessions with our workspaces.
    pub reconcile_interval: Duration,
    /// The central database's URL: new tenants' databases are placed next to it.
    pub central_url: String,
    /// The port in public storefront links built outside a request (emails from jobs); `None` = the
    /// scheme's default.
    pub public_port: Option<u16>,
    /// Proxies whose forwarded Host and client address headers are believed.
    pub trusted_proxies: crate::backend::platform::host::TrustedProxies,
    /// Whole-request timeout for Kasm servers added by an admin (the configured one has its own).
    pub kasm_timeout: Duration,
    /// How often usage is charged to prepaid credit.
    pub meter_interval: Duration,
    /// How often the billing scheduler looks for finished periods to bill.
    pub billing_interval: Duration,
    /// How often unverified custom domains due a scheduled check are looked at.
    pub domain_check_interval: Duration,
    /// End-to-end tests may move the clock forward (`POST /__test/clock/advance`).
    pub test_clock: bool,
    /// Development without an SMTP server: mail never leaves this machine, and `/admin/mail` is the
    /// developer's inbox, so it shows the one-time links of messages not sent. Never in production.
    pub mail_drop: bool,
    /// The platform's own Stripe account, which collects wholesale invoices from resellers (`None`: not
    /// set up; resellers then pay by other means and nothing is charged).
    pub platform_stripe: Option<PlatformStripe>,
    /// Attempt limits for sign-in and the other account actions (per account and per client address).
    pub attempt_policy: crate::backend::platform::limits::Policy,
    /// This server's name among the app servers (in the loops' and jobs' leases, and in `/metrics`).
    pub server_name: String,
}

/// The platform's own Stripe account (`PLATFORM_STRIPE_*`; the local fake in development and tests).
/// `Debug` never shows the keys.
#[derive(Clone)]
pub struct PlatformStripe {
    pub api_base: String,
    pub secret_key: String,
    pub webhook_secret: String,
}

impl std::fmt::Debug for PlatformStripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformStripe").field("api_base", &self.api_base).finish_non_exhaustive()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            secure_cookies: false,
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            start_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_millis(500),
            reconcile_interval: Duration::from_secs(60),
            central_url: String::new(),
            public_port: None,
            trusted_proxies: crate::backend::platform::host::TrustedProxies::none(),
            kasm_timeout: Duration::from_secs(15),
            meter_interval: Duration::from_secs(60),
            billing_interval: Duration::from_secs(3600),
            domain_check_interval: Duration::from_secs(60),
            test_clock: false,
            mail_drop: false,
            platform_stripe: None,
            attempt_policy: crate::backend::platform::limits::Policy::default(),
            server_name: "app".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    central: CentralDb,
    registry: Registry,
    kasm: KasmServers,
    crypto: Crypto,
    settings: Settings,
    /// Wakes the job worker when work is enqueued, so a new order does not wait for the next poll.
    jobs_ready: std::sync::Arc<Notify>,
    /// Wakes the mail worker when a message is queued.
    mail_ready: std::sync::Arc<Notify>,
    events: Events,
    metrics: Metrics,
    alerts: Alerter,
    verifier: Verifier,
    mailer: std::sync::Arc<crate::backend::mail::Mailer>,
    login_limits: Limiter,
    loops: Loops,
    failpoints: Failpoints,
    /// The wholesale price book as storefront pages show it, per tenant.
    price_books: crate::backend::workspaces::price_book::DisplayBooks,
    /// Flips to true when the server starts shutting down, so long-lived streams end.
    shutdown: watch::Sender<bool>,
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        central: CentralDb,
        registry: Registry,
        kasm: KasmClient,
        crypto: Crypto,
        settings: Settings,
        alerts: Alerter,
        verifier: Verifier,
        mailer: crate::backend::mail::Mailer,
    ) -> Self {
        // The mailer opens the one-time tokens sealed in the outbox with the same data key.
        let mailer = mailer.with_secrets(crypto.clone());
        // Several servers share a PostgreSQL central database: live events travel through it (SQLite is one
        // server, so they stay in the process). Attempt limits are counted in it either way.
        let events = match central.engine() {
            crate::backend::platform::db::Engine::Postgres => Events::through_postgres(central.pool().clone()),
            crate::backend::platform::db::Engine::Sqlite => Events::default(),
        };
        let login_limits = Limiter::with_policy(central.clone(), crypto.clone(), settings.attempt_policy);
        let loops = Loops::new(settings.server_name.clone());
        AppState(Arc::new(Inner {
            central,
            registry,
            kasm: KasmServers::new(kasm, settings.kasm_timeout),
            crypto,
            settings,
            jobs_ready: std::sync::Arc::new(Notify::new()),
            mail_ready: std::sync::Arc::new(Notify::new()),
            events,
            metrics: Metrics::default(),
            alerts,
            verifier,
            mailer: std::sync::Arc::new(mailer),
            login_limits,
            loops,
            failpoints: Failpoints::default(),
            price_books: Default::default(),
            shutdown: watch::channel(false).0,
        }))
    }

    pub fn central(&self) -> &CentralDb {
        &self.0.central
    }

    /// Tenants, their hosts and their database pools.
    pub fn registry(&self) -> &Registry {
        &self.0.registry
    }

    /// The wholesale price book as storefront pages show it (kept per tenant while the registry's version
    /// stands).
    pub fn price_books(&self) -> &crate::backend::workspaces::price_book::DisplayBooks {
        &self.0.price_books
    }

    /// A tenant with its database, by id (jobs carry the tenant they belong to). `None` when it does not
    /// exist or has no usable database (being created, failed, being deleted).
    pub async fn tenant_by_id(&self, id: TenantId) -> crate::backend::Result<Option<Tenant>> {
        self.0.registry.tenant(id).await
    }

    /// EZSCALE's own storefront.
    pub async fn house(&self) -> crate::backend::Result<Tenant> {
        self.0.registry.house().await
    }

    /// The configured (`default`) Kasm server's client.
    pub fn kasm(&self) -> &KasmClient {
        self.0.kasm.default_client()
    }

    /// Every Kasm server's client, by id.
    pub fn kasm_servers(&self) -> &KasmServers {
        &self.0.kasm
    }

    /// The client for the Kasm server a workspace runs on.
    pub async fn kasm_for(&self, server: &str) -> crate::backend::Result<KasmClient> {
        self.0.kasm.client(&self.0.central, &self.0.crypto, server).await
    }

    pub fn crypto(&self) -> &Crypto {
        &self.0.crypto
    }

    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    pub fn notify_jobs(&self) {
        self.0.jobs_ready.notify_one();
    }

    pub fn notify_mail(&self) {
        self.0.mail_ready.notify_one();
    }

    /// The mail worker's wake-up signal.
    pub fn mail_ready(&self) -> std::sync::Arc<Notify> {
        self.0.mail_ready.clone()
    }

    /// The job worker's wake-up signal.
    pub fn jobs_ready(&self) -> std::sync::Arc<Notify> {
        self.0.jobs_ready.clone()
    }

    pub fn events(&self) -> &Events {
        &self.0.events
    }

    pub fn login_limits(&self) -> &Limiter {
        &self.0.login_limits
    }

    /// This server's periodic loops (each run once per interval across the cluster).
    pub fn loops(&self) -> &Loops {
        &self.0.loops
    }

    /// Builds and sends email (or leaves it in the outbox when no SMTP server is configured).
    pub fn mailer(&self) -> &std::sync::Arc<crate::backend::mail::Mailer> {
        &self.0.mailer
    }

    /// Checks custom domains' verification tokens (DNS TXT, HTTP).
    pub fn verifier(&self) -> &Verifier {
        &self.0.verifier
    }

    pub fn failpoints(&self) -> &Failpoints {
        &self.0.failpoints
    }

    pub fn alerts(&self) -> &Alerter {
        &self.0.alerts
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    pub fn publish(&self, ev: WorkspaceChanged) {
        self.0.events.publish(ev);
    }

    pub fn begin_shutdown(&self) {
        self.0.shutdown.send_replace(true);
    }

    /// Resolves once shutdown has begun.
    pub fn shutting_down(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.0.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|down| *down).await;
        }
    }
}
