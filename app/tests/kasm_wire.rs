//! The real Kasm client (`app::backend::clients::kasm::KasmClient`) against wiremock fixtures shaped like the Kasm
//! API as Kasm documents it (1.x): the exact requests it sends, how it reads Kasm's quirky answers, its error
//! classes, its timeout, its circuit breaker and its secrecy. The simulator tests (`server/tests/integration/kasm_sim.rs`)
//! cover behaviour over a whole session lifecycle; these pin the wire format down byte by byte.
//!
//! Run with `cargo test -p app --features ssr --test kasm_wire` (add `-- --nocapture` to see the measured
//! timeout and breaker figures).

#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::backend::clients::kasm::{
    BreakerConfig, BreakerState, KasmAuthStyle, KasmBusinessKind, KasmClient, KasmConfig, KasmError, KasmGroupId,
    KasmId, KasmImageId, KasmStatus, KasmStatusReply, KasmUserId,
};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "wire-key-7f3a";
const SECRET: &str = "wire-secret-Zq9x4t";
/// `Basic base64("wire-key-7f3a:wire-secret-Zq9x4t")`, computed independently of the client.
const BASIC: &str = "Basic d2lyZS1rZXktN2YzYTp3aXJlLXNlY3JldC1acTl4NHQ=";

// Ids in Kasm's usual undashed spelling, with their dashed twins.
const USER_HEX: &str = "e60a9c80289a4b3aaedb42f1d5fe8060";
const USER_DASHED: &str = "e60a9c80-289a-4b3a-aedb-42f1d5fe8060";
const IMAGE_HEX: &str = "50faa5439c574b518cd868dac9256e4b";
const IMAGE_DASHED: &str = "50faa543-9c57-4b51-8cd8-68dac9256e4b";
const KASM_HEX: &str = "4fa42139aef34c579b1e0d1f0c6f2a10";
const KASM_DASHED: &str = "4fa42139-aef3-4c57-9b1e-0d1f0c6f2a10";
const GROUP_HEX: &str = "68d557ac4cac42cca9f31c7c853de0f3";
const KASM2_HEX: &str = "0c6b6a4cf0c54b6e8a4bdd0d8e3f9a21";
const SESSION_TOKEN: &str = "2d0ec7f5-7e4b-4d6e-9a0c-7d3c2b1a0f9e";

/// 2024-05-06 07:08:09 UTC, in seconds since the epoch (computed independently of the client).
const T_070809: i64 = 1_714_979_289;
const T_071011: i64 = 1_714_979_411;
const T_081011: i64 = 1_714_983_011;
const T_065958: i64 = 1_714_978_798;
const T_090000: i64 = 1_714_986_000;
const T_103000: i64 = 1_714_991_400;

fn user_id() -> KasmUserId {
    KasmUserId::parse(USER_HEX).unwrap()
}
fn image_id() -> KasmImageId {
    KasmImageId::parse(IMAGE_HEX).unwrap()
}
fn kasm_id() -> KasmId {
    KasmId::parse(KASM_HEX).unwrap()
}
fn group_id() -> KasmGroupId {
    KasmGroupId::parse(GROUP_HEX).unwrap()
}

fn config(base: &str, auth: KasmAuthStyle, timeout: Duration) -> KasmConfig {
    KasmConfig {
        base_url: base.to_owned(),
        api_key: KEY.into(),
        api_secret: SECRET.into(),
        auth,
        timeout,
        insecure_skip_tls_verify: false,
        ca_pem: None,
    }
}

/// A client whose breaker never opens, so error-class tests can fail as often as they like.
fn client_with(base: &str, auth: KasmAuthStyle, timeout: Duration) -> KasmClient {
    KasmClient::new(config(base, auth, timeout)).unwrap().with_breaker(BreakerConfig::disabled())
}

fn client(server: &MockServer) -> KasmClient {
    client_with(&server.uri(), KasmAuthStyle::JsonBody, Duration::from_secs(5))
}

fn basic_client(server: &MockServer) -> KasmClient {
    client_with(&server.uri(), KasmAuthStyle::HttpBasic, Duration::from_secs(5))
}

/// Answers every POST to `url_path` with `template`, and expects exactly `times` of them.
async fn answer(server: &MockServer, url_path: &str, template: ResponseTemplate, times: u64) {
    Mock::given(method("POST")).and(path(url_path)).respond_with(template).expect(times).mount(server).await;
}

/// Answers POST `/api/public/<endpoint>` once with `status` and a JSON body.
async fn reply(server: &MockServer, endpoint: &str, status: u16, body: Value) {
    answer(server, &format!("/api/public/{endpoint}"), ResponseTemplate::new(status).set_body_json(body), 1).await;
}

/// Answers POST `/api/public/<endpoint>` once with `status` and a raw body of the given content type.
async fn reply_raw(server: &MockServer, endpoint: &str, status: u16, body: &[u8], mime: &str) {
    let template = ResponseTemplate::new(status).set_body_raw(body.to_vec(), mime);
    answer(server, &format!("/api/public/{endpoint}"), template, 1).await;
}

/// Every request the server received.
async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("request recording is on")
}

/// The only request the server received.
async fn only_request(server: &MockServer) -> Request {
    let mut all = requests(server).await;
    assert_eq!(all.len(), 1, "expected exactly one request, got {}", all.len());
    all.remove(0)
}

fn json_body(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("the client sends JSON")
}

/// `fields` plus the two credential fields every body-auth request carries.
fn with_credentials(mut fields: Value) -> Value {
    let map = fields.as_object_mut().expect("an object");
    map.insert("api_key".into(), json!(KEY));
    map.insert("api_key_secret".into(), json!(SECRET));
    fields
}

/// A body-auth request: POST, JSON, the exact path, the exact body (credentials included), no auth header.
fn assert_body_auth_request(request: &Request, endpoint: &str, fields: Value) {
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), format!("/api/public/{endpoint}"));
    assert_eq!(request.url.query(), None);
    let content_type = request.headers.get("content-type").and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("application/json"));
    assert!(request.headers.get("authorization").is_none(), "body auth sends no Authorization header");
    assert_eq!(json_body(request), with_credentials(fields), "body of {endpoint}");
}

fn millis(secs: i64) -> i64 {
    secs * 1000
}

/// Every character as a JSON `\uXXXX` escape: valid JSON that never contains `s` byte for byte.
fn json_escaped(s: &str) -> String {
    s.chars().map(|c| format!("\\u{:04x}", u32::from(c))).collect()
}

/// True when any 8-character run of the secret shows up (a truncated secret is still a leak).
fn leaks_secret(text: &str) -> bool {
    let chars: Vec<char> = SECRET.chars().collect();
    chars.windows(8).any(|w| text.contains(&w.iter().collect::<String>()))
}

// ---- fixtures: realistic bodies in the shapes the contract documents ----------------------------------------

/// `create_user` / `update_user` reply, as in the docs' example (new user in "All Users").
fn user_fixture(user_id: &str, username: &str) -> Value {
    json!({"user": {
        "user_id": user_id,
        "username": username,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "",
        "organization": "",
        "realm": "local",
        "last_session": null,
        "notes": "",
        "groups": [{"name": "All Users", "group_id": GROUP_HEX}],
        "disabled": false,
        "locked": false
    }})
}

