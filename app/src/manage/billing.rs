//! The reseller's money page (`/manage/billing`): revenue against wholesale cost and margin per month
//! (chart and table), usage, the plan price editor (retail ≥ wholesale, with the margin previewed as you
//! type), the platform's upcoming wholesale price changes with the margin each leaves (a change above a
//! retail price is flagged: from then the storefront's price rises to it), the wholesale invoices the
//! platform sent, and the storefront's Stripe keys.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::charts::BarChart;
use crate::domain::billing_state::WholesaleStatus;
use crate::domain::chart::{Arrangement, Chart, Group, Unit};
use crate::domain::money::{Currency, Money, Rate};
use crate::domain::price_book::UpcomingPrice;
use crate::domain::time::format_utc;
use crate::error::AppError;
use crate::layout::ErrorNote;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthRow {
    pub period: String,
    pub revenue: Money,
    pub wholesale: Money,
    pub margin: Money,
    /// Billed quarter-hours.
    pub increments: i64,
    pub customers: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRow {
    pub email: String,
    pub name: String,
    pub balance: Money,
    /// Usage so far this period, at retail.
    pub this_period: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPrice {
    pub code: String,
    pub name: String,
    pub retail: Rate,
    /// The wholesale price in force now (the floor).
    pub wholesale: Rate,
    /// The next scheduled change to it, if any.
    pub next: Option<UpcomingPrice>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WholesaleInvoiceRow {
    pub id: String,
    pub number: String,
    pub period: String,
    pub total: Money,
    pub status: WholesaleStatus,
    pub lines: Vec<(String, Money)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManageBillingData {
    pub currency: Currency,
    pub months: Vec<MonthRow>,
    pub customers: i64,
    /// Up to 200 customers, biggest spenders this period first.
    pub customer_rows: Vec<CustomerRow>,
    pub plans: Vec<PlanPrice>,
    /// Scheduled wholesale price changes, soonest first.
    pub upcoming: Vec<UpcomingPrice>,
    pub invoices: Vec<WholesaleInvoiceRow>,
    pub stripe_configured: bool,
    pub customer_terms: crate::domain::payment_terms::CustomerTerms,
}

#[server(prefix = "/api", endpoint = "manage_billing")]
pub async fn manage_billing() -> Result<ManageBillingData, AppError> {
    use crate::backend::billing::overview;
    let (state, entry, _) = super::server::guard::staff().await?;
    let tenant = state.tenant_by_id(entry.id).await?.ok_or(AppError::NotFound)?;
    let o = overview::reseller(&state, &tenant).await?;
    Ok(ManageBillingData {
        currency: o.currency,
        months: o
            .months
            .into_iter()
            .map(|m| MonthRow {
                period: m.period,
                revenue: m.revenue,
                wholesale: m.wholesale,
                margin: m.margin,
                increments: m.increments,
                customers: m.customers,
            })
            .collect(),
        customers: o.customers,
        customer_rows: o
            .customer_rows
            .into_iter()
            .map(|c| CustomerRow { email: c.email, name: c.name, balance: c.balance, this_period: c.this_period })
            .collect(),
        plans: o
            .plans
            .into_iter()
            .map(|(p, wholesale)| PlanPrice {
                code: p.code.as_str().to_owned(),
                next: o.upcoming.iter().find(|u| u.plan == p.code).cloned(),
                name: p.name,
                retail: p.retail,
                wholesale,
            })
            .collect(),
        upcoming: o.upcoming,
        invoices: o
            .invoices
            .into_iter()
            .map(|(w, lines)| WholesaleInvoiceRow {
                number: w.display_number(),
                total: Money::from_minor(w.total_minor, w.currency),
                id: w.id,
                period: w.period,
                status: w.status,
                lines,
            })
            .collect(),
        stripe_configured: o.stripe_configured,
        customer_terms: o.customer_terms,
    })
}

/// The storefront's payment terms for its customers: days to pay an invoice left due, and days past that
/// before new orders are refused. For invoices finalised from now on.
#[server(prefix = "/api", endpoint = "save_customer_terms")]
pub async fn save_customer_terms(due_days: String, grace_days: String) -> Result<(), AppError> {
    use crate::backend::{billing::terms, request};
    use crate::domain::payment_terms::CustomerTerms;
    let (state, entry, member) = super::server::guard::staff().await?;
    let t = CustomerTerms::parse(&due_days, &grace_days).map_err(AppError::Invalid)?;
    Ok(terms::save_by(&state, request::client_ip(), &member.actor(), entry.id, t).await?)
}

#[component]
fn CustomerTermsForm(current: crate::domain::payment_terms::CustomerTerms) -> impl IntoView {
    let save = ServerAction::<SaveCustomerTerms>::new();
    let field = "w-20 rounded border px-2 py-1";
    view! {
        <h2 id="terms" class="mt-8 text-lg font-semibold">"Payment terms for your customers"</h2>
        <p class="text-sm text-slate-600">
            "An invoice that credit or a saved card did not cover is due this many days after it is issued; customers can pay it with \"Pay now\" and get reminders before and after. "
            "Past the grace period they cannot order new workspaces (running ones keep running)."
        </p>
        <ActionForm action=save attr:class="mt-2 flex flex-wrap items-end gap-3 text-sm" attr:data-testid="terms-form">
            <label class="flex flex-col text-xs">"Days to pay"
                <input name="due_days" type="number" min="0" max="90" class=field value=current.due_days.to_string()/>
            </label>
            <label class="flex flex-col text-xs">"Grace days before orders stop"
                <input name="grace_days" type="number" min="0" max="90" class=field value=current.grace_days.to_string()/>
            </label>
            <button type="submit" class="rounded border px-3 py-1">"Save terms"</button>
            {move || match save.value().get() {
                Some(Ok(())) => view! { <span data-testid="terms-saved" class="text-green-700">"Saved."</span> }.into_any(),
                Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                None => ().into_any(),
            }}
        </ActionForm>
    }
}

/// Sets a plan's retail price. It may not be below the wholesale price in force.
#[server(prefix = "/api", endpoint = "set_plan_price")]
pub async fn set_plan_price(code: String, retail: String) -> Result<(), AppError> {
    use crate::backend::request;
    use crate::backend::workspaces::catalog::{self, Repriced};
    use crate::domain::plan::PlanCode;
    let (state, entry, member) = super::server::guard::staff().await?;
    let tenant = state.tenant_by_id(entry.id).await?.ok_or(AppError::NotFound)?;
    let code = PlanCode::parse(&code).map_err(|_| AppError::Invalid("There is no such plan.".into()))?;
    let rate = Rate::parse(retail.trim(), tenant.currency)
        .map_err(|_| AppError::Invalid("Enter an hourly price such as 0.45.".into()))?;
    match catalog::reprice_by(state.central(), &tenant, request::client_ip(), &member.actor(), code, &rate).await? {
        Repriced::Done => Ok(()),
        Repriced::NoSuchPlan => Err(AppError::NotFound),
        Repriced::BelowWholesale(wholesale) => {
            Err(AppError::Invalid(format!("The retail price may not be below the wholesale price of {wholesale}.")))
        }
    }
}

/// The storefront's own Stripe keys (owners only). Stored sealed; never shown again.
#[server(prefix = "/api", endpoint = "save_stripe_keys")]
pub async fn save_stripe_keys(secret_key: String, webhook_secret: String) -> Result<(), AppError> {
    use crate::backend::billing::payments;
    use crate::backend::identity::accounts::StaffRole;
    let (state, entry, member) = super::server::guard::staff().await?;
    if member.role != StaffRole::Owner {
        return Err(AppError::Forbidden);
    }
    let (sk, wh) = (secret_key.trim(), webhook_secret.trim());
    let key_ok = (sk.starts_with("sk_") || sk.starts_with("rk_")) && sk.len() <= 255 && sk.is_ascii();
    if !key_ok || !wh.starts_with("whsec_") || wh.len() > 255 {
        return Err(AppError::Invalid("Paste the secret key (sk_…) and the webhook signing secret (whsec_…).".into()));
    }
    let ip = crate::backend::request::client_ip();
    Ok(payments::save_settings_by(&state, ip, &member.actor(), entry.id, sk, wh).await?)
}

#[component]
pub fn ManageBillingPage() -> impl IntoView {
    let price = ServerAction::<SetPlanPrice>::new();
    let keys = ServerAction::<SaveStripeKeys>::new();
    let data = crate::resource::new(move || (price.version().get(), keys.version().get()), |_| manage_billing());
    view! {
        <h1 class="text-2xl font-semibold">"Billing"</h1>
        <super::platform_billing::PlatformBilling/>
        {move || [price.value().get().and_then(Result::err), keys.value().get().and_then(Result::err)]
            .into_iter().flatten().next().map(|e| view! { <ErrorNote message=e.to_string()/> })}
        <Suspense fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! { <Figures d price keys/> }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <p class="mt-4"><a class="underline" href="/manage/login">"Sign in"</a></p> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Revenue per month as a stack of margin and wholesale cost (revenue = margin + cost), in the storefront's
/// currency.
fn revenue_chart(months: &[MonthRow], currency: Currency) -> Chart {
    Chart {
        id: "revenue-chart".into(),
        title: "Revenue per billing period: your margin and the wholesale cost, last 6 periods".into(),
        category: "Period".into(),
        unit: Unit::Money(currency),
        series: vec!["Margin".into(), "Wholesale cost".into()],
        arrangement: Arrangement::Stacked,
        total: Some("Revenue".into()),
        groups: months
            .iter()
            .map(|m| Group { label: m.period.clone(), values: vec![m.margin.minor(), m.wholesale.minor()] })
            .collect(),
        empty: "No revenue in the last 6 periods yet: it shows here once your customers use their workspaces.".into(),
    }
}

#[component]
fn Figures(
    d: ManageBillingData,
    price: ServerAction<SetPlanPrice>,
    keys: ServerAction<SaveStripeKeys>,
) -> impl IntoView {
    let revenue = revenue_chart(&d.months, d.currency);
    view! {
        <h2 class="mt-6 text-lg font-semibold">"Revenue, wholesale cost and margin"</h2>
        <BarChart chart=revenue testid="revenue-chart"/>
        <table class="mt-2 w-full text-left text-sm">
            <thead><tr class="text-xs uppercase text-slate-500"><th class="py-1">"Period"</th><th>"Revenue"</th><th>"Wholesale"</th><th>"Margin"</th><th>"Hours billed"</th><th>"Active customers"</th></tr></thead>
            <tbody>
                {d.months.into_iter().rev().map(|m| view! {
                    <tr class="border-t border-slate-100" data-testid="month-row">
                        <td class="py-1">{m.period}</td><td>{m.revenue.to_string()}</td><td>{m.wholesale.to_string()}</td>
                        <td class="font-semibold">{m.margin.to_string()}</td>
                        <td>{format!("{} h {:02} min", m.increments / 4, (m.increments % 4) * 15)}</td><td>{m.customers}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <h2 class="mt-8 text-lg font-semibold">{format!("Customers ({})", d.customers)}</h2>
        <table class="mt-2 w-full text-left text-sm">
            <thead><tr class="text-xs uppercase text-slate-500"><th class="py-1">"Customer"</th><th>"Email"</th><th>"Credit"</th><th>"This period"</th></tr></thead>
            <tbody>
                {d.customer_rows.into_iter().map(|c| view! {
                    <tr class="border-t border-slate-100" data-testid="customer-row">
                        <td class="py-1">{c.name}</td><td>{c.email}</td><td>{c.balance.to_string()}</td><td>{c.this_period.to_string()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>

        <UpcomingChanges upcoming=d.upcoming/>

        <h2 id="prices" class="mt-8 text-lg font-semibold">"Plan prices"</h2>
        <p class="text-sm text-slate-600">"New prices apply to sessions that start after the change; running ones keep their rate."</p>
        <super::onboarding::ConfirmPrices/>
        <div class="mt-2 grid gap-3 sm:grid-cols-2">
            {d.plans.into_iter().map(|p| view! { <PriceEditor p price/> }).collect_view()}
        </div>

        <h2 class="mt-8 text-lg font-semibold">"Wholesale invoices"</h2>
        {d.invoices.into_iter().map(|i| view! {
            <details class="mt-2 rounded border border-slate-200 p-2 text-sm" data-testid="wholesale-invoice">
                <summary class="cursor-pointer">{format!("{} · {} · {} · {}", i.number, i.period, i.total, i.status.as_str())}</summary>
                <ul class="mt-1">{i.lines.into_iter().map(|(d, a)| view! { <li class="flex justify-between"><span>{d}</span><span class="font-mono">{a.to_string()}</span></li> }).collect_view()}</ul>
                <a class="mt-1 inline-block underline" rel="external" href=format!("/manage/billing/wholesale/{}/pdf", i.id) data-testid="wholesale-pdf">"Download PDF"</a>
            </details>
        }).collect_view()}

        <CustomerTermsForm current=d.customer_terms/>

        <h2 id="stripe" class="mt-8 text-lg font-semibold">"Card payments (Stripe)"</h2>
        <p class="text-sm text-slate-600">{if d.stripe_configured { "Your Stripe keys are set. Enter new ones to replace them." } else { "Add your Stripe keys to take card payments." }}</p>
        <ActionForm action=keys attr:class="mt-2 flex flex-wrap gap-2 text-sm">
            <input name="secret_key" type="password" placeholder="sk_live_…" autocomplete="off" class="rounded border px-2 py-1"/>
            <input name="webhook_secret" type="password" placeholder="whsec_…" autocomplete="off" class="rounded border px-2 py-1"/>
            <button type="submit" class="rounded bg-slate-900 px-3 py-1 text-white">"Save keys"</button>
        </ActionForm>
    }
}

#[component]
pub(crate) fn PriceEditor(p: PlanPrice, price: ServerAction<SetPlanPrice>) -> impl IntoView {
    let typed = RwSignal::new(p.retail.amount_per_hour().to_string());
    let wholesale = p.wholesale;
    let testid = format!("price-{}", p.code);
    // The margin preview uses the same exact decimal rates the server checks.
    let preview = move || match Rate::parse(typed.get().trim(), wholesale.currency()) {
        Ok(r) if r.amount_per_hour() < wholesale.amount_per_hour() => ("Below wholesale: not allowed".to_owned(), true),
        Ok(r) => {
            let margin = r.amount_per_hour() - wholesale.amount_per_hour();
            let pct = if r.amount_per_hour().is_zero() {
                rust_decimal::Decimal::ZERO
            } else {
                (margin * rust_decimal::Decimal::from(100) / r.amount_per_hour()).round_dp(1)
            };
            // Both rates have at most 6 decimals and retail ≥ wholesale here, so the margin is a valid rate.
            match Rate::per_hour(margin, wholesale.currency()) {
                Ok(margin) => (format!("Margin {margin} ({pct} %)"), false),
                Err(_) => ("Not a price".to_owned(), true),
            }
        }
        Err(_) => ("Not a price".to_owned(), true),
    };
    view! {
        <ActionForm action=price attr:class="rounded border border-slate-200 p-3 text-sm" attr:data-testid=testid>
            <input type="hidden" name="code" value=p.code.clone()/>
            <div class="font-medium">{p.name.clone()}</div>
            <div class="text-xs text-slate-500">{format!("Wholesale {}", p.wholesale)}</div>
            {p.next.map(|n| {
                let class = if n.margin.below_wholesale { "text-xs text-amber-800" } else { "text-xs text-slate-500" };
                let below = n.margin.below_wholesale.then_some(": above your price, which will rise to it unless you raise it");
                view! {
                    <div class=class data-testid="next-wholesale" data-below=n.margin.below_wholesale.to_string()>
                        {format!("From {}: wholesale {}{}", format_utc(n.effective_at), n.to, below.unwrap_or_default())}
                    </div>
                }
            })}
            <div class="mt-1 flex items-center gap-2">
                <input name="retail" class="w-24 rounded border px-2 py-1" prop:value=move || typed.get()
                    aria-label=format!("Retail price of {} ({} per hour)", p.name, wholesale.currency().code())
                    on:input=move |ev| typed.set(event_target_value(&ev))/>
                <span class="text-xs">{format!("{} per hour", wholesale.currency().code())}</span>
                <button type="submit" class="rounded border px-2 py-1" disabled=move || preview().1>"Save"</button>
            </div>
            <div class=move || if preview().1 { "mt-1 text-xs text-red-700" } else { "mt-1 text-xs text-green-700" } data-testid="margin">{move || preview().0}</div>
        </ActionForm>
    }
}

/// The platform's scheduled wholesale price changes, each with the margin it leaves at today's retail price.
/// A change above the retail price is flagged: from its time, sessions start at the new wholesale price.
#[component]
fn UpcomingChanges(upcoming: Vec<UpcomingPrice>) -> impl IntoView {
    view! {
        <h2 id="upcoming" class="mt-8 text-lg font-semibold">"Upcoming wholesale price changes"</h2>
        {if upcoming.is_empty() {
            view! { <p class="text-sm text-slate-600" data-testid="no-upcoming">"No changes scheduled."</p> }.into_any()
        } else {
            view! {
                <p class="text-sm text-slate-600">
                    "Sessions that start before a change keep the price they started with. Where a new wholesale price is "
                    "above your retail price, sessions starting from then are charged the wholesale price until you raise yours."
                </p>
                <table class="mt-2 w-full text-left text-sm">
                    <caption class="sr-only">"Upcoming wholesale price changes"</caption>
                    <thead><tr class="text-xs uppercase text-slate-500">
                        <th scope="col" class="py-1">"From"</th><th scope="col">"Plan"</th><th scope="col">"Wholesale"</th>
                        <th scope="col">"Your price"</th><th scope="col">"Margin after"</th>
                    </tr></thead>
                    <tbody>
                        {upcoming.into_iter().map(|u| {
                            let margin = u.margin_rate();
                            view! {
                                <tr class="border-t border-slate-100" data-testid="upcoming-change" data-plan=u.plan.as_str()
                                    data-below=u.margin.below_wholesale.to_string()>
                                    <td class="py-1">{format_utc(u.effective_at)}</td>
                                    <td>{u.plan_name.clone()}</td>
                                    <td>{format!("{} → {}", u.from, u.to)}</td>
                                    <td>{u.retail.to_string()}</td>
                                    <td>
                                        {margin.to_string()}
                                        {u.margin.below_wholesale.then(|| view! {
                                            <span class="ml-1 font-medium text-amber-800">"Below wholesale: your price rises to it"</span>
                                        })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
}
