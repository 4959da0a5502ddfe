//! A storefront's own customers, as its staff look after them (`/manage/customers`): a searchable directory
//! read a page at a time (10,000 customers cost what 25 do), one customer's whole file, and the actions on
//! an account. Each action takes the staff member who acts and the reason they gave, and records both in
//! the audit log; each is safe to retry (money moves once per form submit, under the form's one-time key)
//! and refuses what it cannot do before changing anything.

use std::net::IpAddr;

use uuid::Uuid;

use crate::backend::billing::invoices::{self, Credited, Invoice, InvoiceKind, NotCredited, Status, VoidedDraft};
use crate::backend::billing::ledger::{self, EntryKind, Posted};
use crate::backend::billing::refunds::{self, CardRefund};
use crate::backend::billing::usage::{self, Session};
use crate::backend::billing::{meter, notify};
use crate::backend::identity::auth::{self, LiveSession};
use crate::backend::identity::customers::{self, Customer};
use crate::backend::platform::audit::{self, Actor};
use crate::backend::platform::db::now;
use crate::backend::state::{AppState, Tenant};
use crate::backend::workspaces::store::{self, Workspace};
use crate::backend::workspaces::{catalog, provisioning};
use crate::backend::{corrupt, BackendError};
use crate::domain::customer_care::{CardRefundStatus, CreditDirection, CreditTo, Reason};
use crate::domain::ids::CustomerId;
use crate::domain::money::Money;
use crate::domain::time::Timestamp;
use crate::domain::workspace::WorkspaceState;
use crate::error::AppError;

/// Customers per page of the directory.
pub const PAGE_SIZE: i64 = 25;
/// Longest search text looked for, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;
/// The most credit one adjustment may move (10,000.00 in a two-decimal currency): a typo guard.
pub const MAX_ADJUSTMENT_MINOR: i64 = 1_000_000;

/// Why an action was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum CareError {
    /// No such customer or invoice in this storefront (another storefront's ids included).
    #[error("not found")]
    NotFound,
    /// The request cannot be done as asked; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The account or invoice is not in a state that allows it; the message says why.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<CareError> for AppError {
    fn from(e: CareError) -> AppError {
        match e {
            CareError::NotFound => AppError::NotFound,
            CareError::Invalid(m) => AppError::Invalid(m),
            CareError::Conflict(m) => AppError::Conflict(m),
            CareError::Backend(b) => b.into(),
        }
    }
}

impl From<sqlx::Error> for CareError {
    fn from(e: sqlx::Error) -> Self {
        CareError::Backend(e.into())
    }
}

/// One line of the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryRow {
    pub id: CustomerId,
    pub email: String,
    pub name: String,
    pub created_at: Timestamp,
    pub balance: Money,
    /// Workspaces not deleted.
    pub workspaces: i64,
    pub running: i64,
    pub suspended: bool,
}

/// One page of the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directory {
    pub rows: Vec<DirectoryRow>,
    /// Customers matching the search, on every page.
    pub total: i64,
    /// 1-based, within `1..=pages`.
    pub page: i64,
    pub pages: i64,
}

/// A search as typed: trimmed, lower-cased (emails are stored lower-cased; names are compared
/// lower-cased), at most [`MAX_SEARCH_CHARS`], and as a `LIKE` pattern whose `%`, `_` and `\` match
/// themselves.
fn like_pattern(search: &str) -> (String, String) {
    let term: String = search.trim().to_lowercase().chars().take(MAX_SEARCH_CHARS).collect();
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    (term, pattern)
}

