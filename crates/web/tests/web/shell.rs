//! The application shell: one language setting, a switch that never
//! loses the page, the dashboard by role, dead ends with a next step, and
//! form messages that say what is wrong.

use super::*;

/// Every form Kiteline shows posts somewhere; the language switch on the
/// page that answers returns to a page that answers GET — never a 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_switch_on_any_answered_form_returns_to_a_page_that_exists() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let admin = user(&app, "admin@example.org", Role::Admin, true).await;
    let other = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut a = signed_in(&app, &admin).await;
    let chapter = chapter(&app, "North").await;
    a.post(&app, "/account/tokens", &[("label", "mine"), ("scope", "read")]).await;
    let token = app.state.store.api_tokens_of(&admin.id).await.unwrap().pop().unwrap().id;
    let (module, session, application) = program_fixtures(&app).await;
    for (method, pattern) in routes() {
        if method != "POST" || pattern.starts_with("/api/") || pattern.contains("{token}") {
            continue;
        }
        // Each `{id}` names a real object of its kind.
        let id = if pattern.starts_with("/account/tokens") {
            token.to_string()
        } else if pattern.starts_with("/admin/chapters") {
            chapter.to_string()
        } else if pattern.starts_with("/admin/training/modules") {
            module.to_string()
        } else if pattern.starts_with("/training/sessions") {
            session.to_string()
        } else if pattern.starts_with("/admin/applications") {
            application.to_string()
        } else {
            other.id.to_string()
        };
        let path = concrete(pattern, &id);
        let back = kiteline_web::page_for(pattern, &path);
        let r = a.get(&app, &back).await;
        assert!(
            r.status != StatusCode::METHOD_NOT_ALLOWED && r.status != StatusCode::NOT_FOUND,
            "POST {pattern} returns to {back}: {}",
            r.status
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_showing_a_one_time_secret_warns_before_the_language_switch() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut v = signed_in(&app, &vol).await;
    let r = v.post(&app, "/account/tokens", &[("label", "phone"), ("scope", "read")]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("copy what is shown once first"), "the switch warns");
    assert!(r.body.contains("name=\"next\" value=\"/account/tokens\""), "and returns to the tokens page");
    let r = v.get(&app, "/account/tokens").await;
    assert!(!r.body.contains("copy what is shown once first"), "no warning without a secret");
}

/// One setting: the switch changes a signed-in user's profile language, so
/// pages, error pages and mail follow it on every device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_users_language_is_their_profiles() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        let mut v = signed_in(&app, &vol).await;
        v.accept_language = Some("en-US");
        let r = v.post_follow(&app, "/language", &[("lang", "es"), ("next", "/account")]).await;
        assert!(r.body.contains("<html lang=\"es\">"));
        assert!(r.body.contains("<option value=\"es\" selected>Español</option>"), "the profile says Español");
        assert_eq!(app.state.store.user_by_id(&vol.id).await.unwrap().unwrap().locale, "es");
        // Another device, without the cookie, with an English browser: Spanish.
        let mut elsewhere = signed_in(&app, &vol).await;
        elsewhere.accept_language = Some("en-US");
        assert!(elsewhere.get(&app, "/").await.body.contains("<html lang=\"es\">"));
        // Error pages too.
        let r = elsewhere.get(&app, "/admin/audit").await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(r.body.contains("<html lang=\"es\">"), "403 in their language");
        let r = elsewhere.get(&app, "/no/such/page").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.body.contains("<html lang=\"es\">"), "404 in their language");
        // Saving the profile in English applies on the page that answers.
        let form = [("name", "Vol"), ("time_zone", "America/Chicago"), ("locale", "en")];
        let r = elsewhere.post(&app, "/account", &form).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("<html lang=\"en\">"), "the saved language applies at once");
        // Role and scope names follow the language.
        let mut es = signed_in(&app, &vol).await;
        es.post(&app, "/language", &[("lang", "es"), ("next", "/account")]).await;
        let r = es.get(&app, "/account").await;
        assert!(r.body.contains("Voluntaria/o") && !r.body.contains("· volunteer ·"));
        let r = es.get(&app, "/account/tokens").await;
        assert!(r.body.contains(">Lectura</option>") && !r.body.contains(">read</option>"));
    }
}

