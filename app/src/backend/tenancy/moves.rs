//! Moving a tenant's database to another PostgreSQL server (`server tenants move <slug> --to <server>`),
//! with a short write pause for that tenant only. Its customers and staff keep reading throughout; a change
//! they make during the pause is refused with a clear "paused for a minute" message, and nothing is lost.
//!
//! 1. **Pause** (`paused`): the source database is set to read-only for new sessions
//!    (`default_transaction_read_only`), and the tenant's database epoch is bumped, so every app server
//!    opens fresh (read-only) connections for it within a second. Sessions opened before the pause are
//!    waited for, then ended: after that no connection anywhere can write to the source.
//! 2. **Copy** (`copied`): the target database is made afresh and filled with `pg_dump | pg_restore` (one
//!    transaction); every table's row count is compared between the two, and a difference stops the move.
//! 3. **Switch** (`switched`): one central transaction points the tenant at the copy and bumps its epoch:
//!    every app server serves it from the new server, writable, within a second.
//! 4. **Done**: the old database is dropped.
//!
//! Every step is recorded in `tenant_moves` before or as it happens, so a move cut short (a crash, a
//! failure) is resumed by running the command again, or rolled back (`--rollback`) until it has switched:
//! the copy is dropped and the source made writable again.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Connection};

use super::db_servers::{self, DbServer, ServerState, PRIMARY};
use super::registry::bump_version;
use super::TenantError;
use crate::backend::platform::audit::{self, ActorKind};
use crate::backend::platform::db::{drop_tenant_database, is_safe_identifier, now, Engine};
use crate::backend::state::AppState;
use crate::domain::tenant::TenantStatus;

type Result<T, E = TenantError> = std::result::Result<T, E>;

/// How long sessions opened before the pause may take to finish on their own before they are ended.
const DRAIN: Duration = Duration::from_secs(15);
/// How long app servers take to notice a change to a tenant's database (their registries re-read the
/// central version at least once a second while serving).
const NOTICE: Duration = Duration::from_secs(2);

/// Where a move stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveStep {
    Paused,
    Copied,
    Switched,
    Done,
    RolledBack,
}

impl MoveStep {
    pub fn as_str(self) -> &'static str {
        match self {
            MoveStep::Paused => "paused",
            MoveStep::Copied => "copied",
            MoveStep::Switched => "switched",
            MoveStep::Done => "done",
            MoveStep::RolledBack => "rolled_back",
        }
    }

    fn parse(s: &str) -> Option<MoveStep> {
        [MoveStep::Paused, MoveStep::Copied, MoveStep::Switched, MoveStep::Done, MoveStep::RolledBack]
            .into_iter()
            .find(|m| m.as_str() == s)
    }

    /// Still under way: a new move of the tenant must resume or roll this one back first.
    fn under_way(self) -> bool {
        matches!(self, MoveStep::Paused | MoveStep::Copied | MoveStep::Switched)
    }
}

/// A move as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantMove {
    pub slug: String,
    pub from_server: String,
    pub to_server: String,
    pub from_url: String,
    pub to_url: String,
    pub step: MoveStep,
    /// Every table's row count, verified equal on both servers.
    pub counts: Vec<(String, i64)>,
    pub error: Option<String>,
}

/// What a finished move did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveReport {
    pub moved: TenantMove,
    /// From the pause to the switch: how long the tenant's changes were refused (this run's part).
    pub paused_for: Duration,
}

/// A `tenant_moves` row as stored.
#[derive(sqlx::FromRow)]
struct MoveRow {
    from_server: String,
    to_server: String,
    from_url: String,
    to_url: String,
    step: String,
    counts: Option<String>,
    error: Option<String>,
}

/// The tenant's latest move, if any.
pub async fn latest(state: &AppState, slug: &str) -> Result<Option<TenantMove>> {
    let row: Option<MoveRow> = sqlx::query_as(
        "SELECT m.from_server, m.to_server, m.from_url, m.to_url, m.step, m.counts, m.error \
         FROM tenant_moves m JOIN tenants t ON t.id = m.tenant_id WHERE t.slug = $1",
    )
    .bind(slug)
    .fetch_optional(state.central().pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let counts = match r.counts {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| crate::backend::corrupt(format!("tenant_moves.counts: {e}")))?
        }
        None => Vec::new(),
    };
    Ok(Some(TenantMove {
        slug: slug.to_owned(),
        from_server: r.from_server,
        to_server: r.to_server,
        from_url: r.from_url,
        to_url: r.to_url,
        step: MoveStep::parse(&r.step).ok_or_else(|| crate::backend::corrupt("tenant_moves.step"))?,
        counts,
        error: r.error,
    }))
}

