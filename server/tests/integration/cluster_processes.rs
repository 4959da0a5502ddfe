//! The proof of several machines (issue 15, item 6): three `server` processes (the release-identical binary
//! cargo builds for these tests) on one central PostgreSQL database, one shared Kasm simulator, and tenant
//! databases on two PostgreSQL servers (the second a cluster of its own, `scripts/second-postgres.sh`).
//! Server B, and every server's queries to db-2, go through PgBouncer in transaction pooling mode
//! (`scripts/pgbouncer.sh`), the layout README recommends for a connection budget.
//! In one run it shows: a page open on server C hears a stop handled by server A within 2 s; 20 wrong
//! passwords spread over the three are limited exactly as on one; each loop runs once per interval;
//! `kill -9` of the server holding a provisioning job (inside a slow Kasm call) or running the loops →
//! the work completes on another, nothing lost or doubled; a tenant moved between the two PostgreSQL
//! servers while its customers keep reading loses nothing; and a rolling restart of all three under load
//! drops no request, with the client retrying an idempotent GET on another server when a connection is
//! refused or closed (as a proxy in front of them does: see README, "Several app servers").

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::backend::platform::crypto::DataKey;
use app::error::AppError;
use server::kasm_sim::{SimConfig, Simulator};

use crate::common::{
    eventually, ledger_sum, pgbouncer, pgbouncer_stat, second_postgres, table_counts, Client, ScratchDbs,
};

const WAIT: Duration = Duration::from_secs(30);

/// One `server` process: its name, ports, environment and log file.
struct Proc {
    name: &'static str,
    child: Option<tokio::process::Child>,
    addr: SocketAddr,
    ops: SocketAddr,
    env: HashMap<String, String>,
    log: PathBuf,
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

impl Proc {
    async fn start(name: &'static str, env: HashMap<String, String>, dir: &std::path::Path) -> Proc {
        let mut p =
            Proc { name, child: None, addr: free_port(), ops: free_port(), env, log: dir.join(format!("{name}.log")) };
        p.env.insert("SERVER_NAME".into(), name.into());
        p.env.insert("LEPTOS_SITE_ADDR".into(), p.addr.to_string());
        p.env.insert("OPS_ADDR".into(), p.ops.to_string());
        p.spawn().await;
        p
    }

    /// Starts (or restarts) the process on its ports and waits until it answers.
    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&self.env)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let url = format!("http://{}/healthz", self.addr);
        let log = self.log.clone();
        eventually(WAIT, &format!("server {} answers ({})", self.name, log.display()), || async {
            let ok = reqwest::get(&url).await.ok()?.status().is_success();
            ok.then_some(())
        })
        .await;
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `kill -9`: no shutdown, no lease given back.
    async fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.start_kill().unwrap();
            c.wait().await.unwrap();
        }
    }

    /// SIGTERM, and waits for the graceful shutdown to finish.
    async fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id().unwrap().to_string();
            let sent = tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
            assert!(sent.success());
            let status =
                tokio::time::timeout(Duration::from_secs(40), c.wait()).await.expect("stops within 40 s").unwrap();
            assert!(status.success(), "{} exited with {status}", self.name);
        }
    }

    async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.ops)).await.unwrap().text().await.unwrap()
    }
}

fn client(base: &str) -> Client {
    Client {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        base: base.to_owned(),
    }
}

async fn signed_in(base: &str) -> Client {
    let c = client(base);
    c.call::<()>("login", &[("email", "demo@ezscale.test"), ("password", "demo-password")]).await.unwrap();
    c
}

/// `from`'s browser talking to another server: cookies belong to the host (127.0.0.1), not the port, so
/// the session goes along (sessions live in the database, not in a server).
fn same_session(from: &Client, base: &str) -> Client {
    Client { http: from.http.clone(), base: base.to_owned() }
}

