//! Test harness: a whole application on a random port, with its own fresh database (SQLite in a temp
//! directory, or a new PostgreSQL database that is dropped afterwards) and the in-process Kasm simulator.

pub mod dns;
pub mod logs;
pub mod smtp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use app::error::AppError;
use leptos::prelude::LeptosOptions;
use serde::de::DeserializeOwned;
use server::config::Config;
use server::kasm_sim::Simulator;
use server::startup::Application;

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// No request of a test may hang: a stuck answer is a failure that names the request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A second PostgreSQL server (its own cluster, started by `scripts/second-postgres.sh`), for tenant
/// databases on several servers.
pub const SECOND_PG_ADMIN: &str = "postgres://postgres@127.0.0.1:55433/postgres";
static SECOND_PG: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
static SECOND_PG_USED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Starts the second PostgreSQL cluster if it is not running (once per test process; the script is
/// idempotent and locked, so other processes may share it) and returns its admin URL. `make unit` stops it
/// when the tests are done.
pub async fn second_postgres() -> &'static str {
    SECOND_PG
        .get_or_init(|| async {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/second-postgres.sh");
            let out = tokio::process::Command::new(script)
                .args(["start", "55433", "/tmp/ezs-second-pg"])
                .output()
                .await
                .unwrap_or_else(|e| panic!("{script} cannot run: {e}"));
            assert!(
                out.status.success(),
                "the second PostgreSQL server did not start: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        })
        .await;
    SECOND_PG_USED.store(true, std::sync::atomic::Ordering::Relaxed);
    SECOND_PG_ADMIN
}

/// A PgBouncer in transaction pooling mode in front of the PostgreSQL server on `upstream`: 5432 (on port
/// 56432) or the second server's 55433 (on 56433; not 6432, where a system PgBouncer may listen). Started by
/// `scripts/pgbouncer.sh` if it is not running (once per test process and upstream; the script is
/// idempotent and locked). Returns its URL's server part, `postgres://postgres@127.0.0.1:<port>`.
/// `make unit` stops it when the tests are done.
pub async fn pgbouncer(upstream: u16) -> String {
    static STARTED: tokio::sync::Mutex<Vec<u16>> = tokio::sync::Mutex::const_new(Vec::new());
    let port = match upstream {
        5432 => 56432,
        55433 => 56433,
        other => panic!("no PgBouncer port for upstream {other}"),
    };
    let mut started = STARTED.lock().await;
    if !started.contains(&upstream) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pgbouncer.sh");
        let out = tokio::process::Command::new(script)
            // Two server connections per database: clients really share them.
            .args(["start", &port.to_string(), &format!("/tmp/ezs-pgbouncer-{upstream}"), &upstream.to_string(), "2"])
            .output()
            .await
            .unwrap_or_else(|e| panic!("{script} cannot run: {e}"));
        assert!(
            out.status.success(),
            "PgBouncer did not start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        started.push(upstream);
    }
    format!("postgres://postgres@127.0.0.1:{port}")
}

/// One figure of PgBouncer's `SHOW STATS` for `database` (e.g. `total_xact_count`), through its admin console.
pub async fn pgbouncer_stat(pooler: &str, database: &str, column: &str) -> i64 {
    use sqlx::{Column, Connection, Row};
    // The console speaks only the simple query protocol, and takes no statement cache.
    let mut c = sqlx::PgConnection::connect(&format!("{pooler}/pgbouncer?statement-cache-capacity=0")).await.unwrap();
    let rows = sqlx::raw_sql(sqlx::AssertSqlSafe("SHOW STATS")).fetch_all(&mut c).await.unwrap();
    let _ = c.close().await;
    rows.iter()
        .find(|r| r.try_get::<String, _>("database").is_ok_and(|d| d == database))
        .map(|r| {
            let i = r.columns().iter().position(|c| c.name() == column).unwrap_or_else(|| panic!("no {column}"));
            // NUMERIC in PgBouncer 1.18, sent as text (the simple protocol): read the text.
            r.try_get_unchecked::<String, _>(i).unwrap().parse::<i64>().unwrap()
        })
        .unwrap_or(0)
}

pub struct TestApp {
    pub base: String,
    pub addr: SocketAddr,
    /// The operations listener (`/metrics`, `/tls/ask`); never the public `addr`.
    pub ops_addr: SocketAddr,
    pub db_url: String,
    pub sim: Simulator,
    pub sim_addr: SocketAddr,
    pub state: app::backend::state::AppState,
    /// The local Stripe (the demo storefronts' keys point at it).
    pub stripe: Option<(server::stripe_fake::StripeFake, SocketAddr)>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    /// The configuration it was started with (a restart reuses it).
    env: HashMap<String, String>,
    /// Shared by the servers of one deployment (see [`TestApp::spawn_beside`]): the databases go with the last.
    _guard: std::sync::Arc<DbGuard>,
}

/// Removes the test's databases however the test ends (also on panic): the central one and every
/// tenant database named after it.
struct DbGuard {
    dir: std::path::PathBuf,
    pg_databases: Vec<String>,
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.pg_databases.is_empty() {
            return;
        }
        let dbs = std::mem::take(&mut self.pg_databases);
        // Drop runs inside the test's runtime; do the async cleanup on a thread with its own runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                use sqlx::Connection;
                // Tenant databases may also live on the second server, when a test used it.
                let second = SECOND_PG_USED.load(std::sync::atomic::Ordering::Relaxed).then_some(SECOND_PG_ADMIN);
                for admin in std::iter::once(PG_ADMIN).chain(second) {
                    let Ok(mut c) = sqlx::PgConnection::connect(admin).await else { continue };
                    let mut all: Vec<String> = Vec::new();
                    for prefix in &dbs {
                        let found: Vec<String> =
                            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
                                .bind(format!("{prefix}%"))
                                .fetch_all(&mut c)
                                .await
                                .unwrap_or_default();
                        all.extend(found);
                    }
                    all.sort();
                    all.dedup();
                    // Tenant databases first: they are named after the central one.
                    all.reverse();
                    for db in all {
                        let sql = sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"));
                        let _ = sqlx::query(sql).execute(&mut c).await;
                    }
                }
            });
        })
        .join();
    }
}

