//! The billing emails: invoices (with their PDF), low balance, failed payments. Sent by the system
//! (billing runs, the meter, webhooks), so links point at the storefront's public address.

use crate::backend::billing::invoices::Invoice;
use crate::backend::billing::{document, pdf};
use crate::backend::identity::customers::Customer;
use crate::backend::mail::storefront::{brand, queue, queue_new_from};
use crate::backend::mail::templates::{self, BrandContext};
use crate::backend::mail::MailAttachment;
use crate::backend::state::{AppState, Tenant};
use crate::backend::Result;
use crate::domain::invoice::InvoiceDocument;

/// The storefront's brand as its emails carry it (look, links, sender), read once for many messages: a
/// billing run mails every invoice of the period with one read of the tenant's branding and domains.
pub struct Sender {
    ctx: BrandContext,
    from: (String, String),
}

impl Sender {
    /// The tenant's brand now, with links to its public address.
    pub async fn of(state: &AppState, tenant: &Tenant) -> Result<Sender> {
        let (ctx, from_name, from_addr) = brand(state, tenant, None).await?;
        Ok(Sender { ctx, from: (from_name, from_addr) })
    }
}

/// "Invoice N from <company>", once per invoice: `inv` as the billing run just read it (finalised).
pub async fn invoice_issued(state: &AppState, tenant: &Tenant, sender: &Sender, inv: &Invoice) -> Result<()> {
    let Some(c) = crate::backend::identity::customers::get(&tenant.db, inv.customer_id).await? else { return Ok(()) };
    let doc = document::of_invoice(tenant, &c, inv, sender.ctx.company_name.clone()).await?;
    let key = format!("invoice:{}:{}", tenant.id, inv.id);
    let invoice = (inv.id.as_str(), inv.display_number(), inv.total);
    invoice_mail(state, tenant, sender, &c, invoice, Some(doc), key).await.map(drop)
}

/// The same invoice email again, asked for by the storefront: once per `request` (the resend form's
/// one-time key), so a retried request does not mail twice but a later resend does mail again. `true`
/// when queued now.
pub async fn invoice_resent(
    state: &AppState,
    tenant: &Tenant,
    customer: crate::domain::ids::CustomerId,
    invoice_id: &str,
    number: &str,
    total: crate::domain::money::Money,
    request: &str,
) -> Result<bool> {
    let Some(c) = crate::backend::identity::customers::get(&tenant.db, customer).await? else { return Ok(false) };
    let sender = Sender::of(state, tenant).await?;
    let doc = document::invoice_of(tenant, &c, invoice_id, sender.ctx.company_name.clone()).await?;
    let key = format!("invoice_resend:{}:{invoice_id}:{request}", tenant.id);
    invoice_mail(state, tenant, &sender, &c, (invoice_id, number.to_owned(), total), doc, key).await
}

/// The invoice email to `c`, with the PDF of `doc` when there is one (built from the same document as the
/// page).
async fn invoice_mail(
    state: &AppState,
    tenant: &Tenant,
    sender: &Sender,
    c: &Customer,
    (invoice_id, number, total): (&str, String, crate::domain::money::Money),
    doc: Option<InvoiceDocument>,
    key: String,
) -> Result<bool> {
    let link = format!("{}/invoices/{invoice_id}", sender.ctx.base_url);
    let rendered = templates::invoice(&sender.ctx, &c.name, &number, &total.to_string(), &link);
    let attachment = match doc {
        Some(v) => Some(MailAttachment {
            filename: format!("{}.pdf", v.number),
            content_type: "application/pdf".into(),
            body: pdf::invoice_off_thread(&v).await?,
        }),
        None => None,
    };
    queue_new_from(state, tenant, sender.from.clone(), "invoice", key, &c.email, rendered, attachment).await
}

/// A reminder about an invoice left due (before and after its due date), once per invoice and reminder.
/// The button leads to the invoice, where "Pay now" is.
pub async fn invoice_reminder(
    state: &AppState,
    tenant: &Tenant,
    inv: &crate::backend::billing::invoices::Invoice,
    reminder: crate::domain::payment_terms::Reminder,
) -> Result<()> {
    let Some(c) = crate::backend::identity::customers::get(&tenant.db, inv.customer_id).await? else { return Ok(()) };
    let Some(due_at) = inv.due_at else { return Ok(()) };
    let (ctx, _, _) = brand(state, tenant, None).await?;
    let link = format!("{}/invoices/{}", ctx.base_url, inv.id);
    let due_on = crate::domain::time::format_utc(due_at);
    let rendered = templates::invoice_reminder(
        &ctx,
        &c.name,
        &inv.display_number(),
        &inv.amount_due().to_string(),
        due_on.split(' ').next().unwrap_or(&due_on),
        reminder != crate::domain::payment_terms::Reminder::DueSoon,
        &link,
    );
    let key = format!("invoice_reminder:{}:{}:{}", tenant.id, inv.id, reminder.number());
    queue(state, tenant, None, "invoice_reminder", key, &c.email, rendered, None).await
}

/// "Your balance is low" when the balance first falls under `threshold` (minor units) since the last
/// top-up (`episode` = how many top-ups the customer has made, so a later dip announces again).
pub async fn low_balance(
    state: &AppState,
    tenant: &Tenant,
    customer: crate::domain::ids::CustomerId,
    balance: crate::domain::money::Money,
    threshold: i64,
    episode: i64,
) -> Result<()> {
    let Some(c) = crate::backend::identity::customers::get(&tenant.db, customer).await? else { return Ok(()) };
    let (ctx, _, _) = brand(state, tenant, None).await?;
    let link = format!("{}/billing", ctx.base_url);
    let rendered = templates::low_balance(&ctx, &c.name, &balance.to_string(), &link);
    let key = format!("low_balance:{}:{customer}:{episode}:{threshold}", tenant.id);
    queue(state, tenant, None, "low_balance", key, &c.email, rendered, None).await
}

/// "A payment failed", once per invoice and attempt.
pub async fn payment_failed(
    state: &AppState,
    tenant: &Tenant,
    customer: crate::domain::ids::CustomerId,
    invoice_id: &str,
    attempt: i64,
    amount: crate::domain::money::Money,
) -> Result<()> {
    let Some(c) = crate::backend::identity::customers::get(&tenant.db, customer).await? else { return Ok(()) };
    let (ctx, _, _) = brand(state, tenant, None).await?;
    let link = format!("{}/invoices/{invoice_id}", ctx.base_url);
    let rendered = templates::payment_failed(&ctx, &c.name, &amount.to_string(), &link);
    let key = format!("payment_failed:{}:{invoice_id}:{attempt}", tenant.id);
    queue(state, tenant, None, "payment_failed", key, &c.email, rendered, None).await
}
