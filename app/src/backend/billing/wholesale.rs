//! Wholesale billing: what each reseller owes the platform for a period.
//!
//! Usage at the wholesale rates frozen on each session (grouped per workspace and rate, each group rounded
//! once, the same `window_lines` as every other amount), less the reseller's discount, plus active
//! subscriptions at wholesale, the monthly platform fee (none for the part of a period inside the
//! reseller's trial), and the commission on its retail revenue. One
//! invoice per (tenant, period), written with its lines and its number (a central gapless counter) in one
//! transaction; emailed to the reseller's owner through the outbox (deduplicated). The house storefront is
//! the platform's own and is never wholesale-billed.

use uuid::Uuid;

use super::invoices::is_unique_violation;
use super::usage::{self, Session};
use crate::backend::mail::{outbox, templates, MailAttachment, Outgoing};
use crate::backend::platform::db::now;
use crate::backend::state::{AppState, Tenant};
use crate::backend::{corrupt, tenancy::branding, tenancy::registry, BackendError};
use crate::domain::billing::{lines_total, window_lines};
use crate::domain::billing_state::WholesaleStatus;
use crate::domain::ids::TenantId;
use crate::domain::money::{Currency, Money};
use crate::domain::period::Period;
use crate::domain::tenant_billing::platform_fee_after_trial;
use crate::domain::time::{format_utc, Timestamp};

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WholesaleInvoice {
    pub id: String,
    pub tenant_id: String,
    pub period: String,
    pub number: i64,
    pub status: WholesaleStatus,
    pub currency: Currency,
    pub retail_minor: i64,
    pub usage_minor: i64,
    pub discount_minor: i64,
    pub subscriptions_minor: i64,
    pub platform_fee_minor: i64,
    pub commission_minor: i64,
    pub total_minor: i64,
    pub created_at: i64,
    pub emailed_at: Option<i64>,
    /// From the tenant's wholesale terms when it was written.
    pub due_at: Option<i64>,
    /// Set once, when it is paid (by the saved card or "Pay now").
    pub paid_at: Option<i64>,
    /// Failed card charges so far.
    pub payment_attempts: i64,
    /// When the saved card is tried (again); `None` once the dunning schedule is over or it is paid.
    pub next_payment_at: Option<i64>,
    pub last_payment_error: Option<String>,
    /// Reminders sent (the number of the last `payment_terms::Reminder`).
    pub reminders_sent: i64,
}

impl WholesaleInvoice {
    pub fn display_number(&self) -> String {
        format!("WS-{:06}", self.number)
    }
}

/// The amounts of a wholesale bill, before it is written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    pub retail: i64,
    pub usage: i64,
    pub discount: i64,
    pub subscriptions: i64,
    pub platform_fee: i64,
    pub commission: i64,
}

impl Figures {
    pub fn total(&self) -> i64 {
        self.usage - self.discount + self.subscriptions + self.platform_fee + self.commission
    }
}

/// `amount × bp / 10 000` minor units, rounded once, half away from zero (integer arithmetic).
fn basis_points(amount: i64, bp: u32) -> Result<i64, BackendError> {
    let num = i128::from(amount) * i128::from(bp);
    let half = if num >= 0 { 5_000 } else { -5_000 };
    i64::try_from((num + half) / 10_000).map_err(|_| corrupt("basis points overflow"))
}

/// Computes a tenant's wholesale figures for a period from its sessions (and subscriptions).
pub async fn figures(
    tenant: &Tenant,
    terms: &crate::domain::tenant::BillingTerms,
    trial_ends_at: Option<Timestamp>,
    period: Period,
    subscriptions_minor: i64,
) -> Result<Figures, BackendError> {
    let t = now();
    let sessions = usage::all_sessions(&tenant.db, period.start(), period.end()).await?;
    let wholesale: Vec<_> = sessions.iter().map(Session::wholesale_fact).collect();
    let retail: Vec<_> = sessions.iter().map(Session::retail_fact).collect();
    let total = |facts: &[crate::domain::billing::UsageFact]| -> Result<i64, BackendError> {
        let lines = window_lines(facts, period.start(), period.end(), t).map_err(|e| corrupt(e.to_string()))?;
        Ok(lines_total(&lines, tenant.currency).map_err(|e| corrupt(e.to_string()))?.minor())
    };
    let usage = total(&wholesale)?;
    let retail = total(&retail)?;
    Ok(Figures {
        retail,
        usage,
        discount: basis_points(usage, terms.wholesale_discount_bp)?,
        subscriptions: subscriptions_minor,
        platform_fee: platform_fee_after_trial(terms.platform_fee_minor, period.start(), period.end(), trial_ends_at),
        commission: basis_points(retail, terms.commission_bp)?,
    })
}

