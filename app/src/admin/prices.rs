//! The platform's wholesale price book in the admin app (`/admin/prices`): the base book and each tier's
//! overrides per plan (in force and scheduled), storefront overrides, scheduling a change from now or a
//! later time (never the past), withdrawing one not yet in force, adding reseller tiers, and the
//! storefronts whose retail price a scheduled change passes (their floor rises to it; they are emailed).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::money::Rate;
use crate::domain::plan::PlanCode;
use crate::domain::time::{format_utc, Timestamp};
use crate::error::AppError;
use crate::layout::ErrorNote;

/// Whom a row prices, as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScopeView {
    Base,
    Tier(String),
    /// A storefront, by its slug (its id if it is gone).
    Storefront(String),
}

impl ScopeView {
    fn label(&self) -> String {
        match self {
            ScopeView::Base => "Base book".to_owned(),
            ScopeView::Tier(t) => format!("Tier {t}"),
            ScopeView::Storefront(s) => format!("Storefront {s}"),
        }
    }
}

/// Whether a row applies now or later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RowState {
    InForce,
    Scheduled,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceRowView {
    pub id: String,
    pub plan: PlanCode,
    pub scope: ScopeView,
    /// Exact decimal per hour in each storefront's currency; `None`: the override ends.
    pub per_hour: Option<String>,
    pub effective_at: Timestamp,
    pub state: RowState,
    pub created_by: String,
}

/// A storefront whose retail price a scheduled change passes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedView {
    pub slug: String,
    pub plan: PlanCode,
    pub effective_at: Timestamp,
    pub to: Rate,
    pub retail: Rate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminPricesData {
    /// (name, label) of each reseller tier.
    pub tiers: Vec<(String, String)>,
    /// In force and scheduled rows (superseded ones are history, left out), by plan and scope.
    pub rows: Vec<PriceRowView>,
    pub affected: Vec<AffectedView>,
    /// Reseller storefronts' slugs, offered for a storefront override.
    pub slugs: Vec<String>,
    pub now: Timestamp,
}

#[server(prefix = "/api", endpoint = "admin_prices")]
pub async fn admin_prices() -> Result<AdminPricesData, AppError> {
    use crate::backend::workspaces::price_book;
    use crate::domain::price_book::PriceScope;
    let (state, _) = super::server::guard::admin().await?;
    let book = price_book::admin_book(&state).await?;
    let mut rows: Vec<PriceRowView> = book
        .rows
        .into_iter()
        .map(|(r, slug, in_force)| PriceRowView {
            scope: match &r.entry.scope {
                PriceScope::Base => ScopeView::Base,
                PriceScope::Tier(t) => ScopeView::Tier(t.to_string()),
                PriceScope::Tenant(id) => ScopeView::Storefront(slug.unwrap_or_else(|| id.to_string())),
            },
            id: r.id,
            plan: r.entry.plan,
            per_hour: r.entry.per_hour.map(crate::domain::price_book::price_text),
            effective_at: r.entry.effective_at,
            state: if in_force { RowState::InForce } else { RowState::Scheduled },
            created_by: r.created_by,
        })
        .collect();
    let order = |p: PlanCode| PlanCode::ALL.iter().position(|c| *c == p);
    rows.sort_by_key(|r| (order(r.plan), r.scope.label(), r.effective_at));
    Ok(AdminPricesData {
        tiers: book.tiers.into_iter().map(|t| (t.name, t.label)).collect(),
        rows,
        affected: book
            .affected
            .into_iter()
            .map(|a| AffectedView {
                slug: a.slug,
                plan: a.change.plan,
                effective_at: a.change.effective_at,
                to: a.change.to,
                retail: a.change.retail,
            })
            .collect(),
        slugs: book.slugs,
        now: book.now,
    })
}

/// Schedules a wholesale price for a plan: the base book, a tier or one storefront (by slug), from `effective_at`
/// (UTC, empty for now; never the past). An empty price ends a tier's or storefront's override.
#[server(prefix = "/api", endpoint = "admin_schedule_price")]
pub async fn admin_schedule_price(
    plan: String,
    scope_kind: String,
    scope: String,
    per_hour: String,
    effective_at: String,
) -> Result<String, AppError> {
    use crate::backend::workspaces::price_book::{self, ScheduleError, ScheduleInput};
    let (state, admin) = super::server::guard::admin().await?;
    let input = ScheduleInput {
        plan: &plan,
        scope_kind: &scope_kind,
        scope: &scope,
        per_hour: &per_hour,
        effective_at: &effective_at,
    };
    match price_book::schedule(&state, super::server::guard::by(&admin), &input).await {
        Ok(s) => Ok(format!("Scheduled from {}; {} reseller(s) emailed.", format_utc(s.effective_at), s.notified)),
        Err(ScheduleError::Invalid(m)) => Err(AppError::Invalid(m)),
        Err(ScheduleError::Backend(e)) => Err(e.into()),
    }
}

