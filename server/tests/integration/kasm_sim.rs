//! The Kasm simulator driven over HTTP by the real Kasm client: proves the client speaks the contract and the
//! simulator answers with Kasm's quirks; and, with the whole application, that provisioning heals a Kasm
//! that forgot the customer's user. Run with `cargo test -p server --test integration kasm_sim::`.

use std::collections::BTreeMap;
use std::time::Duration;

use app::backend::clients::kasm::{
    BreakerConfig, BreakerState, KasmAuthStyle, KasmBusinessKind, KasmClient, KasmConfig, KasmError, KasmGroupId,
    KasmId, KasmImage, KasmStatus, KasmStatusReply, KasmUserId,
};
use serde_json::{json, Value};
use server::kasm_sim::{Fault, SimConfig, Simulator};

const START: Duration = Duration::from_millis(300);
const STOP: Duration = Duration::from_millis(150);
const DESTROY: Duration = Duration::from_millis(150);
/// Slack on top of a simulated delay before asserting that it has passed.
const SLACK: Duration = Duration::from_millis(60);

fn fast() -> SimConfig {
    SimConfig { start_delay: START, stop_delay: STOP, destroy_delay: DESTROY, ..SimConfig::default() }
}

async fn start_sim(cfg: SimConfig) -> (Simulator, String) {
    let sim = Simulator::new(cfg);
    let (addr, _task) = sim.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
    (sim, format!("http://{addr}"))
}

fn client_with(base: &str, secret: &str, auth: KasmAuthStyle, timeout: Duration) -> KasmClient {
    KasmClient::new(KasmConfig {
        base_url: base.to_owned(),
        api_key: "sim-key".into(),
        api_secret: secret.into(),
        auth,
        timeout,
        insecure_skip_tls_verify: false,
        ca_pem: None,
    })
    .unwrap()
}

fn client(base: &str) -> KasmClient {
    client_with(base, "sim-secret", KasmAuthStyle::JsonBody, Duration::from_secs(5))
}

async fn image(client: &KasmClient, name: &str) -> KasmImage {
    client.get_images().await.unwrap().into_iter().find(|i| i.name == name).unwrap()
}

async fn status_of(client: &KasmClient, kasm_id: KasmId) -> Option<KasmStatus> {
    client.get_kasms().await.unwrap().kasms.into_iter().find(|k| k.kasm_id == kasm_id).map(|k| k.status)
}

fn env(workspace: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("EZSCALE_WORKSPACE_ID".to_owned(), workspace.to_owned())])
}

/// A user plus an image, ready to request sessions.
async fn alice(client: &KasmClient) -> (KasmUserId, KasmImage) {
    let user = client.create_user("alice", "pw-not-logged", "Alice", "Liddell").await.unwrap();
    (user.user_id, image(client, "kasmweb/vs-code:1.16.0").await)
}

#[tokio::test]
async fn a_session_goes_through_its_whole_lifecycle_with_the_real_client() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    kasm.health().await.unwrap();

    let created = kasm.create_user("alice", "pw", "Alice", "Liddell").await.unwrap();
    let found = kasm.get_user_by_username("alice").await.unwrap().unwrap();
    assert_eq!(found, created);

    let images = kasm.get_images().await.unwrap();
    let vs_code = images.iter().find(|i| i.name == "kasmweb/vs-code:1.16.0").unwrap();
    assert!(vs_code.enabled);
    assert_eq!(vs_code.friendly_name, "Developer Basic — VS Code");

    let requested = kasm.request_kasm(created.user_id, vs_code.image_id, &env("ws-1")).await.unwrap();
    assert_eq!(requested.user_id, created.user_id);
    assert_eq!(requested.status, KasmStatus::Starting);
    assert!(requested.kasm_url.starts_with("/#/connect/kasm/"), "relative, as Kasm returns it");
    assert!(!requested.session_token.is_empty());
    let kasm_id = requested.kasm_id;

    // starting, then running once the start delay has passed.
    let list = kasm.get_kasms().await.unwrap();
    let session = list.kasms.iter().find(|k| k.kasm_id == kasm_id).unwrap();
    assert_eq!(session.status, KasmStatus::Starting);
    assert_eq!((session.user_id, session.image_id), (created.user_id, vs_code.image_id));
    assert_eq!(session.username.as_deref(), Some("alice"));
    let start_date = session.start_date.unwrap();
    let now = list.current_time.unwrap();
    assert!(start_date <= now && now.as_millis() - start_date.as_millis() < 5_000);
    tokio::time::sleep(START + SLACK).await;
    let list = kasm.get_user_kasms(created.user_id).await.unwrap();
    assert_eq!(list.kasms.len(), 1);
    assert_eq!(list.kasms[0].status, KasmStatus::Running);
    assert_eq!(list.kasms[0].start_date, Some(start_date), "start_date is the request time, not the run time");

    // stop -> stopping -> stopped.
    kasm.stop_kasm(kasm_id, created.user_id).await.unwrap();
    assert_eq!(status_of(&kasm, kasm_id).await, Some(KasmStatus::Stopping));
    tokio::time::sleep(STOP + SLACK).await;
    assert_eq!(status_of(&kasm, kasm_id).await, Some(KasmStatus::Stopped));

    // resume -> starting -> running.
    kasm.resume_kasm(kasm_id, created.user_id).await.unwrap();
    assert_eq!(status_of(&kasm, kasm_id).await, Some(KasmStatus::Starting));
    tokio::time::sleep(START + SLACK).await;
    assert_eq!(status_of(&kasm, kasm_id).await, Some(KasmStatus::Running));

    // destroy is asynchronous and idempotent.
    kasm.destroy_kasm(kasm_id, created.user_id).await.unwrap();
    assert_eq!(status_of(&kasm, kasm_id).await, Some(KasmStatus::DeletePending));
    kasm.destroy_kasm(kasm_id, created.user_id).await.unwrap();
    tokio::time::sleep(DESTROY + SLACK).await;
    assert_eq!(status_of(&kasm, kasm_id).await, None);
    assert_eq!(sim.session_count(), 0);
    kasm.destroy_kasm(kasm_id, created.user_id).await.unwrap();

    // The accounting row has the exact end.
    let history = kasm.get_session_history(Some(kasm_id), 1, 10).await.unwrap();
    assert_eq!(history.sessions.len(), 1);
    let row = &history.sessions[0];
    assert_eq!(row.start_date, Some(start_date));
    assert!(row.destroyed_date.unwrap() > start_date);
    assert_eq!(row.destroy_reason.as_deref(), Some("user_destroyed"));
}

