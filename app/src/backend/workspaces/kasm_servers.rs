//! The Kasm servers (zones) workspaces run on.
//!
//! The server named by configuration (`KASM_URL`, or the built-in simulator) is recorded as `default`; its
//! credentials stay in the environment. An admin adds others (a second region, a dedicated cluster) with
//! their own URL, key and secret; the secret is sealed at rest, bound to the row. Every workspace records
//! the server it was placed on when ordered: the plan's pin, else the tenant's pin, else `default`. A
//! disabled server takes no new workspaces, but the ones already on it are still started, stopped and
//! reconciled.
//!
//! One `KasmClient` per server, cached by the row's `updated_at`, so each server keeps its own circuit
//! breaker and an edited row takes effect on the next call.
//!
//! The admin's Kasm page reads them here too, with each one's breaker, last reconcile pass and image count
//! (`overview`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::plan_templates::{self, PlanTemplate};
use crate::backend::clients::kasm::{BreakerState, KasmAuthStyle, KasmClient, KasmConfig, KasmError};
use crate::backend::platform::crypto::Crypto;
use crate::backend::platform::db::{now, CentralDb};
use crate::backend::state::AppState;
use crate::backend::tenancy::registry;
use crate::backend::{corrupt, BackendError};
use crate::domain::time::Timestamp;

pub const DEFAULT_SERVER: &str = "default";

/// A server as listed (never with its secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KasmServer {
    pub id: String,
    pub name: String,
    pub zone: String,
    pub base_url: String,
    pub auth: KasmAuthStyle,
    pub api_key: String,
    pub insecure_tls: bool,
    pub has_ca: bool,
    pub from_config: bool,
    pub enabled: bool,
    pub updated_at: i64,
}

/// An admin's input for a new or edited server, parsed once at the edge.
#[derive(Clone, Debug)]
pub struct ServerInput {
    pub id: String,
    pub name: String,
    pub zone: String,
    pub base_url: String,
    pub auth: String,
    pub api_key: String,
    /// Blank when editing = keep the stored secret.
    pub api_secret: String,
    pub insecure_tls: bool,
    pub ca_pem: String,
    pub enabled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Bad input, with a message for the form.
    #[error("{0}")]
    Invalid(String),
    #[error("no such Kasm server")]
    NotFound,
    #[error("a Kasm server with this id already exists")]
    Exists,
    /// The configured server is edited through the environment, not the admin page.
    #[error("the default server is set by configuration (KASM_URL)")]
    FromConfig,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<sqlx::Error> for ServerError {
    fn from(e: sqlx::Error) -> Self {
        ServerError::Backend(e.into())
    }
}

/// `[a-z0-9-]`, 1 to 32 characters, not starting or ending with `-`.
pub fn parse_server_id(raw: &str) -> Result<String, ServerError> {
    let id = raw.trim().to_ascii_lowercase();
    let ok = !id.is_empty()
        && id.len() <= 32
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok {
        Ok(id)
    } else {
        Err(ServerError::Invalid("Server id: 1 to 32 lower-case letters, digits or dashes.".into()))
    }
}

fn parse_auth(raw: &str) -> Result<KasmAuthStyle, ServerError> {
    match raw.trim() {
        "" | "body" => Ok(KasmAuthStyle::JsonBody),
        "basic" => Ok(KasmAuthStyle::HttpBasic),
        _ => Err(ServerError::Invalid("Authentication: \"body\" or \"basic\".".into())),
    }
}

/// `body` or `basic`, as stored and as the admin's form names them.
pub fn auth_str(a: KasmAuthStyle) -> &'static str {
    match a {
        KasmAuthStyle::JsonBody => "body",
        KasmAuthStyle::HttpBasic => "basic",
    }
}

