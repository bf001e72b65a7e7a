//! Kiteline's storage: one [`Store`], two engines, organised by area.
//!
//! A [`Store`] runs on a bundled SQLite file (WAL, `synchronous=FULL`, group
//! commit) for a small group on one server, or on PostgreSQL for several
//! stateless nodes. Every store method is written once, over the small layer
//! in `db/` that each engine implements (connection and transaction, binding
//! one value type, typed row getters, engine-specific locks); the SQL text is
//! shared, and where the dialects differ both texts sit side by side.
//!
//! Each area keeps its records, SQL and methods together: `users` (accounts,
//! single-use links, chapters), `sessions`, `second_factor`, `api_tokens`,
//! `audit`, `jobs`, `outbox`, `rate` (shared counters) and `keys` (wrapped
//! data keys). The areas to come (volunteers, training, shifts, calls, people
//! inside, facilities, follow-ups, mailings, campaigns, petitions, ledger,
//! replies) each get a module of the same shape.
//!
//! Architecture invariants:
//! * One user action is one store method, one transaction, its audit entry
//!   included: methods that change something sensitive take an
//!   [`AuditEvent`] and append it in the same transaction.
//! * Stores never render HTML and never see plaintext of sealed fields: they
//!   take and return [`Sealed`], which only the [`vault::Vault`] can make.
//! * Errors never carry row values ([`StoreError`]), so they are safe to log.
//! * Time is passed in (`now`), never read from the database clock, so tests
//!   control it and several nodes agree.

use std::path::Path;
use std::sync::{Arc, RwLock};

use jiff::Timestamp;
pub use kiteline_core::audit::Action;
pub use kiteline_core::{EmailAddress, Id, PasswordHash, Role, TokenDigest};

mod api_tokens;
mod applications;
mod audit;
mod db;
mod error;
mod jobs;
mod keys;
mod migrations;
mod org;
mod outbox;
mod rate;
mod second_factor;
mod sessions;
mod shifts;
pub mod testing;
mod training;
mod users;
pub mod vault;

pub use api_tokens::{ApiToken, NewApiToken, TokenScope};
pub use applications::{
    Acceptance, Application, ApplicationRecord, ApplicationStatus, Decide, Decision, NewApplication, Submitted,
};
pub use audit::{Anchor, AuditEvent, AuditFilter, ChainedEntry};
pub use error::{Constraint, Result, StoreError};
pub use jobs::{ClaimedJob, JobRecord, JobState, NewJob};
pub use keys::StoredDataKey;
pub use migrations::AppliedMigration;
pub use org::{Logo, OrgProfile, OrgProfileUpdate, ProgramUpdate};
pub use outbox::{NewMail, SEND_MAIL_JOB};
pub use rate::{Attempt, Limit};
pub use second_factor::{Enrolment, TotpState};
pub use sessions::SessionRecord;
pub use sessions::{NewSession, SessionInfo};
pub use shifts::{
    COVER_REQUEST_JOB, CoverRequest, SHIFT_ASK_JOB, SHIFT_REMINDER_JOB, Schedule, ScheduleSettings, Shift, ShiftSignUp,
    ShiftStat, SignUpAsk, StoredException, WAITLIST_OFFER_JOB, WaitEntry, WaitState, day_code, day_from_code,
};
pub use training::{
    Completion, Module, ModuleInput, NewQualification, NewTrainingSession, Qualification, SignUp, Standing,
    TrainingSession,
};
pub use users::{Chapter, Invitation, LinkPurpose, LinkToken, NewLink, NewUser, ProfileUpdate, User};
pub use vault::Sealed;

use db::{Db, Lock, Sql, Tx, args};

/// Which engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// How a SQLite store is opened.
#[derive(Clone, Copy, Debug)]
pub struct SqliteOptions {
    /// The most concurrent writes one commit gathers; 1 turns group commit off.
    pub max_batch: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { max_batch: db::sqlite::DEFAULT_MAX_BATCH }
    }
}

/// Commits and the writes they carried since the store was opened (SQLite);
/// `writes / commits` is the average size of a group commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommitStats {
    pub commits: u64,
    pub writes: u64,
}

