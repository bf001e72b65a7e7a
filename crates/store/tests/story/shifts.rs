//! Shifts: generation, every sign-up check, leaving, covers, waitlists,
//! the monthly cap at month boundaries in the schedule's zone.

use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use kiteline_core::shifts::{self, Refusal, Rules, Version};
use kiteline_core::volunteer::NotCleared;
use kiteline_store::testing::TestDb;
use kiteline_store::{Action, AuditEvent, Constraint, Id, Role, SharedStore, SignUpAsk, StoreError, WaitState, new_id};

use super::{audited_store, new_user};

story!(
    generation_is_idempotent_and_a_change_applies_from_its_date_never_to_the_past,
    every_sign_up_check_refuses_with_its_reason,
    the_monthly_cap_counts_the_schedules_calendar_month,
    leaving_is_free_before_the_cutoff_and_a_cover_request_after_it,
    a_cover_request_keeps_the_shift_theirs_until_the_first_taker_wins,
    a_freed_place_is_offered_to_the_waitlist_and_lapses_to_the_next,
    twenty_volunteers_racing_for_the_last_place_get_one_winner,
);

fn la() -> TimeZone {
    TimeZone::get("America/Los_Angeles").unwrap()
}

/// A fixed "now": Tuesday 1 December 2026, 10:00 in Los Angeles.
fn now() -> Timestamp {
    "2026-12-01T18:00:00Z".parse().unwrap()
}

async fn line(s: &SharedStore, from: Date) -> Id {
    let schedule = s.ensure_schedule(from, now()).await.unwrap();
    let versions = s.schedule_versions(&schedule.id).await.unwrap();
    let blocks = shifts::generate(&versions, &[], from, from.checked_add(jiff::Span::new().days(60)).unwrap());
    s.sync_shifts(&schedule.id, blocks, now(), now()).await.unwrap();
    schedule.id
}

async fn volunteer(s: &SharedStore, name: &str) -> Id {
    s.create_user(new_user(&format!("{name}@example.org"), Role::Volunteer), new_id(now()), now()).await.unwrap().id
}

fn ask(shift: &Id, user: &Id, starts: Timestamp) -> SignUpAsk {
    SignUpAsk {
        shift_id: shift.clone(),
        user_id: user.clone(),
        clearance: Ok(()),
        month: shifts::month_bounds(starts, &la()),
        assigned_by: None,
    }
}

fn ev(user: &Id, action: Action, object: &Id) -> AuditEvent {
    AuditEvent::new(Some(user), action, object)
}

async fn shifts_on(s: &SharedStore, day: Date) -> Vec<kiteline_store::Shift> {
    let from = day.to_datetime(jiff::civil::Time::midnight()).to_zoned(la()).unwrap().timestamp();
    s.shifts_between(from, from + SignedDuration::from_hours(24)).await.unwrap()
}

async fn sign_up(s: &SharedStore, a: SignUpAsk, at: Timestamp) -> Result<(), StoreError> {
    let e = ev(&a.user_id, Action::ShiftSignUp, &a.shift_id);
    s.sign_up_shift(a, e, at).await
}

