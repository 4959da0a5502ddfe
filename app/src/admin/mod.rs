//! The platform admin app (`/admin` on the admin host): tenants, their domains and terms.

pub mod audit;
pub mod billing;
pub mod databases;
pub mod impersonate;
pub mod kasm;
pub mod mail;
pub mod model;
pub mod prices;
pub mod provisioning;
pub mod server;
pub mod standing;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use self::impersonate::ImpersonateForm;
use self::model::{DomainView, TenantDetail, TenantSummary};
use self::server::{
    current_admin, get_tenant, list_tenants, AddDomain, AdminLogin, AdminLogout, CreateTenant, DeleteTenant,
    RemoveDomain, ResendWelcome, RetryTenant, SuspendTenant, UnsuspendTenant, UpdateTerms, VerifyDomain,
};
use self::standing::{PlatformStanding, StandingActions};
use crate::domain::tenant::{TenantStatus, TlsState, VerifyMethod};
use crate::domain::time::format_utc;
use crate::error::AppError;
use crate::layout::{go_to, ErrorNote};

const INPUT: &str = "mt-1 rounded border border-slate-300 bg-white px-3 py-2 text-sm font-normal text-slate-900";
const LABEL: &str = "flex flex-col text-sm font-medium text-slate-700";
const HINT: &str = "mt-1 text-xs font-normal text-slate-500";
const PRIMARY_BUTTON: &str =
    "rounded bg-brand px-4 py-2 text-sm font-medium text-white hover:opacity-90 disabled:opacity-50";
const SECONDARY_BUTTON: &str = "rounded border border-slate-300 bg-white px-3 py-1.5 text-sm font-medium \
                                text-slate-700 hover:bg-slate-50 disabled:opacity-50";
const DANGER_BUTTON: &str =
    "rounded bg-red-600 px-4 py-2 text-sm font-medium text-white hover:bg-red-700 disabled:opacity-50";
const CARD: &str = "mt-6 rounded-lg border border-slate-200 bg-white p-6 shadow-sm";
const CARD_TITLE: &str = "text-lg font-semibold";

/// "—" for a count the tenant's database could not give.
fn count(n: Option<i64>) -> String {
    n.map_or_else(|| "—".to_owned(), |n| n.to_string())
}

/// A server function's error: a sign-in prompt when the admin session is gone, the message otherwise.
fn error_view(e: AppError) -> AnyView {
    match e {
        AppError::NotSignedIn => view! { <AdminSignIn/> }.into_any(),
        e => view! { <ErrorNote message=e.to_string()/> }.into_any(),
    }
}

#[component]
fn AdminSignIn() -> impl IntoView {
    view! {
        <p data-testid="admin-sign-in" class="rounded border border-slate-200 bg-white px-3 py-2 text-sm">
            "Please " <a class="font-medium text-brand underline" href="/admin/login">"sign in"</a>
            " as a platform admin to continue."
        </p>
    }
}

/// Not signed in: says so, and moves the browser on to the sign-in page.
#[component]
fn ToAdminLogin() -> impl IntoView {
    Effect::new(move |_| go_to("/admin/login"));
    view! { <AdminSignIn/> }
}

/// A tenant's billing status with the platform (past due and suspended stand out).
#[component]
fn BillingBadge(status: crate::domain::tenant_billing::TenantBillingStatus) -> impl IntoView {
    use crate::domain::tenant_billing::TenantBillingStatus as B;
    let colour = match status {
        B::PastDue => "bg-amber-100 text-amber-800",
        B::Suspended => "bg-red-100 text-red-800",
        B::Trial | B::Active | B::Cancelled => "bg-slate-100 text-slate-700",
    };
    view! {
        <span data-testid="tenant-billing-status" data-status=status.as_str()
            class=format!("inline-flex rounded-full px-2 py-0.5 text-xs font-medium {colour}")>
            {status.label()}
        </span>
    }
}

