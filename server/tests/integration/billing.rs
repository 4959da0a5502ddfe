//! Money: the credit ledger under concurrency, metering against credit, and the exactly-once billing run
//! (reruns, concurrent runs, crashes at every step, random kills).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{self, pdftotext, Backend, TestApp};
use app::backend::billing::invoices::{self, Status};
use app::backend::billing::ledger::{self, EntryKind, Posted};
use app::backend::billing::{meter, run};
use app::backend::state::Tenant;
use app::backend::{identity::auth, identity::customers, workspaces::store};
use app::domain::billing::{increments, window_lines, UsageFact};
use app::domain::ids::CustomerId;
use app::domain::money::{Currency, Money, Rate};
use app::domain::period::Period;
use app::domain::time::Timestamp;
use app::domain::workspace::WorkspaceState;

const MIN: i64 = 60_000;

/// Long intervals: these tests drive metering and billing themselves.
async fn spawn(b: Backend) -> TestApp {
    TestApp::spawn_with(b, &[("METER_INTERVAL_MS", "3600000"), ("BILLING_INTERVAL_MS", "3600000")]).await
}

/// One password hash for every test customer (argon2 is deliberately slow, more so in a debug build).
static HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn customer(tenant: &Tenant, email: &str) -> CustomerId {
    let hash = HASH.get_or_init(|| async { auth::hash_password("billing-password".into()).await.unwrap() }).await;
    customers::ensure(&tenant.db, email, "Billing Customer", hash).await.unwrap()
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD)
}

/// A workspace (no Kasm session) with usage sessions `(start, end)` at `rate`; returns its id.
async fn workspace_with_usage(
    tenant: &Tenant,
    customer: CustomerId,
    rate: &str,
    sessions: &[(Timestamp, Option<Timestamp>)],
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let state = if sessions.iter().any(|s| s.1.is_none()) { "running" } else { "stopped" };
    sqlx::query(
        "INSERT INTO workspaces (id, customer_id, plan_code, order_key, state, transition_at, created_at, updated_at) \
         VALUES ($1, $2, 'developer-basic', $3, $4, $5, $5, $5)",
    )
    .bind(&id)
    .bind(customer.to_string())
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(state)
    .bind(sessions[0].0.as_millis())
    .execute(tenant.db.pool())
    .await
    .unwrap();
    for (start, end) in sessions {
        sqlx::query(
            "INSERT INTO usage_sessions (id, workspace_id, started_at, ended_at, retail_per_hour, wholesale_per_hour, currency) \
             VALUES ($1, $2, $3, $4, $5, '0.10', 'USD')",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(&id)
        .bind(start.as_millis())
        .bind(end.map(Timestamp::as_millis))
        .bind(rate)
        .execute(tenant.db.pool())
        .await
        .unwrap();
    }
    id
}

fn period(key: &str) -> Period {
    Period::parse(key, 1).unwrap()
}

async fn count(tenant: &Tenant, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(tenant.db.pool()).await.unwrap()
}

async fn one_hundred_concurrent_debits_never_overdraw(b: Backend) {
    let app = spawn(b).await;
    let tenant = Arc::new(app.state.house().await.unwrap());
    let c = customer(&tenant, "debits@ezscale.test").await;
    assert_eq!(
        ledger::post(&tenant.db, c, EntryKind::TopUp, usd(5_000), "topup:1", "", app::backend::platform::db::now())
            .await
            .unwrap(),
        Posted::Done
    );
    let mut tasks = Vec::new();
    for i in 0..100 {
        let tenant = tenant.clone();
        tasks.push(tokio::spawn(async move {
            ledger::post(
                &tenant.db,
                c,
                EntryKind::Usage,
                usd(-100),
                &format!("debit:{i}"),
                "",
                app::backend::platform::db::now(),
            )
            .await
            .unwrap()
        }));
    }
    let mut done = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Posted::Done => done += 1,
            Posted::Insufficient => refused += 1,
            Posted::AlreadyRecorded => panic!("references are distinct"),
        }
    }
    assert_eq!((done, refused), (50, 50), "exactly 50 of 100 1.00 debits fit in 50.00");
    assert_eq!(ledger::balance(&tenant.db, c, Currency::USD).await.unwrap(), usd(0));
    assert_eq!(ledger::ledger_sum(&tenant.db, c).await.unwrap(), 0, "balance = sum of the ledger");
    // A replayed reference changes nothing.
    let again =
        ledger::post(&tenant.db, c, EntryKind::TopUp, usd(5_000), "topup:1", "", app::backend::platform::db::now())
            .await;
    assert_eq!(again.unwrap(), Posted::AlreadyRecorded);
    assert_eq!(ledger::ledger_sum(&tenant.db, c).await.unwrap(), 0);
    eprintln!("100 concurrent 1.00 debits against 50.00: {done} succeeded, {refused} refused, balance 0.00");
    app.stop().await;
}
on_both_backends!(one_hundred_concurrent_debits_never_overdraw);

/// The expected invoice total for a customer in a period, straight from the domain function.
fn expected(rate: &str, sessions: &[(Timestamp, Option<Timestamp>)], p: Period, now: Timestamp) -> (i64, i64) {
    let r = Rate::parse(rate, Currency::USD).unwrap();
    let facts: Vec<UsageFact> = sessions
        .iter()
        .map(|(s, e)| UsageFact { workspace: "w".into(), started_at: *s, ended_at: *e, rate: r })
        .collect();
    let lines = window_lines(&facts, p.start(), p.end(), now).unwrap();
    (lines.iter().map(|l| l.increments).sum(), lines.iter().map(|l| l.amount.minor()).sum())
}

