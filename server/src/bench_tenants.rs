//! `server bench-tenants`: the cost of tenancy at scale (run by `make bench` on the release binary).
//!
//! - tenant creation: the whole recorded sequence (database, migrations, plans, owner, branding), timed;
//! - request latency to tenant #N of N against tenant #1, in the same run (Host resolution is a map
//!   lookup, pools are opened lazily and kept in an LRU, so the two should match);
//! - `tenants migrate` over 1,000 tenants against 10.
//!
//! Only the first tenants go through the full sequence; the rest are made in bulk from a copy of a
//! migrated tenant database plus the same central rows the sequence writes, so that 10,000 tenants take
//! minutes rather than hours of password hashing. Every tenant still has its own database file.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use app::backend::platform::db::now;
use app::backend::resellers::lifecycle::{self, NewTenantInput};
use app::backend::tenancy::registry;
use app::domain::branding::Theme;
use leptos::prelude::LeptosOptions;

use crate::config::Config;
use crate::startup::Application;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

pub async fn run(n: usize) -> Res<()> {
    let n = n.max(20);
    let dir = std::env::temp_dir().join(format!("ezs-bench-tenants-{}", uuid::Uuid::new_v4().simple()));
    let central_url = format!("sqlite://{}/central.db", dir.display());
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", central_url.clone()),
        ("DATA_DIR", dir.display().to_string()),
        ("APP_ENV", "development".to_owned()),
        ("OPS_ADDR", "127.0.0.1:0".to_owned()),
        ("DEMO_DATA", "false".to_owned()),
        ("DEMO_RESELLER", "false".to_owned()),
        ("RECONCILE_INTERVAL_MS", "3600000".to_owned()),
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

    // 1. The full creation sequence, ten times.
    let full = 10;
    let mut created = Vec::new();
    for i in 1..=full {
        let input = NewTenantInput {
            name: format!("Tenant {i}"),
            slug: format!("bench-{i}"),
            owner_email: format!("owner@bench-{i}.test"),
            owner_password: Some("bench-owner-password".into()),
            ..NewTenantInput::default()
        };
        let t = Instant::now();
        lifecycle::create(&state, &central_url, lifecycle::validate(&input)?).await?;
        created.push(t.elapsed());
    }
    created.sort();
    let mean = created.iter().sum::<Duration>() / u32::try_from(created.len())?;

    // 2. The rest in bulk, from tenant #1's database.
    let template = registry::record_by_slug(state.central(), "bench-1").await?.ok_or("no template")?;
    let template_path =
        template.db_url.trim_start_matches("sqlite://").split('?').next().unwrap_or_default().to_owned();
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM staff LIMIT 1").fetch_one(state.central().pool()).await?;
    let bulk_started = Instant::now();
    let mut tx = state.central().begin().await?;
    for i in (full + 1)..=n {
        let slug = format!("bench-{i}");
        let url = app::backend::platform::db::tenant_db_url(&central_url, &slug)?;
        let path = url.trim_start_matches("sqlite://").split('?').next().unwrap_or_default().to_owned();
        std::fs::copy(&template_path, &path)?;
        let id = uuid::Uuid::new_v4().to_string();
        let t = now().as_millis();
        sqlx::query(
            "INSERT INTO tenants (id, slug, name, status, is_house, currency, db_url, created_at, updated_at, owner_email, creation_step) \
             VALUES ($1, $2, $3, 'active', 0, 'USD', $4, $5, $5, $6, 'done')",
        )
        .bind(&id)
        .bind(&slug)
        .bind(format!("Tenant {i}"))
        .bind(&url)
        .bind(t)
        .bind(format!("owner@{slug}.test"))
        .execute(&mut *tx)
        .await?;
        let theme = Theme::default_for(format!("Tenant {i}"));
        sqlx::query(
            "INSERT INTO tenant_branding (tenant_id, company_name, primary_color, secondary_color, version, updated_at) \
             VALUES ($1, $2, $3, $4, 1, $5)",
        )
        .bind(&id)
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
        .bind(&id)
        .bind(format!("owner@{slug}.test"))
        .bind(format!("Tenant {i}"))
        .bind(&hash)
        .bind(t)
        .execute(&mut *tx)
        .await?;
    }
    registry::bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    let bulk = bulk_started.elapsed();

    // 3. Latency: tenant #1 and tenant #n, cold (first request: pool opened, schema checked) and warm.
    let client = reqwest::Client::builder()
        .resolve("bench-1.localhost", addr)
        .resolve(&format!("bench-{n}.localhost"), addr)
        .build()?;
    let lat = |host: String| {
        let client = client.clone();
        async move {
            let url = format!("http://{host}:{}/api/catalog", addr.port());
            let t = Instant::now();
            let first = client.post(&url).send().await?;
            if !first.status().is_success() {
                return Err(format!("{host}: {}", first.status()).into());
            }
            let cold = t.elapsed();
            let mut warm = Vec::with_capacity(300);
            for _ in 0..300 {
                let t = Instant::now();
                let r = client.post(&url).send().await?;
                let _ = r.bytes().await?;
                warm.push(t.elapsed());
            }
            warm.sort();
            Ok::<_, Box<dyn std::error::Error>>((cold, warm[warm.len() / 2], warm[warm.len() * 99 / 100]))
        }
    };
    let (cold1, p50_1, p99_1) = lat("bench-1.localhost".into()).await?;
    let (cold_n, p50_n, p99_n) = lat(format!("bench-{n}.localhost")).await?;

    // 4. Migrating every tenant: 10 against 1,000.
    let records = registry::list_records(state.central()).await?;
    let pick = |k: usize| records.iter().filter(|r| !r.is_house).take(k).cloned().collect::<Vec<_>>();
    let t = Instant::now();
    let f10 = crate::tenants_cli::migrate_records(pick(10), 8, false).await;
    let m10 = t.elapsed();
    let k = 1000.min(n);
    let t = Instant::now();
    let f1000 = crate::tenants_cli::migrate_records(pick(k), 8, false).await;
    let m1000 = t.elapsed();

    let us = |d: Duration| d.as_micros();
    let ms = |d: Duration| d.as_millis();
    let ratio = |a: Duration, b: Duration| format!("{:.2}", a.as_secs_f64() / b.as_secs_f64().max(1e-9));
    let report = format!(
        "== tenancy at scale (SQLite, {n} tenants) ==\n\
         create a tenant (full sequence)     {:>8} ms mean, {} ms max (of {full})\n\
         bulk-create {} more tenants        {:>8} ms\n\
         catalog on tenant #1                {:>8} us p50, {} us p99, first request {} us\n\
         catalog on tenant #{n}          {:>8} us p50, {} us p99, first request {} us\n\
         p50 ratio #{n} / #1             {:>8}\n\
         migrate 10 tenants                  {:>8} ms ({} failed)\n\
         migrate {k} tenants                {:>8} ms ({} failed); ratio {} for {}x the tenants\n",
        ms(mean),
        ms(*created.last().unwrap_or(&Duration::ZERO)),
        n - full,
        ms(bulk),
        us(p50_1),
        us(p99_1),
        us(cold1),
        us(p50_n),
        us(p99_n),
        us(cold_n),
        ratio(p50_n, p50_1),
        ms(m10),
        f10.len(),
        ms(m1000),
        f1000.len(),
        ratio(m1000, m10),
        k / 10,
    );
    std::io::Write::write_all(&mut std::io::stdout(), report.as_bytes())?;
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
