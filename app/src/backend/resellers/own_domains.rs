//! A reseller's own domains, without the platform's help (`/manage/domains`): adding one (the same checks
//! as the admin's), the record to publish, "check now", making one primary, removing one. Unverified
//! domains are also checked by themselves on a backing-off schedule for 72 hours (one pass per interval
//! across every server, under a lease), and the owner is emailed once when a domain goes live, however it
//! got verified. Every change is recorded in the audit log; the platform admin still sees and overrides
//! all of it from the tenant's page.

use std::net::IpAddr;

use crate::backend::mail::storefront::storefront_url;
use crate::backend::mail::{outbox, templates, Outgoing};
use crate::backend::platform::audit::{self, Actor};
use crate::backend::platform::loops::Loop;
use crate::backend::resellers::overview::domain_view;
use crate::backend::state::AppState;
use crate::backend::tenancy::domains::{self, CheckBy, Checked};
use crate::backend::tenancy::registry::{self, TenantEntry};
use crate::backend::tenancy::{branding, TenantError};
use crate::backend::{corrupt, BackendError};
use crate::domain::ids::TenantId;
use crate::domain::tenant::DomainKind;
use crate::domain::tenant_view::DomainView;

type Result<T, E = TenantError> = std::result::Result<T, E>;

/// How many due domains one scheduled pass checks (the rest wait for the next pass).
const CHECKS_PER_PASS: i64 = 50;

pub async fn list(state: &AppState, tenant: TenantId) -> Result<Vec<DomainView>> {
    Ok(domains::domains(state, tenant).await?.into_iter().map(domain_view).collect())
}

/// Adds a domain (checked like the admin's: a real name, never one of the platform's, not another
/// storefront's) and returns the list with the record to publish for it.
pub async fn add_by(
    state: &AppState,
    ip: Option<IpAddr>,
    actor: &Actor<'_>,
    tenant: &TenantEntry,
    raw: &str,
    primary: bool,
) -> Result<Vec<DomainView>> {
    if raw.len() > 253 {
        return Err(TenantError::Invalid("A domain name is at most 253 characters.".into()));
    }
    domains::add_domain(state, &tenant.slug, raw, primary).await?;
    let added = raw.trim().trim_end_matches('.').to_ascii_lowercase();
    audit::record_by(state.central(), ip, actor, Some(tenant.id), "domain.added", &added).await?;
    list(state, tenant.id).await
}

/// Checks a domain now (its TXT record, then its HTTP token). Returns what the check found and the list.
pub async fn check_now_by(
    state: &AppState,
    ip: Option<IpAddr>,
    actor: &Actor<'_>,
    tenant: &TenantEntry,
    domain: &str,
) -> Result<(Checked, Vec<DomainView>)> {
    let checked = domains::check(state, tenant.id, domain, CheckBy::Either, false).await?;
    if let Checked::Verified(method) = &checked {
        let detail = format!("{domain} by {}", method.as_str());
        audit::record_by(state.central(), ip, actor, Some(tenant.id), "domain.verified", &detail).await?;
        announce_live(state, tenant.id, domain).await?;
    }
    Ok((checked, list(state, tenant.id).await?))
}

/// Makes a domain the storefront's primary address (emails and links use it once it is verified).
pub async fn make_primary_by(
    state: &AppState,
    ip: Option<IpAddr>,
    actor: &Actor<'_>,
    tenant: &TenantEntry,
    domain: &str,
) -> Result<Vec<DomainView>> {
    domains::make_primary(state, tenant.id, domain).await?;
    audit::record_by(state.central(), ip, actor, Some(tenant.id), "domain.made_primary", domain).await?;
    list(state, tenant.id).await
}

