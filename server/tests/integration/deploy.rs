//! Safe to deploy: production is the default and refuses development switches, demo accounts never appear
//! beside a real admin, the Stripe fake touches only the demo storefronts (never an owner's keys, never
//! with a guessable secret), and metrics and the TLS ask live on the operations listener only.
//! Run with `cargo test -p server --test integration deploy::`.

use std::io::BufRead;
use std::time::{Duration, Instant};

use crate::common::{eventually, make_tenant, Backend, TestApp};
use app::backend::billing::ledger;
use app::backend::clients::stripe::{self, webhook};
use app::backend::{billing::payments, identity::accounts, identity::auth, identity::customers, seed};
use app::domain::ids::CustomerId;
use app::domain::money::{Currency, Money};

const WAIT: Duration = Duration::from_secs(20);

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

// ---- 1. Safe by default -------------------------------------------------------------------------------

/// A platform with a real admin never gets the demo accounts (published passwords), even when a
/// development start asks for demo data and the demo reseller.
async fn demo_accounts_are_never_created_beside_a_real_admin(b: Backend) {
    let app = TestApp::spawn_with(b, &[("DEMO_DATA", "false"), ("DEMO_RESELLER", "false")]).await;
    accounts::upsert_admin(app.state.central(), "ops@company.example", "Operator", "a-real-long-password")
        .await
        .unwrap();
    let app = app.restart(&[("DEMO_DATA", "true"), ("DEMO_RESELLER", "true")]).await;

    let admins: Vec<String> = sqlx::query_scalar("SELECT email FROM platform_admins ORDER BY email")
        .fetch_all(app.state.central().pool())
        .await
        .unwrap();
    assert_eq!(admins, ["ops@company.example"], "no demo admin beside the real one");
    let house = app.state.house().await.unwrap();
    for (email, _, _) in seed::DEMO_CUSTOMERS {
        assert!(customers::find_login(&house.db, email).await.unwrap().is_none(), "{email} was created");
    }
    assert!(app.state.registry().entry_by_slug(seed::DEMO_RESELLER.0).await.unwrap().is_none(), "no demo reseller");
    let keys: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenant_payment_settings")
        .fetch_one(app.state.central().pool())
        .await
        .unwrap();
    assert_eq!(keys, 0, "no storefront was pointed at the Stripe fake");
    let (status, _) =
        app.client().call_raw("login", &[("email", "demo@ezscale.test"), ("password", "demo-password")]).await;
    assert_ne!(status, 200, "the published demo password signs nobody in");
    app.stop().await;
}
on_both_backends!(demo_accounts_are_never_created_beside_a_real_admin);

