//! The audit page: readable, searchable by person, quiet about itself.

use super::*;

async fn rename(app: &App, u: &User, name: &str) {
    let p = kiteline_store::ProfileUpdate {
        name: name.into(),
        pronouns: String::new(),
        time_zone: "America/Los_Angeles".into(),
        languages: "en".into(),
        locale: "en".into(),
        phone: None,
        notify_email: true,
        notify_sms: false,
    };
    app.state.store.update_profile(&u.id, p, Timestamp::now()).await.unwrap();
}

fn views(entries: &[kiteline_core::audit::ChainedEntry]) -> usize {
    entries.iter().filter(|e| e.action == "audit.view").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_names_people_and_actions_and_finds_them_by_name_or_address() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        rename(&app, &vol, "Marisol Reyes").await;
        let mut a = signed_in(&app, &admin).await;
        signed_in(&app, &vol).await;

        let r = a.get(&app, "/admin/audit").await;
        assert_eq!(r.status, StatusCode::OK);
        // Names and words, the id kept on hover.
        assert!(r.body.contains(&format!("title=\"{}\">Marisol Reyes</a>", vol.id)), "{}", r.body);
        assert!(r.body.contains(">Logged in</span>") && !r.body.contains(">session.login<"));
        assert!(r.body.contains("Times are in America/Los_Angeles."));
        // In Spanish, the actions are in Spanish.
        let r = a.post_follow(&app, "/language", &[("lang", "es"), ("next", "/admin/audit")]).await;
        assert!(r.body.contains(">Inició sesión</span>"), "{}", r.body);
        a.post(&app, "/language", &[("lang", "en"), ("next", "/")]).await;

        // A search by address goes through a form; the address bar gets ids only.
        for needle in ["vol@example.org", "VOL@example.org", "marisol", "Reyes"] {
            let r = a.post(&app, "/admin/audit", &[("person", needle)]).await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{needle}");
            let to = r.location().to_owned();
            assert_eq!(to, format!("/admin/audit?people={}", vol.id), "{needle}");
            let r = a.get(&app, &to).await;
            assert!(r.body.contains("Showing entries by or about:") && r.body.contains("Marisol Reyes"));
            assert!(!r.body.contains(">admin@example.org</a>"), "only entries by or about her");
        }
        let r = a.post(&app, "/admin/audit", &[("person", "nobody@example.org")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("No one has this name or e-mail address."));
        assert!(r.body.contains("value=\"nobody@example.org\""), "what was typed stays");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_of_the_log_fold_and_hide_and_bad_dates_say_which_field() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let admin = user(&app, "admin@example.org", Role::Admin, true).await;
    let mut a = signed_in(&app, &admin).await;
    for _ in 0..5 {
        assert_eq!(a.get(&app, "/admin/audit").await.status, StatusCode::OK);
    }
    let all = app.state.store.audit_chain().await.unwrap().1;
    assert_eq!(views(&all), 1, "five looks within the hour are one entry");
    let r = a.get(&app, "/admin/audit").await;
    assert!(!r.body.contains(">Viewed the audit log</span>"), "views are hidden by default");
    let r = a.get(&app, "/admin/audit?views=on").await;
    assert!(r.body.contains(">Viewed the audit log</span>"));

    let r = a.post(&app, "/admin/audit", &[("since", "2026-13-45"), ("until", "soon")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("Enter the From date like 2026-11-21."));
    assert!(r.body.contains("Enter the Until date like 2026-11-21."));
    assert!(r.body.contains("value=\"2026-13-45\"") && r.body.contains("value=\"soon\""), "bad values stay");
    let r = a.post(&app, "/admin/audit", &[("since", "2026-11-22"), ("until", "2026-11-21")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("The From date must be before the Until date."));
    let r = a.post(&app, "/admin/audit", &[("since", "2026-11-21"), ("until", "2026-11-22")]).await;
    assert_eq!(r.location(), "/admin/audit?since=2026-11-21&until=2026-11-22");
}
