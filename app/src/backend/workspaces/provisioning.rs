//! Drives a workspace towards the state the customer asked for, talking to Kasm.
//!
//! The database row is the intent: `provisioning` (needs a Kasm session), `starting` (waiting for Kasm to
//! report it running), `stopping` (needs Kasm to stop it and the meter to close). [`sync`] looks at the row,
//! does the next step and says whether more is to come. It is safe to call any number of times, from the
//! job worker or inline from a request, because:
//! - a per-workspace lease in the database lets one caller at a time talk to Kasm about a workspace;
//! - `request_kasm` is not idempotent, so before asking for a session we look for one we already got (a
//!   lost response) and adopt it;
//! - state changes are conditional updates, and the meter opens/closes in the same transaction.

use std::collections::BTreeMap;

use rand::distr::{Alphanumeric, SampleString};

use crate::backend::clients::kasm::{KasmClient, KasmError, KasmId, KasmImageId, KasmSession, KasmStatus, KasmUserId};
use crate::backend::identity::customers::{self, Customer};
use crate::backend::platform::alerts::Alert;
use crate::backend::platform::audit::{self, ActorKind};
use crate::backend::platform::db::now;
use crate::backend::platform::events::WorkspaceChanged;
use crate::backend::platform::jobs::{self, JobKind};
use crate::backend::platform::leases::while_renewing;
use crate::backend::state::{AppState, Tenant};
use crate::backend::workspaces::catalog;
use crate::backend::workspaces::kasm_servers::DEFAULT_SERVER;
use crate::backend::workspaces::plan_templates;
use crate::backend::workspaces::price_book;
use crate::backend::workspaces::store::{self, Workspace};
use crate::backend::{corrupt, BackendError};
use crate::domain::ids::{TenantId, WorkspaceId};
use crate::domain::time::Timestamp;
use crate::domain::workspace::WorkspaceState;
use tracing::Instrument;

/// What is left to do after one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing: the workspace is in a resting state (running, stopped, failed).
    Settled,
    /// Waiting on Kasm; look again shortly.
    Again,
    /// Someone else holds the workspace's lease right now.
    Busy,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A transient Kasm failure (timeout, 5xx, 429, connection): retried with backoff.
    #[error(transparent)]
    Kasm(#[from] KasmError),
}

impl From<sqlx::Error> for SyncError {
    fn from(e: sqlx::Error) -> Self {
        SyncError::Backend(e.into())
    }
}

/// A sync's hold on its workspace: short, so a server killed mid-sync holds the workspace for seconds, and
/// renewed every [`RENEW_EVERY`] while the sync runs (a slow Kasm call keeps it).
const LEASE_MS: i64 = 6_000;
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_millis(2_000);
/// Environment variable carrying our workspace id into the Kasm session (visible in Kasm's admin UI).
pub const WORKSPACE_ENV: &str = "EZSCALE_WORKSPACE_ID";

pub async fn sync(state: &AppState, tenant: &Tenant, id: WorkspaceId) -> Result<Step, SyncError> {
    let owner = format!("sync-{}", uuid::Uuid::new_v4());
    if !store::acquire_lease(&tenant.db, id, &owner, now(), LEASE_MS).await? {
        return Ok(Step::Busy);
    }
    let before = store::get(&tenant.db, id).await?.map(|w| w.state);
    let result = while_renewing(sync_locked(state, tenant, id), RENEW_EVERY, || async {
        match store::renew_lease(&tenant.db, id, &owner, now(), LEASE_MS).await {
            Ok(true) => {}
            // Every step is a conditional update, so a sync beside another one changes nothing twice.
            Ok(false) => tracing::warn!(workspace = %id, "a sync outlived its workspace lease"),
            Err(e) => tracing::warn!(error = %e, workspace = %id, "renewing a workspace lease failed"),
        }
    })
    .await;
    if let Ok(Some(after)) = store::get(&tenant.db, id).await {
        if Some(after.state) != before {
            announce(state, tenant, &after);
        }
    }
    if let Err(e) = store::release_lease(&tenant.db, id, &owner).await {
        tracing::warn!(error = %e, workspace = %id, "releasing a workspace lease failed; it will lapse");
    }
    result
}