/// `get_user` reply: the create fields plus the live kasms and the extra profile fields, some as `"None"`.
fn get_user_fixture() -> Value {
    json!({"user": {
        "user_id": USER_DASHED,
        "username": "ada@acme.test",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "phone": "",
        "organization": "Acme",
        "realm": "local",
        "last_session": "2024-05-06 07:08:09.123456",
        "notes": "",
        "groups": [{"name": "All Users", "group_id": GROUP_HEX}],
        "disabled": false,
        "locked": false,
        "kasms": [{
            "kasm_id": KASM_HEX,
            "start_date": "2024-05-06 07:08:09",
            "keepalive_date": "2024-05-06 07:10:11.000412",
            "expiration_date": "2024-05-06 08:10:11.000412",
            "server": {"server_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "hostname": "agent-1.internal", "port": 443}
        }],
        "two_factor": false,
        "program_id": null,
        "created": "2024-05-06 06:59:58.120003",
        "password_set_date": "None",
        "city": "", "state": "", "country": "", "email": "ada@acme.test",
        "custom_attribute_1": "", "custom_attribute_2": "", "custom_attribute_3": ""
    }})
}

/// One live session as `get_kasms` normalises it (big, mostly ignored by the client).
fn session_fixture(kasm_id: &str, user_id: &str, image_id: &str, status: &str) -> Value {
    json!({
        "kasm_id": kasm_id,
        "user_id": user_id,
        "image_id": image_id,
        "operational_status": status,
        "operational_message": "Session running",
        "operational_progress": 100,
        "start_date": "2024-05-06 07:08:09.123456",
        "created_date": "2024-05-06 07:08:09",
        "keepalive_date": "None",
        "expiration_date": null,
        "container_id": "9f1c2e3d4b5a69788796a5b4c3d2e1f0aabbccddeeff00112233445566778899",
        "container_ip": "172.18.0.7",
        "server_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
        "host": "agent-1.internal",
        "hostname": "agent-1.internal",
        "port": 443,
        "cores": 2.0,
        "memory": 2_768_000_000_u64,
        "share_id": null,
        "token": "",
        "view_only_token": "",
        "point_of_presence": null,
        "docker_network": "kasm_default_network",
        "is_persistent_profile": false,
        "persistent_profile_mode": null,
        "port_map": {"vnc": {"port": 6901, "path": "vnc"}, "audio": {"port": 4901, "path": "audio"}},
        "image": {
            "image_id": image_id,
            "name": "kasmweb/vs-code:1.16.0",
            "friendly_name": "VS Code",
            "image_src": "img/thumbnails/vs-code.png",
            "session_time_limit": null,
            "categories": ["Development"],
            "default_category": "Development",
            "image_type": "Container"
        },
        "client_settings": {"allow_kasm_audio": true, "idle_disconnect": 20.0, "allow_kasm_sharing": false},
        "user": {"username": "ada@acme.test"},
        "server": {"hostname": "agent-1.internal", "port": 443, "provider": null, "zone_name": "default"},
        "a_field_from_a_future_release": {"nested": [1, 2, 3]}
    })
}

fn image_fixture(image_id: &str, name: &str, friendly: &str, enabled: bool) -> Value {
    json!({
        "image_id": image_id,
        "name": name,
        "friendly_name": friendly,
        "description": "A full desktop in the browser",
        "enabled": enabled,
        "available": true,
        "cores": 2.0,
        "memory": 2_768_000_000_u64,
        "x_res": 1280,
        "y_res": 720,
        "image_src": "img/thumbnails/x.png",
        "categories": ["Development"],
        "default_category": "Development",
        "session_time_limit": null,
        "image_type": "Container",
        "hidden": false,
        "zone_id": null,
        "zone_name": null,
        "restrict_to_zone": false,
        "restrict_to_server": false,
        "server_id": null,
        "server_pool_id": null,
        "run_config": {"hostname": "kasm"},
        "exec_config": {},
        "volume_mappings": {},
        "persistent_profile_path": "",
        "persistent_profile_config": {},
        "imageAttributes": [],
        "launch_config": null,
        "link_url": null,
        "require_gpu": false,
        "gpu_count": 0,
        "server": {"hostname": null},
        "server_pool": {"server_pool_name": null}
    })
}

/// `request_kasm` reply: dashed kasm_id and session token, undashed user_id, relative connect link.
fn requested_fixture() -> Value {
    json!({
        "kasm_id": KASM_DASHED,
        "status": "starting",
        "user_id": USER_HEX,
        "username": "ada@acme.test",
        "session_token": SESSION_TOKEN,
        "kasm_url": format!("/#/connect/kasm/{KASM_DASHED}/{USER_HEX}/{SESSION_TOKEN}"),
        "share_id": null
    })
}

// ---- request shape -----------------------------------------------------------------------------------------

#[tokio::test]
async fn create_user_posts_the_target_user_with_the_credentials_in_the_body() {
    let server = MockServer::start().await;
    reply(&server, "create_user", 200, user_fixture(USER_HEX, "ada@acme.test")).await;

    let user = client(&server).create_user("ada@acme.test", "pw-7Hs!2kq", "Ada", "Lovelace").await.unwrap();

    assert_eq!(user.user_id, user_id());
    assert_eq!(user.username, "ada@acme.test");
    assert_body_auth_request(
        &only_request(&server).await,
        "create_user",
        json!({"target_user": {
            "username": "ada@acme.test",
            "password": "pw-7Hs!2kq",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "locked": false,
            "disabled": false
        }}),
    );
}

#[tokio::test]
async fn request_kasm_sends_user_image_and_environment_and_reads_the_dashed_reply() {
    let server = MockServer::start().await;
    reply(&server, "request_kasm", 200, requested_fixture()).await;
    let env = BTreeMap::from([
        ("EZSCALE_WORKSPACE_ID".to_owned(), "ws_01HXYZ".to_owned()),
        ("KASM_URL".to_owned(), "https://example.test/start?a=1&b=2".to_owned()),
    ]);

    let requested = client(&server).request_kasm(user_id(), image_id(), &env).await.unwrap();

    assert_body_auth_request(
        &only_request(&server).await,
        "request_kasm",
        json!({
            "user_id": USER_HEX,
            "image_id": IMAGE_HEX,
            "environment": {"EZSCALE_WORKSPACE_ID": "ws_01HXYZ", "KASM_URL": "https://example.test/start?a=1&b=2"}
        }),
    );
    // The dashed kasm_id in the reply is the same id as its undashed spelling.
    assert_eq!(requested.kasm_id, kasm_id());
    assert_eq!(requested.kasm_id.hyphenated(), KASM_DASHED);
    assert_eq!(requested.user_id, user_id());
    assert_eq!(requested.status, KasmStatus::Starting);
    assert_eq!(requested.session_token, SESSION_TOKEN);
    assert_eq!(requested.kasm_url, format!("/#/connect/kasm/{KASM_DASHED}/{USER_HEX}/{SESSION_TOKEN}"));
    // The token stays out of Debug output.
    assert!(!format!("{requested:?}").contains(SESSION_TOKEN));
}

#[tokio::test]
async fn get_kasms_sends_only_the_credentials() {
    let server = MockServer::start().await;
    reply(&server, "get_kasms", 200, json!({"kasms": [], "current_time": "2024-05-06 09:00:00"})).await;

    let list = client(&server).get_kasms().await.unwrap();

    assert!(list.kasms.is_empty());
    assert_eq!(list.current_time.unwrap().as_millis(), millis(T_090000));
    assert_body_auth_request(&only_request(&server).await, "get_kasms", json!({}));
}

#[tokio::test]
async fn destroy_kasm_sends_kasm_and_user_ids_and_accepts_an_empty_object() {
    let server = MockServer::start().await;
    reply(&server, "destroy_kasm", 200, json!({})).await;

    client(&server).destroy_kasm(kasm_id(), user_id()).await.unwrap();

    assert_body_auth_request(
        &only_request(&server).await,
        "destroy_kasm",
        json!({"kasm_id": KASM_HEX, "user_id": USER_HEX}),
    );
}

#[tokio::test]
async fn get_login_sends_the_target_user_and_returns_the_absolute_link() {
    let server = MockServer::start().await;
    let url = format!("https://kasm.acme.test/#/connect/login/dash/{USER_HEX}/{SESSION_TOKEN}");
    reply(&server, "get_login", 200, json!({ "url": url })).await;

    let link = client(&server).get_login(user_id()).await.unwrap();

    assert_eq!(link, url);
    assert_body_auth_request(&only_request(&server).await, "get_login", json!({"target_user": {"user_id": USER_HEX}}));
}

#[tokio::test]
async fn http_basic_goes_to_the_api_path_with_an_authorization_header_and_no_secret_in_the_body() {
    let server = MockServer::start().await;
    // Anything reaching the body-auth path would be a mistake.
    Mock::given(wiremock::matchers::path_regex("^/api/public/.*"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&server)
        .await;
    answer(&server, "/api/request_kasm", ResponseTemplate::new(200).set_body_json(requested_fixture()), 1).await;
    answer(&server, "/api/get_kasms", ResponseTemplate::new(200).set_body_json(json!({"kasms": []})), 1).await;
    let env = BTreeMap::from([("EZSCALE_WORKSPACE_ID".to_owned(), "ws_1".to_owned())]);
    let client = basic_client(&server);

    let requested = client.request_kasm(user_id(), image_id(), &env).await.unwrap();
    assert_eq!(requested.kasm_id, kasm_id());
    assert!(client.get_kasms().await.unwrap().kasms.is_empty());

    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2);
    for (request, (endpoint, fields)) in sent.iter().zip([
        (
            "request_kasm",
            json!({"user_id": USER_HEX, "image_id": IMAGE_HEX, "environment": {"EZSCALE_WORKSPACE_ID": "ws_1"}}),
        ),
        ("get_kasms", json!({})),
    ]) {
        assert_eq!(request.method.as_str(), "POST");
        assert_eq!(request.url.path(), format!("/api/{endpoint}"));
        let auth = request.headers.get("authorization").and_then(|v| v.to_str().ok());
        assert_eq!(auth, Some(BASIC), "{endpoint}");
        assert_eq!(json_body(request), fields, "{endpoint}: exactly the endpoint's fields, no credentials");
        assert!(!String::from_utf8_lossy(&request.body).contains(SECRET), "{endpoint}: secret in the body");
    }
}

// ---- tolerant parsing --------------------------------------------------------------------------------------

#[tokio::test]
async fn dashed_and_undashed_ids_compare_equal_and_extra_fields_are_ignored() {
    let server = MockServer::start().await;
    let body = json!({
        "current_time": "2024-05-06 09:00:00.000001",
        "kasms": [
            session_fixture(KASM_HEX, USER_HEX, IMAGE_HEX, "running"),
            session_fixture(KASM2_HEX, USER_DASHED, IMAGE_DASHED, "user_delete_pending"),
        ],
        "another_future_field": true
    });
    reply(&server, "get_kasms", 200, body).await;

    let list = client(&server).get_kasms().await.unwrap();

    assert_eq!(list.kasms.len(), 2);
    let (a, b) = (&list.kasms[0], &list.kasms[1]);
    assert_eq!(a.user_id, b.user_id, "dashed and undashed user ids are one user");
    assert_eq!(a.image_id, b.image_id);
    assert_eq!(b.user_id, user_id());
    assert_eq!(b.user_id.to_string(), USER_HEX, "displayed undashed whatever the input");
    assert_eq!(a.kasm_id, kasm_id());
    assert_eq!(a.status, KasmStatus::Running);
    assert_eq!(b.status, KasmStatus::DeletePending);
    assert_eq!(a.username.as_deref(), Some("ada@acme.test"));
    assert_eq!(list.current_time.unwrap().as_millis(), millis(T_090000));
}

#[tokio::test]
async fn naive_utc_timestamps_parse_with_and_without_a_fraction_and_none_is_absent() {
    let server = MockServer::start().await;
    let mut session = session_fixture(KASM_HEX, USER_HEX, IMAGE_HEX, "running");
    session["start_date"] = json!("2024-05-06 07:08:09.123456");
    session["created_date"] = json!("2024-05-06 06:59:58");
    session["keepalive_date"] = json!("None");
    session["expiration_date"] = json!(null);
    reply(&server, "get_user_kasms", 200, json!({"kasms": [session], "current_time": "None"})).await;

    let list = client(&server).get_user_kasms(user_id()).await.unwrap();

    assert_body_auth_request(&only_request(&server).await, "get_user_kasms", json!({"user_id": USER_HEX}));
    let s = &list.kasms[0];
    // Naive strings are UTC; microseconds are truncated to the millisecond.
    assert_eq!(s.start_date.unwrap().as_millis(), millis(T_070809) + 123);
    assert_eq!(s.created_date.unwrap().as_millis(), millis(T_065958));
    assert_eq!(s.keepalive_date, None, "the string \"None\" is an absent date");
    assert_eq!(s.expiration_date, None);
    assert_eq!(list.current_time, None);
}

#[tokio::test]
async fn error_message_and_error_keys_in_a_200_are_business_errors_with_the_message_kept() {
    let server = MockServer::start().await;
    reply(&server, "request_kasm", 200, json!({"error_message": "Kasm limit exceeded for user: (ada@acme.test)"}))
        .await;
    reply(&server, "get_kasms", 200, json!({"error": "Access Denied"})).await;
    reply(&server, "stop_kasm", 200, json!({"error_message": "Session is not in a valid state to be stopped"})).await;
    let client = client(&server);

    let err = client.request_kasm(user_id(), image_id(), &BTreeMap::new()).await.unwrap_err();
    match &err {
        KasmError::Business(m) => assert_eq!(m, "Kasm limit exceeded for user: (ada@acme.test)"),
        other => panic!("expected Business, got {other:?}"),
    }
    assert_eq!(err.business_kind(), Some(KasmBusinessKind::UserSessionLimit));
    assert!(!err.is_retryable());

    let err = client.get_kasms().await.unwrap_err();
    assert!(matches!(&err, KasmError::Business(m) if m == "Access Denied"), "{err:?}");
    assert!(!err.is_retryable());

    let err = client.stop_kasm(kasm_id(), user_id()).await.unwrap_err();
    assert_eq!(err.business_kind(), Some(KasmBusinessKind::InvalidState), "{err:?}");
    assert!(err.to_string().contains("Session is not in a valid state to be stopped"), "{err}");
}

#[tokio::test]
async fn empty_object_and_empty_body_successes_are_ok() {
    let server = MockServer::start().await;
    reply(&server, "pause_kasm", 200, json!({})).await;
    reply_raw(&server, "resume_kasm", 200, b"", "application/json").await;
    reply(&server, "keepalive", 200, json!({})).await;
    let client = client(&server);

    client.pause_kasm(kasm_id(), user_id()).await.unwrap();
    client.resume_kasm(kasm_id(), user_id()).await.unwrap();
    // `{}` is what keepalive answers when a session time limit makes it a no-op: not "usage reached".
    assert!(!client.keepalive(kasm_id()).await.unwrap());
}

#[tokio::test]
async fn html_or_garbage_bodies_are_clear_errors_not_panics() {
    let server = MockServer::start().await;
    let html = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    reply_raw(&server, "get_kasms", 200, html, "text/html").await;
    reply_raw(&server, "get_images", 200, b"[1, 2, 3]", "application/json").await;
    reply_raw(&server, "get_user_kasms", 200, br#"{"kasms": [{"kasm_id": "#, "application/json").await;
    reply_raw(&server, "keepalive", 200, b"\xff\xfe\x00garbage\x80", "application/octet-stream").await;
    reply_raw(&server, "get_login", 502, html, "text/html").await;
    reply_raw(&server, "pause_kasm", 404, html, "text/html").await;
    let client = client(&server);

    let err = client.get_kasms().await.unwrap_err();
    assert!(matches!(&err, KasmError::Decode(m) if m.contains("not JSON")), "{err:?}");
    assert!(!err.to_string().contains("nginx"), "a proxy page is not copied into the error: {err}");

    let err = client.get_images().await.unwrap_err();
    assert!(matches!(&err, KasmError::Decode(m) if m.contains("not an object")), "{err:?}");

    let err = client.get_user_kasms(user_id()).await.unwrap_err();
    assert!(matches!(err, KasmError::Decode(_)), "truncated JSON: {err:?}");

    let err = client.keepalive(kasm_id()).await.unwrap_err();
    assert!(matches!(err, KasmError::Decode(_)), "binary junk: {err:?}");

    let err = client.get_login(user_id()).await.unwrap_err();
    assert!(matches!(err, KasmError::Server { status: 502 }), "{err:?}");

    let err = client.pause_kasm(kasm_id(), user_id()).await.unwrap_err();
    match &err {
        KasmError::BadRequest { status: 404, message } => {
            assert_eq!(message, "HTTP 404 without an error message");
        }
        other => panic!("expected BadRequest 404, got {other:?}"),
    }
}

#[tokio::test]
async fn a_list_reply_without_its_list_is_a_decode_error_not_an_empty_list() {
    let server = MockServer::start().await;
    // A reconciler must never read "no sessions" from a reply that merely lacks the list.
    reply(&server, "get_kasms", 200, json!({"current_time": "2024-05-06 09:00:00"})).await;
    reply(&server, "get_images", 200, json!({})).await;
    reply(&server, "get_session_history", 200, json!({"total": 0})).await;
    let client = client(&server);

    assert!(matches!(client.get_kasms().await, Err(KasmError::Decode(m)) if m.starts_with("get_kasms")));
    assert!(matches!(client.get_images().await, Err(KasmError::Decode(_))));
    assert!(matches!(client.get_session_history(None, 1, 50).await, Err(KasmError::Decode(_))));
}

// ---- every endpoint against a fixture ----------------------------------------------------------------------

#[tokio::test]
async fn get_user_by_username_finds_the_user_and_an_unknown_one_is_none() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/public/get_user"))
        .and(wiremock::matchers::body_partial_json(json!({"target_user": {"username": "ada@acme.test"}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(get_user_fixture()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/public/get_user"))
        .and(wiremock::matchers::body_partial_json(json!({"target_user": {"username": "nobody@acme.test"}})))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error_message": "Invalid Request"})))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);

    let user = client.get_user_by_username("ada@acme.test").await.unwrap().unwrap();
    assert_eq!(user.user_id, user_id(), "the dashed user_id of get_user is the same user");
    assert_eq!(user.username, "ada@acme.test");
    assert_eq!(client.get_user_by_username("nobody@acme.test").await.unwrap(), None);

    let sent = requests(&server).await;
    assert_body_auth_request(&sent[0], "get_user", json!({"target_user": {"username": "ada@acme.test"}}));
}

#[tokio::test]
async fn ensure_user_looks_up_then_creates() {
    let server = MockServer::start().await;
    reply(&server, "get_user", 400, json!({"error_message": "Invalid Request"})).await;
    reply(&server, "create_user", 200, user_fixture(USER_DASHED, "new@acme.test")).await;

    let user = client(&server).ensure_user("new@acme.test", "pw", "New", "User").await.unwrap();

    assert_eq!(user.user_id, user_id());
    let paths: Vec<String> = requests(&server).await.iter().map(|r| r.url.path().to_owned()).collect();
    assert_eq!(paths, ["/api/public/get_user", "/api/public/create_user"]);
}

#[tokio::test]
async fn update_user_sends_the_username_and_only_the_fields_given() {
    let server = MockServer::start().await;
    answer(
        &server,
        "/api/public/update_user",
        ResponseTemplate::new(200).set_body_json(user_fixture(USER_HEX, "ada@acme.test")),
        2,
    )
    .await;
    let client = client(&server);

    let user = client
        .update_user(user_id(), "ada@acme.test", "Ada", "King", Some("n3w-Pass!"), Some(true), None)
        .await
        .unwrap();
    assert_eq!(user.user_id, user_id());
    client.update_user(user_id(), "ada@acme.test", "Ada", "King", None, None, Some(false)).await.unwrap();

    let sent = requests(&server).await;
    assert_body_auth_request(
        &sent[0],
        "update_user",
        json!({"target_user": {
            "user_id": USER_HEX, "username": "ada@acme.test", "first_name": "Ada", "last_name": "King",
            "password": "n3w-Pass!", "disabled": true
        }}),
    );
    assert_body_auth_request(
        &sent[1],
        "update_user",
        json!({"target_user": {
            "user_id": USER_HEX, "username": "ada@acme.test", "first_name": "Ada", "last_name": "King",
            "locked": false
        }}),
    );
}

#[tokio::test]
async fn delete_user_sends_force_and_an_unknown_user_counts_as_deleted() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/public/delete_user"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/public/delete_user"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"error_message": format!("Unknown user ({USER_HEX})")})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/public/delete_user"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error_message": "Users contains (2) kasms and 'force' option not set to True"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server);

    client.delete_user(user_id(), true).await.unwrap();
    client.delete_user(user_id(), true).await.unwrap();
    let err = client.delete_user(user_id(), false).await.unwrap_err();
    assert!(
        matches!(&err, KasmError::BadRequest { status: 400, message } if message.contains("'force' option")),
        "{err:?}"
    );

    let sent = requests(&server).await;
    assert_body_auth_request(&sent[0], "delete_user", json!({"target_user": {"user_id": USER_HEX}, "force": true}));
    assert_body_auth_request(&sent[2], "delete_user", json!({"target_user": {"user_id": USER_HEX}, "force": false}));
}

#[tokio::test]
async fn group_membership_sends_target_user_and_target_group() {
    let server = MockServer::start().await;
    reply(&server, "add_user_group", 200, json!({})).await;
    reply(&server, "remove_user_group", 200, json!({})).await;
    let client = client(&server);

    client.add_user_group(user_id(), group_id()).await.unwrap();
    client.remove_user_group(user_id(), group_id()).await.unwrap();

    let sent = requests(&server).await;
    let fields = json!({"target_user": {"user_id": USER_HEX}, "target_group": {"group_id": GROUP_HEX}});
    assert_body_auth_request(&sent[0], "add_user_group", fields.clone());
    assert_body_auth_request(&sent[1], "remove_user_group", fields);
}

#[tokio::test]
async fn get_groups_lists_groups_from_either_id_spelling() {
    let server = MockServer::start().await;
    reply(
        &server,
        "get_groups",
        200,
        json!({"groups": [
            {"group_id": GROUP_HEX, "name": "All Users", "priority": 1000, "is_system": true, "group_metadata": {}},
            {"group_id": "68d557ac-4cac-42cc-a9f3-1c7c853de0f4", "name": "EZSCALE Developer Basic", "priority": 50}
        ]}),
    )
    .await;

    let groups = client(&server).get_groups().await.unwrap();

    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].group_id, group_id());
    assert_eq!(groups[0].name, "All Users");
    assert_eq!(groups[1].group_id.to_string(), "68d557ac4cac42cca9f31c7c853de0f4");
    assert_body_auth_request(&only_request(&server).await, "get_groups", json!({}));
}

