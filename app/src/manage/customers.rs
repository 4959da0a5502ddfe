//! The reseller's own customers (`/manage/customers`): search and page through them (the server reads one
//! page at a time), and one customer's page (`/manage/customers/:id`) with their credit, workspaces,
//! invoices and sessions, and the actions on their account — add or remove credit, a credit note or card
//! refund against an invoice, void a draft, suspend or lift a suspension, resend an invoice. Every action
//! needs a reason, which the audit log keeps.
//!
//! Each action's form carries the page's one-time key, so a double submit or a retry after a lost answer
//! moves money once; the page reloads after each action with a fresh key.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use crate::domain::billing_state::{InvoiceKind, InvoiceStatus, LedgerEntryKind};
use crate::domain::customer_care::CardRefundStatus;
use crate::domain::money::Money;
use crate::domain::time::{format_utc, Timestamp};
use crate::domain::workspace::WorkspaceState;
use crate::error::AppError;
use crate::layout::ErrorNote;

/// One customer in the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerListRow {
    pub id: String,
    pub email: String,
    pub name: String,
    pub created_at: Timestamp,
    pub balance: Money,
    pub workspaces: i64,
    pub running: i64,
    pub suspended: bool,
}

/// One page of the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerList {
    pub rows: Vec<CustomerListRow>,
    /// Customers matching the search, over all pages.
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    pub search: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerWorkspace {
    pub id: String,
    /// What the customer calls it.
    pub name: String,
    pub plan: String,
    pub state: WorkspaceState,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerInvoice {
    pub id: String,
    pub number: String,
    pub kind: InvoiceKind,
    /// For a credit note: the invoice it corrects.
    pub corrects: Option<String>,
    pub period: String,
    pub status: InvoiceStatus,
    pub total: Money,
    pub due: Money,
    pub card_paid: Money,
    /// Credit notes issued against it so far.
    pub credited: Money,
    /// What a credit note may still be issued for (zero unless finalised or paid).
    pub creditable: Money,
    /// Of that, what can still go back to the card that paid it.
    pub card_refundable: Money,
    pub memo: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRefund {
    pub invoice_id: String,
    pub credit_note_id: String,
    pub amount: Money,
    pub status: CardRefundStatus,
    /// Why Stripe refused it (the amount went to credit instead).
    pub failure: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerLedgerLine {
    pub kind: LedgerEntryKind,
    pub amount: Money,
    pub memo: String,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerUsage {
    pub workspace: String,
    pub plan: String,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub rate: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerSignIn {
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    /// A platform admin's "act as" session (who, the admin's audit log says; not the reseller's to know).
    pub by_platform_admin: bool,
}

/// Everything the customer's page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerDetail {
    pub id: String,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
    pub created_at: Timestamp,
    /// Since when and why, when suspended.
    pub suspended: Option<(Timestamp, String)>,
    pub balance: Money,
    pub card: Option<String>,
    pub workspaces: Vec<CustomerWorkspace>,
    pub invoices: Vec<CustomerInvoice>,
    pub refunds: Vec<CustomerRefund>,
    pub ledger: Vec<CustomerLedgerLine>,
    pub usage: Vec<CustomerUsage>,
    pub sign_ins: Vec<CustomerSignIn>,
    /// The one-time key the page's action forms carry (a new one with each load).
    pub form_key: String,
}

/// What a credit note or refund came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditResult {
    pub credit_note_id: String,
    pub to_credit: Money,
    /// Sent back to the card, and how that stands.
    pub to_card: Option<(Money, CardRefundStatus)>,
    /// `false` when the same form had been submitted before: nothing new was done.
    pub created: bool,
}

#[cfg(feature = "ssr")]
mod parse {
    //! The form fields as domain values, each refused with a message the page shows.

    use crate::domain::customer_care::{CreditDirection, CreditTo, Reason};
    use crate::domain::ids::CustomerId;
    use crate::domain::money::{Currency, Money};
    use crate::error::AppError;

    /// A malformed id is answered like an unknown one: there is nothing to learn from the difference.
    pub fn customer(id: &str) -> Result<CustomerId, AppError> {
        id.trim().parse().map_err(|_| AppError::NotFound)
    }

    pub fn reason(raw: &str) -> Result<Reason, AppError> {
        Reason::parse(raw).map_err(|e| AppError::Invalid(e.to_string()))
    }

    pub fn amount(raw: &str, currency: Currency) -> Result<Money, AppError> {
        Money::parse_major(raw.trim(), currency)
            .ok()
            .filter(|m| m.minor() > 0)
            .ok_or_else(|| AppError::Invalid("Enter an amount more than zero, such as 20 or 20.00.".into()))
    }

    pub fn direction(raw: &str) -> Result<CreditDirection, AppError> {
        CreditDirection::parse(raw.trim()).map_err(|_| AppError::Invalid("Choose to add or to remove credit.".into()))
    }

    pub fn credit_to(raw: &str) -> Result<CreditTo, AppError> {
        CreditTo::parse(raw.trim())
            .map_err(|_| AppError::Invalid("Choose where the amount goes: to credit or to the card.".into()))
    }

    pub fn request_key(raw: &str) -> Result<uuid::Uuid, AppError> {
        uuid::Uuid::parse_str(raw.trim())
            .map_err(|_| AppError::Invalid("This form has expired. Reload the page and try again.".into()))
    }

    /// An invoice id as typed: at most an id's length (anything longer names no invoice).
    pub fn invoice(raw: &str) -> Result<String, AppError> {
        let id = raw.trim();
        if id.is_empty() || id.len() > 64 {
            return Err(AppError::NotFound);
        }
        Ok(id.to_owned())
    }
}

/// The staff member's storefront with its database, or why not.
#[cfg(feature = "ssr")]
async fn staff_tenant() -> Result<
    (crate::backend::state::AppState, crate::backend::state::Tenant, crate::backend::identity::accounts::StaffMember),
    AppError,
> {
    let (state, entry, member) = super::server::guard::staff().await?;
    let tenant = state.tenant_by_id(entry.id).await?.ok_or(AppError::NotFound)?;
    Ok((state, tenant, member))
}

/// A page of the storefront's customers, newest first, whose email or name contains `search`.
#[server(prefix = "/api", endpoint = "manage_customers")]
pub async fn manage_customers(search: String, page: String) -> Result<CustomerList, AppError> {
    use crate::backend::resellers::customer_care::{self, MAX_SEARCH_CHARS};
    let (_, tenant, _) = staff_tenant().await?;
    if search.trim().chars().count() > MAX_SEARCH_CHARS {
        return Err(AppError::Invalid(format!("Search for at most {MAX_SEARCH_CHARS} characters.")));
    }
    let page = match page.trim() {
        "" => 1,
        p => p
            .parse::<i64>()
            .ok()
            .filter(|p| *p >= 1)
            .ok_or_else(|| AppError::Invalid("The page is a number from 1.".into()))?,
    };
    let d = customer_care::directory(&tenant, &search, page).await?;
    Ok(CustomerList {
        rows: d
            .rows
            .into_iter()
            .map(|r| CustomerListRow {
                id: r.id.to_string(),
                email: r.email,
                name: r.name,
                created_at: r.created_at,
                balance: r.balance,
                workspaces: r.workspaces,
                running: r.running,
                suspended: r.suspended,
            })
            .collect(),
        total: d.total,
        page: d.page,
        pages: d.pages,
        search: search.trim().to_owned(),
    })
}

/// One customer's page.
#[server(prefix = "/api", endpoint = "manage_customer")]
pub async fn manage_customer(id: String) -> Result<CustomerDetail, AppError> {
    use crate::backend::resellers::customer_care;
    let (_, tenant, _) = staff_tenant().await?;
    let f = customer_care::file(&tenant, parse::customer(&id)?).await?;
    let plan_of = |workspace: &str| {
        f.workspaces.iter().find(|(w, _)| w.id.to_string() == workspace).map(|(_, p)| p.clone()).unwrap_or_default()
    };
    Ok(CustomerDetail {
        id: f.customer.id.to_string(),
        email: f.customer.email.clone(),
        name: f.customer.name.clone(),
        email_verified: f.customer.email_verified,
        created_at: f.created_at,
        suspended: f.suspended.clone(),
        balance: f.balance,
        card: f.card.clone(),
        usage: f
            .usage
            .iter()
            .map(|s| CustomerUsage {
                plan: plan_of(&s.workspace_id),
                workspace: s.workspace_id.clone(),
                started_at: s.started_at,
                ended_at: s.ended_at,
                rate: s.retail.to_string(),
            })
            .collect(),
        workspaces: f
            .workspaces
            .iter()
            .map(|(w, plan)| CustomerWorkspace {
                id: w.id.to_string(),
                name: crate::domain::workspace::display_name(&w.name, plan, &w.id.to_string()),
                plan: plan.clone(),
                state: w.state,
                created_at: w.created_at,
            })
            .collect(),
        invoices: f
            .invoices
            .into_iter()
            .map(|e| CustomerInvoice {
                number: e.invoice.display_number(),
                kind: e.invoice.kind,
                corrects: e.invoice.corrects.clone(),
                period: e.invoice.period.clone(),
                status: e.invoice.status,
                total: e.invoice.total,
                due: e.invoice.amount_due(),
                card_paid: e.invoice.card_paid,
                credited: e.credited,
                creditable: e.creditable,
                card_refundable: e.card_refundable,
                memo: e.invoice.memo.clone(),
                created_at: e.invoice.created_at,
                id: e.invoice.id,
            })
            .collect(),
        refunds: f
            .card_refunds
            .into_iter()
            .map(|r| CustomerRefund {
                invoice_id: r.invoice_id,
                credit_note_id: r.credit_note_id,
                amount: r.amount,
                status: r.status,
                failure: r.failure,
                created_at: r.created_at,
            })
            .collect(),
        ledger: f
            .ledger
            .into_iter()
            .map(|e| CustomerLedgerLine { kind: e.kind, amount: e.amount, memo: e.memo, at: e.created_at })
            .collect(),
        sign_ins: f
            .sign_ins
            .into_iter()
            .map(|s| CustomerSignIn {
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.expires_at,
                by_platform_admin: s.impersonator.is_some(),
            })
            .collect(),
        form_key: uuid::Uuid::new_v4().to_string(),
    })
}

/// Adds (`direction` = add) or removes (remove) prepaid credit: a ledger entry, never a balance edit.
/// Returns the new balance.
#[server(prefix = "/api", endpoint = "customer_credit")]
pub async fn customer_credit(
    id: String,
    direction: String,
    amount: String,
    reason: String,
    request_key: String,
) -> Result<Money, AppError> {
    use crate::backend::{request, resellers::customer_care};
    let (state, tenant, member) = staff_tenant().await?;
    let (customer, direction) = (parse::customer(&id)?, parse::direction(&direction)?);
    let (amount, reason) = (parse::amount(&amount, tenant.currency)?, parse::reason(&reason)?);
    let key = parse::request_key(&request_key)?;
    let ip = request::client_ip();
    let done =
        customer_care::adjust_credit(&state, ip, &member.actor(), &tenant, customer, direction, amount, &reason, key)
            .await?;
    Ok(done.balance)
}

/// A credit note against one of the customer's finalised invoices, `to` prepaid credit or (what the card
/// paid) back to the card.
#[server(prefix = "/api", endpoint = "customer_credit_note")]
pub async fn customer_credit_note(
    id: String,
    invoice: String,
    amount: String,
    to: String,
    reason: String,
    request_key: String,
) -> Result<CreditResult, AppError> {
    use crate::backend::{request, resellers::customer_care};
    let (state, tenant, member) = staff_tenant().await?;
    let (customer, invoice) = (parse::customer(&id)?, parse::invoice(&invoice)?);
    let (amount, to, reason) =
        (parse::amount(&amount, tenant.currency)?, parse::credit_to(&to)?, parse::reason(&reason)?);
    let key = parse::request_key(&request_key)?;
    let ip = request::client_ip();
    let o = customer_care::credit_invoice(
        &state,
        ip,
        &member.actor(),
        &tenant,
        customer,
        &invoice,
        amount,
        to,
        &reason,
        key,
    )
    .await?;
    Ok(CreditResult {
        credit_note_id: o.credit_note_id,
        to_credit: o.to_credit,
        to_card: o.to_card,
        created: o.created,
    })
}

/// Voids one of the customer's draft invoices. Returns what went back to their credit (`None`: it was
/// void already).
#[server(prefix = "/api", endpoint = "customer_void_invoice")]
pub async fn customer_void_invoice(id: String, invoice: String, reason: String) -> Result<Option<Money>, AppError> {
    use crate::backend::{request, resellers::customer_care};
    let (state, tenant, member) = staff_tenant().await?;
    let (customer, invoice, reason) = (parse::customer(&id)?, parse::invoice(&invoice)?, parse::reason(&reason)?);
    let ip = request::client_ip();
    Ok(customer_care::void_draft(&state, ip, &member.actor(), &tenant, customer, &invoice, &reason).await?)
}

/// Suspends the customer; their running workspaces stop now. Returns how many were stopped.
#[server(prefix = "/api", endpoint = "customer_suspend")]
pub async fn customer_suspend(id: String, reason: String) -> Result<usize, AppError> {
    use crate::backend::{request, resellers::customer_care};
    let (state, tenant, member) = staff_tenant().await?;
    let (customer, reason) = (parse::customer(&id)?, parse::reason(&reason)?);
    let ip = request::client_ip();
    Ok(customer_care::suspend(&state, ip, &member.actor(), &tenant, customer, &reason).await?.stopped)
}

/// Lifts the customer's suspension. `false` when they were not suspended.
#[server(prefix = "/api", endpoint = "customer_unsuspend")]
pub async fn customer_unsuspend(id: String, reason: String) -> Result<bool, AppError> {
    use crate::backend::{request, resellers::customer_care};
    let (state, tenant, member) = staff_tenant().await?;
    let (customer, reason) = (parse::customer(&id)?, parse::reason(&reason)?);
    let ip = request::client_ip();
    Ok(customer_care::unsuspend(&state, ip, &member.actor(), &tenant, customer, &reason).await?)
}

/// Emails one of the customer's invoices to them again. `false` when this form had sent it already.
#[server(prefix = "/api", endpoint = "customer_resend_invoice")]
pub async fn customer_resend_invoice(
    id: String,
    invoice: String,
    reason: String,
    request_key: String,
) -> Result<bool, AppError> {
    use crate::backend::{request, resellers::customer_care};
    let (state, tenant, member) = staff_tenant().await?;
    let (customer, invoice, reason) = (parse::customer(&id)?, parse::invoice(&invoice)?, parse::reason(&reason)?);
    let key = parse::request_key(&request_key)?;
    let ip = request::client_ip();
    Ok(customer_care::resend_invoice(&state, ip, &member.actor(), &tenant, customer, &invoice, &reason, key).await?)
}

const FIELD: &str = "rounded border px-2 py-1 text-sm";

#[component]
pub fn CustomersPage() -> impl IntoView {
    let q = use_query_map();
    let param = move |k: &str| q.read().get(k).unwrap_or_default();
    let list =
        crate::resource::new(move || (param("q"), param("page")), |(search, page)| manage_customers(search, page));
    view! {
        <h1 class="text-2xl font-semibold">"Customers"</h1>
        <form method="get" action="/manage/customers" class="mt-4 flex flex-wrap items-end gap-2" data-testid="customer-search">
            <label class="flex flex-col text-xs">"Email or name contains"
                <input name="q" class=FIELD value=move || param("q") maxlength="100"/>
            </label>
            <button type="submit" class="rounded border px-3 py-1 text-sm">"Search"</button>
        </form>
        <Suspense fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(l) => view! { <CustomerTable l/> }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <super::StaffSignInFirst/> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn CustomerTable(l: CustomerList) -> impl IntoView {
    let page_link = |page: i64, label: &'static str, search: String| {
        view! {
            <form method="get" action="/manage/customers">
                <input type="hidden" name="q" value=search/>
                <input type="hidden" name="page" value=page.to_string()/>
                <button type="submit" class="rounded border px-3 py-1">{label}</button>
            </form>
        }
    };
    view! {
        <p class="mt-4 text-sm text-slate-600" data-testid="customer-total">
            {format!("{} customers · page {} of {}", l.total, l.page, l.pages)}
        </p>
        <table class="mt-2 w-full text-left text-sm" data-testid="customer-table">
            <thead><tr class="text-xs uppercase text-slate-500">
                <th class="py-1">"Customer"</th><th>"Email"</th><th>"Since"</th><th>"Credit"</th><th>"Workspaces"</th><th>"Status"</th>
            </tr></thead>
            <tbody>
                {l.rows.into_iter().map(|c| view! {
                    <tr class="border-t border-slate-100" data-testid="customer-row">
                        <td class="py-1"><a class="underline" href=format!("/manage/customers/{}", c.id)>{c.name}</a></td>
                        <td>{c.email}</td>
                        <td>{format_utc(c.created_at)}</td>
                        <td class="font-mono">{c.balance.to_string()}</td>
                        <td>{format!("{} ({} running)", c.workspaces, c.running)}</td>
                        <td>{if c.suspended { "Suspended" } else { "Active" }}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <div class="mt-3 flex flex-wrap gap-2 text-sm">
            {(l.page > 1).then(|| page_link(l.page - 1, "Previous", l.search.clone()))}
            {(l.page < l.pages).then(|| page_link(l.page + 1, "Next", l.search.clone()))}
        </div>
    }
}

/// The customer page's actions.
#[derive(Clone, Copy)]
struct Actions {
    credit: ServerAction<CustomerCredit>,
    credit_note: ServerAction<CustomerCreditNote>,
    void: ServerAction<CustomerVoidInvoice>,
    suspend: ServerAction<CustomerSuspend>,
    unsuspend: ServerAction<CustomerUnsuspend>,
    resend: ServerAction<CustomerResendInvoice>,
}

impl Actions {
    fn new() -> Self {
        Actions {
            credit: ServerAction::new(),
            credit_note: ServerAction::new(),
            void: ServerAction::new(),
            suspend: ServerAction::new(),
            unsuspend: ServerAction::new(),
            resend: ServerAction::new(),
        }
    }

    fn versions(&self) -> [usize; 6] {
        [
            self.credit.version().get(),
            self.credit_note.version().get(),
            self.void.version().get(),
            self.suspend.version().get(),
            self.unsuspend.version().get(),
            self.resend.version().get(),
        ]
    }

    /// The last action's refusal, if it was refused.
    fn error(&self) -> Option<AppError> {
        [
            self.credit.value().get().and_then(Result::err),
            self.credit_note.value().get().and_then(Result::err),
            self.void.value().get().and_then(Result::err),
            self.suspend.value().get().and_then(Result::err),
            self.unsuspend.value().get().and_then(Result::err),
            self.resend.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .next()
    }

    /// What the last card refund came to, when it did not simply go through.
    fn refund_note(&self) -> Option<String> {
        match self.credit_note.value().get() {
            Some(Ok(CreditResult { to_card: Some((m, CardRefundStatus::Pending)), .. })) => Some(format!(
                "The credit note is issued; the refund of {m} to the card has not reached Stripe yet. Submit the same form again to send it."
            )),
            Some(Ok(CreditResult { to_card: Some((m, CardRefundStatus::Failed)), .. })) => {
                Some(format!("Stripe refused the refund of {m} to the card, so it went to the customer's credit."))
            }
            _ => None,
        }
    }
}

#[component]
pub fn CustomerPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let actions = Actions::new();
    let detail = crate::resource::new(move || (id(), actions.versions()), |(id, _)| manage_customer(id));
    view! {
        <p class="text-sm"><a class="underline" href="/manage/customers">"← All customers"</a></p>
        {move || actions.error().map(|e| view! { <div class="mt-2"><ErrorNote message=e.to_string()/></div> })}
        {move || actions.refund_note().map(|n| view! { <p class="mt-2 text-sm text-amber-800" data-testid="refund-note">{n}</p> })}
        <Transition fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(d) => view! { <CustomerView d actions/> }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <super::StaffSignInFirst/> }.into_any(),
                    Err(e) => view! { <ErrorNote message=e.to_string()/> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ReasonField() -> impl IntoView {
    view! {
        <label class="flex flex-col text-xs">"Reason (required, kept in the audit log)"
            <input name="reason" required maxlength="500" class=FIELD/>
        </label>
    }
}

#[component]
fn CustomerView(d: CustomerDetail, actions: Actions) -> impl IntoView {
    let Actions { credit, credit_note, void, suspend, unsuspend, resend } = actions;
    let (id, key) = (d.id.clone(), d.form_key.clone());
    let suspension = match d.suspended.clone() {
        Some((since, why)) => view! {
            <div class="mt-4 rounded border border-red-300 bg-red-50 p-3 text-sm text-red-800" data-testid="suspended">
                {format!("Suspended since {} ({why}). They cannot order or start workspaces.", format_utc(since))}
                <UnsuspendForm action=unsuspend id=id.clone()/>
            </div>
        }
        .into_any(),
        None => view! {
            <details class="mt-4 text-sm">
                <summary class="cursor-pointer text-red-700">"Suspend this customer"</summary>
                <p class="mt-1 text-slate-600">"Their running workspaces stop now (billing closes at the stop); they cannot order or start any until you lift the suspension."</p>
                <SuspendForm action=suspend id=id.clone()/>
            </details>
        }
        .into_any(),
    };
    let invoices = d
        .invoices
        .into_iter()
        .map(|i| view! { <InvoiceItem i id=id.clone() key=key.clone() credit_note void resend/> })
        .collect_view();
    view! {
        <h1 class="mt-2 text-2xl font-semibold" data-testid="customer-name">{d.name.clone()}</h1>
        <p class="text-sm text-slate-600">
            {format!("{} · customer since {}{}", d.email, format_utc(d.created_at), if d.email_verified { "" } else { " · email not confirmed" })}
        </p>
        {suspension}

        <div class="mt-4 grid gap-4 sm:grid-cols-2">
            <div class="rounded-lg border bg-white p-4">
                <div class="text-sm text-slate-500">"Credit"</div>
                <div class="text-2xl font-bold" data-testid="balance">{d.balance.to_string()}</div>
                <div class="text-xs text-slate-500">{d.card.clone().map(|c| format!("Card on file: {c}")).unwrap_or_else(|| "No card on file".into())}</div>
            </div>
            <CreditForm action=credit id=id.clone() key=key.clone()/>
        </div>

        <h2 class="mt-8 text-lg font-semibold">"Workspaces"</h2>
        <table class="mt-2 w-full text-left text-sm" data-testid="customer-workspaces">
            <thead><tr class="text-xs uppercase text-slate-500"><th class="py-1">"Workspace"</th><th>"Plan"</th><th>"State"</th><th>"Ordered"</th></tr></thead>
            <tbody>
                {d.workspaces.into_iter().map(|w| view! {
                    <tr class="border-t border-slate-100"><td class="py-1">{w.name}</td><td>{w.plan}</td><td>{w.state.label()}</td><td>{format_utc(w.created_at)}</td></tr>
                }).collect_view()}
            </tbody>
        </table>

        <h2 class="mt-8 text-lg font-semibold">"Invoices"</h2>
        <div class="mt-2 flex flex-col gap-2">{invoices}</div>
        {(!d.refunds.is_empty()).then(|| view! {
            <h3 class="mt-4 font-semibold">"Card refunds"</h3>
            <ul class="text-sm" data-testid="card-refunds">
                {d.refunds.into_iter().map(|r| view! {
                    <li>{format!("{} · {} · {}{}", format_utc(r.created_at), r.amount, r.status.as_str(), r.failure.map(|f| format!(" ({f}; credited instead)")).unwrap_or_default())}</li>
                }).collect_view()}
            </ul>
        })}

        <h2 class="mt-8 text-lg font-semibold">"Credit movements"</h2>
        <table class="mt-2 w-full text-left text-sm" data-testid="customer-ledger">
            <tbody>
                {d.ledger.into_iter().map(|e| view! {
                    <tr class="border-t border-slate-100">
                        <td class="py-1">{format_utc(e.at)}</td><td>{e.kind.as_str()}</td><td>{e.memo}</td>
                        <td class="text-right font-mono">{e.amount.to_string()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>

        <h2 class="mt-8 text-lg font-semibold">"Usage sessions"</h2>
        <table class="mt-2 w-full text-left text-sm" data-testid="customer-usage">
            <tbody>
                {d.usage.into_iter().map(|u| view! {
                    <tr class="border-t border-slate-100">
                        <td class="py-1">{u.plan}</td><td>{format_utc(u.started_at)}</td>
                        <td>{u.ended_at.map(format_utc).unwrap_or_else(|| "running".into())}</td><td>{u.rate}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>

        <h2 class="mt-8 text-lg font-semibold">"Signed in"</h2>
        <ul class="mt-2 text-sm" data-testid="customer-sign-ins">
            {d.sign_ins.into_iter().map(|s| view! {
                <li>{format!("since {} · last seen {} · until {}{}", format_utc(s.created_at), format_utc(s.last_seen_at), format_utc(s.expires_at),
                    if s.by_platform_admin { " · platform support acting as the customer" } else { "" })}</li>
            }).collect_view()}
        </ul>
    }
}

#[component]
fn SuspendForm(action: ServerAction<CustomerSuspend>, id: String) -> impl IntoView {
    view! {
        <ActionForm action attr:class="mt-2 flex flex-wrap items-end gap-2" attr:data-testid="suspend-form">
            <input type="hidden" name="id" value=id/>
            <ReasonField/>
            <button type="submit" class="rounded bg-red-600 px-3 py-1 text-white">"Suspend"</button>
        </ActionForm>
    }
}

#[component]
fn UnsuspendForm(action: ServerAction<CustomerUnsuspend>, id: String) -> impl IntoView {
    view! {
        <ActionForm action attr:class="mt-2 flex flex-wrap items-end gap-2" attr:data-testid="unsuspend-form">
            <input type="hidden" name="id" value=id/>
            <ReasonField/>
            <button type="submit" class="rounded border px-3 py-1">"Lift the suspension"</button>
        </ActionForm>
    }
}

#[component]
fn CreditForm(action: ServerAction<CustomerCredit>, id: String, key: String) -> impl IntoView {
    view! {
        <ActionForm action attr:class="flex flex-col gap-2 rounded-lg border bg-white p-4" attr:data-testid="credit-form">
            <input type="hidden" name="id" value=id/>
            <input type="hidden" name="request_key" value=key/>
            <div class="flex flex-wrap gap-2">
                <select name="direction" class=FIELD aria-label="Add or remove credit">
                    <option value="add">"Add credit"</option>
                    <option value="remove">"Remove credit"</option>
                </select>
                <input name="amount" inputmode="decimal" placeholder="10.00" required class=FIELD aria-label="Amount"/>
            </div>
            <ReasonField/>
            <p class="text-xs text-slate-500">"The customer sees the reason beside the movement on their billing page."</p>
            <button type="submit" class="self-start rounded bg-brand px-3 py-1 text-sm text-on-brand">"Apply"</button>
        </ActionForm>
    }
}

/// One invoice (or credit note) with the actions its state allows.
#[component]
fn InvoiceItem(
    i: CustomerInvoice,
    id: String,
    key: String,
    credit_note: ServerAction<CustomerCreditNote>,
    void: ServerAction<CustomerVoidInvoice>,
    resend: ServerAction<CustomerResendInvoice>,
) -> impl IntoView {
    let draft = i.status == InvoiceStatus::Draft;
    let mut summary = format!("{} · {} · {} · {}", i.number, i.period, i.status.as_str(), i.total);
    if i.due.minor() > 0 {
        summary.push_str(&format!(" · {} due", i.due));
    }
    if i.credited.minor() > 0 {
        summary.push_str(&format!(" · {} credited", i.credited));
    }
    let (form_id, form_invoice, form_key) = (id.clone(), i.id.clone(), key.clone());
    let credit_form = (i.creditable.minor() > 0).then(|| {
        let card = (i.card_refundable.minor() > 0)
            .then(|| view! { <option value="card">{format!("the card (up to {}), the rest to credit", i.card_refundable)}</option> });
        view! {
            <ActionForm action=credit_note attr:class="mt-2 flex flex-wrap items-end gap-2" attr:data-testid="credit-note-form">
                <input type="hidden" name="id" value=form_id/>
                <input type="hidden" name="invoice" value=form_invoice/>
                <input type="hidden" name="request_key" value=form_key/>
                <label class="flex flex-col text-xs">{format!("Amount (up to {})", i.creditable)}
                    <input name="amount" inputmode="decimal" required class=FIELD value=i.creditable.to_decimal().to_string()/>
                </label>
                <label class="flex flex-col text-xs">"To"
                    <select name="to" class=FIELD>
                        {card}
                        <option value="credit">"prepaid credit"</option>
                    </select>
                </label>
                <ReasonField/>
                <button type="submit" class="rounded border px-3 py-1">"Issue credit note"</button>
            </ActionForm>
        }
    });
    let other_form = if draft {
        view! {
            <ActionForm action=void attr:class="mt-2 flex flex-wrap items-end gap-2" attr:data-testid="void-form">
                <input type="hidden" name="id" value=id/>
                <input type="hidden" name="invoice" value=i.id/>
                <ReasonField/>
                <button type="submit" class="rounded border border-red-300 px-3 py-1 text-red-700">"Void this draft"</button>
            </ActionForm>
        }
        .into_any()
    } else {
        view! {
            <ActionForm action=resend attr:class="mt-2 flex flex-wrap items-end gap-2" attr:data-testid="resend-form">
                <input type="hidden" name="id" value=id/>
                <input type="hidden" name="invoice" value=i.id/>
                <input type="hidden" name="request_key" value=key/>
                <ReasonField/>
                <button type="submit" class="rounded border px-3 py-1">"Email it again"</button>
            </ActionForm>
        }
        .into_any()
    };
    view! {
        <details class="rounded border border-slate-200 bg-white p-2 text-sm" data-testid="customer-invoice">
            <summary class="cursor-pointer">{summary}</summary>
            {(!i.memo.is_empty()).then(|| view! { <p class="mt-1 text-slate-600">{i.memo.clone()}</p> })}
            {credit_form}
            {other_form}
        </details>
    }
}
