//! Multi-tenancy: the tenant lifecycle (resumable creation, suspension, deletion), Host resolution, and
//! the isolation suite — three tenants with canary strings everywhere, every route and server function
//! as every role on every tenant's host, cookies replayed across tenants, logos, themes and jobs.
//! Reported figure: leaks = 0.
#![allow(clippy::print_stderr)]

use std::time::Duration;

use crate::common::{self, eventually, order, Backend, Client, TestApp};
use app::backend::resellers::lifecycle::{self, NewTenantInput};
use app::backend::{identity::auth, identity::customers};
use app::domain::tenant::TenantStatus;
use app::domain::workspace::WorkspaceState;
use app::domain::workspace_view::WorkspaceDetail;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(20);

async fn spawn(b: Backend) -> TestApp {
    TestApp::spawn_with(b, &[("KASM_SIM_LICENSE_CAP", "50")]).await
}

fn input(slug: &str, domain: &str) -> NewTenantInput {
    NewTenantInput {
        name: format!("CANARY-{slug}-company"),
        slug: slug.into(),
        owner_email: format!("owner@{slug}.test"),
        owner_password: Some(format!("{slug}-owner-password")),
        primary_domain: domain.into(),
        ..NewTenantInput::default()
    }
}

async fn make_tenant(app: &TestApp, slug: &str, domain: &str) {
    let new = lifecycle::validate(&input(slug, domain)).unwrap();
    lifecycle::create(&app.state, &app.db_url, new).await.unwrap();
}

async fn add_customer(app: &TestApp, slug: &str) {
    let entry = app.state.registry().entry_by_slug(slug).await.unwrap().unwrap();
    let tenant = app.state.tenant_by_id(entry.id).await.unwrap().unwrap();
    let hash = auth::hash_password(format!("{slug}-customer-password")).await.unwrap();
    let id = customers::ensure(&tenant.db, &format!("customer@{slug}.test"), &format!("CANARY-{slug}-customer"), &hash)
        .await
        .unwrap();
    // Enough prepaid credit to order a workspace.
    let credit = app::domain::money::Money::from_minor(2_000, tenant.currency);
    app::backend::billing::ledger::post(
        &tenant.db,
        id,
        app::backend::billing::ledger::EntryKind::Adjustment,
        credit,
        "test-credit",
        "",
        app::backend::platform::db::now(),
    )
    .await
    .unwrap();
}

fn host(slug: &str) -> String {
    format!("{slug}.localhost")
}

/// Signs in through a server function and returns the session cookie's value.
async fn login_token(c: &Client, function: &str, email: &str, password: &str, cookie: &str) -> String {
    let res = c
        .http
        .post(format!("{}/api/{function}", c.base))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200, "{function} as {email}");
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{cookie}=")).map(|rest| rest.split(';').next().unwrap_or("").to_owned()))
        .expect("session cookie")
}

/// A client on `host` that carries exactly this cookie (a replayed or stolen one).
fn with_cookie(app: &TestApp, host: &str, cookie: &str) -> Client {
    common::with_cookie_on(app, Some(host), cookie)
}

