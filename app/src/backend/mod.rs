//! Server-only code. This module is the single `cfg(feature = "ssr")` gate of the app crate: nothing in
//! it reaches the WASM bundle.
//!
//! | module       | holds |
//! |--------------|-------|
//! | `platform`   | plumbing: databases, clock, crypto, failpoints, events, alerts, Host parsing, limits, audit, jobs |
//! | `clients`    | the typed Kasm and Stripe HTTP clients |
//! | `tenancy`    | the tenant registry, custom domains and their verification, branding |
//! | `mail`       | branded mail templates, the deduplicated outbox and its SMTP delivery worker |
//! | `identity`   | customers, staff and admins; passwords, sessions, single-use tokens |
//! | `workspaces` | plans, workspace rows, provisioning against Kasm, the reconciler, Kasm servers |
//! | `billing`    | credit ledger, metering, invoices, the exactly-once billing run, payments, wholesale |
//! | `resellers`  | storefront lifecycle: resumable creation (database, owner, catalog), suspension, deletion, terms; the staff's care of their own customers |
//! | `state`      | `AppState`: the composition root, one handle per capability |
//! | `request`    | the only reader of the Leptos request context: tenant, signed-in customer, client address |
//! | `metrics`    | `/metrics`, rendered from central rows and in-memory counters |
//! | `seed`       | the house catalog and demo data |

pub mod billing;
pub mod clients;
pub mod identity;
pub mod mail;
pub mod metrics;
pub mod platform;
pub mod request;
pub mod resellers;
pub mod seed;
pub mod state;
pub mod tenancy;
pub mod workspaces;

use crate::error::AppError;

/// Everything that can go wrong inside the backend. Callers at the boundary turn it into an `AppError`.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database setup: {0}")]
    DbSetup(#[from] platform::db::DbError),
    #[error("kasm: {0}")]
    Kasm(#[from] clients::kasm::KasmError),
    #[error("crypto: {0}")]
    Crypto(#[from] platform::crypto::CryptoError),
    #[error("password hashing: {0}")]
    Hash(String),
    /// A stored value does not parse: a bug or a corrupted row, never user input.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error("mail: {0}")]
    Mail(#[from] mail::MailError),
    /// Work handed to a blocking thread (rendering a PDF) did not come back: it panicked.
    #[error("blocking task: {0}")]
    Blocking(String),
    /// A test-armed failure point (see `failpoints`).
    #[error("failpoint {0}")]
    Failpoint(String),
}

pub type Result<T, E = BackendError> = std::result::Result<T, E>;

/// What a customer or staff member is told when a change is refused because their storefront's database is
/// being moved to another server (a pause of a minute or so; reading goes on).
pub const PAUSED_FOR_MOVE: &str =
    "This storefront is moving to a new database server: changes are paused for a minute. Please try again shortly.";

impl From<BackendError> for AppError {
    fn from(e: BackendError) -> AppError {
        if let BackendError::Db(db) = &e {
            if platform::db::is_read_only(db) {
                tracing::info!("a change refused: the tenant's database is paused for a move");
                return AppError::Unavailable(PAUSED_FOR_MOVE.into());
            }
        }
        // The one place internal causes are logged; the browser only learns that something failed.
        tracing::error!(error = %e, "internal error");
        AppError::Internal
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> BackendError {
    BackendError::Corrupt(what.to_string())
}
