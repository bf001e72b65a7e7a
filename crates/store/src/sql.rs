//! SQL text shared by both engines, written with `$N` placeholders.
//!
//! PostgreSQL uses it as is; SQLite gets `$N` rewritten to `?N` (the only `$`
//! in these statements). Statements that differ between engines live in the
//! engine's own module.

pub const INSERT_USER: &str = "INSERT INTO users (id, email, name, role, locale, password_hash, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)";
pub const USER_BY_ID: &str =
    "SELECT id, email, name, role, password_hash IS NOT NULL, locale, disabled_at, created_at FROM users WHERE id = $1";
pub const USER_BY_EMAIL: &str = "SELECT id, email, name, role, password_hash IS NOT NULL, locale, disabled_at, created_at FROM users WHERE email = $1";
pub const PASSWORD_HASH: &str = "SELECT password_hash FROM users WHERE id = $1 AND disabled_at IS NULL";
pub const COUNT_ACTIVE_ADMINS: &str = "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL";
pub const SET_PASSWORD: &str =
    "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND disabled_at IS NULL";

pub const DELETE_FIRST_ADMIN_LINKS: &str = "DELETE FROM link_tokens WHERE purpose = 'first_admin'";
pub const INSERT_LINK: &str = "INSERT INTO link_tokens (id, token_hash, purpose, user_id, expires_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub const USABLE_LINK: &str = "SELECT id, purpose, user_id, expires_at FROM link_tokens \
     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2";
pub const USE_LINK: &str = "UPDATE link_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL";
pub const RETIRE_USER_LINKS: &str =
    "UPDATE link_tokens SET used_at = $1 WHERE user_id = $2 AND purpose = 'set_password' AND used_at IS NULL";

pub const INSERT_API_TOKEN: &str = "INSERT INTO api_tokens (id, user_id, label, scope, token_hash, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
pub const API_TOKENS_OF: &str = "SELECT id, user_id, label, scope, created_at, last_used_at, revoked_at \
     FROM api_tokens WHERE user_id = $1 ORDER BY created_at, id";

pub const INSERT_JOB: &str = "INSERT INTO jobs (id, kind, payload, state, max_attempts, run_at, created_at) \
     VALUES ($1, $2, $3, 'queued', $4, $5, $6)";
/// `$4` is the engine's row-locking clause (empty on SQLite, whose single
/// writer already serialises claims), spliced in by [`claim_job`].
const CLAIM_JOB: &str = "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2 \
     WHERE id = (SELECT id FROM jobs \
                 WHERE (state = 'queued' AND run_at <= $3) OR (state = 'running' AND locked_until <= $3) \
                 ORDER BY run_at, id LIMIT 1 {lock}) \
     RETURNING id, kind, payload, attempts, max_attempts";
pub fn claim_job(lock: &str) -> String {
    CLAIM_JOB.replace("{lock}", lock)
}
pub const COMPLETE_JOB: &str = "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, finished_at = $1 \
     WHERE id = $2 AND locked_by = $3 AND state = 'running'";
pub const RETRY_JOB: &str = "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_until = NULL, run_at = $1, last_error = $2 \
     WHERE id = $3 AND locked_by = $4 AND state = 'running'";
pub const FAIL_JOB: &str = "UPDATE jobs SET state = 'failed', locked_by = NULL, locked_until = NULL, finished_at = $1, last_error = $2 \
     WHERE id = $3 AND locked_by = $4 AND state = 'running'";
pub const JOB_BY_ID: &str = "SELECT id, kind, state, attempts, run_at, last_error FROM jobs WHERE id = $1";
pub const JOB_COUNTS: &str = "SELECT state, COUNT(*) FROM jobs GROUP BY state";

pub const INSERT_OUTBOX: &str = "INSERT INTO outbox (id, message, state, created_at) VALUES ($1, $2, 'queued', $3)";
pub const QUEUED_MAIL: &str = "SELECT message FROM outbox WHERE id = $1 AND state = 'queued'";
pub const MAIL_SENT: &str = "UPDATE outbox SET state = 'sent', sent_at = $1, message = NULL WHERE id = $2";
pub const MAIL_FAILED: &str = "UPDATE outbox SET state = 'failed', message = NULL WHERE id = $1";

pub const DATA_KEYS: &str = "SELECT version, wrapped FROM data_keys ORDER BY version";
pub const INSERT_DATA_KEY: &str = "INSERT INTO data_keys (version, wrapped, created_at) VALUES ($1, $2, $3)";
pub const REWRAP_DATA_KEY: &str = "UPDATE data_keys SET wrapped = $1 WHERE version = $2";

pub const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
     version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)";
pub const APPLIED_MIGRATIONS: &str = "SELECT version, checksum FROM schema_migrations ORDER BY version";
pub const RECORD_MIGRATION: &str =
    "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)";

/// The payload of the job that sends an outbox message.
pub fn send_mail_payload(outbox_id: &crate::Id) -> String {
    format!("{{\"outbox_id\":\"{outbox_id}\"}}")
}
