//! A reseller's own customers (`/manage/customers`, issue 13 item 4), through the server functions the
//! pages call, as the demo reseller's owner: the directory paged and searched over 10,000 customers; credit
//! added and removed through the ledger; credit notes, voids and resends following the invoice's state; a
//! card-paid invoice refunded through the storefront's Stripe (the local fake) exactly once, resumed after
//! an interruption, credited instead when Stripe refuses; suspension stopping workspaces and refusing
//! orders and starts. Every action is audited with its reason, refuses bad input with a 4xx and changes
//! nothing then, and the customer sees the result on `/billing`.

use std::time::Duration;

use crate::common::{self, eventually, Backend, Client, TestApp};
use app::backend::billing::invoices::{self, CreditTo, Status};
use app::backend::billing::{ledger, payments, refunds, run};
use app::backend::clients::stripe::{Metadata, StripeClient, StripeConfig};
use app::backend::identity::customers;
use app::backend::platform::audit::{self, Filter};
use app::backend::platform::db::now;
use app::backend::state::Tenant;
use app::billing::BillingView;
use app::domain::billing_state::{InvoiceKind, InvoiceStatus, LedgerEntryKind};
use app::domain::customer_care::CardRefundStatus;
use app::domain::ids::CustomerId;
use app::domain::money::{Currency, Money, Rate};
use app::domain::period::Period;
use app::domain::time::Timestamp;
use app::domain::workspace::WorkspaceState;
use app::error::AppError;
use app::manage::customers::{CreditResult, CustomerDetail, CustomerList};

const OWNER: &str = "owner@acme.test";
const CUSTOMER: &str = "customer@acme.test";
const MIN: i64 = 60_000;

/// The demo reseller `acme`; metering and billing run only when a test runs them.
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

async fn staff(app: &TestApp) -> Client {
    let c = app.client_for("acme.localhost");
    c.call::<()>("staff_login", &[("email", OWNER), ("password", "owner-password")]).await.unwrap();
    c
}

async fn customer(app: &TestApp) -> Client {
    let c = app.client_for("acme.localhost");
    c.call::<()>("login", &[("email", CUSTOMER), ("password", "customer-password")]).await.unwrap();
    c
}

async fn customer_id(tenant: &Tenant) -> CustomerId {
    customers::find_login(&tenant.db, CUSTOMER).await.unwrap().unwrap().0
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The audit rows of `action` on acme, newest first.
async fn audits(app: &TestApp, tenant: &Tenant, action: &str) -> Vec<audit::Entry> {
    let filter = Filter { tenant: Some(tenant.id), action: action.into(), actor: String::new() };
    audit::list(app.state.central(), &filter, 100).await.unwrap()
}

async fn balance(tenant: &Tenant, c: CustomerId) -> Money {
    ledger::balance(&tenant.db, c, Currency::USD).await.unwrap()
}

async fn ledger_rows(tenant: &Tenant, c: CustomerId) -> usize {
    ledger::entries(&tenant.db, c, 10_000).await.unwrap().len()
}

/// A stopped workspace of `c` with usage sessions `(start, end)` at `rate` (no Kasm session).
async fn workspace_with_usage(tenant: &Tenant, c: CustomerId, rate: &str, sessions: &[(Timestamp, Timestamp)]) {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO workspaces (id, customer_id, plan_code, order_key, state, transition_at, created_at, updated_at) \
         VALUES ($1, $2, 'developer-basic', $3, 'stopped', $4, $4, $4)",
    )
    .bind(&id)
    .bind(c.to_string())
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(sessions[0].0.as_millis())
    .execute(tenant.db.pool())
    .await
    .unwrap();
    for (start, end) in sessions {
        sqlx::query(
            "INSERT INTO usage_sessions (id, workspace_id, started_at, ended_at, retail_per_hour, wholesale_per_hour, \
             currency) VALUES ($1, $2, $3, $4, $5, '0.10', 'USD')",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&id)
        .bind(start.as_millis())
        .bind(end.as_millis())
        .bind(rate)
        .execute(tenant.db.pool())
        .await
        .unwrap();
    }
}

/// `hours` of usage at 0.80/h in `period`, billed by the billing run: the customer's finalised invoice.
async fn billed(app: &TestApp, tenant: &Tenant, c: CustomerId, period: &str, hours: i64) -> invoices::Invoice {
    let p = Period::parse(period, 1).unwrap();
    let start = p.start().plus_millis(60 * MIN);
    workspace_with_usage(tenant, c, "0.80", &[(start, start.plus_millis(hours * 60 * MIN))]).await;
    run::run_tenant(&app.state, tenant, p, |_, _| {}).await.unwrap();
    let all = invoices::list_for(&tenant.db, c).await.unwrap();
    all.into_iter().find(|i| i.period == period && i.kind == InvoiceKind::Invoice).unwrap()
}

