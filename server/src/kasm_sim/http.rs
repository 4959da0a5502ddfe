//! The simulator's HTTP face: Kasm's two authentication styles, fault application, and the `/__sim/`
//! control endpoints. Request bodies are never logged (they carry the API secret).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::state::Reply;
use super::{Fault, Simulator};

pub(crate) fn router(sim: Simulator) -> Router {
    Router::new()
        .route("/", get(desktop))
        .route("/api/__healthcheck", get(healthcheck))
        .route("/api/public/{endpoint}", post(public_api))
        .route("/api/{endpoint}", post(basic_api))
        .route("/__sim/faults", post(add_fault).delete(clear_faults))
        .route("/__sim/sessions", get(list_sessions))
        .route("/__sim/history", get(list_history))
        .route("/__sim/sessions/{kasm_id}/stop", post(stop_session))
        .route("/__sim/sessions/{kasm_id}/kill", post(kill_session))
        .route("/__sim/users/{user_id}", axum::routing::delete(delete_user))
        .route("/__sim/starts/hold", post(hold_starts))
        .route("/__sim/starts/release", post(release_starts))
        .with_state(sim)
}

/// Where Kasm's connect links (`/#/connect/kasm/...`) land. The fragment never reaches a server, so
/// the page reads it in the browser: enough to see that "Open workspace" opened the right session.
async fn desktop() -> axum::response::Html<&'static str> {
    axum::response::Html(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Kasm simulator</title></head>\
         <body style=\"font-family:sans-serif;background:#0f172a;color:#e2e8f0;padding:3rem\">\
         <h1>Simulated Kasm desktop</h1><p>This is the built-in Kasm simulator. A real Kasm server would \
         stream the workspace here.</p><p>Session link: <code id=\"s\"></code></p>\
         <script>document.getElementById('s').textContent=location.hash||'(none)'</script></body></html>",
    )
}

fn respond(reply: Reply) -> Response {
    (reply.status, Json(reply.body)).into_response()
}

/// Constant-time comparison, so the simulator does not teach anyone bad habits.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The JSON object of a request body; an empty body counts as `{}`.
fn body_object(body: &Bytes) -> Option<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn invalid_request() -> Reply {
    Reply::error(StatusCode::BAD_REQUEST, "Invalid Request")
}

fn access_denied() -> Reply {
    Reply::error(StatusCode::FORBIDDEN, "Access Denied")
}

/// 1.x style: `api_key`/`api_key_secret` in the body. The undocumented `api-key`/`api-key-secret` headers
/// are honoured first, as the 1.15 server does.
async fn public_api(
    State(sim): State<Simulator>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.count_api_call();
    let Some(mut body) = body_object(&body) else {
        return respond(invalid_request());
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let creds = match (header("api-key"), header("api-key-secret")) {
        (Some(k), Some(s)) => Some((k, s)),
        _ => match (body.get("api_key").and_then(Value::as_str), body.get("api_key_secret").and_then(Value::as_str)) {
            (Some(k), Some(s)) => Some((k.to_owned(), s.to_owned())),
            _ => None,
        },
    };
    body.remove("api_key");
    body.remove("api_key_secret");
    let Some((key, secret)) = creds else {
        return respond(invalid_request());
    };
    let Some(permissions) = sim.authenticate(&key, &secret) else {
        return respond(access_denied());
    };
    if let Some(refusal) = permission_refusal(permissions.as_deref(), &endpoint, &body) {
        return respond(refusal);
    }
    sim.serve(&endpoint, body, request_host(&headers)).await
}

/// Next-release style: `Authorization: Basic base64(key:secret)` under `/api/`.
async fn basic_api(
    State(sim): State<Simulator>,
    Path(endpoint): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.count_api_call();
    let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return respond(Reply::error(StatusCode::UNAUTHORIZED, "Unauthorized"));
    };
    let decoded = auth
        .strip_prefix("Basic ")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok());
    let Some((key, secret)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
        return respond(access_denied());
    };
    let Some(permissions) = sim.authenticate(key, secret) else {
        return respond(access_denied());
    };
    let Some(body) = body_object(&body) else {
        return respond(invalid_request());
    };
    if let Some(refusal) = permission_refusal(permissions.as_deref(), &endpoint, &body) {
        return respond(refusal);
    }
    sim.serve(&endpoint, body, request_host(&headers)).await
}

