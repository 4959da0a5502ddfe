//! `server bench-billing`: the monthly billing run at volume (run by `make bench` on the release binary).
//!
//! Two runs of `billing::run::run_tenant` over the last finished period (cycle day 1), one database per
//! tenant: a SQLite file each, or (`--postgres`) a database each on the PostgreSQL server at 127.0.0.1:5432,
//! dropped afterwards:
//!
//! - "large": `sessions` usage sessions spread over `tenants` tenants;
//! - "small": a tenth of the sessions over a tenth of the tenants, so that every tenant has the same shape
//!   (customers, workspaces, sessions per workspace) in both runs. Everything then scales by ten — sessions,
//!   customers, invoices, pools opened, emails queued — and a ratio of ≈10 between the two run times means
//!   the run is linear in volume. (Keeping the tenant count would leave the per-tenant fixed costs the same
//!   in both runs and push the ratio below ten even for a perfectly linear run.)
//!
//! Tenants are billed as `billing run` and the scheduler bill them, `run::concurrency()` at a time (two per
//! core, at least four), each tenant's database opened for its run alone (one connection) and closed
//! after it, inside the timing. Only the billing is timed: tenant creation
//! (one full creation, the rest copied from its database: a file copy, or `CREATE DATABASE … TEMPLATE`) and
//! seeding (bulk inserts, one transaction per tenant, several tenants at once) are not. After the runs, the
//! billed segments of the period are counted in every tenant database and must equal the sessions that ran
//! in the period.
//!
//! On PostgreSQL at most `PG_POOL_CAP` tenant pools stay open (`TENANT_POOL_CAP`), as a deployment sizes it
//! to its server's connection limit: a thousand tenants' pools would need more connections than a default
//! server allows.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use app::backend::billing::run::{concurrency, run_tenant, RunReport};
use app::backend::platform::db::{now, tenant_db_url, values_sql, Engine};
use app::backend::resellers::lifecycle::{self, NewTenantInput};
use app::backend::tenancy::registry;
use app::domain::billing::{billable_seconds, session_cost};
use app::domain::branding::Theme;
use app::domain::ids::TenantId;
use app::domain::money::{Currency, Rate};
use app::domain::period::Period;
use futures::{StreamExt, TryStreamExt};
use leptos::prelude::LeptosOptions;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{AnyConnection, Connection};

use crate::config::Config;
use crate::startup::Application;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Customers per tenant, and workspaces per customer.
const CUSTOMERS: usize = 4;
const WORKSPACES: usize = 5;
/// One workspace in this many has its last session of the period run on into the next one.
const CROSSING_ONE_IN: u32 = 4;
/// Rows per multi-row INSERT (9 columns: well under SQLite's 32,766 parameters).
const ROWS_PER_INSERT: usize = 500;
/// Tenants seeded at once.
const SEED_CONCURRENCY: usize = 4;
const RETAIL: &str = "0.30";
const WHOLESALE: &str = "0.20";
const MIN_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
/// The PostgreSQL server of the bench (trust authentication, as `scripts/ensure-postgres.sh` sets up).
const PG_SERVER: &str = "postgres://postgres@127.0.0.1:5432";
/// Tenant pools kept open on PostgreSQL: 4 connections each stay under a default server's 100.
const PG_POOL_CAP: &str = "16";

/// Where the bench's databases live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// One bench tenant: its id, its database's URL, and the sessions seeded into it.
struct BenchTenant {
    id: TenantId,
    url: String,
    sessions: usize,
}

/// What a timed run measured.
struct Measured {
    tenants: usize,
    sessions: usize,
    elapsed: Duration,
    report: RunReport,
}

pub async fn run(tenants: usize, sessions: usize, backend: Backend) -> Result<(), Box<dyn std::error::Error>> {
    bench(tenants, sessions, backend).await.map_err(|e| -> Box<dyn std::error::Error> { e })
}