/// What one tenant's wholesale step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    Written,
    AlreadyInvoiced,
    /// The house storefront.
    NotBilled,
}

/// Writes the tenant's wholesale invoice for the period (once), then queues its email (once).
pub async fn bill_tenant(
    state: &AppState,
    tenant: &Tenant,
    period: Period,
    subscriptions_minor: i64,
) -> Result<Outcome, BackendError> {
    let record = registry::record_by_slug(state.central(), &tenant.slug)
        .await?
        .ok_or_else(|| corrupt("tenant record missing"))?;
    if record.is_house {
        return Ok(Outcome::NotBilled);
    }
    let key = period.key();
    let existing = get(state, tenant, &key).await?;
    let outcome = if existing.is_some() {
        Outcome::AlreadyInvoiced
    } else {
        let trial_end = record.trial_ends_at.map(Timestamp::from_millis);
        let f = figures(tenant, &record.terms, trial_end, period, subscriptions_minor).await?;
        let written = now();
        let due_at = super::collection::terms(state.central(), tenant.id).await?.due_at(written);
        let mut tx = state.central().begin().await?;
        let number: i64 = sqlx::query_scalar(
            "UPDATE central_counters SET value = value + 1 WHERE name = 'wholesale_number' RETURNING value",
        )
        .fetch_one(&mut *tx)
        .await?;
        let id = Uuid::new_v4().to_string();
        // Due by the reseller's wholesale terms; the saved card is charged at once (`next_payment_at`), by
        // this run or, after a crash, by the next collection pass.
        let inserted = sqlx::query(
            "INSERT INTO wholesale_invoices (id, tenant_id, period, period_start, period_end, number, status, currency, \
             retail_minor, usage_minor, discount_minor, subscriptions_minor, platform_fee_minor, commission_minor, \
             total_minor, created_at, due_at, next_payment_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'finalised', $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $15)",
        )
        .bind(&id)
        .bind(tenant.id.to_string())
        .bind(&key)
        .bind(period.start().as_millis())
        .bind(period.end().as_millis())
        .bind(number)
        .bind(tenant.currency.code())
        .bind(f.retail)
        .bind(f.usage)
        .bind(f.discount)
        .bind(f.subscriptions)
        .bind(f.platform_fee)
        .bind(f.commission)
        .bind(f.total())
        .bind(written.as_millis())
        .bind(due_at.as_millis())
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                return Ok(Outcome::AlreadyInvoiced);
            }
            Err(e) => return Err(e.into()),
        }
        let m = |minor: i64| Money::from_minor(minor, tenant.currency);
        let lines = [
            (format!("Workspace usage at wholesale rates ({key})"), f.usage),
            (format!("Reseller discount ({} bp)", record.terms.wholesale_discount_bp), -f.discount),
            ("Subscriptions at wholesale".to_owned(), f.subscriptions),
            (
                match trial_end.filter(|_| f.platform_fee != record.terms.platform_fee_minor) {
                    Some(end) => format!("Platform fee (none during the trial, until {})", format_utc(end)),
                    None => "Platform fee".to_owned(),
                },
                f.platform_fee,
            ),
            (
                format!("Commission on retail revenue of {} ({} bp)", m(f.retail), record.terms.commission_bp),
                f.commission,
            ),
        ];
        for (i, (description, amount)) in lines.iter().enumerate().filter(|(_, (_, a))| *a != 0) {
            sqlx::query(
                "INSERT INTO wholesale_lines (id, invoice_id, position, description, amount_minor) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(Uuid::new_v4().to_string())
            .bind(&id)
            .bind(i64::try_from(i + 1).unwrap_or(0))
            .bind(description)
            .bind(*amount)
            .execute(&mut *tx)
            .await?;
        }
        state.failpoints().check("wholesale.written")?;
        tx.commit().await?;
        Outcome::Written
    };
    if let Some(inv) = get(state, tenant, &key).await? {
        if inv.emailed_at.is_none() {
            email(state, &record, &inv).await?;
            sqlx::query("UPDATE wholesale_invoices SET emailed_at = $1 WHERE id = $2 AND emailed_at IS NULL")
                .bind(now().as_millis())
                .bind(&inv.id)
                .execute(state.central().pool())
                .await?;
        }
        // The saved card pays it at once (exactly once however often this runs; a failure is retried on
        // the dunning schedule by the collection pass, so it does not fail the billing run).
        if inv.status == WholesaleStatus::Finalised && inv.payment_attempts == 0 {
            if let Err(e) = super::collection::collect(state, &inv.id).await {
                tracing::warn!(error = %e, invoice = %inv.id, "charging the wholesale invoice failed; dunning retries");
            }
        }
    }
    Ok(outcome)
}

