//! A faithful simulator of the Kasm Workspaces Developer API (1.x, as Kasm documents it), quirks included:
//! POST-only JSON with credentials in the body (`/api/public/<endpoint>`) or HTTP Basic (`/api/<endpoint>`),
//! business errors as HTTP 200 + `error_message`, dashed and undashed ids, `str(datetime)` timestamps,
//! sessions that advance with time, per-user and licence caps, keepalive/expiry, an accounting table, user
//! management (update, forced delete, login links), groups that grant images, and injectable faults. It runs
//! in-process when no Kasm URL is configured and standalone for tests.
//!
//! Control endpoints for tests (on the simulator's own port only):
//! - `POST /__sim/faults` `{"endpoint":"request_kasm","kind":"business_error","message":"…"}`; kinds
//!   `http_status` (+`status`), `drop_response`, `latency` (+`delay_ms`); optional `count`; endpoint `*` = any.
//!   `DELETE /__sim/faults` clears the queue.
//! - `GET /__sim/sessions`, `GET /__sim/history`, `POST /__sim/sessions/{kasm_id}/stop|kill`.
//! - `DELETE /__sim/users/{user_id}`: the user vanishes, as when a Kasm admin deletes it (sessions too).
//! - `POST /__sim/starts/hold`, `POST /__sim/starts/release`: starting sessions stay starting until released
//!   (a browser test sees "Starting" however slow the machine, instead of racing the start delay).
//!
//! Module map: `clock` (time source), `state` (data + rules, synchronous), `http` (router, auth, faults).

mod clock;
mod http;
mod state;

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use uuid::Uuid;

pub use clock::{Clock, ManualClock, SystemClock};
use state::SimState;

/// What Kasm does with a session whose keepalive expired (the group setting `keepalive_expiration_action`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExpiryAction {
    #[default]
    Delete,
    Pause,
    Stop,
}

/// Simulator settings. Build with `SimConfig { start_delay: …, ..SimConfig::default() }`.
#[derive(Clone)]
pub struct SimConfig {
    pub api_key: String,
    pub api_secret: String,
    /// starting -> running (also after resume).
    pub start_delay: Duration,
    /// stopping -> stopped, pausing -> paused.
    pub stop_delay: Duration,
    /// delete_pending -> gone (accounting row written).
    pub destroy_delay: Duration,
    /// Live sessions per user (any state but deleting); 0 disables launching, as in Kasm.
    pub max_kasms_per_user: usize,
    /// Concurrent starting + running sessions across all users.
    pub license_cap: usize,
    /// Without a keepalive, a running session expires this long after its last one.
    pub keepalive_expiration: Duration,
    pub expiry_action: ExpiryAction,
    /// Kasm's real rule: a user may only launch an image held by one of their groups, else `request_kasm`
    /// answers 200 "Image Not Authorized". Off by default so callers that never manage groups keep working.
    pub enforce_image_groups: bool,
    /// Further API keys with only the listed permissions (Kasm keys have none by default). The main key
    /// (`api_key`) has them all.
    pub restricted_keys: Vec<SimApiKey>,
}

/// An API key limited to some permissions, named as in Kasm's admin UI ("Sessions View", "User", ...).
#[derive(Clone, PartialEq, Eq)]
pub struct SimApiKey {
    pub name: String,
    pub key: String,
    pub secret: String,
    pub permissions: Vec<String>,
}

impl fmt::Debug for SimApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimApiKey")
            .field("name", &self.name)
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .field("permissions", &self.permissions)
            .finish()
    }
}

