//! One story of the store, told against SQLite and PostgreSQL alike.
//!
//! Each story is a function over a fresh `DynStore`; the `story!` macro makes
//! a `sqlite` and a `postgres` test of each. PostgreSQL tests skip when the
//! server is unreachable, except under `CI=true`, where they fail.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use kiteline_core::audit::verify_chain;
use kiteline_core::crypto::{FieldContext, KekRing, SecretKey};
use kiteline_store::testing::{self, TestDb};
use kiteline_store::vault::{Vault, VaultError};
use kiteline_store::{
    AuditEvent, AuditFilter, DynStore, EmailAddress, Engine, Id, JobState, LinkPurpose, NewJob, NewUser, ProfileUpdate,
    Role, StoreError, TokenScope, new_id,
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

story!(
    ping_and_migrations_are_idempotent,
    users_are_unique_by_email,
    set_password_link_is_single_use_and_expires,
    first_admin_link_creates_one_admin_only,
    newer_first_admin_link_replaces_older,
    api_tokens_store_only_what_they_are_given,
    jobs_are_claimed_retried_and_finished,
    an_expired_lease_lets_another_worker_reclaim,
    two_workers_never_run_the_same_job,
    mail_is_queued_with_its_job_and_its_body_dropped_when_sent,
    vault_creates_one_data_key_and_survives_kek_rotation,
    backup_is_sqlite_only,
    invitations_profiles_roles_and_disabling,
    sessions_end_on_disable_role_change_and_password_change,
    second_factor_steps_are_single_use_and_recovery_codes_too,
    the_audit_chain_verifies_and_survives_retention,
    an_edited_or_deleted_audit_row_breaks_the_chain,
    rate_counters_are_shared_per_window,
    api_tokens_are_found_by_digest_touched_and_revoked,
);

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

fn store(db: &TestDb) -> DynStore {
    db.store.clone()
}

async fn ping_and_migrations_are_idempotent(db: &TestDb) {
    let s = store(db);
    s.ping().await.unwrap();
    assert_eq!(s.engine(), db.engine());
    // Already migrated by the helper: a second run applies nothing.
    assert!(s.migrate().await.unwrap().is_empty());
}

async fn users_are_unique_by_email(db: &TestDb) {
    let s = store(db);
    let id = new_id(t(0));
    let u = s.create_user(new_user("Ana@Example.org", Role::Volunteer), id.clone(), t(0)).await.unwrap();
    assert_eq!(u.id, id);
    assert_eq!(u.email, "ana@example.org");
    assert_eq!(u.role, Role::Volunteer);
    assert_eq!(u.locale, "es");
    assert!(!u.has_password);
    assert_eq!(u.created_at, t(0));
    assert_eq!(s.user_by_id(&id).await.unwrap(), Some(u.clone()));
    assert_eq!(s.user_by_email(&EmailAddress::parse("ANA@example.org").unwrap()).await.unwrap(), Some(u));
    assert_eq!(s.user_by_email(&EmailAddress::parse("bo@example.org").unwrap()).await.unwrap(), None);
    let dup = s.create_user(new_user("ana@example.org", Role::Admin), new_id(t(1)), t(1)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(ref c)) if c.contains("email")), "{dup:?}");
    assert_eq!(s.count_active_admins().await.unwrap(), 0);
    assert_eq!(s.password_hash(&id).await.unwrap(), None);
}

