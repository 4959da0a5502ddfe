//! Several app servers on one central PostgreSQL database (issue 15, items 1 and 2): open pages hear a
//! change whichever server handled it, once; a server whose listening connection is cut listens again and
//! its pages resync; live-event payloads carry ids only; and attempt limits are the same for the cluster
//! as for one server. The servers are `TestApp`s started beside each other (`TestApp::spawn_beside`): one
//! central database, one data key, one Kasm simulator, each with its own port, workers and memory.
//!
//! The attempt-limit table itself (atomic counting, windows, hashed keys, purge) is tested on both engines.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use app::backend::platform::events::{WorkspaceChanged, CHANNEL};
use app::backend::platform::limits::{Limiter, Policy, Verdict};
use app::domain::ids::{CustomerId, TenantId, WorkspaceId};
use app::domain::workspace::WorkspaceState;
use app::domain::workspace_view::WorkspaceDetail;
use app::error::AppError;

use crate::common::{detail, eventually, order, until_state, Backend, Client, TestApp, PG_ADMIN};

const WAIT: Duration = Duration::from_secs(15);

/// An open page's event stream on one server, and everything it has carried so far.
struct Page {
    res: reqwest::Response,
    seen: String,
    server: String,
}

impl Page {
    async fn open(c: &Client, app: &TestApp) -> Page {
        let res = c.http.get(format!("{}/events/workspaces", app.base)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        Page { res, seen: String::new(), server: app.base.clone() }
    }

    /// Reads until the stream has carried `needle`, for at most `within`; whether it did.
    async fn carries_within(&mut self, needle: &str, within: Duration) -> bool {
        let (res, seen) = (&mut self.res, &mut self.seen);
        tokio::time::timeout(within, async {
            while !seen.contains(needle) {
                match res.chunk().await.unwrap() {
                    Some(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
                    None => return false,
                }
            }
            true
        })
        .await
        .unwrap_or(false)
    }

    async fn until(&mut self, needle: &str) {
        let found = self.carries_within(needle, WAIT).await;
        assert!(found, "the page on {} never carried {needle:?}; got {:?}", self.server, self.seen);
    }

    /// The part of the stream before `needle` (all of it if absent).
    fn before(&self, needle: &str) -> &str {
        self.seen.find(needle).map_or(self.seen.as_str(), |i| &self.seen[..i])
    }

    /// `workspace` events about `id` the stream carried before `needle`.
    fn events_before(&self, id: &str, needle: &str) -> usize {
        self.before(needle).matches(&format!("event: workspace\ndata: {id}\n")).count()
    }
}

/// Waits until `app` listens for live events; its listening connection's backend process id.
async fn listening(app: &TestApp) -> i32 {
    eventually(WAIT, "the server listens for live events", || async { app.state.events().listener_pid() }).await
}

/// Waits until no job of workspace `id` is queued: nothing more will be announced about it.
async fn settled(app: &TestApp, id: &str) {
    eventually(WAIT, "the workspace's jobs finished", || async {
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND payload LIKE $1")
            .bind(format!("%{id}%"))
            .fetch_one(app.state.central().pool())
            .await
            .ok()?;
        (open == 0).then_some(())
    })
    .await;
}

/// The house storefront's id and the id of its customer `email`.
async fn ids_of(app: &TestApp, email: &str) -> (TenantId, CustomerId) {
    let house = app.state.house().await.unwrap();
    let customer: String = sqlx::query_scalar("SELECT id FROM customers WHERE email = $1")
        .bind(email)
        .fetch_one(house.db.pool())
        .await
        .unwrap();
    (house.id, customer.parse().unwrap())
}

/// An event about a workspace that does not exist, for `customer`: a marker in the streams. Every server's
/// pages receive events in the order PostgreSQL delivers notifications, the same for all listeners.
fn marker(tenant: TenantId, customer: CustomerId) -> WorkspaceChanged {
    WorkspaceChanged { tenant, customer, workspace: WorkspaceId::from_uuid(uuid::Uuid::new_v4()) }
}

/// A running workspace of `c`'s customer whose jobs are done.
async fn running(app: &TestApp, c: &Client) -> String {
    let id = order(c, "developer-basic").await;
    until_state(c, &id, WorkspaceState::Running).await;
    settled(app, &id).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_one_server_hears_a_stop_handled_by_another_within_two_seconds_and_only_once() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.spawn_beside(&[]).await;
    let c = a.spawn_beside(&[]).await;
    // Session cookies are the browser's for 127.0.0.1, whichever server (port) answers.
    let demo = a.demo().await;
    let other = a.signed_in("other@ezscale.test", "other-password").await;
    let id = running(&a, &demo).await;
    for app in [&a, &b, &c] {
        listening(app).await;
    }
    let mut pages = [Page::open(&demo, &a).await, Page::open(&demo, &b).await, Page::open(&demo, &c).await];
    let mut others_page = Page::open(&other, &b).await;

    let t0 = Instant::now();
    let _: WorkspaceDetail = demo.call("stop_workspace", &[("id", &id)]).await.unwrap();
    for page in &mut pages[1..] {
        let left = Duration::from_secs(2).saturating_sub(t0.elapsed());
        let heard = page.carries_within(&format!("event: workspace\ndata: {id}\n"), left).await;
        assert!(heard, "no event on {} within 2 s of the stop handled by {}; got {:?}", page.server, a.base, page.seen);
    }

    // Every page carries the same events in the same order, so up to a marker published once everything
    // about the workspace was, each carries the same number about it: a server that delivered its own
    // events directly as well as through PostgreSQL would show more.
    until_state(&demo, &id, WorkspaceState::Stopped).await;
    settled(&a, &id).await;
    let (tenant, customer) = ids_of(&a, "demo@ezscale.test").await;
    let done = marker(tenant, customer);
    b.state.publish(done);
    let needle = format!("data: {}\n", done.workspace);
    for page in &mut pages {
        page.until(&needle).await;
    }
    let counts = pages.each_ref().map(|p| p.events_before(&id, &needle));
    assert!(counts[0] >= 2, "the stop and the stopped state at least: {counts:?}");
    assert_eq!(counts, [counts[0]; 3], "the same events on every server, once each");
    assert!(pages.iter().all(|p| !p.before(&needle).contains("event: resync")), "nothing was missed");

    // Another customer's page (the same storefront) heard none of it.
    let (_, other_id) = ids_of(&a, "other@ezscale.test").await;
    let theirs = marker(tenant, other_id);
    c.state.publish(theirs);
    others_page.until(&format!("data: {}\n", theirs.workspace)).await;
    assert!(!others_page.seen.contains(&id), "another customer's page carried {:?}", others_page.seen);
    assert!(!others_page.seen.contains(&done.workspace.to_string()));
    for app in [c, b, a] {
        app.stop().await;
    }
}

/// A rename on one server reaches the customer's page open on another (a second tab or device shows the
/// new name), and only theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_on_one_server_reaches_the_customers_page_on_another() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.spawn_beside(&[]).await;
    let demo = a.demo().await;
    let other = a.signed_in("other@ezscale.test", "other-password").await;
    let id = running(&a, &demo).await;
    listening(&b).await;
    let mut page = Page::open(&demo, &b).await;
    let mut others_page = Page::open(&other, &b).await;
    let renamed: WorkspaceDetail = demo.call("rename_workspace", &[("id", &id), ("name", "Thesis box")]).await.unwrap();
    assert_eq!(renamed.card.name, "Thesis box");
    page.until(&format!("event: workspace\ndata: {id}\n")).await;
    let (tenant, other_id) = ids_of(&a, "other@ezscale.test").await;
    let theirs = marker(tenant, other_id);
    a.state.publish(theirs);
    others_page.until(&format!("data: {}\n", theirs.workspace)).await;
    assert!(!others_page.seen.contains(&id), "another customer's page carried {:?}", others_page.seen);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_whose_listening_connection_is_cut_listens_again_and_its_pages_resync() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.spawn_beside(&[]).await;
    let demo = a.demo().await;
    let (a_pid, b_pid) = (listening(&a).await, listening(&b).await);
    let mut on_a = Page::open(&demo, &a).await;
    let mut on_b = Page::open(&demo, &b).await;

    use sqlx::Connection;
    let mut admin = sqlx::PgConnection::connect(PG_ADMIN).await.unwrap();
    let (name, db): (String, String) =
        sqlx::query_as("SELECT application_name, datname FROM pg_stat_activity WHERE pid = $1")
            .bind(b_pid)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert_eq!(name, "ezscale-live", "the listener is named in pg_stat_activity");
    assert!(a.db_url.ends_with(&format!("/{db}")), "{db} is the central database");
    let cut: bool =
        sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(b_pid).fetch_one(&mut admin).await.unwrap();
    assert!(cut);

    on_b.until("event: resync\n").await;
    let again = listening(&b).await;
    assert_ne!(again, b_pid, "a new connection");
    assert_eq!(b.state.events().reconnects(), 1);
    let (_, metrics) = b.ops_client().get_page("/metrics").await;
    assert!(metrics.contains("\nezs_live_listener_up 1\n"), "{metrics}");
    assert!(metrics.contains("\nezs_live_listener_reconnects_total 1\n"), "{metrics}");

    // Events flow again, to both servers' pages; the server that kept its connection never resynced.
    let (tenant, customer) = ids_of(&a, "demo@ezscale.test").await;
    let ev = marker(tenant, customer);
    a.state.publish(ev);
    let needle = format!("data: {}\n", ev.workspace);
    on_b.until(&needle).await;
    on_a.until(&needle).await;
    assert!(!on_a.seen.contains("resync"), "{:?}", on_a.seen);
    assert_eq!(listening(&a).await, a_pid);
    assert_eq!(a.state.events().reconnects(), 0);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_event_payloads_carry_ids_only() {
    use sqlx::postgres::PgListener;
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.spawn_beside(&[]).await;
    let mut spy = PgListener::connect(&a.db_url).await.unwrap();
    spy.listen(CHANNEL).await.unwrap();
    let demo = a.demo().await;
    let id = running(&a, &demo).await;
    let name = detail(&demo, &id).await.card.name;
    // Handled by the other server this time.
    let on_b = Client { http: demo.http.clone(), base: b.base.clone() };
    let _: WorkspaceDetail = on_b.call("stop_workspace", &[("id", &id)]).await.unwrap();
    until_state(&demo, &id, WorkspaceState::Stopped).await;
    settled(&a, &id).await;
    let (tenant, customer) = ids_of(&a, "demo@ezscale.test").await;
    let end = marker(tenant, customer);
    a.state.publish(end);

    let mut payloads = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            let n = spy.recv().await.unwrap();
            if n.payload().contains(&end.workspace.to_string()) {
                break;
            }
            payloads.push(n.payload().to_owned());
        }
    })
    .await
    .expect("the marker was notified");
    assert!(payloads.len() >= 2, "stopping and stopped at least: {payloads:?}");
    let expected: BTreeSet<&str> = ["customer", "kind", "tenant", "workspace"].into();
    for p in &payloads {
        let v: serde_json::Value = serde_json::from_str(p).unwrap();
        let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, expected, "{p}");
        assert_eq!(v["kind"], "workspace", "{p}");
        assert_eq!(v["tenant"], tenant.to_string(), "{p}");
        assert_eq!(v["customer"], customer.to_string(), "{p}");
        assert_eq!(v["workspace"], id, "{p}");
        for secret in [name.as_str(), "demo@ezscale.test", "running", "stopp", "Developer"] {
            assert!(!p.contains(secret), "{p} carries {secret:?}");
        }
    }
    b.stop().await;
    a.stop().await;
}

