//! PostgreSQL servers for tenant databases. The central database's own server is `primary`; an operator
//! adds others (`server db-servers add`), and each new tenant's database is placed on the active server
//! with the fewest tenants per unit of weight. A draining server keeps its tenants and takes no new ones
//! (move them off with `server tenants move`, see [`super::moves`]).
//!
//! Server URLs are stored, so they never carry a password: a URL with one is refused, and the password
//! goes in the app servers' `~/.pgpass` (or `PGPASSFILE`), which PostgreSQL clients read.

use std::str::FromStr;

use crate::backend::platform::db::{is_safe_identifier, now, with_database, CentralDb, DbAddress, DbError, Engine};
use crate::backend::tenancy::TenantError;

type Result<T, E = TenantError> = std::result::Result<T, E>;

/// The central database's server, always there, never stored in `db_servers`.
pub const PRIMARY: &str = "primary";

/// A database server's name: 1 to 32 lowercase letters, digits and dashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerName(String);

impl ServerName {
    pub fn parse(raw: &str) -> Result<ServerName> {
        let name = raw.trim().to_ascii_lowercase();
        let ok = (1..=32).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-');
        if !ok {
            return Err(TenantError::Invalid(
                "A database server's name is 1 to 32 lowercase letters, digits and dashes.".into(),
            ));
        }
        Ok(ServerName(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a server takes new tenants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    Active,
    /// Keeps its tenants, takes no new ones.
    Draining,
}

impl ServerState {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerState::Active => "active",
            ServerState::Draining => "draining",
        }
    }

    pub fn parse(s: &str) -> Option<ServerState> {
        match s {
            "active" => Some(ServerState::Active),
            "draining" => Some(ServerState::Draining),
            _ => None,
        }
    }
}

/// A PostgreSQL URL checked for storing: `postgres://` or `postgresql://`, parseable, with no password.
pub fn parse_server_url(raw: &str) -> Result<String> {
    let url = raw.trim();
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| TenantError::Invalid("A database server's URL starts with postgres://.".into()))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let has_password = authority.rsplit_once('@').is_some_and(|(user, _)| user.contains(':'))
        || url
            .split_once('?')
            .is_some_and(|(_, q)| q.split('&').any(|p| p.to_ascii_lowercase().starts_with("password=")));
    if has_password {
        return Err(TenantError::Invalid(
            "Leave the password out of the URL (it would be stored): put it in the app servers' ~/.pgpass.".into(),
        ));
    }
    sqlx::postgres::PgConnectOptions::from_str(url)
        .map_err(|e| TenantError::Invalid(format!("That is not a PostgreSQL URL: {e}")))?;
    Ok(url.to_owned())
}

/// The name of `slug`'s database: `<central database>_t_<slug>` on whichever server holds it.
pub fn tenant_database_name(central_url: &str, slug: &str) -> Result<String> {
    let opts = sqlx::postgres::PgConnectOptions::from_str(central_url)
        .map_err(|e| TenantError::Invalid(format!("central URL: {e}")))?;
    let name = format!("{}_t_{}", opts.get_database().unwrap_or("postgres"), slug.replace('-', "_"));
    if !is_safe_identifier(&name) {
        return Err(TenantError::Invalid(format!("unsupported tenant slug {slug:?}")));
    }
    Ok(name)
}

/// A server as listed: its tenants counted (those not being deleted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbServer {
    pub name: String,
    pub url: String,
    /// A PgBouncer in transaction mode in front of it, which queries go through.
    pub pooler_url: Option<String>,
    pub weight: i64,
    pub state: ServerState,
    pub tenants: i64,
}

impl DbServer {
    /// The URL of `slug`'s database on this server.
    pub fn tenant_url(&self, central_url: &str, slug: &str) -> Result<String> {
        Ok(with_database(&self.url, &tenant_database_name(central_url, slug)?))
    }
}

/// A server as the audit log names it.
pub fn describe(s: &DbServer) -> String {
    match &s.pooler_url {
        Some(p) => format!("{} ({} through {p}), weight {}", s.name, s.url, s.weight),
        None => format!("{} ({}), weight {}", s.name, s.url, s.weight),
    }
}

