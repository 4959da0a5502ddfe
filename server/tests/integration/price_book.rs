//! The platform's wholesale price book (issue 14, item 1): a change applies to sessions that start after its
//! effective time and never to a running or past one, and the wholesale invoice bills each session at the
//! rate it froze; resellers see changes ahead with their margin; a wholesale price above a retail price is
//! flagged to the reseller (email, billing and catalogue pages) and the admin, and from its time the retail
//! floor rises with it; tier and storefront overrides; bad input changes nothing.

use std::time::Duration;

use app::admin::prices::{AdminPricesData, RowState, ScopeView};
use app::catalog::CatalogView;
use app::domain::money::Rate;
use app::domain::period::Period;
use app::domain::price_book::format_input;
use app::domain::time::Timestamp;
use app::domain::workspace::WorkspaceState;
use app::domain::workspace_view::WorkspaceDetail;
use app::manage::billing::ManageBillingData;
use app::manage::catalog::CatalogRow;

use crate::common::{order, until_state, Backend, Client, TestApp};

async fn signed_in(app: &TestApp, host: &str, function: &str, email: &str, password: &str) -> Client {
    let c = app.client_for(host);
    c.call::<()>(function, &[("email", email), ("password", password)]).await.unwrap();
    c
}

async fn admin(app: &TestApp) -> Client {
    signed_in(app, "admin.localhost", "admin_login", "admin@ezscale.test", "admin-password").await
}

/// Schedules a price as the admin page's form does; the raw (status, body).
async fn schedule(admin: &Client, plan: &str, scope: (&str, &str), per_hour: &str, at: &str) -> (u16, String) {
    admin
        .call_raw(
            "admin_schedule_price",
            &[
                ("plan", plan),
                ("scope_kind", scope.0),
                ("scope", scope.1),
                ("per_hour", per_hour),
                ("effective_at", at),
            ],
        )
        .await
}

/// A few seconds from now, as the form's `datetime-local` input sends it (whole seconds, UTC).
fn soon(secs: i64) -> (Timestamp, String) {
    let text = format_input(app::backend::platform::db::now().plus_millis(secs * 1000));
    let at = app::domain::price_book::parse_effective(&text, Timestamp::EPOCH).unwrap();
    (at, text)
}

