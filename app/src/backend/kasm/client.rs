//! The HTTP side of the Kasm client: configuration, authentication styles, and one method per endpoint.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::error::{KasmBusinessKind, KasmError};
use super::ids::{KasmId, KasmImageId, KasmUserId};
use super::types::{KasmHistoryPage, KasmImage, KasmList, KasmStatus, KasmStatusReply, KasmUser, RequestedKasm};
use super::wire::{self, check_business, decode};

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
    pub insecure_skip_tls_verify: bool,
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
}

/// A typed client for one Kasm server. Cheap to clone; safe to share.
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

/// Checks a configured base URL and returns it without a trailing slash.
fn normalise_base_url(raw: &str) -> Result<String, KasmError> {
    let trimmed = raw.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(trimmed)
        .map_err(|e| KasmError::Config(format!("Kasm base URL {trimmed:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(KasmError::Config(format!("Kasm base URL {trimmed:?} must start with http:// or https://")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(KasmError::Config(format!("Kasm base URL {trimmed:?} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL end up in logs and error messages.
        return Err(KasmError::Config("Kasm base URL must not contain credentials".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(KasmError::Config(format!("Kasm base URL {trimmed:?} must not have a query or fragment")));
    }
    let path = url.path().trim_end_matches('/');
    if path.ends_with("/api") || path.ends_with("/api/public") {
        return Err(KasmError::Config(format!(
            "Kasm base URL {trimmed:?} must not include /api or /api/public; the client adds the API path"
        )));
    }
    Ok(trimmed.to_owned())
}

/// A send/receive failure: timeouts are told apart; the URL is dropped from the text (it is in the endpoint).
fn transport_error(endpoint: &str, e: reqwest::Error) -> KasmError {
    if e.is_timeout() {
        return KasmError::Timeout;
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    KasmError::Transport(format!("{endpoint}: {text}"))
}

fn is_unknown_user(message: &str) -> bool {
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
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            // A redirect would turn the POST into a GET and usually means a wrong scheme or path.
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(cfg.insecure_skip_tls_verify)
            .user_agent(concat!("ezscale-workspaces/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| KasmError::Config(format!("cannot build the HTTP client: {e}")))?;
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
            }),
        })
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
                wire::interpret(status, &bytes)
            }
            Err(e) => {
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
            Err(KasmError::BadRequest { message, .. } | KasmError::Business(message)) if is_unknown_user(&message) => {
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
    pub async fn get_kasm_status(&self, kasm_id: KasmId, user_id: KasmUserId) -> Result<KasmStatusReply, KasmError> {
        let body = self
            .post("get_kasm_status", json!({ "kasm_id": kasm_id.to_string(), "user_id": user_id.to_string() }))
            .await?;
        let top_status = body.get("operational_status").and_then(Value::as_str).map(KasmStatus::parse);
        if let Some(message) = wire::body_error(&body) {
            let lower = message.to_ascii_lowercase();
            return match KasmBusinessKind::classify(&message) {
                KasmBusinessKind::NotFound => Ok(KasmStatusReply::NotFound),
                _ if lower.contains("currently")
                    || lower.contains("scheduled to be")
                    || lower.contains("not running") =>
                {
                    Ok(KasmStatusReply::NotReady { status: top_status, message })
                }
                _ => Err(KasmError::Business(message)),
            };
        }
        let env: wire::StatusEnvelope = decode("get_kasm_status", body)?;
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
            (kasm, _) => {
                let status =
                    kasm.and_then(|k| k.operational_status).or(env.operational_status).map(|s| KasmStatus::parse(&s));
                match status {
                    Some(status) => Ok(KasmStatusReply::NotReady { status: Some(status), message: String::new() }),
                    None => Err(KasmError::Decode("get_kasm_status: neither a session nor a status".into())),
                }
            }
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

    /// `GET /api/__healthcheck` (unauthenticated liveness probe, `{"ok": true}`).
    pub async fn health(&self) -> Result<(), KasmError> {
        let url = format!("{}/api/__healthcheck", self.inner.base_url);
        let response = self.inner.http.get(&url).send().await.map_err(|e| transport_error("__healthcheck", e))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| transport_error("__healthcheck", e))?;
        let body = wire::interpret(status, &bytes)?;
        match body.get("ok") {
            Some(Value::Bool(false)) => Err(KasmError::Decode("healthcheck answered ok=false".into())),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
        assert!(is_unknown_user("Invalid Request"));
        assert!(is_unknown_user("Unknown user (abc)"));
        assert!(!is_unknown_user("Access Denied"));
        assert!(is_unknown_kasm("No session found with kasm_id (abc)"));
        assert!(is_unknown_kasm("Invalid kasm_id (abc)"));
        assert!(!is_unknown_kasm("Destroy Error"));
    }
}