/// Fresh, empty databases for a test that needs no application: SQLite files in a temp directory and
/// PostgreSQL databases named after this scratch space, all removed however the test ends (as a `TestApp`'s).
pub struct ScratchDbs {
    prefix: String,
    guard: DbGuard,
}

impl ScratchDbs {
    pub fn new() -> ScratchDbs {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("ezs-test-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let prefix = format!("ezs_test_{}", &id[..16]);
        ScratchDbs { prefix: prefix.clone(), guard: DbGuard { dir, pg_databases: vec![prefix] } }
    }

    /// The URL of SQLite database `name` (the file is created on first connection).
    pub fn sqlite_url(&self, name: &str) -> String {
        format!("sqlite://{}/{name}.db?mode=rwc", self.guard.dir.display())
    }

    /// Creates the empty PostgreSQL database `name` (named after this scratch space); returns its URL.
    pub async fn postgres_url(&self, name: &str) -> String {
        use sqlx::Connection;
        assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{name}");
        let db = format!("{}_{name}", self.prefix);
        let mut c = sqlx::PgConnection::connect(PG_ADMIN).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\""))).execute(&mut c).await.unwrap();
        c.close().await.unwrap();
        format!("postgres://postgres@127.0.0.1:5432/{db}")
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, &[]).await
    }

    pub async fn spawn_with(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(backend, false, extra).await
    }

    /// On PostgreSQL, its queries through a PgBouncer in transaction pooling mode ([`pgbouncer`]), as a
    /// deployment with a connection budget runs it (`DATABASE_POOLER_URL`).
    pub async fn spawn_through_pgbouncer(extra: &[(&str, &str)]) -> TestApp {
        Self::spawn_on(Backend::Postgres, true, extra).await
    }

    async fn spawn_on(backend: Backend, pooled: bool, extra: &[(&str, &str)]) -> TestApp {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("ezs-test-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut pooler = None;
        let (db_url, pg_databases) = match backend {
            Backend::Sqlite => (format!("sqlite://{}/central.db", dir.display()), vec![]),
            Backend::Postgres => {
                let name = format!("ezs_test_{}", &id[..16]);
                if pooled {
                    pooler = Some(format!("{}/{name}", pgbouncer(5432).await));
                }
                (format!("postgres://postgres@127.0.0.1:5432/{name}"), vec![name.clone()])
            }
        };
        let guard = std::sync::Arc::new(DbGuard { dir: dir.clone(), pg_databases });
        let mut env: HashMap<String, String> = HashMap::from([
            ("DATABASE_URL".into(), db_url),
            ("DATA_DIR".into(), dir.display().to_string()),
            // Development is only ever asked for explicitly (the default is production).
            ("APP_ENV".into(), "development".into()),
            ("OPS_ADDR".into(), "127.0.0.1:0".into()),
            ("KASM_SIM_START_DELAY_MS".into(), "200".into()),
            ("DEMO_DATA".into(), "true".into()),
            ("DEMO_RESELLER".into(), "false".into()),
        ]);
        if let Some(p) = pooler {
            env.insert("DATABASE_POOLER_URL".into(), p);
        }
        for (k, v) in extra {
            env.insert((*k).into(), (*v).into());
        }
        Self::start(env, guard, None).await
    }

    /// Another app server of the same deployment, as a second machine would run it: the same central
    /// database, data key (the same data directory) and Kasm (this server's simulator, reached over HTTP),
    /// with `extra` changes to its configuration. It has its own port, workers, loops and in-memory state.
    /// Meant for PostgreSQL, the engine of several servers.
    pub async fn spawn_beside(&self, extra: &[(&str, &str)]) -> TestApp {
        let sim = server::kasm_sim::SimConfig::default();
        let mut env = self.env.clone();
        env.insert("KASM_URL".into(), format!("http://{}", self.sim_addr));
        env.insert("KASM_API_KEY".into(), sim.api_key);
        env.insert("KASM_API_SECRET".into(), sim.api_secret);
        // The demo storefront's Stripe keys stay with the first server's Stripe fake.
        env.insert("STRIPE_FAKE".into(), "false".into());
        for (k, v) in extra {
            env.insert((*k).into(), (*v).into());
        }
        Self::start(env, self._guard.clone(), Some((self.sim.clone(), self.sim_addr))).await
    }

    /// `shared_sim`: the simulator of the server this one was spawned beside (it runs none of its own).
    async fn start(
        env: HashMap<String, String>,
        guard: std::sync::Arc<DbGuard>,
        shared_sim: Option<(Simulator, SocketAddr)>,
    ) -> TestApp {
        // `TEST_LOG=1` (with `RUST_LOG` as usual) prints the application's logs, to find why a test failed.
        if std::env::var_os("TEST_LOG").is_some() {
            logs::init();
        }
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
        let db_url = config.database_url.clone();
        site_fixture();
        let leptos = LeptosOptions::builder()
            .output_name("ezscale")
            .site_root("target/site")
            .site_pkg_dir("pkg")
            .site_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
            .build();
        let app = Application::build(config, leptos).await.expect("application builds");
        let addr = app.local_addr().unwrap();
        let ops_addr = app.ops_addr().unwrap();
        let (sim, sim_addr) = app.simulator().cloned().or(shared_sim).expect("simulator");
        let state = app.state().clone();
        let stripe = app.stripe_fake().cloned();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = app
                .run_until(async move {
                    let _ = rx.await;
                })
                .await;
        });
        TestApp {
            base: format!("http://{addr}"),
            addr,
            ops_addr,
            db_url,
            sim,
            sim_addr,
            state,
            stripe,
            shutdown: Some(tx),
            server: Some(server),
            env,
            _guard: guard,
        }
    }

    /// Stops the server gracefully and starts the application again on the same databases and data
    /// directory (as a process restart would), with `extra` changes to its configuration.
    pub async fn restart(mut self, extra: &[(&str, &str)]) -> TestApp {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(30), s).await.expect("the server stops").unwrap();
        }
        let mut env = std::mem::take(&mut self.env);
        for (k, v) in extra {
            env.insert((*k).into(), (*v).into());
        }
        let shared_sim = env.contains_key("KASM_URL").then(|| (self.sim.clone(), self.sim_addr));
        Self::start(env, self._guard.clone(), shared_sim).await
    }

    /// A plain client of the operations listener.
    pub fn ops_client(&self) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap(),
            base: format!("http://{}", self.ops_addr),
        }
    }

    /// The server's data directory (SQLite files, the development data key).
    pub fn data_dir(&self) -> &std::path::Path {
        &self._guard.dir
    }

    /// Stops the server gracefully (waits for it), as SIGTERM would.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(s) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), s).await;
        }
    }

    /// A browser-like client with its own cookie jar.
    pub fn client(&self) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_TIMEOUT)
                .build()
                .unwrap(),
            base: self.base.clone(),
        }
    }

    /// A browser-like client for one host name (resolved to this server, as DNS would in production):
    /// `acme.localhost`, `shop.example.test`, `admin.localhost` ...
    pub fn client_for(&self, host: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(REQUEST_TIMEOUT)
                .resolve(host, self.addr)
                .build()
                .unwrap(),
            base: format!("http://{host}:{}", self.addr.port()),
        }
    }

    pub async fn signed_in(&self, email: &str, password: &str) -> Client {
        let c = self.client();
        c.call::<()>("login", &[("email", email), ("password", password)]).await.expect("login");
        c
    }

    pub async fn demo(&self) -> Client {
        self.signed_in("demo@ezscale.test", "demo-password").await
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
}