async fn bench(tenants: usize, sessions: usize, backend: Backend) -> Res<()> {
    let tenants = tenants.max(10);
    let sessions = sessions.max(tenants);
    let (small_tenants, small_sessions) = (tenants / 10, sessions / 10);
    let scratch = format!("ezs_bench_billing_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let dir = std::env::temp_dir().join(&scratch);
    let central_url = match backend {
        Backend::Sqlite => format!("sqlite://{}/central.db", dir.display()),
        Backend::Postgres => format!("{PG_SERVER}/{scratch}"),
    };
    let result = bench_in(&dir, &central_url, backend, (tenants, sessions), (small_tenants, small_sessions)).await;
    // Whatever happened: the scratch databases and directory go.
    if backend == Backend::Postgres {
        drop_databases(&scratch).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[allow(clippy::print_stdout)]
async fn bench_in(
    dir: &std::path::Path,
    central_url: &str,
    backend: Backend,
    large: (usize, usize),
    small: (usize, usize),
) -> Res<()> {
    std::fs::create_dir_all(dir)?;
    let mut env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", central_url.to_owned()),
        ("DATA_DIR", dir.display().to_string()),
        ("APP_ENV", "development".to_owned()),
        ("OPS_ADDR", "127.0.0.1:0".to_owned()),
        ("DEMO_DATA", "false".to_owned()),
        ("DEMO_RESELLER", "false".to_owned()),
        ("RECONCILE_INTERVAL_MS", "3600000".to_owned()),
    ]);
    if backend == Backend::Postgres {
        env.insert("TENANT_POOL_CAP", PG_POOL_CAP.to_owned());
    }
    let config = Config::from_lookup(|k| env.get(k).cloned()).map_err(|e| e.to_string())?;
    let leptos = LeptosOptions::builder()
        .output_name("ezscale")
        .site_root("target/site")
        .site_pkg_dir("pkg")
        .site_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .build();
    // Built but not served: no scheduler, meter or mail worker runs beside the bench.
    let app = Application::build(config, leptos).await.map_err(|e| e.to_string())?;
    let state = app.state().clone();
    let period = Period::containing(now(), 1)?.previous();

    // Tenants: one full creation (plans, owner, branding), the rest copied from its database.
    let input = NewTenantInput {
        name: "Billing template".into(),
        slug: "bb-template".into(),
        owner_email: "owner@bb-template.test".into(),
        owner_password: Some("bench-owner-password".into()),
        ..NewTenantInput::default()
    };
    let setup_started = Instant::now();
    let template_id = lifecycle::create(&state, central_url, lifecycle::validate(&input)?).await?;
    let template = registry::record_by_slug(state.central(), "bb-template").await?.ok_or("no template tenant")?;
    state.registry().forget_pool(template_id).await;
    let plan_codes: Vec<String> = {
        let mut conn = open(&template.db_url).await?;
        let codes = sqlx::query_scalar("SELECT code FROM plans ORDER BY sort_order").fetch_all(&mut conn).await?;
        conn.close().await?;
        codes
    };
    let template = Template::ready(&template.db_url).await?;
    if plan_codes.is_empty() {
        return Err("the template tenant has no plans".into());
    }
    let owner_hash: String =
        sqlx::query_scalar("SELECT password_hash FROM staff LIMIT 1").fetch_one(state.central().pool()).await?;
    let large_set = make_tenants(&state, central_url, &template, &owner_hash, "bb", large).await?;
    let small_set = make_tenants(&state, central_url, &template, &owner_hash, "bs", small).await?;
    let created = setup_started.elapsed();

    let seed_started = Instant::now();
    let all: Vec<(usize, &BenchTenant)> = large_set.iter().chain(small_set.iter()).enumerate().collect();
    futures::stream::iter(all)
        .map(|(n, t)| {
            let (url, count, plans) = (t.url.clone(), t.sessions, plan_codes.clone());
            async move { tokio::spawn(seed_tenant(url, count, plans, period, n as u64)).await? }
        })
        .buffer_unordered(SEED_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    let seeded = seed_started.elapsed();

    // The timed runs: the small one first, then the large one.
    let small_run = bill_all(&state, &small_set, period).await?;
    let large_run = bill_all(&state, &large_set, period).await?;

    // The runs must really have billed every session of the period, once.
    let (small_in, small_billed) = count_billed(&small_set, period).await?;
    let (large_in, large_billed) = count_billed(&large_set, period).await?;

    // Integer arithmetic, as everywhere near money: sessions per second from microseconds.
    let per_sec = |m: &Measured| (m.sessions as u128 * 1_000_000) / m.elapsed.as_micros().max(1);
    let ms = |d: Duration| d.as_millis();
    let line = |label: &str, m: &Measured, in_period: i64, billed: i64| {
        format!(
            "{label:<36}{:>8} ms, {:>9} sessions/s ({} tenants, {} invoices, {} segments billed / {} sessions in period)\n",
            ms(m.elapsed),
            per_sec(m),
            m.tenants,
            m.report.created,
            billed,
            in_period,
        )
    };
    // The ratio in hundredths, printed as a decimal.
    let hundredths = large_run.elapsed.as_micros() * 100 / small_run.elapsed.as_micros().max(1);
    let ratio = format!("{}.{:02}", hundredths / 100, hundredths % 100);
    let report = format!(
        "== monthly billing run, period {} ({}, one database per tenant, {} tenants at a time) ==\n\
         setup: {} tenants in {} ms; seeded {} sessions in {} ms (not timed)\n\
         {}{}\
         ratio {} / {} sessions run time      {:>8} (10 = linear; {}x the sessions, tenants and customers)\n",
        period.key(),
        backend.name(),
        concurrency(),
        large_set.len() + small_set.len() + 1,
        ms(created),
        large_run.sessions + small_run.sessions,
        ms(seeded),
        line(&format!("bill {} sessions", small_run.sessions), &small_run, small_in, small_billed),
        line(&format!("bill {} sessions", large_run.sessions), &large_run, large_in, large_billed),
        large_run.sessions,
        small_run.sessions,
        ratio,
        large_run.sessions / small_run.sessions.max(1),
    );
    print!("{report}");

    let mut problems = Vec::new();
    for (m, in_period, billed) in [(&small_run, small_in, small_billed), (&large_run, large_in, large_billed)] {
        let seeded = i64::try_from(m.sessions)?;
        let reported = i64::try_from(m.report.segments)?;
        if billed == 0 || billed != in_period || billed != seeded || reported != billed {
            problems.push(format!(
                "{} sessions seeded, {in_period} in the period, {billed} segments billed, {reported} reported",
                m.sessions
            ));
        }
    }
    state.registry().close_all().await;
    state.central().close().await;
    drop(app);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("billing did not bill every session once: {}", problems.join("; ")).into())
    }
}

