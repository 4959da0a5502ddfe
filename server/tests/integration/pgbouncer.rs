//! Through PgBouncer in transaction pooling mode (Debian's package, started by `scripts/pgbouncer.sh` with
//! two server connections per database): every statement gets its own answer however clients interleave,
//! the app's customer, reseller and billing paths work, and tenant databases reached through a pooler are
//! migrated and created on the server's own URL.

use app::backend::platform::db::{CentralDb, DbAddress};
use app::domain::workspace::WorkspaceState;
use futures::future::join_all;

use crate::common::{make_tenant, order, pgbouncer, pgbouncer_stat, until_state, ScratchDbs, TestApp};

/// The answer a task expects, or what it got instead.
type Checked = Result<(), String>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_over_two_server_connections_each_get_their_own_answers() {
    let pooler = pgbouncer(5432).await;
    let dbs = ScratchDbs::new();
    let direct = dbs.postgres_url("pooled").await;
    let name = direct.rsplit('/').next().unwrap().to_owned();
    // Migrated on the direct URL (the migrator's advisory lock needs one session); queries through PgBouncer.
    let db = CentralDb::open_at(&DbAddress { direct: direct.clone(), pooler: Some(format!("{pooler}/{name}")) })
        .await
        .unwrap();
    assert!(db.pool().through_pooler());
    sqlx::query("CREATE TABLE probe (id BIGINT PRIMARY KEY, label TEXT NOT NULL)").execute(db.pool()).await.unwrap();
    let before = pgbouncer_stat(&pooler, &name, "total_xact_count").await;

    // 400 statements at once from 8 client connections, sharing PgBouncer's 2 server connections: plain
    // reads, writes with RETURNING, two-column answers, and transactions of several statements (whose
    // statements sqlx names) in between.
    let tasks = (0..400_i64).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            let p = db.pool();
            let r: Checked = match i % 4 {
                0 => {
                    let got: String = sqlx::query_scalar("SELECT $1")
                        .bind(format!("answer-{i}"))
                        .fetch_one(p)
                        .await
                        .map_err(|e| e.to_string())?;
                    (got == format!("answer-{i}")).then_some(()).ok_or(format!("{i}: got {got}"))
                }
                1 => {
                    let got: String =
                        sqlx::query_scalar("INSERT INTO probe (id, label) VALUES ($1, $2) RETURNING label")
                            .bind(i)
                            .bind(format!("row-{i}"))
                            .fetch_one(p)
                            .await
                            .map_err(|e| e.to_string())?;
                    (got == format!("row-{i}")).then_some(()).ok_or(format!("{i}: inserted {got}"))
                }
                2 => {
                    let got: (i64, i64) = sqlx::query_as("SELECT $1 + 1, $2 * 3")
                        .bind(i)
                        .bind(i)
                        .fetch_one(p)
                        .await
                        .map_err(|e| e.to_string())?;
                    (got == (i + 1, i * 3)).then_some(()).ok_or(format!("{i}: got {got:?}"))
                }
                _ => {
                    let mut tx = db.begin().await.map_err(|e| e.to_string())?;
                    sqlx::query("INSERT INTO probe (id, label) VALUES ($1, $2)")
                        .bind(i)
                        .bind(format!("tx-{i}"))
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| e.to_string())?;
                    let label: String = sqlx::query_scalar("SELECT label FROM probe WHERE id = $1")
                        .bind(i)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| e.to_string())?;
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM probe WHERE id = $1")
                        .bind(i)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(|e| e.to_string())?;
                    tx.commit().await.map_err(|e| e.to_string())?;
                    (label == format!("tx-{i}") && n == 1)
                        .then_some(())
                        .ok_or(format!("{i}: in its transaction {label}, {n}"))
                }
            };
            r
        })
    });
    let failed: Vec<String> = join_all(tasks).await.into_iter().filter_map(|r| r.unwrap().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of 400 statements got a wrong answer or failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM probe").fetch_one(db.pool()).await.unwrap();
    assert_eq!(rows, 200, "every write landed once");
    // They went through PgBouncer: one transaction per statement, and more.
    let after = pgbouncer_stat(&pooler, &name, "total_xact_count").await;
    assert!(after - before >= 400, "PgBouncer counted {} transactions", after - before);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_works_through_pgbouncer_for_customers_resellers_and_billing() {
    let app = TestApp::spawn_through_pgbouncer(&[]).await;
    assert!(app.state.central().pool().through_pooler(), "the central database is reached through PgBouncer");
    let pooler = pgbouncer(5432).await;
    let central_name = app.db_url.rsplit('/').next().unwrap().to_owned();
    let before = pgbouncer_stat(&pooler, &central_name, "total_xact_count").await;

    // A customer signs in, starts a workspace, sees it running and stops it.
    let c = app.demo().await;
    let id = order(&c, "developer-basic").await;
    until_state(&c, &id, WorkspaceState::Running).await;
    c.call::<serde_json::Value>("stop_workspace", &[("id", &id)]).await.unwrap();
    until_state(&c, &id, WorkspaceState::Stopped).await;
    assert_eq!(c.get_page("/billing").await.0, 200);
    assert!(
        pgbouncer_stat(&pooler, &central_name, "total_xact_count").await > before,
        "central queries went through it"
    );
    let house = format!("{central_name}_t_house");
    assert!(
        pgbouncer_stat(&pooler, &house, "total_xact_count").await > 0,
        "the house storefront's queries went through it"
    );

    // A new reseller: its database is created and migrated on the server's own URL, then served through
    // PgBouncer; its owner signs in to its management pages.
    make_tenant(&app, "pgb").await;
    let shop = app.client_for("pgb.localhost");
    assert_eq!(shop.get_page("/").await.0, 200);
    let staff = app.client_for("pgb.localhost");
    staff.call::<()>("staff_login", &[("email", "owner@pgb.test"), ("password", "pgb-owner-password")]).await.unwrap();
    assert_eq!(staff.get_page("/manage/customers").await.0, 200);
    let (status, body) = staff.call_raw("set_plan_price", &[("code", "developer-basic"), ("retail", "0.50")]).await;
    assert_eq!(status, 200, "{body}");
    let tenant_db = format!("{central_name}_t_pgb");
    assert!(
        pgbouncer_stat(&pooler, &tenant_db, "total_xact_count").await > 0,
        "the reseller's queries went through it"
    );

    // The platform admin bills the reseller for a month (central and tenant writes in one run).
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    let msg: String = admin.call("admin_run_billing", &[("period", "2026-10"), ("tenant", "pgb")]).await.unwrap();
    assert!(msg.contains("1 tenant"), "{msg}");

    // A restart on the same databases (migrations again, on the direct URL) serves on.
    let app = app.restart(&[]).await;
    let c = app.demo().await;
    assert_eq!(c.get_page("/workspaces").await.0, 200);
    app.stop().await;
}
