//! Each database keeps two migration sets, one per engine (`migrations/{central,tenant}/{sqlite,postgres}`),
//! and the code above them assumes they build the same schema. This applies each pair to fresh databases the
//! way the app does (sqlx's `Migrator` over the directories that `app::backend::platform::db` embeds with
//! `sqlx::migrate!`; read here at run time, so an edited migration is tested without rebuilding the app),
//! reads both schemas back from the engines' catalogs (SQLite's pragmas and `sqlite_master`, PostgreSQL's
//! `information_schema` and `pg_catalog`) and compares them: the same tables; the same columns in the same
//! order, with corresponding types, NOT NULL and defaults; the same primary keys, indexes (columns,
//! uniqueness, partial predicate, and the name of every explicitly created one), foreign keys (columns,
//! referenced table and columns, ON UPDATE / ON DELETE) and CHECK constraints; the same number of rows the
//! migrations insert; and the same list of applied migrations. A failure lists every difference, naming
//! table and column.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::common::ScratchDbs;

/// Column types: SQLite's declared type and the PostgreSQL type (`information_schema.columns.data_type`)
/// that corresponds to it. One each, on purpose: the app reads every integer as an `i64` through sqlx's
/// `Any` driver, so an `integer` or `boolean` column where SQLite says INTEGER would be a real difference,
/// not a synonym. A type on neither list fails the comparison by itself.
const TYPES: &[(&str, &str)] =
    &[("INTEGER", "bigint"), ("TEXT", "text"), ("BLOB", "bytea"), ("REAL", "double precision")];

/// ALLOWANCE, the one difference between the sets today (it is the engines', not the files'): a column that
/// is its table's whole primary key without being declared NOT NULL (`id TEXT PRIMARY KEY`, 33 of them, and
/// `registry_version.id INTEGER PRIMARY KEY`) is NOT NULL on PostgreSQL, which makes every key column NOT
/// NULL, and nullable on SQLite, which for compatibility with its early versions stores a NULL key (or, in
/// an INTEGER PRIMARY KEY, takes NULL to mean the next rowid). The app writes every key itself (ids, token
/// hashes, codes, `registry_version` row 1), and SQLite cannot add NOT NULL to a column without rebuilding
/// its table (and the tables whose foreign keys point at it), so no migration evens this out: such a column
/// is compared as NOT NULL. Only a sole key column: a composite key's columns are all declared NOT NULL on
/// both sides today and must stay so.
fn sqlite_not_null(column: &Column) -> bool {
    column.not_null || column.sole_key
}

/// Tables the migrations do not create: sqlx's bookkeeping (compared separately) and SQLite's own.
fn is_internal(table: &str) -> bool {
    table == "_sqlx_migrations" || table.starts_with("sqlite_")
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Central,
    Tenant,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Central => "central",
            Kind::Tenant => "tenant",
        }
    }
}

