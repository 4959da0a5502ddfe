//! The emails of signing up and keeping an account: address verification, password reset, email
//! change, welcome. `origin` is the storefront's address as the customer used it (`None` = its public
//! address); links carry one-time tokens, queued sealed.

use crate::backend::identity::auth::RESET_TTL_MINUTES;
use crate::backend::mail::storefront::{brand, queue, queue_secret};
use crate::backend::mail::templates;
use crate::backend::mail::SECRET_PLACEHOLDER;
use crate::backend::state::{AppState, Tenant};
use crate::backend::Result;

pub async fn verify_email(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
    to: &str,
    name: &str,
    token: &str,
) -> Result<()> {
    let (ctx, _, _) = brand(state, tenant, origin.clone()).await?;
    let link = format!("{}/verify?token={SECRET_PLACEHOLDER}", ctx.base_url);
    let rendered = templates::verify_email(&ctx, name, &link);
    queue_secret(state, tenant, origin, "verify", to, token, rendered).await
}

/// The reset link. `origin` is the storefront's origin as the customer used it (this runs after the
/// request has been answered, see `customer_account::request_reset`); `None` = its public address.
pub async fn password_reset(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
    to: &str,
    name: &str,
    token: &str,
) -> Result<()> {
    let (ctx, _, _) = brand(state, tenant, origin.clone()).await?;
    let link = format!("{}/reset?token={SECRET_PLACEHOLDER}", ctx.base_url);
    let rendered = templates::password_reset(&ctx, name, &link, RESET_TTL_MINUTES);
    queue_secret(state, tenant, origin, "reset", to, token, rendered).await
}

pub async fn confirm_email_change(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
    to: &str,
    name: &str,
    token: &str,
) -> Result<()> {
    let (ctx, _, _) = brand(state, tenant, origin.clone()).await?;
    let link = format!("{}/confirm-email?token={SECRET_PLACEHOLDER}", ctx.base_url);
    let rendered = templates::verify_email(&ctx, name, &link);
    queue_secret(state, tenant, origin, "email_change", to, token, rendered).await
}

/// "Welcome", once per account, when the email address is confirmed.
pub async fn welcome(
    state: &AppState,
    tenant: &Tenant,
    origin: Option<String>,
    customer: crate::domain::ids::CustomerId,
) -> Result<()> {
    let Some(c) = crate::backend::identity::customers::get(&tenant.db, customer).await? else { return Ok(()) };
    let (ctx, _, _) = brand(state, tenant, origin.clone()).await?;
    let rendered = templates::welcome(&ctx, &c.name);
    queue(state, tenant, origin, "welcome", format!("welcome:{}:{customer}", tenant.id), &c.email, rendered, None).await
}
