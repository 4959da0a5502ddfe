//! The tenant registry: which storefronts exist, which hosts reach them, and their database pools.
//!
//! Every request is resolved here, by its Host, to exactly one [`Site`]. The map from hosts to tenants
//! is loaded from the central database, cached in memory and reloaded when `registry_version` changes
//! (every write that affects routing or branding bumps it, in the same transaction), checked at most
//! once a second. Tenant pools open lazily and live in a bounded LRU: ten thousand tenants do not mean
//! ten thousand open pools.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::backend::platform::db::{now, tenant_db_url, CentralDb, TenantDb, WeakTenantDb};
use crate::backend::platform::host::HostName;
use crate::backend::{corrupt, Result};
use crate::domain::branding::{Colour, Theme};
use crate::domain::ids::TenantId;
use crate::domain::money::Currency;
use crate::domain::tenant::{BillingTerms, CreationStep, TenantStatus, TierName};

/// A storefront and its database.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub currency: Currency,
    pub db: TenantDb,
}

pub const HOUSE_SLUG: &str = "house";

/// What the registry knows about a tenant without opening its database.
#[derive(Clone, Debug)]
pub struct TenantEntry {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    pub is_house: bool,
    pub currency: Currency,
    pub db_url: String,
    /// The database server it is on (`None`: primary), which says whether queries go through a pooler.
    pub db_server: Option<String>,
    /// Changes whenever the database changes under the tenant's pools (a move): a pool opened at another
    /// epoch is not used again.
    pub db_epoch: i64,
    pub brand: Brand,
}

/// A tenant's look, as every page of its storefront needs it on first paint.
#[derive(Clone, Debug)]
pub struct Brand {
    pub theme: Theme,
    /// Bumped on every branding change: part of stylesheet URLs and ETags.
    pub version: i64,
    pub logo_sha: Option<String>,
    pub favicon_sha: Option<String>,
    pub has_custom_css: bool,
    pub support_email: String,
}

/// Who a request is for, decided from its Host alone.
#[derive(Clone, Debug)]
pub enum Site {
    /// An active storefront.
    Tenant(Arc<TenantEntry>),
    /// A suspended storefront: a notice, no sign-ins, no actions.
    Suspended(Arc<TenantEntry>),
    /// The platform admin app.
    Admin,
    /// Nobody we serve.
    Unknown,
}

impl Site {
    pub fn tenant(&self) -> Option<&Arc<TenantEntry>> {
        match self {
            Site::Tenant(t) => Some(t),
            _ => None,
        }
    }
}

/// How hosts map to sites, from configuration.
#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// `<slug>.<platform>` reaches a tenant; the bare platform domain reaches the house storefront.
    pub platform_domain: HostName,
    /// Hosts of the admin app (default `admin.<platform>`).
    pub admin_hosts: Vec<HostName>,
    /// Development only: loopback IP literals reach the house storefront.
    pub loopback_is_house: bool,
}

impl SiteConfig {
    /// Whether `host` is one of the platform's own names: the platform domain or any name below it, an
    /// admin host or any name below one. These are routed by the platform alone; no tenant may claim one
    /// as its custom domain.
    pub fn is_platform_name(&self, host: &HostName) -> bool {
        host.is_within(&self.platform_domain) || self.admin_hosts.iter().any(|a| host.is_within(a))
    }
}

#[derive(Debug, Default)]
struct DomainMap {
    version: i64,
    by_id: HashMap<TenantId, Arc<TenantEntry>>,
    by_slug: HashMap<String, TenantId>,
    /// Verified custom domains only.
    by_domain: HashMap<String, TenantId>,
    house: Option<TenantId>,
}

