//! Paying the platform, on `/manage/billing`: the storefront's billing status with the platform (a clear
//! notice when it is past due or suspended, or its trial is over without a card; when the trial ends), the saved card the wholesale invoices are charged to ("Save a
//! card"), and each unpaid wholesale invoice with its due date and "Pay now".

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::money::Money;
use crate::domain::tenant_billing::{TenantBillingStatus, WholesaleTerms};
use crate::domain::time::{format_utc, Timestamp};
use crate::error::AppError;
use crate::layout::{go_to, ErrorNote};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpaidWholesale {
    pub id: String,
    pub number: String,
    pub period: String,
    pub total: Money,
    pub due_at: Option<Timestamp>,
    /// The saved card is tried again then (`None`: not before a new card is saved).
    pub next_attempt_at: Option<Timestamp>,
    /// Why the card was last declined.
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformBillingView {
    /// The platform takes cards (else the reseller pays by other means).
    pub enabled: bool,
    pub status: TenantBillingStatus,
    pub terms: WholesaleTerms,
    pub card: Option<String>,
    pub unpaid: Vec<UnpaidWholesale>,
    /// The end of the trial while it has not converted (running, or over without a card).
    pub trial_ends_at: Option<Timestamp>,
    /// The server's time, to tell a running trial from one that is over.
    pub now: Timestamp,
}

impl PlatformBillingView {
    /// The trial is over and the account waits for a card.
    fn trial_over(&self) -> bool {
        self.trial_ends_at.is_some_and(|end| self.now >= end)
    }
}

#[server(prefix = "/api", endpoint = "wholesale_account")]
pub async fn wholesale_account() -> Result<PlatformBillingView, AppError> {
    use crate::backend::billing::collection;
    let (state, entry, _) = super::server::guard::staff().await?;
    let s = collection::standing(&state, entry.id).await?;
    Ok(PlatformBillingView {
        trial_ends_at: s.trial_ends_at,
        now: crate::backend::platform::db::now(),
        enabled: s.enabled,
        status: s.status,
        terms: s.terms,
        card: s.card_label,
        unpaid: s
            .unpaid
            .into_iter()
            .map(|w| UnpaidWholesale {
                number: w.display_number(),
                total: Money::from_minor(w.total_minor, w.currency),
                due_at: w.due_at.map(Timestamp::from_millis),
                next_attempt_at: w.next_payment_at.map(Timestamp::from_millis),
                last_error: w.last_payment_error,
                id: w.id,
                period: w.period,
            })
            .collect(),
    })
}

/// "Save a card": the platform's payment page in setup mode (nothing is charged); returns its address.
#[server(prefix = "/api", endpoint = "save_platform_card")]
pub async fn save_platform_card() -> Result<String, AppError> {
    use crate::backend::{billing::collection, request};
    let (state, tenant, _) = super::server::guard::staff_on_tenant().await?;
    collection::start_card_setup(&state, &tenant, request::origin()).await
}

/// "Pay now" for an unpaid wholesale invoice: returns the payment page for exactly its total.
#[server(prefix = "/api", endpoint = "pay_wholesale_invoice")]
pub async fn pay_wholesale_invoice(id: String) -> Result<String, AppError> {
    use crate::backend::{billing::collection, request};
    let (state, tenant, _) = super::server::guard::staff_on_tenant().await?;
    collection::start_pay_now(&state, &tenant, id.trim(), request::origin()).await
}

/// Back from the payment page: records the payment (or the saved card) now if the webhook has not yet.
#[server(prefix = "/api", endpoint = "confirm_platform_checkout")]
pub async fn confirm_platform_checkout(session_id: String) -> Result<bool, AppError> {
    use crate::backend::billing::collection;
    let (state, entry, _) = super::server::guard::staff().await?;
    collection::confirm_return(&state, entry.id, &session_id).await
}

fn day(t: Timestamp) -> String {
    format_utc(t).split(' ').next().unwrap_or_default().to_owned()
}

/// What staff are told while the storefront is past due or suspended, or its trial is over (title, text).
fn notice(v: &PlatformBillingView) -> Option<(&'static str, &'static str)> {
    match v.status {
        TenantBillingStatus::PastDue => Some((
            "Your account is past due",
            "A wholesale invoice is unpaid past its due date, so your storefront is not taking new customer orders. \
             Your customers' running workspaces are not affected. Paying what is due resumes orders at once.",
        )),
        TenantBillingStatus::Suspended if v.trial_over() => Some((
            "Your trial has ended",
            "Your free trial is over and no card is saved, so your storefront takes no new customer orders. \
             Running workspaces are not stopped. Save a card and it resumes at once.",
        )),
        TenantBillingStatus::Suspended => Some((
            "Your account is suspended",
            "A wholesale invoice is still unpaid, so your account is suspended and your storefront takes no new \
             customer orders. Running workspaces are not stopped. Paying what is due resumes it at once.",
        )),
        TenantBillingStatus::Trial | TenantBillingStatus::Active | TenantBillingStatus::Cancelled => None,
    }
}

/// Under the management frame's navigation (the frame loads `v`): the notice while the account is past due
/// or suspended, with the way to pay.
#[component]
pub fn StandingNotice(v: PlatformBillingView) -> impl IntoView {
    let action = if v.trial_over() { "Save a card" } else { "Pay now" };
    notice(&v).map(|(title, text)| {
        view! {
            <div class="mb-4 rounded border border-red-300 bg-red-50 p-3 text-sm text-red-900" role="alert" data-testid="billing-status-banner">
                <p class="font-semibold">{title}</p>
                <p>{text}" "<a class="underline" href="/manage/billing">{action}</a></p>
            </div>
        }
    })
}

/// The section of `/manage/billing` about paying the platform.
#[component]
pub fn PlatformBilling() -> impl IntoView {
    let save_card = ServerAction::<SavePlatformCard>::new();
    let pay = ServerAction::<PayWholesaleInvoice>::new();
    let query = leptos_router::hooks::use_query_map();
    // Returning from the payment page (`?platform_checkout=<session>`): confirm first, then load.
    let data = crate::resource::new(
        move || query.read().get(crate::domain::tenant_billing::RETURN_PARAM),
        |session| async move {
            if let Some(s) = session.filter(|s| !s.is_empty()) {
                let _ = confirm_platform_checkout(s).await;
            }
            wholesale_account().await
        },
    );
    Effect::new(move |_| {
        for value in [save_card.value().get(), pay.value().get()] {
            if let Some(Ok(url)) = value {
                go_to(&url);
            }
        }
    });
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => view! { <Standing v save_card pay/> }.into_any(),
                    Err(AppError::NotSignedIn) => ().into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
        {move || [save_card.value().get().and_then(Result::err), pay.value().get().and_then(Result::err)]
            .into_iter().flatten().next().map(|e| view! { <ErrorNote message=e.to_string()/> })}
    }
}

