//! People, chapters and sessions: the trial's rough edges.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_people_page_speaks_of_them_not_you_and_sorts_and_pages() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        for i in 0..55 {
            user(&app, &format!("v{i:02}@example.org"), Role::Volunteer, false).await;
        }
        let mut a = signed_in(&app, &admin).await;
        let r = a.get(&app, "/admin/users").await;
        assert!(r.body.contains("<label for=\"name\">Name</label>") && !r.body.contains("Your name"));
        assert!(r.body.contains("56 people") && r.body.contains("Page 1 of 2"));
        assert!(r.body.contains("aria-sort=\"ascending\""), "sorted by name");
        assert!(r.body.contains("role=\"region\"") && r.body.contains("tabindex=\"0\""), "scrolls by keyboard");
        assert!(r.body.contains("data-label=\"Role\""), "stacks into cards on phones");
        assert!(r.body.contains(">v00@example.org</a>") && !r.body.contains(">v54@example.org</a>"));
        let r = a.get(&app, "/admin/users?sort=email&dir=desc").await;
        assert!(r.body.contains(">v54@example.org</a>") && r.body.contains("aria-sort=\"descending\""));
        let r = a.get(&app, "/admin/users?sort=name&page=2").await;
        assert!(r.body.contains(">v54@example.org</a>") && r.body.contains("Page 2 of 2"));
        let r = a
            .post(&app, "/admin/users/invite", &[("name", ""), ("email", "x@example.org"), ("role", "volunteer")])
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("Enter their name.") && !r.body.contains("Enter your name"));
        assert!(r.body.contains("value=\"x@example.org\""), "what was typed stays");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_can_be_sent_again_with_a_new_link() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        let mut a = signed_in(&app, &admin).await;
        let invite = [("name", "Dolores"), ("email", "dolores@example.org"), ("role", "volunteer"), ("lang", "es")];
        let r = a.post(&app, "/admin/users/invite", &invite).await;
        let person = r.location().split('?').next().unwrap().to_owned();
        let r = a.get(&app, &person).await;
        assert!(r.body.contains("Send the invitation again"));
        let jobs_before = app.state.store.job_counts().await.unwrap()[0];
        let r = a.post_follow(&app, &format!("{person}/resend"), &[]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains("The invitation was sent again"));
        assert_eq!(app.state.store.job_counts().await.unwrap()[0], jobs_before + 1, "a second message is queued");
        let resent = AuditFilter { action: Some("user.invite_resend".into()), limit: 5, ..Default::default() };
        assert_eq!(app.state.store.audit_entries(&resent).await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chapters_are_listed_renamed_and_removed_with_their_own_messages() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let admin = user(&app, "admin@example.org", Role::Admin, true).await;
        let mut a = signed_in(&app, &admin).await;
        let r = a.get(&app, "/admin/chapters").await;
        assert!(r.body.contains("No chapters yet"));
        assert_eq!(
            a.post(&app, "/admin/chapters", &[("name", "Bay Area")]).await.location(),
            "/admin/chapters?done=added"
        );
        a.post(&app, "/admin/chapters", &[("name", "Los Angeles")]).await;
        let r = a.post(&app, "/admin/chapters", &[("name", "bay area")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("A chapter with this name already exists.") && r.body.contains("value=\"bay area\""));
        let chapters = app.state.store.chapters().await.unwrap();
        let bay = chapters.iter().find(|c| c.name == "Bay Area").unwrap();
        let la = chapters.iter().find(|c| c.name == "Los Angeles").unwrap();
        user_in(&app, "member@example.org", Role::Volunteer, false, Some(&la.id)).await;
        let r = a.get(&app, "/admin/chapters").await;
        assert!(r.body.contains(">Bay Area</th>") && r.body.contains("Has people; move them first"));
        // Renaming to a taken name says so, beside that chapter, keeping the text.
        let r = a.post(&app, &format!("/admin/chapters/{}/rename", bay.id), &[("name", "Los Angeles")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            r.body.contains("A chapter with this name already exists.")
                && r.body.contains("value=\"Los Angeles\" aria-invalid")
        );
        let r = a.post(&app, &format!("/admin/chapters/{}/rename", bay.id), &[("name", "East Bay")]).await;
        assert_eq!(r.location(), "/admin/chapters?done=renamed");
        // Removing asks first; a chapter with people cannot go.
        let r = a.get(&app, &format!("/admin/chapters/{}/remove", bay.id)).await;
        assert!(r.body.contains("Remove the chapter East Bay?"));
        assert_eq!(a.post(&app, &format!("/admin/chapters/{}/remove", la.id), &[]).await.status, StatusCode::CONFLICT);
        let r = a.post_follow(&app, &format!("/admin/chapters/{}/remove", bay.id), &[]).await;
        assert!(r.body.contains("Chapter removed.") && !r.body.contains("East Bay"));
        let audit = app.state.store.audit_chain().await.unwrap().1;
        for action in ["chapter.rename", "chapter.remove"] {
            assert_eq!(audit.iter().filter(|e| e.action == action).count(), 1, "{action}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_lists_sessions_by_device_and_ends_one() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        user(&app, "vol@example.org", Role::Volunteer, false).await;
        let mut phone = Browser::from_addr("192.0.2.30:1");
        let firefox_android = "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0";
        let login = [("email", "vol@example.org"), ("password", PASSWORD)];
        phone.get(&app, "/login").await;
        let r = phone.send_as(&app, "/login", &login, firefox_android).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let mut laptop = Browser::from_addr("192.0.2.31:1");
        laptop.get(&app, "/login").await;
        let chrome_mac = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        laptop.send_as(&app, "/login", &login, chrome_mac).await;
        let r = laptop.get(&app, "/account").await;
        assert!(r.body.contains("Firefox on Android") && r.body.contains("Chrome on macOS"), "{}", r.body);
        assert!(!r.body.contains("Gecko/133.0"), "not the user agent string");
        assert!(r.body.contains("this one"));
        // End the phone's session from the laptop.
        let handle = r.body.split("name=\"session\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let r = laptop.post(&app, "/account/sessions/end", &[("session", &handle)]).await;
        assert_eq!(r.location(), "/account#sessions");
        assert_eq!(phone.get(&app, "/account").await.location(), "/login", "the phone is signed out");
        assert_eq!(laptop.get(&app, "/account").await.status, StatusCode::OK, "the laptop is not");
        let ended = AuditFilter { action: Some("session.end".into()), limit: 5, ..Default::default() };
        assert_eq!(app.state.store.audit_entries(&ended).await.unwrap().len(), 1);
        // Someone else's handle ends nothing.
        let other = user(&app, "other@example.org", Role::Volunteer, false).await;
        let mut o = signed_in(&app, &other).await;
        o.post(&app, "/account/sessions/end", &[("session", &handle)]).await;
        assert_eq!(laptop.get(&app, "/account").await.status, StatusCode::OK);
    }
}