#[derive(Debug)]
pub struct Registry {
    central: CentralDb,
    sites: SiteConfig,
    /// The map, with the number of this process's own changes (see [`Registry::invalidate`]) it includes.
    map: RwLock<(Arc<DomainMap>, u64)>,
    /// When the map's version was last compared with the database's.
    checked: Mutex<Option<Instant>>,
    /// How many changes this process has made to routing: a map loaded before the latest must not be used.
    changes: AtomicU64,
    /// One reload at a time; callers that may not use the old map wait for it.
    reloading: tokio::sync::Mutex<()>,
    pools: Mutex<Pools>,
    /// Tenants whose schema this process has brought up to date (once per process, on first open).
    migrated: Mutex<HashSet<TenantId>>,
    /// One opener per tenant, so two requests for a cold tenant do not open two pools. Per tenant, not
    /// global: opening a pool is network I/O (and, the first time, a migration that may wait for another
    /// server's), and one slow tenant must not queue every other tenant's first request behind it.
    opening: Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>,
}

/// What a tenant's database is opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    /// Requests and jobs: the registry's pool, kept in the LRU.
    Serving,
    /// A job over many tenants, each once: a connection of its own (see [`Registry::tenant_for_batch`]).
    Batch,
}

/// The open tenant pools: the most recently used ones, bounded, plus those pushed out of the LRU that
/// some request still holds (reused rather than opened a second time; each closes with its last user).
#[derive(Debug)]
struct Pools {
    recent: LruCache<TenantId, TenantDb>,
    evicted: HashMap<TenantId, WeakTenantDb>,
    /// The database epoch each tenant's pool was opened at.
    epochs: HashMap<TenantId, i64>,
}

/// How stale the cached map may be when another server changed it.
const RECHECK: Duration = Duration::from_secs(1);

impl Registry {
    pub fn new(central: CentralDb, sites: SiteConfig, pool_capacity: usize) -> Registry {
        let cap = NonZeroUsize::new(pool_capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Registry {
            central,
            sites,
            map: RwLock::new((Arc::new(DomainMap { version: -1, ..DomainMap::default() }), 0)),
            checked: Mutex::new(None),
            changes: AtomicU64::new(0),
            reloading: tokio::sync::Mutex::new(()),
            pools: Mutex::new(Pools { recent: LruCache::new(cap), evicted: HashMap::new(), epochs: HashMap::new() }),
            migrated: Mutex::new(HashSet::new()),
            opening: Mutex::new(HashMap::new()),
        }
    }

    pub fn sites(&self) -> &SiteConfig {
        &self.sites
    }

    fn current(&self) -> (Arc<DomainMap>, u64) {
        let m = self.map.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        (m.0.clone(), m.1)
    }

    /// The map, reloaded first if the database says it changed (checked at most once per `RECHECK`).
    ///
    /// After [`Registry::invalidate`] (a change made by this process) nobody uses a map loaded before it:
    /// callers wait for one reload. The periodic check for other servers' changes is made by one caller
    /// while the others carry on with the current map (up to `RECHECK` stale, by design).
    async fn fresh(&self) -> Result<Arc<DomainMap>> {
        let (map, includes) = self.current();
        let must = map.version < 0 || includes < self.changes.load(Ordering::Acquire);
        if !must {
            let due = {
                let mut checked = self.checked.lock().map_err(|_| corrupt("registry lock"))?;
                let due = checked.is_none_or(|t| t.elapsed() >= RECHECK);
                if due {
                    *checked = Some(Instant::now());
                }
                due
            };
            if !due {
                return Ok(map);
            }
        }
        let _one = self.reloading.lock().await;
        let (map, includes) = self.current();
        // Read before the version: a change committed after this read counts again.
        let changes = self.changes.load(Ordering::Acquire);
        if must && map.version >= 0 && includes >= changes {
            // Reloaded by another caller while this one waited.
            return Ok(map);
        }
        if let Ok(mut checked) = self.checked.lock() {
            *checked = Some(Instant::now());
        }
        let version: i64 = sqlx::query_scalar("SELECT version FROM registry_version WHERE id = 1")
            .fetch_one(self.central.pool())
            .await?;
        let map = if version == map.version { map } else { Arc::new(load_map(&self.central, version).await?) };
        // Reloads are serialised (`reloading`), and versions only grow.
        *self.map.write().unwrap_or_else(std::sync::PoisonError::into_inner) = (map.clone(), changes);
        Ok(map)
    }

    /// Forgets the cached map now (after a change made by this process, once it is committed): every
    /// later lookup sees the change.
    pub fn invalidate(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut c) = self.checked.lock() {
            *c = None;
        }
    }

