//! The small layer every store method is written over, once for both engines.
//!
//! A store method is a plain, synchronous closure over a [`Tx`]: it runs
//! statements ([`Sql`], shared text with `$N` placeholders), binds values of
//! one type ([`Value`]), and reads typed columns from a [`Row`]. Each engine
//! supplies only what differs underneath:
//!
//! * **SQLite** ([`sqlite`]): one writer thread that owns the write
//!   connection and runs closures in `BEGIN IMMEDIATE` transactions, gathering
//!   concurrent ones into one commit (*group commit*, each closure in its own
//!   savepoint), plus a pool of read-only connections on tokio's blocking pool.
//!   `$N` becomes `?N` once per statement, and prepared statements are cached.
//! * **PostgreSQL** ([`postgres`]): a deadpool pool; the closure runs on the
//!   blocking pool and drives tokio-postgres futures with the runtime's
//!   handle. Statements are prepared once per connection and cached.
//!
//! Where the dialects differ, [`Sql::dialects`] holds both texts side by side.
//! Engine-specific locks are a [`Lock`]: an advisory lock on PostgreSQL, a
//! no-op on SQLite, whose single writer already serialises every write.
//!
//! Timestamps are bound and read as [`Timestamp`] and stored as `INTEGER`
//! microseconds on SQLite and `TIMESTAMPTZ` on PostgreSQL; booleans as `0/1`
//! and `BOOLEAN`; bytes as `BLOB` and `BYTEA`.

use std::sync::OnceLock;

use jiff::Timestamp;

use crate::{Engine, Id, Result, Sealed, StoreError, TokenDigest};

pub(crate) mod postgres;
pub(crate) mod sqlite;

/// One SQL statement, its text shared by both engines unless it differs.
pub(crate) struct Sql {
    /// PostgreSQL's text; also SQLite's unless `sqlite` is set.
    text: &'static str,
    sqlite: Option<&'static str>,
    /// SQLite's text with `$N` rewritten to `?N`, made once.
    rewritten: OnceLock<String>,
}

impl Sql {
    /// A statement both engines run as written (`$N` placeholders).
    pub const fn new(text: &'static str) -> Sql {
        Sql { text, sqlite: None, rewritten: OnceLock::new() }
    }

    /// A statement whose dialects differ: both texts, side by side.
    pub const fn dialects(sqlite: &'static str, postgres: &'static str) -> Sql {
        Sql { text: postgres, sqlite: Some(sqlite), rewritten: OnceLock::new() }
    }

    fn for_postgres(&self) -> &str {
        self.text
    }

    fn for_sqlite(&self) -> &str {
        self.rewritten.get_or_init(|| sqlite_placeholders(self.sqlite.unwrap_or(self.text)))
    }
}

/// A statement's text, static or built at run time (a filter).
#[derive(Clone, Copy)]
pub(crate) enum Stmt<'s> {
    Static(&'s Sql),
    /// Written with `$N` placeholders, like static ones.
    Dynamic(&'s str),
}

impl<'s> From<&'s Sql> for Stmt<'s> {
    fn from(s: &'s Sql) -> Self {
        Stmt::Static(s)
    }
}

/// `$N` placeholders become SQLite's `?N` (SQLite reads `$1` as a *named*
/// parameter, numbered by first appearance, which would misbind `$2 … $1`).
pub(crate) fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// A value bound to a placeholder.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Bool(bool),
    Text(&'a str),
    Bytes(&'a [u8]),
    Time(Timestamp),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<u32> for Value<'_> {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(v)
    }
}
impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(v)
    }
}
impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Bytes(v)
    }
}
impl<'a> From<&'a Vec<u8>> for Value<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}
impl From<Timestamp> for Value<'_> {
    fn from(v: Timestamp) -> Self {
        Value::Time(v)
    }
}
impl<'a> From<&'a Id> for Value<'a> {
    fn from(v: &'a Id) -> Self {
        Value::Text(v.as_str())
    }
}
impl<'a> From<&'a TokenDigest> for Value<'a> {
    fn from(v: &'a TokenDigest) -> Self {
        Value::Text(v.as_str())
    }
}
impl<'a> From<&'a Sealed> for Value<'a> {
    fn from(v: &'a Sealed) -> Self {
        Value::Bytes(v.as_bytes())
    }
}
impl<'a> From<&'a kiteline_core::PasswordHash> for Value<'a> {
    fn from(v: &'a kiteline_core::PasswordHash) -> Self {
        Value::Text(v.as_str())
    }
}
impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// `args![a, b, c]`: the values bound to `$1`, `$2`, `$3`.
macro_rules! args {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Value::from($v)),*][..] };
}
pub(crate) use args;

