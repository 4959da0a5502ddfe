//! Customers without a card pay what is due: an invoice left due gets a due date from the storefront's
//! terms; "Pay now" pays it through the storefront's Stripe (the local fake), once however often the
//! payment is reported; a top-up pays open invoices first, oldest first; reminders come before and after
//! the due date, once each; past the grace period new orders are refused while running workspaces run on.

use app::backend::billing::invoices::{self, Status};
use app::backend::billing::{ledger, terms};
use app::backend::identity::{auth, customers};
use app::backend::state::Tenant;
use app::billing::BillingView;
use app::domain::ids::CustomerId;
use app::domain::money::{Currency, Money};
use app::domain::payment_terms::{CustomerTerms, DAY_MS};
use app::domain::workspace::WorkspaceState;

use crate::common::{order, until_state, Backend, Client, TestApp};

async fn spawn(b: Backend) -> TestApp {
    TestApp::spawn_with(
        b,
        &[("DEMO_RESELLER", "true"), ("METER_INTERVAL_MS", "3600000"), ("BILLING_INTERVAL_MS", "3600000")],
    )
    .await
}

async fn acme(app: &TestApp) -> Tenant {
    let entry = app.state.registry().entry_by_slug("acme").await.unwrap().unwrap();
    app.state.tenant_by_id(entry.id).await.unwrap().unwrap()
}

/// A customer of acme with no credit and no card, signed in.
async fn customer(app: &TestApp, tenant: &Tenant, email: &str) -> (CustomerId, Client) {
    let hash = auth::hash_password("payer-password-1".into()).await.unwrap();
    let id = customers::ensure(&tenant.db, email, "Payer", &hash).await.unwrap();
    let c = app.client_for("acme.localhost");
    c.call::<()>("login", &[("email", email), ("password", "payer-password-1")]).await.unwrap();
    (id, c)
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

/// An invoice of `total_minor` for `period`, finalised the way the billing run does (credit first, the
/// rest due by the storefront's terms).
async fn invoice(app: &TestApp, tenant: &Tenant, customer: CustomerId, period: &str, total_minor: i64) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO invoices (id, customer_id, kind, period, period_start, period_end, status, currency, total_minor, \
         created_at) VALUES ($1, $2, 'invoice', $3, 0, 1, 'draft', 'USD', $4, 0)",
    )
    .bind(&id)
    .bind(customer.to_string())
    .bind(period)
    .bind(total_minor)
    .execute(tenant.db.pool())
    .await
    .unwrap();
    let t = terms::get(app.state.central(), tenant.id).await.unwrap();
    let now = app::backend::platform::db::now();
    assert!(invoices::finalise(&tenant.db, &id, now, t, app.state.failpoints()).await.unwrap());
    id
}

