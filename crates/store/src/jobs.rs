//! The job queue: claimed under a lease, retried with backoff, never handed
//! to two workers at once (SQLite's single writer; `SKIP LOCKED` on
//! PostgreSQL, so workers on any number of nodes share one queue).

use jiff::Timestamp;

use crate::db::{Row, Sql, Tx, args};
use crate::{Id, Result, Sealed, Store, StoreError, one};

/// A job to put on the queue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: Id,
    pub kind: String,
    /// JSON; never sensitive data (put that in a sealed row and pass its id).
    pub payload: String,
    pub run_at: Timestamp,
    pub max_attempts: u32,
    /// What the job needs that is personal data, sealed for
    /// `jobs.sealed_payload` with the job's id; dropped when the job ends.
    pub sealed: Option<Sealed>,
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
    pub sealed: Option<Sealed>,
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
            _ => return Err(StoreError::database("a stored job state is unknown", None)),
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

static INSERT_JOB: Sql = Sql::new(
    "INSERT INTO jobs (id, kind, payload, state, max_attempts, run_at, created_at, sealed_payload) \
     VALUES ($1, $2, $3, 'queued', $4, $5, $6, $7)",
);
/// The next due job, or one whose lease ran out. SQLite's single writer
/// already serialises claims; PostgreSQL skips rows other workers hold.
static CLAIM_JOB: Sql = Sql::dialects(
    "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2 \
     WHERE id = (SELECT id FROM jobs \
                 WHERE (state = 'queued' AND run_at <= $3) OR (state = 'running' AND locked_until <= $3) \
                 ORDER BY run_at, id LIMIT 1) \
     RETURNING id, kind, payload, attempts, max_attempts, sealed_payload",
    "UPDATE jobs SET state = 'running', attempts = attempts + 1, locked_by = $1, locked_until = $2 \
     WHERE id = (SELECT id FROM jobs \
                 WHERE (state = 'queued' AND run_at <= $3) OR (state = 'running' AND locked_until <= $3) \
                 ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
     RETURNING id, kind, payload, attempts, max_attempts, sealed_payload",
);
static COMPLETE_JOB: Sql = Sql::new(
    "UPDATE jobs SET state = 'done', locked_by = NULL, locked_until = NULL, finished_at = $1, sealed_payload = NULL \
     WHERE id = $2 AND locked_by = $3 AND state = 'running'",
);
static RETRY_JOB: Sql = Sql::new(
    "UPDATE jobs SET state = 'queued', locked_by = NULL, locked_until = NULL, run_at = $1, last_error = $2 \
     WHERE id = $3 AND locked_by = $4 AND state = 'running'",
);
static FAIL_JOB: Sql = Sql::new(
    "UPDATE jobs SET state = 'failed', locked_by = NULL, locked_until = NULL, finished_at = $1, last_error = $2, \
     sealed_payload = NULL \
     WHERE id = $3 AND locked_by = $4 AND state = 'running'",
);
static JOB_BY_ID: Sql = Sql::new("SELECT id, kind, state, attempts, run_at, last_error FROM jobs WHERE id = $1");
static JOB_COUNTS: Sql = Sql::new("SELECT state, COUNT(*) FROM jobs GROUP BY state");

pub(crate) fn insert(tx: &mut Tx<'_>, job: &NewJob, now: Timestamp) -> Result<()> {
    let j = job;
    tx.execute(&INSERT_JOB, args![&j.id, &j.kind, &j.payload, j.max_attempts, j.run_at, now, j.sealed.as_ref()])?;
    Ok(())
}

impl JobRecord {
    fn from_row(r: &Row<'_>) -> Result<JobRecord> {
        let state: String = r.get(2)?;
        Ok(JobRecord {
            id: r.get(0)?,
            kind: r.get(1)?,
            state: JobState::parse(&state)?,
            attempts: r.get(3)?,
            run_at: r.get(4)?,
            last_error: r.get(5)?,
        })
    }
}

impl Store {
    /// `Conflict(JobId)` for an id in use.
    pub async fn enqueue_job(&self, job: NewJob, now: Timestamp) -> Result<()> {
        self.db.write(move |tx| insert(tx, &job, now)).await
    }

    /// Claims the next due job (or one whose lease ran out) for `worker`,
    /// leasing it until `lease_until`. Never hands one job to two workers.
    pub async fn claim_job(&self, worker: &str, now: Timestamp, lease_until: Timestamp) -> Result<Option<ClaimedJob>> {
        let worker = worker.to_owned();
        self.db
            .write(move |tx| {
                tx.query_opt(&CLAIM_JOB, args![&worker, lease_until, now], |r| {
                    Ok(ClaimedJob {
                        id: r.get(0)?,
                        kind: r.get(1)?,
                        payload: r.get(2)?,
                        attempts: r.get(3)?,
                        max_attempts: r.get(4)?,
                        sealed: r.get(5)?,
                    })
                })
            })
            .await
    }

    /// Marks a job this worker holds as done; `NotFound` if it does not hold it.
    pub async fn complete_job(&self, id: &Id, worker: &str, now: Timestamp) -> Result<()> {
        let (id, worker) = (id.clone(), worker.to_owned());
        self.db.write(move |tx| one(tx.execute(&COMPLETE_JOB, args![now, &id, &worker])?)).await
    }

    /// Records a failure: the job runs again at `retry_at`, or is failed for
    /// good when `retry_at` is `None`. `error` must hold no sensitive data.
    pub async fn fail_job(
        &self,
        id: &Id,
        worker: &str,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<()> {
        let (id, worker, error) = (id.clone(), worker.to_owned(), error.to_owned());
        self.db
            .write(move |tx| {
                let changed = match retry_at {
                    Some(at) => tx.execute(&RETRY_JOB, args![at, &error, &id, &worker])?,
                    None => tx.execute(&FAIL_JOB, args![now, &error, &id, &worker])?,
                };
                one(changed)
            })
            .await
    }

    pub async fn job(&self, id: &Id) -> Result<Option<JobRecord>> {
        let id = id.clone();
        self.db.read(move |tx| tx.query_opt(&JOB_BY_ID, args![&id], JobRecord::from_row)).await
    }

    /// Counts of jobs by state: queued, running, done, failed.
    pub async fn job_counts(&self) -> Result<[u64; 4]> {
        self.db
            .read(|tx| {
                let mut counts = [0u64; 4];
                let rows: Vec<(String, u64)> = tx.query(&JOB_COUNTS, args![], |r| Ok((r.get(0)?, r.get(1)?)))?;
                for (state, n) in rows {
                    let i = match JobState::parse(&state)? {
                        JobState::Queued => 0,
                        JobState::Running => 1,
                        JobState::Done => 2,
                        JobState::Failed => 3,
                    };
                    counts[i] = n;
                }
                Ok(counts)
            })
            .await
    }
}
