//! Command-line entry points.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use leptos::prelude::get_configuration;

use crate::config::Config;
use crate::kasm_sim::{SimConfig, Simulator};
use crate::startup::{shutdown_signal, Application};

#[derive(Parser, Debug)]
#[command(name = "server", about = "EZSCALE Workspaces")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the web app (the default).
    Serve,
    /// Run the Kasm API simulator on its own.
    KasmSim {
        #[arg(long, default_value_t = 4010)]
        port: u16,
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Milliseconds a session takes to go from starting to running.
        #[arg(long, default_value_t = 1500)]
        start_delay_ms: u64,
    },
    /// Create and migrate the databases (and seed the catalog), then exit.
    Migrate,
    /// Measure one reconcile pass over N running workspaces against the built-in simulator.
    #[command(hide = true)]
    BenchReconcile {
        #[arg(long, default_value_t = 10_000)]
        workspaces: usize,
    },
    /// Measure tenant creation, latency to tenant #N vs #1, and migrate-all time (SQLite).
    #[command(hide = true)]
    BenchTenants {
        #[arg(long, default_value_t = 10_000)]
        tenants: usize,
    },
    /// Measure the monthly billing run: N usage sessions over M tenants against a tenth of both (SQLite, or
    /// PostgreSQL on 127.0.0.1:5432 with `--postgres`).
    #[command(hide = true)]
    BenchBilling {
        #[arg(long, default_value_t = 1000)]
        tenants: usize,
        #[arg(long, default_value_t = 1_000_000)]
        sessions: usize,
        #[arg(long)]
        postgres: bool,
    },
    /// Measure the reseller's customers page over N customers against N/100 (SQLite).
    #[command(hide = true)]
    BenchCustomers {
        #[arg(long, default_value_t = 10_000)]
        customers: usize,
    },
    /// Measure live events across two server processes (PostgreSQL): memory per open stream, change-to-event
    /// latency.
    #[command(hide = true)]
    BenchLive {
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        #[arg(long, default_value_t = 20)]
        changes: usize,
    },
    /// Kasm operations.
    Kasm {
        #[command(subcommand)]
        command: KasmCommand,
    },
    /// Reseller tenants: create, list, migrate, suspend, resume, delete.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Platform admins.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// PostgreSQL servers for tenant databases: list, add, drain, activate.
    DbServers {
        #[command(subcommand)]
        command: DbServersCommand,
    },
    /// Billing: invoice a period (exactly once; safe to rerun).
    Billing {
        #[command(subcommand)]
        command: BillingCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum BillingCommand {
    /// Invoice every customer's usage in a period, for every tenant (or one): finalise, settle from credit,
    /// email. A rerun finishes what a crashed run left and otherwise says there is nothing to do.
    Run {
        /// The period, YYYY-MM (each tenant's period starting on its billing cycle day in that month).
        #[arg(long)]
        period: String,
        /// Only this tenant (slug).
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TenantsCommand {
    /// Create a tenant: database, migrations, plans, owner, branding, domain; resumable with `retry`.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        slug: String,
        #[arg(long)]
        owner_email: String,
        /// Development only: the owner's first password (or TENANT_OWNER_PASSWORD). Without it, and always
        /// in production, the owner is emailed a link to choose their own.
        #[arg(long, env = "TENANT_OWNER_PASSWORD", hide_env_values = true)]
        owner_password: Option<String>,
        #[arg(long, default_value = "")]
        domain: String,
        #[arg(long, default_value = "USD")]
        currency: String,
        #[arg(long, default_value = "")]
        trial_days: String,
    },
    /// Continue a creation that stopped at a failed step.
    Retry {
        slug: String,
    },
    List,
    /// Bring every tenant's database schema up to date, in parallel; failures are listed at the end.
    Migrate {
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    Suspend {
        slug: String,
    },
    Unsuspend {
        slug: String,
    },
    /// Move a tenant's database to another database server (a short write pause for that tenant only);
    /// run it again to resume a move cut short, or add --rollback to undo one that has not switched.
    Move {
        slug: String,
        /// The database server to move to (see `server db-servers list`).
        #[arg(long, default_value = "")]
        to: String,
        #[arg(long)]
        rollback: bool,
    },
    /// Delete a tenant and its database (irreversible).
    Delete {
        slug: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DbServersCommand {
    /// Every server with its tenants, weight and state.
    List,
    /// Add a server (its URL without a password: put that in ~/.pgpass).
    Add {
        name: String,
        #[arg(long)]
        url: String,
        /// A PgBouncer in transaction pooling mode in front of it: queries go through it, migrations and
        /// moves use --url.
        #[arg(long)]
        pooler: Option<String>,
        /// Tenants are placed by tenants per unit of weight: a server of weight 2 takes twice as many.
        #[arg(long, default_value_t = 1)]
        weight: i64,
    },
    /// Take no new tenants (existing ones stay until moved).
    Drain { name: String },
    /// Take new tenants again.
    Activate { name: String },
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create a platform admin (or reset an existing admin's password).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Platform Admin")]
        name: String,
        /// At least 12 characters (or set ADMIN_PASSWORD).
        #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KasmCommand {
    /// Run one reconcile pass against the configured Kasm now and print what it found.
    Reconcile,
}

pub async fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(Mode::Serve).await,
        Command::Migrate => serve(Mode::Migrate).await,
        Command::Kasm { command: KasmCommand::Reconcile } => serve(Mode::Reconcile).await,
        Command::BenchReconcile { workspaces } => crate::bench::reconcile(workspaces).await,
        Command::BenchTenants { tenants } => crate::bench_tenants::run(tenants).await,
        Command::BenchBilling { tenants, sessions, postgres } => {
            let backend =
                if postgres { crate::bench_billing::Backend::Postgres } else { crate::bench_billing::Backend::Sqlite };
            crate::bench_billing::run(tenants, sessions, backend).await
        }
        Command::BenchCustomers { customers } => crate::bench_customers::run(customers).await,
        Command::BenchLive { connections, changes } => crate::bench_live::run(connections, changes).await,
        Command::Tenants { command } => crate::tenants_cli::run(command).await,
        Command::Admin { command } => crate::tenants_cli::admin(command).await,
        Command::DbServers { command } => crate::tenants_cli::db_servers(command).await,
        Command::Billing { command: BillingCommand::Run { period, tenant } } => {
            crate::billing_cli::run(&period, tenant.as_deref()).await
        }
        Command::KasmSim { port, host, start_delay_ms } => {
            let sim = Simulator::new(SimConfig {
                start_delay: std::time::Duration::from_millis(start_delay_ms),
                ..SimConfig::default()
            });
            let (addr, task) = sim.spawn(SocketAddr::new(host, port)).await?;
            tracing::info!(%addr, api_key = "sim-key", "Kasm simulator ready");
            tokio::select! {
                _ = shutdown_signal() => {}
                _ = task => {}
            }
            Ok(())
        }
    }
}

enum Mode {
    Serve,
    Migrate,
    Reconcile,
}

async fn serve(mode: Mode) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::from_env()?;
    crate::telemetry::init(config.log_format);
    // Leptos.toml holds the defaults; LEPTOS_* variables (set by cargo-leptos, or in production) override.
    let mut leptos = get_configuration(Some("Leptos.toml"))?.leptos_options;
    if !matches!(mode, Mode::Serve) {
        // One-shot commands serve nothing: any free port, so they run beside a live server.
        leptos.site_addr = SocketAddr::from(([127, 0, 0, 1], 0));
        config.ops_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    }
    let environment = config.environment;
    let app = Application::build(config, leptos).await?;
    match mode {
        Mode::Serve => {}
        Mode::Migrate => {
            tracing::info!("databases are migrated");
            return Ok(());
        }
        Mode::Reconcile => {
            let report = app::backend::workspaces::reconciler::reconcile_once(app.state()).await?;
            tracing::info!(?report, "reconcile pass done");
            return Ok(());
        }
    }
    let addr = app.local_addr()?;
    let ops = app.ops_addr()?;
    tracing::info!(%addr, ?environment, "EZSCALE Workspaces listening on http://{addr}");
    tracing::info!(%ops, "operations endpoints (/metrics, /tls/ask) on http://{ops}");
    if let Some((_, sim)) = app.simulator() {
        tracing::info!(%sim, "no KASM_URL: using the built-in Kasm simulator");
    }
    app.run_until(shutdown_signal()).await?;
    Ok(())
}
