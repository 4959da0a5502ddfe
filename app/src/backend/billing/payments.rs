//! Card payments with each storefront's own Stripe account: Checkout for credit top-ups (the card is saved
//! for later), off-session charges for what invoices leave due, signed webhooks, and dunning.
//!
//! Everything that moves money is idempotent on a key of ours: a top-up is credited once per checkout
//! session (ledger reference `topup:<cs_id>`), whether the webhook or the customer's return to the page
//! gets there first; an invoice charge uses the idempotency key `invoice:<id>:<attempt>`, and recording it
//! is a conditional update (which keeps the PaymentIntent, for refunds); a card refund uses the id of its
//! `card_refunds` row (see `refunds`). A failed charge emails the customer and is retried on the dunning schedule;
//! service already paid for is never cut off for it.

use crate::backend::billing::invoices::{self, Invoice, Status};
use crate::backend::billing::ledger::EntryKind;
use crate::backend::billing::meter;
use crate::backend::billing::notify;
use crate::backend::clients::stripe::{self, CheckoutSession, Metadata, StripeClient, StripeConfig, TopupCheckout};
use crate::backend::identity::customers::Customer;
use crate::backend::platform::db::now;
use crate::backend::state::{AppState, Tenant};
use crate::backend::{corrupt, BackendError};
use crate::domain::ids::{CustomerId, TenantId};
use crate::domain::money::Money;
use crate::domain::time::Timestamp;
use crate::error::AppError;

/// Retry an unpaid invoice this long after each failed attempt; after the last, the invoice stays due.
pub const DUNNING_SCHEDULE_MS: [i64; 3] = [86_400_000, 3 * 86_400_000, 7 * 86_400_000];

fn secret_context(tenant: TenantId, what: &str) -> String {
    format!("tenant/{tenant}/stripe/{what}")
}

/// Stores (or replaces) a storefront's Stripe keys, sealed.
pub async fn save_settings(
    state: &AppState,
    tenant: TenantId,
    api_base: &str,
    secret_key: &str,
    webhook_secret: &str,
) -> Result<(), BackendError> {
    let sk = state.crypto().seal(secret_key, &secret_context(tenant, "secret_key"))?;
    let wh = state.crypto().seal(webhook_secret, &secret_context(tenant, "webhook_secret"))?;
    sqlx::query(
        "INSERT INTO tenant_payment_settings (tenant_id, api_base, secret_key_enc, webhook_secret_enc, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO UPDATE SET api_base = excluded.api_base, \
         secret_key_enc = excluded.secret_key_enc, webhook_secret_enc = excluded.webhook_secret_enc, \
         updated_at = excluded.updated_at",
    )
    .bind(tenant.to_string())
    .bind(api_base.trim_end_matches('/'))
    .bind(sk)
    .bind(wh)
    .bind(now().as_millis())
    .execute(state.central().pool())
    .await?;
    Ok(())
}

/// [`save_settings`] by a member of the storefront's staff (or an admin acting through their session),
/// from `ip`: recorded in the audit log (without the keys).
pub async fn save_settings_by(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    actor: &crate::backend::platform::audit::Actor<'_>,
    tenant: TenantId,
    secret_key: &str,
    webhook_secret: &str,
) -> Result<(), BackendError> {
    save_settings(state, tenant, stripe::DEFAULT_BASE_URL, secret_key, webhook_secret).await?;
    crate::backend::platform::audit::record_by(state.central(), ip, actor, Some(tenant), "stripe.keys_saved", "").await
}

/// A storefront's Stripe settings, opened. Deliberately not `Debug`: it holds the secrets in clear.
pub struct StripeSettings {
    pub api_base: String,
    pub secret_key: String,
    pub webhook_secret: String,
}

/// The storefront's saved Stripe settings (`None` until keys are saved).
pub async fn settings(state: &AppState, tenant: TenantId) -> Result<Option<StripeSettings>, BackendError> {
    let row = sqlx::query_as::<_, SettingsRow>(
        "SELECT api_base, secret_key_enc, webhook_secret_enc FROM tenant_payment_settings WHERE tenant_id = $1",
    )
    .bind(tenant.to_string())
    .fetch_optional(state.central().pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(StripeSettings {
        api_base: r.api_base,
        secret_key: state.crypto().open(&r.secret_key_enc, &secret_context(tenant, "secret_key"))?,
        webhook_secret: state.crypto().open(&r.webhook_secret_enc, &secret_context(tenant, "webhook_secret"))?,
    }))
}

