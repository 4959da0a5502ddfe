//! The Kasm simulator driven over HTTP by the real Kasm client: proves the client speaks the contract and the
//! simulator answers with Kasm's quirks. Run with `cargo test -p server --test kasm_sim`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use app::backend::kasm::{
    KasmAuthStyle, KasmBusinessKind, KasmClient, KasmConfig, KasmError, KasmId, KasmImage, KasmStatus, KasmStatusReply,
    KasmUserId,
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
    // Bind and drop a listener to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
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
    let unknown = kasm.request_kasm(user, app::backend::kasm::KasmImageId::new_v4(), &env("r")).await;
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
    match kasm.get_kasm_status(requested.kasm_id, user).await.unwrap() {
        KasmStatusReply::NotReady { status, message } => {
            assert_eq!(status, Some(KasmStatus::Starting));
            assert_eq!(message, "This session is currently starting.");
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
