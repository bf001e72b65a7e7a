//! Migrations, and how the schema's rules surface as errors.

use kiteline_store::testing::{self, TestDb};
use kiteline_store::{
    Action, AuditEvent, Constraint, Engine, NewApiToken, NewJob, Role, StoreError, StoredDataKey, TokenScope, new_id,
};

use super::{audited_store, d, new_user, raw_exec, raw_rows, store, t};

story!(
    ping_and_migrations_are_idempotent,
    every_unique_rule_of_the_schema_has_a_constraint_name,
    conflicts_name_the_same_constraint_on_both_engines_and_no_value,
);

async fn ping_and_migrations_are_idempotent(db: &TestDb) {
    let s = store(db);
    s.ping().await.unwrap();
    assert_eq!(s.engine(), db.engine());
    // Already migrated by the helper: a second run applies nothing.
    assert!(s.migrate().await.unwrap().is_empty());
}

/// Every primary key and unique rule in the schema maps to a `Constraint`,
/// so a conflict is named the same way on both engines.
async fn every_unique_rule_of_the_schema_has_a_constraint_name(db: &TestDb) {
    let rules: Vec<String> = match db.engine() {
        Engine::Sqlite => {
            let mut rules = Vec::new();
            let tables = raw_rows(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").await;
            for table in tables.into_iter().map(|r| r[0].clone()) {
                let pk: Vec<String> = raw_rows(db, &format!("SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk"))
                    .await
                    .into_iter()
                    .map(|r| format!("{table}.{}", r[0]))
                    .collect();
                if !pk.is_empty() {
                    rules.push(pk.join(", "));
                }
                for index in raw_rows(db, &format!("SELECT name FROM pragma_index_list('{table}') WHERE \"unique\" = 1 AND origin <> 'pk'")).await {
                    let cols: Vec<String> = raw_rows(db, &format!("SELECT name FROM pragma_index_info('{}') ORDER BY seqno", index[0]))
                        .await
                        .into_iter()
                        .map(|r| format!("{table}.{}", r[0]))
                        .collect();
                    // An index on an expression names no column; SQLite names the index.
                    if cols.iter().any(|c| c.ends_with('.') || c.ends_with(".Null")) {
                        rules.push(format!("index '{}'", index[0]));
                    } else {
                        rules.push(cols.join(", "));
                    }
                }
            }
            rules
        }
        Engine::Postgres => raw_rows(
            db,
            "SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u') AND connamespace = current_schema()::regnamespace",
        )
        .await
        .into_iter()
        .map(|r| r[0].clone())
        .collect(),
    };
    assert!(rules.len() >= 17, "{rules:?}");
    let known: Vec<(Constraint, &str, &str)> = Constraint::known_unique().collect();
    for rule in &rules {
        let found = known.iter().any(|(_, sqlite, pg)| match db.engine() {
            Engine::Sqlite => sqlite == rule,
            Engine::Postgres => pg == rule,
        });
        assert!(found, "{:?}: the unique rule {rule} has no Constraint", db.engine());
    }
}

async fn conflicts_name_the_same_constraint_on_both_engines_and_no_value(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("secret.person@example.org", Role::Admin), new_id(t(0)), t(0)).await.unwrap();
    let dup = s.create_user(new_user("secret.person@example.org", Role::Admin), new_id(t(1)), t(1)).await.unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(Constraint::UserEmail)), "{dup:?}");
    assert!(!dup.to_string().contains("secret.person"), "{dup}");

    let ev = |id: &kiteline_store::Id| AuditEvent::new(None, Action::ChapterCreate, id);
    let c1 = new_id(t(2));
    s.create_chapter(c1.clone(), "Bay Area", ev(&c1), t(2)).await.unwrap();
    let c2 = new_id(t(3));
    let dup = s.create_chapter(c2.clone(), "Bay Area", ev(&c2), t(3)).await.unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(Constraint::ChapterName)), "{dup:?}");
    let c3 = new_id(t(3));
    let dup = s.create_chapter(c3.clone(), "bay AREA", ev(&c3), t(3)).await.unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(Constraint::ChapterName)), "case does not make a new name: {dup:?}");

    let token = |digest: &str, user: &kiteline_store::Id| NewApiToken {
        id: new_id(t(4)),
        user_id: user.clone(),
        label: "ci".into(),
        scope: TokenScope::Read,
        digest: d(digest),
        expires_at: t(86400),
    };
    let audit = || AuditEvent::new(None, Action::ApiTokenCreate, "x");
    s.create_api_token(token("tok", &u.id), audit(), t(4)).await.unwrap();
    let dup = s.create_api_token(token("tok", &u.id), audit(), t(4)).await.unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(Constraint::ApiTokenDigest)), "{dup:?}");
    let orphan = s.create_api_token(token("tok2", &new_id(t(5))), audit(), t(5)).await.unwrap_err();
    assert!(matches!(orphan, StoreError::Conflict(Constraint::MissingReference)), "{orphan:?}");

    let job = NewJob {
        id: new_id(t(6)),
        kind: "k".into(),
        payload: "{}".into(),
        run_at: t(6),
        max_attempts: 1,
        sealed: None,
    };
    s.enqueue_job(job.clone(), t(6)).await.unwrap();
    let dup = s.enqueue_job(job, t(6)).await.unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(Constraint::JobId)), "{dup:?}");

    s.insert_data_key(StoredDataKey { version: 7, wrapped: vec![1] }, t(7)).await.unwrap();
    let dup = s.insert_data_key(StoredDataKey { version: 7, wrapped: vec![2] }, t(7)).await.unwrap_err();
    assert!(matches!(dup, StoreError::Conflict(Constraint::DataKeyVersion)), "{dup:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_newer_than_the_binary_or_an_edited_migration_is_refused() {
    for db in testing::each_engine().await {
        let s = store(&db);
        raw_exec(
            &db,
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (999, 'future', 'x', 'now')",
        )
        .await;
        let err = s.migrate().await.unwrap_err();
        assert!(err.to_string().contains("newer than this binary"), "{:?}: {err}", db.engine());
        raw_exec(&db, "DELETE FROM schema_migrations WHERE version = 999").await;
        s.migrate().await.unwrap();

        raw_exec(&db, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1").await;
        let err = s.migrate().await.unwrap_err();
        assert!(err.to_string().contains("changed after it was applied"), "{:?}: {err}", db.engine());
    }
}

/// Port 1 on loopback: nothing listens there.
const UNREACHABLE: &str = "postgres://postgres@127.0.0.1:1/postgres?connect_timeout=2";

#[tokio::test]
async fn unreachable_postgres_is_skipped_outside_ci() {
    assert!(testing::postgres_at(UNREACHABLE, false).await.is_none());
}

#[tokio::test]
#[should_panic(expected = "CI=true")]
async fn unreachable_postgres_fails_under_ci() {
    testing::postgres_at(UNREACHABLE, true).await;
}