async fn sync_locked(state: &AppState, tenant: &Tenant, id: WorkspaceId) -> Result<Step, SyncError> {
    // A few passes: provisioning hands over to starting within the same call.
    for _ in 0..3 {
        let Some(ws) = store::get(&tenant.db, id).await? else { return Ok(Step::Settled) };
        let step = match ws.state {
            WorkspaceState::Provisioning => provision(state, tenant, &ws).await?,
            WorkspaceState::Starting => await_running(state, tenant, &ws).await?,
            WorkspaceState::Stopping => stop(state, tenant, &ws).await?,
            WorkspaceState::Terminating => terminate(state, tenant, &ws).await?,
            WorkspaceState::Running | WorkspaceState::Stopped | WorkspaceState::Failed | WorkspaceState::Terminated => {
                Step::Settled
            }
        };
        if step != Step::Again || ws.state == WorkspaceState::Starting {
            return Ok(step);
        }
    }
    Ok(Step::Again)
}

/// A business refusal from Kasm (or a permanent client error) ends the attempt with a readable reason;
/// transient failures bubble up to be retried.
async fn fail_or_retry(state: &AppState, tenant: &Tenant, ws: &Workspace, e: KasmError) -> Result<Step, SyncError> {
    if e.is_retryable() {
        return Err(e.into());
    }
    tracing::warn!(error = %e, workspace = %ws.id, "Kasm refused; the workspace is marked failed");
    fail(state, tenant, ws, &e.user_message(), &e.to_string()).await?;
    Ok(Step::Settled)
}

/// Marks the workspace failed with a reason for the customer, and alerts the operators with the detail.
async fn fail(
    state: &AppState,
    tenant: &Tenant,
    ws: &Workspace,
    reason: &str,
    detail: &str,
) -> Result<(), BackendError> {
    store::mark_failed(&tenant.db, ws.id, reason, now()).await?;
    state.alerts().send(Alert {
        title: format!("Workspace provisioning failed ({})", tenant.slug),
        fields: vec![
            ("tenant", tenant.slug.clone()),
            ("workspace", ws.id.to_string()),
            ("plan", ws.plan.to_string()),
            ("customer sees", reason.to_owned()),
            ("detail", detail.to_owned()),
        ],
    });
    Ok(())
}

async fn provision(state: &AppState, tenant: &Tenant, ws: &Workspace) -> Result<Step, SyncError> {
    let customer = customers::get(&tenant.db, ws.customer_id).await?.ok_or_else(|| corrupt("workspace customer"))?;
    if customer.suspended {
        // Ordered just before the suspension: no Kasm session is made for it (not an operator alert).
        store::mark_failed(&tenant.db, ws.id, "Your account is suspended, so this workspace was not started.", now())
            .await?;
        return Ok(Step::Settled);
    }
    let kasm = state.kasm_for(&ws.kasm_server).await?;
    let user_id = match ensure_kasm_user(state, &kasm, tenant, &customer, &ws.kasm_server).await {
        Ok(u) => u,
        Err(SyncError::Kasm(e)) => return fail_or_retry(state, tenant, ws, e).await,
        Err(e) => return Err(e),
    };
    // What to launch comes from the platform's template for this plan (the admin may have remapped it).
    let template = plan_templates::get(state.central(), ws.plan).await?.ok_or_else(|| corrupt("plan template"))?;
    let images = match kasm.get_images().await {
        Ok(i) => i,
        Err(e) => return fail_or_retry(state, tenant, ws, e).await,
    };
    let Some(image) = images.into_iter().find(|i| i.enabled && i.name == template.kasm_image) else {
        tracing::error!(image = %template.kasm_image, server = %ws.kasm_server, "no enabled Kasm image for plan");
        let detail = format!("no enabled Kasm image named {} on server {}", template.kasm_image, ws.kasm_server);
        fail(state, tenant, ws, "This workspace type is not available right now. Please contact support.", &detail)
            .await?;
        return Ok(Step::Settled);
    };

    // Kasm may have forgotten the user we stored (its admin deleted it, its database was reset or restored,
    // the development simulator restarted empty): re-create it once and carry on. Once only: a Kasm that
    // forgets again within the same attempt fails the attempt like any other refusal.
    let outcome = match launch(state, tenant, ws, &kasm, user_id, image.image_id, &template.kasm_group).await {
        Err(SyncError::Kasm(e)) if e.is_unknown_user() => {
            match recreate_kasm_user(state, &kasm, tenant, &customer, &ws.kasm_server, user_id, &e).await {
                Ok(fresh) => launch(state, tenant, ws, &kasm, fresh, image.image_id, &template.kasm_group).await,
                Err(e) => Err(e),
            }
        }
        other => other,
    };
    match outcome {
        Err(SyncError::Kasm(e)) => fail_or_retry(state, tenant, ws, e).await,
        other => other,
    }
}