/// Where the app servers' queries reach a tenant database at `db_url` on `server` (`None`: primary): through
/// that server's pooler when it has one.
pub async fn address(central: &CentralDb, server: Option<&str>, db_url: &str) -> Result<DbAddress, DbError> {
    let pooler = match server {
        None | Some(PRIMARY) => central.pooler_url().map(str::to_owned),
        Some(name) => sqlx::query_scalar::<_, Option<String>>("SELECT pooler_url FROM db_servers WHERE name = $1")
            .bind(name)
            .fetch_optional(central.pool())
            .await?
            .flatten(),
    };
    let Some(pooler) = pooler else { return Ok(DbAddress::direct(db_url)) };
    let database = crate::backend::platform::db::database_of(db_url)?;
    Ok(DbAddress { direct: db_url.to_owned(), pooler: Some(with_database(&pooler, &database)) })
}

/// Every server, `primary` (the central database's server, weight 1) first.
pub async fn list(central: &CentralDb, central_url: &str) -> Result<Vec<DbServer>> {
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT COALESCE(db_server, 'primary'), COUNT(*) FROM tenants WHERE status <> 'deleting' GROUP BY 1",
    )
    .fetch_all(central.pool())
    .await?;
    let count = |name: &str| counts.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c);
    let mut out = vec![DbServer {
        name: PRIMARY.into(),
        url: strip_password(central_url),
        pooler_url: central.pooler_url().map(strip_password),
        weight: 1,
        state: ServerState::Active,
        tenants: count(PRIMARY),
    }];
    let rows: Vec<(String, String, Option<String>, i64, String)> =
        sqlx::query_as("SELECT name, url, pooler_url, weight, state FROM db_servers ORDER BY name")
            .fetch_all(central.pool())
            .await?;
    for (name, url, pooler_url, weight, state) in rows {
        let state = ServerState::parse(&state).ok_or_else(|| crate::backend::corrupt("db_servers.state"))?;
        let tenants = count(&name);
        out.push(DbServer { name, url, pooler_url, weight, state, tenants });
    }
    Ok(out)
}

/// The central URL as shown: without its password, if it has one.
fn strip_password(url: &str) -> String {
    let Some(i) = url.find("://") else { return url.to_owned() };
    let (scheme, rest) = url.split_at(i + 3);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{scheme}{user}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// One server by name.
pub async fn get(central: &CentralDb, central_url: &str, name: &str) -> Result<DbServer> {
    list(central, central_url)
        .await?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| TenantError::Invalid(format!("There is no database server \"{name}\".")))
}