/// The permissions an endpoint needs, as Kasm's API documentation lists them. Any call carrying `user_id`
/// also acts on behalf of that user and needs `Users Auth Session` + `User`.
pub fn required_permissions(endpoint: &str) -> &'static [&'static str] {
    match endpoint {
        "create_user" => &["Users Create"],
        "get_user" | "get_users" => &["Users View"],
        "update_user" => &["Users Modify"],
        "delete_user" => &["Users Delete", "Users Modify"],
        "get_login" | "logout_user" => &["Users Auth Session"],
        "add_user_group" | "remove_user_group" | "get_groups" => &["Groups Modify"],
        "get_images" => &["Images View"],
        "get_kasms" | "get_session_history" => &["Sessions View"],
        "keepalive" => &["Sessions Modify"],
        _ => &[],
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: "sim-key".into(),
            api_secret: "sim-secret".into(),
            start_delay: Duration::from_millis(1500),
            stop_delay: Duration::from_millis(500),
            destroy_delay: Duration::from_millis(500),
            max_kasms_per_user: 2,
            license_cap: 5,
            keepalive_expiration: Duration::from_secs(3600),
            expiry_action: ExpiryAction::Delete,
            enforce_image_groups: false,
            restricted_keys: Vec::new(),
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .field("start_delay", &self.start_delay)
            .field("stop_delay", &self.stop_delay)
            .field("destroy_delay", &self.destroy_delay)
            .field("max_kasms_per_user", &self.max_kasms_per_user)
            .field("license_cap", &self.license_cap)
            .field("keepalive_expiration", &self.keepalive_expiration)
            .field("expiry_action", &self.expiry_action)
            .field("enforce_image_groups", &self.enforce_image_groups)
            .field("restricted_keys", &self.restricted_keys)
            .finish()
    }
}

/// A one-shot fault, consumed by the next call to `endpoint` (`"*"` matches any endpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 200 `{"error_message": message}`; nothing happens.
    BusinessError { endpoint: String, message: String },
    /// This HTTP status (JSON `error_message` body); nothing happens.
    HttpStatus { endpoint: String, status: u16 },
    /// The call takes effect, then the answer is lost: the client gets a 502 as from a proxy.
    DropResponseAfterCommit { endpoint: String },
    /// The call takes effect at once, but the answer is held back for `delay`.
    Latency { endpoint: String, delay: Duration },
}

impl Fault {
    pub fn endpoint(&self) -> &str {
        match self {
            Self::BusinessError { endpoint, .. }
            | Self::HttpStatus { endpoint, .. }
            | Self::DropResponseAfterCommit { endpoint }
            | Self::Latency { endpoint, .. } => endpoint,
        }
    }
}

struct Shared {
    state: Mutex<SimState>,
    clock: Arc<dyn Clock>,
    /// API requests received (before authentication), so tests can prove a client did NOT call.
    api_calls: AtomicU64,
}

/// The simulated Kasm server. Cheap to clone; all clones share one state.
#[derive(Clone)]
pub struct Simulator {
    shared: Arc<Shared>,
}

impl fmt::Debug for Simulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Simulator").field("config", self.lock().config()).finish_non_exhaustive()
    }
}

impl Simulator {
    /// A simulator on the wall clock, seeded with the catalogue images.
    pub fn new(cfg: SimConfig) -> Self {
        Self::with_clock(cfg, Arc::new(SystemClock))
    }

    /// A simulator on a given clock (e.g. [`ManualClock`]).
    pub fn with_clock(cfg: SimConfig, clock: Arc<dyn Clock>) -> Self {
        Self { shared: Arc::new(Shared { state: Mutex::new(SimState::new(cfg)), clock, api_calls: AtomicU64::new(0) }) }
    }

    /// `/api/public/<endpoint>` (body credentials), `/api/<endpoint>` (HTTP Basic), `GET /api/__healthcheck`,
    /// and the `/__sim/` control endpoints.
    pub fn router(&self) -> axum::Router {
        http::router(self.clone())
    }