/// Sends raw bytes as an HTTP/1.1 request and returns the status code and the whole answer.
async fn raw(app: &TestApp, request: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

async fn tenant_lifecycle_resumes_after_a_failure_at_every_step(b: Backend) {
    let app = spawn(b).await;
    for (i, step) in ["database", "migrated", "seeded", "branded", "done"].iter().enumerate() {
        let slug = format!("resume-{i}");
        app.state.failpoints().arm(&format!("tenant.create.{step}"), 1);
        let new = lifecycle::validate(&input(&slug, "")).unwrap();
        let err = lifecycle::create(&app.state, &app.db_url, new).await;
        assert!(err.is_err(), "the armed step {step} fails");
        let rec = lifecycle::by_slug(&app.state, &slug).await.unwrap();
        assert_eq!(rec.status, TenantStatus::Failed, "a failed step is visible");
        assert!(rec.last_error.as_deref().is_some_and(|e| e.contains(step)), "{:?}", rec.last_error);
        // Not routed while half-built.
        let c = app.client_for(&host(&slug));
        assert_eq!(c.get_page("/").await.0, 404);
        // Retrying the same creation is refused (the name is taken); resuming finishes it.
        let again = lifecycle::create(&app.state, &app.db_url, lifecycle::validate(&input(&slug, "")).unwrap()).await;
        assert!(matches!(again, Err(app::backend::tenancy::TenantError::Conflict(_))));
        lifecycle::resume(&app.state, &slug).await.unwrap();
        let rec = lifecycle::by_slug(&app.state, &slug).await.unwrap();
        assert_eq!((rec.status, rec.creation_step.as_str()), (TenantStatus::Active, "done"));
        let (status, body) = c.get_page("/").await;
        assert_eq!(status, 200);
        assert!(body.contains(&format!("CANARY-{slug}-company")));
        let cat: app::catalog::CatalogView = c.call("catalog", &[]).await.unwrap();
        assert_eq!(cat.plans.len(), 6, "plans seeded exactly once");
        assert_eq!(database_count(&app, &slug).await, 1, "never a second database on retry");
    }
    app.stop().await;
}
on_both_backends!(tenant_lifecycle_resumes_after_a_failure_at_every_step);

/// How many databases exist for a tenant (PostgreSQL: by name; SQLite: the file).
async fn database_count(app: &TestApp, slug: &str) -> usize {
    let rec = lifecycle::by_slug(&app.state, slug).await;
    if app.db_url.starts_with("sqlite:") {
        let Ok(rec) = rec else { return 0 };
        let path = rec.db_url.trim_start_matches("sqlite://").split('?').next().unwrap().to_owned();
        usize::from(std::path::Path::new(&path).exists())
    } else {
        use sqlx::Connection;
        let central = app.db_url.rsplit('/').next().unwrap().to_owned();
        let mut c = sqlx::PgConnection::connect(common::PG_ADMIN).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
            .bind(format!("{central}_t_{}", slug.replace('-', "_")))
            .fetch_one(&mut c)
            .await
            .unwrap();
        usize::try_from(n).unwrap()
    }
}

async fn suspension_and_deletion(b: Backend) {
    let app = spawn(b).await;
    make_tenant(&app, "sleepy", "").await;
    add_customer(&app, "sleepy").await;
    let c = app.client_for(&host("sleepy"));
    c.call::<()>("login", &[("email", "customer@sleepy.test"), ("password", "sleepy-customer-password")])
        .await
        .unwrap();
    let staff = app.client_for(&host("sleepy"));
    let staff_token =
        login_token(&staff, "staff_login", "owner@sleepy.test", "sleepy-owner-password", "ezs_staff").await;

    lifecycle::suspend(&app.state, "sleepy").await.unwrap();
    let (status, body) = c.get_page("/").await;
    assert_eq!(status, 403);
    assert!(body.contains("currently unavailable"));
    // No logins, no server functions, and the staff session is gone.
    let (status, _) = app
        .client_for(&host("sleepy"))
        .call_raw("login", &[("email", "customer@sleepy.test"), ("password", "sleepy-customer-password")])
        .await;
    assert_eq!(status, 403);
    assert_eq!(c.call_raw("list_workspaces", &[]).await.0, 403);
    lifecycle::unsuspend(&app.state, "sleepy").await.unwrap();
    let replay = with_cookie(&app, &host("sleepy"), &format!("ezs_staff={staff_token}"));
    assert_eq!(replay.call::<Option<app::manage::model::StaffMe>>("staff_me", &[]).await.unwrap(), None);
    assert_eq!(c.get_page("/").await.0, 200);

    assert!(lifecycle::suspend(&app.state, "house").await.is_err(), "the house storefront stays up");
    lifecycle::delete(&app.state, "sleepy").await.unwrap();
    assert_eq!(database_count(&app, "sleepy").await, 0, "the database is dropped");
    assert!(matches!(
        lifecycle::by_slug(&app.state, "sleepy").await,
        Err(app::backend::tenancy::TenantError::NotFound)
    ));
    assert_eq!(c.get_page("/").await.0, 404);
    // The name is free again.
    make_tenant(&app, "sleepy", "").await;
    app.stop().await;
}
on_both_backends!(suspension_and_deletion);

async fn host_header_matrix(b: Backend) {
    let app = spawn(b).await;
    make_tenant(&app, "acme", "shop.acme.test").await;
    make_tenant(&app, "bravo", "").await;
    app::backend::tenancy::domains::verify_domain(
        &app.state,
        "acme",
        "shop.acme.test",
        app::backend::tenancy::domains::VerifyBy::Admin,
    )
    .await
    .unwrap();
    let get = |host_lines: &str| format!("GET / HTTP/1.1\r\n{host_lines}Connection: close\r\n\r\n");
    let acme = "CANARY-acme-company";
    let bravo = "CANARY-bravo-company";
    let cases: Vec<(&str, String, u16, Option<&str>)> = vec![
        ("tenant subdomain", get("Host: acme.localhost\r\n"), 200, Some(acme)),
        ("upper case", get("Host: ACME.LocalHost\r\n"), 200, Some(acme)),
        ("trailing dot", get("Host: acme.localhost.\r\n"), 200, Some(acme)),
        ("any port", get("Host: acme.localhost:9999\r\n"), 200, Some(acme)),
        ("verified custom domain", get("Host: shop.acme.test\r\n"), 200, Some(acme)),
        ("custom domain, other case and port", get("Host: SHOP.acme.test:443\r\n"), 200, Some(acme)),
        ("unknown subdomain", get("Host: nobody.localhost\r\n"), 404, None),
        ("unknown domain", get("Host: evil.example\r\n"), 404, None),
        ("two levels", get("Host: x.acme.localhost\r\n"), 404, None),
        ("IP literal", get("Host: 10.1.2.3\r\n"), 404, None),
        ("IPv6 literal", get("Host: [2001:db8::1]\r\n"), 404, None),
        ("duplicate Host", get("Host: acme.localhost\r\nHost: bravo.localhost\r\n"), 400, None),
        ("userinfo", get("Host: bravo.localhost@acme.localhost\r\n"), 400, None),
        ("bad port", get("Host: acme.localhost:99999\r\n"), 400, None),
        ("empty", get("Host: \r\n"), 400, None),
        ("IDN", get("Host: xn--bcher-kva.localhost\r\n"), 404, None),
        (
            "X-Forwarded-Host from an untrusted peer",
            get("Host: acme.localhost\r\nX-Forwarded-Host: bravo.localhost\r\n"),
            200,
            Some(acme),
        ),
        (
            "Forwarded from an untrusted peer",
            get("Host: acme.localhost\r\nForwarded: host=bravo.localhost\r\n"),
            200,
            Some(acme),
        ),
        ("admin host", get("Host: admin.localhost\r\n"), 303, None),
        ("loopback in development", get("Host: 127.0.0.1\r\n"), 200, Some("EZSCALE")),
    ];
    let mut checked = 0;
    for (what, request, status, contains) in cases {
        let (got, text) = raw(&app, &request).await;
        assert_eq!(got, status, "{what}: {}", text.lines().next().unwrap_or_default());
        if let Some(c) = contains {
            assert!(text.contains(c), "{what}: the page shows {c}");
        }
        assert!(!text.contains(bravo) || contains == Some(bravo), "{what}: another tenant's page");
        checked += 1;
    }
    eprintln!("host matrix: {checked} cases");
    app.stop().await;

    // Behind a configured proxy, its forwarded host is believed.
    let app = TestApp::spawn_with(b, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    make_tenant(&app, "acme", "").await;
    let (status, text) = raw(
        &app,
        "GET / HTTP/1.1\r\nHost: internal:8080\r\nX-Forwarded-Host: acme.localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(text.contains("CANARY-acme-company"));
    let (status, text) = raw(
        &app,
        "GET / HTTP/1.1\r\nHost: internal:8080\r\nForwarded: for=203.0.113.9;host=\"acme.localhost\";proto=https\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 200);
    assert!(text.contains("CANARY-acme-company"));
    app.stop().await;
}
on_both_backends!(host_header_matrix);

async fn tls_ask_and_domain_verification(b: Backend) {
    let app = spawn(b).await;
    make_tenant(&app, "acme", "shop.acme.test").await;
    // The proxy asks on the operations listener.
    let c = app.ops_client();
    let ask = |d: &str| format!("/tls/ask?domain={d}");
    assert_eq!(c.get_page(&ask("shop.acme.test")).await.0, 404, "not verified yet");
    assert_eq!(c.get_page(&ask("evil.example")).await.0, 404);
    assert_eq!(c.get_page("/tls/ask").await.0, 400);
    // The HTTP token is served on that domain only, before verification (that is how it verifies).
    let rec = lifecycle::by_slug(&app.state, "acme").await.unwrap();
    let d = app::backend::tenancy::domains::domains(&app.state, rec.id).await.unwrap().remove(0);
    let path = app::backend::tenancy::domain_ownership::http_token_path(&d.verify_token_id);
    let (status, body) = app.client_for("shop.acme.test").get_page(&path).await;
    assert_eq!((status, body.trim()), (200, d.verify_token.as_str()));
    assert_eq!(app.client_for("acme.localhost").get_page(&path).await.0, 404);
    assert_eq!(app.client_for("shop.acme.test").get_page("/").await.0, 404, "unverified domains are not routed");

    app::backend::tenancy::domains::verify_domain(
        &app.state,
        "acme",
        "shop.acme.test",
        app::backend::tenancy::domains::VerifyBy::Admin,
    )
    .await
    .unwrap();
    assert_eq!(c.get_page(&ask("shop.acme.test")).await.0, 200);
    assert_eq!(c.get_page(&ask("SHOP.ACME.TEST")).await.0, 200);
    assert_eq!(c.get_page(&ask("acme.localhost")).await.0, 200);
    let d = app::backend::tenancy::domains::domains(&app.state, rec.id).await.unwrap().remove(0);
    assert!(d.tls_asked_at.is_some(), "the first yes is recorded as the TLS state");
    lifecycle::suspend(&app.state, "acme").await.unwrap();
    assert_eq!(c.get_page(&ask("shop.acme.test")).await.0, 404, "no certificates for suspended tenants");

    // Domains are unique across tenants.
    make_tenant(&app, "bravo", "").await;
    let taken = app::backend::tenancy::domains::add_domain(&app.state, "bravo", "shop.acme.test", false).await;
    assert!(matches!(taken, Err(app::backend::tenancy::TenantError::Conflict(_))));
    let bad = app::backend::tenancy::domains::add_domain(&app.state, "bravo", "not a domain", false).await;
    assert!(matches!(bad, Err(app::backend::tenancy::TenantError::Invalid(_))));
    app.stop().await;
}
on_both_backends!(tls_ask_and_domain_verification);

/// A valid 1×1 RGBA PNG of one colour, built by hand (stored deflate block, CRC-32, Adler-32), so each
/// tenant can upload a different logo.
pub(crate) fn png_1x1(rgba: [u8; 4]) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            }
        }
        !c
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let raw = [0u8, rgba[0], rgba[1], rgba[2], rgba[3]];
    let (mut a, mut b) = (1u32, 0u32);
    for &x in &raw {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    let mut idat = vec![0x78, 0x01, 0x01, 5, 0, !5u8, 0xff];
    idat.extend_from_slice(&raw);
    idat.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
    chunk(&mut png, b"IDAT", &idat);
    chunk(&mut png, b"IEND", &[]);
    png
}

async fn isolation_suite(b: Backend) {
    let app = spawn(b).await;
    let slugs = ["alpha", "bravo", "charlie"];
    let colours = ["#aa0001", "#bb0002", "#cc0003"];
    let mut workspace_of = std::collections::HashMap::new();
    let mut customer_token = std::collections::HashMap::new();
    let mut staff_token = std::collections::HashMap::new();
    let mut logo_of = std::collections::HashMap::new();
    for (slug, colour) in slugs.iter().zip(colours) {
        make_tenant(&app, slug, "").await;
        add_customer(&app, slug).await;
        let h = host(slug);
        // Staff brand their storefront with canaries in every field.
        let staff = app.client_for(&h);
        let token = login_token(
            &staff,
            "staff_login",
            &format!("owner@{slug}.test"),
            &format!("{slug}-owner-password"),
            "ezs_staff",
        )
        .await;
        staff_token.insert(*slug, token);
        let _: app::manage::model::BrandingForm = staff
            .call(
                "save_branding",
                &[
                    ("company_name", &format!("CANARY-{slug}-brand")),
                    ("primary", colour),
                    ("secondary", "#222222"),
                    ("support_email", &format!("support@canary-{slug}.test")),
                    ("support_phone", "+1 555 0100"),
                    ("from_email", &format!("mail@canary-{slug}.test")),
                    ("from_name", &format!("CANARY-{slug}-mailer")),
                    ("custom_css", &format!(".canary-{slug}{{color:#010203}}")),
                ],
            )
            .await
            .unwrap();
        let png = png_1x1([colour.len() as u8 * 10, slug.len() as u8 * 20, slug.as_bytes()[0], 255]);
        let form =
            reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(png).file_name("logo.png"));
        let res = staff.http.post(format!("{}/manage/branding/logo", staff.base)).multipart(form).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 303, "logo upload redirects back");
        let brand: app::layout::SiteBrand = staff.call("site_brand", &[]).await.unwrap();
        logo_of.insert(*slug, brand.logo_url.clone().expect("logo stored"));
        // A customer orders a workspace, provisioned by a job that carries this tenant.
        let c = app.client_for(&h);
        let token = login_token(
            &c,
            "login",
            &format!("customer@{slug}.test"),
            &format!("{slug}-customer-password"),
            "ezs_session",
        )
        .await;
        customer_token.insert(*slug, token);
        let id = order(&c, "developer-basic").await;
        workspace_of.insert(*slug, id);
    }
    for slug in slugs {
        let c = with_cookie(&app, &host(slug), &format!("ezs_session={}", customer_token[slug]));
        let id = workspace_of[slug].clone();
        eventually(WAIT, "workspace running", || async {
            let d: WorkspaceDetail = c.call("get_workspace", &[("id", &id)]).await.ok()?;
            (d.card.state == WorkspaceState::Running).then_some(())
        })
        .await;
    }
    let admin = app.client_for("admin.localhost");
    let admin_token = login_token(&admin, "admin_login", "admin@ezscale.test", "admin-password", "ezs_admin").await;

    let mut checked = 0usize;
    let mut leaks: Vec<String> = Vec::new();
    let mut check = |host_slug: &str, what: &str, status: u16, body: &str| {
        checked += 1;
        for other in slugs.iter().filter(|o| **o != host_slug) {
            let foreign = [
                format!("CANARY-{other}"),
                format!("canary-{other}"),
                workspace_of[other].clone(),
                logo_of[other].clone(),
                colours[slugs.iter().position(|s| s == other).unwrap()].to_owned(),
            ];
            for f in foreign {
                if body.contains(&f) {
                    leaks.push(format!("{what} on {host_slug} ({status}) shows {f}"));
                }
            }
        }
    };
    let pages = [
        "/",
        "/login",
        "/workspaces",
        "/manage",
        "/manage/login",
        "/manage/branding",
        "/brand/theme.css",
        "/admin",
        "/admin/login",
    ];
    for host_slug in slugs {
        let h = host(host_slug);
        let mut roles: Vec<(String, Client)> = vec![("anonymous".into(), app.client_for(&h))];
        for cookie_of in slugs {
            roles.push((
                format!("customer of {cookie_of}"),
                with_cookie(&app, &h, &format!("ezs_session={}", customer_token[cookie_of])),
            ));
            roles.push((
                format!("staff of {cookie_of}"),
                with_cookie(&app, &h, &format!("ezs_staff={}", staff_token[cookie_of])),
            ));
        }
        roles.push(("platform admin".into(), with_cookie(&app, &h, &format!("ezs_admin={admin_token}"))));
        for (role, c) in &roles {
            for p in pages {
                let (status, body) = c.get_page(p).await;
                check(host_slug, &format!("GET {p} as {role}"), status, &body);
            }
            for ws_slug in slugs {
                let p = format!("/workspaces/{}", workspace_of[ws_slug]);
                let (status, body) = c.get_page(&p).await;
                check(host_slug, &format!("GET {p} as {role}"), status, &body);
                let (status, body) = c.call_raw("get_workspace", &[("id", &workspace_of[ws_slug])]).await;
                check(host_slug, &format!("get_workspace({ws_slug}) as {role}"), status, &body);
                if ws_slug != host_slug {
                    assert_eq!(status / 100, 4, "another tenant's workspace is not found: {role} on {host_slug}");
                    for f in ["stop_workspace", "start_workspace", "terminate_workspace", "retry_workspace"] {
                        let (status, body) = c.call_raw(f, &[("id", &workspace_of[ws_slug])]).await;
                        check(host_slug, &format!("{f}({ws_slug}) as {role}"), status, &body);
                        assert_eq!(status / 100, 4, "{f} on another tenant's workspace: {role} on {host_slug}");
                    }
                }
                let p = format!("/brand/asset/{}", logo_of[ws_slug].trim_start_matches("/brand/asset/"));
                let (status, body) = c.get_page(&p).await;
                check(host_slug, &format!("GET {p} as {role}"), status, &body);
                assert_eq!(status == 200, ws_slug == host_slug, "a logo is served on its own tenant only");
                let (status, body) = c.get_page(&format!("/workspaces/{}/launch", workspace_of[ws_slug])).await;
                check(host_slug, &format!("launch({ws_slug}) as {role}"), status, &body);
            }
            for f in [
                "who_am_i",
                "catalog",
                "list_workspaces",
                "site_brand",
                "staff_me",
                "get_branding",
                "admin_me",
                "admin_tenants",
                "list_staff",
                "admin_mail",
                "admin_dead_letters",
            ] {
                let (status, body) = c.call_raw(f, &[]).await;
                check(host_slug, &format!("{f} as {role}"), status, &body);
            }
            for target in slugs {
                let (status, body) =
                    c.call_raw("admin_audit", &[("tenant", target), ("action", ""), ("actor", "")]).await;
                check(host_slug, &format!("admin_audit({target}) as {role}"), status, &body);
                assert_eq!(status, 404, "the audit log does not exist on storefronts");
                let (status, body) =
                    c.call_raw("admin_impersonate", &[("slug", target), ("target", "owner"), ("email", "")]).await;
                check(host_slug, &format!("admin_impersonate({target}) as {role}"), status, &body);
                assert_eq!(status, 404, "nobody impersonates from a storefront");
            }
            for target in slugs {
                let (status, body) = c.call_raw("admin_tenant", &[("slug", target)]).await;
                check(host_slug, &format!("admin_tenant({target}) as {role}"), status, &body);
                assert_eq!(status, 404, "the admin surface does not exist on storefronts");
            }
            let (status, _) = c.call_raw("admin_suspend_tenant", &[("slug", host_slug)]).await;
            assert_eq!(status, 404);
        }
        // Cookies from another tenant are worthless here.
        for other in slugs.iter().filter(|o| **o != host_slug) {
            let c = with_cookie(&app, &h, &format!("ezs_session={}", customer_token[other]));
            assert_eq!(c.call::<Option<app::auth::Me>>("who_am_i", &[]).await.unwrap(), None);
            assert_eq!(c.call_raw("list_workspaces", &[]).await.0, 401);
            assert_eq!(c.get_page("/events/workspaces").await.0, 401, "no event stream for a foreign cookie");
            let s = with_cookie(&app, &h, &format!("ezs_staff={}", staff_token[other]));
            assert_eq!(s.call::<Option<app::manage::model::StaffMe>>("staff_me", &[]).await.unwrap(), None);
            assert_eq!(s.call_raw("get_branding", &[]).await.0, 401);
            let save = s
                .call_raw(
                    "save_branding",
                    &[
                        ("company_name", "hijacked"),
                        ("primary", "#000000"),
                        ("secondary", "#000000"),
                        ("support_email", ""),
                        ("support_phone", ""),
                        ("from_email", ""),
                        ("from_name", ""),
                        ("custom_css", ""),
                    ],
                )
                .await;
            assert_eq!(save.0, 401);
        }
    }
    // The admin cookie works on the admin host only, and there every tenant is visible.
    let a = with_cookie(&app, "admin.localhost", &format!("ezs_admin={admin_token}"));
    let list: Vec<app::admin::model::TenantSummary> = a.call("admin_tenants", &[]).await.unwrap();
    assert!(slugs.iter().all(|s| list.iter().any(|t| t.slug == *s)));
    // Storefront functions do not exist on the admin host.
    assert_eq!(a.call_raw("catalog", &[]).await.0, 404);
    // Jobs ran against their own tenant: every job's workspace lives in the job's tenant database.
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT tenant_id, payload FROM jobs").fetch_all(app.state.central().pool()).await.unwrap();
    for (tenant_id, payload) in rows {
        let owner = slugs.iter().find(|s| payload.contains(&workspace_of[**s]));
        if let Some(owner) = owner {
            let entry = app.state.registry().entry_by_slug(owner).await.unwrap().unwrap();
            checked += 1;
            if entry.id.to_string() != tenant_id {
                leaks.push(format!("job for {owner}'s workspace carries tenant {tenant_id}"));
            }
        }
    }
    // Each tenant's database holds only its own customer.
    for slug in slugs {
        let entry = app.state.registry().entry_by_slug(slug).await.unwrap().unwrap();
        let t = app.state.tenant_by_id(entry.id).await.unwrap().unwrap();
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM customers").fetch_all(t.db.pool()).await.unwrap();
        checked += 1;
        if names != vec![format!("CANARY-{slug}-customer")] {
            leaks.push(format!("{slug}'s database holds {names:?}"));
        }
    }
    eprintln!(
        "isolation suite: {checked} responses and rows checked across {} tenants, leaks = {}",
        slugs.len(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "leaks: {leaks:#?}");
    // Tidy up the sessions (the simulator is shared by nothing else, but keep it clean).
    for slug in slugs {
        let c = with_cookie(&app, &host(slug), &format!("ezs_session={}", customer_token[slug]));
        let _ = c.call_raw("terminate_workspace", &[("id", &workspace_of[slug])]).await;
    }
    app.stop().await;
}
on_both_backends!(isolation_suite);

async fn branding_is_checked_and_sanitised(b: Backend) {
    let app = spawn(b).await;
    make_tenant(&app, "acme", "").await;
    make_tenant(&app, "bravo", "").await;
    let staff = app.client_for(&host("acme"));
    login_token(&staff, "staff_login", "owner@acme.test", "acme-owner-password", "ezs_staff").await;
    let fields = |primary: &'static str, css: &'static str| {
        vec![
            ("company_name", "Acme"),
            ("primary", primary),
            ("secondary", "#ffffff"),
            ("support_email", ""),
            ("support_phone", ""),
            ("from_email", ""),
            ("from_name", ""),
            ("custom_css", css),
        ]
    };
    let before = app.client_for(&host("acme")).get_page("/brand/theme.css").await.1;
    for bad in ["red", "#12345", "#gggggg", "rgb(1,2,3)", "#1234567", "</style>"] {
        let (status, _) = staff.call_raw("save_branding", &fields(bad, "")).await;
        assert_eq!(status, 400, "{bad}");
    }
    assert_eq!(app.client_for(&host("acme")).get_page("/brand/theme.css").await.1, before, "nothing changed");
    let saved: app::manage::model::BrandingForm = staff
        .call(
            "save_branding",
            &fields("#123abc", "</style><script>alert(1)</script>.x{color:red;background:url(//evil)}"),
        )
        .await
        .unwrap();
    assert_eq!(saved.primary, "#123abc");
    let (_, css) = app.client_for(&host("acme")).get_page("/brand/theme.css").await;
    assert!(css.contains("--brand-primary:#123abc"));
    for forbidden in ["</style", "<script", "url(", "evil"] {
        assert!(!css.to_lowercase().contains(forbidden), "{forbidden} in {css}");
    }
    let (_, page) = app.client_for(&host("acme")).get_page("/").await;
    assert!(page.contains("--brand-primary:#123abc"), "inlined on first paint");
    let (_, other) = app.client_for(&host("bravo")).get_page("/").await;
    assert!(!other.contains("#123abc"), "no other tenant changes");
    // ETag: unchanged theme answers 304.
    let res = app
        .client_for(&host("acme"))
        .http
        .get(format!("http://acme.localhost:{}/brand/theme.css", app.addr.port()))
        .send()
        .await
        .unwrap();
    let etag = res.headers().get("etag").unwrap().to_str().unwrap().to_owned();
    let (status, _) = app.client_for(&host("acme")).get_with("/brand/theme.css", &[("if-none-match", &etag)]).await;
    assert_eq!(status, 304);
    // Uploads: SVG and junk are refused with a message; nothing is stored.
    for (name, bytes) in
        [("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec()), ("x.png", b"not an image".to_vec())]
    {
        let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name(name));
        let res = staff.http.post(format!("{}/manage/branding/logo", staff.base)).multipart(form).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 400, "{name}");
    }
    let brand: app::layout::SiteBrand = staff.call("site_brand", &[]).await.unwrap();
    assert_eq!(brand.logo_url, None);
    app.stop().await;
}
on_both_backends!(branding_is_checked_and_sanitised);

/// Issue 17, item 6 through the real HTTP path: a designer's everyday CSS is saved and served; a 1 MiB
/// stylesheet is refused with the CSS limit in the message (never a 5xx), a body over the server
/// functions' limit with that limit; the preview answers the same CSS scoped to the preview element.
async fn custom_css_for_designers_over_http(b: Backend) {
    let app = spawn(b).await;
    make_tenant(&app, "acme", "").await;
    let staff = app.client_for(&host("acme"));
    login_token(&staff, "staff_login", "owner@acme.test", "acme-owner-password", "ezs_staff").await;
    let save = |css: String| {
        let staff = &staff;
        async move {
            let fields = [
                ("company_name", "Acme"),
                ("primary", "#123abc"),
                ("secondary", "#ffffff"),
                ("support_email", ""),
                ("support_phone", ""),
                ("from_email", ""),
                ("from_name", ""),
                ("custom_css", css.as_str()),
            ];
            staff.call_raw("save_branding", &fields).await
        }
    };
    let designer = ":root { --brand: #0a84ff }\n\
        @media (prefers-color-scheme: dark) { :root { --brand: #64d2ff } }\n\
        .nav > a::after { content: \"›\"; transition: transform .2s ease-out }\n\
        .btn { background: linear-gradient(90deg, var(--brand), transparent); animation: pop 1s both }\n\
        @keyframes pop { from { transform: scale(.9) } to { transform: scale(1) } }\n\
        @supports (backdrop-filter: blur(4px)) { .bar { backdrop-filter: blur(4px) } }\n\
        @layer base { .card { margin-inline: auto } }\n\
        .x { background: url(//evil.example/leak) }";
    let (status, body) = save(designer.to_owned()).await;
    assert_eq!(status, 200, "{body}");
    let (_, theme) = app.client_for(&host("acme")).get_page("/brand/theme.css").await;
    for kept in [
        ":root{--brand:#0a84ff;}",
        "@media (prefers-color-scheme:dark){:root{--brand:#64d2ff;}}",
        ".nav > a::after{content:\"\\203a \";transition:transform 0.2s ease-out;}",
        "background:linear-gradient(90deg,var(--brand),transparent);animation:pop 1s both;",
        "@keyframes pop{from{transform:scale(0.9);}",
        "@supports (backdrop-filter:blur(4px))",
        "@layer base{.card{margin-inline:auto;}}",
    ] {
        assert!(theme.contains(kept), "{kept} missing from {theme}");
    }
    assert!(!theme.contains("url(") && !theme.contains("evil"), "{theme}");

    // A 1 MiB stylesheet: 400 with the limit, quickly, and nothing changes.
    let megabyte = ".a{color:red}".repeat(1024 * 1024 / 13 + 1);
    let (status, body) = save(megabyte.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("at most 128 KB (131072 bytes)"), "{body}");
    let (_, after) = app.client_for(&host("acme")).get_page("/brand/theme.css").await;
    assert_eq!(after, theme, "a refused save changes nothing");
    // Over the server functions' own limit: 413 naming it, not a 5xx.
    let (status, body) = save("/*".to_owned() + &"x".repeat(5 * 1024 * 1024) + "*/").await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("at most 4 MB (4194304 bytes)"), "{body}");

    // The live preview: the same sanitiser, every rule under the preview's element.
    let scoped: String = staff.call("preview_custom_css", &[("custom_css", designer)]).await.unwrap();
    assert!(scoped.contains(".ezs-brand-preview{--brand:#0a84ff;}"), "{scoped}");
    assert!(scoped.contains(".ezs-brand-preview .nav > a::after"), "{scoped}");
    assert!(!scoped.contains("url("), "{scoped}");
    let (status, body) = staff.call_raw("preview_custom_css", &[("custom_css", &megabyte)]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("at most 128 KB"), "{body}");
    // Staff only.
    let (status, _) = app.client_for(&host("acme")).call_raw("preview_custom_css", &[("custom_css", ".a{}")]).await;
    assert_eq!(status, 401);
    app.stop().await;
}
on_both_backends!(custom_css_for_designers_over_http);

