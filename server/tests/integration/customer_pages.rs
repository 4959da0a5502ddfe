//! The customer's own pages, finished: a workspace has a name (its plan's, numbered, until the customer
//! renames it) on every page and on invoice lines; the workspace page shows this period's total; `/billing`
//! lists sessions with their duration, billed time and cost, and says how long the credit lasts at the rate
//! of what runs now; Kasm's per-user session limit is explained as "delete one", since stopped ones count.

use crate::common::{detail, order, until_state, Backend, TestApp};
use app::backend::billing::run;
use app::backend::{identity::auth, identity::customers, workspaces::store};
use app::billing::BillingView;
use app::domain::money::{Currency, Money};
use app::domain::plan::PlanCode;
use app::domain::time::Timestamp;
use app::domain::workspace::WorkspaceState;
use app::domain::workspace_view::{WorkspaceDetail, WorkspaceList};
use app::error::AppError;
use server::kasm_sim::Fault;

/// Long intervals: the billing test drives its run itself.
async fn spawn(b: Backend) -> TestApp {
    TestApp::spawn_with(b, &[("METER_INTERVAL_MS", "3600000"), ("BILLING_INTERVAL_MS", "3600000")]).await
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

async fn a_workspace_is_named_renamed_and_called_so_everywhere(b: Backend) {
    let app = spawn(b).await;
    let c = app.demo().await;
    let first = order(&c, "developer-basic").await;
    let second = order(&c, "developer-basic").await;
    assert_eq!(detail(&c, &first).await.card.name, "Developer Basic 1");
    assert_eq!(detail(&c, &second).await.card.name, "Developer Basic 2");

    let renamed: WorkspaceDetail =
        c.call("rename_workspace", &[("id", &first), ("name", "  Thesis box ")]).await.unwrap();
    assert_eq!(renamed.card.name, "Thesis box");
    assert_eq!(renamed.card.plan_name, "Developer Basic");
    // Bad names: a clear 400, and nothing changes.
    let long = "é".repeat(61);
    for (name, says) in
        [("   ", "Give the workspace a name."), ("two\nlines", "one line"), (long.as_str(), "at most 60")]
    {
        match c.call::<WorkspaceDetail>("rename_workspace", &[("id", &first), ("name", name)]).await {
            Err((400, AppError::Invalid(m))) => assert!(m.contains(says), "{m}"),
            other => panic!("{name:?}: {other:?}"),
        }
    }
    // Another customer's workspace, or no workspace at all, is not found, and stays as it was.
    let other = app.signed_in("other@ezscale.test", "other-password").await;
    let theirs = other.call::<WorkspaceDetail>("rename_workspace", &[("id", &first), ("name", "Mine now")]).await;
    assert_eq!(theirs, Err((404, AppError::NotFound)));
    let nothing = c.call::<WorkspaceDetail>("rename_workspace", &[("id", "not-a-uuid"), ("name", "X")]).await;
    assert_eq!(nothing, Err((404, AppError::NotFound)));
    assert_eq!(detail(&c, &first).await.card.name, "Thesis box");

    // The list and the pages show the names.
    let list: WorkspaceList = c.call("list_workspaces", &[]).await.unwrap();
    let mut names: Vec<String> = list.items.iter().map(|w| w.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["Developer Basic 2", "Thesis box"]);
    let (status, html) = c.get_page(&format!("/workspaces/{first}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Thesis box"), "{html}");
    let (_, html) = c.get_page("/workspaces").await;
    assert!(html.contains("Thesis box") && html.contains("Developer Basic 2"), "{html}");
    app.stop().await;
}
on_both_backends!(a_workspace_is_named_renamed_and_called_so_everywhere);

async fn invoice_lines_name_each_workspace_as_its_customer_does(b: Backend) {
    let app = spawn(b).await;
    let house = app.state.house().await.unwrap();
    let hash = auth::hash_password("pages-password".into()).await.unwrap();
    let customer = customers::ensure(&house.db, "lines@ezscale.test", "Lines Customer", &hash).await.unwrap();
    // Ordered in October 2026 (no Kasm session: this test writes the usage itself).
    let oct =
        |day: i64, hour: i64| Timestamp::from_millis(1_790_812_800_000 + (day - 1) * 86_400_000 + hour * 3_600_000);
    let plan = PlanCode::parse("developer-basic").unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (id, created) =
            store::insert_order(&house.db, customer, plan, uuid::Uuid::new_v4(), "default", oct(1, 0)).await.unwrap();
        assert!(created);
        ids.push(id.to_string());
    }
    let (named, unnamed) = (&ids[0], &ids[1]);
    sqlx::query("UPDATE workspaces SET name = 'Render farm' WHERE id = $1")
        .bind(named)
        .execute(house.db.pool())
        .await
        .unwrap();
    // One from before workspaces had names.
    sqlx::query("UPDATE workspaces SET name = '' WHERE id = $1").bind(unnamed).execute(house.db.pool()).await.unwrap();
    for ws in &ids {
        sqlx::query(
            "INSERT INTO usage_sessions (id, workspace_id, started_at, ended_at, retail_per_hour, wholesale_per_hour, \
             currency) VALUES ($1, $2, $3, $4, '0.15', '0.10', 'USD')",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(ws)
        .bind(oct(2, 9).as_millis())
        .bind(oct(2, 10).as_millis())
        .execute(house.db.pool())
        .await
        .unwrap();
    }
    run::run_all(&app.state, Some("2026-10"), Some("house"), |_, _, _| {}).await.unwrap();
    let mut lines: Vec<String> = sqlx::query_scalar(
        "SELECT l.description FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id WHERE i.customer_id = $1",
    )
    .bind(customer.to_string())
    .fetch_all(house.db.pool())
    .await
    .unwrap();
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("Developer Basic workspace {} — 4 × 15 min at $0.15/h", &unnamed[..8]),
            "Render farm (Developer Basic) — 4 × 15 min at $0.15/h".to_owned(),
        ]
    );
    app.stop().await;
}
on_both_backends!(invoice_lines_name_each_workspace_as_its_customer_does);

