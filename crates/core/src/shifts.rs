//! Phone line shifts: the schedule and how shifts are generated from it,
//! the sign-up checks in their order, the monthly cap, leaving and covers,
//! reminder times, and calendar files (RFC 5545).
//!
//! **Time zones**: blocks are defined in the schedule's own zone and
//! generated day by day from wall-clock times, so 08:00 stays 08:00 across
//! daylight-saving changes; the instants they become differ by an hour
//! around a transition. Calendar files carry UTC.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};

use crate::volunteer::NotCleared;

/// The rules of a schedule version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rules {
    /// Open days.
    pub days: Vec<Weekday>,
    pub opens: Time,
    pub closes: Time,
    pub block_minutes: u32,
    pub capacity: u32,
    /// IANA zone the times are in.
    pub zone: String,
}

impl Default for Rules {
    /// Friday to Monday, 08:00–18:00 America/Los_Angeles, two-hour blocks,
    /// two volunteers each.
    fn default() -> Rules {
        Rules {
            days: vec![Weekday::Friday, Weekday::Saturday, Weekday::Sunday, Weekday::Monday],
            opens: jiff::civil::time(8, 0, 0, 0),
            closes: jiff::civil::time(18, 0, 0, 0),
            block_minutes: 120,
            capacity: 2,
            zone: "America/Los_Angeles".into(),
        }
    }
}

/// Why a schedule's rules are not usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RulesProblem {
    NoDays,
    /// Closing is not after opening.
    Hours,
    /// Blocks from 15 minutes to 12 hours, fitting the opening hours.
    BlockLength,
    /// 1 to 50 volunteers a block.
    Capacity,
    Zone,
}

impl Rules {
    pub fn check(&self) -> Result<(), RulesProblem> {
        if self.days.is_empty() {
            return Err(RulesProblem::NoDays);
        }
        if self.closes <= self.opens {
            return Err(RulesProblem::Hours);
        }
        let open_minutes = self.opens.duration_until(self.closes).as_mins();
        if !(15..=720).contains(&self.block_minutes) || i64::from(self.block_minutes) > open_minutes {
            return Err(RulesProblem::BlockLength);
        }
        if !(1..=50).contains(&self.capacity) {
            return Err(RulesProblem::Capacity);
        }
        if TimeZone::get(&self.zone).is_err() {
            return Err(RulesProblem::Zone);
        }
        Ok(())
    }

    pub fn tz(&self) -> TimeZone {
        TimeZone::get(&self.zone).unwrap_or(TimeZone::UTC)
    }

    /// The blocks of one day, start to end, as wall-clock times.
    pub fn day_blocks(&self) -> Vec<(Time, Time)> {
        let mut out = Vec::new();
        let mut start = self.opens;
        let step = SignedDuration::from_mins(i64::from(self.block_minutes));
        while let Ok(end) = start.checked_add(step) {
            if end > self.closes || end <= start {
                break;
            }
            out.push((start, end));
            start = end;
        }
        out
    }
}

/// A version of the schedule, in force from a day on (until the next one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub effective_from: Date,
    pub rules: Rules,
}

/// A one-off change to a day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exception {
    /// The whole day closed (a holiday).
    CloseDay { date: Date },
    /// One block closed.
    CloseBlock { date: Date, start: Time },
    /// An extra block.
    ExtraBlock { date: Date, start: Time, end: Time, capacity: u32 },
}

/// One shift to exist: a block on a day, in the schedule's zone, and the
/// instants it becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub date: Date,
    pub start: Time,
    pub end: Time,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub capacity: u32,
}

/// A wall-clock time in a zone as an instant (a time skipped by a
/// daylight-saving change resolves forward; a repeated one to its first).
pub fn instant(date: Date, time: Time, zone: &TimeZone) -> Option<Timestamp> {
    date.to_datetime(time).to_zoned(zone.clone()).ok().map(|z| z.timestamp())
}

/// Whether a wall-clock time is skipped that day by a daylight-saving change.
fn skipped(date: Date, time: Time, zone: &TimeZone) -> bool {
    matches!(zone.to_ambiguous_zoned(date.to_datetime(time)).offset(), jiff::tz::AmbiguousOffset::Gap { .. })
}

/// The version in force on `date`.
pub fn version_on(versions: &[Version], date: Date) -> Option<&Version> {
    versions.iter().filter(|v| v.effective_from <= date).max_by_key(|v| v.effective_from)
}