/// Sends wrong passwords for the demo account, one per server in turn; how many were refused as wrong
/// credentials (401) and how many by the limits (429).
async fn wrong_passwords(servers: &[&TestApp], n: usize) -> (usize, usize) {
    let clients: Vec<Client> = servers.iter().map(|s| s.client()).collect();
    let (mut wrong, mut limited) = (0, 0);
    for i in 0..n {
        match clients[i % clients.len()]
            .call::<()>("login", &[("email", "demo@ezscale.test"), ("password", "guess")])
            .await
        {
            Err((401, AppError::BadCredentials)) => wrong += 1,
            Err((429, AppError::RateLimited { retry_after_secs })) => {
                assert!((1..=300).contains(&retry_after_secs), "{retry_after_secs}");
                limited += 1;
            }
            other => panic!("attempt {i}: {other:?}"),
        }
    }
    (wrong, limited)
}

/// The value of a series in a `/metrics` text.
fn metric(text: &str, series: &str) -> u64 {
    text.lines().find_map(|l| l.strip_prefix(series)?.trim().parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_wrong_passwords_spread_over_three_servers_are_limited_exactly_as_on_one() {
    let alone = TestApp::spawn(Backend::Postgres).await;
    let on_one = wrong_passwords(&[&alone], 20).await;
    alone.stop().await;
    assert_eq!(on_one, (10, 10), "ten tries per account and window");

    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.spawn_beside(&[]).await;
    let c = a.spawn_beside(&[]).await;
    let on_three = wrong_passwords(&[&a, &b, &c], 20).await;
    assert_eq!(on_three, on_one, "the cluster enforces one limit");
    // Each server counted what it refused; together, what one server would have.
    let (mut failures, mut refusals) = (0, 0);
    for app in [&a, &b, &c] {
        let (_, text) = app.ops_client().get_page("/metrics").await;
        failures += metric(&text, "ezs_sign_in_failures_total{role=\"customer\"}");
        refusals += metric(&text, "ezs_limiter_refusals_total{role=\"customer\"}");
    }
    assert_eq!((failures, refusals), (10, 10));
    // Resets too (limited like sign-in, 10 per account), wherever they are asked for.
    let mut answers = Vec::new();
    for i in 0..11 {
        let server = [&a, &b, &c][i % 3];
        answers.push(server.client().call::<()>("request_password_reset", &[("email", "other@ezscale.test")]).await);
    }
    assert!(answers[..10].iter().all(Result::is_ok), "{answers:?}");
    assert!(matches!(answers[10], Err((429, AppError::RateLimited { .. }))), "{answers:?}");
    // Only keyed hashes are stored: no email or address in clear.
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT key_hash FROM attempt_limits").fetch_all(a.state.central().pool()).await.unwrap();
    assert_eq!(keys.len(), 3, "the two accounts' keys and the one address: {keys:?}");
    assert!(keys.iter().all(|k| k.len() == 64 && k.bytes().all(|c| c.is_ascii_hexdigit())), "{keys:?}");
    for app in [c, b, a] {
        app.stop().await;
    }
}

async fn attempt_limits_are_counted_atomically_in_the_central_database(b: Backend) {
    let app = TestApp::spawn(b).await;
    let central = app.state.central().clone();
    let policy = Policy { window: Duration::from_secs(60), per_ip: 5, per_account: 3 };
    let limiter = Limiter::with_policy(central.clone(), app.state.crypto().clone(), policy);
    let role = app::backend::platform::limits::Role::Customer;
    let address = std::net::IpAddr::from([10, 9, 0, 1]);
    let ip = Some(address);
    let allowed = |v: Verdict| v == Verdict::Allowed;

    for _ in 0..3 {
        assert!(allowed(limiter.attempt(role, ip, "login:t:ann@x.test").await.unwrap()));
    }
    match limiter.attempt(role, ip, " Login:T:ANN@x.test ").await.unwrap() {
        Verdict::Refused { retry_after } => {
            assert!(retry_after <= policy.window && retry_after > Duration::from_secs(30), "{retry_after:?}")
        }
        Verdict::Allowed => panic!("the same account, in any case, is over its limit"),
    }
    // The address has made 4 attempts: one more account is fine, the next is over the address's limit.
    assert!(allowed(limiter.attempt(role, ip, "login:t:bob@x.test").await.unwrap()));
    assert!(!allowed(limiter.attempt(role, ip, "login:t:cy@x.test").await.unwrap()));
    assert!(allowed(limiter.attempt(role, None, "login:t:cy@x.test").await.unwrap()), "no address: the account alone");
    assert_eq!(limiter.refusals(role), 2);

    // Twenty attempts at once (as from many servers): exactly the limit gets through.
    let racing = futures::future::join_all((0..20).map(|_| limiter.attempt(role, None, "login:t:dee@x.test"))).await;
    let through = racing.into_iter().map(Result::unwrap).filter(|v| *v == Verdict::Allowed).count();
    assert_eq!(through, 3);

    // Keys are stored as keyed hashes only.
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT key_hash, attempts FROM attempt_limits ORDER BY key_hash")
        .fetch_all(central.pool())
        .await
        .unwrap();
    let stored = |k: &str| rows.iter().find(|(h, _)| h == k).map(|(_, n)| *n);
    assert_eq!(stored(&limiter.account_key("login:t:ann@x.test")), Some(4));
    assert_eq!(stored(&limiter.ip_key(address)), Some(6));
    assert_eq!(stored(&limiter.account_key("login:t:dee@x.test")), Some(20));
    assert!(rows.iter().all(|(h, _)| h.len() == 64 && !h.contains('@') && !h.contains("10.9")), "{rows:?}");

    // A window that has ended starts again at 1 (moved back in the table rather than waiting a minute).
    let ann = limiter.account_key("login:t:ann@x.test");
    sqlx::query("UPDATE attempt_limits SET window_start = window_start - 60000 WHERE key_hash = $1")
        .bind(&ann)
        .execute(central.pool())
        .await
        .unwrap();
    assert!(allowed(limiter.attempt(role, None, "login:t:ann@x.test").await.unwrap()));
    let n: i64 = sqlx::query_scalar("SELECT attempts FROM attempt_limits WHERE key_hash = $1")
        .bind(&ann)
        .fetch_one(central.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);

    // Purging deletes ended windows only. (The server's own purge, in its reconciler's loop, uses the
    // default five-minute window: it leaves these rows alone.)
    let dee = limiter.account_key("login:t:dee@x.test");
    sqlx::query("UPDATE attempt_limits SET window_start = window_start - 61000 WHERE key_hash = $1")
        .bind(&dee)
        .execute(central.pool())
        .await
        .unwrap();
    let before: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM attempt_limits").fetch_one(central.pool()).await.unwrap();
    assert_eq!(limiter.purge_expired().await.unwrap(), 1);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT key_hash FROM attempt_limits").fetch_all(central.pool()).await.unwrap();
    assert_eq!(i64::try_from(left.len()).unwrap(), before - 1);
    assert!(!left.contains(&dee) && left.contains(&ann));
    app.stop().await;
}
on_both_backends!(attempt_limits_are_counted_atomically_in_the_central_database);
