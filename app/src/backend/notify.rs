//! The emails a storefront sends its customers, branded with the tenant's look and sender details and
//! queued in the outbox (delivered by the mail worker, deduplicated, retried). Links carrying a one-time
//! token are built around [`SECRET_PLACEHOLDER`] and the token is queued sealed, never in clear.

use crate::backend::mail::templates::{self, BrandContext, Rendered};
use crate::backend::mail::{outbox, token_dedupe_key, MailAttachment, Outgoing, SECRET_PLACEHOLDER};
use crate::backend::state::{AppState, Tenant};
use crate::backend::{corrupt, request, tenancy::branding, Result};

/// The storefront's public address outside a request (jobs): its verified primary domain, else
/// `<slug>.<platform>` (the apex for the house), with the configured scheme and port.
pub async fn storefront_url(state: &AppState, tenant: &Tenant) -> Result<String> {
    let domains =
        crate::backend::tenancy::lifecycle::domains(state, tenant.id).await.map_err(|e| corrupt(e.to_string()))?;
    let sites = state.registry().sites();
    let host = match domains.iter().find(|d| d.kind == "primary" && d.verified_at.is_some()) {
        Some(d) => d.domain.clone(),
        None if tenant.slug == crate::backend::tenancy::registry::HOUSE_SLUG => sites.platform_domain.to_string(),
        None => format!("{}.{}", tenant.slug, sites.platform_domain),
    };
    let settings = state.settings();
    let scheme = if settings.secure_cookies { "https" } else { "http" };
    Ok(match settings.public_port {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    })
}

/// The tenant's branding as emails need it, with absolute links to this storefront.
async fn brand(state: &AppState, tenant: &Tenant) -> Result<(BrandContext, String, String)> {
    brand_at(state, tenant, request::origin()).await
}

/// Like [`brand`], with the storefront's origin given (work done after the request has been answered
/// has no request to read it from); `None` = the storefront's public address.
async fn brand_at(state: &AppState, tenant: &Tenant, origin: Option<String>) -> Result<(BrandContext, String, String)> {
    let b = branding::get(state.central(), tenant.id).await?.ok_or_else(|| corrupt("tenant branding missing"))?;
    let base_url = match origin {
        Some(o) => o,
        None => storefront_url(state, tenant).await?,
    };
    let ctx = BrandContext {
        company_name: b.theme.company_name.clone(),
        logo_url: b.logo_sha.as_ref().map(|sha| format!("{base_url}/brand/asset/{sha}.png")),
        primary: b.theme.primary,
        support_email: b.support_email.clone(),
        support_phone: b.support_phone.clone(),
        base_url,
    };
    let from_name = if b.from_name.is_empty() { b.theme.company_name.clone() } else { b.from_name.clone() };
    Ok((ctx, from_name, b.from_email))
}

async fn queue(state: &AppState, tenant: &Tenant, kind: &str, key: String, to: &str, rendered: Rendered) -> Result<()> {
    queue_with(state, tenant, kind, key, to, rendered, None).await
}

async fn queue_with(
    state: &AppState,
    tenant: &Tenant,
    kind: &str,
    key: String,
    to: &str,
    rendered: Rendered,
    attachment: Option<MailAttachment>,
) -> Result<()> {
    let (_, from_name, from_addr) = brand(state, tenant).await?;
    let o = Outgoing {
        tenant: Some(tenant.id),
        dedupe_key: key,
        kind: kind.to_owned(),
        to: to.to_owned(),
        from_name,
        from_addr,
        reply_to: None,
        rendered,
        attachment,
    };
    outbox::enqueue(state.central(), &o).await?;
    state.notify_mail();
    Ok(())
}

/// Queues a message whose link carries the one-time `token`: the rendered bodies hold the placeholder,
/// and the token goes into the outbox sealed (see `mail`'s module docs).
async fn queue_secret(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
    kind: &str,
    to: &str,
    token: &str,
    rendered: Rendered,
) -> Result<()> {
    let (_, from_name, from_addr) = brand_at(state, tenant, origin).await?;
    let o = Outgoing {
        tenant: Some(tenant.id),
        dedupe_key: token_dedupe_key(kind, tenant.id, token),
        kind: kind.to_owned(),
        to: to.to_owned(),
        from_name,
        from_addr,
        reply_to: None,
        rendered,
        attachment: None,
    };
    outbox::enqueue_with_secret(state.central(), state.crypto(), &o, token).await?;
    state.notify_mail();
    Ok(())
}

