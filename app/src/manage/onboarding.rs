//! A new reseller's first steps: the onboarding checklist on `/manage` (each step ticks itself from the
//! storefront's real state), the "these prices are right" confirmation, and the reseller guide
//! (`/manage/guide`), written for a business owner rather than an engineer, with their own addresses and
//! terms filled in.

use leptos::prelude::*;

use crate::domain::onboarding::{Checklist, OnboardingStep};
use crate::domain::tenant_view::ResellerGuide;
use crate::error::AppError;
use crate::layout::ErrorNote;

#[server(prefix = "/api", endpoint = "onboarding")]
pub async fn onboarding() -> Result<Checklist, AppError> {
    let (state, tenant, _) = super::server::guard::staff_on_tenant().await?;
    Ok(crate::backend::resellers::onboarding::checklist(&state, &tenant).await?)
}

/// The reseller confirms their retail prices as they are.
#[server(prefix = "/api", endpoint = "confirm_prices")]
pub async fn confirm_prices() -> Result<Checklist, AppError> {
    use crate::backend::{request, resellers::onboarding};
    let (state, tenant, member) = super::server::guard::staff_on_tenant().await?;
    Ok(onboarding::confirm_prices_by(&state, request::client_ip(), &member.actor(), &tenant).await?)
}

#[server(prefix = "/api", endpoint = "reseller_guide")]
pub async fn get_reseller_guide() -> Result<ResellerGuide, AppError> {
    let (state, tenant, _) = super::server::guard::staff_on_tenant().await?;
    Ok(crate::backend::resellers::onboarding::guide(&state, &tenant).await?)
}

/// The checklist as `/manage` shows it: done steps ticked, the rest linking to where they are done. The
/// page loads it (`onboarding()`) beside who is signed in, under its one `<Suspense>`: a suspense nested
/// inside a suspended block is numbered later on the server than in the browser, and the page would then
/// fail to hydrate.
#[component]
pub fn OnboardingChecklist(list: Result<Checklist, AppError>) -> impl IntoView {
    match list {
        Ok(c) if c.complete() => view! {
            <p data-testid="onboarding-complete" class="mt-6 rounded border border-green-200 bg-green-50 p-3 text-sm text-green-800">
                "Your storefront is fully set up. The " <a class="underline" href="/manage/guide">"reseller guide"</a>
                " is here whenever you need it."
            </p>
        }.into_any(),
        Ok(c) => view! { <Steps c/> }.into_any(),
        Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
    }
}

#[component]
fn Steps(c: Checklist) -> impl IntoView {
    let (done, all) = c.progress();
    view! {
        <section class="mt-6 rounded-lg border border-slate-200 bg-white p-4 shadow-sm" aria-labelledby="onboarding-title"
            data-testid="onboarding">
            <h2 id="onboarding-title" class="font-semibold">"Get your storefront ready"</h2>
            <p class="text-sm text-slate-600" data-testid="onboarding-progress">{format!("{done} of {all} steps done")}</p>
            <ol class="mt-3 flex flex-col gap-2">
                {OnboardingStep::ALL.into_iter().map(|step| {
                    let is_done = c.is_done(step);
                    view! {
                        <li class="flex items-center gap-2 text-sm" data-testid="onboarding-step" data-step=step.key()
                            data-done=if is_done { "true" } else { "false" }>
                            <span aria-hidden="true" class=if is_done { "text-green-700" } else { "text-slate-400" }>
                                {if is_done { "✓" } else { "○" }}
                            </span>
                            {if is_done {
                                view! { <span class="text-slate-500 line-through">{step.label()}</span><span class="sr-only">" (done)"</span> }.into_any()
                            } else {
                                view! { <a class="text-brand underline" href=step.href()>{step.label()}</a> }.into_any()
                            }}
                        </li>
                    }
                }).collect_view()}
            </ol>
            <p class="mt-3 text-sm"><a class="underline" href="/manage/guide">"Read the reseller guide"</a></p>
        </section>
    }
}

