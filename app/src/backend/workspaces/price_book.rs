//! The platform's wholesale price book (central `wholesale_prices`, `reseller_tiers`): reading the rate a
//! storefront pays for a plan at an instant, the changes it will see, and the admin's scheduling of
//! changes. The rules are pure, in `domain::price_book`; this module reads the rows and acts on them.
//!
//! Why the rate is resolved at each session start rather than copied into the tenants' databases: a change
//! takes effect at its instant on every app server without a job having run at that moment, and since a
//! change can only be scheduled at or after the moment it is made, the rate resolved for a session's start
//! can never be changed by anything scheduled later. Running and past sessions keep the rates they froze.
//!
//! Retail below a new wholesale price (the policy, see `domain::price_book`): the reseller is emailed when the
//! change is scheduled (every reseller whose price changes is told, with the margin it leaves), the reseller's
//! `/manage/billing` and `/manage/catalog` flag it, the admin's `/admin/prices` lists the storefronts
//! affected; from the effective time, sessions start at no less than the new wholesale price and the
//! storefront shows that price, until the reseller sets their own.

use rust_decimal::Decimal;

use super::catalog::{self, Plan};
use super::plan_templates;
use crate::backend::mail::storefront::storefront_url;
use crate::backend::mail::{outbox, templates, Outgoing};
use crate::backend::platform::audit::ByAdmin;
use crate::backend::platform::db::{now, CentralDb};
use crate::backend::state::{AppState, Tenant};
use crate::backend::tenancy::registry::bump_version;
use crate::backend::{corrupt, tenancy::branding, BackendError, Result};
use crate::domain::ids::TenantId;
use crate::domain::money::{Currency, Rate};
use crate::domain::plan::PlanCode;
use crate::domain::price_book::{
    self as rules, margin_after, Buyer, PriceBookError, PriceEntry, PriceScope, TierName, UpcomingChange, UpcomingPrice,
};
use crate::domain::time::{format_utc, Timestamp};

/// A `wholesale_prices` row as stored.
#[derive(sqlx::FromRow)]
struct PriceRow {
    id: String,
    plan_code: String,
    scope_kind: String,
    scope: String,
    per_hour: Option<String>,
    effective_at: i64,
    created_by: String,
}

/// A row of the book with who wrote it (the admin's page).
#[derive(Clone, Debug)]
pub struct BookRow {
    pub id: String,
    pub entry: PriceEntry,
    pub created_by: String,
}

impl TryFrom<PriceRow> for BookRow {
    type Error = BackendError;

    fn try_from(r: PriceRow) -> Result<BookRow> {
        let per_hour =
            r.per_hour.map(|p| p.parse::<Decimal>().map_err(|_| corrupt("wholesale_prices.per_hour"))).transpose()?;
        Ok(BookRow {
            entry: PriceEntry {
                plan: PlanCode::parse(&r.plan_code).map_err(|_| corrupt("wholesale_prices.plan_code"))?,
                scope: PriceScope::from_stored(&r.scope_kind, &r.scope)
                    .ok_or_else(|| corrupt("wholesale_prices.scope"))?,
                per_hour,
                effective_at: Timestamp::from_millis(r.effective_at),
            },
            id: r.id,
            created_by: r.created_by,
        })
    }
}

macro_rules! price_columns {
    () => {
        "id, plan_code, scope_kind, scope, per_hour, effective_at, created_by"
    };
}

/// The whole book, oldest first.
pub async fn all(central: &CentralDb) -> Result<Vec<BookRow>> {
    let rows = sqlx::query_as::<_, PriceRow>(concat!(
        "SELECT ",
        price_columns!(),
        " FROM wholesale_prices ORDER BY effective_at, plan_code, scope_kind, scope"
    ))
    .fetch_all(central.pool())
    .await?;
    rows.into_iter().map(BookRow::try_from).collect()
}

