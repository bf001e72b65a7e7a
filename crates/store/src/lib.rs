//! Kiteline's storage: one [`Store`] trait, two engines.
//!
//! [`sqlite::SqliteStore`] (bundled SQLite, WAL, `synchronous=FULL`) is the
//! default for a small group on one server; [`postgres::PgStore`] serves several
//! stateless nodes. Both implement the same trait, are exercised by the same
//! story test suite (`tests/story.rs`), and keep their own migrations under
//! `migrations/<engine>/`, applied at start-up and by `kiteline migrate`.
//!
//! Architecture invariants:
//! * Stores never render HTML and never see plaintext of sealed fields: they
//!   receive and return sealed bytes.
//! * Every method that changes several rows does so in one transaction.
//! * Errors never carry row values: [`StoreError`] holds a constraint name or a
//!   database error code, never the offending data, so it is safe to log.
//! * Time is passed in (`now`), never read from the database clock, so tests
//!   control it and several nodes agree.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
pub use kiteline_core::{EmailAddress, Id, Role};

mod migrations;
pub mod postgres;
mod sql;
pub mod sqlite;
pub mod testing;
pub mod vault;

pub use migrations::AppliedMigration;

/// What a store call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness or check constraint refused the write; the name says which.
    #[error("conflicts with existing data ({0})")]
    Conflict(String),
    /// The operation does not exist on this engine.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The schema on disk does not fit this binary.
    #[error("migrations: {0}")]
    Migration(String),
    /// Anything else from the database or its connection; the text is the
    /// engine's error code and kind, never row data.
    #[error("database: {0}")]
    Database(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: Id,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub has_password: bool,
    pub locale: String,
    pub disabled_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: EmailAddress,
    pub name: String,
    pub role: Role,
    pub locale: String,
}

/// What a single-use link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Creates the first admin account; there is no user yet.
    FirstAdmin,
    /// Sets (or resets) the password of an existing user.
    SetPassword,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::FirstAdmin => "first_admin",
            LinkPurpose::SetPassword => "set_password",
        }
    }
    fn parse(s: &str) -> Result<LinkPurpose> {
        match s {
            "first_admin" => Ok(LinkPurpose::FirstAdmin),
            "set_password" => Ok(LinkPurpose::SetPassword),
            _ => Err(StoreError::Database(format!("unknown link purpose {s:?}"))),
        }
    }
}

/// A single-use link that is still usable: unused and unexpired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkToken {
    pub id: Id,
    pub purpose: LinkPurpose,
    pub user_id: Option<Id>,
    pub expires_at: Timestamp,
}

/// What an API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TokenScope {
    Read,
    Write,
    Admin,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<TokenScope> {
        match s {
            "read" => Some(TokenScope::Read),
            "write" => Some(TokenScope::Write),
            "admin" => Some(TokenScope::Admin),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: Id,
    pub user_id: Id,
    pub label: String,
    pub scope: TokenScope,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A job to put on the queue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: Id,
    pub kind: String,
    /// JSON; never sensitive data (put that in a sealed row and pass its id).
    pub payload: String,
    pub run_at: Timestamp,
    pub max_attempts: u32,
}

/// A job claimed by a worker, which must complete or fail it before its lease ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: Id,
    pub kind: String,
    pub payload: String,
    /// Attempts including this one.
    pub attempts: u32,
    pub max_attempts: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobState {
    fn parse(s: &str) -> Result<JobState> {
        Ok(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            _ => return Err(StoreError::Database(format!("unknown job state {s:?}"))),
        })
    }
}

/// A job as stored, for operators and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    pub id: Id,
    pub kind: String,
    pub state: JobState,
    pub attempts: u32,
    pub run_at: Timestamp,
    pub last_error: Option<String>,
}

/// A wrapped data key as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredDataKey {
    pub version: u32,
    pub wrapped: Vec<u8>,
}

