//! The store calls the benchmark makes, kept apart so the same harness runs
//! against the store's API before and after a change.

use jiff::{SignedDuration, Timestamp};
use kiteline_store::testing::TestDb;
use kiteline_store::{AuditEvent, DynStore, Id, NewJob, new_id};

/// Group commit did not exist before the storage rework: one figure only.
pub const BATCHING: [bool; 1] = [false];

pub fn set_audit_key(s: &DynStore) {
    s.set_audit_key([42; 32]);
}

pub async fn session_create_and_lookup(s: &DynStore, user: &Id, i: u64) {
    let now = Timestamp::now();
    let digest = format!("{i:064x}");
    let ev = AuditEvent::new(Some(user), "session.login", "user", user.as_str());
    s.create_session(&digest, user, 600, now + SignedDuration::from_hours(1), None, ev, now).await.unwrap();
    assert!(s.session(&digest).await.unwrap().is_some());
}

pub async fn audit_append(s: &DynStore, _i: u64) {
    s.append_audit(AuditEvent::new(None, "bench.event", "thing", "x"), Timestamp::now()).await.unwrap();
}

pub async fn job_enqueue_and_claim(s: &DynStore, _i: u64) {
    let now = Timestamp::now();
    let job = NewJob { id: new_id(now), kind: "bench".into(), payload: "{}".into(), run_at: now, max_attempts: 3 };
    s.enqueue_job(job, now).await.unwrap();
    // Claimed "a second from now", so another caller's job just enqueued is due too.
    let at = now + SignedDuration::from_secs(1);
    s.claim_job("bench", at, at + SignedDuration::from_secs(60)).await.unwrap();
}

pub async fn sqlite_with(_batching: bool) -> TestDb {
    kiteline_store::testing::sqlite().await
}

pub async fn single_insert(s: &DynStore, _i: u64) {
    let now = Timestamp::now();
    let job = NewJob { id: new_id(now), kind: "bench".into(), payload: "{}".into(), run_at: now, max_attempts: 3 };
    s.enqueue_job(job, now).await.unwrap();
}