async fn a_period_is_invoiced_once_and_a_rerun_has_nothing_to_do(b: Backend) {
    let app = spawn(b).await;
    let tenant = app.state.house().await.unwrap();
    let oct = period("2026-10");
    let c = customer(&tenant, "invoice@ezscale.test").await;
    // One session inside October, one crossing into November (2 of its 3 increments are November's),
    // and three short ones at 0.15/h that round once as a line (3 × 0.0375 = 0.1125 → 0.11).
    let end = oct.end();
    let crossing = (end.plus_millis(-10 * MIN), Some(end.plus_millis(30 * MIN)));
    let sessions = vec![(oct.start().plus_millis(60 * MIN), Some(oct.start().plus_millis(130 * MIN))), crossing];
    workspace_with_usage(&tenant, c, "0.60", &sessions).await;
    let small = vec![
        (oct.start().plus_millis(1000 * MIN), Some(oct.start().plus_millis(1005 * MIN))),
        (oct.start().plus_millis(2000 * MIN), Some(oct.start().plus_millis(2005 * MIN))),
        (oct.start().plus_millis(3000 * MIN), Some(oct.start().plus_millis(3005 * MIN))),
    ];
    workspace_with_usage(&tenant, c, "0.15", &small).await;
    ledger::post(&tenant.db, c, EntryKind::TopUp, usd(300), "t", "", app::backend::platform::db::now()).await.unwrap();

    let (_, big_total) = expected("0.60", &sessions, oct, app::backend::platform::db::now());
    assert_eq!(big_total, 90, "5 increments (70 min) + 1 increment of the crossing session, at 0.15 each");
    let report = run::run_tenant(&app.state, &tenant, oct, |_, _| {}).await.unwrap();
    assert_eq!((report.created, report.finalised, report.emailed, report.segments), (1, 1, 1, 5), "{report:?}");
    assert_eq!(report.total_minor, 90 + 11);
    let inv = &invoices::list_for(&tenant.db, c).await.unwrap()[0];
    assert_eq!(inv.number, Some(1));
    assert_eq!(inv.total, usd(101));
    assert_eq!(inv.status, Status::Paid, "3.00 of credit paid it");
    assert_eq!(inv.credit_applied, usd(101));
    let lines = invoices::lines(&tenant.db, &inv.id, Currency::USD).await.unwrap();
    assert_eq!(lines.iter().map(|l| l.amount.minor()).sum::<i64>(), inv.total.minor(), "total = sum of lines");
    assert!(lines.iter().any(|l| l.increments == 3 && l.amount == usd(11)), "rounded once per line");
    // Each line lists the sessions it bills and no other line's, oldest first, with the increments of each.
    let starts = |l: &invoices::Line| l.sessions.iter().map(|s| s.1).collect::<Vec<_>>();
    let small_line = lines.iter().find(|l| l.increments == 3).unwrap();
    assert_eq!(starts(small_line), small.iter().map(|s| s.0).collect::<Vec<_>>());
    assert_eq!(small_line.sessions.iter().map(|s| s.3).collect::<Vec<_>>(), vec![1, 1, 1]);
    let big_line = lines.iter().find(|l| l.increments != 3).unwrap();
    assert_eq!(starts(big_line), sessions.iter().map(|s| s.0).collect::<Vec<_>>());
    assert_eq!(big_line.sessions.iter().map(|s| s.3).collect::<Vec<_>>(), vec![5, 1], "October's share only");
    assert_eq!(ledger::balance(&tenant.db, c, Currency::USD).await.unwrap(), usd(300 - 101));

    // Rerun: nothing to do, nothing changes.
    let again = run::run_tenant(&app.state, &tenant, oct, |_, _| {}).await.unwrap();
    assert!(again.nothing_to_do(), "{again:?}");
    assert_eq!(again.already_invoiced, 1);
    // The crossing session's other two increments belong to November.
    let nov = oct.next();
    let err = run::run_tenant(&app.state, &tenant, nov.next().next(), |_, _| {}).await;
    assert!(matches!(err, Err(run::RunError::NotOver(_))), "a period that has not ended is refused");
    // Unique keys refuse a second invoice for the period and a second billing of a segment.
    let dup = sqlx::query(
        "INSERT INTO invoices (id, customer_id, kind, period, period_start, period_end, status, currency, total_minor, created_at) \
         VALUES ('dup', $1, 'invoice', '2026-10', 0, 0, 'draft', 'USD', 0, 0)",
    )
    .bind(c.to_string())
    .execute(tenant.db.pool())
    .await;
    assert!(dup.is_err(), "one invoice per customer and period");
    let seg: (String, String) = sqlx::query_as("SELECT usage_session_id, line_id FROM billed_segments LIMIT 1")
        .fetch_one(tenant.db.pool())
        .await
        .unwrap();
    let dup_seg = sqlx::query(
        "INSERT INTO billed_segments (usage_session_id, period, line_id, increments) VALUES ($1, '2026-10', $2, 1)",
    )
    .bind(&seg.0)
    .bind(&seg.1)
    .execute(tenant.db.pool())
    .await;
    assert!(dup_seg.is_err(), "a session segment is billed once");
    // The invoice email went out once.
    let mails: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'invoice'")
        .fetch_one(app.state.central().pool())
        .await
        .unwrap();
    assert_eq!(mails, 1);
    // CSV: every session segment and the total.
    let csv = invoices::csv(inv, &lines);
    assert_eq!(csv.lines().filter(|l| l.contains(",total,")).count(), 1);
    assert!(csv.contains("1.01"), "{csv}");
    // A credit note returns credit and takes the next number.
    let cn = invoices::credit_note(&tenant.db, &inv.id, usd(20), "goodwill", app::backend::platform::db::now())
        .await
        .unwrap()
        .unwrap();
    let cn = invoices::get(&tenant.db, &cn).await.unwrap().unwrap();
    assert_eq!((cn.number, cn.kind.as_str()), (Some(2), "credit_note"));
    assert!(invoices::credit_note(&tenant.db, &inv.id, usd(82), "too much", app::backend::platform::db::now())
        .await
        .unwrap()
        .is_err());
    assert_eq!(ledger::balance(&tenant.db, c, Currency::USD).await.unwrap(), usd(300 - 101 + 20));
    app.stop().await;
}
on_both_backends!(a_period_is_invoiced_once_and_a_rerun_has_nothing_to_do);

const CUSTOMERS: usize = 4;

/// Usage for several customers in `p`; returns the expected total per period (minor units).
async fn usage_for_period(tenant: &Tenant, p: Period, tag: &str) -> i64 {
    let mut total = 0;
    for i in 0..CUSTOMERS {
        let c = customer(tenant, &format!("{tag}-{i}@ezscale.test")).await;
        let i64i = i64::try_from(i).unwrap();
        let sessions = vec![
            (p.start().plus_millis((60 + i64i * 7) * MIN), Some(p.start().plus_millis((100 + i64i * 31) * MIN))),
            (p.start().plus_millis(5000 * MIN), Some(p.start().plus_millis((5000 + 1 + i64i) * MIN))),
        ];
        workspace_with_usage(tenant, c, "0.45", &sessions).await;
        total += expected("0.45", &sessions, p, app::backend::platform::db::now()).1;
    }
    total
}

/// After everything: one invoice per (customer, period), every session billed exactly once per period,
/// totals as the domain computes them, gapless numbers, one email per invoice.
async fn check_invariants(app: &TestApp, tenant: &Tenant, expected_totals: &[(Period, i64)]) {
    for (p, total) in expected_totals {
        let invs = invoices::list_period(&tenant.db, &p.key()).await.unwrap();
        assert_eq!(invs.len(), CUSTOMERS, "{}: one invoice per customer", p.key());
        assert!(invs.iter().all(|i| i.status != Status::Draft), "{}: all finalised", p.key());
        assert!(invs.iter().all(|i| i.emailed_at.is_some()), "{}: all emailed", p.key());
        let sum: i64 = invs.iter().map(|i| i.total.minor()).sum();
        assert_eq!(sum, *total, "{}: 0 lost, 0 double-billed", p.key());
        let customers: HashSet<_> = invs.iter().map(|i| i.customer_id).collect();
        assert_eq!(customers.len(), CUSTOMERS);
    }
    let sessions = count(tenant, "SELECT COUNT(*) FROM usage_sessions").await;
    let segments = count(tenant, "SELECT COUNT(*) FROM billed_segments").await;
    assert_eq!(segments, sessions, "each session (all inside one period) billed exactly once");
    let numbers: Vec<i64> = sqlx::query_scalar("SELECT number FROM invoices WHERE number IS NOT NULL ORDER BY number")
        .fetch_all(tenant.db.pool())
        .await
        .unwrap();
    let want: Vec<i64> = (1..=i64::try_from(numbers.len()).unwrap()).collect();
    assert_eq!(numbers, want, "invoice numbers are sequential with no gaps");
    let invoices_n = count(tenant, "SELECT COUNT(*) FROM invoices").await;
    let mails: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'invoice'")
        .fetch_one(app.state.central().pool())
        .await
        .unwrap();
    assert_eq!(mails, invoices_n, "0 duplicate emails");
}