/// The real `server` binary, configured as an operator following the README would (a real domain and a
/// real Kasm) but without `APP_ENV`: it is production. Without `DATA_KEY` it refuses to start with one
/// line; asked for demo data it refuses naming it; with a key it serves, with no demo account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_binary_without_app_env_is_production() {
    let dir = std::env::temp_dir().join(format!("ezs-deploy-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::copy(root.join("Leptos.toml"), dir.join("Leptos.toml")).unwrap();
    let central = format!("sqlite://{}/central.db", dir.display());
    let base: Vec<(&str, String)> = vec![
        ("PLATFORM_DOMAIN", "example.com".into()),
        ("KASM_URL", "https://kasm.example.com".into()),
        ("KASM_API_KEY", "key".into()),
        ("KASM_API_SECRET", "secret".into()),
        ("DATABASE_URL", central.clone()),
        ("DATA_DIR", dir.display().to_string()),
        ("LEPTOS_SITE_ADDR", "127.0.0.1:0".into()),
        ("OPS_ADDR", "127.0.0.1:0".into()),
        ("RUST_LOG", "info".into()),
    ];
    // Nothing from this process's environment (or a `.env`: the working directory is the empty temp one).
    let command = |extra: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_server"));
        cmd.env_clear().current_dir(&dir).envs(base.iter().map(|(k, v)| (*k, v.as_str())));
        cmd.envs(extra.iter().copied());
        cmd
    };
    // A refusal is an exit within seconds; a server still running after 30 s started instead.
    let refused = |mut cmd: std::process::Command| async move {
        let mut child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                child.kill().unwrap();
                let _ = child.wait();
                panic!("the server started instead of refusing");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(!status.success());
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        stderr.trim().to_owned()
    };
    let stderr = refused(command(&[])).await;
    assert_eq!(stderr, "error: DATA_KEY must be set in production", "one line naming the variable");
    let key = ("DATA_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let stderr = refused(command(&[key, ("DEMO_DATA", "true")])).await;
    assert!(stderr.starts_with("error: DEMO_DATA is for development") && stderr.lines().count() == 1, "{stderr}");
    // No admin chooses a new storefront owner's password in production, not even through the CLI.
    let mut create = command(&[key, ("TENANT_OWNER_PASSWORD", "chosen-by-an-operator")]);
    create.args(["tenants", "create", "--name", "Prod Co", "--slug", "prodco", "--owner-email", "owner@prodco.test"]);
    let stderr = refused(create).await;
    assert!(stderr.contains("--owner-password") && stderr.contains("development only"), "{stderr}");
    let stderr = refused(command(&[key, ("APP_ENV", "development")])).await;
    assert!(stderr.starts_with("error: PLATFORM_DOMAIN example.com is a real domain") && stderr.lines().count() == 1);

    let mut child = command(&[key]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let started = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| panic!("the server did not start within 60 s"));
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break (line.clone(), rest.split('"').next().unwrap().parse::<std::net::SocketAddr>().unwrap());
        }
    };
    let (line, addr) = started;
    assert!(line.contains("Production"), "{line}");
    let client = reqwest::Client::builder().resolve("example.com", addr).timeout(WAIT).build().unwrap();
    let login = client
        .post(format!("http://example.com:{}/api/login", addr.port()))
        .form(&[("email", "demo@ezscale.test"), ("password", "demo-password")])
        .send()
        .await
        .unwrap();
    let status = login.status().as_u16();
    child.kill().unwrap();
    let _ = child.wait();
    assert!((400..500).contains(&status), "the demo customer does not exist (status {status})");
    let db = app::backend::platform::db::CentralDb::open(&central).await.unwrap();
    let count = |sql: &'static str| {
        let db = db.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).fetch_one(db.pool()).await.unwrap() }
    };
    assert_eq!(count("SELECT COUNT(*) FROM platform_admins").await, 0, "no demo admin");
    assert_eq!(count("SELECT COUNT(*) FROM tenants").await, 1, "the house storefront only: no demo reseller");
    assert_eq!(count("SELECT COUNT(*) FROM tenant_payment_settings").await, 0, "no Stripe fake keys");
    db.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- 2. The Stripe fake never touches real storefronts ----------------------------------------------

const OWNER_KEY: &str = "sk_live_51MargOwnRealLookingKey0123456789";
const OWNER_WHSEC: &str = "whsec_MargOwnSigningSecret0123456789abcdef";

/// A `checkout.session.completed` for 1,000.00 of credit that Stripe never sent, signed with `secret`.
async fn forged_top_up(app: &TestApp, slug: &str, customer: CustomerId, secret: &str, kind: &str) -> u16 {
    let body = serde_json::json!({
        "id": format!("evt_forged_{slug}_{kind}"),
        "type": kind,
        "created": 0,
        "livemode": false,
        "data": { "object": {
            "object": "checkout.session",
            "id": format!("cs_forged_{slug}"),
            "status": "complete",
            "payment_status": "paid",
            "amount_total": 100_000,
            "currency": "usd",
            "metadata": { "purpose": "topup", "customer_id": customer.to_string() },
        }},
    })
    .to_string();
    let t = app::backend::platform::db::now().as_millis() / 1000;
    let res = reqwest::Client::new()
        .post(format!("{}/stripe/webhook/{slug}", app.base))
        .header("stripe-signature", webhook::sign(body.as_bytes(), secret, t))
        .body(body)
        .timeout(WAIT)
        .send()
        .await
        .unwrap();
    res.status().as_u16()
}

