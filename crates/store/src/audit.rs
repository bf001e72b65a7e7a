//! The audit log: who did what to which object, ids only, in a keyed hash
//! chain that an edit or deletion breaks (`kiteline_core::audit`).

use jiff::Timestamp;
pub use kiteline_core::audit::{Anchor, ChainedEntry};
use kiteline_core::audit::{AuditFields, GENESIS, anchor_mac, entry_hash};

use crate::db::{Lock, Row, Sql, Tx, Value, args};
use crate::{Action, Id, Result, Store};

/// Who did what to which object: what the audit log records (ids only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// The acting user; `None` is the system itself (or an anonymous visitor).
    pub actor: Option<Id>,
    pub action: Action,
    /// The id of the object of the action's [`Action::object_type`].
    pub object_id: String,
}

impl AuditEvent {
    pub fn new(actor: Option<&Id>, action: Action, object: impl std::fmt::Display) -> AuditEvent {
        AuditEvent { actor: actor.cloned(), action, object_id: object.to_string() }
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
    /// Only entries by or about one of these ids (a search by name or
    /// address, resolved to accounts by the caller). Empty: no such filter.
    pub people: Vec<String>,
    /// Leave out `audit.view` entries.
    pub hide_views: bool,
    pub limit: u32,
}

macro_rules! audit_select {
    () => {
        "SELECT seq, at, actor, action, object_type, object_id, prev_hash, hash FROM audit_log"
    };
}
static AUDIT_HEAD: Sql = Sql::new("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
static AUDIT_ANCHOR: Sql = Sql::new("SELECT seq, hash, mac FROM audit_anchor WHERE id = 1");
static INSERT_AUDIT: Sql = Sql::new(
    "INSERT INTO audit_log (seq, at, actor, action, object_type, object_id, prev_hash, hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
);
static AUDIT_ALL: Sql = Sql::new(concat!(audit_select!(), " ORDER BY seq"));
static AUDIT_LAST_BEFORE: Sql = Sql::new("SELECT seq, hash FROM audit_log WHERE at < $1 ORDER BY seq DESC LIMIT 1");
static RECENT_VIEW: Sql =
    Sql::new("SELECT 1 FROM audit_log WHERE action = 'audit.view' AND actor = $1 AND at > $2 LIMIT 1");
static DELETE_AUDIT_UPTO: Sql = Sql::new("DELETE FROM audit_log WHERE seq <= $1");
static UPSERT_ANCHOR: Sql = Sql::new(
    "INSERT INTO audit_anchor (id, seq, hash, mac, pruned_at) VALUES (1, $1, $2, $3, $4) \
     ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac, pruned_at = excluded.pruned_at",
);

fn entry(r: &Row<'_>) -> Result<ChainedEntry> {
    let at: Timestamp = r.get(1)?;
    Ok(ChainedEntry {
        seq: r.get(0)?,
        at_micros: at.as_microsecond(),
        actor: r.get(2)?,
        action: r.get(3)?,
        object_type: r.get(4)?,
        object_id: r.get(5)?,
        prev_hash: r.get(6)?,
        hash: r.get(7)?,
    })
}

fn anchor(tx: &mut Tx<'_>) -> Result<Option<Anchor>> {
    tx.query_opt(&AUDIT_ANCHOR, args![], |r| Ok(Anchor { seq: r.get(0)?, hash: r.get(1)?, mac: r.get(2)? }))
}

/// Appends one entry to the chain inside the caller's transaction.
pub(crate) fn append(tx: &mut Tx<'_>, key: &[u8; 32], event: &AuditEvent, now: Timestamp) -> Result<()> {
    tx.lock(Lock::AuditChain)?;
    let head: Option<(i64, String)> = tx.query_opt(&AUDIT_HEAD, args![], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let (prev_seq, prev_hash) = match head {
        Some(h) => h,
        None => anchor(tx)?.map_or_else(|| (0, GENESIS.to_owned()), |a| (a.seq, a.hash)),
    };
    let actor = event.actor_text();
    let fields = AuditFields {
        seq: prev_seq + 1,
        at_micros: now.as_microsecond(),
        actor: &actor,
        action: event.action.as_str(),
        object_type: event.action.object_type(),
        object_id: &event.object_id,
    };
    let hash = entry_hash(key, &prev_hash, &fields);
    let params = args![fields.seq, now, &actor, fields.action, fields.object_type, &event.object_id, &prev_hash, &hash];
    tx.execute(&INSERT_AUDIT, params)?;
    Ok(())
}

/// The listing query for a filter: clauses numbered `$1…` and their values.
fn listing<'f>(f: &'f AuditFilter) -> (String, Vec<Value<'f>>) {
    let mut clauses = Vec::new();
    let mut params: Vec<Value<'f>> = Vec::new();
    let mut add = |clause: &str, v: Value<'f>| {
        params.push(v);
        clauses.push(format!("{clause} ${}", params.len()));
    };
    if let Some(v) = &f.actor {
        add("actor =", Value::from(v));
    }
    if let Some(v) = &f.action {
        add("action =", Value::from(v));
    }
    if let Some(v) = &f.object_type {
        add("object_type =", Value::from(v));
    }
    if let Some(v) = &f.object_id {
        add("object_id =", Value::from(v));
    }
    if let Some(v) = f.since {
        add("at >=", Value::from(v));
    }
    if let Some(v) = f.until {
        add("at <", Value::from(v));
    }
    if let Some(v) = f.before_seq {
        add("seq <", Value::from(v));
    }
    if !f.people.is_empty() {
        let mut ids = Vec::new();
        for p in &f.people {
            params.push(Value::from(p));
            ids.push(format!("${}", params.len()));
        }
        let ids = ids.join(", ");
        clauses.push(format!("(actor IN ({ids}) OR object_id IN ({ids}))"));
    }
    if f.hide_views {
        clauses.push("action <> 'audit.view'".to_owned());
    }
    let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    params.push(Value::from(i64::from(f.limit.clamp(1, 1000))));
    (format!("{}{filter} ORDER BY seq DESC LIMIT ${}", audit_select!(), params.len()), params)
}

impl Store {
    /// Records that `actor` looked at the audit log, at most once an hour per
    /// viewer, so the views do not flood the log they are looking at.
    pub async fn record_audit_view(&self, actor: &Id, now: Timestamp) -> Result<()> {
        let (actor, key) = (actor.clone(), self.audit_key()?);
        self.db
            .write(move |tx| {
                let since = now - jiff::SignedDuration::from_hours(1);
                let seen = tx.query_opt(&RECENT_VIEW, args![&actor, since], |_| Ok(()))?;
                if seen.is_none() {
                    append(tx, &key, &AuditEvent::new(Some(&actor), Action::AuditView, ""), now)?;
                }
                Ok(())
            })
            .await
    }