#[tokio::test]
async fn an_unknown_username_is_none_rather_than_an_error() {
    let (_sim, base) = start_sim(fast()).await;
    assert_eq!(client(&base).get_user_by_username("nobody").await.unwrap(), None);
}

#[tokio::test]
async fn ensure_user_creates_once_and_then_finds_the_same_user() {
    let (_sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let first = kasm.ensure_user("bob", "pw", "Bob", "B").await.unwrap();
    let second = kasm.ensure_user("bob", "pw", "Bob", "B").await.unwrap();
    assert_eq!(first, second);
    let duplicate = kasm.create_user("bob", "pw", "Bob", "B").await.unwrap_err();
    assert!(matches!(duplicate, KasmError::BadRequest { status: 400, .. }), "{duplicate:?}");
}

#[tokio::test]
async fn the_per_user_cap_comes_back_as_a_business_error() {
    let (_sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, image) = alice(&kasm).await;
    kasm.request_kasm(user, image.image_id, &env("a")).await.unwrap();
    kasm.request_kasm(user, image.image_id, &env("b")).await.unwrap();
    let err = kasm.request_kasm(user, image.image_id, &env("c")).await.unwrap_err();
    match &err {
        KasmError::Business(m) => assert_eq!(m, "Kasm limit exceeded for user: (alice)"),
        other => panic!("expected Business, got {other:?}"),
    }
    assert_eq!(err.business_kind(), Some(KasmBusinessKind::UserSessionLimit));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn the_licence_cap_refuses_new_sessions_and_resumes() {
    let (_sim, base) = start_sim(SimConfig { license_cap: 2, ..fast() }).await;
    let kasm = client(&base);
    let image = image(&kasm, "kasmweb/office-basic:1.16.0").await;
    let mut owners = Vec::new();
    for name in ["u1", "u2", "u3"] {
        owners.push(kasm.create_user(name, "pw", "U", name).await.unwrap().user_id);
    }
    let first = kasm.request_kasm(owners[0], image.image_id, &env("1")).await.unwrap();
    kasm.request_kasm(owners[1], image.image_id, &env("2")).await.unwrap();
    let err = kasm.request_kasm(owners[2], image.image_id, &env("3")).await.unwrap_err();
    assert_eq!(err.business_kind(), Some(KasmBusinessKind::LicenseLimit), "{err:?}");

    // Stopping frees a licence slot; then resuming the stopped session finds the cap full again.
    tokio::time::sleep(START + SLACK).await;
    kasm.stop_kasm(first.kasm_id, owners[0]).await.unwrap();
    kasm.request_kasm(owners[2], image.image_id, &env("3")).await.unwrap();
    tokio::time::sleep(STOP + SLACK).await;
    match kasm.resume_kasm(first.kasm_id, owners[0]).await.unwrap_err() {
        KasmError::Business(m) => {
            assert_eq!(m, "Per concurrent session license limit exceeded. Unable to resume Session")
        }
        other => panic!("expected Business, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wrong_secret_is_unauthorized_in_both_auth_styles() {
    let (_sim, base) = start_sim(fast()).await;
    for style in [KasmAuthStyle::JsonBody, KasmAuthStyle::HttpBasic] {
        let kasm = client_with(&base, "wrong-secret", style, Duration::from_secs(5));
        let err = kasm.get_images().await.unwrap_err();
        match &err {
            KasmError::Unauthorized { status: 403, message } => assert_eq!(message, "Access Denied"),
            other => panic!("{style:?}: expected Unauthorized, got {other:?}"),
        }
        assert!(!err.to_string().contains("wrong-secret"));
        assert!(!format!("{err:?}").contains("wrong-secret"));
    }
}

#[tokio::test]
async fn http_basic_auth_reaches_the_api_base_path() {
    let (_sim, base) = start_sim(fast()).await;
    let kasm = client_with(&base, "sim-secret", KasmAuthStyle::HttpBasic, Duration::from_secs(5));
    let (user, image) = alice(&kasm).await;
    let requested = kasm.request_kasm(user, image.image_id, &env("basic")).await.unwrap();
    assert_eq!(status_of(&kasm, requested.kasm_id).await, Some(KasmStatus::Starting));
}

#[tokio::test]
async fn missing_credentials_are_a_400_invalid_request() {
    let (_sim, base) = start_sim(fast()).await;
    let http = reqwest::Client::new();
    let resp = http.post(format!("{base}/api/public/get_images")).json(&json!({})).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"error_message": "Invalid Request"}));
}

#[tokio::test]
async fn the_healthcheck_needs_no_credentials() {
    let (_sim, base) = start_sim(fast()).await;
    let resp = reqwest::get(format!("{base}/api/__healthcheck")).await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"ok": true}));
    // …so a client with a wrong secret still passes it.
    client_with(&base, "wrong", KasmAuthStyle::JsonBody, Duration::from_secs(5)).health().await.unwrap();
}