/// A request that got no answer, with its whole chain of causes (a timeout, a refused or reset
/// connection, an answer cut short…): reqwest's own message names only the URL.
fn failure(e: &reqwest::Error) -> String {
    let mut text = format!("{e} (timeout: {}, connect: {})", e.is_timeout(), e.is_connect());
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

impl Client {
    /// Calls a server function the way the browser does (form-encoded POST to /api/<name>).
    pub async fn call<T: DeserializeOwned>(&self, name: &str, args: &[(&str, &str)]) -> Result<T, (u16, AppError)> {
        let res = self
            .http
            .post(format!("{}/api/{name}", self.base))
            .form(args)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name} on {}: {}", self.base, failure(&e)));
        let status = res.status().as_u16();
        let body = res.bytes().await.expect("body");
        if (200..300).contains(&status) {
            Ok(serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("{name}: {e}: {}", String::from_utf8_lossy(&body))))
        } else {
            let err = serde_json::from_slice(&body)
                .unwrap_or_else(|_| panic!("{name}: status {status}: {}", String::from_utf8_lossy(&body)));
            Err((status, err))
        }
    }

    /// A server function's raw answer: status and body, whatever they are.
    pub async fn call_raw(&self, name: &str, args: &[(&str, &str)]) -> (u16, String) {
        let res = self
            .http
            .post(format!("{}/api/{name}", self.base))
            .form(args)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name} on {}: {}", self.base, failure(&e)));
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    }

    /// A GET with extra headers (raw status and body).
    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = req.send().await.unwrap_or_else(|e| panic!("GET {path}: {}", failure(&e)));
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    }

    pub async fn get_page(&self, path: &str) -> (u16, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} on {}: {}", self.base, failure(&e)));
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    }
}

