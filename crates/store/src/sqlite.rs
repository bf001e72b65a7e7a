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
use kiteline_core::audit::{AuditFields, GENESIS, anchor_mac, entry_hash};

use crate::{
    Anchor, ApiToken, AuditEvent, AuditFilter, ChainedEntry, Chapter, ClaimedJob, EmailAddress, Engine, Id, JobRecord,
    JobState, LinkPurpose, LinkToken, NewJob, NewUser, ProfileUpdate, Result, Role, SessionRecord, Store, StoreError,
    StoredDataKey, TokenScope, TotpState, User, sql,
};

const MAX_IDLE_READERS: usize = 8;

pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    audit_key: std::sync::OnceLock<[u8; 32]>,
}

impl SqliteStore {
    /// Opens (creating if needed, with mode 0600) the database file at `path`.
    pub async fn open(path: &Path) -> Result<SqliteStore> {
        let path = path.to_path_buf();
        let p = path.clone();
        let writer = tokio::task::spawn_blocking(move || open_writer(&p)).await.map_err(join_error)??;
        Ok(SqliteStore {
            path,
            writer: Arc::new(Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            audit_key: std::sync::OnceLock::new(),
        })
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
    let chapter: Option<String> = row.get(8)?;
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
        chapter_id: chapter.as_deref().and_then(Id::parse),
        pronouns: row.get(9)?,
        time_zone: row.get(10)?,
        languages: row.get(11)?,
        notify_email: row.get(12)?,
        notify_sms: row.get(13)?,
        totp_enabled: row.get(14)?,
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
        params![
            id.as_str(),
            user.email.as_str(),
            user.name,
            user.role.as_str(),
            user.locale,
            password_hash,
            us(now),
            user.chapter_id.as_ref().map(Id::as_str)
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

fn audit_head(tx: &Connection) -> Result<(i64, String)> {
    let head: Option<(i64, String)> =
        tx.query_row(sql::AUDIT_HEAD, [], |r| Ok((r.get(0)?, r.get(1)?))).optional().map_err(db_error)?;
    if let Some(h) = head {
        return Ok(h);
    }
    let anchor: Option<(i64, String)> =
        tx.query_row(sql::AUDIT_ANCHOR, [], |r| Ok((r.get(0)?, r.get(1)?))).optional().map_err(db_error)?;
    Ok(anchor.unwrap_or((0, GENESIS.to_owned())))
}

/// Appends one entry to the audit chain inside the caller's transaction.
fn append_audit(tx: &Connection, key: &[u8; 32], event: &AuditEvent, now: Timestamp) -> Result<()> {
    let (prev_seq, prev_hash) = audit_head(tx)?;
    let actor = event.actor_text();
    let fields = AuditFields {
        seq: prev_seq + 1,
        at_micros: us(now),
        actor: &actor,
        action: event.action,
        object_type: event.object_type,
        object_id: &event.object_id,
    };
    let hash = entry_hash(key, &prev_hash, &fields);
    tx.execute(
        &q(sql::INSERT_AUDIT),
        params![fields.seq, fields.at_micros, actor, event.action, event.object_type, event.object_id, prev_hash, hash],
    )
    .map_err(db_error)?;
    Ok(())
}

fn audit_entry(r: &Row<'_>) -> rusqlite::Result<ChainedEntry> {
    Ok(ChainedEntry {
        seq: r.get(0)?,
        at_micros: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        object_type: r.get(4)?,
        object_id: r.get(5)?,
        prev_hash: r.get(6)?,
        hash: r.get(7)?,
    })
}

fn replace_codes(tx: &Connection, user_id: &Id, hashes: &[String]) -> Result<()> {
    tx.execute(&q(sql::DELETE_RECOVERY_CODES), [user_id.as_str()]).map_err(db_error)?;
    for h in hashes {
        tx.execute(&q(sql::INSERT_RECOVERY_CODE), params![user_id.as_str(), h]).map_err(db_error)?;
    }
    Ok(())
}

fn one(n: usize) -> Result<()> {
    if n == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}

impl SqliteStore {
    fn key(&self) -> Result<[u8; 32]> {
        self.audit_key.get().copied().ok_or(StoreError::Unsupported("the audit key is not set"))
    }

    /// Runs `f` and appends `event` to the audit log, in one transaction.
    async fn audited<T, F>(&self, event: AuditEvent, now: Timestamp, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let key = self.key()?;
        self.write(move |tx| {
            let out = f(tx)?;
            append_audit(tx, &key, &event, now)?;
            Ok(out)
        })
        .await
    }
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

    async fn list_users(&self) -> Result<Vec<User>> {
        self.read(|c| {
            c.prepare_cached(&q(sql::LIST_USERS))
                .map_err(db_error)?
                .query_map([], user_from_row)
                .map_err(db_error)?
                .collect::<rusqlite::Result<_>>()
                .map_err(db_error)
        })
        .await
    }

    async fn invite_user(
        &self,
        user: NewUser,
        id: Id,
        link_digest: &str,
        link_expires: Timestamp,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<User> {
        let digest = link_digest.to_owned();
        let link_id = crate::new_id(now);
        self.audited(audit, now, move |tx| {
            insert_user(tx, &user, &id, None, now)?;
            tx.execute(
                &q(sql::INSERT_LINK),
                params![
                    link_id.as_str(),
                    digest,
                    LinkPurpose::SetPassword.as_str(),
                    id.as_str(),
                    us(link_expires),
                    us(now)
                ],
            )
            .map_err(db_error)?;
            user_by_id(tx, &id)?.ok_or(StoreError::NotFound)
        })
        .await
    }

    async fn update_profile(&self, user_id: &Id, p: ProfileUpdate, now: Timestamp) -> Result<()> {
        let id = user_id.clone();
        let event = AuditEvent::new(Some(user_id), "user.profile_update", "user", user_id.as_str());
        self.audited(event, now, move |tx| {
            one(tx
                .execute(
                    &q(sql::UPDATE_PROFILE),
                    params![
                        p.name,
                        p.pronouns,
                        p.time_zone,
                        p.languages,
                        p.locale,
                        p.phone,
                        p.notify_email,
                        p.notify_sms,
                        us(now),
                        id.as_str()
                    ],
                )
                .map_err(db_error)?)
        })
        .await
    }

    async fn user_phone(&self, user_id: &Id) -> Result<Option<Vec<u8>>> {
        let id = user_id.clone();
        self.read(move |c| {
            let v: Option<Option<Vec<u8>>> =
                c.query_row(&q(sql::USER_PHONE), [id.as_str()], |r| r.get(0)).optional().map_err(db_error)?;
            Ok(v.flatten())
        })
        .await
    }

    async fn set_role(&self, user_id: &Id, role: Role, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let id = user_id.clone();
        self.audited(audit, now, move |tx| {
            one(tx.execute(&q(sql::SET_ROLE), params![role.as_str(), us(now), id.as_str()]).map_err(db_error)?)?;
            tx.execute(&q(sql::END_USER_SESSIONS), params![id.as_str(), ""]).map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn set_disabled(&self, user_id: &Id, disabled: bool, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let id = user_id.clone();
        self.audited(audit, now, move |tx| {
            if disabled {
                tx.execute(&q(sql::DISABLE_USER), params![us(now), id.as_str()]).map_err(db_error)?;
                tx.execute(&q(sql::END_USER_SESSIONS), params![id.as_str(), ""]).map_err(db_error)?;
                user_by_id(tx, &id)?.map(|_| ()).ok_or(StoreError::NotFound)
            } else {
                one(tx.execute(&q(sql::ENABLE_USER), params![us(now), id.as_str()]).map_err(db_error)?)
            }
        })
        .await
    }

    async fn change_password(
        &self,
        user_id: &Id,
        hash: &str,
        keep_session: Option<&str>,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let (id, hash, keep) = (user_id.clone(), hash.to_owned(), keep_session.unwrap_or("").to_owned());
        self.audited(audit, now, move |tx| {
            one(tx.execute(&q(sql::CHANGE_PASSWORD), params![hash, us(now), id.as_str()]).map_err(db_error)?)?;
            tx.execute(&q(sql::END_USER_SESSIONS), params![id.as_str(), keep]).map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn create_chapter(&self, id: Id, name: &str, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let name = name.to_owned();
        self.audited(audit, now, move |tx| {
            tx.execute(&q(sql::INSERT_CHAPTER), params![id.as_str(), name, us(now)]).map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn chapters(&self) -> Result<Vec<Chapter>> {
        self.read(|c| {
            c.prepare_cached(sql::CHAPTERS)
                .map_err(db_error)?
                .query_map([], |r| Ok(Chapter { id: id_at(r, 0)?, name: r.get(1)? }))
                .map_err(db_error)?
                .collect::<rusqlite::Result<_>>()
                .map_err(db_error)
        })
        .await
    }

    async fn create_session(
        &self,
        digest: &str,
        user_id: &Id,
        idle_seconds: i64,
        expires_at: Timestamp,
        second_factor_at: Option<Timestamp>,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let (digest, id) = (digest.to_owned(), user_id.clone());
        self.audited(audit, now, move |tx| {
            tx.execute(
                &q(sql::INSERT_SESSION),
                params![digest, id.as_str(), us(now), idle_seconds, us(expires_at), second_factor_at.map(us)],
            )
            .map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn session(&self, digest: &str) -> Result<Option<(SessionRecord, User)>> {
        let digest = digest.to_owned();
        self.read(move |c| {
            let rec = c
                .prepare_cached(&q(sql::SESSION))
                .map_err(db_error)?
                .query_row([digest], |r| {
                    Ok(SessionRecord {
                        user_id: id_at(r, 0)?,
                        created_at: ts(r.get(1)?)?,
                        last_seen_at: ts(r.get(2)?)?,
                        idle_seconds: r.get(3)?,
                        expires_at: ts(r.get(4)?)?,
                        second_factor_at: opt_ts(r.get(5)?)?,
                    })
                })
                .optional()
                .map_err(db_error)?;
            let Some(rec) = rec else { return Ok(None) };
            Ok(user_by_id(c, &rec.user_id)?.map(|u| (rec, u)))
        })
        .await
    }

    async fn touch_session(&self, digest: &str, now: Timestamp) -> Result<()> {
        let digest = digest.to_owned();
        self.write(move |tx| {
            tx.execute(&q(sql::TOUCH_SESSION), params![us(now), digest]).map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn rotate_session(
        &self,
        old_digest: &str,
        new_digest: &str,
        second_factor_at: Option<Timestamp>,
    ) -> Result<()> {
        let (old, new) = (old_digest.to_owned(), new_digest.to_owned());
        self.write(move |tx| {
            one(tx.execute(&q(sql::ROTATE_SESSION), params![new, second_factor_at.map(us), old]).map_err(db_error)?)
        })
        .await
    }

    async fn end_session(&self, digest: &str) -> Result<()> {
        let digest = digest.to_owned();
        self.write(move |tx| {
            tx.execute(&q(sql::END_SESSION), [digest]).map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn end_user_sessions(
        &self,
        user_id: &Id,
        except: Option<&str>,
        audit: Option<AuditEvent>,
        now: Timestamp,
    ) -> Result<u64> {
        let (id, keep) = (user_id.clone(), except.unwrap_or("").to_owned());
        let key = if audit.is_some() { Some(self.key()?) } else { None };
        self.write(move |tx| {
            let n = tx.execute(&q(sql::END_USER_SESSIONS), params![id.as_str(), keep]).map_err(db_error)?;
            if let (Some(event), Some(key)) = (audit, key) {
                append_audit(tx, &key, &event, now)?;
            }
            Ok(n as u64)
        })
        .await
    }

    async fn prune_sessions(&self, now: Timestamp) -> Result<u64> {
        self.write(move |tx| {
            let n = tx
                .execute(
                    "DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at + idle_seconds * 1000000 <= ?1",
                    [us(now)],
                )
                .map_err(db_error)?;
            Ok(n as u64)
        })
        .await
    }

    async fn totp_state(&self, user_id: &Id) -> Result<TotpState> {
        let id = user_id.clone();
        self.read(move |c| {
            c.query_row(&q(sql::TOTP_STATE), [id.as_str()], |r| {
                Ok(TotpState { pending: r.get(0)?, active: r.get(1)?, last_step: r.get(2)? })
            })
            .map_err(db_error)
        })
        .await
    }

    async fn set_totp_pending(&self, user_id: &Id, sealed: Option<&[u8]>) -> Result<()> {
        let (id, sealed) = (user_id.clone(), sealed.map(<[u8]>::to_vec));
        self.write(move |tx| {
            one(tx.execute(&q(sql::SET_TOTP_PENDING), params![sealed, id.as_str()]).map_err(db_error)?)
        })
        .await
    }

    async fn enable_totp(
        &self,
        user_id: &Id,
        sealed_secret: &[u8],
        step: i64,
        recovery_hashes: &[String],
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let (id, hashes, secret) = (user_id.clone(), recovery_hashes.to_vec(), sealed_secret.to_vec());
        self.audited(audit, now, move |tx| {
            one(tx.execute(&q(sql::ENABLE_TOTP), params![step, us(now), id.as_str(), secret]).map_err(db_error)?)?;
            replace_codes(tx, &id, &hashes)
        })
        .await
    }

    async fn accept_totp_step(&self, user_id: &Id, step: i64) -> Result<bool> {
        let id = user_id.clone();
        self.write(move |tx| {
            Ok(tx.execute(&q(sql::ACCEPT_TOTP_STEP), params![step, id.as_str()]).map_err(db_error)? == 1)
        })
        .await
    }

    async fn disable_totp(&self, user_id: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let id = user_id.clone();
        self.audited(audit, now, move |tx| {
            one(tx.execute(&q(sql::DISABLE_TOTP), params![us(now), id.as_str()]).map_err(db_error)?)?;
            replace_codes(tx, &id, &[])
        })
        .await
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &Id,
        hashes: &[String],
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let (id, hashes) = (user_id.clone(), hashes.to_vec());
        self.audited(audit, now, move |tx| replace_codes(tx, &id, &hashes)).await
    }

    async fn use_recovery_code(&self, user_id: &Id, hash: &str, now: Timestamp) -> Result<bool> {
        let (id, hash) = (user_id.clone(), hash.to_owned());
        self.write(move |tx| {
            Ok(tx.execute(&q(sql::USE_RECOVERY_CODE), params![us(now), id.as_str(), hash]).map_err(db_error)? == 1)
        })
        .await
    }

    async fn recovery_codes_left(&self, user_id: &Id) -> Result<u32> {
        let id = user_id.clone();
        self.read(move |c| c.query_row(&q(sql::RECOVERY_CODES_LEFT), [id.as_str()], |r| r.get(0)).map_err(db_error))
            .await
    }

    fn set_audit_key(&self, key: [u8; 32]) {
        let _ = self.audit_key.set(key);
    }

    async fn append_audit(&self, event: AuditEvent, now: Timestamp) -> Result<()> {
        self.audited(event, now, |_| Ok(())).await
    }

    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<ChainedEntry>> {
        let (query, params) = sql::audit_query(filter);
        self.read(move |c| {
            let values: Vec<rusqlite::types::Value> = params
                .into_iter()
                .map(|p| match p {
                    sql::AuditParam::Text(s) => rusqlite::types::Value::Text(s),
                    sql::AuditParam::Time(t) => rusqlite::types::Value::Integer(us(t)),
                    sql::AuditParam::Int(i) => rusqlite::types::Value::Integer(i),
                })
                .collect();
            c.prepare(&q(&query))
                .map_err(db_error)?
                .query_map(rusqlite::params_from_iter(values), audit_entry)
                .map_err(db_error)?
                .collect::<rusqlite::Result<_>>()
                .map_err(db_error)
        })
        .await
    }

    async fn audit_chain(&self) -> Result<(Option<Anchor>, Vec<ChainedEntry>)> {
        self.read(|c| {
            // One read transaction, so anchor and entries are one snapshot.
            c.execute_batch("BEGIN").map_err(db_error)?;
            let anchor = c
                .query_row(sql::AUDIT_ANCHOR, [], |r| Ok(Anchor { seq: r.get(0)?, hash: r.get(1)?, mac: r.get(2)? }))
                .optional()
                .map_err(db_error);
            let entries = c
                .prepare(&format!("{} ORDER BY seq", sql::AUDIT_COLUMNS))
                .and_then(|mut st| st.query_map([], audit_entry)?.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(db_error);
            c.execute_batch("COMMIT").map_err(db_error)?;
            Ok((anchor?, entries?))
        })
        .await
    }

    async fn prune_audit(&self, before: Timestamp, now: Timestamp) -> Result<u64> {
        let key = self.key()?;
        self.write(move |tx| {
            let last: Option<(i64, String)> = tx
                .query_row(&q(sql::AUDIT_LAST_BEFORE), [us(before)], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(db_error)?;
            let Some((seq, hash)) = last else { return Ok(0) };
            let n = tx.execute(&q(sql::DELETE_AUDIT_UPTO), [seq]).map_err(db_error)?;
            tx.execute(&q(sql::UPSERT_ANCHOR), params![seq, hash, anchor_mac(&key, seq, &hash), us(now)])
                .map_err(db_error)?;
            Ok(n as u64)
        })
        .await
    }

    async fn rate_hit(&self, key: &str, window_start: Timestamp) -> Result<u32> {
        let key = key.to_owned();
        self.write(move |tx| {
            tx.query_row(&q(sql::RATE_HIT), params![key, us(window_start)], |r| r.get(0)).map_err(db_error)
        })
        .await
    }

    async fn rate_count(&self, key: &str, window_start: Timestamp) -> Result<u32> {
        let key = key.to_owned();
        self.read(move |c| {
            let n: Option<u32> = c
                .query_row(&q(sql::RATE_COUNT), params![key, us(window_start)], |r| r.get(0))
                .optional()
                .map_err(db_error)?;
            Ok(n.unwrap_or(0))
        })
        .await
    }

    async fn prune_rate_counters(&self, before: Timestamp) -> Result<u64> {
        self.write(move |tx| Ok(tx.execute(&q(sql::PRUNE_RATE), [us(before)]).map_err(db_error)? as u64)).await
    }

    async fn api_token_by_digest(&self, digest: &str) -> Result<Option<(ApiToken, User)>> {
        let digest = digest.to_owned();
        self.read(move |c| {
            let tok = c
                .prepare_cached(&q(sql::API_TOKEN_BY_DIGEST))
                .map_err(db_error)?
                .query_row([digest], api_token_from_row)
                .optional()
                .map_err(db_error)?;
            let Some(tok) = tok else { return Ok(None) };
            Ok(user_by_id(c, &tok.user_id)?.filter(|u| u.disabled_at.is_none()).map(|u| (tok, u)))
        })
        .await
    }

    async fn touch_api_token(&self, id: &Id, now: Timestamp) -> Result<()> {
        let id = id.clone();
        self.write(move |tx| {
            tx.execute(&q(sql::TOUCH_API_TOKEN), params![us(now), id.as_str()]).map_err(db_error)?;
            Ok(())
        })
        .await
    }

    async fn revoke_api_token(&self, id: &Id, user_id: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let (id, user) = (id.clone(), user_id.clone());
        self.audited(audit, now, move |tx| {
            one(tx
                .execute(&q(sql::REVOKE_API_TOKEN), params![us(now), id.as_str(), user.as_str()])
                .map_err(db_error)?)
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