async fn state_of(c: &Client, id: &str) -> String {
    let d: app::domain::workspace_view::WorkspaceDetail = c.call("get_workspace", &[("id", id)]).await.unwrap();
    format!("{:?}", d.card.state)
}

async fn order(c: &Client) -> String {
    crate::common::order(c, "developer-basic").await
}

async fn running(c: &Client, id: &str) {
    eventually(WAIT, "the workspace runs", || async { (state_of(c, id).await == "Running").then_some(()) }).await;
}

/// A loop's row: name, start of its last pass, holder now, server of the last pass.
type LoopRow = (String, Option<i64>, Option<String>, Option<String>);
/// Per loop: the start instants of its passes, and the servers that ran them.
type Watched = (BTreeMap<String, BTreeSet<i64>>, BTreeMap<String, BTreeSet<String>>);

/// The loop passes that started in the next `window`, per loop (start instants), and who ran them.
async fn watch_loops(central: &sqlx::PgPool, window: Duration) -> Watched {
    let (mut starts, mut by) = (BTreeMap::<String, BTreeSet<i64>>::new(), BTreeMap::<String, BTreeSet<String>>::new());
    let from = app::backend::platform::db::now().as_millis();
    let until = Instant::now() + window;
    while Instant::now() < until {
        let rows: Vec<LoopRow> = sqlx::query_as("SELECT name, last_started_at, holder, last_server FROM loop_leases")
            .fetch_all(central)
            .await
            .unwrap();
        for (name, started, holder, last) in rows {
            if let Some(at) = started.filter(|at| *at >= from) {
                starts.entry(name.clone()).or_default().insert(at);
                if let Some(h) = holder.or(last) {
                    by.entry(name).or_default().insert(h);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    (starts, by)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_server_processes_two_postgresql_servers_kills_a_move_and_a_rolling_restart() {
    let second = second_postgres().await;
    let dbs = ScratchDbs::new();
    let central_url = dbs.postgres_url("central").await;
    let dir = tempdir();
    // One Kasm for all three (its provisioning answers slowed on demand below).
    let sim = Simulator::new(SimConfig { start_delay: Duration::from_millis(300), ..SimConfig::default() });
    let (sim_addr, _sim_task) = sim.clone().spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let cfg = SimConfig::default();
    let env: HashMap<String, String> = [
        ("APP_ENV", "development"),
        ("DATABASE_URL", central_url.as_str()),
        ("KASM_URL", &format!("http://{sim_addr}")),
        ("KASM_API_KEY", &cfg.api_key),
        ("KASM_API_SECRET", &cfg.api_secret),
        ("DATA_KEY", &DataKey::generate().to_base64()),
        ("DATA_DIR", &dir.display().to_string()),
        ("STRIPE_FAKE", "false"),
        ("DEMO_DATA", "false"),
        ("DEMO_RESELLER", "false"),
        ("RECONCILE_INTERVAL_MS", "1000"),
        ("METER_INTERVAL_MS", "1000"),
        ("BILLING_INTERVAL_MS", "1000"),
        ("DOMAIN_CHECK_INTERVAL_MS", "1000"),
        ("RUST_LOG", "warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    // The first server seeds the demo customer; the others join it.
    let mut first_env = env.clone();
    first_env.insert("DEMO_DATA".into(), "true".into());
    let mut a = Proc::start("a", first_env, &dir).await;
    a.env.insert("DEMO_DATA".into(), "false".into());
    // B reaches PostgreSQL through PgBouncer in transaction pooling mode, as a fleet with a connection
    // budget does: the central database and the tenant databases of both servers (db-2 has its own below).
    let pooler = pgbouncer(5432).await;
    let second_pooler = pgbouncer(55433).await;
    let mut b_env = env.clone();
    let central_name = central_url.rsplit('/').next().unwrap().to_owned();
    b_env.insert("DATABASE_POOLER_URL".into(), format!("{pooler}/{central_name}"));
    let mut b = Proc::start("b", b_env, &dir).await;
    let mut c = Proc::start("c", env.clone(), &dir).await;
    let central = sqlx::PgPool::connect(&central_url).await.unwrap();
    // The second PostgreSQL server, added with the operator's command.
    let added = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&env)
        .args(["db-servers", "add", "db-2", "--url", second, "--pooler", &format!("{second_pooler}/postgres")])
        .output()
        .await
        .unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));

    // ---- A page on C hears a stop handled by A within 2 s.
    let on_a = signed_in(&a.base()).await;
    let on_c = same_session(&on_a, &c.base());
    let id = order(&on_a).await;
    running(&on_a, &id).await;
    let mut events = on_c.http.get(format!("{}/events/workspaces", c.base())).send().await.unwrap();
    assert_eq!(events.status().as_u16(), 200);
    let mut seen = String::new();
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Ok(Some(chunk)) = events.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    let stopped_at = Instant::now();
    on_a.call::<serde_json::Value>("stop_workspace", &[("id", &id)]).await.unwrap();
    let needle = format!("data: {id}");
    let heard = tokio::time::timeout(Duration::from_secs(2), async {
        while !seen.contains(&needle) {
            match events.chunk().await {
                Ok(Some(chunk)) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return false,
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    assert!(heard, "the page on C never heard the stop on A within 2 s: {seen:?}");
    eprintln!("a stop on A reached a page on C in {} ms", stopped_at.elapsed().as_millis());
    drop(events);

    // ---- 20 wrong passwords over the three: 10 refused as wrong, then 10 refused by the limit.
    let (mut wrong, mut limited) = (0, 0);
    for i in 0..20 {
        let server = [&a, &b, &c][i % 3];
        match client(&server.base())
            .call::<()>("login", &[("email", "other@ezscale.test"), ("password", "nope-nope")])
            .await
        {
            Err((401, AppError::BadCredentials)) => wrong += 1,
            Err((429, AppError::RateLimited { .. })) => limited += 1,
            other => panic!("attempt {i}: {other:?}"),
        }
    }
    assert_eq!((wrong, limited), (10, 10), "the three servers enforce one limit");

    // ---- Each loop once per interval, over three processes.
    let names: BTreeSet<String> = ["a", "b", "c"].into_iter().map(String::from).collect();
    let (starts, by) = watch_loops(&central, Duration::from_secs(5)).await;
    for l in ["reconciler", "meter", "billing", "domain_checks"] {
        let seen: Vec<i64> = starts.get(l).map(|s| s.iter().copied().collect()).unwrap_or_default();
        assert!((3..=6).contains(&seen.len()), "{l}: {} passes in 5 s: {seen:?}", seen.len());
        assert!(seen.windows(2).all(|p| p[1] - p[0] >= 1000), "{l}: passes closer than the interval: {seen:?}");
        assert!(by[l].is_subset(&names), "{l}: {:?}", by[l]);
    }
    for p in [&a, &b, &c] {
        let text = p.metrics().await;
        assert!(text.contains(&format!("ezs_loop_passes_total{{loop=\"meter\",server=\"{}\"}}", p.name)), "{text}");
    }

    // ---- kill -9 of the server holding a provisioning job, inside a slow Kasm call.
    let slow = serde_json::json!({"endpoint": "request_kasm", "kind": "latency", "delay_ms": 8000});
    reqwest::Client::new().post(format!("http://{sim_addr}/__sim/faults")).json(&slow).send().await.unwrap();
    let id2 = order(&on_a).await;
    // Inside the slow call: Kasm has made the session (its answer is what is slow).
    eventually(WAIT, "the job's server is inside request_kasm", || async {
        let sessions: serde_json::Value =
            reqwest::get(format!("http://{sim_addr}/__sim/sessions")).await.ok()?.json().await.ok()?;
        let made = sessions.as_array()?.iter().any(|s| s["environment"]["EZSCALE_WORKSPACE_ID"] == id2.as_str());
        made.then_some(())
    })
    .await;
    let holder: String = eventually(WAIT, "a server holds the job", || async {
        let owner: Option<Option<String>> =
            sqlx::query_scalar("SELECT lease_owner FROM jobs WHERE payload LIKE $1 AND state = 'queued'")
                .bind(format!("%{id2}%"))
                .fetch_optional(&central)
                .await
                .unwrap();
        owner.flatten()
    })
    .await;
    let dead = holder.split('/').next().unwrap().to_owned();
    let victim = [&mut a, &mut b, &mut c].into_iter().find(|p| p.name == dead).expect("a known server");
    victim.kill9().await;
    let killed = Instant::now();
    let client_of = |p: &Proc| same_session(&on_a, &p.base());
    let alive = [&a, &b, &c].into_iter().find(|p| p.child.is_some()).unwrap();
    let watcher = client_of(alive);
    running(&watcher, &id2).await;
    let took = killed.elapsed();
    eprintln!("provisioning held by {dead}, killed: running on another server after {} ms", took.as_millis());
    // The job's and the workspace's leases (6 s, renewed every 2 s by the live holder) lapse, another
    // server's worker claims the job and adopts the session the dead server's call had already created.
    assert!(took <= Duration::from_secs(10), "taken over after {took:?}");
    // One Kasm session for it, once the reconciler has had its say.
    eventually(WAIT, "exactly one Kasm session for the workspace", || async {
        let sessions: serde_json::Value =
            reqwest::get(format!("http://{sim_addr}/__sim/sessions")).await.ok()?.json().await.ok()?;
        let mine =
            sessions.as_array()?.iter().filter(|s| s["environment"]["EZSCALE_WORKSPACE_ID"] == id2.as_str()).count();
        (mine == 1).then_some(())
    })
    .await;
    // The killed server comes back (a restart) and takes part again.
    [&mut a, &mut b, &mut c].into_iter().find(|p| p.name == dead).unwrap().spawn().await;

    // ---- kill -9 of the server that ran the loops last: the loops go on elsewhere within an interval.
    let (last, before): (String, i64) =
        sqlx::query_as("SELECT last_server, passes FROM loop_leases WHERE name = 'meter'")
            .fetch_one(&central)
            .await
            .unwrap();
    let victim = [&mut a, &mut b, &mut c].into_iter().find(|p| p.name == last).unwrap();
    victim.kill9().await;
    let after: i64 = eventually(WAIT, "the meter runs on after the kill", || async {
        let (n, by): (i64, Option<String>) =
            sqlx::query_as("SELECT passes, last_server FROM loop_leases WHERE name = 'meter'")
                .fetch_one(&central)
                .await
                .ok()?;
        (n >= before + 2 && by.as_deref() != Some(last.as_str())).then_some(n)
    })
    .await;
    assert!(after >= before + 2);
    [&mut a, &mut b, &mut c].into_iter().find(|p| p.name == last).unwrap().spawn().await;

    // ---- A tenant moved to the second PostgreSQL server while its customers keep reading.
    on_a.call::<serde_json::Value>("stop_workspace", &[("id", &id2)]).await.unwrap();
    eventually(WAIT, "stopped, and its jobs done", || async {
        let open: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'queued'").fetch_one(&central).await.ok()?;
        (open == 0 && state_of(&on_a, &id2).await == "Stopped").then_some(())
    })
    .await;
    let house_url: String =
        sqlx::query_scalar("SELECT db_url FROM tenants WHERE slug = 'house'").fetch_one(&central).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = [&b, &c]
        .into_iter()
        .map(|p| {
            let (c, stop, reads) = (client_of(p), stop.clone(), reads.clone());
            tokio::spawn(async move {
                let mut failed = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let (status, _) = c.get_page("/workspaces").await;
                    reads.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        failed.push(status);
                    }
                }
                failed
            })
        })
        .collect();
    let before_sum = ledger_sum(&house_url).await;
    let moved = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(&env)
        .args(["tenants", "move", "house", "--to", "db-2"])
        .output()
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    assert!(
        moved.status.success(),
        "{}{}",
        String::from_utf8_lossy(&moved.stdout),
        String::from_utf8_lossy(&moved.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&moved.stdout).trim());
    for r in readers {
        let failed = r.await.unwrap();
        assert!(failed.is_empty(), "reads failed during the move: {failed:?}");
    }
    assert!(reads.load(Ordering::Relaxed) >= 10);
    let new_url: String =
        sqlx::query_scalar("SELECT db_url FROM tenants WHERE slug = 'house'").fetch_one(&central).await.unwrap();
    assert!(new_url.contains(":55433/"), "{new_url}");
    let counts: String = sqlx::query_scalar(
        "SELECT m.counts FROM tenant_moves m JOIN tenants t ON t.id = m.tenant_id WHERE t.slug = 'house'",
    )
    .fetch_one(&central)
    .await
    .unwrap();
    let verified: Vec<(String, i64)> = serde_json::from_str(&counts).unwrap();
    assert_eq!(verified, table_counts(&new_url).await, "the copy holds what was verified");
    assert_eq!(ledger_sum(&new_url).await, before_sum, "the ledger's sum is unchanged");
    // The PgBouncers carried real traffic: B's central queries, and the moved storefront's reads on db-2.
    assert!(pgbouncer_stat(&pooler, &central_name, "total_xact_count").await > 0, "B went through PgBouncer");
    let moved_db = new_url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    assert!(
        pgbouncer_stat(&second_pooler, &moved_db, "total_xact_count").await > 0,
        "the moved storefront is read through db-2's PgBouncer"
    );

    // ---- A rolling restart of all three under load: no request dropped.
    let stop = Arc::new(AtomicBool::new(false));
    let bases: Vec<String> = [&a, &b, &c].iter().map(|p| p.base()).collect();
    let load = {
        let (stop, bases, http) = (stop.clone(), bases.clone(), on_a.http.clone());
        tokio::spawn(async move {
            let clients: Vec<Client> = bases.iter().map(|b| Client { http: http.clone(), base: b.clone() }).collect();
            let (mut ok, mut failed, mut retried) = (0usize, Vec::new(), 0usize);
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                // An idempotent GET: on a refused or closed connection, the next server (as a proxy retries).
                let mut answered = None;
                for attempt in 0..3 {
                    let c = &clients[(i + attempt) % clients.len()];
                    match c.http.get(format!("{}/workspaces", c.base)).send().await {
                        Ok(res) => {
                            answered = Some(res.status().as_u16());
                            break;
                        }
                        Err(e) if e.is_connect() || e.is_request() => retried += 1,
                        Err(e) => {
                            answered = Some(0);
                            failed.push(e.to_string());
                            break;
                        }
                    }
                }
                match answered {
                    Some(200) => ok += 1,
                    Some(s) => failed.push(format!("status {s}")),
                    None => failed.push("no server answered".into()),
                }
                i += 1;
            }
            (ok, failed, retried)
        })
    };
    for p in [&mut a, &mut b, &mut c] {
        tokio::time::sleep(Duration::from_millis(500)).await;
        p.terminate().await;
        p.spawn().await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let (ok, failed, retried) = load.await.unwrap();
    eprintln!("rolling restart: {ok} requests answered, {retried} retried on another server, {} failed", failed.len());
    assert!(failed.is_empty(), "requests dropped during the rolling restart: {failed:?}");
    assert!(ok >= 20, "the load ran ({ok} requests)");

    for p in [&mut c, &mut b, &mut a] {
        p.terminate().await;
    }
    central.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ezs-procs-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