/// A row being read: typed getters over either engine's row.
pub(crate) enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r tokio_postgres::Row),
}

impl Row<'_> {
    /// Column `i` as `T`; a type mismatch is a `Database` error naming no value.
    pub fn get<T: Column>(&self, i: usize) -> Result<T> {
        match self {
            Row::Sqlite(r) => T::from_sqlite(r, i),
            Row::Postgres(r) => T::from_postgres(r, i),
        }
    }
}

/// A type a column can be read as, on either engine.
pub(crate) trait Column: Sized {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self>;
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self>;
}

fn column_type() -> StoreError {
    StoreError::database("a column did not have the expected type", None)
}

/// Implements [`Column`] for a type both drivers read directly.
macro_rules! direct_column {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
                row.get(i).map_err(|_| column_type())
            }
            fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
                row.try_get(i).map_err(|_| column_type())
            }
        }
    )*};
}
direct_column!(String, Option<String>, bool, Option<bool>, Vec<u8>, Option<Vec<u8>>);

/// Civil dates are stored as `YYYY-MM-DD` text on both engines.
impl Column for Option<jiff::civil::Date> {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        Option::<String>::from_sqlite(row, i)?.map(|s| s.parse().map_err(|_| column_type())).transpose()
    }
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        Option::<String>::from_postgres(row, i)?.map(|s| s.parse().map_err(|_| column_type())).transpose()
    }
}

impl Column for jiff::civil::Date {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        Option::<jiff::civil::Date>::from_sqlite(row, i)?.ok_or_else(column_type)
    }
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        Option::<jiff::civil::Date>::from_postgres(row, i)?.ok_or_else(column_type)
    }
}

/// PostgreSQL integers come as INT2, INT4 or INT8; all read as `i64`.
fn pg_int(row: &tokio_postgres::Row, i: usize) -> Result<Option<i64>> {
    use tokio_postgres::types::Type;
    let ty = row.columns().get(i).map(|c| c.type_().clone()).ok_or_else(column_type)?;
    let v = match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(i),
        Type::INT4 => row.try_get::<_, Option<i32>>(i).map(|v| v.map(i64::from)),
        Type::INT2 => row.try_get::<_, Option<i16>>(i).map(|v| v.map(i64::from)),
        _ => return Err(column_type()),
    };
    v.map_err(|_| column_type())
}

impl Column for Option<i64> {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        row.get(i).map_err(|_| column_type())
    }
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        pg_int(row, i)
    }
}

impl Column for i64 {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        Option::<i64>::from_sqlite(row, i)?.ok_or_else(column_type)
    }
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        pg_int(row, i)?.ok_or_else(column_type)
    }
}

impl Column for u32 {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        u32::try_from(i64::from_sqlite(row, i)?).map_err(|_| column_type())
    }
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        u32::try_from(i64::from_postgres(row, i)?).map_err(|_| column_type())
    }
}

impl Column for u64 {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        u64::try_from(i64::from_sqlite(row, i)?).map_err(|_| column_type())
    }
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        u64::try_from(i64::from_postgres(row, i)?).map_err(|_| column_type())
    }
}

impl Column for Option<Timestamp> {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        Option::<i64>::from_sqlite(row, i)?
            .map(|us| Timestamp::from_microsecond(us).map_err(|_| column_type()))
            .transpose()
    }
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        let t: Option<std::time::SystemTime> = row.try_get(i).map_err(|_| column_type())?;
        t.map(|t| Timestamp::try_from(t).map_err(|_| column_type())).transpose()
    }
}