/// Everything Kiteline keeps, on either engine. Shared as [`SharedStore`];
/// methods take `now` where the time matters.
pub struct Store {
    db: Db,
    keys: RwLock<Option<StoreKeys>>,
}

/// The keys a store needs from the key file: the audit chain's, and the one
/// of the MAC each user row carries. Both derive from the blind-index key
/// alone, so they exist before the database is open (migrations use them).
#[derive(Clone, Copy)]
pub struct StoreKeys {
    pub audit: [u8; 32],
    pub user_rows: [u8; 32],
}

impl StoreKeys {
    pub fn from_blind(blind: &kiteline_core::crypto::SecretKey) -> StoreKeys {
        StoreKeys {
            audit: kiteline_core::crypto::audit_key_of(blind),
            user_rows: kiteline_core::crypto::user_row_key_of(blind),
        }
    }
}

impl std::fmt::Debug for StoreKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKeys(<redacted>)")
    }
}

pub type SharedStore = Arc<Store>;

static MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
     version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)";
static APPLIED_MIGRATIONS: Sql = Sql::new("SELECT version, checksum FROM schema_migrations ORDER BY version");
static RECORD_MIGRATION: Sql =
    Sql::new("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)");
static PING: Sql = Sql::new("SELECT 1");

impl Store {
    /// Opens (creating if needed, with mode 0600) a SQLite file, group commit on.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        Store::open_sqlite_with(path, SqliteOptions::default()).await
    }

    pub async fn open_sqlite_with(path: &Path, options: SqliteOptions) -> Result<Store> {
        let path = path.to_path_buf();
        let db = tokio::task::spawn_blocking(move || db::sqlite::SqliteDb::open(&path, options.max_batch))
            .await
            .map_err(|_| StoreError::database("opening the database failed", None))??;
        Ok(Store { db: Db::Sqlite(db), keys: RwLock::new(None) })
    }

    /// Connects a pool of up to `pool_size` connections. With `schema`, every
    /// connection uses it as its search path (tests give each its own).
    pub async fn connect_postgres(url: &str, pool_size: usize, schema: Option<&str>) -> Result<Store> {
        let db = db::postgres::PgDb::connect(url, pool_size, schema).await?;
        Ok(Store { db: Db::Postgres(db), keys: RwLock::new(None) })
    }

    pub fn engine(&self) -> Engine {
        self.db.engine()
    }

    /// The database file of a SQLite store.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.db {
            Db::Sqlite(db) => Some(db.path()),
            Db::Postgres(_) => None,
        }
    }

    /// Group-commit figures (SQLite; PostgreSQL commits each write itself).
    pub fn commit_stats(&self) -> Option<CommitStats> {
        match &self.db {
            Db::Sqlite(db) => Some(db.stats()),
            Db::Postgres(_) => None,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.db.read(|tx| tx.query_one(&PING, args![], |_| Ok(()))).await
    }

    /// Applies pending migrations, under a lock so nodes starting together
    /// apply each once; returns those applied now.
    pub async fn migrate(&self) -> Result<Vec<AppliedMigration>> {
        self.migrate_until(i64::MAX).await
    }

    /// Applies pending migrations up to `version` only: for tests of an
    /// upgrade from an older schema.
    pub async fn migrate_until(&self, version: i64) -> Result<Vec<AppliedMigration>> {
        let row_key = self.row_key().ok();
        self.db
            .write(move |tx| {
                tx.lock(Lock::Migrations)?;
                tx.batch(MIGRATIONS_TABLE)?;
                let applied: Vec<(i64, String)> =
                    tx.query(&APPLIED_MIGRATIONS, args![], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let known = match tx.engine() {
                    Engine::Sqlite => migrations::SQLITE,
                    Engine::Postgres => migrations::POSTGRES,
                };
                let mut done = Vec::new();
                for m in migrations::pending(known, &applied)?.into_iter().filter(|m| m.version <= version) {
                    tx.apply_migration(m.sql)
                        .map_err(|why| StoreError::Migration(format!("{} ({}) failed: {why}", m.version, m.name)))?;
                    if m.version == migrations::USER_ROW_MACS {
                        // In the same transaction: no window with rows unsealed.
                        users::seal_all(tx, row_key.as_ref())?;
                    }
                    let applied_at = Timestamp::now().to_string();
                    tx.execute(&RECORD_MIGRATION, args![m.version, m.name, &m.checksum(), &applied_at])?;
                    done.push(AppliedMigration { version: m.version, name: m.name.to_owned() });
                }
                Ok(done)
            })
            .await
    }

    /// Writes a consistent copy of the database to `path` (SQLite only);
    /// `Conflict(BackupFileExists)` rather than overwrite a file.
    pub async fn backup_to(&self, path: &Path) -> Result<()> {
        match &self.db {
            Db::Sqlite(db) => db.backup_to(path).await,
            Db::Postgres(_) => Err(StoreError::Unsupported(
                "kiteline backup copies SQLite databases only; back up PostgreSQL with pg_dump (for example: pg_dump --format=custom --file=kiteline.dump \"$KITELINE_DATABASE_URL\")",
            )),
        }
    }
}

/// Opens the store a database URL names, with the key file's keys, and
/// applies its migrations.
///
/// `sqlite://PATH` (or `sqlite:PATH`) opens or creates a SQLite file;
/// `postgres://…` or `postgresql://…` connects to PostgreSQL.
pub async fn open(url: &str, pool_size: usize, keys: StoreKeys) -> Result<SharedStore> {
    let store = if let Some(path) = sqlite_path(url) {
        Store::open_sqlite(Path::new(path)).await?
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Store::connect_postgres(url, pool_size, None).await?
    } else {
        return Err(StoreError::Unsupported("unsupported database URL scheme"));
    };
    store.set_keys(keys);
    for m in store.migrate().await? {
        tracing::info!(version = m.version, name = %m.name, engine = store.engine().as_str(), "applied migration");
    }
    Ok(Arc::new(store))
}

/// Whether a `postgres://` URL is well formed (checked before connecting,
/// so a typo is a configuration error, not a connection failure).
pub fn postgres_url_parses(url: &str) -> bool {
    url.parse::<tokio_postgres::Config>().is_ok()
}

/// The file path of a `sqlite:` URL, if it is one.
pub fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).filter(|p| !p.is_empty())
}

