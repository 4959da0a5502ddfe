//! Collecting wholesale invoices: what resellers owe the platform, taken through the platform's own Stripe
//! account (`Settings::platform_stripe`; the local fake in development and tests).
//!
//! - A reseller saves a card at `/manage/billing` (a setup-mode Checkout: nothing is charged), or pays an
//!   invoice with "Pay now" (a Checkout for exactly its total, which also keeps the card).
//! - A finalised wholesale invoice is due by the tenant's wholesale terms and charged to the saved card at
//!   once; a declined charge is retried on the dunning schedule (`payments::DUNNING_SCHEDULE_MS`) and
//!   emailed to the owner. Reminders go before and after the due date, once each.
//! - **Exactly once.** Each charge is written as a `wholesale_charges` row (pending, with its idempotency
//!   key `wholesale:<invoice>:<attempt>`) before Stripe is called. A crash after the call, or a second runner
//!   at the same time, sends the same key again, and Stripe answers with the first PaymentIntent instead
//!   of charging twice. Recording a payment is a conditional update (`status = 'finalised'`), so however
//!   often a charge, a webhook or a return from the payment page reports it, `paid_at` is set once.
//! - The tenant's billing status follows from what is left unpaid, by `domain::tenant_billing::decide`
//!   alone: the collection pass applies it (past due, suspended), and a recorded payment applies it at once
//!   (resumed). Each change is audited and emailed to the owner.

use crate::backend::clients::stripe::{self, CheckoutSession, Metadata, SetupCheckout, StripeClient, StripeConfig};
use crate::backend::mail::{outbox, storefront, templates, Outgoing};
use crate::backend::platform::audit;
use crate::backend::platform::db::{now, CentralDb};
use crate::backend::state::{AppState, Tenant};
use crate::backend::tenancy::branding;
use crate::backend::{corrupt, BackendError};
use crate::domain::billing_state::WholesaleStatus;
use crate::domain::ids::TenantId;
use crate::domain::money::Money;
use crate::domain::payment_terms::{reminder_due, Reminder};
use crate::domain::platform::ActorKind;
use crate::domain::tenant_billing::{decide, Position, Reason, TenantBillingStatus, WholesaleTerms, RETURN_PARAM};
use crate::domain::time::{format_utc, Timestamp};
use crate::error::AppError;

use super::payments::WebhookOutcome;
use super::wholesale::{self, WholesaleInvoice};

/// Where the platform account's webhooks are delivered (signed with `PLATFORM_STRIPE_WEBHOOK_SECRET`).
pub const PLATFORM_WEBHOOK_PATH: &str = "/stripe/platform/webhook";

/// The reseller's wholesale terms.
pub async fn terms(central: &CentralDb, tenant: TenantId) -> Result<WholesaleTerms, BackendError> {
    let (due, grace, suspend): (i64, i64, i64) = sqlx::query_as(
        "SELECT wholesale_due_days, wholesale_grace_days, wholesale_suspend_days FROM tenants WHERE id = $1",
    )
    .bind(tenant.to_string())
    .fetch_one(central.pool())
    .await?;
    let days = |v: i64, what: &str| u32::try_from(v).map_err(|_| corrupt(format!("tenants.{what}")));
    Ok(WholesaleTerms {
        due_days: days(due, "wholesale_due_days")?,
        grace_days: days(grace, "wholesale_grace_days")?,
        suspend_days: days(suspend, "wholesale_suspend_days")?,
    })
}

/// The tenant's billing status (`Active` for an unknown tenant: nothing to refuse).
pub async fn status(central: &CentralDb, tenant: TenantId) -> Result<TenantBillingStatus, BackendError> {
    let s: Option<String> = sqlx::query_scalar("SELECT billing_status FROM tenants WHERE id = $1")
        .bind(tenant.to_string())
        .fetch_optional(central.pool())
        .await?;
    match s {
        Some(s) => TenantBillingStatus::parse(&s).map_err(|_| corrupt("tenants.billing_status")),
        None => Ok(TenantBillingStatus::Active),
    }
}

/// The reseller's saved card at the platform, as `/manage/billing` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlatformAccount {
    pub stripe_customer_id: Option<String>,
    pub payment_method_id: Option<String>,
    pub card_label: Option<String>,
}

pub async fn account(central: &CentralDb, tenant: TenantId) -> Result<PlatformAccount, BackendError> {
    let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT stripe_customer_id, payment_method_id, card_label FROM platform_billing_accounts WHERE tenant_id = $1",
    )
    .bind(tenant.to_string())
    .fetch_optional(central.pool())
    .await?;
    Ok(row.map_or_else(PlatformAccount::default, |(c, pm, label)| PlatformAccount {
        stripe_customer_id: Some(c),
        payment_method_id: pm,
        card_label: label,
    }))
}

/// Where a reseller stands with the platform, as `/manage/billing` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    /// The platform takes card payments (a platform Stripe account is configured).
    pub enabled: bool,
    pub status: TenantBillingStatus,
    pub terms: WholesaleTerms,
    /// The saved card ("visa •••• 4242"), if any.
    pub card_label: Option<String>,
    /// Wholesale invoices not paid yet, oldest first.
    pub unpaid: Vec<WholesaleInvoice>,
    /// The end of a trial not converted yet (running, or over without a card).
    pub trial_ends_at: Option<Timestamp>,
}

