//! Tenant databases on several PostgreSQL servers (issue 15, item 4): a managed list of servers, new
//! tenants placed on the one with the most room, and a tenant moved between two real PostgreSQL clusters
//! (the second started by `scripts/second-postgres.sh`) while two app servers keep serving its customers:
//! reads never fail, a change during the pause is refused with a clear message, nothing is lost (row counts
//! and the ledger's sum equal before and after), and a move cut short resumes or rolls back.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use app::admin::databases::DatabasesData;
use app::backend::tenancy::db_servers::{self, ServerState};
use app::backend::tenancy::moves::{self, MoveStep};
use app::backend::tenancy::TenantError;
use app::backend::PAUSED_FOR_MOVE;
use app::error::AppError;
use sqlx::Connection;

use crate::common::{ledger_sum, make_tenant, second_postgres, table_counts, Backend, Client, TestApp};

async fn server_of(app: &TestApp, slug: &str) -> Option<String> {
    sqlx::query_scalar("SELECT db_server FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_one(app.state.central().pool())
        .await
        .unwrap()
}

async fn database_exists(admin: &str, name: &str) -> bool {
    let mut c = sqlx::PgConnection::connect(admin).await.unwrap();
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut c)
        .await
        .unwrap();
    found.is_some()
}

fn db_name(url: &str) -> String {
    url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_tenants_go_to_the_server_with_the_most_room_and_a_draining_one_takes_none() {
    let second = second_postgres().await;
    let app = TestApp::spawn(Backend::Postgres).await;
    let central = app.state.central();

    // Refused, each with its reason, and nothing added.
    let refused = |r: Result<db_servers::DbServer, TenantError>| match r {
        Err(TenantError::Invalid(m) | TenantError::Conflict(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(refused(
        db_servers::add(central, "db-2", "postgres://postgres:secret@127.0.0.1:55433/postgres", None, 1).await
    )
    .contains("password"));
    assert!(refused(db_servers::add(central, "primary", second, None, 1).await).contains("central"));
    assert!(refused(db_servers::add(central, "db 2", second, None, 1).await).contains("lowercase"));
    assert!(refused(db_servers::add(central, "db-2", second, None, 0).await).contains("weight"));
    let (_socket, closed) = crate::common::refusing_addr();
    let unreachable = format!("postgres://postgres@{closed}/postgres");
    assert!(refused(db_servers::add(central, "db-9", &unreachable, None, 1).await).contains("does not answer"));
    assert_eq!(db_servers::list(central, &app.db_url).await.unwrap().len(), 1, "only primary");

    let added = db_servers::add(central, "db-2", second, None, 1).await.unwrap();
    assert_eq!((added.name.as_str(), added.state), ("db-2", ServerState::Active));
    assert!(refused(db_servers::add(central, "db-2", second, None, 1).await).contains("already"));

    // The house is on primary: the next tenant goes to db-2, then (a tie) primary, then db-2.
    for slug in ["pla", "plb", "plc"] {
        make_tenant(&app, slug).await;
    }
    assert_eq!(server_of(&app, "pla").await.as_deref(), Some("db-2"));
    assert_eq!(server_of(&app, "plb").await.as_deref(), Some("primary"));
    assert_eq!(server_of(&app, "plc").await.as_deref(), Some("db-2"));
    let pa = app.state.registry().entry_by_slug("pla").await.unwrap().unwrap();
    assert!(pa.db_url.contains(":55433/"), "{}", pa.db_url);
    assert!(database_exists(second, &db_name(&pa.db_url)).await, "pa's database is on the second server");
    // Its storefront works from there.
    assert_eq!(app.client_for("pla.localhost").get_page("/").await.0, 200);

    // Draining: db-2 keeps its tenants and takes no new one, even with the most room.
    db_servers::set_state(central, "db-2", ServerState::Draining).await.unwrap();
    make_tenant(&app, "pld").await;
    assert_eq!(server_of(&app, "pld").await.as_deref(), Some("primary"));
    let listed = db_servers::list(central, &app.db_url).await.unwrap();
    let counts: Vec<(&str, i64, ServerState)> = listed.iter().map(|s| (s.name.as_str(), s.tenants, s.state)).collect();
    assert_eq!(counts, [("primary", 3, ServerState::Active), ("db-2", 2, ServerState::Draining)]);
    assert!(db_servers::set_state(central, "primary", ServerState::Draining).await.is_err(), "primary never drains");
    app.stop().await;
}

/// Reads `paths` from both servers in a loop until `stop`; counts the reads and the failed ones.
fn keep_reading(
    clients: Vec<Client>,
    stop: Arc<AtomicBool>,
) -> (Arc<AtomicUsize>, Arc<AtomicUsize>, tokio::task::JoinHandle<Vec<String>>) {
    let (reads, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (r, f) = (reads.clone(), failures.clone());
    let task = tokio::spawn(async move {
        let mut failed = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            for c in &clients {
                for path in ["/workspaces", "/billing"] {
                    let (status, body) = c.get_page(path).await;
                    r.fetch_add(1, Ordering::Relaxed);
                    if status != 200 {
                        f.fetch_add(1, Ordering::Relaxed);
                        failed.push(format!("{path}: {status} {}", body.chars().take(200).collect::<String>()));
                    }
                }
            }
        }
        failed
    });
    (reads, failures, task)
}

/// Every table's row count and the ledger's sum, read straight from a tenant database.
async fn contents(url: &str) -> (Vec<(String, i64)>, i64) {
    (table_counts(url).await, ledger_sum(url).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_moves_to_another_server_while_its_customers_keep_reading_and_nothing_is_lost() {
    let second = second_postgres().await;
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.spawn_beside(&[]).await;
    db_servers::add(a.state.central(), "db-2", second, None, 1).await.unwrap();
    let house = a.state.registry().entry_by_slug("house").await.unwrap().unwrap();
    let from_url = house.db_url.clone();
    // The demo customer, signed in on each server, with a workspace of theirs.
    let (ca, cb) = (a.demo().await, b.demo().await);
    let first = crate::common::order(&ca, "developer-basic").await;
    // Running, and its jobs done: nothing of ours writes to the tenant in the background during the test.
    crate::common::until_state(&ca, &first, app::domain::workspace::WorkspaceState::Running).await;
    crate::common::eventually(std::time::Duration::from_secs(15), "the workspace's jobs finished", || async {
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND payload LIKE $1")
            .bind(format!("%{first}%"))
            .fetch_one(a.state.central().pool())
            .await
            .ok()?;
        (open == 0).then_some(())
    })
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let (reads, failures, reader) = keep_reading(vec![a.demo().await, b.demo().await], stop.clone());

    // A move cut short after its copy: the tenant stays paused (its changes refused, clearly), readable.
    a.state.failpoints().arm("move.before_switch", 1);
    let cut = moves::run(&a.state, &a.db_url, "house", "db-2", |_| {}).await;
    assert!(cut.is_err(), "the failpoint stopped the move");
    let m = moves::latest(&a.state, "house").await.unwrap().unwrap();
    assert_eq!((m.step, m.from_server.as_str(), m.to_server.as_str()), (MoveStep::Copied, "primary", "db-2"));
    // Paused, the source takes no writes: what it holds now is what must arrive.
    let before = contents(&from_url).await;
    assert!(before.1 > 0, "the demo customer has credit in the ledger");
    assert_eq!(m.counts, before.0, "the copy was verified against these counts");
    for c in [&ca, &cb] {
        let cat: app::catalog::CatalogView = c.call("catalog", &[]).await.unwrap();
        let key = cat.order_key.expect("signed in, so an order key");
        let refused = c.call::<String>("order_workspace", &[("plan", "developer-basic"), ("order_key", &key)]).await;
        match refused {
            Err((503, AppError::Unavailable(msg))) => assert_eq!(msg, PAUSED_FOR_MOVE),
            other => panic!("a change during the pause: expected the pause message, got {other:?}"),
        }
    }
    // Another move of it, elsewhere, must wait for this one.
    assert!(matches!(moves::run(&a.state, &a.db_url, "house", "primary", |_| {}).await, Err(TenantError::Conflict(_))));

    // Resumed: it switches and finishes.
    let mut steps = Vec::new();
    let report = moves::run(&a.state, &a.db_url, "house", "db-2", |s| steps.push(s)).await.unwrap();
    assert_eq!(steps, [MoveStep::Switched, MoveStep::Done]);
    assert_eq!(report.moved.step, MoveStep::Done);
    let to_url = report.moved.to_url.clone();
    assert!(to_url.contains(":55433/"), "{to_url}");
    stop.store(true, Ordering::Relaxed);
    let failed = reader.await.unwrap();
    assert!(failed.is_empty(), "reads failed during the move: {failed:?}");
    assert!(reads.load(Ordering::Relaxed) >= 8, "the customers kept reading ({} reads)", reads.load(Ordering::Relaxed));
    assert_eq!(failures.load(Ordering::Relaxed), 0);

    // Nothing lost: every table's rows and the ledger's sum arrived. (Compared before the orders below; the
    // readers' sessions are the same rows, as no write reached either database since the pause.)
    let after = contents(&to_url).await;
    assert_eq!(after, before);
    assert_eq!(report.moved.counts, before.0);
    assert!(!database_exists(crate::common::PG_ADMIN, &db_name(&from_url)).await, "the old database is dropped");
    assert_eq!(server_of(&a, "house").await.as_deref(), Some("db-2"));

    // Both servers write to the new database: orders go through and land there.
    let on_a = crate::common::order(&ca, "developer-basic").await;
    let on_b = crate::common::order(&cb, "developer-basic").await;
    let mut c = sqlx::PgConnection::connect(&to_url).await.unwrap();
    for id in [&first, &on_a, &on_b] {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workspaces WHERE id = $1")
            .bind(id)
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 1, "workspace {id} is in the new database");
    }
    // Recorded in the audit log.
    let moved: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'tenant.moved'")
        .fetch_one(a.state.central().pool())
        .await
        .unwrap();
    assert_eq!(moved, 1);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_rolled_back_leaves_the_tenant_writable_where_it_was() {
    let second = second_postgres().await;
    let app = TestApp::spawn(Backend::Postgres).await;
    let central = app.state.central();
    db_servers::add(central, "db-2", second, None, 1).await.unwrap();
    make_tenant(&app, "rbk").await;
    assert_eq!(server_of(&app, "rbk").await.as_deref(), Some("db-2"));
    let house_url = app.state.registry().entry_by_slug("house").await.unwrap().unwrap().db_url.clone();

    // Nowhere to go: its own server, an unknown one, a draining one.
    assert!(matches!(
        moves::run(&app.state, &app.db_url, "house", "primary", |_| {}).await,
        Err(TenantError::Invalid(_))
    ));
    assert!(matches!(moves::run(&app.state, &app.db_url, "house", "db-7", |_| {}).await, Err(TenantError::Invalid(_))));
    db_servers::set_state(central, "db-2", ServerState::Draining).await.unwrap();
    assert!(matches!(moves::run(&app.state, &app.db_url, "house", "db-2", |_| {}).await, Err(TenantError::Invalid(_))));
    db_servers::set_state(central, "db-2", ServerState::Active).await.unwrap();
    assert!(matches!(moves::roll_back(&app.state, "house").await, Err(TenantError::Invalid(_))), "no move yet");

    let c = app.demo().await;
    app.state.failpoints().arm("move.before_switch", 1);
    assert!(moves::run(&app.state, &app.db_url, "house", "db-2", |_| {}).await.is_err());
    let to = moves::latest(&app.state, "house").await.unwrap().unwrap().to_url;
    assert!(database_exists(second, &db_name(&to)).await);
    let back = moves::roll_back(&app.state, "house").await.unwrap();
    assert_eq!(back.step, MoveStep::RolledBack);
    assert!(!database_exists(second, &db_name(&to)).await, "the copy is dropped");
    assert_eq!(moves::roll_back(&app.state, "house").await.unwrap().step, MoveStep::RolledBack, "again: nothing to do");
    // Where it was, and writable again at once.
    assert_eq!(app.state.registry().entry_by_slug("house").await.unwrap().unwrap().db_url, house_url);
    let id = crate::common::order(&c, "developer-basic").await;
    let mut conn = sqlx::PgConnection::connect(&house_url).await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workspaces WHERE id = $1")
        .bind(&id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 1);
    app.stop().await;
}

async fn admin(app: &TestApp) -> Client {
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    admin
}

/// The admin page's server functions: list, add (refusals named), drain and activate, each audited with
/// the admin's name; only for a signed-in admin. SQLite says why there is nothing to manage.
async fn the_admin_manages_database_servers_audited(b: Backend) {
    let app = TestApp::spawn(b).await;
    let anonymous = app.client_for("admin.localhost");
    assert!(matches!(anonymous.call::<DatabasesData>("admin_databases", &[]).await, Err((401, _))));
    let admin = admin(&app).await;
    let listed: DatabasesData = admin.call("admin_databases", &[]).await.unwrap();
    if matches!(b, Backend::Sqlite) {
        assert!(!listed.postgres && listed.servers.is_empty());
        let refused =
            admin.call::<String>("admin_add_db_server", &[("name", "db-2"), ("url", SECOND), ("weight", "1")]).await;
        assert!(matches!(refused, Err((400, AppError::Invalid(m))) if m.contains("PostgreSQL")));
        app.stop().await;
        return;
    }
    second_postgres().await;
    let names =
        |d: &DatabasesData| d.servers.iter().map(|s| (s.name.clone(), s.tenants, s.draining)).collect::<Vec<_>>();
    assert_eq!(names(&listed), [("primary".to_owned(), 1, false)]);
    let refused =
        admin.call::<String>("admin_add_db_server", &[("name", "db-2"), ("url", SECOND), ("weight", "lots")]).await;
    assert!(matches!(refused, Err((400, AppError::Invalid(m))) if m.contains("weight")));
    let with_password = "postgres://postgres:pw@127.0.0.1:55433/postgres";
    let refused =
        admin.call::<String>("admin_add_db_server", &[("name", "db-2"), ("url", with_password), ("weight", "1")]).await;
    assert!(matches!(refused, Err((400, AppError::Invalid(m))) if m.contains("password")));
    let added: String =
        admin.call("admin_add_db_server", &[("name", "db-2"), ("url", SECOND), ("weight", "2")]).await.unwrap();
    assert_eq!(added, "db-2");
    admin.call::<()>("admin_set_db_server_state", &[("name", "db-2"), ("drain", "true")]).await.unwrap();
    let listed: DatabasesData = admin.call("admin_databases", &[]).await.unwrap();
    assert_eq!(names(&listed), [("primary".to_owned(), 1, false), ("db-2".to_owned(), 0, true)]);
    assert_eq!(listed.servers[1].weight, 2);
    admin.call::<()>("admin_set_db_server_state", &[("name", "db-2"), ("drain", "false")]).await.unwrap();
    assert!(matches!(
        admin.call::<()>("admin_set_db_server_state", &[("name", "primary"), ("drain", "true")]).await,
        Err((400, _))
    ));
    let audited: Vec<(String, String, String)> =
        sqlx::query_as("SELECT actor, action, detail FROM audit_log WHERE action LIKE 'db_server.%' ORDER BY action")
            .fetch_all(app.state.central().pool())
            .await
            .unwrap();
    let actions: Vec<&str> = audited.iter().map(|(_, a, _)| a.as_str()).collect();
    assert_eq!(actions, ["db_server.activated", "db_server.added", "db_server.drained"]);
    assert!(audited.iter().all(|(who, _, _)| who == "admin@ezscale.test"), "{audited:?}");
    assert!(audited[1].2.contains("db-2") && !audited[1].2.contains("pw"), "{audited:?}");

    // A server with its PgBouncer: both must answer, and the list shows where queries go.
    let pooler = format!("{}/postgres", crate::common::pgbouncer(55433).await);
    let (_refusing, closed) = crate::common::refusing_addr();
    let nowhere = format!("postgres://postgres@{closed}/postgres");
    let refused = admin
        .call::<String>(
            "admin_add_db_server",
            &[("name", "db-3"), ("url", SECOND), ("pooler", &nowhere), ("weight", "1")],
        )
        .await;
    assert!(matches!(&refused, Err((400, AppError::Invalid(m))) if m.contains("does not answer")), "{refused:?}");
    let added: String = admin
        .call("admin_add_db_server", &[("name", "db-3"), ("url", SECOND), ("pooler", &pooler), ("weight", "1")])
        .await
        .unwrap();
    assert_eq!(added, "db-3");
    let listed: DatabasesData = admin.call("admin_databases", &[]).await.unwrap();
    let poolers: Vec<(&str, Option<&str>)> =
        listed.servers.iter().map(|s| (s.name.as_str(), s.pooler_url.as_deref())).collect();
    assert_eq!(poolers, [("primary", None), ("db-2", None), ("db-3", Some(pooler.as_str()))]);
    let detail: String =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'db_server.added' AND detail LIKE 'db-3%'")
            .fetch_one(app.state.central().pool())
            .await
            .unwrap();
    assert!(detail.contains(&format!("through {pooler}")), "{detail}");
    app.stop().await;
}
on_both_backends!(the_admin_manages_database_servers_audited);

const SECOND: &str = crate::common::SECOND_PG_ADMIN;
