//! `server tenants …` and `server admin create`: the operator's side of tenancy, on the same code paths
//! as the admin app.

use std::sync::Arc;

use app::backend::platform::audit::{self, ActorKind};
use app::backend::platform::db::TenantDb;
use app::backend::resellers::lifecycle::{self, NewTenantInput};
use app::backend::state::AppState;
use app::backend::tenancy::db_servers::{self, ServerState};
use app::backend::tenancy::moves;
use app::backend::tenancy::registry::TenantRecord;
use app::backend::{identity::accounts, tenancy::registry};
use app::domain::tenant::CreationStep;
use indicatif::{ProgressBar, ProgressStyle};
use leptos::prelude::get_configuration;
use tokio::sync::Semaphore;

use crate::cli::{AdminCommand, DbServersCommand, TenantsCommand};
use crate::config::{Config, Environment};
use crate::startup::Application;

type Res = Result<(), Box<dyn std::error::Error>>;

/// The application state without serving (databases open, registry loaded; nothing listens publicly).
pub(crate) async fn state() -> Result<(AppState, Config), Box<dyn std::error::Error>> {
    let mut config = Config::from_env()?;
    crate::telemetry::init(config.log_format);
    // Operator commands never seed demo data.
    config.demo_data = false;
    config.demo_reseller = false;
    let mut leptos = get_configuration(Some("Leptos.toml"))?.leptos_options;
    leptos.site_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    config.ops_addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let app = Application::build(config.clone(), leptos).await?;
    Ok((app.state().clone(), config))
}

#[allow(clippy::print_stdout)]
pub async fn run(command: TenantsCommand) -> Res {
    let (state, config) = state().await?;
    match command {
        TenantsCommand::Create { name, slug, owner_email, owner_password, domain, currency, trial_days } => {
            if owner_password.is_some() && config.environment == Environment::Production {
                return Err("--owner-password (TENANT_OWNER_PASSWORD) is for development only: in production the \
                            owner chooses their password from the welcome email"
                    .into());
            }
            let welcomed = owner_password.is_none();
            let input = NewTenantInput {
                name,
                slug,
                owner_email,
                owner_password,
                primary_domain: domain,
                currency,
                trial_days,
            };
            let new = lifecycle::validate(&input)?;
            let slug = new.slug.to_string();
            let started = std::time::Instant::now();
            lifecycle::create(&state, &config.database_url, new).await?;
            println!(
                "created {slug} in {} ms; storefront: http://{slug}.{}",
                started.elapsed().as_millis(),
                config.platform_domain
            );
            if welcomed {
                println!("the owner's welcome email, with a link to choose their password, is in the outbox");
            }
        }
        TenantsCommand::Retry { slug } => {
            lifecycle::resume(&state, &slug).await?;
            println!("{slug} is active");
        }
        TenantsCommand::List => {
            println!("{:<24} {:<12} {:<32} created", "slug", "status", "name");
            for t in registry::list_records(state.central()).await? {
                let created = app::domain::time::format_utc(app::domain::time::Timestamp::from_millis(t.created_at));
                println!("{:<24} {:<12} {:<32} {created}", t.slug, t.status.as_str(), t.name);
            }
        }
        TenantsCommand::Migrate { concurrency } => {
            let failed = migrate_all(&state, concurrency.max(1)).await?;
            if !failed.is_empty() {
                println!("{} tenant(s) failed to migrate:", failed.len());
                for (slug, e) in &failed {
                    println!("  {slug}: {e}");
                }
                return Err(format!("{} tenant(s) failed to migrate", failed.len()).into());
            }
        }
        TenantsCommand::Suspend { slug } => {
            lifecycle::suspend(&state, &slug).await?;
            println!("{slug} suspended");
        }
        TenantsCommand::Unsuspend { slug } => {
            lifecycle::unsuspend(&state, &slug).await?;
            println!("{slug} active");
        }
        TenantsCommand::Move { slug, rollback: true, .. } => {
            let m = moves::roll_back(&state, &slug).await?;
            println!("{slug}: the move to {} is rolled back; it stays on {}", m.to_server, m.from_server);
        }
        TenantsCommand::Move { slug, to, rollback: false } => {
            if to.is_empty() {
                return Err("name the database server to move to: --to <server> (see `server db-servers list`)".into());
            }
            let report = moves::run(&state, &config.database_url, &slug, &to, |step| {
                println!("{slug}: {}", step.as_str());
            })
            .await?;
            println!(
                "{slug} moved {} → {}: {} tables, {} rows, verified; changes were paused for {} ms",
                report.moved.from_server,
                report.moved.to_server,
                report.moved.counts.len(),
                report.moved.counts.iter().map(|(_, n)| n).sum::<i64>(),
                report.paused_for.as_millis()
            );
        }
        TenantsCommand::Delete { slug, yes } => {
            if !yes {
                return Err("deleting a tenant drops its database: add --yes to confirm".into());
            }
            lifecycle::delete(&state, &slug).await?;
            println!("{slug} deleted");
        }
    }
    Ok(())
}