    /// Binds `addr` (port 0 for a free one), serves in a background task, returns the bound address.
    pub async fn spawn(self, addr: SocketAddr) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let app = self.router();
        let handle = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "kasm simulator stopped serving");
            }
        });
        tracing::info!(%bound, "kasm simulator listening");
        Ok((bound, handle))
    }

    /// Queues a one-shot fault.
    pub fn inject(&self, fault: Fault) {
        self.lock().push_fault(fault);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.lock().clear_faults();
    }

    /// Sessions that still exist (any state, delete-pending included until it completes).
    pub fn session_count(&self) -> usize {
        self.locked_now().0.session_count()
    }

    /// The `operational_status` of a session, if it still exists.
    pub fn session_status(&self, kasm_id: Uuid) -> Option<&'static str> {
        self.locked_now().0.session_status(kasm_id)
    }

    /// The `image_id` of a seeded image, by Docker image name.
    pub fn image_id(&self, name: &str) -> Option<Uuid> {
        self.lock().image_id(name)
    }

    /// The `group_id` of a group, by name: "All Users", "Administrators", or a plan group such as
    /// "EZSCALE Developer Basic" (one per enabled seeded image).
    pub fn group_id(&self, name: &str) -> Option<Uuid> {
        self.lock().group_id(name)
    }

    /// API requests received so far on `/api/public/…` and `/api/…` (the healthcheck excluded), counted
    /// before authentication and fault injection.
    pub fn api_call_count(&self) -> u64 {
        self.shared.api_calls.load(Ordering::Relaxed)
    }

    fn count_api_call(&self) {
        self.shared.api_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// A session dying on the Kasm side: removed at once, with an accounting row (reason `error`).
    pub fn kill_session(&self, kasm_id: Uuid) {
        self.kill(kasm_id);
    }

    /// As if stopped in Kasm's own UI: stopping now, stopped after `stop_delay`.
    pub fn stop_session_remotely(&self, kasm_id: Uuid) {
        self.stop_remotely(kasm_id);
    }

    /// A Kasm admin deleting a user (or a Kasm whose database lost it): the user is gone, their sessions
    /// destroyed with it (accounting reason `admin_destroyed`). False when there is no such user.
    pub fn delete_user(&self, user_id: Uuid) -> bool {
        let (mut st, now) = self.locked_now();
        st.remove_user(user_id, now)
    }

    /// Holds every starting session in "starting" until released; released, each runs once its start
    /// delay (counted from its start) has passed.
    pub fn hold_starts(&self, held: bool) {
        let (mut st, _) = self.locked_now();
        st.hold_starts(held);
    }

    /// Whether a user with this id exists.
    pub fn has_user(&self, user_id: Uuid) -> bool {
        self.lock().has_user(user_id)
    }

    fn kill(&self, kasm_id: Uuid) -> bool {
        let (mut st, now) = self.locked_now();
        st.kill(kasm_id, now)
    }

    fn stop_remotely(&self, kasm_id: Uuid) -> bool {
        let (mut st, now) = self.locked_now();
        st.stop_remotely(kasm_id, now)
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock cannot leave the state half-written in a way tests care about.
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The state, with every transition due by now applied.
    fn locked_now(&self) -> (MutexGuard<'_, SimState>, chrono::DateTime<chrono::Utc>) {
        let now = self.shared.clock.now();
        let mut st = self.lock();
        st.advance(now);
        (st, now)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use chrono::TimeZone;
    use serde_json::{json, Value};
    use tower::ServiceExt;

    use super::*;

    async fn call(sim: &Simulator, endpoint: &str, mut body: Value) -> (StatusCode, Value) {
        body["api_key"] = json!("sim-key");
        body["api_key_secret"] = json!("sim-secret");
        let request = Request::post(format!("/api/public/{endpoint}"))
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = sim.router().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn on_a_manual_clock_sessions_advance_only_when_the_clock_does() {
        let clock = ManualClock::new(chrono::Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap());
        let sim = Simulator::with_clock(SimConfig::default(), Arc::new(clock.clone()));
        let (_, user) = call(&sim, "create_user", json!({"target_user": {"username": "carol"}})).await;
        let image = sim.image_id("kasmweb/office-enterprise:1.16.0").unwrap();
        let (status, kasm) = call(
            &sim,
            "request_kasm",
            json!({"user_id": user["user"]["user_id"], "image_id": image.hyphenated().to_string()}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let kasm_id = Uuid::try_parse(kasm["kasm_id"].as_str().unwrap()).unwrap();

        clock.advance(Duration::from_millis(1499));
        assert_eq!(sim.session_status(kasm_id), Some("starting"));
        clock.advance(Duration::from_millis(1));
        assert_eq!(sim.session_status(kasm_id), Some("running"));

        let (_, list) = call(&sim, "get_kasms", json!({})).await;
        assert_eq!(list["current_time"], "2025-01-02 03:04:06.500000");
        assert_eq!(list["kasms"][0]["start_date"], "2025-01-02 03:04:05");
    }

    #[tokio::test]
    async fn wrong_or_missing_credentials_are_refused_before_anything_happens() {
        let sim = Simulator::new(SimConfig::default());
        let request = |body: Value| {
            Request::post("/api/public/create_user")
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap()
        };
        let missing = request(json!({"target_user": {"username": "x"}}));
        assert_eq!(sim.router().oneshot(missing).await.unwrap().status(), StatusCode::BAD_REQUEST);
        let wrong = request(json!({"api_key": "sim-key", "api_key_secret": "nope", "target_user": {"username": "x"}}));
        assert_eq!(sim.router().oneshot(wrong).await.unwrap().status(), StatusCode::FORBIDDEN);
        let (_, found) = call(&sim, "get_users", json!({})).await;
        assert_eq!(found["total"], 0);
    }

    #[tokio::test]
    async fn get_login_names_the_host_the_request_was_sent_to() {
        let sim = Simulator::new(SimConfig::default());
        let (_, user) = call(&sim, "create_user", json!({"target_user": {"username": "dora"}})).await;
        let user_id = user["user"]["user_id"].as_str().unwrap().to_owned();
        let login = |host: &'static str| {
            let body =
                json!({"api_key": "sim-key", "api_key_secret": "sim-secret", "target_user": {"user_id": user_id}});
            Request::post("/api/public/get_login")
                .header("host", host)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap()
        };
        let response = sim.router().oneshot(login("kasm.test:8443")).await.unwrap();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let url = serde_json::from_slice::<Value>(&bytes).unwrap()["url"].as_str().unwrap().to_owned();
        assert!(url.starts_with(&format!("http://kasm.test:8443/#/connect/login/dash/{user_id}/")), "{url}");
        // A Host header that is not a plain host[:port] is not pasted into the link.
        let response = sim.router().oneshot(login("evil.test/path?x=")).await.unwrap();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let url = serde_json::from_slice::<Value>(&bytes).unwrap()["url"].as_str().unwrap().to_owned();
        assert!(url.starts_with("http://localhost/#/connect/login/dash/"), "{url}");
    }

    #[tokio::test]
    async fn api_calls_are_counted_even_when_refused() {
        let sim = Simulator::new(SimConfig::default());
        assert_eq!(sim.api_call_count(), 0);
        call(&sim, "get_images", json!({})).await;
        let unauthenticated = Request::post("/api/public/get_images").body(Body::empty()).unwrap();
        sim.router().oneshot(unauthenticated).await.unwrap();
        let health = Request::get("/api/__healthcheck").body(Body::empty()).unwrap();
        sim.router().oneshot(health).await.unwrap();
        assert_eq!(sim.api_call_count(), 2, "the healthcheck is not an API call");
        assert!(sim.group_id("EZSCALE Developer Basic").is_some());
        assert!(sim.group_id("No Such Group").is_none());
    }

    #[test]
    fn debug_output_hides_the_api_secret() {
        let cfg = SimConfig { api_secret: "hunter2".into(), ..SimConfig::default() };
        assert!(!format!("{cfg:?}").contains("hunter2"));
        assert!(!format!("{:?}", Simulator::new(cfg)).contains("hunter2"));
    }
}