/// Every shift from `from` to `to` (inclusive), in order.
pub fn generate(versions: &[Version], exceptions: &[Exception], from: Date, to: Date) -> Vec<Block> {
    let mut out = Vec::new();
    let mut date = from;
    while date <= to {
        if let Some(v) = version_on(versions, date) {
            let tz = v.rules.tz();
            let closed_day = exceptions.iter().any(|e| matches!(e, Exception::CloseDay { date: d } if *d == date));
            if !closed_day && v.rules.days.contains(&date.weekday()) {
                for (start, end) in v.rules.day_blocks() {
                    let closed = exceptions
                        .iter()
                        .any(|e| matches!(e, Exception::CloseBlock { date: d, start: s } if *d == date && *s == start));
                    if closed {
                        continue;
                    }
                    // A block starting in an hour the clocks skip does not happen.
                    if skipped(date, start, &tz) {
                        continue;
                    }
                    if let (Some(a), Some(b)) = (instant(date, start, &tz), instant(date, end, &tz))
                        && b > a
                    {
                        out.push(Block { date, start, end, starts_at: a, ends_at: b, capacity: v.rules.capacity });
                    }
                }
            }
            if !closed_day {
                for e in exceptions {
                    if let Exception::ExtraBlock { date: d, start, end, capacity } = e
                        && *d == date
                        && let (Some(a), Some(b)) = (instant(date, *start, &tz), instant(date, *end, &tz))
                    {
                        out.push(Block {
                            date,
                            start: *start,
                            end: *end,
                            starts_at: a,
                            ends_at: b,
                            capacity: *capacity,
                        });
                    }
                }
            }
        }
        let Ok(next) = date.checked_add(1.day()) else { break };
        date = next;
    }
    out.sort_by_key(|b| b.starts_at);
    out
}

/// The open days as runs of consecutive weekdays ("Friday to Monday"),
/// wrapping around the week.
pub fn day_runs(days: &[Weekday]) -> Vec<(Weekday, Weekday)> {
    let order = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];
    let open: Vec<bool> = order.iter().map(|d| days.contains(d)).collect();
    if open.iter().all(|o| *o) {
        return vec![(Weekday::Monday, Weekday::Sunday)];
    }
    // Start after a closed day so runs that wrap stay whole.
    let first_closed = open.iter().position(|o| !*o).unwrap_or(0);
    let mut runs = Vec::new();
    let mut current: Option<(Weekday, Weekday)> = None;
    for k in 1..=7 {
        let i = (first_closed + k) % 7;
        if open[i] {
            current = Some(match current {
                Some((s, _)) => (s, order[i]),
                None => (order[i], order[i]),
            });
        } else if let Some(r) = current.take() {
            runs.push(r);
        }
    }
    if let Some(r) = current {
        runs.push(r);
    }
    runs.sort_by_key(|(start, _)| start.to_monday_zero_offset());
    runs
}

/// Why a volunteer may not sign up, in the order the checks run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The shift has started or is over.
    Started,
    NotCleared(NotCleared),
    /// No place left (the waitlist is offered).
    Full,
    Already,
    /// It overlaps another of their shifts.
    Overlap,
    /// They have `cap` shifts in that calendar month already.
    MonthlyCap {
        cap: u32,
    },
    /// Sign-ups open at that instant.
    WindowNotOpen {
        opens: Timestamp,
    },
    /// Locked after this many no-shows.
    Locked {
        no_shows: u32,
    },
}

/// What the checks look at.
#[derive(Clone, Debug)]
pub struct SignUpFacts {
    pub now: Timestamp,
    pub starts_at: Timestamp,
    pub clearance: Result<(), NotCleared>,
    pub taken: u32,
    pub capacity: u32,
    pub already: bool,
    pub overlaps: bool,
    /// Their shifts in the shift's calendar month (schedule's zone).
    pub in_month: u32,
    pub cap: u32,
    /// A coordinator lifted the cap for this sign-up (with a note).
    pub cap_override: bool,
    /// Sign-ups open this long before a shift starts (`None`: always).
    pub window: Option<SignedDuration>,
    pub no_shows: u32,
    /// No-shows that lock sign-up (0: never).
    pub lock_after: u32,
    /// A coordinator lifted the lock.
    pub lock_lifted: bool,
}