/// A `tenant_payment_settings` row as stored: the keys sealed, bound to their tenant.
#[derive(sqlx::FromRow)]
struct SettingsRow {
    api_base: String,
    secret_key_enc: String,
    webhook_secret_enc: String,
}

/// Whether the storefront can take cards.
pub async fn enabled(state: &AppState, tenant: &Tenant) -> Result<bool, BackendError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenant_payment_settings WHERE tenant_id = $1")
        .bind(tenant.id.to_string())
        .fetch_one(state.central().pool())
        .await?;
    Ok(n > 0)
}

async fn client(state: &AppState, tenant: &Tenant) -> Result<Option<(StripeClient, String)>, BackendError> {
    let Some(s) = settings(state, tenant.id).await? else { return Ok(None) };
    let c = StripeClient::new(StripeConfig {
        base_url: s.api_base,
        secret_key: s.secret_key,
        timeout: std::time::Duration::from_secs(20),
    })
    .map_err(|e| corrupt(format!("stripe settings: {e}")))?;
    Ok(Some((c, s.webhook_secret)))
}

fn unavailable(e: &stripe::StripeError) -> AppError {
    tracing::warn!(error = %e, "Stripe call failed");
    AppError::Unavailable("The payment service is not answering. Please try again in a moment.".into())
}

/// The customer's Stripe customer, created once (idempotently) and remembered.
async fn stripe_customer(
    tenant: &Tenant,
    client: &StripeClient,
    customer: &Customer,
) -> Result<Result<String, AppError>, BackendError> {
    let account = meter::account(tenant, customer.id).await?;
    if let Some(id) = account.stripe_customer_id {
        return Ok(Ok(id));
    }
    let metadata = Metadata::from([("customer_id".to_owned(), customer.id.to_string())]);
    let key = format!("customer:{}:{}", tenant.id, customer.id);
    match client.create_customer(&customer.email, &customer.name, &metadata, &key).await {
        Ok(c) => {
            meter::save_card(tenant, customer.id, &c.id, None).await?;
            Ok(Ok(c.id))
        }
        Err(e) => Ok(Err(unavailable(&e))),
    }
}

/// Starts a top-up through Stripe Checkout that returns to the storefront's public address; returns the
/// payment page's address.
pub async fn start_top_up(
    state: &AppState,
    tenant: &Tenant,
    customer: &Customer,
    amount: Money,
) -> Result<String, AppError> {
    start_top_up_from(state, tenant, customer, amount, None).await
}

/// Starts a top-up through Stripe Checkout; returns the payment page's address. The payment page sends the
/// customer back to `origin` (the storefront's address as they used it), else to its public address.
pub async fn start_top_up_from(
    state: &AppState,
    tenant: &Tenant,
    customer: &Customer,
    amount: Money,
    origin: Option<String>,
) -> Result<String, AppError> {
    let payment = Payment { purpose: "topup", amount, invoice: None, line_item: None, back_to: "/billing".to_owned() };
    // Each press of the button is its own checkout.
    open_checkout(state, tenant, customer, origin, payment, &format!("topup:{}", uuid::Uuid::new_v4())).await
}

/// What a Checkout is for.
struct Payment {
    /// `topup` or `invoice` (the session's metadata: how its completion is recorded).
    purpose: &'static str,
    amount: Money,
    invoice: Option<String>,
    /// What the payment page says is paid (`None`: account credit).
    line_item: Option<String>,
    /// The storefront page the payment page's "back" link leads to.
    back_to: String,
}

