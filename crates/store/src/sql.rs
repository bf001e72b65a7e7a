//! SQL text shared by both engines, written with `$N` placeholders.
//!
//! PostgreSQL uses it as is; SQLite gets `$N` rewritten to `?N` (the only `$`
//! in these statements). Statements that differ between engines live in the
//! engine's own module.

pub const INSERT_USER: &str = "INSERT INTO users (id, email, name, role, locale, password_hash, created_at, updated_at, chapter_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)";
/// The columns `user_from_row` reads, in order.
macro_rules! user_select {
    () => {
        "SELECT id, email, name, role, password_hash IS NOT NULL, locale, disabled_at, created_at, \
         chapter_id, pronouns, time_zone, languages, notify_email, notify_sms, totp_secret IS NOT NULL FROM users"
    };
}
pub const USER_BY_ID: &str = concat!(user_select!(), " WHERE id = $1");
pub const USER_BY_EMAIL: &str = concat!(user_select!(), " WHERE email = $1");
pub const LIST_USERS: &str = concat!(user_select!(), " ORDER BY disabled_at IS NOT NULL, name, email");
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

pub const UPDATE_PROFILE: &str = "UPDATE users SET name = $1, pronouns = $2, time_zone = $3, languages = $4, locale = $5, \
     phone = $6, notify_email = $7, notify_sms = $8, updated_at = $9 WHERE id = $10";
pub const USER_PHONE: &str = "SELECT phone FROM users WHERE id = $1";
pub const SET_ROLE: &str = "UPDATE users SET role = $1, updated_at = $2 WHERE id = $3";
pub const DISABLE_USER: &str =
    "UPDATE users SET disabled_at = $1, updated_at = $1 WHERE id = $2 AND disabled_at IS NULL";
pub const ENABLE_USER: &str = "UPDATE users SET disabled_at = NULL, updated_at = $1 WHERE id = $2";
pub const CHANGE_PASSWORD: &str = "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3";
pub const INSERT_CHAPTER: &str = "INSERT INTO chapters (id, name, created_at) VALUES ($1, $2, $3)";
pub const CHAPTERS: &str = "SELECT id, name FROM chapters ORDER BY name";

pub const INSERT_SESSION: &str = "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, idle_seconds, expires_at, second_factor_at) \
     VALUES ($1, $2, $3, $3, $4, $5, $6)";
pub const SESSION: &str = "SELECT user_id, created_at, last_seen_at, idle_seconds, expires_at, second_factor_at FROM sessions WHERE id_hash = $1";
pub const TOUCH_SESSION: &str = "UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2";
pub const ROTATE_SESSION: &str =
    "UPDATE sessions SET id_hash = $1, second_factor_at = COALESCE($2, second_factor_at) WHERE id_hash = $3";
pub const END_SESSION: &str = "DELETE FROM sessions WHERE id_hash = $1";
pub const END_USER_SESSIONS: &str = "DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2";

pub const TOTP_STATE: &str = "SELECT totp_pending, totp_secret, totp_last_step FROM users WHERE id = $1";
pub const SET_TOTP_PENDING: &str = "UPDATE users SET totp_pending = $1 WHERE id = $2";
pub const ENABLE_TOTP: &str = "UPDATE users SET totp_secret = $4, totp_pending = NULL, totp_last_step = $1, updated_at = $2 \
     WHERE id = $3 AND totp_pending IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $1)";
pub const ACCEPT_TOTP_STEP: &str = "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_secret IS NOT NULL AND (totp_last_step IS NULL OR totp_last_step < $1)";
pub const DISABLE_TOTP: &str =
    "UPDATE users SET totp_secret = NULL, totp_pending = NULL, updated_at = $1 WHERE id = $2";
pub const DELETE_RECOVERY_CODES: &str = "DELETE FROM recovery_codes WHERE user_id = $1";
pub const INSERT_RECOVERY_CODE: &str = "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)";
pub const USE_RECOVERY_CODE: &str =
    "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL";
pub const RECOVERY_CODES_LEFT: &str = "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL";

pub const AUDIT_HEAD: &str = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
pub const AUDIT_ANCHOR: &str = "SELECT seq, hash, mac FROM audit_anchor WHERE id = 1";
pub const INSERT_AUDIT: &str = "INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, prev_hash, hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub const AUDIT_COLUMNS: &str = "SELECT seq, at, actor, action, object_type, object_id, prev_hash, hash FROM audit_log";
pub const AUDIT_LAST_BEFORE: &str = "SELECT seq, hash FROM audit_log WHERE at < $1 ORDER BY seq DESC LIMIT 1";
pub const DELETE_AUDIT_UPTO: &str = "DELETE FROM audit_log WHERE seq <= $1";
pub const UPSERT_ANCHOR: &str = "INSERT INTO audit_anchor (id, seq, hash, mac, pruned_at) VALUES (1, $1, $2, $3, $4) \
     ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac, pruned_at = excluded.pruned_at";

pub const RATE_HIT: &str = "INSERT INTO rate_counters (key, window_start, count) VALUES ($1, $2, 1) \
     ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counters.count + 1 RETURNING count";
pub const RATE_COUNT: &str = "SELECT count FROM rate_counters WHERE key = $1 AND window_start = $2";
pub const PRUNE_RATE: &str = "DELETE FROM rate_counters WHERE window_start < $1";

pub const API_TOKEN_BY_DIGEST: &str = "SELECT id, user_id, label, scope, created_at, last_used_at, revoked_at \
     FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL";
pub const TOUCH_API_TOKEN: &str = "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2";
pub const REVOKE_API_TOKEN: &str =
    "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL";

/// Filter clauses for listing audit entries, with `$N` numbered from 1, and
/// the values in order.
pub enum AuditParam {
    Text(String),
    Time(jiff::Timestamp),
    Int(i64),
}

pub fn audit_query(f: &crate::AuditFilter) -> (String, Vec<AuditParam>) {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    let mut add = |clause: &str, p: AuditParam| {
        params.push(p);
        clauses.push(clause.replace('?', &format!("${}", params.len())));
    };
    if let Some(v) = &f.actor {
        add("actor = ?", AuditParam::Text(v.clone()));
    }
    if let Some(v) = &f.action {
        add("action = ?", AuditParam::Text(v.clone()));
    }
    if let Some(v) = &f.object_type {
        add("object_type = ?", AuditParam::Text(v.clone()));
    }
    if let Some(v) = &f.object_id {
        add("object_id = ?", AuditParam::Text(v.clone()));
    }
    if let Some(v) = f.since {
        add("at >= ?", AuditParam::Time(v));
    }
    if let Some(v) = f.until {
        add("at < ?", AuditParam::Time(v));
    }
    if let Some(v) = f.before_seq {
        add("seq < ?", AuditParam::Int(v));
    }
    let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    let limit = f.limit.clamp(1, 1000);
    (format!("{AUDIT_COLUMNS}{filter} ORDER BY seq DESC LIMIT {limit}"), params)
}