/// Migrates every tenant with a database, at most `concurrency` at a time, past failures. Returns the
/// failures (slug, reason).
pub async fn migrate_all(
    state: &AppState,
    concurrency: usize,
) -> Result<Vec<(String, String)>, Box<dyn std::error::Error>> {
    let records: Vec<_> = registry::list_records(state.central())
        .await?
        .into_iter()
        .filter(|t| t.creation_step != CreationStep::Validated)
        .collect();
    Ok(migrate_records(records, concurrency, true).await)
}

/// Migrates these tenants' databases (bounded parallelism), with a progress bar when `progress`.
pub async fn migrate_records(records: Vec<TenantRecord>, concurrency: usize, progress: bool) -> Vec<(String, String)> {
    let bar = if progress { ProgressBar::new(records.len() as u64) } else { ProgressBar::hidden() };
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} tenants migrated ({elapsed}) {msg}") {
        bar.set_style(style);
    }
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for t in records {
        let permits = permits.clone();
        let bar = bar.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = async {
                let db = TenantDb::create_and_migrate(&t.db_url).await?;
                db.close().await;
                Ok::<_, app::backend::platform::db::DbError>(())
            }
            .await;
            bar.inc(1);
            result.map_err(|e| (t.slug.clone(), e.to_string()))
        });
    }
    let mut failed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(f)) => failed.push(f),
            Err(e) => failed.push(("?".into(), e.to_string())),
        }
    }
    bar.finish_with_message(if failed.is_empty() { "done" } else { "with failures" });
    failed.sort();
    failed
}

#[allow(clippy::print_stdout)]
pub async fn db_servers(command: DbServersCommand) -> Res {
    let (state, config) = state().await?;
    let central = state.central();
    match command {
        DbServersCommand::List => {
            println!("{:<16} {:<10} {:>6} {:>8}  url (pooler)", "name", "state", "weight", "tenants");
            for s in db_servers::list(central, &config.database_url).await? {
                let pooler = s.pooler_url.as_deref().map(|p| format!(" ({p})")).unwrap_or_default();
                println!("{:<16} {:<10} {:>6} {:>8}  {}{pooler}", s.name, s.state.as_str(), s.weight, s.tenants, s.url);
            }
        }
        DbServersCommand::Add { name, url, pooler, weight } => {
            let s = db_servers::add(central, &name, &url, pooler.as_deref(), weight).await?;
            let detail = db_servers::describe(&s);
            audit::record(central, None, ActorKind::System, "operator", None, "db_server.added", &detail).await?;
            println!("added {detail}");
        }
        DbServersCommand::Drain { name } => {
            db_servers::set_state(central, &name, ServerState::Draining).await?;
            audit::record(central, None, ActorKind::System, "operator", None, "db_server.drained", &name).await?;
            println!("{name} takes no new tenants");
        }
        DbServersCommand::Activate { name } => {
            db_servers::set_state(central, &name, ServerState::Active).await?;
            audit::record(central, None, ActorKind::System, "operator", None, "db_server.activated", &name).await?;
            println!("{name} takes new tenants");
        }
    }
    Ok(())
}

#[allow(clippy::print_stdout)]
pub async fn admin(command: AdminCommand) -> Res {
    let (state, _) = state().await?;
    match command {
        AdminCommand::Create { email, name, password } => {
            if password.chars().count() < 12 {
                return Err("an admin password needs at least 12 characters".into());
            }
            let email = lifecycle::parse_email(&email)?;
            let created = accounts::upsert_admin(state.central(), &email, &name, &password).await?;
            println!("{} admin {email}", if created { "created" } else { "updated the password of" });
        }
    }
    Ok(())
}