/// Opens a Stripe Checkout on the storefront's account for `customer` (who gets a Stripe customer, and
/// keeps the card for later); returns the payment page's address. The page sends the customer back to
/// `origin` (the storefront's address as they used it), else to its public address.
async fn open_checkout(
    state: &AppState,
    tenant: &Tenant,
    customer: &Customer,
    origin: Option<String>,
    payment: Payment,
    idempotency_key: &str,
) -> Result<String, AppError> {
    let Some((client, _)) = client(state, tenant).await? else {
        return Err(AppError::Invalid("Card payments are not set up for this store.".into()));
    };
    let stripe_customer = stripe_customer(tenant, &client, customer).await??;
    let base = match origin {
        Some(o) => o,
        None => crate::backend::mail::storefront::storefront_url(state, tenant).await?,
    };
    let mut metadata = Metadata::from([
        ("purpose".to_owned(), payment.purpose.to_owned()),
        ("customer_id".to_owned(), customer.id.to_string()),
    ]);
    if let Some(invoice) = payment.invoice {
        metadata.insert("invoice_id".to_owned(), invoice);
    }
    let checkout = TopupCheckout {
        customer_id: stripe_customer,
        amount_minor: payment.amount.minor(),
        currency: payment.amount.currency().code().to_ascii_lowercase(),
        success_url: format!("{base}/billing?topup={{CHECKOUT_SESSION_ID}}"),
        cancel_url: format!("{base}{}", payment.back_to),
        metadata,
        line_item: payment.line_item,
    };
    let session = client.create_topup_checkout(&checkout, idempotency_key).await.map_err(|e| unavailable(&e))?;
    session.url.ok_or_else(|| AppError::Unavailable("The payment service gave no payment page.".into()))
}

/// Completes a paid Checkout session, once however often it is reported: a top-up is credited; a "Pay now"
/// pays its invoice (or, if the invoice was settled otherwise meanwhile, is credited, so no money is
/// lost). The card it saved is remembered, and credit then pays open invoices, oldest first. `true` when
/// money was recorded now.
async fn complete_checkout(
    state: &AppState,
    tenant: &Tenant,
    client: &StripeClient,
    session: &CheckoutSession,
) -> Result<bool, BackendError> {
    if !session.is_paid() {
        return Ok(false);
    }
    let Some(customer) = session.metadata.get("customer_id").and_then(|c| c.parse::<CustomerId>().ok()) else {
        return Ok(false);
    };
    let Some(amount) = session.amount_total.filter(|a| *a > 0) else { return Ok(false) };
    let amount = Money::from_minor(amount, tenant.currency);
    let recorded = match session.metadata.get("purpose").map(String::as_str) {
        Some("topup") => {
            meter::top_up(tenant, customer, amount, EntryKind::TopUp, &format!("topup:{}", session.id), "Card top-up")
                .await?
        }
        Some("invoice") => {
            let Some(invoice) = session.metadata.get("invoice_id") else { return Ok(false) };
            let intent = session.payment_intent.as_deref();
            match invoices::record_checkout_payment(
                &tenant.db,
                invoice,
                customer,
                &session.id,
                intent,
                amount.minor(),
                now(),
            )
            .await?
            {
                invoices::CheckoutPaid::Paid => true,
                invoices::CheckoutPaid::AlreadyRecorded => false,
                invoices::CheckoutPaid::NotDue => {
                    let reference = format!("checkout:{}", session.id);
                    let memo = "Card payment (the invoice was already settled)";
                    meter::top_up(tenant, customer, amount, EntryKind::TopUp, &reference, memo).await?
                }
            }
        }
        _ => return Ok(false),
    };
    if let Some(stripe_customer) = session.customer.as_deref() {
        match client.list_payment_methods(stripe_customer).await {
            Ok(cards) => {
                let card = cards.first().map(|c| (c.id.clone(), format!("{} •••• {}", c.brand, c.last4)));
                meter::save_card(
                    tenant,
                    customer,
                    stripe_customer,
                    card.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                )
                .await?;
            }
            Err(e) => tracing::warn!(error = %e, "could not list the saved cards; the next top-up will"),
        }
    }
    // Credit pays what is left due, oldest invoice first.
    invoices::settle_from_credit(&tenant.db, customer, now()).await?;
    let _ = state;
    Ok(recorded)
}

/// Starts "Pay now" for one of the customer's invoices left due: a Checkout for exactly what it leaves
/// due; returns the payment page's address. The payment page sends the customer back to `origin` (else the
/// storefront's public address).
pub async fn start_invoice_checkout(
    state: &AppState,
    tenant: &Tenant,
    customer: &Customer,
    invoice_id: &str,
    origin: Option<String>,
) -> Result<String, AppError> {
    let inv = invoices::get_owned(&tenant.db, invoice_id, customer.id).await?.ok_or(AppError::NotFound)?;
    let due = inv.amount_due();
    if inv.status != Status::Finalised || due.minor() <= 0 {
        return Err(AppError::Conflict("This invoice has nothing left to pay.".into()));
    }
    let payment = Payment {
        purpose: "invoice",
        amount: due,
        invoice: Some(inv.id.clone()),
        line_item: Some(format!("Invoice {}", inv.display_number())),
        back_to: format!("/invoices/{}", inv.id),
    };
    // One checkout per invoice and amount: pressing "Pay now" twice opens the same payment page.
    open_checkout(state, tenant, customer, origin, payment, &format!("pay:{}:{}", inv.id, due.minor())).await
}

