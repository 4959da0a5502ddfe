//! The plan catalog and ordering a workspace.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::money::Rate;
use crate::error::AppError;
use crate::layout::{go_to, ErrorNote};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCard {
    pub code: String,
    pub name: String,
    pub summary: String,
    pub vcpu: i64,
    pub ram_gb: i64,
    pub apps: Vec<String>,
    pub icon: String,
    pub rate: Rate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogView {
    pub plans: Vec<PlanCard>,
    /// A one-time key for the order form, present when signed in: submitting twice with the same key
    /// yields one workspace.
    pub order_key: Option<String>,
}

#[server(prefix = "/api", endpoint = "catalog")]
pub async fn catalog() -> Result<CatalogView, AppError> {
    use crate::backend::{request, workspaces::catalog};
    let (state, tenant) = request::tenant().await?;
    let signed_in = request::current_customer().await?.is_some();
    let plans = catalog::for_sale(&state, &tenant)
        .await?
        .into_iter()
        .map(|p| PlanCard {
            code: p.template.code.as_str().to_owned(),
            name: p.name,
            summary: p.summary,
            vcpu: p.template.vcpu,
            ram_gb: p.template.ram_gb,
            apps: p.template.apps,
            icon: p.template.icon,
            rate: p.retail,
        })
        .collect();
    Ok(CatalogView { plans, order_key: signed_in.then(|| uuid::Uuid::new_v4().to_string()) })
}

/// Orders a workspace of `plan`. Returns the workspace id; provisioning continues in the background.
#[server(prefix = "/api", endpoint = "order_workspace")]
pub async fn order_workspace(plan: String, order_key: String) -> Result<String, AppError> {
    use crate::backend::billing::orders::{self, OrderError};
    use crate::backend::request;
    use crate::domain::plan::PlanCode;
    let (state, tenant, customer) = request::require_customer().await?;
    if !customer.email_verified {
        return Err(AppError::Unverified);
    }
    let code = PlanCode::parse(&plan).map_err(|_| AppError::Invalid("There is no such workspace plan.".into()))?;
    let order_key = uuid::Uuid::parse_str(order_key.trim())
        .map_err(|_| AppError::Invalid("This order form has expired. Reload the page and try again.".into()))?;
    let ordered = match orders::order(&state, &tenant, customer.id, code, order_key).await {
        Ok(o) => o,
        Err(OrderError::NotAvailable) => {
            return Err(AppError::Invalid("This workspace plan is not available.".into()));
        }
        Err(OrderError::Overdue(number, amount)) => {
            return Err(AppError::Invalid(format!(
                "Invoice {number} ({amount}) is overdue. Pay it on the Billing page to order new workspaces; \
                 your running workspaces are not affected."
            )));
        }
        Err(OrderError::NeedsCredit(min)) => {
            return Err(AppError::Invalid(format!(
                "Ordering needs at least {min} of credit or a saved card. Top up on the Billing page."
            )));
        }
        Err(OrderError::Suspended) => return Err(AppError::Suspended),
        // Neutral on purpose: the customer is not told that their store owes the platform money.
        Err(OrderError::StoreNotTakingOrders) => {
            return Err(AppError::Invalid(
                "This store is not taking new orders at the moment. Please try again later.".into(),
            ));
        }
        Err(OrderError::NoServer) => {
            return Err(AppError::Invalid(
                "This workspace plan is not available right now. Please try again later.".into(),
            ));
        }
        Err(OrderError::Backend(e)) => return Err(e.into()),
    };
    let id = ordered.id;
    if ordered.created {
        request::audit_if_impersonating(&state, &tenant, &customer, "workspace.ordered", &format!("{id} ({code})"))
            .await?;
    }
    Ok(id.to_string())
}

#[component]
pub fn CatalogPage() -> impl IntoView {
    let data = crate::resource::new(|| (), |_| catalog());
    let order = ServerAction::<OrderWorkspace>::new();
    Effect::new(move |_| {
        if let Some(Ok(id)) = order.value().get() {
            go_to(&format!("/workspaces/{id}"));
        }
    });
    view! {
        <h1 class="text-3xl font-bold">"Cloud workspaces by the hour"</h1>
        <p class="mt-2 text-slate-600">
            "Pick a workspace, start it, use it in your browser, stop it. You pay for running time only, in 15-minute increments."
        </p>
        {move || match order.value().get() {
            Some(Err(e)) => view! { <div class="mt-4"><ErrorNote message=e.to_string()/></div> }.into_any(),
            _ => ().into_any(),
        }}
        <Suspense fallback=|| view! { <p class="mt-6">"Loading plans…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                    Ok(cat) => {
                        let key = cat.order_key.clone();
                        view! {
                            <div class="mt-6 grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
                                {cat.plans.into_iter().map(|p| view! { <PlanTile plan=p order_key=key.clone() order/> }).collect_view()}
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn PlanTile(plan: PlanCard, order_key: Option<String>, order: ServerAction<OrderWorkspace>) -> impl IntoView {
    let code = plan.code.clone();
    view! {
        <div class="flex flex-col rounded-lg border border-slate-200 bg-white p-5 shadow-sm" data-testid=format!("plan-{}", plan.code)>
            <h2 class="flex items-center gap-2 text-lg font-semibold">
                <TemplateIcon icon=plan.icon.clone()/>
                {plan.name.clone()}
            </h2>
            <p class="text-sm text-slate-600">{plan.summary.clone()}</p>
            <p class="mt-2 text-sm">{format!("{} vCPU · {} GB RAM", plan.vcpu, plan.ram_gb)}</p>
            <ul class="mt-2 flex flex-wrap gap-1 text-xs text-slate-600" data-testid="apps">
                {plan.apps.iter().map(|a| view! { <li class="rounded bg-slate-100 px-2 py-0.5">{a.clone()}</li> }).collect_view()}
            </ul>
            <p class="mt-3 text-2xl font-bold" data-testid="rate">{plan.rate.to_string()}</p>
            {match order_key {
                Some(key) => view! {
                    <ActionForm action=order attr:class="mt-4">
                        <input type="hidden" name="plan" value=code/>
                        <input type="hidden" name="order_key" value=key/>
                        <button type="submit" class="w-full rounded bg-brand px-4 py-2 font-medium text-white disabled:opacity-50"
                            disabled=move || order.pending().get()>
                            "Order"
                        </button>
                    </ActionForm>
                }.into_any(),
                None => view! {
                    <a href="/login" class="mt-4 block rounded border border-brand px-4 py-2 text-center text-brand">"Sign in to order"</a>
                }.into_any(),
            }}
        </div>
    }
}

/// A template's icon, drawn inline (a fixed set: nothing uploaded, nothing to sanitise).
#[component]
pub fn TemplateIcon(icon: String) -> impl IntoView {
    let path = match icon.as_str() {
        "code" => "M8 6 2 12l6 6M16 6l6 6-6 6",
        "terminal" => "M4 6l6 6-6 6M12 18h8",
        "rocket" => "M12 2c4 3 6 7 6 12l-3 3H9l-3-3c0-5 2-9 6-12zM9 17l-2 5M15 17l2 5",
        "briefcase" => "M3 8h18v11H3zM8 8V5h8v3",
        "chart" => "M4 20V10M10 20V4M16 20v-7M22 20H2",
        _ => "M3 21V5l9-3 9 3v16M9 21v-5h6v5",
    };
    view! {
        <svg class="h-5 w-5 text-brand" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2"
            stroke-linecap="round" stroke-linejoin="round" aria-hidden="true" data-icon=icon>
            <path d=path/>
        </svg>
    }
}
