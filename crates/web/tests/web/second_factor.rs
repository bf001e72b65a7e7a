//! The second factor: replay, enrolment for staff, fresh codes for sensitive acts.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_factor_login_refuses_a_replayed_code() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        user(&app, "admin@example.org", Role::Admin, true).await;
        let mut b = Browser::new();
        let r = b.post(&app, "/login", &[("email", "admin@example.org"), ("password", PASSWORD)]).await;
        assert_eq!(r.location(), "/login/2fa");
        let before = b.cookies["kiteline_session"].clone();
        // Nothing else is reachable before the second step.
        for path in ["/account", "/admin/users", "/admin/audit", "/account/2fa"] {
            assert_eq!(b.get(&app, path).await.location(), "/login/2fa", "{path}");
        }
        assert_eq!(b.post(&app, "/login/2fa", &[("code", "000000")]).await.status, StatusCode::UNAUTHORIZED);
        let code = code_at(0);
        let r = b.post(&app, "/login/2fa", &[("code", &code)]).await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/"));
        assert_ne!(b.cookies["kiteline_session"], before, "the session id rotates when the second factor is proved");
        assert_eq!(b.get(&app, "/admin/audit").await.status, StatusCode::OK);

        // The same code, replayed in a new login, is refused.
        let mut thief = Browser::from_addr("192.0.2.50:1");
        thief.post(&app, "/login", &[("email", "admin@example.org"), ("password", PASSWORD)]).await;
        let r = thief.post(&app, "/login/2fa", &[("code", &code)]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("already used"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_must_enrol_a_second_factor_before_anything_else() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let coord = user(&app, "coord@example.org", Role::Coordinator, false).await;
    let mut b = Browser::new();
    let r = b.post(&app, "/login", &[("email", "coord@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(r.location(), "/account/2fa");
    for path in ["/account", "/admin/users", "/account/tokens", "/account/password"] {
        assert_eq!(b.get(&app, path).await.location(), "/account/2fa", "{path}");
    }
    let page = b.get(&app, "/account/2fa").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("must set up two-step login"));
    assert_eq!(b.post(&app, "/account/2fa/setup", &[]).await.location(), "/account/2fa");
    let page = b.get(&app, "/account/2fa").await;
    assert!(page.body.contains("<svg") && !page.body.contains("<?xml"), "a QR code rendered inline, on our server");
    assert!(!page.body.contains("http://") || page.body.contains("http://www.w3.org/2000/svg"), "no outside origin");
    let secret_b32 = page.body.split("<code>").nth(1).unwrap().split("</code>").next().unwrap().to_owned();
    let secret = totp::base32_decode(&secret_b32).unwrap();
    let code = format!("{:06}", totp::hotp(&secret, totp::step_at(Timestamp::now().as_second()) as u64, 6));
    let before = b.cookies["kiteline_session"].clone();
    let r = b.post(&app, "/account/2fa/confirm", &[("code", &code)]).await;
    assert_eq!(r.status, StatusCode::OK);
    let codes: Vec<String> =
        r.body.split("<li><code>").skip(1).map(|c| c.split('<').next().unwrap().to_owned()).collect();
    assert_eq!(codes.len(), 10, "ten recovery codes shown once");
    assert_ne!(b.cookies["kiteline_session"], before, "rotated at the privilege change");
    // The page that showed the codes carries a token for the new session id.
    let token_in_page = b.csrf.clone();
    assert_eq!(b.csrf_session, b.session_cookie());
    let mut from_that_page = b.clone();
    let r = from_that_page.post(&app, "/language", &[("lang", "en"), ("next", "/account/2fa")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "a form on the recovery-codes page works");
    assert_eq!(from_that_page.csrf, token_in_page);
    assert_eq!(b.get(&app, "/admin/users").await.status, StatusCode::OK);
    // Recovery codes are stored hashed and work once at login.
    let mut b2 = Browser::from_addr("192.0.2.9:1");
    b2.post(&app, "/login", &[("email", "coord@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(b2.post(&app, "/login/2fa", &[("code", &codes[0].to_uppercase())]).await.location(), "/");
    let mut b3 = Browser::from_addr("192.0.2.10:1");
    b3.post(&app, "/login", &[("email", "coord@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(b3.post(&app, "/login/2fa", &[("code", &codes[0])]).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.state.store.recovery_codes_left(&coord.id).await.unwrap(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_a_role_needs_a_fresh_code_and_ends_the_targets_sessions() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        let mut target = signed_in(&app, &vol).await;
        let mut a = signed_in(&app, &admin).await;
        let path = format!("/admin/users/{}/role", vol.id);
        let r = a.post(&app, &path, &[("role", "coordinator"), ("code", "123456")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.state.store.user_by_id(&vol.id).await.unwrap().unwrap().role, Role::Volunteer);
        let code = code_at(0);
        let r = a.post_follow(&app, &path, &[("role", "coordinator"), ("code", &code)]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("Role changed."));
        assert_eq!(app.state.store.user_by_id(&vol.id).await.unwrap().unwrap().role, Role::Coordinator);
        assert_eq!(target.get(&app, "/account").await.location(), "/login", "privilege change ended the session");
        // The same code cannot authorise a second change.
        let r = a.post(&app, &path, &[("role", "admin"), ("code", &code)]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let entries = app
            .state
            .store
            .audit_entries(&AuditFilter { action: Some("user.role_change".into()), limit: 10, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!((entries[0].actor.as_str(), entries[0].object_id.as_str()), (admin.id.as_str(), vol.id.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_can_reset_a_lost_second_factor_with_a_fresh_code() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let admin = user(&app, "admin@example.org", Role::Admin, true).await;
    let coord = user(&app, "coord@example.org", Role::Coordinator, true).await;
    let mut lost = signed_in(&app, &coord).await;
    let mut a = signed_in(&app, &admin).await;
    let path = format!("/admin/users/{}/reset-2fa", coord.id);
    assert_eq!(a.post(&app, &path, &[("code", "000000")]).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.state.store.user_by_id(&coord.id).await.unwrap().unwrap().totp_enabled);
    let r = a.post_follow(&app, &path, &[("code", &code_at(0))]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Two-step login was reset"));
    assert!(!app.state.store.user_by_id(&coord.id).await.unwrap().unwrap().totp_enabled);
    assert_eq!(lost.get(&app, "/account").await.location(), "/login", "their sessions ended");
    let mut again = Browser::from_addr("192.0.2.77:1");
    let r = again.post(&app, "/login", &[("email", "coord@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(r.location(), "/account/2fa", "and they enrol again");
}