/// The bill as a PDF, from its stored lines: the platform (the house's company name) bills the reseller.
pub async fn pdf(
    state: &AppState,
    record: &registry::TenantRecord,
    inv: &WholesaleInvoice,
) -> Result<Vec<u8>, BackendError> {
    let house = state.house().await?;
    let seller =
        branding::get(state.central(), house.id).await?.map(|b| b.theme.company_name).unwrap_or(house.name.clone());
    let money = |minor: i64| Money::from_minor(minor, inv.currency).to_string();
    let doc = super::pdf::Document {
        title: format!("Invoice {}", inv.display_number()),
        period: inv.period.clone(),
        status: inv.status.as_str().to_owned(),
        issued: Some(crate::domain::time::Timestamp::from_millis(inv.created_at)),
        seller,
        buyer: vec![record.name.clone(), record.owner_email.clone()],
        lines: lines(state, &inv.id)
            .await?
            .into_iter()
            .map(|(description, amount)| super::pdf::DocLine {
                description,
                amount: money(amount),
                details: Vec::new(),
            })
            .collect(),
        totals: vec![("Total".into(), money(inv.total_minor), true)],
    };
    super::pdf::render_off_thread(doc).await
}

/// Emailed to the reseller's owner, from the platform (the house storefront's branding).
async fn email(state: &AppState, record: &registry::TenantRecord, inv: &WholesaleInvoice) -> Result<(), BackendError> {
    let house = state.house().await?;
    let b = branding::get(state.central(), house.id).await?.ok_or_else(|| corrupt("house branding missing"))?;
    let base_url = format!("{}/manage/billing", crate::backend::mail::storefront::storefront_url(state, &house).await?);
    let ctx = templates::BrandContext {
        company_name: b.theme.company_name.clone(),
        logo_url: None,
        primary: b.theme.primary,
        support_email: b.support_email.clone(),
        support_phone: b.support_phone.clone(),
        base_url: base_url.clone(),
    };
    let total = Money::from_minor(inv.total_minor, inv.currency);
    let rendered = templates::invoice(&ctx, &record.name, &inv.display_number(), &total.to_string(), &base_url);
    let attachment = MailAttachment {
        filename: format!("{}.pdf", inv.display_number()),
        content_type: "application/pdf".into(),
        body: pdf(state, record, inv).await?,
    };
    let o = Outgoing {
        tenant: None,
        dedupe_key: format!("wholesale:{}", inv.id),
        kind: "wholesale_invoice".into(),
        to: record.owner_email.clone(),
        from_name: b.theme.company_name.clone(),
        from_addr: b.from_email.clone(),
        reply_to: None,
        rendered,
        attachment: Some(attachment),
    };
    outbox::enqueue(state.central(), &o).await?;
    state.notify_mail();
    Ok(())
}

macro_rules! ws_columns {
    () => {
        "id, tenant_id, period, number, status, currency, retail_minor, usage_minor, discount_minor, \
         subscriptions_minor, platform_fee_minor, commission_minor, total_minor, created_at, emailed_at, due_at, \
         paid_at, payment_attempts, next_payment_at, last_payment_error, reminders_sent"
    };
}

/// A `wholesale_invoices` row as stored.
#[derive(sqlx::FromRow)]
struct WholesaleRow {
    id: String,
    tenant_id: String,
    period: String,
    number: i64,
    status: String,
    currency: String,
    retail_minor: i64,
    usage_minor: i64,
    discount_minor: i64,
    subscriptions_minor: i64,
    platform_fee_minor: i64,
    commission_minor: i64,
    total_minor: i64,
    created_at: i64,
    emailed_at: Option<i64>,
    due_at: Option<i64>,
    paid_at: Option<i64>,
    payment_attempts: i64,
    next_payment_at: Option<i64>,
    last_payment_error: Option<String>,
    reminders_sent: i64,
}

impl TryFrom<WholesaleRow> for WholesaleInvoice {
    type Error = BackendError;