/// A page of the storefront's customers, newest first, whose email or name contains `search` (every
/// customer when it is empty). Two queries whatever the number of customers: the count, and the page (an
/// index walk to its offset, then the balances and workspace counts of its rows only). A page past the end
/// is the last page. A search reads every customer's email and name (a substring has no index to use).
pub async fn directory(tenant: &Tenant, search: &str, page: i64) -> Result<Directory, BackendError> {
    let (term, pattern) = like_pattern(search);
    // Without a search, a bare count: the engines count an index instead of testing every row.
    let total: i64 = if term.is_empty() {
        sqlx::query_scalar("SELECT COUNT(*) FROM customers").fetch_one(tenant.db.pool()).await?
    } else {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM customers c WHERE c.email LIKE $1 ESCAPE '\\' OR LOWER(c.name) LIKE $1 ESCAPE '\\'",
        )
        .bind(&pattern)
        .fetch_one(tenant.db.pool())
        .await?
    };
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let page = page.clamp(1, pages);
    // The page's ids first (an index walk to the offset), then the balances and workspace counts of those
    // 25 only: with the counts in the outer query a deep page does not compute them for every row it skips.
    let rows = sqlx::query_as::<_, DirectoryDbRow>(
        "SELECT c.id, c.email, c.name, c.created_at, c.suspended_at, COALESCE(b.balance_minor, 0) AS balance_minor, \
         (SELECT COUNT(*) FROM workspaces w WHERE w.customer_id = c.id AND w.state <> $3) AS workspaces, \
         (SELECT COUNT(*) FROM workspaces w WHERE w.customer_id = c.id AND w.state = $4) AS running \
         FROM (SELECT p.id FROM customers p \
               WHERE ($1 = '' OR p.email LIKE $2 ESCAPE '\\' OR LOWER(p.name) LIKE $2 ESCAPE '\\') \
               ORDER BY p.created_at DESC, p.id DESC LIMIT $5 OFFSET $6) ids \
         JOIN customers c ON c.id = ids.id LEFT JOIN credit_balances b ON b.customer_id = c.id \
         ORDER BY c.created_at DESC, c.id DESC",
    )
    .bind(&term)
    .bind(&pattern)
    .bind(WorkspaceState::Terminated.as_str())
    .bind(WorkspaceState::Running.as_str())
    .bind(PAGE_SIZE)
    .bind((page - 1) * PAGE_SIZE)
    .fetch_all(tenant.db.pool())
    .await?;
    let rows = rows
        .into_iter()
        .map(|r| {
            Ok(DirectoryRow {
                id: r.id.parse().map_err(|_| corrupt("customers.id"))?,
                email: r.email,
                name: r.name,
                created_at: Timestamp::from_millis(r.created_at),
                balance: Money::from_minor(r.balance_minor, tenant.currency),
                workspaces: r.workspaces,
                running: r.running,
                suspended: r.suspended_at.is_some(),
            })
        })
        .collect::<Result<Vec<_>, BackendError>>()?;
    Ok(Directory { rows, total, page, pages })
}

/// A directory row as the page query reads it.
#[derive(sqlx::FromRow)]
struct DirectoryDbRow {
    id: String,
    email: String,
    name: String,
    created_at: i64,
    suspended_at: Option<i64>,
    balance_minor: i64,
    workspaces: i64,
    running: i64,
}

/// An invoice with what has been credited against it so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceEntry {
    pub invoice: Invoice,
    /// The credit notes issued against it, in total.
    pub credited: Money,
    /// What a credit note may still be issued for.
    pub creditable: Money,
    /// Of that, what can still go back to the card that paid it.
    pub card_refundable: Money,
}

/// Everything about one customer the staff see on their page.
#[derive(Clone, Debug)]
pub struct CustomerFile {
    pub customer: Customer,
    pub created_at: Timestamp,
    /// Since when and why, when suspended.
    pub suspended: Option<(Timestamp, String)>,
    pub balance: Money,
    /// The saved card's label.
    pub card: Option<String>,
    /// Newest first, with each plan's name.
    pub workspaces: Vec<(Workspace, String)>,
    /// Invoices and credit notes, drafts included, newest first.
    pub invoices: Vec<InvoiceEntry>,
    pub card_refunds: Vec<CardRefund>,
    /// The latest 50 credit movements.
    pub ledger: Vec<ledger::Entry>,
    /// The latest 50 usage sessions.
    pub usage: Vec<Session>,
    /// Browser sessions still signed in.
    pub sign_ins: Vec<LiveSession>,
}

