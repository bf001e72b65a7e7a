//! The volunteer program: applications, the training series, seats,
//! attendance, qualifications (expiry and renewal), reminders, standing.

use jiff::civil::date;
use kiteline_store::testing::TestDb;
use kiteline_store::{
    Acceptance, Action, ApplicationStatus, AuditEvent, AuditFilter, Completion, Constraint, Decide, EmailAddress,
    Invitation, ModuleInput, NewApplication, NewQualification, NewTrainingSession, Role, Standing, StoreError,
    Submitted, new_id,
};

use super::{audited_store, d, new_user, seal, t, unseal};

story!(
    an_application_is_stored_merged_by_address_and_reopened_after_a_decline,
    every_decision_is_kept_and_an_acceptance_makes_the_account_in_the_same_transaction,
    a_session_refuses_a_seat_past_capacity_and_two_takers_of_the_last_seat_never_both_win,
    attendance_grants_qualifications_and_renewals_keep_history,
    a_reminder_goes_once_and_standing_changes_are_audited,
);

fn mail() -> kiteline_store::NewMail {
    kiteline_store::NewMail { id: new_id(t(0)), sealed: seal(b"message"), job_id: new_id(t(0)) }
}

fn application(id: &kiteline_store::Id, email: &str, name: &str) -> NewApplication {
    NewApplication {
        id: id.clone(),
        email: EmailAddress::parse(email).unwrap(),
        name: name.into(),
        pronouns: "she/her".into(),
        phone: Some(seal(b"+15105550100")),
        time_zone: "America/Chicago".into(),
        languages: "en,es".into(),
        chapter_id: None,
        heard_from: "friend".into(),
        why: Some(seal(b"my brother is inside")),
        availability: "fri-morning,sat-afternoon".into(),
        locale: "es".into(),
    }
}

fn count(entries: &[kiteline_core::audit::ChainedEntry], action: &str) -> usize {
    entries.iter().filter(|e| e.action == action).count()
}

async fn an_application_is_stored_merged_by_address_and_reopened_after_a_decline(db: &TestDb) {
    let s = audited_store(db);
    let id = new_id(t(0));
    assert_eq!(
        s.submit_application(application(&id, "ana@example.org", "Ana"), vec![mail()], t(0)).await.unwrap(),
        Submitted::New
    );
    assert_eq!(
        s.application_id_by_email(&EmailAddress::parse("ANA@example.org").unwrap()).await.unwrap(),
        Some(id.clone())
    );
    // Another id for the same address: the caller must seal for the first one.
    let other = new_id(t(1));
    let dup = s.submit_application(application(&other, "ana@example.org", "Ana R."), vec![], t(1)).await;
    assert!(matches!(dup, Err(StoreError::Conflict(Constraint::ApplicationEmail))), "{dup:?}");
    assert_eq!(s.applications().await.unwrap().len(), 1, "never doubled");
    // The same id: merged, newest answers kept.
    let r = s.submit_application(application(&id, "ana@example.org", "Ana Ruiz"), vec![mail()], t(2)).await.unwrap();
    assert_eq!(r, Submitted::Merged);
    let rec = s.application(&id).await.unwrap().unwrap();
    assert_eq!((rec.application.name.as_str(), rec.application.submissions), ("Ana Ruiz", 2));
    assert_eq!(rec.application.status, ApplicationStatus::New);
    assert_eq!(unseal(rec.phone.as_ref().unwrap()), b"+15105550100");
    assert_eq!(unseal(rec.why.as_ref().unwrap()), b"my brother is inside");
    // Declined, then applying again reopens it.
    let admin = s.create_user(new_user("admin@example.org", Role::Admin), new_id(t(3)), t(3)).await.unwrap();
    let decline = Decide {
        application_id: id.clone(),
        decision: ApplicationStatus::Declined,
        decision_id: new_id(t(3)),
        decided_by: admin.id.clone(),
        note: None,
        accept: None,
        mail: Some(mail()),
    };
    s.decide_application(decline, AuditEvent::new(Some(&admin.id), Action::ApplicationDecline, &id), t(3))
        .await
        .unwrap();
    assert_eq!(s.application(&id).await.unwrap().unwrap().application.status, ApplicationStatus::Declined);
    s.submit_application(application(&id, "ana@example.org", "Ana Ruiz"), vec![], t(4)).await.unwrap();
    assert_eq!(s.application(&id).await.unwrap().unwrap().application.status, ApplicationStatus::New);
    let (_, entries) = s.audit_chain().await.unwrap();
    assert_eq!(count(&entries, "application.submit"), 3, "each submission is recorded");
    assert_eq!(s.job_counts().await.unwrap()[0], 3, "confirmation, confirmation, decline message queued");
}