pub async fn standing(state: &AppState, tenant: TenantId) -> Result<Standing, BackendError> {
    let mut unpaid: Vec<_> = wholesale::list(state, Some(tenant), 1000)
        .await?
        .into_iter()
        .filter(|w| w.status == WholesaleStatus::Finalised && w.total_minor > 0)
        .collect();
    unpaid.reverse();
    let acct = account(state.central(), tenant).await?;
    Ok(Standing {
        enabled: enabled(state),
        status: status(state.central(), tenant).await?,
        terms: terms(state.central(), tenant).await?,
        card_label: acct.payment_method_id.and(acct.card_label),
        unpaid,
        trial_ends_at: super::trials::get(state.central(), tenant).await?.pending_end(),
    })
}

/// Whether the platform takes card payments from resellers.
pub fn enabled(state: &AppState) -> bool {
    state.settings().platform_stripe.is_some()
}

fn client(state: &AppState) -> Result<Option<(StripeClient, String)>, BackendError> {
    let Some(s) = &state.settings().platform_stripe else { return Ok(None) };
    let c = StripeClient::new(StripeConfig {
        base_url: s.api_base.clone(),
        secret_key: s.secret_key.clone(),
        timeout: std::time::Duration::from_secs(20),
    })
    .map_err(|e| corrupt(format!("platform stripe settings: {e}")))?;
    Ok(Some((c, s.webhook_secret.clone())))
}

fn unavailable(e: &stripe::StripeError) -> AppError {
    tracing::warn!(error = %e, "platform Stripe call failed");
    AppError::Unavailable("The payment service is not answering. Please try again in a moment.".into())
}

fn not_set_up() -> AppError {
    AppError::Invalid("Card payments to the platform are not set up; please contact us to pay.".into())
}

/// The tenant's name and owner, as the platform bills it.
struct Payer {
    name: String,
    owner_email: String,
}

async fn payer(central: &CentralDb, tenant: TenantId) -> Result<Payer, BackendError> {
    let (name, owner_email): (String, String) = sqlx::query_as("SELECT name, owner_email FROM tenants WHERE id = $1")
        .bind(tenant.to_string())
        .fetch_one(central.pool())
        .await?;
    Ok(Payer { name, owner_email })
}

/// The reseller's Stripe customer on the platform account, created once (idempotently) and remembered.
async fn stripe_customer(
    state: &AppState,
    client: &StripeClient,
    tenant: TenantId,
) -> Result<Result<String, AppError>, BackendError> {
    if let Some(id) = account(state.central(), tenant).await?.stripe_customer_id {
        return Ok(Ok(id));
    }
    let p = payer(state.central(), tenant).await?;
    let metadata = Metadata::from([("tenant_id".to_owned(), tenant.to_string())]);
    match client.create_customer(&p.owner_email, &p.name, &metadata, &format!("platform-customer:{tenant}")).await {
        Ok(c) => {
            // Two first presses at once: the idempotency key gave both the same customer; one row wins.
            sqlx::query(
                "INSERT INTO platform_billing_accounts (tenant_id, stripe_customer_id, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id) DO NOTHING",
            )
            .bind(tenant.to_string())
            .bind(&c.id)
            .bind(now().as_millis())
            .execute(state.central().pool())
            .await?;
            Ok(Ok(c.id))
        }
        Err(e) => Ok(Err(unavailable(&e))),
    }
}

/// Where the payment page sends the reseller back to: `/manage/billing` at `origin` (the storefront as they
/// used it), else at its public address.
async fn return_urls(state: &AppState, tenant: &Tenant, origin: Option<String>) -> Result<(String, String), AppError> {
    let base = match origin {
        Some(o) => o,
        None => storefront::storefront_url(state, tenant).await?,
    };
    Ok((format!("{base}/manage/billing?{RETURN_PARAM}={{CHECKOUT_SESSION_ID}}"), format!("{base}/manage/billing")))
}

/// "Save a card": a setup-mode Checkout on the platform account (nothing charged); returns its address.
pub async fn start_card_setup(state: &AppState, tenant: &Tenant, origin: Option<String>) -> Result<String, AppError> {
    let Some((client, _)) = client(state)? else { return Err(not_set_up()) };
    let customer = stripe_customer(state, &client, tenant.id).await??;
    let (success_url, cancel_url) = return_urls(state, tenant, origin).await?;
    let checkout = SetupCheckout {
        customer_id: customer,
        currency: tenant.currency.code().to_ascii_lowercase(),
        success_url,
        cancel_url,
        metadata: Metadata::from([
            ("purpose".to_owned(), "wholesale_card".to_owned()),
            ("tenant_id".to_owned(), tenant.id.to_string()),
        ]),
    };
    // Each press is its own page.
    let key = format!("platform-card:{}:{}", tenant.id, uuid::Uuid::new_v4());
    let session = client.create_setup_checkout(&checkout, &key).await.map_err(|e| unavailable(&e))?;
    session.url.ok_or_else(|| AppError::Unavailable("The payment service gave no payment page.".into()))
}