async fn set_password_link_is_single_use_and_expires(db: &TestDb) {
    let s = store(db);
    let user = s.create_user(new_user("ana@example.org", Role::Coordinator), new_id(t(0)), t(0)).await.unwrap();
    s.create_link(new_id(t(0)), LinkPurpose::SetPassword, Some(&user.id), "digest-1", t(100), t(0)).await.unwrap();
    s.create_link(new_id(t(0)), LinkPurpose::SetPassword, Some(&user.id), "digest-2", t(100), t(0)).await.unwrap();

    let link = s.usable_link("digest-1", t(10)).await.unwrap().unwrap();
    assert_eq!(link.purpose, LinkPurpose::SetPassword);
    assert_eq!(link.user_id.as_ref(), Some(&user.id));
    assert_eq!(link.expires_at, t(100));
    assert_eq!(s.usable_link("digest-1", t(100)).await.unwrap(), None, "expired at its expiry instant");
    assert!(matches!(s.use_set_password_link("digest-1", "hash", t(100)).await, Err(StoreError::NotFound)));
    assert!(matches!(s.use_set_password_link("nope", "hash", t(10)).await, Err(StoreError::NotFound)));

    let updated = s.use_set_password_link("digest-1", "$argon2id$hash", t(10)).await.unwrap();
    assert!(updated.has_password);
    assert_eq!(s.password_hash(&user.id).await.unwrap().as_deref(), Some("$argon2id$hash"));
    assert!(matches!(s.use_set_password_link("digest-1", "again", t(11)).await, Err(StoreError::NotFound)));
    // Setting a password retires the user's other outstanding links.
    assert_eq!(s.usable_link("digest-2", t(11)).await.unwrap(), None);
    assert_eq!(s.password_hash(&user.id).await.unwrap().as_deref(), Some("$argon2id$hash"));
}

