//! A new reseller's onboarding, through a real SMTP server: the platform admin creates a storefront without
//! ever choosing its owner's password; the owner chooses it from the welcome email (single use, stored
//! hashed, on their own storefront); staff reset links; the admin's "send a new welcome"; the checklist on
//! `/manage` ticking itself from real state; the reseller guide.

use app::domain::onboarding::{Checklist, OnboardingStep};
use app::domain::tenant_view::{ResellerGuide, TenantDetail};
use app::error::AppError;

use crate::common::smtp::SmtpSink;
use crate::common::{Backend, Client, TestApp};

async fn spawn(b: Backend) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(b, &[("SMTP_URL", &sink.url())]).await;
    (app, sink)
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_owned()
}

async fn admin(app: &TestApp) -> Client {
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    admin
}

/// Creates a storefront the way the admin app does: no password for its owner.
async fn create(admin: &Client, slug: &str) {
    let owner = format!("owner@{slug}.test");
    let name = format!("{slug} Cloud");
    let created: String = admin
        .call(
            "admin_create_tenant",
            &[
                ("name", name.as_str()),
                ("slug", slug),
                ("owner_email", owner.as_str()),
                ("primary_domain", ""),
                ("currency", "USD"),
                ("trial_days", ""),
            ],
        )
        .await
        .unwrap();
    assert_eq!(created, slug);
}

async fn audit_actions(app: &TestApp, action: &str) -> Vec<(String, String)> {
    sqlx::query_as::<_, (String, String)>("SELECT actor, detail FROM audit_log WHERE action = $1 ORDER BY at")
        .bind(action)
        .fetch_all(app.state.central().pool())
        .await
        .unwrap()
}

async fn a_new_owner_chooses_their_password_from_the_welcome_email(b: Backend) {
    let (app, sink) = spawn(b).await;
    let admin = admin(&app).await;
    create(&admin, "onb").await;
    let d: TenantDetail = admin.call("admin_tenant", &[("slug", "onb")]).await.unwrap();
    assert!(!d.owner_has_password);

    // Until they choose one, no password signs in as the owner: not a guess, not an empty one.
    let staff = app.client_for("onb.localhost");
    for password in ["", "onb-owner-password", " "] {
        let (status, _) = staff.call_raw("staff_login", &[("email", "owner@onb.test"), ("password", password)]).await;
        assert_eq!(status, 401, "{password:?}");
    }

    // The welcome comes from the platform and leads to the storefront's own address.
    let mail = sink.wait_for("owner@onb.test", 1).await;
    assert!(mail.text().contains("Your storefront onb Cloud is ready"), "{}", mail.text());
    let link = mail.link("/manage/set-password?token=").expect("a link to choose the password");
    assert!(link.starts_with("http://onb.localhost"), "{link}");
    let token = token_of(&link);

    // The token is a secret: only its hash is stored, and the delivered outbox row has no copy of it.
    let central = app.state.central().pool();
    let hashes: Vec<String> =
        sqlx::query_scalar("SELECT token_hash FROM staff_password_tokens").fetch_all(central).await.unwrap();
    assert_eq!(hashes, vec![app::backend::identity::tokens::token_hash(&token)]);
    sink.settled(app.state.central(), "owner@onb.test").await;
    let stored: Vec<(String, String)> = sqlx::query_as("SELECT text_body, html_body FROM outbox WHERE to_addr = $1")
        .bind("owner@onb.test")
        .fetch_all(central)
        .await
        .unwrap();
    assert!(!stored.is_empty() && stored.iter().all(|(t, h)| !t.contains(&token) && !h.contains(&token)));

    // Bad input changes nothing: a short password, a made-up link, the link on another storefront.
    let (status, body) = staff.call_raw("staff_set_password", &[("token", &token), ("password", "short")]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("12 characters"), "{body}");
    let made_up = app::backend::identity::tokens::new_token();
    let (status, _) =
        staff.call_raw("staff_set_password", &[("token", &made_up), ("password", "a-long-owner-password")]).await;
    assert_eq!(status, 400);
    let elsewhere = app.client();
    let (status, _) =
        elsewhere.call_raw("staff_set_password", &[("token", &token), ("password", "a-long-owner-password")]).await;
    assert!((400..500).contains(&status), "another storefront's host: {status}");
    assert!(!admin.call::<TenantDetail>("admin_tenant", &[("slug", "onb")]).await.unwrap().owner_has_password);

    // The real thing: chosen, signed in, once.
    staff.call::<()>("staff_set_password", &[("token", &token), ("password", "a-long-owner-password")]).await.unwrap();
    let me: Option<app::manage::model::StaffMe> = staff.call("staff_me", &[]).await.unwrap();
    assert_eq!(me.map(|m| m.email), Some("owner@onb.test".to_owned()));
    let (status, _) =
        staff.call_raw("staff_set_password", &[("token", &token), ("password", "another-password-1")]).await;
    assert_eq!(status, 400, "the link works once");
    let fresh = app.client_for("onb.localhost");
    fresh
        .call::<()>("staff_login", &[("email", "owner@onb.test"), ("password", "a-long-owner-password")])
        .await
        .unwrap();
    assert!(admin.call::<TenantDetail>("admin_tenant", &[("slug", "onb")]).await.unwrap().owner_has_password);
    let chosen = audit_actions(&app, "staff.password_chosen").await;
    assert_eq!(chosen.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(), vec!["owner@onb.test"]);

    // Nothing left to welcome.
    let (status, body) = admin.call_raw("admin_resend_welcome", &[("slug", "onb")]).await;
    assert_eq!(status, 409, "{body}");
    app.stop().await;
}
on_both_backends!(a_new_owner_chooses_their_password_from_the_welcome_email);

