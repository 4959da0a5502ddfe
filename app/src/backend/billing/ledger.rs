//! Prepaid credit: an append-only ledger whose sum is the balance.
//!
//! Every entry has a unique `reference` (the checkout session, the metering step, the invoice), so a retried
//! webhook or a re-run payment records once. `credit_balances` holds the running sum beside the ledger and
//! is changed in the same transaction as the entry; a debit is a conditional
//! `UPDATE … SET balance = balance - x WHERE balance >= x`, which concurrent debits apply one after another
//! on the row (PostgreSQL re-checks the condition after waiting for the lock; SQLite has one writer), so the
//! balance can never go below zero — and a CHECK constraint says so too.

use uuid::Uuid;

use crate::backend::platform::db::TenantDb;
use crate::backend::{corrupt, BackendError, Result};
use crate::domain::ids::CustomerId;
use crate::domain::money::{Currency, Money};
use crate::domain::time::Timestamp;

pub use crate::domain::billing_state::LedgerEntryKind as EntryKind;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub kind: EntryKind,
    pub amount: Money,
    pub reference: String,
    pub memo: String,
    pub created_at: Timestamp,
}

/// What a posting did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posted {
    /// Recorded now.
    Done,
    /// This reference was recorded before: nothing changed.
    AlreadyRecorded,
    /// A debit larger than the balance: nothing changed.
    Insufficient,
}

pub(crate) type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Posts `amount` (positive = credit, negative = debit) inside the caller's transaction. A debit that
/// would overdraw changes nothing and says `Insufficient`.
pub(crate) async fn post_in(
    tx: &mut Tx<'_>,
    customer: CustomerId,
    kind: EntryKind,
    amount: Money,
    reference: &str,
    memo: &str,
    now: Timestamp,
) -> Result<Posted> {
    if amount.minor() == 0 {
        return Ok(Posted::Done);
    }
    // The balance row first: it is the lock every posting of this customer queues on.
    sqlx::query(
        "INSERT INTO credit_balances (customer_id, balance_minor) VALUES ($1, 0) ON CONFLICT (customer_id) DO NOTHING",
    )
    .bind(customer.to_string())
    .execute(&mut **tx)
    .await?;
    let moved = sqlx::query(
        "UPDATE credit_balances SET balance_minor = balance_minor + $1 \
         WHERE customer_id = $2 AND balance_minor + $1 >= 0",
    )
    .bind(amount.minor())
    .bind(customer.to_string())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(Posted::Insufficient);
    }
    let inserted = sqlx::query(
        "INSERT INTO credit_ledger (id, customer_id, kind, amount_minor, currency, reference, memo, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (reference) DO NOTHING",
    )
    .bind(Uuid::new_v4().to_string())
    .bind(customer.to_string())
    .bind(kind.as_str())
    .bind(amount.minor())
    .bind(amount.currency().code())
    .bind(reference)
    .bind(memo)
    .bind(now.as_millis())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Recorded before: undo the balance change (the caller's transaction is still open).
        sqlx::query("UPDATE credit_balances SET balance_minor = balance_minor - $1 WHERE customer_id = $2")
            .bind(amount.minor())
            .bind(customer.to_string())
            .execute(&mut **tx)
            .await?;
        return Ok(Posted::AlreadyRecorded);
    }
    Ok(Posted::Done)
}

/// Posts in a transaction of its own.
pub async fn post(
    db: &TenantDb,
    customer: CustomerId,
    kind: EntryKind,
    amount: Money,
    reference: &str,
    memo: &str,
    now: Timestamp,
) -> Result<Posted> {
    let mut tx = db.begin().await?;
    let posted = post_in(&mut tx, customer, kind, amount, reference, memo, now).await?;
    if posted == Posted::Done {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(posted)
}

/// The balance as the running sum keeps it.
pub async fn balance(db: &TenantDb, customer: CustomerId, currency: Currency) -> Result<Money> {
    let b: Option<i64> = sqlx::query_scalar("SELECT balance_minor FROM credit_balances WHERE customer_id = $1")
        .bind(customer.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(Money::from_minor(b.unwrap_or(0), currency))
}

pub(crate) async fn balance_in(tx: &mut Tx<'_>, customer: CustomerId) -> Result<i64> {
    let b: Option<i64> = sqlx::query_scalar("SELECT balance_minor FROM credit_balances WHERE customer_id = $1")
        .bind(customer.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    Ok(b.unwrap_or(0))
}

/// The balance recomputed from the ledger (what the running sum must always equal).
pub async fn ledger_sum(db: &TenantDb, customer: CustomerId) -> Result<i64> {
    let s: Option<i64> =
        sqlx::query_scalar("SELECT CAST(SUM(amount_minor) AS BIGINT) FROM credit_ledger WHERE customer_id = $1")
            .bind(customer.to_string())
            .fetch_one(db.pool())
            .await?;
    Ok(s.unwrap_or(0))
}

/// Newest first.
pub async fn entries(db: &TenantDb, customer: CustomerId, limit: i64) -> Result<Vec<Entry>> {
    let rows = sqlx::query_as::<_, EntryRow>(
        "SELECT id, kind, amount_minor, currency, reference, memo, created_at FROM credit_ledger \
         WHERE customer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(customer.to_string())
    .bind(limit.clamp(1, 10_000))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Entry::try_from).collect()
}

/// A `credit_ledger` row as stored.
#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    kind: String,
    amount_minor: i64,
    currency: String,
    reference: String,
    memo: String,
    created_at: i64,
}

impl TryFrom<EntryRow> for Entry {
    type Error = BackendError;

    fn try_from(r: EntryRow) -> Result<Entry> {
        let currency = Currency::parse(&r.currency).map_err(|_| corrupt("credit_ledger.currency"))?;
        Ok(Entry {
            id: r.id,
            kind: EntryKind::parse(&r.kind).map_err(|_| corrupt("credit_ledger.kind"))?,
            amount: Money::from_minor(r.amount_minor, currency),
            reference: r.reference,
            memo: r.memo,
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

/// How many top-ups the customer has made (low-balance alerts announce once per top-up).
pub async fn topup_count(db: &TenantDb, customer: CustomerId) -> Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM credit_ledger WHERE customer_id = $1 AND kind = 'topup'")
        .bind(customer.to_string())
        .fetch_one(db.pool())
        .await?)
}