/// The stylesheet of the test servers' built site (`target/site/pkg`, beside the server crate), written
/// before the first server of the process reads its build: the one file the tests know is in the build.
pub const SITE_STYLESHEET: &str = "/* the integration tests' built site */\n";

fn site_fixture() {
    static WRITTEN: std::sync::Once = std::sync::Once::new();
    WRITTEN.call_once(|| {
        let dir = std::path::Path::new("target/site/pkg");
        std::fs::create_dir_all(dir).expect("the test site's directory");
        std::fs::write(dir.join("ezscale.css"), SITE_STYLESHEET).expect("the test site's stylesheet");
    });
}

/// A client on the house storefront that carries exactly this `Cookie` header (a replayed or stolen one).
pub fn with_cookie_client(app: &TestApp, cookie: &str) -> Client {
    with_cookie_on(app, None, cookie)
}

/// A client on `host` (default: the house at 127.0.0.1) that carries exactly this `Cookie` header.
pub fn with_cookie_on(app: &TestApp, host: Option<&str>, cookie: &str) -> Client {
    use reqwest::header::{HeaderMap, HeaderValue, COOKIE};
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    let mut builder = reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT);
    let base = match host {
        Some(h) => {
            builder = builder.resolve(h, app.addr);
            format!("http://{h}:{}", app.addr.port())
        }
        None => app.base.clone(),
    };
    Client { http: builder.build().unwrap(), base }
}

