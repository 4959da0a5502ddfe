//! The tenant's plans and retail prices, and how its storefront lists them.
//!
//! The `plans.wholesale_per_hour` column is the seed's reference only: what a storefront pays is the
//! platform's price book (`price_book`, central), resolved at each session start.

use super::plan_templates::{self, PlanTemplate};
use crate::backend::platform::db::{CentralDb, TenantDb};
use crate::backend::state::{AppState, Tenant};
use crate::backend::{corrupt, Result};
use crate::domain::money::{Currency, Rate};
use crate::domain::plan::{PlanCode, TemplateStatus};

#[derive(Clone, Debug)]
pub struct Plan {
    pub code: PlanCode,
    pub name: String,
    pub summary: String,
    pub vcpu: i64,
    pub ram_gb: i64,
    pub kasm_image: String,
    /// The storefront's own price (sessions bill at least the wholesale price in force: `price_book`).
    pub retail: Rate,
}

/// How the storefront lists a plan: shown or hidden, and in its own words (`None`: the platform's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub visible: bool,
    pub display_name: Option<String>,
    pub description: Option<String>,
}

/// A plan with how the storefront lists it (the reseller's catalogue page).
#[derive(Clone, Debug)]
pub struct Listed {
    pub plan: Plan,
    pub listing: Listing,
}

// Column lists as macros so every query stays a compile-time string (sqlx refuses runtime-built SQL).
macro_rules! plan_columns {
    () => {
        "code, name, summary, vcpu, ram_gb, kasm_image, retail_per_hour, currency"
    };
}

/// What is read of a plan: its columns and its listing.
macro_rules! select_columns {
    () => {
        concat!(plan_columns!(), ", active, display_name, description")
    };
}

/// A `plans` row as stored ([`select_columns!`]).
#[derive(sqlx::FromRow)]
struct PlanRow {
    code: String,
    name: String,
    summary: String,
    vcpu: i64,
    ram_gb: i64,
    kasm_image: String,
    retail_per_hour: String,
    currency: String,
    active: i64,
    display_name: Option<String>,
    description: Option<String>,
}

impl TryFrom<PlanRow> for Listed {
    type Error = crate::backend::BackendError;

    fn try_from(r: PlanRow) -> Result<Listed> {
        let listing = Listing {
            visible: r.active != 0,
            display_name: r.display_name.clone(),
            description: r.description.clone(),
        };
        Ok(Listed { plan: Plan::try_from(r)?, listing })
    }
}

impl TryFrom<PlanRow> for Plan {
    type Error = crate::backend::BackendError;

    fn try_from(r: PlanRow) -> Result<Plan> {
        let currency = Currency::parse(&r.currency).map_err(|_| corrupt("plans.currency"))?;
        Ok(Plan {
            code: PlanCode::parse(&r.code).map_err(|_| corrupt("plans.code"))?,
            name: r.name,
            summary: r.summary,
            vcpu: r.vcpu,
            ram_gb: r.ram_gb,
            kasm_image: r.kasm_image,
            retail: Rate::parse(&r.retail_per_hour, currency).map_err(|_| corrupt("plans.retail_per_hour"))?,
        })
    }
}