#[tokio::test]
async fn request_kasm_answers_a_dashed_kasm_id_and_get_kasms_undashed_ids() {
    let (_sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, image) = alice(&kasm).await;
    let http = reqwest::Client::new();
    let creds = |mut v: Value| {
        v["api_key"] = json!("sim-key");
        v["api_key_secret"] = json!("sim-secret");
        v
    };
    // The caller may use either spelling too.
    let body = creds(json!({ "user_id": user.hyphenated(), "image_id": image.image_id.to_string() }));
    let resp: Value =
        http.post(format!("{base}/api/public/request_kasm")).json(&body).send().await.unwrap().json().await.unwrap();
    let kasm_id = resp["kasm_id"].as_str().unwrap();
    assert_eq!(kasm_id.len(), 36, "dashed: {kasm_id}");
    assert_eq!(resp["user_id"].as_str().unwrap(), user.to_string(), "undashed");
    assert_eq!(resp["status"], "starting");

    let resp: Value = http
        .post(format!("{base}/api/public/get_kasms"))
        .json(&creds(json!({})))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = &resp["kasms"][0];
    assert_eq!(listed["kasm_id"].as_str().unwrap(), kasm_id.replace('-', ""));
    // Timestamps are naive UTC `str(datetime)`: a space, no zone, 19 characters or 26 with microseconds.
    for key in ["start_date", "created_date", "keepalive_date", "expiration_date"] {
        let t = listed[key].as_str().unwrap();
        assert!(t.len() == 19 || t.len() == 26, "{key}: {t}");
        assert_eq!(&t[10..11], " ", "{key}: {t}");
        assert!(!t.contains('T') && !t.ends_with('Z'), "{key}: {t}");
    }
    assert!(resp["current_time"].is_string());
}

#[tokio::test]
async fn an_injected_business_error_surfaces_as_business() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, image) = alice(&kasm).await;
    sim.inject(Fault::BusinessError {
        endpoint: "request_kasm".into(),
        message: "No resources are available to create the requested Kasm".into(),
    });
    let err = kasm.request_kasm(user, image.image_id, &env("x")).await.unwrap_err();
    assert_eq!(err.business_kind(), Some(KasmBusinessKind::NoResources), "{err:?}");
    assert_eq!(sim.session_count(), 0, "a refused request creates nothing");
    // One-shot: the next call goes through.
    kasm.request_kasm(user, image.image_id, &env("x")).await.unwrap();
}

#[tokio::test]
async fn injected_http_statuses_map_to_their_error_variants() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let expected = |status: u16, e: &KasmError| match status {
        500 | 503 => matches!(e, KasmError::Server { status: s } if *s == status),
        429 => matches!(e, KasmError::RateLimited),
        401 | 403 => matches!(e, KasmError::Unauthorized { status: s, .. } if *s == status),
        _ => matches!(e, KasmError::BadRequest { status: s, .. } if *s == status),
    };
    for status in [500_u16, 503, 429, 401, 403, 400, 404] {
        sim.inject(Fault::HttpStatus { endpoint: "get_kasms".into(), status });
        let err = kasm.get_kasms().await.unwrap_err();
        assert!(expected(status, &err), "{status}: {err:?}");
        assert_eq!(err.is_retryable(), matches!(status, 500 | 503 | 429), "{status}");
    }
    kasm.get_kasms().await.unwrap();
}

#[tokio::test]
async fn a_dropped_response_still_creates_the_session() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, image) = alice(&kasm).await;
    sim.inject(Fault::DropResponseAfterCommit { endpoint: "request_kasm".into() });
    let err = kasm.request_kasm(user, image.image_id, &env("dropped")).await.unwrap_err();
    assert!(matches!(err, KasmError::Server { status: 502 }), "{err:?}");
    assert!(err.is_retryable());
    // The session exists anyway: a careful retry finds it instead of creating another.
    let mine = kasm.get_user_kasms(user).await.unwrap();
    assert_eq!(mine.kasms.len(), 1);
    assert_eq!(mine.kasms[0].image_id, image.image_id);
}

#[tokio::test]
async fn latency_beyond_the_client_timeout_is_a_timeout() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client_with(&base, "sim-secret", KasmAuthStyle::JsonBody, Duration::from_millis(400));
    sim.inject(Fault::Latency { endpoint: "get_images".into(), delay: Duration::from_millis(1200) });
    let err = kasm.get_images().await.unwrap_err();
    assert!(matches!(err, KasmError::Timeout), "{err:?}");
    assert!(err.is_retryable());
    // Latency under the timeout is just slow.
    sim.inject(Fault::Latency { endpoint: "get_images".into(), delay: Duration::from_millis(50) });
    assert_eq!(kasm.get_images().await.unwrap().len(), 7);
}

