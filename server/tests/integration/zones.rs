//! Several Kasm servers (zones), the admin's plan templates and image sync, and the crash between Kasm
//! creating a session and our commit recording it.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::{eventually, order, until_state, Backend, Client, TestApp};
use app::admin::kasm::KasmPageData;
use app::backend::clients::kasm::BreakerState;
use app::backend::{
    identity::auth, identity::customers, platform::db::now, workspaces::provisioning, workspaces::reconciler,
    workspaces::store,
};
use app::catalog::CatalogView;
use app::domain::plan::PlanCode;
use app::domain::workspace::WorkspaceState;
use server::kasm_sim::{Fault, SimConfig, Simulator};

async fn admin(app: &TestApp) -> Client {
    let admin = app.client_for("admin.localhost");
    admin.call::<()>("admin_login", &[("email", "admin@ezscale.test"), ("password", "admin-password")]).await.unwrap();
    admin
}

/// A second Kasm (another zone) with its own key and secret.
async fn second_kasm() -> (Simulator, SocketAddr) {
    let sim = Simulator::new(SimConfig {
        api_key: "zone-b-key".into(),
        api_secret: "zone-b-secret-value".into(),
        start_delay: Duration::from_millis(200),
        ..SimConfig::default()
    });
    let (addr, _task) = sim.clone().spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    (sim, addr)
}

async fn add_server(
    admin: &Client,
    id: &str,
    addr: SocketAddr,
    secret: &str,
) -> Result<String, (u16, app::error::AppError)> {
    let url = format!("http://{addr}");
    admin
        .call(
            "admin_save_kasm_server",
            &[
                ("id", id),
                ("name", "Zone B"),
                ("zone", "eu-west"),
                ("base_url", &url),
                ("auth", "body"),
                ("api_key", "zone-b-key"),
                ("api_secret", secret),
                ("enabled", "true"),
            ],
        )
        .await
}

