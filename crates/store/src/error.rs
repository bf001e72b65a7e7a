//! What a store call can fail with, the same on both engines.
//!
//! Policy: an error names *what* failed (a [`Constraint`], an engine's error
//! code, a short description written here) and never carries a database
//! value, so every store error is safe to log and to show. Callers match on
//! [`StoreError::NotFound`] and [`StoreError::Conflict`]; everything else is
//! an internal failure.

/// A rule of the schema (or of a store method) that refused a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Constraint {
    UserId,
    /// An account with this e-mail address exists.
    UserEmail,
    ChapterId,
    /// A chapter with this name exists.
    ChapterName,
    LinkId,
    LinkDigest,
    ApiTokenId,
    ApiTokenDigest,
    SessionDigest,
    RecoveryCode,
    JobId,
    OutboxId,
    /// Another node created this data-key version first.
    DataKeyVersion,
    AuditSeq,
    AuditAnchor,
    RateAttempt,
    Migration,
    OrgProfile,
    ApplicationId,
    /// One application per e-mail address (a second one is merged).
    ApplicationEmail,
    ApplicationDecisionId,
    /// The application was already decided (or cannot go that way).
    ApplicationDecided,
    ModuleId,
    TrainingSessionId,
    /// Already signed up for that session.
    SignUp,
    /// The session has no seat left.
    SessionFull,
    QualificationId,
    QualificationReminder,
    ShiftScheduleId,
    ShiftScheduleChapter,
    ScheduleVersionId,
    /// One version per schedule and day.
    ScheduleVersionDate,
    ScheduleExceptionId,
    ShiftId,
    /// One shift per schedule and start.
    ShiftStart,
    ShiftSignUp,
    CoverRequestId,
    WaitlistEntry,
    ShiftReminder,
    ShiftAsk,
    CalendarFeedUser,
    CalendarFeedToken,
    /// Too late to leave freely: ask for cover instead.
    PastCutoff,
    /// The cover request was taken (or withdrawn) meanwhile.
    CoverGone,
    /// No offer stands (it lapsed, or was never made).
    NoOffer,
    /// The shift is not full: sign up instead of waiting.
    NotFull,
    /// A row refers to one that does not exist (a foreign key).
    MissingReference,
    /// A check, not-null or trigger rule of the schema.
    Check,
    /// An active administrator exists, so no first-admin link works.
    AdminExists,
    /// The backup's destination file exists; a backup never overwrites.
    BackupFileExists,
    /// A uniqueness rule this table does not list (a test keeps it unused).
    Unlisted,
}

/// Each unique or primary key: SQLite's column list, PostgreSQL's name.
const UNIQUE: &[(Constraint, &str, &str)] = &[
    (Constraint::UserId, "users.id", "users_pkey"),
    (Constraint::UserEmail, "users.email", "users_email_key"),
    (Constraint::ChapterId, "chapters.id", "chapters_pkey"),
    (Constraint::ChapterName, "chapters.name", "chapters_name_key"),
    (Constraint::ChapterName, "index 'chapters_name_folded'", "chapters_name_folded"),
    (Constraint::LinkId, "link_tokens.id", "link_tokens_pkey"),
    (Constraint::LinkDigest, "link_tokens.token_hash", "link_tokens_token_hash_key"),
    (Constraint::ApiTokenId, "api_tokens.id", "api_tokens_pkey"),
    (Constraint::ApiTokenDigest, "api_tokens.token_hash", "api_tokens_token_hash_key"),
    (Constraint::SessionDigest, "sessions.id_hash", "sessions_pkey"),
    (Constraint::RecoveryCode, "recovery_codes.user_id, recovery_codes.code_hash", "recovery_codes_pkey"),
    (Constraint::JobId, "jobs.id", "jobs_pkey"),
    (Constraint::OutboxId, "outbox.id", "outbox_pkey"),
    (Constraint::DataKeyVersion, "data_keys.version", "data_keys_pkey"),
    (Constraint::AuditSeq, "audit_log.seq", "audit_log_pkey"),
    (Constraint::AuditAnchor, "audit_anchor.id", "audit_anchor_pkey"),
    (Constraint::RateAttempt, "rate_attempts.id", "rate_attempts_pkey"),
    (Constraint::Migration, "schema_migrations.version", "schema_migrations_pkey"),
    (Constraint::OrgProfile, "org_profile.id", "org_profile_pkey"),
    (Constraint::ShiftScheduleId, "shift_schedules.id", "shift_schedules_pkey"),
    (Constraint::ShiftScheduleChapter, "shift_schedules.chapter_id", "shift_schedules_chapter_id_key"),
    (Constraint::ScheduleVersionId, "schedule_versions.id", "schedule_versions_pkey"),
    (
        Constraint::ScheduleVersionDate,
        "schedule_versions.schedule_id, schedule_versions.effective_from",
        "schedule_versions_schedule_id_effective_from_key",
    ),
    (Constraint::ScheduleExceptionId, "schedule_exceptions.id", "schedule_exceptions_pkey"),
    (Constraint::ShiftId, "shifts.id", "shifts_pkey"),
    (Constraint::ShiftStart, "shifts.schedule_id, shifts.starts_at", "shifts_schedule_id_starts_at_key"),
    (Constraint::ShiftSignUp, "shift_signups.shift_id, shift_signups.user_id", "shift_signups_pkey"),
    (Constraint::CoverRequestId, "cover_requests.id", "cover_requests_pkey"),
    (Constraint::WaitlistEntry, "shift_waitlist.shift_id, shift_waitlist.user_id", "shift_waitlist_pkey"),
    (
        Constraint::ShiftReminder,
        "shift_reminders.shift_id, shift_reminders.user_id, shift_reminders.kind",
        "shift_reminders_pkey",
    ),
    (Constraint::ShiftAsk, "shift_asks.shift_id, shift_asks.user_id", "shift_asks_pkey"),
    (Constraint::CalendarFeedUser, "calendar_feeds.user_id", "calendar_feeds_pkey"),
    (Constraint::CalendarFeedToken, "calendar_feeds.token_hash", "calendar_feeds_token_hash_key"),
    (Constraint::ApplicationId, "applications.id", "applications_pkey"),
    (Constraint::ApplicationEmail, "applications.email", "applications_email_key"),
    (Constraint::ApplicationDecisionId, "application_decisions.id", "application_decisions_pkey"),
    (Constraint::ModuleId, "training_modules.id", "training_modules_pkey"),
    (Constraint::TrainingSessionId, "training_sessions.id", "training_sessions_pkey"),
    (Constraint::SignUp, "session_signups.session_id, session_signups.user_id", "session_signups_pkey"),
    (Constraint::QualificationId, "qualifications.id", "qualifications_pkey"),
    (
        Constraint::QualificationReminder,
        "qualification_reminders.qualification_id, qualification_reminders.days_ahead",
        "qualification_reminders_pkey",
    ),
];