#[tokio::test]
async fn an_unreachable_kasm_is_a_retryable_transport_error() {
    let (_held, refused) = common::refusing_addr();
    let port = refused.port();
    let err = client(&format!("http://127.0.0.1:{port}")).get_kasms().await.unwrap_err();
    assert!(matches!(err, KasmError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(!err.to_string().contains("sim-secret"));
}

#[tokio::test]
async fn faults_can_be_injected_over_http_by_end_to_end_tests() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, image) = alice(&kasm).await;
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/__sim/faults"))
        .json(&json!({"endpoint": "request_kasm", "kind": "business_error", "message": "Image Not Authorized"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let err = kasm.request_kasm(user, image.image_id, &env("e2e")).await.unwrap_err();
    assert!(matches!(&err, KasmError::Business(m) if m == "Image Not Authorized"), "{err:?}");

    let resp = http
        .post(format!("{base}/__sim/faults"))
        .json(&json!({"endpoint": "get_kasms", "kind": "http_status", "status": 502}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(matches!(kasm.get_kasms().await.unwrap_err(), KasmError::Server { status: 502 }));

    let bad = http.post(format!("{base}/__sim/faults")).json(&json!({"endpoint": "x", "kind": "nope"})).send().await;
    assert_eq!(bad.unwrap().status().as_u16(), 400);

    // Sessions can be listed, stopped and killed over HTTP too; the environment is visible to tests.
    let requested = kasm.request_kasm(user, image.image_id, &env("e2e")).await.unwrap();
    let listed: Value = http.get(format!("{base}/__sim/sessions")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed[0]["kasm_id"].as_str().unwrap(), requested.kasm_id.to_string());
    assert_eq!(listed[0]["environment"]["EZSCALE_WORKSPACE_ID"], "e2e");
    let url = format!("{base}/__sim/sessions/{}/kill", requested.kasm_id.hyphenated());
    assert_eq!(http.post(&url).send().await.unwrap().status().as_u16(), 200);
    assert_eq!(sim.session_count(), 0);
    assert_eq!(http.post(&url).send().await.unwrap().status().as_u16(), 404);
}

#[tokio::test]
async fn a_killed_session_vanishes_and_its_end_is_in_the_session_history() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, image) = alice(&kasm).await;
    let requested = kasm.request_kasm(user, image.image_id, &env("k")).await.unwrap();
    sim.kill_session(requested.kasm_id.0);
    assert_eq!(status_of(&kasm, requested.kasm_id).await, None);
    let history = kasm.get_session_history(Some(requested.kasm_id), 1, 10).await.unwrap();
    assert_eq!(history.total, Some(1));
    assert!(history.sessions[0].destroyed_date.is_some());
    // Destroying it afterwards is still fine.
    kasm.destroy_kasm(requested.kasm_id, user).await.unwrap();
}

#[tokio::test]
async fn a_session_stopped_in_kasm_shows_as_stopped() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, image) = alice(&kasm).await;
    let requested = kasm.request_kasm(user, image.image_id, &env("s")).await.unwrap();
    tokio::time::sleep(START + SLACK).await;
    sim.stop_session_remotely(requested.kasm_id.0);
    assert_eq!(status_of(&kasm, requested.kasm_id).await, Some(KasmStatus::Stopping));
    tokio::time::sleep(STOP + SLACK).await;
    assert_eq!(status_of(&kasm, requested.kasm_id).await, Some(KasmStatus::Stopped));
    assert_eq!(sim.session_status(requested.kasm_id.0), Some("stopped"));
}

#[tokio::test]
async fn stopping_a_stopped_session_is_a_business_error_in_kasms_words() {
    let (_sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, image) = alice(&kasm).await;
    let requested = kasm.request_kasm(user, image.image_id, &env("s")).await.unwrap();
    // Still starting: neither stop nor resume is allowed.
    let err = kasm.stop_kasm(requested.kasm_id, user).await.unwrap_err();
    assert!(matches!(&err, KasmError::Business(m) if m == "Session is not in a valid state to be stopped"));
    assert_eq!(err.business_kind(), Some(KasmBusinessKind::InvalidState));
    let err = kasm.resume_kasm(requested.kasm_id, user).await.unwrap_err();
    assert!(matches!(&err, KasmError::Business(m) if m.ends_with("is in status (starting) and cannot be resumed")));
}

#[tokio::test]
async fn destroying_a_session_that_never_existed_is_ok() {
    let (_sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, _) = alice(&kasm).await;
    kasm.destroy_kasm(KasmId::new_v4(), user).await.unwrap();
}

#[tokio::test]
async fn disabled_images_are_listed_but_cannot_be_requested() {
    let (_sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, _) = alice(&kasm).await;
    let retired = image(&kasm, "kasmweb/retired:1.14.0").await;
    assert!(!retired.enabled);
    let err = kasm.request_kasm(user, retired.image_id, &env("r")).await.unwrap_err();
    assert!(matches!(&err, KasmError::Business(m) if m == "Image Not Authorized"), "{err:?}");
    let unknown = kasm.request_kasm(user, app::backend::clients::kasm::KasmImageId::new_v4(), &env("r")).await;
    assert!(matches!(unknown, Err(KasmError::Business(m)) if m == "No Default Image Found"));
}

#[tokio::test]
async fn an_unknown_user_id_is_a_bad_request() {
    let (_sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let image = image(&kasm, "kasmweb/vs-code:1.16.0").await;
    let err = kasm.request_kasm(KasmUserId::new_v4(), image.image_id, &env("u")).await.unwrap_err();
    assert!(matches!(&err, KasmError::BadRequest { status: 400, message } if message.starts_with("Invalid user_id")));
}

#[tokio::test]
async fn get_kasm_status_says_not_ready_then_hands_out_a_fresh_link() {
    let (_sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, image) = alice(&kasm).await;
    let requested = kasm.request_kasm(user, image.image_id, &env("st")).await.unwrap();
    // While starting, the simulator answers in Kasm 1.18's shape: no `kasm` object, no error, the state at
    // the top level.
    let ids = json!({"kasm_id": requested.kasm_id.to_string(), "user_id": user.to_string()});
    let (code, body) = raw(&base, "get_kasm_status", ids).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["kasm_id"], requested.kasm_id.to_string().replace('-', ""));
    assert_eq!((&body["status"], &body["operational_status"]), (&json!("starting"), &json!("starting")));
    assert!(body["operational_progress"].as_u64().is_some_and(|p| p <= 100), "{body}");
    assert_eq!(body["operational_message"], "Starting the session");
    assert!(body.get("kasm").is_none() && body.get("error_message").is_none(), "{body}");
    // …which the client reads as "not ready", never as a failure.
    match kasm.get_kasm_status(requested.kasm_id, user).await.unwrap() {
        KasmStatusReply::NotReady { status, progress, message } => {
            assert_eq!(status, Some(KasmStatus::Starting));
            assert!(progress.is_some_and(|p| p <= 100), "{progress:?}");
            assert_eq!(message, "Starting the session");
        }
        other => panic!("expected NotReady, got {other:?}"),
    }
    tokio::time::sleep(START + SLACK).await;
    let link = match kasm.get_kasm_status(requested.kasm_id, user).await.unwrap() {
        KasmStatusReply::Running { session, kasm_url, .. } => {
            assert_eq!(session.kasm_id, requested.kasm_id);
            assert_eq!(session.status, KasmStatus::Running);
            kasm_url
        }
        other => panic!("expected Running, got {other:?}"),
    };
    assert_ne!(link, requested.kasm_url, "the token rotates");
    assert!(kasm.connect_url(&link).starts_with(&format!("{base}/#/connect/kasm/")));
    assert_eq!(kasm.get_kasm_status(KasmId::new_v4(), user).await.unwrap(), KasmStatusReply::NotFound);
}

// ---- user management -------------------------------------------------------------------------------------

/// POSTs straight to the simulator (no client), to see exactly what Kasm answers.
async fn raw(base: &str, endpoint: &str, mut body: Value) -> (u16, Value) {
    body["api_key"] = json!("sim-key");
    body["api_key_secret"] = json!("sim-secret");
    let resp = reqwest::Client::new().post(format!("{base}/api/public/{endpoint}")).json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn raw_user(base: &str, user: KasmUserId) -> Value {
    let (status, body) = raw(base, "get_user", json!({"target_user": {"user_id": user.to_string()}})).await;
    assert_eq!(status, 200, "{body}");
    body["user"].clone()
}

#[tokio::test]
async fn update_user_changes_the_user_and_always_sends_the_username() {
    let (_sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let created = kasm.create_user("alice", "pw", "Alice", "Liddell").await.unwrap();

    let updated = kasm
        .update_user(created.user_id, "alice", "Alicia", "L.", Some("n3w-Passw0rd"), Some(true), None)
        .await
        .unwrap();
    assert_eq!(updated, created, "same id, same username");
    let seen = raw_user(&base, created.user_id).await;
    assert_eq!((seen["first_name"].as_str(), seen["last_name"].as_str()), (Some("Alicia"), Some("L.")));
    assert_eq!((seen["disabled"].as_bool(), seen["locked"].as_bool()), (Some(true), Some(false)));

    // None leaves a flag alone; a new username sticks.
    let renamed = kasm.update_user(created.user_id, "alice2", "Alicia", "L.", None, None, Some(true)).await.unwrap();
    assert_eq!(renamed.username, "alice2");
    let seen = raw_user(&base, created.user_id).await;
    assert_eq!((seen["disabled"].as_bool(), seen["locked"].as_bool()), (Some(true), Some(true)));

    // The 1.15 quirk the client works around: without `username` the update is refused.
    let (status, body) =
        raw(&base, "update_user", json!({"target_user": {"user_id": created.user_id.to_string(), "locked": false}}))
            .await;
    assert_eq!((status, body), (400, json!({"error_message": "Username is not present"})));

    let unknown = KasmUserId::new_v4();
    let err = kasm.update_user(unknown, "ghost", "G", "H", None, None, None).await.unwrap_err();
    let expected = format!("Unknown user ({unknown})");
    assert!(matches!(&err, KasmError::BadRequest { status: 400, message } if *message == expected), "{err:?}");
}

#[tokio::test]
async fn delete_user_needs_force_while_sessions_live_and_is_idempotent() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, image) = alice(&kasm).await;
    let first = kasm.request_kasm(user, image.image_id, &env("d1")).await.unwrap();
    kasm.request_kasm(user, image.image_id, &env("d2")).await.unwrap();

    let err = kasm.delete_user(user, false).await.unwrap_err();
    match &err {
        KasmError::BadRequest { status: 400, message } => {
            assert_eq!(message, "Users contains (2) kasms and 'force' option not set to True")
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(sim.session_count(), 2, "a refused delete destroys nothing");

    kasm.delete_user(user, true).await.unwrap();
    assert_eq!(sim.session_count(), 0);
    assert_eq!(kasm.get_user_by_username("alice").await.unwrap(), None);
    let history = kasm.get_session_history(Some(first.kasm_id), 1, 10).await.unwrap();
    assert_eq!(history.sessions[0].destroy_reason.as_deref(), Some("admin_destroyed"));
    assert!(history.sessions[0].destroyed_date.is_some());

    // Gone already: the simulator answers Kasm's 400, the client calls it done.
    let (status, body) = raw(&base, "delete_user", json!({"target_user": {"user_id": user.to_string()}})).await;
    assert_eq!((status, body), (400, json!({"error_message": format!("Unknown user ({user})")})));
    kasm.delete_user(user, false).await.unwrap();
    kasm.delete_user(KasmUserId::new_v4(), true).await.unwrap();
}

#[tokio::test]
async fn get_login_returns_an_absolute_link_on_the_host_it_was_called_on() {
    let (_sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let (user, _) = alice(&kasm).await;
    let url = kasm.get_login(user).await.unwrap();
    let prefix = format!("{base}/#/connect/login/dash/{user}/");
    assert!(url.starts_with(&prefix), "{url} should start with {prefix}");
    assert!(url.len() > prefix.len(), "carries a session token: {url}");
    assert_ne!(kasm.get_login(user).await.unwrap(), url, "a fresh token per call");

    let unknown = KasmUserId::new_v4();
    let err = kasm.get_login(unknown).await.unwrap_err();
    let expected = format!("No user found with id: ({unknown})");
    assert!(matches!(&err, KasmError::BadRequest { status: 400, message } if *message == expected), "{err:?}");
}

// ---- groups ----------------------------------------------------------------------------------------------

#[tokio::test]
async fn groups_are_listed_with_the_built_ins_and_one_per_plan() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client(&base);
    let groups = kasm.get_groups().await.unwrap();
    let id_of = |name: &str| groups.iter().find(|g| g.name == name).map(|g| g.group_id);
    for name in [
        "All Users",
        "Administrators",
        "EZSCALE Developer Basic",
        "EZSCALE Developer Pro",
        "EZSCALE Developer Enterprise",
        "EZSCALE Business Basic",
        "EZSCALE Business Pro",
        "EZSCALE Business Enterprise",
    ] {
        assert_eq!(id_of(name), sim.group_id(name).map(KasmGroupId), "{name}");
    }
    assert_eq!(groups.len(), 8);
}

#[tokio::test]
async fn with_enforcement_a_plan_group_is_what_authorises_its_image() {
    let (sim, base) = start_sim(SimConfig { enforce_image_groups: true, ..fast() }).await;
    let kasm = client(&base);
    let (user, image) = alice(&kasm).await;
    let err = kasm.request_kasm(user, image.image_id, &env("g")).await.unwrap_err();
    assert!(matches!(&err, KasmError::Business(m) if m == "Image Not Authorized"), "{err:?}");
    assert_eq!(err.business_kind(), Some(KasmBusinessKind::ImageUnavailable));

    let basic = KasmGroupId(sim.group_id("EZSCALE Developer Basic").unwrap());
    kasm.add_user_group(user, basic).await.unwrap();
    kasm.add_user_group(user, basic).await.unwrap();
    let groups = raw_user(&base, user).await["groups"].clone();
    assert_eq!(groups.as_array().unwrap().len(), 2, "All Users + the plan, once: {groups}");
    kasm.request_kasm(user, image.image_id, &env("g")).await.unwrap();

    // Another plan's image stays out of reach.
    let pro = image_named(&kasm, "kasmweb/developer-pro:1.16.0").await;
    let refused = kasm.request_kasm(user, pro, &env("g")).await;
    assert!(matches!(&refused, Err(KasmError::Business(m)) if m == "Image Not Authorized"), "{refused:?}");

    kasm.remove_user_group(user, basic).await.unwrap();
    kasm.remove_user_group(user, basic).await.unwrap();
    let err = kasm.request_kasm(user, image.image_id, &env("g")).await.unwrap_err();
    assert_eq!(err.business_kind(), Some(KasmBusinessKind::ImageUnavailable), "{err:?}");

    let err = kasm.add_user_group(KasmUserId::new_v4(), basic).await.unwrap_err();
    assert!(matches!(err, KasmError::BadRequest { status: 400, .. }), "{err:?}");
}

async fn image_named(client: &KasmClient, name: &str) -> app::backend::clients::kasm::KasmImageId {
    image(client, name).await.image_id
}

// ---- circuit breaker -------------------------------------------------------------------------------------

const COOL_DOWN: Duration = Duration::from_millis(250);

fn breaker(failure_threshold: u32) -> BreakerConfig {
    BreakerConfig { failure_threshold, window: Duration::from_secs(60), cool_down: COOL_DOWN }
}

#[tokio::test]
async fn the_breaker_opens_after_repeated_5xx_fails_fast_then_closes_after_a_good_trial() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client(&base).with_breaker(breaker(3));
    for status in [500, 503, 502] {
        sim.inject(Fault::HttpStatus { endpoint: "get_kasms".into(), status });
    }
    for _ in 0..3 {
        assert_eq!(kasm.breaker_state(), BreakerState::Closed);
        assert!(matches!(kasm.get_kasms().await, Err(KasmError::Server { .. })));
    }
    assert_eq!(kasm.breaker_state(), BreakerState::Open);

    // Open: every endpoint fails fast, and nothing reaches Kasm.
    let calls = sim.api_call_count();
    for _ in 0..5 {
        let err = kasm.get_images().await.unwrap_err();
        assert!(matches!(err, KasmError::CircuitOpen { .. }), "{err:?}");
        assert!(err.is_retryable());
        assert_eq!(err.user_message(), "The workspace service is temporarily unavailable. Please try again shortly.");
    }
    assert!(matches!(kasm.delete_user(KasmUserId::new_v4(), true).await, Err(KasmError::CircuitOpen { .. })));
    assert_eq!(sim.api_call_count(), calls, "no HTTP call while open");

    // After the cool-down one trial goes out; its success closes the breaker.
    tokio::time::sleep(COOL_DOWN + SLACK).await;
    assert_eq!(kasm.breaker_state(), BreakerState::HalfOpen);
    kasm.get_kasms().await.unwrap();
    assert_eq!(sim.api_call_count(), calls + 1);
    assert_eq!(kasm.breaker_state(), BreakerState::Closed);
    kasm.get_images().await.unwrap();
}

#[tokio::test]
async fn a_failed_trial_reopens_the_breaker_for_another_cool_down() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client(&base).with_breaker(breaker(1));
    sim.inject(Fault::HttpStatus { endpoint: "*".into(), status: 500 });
    sim.inject(Fault::HttpStatus { endpoint: "*".into(), status: 500 });
    assert!(matches!(kasm.get_kasms().await, Err(KasmError::Server { status: 500 })));
    assert_eq!(kasm.breaker_state(), BreakerState::Open);
    tokio::time::sleep(COOL_DOWN + SLACK).await;
    assert!(matches!(kasm.get_kasms().await, Err(KasmError::Server { status: 500 })), "the trial fails");
    assert_eq!(kasm.breaker_state(), BreakerState::Open);
    assert!(matches!(kasm.get_kasms().await, Err(KasmError::CircuitOpen { .. })));
    tokio::time::sleep(COOL_DOWN + SLACK).await;
    kasm.get_kasms().await.unwrap();
    assert_eq!(kasm.breaker_state(), BreakerState::Closed);
}

#[tokio::test]
async fn timeouts_and_refused_connections_open_the_breaker_too() {
    let (sim, base) = start_sim(fast()).await;
    let kasm =
        client_with(&base, "sim-secret", KasmAuthStyle::JsonBody, Duration::from_millis(200)).with_breaker(breaker(2));
    for _ in 0..2 {
        sim.inject(Fault::Latency { endpoint: "get_kasms".into(), delay: Duration::from_millis(600) });
        assert!(matches!(kasm.get_kasms().await, Err(KasmError::Timeout)));
    }
    assert!(matches!(kasm.get_kasms().await, Err(KasmError::CircuitOpen { .. })));

    let (_held, refused) = common::refusing_addr();
    let port = refused.port();
    let dead = client(&format!("http://127.0.0.1:{port}")).with_breaker(breaker(2));
    for _ in 0..2 {
        assert!(matches!(dead.get_kasms().await, Err(KasmError::Transport(_))));
    }
    assert_eq!(dead.breaker_state(), BreakerState::Open);
    assert!(matches!(dead.get_kasms().await, Err(KasmError::CircuitOpen { .. })));
}

#[tokio::test]
async fn business_errors_and_4xx_never_open_the_breaker() {
    let (sim, base) = start_sim(fast()).await;
    let kasm = client(&base).with_breaker(breaker(2));
    let (user, image) = alice(&kasm).await;
    for _ in 0..4 {
        sim.inject(Fault::BusinessError {
            endpoint: "request_kasm".into(),
            message: "No resources are available to create the requested Kasm".into(),
        });
        assert!(matches!(kasm.request_kasm(user, image.image_id, &env("b")).await, Err(KasmError::Business(_))));
    }
    for status in [400, 401, 403, 404, 429, 400] {
        sim.inject(Fault::HttpStatus { endpoint: "get_kasms".into(), status });
        assert!(kasm.get_kasms().await.is_err());
    }
    // Real refusals from the simulator's rules, too.
    for _ in 0..3 {
        assert!(matches!(kasm.get_login(KasmUserId::new_v4()).await, Err(KasmError::BadRequest { .. })));
    }
    assert_eq!(kasm.breaker_state(), BreakerState::Closed);
    let wrong = client_with(&base, "wrong", KasmAuthStyle::JsonBody, Duration::from_secs(5)).with_breaker(breaker(2));
    for _ in 0..4 {
        assert!(matches!(wrong.get_images().await, Err(KasmError::Unauthorized { .. })));
    }
    assert_eq!(wrong.breaker_state(), BreakerState::Closed);

    // A failure streak is broken by any answer: 5xx, refusal, 5xx does not open a threshold-2 breaker.
    sim.inject(Fault::HttpStatus { endpoint: "get_kasms".into(), status: 500 });
    sim.inject(Fault::HttpStatus { endpoint: "get_kasms".into(), status: 400 });
    sim.inject(Fault::HttpStatus { endpoint: "get_kasms".into(), status: 500 });
    for _ in 0..3 {
        assert!(kasm.get_kasms().await.is_err());
    }
    assert_eq!(kasm.breaker_state(), BreakerState::Closed);
}

// ---- the API secret stays secret -------------------------------------------------------------------------

/// Everything the test subscriber writes.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Captures every event of this thread (the test runtime, the simulator and the HTTP stack all run on it)
/// at the levels `filter` allows, until dropped.
struct LogCapture {
    captured: Captured,
    _default: tracing::subscriber::DefaultGuard,
    /// Never used, only kept alive. With a single live dispatcher, tracing-core computes a callsite's cached
    /// interest against whichever thread first hits it, so a log line first reached by a parallel test
    /// (no subscriber there) would be disabled here too. A second registered dispatcher makes it consult all.
    _companion: tracing::Dispatch,
}

fn capture_logs(filter: &str) -> LogCapture {
    let companion = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    LogCapture { captured, _default: tracing::subscriber::set_default(subscriber), _companion: companion }
}

const SECRET: &str = "zq-Distinctive-Secret-7f3a9c";
const WRONG_SECRET: &str = "zq-Wrong-Secret-51b0e2";

#[tokio::test]
async fn the_api_secret_never_appears_in_logs_or_errors() {
    let logs = capture_logs("trace");
    let (sim, base) = start_sim(SimConfig { api_secret: SECRET.into(), ..fast() }).await;
    let with =
        |secret: &str, auth| client_with(&base, secret, auth, Duration::from_millis(300)).with_breaker(breaker(3));
    let mut errors = Vec::new();
    for auth in [KasmAuthStyle::JsonBody, KasmAuthStyle::HttpBasic] {
        let kasm = with(SECRET, auth);
        kasm.get_images().await.unwrap();
        // 5xx, a dropped answer, a timeout: the breaker opens, then fails fast.
        sim.inject(Fault::HttpStatus { endpoint: "get_kasms".into(), status: 500 });
        sim.inject(Fault::DropResponseAfterCommit { endpoint: "get_kasms".into() });
        sim.inject(Fault::Latency { endpoint: "get_kasms".into(), delay: Duration::from_millis(700) });
        for _ in 0..4 {
            errors.push(kasm.get_kasms().await.unwrap_err());
        }
        assert!(matches!(errors.last(), Some(KasmError::CircuitOpen { .. })), "{errors:?}");
        // Refusals from the simulator's rules and injected ones.
        let fresh = with(SECRET, auth);
        errors.push(fresh.get_login(KasmUserId::new_v4()).await.unwrap_err());
        fresh.delete_user(KasmUserId::new_v4(), true).await.unwrap();
        sim.inject(Fault::HttpStatus { endpoint: "get_groups".into(), status: 400 });
        errors.push(fresh.get_groups().await.unwrap_err());
        // A wrong secret is refused: neither secret may leak.
        errors.push(with(WRONG_SECRET, auth).get_images().await.unwrap_err());
    }
    let (_held, refused) = common::refusing_addr();
    let port = refused.port();
    let dead =
        client_with(&format!("http://127.0.0.1:{port}"), SECRET, KasmAuthStyle::JsonBody, Duration::from_secs(2));
    errors.push(dead.get_kasms().await.unwrap_err());
    errors.push(dead.health().await.unwrap_err());

    let logs = logs.captured.text();
    assert!(logs.contains("kasm call"), "the capture works: {logs}");
    assert!(logs.contains("circuit breaker opened"), "{logs}");
    let basic_token = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("sim-key:{SECRET}"));
    for needle in [SECRET, WRONG_SECRET, basic_token.as_str()] {
        assert!(!logs.contains(needle), "a log line carries {needle}");
        for e in &errors {
            let (text, debug, user) = (e.to_string(), format!("{e:?}"), e.user_message());
            assert!(!text.contains(needle) && !debug.contains(needle) && !user.contains(needle), "{e:?}");
        }
    }
    assert!(errors.iter().any(|e| matches!(e, KasmError::Unauthorized { .. })));
    assert!(errors.iter().any(|e| matches!(e, KasmError::Timeout)));
    assert!(errors.iter().any(|e| matches!(e, KasmError::Transport(_))));
}