#[tokio::test]
async fn get_images_lists_enabled_and_disabled_images() {
    let server = MockServer::start().await;
    reply(
        &server,
        "get_images",
        200,
        json!({"images": [
            image_fixture(IMAGE_HEX, "kasmweb/vs-code:1.16.0", "VS Code", true),
            image_fixture("a7a7a7a7-b8b8-4c9c-8d0d-e1e1e1e1e1e1", "kasmweb/chrome:1.15.0", "Chrome", false),
            {"image_id": "0a0a0a0a0a0a4b0b8c0c0d0d0e0e0f0f", "name": "kasmweb/terminal:1.16.0"}
        ]}),
    )
    .await;

    let images = client(&server).get_images().await.unwrap();

    assert_body_auth_request(&only_request(&server).await, "get_images", json!({}));
    assert_eq!(images.len(), 3);
    assert_eq!(images[0].image_id, image_id());
    assert_eq!(images[0].name, "kasmweb/vs-code:1.16.0");
    assert_eq!(images[0].friendly_name, "VS Code");
    assert!(images[0].enabled);
    assert_eq!(images[1].image_id.to_string(), "a7a7a7a7b8b84c9c8d0de1e1e1e1e1e1");
    assert!(!images[1].enabled, "disabled images are listed as disabled");
    assert!(!images[2].enabled, "an image Kasm does not call enabled is not offered");
    assert_eq!(images[2].friendly_name, "");
}