/// Moves `slug`'s database to server `to`, or resumes its move there. `progress` hears each step.
pub async fn run(
    state: &AppState,
    central_url: &str,
    slug: &str,
    to: &str,
    mut progress: impl FnMut(MoveStep),
) -> Result<MoveReport> {
    if state.central().engine() != Engine::Postgres {
        return Err(TenantError::Invalid("Moving a tenant's database needs PostgreSQL.".into()));
    }
    let entry = state.registry().entry_by_slug(slug).await?.ok_or(TenantError::NotFound)?;
    if !matches!(entry.status, TenantStatus::Active | TenantStatus::Suspended) {
        return Err(TenantError::Conflict(format!("The tenant is {}.", entry.status.label().to_lowercase())));
    }
    let target = db_servers::get(state.central(), central_url, to).await?;
    let mut m = match latest(state, slug).await? {
        Some(m) if m.step.under_way() => {
            if m.to_server != target.name {
                return Err(TenantError::Conflict(format!(
                    "A move to \"{}\" is under way: run it again to finish it, or roll it back.",
                    m.to_server
                )));
            }
            m
        }
        _ => begin(state, central_url, &entry, &target).await?,
    };
    let started = Instant::now();
    let id = entry.id;
    if m.step == MoveStep::Paused {
        pause(state, id, &m.from_url).await?;
        progress(MoveStep::Paused);
        let copied = copy(&m.from_url, &m.to_url).await;
        match copied {
            Ok(counts) => {
                record(state, id, MoveStep::Copied, Some(&counts), None).await?;
                m.counts = counts;
                m.step = MoveStep::Copied;
                progress(MoveStep::Copied);
                // Tests: a move cut short between the copy and the switch.
                state.failpoints().check("move.before_switch")?;
            }
            Err(e) => {
                // Stays paused: the next run copies again from scratch.
                record(state, id, MoveStep::Paused, None, Some(&e.to_string())).await?;
                return Err(e);
            }
        }
    }
    if m.step == MoveStep::Copied {
        switch(state, id, &m).await?;
        m.step = MoveStep::Switched;
        progress(MoveStep::Switched);
    }
    let paused_for = started.elapsed();
    if m.step == MoveStep::Switched {
        // Servers that still hold a pool of the old database (read-only) move to the new one on their next
        // request; the old database then goes.
        tokio::time::sleep(NOTICE).await;
        drop_tenant_database(&m.from_url).await?;
        record(state, id, MoveStep::Done, None, None).await?;
        m.step = MoveStep::Done;
        let detail = format!("{slug}: {} → {}", m.from_server, m.to_server);
        audit::record(state.central(), None, ActorKind::System, "operator", Some(id), "tenant.moved", &detail).await?;
        progress(MoveStep::Done);
    }
    Ok(MoveReport { moved: m, paused_for })
}

/// Records a new move (paused, before the database is touched: a crash right after still shows it).
async fn begin(
    state: &AppState,
    central_url: &str,
    entry: &super::registry::TenantEntry,
    target: &DbServer,
) -> Result<TenantMove> {
    let from_server: Option<String> = sqlx::query_scalar("SELECT db_server FROM tenants WHERE id = $1")
        .bind(entry.id.to_string())
        .fetch_one(state.central().pool())
        .await?;
    let from_server = from_server.unwrap_or_else(|| PRIMARY.into());
    if from_server == target.name {
        return Err(TenantError::Invalid(format!("{} is already on \"{}\".", entry.slug, target.name)));
    }
    if target.state != ServerState::Active {
        return Err(TenantError::Invalid(format!("\"{}\" is draining: it takes no tenants.", target.name)));
    }
    let to_url = target.tenant_url(central_url, &entry.slug)?;
    let t = now().as_millis();
    sqlx::query(
        "INSERT INTO tenant_moves (tenant_id, from_server, to_server, from_url, to_url, step, counts, error, \
             started_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL, $7, $7) \
         ON CONFLICT (tenant_id) DO UPDATE SET from_server = excluded.from_server, to_server = excluded.to_server, \
             from_url = excluded.from_url, to_url = excluded.to_url, step = excluded.step, counts = NULL, \
             error = NULL, started_at = excluded.started_at, updated_at = excluded.updated_at",
    )
    .bind(entry.id.to_string())
    .bind(&from_server)
    .bind(&target.name)
    .bind(&entry.db_url)
    .bind(&to_url)
    .bind(MoveStep::Paused.as_str())
    .bind(t)
    .execute(state.central().pool())
    .await?;
    Ok(TenantMove {
        slug: entry.slug.clone(),
        from_server,
        to_server: target.name.clone(),
        from_url: entry.db_url.clone(),
        to_url,
        step: MoveStep::Paused,
        counts: Vec::new(),
        error: None,
    })
}

