//! Ordering a workspace: the plan must be for sale on this storefront, the customer able to pay for it and
//! a Kasm server able to take it; the order is recorded once per order key and handed to provisioning,
//! which continues in the background.

use uuid::Uuid;

use crate::backend::billing::meter;
use crate::backend::platform::db::now;
use crate::backend::state::{AppState, Tenant};
use crate::backend::workspaces::{catalog, kasm_servers, plan_templates, provisioning, store};
use crate::backend::BackendError;
use crate::domain::ids::{CustomerId, WorkspaceId};
use crate::domain::money::Money;
use crate::domain::plan::{PlanCode, TemplateStatus};

/// An order recorded: the workspace, and whether this call created it (`false` for a repeated submit of
/// the same order key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ordered {
    pub id: WorkspaceId,
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// The plan is not for sale here (its template is hidden, or the storefront does not sell it).
    #[error("this workspace plan is not available")]
    NotAvailable,
    /// An invoice left due past the storefront's grace period: its number and amount. Running workspaces
    /// are not touched; paying it (or the reseller) lifts this.
    #[error("invoice {0} is overdue")]
    Overdue(String, Money),
    /// Neither a saved card nor this much credit.
    #[error("ordering needs at least {0} of credit or a saved card")]
    NeedsCredit(Money),
    /// The storefront suspended the account.
    #[error("the account is suspended")]
    Suspended,
    /// The storefront itself is not taking orders (its reseller's account with the platform is past due or
    /// suspended). Customers are told only that the store is not taking orders: never why.
    #[error("this store is not taking new orders")]
    StoreNotTakingOrders,
    /// No Kasm server can take the workspace now (its pinned server is disabled or gone).
    #[error("no Kasm server can take this order")]
    NoServer,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Orders a workspace of `code` for `customer`.
pub async fn order(
    state: &AppState,
    tenant: &Tenant,
    customer: CustomerId,
    code: PlanCode,
    order_key: Uuid,
) -> Result<Ordered, OrderError> {
    let template = plan_templates::get(state.central(), code).await?;
    let orderable = template.as_ref().is_some_and(|t| t.status == TemplateStatus::Active);
    if !orderable || catalog::get_active(&tenant.db, code).await?.is_none() {
        return Err(OrderError::NotAvailable);
    }
    // A reseller past due with the platform takes no new orders (running workspaces run on).
    if !super::collection::status(state.central(), tenant.id).await?.takes_orders() {
        return Err(OrderError::StoreNotTakingOrders);
    }
    // An invoice overdue past the storefront's grace period stops new orders (never running workspaces).
    let terms = super::terms::get(state.central(), tenant.id).await?;
    if let Some(inv) = super::invoices::overdue(&tenant.db, customer, terms, now()).await?.into_iter().next() {
        return Err(OrderError::Overdue(inv.display_number(), inv.amount_due()));
    }
    // Prepaid customers need some credit to start with; a saved card is enough on its own.
    match meter::may_order(tenant, customer).await? {
        Ok(()) => {}
        Err(meter::MayNotOrder::NeedsCredit(min)) => return Err(OrderError::NeedsCredit(min)),
        Err(meter::MayNotOrder::Suspended) => return Err(OrderError::Suspended),
    }
    let pin = template.and_then(|t| t.kasm_server);
    let server = match kasm_servers::place(state.central(), pin.as_deref(), tenant.id).await? {
        Ok(s) => s,
        Err(why) => {
            tracing::error!(plan = %code, tenant = %tenant.slug, why, "no Kasm server can take this order");
            return Err(OrderError::NoServer);
        }
    };
    let (id, created) = store::insert_order(&tenant.db, customer, code, order_key, &server, now()).await?;
    if created {
        tracing::info!(workspace = %id, plan = %code, "workspace ordered");
    }
    // Also on a repeated submit: enqueueing is idempotent, and it heals a crash between the insert and
    // the enqueue of the first submit.
    provisioning::enqueue(state, tenant, id).await?;
    Ok(Ordered { id, created })
}
