//! API tokens: only digests stored, found, touched and revoked.

use kiteline_store::testing::TestDb;
use kiteline_store::{Action, AuditEvent, Constraint, Id, NewApiToken, Role, StoreError, TokenScope, new_id};

use super::{audited_store, d, new_user, t};

story!(
    api_tokens_store_only_what_they_are_given,
    api_tokens_are_found_by_digest_touched_and_revoked,
    api_tokens_expire_and_do_not_outlive_any_recovery_step,
);

fn token(id: Id, user: &Id, label: &str, scope: TokenScope, digest: &str) -> NewApiToken {
    NewApiToken { id, user_id: user.clone(), label: label.into(), scope, digest: d(digest), expires_at: t(90 * 86400) }
}

fn created() -> AuditEvent {
    AuditEvent::new(None, Action::ApiTokenCreate, "x")
}

async fn api_tokens_store_only_what_they_are_given(db: &TestDb) {
    let s = audited_store(db);
    let user = s.create_user(new_user("ana@example.org", Role::Admin), new_id(t(0)), t(0)).await.unwrap();
    let tok = s.create_api_token(token(new_id(t(1)), &user.id, "laptop", TokenScope::Write, "d1"), created(), t(1));
    let tok = tok.await.unwrap();
    s.create_api_token(token(new_id(t(2)), &user.id, "ci", TokenScope::Read, "d2"), created(), t(2)).await.unwrap();
    let all = s.api_tokens_of(&user.id).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], tok);
    assert_eq!(all[1].scope, TokenScope::Read);
    let dup = s.create_api_token(token(new_id(t(3)), &user.id, "again", TokenScope::Read, "d1"), created(), t(3)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(Constraint::ApiTokenDigest))), "{dup:?}");
    let orphan = s.create_api_token(token(new_id(t(3)), &new_id(t(3)), "x", TokenScope::Read, "d3"), created(), t(3));
    let orphan = orphan.await;
    assert!(matches!(orphan, Err(StoreError::Conflict(Constraint::MissingReference))), "{orphan:?}");
    // Made with its audit entry, in the same transaction: the two that
    // failed left none.
    let (_, entries) = s.audit_chain().await.unwrap();
    assert_eq!(entries.iter().filter(|e| e.action == "api_token.create").count(), 2);
}

async fn api_tokens_are_found_by_digest_touched_and_revoked(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("ana@example.org", Role::Admin), new_id(t(0)), t(0)).await.unwrap();
    let other = s.create_user(new_user("bo@example.org", Role::Admin), new_id(t(0)), t(0)).await.unwrap();
    let tok = s.create_api_token(token(new_id(t(1)), &u.id, "ci", TokenScope::Read, "tok-digest"), created(), t(1));
    let tok = tok.await.unwrap();
    let (found, owner) = s.api_token_by_digest(&d("tok-digest"), t(5)).await.unwrap().unwrap();
    assert_eq!((found.id.clone(), owner.id.clone()), (tok.id.clone(), u.id.clone()));
    s.touch_api_token(&tok.id, t(5)).await.unwrap();
    assert_eq!(s.api_tokens_of(&u.id).await.unwrap()[0].last_used_at, Some(t(5)));
    let ev = |who: &Id| AuditEvent::new(Some(who), Action::ApiTokenRevoke, &tok.id);
    assert!(
        matches!(s.revoke_api_token(&tok.id, &other.id, ev(&other.id), t(6)).await, Err(StoreError::NotFound)),
        "only the owner"
    );
    s.revoke_api_token(&tok.id, &u.id, ev(&u.id), t(6)).await.unwrap();
    assert!(s.api_token_by_digest(&d("tok-digest"), t(5)).await.unwrap().is_none());
    assert_eq!(s.api_tokens_of(&u.id).await.unwrap()[0].revoked_at, Some(t(6)));

    s.create_api_token(token(new_id(t(7)), &u.id, "x", TokenScope::Read, "d2"), created(), t(7)).await.unwrap();
    s.set_disabled(&u.id, true, AuditEvent::new(None, Action::UserDisable, &u.id), t(8)).await.unwrap();
    assert!(s.api_token_by_digest(&d("d2"), t(9)).await.unwrap().is_none(), "a disabled user's tokens stop working");
}

/// Seen in the review: a token kept working after a reset, "log out
/// everywhere", re-enabling a disabled account and an admin's 2FA reset.
async fn api_tokens_expire_and_do_not_outlive_any_recovery_step(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("ana@example.org", Role::Coordinator), new_id(t(0)), t(0)).await.unwrap();
    let live = |digest: &'static str, at| {
        let s = s.clone();
        async move { s.api_token_by_digest(&d(digest), at).await.unwrap().is_some() }
    };
    let mut short = token(new_id(t(1)), &u.id, "short", TokenScope::Read, "short");
    short.expires_at = t(100);
    s.create_api_token(short, created(), t(1)).await.unwrap();
    assert!(live("short", t(99)).await);
    assert!(!live("short", t(100)).await, "expired at its expiry instant");

    // A password set through a reset link revokes every token.
    s.create_api_token(token(new_id(t(2)), &u.id, "a", TokenScope::Read, "a"), created(), t(2)).await.unwrap();
    s.create_link(
        super::link(kiteline_store::LinkPurpose::SetPassword, Some(&u.id), "reset", t(500)),
        None,
        None,
        t(2),
    )
    .await
    .unwrap();
    s.use_set_password_link(&d("reset"), kiteline_store::PasswordHash::from_phc("h".into()), t(3)).await.unwrap();
    assert!(!live("a", t(4)).await, "reset");

    // "Log out everywhere" revokes them when asked to, not otherwise.
    s.create_api_token(token(new_id(t(5)), &u.id, "b", TokenScope::Read, "b"), created(), t(5)).await.unwrap();
    s.end_user_sessions(&u.id, None, false, None, t(6)).await.unwrap();
    assert!(live("b", t(6)).await, "sessions only");
    s.end_user_sessions(&u.id, None, true, None, t(7)).await.unwrap();
    assert!(!live("b", t(7)).await, "sessions and tokens");

    // An admin's 2FA reset revokes them.
    s.create_api_token(token(new_id(t(8)), &u.id, "c", TokenScope::Read, "c"), created(), t(8)).await.unwrap();
    s.set_totp_pending(&u.id, Some(super::seal(b"k"))).await.unwrap();
    let enrol = kiteline_store::Enrolment {
        sealed_secret: super::seal(b"k"),
        step: 1,
        recovery_codes: vec![],
        rotate_session: None,
    };
    s.enable_totp(&u.id, enrol, AuditEvent::new(None, Action::UserTwoFactorEnable, &u.id), t(9)).await.unwrap();
    s.reset_second_factor(&u.id, AuditEvent::new(None, Action::UserTwoFactorReset, &u.id), t(10)).await.unwrap();
    assert!(!live("c", t(10)).await, "2FA reset");

    // Disabling revokes them, and re-enabling does not bring them back.
    s.create_api_token(token(new_id(t(11)), &u.id, "e", TokenScope::Read, "e"), created(), t(11)).await.unwrap();
    s.set_disabled(&u.id, true, AuditEvent::new(None, Action::UserDisable, &u.id), t(12)).await.unwrap();
    s.set_disabled(&u.id, false, AuditEvent::new(None, Action::UserEnable, &u.id), t(13)).await.unwrap();
    assert!(!live("e", t(14)).await, "disable, then enable");
    assert!(s.api_tokens_of(&u.id).await.unwrap().iter().all(|tok| !tok.is_live(t(14))));
}