#[tokio::test]
async fn stop_pause_resume_send_kasm_and_user_ids() {
    let server = MockServer::start().await;
    for endpoint in ["stop_kasm", "pause_kasm", "resume_kasm"] {
        reply(&server, endpoint, 200, json!({})).await;
    }
    let client = client(&server);

    client.stop_kasm(kasm_id(), user_id()).await.unwrap();
    client.pause_kasm(kasm_id(), user_id()).await.unwrap();
    client.resume_kasm(kasm_id(), user_id()).await.unwrap();

    let sent = requests(&server).await;
    for (request, endpoint) in sent.iter().zip(["stop_kasm", "pause_kasm", "resume_kasm"]) {
        assert_body_auth_request(request, endpoint, json!({"kasm_id": KASM_HEX, "user_id": USER_HEX}));
    }
}

#[tokio::test]
async fn destroy_kasm_of_a_session_that_is_gone_is_ok_but_other_refusals_are_not() {
    let server = MockServer::start().await;
    reply(
        &server,
        "destroy_kasm",
        200,
        json!({"error_message": format!("No session found with kasm_id ({KASM_HEX})")}),
    )
    .await;
    let client = client(&server);
    client.destroy_kasm(kasm_id(), user_id()).await.unwrap();

    server.reset().await;
    reply(&server, "destroy_kasm", 400, json!({"error_message": format!("Invalid kasm_id ({KASM_HEX})")})).await;
    client.destroy_kasm(kasm_id(), user_id()).await.unwrap();

    server.reset().await;
    reply(&server, "destroy_kasm", 200, json!({"error_message": "User is not authorized to issue a delete request"}))
        .await;
    let err = client.destroy_kasm(kasm_id(), user_id()).await.unwrap_err();
    assert!(matches!(&err, KasmError::Business(m) if m.contains("not authorized")), "{err:?}");
}