/// An invitation mailed in Spanish opens its password page in Spanish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_opens_in_the_invitees_language() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let now = Timestamp::now();
    let user = NewUser {
        email: EmailAddress::parse("nueva@example.org").unwrap(),
        name: "Nueva".into(),
        role: Role::Volunteer,
        locale: "es".into(),
        chapter_id: None,
    };
    let (_, url) = kiteline_web::actions::add_user(app.state.ctx(), user, now).await.unwrap();
    let path = url.strip_prefix("http://127.0.0.1:8080").unwrap().to_owned();
    let mut b = Browser::new();
    b.accept_language = Some("en-US,en;q=0.9");
    let r = b.get(&app, &path).await;
    assert!(r.body.contains("<html lang=\"es\">") && r.body.contains("Elige tu contraseña"), "{}", r.body);
    // A choice made on this browser still wins.
    b.post(&app, "/language", &[("lang", "en"), ("next", &path)]).await;
    assert!(b.get(&app, &path).await.body.contains("<html lang=\"en\">"));
    // Setting the password is audited, and the page offers the next step.
    let r = b.post(&app, &path, &[("password", PASSWORD), ("confirm", PASSWORD)]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("class=\"button\" href=\"/login\""), "a sign-in button, not a dead end");
    let set = AuditFilter { action: Some("user.password_set".into()), limit: 5, ..Default::default() };
    assert_eq!(app.state.store.audit_entries(&set).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_the_first_admin_is_audited_and_leads_on_to_sign_in_and_two_step() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let url = kiteline_web::actions::offer_first_admin(app.state.ctx(), Timestamp::now()).await.unwrap();
    let link = url.strip_prefix("http://127.0.0.1:8080").unwrap().to_owned();
    let mut b = Browser::new();
    let good = [("name", "Ana Ruiz"), ("email", "ana@example.org"), ("password", PASSWORD), ("confirm", PASSWORD)];
    let r = b.post(&app, &link, &good).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("class=\"button\" href=\"/login\""));
    assert!(r.body.contains("authenticator app ready"), "says two-step enrolment comes next");
    let first = AuditFilter { action: Some("user.first_admin".into()), limit: 5, ..Default::default() };
    assert_eq!(app.state.store.audit_entries(&first).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn form_messages_say_what_is_wrong() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    user(&app, "admin@example.org", Role::Admin, true).await;
    let mut b = Browser::new();
    let r = b.post(&app, "/login", &[("email", ""), ("password", "")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Enter your e-mail address.") && r.body.contains("Enter your password."));
    assert!(!r.body.contains("not right"));
    let r = b.post(&app, "/login", &[("email", "admin@example.org"), ("password", "")]).await;
    assert!(r.body.contains("Enter your password.") && !r.body.contains("Enter your e-mail address."));
    assert!(r.body.contains("value=\"admin@example.org\""), "what was typed stays");

    let r = b.post(&app, "/password/reset", &[("email", "not-an-email")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("This is not an e-mail address.") && r.body.contains("value=\"not-an-email\""));

    let r = b.post(&app, "/login", &[("email", "admin@example.org"), ("password", PASSWORD)]).await;
    assert_eq!(r.location(), "/login/2fa");
    for (code, says) in [("", "Enter the code"), ("12345", "is 6 digits"), ("abc", "is 6 digits")] {
        let r = b.post(&app, "/login/2fa", &[("code", code)]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{code:?}");
        assert!(r.body.contains(says) && !r.body.contains("already used"), "{code:?}");
    }
    let r = b.post(&app, "/login/2fa", &[("code", "000000")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "a well-formed wrong code is still refused as such");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_zone_is_chosen_from_the_iana_list() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let mut v = signed_in(&app, &vol).await;
    let r = v.get(&app, "/account").await;
    assert!(r.body.contains("<select id=\"time_zone\""));
    assert!(r.body.contains("<option value=\"America/Los_Angeles\" selected>"));
    assert!(r.body.contains("<option value=\"Europe/Madrid\">"), "every zone is offered");
    assert!(r.body.contains("src=\"/static/kiteline.js"), "the browser's zone is suggested where known");
    let r = v.post(&app, "/account", &[("name", "Vol"), ("time_zone", "Mars/Olympus"), ("locale", "en")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_each_role_what_needs_doing() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        // Someone invited, not yet in.
        let mut a = signed_in(&app, &admin).await;
        let invite = [("name", "Dolores Ibarra"), ("email", "dolores@example.org"), ("role", "volunteer")];
        assert_eq!(a.post(&app, "/admin/users/invite", &invite).await.status, StatusCode::SEE_OTHER);

        let mut v = signed_in(&app, &vol).await;
        let r = v.get(&app, "/").await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("Hello, vol@example.org") && !r.body.contains("Log in to see your account"));
        assert!(r.body.contains("href=\"/account#phone\"") && r.body.contains("href=\"/account/2fa\""));
        assert!(!r.body.contains("Dolores"), "volunteers see no one else");
        assert!(!r.body.contains("href=\"/admin/users\""), "nor the areas of other roles");

        let r = a.get(&app, "/").await;
        assert!(r.body.contains("Dolores Ibarra"), "the pending invitation");
        assert!(r.body.contains("Recent activity") && r.body.contains(">Invited</span>"));
        assert!(r.body.contains("href=\"/admin/chapters\"") && r.body.contains("href=\"/admin/settings\""));
        assert!(r.body.contains("written to the server&#x27;s mail folder") || r.body.contains("mail folder"));

        // A visitor gets the public face, with the organization's name.
        let r = Browser::new().get(&app, "/").await;
        assert!(r.body.contains("<h1>Kiteline</h1>") && r.body.contains("href=\"/login\""));
    }
}
