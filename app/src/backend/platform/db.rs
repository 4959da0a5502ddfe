//! Database handles. One code path serves SQLite (embedded default) and PostgreSQL (production) through
//! sqlx's `Any` driver: queries use `$n` placeholders, which both engines accept, and only portable types
//! (TEXT, 64-bit integers). Two handle types keep central and tenant queries apart at compile time.

use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::AnyPool;

use crate::domain::time::Timestamp;

static CENTRAL_SQLITE: Migrator = sqlx::migrate!("../migrations/central/sqlite");
static CENTRAL_POSTGRES: Migrator = sqlx::migrate!("../migrations/central/postgres");
static TENANT_SQLITE: Migrator = sqlx::migrate!("../migrations/tenant/sqlite");
static TENANT_POSTGRES: Migrator = sqlx::migrate!("../migrations/tenant/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn of_url(url: &str) -> Result<Engine, DbError> {
        if url.starts_with("sqlite:") {
            Ok(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Engine::Postgres)
        } else {
            Err(DbError::Config("DATABASE_URL must start with sqlite: or postgres://".into()))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Where a database is: the PostgreSQL server itself (`direct`), and optionally a PgBouncer in transaction
/// pooling mode in front of it (`pooler`, the same database through PgBouncer).
///
/// Through a transaction-mode pooler consecutive statements may reach different server connections, so
/// nothing that lives in a session works there: migrations (an advisory lock held across statements),
/// `LISTEN`, `CREATE`/`DROP DATABASE`. Those always use `direct`; queries use `pooler` when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbAddress {
    pub direct: String,
    pub pooler: Option<String>,
}

impl DbAddress {
    /// A database reached only directly (SQLite, or PostgreSQL without PgBouncer).
    pub fn direct(url: &str) -> DbAddress {
        DbAddress { direct: url.to_owned(), pooler: None }
    }
}

/// The URL of database `db` on the server at `server_url` (its own database part replaced, options kept).
pub fn with_database(server_url: &str, db: &str) -> String {
    let (base, query) = server_url.split_once('?').map_or((server_url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host = base[scheme_end..].split('/').next().unwrap_or_default();
    let prefix = &base[..scheme_end + host.len()];
    match query {
        Some(q) => format!("{prefix}/{db}?{q}"),
        None => format!("{prefix}/{db}"),
    }
}

/// The database part of a PostgreSQL URL.
pub fn database_of(url: &str) -> Result<String, DbError> {
    use sqlx::postgres::PgConnectOptions;
    Ok(PgConnectOptions::from_str(url)?.get_database().unwrap_or("postgres").to_owned())
}

/// A pool plus the engine behind it: what queries run on (`&DbPool` is an executor, like `&AnyPool`).
///
/// Through a transaction-mode PgBouncer (`pinned`), a statement outside a transaction is not safe as sqlx
/// sends it: it is parsed in one round trip and executed in a second, and PgBouncer may hand the second to
/// another server connection, where the unnamed statement is missing or, worse, is another client's. So
/// there each statement runs in a transaction of its own (which keeps one server connection from `BEGIN` to
/// `COMMIT`) and unnamed. The statement cache is off, so statements sqlx names inside explicit transactions
/// are never reused after them; PgBouncer's `server_reset_query = DEALLOCATE ALL` with
/// `server_reset_query_always = 1` removes them when the server connection goes back (see README).
#[derive(Clone, Debug)]
pub struct DbPool {
    pool: AnyPool,
    engine: Engine,
    pinned: bool,
    /// The URL for work that needs a session of its own (migrations), when queries go through a pooler.
    direct: Option<String>,
    /// The pooler's URL as configured, when queries go through one.
    pooler: Option<String>,
}

type Pool = DbPool;

impl Pool {
    pub fn engine(&self) -> Engine {
        self.engine
    }

    async fn open(url: &str, max_connections: u32) -> Result<Pool, DbError> {
        Pool::open_with(&DbAddress::direct(url), max_connections, true, Duration::from_secs(5)).await
    }

    /// `create`: make the database if it does not exist. A tenant's pool is opened lazily with `false`, so
    /// a deleted tenant's database is never silently re-created by a late request.
    async fn open_with(
        address: &DbAddress,
        max_connections: u32,
        create: bool,
        acquire: Duration,
    ) -> Result<Pool, DbError> {
        sqlx::any::install_default_drivers();
        let url = address.direct.as_str();
        let engine = Engine::of_url(url)?;
        if create {
            if engine == Engine::Sqlite {
                ensure_sqlite_dir(url)?;
            } else {
                ensure_postgres_database(url).await?;
            }
        } else if engine == Engine::Sqlite && !sqlite_path(url).is_some_and(|p| std::path::Path::new(p).exists()) {
            return Err(DbError::Config("the tenant database does not exist".into()));
        }
        let pooler = match (&address.pooler, engine) {
            (Some(p), Engine::Postgres) => Some(without_statement_cache(p)),
            (Some(_), Engine::Sqlite) => {
                return Err(DbError::Config("a connection pooler is for PostgreSQL databases only".into()))
            }
            (None, _) => None,
        };
        let serving = pooler.as_deref().unwrap_or(url);
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            // Fail fast under pressure instead of queueing requests for half a minute.
            .acquire_timeout(acquire)
            // Thousands of tenants share one PostgreSQL server: an idle tenant gives its connections back.
            .idle_timeout(Some(Duration::from_secs(60)))
            .min_connections(0)
            // sqlx checks every connection it hands out with a round trip of its own (for SQLite, a message
            // to the connection's thread and back), which doubled the round trips of a page. Only a
            // connection that sat idle long enough to have been closed under us (a restarted server, a
            // pooler's or firewall's idle limit) is checked; one in steady use fails its query at worst, as
            // a connection cut just after its check would. A SQLite file cannot hang up.
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                Box::pin(async move {
                    if engine == Engine::Postgres && meta.idle_for >= CHECK_AFTER_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        // WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
                        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                        sqlx::query("PRAGMA synchronous = NORMAL").execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            })
            .connect(serving)
            .await?;
        let pinned = pooler.is_some();
        Ok(Pool { pool, engine, pinned, direct: pinned.then(|| url.to_owned()), pooler: address.pooler.clone() })
    }

    /// Brings the schema up to date with `migrator`, on a direct connection when queries go through a
    /// pooler (the migrator holds an advisory lock across its statements).
    async fn migrate(&self, migrator: &Migrator) -> Result<(), DbError> {
        match &self.direct {
            None => migrator.run(&self.pool).await?,
            Some(url) => {
                let direct = AnyPoolOptions::new().max_connections(1).connect(url).await?;
                let ran = migrator.run(&direct).await;
                direct.close().await;
                ran?;
            }
        }
        Ok(())
    }

    /// Whether statements go through a transaction-mode pooler (and run one transaction each).
    pub fn through_pooler(&self) -> bool {
        self.pinned
    }
}

/// How long a pooled connection may sit idle before it is checked with a round trip when it is next taken.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(1);

/// The URL with sqlx's statement cache turned off: through a transaction-mode pooler a statement prepared
/// on one server connection cannot be reused on the next.
fn without_statement_cache(url: &str) -> String {
    if url.contains("statement-cache-capacity=") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}statement-cache-capacity=0")
}

/// A statement sent unnamed, whatever the query asked for (see [`DbPool`]).
struct Unnamed<E>(E);

impl<'q, E: sqlx::Execute<'q, sqlx::Any>> sqlx::Execute<'q, sqlx::Any> for Unnamed<E> {
    fn sql(self) -> sqlx::SqlStr {
        self.0.sql()
    }

    fn statement(&self) -> Option<&<sqlx::Any as sqlx::Database>::Statement> {
        self.0.statement()
    }

    fn take_arguments(&mut self) -> Result<Option<<sqlx::Any as sqlx::Database>::Arguments>, sqlx::error::BoxDynError> {
        self.0.take_arguments()
    }

    fn persistent(&self) -> bool {
        false
    }
}

impl<'p> sqlx::Executor<'p> for &'_ DbPool {
    type Database = sqlx::Any;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures::stream::BoxStream<'e, Result<sqlx::Either<sqlx::any::AnyQueryResult, sqlx::any::AnyRow>, sqlx::Error>>
    where
        E: 'q + sqlx::Execute<'q, sqlx::Any>,
    {
        use futures::{StreamExt, TryStreamExt};
        if !self.pinned {
            return (&self.pool).fetch_many(query);
        }
        let (pool, engine) = (self.pool.clone(), self.engine);
        // The results are collected before COMMIT: the transaction must end whether or not the caller reads
        // the stream to its end.
        futures::stream::once(async move {
            let mut tx = begin(&pool, engine).await?;
            let steps: Vec<_> = (&mut *tx).fetch_many(Unnamed(query)).try_collect().await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>(futures::stream::iter(steps.into_iter().map(Ok)))
        })
        .try_flatten()
        .boxed()
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> futures::future::BoxFuture<'e, Result<Option<sqlx::any::AnyRow>, sqlx::Error>>
    where
        E: 'q + sqlx::Execute<'q, sqlx::Any>,
    {
        use futures::FutureExt;
        if !self.pinned {
            return (&self.pool).fetch_optional(query);
        }
        let (pool, engine) = (self.pool.clone(), self.engine);
        async move {
            let mut tx = begin(&pool, engine).await?;
            let row = (&mut *tx).fetch_optional(Unnamed(query)).await?;
            tx.commit().await?;
            Ok(row)
        }
        .boxed()
    }

    fn prepare_with<'e>(
        self,
        sql: sqlx::SqlStr,
        parameters: &'e [<sqlx::Any as sqlx::Database>::TypeInfo],
    ) -> futures::future::BoxFuture<'e, Result<<sqlx::Any as sqlx::Database>::Statement, sqlx::Error>>
    where
        'p: 'e,
    {
        (&self.pool).prepare_with(sql, parameters)
    }

    fn describe<'e>(
        self,
        sql: sqlx::SqlStr,
    ) -> futures::future::BoxFuture<'e, Result<sqlx::Describe<sqlx::Any>, sqlx::Error>> {
        (&self.pool).describe(sql)
    }
}