async fn until_past(t: Timestamp) {
    while app::backend::platform::db::now() <= t {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn usd(s: &str) -> Rate {
    Rate::parse(s, app::domain::money::Currency::USD).unwrap()
}

/// (retail, wholesale) frozen on each of the workspace's sessions, oldest first.
async fn frozen(app: &TestApp, id: &str) -> Vec<(Rate, Rate)> {
    let entry = app.state.registry().entry_by_slug("acme").await.unwrap().unwrap();
    let tenant = app.state.tenant_by_id(entry.id).await.unwrap().unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT retail_per_hour, wholesale_per_hour FROM usage_sessions WHERE workspace_id = $1 ORDER BY started_at",
    )
    .bind(id)
    .fetch_all(tenant.db.pool())
    .await
    .unwrap();
    rows.iter().map(|(r, w)| (usd(r), usd(w))).collect()
}

async fn stop(customer: &Client, id: &str) {
    let _: WorkspaceDetail = customer.call("stop_workspace", &[("id", id)]).await.unwrap();
    until_state(customer, id, WorkspaceState::Stopped).await;
}

async fn a_session_started_before_a_price_change_bills_the_old_rate_and_one_after_the_new(b: Backend) {
    use app::backend::billing::{run, wholesale};
    let app = TestApp::spawn_with(b, &[("DEMO_RESELLER", "true")]).await;
    let admin = admin(&app).await;
    let staff = signed_in(&app, "acme.localhost", "staff_login", "owner@acme.test", "owner-password").await;
    let customer = signed_in(&app, "acme.localhost", "login", "customer@acme.test", "customer-password").await;

    // Running before the change: the seeded base book's 0.10/h.
    let before = order(&customer, "developer-basic").await;
    until_state(&customer, &before, WorkspaceState::Running).await;
    assert_eq!(frozen(&app, &before).await, vec![(usd("0.15"), usd("0.10"))]);

    // The admin raises the base price from a few seconds from now.
    let (at, text) = soon(3);
    let (status, body) = schedule(&admin, "developer-basic", ("base", ""), "0.13", &text).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("1 reseller(s) emailed"), "acme is told ahead: {body}");

    // The reseller sees it in advance, with the margin it leaves at their price.
    let billing: ManageBillingData = staff.call("manage_billing", &[]).await.unwrap();
    let [change] = billing.upcoming.as_slice() else { panic!("one upcoming change: {:?}", billing.upcoming) };
    assert_eq!((change.plan.as_str(), change.effective_at), ("developer-basic", at));
    assert_eq!((change.from, change.to, change.retail), (usd("0.10"), usd("0.13"), usd("0.15")));
    assert_eq!((change.margin_rate(), change.margin.below_wholesale), (usd("0.02"), false));
    let plan = billing.plans.iter().find(|p| p.code == "developer-basic").unwrap();
    assert_eq!((plan.wholesale, plan.next.as_ref().map(|n| n.to)), (usd("0.10"), Some(usd("0.13"))), "not yet");

    until_past(at).await;
    // Started after the change: the new rate. The session running across it keeps its own.
    let after = order(&customer, "developer-basic").await;
    until_state(&customer, &after, WorkspaceState::Running).await;
    assert_eq!(frozen(&app, &after).await, vec![(usd("0.15"), usd("0.13"))]);
    assert_eq!(frozen(&app, &before).await, vec![(usd("0.15"), usd("0.10"))], "frozen stays frozen");
    let billing: ManageBillingData = staff.call("manage_billing", &[]).await.unwrap();
    assert!(billing.upcoming.is_empty(), "in force now: {:?}", billing.upcoming);
    let plan = billing.plans.iter().find(|p| p.code == "developer-basic").unwrap();
    assert_eq!(plan.wholesale, usd("0.13"));

    // The wholesale invoice bills each session at the rate it froze. (Both sessions are moved, rates
    // untouched, into the last finished period so it can be billed now: 10 h each.)
    stop(&customer, &before).await;
    stop(&customer, &after).await;
    let entry = app.state.registry().entry_by_slug("acme").await.unwrap().unwrap();
    let tenant = app.state.tenant_by_id(entry.id).await.unwrap().unwrap();
    let last = Period::containing(app::backend::platform::db::now(), 1).unwrap().previous();
    for (i, id) in [&before, &after].into_iter().enumerate() {
        let start = last.start().plus_millis((1 + 11 * i64::try_from(i).unwrap()) * 3_600_000);
        sqlx::query("UPDATE usage_sessions SET started_at = $1, ended_at = $2 WHERE workspace_id = $3")
            .bind(start.as_millis())
            .bind(start.plus_millis(10 * 3_600_000).as_millis())
            .bind(id)
            .execute(tenant.db.pool())
            .await
            .unwrap();
    }
    run::run_all(&app.state, Some(&last.key()), Some("acme"), |_, _, _| {}).await.unwrap();
    let inv = wholesale::get(&app.state, &tenant, &last.key()).await.unwrap().unwrap();
    // 10 h × 0.10 + 10 h × 0.13 = 2.30 wholesale; 20 h × 0.15 = 3.00 retail.
    assert_eq!((inv.usage_minor, inv.retail_minor), (230, 300));

    let audit: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, detail FROM audit_log WHERE action = 'price.scheduled'")
            .fetch_all(app.state.central().pool())
            .await
            .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "admin@ezscale.test");
    assert!(audit[0].1.starts_with("developer-basic base: 0.13/h from "), "{:?}", audit[0]);
    app.stop().await;
}
on_both_backends!(a_session_started_before_a_price_change_bills_the_old_rate_and_one_after_the_new);