async fn crashes_at_every_step_and_random_kills_lose_nothing_and_bill_nothing_twice(b: Backend) {
    let app = spawn(b).await;
    let tenant = app.state.house().await.unwrap();
    let points = [
        "billing.invoice_written",
        "billing.lines_written",
        "billing.committed",
        "billing.numbered",
        "billing.finalised",
        "billing.email_queued",
    ];
    let mut totals = Vec::new();
    let mut p = period("2025-01");
    for point in points {
        let total = usage_for_period(&tenant, p, point).await;
        app.state.failpoints().arm(point, 1);
        let crashed = run::run_tenant(&app.state, &tenant, p, |_, _| {}).await;
        assert!(crashed.is_err(), "{point} fired");
        let rerun = run::run_tenant(&app.state, &tenant, p, |_, _| {}).await.unwrap();
        assert!(!rerun.nothing_to_do(), "{point}: the rerun finished the work");
        let third = run::run_tenant(&app.state, &tenant, p, |_, _| {}).await.unwrap();
        assert!(third.nothing_to_do(), "{point}: {third:?}");
        totals.push((p, total));
        p = p.next();
    }
    // Random kills: the run is aborted at a random moment, again and again, then finished.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut kills = 0;
    for _ in 0..3 {
        let total = usage_for_period(&tenant, p, &format!("kill-{}", p.key())).await;
        for _ in 0..8 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let state = app.state.clone();
            let t = tenant.clone();
            let task = tokio::spawn(async move { run::run_tenant(&state, &t, p, |_, _| {}).await });
            tokio::time::sleep(Duration::from_micros(seed % 40_000)).await;
            task.abort();
            let _ = task.await;
            kills += 1;
        }
        let finished = run::run_tenant(&app.state, &tenant, p, |_, _| {}).await.unwrap();
        let again = run::run_tenant(&app.state, &tenant, p, |_, _| {}).await.unwrap();
        assert!(again.nothing_to_do(), "after {finished:?}: {again:?}");
        totals.push((p, total));
        p = p.next();
    }
    // Two runs at once on a fresh period.
    let total = usage_for_period(&tenant, p, "concurrent").await;
    let (s1, s2, t1, t2) = (app.state.clone(), app.state.clone(), tenant.clone(), tenant.clone());
    let a = tokio::spawn(async move { run::run_tenant(&s1, &t1, p, |_, _| {}).await });
    let b2 = tokio::spawn(async move { run::run_tenant(&s2, &t2, p, |_, _| {}).await });
    let (ra, rb) = (a.await.unwrap().unwrap(), b2.await.unwrap().unwrap());
    assert_eq!(ra.created + rb.created, CUSTOMERS, "{ra:?} {rb:?}");
    totals.push((p, total));
    check_invariants(&app, &tenant, &totals).await;
    eprintln!(
        "billing crashes: {} failpoints + {kills} random kills + 2 concurrent runs → 0 double-billed, 0 lost, 0 duplicate emails, numbers gapless",
        points.len()
    );
    app.stop().await;
}
on_both_backends!(crashes_at_every_step_and_random_kills_lose_nothing_and_bill_nothing_twice);