async fn every_decision_is_kept_and_an_acceptance_makes_the_account_in_the_same_transaction(db: &TestDb) {
    let s = audited_store(db);
    let coord = s.create_user(new_user("coord@example.org", Role::Coordinator), new_id(t(0)), t(0)).await.unwrap();
    let id = new_id(t(0));
    s.submit_application(application(&id, "marisol@example.org", "Marisol"), vec![], t(0)).await.unwrap();
    let decide = |decision, at| Decide {
        application_id: id.clone(),
        decision,
        decision_id: new_id(t(at)),
        decided_by: coord.id.clone(),
        note: Some(seal(b"call her back next month")),
        accept: None,
        mail: None,
    };
    let ev = |a| AuditEvent::new(Some(&coord.id), a, &id);
    s.decide_application(decide(ApplicationStatus::Waitlisted, 1), ev(Action::ApplicationWaitlist), t(1))
        .await
        .unwrap();
    // Waitlisted twice is not a decision.
    let again =
        s.decide_application(decide(ApplicationStatus::Waitlisted, 2), ev(Action::ApplicationWaitlist), t(2)).await;
    assert!(matches!(again, Err(StoreError::Conflict(Constraint::ApplicationDecided))));
    // An acceptance whose account cannot be made (the address is taken)
    // leaves nothing behind: no decision, no status change.
    s.create_user(new_user("marisol@example.org", Role::Volunteer), new_id(t(2)), t(2)).await.unwrap();
    let user_id = new_id(t(3));
    let acceptance = |user_id: &kiteline_store::Id, email: &str| Acceptance {
        invitation: Invitation {
            user: kiteline_store::NewUser {
                email: EmailAddress::parse(email).unwrap(),
                name: "Marisol".into(),
                role: Role::Volunteer,
                locale: "es".into(),
                chapter_id: None,
            },
            id: user_id.clone(),
            link_digest: d(&format!("invite-{user_id}")),
            link_expires: t(1000),
            mail: Some(mail()),
        },
        pronouns: "she/her".into(),
        time_zone: "America/Chicago".into(),
        languages: "en,es".into(),
        phone: Some(seal(b"+15105550100")),
    };
    let before = s.audit_chain().await.unwrap().1.len();
    let mut accept = decide(ApplicationStatus::Accepted, 3);
    accept.accept = Some(acceptance(&user_id, "marisol@example.org"));
    let taken = s.decide_application(accept, ev(Action::ApplicationAccept), t(3)).await;
    assert!(matches!(taken, Err(StoreError::Conflict(Constraint::UserEmail))), "{taken:?}");
    assert_eq!(s.audit_chain().await.unwrap().1.len(), before);
    assert_eq!(s.application(&id).await.unwrap().unwrap().decisions.len(), 1);
    // With a free address it goes through, whole.
    let mut accept = decide(ApplicationStatus::Accepted, 4);
    accept.accept = Some(acceptance(&user_id, "marisol.r@example.org"));
    s.decide_application(accept, ev(Action::ApplicationAccept), t(4)).await.unwrap();
    let rec = s.application(&id).await.unwrap().unwrap();
    assert_eq!(rec.application.status, ApplicationStatus::Accepted);
    assert_eq!(rec.application.user_id.as_ref(), Some(&user_id));
    let history: Vec<_> = rec.decisions.iter().map(|x| (x.decision, x.decided_by.clone())).collect();
    assert_eq!(
        history,
        [(ApplicationStatus::Waitlisted, coord.id.clone()), (ApplicationStatus::Accepted, coord.id.clone())]
    );
    assert_eq!(unseal(rec.decisions[0].note.as_ref().unwrap()), b"call her back next month");
    let u = s.user_by_id(&user_id).await.unwrap().unwrap();
    assert!(!u.has_password && u.intact);
    assert_eq!(
        (u.time_zone.as_str(), u.languages.as_str(), u.pronouns.as_str()),
        ("America/Chicago", "en,es", "she/her")
    );
    assert!(s.user_phone(&user_id).await.unwrap().is_some());
    assert!(
        s.usable_link(&d(&format!("invite-{user_id}")), t(5)).await.unwrap().is_some(),
        "the invitation link works"
    );
    // Accepted is final.
    let late = s.decide_application(decide(ApplicationStatus::Declined, 6), ev(Action::ApplicationDecline), t(6)).await;
    assert!(matches!(late, Err(StoreError::Conflict(Constraint::ApplicationDecided))));
    let filter = AuditFilter { people: vec![id.to_string()], limit: 10, ..AuditFilter::default() };
    assert_eq!(s.audit_entries(&filter).await.unwrap().len(), 3, "submit, waitlist, accept");
}

