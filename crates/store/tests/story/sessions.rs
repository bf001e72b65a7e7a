//! Sessions: created with their login entry, rotated, and ended on every
//! privilege change.

use kiteline_store::testing::TestDb;
use kiteline_store::{Action, AuditEvent, AuditFilter, PasswordHash, Role, new_id};

use super::{audited_store, d, new_user, session, t};

story!(
    sessions_end_on_disable_role_change_and_password_change,
    logout_and_rotation_carry_their_audit_entry,
    a_user_lists_and_ends_their_own_sessions_only,
);

async fn sessions_end_on_disable_role_change_and_password_change(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("ana@example.org", Role::Volunteer), new_id(t(0)), t(0)).await.unwrap();
    let login = || AuditEvent::new(Some(&u.id), Action::SessionLogin, &u.id);
    for tok in ["s1", "s2", "s3"] {
        s.create_session(session(tok, &u.id, 600, t(1000)), login(), t(0)).await.unwrap();
    }
    let (rec, user) = s.session(&d("s1")).await.unwrap().unwrap();
    assert_eq!((rec.idle_seconds, rec.expires_at, rec.last_seen_at, rec.second_factor_at), (600, t(1000), t(0), None));
    assert_eq!(user.id, u.id);
    s.touch_session(&d("s1"), t(10)).await.unwrap();
    assert_eq!(s.session(&d("s1")).await.unwrap().unwrap().0.last_seen_at, t(10));
    s.rotate_session(&d("s1"), &d("s1b"), Some(t(11)), None, t(11)).await.unwrap();
    assert!(s.session(&d("s1")).await.unwrap().is_none());
    assert_eq!(s.session(&d("s1b")).await.unwrap().unwrap().0.second_factor_at, Some(t(11)));

    let change = AuditEvent::new(Some(&u.id), Action::UserPasswordChange, &u.id);
    s.change_password(&u.id, PasswordHash::from_phc("new-hash".into()), Some(&d("s1b")), change, t(12)).await.unwrap();
    assert!(s.session(&d("s1b")).await.unwrap().is_some(), "the session that changed it stays");
    assert!(s.session(&d("s2")).await.unwrap().is_none() && s.session(&d("s3")).await.unwrap().is_none());

    s.create_session(session("s4", &u.id, 600, t(1000)), login(), t(13)).await.unwrap();
    let all = AuditEvent::new(Some(&u.id), Action::SessionEndAll, &u.id);
    assert_eq!(s.end_user_sessions(&u.id, Some(&d("s4")), false, Some(all), t(14)).await.unwrap(), 1);
    s.set_role(&u.id, Role::Coordinator, AuditEvent::new(None, Action::UserRoleChange, &u.id), t(15)).await.unwrap();
    assert!(s.session(&d("s4")).await.unwrap().is_none(), "a privilege change ends sessions");

    s.create_session(session("s5", &u.id, 600, t(1000)), login(), t(16)).await.unwrap();
    s.set_disabled(&u.id, true, AuditEvent::new(None, Action::UserDisable, &u.id), t(17)).await.unwrap();
    assert!(s.session(&d("s5")).await.unwrap().is_none(), "disabling ends sessions at once");

    s.set_disabled(&u.id, false, AuditEvent::new(None, Action::UserEnable, &u.id), t(18)).await.unwrap();
    s.create_session(session("idle", &u.id, 60, t(10_000)), login(), t(20)).await.unwrap();
    s.create_session(session("old", &u.id, 6000, t(50)), login(), t(20)).await.unwrap();
    s.create_session(session("fresh", &u.id, 6000, t(10_000)), login(), t(20)).await.unwrap();
    assert_eq!(s.prune_sessions(t(100)).await.unwrap(), 2);
    assert!(s.session(&d("fresh")).await.unwrap().is_some());
    s.end_session(&d("fresh"), None, t(100)).await.unwrap();
    assert!(s.session(&d("fresh")).await.unwrap().is_none());
}

/// Logging out and proving the second factor are each one transaction with
/// their entry; a rotation of a session that is gone changes nothing.
async fn logout_and_rotation_carry_their_audit_entry(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("ana@example.org", Role::Volunteer), new_id(t(0)), t(0)).await.unwrap();
    s.create_session(
        session("a", &u.id, 600, t(1000)),
        AuditEvent::new(Some(&u.id), Action::SessionLogin, &u.id),
        t(0),
    )
    .await
    .unwrap();
    let proved = AuditEvent::new(Some(&u.id), Action::SessionSecondFactor, &u.id);
    s.rotate_session(&d("a"), &d("b"), Some(t(1)), Some(proved.clone()), t(1)).await.unwrap();
    assert!(s.rotate_session(&d("a"), &d("c"), Some(t(2)), Some(proved), t(2)).await.is_err(), "already rotated");
    s.end_session(&d("b"), Some(AuditEvent::new(Some(&u.id), Action::SessionLogout, &u.id)), t(3)).await.unwrap();
    assert!(s.session(&d("b")).await.unwrap().is_none());
    let actions: Vec<String> = s
        .audit_entries(&AuditFilter { limit: 10, ..Default::default() })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["session.logout", "session.second_factor", "session.login"], "the failed rotation left none");
}

async fn a_user_lists_and_ends_their_own_sessions_only(db: &TestDb) {
    let s = audited_store(db);
    let ana = s.create_user(new_user("ana@example.org", Role::Volunteer), new_id(t(0)), t(0)).await.unwrap();
    let bo = s.create_user(new_user("bo@example.org", Role::Volunteer), new_id(t(0)), t(0)).await.unwrap();
    let login = |u: &kiteline_store::User| AuditEvent::new(Some(&u.id), Action::SessionLogin, &u.id);
    s.create_session(session("ana-phone", &ana.id, 600, t(1000)), login(&ana), t(1)).await.unwrap();
    s.create_session(session("ana-laptop", &ana.id, 600, t(1000)), login(&ana), t(2)).await.unwrap();
    s.create_session(session("bo", &bo.id, 600, t(1000)), login(&bo), t(3)).await.unwrap();
    let mine = s.sessions_of(&ana.id).await.unwrap();
    assert_eq!(mine.len(), 2);
    assert_eq!(
        (mine[0].digest.clone(), mine[0].device_label.as_str()),
        (d("ana-laptop"), "Test browser"),
        "most recent first"
    );
    let end = |u: &kiteline_store::User| AuditEvent::new(Some(&u.id), Action::SessionEnd, &u.id);
    assert!(matches!(
        s.end_own_session(&ana.id, &d("bo"), end(&ana), t(4)).await,
        Err(kiteline_store::StoreError::NotFound)
    ));
    assert!(s.session(&d("bo")).await.unwrap().is_some(), "another's session is not ended");
    s.end_own_session(&ana.id, &d("ana-phone"), end(&ana), t(5)).await.unwrap();
    assert_eq!(s.sessions_of(&ana.id).await.unwrap().len(), 1);
}