async fn healthcheck(State(sim): State<Simulator>) -> Response {
    sim.serve("__healthcheck", Map::new(), None).await
}

/// The `Host` header, which Kasm uses to build absolute links (`get_login`). Only plain host[:port]
/// characters are accepted, so a forged header cannot inject a path or a different scheme into the link.
fn request_host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?.trim();
    let plain = !host.is_empty()
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'));
    plain.then(|| host.to_owned())
}

impl Simulator {
    /// `None`: wrong key or secret. `Some(None)`: the main key, with every permission. `Some(Some(p))`: a
    /// restricted key with permissions `p` (and its name first).
    fn authenticate(&self, key: &str, secret: &str) -> Option<Option<Vec<String>>> {
        let st = self.lock();
        let cfg = st.config();
        if same_secret(key, &cfg.api_key) & same_secret(secret, &cfg.api_secret) {
            return Some(None);
        }
        cfg.restricted_keys.iter().find(|k| same_secret(key, &k.key) & same_secret(secret, &k.secret)).map(|k| {
            let mut p = vec![k.name.clone()];
            p.extend(k.permissions.iter().cloned());
            Some(p)
        })
    }

    fn handle_now(&self, endpoint: &str, body: &Map<String, Value>, host: Option<&str>) -> Reply {
        let now = self.shared.clock.now();
        self.lock().handle_from(endpoint, body, now, host)
    }

    /// Runs one authenticated call, applying a queued fault if one targets it.
    async fn serve(&self, endpoint: &str, body: Map<String, Value>, host: Option<String>) -> Response {
        let host = host.as_deref();
        let fault = self.lock().take_fault(endpoint);
        if let Some(f) = &fault {
            tracing::info!(endpoint, fault = ?f, "kasm simulator: injecting fault");
        }
        let reply = match fault {
            None => self.handle_now(endpoint, &body, host),
            Some(Fault::BusinessError { message, .. }) => {
                Reply { status: StatusCode::OK, body: json!({ "error_message": message }) }
            }
            Some(Fault::HttpStatus { status, .. }) => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let message = status.canonical_reason().unwrap_or("Injected fault");
                Reply::error(status, message)
            }
            Some(Fault::DropResponseAfterCommit { .. }) => {
                let _committed = self.handle_now(endpoint, &body, host);
                // What a reverse proxy answers when the upstream connection breaks mid-response.
                return (
                    StatusCode::BAD_GATEWAY,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html><body><h1>502 Bad Gateway</h1></body></html>",
                )
                    .into_response();
            }
            Some(Fault::Latency { delay, .. }) => {
                let reply = self.handle_now(endpoint, &body, host);
                tokio::time::sleep(delay).await;
                reply
            }
        };
        tracing::debug!(endpoint, status = reply.status.as_u16(), "kasm simulator call");
        respond(reply)
    }
}

// ---- control endpoints ------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct FaultSpec {
    endpoint: String,
    kind: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    delay_ms: Option<u64>,
    #[serde(default)]
    count: Option<u32>,
}

impl FaultSpec {
    fn into_fault(self) -> Result<(Fault, u32), String> {
        let endpoint = self.endpoint.trim().to_owned();
        if endpoint.is_empty() {
            return Err("endpoint is required".into());
        }
        let fault = match self.kind.as_str() {
            "business_error" => Fault::BusinessError {
                endpoint,
                message: self.message.unwrap_or_else(|| "Injected business error".into()),
            },
            "http_status" => match self.status {
                Some(status @ 400..=599) => Fault::HttpStatus { endpoint, status },
                _ => return Err("http_status needs a status between 400 and 599".into()),
            },
            "drop_response" => Fault::DropResponseAfterCommit { endpoint },
            "latency" => match self.delay_ms {
                Some(ms) => Fault::Latency { endpoint, delay: Duration::from_millis(ms) },
                None => return Err("latency needs delay_ms".into()),
            },
            other => return Err(format!("unknown fault kind {other:?}")),
        };
        Ok((fault, self.count.unwrap_or(1).clamp(1, 100)))
    }
}