async fn detail(staff: &Client, c: CustomerId) -> CustomerDetail {
    staff.call("manage_customer", &[("id", &c.to_string())]).await.unwrap()
}

async fn the_directory_pages_and_searches_ten_thousand_customers(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    // 10,000 customers in one statement, created one millisecond apart (long before the demo customer),
    // with UUID-shaped ids and searchable emails and names.
    let sql = match b {
        Backend::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999) \
             INSERT INTO customers (id, email, name, password_hash, created_at, email_verified_at) \
             SELECT printf('00000000-0000-4000-8000-%012d', i), printf('cust-%05d@bulk.test', i), \
             printf('Bulk Person %05d', i), 'not-a-hash', 1000000 + i, 1000000 + i FROM n"
        }
        Backend::Postgres => {
            "INSERT INTO customers (id, email, name, password_hash, created_at, email_verified_at) \
             SELECT '00000000-0000-4000-8000-' || lpad(i::text, 12, '0'), 'cust-' || lpad(i::text, 5, '0') || '@bulk.test', \
             'Bulk Person ' || lpad(i::text, 5, '0'), 'not-a-hash', 1000000 + i, 1000000 + i \
             FROM generate_series(0, 9999) AS i"
        }
    };
    sqlx::query(sql).execute(tenant.db.pool()).await.unwrap();
    let staff = staff(&app).await;
    let bulk = |i: i64| format!("cust-{i:05}@bulk.test");

    // Newest first: the demo customer, then the bulk ones from the last one made.
    let first: CustomerList = staff.call("manage_customers", &[("search", ""), ("page", "")]).await.unwrap();
    assert_eq!((first.total, first.page, first.pages, first.rows.len()), (10_001, 1, 401, 25));
    assert_eq!(first.rows[0].email, CUSTOMER);
    assert_eq!(first.rows[0].balance, usd(5_000), "the demo customer's credit");
    assert_eq!(first.rows[1].email, bulk(9_999));
    assert_eq!(first.rows[24].email, bulk(9_976));
    let second: CustomerList = staff.call("manage_customers", &[("search", ""), ("page", "2")]).await.unwrap();
    assert_eq!(
        second.rows.iter().map(|r| r.email.clone()).collect::<Vec<_>>(),
        (9_951..=9_975).rev().map(bulk).collect::<Vec<_>>()
    );
    let last: CustomerList = staff.call("manage_customers", &[("search", ""), ("page", "401")]).await.unwrap();
    assert_eq!((last.page, last.rows.len(), last.rows[0].email.as_str()), (401, 1, bulk(0).as_str()));
    let past: CustomerList = staff.call("manage_customers", &[("search", ""), ("page", "9999")]).await.unwrap();
    assert_eq!((past.page, past.rows.len()), (401, 1), "a page past the end is the last page");
    assert!(last.rows.iter().all(|r| r.balance == usd(0) && r.workspaces == 0 && !r.suspended));

    // Search: emails and names, case-insensitive, paged the same way; LIKE's wildcards match themselves.
    let one: CustomerList = staff.call("manage_customers", &[("search", " CUST-04242@"), ("page", "")]).await.unwrap();
    assert_eq!((one.total, one.rows.len(), one.rows[0].email.as_str()), (1, 1, bulk(4_242).as_str()));
    let by_name: CustomerList =
        staff.call("manage_customers", &[("search", "person 0424"), ("page", "")]).await.unwrap();
    assert_eq!((by_name.total, by_name.rows[0].name.as_str()), (10, "Bulk Person 04249"));
    let many: CustomerList =
        staff.call("manage_customers", &[("search", "bulk person 0"), ("page", "3")]).await.unwrap();
    assert_eq!((many.total, many.pages, many.page, many.rows.len()), (10_000, 400, 3, 25));
    assert_eq!(many.search, "bulk person 0");
    for wildcard in ["%", "_", "\\"] {
        let none: CustomerList = staff.call("manage_customers", &[("search", wildcard), ("page", "")]).await.unwrap();
        assert_eq!((none.total, none.rows.len(), none.pages), (0, 0, 1), "{wildcard}");
    }

    // Bad input: a clear 400; strangers: 401.
    for (search, page) in [("", "two"), ("", "0"), ("", "-1"), (&*"x".repeat(101), "")] {
        let (status, body) = staff.call_raw("manage_customers", &[("search", search), ("page", page)]).await;
        assert_eq!(status, 400, "{search:?} {page:?}: {body}");
    }
    let c = customer(&app).await;
    assert_eq!(c.call::<CustomerList>("manage_customers", &[("search", ""), ("page", "")]).await.unwrap_err().0, 401);
    let anon = app.client_for("acme.localhost");
    assert_eq!(anon.call_raw("manage_customers", &[("search", ""), ("page", "")]).await.0, 401);
    // The page itself renders for staff.
    let (status, html) = staff.get_page("/manage/customers?q=cust-00007").await;
    assert_eq!(status, 200);
    assert!(html.contains("cust-00007@bulk.test"), "{html}");
    app.stop().await;
}
on_both_backends!(the_directory_pages_and_searches_ten_thousand_customers);