async fn metering_charges_credit_and_stops_at_zero_within_one_increment(b: Backend) {
    let app = spawn(b).await;
    let tenant = app.state.house().await.unwrap();
    let c = customer(&tenant, "meter@ezscale.test").await;
    meter::top_up(&tenant, c, usd(50), EntryKind::TopUp, "topup:meter", "").await.unwrap();
    // 0.60/h = 0.15 per increment; 0.50 of credit covers three increments and a third of the fourth.
    let start = app::backend::platform::db::now();
    let ws = workspace_with_usage(&tenant, c, "0.60", &[(start, None)]).await;
    let mut stopped_at = None;
    for minute in 0..120 {
        let t = start.plus_millis(minute * MIN + 1);
        let r = meter::meter_tenant(&app.state, &tenant, t).await.unwrap();
        if r.stopped > 0 {
            stopped_at = Some(minute);
            break;
        }
    }
    let minute = stopped_at.expect("the workspace was stopped when credit ran out");
    assert_eq!(minute, 45, "stopped as the fourth increment (which credit could not pay) began");
    let w = store::get(&tenant.db, ws.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(w.state, WorkspaceState::Stopped);
    assert_eq!(ledger::balance(&tenant.db, c, Currency::USD).await.unwrap(), usd(0));
    let uncharged: i64 = sqlx::query_scalar("SELECT uncharged_minor FROM usage_charges WHERE customer_id = $1")
        .bind(c.to_string())
        .fetch_one(tenant.db.pool())
        .await
        .unwrap();
    assert!(uncharged > 0 && uncharged <= 15, "billed past zero: {uncharged} ≤ one increment (15)");
    // Warned: low-balance notices (5.00 and 1.00) and the out-of-credit notice, once each.
    let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'low_balance'")
        .fetch_one(app.state.central().pool())
        .await
        .unwrap();
    assert_eq!(notices, 3);
    // Metering again changes nothing.
    let again = meter::meter_tenant(&app.state, &tenant, start.plus_millis(50 * MIN)).await.unwrap();
    assert_eq!((again.charged_minor, again.uncharged_minor), (0, 0), "{again:?}");
    eprintln!("credit 0.50 at 0.15/increment: stopped at minute {minute}, billed {uncharged} minor units past zero");
    app.stop().await;
}
on_both_backends!(metering_charges_credit_and_stops_at_zero_within_one_increment);

async fn three_hours_of_metering_downtime_bill_exactly(b: Backend) {
    let app = spawn(b).await;
    let tenant = app.state.house().await.unwrap();
    let c = customer(&tenant, "downtime@ezscale.test").await;
    meter::top_up(&tenant, c, usd(10_000), EntryKind::TopUp, "topup:downtime", "").await.unwrap();
    let start = app::backend::platform::db::now();
    workspace_with_usage(&tenant, c, "0.60", &[(start, None)]).await;
    meter::meter_tenant(&app.state, &tenant, start.plus_millis(MIN)).await.unwrap();
    // Nothing metered for three hours, then one pass.
    let later = start.plus_millis(3 * 60 * MIN + 5 * MIN);
    meter::meter_tenant(&app.state, &tenant, later).await.unwrap();
    let charged: i64 = sqlx::query_scalar("SELECT charged_minor FROM usage_charges WHERE customer_id = $1")
        .bind(c.to_string())
        .fetch_one(tenant.db.pool())
        .await
        .unwrap();
    let n = increments(start.millis_until(later));
    assert_eq!(n, 13);
    assert_eq!(charged, n * 15, "every increment that started during the downtime is charged, once");
    assert_eq!(ledger::ledger_sum(&tenant.db, c).await.unwrap(), 10_000 - n * 15);
    eprintln!("3 h 05 min with metering down: {n} increments charged exactly ({charged} minor units)");
    app.stop().await;
}
on_both_backends!(three_hours_of_metering_downtime_bill_exactly);

async fn resellers_are_billed_wholesale_once_per_period(b: Backend) {
    use app::backend::billing::wholesale::{self, Outcome};
    use app::backend::resellers::lifecycle::{self, NewTenantInput};
    use app::domain::tenant::{BillingTerms, TierName as ResellerTier};
    let app = spawn(b).await;
    let new = lifecycle::validate(&NewTenantInput {
        name: "Wholesale Co".into(),
        slug: "wsco".into(),
        owner_email: "owner@wsco.test".into(),
        owner_password: Some("wsco-owner-password".into()),
        primary_domain: String::new(),
        ..NewTenantInput::default()
    })
    .unwrap();
    lifecycle::create(&app.state, &app.db_url, new).await.unwrap();
    let terms = BillingTerms {
        tier: ResellerTier::standard(),
        wholesale_discount_bp: 1_000,
        platform_fee_minor: 4_900,
        commission_bp: 500,
        billing_cycle_day: 1,
    };
    lifecycle::set_terms(&app.state, "wsco", &terms).await.unwrap();
    let entry = app.state.registry().entry_by_slug("wsco").await.unwrap().unwrap();
    let tenant = app.state.tenant_by_id(entry.id).await.unwrap().unwrap();
    let oct = period("2026-10");
    // 10 h at 0.45/h retail = 4.50; at the 0.10/h wholesale rate = 1.00.
    let c = customer(&tenant, "buyer@wsco.test").await;
    workspace_with_usage(
        &tenant,
        c,
        "0.45",
        &[(oct.start().plus_millis(60 * MIN), Some(oct.start().plus_millis(660 * MIN)))],
    )
    .await;
    let out = run::run_all(&app.state, Some("2026-10"), Some("wsco"), |_, _, _| {}).await.unwrap();
    let report = out[0].result.clone().unwrap();
    assert_eq!(report.wholesale, Some(Outcome::Written));
    let inv = wholesale::get(&app.state, &tenant, "2026-10").await.unwrap().unwrap();
    // usage 1.00 − 10 % discount 0.10 + fee 49.00 + 5 % commission on 4.50 retail (0.225 → 0.23).
    assert_eq!(
        (inv.usage_minor, inv.discount_minor, inv.platform_fee_minor, inv.retail_minor, inv.commission_minor),
        (100, 10, 4_900, 450, 23)
    );
    assert_eq!(inv.total_minor, 100 - 10 + 4_900 + 23);
    let lines = wholesale::lines(&app.state, &inv.id).await.unwrap();
    assert_eq!(lines.iter().map(|l| l.1).sum::<i64>(), inv.total_minor, "total = sum of lines");
    // Rerun: nothing to do, still one invoice, one email to the owner.
    let again = run::run_all(&app.state, Some("2026-10"), Some("wsco"), |_, _, _| {}).await.unwrap();
    let again = again[0].result.clone().unwrap();
    assert!(again.nothing_to_do(), "{again:?}");
    assert_eq!(again.wholesale, Some(Outcome::AlreadyInvoiced));
    assert_eq!(wholesale::list(&app.state, None, 100).await.unwrap().len(), 1, "the house is never wholesale-billed");
    let mails: Vec<String> = sqlx::query_scalar("SELECT to_addr FROM outbox WHERE kind = 'wholesale_invoice'")
        .fetch_all(app.state.central().pool())
        .await
        .unwrap();
    assert_eq!(mails, vec!["owner@wsco.test".to_owned()]);
    // The owner's email carries the bill as a PDF: its number, every line and the total.
    let (name, body): (String, Vec<u8>) =
        sqlx::query_as("SELECT attachment_name, attachment_body FROM outbox WHERE kind = 'wholesale_invoice'")
            .fetch_one(app.state.central().pool())
            .await
            .unwrap();
    assert_eq!(name, format!("{}.pdf", inv.display_number()));
    let text = pdftotext(body).await;
    assert!(text.contains(&format!("Invoice {}", inv.display_number())) && text.contains("Wholesale Co"), "{text}");
    for (description, amount) in &lines {
        let first_words: String = description.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
        assert!(text.contains(&first_words), "{first_words:?} not in:\n{text}");
        assert!(text.contains(&Money::from_minor(*amount, inv.currency).to_string()), "{amount} not in:\n{text}");
    }
    let total = Money::from_minor(inv.total_minor, inv.currency).to_string();
    assert!(total.ends_with("50.13") && text.contains(&total), "the total {total}:\n{text}");
    // The run is recorded for the admin page.
    let runs = run::records(&app.state, 10).await.unwrap();
    assert!(runs.iter().any(|r| r.period == "2026-10" && r.state.as_str() == "done" && r.runs == 2), "{runs:?}");
    // The scheduler bills each tenant's last finished period once, under its lease.
    let last = Period::containing(app::backend::platform::db::now(), 1).unwrap().previous();
    // (On the house: this test already billed wsco's October by hand, so the scheduler skips it.)
    let house = app.state.house().await.unwrap();
    let c2 = customer(&house, "sched@ezscale.test").await;
    workspace_with_usage(
        &house,
        c2,
        "0.45",
        &[(last.start().plus_millis(60 * MIN), Some(last.start().plus_millis(120 * MIN)))],
    )
    .await;
    let ran = run::scheduled_pass(&app.state).await.unwrap();
    assert!(ran >= 1, "the finished period was billed");
    assert_eq!(invoices::list_for(&house.db, c2).await.unwrap().len(), 1);
    assert_eq!(run::scheduled_pass(&app.state).await.unwrap(), 0, "once per period");
    app.stop().await;
}
on_both_backends!(resellers_are_billed_wholesale_once_per_period);

/// A run over every tenant bills each of them and leaves the registry's open pools as they were: the
/// storefronts' warm pools stay open, and a tenant whose pool was not open is billed on a connection of the
/// run's own, closed after it (through the registry, the run would have pushed the warm pools out).
async fn a_run_over_every_tenant_leaves_the_open_pools_as_they_were(b: Backend) {
    // Nothing else opens tenant pools meanwhile: no demo data (its jobs), every loop an hour apart (the
    // reconciler's first pass, at start, is over long before the tenants below exist).
    let quiet = [
        ("METER_INTERVAL_MS", "3600000"),
        ("BILLING_INTERVAL_MS", "3600000"),
        ("RECONCILE_INTERVAL_MS", "3600000"),
        ("DOMAIN_CHECK_INTERVAL_MS", "3600000"),
        ("DEMO_DATA", "false"),
        ("TENANT_POOL_CAP", "3"),
    ];
    let app = TestApp::spawn_with(b, &quiet).await;
    let oct = period("2026-10");
    let mut billed = Vec::new();
    for slug in ["pool-a", "pool-b", "pool-c"] {
        common::make_tenant(&app, slug).await;
        let entry = app.state.registry().entry_by_slug(slug).await.unwrap().unwrap();
        let tenant = app.state.tenant_by_id(entry.id).await.unwrap().unwrap();
        let c = customer(&tenant, &format!("buyer@{slug}.test")).await;
        let hour = (oct.start().plus_millis(60 * MIN), Some(oct.start().plus_millis(120 * MIN)));
        workspace_with_usage(&tenant, c, "0.45", &[hour]).await;
        billed.push(entry.id);
    }
    // pool-a is served again, and the house (the platform's storefront, whose brand also signs every
    // reseller's wholesale bill in the run): with pool-c, the three pools the registry keeps; pool-b's is
    // closed.
    app.state.tenant_by_id(billed[0]).await.unwrap().unwrap();
    app.state.house().await.unwrap();
    let registry = app.state.registry();
    let entries = registry.entries().await.unwrap();
    let open = || -> Vec<String> {
        entries.iter().filter(|e| registry.is_open(e.id)).map(|e| e.slug.clone()).collect::<Vec<_>>()
    };
    let before = open();
    assert_eq!(before, ["house", "pool-a", "pool-c"], "the three most recently used pools");
    assert!(!registry.is_open(billed[1]));

    let out = run::run_all(&app.state, Some("2026-10"), None, |_, _, _| {}).await.unwrap();
    assert_eq!(out.len(), entries.len(), "every tenant has an outcome");
    for o in &out {
        let report = o.result.as_ref().unwrap_or_else(|e| panic!("{}: {e}", o.slug));
        if o.slug.starts_with("pool-") {
            assert_eq!((report.created, report.finalised, report.emailed), (1, 1, 1), "{}", o.slug);
            // 1 h at 0.45/h.
            assert_eq!(report.total_minor, 45, "{}", o.slug);
        }
    }
    assert_eq!(open(), before, "the run changed which pools the registry keeps open");
    assert_eq!(registry.open_pools(), 3);

    // What the run wrote on its own connections is there for the storefront (and a rerun has nothing to do).
    let b_tenant = app.state.tenant_by_id(billed[1]).await.unwrap().unwrap();
    let invoices = invoices::list_period(&b_tenant.db, "2026-10").await.unwrap();
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].status, Status::Finalised);
    let again = run::run_all(&app.state, Some("2026-10"), None, |_, _, _| {}).await.unwrap();
    assert!(again.iter().all(|o| o.result.as_ref().is_ok_and(|r| r.nothing_to_do())), "{again:?}");
    app.stop().await;
}
on_both_backends!(a_run_over_every_tenant_leaves_the_open_pools_as_they_were);

