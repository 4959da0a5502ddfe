//! The house storefront's catalog, and demo data for `make run` and the browser tests.

use super::auth::hash_password;
use super::catalog::{self, Plan};
use super::customers;
use super::db::TenantDb;
use super::{corrupt, Result};
use crate::domain::money::{Currency, Rate};
use crate::domain::plan::PlanCode;

/// Demo logins printed by `make run` (development only).
pub const DEMO_CUSTOMERS: [(&str, &str, &str); 2] = [
    ("demo@ezscale.test", "Demo Customer", "demo-password"),
    ("other@ezscale.test", "Other Customer", "other-password"),
];

/// The six plans at the seed's prices. Idempotent: existing plans are left as they are.
pub async fn seed_catalog(db: &TenantDb, currency: Currency) -> Result<()> {
    for (i, code) in PlanCode::ALL.into_iter().enumerate() {
        let spec = code.spec();
        let rate = |s: &str| Rate::parse(s, currency).map_err(|_| corrupt(format!("seed rate {s}")));
        let plan = Plan {
            code,
            name: spec.name.to_owned(),
            summary: spec.summary.to_owned(),
            vcpu: i64::from(spec.vcpu),
            ram_gb: i64::from(spec.ram_gb),
            kasm_image: spec.kasm_image.to_owned(),
            retail: rate(spec.retail_per_hour)?,
            wholesale: rate(spec.wholesale_per_hour)?,
        };
        catalog::ensure_plan(db, &plan, i64::try_from(i).unwrap_or(0)).await?;
    }
    Ok(())
}

/// Demo customers. Idempotent.
pub async fn seed_demo(db: &TenantDb) -> Result<()> {
    for (email, name, password) in DEMO_CUSTOMERS {
        if customers::find_login(db, email).await?.is_none() {
            let hash = hash_password(password.to_owned()).await?;
            customers::ensure(db, email, name, &hash).await?;
        }
    }
    Ok(())
}