fn module(title: &str, months: Option<u32>) -> ModuleInput {
    ModuleInput {
        title_en: title.into(),
        title_es: String::new(),
        description_en: String::new(),
        description_es: String::new(),
        position: 1,
        required: true,
        completion: Completion::Session,
        validity_months: months,
        renewal_window_days: 30,
        retired: false,
    }
}

async fn a_session_refuses_a_seat_past_capacity_and_two_takers_of_the_last_seat_never_both_win(db: &TestDb) {
    let s = audited_store(db);
    let m = new_id(t(0));
    s.create_module(m.clone(), module("Orientation", None), AuditEvent::new(None, Action::ModuleCreate, &m), t(0))
        .await
        .unwrap();
    let session = new_id(t(0));
    let new = NewTrainingSession {
        id: session.clone(),
        module_id: m.clone(),
        starts_at: t(86_400),
        ends_at: t(86_400 + 7200),
        time_zone: "America/Los_Angeles".into(),
        capacity: 2,
        video_link: Some(seal(b"https://meet.example/abc")),
        trainer_id: None,
    };
    s.schedule_session(new, AuditEvent::new(None, Action::SessionSchedule, &session), t(0)).await.unwrap();
    let mut people = Vec::new();
    for i in 0..10 {
        people.push(
            s.create_user(new_user(&format!("v{i}@example.org"), Role::Volunteer), new_id(t(i)), t(i))
                .await
                .unwrap()
                .id,
        );
    }
    let ev = |u: &kiteline_store::Id| AuditEvent::new(Some(u), Action::SessionSignUp, &session);
    s.sign_up(&session, &people[0], ev(&people[0]), t(10)).await.unwrap();
    let twice = s.sign_up(&session, &people[0], ev(&people[0]), t(11)).await;
    assert!(matches!(twice, Err(StoreError::Conflict(Constraint::SignUp))), "{twice:?}");
    // Nine people race for the last seat: exactly one wins.
    let mut racers = Vec::new();
    for p in &people[1..] {
        let (s, p, sid) = (s.clone(), p.clone(), session.clone());
        racers.push(tokio::spawn(async move {
            s.sign_up(&sid, &p, AuditEvent::new(Some(&p), Action::SessionSignUp, &sid), t(12)).await
        }));
    }
    let mut won = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Conflict(Constraint::SessionFull)) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(won, 1, "one seat, one winner");
    let sess = s.training_session(&session).await.unwrap().unwrap();
    assert_eq!((sess.signed_up, sess.capacity), (2, 2));
    assert_eq!(unseal(sess.video_link.as_ref().unwrap()), b"https://meet.example/abc");
    // Leaving gives the seat back; leaving twice finds nothing.
    s.leave_session(&session, &people[0], AuditEvent::new(Some(&people[0]), Action::SessionLeave, &session), t(13))
        .await
        .unwrap();
    let again =
        s.leave_session(&session, &people[0], AuditEvent::new(None, Action::SessionLeave, &session), t(14)).await;
    assert!(matches!(again, Err(StoreError::NotFound)));
    assert_eq!(s.training_session(&session).await.unwrap().unwrap().signed_up, 1);
    assert_eq!(s.sessions_from(t(0)).await.unwrap().len(), 1);
    assert!(s.sessions_from(t(100_000)).await.unwrap().is_empty(), "ended sessions are not listed");
    let (_, entries) = s.audit_chain().await.unwrap();
    assert_eq!(count(&entries, "training.sign_up"), 2, "refused sign-ups leave no entry");
}

