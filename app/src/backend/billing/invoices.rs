//! Invoices and credit notes: draft → finalised (numbered, immutable) → paid, or void. Numbers come from a
//! counter incremented in the finalising transaction, so they are sequential with no gaps: a transaction
//! that does not finalise rolls its increment back.

use uuid::Uuid;

use super::ledger::{self, EntryKind, Posted, Tx};
use crate::backend::platform::db::TenantDb;
use crate::backend::{corrupt, Result};
use crate::domain::ids::CustomerId;
use crate::domain::money::{Currency, Money};
use crate::domain::time::Timestamp;

pub use crate::domain::billing_state::{InvoiceKind, InvoiceStatus as Status};
pub use crate::domain::customer_care::CreditTo;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    pub customer_id: CustomerId,
    pub kind: InvoiceKind,
    pub corrects: Option<String>,
    pub period: String,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub number: Option<i64>,
    pub status: Status,
    pub total: Money,
    pub credit_applied: Money,
    pub card_paid: Money,
    pub payment_attempts: i64,
    pub next_payment_at: Option<Timestamp>,
    pub last_payment_error: Option<String>,
    pub memo: String,
    pub created_at: Timestamp,
    pub finalised_at: Option<Timestamp>,
    pub paid_at: Option<Timestamp>,
    pub emailed_at: Option<Timestamp>,
    /// When what it leaves due must be paid (set when it is finalised unpaid).
    pub due_at: Option<Timestamp>,
    /// The last reminder queued about it ([`crate::domain::payment_terms::Reminder`] number, 0: none).
    pub reminders_sent: i64,
    /// The card payment that paid it (a refund goes back through it).
    pub card_payment_intent: Option<String>,
}

impl Invoice {
    /// What is still to pay.
    pub fn amount_due(&self) -> Money {
        let due = self.total.minor() - self.credit_applied.minor() - self.card_paid.minor();
        Money::from_minor(due.max(0), self.total.currency())
    }