/// Everything that acts as the customer's Kasm user: join the plan's group, adopt a session we already got,
/// or ask for a new one. Kasm's errors come back unhandled so the caller can tell "unknown user" apart.
async fn launch(
    state: &AppState,
    tenant: &Tenant,
    ws: &Workspace,
    kasm: &KasmClient,
    user_id: KasmUserId,
    image_id: KasmImageId,
    group: &str,
) -> Result<Step, SyncError> {
    // The plan's group holds its image: Kasm only launches images through a group the user is in.
    join_plan_group(kasm, user_id, group).await?;

    // Adopt a session we already asked for (its response was lost) instead of starting a second one.
    let live = kasm.get_user_kasms(user_id).await?;
    for s in live.kasms.iter().filter(|s| s.image_id == image_id && !s.status.is_gone_or_going()) {
        let kasm_id = s.kasm_id.to_string();
        if !kasm_id_in_use(tenant, &kasm_id).await? {
            tracing::info!(workspace = %ws.id, kasm = %kasm_id, "adopting an existing Kasm session");
            store::attach_kasm(&tenant.db, ws.id, &kasm_id, now()).await?;
            return Ok(Step::Again);
        }
    }

    let env = BTreeMap::from([
        (WORKSPACE_ENV.to_owned(), ws.id.to_string()),
        ("EZSCALE_TENANT".to_owned(), tenant.slug.clone()),
    ]);
    let req = kasm.request_kasm(user_id, image_id, &env).await?;
    // A crash here (after Kasm made the session, before we recorded it) leaves a session only Kasm
    // knows: the retry, or the reconciler, finds it by its user and adopts it.
    state.failpoints().check("provision.after_request")?;
    // The connect link in the answer carries a session token: it is not kept. Launching asks Kasm
    // for a fresh login link each time.
    store::attach_kasm(&tenant.db, ws.id, &req.kasm_id.to_string(), now()).await?;
    tracing::info!(workspace = %ws.id, kasm = %req.kasm_id, "Kasm session requested");
    Ok(Step::Again)
}

/// Adds the user to the named group (idempotent in Kasm). A Kasm without that group is allowed: images
/// may be granted through "All Users" instead; `request_kasm` then says "Image Not Authorized" if not.
async fn join_plan_group(kasm: &KasmClient, user: KasmUserId, group: &str) -> Result<(), KasmError> {
    let groups = kasm.get_groups().await?;
    match groups.into_iter().find(|g| g.name == group) {
        Some(g) => kasm.add_user_group(user, g.group_id).await,
        None => {
            tracing::warn!(group, "Kasm has no group for this plan; relying on the user's other groups");
            Ok(())
        }
    }
}

/// A fresh Kasm login link for the customer (the workspace page's "Open workspace").
pub async fn login_link(state: &AppState, tenant: &Tenant, ws: &Workspace) -> Result<Option<String>, SyncError> {
    let customer = customers::get(&tenant.db, ws.customer_id).await?.ok_or_else(|| corrupt("workspace customer"))?;
    let Some(user) = customer.kasm_user_id.as_deref() else { return Ok(None) };
    let user = KasmUserId::parse(user).map_err(|_| corrupt("customers.kasm_user_id"))?;
    Ok(Some(state.kasm_for(&ws.kasm_server).await?.get_login(user).await?))
}

async fn kasm_id_in_use(tenant: &Tenant, kasm_id: &str) -> Result<bool, SyncError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM workspaces WHERE kasm_id = $1")
        .bind(kasm_id)
        .fetch_one(tenant.db.pool())
        .await?;
    Ok(n > 0)
}

/// The customer's Kasm username and password. Both are recorded (password sealed) before any remote call,
/// so a retry after a lost response, another Kasm server, or a re-creation reuses the same identity.
async fn kasm_identity(state: &AppState, tenant: &Tenant, customer: &Customer) -> Result<(String, String), SyncError> {
    let context = format!("tenant/{}/customers/{}/kasm_password", tenant.id, customer.id);
    if customers::kasm_identity(&tenant.db, customer.id).await?.is_none() {
        // Unique across tenants: Kasm has one user namespace for the whole platform.
        let username = format!("ezs-{}-{}", tenant.slug, customer.id.as_uuid().simple());
        let password = Alphanumeric.sample_string(&mut rand::rng(), 32);
        let sealed = state.crypto().seal(&password, &context).map_err(BackendError::from)?;
        customers::reserve_kasm_identity(&tenant.db, customer.id, &username, &sealed).await?;
    }
    let (username, sealed) =
        customers::kasm_identity(&tenant.db, customer.id).await?.ok_or_else(|| corrupt("kasm identity vanished"))?;
    let password = state.crypto().open(&sealed, &context).map_err(BackendError::from)?;
    Ok((username, password))
}

