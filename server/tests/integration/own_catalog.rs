//! A reseller's own catalogue: hiding a plan takes it off the storefront and refuses new orders while a
//! running workspace of it keeps running and billing at the rate its session started with; a plan's name
//! and description in the reseller's words; bad input changes nothing; other storefronts are untouched.

use app::catalog::CatalogView;
use app::domain::workspace::WorkspaceState;
use app::manage::catalog::CatalogRow;

use crate::common::{order, until_state, Backend, Client, TestApp};

async fn signed_in(app: &TestApp, function: &str, email: &str, password: &str) -> Client {
    let c = app.client_for("acme.localhost");
    c.call::<()>(function, &[("email", email), ("password", password)]).await.unwrap();
    c
}

async fn listing(staff: &Client, code: &str, visible: bool, name: &str, description: &str) -> (u16, String) {
    let mut args = vec![("code", code), ("display_name", name), ("description", description)];
    if visible {
        args.push(("visible", "on"));
    }
    staff.call_raw("save_listing", &args).await
}

fn row<'a>(rows: &'a [CatalogRow], code: &str) -> &'a CatalogRow {
    rows.iter().find(|r| r.code == code).unwrap()
}

async fn a_reseller_runs_their_own_catalogue(b: Backend) {
    let app = TestApp::spawn_with(b, &[("DEMO_RESELLER", "true")]).await;
    let staff = signed_in(&app, "staff_login", "owner@acme.test", "owner-password").await;
    let customer = signed_in(&app, "login", "customer@acme.test", "customer-password").await;
    assert_eq!(listing(&customer, "developer-basic", false, "", "").await.0, 401, "staff only");

    // A customer's workspace of the plan that is about to be hidden, running.
    let id = order(&customer, "developer-basic").await;
    until_state(&customer, &id, WorkspaceState::Running).await;

    // Bad input: refused with the reason, nothing changed.
    let rows: Vec<CatalogRow> = staff.call("my_catalog", &[]).await.unwrap();
    let long = "x".repeat(61);
    for (code, name, description, why) in [
        ("developer-basic", long.as_str(), "", "at most 60 characters"),
        ("developer-basic", "Dev", "two\nlines", "one line"),
        ("developer-ultra", "Dev", "", "no such plan"),
    ] {
        let (status, body) = listing(&staff, code, false, name, description).await;
        assert_eq!(status, 400, "{code} {name}: {body}");
        assert!(body.contains(why), "{body}");
    }
    assert_eq!(staff.call::<Vec<CatalogRow>>("my_catalog", &[]).await.unwrap(), rows, "nothing changed");

    // Hidden, and another plan in the reseller's words.
    let (status, body) = listing(&staff, "developer-basic", false, "", "").await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = listing(&staff, "business-basic", true, "Office Desk", "Word, mail and a browser").await;
    assert_eq!(status, 200, "{body}");
    let rows: Vec<CatalogRow> = staff.call("my_catalog", &[]).await.unwrap();
    assert!(!row(&rows, "developer-basic").visible);
    assert_eq!(row(&rows, "business-basic").display_name, "Office Desk");

    let cat: CatalogView = customer.call("catalog", &[]).await.unwrap();
    assert!(cat.plans.iter().all(|p| p.code != "developer-basic"), "hidden from the storefront");
    let office = cat.plans.iter().find(|p| p.code == "business-basic").unwrap();
    assert_eq!((office.name.as_str(), office.summary.as_str()), ("Office Desk", "Word, mail and a browser"));
    let key = cat.order_key.unwrap();
    let (status, body) =
        customer.call_raw("order_workspace", &[("plan", "developer-basic"), ("order_key", &key)]).await;
    assert_eq!(status, 400, "a hidden plan cannot be ordered: {body}");
    assert!(body.contains("not available"), "{body}");

    // The running workspace keeps running, and keeps billing at its session's rate even after a new price.
    let entry = app.state.registry().entry_by_slug("acme").await.unwrap().unwrap();
    let tenant = app.state.tenant_by_id(entry.id).await.unwrap().unwrap();
    let rate_at_start: String =
        sqlx::query_scalar("SELECT retail_per_hour FROM usage_sessions WHERE workspace_id = $1 AND ended_at IS NULL")
            .bind(&id)
            .fetch_one(tenant.db.pool())
            .await
            .unwrap();
    staff.call::<()>("set_plan_price", &[("code", "developer-basic"), ("retail", "9.50")]).await.unwrap();
    let later = app::backend::platform::db::now().plus_millis(20 * 60_000);
    let metered = app::backend::billing::meter::meter_tenant(&app.state, &tenant, later).await.unwrap();
    assert!(metered.charged_minor > 0, "still billing: {metered:?}");
    let (state, rate): (String, String) = sqlx::query_as(
        "SELECT w.state, u.retail_per_hour FROM workspaces w JOIN usage_sessions u ON u.workspace_id = w.id \
         WHERE w.id = $1 AND u.ended_at IS NULL",
    )
    .bind(&id)
    .fetch_one(tenant.db.pool())
    .await
    .unwrap();
    assert_eq!((state.as_str(), rate), ("running", rate_at_start), "running at the rate it started with");

    // Another storefront sells the plan as the platform describes it.
    let house = app.demo().await;
    let cat: CatalogView = house.call("catalog", &[]).await.unwrap();
    let plan = cat.plans.iter().find(|p| p.code == "developer-basic").expect("the house still sells it");
    assert_ne!(plan.name, "Office Desk");
    assert!(cat.plans.iter().all(|p| p.name != "Office Desk"));

    // Shown again (in the platform's words): orderable again.
    let (status, _) = listing(&staff, "developer-basic", true, "", "").await;
    assert_eq!(status, 200);
    let cat: CatalogView = customer.call("catalog", &[]).await.unwrap();
    assert!(cat.plans.iter().any(|p| p.code == "developer-basic"));

    let changes: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, detail FROM audit_log WHERE action = 'plan.listing_changed' ORDER BY at")
            .fetch_all(app.state.central().pool())
            .await
            .unwrap();
    let details: Vec<&str> = changes.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(
        details,
        vec!["developer-basic: hidden", "business-basic: shown as \"Office Desk\"", "developer-basic: shown"]
    );
    assert!(changes.iter().all(|(actor, _)| actor == "owner@acme.test"));
    app.stop().await;
}
on_both_backends!(a_reseller_runs_their_own_catalogue);