#[tokio::test]
async fn keepalive_sends_the_kasm_id_and_reports_usage_reached() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/public/keepalive"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"usage_reached": false})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    reply(&server, "keepalive", 200, json!({"usage_reached": true})).await;
    let client = client(&server);

    assert!(!client.keepalive(kasm_id()).await.unwrap());
    assert!(client.keepalive(kasm_id()).await.unwrap());

    assert_body_auth_request(&requests(&server).await[0], "keepalive", json!({"kasm_id": KASM_HEX}));
}

#[tokio::test]
async fn get_kasm_status_reads_running_not_ready_and_not_found() {
    let server = MockServer::start().await;
    let fresh_url = format!("/#/connect/kasm/{KASM_DASHED}/{USER_HEX}/fresh-token-2");
    let mut running = session_fixture(KASM_DASHED, USER_HEX, IMAGE_HEX, "running");
    running["start_date"] = json!("2024-05-06 07:08:09");
    running["keepalive_date"] = json!("2024-05-06 07:10:11.5");
    running["expiration_date"] = json!("2024-05-06 08:10:11");
    let replies = [
        json!({"current_time": "2024-05-06 10:30:00.250000", "kasm_url": fresh_url, "kasm": running}),
        json!({
            "error_message": "This session is currently starting.",
            "operational_status": "starting",
            "operational_progress": 40,
            "operational_message": "Pulling image"
        }),
        json!({"error_message": "Could not find requested Kasm."}),
        json!({"error_message": "Kasm is currently scheduled to be deleted."}),
        json!({"error_message": "Access Denied"}),
    ];
    for body in &replies {
        Mock::given(method("POST"))
            .and(path("/api/public/get_kasm_status"))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
    }
    let client = client(&server);

    match client.get_kasm_status(kasm_id(), user_id()).await.unwrap() {
        KasmStatusReply::Running { session, kasm_url, current_time } => {
            assert_eq!(session.kasm_id, kasm_id());
            assert_eq!(session.status, KasmStatus::Running);
            assert_eq!(session.start_date.unwrap().as_millis(), millis(T_070809));
            assert_eq!(session.keepalive_date.unwrap().as_millis(), millis(T_071011) + 500);
            assert_eq!(session.expiration_date.unwrap().as_millis(), millis(T_081011));
            assert_eq!(kasm_url, fresh_url);
            assert_eq!(current_time.unwrap().as_millis(), millis(T_103000) + 250);
        }
        other => panic!("expected Running, got {other:?}"),
    }
    match client.get_kasm_status(kasm_id(), user_id()).await.unwrap() {
        KasmStatusReply::NotReady { status, progress, message } => {
            assert_eq!(status, Some(KasmStatus::Starting));
            assert_eq!(progress, Some(40));
            assert_eq!(message, "This session is currently starting.");
        }
        other => panic!("expected NotReady, got {other:?}"),
    }
    assert_eq!(client.get_kasm_status(kasm_id(), user_id()).await.unwrap(), KasmStatusReply::NotFound);
    assert!(matches!(
        client.get_kasm_status(kasm_id(), user_id()).await.unwrap(),
        KasmStatusReply::NotReady { status: None, .. }
    ));
    let err = client.get_kasm_status(kasm_id(), user_id()).await.unwrap_err();
    assert!(matches!(&err, KasmError::Business(m) if m == "Access Denied"), "{err:?}");

    assert_body_auth_request(
        &requests(&server).await[0],
        "get_kasm_status",
        json!({"kasm_id": KASM_HEX, "user_id": USER_HEX}),
    );
}

/// What `get_kasm_status` makes of one answer from Kasm.
async fn status_reply(status: u16, body: Value) -> Result<KasmStatusReply, KasmError> {
    let server = MockServer::start().await;
    reply(&server, "get_kasm_status", status, body).await;
    client(&server).get_kasm_status(kasm_id(), user_id()).await
}

fn not_ready(status: Option<KasmStatus>, progress: Option<u8>, message: &str) -> KasmStatusReply {
    KasmStatusReply::NotReady { status, progress, message: message.to_owned() }
}

#[tokio::test]
async fn get_kasm_status_1_18_starting_answer_without_a_kasm_object_is_not_ready() {
    // Kasm 1.18 for a session still starting: no `kasm` object, no error, the state at the top level.
    let body = json!({
        "kasm_id": KASM_HEX,
        "status": "starting",
        "operational_status": "starting",
        "operational_progress": 40,
        "operational_message": "Pulling image kasmweb/vs-code:1.16.0",
        "current_time": "2024-05-06 10:30:00.250000"
    });
    assert_eq!(
        status_reply(200, body).await.unwrap(),
        not_ready(Some(KasmStatus::Starting), Some(40), "Pulling image kasmweb/vs-code:1.16.0")
    );
}

#[tokio::test]
async fn get_kasm_status_with_only_a_top_level_status_is_not_ready() {
    // `status` alone (the field other clients read), without `operational_*`.
    let body = json!({"kasm_id": KASM_DASHED, "status": "starting"});
    assert_eq!(status_reply(200, body).await.unwrap(), not_ready(Some(KasmStatus::Starting), None, ""));
    // `operational_status` alone; a progress sent as a float or a string still reads.
    let body = json!({"operational_status": "provisioning", "operational_progress": 5.0});
    assert_eq!(status_reply(200, body).await.unwrap(), not_ready(Some(KasmStatus::Provisioning), Some(5), ""));
    let body = json!({"status": "assigned", "operational_progress": "70", "operational_message": "Assigned"});
    assert_eq!(status_reply(200, body).await.unwrap(), not_ready(Some(KasmStatus::Assigned), Some(70), "Assigned"));
    // Both: `operational_status` is the more precise one.
    let body = json!({"status": "starting", "operational_status": "requested", "operational_progress": "n/a"});
    assert_eq!(status_reply(200, body).await.unwrap(), not_ready(Some(KasmStatus::Requested), None, ""));
}

