//! The SQLite engine: one bundled database file in WAL mode.
//!
//! Durability: `synchronous=FULL`, so a commit is on disk before it is
//! acknowledged, even across power loss.
//!
//! Writes: one writer thread owns the only write connection (SQLite has one
//! writer anyway; queueing in process beats spinning on `SQLITE_BUSY`). It
//! takes the next write, opens `BEGIN IMMEDIATE`, and — while more writes are
//! already waiting — runs each of them in the same transaction, every one in
//! its own savepoint, so one that fails is rolled back alone. One `COMMIT`
//! (one fsync) then makes the whole group durable, and only after it does
//! any caller get its answer. This is *group commit*: under concurrent load
//! the writer is no longer capped at one fsync per write, and "acknowledged
//! means on disk" still holds. With one write at a time nothing waits:
//! each commits at once, as before.
//!
//! Reads: a small pool of read-only connections, which WAL lets run beside
//! the writer, used on tokio's blocking pool. Other processes on the same
//! file (`kiteline user add` while the server runs, or a separate `kiteline
//! worker`) are handled by `BEGIN IMMEDIATE` and a busy timeout.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::{Conn, Row, Stmt, Tx, Value, join_error, sqlite_placeholders};
use crate::{CommitStats, Constraint, Result, StoreError};

/// Idle read-only connections kept open.
const MAX_IDLE_READERS: usize = 8;
/// Prepared statements cached per connection (every static statement fits).
const STATEMENT_CACHE: usize = 256;
/// The most writes one group commit gathers.
pub(crate) const DEFAULT_MAX_BATCH: usize = 256;

#[derive(Clone)]
pub(crate) struct SqliteDb {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: mpsc::Sender<Box<dyn Unit>>,
    readers: Mutex<Vec<Connection>>,
    stats: Arc<Stats>,
}

#[derive(Default)]
struct Stats {
    commits: AtomicU64,
    writes: AtomicU64,
}