    /// `INV-000042` (credit notes `CN-…`).
    pub fn display_number(&self) -> String {
        let prefix = self.kind.number_prefix();
        match self.number {
            Some(n) => format!("{prefix}-{n:06}"),
            None => "draft".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub position: i64,
    pub workspace_id: Option<String>,
    pub description: String,
    pub rate: Option<String>,
    pub increments: i64,
    pub amount: Money,
    pub wholesale: Money,
    /// The usage sessions it bills: (session id, started, ended, increments in this period).
    pub sessions: Vec<(String, Timestamp, Option<Timestamp>, i64)>,
}

macro_rules! invoice_columns {
    () => {
        "id, customer_id, kind, corrects, period, period_start, period_end, number, status, currency, total_minor, \
         credit_applied_minor, card_paid_minor, payment_attempts, next_payment_at, last_payment_error, memo, \
         created_at, finalised_at, paid_at, emailed_at, due_at, reminders_sent, card_payment_intent"
    };
}

fn ts(v: Option<i64>) -> Option<Timestamp> {
    v.map(Timestamp::from_millis)
}

/// An `invoices` row as stored.
#[derive(sqlx::FromRow)]
struct InvoiceRow {
    id: String,
    customer_id: String,
    kind: String,
    corrects: Option<String>,
    period: String,
    period_start: i64,
    period_end: i64,
    number: Option<i64>,
    status: String,
    currency: String,
    total_minor: i64,
    credit_applied_minor: i64,
    card_paid_minor: i64,
    payment_attempts: i64,
    next_payment_at: Option<i64>,
    last_payment_error: Option<String>,
    memo: String,
    created_at: i64,
    finalised_at: Option<i64>,
    paid_at: Option<i64>,
    emailed_at: Option<i64>,
    due_at: Option<i64>,
    reminders_sent: i64,
    card_payment_intent: Option<String>,
}

impl TryFrom<InvoiceRow> for Invoice {
    type Error = crate::backend::BackendError;

    fn try_from(r: InvoiceRow) -> Result<Invoice> {
        let currency = Currency::parse(&r.currency).map_err(|_| corrupt("invoices.currency"))?;
        Ok(Invoice {
            id: r.id,
            customer_id: r.customer_id.parse().map_err(|_| corrupt("invoices.customer_id"))?,
            kind: InvoiceKind::parse(&r.kind).map_err(|_| corrupt("invoices.kind"))?,
            corrects: r.corrects,
            period: r.period,
            period_start: Timestamp::from_millis(r.period_start),
            period_end: Timestamp::from_millis(r.period_end),
            number: r.number,
            status: Status::parse(&r.status).map_err(|_| corrupt("invoices.status"))?,
            total: Money::from_minor(r.total_minor, currency),
            credit_applied: Money::from_minor(r.credit_applied_minor, currency),
            card_paid: Money::from_minor(r.card_paid_minor, currency),
            payment_attempts: r.payment_attempts,
            next_payment_at: ts(r.next_payment_at),
            last_payment_error: r.last_payment_error,
            memo: r.memo,
            created_at: Timestamp::from_millis(r.created_at),
            finalised_at: ts(r.finalised_at),
            paid_at: ts(r.paid_at),
            emailed_at: ts(r.emailed_at),
            due_at: ts(r.due_at),
            reminders_sent: r.reminders_sent,
            card_payment_intent: r.card_payment_intent,
        })
    }
}

/// An `invoice_lines` row as stored.
#[derive(sqlx::FromRow)]
struct LineRow {
    id: String,
    position: i64,
    workspace_id: Option<String>,
    description: String,
    rate: Option<String>,
    increments: i64,
    amount_minor: i64,
    wholesale_minor: i64,
}

/// A billed segment of a line, with its session's times.
#[derive(sqlx::FromRow)]
struct LineSegmentRow {
    line_id: String,
    usage_session_id: String,
    started_at: i64,
    ended_at: Option<i64>,
    increments: i64,
}

pub async fn get(db: &TenantDb, id: &str) -> Result<Option<Invoice>> {
    let row = sqlx::query_as::<_, InvoiceRow>(concat!("SELECT ", invoice_columns!(), " FROM invoices WHERE id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.map(Invoice::try_from).transpose()
}

/// Only if it is this customer's: the one lookup customer-facing pages use.
pub async fn get_owned(db: &TenantDb, id: &str, customer: CustomerId) -> Result<Option<Invoice>> {
    Ok(get(db, id).await?.filter(|i| i.customer_id == customer))
}

/// The customer's invoices and credit notes, newest first (drafts are not shown to customers).
pub async fn list_for(db: &TenantDb, customer: CustomerId) -> Result<Vec<Invoice>> {
    let rows = sqlx::query_as::<_, InvoiceRow>(concat!(
        "SELECT ",
        invoice_columns!(),
        " FROM invoices WHERE customer_id = $1 AND status <> 'draft' ORDER BY created_at DESC, id"
    ))
    .bind(customer.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Invoice::try_from).collect()
}

/// Every invoice of a period (the run's own bookkeeping).
pub async fn list_period(db: &TenantDb, period: &str) -> Result<Vec<Invoice>> {
    let rows = sqlx::query_as::<_, InvoiceRow>(concat!(
        "SELECT ",
        invoice_columns!(),
        " FROM invoices WHERE period = $1 AND kind = 'invoice' ORDER BY created_at, id"
    ))
    .bind(period)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Invoice::try_from).collect()
}

pub async fn lines(db: &TenantDb, invoice_id: &str, currency: Currency) -> Result<Vec<Line>> {
    let rows = sqlx::query_as::<_, LineRow>(
        "SELECT id, position, workspace_id, description, rate, increments, amount_minor, wholesale_minor \
         FROM invoice_lines WHERE invoice_id = $1 ORDER BY position",
    )
    .bind(invoice_id)
    .fetch_all(db.pool())
    .await?;
    // Every line's sessions in one read (a read per line made a long invoice one round trip per line).
    let segments = sqlx::query_as::<_, LineSegmentRow>(
        "SELECT b.line_id, b.usage_session_id, u.started_at, u.ended_at, b.increments FROM invoice_lines l \
         JOIN billed_segments b ON b.line_id = l.id JOIN usage_sessions u ON u.id = b.usage_session_id \
         WHERE l.invoice_id = $1 ORDER BY u.started_at",
    )
    .bind(invoice_id)
    .fetch_all(db.pool())
    .await?;
    let mut by_line: std::collections::HashMap<String, Vec<_>> = std::collections::HashMap::new();
    for s in segments {
        by_line.entry(s.line_id).or_default().push((
            s.usage_session_id,
            Timestamp::from_millis(s.started_at),
            ts(s.ended_at),
            s.increments,
        ));
    }
    Ok(rows
        .into_iter()
        .map(|r| Line {
            sessions: by_line.remove(&r.id).unwrap_or_default(),
            position: r.position,
            workspace_id: r.workspace_id,
            description: r.description,
            rate: r.rate,
            increments: r.increments,
            amount: Money::from_minor(r.amount_minor, currency),
            wholesale: Money::from_minor(r.wholesale_minor, currency),
        })
        .collect())
}

/// Finalises a draft: gives it the next number and settles what prepaid credit can (the usage metering
/// already charged to credit for the period, then the balance); what is left is due by the storefront's
/// `terms`. `false` when it was not a draft (someone else finalised it). One transaction: the number, the
/// status and the credit move together.
pub async fn finalise(
    db: &TenantDb,
    id: &str,
    now: Timestamp,
    terms: crate::domain::payment_terms::CustomerTerms,
    failpoints: &crate::backend::platform::failpoints::Failpoints,
) -> Result<bool> {
    let mut tx = db.begin().await?;
    // The counter row is the tenant-wide lock: numbers are handed out one finalisation at a time.
    let number: i64 =
        sqlx::query_scalar("UPDATE counters SET value = value + 1 WHERE name = 'invoice_number' RETURNING value")
            .fetch_one(&mut *tx)
            .await?;
    let Some(inv) = get_in(&mut tx, id).await? else {
        tx.rollback().await?;
        return Ok(false);
    };
    if inv.status != Status::Draft {
        tx.rollback().await?;
        return Ok(false);
    }
    let charged: Option<i64> =
        sqlx::query_scalar("SELECT charged_minor FROM usage_charges WHERE customer_id = $1 AND period = $2")
            .bind(inv.customer_id.to_string())
            .bind(&inv.period)
            .fetch_optional(&mut *tx)
            .await?;
    let total = inv.total.minor();
    let mut applied = charged.unwrap_or(0).clamp(0, total.max(0));
    let rest = total - applied;
    if rest > 0 {
        let available = ledger::balance_in(&mut tx, inv.customer_id).await?;
        let take = available.min(rest);
        if take > 0 {
            let posted = ledger::post_in(
                &mut tx,
                inv.customer_id,
                EntryKind::InvoicePayment,
                Money::from_minor(-take, inv.total.currency()),
                &format!("invoice:{id}"),
                &format!("Invoice {}", number),
                now,
            )
            .await?;
            if posted == Posted::Done {
                applied += take;
            }
        }
    }
    let paid = applied >= total;
    let status = if paid { Status::Paid } else { Status::Finalised };
    let n = sqlx::query(
        "UPDATE invoices SET number = $1, status = $2, finalised_at = $3, credit_applied_minor = $4, \
         paid_at = $5, next_payment_at = $6, due_at = $7 WHERE id = $8 AND status = 'draft'",
    )
    .bind(number)
    .bind(status.as_str())
    .bind(now.as_millis())
    .bind(applied)
    .bind(paid.then_some(now.as_millis()))
    .bind((!paid).then_some(now.as_millis()))
    .bind((!paid).then_some(terms.due_at(now).as_millis()))
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    // A crash here loses the number and the credit movement together: the sequence keeps no gap.
    failpoints.check("billing.numbered")?;
    tx.commit().await?;
    Ok(true)
}

async fn get_in(tx: &mut Tx<'_>, id: &str) -> Result<Option<Invoice>> {
    let row = sqlx::query_as::<_, InvoiceRow>(concat!("SELECT ", invoice_columns!(), " FROM invoices WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(Invoice::try_from).transpose()
}

/// Pays a customer's open invoices from their prepaid credit, oldest first, as far as the balance goes
/// (after a top-up or a credit). One transaction; each payment is a ledger entry whose reference names the
/// invoice and what was applied to it before, so a retry or a concurrent run applies nothing twice.
/// Returns how many invoices it paid in full.
pub async fn settle_from_credit(db: &TenantDb, customer: CustomerId, now: Timestamp) -> Result<usize> {
    let mut tx = db.begin().await?;
    let rows = sqlx::query_as::<_, InvoiceRow>(concat!(
        "SELECT ",
        invoice_columns!(),
        " FROM invoices WHERE customer_id = $1 AND kind = 'invoice' AND status = 'finalised' \
         AND total_minor > credit_applied_minor + card_paid_minor ORDER BY finalised_at, number"
    ))
    .bind(customer.to_string())
    .fetch_all(&mut *tx)
    .await?;
    let mut paid = 0;
    for row in rows {
        let inv = Invoice::try_from(row)?;
        let available = ledger::balance_in(&mut tx, customer).await?;
        let due = inv.amount_due().minor();
        let take = available.min(due);
        if take <= 0 {
            break;
        }
        let posted = ledger::post_in(
            &mut tx,
            customer,
            EntryKind::InvoicePayment,
            Money::from_minor(-take, inv.total.currency()),
            &format!("settle:{}:{}", inv.id, inv.credit_applied.minor()),
            &format!("Invoice {}", inv.display_number()),
            now,
        )
        .await?;
        if posted != Posted::Done {
            continue;
        }
        let full = take == due;
        sqlx::query(
            "UPDATE invoices SET credit_applied_minor = credit_applied_minor + $1, \
             status = CASE WHEN $2 = 1 THEN 'paid' ELSE status END, paid_at = CASE WHEN $2 = 1 THEN $3 ELSE paid_at END, \
             next_payment_at = CASE WHEN $2 = 1 THEN NULL ELSE next_payment_at END \
             WHERE id = $4 AND status = 'finalised' AND credit_applied_minor = $5",
        )
        .bind(take)
        .bind(i64::from(full))
        .bind(now.as_millis())
        .bind(&inv.id)
        .bind(inv.credit_applied.minor())
        .execute(&mut *tx)
        .await?;
        if full {
            paid += 1;
        }
    }
    tx.commit().await?;
    Ok(paid)
}

/// A customer's finalised invoices still due past their storefront's grace at `now` (new orders wait).
pub async fn overdue(
    db: &TenantDb,
    customer: CustomerId,
    terms: crate::domain::payment_terms::CustomerTerms,
    now: Timestamp,
) -> Result<Vec<Invoice>> {
    let rows = sqlx::query_as::<_, InvoiceRow>(concat!(
        "SELECT ",
        invoice_columns!(),
        " FROM invoices WHERE customer_id = $1 AND kind = 'invoice' AND status = 'finalised' AND due_at IS NOT NULL \
         AND total_minor > credit_applied_minor + card_paid_minor ORDER BY due_at"
    ))
    .bind(customer.to_string())
    .fetch_all(db.pool())
    .await?;
    let all = rows.into_iter().map(Invoice::try_from).collect::<Result<Vec<_>>>()?;
    Ok(all.into_iter().filter(|i| i.due_at.is_some_and(|d| terms.blocks_orders(d, now))).collect())
}

/// Open invoices with a due date, across the storefront (the reminder pass).
pub async fn open_with_due_date(db: &TenantDb) -> Result<Vec<Invoice>> {
    let rows = sqlx::query_as::<_, InvoiceRow>(concat!(
        "SELECT ",
        invoice_columns!(),
        " FROM invoices WHERE kind = 'invoice' AND status = 'finalised' AND due_at IS NOT NULL \
         AND total_minor > credit_applied_minor + card_paid_minor AND reminders_sent < 3"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Invoice::try_from).collect()
}

/// Records that reminder `number` about an invoice was queued; `false` if it (or a later one) already was.
pub async fn mark_reminded(db: &TenantDb, id: &str, number: i64) -> Result<bool> {
    Ok(sqlx::query("UPDATE invoices SET reminders_sent = $1 WHERE id = $2 AND reminders_sent < $1")
        .bind(number)
        .bind(id)
        .execute(db.pool())
        .await?
        .rows_affected()
        == 1)
}

/// Records that the invoice email was queued; `false` if it already was.
pub async fn mark_emailed(db: &TenantDb, id: &str, now: Timestamp) -> Result<bool> {
    Ok(sqlx::query("UPDATE invoices SET emailed_at = $1 WHERE id = $2 AND emailed_at IS NULL")
        .bind(now.as_millis())
        .bind(id)
        .execute(db.pool())
        .await?
        .rows_affected()
        == 1)
}

/// Records a card payment by `payment_intent` (idempotent per invoice and amount): paid when nothing is
/// left.
pub async fn record_card_payment(
    db: &TenantDb,
    id: &str,
    amount_minor: i64,
    payment_intent: &str,
    now: Timestamp,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE invoices SET card_paid_minor = card_paid_minor + $1, status = 'paid', paid_at = $2, \
         next_payment_at = NULL, last_payment_error = NULL, card_payment_intent = $4 \
         WHERE id = $3 AND status = 'finalised' AND total_minor - credit_applied_minor - card_paid_minor = $1",
    )
    .bind(amount_minor)
    .bind(now.as_millis())
    .bind(id)
    .bind(payment_intent)
    .execute(db.pool())
    .await?
    .rows_affected()
        == 1)
}

/// What recording a "Pay now" Checkout payment did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutPaid {
    /// The invoice is paid by it now.
    Paid,
    /// This session was recorded before (a repeated webhook, or the customer's return after it).
    AlreadyRecorded,
    /// The invoice no longer leaves exactly this amount due (settled otherwise meanwhile): the caller
    /// credits the payment instead, so no money is lost.
    NotDue,
}

/// Records a "Pay now" Checkout payment of `amount_minor` for an invoice of `customer`, once per session,
/// with the card payment it made (`payment_intent`: a refund goes back through it).
pub async fn record_checkout_payment(
    db: &TenantDb,
    id: &str,
    customer: CustomerId,
    session: &str,
    payment_intent: Option<&str>,
    amount_minor: i64,
    now: Timestamp,
) -> Result<CheckoutPaid> {
    let recorded: Option<Option<String>> =
        sqlx::query_scalar("SELECT paid_checkout FROM invoices WHERE id = $1 AND customer_id = $2")
            .bind(id)
            .bind(customer.to_string())
            .fetch_optional(db.pool())
            .await?;
    if recorded.flatten().as_deref() == Some(session) {
        return Ok(CheckoutPaid::AlreadyRecorded);
    }
    let n = sqlx::query(
        "UPDATE invoices SET card_paid_minor = card_paid_minor + $1, status = 'paid', paid_at = $2, \
         next_payment_at = NULL, last_payment_error = NULL, paid_checkout = $3, card_payment_intent = $6 \
         WHERE id = $4 AND customer_id = $5 AND status = 'finalised' \
         AND total_minor - credit_applied_minor - card_paid_minor = $1",
    )
    .bind(amount_minor)
    .bind(now.as_millis())
    .bind(session)
    .bind(id)
    .bind(customer.to_string())
    .bind(payment_intent)
    .execute(db.pool())
    .await?
    .rows_affected();
    if n == 1 {
        return Ok(CheckoutPaid::Paid);
    }
    // A concurrent completion of the same session may have recorded it while this update waited for the
    // row: read again (after that update, its commit is visible) before calling it "not due".
    let recorded: Option<Option<String>> = sqlx::query_scalar("SELECT paid_checkout FROM invoices WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    Ok(if recorded.flatten().as_deref() == Some(session) {
        CheckoutPaid::AlreadyRecorded
    } else {
        CheckoutPaid::NotDue
    })
}

/// Records a failed card attempt and when to try again (`None` = stop trying).
pub async fn record_card_failure(db: &TenantDb, id: &str, error: &str, next: Option<Timestamp>) -> Result<()> {
    sqlx::query(
        "UPDATE invoices SET payment_attempts = payment_attempts + 1, last_payment_error = $1, next_payment_at = $2 \
         WHERE id = $3 AND status = 'finalised'",
    )
    .bind(error)
    .bind(next.map(Timestamp::as_millis))
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Voids a finalised, unpaid invoice (its number stays used: the sequence has no gaps). What metering
/// charged to credit for it is given back.
pub async fn void(db: &TenantDb, id: &str, now: Timestamp) -> Result<bool> {
    let mut tx = db.begin().await?;
    let Some(inv) = get_in(&mut tx, id).await? else { return Ok(false) };
    if inv.status != Status::Finalised || inv.kind != InvoiceKind::Invoice {
        return Ok(false);
    }
    let refund = inv.credit_applied.minor();
    if refund > 0 {
        ledger::post_in(
            &mut tx,
            inv.customer_id,
            EntryKind::Refund,
            Money::from_minor(refund, inv.total.currency()),
            &format!("void:{id}"),
            &format!("Invoice {} voided", inv.display_number()),
            now,
        )
        .await?;
    }
    sqlx::query("UPDATE invoices SET status = 'void', voided_at = $1 WHERE id = $2 AND status = 'finalised'")
        .bind(now.as_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Issues a credit note against a finalised or paid invoice for `amount` (at most what is not yet
/// credited), numbered in the same sequence, with the amount returned to the customer's credit.
pub async fn credit_note(
    db: &TenantDb,
    invoice_id: &str,
    amount: Money,
    reason: &str,
    now: Timestamp,
) -> Result<std::result::Result<String, &'static str>> {
    Ok(match credit(db, invoice_id, amount, reason, CreditTo::Credit, None, now).await? {
        Ok(c) => Ok(c.credit_note_id),
        Err(NotCredited::NoSuchInvoice) => Err("There is no such invoice."),
        Err(NotCredited::NotCreditable) => Err("Only a finalised invoice can be credited."),
        Err(NotCredited::BadAmount { .. } | NotCredited::KeyReused) => {
            Err("The amount must be more than zero and at most what is left to credit on the invoice.")
        }
    })
}

/// A credit note issued, or found (the same request key was submitted before).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credited {
    pub credit_note_id: String,
    /// Returned to prepaid credit with the credit note.
    pub to_credit: Money,
    /// The card refund written `pending` with it, for `refunds::settle` to send to Stripe.
    pub card_refund: Option<String>,
    /// `false` when an earlier submit with the same request key issued it: nothing was done now.
    pub created: bool,
}

/// Why no credit note was issued; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotCredited {
    NoSuchInvoice,
    /// A draft, a void invoice or a credit note: only finalised and paid invoices are credited.
    NotCreditable,
    /// Not more than zero, or more than is `left` to credit on the invoice.
    BadAmount {
        left: Money,
    },
    /// The request key already issued a credit note against another invoice.
    KeyReused,
}

/// Issues a credit note for `amount` against a finalised or paid invoice, in one transaction: its number
/// (the same gapless sequence), the note (`reason` as its memo), the part returned to prepaid credit, and —
/// `to` the card, for what the invoice's card payment still covers — a pending card refund that
/// `refunds::settle` then sends. A `request_key` makes a retried submit find the first note.
pub async fn credit(
    db: &TenantDb,
    invoice_id: &str,
    amount: Money,
    reason: &str,
    to: CreditTo,
    request_key: Option<&str>,
    now: Timestamp,
) -> Result<std::result::Result<Credited, NotCredited>> {
    let mut tx = db.begin().await?;
    // The counter row is the tenant-wide lock: a retried submit waits for the first one to commit and then
    // finds its note below.
    let number: i64 =
        sqlx::query_scalar("UPDATE counters SET value = value + 1 WHERE name = 'invoice_number' RETURNING value")
            .fetch_one(&mut *tx)
            .await?;
    if let Some(key) = request_key {
        let earlier = sqlx::query_as::<_, EarlierRow>(
            "SELECT id, corrects, credit_applied_minor, currency FROM invoices WHERE request_key = $1",
        )
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(e) = earlier {
            tx.rollback().await?;
            if e.corrects.as_deref() != Some(invoice_id) {
                return Ok(Err(NotCredited::KeyReused));
            }
            let currency = Currency::parse(&e.currency).map_err(|_| corrupt("invoices.currency"))?;
            let card_refund = super::refunds::of_credit_note(db, &e.id).await?.map(|r| r.id);
            return Ok(Ok(Credited {
                credit_note_id: e.id,
                to_credit: Money::from_minor(e.credit_applied_minor, currency),
                card_refund,
                created: false,
            }));
        }
    }
    let Some(inv) = get_in(&mut tx, invoice_id).await? else {
        tx.rollback().await?;
        return Ok(Err(NotCredited::NoSuchInvoice));
    };
    if !matches!(inv.status, Status::Finalised | Status::Paid) || inv.kind != InvoiceKind::Invoice {
        tx.rollback().await?;
        return Ok(Err(NotCredited::NotCreditable));
    }
    let credited: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(total_minor) AS BIGINT) FROM invoices WHERE corrects = $1 AND kind = 'credit_note'",
    )
    .bind(invoice_id)
    .fetch_one(&mut *tx)
    .await?;
    let room = inv.total.minor() - credited.unwrap_or(0);
    if amount.minor() <= 0 || amount.minor() > room || amount.currency() != inv.total.currency() {
        tx.rollback().await?;
        return Ok(Err(NotCredited::BadAmount { left: Money::from_minor(room.max(0), inv.total.currency()) }));
    }
    // Back to the card only what the card paid and no earlier refund has given back.
    let card_part = match (to, inv.card_payment_intent.as_deref()) {
        (CreditTo::Card, Some(_)) => {
            let refunded = super::refunds::card_refunded_in(&mut tx, invoice_id).await?;
            amount.minor().min(inv.card_paid.minor() - refunded).max(0)
        }
        _ => 0,
    };
    let credit_part = amount.minor() - card_part;
    let id = Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO invoices (id, customer_id, kind, corrects, period, period_start, period_end, number, status, \
         currency, total_minor, credit_applied_minor, card_paid_minor, memo, created_at, finalised_at, paid_at, \
         request_key) VALUES ($1, $2, 'credit_note', $3, $4, $5, $6, $7, 'paid', $8, $9, $10, $11, $12, $13, $13, $13, $14)",
    )
    .bind(&id)
    .bind(inv.customer_id.to_string())
    .bind(invoice_id)
    .bind(&inv.period)
    .bind(inv.period_start.as_millis())
    .bind(inv.period_end.as_millis())
    .bind(number)
    .bind(inv.total.currency().code())
    .bind(amount.minor())
    .bind(credit_part)
    .bind(card_part)
    .bind(reason)
    .bind(now.as_millis())
    .bind(request_key)
    .execute(&mut *tx)
    .await?;
    let currency = inv.total.currency();
    ledger::post_in(
        &mut tx,
        inv.customer_id,
        EntryKind::Refund,
        Money::from_minor(credit_part, currency),
        &format!("credit_note:{id}"),
        &format!("Credit note against {}", inv.display_number()),
        now,
    )
    .await?;
    let mut card_refund = None;
    if card_part > 0 {
        let pi = inv.card_payment_intent.as_deref().unwrap_or_default();
        let refund = Money::from_minor(card_part, currency);
        card_refund = Some(super::refunds::insert_pending_in(&mut tx, invoice_id, &id, pi, refund, now).await?);
    }
    tx.commit().await?;
    Ok(Ok(Credited {
        credit_note_id: id,
        to_credit: Money::from_minor(credit_part, currency),
        card_refund,
        created: true,
    }))
}