/// Who a storefront is for the book (its id and tier) and the rows that can apply to it (the base book,
/// its tier's, its own), oldest first; `plan` narrows them to one plan. `None`: no such tenant. One
/// statement for both: every page that shows a price, and every session start, needs both, and each
/// statement is a round trip to the central database.
async fn buyer_with_entries(
    central: &CentralDb,
    tenant: TenantId,
    plan: Option<PlanCode>,
) -> Result<Option<(Buyer, Vec<PriceEntry>)>> {
    let rows = sqlx::query_as::<_, BuyerPriceRow>(
        "SELECT t.reseller_tier, p.id, p.plan_code, p.scope_kind, p.scope, p.per_hour, p.effective_at, p.created_by \
         FROM tenants t LEFT JOIN wholesale_prices p ON ($1 = '' OR p.plan_code = $1) AND (p.scope_kind = 'base' \
         OR (p.scope_kind = 'tier' AND p.scope = t.reseller_tier) OR (p.scope_kind = 'tenant' AND p.scope = t.id)) \
         WHERE t.id = $2 ORDER BY p.effective_at",
    )
    .bind(plan.map_or("", PlanCode::as_str))
    .bind(tenant.to_string())
    .fetch_all(central.pool())
    .await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let tier = TierName::parse(&first.reseller_tier).map_err(|_| corrupt("tenants.reseller_tier"))?;
    let entries = rows
        .into_iter()
        .filter_map(BuyerPriceRow::price)
        .map(|r| BookRow::try_from(r).map(|b| b.entry))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some((Buyer { tenant, tier }, entries)))
}

/// A tenant's tier beside one row of the book that can apply to it (none: every price column `NULL`).
#[derive(sqlx::FromRow)]
struct BuyerPriceRow {
    reseller_tier: String,
    id: Option<String>,
    plan_code: Option<String>,
    scope_kind: Option<String>,
    scope: Option<String>,
    per_hour: Option<String>,
    effective_at: Option<i64>,
    created_by: Option<String>,
}

impl BuyerPriceRow {
    fn price(self) -> Option<PriceRow> {
        Some(PriceRow {
            id: self.id?,
            plan_code: self.plan_code?,
            scope_kind: self.scope_kind?,
            scope: self.scope?,
            per_hour: self.per_hour,
            effective_at: self.effective_at?,
            created_by: self.created_by?,
        })
    }
}

fn rate(per_hour: Decimal, currency: Currency) -> Result<Rate> {
    Rate::per_hour(per_hour, currency).map_err(|_| corrupt("wholesale_prices.per_hour"))
}

/// What `tenant` pays an hour for `plan` at instant `t`.
pub async fn wholesale_at(central: &CentralDb, tenant: &Tenant, plan: PlanCode, t: Timestamp) -> Result<Rate> {
    let (buyer, entries) = buyer_with_entries(central, tenant.id, Some(plan))
        .await?
        .ok_or_else(|| corrupt("price book: tenant without a row"))?;
    let per_hour =
        rules::rate_at(&entries, plan, &buyer, t).ok_or_else(|| corrupt(format!("price book: no price for {plan}")))?;
    rate(per_hour, tenant.currency)
}

/// The rows of the book each storefront's pages show prices from, kept in memory per tenant: the
/// catalog, the dashboard and the workspace page would otherwise each read the central database for rows
/// that change only when an admin schedules or withdraws a price or moves the storefront to another tier.
/// Each of those bumps the registry's version in its transaction, so a kept book is used only while the
/// version it was read at is current: at once on the server that made the change, and after the registry's
/// periodic check (at most a second) on the others. Rows carry their effective time, so a kept book still
/// answers "in force now" correctly as time passes. Only what pages show comes from here; the rates a
/// session freezes are always read from the database ([`session_rates`]).
#[derive(Debug, Default)]
pub struct DisplayBooks {
    books: std::sync::Mutex<std::collections::HashMap<TenantId, KeptBook>>,
}

type KeptBook = (i64, std::sync::Arc<(Buyer, Vec<PriceEntry>)>);

impl DisplayBooks {
    async fn get(&self, state: &AppState, tenant: TenantId) -> Result<std::sync::Arc<(Buyer, Vec<PriceEntry>)>> {
        // The version first: a change committed after it is read bumps it again, so a book read below can be
        // newer than the version it is kept under, never older.
        let version = state.registry().version().await?;
        let kept = self.books.lock().map_err(|_| corrupt("price book cache lock"))?.get(&tenant).cloned();
        if let Some((v, book)) = kept {
            if v == version {
                return Ok(book);
            }
        }
        let book = std::sync::Arc::new(
            buyer_with_entries(state.central(), tenant, None)
                .await?
                .ok_or_else(|| corrupt("price book: tenant without a row"))?,
        );
        self.books.lock().map_err(|_| corrupt("price book cache lock"))?.insert(tenant, (version, book.clone()));
        Ok(book)
    }
}