/// Bills `period` for every tenant of `set`, as many at once as `billing run` and the scheduler do
/// (`run::concurrency`), timed.
async fn bill_all(state: &app::backend::state::AppState, set: &[BenchTenant], period: Period) -> Res<Measured> {
    let started = Instant::now();
    let reports: Vec<RunReport> = futures::stream::iter(set)
        .map(|t| async move {
            // As `run_all` takes each tenant: its database opened for the run alone and closed after it.
            let (tenant, own) = state.registry().tenant_for_batch(t.id).await?.ok_or("bench tenant unavailable")?;
            let day = app::backend::billing::cycle_day(state, tenant.id).await?;
            let p = Period::parse(&period.key(), day)?;
            let report = run_tenant(state, &tenant, p, |_, _| {}).await;
            if own {
                tenant.db.close().await;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(report?)
        })
        .buffered(concurrency())
        .try_collect()
        .await?;
    let elapsed = started.elapsed();
    let mut total = RunReport::default();
    for r in reports {
        total.customers += r.customers;
        total.created += r.created;
        total.finalised += r.finalised;
        total.emailed += r.emailed;
        total.segments += r.segments;
        total.total_minor += r.total_minor;
    }
    Ok(Measured { tenants: set.len(), sessions: set.iter().map(|t| t.sessions).sum(), elapsed, report: total })
}

/// Over the tenants of `set`: (sessions that ran in the period, segments billed for it).
async fn count_billed(set: &[BenchTenant], period: Period) -> Res<(i64, i64)> {
    let (mut in_period, mut billed) = (0, 0);
    for t in set {
        let mut conn = open(&t.url).await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM usage_sessions WHERE started_at < $1 AND (ended_at IS NULL OR ended_at > $2)",
        )
        .bind(period.end().as_millis())
        .bind(period.start().as_millis())
        .fetch_one(&mut conn)
        .await?;
        let b: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM billed_segments WHERE period = $1")
            .bind(period.key())
            .fetch_one(&mut conn)
            .await?;
        conn.close().await?;
        in_period += n;
        billed += b;
    }
    Ok((in_period, billed))
}

/// The template tenant's database, ready to be copied.
enum Template {
    /// A SQLite file, everything checkpointed into it (a plain file copy then has it all).
    File(String),
    /// A PostgreSQL database that nobody is connected to (`CREATE DATABASE … TEMPLATE` requires it).
    Database(String),
}