async fn cards_top_up_credit_and_pay_what_invoices_leave_due_with_dunning(b: Backend) {
    use app::backend::billing::payments;
    let app = spawn(b).await;
    let (fake, _) = app.stripe.clone().expect("the local Stripe runs in development");
    let tenant = app.state.house().await.unwrap();
    // Top up through Checkout, as the page does.
    let demo = app.demo().await;
    let (status, _) = demo.call_raw("start_top_up", &[("amount", "2")]).await;
    assert_eq!(status, 400, "below the 5.00 minimum");
    let url: String = demo.call("start_top_up", &[("amount", "20.00")]).await.unwrap();
    let cs = url.rsplit('/').next().unwrap().to_owned();
    assert!(cs.starts_with("cs_"), "{url}");
    fake.complete_checkout(&cs, false).unwrap();
    fake.flush_webhooks().await;
    let me = customers::find_login(&tenant.db, "demo@ezscale.test").await.unwrap().unwrap();
    let demo_id = me.0;
    assert_eq!(ledger::balance(&tenant.db, demo_id, Currency::USD).await.unwrap(), usd(5_000 + 2_000));
    assert!(meter::account(&tenant, demo_id).await.unwrap().payment_method_id.is_some(), "the card was saved");
    // The page's own confirmation and redelivered webhooks credit nothing more.
    let again: bool = demo.call("confirm_top_up", &[("session_id", &cs)]).await.unwrap();
    assert!(!again);
    fake.redeliver_all();
    fake.flush_webhooks().await;
    assert_eq!(ledger::balance(&tenant.db, demo_id, Currency::USD).await.unwrap(), usd(7_000));
    // A forged webhook is refused.
    let forged = reqwest::Client::new()
        .post(format!("{}/stripe/webhook/house", app.base))
        .header("stripe-signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);

    // A customer whose saved card will decline.
    let decliner = customer(&tenant, "decline@ezscale.test").await;
    let d = customers::get(&tenant.db, decliner).await.unwrap().unwrap();
    let url = payments::start_top_up(&app.state, &tenant, &d, usd(500)).await.unwrap();
    fake.complete_checkout(url.rsplit('/').next().unwrap(), true).unwrap();
    fake.flush_webhooks().await;
    assert_eq!(ledger::balance(&tenant.db, decliner, Currency::USD).await.unwrap(), usd(500));

    // October: 100 h at 0.80 for the demo customer (80.00 against 70.00 of credit), 50 h for the decliner.
    let oct = period("2026-10");
    let hours = |h: i64| (oct.start().plus_millis(60 * MIN), Some(oct.start().plus_millis((60 + h * 60) * MIN)));
    workspace_with_usage(&tenant, demo_id, "0.80", &[hours(100)]).await;
    workspace_with_usage(&tenant, decliner, "0.80", &[hours(50)]).await;
    run::run_tenant(&app.state, &tenant, oct, |_, _| {}).await.unwrap();
    fake.flush_webhooks().await;
    let paid = &invoices::list_for(&tenant.db, demo_id).await.unwrap()[0];
    assert_eq!(
        (paid.status, paid.total, paid.credit_applied, paid.card_paid),
        (Status::Paid, usd(8_000), usd(7_000), usd(1_000))
    );
    let unpaid = invoices::list_for(&tenant.db, decliner).await.unwrap()[0].clone();
    assert_eq!((unpaid.status, unpaid.amount_due(), unpaid.payment_attempts), (Status::Finalised, usd(3_500), 1));
    assert!(unpaid.next_payment_at.is_some(), "a retry is scheduled");
    assert_eq!(outbox_count(&app, "payment_failed").await, 1);
    // Dunning: when the retry is due the card is tried again (and fails again: a second email); nothing
    // is stopped for it.
    sqlx::query("UPDATE invoices SET next_payment_at = 0 WHERE id = $1")
        .bind(&unpaid.id)
        .execute(tenant.db.pool())
        .await
        .unwrap();
    for inv in payments::due_for_collection(&tenant, app::backend::platform::db::now()).await.unwrap() {
        payments::collect(&app.state, &tenant, &inv).await.unwrap();
    }
    let unpaid = invoices::get(&tenant.db, &unpaid.id).await.unwrap().unwrap();
    assert_eq!(unpaid.payment_attempts, 2);
    assert_eq!(outbox_count(&app, "payment_failed").await, 2);
    // Voiding the unpaid invoice gives back the credit it had taken; the number stays used.
    assert!(invoices::void(&tenant.db, &unpaid.id, app::backend::platform::db::now()).await.unwrap());
    let voided = invoices::get(&tenant.db, &unpaid.id).await.unwrap().unwrap();
    assert_eq!((voided.status, voided.number), (Status::Void, unpaid.number));
    assert_eq!(ledger::balance(&tenant.db, decliner, Currency::USD).await.unwrap(), usd(500));
    assert!(!invoices::void(&tenant.db, &unpaid.id, app::backend::platform::db::now()).await.unwrap(), "once");
    // A paid invoice cannot be voided (corrections are credit notes).
    assert!(!invoices::void(&tenant.db, &paid.id, app::backend::platform::db::now()).await.unwrap());
    app.stop().await;
}
on_both_backends!(cards_top_up_credit_and_pay_what_invoices_leave_due_with_dunning);

async fn outbox_count(app: &TestApp, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = $1")
        .bind(kind)
        .fetch_one(app.state.central().pool())
        .await
        .unwrap()
}

async fn resellers_see_their_margins_and_price_plans_and_admins_run_billing(b: Backend) {
    use app::backend::resellers::lifecycle::{self, NewTenantInput};
    use app::manage::billing::ManageBillingData;
    let app = spawn(b).await;
    let new = lifecycle::validate(&NewTenantInput {
        name: "Margin Co".into(),
        slug: "marg".into(),
        owner_email: "owner@marg.test".into(),
        owner_password: Some("marg-owner-password".into()),
        primary_domain: String::new(),
        ..NewTenantInput::default()
    })
    .unwrap();
    lifecycle::create(&app.state, &app.db_url, new).await.unwrap();
    let entry = app.state.registry().entry_by_slug("marg").await.unwrap().unwrap();
    let tenant = app.state.tenant_by_id(entry.id).await.unwrap().unwrap();
    let staff = app.client_for("marg.localhost");
    staff
        .call::<()>("staff_login", &[("email", "owner@marg.test"), ("password", "marg-owner-password")])
        .await
        .unwrap();

    // Prices: never below wholesale; a refused price changes nothing.
    let (status, body) = staff.call_raw("set_plan_price", &[("code", "developer-basic"), ("retail", "0.05")]).await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = staff.call_raw("set_plan_price", &[("code", "developer-basic"), ("retail", "lots")]).await;
    assert_eq!(status, 400);
    let d: ManageBillingData = staff.call("manage_billing", &[]).await.unwrap();
    let basic = d.plans.iter().find(|p| p.code == "developer-basic").unwrap();
    assert_eq!(basic.retail.to_string(), Rate::parse("0.15", Currency::USD).unwrap().to_string());
    staff.call::<()>("set_plan_price", &[("code", "developer-basic"), ("retail", "0.50")]).await.unwrap();
    let cat: app::catalog::CatalogView = staff.call("catalog", &[]).await.unwrap();
    let basic = cat.plans.iter().find(|p| p.code == "developer-basic").unwrap();
    assert_eq!(basic.rate, Rate::parse("0.50", Currency::USD).unwrap(), "the storefront shows the new price");

    // October's usage: 10 h at 0.45 retail / 0.10 wholesale → revenue 4.50, cost 1.00, margin 3.50.
    let oct = period("2026-10");
    let c = customer(&tenant, "buyer@marg.test").await;
    workspace_with_usage(
        &tenant,
        c,
        "0.45",
        &[(oct.start().plus_millis(60 * MIN), Some(oct.start().plus_millis(660 * MIN)))],
    )
    .await;
    let d: ManageBillingData = staff.call("manage_billing", &[]).await.unwrap();
    assert!(d.customer_rows.iter().any(|r| r.email == "buyer@marg.test"), "the customers are listed");
    let m = d.months.iter().find(|m| m.period == "2026-10").unwrap();
    assert_eq!((m.revenue, m.wholesale, m.margin, m.increments, m.customers), (usd(450), usd(100), usd(350), 40, 1));

    // The admin runs October's billing from the admin page; a rerun has nothing to do.
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    let (status, _) = admin.call_raw("admin_run_billing", &[("period", "2026-13"), ("tenant", "marg")]).await;
    assert_eq!(status, 400);
    let msg: String = admin.call("admin_run_billing", &[("period", "2026-10"), ("tenant", "marg")]).await.unwrap();
    assert!(msg.contains("Billed 1 tenant"), "{msg}");
    let _: String = admin.call("admin_run_billing", &[("period", "2026-10"), ("tenant", "marg")]).await.unwrap();
    let overview: app::admin::billing::AdminBillingData = admin.call("admin_billing", &[]).await.unwrap();
    let run = overview.runs.iter().find(|r| r.tenant == "marg").unwrap();
    assert_eq!((run.state.as_str(), run.runs, run.summary.as_str()), ("done", 2, "nothing to do"));
    assert_eq!(overview.wholesale.len(), 1);
    assert_eq!(overview.wholesale[0].total, usd(100));
    // The reseller sees the same wholesale invoice, and downloads it as a PDF; nobody else can.
    let d: ManageBillingData = staff.call("manage_billing", &[]).await.unwrap();
    assert_eq!(d.invoices.len(), 1);
    assert_eq!(d.invoices[0].total, usd(100));
    let path = format!("/manage/billing/wholesale/{}/pdf", d.invoices[0].id);
    let res = staff.http.get(format!("{}{path}", staff.base)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let text = pdftotext(res.bytes().await.unwrap().to_vec()).await;
    assert!(text.contains(&format!("Invoice {}", d.invoices[0].number)) && text.contains("Margin Co"), "{text}");
    assert!(text.contains("$1.00"), "{text}");
    let anon = app.client_for("marg.localhost");
    assert_eq!(anon.http.get(format!("{}{path}", anon.base)).send().await.unwrap().status().as_u16(), 401);
    // A marg staff session replayed on another tenant's host (the house) is nobody there.
    let login = reqwest::Client::builder()
        .resolve("marg.localhost", app.addr)
        .build()
        .unwrap()
        .post(format!("http://marg.localhost:{}/api/staff_login", app.addr.port()))
        .form(&[("email", "owner@marg.test"), ("password", "marg-owner-password")])
        .send()
        .await
        .unwrap();
    let token = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("ezs_staff=").map(|rest| rest.split(';').next().unwrap().to_owned()))
        .expect("a staff session cookie");
    let replayed = common::with_cookie_on(&app, None, &format!("ezs_staff={token}"));
    assert_eq!(replayed.get_page(&path).await.0, 401, "a staff session is bound to its tenant");
    let own = common::with_cookie_on(&app, Some("marg.localhost"), &format!("ezs_staff={token}"));
    assert_eq!(own.get_page(&path).await.0, 200, "the same cookie on its own host works");
    let unknown = format!("/manage/billing/wholesale/{}/pdf", uuid::Uuid::new_v4());
    assert_eq!(staff.http.get(format!("{}{unknown}", staff.base)).send().await.unwrap().status().as_u16(), 404);

    // Stripe keys: checked, stored sealed, owners only.
    assert!(!d.stripe_configured || app.stripe.is_some());
    let (status, _) =
        staff.call_raw("save_stripe_keys", &[("secret_key", "pk_live_x"), ("webhook_secret", "whsec_1")]).await;
    assert_eq!(status, 400);
    staff
        .call::<()>("save_stripe_keys", &[("secret_key", "sk_live_abc123"), ("webhook_secret", "whsec_abc")])
        .await
        .unwrap();
    let stored: String = sqlx::query_scalar("SELECT secret_key_enc FROM tenant_payment_settings WHERE tenant_id = $1")
        .bind(tenant.id.to_string())
        .fetch_one(app.state.central().pool())
        .await
        .unwrap();
    assert!(!stored.contains("sk_live_abc123"));
    app.stop().await;
}
on_both_backends!(resellers_see_their_margins_and_price_plans_and_admins_run_billing);

async fn subscriptions_bill_their_share_of_each_period_once_at_retail_and_wholesale(b: Backend) {
    use app::backend::billing::{subscriptions, wholesale};
    use app::backend::resellers::lifecycle::{self, NewTenantInput};
    let app = spawn(b).await;
    let new = lifecycle::validate(&NewTenantInput {
        name: "Sub Co".into(),
        slug: "subco".into(),
        owner_email: "owner@subco.test".into(),
        owner_password: Some("subco-owner-password".into()),
        primary_domain: String::new(),
        ..NewTenantInput::default()
    })
    .unwrap();
    lifecycle::create(&app.state, &app.db_url, new).await.unwrap();
    let entry = app.state.registry().entry_by_slug("subco").await.unwrap().unwrap();
    let tenant = app.state.tenant_by_id(entry.id).await.unwrap().unwrap();
    let c = customer(&tenant, "vps@subco.test").await;
    let (sep, oct) = (period("2026-09"), period("2026-10"));
    let key = uuid::Uuid::new_v4();
    let id = subscriptions::subscribe(&tenant.db, c, "vps-basic", key, sep.start()).await.unwrap().unwrap();
    let again = subscriptions::subscribe(&tenant.db, c, "vps-basic", key, sep.start()).await.unwrap().unwrap();
    assert_eq!(id, again, "a double submit makes one subscription");
    assert!(subscriptions::subscribe(&tenant.db, c, "vps-nope", uuid::Uuid::new_v4(), sep.start())
        .await
        .unwrap()
        .is_none());
    // Cancelled on 16 October: 15 of October's 31 days.
    let cancel_at = oct.start().plus_millis(15 * 86_400_000);
    assert!(subscriptions::cancel(&tenant.db, c, &id, cancel_at).await.unwrap());
    for p in ["2026-09", "2026-10"] {
        run::run_all(&app.state, Some(p), Some("subco"), |_, _, _| {}).await.unwrap();
        run::run_all(&app.state, Some(p), Some("subco"), |_, _, _| {}).await.unwrap();
    }
    let invs = invoices::list_for(&tenant.db, c).await.unwrap();
    let total = |p: &str| invs.iter().find(|i| i.period == p).unwrap().total.minor();
    assert_eq!(total("2026-09"), 1_500, "a whole month at 15.00");
    assert_eq!(total("2026-10"), 726, "15/31 of 15.00 = 7.258… → 7.26, rounded once");
    assert_eq!(invs.len(), 2, "one invoice per period, reruns add none");
    assert_eq!(count(&tenant, "SELECT COUNT(*) FROM billed_subscription_periods").await, 2);
    let sep_ws = wholesale::get(&app.state, &tenant, "2026-09").await.unwrap().unwrap();
    let oct_ws = wholesale::get(&app.state, &tenant, "2026-10").await.unwrap().unwrap();
    assert_eq!(sep_ws.subscriptions_minor, 800);
    assert_eq!(oct_ws.subscriptions_minor, 387, "15/31 of 8.00 = 3.870… → 3.87");
    app.stop().await;
}
on_both_backends!(subscriptions_bill_their_share_of_each_period_once_at_retail_and_wholesale);

/// Runs the real `server` binary against the test app's databases; returns (success, stdout, stderr).
async fn server_command(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_server"));
    cmd.args(args)
        .current_dir(root)
        .env("DATABASE_URL", &app.db_url)
        .env("DATA_DIR", app.data_dir())
        .env("RUST_LOG", "warn")
        .env("APP_ENV", "development")
        .env_remove("KASM_URL");
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The operator's command bills a finished period once and reports it; bad arguments change nothing. The
/// customer then downloads each invoice as a PDF that a real PDF reader (poppler's `pdftotext`) reads back
/// with the invoice's number, lines and total; nobody else can.
async fn the_billing_command_bills_once_and_invoices_download_as_pdf(b: Backend) {
    let app = spawn(b).await;
    let tenant = app.state.house().await.unwrap();
    let oct = period("2026-10");
    let a = customer(&tenant, "cli-a@ezscale.test").await;
    let c = customer(&tenant, "cli-b@ezscale.test").await;
    // 67 min at 0.60/h: 5 increments × 0.15 = 0.75. Two hours at 1.20/h: 8 × 0.30 = 2.40.
    let s = oct.start().plus_millis(9 * 24 * 60 * MIN);
    workspace_with_usage(&tenant, a, "0.60", &[(s, Some(s.plus_millis(67 * MIN)))]).await;
    workspace_with_usage(&tenant, c, "1.20", &[(s, Some(s.plus_millis(120 * MIN)))]).await;
    // 600 five-minute sessions an hour apart: one line of 600 increments (90.00), its segments written in
    // several multi-row statements, its PDF several pages long.
    let many = customer(&tenant, "cli-many@ezscale.test").await;
    let hourly: Vec<_> = (0..600)
        .map(|i| {
            let t = oct.start().plus_millis(i * 60 * MIN);
            (t, Some(t.plus_millis(5 * MIN)))
        })
        .collect();
    workspace_with_usage(&tenant, many, "0.60", &hourly).await;
    let runs = |app: &TestApp| {
        let pool = app.state.central().pool().clone();
        async move { sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM billing_runs").fetch_one(&pool).await.unwrap() }
    };

    // Bad arguments: a clear error, a failing exit status, and nothing written.
    for (args, says) in [
        (vec!["billing", "run", "--period", "2026-13"], "2026-13"),
        (vec!["billing", "run", "--period", "last month"], "last month"),
        (vec!["billing", "run", "--period", "2026-10", "--tenant", "nosuch"], "no active tenant nosuch"),
    ] {
        let (ok, _, err) = server_command(&app, &args).await;
        assert!(!ok, "{args:?} must fail");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(count(&tenant, "SELECT COUNT(*) FROM invoices").await, 0);
    assert_eq!(runs(&app).await, 0);

    let slug = tenant.slug.clone();
    let (ok, out, err) = server_command(&app, &["billing", "run", "--period", "2026-10", "--tenant", &slug]).await;
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains(&format!(
            "{slug} 2026-10: 3 invoices written (602 segments, total $93.15), 3 finalised, 3 emailed, 0 already invoiced"
        )),
        "{out}"
    );
    let (ok, out, err) = server_command(&app, &["billing", "run", "--period", "2026-10", "--tenant", &slug]).await;
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(&format!("{slug} 2026-10: nothing to do (already invoiced: 3)")), "{out}");
    assert_eq!(count(&tenant, "SELECT COUNT(*) FROM invoices").await, 3);
    assert_eq!(count(&tenant, "SELECT COUNT(*) FROM billed_segments").await, 602);
    assert_eq!(count(&tenant, "SELECT COUNT(DISTINCT usage_session_id) FROM billed_segments").await, 602);
    let (state, n): (String, i64) = sqlx::query_as("SELECT state, runs FROM billing_runs WHERE period = '2026-10'")
        .fetch_one(app.state.central().pool())
        .await
        .unwrap();
    assert_eq!((state.as_str(), n), ("done", 2));
    // A period that has not ended is refused for the tenant, and the command says so.
    let (ok, out, _) = server_command(&app, &["billing", "run", "--period", "2027-01", "--tenant", &slug]).await;
    assert!(!ok && out.contains("FAILED") && out.contains("not over"), "{out}");

    // The PDFs.
    let inv_a = invoices::list_for(&tenant.db, a).await.unwrap().remove(0);
    let inv_c = invoices::list_for(&tenant.db, c).await.unwrap().remove(0);
    let client_a = app.signed_in("cli-a@ezscale.test", "billing-password").await;
    let client_c = app.signed_in("cli-b@ezscale.test", "billing-password").await;
    for (client, inv, amount) in [(&client_a, &inv_a, "$0.75"), (&client_c, &inv_c, "$2.40")] {
        let res = client.http.get(format!("{}/invoices/{}/pdf", client.base, inv.id)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert_eq!(res.headers()["content-type"], "application/pdf");
        let pdf = res.bytes().await.unwrap().to_vec();
        assert!(pdf.starts_with(b"%PDF-1.4"));
        let text = pdftotext(pdf).await;
        for needle in [inv.display_number().as_str(), "Period 2026-10", amount, "Amount due", "Page 1 of 1"] {
            assert!(text.contains(needle), "{needle:?} not in:\n{text}");
        }
        assert!(text.contains("× 15 min"), "the sessions are listed:\n{text}");
    }
    let inv_many = invoices::list_for(&tenant.db, many).await.unwrap().remove(0);
    assert_eq!(inv_many.total, usd(9000));
    let client_many = app.signed_in("cli-many@ezscale.test", "billing-password").await;
    let res = client_many.http.get(format!("{}/invoices/{}/pdf", client_many.base, inv_many.id)).send().await.unwrap();
    let text = pdftotext(res.bytes().await.unwrap().to_vec()).await;
    let pages = text.matches("Page ").count();
    assert!(pages >= 5, "600 sessions take several pages:\n{text}");
    assert!(text.contains(&format!("Page {pages} of {pages}")));
    assert_eq!(text.matches("1 × 15 min").count(), 600, "every session listed once");
    assert!(text.contains("$90.00"));
    // Each invoice email carries that invoice's PDF (what a reader shows: its own number and total).
    for (inv, amount) in [(&inv_a, "$0.75"), (&inv_c, "$2.40"), (&inv_many, "$90.00")] {
        let (name, kind, body): (String, String, Vec<u8>) = sqlx::query_as(
            "SELECT attachment_name, attachment_type, attachment_body FROM outbox WHERE kind = 'invoice' AND dedupe_key LIKE $1",
        )
        .bind(format!("%:{}", inv.id))
        .fetch_one(app.state.central().pool())
        .await
        .unwrap();
        assert_eq!((name, kind.as_str()), (format!("{}.pdf", inv.display_number()), "application/pdf"));
        let text = pdftotext(body).await;
        assert!(text.contains(&inv.display_number()) && text.contains(amount), "{text}");
    }
    // Someone else's invoice, or no session: nothing.
    let other = client_c.http.get(format!("{}/invoices/{}/pdf", client_c.base, inv_a.id)).send().await.unwrap();
    assert_eq!(other.status().as_u16(), 404);
    let anon = app.client();
    let res = anon.http.get(format!("{}/invoices/{}/pdf", anon.base, inv_a.id)).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    app.stop().await;
}
on_both_backends!(the_billing_command_bills_once_and_invoices_download_as_pdf);

/// Starting a transaction in a task that is then aborted, at random moments, over and over on a pool of
/// one connection: every later write on that connection must still commit (visible from another
/// connection). sqlx 0.9.0's own `begin` fails this on PostgreSQL (the connection goes back to the pool
/// inside a transaction nobody ends); `db::begin` is what the app uses everywhere.
async fn a_cancelled_transaction_start_never_swallows_later_writes(b: Backend) {
    use sqlx::any::AnyPoolOptions;
    let app = spawn(b).await;
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new().max_connections(1).connect(&app.db_url).await.unwrap();
    let engine = app::backend::platform::db::Engine::of_url(&app.db_url).unwrap();
    sqlx::query("CREATE TABLE cancel_probe (n BIGINT NOT NULL)").execute(&pool).await.unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let rounds = 300;
    for i in 0..rounds {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let p = pool.clone();
        let task = tokio::spawn(async move {
            let tx = app::backend::platform::db::begin(&p, engine).await;
            tokio::time::sleep(Duration::from_millis(5)).await;
            drop(tx);
        });
        // Abort anywhere from before the BEGIN is sent to after it is answered.
        tokio::time::sleep(Duration::from_micros(seed % 400)).await;
        task.abort();
        let _ = task.await;
        sqlx::query("INSERT INTO cancel_probe (n) VALUES ($1)").bind(i).execute(&pool).await.unwrap();
    }
    let other = AnyPoolOptions::new().max_connections(1).connect(&app.db_url).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM cancel_probe").fetch_one(&other).await.unwrap();
    assert_eq!(seen, rounds, "writes after a cancelled begin were swallowed by a leaked transaction");
    other.close().await;
    pool.close().await;
    app.stop().await;
}
on_both_backends!(a_cancelled_transaction_start_never_swallows_later_writes);
