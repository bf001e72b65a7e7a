//! Signed-in sessions. The cookie holds a random id; only its digest is kept.

use jiff::Timestamp;

use crate::audit::AuditEvent;
use crate::db::{Row, Sql, Tx, args};
use crate::users::{self, User};
use crate::{Id, Result, Store, TokenDigest, one};

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
    /// Kept on its device ("keep me signed in"), so its cookie outlives the
    /// browser session.
    pub persistent: bool,
}

static INSERT_SESSION: Sql = Sql::new(
    "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, idle_seconds, expires_at, second_factor_at, \
     persistent, device_label) VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8)",
);
static SESSION: Sql = Sql::new(
    "SELECT user_id, created_at, last_seen_at, idle_seconds, expires_at, second_factor_at, persistent \
     FROM sessions WHERE id_hash = $1",
);
static TOUCH_SESSION: Sql = Sql::new("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2");
static ROTATE_SESSION: Sql =
    Sql::new("UPDATE sessions SET id_hash = $1, second_factor_at = COALESCE($2, second_factor_at) WHERE id_hash = $3");
static END_SESSION: Sql = Sql::new("DELETE FROM sessions WHERE id_hash = $1");
static END_OWN_SESSION: Sql = Sql::new("DELETE FROM sessions WHERE id_hash = $1 AND user_id = $2");
static SESSIONS_OF: Sql = Sql::new(
    "SELECT id_hash, created_at, last_seen_at, device_label, persistent FROM sessions \
     WHERE user_id = $1 ORDER BY last_seen_at DESC",
);
static END_USER_SESSIONS: Sql = Sql::new("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2");
/// A session ends at its absolute expiry or after its idle limit.
static PRUNE_SESSIONS: Sql = Sql::dialects(
    "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at + idle_seconds * 1000000 <= $1",
    "DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at + idle_seconds * interval '1 second' <= $1",
);

impl SessionRecord {
    fn from_row(r: &Row<'_>) -> Result<SessionRecord> {
        Ok(SessionRecord {
            user_id: r.get(0)?,
            created_at: r.get(1)?,
            last_seen_at: r.get(2)?,
            idle_seconds: r.get(3)?,
            expires_at: r.get(4)?,
            second_factor_at: r.get(5)?,
            persistent: r.get(6)?,
        })
    }
}

/// Ends every session of `user` but `except`; returns how many ended.
pub(crate) fn end_all(tx: &mut Tx<'_>, user: &Id, except: Option<&TokenDigest>) -> Result<u64> {
    tx.execute(&END_USER_SESSIONS, args![user, except.map_or("", TokenDigest::as_str)])
}

pub(crate) fn rotate(
    tx: &mut Tx<'_>,
    old: &TokenDigest,
    new: &TokenDigest,
    second_factor_at: Option<Timestamp>,
) -> Result<()> {
    one(tx.execute(&ROTATE_SESSION, args![new, second_factor_at, old])?)
}

/// One of a user's sessions, for the list on their account page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub digest: TokenDigest,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub device_label: String,
    pub persistent: bool,
}

/// What a new session is.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub digest: TokenDigest,
    pub user_id: Id,
    pub idle_seconds: i64,
    pub expires_at: Timestamp,
    pub second_factor_at: Option<Timestamp>,
    pub persistent: bool,
    /// "Firefox on Android" (see `core::account::device_label`).
    pub device_label: String,
    /// The browser's previous session, which ends in the same transaction
    /// (a new id at every login: no fixation).
    pub replaces: Option<TokenDigest>,
}