fn sqlite_path(url: &str) -> Option<&str> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:").split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// Makes `sqlite://data/x.db` work on a fresh checkout: the directory and the file are created.
fn ensure_sqlite_dir(url: &str) -> Result<(), DbError> {
    let Some(path) = sqlite_path(url) else { return Ok(()) };
    let p = std::path::Path::new(path);
    if let Some(dir) = p.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)
                .map_err(|e| DbError::Config(format!("cannot create {}: {e}", dir.display())))?;
        }
    }
    if !p.exists() {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| DbError::Config(format!("cannot create {}: {e}", p.display())))?;
    }
    Ok(())
}

/// PostgreSQL: creates the target database if it does not exist yet (connecting to `postgres` to do so).
async fn ensure_postgres_database(url: &str) -> Result<(), DbError> {
    use sqlx::postgres::PgConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    let opts = PgConnectOptions::from_str(url)?;
    let name = opts.get_database().unwrap_or("postgres").to_owned();
    if !is_safe_identifier(&name) {
        return Err(DbError::Config(format!("unsupported database name {name:?}")));
    }
    let mut admin = opts.clone().database("postgres").connect().await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut admin)
        .await?;
    if exists.is_none() {
        // Identifiers cannot be bound as parameters; the name was checked to be [a-z0-9_] above.
        let sql = sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""));
        if let Err(e) = sqlx::query(sql).execute(&mut admin).await {
            // Two processes racing to create it is fine (42P04 duplicate_database, or the catalog's unique
            // index); anything else is not.
            let raced =
                is_unique_violation(&e) || e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "42P04");
            if !raced {
                return Err(e.into());
            }
        }
    }
    admin.close().await?;
    Ok(())
}