impl Column for Timestamp {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        Option::<Timestamp>::from_sqlite(row, i)?.ok_or_else(column_type)
    }
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        Option::<Timestamp>::from_postgres(row, i)?.ok_or_else(column_type)
    }
}

impl Column for Option<Id> {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        Option::<String>::from_sqlite(row, i)?.map(|s| Id::parse(&s).ok_or_else(malformed_id)).transpose()
    }
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        Option::<String>::from_postgres(row, i)?.map(|s| Id::parse(&s).ok_or_else(malformed_id)).transpose()
    }
}

fn malformed_id() -> StoreError {
    StoreError::database("a stored id is malformed", None)
}

impl Column for Id {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        Option::<Id>::from_sqlite(row, i)?.ok_or_else(column_type)
    }
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        Option::<Id>::from_postgres(row, i)?.ok_or_else(column_type)
    }
}

impl Column for Option<Sealed> {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        Ok(Option::<Vec<u8>>::from_sqlite(row, i)?.map(Sealed::stored))
    }
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        Ok(Option::<Vec<u8>>::from_postgres(row, i)?.map(Sealed::stored))
    }
}

impl Column for Option<kiteline_core::PasswordHash> {
    fn from_sqlite(row: &rusqlite::Row<'_>, i: usize) -> Result<Self> {
        Ok(Option::<String>::from_sqlite(row, i)?.map(kiteline_core::PasswordHash::from_phc))
    }
    fn from_postgres(row: &tokio_postgres::Row, i: usize) -> Result<Self> {
        Ok(Option::<String>::from_postgres(row, i)?.map(kiteline_core::PasswordHash::from_phc))
    }
}

/// A lock an engine takes for the rest of the transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lock {
    /// Applying migrations (nodes starting together apply each once).
    Migrations,
    /// Creating the first administrator.
    FirstAdmin,
    /// Appending to the audit chain (sequence numbers without gaps).
    AuditChain,
    /// One rate-limit key, or one row (a number derived from it).
    Key(i64),
}

impl Lock {
    /// A lock for a named thing (`training_session:<id>`), by digest.
    pub(crate) fn on(name: &str) -> Lock {
        use sha2::Digest;
        let d = sha2::Sha256::digest(name.as_bytes());
        Lock::Key(i64::from_be_bytes(d[..8].try_into().expect("8 bytes")))
    }
}

impl Lock {
    /// The advisory lock's key on PostgreSQL: any fixed numbers shared by
    /// every Kiteline node ("Kiteline" in ASCII, plus one per lock).
    fn key(self) -> i64 {
        const BASE: i64 = 0x4b69_7465_6c69_6e65;
        match self {
            Lock::Migrations => BASE,
            Lock::FirstAdmin => BASE + 1,
            Lock::AuditChain => BASE + 2,
            Lock::Key(k) => k,
        }
    }
}

static ADVISORY_LOCK: Sql = Sql::new("SELECT pg_advisory_xact_lock($1)");

/// A connection in use by one store method: inside a transaction for writes
/// (and snapshot reads), or a plain read-only connection for reads.
pub(crate) struct Tx<'c> {
    conn: Conn<'c>,
}

