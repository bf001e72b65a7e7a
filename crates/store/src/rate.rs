//! Rate limits shared by every node: one row per counted attempt, keyed by
//! a rule and a keyed digest of what is limited (never an address), so the
//! window slides: at most `limit` attempts in any `window`.
//!
//! An attempt is *reserved* before the work it guards (verifying a password
//! or a code), atomically — under an advisory lock per key on PostgreSQL, by
//! the single writer on SQLite — so concurrent requests cannot all slip in
//! before the first failure is counted. A success may refund its attempt.

use jiff::{SignedDuration, Timestamp};

use crate::db::{Lock, Sql, Tx, args};
use crate::jobs::{self, NewJob};
use crate::{Id, Result, Store};

/// What a limit allows: at most `limit` attempts with this key in any
/// `window`.
#[derive(Clone, Debug)]
pub struct Limit {
    pub key: String,
    pub limit: u32,
    pub window: SignedDuration,
}

/// The answer to a reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Counted; the id refunds it.
    Granted(Id),
    /// Over the limit: the oldest counted attempt leaves the window after this.
    Refused { retry_after: SignedDuration },
}

static PRUNE_KEY: Sql = Sql::new("DELETE FROM rate_attempts WHERE key = $1 AND at <= $2");
static IN_WINDOW: Sql = Sql::new("SELECT COUNT(*), MIN(at) FROM rate_attempts WHERE key = $1");
static INSERT_ATTEMPT: Sql = Sql::new("INSERT INTO rate_attempts (id, key, at) VALUES ($1, $2, $3)");
static REFUND: Sql = Sql::new("DELETE FROM rate_attempts WHERE id = $1");
static PRUNE_ALL: Sql = Sql::new("DELETE FROM rate_attempts WHERE at < $1");
static COUNT: Sql = Sql::new("SELECT COUNT(*) FROM rate_attempts WHERE key = $1 AND at > $2");

/// A lock number for a key (advisory locks take integers).
fn lock_of(key: &str) -> Lock {
    use sha2::Digest;
    let d = sha2::Sha256::digest(key.as_bytes());
    Lock::Key(i64::from_be_bytes(d[..8].try_into().expect("8 bytes")))
}

fn reserve(tx: &mut Tx<'_>, limit: &Limit, id: Id, now: Timestamp) -> Result<Attempt> {
    tx.lock(lock_of(&limit.key))?;
    tx.execute(&PRUNE_KEY, args![&limit.key, now - limit.window])?;
    let (n, oldest): (u64, Option<Timestamp>) =
        tx.query_one(&IN_WINDOW, args![&limit.key], |r| Ok((r.get(0)?, r.get(1)?)))?;
    if n >= u64::from(limit.limit) {
        let leaves = oldest.unwrap_or(now) + limit.window;
        let wait = leaves.duration_since(now).max(SignedDuration::from_secs(1));
        return Ok(Attempt::Refused { retry_after: wait });
    }
    tx.execute(&INSERT_ATTEMPT, args![&id, &limit.key, now])?;
    Ok(Attempt::Granted(id))
}

impl Store {
    /// Counts one attempt against `limit`, or refuses it, atomically.
    pub async fn reserve_attempt(&self, limit: Limit, now: Timestamp) -> Result<Attempt> {
        let id = crate::new_id(now);
        self.db.write(move |tx| reserve(tx, &limit, id, now)).await
    }

    /// Takes a counted attempt back (it succeeded).
    pub async fn refund_attempt(&self, id: &Id) -> Result<()> {
        let id = id.clone();
        self.db
            .write(move |tx| {
                tx.execute(&REFUND, args![&id])?;
                Ok(())
            })
            .await
    }

    /// Counts one attempt and, if it is granted, queues `job`, in one
    /// transaction: a request whose work happens later (a password reset),
    /// so the answer costs the same whatever the work will be.
    pub async fn reserve_and_enqueue(&self, limit: Limit, job: NewJob, now: Timestamp) -> Result<Attempt> {
        let id = crate::new_id(now);
        self.db
            .write(move |tx| {
                let attempt = reserve(tx, &limit, id, now)?;
                if matches!(attempt, Attempt::Granted(_)) {
                    jobs::insert(tx, &job, now)?;
                }
                Ok(attempt)
            })
            .await
    }

    /// Attempts with `key` in the `window` up to `now` (operators, tests).
    pub async fn attempts_in_window(&self, key: &str, window: SignedDuration, now: Timestamp) -> Result<u64> {
        let key = key.to_owned();
        self.db.read(move |tx| tx.query_one(&COUNT, args![&key, now - window], |r| r.get(0))).await
    }

    /// Deletes attempts older than `before`; returns how many.
    pub async fn prune_attempts(&self, before: Timestamp) -> Result<u64> {
        self.db.write(move |tx| tx.execute(&PRUNE_ALL, args![before])).await
    }
}
