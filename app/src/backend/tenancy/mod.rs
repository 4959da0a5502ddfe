//! Resellers' storefronts: which database a request belongs to, and each storefront's life.
//!
//! | module             | owns |
//! |--------------------|------|
//! | `registry`         | the tenant registry: `Tenant`, Host resolution, the cached domain map, the LRU of tenant pools |
//! | `domains`          | custom domains: adding, removing, verifying ownership, the TLS ask |
//! | `domain_ownership` | custom-domain verification by DNS TXT or HTTP token |
//! | `branding`         | logos (sniffed, re-encoded) and custom CSS (sanitised) |
//! | `db_servers`       | the PostgreSQL servers for tenant databases, and where a new tenant's goes |
//! | `moves`            | moving a tenant's database to another server, with a short write pause |

pub mod branding;
pub mod db_servers;
pub mod domain_ownership;
pub mod domains;
pub mod moves;
pub mod registry;

use crate::backend::BackendError;
use crate::error::AppError;

/// What can go wrong managing a storefront (its creation, state, terms and domains).
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    /// Input that cannot be accepted; the message says why (shown to the admin).
    #[error("{0}")]
    Invalid(String),
    /// Taken or in the wrong state; the message says why.
    #[error("{0}")]
    Conflict(String),
    #[error("no such tenant")]
    NotFound,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<sqlx::Error> for TenantError {
    fn from(e: sqlx::Error) -> Self {
        TenantError::Backend(e.into())
    }
}

impl From<crate::backend::platform::db::DbError> for TenantError {
    fn from(e: crate::backend::platform::db::DbError) -> Self {
        TenantError::Backend(e.into())
    }
}

impl From<TenantError> for AppError {
    fn from(e: TenantError) -> AppError {
        match e {
            TenantError::Invalid(m) => AppError::Invalid(m),
            TenantError::Conflict(m) => AppError::Conflict(m),
            TenantError::NotFound => AppError::NotFound,
            TenantError::Backend(b) => b.into(),
        }
    }
}
