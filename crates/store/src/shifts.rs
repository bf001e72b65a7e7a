//! Phone line shifts: schedules (versions, exceptions), the shifts they
//! generate, sign-ups (every check in one transaction under a lock on the
//! shift, so the last place is never taken twice), leaving, cover requests,
//! waitlists and their offers, attendance, reminders, calendar feeds.
//!
//! The jobs a change causes — reminders at their times, the notices of a
//! cover request or a waitlist offer — are queued in the same transaction
//! (`jobs` rows with ids only in their payload).

use jiff::civil::{Date, Time, Weekday};
use jiff::{SignedDuration, Timestamp};
use kiteline_core::shifts::{self, Block, Exception, Refusal, Reminder, Rules, SignUpFacts, Version};
use kiteline_core::volunteer::NotCleared;

use crate::audit::AuditEvent;
use crate::db::{Lock, Row, Sql, Tx, args};
use crate::jobs::NewJob;
use crate::outbox::{self, NewMail};
use crate::{Constraint, Id, Result, Store, StoreError, new_id, one};

/// The job that sends one shift reminder (payload: shift, user, kind).
pub const SHIFT_REMINDER_JOB: &str = "shift_reminder";
/// The job that tells cleared volunteers of a cover request (payload: its id).
pub const COVER_REQUEST_JOB: &str = "cover_request";
/// The job that tells someone a waitlisted place is theirs to confirm.
pub const WAITLIST_OFFER_JOB: &str = "waitlist_offer";
/// The job that asks cleared volunteers to fill a gap (payload: shift, user).
pub const SHIFT_ASK_JOB: &str = "shift_ask";

/// A line: the organization's (`chapter_id` none) or a chapter's, and its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub id: Id,
    pub chapter_id: Option<Id>,
    pub horizon_weeks: u32,
    pub cutoff_hours: u32,
    pub monthly_cap: u32,
    pub window_days: Option<u32>,
    pub lock_after: u32,
    pub offer_hours: u32,
}

impl Schedule {
    pub fn cutoff(&self) -> SignedDuration {
        SignedDuration::from_hours(i64::from(self.cutoff_hours))
    }
    pub fn offer_hold(&self) -> SignedDuration {
        SignedDuration::from_hours(i64::from(self.offer_hours))
    }
    pub fn window(&self) -> Option<SignedDuration> {
        self.window_days.map(|d| SignedDuration::from_hours(24 * i64::from(d)))
    }
}