#[component]
fn Standing(
    v: PlatformBillingView,
    save_card: ServerAction<SavePlatformCard>,
    pay: ServerAction<PayWholesaleInvoice>,
) -> impl IntoView {
    let notice = notice(&v);
    let status = v.status;
    let trial_note = v.trial_ends_at.filter(|_| !v.trial_over()).map(|end| {
        let card = if v.card.is_some() {
            "Your saved card carries the account on after it: the platform fee applies from then."
        } else {
            "Save a card before then to carry on without a break."
        };
        format!("Your free trial ends on {} (UTC): no platform fee until then. {card}", format_utc(end))
    });
    view! {
        <section class="mt-4" data-testid="platform-billing" data-status=status.as_str()>
            {notice.map(|(title, text)| view! {
                <div class="rounded border border-red-300 bg-red-50 p-3 text-sm text-red-900" role="alert" data-testid="billing-status-notice">
                    <p class="font-semibold">{title}</p>
                    <p>{text}</p>
                </div>
            })}
            <h2 class="mt-4 text-lg font-semibold">"Paying the platform"</h2>
            {trial_note.map(|t| view! { <p class="text-sm text-slate-700" data-testid="trial-note">{t}</p> })}
            <p class="text-sm text-slate-600">{format!(
                "Wholesale invoices are due {} days after they are issued and charged to your saved card. Unpaid {} days past the due date, new orders stop; {} days after that, the account is suspended.",
                v.terms.due_days, v.terms.grace_days, v.terms.suspend_days
            )}</p>
            {v.enabled.then(|| view! {
                <div class="mt-2 flex flex-wrap items-center gap-3 text-sm">
                    <span data-testid="platform-card">{v.card.clone().map_or_else(|| "No card saved.".to_owned(), |c| format!("Card on file: {c}"))}</span>
                    <ActionForm action=save_card attr:class="inline">
                        <button type="submit" data-testid="save-platform-card" class="rounded border px-3 py-1"
                            disabled=move || save_card.pending().get()>{if v.card.is_some() { "Use another card" } else { "Save a card" }}</button>
                    </ActionForm>
                </div>
            })}
            {(!v.unpaid.is_empty()).then(|| view! {
                <table class="mt-2 w-full text-left text-sm">
                    <thead><tr class="text-xs uppercase text-slate-500"><th class="py-1">"Invoice"</th><th>"Period"</th><th>"Amount"</th><th>"Due"</th><th></th></tr></thead>
                    <tbody>
                        {v.unpaid.into_iter().map(|i| view! {
                            <tr class="border-t border-slate-100" data-testid="unpaid-wholesale">
                                <td class="py-1">{i.number.clone()}</td>
                                <td>{i.period.clone()}</td>
                                <td>{i.total.to_string()}</td>
                                <td>
                                    {i.due_at.map(day).unwrap_or_default()}
                                    {i.last_error.clone().map(|e| view! { <div class="text-xs text-red-700">{format!("Card declined ({e}).")}
                                        {i.next_attempt_at.map(|t| format!(" Next try {}.", day(t)))}</div> })}
                                </td>
                                <td>{v.enabled.then(|| view! {
                                    <ActionForm action=pay attr:class="inline">
                                        <input type="hidden" name="id" value=i.id.clone()/>
                                        <button type="submit" data-testid="pay-wholesale" class="rounded bg-brand px-2 py-0.5 text-xs font-medium text-on-brand"
                                            disabled=move || pay.pending().get()>"Pay now"</button>
                                    </ActionForm>
                                })}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </section>
    }
}