/// An owner's keys survive restarts untouched; the demo storefront's fake keys have a random secret and
/// are re-registered with each start's fake (top-ups still work); a webhook signed with the old
/// predictable secret `whsec_<slug>_dev` is refused and credits nothing.
async fn stripe_keys_survive_restarts_and_predictable_secrets_are_refused(b: Backend) {
    let app = TestApp::spawn(b).await;
    make_tenant(&app, "marg").await;
    let staff = app.client_for("marg.localhost");
    let (status, body) =
        staff.call_raw("staff_login", &[("email", "owner@marg.test"), ("password", "marg-owner-password")]).await;
    assert_eq!(status, 200, "{body}");
    staff.call::<()>("save_stripe_keys", &[("secret_key", OWNER_KEY), ("webhook_secret", OWNER_WHSEC)]).await.unwrap();
    let house_id = app.state.house().await.unwrap().id;
    let demo = payments::settings(&app.state, house_id).await.unwrap().expect("the demo storefront has fake keys");
    assert_ne!(demo.webhook_secret, "whsec_house_dev", "the demo secret is not guessable");
    assert!(demo.webhook_secret.len() >= "whsec_".len() + 32, "a random secret");
    let (before_key, before_secret) = (demo.secret_key, demo.webhook_secret);

    let app = app.restart(&[]).await;
    let marg = app.state.registry().entry_by_slug("marg").await.unwrap().unwrap();
    let kept = payments::settings(&app.state, marg.id).await.unwrap().expect("the owner's keys");
    assert_eq!(
        (kept.api_base.as_str(), kept.secret_key.as_str(), kept.webhook_secret.as_str()),
        (stripe::DEFAULT_BASE_URL, OWNER_KEY, OWNER_WHSEC),
        "the owner's keys are untouched by a restart"
    );
    let house = app.state.house().await.unwrap();
    let demo = payments::settings(&app.state, house.id).await.unwrap().unwrap();
    let (fake, fake_addr) = app.stripe.clone().unwrap();
    assert_eq!((demo.secret_key.as_str(), demo.webhook_secret.as_str()), (before_key.as_str(), before_secret.as_str()));
    assert_eq!(demo.api_base, format!("http://{fake_addr}"), "pointed at this start's fake");

    // Forgeries signed with the old predictable secrets: refused, nothing credited.
    let demo_customer = customers::find_login(&house.db, "demo@ezscale.test").await.unwrap().unwrap().0;
    let marg_db = app.state.tenant_by_id(marg.id).await.unwrap().unwrap();
    let hash = auth::hash_password("marg-customer-password".into()).await.unwrap();
    let marg_customer = customers::ensure(&marg_db.db, "customer@marg.test", "Marg Customer", &hash).await.unwrap();
    let completed = "checkout.session.completed";
    assert_eq!(forged_top_up(&app, "house", demo_customer, "whsec_house_dev", completed).await, 400);
    assert_eq!(forged_top_up(&app, "marg", marg_customer, "whsec_marg_dev", completed).await, 400);
    // The same delivery with the storefront's real secret verifies (an ignored event type, so nothing
    // is credited): the refusals above are the secret's doing.
    assert_eq!(forged_top_up(&app, "house", demo_customer, &demo.webhook_secret, "customer.created").await, 200);
    let usd = |m: i64| Money::from_minor(m, Currency::USD);
    assert_eq!(ledger::balance(&house.db, demo_customer, Currency::USD).await.unwrap(), usd(seed::DEMO_CREDIT_MINOR));
    assert_eq!(ledger::balance(&marg_db.db, marg_customer, Currency::USD).await.unwrap(), usd(0));

    // The demo storefront still takes a (fake) card after the restart: its keys live in the new fake.
    let c = app.demo().await;
    let url: String = c.call("start_top_up", &[("amount", "20.00")]).await.unwrap();
    fake.complete_checkout(url.rsplit('/').next().unwrap(), false).unwrap();
    fake.flush_webhooks().await;
    assert_eq!(
        ledger::balance(&house.db, demo_customer, Currency::USD).await.unwrap(),
        usd(seed::DEMO_CREDIT_MINOR + 2_000)
    );
    app.stop().await;
}
on_both_backends!(stripe_keys_survive_restarts_and_predictable_secrets_are_refused);