impl Store {
    /// Stores a new session (ending the one it replaces) and its
    /// `session.login` entry.
    pub async fn create_session(&self, session: NewSession, audit: AuditEvent, now: Timestamp) -> Result<()> {
        self.audited(audit, now, move |tx| {
            let s = session;
            if let Some(old) = &s.replaces {
                tx.execute(&END_SESSION, args![old])?;
            }
            tx.execute(
                &INSERT_SESSION,
                args![
                    &s.digest,
                    &s.user_id,
                    now,
                    s.idle_seconds,
                    s.expires_at,
                    s.second_factor_at,
                    s.persistent,
                    &s.device_label
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// The session and its user, whatever their state; callers check expiry.
    /// The caller checks `User::intact` too.
    pub async fn session(&self, digest: &TokenDigest) -> Result<Option<(SessionRecord, User)>> {
        let (digest, key) = (digest.clone(), self.row_key()?);
        self.db
            .read(move |tx| {
                let Some(rec) = tx.query_opt(&SESSION, args![&digest], SessionRecord::from_row)? else {
                    return Ok(None);
                };
                Ok(users::by_id(tx, &key, &rec.user_id)?.map(|u| (rec, u)))
            })
            .await
    }

    pub async fn touch_session(&self, digest: &TokenDigest, now: Timestamp) -> Result<()> {
        let digest = digest.clone();
        self.db
            .write(move |tx| {
                tx.execute(&TOUCH_SESSION, args![now, &digest])?;
                Ok(())
            })
            .await
    }

    /// Gives a session a new id (and records a second factor proved now),
    /// with its audit entry. `NotFound` if the old session is gone.
    pub async fn rotate_session(
        &self,
        old: &TokenDigest,
        new: &TokenDigest,
        second_factor_at: Option<Timestamp>,
        audit: Option<AuditEvent>,
        now: Timestamp,
    ) -> Result<()> {
        let (old, new) = (old.clone(), new.clone());
        self.maybe_audited(audit, now, move |tx| rotate(tx, &old, &new, second_factor_at)).await
    }

    /// Ends one session (logging out, or an expired one), with its entry.
    pub async fn end_session(&self, digest: &TokenDigest, audit: Option<AuditEvent>, now: Timestamp) -> Result<()> {
        let digest = digest.clone();
        self.maybe_audited(audit, now, move |tx| {
            tx.execute(&END_SESSION, args![&digest])?;
            Ok(())
        })
        .await
    }

    /// Ends every session of a user but `except` (and, with
    /// `revoke_tokens`, revokes every API token too); returns how many
    /// sessions ended.
    pub async fn end_user_sessions(
        &self,
        user_id: &Id,
        except: Option<&TokenDigest>,
        revoke_tokens: bool,
        audit: Option<AuditEvent>,
        now: Timestamp,
    ) -> Result<u64> {
        let (id, keep) = (user_id.clone(), except.cloned());
        self.maybe_audited(audit, now, move |tx| {
            let ended = end_all(tx, &id, keep.as_ref())?;
            if revoke_tokens {
                crate::api_tokens::revoke_all(tx, &id, now)?;
            }
            Ok(ended)
        })
        .await
    }

    /// A user's sessions, most recently used first (expired ones included
    /// until pruned; callers show only live ones).
    pub async fn sessions_of(&self, user_id: &Id) -> Result<Vec<SessionInfo>> {
        let id = user_id.clone();
        self.db
            .read(move |tx| {
                tx.query(&SESSIONS_OF, args![&id], |r| {
                    let digest: String = r.get(0)?;
                    Ok(SessionInfo {
                        digest: TokenDigest::from_stored(digest)
                            .ok_or_else(|| crate::StoreError::database("a stored session digest is malformed", None))?,
                        created_at: r.get(1)?,
                        last_seen_at: r.get(2)?,
                        device_label: r.get(3)?,
                        persistent: r.get(4)?,
                    })
                })
            })
            .await
    }

    /// Ends one of `user_id`'s own sessions; `NotFound` if it is not theirs.
    pub async fn end_own_session(
        &self,
        user_id: &Id,
        digest: &TokenDigest,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let (id, digest) = (user_id.clone(), digest.clone());
        self.audited(audit, now, move |tx| one(tx.execute(&END_OWN_SESSION, args![&digest, &id])?)).await
    }

    /// Deletes sessions past their absolute expiry or idle limit.
    pub async fn prune_sessions(&self, now: Timestamp) -> Result<u64> {
        self.db.write(move |tx| tx.execute(&PRUNE_SESSIONS, args![now])).await
    }
}