#[tokio::test]
async fn an_answer_echoing_the_secret_is_redacted_before_anyone_sees_it() {
    // Only the client's own events: the simulator logs injected faults, message included, by design.
    let logs = capture_logs("app=trace");
    let (sim, base) = start_sim(SimConfig { api_secret: SECRET.into(), ..fast() }).await;
    let kasm = client_with(&base, SECRET, KasmAuthStyle::JsonBody, Duration::from_secs(5));
    sim.inject(Fault::BusinessError {
        endpoint: "get_images".into(),
        message: format!("Invalid Request: api_key_secret={SECRET}"),
    });
    let err = kasm.get_images().await.unwrap_err();
    match &err {
        KasmError::Business(m) => assert_eq!(m, "Invalid Request: api_key_secret=<redacted>"),
        other => panic!("expected Business, got {other:?}"),
    }
    assert!(!format!("{err:?}").contains(SECRET));
    assert!(!logs.captured.text().contains(SECRET));
    assert!(logs.captured.text().contains("kasm call"), "the client's events are captured");
}

// ---- a Kasm that forgot the customer's user (whole application, both backends) ----------------------------

use crate::common::{self, Backend, TestApp};
use app::backend::platform::audit;
use app::domain::workspace::WorkspaceState;
use app::domain::workspace_view::WorkspaceDetail;

