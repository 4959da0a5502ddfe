//! The platform gets paid (issue 14, items 3 and 5): a reseller saves a card at `/manage/billing` through
//! the platform's own Stripe (the local fake); a finalised wholesale invoice is due by the terms and charged
//! to the card at once, retried on the dunning schedule, marked paid once; unpaid past the grace period
//! the tenant is past due (new customer orders refused with a neutral message), then suspended; paying
//! the balance ("Pay now") resumes it at once. Every transition is audited and emailed. Charging survives
//! crashes at each step and concurrent runners without a second charge.

use app::backend::billing::collection::{self, Collected};
use app::backend::billing::wholesale::{self, WholesaleInvoice};
use app::backend::platform::audit::{self, Filter};
use app::backend::platform::db::now;
use app::backend::state::Tenant;
use app::domain::billing_state::WholesaleStatus;
use app::domain::payment_terms::DAY_MS;
use app::domain::period::Period;
use app::domain::tenant_billing::{TenantBillingStatus, WholesaleTerms};
use app::manage::platform_billing::PlatformBillingView;
use server::stripe_fake::{FakePaymentIntent, StripeFake};

use crate::common::{Backend, Client, TestApp};

/// The platform fee every bill below carries (and so its total: the periods have no usage).
pub(crate) const FEE: i64 = 4_900;

pub(crate) async fn spawn(b: Backend) -> TestApp {
    let app = TestApp::spawn_with(
        b,
        &[("DEMO_RESELLER", "true"), ("METER_INTERVAL_MS", "3600000"), ("BILLING_INTERVAL_MS", "3600000")],
    )
    .await;
    sqlx::query("UPDATE tenants SET platform_fee_minor = $1 WHERE slug = 'acme'")
        .bind(FEE)
        .execute(app.state.central().pool())
        .await
        .unwrap();
    app
}

pub(crate) async fn acme(app: &TestApp) -> Tenant {
    let entry = app.state.registry().entry_by_slug("acme").await.unwrap().unwrap();
    app.state.tenant_by_id(entry.id).await.unwrap().unwrap()
}

pub(crate) fn fake(app: &TestApp) -> StripeFake {
    app.stripe.clone().expect("the local Stripe runs in tests").0
}

fn platform_key(app: &TestApp) -> String {
    app.state.settings().platform_stripe.as_ref().expect("the platform account is on the fake").secret_key.clone()
}

/// The charges the platform's Stripe made for one wholesale invoice (off-session, by their metadata).
fn charges_of(app: &TestApp, invoice: &str) -> Vec<FakePaymentIntent> {
    fake(app)
        .payment_intents(&platform_key(app))
        .into_iter()
        .filter(|pi| pi.metadata.get("wholesale_invoice_id").map(String::as_str) == Some(invoice))
        .collect()
}

pub(crate) async fn owner(app: &TestApp) -> Client {
    let c = app.client_for("acme.localhost");
    c.call::<()>("staff_login", &[("email", "owner@acme.test"), ("password", "owner-password")]).await.unwrap();
    c
}

/// Saves a card through the platform's setup-mode payment page (`declines`: one whose charges fail).
pub(crate) async fn save_card(app: &TestApp, staff: &Client, declines: bool) {
    let url: String = staff.call("save_platform_card", &[]).await.unwrap();
    let cs = url.rsplit('/').next().unwrap().to_owned();
    fake(app).complete_checkout(&cs, declines).unwrap();
    fake(app).flush_webhooks().await;
    // The return to the page records nothing more (the webhook did it).
    let _: bool = staff.call("confirm_platform_checkout", &[("session_id", &cs)]).await.unwrap();
    let view: PlatformBillingView = staff.call("wholesale_account", &[]).await.unwrap();
    let last4 = if declines { "0341" } else { "4242" };
    assert_eq!(view.card.as_deref(), Some(format!("visa •••• {last4}").as_str()));
}

