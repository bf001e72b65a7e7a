//! One story of the store, told against SQLite and PostgreSQL alike, one
//! module per area.
//!
//! Each story is a function over a fresh store; the `story!` macro makes a
//! `sqlite` and a `postgres` test of each. PostgreSQL tests skip when the
//! server is unreachable, except under `CI=true`, where they fail.

use jiff::Timestamp;
use kiteline_core::crypto::{FieldContext, Keyring, SecretKey};
use kiteline_store::testing::{self, TestDb};
use kiteline_store::vault::Vault;
use kiteline_store::{
    EmailAddress, Engine, Id, LinkPurpose, NewLink, NewSession, NewUser, Role, Sealed, SharedStore, TokenDigest,
};

macro_rules! story {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = kiteline_store::testing::sqlite().await;
                super::$name(&db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = kiteline_store::testing::postgres().await {
                    super::$name(&db).await;
                }
            }
        }
    )*};
}

mod api_tokens;
mod audit;
mod group_commit;
mod jobs;
mod keys;
mod org;
mod outbox;
mod rate;
mod schema;
mod second_factor;
mod sessions;
mod shifts;
mod users;
mod volunteers;

/// A fixed instant plus `secs` seconds.
fn t(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        email: EmailAddress::parse(email).unwrap(),
        name: "Ana Ruiz".into(),
        role,
        locale: "es".into(),
        chapter_id: None,
    }
}

/// The digest a store keeps for `token`.
fn d(token: &str) -> TokenDigest {
    TokenDigest::of(token)
}

fn link(purpose: LinkPurpose, user: Option<&Id>, token: &str, expires_at: Timestamp) -> NewLink {
    NewLink { id: kiteline_store::new_id(expires_at), purpose, user_id: user.cloned(), digest: d(token), expires_at }
}

fn session(token: &str, user: &Id, idle_seconds: i64, expires_at: Timestamp) -> NewSession {
    testing::session(token, user, idle_seconds, expires_at, None)
}

fn store(db: &TestDb) -> SharedStore {
    db.store.clone()
}

/// The audit key of test stores (derived from the test blind-index key).
fn audit_key() -> [u8; 32] {
    testing::keys().audit
}

/// Test stores carry the test keys from the start; this name says a story
/// relies on the audit log.
fn audited_store(db: &TestDb) -> SharedStore {
    store(db)
}

/// A vault with fixed test keys, to seal values the way the server does.
fn vault() -> Vault {
    Vault::from_keyring(Keyring::new(1, SecretKey::from_bytes([5; 32]), SecretKey::from_bytes([6; 32])))
}

fn seal(bytes: &[u8]) -> Sealed {
    vault().seal(FieldContext::new("test", "value", "row"), bytes)
}

fn unseal(sealed: &Sealed) -> Vec<u8> {
    vault().open(FieldContext::new("test", "value", "row"), sealed).unwrap()
}

/// Runs SQL on the test database through a connection of its own.
async fn raw_exec(db: &TestDb, sql: &str) {
    raw_try(db, sql).await.unwrap();
}

/// Like `raw_exec`, but returns the error instead of panicking.
async fn raw_try(db: &TestDb, sql: &str) -> Result<(), String> {
    match db.engine() {
        Engine::Sqlite => {
            rusqlite::Connection::open(&db.location).unwrap().execute_batch(sql).map_err(|e| e.to_string())
        }
        Engine::Postgres => {
            let (client, conn) = tokio_postgres::connect(&testing::pg_url(), tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            client.batch_execute(&format!("SET search_path TO {}; {sql}", db.location)).await.map_err(|e| e.to_string())
        }
    }
}

/// Rows of a query on the test database, each column as text.
async fn raw_rows(db: &TestDb, sql: &str) -> Vec<Vec<String>> {
    match db.engine() {
        Engine::Sqlite => {
            let c = rusqlite::Connection::open(&db.location).unwrap();
            let mut st = c.prepare(sql).unwrap();
            let n = st.column_count();
            st.query_map([], |r| {
                (0..n)
                    .map(|i| {
                        Ok(match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                            rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                            other => format!("{other:?}"),
                        })
                    })
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
        }
        Engine::Postgres => {
            let (client, conn) = tokio_postgres::connect(&testing::pg_url(), tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            client.batch_execute(&format!("SET search_path TO {}", db.location)).await.unwrap();
            client
                .simple_query(sql)
                .await
                .unwrap()
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => {
                        Some((0..r.len()).map(|i| r.get(i).unwrap_or("").to_owned()).collect())
                    }
                    _ => None,
                })
                .collect()
        }
    }
}