async fn billing_lists_sessions_with_their_cost_and_how_long_the_credit_lasts(b: Backend) {
    let app = spawn(b).await;
    let c = app.demo().await;
    let id = order(&c, "developer-basic").await;
    until_state(&c, &id, WorkspaceState::Running).await;
    let _: WorkspaceDetail = c.call("stop_workspace", &[("id", &id)]).await.unwrap();
    let stopped = until_state(&c, &id, WorkspaceState::Stopped).await;

    // The workspace page: this period's total, by the invoice's own function (one quarter-hour at 0.15/h).
    let period = stopped.period.clone().expect("the page shows this period");
    assert_eq!(period.total_at(stopped.server_now), usd(4));
    assert_eq!(period.facts.len(), 1);

    let v: BillingView = c.call("billing_overview", &[]).await.unwrap();
    assert_eq!(period.label, v.period_label);
    let row = v.history.iter().find(|s| s.workspace == "Developer Basic 1").expect("the session, by name");
    assert_eq!(row.billed(), Some((900, usd(4))), "15 billed minutes, 0.04");
    assert_eq!(v.running_per_hour, None, "nothing runs");

    // Running again: the page says how long the credit lasts at that rate.
    let _: WorkspaceDetail = c.call("start_workspace", &[("id", &id)]).await.unwrap();
    until_state(&c, &id, WorkspaceState::Running).await;
    let v: BillingView = c.call("billing_overview", &[]).await.unwrap();
    assert_eq!(v.running_per_hour.map(|r| r.to_string()).as_deref(), Some("$0.15/h"));
    let running = v.history.iter().find(|s| s.ended_at.is_none()).expect("the open session");
    assert_eq!(running.billed(), None, "a running session has no final cost yet");
    let (status, html) = c.get_page("/billing").await;
    assert_eq!(status, 200);
    assert!(html.contains("(what runs now) your credit lasts about"), "{html}");
    let _: WorkspaceDetail = c.call("stop_workspace", &[("id", &id)]).await.unwrap();
    until_state(&c, &id, WorkspaceState::Stopped).await;
    app.stop().await;
}
on_both_backends!(billing_lists_sessions_with_their_cost_and_how_long_the_credit_lasts);

async fn the_session_limit_says_to_delete_a_workspace(b: Backend) {
    let app = spawn(b).await;
    let c = app.demo().await;
    app.sim.inject(Fault::BusinessError {
        endpoint: "request_kasm".into(),
        message: "Kasm limit exceeded for user: (demo)".into(),
    });
    let id = order(&c, "developer-basic").await;
    let failed = until_state(&c, &id, WorkspaceState::Failed).await;
    let why = failed.failure.unwrap_or_default();
    assert!(why.contains("stopped ones count too") && why.contains("Delete one"), "{why}");
    app.stop().await;
}
on_both_backends!(the_session_limit_says_to_delete_a_workspace);