/// Bills acme's wholesale invoice for `period` the way the billing run does; returns it.
async fn bill(app: &TestApp, tenant: &Tenant, period: &str) -> WholesaleInvoice {
    let p = Period::parse(period, 1).unwrap();
    wholesale::bill_tenant(&app.state, tenant, p, 0).await.unwrap();
    wholesale::get(&app.state, tenant, period).await.unwrap().unwrap()
}

async fn reload(app: &TestApp, id: &str) -> WholesaleInvoice {
    wholesale::by_id(&app.state, id).await.unwrap().unwrap()
}

async fn set(app: &TestApp, id: &str, column: &str, at: Option<i64>) {
    let sql = match column {
        "due_at" => "UPDATE wholesale_invoices SET due_at = $1 WHERE id = $2",
        "next_payment_at" => "UPDATE wholesale_invoices SET next_payment_at = $1 WHERE id = $2",
        other => panic!("{other}"),
    };
    sqlx::query(sql).bind(at).bind(id).execute(app.state.central().pool()).await.unwrap();
}

async fn billing_status(app: &TestApp, tenant: &Tenant) -> TenantBillingStatus {
    collection::status(app.state.central(), tenant.id).await.unwrap()
}

async fn audit_details(app: &TestApp, tenant: &Tenant, action: &str) -> Vec<String> {
    let filter = Filter { tenant: Some(tenant.id), action: action.into(), actor: String::new() };
    let mut rows: Vec<String> =
        audit::list(app.state.central(), &filter, 100).await.unwrap().into_iter().map(|r| r.detail).collect();
    rows.reverse();
    rows
}

async fn outbox(app: &TestApp, kind: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT subject FROM outbox WHERE kind = $1 AND to_addr = 'owner@acme.test' ORDER BY created_at")
        .bind(kind)
        .fetch_all(app.state.central().pool())
        .await
        .unwrap()
}

/// A customer of acme orders a workspace: the status and body of the answer.
pub(crate) async fn customer_orders(app: &TestApp) -> (u16, String) {
    let c = app.client_for("acme.localhost");
    c.call::<()>("login", &[("email", "customer@acme.test"), ("password", "customer-password")]).await.unwrap();
    let cat: app::catalog::CatalogView = c.call("catalog", &[]).await.unwrap();
    c.call_raw("order_workspace", &[("plan", "developer-basic"), ("order_key", &cat.order_key.unwrap())]).await
}

