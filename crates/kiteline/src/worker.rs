//! The job worker: claims due jobs and runs them, in the server process by
//! default or alone as `kiteline worker`. Several workers (on several nodes)
//! may run at once; the store never hands one job to two of them.
//!
//! Handlers are idempotent: a job whose worker died mid-way is claimed again
//! when its lease runs out, so a handler must cope with having partly run.
//! Mail is at-least-once: a crash between the SMTP server's acceptance and
//! marking the message sent can send it twice; it never loses it.

use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use kiteline_core::jobs::retry_delay_seconds;
use kiteline_core::mail::OutboxMessage;
use kiteline_integrations::mail::{DeliveryError, Envelope, MailTransport};
use kiteline_store::vault::Vault;
use kiteline_store::{ClaimedJob, Id, SEND_MAIL_JOB, SharedStore, StoreError};
use tokio::sync::watch;

/// How long a claimed job is reserved before another worker may take it.
const LEASE: SignedDuration = SignedDuration::from_secs(300);
/// How often an idle worker looks for work.
const POLL: Duration = Duration::from_millis(500);

pub struct Worker {
    pub store: SharedStore,
    pub vault: Vault,
    pub transport: Arc<dyn MailTransport>,
    pub mail_from: String,
    pub name: String,
    /// Audit entries older than this many days are pruned by maintenance.
    pub audit_retention_days: u64,
    /// The organization's name and public URL, for mail the worker writes
    /// (password-reset links).
    pub site_name: String,
    pub public_url: String,
    /// Where maintenance records the audit chain's head (see `witness`).
    pub witness: Option<std::path::PathBuf>,
}

/// How often an idle worker runs maintenance (purges of expired data).
const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);

/// Why a job did not succeed: worth retrying, or not.
#[derive(Debug)]
enum JobError {
    Retry(String),
    Permanent(String),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Retry(e.to_string())
    }
}

impl Worker {
    pub fn new(store: SharedStore, vault: Vault, transport: Arc<dyn MailTransport>, mail_from: String) -> Worker {
        let name =
            format!("{}-{}", std::process::id(), kiteline_core::crypto::hex(&kiteline_store::random_bytes::<4>()));
        Worker {
            store,
            vault,
            transport,
            mail_from,
            name,
            audit_retention_days: 180,
            site_name: "Kiteline".into(),
            public_url: "http://127.0.0.1:8080".into(),
            witness: None,
        }
    }