/// SQLite's extended result codes for constraint failures.
const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;
const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
const SQLITE_CONSTRAINT_FOREIGNKEY: i32 = 787;

impl Constraint {
    /// From SQLite's extended code and message (`UNIQUE constraint failed:
    /// users.email` names columns, never values).
    pub(crate) fn from_sqlite(extended_code: i32, message: Option<&str>) -> Constraint {
        match extended_code {
            SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY => {
                let columns = message.and_then(|m| m.split_once(": ")).map_or("", |(_, c)| c);
                Constraint::unique_by(|(_, sqlite, _)| *sqlite == columns)
            }
            SQLITE_CONSTRAINT_FOREIGNKEY => Constraint::MissingReference,
            _ => Constraint::Check,
        }
    }

    /// From PostgreSQL's constraint name.
    pub(crate) fn from_postgres(name: Option<&str>) -> Constraint {
        let name = name.unwrap_or("");
        Constraint::unique_by(|(_, _, pg)| *pg == name)
    }

    fn unique_by(found: impl Fn(&&(Constraint, &str, &str)) -> bool) -> Constraint {
        UNIQUE.iter().find(found).map_or(Constraint::Unlisted, |(c, _, _)| *c)
    }

    /// The unique rules this type knows, by SQLite columns and PostgreSQL
    /// name (tests hold the schema to this list).
    pub fn known_unique() -> impl Iterator<Item = (Constraint, &'static str, &'static str)> {
        UNIQUE.iter().copied()
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness or other rule refused the write.
    #[error("conflicts with existing data ({0})")]
    Conflict(Constraint),
    /// A shift sign-up refused by one of its checks (see `core::shifts`).
    #[error("sign-up refused: {0:?}")]
    Refused(kiteline_core::shifts::Refusal),
    /// The operation does not exist on this engine.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The schema on disk does not fit this binary.
    #[error("migrations: {0}")]
    Migration(String),
    /// Anything else from the database or its connection: a description
    /// written here and the engine's error code, never row data.
    #[error("database: {what}{}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Database { what: &'static str, code: Option<String> },
}

impl StoreError {
    pub(crate) fn database(what: &'static str, code: Option<String>) -> StoreError {
        StoreError::Database { what, code }
    }

    /// The engine's error code, if this is a database failure.
    pub(crate) fn code(&self) -> Option<String> {
        match self {
            StoreError::Database { code, .. } => code.clone(),
            _ => None,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_are_named_alike_on_both_engines() {
        assert_eq!(Constraint::from_sqlite(2067, Some("UNIQUE constraint failed: users.email")), Constraint::UserEmail);
        assert_eq!(Constraint::from_postgres(Some("users_email_key")), Constraint::UserEmail);
        assert_eq!(
            Constraint::from_sqlite(
                1555,
                Some("UNIQUE constraint failed: recovery_codes.user_id, recovery_codes.code_hash")
            ),
            Constraint::RecoveryCode
        );
        assert_eq!(Constraint::from_sqlite(787, Some("FOREIGN KEY constraint failed")), Constraint::MissingReference);
        assert_eq!(Constraint::from_sqlite(275, None), Constraint::Check);
        assert_eq!(Constraint::from_postgres(Some("something_else_key")), Constraint::Unlisted);
    }

    #[test]
    fn database_errors_show_code_and_description_only() {
        let e = StoreError::database("PostgreSQL refused the statement", Some("42P01".into()));
        assert_eq!(e.to_string(), "database: PostgreSQL refused the statement (42P01)");
        assert_eq!(StoreError::Conflict(Constraint::UserEmail).to_string(), "conflicts with existing data (UserEmail)");
    }
}
