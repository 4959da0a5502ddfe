//! Resellers' storefronts as the platform manages them, and as their staff run them. Above identity,
//! workspaces and billing: creating a storefront creates its owner's account and its catalog, and caring
//! for a customer moves their credit, invoices and workspaces.
//!
//! | module      | owns |
//! |-------------|------|
//! | `lifecycle` | resumable creation, suspension, deletion, billing terms, per-tenant counts |
//! | `onboarding` | the reseller's onboarding checklist (from real state) and what their guide shows |
//! | `own_domains` | a reseller's own domains, self-service; the scheduled checks and the "live" email |
//! | `operations` | the platform admin's operations on storefronts, each recorded in the audit log |
//! | `overview`  | the admin's tenants list and tenant detail |
//! | `customer_care` | the staff's own customers: paged directory, one customer's file, credit, credit notes and refunds, voids, suspension, resends, each audited with its reason |

pub mod customer_care;
pub mod lifecycle;
pub mod onboarding;
pub mod operations;
pub mod overview;
pub mod own_domains;
