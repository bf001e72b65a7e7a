//! The SQLite engine: one bundled database file in WAL mode.
//!
//! Durability: `synchronous=FULL`, so a commit is on disk before it is
//! acknowledged, even across power loss (the principle "acknowledged means on
//! disk" outweighs the fsync per commit at our write rates).
//!
//! Concurrency: one writer connection behind a mutex (SQLite has one writer
//! anyway; queueing in process beats spinning on `SQLITE_BUSY`) and a small
//! pool of read-only connections, which WAL lets run beside the writer. Other
//! processes on the same file (`kiteline user add` while the server runs, or a
//! separate `kiteline worker`) are handled by `BEGIN IMMEDIATE` and a busy
//! timeout. rusqlite is blocking, so every call runs on tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};

use crate::migrations::{self, AppliedMigration};
use crate::{
    ApiToken, ClaimedJob, EmailAddress, Engine, Id, JobRecord, JobState, LinkPurpose, LinkToken, NewJob, NewUser,
    Result, Role, Store, StoreError, StoredDataKey, TokenScope, User, sql,
};

const MAX_IDLE_READERS: usize = 8;

pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
}

impl SqliteStore {
    /// Opens (creating if needed, with mode 0600) the database file at `path`.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let path = path.to_path_buf();
        let p = path.clone();
        let writer = tokio::task::spawn_blocking(move || open_writer(&p)).await.map_err(join_error)??;
        Ok(SqliteStore { path, writer: Arc::new(Mutex::new(writer)), readers: Arc::new(Mutex::new(Vec::new())) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in an immediate transaction on the writer connection.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db_error)?;
            let out = f(&tx)?;
            tx.commit().map_err(db_error)?;
            Ok(out)
        })
        .await
        .map_err(join_error)?
    }

    /// Runs `f` on a pooled read-only connection.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let idle = readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match idle {
                Some(c) => c,
                None => open_reader(&path)?,
            };
            let out = f(&conn);
            let mut pool = readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
            out
        })
        .await
        .map_err(join_error)?
    }
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db_error)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(db_error)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(db_error)?;
    Ok(())
}

fn open_writer(path: &Path) -> Result<Connection> {
    let existed = path.exists();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db_error)?;
    if !existed {
        restrict_permissions(path)?;
    }
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(db_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Database(format!("could not switch the database to WAL mode (got {mode})")));
    }
    configure(&conn)?;
    Ok(conn)
}

fn open_reader(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(db_error)?;
    configure(&conn)?;
    conn.pragma_update(None, "query_only", "ON").map_err(db_error)?;
    Ok(conn)
}

#[cfg(unix)]
fn restrict_permissions(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| StoreError::Database(format!("cannot restrict permissions of the database file: {e}")))
}

#[cfg(not(unix))]
fn restrict_permissions(_: &Path) -> Result<()> {
    Ok(())
}

/// `$N` placeholders to SQLite's `?N`.
fn q(sql: &str) -> String {
    sql.replace('$', "?")
}

fn us(t: Timestamp) -> i64 {
    t.as_microsecond()
}

fn ts(v: i64) -> rusqlite::Result<Timestamp> {
    Timestamp::from_microsecond(v)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e)))
}

fn opt_ts(v: Option<i64>) -> rusqlite::Result<Option<Timestamp>> {
    v.map(ts).transpose()
}

fn id_at(row: &Row<'_>, i: usize) -> rusqlite::Result<Id> {
    let s: String = row.get(i)?;
    Id::parse(&s)
        .ok_or_else(|| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, "malformed id".into()))
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(3)?;
    Ok(User {
        id: id_at(row, 0)?,
        email: row.get(1)?,
        name: row.get(2)?,
        role: Role::parse(&role).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, "unknown role".into())
        })?,
        has_password: row.get(4)?,
        locale: row.get(5)?,
        disabled_at: opt_ts(row.get(6)?)?,
        created_at: ts(row.get(7)?)?,
    })
}

fn api_token_from_row(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    let scope: String = row.get(3)?;
    Ok(ApiToken {
        id: id_at(row, 0)?,
        user_id: id_at(row, 1)?,
        label: row.get(2)?,
        scope: TokenScope::parse(&scope).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, "unknown scope".into())
        })?,
        created_at: ts(row.get(4)?)?,
        last_used_at: opt_ts(row.get(5)?)?,
        revoked_at: opt_ts(row.get(6)?)?,
    })
}

/// Maps a rusqlite error to a [`StoreError`]. SQLite's messages name
/// constraints and columns, never values, so they are safe to keep.
fn db_error(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            let what = msg.as_deref().unwrap_or("constraint");
            let what = what.rsplit(": ").next().unwrap_or(what);
            StoreError::Conflict(what.to_owned())
        }
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        _ => StoreError::Database(e.to_string()),
    }
}