/// The statement broke a unique index or primary key: PostgreSQL's 23505, SQLite's 2067 (UNIQUE) and 1555
/// (PRIMARY KEY), as sqlx classifies them through the `Any` driver. Where an existing row means the work is
/// already done (an invoice already issued, an address already taken, a race already lost), this is that
/// answer rather than a failure. The one place it is recognised.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

pub fn is_safe_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Starts a transaction on `pool`, safely even if the caller is cancelled (a dropped request, an aborted
/// task, a timeout). sqlx 0.9.0's PostgreSQL `begin` raises its transaction depth only after `BEGIN`'s
/// answer, so a future dropped in between returns the connection to the pool inside a transaction nothing
/// will end: the next borrowers' writes then silently never commit (transact-rs/sqlx#4393, fixed upstream
/// after 0.9.0). Beginning in a task of its own means `begin` always completes; if nobody is waiting any
/// more, the finished transaction is dropped there and rolled back properly.
///
/// On SQLite the transaction takes the write lock at `BEGIN IMMEDIATE`, where the busy timeout waits for
/// it. A deferred transaction that reads and then writes cannot wait: when another writer got in between,
/// its upgrade fails at once with "database is locked" (concurrent tenant creations did). Transactions
/// here exist to write, and SQLite has one writer at a time anyway.
pub async fn begin(pool: &AnyPool, engine: Engine) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    let pool = pool.clone();
    tokio::spawn(async move {
        match engine {
            Engine::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => pool.begin().await,
        }
    })
    .await
    .map_err(|e| sqlx::Error::Io(std::io::Error::other(e)))?
}