async fn attendance_grants_qualifications_and_renewals_keep_history(db: &TestDb) {
    let s = audited_store(db);
    let m = new_id(t(0));
    s.create_module(m.clone(), module("Safety", Some(12)), AuditEvent::new(None, Action::ModuleCreate, &m), t(0))
        .await
        .unwrap();
    let trainer = s.create_user(new_user("trainer@example.org", Role::Coordinator), new_id(t(0)), t(0)).await.unwrap();
    let vol = s.create_user(new_user("vol@example.org", Role::Volunteer), new_id(t(1)), t(1)).await.unwrap();
    let session = new_id(t(1));
    let new = NewTrainingSession {
        id: session.clone(),
        module_id: m.clone(),
        starts_at: t(3600),
        ends_at: t(7200),
        time_zone: "UTC".into(),
        capacity: 5,
        video_link: None,
        trainer_id: Some(trainer.id.clone()),
    };
    s.schedule_session(new, AuditEvent::new(None, Action::SessionSchedule, &session), t(1)).await.unwrap();
    s.sign_up(&session, &vol.id, AuditEvent::new(Some(&vol.id), Action::SessionSignUp, &session), t(2)).await.unwrap();
    let q = |id, starts_on, expires_on, source, session_id| NewQualification {
        id,
        user_id: vol.id.clone(),
        module_id: m.clone(),
        starts_on,
        expires_on,
        source,
        session_id,
        granted_by: Some(trainer.id.clone()),
    };
    let first = q(new_id(t(3)), date(2026, 1, 10), Some(date(2027, 1, 10)), Completion::Session, Some(session.clone()));
    s.mark_attendance(
        &session,
        vec![(vol.id.clone(), true)],
        &trainer.id,
        vec![first],
        AuditEvent::new(Some(&trainer.id), Action::AttendanceMark, &session),
        t(8000),
    )
    .await
    .unwrap();
    assert_eq!(s.signups(&session).await.unwrap()[0].attended, Some(true));
    // Marked, the seat can no longer be given back.
    let leave =
        s.leave_session(&session, &vol.id, AuditEvent::new(None, Action::SessionLeave, &session), t(8001)).await;
    assert!(matches!(leave, Err(StoreError::NotFound)));
    // Marking someone not signed up changes nothing at all.
    let stranger = new_id(t(9));
    let bad = s
        .mark_attendance(
            &session,
            vec![(stranger, true)],
            &trainer.id,
            vec![],
            AuditEvent::new(Some(&trainer.id), Action::AttendanceMark, &session),
            t(8002),
        )
        .await;
    assert!(matches!(bad, Err(StoreError::NotFound)));
    // A renewal is a new row; the old one stays.
    let renewal = q(new_id(t(4)), date(2027, 1, 10), Some(date(2028, 1, 10)), Completion::SignOff, None);
    s.grant_qualification(renewal, AuditEvent::new(Some(&trainer.id), Action::QualificationGrant, &vol.id), t(9000))
        .await
        .unwrap();
    let held = s.qualifications_of(&vol.id).await.unwrap();
    assert_eq!(held.len(), 2);
    assert_eq!((held[0].starts_on, held[0].expires_on), (date(2026, 1, 10), Some(date(2027, 1, 10))));
    assert_eq!((held[1].source, held[1].expires_on), (Completion::SignOff, Some(date(2028, 1, 10))));
    // The rule over what is stored: expired in 2028 without the renewal, fine with it.
    let modules: Vec<_> = s.modules().await.unwrap().iter().map(|m| m.rule("en")).collect();
    let all: Vec<_> = held.iter().map(|q| q.held()).collect();
    use kiteline_core::volunteer::{NotCleared, clearance};
    assert_eq!(clearance(true, Standing::Active, &modules, &all, date(2027, 6, 1)), Ok(()));
    assert!(matches!(
        clearance(true, Standing::Active, &modules, &all[..1], date(2027, 6, 1)),
        Err(NotCleared::Training(gaps)) if gaps[0].title() == "Safety"
    ));
    assert_eq!(s.all_qualifications().await.unwrap().len(), 2);
}