#[tokio::test]
async fn get_kasm_status_with_only_a_currently_starting_message_is_not_ready() {
    let msg = "This session is currently starting.";
    assert_eq!(status_reply(200, json!({"error_message": msg})).await.unwrap(), not_ready(None, None, msg));
    // Next to the 1.18 top-level fields, which then say the state.
    let body = json!({"error_message": msg, "kasm_id": KASM_HEX, "status": "starting", "operational_progress": 10});
    assert_eq!(status_reply(200, body).await.unwrap(), not_ready(Some(KasmStatus::Starting), Some(10), msg));
    // Should the public wrapper ever send it with a 4xx, it still says "not yet", not "refused".
    assert_eq!(status_reply(400, json!({"error_message": msg})).await.unwrap(), not_ready(None, None, msg));
}

#[tokio::test]
async fn get_kasm_status_with_a_kasm_object_still_starting_is_not_ready() {
    let mut starting = session_fixture(KASM_HEX, USER_HEX, IMAGE_HEX, "starting");
    starting["operational_progress"] = json!(70);
    starting["operational_message"] = json!("Starting the container");
    let body = json!({"kasm": starting, "kasm_url": null, "current_time": "2024-05-06 10:30:00"});
    assert_eq!(
        status_reply(200, body).await.unwrap(),
        not_ready(Some(KasmStatus::Starting), Some(70), "Starting the container")
    );
}

#[tokio::test]
async fn get_kasm_status_without_any_state_or_with_a_real_refusal_is_still_an_error() {
    let err = status_reply(200, json!({"kasm_id": KASM_HEX, "current_time": "2024-05-06 10:30:00"})).await.unwrap_err();
    assert!(matches!(&err, KasmError::Decode(_)), "{err:?}");
    let err = status_reply(200, json!({"error_message": "Usage limit exceeded for user", "status": "starting"}))
        .await
        .unwrap_err();
    assert!(matches!(&err, KasmError::Business(m) if m == "Usage limit exceeded for user"), "{err:?}");
    let err = status_reply(400, json!({"error_message": "Invalid Request"})).await.unwrap_err();
    assert!(matches!(&err, KasmError::BadRequest { status: 400, .. }), "{err:?}");
}

#[tokio::test]
async fn get_session_history_sends_paging_and_a_kasm_filter_and_reads_accounting_rows() {
    let server = MockServer::start().await;
    let row = json!({
        "account_id": "5e5e5e5e5e5e4f4f8a8a9b9b9c9c9d9d",
        "kasm_id": KASM_DASHED,
        "user_id": USER_HEX,
        "user_name": "ada@acme.test",
        "image_id": IMAGE_HEX,
        "image_name": "kasmweb/vs-code:1.16.0",
        "image_friendly_name": "VS Code",
        "image_src": "img/thumbnails/vs-code.png",
        "created_date": "2024-05-06 06:59:58",
        "start_date": "2024-05-06 07:08:09.123456",
        "destroyed_date": "2024-05-06 09:00:00",
        "destroy_reason": "admin_destroyed",
        "group_ids": [GROUP_HEX],
        "usage_hours": 1.8641,
        "cast_config_id": null,
        "user_ip": "203.0.113.7",
        "zone_name": "default"
    });
    let unfinished = json!({
        "kasm_id": KASM2_HEX, "user_id": null, "user_name": null, "image_id": null,
        "created_date": "None", "start_date": "None", "destroyed_date": "None", "usage_hours": null
    });
    reply(&server, "get_session_history", 200, json!({"sessions": [row, unfinished], "total": 2, "page": 1})).await;

    let page = client(&server).get_session_history(Some(kasm_id()), 1, 50).await.unwrap();

    assert_body_auth_request(
        &only_request(&server).await,
        "get_session_history",
        json!({
            "page": 1, "page_size": 50, "sort_by": "destroyed_date", "sort_direction": "desc",
            "filters": [{"id": "kasm_id", "value": KASM_HEX}]
        }),
    );
    assert_eq!(page.total, Some(2));
    let r = &page.sessions[0];
    assert_eq!(r.kasm_id, kasm_id());
    assert_eq!(r.user_id, Some(user_id()));
    assert_eq!(r.image_id, Some(image_id()));
    assert_eq!(r.user_name.as_deref(), Some("ada@acme.test"));
    assert_eq!(r.image_name.as_deref(), Some("kasmweb/vs-code:1.16.0"));
    assert_eq!(r.created_date.unwrap().as_millis(), millis(T_065958));
    assert_eq!(r.start_date.unwrap().as_millis(), millis(T_070809) + 123);
    assert_eq!(r.destroyed_date.unwrap().as_millis(), millis(T_090000));
    assert_eq!(r.destroy_reason.as_deref(), Some("admin_destroyed"));
    assert_eq!(r.usage_hours, Some(1.8641));
    let u = &page.sessions[1];
    assert_eq!((u.user_id, u.start_date, u.destroyed_date, u.usage_hours), (None, None, None, None));
}

#[tokio::test]
async fn get_session_history_without_a_kasm_sends_no_filter() {
    let server = MockServer::start().await;
    reply(&server, "get_session_history", 200, json!({"sessions": [], "total": 0, "page": 3})).await;

    let page = client(&server).get_session_history(None, 3, 10).await.unwrap();

    assert!(page.sessions.is_empty());
    assert_body_auth_request(
        &only_request(&server).await,
        "get_session_history",
        json!({"page": 3, "page_size": 10, "sort_by": "destroyed_date", "sort_direction": "desc", "filters": []}),
    );
}

#[tokio::test]
async fn health_is_an_unauthenticated_get_of_the_healthcheck() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/__healthcheck"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .expect(1)
        .mount(&server)
        .await;

    client(&server).health().await.unwrap();

    let request = only_request(&server).await;
    assert!(request.headers.get("authorization").is_none());
    assert!(!String::from_utf8_lossy(&request.body).contains(SECRET));
}

// ---- retry classes -----------------------------------------------------------------------------------------

#[tokio::test]
async fn server_errors_and_rate_limits_are_retryable() {
    let server = MockServer::start().await;
    let client = client(&server);
    for status in [500_u16, 502, 503, 504] {
        let _scope = Mock::given(method("POST"))
            .and(path("/api/public/get_kasms"))
            .respond_with(ResponseTemplate::new(status).set_body_string("<html>upstream trouble</html>"))
            .expect(1)
            .mount_as_scoped(&server)
            .await;
        let err = client.get_kasms().await.unwrap_err();
        assert!(matches!(err, KasmError::Server { status: s } if s == status), "{status}: {err:?}");
        assert!(err.is_retryable(), "{status}");
    }
    reply(&server, "get_kasms", 429, json!({"error_message": "Too Many Requests"})).await;
    let err = client.get_kasms().await.unwrap_err();
    assert!(matches!(err, KasmError::RateLimited), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn client_errors_and_refusals_are_not_retryable_and_401_403_are_unauthorized() {
    let server = MockServer::start().await;
    let client = client(&server);
    let cases: [(u16, &str); 6] = [
        (400, "Invalid Request"),
        (401, "Access has expired"),
        (401, "API Key (ezscale) is not authorized to impersonate a user."),
        (403, "Access Denied"),
        (403, "Access Denied. This feature is not licensed"),
        (404, "Not Found"),
    ];
    for (status, message) in cases {
        let _scope = Mock::given(method("POST"))
            .and(path("/api/public/request_kasm"))
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({ "error_message": message })))
            .expect(1)
            .mount_as_scoped(&server)
            .await;
        let err = client.request_kasm(user_id(), image_id(), &BTreeMap::new()).await.unwrap_err();
        match (&err, status) {
            (KasmError::Unauthorized { status: s, message: m }, 401 | 403) => {
                assert_eq!((*s, m.as_str()), (status, message));
            }
            (KasmError::BadRequest { status: s, message: m }, 400 | 404) => {
                assert_eq!((*s, m.as_str()), (status, message));
            }
            _ => panic!("HTTP {status}: unexpected {err:?}"),
        }
        assert!(!err.is_retryable(), "HTTP {status} must not be retried: {err:?}");
    }
    // A business refusal in a 200 is final too.
    reply(&server, "request_kasm", 200, json!({"error_message": "Image Not Authorized"})).await;
    let err = client.request_kasm(user_id(), image_id(), &BTreeMap::new()).await.unwrap_err();
    assert_eq!(err.business_kind(), Some(KasmBusinessKind::ImageUnavailable));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_transport_error() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let client = client_with(&format!("http://127.0.0.1:{port}"), KasmAuthStyle::JsonBody, Duration::from_secs(5));

    let err = client.get_kasms().await.unwrap_err();

    assert!(matches!(&err, KasmError::Transport(m) if m.starts_with("get_kasms")), "{err:?}");
    assert!(err.is_retryable());
    assert!(!leaks_secret(&format!("{err} {err:?}")));
}

