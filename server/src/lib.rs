//! The EZSCALE Workspaces server: configuration, startup, HTTP routes, CLI, and the Kasm simulator.
//!
//! | module      | holds |
//! |-------------|-------|
//! | `config`    | typed configuration from the environment / `.env` |
//! | `startup`   | `Application::build` (used by `main` and by the tests) and graceful shutdown |
//! | `routes`    | the routers: one per area (pages, downloads, webhooks, uploads, live events …), merged with the middleware; the operations router |
//! | `telemetry` | logging setup (pretty or JSON) |
//! | `cli`       | subcommands: `serve`, `kasm-sim`, `migrate`, `tenants …`, `admin create` |
//! | `tenancy`   | Host → site resolution middleware, and its minimal HTML pages |
//! | `tenants_cli` | `server tenants …` and `server admin create` |
//! | `billing_cli` | `server billing run --period YYYY-MM [--tenant SLUG]` with a progress bar |
//! | `bench`     | `server bench-reconcile` (used by `make bench`) |
//! | `bench_tenants` | `server bench-tenants`: creation time, latency to tenant #N vs #1, migrate-all |
//! | `bench_billing` | `server bench-billing`: the monthly billing run at volume |
//! | `bench_customers` | `server bench-customers`: the reseller's customers page over 10,000 customers vs 100 |
//! | `bench_live` | `server bench-live`: open event streams per server (memory) and change-to-event latency across servers |
//! | `kasm_sim`  | a faithful simulator of the Kasm Workspaces API |

pub mod bench;
pub mod bench_billing;
pub mod bench_customers;
pub mod bench_live;
pub mod bench_tenants;
pub mod billing_cli;
pub mod cli;
pub mod config;
pub mod kasm_sim;
pub mod routes;
pub mod startup;
pub mod stripe_fake;
pub mod telemetry;
pub mod tenancy;
pub mod tenants_cli;
