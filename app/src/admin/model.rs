//! What the admin pages receive: wire types. The tenant views are built by the backend (see
//! `domain::tenant_view`).

use serde::{Deserialize, Serialize};

pub use crate::domain::tenant_view::{DomainView, TenantDetail, TenantSummary};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminMe {
    pub name: String,
    pub email: String,
}
