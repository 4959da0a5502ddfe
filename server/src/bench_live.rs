//! `server bench-live`: live events across app servers (run by `make bench` on the release binary).
//!
//! Two `server` processes (this binary) share a scratch PostgreSQL central database and a Kasm simulator.
//! The demo customer opens `connections` event streams (`/events/workspaces`, one TCP connection each) on
//! server A; A's resident memory is read before and after, so the figure is A's memory per open stream.
//! Then `changes` times, one after another, the customer renames a workspace through server B, and every
//! stream on A records when the event arrived: the latency from the request on B to the event on A,
//! through PostgreSQL `NOTIFY`, reported as p50 / p99 / max over every (change, stream) pair, and the time
//! until the last stream had each change (the fan-out).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::kasm_sim::{SimConfig, Simulator};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub async fn run(connections: usize, changes: usize) -> Res<()> {
    let db = format!("ezs_bench_live_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let dir = std::env::temp_dir().join(&db);
    std::fs::create_dir_all(&dir)?;
    let result = bench(&db, &dir, connections.max(1), changes.max(1)).await;
    // Whatever happened: the scratch database and directory go.
    if let Ok(mut c) = <sqlx::PgConnection as sqlx::Connection>::connect(ADMIN_URL).await {
        let sql = sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"));
        let _ = sqlx::query(sql).execute(&mut c).await;
        let like = format!("{db}_t_%");
        let tenants: Vec<String> = sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE $1")
            .bind(like)
            .fetch_all(&mut c)
            .await
            .unwrap_or_default();
        for t in tenants {
            let sql = sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{t}\" WITH (FORCE)"));
            let _ = sqlx::query(sql).execute(&mut c).await;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// One child `server` process, killed when dropped.
struct Child {
    child: tokio::process::Child,
    addr: SocketAddr,
}

fn free_addr() -> Res<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

async fn spawn(env: &HashMap<String, String>, name: &str, dir: &std::path::Path) -> Res<Child> {
    let addr = free_addr()?;
    let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
    let child = tokio::process::Command::new(std::env::current_exe()?)
        .envs(env)
        .env("SERVER_NAME", name)
        .env("LEPTOS_SITE_ADDR", addr.to_string())
        .env("OPS_ADDR", free_addr()?.to_string())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()?;
    let url = format!("http://{addr}/healthz");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if reqwest::get(&url).await.is_ok_and(|r| r.status().is_success()) {
            return Ok(Child { child, addr });
        }
        if Instant::now() > deadline {
            return Err(
                format!("server {name} did not start (see {})", dir.join(format!("{name}.log")).display()).into()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Resident memory of a process, in bytes (Linux `/proc`).
fn rss(pid: u32) -> Res<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or("no VmRSS")?;
    Ok(kb * 1024)
}

async fn call(http: &reqwest::Client, base: &str, cookie: &str, name: &str, form: &str) -> Res<serde_json::Value> {
    let res = http
        .post(format!("{base}/api/{name}"))
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await?;
    let status = res.status();
    let body = res.text().await?;
    if !status.is_success() {
        return Err(format!("{name}: {status} {body}").into());
    }
    Ok(serde_json::from_str(&body).unwrap_or(serde_json::Value::Null))
}

/// `value / unit` rounded to one decimal, as text ("21.4").
fn tenths(value: u128, unit: u128) -> String {
    let t = (value * 10 + unit / 2) / unit.max(1);
    format!("{}.{}", t / 10, t % 10)
}

fn percentile(sorted: &[Duration], q: usize) -> Duration {
    sorted.get((sorted.len() * q / 100).min(sorted.len().saturating_sub(1))).copied().unwrap_or_default()
}

#[allow(clippy::print_stdout)]
async fn bench(db: &str, dir: &std::path::Path, connections: usize, changes: usize) -> Res<()> {
    let sim = Simulator::new(SimConfig { start_delay: Duration::from_millis(100), ..SimConfig::default() });
    let (sim_addr, _sim_task) = sim.clone().spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let cfg = SimConfig::default();
    let mut env: HashMap<String, String> = [
        ("APP_ENV", "development".to_owned()),
        ("DATABASE_URL", format!("postgres://postgres@127.0.0.1:5432/{db}")),
        ("KASM_URL", format!("http://{sim_addr}")),
        ("KASM_API_KEY", cfg.api_key.clone()),
        ("KASM_API_SECRET", cfg.api_secret.clone()),
        ("DATA_KEY", app::backend::platform::crypto::DataKey::generate().to_base64()),
        ("DATA_DIR", dir.display().to_string()),
        ("STRIPE_FAKE", "false".to_owned()),
        ("DEMO_DATA", "true".to_owned()),
        ("DEMO_RESELLER", "false".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let a = spawn(&env, "a", dir).await?;
    env.insert("DEMO_DATA".into(), "false".into());
    let b = spawn(&env, "b", dir).await?;
    let (base_a, base_b) = (format!("http://{}", a.addr), format!("http://{}", b.addr));

    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let login = http
        .post(format!("{base_a}/api/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=demo%40ezscale.test&password=demo-password")
        .send()
        .await?;
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.split(';').next().filter(|c| c.starts_with("ezs_session=")))
        .ok_or("could not sign in")?
        .to_owned();
    let catalog = call(&http, &base_a, &cookie, "catalog", "").await?;
    let key = catalog["order_key"].as_str().ok_or("no order key")?.to_owned();
    let ordered =
        call(&http, &base_a, &cookie, "order_workspace", &format!("plan=developer-basic&order_key={key}")).await?;
    let id = ordered.as_str().ok_or("no workspace id")?.to_owned();

    // Idle streams' cost: A's memory before and after opening them.
    let pid = a.child.id().ok_or("server a has no pid")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = rss(pid)?;
    let epoch = Instant::now();
    let change_at = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::<Duration>::with_capacity(connections * changes)));
    let open = Arc::new(tokio::sync::Semaphore::new(256));
    let needle = format!("data: {id}");
    let opened = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(connections);
    let opening = Instant::now();
    for _ in 0..connections {
        // One connection per stream, as browsers (one page each) hold them.
        let client = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
        let (url, cookie, needle) = (format!("{base_a}/events/workspaces"), cookie.clone(), needle.clone());
        let (change_at, received, latencies, open, opened) =
            (change_at.clone(), received.clone(), latencies.clone(), open.clone(), opened.clone());
        tasks.push(tokio::spawn(async move {
            let permit = open.acquire_owned().await;
            let Ok(mut res) = client.get(url).header("cookie", cookie).send().await else { return };
            if !res.status().is_success() {
                return;
            }
            opened.fetch_add(1, Ordering::Relaxed);
            drop(permit);
            let mut buf = String::new();
            while let Ok(Some(chunk)) = res.chunk().await {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(i) = buf.find(&needle) {
                    let at = Duration::from_nanos(change_at.load(Ordering::Acquire));
                    let latency = epoch.elapsed().saturating_sub(at);
                    if let Ok(mut l) = latencies.lock() {
                        l.push(latency);
                    }
                    received.fetch_add(1, Ordering::AcqRel);
                    buf.drain(..i + needle.len());
                }
                if buf.len() > 4096 {
                    buf.clear();
                }
            }
        }));
    }
    while opened.load(Ordering::Relaxed) < connections {
        if opening.elapsed() > Duration::from_secs(300) {
            return Err(format!("only {} of {connections} streams opened", opened.load(Ordering::Relaxed)).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let opened_in = opening.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss(pid)?;

    // The workspace's own start announces itself on every stream; wait for those before measuring.
    let settle = Instant::now();
    while !received.load(Ordering::Acquire).is_multiple_of(connections) || settle.elapsed() < Duration::from_secs(3) {
        if settle.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    latencies.lock().map_err(|_| "lock")?.clear();
    let mut fanout = Vec::with_capacity(changes);
    for n in 0..changes {
        let base = received.load(Ordering::Acquire);
        let start = epoch.elapsed();
        change_at.store(u64::try_from(start.as_nanos()).unwrap_or(u64::MAX), Ordering::Release);
        call(&http, &base_b, &cookie, "rename_workspace", &format!("id={id}&name=Bench+{n}")).await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while received.load(Ordering::Acquire) < base + connections {
            if Instant::now() > deadline {
                return Err(format!(
                    "change {n}: {} of {connections} streams heard it",
                    received.load(Ordering::Acquire) - base
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        fanout.push(epoch.elapsed().saturating_sub(start));
    }
    let mut all = latencies.lock().map_err(|_| "lock")?.clone();
    all.sort();
    fanout.sort();
    for t in &tasks {
        t.abort();
    }
    let per_stream = after.saturating_sub(before) / u64::try_from(connections).unwrap_or(1);
    // Figures with one decimal, in integer arithmetic: tenths of a millisecond, a second, a MiB, a KiB.
    let ms = |d: Duration| tenths(d.as_micros(), 1000);
    println!("== live events across servers (2 server processes, PostgreSQL NOTIFY) ==");
    println!(
        "{:<44} {connections} streams opened in {} s; server A {} MiB before, {} MiB after: {} KiB per stream",
        "open event streams on one server",
        tenths(opened_in.as_millis(), 1000),
        tenths(u128::from(before), 1 << 20),
        tenths(u128::from(after), 1 << 20),
        tenths(u128::from(per_stream), 1 << 10)
    );
    println!(
        "{:<44} p50 {} ms, p99 {} ms, max {} ms over {} deliveries ({changes} changes x {connections} streams)",
        "change on server B -> event on server A",
        ms(percentile(&all, 50)),
        ms(percentile(&all, 99)),
        ms(all.last().copied().unwrap_or_default()),
        all.len()
    );
    println!(
        "{:<44} p50 {} ms, p99 {} ms",
        "until the last stream had the change",
        ms(percentile(&fanout, 50)),
        ms(percentile(&fanout, 99))
    );
    drop(b);
    drop(a);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::tenths;

    #[test]
    fn figures_round_to_one_decimal_without_floats() {
        assert_eq!(tenths(21_914, 1024), "21.4");
        assert_eq!(tenths(318_029_824, 1 << 20), "303.3");
        assert_eq!(tenths(172_349, 1000), "172.3");
        assert_eq!(tenths(0, 1000), "0.0");
    }
}
