//! The PostgreSQL engine, for several stateless Kiteline nodes on one database.
//!
//! A deadpool connection pool; multi-statement writes in one transaction; job
//! claims with `FOR UPDATE SKIP LOCKED`, so concurrent workers on any number of
//! nodes never take the same job; migrations under a transaction-scoped
//! advisory lock, so nodes starting together apply each migration once.
//!
//! Connections are made without TLS: run PostgreSQL on the same host (a Unix
//! socket: `postgres:///kiteline?host=/run/postgresql`) or a private network.

use std::path::Path;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use jiff::Timestamp;
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};

use crate::migrations::{self, AppliedMigration};
use kiteline_core::audit::{AuditFields, GENESIS, anchor_mac, entry_hash};

use crate::{
    Anchor, ApiToken, AuditEvent, AuditFilter, ChainedEntry, Chapter, ClaimedJob, EmailAddress, Engine, Id, JobRecord,
    JobState, LinkPurpose, LinkToken, NewJob, NewUser, ProfileUpdate, Result, Role, SessionRecord, Store, StoreError,
    StoredDataKey, TokenScope, TotpState, User, sql,
};

/// Any fixed number shared by all Kiteline nodes: the migration lock's key.
const MIGRATION_LOCK: i64 = 0x4b69_7465_6c69_6e65; // "Kiteline"

pub struct PgStore {
    pool: Pool,
    audit_key: std::sync::OnceLock<[u8; 32]>,
}

/// Serialises appends to the audit chain across nodes.
const AUDIT_LOCK: i64 = MIGRATION_LOCK + 2;

impl PgStore {
    /// Connects a pool of up to `pool_size` connections. With `schema`, every
    /// connection uses it as its search path (tests give each its own).
    pub async fn connect(url: &str, pool_size: usize, schema: Option<&str>) -> Result<PgStore> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|_| StoreError::Database("the PostgreSQL URL could not be parsed".into()))?;
        match schema {
            Some(schema) => {
                config.options(format!("-c search_path={schema}"));
                config.application_name(format!("kiteline:{schema}"));
            }
            None => {
                config.application_name("kiteline");
            }
        }
        config.connect_timeout(Duration::from_secs(10));
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Database(format!("cannot build the connection pool: {e}")))?;
        let store = PgStore { pool, audit_key: std::sync::OnceLock::new() };
        store.ping().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| StoreError::Database(format!("no database connection: {e}")))
    }
}

fn st(t: Timestamp) -> SystemTime {
    SystemTime::from(t)
}

fn from_st(t: SystemTime) -> Result<Timestamp> {
    Timestamp::try_from(t).map_err(|_| StoreError::Database("timestamp out of range".into()))
}

fn opt(t: Option<SystemTime>) -> Result<Option<Timestamp>> {
    t.map(from_st).transpose()
}

fn id(row: &Row, i: usize) -> Result<Id> {
    Id::parse(row.get::<_, &str>(i)).ok_or_else(|| StoreError::Database("malformed id in database".into()))
}

/// Maps a PostgreSQL error to a [`StoreError`]. Only the message and the
/// constraint name are kept; the `detail` field, which quotes row values, is
/// dropped.
fn db_error(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION
            || *code == SqlState::CHECK_VIOLATION
            || *code == SqlState::FOREIGN_KEY_VIOLATION
        {
            return StoreError::Conflict(db.constraint().unwrap_or("constraint").to_owned());
        }
        return StoreError::Database(format!("{} ({})", db.message(), code.code()));
    }
    StoreError::Database(e.to_string())
}

fn user_from_row(row: &Row) -> Result<User> {
    Ok(User {
        id: id(row, 0)?,
        email: row.get(1),
        name: row.get(2),
        role: Role::parse(row.get(3)).ok_or_else(|| StoreError::Database("unknown role in database".into()))?,
        has_password: row.get(4),
        locale: row.get(5),
        disabled_at: opt(row.get(6))?,
        created_at: from_st(row.get(7))?,
        chapter_id: row.get::<_, Option<&str>>(8).and_then(Id::parse),
        pronouns: row.get(9),
        time_zone: row.get(10),
        languages: row.get(11),
        notify_email: row.get(12),
        notify_sms: row.get(13),
        totp_enabled: row.get(14),
    })
}

