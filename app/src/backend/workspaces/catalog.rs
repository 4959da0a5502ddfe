//! The tenant's plans and prices.

use super::plan_templates::{self, PlanTemplate};
use crate::backend::platform::db::{CentralDb, TenantDb};
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
    pub retail: Rate,
    pub wholesale: Rate,
}

// Column lists as macros so every query stays a compile-time string (sqlx refuses runtime-built SQL).
macro_rules! plan_columns {
    () => {
        "code, name, summary, vcpu, ram_gb, kasm_image, retail_per_hour, wholesale_per_hour, currency"
    };
}

/// A `plans` row as stored ([`plan_columns!`]).
#[derive(sqlx::FromRow)]
struct PlanRow {
    code: String,
    name: String,
    summary: String,
    vcpu: i64,
    ram_gb: i64,
    kasm_image: String,
    retail_per_hour: String,
    wholesale_per_hour: String,
    currency: String,
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
            wholesale: Rate::parse(&r.wholesale_per_hour, currency).map_err(|_| corrupt("plans.wholesale_per_hour"))?,
        })
    }
}

pub async fn list_active(db: &TenantDb) -> Result<Vec<Plan>> {
    let rows = sqlx::query_as::<_, PlanRow>(concat!(
        "SELECT ",
        plan_columns!(),
        " FROM plans WHERE active = 1 ORDER BY sort_order"
    ))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Plan::try_from).collect()
}

pub async fn get_active(db: &TenantDb, code: PlanCode) -> Result<Option<Plan>> {
    let row =
        sqlx::query_as::<_, PlanRow>(concat!("SELECT ", plan_columns!(), " FROM plans WHERE code = $1 AND active = 1"))
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
        ", sort_order, active) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1) ON CONFLICT (code) DO NOTHING"
    ))
    .bind(plan.code.as_str())
    .bind(&plan.name)
    .bind(&plan.summary)
    .bind(plan.vcpu)
    .bind(plan.ram_gb)
    .bind(&plan.kasm_image)
    .bind(plan.retail.amount_per_hour().to_string())
    .bind(plan.wholesale.amount_per_hour().to_string())
    .bind(plan.retail.currency().code())
    .bind(sort_order)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A plan whether or not it is still sold (running workspaces keep their plan).
pub async fn get(db: &TenantDb, code: PlanCode) -> Result<Option<Plan>> {
    let row = sqlx::query_as::<_, PlanRow>(concat!("SELECT ", plan_columns!(), " FROM plans WHERE code = $1"))
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
    let rows = sqlx::query_as::<_, PlanRow>(concat!("SELECT ", plan_columns!(), " FROM plans ORDER BY sort_order"))
        .fetch_all(db.pool())
        .await?;
    rows.into_iter().map(Plan::try_from).collect()
}

/// A plan as the storefront sells it: what it is (the platform's template) at the storefront's price.
#[derive(Clone, Debug)]
pub struct ForSale {
    pub template: PlanTemplate,
    pub retail: Rate,
}

/// What the storefront sells, in the templates' order: the active templates it has an active price for.
pub async fn for_sale(central: &CentralDb, db: &TenantDb) -> Result<Vec<ForSale>> {
    // What a plan is comes from the platform's templates (in their order); the price from the storefront.
    let prices = list_active(db).await?;
    Ok(plan_templates::list(central)
        .await?
        .into_iter()
        .filter(|t| t.status == TemplateStatus::Active)
        .filter_map(|t| {
            let retail = prices.iter().find(|p| p.code == t.code)?.retail;
            Some(ForSale { template: t, retail })
        })
        .collect())
}

/// What repricing a plan did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repriced {
    Done,
    NoSuchPlan,
    /// Refused: a retail price may not be below the plan's wholesale price (this one).
    BelowWholesale(Rate),
}

/// Sets a plan's retail price, never below its wholesale price.
pub async fn reprice(db: &TenantDb, code: PlanCode, retail: &Rate) -> Result<Repriced> {
    let Some(plan) = get(db, code).await? else { return Ok(Repriced::NoSuchPlan) };
    if retail.amount_per_hour() < plan.wholesale.amount_per_hour() {
        return Ok(Repriced::BelowWholesale(plan.wholesale));
    }
    set_retail(db, code, retail).await?;
    Ok(Repriced::Done)
}

/// [`reprice`] by a member of the storefront's staff (or an admin acting through their session), from
/// `ip`: a price that was set is recorded in the audit log.
pub async fn reprice_by(
    central: &CentralDb,
    tenant: &crate::backend::state::Tenant,
    ip: Option<std::net::IpAddr>,
    actor: &crate::backend::platform::audit::Actor<'_>,
    code: PlanCode,
    retail: &Rate,
) -> Result<Repriced> {
    let done = reprice(&tenant.db, code, retail).await?;
    if let Repriced::Done = done {
        let detail = format!("{code}: {retail}");
        crate::backend::platform::audit::record_by(central, ip, actor, Some(tenant.id), "plan.repriced", &detail)
            .await?;
    }
    Ok(done)
}