#[derive(Debug)]
struct Column {
    name: String,
    /// The type as the engine reports it (for messages).
    declared: String,
    /// The SQLite spelling of the type (see [`TYPES`]), or why there is none.
    portable: String,
    /// As declared (SQLite) or enforced (PostgreSQL): see [`sqlite_not_null`].
    not_null: bool,
    /// The column is the table's whole primary key.
    sole_key: bool,
    /// Normalised (see [`normalise`]).
    default: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Index {
    columns: Vec<String>,
    unique: bool,
    /// The normalised WHERE of a partial index.
    predicate: Option<String>,
    /// Indexes made by CREATE INDEX are compared by name too; those behind a UNIQUE constraint are named by
    /// each engine its own way (`sqlite_autoindex_t_1`, `t_col_key`) and are not.
    name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct ForeignKey {
    columns: Vec<String>,
    parent: String,
    parent_columns: Vec<String>,
    on_update: String,
    on_delete: String,
}

#[derive(Debug, Default)]
struct Table {
    columns: Vec<Column>,
    primary_key: Vec<String>,
    indexes: BTreeSet<Index>,
    foreign_keys: BTreeSet<ForeignKey>,
    /// Normalised expressions, sorted.
    checks: Vec<String>,
    /// Rows the migrations put in it.
    rows: i64,
}

#[derive(Debug, Default)]
struct Schema {
    tables: BTreeMap<String, Table>,
    /// `_sqlx_migrations`: (version, description), in order.
    migrations: Vec<(i64, String)>,
}

fn migrator_dir(kind: Kind, engine: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../migrations").join(kind.dir()).join(engine)
}

async fn migrator(kind: Kind, engine: &str) -> Migrator {
    let dir = migrator_dir(kind, engine);
    Migrator::new(dir.clone()).await.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

async fn migrated_sqlite(kind: Kind, url: &str) -> Schema {
    let mut c = SqliteConnection::connect(url).await.unwrap();
    migrator(kind, "sqlite").await.run(&mut c).await.unwrap_or_else(|e| panic!("{kind:?} SQLite migrations: {e}"));
    let schema = sqlite_schema(&mut c).await;
    c.close().await.unwrap();
    schema
}

async fn migrated_postgres(kind: Kind, url: &str) -> Schema {
    let mut c = PgConnection::connect(url).await.unwrap();
    migrator(kind, "postgres")
        .await
        .run(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{kind:?} PostgreSQL migrations: {e}"));
    let schema = postgres_schema(&mut c).await;
    c.close().await.unwrap();
    schema
}

// ---- SQLite ------------------------------------------------------------------------------------------------

async fn sqlite_schema(c: &mut SqliteConnection) -> Schema {
    let mut schema = Schema::default();
    let tables: Vec<(String, String)> =
        sqlx::query_as("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut *c)
            .await
            .unwrap();
    for (name, sql) in tables {
        if is_internal(&name) {
            continue;
        }
        let mut table = Table::default();
        let columns: Vec<(String, String, bool, Option<String>, i64)> =
            sqlx::query_as(r#"SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?1) ORDER BY cid"#)
                .bind(&name)
                .fetch_all(&mut *c)
                .await
                .unwrap();
        let mut pk: Vec<(i64, String)> = Vec::new();
        for (column, declared, not_null, default, pk_pos) in columns {
            let upper = declared.to_ascii_uppercase();
            let portable = match TYPES.iter().find(|(lite, _)| *lite == upper) {
                Some((lite, _)) => (*lite).to_owned(),
                None => format!("(SQLite type {declared:?} is not in TYPES)"),
            };
            if pk_pos > 0 {
                pk.push((pk_pos, column.clone()));
            }
            table.columns.push(Column {
                name: column,
                declared,
                portable,
                not_null,
                sole_key: false,
                default: default.as_deref().map(normalise),
            });
        }
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, c)| c).collect();
        mark_sole_key(&mut table);
        table.rows = count_rows(&mut *c, &name).await;

        let indexes: Vec<(String, bool, String, bool)> =
            sqlx::query_as(r#"SELECT name, "unique", origin, partial FROM pragma_index_list(?1)"#)
                .bind(&name)
                .fetch_all(&mut *c)
                .await
                .unwrap();
        for (index, unique, origin, partial) in indexes {
            // The primary key's own index: compared as the primary key.
            if origin == "pk" {
                continue;
            }
            let columns: Vec<Option<String>> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(&mut *c)
                    .await
                    .unwrap();
            let predicate = if partial {
                let sql: String =
                    sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1")
                        .bind(&index)
                        .fetch_one(&mut *c)
                        .await
                        .unwrap();
                let clause = keyword_rest(&strip_comments(&sql), "where")
                    .unwrap_or_else(|| panic!("{name}: partial index {index} without WHERE: {sql}"));
                Some(normalise(&clause))
            } else {
                None
            };
            table.indexes.insert(Index {
                columns: columns.into_iter().map(|c| c.unwrap_or_else(|| "<expression>".into())).collect(),
                unique,
                predicate,
                name: (origin == "c").then_some(index),
            });
        }

        let fks: Vec<(i64, String, String, Option<String>, String, String)> = sqlx::query_as(
            r#"SELECT id, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq"#,
        )
        .bind(&name)
        .fetch_all(&mut *c)
        .await
        .unwrap();
        let mut by_id: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for (id, parent, from, to, on_update, on_delete) in fks {
            let fk = by_id.entry(id).or_insert_with(|| ForeignKey {
                columns: Vec::new(),
                parent: parent.clone(),
                parent_columns: Vec::new(),
                on_update,
                on_delete,
            });
            fk.columns.push(from);
            if let Some(to) = to {
                fk.parent_columns.push(to);
            }
        }
        for fk in by_id.into_values() {
            let mut fk = fk;
            // `REFERENCES parent` without columns: the parent's primary key.
            if fk.parent_columns.is_empty() {
                fk.parent_columns =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk")
                        .bind(&fk.parent)
                        .fetch_all(&mut *c)
                        .await
                        .unwrap();
            }
            table.foreign_keys.insert(fk);
        }

        table.checks = checks(&strip_comments(&sql)).iter().map(|e| normalise(e)).collect();
        table.checks.sort();
        schema.tables.insert(name, table);
    }
    schema.migrations = sqlx::query_as("SELECT version, description FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut *c)
        .await
        .unwrap();
    schema
}

// ---- PostgreSQL --------------------------------------------------------------------------------------------

/// An index: name, unique, made for a constraint, predicate, key columns.
type PgIndexRow = (String, bool, bool, Option<String>, Vec<String>);
/// A foreign key: columns, referenced table, referenced columns, ON UPDATE code, ON DELETE code.
type PgForeignKeyRow = (Vec<String>, String, Vec<String>, String, String);

/// The oid of table `$1` in schema public.
const RELID: &str = "(SELECT oid FROM pg_class WHERE relname = $1 AND relnamespace = 'public'::regnamespace)";

async fn postgres_schema(c: &mut PgConnection) -> Schema {
    let mut schema = Schema::default();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut *c)
    .await
    .unwrap();
    for name in tables {
        if is_internal(&name) {
            continue;
        }
        let mut table = Table::default();
        let columns: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, is_nullable::text, column_default::text \
             FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 \
             ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(&mut *c)
        .await
        .unwrap();
        for (column, declared, nullable, default) in columns {
            let portable = match TYPES.iter().find(|(_, pg)| *pg == declared) {
                Some((lite, _)) => (*lite).to_owned(),
                None => format!("(PostgreSQL type {declared:?} is not in TYPES)"),
            };
            table.columns.push(Column {
                name: column,
                declared,
                portable,
                not_null: nullable == "NO",
                sole_key: false,
                default: default.as_deref().map(normalise),
            });
        }

        table.primary_key = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT a.attname::text FROM pg_constraint con \
             CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
             WHERE con.conrelid = {RELID} AND con.contype = 'p' ORDER BY k.ord"
        )))
        .bind(&name)
        .fetch_all(&mut *c)
        .await
        .unwrap();
        mark_sole_key(&mut table);
        table.rows = count_rows(&mut *c, &name).await;

        let indexes: Vec<PgIndexRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT i.relname::text, x.indisunique, \
                    EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = x.indexrelid \
                            AND con.conrelid = x.indrelid AND con.contype IN ('u', 'p')), \
                    pg_get_expr(x.indpred, x.indrelid), \
                    ARRAY(SELECT COALESCE(a.attname::text, '<expression>') \
                          FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                          LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum \
                          WHERE k.ord <= x.indnkeyatts ORDER BY k.ord) \
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             WHERE x.indrelid = {RELID} AND NOT x.indisprimary"
        )))
        .bind(&name)
        .fetch_all(&mut *c)
        .await
        .unwrap();
        for (index, unique, from_constraint, predicate, columns) in indexes {
            table.indexes.insert(Index {
                columns,
                unique,
                predicate: predicate.as_deref().map(normalise),
                name: (!from_constraint).then_some(index),
            });
        }

        let fks: Vec<PgForeignKeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) \
                          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord), \
                    (SELECT relname::text FROM pg_class WHERE oid = con.confrelid), \
                    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, ord) \
                          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord), \
                    con.confupdtype::text, con.confdeltype::text \
             FROM pg_constraint con WHERE con.conrelid = {RELID} AND con.contype = 'f'"
        )))
        .bind(&name)
        .fetch_all(&mut *c)
        .await
        .unwrap();
        for (columns, parent, parent_columns, on_update, on_delete) in fks {
            table.foreign_keys.insert(ForeignKey {
                columns,
                parent,
                parent_columns,
                on_update: fk_action(&on_update),
                on_delete: fk_action(&on_delete),
            });
        }

        let checks: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = {RELID} AND contype = 'c'"
        )))
        .bind(&name)
        .fetch_all(&mut *c)
        .await
        .unwrap();
        table.checks = checks
            .iter()
            .map(|def| normalise(def.strip_prefix("CHECK ").unwrap_or_else(|| panic!("{name}: {def}"))))
            .collect();
        table.checks.sort();
        schema.tables.insert(name, table);
    }
    schema.migrations = sqlx::query_as("SELECT version, description FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut *c)
        .await
        .unwrap();
    schema
}