async fn user_by_id(c: &impl GenericClient, user_id: &Id) -> Result<Option<User>> {
    c.query_opt(sql::USER_BY_ID, &[&user_id.as_str()]).await.map_err(db_error)?.map(|r| user_from_row(&r)).transpose()
}

async fn usable_link(c: &impl GenericClient, digest: &str, now: Timestamp) -> Result<Option<LinkToken>> {
    let Some(row) = c.query_opt(sql::USABLE_LINK, &[&digest, &st(now)]).await.map_err(db_error)? else {
        return Ok(None);
    };
    Ok(Some(LinkToken {
        id: id(&row, 0)?,
        purpose: LinkPurpose::parse(row.get(1))?,
        user_id: row.get::<_, Option<&str>>(2).and_then(Id::parse),
        expires_at: from_st(row.get(3))?,
    }))
}

async fn insert_user(
    c: &impl GenericClient,
    user: &NewUser,
    user_id: &Id,
    password_hash: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    c.execute(
        sql::INSERT_USER,
        &[
            &user_id.as_str(),
            &user.email.as_str(),
            &user.name,
            &user.role.as_str(),
            &user.locale,
            &password_hash,
            &st(now),
            &user.chapter_id.as_ref().map(Id::as_str),
        ],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

fn api_token_from_row(r: &Row) -> Result<ApiToken> {
    Ok(ApiToken {
        id: id(r, 0)?,
        user_id: id(r, 1)?,
        label: r.get(2),
        scope: TokenScope::parse(r.get(3)).ok_or_else(|| StoreError::Database("unknown scope".into()))?,
        created_at: from_st(r.get(4))?,
        last_used_at: opt(r.get(5))?,
        revoked_at: opt(r.get(6))?,
    })
}

fn one_row(n: u64) -> Result<()> {
    if n == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}

/// Appends one entry to the audit chain inside the caller's transaction.
async fn append_audit(tx: &impl GenericClient, key: &[u8; 32], event: &AuditEvent, now: Timestamp) -> Result<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK]).await.map_err(db_error)?;
    let (prev_seq, prev_hash): (i64, String) = match tx.query_opt(sql::AUDIT_HEAD, &[]).await.map_err(db_error)? {
        Some(r) => (r.get(0), r.get(1)),
        None => match tx.query_opt(sql::AUDIT_ANCHOR, &[]).await.map_err(db_error)? {
            Some(r) => (r.get(0), r.get(1)),
            None => (0, GENESIS.to_owned()),
        },
    };
    let actor = event.actor_text();
    let fields = AuditFields {
        seq: prev_seq + 1,
        at_micros: now.as_microsecond(),
        actor: &actor,
        action: event.action,
        object_type: event.object_type,
        object_id: &event.object_id,
    };
    let hash = entry_hash(key, &prev_hash, &fields);
    tx.execute(
        sql::INSERT_AUDIT,
        &[&fields.seq, &st(now), &actor, &event.action, &event.object_type, &event.object_id, &prev_hash, &hash],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

fn audit_entry(r: &Row) -> Result<ChainedEntry> {
    Ok(ChainedEntry {
        seq: r.get(0),
        at_micros: from_st(r.get(1))?.as_microsecond(),
        actor: r.get(2),
        action: r.get(3),
        object_type: r.get(4),
        object_id: r.get(5),
        prev_hash: r.get(6),
        hash: r.get(7),
    })
}

async fn replace_codes(tx: &impl GenericClient, user_id: &Id, hashes: &[String]) -> Result<()> {
    tx.execute(sql::DELETE_RECOVERY_CODES, &[&user_id.as_str()]).await.map_err(db_error)?;
    for h in hashes {
        tx.execute(sql::INSERT_RECOVERY_CODE, &[&user_id.as_str(), h]).await.map_err(db_error)?;
    }
    Ok(())
}

fn session_from_row(r: &Row) -> Result<SessionRecord> {
    Ok(SessionRecord {
        user_id: id(r, 0)?,
        created_at: from_st(r.get(1))?,
        last_seen_at: from_st(r.get(2))?,
        idle_seconds: r.get(3),
        expires_at: from_st(r.get(4))?,
        second_factor_at: opt(r.get(5))?,
    })
}

impl PgStore {
    fn key(&self) -> Result<[u8; 32]> {
        self.audit_key.get().copied().ok_or(StoreError::Unsupported("the audit key is not set"))
    }
}

#[async_trait]
impl Store for PgStore {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }

    async fn ping(&self) -> Result<()> {
        self.client().await?.simple_query("SELECT 1").await.map_err(db_error)?;
        Ok(())
    }

    async fn migrate(&self) -> Result<Vec<AppliedMigration>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db_error)?;
        tx.batch_execute(sql::MIGRATIONS_TABLE).await.map_err(db_error)?;
        let applied: Vec<(i64, String)> = tx
            .query(sql::APPLIED_MIGRATIONS, &[])
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let mut done = Vec::new();
        for m in migrations::pending(migrations::POSTGRES, &applied)? {
            tx.batch_execute(m.sql)
                .await
                .map_err(|e| StoreError::Migration(format!("{} failed: {}", m.version, db_error(e))))?;
            tx.execute(sql::RECORD_MIGRATION, &[&m.version, &m.name, &m.checksum(), &Timestamp::now().to_string()])
                .await
                .map_err(db_error)?;
            done.push(AppliedMigration { version: m.version, name: m.name.to_owned() });
        }
        tx.commit().await.map_err(db_error)?;
        Ok(done)
    }

    async fn backup_to(&self, _path: &Path) -> Result<()> {
        Err(StoreError::Unsupported(
            "kiteline backup copies SQLite databases only; back up PostgreSQL with pg_dump (for example: pg_dump --format=custom --file=kiteline.dump \"$KITELINE_DATABASE_URL\")",
        ))
    }

    async fn create_user(&self, user: NewUser, user_id: Id, now: Timestamp) -> Result<User> {
        let c = self.client().await?;
        insert_user(&c, &user, &user_id, None, now).await?;
        user_by_id(&c, &user_id).await?.ok_or(StoreError::NotFound)
    }

    async fn user_by_id(&self, user_id: &Id) -> Result<Option<User>> {
        user_by_id(&self.client().await?, user_id).await
    }

    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>> {
        let c = self.client().await?;
        c.query_opt(sql::USER_BY_EMAIL, &[&email.as_str()])
            .await
            .map_err(db_error)?
            .map(|r| user_from_row(&r))
            .transpose()
    }

    async fn password_hash(&self, user_id: &Id) -> Result<Option<String>> {
        let c = self.client().await?;
        let row = c.query_opt(sql::PASSWORD_HASH, &[&user_id.as_str()]).await.map_err(db_error)?;
        Ok(row.and_then(|r| r.get(0)))
    }

    async fn count_active_admins(&self) -> Result<u64> {
        let c = self.client().await?;
        let n: i64 = c.query_one(sql::COUNT_ACTIVE_ADMINS, &[]).await.map_err(db_error)?.get(0);
        Ok(n as u64)
    }

    async fn create_link(
        &self,
        link_id: Id,
        purpose: LinkPurpose,
        user_id: Option<&Id>,
        token_digest: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        if purpose == LinkPurpose::FirstAdmin {
            tx.execute(sql::DELETE_FIRST_ADMIN_LINKS, &[]).await.map_err(db_error)?;
        }
        tx.execute(
            sql::INSERT_LINK,
            &[&link_id.as_str(), &token_digest, &purpose.as_str(), &user_id.map(Id::as_str), &st(expires_at), &st(now)],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn usable_link(&self, token_digest: &str, now: Timestamp) -> Result<Option<LinkToken>> {
        usable_link(&self.client().await?, token_digest, now).await
    }

    async fn use_set_password_link(&self, token_digest: &str, password_hash: &str, now: Timestamp) -> Result<User> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        // Lock the link row so two concurrent uses cannot both succeed.
        tx.execute("SELECT 1 FROM link_tokens WHERE token_hash = $1 FOR UPDATE", &[&token_digest])
            .await
            .map_err(db_error)?;
        let link = usable_link(&tx, token_digest, now).await?.ok_or(StoreError::NotFound)?;
        let user_id = match (link.purpose, link.user_id) {
            (LinkPurpose::SetPassword, Some(u)) => u,
            _ => return Err(StoreError::NotFound),
        };
        one_row(
            tx.execute(sql::SET_PASSWORD, &[&password_hash, &st(now), &user_id.as_str()]).await.map_err(db_error)?,
        )?;
        tx.execute(sql::RETIRE_USER_LINKS, &[&st(now), &user_id.as_str()]).await.map_err(db_error)?;
        let user = user_by_id(&tx, &user_id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(db_error)?;
        Ok(user)
    }

    async fn use_first_admin_link(
        &self,
        token_digest: &str,
        user: NewUser,
        user_id: Id,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<User> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        // Serialise first-admin creation across nodes.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&(MIGRATION_LOCK + 1)]).await.map_err(db_error)?;
        let link = usable_link(&tx, token_digest, now).await?.ok_or(StoreError::NotFound)?;
        if link.purpose != LinkPurpose::FirstAdmin {
            return Err(StoreError::NotFound);
        }
        let admins: i64 = tx.query_one(sql::COUNT_ACTIVE_ADMINS, &[]).await.map_err(db_error)?.get(0);
        if admins > 0 {
            return Err(StoreError::Conflict("admin exists".into()));
        }
        insert_user(&tx, &user, &user_id, Some(password_hash), now).await?;
        one_row(tx.execute(sql::USE_LINK, &[&st(now), &link.id.as_str()]).await.map_err(db_error)?)?;
        let created = user_by_id(&tx, &user_id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(db_error)?;
        Ok(created)
    }

    async fn create_api_token(
        &self,
        token_id: Id,
        user_id: &Id,
        label: &str,
        scope: TokenScope,
        token_digest: &str,
        now: Timestamp,
    ) -> Result<ApiToken> {
        let c = self.client().await?;
        c.execute(
            sql::INSERT_API_TOKEN,
            &[&token_id.as_str(), &user_id.as_str(), &label, &scope.as_str(), &token_digest, &st(now)],
        )
        .await
        .map_err(db_error)?;
        Ok(ApiToken {
            id: token_id,
            user_id: user_id.clone(),
            label: label.to_owned(),
            scope,
            created_at: now,
            last_used_at: None,
            revoked_at: None,
        })
    }

    async fn api_tokens_of(&self, user_id: &Id) -> Result<Vec<ApiToken>> {
        let c = self.client().await?;
        c.query(sql::API_TOKENS_OF, &[&user_id.as_str()])
            .await
            .map_err(db_error)?
            .iter()
            .map(api_token_from_row)
            .collect()
    }

    async fn enqueue_job(&self, job: NewJob, now: Timestamp) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            sql::INSERT_JOB,
            &[&job.id.as_str(), &job.kind, &job.payload, &(job.max_attempts as i32), &st(job.run_at), &st(now)],
        )
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn claim_job(&self, worker: &str, now: Timestamp, lease_until: Timestamp) -> Result<Option<ClaimedJob>> {
        let c = self.client().await?;
        let row = c
            .query_opt(&sql::claim_job("FOR UPDATE SKIP LOCKED"), &[&worker, &st(lease_until), &st(now)])
            .await
            .map_err(db_error)?;
        row.map(|r| {
            Ok(ClaimedJob {
                id: id(&r, 0)?,
                kind: r.get(1),
                payload: r.get(2),
                attempts: r.get::<_, i32>(3) as u32,
                max_attempts: r.get::<_, i32>(4) as u32,
            })
        })
        .transpose()
    }

    async fn complete_job(&self, job_id: &Id, worker: &str, now: Timestamp) -> Result<()> {
        let c = self.client().await?;
        one_row(c.execute(sql::COMPLETE_JOB, &[&st(now), &job_id.as_str(), &worker]).await.map_err(db_error)?)
    }

    async fn fail_job(
        &self,
        job_id: &Id,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<()> {
        let c = self.client().await?;
        let n = match retry_at {
            Some(at) => c.execute(sql::RETRY_JOB, &[&st(at), &error, &job_id.as_str(), &worker]).await,
            None => c.execute(sql::FAIL_JOB, &[&st(now), &error, &job_id.as_str(), &worker]).await,
        }
        .map_err(db_error)?;
        one_row(n)
    }

    async fn job(&self, job_id: &Id) -> Result<Option<JobRecord>> {
        let c = self.client().await?;
        let Some(r) = c.query_opt(sql::JOB_BY_ID, &[&job_id.as_str()]).await.map_err(db_error)? else {
            return Ok(None);
        };
        Ok(Some(JobRecord {
            id: id(&r, 0)?,
            kind: r.get(1),
            state: JobState::parse(r.get(2))?,
            attempts: r.get::<_, i32>(3) as u32,
            run_at: from_st(r.get(4))?,
            last_error: r.get(5),
        }))
    }

    async fn job_counts(&self) -> Result<[u64; 4]> {
        let c = self.client().await?;
        let rows = c.query(sql::JOB_COUNTS, &[]).await.map_err(db_error)?;
        crate::tally_job_states(rows.iter().map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1))).collect())
    }

    async fn enqueue_mail(&self, mail_id: Id, sealed_message: &[u8], job_id: Id, now: Timestamp) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        tx.execute(sql::INSERT_OUTBOX, &[&mail_id.as_str(), &sealed_message, &st(now)]).await.map_err(db_error)?;
        tx.execute(
            sql::INSERT_JOB,
            &[
                &job_id.as_str(),
                &crate::SEND_MAIL_JOB,
                &sql::send_mail_payload(&mail_id),
                &(kiteline_core::jobs::DEFAULT_MAX_ATTEMPTS as i32),
                &st(now),
                &st(now),
            ],
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)
    }

    async fn queued_mail(&self, mail_id: &Id) -> Result<Option<Vec<u8>>> {
        let c = self.client().await?;
        let row = c.query_opt(sql::QUEUED_MAIL, &[&mail_id.as_str()]).await.map_err(db_error)?;
        Ok(row.and_then(|r| r.get(0)))
    }

    async fn mark_mail_sent(&self, mail_id: &Id, now: Timestamp) -> Result<()> {
        let c = self.client().await?;
        c.execute(sql::MAIL_SENT, &[&st(now), &mail_id.as_str()]).await.map_err(db_error)?;
        Ok(())
    }

    async fn mark_mail_failed(&self, mail_id: &Id) -> Result<()> {
        let c = self.client().await?;
        c.execute(sql::MAIL_FAILED, &[&mail_id.as_str()]).await.map_err(db_error)?;
        Ok(())
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let c = self.client().await?;
        c.query(sql::LIST_USERS, &[]).await.map_err(db_error)?.iter().map(user_from_row).collect()
    }

    async fn invite_user(
        &self,
        user: NewUser,
        user_id: Id,
        link_digest: &str,
        link_expires: Timestamp,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<User> {
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        insert_user(&tx, &user, &user_id, None, now).await?;
        let link_id = crate::new_id(now);
        tx.execute(
            sql::INSERT_LINK,
            &[
                &link_id.as_str(),
                &link_digest,
                &LinkPurpose::SetPassword.as_str(),
                &Some(user_id.as_str()),
                &st(link_expires),
                &st(now),
            ],
        )
        .await
        .map_err(db_error)?;
        append_audit(&tx, &key, &audit, now).await?;
        let created = user_by_id(&tx, &user_id).await?.ok_or(StoreError::NotFound)?;
        tx.commit().await.map_err(db_error)?;
        Ok(created)
    }

    async fn update_profile(&self, user_id: &Id, p: ProfileUpdate, now: Timestamp) -> Result<()> {
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        one_row(
            tx.execute(
                sql::UPDATE_PROFILE,
                &[
                    &p.name,
                    &p.pronouns,
                    &p.time_zone,
                    &p.languages,
                    &p.locale,
                    &p.phone,
                    &p.notify_email,
                    &p.notify_sms,
                    &st(now),
                    &user_id.as_str(),
                ],
            )
            .await
            .map_err(db_error)?,
        )?;
        append_audit(&tx, &key, &AuditEvent::new(Some(user_id), "user.profile_update", "user", user_id.as_str()), now)
            .await?;
        tx.commit().await.map_err(db_error)
    }

    async fn user_phone(&self, user_id: &Id) -> Result<Option<Vec<u8>>> {
        let c = self.client().await?;
        Ok(c.query_opt(sql::USER_PHONE, &[&user_id.as_str()]).await.map_err(db_error)?.and_then(|r| r.get(0)))
    }

    async fn set_role(&self, user_id: &Id, role: Role, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        one_row(tx.execute(sql::SET_ROLE, &[&role.as_str(), &st(now), &user_id.as_str()]).await.map_err(db_error)?)?;
        tx.execute(sql::END_USER_SESSIONS, &[&user_id.as_str(), &""]).await.map_err(db_error)?;
        append_audit(&tx, &key, &audit, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn set_disabled(&self, user_id: &Id, disabled: bool, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        if disabled {
            tx.execute(sql::DISABLE_USER, &[&st(now), &user_id.as_str()]).await.map_err(db_error)?;
            tx.execute(sql::END_USER_SESSIONS, &[&user_id.as_str(), &""]).await.map_err(db_error)?;
            user_by_id(&tx, user_id).await?.ok_or(StoreError::NotFound)?;
        } else {
            one_row(tx.execute(sql::ENABLE_USER, &[&st(now), &user_id.as_str()]).await.map_err(db_error)?)?;
        }
        append_audit(&tx, &key, &audit, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn change_password(
        &self,
        user_id: &Id,
        hash: &str,
        keep_session: Option<&str>,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        one_row(tx.execute(sql::CHANGE_PASSWORD, &[&hash, &st(now), &user_id.as_str()]).await.map_err(db_error)?)?;
        tx.execute(sql::END_USER_SESSIONS, &[&user_id.as_str(), &keep_session.unwrap_or("")])
            .await
            .map_err(db_error)?;
        append_audit(&tx, &key, &audit, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn create_chapter(&self, chapter_id: Id, name: &str, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        tx.execute(sql::INSERT_CHAPTER, &[&chapter_id.as_str(), &name, &st(now)]).await.map_err(db_error)?;
        append_audit(&tx, &key, &audit, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn chapters(&self) -> Result<Vec<Chapter>> {
        let c = self.client().await?;
        c.query(sql::CHAPTERS, &[])
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| Ok(Chapter { id: id(r, 0)?, name: r.get(1) }))
            .collect()
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
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        tx.execute(
            sql::INSERT_SESSION,
            &[&digest, &user_id.as_str(), &st(now), &idle_seconds, &st(expires_at), &second_factor_at.map(st)],
        )
        .await
        .map_err(db_error)?;
        append_audit(&tx, &key, &audit, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn session(&self, digest: &str) -> Result<Option<(SessionRecord, User)>> {
        let c = self.client().await?;
        let Some(r) = c.query_opt(sql::SESSION, &[&digest]).await.map_err(db_error)? else { return Ok(None) };
        let rec = session_from_row(&r)?;
        Ok(user_by_id(&c, &rec.user_id).await?.map(|u| (rec, u)))
    }

    async fn touch_session(&self, digest: &str, now: Timestamp) -> Result<()> {
        let c = self.client().await?;
        c.execute(sql::TOUCH_SESSION, &[&st(now), &digest]).await.map_err(db_error)?;
        Ok(())
    }

    async fn rotate_session(
        &self,
        old_digest: &str,
        new_digest: &str,
        second_factor_at: Option<Timestamp>,
    ) -> Result<()> {
        let c = self.client().await?;
        one_row(
            c.execute(sql::ROTATE_SESSION, &[&new_digest, &second_factor_at.map(st), &old_digest])
                .await
                .map_err(db_error)?,
        )
    }

    async fn end_session(&self, digest: &str) -> Result<()> {
        let c = self.client().await?;
        c.execute(sql::END_SESSION, &[&digest]).await.map_err(db_error)?;
        Ok(())
    }

    async fn end_user_sessions(
        &self,
        user_id: &Id,
        except: Option<&str>,
        audit: Option<AuditEvent>,
        now: Timestamp,
    ) -> Result<u64> {
        let key = if audit.is_some() { Some(self.key()?) } else { None };
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        let n =
            tx.execute(sql::END_USER_SESSIONS, &[&user_id.as_str(), &except.unwrap_or("")]).await.map_err(db_error)?;
        if let (Some(event), Some(key)) = (audit, key) {
            append_audit(&tx, &key, &event, now).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(n)
    }

    async fn prune_sessions(&self, now: Timestamp) -> Result<u64> {
        let c = self.client().await?;
        c.execute(
            "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at + idle_seconds * interval '1 second' <= $1",
            &[&st(now)],
        )
        .await
        .map_err(db_error)
    }

    async fn totp_state(&self, user_id: &Id) -> Result<TotpState> {
        let c = self.client().await?;
        let r =
            c.query_opt(sql::TOTP_STATE, &[&user_id.as_str()]).await.map_err(db_error)?.ok_or(StoreError::NotFound)?;
        Ok(TotpState { pending: r.get(0), active: r.get(1), last_step: r.get(2) })
    }

    async fn set_totp_pending(&self, user_id: &Id, sealed: Option<&[u8]>) -> Result<()> {
        let c = self.client().await?;
        one_row(c.execute(sql::SET_TOTP_PENDING, &[&sealed, &user_id.as_str()]).await.map_err(db_error)?)
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
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        one_row(
            tx.execute(sql::ENABLE_TOTP, &[&step, &st(now), &user_id.as_str(), &sealed_secret])
                .await
                .map_err(db_error)?,
        )?;
        replace_codes(&tx, user_id, recovery_hashes).await?;
        append_audit(&tx, &key, &audit, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn accept_totp_step(&self, user_id: &Id, step: i64) -> Result<bool> {
        let c = self.client().await?;
        Ok(c.execute(sql::ACCEPT_TOTP_STEP, &[&step, &user_id.as_str()]).await.map_err(db_error)? == 1)
    }

    async fn disable_totp(&self, user_id: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        one_row(tx.execute(sql::DISABLE_TOTP, &[&st(now), &user_id.as_str()]).await.map_err(db_error)?)?;
        replace_codes(&tx, user_id, &[]).await?;
        append_audit(&tx, &key, &audit, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: &Id,
        hashes: &[String],
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        replace_codes(&tx, user_id, hashes).await?;
        append_audit(&tx, &key, &audit, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn use_recovery_code(&self, user_id: &Id, hash: &str, now: Timestamp) -> Result<bool> {
        let c = self.client().await?;
        Ok(c.execute(sql::USE_RECOVERY_CODE, &[&st(now), &user_id.as_str(), &hash]).await.map_err(db_error)? == 1)
    }

    async fn recovery_codes_left(&self, user_id: &Id) -> Result<u32> {
        let c = self.client().await?;
        let n: i64 = c.query_one(sql::RECOVERY_CODES_LEFT, &[&user_id.as_str()]).await.map_err(db_error)?.get(0);
        Ok(n as u32)
    }

    fn set_audit_key(&self, key: [u8; 32]) {
        let _ = self.audit_key.set(key);
    }

    async fn append_audit(&self, event: AuditEvent, now: Timestamp) -> Result<()> {
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        append_audit(&tx, &key, &event, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<ChainedEntry>> {
        let (query, params) = sql::audit_query(filter);
        let values: Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> = params
            .into_iter()
            .map(|p| -> Box<dyn tokio_postgres::types::ToSql + Sync + Send> {
                match p {
                    sql::AuditParam::Text(s) => Box::new(s),
                    sql::AuditParam::Time(t) => Box::new(st(t)),
                    sql::AuditParam::Int(i) => Box::new(i),
                }
            })
            .collect();
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            values.iter().map(|v| v.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
        let c = self.client().await?;
        c.query(&query, &refs).await.map_err(db_error)?.iter().map(audit_entry).collect()
    }

    async fn audit_chain(&self) -> Result<(Option<Anchor>, Vec<ChainedEntry>)> {
        let mut c = self.client().await?;
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await
            .map_err(db_error)?;
        let anchor = tx.query_opt(sql::AUDIT_ANCHOR, &[]).await.map_err(db_error)?.map(|r| Anchor {
            seq: r.get(0),
            hash: r.get(1),
            mac: r.get(2),
        });
        let entries = tx
            .query(&format!("{} ORDER BY seq", sql::AUDIT_COLUMNS), &[])
            .await
            .map_err(db_error)?
            .iter()
            .map(audit_entry)
            .collect::<Result<Vec<_>>>()?;
        tx.commit().await.map_err(db_error)?;
        Ok((anchor, entries))
    }

    async fn prune_audit(&self, before: Timestamp, now: Timestamp) -> Result<u64> {
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK]).await.map_err(db_error)?;
        let Some(last) = tx.query_opt(sql::AUDIT_LAST_BEFORE, &[&st(before)]).await.map_err(db_error)? else {
            return Ok(0);
        };
        let (seq, hash): (i64, String) = (last.get(0), last.get(1));
        let n = tx.execute(sql::DELETE_AUDIT_UPTO, &[&seq]).await.map_err(db_error)?;
        tx.execute(sql::UPSERT_ANCHOR, &[&seq, &hash, &anchor_mac(&key, seq, &hash), &st(now)])
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(n)
    }

    async fn rate_hit(&self, key: &str, window_start: Timestamp) -> Result<u32> {
        let c = self.client().await?;
        let n: i32 = c.query_one(sql::RATE_HIT, &[&key, &st(window_start)]).await.map_err(db_error)?.get(0);
        Ok(n as u32)
    }

    async fn rate_count(&self, key: &str, window_start: Timestamp) -> Result<u32> {
        let c = self.client().await?;
        let n: Option<i32> =
            c.query_opt(sql::RATE_COUNT, &[&key, &st(window_start)]).await.map_err(db_error)?.map(|r| r.get(0));
        Ok(n.unwrap_or(0) as u32)
    }

    async fn prune_rate_counters(&self, before: Timestamp) -> Result<u64> {
        let c = self.client().await?;
        c.execute(sql::PRUNE_RATE, &[&st(before)]).await.map_err(db_error)
    }

    async fn api_token_by_digest(&self, digest: &str) -> Result<Option<(ApiToken, User)>> {
        let c = self.client().await?;
        let Some(r) = c.query_opt(sql::API_TOKEN_BY_DIGEST, &[&digest]).await.map_err(db_error)? else {
            return Ok(None);
        };
        let token = api_token_from_row(&r)?;
        Ok(user_by_id(&c, &token.user_id).await?.filter(|u| u.disabled_at.is_none()).map(|u| (token, u)))
    }

    async fn touch_api_token(&self, token_id: &Id, now: Timestamp) -> Result<()> {
        let c = self.client().await?;
        c.execute(sql::TOUCH_API_TOKEN, &[&st(now), &token_id.as_str()]).await.map_err(db_error)?;
        Ok(())
    }

    async fn revoke_api_token(&self, token_id: &Id, user_id: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let key = self.key()?;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db_error)?;
        one_row(
            tx.execute(sql::REVOKE_API_TOKEN, &[&st(now), &token_id.as_str(), &user_id.as_str()])
                .await
                .map_err(db_error)?,
        )?;
        append_audit(&tx, &key, &audit, now).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn data_keys(&self) -> Result<Vec<StoredDataKey>> {
        let c = self.client().await?;
        Ok(c.query(sql::DATA_KEYS, &[])
            .await
            .map_err(db_error)?
            .iter()
            .map(|r| StoredDataKey { version: r.get::<_, i32>(0) as u32, wrapped: r.get(1) })
            .collect())
    }

    async fn insert_data_key(&self, key: StoredDataKey, now: Timestamp) -> Result<()> {
        let c = self.client().await?;
        c.execute(sql::INSERT_DATA_KEY, &[&(key.version as i32), &key.wrapped, &st(now)]).await.map_err(db_error)?;
        Ok(())
    }

    async fn rewrap_data_key(&self, version: u32, wrapped: &[u8]) -> Result<()> {
        let c = self.client().await?;
        one_row(c.execute(sql::REWRAP_DATA_KEY, &[&wrapped, &(version as i32)]).await.map_err(db_error)?)
    }
}

/// The parsed form of a PostgreSQL URL, for validating configuration.
pub type PgConfig = tokio_postgres::Config;