/// One write waiting for the writer thread.
trait Unit: Send {
    /// Runs the write inside the open transaction.
    fn run(&mut self, tx: &mut Tx<'_>) -> Result<()>;
    /// Answers the caller: `Ok` once committed, or why not.
    fn finish(self: Box<Self>, outcome: Result<()>);
}

struct Pending<T, F> {
    f: Option<F>,
    value: Option<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Unit for Pending<T, F>
where
    T: Send,
    F: FnOnce(&mut Tx<'_>) -> Result<T> + Send,
{
    fn run(&mut self, tx: &mut Tx<'_>) -> Result<()> {
        let f = self.f.take().ok_or_else(|| StoreError::database("a write ran twice", None))?;
        self.value = Some(f(tx)?);
        Ok(())
    }

    fn finish(mut self: Box<Self>, outcome: Result<()>) {
        let answer =
            outcome.and_then(|()| self.value.take().ok_or_else(|| StoreError::database("a write has no result", None)));
        // The caller may have gone away (a cancelled request); the write
        // stands either way.
        let _ = self.reply.send(answer);
    }
}

impl SqliteDb {
    /// Opens (creating if needed, with mode 0600) the database file at `path`
    /// and starts its writer thread. `max_batch` 1 turns group commit off.
    pub fn open(path: &Path, max_batch: usize) -> Result<SqliteDb> {
        let writer = open_writer(path)?;
        let (tx, rx) = mpsc::channel::<Box<dyn Unit>>();
        let stats = Arc::new(Stats::default());
        let thread_stats = stats.clone();
        std::thread::Builder::new()
            .name("kiteline-sqlite-writer".into())
            .spawn(move || writer_loop(&writer, &rx, max_batch.max(1), &thread_stats))
            .map_err(|_| StoreError::database("cannot start the SQLite writer thread", None))?;
        Ok(SqliteDb {
            inner: Arc::new(Inner { path: path.to_path_buf(), writer: tx, readers: Mutex::new(Vec::new()), stats }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn stats(&self) -> CommitStats {
        CommitStats {
            commits: self.inner.stats.commits.load(Ordering::Relaxed),
            writes: self.inner.stats.writes.load(Ordering::Relaxed),
        }
    }

    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.inner.writer.send(Box::new(Pending { f: Some(f), value: None, reply })).map_err(|_| writer_gone())?;
        answer.await.map_err(|_| writer_gone())?
    }

    pub async fn read<T, F>(&self, f: F, snapshot: bool) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let idle = inner.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match idle {
                Some(c) => c,
                None => open_reader(&inner.path)?,
            };
            let out = if snapshot {
                // One read transaction: every statement sees the same snapshot.
                conn.execute_batch("BEGIN").map_err(error)?;
                let out = f(&mut Tx { conn: Conn::Sqlite(&conn) });
                conn.execute_batch("COMMIT").map_err(error)?;
                out
            } else {
                f(&mut Tx { conn: Conn::Sqlite(&conn) })
            };
            let mut pool = inner.readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(join_error)?
    }

    /// Writes a consistent copy of the database to `dest`, which must not exist.
    pub async fn backup_to(&self, dest: &Path) -> Result<()> {
        let src = self.inner.path.clone();
        let dest = dest.to_path_buf();
        tokio::task::spawn_blocking(move || {
            if dest.exists() {
                return Err(StoreError::Conflict(Constraint::BackupFileExists));
            }
            // A plain connection: VACUUM INTO reads one consistent snapshot
            // while the server keeps writing, and writes a compact copy.
            let conn = Connection::open_with_flags(&src, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(error)?;
            conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(error)?;
            let dest_str = dest.to_str().ok_or(StoreError::Unsupported("backup path must be UTF-8"))?;
            conn.execute("VACUUM INTO ?1", [dest_str]).map_err(error)?;
            restrict_permissions(&dest)
        })
        .await
        .map_err(join_error)?
    }
}

fn writer_gone() -> StoreError {
    StoreError::database("the SQLite writer thread has stopped", None)
}

fn writer_loop(conn: &Connection, queue: &mpsc::Receiver<Box<dyn Unit>>, max_batch: usize, stats: &Stats) {
    while let Ok(first) = queue.recv() {
        run_group(conn, first, queue, max_batch, stats);
    }
}

/// A statement the writer runs between writes (savepoints, commit).
fn control(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql).and_then(|mut st| st.execute([])).map(|_| ()).map_err(error)
}

/// Runs `first` and, while group commit is on, every write already waiting
/// (up to `max_batch`), in one transaction; answers each after the commit.
fn run_group(
    conn: &Connection,
    first: Box<dyn Unit>,
    queue: &mpsc::Receiver<Box<dyn Unit>>,
    max_batch: usize,
    stats: &Stats,
) {
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        first.finish(Err(e));
        return;
    }
    let grouped = max_batch > 1;
    let mut ran: Vec<Box<dyn Unit>> = Vec::new();
    let mut taken = 0;
    let mut next = Some(first);
    while let Some(mut unit) = next.take() {
        taken += 1;
        let outcome = if grouped { control(conn, "SAVEPOINT write") } else { Ok(()) }.and_then(|()| {
            std::panic::catch_unwind(AssertUnwindSafe(|| unit.run(&mut Tx { conn: Conn::Sqlite(conn) })))
                .unwrap_or_else(|_| Err(StoreError::database("a write panicked", None)))
        });
        match outcome {
            Ok(()) if grouped => match control(conn, "RELEASE write") {
                Ok(()) => ran.push(unit),
                Err(e) => return abort(conn, unit, ran, e),
            },
            Ok(()) => ran.push(unit),
            // SQLite itself rolled the whole transaction back (IO error, full
            // disk): every write in it is lost, so each is told.
            Err(e) if conn.is_autocommit() => return abort(conn, unit, ran, e),
            Err(e) if grouped => {
                // Only this write is undone; the others go on.
                match control(conn, "ROLLBACK TO write").and_then(|()| control(conn, "RELEASE write")) {
                    Ok(()) => unit.finish(Err(e)),
                    Err(undo) => return abort(conn, unit, ran, undo),
                }
            }
            Err(e) => return abort(conn, unit, ran, e),
        }
        if grouped && taken < max_batch {
            next = queue.try_recv().ok();
        }
    }
    match control(conn, "COMMIT") {
        Ok(()) => {
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.writes.fetch_add(ran.len() as u64, Ordering::Relaxed);
            for unit in ran {
                unit.finish(Ok(()));
            }
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            for unit in ran {
                unit.finish(Err(StoreError::database("the commit failed", e.code())));
            }
        }
    }
}

/// Rolls the whole transaction back: `failed` gets its error, every write
/// that ran before it in this group is told it was not committed.
fn abort(conn: &Connection, failed: Box<dyn Unit>, ran: Vec<Box<dyn Unit>>, e: StoreError) {
    if !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let code = e.code();
    failed.finish(Err(e));
    for unit in ran {
        unit.finish(Err(StoreError::database("rolled back with a failed write in the same commit", code.clone())));
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(error)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(error)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(error)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

fn open_writer(path: &Path) -> Result<Connection> {
    let existed = path.exists();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(error)?;
    if !existed {
        restrict_permissions(path)?;
    }
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::database("could not switch the database to WAL mode", None));
    }
    configure(&conn)?;
    Ok(conn)
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(error)?;
    configure(&conn)?;
    conn.pragma_update(None, "query_only", "ON").map_err(error)?;
    Ok(conn)
}

#[cfg(unix)]
pub(crate) fn restrict_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|_| StoreError::database("cannot restrict the permissions of the database file", None))
}

#[cfg(not(unix))]
pub(crate) fn restrict_permissions(_: &Path) -> Result<()> {
    Ok(())
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        use rusqlite::types::Value as V;
        Ok(match *self {
            Value::Null => ToSqlOutput::Owned(V::Null),
            Value::Int(i) => ToSqlOutput::Owned(V::Integer(i)),
            Value::Bool(b) => ToSqlOutput::Owned(V::Integer(i64::from(b))),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Value::Time(t) => ToSqlOutput::Owned(V::Integer(t.as_microsecond())),
        })
    }
}

fn prepare<'c>(c: &'c Connection, sql: Stmt<'_>) -> Result<rusqlite::CachedStatement<'c>> {
    match sql {
        Stmt::Static(s) => c.prepare_cached(s.for_sqlite()),
        Stmt::Dynamic(text) => c.prepare_cached(&sqlite_placeholders(text)),
    }
    .map_err(error)
}

pub(super) fn execute(c: &Connection, sql: Stmt<'_>, params: &[Value<'_>]) -> Result<u64> {
    let n = prepare(c, sql)?.execute(rusqlite::params_from_iter(params)).map_err(error)?;
    Ok(n as u64)
}