/// The customer's file; `NotFound` for an id that is not a customer of this storefront.
pub async fn file(tenant: &Tenant, id: CustomerId) -> Result<CustomerFile, CareError> {
    let customer = customers::get(&tenant.db, id).await?.ok_or(CareError::NotFound)?;
    let standing = customers::standing(&tenant.db, id).await?.ok_or(CareError::NotFound)?;
    let all = invoices::list_all_for(&tenant.db, id).await?;
    let card_refunds = refunds::of_customer(&tenant.db, id).await?;
    let invoices = all
        .iter()
        .map(|inv| {
            let currency = inv.total.currency();
            let credited: i64 = all
                .iter()
                .filter(|n| n.kind == InvoiceKind::CreditNote && n.corrects.as_deref() == Some(inv.id.as_str()))
                .map(|n| n.total.minor())
                .sum();
            let creditable =
                if inv.kind == InvoiceKind::Invoice && matches!(inv.status, Status::Finalised | Status::Paid) {
                    (inv.total.minor() - credited).max(0)
                } else {
                    0
                };
            let to_card: i64 = card_refunds
                .iter()
                .filter(|r| r.invoice_id == inv.id && r.status != CardRefundStatus::Failed)
                .map(|r| r.amount.minor())
                .sum();
            let card_refundable = if inv.card_payment_intent.is_some() {
                (inv.card_paid.minor() - to_card).clamp(0, creditable)
            } else {
                0
            };
            InvoiceEntry {
                invoice: inv.clone(),
                credited: Money::from_minor(credited, currency),
                creditable: Money::from_minor(creditable, currency),
                card_refundable: Money::from_minor(card_refundable, currency),
            }
        })
        .collect();
    let mut workspaces = Vec::new();
    for ws in store::list_owned(&tenant.db, id).await? {
        let plan = catalog::get(&tenant.db, ws.plan).await?.map_or_else(|| ws.plan.to_string(), |p| p.name);
        workspaces.push((ws, plan));
    }
    let account = meter::account(tenant, id).await?;
    Ok(CustomerFile {
        created_at: standing.created_at,
        suspended: standing.suspended,
        balance: ledger::balance(&tenant.db, id, tenant.currency).await?,
        card: account.card_label.filter(|_| account.payment_method_id.is_some()),
        workspaces,
        invoices,
        card_refunds,
        ledger: ledger::entries(&tenant.db, id, 50).await?,
        usage: usage::recent_of(&tenant.db, id, 50).await?,
        sign_ins: auth::live_sessions(&tenant.db, id).await?,
        customer,
    })
}

async fn customer_of(tenant: &Tenant, id: CustomerId) -> Result<Customer, CareError> {
    customers::get(&tenant.db, id).await?.ok_or(CareError::NotFound)
}

/// One of `customer`'s invoices (`NotFound` for anyone else's).
async fn invoice_of(tenant: &Tenant, customer: &Customer, invoice_id: &str) -> Result<Invoice, CareError> {
    invoices::get_owned(&tenant.db, invoice_id.trim(), customer.id).await?.ok_or(CareError::NotFound)
}

async fn record(
    state: &AppState,
    ip: Option<IpAddr>,
    actor: &Actor<'_>,
    tenant: &Tenant,
    action: &str,
    detail: &str,
) -> Result<(), BackendError> {
    audit::record_by(state.central(), ip, actor, Some(tenant.id), action, detail).await
}

/// What a credit adjustment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adjusted {
    pub balance: Money,
    /// `false` when this form had been submitted before: nothing moved now.
    pub created: bool,
}

/// Adds credit to, or removes credit from, the customer's prepaid balance: one ledger entry (kind
/// `adjustment`, the reason as its memo, so the customer sees why), never an edit of the balance. A
/// removal larger than the balance is refused. `request` is the form's one-time key: the same submit
/// moves money once.
#[allow(clippy::too_many_arguments)]
pub async fn adjust_credit(
    state: &AppState,
    ip: Option<IpAddr>,
    actor: &Actor<'_>,
    tenant: &Tenant,
    customer: CustomerId,
    direction: CreditDirection,
    amount: Money,
    reason: &Reason,
    request: Uuid,
) -> Result<Adjusted, CareError> {
    let c = customer_of(tenant, customer).await?;
    if amount.currency() != tenant.currency || amount.minor() <= 0 || amount.minor() > MAX_ADJUSTMENT_MINOR {
        return Err(CareError::Invalid(format!(
            "Enter an amount more than zero and at most {}.",
            Money::from_minor(MAX_ADJUSTMENT_MINOR, tenant.currency)
        )));
    }
    // The direction is part of it: the page's two credit forms share its one-time key.
    let reference = format!("adjustment:{direction}:{customer}:{request}");
    let (created, action) = match direction {
        CreditDirection::Add => {
            let memo = format!("Credit added: {reason}");
            // Through the meter's top-up: it also re-arms the low-balance alerts and lifts "credit ran out".
            let done = meter::top_up(tenant, customer, amount, EntryKind::Adjustment, &reference, &memo).await?;
            (done, "customer.credit_added")
        }
        CreditDirection::Remove => {
            let memo = format!("Credit removed: {reason}");
            let debit = Money::from_minor(-amount.minor(), amount.currency());
            match ledger::post(&tenant.db, customer, EntryKind::Adjustment, debit, &reference, &memo, now()).await? {
                Posted::Done => (true, "customer.credit_removed"),
                Posted::AlreadyRecorded => (false, "customer.credit_removed"),
                Posted::Insufficient => {
                    let balance = ledger::balance(&tenant.db, customer, tenant.currency).await?;
                    return Err(CareError::Invalid(format!(
                        "The balance is {balance}: at most that much can be removed."
                    )));
                }
            }
        }
    };
    if created {
        record(state, ip, actor, tenant, action, &format!("{}: {amount} ({reason})", c.email)).await?;
    }
    Ok(Adjusted { balance: ledger::balance(&tenant.db, customer, tenant.currency).await?, created })
}

