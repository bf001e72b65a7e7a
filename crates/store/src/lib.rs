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
    /// `None`: at-large.
    pub chapter_id: Option<Id>,
    pub pronouns: String,
    /// IANA zone name.
    pub time_zone: String,
    /// Language codes, comma-separated (`en,es`).
    pub languages: String,
    pub notify_email: bool,
    pub notify_sms: bool,
    pub totp_enabled: bool,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: EmailAddress,
    pub name: String,
    pub role: Role,
    pub locale: String,
    pub chapter_id: Option<Id>,
}

/// What a user may change about themselves. `phone` is sealed bytes (or
/// `None` to clear it).
#[derive(Clone, Debug)]
pub struct ProfileUpdate {
    pub name: String,
    pub pronouns: String,
    pub time_zone: String,
    pub languages: String,
    pub locale: String,
    pub phone: Option<Vec<u8>>,
    pub notify_email: bool,
    pub notify_sms: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chapter {
    pub id: Id,
    pub name: String,
}

/// A signed-in session, as stored (its id is known only by digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub user_id: Id,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub idle_seconds: i64,
    pub expires_at: Timestamp,
    /// When the second factor was last proved in this session.
    pub second_factor_at: Option<Timestamp>,
}

/// A user's second-factor secrets, sealed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TotpState {
    pub pending: Option<Vec<u8>>,
    pub active: Option<Vec<u8>>,
    pub last_step: Option<i64>,
}

/// Who did what to which object: what the audit log records (ids only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// The acting user; `None` is the system itself (or an anonymous visitor).
    pub actor: Option<Id>,
    pub action: &'static str,
    pub object_type: &'static str,
    pub object_id: String,
}

impl AuditEvent {
    pub fn new(actor: Option<&Id>, action: &'static str, object_type: &'static str, object_id: &str) -> AuditEvent {
        AuditEvent { actor: actor.cloned(), action, object_type, object_id: object_id.to_owned() }
    }

    fn actor_text(&self) -> String {
        self.actor.as_ref().map_or_else(|| "system".to_owned(), |a| a.to_string())
    }
}

/// Which audit entries to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only entries with a smaller sequence number (paging).
    pub before_seq: Option<i64>,
    pub limit: u32,
}

