//! Server-only code. This module is the single `cfg(feature = "ssr")` gate of the app crate: nothing in
//! it reaches the WASM bundle.
//!
//! | module         | holds |
//! |----------------|-------|
//! | `accounts`     | platform admins and reseller staff, and their sessions |
//! | `audit`        | the audit log of admin and reseller actions |
//! | `alerts`       | operator alerts (Discord webhook), with outbound-URL safety |
//! | `mail`         | branded mail templates, the deduplicated outbox and its SMTP delivery worker |
//! | `db`           | `CentralDb` / `TenantDb` handles (SQLite or PostgreSQL), migrations |
//! | `events`       | workspace change notifications for open pages |
//! | `state`        | `AppState` shared by handlers, server functions and workers; tenants |
//! | `request`      | what a server function needs from its request: state, tenant, signed-in customer |
//! | `auth`         | password hashing and browser sessions |
//! | `catalog`      | plans and their prices |
//! | `billing`      | credit ledger, metering, invoices, the exactly-once billing run |
//! | `payments`     | each storefront's Stripe: top-up checkout, saved card, invoice charges, webhooks, dunning |
//! | `stripe`       | the typed Stripe HTTP client and webhook signature verification |
//! | `customers`    | customer accounts and their Kasm identity |
//! | `workspaces`   | workspace and usage-session rows |
//! | `workspace_views` | what the workspace pages show; customer actions |
//! | `provisioning` | the workspace state machine driven against Kasm |
//! | `jobs`         | the durable job queue and its worker |
//! | `reconciler`   | the periodic diff of Kasm's sessions against our workspaces |
//! | `kasm`         | the typed Kasm API client |
//! | `kasm_servers` | the Kasm servers (zones), one client and breaker each; workspace placement; image sync |
//! | `templates`    | the six plan templates (sizing, apps, icon, status, Kasm image/group/server) |
//! | `limits`       | sign-in attempt limits (before any hashing); failed sign-in and refusal counters per role |
//! | `notify`       | the branded emails customers receive, queued in the outbox |
//! | `metrics`      | counters and gauges for `/metrics` |
//! | `crypto`       | secrets at rest |
//! | `seed`         | the house catalog and demo data |
//! | `tenants`      | the tenant registry: Host resolution, cached domain map, LRU of tenant pools |
//! | `tenant_admin` | tenant lifecycle (resumable creation, suspension, deletion), terms, domains |
//! | `host`         | strict Host parsing, trusted proxies |
//! | `branding`     | logos (sniffed, re-encoded) and custom CSS (sanitised) |
//! | `domain_verify`| custom-domain verification by DNS TXT or HTTP token |
//! | `failpoints`   | named failure points for crash-and-resume tests |

pub mod accounts;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod branding;
pub mod catalog;
pub mod crypto;
pub mod customers;
pub mod db;
pub mod domain_verify;
pub mod events;
pub mod failpoints;
pub mod host;
pub mod jobs;
pub mod kasm;
pub mod kasm_servers;
pub mod limits;
pub mod mail;
pub mod metrics;
pub mod notify;
pub mod payments;
pub mod provisioning;
pub mod reconciler;
pub mod request;
pub mod seed;
pub mod state;
pub mod stripe;
pub mod templates;
pub mod tenant_admin;
pub mod tenants;
pub mod workspace_views;
pub mod workspaces;

use crate::error::AppError;

/// Everything that can go wrong inside the backend. Callers at the boundary turn it into an `AppError`.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database setup: {0}")]
    DbSetup(#[from] db::DbError),
    #[error("kasm: {0}")]
    Kasm(#[from] kasm::KasmError),
    #[error("crypto: {0}")]
    Crypto(#[from] crypto::CryptoError),
    #[error("password hashing: {0}")]
    Hash(String),
    /// A stored value does not parse: a bug or a corrupted row, never user input.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("mail: {0}")]
    Mail(#[from] mail::MailError),
    /// A test-armed failure point (see `failpoints`).
    #[error("failpoint {0}")]
    Failpoint(String),
}

pub type Result<T, E = BackendError> = std::result::Result<T, E>;

impl From<BackendError> for AppError {
    fn from(e: BackendError) -> AppError {
        // The one place internal causes are logged; the browser only learns that something failed.
        tracing::error!(error = %e, "internal error");
        AppError::Internal
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> BackendError {
    BackendError::Corrupt(what.to_string())
}
