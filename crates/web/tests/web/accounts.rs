//! Invitations, resets, profiles, passwords, the first admin, languages.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_are_mailed_and_lead_to_set_password() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "https://line.example.org").await;
        let coord = user(&app, "coord@example.org", Role::Coordinator, true).await;
        let mut c = signed_in(&app, &coord).await;
        let r = c
            .post(
                &app,
                "/admin/users/invite",
                &[
                    ("name", "Marisol"),
                    ("email", "new@example.org"),
                    ("role", "admin"),
                    ("chapter", ""),
                    ("lang", "es"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "coordinators invite volunteers only");
        let r = c
            .post_follow(
                &app,
                "/admin/users/invite",
                &[
                    ("name", "Marisol"),
                    ("email", "new@example.org"),
                    ("role", "volunteer"),
                    ("chapter", ""),
                    ("lang", "es"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        // Without SMTP the page says so: nothing left the machine.
        assert!(r.body.contains("Invitation written to the mail folder, not sent"), "{}", r.body);
        assert!(r.body.contains("new@example.org") && r.body.contains("Marisol"));
        let invited =
            app.state.store.user_by_email(&EmailAddress::parse("new@example.org").unwrap()).await.unwrap().unwrap();
        assert!(!invited.has_password);
        assert_eq!(app.state.store.job_counts().await.unwrap()[0], 1, "the invitation mail is queued");
        let dup = c
            .post(&app, "/admin/users/invite", &[("name", "X"), ("email", "NEW@example.org"), ("role", "volunteer")])
            .await;
        assert!(dup.body.contains("already exists"));
        let audit = app
            .state
            .store
            .audit_entries(&AuditFilter { action: Some("user.invite".into()), limit: 10, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(audit[0].object_id, invited.id.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_answers_the_same_whether_or_not_the_address_exists() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        user(&app, "vol@example.org", Role::Volunteer, false).await;
        let mut b = Browser::new();
        let known = b.post(&app, "/password/reset", &[("email", "vol@example.org")]).await;
        let unknown = b.post(&app, "/password/reset", &[("email", "nobody@example.org")]).await;
        assert_eq!((known.status, unknown.status), (StatusCode::OK, StatusCode::OK));
        let strip = |s: &str| s.replace(&b.csrf, "");
        assert_eq!(strip(&known.body), strip(&unknown.body), "identical pages");
        // Both requests did the same: one queued job each, the address sealed in it.
        assert_eq!(app.state.store.job_counts().await.unwrap()[0], 2);
        run_reset_jobs(&app).await;
        assert_eq!(app.state.store.job_counts().await.unwrap(), [1, 0, 2, 0], "mail only for the real account");
        // Per-address limit: the fourth request for one address in an hour waits.
        for _ in 0..2 {
            b.post(&app, "/password/reset", &[("email", "vol@example.org")]).await;
        }
        assert_eq!(
            b.post(&app, "/password/reset", &[("email", "vol@example.org")]).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_changes_seal_the_phone_and_validate_every_field() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        let mut b = signed_in(&app, &vol).await;
        let good = [
            ("name", "Marisol R."),
            ("pronouns", "she/her"),
            ("time_zone", "America/Chicago"),
            ("languages", "en"),
            ("languages", "es"),
            ("locale", "es"),
            ("phone", "+1 (510) 555-0100"),
            ("notify_sms", "on"),
        ];
        let r = b.post(&app, "/account", &good).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("+15105550100"));
        let u = app.state.store.user_by_id(&vol.id).await.unwrap().unwrap();
        assert_eq!((u.time_zone.as_str(), u.languages.as_str(), u.locale.as_str()), ("America/Chicago", "en,es", "es"));
        assert!(!u.notify_email && u.notify_sms);
        let sealed = app.state.store.user_phone(&vol.id).await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(sealed.as_bytes()).contains("5105550100"), "the phone number is sealed");
        // The saved language now drives the pages.
        assert!(b.get(&app, "/account").await.body.contains("<html lang=\"es\">"));
        for (field, value) in [
            ("time_zone", "Mars/Olympus"),
            ("phone", "call me maybe"),
            ("pronouns", &"x".repeat(41)),
            ("name", ""),
            ("languages", "xx"),
        ] {
            let mut form: Vec<(&str, &str)> = good.iter().filter(|(k, _)| *k != field).copied().collect();
            form.push((field, value));
            assert_eq!(
                b.post(&app, "/account", &form).await.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{field}={value}"
            );
        }
        assert_eq!(
            app.state.store.user_by_id(&vol.id).await.unwrap().unwrap().time_zone,
            "America/Chicago",
            "nothing saved on error"
        );
    }
}

/// A number without `+` and country code is refused, saying so, unless the
/// organization set a default country calling code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_without_country_code_needs_the_default_country() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut b = signed_in(&app, &vol).await;
    let form = |phone: &'static str| {
        vec![("name", "Marisol R."), ("time_zone", "America/Chicago"), ("locale", "en"), ("phone", phone)]
    };
    let r = b.post(&app, "/account", &form("(510) 555-0100")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("country code"), "{}", r.body);
    assert!(r.body.contains("value=\"(510) 555-0100\""), "what was typed stays");
    assert!(app.state.store.user_phone(&vol.id).await.unwrap().is_none(), "nothing saved");

    let app = app_with(&db, "http://127.0.0.1:8080", |c| c.default_calling_code = Some("1".into())).await;
    let mut b = signed_in(&app, &vol).await;
    let r = b.post(&app, "/account", &form("(510) 555-0100")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("+15105550100"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_needs_the_current_one_and_ends_other_sessions() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut here = signed_in(&app, &vol).await;
    let mut there = signed_in(&app, &vol).await;
    let r = here
        .post(
            &app,
            "/account/password",
            &[
                ("current", "not it at all"),
                ("password", "a brand new passphrase"),
                ("confirm", "a brand new passphrase"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = here
        .post(
            &app,
            "/account/password",
            &[("current", PASSWORD), ("password", "password123456"), ("confirm", "password123456")],
        )
        .await;
    assert!(r.body.contains("too common"), "common passwords are refused");
    let r = here
        .post(
            &app,
            "/account/password",
            &[("current", PASSWORD), ("password", "a brand new passphrase"), ("confirm", "a brand new passphrase")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(here.get(&app, "/account").await.status, StatusCode::OK, "this session stays");
    assert_eq!(there.get(&app, "/account").await.location(), "/login", "the others end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_admin_setup_and_set_password_links_still_work_with_csrf() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let url = kiteline_web::actions::offer_first_admin(app.state.ctx(), Timestamp::now()).await.unwrap();
        let link = url.strip_prefix("http://127.0.0.1:8080").unwrap().to_owned();
        let mut b = Browser::new();
        assert_eq!(b.get(&app, &link).await.status, StatusCode::OK);
        let r =
            b.post(&app, &link, &[("name", ""), ("email", "ana"), ("password", "short"), ("confirm", "short")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body.contains("Enter your name")
                && r.body.contains("e-mail address like")
                && r.body.contains("at least 12")
        );
        let good = [("name", "Ana Ruiz"), ("email", "Ana@Example.org"), ("password", PASSWORD), ("confirm", PASSWORD)];
        assert_eq!(b.post(&app, &link, &good).await.status, StatusCode::OK);
        assert_eq!(b.post(&app, &link, &good).await.status, StatusCode::NOT_FOUND, "single use");
        assert_eq!(app.state.store.count_active_admins().await.unwrap(), 1);
        // The new admin logs in and is sent to enrol a second factor.
        let r = b.post(&app, "/login", &[("email", "ana@example.org"), ("password", PASSWORD)]).await;
        assert_eq!(r.location(), "/account/2fa");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_follow_the_visitors_language_and_choice() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let mut b = Browser::new();
    b.accept_language = Some("es-MX,es;q=0.9");
    assert!(b.get(&app, "/").await.body.contains("<html lang=\"es\">"));
    let r = b.post(&app, "/language", &[("lang", "en"), ("next", "/login")]).await;
    assert_eq!((r.status, r.location()), (StatusCode::SEE_OTHER, "/login"));
    assert!(b.get(&app, "/").await.body.contains("<html lang=\"en\">"), "the choice beats the header");
    let r = b.post(&app, "/language", &[("lang", "en"), ("next", "https://evil.example")]).await;
    assert_eq!(r.location(), "/");
    assert_eq!(b.post(&app, "/language", &[("lang", "tlh")]).await.status, StatusCode::BAD_REQUEST);
    let r = b.get(&app, "/nothing-here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("Page not found"));
}

/// What the worker does with password-reset jobs (the web tests have no
/// worker): runs each, and leaves the mail they queue in the queue.
async fn run_reset_jobs(app: &App) {
    let now = Timestamp::now();
    while let Some(job) = app.state.store.claim_job("test", now, now + SignedDuration::from_secs(60)).await.unwrap() {
        if job.kind != kiteline_web::actions::PASSWORD_RESET_JOB {
            app.state.store.fail_job(&job.id, "test", "left for later", Some(now), now).await.unwrap();
            break;
        }
        kiteline_web::actions::run_password_reset(app.state.ctx(), &job.id, job.sealed.as_ref(), now).await.unwrap();
        app.state.store.complete_job(&job.id, "test", now).await.unwrap();
    }
}