/// Everything Kiteline keeps, on either engine.
///
/// Held as `Arc<dyn Store>`. Methods take `now` where the time matters.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn engine(&self) -> Engine;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;

    /// Applies pending migrations; returns those applied now.
    async fn migrate(&self) -> Result<Vec<AppliedMigration>>;

    /// Writes a consistent copy of the database to `path` (SQLite only).
    async fn backup_to(&self, path: &std::path::Path) -> Result<()>;

    // --- accounts ---------------------------------------------------------

    /// Creates a user; `Conflict("users.email")` if the address is taken.
    async fn create_user(&self, user: NewUser, id: Id, now: Timestamp) -> Result<User>;
    async fn user_by_id(&self, id: &Id) -> Result<Option<User>>;
    async fn user_by_email(&self, email: &EmailAddress) -> Result<Option<User>>;
    /// The stored password hash of an active user, for verification.
    async fn password_hash(&self, user_id: &Id) -> Result<Option<String>>;
    async fn count_active_admins(&self) -> Result<u64>;

    // --- single-use links -------------------------------------------------

    /// Stores the digest of a new link. For `FirstAdmin`, earlier first-admin
    /// links are invalidated so only the newest printed link works.
    async fn create_link(
        &self,
        id: Id,
        purpose: LinkPurpose,
        user_id: Option<&Id>,
        token_digest: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<()>;

    /// The link with this digest if it is unused and unexpired.
    async fn usable_link(&self, token_digest: &str, now: Timestamp) -> Result<Option<LinkToken>>;

    /// Uses a set-password link: in one transaction, checks it is usable,
    /// marks it used and stores the new password hash. `NotFound` otherwise.
    async fn use_set_password_link(&self, token_digest: &str, password_hash: &str, now: Timestamp) -> Result<User>;

    /// Uses a first-admin link: in one transaction, checks it is usable and
    /// that no active admin exists, creates the admin with the password hash
    /// and marks the link used. `NotFound` if the link is not usable,
    /// `Conflict("admin exists")` if an admin appeared meanwhile.
    async fn use_first_admin_link(
        &self,
        token_digest: &str,
        user: NewUser,
        id: Id,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<User>;

    // --- API tokens -------------------------------------------------------

    async fn create_api_token(
        &self,
        id: Id,
        user_id: &Id,
        label: &str,
        scope: TokenScope,
        token_digest: &str,
        now: Timestamp,
    ) -> Result<ApiToken>;
    async fn api_tokens_of(&self, user_id: &Id) -> Result<Vec<ApiToken>>;

    // --- jobs -------------------------------------------------------------

    async fn enqueue_job(&self, job: NewJob, now: Timestamp) -> Result<()>;
    /// Claims the next due job (or one whose lease ran out) for `worker`,
    /// leasing it until `lease_until`. Never hands one job to two workers.
    async fn claim_job(&self, worker: &str, now: Timestamp, lease_until: Timestamp) -> Result<Option<ClaimedJob>>;
    /// Marks a job this worker holds as done.
    async fn complete_job(&self, id: &Id, worker: &str, now: Timestamp) -> Result<()>;
    /// Records a failure: the job runs again at `retry_at`, or is failed for
    /// good when `retry_at` is `None`. `error` must hold no sensitive data.
    async fn fail_job(
        &self,
        id: &Id,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<()>;
    async fn job(&self, id: &Id) -> Result<Option<JobRecord>>;
    /// Counts of jobs by state: queued, running, done, failed.
    async fn job_counts(&self) -> Result<[u64; 4]>;

    // --- mail outbox ------------------------------------------------------

    /// Stores a sealed message and queues the job that sends it, together.
    async fn enqueue_mail(&self, id: Id, sealed_message: &[u8], job_id: Id, now: Timestamp) -> Result<()>;
    /// The sealed message, while it is still queued.
    async fn queued_mail(&self, id: &Id) -> Result<Option<Vec<u8>>>;
    /// Marks a message sent and drops its sealed body; only the fact remains.
    async fn mark_mail_sent(&self, id: &Id, now: Timestamp) -> Result<()>;
    /// Marks a message failed for good and drops its sealed body.
    async fn mark_mail_failed(&self, id: &Id) -> Result<()>;

    // --- data keys --------------------------------------------------------

    async fn data_keys(&self) -> Result<Vec<StoredDataKey>>;
    /// `Conflict` if the version exists (another node created it first).
    async fn insert_data_key(&self, key: StoredDataKey, now: Timestamp) -> Result<()>;
    /// Replaces a data key's wrapping (KEK rotation); the key itself is unchanged.
    async fn rewrap_data_key(&self, version: u32, wrapped: &[u8]) -> Result<()>;
}

pub type DynStore = Arc<dyn Store>;

/// Opens the store a database URL names and applies its migrations.
///
/// `sqlite://PATH` (or `sqlite:PATH`) opens or creates a SQLite file;
/// `postgres://…` or `postgresql://…` connects to PostgreSQL.
pub async fn open(url: &str, pool_size: usize) -> Result<DynStore> {
    let store: DynStore = if let Some(path) = sqlite_path(url) {
        Arc::new(sqlite::SqliteStore::open(std::path::Path::new(path)).await?)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Arc::new(postgres::PgStore::connect(url, pool_size, None).await?)
    } else {
        return Err(StoreError::Database("unsupported database URL scheme".into()));
    };
    for m in store.migrate().await? {
        tracing::info!(version = m.version, name = %m.name, engine = store.engine().as_str(), "applied migration");
    }
    Ok(store)
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

/// The job kind that sends one outbox message.
pub const SEND_MAIL_JOB: &str = "send_mail";

fn tally_job_states(rows: Vec<(String, i64)>) -> Result<[u64; 4]> {
    let mut counts = [0u64; 4];
    for (state, n) in rows {
        let i = match JobState::parse(&state)? {
            JobState::Queued => 0,
            JobState::Running => 1,
            JobState::Done => 2,
            JobState::Failed => 3,
        };
        counts[i] = n as u64;
    }
    Ok(counts)
}