/// Withdraws a scheduled change that has not taken effect (one in force is history and cannot be).
#[server(prefix = "/api", endpoint = "admin_withdraw_price")]
pub async fn admin_withdraw_price(id: String) -> Result<(), AppError> {
    use crate::backend::workspaces::price_book;
    let (state, admin) = super::server::guard::admin().await?;
    if price_book::withdraw(&state, super::server::guard::by(&admin), id.trim()).await? {
        Ok(())
    } else {
        Err(AppError::Conflict(
            "That change is in force already or gone; only scheduled changes can be withdrawn.".into(),
        ))
    }
}

/// Adds a reseller tier (its name as stored, and a label).
#[server(prefix = "/api", endpoint = "admin_add_tier")]
pub async fn admin_add_tier(name: String, label: String) -> Result<(), AppError> {
    use crate::backend::workspaces::price_book::{self, ScheduleError};
    let (state, admin) = super::server::guard::admin().await?;
    match price_book::add_tier(&state, super::server::guard::by(&admin), &name, &label).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(AppError::Conflict("That tier exists already.".into())),
        Err(ScheduleError::Invalid(m)) => Err(AppError::Invalid(m)),
        Err(ScheduleError::Backend(e)) => Err(e.into()),
    }
}

const INPUT: &str = "mt-1 rounded border border-slate-300 bg-white px-2 py-1 text-sm font-normal";
const LABEL: &str = "flex flex-col text-sm font-medium text-slate-700";