/// The customer's user in Kasm under their recorded identity: found by username, or created.
async fn ensure_identity_user(
    state: &AppState,
    kasm: &KasmClient,
    tenant: &Tenant,
    customer: &Customer,
) -> Result<KasmUserId, SyncError> {
    let (username, password) = kasm_identity(state, tenant, customer).await?;
    let (first, last) = customer.name.split_once(' ').unwrap_or((customer.name.as_str(), ""));
    Ok(kasm.ensure_user(&username, &password, first, last).await?.user_id)
}

/// The customer's Kasm user, created on first use; its id is stored for the default server.
async fn ensure_kasm_user(
    state: &AppState,
    kasm: &KasmClient,
    tenant: &Tenant,
    customer: &Customer,
    server: &str,
) -> Result<KasmUserId, SyncError> {
    if server != DEFAULT_SERVER {
        // Each server has its own user namespace: the same identity is used there, looked up by username
        // each time rather than caching a per-server id.
        tracing::debug!(server, "ensuring the customer's Kasm user on a zone server");
        return ensure_identity_user(state, kasm, tenant, customer).await;
    }
    if let Some(id) = customer.kasm_user_id.as_deref() {
        return KasmUserId::parse(id).map_err(|_| corrupt("customers.kasm_user_id").into());
    }
    let user = ensure_identity_user(state, kasm, tenant, customer).await?;
    customers::set_kasm_user_id(&tenant.db, customer.id, &user.to_string()).await?;
    Ok(user)
}

/// Kasm said it does not know `stale`, the user we act as: re-creates the customer's user under the same
/// identity (username and sealed password as recorded), stores the new id in place of the stale one, and
/// records it in the log and the audit log. The customer never sees it.
async fn recreate_kasm_user(
    state: &AppState,
    kasm: &KasmClient,
    tenant: &Tenant,
    customer: &Customer,
    server: &str,
    stale: KasmUserId,
    cause: &KasmError,
) -> Result<KasmUserId, SyncError> {
    let fresh = ensure_identity_user(state, kasm, tenant, customer).await?;
    tracing::warn!(
        tenant = %tenant.slug,
        customer = %customer.id,
        server,
        %stale,
        %fresh,
        cause = %cause,
        "Kasm no longer knew the customer's user; re-created it"
    );
    let detail =
        format!("customer {}: Kasm user {stale} unknown on server {server} ({cause}); now {fresh}", customer.id);
    audit::record(
        state.central(),
        None,
        ActorKind::System,
        "provisioning",
        Some(tenant.id),
        "kasm.user_recreated",
        &detail,
    )
    .await?;
    if server == DEFAULT_SERVER {
        replace_kasm_user_id(tenant, customer, stale, fresh).await?;
    }
    Ok(fresh)
}

/// Swaps the stored Kasm user id, only if it is still the stale one (a concurrent healer may have been
/// first; it found the same user by username).
async fn replace_kasm_user_id(
    tenant: &Tenant,
    customer: &Customer,
    stale: KasmUserId,
    fresh: KasmUserId,
) -> Result<(), SyncError> {
    let stored = customer.kasm_user_id.clone().unwrap_or_else(|| stale.to_string());
    sqlx::query("UPDATE customers SET kasm_user_id = $1 WHERE id = $2 AND (kasm_user_id = $3 OR kasm_user_id IS NULL)")
        .bind(fresh.to_string())
        .bind(customer.id.to_string())
        .bind(stored)
        .execute(tenant.db.pool())
        .await?;
    Ok(())
}

/// The customer's Kasm user id on the workspace's server, if it exists there.
async fn kasm_user_on(
    kasm: &KasmClient,
    tenant: &Tenant,
    customer: &Customer,
    server: &str,
) -> Result<Option<KasmUserId>, SyncError> {
    if server == DEFAULT_SERVER {
        return customer
            .kasm_user_id
            .as_deref()
            .map(|u| KasmUserId::parse(u).map_err(|_| corrupt("customers.kasm_user_id").into()))
            .transpose();
    }
    let username = format!("ezs-{}-{}", tenant.slug, customer.id.as_uuid().simple());
    Ok(kasm.get_user_by_username(&username).await?.map(|u| u.user_id))
}

