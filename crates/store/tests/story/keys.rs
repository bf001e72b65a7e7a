//! Data keys, the vault over them, and backups.

use kiteline_core::crypto::{FieldContext, KekRing, SecretKey};
use kiteline_store::testing::{self, TestDb};
use kiteline_store::vault::{Vault, VaultError};
use kiteline_store::{EmailAddress, Engine, Role, Store, StoreError, new_id};

use super::{new_user, store, t};

story!(
    vault_creates_one_data_key_and_survives_kek_rotation,
    rewrapping_a_missing_data_key_is_not_found,
    backup_is_sqlite_only
);

async fn vault_creates_one_data_key_and_survives_kek_rotation(db: &TestDb) {
    let s = store(db);
    let mut keks = KekRing::new();
    keks.insert(1, SecretKey::from_bytes([7; 32]));
    let blind = SecretKey::from_bytes([8; 32]);
    let v1 = Vault::load(&s, &keks, blind.clone(), t(0)).await.unwrap();
    let v1b = Vault::load(&s, &keks, blind.clone(), t(0)).await.unwrap();
    assert_eq!(s.data_keys().await.unwrap().len(), 1, "a second load reuses the key");
    let ctx = FieldContext::new("people", "name", "row-1");
    let sealed = v1.seal(ctx, b"Maria Lopez");
    assert_eq!(v1b.open(ctx, &sealed).unwrap(), b"Maria Lopez");

    // Rotate the KEK: add version 2, load (re-wraps), then drop version 1.
    keks.insert(2, SecretKey::from_bytes([9; 32]));
    Vault::load(&s, &keks, blind.clone(), t(1)).await.unwrap();
    let mut only_new = KekRing::new();
    only_new.insert(2, SecretKey::from_bytes([9; 32]));
    let v2 = Vault::load(&s, &only_new, blind.clone(), t(2)).await.unwrap();
    assert_eq!(v2.open(ctx, &sealed).unwrap(), b"Maria Lopez");

    // The wrong key file is refused clearly.
    let mut wrong = KekRing::new();
    wrong.insert(2, SecretKey::from_bytes([1; 32]));
    assert!(matches!(Vault::load(&s, &wrong, blind, t(3)).await, Err(VaultError::Unwrap { version: 1, .. })));
}

/// The engines once disagreed here: SQLite ignored a missing version,
/// PostgreSQL answered `NotFound`. Both answer `NotFound` now.
async fn rewrapping_a_missing_data_key_is_not_found(db: &TestDb) {
    let s = store(db);
    assert!(matches!(s.rewrap_data_key(99, b"wrapped").await, Err(StoreError::NotFound)));
    assert!(s.data_keys().await.unwrap().is_empty());
}

async fn backup_is_sqlite_only(db: &TestDb) {
    let s = store(db);
    s.create_user(new_user("ana@example.org", Role::Admin), new_id(t(0)), t(0)).await.unwrap();
    let dir = testing::TempDir::new("kiteline-backup");
    let out = dir.path().join("copy.db");
    match db.engine() {
        Engine::Sqlite => {
            s.backup_to(&out).await.unwrap();
            let copy = Store::open_sqlite(&out).await.unwrap();
            copy.set_keys(testing::keys());
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