/// What a credit note (or refund) came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditOutcome {
    pub credit_note_id: String,
    /// Returned to prepaid credit.
    pub to_credit: Money,
    /// Sent back to the card, and how that stands.
    pub to_card: Option<(Money, CardRefundStatus)>,
    /// `false` when this form had been submitted before: nothing new was issued.
    pub created: bool,
}

/// Issues a credit note against one of the customer's finalised (or paid) invoices, for at most what is
/// left to credit on it. `to` the card: what the invoice's card payment covers goes back to the card
/// through the storefront's Stripe (exactly once, resumable: see `billing::refunds`), the rest to prepaid
/// credit; `to` credit: all of it to prepaid credit. Refunds of the invoice left unfinished by an earlier
/// attempt are finished first. `request` is the form's one-time key.
#[allow(clippy::too_many_arguments)]
pub async fn credit_invoice(
    state: &AppState,
    ip: Option<IpAddr>,
    actor: &Actor<'_>,
    tenant: &Tenant,
    customer: CustomerId,
    invoice_id: &str,
    amount: Money,
    to: CreditTo,
    reason: &Reason,
    request: Uuid,
) -> Result<CreditOutcome, CareError> {
    let c = customer_of(tenant, customer).await?;
    let inv = invoice_of(tenant, &c, invoice_id).await?;
    for pending in refunds::pending_of(&tenant.db, &inv.id).await? {
        refunds::settle(state, tenant, &pending, &inv).await?;
    }
    // Per invoice: every invoice's form on the page carries the page's one-time key.
    let key = format!("credit:{}:{request}", inv.id);
    let credited = invoices::credit(&tenant.db, &inv.id, amount, reason.as_str(), to, Some(&key), now()).await?;
    let Credited { credit_note_id, to_credit, card_refund, created } = match credited {
        Ok(c) => c,
        Err(NotCredited::NoSuchInvoice) => return Err(CareError::NotFound),
        Err(NotCredited::NotCreditable) => {
            return Err(CareError::Conflict(format!(
                "Invoice {} is {}: only a finalised or paid invoice can be credited.",
                inv.display_number(),
                inv.status
            )))
        }
        Err(NotCredited::BadAmount { left }) => {
            return Err(CareError::Invalid(format!(
                "The amount must be more than zero and at most {left}, what is left to credit on {}.",
                inv.display_number()
            )))
        }
        Err(NotCredited::KeyReused) => {
            return Err(CareError::Conflict("This form was already used for another invoice; reload the page.".into()))
        }
    };
    let mut to_card = None;
    if let Some(id) = card_refund {
        let refund = refunds::get(&tenant.db, &id).await?.ok_or_else(|| corrupt("card refund vanished"))?;
        let status = refunds::settle(state, tenant, &refund, &inv).await?;
        to_card = Some((refund.amount, status));
    }
    if created {
        let card = to_card.map(|(m, _)| format!(", {m} to the card")).unwrap_or_default();
        let (action, what) =
            if to_card.is_some() { ("invoice.refunded", "refund") } else { ("invoice.credited", "credit") };
        let detail = format!(
            "{} {}: {what} of {amount} ({to_credit} to credit{card}) ({reason})",
            c.email,
            inv.display_number()
        );
        record(state, ip, actor, tenant, action, &detail).await?;
    }
    Ok(CreditOutcome { credit_note_id, to_credit, to_card, created })
}

