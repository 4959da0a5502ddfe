//! Shared application state. Cheap to clone; handed to every request and worker.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::alerts::Alerter;
use super::crypto::Crypto;
use super::db::{CentralDb, TenantDb};
use super::events::{Events, WorkspaceChanged};
use super::kasm::KasmClient;
use super::limits::Limiter;
use super::metrics::Metrics;
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;

/// A storefront and its database.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub currency: Currency,
    pub db: TenantDb,
}

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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            secure_cookies: false,
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            start_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_millis(500),
            reconcile_interval: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    central: CentralDb,
    house: Tenant,
    kasm: KasmClient,
    crypto: Crypto,
    settings: Settings,
    /// Wakes the job worker when work is enqueued, so a new order does not wait for the next poll.
    jobs_ready: Notify,
    events: Events,
    metrics: Metrics,
    alerts: Alerter,
    login_limits: Limiter,
    /// Flips to true when the server starts shutting down, so long-lived streams end.
    shutdown: watch::Sender<bool>,
}

impl AppState {
    pub fn new(
        central: CentralDb,
        house: Tenant,
        kasm: KasmClient,
        crypto: Crypto,
        settings: Settings,
        alerts: Alerter,
    ) -> Self {
        AppState(Arc::new(Inner {
            central,
            house,
            kasm,
            crypto,
            settings,
            jobs_ready: Notify::new(),
            events: Events::default(),
            metrics: Metrics::default(),
            alerts,
            login_limits: Limiter::default(),
            shutdown: watch::channel(false).0,
        }))
    }

    pub fn central(&self) -> &CentralDb {
        &self.0.central
    }

    /// The tenant serving a request. Until Host-based resolution lands (multi-tenancy), every request is
    /// served by the house storefront; callers already go through this one function.
    pub fn tenant_for_host(&self, _host: Option<&str>) -> &Tenant {
        &self.0.house
    }

    /// Looks a tenant up by id (jobs carry the tenant they belong to).
    pub fn tenant_by_id(&self, id: TenantId) -> Option<&Tenant> {
        (self.0.house.id == id).then_some(&self.0.house)
    }

    pub fn house(&self) -> &Tenant {
        &self.0.house
    }

    pub fn kasm(&self) -> &KasmClient {
        &self.0.kasm
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

    pub async fn jobs_ready(&self) {
        self.0.jobs_ready.notified().await;
    }

    pub fn events(&self) -> &Events {
        &self.0.events
    }

    pub fn login_limits(&self) -> &Limiter {
        &self.0.login_limits
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