async fn a_wholesale_price_above_a_retail_price_is_flagged_and_the_floor_rises_with_it(b: Backend) {
    let app = TestApp::spawn_with(b, &[("DEMO_RESELLER", "true")]).await;
    let admin = admin(&app).await;
    let staff = signed_in(&app, "acme.localhost", "staff_login", "owner@acme.test", "owner-password").await;
    let customer = signed_in(&app, "acme.localhost", "login", "customer@acme.test", "customer-password").await;
    staff.call::<()>("set_plan_price", &[("code", "developer-pro"), ("retail", "0.22")]).await.unwrap();

    // A tier override for acme's tier (standard) above its retail price of developer-pro.
    let (at, text) = soon(3);
    let (status, body) = schedule(&admin, "developer-pro", ("tier", "standard"), "0.25", &text).await;
    assert_eq!(status, 200, "{body}");

    // Flagged to the reseller: by email (once), on the billing page and on the catalogue page.
    let mails: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT to_addr, subject, text_body FROM outbox WHERE kind = 'wholesale_price_change' ORDER BY created_at",
    )
    .fetch_all(app.state.central().pool())
    .await
    .unwrap();
    assert_eq!(mails.len(), 1, "{mails:?}");
    let (to, subject, text_body) = &mails[0];
    assert_eq!(to, "owner@acme.test");
    assert!(subject.starts_with("Action needed"), "{subject}");
    assert!(text_body.contains("$0.20/h to $0.25/h") && text_body.contains("$0.22/h"), "{text_body}");
    let billing: ManageBillingData = staff.call("manage_billing", &[]).await.unwrap();
    let change = billing.upcoming.iter().find(|u| u.plan.as_str() == "developer-pro").unwrap();
    assert!(change.margin.below_wholesale);
    assert_eq!(change.margin_rate(), usd("0"), "a zero margin, never a loss");
    let rows: Vec<CatalogRow> = staff.call("my_catalog", &[]).await.unwrap();
    let pro = rows.iter().find(|r| r.code == "developer-pro").unwrap();
    assert_eq!(pro.wholesale, usd("0.20"));
    assert!(pro.next.as_ref().is_some_and(|n| n.margin.below_wholesale && n.to == usd("0.25")));
    // ... and to the admin.
    let book: AdminPricesData = admin.call("admin_prices", &[]).await.unwrap();
    assert!(
        book.affected.iter().any(|a| a.slug == "acme" && a.plan.as_str() == "developer-pro" && a.retail == usd("0.22")),
        "{:?}",
        book.affected
    );
    let scheduled = book.rows.iter().find(|r| r.state == RowState::Scheduled).unwrap();
    assert_eq!((&scheduled.scope, scheduled.per_hour.as_deref()), (&ScopeView::Tier("standard".into()), Some("0.25")));

    // Scheduling the same change again does not email twice.
    let (status, body) = schedule(&admin, "developer-pro", ("tier", "standard"), "0.25", &text).await;
    assert_eq!(status, 200, "{body}");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'wholesale_price_change'")
        .fetch_one(app.state.central().pool())
        .await
        .unwrap();
    assert_eq!(count, 1);

    // From its time the floor rises: the storefront sells at the wholesale price, and sessions bill it.
    until_past(at).await;
    let cat: CatalogView = customer.call("catalog", &[]).await.unwrap();
    assert_eq!(cat.plans.iter().find(|p| p.code == "developer-pro").unwrap().rate, usd("0.25"));
    let id = order(&customer, "developer-pro").await;
    until_state(&customer, &id, WorkspaceState::Running).await;
    assert_eq!(frozen(&app, &id).await, vec![(usd("0.25"), usd("0.25"))]);
    // The reseller's own price must now be at least the new wholesale price.
    let (status, body) = staff.call_raw("set_plan_price", &[("code", "developer-pro"), ("retail", "0.24")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("$0.25/h"), "{body}");
    staff.call::<()>("set_plan_price", &[("code", "developer-pro"), ("retail", "0.30")]).await.unwrap();
    let cat: CatalogView = customer.call("catalog", &[]).await.unwrap();
    assert_eq!(cat.plans.iter().find(|p| p.code == "developer-pro").unwrap().rate, usd("0.30"));

    // A storefront's own override beats its tier's and the base book, for it alone, at once.
    let (status, body) = schedule(&admin, "business-basic", ("tenant", "acme"), "0.11", "").await;
    assert_eq!(status, 200, "{body}");
    let rows: Vec<CatalogRow> = staff.call("my_catalog", &[]).await.unwrap();
    assert_eq!(rows.iter().find(|r| r.code == "business-basic").unwrap().wholesale, usd("0.11"));
    let house = app.state.house().await.unwrap();
    let house_rates = app::backend::workspaces::price_book::wholesale_now(&app.state, &house).await.unwrap();
    let of = |code: &str| house_rates.iter().find(|(c, _)| c.as_str() == code).unwrap().1;
    assert_eq!(
        (of("business-basic"), of("developer-pro")),
        (usd("0.14"), usd("0.25")),
        "the house: its tier, not acme's own"
    );
    let book: AdminPricesData = admin.call("admin_prices", &[]).await.unwrap();
    assert!(book.rows.iter().any(|r| r.scope == ScopeView::Storefront("acme".into()) && r.state == RowState::InForce));
    app.stop().await;
}
on_both_backends!(a_wholesale_price_above_a_retail_price_is_flagged_and_the_floor_rises_with_it);

