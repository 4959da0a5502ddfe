//! The house storefront's catalog, and demo data for `make run` and the browser tests.

use crate::backend::identity::auth::hash_password;
use crate::backend::identity::customers;
use crate::backend::platform::db::TenantDb;
use crate::backend::{corrupt, Result};
use crate::domain::money::Currency;

/// Demo logins printed by `make run` (development only).
pub const DEMO_CUSTOMERS: [(&str, &str, &str); 2] = [
    ("demo@ezscale.test", "Demo Customer", "demo-password"),
    ("other@ezscale.test", "Other Customer", "other-password"),
];

/// Demo customers. Idempotent.
pub async fn seed_demo(db: &TenantDb) -> Result<()> {
    for (email, name, password) in DEMO_CUSTOMERS {
        if customers::find_login(db, email).await?.is_none() {
            let hash = hash_password(password.to_owned()).await?;
            let id = customers::ensure(db, email, name, &hash).await?;
            demo_credit(db, id, Currency::USD).await?;
        }
    }
    Ok(())
}

/// Demo customers start with 50.00 of credit (once), so they can order without a card.
pub const DEMO_CREDIT_MINOR: i64 = 5_000;

async fn demo_credit(db: &TenantDb, customer: crate::domain::ids::CustomerId, currency: Currency) -> Result<()> {
    use crate::backend::billing::ledger::{self, EntryKind};
    let amount = crate::domain::money::Money::from_minor(DEMO_CREDIT_MINOR, currency);
    let reference = format!("demo-credit:{customer}");
    ledger::post(
        db,
        customer,
        EntryKind::Adjustment,
        amount,
        &reference,
        "Demo credit",
        crate::backend::platform::db::now(),
    )
    .await?;
    Ok(())
}

/// Demo platform admin, printed by `make run` (development only).
pub const DEMO_ADMIN: (&str, &str, &str) = ("admin@ezscale.test", "Demo Admin", "admin-password");
/// Demo reseller and its owner (staff) account.
pub const DEMO_RESELLER: (&str, &str) = ("acme", "Acme Cloud");
pub const DEMO_RESELLER_OWNER: (&str, &str) = ("owner@acme.test", "owner-password");
/// A customer of the demo reseller.
pub const DEMO_RESELLER_CUSTOMER: (&str, &str, &str) = ("customer@acme.test", "Acme Customer", "customer-password");

/// Whether a platform admin other than the demo one exists: then this is somebody's real platform, and
/// no demo account (all have published passwords) is ever created on it, whatever `DEMO_DATA` says.
pub async fn real_admin_exists(central: &crate::backend::platform::db::CentralDb) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM platform_admins WHERE email <> $1")
        .bind(DEMO_ADMIN.0)
        .fetch_one(central.pool())
        .await?;
    Ok(n > 0)
}

/// The demo platform admin (created once; an existing account is left alone).
pub async fn seed_demo_admin(state: &crate::backend::state::AppState) -> Result<()> {
    let (email, name, password) = DEMO_ADMIN;
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM platform_admins WHERE email = $1")
        .bind(email)
        .fetch_optional(state.central().pool())
        .await?;
    if exists.is_none() {
        crate::backend::identity::accounts::upsert_admin(state.central(), email, name, password).await?;
    }
    Ok(())
}

/// A demo reseller with its own database, owner and one customer (created once, resumed if a previous
/// start was interrupted half-way).
pub async fn seed_demo_reseller(state: &crate::backend::state::AppState) -> Result<()> {
    use crate::backend::resellers::lifecycle::{self, NewTenantInput};
    use crate::backend::tenancy::TenantError;
    let (slug, name) = DEMO_RESELLER;
    let (owner, owner_password) = DEMO_RESELLER_OWNER;
    let result = match lifecycle::by_slug(state, slug).await {
        Ok(_) => lifecycle::resume(state, slug).await,
        Err(TenantError::NotFound) => {
            let input = NewTenantInput {
                name: name.into(),
                slug: slug.into(),
                owner_email: owner.into(),
                owner_password: Some(owner_password.into()),
                ..NewTenantInput::default()
            };
            match lifecycle::validate(&input) {
                Ok(new) => lifecycle::create(state, &state.settings().central_url, new).await.map(|_| ()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {}
        Err(TenantError::Backend(e)) => return Err(e),
        Err(e) => return Err(corrupt(format!("demo reseller: {e}"))),
    }
    let entry = state.registry().entry_by_slug(slug).await?.ok_or_else(|| corrupt("demo reseller missing"))?;
    let tenant = state.tenant_by_id(entry.id).await?.ok_or_else(|| corrupt("demo reseller unavailable"))?;
    let (email, cname, password) = DEMO_RESELLER_CUSTOMER;
    if customers::find_login(&tenant.db, email).await?.is_none() {
        let hash = hash_password(password.to_owned()).await?;
        let id = customers::ensure(&tenant.db, email, cname, &hash).await?;
        demo_credit(&tenant.db, id, tenant.currency).await?;
    }
    Ok(())
}