async fn a_saved_card_pays_a_wholesale_invoice_when_it_is_issued_once_only(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    let staff = owner(&app).await;
    save_card(&app, &staff, false).await;

    let inv = bill(&app, &tenant, "2026-01").await;
    let due = inv.due_at.expect("a due date from the terms");
    assert_eq!(due, inv.created_at + i64::from(WholesaleTerms::default().due_days) * DAY_MS);
    assert_eq!(inv.status, WholesaleStatus::Paid, "charged to the saved card at once");
    assert!(inv.paid_at.is_some());
    let charges = charges_of(&app, &inv.id);
    assert_eq!(charges.len(), 1);
    assert_eq!((charges[0].amount, charges[0].status.as_str()), (FEE, "succeeded"));

    // Rerunning the bill, the collection pass and every webhook again records and charges nothing more.
    let paid_at = inv.paid_at;
    wholesale::bill_tenant(&app.state, &tenant, Period::parse("2026-01", 1).unwrap(), 0).await.unwrap();
    collection::pass(&app.state).await.unwrap();
    assert_eq!(collection::collect(&app.state, &inv.id).await.unwrap(), Collected::Nothing);
    fake(&app).redeliver_all();
    fake(&app).flush_webhooks().await;
    assert_eq!(charges_of(&app, &inv.id).len(), 1);
    assert_eq!(reload(&app, &inv.id).await.paid_at, paid_at, "paid_at is set once");
    let paid = audit_details(&app, &tenant, "wholesale.paid").await;
    let fee = app::domain::money::Money::from_minor(FEE, inv.currency);
    assert_eq!(paid, vec![format!("{} paid ({fee})", inv.display_number())]);
    assert_eq!(billing_status(&app, &tenant).await, TenantBillingStatus::Active);
    let view: PlatformBillingView = staff.call("wholesale_account", &[]).await.unwrap();
    assert!(view.unpaid.is_empty(), "{view:?}");

    // The platform's webhook answers only to its own signature; nothing is done otherwise.
    let res = reqwest::Client::new()
        .post(format!("{}{}", app.base, collection::PLATFORM_WEBHOOK_PATH))
        .header("stripe-signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    app.stop().await;
}
on_both_backends!(a_saved_card_pays_a_wholesale_invoice_when_it_is_issued_once_only);

async fn a_declined_card_is_dunned_then_past_due_then_suspended_and_paying_resumes_at_once(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    let staff = owner(&app).await;
    save_card(&app, &staff, true).await;

    // Attempt 1, when issued: declined, emailed, retried a day later.
    let inv = bill(&app, &tenant, "2026-02").await;
    assert_eq!((inv.status, inv.payment_attempts), (WholesaleStatus::Finalised, 1));
    assert_eq!(inv.last_payment_error.as_deref(), Some("generic_decline"));
    let next = inv.next_payment_at.unwrap() - now().as_millis();
    assert!((DAY_MS - 60_000..=DAY_MS).contains(&next), "retried in a day: {next}");
    // Not due yet: the pass leaves it.
    collection::pass(&app.state).await.unwrap();
    assert_eq!(charges_of(&app, &inv.id).len(), 1);
    // The dunning schedule: a day, three days, a week after each failure; then no more tries.
    for (attempt, wait) in [(2, Some(3 * DAY_MS)), (3, Some(7 * DAY_MS)), (4, None)] {
        set(&app, &inv.id, "next_payment_at", Some(now().as_millis() - 1)).await;
        collection::pass(&app.state).await.unwrap();
        let inv = reload(&app, &inv.id).await;
        assert_eq!(inv.payment_attempts, attempt);
        match wait {
            Some(w) => assert!(inv.next_payment_at.unwrap() - now().as_millis() > w - 60_000),
            None => assert_eq!(inv.next_payment_at, None, "the schedule is over"),
        }
    }
    collection::pass(&app.state).await.unwrap();
    let charges = charges_of(&app, &inv.id);
    assert_eq!(charges.len(), 4, "four attempts, no more");
    assert!(charges.iter().all(|c| c.status == "requires_payment_method"));
    assert_eq!(outbox(&app, "wholesale_payment_failed").await.len(), 4, "each failure emailed once");
    assert_eq!(billing_status(&app, &tenant).await, TenantBillingStatus::Active, "within the grace period");

    // Due 8 days ago (grace 7): past due. Audited, emailed, on the admin's list; new orders refused, neutrally.
    set(&app, &inv.id, "due_at", Some(now().as_millis() - 8 * DAY_MS)).await;
    collection::pass(&app.state).await.unwrap();
    assert_eq!(billing_status(&app, &tenant).await, TenantBillingStatus::PastDue);
    let listed = app::backend::resellers::overview::list(&app.state).await.unwrap();
    assert_eq!(listed.iter().find(|t| t.slug == "acme").unwrap().billing_status, TenantBillingStatus::PastDue);
    let (status, body) = customer_orders(&app).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not taking new orders"), "{body}");
    for secret in ["invoice", "WS-", "owe", "past due", "wholesale"] {
        assert!(!body.to_lowercase().contains(&secret.to_lowercase()), "the customer is not told why: {body}");
    }
    let view: PlatformBillingView = staff.call("wholesale_account", &[]).await.unwrap();
    assert_eq!((view.status, view.unpaid.len()), (TenantBillingStatus::PastDue, 1));

    // 14 more days: suspended (once, however often the pass runs).
    set(&app, &inv.id, "due_at", Some(now().as_millis() - 22 * DAY_MS)).await;
    collection::pass(&app.state).await.unwrap();
    collection::pass(&app.state).await.unwrap();
    assert_eq!(billing_status(&app, &tenant).await, TenantBillingStatus::Suspended);
    assert_eq!(customer_orders(&app).await.0, 400);

    // "Pay now" for exactly the invoice: the same page however often it is pressed; paying resumes at once
    // (no scheduler pass), and the card it used replaces the declining one.
    let url: String = staff.call("pay_wholesale_invoice", &[("id", &inv.id)]).await.unwrap();
    let again: String = staff.call("pay_wholesale_invoice", &[("id", &inv.id)]).await.unwrap();
    assert_eq!(url, again);
    let cs = url.rsplit('/').next().unwrap().to_owned();
    fake(&app).complete_checkout(&cs, false).unwrap();
    fake(&app).flush_webhooks().await;
    let paid = reload(&app, &inv.id).await;
    assert_eq!(paid.status, WholesaleStatus::Paid);
    assert!(paid.paid_at.is_some());
    assert_eq!(billing_status(&app, &tenant).await, TenantBillingStatus::Active, "resumed at once");
    let confirmed: bool = staff.call("confirm_platform_checkout", &[("session_id", &cs)]).await.unwrap();
    assert!(!confirmed, "recorded once: the webhook got there first");
    assert_eq!(staff.call_raw("pay_wholesale_invoice", &[("id", &inv.id)]).await.0, 409, "nothing left to pay");
    let view: PlatformBillingView = staff.call("wholesale_account", &[]).await.unwrap();
    assert_eq!(view.card.as_deref(), Some("visa •••• 4242"));
    let (status, body) = customer_orders(&app).await;
    assert_eq!(status, 200, "orders again: {body}");

    assert_eq!(
        audit_details(&app, &tenant, "billing_status.changed").await,
        vec!["active → past_due".to_owned(), "past_due → suspended".to_owned(), "suspended → active".to_owned()]
    );
    let mails = outbox(&app, "billing_status").await;
    assert_eq!(mails.len(), 3, "{mails:?}");
    assert!(mails[0].contains("past due") && mails[1].contains("suspended") && mails[2].contains("good standing"));
    app.stop().await;
}
on_both_backends!(a_declined_card_is_dunned_then_past_due_then_suspended_and_paying_resumes_at_once);

async fn reminders_come_before_and_after_the_wholesale_due_date_once_each(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    // No card: the invoice waits for "Pay now".
    let inv = bill(&app, &tenant, "2026-03").await;
    assert_eq!((inv.status, inv.payment_attempts), (WholesaleStatus::Finalised, 0));
    assert!(charges_of(&app, &inv.id).is_empty());
    assert_eq!(collection::remind(&app.state, tenant.id).await.unwrap(), 0, "two weeks to go");
    for (days, expected) in [(2, 1), (-2, 2), (-30, 3)] {
        set(&app, &inv.id, "due_at", Some(now().as_millis() + days * DAY_MS)).await;
        assert_eq!(collection::remind(&app.state, tenant.id).await.unwrap(), 1, "due in {days} days");
        assert_eq!(collection::remind(&app.state, tenant.id).await.unwrap(), 0, "once");
        assert_eq!(outbox(&app, "wholesale_reminder").await.len(), expected);
    }
    let subjects = outbox(&app, "wholesale_reminder").await;
    assert!(subjects[0].contains("is due on"), "{subjects:?}");
    assert!(subjects[1].contains("overdue") && subjects[2].contains("overdue"), "{subjects:?}");
    app.stop().await;
}
on_both_backends!(reminders_come_before_and_after_the_wholesale_due_date_once_each);

async fn a_crash_at_any_step_of_a_wholesale_charge_never_charges_twice(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    let staff = owner(&app).await;
    save_card(&app, &staff, false).await;
    for (i, point) in ["wholesale.charge_written", "wholesale.charged", "wholesale.recording"].iter().enumerate() {
        // The charge at issue crashes at `point` (the billing run carries on: dunning retries).
        app.state.failpoints().arm(point, 1);
        let inv = bill(&app, &tenant, &format!("2026-0{}", i + 4)).await;
        assert_eq!(inv.status, WholesaleStatus::Finalised, "{point}: the crash left it unpaid");
        // The next pass resumes the pending attempt with its own key.
        collection::pass(&app.state).await.unwrap();
        fake(&app).flush_webhooks().await;
        let inv = reload(&app, &inv.id).await;
        assert_eq!(inv.status, WholesaleStatus::Paid, "{point}");
        let charges = charges_of(&app, &inv.id);
        assert_eq!(charges.len(), 1, "{point}: exactly one charge");
        assert_eq!(charges[0].status, "succeeded");
        let (attempts, pending): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END) AS BIGINT) FROM wholesale_charges \
             WHERE invoice_id = $1",
        )
        .bind(&inv.id)
        .fetch_one(app.state.central().pool())
        .await
        .unwrap();
        assert_eq!((attempts, pending), (1, 0), "{point}: one attempt, finished");
    }
    assert_eq!(audit_details(&app, &tenant, "wholesale.paid").await.len(), 3, "each paid once");
    app.stop().await;
}
on_both_backends!(a_crash_at_any_step_of_a_wholesale_charge_never_charges_twice);