async fn find_session(state: &AppState, tenant: &Tenant, ws: &Workspace) -> Result<FoundSession, SyncError> {
    let customer = customers::get(&tenant.db, ws.customer_id).await?.ok_or_else(|| corrupt("workspace customer"))?;
    let kasm = state.kasm_for(&ws.kasm_server).await?;
    let Some(user) = kasm_user_on(&kasm, tenant, &customer, &ws.kasm_server).await? else {
        return Ok(FoundSession::default());
    };
    let Some(kasm_id) = ws.kasm_id.as_deref() else {
        return Ok(FoundSession { user: Some(user), ..Default::default() });
    };
    let kasm_id = KasmId::parse(kasm_id).map_err(|_| corrupt("workspaces.kasm_id"))?;
    let list = match kasm.get_user_kasms(user).await {
        Ok(list) => list,
        // Kasm forgot the user, and its sessions went with it: there is nothing to resume, stop or destroy.
        // Starting again goes back to provisioning, which re-creates the user.
        Err(e) if e.is_unknown_user() => {
            tracing::info!(workspace = %ws.id, %user, error = %e, "Kasm no longer knows the customer's user");
            return Ok(FoundSession { kasm_id: Some(kasm_id), ..Default::default() });
        }
        Err(e) => return Err(e.into()),
    };
    let session = list.kasms.into_iter().find(|s| s.kasm_id == kasm_id);
    Ok(FoundSession { user: Some(user), kasm_id: Some(kasm_id), session, kasm_now: list.current_time })
}

#[derive(Default)]
struct FoundSession {
    user: Option<KasmUserId>,
    kasm_id: Option<KasmId>,
    session: Option<KasmSession>,
    kasm_now: Option<Timestamp>,
}

async fn await_running(state: &AppState, tenant: &Tenant, ws: &Workspace) -> Result<Step, SyncError> {
    let found = match find_session(state, tenant, ws).await {
        Ok(f) => f,
        Err(SyncError::Kasm(e)) => return fail_or_retry(state, tenant, ws, e).await,
        Err(e) => return Err(e),
    };
    let (Some(user), Some(kasm_id), Some(session)) = (found.user, found.kasm_id, found.session) else {
        // The session is gone (destroyed while stopped, or expired): ask for a new one.
        store::detach_kasm(&tenant.db, ws.id, WorkspaceState::Starting, now()).await?;
        return Ok(Step::Again);
    };
    match &session.status {
        s if s.is_running() => {
            let t = now();
            let started_at = meter_start(ws, &session, found.kasm_now, t, tenant).await?;
            let plan = catalog::get(&tenant.db, ws.plan).await?.ok_or_else(|| corrupt("workspace plan"))?;
            // The price book at the session's own start: a change that took effect since does not apply.
            let rates = price_book::session_rates(state.central(), tenant, &plan, started_at).await?;
            let started = store::start_meter(
                &tenant.db,
                ws.id,
                WorkspaceState::Starting,
                started_at,
                &rates.retail,
                &rates.wholesale,
                t,
            )
            .await?;
            if !started && customers::get(&tenant.db, ws.customer_id).await?.is_some_and(|c| c.suspended) {
                // Started (or ordered) just before the customer was suspended: stopped before it bills.
                tracing::info!(workspace = %ws.id, "customer suspended; the workspace is stopped unbilled");
                store::transition(&tenant.db, ws.id, WorkspaceState::Starting, WorkspaceState::Stopping, t).await?;
                return Ok(Step::Again);
            }
            tracing::info!(workspace = %ws.id, "workspace running; meter open");
            if started && store::usage_of(&tenant.db, ws.id).await?.len() == 1 {
                // The first run only (the outbox also dedupes on it); a mail failure never fails the workspace.
                if let Err(e) = crate::backend::workspaces::notify::workspace_ready(
                    state,
                    tenant,
                    ws.customer_id,
                    ws.id,
                    &plan.name,
                )
                .await
                {
                    tracing::warn!(error = %e, workspace = %ws.id, "workspace-ready email not queued");
                }
            }
            Ok(Step::Settled)
        }
        KasmStatus::Stopped | KasmStatus::Paused => {
            match state.kasm_for(&ws.kasm_server).await?.resume_kasm(kasm_id, user).await {
                Ok(()) => Ok(Step::Again),
                Err(e) => fail_or_retry(state, tenant, ws, e).await,
            }
        }
        s if s.is_gone_or_going() => {
            store::detach_kasm(&tenant.db, ws.id, WorkspaceState::Starting, now()).await?;
            Ok(Step::Again)
        }
        _ => {
            let waited = ws.transition_at.millis_until(now());
            let limit = i64::try_from(state.settings().start_timeout.as_millis()).unwrap_or(i64::MAX);
            if waited > limit {
                let detail = format!("still {} after {} s", session.status.as_str(), waited / 1000);
                fail(state, tenant, ws, "The workspace did not start in time. Please try again.", &detail).await?;
                return Ok(Step::Settled);
            }
            Ok(Step::Again)
        }
    }
}