#[component]
fn StatusBadge(status: TenantStatus) -> impl IntoView {
    let colour = match status {
        TenantStatus::Active => "bg-green-100 text-green-800",
        TenantStatus::Suspended => "bg-amber-100 text-amber-800",
        TenantStatus::Failed => "bg-red-100 text-red-800",
        TenantStatus::Creating => "bg-blue-100 text-blue-800",
        TenantStatus::Deleting => "bg-slate-200 text-slate-700",
    };
    view! {
        <span data-testid="tenant-status" data-status=status.as_str()
            class=format!("inline-block whitespace-nowrap rounded-full px-2 py-0.5 text-xs font-medium {colour}")>
            {status.label()}
        </span>
    }
}

#[component]
fn HouseBadge() -> impl IntoView {
    view! {
        <span data-testid="house-badge" class="ml-2 rounded bg-slate-100 px-1.5 py-0.5 text-xs font-medium text-slate-600">
            "House"
        </span>
    }
}

// ---------------------------------------------------------------------------------------------------------
// Sign-in

#[component]
pub fn AdminLoginPage() -> impl IntoView {
    let login = ServerAction::<AdminLogin>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = login.value().get() {
            go_to("/admin");
        }
    });
    view! {
        <div class="mx-auto max-w-sm">
            <h1 class="text-2xl font-semibold">"Platform admin"</h1>
            <p class="mt-1 text-sm text-slate-500">"Sign in to manage tenants, their domains and terms."</p>
            <ActionForm action=login attr:class="mt-6 flex flex-col gap-4 rounded-lg border border-slate-200 bg-white p-6 shadow-sm"
                attr:data-testid="admin-login-form">
                <label class=LABEL>
                    "Email"
                    <input type="email" name="email" required autocomplete="username" class=INPUT/>
                </label>
                <label class=LABEL>
                    "Password"
                    <input type="password" name="password" required autocomplete="current-password" class=INPUT/>
                </label>
                <button type="submit" data-testid="admin-sign-in-submit" class=PRIMARY_BUTTON
                    disabled=move || login.pending().get()>
                    "Sign in"
                </button>
                {move || login.value().get().and_then(Result::err).map(|e| view! { <ErrorNote message=e.to_string()/> })}
            </ActionForm>
        </div>
    }
}

// ---------------------------------------------------------------------------------------------------------
// Tenants list

