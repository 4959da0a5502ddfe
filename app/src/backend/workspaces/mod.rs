//! Workspaces: what can be ordered, the rows, and the state machine that drives them in Kasm.
//!
//! | module           | owns |
//! |------------------|------|
//! | `catalog`        | plans and their retail prices; the storefront's listing |
//! | `price_book`     | the platform's effective-dated wholesale prices (base, tier, storefront), read at each session start; the admin's scheduling |
//! | `plan_templates` | the six plan templates (sizing, apps, icon, status, Kasm image/group/server) |
//! | `store`          | workspace and usage-session rows |
//! | `views`          | what the workspace pages show; customer actions |
//! | `provisioning`   | the workspace state machine driven against Kasm |
//! | `reconciler`     | the periodic diff of Kasm's sessions against our workspaces |
//! | `dead_letters`   | workspace jobs that gave up, as the admin lists and requeues them |
//! | `kasm_servers`   | the Kasm servers (zones), one client and breaker each; placement; image sync; the admin's overview |
//! | `notify`         | the "workspace ready" email |
//! | `operations`     | the platform admin's operations on servers, images, templates, pins and dead letters, each audited |

pub mod catalog;
pub mod dead_letters;
pub mod kasm_servers;
pub mod notify;
pub mod operations;
pub mod plan_templates;
pub mod price_book;
pub mod provisioning;
pub mod reconciler;
pub mod store;
pub mod views;