async fn set_due(tenant: &Tenant, id: &str, days_from_now: i64) {
    let at = app::backend::platform::db::now().as_millis() + days_from_now * DAY_MS;
    sqlx::query("UPDATE invoices SET due_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(tenant.db.pool())
        .await
        .unwrap();
}

async fn an_invoice_left_due_has_a_due_date_and_pay_now_pays_it_once(b: Backend) {
    let app = spawn(b).await;
    let (fake, _) = app.stripe.clone().expect("the local Stripe runs in development");
    let tenant = acme(&app).await;

    // The reseller sets the terms; bad ones are refused and change nothing.
    let staff = app.client_for("acme.localhost");
    staff.call::<()>("staff_login", &[("email", "owner@acme.test"), ("password", "owner-password")]).await.unwrap();
    for (due, grace) in [("91", "3"), ("10", "x"), ("-1", "3")] {
        let (status, body) = staff.call_raw("save_customer_terms", &[("due_days", due), ("grace_days", grace)]).await;
        assert_eq!(status, 400, "{due} {grace}: {body}");
    }
    assert_eq!(terms::get(app.state.central(), tenant.id).await.unwrap(), CustomerTerms::default());
    staff.call::<()>("save_customer_terms", &[("due_days", "10"), ("grace_days", "3")]).await.unwrap();
    let saved: Vec<String> =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE action = 'customer_terms.changed' AND actor = $1")
            .bind("owner@acme.test")
            .fetch_all(app.state.central().pool())
            .await
            .unwrap();
    assert_eq!(saved, vec!["due in 10 days, orders refused 3 days after".to_owned()]);

    let (payer, c) = customer(&app, &tenant, "payer@acme.test").await;
    let before = app::backend::platform::db::now().as_millis();
    let id = invoice(&app, &tenant, payer, "2026-10", 1_234).await;
    let view: BillingView = c.call("billing_overview", &[]).await.unwrap();
    let row = view.invoices.iter().find(|i| i.id == id).unwrap();
    assert_eq!((row.due, row.overdue), (usd(1_234), false));
    let due_at = row.due_at.unwrap().as_millis();
    assert!(due_at >= before + 10 * DAY_MS && due_at <= before + 10 * DAY_MS + 60_000, "due by the terms");

    // Someone else cannot pay (or see) it.
    let (_, other) = customer(&app, &tenant, "other@acme.test").await;
    assert_eq!(other.call_raw("pay_invoice", &[("id", &id)]).await.0, 404);

    // "Pay now": the same payment page however often it is pressed; paid once.
    let url: String = c.call("pay_invoice", &[("id", &id)]).await.unwrap();
    let again: String = c.call("pay_invoice", &[("id", &id)]).await.unwrap();
    assert_eq!(url, again);
    let cs = url.rsplit('/').next().unwrap().to_owned();
    fake.complete_checkout(&cs, false).unwrap();
    fake.flush_webhooks().await;
    let paid = invoices::get(&tenant.db, &id).await.unwrap().unwrap();
    assert_eq!((paid.status, paid.card_paid, paid.amount_due()), (Status::Paid, usd(1_234), usd(0)));
    assert!(paid.card_payment_intent.is_some(), "a refund can go back to the card");
    // The return to the page and redelivered webhooks record nothing more (no stray credit either).
    let confirmed: bool = c.call("confirm_top_up", &[("session_id", &cs)]).await.unwrap();
    assert!(!confirmed);
    fake.redeliver_all();
    fake.flush_webhooks().await;
    assert_eq!(invoices::get(&tenant.db, &id).await.unwrap().unwrap().card_paid, usd(1_234));
    assert_eq!(ledger::balance(&tenant.db, payer, Currency::USD).await.unwrap(), usd(0));
    let (status, body) = c.call_raw("pay_invoice", &[("id", &id)]).await;
    assert_eq!(status, 409, "nothing left to pay: {body}");
    app.stop().await;
}
on_both_backends!(an_invoice_left_due_has_a_due_date_and_pay_now_pays_it_once);

async fn a_top_up_pays_open_invoices_oldest_first(b: Backend) {
    let app = spawn(b).await;
    let (fake, _) = app.stripe.clone().unwrap();
    let tenant = acme(&app).await;
    let (payer, c) = customer(&app, &tenant, "owes@acme.test").await;
    let older = invoice(&app, &tenant, payer, "2026-09", 1_000).await;
    let newer = invoice(&app, &tenant, payer, "2026-10", 800).await;
    let url: String = c.call("start_top_up", &[("amount", "15.00")]).await.unwrap();
    fake.complete_checkout(url.rsplit('/').next().unwrap(), false).unwrap();
    fake.flush_webhooks().await;
    let (o, n) = (
        invoices::get(&tenant.db, &older).await.unwrap().unwrap(),
        invoices::get(&tenant.db, &newer).await.unwrap().unwrap(),
    );
    assert_eq!((o.status, o.credit_applied), (Status::Paid, usd(1_000)), "the oldest first");
    assert_eq!((n.status, n.credit_applied, n.amount_due()), (Status::Finalised, usd(500), usd(300)));
    assert_eq!(ledger::balance(&tenant.db, payer, Currency::USD).await.unwrap(), usd(0));
    // Settling again (a redelivered webhook) applies nothing twice.
    fake.redeliver_all();
    fake.flush_webhooks().await;
    invoices::settle_from_credit(&tenant.db, payer, app::backend::platform::db::now()).await.unwrap();
    let n = invoices::get(&tenant.db, &newer).await.unwrap().unwrap();
    assert_eq!(n.amount_due(), usd(300));
    let entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM credit_ledger WHERE customer_id = $1")
        .bind(payer.to_string())
        .fetch_one(tenant.db.pool())
        .await
        .unwrap();
    assert_eq!(entries, 3, "one top-up and two invoice payments");
    app.stop().await;
}
on_both_backends!(a_top_up_pays_open_invoices_oldest_first);

async fn reminders_come_before_and_after_the_due_date_once_each(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    let (payer, _) = customer(&app, &tenant, "late@acme.test").await;
    let id = invoice(&app, &tenant, payer, "2026-10", 2_000).await;
    let reminders = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT subject FROM outbox WHERE kind = 'invoice_reminder' AND to_addr = 'late@acme.test' ORDER BY created_at",
        )
        .fetch_all(app.state.central().pool())
        .await
        .unwrap()
    };
    // A week to go: nothing yet.
    assert_eq!(terms::remind(&app.state, &tenant).await.unwrap(), 0);
    for (days, expected) in [(2, 1), (-2, 2), (-30, 3)] {
        set_due(&tenant, &id, days).await;
        assert_eq!(terms::remind(&app.state, &tenant).await.unwrap(), 1, "due in {days} days");
        assert_eq!(terms::remind(&app.state, &tenant).await.unwrap(), 0, "once");
        assert_eq!(reminders().await.len(), expected);
    }
    let subjects = reminders().await;
    assert!(subjects[0].contains("is due on"), "{subjects:?}");
    assert!(subjects[1].contains("is overdue") && subjects[2].contains("is overdue"), "{subjects:?}");
    // A paid invoice is never reminded about.
    let paid = invoice(&app, &tenant, payer, "2026-11", 500).await;
    sqlx::query("UPDATE invoices SET status = 'paid', card_paid_minor = total_minor WHERE id = $1")
        .bind(&paid)
        .execute(tenant.db.pool())
        .await
        .unwrap();
    set_due(&tenant, &paid, -2).await;
    assert_eq!(terms::remind(&app.state, &tenant).await.unwrap(), 0);
    app.stop().await;
}
on_both_backends!(reminders_come_before_and_after_the_due_date_once_each);