/// The demo customer's Kasm user id, as our database stores it.
async fn stored_kasm_user(app: &TestApp) -> Option<String> {
    let house = app.state.house().await.unwrap();
    sqlx::query_scalar("SELECT kasm_user_id FROM customers WHERE email = $1")
        .bind("demo@ezscale.test")
        .fetch_one(house.db.pool())
        .await
        .unwrap()
}

/// Waits for the workspace to come to rest as Running or Failed (so a failure shows at once, with its reason).
async fn settled(c: &common::Client, id: &str) -> WorkspaceDetail {
    common::eventually(Duration::from_secs(15), &format!("workspace {id} running or failed"), || async {
        let d = common::detail(c, id).await;
        matches!(d.card.state, WorkspaceState::Running | WorkspaceState::Failed).then_some(d)
    })
    .await
}

fn assert_running(d: &WorkspaceDetail) {
    assert_eq!((d.card.state, d.failure.as_deref()), (WorkspaceState::Running, None), "the customer sees no trouble");
}

/// The simulator's owner of the session serving workspace `id`.
async fn session_user(app: &TestApp, id: &str) -> String {
    let sessions: Value =
        reqwest::get(format!("http://{}/__sim/sessions", app.sim_addr)).await.unwrap().json().await.unwrap();
    let session = sessions.as_array().unwrap().iter().find(|s| s["environment"]["EZSCALE_WORKSPACE_ID"] == id);
    session.unwrap()["user_id"].as_str().unwrap().to_owned()
}

