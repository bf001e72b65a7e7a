//! Helpers for tests in every crate: a fresh store per test on either engine.
//!
//! SQLite: a new file in a temporary directory, removed afterwards.
//! PostgreSQL: a new schema in the server named by `KITELINE_TEST_DATABASE_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped afterwards.
//! If that server cannot be reached, PostgreSQL tests are skipped with a note,
//! unless `CI=true`, when they fail: CI must never pass by skipping.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::{
    Engine, Id, LinkPurpose, NewLink, NewSession, SharedStore, SqliteOptions, Store, StoreKeys, TokenDigest, new_id,
    random_bytes,
};

pub const DEFAULT_TEST_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub fn pg_url() -> String {
    std::env::var("KITELINE_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_TEST_PG_URL.to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A directory under the system temp dir, removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", kiteline_core::crypto::hex(&random_bytes::<8>())));
        std::fs::create_dir_all(&dir).expect("temp dir can be created");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A store for one test, cleaned up when dropped.
pub struct TestDb {
    pub store: SharedStore,
    /// For SQLite, the database file; for PostgreSQL, the schema name.
    pub location: String,
    engine: Engine,
    /// The PostgreSQL server's URL (empty for SQLite).
    server: String,
    _dir: Option<TempDir>,
}

impl TestDb {
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The `KITELINE_DATABASE_URL` that reaches this test's data from another
    /// process (PostgreSQL: with the schema as search path).
    pub fn url(&self) -> String {
        match self.engine {
            Engine::Sqlite => format!("sqlite://{}", self.location),
            Engine::Postgres => {
                let base = &self.server;
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options=-c%20search_path%3D{}", self.location)
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.engine == Engine::Postgres {
            let (schema, server) = (self.location.clone(), self.server.clone());
            // Drop may run during a panic or outside a runtime: use a thread of its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    let (client, conn) = tokio_postgres::connect(&server, tokio_postgres::NoTls).await.ok()?;
                    tokio::spawn(conn);
                    // Connections of the test's pool may still be open (and one
                    // may hold a lock): end them before dropping the schema.
                    let app = format!("kiteline:{schema}");
                    client
                        .execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                            &[&app],
                        )
                        .await
                        .ok()?;
                    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await.ok()
                })
            })
            .join();
        }
    }
}

/// The blind-index key test stores start with (a vault loaded later may
/// replace the keys with its own).
pub const TEST_BLIND_KEY: [u8; 32] = [4; 32];

/// The keys derived from [`TEST_BLIND_KEY`].
pub fn keys() -> StoreKeys {
    StoreKeys::from_blind(&kiteline_core::crypto::SecretKey::from_bytes(TEST_BLIND_KEY))
}

/// A migrated SQLite store in a new temporary directory.
pub async fn sqlite() -> TestDb {
    sqlite_with(SqliteOptions::default()).await
}

/// [`sqlite`] with the given options (group commit off, say).
pub async fn sqlite_with(options: SqliteOptions) -> TestDb {
    let db = sqlite_unmigrated(options).await;
    db.store.migrate().await.expect("SQLite migrates");
    db
}

/// A SQLite store with the test keys and no schema yet (upgrade tests
/// migrate it step by step).
pub async fn sqlite_unmigrated(options: SqliteOptions) -> TestDb {
    let dir = TempDir::new("kiteline-test");
    let path = dir.path().join("kiteline.db");
    let store = Store::open_sqlite_with(&path, options).await.expect("SQLite opens");
    store.set_keys(keys());
    TestDb {
        store: Arc::new(store),
        location: path.display().to_string(),
        engine: Engine::Sqlite,
        server: String::new(),
        _dir: Some(dir),
    }
}

/// A migrated PostgreSQL store in a new schema, or `None` (skipped) when the
/// server is unreachable outside CI.
pub async fn postgres() -> Option<TestDb> {
    postgres_at(&pg_url(), in_ci()).await
}

/// [`postgres`] with the server and the CI flag given: unreachable means
/// `None` (skip) when `ci` is false and a panic (fail) when it is true.
pub async fn postgres_at(url: &str, ci: bool) -> Option<TestDb> {
    let db = postgres_unmigrated_at(url, ci).await?;
    db.store.migrate().await.expect("PostgreSQL migrates");
    Some(db)
}

/// Both engines with the test keys and no schema yet.
pub async fn each_engine_unmigrated() -> Vec<TestDb> {
    let mut dbs = vec![sqlite_unmigrated(SqliteOptions::default()).await];
    dbs.extend(postgres_unmigrated_at(&pg_url(), in_ci()).await);
    dbs
}

async fn postgres_unmigrated_at(url: &str, ci: bool) -> Option<TestDb> {
    let admin = match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
        Ok((client, conn)) => {
            tokio::spawn(conn);
            client
        }
        Err(e) => {
            if ci {
                panic!("PostgreSQL at {url} is unreachable and CI=true, so this is a failure, not a skip: {e}");
            }
            eprintln!("skipping PostgreSQL test: {url} is unreachable ({e}); set KITELINE_TEST_DATABASE_URL");
            return None;
        }
    };
    let schema = format!("kl_test_{}", kiteline_core::crypto::hex(&random_bytes::<8>()));
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("test schema can be created");
    let store = Store::connect_postgres(url, 4, Some(&schema)).await.expect("PostgreSQL connects");
    store.set_keys(keys());
    Some(TestDb {
        store: Arc::new(store),
        location: schema,
        engine: Engine::Postgres,
        server: url.to_owned(),
        _dir: None,
    })
}

/// Both engines where available: SQLite always, PostgreSQL when reachable.
pub async fn each_engine() -> Vec<TestDb> {
    let mut dbs = vec![sqlite().await];
    dbs.extend(postgres().await);
    dbs
}

/// A session of `user` stored under the digest of `token`.
pub fn session(
    token: &str,
    user: &Id,
    idle_seconds: i64,
    expires_at: Timestamp,
    second_factor_at: Option<Timestamp>,
) -> NewSession {
    NewSession {
        digest: TokenDigest::of(token),
        user_id: user.clone(),
        idle_seconds,
        expires_at,
        second_factor_at,
        persistent: false,
        device_label: "Test browser".to_owned(),
        replaces: None,
    }
}

/// A set-password link for `user` under the digest of `token`, usable for
/// an hour from `now`.
pub fn password_link(token: &str, user: &Id, now: Timestamp) -> NewLink {
    NewLink {
        id: new_id(now),
        purpose: LinkPurpose::SetPassword,
        user_id: Some(user.clone()),
        digest: TokenDigest::of(token),
        expires_at: now + SignedDuration::from_hours(1),
    }
}