async fn workspaces_run_on_the_server_their_plan_or_tenant_pins(b: Backend) {
    let app = TestApp::spawn(b).await;
    let (zone_b, zone_b_addr) = second_kasm().await;
    let admin = admin(&app).await;

    // Bad input changes nothing.
    for (field, value) in [("id", "Zone B!"), ("base_url", "ftp://x"), ("base_url", "http://h/api"), ("api_secret", "")]
    {
        let mut args = vec![
            ("id", "zone-b"),
            ("name", "Zone B"),
            ("zone", "eu-west"),
            ("base_url", "http://127.0.0.1:1"),
            ("auth", "body"),
            ("api_key", "k"),
            ("api_secret", "s"),
        ];
        for a in &mut args {
            if a.0 == field {
                a.1 = value;
            }
        }
        let (status, _) = admin.call_raw("admin_save_kasm_server", &args).await;
        assert_eq!(status, 400, "{field}={value:?} must be refused");
    }
    let o: KasmPageData = admin.call("admin_kasm", &[]).await.unwrap();
    assert_eq!(o.servers.len(), 1, "only the configured server so far");
    assert!(o.servers[0].from_config && o.servers[0].id == "default");
    // The configured server is edited through configuration only.
    let (status, _) = admin
        .call_raw(
            "admin_save_kasm_server",
            &[
                ("id", "default"),
                ("name", "x"),
                ("zone", "x"),
                ("base_url", "http://h"),
                ("auth", "body"),
                ("api_key", "k"),
                ("api_secret", "s"),
                ("existing", "true"),
            ],
        )
        .await;
    assert_eq!(status, 409);

    assert_eq!(add_server(&admin, "zone-b", zone_b_addr, "zone-b-secret-value").await.unwrap(), "zone-b");
    assert_eq!(add_server(&admin, "zone-b", zone_b_addr, "x").await.unwrap_err().0, 409, "ids are unique");
    // The secret is sealed at rest: the row never holds it in the clear.
    let stored: Option<String> = sqlx::query_scalar("SELECT api_secret_enc FROM kasm_servers WHERE id = 'zone-b'")
        .fetch_one(app.state.central().pool())
        .await
        .unwrap();
    let stored = stored.unwrap();
    assert!(stored.starts_with("v1:") && !stored.contains("zone-b-secret-value"));

    // Pin the house to zone B: a new workspace runs there, and only there.
    let (status, _) = admin.call_raw("admin_pin_tenant", &[("slug", "house"), ("server", "nowhere")]).await;
    assert_eq!(status, 400, "an unknown server cannot be pinned");
    admin.call::<()>("admin_pin_tenant", &[("slug", "house"), ("server", "zone-b")]).await.unwrap();
    let customer = app.demo().await;
    let on_b = order(&customer, "developer-basic").await;
    until_state(&customer, &on_b, WorkspaceState::Running).await;
    assert_eq!(zone_b.session_count(), 1, "the workspace runs on zone B");
    assert_eq!(app.sim.session_count(), 0, "and nothing on the default server");
    let tenant = app.state.house().await.unwrap();
    let ws = store::get(&tenant.db, on_b.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!(ws.kasm_server, "zone-b");

    // A plan pin wins over the tenant pin.
    let o: KasmPageData = admin.call("admin_kasm", &[]).await.unwrap();
    let t = o.templates.iter().find(|t| t.code == "business-basic").unwrap().clone();
    save_template(&admin, &t, &[("kasm_server", "default")]).await.unwrap();
    let on_default = order(&customer, "business-basic").await;
    until_state(&customer, &on_default, WorkspaceState::Running).await;
    assert_eq!(app.sim.session_count(), 1, "the pinned plan runs on the default server");
    assert_eq!(zone_b.session_count(), 1);

    // One get_kasms per server per pass; each server's workspaces are reconciled against their own server.
    let r = reconciler::reconcile_once(&app.state).await.unwrap();
    assert_eq!((r.servers, r.failed_servers, r.checked, r.orphans), (2, 0, 2, 0), "{r:?}");
    let kasm_b = uuid::Uuid::parse_str(ws.kasm_id.as_deref().unwrap()).unwrap();
    zone_b.kill_session(kasm_b);
    let r = reconciler::reconcile_once(&app.state).await.unwrap();
    assert_eq!(r.closed_gone, 1, "{r:?}");
    until_state(&customer, &on_b, WorkspaceState::Stopped).await;
    assert_eq!(
        until_state(&customer, &on_default, WorkspaceState::Running).await.card.state,
        WorkspaceState::Running,
        "the other server's workspace is untouched"
    );

    // Each server has its own breaker: zone B failing does not stop the default server's reconciliation.
    for _ in 0..10 {
        zone_b.inject(Fault::HttpStatus { endpoint: "get_kasms".into(), status: 503 });
    }
    let mut last = reconciler::Report::default();
    for _ in 0..6 {
        last = reconciler::reconcile_once(&app.state).await.unwrap();
    }
    assert_eq!((last.servers, last.failed_servers), (1, 1), "{last:?}");
    assert_eq!(app.state.kasm_servers().breaker_state("zone-b"), BreakerState::Open);
    assert_eq!(app.state.kasm_servers().breaker_state("default"), BreakerState::Closed);
    let o: KasmPageData = admin.call("admin_kasm", &[]).await.unwrap();
    assert_eq!(o.servers.iter().find(|s| s.id == "zone-b").unwrap().breaker, "open");
    eprintln!("zones: 2 servers, 1 get_kasms each per pass; zone B down → breaker open, default still reconciled");

    // A disabled (draining) pinned server refuses new orders with a clear message and records nothing.
    let url = format!("http://{zone_b_addr}");
    admin
        .call::<String>(
            "admin_save_kasm_server",
            &[
                ("id", "zone-b"),
                ("name", "Zone B"),
                ("zone", "eu-west"),
                ("base_url", &url),
                ("auth", "body"),
                ("api_key", "zone-b-key"),
                ("api_secret", ""),
                ("existing", "true"),
            ],
        )
        .await
        .unwrap();
    let before = store::list_owned(&tenant.db, ws.customer_id).await.unwrap().len();
    let cat: CatalogView = customer.call("catalog", &[]).await.unwrap();
    let (status, body) = customer
        .call_raw("order_workspace", &[("plan", "developer-basic"), ("order_key", &cat.order_key.unwrap())])
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not available"), "{body}");
    assert_eq!(store::list_owned(&tenant.db, ws.customer_id).await.unwrap().len(), before);
    // The secret was kept on an edit with a blank secret: the client still authenticates once the breaker
    // lets a trial through (here: straight away, since the row changed and a fresh client is built).
    zone_b.clear_faults();
    let r = reconciler::reconcile_once(&app.state).await.unwrap();
    assert_eq!((r.servers, r.failed_servers), (2, 0), "{r:?}");
    app.stop().await;
}
on_both_backends!(workspaces_run_on_the_server_their_plan_or_tenant_pins);

async fn save_template(
    admin: &Client,
    t: &app::admin::kasm::TemplateRow,
    overrides: &[(&str, &str)],
) -> Result<String, (u16, app::error::AppError)> {
    let vcpu = t.vcpu.to_string();
    let ram = t.ram_gb.to_string();
    let sort = t.sort_order.to_string();
    let apps = t.apps.join("\n");
    let mut args: Vec<(&str, &str)> = vec![
        ("code", &t.code),
        ("name", &t.name),
        ("summary", &t.summary),
        ("vcpu", &vcpu),
        ("ram_gb", &ram),
        ("apps", &apps),
        ("icon", &t.icon),
        ("status", &t.status),
        ("sort_order", &sort),
        ("kasm_image", &t.kasm_image),
        ("kasm_group", &t.kasm_group),
        ("kasm_server", t.kasm_server.as_deref().unwrap_or("")),
    ];
    for (k, v) in overrides {
        args.iter_mut().find(|a| a.0 == *k).unwrap().1 = v;
    }
    admin.call("admin_save_template", &args).await
}

async fn the_admin_manages_templates_and_syncs_images(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = admin(&app).await;
    let o: KasmPageData = admin.call("admin_kasm", &[]).await.unwrap();
    assert_eq!(o.templates.len(), 6, "the six seed tiers");
    assert!(o.images.is_empty(), "nothing synced yet");
    let n: usize = admin.call("admin_sync_images", &[("server", "default")]).await.unwrap();
    assert_eq!(n, 7, "the simulator's seven images, one of them disabled");
    let o: KasmPageData = admin.call("admin_kasm", &[]).await.unwrap();
    assert_eq!(o.images.len(), 7);
    assert_eq!(o.images.iter().filter(|i| !i.enabled).count(), 1);
    let (status, _) = admin.call_raw("admin_sync_images", &[("server", "nowhere")]).await;
    assert_eq!(status, 404);

    let t = o.templates.iter().find(|t| t.code == "developer-pro").unwrap().clone();
    // Each bad field is refused with a message, and nothing changes.
    for (field, value) in [
        ("vcpu", "0"),
        ("vcpu", "two"),
        ("ram_gb", "9999"),
        ("icon", "skull"),
        ("status", "gone"),
        ("name", ""),
        ("kasm_image", "kasmweb/retired:1.14.0"),
        ("kasm_image", "kasmweb/typo:1.0"),
        ("kasm_server", "nowhere"),
        ("code", "developer-ultra"),
    ] {
        let err = save_template(&admin, &t, &[(field, value)]).await.unwrap_err();
        assert_eq!(err.0, 400, "{field}={value:?}");
    }
    let again: KasmPageData = admin.call("admin_kasm", &[]).await.unwrap();
    assert_eq!(again.templates, o.templates, "refused edits changed nothing");

    // A valid edit reaches the storefront: sizing, apps, icon, order.
    save_template(
        &admin,
        &t,
        &[
            ("vcpu", "6"),
            ("ram_gb", "12"),
            ("apps", "VS Code\nRust toolchain\n"),
            ("icon", "rocket"),
            ("sort_order", "0"),
        ],
    )
    .await
    .unwrap();
    let customer = app.demo().await;
    let cat: CatalogView = customer.call("catalog", &[]).await.unwrap();
    let first = &cat.plans[0];
    assert_eq!(first.code, "developer-pro", "sort order 0 comes first");
    assert_eq!((first.vcpu, first.ram_gb, first.icon.as_str()), (6, 12, "rocket"));
    assert_eq!(first.apps, vec!["VS Code".to_owned(), "Rust toolchain".to_owned()]);

    // Hidden: off the storefront, and an order for it is refused.
    let hidden = o.templates.iter().find(|t| t.code == "business-enterprise").unwrap().clone();
    save_template(&admin, &hidden, &[("status", "hidden")]).await.unwrap();
    let cat: CatalogView = customer.call("catalog", &[]).await.unwrap();
    assert_eq!(cat.plans.len(), 5);
    assert!(cat.plans.iter().all(|p| p.code != "business-enterprise"));
    let (status, _) = customer
        .call_raw("order_workspace", &[("plan", "business-enterprise"), ("order_key", &cat.order_key.unwrap())])
        .await;
    assert_eq!(status, 400);

    // Remapping the image: the next workspace of that plan launches the new image.
    save_template(
        &admin,
        &t,
        &[("kasm_image", "kasmweb/developer-enterprise:1.16.0"), ("kasm_group", "EZSCALE Developer Enterprise")],
    )
    .await
    .unwrap();
    let id = order(&customer, "developer-pro").await;
    until_state(&customer, &id, WorkspaceState::Running).await;
    let tenant = app.state.house().await.unwrap();
    let ws = store::get(&tenant.db, id.parse().unwrap()).await.unwrap().unwrap();
    let sessions = app.state.kasm().get_kasms().await.unwrap();
    let s = sessions.kasms.iter().find(|s| Some(s.kasm_id.to_string()) == ws.kasm_id).unwrap();
    assert_eq!(Some(s.image_id.0), app.sim.image_id("kasmweb/developer-enterprise:1.16.0"));

    // Every change is in the audit log.
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE action LIKE 'template.%' OR action LIKE 'kasm_%'")
            .fetch_all(app.state.central().pool())
            .await
            .unwrap();
    assert_eq!(actions.iter().filter(|a| *a == "template.updated").count(), 3, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| *a == "kasm_images.synced").count(), 1, "{actions:?}");
    app.stop().await;
}
on_both_backends!(the_admin_manages_templates_and_syncs_images);