/// What `tenant` pays an hour for each plan now, in `PlanCode::ALL` order, for its pages (see
/// [`DisplayBooks`]).
pub async fn wholesale_now(state: &AppState, tenant: &Tenant) -> Result<Vec<(PlanCode, Rate)>> {
    let book = state.price_books().get(state, tenant.id).await?;
    let (buyer, entries) = (&book.0, &book.1);
    let t = now();
    PlanCode::ALL
        .into_iter()
        .map(|plan| -> Result<(PlanCode, Rate)> {
            let per_hour = rules::rate_at(entries, plan, buyer, t)
                .ok_or_else(|| corrupt(format!("price book: no price for {plan}")))?;
            Ok((plan, rate(per_hour, tenant.currency)?))
        })
        .collect()
}

/// The rates a usage session of `plan` freezes when it starts at `started_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRates {
    /// The storefront's price, never below `wholesale` (the floor rises with it).
    pub retail: Rate,
    pub wholesale: Rate,
}

/// The rates in force at `started_at` (the session's start, not the moment we learn of it: a change that
/// took effect in between does not apply to a session that had already started).
pub async fn session_rates(
    central: &CentralDb,
    tenant: &Tenant,
    plan: &Plan,
    started_at: Timestamp,
) -> Result<SessionRates> {
    let wholesale = wholesale_at(central, tenant, plan.code, started_at).await?;
    Ok(SessionRates { retail: rules::retail_floor(plan.retail, wholesale), wholesale })
}

/// The changes to `tenant`'s wholesale prices that are scheduled and not yet in force, with the margin each
/// leaves at the storefront's retail price today.
pub async fn upcoming_for(central: &CentralDb, tenant: &Tenant) -> Result<Vec<UpcomingPrice>> {
    let Some((buyer, entries)) = buyer_with_entries(central, tenant.id, None).await? else { return Ok(Vec::new()) };
    let changes = rules::upcoming(&entries, &buyer, now());
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let plans = catalog::list_all(&tenant.db).await?;
    changes.into_iter().filter_map(|c| for_reseller(&plans, c, tenant.currency).transpose()).collect()
}

fn for_reseller(plans: &[Plan], c: UpcomingChange, currency: Currency) -> Result<Option<UpcomingPrice>> {
    let Some(plan) = plans.iter().find(|p| p.code == c.plan) else { return Ok(None) };
    Ok(Some(UpcomingPrice {
        plan: c.plan,
        plan_name: plan.name.clone(),
        effective_at: c.effective_at,
        from: rate(c.from, currency)?,
        to: rate(c.to, currency)?,
        retail: plan.retail,
        margin: margin_after(plan.retail.amount_per_hour(), c.to),
    }))
}

/// A reseller tier the admin defined.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct TierRow {
    pub name: String,
    pub label: String,
}

pub async fn tiers(central: &CentralDb) -> Result<Vec<TierRow>> {
    Ok(sqlx::query_as::<_, TierRow>("SELECT name, label FROM reseller_tiers ORDER BY sort_order, name")
        .fetch_all(central.pool())
        .await?)
}

/// A storefront affected by an upcoming change that takes its wholesale price above its retail price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Affected {
    pub slug: String,
    pub change: UpcomingPrice,
}

/// The admin's view of the book: tiers, every row in force or scheduled, storefronts whose retail price an
/// upcoming change passes.
#[derive(Clone, Debug)]
pub struct AdminBook {
    pub tiers: Vec<TierRow>,
    /// (row, slug of its storefront for a tenant override, in force now?) — superseded rows left out.
    pub rows: Vec<(BookRow, Option<String>, bool)>,
    pub affected: Vec<Affected>,
    /// The reseller storefronts' slugs (for choosing one to override).
    pub slugs: Vec<String>,
    pub now: Timestamp,
}