async fn generation_is_idempotent_and_a_change_applies_from_its_date_never_to_the_past(db: &TestDb) {
    let s = audited_store(db);
    let schedule = line(&s, date(2026, 12, 1)).await;
    let versions = s.schedule_versions(&schedule).await.unwrap();
    let blocks = shifts::generate(&versions, &[], date(2026, 12, 1), date(2027, 1, 30));
    assert_eq!(
        s.sync_shifts(&schedule, blocks.clone(), now(), now()).await.unwrap(),
        (0, 0, 0),
        "twice changes nothing"
    );
    let (first, last) = (blocks[0].starts_at, blocks[blocks.len() - 1].starts_at);
    let all = s.shifts_between(first, last + SignedDuration::from_secs(1)).await.unwrap();
    assert_eq!(all.len(), blocks.len());
    assert!(blocks.len() >= 160, "two months of Friday-to-Monday");
    // Someone on a Saturday shift; from Jan 1 the line opens Saturdays only, capacity 3.
    let sat = shifts_on(&s, date(2027, 1, 2)).await[0].clone();
    let mon = shifts_on(&s, date(2027, 1, 4)).await[0].clone();
    let vol = volunteer(&s, "v").await;
    sign_up(&s, ask(&mon.id, &vol, mon.starts_at), now()).await.unwrap();
    let later = Rules { days: vec![jiff::civil::Weekday::Saturday], capacity: 3, ..Rules::default() };
    s.add_schedule_version(
        &schedule,
        Version { effective_from: date(2027, 1, 1), rules: later },
        ev(&vol, Action::ScheduleUpdate, &schedule),
        now(),
    )
    .await
    .unwrap();
    let versions = s.schedule_versions(&schedule).await.unwrap();
    let blocks = shifts::generate(&versions, &[], date(2026, 12, 1), date(2027, 1, 30));
    let (added, changed, removed) = s.sync_shifts(&schedule, blocks.clone(), now(), now()).await.unwrap();
    assert_eq!(added, 0);
    assert!(changed >= 20 && removed >= 40, "{changed} {removed}");
    assert_eq!(s.shift(&sat.id).await.unwrap().unwrap().capacity, 3, "Saturdays gain a place");
    let kept = s.shift(&mon.id).await.unwrap().unwrap();
    assert!(kept.cancelled, "a Monday someone is on is kept, cancelled");
    assert!(shifts_on(&s, date(2027, 1, 3)).await.is_empty(), "Sundays are gone");
    assert_eq!(s.sync_shifts(&schedule, blocks, now(), now()).await.unwrap(), (0, 0, 0));
    // Past shifts are never rewritten: syncing from later leaves December alone.
    let dec = shifts_on(&s, date(2026, 12, 4)).await;
    assert_eq!(dec.len(), 5);
}