async fn overdue_past_grace_stops_new_orders_but_not_running_workspaces(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    // The demo customer has credit: a running workspace.
    let c = app.client_for("acme.localhost");
    c.call::<()>("login", &[("email", "customer@acme.test"), ("password", "customer-password")]).await.unwrap();
    let running = order(&c, "developer-basic").await;
    until_state(&c, &running, WorkspaceState::Running).await;
    let (me, _) = customers::find_login(&tenant.db, "customer@acme.test").await.unwrap().unwrap();
    // An invoice left due (credit did not cover it), 13 days past its due date: within the 14 days' grace.
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO invoices (id, customer_id, kind, period, period_start, period_end, number, status, currency, \
         total_minor, created_at, finalised_at) VALUES ($1, $2, 'invoice', '2026-09', 0, 1, 9999, 'finalised', 'USD', 4200, 0, 0)",
    )
    .bind(&id)
    .bind(me.to_string())
    .execute(tenant.db.pool())
    .await
    .unwrap();
    set_due(&tenant, &id, -13).await;
    let second = order(&c, "developer-basic").await;
    assert_ne!(second, running, "within the grace period orders go through");
    set_due(&tenant, &id, -15).await;
    let cat: app::catalog::CatalogView = c.call("catalog", &[]).await.unwrap();
    let (status, body) =
        c.call_raw("order_workspace", &[("plan", "developer-basic"), ("order_key", &cat.order_key.unwrap())]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("INV-009999") && body.contains("overdue") && body.contains("42.00"), "{body}");
    assert_eq!(until_state(&c, &running, WorkspaceState::Running).await.card.state, WorkspaceState::Running);
    // Paid (here from credit): orders again.
    invoices::settle_from_credit(&tenant.db, me, app::backend::platform::db::now()).await.unwrap();
    assert_eq!(invoices::get(&tenant.db, &id).await.unwrap().unwrap().status, Status::Paid);
    let third = order(&c, "developer-basic").await;
    assert!(!third.is_empty());
    app.stop().await;
}
on_both_backends!(overdue_past_grace_stops_new_orders_but_not_running_workspaces);