#[component]
pub fn AdminPricesPage() -> impl IntoView {
    let schedule = ServerAction::<AdminSchedulePrice>::new();
    let withdraw = ServerAction::<AdminWithdrawPrice>::new();
    let add_tier = ServerAction::<AdminAddTier>::new();
    let data = crate::resource::new(
        move || (schedule.version().get(), withdraw.version().get(), add_tier.version().get()),
        |_| admin_prices(),
    );
    view! {
        <h1 class="text-2xl font-semibold">"Wholesale prices"</h1>
        <p class="mt-1 text-sm text-slate-600">
            "What each plan costs a reseller per hour, in each storefront's currency: the base book, overridden per tier, "
            "overridden per storefront. A change applies to sessions that start at or after its time; running and past "
            "sessions keep their rates. A storefront whose retail price is below a new wholesale price is emailed when "
            "you schedule it, and from its time sells at the wholesale price until it raises its own."
        </p>
        {move || [schedule.value().get().and_then(Result::err), withdraw.value().get().and_then(Result::err),
                  add_tier.value().get().and_then(Result::err)]
            .into_iter().flatten().next().map(|e| view! { <ErrorNote message=e.to_string()/> })}
        {move || schedule.value().get().and_then(Result::ok).map(|m| view! {
            <p role="status" class="mt-2 text-sm text-green-700" data-testid="price-scheduled">{m}</p>
        })}
        <Suspense fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <Book d schedule withdraw add_tier/> }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <super::AdminSignIn/> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Book(
    d: AdminPricesData,
    schedule: ServerAction<AdminSchedulePrice>,
    withdraw: ServerAction<AdminWithdrawPrice>,
    add_tier: ServerAction<AdminAddTier>,
) -> impl IntoView {
    // The matrix: per plan, the price in force for the base book and each tier's override.
    let in_force = |plan: PlanCode, scope: &ScopeView| {
        d.rows
            .iter()
            .find(|r| r.plan == plan && &r.scope == scope && r.state == RowState::InForce)
            .and_then(|r| r.per_hour.clone())
    };
    let tiers = d.tiers.clone();
    let matrix = PlanCode::ALL
        .into_iter()
        .map(|plan| {
            let base = in_force(plan, &ScopeView::Base).unwrap_or_else(|| "—".into());
            let cells = tiers
                .iter()
                .map(|(name, _)| {
                    let v = in_force(plan, &ScopeView::Tier(name.clone())).unwrap_or_else(|| "base".into());
                    view! { <td>{v}</td> }
                })
                .collect_view();
            view! {
                <tr class="border-t border-slate-100" data-testid="book-plan" data-plan=plan.as_str()>
                    <th scope="row" class="py-1 font-normal">{plan.spec().name}</th>
                    <td data-testid="base-price">{base}</td>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    let now_input = crate::domain::price_book::format_input(d.now);
    let heads = d.tiers.iter().map(|(_, label)| view! { <th scope="col">{format!("{label} /h")}</th> }).collect_view();
    let options = d
        .tiers
        .iter()
        .map(|(name, _)| name)
        .chain(d.slugs.iter())
        .map(|name| view! { <option value=name.clone()/> })
        .collect_view();
    let summary = d.tiers.iter().map(|(n, l)| format!("{l} ({n})")).collect::<Vec<_>>().join(" · ");
    view! {
        <h2 class="mt-6 text-lg font-semibold">"In force now"</h2>
        <table class="mt-2 w-full text-left text-sm">
            <caption class="sr-only">"Wholesale price per hour in force now, per plan: base book and tier overrides"</caption>
            <thead><tr class="text-xs uppercase text-slate-500">
                <th scope="col" class="py-1">"Plan"</th><th scope="col">"Base /h"</th>
                {heads}
            </tr></thead>
            <tbody>{matrix}</tbody>
        </table>

        <h2 class="mt-8 text-lg font-semibold">"Schedule a change"</h2>
        <ActionForm action=schedule attr:class="mt-2 grid gap-3 sm:grid-cols-5 items-end">
            <label class=LABEL>"Plan"
                <select name="plan" class=INPUT>
                    {PlanCode::ALL.into_iter().map(|p| view! { <option value=p.as_str()>{p.spec().name}</option> }).collect_view()}
                </select>
            </label>
            <label class=LABEL>"Applies to"
                <select name="scope_kind" class=INPUT>
                    <option value="base">"Base book"</option>
                    <option value="tier">"A tier"</option>
                    <option value="tenant">"One storefront"</option>
                </select>
            </label>
            <label class=LABEL>"Tier or storefront slug"
                <input name="scope" class=INPUT list="price-scopes" placeholder="gold, acme…"/>
                <datalist id="price-scopes">
                    {options}
                </datalist>
            </label>
            <label class=LABEL>"Per hour (empty ends an override)"
                <input name="per_hour" class=INPUT inputmode="decimal" placeholder="0.12"/>
            </label>
            <label class=LABEL>"From (UTC; empty = now)"
                <input name="effective_at" type="datetime-local" step="1" min=now_input class=INPUT/>
            </label>
            <button type="submit" class="rounded bg-slate-900 px-3 py-2 text-sm text-white sm:col-span-5 justify-self-start"
                data-testid="schedule-price">"Schedule"</button>
        </ActionForm>

        <h2 class="mt-8 text-lg font-semibold">"Storefronts whose price a change passes"</h2>
        {if d.affected.is_empty() {
            view! { <p class="text-sm text-slate-600" data-testid="no-affected">"None: every retail price stays at or above its coming wholesale price."</p> }.into_any()
        } else {
            view! {
                <table class="mt-2 w-full text-left text-sm">
                    <caption class="sr-only">"Storefronts whose retail price is below a scheduled wholesale price"</caption>
                    <thead><tr class="text-xs uppercase text-slate-500">
                        <th scope="col" class="py-1">"Storefront"</th><th scope="col">"Plan"</th><th scope="col">"From"</th>
                        <th scope="col">"New wholesale"</th><th scope="col">"Their retail"</th>
                    </tr></thead>
                    <tbody>
                        {d.affected.into_iter().map(|a| view! {
                            <tr class="border-t border-slate-100" data-testid="affected" data-slug=a.slug.clone()>
                                <td class="py-1"><a class="underline" href=format!("/admin/tenants/{}", a.slug)>{a.slug.clone()}</a></td>
                                <td>{a.plan.spec().name}</td><td>{format_utc(a.effective_at)}</td>
                                <td>{a.to.to_string()}</td><td>{a.retail.to_string()}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}

        <h2 class="mt-8 text-lg font-semibold">"Every price in force or scheduled"</h2>
        <table class="mt-2 w-full text-left text-sm">
            <caption class="sr-only">"Rows of the price book in force or scheduled"</caption>
            <thead><tr class="text-xs uppercase text-slate-500">
                <th scope="col" class="py-1">"Plan"</th><th scope="col">"Applies to"</th><th scope="col">"Per hour"</th>
                <th scope="col">"From"</th><th scope="col">"State"</th><th scope="col">"Set by"</th><th scope="col"><span class="sr-only">"Actions"</span></th>
            </tr></thead>
            <tbody>
                {d.rows.into_iter().map(|r| {
                    let scheduled = r.state == RowState::Scheduled;
                    let id = r.id.clone();
                    view! {
                        <tr class="border-t border-slate-100" data-testid="price-row" data-state=if scheduled { "scheduled" } else { "in-force" }>
                            <td class="py-1">{r.plan.spec().name}</td>
                            <td>{r.scope.label()}</td>
                            <td>{r.per_hour.clone().unwrap_or_else(|| "override ends".into())}</td>
                            <td>{if r.effective_at == Timestamp::EPOCH { "the start".to_owned() } else { format_utc(r.effective_at) }}</td>
                            <td>{if scheduled { "Scheduled" } else { "In force" }}</td>
                            <td>{r.created_by}</td>
                            <td>{scheduled.then(|| view! {
                                <ActionForm action=withdraw>
                                    <input type="hidden" name="id" value=id.clone()/>
                                    <button type="submit" class="rounded border px-2 py-0.5 text-xs">"Withdraw"</button>
                                </ActionForm>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>

        <h2 class="mt-8 text-lg font-semibold">"Reseller tiers"</h2>
        <p class="text-sm text-slate-600">{summary}</p>
        <ActionForm action=add_tier attr:class="mt-2 flex flex-wrap items-end gap-2">
            <label class=LABEL>"Name (lower-case, e.g. partner)"<input name="name" required class=INPUT maxlength="32"/></label>
            <label class=LABEL>"Label"<input name="label" required class=INPUT maxlength="40"/></label>
            <button type="submit" class="rounded border px-3 py-1 text-sm">"Add tier"</button>
        </ActionForm>
    }
}
