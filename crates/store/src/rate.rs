//! Rate-limit counters shared by every node, keyed by rule and a digest of
//! what is limited (never an address), one row per window.

use jiff::Timestamp;

use crate::audit::{self, AuditEvent};
use crate::db::{Sql, Tx, args};
use crate::{Result, Store};

static RATE_HIT: Sql = Sql::new(
    "INSERT INTO rate_counters (key, window_start, count) VALUES ($1, $2, 1) \
     ON CONFLICT (key, window_start) DO UPDATE SET count = rate_counters.count + 1 RETURNING count",
);
static RATE_COUNT: Sql = Sql::new("SELECT count FROM rate_counters WHERE key = $1 AND window_start = $2");
static PRUNE_RATE: Sql = Sql::new("DELETE FROM rate_counters WHERE window_start < $1");

fn hit(tx: &mut Tx<'_>, key: &str, window_start: Timestamp) -> Result<u32> {
    tx.query_one(&RATE_HIT, args![key, window_start], |r| r.get(0))
}

/// A counter to add one to.
#[derive(Clone, Debug)]
pub struct Counter {
    pub key: String,
    pub window_start: Timestamp,
}

impl Store {
    /// Adds one to the counter of `key` in the window starting at
    /// `window_start` and returns the new count.
    pub async fn rate_hit(&self, key: &str, window_start: Timestamp) -> Result<u32> {
        let key = key.to_owned();
        self.db.write(move |tx| hit(tx, &key, window_start)).await
    }

    pub async fn rate_count(&self, key: &str, window_start: Timestamp) -> Result<u32> {
        let key = key.to_owned();
        self.db
            .read(move |tx| Ok(tx.query_opt(&RATE_COUNT, args![&key, window_start], |r| r.get(0))?.unwrap_or(0)))
            .await
    }

    /// A failed attempt (a wrong password or code): counts it against its
    /// shared counter, if any, and audits it, in one transaction.
    pub async fn record_failure(&self, counter: Option<Counter>, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let key = self.audit_key()?;
        self.db
            .write(move |tx| {
                if let Some(c) = &counter {
                    hit(tx, &c.key, c.window_start)?;
                }
                audit::append(tx, &key, &audit, now)
            })
            .await
    }

    pub async fn prune_rate_counters(&self, before: Timestamp) -> Result<u64> {
        self.db.write(move |tx| tx.execute(&PRUNE_RATE, args![before])).await
    }
}
