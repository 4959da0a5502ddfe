//! Database servers in the admin app (`/admin/databases`): the PostgreSQL servers tenant databases live
//! on, with their tenants, weight and state; adding one; draining and reactivating; and the latest tenant
//! moves (started with `server tenants move`, which runs as long as the copy takes).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::time::{format_utc, Timestamp};
use crate::error::AppError;
use crate::layout::ErrorNote;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbServerRow {
    pub name: String,
    pub url: String,
    /// The PgBouncer in front of it (transaction mode), if queries go through one.
    pub pooler_url: Option<String>,
    pub weight: i64,
    pub draining: bool,
    pub tenants: i64,
    pub primary: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveRow {
    pub slug: String,
    pub from_server: String,
    pub to_server: String,
    pub step: String,
    pub error: Option<String>,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabasesData {
    /// SQLite deployments have one database server, the central database's machine.
    pub postgres: bool,
    pub servers: Vec<DbServerRow>,
    pub moves: Vec<MoveRow>,
}

#[server(prefix = "/api", endpoint = "admin_databases")]
pub async fn databases() -> Result<DatabasesData, AppError> {
    use crate::backend::platform::db::Engine;
    use crate::backend::tenancy::{db_servers, moves};
    let (state, _) = super::server::guard::admin().await?;
    let postgres = state.central().engine() == Engine::Postgres;
    let servers = if postgres {
        db_servers::list(state.central(), &state.settings().central_url)
            .await?
            .into_iter()
            .map(|s| DbServerRow {
                primary: s.name == db_servers::PRIMARY,
                draining: s.state == db_servers::ServerState::Draining,
                name: s.name,
                url: s.url,
                pooler_url: s.pooler_url,
                weight: s.weight,
                tenants: s.tenants,
            })
            .collect()
    } else {
        Vec::new()
    };
    let moves = moves::recent(&state, 50)
        .await?
        .into_iter()
        .map(|m| MoveRow {
            slug: m.slug,
            from_server: m.from_server,
            to_server: m.to_server,
            step: m.step,
            error: m.error,
            updated_at: Timestamp::from_millis(m.updated_at),
        })
        .collect();
    Ok(DatabasesData { postgres, servers, moves })
}

/// Adds a database server (checked to answer first), in the audit log.
#[server(prefix = "/api", endpoint = "admin_add_db_server")]
pub async fn add_db_server(
    name: String,
    url: String,
    pooler: Option<String>,
    weight: String,
) -> Result<String, AppError> {
    use crate::backend::tenancy::db_servers;
    let (state, admin) = super::server::guard::admin().await?;
    let weight =
        weight.trim().parse::<i64>().map_err(|_| AppError::Invalid("A weight is between 1 and 1000.".into()))?;
    let added = db_servers::add(state.central(), &name, &url, pooler.as_deref(), weight).await?;
    let detail = db_servers::describe(&added);
    super::server::guard::by(&admin).record(state.central(), None, "db_server.added", &detail).await?;
    Ok(added.name)
}

/// Drains a database server (`drain` = "true") or lets it take new tenants again, in the audit log.
#[server(prefix = "/api", endpoint = "admin_set_db_server_state")]
pub async fn set_db_server_state(name: String, drain: String) -> Result<(), AppError> {
    use crate::backend::tenancy::db_servers::{self, ServerState};
    let (state, admin) = super::server::guard::admin().await?;
    let (to, action) = if drain == "true" {
        (ServerState::Draining, "db_server.drained")
    } else {
        (ServerState::Active, "db_server.activated")
    };
    db_servers::set_state(state.central(), name.trim(), to).await?;
    super::server::guard::by(&admin).record(state.central(), None, action, name.trim()).await?;
    Ok(())
}

#[component]
pub fn AdminDatabasesPage() -> impl IntoView {
    let add = ServerAction::<AddDbServer>::new();
    let set_state = ServerAction::<SetDbServerState>::new();
    let data = crate::resource::new(move || (add.version().get(), set_state.version().get()), |_| databases());
    let note = move || {
        [add.value().get().and_then(Result::err), set_state.value().get().and_then(Result::err)]
            .into_iter()
            .flatten()
            .next()
            .map(|e| view! { <ErrorNote message=e.to_string()/> })
    };
    view! {
        <h1 class="text-2xl font-semibold">"Database servers"</h1>
        <p class="mt-1 text-sm text-slate-600">
            "Each storefront has its own database. New storefronts go to the active server with the fewest storefronts per unit of weight."
        </p>
        <div class="mt-2">{note}</div>
        <Suspense fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <Servers d add set_state/> }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <p class="mt-4"><a class="underline" href="/admin/login">"Sign in"</a></p> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Servers(
    d: DatabasesData,
    add: ServerAction<AddDbServer>,
    set_state: ServerAction<SetDbServerState>,
) -> impl IntoView {
    if !d.postgres {
        return view! {
            <p class="mt-4 text-sm" data-testid="sqlite-note">
                "This platform runs on SQLite: every database is a file on this machine. Several database servers need PostgreSQL (DATABASE_URL)."
            </p>
        }
        .into_any();
    }
    view! {
        <table class="mt-4 w-full text-left text-sm">
            <caption class="sr-only">"Database servers"</caption>
            <thead><tr class="text-xs uppercase text-slate-600">
                <th scope="col" class="py-1">"Name"</th><th scope="col">"State"</th><th scope="col">"Weight"</th>
                <th scope="col">"Storefronts"</th><th scope="col">"URL"</th><th scope="col">"Through PgBouncer"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
            </tr></thead>
            <tbody>
                {d.servers.into_iter().map(|s| {
                    let label = format!("{} {}", if s.draining { "Activate" } else { "Drain" }, s.name);
                    let (testid, name) = (format!("db-server-{}", s.name), s.name.clone());
                    view! {
                        <tr data-testid=testid class="border-t border-slate-100">
                            <td class="py-1 font-mono">{s.name.clone()}{s.primary.then_some(" (central)")}</td>
                            <td data-testid="db-state">{if s.draining { "draining: takes no new storefronts" } else { "active" }}</td>
                            <td>{s.weight}</td>
                            <td data-testid="db-tenants">{s.tenants}</td>
                            <td class="break-all font-mono text-xs">{s.url}</td>
                            <td class="break-all font-mono text-xs" data-testid="db-pooler">{s.pooler_url.unwrap_or_else(|| "no".into())}</td>
                            <td>
                                {(!s.primary).then(move || view! {
                                    <ActionForm action=set_state>
                                        <input type="hidden" name="name" value=name/>
                                        <input type="hidden" name="drain" value=if s.draining { "false" } else { "true" }/>
                                        <button type="submit" aria-label=label class="rounded border px-2 py-1 text-xs">
                                            {if s.draining { "Activate" } else { "Drain" }}
                                        </button>
                                    </ActionForm>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>

        <details class="mt-4 rounded border border-slate-200 p-3">
            <summary class="cursor-pointer text-sm font-medium">"Add a server"</summary>
            <ActionForm action=add attr:class="mt-3 grid gap-2 sm:grid-cols-4 text-sm">
                <label>"Name "<input name="name" required class="w-full rounded border px-2 py-1" placeholder="db-2"/></label>
                <label>"URL, without a password "<input name="url" required class="w-full rounded border px-2 py-1 font-mono text-xs" placeholder="postgres://app@db-2:5432/postgres"/></label>
                <label>"PgBouncer URL (transaction mode), optional "<input name="pooler" class="w-full rounded border px-2 py-1 font-mono text-xs" placeholder="postgres://app@db-2:6432/postgres"/></label>
                <label>"Weight "<input name="weight" value="1" inputmode="numeric" class="w-full rounded border px-2 py-1"/></label>
                <p class="text-xs text-slate-600 sm:col-span-4">"Passwords go in the app servers' ~/.pgpass, never in the URL. The server (and its PgBouncer) must answer when it is added; migrations, moves and database creation always use the server's own URL."</p>
                <button type="submit" data-testid="add-db-server" class="rounded bg-slate-900 px-3 py-1 text-white sm:col-span-1">"Add server"</button>
            </ActionForm>
        </details>

        <h2 class="mt-8 text-lg font-semibold">"Storefront moves"</h2>
        <p class="text-sm text-slate-600">"Started with "<code>"server tenants move <slug> --to <server>"</code>"; run it again to resume one cut short, or add "<code>"--rollback"</code>"."</p>
        {if d.moves.is_empty() {
            view! { <p class="mt-2 text-sm" data-testid="no-moves">"No storefront has moved yet."</p> }.into_any()
        } else {
            view! {
                <table class="mt-2 w-full text-left text-sm">
                    <caption class="sr-only">"Storefront moves"</caption>
                    <thead><tr class="text-xs uppercase text-slate-600">
                        <th scope="col" class="py-1">"Storefront"</th><th scope="col">"From"</th><th scope="col">"To"</th>
                        <th scope="col">"Step"</th><th scope="col">"Updated (UTC)"</th>
                    </tr></thead>
                    <tbody>
                        {d.moves.into_iter().map(|m| view! {
                            <tr data-testid="move" class="border-t border-slate-100">
                                <td class="py-1">{m.slug}</td>
                                <td class="font-mono">{m.from_server}</td>
                                <td class="font-mono">{m.to_server}</td>
                                <td>{m.step}{m.error.map(|e| format!(": {e}"))}</td>
                                <td>{format_utc(m.updated_at)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
    .into_any()
}
