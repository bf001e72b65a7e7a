//! The second factor: enrolment, single-use steps, recovery codes, reset.

use kiteline_store::testing::TestDb;
use kiteline_store::{Action, AuditEvent, Enrolment, Role, StoreError, new_id};

use super::{audited_store, d, new_user, seal, session, t, unseal};

story!(second_factor_steps_are_single_use_and_recovery_codes_too, an_admin_reset_clears_the_factor_and_ends_sessions);

async fn second_factor_steps_are_single_use_and_recovery_codes_too(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("ana@example.org", Role::Coordinator), new_id(t(0)), t(0)).await.unwrap();
    let ev = |a: Action| AuditEvent::new(Some(&u.id), a, &u.id);
    let enrolment = |step: i64, codes: &[&str]| Enrolment {
        sealed_secret: seal(b"secret"),
        step,
        recovery_codes: codes.iter().map(|c| d(c)).collect(),
        rotate_session: None,
    };
    assert_eq!(s.totp_state(&u.id).await.unwrap(), Default::default());
    assert!(!s.accept_totp_step(&u.id, 5).await.unwrap(), "no active secret");
    assert!(
        matches!(
            s.enable_totp(&u.id, enrolment(5, &[]), ev(Action::UserTwoFactorEnable), t(0)).await,
            Err(StoreError::NotFound)
        ),
        "nothing pending"
    );
    s.set_totp_pending(&u.id, Some(seal(b"secret"))).await.unwrap();
    s.enable_totp(&u.id, enrolment(100, &["h1", "h2"]), ev(Action::UserTwoFactorEnable), t(1)).await.unwrap();
    let state = s.totp_state(&u.id).await.unwrap();
    assert_eq!(
        (state.pending, state.active.as_ref().map(unseal), state.last_step),
        (None, Some(b"secret".to_vec()), Some(100))
    );
    assert!(s.user_by_id(&u.id).await.unwrap().unwrap().totp_enabled);
    assert!(!s.accept_totp_step(&u.id, 100).await.unwrap(), "the enrolment code cannot be replayed");
    assert!(s.accept_totp_step(&u.id, 101).await.unwrap());
    assert!(!s.accept_totp_step(&u.id, 101).await.unwrap(), "replay refused");
    assert!(!s.accept_totp_step(&u.id, 99).await.unwrap(), "older steps refused");

    assert_eq!(s.recovery_codes_left(&u.id).await.unwrap(), 2);
    assert!(s.use_recovery_code(&u.id, &d("h1"), t(2)).await.unwrap());
    assert!(!s.use_recovery_code(&u.id, &d("h1"), t(3)).await.unwrap(), "each code once");
    assert!(!s.use_recovery_code(&u.id, &d("nope"), t(3)).await.unwrap());
    assert_eq!(s.recovery_codes_left(&u.id).await.unwrap(), 1);
    s.replace_recovery_codes(&u.id, vec![d("h3"), d("h4"), d("h5")], ev(Action::UserRecoveryCodes), t(4))
        .await
        .unwrap();
    assert_eq!(s.recovery_codes_left(&u.id).await.unwrap(), 3);
    assert!(!s.use_recovery_code(&u.id, &d("h2"), t(5)).await.unwrap(), "old codes are gone");

    s.disable_totp(&u.id, ev(Action::UserTwoFactorDisable), t(6)).await.unwrap();
    assert_eq!(s.totp_state(&u.id).await.unwrap().active, None);
    assert_eq!(s.recovery_codes_left(&u.id).await.unwrap(), 0);
    assert!(!s.user_by_id(&u.id).await.unwrap().unwrap().totp_enabled);
}

/// Enrolment rotates the session that enrolled, in the same transaction; an
/// admin's reset clears the factor and ends every session in one.
async fn an_admin_reset_clears_the_factor_and_ends_sessions(db: &TestDb) {
    let s = audited_store(db);
    let u = s.create_user(new_user("ana@example.org", Role::Coordinator), new_id(t(0)), t(0)).await.unwrap();
    let ev = |a: Action| AuditEvent::new(Some(&u.id), a, &u.id);
    s.create_session(session("enrolling", &u.id, 600, t(1000)), ev(Action::SessionLogin), t(0)).await.unwrap();
    s.create_session(session("other", &u.id, 600, t(1000)), ev(Action::SessionLogin), t(0)).await.unwrap();
    s.set_totp_pending(&u.id, Some(seal(b"secret"))).await.unwrap();
    let enrolment = Enrolment {
        sealed_secret: seal(b"secret"),
        step: 10,
        recovery_codes: vec![d("r1")],
        rotate_session: Some((d("enrolling"), d("enrolled"))),
    };
    s.enable_totp(&u.id, enrolment, ev(Action::UserTwoFactorEnable), t(1)).await.unwrap();
    assert!(s.session(&d("enrolling")).await.unwrap().is_none());
    assert_eq!(s.session(&d("enrolled")).await.unwrap().unwrap().0.second_factor_at, Some(t(1)));

    s.reset_second_factor(&u.id, ev(Action::UserTwoFactorReset), t(2)).await.unwrap();
    assert!(!s.user_by_id(&u.id).await.unwrap().unwrap().totp_enabled);
    assert_eq!(s.recovery_codes_left(&u.id).await.unwrap(), 0);
    assert!(s.session(&d("enrolled")).await.unwrap().is_none() && s.session(&d("other")).await.unwrap().is_none());
    assert!(matches!(
        s.reset_second_factor(&new_id(t(3)), ev(Action::UserTwoFactorReset), t(3)).await,
        Err(StoreError::NotFound)
    ));
}