/// `http(s)://host[:port][/prefix]`, no query, no credentials, no `/api` (the client adds it).
pub fn parse_base_url(raw: &str) -> Result<String, ServerError> {
    let bad = |why: &str| ServerError::Invalid(format!("Server URL: {why}"));
    let s = raw.trim().trim_end_matches('/');
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| bad("must start with https:// or http://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || host.contains('@') || s.contains(['?', '#', ' ']) {
        return Err(bad("a host (and optional port and path) only"));
    }
    let uri: http::Uri = s.parse().map_err(|_| bad("not a valid URL"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if uri.path().split('/').any(|seg| seg == "api") {
        return Err(bad("leave out /api: it is added per authentication style"));
    }
    Ok(s.to_owned())
}

fn secret_context(id: &str) -> String {
    format!("kasm_servers/{id}/api_secret")
}

/// A `kasm_servers` row as listed ([`server_columns!`]).
#[derive(sqlx::FromRow)]
struct ServerRow {
    id: String,
    name: String,
    zone: String,
    base_url: String,
    auth_style: String,
    api_key: String,
    insecure_tls: i64,
    ca_pem: Option<String>,
    from_config: i64,
    enabled: i64,
    updated_at: i64,
}

impl TryFrom<ServerRow> for KasmServer {
    type Error = BackendError;

    fn try_from(r: ServerRow) -> Result<KasmServer, BackendError> {
        Ok(KasmServer {
            id: r.id,
            name: r.name,
            zone: r.zone,
            base_url: r.base_url,
            auth: parse_auth(&r.auth_style).map_err(|_| corrupt("kasm_servers.auth_style"))?,
            api_key: r.api_key,
            insecure_tls: r.insecure_tls != 0,
            has_ca: r.ca_pem.is_some(),
            from_config: r.from_config != 0,
            enabled: r.enabled != 0,
            updated_at: r.updated_at,
        })
    }
}

macro_rules! server_columns {
    () => {
        "id, name, zone, base_url, auth_style, api_key, insecure_tls, ca_pem, from_config, enabled, updated_at"
    };
}

pub async fn list(central: &CentralDb) -> Result<Vec<KasmServer>, BackendError> {
    let rows = sqlx::query_as::<_, ServerRow>(concat!(
        "SELECT ",
        server_columns!(),
        " FROM kasm_servers ORDER BY from_config DESC, id"
    ))
    .fetch_all(central.pool())
    .await?;
    rows.into_iter().map(KasmServer::try_from).collect()
}

pub async fn get(central: &CentralDb, id: &str) -> Result<Option<KasmServer>, BackendError> {
    let row = sqlx::query_as::<_, ServerRow>(concat!("SELECT ", server_columns!(), " FROM kasm_servers WHERE id = $1"))
        .bind(id)
        .fetch_optional(central.pool())
        .await?;
    row.map(KasmServer::try_from).transpose()
}

/// Records the configured server as `default` (its URL may change between starts: the simulator picks a
/// port). Its key and secret are not stored.
pub async fn record_default(central: &CentralDb, base_url: &str, zone: &str) -> Result<(), BackendError> {
    let t = now().as_millis();
    sqlx::query(
        "INSERT INTO kasm_servers (id, name, zone, base_url, from_config, enabled, created_at, updated_at) \
         VALUES ($1, 'Default', $2, $3, 1, 1, $4, $4) \
         ON CONFLICT (id) DO UPDATE SET base_url = excluded.base_url, from_config = 1",
    )
    .bind(DEFAULT_SERVER)
    .bind(zone)
    .bind(base_url)
    .bind(t)
    .execute(central.pool())
    .await?;
    Ok(())
}

/// Adds a server (`existing = false`) or edits one. The connection settings are checked by building a
/// client before anything is written.
pub async fn save(
    central: &CentralDb,
    crypto: &Crypto,
    input: &ServerInput,
    existing: bool,
) -> Result<KasmServer, ServerError> {
    let id = parse_server_id(&input.id)?;
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ServerError::Invalid("Name: 1 to 80 characters.".into()));
    }
    let zone = input.zone.trim();
    if zone.is_empty() || zone.chars().count() > 40 {
        return Err(ServerError::Invalid("Zone: 1 to 40 characters (e.g. eu-west).".into()));
    }
    let base_url = parse_base_url(&input.base_url)?;
    let auth = parse_auth(&input.auth)?;
    let api_key = input.api_key.trim();
    if api_key.is_empty() || api_key.len() > 200 {
        return Err(ServerError::Invalid("API key: required.".into()));
    }
    let ca_pem = Some(input.ca_pem.trim()).filter(|p| !p.is_empty());
    let current = get(central, &id).await?;
    match (&current, existing) {
        (Some(s), _) if s.from_config => return Err(ServerError::FromConfig),
        (Some(_), false) => return Err(ServerError::Exists),
        (None, true) => return Err(ServerError::NotFound),
        _ => {}
    }
    let secret = input.api_secret.trim();
    let sealed = if secret.is_empty() {
        if current.is_none() {
            return Err(ServerError::Invalid("API secret: required.".into()));
        }
        None
    } else {
        if secret.len() > 200 {
            return Err(ServerError::Invalid("API secret: too long.".into()));
        }
        Some(crypto.seal(secret, &secret_context(&id)).map_err(BackendError::from)?)
    };
    // Settings a client cannot be built from (a bad CA certificate) are refused before anything is stored.
    KasmClient::new(KasmConfig {
        base_url: base_url.clone(),
        api_key: api_key.to_owned(),
        api_secret: "check".into(),
        auth,
        timeout: Duration::from_secs(5),
        insecure_skip_tls_verify: input.insecure_tls,
        ca_pem: ca_pem.map(str::to_owned),
    })
    .map_err(|e| ServerError::Invalid(format!("Connection settings: {e}")))?;

    let t = now().as_millis();
    if current.is_none() {
        sqlx::query(
            "INSERT INTO kasm_servers (id, name, zone, base_url, auth_style, api_key, api_secret_enc, insecure_tls, \
             ca_pem, from_config, enabled, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $11)",
        )
        .bind(&id)
        .bind(name)
        .bind(zone)
        .bind(&base_url)
        .bind(auth_str(auth))
        .bind(api_key)
        .bind(sealed)
        .bind(i64::from(input.insecure_tls))
        .bind(ca_pem)
        .bind(i64::from(input.enabled))
        .bind(t)
        .execute(central.pool())
        .await?;
    } else {
        sqlx::query(
            "UPDATE kasm_servers SET name = $1, zone = $2, base_url = $3, auth_style = $4, api_key = $5, \
             api_secret_enc = COALESCE($6, api_secret_enc), insecure_tls = $7, ca_pem = $8, enabled = $9, \
             updated_at = $10 WHERE id = $11 AND from_config = 0",
        )
        .bind(name)
        .bind(zone)
        .bind(&base_url)
        .bind(auth_str(auth))
        .bind(api_key)
        .bind(sealed)
        .bind(i64::from(input.insecure_tls))
        .bind(ca_pem)
        .bind(i64::from(input.enabled))
        // Strictly increasing, so a cached client is rebuilt even for two edits in the same millisecond.
        .bind(t.max(current.as_ref().map_or(0, |c| c.updated_at + 1)))
        .bind(&id)
        .execute(central.pool())
        .await?;
    }
    get(central, &id).await?.ok_or(ServerError::NotFound)
}

