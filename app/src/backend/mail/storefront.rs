//! Messages a storefront sends its customers: branded with the tenant's look and sender details, with
//! absolute links to the storefront, and queued in the outbox (delivered by the mail worker,
//! deduplicated, retried). Links carrying a one-time token are built around `mail::SECRET_PLACEHOLDER` and
//! the token is queued sealed, never in clear. What each message says lives with its capability
//! (`identity::notify`, `workspaces::notify`, `billing::notify`).

use crate::backend::mail::templates::{BrandContext, Rendered};
use crate::backend::mail::{outbox, token_dedupe_key, MailAttachment, Outgoing};
use crate::backend::state::{AppState, Tenant};
use crate::backend::{corrupt, tenancy::branding, Result};

/// The storefront's public address outside a request (jobs): its verified primary domain, else
/// `<slug>.<platform>` (the apex for the house), with the configured scheme and port.
pub async fn storefront_url(state: &AppState, tenant: &Tenant) -> Result<String> {
    let domains =
        crate::backend::tenancy::domains::domains(state, tenant.id).await.map_err(|e| corrupt(e.to_string()))?;
    let sites = state.registry().sites();
    let host = match domains
        .iter()
        .find(|d| d.kind == crate::domain::tenant::DomainKind::Primary && d.verified_at.is_some())
    {
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

/// The tenant's branding as emails need it, with absolute links to the storefront at `origin` (the
/// address the customer is using, for messages answering their action) or, when `None`, at its public
/// address (messages sent by the system: jobs, billing runs, webhooks).
pub async fn brand(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
) -> Result<(BrandContext, String, String)> {
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

/// Queues a branded message (deduplicated by `key`) and wakes the mail worker.
#[allow(clippy::too_many_arguments)]
pub async fn queue(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
    kind: &str,
    key: String,
    to: &str,
    rendered: Rendered,
    attachment: Option<MailAttachment>,
) -> Result<()> {
    queue_new(state, tenant, origin, kind, key, to, rendered, attachment).await.map(drop)
}

/// [`queue`], saying whether the message is new: `false` when `key` was queued before (nothing queued).
#[allow(clippy::too_many_arguments)]
pub async fn queue_new(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
    kind: &str,
    key: String,
    to: &str,
    rendered: Rendered,
    attachment: Option<MailAttachment>,
) -> Result<bool> {
    let (_, from_name, from_addr) = brand(state, tenant, origin).await?;
    queue_new_from(state, tenant, (from_name, from_addr), kind, key, to, rendered, attachment).await
}

/// [`queue_new`] with the sender already known (`brand`'s name and address), for a caller that read the
/// brand to render the message: the same central reads are not made twice for every message.
#[allow(clippy::too_many_arguments)]
pub async fn queue_new_from(
    state: &AppState,
    tenant: &Tenant,
    (from_name, from_addr): (String, String),
    kind: &str,
    key: String,
    to: &str,
    rendered: Rendered,
    attachment: Option<MailAttachment>,
) -> Result<bool> {
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
    let new = outbox::enqueue(state.central(), &o).await?;
    state.notify_mail();
    Ok(new)
}

/// Queues a message whose link carries the one-time `token`: the rendered bodies hold the placeholder,
/// and the token goes into the outbox sealed (see `mail`'s module docs).
pub async fn queue_secret(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
    kind: &str,
    to: &str,
    token: &str,
    rendered: Rendered,
) -> Result<()> {
    let (_, from_name, from_addr) = brand(state, tenant, origin).await?;
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
