//! Shared rate-limit counters.

use kiteline_store::testing::TestDb;

use super::{store, t};

story!(rate_counters_are_shared_per_window);

async fn rate_counters_are_shared_per_window(db: &TestDb) {
    let s = store(db);
    assert_eq!(s.rate_count("login:u1", t(0)).await.unwrap(), 0);
    for expected in 1..=3 {
        assert_eq!(s.rate_hit("login:u1", t(0)).await.unwrap(), expected);
    }
    assert_eq!(s.rate_hit("login:u1", t(60)).await.unwrap(), 1, "a new window starts from zero");
    assert_eq!(s.rate_hit("login:u2", t(0)).await.unwrap(), 1);
    assert_eq!(s.rate_count("login:u1", t(0)).await.unwrap(), 3);
    assert_eq!(s.prune_rate_counters(t(60)).await.unwrap(), 2);
    assert_eq!(s.rate_count("login:u1", t(60)).await.unwrap(), 1);
}