/// "Pay now" for one of the tenant's unpaid wholesale invoices: a Checkout for exactly its total; returns
/// the payment page's address. Pressing it twice opens the same page.
pub async fn start_pay_now(
    state: &AppState,
    tenant: &Tenant,
    invoice_id: &str,
    origin: Option<String>,
) -> Result<String, AppError> {
    let inv = wholesale::get_for(state, tenant.id, invoice_id).await?.ok_or(AppError::NotFound)?;
    if inv.status != WholesaleStatus::Finalised || inv.total_minor <= 0 {
        return Err(AppError::Conflict("This invoice has nothing left to pay.".into()));
    }
    let Some((client, _)) = client(state)? else { return Err(not_set_up()) };
    let customer = stripe_customer(state, &client, tenant.id).await??;
    let (success_url, cancel_url) = return_urls(state, tenant, origin).await?;
    let checkout = stripe::TopupCheckout {
        customer_id: customer,
        amount_minor: inv.total_minor,
        currency: inv.currency.code().to_ascii_lowercase(),
        success_url,
        cancel_url,
        metadata: Metadata::from([
            ("purpose".to_owned(), "wholesale_invoice".to_owned()),
            ("tenant_id".to_owned(), tenant.id.to_string()),
            ("wholesale_invoice_id".to_owned(), inv.id.clone()),
        ]),
        line_item: Some(format!("Invoice {}", inv.display_number())),
    };
    let key = format!("wholesale-pay:{}:{}", inv.id, inv.total_minor);
    let session = client.create_topup_checkout(&checkout, &key).await.map_err(|e| unavailable(&e))?;
    session.url.ok_or_else(|| AppError::Unavailable("The payment service gave no payment page.".into()))
}

/// The reseller came back from the payment page: confirm with Stripe (the webhook may not have come yet).
/// `true` when something was recorded now.
pub async fn confirm_return(state: &AppState, tenant: TenantId, session_id: &str) -> Result<bool, AppError> {
    let Some((client, _)) = client(state)? else { return Ok(false) };
    let session = client.get_checkout_session(session_id.trim()).await.map_err(|e| {
        if e.is_not_found() || matches!(e, stripe::StripeError::InvalidArgument(_)) {
            AppError::NotFound
        } else {
            unavailable(&e)
        }
    })?;
    // Another storefront's session is not this one's to confirm.
    if session.metadata.get("tenant_id") != Some(&tenant.to_string()) {
        return Err(AppError::NotFound);
    }
    Ok(complete_session(state, &client, &session).await?)
}