pub async fn list_active(db: &TenantDb) -> Result<Vec<Plan>> {
    let rows = sqlx::query_as::<_, PlanRow>(concat!(
        "SELECT ",
        select_columns!(),
        " FROM plans WHERE active = 1 ORDER BY sort_order"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Plan::try_from).collect()
}

pub async fn get_active(db: &TenantDb, code: PlanCode) -> Result<Option<Plan>> {
    let row = sqlx::query_as::<_, PlanRow>(concat!(
        "SELECT ",
        select_columns!(),
        " FROM plans WHERE code = $1 AND active = 1"
    ))
    .bind(code.as_str())
    .fetch_optional(db.pool())
    .await?;
    row.map(Plan::try_from).transpose()
}

/// Inserts the plan if missing; an existing plan (maybe repriced by the tenant) is left alone.
pub async fn ensure_plan(db: &TenantDb, plan: &Plan, sort_order: i64) -> Result<()> {
    sqlx::query(concat!(
        "INSERT INTO plans (",
        plan_columns!(),
        ", wholesale_per_hour, sort_order, active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1) \
         ON CONFLICT (code) DO NOTHING"
    ))
    .bind(plan.code.as_str())
    .bind(&plan.name)
    .bind(&plan.summary)
    .bind(plan.vcpu)
    .bind(plan.ram_gb)
    .bind(&plan.kasm_image)
    .bind(plan.retail.amount_per_hour().to_string())
    .bind(plan.retail.currency().code())
    // The seed's reference (see the module docs); the price book is what is charged.
    .bind(plan.code.spec().wholesale_per_hour)
    .bind(sort_order)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A plan whether or not it is still sold (running workspaces keep their plan).
pub async fn get(db: &TenantDb, code: PlanCode) -> Result<Option<Plan>> {
    let row = sqlx::query_as::<_, PlanRow>(concat!("SELECT ", select_columns!(), " FROM plans WHERE code = $1"))
        .bind(code.as_str())
        .fetch_optional(db.pool())
        .await?;
    row.map(Plan::try_from).transpose()
}

/// Reprices a plan (retail). Sessions already running keep the rate they started with.
pub async fn set_retail(db: &TenantDb, code: PlanCode, retail: &Rate) -> Result<bool> {
    Ok(sqlx::query("UPDATE plans SET retail_per_hour = $1 WHERE code = $2")
        .bind(retail.amount_per_hour().to_string())
        .bind(code.as_str())
        .execute(db.pool())
        .await?
        .rows_affected()
        == 1)
}

/// Every plan of the storefront, in catalog order (the price editor).
pub async fn list_all(db: &TenantDb) -> Result<Vec<Plan>> {
    let rows = sqlx::query_as::<_, PlanRow>(concat!("SELECT ", select_columns!(), " FROM plans ORDER BY sort_order"))
        .fetch_all(db.pool())
        .await?;
    rows.into_iter().map(Plan::try_from).collect()
}

/// A plan as the storefront sells it: what it is (the platform's template), in the storefront's words
/// where it has its own, at the storefront's price.
#[derive(Clone, Debug)]
pub struct ForSale {
    pub template: PlanTemplate,
    pub name: String,
    pub summary: String,
    pub retail: Rate,
}

/// What the storefront sells, in the templates' order: the active templates it shows (an active price), each
/// at the storefront's price but never below the wholesale price in force (what a session starting now bills).
pub async fn for_sale(state: &AppState, tenant: &Tenant) -> Result<Vec<ForSale>> {
    // What a plan is comes from the platform's templates (in their order); the price and the words from
    // the storefront.
    let listed = list_listed(&tenant.db).await?;
    let wholesale = super::price_book::wholesale_now(state, tenant).await?;
    Ok(plan_templates::list(state.central())
        .await?
        .into_iter()
        .filter(|t| t.status == TemplateStatus::Active)
        .filter_map(|t| {
            let l = listed.iter().find(|l| l.plan.code == t.code && l.listing.visible)?;
            Some(ForSale {
                name: l.listing.display_name.clone().unwrap_or_else(|| t.name.clone()),
                summary: l.listing.description.clone().unwrap_or_else(|| t.summary.clone()),
                retail: wholesale
                    .iter()
                    .find(|(code, _)| *code == t.code)
                    .map_or(l.plan.retail, |(_, w)| crate::domain::price_book::retail_floor(l.plan.retail, *w)),
                template: t,
            })
        })
        .collect())
}

/// Every plan of the storefront with how it lists it, in catalog order.
pub async fn list_listed(db: &TenantDb) -> Result<Vec<Listed>> {
    let rows = sqlx::query_as::<_, PlanRow>(concat!("SELECT ", select_columns!(), " FROM plans ORDER BY sort_order"))
        .fetch_all(db.pool())
        .await?;
    rows.into_iter().map(Listed::try_from).collect()
}

/// Shows or hides a plan and sets its name and description in the storefront's words (`None`: the
/// platform's). A hidden plan cannot be ordered; workspaces already made of it keep running and billing
/// at the rate their sessions started with. `false`: no such plan.
pub async fn set_listing(db: &TenantDb, code: PlanCode, listing: &Listing) -> Result<bool> {
    Ok(sqlx::query("UPDATE plans SET active = $1, display_name = $2, description = $3 WHERE code = $4")
        .bind(i64::from(listing.visible))
        .bind(listing.display_name.as_deref())
        .bind(listing.description.as_deref())
        .bind(code.as_str())
        .execute(db.pool())
        .await?
        .rows_affected()
        == 1)
}

/// [`set_listing`] by a member of the storefront's staff, recorded in the audit log.
pub async fn set_listing_by(
    central: &CentralDb,
    tenant: &Tenant,
    ip: Option<std::net::IpAddr>,
    actor: &crate::backend::platform::audit::Actor<'_>,
    code: PlanCode,
    listing: &Listing,
) -> Result<bool> {
    if !set_listing(&tenant.db, code, listing).await? {
        return Ok(false);
    }
    let detail = format!(
        "{code}: {}{}",
        if listing.visible { "shown" } else { "hidden" },
        listing.display_name.as_deref().map(|n| format!(" as \"{n}\"")).unwrap_or_default()
    );
    crate::backend::platform::audit::record_by(central, ip, actor, Some(tenant.id), "plan.listing_changed", &detail)
        .await?;
    Ok(true)
}

/// What repricing a plan did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repriced {
    Done,
    NoSuchPlan,
    /// Refused: a retail price may not be below the plan's wholesale price (this one).
    BelowWholesale(Rate),
}

/// Sets a plan's retail price, never below the wholesale price in force now. (A price below a wholesale
/// price scheduled for later is allowed: the floor rises with it when it takes effect, and the reseller is
/// told in advance.)
pub async fn reprice(central: &CentralDb, tenant: &Tenant, code: PlanCode, retail: &Rate) -> Result<Repriced> {
    if get(&tenant.db, code).await?.is_none() {
        return Ok(Repriced::NoSuchPlan);
    }
    let wholesale = super::price_book::wholesale_at(central, tenant, code, crate::backend::platform::db::now()).await?;
    if retail.amount_per_hour() < wholesale.amount_per_hour() {
        return Ok(Repriced::BelowWholesale(wholesale));
    }
    set_retail(&tenant.db, code, retail).await?;
    Ok(Repriced::Done)
}

/// [`reprice`] by a member of the storefront's staff (or an admin acting through their session), from
/// `ip`: a price that was set is recorded in the audit log.
pub async fn reprice_by(
    central: &CentralDb,
    tenant: &Tenant,
    ip: Option<std::net::IpAddr>,
    actor: &crate::backend::platform::audit::Actor<'_>,
    code: PlanCode,
    retail: &Rate,
) -> Result<Repriced> {
    let done = reprice(central, tenant, code, retail).await?;
    if let Repriced::Done = done {
        // Saving a price is reviewing the prices (a step of the reseller's onboarding checklist).
        sqlx::query("UPDATE tenants SET prices_reviewed_at = $1 WHERE id = $2 AND prices_reviewed_at IS NULL")
            .bind(crate::backend::platform::db::now().as_millis())
            .bind(tenant.id.to_string())
            .execute(central.pool())
            .await?;
        let detail = format!("{code}: {retail}");
        crate::backend::platform::audit::record_by(central, ip, actor, Some(tenant.id), "plan.repriced", &detail)
            .await?;
    }
    Ok(done)
}