pub async fn verify_email(state: &AppState, tenant: &Tenant, to: &str, name: &str, token: &str) -> Result<()> {
    let origin = request::origin();
    let (ctx, _, _) = brand_at(state, tenant, origin.clone()).await?;
    let link = format!("{}/verify?token={SECRET_PLACEHOLDER}", ctx.base_url);
    let rendered = templates::verify_email(&ctx, name, &link);
    queue_secret(state, tenant, origin, "verify", to, token, rendered).await
}

/// The reset link. `origin` is the storefront's origin as the customer used it (this runs after the
/// request has been answered, see `request_password_reset`); `None` = its public address.
pub async fn password_reset(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
    to: &str,
    name: &str,
    token: &str,
) -> Result<()> {
    let (ctx, _, _) = brand_at(state, tenant, origin.clone()).await?;
    let link = format!("{}/reset?token={SECRET_PLACEHOLDER}", ctx.base_url);
    let rendered = templates::password_reset(&ctx, name, &link, crate::auth::server::RESET_TTL_MINUTES);
    queue_secret(state, tenant, origin, "reset", to, token, rendered).await
}

pub async fn confirm_email_change(state: &AppState, tenant: &Tenant, to: &str, name: &str, token: &str) -> Result<()> {
    let origin = request::origin();
    let (ctx, _, _) = brand_at(state, tenant, origin.clone()).await?;
    let link = format!("{}/confirm-email?token={SECRET_PLACEHOLDER}", ctx.base_url);
    let rendered = templates::verify_email(&ctx, name, &link);
    queue_secret(state, tenant, origin, "email_change", to, token, rendered).await
}

/// "Your workspace is ready", once per workspace (the first time it runs).
pub async fn workspace_ready(
    state: &AppState,
    tenant: &Tenant,
    customer: crate::domain::ids::CustomerId,
    workspace: crate::domain::ids::WorkspaceId,
    plan_name: &str,
) -> Result<()> {
    let Some(c) = crate::backend::identity::customers::get(&tenant.db, customer).await? else { return Ok(()) };
    let (ctx, _, _) = brand(state, tenant).await?;
    let link = format!("{}/workspaces/{workspace}", ctx.base_url);
    let rendered = templates::workspace_ready(&ctx, &c.name, plan_name, &link);
    queue(state, tenant, "workspace_ready", format!("ready:{}:{workspace}", tenant.id), &c.email, rendered).await
}

/// "Welcome", once per account, when the email address is confirmed.
pub async fn welcome(state: &AppState, tenant: &Tenant, customer: crate::domain::ids::CustomerId) -> Result<()> {
    let Some(c) = crate::backend::identity::customers::get(&tenant.db, customer).await? else { return Ok(()) };
    let (ctx, _, _) = brand(state, tenant).await?;
    let rendered = templates::welcome(&ctx, &c.name);
    queue(state, tenant, "welcome", format!("welcome:{}:{customer}", tenant.id), &c.email, rendered).await
}

/// "Invoice N from <company>", once per invoice.
pub async fn invoice_issued(
    state: &AppState,
    tenant: &Tenant,
    customer: crate::domain::ids::CustomerId,
    invoice_id: &str,
    number: &str,
    total: crate::domain::money::Money,
) -> Result<()> {
    let Some(c) = crate::backend::identity::customers::get(&tenant.db, customer).await? else { return Ok(()) };
    let (ctx, _, _) = brand(state, tenant).await?;
    let link = format!("{}/invoices/{invoice_id}", ctx.base_url);
    let rendered = templates::invoice(&ctx, &c.name, number, &total.to_string(), &link);
    // The PDF goes with it, built from the same document as the page.
    use crate::backend::billing::{document, pdf};
    let attachment = document::invoice(state, tenant, &c, invoice_id).await?.map(|v| MailAttachment {
        filename: format!("{}.pdf", v.number),
        content_type: "application/pdf".into(),
        body: pdf::invoice(&v),
    });
    let key = format!("invoice:{}:{invoice_id}", tenant.id);
    queue_with(state, tenant, "invoice", key, &c.email, rendered, attachment).await
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
    let (ctx, _, _) = brand(state, tenant).await?;
    let link = format!("{}/billing", ctx.base_url);
    let rendered = templates::low_balance(&ctx, &c.name, &balance.to_string(), &link);
    let key = format!("low_balance:{}:{customer}:{episode}:{threshold}", tenant.id);
    queue(state, tenant, "low_balance", key, &c.email, rendered).await
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
    let (ctx, _, _) = brand(state, tenant).await?;
    let link = format!("{}/invoices/{invoice_id}", ctx.base_url);
    let rendered = templates::payment_failed(&ctx, &c.name, &amount.to_string(), &link);
    let key = format!("payment_failed:{}:{invoice_id}:{attempt}", tenant.id);
    queue(state, tenant, "payment_failed", key, &c.email, rendered).await
}