/// The central database: tenants and the job queue.
#[derive(Clone, Debug)]
pub struct CentralDb(Pool, Arc<tokio::sync::Mutex<()>>);

/// One tenant's database: its customers, catalog, workspaces and usage.
///
/// Clones share one pool, which closes itself once the last clone is gone: the registry can forget a
/// pool (LRU eviction) while requests still use it, and they finish undisturbed. Closing it at eviction
/// instead would fail their next query ("pool closed") and make `close()` wait on them.
#[derive(Clone, Debug)]
pub struct TenantDb(Arc<OwnedPool>);

/// A handle that does not keep the pool open (see [`TenantDb::downgrade`]).
#[derive(Clone, Debug)]
pub struct WeakTenantDb(Weak<OwnedPool>);

impl WeakTenantDb {
    /// The pool, if some clone of it is still in use.
    pub fn upgrade(&self) -> Option<TenantDb> {
        self.0.upgrade().map(TenantDb)
    }
}

#[derive(Debug)]
struct OwnedPool(Pool);

impl Drop for OwnedPool {
    fn drop(&mut self) {
        if self.0.pool.is_closed() {
            return;
        }
        // Nobody can borrow from it any more; close it properly (a polite goodbye to the server) in the
        // background. Outside a runtime, dropping the pool closes its idle connections anyway.
        let pool = self.0.pool.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { pool.close().await });
        }
    }
}

impl CentralDb {
    pub async fn open(url: &str) -> Result<CentralDb, DbError> {
        CentralDb::open_at(&DbAddress::direct(url)).await
    }

    /// The central database, its queries through `address.pooler` when there is one.
    pub async fn open_at(address: &DbAddress) -> Result<CentralDb, DbError> {
        let pool = Pool::open_with(address, 8, true, Duration::from_secs(5)).await?;
        match pool.engine {
            Engine::Sqlite => pool.migrate(&CENTRAL_SQLITE).await?,
            Engine::Postgres => pool.migrate(&CENTRAL_POSTGRES).await?,
        }
        Ok(CentralDb(pool, Arc::default()))
    }

    pub fn pool(&self) -> &DbPool {
        &self.0
    }

    /// The PgBouncer the central database's queries go through, if any: the one in front of the `primary`
    /// database server, which tenant databases on that server use too.
    pub fn pooler_url(&self) -> Option<&str> {
        self.0.pooler.as_deref()
    }

    /// A transaction (cancel-safe: see [`begin`]).
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        begin(&self.0.pool, self.0.engine).await
    }

    pub fn engine(&self) -> Engine {
        self.0.engine
    }

    /// This process's turn to write, for writes that many tasks make at once (the invoice emails of a
    /// billing run over several tenants). SQLite has one writer at a time, and a writer that finds the lock
    /// taken sleeps in its busy handler for 1, 2, 5, 10 … ms, long after the lock is free again; writers
    /// queued here instead start the moment the one before them is done. Other processes (a `server`
    /// command beside the server) still meet at SQLite's own lock. PostgreSQL locks rows, not the
    /// database: there the turn is free (`None`).
    pub async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.0.engine {
            Engine::Sqlite => Some(self.1.lock().await),
            Engine::Postgres => None,
        }
    }

    pub async fn close(&self) {
        self.0.pool.close().await;
    }
}