    /// The registry's version as this server last saw it (checked against the database as [`Self::resolve`]
    /// is): what caches of data whose changes bump it are keyed by.
    pub async fn version(&self) -> Result<i64> {
        Ok(self.fresh().await?.version)
    }

    /// Which site a (normalised) host belongs to.
    pub async fn resolve(&self, host: &HostName) -> Result<Site> {
        let map = self.fresh().await?;
        Ok(resolve_in(&map, &self.sites, host))
    }

    pub async fn entry(&self, id: TenantId) -> Result<Option<Arc<TenantEntry>>> {
        Ok(self.fresh().await?.by_id.get(&id).cloned())
    }

    pub async fn entry_by_slug(&self, slug: &str) -> Result<Option<Arc<TenantEntry>>> {
        let map = self.fresh().await?;
        Ok(map.by_slug.get(slug).and_then(|id| map.by_id.get(id)).cloned())
    }

    /// Every tenant the map knows, house first.
    pub async fn entries(&self) -> Result<Vec<Arc<TenantEntry>>> {
        let map = self.fresh().await?;
        let mut all: Vec<_> = map.by_id.values().cloned().collect();
        all.sort_by(|a, b| b.is_house.cmp(&a.is_house).then_with(|| a.slug.cmp(&b.slug)));
        Ok(all)
    }

    pub async fn house(&self) -> Result<Tenant> {
        let id = self.fresh().await?.house.ok_or_else(|| corrupt("no house tenant"))?;
        self.tenant(id).await?.ok_or_else(|| corrupt("house tenant unavailable"))
    }

