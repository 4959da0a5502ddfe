//! Resellers' storefronts as the platform manages them. Above identity and workspaces: creating a
//! storefront creates its owner's account and its catalog.
//!
//! | module      | owns |
//! |-------------|------|
//! | `lifecycle` | resumable creation, suspension, deletion, billing terms, per-tenant counts |

pub mod lifecycle;