const CRASHES: usize = 20;

/// The provisioner dies after Kasm created the session and before our row recorded it, and its job never
/// comes back (the worst case): the reconciler finds the session by its user, gives it to the workspace
/// that was waiting for one, and the next pass finds no orphan. No second session is ever made.
async fn a_crash_between_kasm_and_our_commit_leaves_no_orphan(b: Backend) {
    let app = TestApp::spawn_with(b, &[("KASM_SIM_LICENSE_CAP", "100"), ("KASM_SIM_START_DELAY_MS", "50")]).await;
    let tenant = app.state.house().await.unwrap();
    let hash = auth::hash_password("crash-password".into()).await.unwrap();
    let plan = PlanCode::parse("developer-basic").unwrap();
    let mut ids = Vec::new();
    for i in 0..CRASHES {
        let customer =
            customers::ensure(&tenant.db, &format!("crash{i}@ezscale.test"), "Crash Customer", &hash).await.unwrap();
        let (id, _) =
            store::insert_order(&tenant.db, customer, plan, uuid::Uuid::new_v4(), "default", now()).await.unwrap();
        app.state.failpoints().arm("provision.after_request", 1);
        let crashed = provisioning::sync(&app.state, &tenant, id).await;
        assert!(crashed.is_err(), "the failpoint fired after Kasm created the session");
        let ws = store::get(&tenant.db, id).await.unwrap().unwrap();
        assert_eq!((ws.state, ws.kasm_id.as_deref()), (WorkspaceState::Provisioning, None), "nothing recorded");
        ids.push(id);
    }
    assert_eq!(app.sim.session_count(), CRASHES, "Kasm has every session; we recorded none");

    let first = reconciler::reconcile_once(&app.state).await.unwrap();
    assert_eq!((first.adopted, first.orphans), (CRASHES, 0), "{first:?}");
    let second = reconciler::reconcile_once(&app.state).await.unwrap();
    assert_eq!((second.adopted, second.orphans), (0, 0), "{second:?}");
    eventually(Duration::from_secs(30), "adopted workspaces running", || async {
        let mut all = true;
        for id in &ids {
            all &= store::get(&tenant.db, *id).await.unwrap().unwrap().state == WorkspaceState::Running;
        }
        all.then_some(())
    })
    .await;
    assert_eq!(app.sim.session_count(), CRASHES, "exactly one session per workspace: none made twice");
    eprintln!(
        "crash between Kasm's create and our commit: {CRASHES}/{CRASHES} sessions adopted on pass 1, 0 orphans on pass 2"
    );
    app.stop().await;
}
on_both_backends!(a_crash_between_kasm_and_our_commit_leaves_no_orphan);

