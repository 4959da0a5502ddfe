//! Customer accounts end to end through a real SMTP server started by the test: sign-up and email
//! verification, enumeration-safe answers, password reset (single use, 60 minutes, every session ended),
//! session rotation, idle timeout, "sign out everywhere", re-authentication for password and email
//! changes, rehash on sign-in, limits before hashing, and the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use app::auth::Me;
use app::error::AppError;
use common::smtp::SmtpSink;
use common::{Backend, Client, TestApp};

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
    // Ten requests, ten messages (each token is its own message); the eleventh sent nothing.
    assert_eq!(sink.settled(app.state.central(), "other@ezscale.test").await, 10);
    app.stop().await;
}
on_both_backends!(signup_and_reset_are_limited_before_any_work);

async fn admin_and_reseller_actions_are_audited(b: Backend) {
    let (app, _sink) = spawn(b).await;
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    let _: String = admin
        .call(
            "admin_create_tenant",
            &[
                ("name", "Audit Co"),
                ("slug", "auditco"),
                ("owner_email", "owner@auditco.test"),
                ("owner_password", "auditco-owner-password"),
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
    let staff = app.client_for("auditco.localhost");
    staff
        .call::<()>("staff_login", &[("email", "owner@auditco.test"), ("password", "auditco-owner-password")])
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
    assert_eq!(by_staff.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(), vec!["branding.changed"]);
    // Not visible to anyone else.
    assert_eq!(staff.call_raw("admin_audit", &[("tenant", ""), ("action", ""), ("actor", "")]).await.0, 404);
    app.stop().await;
}
on_both_backends!(admin_and_reseller_actions_are_audited);

async fn staff_are_invited_by_email(b: Backend) {
    let (app, sink) = spawn(b).await;
    let new = tenant_admin_input("inv");
    app::backend::tenant_admin::create(&app.state, &app.db_url, new).await.unwrap();
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
    assert_eq!(me.map(|m| m.role), Some("admin".into()));
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
    let owner_id = staff.iter().find(|s| s.role == "owner").unwrap().id.clone();
    let col_id = staff.iter().find(|s| s.role == "admin").unwrap().id.clone();
    let _: Vec<app::manage::server::StaffRow> = owner.call("remove_staff", &[("id", &col_id)]).await.unwrap();
    let gone: Option<app::manage::model::StaffMe> = colleague.call("staff_me", &[]).await.unwrap();
    assert_eq!(gone, None, "a removed member's sessions end");
    let last = owner.call::<Vec<app::manage::server::StaffRow>>("remove_staff", &[("id", &owner_id)]).await;
    assert!(matches!(last, Err((403, _)) | Err((409, _))), "{last:?}");
    app.stop().await;
}
on_both_backends!(staff_are_invited_by_email);

fn tenant_admin_input(slug: &str) -> app::backend::tenant_admin::NewTenant {
    app::backend::tenant_admin::validate(&app::backend::tenant_admin::NewTenantInput {
        name: format!("{slug} company"),
        slug: slug.into(),
        owner_email: format!("owner@{slug}.test"),
        owner_password: format!("{slug}-owner-password"),
        ..Default::default()
    })
    .unwrap()
}

async fn make_other_tenant(app: &TestApp) {
    app::backend::tenant_admin::create(&app.state, &app.db_url, tenant_admin_input("oth")).await.unwrap();
}

async fn admins_impersonate_with_a_banner_and_an_audit_trail(b: Backend) {
    let (app, _sink) = spawn(b).await;
    app::backend::tenant_admin::create(&app.state, &app.db_url, tenant_admin_input("imp")).await.unwrap();
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

/// Every state-changing endpoint refuses a request a browser marks as cross-site, and one whose Origin is
/// another site — before doing anything.
async fn forged_cross_origin_requests_are_refused_everywhere(b: Backend) {
    let (app, _sink) = spawn(b).await;
    // Every registered server function (read-only ones are POSTs too: checked the same way) and every
    // other POST route, so a new one is covered by itself. The counts catch a list that silently shrinks.
    let mut functions: Vec<&str> = leptos::server_fn::axum::server_fn_paths().map(|(path, _)| path).collect();
    functions.sort_unstable();
    functions.dedup();
    assert_eq!(functions.len(), 70, "registered server functions: {functions:?}");
    assert!(functions.iter().all(|f| f.starts_with("/api/")), "{functions:?}");
    let routes: Vec<String> = server::routes::post_route_paths()
        .into_iter()
        .map(|r| r.replace("{kind}", "logo").replace("{slug}", "house"))
        .collect();
    assert_eq!(routes.len(), 3, "POST routes: {routes:?}");
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
    assert_eq!(refused, 2 * 4 * (70 + 3));
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
    let _: app::workspaces::model::WorkspaceDetail = c.call("stop_workspace", &[("id", &id)]).await.unwrap();
    common::until_state(&c, &id, app::domain::workspace::WorkspaceState::Stopped).await;
    let _: app::workspaces::model::WorkspaceDetail = c.call("start_workspace", &[("id", &id)]).await.unwrap();
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