/// Completes a Checkout of the platform account, once however often it is reported: a saved card is
/// remembered (and open invoices are charged to it now); a paid "Pay now" pays its invoice.
async fn complete_session(
    state: &AppState,
    client: &StripeClient,
    session: &CheckoutSession,
) -> Result<bool, BackendError> {
    let Some(tenant) = session.metadata.get("tenant_id").and_then(|t| t.parse::<TenantId>().ok()) else {
        return Ok(false);
    };
    let recorded = match session.metadata.get("purpose").map(String::as_str) {
        Some("wholesale_card") if session.saved_a_card() => false,
        Some("wholesale_invoice") if session.is_paid() => {
            let Some(invoice) = session.metadata.get("wholesale_invoice_id") else { return Ok(false) };
            let Some(inv) = wholesale::by_id(state, invoice).await? else { return Ok(false) };
            // The amount paid must be the invoice's: a page opened for another amount pays nothing here.
            if inv.tenant_id != tenant.to_string() || session.amount_total != Some(inv.total_minor) {
                tracing::warn!(session = %session.id, invoice, "a platform checkout does not match its invoice");
                return Ok(false);
            }
            let intent = session.payment_intent.clone().unwrap_or_else(|| session.id.clone());
            let paid = record_paid(state, &inv, &intent, None).await?;
            if !paid {
                refund_second_payment(state, client, &inv, session).await?;
            }
            paid
        }
        _ => return Ok(false),
    };
    // The card this page saved becomes the one charged from now on.
    if let Some(customer) = session.customer.as_deref() {
        match client.list_payment_methods(customer).await {
            Ok(cards) => {
                if let Some(card) = cards.first() {
                    let label = format!("{} •••• {}", card.brand, card.last4);
                    if save_card(state.central(), tenant, customer, &card.id, &label).await? {
                        // A new card gets a try at everything still unpaid, now; a trial that ended without a
                        // card converts on it at once.
                        charge_open_invoices(state, tenant).await?;
                        refresh_status(state, tenant).await?;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list the saved cards; the next return or webhook will"),
        }
    }
    Ok(recorded)
}

/// A "Pay now" that completed after its invoice had been paid otherwise (the off-session charge in flight
/// at the same moment, say) is given back: nothing is kept twice. The refund's idempotency key is the payment
/// page's, so however often the payment is reported it is refunded once; a refund that fails is retried by
/// the next report (the webhook is redelivered, the return page asks again). A repeated report of the
/// payment that did pay the invoice refunds nothing.
async fn refund_second_payment(
    state: &AppState,
    client: &StripeClient,
    inv: &WholesaleInvoice,
    session: &CheckoutSession,
) -> Result<(), BackendError> {
    let Some(intent) = session.payment_intent.as_deref() else { return Ok(()) };
    let Some(amount) = session.amount_total.filter(|a| *a > 0) else { return Ok(()) };
    let paid_by: Option<String> = sqlx::query_scalar("SELECT payment_intent FROM wholesale_invoices WHERE id = $1")
        .bind(&inv.id)
        .fetch_one(state.central().pool())
        .await?;
    if paid_by.as_deref() == Some(intent) {
        return Ok(());
    }
    let metadata = Metadata::from([("wholesale_invoice_id".to_owned(), inv.id.clone())]);
    match client.refund_payment(intent, amount, &metadata, &format!("wholesale-second-payment:{}", session.id)).await {
        Ok(refund) => tracing::info!(
            invoice = %inv.id, refund = %refund.id, "a second payment of a paid wholesale invoice was refunded"
        ),
        Err(e) => tracing::warn!(
            error = %e, invoice = %inv.id, "refunding a second payment failed; the next report of it retries"
        ),
    }
    Ok(())
}

/// Remembers the card; `true` when it is a different card from the one saved before.
async fn save_card(
    central: &CentralDb,
    tenant: TenantId,
    customer: &str,
    card: &str,
    label: &str,
) -> Result<bool, BackendError> {
    let before = account(central, tenant).await?.payment_method_id;
    if before.as_deref() == Some(card) {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO platform_billing_accounts (tenant_id, stripe_customer_id, payment_method_id, card_label, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO UPDATE SET stripe_customer_id = excluded.stripe_customer_id, \
         payment_method_id = excluded.payment_method_id, card_label = excluded.card_label, updated_at = excluded.updated_at",
    )
    .bind(tenant.to_string())
    .bind(customer)
    .bind(card)
    .bind(label)
    .bind(now().as_millis())
    .execute(central.pool())
    .await?;
    Ok(true)
}

/// A new card: every unpaid invoice of the tenant is charged to it now (the dunning schedule starts over).
async fn charge_open_invoices(state: &AppState, tenant: TenantId) -> Result<(), BackendError> {
    sqlx::query("UPDATE wholesale_invoices SET next_payment_at = $1 WHERE tenant_id = $2 AND status = 'finalised'")
        .bind(now().as_millis())
        .bind(tenant.to_string())
        .execute(state.central().pool())
        .await?;
    for id in due_for_collection(state, now(), Some(tenant)).await? {
        if let Err(e) = collect(state, &id).await {
            tracing::warn!(error = %e, invoice = %id, "charging a wholesale invoice to the new card failed");
        }
    }
    Ok(())
}

/// A webhook of the platform account: verified with its signing secret, then handled idempotently.
pub async fn handle_webhook(state: &AppState, payload: &[u8], signature: &str) -> Result<WebhookOutcome, BackendError> {
    let Some((client, secret)) = client(state)? else { return Ok(WebhookOutcome::Unknown) };
    let Some(event) = super::payments::verified_event(payload, signature, &secret, "platform") else {
        return Ok(WebhookOutcome::Rejected);
    };
    match event.type_.as_str() {
        "checkout.session.completed" => {
            let Ok(session) = event.checkout_session() else { return Ok(WebhookOutcome::Ignored) };
            complete_session(state, &client, &session).await?;
            Ok(WebhookOutcome::Handled)
        }
        // An off-session charge that succeeded while its answer was lost (a crash, a timeout).
        "payment_intent.succeeded" => {
            let Ok(pi) = event.payment_intent() else { return Ok(WebhookOutcome::Ignored) };
            let Some(id) = pi.metadata.get("wholesale_invoice_id") else { return Ok(WebhookOutcome::Ignored) };
            let attempt = pi.metadata.get("attempt").and_then(|a| a.parse::<i64>().ok());
            if let Some(inv) = wholesale::by_id(state, id).await? {
                if pi.amount == inv.total_minor {
                    record_paid(state, &inv, &pi.id, attempt).await?;
                }
            }
            Ok(WebhookOutcome::Handled)
        }
        _ => Ok(WebhookOutcome::Ignored),
    }
}

/// What one collection of an invoice came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Collected {
    /// Paid by this call (or found paid by a charge that had gone through before).
    Paid,
    /// The card was declined: retried at `next` (`None`: the schedule is over; a new card or "Pay now").
    Declined { next: Option<Timestamp> },
    /// Stripe did not answer: the attempt stays pending and the next pass sends it again with its key.
    Unreachable,
    /// Nothing to do: paid or void already, no card saved, or no platform account configured.
    Nothing,
}

/// Charges the saved card for a wholesale invoice, exactly once across crashes and concurrent callers:
/// the attempt is written (pending, with its idempotency key) before Stripe is called, and a pending
/// attempt is always resumed with its own key rather than a new one started.
pub async fn collect(state: &AppState, invoice_id: &str) -> Result<Collected, BackendError> {
    let Some(inv) = wholesale::by_id(state, invoice_id).await? else { return Ok(Collected::Nothing) };
    if inv.status != WholesaleStatus::Finalised || inv.total_minor <= 0 {
        return Ok(Collected::Nothing);
    }
    let Some((client, _)) = client(state)? else { return Ok(Collected::Nothing) };
    let tenant: TenantId = inv.tenant_id.parse().map_err(|_| corrupt("wholesale_invoices.tenant_id"))?;
    let acct = account(state.central(), tenant).await?;
    let (Some(customer), Some(card)) = (acct.stripe_customer_id, acct.payment_method_id) else {
        return Ok(Collected::Nothing);
    };
    let Some((attempt, key, amount)) = claim_attempt(state, &inv).await? else { return Ok(Collected::Nothing) };
    state.failpoints().check("wholesale.charge_written")?;
    let metadata = Metadata::from([
        ("wholesale_invoice_id".to_owned(), inv.id.clone()),
        ("tenant_id".to_owned(), tenant.to_string()),
        ("attempt".to_owned(), attempt.to_string()),
    ]);
    let currency = inv.currency.code().to_ascii_lowercase();
    let answer = client.charge_off_session(&customer, &card, amount, &currency, &metadata, &key).await;
    // A crash here: Stripe charged, nothing is recorded. The pending attempt is resent with the same key.
    state.failpoints().check("wholesale.charged")?;
    match answer {
        Ok(pi) if pi.succeeded() => {
            record_paid(state, &inv, &pi.id, Some(attempt)).await?;
            Ok(Collected::Paid)
        }
        Ok(pi) => {
            let why = pi
                .last_payment_error
                .as_ref()
                .and_then(|e| e.decline_code.clone().or(e.code.clone()))
                .unwrap_or_else(|| pi.status.clone());
            let next = usize::try_from(attempt - 1)
                .ok()
                .and_then(|i| super::payments::DUNNING_SCHEDULE_MS.get(i))
                .map(|ms| now().plus_millis(*ms));
            if record_failure(state, &inv, attempt, &why, next).await? {
                let amount = Money::from_minor(amount, inv.currency);
                let mut lines = vec![format!(
                    "We could not charge your saved card {amount} for invoice {} ({why}).",
                    inv.display_number()
                )];
                lines.push(match next {
                    Some(t) => {
                        format!("We will try again on {}. You can also pay it now, or save another card.", day(t))
                    }
                    None => {
                        "We will not try this card again: please pay the invoice now or save another card.".to_owned()
                    }
                });
                let subject = format!("Your payment for invoice {} did not go through", inv.display_number());
                let key = format!("wholesale_failed:{}:{attempt}", inv.id);
                mail_owner(state, tenant, "wholesale_payment_failed", key, &subject, &lines, "Pay now").await?;
            }
            Ok(Collected::Declined { next })
        }
        Err(e) => {
            tracing::warn!(error = %e, invoice = %inv.id, "charging the wholesale invoice did not reach Stripe");
            Ok(Collected::Unreachable)
        }
    }
}

/// The attempt to send: a pending one (a crash or another runner left it) with its own key, else a new
/// one written pending now. `None` when another runner finished this attempt meanwhile.
async fn claim_attempt(state: &AppState, inv: &WholesaleInvoice) -> Result<Option<(i64, String, i64)>, BackendError> {
    let pool = state.central().pool();
    let pending: Option<(i64, String, i64)> = sqlx::query_as(
        "SELECT attempt, idempotency_key, amount_minor FROM wholesale_charges WHERE invoice_id = $1 AND state = 'pending' \
         ORDER BY attempt LIMIT 1",
    )
    .bind(&inv.id)
    .fetch_optional(pool)
    .await?;
    if pending.is_some() {
        return Ok(pending);
    }
    let attempt = inv.payment_attempts + 1;
    let key = format!("wholesale:{}:{attempt}", inv.id);
    // Two runners at once write the same (invoice, attempt): one row, one key, one charge.
    sqlx::query(
        "INSERT INTO wholesale_charges (invoice_id, attempt, idempotency_key, amount_minor, state, created_at) \
         VALUES ($1, $2, $3, $4, 'pending', $5) ON CONFLICT (invoice_id, attempt) DO NOTHING",
    )
    .bind(&inv.id)
    .bind(attempt)
    .bind(&key)
    .bind(inv.total_minor)
    .bind(now().as_millis())
    .execute(pool)
    .await?;
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT state, idempotency_key, amount_minor FROM wholesale_charges WHERE invoice_id = $1 AND attempt = $2",
    )
    .bind(&inv.id)
    .bind(attempt)
    .fetch_optional(pool)
    .await?;
    Ok(row.filter(|(s, _, _)| s == "pending").map(|(_, key, amount)| (attempt, key, amount)))
}

/// Records a payment of the invoice: `paid_at` set once (a conditional update), the charge attempt marked,
/// then the tenant's billing status brought up to date at once (paying the balance resumes it). `true` when
/// the invoice was paid by this call.
async fn record_paid(
    state: &AppState,
    inv: &WholesaleInvoice,
    payment_intent: &str,
    attempt: Option<i64>,
) -> Result<bool, BackendError> {
    let t = now().as_millis();
    let mut tx = state.central().begin().await?;
    let paid = sqlx::query(
        "UPDATE wholesale_invoices SET status = 'paid', paid_at = $1, payment_intent = $2, next_payment_at = NULL \
         WHERE id = $3 AND status = 'finalised'",
    )
    .bind(t)
    .bind(payment_intent)
    .bind(&inv.id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if let Some(attempt) = attempt {
        sqlx::query(
            "UPDATE wholesale_charges SET state = 'succeeded', payment_intent = $1, finished_at = $2 \
             WHERE invoice_id = $3 AND attempt = $4 AND state = 'pending'",
        )
        .bind(payment_intent)
        .bind(t)
        .bind(&inv.id)
        .bind(attempt)
        .execute(&mut *tx)
        .await?;
    }
    state.failpoints().check("wholesale.recording")?;
    tx.commit().await?;
    let tenant: TenantId = inv.tenant_id.parse().map_err(|_| corrupt("wholesale_invoices.tenant_id"))?;
    if paid {
        let detail = format!("{} paid ({})", inv.display_number(), Money::from_minor(inv.total_minor, inv.currency));
        audit::record(state.central(), None, ActorKind::System, "system", Some(tenant), "wholesale.paid", &detail)
            .await?;
    }
    refresh_status(state, tenant).await?;
    Ok(paid)
}

/// A declined attempt: the attempt marked failed and the next try scheduled, once (`true` when now).
async fn record_failure(
    state: &AppState,
    inv: &WholesaleInvoice,
    attempt: i64,
    why: &str,
    next: Option<Timestamp>,
) -> Result<bool, BackendError> {
    let mut tx = state.central().begin().await?;
    let marked = sqlx::query(
        "UPDATE wholesale_charges SET state = 'failed', error = $1, finished_at = $2 \
         WHERE invoice_id = $3 AND attempt = $4 AND state = 'pending'",
    )
    .bind(why)
    .bind(now().as_millis())
    .bind(&inv.id)
    .bind(attempt)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if marked {
        sqlx::query(
            "UPDATE wholesale_invoices SET payment_attempts = $1, next_payment_at = $2, last_payment_error = $3 \
             WHERE id = $4 AND status = 'finalised'",
        )
        .bind(attempt)
        .bind(next.map(Timestamp::as_millis))
        .bind(why)
        .bind(&inv.id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(marked)
}

/// Unpaid invoices whose card charge is due (only of tenants with a saved card), oldest first.
pub async fn due_for_collection(
    state: &AppState,
    at: Timestamp,
    tenant: Option<TenantId>,
) -> Result<Vec<String>, BackendError> {
    Ok(sqlx::query_scalar(
        "SELECT w.id FROM wholesale_invoices w JOIN platform_billing_accounts a ON a.tenant_id = w.tenant_id \
         WHERE w.status = 'finalised' AND w.total_minor > 0 AND w.next_payment_at IS NOT NULL AND w.next_payment_at <= $1 \
         AND a.payment_method_id IS NOT NULL AND ($2 = '' OR w.tenant_id = $2) ORDER BY w.created_at",
    )
    .bind(at.as_millis())
    .bind(tenant.map(|t| t.to_string()).unwrap_or_default())
    .fetch_all(state.central().pool())
    .await?)
}

/// Brings the tenant's billing status up to date with what it has left unpaid, its trial and its card
/// (`domain::tenant_billing::decide`); a change (or a trial's conversion) is audited and emailed to the
/// owner. Returns the new status when it changed.
pub async fn refresh_status(state: &AppState, tenant: TenantId) -> Result<Option<TenantBillingStatus>, BackendError> {
    let current = status(state.central(), tenant).await?;
    let oldest: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(due_at) FROM wholesale_invoices WHERE tenant_id = $1 AND status = 'finalised' \
         AND total_minor > 0 AND due_at IS NOT NULL",
    )
    .bind(tenant.to_string())
    .fetch_one(state.central().pool())
    .await?;
    let trial = super::trials::get(state.central(), tenant).await?;
    let position = Position {
        oldest_unpaid_due: oldest.map(Timestamp::from_millis),
        trial_ends_at: trial.pending_end(),
        has_card: account(state.central(), tenant).await?.payment_method_id.is_some(),
    };
    let terms = terms(state.central(), tenant).await?;
    let Some(decision) = decide(current, terms, position, now()) else { return Ok(None) };
    let next = decision.status.unwrap_or(current);
    // Conditional on what was read: of two runners deciding the same change, one makes it (and mails it).
    let converted_at = decision.converts_trial.then(|| now().as_millis());
    let changed = sqlx::query(
        "UPDATE tenants SET billing_status = $1, billing_status_at = $2, \
         trial_converted_at = COALESCE(trial_converted_at, $3) \
         WHERE id = $4 AND billing_status = $5 AND (trial_converted_at IS NULL) = $6",
    )
    .bind(next.as_str())
    .bind(now().as_millis())
    .bind(converted_at)
    .bind(tenant.to_string())
    .bind(current.as_str())
    .bind(trial.converted_at.is_none())
    .execute(state.central().pool())
    .await?
    .rows_affected()
        == 1;
    if !changed {
        return Ok(None);
    }
    if decision.converts_trial {
        audit::record(state.central(), None, ActorKind::System, "system", Some(tenant), "trial.converted", "").await?;
    }
    if decision.status.is_some() {
        let detail = format!("{} → {}", current.as_str(), next.as_str());
        audit::record(
            state.central(),
            None,
            ActorKind::System,
            "system",
            Some(tenant),
            "billing_status.changed",
            &detail,
        )
        .await?;
    }
    let (subject, lines, action) = status_mail(decision.reason, next, terms);
    let key = format!("billing_status:{tenant}:{}:{}", next.as_str(), now().as_millis());
    mail_owner(state, tenant, "billing_status", key, &subject, &lines, action).await?;
    Ok(decision.status)
}

/// What the owner is told when the status changes (subject, lines, button).
fn status_mail(
    reason: Reason,
    next: TenantBillingStatus,
    terms: WholesaleTerms,
) -> (String, Vec<String>, &'static str) {
    match reason {
        Reason::Unpaid => (
            "Your account is past due".to_owned(),
            vec![
                "A wholesale invoice is unpaid past its due date and grace period, so your storefront is not taking \
                 new customer orders for now. Your customers' running workspaces are not affected."
                    .to_owned(),
                format!(
                    "Please pay what is due: left unpaid for {} more days, the account will be suspended.",
                    terms.suspend_days
                ),
            ],
            "Pay now",
        ),
        Reason::StillUnpaid => (
            "Your account is suspended".to_owned(),
            vec![
                "A wholesale invoice is still unpaid, so your account is suspended: your storefront takes no new \
                 customer orders. Your customers' running workspaces are not stopped."
                    .to_owned(),
                "Paying the balance resumes the account at once.".to_owned(),
            ],
            "Pay now",
        ),
        Reason::TrialEndedWithoutCard => (
            "Your trial has ended".to_owned(),
            vec![
                "Your free trial is over and no card is saved, so your storefront takes no new customer orders for \
                 now. Your customers' running workspaces are not stopped."
                    .to_owned(),
                "Save a card and the account resumes at once; wholesale invoices are then charged to it.".to_owned(),
            ],
            "Save a card",
        ),
        Reason::TrialConverted => (
            "Your trial has ended: welcome aboard".to_owned(),
            vec!["Your free trial is over. Your storefront carries on as it is: the platform fee applies from now, \
                 and wholesale invoices are charged to your saved card."
                .to_owned()],
            "See your billing",
        ),
        Reason::GoodStanding if next == TenantBillingStatus::Trial => (
            "Your trial is running again".to_owned(),
            vec!["Your storefront takes new customer orders again until your trial ends.".to_owned()],
            "See your billing",
        ),
        Reason::GoodStanding => (
            "Your account is in good standing again".to_owned(),
            vec!["Thank you: your storefront takes new customer orders again.".to_owned()],
            "See your billing",
        ),
    }
}

/// Queues the reminders now due about the tenant's unpaid wholesale invoices (three days before the due
/// date, a day after, a week after; each once, the latest only after a gap). Returns how many.
pub async fn remind(state: &AppState, tenant: TenantId) -> Result<usize, BackendError> {
    let t = now();
    let mut queued = 0;
    for inv in wholesale::list(state, Some(tenant), 1000).await? {
        // A bill of nothing (no usage, no fee) is owed by no one.
        let owed = inv.status == WholesaleStatus::Finalised && inv.total_minor > 0;
        let Some(due_at) = inv.due_at.filter(|_| owed) else { continue };
        let Some(reminder) = reminder_due(Timestamp::from_millis(due_at), t, inv.reminders_sent) else { continue };
        let total = Money::from_minor(inv.total_minor, inv.currency);
        let due_on = day(Timestamp::from_millis(due_at));
        let (subject, first) = if reminder == Reminder::DueSoon {
            (
                format!("Invoice {} is due on {due_on}", inv.display_number()),
                format!("Invoice {} for {total} is due on {due_on}.", inv.display_number()),
            )
        } else {
            (
                format!("Invoice {} is overdue", inv.display_number()),
                format!("Invoice {} for {total} was due on {due_on} and is still unpaid.", inv.display_number()),
            )
        };
        let lines = vec![
            first,
            "You can pay it now by card, or save a card and we will charge it.".to_owned(),
            "If you have paid it already, thank you: you can ignore this email.".to_owned(),
        ];
        // Queued first, then remembered: a crash between queues the same key again, which the outbox drops.
        let key = format!("wholesale_reminder:{}:{}", inv.id, reminder.number());
        mail_owner(state, tenant, "wholesale_reminder", key, &subject, &lines, "Pay now").await?;
        let marked =
            sqlx::query("UPDATE wholesale_invoices SET reminders_sent = $1 WHERE id = $2 AND reminders_sent < $1")
                .bind(reminder.number())
                .bind(&inv.id)
                .execute(state.central().pool())
                .await?
                .rows_affected();
        queued += usize::from(marked == 1);
    }
    Ok(queued)
}

/// What one collection pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub charged: usize,
    pub reminded: usize,
    pub status_changes: usize,
}

impl PassReport {
    fn add(&mut self, other: PassReport) {
        self.charged += other.charged;
        self.reminded += other.reminded;
        self.status_changes += other.status_changes;
    }
}

/// One pass of wholesale collection (run by the billing scheduler, under its lease): card charges due per
/// the dunning schedule, reminders, then every reseller's billing status.
pub async fn pass(state: &AppState) -> Result<PassReport, BackendError> {
    let mut report = charge_due(state, None).await?;
    let tenants: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM tenants WHERE is_house = 0 AND status IN ('active', 'suspended') ORDER BY slug",
    )
    .fetch_all(state.central().pool())
    .await?;
    for id in tenants {
        let tenant: TenantId = id.parse().map_err(|_| corrupt("tenants.id"))?;
        report.add(standing_pass(state, tenant).await?);
    }
    Ok(report)
}

/// The same pass for one tenant, now (the admin's "Run collection now" on the tenant's page).
pub async fn pass_for(state: &AppState, tenant: TenantId) -> Result<PassReport, BackendError> {
    let mut report = charge_due(state, Some(tenant)).await?;
    report.add(standing_pass(state, tenant).await?);
    Ok(report)
}

/// The card charges due now (of one tenant, or all).
async fn charge_due(state: &AppState, tenant: Option<TenantId>) -> Result<PassReport, BackendError> {
    let mut report = PassReport::default();
    for id in due_for_collection(state, now(), tenant).await? {
        match collect(state, &id).await {
            Ok(Collected::Paid | Collected::Declined { .. }) => report.charged += 1,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, invoice = %id, "wholesale collection failed; the next pass retries"),
        }
    }
    Ok(report)
}

/// A tenant's reminders (invoices, trial) and billing status.
async fn standing_pass(state: &AppState, tenant: TenantId) -> Result<PassReport, BackendError> {
    Ok(PassReport {
        charged: 0,
        reminded: remind(state, tenant).await? + super::trials::remind(state, tenant).await?,
        status_changes: usize::from(refresh_status(state, tenant).await?.is_some()),
    })
}

pub(super) fn day(t: Timestamp) -> String {
    let text = format_utc(t);
    text.split(' ').next().unwrap_or(&text).to_owned()
}

/// An email from the platform (the house storefront's branding) to the reseller's owner, with a button to
/// its `/manage/billing`. `key` makes it once only.
pub(super) async fn mail_owner(
    state: &AppState,
    tenant: TenantId,
    kind: &str,
    key: String,
    subject: &str,
    lines: &[String],
    action: &str,
) -> Result<(), BackendError> {
    let p = payer(state.central(), tenant).await?;
    let house = state.house().await?;
    let b = branding::get(state.central(), house.id).await?.ok_or_else(|| corrupt("house branding missing"))?;
    let base = match state.tenant_by_id(tenant).await? {
        Some(t) => storefront::storefront_url(state, &t).await?,
        None => storefront::storefront_url(state, &house).await?,
    };
    let link = format!("{base}/manage/billing");
    let ctx = templates::BrandContext {
        company_name: b.theme.company_name.clone(),
        logo_url: None,
        primary: b.theme.primary,
        support_email: b.support_email.clone(),
        support_phone: b.support_phone.clone(),
        base_url: link.clone(),
    };
    let rendered = templates::platform_billing_notice(&ctx, &p.name, subject, lines, action, &link);
    let o = Outgoing {
        tenant: None,
        dedupe_key: key,
        kind: kind.to_owned(),
        to: p.owner_email,
        from_name: b.theme.company_name.clone(),
        from_addr: b.from_email.clone(),
        reply_to: None,
        rendered,
        attachment: None,
    };
    outbox::enqueue(state.central(), &o).await?;
    state.notify_mail();
    Ok(())
}

/// The admin's receivables: every tenant's open wholesale balance by age, what was paid this calendar month
/// (UTC), and wholesale invoiced per period over the last 12 periods.
pub async fn receivables(state: &AppState) -> Result<crate::domain::receivables::Receivables, BackendError> {
    use crate::domain::money::Currency;
    use crate::domain::receivables::{MonthRevenue, ReceivableRow, Receivables};
    let pool = state.central().pool();
    let t = now();
    let records = crate::backend::tenancy::registry::list_records(state.central()).await?;
    let open: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT tenant_id, currency, total_minor, due_at FROM wholesale_invoices \
         WHERE status = 'finalised' AND total_minor > 0 ORDER BY tenant_id",
    )
    .fetch_all(pool)
    .await?;
    let currency = |c: &str| Currency::parse(c).map_err(|_| corrupt("wholesale_invoices.currency"));
    let mut rows: Vec<ReceivableRow> = Vec::new();
    for (tenant, cur, minor, due_at) in open {
        let cur = currency(&cur)?;
        let row = match rows.iter().position(|r| r.currency == cur && tenant_of(&records, r) == tenant) {
            Some(i) => &mut rows[i],
            None => {
                let rec = records.iter().find(|r| r.id.to_string() == tenant);
                let (slug, name) = rec.map_or((tenant.clone(), String::new()), |r| (r.slug.clone(), r.name.clone()));
                let status = match rec {
                    Some(r) => status(state.central(), r.id).await?,
                    None => TenantBillingStatus::Cancelled,
                };
                rows.push(ReceivableRow::new(slug, name, status, cur));
                let last = rows.len() - 1;
                &mut rows[last]
            }
        };
        row.add(minor, due_at.map(Timestamp::from_millis), t);
    }
    rows.sort_by(|a, b| b.open().minor().cmp(&a.open().minor()).then_with(|| a.slug.cmp(&b.slug)));
    let month_start = crate::domain::period::Period::containing(t, 1).map_err(|e| corrupt(e.to_string()))?.start();
    let collected: Vec<(String, i64)> = sqlx::query_as(
        "SELECT currency, CAST(SUM(total_minor) AS BIGINT) FROM wholesale_invoices \
         WHERE status = 'paid' AND paid_at >= $1 GROUP BY currency ORDER BY currency",
    )
    .bind(month_start.as_millis())
    .fetch_all(pool)
    .await?;
    let months: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT period, currency, CAST(SUM(total_minor) AS BIGINT) FROM wholesale_invoices \
         WHERE status <> 'void' GROUP BY period, currency ORDER BY period DESC, currency LIMIT 36",
    )
    .fetch_all(pool)
    .await?;
    let mut periods: Vec<&str> = months.iter().map(|(p, _, _)| p.as_str()).collect();
    periods.dedup();
    let recent: Vec<&str> = periods.into_iter().take(12).collect();
    let mut revenue_by_month = Vec::new();
    for (period, cur, minor) in months.iter().rev().filter(|(p, _, _)| recent.contains(&p.as_str())) {
        revenue_by_month
            .push(MonthRevenue { period: period.clone(), total: Money::from_minor(*minor, currency(cur)?) });
    }
    Ok(Receivables {
        rows,
        collected_this_month: collected
            .into_iter()
            .map(|(c, m)| Ok(Money::from_minor(m, currency(&c)?)))
            .collect::<Result<_, BackendError>>()?,
        revenue_by_month,
    })
}

/// The tenant id of a receivables row (rows carry the slug; records map it back).
fn tenant_of(
    records: &[crate::backend::tenancy::registry::TenantRecord],
    row: &crate::domain::receivables::ReceivableRow,
) -> String {
    records.iter().find(|r| r.slug == row.slug).map_or_else(|| row.slug.clone(), |r| r.id.to_string())
}