impl Template {
    async fn ready(url: &str) -> Res<Template> {
        match Engine::of_url(url)? {
            Engine::Sqlite => {
                let path = sqlite_path(url);
                let mut conn = open(url).await?;
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
                conn.close().await?;
                Ok(Template::File(path))
            }
            Engine::Postgres => {
                let name = pg_database(url)?;
                // The registry closes the template's pool on a task of its own; wait for its connections to go.
                let mut admin = open(&format!("{PG_SERVER}/postgres")).await?;
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let connected: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1")
                        .bind(&name)
                        .fetch_one(&mut admin)
                        .await?;
                    if connected == 0 {
                        break;
                    }
                    if Instant::now() > deadline {
                        return Err(format!("{connected} connections to the template database remain").into());
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                admin.close().await?;
                Ok(Template::Database(name))
            }
        }
    }

    /// A copy of the template at `url`.
    async fn copy_to(&self, url: &str, admin: &mut Option<AnyConnection>) -> Res<()> {
        match self {
            Template::File(path) => {
                std::fs::copy(path, sqlite_path(url))?;
            }
            Template::Database(template) => {
                let conn = match admin {
                    Some(c) => c,
                    None => admin.insert(open(&format!("{PG_SERVER}/postgres")).await?),
                };
                // Identifiers cannot be bound; both names were checked to be [a-z0-9_] (`pg_database`).
                let sql = format!("CREATE DATABASE \"{}\" TEMPLATE \"{template}\"", pg_database(url)?);
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
            }
        }
        Ok(())
    }
}

/// `count.0` tenants (`{prefix}-1` …) sharing `count.1` sessions, each with its own copy of the template
/// database and the central rows the creation sequence writes.
async fn make_tenants(
    state: &app::backend::state::AppState,
    central_url: &str,
    template: &Template,
    owner_hash: &str,
    prefix: &str,
    count: (usize, usize),
) -> Res<Vec<BenchTenant>> {
    let (n, sessions) = count;
    let mut out = Vec::with_capacity(n);
    let mut admin = None;
    let mut tx = state.central().begin().await?;
    for i in 1..=n {
        let slug = format!("{prefix}-{i}");
        let url = tenant_db_url(central_url, &slug)?;
        template.copy_to(&url, &mut admin).await?;
        let id = TenantId::new_random();
        let t = now().as_millis();
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, status, is_house, currency, db_url, created_at, updated_at, owner_email, creation_step) \
             VALUES ($1, $2, $3, 'active', 0, 'USD', $4, $5, $5, $6, 'done')",
        )
        .bind(id.to_string())
        .bind(&slug)
        .bind(format!("Tenant {slug}"))
        .bind(&url)
        .bind(t)
        .bind(format!("owner@{slug}.test"))
        .execute(&mut *tx)
        .await?;
        let theme = Theme::default_for(format!("Tenant {slug}"));
        sqlx::query(
            "INSERT INTO tenant_branding (tenant_id, company_name, primary_color, secondary_color, version, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5)",
        )
        .bind(id.to_string())
        .bind(&theme.company_name)
        .bind(theme.primary.to_hex())
        .bind(theme.secondary.to_hex())
        .bind(t)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO staff (id, tenant_id, email, name, role, password_hash, created_at) VALUES ($1, $2, $3, $4, 'owner', $5, $6)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(id.to_string())
        .bind(format!("owner@{slug}.test"))
        .bind(format!("Tenant {slug}"))
        .bind(owner_hash)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        // The sessions are spread evenly; the first tenants take the remainder.
        out.push(BenchTenant { id, url, sessions: sessions / n + usize::from(i <= sessions % n) });
    }
    registry::bump_version(&mut tx).await?;
    tx.commit().await?;
    if let Some(conn) = admin {
        conn.close().await?;
    }
    state.registry().invalidate();
    Ok(out)
}

