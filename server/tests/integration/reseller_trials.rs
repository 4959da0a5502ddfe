//! Trials that work (issue 14, item 2), and the admin's collection controls: a tenant created with
//! `trial_days` is in its trial; no platform fee is charged for the part of a period inside it; the owner
//! is reminded a week and a day before the end; at the end a saved card converts it, no card suspends it
//! (new customer orders refused, neutrally) until a card is saved or the admin extends the trial. The admin
//! also sets the wholesale payment terms and runs collection for one tenant. All audited and emailed.
//!
//! The end of a trial is reached by moving the stored dates, not the process clock (tests share it).

use app::admin::model::TenantDetail;
use app::backend::billing::{collection, trials, wholesale};
use app::backend::platform::db::now;
use app::backend::state::Tenant;
use app::domain::money::Money;
use app::domain::payment_terms::DAY_MS;
use app::domain::period::Period;
use app::domain::tenant_billing::{TenantBillingStatus, WholesaleTerms};
use app::domain::time::Timestamp;
use app::manage::platform_billing::PlatformBillingView;

use crate::common::{Backend, Client, TestApp};
// The platform-billing fixtures (acme with a 49.00 fee, its owner, the platform's local Stripe) are shared.
use crate::wholesale_collection::{acme, customer_orders, owner, save_card, spawn, FEE};

async fn admin(app: &TestApp) -> Client {
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    admin
}

/// Puts acme in a trial (not converted) ending at `end`, as a tenant created with `trial_days` is.
async fn trial_until(app: &TestApp, end: i64) {
    sqlx::query(
        "UPDATE tenants SET trial_ends_at = $1, trial_converted_at = NULL, billing_status = 'trial' WHERE slug = 'acme'",
    )
    .bind(end)
    .execute(app.state.central().pool())
    .await
    .unwrap();
}

/// Moves the end of acme's trial (as time passing would).
async fn trial_ends(app: &TestApp, end: i64) {
    sqlx::query("UPDATE tenants SET trial_ends_at = $1 WHERE slug = 'acme'")
        .bind(end)
        .execute(app.state.central().pool())
        .await
        .unwrap();
}

async fn status(app: &TestApp, tenant: &Tenant) -> TenantBillingStatus {
    collection::status(app.state.central(), tenant.id).await.unwrap()
}

async fn audit(app: &TestApp, tenant: &Tenant, action: &str) -> Vec<(String, String)> {
    sqlx::query_as("SELECT actor, detail FROM audit_log WHERE tenant_id = $1 AND action = $2 ORDER BY at, id")
        .bind(tenant.id.to_string())
        .bind(action)
        .fetch_all(app.state.central().pool())
        .await
        .unwrap()
}

async fn mails(app: &TestApp, kind: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT subject, text_body FROM outbox WHERE kind = $1 AND to_addr = 'owner@acme.test' ORDER BY created_at, id",
    )
    .bind(kind)
    .fetch_all(app.state.central().pool())
    .await
    .unwrap()
}