fn mark_sole_key(table: &mut Table) {
    if let [key] = table.primary_key.as_slice() {
        let key = key.clone();
        table.columns.iter_mut().filter(|c| c.name == key).for_each(|c| c.sole_key = true);
    }
}

async fn count_rows<'c, C>(c: C, table: &str) -> i64
where
    C: sqlx::Executor<'c>,
    i64: for<'r> sqlx::Decode<'r, C::Database> + sqlx::Type<C::Database>,
    for<'q> <C::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<C::Database>,
    usize: sqlx::ColumnIndex<<C::Database as sqlx::Database>::Row>,
{
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM \"{table}\""))).fetch_one(c).await.unwrap()
}

/// `pg_constraint.confupdtype` / `confdeltype` in the words SQLite's `pragma_foreign_key_list` uses.
fn fk_action(code: &str) -> String {
    match code {
        "a" => "NO ACTION",
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        other => panic!("unknown foreign key action {other:?}"),
    }
    .to_owned()
}

// ---- SQL text ----------------------------------------------------------------------------------------------

/// `sql` without its `--` and `/* */` comments (SQLite keeps a CREATE statement's comments in `sqlite_master`).
fn strip_comments(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(ch) = chars.next() {
        if let Some(q) = quote {
            out.push(ch);
            if ch == q {
                quote = None;
            }
            continue;
        }
        match ch {
            '\'' | '"' => {
                quote = Some(ch);
                out.push(ch);
            }
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
                out.push(' ');
            }
            _ => out.push(ch),
        }
    }
    out
}