async fn record(
    state: &AppState,
    id: crate::domain::ids::TenantId,
    step: MoveStep,
    counts: Option<&[(String, i64)]>,
    error: Option<&str>,
) -> Result<()> {
    let counts = counts
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| crate::backend::corrupt(format!("move counts: {e}")))?;
    sqlx::query(
        "UPDATE tenant_moves SET step = $1, counts = COALESCE($2, counts), error = $3, updated_at = $4 \
         WHERE tenant_id = $5",
    )
    .bind(step.as_str())
    .bind(counts)
    .bind(error)
    .bind(now().as_millis())
    .bind(id.to_string())
    .execute(state.central().pool())
    .await?;
    Ok(())
}

/// A connection to the `postgres` database of the server holding `url`, and the name of `url`'s database.
async fn admin(url: &str) -> Result<(sqlx::PgConnection, String)> {
    let opts = sqlx::postgres::PgConnectOptions::from_str(url).map_err(|e| TenantError::Backend(e.into()))?;
    let name = opts.get_database().unwrap_or_default().to_owned();
    // Identifiers cannot be bound; only [a-z0-9_] names are ever used, and "postgres" is never moved.
    if !is_safe_identifier(&name) || name == "postgres" {
        return Err(crate::backend::corrupt(format!("tenant database name {name:?}")).into());
    }
    let conn = opts.database("postgres").connect().await?;
    Ok((conn, name))
}

/// Bumps the tenant's database epoch and the registry version together: every server reopens its pool.
async fn bump_epoch(state: &AppState, id: crate::domain::ids::TenantId) -> Result<()> {
    let mut tx = state.central().begin().await?;
    sqlx::query("UPDATE tenants SET db_epoch = db_epoch + 1, updated_at = $1 WHERE id = $2")
        .bind(now().as_millis())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(())
}

/// Makes the source take no more writes, on any connection (see the module docs, step 1).
async fn pause(state: &AppState, id: crate::domain::ids::TenantId, from_url: &str) -> Result<()> {
    let (mut conn, name) = admin(from_url).await?;
    let sql = sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{name}\" SET default_transaction_read_only = on"));
    sqlx::query(sql).execute(&mut conn).await?;
    let paused_at: String = sqlx::query_scalar("SELECT clock_timestamp()::text").fetch_one(&mut conn).await?;
    bump_epoch(state, id).await?;
    // Busy servers notice within a second and reopen; give them that, then end the idle sessions of the old
    // pools (servers with no traffic for this tenant), and wait for sessions still in a transaction.
    tokio::time::sleep(NOTICE).await;
    let deadline = Instant::now() + DRAIN;
    loop {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
             AND backend_start < $2::timestamptz AND state = 'idle'",
        )
        .bind(&name)
        .bind(&paused_at)
        .execute(&mut conn)
        .await?;
        let left: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() \
             AND backend_start < $2::timestamptz",
        )
        .bind(&name)
        .bind(&paused_at)
        .fetch_one(&mut conn)
        .await?;
        if left == 0 {
            break;
        }
        if Instant::now() >= deadline {
            tracing::warn!(sessions = left, database = %name, "ending sessions still writable after the drain time");
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 \
                 AND pid <> pg_backend_pid() AND backend_start < $2::timestamptz",
            )
            .bind(&name)
            .bind(&paused_at)
            .execute(&mut conn)
            .await?;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = conn.close().await;
    Ok(())
}

/// Makes the target afresh, copies the source into it, and verifies every table's row count.
async fn copy(from_url: &str, to_url: &str) -> Result<Vec<(String, i64)>> {
    // A copy left by an earlier attempt is discarded: it may be partial.
    drop_tenant_database(to_url).await?;
    crate::backend::platform::db::TenantDb::create(to_url).await?;
    let out = tokio::process::Command::new("bash")
        .args([
            "-c",
            "set -o pipefail; pg_dump --format=custom --no-owner --no-acl \"$1\" \
             | pg_restore --no-owner --no-acl --exit-on-error --single-transaction --dbname=\"$2\"",
            "move",
            from_url,
            to_url,
        ])
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| crate::backend::corrupt(format!("running pg_dump | pg_restore: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(TenantError::Conflict(format!(
            "Copying the database failed (pg_dump | pg_restore, from PostgreSQL's client tools): {}",
            err.trim().chars().take(500).collect::<String>()
        )));
    }
    let from = counts(from_url).await?;
    let to = counts(to_url).await?;
    if from != to {
        return Err(TenantError::Conflict(format!(
            "The copy differs from the source (tables and row counts): {from:?} vs {to:?}"
        )));
    }
    Ok(from)
}