impl TenantDb {
    pub async fn open(url: &str) -> Result<TenantDb, DbError> {
        let db = TenantDb::new(Pool::open(url, 8).await?);
        db.migrate().await?;
        Ok(db)
    }

    /// Creates the database if it does not exist yet (and only that).
    pub async fn create(url: &str) -> Result<(), DbError> {
        let db = TenantDb::new(Pool::open_with(&DbAddress::direct(url), 1, true, Duration::from_secs(5)).await?);
        db.close().await;
        Ok(())
    }

    /// Creates the database if needed and brings its schema up to date (tenant creation, `tenants migrate`).
    pub async fn create_and_migrate(url: &str) -> Result<TenantDb, DbError> {
        let db = TenantDb::new(Pool::open_with(&DbAddress::direct(url), 2, true, Duration::from_secs(5)).await?);
        db.migrate().await?;
        Ok(db)
    }

    /// Opens an existing tenant database with a small pool that fails fast: with thousands of tenants, one
    /// slow database must not hold requests for the others.
    pub async fn connect(url: &str) -> Result<TenantDb, DbError> {
        TenantDb::connect_at(&DbAddress::direct(url)).await
    }

    /// [`TenantDb::connect`], its queries through `address.pooler` when there is one.
    pub async fn connect_at(address: &DbAddress) -> Result<TenantDb, DbError> {
        Ok(TenantDb::new(Pool::open_with(address, 4, false, Duration::from_secs(2)).await?))
    }

    /// [`TenantDb::connect_at`] with one connection, for a job that runs one statement at a time. Nothing
    /// it runs may hold a connection (a transaction) while it asks for another.
    pub async fn connect_single_at(address: &DbAddress) -> Result<TenantDb, DbError> {
        Ok(TenantDb::new(Pool::open_with(address, 1, false, Duration::from_secs(2)).await?))
    }

    fn new(pool: Pool) -> TenantDb {
        TenantDb(Arc::new(OwnedPool(pool)))
    }

    fn inner(&self) -> &Pool {
        &self.0 .0
    }

    /// A handle that lets the pool close when every strong handle is gone.
    pub fn downgrade(&self) -> WeakTenantDb {
        WeakTenantDb(Arc::downgrade(&self.0))
    }

    /// Whether both handles share one pool.
    pub fn same_pool(&self, other: &TenantDb) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub async fn migrate(&self) -> Result<(), DbError> {
        let p = self.inner();
        match p.engine {
            Engine::Sqlite => p.migrate(&TENANT_SQLITE).await,
            Engine::Postgres => p.migrate(&TENANT_POSTGRES).await,
        }
    }

    pub fn pool(&self) -> &DbPool {
        self.inner()
    }

    /// A transaction (cancel-safe: see [`begin`]).
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        begin(&self.inner().pool, self.inner().engine).await
    }

    /// Closes the pool now, for every clone, waiting for borrowed connections to come back. Only for a
    /// pool nobody else uses (creation steps, deletion, shutdown).
    pub async fn close(&self) {
        self.inner().pool.close().await;
    }
}

/// The statement was refused because its database takes no writes right now (PostgreSQL's 25006
/// `read_only_sql_transaction`): a tenant whose database is being moved to another server.
pub fn is_read_only(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "25006")
}

/// Removes a tenant's database for good (tenant deletion). Missing already is fine: deletion is retried.
pub async fn drop_tenant_database(url: &str) -> Result<(), DbError> {
    match Engine::of_url(url)? {
        Engine::Sqlite => {
            if let Some(path) = sqlite_path(url) {
                for suffix in ["", "-wal", "-shm"] {
                    let p = format!("{path}{suffix}");
                    match std::fs::remove_file(&p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => return Err(DbError::Config(format!("cannot remove {p}: {e}"))),
                    }
                }
            }
            Ok(())
        }
        Engine::Postgres => {
            use sqlx::postgres::PgConnectOptions;
            use sqlx::{ConnectOptions, Connection};
            let opts = PgConnectOptions::from_str(url)?;
            let name = opts.get_database().unwrap_or_default().to_owned();
            if !is_safe_identifier(&name) || name == "postgres" {
                return Err(DbError::Config(format!("refusing to drop database {name:?}")));
            }
            let mut admin = opts.database("postgres").connect().await?;
            // Identifier checked above; FORCE ends the connections other servers may still hold.
            let sql = sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            sqlx::query(sql).execute(&mut admin).await?;
            admin.close().await?;
            Ok(())
        }
    }
}