/// Storefronts (active resellers, not the house) with their tier, for looking through the book.
#[derive(sqlx::FromRow)]
struct StorefrontRow {
    id: String,
    slug: String,
    name: String,
    owner_email: String,
    reseller_tier: String,
}

async fn storefronts(central: &CentralDb) -> Result<Vec<StorefrontRow>> {
    Ok(sqlx::query_as::<_, StorefrontRow>(
        "SELECT id, slug, name, owner_email, reseller_tier FROM tenants \
         WHERE is_house = 0 AND status IN ('active', 'suspended') ORDER BY slug",
    )
    .fetch_all(central.pool())
    .await?)
}

pub async fn admin_book(state: &AppState) -> Result<AdminBook> {
    let central = state.central();
    let t = now();
    let book = all(central).await?;
    let fronts = storefronts(central).await?;
    let slug_of = |id: TenantId| fronts.iter().find(|f| f.id == id.to_string()).map(|f| f.slug.clone());
    // A row is shown if it is scheduled, or the latest in force for its plan and scope.
    let rows = book
        .iter()
        .filter(|r| {
            r.entry.effective_at > t
                || !book.iter().any(|o| {
                    o.entry.plan == r.entry.plan
                        && o.entry.scope == r.entry.scope
                        && o.entry.effective_at > r.entry.effective_at
                        && o.entry.effective_at <= t
                })
        })
        .map(|r| {
            let slug = match &r.entry.scope {
                PriceScope::Tenant(id) => slug_of(*id),
                _ => None,
            };
            (r.clone(), slug, r.entry.effective_at <= t)
        })
        .collect();
    let entries: Vec<PriceEntry> = book.into_iter().map(|b| b.entry).collect();
    let mut affected = Vec::new();
    if entries.iter().any(|e| e.effective_at > t) {
        // Only when something is scheduled: then each storefront's own prices are read.
        for f in &fronts {
            for change in floor_changes(state, f, &entries, t).await? {
                affected.push(Affected { slug: f.slug.clone(), change });
            }
        }
    }
    let slugs = fronts.into_iter().map(|f| f.slug).collect();
    Ok(AdminBook { tiers: tiers(central).await?, rows, affected, slugs, now: t })
}

/// The upcoming changes that take `f`'s wholesale price above its retail price.
async fn floor_changes(
    state: &AppState,
    f: &StorefrontRow,
    entries: &[PriceEntry],
    t: Timestamp,
) -> Result<Vec<UpcomingPrice>> {
    Ok(changes_for(state, f, entries, t).await?.into_iter().filter(|c| c.margin.below_wholesale).collect())
}

async fn changes_for(
    state: &AppState,
    f: &StorefrontRow,
    entries: &[PriceEntry],
    t: Timestamp,
) -> Result<Vec<UpcomingPrice>> {
    let id: TenantId = f.id.parse().map_err(|_| corrupt("tenants.id"))?;
    let tier = TierName::parse(&f.reseller_tier).map_err(|_| corrupt("tenants.reseller_tier"))?;
    let changes = rules::upcoming(entries, &Buyer { tenant: id, tier }, t);
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let Some(tenant) = state.tenant_by_id(id).await? else { return Ok(Vec::new()) };
    let plans = catalog::list_all(&tenant.db).await?;
    changes.into_iter().filter_map(|c| for_reseller(&plans, c, tenant.currency).transpose()).collect()
}

/// A price change as the admin typed it.
pub struct ScheduleInput<'a> {
    pub plan: &'a str,
    /// `base`, `tier` or `tenant`.
    pub scope_kind: &'a str,
    /// A tier name, or a storefront's slug; empty for the base book.
    pub scope: &'a str,
    /// Empty: end the override (tiers and storefronts only).
    pub per_hour: &'a str,
    /// Empty: now.
    pub effective_at: &'a str,
}

/// Why scheduling was refused (nothing was changed).
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl From<PriceBookError> for ScheduleError {
    fn from(e: PriceBookError) -> Self {
        ScheduleError::Invalid(e.to_string())
    }
}