/// Removes a domain. The verified primary domain is where customers find the storefront, so it stays
/// until another domain is made primary (the platform admin can still remove it).
pub async fn remove_by(
    state: &AppState,
    ip: Option<IpAddr>,
    actor: &Actor<'_>,
    tenant: &TenantEntry,
    domain: &str,
) -> Result<Vec<DomainView>> {
    let all = domains::domains(state, tenant.id).await?;
    let d = all.iter().find(|d| d.domain == domain).ok_or(TenantError::NotFound)?;
    if d.kind == DomainKind::Primary && d.verified_at.is_some() {
        return Err(TenantError::Conflict(
            "This is your storefront's address. Make another verified domain primary before removing it.".into(),
        ));
    }
    domains::remove_domain(state, &tenant.slug, domain).await?;
    audit::record_by(state.central(), ip, actor, Some(tenant.id), "domain.removed", domain).await?;
    list(state, tenant.id).await
}

/// Emails the storefront's owner that `domain` is live, once per domain whoever verified it.
pub async fn announce_live(state: &AppState, tenant: TenantId, domain: &str) -> Result<()> {
    if !domains::claim_live_notice(state, tenant, domain).await? {
        return Ok(());
    }
    let Some(t) = state.tenant_by_id(tenant).await? else { return Ok(()) };
    let rec = registry::record_by_slug(state.central(), &t.slug).await?.ok_or(TenantError::NotFound)?;
    let house = state.house().await?;
    let platform = branding::get(state.central(), house.id).await?.ok_or_else(|| corrupt("house branding missing"))?;
    let ctx = crate::backend::mail::brand_context(&platform, &storefront_url(state, &house).await?);
    let settings = state.settings();
    let scheme = if settings.secure_cookies { "https" } else { "http" };
    let url = match settings.public_port {
        Some(port) => format!("{scheme}://{domain}:{port}"),
        None => format!("{scheme}://{domain}"),
    };
    let rendered = templates::domain_live(&ctx, &t.name, domain, &url);
    let o = Outgoing {
        tenant: Some(tenant),
        dedupe_key: format!("domain_live:{tenant}:{domain}"),
        kind: "domain_live".into(),
        to: rec.owner_email,
        from_name: platform.theme.company_name.clone(),
        from_addr: platform.from_email.clone(),
        reply_to: None,
        rendered,
        attachment: None,
    };
    outbox::enqueue(state.central(), &o).await.map_err(BackendError::from)?;
    state.notify_mail();
    Ok(())
}

/// One pass of the scheduled checks (public for tests): every unverified domain whose next check is due.
/// Returns how many domains went live. The loop runs it on one server per interval.
pub async fn scheduled_checks(state: &AppState) -> Result<usize> {
    let mut live = 0;
    for (tenant, domain) in domains::due_for_check(state, CHECKS_PER_PASS).await? {
        match domains::check(state, tenant, &domain, CheckBy::Either, true).await {
            Ok(Checked::Verified(method)) => {
                let detail = format!("{domain} by {} (scheduled check)", method.as_str());
                audit::record(
                    state.central(),
                    None,
                    audit::ActorKind::System,
                    "system",
                    Some(tenant),
                    "domain.verified",
                    &detail,
                )
                .await?;
                announce_live(state, tenant, &domain).await?;
                live += 1;
            }
            Ok(_) => {}
            // One domain's failure (removed meanwhile, a database hiccup) never stops the others.
            Err(e) => tracing::warn!(%domain, error = %e, "scheduled domain check failed"),
        }
    }
    Ok(live)
}

/// The scheduled checks, every `interval` (once across the cluster), until shutdown.
pub async fn run(state: AppState, interval: std::time::Duration, shutdown: tokio::sync::watch::Receiver<bool>) {
    let loops = state.loops();
    loops
        .run(state.central(), Loop::DomainChecks, interval, shutdown, || async {
            match scheduled_checks(&state).await {
                Ok(n) if n > 0 => tracing::info!(domains = n, "domains verified by the scheduled checks"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "scheduled domain checks failed; the next pass retries"),
            }
        })
        .await;
}
