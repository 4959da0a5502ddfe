//! Security events leave a trace: every mutating call made while a platform admin acts as a customer or a
//! reseller's staff is in the audit log under both names (walked from the registered server functions and
//! POST routes, so a new one is covered by itself); every request is logged once with its route, status,
//! latency, tenant and request id (never bodies, cookies or tokens); and an `http://` Origin is not the
//! origin of an `https://` site.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use crate::common::{self, Backend, Client, TestApp};
use app::backend::platform::audit::{self, Filter, IMPERSONATED_CALL, READ_ONLY_FUNCTIONS};

/// How many server functions the app registers, and how many POST routes it has besides them. A change
/// to either is deliberate: update the figure (and `READ_ONLY_FUNCTIONS` if the new function only reads).
pub(crate) const REGISTERED_FUNCTIONS: usize = 109;
pub(crate) const POST_ROUTES: usize = 4;

const ADMIN: &str = "admin@ezscale.test";
const CUSTOMER: &str = "customer@acme.test";
const OWNER: &str = "owner@acme.test";

/// Every registered server function's name (`/api/<name>`), sorted.
fn registered_functions() -> Vec<String> {
    let mut names: Vec<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.strip_prefix("/api/").unwrap_or_else(|| panic!("{path} outside /api/")).to_owned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A concrete path for a route pattern (`/manage/branding/{kind}` → `/manage/branding/logo`).
fn concrete(route: &str) -> String {
    route.replace("{kind}", "logo").replace("{slug}", "acme").replace("{id}", "x")
}

#[derive(Clone, Copy, Debug)]
enum As {
    Customer,
    Owner,
}

impl As {
    fn target(self) -> (&'static str, &'static str) {
        match self {
            As::Customer => ("customer", CUSTOMER),
            As::Owner => ("owner", ""),
        }
    }

    fn detail(self, call: &str) -> String {
        match self {
            As::Customer => format!("{call} as customer {CUSTOMER}"),
            As::Owner => format!("{call} as staff {OWNER}"),
        }
    }
}

/// A fresh impersonation session on the demo reseller's host, opened the way the admin app does it
/// (a single-use handle redeemed on the tenant's host).
async fn impersonating(app: &TestApp, admin: &Client, who: As) -> Client {
    let (target, email) = who.target();
    let url: String =
        admin.call("admin_impersonate", &[("slug", "acme"), ("target", target), ("email", email)]).await.unwrap();
    let token = url.split("token=").nth(1).unwrap().to_owned();
    let c = app.client_for("acme.localhost");
    let _: String = c.call("redeem_impersonation", &[("token", &token)]).await.unwrap();
    c
}

/// A valid 1×1 PNG (a stored deflate block), for the logo upload.
fn png_1x1() -> Vec<u8> {
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
    let raw = [0u8, 10, 20, 30, 255];
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

async fn post_route(c: &Client, route: &str) -> u16 {
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(png_1x1()).file_name("logo.png"));
    let res = c.http.post(format!("{}{}", c.base, concrete(route))).multipart(form).send().await.unwrap();
    res.status().as_u16()
}

async fn impersonated_calls(app: &TestApp) -> Vec<audit::Entry> {
    let acme = app.state.registry().entry_by_slug("acme").await.unwrap().unwrap();
    let filter = Filter { tenant: Some(acme.id), action: IMPERSONATED_CALL.into(), actor: ADMIN.into() };
    audit::list(app.state.central(), &filter, 1000).await.unwrap()
}

async fn every_mutating_call_under_impersonation_is_audited_with_both_names(b: Backend) {
    let app = TestApp::spawn_with(b, &[("DEMO_RESELLER", "true")]).await;
    let functions = registered_functions();
    assert_eq!(functions.len(), REGISTERED_FUNCTIONS, "registered server functions: {functions:?}");
    for name in READ_ONLY_FUNCTIONS {
        assert!(functions.iter().any(|f| f == name), "{name} is listed as read-only but is not registered");
    }
    let mutating: Vec<&String> = functions.iter().filter(|f| !READ_ONLY_FUNCTIONS.contains(&f.as_str())).collect();
    assert_eq!(mutating.len(), REGISTERED_FUNCTIONS - READ_ONLY_FUNCTIONS.len());
    let routes = server::routes::post_route_paths();
    assert_eq!(routes.len(), POST_ROUTES, "{routes:?}");

    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", ADMIN), ("password", "admin-password")]).await.unwrap();

    // First the actions that used to go unrecorded, done for real (each must succeed).
    let c = impersonating(&app, &admin, As::Customer).await;
    let _: app::auth::Me = c.call("update_profile", &[("name", "Renamed By Support")]).await.unwrap();
    let _: String = c.call("start_top_up", &[("amount", "20")]).await.unwrap();
    let _: bool = c.call("remove_card", &[]).await.unwrap();
    let _: u64 = c.call("logout_everywhere", &[]).await.unwrap();
    let owner = impersonating(&app, &admin, As::Owner).await;
    owner.call::<()>("set_plan_price", &[("code", "developer-basic"), ("retail", "9.50")]).await.unwrap();
    owner
        .call::<()>("save_stripe_keys", &[("secret_key", "sk_live_abc"), ("webhook_secret", "whsec_abc")])
        .await
        .unwrap();
    assert_eq!(post_route(&owner, "/manage/branding/{kind}").await, 303, "the logo is stored");
    let _: u64 = owner.call("staff_logout_everywhere", &[]).await.unwrap();
    let mut expected = vec![
        As::Customer.detail("update_profile"),
        As::Customer.detail("start_top_up"),
        As::Customer.detail("remove_card"),
        As::Customer.detail("logout_everywhere"),
        As::Owner.detail("set_plan_price"),
        As::Owner.detail("save_stripe_keys"),
        As::Owner.detail("/manage/branding/{kind}"),
        As::Owner.detail("staff_logout_everywhere"),
    ];

    // Then every registered function and POST route, each from a fresh impersonation session (a call may
    // end the session), as each kind of impersonation. Whatever the answer (most refuse these empty
    // calls), a mutating call is recorded, before it runs; a read is not.
    for who in [As::Customer, As::Owner] {
        for f in &functions {
            let c = impersonating(&app, &admin, who).await;
            let (status, body) = c.call_raw(f, &[]).await;
            assert!(status < 500, "{f} as {who:?}: {status} {body}");
            if mutating.contains(&f) {
                expected.push(who.detail(f));
            }
        }
        for route in &routes {
            let c = impersonating(&app, &admin, who).await;
            let status = post_route(&c, route).await;
            assert!(status < 500, "{route} as {who:?}: {status}");
            expected.push(who.detail(route));
        }
    }

    let rows = impersonated_calls(&app).await;
    assert!(rows.iter().all(|r| r.actor_kind.as_str() == "admin" && r.ip.is_some()), "{rows:?}");
    let mut found: Vec<String> = rows.into_iter().map(|r| r.detail).collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
    let distinct: BTreeSet<&String> = expected.iter().collect();
    assert_eq!(distinct.len(), 2 * (mutating.len() + POST_ROUTES), "every mutating call, once per kind");

    // What the calls did carries the admin too.
    let acme = app.state.registry().entry_by_slug("acme").await.unwrap().unwrap();
    // (The logo was uploaded twice: once above, once by the walk.)
    for (action, times) in [("plan.repriced", 1), ("stripe.keys_saved", 1), ("branding.logo_changed", 2)] {
        let filter = Filter { tenant: Some(acme.id), action: action.into(), actor: String::new() };
        let rows = audit::list(app.state.central(), &filter, 10).await.unwrap();
        assert_eq!(rows.len(), times, "{action}: {rows:?}");
        for r in rows {
            assert_eq!(r.actor, OWNER);
            assert!(r.detail.contains(&format!("(by admin {ADMIN})")), "{action}: {r:?}");
        }
    }

    // Without impersonation, the same calls leave no such rows.
    let before = impersonated_calls(&app).await.len();
    let own = app.client_for("acme.localhost");
    own.call::<()>("login", &[("email", CUSTOMER), ("password", "customer-password")]).await.unwrap();
    let _: app::auth::Me = own.call("update_profile", &[("name", "Acme Customer")]).await.unwrap();
    assert_eq!(impersonated_calls(&app).await.len(), before);
    app.stop().await;
}
on_both_backends!(every_mutating_call_under_impersonation_is_audited_with_both_names);

/// POSTs a (failing) sign-in with this Origin and extra headers; the status says whether the origin
/// check let it through (401: wrong password) or refused it (403).
async fn sign_in_from(app: &TestApp, origin: &str, extra: &[(&str, &str)]) -> u16 {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/login", app.base))
        .header("origin", origin)
        .form(&[("email", "demo@ezscale.test"), ("password", "not-the-password")]);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_origin_is_refused_on_an_https_site() {
    // Production serves behind HTTPS (Secure cookies): the page that posts must be https too.
    let app = TestApp::spawn_with(Backend::Sqlite, &[("SECURE_COOKIES", "true")]).await;
    let host = app.base.trim_start_matches("http://").to_owned();
    assert_eq!(sign_in_from(&app, &format!("http://{host}"), &[]).await, 403);
    assert_eq!(sign_in_from(&app, &format!("https://{host}"), &[]).await, 401);
    assert_eq!(sign_in_from(&app, "https://evil.test", &[]).await, 403);
    app.stop().await;

    // Behind a trusted proxy that says the client came over HTTPS, the same.
    let app = TestApp::spawn_with(Backend::Sqlite, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let https = [("forwarded", "for=192.0.2.1;proto=https")];
    assert_eq!(sign_in_from(&app, &format!("http://{host}"), &https).await, 403);
    assert_eq!(sign_in_from(&app, &format!("https://{host}"), &https).await, 401);
    // Plain HTTP (development): an https origin is another origin, an http one is this one.
    assert_eq!(sign_in_from(&app, &format!("https://{host}"), &[]).await, 403);
    assert_eq!(sign_in_from(&app, &format!("http://{host}"), &[]).await, 401);
    app.stop().await;

    // The proto of anyone but a trusted proxy is not believed.
    let app = TestApp::spawn(Backend::Sqlite).await;
    let host = app.base.trim_start_matches("http://").to_owned();
    assert_eq!(sign_in_from(&app, &format!("https://{host}"), &https).await, 403);
    app.stop().await;
}

/// Everything logged under the request log's target, by every test in this binary (the binary's one global
/// subscriber captures it: see `common::logs`).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    common::logs::request_log()
}

/// The log lines (JSON) of the request with this id.
fn lines_of(request_id: &str) -> Vec<serde_json::Value> {
    let text = String::from_utf8(captured_logs().lock().unwrap().clone()).unwrap();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["request_id"] == request_id)
        .collect()
}

async fn send(app: &TestApp, method: reqwest::Method, path: &str, id: &str) -> u16 {
    let res = reqwest::Client::new()
        .request(method, format!("{}{path}", app.base))
        .header("x-request-id", id)
        .header("cookie", "ezs_session=COOKIE-SECRET-1; ezs_staff=COOKIE-SECRET-2")
        .header("authorization", "Bearer HEADER-SECRET-3")
        .form(&[("email", "demo@ezscale.test"), ("password", "BODY-SECRET-4")])
        .send()
        .await
        .unwrap();
    res.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_logged_with_route_status_latency_tenant_and_id() {
    let logs = captured_logs();
    let app = TestApp::spawn_with(Backend::Sqlite, &[("SECURE_COOKIES", "true")]).await;
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (login, page, nowhere) = (format!("login-{run}"), format!("page-{run}"), format!("unknown-{run}"));
    assert_eq!(send(&app, reqwest::Method::POST, "/api/login", &login).await, 401);
    send(&app, reqwest::Method::GET, "/verify?token=QUERY-SECRET-5", &page).await;
    let other = reqwest::Client::builder().resolve("nobody.example", app.addr).build().unwrap();
    let res = other
        .get(format!("http://nobody.example:{}/x/QUERY-SECRET-6", app.addr.port()))
        .header("x-request-id", &nowhere)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);

    // Written before the answer leaves: each request has exactly one line by now.
    let line = |id: &str| {
        let lines = lines_of(id);
        assert_eq!(lines.len(), 1, "{id}: {lines:?}");
        lines.into_iter().next().unwrap()
    };
    let l = line(&login);
    assert_eq!(l["level"], "INFO", "{l}");
    assert_eq!(l["target"], server::routes::REQUEST_LOG_TARGET);
    assert_eq!((l["method"].as_str(), l["route"].as_str()), (Some("POST"), Some("/api/login")), "{l}");
    assert_eq!(l["status"], 401, "{l}");
    assert_eq!(l["tenant"], "house", "{l}");
    let ms: f64 = l["latency_ms"].as_str().unwrap().parse().unwrap();
    assert!(ms > 0.0 && ms < 30_000.0, "{l}");
    let l = line(&page);
    assert_eq!(
        (l["method"].as_str(), l["route"].as_str(), l["status"].as_u64()),
        (Some("GET"), Some("/verify"), Some(200))
    );
    let l = line(&nowhere);
    assert_eq!((l["route"].as_str(), l["status"].as_u64(), l["tenant"].as_str()), (Some("-"), Some(404), Some("-")));

    // Never bodies, cookies, headers or query strings.
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    for secret in ["COOKIE-SECRET", "HEADER-SECRET", "BODY-SECRET", "QUERY-SECRET"] {
        assert!(!text.contains(secret), "{secret} in the log");
    }
    app.stop().await;

    // In development the same line is a debug one (RUST_LOG=ezscale::request=debug shows it).
    let app = TestApp::spawn(Backend::Sqlite).await;
    let dev = format!("dev-{run}");
    send(&app, reqwest::Method::POST, "/api/login", &dev).await;
    assert_eq!(line(&dev)["level"], "DEBUG");
    app.stop().await;
}