    /// A tenant with its database, for serving requests or running its jobs. `None` when the tenant does
    /// not exist or is not in a state that has a usable database (creating, failed, deleting).
    pub async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        let Some(entry) = self.entry(id).await? else { return Ok(None) };
        if !matches!(entry.status, TenantStatus::Active | TenantStatus::Suspended) {
            return Ok(None);
        }
        let db = self.db(&entry).await?;
        Ok(Some(Tenant {
            id: entry.id,
            slug: entry.slug.clone(),
            name: entry.name.clone(),
            currency: entry.currency,
            db,
        }))
    }

    /// The pool of a tenant's database, opened on first use (and its schema migrated once per process).
    pub async fn db(&self, entry: &TenantEntry) -> Result<TenantDb> {
        if let Some(db) = self.cached_pool(entry.id, entry.db_epoch)? {
            return Ok(db);
        }
        Ok(self.open_gated(entry, Use::Serving).await?.0)
    }

    /// A tenant for a job that goes through many tenants once each (the billing run), and whether its
    /// database was opened for the job alone: the caller closes that one when done. The registry's pool
    /// when one is open, used without making it recent; otherwise one connection of the job's own, never
    /// remembered. Through the registry, such a job would push every storefront's warm pool out of the LRU
    /// for databases nobody asks for again until next month, and each pool it opened would open up to
    /// four connections, one per statement (sqlx checks a released connection on a task of its own, so the
    /// next statement finds none free), where the job runs one statement at a time. `None` as for
    /// [`Registry::tenant`].
    pub async fn tenant_for_batch(&self, id: TenantId) -> Result<Option<(Tenant, bool)>> {
        let Some(entry) = self.entry(id).await? else { return Ok(None) };
        if !matches!(entry.status, TenantStatus::Active | TenantStatus::Suspended) {
            return Ok(None);
        }
        let (db, own) = match self.open_pool(entry.id, entry.db_epoch)? {
            Some(db) => (db, false),
            None => self.open_gated(&entry, Use::Batch).await?,
        };
        let tenant =
            Tenant { id: entry.id, slug: entry.slug.clone(), name: entry.name.clone(), currency: entry.currency, db };
        Ok(Some((tenant, own)))
    }

    /// Opens the tenant's database for `purpose`, one opener per tenant at a time (see `opening`).
    async fn open_gated(&self, entry: &TenantEntry, purpose: Use) -> Result<(TenantDb, bool)> {
        let gate = self.opening.lock().map_err(|_| corrupt("registry lock"))?.entry(entry.id).or_default().clone();
        let opened = self.open_once(entry, &gate, purpose).await;
        if let Ok(mut opening) = self.opening.lock() {
            // The map's copy and this one: nobody else is waiting, so the gate can go.
            if opening.get(&entry.id).is_some_and(|g| Arc::ptr_eq(g, &gate) && Arc::strong_count(&gate) == 2) {
                opening.remove(&entry.id);
            }
        }
        opened
    }

    /// The database, and whether it was opened for a batch job alone.
    async fn open_once(
        &self,
        entry: &TenantEntry,
        gate: &tokio::sync::Mutex<()>,
        purpose: Use,
    ) -> Result<(TenantDb, bool)> {
        let _one = gate.lock().await;
        let open = match purpose {
            Use::Serving => self.cached_pool(entry.id, entry.db_epoch)?,
            Use::Batch => self.open_pool(entry.id, entry.db_epoch)?,
        };
        if let Some(db) = open {
            return Ok((db, false));
        }
        // Nothing is remembered until the pool is open and migrated: a request cancelled half-way drops
        // its pool (closing its connections), and the next request starts afresh.
        let address =
            crate::backend::tenancy::db_servers::address(&self.central, entry.db_server.as_deref(), &entry.db_url)
                .await?;
        let db = match purpose {
            Use::Serving => TenantDb::connect_at(&address).await?,
            Use::Batch => TenantDb::connect_single_at(&address).await?,
        };
        let first = !self.migrated.lock().map_err(|_| corrupt("registry lock"))?.contains(&entry.id);
        if first {
            match db.migrate().await {
                Ok(()) => {
                    self.migrated.lock().map_err(|_| corrupt("registry lock"))?.insert(entry.id);
                }
                // Paused for a move: it was migrated before (by whoever opened it first), and reading goes on;
                // the next open after the move migrates the copy.
                Err(e) if is_read_only_setup(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if purpose == Use::Batch {
            return Ok((db, true));
        }
        self.remember(entry.id, entry.db_epoch, &db)?;
        Ok((db, false))
    }

    /// The tenant's pool if one is open at its current epoch, leaving the LRU as it is.
    fn open_pool(&self, id: TenantId, epoch: i64) -> Result<Option<TenantDb>> {
        let pools = self.pools.lock().map_err(|_| corrupt("registry lock"))?;
        if pools.epochs.get(&id).is_some_and(|e| *e != epoch) {
            return Ok(None);
        }
        Ok(pools.recent.peek(&id).cloned().or_else(|| pools.evicted.get(&id).and_then(|w| w.upgrade())))
    }

    /// Whether the tenant's pool is among the recently used ones (those the registry keeps open).
    pub fn is_open(&self, id: TenantId) -> bool {
        self.pools.lock().is_ok_and(|p| p.recent.contains(&id))
    }

    /// The tenant's open pool: a recent one, or one evicted from the LRU that a request still uses (it
    /// becomes recent again).
    fn cached_pool(&self, id: TenantId, epoch: i64) -> Result<Option<TenantDb>> {
        let mut pools = self.pools.lock().map_err(|_| corrupt("registry lock"))?;
        if pools.epochs.get(&id).is_some_and(|e| *e != epoch) {
            // The database changed under it (a move): requests still holding it finish on it, and it closes
            // with its last user; everyone else gets a fresh pool.
            let old = (pools.recent.pop(&id), pools.evicted.remove(&id));
            pools.epochs.remove(&id);
            drop(pools);
            drop(old);
            return Ok(None);
        }
        if let Some(db) = pools.recent.get(&id) {
            return Ok(Some(db.clone()));
        }
        let Some(db) = pools.evicted.remove(&id).and_then(|w| w.upgrade()) else { return Ok(None) };
        let pushed_out = Self::push(&mut pools, id, &db);
        drop(pools);
        drop(pushed_out);
        Ok(Some(db))
    }

    fn remember(&self, id: TenantId, epoch: i64, db: &TenantDb) -> Result<()> {
        let mut pools = self.pools.lock().map_err(|_| corrupt("registry lock"))?;
        pools.epochs.insert(id, epoch);
        let pushed_out = Self::push(&mut pools, id, db);
        drop(pools);
        // Dropped outside the lock: if nobody uses it, this closes it.
        drop(pushed_out);
        Ok(())
    }

    /// Makes `db` the most recent pool; the least recent one beyond the cap moves to `evicted` (as a weak
    /// handle: it closes when its last user is done) and is returned.
    fn push(pools: &mut Pools, id: TenantId, db: &TenantDb) -> Option<TenantDb> {
        pools.evicted.retain(|_, w| w.upgrade().is_some());
        match pools.recent.push(id, db.clone()) {
            Some((old_id, old)) if old_id != id => {
                pools.evicted.insert(old_id, old.downgrade());
                Some(old)
            }
            _ => None,
        }
    }

    /// Drops a tenant's pool (suspension keeps it; deletion must not). Closed in the background: the
    /// database is dropped next, which ends any connection still in use.
    pub async fn forget_pool(&self, id: TenantId) {
        let old = self.pools.lock().ok().map(|mut p| {
            let recent = p.recent.pop(&id);
            let evicted = p.evicted.remove(&id).and_then(|w| w.upgrade());
            (recent, evicted)
        });
        if let Ok(mut m) = self.migrated.lock() {
            m.remove(&id);
        }
        for db in old.into_iter().flat_map(|(a, b)| [a, b]).flatten() {
            tokio::spawn(async move { db.close().await });
        }
    }

    /// Pools in the LRU (at most the cap); evicted pools still in use are not counted.
    pub fn open_pools(&self) -> usize {
        self.pools.lock().map(|p| p.recent.len()).unwrap_or(0)
    }

    pub async fn close_all(&self) {
        let pools: Vec<TenantDb> = self
            .pools
            .lock()
            .map(|mut p| {
                let mut all: Vec<TenantDb> = std::iter::from_fn(|| p.recent.pop_lru().map(|(_, db)| db)).collect();
                all.extend(p.evicted.drain().filter_map(|(_, w)| w.upgrade()));
                all
            })
            .unwrap_or_default();
        for db in pools {
            db.close().await;
        }
    }
}

/// A migration refused because the database takes no writes (paused for a move).
fn is_read_only_setup(e: &crate::backend::platform::db::DbError) -> bool {
    use crate::backend::platform::db::{is_read_only, DbError};
    match e {
        DbError::Sqlx(e) | DbError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => is_read_only(e),
        _ => false,
    }
}

fn resolve_in(map: &DomainMap, sites: &SiteConfig, host: &HostName) -> Site {
    let by_id = |id: &TenantId| match map.by_id.get(id) {
        Some(t) if t.status == TenantStatus::Active => Site::Tenant(t.clone()),
        Some(t) if t.status == TenantStatus::Suspended => Site::Suspended(t.clone()),
        _ => Site::Unknown,
    };
    // Platform names first: a custom domain row can never shadow a storefront's own name, the house or
    // the admin app, even if one slipped into the database.
    if sites.admin_hosts.iter().any(|h| h == host) {
        return Site::Admin;
    }
    if host == &sites.platform_domain {
        return map.house.as_ref().map_or(Site::Unknown, by_id);
    }
    if let Some(label) = host.is_subdomain_of(&sites.platform_domain) {
        return map.by_slug.get(label).map_or(Site::Unknown, by_id);
    }
    if sites.is_platform_name(host) {
        return Site::Unknown;
    }
    if let Some(id) = map.by_domain.get(host.as_str()) {
        return by_id(id);
    }
    if sites.loopback_is_house && host.ip().is_some_and(|ip| ip.is_loopback()) {
        return map.house.as_ref().map_or(Site::Unknown, by_id);
    }
    Site::Unknown
}

const ENTRY_COLUMNS: &str =
    "t.id, t.slug, t.name, t.status, t.is_house, t.currency, t.db_url, t.db_server, t.db_epoch, \
     b.company_name, b.primary_color, b.secondary_color, b.version, b.logo_sha, b.favicon_sha, b.custom_css, \
     b.support_email";

async fn load_map(central: &CentralDb, version: i64) -> Result<DomainMap> {
    let rows = sqlx::query_as::<_, EntryRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM tenants t LEFT JOIN tenant_branding b ON b.tenant_id = t.id"
    )))
    .fetch_all(central.pool())
    .await?;
    let mut map = DomainMap { version, ..DomainMap::default() };
    for r in rows {
        let e = TenantEntry::try_from(r)?;
        if e.is_house {
            map.house = Some(e.id);
        }
        map.by_slug.insert(e.slug.clone(), e.id);
        map.by_id.insert(e.id, Arc::new(e));
    }
    let domains = sqlx::query_as::<_, VerifiedDomainRow>(
        "SELECT domain, tenant_id FROM tenant_domains WHERE verified_at IS NOT NULL",
    )
    .fetch_all(central.pool())
    .await?;
    for r in domains {
        map.by_domain.insert(r.domain, r.tenant_id.parse().map_err(|_| corrupt("tenant_domains.tenant_id"))?);
    }
    Ok(map)
}