pub use kiteline_core::audit::{Anchor, ChainedEntry};

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

    // --- accounts and chapters -------------------------------------------

    async fn list_users(&self) -> Result<Vec<User>>;
    /// Creates a user with a set-password link, audited, in one transaction.
    async fn invite_user(
        &self,
        user: NewUser,
        id: Id,
        link_digest: &str,
        link_expires: Timestamp,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<User>;
    /// Updates a user's own profile (audited as `user.profile_update`).
    async fn update_profile(&self, user_id: &Id, profile: ProfileUpdate, now: Timestamp) -> Result<()>;
    /// The sealed phone number.
    async fn user_phone(&self, user_id: &Id) -> Result<Option<Vec<u8>>>;
    /// Changes a role and ends the user's sessions (privilege change).
    async fn set_role(&self, user_id: &Id, role: Role, audit: AuditEvent, now: Timestamp) -> Result<()>;
    /// Disables (ending every session at once) or re-enables an account.
    async fn set_disabled(&self, user_id: &Id, disabled: bool, audit: AuditEvent, now: Timestamp) -> Result<()>;
    /// Stores a new password hash and ends the user's other sessions.
    async fn change_password(
        &self,
        user_id: &Id,
        hash: &str,
        keep_session: Option<&str>,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()>;
    async fn create_chapter(&self, id: Id, name: &str, audit: AuditEvent, now: Timestamp) -> Result<()>;
    async fn chapters(&self) -> Result<Vec<Chapter>>;

    // --- sessions ---------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    async fn create_session(
        &self,
        digest: &str,
        user_id: &Id,
        idle_seconds: i64,
        expires_at: Timestamp,
        second_factor_at: Option<Timestamp>,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()>;
    /// The session and its user, whatever their state; callers check expiry.
    async fn session(&self, digest: &str) -> Result<Option<(SessionRecord, User)>>;
    async fn touch_session(&self, digest: &str, now: Timestamp) -> Result<()>;
    /// Gives a session a new id (and optionally records a second factor).
    async fn rotate_session(
        &self,
        old_digest: &str,
        new_digest: &str,
        second_factor_at: Option<Timestamp>,
    ) -> Result<()>;
    async fn end_session(&self, digest: &str) -> Result<()>;
    /// Ends every session of a user but `except`; returns how many ended.
    async fn end_user_sessions(
        &self,
        user_id: &Id,
        except: Option<&str>,
        audit: Option<AuditEvent>,
        now: Timestamp,
    ) -> Result<u64>;
    /// Deletes sessions past their absolute expiry or idle limit.
    async fn prune_sessions(&self, now: Timestamp) -> Result<u64>;

    // --- second factor ----------------------------------------------------

    async fn totp_state(&self, user_id: &Id) -> Result<TotpState>;
    async fn set_totp_pending(&self, user_id: &Id, sealed: Option<&[u8]>) -> Result<()>;
    /// Completes enrolment, in one transaction: stores `sealed_secret` (the
    /// confirmed secret, sealed for `users.totp_secret`) as active, clears the
    /// pending one, records `step` as used and replaces the recovery codes.
    /// `NotFound` if nothing was pending or the step is not new.
    async fn enable_totp(
        &self,
        user_id: &Id,
        sealed_secret: &[u8],
        step: i64,
        recovery_hashes: &[String],
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()>;
    /// Records `step` as used if it is later than the last; false on replay.
    async fn accept_totp_step(&self, user_id: &Id, step: i64) -> Result<bool>;
    async fn disable_totp(&self, user_id: &Id, audit: AuditEvent, now: Timestamp) -> Result<()>;
    async fn replace_recovery_codes(
        &self,
        user_id: &Id,
        hashes: &[String],
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()>;
    /// Spends an unused recovery code; false if there is none with this hash.
    async fn use_recovery_code(&self, user_id: &Id, hash: &str, now: Timestamp) -> Result<bool>;
    async fn recovery_codes_left(&self, user_id: &Id) -> Result<u32>;

    // --- audit log --------------------------------------------------------

    /// The key that seals the audit chain (derived from the key file).
    fn set_audit_key(&self, key: [u8; 32]);
    async fn append_audit(&self, event: AuditEvent, now: Timestamp) -> Result<()>;
    async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<ChainedEntry>>;
    /// Everything verification needs: the anchor and every entry in order.
    async fn audit_chain(&self) -> Result<(Option<Anchor>, Vec<ChainedEntry>)>;
    /// Deletes entries older than `before`, moving the anchor; returns how many.
    async fn prune_audit(&self, before: Timestamp, now: Timestamp) -> Result<u64>;

    // --- shared rate-limit counters --------------------------------------

    /// Adds one to the counter of `key` in the window starting at
    /// `window_start` and returns the new count.
    async fn rate_hit(&self, key: &str, window_start: Timestamp) -> Result<u32>;
    async fn rate_count(&self, key: &str, window_start: Timestamp) -> Result<u32>;
    async fn prune_rate_counters(&self, before: Timestamp) -> Result<u64>;

    // --- API tokens, continued -------------------------------------------

    /// The unrevoked token with this digest and its (active) user.
    async fn api_token_by_digest(&self, digest: &str) -> Result<Option<(ApiToken, User)>>;
    async fn touch_api_token(&self, id: &Id, now: Timestamp) -> Result<()>;
    /// Revokes one of `user_id`'s tokens; `NotFound` if it is not theirs.
    async fn revoke_api_token(&self, id: &Id, user_id: &Id, audit: AuditEvent, now: Timestamp) -> Result<()>;

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