async fn concurrent_collectors_charge_a_wholesale_invoice_once(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    // Issued while no card was saved; then a card is on file (set up directly, without the page's
    // immediate charge) and four collectors race.
    let inv = bill(&app, &tenant, "2026-08").await;
    let staff = owner(&app).await;
    let _: String = staff.call("save_platform_card", &[]).await.unwrap();
    let customer: String =
        sqlx::query_scalar("SELECT stripe_customer_id FROM platform_billing_accounts WHERE tenant_id = $1")
            .bind(tenant.id.to_string())
            .fetch_one(app.state.central().pool())
            .await
            .unwrap();
    let card = fake(&app).attach_card(&platform_key(&app), &customer, false).unwrap();
    sqlx::query("UPDATE platform_billing_accounts SET payment_method_id = $1, card_label = 'visa •••• 4242'")
        .bind(&card)
        .execute(app.state.central().pool())
        .await
        .unwrap();
    let runners: Vec<_> = (0..4)
        .map(|_| {
            let (state, id) = (app.state.clone(), inv.id.clone());
            tokio::spawn(async move { collection::collect(&state, &id).await })
        })
        .collect();
    for r in futures::future::join_all(runners).await {
        let r = r.unwrap();
        assert!(r.is_ok(), "{r:?}");
    }
    fake(&app).flush_webhooks().await;
    assert_eq!(reload(&app, &inv.id).await.status, WholesaleStatus::Paid);
    assert_eq!(charges_of(&app, &inv.id).len(), 1, "one charge, however many collectors");
    assert_eq!(audit_details(&app, &tenant, "wholesale.paid").await.len(), 1);
    app.stop().await;
}
on_both_backends!(concurrent_collectors_charge_a_wholesale_invoice_once);

