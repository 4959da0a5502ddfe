//! Resellers' storefronts: which database a request belongs to, and each storefront's life.
//!
//! | module             | owns |
//! |--------------------|------|
//! | `registry`         | the tenant registry: `Tenant`, Host resolution, the cached domain map, the LRU of tenant pools |
//! | `lifecycle`        | resumable creation, suspension, deletion; terms; custom domains |
//! | `domain_ownership` | custom-domain verification by DNS TXT or HTTP token |
//! | `branding`         | logos (sniffed, re-encoded) and custom CSS (sanitised) |

pub mod branding;
pub mod domain_ownership;
pub mod lifecycle;
pub mod registry;
