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
use crate::{
    ApiToken, ClaimedJob, EmailAddress, Engine, Id, JobRecord, JobState, LinkPurpose, LinkToken, NewJob, NewUser,
    Result, Role, Store, StoreError, StoredDataKey, TokenScope, User, sql,
};

/// Any fixed number shared by all Kiteline nodes: the migration lock's key.
const MIGRATION_LOCK: i64 = 0x4b69_7465_6c69_6e65; // "Kiteline"

pub struct PgStore {
    pool: Pool,
}

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
        let store = PgStore { pool };
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
        ],
    )
    .await
    .map_err(db_error)?;
    Ok(())
}

fn one_row(n: u64) -> Result<()> {
    if n == 1 { Ok(()) } else { Err(StoreError::NotFound) }
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
            .map(|r| {
                Ok(ApiToken {
                    id: id(r, 0)?,
                    user_id: id(r, 1)?,
                    label: r.get(2),
                    scope: TokenScope::parse(r.get(3)).ok_or_else(|| StoreError::Database("unknown scope".into()))?,
                    created_at: from_st(r.get(4))?,
                    last_used_at: opt(r.get(5))?,
                    revoked_at: opt(r.get(6))?,
                })
            })
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