pub(super) fn each(
    c: &Connection,
    sql: Stmt<'_>,
    params: &[Value<'_>],
    f: &mut dyn FnMut(&Row<'_>) -> Result<bool>,
) -> Result<()> {
    let mut st = prepare(c, sql)?;
    let mut rows = st.query(rusqlite::params_from_iter(params)).map_err(error)?;
    while let Some(r) = rows.next().map_err(error)? {
        if !f(&Row::Sqlite(r))? {
            break;
        }
    }
    Ok(())
}

/// Maps a rusqlite error to a [`StoreError`] that names what failed by code,
/// never by value: a constraint becomes its [`Constraint`].
pub(super) fn error(e: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    match &e {
        E::SqliteFailure(f, msg) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::Conflict(Constraint::from_sqlite(f.extended_code, msg.as_deref()))
        }
        E::QueryReturnedNoRows => StoreError::NotFound,
        E::SqliteFailure(f, _) => {
            StoreError::database("SQLite refused the statement", Some(format!("{:?}/{}", f.code, f.extended_code)))
        }
        E::SqlInputError { .. } => StoreError::database("SQLite could not parse a statement", None),
        E::InvalidParameterCount(..) => StoreError::database("a statement got the wrong number of values", None),
        E::InvalidColumnType(..) | E::FromSqlConversionFailure(..) | E::IntegralValueOutOfRange(..) => {
            StoreError::database("a column did not have the expected type", None)
        }
        _ => StoreError::database("SQLite driver error", None),
    }
}