/// Byte offsets in `sql` (without comments) where `keyword` stands as a word outside quotes.
fn keyword_at(sql: &str, keyword: &str) -> Vec<usize> {
    let bytes = sql.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut found = Vec::new();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(q) = quote {
            if b == q {
                quote = None;
            }
            continue;
        }
        if b == b'\'' || b == b'"' {
            quote = Some(b);
        } else if (i == 0 || !word(bytes[i - 1]))
            && sql.get(i..i + keyword.len()).is_some_and(|s| s.eq_ignore_ascii_case(keyword))
            && bytes.get(i + keyword.len()).is_none_or(|&n| !word(n))
        {
            found.push(i);
        }
    }
    found
}

/// What follows the first `keyword` (a partial index's WHERE).
fn keyword_rest(sql: &str, keyword: &str) -> Option<String> {
    keyword_at(sql, keyword).first().map(|&i| sql[i + keyword.len()..].trim().to_owned())
}

/// The parenthesised expression of every CHECK in a CREATE TABLE statement (without comments).
fn checks(sql: &str) -> Vec<String> {
    keyword_at(sql, "check")
        .into_iter()
        .map(|at| {
            let rest = sql[at + "check".len()..].trim_start();
            assert!(rest.starts_with('('), "CHECK without a parenthesis in {sql}");
            let mut depth = 0usize;
            let mut quote: Option<char> = None;
            for (i, ch) in rest.char_indices() {
                match (quote, ch) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '\'' | '"') => quote = Some(ch),
                    (None, '(') => depth += 1,
                    (None, ')') => {
                        depth -= 1;
                        if depth == 0 {
                            return rest[..=i].to_owned();
                        }
                    }
                    _ => {}
                }
            }
            panic!("unbalanced CHECK in {sql}")
        })
        .collect()
}

