//! Refunds to the card an invoice was paid with, exactly once.
//!
//! A card refund is written `pending` in the transaction of its credit note (`invoices::credit`), before
//! Stripe hears of it; [`settle`] then asks Stripe with the row's id as the idempotency key and records the
//! answer. Whatever stops it half-way (a crash, Stripe not answering), the next [`settle`] of the same row
//! sends the same request under the same key, and Stripe answers the first refund again instead of making a
//! second. When Stripe refuses for good (the payment is no longer refundable, the store's keys are gone),
//! the amount goes to the customer's prepaid credit instead, in the transaction that marks the row failed,
//! so the credit note always reaches the customer one way or the other.

use uuid::Uuid;

use super::invoices::Invoice;
use super::ledger::{self, EntryKind, Tx};
use super::payments::{self, RefundAttempt};
use crate::backend::platform::db::{now, TenantDb};
use crate::backend::state::{AppState, Tenant};
use crate::backend::{corrupt, BackendError, Result};
use crate::domain::customer_care::CardRefundStatus;
use crate::domain::ids::CustomerId;
use crate::domain::money::{Currency, Money};
use crate::domain::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardRefund {
    pub id: String,
    pub invoice_id: String,
    pub credit_note_id: String,
    pub payment_intent: String,
    pub amount: Money,
    pub status: CardRefundStatus,
    pub stripe_refund_id: Option<String>,
    /// Why Stripe refused it (then the amount went to prepaid credit).
    pub failure: Option<String>,
    pub created_at: Timestamp,
}

macro_rules! refund_columns {
    () => {
        "r.id, r.invoice_id, r.credit_note_id, r.payment_intent, r.amount_minor, r.currency, r.status, \
         r.stripe_refund_id, r.failure, r.created_at"
    };
}

/// A `card_refunds` row as stored ([`refund_columns!`]).
#[derive(sqlx::FromRow)]
struct RefundRow {
    id: String,
    invoice_id: String,
    credit_note_id: String,
    payment_intent: String,
    amount_minor: i64,
    currency: String,
    status: String,
    stripe_refund_id: Option<String>,
    failure: Option<String>,
    created_at: i64,
}

impl TryFrom<RefundRow> for CardRefund {
    type Error = BackendError;