    /// Appends an entry on its own (an action with nothing else to change).
    pub async fn append_audit(&self, event: AuditEvent, now: Timestamp) -> Result<()> {
        self.audited(event, now, |_| Ok(())).await
    }

    pub async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<ChainedEntry>> {
        let filter = filter.clone();
        self.db
            .read(move |tx| {
                let (text, params) = listing(&filter);
                tx.query(crate::db::Stmt::Dynamic(&text), &params, entry)
            })
            .await
    }

    /// The chain's head: the newest entry's sequence number and hash (or the
    /// anchor's, when retention removed every entry); `None` for no log yet.
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>> {
        self.db
            .snapshot(|tx| match tx.query_opt(&AUDIT_HEAD, args![], |r| Ok((r.get(0)?, r.get(1)?)))? {
                Some(head) => Ok(Some(head)),
                None => Ok(anchor(tx)?.map(|a| (a.seq, a.hash))),
            })
            .await
    }

    /// Everything verification needs, read in one snapshot: the anchor and
    /// every entry in order.
    pub async fn audit_chain(&self) -> Result<(Option<Anchor>, Vec<ChainedEntry>)> {
        self.db.snapshot(|tx| Ok((anchor(tx)?, tx.query(&AUDIT_ALL, args![], entry)?))).await
    }

    /// Deletes entries older than `before`, moving the anchor; returns how many.
    pub async fn prune_audit(&self, before: Timestamp, now: Timestamp) -> Result<u64> {
        let key = self.audit_key()?;
        self.db
            .write(move |tx| {
                tx.lock(Lock::AuditChain)?;
                let last: Option<(i64, String)> =
                    tx.query_opt(&AUDIT_LAST_BEFORE, args![before], |r| Ok((r.get(0)?, r.get(1)?)))?;
                let Some((seq, hash)) = last else { return Ok(0) };
                let n = tx.execute(&DELETE_AUDIT_UPTO, args![seq])?;
                tx.execute(&UPSERT_ANCHOR, args![seq, &hash, &anchor_mac(&key, seq, &hash), now])?;
                Ok(n)
            })
            .await
    }
}
