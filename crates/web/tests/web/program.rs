//! The volunteer program on the web and the API: the public form, the
//! review queue and its scope, seats, attendance, clearance, the directory.

use super::*;

fn answers<'a>(email: &'a str, name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("pronouns", "they/them"),
        ("email", email),
        ("phone", "+1 510 555 0142"),
        ("time_zone", "America/Chicago"),
        ("languages", "en"),
        ("languages", "es"),
        ("chapter", ""),
        ("heard_from", "friend"),
        ("why", "My cousin is inside and I want to help."),
        ("availability", "fri-morning"),
        ("availability", "sat-afternoon"),
        ("agree_training", "on"),
        ("agree_shifts", "on"),
    ]
}

async fn post_raw(b: &mut Browser, app: &App, path: &str, body: Vec<u8>) -> Reply {
    if b.csrf.is_empty() {
        b.get(app, "/apply").await;
    }
    let mut full = format!("csrf={}&", b.csrf).into_bytes();
    full.extend(body);
    let jar: Vec<String> = b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, jar.join("; "))
        .header(header::ACCEPT_LANGUAGE, b.accept_language.unwrap_or("en"))
        .body(Body::from(full))
        .unwrap();
    req.extensions_mut().insert(ConnectInfo(b.addr));
    let res = app.router.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = String::from_utf8_lossy(&axum::body::to_bytes(res.into_body(), 1 << 22).await.unwrap()).into_owned();
    Reply { status, headers, body }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_form_answers_field_by_field_keeps_the_rest_and_never_fails() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    user(&app, "coord@example.org", Role::Coordinator, true).await;
    let mut b = Browser::new();
    b.accept_language = Some("es-MX");
    // Field by field, in the applicant's language, the other answers kept.
    let mut bad = answers("not-an-address", "Marisol");
    bad.retain(|(k, _)| *k != "agree_shifts" && *k != "why");
    let r = b.post(&app, "/apply", &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("<html lang=\"es\">"));
    for message in ["Escribe un correo como", "por qué quieres unirte", "uno o dos turnos al mes"] {
        assert!(r.body.contains(message), "{message}");
    }
    for kept in ["value=\"Marisol\"", "value=\"they/them\"", "value=\"not-an-address\"", "value=\"+15105550142\""] {
        assert!(r.body.contains(kept), "{kept} was lost");
    }
    assert!(r.body.contains("value=\"sat-afternoon\" checked") && r.body.contains("value=\"es\" checked"));
    assert!(r.body.contains("<option value=\"America/Chicago\" selected>"));
    // Nothing at all, invalid UTF-8, a field of a megabyte: never a 500.
    assert_eq!(post_raw(&mut b, &app, "/apply", b"".to_vec()).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = post_raw(&mut b, &app, "/apply", b"name=%FF%FE%C3&email=\xff\xfe@x&why=\xc3\x28".to_vec()).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let mut huge = b"why=".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 1 << 20));
    let r = post_raw(&mut b, &app, "/apply", huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.body.contains("<html lang=\"es\">") && r.body.contains("demasiado grande"));
    let r = b.post(&app, "/apply", &[("why", &"x".repeat(2001))]).await;
    assert!(r.body.contains("2.000 caracteres"));
    assert!(app.state.store.applications().await.unwrap().is_empty(), "nothing was stored");

    // A good one: stored, phone and answer sealed, mail queued for the
    // applicant and the coordinator.
    let r = b.post(&app, "/apply", &answers("marisol@example.org", "Marisol")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Gracias por postularte"));
    let list = app.state.store.applications().await.unwrap();
    assert_eq!(list.len(), 1);
    let rec = app.state.store.application(&list[0].id).await.unwrap().unwrap();
    let raw = String::from_utf8_lossy(rec.phone.as_ref().unwrap().as_bytes()).into_owned();
    assert!(!raw.contains("5105550142"), "the phone is sealed");
    assert_eq!(list[0].locale, "es");
    assert_eq!(app.state.store.job_counts().await.unwrap()[0], 2, "confirmation and the coordinator's notice");
    // The same address again: merged, never doubled.
    let mut again = answers("Marisol@Example.org", "Marisol Reyes");
    again.push(("pronouns", "she/her"));
    assert_eq!(b.post(&app, "/apply", &again).await.status, StatusCode::OK);
    let list = app.state.store.applications().await.unwrap();
    assert_eq!((list.len(), list[0].submissions, list[0].name.as_str()), (1, 2, "Marisol Reyes"));
    // The honeypot: thanked, nothing kept.
    let mut bot = answers("bot@example.org", "Bot");
    bot.push(("website", "http://spam.example"));
    assert_eq!(b.post(&app, "/apply", &bot).await.status, StatusCode::OK);
    assert_eq!(app.state.store.applications().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applications_from_one_network_are_limited() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let mut b = Browser::from_addr("198.51.100.7:1");
    for i in 0..10 {
        let email = format!("a{i}@example.org");
        assert_eq!(b.post(&app, "/apply", &answers(&email, "A")).await.status, StatusCode::OK, "{i}");
    }
    let r = b.post(&app, "/apply", &answers("a10@example.org", "A")).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.state.store.applications().await.unwrap().len(), 10);
}