async fn the_pool_registry_is_bounded(b: Backend) {
    let app = TestApp::spawn_with(b, &[("TENANT_POOL_CAP", "2")]).await;
    for s in ["one-t", "two-t", "three-t"] {
        make_tenant(&app, s, "").await;
    }
    for _ in 0..2 {
        for s in ["one-t", "two-t", "three-t", "house"] {
            let c = app.client_for(&host(s));
            let cat: app::catalog::CatalogView = c.call("catalog", &[]).await.unwrap();
            assert_eq!(cat.plans.len(), 6);
            assert!(app.state.registry().open_pools() <= 2, "at most the cap of pools stays open");
        }
    }
    app.stop().await;
}
on_both_backends!(the_pool_registry_is_bounded);

async fn migrate_all_continues_past_failures(b: Backend) {
    let app = spawn(b).await;
    for s in ["mig-a", "mig-b", "mig-c"] {
        make_tenant(&app, s, "").await;
    }
    let failed = server::tenants_cli::migrate_all(&app.state, 2).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    // Point one tenant at a database that cannot be opened: it is reported, the others still migrate.
    let broken = if app.db_url.starts_with("sqlite:") {
        "sqlite:///proc/definitely/not/here.db".to_owned()
    } else {
        "postgres://postgres@127.0.0.1:1/nowhere".to_owned()
    };
    sqlx::query("UPDATE tenants SET db_url = $1 WHERE slug = 'mig-b'")
        .bind(&broken)
        .execute(app.state.central().pool())
        .await
        .unwrap();
    let failed = server::tenants_cli::migrate_all(&app.state, 2).await.unwrap();
    assert_eq!(failed.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), vec!["mig-b"]);
    app.stop().await;
}
on_both_backends!(migrate_all_continues_past_failures);