async fn add_fault(State(sim): State<Simulator>, body: Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(spec) => spec,
        Err(e) => return (StatusCode::BAD_REQUEST, Json(json!({ "error": e.to_string() }))).into_response(),
    };
    match spec.into_fault() {
        Ok((fault, count)) => {
            for _ in 0..count {
                sim.inject(fault.clone());
            }
            (StatusCode::OK, Json(json!({ "queued": count }))).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response(),
    }
}

async fn clear_faults(State(sim): State<Simulator>) -> Response {
    sim.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

async fn list_sessions(State(sim): State<Simulator>) -> Response {
    Json(sim.locked_now().0.sessions_overview()).into_response()
}

async fn list_history(State(sim): State<Simulator>) -> Response {
    Json(sim.locked_now().0.history_overview()).into_response()
}

fn session_control(raw_id: &str, apply: impl FnOnce(Uuid) -> bool) -> Response {
    let Ok(id) = Uuid::try_parse(raw_id.trim()) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "kasm_id is not a UUID" }))).into_response();
    };
    if apply(id) {
        (StatusCode::OK, Json(json!({ "ok": true }))).into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({ "error": "no such session (or not in a stoppable state)" })))
            .into_response()
    }
}

async fn stop_session(State(sim): State<Simulator>, Path(kasm_id): Path<String>) -> Response {
    session_control(&kasm_id, |id| sim.stop_remotely(id))
}

async fn kill_session(State(sim): State<Simulator>, Path(kasm_id): Path<String>) -> Response {
    session_control(&kasm_id, |id| sim.kill(id))
}

async fn delete_user(State(sim): State<Simulator>, Path(user_id): Path<String>) -> Response {
    let Ok(id) = Uuid::try_parse(user_id.trim()) else {
        return (StatusCode::BAD_REQUEST, Json(json!({ "error": "user_id is not a UUID" }))).into_response();
    };
    if sim.delete_user(id) {
        (StatusCode::OK, Json(json!({ "ok": true }))).into_response()
    } else {
        (StatusCode::NOT_FOUND, Json(json!({ "error": "no such user" }))).into_response()
    }
}

async fn hold_starts(State(sim): State<Simulator>) -> StatusCode {
    sim.hold_starts(true);
    StatusCode::NO_CONTENT
}

async fn release_starts(State(sim): State<Simulator>) -> StatusCode {
    sim.hold_starts(false);
    StatusCode::NO_CONTENT
}

/// Kasm 1.15's answers for a key lacking a permission: 401 "Unauthorized", or the impersonation message
/// when `user_id` is sent without `Users Auth Session`. `granted` is `[name, permissions...]`; `None` means
/// every permission.
fn permission_refusal(granted: Option<&[String]>, endpoint: &str, body: &Map<String, Value>) -> Option<Reply> {
    let (name, perms) = granted?.split_first()?;
    let has = |p: &str| perms.iter().any(|g| g == p);
    if body.contains_key("user_id") && endpoint != "get_user" {
        if !has("Users Auth Session") {
            return Some(Reply::error(
                StatusCode::UNAUTHORIZED,
                format!("API Key ({name}) is not authorized to impersonate a user."),
            ));
        }
        if !has("User") {
            return Some(Reply::error(StatusCode::UNAUTHORIZED, "Unauthorized"));
        }
    }
    if super::required_permissions(endpoint).iter().all(|p| has(p)) {
        None
    } else {
        Some(Reply::error(StatusCode::UNAUTHORIZED, "Unauthorized"))
    }
}