async fn credit_is_added_and_removed_through_the_ledger_with_a_reason(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    let staff = staff(&app).await;
    let c = customer_id(&tenant).await;
    let id = c.to_string();
    let before = ledger_rows(&tenant, c).await;
    let adjust = |direction: &'static str, amount: &'static str, reason: &'static str, key: String| {
        let id = id.clone();
        let staff = &staff;
        async move {
            staff
                .call::<Money>(
                    "customer_credit",
                    &[
                        ("id", &id),
                        ("direction", direction),
                        ("amount", amount),
                        ("reason", reason),
                        ("request_key", &key),
                    ],
                )
                .await
        }
    };

    // Refused, and nothing changes: no reason, a bad amount or direction, an expired form, an overdraw.
    for (direction, amount, reason, k) in [
        ("add", "10.00", "", key()),
        ("add", "10.00", " \n ", key()),
        ("add", "ten", "goodwill", key()),
        ("add", "0", "goodwill", key()),
        ("add", "-5", "goodwill", key()),
        ("add", "10000.01", "goodwill", key()),
        ("steal", "10.00", "goodwill", key()),
        ("add", "10.00", "goodwill", "not-a-key".to_owned()),
        ("remove", "50.01", "too much", key()),
    ] {
        let (status, e) = adjust(direction, amount, reason, k).await.unwrap_err();
        assert_eq!(status, 400, "{direction} {amount} {reason:?}: {e:?}");
    }
    let (_, e) = adjust("add", "10.00", "", key()).await.unwrap_err();
    assert_eq!(e, AppError::Invalid("Give a reason: it is recorded with the change.".into()));
    let (_, e) = adjust("remove", "50.01", "too much", key()).await.unwrap_err();
    assert_eq!(e, AppError::Invalid("The balance is $50.00: at most that much can be removed.".into()));
    assert_eq!((balance(&tenant, c).await, ledger_rows(&tenant, c).await), (usd(5_000), before));

    // Added once per form, however often it is submitted.
    let k = key();
    assert_eq!(adjust("add", "12.50", "outage on the 3rd", k.clone()).await.unwrap(), usd(6_250));
    assert_eq!(adjust("add", "12.50", "outage on the 3rd", k.clone()).await.unwrap(), usd(6_250), "a retry");
    // The same key on the other form is its own submit.
    assert_eq!(adjust("remove", "2.50", "correction", k).await.unwrap(), usd(6_000));
    assert_eq!(adjust("remove", "60.00", "closing the account", key()).await.unwrap(), usd(0));
    assert_eq!(ledger::ledger_sum(&tenant.db, c).await.unwrap(), 0, "the balance is the ledger's sum");
    assert_eq!(ledger_rows(&tenant, c).await, before + 3);

    let added = audits(&app, &tenant, "customer.credit_added").await;
    assert_eq!(added.len(), 1);
    assert_eq!((added[0].actor.as_str(), added[0].actor_kind.as_str()), (OWNER, "staff"));
    assert_eq!(added[0].detail, format!("{CUSTOMER}: $12.50 (outage on the 3rd)"));
    assert!(added[0].ip.is_some());
    let mut removed: Vec<String> =
        audits(&app, &tenant, "customer.credit_removed").await.into_iter().map(|r| r.detail).collect();
    removed.sort();
    assert_eq!(
        removed,
        [format!("{CUSTOMER}: $2.50 (correction)"), format!("{CUSTOMER}: $60.00 (closing the account)")]
    );

    // The customer sees it on /billing: the balance and each movement with its reason.
    let cust = customer(&app).await;
    let v: BillingView = cust.call("billing_overview", &[]).await.unwrap();
    assert_eq!(v.balance, usd(0));
    let adjustments: Vec<(Money, String)> =
        v.ledger.iter().filter(|l| l.kind == LedgerEntryKind::Adjustment).map(|l| (l.amount, l.memo.clone())).collect();
    for expected in [
        (usd(1_250), "Credit added: outage on the 3rd".to_owned()),
        (usd(-250), "Credit removed: correction".to_owned()),
        (usd(-6_000), "Credit removed: closing the account".to_owned()),
    ] {
        assert!(adjustments.contains(&expected), "{expected:?} in {adjustments:?}");
    }
    // And so do the staff.
    let d = detail(&staff, c).await;
    assert_eq!((d.email.as_str(), d.balance, d.suspended.clone()), (CUSTOMER, usd(0), None));
    assert!(d.ledger.iter().any(|l| l.memo == "Credit added: outage on the 3rd"));
    assert!(!d.sign_ins.is_empty(), "the customer's browser session is listed");
    assert_ne!(d.form_key, detail(&staff, c).await.form_key, "every load has its own form key");

    // Nobody else's customers, and no one but staff.
    let house = app.state.house().await.unwrap();
    let demo = customers::find_login(&house.db, "demo@ezscale.test").await.unwrap().unwrap().0;
    for other in [demo.to_string(), uuid::Uuid::new_v4().to_string(), "not-an-id".into()] {
        let (status, _) = staff
            .call_raw(
                "customer_credit",
                &[("id", &other), ("direction", "add"), ("amount", "1"), ("reason", "x"), ("request_key", &key())],
            )
            .await;
        assert_eq!(status, 404, "{other}");
        assert_eq!(staff.call_raw("manage_customer", &[("id", &other)]).await.0, 404);
    }
    assert_eq!(balance(&house, demo).await, usd(5_000), "the house's customer is untouched");
    let (status, _) = cust
        .call_raw(
            "customer_credit",
            &[
                ("id", &c.to_string()),
                ("direction", "add"),
                ("amount", "100"),
                ("reason", "me"),
                ("request_key", &key()),
            ],
        )
        .await;
    assert_eq!(status, 401, "a customer session is not staff");
    assert_eq!(cust.call_raw("manage_customer", &[("id", &c.to_string())]).await.0, 401);
    assert_eq!(balance(&tenant, c).await, usd(0));
    app.stop().await;
}
on_both_backends!(credit_is_added_and_removed_through_the_ledger_with_a_reason);