/// One expression (a CHECK, a partial index's WHERE, a DEFAULT) as both engines spell it, made comparable:
/// PostgreSQL prints it back with casts on literals (`'x'::text`), parentheses of its own and quotes on
/// some identifiers. Outside string literals: casts, parentheses, double quotes and white space go, and
/// case is folded. (PostgreSQL rewrites some forms beyond this, e.g. `x IN (...)` as `x = ANY (ARRAY[...])`:
/// write such an expression the same way in both sets, or teach this function the rewrite.)
fn normalise(expr: &str) -> String {
    let mut out = String::new();
    let mut chars = expr.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\'' => {
                out.push(ch);
                for c in chars.by_ref() {
                    out.push(c);
                    if c == '\'' {
                        break;
                    }
                }
            }
            ':' if chars.peek() == Some(&':') => {
                chars.next();
                let mut ty = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' || ((c == ' ') && (ty == "double" || ty == "character")) {
                        ty.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
            '(' | ')' | '"' => {}
            c if c.is_whitespace() => {}
            c => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

// ---- comparison --------------------------------------------------------------------------------------------

/// Every difference between the two schemas, one line each.
fn differences(lite: &Schema, pg: &Schema) -> Vec<String> {
    let mut diffs = Vec::new();
    if lite.migrations != pg.migrations {
        diffs.push(format!(
            "applied migrations differ:\n  SQLite:     {:?}\n  PostgreSQL: {:?}",
            lite.migrations, pg.migrations
        ));
    }
    for name in lite.tables.keys().filter(|t| !pg.tables.contains_key(*t)) {
        diffs.push(format!("table {name}: only on SQLite"));
    }
    for name in pg.tables.keys().filter(|t| !lite.tables.contains_key(*t)) {
        diffs.push(format!("table {name}: only on PostgreSQL"));
    }
    for (name, l) in &lite.tables {
        let Some(p) = pg.tables.get(name) else { continue };
        table_differences(name, l, p, &mut diffs);
    }
    diffs
}

fn table_differences(t: &str, l: &Table, p: &Table, diffs: &mut Vec<String>) {
    let names = |table: &Table| table.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let (l_names, p_names) = (names(l), names(p));
    for c in l_names.iter().filter(|c| !p_names.contains(c)) {
        diffs.push(format!("{t}.{c}: column only on SQLite"));
    }
    for c in p_names.iter().filter(|c| !l_names.contains(c)) {
        diffs.push(format!("{t}.{c}: column only on PostgreSQL"));
    }
    let common = |a: &[String], b: &[String]| a.iter().filter(|c| b.contains(c)).cloned().collect::<Vec<_>>();
    if common(&l_names, &p_names) != common(&p_names, &l_names) {
        diffs.push(format!("{t}: columns in another order: SQLite {l_names:?}, PostgreSQL {p_names:?}"));
    }
    for lc in &l.columns {
        let Some(pc) = p.columns.iter().find(|c| c.name == lc.name) else { continue };
        let c = &lc.name;
        if lc.portable != pc.portable {
            diffs.push(format!(
                "{t}.{c}: type {} on SQLite, {} on PostgreSQL (not a pair in TYPES)",
                lc.declared, pc.declared
            ));
        }
        if sqlite_not_null(lc) != pc.not_null {
            let word = |n: bool| if n { "NOT NULL" } else { "nullable" };
            diffs.push(format!(
                "{t}.{c}: {} on SQLite, {} on PostgreSQL",
                word(sqlite_not_null(lc)),
                word(pc.not_null)
            ));
        }
        if lc.default != pc.default {
            diffs.push(format!("{t}.{c}: default {:?} on SQLite, {:?} on PostgreSQL", lc.default, pc.default));
        }
    }
    if l.primary_key != p.primary_key {
        diffs.push(format!("{t}: primary key {:?} on SQLite, {:?} on PostgreSQL", l.primary_key, p.primary_key));
    }
    for i in l.indexes.difference(&p.indexes) {
        diffs.push(format!("{t}: index only on SQLite: {i:?}"));
    }
    for i in p.indexes.difference(&l.indexes) {
        diffs.push(format!("{t}: index only on PostgreSQL: {i:?}"));
    }
    for fk in l.foreign_keys.difference(&p.foreign_keys) {
        diffs.push(format!("{t}: foreign key only on SQLite: {fk:?}"));
    }
    for fk in p.foreign_keys.difference(&l.foreign_keys) {
        diffs.push(format!("{t}: foreign key only on PostgreSQL: {fk:?}"));
    }
    if l.rows != p.rows {
        diffs.push(format!("{t}: the migrations leave {} rows on SQLite, {} on PostgreSQL", l.rows, p.rows));
    }
    if l.checks.len() != p.checks.len() {
        diffs.push(format!("{t}: {} CHECK constraints on SQLite, {} on PostgreSQL", l.checks.len(), p.checks.len()));
    }
    if l.checks != p.checks {
        diffs.push(format!("{t}: CHECK constraints differ: SQLite {:?}, PostgreSQL {:?}", l.checks, p.checks));
    }
}

/// What the introspection found, so that a comparison of two empty readings cannot pass.
fn census(s: &Schema) -> String {
    let t = s.tables.values();
    let mut out = String::new();
    let _ = write!(
        out,
        "{} tables, {} columns, {} NOT NULL, {} defaults, {} primary keys, {} indexes ({} unique, {} partial), \
         {} foreign keys, {} CHECKs, {} migrations",
        s.tables.len(),
        t.clone().map(|t| t.columns.len()).sum::<usize>(),
        t.clone().flat_map(|t| &t.columns).filter(|c| c.not_null).count(),
        t.clone().flat_map(|t| &t.columns).filter(|c| c.default.is_some()).count(),
        t.clone().filter(|t| !t.primary_key.is_empty()).count(),
        t.clone().map(|t| t.indexes.len()).sum::<usize>(),
        t.clone().flat_map(|t| &t.indexes).filter(|i| i.unique).count(),
        t.clone().flat_map(|t| &t.indexes).filter(|i| i.predicate.is_some()).count(),
        t.clone().map(|t| t.foreign_keys.len()).sum::<usize>(),
        t.clone().map(|t| t.checks.len()).sum::<usize>(),
        s.migrations.len(),
    );
    out
}

async fn both_engines_build_the_same_schema(kind: Kind) -> (Schema, Schema) {
    let dbs = ScratchDbs::new();
    let name = kind.dir();
    let lite = migrated_sqlite(kind, &dbs.sqlite_url(name)).await;
    let pg = migrated_postgres(kind, &dbs.postgres_url(name).await).await;
    let diffs = differences(&lite, &pg);
    assert!(
        diffs.is_empty(),
        "the {name} migrations build different schemas on SQLite and PostgreSQL ({} differences):\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    (lite, pg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_migrations_build_the_same_schema_on_sqlite_and_postgres() {
    let (lite, pg) = both_engines_build_the_same_schema(Kind::Central).await;
    // The readings are not empty on either engine: what the first migrations create is there.
    for (engine, s) in [("SQLite", &lite), ("PostgreSQL", &pg)] {
        let jobs = s.tables.get("jobs").unwrap_or_else(|| panic!("{engine}: no jobs table: {}", census(s)));
        assert_eq!(jobs.primary_key, ["id"], "{engine}");
        assert!(jobs
            .columns
            .iter()
            .any(|c| c.name == "state" && c.not_null && c.default.as_deref() == Some("'queued'")));
        let due = Index {
            columns: vec!["state".into(), "run_at".into()],
            unique: false,
            predicate: None,
            name: Some("jobs_due".into()),
        };
        assert!(jobs.indexes.contains(&due), "{engine}: {:?}", jobs.indexes);
        assert!(jobs.indexes.iter().any(|i| i.unique && i.columns == ["dedupe_key"] && i.name.is_none()), "{engine}");
        assert!(jobs.foreign_keys.iter().any(|f| f.parent == "tenants" && f.columns == ["tenant_id"]), "{engine}");
        let images = &s.tables["kasm_images"];
        assert!(images.foreign_keys.iter().any(|f| f.on_delete == "CASCADE"), "{engine}: {:?}", images.foreign_keys);
        assert_eq!(s.migrations.len(), std::fs::read_dir(migrator_dir(Kind::Central, "sqlite")).unwrap().count());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_migrations_build_the_same_schema_on_sqlite_and_postgres() {
    let (lite, pg) = both_engines_build_the_same_schema(Kind::Tenant).await;
    for (engine, s) in [("SQLite", &lite), ("PostgreSQL", &pg)] {
        let usage =
            s.tables.get("usage_sessions").unwrap_or_else(|| panic!("{engine}: no usage_sessions: {}", census(s)));
        assert_eq!(usage.checks, ["ended_atisnullorended_at>=started_at"], "{engine}");
        let one_open = Index {
            columns: vec!["workspace_id".into()],
            unique: true,
            predicate: Some("ended_atisnull".into()),
            name: Some("usage_sessions_one_open".into()),
        };
        assert!(usage.indexes.contains(&one_open), "{engine}: {:?}", usage.indexes);
        assert!(usage.foreign_keys.iter().any(|f| f.parent == "workspaces" && f.parent_columns == ["id"]), "{engine}");
        assert_eq!(s.migrations.len(), std::fs::read_dir(migrator_dir(Kind::Tenant, "sqlite")).unwrap().count());
    }
}