#[component]
pub fn AdminTenantsPage() -> impl IntoView {
    let logout = ServerAction::<AdminLogout>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            go_to("/admin/login");
        }
    });
    let me = crate::resource::new(|| (), |_| current_admin());
    let tenants = crate::resource::new(|| (), |_| list_tenants());
    view! {
        <Suspense fallback=|| view! { <p class="text-sm text-slate-500">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let (me, list) = (me.await, tenants.await);
                match me {
                    Ok(None) | Err(AppError::NotSignedIn) => view! { <ToAdminLogin/> }.into_any(),
                    Err(e) => error_view(e),
                    Ok(Some(me)) => view! {
                        <div class="flex flex-wrap items-center gap-3">
                            <h1 class="text-2xl font-semibold">"Tenants"</h1>
                            <span class="ml-auto text-sm text-slate-500" data-testid="admin-name">{me.name}</span>
                            <a href="/admin/tenants/new" data-testid="new-tenant" class=PRIMARY_BUTTON>"New tenant"</a>
                            <ActionForm action=logout attr:class="inline">
                                <button type="submit" data-testid="admin-sign-out" class=SECONDARY_BUTTON
                                    disabled=move || logout.pending().get()>
                                    "Sign out"
                                </button>
                            </ActionForm>
                        </div>
                        {move || logout.value().get().and_then(Result::err).map(|e| view! {
                            <div class="mt-3"><ErrorNote message=e.to_string()/></div>
                        })}
                        {match list {
                            Ok(list) => view! { <TenantTable tenants=list/> }.into_any(),
                            Err(e) => view! { <div class="mt-6">{error_view(e)}</div> }.into_any(),
                        }}
                    }
                    .into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn TenantTable(tenants: Vec<TenantSummary>) -> impl IntoView {
    if tenants.is_empty() {
        return view! {
            <p class="mt-6 rounded-lg border border-dashed border-slate-300 bg-white p-6 text-sm text-slate-500" data-testid="no-tenants">
                "No tenants yet. " <a class="font-medium text-brand underline" href="/admin/tenants/new">"Create the first one."</a>
            </p>
        }
        .into_any();
    }
    let th = "px-4 py-2 font-medium";
    view! {
        <div class="mt-6 overflow-x-auto rounded-lg border border-slate-200 bg-white shadow-sm">
            <table class="w-full text-left text-sm" data-testid="tenant-list">
                <thead class="bg-slate-50 text-xs uppercase tracking-wide text-slate-500">
                    <tr>
                        <th class=th>"Name"</th>
                        <th class=th>"Short name"</th>
                        <th class=th>"Status"</th>
                        <th class=th>"Billing"</th>
                        <th class=th>"Primary domain"</th>
                        <th class=format!("{th} text-right")>"Customers"</th>
                        <th class=format!("{th} text-right")>"Workspaces"</th>
                        <th class=th>"Created"</th>
                    </tr>
                </thead>
                <tbody class="divide-y divide-slate-100">
                    {tenants.into_iter().map(|t| view! {
                        <tr data-testid="tenant-row" data-slug=t.slug.clone() class="hover:bg-slate-50">
                            <td class="px-4 py-2">
                                <a class="font-medium text-brand hover:underline" href=format!("/admin/tenants/{}", t.slug)>{t.name}</a>
                                {t.is_house.then(|| view! { <HouseBadge/> })}
                            </td>
                            <td class="px-4 py-2 font-mono text-xs text-slate-600">{t.slug.clone()}</td>
                            <td class="px-4 py-2"><StatusBadge status=t.status/></td>
                            <td class="px-4 py-2"><BillingBadge status=t.billing_status/></td>
                            <td class="px-4 py-2">{t.primary_domain.unwrap_or_else(|| "—".to_owned())}</td>
                            <td class="px-4 py-2 text-right tabular-nums">{count(t.customers)}</td>
                            <td class="px-4 py-2 text-right tabular-nums">{count(t.workspaces)}</td>
                            <td class="whitespace-nowrap px-4 py-2 text-slate-500">{format_utc(t.created_at)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

// ---------------------------------------------------------------------------------------------------------
// New tenant

#[component]
pub fn AdminNewTenantPage() -> impl IntoView {
    let create = ServerAction::<CreateTenant>::new();
    Effect::new(move |_| {
        if let Some(Ok(slug)) = create.value().get() {
            go_to(&format!("/admin/tenants/{slug}"));
        }
    });
    let pending = move || create.pending().get();
    view! {
        <p class="text-sm"><a href="/admin" class="text-slate-500 hover:underline">"← All tenants"</a></p>
        <h1 class="mt-2 text-2xl font-semibold">"New tenant"</h1>
        <p class="mt-1 text-sm text-slate-500">
            "Creates the reseller's database, its owner account and its storefront. A failed step can be retried from the tenant's page."
        </p>
        <ActionForm action=create attr:class="mt-6 grid max-w-2xl gap-4 rounded-lg border border-slate-200 bg-white p-6 shadow-sm sm:grid-cols-2"
            attr:data-testid="new-tenant-form">
            <label class=LABEL>
                "Name"
                <input type="text" name="name" required maxlength="120" placeholder="Acme Cloud" class=INPUT/>
            </label>
            <label class=LABEL>
                "Short name"
                <input type="text" name="slug" required placeholder="acme" autocomplete="off" class=format!("{INPUT} font-mono")/>
                <span class=HINT>"3–32 lower-case letters, digits and hyphens. Also the storefront's subdomain."</span>
            </label>
            <label class=LABEL>
                "Owner email"
                <input type="email" name="owner_email" required autocomplete="off" class=INPUT/>
                <span class=HINT>"Gets a welcome email with a link to choose their own password."</span>
            </label>
            <label class=LABEL>
                "Primary domain (optional)"
                <input type="text" name="primary_domain" placeholder="shop.example.com" autocomplete="off" class=INPUT/>
                <span class=HINT>"Serves the storefront once verified."</span>
            </label>
            <label class=LABEL>
                "Currency"
                <select name="currency" class=INPUT>
                    <option value="USD" selected>"USD"</option>
                    <option value="EUR">"EUR"</option>
                    <option value="GBP">"GBP"</option>
                </select>
            </label>
            <label class=LABEL>
                "Trial days (optional)"
                <input type="number" name="trial_days" min="0" placeholder="e.g. 14" class=INPUT/>
            </label>
            <div class="flex flex-col gap-3 sm:col-span-2">
                <div>
                    <button type="submit" data-testid="create-tenant" class=PRIMARY_BUTTON disabled=pending>
                        {move || if pending() { "Creating…" } else { "Create tenant" }}
                    </button>
                </div>
                {move || create.value().get().and_then(Result::err).map(error_view)}
            </div>
        </ActionForm>
    }
}

// ---------------------------------------------------------------------------------------------------------
// One tenant

/// Everything the tenant page can do. Each action but delete answers with the tenant as it now is.
#[derive(Clone, Copy)]
struct TenantActions {
    retry: ServerAction<RetryTenant>,
    suspend: ServerAction<SuspendTenant>,
    unsuspend: ServerAction<UnsuspendTenant>,
    delete: ServerAction<DeleteTenant>,
    terms: ServerAction<UpdateTerms>,
    add_domain: ServerAction<AddDomain>,
    remove_domain: ServerAction<RemoveDomain>,
    verify: ServerAction<VerifyDomain>,
    welcome: ServerAction<ResendWelcome>,
    standing: StandingActions,
}

/// Shows the tenant an action returned as soon as it arrives (the newest answer wins).
fn feed(
    fresh: RwSignal<Option<TenantDetail>>,
    value: impl Fn() -> Option<Result<TenantDetail, AppError>> + Send + Sync + 'static,
) {
    Effect::new(move |_| {
        if let Some(Ok(d)) = value() {
            fresh.set(Some(d));
        }
    });
}

#[component]
pub fn AdminTenantPage() -> impl IntoView {
    let params = use_params_map();
    let slug = move || params.read().get("slug").unwrap_or_default();
    let actions = TenantActions {
        retry: ServerAction::new(),
        suspend: ServerAction::new(),
        unsuspend: ServerAction::new(),
        delete: ServerAction::new(),
        terms: ServerAction::new(),
        add_domain: ServerAction::new(),
        remove_domain: ServerAction::new(),
        verify: ServerAction::new(),
        welcome: ServerAction::new(),
        standing: StandingActions::default(),
    };
    let detail = crate::resource::new(slug, get_tenant);
    // The newest state an action answered with; it replaces the loaded one so the page is never stale.
    let fresh = RwSignal::new(None::<TenantDetail>);
    feed(fresh, move || actions.retry.value().get());
    feed(fresh, move || actions.suspend.value().get());
    feed(fresh, move || actions.unsuspend.value().get());
    feed(fresh, move || actions.terms.value().get());
    feed(fresh, move || actions.add_domain.value().get());
    feed(fresh, move || actions.remove_domain.value().get());
    feed(fresh, move || actions.verify.value().get());
    feed(fresh, move || actions.welcome.value().get());
    feed(fresh, move || actions.standing.terms.value().get());
    feed(fresh, move || actions.standing.extend.value().get());
    feed(fresh, move || actions.standing.collect.value().get());
    Effect::new(move |_| {
        if let Some(Ok(())) = actions.delete.value().get() {
            go_to("/admin");
        }
    });
    view! {
        <p class="text-sm"><a href="/admin" class="text-slate-500 hover:underline">"← All tenants"</a></p>
        <Transition fallback=|| view! { <p class="mt-4 text-sm text-slate-500">"Loading…"</p> }>
            {move || {
                let current = slug();
                let latest = fresh.get().filter(|d| d.slug == current);
                Suspend::new(async move {
                    let loaded = match latest {
                        Some(d) => Ok(d),
                        None => detail.await,
                    };
                    match loaded {
                        Ok(d) => view! { <TenantView d actions/> }.into_any(),
                        Err(e) => view! { <div class="mt-4">{error_view(e)}</div> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn TenantView(d: TenantDetail, actions: TenantActions) -> impl IntoView {
    let TenantActions {
        retry,
        suspend,
        unsuspend,
        delete,
        terms,
        add_domain,
        remove_domain,
        verify,
        welcome,
        standing,
    } = actions;
    let slug = d.slug.clone();
    let status = d.status;

    let creation_error = match (&d.last_error, status) {
        (Some(err), TenantStatus::Failed) => Some({
            let slug = slug.clone();
            view! {
            <div data-testid="creation-error" class="mt-4 rounded-lg border border-red-200 bg-red-50 p-4 text-sm text-red-800">
                <p class="font-medium">{format!("Creation stopped after step {}: {}", d.creation_step, err)}</p>
                <ActionForm action=retry attr:class="mt-3">
                    <input type="hidden" name="slug" value=slug/>
                    <button type="submit" data-testid="retry-creation" class=DANGER_BUTTON
                        disabled=move || retry.pending().get()>
                        "Retry creation"
                    </button>
                </ActionForm>
            </div>
            }
        }),
        _ => None,
    };
    let creating = (status == TenantStatus::Creating).then(|| view! {
        <p class="mt-4 rounded-lg border border-blue-200 bg-blue-50 p-3 text-sm text-blue-800" data-testid="creation-progress">
            {format!("Creation in progress; last completed step: {}.", d.creation_step)}
        </p>
    });

    let field = |label: &'static str, testid: &'static str, value: String| {
        view! {
            <div>
                <dt class="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</dt>
                <dd class="mt-0.5 text-slate-900" data-testid=testid>{value}</dd>
            </div>
        }
    };

    let actions_section = (!d.is_house).then(|| {
        let (slug_toggle, slug_delete, slug_confirm) = (slug.clone(), slug.clone(), slug.clone());
        let toggle = match status {
            TenantStatus::Active => Some(view! {
                <div>
                    <ActionForm action=suspend>
                        <input type="hidden" name="slug" value=slug_toggle/>
                        <button type="submit" data-testid="suspend-tenant" class=SECONDARY_BUTTON
                            disabled=move || suspend.pending().get()>
                            "Suspend"
                        </button>
                    </ActionForm>
                    <p class=HINT>"The storefront shows a notice and accepts no sign-ins until resumed."</p>
                </div>
            }.into_any()),
            TenantStatus::Suspended => Some(view! {
                <div>
                    <ActionForm action=unsuspend>
                        <input type="hidden" name="slug" value=slug_toggle/>
                        <button type="submit" data-testid="resume-tenant" class=PRIMARY_BUTTON
                            disabled=move || unsuspend.pending().get()>
                            "Resume"
                        </button>
                    </ActionForm>
                    <p class=HINT>"The storefront serves customers again."</p>
                </div>
            }.into_any()),
            _ => None,
        };
        view! {
            <section class=CARD data-testid="tenant-actions">
                <h2 class=CARD_TITLE>"Actions"</h2>
                {toggle.map(|t| view! { <div class="mt-3">{t}</div> })}
                <div class="mt-6 rounded-lg border border-red-200 p-4">
                    <h3 class="text-sm font-semibold text-red-800">"Delete tenant"</h3>
                    <p class="mt-1 text-sm text-slate-600">
                        "Deletes the tenant with its database, customers and domains. This cannot be undone."
                    </p>
                    <ActionForm action=delete attr:class="mt-3 flex flex-wrap items-end gap-3" attr:data-testid="delete-tenant-form">
                        <input type="hidden" name="slug" value=slug_delete/>
                        <label class=LABEL>
                            "Type the short name to confirm"
                            <input type="text" name="confirm" required placeholder=slug_confirm autocomplete="off"
                                class=format!("{INPUT} font-mono")/>
                        </label>
                        <button type="submit" data-testid="delete-tenant" class=DANGER_BUTTON
                            disabled=move || delete.pending().get()>
                            "Delete"
                        </button>
                    </ActionForm>
                </div>
                {move || {
                    [
                        suspend.value().get().and_then(Result::err),
                        unsuspend.value().get().and_then(Result::err),
                        delete.value().get().and_then(Result::err),
                    ]
                    .into_iter()
                    .flatten()
                    .next()
                    .map(|e| view! { <div class="mt-3">{error_view(e)}</div> })
                }}
            </section>
        }
    });

    let domain_rows = d
        .domains
        .iter()
        .cloned()
        .map(|dom| view! { <DomainRow d=dom slug=slug.clone() verify remove_domain/> })
        .collect_view();
    let no_domains = d.domains.is_empty().then(|| {
        view! {
            <p class="mt-3 text-sm text-slate-500" data-testid="no-domains">"No custom domains yet."</p>
        }
    });
    let th = "px-3 py-2 font-medium";

    let resend_welcome = (!d.owner_has_password && status == TenantStatus::Active).then(|| {
        let slug = slug.clone();
        view! {
            <ActionForm action=welcome attr:class="mt-1">
                <input type="hidden" name="slug" value=slug/>
                <button type="submit" data-testid="resend-welcome" class="text-sm text-brand underline"
                    disabled=move || welcome.pending().get()>
                    "Send a new welcome email"
                </button>
            </ActionForm>
        }
    });
    let standing_section = (!d.is_house).then(|| view! { <PlatformStanding d=d.clone() actions=standing/> });
    let current_tier = d.terms.tier.as_str().to_owned();
    let (slug_add, slug_terms) = (slug.clone(), slug.clone());
    let saved = move || {
        (terms.value().with(|v| matches!(v, Some(Ok(_)))) && !terms.pending().get()).then(
            || view! { <span data-testid="terms-saved" class="text-sm font-medium text-green-700">"Saved"</span> },
        )
    };

    view! {
        <div class="mt-2 flex flex-wrap items-center gap-3">
            <h1 class="text-2xl font-semibold" data-testid="tenant-name">{d.name.clone()}</h1>
            <StatusBadge status/>
            {d.is_house.then(|| view! { <HouseBadge/> })}
        </div>
        <p class="mt-1 font-mono text-sm text-slate-500" data-testid="tenant-slug">{slug}</p>
        {creation_error}
        {creating}
        {move || retry.value().get().and_then(Result::err).map(|e| view! { <div class="mt-3">{error_view(e)}</div> })}

        <section class=CARD data-testid="tenant-summary">
            <h2 class=CARD_TITLE>"Summary"</h2>
            <dl class="mt-4 grid grid-cols-1 gap-x-8 gap-y-4 text-sm sm:grid-cols-2 lg:grid-cols-3">
                {field("Owner", "owner-email", d.owner_email.clone())}
                <div>
                    <dt class="text-xs font-medium uppercase tracking-wide text-slate-500">"Owner's password"</dt>
                    <dd class="mt-0.5 text-slate-900" data-testid="owner-password-state">
                        {if d.owner_has_password { "Chosen" } else { "Not chosen yet" }}
                    </dd>
                    {resend_welcome}
                    {move || welcome.value().get().map(|r| match r {
                        Ok(_) => view! { <p data-testid="welcome-sent" class="text-sm text-green-700">"Sent; the earlier link no longer works."</p> }.into_any(),
                        Err(e) => error_view(e),
                    })}
                </div>
                {field("Currency", "currency", d.currency.clone())}
                {field("Created", "created-at", format_utc(d.created_at))}
                {field("Trial ends", "trial-ends", d.trial_ends_at.map_or_else(|| "No trial".to_owned(), format_utc))}
                <div>
                    <dt class="text-xs font-medium uppercase tracking-wide text-slate-500">"Storefront"</dt>
                    <dd class="mt-0.5">
                        <a data-testid="platform-host" class="font-mono text-brand hover:underline"
                            href=format!("//{}", d.platform_host) target="_blank" rel="noopener noreferrer">
                            {d.platform_host.clone()}
                        </a>
                    </dd>
                </div>
                {field("Customers / workspaces", "tenant-counts", format!("{} / {}", count(d.customers), count(d.workspaces)))}
            </dl>
        </section>

        {actions_section}
        {(d.status == TenantStatus::Active).then(|| view! {
            <ImpersonateForm slug=d.slug.clone()/>
        })}

        <section class=CARD data-testid="tenant-domains">
            <h2 class=CARD_TITLE>"Domains"</h2>
            <p class="mt-1 text-sm text-slate-500">
                "The storefront is always at " <span class="font-mono">{d.platform_host.clone()}</span>
                ". Custom domains serve it once verified; their certificate follows on the first HTTPS visit."
            </p>
            {no_domains}
            {(!d.domains.is_empty()).then(|| view! {
                <div class="mt-4 overflow-x-auto rounded border border-slate-200">
                    <table class="w-full text-left text-sm" data-testid="domain-list">
                        <thead class="bg-slate-50 text-xs uppercase tracking-wide text-slate-500">
                            <tr>
                                <th class=th>"Domain"</th>
                                <th class=th>"Role"</th>
                                <th class=th>"Verification"</th>
                                <th class=th>"TLS"</th>
                                <th class=th><span class="sr-only">"Actions"</span></th>
                            </tr>
                        </thead>
                        {domain_rows}
                    </table>
                </div>
            })}
            {move || {
                [verify.value().get().and_then(Result::err), remove_domain.value().get().and_then(Result::err)]
                    .into_iter()
                    .flatten()
                    .next()
                    .map(|e| view! { <div class="mt-3">{error_view(e)}</div> })
            }}
            <ActionForm action=add_domain attr:class="mt-5 flex flex-wrap items-end gap-3 border-t border-slate-100 pt-5"
                attr:data-testid="add-domain-form">
                <input type="hidden" name="slug" value=slug_add/>
                <label class=LABEL>
                    "Add a domain"
                    <input type="text" name="domain" required placeholder="shop.example.com" autocomplete="off"
                        class=format!("{INPUT} w-72")/>
                </label>
                <label class="flex items-center gap-2 pb-2 text-sm text-slate-700">
                    <input type="checkbox" name="primary" value="on" class="h-4 w-4"/>
                    "Primary domain"
                </label>
                <button type="submit" data-testid="add-domain" class=PRIMARY_BUTTON
                    disabled=move || add_domain.pending().get()>
                    "Add domain"
                </button>
            </ActionForm>
            {move || add_domain.value().get().and_then(Result::err).map(|e| view! { <div class="mt-3">{error_view(e)}</div> })}
        </section>

        <section class=CARD data-testid="tenant-terms">
            <h2 class=CARD_TITLE>"Billing terms"</h2>
            <ActionForm action=terms attr:class="mt-4 grid gap-4 sm:grid-cols-2 lg:grid-cols-3" attr:data-testid="terms-form">
                <input type="hidden" name="slug" value=slug_terms/>
                <label class=LABEL>
                    "Reseller tier"
                    <select name="tier" class=INPUT>
                        {d.tiers.iter().map(|(name, label)| view! {
                            <option value=name.clone() selected={*name == current_tier}>{label.clone()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label class=LABEL>
                    "Wholesale discount (%)"
                    <input type="text" name="discount_percent" inputmode="decimal" required value=d.discount_percent.clone() class=INPUT/>
                </label>
                <label class=LABEL>
                    {format!("Platform fee ({} / month)", d.currency)}
                    <input type="text" name="platform_fee" inputmode="decimal" required value=d.platform_fee.clone() class=INPUT/>
                </label>
                <label class=LABEL>
                    "Commission on retail (%)"
                    <input type="text" name="commission_percent" inputmode="decimal" required value=d.commission_percent.clone() class=INPUT/>
                </label>
                <label class=LABEL>
                    "Billing day of month"
                    <input type="number" name="billing_cycle_day" min="1" max="28" required
                        value=d.terms.billing_cycle_day.to_string() class=INPUT/>
                    <span class=HINT>"1–28: wholesale invoices are cut on this day."</span>
                </label>
                <div class="flex items-center gap-3 sm:col-span-2 lg:col-span-3">
                    <button type="submit" data-testid="save-terms" class=PRIMARY_BUTTON disabled=move || terms.pending().get()>
                        "Save terms"
                    </button>
                    {saved}
                </div>
            </ActionForm>
            {move || terms.value().get().and_then(Result::err).map(|e| view! { <div class="mt-3">{error_view(e)}</div> })}
        </section>
        {standing_section}
    }
}

#[component]
fn DomainRow(
    d: DomainView,
    slug: String,
    verify: ServerAction<VerifyDomain>,
    remove_domain: ServerAction<RemoveDomain>,
) -> impl IntoView {
    let td = "px-3 py-2 align-top";
    let verification = if d.verified {
        view! {
            <span data-testid="domain-verified" class="font-medium text-green-700">"Verified"</span>
            {d.verified_by.map(|by| view! {
                <span class="text-slate-500">{format!(" by {}", by.label())}</span>
            })}
        }
        .into_any()
    } else {
        view! { <span data-testid="domain-verified" class="font-medium text-amber-700">"Not verified"</span> }
            .into_any()
    };
    let (tls_class, tls_note) = match d.tls {
        TlsState::Issued => ("text-green-700", "The proxy has requested its certificate."),
        TlsState::Ready => ("text-blue-700", "A certificate is issued on the first HTTPS visit."),
        TlsState::Pending => ("text-slate-500", "No certificate until the domain is verified."),
    };
    let checking = {
        let domain = d.domain.clone();
        move || verify.input().with(|i| i.as_ref().is_some_and(|i| i.domain == domain))
    };
    let verify_form = |method: VerifyMethod, label: &'static str, testid: &'static str| {
        let (slug, domain) = (slug.clone(), d.domain.clone());
        view! {
            <ActionForm action=verify attr:class="inline">
                <input type="hidden" name="slug" value=slug/>
                <input type="hidden" name="domain" value=domain/>
                <input type="hidden" name="method" value=method.as_str()/>
                <button type="submit" data-testid=testid class=SECONDARY_BUTTON disabled=move || verify.pending().get()>
                    {label}
                </button>
            </ActionForm>
        }
    };
    let instructions = (!d.verified).then(|| {
        view! {
            <tr>
                <td colspan="5" class="px-3 pb-4">
                    <div class="rounded border border-amber-200 bg-amber-50 p-3 text-sm text-slate-700" data-testid="domain-instructions">
                        <p>
                            "Add a TXT record " <code class="rounded bg-white px-1 font-mono text-xs" data-testid="txt-name">{d.txt_name.clone()}</code>
                            " with value " <code class="break-all rounded bg-white px-1 font-mono text-xs" data-testid="txt-value">{d.txt_value.clone()}</code>
                        </p>
                        <p class="mt-1">
                            "or point the domain at us: we serve the token at "
                            <code class="break-all rounded bg-white px-1 font-mono text-xs" data-testid="http-url">
                                {format!("http://{}{}", d.domain, d.http_path)}
                            </code>
                            " by ourselves, so the HTTP check passes as soon as the DNS change is live."
                        </p>
                        {d.last_check_error.clone().map(|e| view! {
                            <p class="mt-2 text-red-700" data-testid="domain-check-error">{format!("Last check: {e}")}</p>
                        })}
                        <div class="mt-3 flex flex-wrap items-center gap-2">
                            {verify_form(VerifyMethod::Dns, "Check DNS", "check-dns")}
                            {verify_form(VerifyMethod::Http, "Check HTTP", "check-http")}
                            {verify_form(VerifyMethod::Admin, "Mark verified", "mark-verified")}
                            {move || checking().then(|| view! { <span class="text-xs text-slate-500">"Checking…"</span> })}
                        </div>
                    </div>
                </td>
            </tr>
        }
    });
    let (remove_slug, remove_domain_name) = (slug.clone(), d.domain.clone());
    view! {
        <tbody class="border-t border-slate-100" data-testid="domain-row" data-domain=d.domain.clone()>
            <tr>
                <td class=format!("{td} font-mono") data-testid="domain-name">{d.domain.clone()}</td>
                <td class=td data-testid="domain-role">
                    {if d.primary {
                        view! { <span class="rounded bg-brand/10 px-1.5 py-0.5 text-xs font-medium text-brand">"Primary"</span> }.into_any()
                    } else {
                        view! { <span class="text-xs text-slate-500">"Alias"</span> }.into_any()
                    }}
                </td>
                <td class=td>{verification}</td>
                <td class=td>
                    <span data-testid="domain-tls" class=format!("font-medium {tls_class}")>{d.tls.as_str()}</span>
                    <p class="text-xs text-slate-500">{tls_note}</p>
                </td>
                <td class=format!("{td} text-right")>
                    <ActionForm action=remove_domain attr:class="inline">
                        <input type="hidden" name="slug" value=remove_slug/>
                        <input type="hidden" name="domain" value=remove_domain_name/>
                        <button type="submit" data-testid="remove-domain"
                            class="text-sm font-medium text-red-700 hover:underline disabled:opacity-50"
                            disabled=move || remove_domain.pending().get()>
                            "Remove"
                        </button>
                    </ActionForm>
                </td>
            </tr>
            {instructions}
        </tbody>
    }
}