// ---- 3. Operations endpoints are not public behind a proxy ------------------------------------------

/// Behind the README's Caddy every visitor's TCP peer is loopback. Through that path (loopback, with the
/// proxy's `Forwarded` / `X-Forwarded-For`, from a trusted proxy) the public listener has no metrics and
/// no TLS ask; the operations listener answers both.
async fn operations_endpoints_are_not_public_behind_a_proxy(b: Backend) {
    let app = TestApp::spawn_with(b, &[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    assert_ne!(app.ops_addr, app.addr);
    let visitor = app.client();
    for host in ["localhost", "admin.localhost"] {
        let forwarded = format!("for=203.0.113.9;host=\"{host}\";proto=https");
        let headers = [("Forwarded", forwarded.as_str()), ("X-Forwarded-For", "203.0.113.9")];
        for path in ["/metrics", "/tls/ask?domain=admin.localhost"] {
            let (status, body) = visitor.get_with(path, &headers).await;
            assert_eq!(status, 404, "{path} via {host}: {body}");
            assert!(!body.contains("ezs_"), "{path} leaked metrics: {body}");
        }
    }
    for path in ["/metrics", "/tls/ask?domain=admin.localhost"] {
        assert_eq!(visitor.get_page(path).await.0, 404, "{path} straight from loopback");
    }
    let ops = app.ops_client();
    let (status, text) = ops.get_page("/metrics").await;
    assert_eq!(status, 200);
    assert!(text.contains("# TYPE ezs_reconcile_passes_total counter"), "{text}");
    assert_eq!(ops.get_page("/tls/ask?domain=admin.localhost").await.0, 200);
    assert_eq!(ops.get_page("/tls/ask?domain=evil.example").await.0, 404);
    app.stop().await;
}
on_both_backends!(operations_endpoints_are_not_public_behind_a_proxy);

/// A scrape reports from central figures and the workers' counters: with several tenants and every pool
/// closed, scraping opens none of their databases.
async fn a_metrics_scrape_opens_no_tenant_database(b: Backend) {
    let quiet = [("RECONCILE_INTERVAL_MS", "3600000"), ("METER_INTERVAL_MS", "3600000")];
    let app = TestApp::spawn_with(b, &quiet).await;
    for slug in ["alpha", "bravo", "charlie"] {
        make_tenant(&app, slug).await;
    }
    let ops = app.ops_client();
    // The reconciler's first pass (it opens the tenants' databases: that is its job) is over, and the
    // next one is an hour away.
    eventually(WAIT, "the first reconcile pass", || async {
        let (_, text) = ops.get_page("/metrics").await;
        metric(&text, "ezs_reconcile_passes_total").is_some_and(|n| n >= 1.0).then_some(())
    })
    .await;
    app.state.registry().close_all().await;
    assert_eq!(app.state.registry().open_pools(), 0);
    for _ in 0..3 {
        let (status, text) = ops.get_page("/metrics").await;
        assert_eq!(status, 200);
        assert_eq!(metric(&text, "ezs_tenants{status=\"active\"}"), Some(4.0), "{text}");
        assert_eq!(metric(&text, "ezs_tenant_pools_open"), Some(0.0), "{text}");
    }
    assert_eq!(app.state.registry().open_pools(), 0, "a scrape opened tenant databases");
    app.stop().await;
}
on_both_backends!(a_metrics_scrape_opens_no_tenant_database);
