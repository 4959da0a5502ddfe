//! The customer's workspaces: the list, one workspace's page with start/stop and the live meter.

pub mod clock;
pub mod live;
pub mod meter;
pub mod server;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use self::clock::ticking_now;
use self::meter::LiveMeter;
use self::server::{
    get_workspace, list_workspaces, RenameWorkspace, RetryWorkspace, StartWorkspace, StopWorkspace, TerminateWorkspace,
};
use crate::domain::time::{format_elapsed, format_utc, Timestamp};
use crate::domain::workspace::WorkspaceState;
use crate::domain::workspace::MAX_WORKSPACE_NAME;
use crate::domain::workspace_view::{PeriodSoFar, UsageLine, WorkspaceCard, WorkspaceDetail};
use crate::error::AppError;
use crate::layout::ErrorNote;

/// Changes arrive as server-sent events; as a fallback (a proxy that buffers event streams), a page
/// showing a workspace that is changing state also looks again this often.
const FALLBACK_WATCH_MS: u64 = 3000;

#[component]
fn StateBadge(state: WorkspaceState) -> impl IntoView {
    let colour = match state {
        WorkspaceState::Running => "bg-green-100 text-green-800",
        WorkspaceState::Failed => "bg-red-100 text-red-800",
        WorkspaceState::Stopped | WorkspaceState::Terminated => "bg-slate-200 text-slate-700",
        _ => "bg-amber-100 text-amber-800",
    };
    view! {
        <span data-testid="state" class=format!("rounded-full px-2 py-0.5 text-xs font-medium {colour}")>
            {state.label()}
        </span>
    }
}

#[component]
fn SignInFirst() -> impl IntoView {
    view! { <p>"Please " <a class="underline" href="/login">"sign in"</a> " to see your workspaces."</p> }
}

