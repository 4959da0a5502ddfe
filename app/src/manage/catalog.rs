//! The reseller's own catalogue (`/manage/catalog`): for each plan, whether the storefront shows it, its
//! name and description in the reseller's words (or the platform's), and its retail price over the
//! wholesale floor (the platform's price in force now, with its next scheduled change flagged when it is
//! above the retail price). Changes apply to orders and sessions that start afterwards: a hidden plan can no
//! longer be ordered, while workspaces already made of it keep running and billing at their rate.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::billing::{PlanPrice, PriceEditor, SetPlanPrice};
use crate::domain::money::Rate;
use crate::domain::price_book::UpcomingPrice;
use crate::error::AppError;
use crate::layout::ErrorNote;

/// One plan as the reseller's catalogue page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogRow {
    pub code: String,
    /// The platform's words for it (what customers see unless the reseller has their own).
    pub platform_name: String,
    pub platform_summary: String,
    /// The reseller's own words; empty: the platform's.
    pub display_name: String,
    pub description: String,
    pub visible: bool,
    /// The platform no longer offers it: hidden from every storefront, whatever this one says.
    pub retired: bool,
    pub retail: Rate,
    /// The wholesale price in force now (the floor).
    pub wholesale: Rate,
    /// The next scheduled change to it (flagged when above the retail price).
    pub next: Option<UpcomingPrice>,
}

#[server(prefix = "/api", endpoint = "my_catalog")]
pub async fn my_catalog() -> Result<Vec<CatalogRow>, AppError> {
    use crate::backend::workspaces::{catalog, plan_templates, price_book};
    use crate::domain::plan::TemplateStatus;
    let (state, tenant, _) = super::server::guard::staff_on_tenant().await?;
    let templates = plan_templates::list(state.central()).await?;
    let wholesale = price_book::wholesale_now(&state, &tenant).await?;
    let upcoming = price_book::upcoming_for(state.central(), &tenant).await?;
    catalog::list_listed(&tenant.db)
        .await?
        .into_iter()
        .map(|l| -> Result<CatalogRow, AppError> {
            let t = templates.iter().find(|t| t.code == l.plan.code);
            let floor = wholesale.iter().find(|(c, _)| *c == l.plan.code).map(|(_, w)| *w).ok_or(AppError::Internal)?;
            Ok(CatalogRow {
                code: l.plan.code.as_str().to_owned(),
                platform_name: t.map_or_else(|| l.plan.name.clone(), |t| t.name.clone()),
                platform_summary: t.map_or_else(|| l.plan.summary.clone(), |t| t.summary.clone()),
                display_name: l.listing.display_name.unwrap_or_default(),
                description: l.listing.description.unwrap_or_default(),
                visible: l.listing.visible,
                retired: t.is_none_or(|t| t.status != TemplateStatus::Active),
                next: upcoming.iter().find(|u| u.plan == l.plan.code).cloned(),
                retail: l.plan.retail,
                wholesale: floor,
            })
        })
        .collect()
}

/// Shows or hides a plan and sets its name and description (empty: the platform's words).
#[server(prefix = "/api", endpoint = "save_listing")]
pub async fn save_listing(
    code: String,
    visible: Option<String>,
    display_name: String,
    description: String,
) -> Result<(), AppError> {
    use crate::backend::request;
    use crate::backend::workspaces::catalog::{self, Listing};
    use crate::domain::plan::{own_words, PlanCode, MAX_DESCRIPTION, MAX_DISPLAY_NAME};
    let (state, tenant, member) = super::server::guard::staff_on_tenant().await?;
    let code = PlanCode::parse(&code).map_err(|_| AppError::Invalid("There is no such plan.".into()))?;
    let listing = Listing {
        visible: visible.is_some_and(|v| v == "on"),
        display_name: own_words(&display_name, "name", MAX_DISPLAY_NAME).map_err(AppError::Invalid)?,
        description: own_words(&description, "description", MAX_DESCRIPTION).map_err(AppError::Invalid)?,
    };
    if !catalog::set_listing_by(state.central(), &tenant, request::client_ip(), &member.actor(), code, &listing).await?
    {
        return Err(AppError::NotFound);
    }
    Ok(())
}

#[component]
pub fn CatalogPage() -> impl IntoView {
    let save = ServerAction::<SaveListing>::new();
    let price = ServerAction::<SetPlanPrice>::new();
    let rows = crate::resource::new(move || (save.version().get(), price.version().get()), |_| my_catalog());
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match rows.await {
                    Ok(rows) => view! {
                        <h1 class="text-2xl font-semibold">"Catalogue"</h1>
                        <p class="mt-1 text-sm text-slate-600">
                            "What your storefront sells, in your words. Changes apply to orders and sessions that start afterwards: "
                            "hiding a plan stops new orders, while workspaces already made of it keep running and billing at their rate."
                        </p>
                        <super::onboarding::ConfirmPrices/>
                        {move || [save.value().get(), price.value().get()].into_iter().flatten().find_map(Result::err)
                            .map(|e| view! { <ErrorNote message=e.to_string()/> })}
                        {move || matches!(save.value().get(), Some(Ok(()))).then(|| view! {
                            <p role="status" data-testid="listing-saved" class="mt-2 text-sm text-green-700">"Saved."</p>
                        })}
                        <div class="mt-4 grid gap-4 md:grid-cols-2">
                            {rows.into_iter().map(|r| view! { <PlanListing r save price/> }).collect_view()}
                        </div>
                    }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <super::StaffSignInFirst/> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn PlanListing(r: CatalogRow, save: ServerAction<SaveListing>, price: ServerAction<SetPlanPrice>) -> impl IntoView {
    let field = "mt-1 rounded border px-2 py-1 text-sm";
    let shown = r.visible && !r.retired;
    let plan_price = PlanPrice {
        code: r.code.clone(),
        name: "Hourly price".into(),
        retail: r.retail,
        wholesale: r.wholesale,
        next: r.next.clone(),
    };
    let (code, label) = (r.code.clone(), r.platform_name.clone());
    view! {
        <section class="rounded border border-slate-200 bg-white p-3" data-testid="catalog-plan" data-code=code
            data-shown=if shown { "true" } else { "false" } aria-label=label>
            <h2 class="font-semibold">{r.platform_name.clone()}</h2>
            {r.retired.then(|| view! { <p class="text-xs text-amber-800">"The platform no longer offers this plan."</p> })}
            <ActionForm action=save attr:class="mt-2 flex flex-col gap-2 text-sm">
                <input type="hidden" name="code" value=r.code.clone()/>
                <label class="flex items-center gap-2">
                    <input type="checkbox" name="visible" value="on" checked=r.visible class="h-4 w-4" data-testid="visible"/>
                    "Shown in my storefront"
                </label>
                <label class="flex flex-col text-xs">"Name (empty: the platform's)"
                    <input name="display_name" maxlength="60" class=field value=r.display_name.clone() placeholder=r.platform_name.clone()/>
                </label>
                <label class="flex flex-col text-xs">"Description (empty: the platform's)"
                    <input name="description" maxlength="300" class=field value=r.description.clone() placeholder=r.platform_summary.clone()/>
                </label>
                <button type="submit" data-testid="save-listing" class="self-start rounded border px-3 py-1">"Save"</button>
            </ActionForm>
            <div class="mt-3"><PriceEditor p=plan_price price/></div>
        </section>
    }
}