/// When the meter starts. The first run starts at Kasm's own `start_date` (corrected for the difference
/// between Kasm's clock and ours); a resumed run at the moment the customer asked for it, since Kasm keeps
/// the original `start_date` and records no resume time. Never before the request, never in the future.
async fn meter_start(
    ws: &Workspace,
    session: &KasmSession,
    kasm_now: Option<Timestamp>,
    our_now: Timestamp,
    tenant: &Tenant,
) -> Result<Timestamp, SyncError> {
    let first_run = store::usage_of(&tenant.db, ws.id).await?.is_empty();
    let start = match (first_run, session.start_date) {
        (true, Some(kasm_start)) => {
            let skew = kasm_now.map_or(0, |k| our_now.as_millis() - k.as_millis());
            kasm_start.plus_millis(skew)
        }
        _ => ws.transition_at,
    };
    Ok(start.max(ws.transition_at).min(our_now))
}

async fn stop(state: &AppState, tenant: &Tenant, ws: &Workspace) -> Result<Step, SyncError> {
    let found = find_session(state, tenant, ws).await?;
    if let (Some(user), Some(kasm_id), Some(session)) = (found.user, found.kasm_id, &found.session) {
        if matches!(session.status, KasmStatus::Running | KasmStatus::Paused | KasmStatus::Starting) {
            match state.kasm_for(&ws.kasm_server).await?.stop_kasm(kasm_id, user).await {
                Ok(()) => {}
                Err(e) if e.is_retryable() => return Err(e.into()),
                // Refused for its state (it is stopping already, say): the meter closes all the same.
                Err(e) => tracing::warn!(error = %e, workspace = %ws.id, "Kasm refused the stop"),
            }
        }
    }
    // The meter closes at the moment the customer pressed Stop, not when Kasm got round to it.
    store::stop_meter(&tenant.db, ws.id, WorkspaceState::Stopping, WorkspaceState::Stopped, ws.transition_at, now())
        .await?;
    Ok(Step::Settled)
}

async fn terminate(state: &AppState, tenant: &Tenant, ws: &Workspace) -> Result<Step, SyncError> {
    let found = find_session(state, tenant, ws).await?;
    if let (Some(user), Some(kasm_id), Some(session)) = (found.user, found.kasm_id, &found.session) {
        if !session.status.is_gone_or_going() {
            match state.kasm_for(&ws.kasm_server).await?.destroy_kasm(kasm_id, user).await {
                Ok(()) => tracing::info!(workspace = %ws.id, kasm = %kasm_id, "Kasm session destroyed"),
                Err(e) if e.is_retryable() => return Err(e.into()),
                // Refused: recorded as deleted on our side; the reconciler retries the destroy.
                Err(e) => tracing::warn!(error = %e, workspace = %ws.id, "Kasm refused the destroy"),
            }
        }
    }
    // A running meter closes at the moment the customer asked for the deletion.
    store::stop_meter(
        &tenant.db,
        ws.id,
        WorkspaceState::Terminating,
        WorkspaceState::Terminated,
        ws.transition_at,
        now(),
    )
    .await?;
    Ok(Step::Settled)
}

