//! The store calls the benchmark makes, kept apart so the same harness runs
//! against the store's API before and after a change.

use jiff::{SignedDuration, Timestamp};
use kiteline_store::testing::TestDb;
use kiteline_store::{Action, AuditEvent, Id, NewJob, NewSession, SharedStore, SqliteOptions, TokenDigest, new_id};

/// Group commit on, then off.
pub const BATCHING: [bool; 2] = [true, false];

pub fn set_audit_key(s: &SharedStore) {
    s.set_keys(kiteline_store::testing::keys());
}

pub async fn session_create_and_lookup(s: &SharedStore, user: &Id, i: u64) {
    let now = Timestamp::now();
    let digest = TokenDigest::of(&format!("{i:064x}"));
    let session = NewSession {
        digest: digest.clone(),
        user_id: user.clone(),
        idle_seconds: 600,
        expires_at: now + SignedDuration::from_hours(1),
        second_factor_at: None,
        persistent: false,
        device_label: String::new(),
        replaces: None,
    };
    s.create_session(session, AuditEvent::new(Some(user), Action::SessionLogin, user), now).await.unwrap();
    assert!(s.session(&digest).await.unwrap().is_some());
}

pub async fn audit_append(s: &SharedStore, _i: u64) {
    s.append_audit(AuditEvent::new(None, Action::AuditView, "x"), Timestamp::now()).await.unwrap();
}

pub async fn job_enqueue_and_claim(s: &SharedStore, _i: u64) {
    let now = Timestamp::now();
    let job = NewJob {
        id: new_id(now),
        kind: "bench".into(),
        payload: "{}".into(),
        run_at: now,
        max_attempts: 3,
        sealed: None,
    };
    s.enqueue_job(job, now).await.unwrap();
    // Claimed "a second from now", so another caller's job just enqueued is due too.
    let at = now + SignedDuration::from_secs(1);
    s.claim_job("bench", at, at + SignedDuration::from_secs(60)).await.unwrap();
}

pub async fn sqlite_with(batching: bool) -> TestDb {
    let max_batch = if batching { SqliteOptions::default().max_batch } else { 1 };
    kiteline_store::testing::sqlite_with(SqliteOptions { max_batch }).await
}

pub async fn single_insert(s: &SharedStore, _i: u64) {
    let now = Timestamp::now();
    let job = NewJob {
        id: new_id(now),
        kind: "bench".into(),
        payload: "{}".into(),
        run_at: now,
        max_attempts: 3,
        sealed: None,
    };
    s.enqueue_job(job, now).await.unwrap();
}
