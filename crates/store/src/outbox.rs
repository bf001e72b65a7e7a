//! The mail outbox: each message sealed, stored with the job that sends it,
//! and its body dropped once it is sent or given up.

use jiff::Timestamp;

use crate::db::{Sql, Tx, args};
use crate::jobs::{self, NewJob};
use crate::{Id, Result, Sealed, Store};

/// The job kind that sends one outbox message.
pub const SEND_MAIL_JOB: &str = "send_mail";

/// A sealed message to queue, and the id of the job that will send it.
#[derive(Clone, Debug)]
pub struct NewMail {
    pub id: Id,
    pub sealed: Sealed,
    pub job_id: Id,
}

static INSERT_OUTBOX: Sql =
    Sql::new("INSERT INTO outbox (id, message, state, created_at) VALUES ($1, $2, 'queued', $3)");
static QUEUED_MAIL: Sql = Sql::new("SELECT message FROM outbox WHERE id = $1 AND state = 'queued'");
static MAIL_SENT: Sql = Sql::new("UPDATE outbox SET state = 'sent', sent_at = $1, message = NULL WHERE id = $2");
static MAIL_FAILED: Sql = Sql::new("UPDATE outbox SET state = 'failed', message = NULL WHERE id = $1");

/// Queues a message and its job inside the caller's transaction.
pub(crate) fn insert(tx: &mut Tx<'_>, mail: &NewMail, now: Timestamp) -> Result<()> {
    tx.execute(&INSERT_OUTBOX, args![&mail.id, &mail.sealed, now])?;
    let job = NewJob {
        id: mail.job_id.clone(),
        kind: SEND_MAIL_JOB.to_owned(),
        payload: format!("{{\"outbox_id\":\"{}\"}}", mail.id),
        run_at: now,
        max_attempts: kiteline_core::jobs::DEFAULT_MAX_ATTEMPTS,
        sealed: None,
    };
    jobs::insert(tx, &job, now)
}

impl Store {
    /// Stores a sealed message and queues the job that sends it, together.
    pub async fn enqueue_mail(&self, mail: NewMail, now: Timestamp) -> Result<()> {
        self.db.write(move |tx| insert(tx, &mail, now)).await
    }

    /// The sealed message, while it is still queued.
    pub async fn queued_mail(&self, id: &Id) -> Result<Option<Sealed>> {
        let id = id.clone();
        self.db.read(move |tx| Ok(tx.query_opt(&QUEUED_MAIL, args![&id], |r| r.get(0))?.flatten())).await
    }

    /// Marks a message sent and drops its sealed body; only the fact remains.
    pub async fn mark_mail_sent(&self, id: &Id, now: Timestamp) -> Result<()> {
        let id = id.clone();
        self.db
            .write(move |tx| {
                tx.execute(&MAIL_SENT, args![now, &id])?;
                Ok(())
            })
            .await
    }

    /// Marks a message failed for good and drops its sealed body.
    pub async fn mark_mail_failed(&self, id: &Id) -> Result<()> {
        let id = id.clone();
        self.db
            .write(move |tx| {
                tx.execute(&MAIL_FAILED, args![&id])?;
                Ok(())
            })
            .await
    }
}
