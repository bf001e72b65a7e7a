//! Store operations per second on both engines, and group commit on SQLite.
//!
//! Run through `bench/store.sh`, which also measures a bare axum endpoint in
//! the same run so every figure here can be read as a ratio. Only loopback
//! and a temporary SQLite file are touched; every loop is bounded.
//!
//! Arguments: `[seconds per figure]` (default 3).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kiteline_store::testing::{self, TestDb};
use kiteline_store::{EmailAddress, NewUser, Role, new_id};

mod compat;

/// Unique numbers across every figure of the run (session digests differ).
static SEQ: AtomicU64 = AtomicU64::new(0);

/// Runs `op` from `callers` concurrent tasks for `secs` seconds; ops per second.
async fn rate<F, Fut>(callers: usize, secs: f64, op: F) -> f64
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let (op, done) = (op.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                op(SEQ.fetch_add(1, Ordering::Relaxed)).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn print(engine: &str, what: &str, callers: usize, ops: f64) {
    println!("| {engine} | {what} | {callers} | {ops:.0} |");
}

async fn engine_figures(db: TestDb, secs: f64) {
    let engine = db.engine().as_str();
    let s = db.store.clone();
    compat::set_audit_key(&s);
    let user = s
        .create_user(
            NewUser {
                email: EmailAddress::parse("bench@example.org").unwrap(),
                name: "Bench".into(),
                role: Role::Volunteer,
                locale: "en".into(),
                chapter_id: None,
            },
            new_id(Timestamp::now()),
            Timestamp::now(),
        )
        .await
        .unwrap();
    for callers in [1, 16] {
        let (st, u) = (s.clone(), user.id.clone());
        let ops = rate(callers, secs, move |i| {
            let (st, u) = (st.clone(), u.clone());
            async move { compat::session_create_and_lookup(&st, &u, i).await }
        })
        .await;
        print(engine, "create a session, then look it up", callers, ops);

        let st = s.clone();
        let ops = rate(callers, secs, move |i| {
            let st = st.clone();
            async move { compat::audit_append(&st, i).await }
        })
        .await;
        print(engine, "append to the audit log", callers, ops);

        let st = s.clone();
        let ops = rate(callers, secs, move |i| {
            let st = st.clone();
            async move { compat::job_enqueue_and_claim(&st, i).await }
        })
        .await;
        print(engine, "enqueue a job, then claim one", callers, ops);
    }
}

async fn group_commit(secs: f64) {
    for batching in compat::BATCHING {
        let db = compat::sqlite_with(batching).await;
        let st = db.store.clone();
        let ops = rate(64, secs, move |i| {
            let st = st.clone();
            async move { compat::single_insert(&st, i).await }
        })
        .await;
        let label = if batching { "single-row insert, group commit on" } else { "single-row insert, group commit off" };
        print("sqlite", label, 64, ops);
    }
}

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(3.0);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        println!("| engine | operation | callers | ops/s |");
        println!("|---|---|---|---|");
        engine_figures(testing::sqlite().await, secs).await;
        match testing::postgres().await {
            Some(db) => engine_figures(db, secs).await,
            None => eprintln!("PostgreSQL unreachable: its figures are missing"),
        }
        group_commit(secs).await;
    });
}
