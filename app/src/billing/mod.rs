//! The customer's money pages: `/billing` (credit, the live month-to-date figure, usage history with a
//! chart, invoices, credit movements, top-up, card) and `/invoices/:id` (printable, with PDF and CSV
//! downloads).
//!
//! "So far this month" ticks in the browser from the period's usage facts with
//! `domain::billing::window_lines` — the function the billing run writes the invoice with — so the figure
//! the page shows at the period's end is the invoice's total.
//!
//! The invoice page shows the invoice document (`domain::invoice`), the same value the PDF and the invoice
//! email's attachment are made from.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

use crate::charts::BarChart;
use crate::domain::billing::{
    billable_seconds, quarter_hours_of_credit, session_cost, window_total, UsageFact, INCREMENT_SECONDS,
};
use crate::domain::billing_state::{InvoiceKind, InvoiceStatus, LedgerEntryKind, SubscriptionStatus};
use crate::domain::chart::{Arrangement, Chart, Group, Unit};
use crate::domain::invoice::InvoiceDocument;
use crate::domain::money::{Currency, Money, Rate};
use crate::domain::time::{format_elapsed, format_utc, Timestamp};
use crate::error::AppError;
use crate::layout::ErrorNote;
use crate::workspaces::clock::ticking_now;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRow {
    pub id: String,
    pub number: String,
    pub kind: InvoiceKind,
    pub period: String,
    pub status: InvoiceStatus,
    pub total: Money,
    pub due: Money,
    pub created_at: Timestamp,
    /// When what it leaves due must be paid.
    pub due_at: Option<Timestamp>,
    /// Left due past its due date.
    pub overdue: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRow {
    pub kind: LedgerEntryKind,
    pub amount: Money,
    pub memo: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    /// What the customer calls the workspace.
    pub workspace: String,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub rate: Rate,
}

impl SessionRow {
    /// Billed time and cost of a finished session, by the rule the meter stored them with; `None` while
    /// it runs (the workspace's page ticks it live).
    pub fn billed(&self) -> Option<(i64, Money)> {
        let end = self.ended_at?;
        let secs = billable_seconds(self.started_at.millis_until(end));
        Some((secs, session_cost(self.started_at, end, &self.rate).ok()?))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingView {
    pub currency: Currency,
    pub balance: Money,
    pub card: Option<String>,
    /// Below the first low-balance threshold with no card: the banner shows.
    pub low_balance: bool,
    /// Credit ran out with no card: running workspaces were stopped.
    pub exhausted: bool,
    /// The storefront suspended the account: no orders or starts until it lifts the suspension.
    pub suspended: bool,
    pub period_label: String,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    /// This period's usage, for the live month-to-date figure.
    pub facts: Vec<UsageFact>,
    pub server_now: Timestamp,
    pub history: Vec<SessionRow>,
    /// Billed hours per day over the last 30 days (quarter-hour increments), oldest first.
    pub daily_increments: Vec<(String, i64)>,
    pub invoices: Vec<InvoiceRow>,
    pub ledger: Vec<LedgerRow>,
    /// Card payments and top-ups are available (the storefront has Stripe keys).
    pub payments_enabled: bool,
    pub subscription_plans: Vec<SubscriptionPlanRow>,
    pub subscriptions: Vec<SubscriptionRow>,
    /// One-time key for the subscribe form (a double submit makes one subscription).
    pub order_key: String,
    /// The rates of what runs now, added up (`None`: nothing runs): how long the credit lasts.
    pub running_per_hour: Option<Rate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionPlanRow {
    pub code: String,
    pub name: String,
    pub description: String,
    pub monthly: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRow {
    pub id: String,
    pub plan: String,
    pub monthly: Money,
    pub status: SubscriptionStatus,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

#[server(prefix = "/api", endpoint = "billing_overview")]
pub async fn billing_overview() -> Result<BillingView, AppError> {
    use crate::backend::{billing::overview, request};
    let (state, tenant, customer) = request::require_customer().await?;
    let o = overview::customer(&state, &tenant, customer.id).await?;
    Ok(BillingView {
        currency: tenant.currency,
        balance: o.balance,
        card: o.card,
        low_balance: o.low_balance,
        exhausted: o.exhausted,
        suspended: customer.suspended,
        period_label: o.period.to_string(),
        period_start: o.period.start(),
        period_end: o.period.end(),
        facts: o.period_facts,
        server_now: o.now,
        history: o
            .history
            .into_iter()
            .map(|s| SessionRow {
                workspace: o
                    .workspaces
                    .iter()
                    .find(|w| w.id == s.workspace_id)
                    .map_or_else(|| s.workspace_id.chars().take(8).collect(), |w| w.shown()),
                started_at: s.started_at,
                ended_at: s.ended_at,
                rate: s.retail,
            })
            .collect(),
        running_per_hour: o.running_per_hour,
        daily_increments: o.daily_increments,
        invoices: o
            .invoices
            .into_iter()
            .map(|i| InvoiceRow {
                number: i.display_number(),
                kind: i.kind,
                period: i.period.clone(),
                status: i.status,
                total: i.total,
                due: i.amount_due(),
                created_at: i.created_at,
                overdue: i.status == InvoiceStatus::Finalised
                    && i.amount_due().minor() > 0
                    && i.due_at.is_some_and(|d| d.as_millis() < o.now.as_millis()),
                due_at: i.due_at,
                id: i.id,
            })
            .collect(),
        ledger: o
            .ledger
            .into_iter()
            .map(|e| LedgerRow { kind: e.kind, amount: e.amount, memo: e.memo, at: e.created_at })
            .collect(),
        payments_enabled: o.payments_enabled,
        subscription_plans: o
            .subscription_plans
            .into_iter()
            .map(|p| SubscriptionPlanRow {
                code: p.code,
                name: p.name,
                description: p.description,
                monthly: p.retail_monthly,
            })
            .collect(),
        subscriptions: o
            .subscriptions
            .into_iter()
            .map(|s| SubscriptionRow {
                id: s.id,
                plan: s.plan_code,
                monthly: s.retail_monthly,
                status: s.status,
                started_at: s.started_at,
                ended_at: s.ended_at,
            })
            .collect(),
        order_key: uuid::Uuid::new_v4().to_string(),
    })
}

/// Subscribes to a monthly plan. Needs the same credit (or card) as ordering a workspace.
#[server(prefix = "/api", endpoint = "subscribe")]
pub async fn subscribe(plan: String, order_key: String) -> Result<String, AppError> {
    use crate::backend::billing::subscriptions::{self, Ordered};
    use crate::backend::{platform::db::now, request};
    let (_, tenant, customer) = request::require_customer().await?;
    if !customer.email_verified {
        return Err(AppError::Unverified);
    }
    let key = uuid::Uuid::parse_str(order_key.trim())
        .map_err(|_| AppError::Invalid("This form has expired. Reload the page and try again.".into()))?;
    match subscriptions::order(&tenant, customer.id, plan.trim(), key, now()).await? {
        Ordered::Subscribed(id) => Ok(id),
        Ordered::NoSuchPlan => Err(AppError::Invalid("There is no such plan.".into())),
        Ordered::NeedsCredit(min) => {
            Err(AppError::Invalid(format!("Subscribing needs at least {min} of credit or a saved card.")))
        }
        Ordered::Suspended => Err(AppError::Suspended),
    }
}

/// Removes the saved card.
#[server(prefix = "/api", endpoint = "remove_card")]
pub async fn remove_card() -> Result<bool, AppError> {
    use crate::backend::{billing::payments, request};
    let (state, tenant, customer) = request::require_customer().await?;
    payments::remove_card(&state, &tenant, customer.id).await
}

/// Cancels a subscription now; this period bills the part it was active.
#[server(prefix = "/api", endpoint = "cancel_subscription")]
pub async fn cancel_subscription(id: String) -> Result<(), AppError> {
    use crate::backend::billing::subscriptions;
    use crate::backend::{platform::db::now, request};
    let (_, tenant, customer) = request::require_customer().await?;
    if subscriptions::cancel(&tenant.db, customer.id, id.trim(), now()).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

/// Starts a card top-up: returns the checkout page to send the browser to.
#[server(prefix = "/api", endpoint = "start_top_up")]
pub async fn start_top_up(amount: String) -> Result<String, AppError> {
    use crate::backend::{billing::payments, request};
    let (state, tenant, customer) = request::require_customer().await?;
    let amount = Money::parse_major(amount.trim(), tenant.currency)
        .map_err(|_| AppError::Invalid("Enter an amount such as 20 or 20.00.".into()))?;
    if !(500..=100_000).contains(&amount.minor()) {
        return Err(AppError::Invalid(format!(
            "Top-ups are from {} to {}.",
            Money::from_minor(500, tenant.currency),
            Money::from_minor(100_000, tenant.currency)
        )));
    }
    payments::start_top_up_from(&state, &tenant, &customer, amount, request::origin()).await
}

/// "Pay now" for an invoice left due: returns the checkout page to send the browser to.
#[server(prefix = "/api", endpoint = "pay_invoice")]
pub async fn pay_invoice(id: String) -> Result<String, AppError> {
    use crate::backend::{billing::payments, request};
    let (state, tenant, customer) = request::require_customer().await?;
    payments::start_invoice_checkout(&state, &tenant, &customer, id.trim(), request::origin()).await
}

/// "Pay now": sends the browser to the storefront's payment page for what the invoice leaves due.
#[component]
pub fn PayNow(id: String) -> impl IntoView {
    let pay = ServerAction::<PayInvoice>::new();
    Effect::new(move |_| {
        if let Some(Ok(url)) = pay.value().get() {
            crate::layout::go_to(&url);
        }
    });
    view! {
        <ActionForm action=pay attr:class="inline">
            <input type="hidden" name="id" value=id/>
            <button type="submit" data-testid="pay-now" class="rounded bg-brand px-2 py-0.5 text-xs font-medium text-on-brand"
                disabled=move || pay.pending().get()>"Pay now"</button>
            {move || pay.value().get().and_then(Result::err).map(|e| view! { <ErrorNote message=e.to_string()/> })}
        </ActionForm>
    }
}

/// Back from the payment page: credits the top-up now if the webhook has not yet (idempotent).
#[server(prefix = "/api", endpoint = "confirm_top_up")]
pub async fn confirm_top_up(session_id: String) -> Result<bool, AppError> {
    use crate::backend::{billing::payments, request};
    let (state, tenant, customer) = request::require_customer().await?;
    payments::confirm_top_up(&state, &tenant, &customer, &session_id).await
}

/// "At $0.30/h (what runs now) your credit lasts about 3 h 15 min": whole quarter-hours, as billed.
fn credit_lasts(balance: Money, running: Rate, card: bool) -> String {
    let then = if card { "after that, usage is charged to your card" } else { "then running workspaces stop" };
    match quarter_hours_of_credit(balance, running.amount_per_hour()) {
        Some(0) | None => format!("At {running} (what runs now) your credit is used up: {then}."),
        Some(q) => format!("At {running} (what runs now) your credit lasts about {}; {then}.", hours(q)),
    }
}

/// The usage chart: billed time per day (whole quarter-hours, as billed), in minutes.
fn usage_chart(days: &[(String, i64)]) -> Chart {
    Chart {
        id: "usage-chart".into(),
        title: "Billed time per day over the last 30 days (UTC)".into(),
        category: "Day".into(),
        unit: Unit::Minutes,
        series: vec!["Billed time".into()],
        arrangement: Arrangement::Grouped,
        total: None,
        groups: days
            .iter()
            .map(|(day, n)| Group { label: day.clone(), values: vec![n.saturating_mul(INCREMENT_SECONDS / 60)] })
            .collect(),
        empty: "No usage in the last 30 days.".into(),
    }
}

fn hours(increments: i64) -> String {
    format!("{} h {:02} min", increments / 4, (increments % 4) * 15)
}

#[component]
pub fn BillingPage() -> impl IntoView {
    let top_up = ServerAction::<StartTopUp>::new();
    let subscribe = ServerAction::<Subscribe>::new();
    let cancel = ServerAction::<CancelSubscription>::new();
    let remove_card = ServerAction::<RemoveCard>::new();
    let query = leptos_router::hooks::use_query_map();
    // Returning from the payment page (`?topup=<session>`): confirm first, then load.
    let data = crate::resource::new(
        move || {
            (query.read().get("topup"), subscribe.version().get(), cancel.version().get() + remove_card.version().get())
        },
        |(session, _, _)| async move {
            if let Some(s) = session.filter(|s| !s.is_empty()) {
                let _ = confirm_top_up(s).await;
            }
            billing_overview().await
        },
    );
    Effect::new(move |_| {
        if let Some(Ok(url)) = top_up.value().get() {
            crate::layout::go_to(&url);
        }
    });
    view! {
        <h1 class="text-2xl font-semibold">"Billing"</h1>
        <Suspense fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <Overview v top_up subscribe cancel remove_card/> }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <p class="mt-4"><a class="underline" href="/login">"Sign in"</a>" to see your billing."</p> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Overview(
    v: BillingView,
    top_up: ServerAction<StartTopUp>,
    subscribe: ServerAction<Subscribe>,
    cancel: ServerAction<CancelSubscription>,
    remove_card: ServerAction<RemoveCard>,
) -> impl IntoView {
    let now = ticking_now(v.server_now);
    let (facts, start, end, currency) = (v.facts.clone(), v.period_start, v.period_end, v.currency);
    let order_key = v.order_key.clone();
    let mtd = Memo::new(move |_| window_total(&facts, start, end, now.get(), currency));
    let usage = usage_chart(&v.daily_increments);
    view! {
        {v.suspended.then(|| view! {
            <div class="mt-4 rounded border border-red-300 bg-red-50 p-3 text-red-800" data-testid="suspended-banner">
                "Your account is suspended: you cannot order or start workspaces. Your invoices and credit are below; please contact the store's support."
            </div>
        })}
        {v.exhausted.then(|| view! {
            <div class="mt-4 rounded border border-red-300 bg-red-50 p-3 text-red-800" data-testid="exhausted-banner">
                "Your credit ran out, so your running workspaces were stopped. Top up to start them again."
            </div>
        })}
        {(v.low_balance && !v.exhausted).then(|| view! {
            <div class="mt-4 rounded border border-amber-300 bg-amber-50 p-3 text-amber-900" data-testid="low-balance-banner">
                {format!("Your credit is low ({}). Workspaces stop when it runs out; top up or save a card.", v.balance)}
            </div>
        })}
        <div class="mt-4 grid gap-4 sm:grid-cols-3">
            <div class="rounded-lg border bg-white p-4">
                <div class="text-sm text-slate-500">"Credit"</div>
                <div class="text-2xl font-bold" data-testid="balance">{v.balance.to_string()}</div>
                {v.running_per_hour.map(|rate| view! {
                    <div class="text-xs text-slate-600" data-testid="credit-lasts">{credit_lasts(v.balance, rate, v.card.is_some())}</div>
                })}
                <div class="text-xs text-slate-500" data-testid="card">{v.card.clone().map(|c| format!("Card on file: {c}")).unwrap_or_else(|| "No card on file (a top-up saves one)".into())}</div>
                {v.card.is_some().then(|| view! {
                    <ActionForm action=remove_card>
                        <button type="submit" class="mt-1 text-xs underline" data-testid="remove-card">"Remove card"</button>
                    </ActionForm>
                })}
            </div>
            <div class="rounded-lg border bg-white p-4">
                <div class="text-sm text-slate-500">"So far this period"</div>
                <div class="text-2xl font-bold" data-testid="month-to-date">{move || mtd.get().0.to_string()}</div>
                <div class="text-xs text-slate-500" data-testid="month-to-date-hours">{move || format!("{} billed · {}", hours(mtd.get().1), v.period_label)}</div>
            </div>
            <div class="rounded-lg border bg-white p-4">
                <div class="text-sm text-slate-500">{format!("Add credit ({})", v.currency.code())}</div>
                {if v.payments_enabled {
                    view! {
                        <ActionForm action=top_up attr:class="mt-1 flex gap-2">
                            <input name="amount" value="20.00" inputmode="decimal" class="w-24 rounded border px-2 py-1" data-testid="top-up-amount"
                                aria-label=format!("Credit to add ({})", v.currency.code())/>
                            <button type="submit" class="rounded bg-brand px-3 py-1 text-white" data-testid="top-up">"Top up by card"</button>
                        </ActionForm>
                    }.into_any()
                } else {
                    view! { <p class="text-sm text-slate-600">"Card payments are not set up for this store yet."</p> }.into_any()
                }}
                {move || top_up.value().get().and_then(Result::err).map(|e| view! { <ErrorNote message=e.to_string()/> })}
            </div>
        </div>

        <h2 class="mt-8 text-lg font-semibold">"Monthly plans"</h2>
        <div class="mt-2 grid gap-3 sm:grid-cols-2">
            {v.subscription_plans.clone().into_iter().map(|p| {
                let key = order_key.clone();
                let testid = format!("subscription-plan-{}", p.code);
                view! {
                    <ActionForm action=subscribe attr:class="rounded border bg-white p-3 text-sm" attr:data-testid=testid>
                        <input type="hidden" name="plan" value=p.code/>
                        <input type="hidden" name="order_key" value=key/>
                        <div class="font-medium">{p.name}</div>
                        <div class="text-slate-600">{p.description}</div>
                        <div class="mt-1 font-semibold">{format!("{} a month", p.monthly)}</div>
                        <button type="submit" class="mt-2 rounded border border-brand px-3 py-1 text-brand">"Subscribe"</button>
                    </ActionForm>
                }
            }).collect_view()}
        </div>
        {move || subscribe.value().get().and_then(Result::err).map(|e| view! { <ErrorNote message=e.to_string()/> })}
        <ul class="mt-2 text-sm">
            {v.subscriptions.clone().into_iter().map(|s| {
                let active = s.status == SubscriptionStatus::Active;
                view! {
                    <li class="flex items-center gap-3 border-t border-slate-100 py-1" data-testid="subscription">
                        <span>{format!("{} · {} a month · since {}", s.plan, s.monthly, format_utc(s.started_at))}</span>
                        <span>{s.ended_at.map(|e| format!("ended {}", format_utc(e))).unwrap_or_default()}</span>
                        {active.then(|| view! {
                            <ActionForm action=cancel>
                                <input type="hidden" name="id" value=s.id.clone()/>
                                <button type="submit" class="rounded border px-2 py-0.5 text-xs">"Cancel"</button>
                            </ActionForm>
                        })}
                    </li>
                }
            }).collect_view()}
        </ul>

        <h2 class="mt-8 text-lg font-semibold">"Usage, last 30 days"</h2>
        <BarChart chart=usage testid="usage-chart"/>

        <h2 class="mt-8 text-lg font-semibold">"Invoices"</h2>
        {if v.invoices.is_empty() {
            view! { <p class="text-sm text-slate-600" data-testid="no-invoices">"No invoices yet: they are issued at the end of each billing period."</p> }.into_any()
        } else {
            view! {
                <table class="mt-2 w-full text-left text-sm">
                    <thead><tr class="text-xs uppercase text-slate-500"><th class="py-1">"Number"</th><th>"Period"</th><th>"Status"</th><th>"Total"</th><th>"Left to pay"</th><th>"Due date"</th><th><span class="sr-only">"Pay"</span></th></tr></thead>
                    <tbody>
                        {v.invoices.into_iter().map(|i| {
                            let payable = v.payments_enabled && i.status == InvoiceStatus::Finalised && i.due.minor() > 0;
                            let due_on = i.due_at.filter(|_| i.due.minor() > 0).map(|d| format_utc(d).chars().take(10).collect::<String>());
                            view! {
                            <tr class="border-t border-slate-100" data-testid="invoice-row" data-overdue=if i.overdue { "true" } else { "false" }>
                                <td class="py-1"><a class="underline" href=format!("/invoices/{}", i.id)>{i.number}</a></td>
                                <td>{i.period}</td><td>{i.status.as_str()}</td><td>{i.total.to_string()}</td><td>{i.due.to_string()}</td>
                                <td class=if i.overdue { "font-semibold text-red-700" } else { "" }>
                                    {due_on.map(|d| if i.overdue { format!("{d} (overdue)") } else { d })}
                                </td>
                                <td>{payable.then(|| view! { <PayNow id=i.id.clone()/> })}</td>
                            </tr>
                        }}).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}

        <h2 class="mt-8 text-lg font-semibold">"Sessions"</h2>
        <table class="mt-2 w-full text-left text-sm">
            <thead><tr class="text-xs uppercase text-slate-500">
                <th class="py-1">"Workspace"</th><th>"Started (UTC)"</th><th>"Ran for"</th><th>"Billed time"</th><th>"Rate"</th><th class="text-right">"Cost"</th>
            </tr></thead>
            <tbody>
                {v.history.into_iter().map(|s| {
                    let billed = s.billed();
                    view! {
                        <tr class="border-t border-slate-100" data-testid="session-row">
                            <td class="py-1" data-testid="session-workspace">{s.workspace.clone()}</td>
                            <td>{format_utc(s.started_at)}</td>
                            <td>{s.ended_at.map(|e| format_elapsed(s.started_at.millis_until(e))).unwrap_or_else(|| "running".into())}</td>
                            <td data-testid="session-billed">{billed.map(|(secs, _)| format_elapsed(secs * 1000)).unwrap_or_default()}</td>
                            <td>{s.rate.to_string()}</td>
                            <td class="text-right font-mono" data-testid="session-cost">{billed.map(|(_, cost)| cost.to_string()).unwrap_or_default()}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>

        <h2 class="mt-8 text-lg font-semibold">"Credit movements"</h2>
        <table class="mt-2 w-full text-left text-sm">
            <tbody>
                {v.ledger.into_iter().map(|e| view! {
                    <tr class="border-t border-slate-100" data-testid="ledger-row">
                        <td class="py-1">{format_utc(e.at)}</td><td>{e.kind.as_str()}</td><td>{e.memo}</td><td class="text-right font-mono">{e.amount.to_string()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[server(prefix = "/api", endpoint = "get_invoice")]
pub async fn get_invoice(id: String) -> Result<InvoiceDocument, AppError> {
    let (state, tenant, customer) = crate::backend::request::require_customer().await?;
    crate::backend::billing::document::invoice(&state, &tenant, &customer, id.trim()).await?.ok_or(AppError::NotFound)
}

#[component]
pub fn InvoicePage() -> impl IntoView {
    let params = use_params_map();
    let data = crate::resource::new(move || params.read().get("id").unwrap_or_default(), get_invoice);
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(i) => view! { <InvoiceSheet i/> }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <p><a class="underline" href="/login">"Sign in"</a>" to see this invoice."</p> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The invoice document as a printable page (the PDF prints the same document).
#[component]
fn InvoiceSheet(i: InvoiceDocument) -> impl IntoView {
    let csv = format!("/invoices/{}/csv", i.id);
    let pdf = format!("/invoices/{}/pdf", i.id);
    let title = i.title();
    view! {
        <article class="mx-auto max-w-3xl rounded-lg border bg-white p-4 sm:p-8 print:border-0 print:p-0" data-testid="invoice">
            <header class="flex flex-wrap items-start justify-between gap-4">
                <div>
                    <h1 class="text-2xl font-bold">{title}</h1>
                    <p class="text-sm text-slate-600">{format!("Period {} · {}", i.period, i.status)}</p>
                    <p class="text-sm text-slate-600">{i.issued.map(|t| format!("Issued {}", format_utc(t))).unwrap_or_default()}</p>
                </div>
                <div class="text-right text-sm">
                    <div class="font-semibold">{i.company}</div>
                    <div>{i.customer_name}</div>
                    <div class="text-slate-600">{i.customer_email}</div>
                </div>
            </header>
            <table class="mt-6 w-full text-left text-sm">
                <thead><tr class="border-b text-xs uppercase text-slate-500"><th class="py-1">"Description"</th><th class="text-right">"Amount"</th></tr></thead>
                <tbody>
                    {i.lines.into_iter().map(|l| view! {
                        <tr class="border-b border-slate-100 align-top" data-testid="invoice-line">
                            <td class="py-2">
                                <div>{l.description}</div>
                                <ul class="mt-1 text-xs text-slate-500">
                                    {l.sessions.into_iter().map(|s| view! {
                                        <li>{format!("{} → {} · {} × 15 min", format_utc(s.started_at), s.ended_at.map(format_utc).unwrap_or_else(|| "running".into()), s.increments)}</li>
                                    }).collect_view()}
                                </ul>
                            </td>
                            <td class="py-2 text-right font-mono">{l.amount.to_string()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
                <tfoot>
                    <tr><td class="pt-3 text-right font-semibold">"Total"</td><td class="pt-3 text-right font-mono font-semibold" data-testid="invoice-total">{i.total.to_string()}</td></tr>
                    <tr><td class="text-right text-slate-600">"Paid from credit"</td><td class="text-right font-mono">{i.credit_applied.to_string()}</td></tr>
                    <tr><td class="text-right text-slate-600">"Paid by card"</td><td class="text-right font-mono">{i.card_paid.to_string()}</td></tr>
                    <tr><td class="text-right font-semibold">"Amount due"</td><td class="text-right font-mono font-semibold" data-testid="invoice-due">{i.due.to_string()}</td></tr>
                </tfoot>
            </table>
            <p class="mt-6 flex flex-wrap gap-x-4 gap-y-2 text-sm print:hidden">
                <a class="underline" href=pdf rel="external" data-testid="invoice-pdf">"Download PDF"</a>
                <a class="underline" href=csv rel="external" data-testid="invoice-csv">"Download CSV"</a>
                <a class="underline" href="/billing">"Back to billing"</a>
            </p>
        </article>
    }
}
