//! The tenant registry in the central database. For now it holds the house storefront; resellers join
//! it with the multi-tenancy work, through the same rows.

use sqlx::Row;

use super::db::{now, tenant_db_url, CentralDb};
use super::{corrupt, Result};
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;

pub const HOUSE_SLUG: &str = "house";

#[derive(Clone, Debug)]
pub struct TenantRow {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub currency: Currency,
    pub db_url: String,
}

/// The house tenant's row, created on first start with its database next to the central one.
pub async fn ensure_house(central: &CentralDb, central_url: &str) -> Result<TenantRow> {
    let db_url = tenant_db_url(central_url, HOUSE_SLUG)?;
    sqlx::query(
        "INSERT INTO tenants (id, slug, name, status, is_house, currency, db_url, created_at) \
         VALUES ($1, $2, $3, 'active', 1, 'USD', $4, $5) ON CONFLICT (slug) DO NOTHING",
    )
    .bind(TenantId::new_random().to_string())
    .bind(HOUSE_SLUG)
    .bind("EZSCALE")
    .bind(&db_url)
    .bind(now().as_millis())
    .execute(central.pool())
    .await?;
    let r = sqlx::query("SELECT id, slug, name, currency, db_url FROM tenants WHERE slug = $1")
        .bind(HOUSE_SLUG)
        .fetch_one(central.pool())
        .await?;
    let id: String = r.try_get(0)?;
    let currency: String = r.try_get(3)?;
    Ok(TenantRow {
        id: id.parse().map_err(|_| corrupt("tenants.id"))?,
        slug: r.try_get(1)?,
        name: r.try_get(2)?,
        currency: Currency::parse(&currency).map_err(|_| corrupt("tenants.currency"))?,
        db_url: r.try_get(4)?,
    })
}