/// `head` followed by `rows` rows of `cols` placeholders each: anonymous `?` for SQLite (it looks a
/// numbered `$n` up by name, in a list it searches from the start, both when it parses the statement and
/// when each value is bound, so a statement of a thousand numbered parameters costs about a million
/// comparisons: 7% of a billing run's time once), `$n` for PostgreSQL, which takes nothing else. Only
/// placeholders go into the text; every value is bound. (`QueryBuilder<Any>` writes `?` placeholders,
/// which PostgreSQL refuses.)
pub fn values_sql(head: &str, engine: Engine, rows: usize, cols: usize) -> String {
    use std::fmt::Write;
    let mut sql = String::from(head);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..cols {
            let sep = if c == 0 { "" } else { ", " };
            match engine {
                Engine::Sqlite => {
                    let _ = write!(sql, "{sep}?");
                }
                Engine::Postgres => {
                    let _ = write!(sql, "{sep}${}", r * cols + c + 1);
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// The database URL for a tenant's own database, derived from the central URL: a sibling file
/// `tenants/<slug>.db` for SQLite, a database `<central>_t_<slug>` on the same server for PostgreSQL.
pub fn tenant_db_url(central_url: &str, slug: &str) -> Result<String, DbError> {
    if !is_safe_identifier(&slug.replace('-', "_")) {
        return Err(DbError::Config(format!("unsupported tenant slug {slug:?}")));
    }
    match Engine::of_url(central_url)? {
        Engine::Sqlite => {
            let rest = central_url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
            let (path, query) = rest.split_once('?').map_or((rest, None), |(p, q)| (p, Some(q)));
            let dir = std::path::Path::new(path).parent().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
            let dir = if dir.is_empty() { ".".to_owned() } else { dir };
            let mut url = format!("sqlite://{dir}/tenants/{slug}.db");
            if let Some(q) = query {
                url.push('?');
                url.push_str(q);
            }
            Ok(url)
        }
        Engine::Postgres => {
            use sqlx::postgres::PgConnectOptions;
            let opts = PgConnectOptions::from_str(central_url)?;
            let central = opts.get_database().unwrap_or("postgres");
            let db = format!("{central}_t_{}", slug.replace('-', "_"));
            let (base, query) = central_url.split_once('?').map_or((central_url, None), |(b, q)| (b, Some(q)));
            let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
            Ok(match query {
                Some(q) => format!("{prefix}/{db}?{q}"),
                None => format!("{prefix}/{db}"),
            })
        }
    }
}

/// How far the test clock has been moved forward (see [`advance_clock`]); 0 outside end-to-end tests.
static CLOCK_OFFSET_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// The wall clock, in the unit every table uses.
pub fn now() -> Timestamp {
    let offset = CLOCK_OFFSET_MS.load(std::sync::atomic::Ordering::Relaxed);
    Timestamp::from_millis(chrono::Utc::now().timestamp_millis().saturating_add(offset))
}

/// Moves this process's clock forward by `ms` (never back). End-to-end tests use it to reach the end of
/// a billing period; it is reachable only with `TEST_CLOCK=true`, which production configuration refuses.
pub fn advance_clock(ms: i64) {
    CLOCK_OFFSET_MS.fetch_add(ms.max(0), std::sync::atomic::Ordering::Relaxed);
}

/// Takes (or renews) the cluster-wide lease `name` for `owner` until `ttl_ms` from now, unless another
/// owner holds it unexpired: whoever gets `true` runs a periodic pass, so with several servers each pass
/// runs once.
pub async fn take_lease(central: &CentralDb, name: &str, owner: &str, ttl_ms: i64) -> Result<bool, sqlx::Error> {
    let t = now().as_millis();
    let n = sqlx::query(
        "INSERT INTO scheduler_leases (name, owner, lease_until) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until \
         WHERE scheduler_leases.lease_until < $4 OR scheduler_leases.owner = excluded.owner",
    )
    .bind(name)
    .bind(owner)
    .bind(t + ttl_ms)
    .bind(t)
    .execute(central.pool())
    .await?
    .rows_affected();
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_inserts_number_their_placeholders_as_each_engine_reads_them() {
        assert_eq!(
            values_sql("INSERT INTO t (a, b) VALUES ", Engine::Sqlite, 2, 2),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
        assert_eq!(
            values_sql("INSERT INTO t (a, b, c) VALUES ", Engine::Postgres, 2, 3),
            "INSERT INTO t (a, b, c) VALUES ($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(values_sql("X ", Engine::Postgres, 1, 1), "X ($1)");
    }

    #[test]
    fn tenant_urls_sit_next_to_the_central_database() {
        assert_eq!(
            tenant_db_url("sqlite://data/ezscale.db?mode=rwc", "house").ok(),
            Some("sqlite://data/tenants/house.db?mode=rwc".into())
        );
        assert_eq!(
            tenant_db_url("postgres://postgres@127.0.0.1:5432/ezscale", "house").ok(),
            Some("postgres://postgres@127.0.0.1:5432/ezscale_t_house".into())
        );
        assert!(tenant_db_url("postgres://h/db", "a\"b").is_err());
    }

    #[test]
    fn a_pooler_url_names_the_same_database_and_turns_the_statement_cache_off() {
        assert_eq!(
            with_database("postgres://app@pgb:6432/postgres?sslmode=require", "ezs_t_acme"),
            "postgres://app@pgb:6432/ezs_t_acme?sslmode=require"
        );
        assert_eq!(with_database("postgres://pgb:6432", "ezs"), "postgres://pgb:6432/ezs");
        assert_eq!(
            database_of("postgres://app@pgb:6432/ezs_t_acme?sslmode=require").ok().as_deref(),
            Some("ezs_t_acme")
        );
        assert_eq!(without_statement_cache("postgres://pgb/ezs"), "postgres://pgb/ezs?statement-cache-capacity=0");
        assert_eq!(
            without_statement_cache("postgres://pgb/ezs?sslmode=require"),
            "postgres://pgb/ezs?sslmode=require&statement-cache-capacity=0"
        );
    }

    #[tokio::test]
    async fn a_pooler_is_refused_for_sqlite() {
        let address = DbAddress { direct: "sqlite::memory:".into(), pooler: Some("postgres://pgb/x".into()) };
        let opened = Pool::open_with(&address, 1, true, Duration::from_secs(1)).await;
        assert!(matches!(opened, Err(DbError::Config(m)) if m.contains("PostgreSQL")));
    }

    #[tokio::test]
    async fn unique_and_primary_key_violations_are_recognised_and_nothing_else() {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new().max_connections(1).connect("sqlite::memory:").await;
        let Ok(pool) = pool else { panic!("in-memory SQLite: {pool:?}") };
        let run = |sql: &'static str| sqlx::query(sql).execute(&pool);
        assert!(run("CREATE TABLE t (id TEXT PRIMARY KEY, email TEXT UNIQUE, n INTEGER NOT NULL)").await.is_ok());
        assert!(run("INSERT INTO t VALUES ('a', 'a@x', 1)").await.is_ok());
        let error = |r: Result<_, sqlx::Error>| r.err().unwrap_or(sqlx::Error::RowNotFound);
        assert!(is_unique_violation(&error(run("INSERT INTO t VALUES ('a', 'b@x', 1)").await)), "primary key");
        assert!(is_unique_violation(&error(run("INSERT INTO t VALUES ('b', 'a@x', 1)").await)), "unique");
        assert!(!is_unique_violation(&error(run("INSERT INTO t VALUES ('c', 'c@x', NULL)").await)), "not null");
        assert!(!is_unique_violation(&sqlx::Error::RowNotFound));
    }
}