async fn the_admin_app_manages_tenants(b: Backend) {
    use app::admin::model::{TenantDetail, TenantSummary};
    let app = spawn(b).await;
    let admin = app.client_for("admin.localhost");
    // Signed out: nothing but a sign-in.
    assert_eq!(admin.call_raw("admin_tenants", &[]).await.0, 401);
    let bad = admin.call_raw("admin_login", &[("email", "admin@ezscale.test"), ("password", "wrong")]).await;
    assert_eq!(bad.0, 401);
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();

    let create = |slug: &'static str, domain: &'static str| {
        vec![
            ("name", "Zeta Hosting"),
            ("slug", slug),
            ("owner_email", "owner@zeta.test"),
            ("primary_domain", domain),
            ("currency", "EUR"),
            ("trial_days", "14"),
        ]
    };
    // Bad input is refused with a reason and creates nothing.
    for (slug, domain) in [("Zeta!", ""), ("admin", ""), ("zeta", "not a domain"), ("zeta", "10.0.0.1")] {
        let (status, body) = admin.call_raw("admin_create_tenant", &create(slug, domain)).await;
        assert_eq!(status, 400, "{slug} {domain}: {body}");
    }
    let list: Vec<TenantSummary> = admin.call("admin_tenants", &[]).await.unwrap();
    assert_eq!(list.len(), 1, "only the house");
    let slug: String = admin.call("admin_create_tenant", &create("zeta", "shop.zeta.test")).await.unwrap();
    assert_eq!(slug, "zeta");
    let (status, _) = admin.call_raw("admin_create_tenant", &create("zeta", "")).await;
    assert_eq!(status, 409, "the slug is taken");
    let (status, _) = admin.call_raw("admin_create_tenant", &create("zeta-two", "shop.zeta.test")).await;
    assert_eq!(status, 409, "the domain is taken");
    assert!(lifecycle::by_slug(&app.state, "zeta-two").await.is_err(), "a refused creation leaves nothing");

    let d: TenantDetail = admin.call("admin_tenant", &[("slug", "zeta")]).await.unwrap();
    assert_eq!((d.status, d.currency.as_str(), d.customers), (TenantStatus::Active, "EUR", Some(0)));
    assert!(d.trial_ends_at.is_some());
    assert_eq!(d.domains.len(), 1);
    assert!(!d.domains[0].verified && d.domains[0].tls.as_str() == "pending");

    // Billing terms: checked, stored exactly, shown back.
    let terms = |discount: &'static str, day: &'static str| {
        vec![
            ("slug", "zeta"),
            ("tier", "gold"),
            ("discount_percent", discount),
            ("platform_fee", "49.50"),
            ("commission_percent", "2.5"),
            ("billing_cycle_day", day),
        ]
    };
    for (discount, day) in [("101", "1"), ("10", "29"), ("abc", "1"), ("10", "0")] {
        assert_eq!(admin.call_raw("admin_update_terms", &terms(discount, day)).await.0, 400);
    }
    let d: TenantDetail = admin.call("admin_update_terms", &terms("12.5", "28")).await.unwrap();
    assert_eq!(
        (d.terms.wholesale_discount_bp, d.terms.platform_fee_minor, d.terms.commission_bp, d.terms.billing_cycle_day),
        (1250, 4950, 250, 28)
    );
    assert_eq!((d.discount_percent.as_str(), d.platform_fee.as_str()), ("12.50", "49.50"));

    // Domains and verification through the admin app.
    let d: TenantDetail = admin
        .call("admin_add_domain", &[("slug", "zeta"), ("domain", "Desk.Zeta.Test"), ("primary", "on")])
        .await
        .unwrap();
    assert!(d.domains.iter().any(|x| x.domain == "desk.zeta.test" && x.primary));
    assert_eq!(
        admin
            .call_raw("admin_verify_domain", &[("slug", "zeta"), ("domain", "desk.zeta.test"), ("method", "x")])
            .await
            .0,
        400
    );
    let d: TenantDetail = admin
        .call("admin_verify_domain", &[("slug", "zeta"), ("domain", "desk.zeta.test"), ("method", "admin")])
        .await
        .unwrap();
    assert!(d.domains.iter().any(|x| x.domain == "desk.zeta.test" && x.verified));
    assert_eq!(app.client_for("desk.zeta.test").get_page("/").await.0, 200);
    let d: TenantDetail =
        admin.call("admin_remove_domain", &[("slug", "zeta"), ("domain", "desk.zeta.test")]).await.unwrap();
    assert!(d.domains.iter().all(|x| x.domain != "desk.zeta.test"));
    assert_eq!(app.client_for("desk.zeta.test").get_page("/").await.0, 404, "a removed domain stops routing");

    // Suspend, resume, delete (with confirmation).
    let d: TenantDetail = admin.call("admin_suspend_tenant", &[("slug", "zeta")]).await.unwrap();
    assert_eq!(d.status, TenantStatus::Suspended);
    let d: TenantDetail = admin.call("admin_unsuspend_tenant", &[("slug", "zeta")]).await.unwrap();
    assert_eq!(d.status, TenantStatus::Active);
    assert_eq!(admin.call_raw("admin_delete_tenant", &[("slug", "zeta"), ("confirm", "nope")]).await.0, 400);
    assert_eq!(admin.call_raw("admin_delete_tenant", &[("slug", "house"), ("confirm", "house")]).await.0, 409);
    admin.call::<()>("admin_delete_tenant", &[("slug", "zeta"), ("confirm", "zeta")]).await.unwrap();
    assert_eq!(admin.call_raw("admin_tenant", &[("slug", "zeta")]).await.0, 404);
    // Signing out ends the session.
    admin.call::<()>("admin_logout", &[]).await.unwrap();
    assert_eq!(admin.call_raw("admin_tenants", &[]).await.0, 401);
    app.stop().await;
}
on_both_backends!(the_admin_app_manages_tenants);