// ---- timeout -----------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_a_retryable_timeout_on_time() {
    let server = MockServer::start().await;
    let timeout = Duration::from_millis(400);
    let template = ResponseTemplate::new(200).set_body_json(requested_fixture()).set_delay(Duration::from_secs(5));
    answer(&server, "/api/public/request_kasm", template, 1).await;
    let client = client_with(&server.uri(), KasmAuthStyle::JsonBody, timeout);

    let started = Instant::now();
    let err = client.request_kasm(user_id(), image_id(), &BTreeMap::new()).await.unwrap_err();
    let took = started.elapsed();

    eprintln!("kasm_wire timeout: configured {timeout:?}, server delay 5s, call failed after {took:?}");
    assert!(matches!(err, KasmError::Timeout), "{err:?}");
    assert!(err.is_retryable());
    assert!(took >= timeout, "gave up early: {took:?}");
    // Generous margin for a loaded 2-core CI machine; the point is "timeout, not the server's 5 s".
    assert!(took < timeout + Duration::from_millis(800), "timeout not honoured: {took:?}");
}

// ---- circuit breaker ---------------------------------------------------------------------------------------

#[tokio::test]
async fn consecutive_503s_open_the_breaker_and_a_good_trial_after_the_cool_down_closes_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/public/get_kasms"))
        .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
        .up_to_n_times(3)
        .expect(3)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/public/get_kasms"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"kasms": [], "current_time": "None"})))
        .expect(2)
        .mount(&server)
        .await;
    let cool_down = Duration::from_millis(300);
    let client = KasmClient::new(config(&server.uri(), KasmAuthStyle::JsonBody, Duration::from_secs(5)))
        .unwrap()
        .with_breaker(BreakerConfig { failure_threshold: 3, window: Duration::from_secs(60), cool_down });

    for i in 0..3 {
        assert_eq!(client.breaker_state(), BreakerState::Closed, "before failure {i}");
        let err = client.get_kasms().await.unwrap_err();
        assert!(matches!(err, KasmError::Server { status: 503 }), "{err:?}");
    }
    assert_eq!(client.breaker_state(), BreakerState::Open);
    let reached_when_opened = requests(&server).await.len();

    let mut failed_fast = 0;
    for _ in 0..5 {
        let started = Instant::now();
        let err = client.get_kasms().await.unwrap_err();
        assert!(matches!(err, KasmError::CircuitOpen { .. }), "{err:?}");
        assert!(err.is_retryable());
        assert!(started.elapsed() < Duration::from_millis(50), "not fast: {:?}", started.elapsed());
        failed_fast += 1;
    }
    // Every endpoint shares the breaker.
    assert!(matches!(client.get_images().await, Err(KasmError::CircuitOpen { .. })));
    let reached_while_open = requests(&server).await.len() - reached_when_opened;

    tokio::time::sleep(cool_down + Duration::from_millis(50)).await;
    assert_eq!(client.breaker_state(), BreakerState::HalfOpen);
    assert!(client.get_kasms().await.unwrap().kasms.is_empty(), "the trial call goes out and succeeds");
    assert_eq!(client.breaker_state(), BreakerState::Closed);
    assert!(client.get_kasms().await.is_ok());
    let reached_total = requests(&server).await.len();

    eprintln!(
        "kasm_wire breaker: opened after {reached_when_opened} x 503; {failed_fast}+1 calls failed fast while open \
         ({reached_while_open} reached the server); after the {cool_down:?} cool-down 1 trial closed it; \
         {reached_total} requests reached the server in all"
    );
    assert_eq!(reached_when_opened, 3);
    assert_eq!(reached_while_open, 0, "an open breaker must not reach the server");
    assert_eq!(reached_total, 5);
}