async fn a_reminder_goes_once_and_standing_changes_are_audited(db: &TestDb) {
    let s = audited_store(db);
    let m = new_id(t(0));
    s.create_module(m.clone(), module("Safety", Some(12)), AuditEvent::new(None, Action::ModuleCreate, &m), t(0))
        .await
        .unwrap();
    let vol = s.create_user(new_user("vol@example.org", Role::Volunteer), new_id(t(1)), t(1)).await.unwrap();
    let qid = new_id(t(2));
    let q = NewQualification {
        id: qid.clone(),
        user_id: vol.id.clone(),
        module_id: m.clone(),
        starts_on: date(2026, 1, 1),
        expires_on: Some(date(2027, 1, 1)),
        source: Completion::SignOff,
        session_id: None,
        granted_by: None,
    };
    s.grant_qualification(q, AuditEvent::new(None, Action::QualificationGrant, &vol.id), t(2)).await.unwrap();
    assert!(s.send_reminder_once(&qid, 30, mail(), t(3)).await.unwrap());
    assert!(!s.send_reminder_once(&qid, 30, mail(), t(4)).await.unwrap(), "once");
    assert!(s.send_reminder_once(&qid, 7, mail(), t(5)).await.unwrap(), "the 7-day one is its own");
    assert_eq!(s.job_counts().await.unwrap()[0], 2);

    assert_eq!(s.standing(&vol.id).await.unwrap(), Standing::Active);
    let until = date(2027, 2, 28);
    s.set_standing(
        &vol.id,
        Standing::Paused { until },
        AuditEvent::new(Some(&vol.id), Action::VolunteerPause, &vol.id),
        t(6),
    )
    .await
    .unwrap();
    assert_eq!(s.standing(&vol.id).await.unwrap(), Standing::Paused { until });
    s.set_standing(&vol.id, Standing::Alumni, AuditEvent::new(Some(&vol.id), Action::VolunteerAlumni, &vol.id), t(7))
        .await
        .unwrap();
    assert!(s.standings().await.unwrap().contains(&(vol.id.clone(), Standing::Alumni)));
    assert!(s.user_by_id(&vol.id).await.unwrap().unwrap().intact, "standing is not a protected column");
    let (_, entries) = s.audit_chain().await.unwrap();
    assert_eq!(count(&entries, "volunteer.pause") + count(&entries, "volunteer.alumni"), 2);
    let missing = s
        .set_standing(&new_id(t(8)), Standing::Active, AuditEvent::new(None, Action::VolunteerResume, "x"), t(8))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)));
}