/// Pins the tenant `slug` to a server, or unpins it (see [`pin_tenant`]). Returns the tenant.
pub async fn pin_tenant_by_slug(
    central: &CentralDb,
    slug: &str,
    server: Option<&str>,
) -> Result<registry::TenantRecord, ServerError> {
    let record = registry::record_by_slug(central, slug).await?.ok_or(ServerError::NotFound)?;
    pin_tenant(central, record.id, server).await?;
    Ok(record)
}

/// Pins a tenant to a server, or unpins it (`None`). Existing workspaces stay where they are.
pub async fn pin_tenant(
    central: &CentralDb,
    tenant: crate::domain::ids::TenantId,
    server: Option<&str>,
) -> Result<(), ServerError> {
    let server = match server.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => {
            let id = parse_server_id(s)?;
            let found = get(central, &id).await?;
            Some(found.ok_or_else(|| ServerError::Invalid(format!("There is no Kasm server {id}.")))?.id)
        }
        None => None,
    };
    let n = sqlx::query("UPDATE tenants SET kasm_server = $1 WHERE id = $2")
        .bind(server)
        .bind(tenant.to_string())
        .execute(central.pool())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(ServerError::NotFound);
    }
    Ok(())
}

pub async fn tenant_pin(
    central: &CentralDb,
    tenant: crate::domain::ids::TenantId,
) -> Result<Option<String>, BackendError> {
    let pin: Option<Option<String>> = sqlx::query_scalar("SELECT kasm_server FROM tenants WHERE id = $1")
        .bind(tenant.to_string())
        .fetch_optional(central.pool())
        .await?;
    Ok(pin.flatten())
}

