//! `server bench-reconcile`: how long one reconcile pass takes, and how many Kasm calls it makes, for
//! N running workspaces against the built-in simulator (run by `make bench` on the release binary).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use app::backend::clients::kasm::{KasmImageId, KasmUserId};
use app::backend::{
    identity::auth, identity::customers, platform::db::now, workspaces::catalog, workspaces::reconciler,
    workspaces::store,
};
use app::domain::plan::PlanCode;
use app::domain::workspace::WorkspaceState;
use futures::{StreamExt, TryStreamExt};
use leptos::prelude::LeptosOptions;

use crate::config::Config;
use crate::startup::Application;

pub async fn reconcile(n: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("ezs-bench-{}", uuid::Uuid::new_v4().simple()));
    let env: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", format!("sqlite://{}/central.db", dir.display())),
        ("DATA_DIR", dir.display().to_string()),
        ("KASM_SIM_START_DELAY_MS", "0".to_owned()),
        ("KASM_SIM_LICENSE_CAP", (n + 10).to_string()),
        ("APP_ENV", "development".to_owned()),
        ("OPS_ADDR", "127.0.0.1:0".to_owned()),
        ("DEMO_DATA", "false".to_owned()),
        ("DEMO_RESELLER", "false".to_owned()),
        ("RECONCILE_INTERVAL_MS", "3600000".to_owned()),
    ]);
    let config = Config::from_lookup(|k| env.get(k).cloned())?;
    let leptos =
        LeptosOptions::builder().output_name("ezscale").site_addr(SocketAddr::from(([127, 0, 0, 1], 0))).build();
    let app = Application::build(config, leptos).await?;
    let state = app.state().clone();
    let tenant = state.house().await?;
    let kasm = state.kasm().clone();

    // Setup as in production: one customer and one Kasm user per workspace (Kasm caps sessions per user).
    let plan = PlanCode::parse("developer-basic")?;
    let plan_row = catalog::get(&tenant.db, plan).await?.ok_or("no plan")?;
    let rates = app::backend::workspaces::price_book::session_rates(state.central(), &tenant, &plan_row, now()).await?;
    let image: KasmImageId = kasm
        .get_images()
        .await?
        .into_iter()
        .find(|i| i.name == plan_row.kasm_image)
        .map(|i| i.image_id)
        .ok_or("no image")?;
    let hash = auth::hash_password("bench".into()).await?;
    let t0 = Instant::now();
    let users: Vec<(app::domain::ids::CustomerId, KasmUserId)> = futures::stream::iter(0..n)
        .map(|i| {
            let (kasm, db, hash) = (kasm.clone(), tenant.db.clone(), hash.clone());
            async move {
                let customer = customers::ensure(&db, &format!("bench{i}@ezscale.test"), "Bench", &hash).await?;
                let user = kasm.ensure_user(&format!("ezs-bench-{i}"), "bench-password", "Bench", "User").await?;
                customers::set_kasm_user_id(&db, customer, &user.user_id.to_string()).await?;
                Ok::<_, Box<dyn std::error::Error>>((customer, user.user_id))
            }
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    let env = std::collections::BTreeMap::new();
    let mut kill = Vec::new();
    let ids: Vec<_> = futures::stream::iter(users.into_iter().enumerate())
        .map(|(i, (customer, user))| {
            let (kasm, db, env) = (kasm.clone(), tenant.db.clone(), env.clone());
            async move {
                let req = kasm.request_kasm(user, image, &env).await?;
                let (id, _) = store::insert_order(&db, customer, plan, uuid::Uuid::new_v4(), "default", now()).await?;
                store::attach_kasm(&db, id, &req.kasm_id.to_string(), now()).await?;
                store::start_meter(&db, id, WorkspaceState::Starting, now(), &rates.retail, &rates.wholesale, now())
                    .await?;
                Ok::<_, Box<dyn std::error::Error>>((i, req.kasm_id))
            }
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    for (i, kasm_id) in ids {
        if i % 10 == 0 {
            kill.push(kasm_id);
        }
    }
    let setup = t0.elapsed();

    let sim = app.simulator().map(|(s, _)| s.clone()).ok_or("no simulator")?;
    let calls_before = sim.api_call_count();
    let t1 = Instant::now();
    let quiet = reconciler::reconcile_once(&state).await?;
    let quiet_time = t1.elapsed();
    let quiet_calls = sim.api_call_count() - calls_before;

    for k in &kill {
        sim.kill_session(k.0);
    }
    let calls_before = sim.api_call_count();
    let t2 = Instant::now();
    let busy = reconciler::reconcile_once(&state).await?;
    let busy_time = t2.elapsed();
    let busy_calls = sim.api_call_count() - calls_before;

    let ms = |d: Duration| d.as_millis();
    let report = format!(
        "== reconcile {n} running workspaces (SQLite, built-in simulator) ==\n\
         setup (users, sessions, rows)       {:>8} ms\n\
         pass, nothing changed               {:>8} ms, {quiet_calls} Kasm call(s), checked {}\n\
         pass, {} sessions died              {:>8} ms, {busy_calls} Kasm call(s), meters closed {}\n",
        ms(setup),
        ms(quiet_time),
        quiet.checked,
        kill.len(),
        ms(busy_time),
        busy.closed_gone,
    );
    std::io::Write::write_all(&mut std::io::stdout(), report.as_bytes())?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