/// Fresh random bytes from the operating system.
///
/// # Panics
/// If the OS has no random source, which Kiteline cannot run without.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).expect("the operating system's random source is available");
    b
}

/// A new time-ordered id for a row created now.
pub fn new_id(now: Timestamp) -> Id {
    Id::from_parts(now.as_millisecond().max(0) as u64, random_bytes())
}

/// Expects exactly one changed row; `NotFound` otherwise.
fn one(changed: u64) -> Result<()> {
    if changed == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}

impl Store {
    /// Sets (or replaces) the keys from the key file.
    pub fn set_keys(&self, keys: StoreKeys) {
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = Some(keys);
    }

    fn keys(&self) -> Result<StoreKeys> {
        self.keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .ok_or(StoreError::Unsupported("the store's keys are not set"))
    }

    fn audit_key(&self) -> Result<[u8; 32]> {
        Ok(self.keys()?.audit)
    }

    fn row_key(&self) -> Result<[u8; 32]> {
        Ok(self.keys()?.user_rows)
    }

    /// Runs `f` and appends `event` to the audit log, in one transaction.
    async fn audited<T, F>(&self, event: AuditEvent, now: Timestamp, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        let key = self.audit_key()?;
        self.db
            .write(move |tx| {
                let out = f(tx)?;
                audit::append(tx, &key, &event, now)?;
                Ok(out)
            })
            .await
    }

    /// Like [`Store::audited`] with an optional event.
    async fn maybe_audited<T, F>(&self, event: Option<AuditEvent>, now: Timestamp, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> Result<T> + Send + 'static,
    {
        match event {
            Some(event) => self.audited(event, now, f).await,
            None => self.db.write(f).await,
        }
    }
}