/// A verified custom domain and the tenant it reaches (`tenant_domains`).
#[derive(sqlx::FromRow)]
struct VerifiedDomainRow {
    domain: String,
    tenant_id: String,
}

/// A `tenants` row with its branding ([`ENTRY_COLUMNS`]); the branding columns are NULL for a tenant
/// without a `tenant_branding` row (the LEFT JOIN).
#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    slug: String,
    name: String,
    status: String,
    is_house: i64,
    currency: String,
    db_url: String,
    db_server: Option<String>,
    db_epoch: i64,
    company_name: Option<String>,
    primary_color: Option<String>,
    secondary_color: Option<String>,
    version: Option<i64>,
    logo_sha: Option<String>,
    favicon_sha: Option<String>,
    custom_css: Option<String>,
    support_email: Option<String>,
}

impl TryFrom<EntryRow> for TenantEntry {
    type Error = crate::backend::BackendError;

    fn try_from(r: EntryRow) -> Result<TenantEntry> {
        let mut theme = Theme::default_for(r.company_name.as_deref().unwrap_or(&r.name));
        if let Some(c) = r.primary_color.as_deref().and_then(|c| Colour::parse(c).ok()) {
            theme.primary = c;
        }
        if let Some(c) = r.secondary_color.as_deref().and_then(|c| Colour::parse(c).ok()) {
            theme.secondary = c;
        }
        Ok(TenantEntry {
            id: r.id.parse().map_err(|_| corrupt("tenants.id"))?,
            slug: r.slug,
            name: r.name,
            status: TenantStatus::parse(&r.status).ok_or_else(|| corrupt("tenants.status"))?,
            is_house: r.is_house != 0,
            currency: Currency::parse(&r.currency).map_err(|_| corrupt("tenants.currency"))?,
            db_url: r.db_url,
            db_server: r.db_server,
            db_epoch: r.db_epoch,
            brand: Brand {
                theme,
                version: r.version.unwrap_or(0),
                logo_sha: r.logo_sha,
                favicon_sha: r.favicon_sha,
                has_custom_css: r.custom_css.is_some_and(|c| !c.is_empty()),
                support_email: r.support_email.unwrap_or_default(),
            },
        })
    }
}