/// An earlier credit note of the same request key.
#[derive(sqlx::FromRow)]
struct EarlierRow {
    id: String,
    corrects: Option<String>,
    credit_applied_minor: i64,
    currency: String,
}

/// What voiding a draft did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VoidedDraft {
    /// Voided now; what metering had already charged to credit for its period was given back.
    Voided {
        returned: Money,
    },
    /// It was void already (a retried request): nothing changed.
    AlreadyVoid,
    /// Not a draft: a finalised invoice is corrected with a credit note instead.
    NotDraft,
    NoSuchInvoice,
}

/// Voids a draft invoice: it will never be finalised, numbered or charged, and the usage it bills stays
/// billed (by it) so no later run bills it again. What metering charged to credit for the customer's
/// period is given back (reference `void:<id>`, once), since nothing will be invoiced for it.
pub async fn void_draft(db: &TenantDb, id: &str, now: Timestamp) -> Result<VoidedDraft> {
    let mut tx = db.begin().await?;
    // The write first: it takes the lock a concurrent finalisation (also conditional on 'draft') waits on.
    let voided = sqlx::query(
        "UPDATE invoices SET status = 'void', voided_at = $1 WHERE id = $2 AND status = 'draft' AND kind = 'invoice'",
    )
    .bind(now.as_millis())
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    let Some(inv) = get_in(&mut tx, id).await? else {
        tx.rollback().await?;
        return Ok(VoidedDraft::NoSuchInvoice);
    };
    if !voided {
        tx.rollback().await?;
        return Ok(if inv.status == Status::Void { VoidedDraft::AlreadyVoid } else { VoidedDraft::NotDraft });
    }
    let charged: Option<i64> =
        sqlx::query_scalar("SELECT charged_minor FROM usage_charges WHERE customer_id = $1 AND period = $2")
            .bind(inv.customer_id.to_string())
            .bind(&inv.period)
            .fetch_optional(&mut *tx)
            .await?;
    let returned = Money::from_minor(charged.unwrap_or(0).clamp(0, inv.total.minor().max(0)), inv.total.currency());
    ledger::post_in(
        &mut tx,
        inv.customer_id,
        EntryKind::Refund,
        returned,
        &format!("void:{id}"),
        &format!("Draft invoice for {} voided", inv.period),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(VoidedDraft::Voided { returned })
}

/// Every invoice and credit note of the customer, drafts included, newest first (the reseller's view).
pub async fn list_all_for(db: &TenantDb, customer: CustomerId) -> Result<Vec<Invoice>> {
    let rows = sqlx::query_as::<_, InvoiceRow>(concat!(
        "SELECT ",
        invoice_columns!(),
        " FROM invoices WHERE customer_id = $1 ORDER BY created_at DESC, id"
    ))
    .bind(customer.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Invoice::try_from).collect()
}

/// The invoice as CSV: one row per session segment, then the line totals and the invoice total.
pub fn csv(inv: &Invoice, lines: &[Line]) -> String {
    fn field(s: &str) -> String {
        // Quoted, with quotes doubled; a leading formula character is neutralised for spreadsheets.
        let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() };
        format!("\"{}\"", s.replace('"', "\"\""))
    }
    // Amounts and rates stay plain decimals a spreadsheet can add up; the currency has its own column.
    let mut out = String::from(
        "invoice,period,line,description,rate_per_hour,session,started_utc,ended_utc,increments,amount,currency\n",
    );
    let fmt_t = |t: Timestamp| crate::domain::time::format_utc(t);
    let currency = inv.total.currency().code();
    for l in lines {
        for (sid, start, end, n) in &l.sessions {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},,{currency}\n",
                field(&inv.display_number()),
                field(&inv.period),
                l.position,
                field(&l.description),
                field(l.rate.as_deref().unwrap_or("")),
                field(sid),
                field(&fmt_t(*start)),
                field(&end.map(fmt_t).unwrap_or_default()),
                n
            ));
        }
        out.push_str(&format!(
            "{},{},{},{},{},,,,{},{},{currency}\n",
            field(&inv.display_number()),
            field(&inv.period),
            l.position,
            field(&l.description),
            field(l.rate.as_deref().unwrap_or("")),
            l.increments,
            l.amount.to_decimal()
        ));
    }
    out.push_str(&format!(
        "{},{},total,,,,,,,{},{currency}\n",
        field(&inv.display_number()),
        field(&inv.period),
        inv.total.to_decimal()
    ));
    out
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