/// Where a new workspace goes: the plan's pin, else the tenant's, else the default server. A pinned server
/// that is disabled refuses the order rather than silently placing it elsewhere.
pub async fn place(
    central: &CentralDb,
    plan_pin: Option<&str>,
    tenant: crate::domain::ids::TenantId,
) -> Result<Result<String, String>, BackendError> {
    let tenant_pin = tenant_pin(central, tenant).await?;
    let id = plan_pin.map(str::to_owned).or(tenant_pin).unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    Ok(match get(central, &id).await? {
        Some(s) if s.enabled => Ok(s.id),
        Some(_) => Err(format!("Kasm server {id} is disabled")),
        None => Err(format!("Kasm server {id} does not exist")),
    })
}

/// One client per server, kept while the row is unchanged (so each server keeps its breaker).
pub struct KasmServers {
    default: KasmClient,
    timeout: Duration,
    cache: Mutex<HashMap<String, (i64, KasmClient)>>,
}

impl std::fmt::Debug for KasmServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KasmServers").field("default", &self.default.base_url()).finish_non_exhaustive()
    }
}

/// What a client for a `kasm_servers` row is built from (its sealed secret included).
#[derive(sqlx::FromRow)]
struct ConnectionRow {
    base_url: String,
    auth_style: String,
    api_key: String,
    api_secret_enc: Option<String>,
    insecure_tls: i64,
    ca_pem: Option<String>,
    updated_at: i64,
    from_config: i64,
}

impl KasmServers {
    pub fn new(default: KasmClient, timeout: Duration) -> Self {
        KasmServers { default, timeout, cache: Mutex::new(HashMap::new()) }
    }

    /// The configured server's client.
    pub fn default_client(&self) -> &KasmClient {
        &self.default
    }

    /// The client for a server id, built from its row (secret unsealed here, never logged).
    pub async fn client(&self, central: &CentralDb, crypto: &Crypto, id: &str) -> Result<KasmClient, BackendError> {
        if id == DEFAULT_SERVER {
            return Ok(self.default.clone());
        }
        let row = sqlx::query_as::<_, ConnectionRow>(
            "SELECT base_url, auth_style, api_key, api_secret_enc, insecure_tls, ca_pem, updated_at, from_config \
             FROM kasm_servers WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(central.pool())
        .await?
        .ok_or_else(|| corrupt(format!("unknown Kasm server {id}")))?;
        if let Some((at, client)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            if *at == row.updated_at {
                return Ok(client.clone());
            }
        }
        if row.from_config != 0 {
            return Ok(self.default.clone());
        }
        let secret = match row.api_secret_enc {
            Some(s) => crypto.open(&s, &secret_context(id))?,
            None => return Err(corrupt(format!("Kasm server {id} has no secret"))),
        };
        let updated_at = row.updated_at;
        let client = KasmClient::new(KasmConfig {
            base_url: row.base_url,
            api_key: row.api_key,
            api_secret: secret,
            auth: parse_auth(&row.auth_style).map_err(|_| corrupt("kasm_servers.auth_style"))?,
            timeout: self.timeout,
            insecure_skip_tls_verify: row.insecure_tls != 0,
            ca_pem: row.ca_pem,
        })
        .map_err(BackendError::from)?
        .with_breaker(self.default.breaker_config());
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), (updated_at, client.clone()));
        Ok(client)
    }

    /// The breaker of a server's cached client (`Closed` when no call has been made yet).
    pub fn breaker_state(&self, id: &str) -> BreakerState {
        if id == DEFAULT_SERVER {
            return self.default.breaker_state();
        }
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .map_or(BreakerState::Closed, |(_, c)| c.breaker_state())
    }
}