/// Bumps the registry version inside the caller's transaction, so the change and the signal to reload
/// commit together.
pub async fn bump_version(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<()> {
    sqlx::query("UPDATE registry_version SET version = version + 1 WHERE id = 1").execute(&mut **tx).await?;
    Ok(())
}

/// The house tenant's row, created on first start with its database next to the central one.
pub async fn ensure_house(central: &CentralDb, central_url: &str) -> Result<String> {
    let db_url = tenant_db_url(central_url, HOUSE_SLUG)?;
    let t = now().as_millis();
    let id = TenantId::new_random();
    let mut tx = central.begin().await?;
    sqlx::query(
        "INSERT INTO tenants (id, slug, name, status, is_house, currency, db_url, created_at, updated_at) \
         VALUES ($1, $2, $3, 'active', 1, 'USD', $4, $5, $5) ON CONFLICT (slug) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(HOUSE_SLUG)
    .bind("EZSCALE")
    .bind(&db_url)
    .bind(t)
    .execute(&mut *tx)
    .await?;
    let id: String =
        sqlx::query_scalar("SELECT id FROM tenants WHERE slug = $1").bind(HOUSE_SLUG).fetch_one(&mut *tx).await?;
    let theme = Theme::default_for("EZSCALE");
    sqlx::query(
        "INSERT INTO tenant_branding (tenant_id, company_name, primary_color, secondary_color, support_email, \
         from_name, version, updated_at) VALUES ($1, $2, $3, $4, $5, $2, 1, $6) ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind(&id)
    .bind(&theme.company_name)
    .bind(theme.primary.to_hex())
    .bind(theme.secondary.to_hex())
    .bind("support@ezscale.cloud")
    .bind(t)
    .execute(&mut *tx)
    .await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    let url: String = sqlx::query_scalar("SELECT db_url FROM tenants WHERE slug = $1")
        .bind(HOUSE_SLUG)
        .fetch_one(central.pool())
        .await?;
    Ok(url)
}

/// A tenant as the admin app lists it.
#[derive(Clone, Debug)]
pub struct TenantRecord {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    pub is_house: bool,
    pub currency: Currency,
    pub owner_email: String,
    pub creation_step: CreationStep,
    pub last_error: Option<String>,
    pub trial_ends_at: Option<i64>,
    pub created_at: i64,
    pub db_url: String,
    pub terms: BillingTerms,
}

const RECORD_COLUMNS: &str = "id, slug, name, status, is_house, currency, owner_email, creation_step, last_error, \
     trial_ends_at, created_at, db_url, reseller_tier, wholesale_discount_bp, platform_fee_minor, commission_bp, \
     billing_cycle_day";

pub async fn list_records(central: &CentralDb) -> Result<Vec<TenantRecord>> {
    let rows = sqlx::query_as::<_, RecordRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM tenants ORDER BY is_house DESC, slug"
    )))
    .fetch_all(central.pool())
    .await?;
    rows.into_iter().map(TenantRecord::try_from).collect()
}