/// Adds a server (PostgreSQL deployments only), after checking that it answers, and through its PgBouncer
/// too when one is given.
pub async fn add(central: &CentralDb, name: &str, url: &str, pooler: Option<&str>, weight: i64) -> Result<DbServer> {
    if central.engine() != Engine::Postgres {
        return Err(TenantError::Invalid(
            "Several database servers need a PostgreSQL central database (DATABASE_URL).".into(),
        ));
    }
    let name = ServerName::parse(name)?;
    if name.as_str() == PRIMARY {
        return Err(TenantError::Conflict("\"primary\" is the central database's server.".into()));
    }
    if !(1..=1000).contains(&weight) {
        return Err(TenantError::Invalid("A weight is between 1 and 1000.".into()));
    }
    let url = parse_server_url(url)?;
    check_reachable(&url).await?;
    let pooler_url = match pooler.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => {
            let p = parse_server_url(p)?;
            check_reachable(&p).await?;
            Some(p)
        }
        None => None,
    };
    let inserted = sqlx::query(
        "INSERT INTO db_servers (name, url, pooler_url, weight, state, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(name.as_str())
    .bind(&url)
    .bind(&pooler_url)
    .bind(weight)
    .bind(ServerState::Active.as_str())
    .bind(now().as_millis())
    .execute(central.pool())
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if crate::backend::platform::db::is_unique_violation(&e) => {
            return Err(TenantError::Conflict(format!("There is already a database server \"{}\".", name.as_str())))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(DbServer { name: name.0, url, pooler_url, weight, state: ServerState::Active, tenants: 0 })
}

/// Connects to the server's `postgres` database and back: a typo is caught when the server is added, not
/// when the next tenant is created.
async fn check_reachable(url: &str) -> Result<()> {
    use sqlx::{ConnectOptions, Connection};
    let opts = sqlx::postgres::PgConnectOptions::from_str(url)
        .map_err(|e| TenantError::Invalid(format!("That is not a PostgreSQL URL: {e}")))?;
    let conn = tokio::time::timeout(std::time::Duration::from_secs(10), opts.database("postgres").connect()).await;
    match conn {
        Ok(Ok(c)) => {
            let _ = c.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(TenantError::Invalid(format!("The server does not answer: {e}"))),
        Err(_) => Err(TenantError::Invalid("The server did not answer within 10 seconds.".into())),
    }
}

/// Marks a server active or draining (`primary` is always active).
pub async fn set_state(central: &CentralDb, name: &str, state: ServerState) -> Result<()> {
    let n = sqlx::query("UPDATE db_servers SET state = $1 WHERE name = $2")
        .bind(state.as_str())
        .bind(name)
        .execute(central.pool())
        .await?
        .rows_affected();
    if n == 0 {
        return Err(TenantError::Invalid(format!("There is no database server \"{name}\" (primary cannot drain).")));
    }
    Ok(())
}

/// Where a new tenant's database goes: the active server with the fewest tenants per unit of weight
/// (`primary` first on a tie). SQLite deployments have one place, next to the central database.
pub async fn place(central: &CentralDb, central_url: &str) -> Result<DbServer> {
    let servers = list(central, central_url).await?;
    servers
        .into_iter()
        .filter(|s| s.state == ServerState::Active)
        // tenants/weight compared without division: a.t * b.w < b.t * a.w.
        .reduce(|best, s| if s.tenants * best.weight < best.tenants * s.weight { s } else { best })
        .ok_or_else(|| crate::backend::corrupt("no database server").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_postgres_without_a_password() {
        assert!(parse_server_url("postgres://postgres@10.0.0.5:5432/postgres").is_ok());
        assert!(parse_server_url("postgresql://app@db-2:6432").is_ok());
        for bad in [
            "postgres://app:secret@db-2/postgres",
            "postgres://db-2/postgres?password=secret",
            "mysql://db-2",
            "db-2:5432",
        ] {
            assert!(matches!(parse_server_url(bad), Err(TenantError::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn a_tenant_database_keeps_its_name_on_any_server() {
        let central = "postgres://app:pw@central:5432/ezscale?sslmode=prefer";
        assert_eq!(tenant_database_name(central, "acme-eu").ok().as_deref(), Some("ezscale_t_acme_eu"));
        let s = DbServer {
            name: "db-2".into(),
            url: "postgres://app@db-2:6432/postgres?sslmode=require".into(),
            pooler_url: None,
            weight: 1,
            state: ServerState::Active,
            tenants: 0,
        };
        assert_eq!(
            s.tenant_url(central, "acme").ok().as_deref(),
            Some("postgres://app@db-2:6432/ezscale_t_acme?sslmode=require")
        );
        let bare = DbServer { url: "postgres://db-3".into(), ..s };
        assert_eq!(bare.tenant_url(central, "acme").ok().as_deref(), Some("postgres://db-3/ezscale_t_acme"));
        assert_eq!(strip_password(central), "postgres://app@central:5432/ezscale?sslmode=prefer");
    }

    #[test]
    fn names_are_short_lowercase_words() {
        assert_eq!(ServerName::parse(" DB-2 ").ok().map(|n| n.0), Some("db-2".into()));
        for bad in ["", "-x", "db_2", "db 2", &"x".repeat(33)] {
            assert!(ServerName::parse(bad).is_err(), "{bad}");
        }
    }
}