impl From<sqlx::Error> for ScheduleError {
    fn from(e: sqlx::Error) -> Self {
        ScheduleError::Backend(e.into())
    }
}

/// What was scheduled: its effective instant, and how many resellers were emailed about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheduled {
    pub effective_at: Timestamp,
    pub notified: usize,
}

/// Schedules a wholesale price (or the end of an override) from an instant no earlier than now, recorded in
/// the audit log (`price.scheduled`); a row already scheduled for the same plan, scope and instant is
/// replaced. Every reseller whose price it changes is emailed ahead of time (see the module docs).
pub async fn schedule(
    state: &AppState,
    by: ByAdmin<'_>,
    input: &ScheduleInput<'_>,
) -> Result<Scheduled, ScheduleError> {
    let central = state.central();
    let plan = PlanCode::parse(input.plan).map_err(|_| ScheduleError::Invalid("There is no such plan.".into()))?;
    let scope = match input.scope_kind.trim() {
        "base" => PriceScope::Base,
        "tier" => {
            let tier = TierName::parse(input.scope)?;
            if !tiers(central).await?.iter().any(|t| t.name == tier.as_str()) {
                return Err(ScheduleError::Invalid(format!("There is no reseller tier \"{tier}\".")));
            }
            PriceScope::Tier(tier)
        }
        "tenant" => {
            let slug = input.scope.trim().to_ascii_lowercase();
            let f = storefronts(central).await?.into_iter().find(|f| f.slug == slug);
            let f = f.ok_or_else(|| ScheduleError::Invalid(format!("There is no reseller storefront \"{slug}\".")))?;
            PriceScope::Tenant(f.id.parse().map_err(|_| corrupt("tenants.id"))?)
        }
        _ => return Err(PriceBookError::Scope.into()),
    };
    let per_hour = rules::parse_price(input.per_hour)?;
    if per_hour.is_none() && scope == PriceScope::Base {
        return Err(PriceBookError::BaseNeedsPrice.into());
    }
    let t = now();
    let effective_at = rules::parse_effective(input.effective_at, t)?;
    // The row and the registry's version commit together: every server's pages drop the book they keep.
    let mut tx = central.begin().await?;
    sqlx::query(
        "INSERT INTO wholesale_prices (id, plan_code, scope_kind, scope, per_hour, effective_at, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (plan_code, scope_kind, scope, effective_at) DO UPDATE SET per_hour = excluded.per_hour, \
         created_by = excluded.created_by, created_at = excluded.created_at",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(plan.as_str())
    .bind(scope.kind())
    .bind(scope.key())
    .bind(per_hour.map(|p| p.normalize().to_string()))
    .bind(effective_at.as_millis())
    .bind(by.email)
    .bind(t.as_millis())
    .execute(&mut *tx)
    .await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    let tenant = match &scope {
        PriceScope::Tenant(id) => Some(*id),
        _ => None,
    };
    let price = per_hour.map_or_else(|| "override ended".to_owned(), |p| format!("{}/h", p.normalize()));
    let detail = format!("{plan} {scope}: {price} from {}", format_utc(effective_at));
    by.record(central, tenant, "price.scheduled", &detail).await?;
    let notified = notify_resellers(state, plan, effective_at).await?;
    Ok(Scheduled { effective_at, notified })
}

/// Withdraws a change that has not taken effect yet (one in force is history and stays). `false`: no such
/// scheduled change.
pub async fn withdraw(state: &AppState, by: ByAdmin<'_>, id: &str) -> Result<bool> {
    let central = state.central();
    let t = now();
    let row = sqlx::query_as::<_, PriceRow>(concat!(
        "SELECT ",
        price_columns!(),
        " FROM wholesale_prices WHERE id = $1 AND effective_at > $2"
    ))
    .bind(id)
    .bind(t.as_millis())
    .fetch_optional(central.pool())
    .await?;
    let Some(row) = row.map(BookRow::try_from).transpose()? else { return Ok(false) };
    let mut tx = central.begin().await?;
    let gone = sqlx::query("DELETE FROM wholesale_prices WHERE id = $1 AND effective_at > $2")
        .bind(id)
        .bind(t.as_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if gone {
        // With the registry's version, so every server's pages drop the book they keep (`DisplayBooks`).
        bump_version(&mut tx).await?;
    }
    tx.commit().await?;
    if gone {
        state.registry().invalidate();
        let e = &row.entry;
        let tenant = match &e.scope {
            PriceScope::Tenant(id) => Some(*id),
            _ => None,
        };
        let detail = format!("{} {}: change of {} withdrawn", e.plan, e.scope, format_utc(e.effective_at));
        by.record(central, tenant, "price.withdrawn", &detail).await?;
    }
    Ok(gone)
}

/// Adds a reseller tier (`false`: it exists already).
pub async fn add_tier(state: &AppState, by: ByAdmin<'_>, name: &str, label: &str) -> Result<bool, ScheduleError> {
    let name = TierName::parse(name)?;
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 40 || label.chars().any(char::is_control) {
        return Err(ScheduleError::Invalid("A tier's label is 1 to 40 characters on one line.".into()));
    }
    let central = state.central();
    let added = sqlx::query(
        "INSERT INTO reseller_tiers (name, label, sort_order, created_at) \
         VALUES ($1, $2, (SELECT COALESCE(MAX(sort_order), 0) + 1 FROM reseller_tiers), $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name.as_str())
    .bind(label)
    .bind(now().as_millis())
    .execute(central.pool())
    .await?
    .rows_affected()
        == 1;
    if added {
        by.record(central, None, "tier.added", &format!("{name} ({label})")).await?;
    }
    Ok(added)
}

/// Emails every reseller whose price of `plan` changes at `at`, from the platform: the change and the margin
/// it leaves, or that their retail price is below it and will rise to it. Once per reseller, plan, instant
/// and price (the outbox's dedupe key), so scheduling the same change again does not send it twice.
async fn notify_resellers(state: &AppState, plan: PlanCode, at: Timestamp) -> Result<usize> {
    let central = state.central();
    let entries: Vec<PriceEntry> = all(central).await?.into_iter().map(|b| b.entry).collect();
    let t = now();
    let mut sent = 0;
    for f in storefronts(central).await? {
        let changes = changes_for(state, &f, &entries, t).await?;
        let Some(c) = changes.into_iter().find(|c| c.plan == plan && c.effective_at == at) else { continue };
        let id: TenantId = f.id.parse().map_err(|_| corrupt("tenants.id"))?;
        if email_change(state, id, &f, &c).await? {
            sent += 1;
        }
    }
    Ok(sent)
}

async fn email_change(state: &AppState, id: TenantId, f: &StorefrontRow, c: &UpcomingPrice) -> Result<bool> {
    let central = state.central();
    let house = state.house().await?;
    let platform = branding::get(central, house.id).await?.ok_or_else(|| corrupt("house branding missing"))?;
    let ctx = crate::backend::mail::brand_context(&platform, &storefront_url(state, &house).await?);
    let Some(tenant) = state.tenant_by_id(id).await? else { return Ok(false) };
    let url = format!("{}/manage/catalog", storefront_url(state, &tenant).await?);
    let plan_name = plan_templates::list(central)
        .await?
        .into_iter()
        .find(|p| p.code == c.plan)
        .map_or_else(|| c.plan_name.clone(), |p| p.name);
    let rendered = templates::wholesale_price_change(
        &ctx,
        &templates::PriceChangeNotice {
            storefront_name: &f.name,
            plan_name: &plan_name,
            when: &format_utc(c.effective_at),
            from: &c.from.to_string(),
            to: &c.to.to_string(),
            retail: &c.retail.to_string(),
            below: c.margin.below_wholesale,
            url: &url,
        },
    );
    let o = Outgoing {
        tenant: Some(id),
        dedupe_key: format!(
            "wholesale_price:{id}:{}:{}:{}",
            c.plan,
            c.effective_at.as_millis(),
            c.to.amount_per_hour()
        ),
        kind: "wholesale_price_change".into(),
        to: f.owner_email.clone(),
        from_name: platform.theme.company_name.clone(),
        from_addr: platform.from_email.clone(),
        reply_to: None,
        rendered,
        attachment: None,
    };
    let queued = outbox::enqueue(central, &o).await?;
    state.notify_mail();
    Ok(queued)
}