#[component]
pub fn WorkspacesPage() -> impl IntoView {
    let changes = RwSignal::new(0u32);
    live::on_workspace_events(move |_| changes.update(|n| *n += 1));
    let list = crate::resource::new(move || changes.get(), |_| list_workspaces());
    view! {
        <h1 class="text-2xl font-semibold">"My workspaces"</h1>
        <Suspense fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Err(AppError::NotSignedIn) => view! { <SignInFirst/> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                    Ok(l) if l.items.is_empty() => view! {
                        <p class="mt-4">"No workspaces yet. " <a class="underline" href="/">"Pick one from the catalog."</a></p>
                    }.into_any(),
                    Ok(l) => {
                        let server_now = l.server_now;
                        view! {
                            <ul class="mt-4 divide-y rounded-lg border bg-white" data-testid="workspace-list">
                                {l.items.into_iter().map(|c| view! { <WorkspaceRow card=c server_now/> }).collect_view()}
                            </ul>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn WorkspaceRow(card: WorkspaceCard, server_now: Timestamp) -> impl IntoView {
    view! {
        <li class="flex flex-wrap items-center gap-x-4 gap-y-1 px-4 py-3">
            <a class="font-medium underline" href=format!("/workspaces/{}", card.id) data-testid="workspace-link">{card.name.clone()}</a>
            <span class="text-sm text-slate-500">{card.plan_name.clone()}</span>
            <StateBadge state=card.state/>
            <span class="text-sm text-slate-500">{card.rate.to_string()}</span>
            <span class="ml-auto">
                {card.meter.map(|m| view! { <LiveMeter meter=m server_now/> })}
            </span>
        </li>
    }
}

#[component]
pub fn WorkspacePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let id_now = move || params.read_untracked().get("id").unwrap_or_default();
    let start = ServerAction::<StartWorkspace>::new();
    let stop = ServerAction::<StopWorkspace>::new();
    let retry = ServerAction::<RetryWorkspace>::new();
    let terminate = ServerAction::<TerminateWorkspace>::new();
    let rename = ServerAction::<RenameWorkspace>::new();
    let actions = Actions { start, stop, retry, terminate, rename };
    let editing = Editing::new();
    // A saved name closes the form; a refused one leaves it open with what was typed, beside the error.
    Effect::new(move |_| {
        if rename.value().with(|v| matches!(v, Some(Ok(_)))) {
            editing.renaming.set(false);
            editing.draft.set(None);
        }
    });
    let watch = RwSignal::new(0u32);
    let detail = crate::resource::new(move || (id(), watch.get(), actions.versions()), |(id, ..)| get_workspace(id));
    // State changes arrive as events; the meter itself never asks the server.
    live::on_workspace_events(move |changed| {
        if changed.is_none() || changed == Some(id_now()) {
            watch.update(|w| *w += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(d)) = detail.get() {
            if d.card.state.is_transitional() {
                set_timeout(move || watch.update(|w| *w += 1), std::time::Duration::from_millis(FALLBACK_WATCH_MS));
            }
        }
    });
    let action_error = move || {
        [start.value().get(), stop.value().get(), retry.value().get(), rename.value().get()]
            .into_iter()
            .flatten()
            .find_map(Result::err)
    };
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(AppError::NotSignedIn) => view! { <SignInFirst/> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                    Ok(d) => view! { <WorkspaceView d actions editing/> }.into_any(),
                }
            })}
        </Transition>
        {move || action_error().map(|e| view! { <div class="mt-4"><ErrorNote message=e.to_string()/></div> })}
    }
}

/// The customer's actions on one workspace page.
#[derive(Clone, Copy)]
struct Actions {
    start: ServerAction<StartWorkspace>,
    stop: ServerAction<StopWorkspace>,
    retry: ServerAction<RetryWorkspace>,
    terminate: ServerAction<TerminateWorkspace>,
    rename: ServerAction<RenameWorkspace>,
}

impl Actions {
    fn versions(&self) -> [usize; 5] {
        [
            self.start.version().get(),
            self.stop.version().get(),
            self.retry.version().get(),
            self.terminate.version().get(),
            self.rename.version().get(),
        ]
    }

    fn busy(&self) -> bool {
        self.start.pending().get()
            || self.stop.pending().get()
            || self.retry.pending().get()
            || self.terminate.pending().get()
    }
}

/// What the customer has open or typed on the page. It lives with the page, not with the view of the
/// workspace: that view is drawn again whenever the workspace changes (an event, the end of an action), and
/// an open rename form, its text, or a delete waiting for confirmation must not vanish under the customer.
#[derive(Clone, Copy)]
struct Editing {
    renaming: RwSignal<bool>,
    /// The name as typed so far (`None`: not edited, the form shows the current name).
    draft: RwSignal<Option<String>>,
    confirming_delete: RwSignal<bool>,
}

impl Editing {
    fn new() -> Self {
        Editing { renaming: RwSignal::new(false), draft: RwSignal::new(None), confirming_delete: RwSignal::new(false) }
    }
}

#[component]
fn WorkspaceView(d: WorkspaceDetail, actions: Actions, editing: Editing) -> impl IntoView {
    let Actions { start, stop, retry, terminate, rename } = actions;
    let id = d.card.id.to_string();
    let busy = move || actions.busy();
    let state = d.card.state;
    let button = "rounded px-4 py-2 font-medium text-white disabled:opacity-50";
    let control = match state {
        WorkspaceState::Running => {
            let id = id.clone();
            view! {
                <button data-testid="stop" class=format!("{button} bg-red-600") disabled=busy
                    on:click=move |_| { stop.dispatch(StopWorkspace { id: id.clone() }); }>"Stop"</button>
            }
            .into_any()
        }
        WorkspaceState::Stopped => {
            let id = id.clone();
            view! {
                <button data-testid="start" class=format!("{button} bg-brand") disabled=busy
                    on:click=move |_| { start.dispatch(StartWorkspace { id: id.clone() }); }>"Start"</button>
            }
            .into_any()
        }
        WorkspaceState::Failed => {
            let id = id.clone();
            view! {
                <button data-testid="retry" class=format!("{button} bg-brand") disabled=busy
                    on:click=move |_| { retry.dispatch(RetryWorkspace { id: id.clone() }); }>"Try again"</button>
            }
            .into_any()
        }
        WorkspaceState::Terminated => {
            view! { <span class="text-sm text-slate-500">"This workspace was deleted."</span> }.into_any()
        }
        _ => view! { <span class="text-sm text-slate-500">"Please wait…"</span> }.into_any(),
    };
    let deletable = matches!(state, WorkspaceState::Running | WorkspaceState::Stopped | WorkspaceState::Failed);
    let confirming = editing.confirming_delete;
    let delete = deletable.then(|| {
        let id = id.clone();
        view! {
            <div class="mt-6 text-sm">
                <Show when=move || confirming.get() fallback=move || view! {
                    <button data-testid="delete" class="text-red-700 underline" on:click=move |_| confirming.set(true)>"Delete workspace"</button>
                }>
                    {
                        let id = id.clone();
                        view! {
                            <span>"Delete this workspace and everything on its disk? "</span>
                            <button data-testid="confirm-delete" class="ml-2 rounded bg-red-600 px-3 py-1 text-white" disabled=busy
                                on:click=move |_| { terminate.dispatch(TerminateWorkspace { id: id.clone() }); }>"Yes, delete"</button>
                            <button class="ml-2 underline" on:click=move |_| confirming.set(false)>"Cancel"</button>
                        }
                    }
                </Show>
            </div>
        }
    });
    let last_closed = d.usage.iter().find(|u| u.ended_at.is_some()).and_then(|u| u.amount);
    let Editing { renaming, draft, .. } = editing;
    let current_name = d.card.name.clone();
    let rename_form = {
        let id = id.clone();
        move || {
            let id = id.clone();
            let name = draft.get_untracked().unwrap_or_else(|| current_name.clone());
            renaming.get().then(move || view! {
                <ActionForm action=rename attr:class="mt-2 flex flex-wrap items-end gap-2 text-sm" attr:data-testid="rename-form">
                    <input type="hidden" name="id" value=id/>
                    <label class="flex flex-col text-xs">{format!("Name (at most {MAX_WORKSPACE_NAME} characters)")}
                        <input name="name" required maxlength=MAX_WORKSPACE_NAME.to_string() value=name
                            on:input=move |ev| draft.set(Some(event_target_value(&ev)))
                            class="rounded border px-2 py-1 text-sm"/>
                    </label>
                    <button type="submit" class="rounded bg-brand px-3 py-1 text-on-brand" data-testid="save-name">"Save"</button>
                    <button type="button" class="underline" on:click=move |_| { renaming.set(false); draft.set(None); }>"Cancel"</button>
                </ActionForm>
            })
        }
    };
    view! {
        <div class="flex flex-wrap items-center gap-3">
            <h1 class="min-w-0 text-2xl font-semibold" data-testid="workspace-name">{d.card.name.clone()}</h1>
            <StateBadge state/>
            <button type="button" class="text-sm underline" data-testid="rename" on:click=move |_| renaming.update(|r| *r = !*r)>"Rename"</button>
        </div>
        {rename_form}
        <p class="mt-1 text-sm text-slate-500">
            <span data-testid="plan-name">{d.card.plan_name.clone()}</span>
            {format!(" · {} · ordered {}", d.card.rate, format_utc(d.card.created_at))}
        </p>
        {d.failure.clone().map(|f| view! { <div class="mt-4" data-testid="failure"><ErrorNote message=f/></div> })}
        <div class="mt-6 flex flex-wrap items-center gap-4">
            {control}
            {d.launch_url.clone().map(|u| view! {
                <a data-testid="launch" href=u target="_blank" rel="noopener noreferrer" class="rounded border px-4 py-2">"Open workspace"</a>
            })}
            {d.card.meter.map(|m| view! { <LiveMeter meter=m server_now=d.server_now/> })}
        </div>
        {matches!(state, WorkspaceState::Stopped | WorkspaceState::Terminated).then(|| last_closed.map(|a| view! {
            <p class="mt-4">"Last session cost " <strong data-testid="final-cost">{a.to_string()}</strong></p>
        }))}
        {d.period.map(|p| view! { <PeriodTotal p server_now=d.server_now/> })}
        {delete}
        <h2 class="mt-8 text-lg font-semibold">"Usage"</h2>
        <UsageTable lines=d.usage/>
    }
}

/// "This period": what the workspace has cost since the period began, ticking while it runs.
#[component]
fn PeriodTotal(p: PeriodSoFar, server_now: Timestamp) -> impl IntoView {
    let now = ticking_now(server_now);
    let label = p.label.clone();
    view! {
        <p class="mt-4 text-sm">
            {format!("This period ({label}): ")}
            <strong class="font-mono" data-testid="period-total">{move || p.total_at(now.get()).to_string()}</strong>
        </p>
    }
}

#[component]
fn UsageTable(lines: Vec<UsageLine>) -> impl IntoView {
    if lines.is_empty() {
        return view! { <p class="mt-2 text-sm text-slate-500">"No usage yet."</p> }.into_any();
    }
    view! {
        <table class="mt-2 w-full text-left text-sm" data-testid="usage">
            <thead><tr class="text-slate-500">
                <th class="py-1">"Started"</th><th>"Ran for"</th><th>"Billed time"</th><th>"Rate"</th><th class="text-right">"Cost"</th>
            </tr></thead>
            <tbody>
                {lines.into_iter().map(|u| {
                    let ran = u.ended_at.map(|e| format_elapsed(u.started_at.millis_until(e)));
                    view! {
                        <tr class="border-t">
                            <td class="py-1">{format_utc(u.started_at)}</td>
                            <td>{ran.unwrap_or_else(|| "running".into())}</td>
                            <td>{u.billable_seconds.map(|s| format_elapsed(s * 1000)).unwrap_or_default()}</td>
                            <td>{u.rate.to_string()}</td>
                            <td class="text-right font-mono" data-testid="usage-amount">{u.amount.map(|a| a.to_string()).unwrap_or_default()}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }.into_any()
}