    fn try_from(r: RefundRow) -> Result<CardRefund> {
        let currency = Currency::parse(&r.currency).map_err(|_| corrupt("card_refunds.currency"))?;
        Ok(CardRefund {
            id: r.id,
            invoice_id: r.invoice_id,
            credit_note_id: r.credit_note_id,
            payment_intent: r.payment_intent,
            amount: Money::from_minor(r.amount_minor, currency),
            status: CardRefundStatus::parse(&r.status).map_err(|_| corrupt("card_refunds.status"))?,
            stripe_refund_id: r.stripe_refund_id,
            failure: r.failure,
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

/// Records a refund of `amount` to be sent for payment `payment_intent`, inside the credit note's
/// transaction. Returns its id (also its idempotency key at Stripe).
pub(crate) async fn insert_pending_in(
    tx: &mut Tx<'_>,
    invoice_id: &str,
    credit_note_id: &str,
    payment_intent: &str,
    amount: Money,
    at: Timestamp,
) -> Result<String> {
    let id = Uuid::new_v4().to_string();
    sqlx::query(
        "INSERT INTO card_refunds (id, invoice_id, credit_note_id, payment_intent, amount_minor, currency, status, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&id)
    .bind(invoice_id)
    .bind(credit_note_id)
    .bind(payment_intent)
    .bind(amount.minor())
    .bind(amount.currency().code())
    .bind(CardRefundStatus::Pending.as_str())
    .bind(at.as_millis())
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// What refunds have given back (or are giving back) to the card that paid `invoice_id`: the failed ones
/// went to credit, not to the card.
pub(crate) async fn card_refunded_in(tx: &mut Tx<'_>, invoice_id: &str) -> Result<i64> {
    let sum: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(amount_minor) AS BIGINT) FROM card_refunds WHERE invoice_id = $1 AND status <> $2",
    )
    .bind(invoice_id)
    .bind(CardRefundStatus::Failed.as_str())
    .fetch_one(&mut **tx)
    .await?;
    Ok(sum.unwrap_or(0))
}

pub async fn get(db: &TenantDb, id: &str) -> Result<Option<CardRefund>> {
    let row =
        sqlx::query_as::<_, RefundRow>(concat!("SELECT ", refund_columns!(), " FROM card_refunds r WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    row.map(CardRefund::try_from).transpose()
}

/// The card refund a credit note made, if it made one.
pub async fn of_credit_note(db: &TenantDb, credit_note_id: &str) -> Result<Option<CardRefund>> {
    let row = sqlx::query_as::<_, RefundRow>(concat!(
        "SELECT ",
        refund_columns!(),
        " FROM card_refunds r WHERE r.credit_note_id = $1"
    ))
    .bind(credit_note_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(CardRefund::try_from).transpose()
}

/// The refunds of an invoice still waiting for Stripe's answer, oldest first.
pub async fn pending_of(db: &TenantDb, invoice_id: &str) -> Result<Vec<CardRefund>> {
    let rows = sqlx::query_as::<_, RefundRow>(concat!(
        "SELECT ",
        refund_columns!(),
        " FROM card_refunds r WHERE r.invoice_id = $1 AND r.status = $2 ORDER BY r.created_at, r.id"
    ))
    .bind(invoice_id)
    .bind(CardRefundStatus::Pending.as_str())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(CardRefund::try_from).collect()
}

/// Every card refund of the customer's invoices, newest first.
pub async fn of_customer(db: &TenantDb, customer: CustomerId) -> Result<Vec<CardRefund>> {
    let rows = sqlx::query_as::<_, RefundRow>(concat!(
        "SELECT ",
        refund_columns!(),
        " FROM card_refunds r JOIN invoices i ON i.id = r.invoice_id WHERE i.customer_id = $1 \
         ORDER BY r.created_at DESC, r.id"
    ))
    .bind(customer.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(CardRefund::try_from).collect()
}

/// Sends a pending refund to Stripe (under its own id as the idempotency key) and records the answer:
/// refunded; refused for good (then credited to prepaid credit instead, once); or no answer (still
/// pending: the next call sends it again). A refund that is no longer pending is left as it is.
pub async fn settle(
    state: &AppState,
    tenant: &Tenant,
    refund: &CardRefund,
    invoice: &Invoice,
) -> Result<CardRefundStatus> {
    if refund.status != CardRefundStatus::Pending {
        return Ok(refund.status);
    }
    let key = format!("refund:{}", refund.id);
    let metadata = [("invoice_id", refund.invoice_id.as_str()), ("credit_note_id", refund.credit_note_id.as_str())];
    match payments::refund_card(state, tenant, &refund.payment_intent, refund.amount, &key, &metadata).await? {
        RefundAttempt::Refunded(stripe_id) => {
            sqlx::query(
                "UPDATE card_refunds SET status = $1, stripe_refund_id = $2, updated_at = $3 WHERE id = $4 AND status = $5",
            )
            .bind(CardRefundStatus::Refunded.as_str())
            .bind(&stripe_id)
            .bind(now().as_millis())
            .bind(&refund.id)
            .bind(CardRefundStatus::Pending.as_str())
            .execute(tenant.db.pool())
            .await?;
            tracing::info!(refund = %refund.id, stripe = %stripe_id, "card refund accepted by Stripe");
            Ok(CardRefundStatus::Refunded)
        }
        RefundAttempt::Refused(why) => {
            tracing::warn!(refund = %refund.id, why, "Stripe refused a card refund; the amount goes to credit");
            let mut tx = tenant.db.begin().await?;
            let marked = sqlx::query(
                "UPDATE card_refunds SET status = $1, failure = $2, updated_at = $3 WHERE id = $4 AND status = $5",
            )
            .bind(CardRefundStatus::Failed.as_str())
            .bind(&why)
            .bind(now().as_millis())
            .bind(&refund.id)
            .bind(CardRefundStatus::Pending.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if marked {
                // The credit note now says where the money went: to credit, not to the card.
                sqlx::query(
                    "UPDATE invoices SET credit_applied_minor = credit_applied_minor + $1, \
                     card_paid_minor = card_paid_minor - $1 WHERE id = $2",
                )
                .bind(refund.amount.minor())
                .bind(&refund.credit_note_id)
                .execute(&mut *tx)
                .await?;
                ledger::post_in(
                    &mut tx,
                    invoice.customer_id,
                    EntryKind::Refund,
                    refund.amount,
                    &format!("card_refund_failed:{}", refund.id),
                    &format!("Refund for {} (the card could not take it)", invoice.display_number()),
                    now(),
                )
                .await?;
            }
            tx.commit().await?;
            Ok(CardRefundStatus::Failed)
        }
        RefundAttempt::Unreachable => Ok(CardRefundStatus::Pending),
    }
}