pub async fn record_by_slug(central: &CentralDb, slug: &str) -> Result<Option<TenantRecord>> {
    let row = sqlx::query_as::<_, RecordRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {RECORD_COLUMNS} FROM tenants WHERE slug = $1"
    )))
    .bind(slug)
    .fetch_optional(central.pool())
    .await?;
    row.map(TenantRecord::try_from).transpose()
}

/// A `tenants` row as stored ([`RECORD_COLUMNS`]).
#[derive(sqlx::FromRow)]
struct RecordRow {
    id: String,
    slug: String,
    name: String,
    status: String,
    is_house: i64,
    currency: String,
    owner_email: String,
    creation_step: String,
    last_error: Option<String>,
    trial_ends_at: Option<i64>,
    created_at: i64,
    db_url: String,
    reseller_tier: String,
    wholesale_discount_bp: i64,
    platform_fee_minor: i64,
    commission_bp: i64,
    billing_cycle_day: i64,
}

impl TryFrom<RecordRow> for TenantRecord {
    type Error = crate::backend::BackendError;

    fn try_from(r: RecordRow) -> Result<TenantRecord> {
        let to_u32 = |v: i64| u32::try_from(v).map_err(|_| corrupt("tenants terms"));
        Ok(TenantRecord {
            id: r.id.parse().map_err(|_| corrupt("tenants.id"))?,
            slug: r.slug,
            name: r.name,
            status: TenantStatus::parse(&r.status).ok_or_else(|| corrupt("tenants.status"))?,
            is_house: r.is_house != 0,
            currency: Currency::parse(&r.currency).map_err(|_| corrupt("tenants.currency"))?,
            owner_email: r.owner_email,
            creation_step: r.creation_step.parse().map_err(corrupt)?,
            last_error: r.last_error,
            trial_ends_at: r.trial_ends_at,
            created_at: r.created_at,
            db_url: r.db_url,
            terms: BillingTerms {
                tier: TierName::parse(&r.reseller_tier).map_err(|_| corrupt("tenants.reseller_tier"))?,
                wholesale_discount_bp: to_u32(r.wholesale_discount_bp)?,
                platform_fee_minor: r.platform_fee_minor,
                commission_bp: to_u32(r.commission_bp)?,
                billing_cycle_day: u8::try_from(r.billing_cycle_day)
                    .map_err(|_| corrupt("tenants.billing_cycle_day"))?,
            },
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn entry(slug: &str, status: TenantStatus, house: bool) -> Arc<TenantEntry> {
        Arc::new(TenantEntry {
            id: TenantId::new_random(),
            slug: slug.into(),
            name: slug.into(),
            status,
            is_house: house,
            currency: Currency::USD,
            db_url: String::new(),
            db_server: None,
            db_epoch: 0,
            brand: Brand {
                theme: Theme::default_for(slug),
                version: 1,
                logo_sha: None,
                favicon_sha: None,
                has_custom_css: false,
                support_email: String::new(),
            },
        })
    }

    fn map() -> (DomainMap, SiteConfig) {
        let mut m = DomainMap::default();
        for e in [
            entry("house", TenantStatus::Active, true),
            entry("acme", TenantStatus::Active, false),
            entry("sleepy", TenantStatus::Suspended, false),
            entry("halfway", TenantStatus::Creating, false),
        ] {
            if e.is_house {
                m.house = Some(e.id);
            }
            if e.slug == "acme" {
                m.by_domain.insert("shop.acme.test".into(), e.id);
            }
            if e.slug == "sleepy" {
                // Rows that validation refuses, as if slipped into the database: they must not route.
                for name in ["acme.ezscale.test", "ezscale.test", "admin.ezscale.test", "deep.acme.ezscale.test"] {
                    m.by_domain.insert(name.into(), e.id);
                }
            }
            m.by_slug.insert(e.slug.clone(), e.id);
            m.by_id.insert(e.id, e);
        }
        let sites = SiteConfig {
            platform_domain: HostName::parse("ezscale.test").unwrap(),
            admin_hosts: vec![HostName::parse("admin.ezscale.test").unwrap()],
            loopback_is_house: false,
        };
        (m, sites)
    }

    fn site(host: &str) -> String {
        let (m, s) = map();
        match resolve_in(&m, &s, &HostName::parse(host).unwrap()) {
            Site::Tenant(t) => format!("tenant:{}", t.slug),
            Site::Suspended(t) => format!("suspended:{}", t.slug),
            Site::Admin => "admin".into(),
            Site::Unknown => "unknown".into(),
        }
    }

    #[test]
    fn hosts_resolve_to_exactly_one_site() {
        assert_eq!(site("admin.ezscale.test"), "admin");
        assert_eq!(site("ezscale.test"), "tenant:house");
        assert_eq!(site("acme.ezscale.test"), "tenant:acme");
        assert_eq!(site("ACME.ezscale.test."), "tenant:acme");
        assert_eq!(site("acme.ezscale.test:8443"), "tenant:acme");
        assert_eq!(site("shop.acme.test"), "tenant:acme");
        assert_eq!(site("sleepy.ezscale.test"), "suspended:sleepy");
        assert_eq!(site("halfway.ezscale.test"), "unknown");
        assert_eq!(site("nobody.ezscale.test"), "unknown");
        assert_eq!(site("a.acme.ezscale.test"), "unknown");
        assert_eq!(site("evil.test"), "unknown");
        assert_eq!(site("127.0.0.1"), "unknown", "loopback maps to the house in development only");
        assert_eq!(site("deep.acme.ezscale.test"), "unknown", "no custom domain under the platform domain");
    }
}