async fn a_kasm_that_forgot_the_customer_gets_the_user_back_and_the_order_runs(b: Backend) {
    let app = TestApp::spawn(b).await;
    let c = app.demo().await;
    let first = common::order(&c, "developer-basic").await;
    assert_running(&settled(&c, &first).await);
    let _: WorkspaceDetail = c.call("stop_workspace", &[("id", &first)]).await.unwrap();
    // The stop may have been handed to the job worker (it can still hold the workspace's lease).
    common::until_state(&c, &first, WorkspaceState::Stopped).await;
    let original = stored_kasm_user(&app).await.expect("the customer has a Kasm user");
    let original_id = uuid::Uuid::parse_str(&original).unwrap();

    // Kasm's admin deletes the user (its stopped session goes with it); our database still names it.
    assert!(app.sim.delete_user(original_id));
    assert!(!app.sim.has_user(original_id));

    // Starting the stopped workspace again: the session and the user are gone; provisioning re-creates both.
    let started = c.call::<WorkspaceDetail>("start_workspace", &[("id", &first)]).await;
    assert!(started.is_ok(), "{started:?}");
    assert_running(&settled(&c, &first).await);
    let healed = stored_kasm_user(&app).await.unwrap();
    assert_ne!(healed, original, "the new Kasm user's id is stored");
    let healed_id = uuid::Uuid::parse_str(&healed).unwrap();
    assert!(app.sim.has_user(healed_id));
    assert_eq!(session_user(&app, &first).await, healed_id.simple().to_string());

    // Forgotten again (the running workspace's session goes too): a new order heals it the same way.
    assert!(app.sim.delete_user(healed_id));
    let second = common::order(&c, "business-basic").await;
    assert_running(&settled(&c, &second).await);
    let again = stored_kasm_user(&app).await.unwrap();
    assert!(again != healed && again != original, "{again}");
    assert_eq!(session_user(&app, &second).await, uuid::Uuid::parse_str(&again).unwrap().simple().to_string());

    // Each re-creation is in the audit log, as a system action of the customer's storefront.
    let house = app.state.house().await.unwrap();
    let filter = audit::Filter { tenant: Some(house.id), action: "kasm.user_recreated".into(), actor: String::new() };
    let entries = audit::list(app.state.central(), &filter, 10).await.unwrap();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert!(entries.iter().all(|e| e.actor_kind.as_str() == "system"), "{entries:?}");
    assert!(entries[0].detail.contains(&healed) && entries[0].detail.contains(&again), "{entries:?}");
    assert!(entries[1].detail.contains(&original) && entries[1].detail.contains(&healed), "{entries:?}");
    app.stop().await;
}
on_both_backends!(a_kasm_that_forgot_the_customer_gets_the_user_back_and_the_order_runs);
