//! The HTTP side of the Kasm client: configuration, authentication styles, and one method per endpoint.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::breaker::{Breaker, BreakerConfig, BreakerState, Change, Ticket};
use super::error::{is_gone_user, KasmBusinessKind, KasmError};
use super::ids::{KasmGroupId, KasmId, KasmImageId, KasmUserId};
use super::types::{
    KasmGroup, KasmHistoryPage, KasmImage, KasmList, KasmStatus, KasmStatusReply, KasmUser, RequestedKasm,
};
use super::wire::{self, check_business, decode};
use crate::backend::clients::http;

/// How credentials travel, which also fixes the base path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KasmAuthStyle {
    /// Every released 1.x version: `api_key` / `api_key_secret` in the JSON body, under `/api/public/`.
    #[default]
    JsonBody,
    /// The unreleased "Developer" docs: `Authorization: Basic base64(key:secret)`, under `/api/`.
    HttpBasic,
}

/// Where and how to reach one Kasm server.
#[derive(Clone)]
pub struct KasmConfig {
    /// Scheme, host and port, e.g. `https://kasm.example.com` (a path prefix for a reverse proxy is allowed,
    /// but not `/api…`: the client appends that itself).
    pub base_url: String,
    pub api_key: String,
    pub api_secret: String,
    pub auth: KasmAuthStyle,
    /// Whole-request timeout (connect + send + read).
    pub timeout: Duration,
    /// Accept any TLS certificate (a default Kasm install is self-signed). Only for trusted networks.
    /// Prefer `ca_pem`, which keeps verification on. When set, it wins: `ca_pem` is then not used.
    pub insecure_skip_tls_verify: bool,
    /// Extra root certificate(s) to trust, PEM-encoded (one or more `-----BEGIN CERTIFICATE-----` blocks),
    /// e.g. the CA of a self-signed Kasm. Added to the system roots, not replacing them.
    pub ca_pem: Option<String>,
}

impl fmt::Debug for KasmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KasmConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .field("api_secret", &"<redacted>")
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("ca_pem", &self.ca_pem.as_ref().map(|_| "<set>"))
            .finish()
    }
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    /// `<base>/api/public/` or `<base>/api/`.
    api_prefix: String,
    api_key: String,
    api_secret: String,
    auth: KasmAuthStyle,
    /// Shared by every clone, so the whole process backs off a failing server together.
    breaker: Mutex<Breaker>,
}

/// A typed client for one Kasm server. Cheap to clone; safe to share.
///
/// Every API call goes through a circuit breaker (see [`BreakerConfig`]): after a streak of timeouts,
/// connection failures or 5xx answers it fails fast with [`KasmError::CircuitOpen`] for a cool-down.
#[derive(Clone)]
pub struct KasmClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for KasmClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KasmClient")
            .field("base_url", &self.inner.base_url)
            .field("auth", &self.inner.auth)
            .field("api_key", &self.inner.api_key)
            .finish_non_exhaustive()
    }
}

/// Checks a configured base URL and returns it without a trailing slash. A path prefix for a reverse proxy is
/// allowed, but not `/api…`: the client appends that itself.
fn normalise_base_url(raw: &str) -> Result<String, KasmError> {
    http::base_url("Kasm", raw, &["/api", "/api/public"], "the API path").map_err(KasmError::Config)
}