/// Many tenants used for the first time at once, with far fewer pools allowed than tenants: pools are
/// opened, migrated and evicted while other requests still use them. Every request must answer, correctly
/// and quickly (the 30 s client timeout is not the bound: 5 s is).
async fn cold_tenants_under_pool_pressure_all_answer_quickly(b: Backend) {
    const TENANTS: usize = 24;
    const ROUNDS: usize = 3;
    let app = TestApp::spawn_with(b, &[("TENANT_POOL_CAP", "4")]).await;
    let slugs: Vec<String> = (0..TENANTS).map(|i| format!("cold-{i:02}")).collect();
    for chunk in slugs.chunks(4) {
        futures::future::join_all(chunk.iter().map(|s| make_tenant(&app, s, ""))).await;
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(TENANTS * 2));
    let mut tasks = tokio::task::JoinSet::new();
    for slug in &slugs {
        for who in 0..2 {
            let c = app.client_for(&host(slug));
            let slug = slug.clone();
            let start = start.clone();
            tasks.spawn(async move {
                start.wait().await;
                let mut seen = Vec::new();
                for round in 0..ROUNDS {
                    let t = std::time::Instant::now();
                    let (what, ok) = if (round + who) % 2 == 0 {
                        let res = c.http.get(format!("{}/", c.base)).send().await;
                        let answer = match res {
                            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                            Err(e) => (0, e.to_string()),
                        };
                        let ok = answer.0 == 200 && answer.1.contains(&format!("CANARY-{slug}-company"));
                        ("GET /", if ok { None } else { Some(answer) })
                    } else {
                        let res = c.http.post(format!("{}/api/catalog", c.base)).send().await;
                        let answer = match res {
                            Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                            Err(e) => (0, e.to_string()),
                        };
                        let ok = answer.0 == 200
                            && serde_json::from_str::<app::catalog::CatalogView>(&answer.1)
                                .is_ok_and(|cat| cat.plans.len() == 6);
                        ("catalog", if ok { None } else { Some(answer) })
                    };
                    seen.push((format!("{what} on {slug}"), ok, t.elapsed()));
                }
                seen
            });
        }
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.unwrap());
    }
    let failed: Vec<_> = all
        .iter()
        .filter_map(|(w, bad, d)| {
            bad.as_ref().map(|(status, body)| {
                format!("{w} after {d:?}: {status} {}", body.chars().take(200).collect::<String>())
            })
        })
        .collect();
    for (w, _, d) in &all {
        if *d > Duration::from_secs(1) {
            eprintln!("slow: {w} took {d:?}");
        }
    }
    let slowest = all.iter().map(|(_, _, d)| *d).max().unwrap();
    let mut sorted: Vec<_> = all.iter().map(|(_, _, d)| *d).collect();
    sorted.sort();
    eprintln!(
        "cold tenants: {} requests over {TENANTS} tenants with 4 pools: p50 {:?}, p100 {slowest:?}, failed {}",
        all.len(),
        sorted[sorted.len() / 2],
        failed.len()
    );
    assert!(failed.is_empty(), "requests without a correct answer: {failed:#?}");
    assert!(slowest < Duration::from_secs(5), "the slowest answer took {slowest:?}");
    assert!(app.state.registry().open_pools() <= 4);
    app.stop().await;
}
on_both_backends!(cold_tenants_under_pool_pressure_all_answer_quickly);

