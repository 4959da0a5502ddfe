//! `server bench-customers`: the reseller's customers page at volume (run by `make bench` on the release
//! binary).
//!
//! Two storefronts (SQLite, each its own database), one with `customers` customers and one with a hundredth
//! as many, every tenth customer with two workspaces (one running) and everyone with a balance. For each:
//! the page query (`resellers::customer_care::directory`) for the first page, the last page and a search,
//! timed over repeated calls (p50 / p99), and the whole `/api/manage_customers` request as the owner
//! signed in (p50 / p99). The page reads one page and one count whatever the number of customers, so the
//! large storefront's first page should cost about what the small one's does; the last page walks the
//! index to its offset and a substring search reads every customer, so those grow with the count.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use app::backend::resellers::customer_care;
use app::backend::resellers::lifecycle::{self, NewTenantInput};
use app::backend::state::{AppState, Tenant};
use leptos::prelude::LeptosOptions;

use crate::config::Config;
use crate::startup::Application;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Calls per timed figure.
const RUNS: usize = 200;
const OWNER_PASSWORD: &str = "bench-owner-password";
const FORM: &str = "application/x-www-form-urlencoded";

pub async fn run(customers: usize) -> Res<()> {
    let large = customers.max(1_000);
    let small = large / 100;
    let dir = std::env::temp_dir().join(format!("ezs-bench-customers-{}", uuid::Uuid::new_v4().simple()));
    let result = bench_in(&dir, large, small).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// p50 and p99 of `runs` timings.
fn percentiles(mut t: Vec<Duration>) -> (Duration, Duration) {
    t.sort();
    let at = |q: usize| t.get((t.len() * q / 100).min(t.len().saturating_sub(1))).copied().unwrap_or_default();
    (at(50), at(99))
}

#[allow(clippy::print_stdout)]
async fn bench_in(dir: &std::path::Path, large: usize, small: usize) -> Res<()> {
    let central_url = format!("sqlite://{}/central.db", dir.display());
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", central_url.clone()),
        ("DATA_DIR", dir.display().to_string()),
        ("APP_ENV", "development".to_owned()),
        ("OPS_ADDR", "127.0.0.1:0".to_owned()),
        ("DEMO_DATA", "false".to_owned()),
        ("DEMO_RESELLER", "false".to_owned()),
        ("RECONCILE_INTERVAL_MS", "3600000".to_owned()),
        ("METER_INTERVAL_MS", "3600000".to_owned()),
        ("BILLING_INTERVAL_MS", "3600000".to_owned()),
    ]);
    let config = Config::from_lookup(|k| env.get(k).cloned())?;
    let leptos = LeptosOptions::builder()
        .output_name("ezscale")
        .site_root("target/site")
        .site_pkg_dir("pkg")
        .site_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .build();
    let app = Application::build(config, leptos).await?;
    let addr = app.local_addr()?;
    let state = app.state().clone();
    let server = tokio::spawn(app.run_until(std::future::pending::<()>()));

    let mut lines = Vec::new();
    for (slug, n) in [("cust-small", small), ("cust-large", large)] {
        let tenant = storefront(&state, &central_url, slug, n).await?;
        let time = |search: &'static str, page: i64| {
            let tenant = &tenant;
            async move {
                let mut t = Vec::with_capacity(RUNS);
                for _ in 0..RUNS {
                    let started = Instant::now();
                    let d = customer_care::directory(tenant, search, page).await?;
                    t.push(started.elapsed());
                    if d.rows.is_empty() {
                        return Err::<_, Box<dyn std::error::Error>>(format!("{slug}: an empty page").into());
                    }
                }
                Ok(percentiles(t))
            }
        };
        let first = time("", 1).await?;
        let last = time("", i64::MAX).await?;
        let search = time("person 00000", 1).await?;
        let http = over_http(addr, slug).await?;
        lines.push((n, first, last, search, http));
    }
    server.abort();

    let us = |d: Duration| d.as_micros();
    let mut report = format!("== customers page (SQLite, {} and {} customers per storefront) ==\n", small, large);
    for (n, first, last, search, http) in &lines {
        report.push_str(&format!(
            "{n:>6} customers: first page {:>6} us p50 {:>6} us p99 · last page {:>6} us p50 · search {:>6} us p50 · \
             /api/manage_customers {:>6} us p50 {:>6} us p99\n",
            us(first.0),
            us(first.1),
            us(last.0),
            us(search.0),
            us(http.0),
            us(http.1),
        ));
    }
    if let [(_, small_first, ..), (_, large_first, ..)] = lines.as_slice() {
        // Integer arithmetic: the ratio in hundredths.
        let h = large_first.0.as_micros() * 100 / small_first.0.as_micros().max(1);
        report.push_str(&format!(
            "first page, {large} vs {small} customers: ratio {}.{:02} (1 = the page does not grow with the customers)\n",
            h / 100,
            h % 100
        ));
    }
    print!("{report}");
    Ok(())
}