async fn every_sign_up_check_refuses_with_its_reason(db: &TestDb) {
    let s = audited_store(db);
    line(&s, date(2026, 12, 1)).await;
    let (a, b, c) = (volunteer(&s, "a").await, volunteer(&s, "b").await, volunteer(&s, "c").await);
    let fri = shifts_on(&s, date(2026, 12, 4)).await;
    let (first, second) = (&fri[0], &fri[1]);
    let refused = |r: Result<(), StoreError>| match r {
        Err(StoreError::Refused(why)) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    // 1. started or past.
    let late = first.starts_at + SignedDuration::from_mins(1);
    assert_eq!(refused(sign_up(&s, ask(&first.id, &a, first.starts_at), late).await), Refusal::Started);
    // 2. not cleared, naming why.
    let mut not_cleared = ask(&first.id, &a, first.starts_at);
    not_cleared.clearance = Err(NotCleared::Alumni);
    assert_eq!(refused(sign_up(&s, not_cleared, now()).await), Refusal::NotCleared(NotCleared::Alumni));
    // 3. full (capacity 2).
    sign_up(&s, ask(&first.id, &a, first.starts_at), now()).await.unwrap();
    sign_up(&s, ask(&first.id, &b, first.starts_at), now()).await.unwrap();
    assert_eq!(refused(sign_up(&s, ask(&first.id, &c, first.starts_at), now()).await), Refusal::Full);
    // 4. already on it.
    let third = &fri[2];
    sign_up(&s, ask(&third.id, &c, third.starts_at), now()).await.unwrap();
    assert_eq!(refused(sign_up(&s, ask(&third.id, &c, third.starts_at), now()).await), Refusal::Already);
    // 5. overlapping: an extra block over Friday's second one.
    let schedule = s.schedules().await.unwrap()[0].id.clone();
    let extra = kiteline_store::Shift { ..second.clone() };
    let overlap_block = shifts::Block {
        date: date(2026, 12, 4),
        start: jiff::civil::time(11, 0, 0, 0),
        end: jiff::civil::time(13, 0, 0, 0),
        starts_at: extra.starts_at + SignedDuration::from_hours(1),
        ends_at: extra.ends_at + SignedDuration::from_hours(1),
        capacity: 1,
    };
    let versions = s.schedule_versions(&schedule).await.unwrap();
    let mut blocks = shifts::generate(&versions, &[], date(2026, 12, 1), date(2027, 1, 30));
    blocks.push(overlap_block);
    s.sync_shifts(&schedule, blocks, now(), now()).await.unwrap();
    sign_up(&s, ask(&second.id, &c, second.starts_at), now()).await.unwrap();
    let o = shifts_on(&s, date(2026, 12, 4)).await.into_iter().find(|x| x.capacity == 1).unwrap();
    assert_eq!(refused(sign_up(&s, ask(&o.id, &c, o.starts_at), now()).await), Refusal::Overlap);
    // 6. the monthly cap: c has two December shifts already.
    let sat = &shifts_on(&s, date(2026, 12, 5)).await[0];
    assert_eq!(refused(sign_up(&s, ask(&sat.id, &c, sat.starts_at), now()).await), Refusal::MonthlyCap { cap: 2 });
    // A coordinator may assign over it, with a note.
    let coord = s.create_user(new_user("coord@example.org", Role::Coordinator), new_id(now()), now()).await.unwrap().id;
    let mut assign = ask(&sat.id, &c, sat.starts_at);
    assign.assigned_by = Some((coord.clone(), "short-handed before the holiday".into()));
    sign_up(&s, assign, now()).await.unwrap();
    let on = s.shift_signups(&sat.id).await.unwrap();
    assert_eq!(
        (on[0].assigned_by.as_ref(), on[0].override_note.as_str()),
        (Some(&coord), "short-handed before the holiday")
    );
    // 7. the window: with sign-ups opening 7 days ahead, a shift in three weeks waits.
    let settings = kiteline_store::ScheduleSettings {
        horizon_weeks: 12,
        cutoff_hours: 48,
        monthly_cap: 2,
        window_days: Some(7),
        lock_after: 2,
        offer_hours: 12,
    };
    s.update_schedule(&schedule, settings.clone(), ev(&coord, Action::ScheduleUpdate, &schedule), now()).await.unwrap();
    let far = &shifts_on(&s, date(2026, 12, 25)).await[0];
    assert!(matches!(
        refused(sign_up(&s, ask(&far.id, &a, far.starts_at), now()).await),
        Refusal::WindowNotOpen { .. }
    ));
    // 8. locked after two no-shows, until a coordinator lifts it.
    let settings = kiteline_store::ScheduleSettings { window_days: None, ..settings };
    s.update_schedule(&schedule, settings, ev(&coord, Action::ScheduleUpdate, &schedule), now()).await.unwrap();
    s.mark_shift(&first.id, &a, false, &coord, ev(&coord, Action::ShiftAttendance, &first.id), now()).await.unwrap();
    let sun = shifts_on(&s, date(2026, 12, 6)).await;
    sign_up(&s, ask(&sun[0].id, &a, sun[0].starts_at), now()).await.unwrap();
    s.mark_shift(&sun[0].id, &a, false, &coord, ev(&coord, Action::ShiftAttendance, &sun[0].id), now()).await.unwrap();
    let jan = &shifts_on(&s, date(2027, 1, 1)).await[0];
    assert_eq!(refused(sign_up(&s, ask(&jan.id, &a, jan.starts_at), now()).await), Refusal::Locked { no_shows: 2 });
    s.lift_no_show_lock(&a, ev(&coord, Action::ShiftLockLift, &a), now()).await.unwrap();
    sign_up(&s, ask(&jan.id, &a, jan.starts_at), now()).await.unwrap();
    assert!(s.user_by_id(&a).await.unwrap().unwrap().intact);
    let (_, entries) = s.audit_chain().await.unwrap();
    assert_eq!(entries.iter().filter(|e| e.action == "shift.sign_up").count(), 7, "refusals leave no entry");
    // Reminders were queued with each sign-up.
    assert!(s.job_counts().await.unwrap()[0] >= 14);
}

async fn the_monthly_cap_counts_the_schedules_calendar_month(db: &TestDb) {
    let s = audited_store(db);
    // Shifts late on Monday Nov 30 in Los Angeles are in December in UTC.
    let schedule = s.ensure_schedule(date(2026, 11, 1), "2026-11-01T00:00:00Z".parse().unwrap()).await.unwrap();
    let late_rules =
        Rules { opens: jiff::civil::time(14, 0, 0, 0), closes: jiff::civil::time(22, 0, 0, 0), ..Rules::default() };
    let early = "2026-11-01T00:00:00Z".parse().unwrap();
    s.add_schedule_version(
        &schedule.id,
        Version { effective_from: date(2026, 11, 20), rules: late_rules },
        AuditEvent::new(None, Action::ScheduleUpdate, &schedule.id),
        early,
    )
    .await
    .unwrap();
    let versions = s.schedule_versions(&schedule.id).await.unwrap();
    s.sync_shifts(&schedule.id, shifts::generate(&versions, &[], date(2026, 11, 20), date(2026, 12, 10)), early, early)
        .await
        .unwrap();
    let vol = volunteer(&s, "v").await;
    let nov30 = shifts_on(&s, date(2026, 11, 30)).await;
    let last = nov30.last().unwrap();
    assert_eq!(shifts::month_of(last.starts_at, &TimeZone::UTC), (2026, 12), "December in UTC");
    let at = "2026-11-02T00:00:00Z".parse().unwrap();
    sign_up(&s, ask(&nov30[0].id, &vol, nov30[0].starts_at), at).await.unwrap();
    sign_up(&s, ask(&last.id, &vol, last.starts_at), at).await.unwrap();
    // Two November shifts (in Los Angeles): the cap is reached for November…
    let nov29 = &shifts_on(&s, date(2026, 11, 29)).await[0];
    assert!(matches!(
        sign_up(&s, ask(&nov29.id, &vol, nov29.starts_at), at).await,
        Err(StoreError::Refused(Refusal::MonthlyCap { .. }))
    ));
    // …and December is still open, though a UTC count would say otherwise.
    let dec4 = &shifts_on(&s, date(2026, 12, 4)).await[0];
    sign_up(&s, ask(&dec4.id, &vol, dec4.starts_at), at).await.unwrap();
    let dec5 = &shifts_on(&s, date(2026, 12, 5)).await[0];
    sign_up(&s, ask(&dec5.id, &vol, dec5.starts_at), at).await.unwrap();
}

async fn leaving_is_free_before_the_cutoff_and_a_cover_request_after_it(db: &TestDb) {
    let s = audited_store(db);
    line(&s, date(2026, 12, 1)).await;
    let vol = volunteer(&s, "v").await;
    let fri = shifts_on(&s, date(2026, 12, 4)).await;
    let sat = shifts_on(&s, date(2026, 12, 5)).await;
    // Friday 08:00 is 70 hours after now: free to leave.
    sign_up(&s, ask(&fri[0].id, &vol, fri[0].starts_at), now()).await.unwrap();
    s.leave_shift(&fri[0].id, &vol, ev(&vol, Action::ShiftLeave, &fri[0].id), now()).await.unwrap();
    assert!(s.shift_signups(&fri[0].id).await.unwrap().is_empty());
    // Within 48 hours: refused; a cover request instead.
    sign_up(&s, ask(&sat[0].id, &vol, sat[0].starts_at), now()).await.unwrap();
    let late = sat[0].starts_at - SignedDuration::from_hours(47);
    let r = s.leave_shift(&sat[0].id, &vol, ev(&vol, Action::ShiftLeave, &sat[0].id), late).await;
    assert!(matches!(r, Err(StoreError::Conflict(Constraint::PastCutoff))), "{r:?}");
    let cover = s.request_cover(&sat[0].id, &vol, ev(&vol, Action::ShiftCoverRequest, &sat[0].id), late).await.unwrap();
    let again = s.request_cover(&sat[0].id, &vol, ev(&vol, Action::ShiftCoverRequest, &sat[0].id), late).await.unwrap();
    assert_eq!(cover, again, "one open request");
    assert_eq!(s.shift_signups(&sat[0].id).await.unwrap().len(), 1, "still theirs");
    let stranger = volunteer(&s, "x").await;
    assert!(matches!(
        s.request_cover(&sat[0].id, &stranger, ev(&stranger, Action::ShiftCoverRequest, &sat[0].id), late).await,
        Err(StoreError::NotFound)
    ));
}

async fn a_cover_request_keeps_the_shift_theirs_until_the_first_taker_wins(db: &TestDb) {
    let s = audited_store(db);
    line(&s, date(2026, 12, 1)).await;
    let requester = volunteer(&s, "r").await;
    let sat = shifts_on(&s, date(2026, 12, 5)).await[0].clone();
    sign_up(&s, ask(&sat.id, &requester, sat.starts_at), now()).await.unwrap();
    let late = sat.starts_at - SignedDuration::from_hours(30);
    let cover =
        s.request_cover(&sat.id, &requester, ev(&requester, Action::ShiftCoverRequest, &sat.id), late).await.unwrap();
    // A taker who is not cleared is refused, and the shift stays the requester's.
    let uncleared = volunteer(&s, "u").await;
    let mut bad = ask(&sat.id, &uncleared, sat.starts_at);
    bad.clearance = Err(NotCleared::AccountInactive);
    assert!(matches!(
        s.take_cover(&cover, bad, ev(&uncleared, Action::ShiftCoverTake, &sat.id), late).await,
        Err(StoreError::Refused(_))
    ));
    assert_eq!(s.shift_signups(&sat.id).await.unwrap()[0].user_id, requester);
    // Five takers at once: the first wins, the others are told it is gone.
    let mut takers = Vec::new();
    for i in 0..5 {
        let t = volunteer(&s, &format!("t{i}")).await;
        let (s, c) = (s.clone(), cover.clone());
        let a = ask(&sat.id, &t, sat.starts_at);
        takers.push(tokio::spawn(async move {
            (t.clone(), s.take_cover(&c, a, AuditEvent::new(Some(&t), Action::ShiftCoverTake, &c), late).await)
        }));
    }
    let mut winners = Vec::new();
    for t in takers {
        match t.await.unwrap() {
            (who, Ok(())) => winners.push(who),
            (_, Err(StoreError::Conflict(Constraint::CoverGone))) => {}
            (_, other) => panic!("{other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let on: Vec<Id> = s.shift_signups(&sat.id).await.unwrap().into_iter().map(|x| x.user_id).collect();
    assert_eq!(on, winners, "the shift is the taker's now, and only theirs");
    let c = s.cover_request(&cover).await.unwrap().unwrap();
    assert_eq!(c.taken_by.as_ref(), Some(&winners[0]));
}

async fn a_freed_place_is_offered_to_the_waitlist_and_lapses_to_the_next(db: &TestDb) {
    let s = audited_store(db);
    line(&s, date(2026, 12, 1)).await;
    let (a, b, w1, w2) =
        (volunteer(&s, "a").await, volunteer(&s, "b").await, volunteer(&s, "w1").await, volunteer(&s, "w2").await);
    let mon = shifts_on(&s, date(2026, 12, 7)).await[0].clone();
    sign_up(&s, ask(&mon.id, &a, mon.starts_at), now()).await.unwrap();
    let wait = |u: &Id| ev(u, Action::ShiftWaitlist, &mon.id);
    assert!(matches!(
        s.join_waitlist(&mon.id, &w1, wait(&w1), now()).await,
        Err(StoreError::Conflict(Constraint::NotFull))
    ));
    sign_up(&s, ask(&mon.id, &b, mon.starts_at), now()).await.unwrap();
    s.join_waitlist(&mon.id, &w1, wait(&w1), now()).await.unwrap();
    s.join_waitlist(&mon.id, &w2, wait(&w2), now() + SignedDuration::from_secs(1)).await.unwrap();
    // A leaves: the place is offered to w1, held for them for 12 hours.
    s.leave_shift(&mon.id, &a, ev(&a, Action::ShiftLeave, &mon.id), now()).await.unwrap();
    let list = s.waitlist(&mon.id).await.unwrap();
    assert_eq!(
        (list[0].state, list[0].offer_expires_at),
        (WaitState::Offered, Some(now() + SignedDuration::from_hours(12)))
    );
    // The held place is not w2's to take.
    assert!(matches!(
        sign_up(&s, ask(&mon.id, &w2, mon.starts_at), now()).await,
        Err(StoreError::Refused(Refusal::Full))
    ));
    // w1 lets it lapse; it moves to w2, who confirms.
    assert_eq!(s.lapse_offers(now() + SignedDuration::from_hours(13)).await.unwrap(), 1);
    let list = s.waitlist(&mon.id).await.unwrap();
    assert_eq!((list[0].state, list[1].state), (WaitState::Lapsed, WaitState::Offered));
    sign_up(&s, ask(&mon.id, &w2, mon.starts_at), now() + SignedDuration::from_hours(14)).await.unwrap();
    assert_eq!(s.waitlist(&mon.id).await.unwrap()[1].state, WaitState::Confirmed);
    assert_eq!(s.shift(&mon.id).await.unwrap().unwrap().taken, 2);
}

async fn twenty_volunteers_racing_for_the_last_place_get_one_winner(db: &TestDb) {
    let s = audited_store(db);
    line(&s, date(2026, 12, 1)).await;
    let fri = shifts_on(&s, date(2026, 12, 4)).await[0].clone();
    let first = volunteer(&s, "first").await;
    sign_up(&s, ask(&fri.id, &first, fri.starts_at), now()).await.unwrap();
    let mut racers = Vec::new();
    for i in 0..20 {
        let v = volunteer(&s, &format!("r{i}")).await;
        let (s, a) = (s.clone(), ask(&fri.id, &v, fri.starts_at));
        racers.push(tokio::spawn(async move { sign_up(&s, a, now()).await }));
    }
    let mut won = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(()) => won += 1,
            Err(StoreError::Refused(Refusal::Full)) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(s.shift(&fri.id).await.unwrap().unwrap().taken, 2);
}