// ---- secrets -----------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_secret_never_appears_in_errors_even_when_the_server_echoes_it() {
    let server = MockServer::start().await;
    let plain = format!("Access Denied for key {KEY} with secret {SECRET}");
    let escaped = format!(r#"{{"error_message": "bad secret {}"}}"#, json_escaped(SECRET));
    // The escaped secret straddles the point where long messages are cut.
    let at_the_cut = format!(r#"{{"error_message": "{}{}"}}"#, "x".repeat(290), json_escaped(SECRET));
    let bad_id = format!(
        r#"{{"kasms": [{{"kasm_id": "{}", "user_id": "{USER_HEX}", "image_id": "{IMAGE_HEX}"}}]}}"#,
        json_escaped(SECRET)
    );
    let cases: Vec<(&str, u16, Vec<u8>)> = vec![
        ("200 error_message", 200, serde_json::to_vec(&json!({ "error_message": plain })).unwrap()),
        ("200 error", 200, serde_json::to_vec(&json!({ "error": plain })).unwrap()),
        ("400", 400, serde_json::to_vec(&json!({ "error_message": plain })).unwrap()),
        ("403", 403, serde_json::to_vec(&json!({ "error_message": plain })).unwrap()),
        ("200 escaped", 200, escaped.clone().into_bytes()),
        ("403 escaped", 403, escaped.into_bytes()),
        ("200 escaped at the cut", 200, at_the_cut.clone().into_bytes()),
        ("400 escaped at the cut", 400, at_the_cut.into_bytes()),
        ("200 undecodable id", 200, bad_id.into_bytes()),
    ];
    for auth in [KasmAuthStyle::JsonBody, KasmAuthStyle::HttpBasic] {
        let prefix = if auth == KasmAuthStyle::JsonBody { "/api/public" } else { "/api" };
        let client = client_with(&server.uri(), auth, Duration::from_secs(5));
        for (name, status, body) in &cases {
            let _scope = Mock::given(method("POST"))
                .and(path(format!("{prefix}/get_kasms")))
                .respond_with(ResponseTemplate::new(*status).set_body_raw(body.clone(), "application/json"))
                .expect(1)
                .mount_as_scoped(&server)
                .await;
            let err = client.get_kasms().await.unwrap_err();
            let shown = format!("{err} | {err:?} | {}", err.user_message());
            assert!(!leaks_secret(&shown), "{auth:?} {name}: the secret leaked: {shown}");
            // The rest of Kasm's text is kept.
            if !name.contains("id") && !name.contains("cut") {
                assert!(shown.contains("secret"), "{auth:?} {name}: message lost: {shown}");
            }
        }
    }
    // Nor in the Debug of the configuration or the client.
    let cfg = config(&server.uri(), KasmAuthStyle::JsonBody, Duration::from_secs(5));
    assert!(!leaks_secret(&format!("{cfg:?}")), "{cfg:?}");
    assert!(!leaks_secret(&format!("{:?}", KasmClient::new(cfg).unwrap())));
}

// ---- custom CA ---------------------------------------------------------------------------------------------

// A throwaway test PKI, made once for these tests (EC P-256, valid 2024-01-01 to 2124-01-01): a self-signed CA
// and a server certificate it signed for `localhost` / `127.0.0.1`, with that server's key. Never used elsewhere.

/// The test CA ("EZSCALE kasm_wire test CA").
const TEST_CA_PEM: &str = "\
-----BEGIN CERTIFICATE-----
MIIBkDCCATegAwIBAgIUQqfLMS2zh8IP5Ws8ON5rxas/LyEwCgYIKoZIzj0EAwIw
JDEiMCAGA1UEAwwZRVpTQ0FMRSBrYXNtX3dpcmUgdGVzdCBDQTAgFw0yNDAxMDEw
MDAwMDBaGA8yMTI0MDEwMTAwMDAwMFowJDEiMCAGA1UEAwwZRVpTQ0FMRSBrYXNt
X3dpcmUgdGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABMEwaN+/vxCw
0MNQLRoOY8hx2YUoxzvJzCld6pfOdt/7ZvyIkzdGAMisYCJnEH8KmhutBaCpat9h
+x/2qW+HRm6jRTBDMBIGA1UdEwEB/wQIMAYBAf8CAQAwDgYDVR0PAQH/BAQDAgEG
MB0GA1UdDgQWBBSAm225tK1Aq7gzNq1ColT8GCAixTAKBggqhkjOPQQDAgNHADBE
AiBVcPZdYGEC6EPECm836qCNfkcEgEH5McOk0ePiJntAjAIgekGYlZfZxTFZBVT3
HGfx0IfdgNwV1bk5X/s5e4iJFp4=
-----END CERTIFICATE-----
";

/// The server certificate, signed by [`TEST_CA_PEM`].
const TEST_SERVER_CERT_PEM: &str = "\
-----BEGIN CERTIFICATE-----
MIIBrjCCAVSgAwIBAgIUA7kyyTC1WcDXh/+Al3zApzU5J3MwCgYIKoZIzj0EAwIw
JDEiMCAGA1UEAwwZRVpTQ0FMRSBrYXNtX3dpcmUgdGVzdCBDQTAgFw0yNDAxMDEw
MDAwMDBaGA8yMTI0MDEwMTAwMDAwMFowFDESMBAGA1UEAwwJbG9jYWxob3N0MFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEc7+SYv5og2uzcHaALtBmwJCFpHZDcrEq
SUEmFLQrnsgecH7g+T+A8BpX0XsZVY2jEVI9hMBmdB9QPY4XbcLVVaNyMHAwDAYD
VR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEw
GgYDVR0RBBMwEYIJbG9jYWxob3N0hwR/AAABMB8GA1UdIwQYMBaAFICbbbm0rUCr
uDM2rUKiVPwYICLFMAoGCCqGSM49BAMCA0gAMEUCIQCDkYxq5lqruID8/K0fSex1
VKL+AMhrvBuLkGBPHoXuvgIgR2czwPjscjqT+P6r6Q43Xtx5DbmrfjHbVULjOj4s
HEU=
-----END CERTIFICATE-----
";

/// The server certificate's private key (test-only, PKCS#8).
const TEST_SERVER_KEY_PEM: &str = "\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgvh9yAM5dTu5BCNBg
w2PFHq6Z1dTp+diqFpPpyBJAyPyhRANCAARzv5Ji/miDa7NwdoAu0GbAkIWkdkNy
sSpJQSYUtCueyB5wfuD5P4DwGlfRexlVjaMRUj2EwGZ0H1A9jhdtwtVV
-----END PRIVATE KEY-----
";

fn with_ca(ca_pem: Option<&str>) -> KasmConfig {
    KasmConfig {
        ca_pem: ca_pem.map(str::to_owned),
        ..config("https://kasm.acme.test", KasmAuthStyle::JsonBody, Duration::from_secs(5))
    }
}

#[test]
fn a_bad_ca_pem_is_a_config_error_that_does_not_quote_it() {
    let not_pem = "MIIBnot-a-pem-at-all wire-marker-91";
    let bad_base64 = "-----BEGIN CERTIFICATE-----\n!!!! wire-marker-92 !!!!\n-----END CERTIFICATE-----\n";
    // Armour and base64 are fine, but the DER inside is not a certificate.
    let bad_der =
        "-----BEGIN CERTIFICATE-----\nd2lyZS1tYXJrZXItOTMgaXMgbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
    let key_only = "-----BEGIN PRIVATE KEY-----\nd2lyZS1tYXJrZXItOTQ=\n-----END PRIVATE KEY-----\n";
    for (name, pem) in [
        ("empty", "  \n"),
        ("not PEM", not_pem),
        ("bad base64", bad_base64),
        ("bad DER", bad_der),
        ("key only", key_only),
    ] {
        match KasmClient::new(with_ca(Some(pem))) {
            Err(KasmError::Config(message)) => {
                eprintln!("kasm_wire ca_pem {name}: {message}");
                assert!(message.contains("ca_pem"), "{name}: the message names the setting: {message}");
                assert!(
                    !message.contains("wire-marker") && !message.contains("d2lyZS1"),
                    "{name}: quotes the PEM: {message}"
                );
            }
            other => panic!("{name}: expected a Config error, got {other:?}"),
        }
    }
}

#[test]
fn a_good_ca_pem_builds_and_shows_only_as_present_in_debug() {
    let cfg = with_ca(Some(TEST_CA_PEM));
    let shown = format!("{cfg:?}");
    assert!(shown.contains("ca_pem: Some(\"<set>\")"), "{shown}");
    assert!(!shown.contains("BEGIN CERTIFICATE"), "{shown}");
    KasmClient::new(cfg).unwrap();
    // A bundle of two certificates is fine too, and so is no CA at all.
    KasmClient::new(with_ca(Some(&format!("{TEST_CA_PEM}\n{TEST_CA_PEM}")))).unwrap();
    let none = with_ca(None);
    assert!(format!("{none:?}").contains("ca_pem: None"));
    KasmClient::new(none).unwrap();
}

/// A one-endpoint HTTPS "Kasm" on 127.0.0.1 serving [`TEST_SERVER_CERT_PEM`]: every request that completes a
/// TLS handshake gets `{"kasms": []}`. Returns the base URL and a counter of requests served.
async fn tls_kasm() -> (String, Arc<AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(TEST_SERVER_CERT_PEM.as_bytes()).collect::<Result<_, _>>().unwrap();
    let key = PrivateKeyDer::from_pem_slice(TEST_SERVER_KEY_PEM.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                // A client that does not trust the certificate aborts the handshake: nothing to serve.
                let Ok(mut stream) = acceptor.accept(tcp).await else { return };
                let mut request = Vec::new();
                let mut buf = [0_u8; 4096];
                // Headers, then as many body bytes as Content-Length says.
                loop {
                    let Ok(n) = stream.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"kasms": [], "current_time": "2024-05-06 09:00:00"}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (format!("https://127.0.0.1:{port}"), served)
}

#[tokio::test]
async fn a_kasm_with_a_private_ca_is_reached_only_when_its_ca_is_trusted() {
    let (base, served) = tls_kasm().await;
    let https = |ca_pem: Option<&str>, insecure: bool| {
        let cfg = KasmConfig {
            ca_pem: ca_pem.map(str::to_owned),
            insecure_skip_tls_verify: insecure,
            ..config(&base, KasmAuthStyle::JsonBody, Duration::from_secs(5))
        };
        KasmClient::new(cfg).unwrap().with_breaker(BreakerConfig::disabled())
    };

    // Without the CA the certificate is refused during the handshake: nothing reaches the server.
    let err = https(None, false).get_kasms().await.unwrap_err();
    eprintln!("kasm_wire TLS without ca_pem: {err}");
    assert!(matches!(&err, KasmError::Transport(m) if m.to_ascii_lowercase().contains("certificate")), "{err:?}");
    assert_eq!(served.load(Ordering::SeqCst), 0);

    // With it, the same server is trusted.
    let list = https(Some(TEST_CA_PEM), false).get_kasms().await.unwrap();
    assert_eq!(list.current_time.unwrap().as_millis(), millis(T_090000));
    assert_eq!(served.load(Ordering::SeqCst), 1);

    // The blunt alternative still works.
    https(None, true).get_kasms().await.unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 2);
}