    /// Runs until `shutdown` turns true; the job in hand is always finished.
    pub async fn run(&self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.name, "worker started");
        let mut last_maintenance: Option<std::time::Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            if last_maintenance.is_none_or(|t| t.elapsed() >= MAINTENANCE_EVERY) {
                last_maintenance = Some(std::time::Instant::now());
                if let Err(e) = self.maintenance(Timestamp::now()).await {
                    tracing::error!(error = %e, "maintenance failed");
                }
            }
            match self.run_one().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "worker could not reach the job queue"),
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(worker = %self.name, "worker stopped");
    }

    /// Claims and runs one due job. `Ok(false)` when none is due.
    pub async fn run_one(&self) -> Result<bool, StoreError> {
        let now = Timestamp::now();
        let Some(job) = self.store.claim_job(&self.name, now, now + LEASE).await? else { return Ok(false) };
        let outcome = self.handle(&job).await;
        let now = Timestamp::now();
        match outcome {
            Ok(()) => self.store.complete_job(&job.id, &self.name, now).await?,
            Err(JobError::Retry(e)) if job.attempts < job.max_attempts => {
                let jitter = u16::from_be_bytes(kiteline_store::random_bytes::<2>()) % 1001;
                let delay = retry_delay_seconds(job.attempts, jitter);
                tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, retry_in_s = delay, error = %e, "job failed; will retry");
                let retry_at = now + SignedDuration::from_secs(delay as i64);
                self.store.fail_job(&job.id, &self.name, &e, Some(retry_at), now).await?;
            }
            Err(JobError::Retry(e) | JobError::Permanent(e)) => {
                tracing::error!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %e, "job failed for good");
                self.on_give_up(&job).await;
                self.store.fail_job(&job.id, &self.name, &e, None, now).await?;
            }
        }
        Ok(true)
    }

    /// Purges what has expired: ended sessions, old rate-limit windows, and
    /// audit entries past retention (moving the chain's anchor). Safe to run
    /// on several nodes at once.
    pub async fn maintenance(&self, now: Timestamp) -> Result<(), StoreError> {
        let sessions = self.store.prune_sessions(now).await?;
        let counters = self.store.prune_attempts(now - SignedDuration::from_hours(24)).await?;
        let cutoff = now - SignedDuration::from_hours(24 * self.audit_retention_days as i64);
        let audit = self.store.prune_audit(cutoff, now).await?;
        let head = match &self.witness {
            Some(path) => match crate::witness::record(&self.store, &self.vault.audit_key(), path).await {
                Ok(w) => w.map(|w| format!("{} {}", w.seq, &w.hash[..16])),
                Err(e) => {
                    tracing::error!(error = %e, "could not record the audit witness");
                    None
                }
            },
            None => None,
        };
        let head = head.unwrap_or_else(|| "(none)".into());
        let ctx = kiteline_web::actions::Ctx {
            store: &self.store,
            vault: &self.vault,
            site_name: self.site_name.clone(),
            public_url: &self.public_url,
        };
        let reminders = match kiteline_web::actions::expiry_reminders(ctx, now).await {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "expiry reminders failed");
                0
            }
        };
        tracing::info!(sessions, counters, audit_entries = audit, audit_head = %head, reminders, "maintenance done");
        Ok(())
    }

    /// Drains every due job (tests, `kiteline worker --once`).
    pub async fn run_until_idle(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        while self.run_one().await? {
            n += 1;
        }
        Ok(n)
    }

    async fn handle(&self, job: &ClaimedJob) -> Result<(), JobError> {
        match job.kind.as_str() {
            SEND_MAIL_JOB => self.send_mail(&outbox_id(&job.payload)?).await,
            kiteline_web::actions::PASSWORD_RESET_JOB => {
                let ctx = kiteline_web::actions::Ctx {
                    store: &self.store,
                    vault: &self.vault,
                    site_name: self.site_name.clone(),
                    public_url: &self.public_url,
                };
                kiteline_web::actions::run_password_reset(ctx, &job.id, job.sealed.as_ref(), Timestamp::now())
                    .await
                    .map_err(|e| match e {
                        kiteline_web::actions::ResetJobError::Payload => JobError::Permanent(e.to_string()),
                        other => JobError::Retry(other.to_string()),
                    })
            }
            other => Err(JobError::Permanent(format!("unknown job kind {other:?}"))),
        }
    }

    async fn on_give_up(&self, job: &ClaimedJob) {
        if job.kind == SEND_MAIL_JOB
            && let Ok(id) = outbox_id(&job.payload)
            && let Err(e) = self.store.mark_mail_failed(&id).await
        {
            tracing::error!(outbox = %id, error = %e, "could not mark mail failed");
        }
    }

    async fn send_mail(&self, id: &Id) -> Result<(), JobError> {
        // Already sent (a retry after a crash, or a duplicate job): nothing to do.
        let Some(sealed) = self.store.queued_mail(id).await? else { return Ok(()) };
        let plain = self
            .vault
            .open(kiteline_web::mail::outbox_context(id), &sealed)
            .map_err(|e| JobError::Permanent(format!("outbox message cannot be opened: {e}")))?;
        let m = OutboxMessage::decode(&plain).map_err(|e| JobError::Permanent(format!("outbox message: {e}")))?;
        let envelope = Envelope {
            id: id.as_str(),
            from: &self.mail_from,
            to: &m.to,
            to_name: &m.to_name,
            subject: &m.subject,
            text: &m.text,
        };
        match self.transport.deliver(&envelope).await {
            Ok(where_) => {
                self.store.mark_mail_sent(id, Timestamp::now()).await?;
                tracing::info!(outbox = %id, delivered = %where_, "mail delivered");
                Ok(())
            }
            Err(DeliveryError::Permanent(e)) => Err(JobError::Permanent(e)),
            Err(DeliveryError::Transient(e)) => Err(JobError::Retry(e)),
        }
    }
}

fn outbox_id(payload: &str) -> Result<Id, JobError> {
    let v: serde_json::Value =
        serde_json::from_str(payload).map_err(|_| JobError::Permanent("payload is not JSON".into()))?;
    v.get("outbox_id")
        .and_then(|i| i.as_str())
        .and_then(Id::parse)
        .ok_or_else(|| JobError::Permanent("payload has no outbox_id".into()))
}