/// The settings an admin edits on a schedule.
#[derive(Clone, Debug)]
pub struct ScheduleSettings {
    pub horizon_weeks: u32,
    pub cutoff_hours: u32,
    pub monthly_cap: u32,
    pub window_days: Option<u32>,
    pub lock_after: u32,
    pub offer_hours: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredException {
    pub id: Id,
    pub exception: Exception,
    pub note: String,
}

/// A shift, with how many are on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shift {
    pub id: Id,
    pub schedule_id: Id,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub capacity: u32,
    pub cancelled: bool,
    pub sequence: u32,
    pub updated_at: Timestamp,
    pub taken: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShiftSignUp {
    pub shift_id: Id,
    pub user_id: Id,
    pub signed_up_at: Timestamp,
    pub assigned_by: Option<Id>,
    pub override_note: String,
    pub attended: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoverRequest {
    pub id: Id,
    pub shift_id: Id,
    pub user_id: Id,
    pub requested_at: Timestamp,
    pub taken_by: Option<Id>,
    pub taken_at: Option<Timestamp>,
    pub withdrawn_at: Option<Timestamp>,
}

impl CoverRequest {
    pub fn is_open(&self) -> bool {
        self.taken_by.is_none() && self.withdrawn_at.is_none()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitState {
    Waiting,
    Offered,
    Confirmed,
    Lapsed,
    Left,
}

impl WaitState {
    fn as_str(self) -> &'static str {
        match self {
            WaitState::Waiting => "waiting",
            WaitState::Offered => "offered",
            WaitState::Confirmed => "confirmed",
            WaitState::Lapsed => "lapsed",
            WaitState::Left => "left",
        }
    }
    fn parse(s: &str) -> Result<WaitState> {
        Ok(match s {
            "waiting" => WaitState::Waiting,
            "offered" => WaitState::Offered,
            "confirmed" => WaitState::Confirmed,
            "lapsed" => WaitState::Lapsed,
            "left" => WaitState::Left,
            _ => return Err(StoreError::database("a stored waitlist state is unknown", None)),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitEntry {
    pub shift_id: Id,
    pub user_id: Id,
    pub joined_at: Timestamp,
    pub state: WaitState,
    pub offer_expires_at: Option<Timestamp>,
}

/// A sign-up attempt and what only the caller knows: the volunteer's
/// clearance and the bounds of the shift's calendar month in the
/// schedule's zone.
#[derive(Clone, Debug)]
pub struct SignUpAsk {
    pub shift_id: Id,
    pub user_id: Id,
    pub clearance: std::result::Result<(), NotCleared>,
    pub month: (Timestamp, Timestamp),
    /// A coordinator's assignment: who, and the note that overrides the cap,
    /// the window and the no-show lock (empty: within the rules).
    pub assigned_by: Option<(Id, String)>,
}

/// One row of the monthly stats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShiftStat {
    pub user_id: Id,
    pub shifts: u32,
    pub minutes: i64,
    pub no_shows: u32,
}

static SCHEDULES: Sql = Sql::new(
    "SELECT id, chapter_id, horizon_weeks, cutoff_hours, monthly_cap, window_days, lock_after, offer_hours \
     FROM shift_schedules ORDER BY chapter_id IS NOT NULL, created_at, id",
);
static SCHEDULE_OF_SHIFT: Sql = Sql::new(
    "SELECT s.id, s.chapter_id, s.horizon_weeks, s.cutoff_hours, s.monthly_cap, s.window_days, s.lock_after, \
     s.offer_hours FROM shift_schedules s JOIN shifts h ON h.schedule_id = s.id WHERE h.id = $1",
);
static INSERT_SCHEDULE: Sql =
    Sql::new("INSERT INTO shift_schedules (id, chapter_id, created_at, updated_at) VALUES ($1, $2, $3, $3)");
static UPDATE_SCHEDULE: Sql = Sql::new(
    "UPDATE shift_schedules SET horizon_weeks = $2, cutoff_hours = $3, monthly_cap = $4, window_days = $5, \
     lock_after = $6, offer_hours = $7, updated_at = $8 WHERE id = $1",
);
static VERSIONS: Sql = Sql::new(
    "SELECT effective_from, days, opens, closes, block_minutes, capacity, time_zone FROM schedule_versions \
     WHERE schedule_id = $1 ORDER BY effective_from",
);
static INSERT_VERSION: Sql = Sql::new(
    "INSERT INTO schedule_versions (id, schedule_id, effective_from, days, opens, closes, block_minutes, capacity, \
     time_zone, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
);
static EXCEPTIONS: Sql = Sql::new(
    "SELECT id, kind, date, start_time, end_time, capacity, note FROM schedule_exceptions WHERE schedule_id = $1 \
     ORDER BY date, start_time",
);
static INSERT_EXCEPTION: Sql = Sql::new(
    "INSERT INTO schedule_exceptions (id, schedule_id, kind, date, start_time, end_time, capacity, note, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
);
static DELETE_EXCEPTION: Sql = Sql::new("DELETE FROM schedule_exceptions WHERE id = $1 AND schedule_id = $2");
macro_rules! shift_select {
    () => {
        "SELECT h.id, h.schedule_id, h.starts_at, h.ends_at, h.capacity, h.cancelled, h.sequence, h.updated_at, \
         (SELECT COUNT(*) FROM shift_signups g WHERE g.shift_id = h.id) FROM shifts h"
    };
}
static SHIFTS_BETWEEN: Sql =
    Sql::new(concat!(shift_select!(), " WHERE h.starts_at >= $1 AND h.starts_at < $2 ORDER BY h.starts_at, h.id"));
static SHIFT_BY_ID: Sql = Sql::new(concat!(shift_select!(), " WHERE h.id = $1"));
static SHIFTS_OF: Sql = Sql::new(concat!(
    shift_select!(),
    " JOIN shift_signups u ON u.shift_id = h.id WHERE u.user_id = $1 AND h.ends_at > $2 ORDER BY h.starts_at"
));
static SCHEDULE_SHIFTS_FROM: Sql = Sql::new(
    "SELECT id, starts_at, ends_at, capacity, cancelled FROM shifts WHERE schedule_id = $1 AND starts_at >= $2",
);
static INSERT_SHIFT: Sql = Sql::new(
    "INSERT INTO shifts (id, schedule_id, starts_at, ends_at, capacity, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (schedule_id, starts_at) DO NOTHING",
);
static UPDATE_SHIFT: Sql = Sql::new(
    "UPDATE shifts SET ends_at = $2, capacity = $3, cancelled = $4, sequence = sequence + 1, updated_at = $5 WHERE id = $1",
);
static DELETE_SHIFT: Sql = Sql::new("DELETE FROM shifts WHERE id = $1");
static PEOPLE_ON: Sql = Sql::new("SELECT COUNT(*) FROM shift_signups WHERE shift_id = $1");
static SIGNUPS: Sql = Sql::new(
    "SELECT shift_id, user_id, signed_up_at, assigned_by, override_note, attended FROM shift_signups \
     WHERE shift_id = $1 ORDER BY signed_up_at",
);
static ALREADY: Sql = Sql::new("SELECT COUNT(*) FROM shift_signups WHERE shift_id = $1 AND user_id = $2");
static OVERLAPS: Sql = Sql::new(
    "SELECT COUNT(*) FROM shift_signups u JOIN shifts h ON h.id = u.shift_id \
     WHERE u.user_id = $1 AND h.id <> $2 AND h.cancelled = $5 AND h.starts_at < $4 AND h.ends_at > $3",
);
static IN_MONTH: Sql = Sql::new(
    "SELECT COUNT(*) FROM shift_signups u JOIN shifts h ON h.id = u.shift_id \
     WHERE u.user_id = $1 AND h.cancelled = $4 AND h.starts_at >= $2 AND h.starts_at < $3",
);
static NO_SHOWS: Sql = Sql::new(
    "SELECT (SELECT COUNT(*) FROM shift_signups WHERE user_id = $1 AND attended = $2), \
     (SELECT no_shows_forgiven FROM users WHERE id = $1)",
);
static INSERT_SIGNUP: Sql = Sql::new(
    "INSERT INTO shift_signups (shift_id, user_id, signed_up_at, assigned_by, override_note) VALUES ($1, $2, $3, $4, $5)",
);
static DELETE_SIGNUP: Sql = Sql::new("DELETE FROM shift_signups WHERE shift_id = $1 AND user_id = $2");
static MARK: Sql =
    Sql::new("UPDATE shift_signups SET attended = $3, marked_by = $4 WHERE shift_id = $1 AND user_id = $2");
static FORGIVE: Sql = Sql::new(
    "UPDATE users SET no_shows_forgiven = (SELECT COUNT(*) FROM shift_signups WHERE user_id = $1 AND attended = $2), \
     updated_at = $3 WHERE id = $1",
);
macro_rules! cover_select {
    () => {
        "SELECT id, shift_id, user_id, requested_at, taken_by, taken_at, withdrawn_at FROM cover_requests"
    };
}
static COVERS_OF_SHIFT: Sql = Sql::new(concat!(cover_select!(), " WHERE shift_id = $1 ORDER BY requested_at"));
static COVER_BY_ID: Sql = Sql::new(concat!(cover_select!(), " WHERE id = $1"));
static OPEN_COVERS: Sql = Sql::new(concat!(
    cover_select!(),
    " WHERE taken_by IS NULL AND withdrawn_at IS NULL AND shift_id IN (SELECT id FROM shifts WHERE starts_at > $1) \
     ORDER BY requested_at"
));
static INSERT_COVER: Sql =
    Sql::new("INSERT INTO cover_requests (id, shift_id, user_id, requested_at) VALUES ($1, $2, $3, $4)");
static TAKE_COVER: Sql = Sql::new(
    "UPDATE cover_requests SET taken_by = $2, taken_at = $3 WHERE id = $1 AND taken_by IS NULL AND withdrawn_at IS NULL",
);
static WITHDRAW_COVERS: Sql = Sql::new(
    "UPDATE cover_requests SET withdrawn_at = $3 WHERE shift_id = $1 AND user_id = $2 AND taken_by IS NULL \
     AND withdrawn_at IS NULL",
);
static WAITLIST: Sql = Sql::new(
    "SELECT shift_id, user_id, joined_at, state, offer_expires_at FROM shift_waitlist WHERE shift_id = $1 \
     ORDER BY joined_at, user_id",
);
static JOIN_WAITLIST: Sql = Sql::new(
    "INSERT INTO shift_waitlist (shift_id, user_id, joined_at, state) VALUES ($1, $2, $3, 'waiting') \
     ON CONFLICT (shift_id, user_id) DO UPDATE SET state = 'waiting', joined_at = $3, offered_at = NULL, \
     offer_expires_at = NULL",
);
static NEXT_WAITING: Sql = Sql::new(
    "SELECT user_id FROM shift_waitlist WHERE shift_id = $1 AND state = 'waiting' ORDER BY joined_at, user_id LIMIT 1",
);
static OFFER: Sql = Sql::new(
    "UPDATE shift_waitlist SET state = 'offered', offered_at = $3, offer_expires_at = $4 WHERE shift_id = $1 AND user_id = $2",
);
static SET_WAIT_STATE: Sql = Sql::new("UPDATE shift_waitlist SET state = $3 WHERE shift_id = $1 AND user_id = $2");
static OFFER_OF: Sql =
    Sql::new("SELECT state, offer_expires_at FROM shift_waitlist WHERE shift_id = $1 AND user_id = $2");
static LAPSED_OFFERS: Sql =
    Sql::new("SELECT shift_id, user_id FROM shift_waitlist WHERE state = 'offered' AND offer_expires_at <= $1");
static STANDING_OFFERS: Sql =
    Sql::new("SELECT COUNT(*) FROM shift_waitlist WHERE shift_id = $1 AND state = 'offered' AND offer_expires_at > $2");
static REMINDED: Sql =
    Sql::new("SELECT COUNT(*) FROM shift_reminders WHERE shift_id = $1 AND user_id = $2 AND kind = $3");
static INSERT_REMINDER: Sql =
    Sql::new("INSERT INTO shift_reminders (shift_id, user_id, kind, sent_at) VALUES ($1, $2, $3, $4)");
static ASKED: Sql = Sql::new("SELECT COUNT(*) FROM shift_asks WHERE user_id = $1 AND asked_at > $2");
static ASKED_FOR: Sql = Sql::new("SELECT COUNT(*) FROM shift_asks WHERE shift_id = $1 AND user_id = $2");
static INSERT_ASK: Sql = Sql::new("INSERT INTO shift_asks (shift_id, user_id, asked_at) VALUES ($1, $2, $3)");
static SET_FEED: Sql = Sql::new(
    "INSERT INTO calendar_feeds (user_id, token_hash, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT (user_id) DO UPDATE SET token_hash = $2, created_at = $3",
);
static DROP_FEED: Sql = Sql::new("DELETE FROM calendar_feeds WHERE user_id = $1");
static FEED_USER: Sql = Sql::new("SELECT user_id FROM calendar_feeds WHERE token_hash = $1");
static HAS_FEED: Sql = Sql::new("SELECT COUNT(*) FROM calendar_feeds WHERE user_id = $1");
static STATS: Sql = Sql::new(
    "SELECT u.user_id, h.starts_at, h.ends_at, u.attended FROM shift_signups u JOIN shifts h ON h.id = u.shift_id \
     WHERE h.starts_at >= $1 AND h.starts_at < $2 AND h.cancelled = $3",
);
static SET_REMINDERS_OFF: Sql = Sql::new("UPDATE users SET reminders_off = $1, updated_at = $2 WHERE id = $3");
static REMINDERS_OFF: Sql = Sql::new("SELECT reminders_off FROM users WHERE id = $1");

const DAY_CODES: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

pub fn day_code(d: Weekday) -> &'static str {
    DAY_CODES.iter().find(|(_, w)| *w == d).map_or("mon", |(c, _)| c)
}

pub fn day_from_code(c: &str) -> Option<Weekday> {
    DAY_CODES.iter().find(|(code, _)| *code == c).map(|(_, w)| *w)
}

fn malformed() -> StoreError {
    StoreError::database("a stored schedule is malformed", None)
}

fn schedule_from(r: &Row<'_>) -> Result<Schedule> {
    Ok(Schedule {
        id: r.get(0)?,
        chapter_id: r.get(1)?,
        horizon_weeks: r.get(2)?,
        cutoff_hours: r.get(3)?,
        monthly_cap: r.get(4)?,
        window_days: r.get::<Option<i64>>(5)?.map(|d| d as u32),
        lock_after: r.get(6)?,
        offer_hours: r.get(7)?,
    })
}

fn shift_from(r: &Row<'_>) -> Result<Shift> {
    Ok(Shift {
        id: r.get(0)?,
        schedule_id: r.get(1)?,
        starts_at: r.get(2)?,
        ends_at: r.get(3)?,
        capacity: r.get(4)?,
        cancelled: r.get(5)?,
        sequence: r.get(6)?,
        updated_at: r.get(7)?,
        taken: r.get(8)?,
    })
}

fn signup_from(r: &Row<'_>) -> Result<ShiftSignUp> {
    Ok(ShiftSignUp {
        shift_id: r.get(0)?,
        user_id: r.get(1)?,
        signed_up_at: r.get(2)?,
        assigned_by: r.get(3)?,
        override_note: r.get(4)?,
        attended: r.get(5)?,
    })
}

fn cover_from(r: &Row<'_>) -> Result<CoverRequest> {
    Ok(CoverRequest {
        id: r.get(0)?,
        shift_id: r.get(1)?,
        user_id: r.get(2)?,
        requested_at: r.get(3)?,
        taken_by: r.get(4)?,
        taken_at: r.get(5)?,
        withdrawn_at: r.get(6)?,
    })
}

fn time_of(s: &str) -> Result<Time> {
    s.parse().map_err(|_| malformed())
}

fn shift_lock(id: &Id) -> Lock {
    Lock::on(&format!("shift:{id}"))
}

fn job(kind: &str, payload: serde_json::Value, run_at: Timestamp, now: Timestamp) -> NewJob {
    NewJob { id: new_id(now), kind: kind.into(), payload: payload.to_string(), run_at, max_attempts: 8, sealed: None }
}

/// The reminder jobs of a new sign-up: one now, the others at their times
/// (those already past are not queued).
fn reminder_jobs(shift: &Shift, user: &Id, now: Timestamp) -> Vec<NewJob> {
    Reminder::ALL
        .iter()
        .filter_map(|r| {
            let at = r.due(shift.starts_at, shift.ends_at).unwrap_or(now);
            (*r == Reminder::SignedUp || at > now).then(|| {
                let payload =
                    serde_json::json!({ "shift_id": shift.id.as_str(), "user_id": user.as_str(), "kind": r.as_str() });
                job(SHIFT_REMINDER_JOB, payload, at, now)
            })
        })
        .collect()
}

fn shift_in(tx: &mut Tx<'_>, id: &Id) -> Result<Shift> {
    tx.query_opt(&SHIFT_BY_ID, args![id], shift_from)?.filter(|s| !s.cancelled).ok_or(StoreError::NotFound)
}

fn schedule_of(tx: &mut Tx<'_>, shift: &Id) -> Result<Schedule> {
    tx.query_opt(&SCHEDULE_OF_SHIFT, args![shift], schedule_from)?.ok_or(StoreError::NotFound)
}

/// Gathers everything the checks look at, inside the transaction.
fn facts(tx: &mut Tx<'_>, ask: &SignUpAsk, shift: &Shift, schedule: &Schedule, now: Timestamp) -> Result<SignUpFacts> {
    let already: u64 = tx.query_one(&ALREADY, args![&shift.id, &ask.user_id], |r| r.get(0))?;
    let overlaps: u64 =
        tx.query_one(&OVERLAPS, args![&ask.user_id, &shift.id, shift.starts_at, shift.ends_at, false], |r| r.get(0))?;
    let in_month: u64 = tx.query_one(&IN_MONTH, args![&ask.user_id, ask.month.0, ask.month.1, false], |r| r.get(0))?;
    let (no_shows, forgiven): (u64, u64) = tx.query_one(&NO_SHOWS, args![&ask.user_id, false], |r| {
        Ok((r.get(0)?, r.get::<Option<i64>>(1)?.unwrap_or(0) as u64))
    })?;
    let overridden = ask.assigned_by.as_ref().is_some_and(|(_, note)| !note.trim().is_empty());
    Ok(SignUpFacts {
        now,
        starts_at: shift.starts_at,
        clearance: ask.clearance.clone(),
        taken: shift.taken,
        capacity: shift.capacity,
        already: already > 0,
        overlaps: overlaps > 0,
        in_month: in_month as u32,
        cap: schedule.monthly_cap,
        cap_override: overridden,
        window: if overridden { None } else { schedule.window() },
        no_shows: no_shows.saturating_sub(forgiven) as u32,
        lock_after: schedule.lock_after,
        lock_lifted: overridden,
    })
}

/// A freed place goes to the next person waiting, as an offer to confirm.
fn offer_next(tx: &mut Tx<'_>, shift: &Shift, schedule: &Schedule, now: Timestamp) -> Result<()> {
    let standing: u64 = tx.query_one(&STANDING_OFFERS, args![&shift.id, now], |r| r.get(0))?;
    let people: u64 = tx.query_one(&PEOPLE_ON, args![&shift.id], |r| r.get(0))?;
    if people + standing >= u64::from(shift.capacity) || now >= shift.starts_at {
        return Ok(());
    }
    let Some(next): Option<Id> = tx.query_opt(&NEXT_WAITING, args![&shift.id], |r| r.get(0))? else { return Ok(()) };
    let expires = shifts::offer_expires(now, schedule.offer_hold(), shift.starts_at);
    tx.execute(&OFFER, args![&shift.id, &next, now, expires])?;
    let payload = serde_json::json!({ "shift_id": shift.id.as_str(), "user_id": next.as_str() });
    crate::jobs::insert(tx, &job(WAITLIST_OFFER_JOB, payload, now, now), now)
}

impl Store {
    /// The organization's line, made with the default rules from `today` if
    /// there is none yet.
    pub async fn ensure_schedule(&self, today: Date, now: Timestamp) -> Result<Schedule> {
        self.db
            .write(move |tx| {
                let existing = tx.query(&SCHEDULES, args![], schedule_from)?;
                if let Some(s) = existing.into_iter().find(|s| s.chapter_id.is_none()) {
                    return Ok(s);
                }
                let id = new_id(now);
                tx.execute(&INSERT_SCHEDULE, args![&id, Option::<&Id>::None, now])?;
                insert_version(tx, &id, &Version { effective_from: today, rules: Rules::default() }, now)?;
                tx.query(&SCHEDULES, args![], schedule_from)?
                    .into_iter()
                    .find(|s| s.id == id)
                    .ok_or(StoreError::NotFound)
            })
            .await
    }

    pub async fn schedules(&self) -> Result<Vec<Schedule>> {
        self.db.read(|tx| tx.query(&SCHEDULES, args![], schedule_from)).await
    }

    /// A chapter's own line, with the default rules from `today`.
    pub async fn create_chapter_schedule(
        &self,
        chapter: &Id,
        today: Date,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<Id> {
        let chapter = chapter.clone();
        self.audited(audit, now, move |tx| {
            let id = new_id(now);
            tx.execute(&INSERT_SCHEDULE, args![&id, &chapter, now])?;
            insert_version(tx, &id, &Version { effective_from: today, rules: Rules::default() }, now)?;
            Ok(id)
        })
        .await
    }

    pub async fn update_schedule(&self, id: &Id, s: ScheduleSettings, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let id = id.clone();
        self.audited(audit, now, move |tx| {
            one(tx.execute(
                &UPDATE_SCHEDULE,
                args![
                    &id,
                    s.horizon_weeks,
                    s.cutoff_hours,
                    s.monthly_cap,
                    s.window_days,
                    s.lock_after,
                    s.offer_hours,
                    now
                ],
            )?)
        })
        .await
    }

    pub async fn schedule_versions(&self, schedule: &Id) -> Result<Vec<Version>> {
        let id = schedule.clone();
        self.db
            .read(move |tx| {
                tx.query(&VERSIONS, args![&id], |r| {
                    let days: String = r.get(1)?;
                    let days = days.split(',').filter(|d| !d.is_empty()).map(day_from_code).collect::<Option<Vec<_>>>();
                    Ok(Version {
                        effective_from: r.get(0)?,
                        rules: Rules {
                            days: days.ok_or_else(malformed)?,
                            opens: time_of(&r.get::<String>(2)?)?,
                            closes: time_of(&r.get::<String>(3)?)?,
                            block_minutes: r.get(4)?,
                            capacity: r.get(5)?,
                            zone: r.get(6)?,
                        },
                    })
                })
            })
            .await
    }

    /// A new version from its day on (`Conflict(ScheduleVersionDate)` if one
    /// starts that day already). Shifts change at the next generation.
    pub async fn add_schedule_version(
        &self,
        schedule: &Id,
        v: Version,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let id = schedule.clone();
        self.audited(audit, now, move |tx| insert_version(tx, &id, &v, now)).await
    }

    pub async fn schedule_exceptions(&self, schedule: &Id) -> Result<Vec<StoredException>> {
        let id = schedule.clone();
        self.db
            .read(move |tx| {
                tx.query(&EXCEPTIONS, args![&id], |r| {
                    let kind: String = r.get(1)?;
                    let date: Date = r.get(2)?;
                    let start: Option<String> = r.get(3)?;
                    let end: Option<String> = r.get(4)?;
                    let exception = match kind.as_str() {
                        "close_day" => Exception::CloseDay { date },
                        "close_block" => Exception::CloseBlock { date, start: time_of(&start.ok_or_else(malformed)?)? },
                        "extra_block" => Exception::ExtraBlock {
                            date,
                            start: time_of(&start.ok_or_else(malformed)?)?,
                            end: time_of(&end.ok_or_else(malformed)?)?,
                            capacity: r.get::<Option<i64>>(5)?.unwrap_or(1) as u32,
                        },
                        _ => return Err(malformed()),
                    };
                    Ok(StoredException { id: r.get(0)?, exception, note: r.get(6)? })
                })
            })
            .await
    }

    pub async fn add_schedule_exception(
        &self,
        schedule: &Id,
        e: Exception,
        note: &str,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<Id> {
        let (schedule, note) = (schedule.clone(), note.to_owned());
        self.audited(audit, now, move |tx| {
            let id = new_id(now);
            let hm = |t: &Time| t.strftime("%H:%M").to_string();
            let (kind, date, start, end, capacity) = match &e {
                Exception::CloseDay { date } => ("close_day", date, None, None, None),
                Exception::CloseBlock { date, start } => ("close_block", date, Some(hm(start)), None, None),
                Exception::ExtraBlock { date, start, end, capacity } => {
                    ("extra_block", date, Some(hm(start)), Some(hm(end)), Some(*capacity))
                }
            };
            let date = date.to_string();
            tx.execute(
                &INSERT_EXCEPTION,
                args![&id, &schedule, kind, &date, start.as_ref(), end.as_ref(), capacity, &note, now],
            )?;
            Ok(id)
        })
        .await
    }

    pub async fn remove_schedule_exception(
        &self,
        schedule: &Id,
        id: &Id,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let (schedule, id) = (schedule.clone(), id.clone());
        self.audited(audit, now, move |tx| one(tx.execute(&DELETE_EXCEPTION, args![&id, &schedule])?)).await
    }

    /// Makes the schedule's shifts from `from` on match `blocks`: missing
    /// ones are added, changed ones updated, ones no longer in the schedule
    /// removed (or, if people are on them, kept as cancelled). Shifts before
    /// `from` are never touched; running it twice changes nothing. Returns
    /// (added, changed, removed).
    pub async fn sync_shifts(
        &self,
        schedule: &Id,
        blocks: Vec<Block>,
        from: Timestamp,
        now: Timestamp,
    ) -> Result<(u32, u32, u32)> {
        let schedule = schedule.clone();
        self.db
            .write(move |tx| {
                tx.lock(Lock::on(&format!("shift-sync:{schedule}")))?;
                let existing: Vec<(Id, Timestamp, Timestamp, u32, bool)> =
                    tx.query(&SCHEDULE_SHIFTS_FROM, args![&schedule, from], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?;
                let (mut added, mut changed, mut removed) = (0, 0, 0);
                for b in blocks.iter().filter(|b| b.starts_at >= from) {
                    match existing.iter().find(|(_, s, ..)| *s == b.starts_at) {
                        None => {
                            added += tx.execute(
                                &INSERT_SHIFT,
                                args![&new_id(now), &schedule, b.starts_at, b.ends_at, b.capacity, now],
                            )? as u32
                        }
                        Some((id, _, ends, capacity, cancelled))
                            if *ends != b.ends_at || *capacity != b.capacity || *cancelled =>
                        {
                            tx.execute(&UPDATE_SHIFT, args![id, b.ends_at, b.capacity, false, now])?;
                            changed += 1;
                        }
                        Some(_) => {}
                    }
                }
                for (id, starts, ends, capacity, cancelled) in &existing {
                    if *cancelled || blocks.iter().any(|b| b.starts_at == *starts) {
                        continue;
                    }
                    let people: u64 = tx.query_one(&PEOPLE_ON, args![id], |r| r.get(0))?;
                    if people == 0 {
                        tx.execute(&DELETE_SHIFT, args![id])?;
                    } else {
                        tx.execute(&UPDATE_SHIFT, args![id, *ends, *capacity, true, now])?;
                    }
                    removed += 1;
                }
                Ok((added, changed, removed))
            })
            .await
    }

    /// Shifts starting in `[from, to)`, with how many are on each.
    pub async fn shifts_between(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Shift>> {
        self.db.read(move |tx| tx.query(&SHIFTS_BETWEEN, args![from, to], shift_from)).await
    }

    pub async fn shift(&self, id: &Id) -> Result<Option<Shift>> {
        let id = id.clone();
        self.db.read(move |tx| tx.query_opt(&SHIFT_BY_ID, args![&id], shift_from)).await
    }

    pub async fn schedule_of_shift(&self, id: &Id) -> Result<Schedule> {
        let id = id.clone();
        self.db.read(move |tx| schedule_of(tx, &id)).await
    }

    /// A person's shifts that have not ended by `from`.
    pub async fn shifts_of(&self, user: &Id, from: Timestamp) -> Result<Vec<Shift>> {
        let id = user.clone();
        self.db.read(move |tx| tx.query(&SHIFTS_OF, args![&id, from], shift_from)).await
    }

    pub async fn shift_signups(&self, shift: &Id) -> Result<Vec<ShiftSignUp>> {
        let id = shift.clone();
        self.db.read(move |tx| tx.query(&SIGNUPS, args![&id], signup_from)).await
    }

    /// Signs up (or, with `assigned_by`, a coordinator assigns): every check
    /// of `core::shifts::check_sign_up`, in its order, inside one
    /// transaction under a lock on the shift — `Refused(reason)` — then the
    /// sign-up, its reminders queued, and its audit entry.
    pub async fn sign_up_shift(&self, ask: SignUpAsk, audit: AuditEvent, now: Timestamp) -> Result<()> {
        self.audited(audit, now, move |tx| {
            tx.lock(shift_lock(&ask.shift_id))?;
            let shift = shift_in(tx, &ask.shift_id)?;
            let schedule = schedule_of(tx, &shift.id)?;
            let f = facts(tx, &ask, &shift, &schedule, now)?;
            // A standing offer holds its place for the person offered.
            let standing: u64 = tx.query_one(&STANDING_OFFERS, args![&shift.id, now], |r| r.get(0))?;
            let offered_to_me = matches!(
                tx.query_opt(&OFFER_OF, args![&shift.id, &ask.user_id], |r| Ok((r.get::<String>(0)?, r.get::<Option<Timestamp>>(1)?)))?,
                Some((s, Some(exp))) if s == "offered" && exp > now
            );
            let held = if offered_to_me { standing.saturating_sub(1) } else { standing };
            let f = SignUpFacts { taken: f.taken + held as u32, ..f };
            shifts::check_sign_up(&f).map_err(StoreError::Refused)?;
            let (by, note) = ask.assigned_by.clone().map_or((None, String::new()), |(b, n)| (Some(b), n));
            tx.execute(&INSERT_SIGNUP, args![&shift.id, &ask.user_id, now, by.as_ref(), &note])?;
            if offered_to_me {
                tx.execute(&SET_WAIT_STATE, args![&shift.id, &ask.user_id, WaitState::Confirmed.as_str()])?;
            }
            for j in reminder_jobs(&shift, &ask.user_id, now) {
                crate::jobs::insert(tx, &j, now)?;
            }
            Ok(())
        })
        .await
    }

    /// Leaves a shift before its cutoff (`Conflict(PastCutoff)` after it:
    /// ask for cover). The place is offered to the next person waiting.
    pub async fn leave_shift(&self, shift: &Id, user: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let (sid, uid) = (shift.clone(), user.clone());
        self.audited(audit, now, move |tx| {
            tx.lock(shift_lock(&sid))?;
            let shift = shift_in(tx, &sid)?;
            let schedule = schedule_of(tx, &sid)?;
            if !shifts::can_leave_freely(now, shift.starts_at, schedule.cutoff()) {
                return Err(StoreError::Conflict(Constraint::PastCutoff));
            }
            one(tx.execute(&DELETE_SIGNUP, args![&sid, &uid])?)?;
            tx.execute(&WITHDRAW_COVERS, args![&sid, &uid, now])?;
            offer_next(tx, &shift, &schedule, now)
        })
        .await
    }

    /// Asks for cover: the shift stays the volunteer's until someone takes
    /// it. Cleared volunteers are told through a queued job. `NotFound` if
    /// they are not on it; an open request already standing is kept.
    pub async fn request_cover(&self, shift: &Id, user: &Id, audit: AuditEvent, now: Timestamp) -> Result<Id> {
        let (sid, uid) = (shift.clone(), user.clone());
        self.audited(audit, now, move |tx| {
            tx.lock(shift_lock(&sid))?;
            let shift = shift_in(tx, &sid)?;
            if now >= shift.starts_at {
                return Err(StoreError::Refused(Refusal::Started));
            }
            let on: u64 = tx.query_one(&ALREADY, args![&sid, &uid], |r| r.get(0))?;
            if on == 0 {
                return Err(StoreError::NotFound);
            }
            let open = tx
                .query(&COVERS_OF_SHIFT, args![&sid], cover_from)?
                .into_iter()
                .find(|c| c.user_id == uid && c.is_open());
            if let Some(c) = open {
                return Ok(c.id);
            }
            let id = new_id(now);
            tx.execute(&INSERT_COVER, args![&id, &sid, &uid, now])?;
            crate::jobs::insert(
                tx,
                &job(COVER_REQUEST_JOB, serde_json::json!({ "cover_id": id.as_str() }), now, now),
                now,
            )?;
            Ok(id)
        })
        .await
    }

    /// Takes a cover request: the first to accept wins (`Conflict(CoverGone)`
    /// for the others). The taker passes every sign-up check as if the
    /// requester's place were free; the shift becomes theirs.
    pub async fn take_cover(&self, cover: &Id, ask: SignUpAsk, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let cover = cover.clone();
        self.audited(audit, now, move |tx| {
            let c = tx.query_opt(&COVER_BY_ID, args![&cover], cover_from)?.ok_or(StoreError::NotFound)?;
            tx.lock(shift_lock(&c.shift_id))?;
            let c = tx.query_opt(&COVER_BY_ID, args![&cover], cover_from)?.ok_or(StoreError::NotFound)?;
            if !c.is_open() {
                return Err(StoreError::Conflict(Constraint::CoverGone));
            }
            let shift = shift_in(tx, &c.shift_id)?;
            let schedule = schedule_of(tx, &shift.id)?;
            let ask = SignUpAsk { shift_id: shift.id.clone(), ..ask };
            let f = facts(tx, &ask, &shift, &schedule, now)?;
            let f = SignUpFacts { taken: f.taken.saturating_sub(1), ..f };
            shifts::check_sign_up(&f).map_err(StoreError::Refused)?;
            one(tx.execute(&TAKE_COVER, args![&cover, &ask.user_id, now])?)?;
            one(tx.execute(&DELETE_SIGNUP, args![&shift.id, &c.user_id])?)?;
            tx.execute(&INSERT_SIGNUP, args![&shift.id, &ask.user_id, now, Option::<&Id>::None, ""])?;
            for j in reminder_jobs(&shift, &ask.user_id, now) {
                crate::jobs::insert(tx, &j, now)?;
            }
            Ok(())
        })
        .await
    }

    pub async fn cover_request(&self, id: &Id) -> Result<Option<CoverRequest>> {
        let id = id.clone();
        self.db.read(move |tx| tx.query_opt(&COVER_BY_ID, args![&id], cover_from)).await
    }

    pub async fn cover_requests_of_shift(&self, shift: &Id) -> Result<Vec<CoverRequest>> {
        let id = shift.clone();
        self.db.read(move |tx| tx.query(&COVERS_OF_SHIFT, args![&id], cover_from)).await
    }

    /// Open cover requests for shifts that have not started.
    pub async fn open_cover_requests(&self, now: Timestamp) -> Result<Vec<CoverRequest>> {
        self.db.read(move |tx| tx.query(&OPEN_COVERS, args![now], cover_from)).await
    }

    /// Joins a full shift's waitlist (`Conflict(NotFull)` when a place is free).
    pub async fn join_waitlist(&self, shift: &Id, user: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let (sid, uid) = (shift.clone(), user.clone());
        self.audited(audit, now, move |tx| {
            tx.lock(shift_lock(&sid))?;
            let shift = shift_in(tx, &sid)?;
            if now >= shift.starts_at {
                return Err(StoreError::Refused(Refusal::Started));
            }
            if shift.taken < shift.capacity {
                return Err(StoreError::Conflict(Constraint::NotFull));
            }
            let on: u64 = tx.query_one(&ALREADY, args![&sid, &uid], |r| r.get(0))?;
            if on > 0 {
                return Err(StoreError::Refused(Refusal::Already));
            }
            tx.execute(&JOIN_WAITLIST, args![&sid, &uid, now])?;
            Ok(())
        })
        .await
    }

    pub async fn waitlist(&self, shift: &Id) -> Result<Vec<WaitEntry>> {
        let id = shift.clone();
        self.db
            .read(move |tx| {
                tx.query(&WAITLIST, args![&id], |r| {
                    Ok(WaitEntry {
                        shift_id: r.get(0)?,
                        user_id: r.get(1)?,
                        joined_at: r.get(2)?,
                        state: WaitState::parse(&r.get::<String>(3)?)?,
                        offer_expires_at: r.get(4)?,
                    })
                })
            })
            .await
    }

    /// Offers that lapsed by `now` move on to the next person waiting.
    /// Returns how many lapsed.
    pub async fn lapse_offers(&self, now: Timestamp) -> Result<u32> {
        self.db
            .write(move |tx| {
                let lapsed: Vec<(Id, Id)> = tx.query(&LAPSED_OFFERS, args![now], |r| Ok((r.get(0)?, r.get(1)?)))?;
                for (sid, uid) in &lapsed {
                    tx.lock(shift_lock(sid))?;
                    tx.execute(&SET_WAIT_STATE, args![sid, uid, WaitState::Lapsed.as_str()])?;
                    if let Ok(shift) = shift_in(tx, sid) {
                        let schedule = schedule_of(tx, sid)?;
                        offer_next(tx, &shift, &schedule, now)?;
                    }
                }
                Ok(lapsed.len() as u32)
            })
            .await
    }

    /// Marks a volunteer present (`true`) or a no-show (`false`).
    pub async fn mark_shift(
        &self,
        shift: &Id,
        user: &Id,
        present: bool,
        by: &Id,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let (sid, uid, by) = (shift.clone(), user.clone(), by.clone());
        self.audited(audit, now, move |tx| one(tx.execute(&MARK, args![&sid, &uid, present, &by])?)).await
    }

    /// Lifts the no-show lock: the no-shows so far are forgiven.
    pub async fn lift_no_show_lock(&self, user: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let uid = user.clone();
        self.audited(audit, now, move |tx| one(tx.execute(&FORGIVE, args![&uid, false, now])?)).await
    }

    /// Sends a shift reminder once: `false` (nothing stored) if it went before.
    pub async fn send_shift_reminder_once(
        &self,
        shift: &Id,
        user: &Id,
        kind: Reminder,
        mail: Option<NewMail>,
        now: Timestamp,
    ) -> Result<bool> {
        let (sid, uid) = (shift.clone(), user.clone());
        self.db
            .write(move |tx| {
                let sent: u64 = tx.query_one(&REMINDED, args![&sid, &uid, kind.as_str()], |r| r.get(0))?;
                if sent > 0 {
                    return Ok(false);
                }
                tx.execute(&INSERT_REMINDER, args![&sid, &uid, kind.as_str(), now])?;
                if let Some(m) = &mail {
                    outbox::insert(tx, m, now)?;
                }
                Ok(true)
            })
            .await
    }

    /// How many gap asks went to `user` since `since` (the per-volunteer limit).
    pub async fn asks_since(&self, user: &Id, since: Timestamp) -> Result<u64> {
        let uid = user.clone();
        self.db.read(move |tx| tx.query_one(&ASKED, args![&uid, since], |r| r.get(0))).await
    }

    /// Records a gap ask to one volunteer, with its message, once per shift:
    /// `false` if they were asked before.
    pub async fn ask_once(&self, shift: &Id, user: &Id, mail: Option<NewMail>, now: Timestamp) -> Result<bool> {
        let (sid, uid) = (shift.clone(), user.clone());
        self.db
            .write(move |tx| {
                let asked: u64 = tx.query_one(&ASKED_FOR, args![&sid, &uid], |r| r.get(0))?;
                if asked > 0 {
                    return Ok(false);
                }
                tx.execute(&INSERT_ASK, args![&sid, &uid, now])?;
                if let Some(m) = &mail {
                    outbox::insert(tx, m, now)?;
                }
                Ok(true)
            })
            .await
    }

    /// Queues the job that asks cleared volunteers to fill a gap, audited.
    pub async fn queue_gap_ask(&self, shift: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let sid = shift.clone();
        self.audited(audit, now, move |tx| {
            shift_in(tx, &sid)?;
            crate::jobs::insert(tx, &job(SHIFT_ASK_JOB, serde_json::json!({ "shift_id": sid.as_str() }), now, now), now)
        })
        .await
    }

    /// Sets (or rotates) a person's calendar feed: only its digest is kept.
    pub async fn set_calendar_feed(
        &self,
        user: &Id,
        digest: &crate::TokenDigest,
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let (uid, digest) = (user.clone(), digest.clone());
        self.audited(audit, now, move |tx| {
            tx.execute(&SET_FEED, args![&uid, &digest, now])?;
            Ok(())
        })
        .await
    }

    pub async fn revoke_calendar_feed(&self, user: &Id, audit: AuditEvent, now: Timestamp) -> Result<()> {
        let uid = user.clone();
        self.audited(audit, now, move |tx| {
            tx.execute(&DROP_FEED, args![&uid])?;
            Ok(())
        })
        .await
    }

    pub async fn calendar_feed_user(&self, digest: &crate::TokenDigest) -> Result<Option<Id>> {
        let digest = digest.clone();
        self.db.read(move |tx| tx.query_opt(&FEED_USER, args![&digest], |r| r.get(0))).await
    }

    pub async fn has_calendar_feed(&self, user: &Id) -> Result<bool> {
        let uid = user.clone();
        self.db.read(move |tx| Ok(tx.query_one(&HAS_FEED, args![&uid], |r| r.get::<u64>(0))? > 0)).await
    }

    /// Per volunteer: shifts, minutes and no-shows of shifts starting in `[from, to)`.
    pub async fn shift_stats(&self, from: Timestamp, to: Timestamp) -> Result<Vec<ShiftStat>> {
        self.db
            .read(move |tx| {
                let rows: Vec<(Id, Timestamp, Timestamp, Option<bool>)> =
                    tx.query(&STATS, args![from, to, false], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                let mut out: Vec<ShiftStat> = Vec::new();
                for (uid, s, e, attended) in rows {
                    let i = match out.iter().position(|x| x.user_id == uid) {
                        Some(i) => i,
                        None => {
                            out.push(ShiftStat { user_id: uid.clone(), shifts: 0, minutes: 0, no_shows: 0 });
                            out.len() - 1
                        }
                    };
                    if attended == Some(false) {
                        out[i].no_shows += 1;
                    } else {
                        out[i].shifts += 1;
                        out[i].minutes += e.duration_since(s).as_mins();
                    }
                }
                Ok(out)
            })
            .await
    }

    pub async fn reminders_off(&self, user: &Id) -> Result<Vec<Reminder>> {
        let uid = user.clone();
        self.db
            .read(move |tx| {
                let s: String = tx.query_opt(&REMINDERS_OFF, args![&uid], |r| r.get(0))?.ok_or(StoreError::NotFound)?;
                Ok(s.split(',').filter_map(Reminder::parse).collect())
            })
            .await
    }

    pub async fn set_reminders_off(
        &self,
        user: &Id,
        off: &[Reminder],
        audit: AuditEvent,
        now: Timestamp,
    ) -> Result<()> {
        let uid = user.clone();
        let text = off.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",");
        self.audited(audit, now, move |tx| one(tx.execute(&SET_REMINDERS_OFF, args![&text, now, &uid])?)).await
    }
}

fn insert_version(tx: &mut Tx<'_>, schedule: &Id, v: &Version, now: Timestamp) -> Result<()> {
    let r = &v.rules;
    let days = r.days.iter().map(|d| day_code(*d)).collect::<Vec<_>>().join(",");
    let (from, opens, closes) =
        (v.effective_from.to_string(), r.opens.strftime("%H:%M").to_string(), r.closes.strftime("%H:%M").to_string());
    tx.execute(
        &INSERT_VERSION,
        args![&new_id(now), schedule, &from, &days, &opens, &closes, r.block_minutes, r.capacity, &r.zone, now],
    )?;
    Ok(())
}
