//! Customer accounts end to end through a real SMTP server started by the test: sign-up and email
//! verification, enumeration-safe answers, password reset (single use, 60 minutes, every session ended),
//! session rotation, idle timeout, "sign out everywhere", re-authentication for password and email
//! changes, rehash on sign-in, limits before hashing, and the audit log.

use app::auth::Me;
use app::error::AppError;
use std::time::{Duration, Instant};

use crate::common::smtp::SmtpSink;
use crate::common::{self, Backend, Client, TestApp};

async fn spawn(b: Backend) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(b, &[("SMTP_URL", &sink.url())]).await;
    (app, sink)
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_owned()
}

async fn me(c: &Client) -> Option<Me> {
    c.call::<Option<Me>>("who_am_i", &[]).await.unwrap()
}

fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("ezs_session=").map(|r| r.split(';').next().unwrap_or("").to_owned()))
}

async fn signup_verification_and_enumeration(b: Backend) {
    let (app, sink) = spawn(b).await;
    let c = app.client();
    let signup =
        |email: &'static str| vec![("name", "New Customer"), ("email", email), ("password", "a-long-password-1")];
    // Bad input: refused with a reason, nothing created, nothing sent.
    for (name, email, pw) in [
        ("", "x@y.test", "a-long-password"),
        ("N", "not-an-email", "a-long-password"),
        ("N", "x@y.test", "short"),
        ("Evil\r\nBcc: a@b.test", "x@y.test", "a-long-password"),
    ] {
        let (status, _) = c.call_raw("signup", &[("name", name), ("email", email), ("password", pw)]).await;
        assert_eq!(status, 400, "{name:?} {email}");
    }
    let res = c.http.post(format!("{}/api/signup", app.base)).form(&signup("new@ezscale.test")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(session_cookie(&res).is_none(), "sign-up does not sign in (it would tell taken addresses apart)");
    let body_new = res.text().await.unwrap();
    // The same answer for an address that already has an account — and nothing is sent to it.
    let res = c.http.post(format!("{}/api/signup", app.base)).form(&signup("demo@ezscale.test")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(session_cookie(&res).is_none());
    assert_eq!(res.text().await.unwrap(), body_new);

    let mail = sink.wait_for("new@ezscale.test", 1).await;
    let data = mail.text();
    assert!(data.contains("Content-Type: text/plain") && data.contains("Content-Type: text/html"), "{data}");
    assert!(data.contains("From: EZSCALE"), "branded sender: {data}");
    let link = mail.link("/verify?token=").expect("verification link");
    assert!(link.starts_with(&app.base), "{link}");
    assert!(sink.to("demo@ezscale.test").is_empty(), "no mail to the existing account");

    // Unverified: can sign in, cannot order.
    let c = app.signed_in("new@ezscale.test", "a-long-password-1").await;
    assert_eq!(me(&c).await.map(|m| m.email_verified), Some(false));
    let cat: app::catalog::CatalogView = c.call("catalog", &[]).await.unwrap();
    let key = cat.order_key.unwrap();
    let refused = c.call::<String>("order_workspace", &[("plan", "developer-basic"), ("order_key", &key)]).await;
    assert_eq!(refused, Err((403, AppError::Unverified)));
    // The link's page confirms with a POST; a GET changes nothing.
    let (status, _) = c.get_page(&format!("/verify?token={}", token_of(&link))).await;
    assert_eq!(status, 200);
    assert_eq!(me(&c).await.map(|m| m.email_verified), Some(false), "a GET does not confirm");
    c.call::<()>("verify_email", &[("token", &token_of(&link))]).await.unwrap();
    assert_eq!(me(&c).await.map(|m| m.email_verified), Some(true));
    let again = c.call::<()>("verify_email", &[("token", &token_of(&link))]).await;
    assert!(matches!(again, Err((400, _))), "single use");
    let forged = c.call::<()>("verify_email", &[("token", "AAAA")]).await;
    assert!(matches!(forged, Err((400, _))));
    app.stop().await;
}
on_both_backends!(signup_verification_and_enumeration);

async fn password_reset_end_to_end(b: Backend) {
    let (app, sink) = spawn(b).await;
    let elsewhere = app.demo().await;
    assert!(me(&elsewhere).await.is_some());
    let c = app.client();
    // Known and unknown addresses get the same answer; only the known one gets mail.
    let (s1, b1) = c.call_raw("request_password_reset", &[("email", "nobody@ezscale.test")]).await;
    let (s2, b2) = c.call_raw("request_password_reset", &[("email", "demo@ezscale.test")]).await;
    assert_eq!((s1, b1), (s2, b2));
    let mail = sink.wait_for("demo@ezscale.test", 1).await;
    assert!(sink.to("nobody@ezscale.test").is_empty());
    let token = token_of(&mail.link("/reset?token=").expect("reset link"));

    let short = c.call::<()>("reset_password", &[("token", &token), ("password", "short")]).await;
    assert!(matches!(short, Err((400, _))));
    c.call::<()>("reset_password", &[("token", &token), ("password", "a-brand-new-password")]).await.unwrap();
    assert_eq!(me(&elsewhere).await, None, "every session ends after a reset");
    let reuse = c.call::<()>("reset_password", &[("token", &token), ("password", "another-new-password")]).await;
    assert!(matches!(reuse, Err((400, _))), "single use");
    let old = app.client().call::<()>("login", &[("email", "demo@ezscale.test"), ("password", "demo-password")]).await;
    assert_eq!(old, Err((401, AppError::BadCredentials)));
    let c = app.signed_in("demo@ezscale.test", "a-brand-new-password").await;
    assert!(me(&c).await.is_some());

    // An expired link (over 60 minutes) is refused.
    app.client().call::<()>("request_password_reset", &[("email", "other@ezscale.test")]).await.unwrap();
    let mail = sink.wait_for("other@ezscale.test", 1).await;
    let token = token_of(&mail.link("/reset?token=").unwrap());
    let house = app.state.house().await.unwrap();
    sqlx::query("UPDATE auth_tokens SET expires_at = expires_at - 3600001").execute(house.db.pool()).await.unwrap();
    let expired =
        app.client().call::<()>("reset_password", &[("token", &token), ("password", "a-brand-new-password")]).await;
    assert!(matches!(expired, Err((400, _))));
    app.stop().await;
}
on_both_backends!(password_reset_end_to_end);

async fn sessions_rotate_expire_and_end_everywhere(b: Backend) {
    let (app, _sink) = spawn(b).await;
    // A session id planted before sign-in is not promoted: sign-in issues a new one and ends the old.
    let login = |cookie: Option<String>| {
        let app_base = app.base.clone();
        async move {
            let mut req = reqwest::Client::new()
                .post(format!("{app_base}/api/login"))
                .form(&[("email", "demo@ezscale.test"), ("password", "demo-password")]);
            if let Some(c) = cookie {
                req = req.header("cookie", format!("ezs_session={c}"));
            }
            session_cookie(&req.send().await.unwrap()).unwrap()
        }
    };
    let planted = login(None).await;
    let fresh = login(Some(planted.clone())).await;
    assert_ne!(planted, fresh);
    assert_eq!(me(&common::with_cookie_client(&app, &format!("ezs_session={planted}"))).await, None);
    let planted = common::with_cookie_client(&app, &format!("ezs_session={fresh}"));
    assert!(me(&planted).await.is_some());
    // Idle timeout: a session unused for longer than the idle limit is over.
    let house = app.state.house().await.unwrap();
    sqlx::query("UPDATE auth_sessions SET last_seen_at = last_seen_at - 86400001")
        .execute(house.db.pool())
        .await
        .unwrap();
    assert_eq!(me(&planted).await, None);
    // Sign out everywhere.
    let a = app.demo().await;
    let b2 = app.demo().await;
    let ended: u64 = a.call("logout_everywhere", &[]).await.unwrap();
    assert!(ended >= 2);
    assert_eq!(me(&a).await, None);
    assert_eq!(me(&b2).await, None);
    // Cookie flags.
    let res = app
        .client()
        .http
        .post(format!("{}/api/login", app.base))
        .form(&[("email", "demo@ezscale.test"), ("password", "demo-password")])
        .send()
        .await
        .unwrap();
    let raw = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(raw.contains("HttpOnly") && raw.contains("SameSite=Lax") && raw.contains("Path=/"), "{raw}");
    assert!(!raw.contains("Domain="), "host-only: never shared with other tenants' subdomains");
    app.stop().await;
}
on_both_backends!(sessions_rotate_expire_and_end_everywhere);

async fn password_and_email_changes_need_the_password(b: Backend) {
    let (app, sink) = spawn(b).await;
    let c = app.demo().await;
    let other_device = app.demo().await;
    let wrong =
        c.call::<()>("change_password", &[("current_password", "nope"), ("new_password", "a-new-password-2")]).await;
    assert_eq!(wrong, Err((401, AppError::BadCredentials)));
    c.call::<()>("change_password", &[("current_password", "demo-password"), ("new_password", "a-new-password-2")])
        .await
        .unwrap();
    assert!(me(&c).await.is_some(), "this session continues");
    assert_eq!(me(&other_device).await, None, "other sessions end");

    let wrong = c
        .call::<()>("change_email", &[("current_password", "demo-password"), ("new_email", "new-demo@ezscale.test")])
        .await;
    assert_eq!(wrong, Err((401, AppError::BadCredentials)));
    let taken = c
        .call::<()>("change_email", &[("current_password", "a-new-password-2"), ("new_email", "other@ezscale.test")])
        .await;
    assert!(taken.is_ok(), "a taken address is not revealed here");
    c.call::<()>("change_email", &[("current_password", "a-new-password-2"), ("new_email", "new-demo@ezscale.test")])
        .await
        .unwrap();
    let mail = sink.wait_for("new-demo@ezscale.test", 1).await;
    let token = token_of(&mail.link("/confirm-email?token=").unwrap());
    assert_eq!(me(&c).await.unwrap().email, "demo@ezscale.test", "nothing changes before confirmation");
    c.call::<()>("confirm_email_change", &[("token", &token)]).await.unwrap();
    assert_eq!(me(&c).await.unwrap().email, "new-demo@ezscale.test");
    // The taken address cannot be confirmed onto this account.
    let mail = sink.wait_for("other@ezscale.test", 1).await;
    let token = token_of(&mail.link("/confirm-email?token=").unwrap());
    let clash = c.call::<()>("confirm_email_change", &[("token", &token)]).await;
    assert!(matches!(clash, Err((409, _))));
    let p: Me = c.call("update_profile", &[("name", "Renamed Customer")]).await.unwrap();
    assert_eq!(p.name, "Renamed Customer");
    app.stop().await;
}
on_both_backends!(password_and_email_changes_need_the_password);

async fn old_hashes_are_upgraded_at_sign_in(b: Backend) {
    let (app, _sink) = spawn(b).await;
    let house = app.state.house().await.unwrap();
    // A hash made with weaker parameters, as an older release might have stored.
    let weak = {
        use argon2::password_hash::PasswordHasher;
        let params = argon2::Params::new(8192, 1, 1, None).unwrap();
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(b"demo-password")
            .unwrap()
            .to_string()
    };
    sqlx::query("UPDATE customers SET password_hash = $1 WHERE email = 'demo@ezscale.test'")
        .bind(&weak)
        .execute(house.db.pool())
        .await
        .unwrap();
    let _ = app.demo().await;
    let now: String = sqlx::query_scalar("SELECT password_hash FROM customers WHERE email = 'demo@ezscale.test'")
        .fetch_one(house.db.pool())
        .await
        .unwrap();
    assert!(now.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{now}");
    let _ = app.demo().await;
    app.stop().await;
}
on_both_backends!(old_hashes_are_upgraded_at_sign_in);

async fn signup_and_reset_are_limited_before_any_work(b: Backend) {
    let (app, sink) = spawn(b).await;
    let c = app.client();
    for i in 0..10 {
        let email = "flood@ezscale.test";
        let (status, _) = c
            .call_raw("signup", &[("name", "Flood"), ("email", email), ("password", &format!("a-long-password-{i}"))])
            .await;
        assert_eq!(status, 200);
    }
    let res = c
        .http
        .post(format!("{}/api/signup", app.base))
        .form(&[("name", "Flood"), ("email", "flood@ezscale.test"), ("password", "a-long-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    assert!(res.headers().get("retry-after").is_some());
    for _ in 0..10 {
        c.call::<()>("request_password_reset", &[("email", "other@ezscale.test")]).await.unwrap();
    }
    let limited = c.call::<()>("request_password_reset", &[("email", "other@ezscale.test")]).await;
    assert!(matches!(limited, Err((429, AppError::RateLimited { .. }))));
    // Ten requests, ten messages (each token is its own message); the eleventh sent nothing. Each answer
    // leaves before its mail is queued (by a task of its own, so that timing cannot tell addresses apart):
    // counting at once could find nothing queued yet, and settle on 0.
    sink.wait_for("other@ezscale.test", 10).await;
    assert_eq!(sink.settled(app.state.central(), "other@ezscale.test").await, 10);
    app.stop().await;
}
on_both_backends!(signup_and_reset_are_limited_before_any_work);

async fn admin_and_reseller_actions_are_audited(b: Backend) {
    let (app, sink) = spawn(b).await;
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    let _: String = admin
        .call(
            "admin_create_tenant",
            &[
                ("name", "Audit Co"),
                ("slug", "auditco"),
                ("owner_email", "owner@auditco.test"),
                ("primary_domain", ""),
                ("currency", "USD"),
                ("trial_days", ""),
            ],
        )
        .await
        .unwrap();
    let _: app::admin::model::TenantDetail = admin.call("admin_suspend_tenant", &[("slug", "auditco")]).await.unwrap();
    let _: app::admin::model::TenantDetail =
        admin.call("admin_unsuspend_tenant", &[("slug", "auditco")]).await.unwrap();
    // The owner chooses their password from the welcome email, which signs them in.
    let welcome = sink.wait_for("owner@auditco.test", 1).await;
    let link = welcome.link("/manage/set-password?token=").expect("the welcome email links to the password page");
    let staff = app.client_for("auditco.localhost");
    staff
        .call::<()>("staff_set_password", &[("token", &token_of(&link)), ("password", "auditco-owner-password")])
        .await
        .unwrap();
    let _: app::manage::model::BrandingForm = staff
        .call(
            "save_branding",
            &[
                ("company_name", "Audit Co"),
                ("primary", "#123456"),
                ("secondary", "#ffffff"),
                ("support_email", ""),
                ("support_phone", ""),
                ("from_email", ""),
                ("from_name", ""),
                ("custom_css", ""),
            ],
        )
        .await
        .unwrap();
    let all: Vec<app::admin::audit::AuditRow> =
        admin.call("admin_audit", &[("tenant", "auditco"), ("action", ""), ("actor", "")]).await.unwrap();
    let actions: Vec<&str> = all.iter().map(|r| r.action.as_str()).collect();
    for a in ["tenant.created", "tenant.suspended", "tenant.resumed", "branding.changed"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(all.iter().all(|r| r.tenant.as_deref() == Some("auditco") && r.ip.is_some()));
    let only: Vec<app::admin::audit::AuditRow> =
        admin.call("admin_audit", &[("tenant", ""), ("action", "tenant.suspended"), ("actor", "")]).await.unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!((only[0].actor.as_str(), only[0].actor_kind.as_str()), ("admin@ezscale.test", "admin"));
    let by_staff: Vec<app::admin::audit::AuditRow> =
        admin.call("admin_audit", &[("tenant", ""), ("action", ""), ("actor", "owner@auditco.test")]).await.unwrap();
    let mut staff_actions: Vec<&str> = by_staff.iter().map(|r| r.action.as_str()).collect();
    staff_actions.sort_unstable();
    assert_eq!(staff_actions, vec!["branding.changed", "staff.password_chosen"]);
    // Not visible to anyone else.
    assert_eq!(staff.call_raw("admin_audit", &[("tenant", ""), ("action", ""), ("actor", "")]).await.0, 404);
    app.stop().await;
}
on_both_backends!(admin_and_reseller_actions_are_audited);

async fn staff_are_invited_by_email(b: Backend) {
    let (app, sink) = spawn(b).await;
    let new = tenant_admin_input("inv");
    app::backend::resellers::lifecycle::create(&app.state, &app.db_url, new).await.unwrap();
    let owner = app.client_for("inv.localhost");
    owner.call::<()>("staff_login", &[("email", "owner@inv.test"), ("password", "inv-owner-password")]).await.unwrap();
    let bad = owner.call::<()>("invite_staff", &[("email", "x@y.test"), ("role", "god")]).await;
    assert!(matches!(bad, Err((400, _))));
    owner.call::<()>("invite_staff", &[("email", "colleague@inv.test"), ("role", "admin")]).await.unwrap();
    let mail = sink.wait_for("colleague@inv.test", 1).await;
    let link = mail.link("/manage/accept?token=").expect("invitation link");
    assert!(link.contains("inv.localhost"), "{link}");
    let token = token_of(&link);
    // The invitation works on its own tenant only, once.
    make_other_tenant(&app).await;
    let elsewhere = app.client_for("oth.localhost");
    let wrong_host = elsewhere
        .call::<()>("accept_invite", &[("token", &token), ("name", "Col"), ("password", "colleague-password")])
        .await;
    assert!(matches!(wrong_host, Err((400, _))));
    let colleague = app.client_for("inv.localhost");
    colleague
        .call::<()>("accept_invite", &[("token", &token), ("name", "Col League"), ("password", "colleague-password")])
        .await
        .unwrap();
    let me: Option<app::manage::model::StaffMe> = colleague.call("staff_me", &[]).await.unwrap();
    assert_eq!(me.map(|m| m.role.as_str()), Some("admin"));
    let again = app
        .client_for("inv.localhost")
        .call::<()>("accept_invite", &[("token", &token), ("name", "Col"), ("password", "colleague-password")])
        .await;
    assert!(matches!(again, Err((400, _))));
    // Admins cannot invite or remove; owners can remove admins but not the last owner.
    let refused = colleague.call::<()>("invite_staff", &[("email", "z@inv.test"), ("role", "owner")]).await;
    assert_eq!(refused, Err((403, AppError::Forbidden)));
    let staff: Vec<app::manage::server::StaffRow> = owner.call("list_staff", &[]).await.unwrap();
    assert_eq!(staff.len(), 2);
    let owner_id = staff.iter().find(|s| s.role.as_str() == "owner").unwrap().id.clone();
    let col_id = staff.iter().find(|s| s.role.as_str() == "admin").unwrap().id.clone();
    let _: Vec<app::manage::server::StaffRow> = owner.call("remove_staff", &[("id", &col_id)]).await.unwrap();
    let gone: Option<app::manage::model::StaffMe> = colleague.call("staff_me", &[]).await.unwrap();
    assert_eq!(gone, None, "a removed member's sessions end");
    let last = owner.call::<Vec<app::manage::server::StaffRow>>("remove_staff", &[("id", &owner_id)]).await;
    assert!(matches!(last, Err((403, _)) | Err((409, _))), "{last:?}");
    app.stop().await;
}
on_both_backends!(staff_are_invited_by_email);

fn tenant_admin_input(slug: &str) -> app::backend::resellers::lifecycle::NewTenant {
    app::backend::resellers::lifecycle::validate(&app::backend::resellers::lifecycle::NewTenantInput {
        name: format!("{slug} company"),
        slug: slug.into(),
        owner_email: format!("owner@{slug}.test"),
        owner_password: Some(format!("{slug}-owner-password")),
        ..Default::default()
    })
    .unwrap()
}

async fn make_other_tenant(app: &TestApp) {
    app::backend::resellers::lifecycle::create(&app.state, &app.db_url, tenant_admin_input("oth")).await.unwrap();
}

async fn admins_impersonate_with_a_banner_and_an_audit_trail(b: Backend) {
    let (app, _sink) = spawn(b).await;
    app::backend::resellers::lifecycle::create(&app.state, &app.db_url, tenant_admin_input("imp")).await.unwrap();
    make_other_tenant(&app).await;
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    // As the owner.
    let url: String =
        admin.call("admin_impersonate", &[("slug", "imp"), ("target", "owner"), ("email", "")]).await.unwrap();
    assert!(url.contains("imp.localhost") && url.contains("/impersonate?token="), "{url}");
    let token = token_of(&url);
    // Redeemable on its own tenant only, once.
    let other = app.client_for("oth.localhost");
    assert!(matches!(other.call::<String>("redeem_impersonation", &[("token", &token)]).await, Err((400, _))));
    let as_owner = app.client_for("imp.localhost");
    let go: String = as_owner.call("redeem_impersonation", &[("token", &token)]).await.unwrap();
    assert_eq!(go, "/manage");
    let again = app.client_for("imp.localhost").call::<String>("redeem_impersonation", &[("token", &token)]).await;
    assert!(matches!(again, Err((400, _))), "single use");
    let brand: app::layout::SiteBrand = as_owner.call("site_brand", &[]).await.unwrap();
    assert_eq!(brand.impersonating.as_deref(), Some("admin@ezscale.test as owner@imp.test"));
    let (_, page) = as_owner.get_page("/manage").await;
    assert!(page.contains("impersonation-banner"));
    // Above the management frame, not the storefront's.
    assert!(page.contains(r#"data-testid="manage-frame""#) && !page.contains(r#"href="/signup""#));
    let _: app::manage::model::BrandingForm = as_owner
        .call(
            "save_branding",
            &[
                ("company_name", "Imp"),
                ("primary", "#123456"),
                ("secondary", "#ffffff"),
                ("support_email", ""),
                ("support_phone", ""),
                ("from_email", ""),
                ("from_name", ""),
                ("custom_css", ""),
            ],
        )
        .await
        .unwrap();
    // As a customer: no credential changes; actions audited under the admin.
    let house_customer_url: String = admin
        .call("admin_impersonate", &[("slug", "house"), ("target", "customer"), ("email", "demo@ezscale.test")])
        .await
        .unwrap();
    let as_customer = app.client_for("house.localhost");
    let go: String =
        as_customer.call("redeem_impersonation", &[("token", &token_of(&house_customer_url))]).await.unwrap();
    assert_eq!(go, "/workspaces");
    let me: Option<Me> = as_customer.call("who_am_i", &[]).await.unwrap();
    assert_eq!(me.map(|m| m.email), Some("demo@ezscale.test".into()));
    let pw = as_customer
        .call::<()>("change_password", &[("current_password", "demo-password"), ("new_password", "hijacked-password")])
        .await;
    assert_eq!(pw, Err((403, AppError::Forbidden)));
    let em = as_customer
        .call::<()>("change_email", &[("current_password", "demo-password"), ("new_email", "x@evil.test")])
        .await;
    assert_eq!(em, Err((403, AppError::Forbidden)));
    let id = common::order(&as_customer, "developer-basic").await;
    let log: Vec<app::admin::audit::AuditRow> =
        admin.call("admin_audit", &[("tenant", ""), ("action", ""), ("actor", "admin@ezscale.test")]).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
    for a in ["impersonation.issued", "impersonation.started", "workspace.ordered"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let branding: Vec<app::admin::audit::AuditRow> =
        admin.call("admin_audit", &[("tenant", "imp"), ("action", "branding.changed"), ("actor", "")]).await.unwrap();
    assert!(branding[0].detail.contains("by admin admin@ezscale.test"), "{:?}", branding[0]);
    // Not for anyone but admins, and not for unknown customers.
    let refused = as_owner.call_raw("admin_impersonate", &[("slug", "imp"), ("target", "owner"), ("email", "")]).await;
    assert_eq!(refused.0, 404);
    let nobody = admin
        .call_raw("admin_impersonate", &[("slug", "house"), ("target", "customer"), ("email", "nobody@x.test")])
        .await;
    assert_eq!(nobody.0, 404);
    let _ = as_customer.call_raw("terminate_workspace", &[("id", &id)]).await;
    app.stop().await;
}
on_both_backends!(admins_impersonate_with_a_banner_and_an_audit_trail);

/// The management pages have a frame of their own: the staff member signed in and their role, the
/// management navigation with the current page marked, and the way to the storefront as customers see it;
/// never the storefront's navigation or its "Sign in / Sign up". Before signing in, a minimal one.
async fn management_pages_have_their_own_frame(b: Backend) {
    let (app, _sink) = spawn(b).await;
    app::backend::resellers::lifecycle::create(&app.state, &app.db_url, tenant_admin_input("frm")).await.unwrap();
    let owner = app.client_for("frm.localhost");
    owner.call::<()>("staff_login", &[("email", "owner@frm.test"), ("password", "frm-owner-password")]).await.unwrap();
    for (path, current) in
        [("/manage/customers", "/manage/customers"), ("/manage", "/manage"), ("/manage/billing", "/manage/billing")]
    {
        let (status, page) = owner.get_page(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(page.contains(r#"data-testid="manage-frame""#), "{path}: {page}");
        assert!(page.contains(r#"data-testid="manage-nav""#), "{path}");
        assert!(page.contains("owner@frm.test") && page.contains("Owner"), "{path}");
        assert!(page.contains(r#"data-testid="view-storefront""#), "{path}");
        assert!(page.contains(&format!(r#"href="{current}" aria-current="page""#)), "{path}");
        assert_eq!(page.matches(r#"aria-current="page""#).count(), 1, "{path}: one current page");
        assert!(!page.contains(r#"href="/signup""#) && !page.contains(r#"href="/login""#), "{path}");
        assert!(!page.contains("My workspaces"), "{path}");
    }
    // Signed out: the management side's brand and the way to the storefront, nothing to navigate yet.
    let (status, login) = app.client_for("frm.localhost").get_page("/manage/login").await;
    assert_eq!(status, 200);
    assert!(login.contains(r#"data-testid="manage-frame""#) && login.contains(r#"data-testid="view-storefront""#));
    assert!(!login.contains(r#"data-testid="manage-nav""#) && !login.contains(r#"href="/signup""#));
    // The storefront itself keeps its own frame, for staff too.
    let (_, shop) = owner.get_page("/").await;
    assert!(shop.contains(r#"href="/signup""#) && !shop.contains(r#"data-testid="manage-frame""#));
    app.stop().await;
}
on_both_backends!(management_pages_have_their_own_frame);

/// Every state-changing endpoint refuses a request a browser marks as cross-site, and one whose Origin is
/// another site — before doing anything.
async fn forged_cross_origin_requests_are_refused_everywhere(b: Backend) {
    let (app, _sink) = spawn(b).await;
    // Every registered server function (read-only ones are POSTs too: checked the same way) and every
    // other POST route, so a new one is covered by itself. The counts catch a list that silently shrinks.
    let mut functions: Vec<&str> = leptos::server_fn::axum::server_fn_paths().map(|(path, _)| path).collect();
    functions.sort_unstable();
    functions.dedup();
    assert_eq!(functions.len(), crate::security::REGISTERED_FUNCTIONS, "registered server functions: {functions:?}");
    assert!(functions.iter().all(|f| f.starts_with("/api/")), "{functions:?}");
    let routes: Vec<String> = server::routes::post_route_paths()
        .into_iter()
        .map(|r| r.replace("{kind}", "logo").replace("{slug}", "house"))
        .collect();
    assert_eq!(routes.len(), 4, "POST routes: {routes:?}");
    let mut refused = 0;
    for host in ["127.0.0.1", "admin.localhost"] {
        let c = if host == "127.0.0.1" { app.client() } else { app.client_for(host) };
        let own = c.base.trim_start_matches("http://").to_owned();
        let forged = [
            ("sec-fetch-site", "cross-site".to_owned()),
            ("sec-fetch-site", "same-site".to_owned()),
            ("origin", "http://evil.test".to_owned()),
            // This host, another scheme: another origin.
            ("origin", format!("https://{own}")),
        ];
        for path in functions.iter().copied().chain(routes.iter().map(String::as_str)) {
            for (name, value) in &forged {
                let res = c
                    .http
                    .post(format!("{}{path}", c.base))
                    .header(*name, value)
                    .form(&[("email", "demo@ezscale.test"), ("password", "demo-password")])
                    .send()
                    .await
                    .unwrap();
                // (The admin host serves only /admin and /api: other paths are 404 before the origin is
                // even looked at.)
                let expected = if host == "admin.localhost" && !path.starts_with("/api/") { 404 } else { 403 };
                assert_eq!(res.status().as_u16(), expected, "{path} on {host} with {name}: {value}");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 2 * 4 * (crate::security::REGISTERED_FUNCTIONS + crate::security::POST_ROUTES));
    // Nothing changed: the demo customer was not signed in by the forged logins.
    assert_eq!(me(&app.client()).await, None);
    app.stop().await;
}
on_both_backends!(forged_cross_origin_requests_are_refused_everywhere);

async fn workspace_ready_and_welcome_emails_arrive_once(b: Backend) {
    let (app, sink) = spawn(b).await;
    let c = app.demo().await;
    let id = common::order(&c, "developer-basic").await;
    common::until_state(&c, &id, app::domain::workspace::WorkspaceState::Running).await;
    let mail = sink.wait_for("demo@ezscale.test", 1).await;
    let link = mail.link(&format!("/workspaces/{id}")).expect("access link");
    assert_eq!(link, format!("{}/workspaces/{id}", app.base.replace("127.0.0.1", "localhost")));
    // Stop and start again: no second "ready" email.
    let _: app::domain::workspace_view::WorkspaceDetail = c.call("stop_workspace", &[("id", &id)]).await.unwrap();
    common::until_state(&c, &id, app::domain::workspace::WorkspaceState::Stopped).await;
    let _: app::domain::workspace_view::WorkspaceDetail = c.call("start_workspace", &[("id", &id)]).await.unwrap();
    common::until_state(&c, &id, app::domain::workspace::WorkspaceState::Running).await;
    // Once the start's job has finished (it is what would queue a second email), exactly one arrived.
    common::eventually(std::time::Duration::from_secs(15), "the start's job finished", || async {
        let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND payload LIKE $1")
            .bind(format!("%{id}%"))
            .fetch_one(app.state.central().pool())
            .await
            .ok()?;
        (open == 0).then_some(())
    })
    .await;
    assert_eq!(sink.settled(app.state.central(), "demo@ezscale.test").await, 1);
    let _ = c.call_raw("terminate_workspace", &[("id", &id)]).await;

    // Welcome follows the confirmation of a new account.
    let anon = app.client();
    anon.call::<()>(
        "signup",
        &[("name", "Wel Come"), ("email", "welcome@ezscale.test"), ("password", "a-long-password-1")],
    )
    .await
    .unwrap();
    let verify = sink.wait_for("welcome@ezscale.test", 1).await;
    anon.call::<()>("verify_email", &[("token", &token_of(&verify.link("/verify?token=").unwrap()))]).await.unwrap();
    let welcome = sink.wait_for("welcome@ezscale.test", 2).await;
    assert!(welcome.text().contains("Subject: Welcome"), "{}", welcome.text());
    app.stop().await;
}
on_both_backends!(workspace_ready_and_welcome_emails_arrive_once);

async fn staff_and_admins_sign_out_everywhere_and_time_out(b: Backend) {
    let (app, _sink) = spawn(b).await;
    let a1 = app.client_for("admin.localhost");
    let a2 = app.client_for("admin.localhost");
    for a in [&a1, &a2] {
        a.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    }
    let n: u64 = a1.call("admin_logout_everywhere", &[]).await.unwrap();
    assert!(n >= 2);
    assert_eq!(a2.call_raw("admin_tenants", &[]).await.0, 401);
    // Idle timeout for admin sessions (30 minutes).
    a1.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    sqlx::query("UPDATE central_sessions SET last_seen_at = last_seen_at - 1800001")
        .execute(app.state.central().pool())
        .await
        .unwrap();
    assert_eq!(a1.call_raw("admin_tenants", &[]).await.0, 401);
    app.stop().await;
}
on_both_backends!(staff_and_admins_sign_out_everywhere_and_time_out);

// ---- One-time tokens are secrets; abuse limits that cannot be turned against users; security events
// ---- are counted and audited.

/// Like [`spawn`], with more configuration (e.g. `TRUSTED_PROXIES`, so tests can speak for many addresses).
async fn spawn_with(b: Backend, extra: &[(&str, &str)]) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let mut env = vec![("SMTP_URL", url.as_str())];
    env.extend_from_slice(extra);
    let app = TestApp::spawn_with(b, &env).await;
    (app, sink)
}

/// A browser-like client whose requests come, through our trusted proxy (127.0.0.1), from `ip`.
fn client_at(app: &TestApp, host: Option<&str>, ip: &str) -> Client {
    use reqwest::header::{HeaderMap, HeaderValue};
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_str(ip).unwrap());
    let mut builder = reqwest::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(common::REQUEST_TIMEOUT);
    let base = match host {
        Some(h) => {
            builder = builder.resolve(h, app.addr);
            format!("http://{h}:{}", app.addr.port())
        }
        None => app.base.clone(),
    };
    Client { http: builder.build().unwrap(), base }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Every `table.column` of a database whose value, read as text, contains `needle`.
async fn columns_holding(b: Backend, pool: &app::backend::platform::db::DbPool, needle: &str) -> Vec<String> {
    use sqlx::Row;
    let columns: Vec<(String, String, String)> = match b {
        Backend::Sqlite => {
            let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                .fetch_all(pool)
                .await
                .unwrap();
            let mut all = Vec::new();
            for t in tables {
                let names: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
                    .bind(&t)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                all.extend(names.into_iter().map(|c| (t.clone(), c, String::new())));
            }
            all
        }
        Backend::Postgres => sqlx::query(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = 'public'",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect(),
    };
    assert!(columns.len() > 20, "the scan sees the schema: {columns:?}");
    let mut hits = Vec::new();
    for (table, column, data_type) in columns {
        let as_text = match (b, data_type.as_str()) {
            (Backend::Sqlite, _) => format!("instr(CAST(\"{column}\" AS TEXT), $1) > 0"),
            // bytea as text would be hex: read its bytes instead.
            (Backend::Postgres, "bytea") => format!("strpos(encode(\"{column}\", 'escape'), $1) > 0"),
            (Backend::Postgres, _) => format!("strpos(CAST(\"{column}\" AS TEXT), $1) > 0"),
        };
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM \"{table}\" WHERE {as_text}"));
        let n: i64 = sqlx::query_scalar(sql).bind(needle).fetch_one(pool).await.unwrap();
        if n > 0 {
            hits.push(format!("{table}.{column}"));
        }
    }
    hits
}

/// Every `db:table.column`, central and every tenant's, that holds `needle`.
async fn stored_anywhere(app: &TestApp, b: Backend, needle: &str) -> Vec<String> {
    let mut hits: Vec<String> = columns_holding(b, app.state.central().pool(), needle)
        .await
        .into_iter()
        .map(|h| format!("central:{h}"))
        .collect();
    let entries = app.state.registry().entries().await.unwrap();
    assert!(entries.len() >= 2, "the house and the test's tenant");
    for e in entries {
        let tenant = app.state.tenant_by_id(e.id).await.unwrap().expect("tenant database");
        for h in columns_holding(b, tenant.db.pool(), needle).await {
            hits.push(format!("{}:{h}", e.slug));
        }
    }
    hits
}

async fn one_time_tokens_are_never_stored_or_shown_in_clear(b: Backend) {
    use app::backend::mail::outbox::{self, OutboxState};
    let (app, sink) = spawn(b).await;
    // A reset link, a verification link and a staff invitation, each delivered by SMTP.
    app.client().call::<()>("request_password_reset", &[("email", "demo@ezscale.test")]).await.unwrap();
    let reset = token_of(&sink.wait_for("demo@ezscale.test", 1).await.link("/reset?token=").unwrap());
    let fresh = app.client();
    fresh
        .call::<()>("signup", &[("name", "Fresh"), ("email", "fresh@ezscale.test"), ("password", "a-long-password-1")])
        .await
        .unwrap();
    let verify = token_of(&sink.wait_for("fresh@ezscale.test", 1).await.link("/verify?token=").unwrap());
    app::backend::resellers::lifecycle::create(&app.state, &app.db_url, tenant_admin_input("sec")).await.unwrap();
    let owner = app.client_for("sec.localhost");
    owner.call::<()>("staff_login", &[("email", "owner@sec.test"), ("password", "sec-owner-password")]).await.unwrap();
    owner.call::<()>("invite_staff", &[("email", "new@sec.test"), ("role", "admin")]).await.unwrap();
    let invite = token_of(&sink.wait_for("new@sec.test", 1).await.link("/manage/accept?token=").unwrap());
    for t in [&reset, &verify, &invite] {
        assert!(t.len() >= 43, "a whole token: {t}");
    }
    // Delivered means recorded as sent, too.
    common::eventually(Duration::from_secs(20), "every message recorded as sent", || async {
        let rows = outbox::list(app.state.central(), None, 100).await.unwrap();
        (rows.len() >= 3 && rows.iter().all(|r| r.state == OutboxState::Sent)).then_some(())
    })
    .await;

    // No row of any table, central or tenant, holds a token in clear. (The scan itself finds what is there.)
    assert!(stored_anywhere(&app, b, "new@sec.test").await.contains(&"central:staff_invites.email".to_owned()));
    assert!(stored_anywhere(&app, b, "fresh@ezscale.test").await.contains(&"house:customers.email".to_owned()));
    for t in [&reset, &verify, &invite] {
        assert_eq!(stored_anywhere(&app, b, t).await, Vec::<String>::new(), "token {t}");
    }

    // The admin's mail view shows the messages, with their links masked.
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    let (status, raw) = admin.call_raw("admin_mail", &[]).await;
    assert_eq!(status, 200, "{raw}");
    let rows: Vec<app::admin::mail::MailRow> = serde_json::from_str(&raw).unwrap();
    let with_links: Vec<_> = rows.iter().filter(|r| r.has_secret).collect();
    assert_eq!(with_links.len(), 3, "{rows:?}");
    assert!(with_links.iter().all(|r| r.text.contains(&format!("token={}", app::backend::mail::SECRET_MASK))));
    let (status, page) = admin.get_page("/admin/mail").await;
    assert_eq!(status, 200);
    assert!(page.contains("new@sec.test"), "the page lists the messages");
    for t in [&reset, &verify, &invite] {
        assert!(!raw.contains(t.as_str()) && !page.contains(t.as_str()), "token {t} shown to the admin");
    }

    // The links the recipients received still work, once.
    let c = app.client();
    c.call::<()>("reset_password", &[("token", &reset), ("password", "a-brand-new-password")]).await.unwrap();
    let again = c.call::<()>("reset_password", &[("token", &reset), ("password", "another-new-password")]).await;
    assert!(matches!(again, Err((400, _))), "{again:?}");
    fresh.call::<()>("verify_email", &[("token", &verify)]).await.unwrap();
    let colleague = app.client_for("sec.localhost");
    colleague
        .call::<()>("accept_invite", &[("token", &invite), ("name", "New One"), ("password", "new-one-password")])
        .await
        .unwrap();
    let again = app
        .client_for("sec.localhost")
        .call::<()>("accept_invite", &[("token", &invite), ("name", "New One"), ("password", "new-one-password")])
        .await;
    assert!(matches!(again, Err((400, _))), "{again:?}");
    app.stop().await;
}
on_both_backends!(one_time_tokens_are_never_stored_or_shown_in_clear);

async fn outstanding_reset_links_die_when_the_password_changes(b: Backend) {
    let (app, sink) = spawn(b).await;
    let c = app.client();
    // Two links for one account: setting a password with one ends the other.
    for _ in 0..2 {
        c.call::<()>("request_password_reset", &[("email", "demo@ezscale.test")]).await.unwrap();
    }
    let first = token_of(&sink.wait_for("demo@ezscale.test", 1).await.link("/reset?token=").unwrap());
    let second = token_of(&sink.wait_for("demo@ezscale.test", 2).await.link("/reset?token=").unwrap());
    assert_ne!(first, second);
    c.call::<()>("reset_password", &[("token", &first), ("password", "a-brand-new-password")]).await.unwrap();
    let dead = c.call::<()>("reset_password", &[("token", &second), ("password", "the-attackers-password")]).await;
    assert!(matches!(dead, Err((400, AppError::Invalid(_)))), "{dead:?}");

    // A link asked for before a password change made while signed in dies with the change, and so does a
    // pending change of email address.
    c.call::<()>("request_password_reset", &[("email", "other@ezscale.test")]).await.unwrap();
    let pending = token_of(&sink.wait_for("other@ezscale.test", 1).await.link("/reset?token=").unwrap());
    let other = app.signed_in("other@ezscale.test", "other-password").await;
    other
        .call::<()>("change_email", &[("current_password", "other-password"), ("new_email", "moved@ezscale.test")])
        .await
        .unwrap();
    let moved = token_of(&sink.wait_for("moved@ezscale.test", 1).await.link("/confirm-email?token=").unwrap());
    other
        .call::<()>(
            "change_password",
            &[("current_password", "other-password"), ("new_password", "other-new-password")],
        )
        .await
        .unwrap();
    let dead = c.call::<()>("reset_password", &[("token", &pending), ("password", "the-attackers-password")]).await;
    assert!(matches!(dead, Err((400, AppError::Invalid(_)))), "{dead:?}");
    let dead = other.call::<()>("confirm_email_change", &[("token", &moved)]).await;
    assert!(matches!(dead, Err((400, AppError::Invalid(_)))), "{dead:?}");
    assert_eq!(me(&other).await.unwrap().email, "other@ezscale.test");
    app.signed_in("other@ezscale.test", "other-new-password").await;
    app.stop().await;
}
on_both_backends!(outstanding_reset_links_die_when_the_password_changes);

async fn accept_invite_checks_the_link_before_hashing_and_is_limited(b: Backend) {
    use app::backend::platform::limits::Role;
    let (app, sink) = spawn_with(b, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app::backend::resellers::lifecycle::create(&app.state, &app.db_url, tenant_admin_input("lim")).await.unwrap();
    let owner = app.client_for("lim.localhost");
    owner.call::<()>("staff_login", &[("email", "owner@lim.test"), ("password", "lim-owner-password")]).await.unwrap();
    owner.call::<()>("invite_staff", &[("email", "col@lim.test"), ("role", "admin")]).await.unwrap();
    let token = token_of(&sink.wait_for("col@lim.test", 1).await.link("/manage/accept?token=").unwrap());

    // A made-up link is answered without hashing the password: far quicker than one hash takes here.
    let flood = client_at(&app, Some("lim.localhost"), "10.1.0.1");
    let made_up = |i: usize| format!("made-up-invitation-{i:04}");
    let args = |t: &str| [("token", t.to_owned()), ("name", "Flood".into()), ("password", "a-long-password-1".into())];
    let mut refused_after = None;
    let mut quick = Vec::new();
    for i in 0..60 {
        let started = Instant::now();
        let res =
            flood.http.post(format!("{}/api/accept_invite", flood.base)).form(&args(&made_up(i))).send().await.unwrap();
        let status = res.status().as_u16();
        if status == 429 {
            assert!(res.headers().get("retry-after").is_some());
            refused_after = Some(i);
            break;
        }
        assert_eq!(status, 400, "attempt {i}");
        if i < 9 {
            quick.push(started.elapsed());
        }
    }
    let mut hashes = Vec::new();
    for _ in 0..9 {
        let started = Instant::now();
        app::backend::identity::auth::hash_password("a-long-password-1".into()).await.unwrap();
        hashes.push(started.elapsed());
    }
    let (quick, hash) = (median(quick), median(hashes));
    eprintln!("accept_invite with a made-up link: median {quick:?}; one password hash: median {hash:?}");
    assert!(quick * 2 < hash, "a made-up link took {quick:?}, a password hash {hash:?}");
    // One address is limited like sign-in (50 attempts per window)...
    assert_eq!(refused_after, Some(50), "the flooding address is refused once over the limit");
    assert_eq!(app.state.login_limits().refusals(Role::Staff), 1);
    assert_eq!(app.state.login_limits().failed_sign_ins(Role::Staff), 50);
    // ... and the real invitee, elsewhere, is not locked out.
    let invitee = client_at(&app, Some("lim.localhost"), "10.1.0.2");
    invitee
        .call::<()>("accept_invite", &[("token", &token), ("name", "Col League"), ("password", "colleague-password")])
        .await
        .unwrap();
    let me: Option<app::manage::model::StaffMe> = invitee.call("staff_me", &[]).await.unwrap();
    assert_eq!(me.map(|m| m.email), Some("col@lim.test".into()));
    app.stop().await;
}
on_both_backends!(accept_invite_checks_the_link_before_hashing_and_is_limited);

async fn one_address_flooding_reset_links_blocks_no_one_else(b: Backend) {
    use app::backend::platform::limits::Role;
    let (app, sink) = spawn_with(b, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let attacker = client_at(&app, None, "10.2.0.1");
    let mut refused_after = None;
    for i in 0..60 {
        let (status, _) = attacker
            .call_raw("reset_password", &[("token", &format!("guess-{i:04}")), ("password", "the-attackers-password")])
            .await;
        if status == 429 {
            refused_after = Some(i);
            break;
        }
        assert_eq!(status, 400, "attempt {i}");
    }
    let refused_after = refused_after.expect("the flooding address is limited");
    let limits = app.state.login_limits();
    assert_eq!((limits.refusals(Role::Customer), limits.failed_sign_ins(Role::Customer)), (1, refused_after as u64));
    // Meanwhile a customer asks for a link from their own address, and uses it.
    let customer = client_at(&app, None, "10.2.0.2");
    customer.call::<()>("request_password_reset", &[("email", "demo@ezscale.test")]).await.unwrap();
    let token = token_of(&sink.wait_for("demo@ezscale.test", 1).await.link("/reset?token=").unwrap());
    customer.call::<()>("reset_password", &[("token", &token), ("password", "a-brand-new-password")]).await.unwrap();
    app.signed_in("demo@ezscale.test", "a-brand-new-password").await;
    // The attacker is still refused.
    let (status, _) =
        attacker.call_raw("reset_password", &[("token", "guess-more"), ("password", "the-attackers-password")]).await;
    assert_eq!(status, 429);
    app.stop().await;
}
on_both_backends!(one_address_flooding_reset_links_blocks_no_one_else);

async fn reset_requests_take_as_long_for_unknown_as_for_known_emails(b: Backend) {
    use app::backend::mail::outbox;
    const TRIES: usize = 200;
    // No SMTP: the known addresses' messages stay in the outbox, where they are counted at the end.
    let app = TestApp::spawn_with(b, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let house = app.state.house().await.unwrap();
    let hash = app::backend::identity::auth::hash_password("not-used-here".into()).await.unwrap();
    for i in 0..TRIES {
        let email = format!("known{i}@ezscale.test");
        app::backend::identity::customers::create_unverified(&house.db, &email, "Known", &hash).await.unwrap().unwrap();
    }
    let http = reqwest::Client::builder().timeout(common::REQUEST_TIMEOUT).build().unwrap();
    let url = format!("{}/api/request_password_reset", app.base);
    // Each request from its own address and for its own email, so no limit is reached.
    let timed = |email: String, ip: String| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let started = Instant::now();
            let res = http.post(url).header("x-forwarded-for", ip).form(&[("email", &email)]).send().await.unwrap();
            let took = started.elapsed();
            assert_eq!(res.status().as_u16(), 200, "{email}");
            took
        }
    };
    for i in 0..10 {
        timed(format!("warm-up{i}@ezscale.test"), format!("10.3.250.{i}")).await;
    }
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..TRIES {
        let ip = |net: u8| format!("10.{net}.{}.{}", i / 250, i % 250);
        let k = (format!("known{i}@ezscale.test"), ip(4));
        let u = (format!("unknown{i}@ezscale.test"), ip(5));
        // Interleaved, each kind going first half the time, so the machine's changing load hits both alike.
        if i % 2 == 0 {
            known.push(timed(k.0, k.1).await);
            unknown.push(timed(u.0, u.1).await);
        } else {
            unknown.push(timed(u.0, u.1).await);
            known.push(timed(k.0, k.1).await);
        }
    }
    let (k, u) = (median(known), median(unknown));
    let gap = k.abs_diff(u);
    eprintln!("reset requests: median {k:?} for known emails, {u:?} for unknown ones ({TRIES} each)");
    assert!(gap < Duration::from_millis(5), "median for known emails {k:?}, for unknown ones {u:?}");
    // The known addresses did get their links (and nobody else got anything).
    let links = common::eventually(Duration::from_secs(30), "a reset link for every known address", || async {
        let rows = outbox::list(app.state.central(), None, 10 * TRIES as i64).await.unwrap();
        let resets: Vec<_> = rows.into_iter().filter(|r| r.kind == "reset").collect();
        (resets.len() >= TRIES).then_some(resets)
    })
    .await;
    assert_eq!(links.len(), TRIES);
    assert!(links.iter().all(|r| r.to_addr.starts_with("known")), "no mail to unknown addresses");
    app.stop().await;
}
on_both_backends!(reset_requests_take_as_long_for_unknown_as_for_known_emails);

async fn an_invitation_for_someone_already_on_the_team_is_refused(b: Backend) {
    let (app, sink) = spawn(b).await;
    app::backend::resellers::lifecycle::create(&app.state, &app.db_url, tenant_admin_input("dup")).await.unwrap();
    let owner = app.client_for("dup.localhost");
    owner.call::<()>("staff_login", &[("email", "owner@dup.test"), ("password", "dup-owner-password")]).await.unwrap();
    // Inviting someone who is on the team already is refused at once.
    let own = owner.call::<()>("invite_staff", &[("email", "Owner@dup.test"), ("role", "admin")]).await;
    assert!(matches!(own, Err((409, AppError::Conflict(_)))), "{own:?}");
    // Two invitations for one colleague, both outstanding; the first is accepted.
    for _ in 0..2 {
        owner.call::<()>("invite_staff", &[("email", "col@dup.test"), ("role", "admin")]).await.unwrap();
    }
    let first = token_of(&sink.wait_for("col@dup.test", 1).await.link("/manage/accept?token=").unwrap());
    let second = token_of(&sink.wait_for("col@dup.test", 2).await.link("/manage/accept?token=").unwrap());
    let col = app.client_for("dup.localhost");
    col.call::<()>("accept_invite", &[("token", &first), ("name", "Col League"), ("password", "first-password-1")])
        .await
        .unwrap();
    // The second would sign its holder in as that member with a password of their choosing: refused.
    let holder = app.client_for("dup.localhost");
    let refused = holder
        .call::<()>("accept_invite", &[("token", &second), ("name", "Imposter"), ("password", "second-password-2")])
        .await;
    match refused {
        Err((409, AppError::Conflict(msg))) => assert!(msg.contains("already has access"), "{msg}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let none: Option<app::manage::model::StaffMe> = holder.call("staff_me", &[]).await.unwrap();
    assert_eq!(none, None, "not signed in");
    // Nothing changed: the member keeps their name and password.
    let with_new = app
        .client_for("dup.localhost")
        .call::<()>("staff_login", &[("email", "col@dup.test"), ("password", "second-password-2")])
        .await;
    assert_eq!(with_new, Err((401, AppError::BadCredentials)));
    let again = app.client_for("dup.localhost");
    again.call::<()>("staff_login", &[("email", "col@dup.test"), ("password", "first-password-1")]).await.unwrap();
    let me: Option<app::manage::model::StaffMe> = again.call("staff_me", &[]).await.unwrap();
    assert_eq!(me.map(|m| m.name), Some("Col League".into()));
    let staff: Vec<app::manage::server::StaffRow> = owner.call("list_staff", &[]).await.unwrap();
    assert_eq!(staff.len(), 2);
    let invited_again = owner.call::<()>("invite_staff", &[("email", "col@dup.test"), ("role", "owner")]).await;
    assert!(matches!(invited_again, Err((409, AppError::Conflict(_)))), "{invited_again:?}");
    app.stop().await;
}
on_both_backends!(an_invitation_for_someone_already_on_the_team_is_refused);

async fn failed_sign_ins_are_counted_and_admin_ones_audited(b: Backend) {
    use app::backend::platform::limits::Role;
    let (app, _sink) = spawn_with(b, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let limits = app.state.login_limits();
    let counts = || Role::ALL.map(|r| (limits.failed_sign_ins(r), limits.refusals(r)));
    assert_eq!(counts(), [(0, 0); 3]);
    // Wrong admin passwords from one address, then junk typed into the email field.
    let intruder = client_at(&app, Some("admin.localhost"), "10.5.0.1");
    let wrong = [("email", "admin@ezscale.test"), ("password", "not-the-password")];
    assert_eq!(intruder.call::<()>("admin_login", &wrong).await, Err((401, AppError::BadCredentials)));
    let junk = [("email", "hunter2-typed-in-the-wrong-box"), ("password", "x")];
    assert_eq!(intruder.call::<()>("admin_login", &junk).await, Err((401, AppError::BadCredentials)));
    assert_eq!(counts(), [(0, 0), (0, 0), (2, 0)]);
    // A customer's and a staff member's failures count under their own roles.
    let c = app.client();
    let bad = c.call::<()>("login", &[("email", "demo@ezscale.test"), ("password", "wrong-password")]).await;
    assert_eq!(bad, Err((401, AppError::BadCredentials)));
    app::backend::resellers::lifecycle::create(&app.state, &app.db_url, tenant_admin_input("cnt")).await.unwrap();
    let staff = app.client_for("cnt.localhost");
    let bad = staff.call::<()>("staff_login", &[("email", "owner@cnt.test"), ("password", "wrong-password")]).await;
    assert_eq!(bad, Err((401, AppError::BadCredentials)));
    assert_eq!(counts(), [(1, 0), (1, 0), (2, 0)]);
    // The real admin signs in meanwhile (from 127.0.0.1).
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    // Guessing on: the account's limit (10 attempts per window, the real sign-in included) refuses the
    // rest, counted as admin refusals.
    let (mut failures, mut refusals) = (1, 0);
    for _ in 0..12 {
        match intruder.call::<()>("admin_login", &wrong).await {
            Err((401, _)) => failures += 1,
            Err((429, AppError::RateLimited { .. })) => refusals += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((failures, refusals), (9, 4));
    assert_eq!(counts(), [(1, 0), (1, 0), (10, 4)]);
    // As a scraper reads them, on the operations listener.
    let (status, metrics) = app.ops_client().get_page("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("ezs_sign_in_failures_total{role=\"admin\"} 10\n"), "{metrics}");
    assert!(metrics.contains("ezs_limiter_refusals_total{role=\"admin\"} 4\n"), "{metrics}");
    // Every failed admin sign-in is in the audit log with the client's address; the junk typed is not.
    let rows: Vec<app::admin::audit::AuditRow> =
        admin.call("admin_audit", &[("tenant", ""), ("action", "admin.sign_in_failed"), ("actor", "")]).await.unwrap();
    assert_eq!(rows.len(), 10, "{rows:?}");
    assert!(rows.iter().all(|r| r.ip.as_deref() == Some("10.5.0.1") && r.actor_kind.as_str() == "admin"), "{rows:?}");
    assert_eq!(rows.iter().filter(|r| r.actor == "admin@ezscale.test").count(), 9);
    assert_eq!(rows.iter().filter(|r| r.actor == "(not an email address)").count(), 1);
    assert!(!rows.iter().any(|r| format!("{r:?}").contains("hunter2")));
    app.stop().await;
}
on_both_backends!(failed_sign_ins_are_counted_and_admin_ones_audited);