/// The customer came back from the payment page: confirm with Stripe (the webhook may not have come yet).
pub async fn confirm_top_up(
    state: &AppState,
    tenant: &Tenant,
    customer: &Customer,
    session_id: &str,
) -> Result<bool, AppError> {
    let Some((client, _)) = client(state, tenant).await? else { return Ok(false) };
    let session = client.get_checkout_session(session_id.trim()).await.map_err(|e| {
        if e.is_not_found() {
            AppError::NotFound
        } else {
            unavailable(&e)
        }
    })?;
    if session.metadata.get("customer_id") != Some(&customer.id.to_string()) {
        return Err(AppError::NotFound);
    }
    Ok(complete_checkout(state, tenant, &client, &session).await?)
}

/// What a webhook delivery did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    Handled,
    Ignored,
    /// Bad or missing signature: answered 400, nothing done.
    Rejected,
    /// No Stripe account to verify it with (the storefront has no keys; the platform has no account).
    Unknown,
}

impl WebhookOutcome {
    /// The HTTP answer: Stripe retries anything but a 2xx, and a refused signature is a 400.
    pub fn status_code(self) -> u16 {
        match self {
            WebhookOutcome::Handled | WebhookOutcome::Ignored => 200,
            WebhookOutcome::Rejected => 400,
            WebhookOutcome::Unknown => 404,
        }
    }
}

/// A webhook delivery's event, if its signature checks out with `secret` within Stripe's tolerance on our
/// clock; a refusal is logged (`account` names whose webhook it was) and nothing else is done.
pub(super) fn verified_event(payload: &[u8], signature: &str, secret: &str, account: &str) -> Option<stripe::Event> {
    match stripe::webhook::verify(
        payload,
        signature,
        secret,
        now().as_millis() / 1000,
        stripe::webhook::DEFAULT_TOLERANCE_SECS,
    ) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::warn!(error = %e, account, "Stripe webhook refused");
            None
        }
    }
}

/// A webhook for one storefront: verified with its signing secret, then handled idempotently.
pub async fn handle_webhook(
    state: &AppState,
    tenant: &Tenant,
    payload: &[u8],
    signature: &str,
) -> Result<WebhookOutcome, BackendError> {
    let Some((client, secret)) = client(state, tenant).await? else { return Ok(WebhookOutcome::Unknown) };
    let Some(event) = verified_event(payload, signature, &secret, &tenant.slug) else {
        return Ok(WebhookOutcome::Rejected);
    };
    match event.type_.as_str() {
        "checkout.session.completed" => {
            let Ok(session) = event.checkout_session() else { return Ok(WebhookOutcome::Ignored) };
            complete_checkout(state, tenant, &client, &session).await?;
            Ok(WebhookOutcome::Handled)
        }
        "payment_intent.succeeded" => {
            let Ok(pi) = event.payment_intent() else { return Ok(WebhookOutcome::Ignored) };
            if let Some(invoice) = pi.metadata.get("invoice_id") {
                invoices::record_card_payment(&tenant.db, invoice, pi.amount, &pi.id, now()).await?;
            }
            Ok(WebhookOutcome::Handled)
        }
        _ => Ok(WebhookOutcome::Ignored),
    }
}