fn join_error(e: tokio::task::JoinError) -> StoreError {
    StoreError::Database(format!("database task failed: {e}"))
}

fn link_from_row(row: &Row<'_>) -> rusqlite::Result<(Id, String, Option<String>, i64)> {
    Ok((id_at(row, 0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn usable_link(conn: &Connection, digest: &str, now: Timestamp) -> Result<Option<LinkToken>> {
    let found = conn
        .prepare_cached(&q(sql::USABLE_LINK))
        .map_err(db_error)?
        .query_row(params![digest, us(now)], link_from_row)
        .optional()
        .map_err(db_error)?;
    let Some((id, purpose, user_id, expires)) = found else {
        return Ok(None);
    };
    Ok(Some(LinkToken {
        id,
        purpose: LinkPurpose::parse(&purpose)?,
        user_id: user_id.as_deref().and_then(Id::parse),
        expires_at: ts(expires).map_err(db_error)?,
    }))
}

fn user_by_id(conn: &Connection, id: &Id) -> Result<Option<User>> {
    conn.prepare_cached(&q(sql::USER_BY_ID))
        .map_err(db_error)?
        .query_row([id.as_str()], user_from_row)
        .optional()
        .map_err(db_error)
}

fn insert_user(tx: &Connection, user: &NewUser, id: &Id, password_hash: Option<&str>, now: Timestamp) -> Result<()> {
    tx.execute(
        &q(sql::INSERT_USER),
        params![id.as_str(), user.email.as_str(), user.name, user.role.as_str(), user.locale, password_hash, us(now)],
    )
    .map_err(db_error)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(db_error)).await
    }

    async fn migrate(&self) -> Result<Vec<AppliedMigration>> {
        self.write(|tx| {
            tx.execute(sql::MIGRATIONS_TABLE, []).map_err(db_error)?;
            let applied: Vec<(i64, String)> = tx
                .prepare(sql::APPLIED_MIGRATIONS)
                .map_err(db_error)?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db_error)?
                .collect::<rusqlite::Result<_>>()
                .map_err(db_error)?;
            let mut done = Vec::new();
            for m in migrations::pending(migrations::SQLITE, &applied)? {
                tx.execute_batch(m.sql).map_err(|e| StoreError::Migration(format!("{} failed: {e}", m.version)))?;
                tx.execute(
                    &q(sql::RECORD_MIGRATION),
                    params![m.version, m.name, m.checksum(), Timestamp::now().to_string()],
                )
                .map_err(db_error)?;
                done.push(AppliedMigration { version: m.version, name: m.name.to_owned() });
            }
            Ok(done)
        })
        .await
    }

    async fn backup_to(&self, path: &Path) -> Result<()> {
        let src = self.path.clone();
        let dest = path.to_path_buf();
        tokio::task::spawn_blocking(move || {
            if dest.exists() {
                return Err(StoreError::Conflict("backup file already exists".into()));
            }
            // A plain connection: VACUUM INTO reads one consistent snapshot
            // while the server keeps writing, and writes a compact copy.
            let conn = Connection::open_with_flags(&src, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(db_error)?;
            conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(db_error)?;
            let dest_str = dest.to_str().ok_or(StoreError::Unsupported("backup path must be UTF-8"))?;
            conn.execute("VACUUM INTO ?1", [dest_str]).map_err(db_error)?;
            restrict_permissions(&dest)
        })
        .await
        .map_err(join_error)?
    }

    async fn create_user(&self, user: NewUser, id: Id, now: Timestamp) -> Result<User> {
        self.write(move |tx| {
            insert_user(tx, &user, &id, None, now)?;
            user_by_id(tx, &id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn user_by_id(&self, id: &Id) -> Result<Option<User>> {
        let id = id.clone();
        self.read(move |c| user_by_id(c, &id)).await
    }

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>> {
        let email = email.as_str().to_owned();
        self.read(move |c| {
            c.prepare_cached(&q(sql::USER_BY_EMAIL))
                .map_err(db_error)?
                .query_row([email], user_from_row)
                .optional()
                .map_err(db_error)
        })
        .await
    }

    async fn password_hash(&self, user_id: &Id) -> Result<Option<String>> {
        let id = user_id.clone();
        self.read(move |c| {
            let h: Option<Option<String>> = c
                .prepare_cached(&q(sql::PASSWORD_HASH))
                .map_err(db_error)?
                .query_row([id.as_str()], |r| r.get(0))
                .optional()
                .map_err(db_error)?;
            Ok(h.flatten())
        })
        .await
    }

    async fn count_active_admins(&self) -> Result<u64> {
        self.read(|c| {
            let n: i64 = c.query_row(sql::COUNT_ACTIVE_ADMINS, [], |r| r.get(0)).map_err(db_error)?;
            Ok(n as u64)
        })
        .await
    }

    async fn create_link(
        &self,
        id: Id,
        purpose: LinkPurpose,
        user_id: Option<&Id>,
        token_digest: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        let user_id = user_id.map(|u| u.as_str().to_owned());
        let digest = token_digest.to_owned();
        self.write(move |tx| {
            if purpose == LinkPurpose::FirstAdmin {
                tx.execute(sql::DELETE_FIRST_ADMIN_LINKS, []).map_err(db_error)?;
            }
            tx.execute(
                &q(sql::INSERT_LINK),
                params![id.as_str(), digest, purpose.as_str(), user_id, us(expires_at), us(now)],
            )
            .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn usable_link(&self, token_digest: &str, now: Timestamp) -> Result<Option<LinkToken>> {
        let digest = token_digest.to_owned();
        self.read(move |c| usable_link(c, &digest, now)).await
    }

    async fn use_set_password_link(&self, token_digest: &str, password_hash: &str, now: Timestamp) -> Result<User> {
        let digest = token_digest.to_owned();
        let hash = password_hash.to_owned();
        self.write(move |tx| {
            let link = usable_link(tx, &digest, now)?.ok_or(StoreError::NotFound)?;
            let user_id = match (link.purpose, link.user_id) {
                (LinkPurpose::SetPassword, Some(u)) => u,
                _ => return Err(StoreError::NotFound),
            };
            if tx.execute(&q(sql::SET_PASSWORD), params![hash, us(now), user_id.as_str()]).map_err(db_error)? != 1 {
                return Err(StoreError::NotFound);
            }
            tx.execute(&q(sql::RETIRE_USER_LINKS), params![us(now), user_id.as_str()]).map_err(db_error)?;
            user_by_id(tx, &user_id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn use_first_admin_link(
        &self,
        token_digest: &str,
        user: NewUser,
        id: Id,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<User> {
        let digest = token_digest.to_owned();
        let hash = password_hash.to_owned();
        self.write(move |tx| {
            let link = usable_link(tx, &digest, now)?.ok_or(StoreError::NotFound)?;
            if link.purpose != LinkPurpose::FirstAdmin {
                return Err(StoreError::NotFound);
            }
            let admins: i64 = tx.query_row(sql::COUNT_ACTIVE_ADMINS, [], |r| r.get(0)).map_err(db_error)?;
            if admins > 0 {
                return Err(StoreError::Conflict("admin exists".into()));
            }
            insert_user(tx, &user, &id, Some(&hash), now)?;
            tx.execute(&q(sql::USE_LINK), params![us(now), link.id.as_str()]).map_err(db_error)?;
            user_by_id(tx, &id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn create_api_token(
        &self,
        id: Id,
        user_id: &Id,
        label: &str,
        scope: TokenScope,
        token_digest: &str,
        now: Timestamp,
    ) -> Result<ApiToken> {
        let token = ApiToken {
            id,
            user_id: user_id.clone(),
            label: label.to_owned(),
            scope,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        let digest = token_digest.to_owned();
        self.write(move |tx| {
            tx.execute(
                &q(sql::INSERT_API_TOKEN),
                params![token.id.as_str(), token.user_id.as_str(), token.label, scope.as_str(), digest, us(now)],
            )
            .map_err(db_error)?;
            Ok(token)
        })
        .await
    }

    async fn api_tokens_of(&self, user_id: &Id) -> Result<Vec<ApiToken>> {
        let id = user_id.clone();
        self.read(move |c| {
            c.prepare_cached(&q(sql::API_TOKENS_OF))
                .map_err(db_error)?
                .query_map([id.as_str()], api_token_from_row)
                .map_err(db_error)?
                .collect::<rusqlite::Result<_>>()
                .map_err(db_error)
        })
        .await
    }

    async fn enqueue_job(&self, job: NewJob, now: Timestamp) -> Result<()> {
        self.write(move |tx| {
            tx.execute(
                &q(sql::INSERT_JOB),
                params![job.id.as_str(), job.kind, job.payload, job.max_attempts, us(job.run_at), us(now)],
            )
            .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn claim_job(&self, worker: &str, now: Timestamp, lease_until: Timestamp) -> Result<Option<ClaimedJob>> {
        let worker = worker.to_owned();
        self.write(move |tx| {
            tx.prepare_cached(&q(&sql::claim_job("")))
                .map_err(db_error)?
                .query_row(params![worker, us(lease_until), us(now)], |r| {
                    Ok(ClaimedJob {
                        id: id_at(r, 0)?,
                        kind: r.get(1)?,
                        payload: r.get(2)?,
                        attempts: r.get(3)?,
                        max_attempts: r.get(4)?,
                    })
                })
                .optional()
                .map_err(db_error)
        })
        .await
    }

    async fn complete_job(&self, id: &Id, worker: &str, now: Timestamp) -> Result<()> {
        let (id, worker) = (id.clone(), worker.to_owned());
        self.write(move |tx| {
            match tx.execute(&q(sql::COMPLETE_JOB), params![us(now), id.as_str(), worker]).map_err(db_error)? {
                1 => Ok(()),
                _ => Err(StoreError::NotFound),
            }
        })
        .await
    }

    async fn fail_job(
        &self,
        id: &Id,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<()> {
        let (id, worker, error) = (id.clone(), worker.to_owned(), error.to_owned());
        self.write(move |tx| {
            let n = match retry_at {
                Some(at) => tx.execute(&q(sql::RETRY_JOB), params![us(at), error, id.as_str(), worker]),
                None => tx.execute(&q(sql::FAIL_JOB), params![us(now), error, id.as_str(), worker]),
            }
            .map_err(db_error)?;
            if n == 1 { Ok(()) } else { Err(StoreError::NotFound) }
        })
        .await
    }

    async fn job(&self, id: &Id) -> Result<Option<JobRecord>> {
        let id = id.clone();
        self.read(move |c| {
            let row = c
                .prepare_cached(&q(sql::JOB_BY_ID))
                .map_err(db_error)?
                .query_row([id.as_str()], |r| {
                    Ok((id_at(r, 0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                })
                .optional()
                .map_err(db_error)?;
            let Some((id, kind, state, attempts, run_at, last_error)) = row else {
                return Ok(None);
            };
            Ok(Some(JobRecord {
                id,
                kind,
                state: JobState::parse(&state)?,
                attempts,
                run_at: ts(run_at).map_err(db_error)?,
                last_error,
            }))
        })
        .await
    }

    async fn job_counts(&self) -> Result<[u64; 4]> {
        self.read(|c| {
            let rows: Vec<(String, i64)> = c
                .prepare_cached(sql::JOB_COUNTS)
                .map_err(db_error)?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(db_error)?
                .collect::<rusqlite::Result<_>>()
                .map_err(db_error)?;
            crate::tally_job_states(rows)
        })
        .await
    }

    async fn enqueue_mail(&self, id: Id, sealed_message: &[u8], job_id: Id, now: Timestamp) -> Result<()> {
        let message = sealed_message.to_vec();
        self.write(move |tx| {
            tx.execute(&q(sql::INSERT_OUTBOX), params![id.as_str(), message, us(now)]).map_err(db_error)?;
            tx.execute(
                &q(sql::INSERT_JOB),
                params![
                    job_id.as_str(),
                    crate::SEND_MAIL_JOB,
                    sql::send_mail_payload(&id),
                    kiteline_core::jobs::DEFAULT_MAX_ATTEMPTS,
                    us(now),
                    us(now)
                ],
            )
            .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn queued_mail(&self, id: &Id) -> Result<Option<Vec<u8>>> {
        let id = id.clone();
        self.read(move |c| {
            let m: Option<Option<Vec<u8>>> = c
                .prepare_cached(&q(sql::QUEUED_MAIL))
                .map_err(db_error)?
                .query_row([id.as_str()], |r| r.get(0))
                .optional()
                .map_err(db_error)?;
            Ok(m.flatten())
        })
        .await
    }

    async fn mark_mail_sent(&self, id: &Id, now: Timestamp) -> Result<()> {
        let id = id.clone();
        self.write(move |tx| {
            tx.execute(&q(sql::MAIL_SENT), params![us(now), id.as_str()]).map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn mark_mail_failed(&self, id: &Id) -> Result<()> {
        let id = id.clone();
        self.write(move |tx| {
            tx.execute(&q(sql::MAIL_FAILED), [id.as_str()]).map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn data_keys(&self) -> Result<Vec<StoredDataKey>> {
        self.read(|c| {
            c.prepare_cached(sql::DATA_KEYS)
                .map_err(db_error)?
                .query_map([], |r| Ok(StoredDataKey { version: r.get(0)?, wrapped: r.get(1)? }))
                .map_err(db_error)?
                .collect::<rusqlite::Result<_>>()
                .map_err(db_error)
        })
        .await
    }

    async fn insert_data_key(&self, key: StoredDataKey, now: Timestamp) -> Result<()> {
        self.write(move |tx| {
            tx.execute(&q(sql::INSERT_DATA_KEY), params![key.version, key.wrapped, us(now)]).map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn rewrap_data_key(&self, version: u32, wrapped: &[u8]) -> Result<()> {
        let wrapped = wrapped.to_vec();
        self.write(move |tx| {
            tx.execute(&q(sql::REWRAP_DATA_KEY), params![wrapped, version]).map_err(db_error)?;
            Ok(())
        })
        .await
    }
}
