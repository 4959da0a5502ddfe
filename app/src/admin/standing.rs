//! A tenant as a payer of the platform, on its admin page: billing status, trial (and extending it), the
//! card saved with the platform, the wholesale payment terms, and running collection for it now.

use leptos::prelude::*;

use super::model::TenantDetail;
use super::{error_view, CARD, CARD_TITLE, HINT, INPUT, LABEL, PRIMARY_BUTTON, SECONDARY_BUTTON};
use crate::domain::time::format_utc;
use crate::error::AppError;

#[server(prefix = "/api", endpoint = "admin_wholesale_terms")]
pub async fn update_wholesale_terms(
    slug: String,
    due_days: String,
    grace_days: String,
    suspend_days: String,
) -> Result<TenantDetail, AppError> {
    use super::server::guard;
    let (state, admin) = guard::admin().await?;
    let by = guard::by(&admin);
    Ok(crate::backend::resellers::operations::set_wholesale_terms(
        &state,
        by,
        &slug,
        &due_days,
        &grace_days,
        &suspend_days,
    )
    .await?)
}

#[server(prefix = "/api", endpoint = "admin_extend_trial")]
pub async fn extend_trial(slug: String, days: String) -> Result<TenantDetail, AppError> {
    use super::server::guard;
    let (state, admin) = guard::admin().await?;
    Ok(crate::backend::resellers::operations::extend_trial(&state, guard::by(&admin), &slug, &days).await?)
}

#[server(prefix = "/api", endpoint = "admin_collect_now")]
pub async fn collect_now(slug: String) -> Result<TenantDetail, AppError> {
    use super::server::guard;
    let (state, admin) = guard::admin().await?;
    Ok(crate::backend::resellers::operations::collect_now(&state, guard::by(&admin), &slug).await?)
}

/// The actions of the section (created by the page, which shows whatever tenant they answer with).
#[derive(Clone, Copy)]
pub struct StandingActions {
    pub terms: ServerAction<UpdateWholesaleTerms>,
    pub extend: ServerAction<ExtendTrial>,
    pub collect: ServerAction<CollectNow>,
}

impl Default for StandingActions {
    fn default() -> Self {
        StandingActions { terms: ServerAction::new(), extend: ServerAction::new(), collect: ServerAction::new() }
    }
}

#[component]
pub fn PlatformStanding(d: TenantDetail, actions: StandingActions) -> impl IntoView {
    let StandingActions { terms, extend, collect } = actions;
    let t = d.wholesale_terms;
    let trial_text = match (d.trial_ends_at, d.trial_converted_at) {
        (None, _) => "No trial".to_owned(),
        (Some(end), Some(at)) => format!("Ended {}; converted to paying {}", format_utc(end), format_utc(at)),
        (Some(end), None) => format!("Ends {}", format_utc(end)),
    };
    let can_extend = d.trial_ends_at.is_some() && d.trial_converted_at.is_none();
    let (slug_terms, slug_extend, slug_collect) = (d.slug.clone(), d.slug.clone(), d.slug.clone());
    let card = d.platform_card.clone().unwrap_or_else(|| "None saved".to_owned());
    let field = |label: &'static str, testid: &'static str, value: String| {
        view! {
            <div>
                <dt class="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</dt>
                <dd class="mt-0.5 text-slate-900" data-testid=testid>{value}</dd>
            </div>
        }
    };
    view! {
        <section class=CARD data-testid="tenant-standing">
            <h2 class=CARD_TITLE>"Paying the platform"</h2>
            <dl class="mt-4 grid grid-cols-1 gap-x-8 gap-y-4 text-sm sm:grid-cols-3">
                {field("Billing status", "standing-status", d.billing_status.label().to_owned())}
                {field("Trial", "standing-trial", trial_text)}
                {field("Card with the platform", "standing-card", card)}
            </dl>
            {can_extend.then(|| view! {
                <ActionForm action=extend attr:class="mt-4 flex flex-wrap items-end gap-3" attr:data-testid="extend-trial-form">
                    <input type="hidden" name="slug" value=slug_extend/>
                    <label class=LABEL>
                        "Extend the trial by (days)"
                        <input type="number" name="days" min="1" max="365" required value="14" class=INPUT/>
                    </label>
                    <button type="submit" data-testid="extend-trial" class=SECONDARY_BUTTON disabled=move || extend.pending().get()>
                        "Extend trial"
                    </button>
                </ActionForm>
            })}
            <ActionForm action=terms attr:class="mt-5 grid gap-4 border-t border-slate-100 pt-5 sm:grid-cols-3" attr:data-testid="wholesale-terms-form">
                <input type="hidden" name="slug" value=slug_terms/>
                <label class=LABEL>
                    "Due after (days)"
                    <input type="number" name="due_days" min="0" max="90" required value=t.due_days.to_string() class=INPUT/>
                </label>
                <label class=LABEL>
                    "Past due after a grace of (days)"
                    <input type="number" name="grace_days" min="0" max="90" required value=t.grace_days.to_string() class=INPUT/>
                </label>
                <label class=LABEL>
                    "Suspended (days) later"
                    <input type="number" name="suspend_days" min="0" max="90" required value=t.suspend_days.to_string() class=INPUT/>
                </label>
                <p class=format!("{HINT} sm:col-span-3")>
                    "A new payment term applies to wholesale invoices issued from now; the grace and suspension delays apply at once."
                </p>
                <div class="sm:col-span-3">
                    <button type="submit" data-testid="save-wholesale-terms" class=PRIMARY_BUTTON disabled=move || terms.pending().get()>
                        "Save payment terms"
                    </button>
                </div>
            </ActionForm>
            <ActionForm action=collect attr:class="mt-5 border-t border-slate-100 pt-5">
                <input type="hidden" name="slug" value=slug_collect/>
                <button type="submit" data-testid="collect-now" class=SECONDARY_BUTTON disabled=move || collect.pending().get()>
                    "Run collection now"
                </button>
                <p class=HINT>"Charges what is due to the saved card, sends due reminders and decides the billing status now, as the hourly pass would."</p>
            </ActionForm>
            {move || {
                [
                    terms.value().get().and_then(Result::err),
                    extend.value().get().and_then(Result::err),
                    collect.value().get().and_then(Result::err),
                ]
                .into_iter()
                .flatten()
                .next()
                .map(|e| view! { <div class="mt-3">{error_view(e)}</div> })
            }}
        </section>
    }
}