async fn applied(app: &App, email: &str, chapter: Option<&Id>) -> Id {
    let mut b = Browser::from_addr(&format!("10.{}.{}.1:1", email.len(), email.as_bytes()[0]));
    let chapter = chapter.map(|c| c.to_string()).unwrap_or_default();
    let mut form = answers(email, email);
    form.retain(|(k, _)| *k != "chapter");
    form.push(("chapter", &chapter));
    assert_eq!(b.post(app, "/apply", &form).await.status, StatusCode::OK);
    app.state.store.application_id_by_email(&EmailAddress::parse(email).unwrap()).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_keeps_to_the_coordinators_chapter_and_decisions_do_what_they_say() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let (north, south) = (chapter(&app, "North").await, chapter(&app, "South").await);
        let north_coord = user_in(&app, "north@example.org", Role::Coordinator, true, Some(&north)).await;
        let in_north = applied(&app, "n@example.org", Some(&north)).await;
        let in_south = applied(&app, "s@example.org", Some(&south)).await;
        let at_large = applied(&app, "al@example.org", None).await;
        let mut nc = signed_in(&app, &north_coord).await;
        let r = nc.get(&app, "/admin/applications").await;
        assert!(
            r.body.contains("n@example.org") && r.body.contains("al@example.org") && !r.body.contains("s@example.org")
        );
        assert_eq!(nc.get(&app, &format!("/admin/applications/{in_south}")).await.status, StatusCode::NOT_FOUND);
        let decide = format!("/admin/applications/{in_south}/decide");
        assert_eq!(nc.post(&app, &decide, &[("decision", "accepted")]).await.status, StatusCode::NOT_FOUND);
        // Their answers, unsealed for the coordinator.
        let r = nc.get(&app, &format!("/admin/applications/{in_north}")).await;
        assert!(r.body.contains("+15105550142") && r.body.contains("My cousin is inside"));
        // Waitlist with a note, then accept: an account, an invitation, history.
        let path = format!("/admin/applications/{in_north}/decide");
        let r = nc.post(&app, &path, &[("decision", "waitlisted"), ("note", "next round")]).await;
        assert_eq!(r.location(), format!("/admin/applications/{in_north}?done=waitlisted"));
        let r = nc.post_follow(&app, &path, &[("decision", "accepted")]).await;
        assert!(r.body.contains("Accepted: the invitation was written to the mail folder"), "{}", r.body);
        assert!(r.body.contains("next round"), "the note is in the history");
        let u = app.state.store.user_by_email(&EmailAddress::parse("n@example.org").unwrap()).await.unwrap().unwrap();
        assert_eq!((u.role, u.chapter_id.as_ref()), (Role::Volunteer, Some(&north)));
        assert!(!u.has_password);
        // A decided application takes no further decision.
        let r = nc.post(&app, &path, &[("decision", "declined")]).await;
        assert_eq!(r.location(), format!("/admin/applications/{in_north}?done=meanwhile"));
        // Declining queues the organization's kind message.
        let jobs = app.state.store.job_counts().await.unwrap()[0];
        nc.post(&app, &format!("/admin/applications/{at_large}/decide"), &[("decision", "declined")]).await;
        assert_eq!(app.state.store.job_counts().await.unwrap()[0], jobs + 1);
        let r = nc.post(&app, &format!("/admin/applications/{at_large}/decide"), &[("decision", "maybe")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let entries = app.state.store.audit_chain().await.unwrap().1;
        for action in ["application.waitlist", "application.accept", "application.decline"] {
            assert_eq!(entries.iter().filter(|e| e.action == action).count(), 1, "{action}");
        }
    }
}

/// Schedules a session of a fresh module, starting `in_hours` from now.
async fn session_in(app: &App, capacity: u32, trainer: Option<&Id>, starts: SignedDuration) -> (Id, Id) {
    let now = Timestamp::now();
    let module = new_id(now);
    let input = kiteline_store::ModuleInput {
        title_en: "Call handling".into(),
        title_es: "Atender llamadas".into(),
        description_en: String::new(),
        description_es: String::new(),
        position: 1,
        required: true,
        completion: kiteline_store::Completion::Session,
        validity_months: Some(12),
        renewal_window_days: 30,
        retired: false,
    };
    let s = &app.state.store;
    s.create_module(module.clone(), input, AuditEvent::new(None, Action::ModuleCreate, &module), now).await.unwrap();
    let id = new_id(now);
    let new = kiteline_store::NewTrainingSession {
        id: id.clone(),
        module_id: module.clone(),
        starts_at: now + starts,
        ends_at: now + starts + SignedDuration::from_hours(2),
        time_zone: "America/Los_Angeles".into(),
        capacity,
        video_link: Some(
            app.state
                .vault
                .seal(FieldContext::new("training_sessions", "video_link", id.as_str()), b"https://meet.example/kite"),
        ),
        trainer_id: trainer.cloned(),
    };
    s.schedule_session(new, AuditEvent::new(None, Action::SessionSchedule, &id), now).await.unwrap();
    (module, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_session_says_so_and_only_a_trainer_or_coordinator_marks_attendance() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let coord = user(&app, "coord@example.org", Role::Coordinator, true).await;
        let trainer = user(&app, "trainer@example.org", Role::Volunteer, false).await;
        let (a, b2) = (
            user(&app, "a@example.org", Role::Volunteer, false).await,
            user(&app, "b@example.org", Role::Volunteer, false).await,
        );
        let (_, future) = session_in(&app, 1, Some(&trainer.id), SignedDuration::from_hours(48)).await;
        let mut va = signed_in(&app, &a).await;
        let r = va.get(&app, &format!("/training/sessions/{future}")).await;
        assert!(!r.body.contains("meet.example"), "the call link only for those signed up");
        let r = va.post_follow(&app, &format!("/training/sessions/{future}/signup"), &[]).await;
        assert!(r.body.contains("You are signed up") && r.body.contains("https://meet.example/kite"));
        let mut vb = signed_in(&app, &b2).await;
        let r = vb.post(&app, &format!("/training/sessions/{future}/signup"), &[]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("This session is full. Choose another one."));
        // Attendance: not long before it starts; not by another volunteer.
        let mut t = signed_in(&app, &trainer).await;
        let early = [(format!("att-{}", a.id), "present")];
        let early: Vec<(&str, &str)> = early.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let r = t.post(&app, &format!("/training/sessions/{future}/attendance"), &early).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("from 15 minutes before the session starts"));
        // Ten minutes before it starts, the roll can be taken.
        let (_, started) = session_in(&app, 5, Some(&trainer.id), SignedDuration::from_mins(10)).await;
        va.post(&app, &format!("/training/sessions/{started}/signup"), &[]).await;
        vb.post(&app, &format!("/training/sessions/{started}/signup"), &[]).await;
        let marks = [(format!("att-{}", a.id), "present"), (format!("att-{}", b2.id), "absent")];
        let marks: Vec<(&str, &str)> = marks.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let path = format!("/training/sessions/{started}/attendance");
        assert_eq!(
            vb.post(&app, &path, &marks).await.status,
            StatusCode::FORBIDDEN,
            "a volunteer who is not the trainer"
        );
        let r = t.post_follow(&app, &path, &marks).await;
        assert!(r.body.contains("Attendance saved"), "{}", r.body);
        let held = app.state.store.qualifications_of(&a.id).await.unwrap();
        assert_eq!(held.len(), 1, "present: the module is held");
        assert!(app.state.store.qualifications_of(&b2.id).await.unwrap().is_empty(), "absent: not");
        // Marking again grants nothing twice.
        let mut c = signed_in(&app, &coord).await;
        c.post(&app, &path, &marks).await;
        assert_eq!(app.state.store.qualifications_of(&a.id).await.unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volunteer_short_of_a_module_is_refused_naming_it_everywhere_clearance_shows() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let admin = user(&app, "admin@example.org", Role::Admin, true).await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let (module, _) = session_in(&app, 5, None, SignedDuration::from_hours(24)).await;
    let mut v = signed_in(&app, &vol).await;
    let r = v.get(&app, "/training").await;
    assert!(
        r.body.contains("Not cleared for phone shifts yet") && r.body.contains("Call handling: not completed yet.")
    );
    assert!(v.get(&app, "/").await.body.contains("Call handling: not completed yet."), "the dashboard says the same");
    // An expired qualification is named with its date.
    let now = Timestamp::now();
    let q = kiteline_store::NewQualification {
        id: new_id(now),
        user_id: vol.id.clone(),
        module_id: module.clone(),
        starts_on: jiff::civil::date(2024, 1, 1),
        expires_on: Some(jiff::civil::date(2025, 1, 1)),
        source: kiteline_store::Completion::SignOff,
        session_id: None,
        granted_by: Some(admin.id.clone()),
    };
    app.state
        .store
        .grant_qualification(q, AuditEvent::new(None, Action::QualificationGrant, &vol.id), now)
        .await
        .unwrap();
    assert!(v.get(&app, "/training").await.body.contains("Call handling: expired on 2025-01-01."));
    let (_, token) =
        kiteline_web::actions::mint_api_token(&app.state.store, &admin.id, "t", TokenScope::Read, 7, None, now)
            .await
            .unwrap();
    let (status, body) = api(&app, Method::GET, &format!("/api/v1/volunteers/{}", vol.id), Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["cleared"].as_bool(), body["not_cleared_because"].as_str()), (Some(false), Some("training")));
    assert_eq!(body["missing"][0]["title"], "Call handling");
    assert_eq!(body["missing"][0]["expired_on"], "2025-01-01");
    // A coordinator's sign-off today clears them.
    let mut a = signed_in(&app, &admin).await;
    let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::get("America/Los_Angeles").unwrap()).date().to_string();
    let r = a
        .post(&app, &format!("/admin/volunteers/{}/grant", vol.id), &[("module", module.as_str()), ("date", &today)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(v.get(&app, "/training").await.body.contains("Cleared for phone shifts"));
    // Paused: not cleared, and it says until when.
    let until = Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date()
        .checked_add(jiff::Span::new().days(30))
        .unwrap()
        .to_string();
    assert_eq!(v.post(&app, "/training/pause", &[("until", &until)]).await.status, StatusCode::SEE_OTHER);
    let r = v.get(&app, "/training").await;
    assert!(r.body.contains(&format!("Paused until {until}.")));
    assert_eq!(
        v.post(&app, "/training/pause", &[("until", "2020-01-01")]).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    v.post(&app, "/training/resume", &[]).await;
    assert!(v.get(&app, "/training").await.body.contains("Cleared for phone shifts"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_directory_filters_exports_behind_a_fresh_code_and_audits_each_look() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let admin = user(&app, "admin@example.org", Role::Admin, true).await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    applied(&app, "=cmd@example.org", None).await;
    let mut a = signed_in(&app, &admin).await;
    let r = a.get(&app, "/admin/volunteers").await;
    assert!(
        r.body.contains("vol@example.org") && r.body.contains("=cmd@example.org") && r.body.contains(">applicant<")
    );
    // No module is required yet, so a volunteer with an account is cleared.
    let r = a.get(&app, "/admin/volunteers?status=cleared").await;
    let at = r.body.find("=cmd@example.org").map(|i| r.body[i.saturating_sub(300)..i + 50].to_owned());
    assert!(r.body.contains("vol@example.org") && at.is_none(), "{at:?}");
    let r = a.post(&app, "/admin/volunteers/export", &[("code", "")]).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = a.post(&app, "/admin/volunteers/export", &[("code", &code_at(0))]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
    assert!(r.body.starts_with("name,email,status"));
    assert!(r.body.contains("\"'=cmd@example.org\""), "a formula is defused: {}", r.body);
    assert!(!r.body.contains("5105550142"), "no phone numbers");
    a.get(&app, &format!("/admin/volunteers/{}", vol.id)).await;
    a.get(&app, &format!("/admin/volunteers/{}", vol.id)).await;
    let entries = app.state.store.audit_chain().await.unwrap().1;
    assert_eq!(entries.iter().filter(|e| e.action == "volunteer.export").count(), 1);
    assert_eq!(entries.iter().filter(|e| e.action == "volunteer.view").count(), 2, "each opening");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_decides_schedules_and_keeps_to_the_same_rules() {
    let db = kiteline_store::testing::sqlite().await;
    let app = app_on(&db, "http://127.0.0.1:8080").await;
    let (north, south) = (chapter(&app, "North").await, chapter(&app, "South").await);
    let nc = user_in(&app, "north@example.org", Role::Coordinator, true, Some(&north)).await;
    let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
    let in_south = applied(&app, "s@example.org", Some(&south)).await;
    let in_north = applied(&app, "n@example.org", Some(&north)).await;
    let now = Timestamp::now();
    let (_, write) =
        kiteline_web::actions::mint_api_token(&app.state.store, &nc.id, "t", TokenScope::Write, 7, None, now)
            .await
            .unwrap();
    let (_, vol_token) =
        kiteline_web::actions::mint_api_token(&app.state.store, &vol.id, "v", TokenScope::Write, 7, None, now)
            .await
            .unwrap();
    let (s, body) = api(&app, Method::GET, "/api/v1/applications", Some(&write)).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = body["applications"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [in_north.as_str()], "the chapter's scope");
    assert_eq!(api(&app, Method::GET, "/api/v1/applications", Some(&vol_token)).await.0, StatusCode::FORBIDDEN);
    let (s, _) = api_json(
        &app,
        Method::POST,
        &format!("/api/v1/applications/{in_south}/decision"),
        &write,
        r#"{"decision":"accepted"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = api_json(
        &app,
        Method::POST,
        &format!("/api/v1/applications/{in_north}/decision"),
        &write,
        r#"{"decision":"sure"}"#,
    )
    .await;
    assert_eq!((s, body["fields"]["decision"].is_string()), (StatusCode::UNPROCESSABLE_ENTITY, true));
    assert_eq!(
        api_json(&app, Method::POST, &format!("/api/v1/applications/{in_north}/decision"), &write, "not json").await.0,
        StatusCode::BAD_REQUEST
    );
    let (s, _) = api_json(
        &app,
        Method::POST,
        &format!("/api/v1/applications/{in_north}/decision"),
        &write,
        r#"{"decision":"accepted"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api_json(
        &app,
        Method::POST,
        &format!("/api/v1/applications/{in_north}/decision"),
        &write,
        r#"{"decision":"declined"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Scheduling goes through the same checks as the form.
    let (module, _) = session_in(&app, 3, None, SignedDuration::from_hours(24)).await;
    let past = r#"{"module_id":"MOD","starts_at":"2020-01-01T10:00:00Z","ends_at":"2020-01-01T12:00:00Z","time_zone":"UTC","capacity":5}"#.replace("MOD", module.as_str());
    let (s, body) = api_json(&app, Method::POST, "/api/v1/training/sessions", &write, &past).await;
    assert_eq!(
        (s, body["fields"]["starts_at"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("The session must start in the future."))
    );
    let starts = (now + SignedDuration::from_hours(72)).to_string();
    let ends = (now + SignedDuration::from_hours(74)).to_string();
    let good = format!(
        r#"{{"module_id":"{module}","starts_at":"{starts}","ends_at":"{ends}","time_zone":"UTC","capacity":5}}"#
    );
    let (s, body) = api_json(&app, Method::POST, "/api/v1/training/sessions", &write, &good).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, body) =
        api(&app, Method::GET, &format!("/api/v1/training/sessions/{}", body["id"].as_str().unwrap()), Some(&write))
            .await;
    assert_eq!((s, body["capacity"].as_u64()), (StatusCode::OK, Some(5)));
    // Errors answer JSON, never an HTML page.
    let (s, body) = api(&app, Method::GET, "/api/v1/training/sessions/nope", Some(&write)).await;
    assert_eq!((s, body["error"].as_str()), (StatusCode::NOT_FOUND, Some("not found")));
    let (s, spec) = api(&app, Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!((s, spec["openapi"].as_str()), (StatusCode::OK, Some("3.1.0")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_reminders_go_thirty_and_seven_days_ahead_once_each_in_the_volunteers_language() {
    for db in kiteline_store::testing::each_engine().await {
        let app = app_on(&db, "http://127.0.0.1:8080").await;
        let vol = user(&app, "vol@example.org", Role::Volunteer, false).await;
        let (module, _) = session_in(&app, 5, None, SignedDuration::from_hours(24)).await;
        let now = Timestamp::now();
        let zone = jiff::tz::TimeZone::get(&vol.time_zone).unwrap();
        let today = now.to_zoned(zone).date();
        let expires = today.checked_add(jiff::Span::new().days(30)).unwrap();
        let q = kiteline_store::NewQualification {
            id: new_id(now),
            user_id: vol.id.clone(),
            module_id: module.clone(),
            starts_on: today.checked_sub(jiff::Span::new().days(335)).unwrap(),
            expires_on: Some(expires),
            source: kiteline_store::Completion::SignOff,
            session_id: None,
            granted_by: None,
        };
        app.state
            .store
            .grant_qualification(q, AuditEvent::new(None, Action::QualificationGrant, &vol.id), now)
            .await
            .unwrap();
        let before = app.state.store.job_counts().await.unwrap()[0];
        assert_eq!(kiteline_web::actions::expiry_reminders(app.state.ctx(), now).await.unwrap(), 1, "30 days ahead");
        assert_eq!(kiteline_web::actions::expiry_reminders(app.state.ctx(), now).await.unwrap(), 0, "once");
        assert_eq!(app.state.store.job_counts().await.unwrap()[0], before + 1, "the reminder is queued mail");
        // Twenty-three days later it is 7 days ahead: the second reminder.
        let later = now + SignedDuration::from_hours(24 * 23);
        assert_eq!(kiteline_web::actions::expiry_reminders(app.state.ctx(), later).await.unwrap(), 1, "7 days ahead");
        // A renewal silences what is left.
        let renewal = kiteline_store::NewQualification {
            id: new_id(now),
            user_id: vol.id.clone(),
            module_id: module.clone(),
            starts_on: expires,
            expires_on: Some(expires.checked_add(jiff::Span::new().years(1)).unwrap()),
            source: kiteline_store::Completion::SignOff,
            session_id: None,
            granted_by: None,
        };
        let ev = AuditEvent::new(None, Action::QualificationGrant, &vol.id);
        app.state.store.grant_qualification(renewal, ev, now).await.unwrap();
        let year_later = later + SignedDuration::from_hours(24);
        assert_eq!(kiteline_web::actions::expiry_reminders(app.state.ctx(), year_later).await.unwrap(), 0);
    }
}