async fn a_fresh_welcome_ends_the_first_link(b: Backend) {
    let (app, sink) = spawn(b).await;
    let admin = admin(&app).await;
    create(&admin, "again").await;
    let first = token_of(&sink.wait_for("owner@again.test", 1).await.link("/manage/set-password?token=").unwrap());
    let d: TenantDetail = admin.call("admin_resend_welcome", &[("slug", "again")]).await.unwrap();
    assert!(!d.owner_has_password);
    let second = token_of(&sink.wait_for("owner@again.test", 2).await.link("/manage/set-password?token=").unwrap());
    assert_ne!(first, second);
    let staff = app.client_for("again.localhost");
    let (status, _) =
        staff.call_raw("staff_set_password", &[("token", &first), ("password", "a-long-owner-password")]).await;
    assert_eq!(status, 400, "the first link died with the new one");
    staff.call::<()>("staff_set_password", &[("token", &second), ("password", "a-long-owner-password")]).await.unwrap();
    let resent = audit_actions(&app, "tenant.welcome_resent").await;
    assert_eq!(resent, vec![("admin@ezscale.test".to_owned(), "owner@again.test".to_owned())]);
    // Only an admin sends welcomes.
    assert_eq!(staff.call_raw("admin_resend_welcome", &[("slug", "again")]).await.0, 404);
    let (status, _) = admin.call_raw("admin_resend_welcome", &[("slug", "nobody")]).await;
    assert_eq!(status, 404);
    app.stop().await;
}
on_both_backends!(a_fresh_welcome_ends_the_first_link);