/// The sign-up checks, in the order the program states them.
pub fn check_sign_up(f: &SignUpFacts) -> Result<(), Refusal> {
    if f.now >= f.starts_at {
        return Err(Refusal::Started);
    }
    if let Err(why) = &f.clearance {
        return Err(Refusal::NotCleared(why.clone()));
    }
    if f.taken >= f.capacity {
        return Err(Refusal::Full);
    }
    if f.already {
        return Err(Refusal::Already);
    }
    if f.overlaps {
        return Err(Refusal::Overlap);
    }
    if f.in_month >= f.cap && !f.cap_override {
        return Err(Refusal::MonthlyCap { cap: f.cap });
    }
    if let Some(w) = f.window {
        let opens = f.starts_at - w;
        if f.now < opens {
            return Err(Refusal::WindowNotOpen { opens });
        }
    }
    if f.lock_after > 0 && f.no_shows >= f.lock_after && !f.lock_lifted {
        return Err(Refusal::Locked { no_shows: f.no_shows });
    }
    Ok(())
}

/// The calendar month (year, month) an instant falls in, in `zone`.
pub fn month_of(t: Timestamp, zone: &TimeZone) -> (i16, i8) {
    let z = t.to_zoned(zone.clone());
    (z.year(), z.month())
}

/// The instants that bound the calendar month `t` falls in, in `zone`:
/// `[first day 00:00, next month's first day 00:00)`.
pub fn month_bounds(t: Timestamp, zone: &TimeZone) -> (Timestamp, Timestamp) {
    let z = t.to_zoned(zone.clone());
    let first = jiff::civil::date(z.year(), z.month(), 1);
    let next = first.checked_add(1.month()).unwrap_or(Date::MAX);
    let at = |d: Date| d.to_datetime(Time::midnight()).to_zoned(zone.clone()).map(|z| z.timestamp()).unwrap_or(t);
    (at(first), at(next))
}

/// Whether two spans of time overlap (touching ends do not).
pub fn overlaps(a: (Timestamp, Timestamp), b: (Timestamp, Timestamp)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Leaving is free until `cutoff` before the start; after it, a cover request.
pub fn can_leave_freely(now: Timestamp, starts_at: Timestamp, cutoff: SignedDuration) -> bool {
    now < starts_at - cutoff
}

/// When a waitlist offer made at `offered_at` lapses: after `hold`, but never
/// after the shift starts.
pub fn offer_expires(offered_at: Timestamp, hold: SignedDuration, starts_at: Timestamp) -> Timestamp {
    std::cmp::min(offered_at + hold, starts_at)
}

/// The reminders of one shift, and when each is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reminder {
    SignedUp,
    DayBefore,
    TwoHours,
    After,
}

impl Reminder {
    pub const ALL: [Reminder; 4] = [Reminder::SignedUp, Reminder::DayBefore, Reminder::TwoHours, Reminder::After];

    pub fn as_str(self) -> &'static str {
        match self {
            Reminder::SignedUp => "signed_up",
            Reminder::DayBefore => "day_before",
            Reminder::TwoHours => "two_hours",
            Reminder::After => "after",
        }
    }

    pub fn parse(s: &str) -> Option<Reminder> {
        Reminder::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// When it is due, from the shift's instants (so zones and daylight
    /// saving never move it); `None` for one that is sent at once.
    pub fn due(self, starts_at: Timestamp, ends_at: Timestamp) -> Option<Timestamp> {
        match self {
            Reminder::SignedUp => None,
            Reminder::DayBefore => Some(starts_at - SignedDuration::from_hours(24)),
            Reminder::TwoHours => Some(starts_at - SignedDuration::from_hours(2)),
            Reminder::After => Some(ends_at + SignedDuration::from_mins(30)),
        }
    }
}

/// One event of a calendar file.
#[derive(Clone, Debug)]
pub struct IcsEvent {
    /// Stable across feeds and edits: the shift's id and the site's host.
    pub uid: String,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub summary: String,
    pub description: String,
    /// When the shift last changed (`LAST-MODIFIED`, and `SEQUENCE` from it).
    pub changed_at: Timestamp,
    pub sequence: u32,
}