    fn try_from(r: WholesaleRow) -> Result<WholesaleInvoice, BackendError> {
        Ok(WholesaleInvoice {
            status: WholesaleStatus::parse(&r.status).map_err(|_| corrupt("wholesale_invoices.status"))?,
            currency: Currency::parse(&r.currency).map_err(|_| corrupt("wholesale_invoices.currency"))?,
            id: r.id,
            tenant_id: r.tenant_id,
            period: r.period,
            number: r.number,
            retail_minor: r.retail_minor,
            usage_minor: r.usage_minor,
            discount_minor: r.discount_minor,
            subscriptions_minor: r.subscriptions_minor,
            platform_fee_minor: r.platform_fee_minor,
            commission_minor: r.commission_minor,
            total_minor: r.total_minor,
            created_at: r.created_at,
            emailed_at: r.emailed_at,
            due_at: r.due_at,
            paid_at: r.paid_at,
            payment_attempts: r.payment_attempts,
            next_payment_at: r.next_payment_at,
            last_payment_error: r.last_payment_error,
            reminders_sent: r.reminders_sent,
        })
    }
}

pub async fn get(state: &AppState, tenant: &Tenant, period: &str) -> Result<Option<WholesaleInvoice>, BackendError> {
    let row = sqlx::query_as::<_, WholesaleRow>(concat!(
        "SELECT ",
        ws_columns!(),
        " FROM wholesale_invoices WHERE tenant_id = $1 AND period = $2"
    ))
    .bind(tenant.id.to_string())
    .bind(period)
    .fetch_optional(state.central().pool())
    .await?;
    row.map(WholesaleInvoice::try_from).transpose()
}

/// A wholesale invoice by id, whoever's it is (collection, webhooks).
pub async fn by_id(state: &AppState, id: &str) -> Result<Option<WholesaleInvoice>, BackendError> {
    let row =
        sqlx::query_as::<_, WholesaleRow>(concat!("SELECT ", ws_columns!(), " FROM wholesale_invoices WHERE id = $1"))
            .bind(id)
            .fetch_optional(state.central().pool())
            .await?;
    row.map(WholesaleInvoice::try_from).transpose()
}

/// One of `tenant`'s wholesale invoices by id (`None` for an unknown id or another tenant's).
pub async fn get_for(state: &AppState, tenant: TenantId, id: &str) -> Result<Option<WholesaleInvoice>, BackendError> {
    let row = sqlx::query_as::<_, WholesaleRow>(concat!(
        "SELECT ",
        ws_columns!(),
        " FROM wholesale_invoices WHERE id = $1 AND tenant_id = $2"
    ))
    .bind(id)
    .bind(tenant.to_string())
    .fetch_optional(state.central().pool())
    .await?;
    row.map(WholesaleInvoice::try_from).transpose()
}

/// Newest first; one tenant's, or everyone's (`None`, the admin page).
pub async fn list(
    state: &AppState,
    tenant: Option<crate::domain::ids::TenantId>,
    limit: i64,
) -> Result<Vec<WholesaleInvoice>, BackendError> {
    let rows = match tenant {
        Some(t) => {
            sqlx::query_as::<_, WholesaleRow>(concat!(
                "SELECT ",
                ws_columns!(),
                " FROM wholesale_invoices WHERE tenant_id = $1 ORDER BY period DESC, number DESC LIMIT $2"
            ))
            .bind(t.to_string())
            .bind(limit.clamp(1, 1000))
            .fetch_all(state.central().pool())
            .await?
        }
        None => {
            sqlx::query_as::<_, WholesaleRow>(concat!(
                "SELECT ",
                ws_columns!(),
                " FROM wholesale_invoices ORDER BY period DESC, number DESC LIMIT $1"
            ))
            .bind(limit.clamp(1, 1000))
            .fetch_all(state.central().pool())
            .await?
        }
    };
    rows.into_iter().map(WholesaleInvoice::try_from).collect()
}

/// (description, amount) lines of a wholesale invoice.
pub async fn lines(state: &AppState, invoice_id: &str) -> Result<Vec<(String, i64)>, BackendError> {
    Ok(sqlx::query_as("SELECT description, amount_minor FROM wholesale_lines WHERE invoice_id = $1 ORDER BY position")
        .bind(invoice_id)
        .fetch_all(state.central().pool())
        .await?)
}

#[cfg(test)]
mod tests {
    use super::basis_points;

    #[test]
    fn basis_points_round_once_half_up() {
        assert_eq!(basis_points(10_000, 1250).ok(), Some(1_250));
        assert_eq!(basis_points(1, 5_000).ok(), Some(1), "0.5 rounds up");
        assert_eq!(basis_points(1, 4_999).ok(), Some(0));
        assert_eq!(basis_points(333, 1_000).ok(), Some(33));
        assert_eq!(basis_points(335, 1_000).ok(), Some(34));
        assert_eq!(basis_points(0, 9_999).ok(), Some(0));
    }
}