/// The extra root certificates of `ca_pem`. Error messages never quote the PEM (it is configuration text that
/// could hold anything pasted by mistake, a private key included).
fn parse_ca_pem(pem: &str) -> Result<Vec<reqwest::Certificate>, KasmError> {
    if pem.trim().is_empty() {
        return Err(KasmError::Config("Kasm CA certificate (ca_pem) is set but empty".into()));
    }
    let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|_| {
        KasmError::Config("Kasm CA certificate (ca_pem) is not valid PEM: a CERTIFICATE block is malformed".into())
    })?;
    if certs.is_empty() {
        return Err(KasmError::Config(
            "Kasm CA certificate (ca_pem) holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    Ok(certs)
}

/// A send/receive failure as a `KasmError` (the caller redacts it, like every error).
fn transport_error(endpoint: &str, e: reqwest::Error) -> KasmError {
    match http::NoAnswer::of(endpoint, e) {
        http::NoAnswer::Timeout => KasmError::Timeout,
        http::NoAnswer::Transport(text) => KasmError::Transport(text),
    }
}

/// `get_user` found nobody: it says a bare "Invalid Request" for that, besides the usual "unknown user"
/// spellings. Wider than [`is_gone_user`], which is for endpoints where "Invalid Request" means malformed.
fn is_lookup_miss(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.starts_with("invalid request")
        || m.contains("unknown user")
        || m.contains("no user found")
        || m.contains("invalid user")
}

fn is_unknown_kasm(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.starts_with("invalid kasm_id") || m.contains("no session found") || m.contains("could not find requested kasm")
}

impl KasmClient {
    /// Validates the configuration and builds the HTTP client. Makes no request.
    pub fn new(cfg: KasmConfig) -> Result<Self, KasmError> {
        let base_url = normalise_base_url(&cfg.base_url)?;
        if cfg.api_key.trim().is_empty() || cfg.api_secret.trim().is_empty() {
            return Err(KasmError::Config("Kasm API key and secret must both be set".into()));
        }
        if cfg.timeout.is_zero() {
            return Err(KasmError::Config("Kasm timeout must be greater than zero".into()));
        }
        let extra_roots = cfg.ca_pem.as_deref().map(parse_ca_pem).transpose()?;
        let has_extra_roots = extra_roots.is_some();
        // No redirects (see `http::client_builder`): here one would also mean a wrong scheme or path.
        let http = http::client_builder(cfg.timeout)
            .tls_danger_accept_invalid_certs(cfg.insecure_skip_tls_verify)
            // Merged with the system roots; a certificate that does not parse fails `build` below.
            .tls_certs_merge(extra_roots.unwrap_or_default())
            .build()
            .map_err(|e| {
                let what = if has_extra_roots { " (check ca_pem: a certificate may be invalid)" } else { "" };
                KasmError::Config(format!("cannot build the HTTP client{what}: {}", http::error_chain(&e)))
            })?;
        let api_prefix = match cfg.auth {
            KasmAuthStyle::JsonBody => format!("{base_url}/api/public/"),
            KasmAuthStyle::HttpBasic => format!("{base_url}/api/"),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                api_prefix,
                api_key: cfg.api_key,
                api_secret: cfg.api_secret,
                auth: cfg.auth,
                breaker: Mutex::new(Breaker::new(BreakerConfig::default())),
            }),
        })
    }

    /// The same client with its own, fresh circuit breaker configured as given. Call it right after
    /// [`KasmClient::new`]: clones made before keep the old breaker.
    pub fn with_breaker(self, breaker: BreakerConfig) -> Self {
        let inner = &*self.inner;
        Self {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                base_url: inner.base_url.clone(),
                api_prefix: inner.api_prefix.clone(),
                api_key: inner.api_key.clone(),
                api_secret: inner.api_secret.clone(),
                auth: inner.auth,
                breaker: Mutex::new(Breaker::new(breaker)),
            }),
        }
    }

    /// The circuit breaker's state now, e.g. for a metrics gauge. `HalfOpen` once the cool-down is over.
    pub fn breaker_state(&self) -> BreakerState {
        self.breaker().state(Instant::now())
    }

    /// The circuit breaker's settings (durations clamped to a day).
    pub fn breaker_config(&self) -> BreakerConfig {
        self.breaker().config()
    }

    fn breaker(&self) -> MutexGuard<'_, Breaker> {
        // The breaker is a few plain fields: a panic elsewhere cannot leave it in a harmful state.
        self.inner.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets a call out, or fails fast while the breaker is open.
    fn admit(&self, endpoint: &'static str) -> Result<Ticket, KasmError> {
        let now = Instant::now();
        let (admitted, retry_in) = {
            let mut breaker = self.breaker();
            let admitted = breaker.admit(now);
            (admitted, breaker.retry_in(now))
        };
        match admitted {
            Some((ticket, change)) => {
                if let Some(change) = change {
                    self.log_breaker_change(change);
                }
                Ok(ticket)
            }
            None => {
                tracing::debug!(endpoint, "kasm call not sent: circuit breaker open");
                Err(KasmError::CircuitOpen { retry_in })
            }
        }
    }

    /// Reports a call's outcome to the breaker.
    fn settle(&self, ticket: Ticket, result: &Result<Value, KasmError>) {
        let transient_failure = matches!(result, Err(e) if e.is_transient_failure());
        let change = self.breaker().record(ticket, transient_failure, Instant::now());
        if let Some(change) = change {
            self.log_breaker_change(change);
        }
    }

    fn log_breaker_change(&self, change: Change) {
        let base_url = self.inner.base_url.as_str();
        match change {
            Change::Opened => {
                let cfg = self.breaker_config();
                let cool_down_ms = u64::try_from(cfg.cool_down.as_millis()).unwrap_or(u64::MAX);
                tracing::warn!(base_url, cool_down_ms, "kasm circuit breaker opened: failing fast");
            }
            Change::HalfOpened => tracing::info!(base_url, "kasm circuit breaker half-open: sending a trial call"),
            Change::Closed => tracing::info!(base_url, "kasm circuit breaker closed: Kasm answers again"),
        }
    }

    /// The configured base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// Makes Kasm's relative connect path (`/#/connect/kasm/...`) absolute.
    pub fn connect_url(&self, relative_kasm_url: &str) -> String {
        if relative_kasm_url.starts_with("http://") || relative_kasm_url.starts_with("https://") {
            relative_kasm_url.to_owned()
        } else if relative_kasm_url.starts_with('/') {
            format!("{}{relative_kasm_url}", self.inner.base_url)
        } else {
            format!("{}/{relative_kasm_url}", self.inner.base_url)
        }
    }

    /// POSTs one endpoint with credentials and returns the JSON object of a 2xx answer (business errors are
    /// still inside; see [`check_business`]).
    async fn post(&self, endpoint: &'static str, fields: Value) -> Result<Value, KasmError> {
        let ticket = self.admit(endpoint)?;
        let result = self.send(endpoint, fields).await;
        self.settle(ticket, &result);
        result
    }

    /// One HTTP exchange. Errors are redacted before they are logged or returned.
    async fn send(&self, endpoint: &'static str, fields: Value) -> Result<Value, KasmError> {
        let inner = &*self.inner;
        let url = format!("{}{endpoint}", inner.api_prefix);
        let mut body = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let mut request = inner.http.post(&url);
        match inner.auth {
            KasmAuthStyle::JsonBody => {
                body.insert("api_key".into(), Value::String(inner.api_key.clone()));
                body.insert("api_key_secret".into(), Value::String(inner.api_secret.clone()));
            }
            KasmAuthStyle::HttpBasic => {
                // reqwest marks the header sensitive, so it is never printed either.
                request = request.basic_auth(&inner.api_key, Some(&inner.api_secret));
            }
        }
        let started = Instant::now();
        let result = async {
            let response = request.json(&Value::Object(body)).send().await.map_err(|e| transport_error(endpoint, e))?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await.map_err(|e| transport_error(endpoint, e))?;
            Ok::<_, KasmError>((status, bytes))
        }
        .await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        match result {
            Ok((status, bytes)) => {
                tracing::debug!(endpoint, status, elapsed_ms, "kasm call");
                wire::interpret(status, &wire::scrub_body(&bytes, &inner.api_secret))
                    .map_err(|e| e.redact(&inner.api_secret))
            }
            Err(e) => {
                let e = e.redact(&inner.api_secret);
                tracing::debug!(endpoint, elapsed_ms, error = %e, "kasm call failed");
                Err(e)
            }
        }
    }

    /// `get_user` by username. Kasm answers 400 "Invalid Request" for an unknown user: that is `Ok(None)`.
    pub async fn get_user_by_username(&self, username: &str) -> Result<Option<KasmUser>, KasmError> {
        let reply =
            self.post("get_user", json!({ "target_user": { "username": username } })).await.and_then(check_business);
        match reply {
            Ok(body) => {
                let env: wire::UserEnvelope = decode("get_user", body)?;
                Ok(env.user.map(wire::RawUser::into_user))
            }
            Err(KasmError::BadRequest { message, .. } | KasmError::Business(message)) if is_lookup_miss(&message) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `create_user`. An existing username is a `BadRequest` ("Error creating user (…)"); see
    /// [`KasmClient::ensure_user`] for the look-up-or-create dance.
    pub async fn create_user(
        &self,
        username: &str,
        password: &str,
        first_name: &str,
        last_name: &str,
    ) -> Result<KasmUser, KasmError> {
        let body = self
            .post(
                "create_user",
                json!({ "target_user": {
                    "username": username,
                    "password": password,
                    "first_name": first_name,
                    "last_name": last_name,
                    "locked": false,
                    "disabled": false,
                }}),
            )
            .await
            .and_then(check_business)?;
        let env: wire::UserEnvelope = decode("create_user", body)?;
        env.user
            .map(wire::RawUser::into_user)
            .ok_or_else(|| KasmError::Decode("create_user: reply without a user".into()))
    }

    /// `update_user`. `username` is always sent: Kasm 1.15 refuses an update without it ("Username is not
    /// present"), even when the name does not change. `None` leaves password, disabled and locked as they are.
    /// A new password must pass Kasm's complexity rules.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_user(
        &self,
        user_id: KasmUserId,
        username: &str,
        first_name: &str,
        last_name: &str,
        password: Option<&str>,
        disabled: Option<bool>,
        locked: Option<bool>,
    ) -> Result<KasmUser, KasmError> {
        let mut target = Map::new();
        target.insert("user_id".into(), Value::String(user_id.to_string()));
        target.insert("username".into(), Value::String(username.to_owned()));
        target.insert("first_name".into(), Value::String(first_name.to_owned()));
        target.insert("last_name".into(), Value::String(last_name.to_owned()));
        if let Some(password) = password {
            target.insert("password".into(), Value::String(password.to_owned()));
        }
        if let Some(disabled) = disabled {
            target.insert("disabled".into(), Value::Bool(disabled));
        }
        if let Some(locked) = locked {
            target.insert("locked".into(), Value::Bool(locked));
        }
        let body =
            self.post("update_user", json!({ "target_user": Value::Object(target) })).await.and_then(check_business)?;
        let env: wire::UserEnvelope = decode("update_user", body)?;
        env.user
            .map(wire::RawUser::into_user)
            .ok_or_else(|| KasmError::Decode("update_user: reply without a user".into()))
    }

    /// `delete_user`. Without `force`, Kasm refuses while the user has any session (400 "Users contains (n)
    /// kasms and 'force' option not set to True"); with it, Kasm destroys them first (accounting reason
    /// `admin_destroyed`). Idempotent: an unknown user counts as deleted.
    pub async fn delete_user(&self, user_id: KasmUserId, force: bool) -> Result<(), KasmError> {
        let reply = self
            .post("delete_user", json!({ "target_user": { "user_id": user_id.to_string() }, "force": force }))
            .await
            .and_then(check_business);
        match reply {
            Ok(_) => Ok(()),
            Err(KasmError::BadRequest { message, .. } | KasmError::Business(message)) if is_gone_user(&message) => {
                tracing::debug!(%user_id, "delete_user: user already gone");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `get_login`: a login link for the user, ABSOLUTE (Kasm builds it from the `Host` header it received,
    /// so behind a proxy it names the forwarded host). It embeds a fresh session token: treat it as a
    /// credential and never log it.
    pub async fn get_login(&self, user_id: KasmUserId) -> Result<String, KasmError> {
        let body = self
            .post("get_login", json!({ "target_user": { "user_id": user_id.to_string() } }))
            .await
            .and_then(check_business)?;
        let reply: wire::LoginReply = decode("get_login", body)?;
        match reply.url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            // A relative link would be a change of contract; making it absolute keeps callers working.
            Some(url) => Ok(self.connect_url(url)),
            None => Err(KasmError::Decode("get_login: reply without a url".into())),
        }
    }

    /// `get_groups` (undocumented admin endpoint): every group, built-in ones ("All Users",
    /// "Administrators") included.
    pub async fn get_groups(&self) -> Result<Vec<KasmGroup>, KasmError> {
        let body = self.post("get_groups", json!({})).await.and_then(check_business)?;
        let env: wire::GroupsEnvelope = decode("get_groups", body)?;
        Ok(env.groups.into_iter().map(wire::RawGroup::into_group).collect())
    }

    /// `add_user_group`: the user may now launch the group's images. Adding a member again is harmless.
    pub async fn add_user_group(&self, user_id: KasmUserId, group_id: KasmGroupId) -> Result<(), KasmError> {
        self.group_membership("add_user_group", user_id, group_id).await
    }

    /// `remove_user_group`. Removing a non-member is harmless.
    pub async fn remove_user_group(&self, user_id: KasmUserId, group_id: KasmGroupId) -> Result<(), KasmError> {
        self.group_membership("remove_user_group", user_id, group_id).await
    }

    async fn group_membership(
        &self,
        endpoint: &'static str,
        user_id: KasmUserId,
        group_id: KasmGroupId,
    ) -> Result<(), KasmError> {
        self.post(
            endpoint,
            json!({
                "target_user": { "user_id": user_id.to_string() },
                "target_group": { "group_id": group_id.to_string() },
            }),
        )
        .await
        .and_then(check_business)
        .map(drop)
    }

    /// The user with this username, created if missing (also safe when two callers race to create it).
    pub async fn ensure_user(
        &self,
        username: &str,
        password: &str,
        first_name: &str,
        last_name: &str,
    ) -> Result<KasmUser, KasmError> {
        if let Some(user) = self.get_user_by_username(username).await? {
            return Ok(user);
        }
        match self.create_user(username, password, first_name, last_name).await {
            Ok(user) => Ok(user),
            Err(e @ KasmError::BadRequest { .. }) => match self.get_user_by_username(username).await? {
                Some(user) => Ok(user),
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// `get_images`: every image, disabled ones included.
    pub async fn get_images(&self) -> Result<Vec<KasmImage>, KasmError> {
        let body = self.post("get_images", json!({})).await.and_then(check_business)?;
        let env: wire::ImagesEnvelope = decode("get_images", body)?;
        Ok(env.images.into_iter().map(wire::RawImage::into_image).collect())
    }

    /// `request_kasm`: starts a NEW session on every call (not idempotent). After a `Timeout`, `Transport` or
    /// `Server` error the session may exist anyway: look for it (`get_user_kasms`) before asking again.
    pub async fn request_kasm(
        &self,
        user_id: KasmUserId,
        image_id: KasmImageId,
        environment: &BTreeMap<String, String>,
    ) -> Result<RequestedKasm, KasmError> {
        let body = self
            .post(
                "request_kasm",
                json!({
                    "user_id": user_id.to_string(),
                    "image_id": image_id.to_string(),
                    "environment": environment,
                }),
            )
            .await
            .and_then(check_business)?;
        let raw: wire::RawRequested = decode("request_kasm", body)?;
        Ok(raw.into_requested())
    }

    /// `get_kasms`: every live session of every user, in any state. No side effects: the reconciler's call.
    pub async fn get_kasms(&self) -> Result<KasmList, KasmError> {
        let body = self.post("get_kasms", json!({})).await.and_then(check_business)?;
        Self::decode_list("get_kasms", body)
    }

    /// `get_user_kasms` (undocumented): one user's live sessions.
    pub async fn get_user_kasms(&self, user_id: KasmUserId) -> Result<KasmList, KasmError> {
        let body =
            self.post("get_user_kasms", json!({ "user_id": user_id.to_string() })).await.and_then(check_business)?;
        Self::decode_list("get_user_kasms", body)
    }

    fn decode_list(endpoint: &str, body: Value) -> Result<KasmList, KasmError> {
        let env: wire::KasmsEnvelope = decode(endpoint, body)?;
        Ok(KasmList {
            kasms: env.kasms.into_iter().map(wire::RawSession::into_session).collect(),
            current_time: env.current_time,
        })
    }

    async fn session_action(
        &self,
        endpoint: &'static str,
        kasm_id: KasmId,
        user_id: KasmUserId,
    ) -> Result<Value, KasmError> {
        self.post(endpoint, json!({ "kasm_id": kasm_id.to_string(), "user_id": user_id.to_string() }))
            .await
            .and_then(check_business)
    }

    /// `stop_kasm`: running or paused -> stopping -> stopped (disk kept, licence slot freed).
    pub async fn stop_kasm(&self, kasm_id: KasmId, user_id: KasmUserId) -> Result<(), KasmError> {
        self.session_action("stop_kasm", kasm_id, user_id).await.map(drop)
    }

    /// `pause_kasm`: running -> pausing -> paused (memory kept, licence slot freed).
    pub async fn pause_kasm(&self, kasm_id: KasmId, user_id: KasmUserId) -> Result<(), KasmError> {
        self.session_action("pause_kasm", kasm_id, user_id).await.map(drop)
    }

    /// `resume_kasm`: stopped or paused -> starting -> running. Re-checks the concurrent-session licence.
    pub async fn resume_kasm(&self, kasm_id: KasmId, user_id: KasmUserId) -> Result<(), KasmError> {
        self.session_action("resume_kasm", kasm_id, user_id).await.map(drop)
    }

    /// `destroy_kasm`. Idempotent: a session that is already gone counts as destroyed. Destruction is
    /// asynchronous; the session shows as delete-pending in `get_kasms` for a while.
    pub async fn destroy_kasm(&self, kasm_id: KasmId, user_id: KasmUserId) -> Result<(), KasmError> {
        match self.session_action("destroy_kasm", kasm_id, user_id).await {
            Ok(_) => Ok(()),
            Err(KasmError::Business(m) | KasmError::BadRequest { message: m, .. }) if is_unknown_kasm(&m) => {
                tracing::debug!(%kasm_id, "destroy_kasm: session already gone");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// `keepalive`: pushes the session's expiry out. Returns `usage_reached` (true = not extended).
    pub async fn keepalive(&self, kasm_id: KasmId) -> Result<bool, KasmError> {
        let body = self.post("keepalive", json!({ "kasm_id": kasm_id.to_string() })).await.and_then(check_business)?;
        let reply: wire::KeepaliveReply = decode("keepalive", body)?;
        Ok(reply.usage_reached.unwrap_or(false))
    }

    /// `get_kasm_status`. ROTATES the session token, so the previous connect link stops working: use it
    /// to hand out a fresh link, never to poll (that is `get_kasms`).
    ///
    /// A session that exists but is not running (yet) is [`KasmStatusReply::NotReady`], never an error, in
    /// every shape Kasm answers it: a `kasm` object in a non-running state; no `kasm` object but a top-level
    /// `operational_status` and/or `status` (1.18, next to `kasm_id` and `operational_progress`/`_message`);
    /// or only an `error_message` such as "This session is currently starting." (with a 200, or a 4xx).
    pub async fn get_kasm_status(&self, kasm_id: KasmId, user_id: KasmUserId) -> Result<KasmStatusReply, KasmError> {
        let reply = self
            .post("get_kasm_status", json!({ "kasm_id": kasm_id.to_string(), "user_id": user_id.to_string() }))
            .await;
        let body = match reply {
            Ok(body) => body,
            Err(KasmError::BadRequest { message, .. }) if wire::is_not_ready_message(&message) => {
                return Ok(KasmStatusReply::NotReady { status: None, progress: None, message });
            }
            Err(e) => return Err(e),
        };
        if let Some(message) = wire::body_error(&body) {
            // Read the rest leniently: the refusal decides, the state fields only add detail.
            let env = decode::<wire::StatusEnvelope>("get_kasm_status", body).ok();
            return match KasmBusinessKind::classify(&message) {
                KasmBusinessKind::NotFound => Ok(KasmStatusReply::NotFound),
                _ if wire::is_not_ready_message(&message) => Ok(KasmStatusReply::NotReady {
                    status: env.as_ref().and_then(wire::StatusEnvelope::top_level_status),
                    progress: env.and_then(|e| e.operational_progress),
                    message,
                }),
                _ => Err(KasmError::Business(message)),
            };
        }
        let env: wire::StatusEnvelope = decode("get_kasm_status", body)?;
        let top_status = env.top_level_status();
        match (env.kasm, env.kasm_url) {
            (Some(kasm), Some(kasm_url))
                if kasm.operational_status.as_deref().is_none_or(|s| KasmStatus::parse(s).is_running()) =>
            {
                let mut session = kasm.into_session();
                if matches!(&session.status, KasmStatus::Other(s) if s.is_empty()) {
                    session.status = KasmStatus::Running;
                }
                Ok(KasmStatusReply::Running { session, kasm_url, current_time: env.current_time })
            }
            (Some(kasm), _) if kasm.operational_status.is_some() => Ok(KasmStatusReply::NotReady {
                status: kasm.operational_status.as_deref().map(KasmStatus::parse),
                progress: kasm.operational_progress.or(env.operational_progress),
                message: kasm.operational_message.or(env.operational_message).unwrap_or_default(),
            }),
            _ => match top_status {
                Some(status) => Ok(KasmStatusReply::NotReady {
                    status: Some(status),
                    progress: env.operational_progress,
                    message: env.operational_message.unwrap_or_default(),
                }),
                None => Err(KasmError::Decode("get_kasm_status: neither a session nor a status".into())),
            },
        }
    }

    /// `get_session_history` (undocumented admin endpoint): accounting rows of ended sessions, newest first.
    /// The only place Kasm records a session's exact end (`destroyed_date`).
    pub async fn get_session_history(
        &self,
        kasm_id: Option<KasmId>,
        page: u32,
        page_size: u32,
    ) -> Result<KasmHistoryPage, KasmError> {
        let filters: Vec<Value> =
            kasm_id.map(|k| json!({ "id": "kasm_id", "value": k.to_string() })).into_iter().collect();
        let body = self
            .post(
                "get_session_history",
                json!({
                    "page": page,
                    "page_size": page_size,
                    "sort_by": "destroyed_date",
                    "sort_direction": "desc",
                    "filters": filters,
                }),
            )
            .await
            .and_then(check_business)?;
        let env: wire::HistoryEnvelope = decode("get_session_history", body)?;
        Ok(KasmHistoryPage {
            sessions: env.sessions.into_iter().map(wire::RawAccountingRow::into_row).collect(),
            total: env.total,
        })
    }

    /// `GET /api/__healthcheck` (unauthenticated liveness probe, `{"ok": true}`). It bypasses the circuit
    /// breaker on purpose: a probe must see the server as it is, not the breaker's memory of it.
    pub async fn health(&self) -> Result<(), KasmError> {
        let secret = self.inner.api_secret.as_str();
        let url = format!("{}/api/__healthcheck", self.inner.base_url);
        let response =
            self.inner.http.get(&url).send().await.map_err(|e| transport_error("__healthcheck", e).redact(secret))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| transport_error("__healthcheck", e).redact(secret))?;
        let body = wire::interpret(status, &wire::scrub_body(&bytes, secret)).map_err(|e| e.redact(secret))?;
        match body.get("ok") {
            Some(Value::Bool(false)) => Err(KasmError::Decode("healthcheck answered ok=false".into())),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cfg(base: &str) -> KasmConfig {
        KasmConfig {
            base_url: base.into(),
            api_key: "key-id".into(),
            api_secret: "very-secret-value".into(),
            auth: KasmAuthStyle::JsonBody,
            timeout: Duration::from_secs(5),
            insecure_skip_tls_verify: false,
            ca_pem: None,
        }
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let c = cfg("https://kasm.example.com");
        assert!(!format!("{c:?}").contains("very-secret-value"));
        let client = KasmClient::new(c).unwrap();
        let dbg = format!("{client:?}");
        assert!(!dbg.contains("very-secret-value"));
        assert!(dbg.contains("kasm.example.com"));
    }

    #[test]
    fn base_url_loses_its_trailing_slash_and_keeps_a_proxy_prefix() {
        let client = KasmClient::new(cfg("https://kasm.example.com/")).unwrap();
        assert_eq!(client.base_url(), "https://kasm.example.com");
        let client = KasmClient::new(cfg("http://127.0.0.1:4010/kasm/")).unwrap();
        assert_eq!(client.base_url(), "http://127.0.0.1:4010/kasm");
        assert_eq!(client.connect_url("/#/connect/kasm/a/b/c"), "http://127.0.0.1:4010/kasm/#/connect/kasm/a/b/c");
    }

    #[test]
    fn unusable_configuration_is_a_config_error() {
        for bad in ["kasm.example.com", "ftp://kasm", "https://kasm/api/public", "https://u:p@kasm", "https://k/?a=1"] {
            assert!(matches!(KasmClient::new(cfg(bad)), Err(KasmError::Config(_))), "{bad}");
        }
        let mut c = cfg("https://kasm.example.com");
        c.api_secret = " ".into();
        assert!(matches!(KasmClient::new(c), Err(KasmError::Config(_))));
        let mut c = cfg("https://kasm.example.com");
        c.timeout = Duration::ZERO;
        assert!(matches!(KasmClient::new(c), Err(KasmError::Config(_))));
    }

    #[test]
    fn unknown_user_and_unknown_kasm_messages_are_recognised() {
        assert!(is_lookup_miss("Invalid Request"));
        assert!(is_lookup_miss("Unknown user (abc)"));
        assert!(!is_lookup_miss("Access Denied"));
        assert!(is_unknown_kasm("No session found with kasm_id (abc)"));
        assert!(is_unknown_kasm("Invalid kasm_id (abc)"));
        assert!(!is_unknown_kasm("Destroy Error"));
        assert!(is_gone_user("Unknown user (abc)"));
        assert!(is_gone_user("No user found with id: (abc)"));
        assert!(!is_gone_user("Invalid Request: Missing required parameters"));
        assert!(!is_gone_user("Users contains (2) kasms and 'force' option not set to True"));
    }

    #[test]
    fn new_clients_get_the_default_breaker_and_with_breaker_replaces_it() {
        let client = KasmClient::new(cfg("https://kasm.example.com")).unwrap();
        assert_eq!(client.breaker_config(), BreakerConfig::default());
        assert_eq!(client.breaker_state(), BreakerState::Closed);
        let custom = BreakerConfig { failure_threshold: 2, window: Duration::from_secs(5), cool_down: Duration::ZERO };
        let client = client.with_breaker(custom);
        assert_eq!(client.breaker_config(), custom);
        assert_eq!(client.base_url(), "https://kasm.example.com");
        assert!(!format!("{client:?}").contains("very-secret-value"));
    }

    /// A local port nobody listens on.
    fn dead_base_url() -> String {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        format!("http://127.0.0.1:{port}")
    }

    #[tokio::test]
    async fn refused_connections_open_the_breaker_and_then_calls_fail_fast() {
        let breaker =
            BreakerConfig { failure_threshold: 2, window: Duration::from_secs(60), cool_down: Duration::from_secs(60) };
        let client = KasmClient::new(cfg(&dead_base_url())).unwrap().with_breaker(breaker);
        for _ in 0..2 {
            let err = client.get_kasms().await.unwrap_err();
            assert!(matches!(err, KasmError::Transport(_)), "{err:?}");
        }
        assert_eq!(client.breaker_state(), BreakerState::Open);
        let err = client.get_images().await.unwrap_err();
        assert!(matches!(err, KasmError::CircuitOpen { .. }), "{err:?}");
        assert!(err.is_retryable());
        // Clones share the breaker.
        assert!(matches!(client.clone().get_kasms().await, Err(KasmError::CircuitOpen { .. })));
    }

    #[tokio::test]
    async fn after_the_cool_down_a_trial_call_goes_out_and_a_failure_reopens() {
        let breaker =
            BreakerConfig { failure_threshold: 1, window: Duration::from_secs(60), cool_down: Duration::ZERO };
        let client = KasmClient::new(cfg(&dead_base_url())).unwrap().with_breaker(breaker);
        assert!(matches!(client.get_kasms().await, Err(KasmError::Transport(_))));
        // A zero cool-down: the breaker is half-open at once, so the next call is a real trial.
        assert_eq!(client.breaker_state(), BreakerState::HalfOpen);
        assert!(matches!(client.get_kasms().await, Err(KasmError::Transport(_))));
    }

    #[tokio::test]
    async fn a_disabled_breaker_never_fails_fast() {
        let client = KasmClient::new(cfg(&dead_base_url())).unwrap().with_breaker(BreakerConfig::disabled());
        for _ in 0..8 {
            assert!(matches!(client.get_kasms().await, Err(KasmError::Transport(_))));
        }
        assert_eq!(client.breaker_state(), BreakerState::Closed);
    }
}