enum Conn<'c> {
    Sqlite(&'c rusqlite::Connection),
    Postgres(postgres::PgConn<'c>),
}

impl<'c> Tx<'c> {
    pub fn engine(&self) -> Engine {
        match self.conn {
            Conn::Sqlite(_) => Engine::Sqlite,
            Conn::Postgres(_) => Engine::Postgres,
        }
    }

    /// Runs a statement; returns how many rows it changed.
    pub fn execute<'s>(&mut self, sql: impl Into<Stmt<'s>>, params: &[Value<'_>]) -> Result<u64> {
        match &mut self.conn {
            Conn::Sqlite(c) => sqlite::execute(c, sql.into(), params),
            Conn::Postgres(c) => c.execute(sql.into(), params),
        }
    }

    /// Runs a query and maps every row.
    pub fn query<'s, T>(
        &mut self,
        sql: impl Into<Stmt<'s>>,
        params: &[Value<'_>],
        mut map: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.each(sql.into(), params, &mut |row| {
            out.push(map(row)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// The first row, mapped, if there is one.
    pub fn query_opt<'s, T>(
        &mut self,
        sql: impl Into<Stmt<'s>>,
        params: &[Value<'_>],
        map: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        let mut map = Some(map);
        let mut out = None;
        self.each(sql.into(), params, &mut |row| {
            if let Some(m) = map.take() {
                out = Some(m(row)?);
            }
            Ok(false)
        })?;
        Ok(out)
    }

    /// The first row, mapped; `NotFound` if there is none.
    pub fn query_one<'s, T>(
        &mut self,
        sql: impl Into<Stmt<'s>>,
        params: &[Value<'_>],
        map: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.query_opt(sql, params, map)?.ok_or(StoreError::NotFound)
    }

    /// Calls `f` for each row until it returns `false`.
    fn each(&mut self, sql: Stmt<'_>, params: &[Value<'_>], f: &mut dyn FnMut(&Row<'_>) -> Result<bool>) -> Result<()> {
        match &mut self.conn {
            Conn::Sqlite(c) => sqlite::each(c, sql, params, f),
            Conn::Postgres(c) => c.each(sql, params, f),
        }
    }

    /// Takes `lock` until the transaction ends (a no-op on SQLite).
    pub fn lock(&mut self, lock: Lock) -> Result<()> {
        if self.engine() == Engine::Postgres {
            self.query(&ADVISORY_LOCK, args![lock.key()], |_| Ok(()))?;
        }
        Ok(())
    }

    /// Runs several statements of raw SQL with no parameters.
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        match &mut self.conn {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(sqlite::error),
            Conn::Postgres(c) => c.batch(sql).map_err(postgres::error),
        }
    }

    /// Runs a migration's SQL. Its error keeps the engine's message when the
    /// engine reports a schema or syntax problem (whose messages name tables
    /// and columns, never values), so an operator can see what failed.
    pub fn apply_migration(&mut self, sql: &str) -> std::result::Result<(), String> {
        match &mut self.conn {
            Conn::Sqlite(c) => c.execute_batch(sql).map_err(|e| match &e {
                rusqlite::Error::SqliteFailure(f, Some(msg)) if f.code == rusqlite::ErrorCode::Unknown => msg.clone(),
                _ => sqlite::error(e).to_string(),
            }),
            Conn::Postgres(c) => c.batch(sql).map_err(|e| match e.as_db_error() {
                Some(db) if db.code().code().starts_with("42") => format!("{} ({})", db.message(), db.code().code()),
                _ => postgres::error(e).to_string(),
            }),
        }
    }
}

/// How a store method touches the database.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(sqlite::SqliteDb),
    Postgres(postgres::PgDb),
}

impl Db {
    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite(_) => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// Runs `f` in a write transaction; `f`'s error rolls back everything it
    /// did. Answers only once the transaction is committed (on disk).
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        match self {
            Db::Sqlite(db) => db.write(f).await,
            Db::Postgres(db) => db.write(f).await,
        }
    }

    /// Runs `f` on a read-only connection, statement by statement.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        match self {
            Db::Sqlite(db) => db.read(f, false).await,
            Db::Postgres(db) => db.read(f, false).await,
        }
    }

    /// Like [`Db::read`], but every statement sees one consistent snapshot.
    pub async fn snapshot<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        match self {
            Db::Sqlite(db) => db.read(f, true).await,
            Db::Postgres(db) => db.read(f, true).await,
        }
    }
}

fn join_error(_: tokio::task::JoinError) -> StoreError {
    StoreError::database("a database task panicked or was cancelled", None)
}

#[cfg(test)]
mod tests {
    use super::sqlite_placeholders;

    #[test]
    fn placeholders_are_numbered_for_sqlite() {
        assert_eq!(
            sqlite_placeholders("UPDATE t SET a = $2 WHERE b = $1 AND c = $10"),
            "UPDATE t SET a = ?2 WHERE b = ?1 AND c = ?10"
        );
        assert_eq!(sqlite_placeholders("SELECT '$' || x"), "SELECT '$' || x");
    }
}