/// A tenant cannot claim a platform name (another storefront's `<slug>.<platform>`, the apex, the admin
/// host, anything under them) as its own domain, whichever tenant exists first; and a row that slipped
/// into the database anyway does not route, because platform names are resolved before custom domains.
async fn platform_names_cannot_be_taken_over(b: Backend) {
    let app = spawn(b).await;
    let platform = ["acme.localhost", "localhost", "admin.localhost", "ADMIN.localhost.", "deep.acme.localhost"];
    // The victim exists first.
    make_tenant(&app, "acme", "").await;
    for name in platform.iter().chain(&["later.localhost"]) {
        let new = lifecycle::validate(&input("evil", name));
        let refused = match new {
            Ok(new) => lifecycle::create(&app.state, &app.db_url, new).await.map(|_| ()),
            Err(e) => Err(e),
        };
        assert!(matches!(refused, Err(app::backend::tenancy::TenantError::Invalid(_))), "{name}: {refused:?}");
        assert!(matches!(
            lifecycle::by_slug(&app.state, "evil").await,
            Err(app::backend::tenancy::TenantError::NotFound)
        ));
    }
    // Through the admin app: a 400 with the reason, nothing created.
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    let (status, body) = admin
        .call_raw(
            "admin_create_tenant",
            &[
                ("name", "Evil"),
                ("slug", "evil"),
                ("owner_email", "owner@evil.test"),
                ("primary_domain", "acme.localhost"),
                ("currency", "USD"),
                ("trial_days", ""),
            ],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("belongs to the platform"), "{body}");
    // Adding one later is refused the same way, before or after the victim exists.
    make_tenant(&app, "evil", "").await;
    for name in platform.iter().chain(&["later.localhost"]) {
        let r = app::backend::tenancy::domains::add_domain(&app.state, "evil", name, true).await;
        assert!(matches!(r, Err(app::backend::tenancy::TenantError::Invalid(_))), "{name}: {r:?}");
        let (status, _) =
            admin.call_raw("admin_add_domain", &[("slug", "evil"), ("domain", name), ("primary", "on")]).await;
        assert_eq!(status, 400, "{name}");
    }
    let evil = lifecycle::by_slug(&app.state, "evil").await.unwrap();
    assert!(app::backend::tenancy::domains::domains(&app.state, evil.id).await.unwrap().is_empty(), "nothing stored");

    // Rows slipped into the database directly (verified, for the evil tenant) still cannot shadow: the
    // victim that exists already, and one created after the row.
    for name in ["acme.localhost", "localhost", "admin.localhost", "deep.acme.localhost", "later.localhost"] {
        sqlx::query(
            "INSERT INTO tenant_domains (domain, tenant_id, kind, verify_token_id, verify_token, created_at, \
             verified_at, verified_by) VALUES ($1, $2, 'alias', $3, 'x', 0, 0, 'admin')",
        )
        .bind(name)
        .bind(evil.id.to_string())
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .execute(app.state.central().pool())
        .await
        .unwrap();
    }
    sqlx::query("UPDATE registry_version SET version = version + 1 WHERE id = 1")
        .execute(app.state.central().pool())
        .await
        .unwrap();
    app.state.registry().invalidate();
    make_tenant(&app, "later", "").await;
    let page = |host: &'static str| {
        let c = app.client_for(host);
        async move { c.get_page("/").await }
    };
    for (host, company) in [("acme.localhost", "CANARY-acme-company"), ("later.localhost", "CANARY-later-company")] {
        let (status, body) = page(host).await;
        assert_eq!(status, 200, "{host}");
        assert!(body.contains(company), "{host} shows its own storefront");
        assert!(!body.contains("CANARY-evil"), "{host} is not the evil storefront");
    }
    let (status, body) = page("localhost").await;
    assert_eq!(status, 200);
    assert!(body.contains("EZSCALE") && !body.contains("CANARY-evil"), "the apex stays the house storefront");
    assert_eq!(page("admin.localhost").await.0, 303, "the admin host stays the admin app");
    assert_eq!(page("deep.acme.localhost").await.0, 404, "names under the platform domain are never custom");
    app.stop().await;
}
on_both_backends!(platform_names_cannot_be_taken_over);
