//! Kasm in the admin app (`/admin/kasm`): the Kasm servers (zones) with their breaker and last reconcile
//! pass, adding and editing servers, "sync images" from each server's `get_images`, the six plan templates
//! (sizing, apps, icon, status, order, Kasm image, group and pinned server), and tenant pins.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::plan::{TemplateStatus, TEMPLATE_ICONS};
use crate::domain::time::{format_utc, Timestamp};
use crate::error::AppError;
use crate::layout::ErrorNote;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRow {
    pub id: String,
    pub name: String,
    pub zone: String,
    pub base_url: String,
    pub auth: String,
    pub from_config: bool,
    pub enabled: bool,
    pub breaker: String,
    pub last_pass: Option<Timestamp>,
    pub images: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRow {
    pub code: String,
    pub name: String,
    pub summary: String,
    pub vcpu: i64,
    pub ram_gb: i64,
    pub apps: Vec<String>,
    pub icon: String,
    pub status: TemplateStatus,
    pub sort_order: i64,
    pub kasm_image: String,
    pub kasm_group: String,
    pub kasm_server: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRow {
    pub server: String,
    pub name: String,
    pub friendly_name: String,
    pub enabled: bool,
    pub synced_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KasmPageData {
    pub servers: Vec<ServerRow>,
    pub templates: Vec<TemplateRow>,
    pub images: Vec<ImageRow>,
}

#[server(prefix = "/api", endpoint = "admin_kasm")]
pub async fn kasm_overview() -> Result<KasmPageData, AppError> {
    use crate::backend::workspaces::kasm_servers;
    let (state, _) = super::server::guard::admin().await?;
    let o = kasm_servers::overview(&state).await?;
    let servers = o
        .servers
        .into_iter()
        .map(|s| ServerRow {
            breaker: s.breaker.as_str().to_owned(),
            images: s.images,
            auth: kasm_servers::auth_str(s.server.auth).to_owned(),
            id: s.server.id,
            name: s.server.name,
            zone: s.server.zone,
            base_url: s.server.base_url,
            from_config: s.server.from_config,
            enabled: s.server.enabled,
            last_pass: s.last_pass,
        })
        .collect();
    let templates = o
        .templates
        .into_iter()
        .map(|t| TemplateRow {
            code: t.code.as_str().to_owned(),
            name: t.name,
            summary: t.summary,
            vcpu: t.vcpu,
            ram_gb: t.ram_gb,
            apps: t.apps,
            icon: t.icon,
            status: t.status,
            sort_order: t.sort_order,
            kasm_image: t.kasm_image,
            kasm_group: t.kasm_group,
            kasm_server: t.kasm_server,
        })
        .collect();
    let images = o
        .images
        .into_iter()
        .map(|i| ImageRow {
            server: i.server_id,
            name: i.name,
            friendly_name: i.friendly_name,
            enabled: i.enabled,
            synced_at: Timestamp::from_millis(i.synced_at),
        })
        .collect();
    Ok(KasmPageData { servers, templates, images })
}

#[cfg(feature = "ssr")]
fn server_error(e: crate::backend::workspaces::kasm_servers::ServerError) -> AppError {
    use crate::backend::workspaces::kasm_servers::ServerError;
    match e {
        ServerError::Invalid(m) => AppError::Invalid(m),
        ServerError::NotFound => AppError::NotFound,
        e @ (ServerError::Exists | ServerError::FromConfig) => AppError::Conflict(e.to_string()),
        ServerError::Backend(b) => b.into(),
    }
}

/// Adds (`existing` empty) or edits a Kasm server. A blank secret when editing keeps the stored one.
#[server(prefix = "/api", endpoint = "admin_save_kasm_server")]
pub async fn save_kasm_server(
    id: String,
    name: String,
    zone: String,
    base_url: String,
    auth: String,
    api_key: String,
    api_secret: String,
    insecure_tls: Option<String>,
    ca_pem: Option<String>,
    enabled: Option<String>,
    existing: Option<String>,
) -> Result<String, AppError> {
    use crate::backend::workspaces::{kasm_servers::ServerInput, operations};
    let (state, admin) = super::server::guard::admin().await?;
    let input = ServerInput {
        id,
        name,
        zone,
        base_url,
        auth,
        api_key,
        api_secret,
        insecure_tls: insecure_tls.is_some_and(|v| !v.is_empty() && v != "false"),
        ca_pem: ca_pem.unwrap_or_default(),
        enabled: enabled.is_some_and(|v| !v.is_empty() && v != "false"),
    };
    let existing = existing.is_some_and(|v| v == "true");
    let by = super::server::guard::by(&admin);
    operations::save_server(&state, by, &input, existing).await.map_err(server_error)
}

/// Refreshes a server's image list from Kasm. Returns how many images it lists.
#[server(prefix = "/api", endpoint = "admin_sync_images")]
pub async fn sync_images(server: String) -> Result<usize, AppError> {
    use crate::backend::workspaces::kasm_servers::{self, SyncImagesError};
    use crate::backend::workspaces::operations;
    let (state, admin) = super::server::guard::admin().await?;
    let id = kasm_servers::parse_server_id(&server).map_err(|e| AppError::Invalid(e.to_string()))?;
    let n = match operations::sync_images(&state, super::server::guard::by(&admin), &id).await {
        Ok(Some(n)) => n,
        Ok(None) => return Err(AppError::NotFound),
        Err(SyncImagesError::Kasm(e)) => {
            tracing::warn!(error = %e, server = %id, "image sync failed");
            return Err(AppError::Unavailable(format!(
                "Kasm server {id} did not list its images: {}",
                e.user_message()
            )));
        }
        Err(SyncImagesError::Backend(e)) => return Err(e.into()),
    };
    Ok(n)
}

#[server(prefix = "/api", endpoint = "admin_save_template")]
pub async fn save_template(
    code: String,
    name: String,
    summary: String,
    vcpu: String,
    ram_gb: String,
    apps: String,
    icon: String,
    status: String,
    sort_order: String,
    kasm_image: String,
    kasm_group: String,
    kasm_server: Option<String>,
) -> Result<String, AppError> {
    use crate::backend::workspaces::operations;
    use crate::backend::workspaces::plan_templates::{TemplateError, TemplateInput};
    let (state, admin) = super::server::guard::admin().await?;
    let input = TemplateInput {
        code,
        name,
        summary,
        vcpu,
        ram_gb,
        apps,
        icon,
        status,
        sort_order,
        kasm_image,
        kasm_group,
        kasm_server: kasm_server.unwrap_or_default(),
    };
    match operations::save_template(&state, super::server::guard::by(&admin), &input).await {
        Ok(code) => Ok(code),
        Err(TemplateError::Invalid(m)) => Err(AppError::Invalid(m)),
        Err(TemplateError::Backend(e)) => Err(e.into()),
    }
}

/// Pins a tenant's new workspaces to a server (blank = unpinned).
#[server(prefix = "/api", endpoint = "admin_pin_tenant")]
pub async fn pin_tenant(slug: String, server: Option<String>) -> Result<(), AppError> {
    use crate::backend::workspaces::operations;
    let (state, admin) = super::server::guard::admin().await?;
    let server = server.unwrap_or_default();
    let pin = Some(server.trim()).filter(|s| !s.is_empty());
    operations::pin_tenant(&state, super::server::guard::by(&admin), slug.trim(), pin).await.map_err(server_error)
}

#[component]
pub fn AdminKasmPage() -> impl IntoView {
    let save_server = ServerAction::<SaveKasmServer>::new();
    let sync = ServerAction::<SyncImages>::new();
    let save_tpl = ServerAction::<SaveTemplate>::new();
    let data = crate::resource::new(
        move || (save_server.version().get(), sync.version().get(), save_tpl.version().get()),
        |_| kasm_overview(),
    );
    let note = move || {
        let err = [save_server.value().get().and_then(Result::err), sync.value().get().and_then(Result::err)]
            .into_iter()
            .chain([save_tpl.value().get().and_then(Result::err)])
            .flatten()
            .next();
        err.map(|e| view! { <ErrorNote message=e.to_string()/> })
    };
    let synced = move || {
        sync.value().get().and_then(Result::ok).map(|n| {
            view! { <p data-testid="synced" class="mt-2 text-sm text-green-700">{format!("Synced: {n} images.")}</p> }
        })
    };
    view! {
        <h1 class="text-2xl font-semibold">"Kasm servers and templates"</h1>
        <div class="mt-2">{note}{synced}</div>
        <Suspense fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(o) => view! { <Overview o save_server sync save_tpl/> }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <p class="mt-4"><a class="underline" href="/admin/login">"Sign in"</a></p> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Overview(
    o: KasmPageData,
    save_server: ServerAction<SaveKasmServer>,
    sync: ServerAction<SyncImages>,
    save_tpl: ServerAction<SaveTemplate>,
) -> impl IntoView {
    let images = o.images.clone();
    let servers = o.servers.clone();
    view! {
        <h2 class="mt-6 text-lg font-semibold">"Servers (zones)"</h2>
        <table class="mt-2 w-full text-left text-sm">
            <thead><tr class="text-xs uppercase text-slate-500">
                <th class="py-1">"Id"</th><th>"Name"</th><th>"Zone"</th><th>"URL"</th><th>"Auth"</th><th>"State"</th>
                <th>"Breaker"</th><th>"Last reconcile (UTC)"</th><th>"Images"</th><th></th>
            </tr></thead>
            <tbody>
                {o.servers.into_iter().map(|s| {
                    let id = s.id.clone();
                    view! {
                        <tr data-testid=format!("server-{}", s.id) class="border-t border-slate-100">
                            <td class="py-1 font-mono">{s.id.clone()}</td>
                            <td>{s.name}{s.from_config.then_some(" (configuration)")}</td>
                            <td>{s.zone}</td>
                            <td class="font-mono text-xs">{s.base_url}</td>
                            <td>{s.auth}</td>
                            <td>{if s.enabled { "taking workspaces" } else { "draining" }}</td>
                            <td data-testid="breaker">{s.breaker}</td>
                            <td>{s.last_pass.map(format_utc).unwrap_or_else(|| "never".into())}</td>
                            <td data-testid="image-count">{s.images}</td>
                            <td>
                                <ActionForm action=sync>
                                    <input type="hidden" name="server" value=id/>
                                    <button type="submit" data-testid="sync-images" class="rounded border px-2 py-1 text-xs">"Sync images"</button>
                                </ActionForm>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>

        <details class="mt-4 rounded border border-slate-200 p-3">
            <summary class="cursor-pointer text-sm font-medium">"Add or edit a server"</summary>
            <ActionForm action=save_server attr:class="mt-3 grid gap-2 sm:grid-cols-2 text-sm">
                <label>"Id "<input name="id" required class="w-full rounded border px-2 py-1" placeholder="eu-west-1"/></label>
                <label>"Name "<input name="name" required class="w-full rounded border px-2 py-1"/></label>
                <label>"Zone "<input name="zone" required class="w-full rounded border px-2 py-1" placeholder="eu-west"/></label>
                <label>"URL "<input name="base_url" required class="w-full rounded border px-2 py-1" placeholder="https://kasm.example.com"/></label>
                <label>"Authentication "
                    <select name="auth" class="w-full rounded border px-2 py-1">
                        <option value="body">"API key in the JSON body (/api/public/)"</option>
                        <option value="basic">"HTTP Basic (/api/)"</option>
                    </select>
                </label>
                <label>"API key "<input name="api_key" required class="w-full rounded border px-2 py-1" autocomplete="off"/></label>
                <label>"API secret "<input name="api_secret" type="password" class="w-full rounded border px-2 py-1" autocomplete="new-password" placeholder="blank keeps the stored one"/></label>
                <label>"Extra CA certificate (PEM) "<textarea name="ca_pem" rows="2" class="w-full rounded border px-2 py-1 font-mono text-xs"></textarea></label>
                <label class="flex items-center gap-2"><input type="checkbox" name="insecure_tls" value="true"/>"Skip TLS verification (trusted networks only)"</label>
                <label class="flex items-center gap-2"><input type="checkbox" name="enabled" value="true" checked/>"Takes new workspaces"</label>
                <label class="flex items-center gap-2"><input type="checkbox" name="existing" value="true"/>"Edit an existing server"</label>
                <button type="submit" data-testid="save-server" class="rounded bg-slate-900 px-3 py-1 text-white">"Save server"</button>
            </ActionForm>
        </details>

        <h2 class="mt-8 text-lg font-semibold">"Plan templates"</h2>
        <p class="text-sm text-slate-600">"What every storefront sells; resellers set only the price. Changes apply to the next workspace ordered."</p>
        <div class="mt-2 grid gap-4 lg:grid-cols-2">
            {o.templates.into_iter().map(|t| view! { <TemplateForm t images=images.clone() servers=servers.clone() save_tpl/> }).collect_view()}
        </div>

        <h2 class="mt-8 text-lg font-semibold">"Images found by the last sync"</h2>
        <table class="mt-2 w-full text-left text-sm">
            <thead><tr class="text-xs uppercase text-slate-500"><th class="py-1">"Server"</th><th>"Image"</th><th>"Name"</th><th>"Enabled"</th><th>"Synced (UTC)"</th></tr></thead>
            <tbody>
                {o.images.into_iter().map(|i| view! {
                    <tr data-testid="image" class="border-t border-slate-100">
                        <td class="py-1">{i.server}</td>
                        <td class="font-mono text-xs">{i.name}</td>
                        <td>{i.friendly_name}</td>
                        <td>{if i.enabled { "yes" } else { "no" }}</td>
                        <td>{format_utc(i.synced_at)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn TemplateForm(
    t: TemplateRow,
    images: Vec<ImageRow>,
    servers: Vec<ServerRow>,
    save_tpl: ServerAction<SaveTemplate>,
) -> impl IntoView {
    let list_id = format!("images-{}", t.code);
    let testid = format!("template-{}", t.code);
    let pinned = t.kasm_server.clone().unwrap_or_default();
    view! {
        <ActionForm action=save_tpl attr:class="rounded border border-slate-200 p-3 text-sm" attr:data-testid=testid>
            <input type="hidden" name="code" value=t.code.clone()/>
            <div class="flex items-center gap-2 font-medium">
                <crate::catalog::TemplateIcon icon=t.icon.clone()/>
                <span class="font-mono text-xs">{t.code.clone()}</span>
            </div>
            <div class="mt-2 grid gap-2 sm:grid-cols-2">
                <label>"Name "<input name="name" value=t.name class="w-full rounded border px-2 py-1"/></label>
                <label>"Summary "<input name="summary" value=t.summary class="w-full rounded border px-2 py-1"/></label>
                <label>"vCPU "<input name="vcpu" value=t.vcpu.to_string() inputmode="numeric" class="w-full rounded border px-2 py-1"/></label>
                <label>"RAM (GB) "<input name="ram_gb" value=t.ram_gb.to_string() inputmode="numeric" class="w-full rounded border px-2 py-1"/></label>
                <label>"Icon "
                    <select name="icon" class="w-full rounded border px-2 py-1">
                        {TEMPLATE_ICONS.iter().map(|i| view! { <option value=*i selected=t.icon == *i>{*i}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Status "
                    <select name="status" class="w-full rounded border px-2 py-1">
                        <option value=TemplateStatus::Active.as_str() selected=t.status == TemplateStatus::Active>"active (orderable)"</option>
                        <option value=TemplateStatus::Hidden.as_str() selected=t.status == TemplateStatus::Hidden>"hidden"</option>
                    </select>
                </label>
                <label>"Sort order "<input name="sort_order" value=t.sort_order.to_string() inputmode="numeric" class="w-full rounded border px-2 py-1"/></label>
                <label>"Kasm server "
                    <select name="kasm_server" class="w-full rounded border px-2 py-1">
                        <option value="" selected=pinned.is_empty()>"(tenant's pin or default)"</option>
                        {servers.iter().map(|s| view! { <option value=s.id.clone() selected=pinned == s.id>{s.id.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Kasm image "<input name="kasm_image" value=t.kasm_image list=list_id.clone() class="w-full rounded border px-2 py-1 font-mono text-xs"/></label>
                <label>"Kasm group "<input name="kasm_group" value=t.kasm_group class="w-full rounded border px-2 py-1"/></label>
                <label class="sm:col-span-2">"Preinstalled apps (one per line) "
                    <textarea name="apps" rows="3" class="w-full rounded border px-2 py-1">{t.apps.join("\n")}</textarea>
                </label>
            </div>
            <datalist id=list_id>
                {images.into_iter().filter(|i| i.enabled).map(|i| view! { <option value=i.name.clone()>{format!("{} ({})", i.friendly_name, i.server)}</option> }).collect_view()}
            </datalist>
            <button type="submit" class="mt-2 rounded bg-slate-900 px-3 py-1 text-white">"Save template"</button>
        </ActionForm>
    }
}