async fn the_admin_sees_receivables_by_age_collected_this_month_and_a_csv(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    // Two unpaid bills (one 40 days past due, one not due yet) and one paid this month by card.
    let old = bill(&app, &tenant, "2026-01").await;
    set(&app, &old.id, "due_at", Some(now().as_millis() - 40 * DAY_MS)).await;
    let current = bill(&app, &tenant, "2026-02").await;
    assert_eq!(current.status, WholesaleStatus::Finalised);
    let staff = owner(&app).await;
    save_card(&app, &staff, false).await;
    // Saving the card charged both open bills at once; a third is charged when issued.
    let paid = bill(&app, &tenant, "2026-03").await;
    assert_eq!(paid.status, WholesaleStatus::Paid);
    let r = collection::receivables(&app.state).await.unwrap();
    let collected: i64 = r.collected_this_month.iter().map(|m| m.minor()).sum();
    assert_eq!(collected, 3 * FEE, "the card paid all three this month");
    assert!(r.rows.iter().all(|row| row.slug != "acme"), "nothing open: {:?}", r.rows);
    assert!(r.revenue_by_month.iter().any(|m| m.period == "2026-01" && m.total.minor() == FEE));

    // Unpaid bills after the card is gone: in their age buckets, on the page and in the CSV.
    sqlx::query("UPDATE platform_billing_accounts SET payment_method_id = NULL")
        .execute(app.state.central().pool())
        .await
        .unwrap();
    let late = bill(&app, &tenant, "2026-04").await;
    set(&app, &late.id, "due_at", Some(now().as_millis() - 40 * DAY_MS)).await;
    bill(&app, &tenant, "2026-05").await;
    let r = collection::receivables(&app.state).await.unwrap();
    let row = r.rows.iter().find(|row| row.slug == "acme").unwrap();
    let minors: Vec<i64> = row.buckets.iter().map(|m| m.minor()).collect();
    assert_eq!(minors, vec![FEE, 0, FEE, 0], "current and 31–60 days");
    assert_eq!(row.open().minor(), 2 * FEE);

    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    let (status, csv) = admin.get_page("/admin/billing/receivables.csv").await;
    assert_eq!(status, 200, "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("acme,") && l.ends_with(",49.00,0.00,49.00,0.00,98.00")), "{csv}");
    // Not for anyone else.
    let (status, _) = app.client_for("admin.localhost").get_page("/admin/billing/receivables.csv").await;
    assert!(status == 401 || status == 303 || status == 403, "{status}");
    app.stop().await;
}
on_both_backends!(the_admin_sees_receivables_by_age_collected_this_month_and_a_csv);

async fn a_pay_now_completed_after_the_invoice_was_charged_is_refunded_once(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    let staff = owner(&app).await;
    // No card yet: the invoice is left due, and the reseller opens "Pay now".
    let inv = bill(&app, &tenant, "2026-03").await;
    assert_eq!(inv.status, WholesaleStatus::Finalised);
    let url: String = staff.call("pay_wholesale_invoice", &[("id", &inv.id)]).await.unwrap();
    let cs = url.rsplit('/').next().unwrap().to_owned();
    // Meanwhile a card is saved, and the invoice is charged to it at once.
    save_card(&app, &staff, false).await;
    let charged = reload(&app, &inv.id).await;
    assert_eq!(charged.status, WholesaleStatus::Paid);
    let paid_at = charged.paid_at;
    // Then the payment page is paid too: that money goes back, once, however often it is reported.
    fake(&app).complete_checkout(&cs, false).unwrap();
    fake(&app).flush_webhooks().await;
    let confirmed: bool = staff.call("confirm_platform_checkout", &[("session_id", &cs)]).await.unwrap();
    assert!(!confirmed, "nothing more is recorded against the invoice");
    fake(&app).redeliver_all();
    fake(&app).flush_webhooks().await;
    let paid_by: Option<String> = sqlx::query_scalar("SELECT payment_intent FROM wholesale_invoices WHERE id = $1")
        .bind(&inv.id)
        .fetch_one(app.state.central().pool())
        .await
        .unwrap();
    let refunds = fake(&app).refunds(&platform_key(&app));
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].amount, FEE);
    assert_ne!(Some(refunds[0].payment_intent.clone()), paid_by, "the payment page's money, not the charge's");
    assert_eq!(charges_of(&app, &inv.id).iter().filter(|c| Some(&c.id) == paid_by.as_ref()).count(), 1);
    let after = reload(&app, &inv.id).await;
    assert_eq!((after.status, after.paid_at), (WholesaleStatus::Paid, paid_at), "paid once, by the charge");
    app.stop().await;
}
on_both_backends!(a_pay_now_completed_after_the_invoice_was_charged_is_refunded_once);