/// The job ran out of attempts. A workspace still waiting for Kasm is marked failed so the customer sees
/// why; a stop is recorded anyway (the meter closes when the customer pressed Stop: Kasm's trouble is
/// never billed to them).
pub async fn give_up(state: &AppState, tenant: &Tenant, id: WorkspaceId, last_error: &str) -> Result<(), BackendError> {
    let Some(ws) = store::get(&tenant.db, id).await? else { return Ok(()) };
    // A stop or a deletion is recorded anyway; a Kasm session left behind by a deletion is destroyed by
    // the reconciler later.
    let finish = match ws.state {
        WorkspaceState::Stopping => Some(WorkspaceState::Stopped),
        WorkspaceState::Terminating => Some(WorkspaceState::Terminated),
        _ => None,
    };
    if let Some(to) = finish {
        store::stop_meter(&tenant.db, id, ws.state, to, ws.transition_at, now()).await?;
        return Ok(());
    }
    if matches!(ws.state, WorkspaceState::Provisioning | WorkspaceState::Starting) {
        let detail = format!("gave up after repeated failures: {last_error}");
        fail(state, tenant, &ws, "The workspace service is not responding. Please try again later.", &detail).await?;
    }
    Ok(())
}

/// Stops every running workspace of `customer` as if they had pressed Stop at `at` (each meter closes at
/// `at`), and hands the ones still on their way up to the worker, which stops them before they bill once
/// the customer is suspended (see `provision` and `await_running`). Returns how many running ones stopped.
pub async fn stop_all_of(
    state: &AppState,
    tenant: &Tenant,
    customer: crate::domain::ids::CustomerId,
    at: Timestamp,
) -> Result<usize, BackendError> {
    let mut stopped = 0;
    for ws in store::list_owned(&tenant.db, customer).await? {
        match ws.state {
            WorkspaceState::Running => {
                if store::transition(&tenant.db, ws.id, WorkspaceState::Running, WorkspaceState::Stopping, at).await? {
                    announce(state, tenant, &ws);
                    drive(state, tenant, ws.id).await?;
                    stopped += 1;
                }
            }
            WorkspaceState::Provisioning | WorkspaceState::Starting | WorkspaceState::Stopping => {
                enqueue(state, tenant, ws.id).await?;
            }
            WorkspaceState::Stopped
            | WorkspaceState::Failed
            | WorkspaceState::Terminating
            | WorkspaceState::Terminated => {}
        }
    }
    Ok(stopped)
}

/// Tells open pages that this workspace changed.
pub fn announce(state: &AppState, tenant: &Tenant, ws: &Workspace) {
    state.publish(WorkspaceChanged { tenant: tenant.id, customer: ws.customer_id, workspace: ws.id });
}

/// Hands a workspace to the job worker (idempotent) and wakes it.
pub async fn enqueue(state: &AppState, tenant: &Tenant, id: WorkspaceId) -> Result<(), BackendError> {
    jobs::enqueue(state.central(), tenant.id, &JobKind::SyncWorkspace { workspace_id: id }, now()).await?;
    state.notify_jobs();
    Ok(())
}

/// Re-enqueues work that a previous process left unfinished (workspaces mid-transition).
pub async fn recover(state: &AppState) -> Result<usize, BackendError> {
    let mut total = 0;
    for entry in state.registry().entries().await? {
        let Some(tenant) = state.tenant_by_id(entry.id).await? else { continue };
        let ids = store::list_unsettled(&tenant.db).await?;
        for id in &ids {
            jobs::enqueue(state.central(), tenant.id, &JobKind::SyncWorkspace { workspace_id: *id }, now()).await?;
        }
        total += ids.len();
    }
    Ok(total)
}

/// Runs the job queue's workspace jobs: the job worker calls it, the queue knowing nothing of workspaces.
pub struct JobRunner(pub AppState);

impl jobs::Runner for JobRunner {
    fn run<'a>(&'a self, tenant: TenantId, kind: &'a JobKind) -> jobs::BoxFuture<'a, jobs::Outcome> {
        Box::pin(async move {
            let state = &self.0;
            let tenant = match state.tenant_by_id(tenant).await {
                Ok(Some(t)) => t,
                // Deleted, or not active yet: nothing can be done for it now.
                Ok(None) => return jobs::Outcome::Abandon("tenant unavailable".into()),
                Err(e) => {
                    tracing::warn!(error = %e, "tenant database unavailable");
                    return jobs::Outcome::Unavailable("tenant database unavailable".into());
                }
            };
            let JobKind::SyncWorkspace { workspace_id } = kind;
            let span = tracing::info_span!("sync", tenant = %tenant.slug, workspace = %workspace_id);
            outcome(sync(state, &tenant, *workspace_id).instrument(span).await, state.settings().poll_interval)
        })
    }