/// Refreshes the images a server offers (`get_images`) into `kasm_images`: new ones added, changed ones
/// updated, vanished ones removed. Returns how many it now lists.
pub async fn sync_images(central: &CentralDb, server: &str, client: &KasmClient) -> Result<usize, SyncImagesError> {
    let images = client.get_images().await?;
    let t = now().as_millis();
    let mut tx = central.begin().await.map_err(BackendError::from)?;
    sqlx::query("DELETE FROM kasm_images WHERE server_id = $1")
        .bind(server)
        .execute(&mut *tx)
        .await
        .map_err(BackendError::from)?;
    for i in &images {
        sqlx::query(
            "INSERT INTO kasm_images (server_id, image_id, name, friendly_name, enabled, synced_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(server)
        .bind(i.image_id.to_string())
        .bind(&i.name)
        .bind(&i.friendly_name)
        .bind(i64::from(i.enabled))
        .bind(t)
        .execute(&mut *tx)
        .await
        .map_err(BackendError::from)?;
    }
    tx.commit().await.map_err(BackendError::from)?;
    Ok(images.len())
}

/// Refreshes the images of server `id` (see [`sync_images`]) with its own client; `None` when there is no
/// such server.
pub async fn refresh_images(state: &AppState, id: &str) -> Result<Option<usize>, SyncImagesError> {
    if get(state.central(), id).await?.is_none() {
        return Ok(None);
    }
    let client = state.kasm_for(id).await?;
    sync_images(state.central(), id, &client).await.map(Some)
}

#[derive(Debug, thiserror::Error)]
pub enum SyncImagesError {
    #[error(transparent)]
    Kasm(#[from] KasmError),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// An image as last synced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncedImage {
    pub server_id: String,
    pub name: String,
    pub friendly_name: String,
    pub enabled: bool,
    pub synced_at: i64,
}

pub async fn synced_images(central: &CentralDb) -> Result<Vec<SyncedImage>, BackendError> {
    let rows = sqlx::query_as::<_, ImageRow>(
        "SELECT server_id, name, friendly_name, enabled, synced_at FROM kasm_images ORDER BY server_id, name",
    )
    .fetch_all(central.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SyncedImage {
            server_id: r.server_id,
            name: r.name,
            friendly_name: r.friendly_name,
            enabled: r.enabled != 0,
            synced_at: r.synced_at,
        })
        .collect())
}

/// A `kasm_images` row as stored.
#[derive(sqlx::FromRow)]
struct ImageRow {
    server_id: String,
    name: String,
    friendly_name: String,
    enabled: i64,
    synced_at: i64,
}

/// When the reconciler last completed a pass over each server (server id → time).
pub async fn last_passes(central: &CentralDb) -> Result<HashMap<String, Timestamp>, BackendError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT kasm_server, last_ok_at FROM reconciler_passes").fetch_all(central.pool()).await?;
    Ok(rows.into_iter().map(|(id, at)| (id, Timestamp::from_millis(at))).collect())
}

/// A server as the admin's Kasm page shows it.
#[derive(Clone, Debug)]
pub struct ServerStatus {
    pub server: KasmServer,
    pub breaker: BreakerState,
    /// The reconciler's last complete pass over it.
    pub last_pass: Option<Timestamp>,
    /// How many images its last sync found.
    pub images: usize,
}

/// The admin's Kasm page: the servers with their state, the plan templates and the synced images.
#[derive(Clone, Debug)]
pub struct Overview {
    pub servers: Vec<ServerStatus>,
    pub templates: Vec<PlanTemplate>,
    pub images: Vec<SyncedImage>,
}

pub async fn overview(state: &AppState) -> Result<Overview, BackendError> {
    let images = synced_images(state.central()).await?;
    let mut passes = last_passes(state.central()).await?;
    let servers = list(state.central())
        .await?
        .into_iter()
        .map(|s| ServerStatus {
            breaker: state.kasm_servers().breaker_state(&s.id),
            last_pass: passes.remove(&s.id),
            images: images.iter().filter(|i| i.server_id == s.id).count(),
            server: s,
        })
        .collect();
    let templates = plan_templates::list(state.central()).await?;
    Ok(Overview { servers, templates, images })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_ids_are_short_lower_case_slugs() {
        assert_eq!(parse_server_id(" EU-West-1 ").ok().as_deref(), Some("eu-west-1"));
        for bad in ["", "-a", "a-", "a b", "a_b", "é", &"a".repeat(33)] {
            assert!(parse_server_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn base_urls_are_scheme_host_port_and_prefix_only() {
        assert_eq!(parse_base_url("https://kasm.example.com/").ok().as_deref(), Some("https://kasm.example.com"));
        assert_eq!(parse_base_url("http://10.0.0.5:8443/kasm").ok().as_deref(), Some("http://10.0.0.5:8443/kasm"));
        for bad in [
            "kasm.example.com",
            "ftp://kasm",
            "https://",
            "https://user:pw@kasm",
            "https://kasm/api",
            "https://kasm/api/public",
            "https://kasm?x=1",
            "https://ka sm",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn auth_styles_round_trip() {
        for a in [KasmAuthStyle::JsonBody, KasmAuthStyle::HttpBasic] {
            assert_eq!(parse_auth(auth_str(a)).ok(), Some(a));
        }
        assert!(parse_auth("token").is_err());
    }
}