/// A storefront with `n` customers made in bulk (one statement each for customers, balances and
/// workspaces), and its owner.
async fn storefront(state: &AppState, central_url: &str, slug: &str, n: usize) -> Res<Tenant> {
    let input = NewTenantInput {
        name: format!("Bench {slug}"),
        slug: slug.into(),
        owner_email: format!("owner@{slug}.test"),
        owner_password: Some(OWNER_PASSWORD.into()),
        ..NewTenantInput::default()
    };
    let id = lifecycle::create(state, central_url, lifecycle::validate(&input)?).await?;
    let tenant = state.tenant_by_id(id).await?.ok_or("the bench storefront has no database")?;
    let last = i64::try_from(n)? - 1;
    let mut tx = tenant.db.begin().await?;
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         INSERT INTO customers (id, email, name, password_hash, created_at, email_verified_at) \
         SELECT printf('00000000-0000-4000-8000-%012d', i), printf('cust-%06d@bench.test', i), \
         printf('Bench Person %06d', i), 'not-a-hash', 1000000 + i, 1000000 + i FROM n",
    )
    .bind(last)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO credit_balances (customer_id, balance_minor) SELECT id, created_at % 10000 FROM customers",
    )
    .execute(&mut *tx)
    .await?;
    for (suffix, state) in [("a", "running"), ("b", "stopped")] {
        sqlx::query(
            "INSERT INTO workspaces (id, customer_id, plan_code, order_key, state, transition_at, created_at, updated_at) \
             SELECT substr(id, 1, 24) || $1 || substr(id, 26), id, (SELECT code FROM plans ORDER BY sort_order LIMIT 1), \
             $1 || id, $2, created_at, created_at, created_at FROM customers WHERE created_at % 10 = 0",
        )
        .bind(suffix)
        .bind(state)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(tenant)
}

/// `/api/manage_customers` (first page) as the storefront's owner: p50 and p99 over [`RUNS`] requests.
async fn over_http(addr: SocketAddr, slug: &str) -> Res<(Duration, Duration)> {
    let host = format!("{slug}.localhost");
    // (The server's reqwest has no cookie store: the session cookie is carried by hand, as a browser would.)
    let client = reqwest::Client::builder().resolve(&host, addr).build()?;
    let base = format!("http://{host}:{}", addr.port());
    let login = client
        .post(format!("{base}/api/staff_login"))
        .header(reqwest::header::CONTENT_TYPE, FORM)
        // (Slugs and the password are plain ASCII words: only the '@' needs encoding.)
        .body(format!("email=owner%40{slug}.test&password={OWNER_PASSWORD}"))
        .send()
        .await?;
    if !login.status().is_success() {
        return Err(format!("{slug}: staff sign-in answered {}", login.status()).into());
    }
    let cookie = login
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next().filter(|c| c.starts_with("ezs_staff=")).map(str::to_owned))
        .ok_or_else(|| format!("{slug}: no staff session cookie"))?;
    let mut t = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let r = client
            .post(format!("{base}/api/manage_customers"))
            .header(reqwest::header::COOKIE, &cookie)
            .header(reqwest::header::CONTENT_TYPE, FORM)
            .body("search=&page=1")
            .send()
            .await?;
        let status = r.status();
        let _ = r.bytes().await?;
        t.push(started.elapsed());
        if !status.is_success() {
            return Err(format!("{slug}: manage_customers answered {status}").into());
        }
    }
    Ok(percentiles(t))
}
