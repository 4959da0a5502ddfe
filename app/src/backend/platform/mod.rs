//! Plumbing every capability stands on. Nothing here names a capability (tenancy, identity, mail,
//! workspaces, billing).
//!
//! | module       | owns |
//! |--------------|------|
//! | `db`         | `CentralDb` / `TenantDb` handles (SQLite or PostgreSQL), migrations, the clock |
//! | `crypto`     | secrets at rest (sealed with the platform key); keyed hashes |
//! | `failpoints` | named failure points for crash-and-resume tests |
//! | `events`     | live events for open pages: in-process (SQLite), LISTEN/NOTIFY across servers (PostgreSQL) |
//! | `alerts`     | operator alerts (Discord webhook), with outbound-URL safety |
//! | `host`       | strict Host parsing, trusted proxies |
//! | `limits`     | sign-in attempt limits (before any hashing), counted in the central database; failed sign-in and refusal counters per role |
//! | `audit`      | the audit log of admin, staff, customer and system actions |
//! | `jobs`       | the durable job queue (short leases renewed while a job runs), its dead letters and its worker |
//! | `leases`     | work done under a short lease in the database, renewed while it runs |
//! | `loops`      | periodic loops run once per interval across the cluster, under a renewed lease |
//! | `site_files` | the built site's files under an id naming their content, for year-long browser caching |

pub mod alerts;
pub mod audit;
pub mod crypto;
pub mod db;
pub mod events;
pub mod failpoints;
pub mod host;
pub mod jobs;
pub mod leases;
pub mod limits;
pub mod loops;
pub mod site_files;
