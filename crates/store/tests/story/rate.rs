//! Shared rate limits: sliding windows, reserved before the work they guard.

use std::sync::Arc;

use jiff::SignedDuration;
use kiteline_store::testing::TestDb;
use kiteline_store::{Attempt, Limit};

use super::{store, t};

story!(a_window_slides_and_a_refund_frees_a_place, concurrent_reservations_never_exceed_the_limit);

fn limit(key: &str, n: u32, secs: i64) -> Limit {
    Limit { key: key.into(), limit: n, window: SignedDuration::from_secs(secs) }
}

async fn a_window_slides_and_a_refund_frees_a_place(db: &TestDb) {
    let s = store(db);
    for i in 0..3 {
        let a = s.reserve_attempt(limit("login:u1", 3, 60), t(i * 10)).await.unwrap();
        assert!(matches!(a, Attempt::Granted(_)), "{i}");
    }
    // The fourth within the window waits until the first leaves it (t=60).
    assert_eq!(
        s.reserve_attempt(limit("login:u1", 3, 60), t(25)).await.unwrap(),
        Attempt::Refused { retry_after: SignedDuration::from_secs(35) }
    );
    assert!(matches!(s.reserve_attempt(limit("login:u2", 3, 60), t(25)).await.unwrap(), Attempt::Granted(_)));
    // No reset at a window's edge: at t=59 the first three still count.
    assert!(matches!(s.reserve_attempt(limit("login:u1", 3, 60), t(59)).await.unwrap(), Attempt::Refused { .. }));
    // At t=60 the first has slid out.
    assert!(matches!(s.reserve_attempt(limit("login:u1", 3, 60), t(60)).await.unwrap(), Attempt::Granted(_)));
    assert_eq!(s.attempts_in_window("login:u1", SignedDuration::from_secs(60), t(60)).await.unwrap(), 3);
    // A refund gives the place back.
    let Attempt::Granted(id) = s.reserve_attempt(limit("login:r", 1, 60), t(61)).await.unwrap() else { panic!() };
    assert!(matches!(s.reserve_attempt(limit("login:r", 1, 60), t(62)).await.unwrap(), Attempt::Refused { .. }));
    s.refund_attempt(&id).await.unwrap();
    assert!(matches!(s.reserve_attempt(limit("login:r", 1, 60), t(63)).await.unwrap(), Attempt::Granted(_)));
    // u1 keeps t10, t20, t60 (t0 slid out), u2 keeps t25, r keeps t63.
    assert_eq!(s.prune_attempts(t(1000)).await.unwrap(), 5);
}

/// Seen in the review: requests already in flight were never refused,
/// because the limit was checked before verifying and counted after.
async fn concurrent_reservations_never_exceed_the_limit(db: &TestDb) {
    let s = store(db);
    let mut calls = Vec::new();
    for _ in 0..60 {
        let s = Arc::clone(&s);
        calls.push(tokio::spawn(async move { s.reserve_attempt(limit("login-net:x", 9, 60), t(0)).await.unwrap() }));
    }
    let mut granted = 0;
    for c in calls {
        if matches!(c.await.unwrap(), Attempt::Granted(_)) {
            granted += 1;
        }
    }
    assert_eq!(granted, 9);
}