/// Charges the saved card for what an invoice leaves due. Failures are recorded with the next attempt
/// per the dunning schedule and emailed; nothing is stopped for them.
pub async fn collect(state: &AppState, tenant: &Tenant, inv: &Invoice) -> Result<(), BackendError> {
    let due = inv.amount_due();
    if inv.status != Status::Finalised || due.minor() <= 0 {
        return Ok(());
    }
    let account = meter::account(tenant, inv.customer_id).await?;
    let (Some(stripe_customer), Some(card)) = (account.stripe_customer_id, account.payment_method_id) else {
        return Ok(());
    };
    let Some((client, _)) = client(state, tenant).await? else { return Ok(()) };
    let attempt = inv.payment_attempts + 1;
    let metadata = Metadata::from([("invoice_id".to_owned(), inv.id.clone())]);
    let key = format!("invoice:{}:{attempt}", inv.id);
    let currency = due.currency().code().to_ascii_lowercase();
    match client.charge_off_session(&stripe_customer, &card, due.minor(), &currency, &metadata, &key).await {
        Ok(pi) if pi.succeeded() => {
            invoices::record_card_payment(&tenant.db, &inv.id, due.minor(), &pi.id, now()).await?;
        }
        Ok(pi) => {
            let why = pi
                .last_payment_error
                .as_ref()
                .and_then(|e| e.decline_code.clone().or(e.code.clone()))
                .unwrap_or_else(|| pi.status.clone());
            let next = usize::try_from(inv.payment_attempts)
                .ok()
                .and_then(|i| DUNNING_SCHEDULE_MS.get(i))
                .map(|ms| now().plus_millis(*ms));
            invoices::record_card_failure(&tenant.db, &inv.id, &why, next).await?;
            notify::payment_failed(state, tenant, inv.customer_id, &inv.id, attempt, due).await?;
        }
        // Stripe unreachable: not an attempt; the next dunning pass tries again.
        Err(e) => tracing::warn!(error = %e, invoice = %inv.id, "charging the card failed to reach Stripe"),
    }
    Ok(())
}

/// What asking Stripe for a card refund came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundAttempt {
    /// Stripe accepted it: the refund's id.
    Refunded(String),
    /// Stripe will not refund it (more than is left on the payment, the payment is not refundable, the keys
    /// are gone): why, for the reseller.
    Refused(String),
    /// No answer, a rate limit, a 5xx or refused keys: it may yet succeed; try again with the same key.
    Unreachable,
}

/// Refunds `amount` of the card payment `payment_intent` through the storefront's Stripe. `key` is the
/// idempotency key: the same key always means the same one refund.
pub async fn refund_card(
    state: &AppState,
    tenant: &Tenant,
    payment_intent: &str,
    amount: Money,
    key: &str,
    metadata: &[(&str, &str)],
) -> Result<RefundAttempt, BackendError> {
    let Some((client, _)) = client(state, tenant).await? else {
        return Ok(RefundAttempt::Refused("card payments are no longer set up for this store".into()));
    };
    let metadata: Metadata = metadata.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Ok(match client.refund_payment(payment_intent, amount.minor(), &metadata, key).await {
        Ok(r) if r.failed() => RefundAttempt::Refused(format!("Stripe reports the refund {}", r.status)),
        Ok(r) => RefundAttempt::Refunded(r.id),
        // A refused key can be fixed by the reseller: not a final answer about this refund.
        Err(e) if e.is_retryable() || e.is_authentication() => {
            tracing::warn!(error = %e, "a card refund did not reach Stripe; the next attempt sends it again");
            RefundAttempt::Unreachable
        }
        Err(stripe::StripeError::Api { message, .. }) => RefundAttempt::Refused(message),
        Err(e) => RefundAttempt::Refused(e.to_string()),
    })
}

/// Invoices whose next payment attempt is due.
pub async fn due_for_collection(tenant: &Tenant, at: Timestamp) -> Result<Vec<Invoice>, BackendError> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM invoices WHERE status = 'finalised' AND next_payment_at IS NOT NULL AND next_payment_at <= $1",
    )
    .bind(at.as_millis())
    .fetch_all(tenant.db.pool())
    .await?;
    let mut out = Vec::new();
    for id in ids {
        if let Some(i) = invoices::get(&tenant.db, &id).await? {
            out.push(i);
        }
    }
    Ok(out)
}

/// Removes the saved card (detached at Stripe, forgotten here). Later invoices are paid from credit, or
/// stay due.
pub async fn remove_card(state: &AppState, tenant: &Tenant, customer: CustomerId) -> Result<bool, AppError> {
    let account = meter::account(tenant, customer).await?;
    let Some(card) = account.payment_method_id else { return Ok(false) };
    if let Some((client, _)) = client(state, tenant).await? {
        if let Err(e) = client.detach_payment_method(&card).await {
            if !e.is_not_found() {
                return Err(unavailable(&e));
            }
        }
    }
    sqlx::query(
        "UPDATE billing_accounts SET payment_method_id = NULL, card_label = NULL, updated_at = $1 WHERE customer_id = $2",
    )
    .bind(now().as_millis())
    .bind(customer.to_string())
    .execute(tenant.db.pool())
    .await
    .map_err(BackendError::from)?;
    Ok(true)
}