async fn a_trial_pays_no_platform_fee_is_reminded_and_converts_with_a_card(b: Backend) {
    let app = spawn(b).await;
    let admin = admin(&app).await;

    // Created with a trial: in it from the start, its end on the admin's page.
    let created: String = admin
        .call(
            "admin_create_tenant",
            &[
                ("name", "Trial Cloud"),
                ("slug", "tri"),
                ("owner_email", "owner@tri.test"),
                ("primary_domain", ""),
                ("currency", "USD"),
                ("trial_days", "30"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(created, "tri");
    let d: TenantDetail = admin.call("admin_tenant", &[("slug", "tri")]).await.unwrap();
    assert_eq!(d.billing_status, TenantBillingStatus::Trial);
    let left = d.trial_ends_at.unwrap().as_millis() - now().as_millis();
    assert!((30 * DAY_MS - 60_000..=30 * DAY_MS).contains(&left), "{left}");
    assert_eq!(d.trial_converted_at, None);

    // The fee: none for the part of a period inside the trial. January 2026 (31 days), trial to the 11th:
    // 21 days of 31 are billed, 4900 × 21 / 31 = 3319.35 → 3319.
    let tenant = acme(&app).await;
    let jan = Period::parse("2026-01", 1).unwrap();
    trial_until(&app, jan.start().as_millis() + 10 * DAY_MS).await;
    wholesale::bill_tenant(&app.state, &tenant, jan, 0).await.unwrap();
    let inv = wholesale::get(&app.state, &tenant, "2026-01").await.unwrap().unwrap();
    assert_eq!((inv.platform_fee_minor, inv.total_minor), (3_319, 3_319));
    let lines = wholesale::lines(&app.state, &inv.id).await.unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].0.starts_with("Platform fee (none during the trial, until 2026-01-11"), "{lines:?}");
    // A period wholly inside the trial has no fee; one after it has the whole fee.
    let feb = Period::parse("2026-02", 1).unwrap();
    trial_until(&app, feb.end().as_millis() + DAY_MS).await;
    wholesale::bill_tenant(&app.state, &tenant, feb, 0).await.unwrap();
    let inv = wholesale::get(&app.state, &tenant, "2026-02").await.unwrap().unwrap();
    assert_eq!((inv.platform_fee_minor, inv.total_minor), (0, 0));
    trial_until(&app, feb.start().as_millis()).await;
    let mar = Period::parse("2026-03", 1).unwrap();
    wholesale::bill_tenant(&app.state, &tenant, mar, 0).await.unwrap();
    let inv = wholesale::get(&app.state, &tenant, "2026-03").await.unwrap().unwrap();
    assert_eq!(inv.platform_fee_minor, FEE);
    assert_eq!(wholesale::lines(&app.state, &inv.id).await.unwrap()[0].0, "Platform fee");
    // (Those bills are unpaid and would decide the status below: settle them the way "Pay now" would.)
    sqlx::query("UPDATE wholesale_invoices SET status = 'paid', paid_at = created_at WHERE tenant_id = $1")
        .bind(tenant.id.to_string())
        .execute(app.state.central().pool())
        .await
        .unwrap();

    // Reminders: a week before, a day before, each once; none after the end.
    let t = now().as_millis();
    trial_until(&app, t + 8 * DAY_MS).await;
    assert_eq!(trials::remind(&app.state, tenant.id).await.unwrap(), 0, "eight days to go");
    trial_ends(&app, t + 7 * DAY_MS - 60_000).await;
    assert_eq!(trials::remind(&app.state, tenant.id).await.unwrap(), 1);
    assert_eq!(trials::remind(&app.state, tenant.id).await.unwrap(), 0, "once");
    collection::pass(&app.state).await.unwrap();
    trial_ends(&app, t + DAY_MS - 60_000).await;
    collection::pass(&app.state).await.unwrap();
    collection::pass(&app.state).await.unwrap();
    let reminders = mails(&app, "trial_reminder").await;
    assert_eq!(reminders.len(), 2, "{reminders:?}");
    assert!(reminders.iter().all(|(s, body)| s.starts_with("Your trial ends on") && body.contains("No card is saved")));
    assert_eq!(status(&app, &tenant).await, TenantBillingStatus::Trial, "still running");

    // A card, then the end: converted (once, however often the pass runs), audited, emailed.
    let staff = owner(&app).await;
    save_card(&app, &staff, false).await;
    assert_eq!(status(&app, &tenant).await, TenantBillingStatus::Trial, "a card alone does not end the trial");
    let view: PlatformBillingView = staff.call("wholesale_account", &[]).await.unwrap();
    assert_eq!(view.trial_ends_at, Some(Timestamp::from_millis(t + DAY_MS - 60_000)));
    trial_ends(&app, now().as_millis() - 1).await;
    collection::pass(&app.state).await.unwrap();
    collection::pass(&app.state).await.unwrap();
    assert_eq!(status(&app, &tenant).await, TenantBillingStatus::Active);
    let trial = trials::get(app.state.central(), tenant.id).await.unwrap();
    assert!(trial.converted_at.is_some());
    assert_eq!(audit(&app, &tenant, "trial.converted").await.len(), 1);
    let changes: Vec<String> = audit(&app, &tenant, "billing_status.changed").await.into_iter().map(|r| r.1).collect();
    assert_eq!(changes, vec!["trial → active".to_owned()]);
    let notices = mails(&app, "billing_status").await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert!(notices[0].0.contains("welcome aboard"), "{notices:?}");
    assert_eq!(trials::remind(&app.state, tenant.id).await.unwrap(), 0, "a converted trial is reminded of nothing");
    let (code, body) = customer_orders(&app).await;
    assert_eq!(code, 200, "{body}");
    // A converted trial cannot be extended.
    let (code, body) = admin.call_raw("admin_extend_trial", &[("slug", "acme"), ("days", "7")]).await;
    assert_eq!(code, 409, "{body}");
    app.stop().await;
}
on_both_backends!(a_trial_pays_no_platform_fee_is_reminded_and_converts_with_a_card);

async fn a_trial_ending_without_a_card_suspends_until_an_extension_or_a_card(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    let admin = admin(&app).await;
    let staff = owner(&app).await;
    let end = now().as_millis() - 1;
    trial_until(&app, end).await;

    // The end without a card: suspended, audited, emailed; new orders refused without saying why.
    collection::pass(&app.state).await.unwrap();
    assert_eq!(status(&app, &tenant).await, TenantBillingStatus::Suspended);
    let (code, body) = customer_orders(&app).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("not taking new orders"), "{body}");
    assert!(!body.to_lowercase().contains("trial"), "the customer is not told why: {body}");
    let view: PlatformBillingView = staff.call("wholesale_account", &[]).await.unwrap();
    assert_eq!((view.status, view.trial_ends_at), (TenantBillingStatus::Suspended, Some(Timestamp::from_millis(end))));
    // Staff see why on every management page, with the way out.
    let (code, page) = staff.get_page("/manage").await;
    assert_eq!(code, 200);
    assert!(page.contains("Your trial has ended") && page.contains("Save a card"), "{page}");
    let notices = mails(&app, "billing_status").await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].0, "Your trial has ended");
    assert!(notices[0].1.contains("Save a card"), "{}", notices[0].1);

    // Bad extensions change nothing.
    for days in ["0", "366", "two", ""] {
        let (code, body) = admin.call_raw("admin_extend_trial", &[("slug", "acme"), ("days", days)]).await;
        assert_eq!(code, 400, "{days:?}: {body}");
        assert!(body.contains("1 to 365 days"), "{body}");
    }
    assert_eq!(trials::get(app.state.central(), tenant.id).await.unwrap().ends_at, Some(Timestamp::from_millis(end)));
    // Not a staff member's to do, nor a stranger's.
    assert_eq!(staff.call_raw("admin_extend_trial", &[("slug", "acme"), ("days", "7")]).await.0, 404);

    // The admin extends it by 14 days (from now: it had ended): a trial again at once, audited with the
    // admin's name, emailed; orders resume.
    let before = now().as_millis();
    let d: TenantDetail = admin.call("admin_extend_trial", &[("slug", "acme"), ("days", "14")]).await.unwrap();
    assert_eq!(d.billing_status, TenantBillingStatus::Trial);
    let new_end = d.trial_ends_at.unwrap().as_millis();
    assert!((before + 14 * DAY_MS..=now().as_millis() + 14 * DAY_MS).contains(&new_end));
    let extended = audit(&app, &tenant, "trial.extended").await;
    assert_eq!(extended.len(), 1);
    assert_eq!(extended[0].0, "admin@ezscale.test");
    assert!(extended[0].1.starts_with("by 14 days, to "), "{extended:?}");
    assert_eq!(mails(&app, "trial_extended").await.len(), 1);
    assert_eq!(customer_orders(&app).await.0, 200);

    // It ends again, still no card: suspended; then a card is saved and it converts at once (no pass).
    trial_ends(&app, now().as_millis() - 1).await;
    collection::pass(&app.state).await.unwrap();
    assert_eq!(status(&app, &tenant).await, TenantBillingStatus::Suspended);
    save_card(&app, &staff, false).await;
    assert_eq!(status(&app, &tenant).await, TenantBillingStatus::Active, "converted at once on the card");
    assert!(trials::get(app.state.central(), tenant.id).await.unwrap().converted_at.is_some());
    assert_eq!(customer_orders(&app).await.0, 200);
    let changes: Vec<String> = audit(&app, &tenant, "billing_status.changed").await.into_iter().map(|r| r.1).collect();
    assert_eq!(
        changes,
        ["trial → suspended", "suspended → trial", "trial → suspended", "suspended → active"].map(str::to_owned)
    );
    let subjects: Vec<String> = mails(&app, "billing_status").await.into_iter().map(|m| m.0).collect();
    assert_eq!(subjects.len(), 4, "{subjects:?}");
    assert_eq!(subjects[1], "Your trial is running again");
    assert!(subjects[3].contains("welcome aboard"), "{subjects:?}");
    // A tenant without a trial has nothing to extend.
    let (code, body) = admin.call_raw("admin_extend_trial", &[("slug", "house"), ("days", "7")]).await;
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("no trial"), "{body}");
    app.stop().await;
}
on_both_backends!(a_trial_ending_without_a_card_suspends_until_an_extension_or_a_card);