/// Every table of the database at `url` with its row count, by name.
async fn counts(url: &str) -> Result<Vec<(String, i64)>> {
    let opts = sqlx::postgres::PgConnectOptions::from_str(url).map_err(|e| TenantError::Backend(e.into()))?;
    let mut conn = opts.connect().await?;
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
            .fetch_all(&mut conn)
            .await?;
    let mut out = Vec::with_capacity(tables.len());
    for t in tables {
        if !is_safe_identifier(&t) {
            return Err(crate::backend::corrupt(format!("table name {t:?}")).into());
        }
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM \"{t}\""));
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await?;
        out.push((t, n));
    }
    let _ = conn.close().await;
    Ok(out)
}

/// Points the tenant at the copy (one central transaction with the move's step).
async fn switch(state: &AppState, id: crate::domain::ids::TenantId, m: &TenantMove) -> Result<()> {
    let mut tx = state.central().begin().await?;
    sqlx::query(
        "UPDATE tenants SET db_url = $1, db_server = $2, db_epoch = db_epoch + 1, updated_at = $3 WHERE id = $4",
    )
    .bind(&m.to_url)
    .bind(&m.to_server)
    .bind(now().as_millis())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE tenant_moves SET step = $1, error = NULL, updated_at = $2 WHERE tenant_id = $3")
        .bind(MoveStep::Switched.as_str())
        .bind(now().as_millis())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    bump_version(&mut tx).await?;
    tx.commit().await?;
    state.registry().invalidate();
    Ok(())
}

/// Rolls back a move that has not switched: the copy is dropped, the source takes writes again.
pub async fn roll_back(state: &AppState, slug: &str) -> Result<TenantMove> {
    let entry = state.registry().entry_by_slug(slug).await?.ok_or(TenantError::NotFound)?;
    let mut m =
        latest(state, slug).await?.ok_or_else(|| TenantError::Invalid(format!("{slug} has no move to roll back.")))?;
    match m.step {
        MoveStep::Paused | MoveStep::Copied => {}
        MoveStep::Switched | MoveStep::Done => {
            return Err(TenantError::Conflict(format!(
                "{slug} already runs on \"{}\": move it back with `server tenants move {slug} --to {}`.",
                m.to_server, m.from_server
            )))
        }
        MoveStep::RolledBack => return Ok(m),
    }
    drop_tenant_database(&m.to_url).await?;
    let (mut conn, name) = admin(&m.from_url).await?;
    let sql = sqlx::AssertSqlSafe(format!("ALTER DATABASE \"{name}\" RESET default_transaction_read_only"));
    sqlx::query(sql).execute(&mut conn).await?;
    let _ = conn.close().await;
    record(state, entry.id, MoveStep::RolledBack, None, None).await?;
    // Pools opened during the pause are read-only: every server opens writable ones.
    bump_epoch(state, entry.id).await?;
    audit::record(
        state.central(),
        None,
        ActorKind::System,
        "operator",
        Some(entry.id),
        "tenant.move_rolled_back",
        &format!("{slug}: stays on {}", m.from_server),
    )
    .await?;
    m.step = MoveStep::RolledBack;
    Ok(m)
}

/// A move as the admin app lists it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct MoveSummary {
    pub slug: String,
    pub from_server: String,
    pub to_server: String,
    pub step: String,
    pub error: Option<String>,
    pub updated_at: i64,
}

/// The latest moves, newest first.
pub async fn recent(state: &AppState, limit: i64) -> Result<Vec<MoveSummary>> {
    Ok(sqlx::query_as(
        "SELECT t.slug, m.from_server, m.to_server, m.step, m.error, m.updated_at FROM tenant_moves m \
         JOIN tenants t ON t.id = m.tenant_id ORDER BY m.updated_at DESC LIMIT $1",
    )
    .bind(limit.clamp(1, 500))
    .fetch_all(state.central().pool())
    .await?)
}
