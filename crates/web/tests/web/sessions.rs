//! Signing in and out: cookies, rate limits, disabled accounts, timeouts.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_private_session_cookie_and_logout_ends_it() {
    for db in kiteline_store::testing::each_engine().await {
        for (url, name, secure) in [
            ("http://127.0.0.1:8080", "kiteline_session", false),
            ("https://line.example.org", "__Host-kiteline_session", true),
        ] {
            let app = app_on(&db, url).await;
            let email = format!("vol-{secure}@example.org");
            let vol = user(&app, &email, Role::Volunteer, false).await;
            let mut b = Browser::new();
            let r = b.post(&app, "/login", &[("email", &email.to_uppercase()), ("password", PASSWORD)]).await;
            assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/"), "a login lands on the dashboard");
            let cookie = r
                .headers
                .get_all(header::SET_COOKIE)
                .iter()
                .map(|v| v.to_str().unwrap())
                .find(|c| c.starts_with(name))
                .unwrap()
                .to_owned();
            assert!(
                cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
                "{cookie}"
            );
            assert_eq!(cookie.contains("; Secure"), secure, "{cookie}");
            let id = b.cookies[name].clone();
            assert_eq!(id.len(), 22, "128 random bits");
            // Only the digest is stored: the raw id is not even shaped like one.
            assert!(TokenDigest::from_stored(id.clone()).is_none());
            assert!(app.state.store.session(&TokenDigest::of(&id)).await.unwrap().is_some(), "stored by digest");
            let r = b.get(&app, "/account").await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.headers.get(header::CACHE_CONTROL).unwrap(), "no-store");

            // Logging in again gives a new id; the old one stops working.
            let mut again = b.clone();
            again.post(&app, "/login", &[("email", &email), ("password", PASSWORD)]).await;
            assert_ne!(again.cookies[name], id);
            assert_eq!(b.get(&app, "/account").await.status, StatusCode::SEE_OTHER, "the old session ended");

            assert_eq!(again.post(&app, "/logout", &[]).await.status, StatusCode::SEE_OTHER);
            assert!(!again.cookies.contains_key(name));
            let _ = vol;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenth_wrong_password_in_a_minute_from_one_network_gets_429() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut b = Browser::from_addr("198.51.100.20:4000");
    for i in 1..=9 {
        let r = b.post(&app, "/login", &[("email", "vol@example.org"), ("password", "wrong password, sorry")]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(r.body.contains("not right"));
    }
    let r = b.post(&app, "/login", &[("email", "vol@example.org"), ("password", "wrong password, sorry")]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers.get(header::RETRY_AFTER).unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert!(r.body.contains("Too many attempts"));
    // Even the right password waits; a neighbour in the same /24 waits too.
    let r = b.post(&app, "/login", &[("email", "vol@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let mut neighbour = Browser::from_addr("198.51.100.99:4000");
    assert_eq!(
        neighbour.post(&app, "/login", &[("email", "x@example.org"), ("password", "x")]).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another network is unaffected.
    let mut elsewhere = Browser::from_addr("[2001:db8:1:2::5]:4000");
    assert_eq!(
        elsewhere.post(&app, "/login", &[("email", "vol@example.org"), ("password", PASSWORD)]).await.status,
        StatusCode::SEE_OTHER
    );
    // Failed logins against an existing account are audited, without the password.
    let failed = app
        .state
        .store
        .audit_entries(&AuditFilter { action: Some("session.login_failed".into()), limit: 50, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(failed.len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_can_be_switched_off_for_load_tests() {
    let db = kiteline_store::testing::sqlite().await;
    let mut app = app_on(&db, "http://127.0.0.1:8080").await;
    app.state.limits = Arc::new(RateLimits::new(false));
    app.router = router(app.state.clone());
    let mut b = Browser::new();
    for _ in 0..15 {
        assert_eq!(
            b.post(&app, "/login", &[("email", "a@example.org"), ("password", "nope nope nope")]).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_users_live_session_is_refused_on_its_next_request() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        let mut victim = signed_in(&app, &vol).await;
        assert_eq!(victim.get(&app, "/account").await.status, StatusCode::OK);
        let mut a = signed_in(&app, &admin).await;
        // Disabling is confirmed first: the link opens a page that says what happens.
        let confirm = a.get(&app, &format!("/admin/users/{}/disable", vol.id)).await;
        assert_eq!(confirm.status, StatusCode::OK);
        assert!(
            confirm.body.contains("Disable vol@example.org?") && confirm.body.contains("every session they have ends")
        );
        assert_eq!(victim.get(&app, "/account").await.status, StatusCode::OK, "opening the step changes nothing");
        let r = a.post_follow(&app, &format!("/admin/users/{}/disable", vol.id), &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("Account disabled."));
        let r = victim.get(&app, "/account").await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"));
        // And the password no longer works.
        let mut b = Browser::from_addr("192.0.2.1:1");
        assert_eq!(
            b.post(&app, "/login", &[("email", "vol@example.org"), ("password", PASSWORD)]).await.status,
            StatusCode::UNAUTHORIZED
        );
        // An admin cannot disable themselves.
        assert_eq!(
            a.post(&app, &format!("/admin/users/{}/disable", admin.id), &[]).await.status,
            StatusCode::FORBIDDEN
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_absolute_timeouts_end_sessions() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let now = Timestamp::now();
    for (name, created, idle, expires) in [
        ("idle", now - SignedDuration::from_mins(31), 1800, now + SignedDuration::from_hours(1)),
        ("absolute", now - SignedDuration::from_secs(5), 1800, now - SignedDuration::from_secs(1)),
    ] {
        let id = kiteline_web::security::new_session_id();
        let ev = AuditEvent::new(Some(&vol.id), Action::SessionLogin, &vol.id);
        let session = testing::session(&id, &vol.id, idle, expires, Some(created));
        app.state.store.create_session(session, ev, created).await.unwrap();
        let mut b = Browser::new();
        b.cookies.insert("kiteline_session".into(), id.clone());
        let r = b.get(&app, "/account").await;
        assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"), "{name}");
        assert!(!b.cookies.contains_key("kiteline_session"), "{name}: the stale cookie is cleared");
        assert!(app.state.store.session(&TokenDigest::of(&id)).await.unwrap().is_none(), "{name}: and the row deleted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_out_everywhere_ends_every_session() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut a = signed_in(&app, &vol).await;
    let mut b = signed_in(&app, &vol).await;
    assert_eq!(a.post(&app, "/logout/everywhere", &[]).await.location(), "/login");
    assert_eq!(a.get(&app, "/account").await.location(), "/login");
    assert_eq!(b.get(&app, "/account").await.location(), "/login");
}