fn ics_time(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// RFC 5545 text escaping.
fn ics_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A content line folded at 75 octets (never inside a UTF-8 character).
fn ics_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

/// A calendar of `events`, times in UTC.
pub fn ics(name: &str, events: &[IcsEvent], now: Timestamp) -> String {
    let mut out = String::new();
    for l in
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Kiteline//Shifts//EN", "CALSCALE:GREGORIAN", "METHOD:PUBLISH"]
    {
        ics_line(&mut out, l);
    }
    ics_line(&mut out, &format!("X-WR-CALNAME:{}", ics_text(name)));
    for e in events {
        ics_line(&mut out, "BEGIN:VEVENT");
        ics_line(&mut out, &format!("UID:{}", ics_text(&e.uid)));
        ics_line(&mut out, &format!("DTSTAMP:{}", ics_time(now)));
        ics_line(&mut out, &format!("DTSTART:{}", ics_time(e.starts_at)));
        ics_line(&mut out, &format!("DTEND:{}", ics_time(e.ends_at)));
        ics_line(&mut out, &format!("LAST-MODIFIED:{}", ics_time(e.changed_at)));
        ics_line(&mut out, &format!("SEQUENCE:{}", e.sequence));
        ics_line(&mut out, &format!("SUMMARY:{}", ics_text(&e.summary)));
        if !e.description.is_empty() {
            ics_line(&mut out, &format!("DESCRIPTION:{}", ics_text(&e.description)));
        }
        ics_line(&mut out, "END:VEVENT");
    }
    ics_line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::{date, time};
    use proptest::prelude::*;

    fn la() -> TimeZone {
        TimeZone::get("America/Los_Angeles").unwrap()
    }

    fn local(t: Timestamp, zone: &str) -> (Date, Time) {
        let z = t.to_zoned(TimeZone::get(zone).unwrap());
        (z.date(), z.time())
    }

    #[test]
    fn the_default_schedule_is_twenty_blocks_a_week_friday_to_monday() {
        let v = [Version { effective_from: date(2026, 1, 1), rules: Rules::default() }];
        let week = generate(&v, &[], date(2026, 11, 30), date(2026, 12, 6));
        assert_eq!(week.len(), 20);
        let days: std::collections::HashSet<Weekday> = week.iter().map(|b| b.date.weekday()).collect();
        assert_eq!(days.len(), 4);
        assert!(!days.contains(&Weekday::Wednesday));
        assert_eq!(Rules::default().day_blocks().len(), 5);
        assert_eq!(Rules::default().check(), Ok(()));
        // December 2026 has four of each open weekday.
        assert_eq!(generate(&v, &[], date(2026, 12, 1), date(2026, 12, 31)).len(), 80, "16 open days");
    }

    #[test]
    fn around_both_transitions_blocks_keep_their_wall_clock_times() {
        let v = [Version { effective_from: date(2026, 1, 1), rules: Rules::default() }];
        // March 8 2026 and November 1 2026 are the transition Sundays.
        for (from, to) in [(date(2026, 3, 5), date(2026, 3, 10)), (date(2026, 10, 29), date(2026, 11, 3))] {
            let blocks = generate(&v, &[], from, to);
            assert_eq!(blocks.len(), 20);
            for day in blocks.chunk_by(|a, b| a.date == b.date) {
                let la_times: Vec<(Time, Time)> = day
                    .iter()
                    .map(|b| (local(b.starts_at, "America/Los_Angeles").1, local(b.ends_at, "America/Los_Angeles").1))
                    .collect();
                let expected: Vec<(Time, Time)> =
                    (0..5).map(|i| (time(8 + 2 * i, 0, 0, 0), time(10 + 2 * i, 0, 0, 0))).collect();
                assert_eq!(la_times, expected, "{}", day[0].date);
                let ny: Vec<(Time, Time)> = day
                    .iter()
                    .map(|b| (local(b.starts_at, "America/New_York").1, local(b.ends_at, "America/New_York").1))
                    .collect();
                let expected: Vec<(Time, Time)> =
                    (0..5).map(|i| (time(11 + 2 * i, 0, 0, 0), time(13 + 2 * i, 0, 0, 0))).collect();
                assert_eq!(ny, expected, "New York sees the same blocks three hours later");
            }
        }
        // The instants move by an hour across the transition.
        let sat = generate(&v, &[], date(2026, 3, 7), date(2026, 3, 7))[0].starts_at;
        let sun = generate(&v, &[], date(2026, 3, 8), date(2026, 3, 8))[0].starts_at;
        assert_eq!(sun.duration_since(sat), SignedDuration::from_hours(23));
    }

    #[test]
    fn a_change_applies_from_its_date_and_exceptions_close_and_add() {
        let later = Rules { capacity: 3, days: vec![Weekday::Saturday], ..Rules::default() };
        let v = [
            Version { effective_from: date(2026, 1, 1), rules: Rules::default() },
            Version { effective_from: date(2026, 12, 10), rules: later },
        ];
        let e = [
            Exception::CloseDay { date: date(2026, 12, 4) },
            Exception::CloseBlock { date: date(2026, 12, 5), start: time(8, 0, 0, 0) },
            Exception::ExtraBlock {
                date: date(2026, 12, 2),
                start: time(18, 0, 0, 0),
                end: time(20, 0, 0, 0),
                capacity: 1,
            },
        ];
        let blocks = generate(&v, &e, date(2026, 11, 30), date(2026, 12, 13));
        let on = |d: Date| blocks.iter().filter(|b| b.date == d).count();
        assert_eq!(on(date(2026, 12, 4)), 0, "the holiday");
        assert_eq!(on(date(2026, 12, 5)), 4, "one block closed");
        assert_eq!(on(date(2026, 12, 2)), 1, "an extra block on a closed weekday");
        assert_eq!(on(date(2026, 12, 11)), 0, "from the 10th only Saturdays");
        assert_eq!(
            blocks.iter().filter(|b| b.date == date(2026, 12, 12)).map(|b| b.capacity).collect::<Vec<_>>(),
            [3; 5]
        );
    }

    #[test]
    fn open_days_read_as_runs() {
        use Weekday::*;
        assert_eq!(day_runs(&[Friday, Saturday, Sunday, Monday]), [(Friday, Monday)]);
        assert_eq!(day_runs(&[Monday, Wednesday, Thursday]), [(Monday, Monday), (Wednesday, Thursday)]);
        assert_eq!(day_runs(&[Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday]), [(Monday, Sunday)]);
    }

    fn facts() -> SignUpFacts {
        SignUpFacts {
            now: "2026-12-01T00:00:00Z".parse().unwrap(),
            starts_at: "2026-12-05T16:00:00Z".parse().unwrap(),
            clearance: Ok(()),
            taken: 0,
            capacity: 2,
            already: false,
            overlaps: false,
            in_month: 0,
            cap: 2,
            cap_override: false,
            window: None,
            no_shows: 0,
            lock_after: 2,
            lock_lifted: false,
        }
    }

    #[test]
    fn the_checks_refuse_in_the_stated_order() {
        assert_eq!(check_sign_up(&facts()), Ok(()));
        // Everything wrong at once: the first check answers.
        let mut all = SignUpFacts {
            now: "2026-12-06T00:00:00Z".parse().unwrap(),
            clearance: Err(NotCleared::Alumni),
            taken: 2,
            already: true,
            overlaps: true,
            in_month: 2,
            window: Some(SignedDuration::from_hours(24)),
            no_shows: 2,
            ..facts()
        };
        let mut seen = Vec::new();
        loop {
            match check_sign_up(&all) {
                Ok(()) => break,
                Err(r) => {
                    seen.push(std::mem::discriminant(&r));
                    match r {
                        Refusal::Started => all.now = "2026-12-01T00:00:00Z".parse().unwrap(),
                        Refusal::NotCleared(_) => all.clearance = Ok(()),
                        Refusal::Full => all.taken = 1,
                        Refusal::Already => all.already = false,
                        Refusal::Overlap => all.overlaps = false,
                        Refusal::MonthlyCap { cap } => {
                            assert_eq!(cap, 2);
                            all.cap_override = true
                        }
                        Refusal::WindowNotOpen { opens } => {
                            assert_eq!(opens, "2026-12-04T16:00:00Z".parse().unwrap());
                            all.window = None
                        }
                        Refusal::Locked { no_shows } => {
                            assert_eq!(no_shows, 2);
                            all.lock_lifted = true
                        }
                    }
                }
            }
        }
        assert_eq!(seen.len(), 8, "each check refused once, in order");
        let no_lock = SignUpFacts { no_shows: 5, lock_after: 0, ..facts() };
        assert_eq!(check_sign_up(&no_lock), Ok(()));
    }

    #[test]
    fn the_month_is_the_schedules() {
        // 23:30 on Nov 30 in Los Angeles is already December in UTC.
        let t: Timestamp = "2026-12-01T07:30:00Z".parse().unwrap();
        assert_eq!(month_of(t, &la()), (2026, 11));
        assert_eq!(month_of(t, &TimeZone::UTC), (2026, 12));
    }

    #[test]
    fn month_bounds_are_midnights_in_the_zone() {
        let t: Timestamp = "2026-12-01T07:30:00Z".parse().unwrap();
        let (a, b) = month_bounds(t, &la());
        assert_eq!(a, "2026-11-01T07:00:00Z".parse().unwrap(), "November 1, midnight PDT");
        assert_eq!(b, "2026-12-01T08:00:00Z".parse().unwrap(), "December 1, midnight PST");
        assert!(a <= t && t < b);
    }

    #[test]
    fn leaving_covers_and_offers() {
        let start: Timestamp = "2026-12-05T16:00:00Z".parse().unwrap();
        let cutoff = SignedDuration::from_hours(48);
        assert!(can_leave_freely(start - SignedDuration::from_hours(49), start, cutoff));
        assert!(!can_leave_freely(start - SignedDuration::from_hours(47), start, cutoff));
        let hold = SignedDuration::from_hours(12);
        assert_eq!(
            offer_expires(start - SignedDuration::from_hours(30), hold, start),
            start - SignedDuration::from_hours(18)
        );
        assert_eq!(offer_expires(start - SignedDuration::from_hours(3), hold, start), start);
        assert!(overlaps(
            (start, start + SignedDuration::from_hours(2)),
            (start + SignedDuration::from_hours(1), start + SignedDuration::from_hours(3))
        ));
        assert!(!overlaps(
            (start, start + SignedDuration::from_hours(2)),
            (start + SignedDuration::from_hours(2), start + SignedDuration::from_hours(4))
        ));
        assert_eq!(Reminder::DayBefore.due(start, start).unwrap(), start - SignedDuration::from_hours(24));
    }

    #[test]
    fn calendar_files_are_folded_escaped_and_in_utc() {
        let e = IcsEvent {
            uid: "shift-1@line.example.org".into(),
            starts_at: "2026-12-05T16:00:00Z".parse().unwrap(),
            ends_at: "2026-12-05T18:00:00Z".parse().unwrap(),
            summary: "Phone line, shift; with Ana, Bo".into(),
            description: "é".repeat(60),
            changed_at: "2026-12-01T00:00:00Z".parse().unwrap(),
            sequence: 3,
        };
        let out = ics("Kiteline", &[e], "2026-12-02T00:00:00Z".parse().unwrap());
        assert!(out.contains("DTSTART:20261205T160000Z\r\n") && out.contains("DTEND:20261205T180000Z\r\n"));
        assert!(out.contains("SUMMARY:Phone line\\, shift\\; with Ana\\, Bo\r\n"));
        for line in out.split("\r\n") {
            assert!(line.len() <= 75, "{line}");
        }
        assert!(out.ends_with("END:VCALENDAR\r\n"));
    }

    proptest! {
        /// Any schedule, any dates, any zone: every block starts and ends at
        /// its wall-clock times on its day in the schedule's zone (when that
        /// time exists), and blocks never overlap.
        #[test]
        fn generation_keeps_wall_clock_times(
            day_mask in 1u8..128,
            opens in 0i8..20,
            length in 1i8..4,
            block in prop_oneof![Just(30u32), Just(60), Just(120)],
            zone in prop_oneof![Just("America/Los_Angeles"), Just("America/New_York"), Just("America/Chicago"), Just("Europe/Madrid")],
            start_day in 0i64..730,
        ) {
            let order = [Weekday::Monday, Weekday::Tuesday, Weekday::Wednesday, Weekday::Thursday, Weekday::Friday, Weekday::Saturday, Weekday::Sunday];
            let days: Vec<Weekday> = (0..7).filter(|i| day_mask & (1 << i) != 0).map(|i| order[i]).collect();
            let closes = (opens + length * 2).min(23);
            let rules = Rules { days, opens: time(opens, 0, 0, 0), closes: time(closes, 0, 0, 0), block_minutes: block, capacity: 1, zone: zone.into() };
            let from = date(2026, 1, 1).checked_add(start_day.days()).unwrap();
            let to = from.checked_add(13.days()).unwrap();
            let v = [Version { effective_from: date(2025, 1, 1), rules: rules.clone() }];
            let blocks = generate(&v, &[], from, to);
            let tz = rules.tz();
            for b in &blocks {
                prop_assert!(rules.days.contains(&b.date.weekday()));
                // It starts at its wall-clock time on its day.
                let s = b.starts_at.to_zoned(tz.clone());
                prop_assert_eq!((s.date(), s.time()), (b.date, b.start));
                // And ends at its own, unless the clocks skip that time.
                if !skipped(b.date, b.end, &tz) {
                    let e = b.ends_at.to_zoned(tz.clone());
                    prop_assert_eq!(e.time(), b.end);
                }
                prop_assert!(b.ends_at > b.starts_at);
            }
            for w in blocks.windows(2) {
                prop_assert!(w[0].ends_at <= w[1].starts_at);
            }
        }
    }
}