/// A few customers with several workspaces each, and `count` closed usage sessions spread over the
/// workspaces: random starts and durations inside the period, the last session of some workspaces running
/// on into the next period. One transaction, multi-row inserts.
async fn seed_tenant(url: String, count: usize, plans: Vec<String>, period: Period, seed: u64) -> Res<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let retail = Rate::parse(RETAIL, Currency::USD)?;
    let (start, end) = (period.start().as_millis(), period.end().as_millis());
    let created = start - 30 * 24 * HOUR_MS;
    let engine = Engine::of_url(&url)?;
    let mut conn = open(&url).await?;
    let mut tx = conn.begin().await?;

    let customers: Vec<String> = (0..CUSTOMERS).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let sql = values_sql(
        "INSERT INTO customers (id, email, name, password_hash, created_at, email_verified_at) VALUES ",
        engine,
        customers.len(),
        6,
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (i, id) in customers.iter().enumerate() {
        q = q
            .bind(id.clone())
            .bind(format!("customer{i}@bench.test"))
            .bind(format!("Customer {i}"))
            .bind("bench-not-a-hash")
            .bind(created)
            .bind(created);
    }
    q.execute(&mut *tx).await?;

    let workspaces: Vec<(String, &String)> =
        customers.iter().flat_map(|c| (0..WORKSPACES).map(move |_| (uuid::Uuid::new_v4().to_string(), c))).collect();
    let sql = values_sql(
        "INSERT INTO workspaces (id, customer_id, plan_code, order_key, state, transition_at, created_at, updated_at) VALUES ",
        engine,
        workspaces.len(),
        8,
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (i, (id, customer)) in workspaces.iter().enumerate() {
        q = q
            .bind(id.clone())
            .bind((*customer).clone())
            .bind(plans[i % plans.len()].clone())
            .bind(uuid::Uuid::new_v4().to_string())
            .bind("stopped")
            .bind(created)
            .bind(created)
            .bind(created);
    }
    q.execute(&mut *tx).await?;

    // Each workspace's share of the period is cut into one slot per session; a session starts early in its
    // slot and runs for a skewed random time (mostly short, some for hours) that ends inside the slot.
    let mut rows: Vec<(String, usize, i64, i64)> = Vec::with_capacity(count);
    let w_count = workspaces.len();
    for (w, _) in workspaces.iter().enumerate() {
        let k = count / w_count + usize::from(w < count % w_count);
        if k == 0 {
            continue;
        }
        let slot = (end - start) / i64::try_from(k)?;
        let crossing = rng.random_ratio(1, CROSSING_ONE_IN);
        for j in 0..k {
            let slot_start = start + slot * i64::try_from(j)?;
            let (s, e) = if crossing && j + 1 == k {
                let s = (end - rng.random_range(5 * MIN_MS..3 * HOUR_MS)).max(slot_start);
                (s, end + rng.random_range(10 * MIN_MS..8 * HOUR_MS))
            } else {
                let s = slot_start + rng.random_range(0..(slot * 3 / 10).max(1));
                let longest = (slot * 6 / 10).clamp(MIN_MS, 10 * HOUR_MS);
                // Mostly short sessions: the square of a uniform draw, in integer millionths.
                let u: i64 = rng.random_range(0..1_000_000);
                let d = MIN_MS
                    + i64::try_from(i128::from(longest - MIN_MS) * i128::from(u) * i128::from(u) / 1_000_000_000_000)
                        .unwrap_or(0);
                (s, (s + d).min(end - 1))
            };
            rows.push((uuid::Uuid::new_v4().to_string(), w, s, e.max(s + 1)));
        }
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = values_sql(
            "INSERT INTO usage_sessions (id, workspace_id, started_at, ended_at, retail_per_hour, wholesale_per_hour, \
             currency, billable_seconds, amount_minor) VALUES ",
            engine,
            chunk.len(),
            9,
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, w, s, e) in chunk {
            let amount = session_cost(
                app::domain::time::Timestamp::from_millis(*s),
                app::domain::time::Timestamp::from_millis(*e),
                &retail,
            )?;
            q = q
                .bind(id.clone())
                .bind(workspaces[*w].0.clone())
                .bind(*s)
                .bind(*e)
                .bind(RETAIL)
                .bind(WHOLESALE)
                .bind("USD")
                .bind(billable_seconds(e - s))
                .bind(amount.minor());
        }
        q.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(())
}

/// A direct connection to a database of the bench (for seeding and counting, outside the app's pools).
async fn open(url: &str) -> Res<AnyConnection> {
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(url).await?;
    if Engine::of_url(url)? == Engine::Sqlite {
        // WAL as the app's pools use it; no waiting for the disk while seeding, which is not timed.
        for pragma in ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = OFF", "PRAGMA foreign_keys = ON"] {
            sqlx::query(pragma).execute(&mut conn).await?;
        }
    }
    Ok(conn)
}

fn sqlite_path(url: &str) -> String {
    url.trim_start_matches("sqlite://").split('?').next().unwrap_or_default().to_owned()
}

/// The database a PostgreSQL URL names, checked to be a plain identifier (it is written into statements).
fn pg_database(url: &str) -> Res<String> {
    let name = url.rsplit_once('/').map_or("", |(_, db)| db).split('?').next().unwrap_or_default();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(format!("unexpected database name in {url:?}").into());
    }
    Ok(name.to_owned())
}

/// Drops the central database `central` and every tenant database named after it (best effort: this runs
/// after failures too), four at a time.
async fn drop_databases(central: &str) {
    let Ok(mut admin) = open(&format!("{PG_SERVER}/postgres")).await else { return };
    let like = format!("{central}_t_%");
    let mut names: Vec<String> = sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE $1")
        .bind(like)
        .fetch_all(&mut admin)
        .await
        .unwrap_or_default();
    names.push(central.to_owned());
    let _ = admin.close().await;
    futures::stream::iter(names)
        .map(|name| async move {
            let Ok(mut c) = open(&format!("{PG_SERVER}/postgres")).await else { return };
            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await;
            let _ = c.close().await;
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}