async fn credit_notes_voids_and_resends_follow_the_invoice_state(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    let staff = staff(&app).await;
    let c = customer_id(&tenant).await;
    let id = c.to_string();
    // October: 10 h at 0.80 = 8.00, paid from the 50.00 of credit.
    let inv = billed(&app, &tenant, c, "2026-10", 10).await;
    assert_eq!((inv.status, inv.total, inv.credit_applied), (Status::Paid, usd(800), usd(800)));
    assert_eq!(balance(&tenant, c).await, usd(4_200));
    let credit_note = |invoice: String, amount: &'static str, to: &'static str, reason: &'static str, key: String| {
        let id = id.clone();
        let staff = &staff;
        async move {
            staff
                .call::<CreditResult>(
                    "customer_credit_note",
                    &[
                        ("id", &id),
                        ("invoice", &invoice),
                        ("amount", amount),
                        ("to", to),
                        ("reason", reason),
                        ("request_key", &key),
                    ],
                )
                .await
        }
    };

    // A credit note to credit, once per form.
    let k = key();
    let cn = credit_note(inv.id.clone(), "3.00", "credit", "slow desktop", k.clone()).await.unwrap();
    assert_eq!((cn.to_credit, cn.to_card, cn.created), (usd(300), None, true));
    let again = credit_note(inv.id.clone(), "3.00", "credit", "slow desktop", k).await.unwrap();
    assert_eq!((again.credit_note_id.as_str(), again.created), (cn.credit_note_id.as_str(), false));
    assert_eq!(balance(&tenant, c).await, usd(4_500));
    let note = invoices::get(&tenant.db, &cn.credit_note_id).await.unwrap().unwrap();
    assert_eq!(
        (note.kind, note.total, note.memo.as_str(), note.corrects.as_deref()),
        (InvoiceKind::CreditNote, usd(300), "slow desktop", Some(inv.id.as_str()))
    );
    // Not paid by card: "to the card" goes to credit all the same.
    let to_credit = credit_note(inv.id.clone(), "1.00", "card", "rounding", key()).await.unwrap();
    assert_eq!((to_credit.to_credit, to_credit.to_card), (usd(100), None));
    // More than is left to credit (8.00 - 4.00), nothing, no reason, a bad target: refused, nothing changes.
    let notes_before = invoices::list_all_for(&tenant.db, c).await.unwrap().len();
    for (amount, to, reason) in [("4.01", "credit", "x"), ("0", "credit", "x"), ("1", "credit", ""), ("1", "cash", "x")]
    {
        let (status, e) = credit_note(inv.id.clone(), amount, to, reason, key()).await.unwrap_err();
        assert_eq!(status, 400, "{amount} {to} {reason}: {e:?}");
    }
    assert_eq!(invoices::list_all_for(&tenant.db, c).await.unwrap().len(), notes_before);
    assert_eq!(balance(&tenant, c).await, usd(4_600));
    let audited = audits(&app, &tenant, "invoice.credited").await;
    assert_eq!(audited.len(), 2, "{audited:?}");
    assert!(audited.iter().any(|a| a.detail.contains("slow desktop") && a.detail.contains("INV-000001")));

    // A draft (a run interrupted before finalising): it cannot be credited, and can be voided, which gives
    // back what metering had charged to credit for its period.
    let draft = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO invoices (id, customer_id, kind, period, period_start, period_end, status, currency, total_minor, \
         created_at) VALUES ($1, $2, 'invoice', '2026-11', 0, 0, 'draft', 'USD', 250, $3)",
    )
    .bind(&draft)
    .bind(c.to_string())
    .bind(now().as_millis())
    .execute(tenant.db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO usage_charges (customer_id, period, charged_minor, uncharged_minor, updated_at) \
         VALUES ($1, '2026-11', 200, 0, 0)",
    )
    .bind(c.to_string())
    .execute(tenant.db.pool())
    .await
    .unwrap();
    let (status, e) = credit_note(draft.clone(), "1.00", "credit", "x", key()).await.unwrap_err();
    assert_eq!(status, 409, "{e:?}");
    let void = |invoice: &str, reason: &str| {
        let args = [("id", id.clone()), ("invoice", invoice.to_owned()), ("reason", reason.to_owned())];
        let staff = &staff;
        async move {
            let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            staff.call::<Option<Money>>("customer_void_invoice", &args).await
        }
    };
    assert_eq!(void(&draft, "").await.unwrap_err().0, 400);
    let (status, e) = void(&inv.id, "wrong").await.unwrap_err();
    assert_eq!(status, 409, "a finalised invoice is not voided: {e:?}");
    assert!(e.to_string().contains("only a draft can be voided"), "{e}");
    assert_eq!(void(&draft, "customer was on a free trial").await.unwrap(), Some(usd(200)));
    assert_eq!(void(&draft, "customer was on a free trial").await.unwrap(), None, "once");
    assert_eq!(invoices::get(&tenant.db, &draft).await.unwrap().unwrap().status, Status::Void);
    assert_eq!(invoices::get(&tenant.db, &inv.id).await.unwrap().unwrap().status, Status::Paid);
    assert_eq!(balance(&tenant, c).await, usd(4_800));
    let voided = audits(&app, &tenant, "invoice.voided").await;
    assert_eq!(voided.len(), 1);
    assert!(voided[0].detail.contains("customer was on a free trial"), "{voided:?}");
    // A void draft is not a draft the run finalises later.
    let report = run::run_tenant(&app.state, &tenant, Period::parse("2026-11", 1).unwrap(), |_, _| {}).await.unwrap();
    assert_eq!(report.finalised, 0);
    assert_eq!(invoices::get(&tenant.db, &draft).await.unwrap().unwrap().status, Status::Void);

    // Resending: once per form, a draft never.
    let resend = |invoice: &str, reason: &str, key: &str| {
        let args = [
            ("id", id.clone()),
            ("invoice", invoice.to_owned()),
            ("reason", reason.to_owned()),
            ("request_key", key.to_owned()),
        ];
        let staff = &staff;
        async move {
            let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
            staff.call::<bool>("customer_resend_invoice", &args).await
        }
    };
    let resends = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE dedupe_key LIKE 'invoice_resend:%'")
            .fetch_one(app.state.central().pool())
            .await
            .unwrap()
    };
    let k = key();
    assert_eq!(resend(&inv.id, "", &k).await.unwrap_err().0, 400);
    assert!(resend(&inv.id, "customer lost it", &k).await.unwrap());
    assert!(!resend(&inv.id, "customer lost it", &k).await.unwrap(), "a retry sends nothing more");
    assert_eq!(resends().await, 1);
    assert!(resend(&cn.credit_note_id, "for their accountant", &key()).await.unwrap());
    assert_eq!(resends().await, 2);
    let unsent = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO invoices (id, customer_id, kind, period, period_start, period_end, status, currency, total_minor, \
         created_at) VALUES ($1, $2, 'invoice', '2026-09', 0, 0, 'draft', 'USD', 100, $3)",
    )
    .bind(&unsent)
    .bind(c.to_string())
    .bind(now().as_millis())
    .execute(tenant.db.pool())
    .await
    .unwrap();
    assert_eq!(resend(&unsent, "x", &key()).await.unwrap_err().0, 409);
    assert_eq!(resend(&uuid::Uuid::new_v4().to_string(), "x", &key()).await.unwrap_err().0, 404);
    assert_eq!(resends().await, 2);
    let mail: String =
        sqlx::query_scalar("SELECT to_addr FROM outbox WHERE dedupe_key LIKE 'invoice_resend:%' LIMIT 1")
            .fetch_one(app.state.central().pool())
            .await
            .unwrap();
    assert_eq!(mail, CUSTOMER);
    assert_eq!(audits(&app, &tenant, "invoice.resent").await.len(), 2);

    // The customer sees the credit notes, and the credit they brought back.
    let v: BillingView = customer(&app).await.call("billing_overview", &[]).await.unwrap();
    let notes: Vec<Money> = v.invoices.iter().filter(|i| i.kind == InvoiceKind::CreditNote).map(|i| i.total).collect();
    assert_eq!(notes.len(), 2);
    assert!(notes.contains(&usd(300)) && notes.contains(&usd(100)));
    assert!(v.invoices.iter().all(|i| i.status != InvoiceStatus::Draft), "drafts are not the customer's to see");
    assert_eq!(v.balance, usd(4_800));
    // The staff page shows what is left to credit.
    let d = detail(&staff, c).await;
    let row = d.invoices.iter().find(|i| i.id == inv.id).unwrap();
    assert_eq!((row.credited, row.creditable, row.card_refundable), (usd(400), usd(400), usd(0)));
    assert!(d.invoices.iter().any(|i| i.id == draft && i.status == InvoiceStatus::Void));
    app.stop().await;
}
on_both_backends!(credit_notes_voids_and_resends_follow_the_invoice_state);