async fn first_admin_link_creates_one_admin_only(db: &TestDb) {
    let s = store(db);
    s.create_link(new_id(t(0)), LinkPurpose::FirstAdmin, None, "first", t(100), t(0)).await.unwrap();
    // A first-admin link cannot be used as a set-password link.
    assert!(matches!(s.use_set_password_link("first", "h", t(1)).await, Err(StoreError::NotFound)));
    let admin = s
        .use_first_admin_link("first", new_user("root@example.org", Role::Admin), new_id(t(1)), "h", t(1))
        .await
        .unwrap();
    assert_eq!(admin.role, Role::Admin);
    assert!(admin.has_password);
    assert_eq!(s.count_active_admins().await.unwrap(), 1);
    assert!(matches!(
        s.use_first_admin_link("first", new_user("b@example.org", Role::Admin), new_id(t(2)), "h", t(2)).await,
        Err(StoreError::NotFound)
    ));
    // Even a fresh link is refused once an admin exists.
    s.create_link(new_id(t(3)), LinkPurpose::FirstAdmin, None, "second", t(100), t(3)).await.unwrap();
    assert!(matches!(
        s.use_first_admin_link("second", new_user("c@example.org", Role::Admin), new_id(t(4)), "h", t(4)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.count_active_admins().await.unwrap(), 1);
    assert_eq!(s.user_by_email(&EmailAddress::parse("c@example.org").unwrap()).await.unwrap(), None);
}

async fn newer_first_admin_link_replaces_older(db: &TestDb) {
    let s = store(db);
    s.create_link(new_id(t(0)), LinkPurpose::FirstAdmin, None, "old", t(100), t(0)).await.unwrap();
    s.create_link(new_id(t(1)), LinkPurpose::FirstAdmin, None, "new", t(100), t(1)).await.unwrap();
    assert_eq!(s.usable_link("old", t(2)).await.unwrap(), None);
    assert!(s.usable_link("new", t(2)).await.unwrap().is_some());
}

async fn api_tokens_store_only_what_they_are_given(db: &TestDb) {
    let s = store(db);
    let user = s.create_user(new_user("ana@example.org", Role::Admin), new_id(t(0)), t(0)).await.unwrap();
    let tok = s.create_api_token(new_id(t(1)), &user.id, "laptop", TokenScope::Write, "d1", t(1)).await.unwrap();
    s.create_api_token(new_id(t(2)), &user.id, "ci", TokenScope::Read, "d2", t(2)).await.unwrap();
    let all = s.api_tokens_of(&user.id).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], tok);
    assert_eq!(all[1].scope, TokenScope::Read);
    let dup = s.create_api_token(new_id(t(3)), &user.id, "again", TokenScope::Read, "d1", t(3)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let orphan = s.create_api_token(new_id(t(3)), &new_id(t(3)), "x", TokenScope::Read, "d3", t(3)).await;
    assert!(matches!(orphan, Err(StoreError::Conflict(_))), "{orphan:?}");
}

fn job(kind: &str, run_at: Timestamp, max_attempts: u32) -> NewJob {
    NewJob { id: new_id(run_at), kind: kind.into(), payload: "{}".into(), run_at, max_attempts }
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
    let second: DynStore = match db.engine() {
        Engine::Sqlite => {
            Arc::new(kiteline_store::sqlite::SqliteStore::open(std::path::Path::new(&db.location)).await.unwrap())
        }
        Engine::Postgres => Arc::new(
            kiteline_store::postgres::PgStore::connect(&testing::pg_url(), 4, Some(&db.location)).await.unwrap(),
        ),
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

async fn mail_is_queued_with_its_job_and_its_body_dropped_when_sent(db: &TestDb) {
    let s = store(db);
    let (mail, job_id) = (new_id(t(0)), new_id(t(0)));
    s.enqueue_mail(mail.clone(), b"sealed bytes", job_id.clone(), t(0)).await.unwrap();
    assert_eq!(s.queued_mail(&mail).await.unwrap().as_deref(), Some(&b"sealed bytes"[..]));
    let claimed = s.claim_job("w", t(0), t(60)).await.unwrap().unwrap();
    assert_eq!(claimed.id, job_id);
    assert_eq!(claimed.kind, kiteline_store::SEND_MAIL_JOB);
    assert_eq!(claimed.payload, format!("{{\"outbox_id\":\"{mail}\"}}"));
    s.mark_mail_sent(&mail, t(1)).await.unwrap();
    assert_eq!(s.queued_mail(&mail).await.unwrap(), None);

    let other = new_id(t(2));
    s.enqueue_mail(other.clone(), b"x", new_id(t(2)), t(2)).await.unwrap();
    s.mark_mail_failed(&other).await.unwrap();
    assert_eq!(s.queued_mail(&other).await.unwrap(), None);
    // A duplicate job id rolls back the outbox row too.
    let again = new_id(t(3));
    assert!(s.enqueue_mail(again.clone(), b"y", job_id, t(3)).await.is_err());
    assert_eq!(s.queued_mail(&again).await.unwrap(), None);
}

async fn vault_creates_one_data_key_and_survives_kek_rotation(db: &TestDb) {
    let s = store(db);
    let mut keks = KekRing::new();
    keks.insert(1, SecretKey::from_bytes([7; 32]));
    let blind = SecretKey::from_bytes([8; 32]);
    let v1 = Vault::load(&*s, &keks, blind.clone(), t(0)).await.unwrap();
    let v1b = Vault::load(&*s, &keks, blind.clone(), t(0)).await.unwrap();
    assert_eq!(s.data_keys().await.unwrap().len(), 1, "a second load reuses the key");
    let ctx = FieldContext::new("people", "name", "row-1");
    let sealed = v1.seal(ctx, b"Maria Lopez");
    assert_eq!(v1b.open(ctx, &sealed).unwrap(), b"Maria Lopez");

    // Rotate the KEK: add version 2, load (re-wraps), then drop version 1.
    keks.insert(2, SecretKey::from_bytes([9; 32]));
    Vault::load(&*s, &keks, blind.clone(), t(1)).await.unwrap();
    let mut only_new = KekRing::new();
    only_new.insert(2, SecretKey::from_bytes([9; 32]));
    let v2 = Vault::load(&*s, &only_new, blind.clone(), t(2)).await.unwrap();
    assert_eq!(v2.open(ctx, &sealed).unwrap(), b"Maria Lopez");

    // The wrong key file is refused clearly.
    let mut wrong = KekRing::new();
    wrong.insert(2, SecretKey::from_bytes([1; 32]));
    assert!(matches!(Vault::load(&*s, &wrong, blind, t(3)).await, Err(VaultError::Unwrap { version: 1, .. })));
}

async fn backup_is_sqlite_only(db: &TestDb) {
    let s = store(db);
    s.create_user(new_user("ana@example.org", Role::Admin), new_id(t(0)), t(0)).await.unwrap();
    let dir = testing::TempDir::new("kiteline-backup");
    let out = dir.path().join("copy.db");
    match db.engine() {
        Engine::Sqlite => {
            s.backup_to(&out).await.unwrap();
            let copy = kiteline_store::sqlite::SqliteStore::open(&out).await.unwrap();
            use kiteline_store::Store;
            assert!(copy.migrate().await.unwrap().is_empty());
            assert!(copy.user_by_email(&EmailAddress::parse("ana@example.org").unwrap()).await.unwrap().is_some());
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
            assert!(matches!(s.backup_to(&out).await, Err(StoreError::Conflict(_))), "never overwrites");
        }
        Engine::Postgres => {
            let err = s.backup_to(&out).await.unwrap_err();
            assert!(err.to_string().contains("pg_dump"));
            assert!(!out.exists());
        }
    }
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

/// Runs SQL on the test database through a connection of its own.
async fn raw_exec(db: &TestDb, sql: &str) {
    match db.engine() {
        Engine::Sqlite => rusqlite::Connection::open(&db.location).unwrap().execute_batch(sql).unwrap(),
        Engine::Postgres => {
            let (client, conn) = tokio_postgres::connect(&testing::pg_url(), tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            client.batch_execute(&format!("SET search_path TO {}; {sql}", db.location)).await.unwrap();
        }
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

const AUDIT_KEY: [u8; 32] = [42; 32];

fn audited_store(db: &TestDb) -> DynStore {
    let s = store(db);
    s.set_audit_key(AUDIT_KEY);
    s
}

async fn invitations_profiles_roles_and_disabling(db: &TestDb) {
    let s = audited_store(db);
    let admin = s.create_user(new_user("admin@example.org", Role::Admin), new_id(t(0)), t(0)).await.unwrap();
    let chapter = new_id(t(0));
    s.create_chapter(
        chapter.clone(),
        "Bay Area",
        AuditEvent::new(Some(&admin.id), "chapter.create", "chapter", chapter.as_str()),
        t(0),
    )
    .await
    .unwrap();
    assert!(matches!(
        s.create_chapter(new_id(t(0)), "Bay Area", AuditEvent::new(None, "chapter.create", "chapter", "x"), t(0)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.chapters().await.unwrap()[0].name, "Bay Area");

    let mut invited = new_user("vol@example.org", Role::Volunteer);
    invited.chapter_id = Some(chapter.clone());
    let vid = new_id(t(1));
    let event = AuditEvent::new(Some(&admin.id), "user.invite", "user", vid.as_str());
    let vol = s.invite_user(invited, vid.clone(), "invite-digest", t(100), event, t(1)).await.unwrap();
    assert_eq!(vol.chapter_id.as_ref(), Some(&chapter));
    assert_eq!(s.usable_link("invite-digest", t(2)).await.unwrap().unwrap().user_id.as_ref(), Some(&vid));
    // A failed invitation leaves nothing behind, not even its audit entry.
    let before = s.audit_chain().await.unwrap().1.len();
    let dup = s
        .invite_user(
            new_user("vol@example.org", Role::Volunteer),
            new_id(t(2)),
            "d2",
            t(100),
            AuditEvent::new(None, "user.invite", "user", "x"),
            t(2),
        )
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
    assert_eq!(s.audit_chain().await.unwrap().1.len(), before);

    let profile = ProfileUpdate {
        name: "Marisol".into(),
        pronouns: "she/her".into(),
        time_zone: "America/Chicago".into(),
        languages: "en,es".into(),
        locale: "es".into(),
        phone: Some(b"sealed phone".to_vec()),
        notify_email: false,
        notify_sms: true,
    };
    s.update_profile(&vid, profile, t(3)).await.unwrap();
    let u = s.user_by_id(&vid).await.unwrap().unwrap();
    assert_eq!(
        (u.name.as_str(), u.pronouns.as_str(), u.time_zone.as_str(), u.languages.as_str()),
        ("Marisol", "she/her", "America/Chicago", "en,es")
    );
    assert_eq!((u.notify_email, u.notify_sms, u.locale.as_str()), (false, true, "es"));
    assert_eq!(s.user_phone(&vid).await.unwrap().as_deref(), Some(&b"sealed phone"[..]));

    s.set_role(
        &vid,
        Role::Coordinator,
        AuditEvent::new(Some(&admin.id), "user.role_change", "user", vid.as_str()),
        t(4),
    )
    .await
    .unwrap();
    assert_eq!(s.user_by_id(&vid).await.unwrap().unwrap().role, Role::Coordinator);
    s.set_disabled(&vid, true, AuditEvent::new(Some(&admin.id), "user.disable", "user", vid.as_str()), t(5))
        .await
        .unwrap();
    assert_eq!(s.user_by_id(&vid).await.unwrap().unwrap().disabled_at, Some(t(5)));
    assert_eq!(s.password_hash(&vid).await.unwrap(), None, "a disabled account has no usable hash");
    s.set_disabled(&vid, false, AuditEvent::new(Some(&admin.id), "user.enable", "user", vid.as_str()), t(6))
        .await
        .unwrap();
    assert_eq!(s.user_by_id(&vid).await.unwrap().unwrap().disabled_at, None);
    assert!(matches!(
        s.set_role(&new_id(t(7)), Role::Admin, AuditEvent::new(None, "user.role_change", "user", "x"), t(7)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.list_users().await.unwrap().len(), 2);
    let actions: Vec<String> = s
        .audit_entries(&AuditFilter { limit: 50, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["user.enable", "user.disable", "user.role_change", "user.profile_update", "user.invite", "chapter.create"]
    );
}

async fn sessions_end_on_disable_role_change_and_password_change(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("ana@example.org", Role::Volunteer), new_id(t(0)), t(0)).await.unwrap();
    let login = |d: &'static str| AuditEvent::new(Some(&u.id), "session.login", "session", d);
    for d in ["s1", "s2", "s3"] {
        s.create_session(d, &u.id, 600, t(1000), None, login(d), t(0)).await.unwrap();
    }
    let (rec, user) = s.session("s1").await.unwrap().unwrap();
    assert_eq!((rec.idle_seconds, rec.expires_at, rec.last_seen_at, rec.second_factor_at), (600, t(1000), t(0), None));
    assert_eq!(user.id, u.id);
    s.touch_session("s1", t(10)).await.unwrap();
    assert_eq!(s.session("s1").await.unwrap().unwrap().0.last_seen_at, t(10));
    s.rotate_session("s1", "s1b", Some(t(11))).await.unwrap();
    assert!(s.session("s1").await.unwrap().is_none());
    assert_eq!(s.session("s1b").await.unwrap().unwrap().0.second_factor_at, Some(t(11)));

    s.change_password(
        &u.id,
        "new-hash",
        Some("s1b"),
        AuditEvent::new(Some(&u.id), "user.password_change", "user", u.id.as_str()),
        t(12),
    )
    .await
    .unwrap();
    assert!(s.session("s1b").await.unwrap().is_some(), "the session that changed it stays");
    assert!(s.session("s2").await.unwrap().is_none() && s.session("s3").await.unwrap().is_none());

    s.create_session("s4", &u.id, 600, t(1000), None, login("s4"), t(13)).await.unwrap();
    assert_eq!(
        s.end_user_sessions(
            &u.id,
            Some("s4"),
            Some(AuditEvent::new(Some(&u.id), "session.end_all", "user", u.id.as_str())),
            t(14)
        )
        .await
        .unwrap(),
        1
    );
    s.set_role(&u.id, Role::Coordinator, AuditEvent::new(None, "user.role_change", "user", u.id.as_str()), t(15))
        .await
        .unwrap();
    assert!(s.session("s4").await.unwrap().is_none(), "a privilege change ends sessions");

    s.create_session("s5", &u.id, 600, t(1000), None, login("s5"), t(16)).await.unwrap();
    s.set_disabled(&u.id, true, AuditEvent::new(None, "user.disable", "user", u.id.as_str()), t(17)).await.unwrap();
    assert!(s.session("s5").await.unwrap().is_none(), "disabling ends sessions at once");

    s.set_disabled(&u.id, false, AuditEvent::new(None, "user.enable", "user", u.id.as_str()), t(18)).await.unwrap();
    s.create_session("idle", &u.id, 60, t(10_000), None, login("idle"), t(20)).await.unwrap();
    s.create_session("old", &u.id, 6000, t(50), None, login("old"), t(20)).await.unwrap();
    s.create_session("fresh", &u.id, 6000, t(10_000), None, login("fresh"), t(20)).await.unwrap();
    assert_eq!(s.prune_sessions(t(100)).await.unwrap(), 2);
    assert!(s.session("fresh").await.unwrap().is_some());
    s.end_session("fresh").await.unwrap();
    assert!(s.session("fresh").await.unwrap().is_none());
}

async fn second_factor_steps_are_single_use_and_recovery_codes_too(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("ana@example.org", Role::Coordinator), new_id(t(0)), t(0)).await.unwrap();
    let ev = |a: &'static str| AuditEvent::new(Some(&u.id), a, "user", u.id.as_str());
    assert_eq!(s.totp_state(&u.id).await.unwrap(), Default::default());
    assert!(!s.accept_totp_step(&u.id, 5).await.unwrap(), "no active secret");
    assert!(
        matches!(
            s.enable_totp(&u.id, b"sealed secret", 5, &[], ev("user.2fa_enable"), t(0)).await,
            Err(StoreError::NotFound)
        ),
        "nothing pending"
    );
    s.set_totp_pending(&u.id, Some(b"sealed secret")).await.unwrap();
    let codes = vec!["h1".to_owned(), "h2".to_owned()];
    s.enable_totp(&u.id, b"sealed secret", 100, &codes, ev("user.2fa_enable"), t(1)).await.unwrap();
    let state = s.totp_state(&u.id).await.unwrap();
    assert_eq!(
        (state.pending, state.active.as_deref(), state.last_step),
        (None, Some(&b"sealed secret"[..]), Some(100))
    );
    assert!(s.user_by_id(&u.id).await.unwrap().unwrap().totp_enabled);
    assert!(!s.accept_totp_step(&u.id, 100).await.unwrap(), "the enrolment code cannot be replayed");
    assert!(s.accept_totp_step(&u.id, 101).await.unwrap());
    assert!(!s.accept_totp_step(&u.id, 101).await.unwrap(), "replay refused");
    assert!(!s.accept_totp_step(&u.id, 99).await.unwrap(), "older steps refused");

    assert_eq!(s.recovery_codes_left(&u.id).await.unwrap(), 2);
    assert!(s.use_recovery_code(&u.id, "h1", t(2)).await.unwrap());
    assert!(!s.use_recovery_code(&u.id, "h1", t(3)).await.unwrap(), "each code once");
    assert!(!s.use_recovery_code(&u.id, "nope", t(3)).await.unwrap());
    assert_eq!(s.recovery_codes_left(&u.id).await.unwrap(), 1);
    s.replace_recovery_codes(
        &u.id,
        &["h3".to_owned(), "h4".to_owned(), "h5".to_owned()],
        ev("user.recovery_codes"),
        t(4),
    )
    .await
    .unwrap();
    assert_eq!(s.recovery_codes_left(&u.id).await.unwrap(), 3);
    assert!(!s.use_recovery_code(&u.id, "h2", t(5)).await.unwrap(), "old codes are gone");

    s.disable_totp(&u.id, ev("user.2fa_disable"), t(6)).await.unwrap();
    assert_eq!(s.totp_state(&u.id).await.unwrap().active, None);
    assert_eq!(s.recovery_codes_left(&u.id).await.unwrap(), 0);
    assert!(!s.user_by_id(&u.id).await.unwrap().unwrap().totp_enabled);
}

async fn the_audit_chain_verifies_and_survives_retention(db: &TestDb) {
    let s = audited_store(db);
    for i in 0..6 {
        s.append_audit(AuditEvent::new(None, "test.event", "thing", &format!("t{i}")), t(i * 100)).await.unwrap();
    }
    let (anchor, entries) = s.audit_chain().await.unwrap();
    assert_eq!(anchor, None);
    assert_eq!(verify_chain(&AUDIT_KEY, None, &entries), Ok(6));
    assert_eq!(entries[0].at_micros, t(0).as_microsecond());
    assert_eq!(entries[5].actor, "system");

    let only =
        s.audit_entries(&AuditFilter { object_id: Some("t2".into()), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(only.len(), 1);
    let window = s
        .audit_entries(&AuditFilter { since: Some(t(100)), until: Some(t(300)), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(window.iter().map(|e| e.object_id.as_str()).collect::<Vec<_>>(), ["t2", "t1"]);
    let page = s.audit_entries(&AuditFilter { before_seq: Some(3), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(page.len(), 2);

    assert_eq!(s.prune_audit(t(250), t(1000)).await.unwrap(), 3);
    assert_eq!(s.prune_audit(t(250), t(1000)).await.unwrap(), 0);
    s.append_audit(AuditEvent::new(None, "test.event", "thing", "t6"), t(700)).await.unwrap();
    let (anchor, entries) = s.audit_chain().await.unwrap();
    assert_eq!(anchor.as_ref().map(|a| a.seq), Some(3));
    assert_eq!(entries.first().map(|e| e.seq), Some(4));
    assert_eq!(verify_chain(&AUDIT_KEY, anchor.as_ref(), &entries), Ok(4));
}

async fn an_edited_or_deleted_audit_row_breaks_the_chain(db: &TestDb) {
    let s = audited_store(db);
    for i in 0..4 {
        s.append_audit(AuditEvent::new(None, "user.role_change", "user", &format!("u{i}")), t(i)).await.unwrap();
    }
    // The database itself refuses an UPDATE of the log...
    let refused = raw_try(db, "UPDATE audit_log SET object_id = 'someone-else' WHERE seq = 2").await;
    assert!(refused.is_err(), "append-only trigger");
    // ...and one who removes that guard is still caught by the chain.
    let drop = match db.engine() {
        Engine::Sqlite => "DROP TRIGGER audit_log_append_only",
        Engine::Postgres => "DROP TRIGGER audit_log_append_only ON audit_log",
    };
    raw_exec(db, drop).await;
    raw_exec(db, "UPDATE audit_log SET object_id = 'someone-else' WHERE seq = 2").await;
    let (anchor, entries) = s.audit_chain().await.unwrap();
    assert!(matches!(
        verify_chain(&AUDIT_KEY, anchor.as_ref(), &entries),
        Err(kiteline_core::audit::ChainError::Edited { seq: 2 })
    ));
    raw_exec(db, "DELETE FROM audit_log WHERE seq = 2").await;
    let (anchor, entries) = s.audit_chain().await.unwrap();
    assert!(matches!(
        verify_chain(&AUDIT_KEY, anchor.as_ref(), &entries),
        Err(kiteline_core::audit::ChainError::Broken { seq: 3, .. })
    ));
}

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

async fn api_tokens_are_found_by_digest_touched_and_revoked(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("ana@example.org", Role::Admin), new_id(t(0)), t(0)).await.unwrap();
    let other = s.create_user(new_user("bo@example.org", Role::Admin), new_id(t(0)), t(0)).await.unwrap();
    let tok = s.create_api_token(new_id(t(1)), &u.id, "ci", TokenScope::Read, "tok-digest", t(1)).await.unwrap();
    let (found, owner) = s.api_token_by_digest("tok-digest").await.unwrap().unwrap();
    assert_eq!((found.id.clone(), owner.id.clone()), (tok.id.clone(), u.id.clone()));
    s.touch_api_token(&tok.id, t(5)).await.unwrap();
    assert_eq!(s.api_tokens_of(&u.id).await.unwrap()[0].last_used_at, Some(t(5)));
    let ev = |who: &Id| AuditEvent::new(Some(who), "api_token.revoke", "api_token", tok.id.as_str());
    assert!(
        matches!(s.revoke_api_token(&tok.id, &other.id, ev(&other.id), t(6)).await, Err(StoreError::NotFound)),
        "only the owner"
    );
    s.revoke_api_token(&tok.id, &u.id, ev(&u.id), t(6)).await.unwrap();
    assert!(s.api_token_by_digest("tok-digest").await.unwrap().is_none());
    assert_eq!(s.api_tokens_of(&u.id).await.unwrap()[0].revoked_at, Some(t(6)));

    s.create_api_token(new_id(t(7)), &u.id, "x", TokenScope::Read, "d2", t(7)).await.unwrap();
    s.set_disabled(&u.id, true, AuditEvent::new(None, "user.disable", "user", u.id.as_str()), t(8)).await.unwrap();
    assert!(s.api_token_by_digest("d2").await.unwrap().is_none(), "a disabled user's tokens stop working");
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