/// "These prices are right": ticks the prices step without changing a price.
#[component]
pub fn ConfirmPrices() -> impl IntoView {
    let confirm = ServerAction::<ConfirmPrices>::new();
    view! {
        <ActionForm action=confirm attr:class="mt-2 flex flex-wrap items-center gap-3 text-sm">
            <button type="submit" data-testid="confirm-prices" class="rounded border px-3 py-1"
                disabled=move || confirm.pending().get()>
                "These prices are right"
            </button>
            {move || match confirm.value().get() {
                Some(Ok(_)) => view! { <span data-testid="prices-confirmed" class="text-green-700">"Noted."</span> }.into_any(),
                Some(Err(e)) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                None => ().into_any(),
            }}
        </ActionForm>
    }
}

#[component]
pub fn GuidePage() -> impl IntoView {
    let guide = crate::resource::new(|| (), |_| get_reseller_guide());
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match guide.await {
                    Ok(g) => view! { <Guide g/> }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <super::StaffSignInFirst/> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Guide(g: ResellerGuide) -> impl IntoView {
    let h2 = "mt-8 text-lg font-semibold";
    let p = "mt-2 text-slate-700";
    let code = "rounded bg-slate-100 px-1 font-mono text-sm";
    let host = g.platform_host.clone();
    let example = g.domains.first().map_or_else(|| "shop.example.com".to_owned(), |d| d.domain.clone());
    let records = if g.domains.is_empty() {
        view! {
            <p class=p>"You have not added a domain yet. Until you do, your storefront is at "
                <span class=code>{host.clone()}</span>"."</p>
        }
        .into_any()
    } else {
        view! {
            <table class="mt-3 w-full text-left text-sm" data-testid="guide-records">
                <caption class="sr-only">"DNS records to publish for each of your domains"</caption>
                <thead><tr class="text-xs uppercase text-slate-500">
                    <th scope="col" class="py-1">"Domain"</th><th scope="col">"Record"</th><th scope="col">"Name"</th>
                    <th scope="col">"Value"</th><th scope="col">"State"</th>
                </tr></thead>
                <tbody>
                    {g.domains.iter().map(|d| view! {
                        <tr class="border-t border-slate-100 align-top">
                            <td class="py-1" rowspan="2">{d.domain.clone()}</td>
                            <td>"TXT"</td><td class="font-mono break-all">{d.txt_name.clone()}</td>
                            <td class="font-mono break-all">{d.txt_value.clone()}</td>
                            <td rowspan="2">{d.tls.label()}</td>
                        </tr>
                        <tr>
                            <td>"CNAME"</td><td class="font-mono">{d.domain.clone()}</td><td class="font-mono">{host.clone()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <h1 class="text-2xl font-semibold">"Reseller guide"</h1>
        <p class=p>"How your storefront works, from your own web address to the money you make. Nothing here needs a developer."</p>
        <nav aria-label="Guide contents" class="mt-4 text-sm">
            <ul class="flex flex-wrap gap-x-4 gap-y-1 underline">
                <li><a href="#domains">"Your domain"</a></li>
                <li><a href="#tls">"The padlock (HTTPS)"</a></li>
                <li><a href="#customers">"Your customers"</a></li>
                <li><a href="#billing">"How customers are billed"</a></li>
                <li><a href="#wholesale">"How you are billed"</a></li>
                <li><a href="#margin">"Reading your margin"</a></li>
            </ul>
        </nav>

        <h2 id="domains" class=h2>"Your own domain"</h2>
        <p class=p>"Your storefront is always reachable at " <span class=code>{g.platform_host.clone()}</span>
            ". To use your own address (for example " <span class=code>{example.clone()}</span>
            "), sign in to the company where you bought the domain (your DNS provider) and add two records:"</p>
        <ol class="mt-2 list-decimal pl-6 text-slate-700">
            <li>"A " <strong>"TXT"</strong> " record. It proves the domain is yours. We check it before we show your storefront on it, so nobody else can claim your name."</li>
            <li>"A " <strong>"CNAME"</strong> " record pointing your domain at " <span class=code>{g.platform_host.clone()}</span>
                ". It sends your visitors to us. If your provider does not allow a CNAME on the bare domain (" <span class=code>"example.com"</span>
                "), use its ALIAS or ANAME record instead, or use a subdomain such as " <span class=code>"www"</span> " or " <span class=code>"shop"</span> "."</li>
        </ol>
        {records}
        <p class=p>"Add and check your domains on " <a class="underline" href="/manage/domains">"Domains"</a>
            ". DNS changes can take from a few minutes to a few hours to reach everyone. We check again by ourselves for three days and email you when your domain is live; you can also ask us to check at once. "
            "Instead of the TXT record, once your CNAME works we can also find the proof on your domain itself, at the web address shown as "
            <em>"HTTP token"</em> " on your domain's page."</p>

        <h2 id="tls" class=h2>"The padlock (HTTPS)"</h2>
        <p class=p>"You never buy or install a certificate. The first time someone opens your verified domain, we ask Let's Encrypt for a certificate in your domain's name and renew it before it expires. "
            "That first visit can take a few extra seconds. A domain shows " <em>"TLS issued"</em> " once this has happened."</p>

        <h2 id="customers" class=h2>"Your customers"</h2>
        <p class=p>"Customers sign up on your storefront with their email address. They are your customers: they see your name, your logo, your colours and your support contacts, in the pages and in every email. "
            "Share your storefront's address to welcome the first one."</p>

        <h2 id="billing" class=h2>"How your customers are billed"</h2>
        <ul class="mt-2 list-disc pl-6 text-slate-700">
            <li>"A workspace is billed while it runs, in blocks of 15 minutes, always rounded up: 20 minutes is billed as 30."</li>
            <li>"Each session is billed at the hourly price in force when it started. When you change a price, sessions already running keep their price; the new price applies to sessions that start afterwards."</li>
            <li>"Customers pay from prepaid credit, or by card through your own Stripe account (your keys, your money: card payments go straight to you)."</li>
            <li>"At the end of each month every customer gets an invoice for the month, from you, in " {g.currency.code()} "."</li>
        </ul>

        <h2 id="wholesale" class=h2>"How you are billed"</h2>
        <p class=p>"Every month we bill you the wholesale price of the hours your customers used, under your terms:"</p>
        <ul class="mt-2 list-disc pl-6 text-slate-700" data-testid="guide-terms">
            <li>{format!("a discount of {} % off the wholesale prices;", g.discount_percent)}</li>
            <li>{format!("a platform fee of {} a month;", g.platform_fee)}</li>
            <li>{format!("a commission of {} % of your retail revenue;", g.commission_percent)}</li>
            <li>{format!("your wholesale invoice is cut on day {} of each month and emailed to you; it is under Billing too.", g.billing_cycle_day)}</li>
        </ul>

        <h2 id="margin" class=h2>"Reading your margin"</h2>
        <p class=p>"On " <a class="underline" href="/manage/billing">"Billing"</a>
            ", each month shows your revenue (what your customers were billed), your wholesale cost (what we bill you for their usage) and the difference, your margin. "
            "Next to each plan's price you see its wholesale price and your margin per hour as you type; a price can never go below the wholesale price."</p>
        <p class=p>"We announce wholesale price changes ahead: by email and under \"Upcoming wholesale price changes\" on Billing, with the margin each leaves. "
            "A session is charged the prices in force when it started, so running sessions never change. If a new wholesale price is above your price, "
            "sessions that start from then are charged the wholesale price (your margin is zero, never negative) until you raise yours."</p>
    }
}
