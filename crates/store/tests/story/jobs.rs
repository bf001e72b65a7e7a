//! The job queue: claims, leases, retries, and no job run twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use kiteline_store::testing::{self, TestDb};
use kiteline_store::{Engine, Id, JobState, NewJob, SharedStore, Store, StoreError, new_id};

use super::{raw_rows, seal, store, t, unseal};

story!(
    a_sealed_payload_reaches_the_worker_and_is_dropped_when_the_job_ends,
    jobs_are_claimed_retried_and_finished,
    an_expired_lease_lets_another_worker_reclaim,
    two_workers_never_run_the_same_job
);

fn job(kind: &str, run_at: Timestamp, max_attempts: u32) -> NewJob {
    NewJob { id: new_id(run_at), kind: kind.into(), payload: "{}".into(), run_at, max_attempts, sealed: None }
}

async fn jobs_are_claimed_retried_and_finished(db: &TestDb) {
    let s = store(db);
    let later = job("later", t(50), 3);
    let now = job("now", t(0), 2);
    s.enqueue_job(later.clone(), t(0)).await.unwrap();
    s.enqueue_job(now.clone(), t(0)).await.unwrap();
    assert_eq!(s.job_counts().await.unwrap(), [2, 0, 0, 0]);

    let c = s.claim_job("w1", t(1), t(61)).await.unwrap().unwrap();
    assert_eq!((c.id.clone(), c.kind.as_str(), c.attempts, c.max_attempts), (now.id.clone(), "now", 1, 2));
    assert_eq!(s.claim_job("w1", t(1), t(61)).await.unwrap(), None, "the other job is not due");
    // Only the holder may finish it.
    assert!(matches!(s.complete_job(&c.id, "w2", t(2)).await, Err(StoreError::NotFound)));
    s.fail_job(&c.id, "w1", "smtp: connection refused", Some(t(20)), t(2)).await.unwrap();
    let rec = s.job(&c.id).await.unwrap().unwrap();
    assert_eq!((rec.state, rec.attempts, rec.run_at), (JobState::Queued, 1, t(20)));
    assert_eq!(rec.last_error.as_deref(), Some("smtp: connection refused"));
    assert_eq!(s.claim_job("w1", t(19), t(79)).await.unwrap(), None, "retry waits for its time");

    let c2 = s.claim_job("w2", t(20), t(80)).await.unwrap().unwrap();
    assert_eq!((c2.id.clone(), c2.attempts), (now.id.clone(), 2));
    s.fail_job(&c2.id, "w2", "smtp: still refused", None, t(21)).await.unwrap();
    assert_eq!(s.job(&c2.id).await.unwrap().unwrap().state, JobState::Failed);

    let c3 = s.claim_job("w1", t(50), t(110)).await.unwrap().unwrap();
    assert_eq!(c3.id, later.id);
    assert_eq!(s.job_counts().await.unwrap(), [0, 1, 0, 1]);
    s.complete_job(&c3.id, "w1", t(51)).await.unwrap();
    assert!(matches!(s.complete_job(&c3.id, "w1", t(52)).await, Err(StoreError::NotFound)), "done only once");
    assert_eq!(s.job(&c3.id).await.unwrap().unwrap().state, JobState::Done);
    assert_eq!(s.job_counts().await.unwrap(), [0, 0, 1, 1]);
    assert_eq!(s.job(&new_id(t(0))).await.unwrap(), None);
}

async fn an_expired_lease_lets_another_worker_reclaim(db: &TestDb) {
    let s = store(db);
    s.enqueue_job(job("k", t(0), 5), t(0)).await.unwrap();
    let c = s.claim_job("crashed", t(0), t(30)).await.unwrap().unwrap();
    assert_eq!(s.claim_job("w2", t(29), t(59)).await.unwrap(), None);
    let again = s.claim_job("w2", t(30), t(60)).await.unwrap().unwrap();
    assert_eq!((again.id.clone(), again.attempts), (c.id.clone(), 2));
    // The crashed worker's late completion is refused; the new holder's counts.
    assert!(s.complete_job(&c.id, "crashed", t(31)).await.is_err());
    s.complete_job(&c.id, "w2", t(31)).await.unwrap();
}

/// Two workers with separate connections (as on two nodes) drain one queue
/// concurrently; every job runs exactly once.
async fn two_workers_never_run_the_same_job(db: &TestDb) {
    const JOBS: usize = 150;
    let s = store(db);
    for i in 0..JOBS {
        s.enqueue_job(job("count", t(i as i64 % 7), 3), t(0)).await.unwrap();
    }
    let second: SharedStore = match db.engine() {
        Engine::Sqlite => Arc::new(Store::open_sqlite(std::path::Path::new(&db.location)).await.unwrap()),
        Engine::Postgres => Arc::new(Store::connect_postgres(&testing::pg_url(), 4, Some(&db.location)).await.unwrap()),
    };
    let runs: Arc<Mutex<HashMap<Id, Vec<&'static str>>>> = Arc::default();
    let mut workers = Vec::new();
    for (name, st) in [("w-a", s.clone()), ("w-b", second), ("w-c", s.clone()), ("w-d", s.clone())] {
        let runs = runs.clone();
        workers.push(tokio::spawn(async move {
            let mut mine = 0;
            while let Some(j) = st.claim_job(name, t(10), t(1000)).await.unwrap() {
                runs.lock().unwrap().entry(j.id.clone()).or_default().push(name);
                tokio::task::yield_now().await;
                st.complete_job(&j.id, name, t(11)).await.unwrap();
                mine += 1;
            }
            mine
        }));
    }
    let mut per_worker = Vec::new();
    for w in workers {
        per_worker.push(w.await.unwrap());
    }
    let runs = std::mem::take(&mut *runs.lock().unwrap());
    assert_eq!(runs.len(), JOBS, "every job ran");
    let twice: Vec<_> = runs.iter().filter(|(_, w)| w.len() > 1).collect();
    assert!(twice.is_empty(), "jobs run more than once: {twice:?}");
    assert_eq!(per_worker.iter().sum::<usize>(), JOBS);
    assert_eq!(s.job_counts().await.unwrap(), [0, 0, JOBS as u64, 0]);
}

async fn a_sealed_payload_reaches_the_worker_and_is_dropped_when_the_job_ends(db: &TestDb) {
    let s = store(db);
    for (kind, attempts) in [("done", 3), ("failed", 1)] {
        let mut j = job(kind, t(0), attempts);
        j.sealed = Some(seal(b"ana@example.org"));
        s.enqueue_job(j, t(0)).await.unwrap();
    }
    for _ in 0..2 {
        let c = s.claim_job("w", t(1), t(60)).await.unwrap().unwrap();
        assert_eq!(c.sealed.as_ref().map(unseal).as_deref(), Some(&b"ana@example.org"[..]));
        match c.kind.as_str() {
            "done" => s.complete_job(&c.id, "w", t(2)).await.unwrap(),
            _ => s.fail_job(&c.id, "w", "gave up", None, t(2)).await.unwrap(),
        }
    }
    let left = raw_rows(db, "SELECT COUNT(*) FROM jobs WHERE sealed_payload IS NOT NULL").await;
    assert_eq!(left[0][0], "0", "no personal data stays in the jobs table");
}