async fn a_card_paid_invoice_is_refunded_through_stripe_once(b: Backend) {
    let app = spawn(b).await;
    let (fake, _) = app.stripe.clone().expect("the local Stripe runs in development");
    let tenant = acme(&app).await;
    let settings = payments::settings(&app.state, tenant.id).await.unwrap().expect("acme takes cards");
    let staff = staff(&app).await;
    let cust = customer(&app).await;
    let c = customer_id(&tenant).await;
    // The customer tops up 20.00 by card (the card is saved), then runs up 80.00 in October: 70.00 comes
    // from credit, the saved card pays the other 10.00.
    let url: String = cust.call("start_top_up", &[("amount", "20.00")]).await.unwrap();
    fake.complete_checkout(url.rsplit('/').next().unwrap(), false).unwrap();
    fake.flush_webhooks().await;
    assert_eq!(balance(&tenant, c).await, usd(7_000));
    let inv = billed(&app, &tenant, c, "2026-10", 100).await;
    fake.flush_webhooks().await;
    let inv = invoices::get(&tenant.db, &inv.id).await.unwrap().unwrap();
    assert_eq!((inv.status, inv.credit_applied, inv.card_paid), (Status::Paid, usd(7_000), usd(1_000)));
    let pi = inv.card_payment_intent.clone().expect("the card payment is remembered");
    assert!(fake.refunds(&settings.secret_key).is_empty());

    // A refund interrupted after its credit note was written, before Stripe heard of it.
    let pending = invoices::credit(&tenant.db, &inv.id, usd(300), "interrupted", CreditTo::Card, None, now())
        .await
        .unwrap()
        .unwrap();
    let pending_id = pending.card_refund.clone().expect("a card refund waits");
    let row = refunds::get(&tenant.db, &pending_id).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.amount, row.payment_intent.as_str()),
        (CardRefundStatus::Pending, usd(300), pi.as_str())
    );

    let refund = |amount: &'static str, reason: &'static str, key: String| {
        let (id, invoice) = (c.to_string(), inv.id.clone());
        let staff = &staff;
        async move {
            staff
                .call::<CreditResult>(
                    "customer_credit_note",
                    &[
                        ("id", &id),
                        ("invoice", &invoice),
                        ("amount", amount),
                        ("to", "card"),
                        ("reason", reason),
                        ("request_key", &key),
                    ],
                )
                .await
        }
    };
    // The next refund of the invoice first finishes the interrupted one, then makes its own.
    let k = key();
    let r = refund("2.00", "double charge", k.clone()).await.unwrap();
    assert_eq!((r.to_credit, r.to_card, r.created), (usd(0), Some((usd(200), CardRefundStatus::Refunded)), true));
    let at_stripe = |fake: &server::stripe_fake::StripeFake| {
        fake.refunds(&settings.secret_key).iter().map(|r| (r.payment_intent.clone(), r.amount)).collect::<Vec<_>>()
    };
    assert_eq!(at_stripe(&fake), [(pi.clone(), 300), (pi.clone(), 200)]);
    assert_eq!(refunds::get(&tenant.db, &pending_id).await.unwrap().unwrap().status, CardRefundStatus::Refunded);
    // A retry of the same form, and settling the finished refund again, refund nothing more.
    let again = refund("2.00", "double charge", k).await.unwrap();
    assert_eq!((again.credit_note_id.as_str(), again.created), (r.credit_note_id.as_str(), false));
    let done = refunds::get(&tenant.db, &pending_id).await.unwrap().unwrap();
    assert_eq!(refunds::settle(&app.state, &tenant, &done, &inv).await.unwrap(), CardRefundStatus::Refunded);
    assert_eq!(at_stripe(&fake).len(), 2);
    assert_eq!(balance(&tenant, c).await, usd(0), "card refunds are not credit");

    // Stripe refuses (the payment was refunded in full from Stripe's own dashboard meanwhile): the amount
    // goes to prepaid credit instead, and the credit note says so.
    let client = StripeClient::new(StripeConfig {
        base_url: settings.api_base.clone(),
        secret_key: settings.secret_key.clone(),
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    client.refund_payment(&pi, 500, &Metadata::new(), "from-the-dashboard").await.unwrap();
    let refused = refund("4.00", "refund the rest", key()).await.unwrap();
    assert_eq!((refused.to_credit, refused.to_card), (usd(0), Some((usd(400), CardRefundStatus::Failed))));
    assert_eq!(balance(&tenant, c).await, usd(400));
    let note = invoices::get(&tenant.db, &refused.credit_note_id).await.unwrap().unwrap();
    assert_eq!((note.credit_applied, note.card_paid), (usd(400), usd(0)));
    assert_eq!(at_stripe(&fake).len(), 3, "only the dashboard's");
    // A credit note to credit, on the same invoice.
    let to_credit = staff
        .call::<CreditResult>(
            "customer_credit_note",
            &[
                ("id", &c.to_string()),
                ("invoice", &inv.id),
                ("amount", "6.00"),
                ("to", "credit"),
                ("reason", "goodwill"),
                ("request_key", &key()),
            ],
        )
        .await
        .unwrap();
    assert_eq!((to_credit.to_credit, to_credit.to_card), (usd(600), None));
    assert_eq!(balance(&tenant, c).await, usd(1_000));
    // Beyond the invoice's total (80.00 - 15.00 credited): refused, nothing sent.
    let (status, e) = refund("65.01", "too much", key()).await.unwrap_err();
    assert_eq!(status, 400, "{e:?}");
    assert_eq!(at_stripe(&fake).len(), 3);

    let refunded = audits(&app, &tenant, "invoice.refunded").await;
    assert_eq!(refunded.len(), 2, "{refunded:?}");
    assert!(refunded.iter().any(|a| a.detail.contains("double charge") && a.detail.contains("$2.00 to the card")));
    // The customer sees every credit note, and the refund that came back as credit.
    let v: BillingView = cust.call("billing_overview", &[]).await.unwrap();
    let mut notes: Vec<i64> =
        v.invoices.iter().filter(|i| i.kind == InvoiceKind::CreditNote).map(|i| i.total.minor()).collect();
    notes.sort_unstable();
    assert_eq!(notes, [200, 300, 400, 600]);
    assert!(v.ledger.iter().any(|l| l.kind == LedgerEntryKind::Refund && l.amount == usd(400)));
    let d = detail(&staff, c).await;
    assert_eq!(d.refunds.len(), 3);
    assert!(d.refunds.iter().any(|r| r.status == CardRefundStatus::Failed && r.failure.is_some()));
    app.stop().await;
}
on_both_backends!(a_card_paid_invoice_is_refunded_through_stripe_once);

async fn suspension_stops_workspaces_and_refuses_orders_and_starts(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    let staff = staff(&app).await;
    let cust = customer(&app).await;
    let c = customer_id(&tenant).await;
    let id = c.to_string();
    let ws = common::order(&cust, "developer-basic").await;
    common::until_state(&cust, &ws, WorkspaceState::Running).await;

    // Without a reason nothing happens.
    assert_eq!(staff.call_raw("customer_suspend", &[("id", &id), ("reason", "")]).await.0, 400);
    assert_eq!(common::detail(&cust, &ws).await.card.state, WorkspaceState::Running);
    assert!(!customers::get(&tenant.db, c).await.unwrap().unwrap().suspended);

    let before = now();
    let stopped: usize =
        staff.call("customer_suspend", &[("id", &id), ("reason", "chargeback on file")]).await.unwrap();
    let after = now();
    assert_eq!(stopped, 1);
    common::until_state(&cust, &ws, WorkspaceState::Stopped).await;
    // Billing closed at the stop.
    let ended: Option<i64> = sqlx::query_scalar("SELECT MAX(ended_at) FROM usage_sessions WHERE workspace_id = $1")
        .bind(&ws)
        .fetch_one(tenant.db.pool())
        .await
        .unwrap();
    let ended = ended.expect("the session closed");
    assert!(before.as_millis() <= ended && ended <= after.as_millis(), "{before:?} <= {ended} <= {after:?}");
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_sessions WHERE ended_at IS NULL")
        .fetch_one(tenant.db.pool())
        .await
        .unwrap();
    assert_eq!(open, 0);

    // The customer can look and pay, but not order or start, and is told why.
    let (status, e) = cust
        .call::<String>("order_workspace", &[("plan", "developer-basic"), ("order_key", &key())])
        .await
        .unwrap_err();
    assert_eq!((status, e.clone()), (403, AppError::Suspended));
    assert!(e.to_string().contains("suspended"), "{e}");
    let (status, e) =
        cust.call::<app::domain::workspace_view::WorkspaceDetail>("start_workspace", &[("id", &ws)]).await.unwrap_err();
    assert_eq!((status, e), (403, AppError::Suspended));
    let (status, e) =
        cust.call::<String>("subscribe", &[("plan", "vps-small"), ("order_key", &key())]).await.unwrap_err();
    assert_eq!((status, e), (403, AppError::Suspended));
    let v: BillingView = cust.call("billing_overview", &[]).await.unwrap();
    assert!(v.suspended);
    assert_eq!(common::detail(&cust, &ws).await.card.state, WorkspaceState::Stopped);
    // No meter of theirs opens, whoever asks (the reconciler finding a session started in Kasm's own UI).
    let rate = Rate::parse("0.15", Currency::USD).unwrap();
    let ws_id = ws.parse().unwrap();
    let opened = app::backend::workspaces::store::start_meter(
        &tenant.db,
        ws_id,
        WorkspaceState::Stopped,
        now(),
        &rate,
        &rate,
        now(),
    )
    .await
    .unwrap();
    assert!(!opened);

    // The staff see it; suspending again records nothing new.
    let d = detail(&staff, c).await;
    assert_eq!(d.suspended.as_ref().map(|s| s.1.as_str()), Some("chargeback on file"));
    let list: CustomerList = staff.call("manage_customers", &[("search", CUSTOMER), ("page", "")]).await.unwrap();
    assert!(list.rows[0].suspended && list.rows[0].running == 0);
    let _: usize = staff.call("customer_suspend", &[("id", &id), ("reason", "again")]).await.unwrap();
    let suspended = audits(&app, &tenant, "customer.suspended").await;
    assert_eq!(suspended.len(), 1);
    assert_eq!(suspended[0].detail, format!("{CUSTOMER} (chargeback on file)"));

    // Lifted: they start their workspace again.
    assert_eq!(staff.call_raw("customer_unsuspend", &[("id", &id), ("reason", "")]).await.0, 400);
    assert!(staff.call::<bool>("customer_unsuspend", &[("id", &id), ("reason", "chargeback won")]).await.unwrap());
    assert!(!staff.call::<bool>("customer_unsuspend", &[("id", &id), ("reason", "twice")]).await.unwrap());
    assert_eq!(audits(&app, &tenant, "customer.unsuspended").await.len(), 1);
    let _: app::domain::workspace_view::WorkspaceDetail = cust.call("start_workspace", &[("id", &ws)]).await.unwrap();
    common::until_state(&cust, &ws, WorkspaceState::Running).await;

    // Suspended while a workspace is still on its way up (or just up): either way it ends stopped, and
    // nothing of theirs is left billing.
    let _: app::domain::workspace_view::WorkspaceDetail = cust.call("stop_workspace", &[("id", &ws)]).await.unwrap();
    common::until_state(&cust, &ws, WorkspaceState::Stopped).await;
    let _: app::domain::workspace_view::WorkspaceDetail = cust.call("start_workspace", &[("id", &ws)]).await.unwrap();
    let _: usize = staff.call("customer_suspend", &[("id", &id), ("reason", "second chargeback")]).await.unwrap();
    common::until_state(&cust, &ws, WorkspaceState::Stopped).await;
    eventually(Duration::from_secs(15), "no open meter", || async {
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_sessions WHERE ended_at IS NULL")
            .fetch_one(tenant.db.pool())
            .await
            .ok()?;
        let state = common::detail(&cust, &ws).await.card.state;
        (open == 0 && state == WorkspaceState::Stopped).then_some(())
    })
    .await;
    app.stop().await;
}
on_both_backends!(suspension_stops_workspaces_and_refuses_orders_and_starts);