/// Kasm keys have no permissions by default; the simulator grants a restricted key only what it lists and
/// answers the rest as Kasm 1.15 does (401). The client reports them as authorisation failures, which are
/// never retried and never open the breaker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_kasm_key_can_do_only_what_it_was_granted() {
    use app::backend::clients::kasm::{KasmAuthStyle, KasmClient, KasmConfig, KasmError};
    use server::kasm_sim::SimApiKey;
    let sim = Simulator::new(SimConfig {
        start_delay: Duration::from_millis(10),
        restricted_keys: vec![SimApiKey {
            name: "monitoring".into(),
            key: "ro-key".into(),
            secret: "ro-secret".into(),
            permissions: vec!["Sessions View".into(), "Images View".into()],
        }],
        ..SimConfig::default()
    });
    let (addr, _task) = sim.clone().spawn(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let client = |key: &str, secret: &str| {
        KasmClient::new(KasmConfig {
            base_url: format!("http://{addr}"),
            api_key: key.into(),
            api_secret: secret.into(),
            auth: KasmAuthStyle::JsonBody,
            timeout: Duration::from_secs(5),
            insecure_skip_tls_verify: false,
            ca_pem: None,
        })
        .unwrap()
    };
    let full = client("sim-key", "sim-secret");
    let limited = client("ro-key", "ro-secret");
    let user = full.ensure_user("ezs-house-perm", "pw-123456789", "Perm", "Test").await.unwrap();

    // Granted: listing sessions and images.
    assert!(limited.get_kasms().await.is_ok());
    assert_eq!(limited.get_images().await.unwrap().len(), 7);
    // Not granted: creating users, acting as a user, session history.
    let refusals = [
        limited.create_user("ezs-house-x", "pw-123456789", "X", "Y").await.map(|_| ()),
        limited.get_user_kasms(user.user_id).await.map(|_| ()),
        limited.get_login(user.user_id).await.map(|_| ()),
        limited.get_groups().await.map(|_| ()),
    ];
    for r in &refusals {
        let e = r.as_ref().unwrap_err();
        assert!(matches!(e, KasmError::Unauthorized { status: 401, .. }), "{e:?}");
        assert!(!e.is_retryable(), "{e:?}");
    }
    assert_eq!(limited.breaker_state(), BreakerState::Closed, "authorisation failures never open the breaker");
    // A wrong secret is refused outright.
    let wrong = client("ro-key", "wrong").get_kasms().await.unwrap_err();
    assert!(matches!(wrong, KasmError::Unauthorized { status: 403, .. }), "{wrong:?}");
    eprintln!("restricted key: 2 granted calls answered, {} ungranted calls refused with 401", refusals.len());
}