async fn bad_price_changes_are_refused_and_change_nothing(b: Backend) {
    let app = TestApp::spawn_with(b, &[("DEMO_RESELLER", "true")]).await;
    let admin = admin(&app).await;
    let (_, later) = soon(3600);
    let anonymous = app.client_for("admin.localhost");
    assert_eq!(schedule(&anonymous, "developer-basic", ("base", ""), "0.2", &later).await.0, 401);
    let staff = signed_in(&app, "acme.localhost", "staff_login", "owner@acme.test", "owner-password").await;
    assert_ne!(schedule(&staff, "developer-basic", ("base", ""), "0.2", &later).await.0, 200, "admins only");

    let book: AdminPricesData = admin.call("admin_prices", &[]).await.unwrap();
    assert_eq!(book.rows.len(), 6, "the seeded base book");
    assert!(book.rows.iter().all(|r| r.scope == ScopeView::Base && r.state == RowState::InForce));
    let past = format_input(app::backend::platform::db::now().plus_millis(-120_000));
    for (plan, scope, price, at, why) in [
        ("developer-ultra", ("base", ""), "0.2", later.as_str(), "no such plan"),
        ("developer-basic", ("base", ""), "-0.10", later.as_str(), "from 0 to 1000"),
        ("developer-basic", ("base", ""), "5000", later.as_str(), "from 0 to 1000"),
        ("developer-basic", ("base", ""), "0.1.2", later.as_str(), "from 0 to 1000"),
        ("developer-basic", ("base", ""), "", later.as_str(), "always has a price"),
        ("developer-basic", ("base", ""), "0.2", "next tuesday", "YYYY-MM-DDTHH:MM"),
        ("developer-basic", ("base", ""), "0.2", "2026-02-30T10:00", "YYYY-MM-DDTHH:MM"),
        ("developer-basic", ("base", ""), "0.2", past.as_str(), "in the past"),
        ("developer-basic", ("tier", "diamond"), "0.2", later.as_str(), "no reseller tier"),
        ("developer-basic", ("tier", "Bad Name"), "0.2", later.as_str(), "lower-case letters"),
        ("developer-basic", ("tenant", "nosuch"), "0.2", later.as_str(), "no reseller storefront"),
        ("developer-basic", ("tenant", "house"), "0.2", later.as_str(), "no reseller storefront"),
        ("developer-basic", ("planet", ""), "0.2", later.as_str(), "Choose the base book"),
    ] {
        let (status, body) = schedule(&admin, plan, scope, price, at).await;
        assert_eq!(status, 400, "{plan} {scope:?} {price} {at}: {body}");
        assert!(body.contains(why), "{why}: {body}");
    }
    let again: AdminPricesData = admin.call("admin_prices", &[]).await.unwrap();
    assert_eq!(again.rows, book.rows, "nothing changed");

    // A scheduled change can be withdrawn before it takes effect; one in force is history.
    let (status, _) = schedule(&admin, "developer-basic", ("base", ""), "0.2", &later).await;
    assert_eq!(status, 200);
    let book: AdminPricesData = admin.call("admin_prices", &[]).await.unwrap();
    let scheduled = book.rows.iter().find(|r| r.state == RowState::Scheduled).unwrap().id.clone();
    let in_force = book.rows.iter().find(|r| r.state == RowState::InForce).unwrap().id.clone();
    admin.call::<()>("admin_withdraw_price", &[("id", &scheduled)]).await.unwrap();
    assert_eq!(admin.call_raw("admin_withdraw_price", &[("id", &in_force)]).await.0, 409);
    assert_eq!(admin.call_raw("admin_withdraw_price", &[("id", &scheduled)]).await.0, 409);
    let after: AdminPricesData = admin.call("admin_prices", &[]).await.unwrap();
    assert_eq!(after.rows, again.rows);

    // Tiers are the admin's: a new one can be priced; names are checked; no duplicates.
    admin.call::<()>("admin_add_tier", &[("name", "partner"), ("label", "Partner")]).await.unwrap();
    assert_eq!(admin.call_raw("admin_add_tier", &[("name", "partner"), ("label", "Again")]).await.0, 409);
    assert_eq!(admin.call_raw("admin_add_tier", &[("name", "no spaces"), ("label", "X")]).await.0, 400);
    let (status, body) = schedule(&admin, "developer-basic", ("tier", "partner"), "0.09", &later).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("0 reseller(s) emailed"), "no storefront is on that tier: {body}");
    let book: AdminPricesData = admin.call("admin_prices", &[]).await.unwrap();
    assert!(book.tiers.iter().any(|(n, l)| n == "partner" && l == "Partner"));
    // A storefront can be put in it (the terms form lists the admin's tiers, and only those) and sees its
    // price coming.
    let terms = |tier: &'static str| {
        [
            ("slug", "acme"),
            ("tier", tier),
            ("discount_percent", "0"),
            ("platform_fee", "0.00"),
            ("commission_percent", "0"),
            ("billing_cycle_day", "1"),
        ]
    };
    let (status, body) = admin.call_raw("admin_update_terms", &terms("diamond")).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("no reseller tier"), "{body}");
    let detail: app::domain::tenant_view::TenantDetail =
        admin.call("admin_update_terms", &terms("partner")).await.unwrap();
    assert_eq!(detail.terms.tier.as_str(), "partner");
    assert!(detail.tiers.iter().any(|(n, _)| n == "partner"));
    let billing: ManageBillingData = staff.call("manage_billing", &[]).await.unwrap();
    let change = billing.upcoming.iter().find(|u| u.plan.as_str() == "developer-basic").unwrap();
    assert_eq!((change.from, change.to, change.margin_rate()), (usd("0.10"), usd("0.09"), usd("0.06")));

    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'price.%' OR action = 'tier.added' ORDER BY at",
    )
    .fetch_all(app.state.central().pool())
    .await
    .unwrap();
    assert_eq!(actions, vec!["price.scheduled", "price.withdrawn", "tier.added", "price.scheduled"]);
    app.stop().await;
}
on_both_backends!(bad_price_changes_are_refused_and_change_nothing);