async fn the_admin_sets_wholesale_payment_terms_and_runs_collection_for_a_tenant(b: Backend) {
    let app = spawn(b).await;
    let tenant = acme(&app).await;
    let admin = admin(&app).await;
    fn terms<'a>(d: &'a str, g: &'a str, s: &'a str) -> [(&'static str, &'a str); 4] {
        [("slug", "acme"), ("due_days", d), ("grace_days", g), ("suspend_days", s)]
    }

    // Out of range or not a number: a clear 400, nothing changed, nothing audited.
    for (args, says) in [
        (terms("91", "7", "14"), "payment term"),
        (terms("14", "-1", "14"), "grace period"),
        (terms("14", "7", "ninety"), "suspension"),
    ] {
        let (code, body) = admin.call_raw("admin_wholesale_terms", &args).await;
        assert_eq!(code, 400, "{body}");
        assert!(body.contains(says) && body.contains("0 to 90"), "{body}");
    }
    assert_eq!(collection::terms(app.state.central(), tenant.id).await.unwrap(), WholesaleTerms::default());
    assert!(audit(&app, &tenant, "tenant.wholesale_terms_changed").await.is_empty());

    let d: TenantDetail = admin.call("admin_wholesale_terms", &terms("10", "2", "3")).await.unwrap();
    assert_eq!(d.wholesale_terms, WholesaleTerms { due_days: 10, grace_days: 2, suspend_days: 3 });
    let changed = audit(&app, &tenant, "tenant.wholesale_terms_changed").await;
    assert_eq!(
        changed,
        vec![("admin@ezscale.test".to_owned(), "due 10 days, grace 2 days, suspended 3 days later".to_owned())]
    );

    // A bill issued now is due in 10 days; 3 days past due (grace 2) the admin's "Run collection now"
    // makes the tenant past due at once, and says so in the audit log.
    wholesale::bill_tenant(&app.state, &tenant, Period::parse("2026-04", 1).unwrap(), 0).await.unwrap();
    let inv = wholesale::get(&app.state, &tenant, "2026-04").await.unwrap().unwrap();
    assert_eq!(inv.due_at, Some(inv.created_at + 10 * DAY_MS));
    assert_eq!(inv.total_minor, FEE);
    sqlx::query("UPDATE wholesale_invoices SET due_at = $1 WHERE id = $2")
        .bind(now().as_millis() - 3 * DAY_MS)
        .bind(&inv.id)
        .execute(app.state.central().pool())
        .await
        .unwrap();
    let d: TenantDetail = admin.call("admin_collect_now", &[("slug", "acme")]).await.unwrap();
    assert_eq!(d.billing_status, TenantBillingStatus::PastDue);
    let runs = audit(&app, &tenant, "tenant.collection_run").await;
    assert_eq!(runs.len(), 1);
    assert!(runs[0].1.contains("1 status changes"), "{runs:?}");
    let owed = Money::from_minor(FEE, inv.currency).to_string();
    let view: PlatformBillingView = owner(&app).await.call("wholesale_account", &[]).await.unwrap();
    assert_eq!(view.unpaid.iter().map(|u| u.total.to_string()).collect::<Vec<_>>(), vec![owed]);
    assert_eq!(admin.call_raw("admin_collect_now", &[("slug", "nope")]).await.0, 404);
    app.stop().await;
}
on_both_backends!(the_admin_sets_wholesale_payment_terms_and_runs_collection_for_a_tenant);