async fn staff_reset_links_work_once_and_end_every_session(b: Backend) {
    let (app, sink) = spawn(b).await;
    let admin = admin(&app).await;
    create(&admin, "rst").await;
    let welcome = token_of(&sink.wait_for("owner@rst.test", 1).await.link("/manage/set-password?token=").unwrap());
    let laptop = app.client_for("rst.localhost");
    laptop
        .call::<()>("staff_set_password", &[("token", &welcome), ("password", "first-owner-password")])
        .await
        .unwrap();

    // The same answer for a member and a stranger; only the member gets mail.
    let phone = app.client_for("rst.localhost");
    let (status, body_member) = phone.call_raw("staff_forgot_password", &[("email", "owner@rst.test")]).await;
    assert_eq!(status, 200);
    let (status, body_stranger) = phone.call_raw("staff_forgot_password", &[("email", "nobody@rst.test")]).await;
    assert_eq!((status, body_stranger), (200, body_member));
    let (status, _) = phone.call_raw("staff_forgot_password", &[("email", "not an address")]).await;
    assert_eq!(status, 400);
    let mail = sink.wait_for("owner@rst.test", 2).await;
    let link = mail.link("/manage/set-password?token=").unwrap();
    assert!(link.starts_with(&phone.base), "on the address the member used: {link}");
    assert_eq!(sink.settled(app.state.central(), "nobody@rst.test").await, 0);

    phone
        .call::<()>("staff_set_password", &[("token", &token_of(&link)), ("password", "second-owner-password")])
        .await
        .unwrap();
    // The laptop's session ended with the reset; the old password is dead, the new one works.
    let me: Result<Option<app::manage::model::StaffMe>, (u16, AppError)> = laptop.call("staff_me", &[]).await;
    assert!(matches!(me, Ok(None)), "{me:?}");
    let (status, _) =
        laptop.call_raw("staff_login", &[("email", "owner@rst.test"), ("password", "first-owner-password")]).await;
    assert_eq!(status, 401);
    laptop
        .call::<()>("staff_login", &[("email", "owner@rst.test"), ("password", "second-owner-password")])
        .await
        .unwrap();
    assert_eq!(audit_actions(&app, "staff.password_reset").await.len(), 1);

    // Guessing links is limited like signing in.
    let guesser = app.client_for("rst.localhost");
    let mut limited = false;
    for _ in 0..60 {
        let t = app::backend::identity::tokens::new_token();
        let (status, _) =
            guesser.call_raw("staff_set_password", &[("token", &t), ("password", "guess-password-123")]).await;
        if status == 429 {
            limited = true;
            break;
        }
        assert_eq!(status, 400);
    }
    assert!(limited, "made-up links are counted as failed sign-ins and limited");
    app.stop().await;
}
on_both_backends!(staff_reset_links_work_once_and_end_every_session);

async fn checklist(staff: &Client) -> Vec<OnboardingStep> {
    let c: Checklist = staff.call("onboarding", &[]).await.unwrap();
    OnboardingStep::ALL.into_iter().filter(|s| c.is_done(*s)).collect()
}