/// What the storefront's catalog shows an hour of `code` for, as `customer` sees it.
async fn shown_rate(customer: &Client, code: &str) -> Rate {
    let cat: CatalogView = customer.call("catalog", &[]).await.unwrap();
    cat.plans.iter().find(|p| p.code == code).unwrap().rate
}

/// Pages keep the price book in memory (one statement less for each page that shows a price). A change
/// scheduled on one server reaches the pages another server shows once that server next checks the
/// registry, without a restart and without anything else happening on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_scheduled_on_one_server_shows_on_the_pages_of_another() {
    let a = TestApp::spawn(Backend::Postgres).await;
    let b = a.spawn_beside(&[]).await;
    let on_b = b.demo().await;
    // Read (and kept) on b before the change.
    let before = shown_rate(&on_b, "developer-basic").await;
    assert_eq!(shown_rate(&on_b, "developer-basic").await, before);
    assert_ne!(before, usd("9.99"));
    let (status, body) = schedule(&admin(&a).await, "developer-basic", ("base", ""), "9.99", "").await;
    assert_eq!(status, 200, "{body}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let shown = shown_rate(&on_b, "developer-basic").await;
        if shown == usd("9.99") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "b still shows {shown} for a price of 9.99 scheduled on a");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.stop().await;
    a.stop().await;
}