    fn give_up<'a>(&'a self, tenant: TenantId, kind: &'a JobKind, error: &'a str) -> jobs::BoxFuture<'a, ()> {
        Box::pin(async move {
            let JobKind::SyncWorkspace { workspace_id } = kind;
            if let Ok(Some(tenant)) = self.0.tenant_by_id(tenant).await {
                if let Err(e) = give_up(&self.0, &tenant, *workspace_id, error).await {
                    tracing::error!(error = %e, workspace = %workspace_id, "could not mark the workspace failed");
                }
            }
        })
    }
}

/// What the queue should do after one step: look again after `poll` while Kasm works.
fn outcome(step: Result<Step, SyncError>, poll: std::time::Duration) -> jobs::Outcome {
    match step {
        Ok(Step::Settled) => jobs::Outcome::Settled,
        Ok(Step::Again) => jobs::Outcome::Again { after: poll },
        Ok(Step::Busy) => jobs::Outcome::Again { after: std::time::Duration::from_millis(1000) },
        // Not this job's failure: the Kasm server is resting after a streak of failures (anyone's).
        // Waiting for the breaker without spending an attempt keeps a burst of failures elsewhere from
        // using up this workspace's retries within one cool-down; the call that trips or probes it
        // spends its own.
        Err(SyncError::Kasm(KasmError::CircuitOpen { retry_in })) => {
            let wait = retry_in + std::time::Duration::from_millis(rand::random_range(0..=1_000));
            let retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
            tracing::info!(retry_in_ms, "Kasm's circuit breaker is open; the job waits for it");
            jobs::Outcome::Again { after: wait }
        }
        Err(e) => jobs::Outcome::Failed(e.to_string()),
    }
}

/// Takes the next step right away, in the caller's request, so a stop is recorded before the answer;
/// whatever is left (waiting for Kasm, a transient failure) goes to the job worker.
pub async fn drive(state: &AppState, tenant: &Tenant, id: WorkspaceId) -> Result<(), BackendError> {
    match sync(state, tenant, id).await {
        Ok(Step::Settled) => Ok(()),
        Ok(Step::Again | Step::Busy) => enqueue(state, tenant, id).await,
        Err(e) => {
            tracing::warn!(error = %e, workspace = %id, "inline step failed; handing over to the worker");
            enqueue(state, tenant, id).await
        }
    }
}

/// A job that gave up (a dead letter), as the admin's provisioning page lists it.
#[derive(Clone, Debug)]
pub struct DeadLetter {
    pub job_id: String,
    pub tenant_id: crate::domain::ids::TenantId,
    pub workspace_id: Option<WorkspaceId>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

pub async fn dead_letters(state: &AppState, limit: i64) -> Result<Vec<DeadLetter>, BackendError> {
    Ok(jobs::dead_letters(state.central(), limit)
        .await?
        .into_iter()
        .map(|d| DeadLetter {
            job_id: d.job_id,
            tenant_id: d.tenant_id,
            workspace_id: d.kind.map(|k| match k {
                JobKind::SyncWorkspace { workspace_id } => workspace_id,
            }),
            attempts: d.attempts,
            last_error: d.last_error,
            updated_at: d.updated_at,
        })
        .collect())
}

/// Puts a dead letter's work back in the queue: a workspace that was marked failed goes back to
/// provisioning (as the customer's "Try again" would), and a fresh job drives it. The dead row is kept,
/// marked `requeued`, so the history stays. `false` when there is no such dead letter (already requeued).
pub async fn requeue_dead(state: &AppState, job_id: &str) -> Result<bool, BackendError> {
    let Some(dead) = dead_letters(state, 1000).await?.into_iter().find(|d| d.job_id == job_id) else {
        return Ok(false);
    };
    if !jobs::mark_requeued(state.central(), job_id).await? {
        return Ok(false);
    }
    let (Some(ws_id), Some(tenant)) = (dead.workspace_id, state.tenant_by_id(dead.tenant_id).await?) else {
        return Ok(true);
    };
    if let Some(ws) = store::get(&tenant.db, ws_id).await? {
        if ws.state == WorkspaceState::Failed {
            if let Ok(next) = ws.state.apply(crate::domain::workspace::Action::Retry) {
                store::transition(&tenant.db, ws_id, ws.state, next, now()).await?;
                announce(state, &tenant, &ws);
            }
        }
        enqueue(state, &tenant, ws_id).await?;
    }
    Ok(true)
}