/// Voids one of the customer's draft invoices: it will never be numbered, sent or charged, and what
/// metering had charged to credit for its period is given back. A finalised invoice is refused (it is
/// corrected with a credit note). Voiding a void draft again changes nothing.
pub async fn void_draft(
    state: &AppState,
    ip: Option<IpAddr>,
    actor: &Actor<'_>,
    tenant: &Tenant,
    customer: CustomerId,
    invoice_id: &str,
    reason: &Reason,
) -> Result<Option<Money>, CareError> {
    let c = customer_of(tenant, customer).await?;
    let inv = invoice_of(tenant, &c, invoice_id).await?;
    match invoices::void_draft(&tenant.db, &inv.id, now()).await? {
        VoidedDraft::Voided { returned } => {
            let detail = format!("{} draft for {}: {returned} returned to credit ({reason})", c.email, inv.period);
            record(state, ip, actor, tenant, "invoice.voided", &detail).await?;
            Ok(Some(returned))
        }
        VoidedDraft::AlreadyVoid => Ok(None),
        VoidedDraft::NotDraft => Err(CareError::Conflict(format!(
            "Invoice {} is {}: only a draft can be voided. Correct a finalised invoice with a credit note.",
            inv.display_number(),
            inv.status
        ))),
        VoidedDraft::NoSuchInvoice => Err(CareError::NotFound),
    }
}

/// What a suspension did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suspended {
    /// Running workspaces stopped now (their billing closed at this moment).
    pub stopped: usize,
    /// `false` when the account was suspended already (its workspaces were checked again all the same).
    pub created: bool,
}

/// Suspends the customer: from the moment it commits they cannot order or start workspaces (and no meter
/// of theirs opens, see `workspaces::store::start_meter`); then every running workspace of theirs is
/// stopped, its billing closing now, and those on their way up are stopped before they bill. Suspending a
/// suspended customer stops anything still running (a retry finishes an interrupted suspension).
pub async fn suspend(
    state: &AppState,
    ip: Option<IpAddr>,
    actor: &Actor<'_>,
    tenant: &Tenant,
    customer: CustomerId,
    reason: &Reason,
) -> Result<Suspended, CareError> {
    let c = customer_of(tenant, customer).await?;
    let at = now();
    let created = customers::suspend(&tenant.db, customer, reason.as_str(), at).await?;
    if created {
        // Recorded before the workspaces are stopped: the suspension is in force from here.
        record(state, ip, actor, tenant, "customer.suspended", &format!("{} ({reason})", c.email)).await?;
    }
    let stopped = provisioning::stop_all_of(state, tenant, customer, at).await?;
    Ok(Suspended { stopped, created })
}

/// Lifts a suspension: the customer may order and start workspaces again (stopped ones stay stopped until
/// they start them). `false` when the account was not suspended.
pub async fn unsuspend(
    state: &AppState,
    ip: Option<IpAddr>,
    actor: &Actor<'_>,
    tenant: &Tenant,
    customer: CustomerId,
    reason: &Reason,
) -> Result<bool, CareError> {
    let c = customer_of(tenant, customer).await?;
    let lifted = customers::unsuspend(&tenant.db, customer).await?;
    if lifted {
        record(state, ip, actor, tenant, "customer.unsuspended", &format!("{} ({reason})", c.email)).await?;
    }
    Ok(lifted)
}

/// Emails one of the customer's invoices (or credit notes) to them again, with its PDF: once per form
/// submit (a retried submit queues and records nothing more). A draft has nothing to send yet. `true` when
/// queued now.
#[allow(clippy::too_many_arguments)]
pub async fn resend_invoice(
    state: &AppState,
    ip: Option<IpAddr>,
    actor: &Actor<'_>,
    tenant: &Tenant,
    customer: CustomerId,
    invoice_id: &str,
    reason: &Reason,
    request: Uuid,
) -> Result<bool, CareError> {
    let c = customer_of(tenant, customer).await?;
    let inv = invoice_of(tenant, &c, invoice_id).await?;
    if inv.status == Status::Draft {
        return Err(CareError::Conflict("A draft has no number yet and is not sent; finalise or void it.".into()));
    }
    let number = inv.display_number();
    let queued = notify::invoice_resent(state, tenant, c.id, &inv.id, &number, inv.total, &request.to_string()).await?;
    if queued {
        let detail = format!("{} {number} to {} ({reason})", inv.kind.label(), c.email);
        record(state, ip, actor, tenant, "invoice.resent", &detail).await?;
    }
    Ok(queued)
}
