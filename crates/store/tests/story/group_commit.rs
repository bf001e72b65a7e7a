//! Group commit: concurrent writes share one commit on SQLite, each in its
//! own savepoint, so one that fails is undone alone; every caller is
//! answered after the commit. The same calls hold on PostgreSQL.

use std::sync::Arc;

use kiteline_store::testing::{self, TestDb};
use kiteline_store::{Constraint, NewJob, NewMail, SqliteOptions, StoreError, new_id};

use super::{seal, store, t};

story!(concurrent_writes_succeed_or_fail_each_alone);

/// 64 callers at once: every eighth reuses a job id that is taken, after
/// its outbox row was already written. Those fail with their conflict and
/// leave nothing; all the others are stored.
async fn concurrent_writes_succeed_or_fail_each_alone(db: &TestDb) {
    let s = store(db);
    let taken = new_id(t(0));
    s.enqueue_job(
        NewJob {
            id: taken.clone(),
            kind: "k".into(),
            payload: "{}".into(),
            run_at: t(0),
            max_attempts: 1,
            sealed: None,
        },
        t(0),
    )
    .await
    .unwrap();
    let mut calls = Vec::new();
    for i in 0..64 {
        let (s, taken) = (Arc::clone(&s), taken.clone());
        calls.push(tokio::spawn(async move {
            let mail =
                NewMail { id: new_id(t(1)), sealed: seal(b"m"), job_id: if i % 8 == 0 { taken } else { new_id(t(1)) } };
            let id = mail.id.clone();
            (i, id, s.enqueue_mail(mail, t(1)).await)
        }));
    }
    for call in calls {
        let (i, id, result) = call.await.unwrap();
        if i % 8 == 0 {
            assert!(matches!(result, Err(StoreError::Conflict(Constraint::JobId))), "{i}: {result:?}");
            assert_eq!(s.queued_mail(&id).await.unwrap(), None, "{i}: its outbox row was undone");
        } else {
            result.unwrap();
            assert!(s.queued_mail(&id).await.unwrap().is_some(), "{i}");
        }
    }
    assert_eq!(s.job_counts().await.unwrap()[0], 1 + 56);
}

async fn burst(db: &TestDb, writes: usize) {
    let mut calls = Vec::new();
    for _ in 0..writes {
        let s = Arc::clone(&db.store);
        calls.push(tokio::spawn(async move {
            let job = NewJob {
                id: new_id(t(0)),
                kind: "k".into(),
                payload: "{}".into(),
                run_at: t(0),
                max_attempts: 1,
                sealed: None,
            };
            s.enqueue_job(job, t(0)).await.unwrap();
        }));
    }
    for c in calls {
        c.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_gathers_concurrent_writes_into_fewer_commits() {
    let db = testing::sqlite().await;
    let before = db.store.commit_stats().unwrap();
    burst(&db, 256).await;
    let after = db.store.commit_stats().unwrap();
    let (commits, writes) = (after.commits - before.commits, after.writes - before.writes);
    assert_eq!(writes, 256);
    assert!(commits < writes, "{commits} commits for {writes} writes: nothing was gathered");
    assert_eq!(db.store.job_counts().await.unwrap()[0], 256, "every acknowledged write is stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_group_commit_off_each_write_commits_alone() {
    let db = testing::sqlite_with(SqliteOptions { max_batch: 1 }).await;
    let before = db.store.commit_stats().unwrap();
    burst(&db, 64).await;
    let after = db.store.commit_stats().unwrap();
    assert_eq!((after.commits - before.commits, after.writes - before.writes), (64, 64));
}
