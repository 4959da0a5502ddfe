//! Billing in the admin app (`/admin/billing`): the state of billing runs, wholesale invoices across
//! tenants, and running a period by hand (the same run as the scheduler and `server billing run`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::charts::BarChart;
use crate::domain::billing_state::{BillingRunState, WholesaleStatus};
use crate::domain::money::Money;
use crate::domain::receivables::{AgeBucket, Receivables};
use crate::domain::time::{format_utc, Timestamp};
use crate::error::AppError;
use crate::layout::ErrorNote;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRow {
    pub tenant: String,
    pub period: String,
    pub state: BillingRunState,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub summary: String,
    pub runs: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WholesaleRow {
    pub tenant: String,
    pub number: String,
    pub period: String,
    pub usage: Money,
    pub fee: Money,
    pub commission: Money,
    pub total: Money,
    pub status: WholesaleStatus,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminBillingData {
    pub runs: Vec<RunRow>,
    pub wholesale: Vec<WholesaleRow>,
    /// What resellers owe the platform (open balances by age, collected, revenue per month).
    pub receivables: Receivables,
}

#[server(prefix = "/api", endpoint = "admin_billing")]
pub async fn admin_billing() -> Result<AdminBillingData, AppError> {
    use crate::backend::billing::overview;
    let (state, _) = super::server::guard::admin().await?;
    let o = overview::platform(&state).await?;
    let runs = o
        .runs
        .into_iter()
        .map(|(tenant, r)| RunRow {
            tenant,
            summary: match (&r.report, &r.error) {
                (_, Some(e)) => format!("failed: {e}"),
                (Some(rep), None) if rep.nothing_to_do() => "nothing to do".into(),
                (Some(rep), None) => format!(
                    "{} invoices ({}), {} finalised, {} emailed",
                    rep.created,
                    rep.total_text(),
                    rep.finalised,
                    rep.emailed
                ),
                (None, None) => String::new(),
            },
            period: r.period,
            state: r.state,
            started_at: Timestamp::from_millis(r.started_at),
            finished_at: r.finished_at.map(Timestamp::from_millis),
            runs: r.runs,
        })
        .collect();
    let wholesale = o
        .wholesale
        .into_iter()
        .map(|(tenant, w)| {
            let m = |v: i64| Money::from_minor(v, w.currency);
            WholesaleRow {
                tenant,
                number: w.display_number(),
                period: w.period.clone(),
                usage: m(w.usage_minor - w.discount_minor),
                fee: m(w.platform_fee_minor),
                commission: m(w.commission_minor),
                total: m(w.total_minor),
                status: w.status,
            }
        })
        .collect();
    let receivables = crate::backend::billing::collection::receivables(&state).await?;
    Ok(AdminBillingData { runs, wholesale, receivables })
}

/// Bills a finished period now (every tenant, or one). Safe to repeat: a rerun has nothing to do.
#[server(prefix = "/api", endpoint = "admin_run_billing")]
pub async fn admin_run_billing(period: String, tenant: Option<String>) -> Result<String, AppError> {
    use crate::backend::billing::run::{self, RunError};
    let (state, admin) = super::server::guard::admin().await?;
    let only = tenant.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let outcomes = match run::run_by(&state, super::server::guard::by(&admin), period.trim(), only).await {
        Ok(o) => o,
        Err(RunError::Invalid(m)) => return Err(AppError::Invalid(m)),
        Err(RunError::NotOver(p)) => return Err(AppError::Invalid(format!("Period {p} is not over yet."))),
        Err(RunError::Backend(e)) => return Err(e.into()),
    };
    let failed: Vec<String> =
        outcomes.iter().filter_map(|o| o.result.as_ref().err().map(|e| format!("{}: {e}", o.slug))).collect();
    if failed.is_empty() {
        Ok(format!("Billed {} tenant(s) for {}.", outcomes.len(), period.trim()))
    } else {
        Err(AppError::Conflict(format!("Some tenants failed (rerun to finish): {}", failed.join("; "))))
    }
}

#[component]
pub fn AdminBillingPage() -> impl IntoView {
    let run_now = ServerAction::<AdminRunBilling>::new();
    let data = crate::resource::new(move || run_now.version().get(), |_| admin_billing());
    view! {
        <h1 class="text-2xl font-semibold">"Billing"</h1>
        <ActionForm action=run_now attr:class="mt-4 flex flex-wrap items-end gap-2 text-sm">
            <label>"Period "<input name="period" placeholder="2026-10" required class="rounded border px-2 py-1"/></label>
            <label>"Tenant (blank = all) "<input name="tenant" class="rounded border px-2 py-1"/></label>
            <button type="submit" class="rounded bg-slate-900 px-3 py-1 text-white" data-testid="run-billing">"Run billing"</button>
        </ActionForm>
        {move || match run_now.value().get() {
            Some(Ok(m)) => view! { <p class="mt-2 text-sm text-green-700" data-testid="run-result">{m}</p> }.into_any(),
            Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
            None => ().into_any(),
        }}
        <Suspense fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(d) => view! {
                        <ReceivablesView r=d.receivables/>
                        <h2 class="mt-6 text-lg font-semibold">"Billing runs"</h2>
                        <table class="mt-2 w-full text-left text-sm">
                            <thead><tr class="text-xs uppercase text-slate-500"><th class="py-1">"Tenant"</th><th>"Period"</th><th>"State"</th><th>"Started (UTC)"</th><th>"Finished"</th><th>"Runs"</th><th>"Result"</th></tr></thead>
                            <tbody>
                                {d.runs.into_iter().map(|r| view! {
                                    <tr class="border-t border-slate-100" data-testid="billing-run">
                                        <td class="py-1">{r.tenant}</td><td>{r.period}</td><td>{r.state.as_str()}</td>
                                        <td>{format_utc(r.started_at)}</td><td>{r.finished_at.map(format_utc).unwrap_or_default()}</td>
                                        <td>{r.runs}</td><td>{r.summary}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        <h2 class="mt-6 text-lg font-semibold">"Wholesale invoices"</h2>
                        <table class="mt-2 w-full text-left text-sm">
                            <thead><tr class="text-xs uppercase text-slate-500"><th class="py-1">"Number"</th><th>"Tenant"</th><th>"Period"</th><th>"Usage (net)"</th><th>"Fee"</th><th>"Commission"</th><th>"Total"</th><th>"Status"</th></tr></thead>
                            <tbody>
                                {d.wholesale.into_iter().map(|w| view! {
                                    <tr class="border-t border-slate-100" data-testid="wholesale-invoice">
                                        <td class="py-1">{w.number}</td><td>{w.tenant}</td><td>{w.period}</td>
                                        <td>{w.usage.to_string()}</td><td>{w.fee.to_string()}</td><td>{w.commission.to_string()}</td>
                                        <td class="font-semibold">{w.total.to_string()}</td><td>{w.status.as_str()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <p class="mt-4"><a class="underline" href="/admin/login">"Sign in"</a></p> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// Receivables: each tenant's open wholesale balance by age, what was collected this month, wholesale
/// revenue per month (chart), and the CSV export.
#[component]
fn ReceivablesView(r: Receivables) -> impl IntoView {
    let collected = if r.collected_this_month.is_empty() {
        "nothing yet".to_owned()
    } else {
        r.collected_this_month.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(" + ")
    };
    let charts = crate::domain::receivables::revenue_charts(&r.revenue_by_month);
    view! {
        <h2 class="mt-6 text-lg font-semibold">"Receivables"</h2>
        <p class="text-sm" data-testid="collected-this-month">{format!("Collected this month: {collected}")}</p>
        <a class="text-sm underline" rel="external" href="/admin/billing/receivables.csv" data-testid="receivables-csv">"Download CSV"</a>
        <table class="mt-2 w-full text-left text-sm">
            <thead><tr class="text-xs uppercase text-slate-500">
                <th class="py-1">"Tenant"</th><th>"Billing"</th>
                {AgeBucket::ALL.iter().map(|b| view! { <th>{b.label()}</th> }).collect_view()}
                <th>"Open"</th>
            </tr></thead>
            <tbody>
                {r.rows.into_iter().map(|row| view! {
                    <tr class="border-t border-slate-100" data-testid="receivable" data-slug=row.slug.clone()>
                        <td class="py-1">{row.name.clone()}" "<span class="font-mono text-xs text-slate-500">{row.slug.clone()}</span></td>
                        <td data-status=row.billing_status.as_str()>{row.billing_status.label()}</td>
                        {row.buckets.iter().map(|m| view! { <td>{m.to_string()}</td> }).collect_view()}
                        <td class="font-semibold">{row.open().to_string()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <h3 class="mt-4 text-sm font-semibold">"Wholesale revenue by month"</h3>
        {charts.into_iter().map(|chart| view! { <BarChart chart testid="wholesale-revenue-chart"/> }).collect_view()}
    }
}