async fn the_checklist_ticks_itself_from_real_state(b: Backend) {
    use OnboardingStep::*;
    let (app, sink) = spawn(b).await;
    let admin = admin(&app).await;
    create(&admin, "chk").await;
    let staff = app.client_for("chk.localhost");
    assert_eq!(staff.call_raw("onboarding", &[]).await.0, 401, "staff only");
    let welcome = token_of(&sink.wait_for("owner@chk.test", 1).await.link("/manage/set-password?token=").unwrap());
    staff.call::<()>("staff_set_password", &[("token", &welcome), ("password", "chk-owner-password")]).await.unwrap();
    assert_eq!(checklist(&staff).await, vec![PasswordSet]);

    // Branded: a logo of their own and colours other than the stock ones (a logo alone is not enough).
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(crate::tenancy::png_1x1([9, 99, 199, 255])).file_name("logo.png"),
    );
    let res = staff.http.post(format!("{}/manage/branding/logo", staff.base)).multipart(form).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 303);
    assert_eq!(checklist(&staff).await, vec![PasswordSet]);
    let _: app::manage::model::BrandingForm = staff
        .call(
            "save_branding",
            &[
                ("company_name", "Check Cloud"),
                ("primary", "#0f766e"),
                ("secondary", "#1e293b"),
                ("support_email", ""),
                ("support_phone", ""),
                ("from_email", ""),
                ("from_name", ""),
                ("custom_css", ""),
            ],
        )
        .await
        .unwrap();
    assert_eq!(checklist(&staff).await, vec![PasswordSet, Branded]);

    // A domain counts once verified.
    let _: TenantDetail = admin
        .call("admin_add_domain", &[("slug", "chk"), ("domain", "shop.chk.test"), ("primary", "on")])
        .await
        .unwrap();
    assert_eq!(checklist(&staff).await, vec![PasswordSet, Branded]);
    let _: TenantDetail = admin
        .call("admin_verify_domain", &[("slug", "chk"), ("domain", "shop.chk.test"), ("method", "admin")])
        .await
        .unwrap();
    assert_eq!(checklist(&staff).await, vec![PasswordSet, Branded, DomainVerified]);

    staff
        .call::<()>("save_stripe_keys", &[("secret_key", "sk_live_chk0123456789"), ("webhook_secret", "whsec_chk0123")])
        .await
        .unwrap();
    assert_eq!(checklist(&staff).await, vec![PasswordSet, Branded, DomainVerified, StripeKeys]);

    // Prices: confirmed as they are (recorded once), or saved.
    let c: Checklist = staff.call("confirm_prices", &[]).await.unwrap();
    assert!(c.is_done(PricesReviewed));
    let _: Checklist = staff.call("confirm_prices", &[]).await.unwrap();
    assert_eq!(audit_actions(&app, "prices.reviewed").await.len(), 1, "recorded the first time only");

    // A customer counts once their address is confirmed.
    let shop = app.client_for("chk.localhost");
    shop.call::<()>("signup", &[("name", "First"), ("email", "first@chk.test"), ("password", "first-customer-pw")])
        .await
        .unwrap();
    assert!(!checklist(&staff).await.contains(&FirstCustomer), "not before the address is confirmed");
    let verify = sink.wait_for("first@chk.test", 1).await.link("/verify?token=").unwrap();
    shop.call::<()>("verify_email", &[("token", &token_of(&verify))]).await.unwrap();
    assert!(checklist(&staff).await.contains(&FirstCustomer));

    // The first paid invoice: read from the storefront's own invoices.
    let entry = app.state.registry().entry_by_slug("chk").await.unwrap().unwrap();
    let tenant = app.state.tenant_by_id(entry.id).await.unwrap().unwrap();
    let customer: String = sqlx::query_scalar("SELECT id FROM customers").fetch_one(tenant.db.pool()).await.unwrap();
    let insert = |status: &'static str, kind: &'static str, period: &'static str| {
        sqlx::query(
            "INSERT INTO invoices (id, customer_id, kind, period, period_start, period_end, status, currency, \
             total_minor, created_at) VALUES ($1, $2, $3, $4, 0, 1, $5, 'USD', 100, 0)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(customer.clone())
        .bind(kind)
        .bind(period)
        .bind(status)
        .execute(tenant.db.pool())
    };
    insert("finalised", "invoice", "2026-10").await.unwrap();
    insert("paid", "credit_note", "2026-10").await.unwrap();
    assert!(!checklist(&staff).await.contains(&FirstPaidInvoice), "neither an unpaid invoice nor a credit note");
    insert("paid", "invoice", "2026-11").await.unwrap();
    let c: Checklist = staff.call("onboarding", &[]).await.unwrap();
    assert!(c.complete(), "{c:?}");

    // Another storefront's checklist is its own.
    let house = app.client();
    assert_eq!(house.call_raw("onboarding", &[]).await.0, 401);
    app.stop().await;
}
on_both_backends!(the_checklist_ticks_itself_from_real_state);

async fn the_guide_speaks_about_the_readers_own_storefront(b: Backend) {
    let (app, sink) = spawn(b).await;
    let admin = admin(&app).await;
    create(&admin, "gde").await;
    let _: TenantDetail = admin
        .call("admin_add_domain", &[("slug", "gde"), ("domain", "desk.gde.test"), ("primary", "on")])
        .await
        .unwrap();
    let staff = app.client_for("gde.localhost");
    let welcome = token_of(&sink.wait_for("owner@gde.test", 1).await.link("/manage/set-password?token=").unwrap());
    staff.call::<()>("staff_set_password", &[("token", &welcome), ("password", "gde-owner-password")]).await.unwrap();
    let g: ResellerGuide = staff.call("reseller_guide", &[]).await.unwrap();
    assert_eq!(g.platform_host, "gde.localhost");
    assert_eq!(g.domains.len(), 1);
    assert_eq!(g.domains[0].txt_name, "_ezscale-verify.desk.gde.test");
    assert!(g.domains[0].txt_value.starts_with("ezscale-verify="));
    assert_eq!(g.billing_cycle_day, 1);
    // The page renders on the server with the records to publish.
    let (status, html) = staff.get_page("/manage/guide").await;
    assert_eq!(status, 200);
    assert!(html.contains("_ezscale-verify.desk.gde.test") && html.contains("CNAME"), "{html}");
    app.stop().await;
}
on_both_backends!(the_guide_speaks_about_the_readers_own_storefront);