/// Orders `plan` as the client's customer; returns the workspace id.
pub async fn order(c: &Client, plan: &str) -> String {
    let cat: app::catalog::CatalogView = c.call("catalog", &[]).await.unwrap();
    let key = cat.order_key.expect("signed in, so an order key");
    c.call("order_workspace", &[("plan", plan), ("order_key", &key)]).await.unwrap()
}

pub async fn detail(c: &Client, id: &str) -> app::domain::workspace_view::WorkspaceDetail {
    c.call("get_workspace", &[("id", id)]).await.unwrap()
}

/// Waits (up to 15 s) for the workspace to reach `want`.
pub async fn until_state(
    c: &Client,
    id: &str,
    want: app::domain::workspace::WorkspaceState,
) -> app::domain::workspace_view::WorkspaceDetail {
    eventually(Duration::from_secs(15), &format!("workspace {id} {want:?}"), || async {
        let d = detail(c, id).await;
        (d.card.state == want).then_some(d)
    })
    .await
}

/// A local address where a connection is refused, for as long as the returned socket lives: it is bound (so
/// no other socket can take its port) but never listens. Binding a listener and dropping it to find a free
/// port would let any test running beside this one in the process take that port, and answer.
pub fn refusing_addr() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

/// Polls `check` until it returns Some, or panics after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs a test body against SQLite and against PostgreSQL, as two tests. (`main.rs` declares this module
/// with `#[macro_use]` first, so every test module can use it.)
macro_rules! on_both_backends {
    ($(#[$m:meta])* $name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::common::Backend::Postgres).await
            }
        }
    };
}

impl TestApp {
    /// The simulator's id of the session serving workspace `id` (it carries our id in its environment).
    pub async fn kasm_session_of(&self, id: &str) -> Option<uuid::Uuid> {
        let sessions: serde_json::Value =
            reqwest::get(format!("http://{}/__sim/sessions", self.sim_addr)).await.ok()?.json().await.ok()?;
        sessions.as_array()?.iter().find_map(|s| {
            (s["environment"]["EZSCALE_WORKSPACE_ID"].as_str() == Some(id))
                .then(|| s["kasm_id"].as_str().and_then(|k| uuid::Uuid::parse_str(k).ok()))
                .flatten()
        })
    }
}

/// The text of a PDF as poppler reads it (`pdftotext -layout`). `scripts/bootstrap.sh test` (run by
/// `make test`) installs poppler-utils; without it the test fails saying so, never skips.
pub async fn pdftotext(pdf: Vec<u8>) -> String {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new("pdftotext")
            .args(["-layout", "-enc", "UTF-8", "-", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("pdftotext cannot run ({e}): install poppler-utils (`scripts/bootstrap.sh test` does)")
            });
        child.stdin.take().unwrap().write_all(&pdf).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "pdftotext rejected the file: {}", String::from_utf8_lossy(&out.stderr));
        // poppler warns on stderr about anything it had to guess at (a broken font, a bad cross-reference).
        assert!(out.stderr.is_empty(), "pdftotext complained: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap()
}

/// A tenant made the way the admin app makes one (owner `owner@<slug>.test`, password `<slug>-owner-password`).
pub async fn make_tenant(app: &TestApp, slug: &str) {
    use app::backend::resellers::lifecycle::{self, NewTenantInput};
    let input = NewTenantInput {
        name: format!("{slug} cloud"),
        slug: slug.into(),
        owner_email: format!("owner@{slug}.test"),
        owner_password: Some(format!("{slug}-owner-password")),
        ..NewTenantInput::default()
    };
    let new = lifecycle::validate(&input).unwrap();
    lifecycle::create(&app.state, &app.db_url, new).await.unwrap();
}

/// Every table of the PostgreSQL database at `url` with its row count, by name.
pub async fn table_counts(url: &str) -> Vec<(String, i64)> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .fetch_all(&mut c)
            .await
            .unwrap();
    let mut out = Vec::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM \"{t}\"")))
            .fetch_one(&mut c)
            .await
            .unwrap();
        out.push((t, n));
    }
    out
}

/// The sum of a tenant database's credit ledger, in minor units.
pub async fn ledger_sum(url: &str) -> i64 {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT COALESCE(SUM(amount_minor), 0)::bigint FROM credit_ledger")
        .fetch_one(&mut c)
        .await
        .unwrap()
}
