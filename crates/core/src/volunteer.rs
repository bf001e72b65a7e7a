//! The volunteer program's rules: applications, the training series,
//! qualifications and their expiry, and clearance for phone shifts.
//!
//! **Clearance**: a volunteer is cleared for phone shifts exactly when they
//! are active (an account in use, not paused, not alumni) and hold every
//! required module's qualification, unexpired, on the day in question.
//! Optional modules never count against anyone. A refusal names every
//! module missing or expired, so whoever is refused knows what to do.
//!
//! **Validity**: a module's qualification lasts a number of months, or
//! forever. A renewal made within the module's renewal window before the
//! current qualification expires starts when that one ends, so renewing early
//! loses nothing; any other completion starts on the day it happened. Each
//! renewal is a new qualification: history is kept.

use jiff::civil::Date;
use jiff::{Span, ToSpan};

/// How a module is completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Completion {
    /// Attending a scheduled session (attendance marked by a trainer or coordinator).
    Session,
    /// Sitting in on a shift with an experienced volunteer.
    ShadowShift,
    /// A coordinator signs off.
    SignOff,
}

impl Completion {
    pub const ALL: [Completion; 3] = [Completion::Session, Completion::ShadowShift, Completion::SignOff];

    pub fn as_str(self) -> &'static str {
        match self {
            Completion::Session => "session",
            Completion::ShadowShift => "shadow_shift",
            Completion::SignOff => "sign_off",
        }
    }

    pub fn parse(s: &str) -> Option<Completion> {
        Completion::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// What the clearance rule needs to know of a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleRule {
    pub id: String,
    pub title: String,
    pub required: bool,
    /// `None`: valid forever.
    pub validity_months: Option<u32>,
    /// Days before expiry in which a renewal continues from the expiry.
    pub renewal_window_days: u32,
}

/// A qualification held: one completion of one module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub module_id: String,
    pub starts_on: Date,
    /// `None`: never expires. The qualification is valid until the day
    /// before this date (it expires *on* it).
    pub expires_on: Option<Date>,
}

impl Held {
    pub fn valid_on(&self, day: Date) -> bool {
        self.starts_on <= day && self.expires_on.is_none_or(|e| day < e)
    }
}

/// Why someone who is otherwise active is not cleared: one entry per
/// required module they lack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gap {
    /// Never completed.
    Missing { module_id: String, title: String },
    /// Completed, but the last qualification expired on `on`.
    Expired { module_id: String, title: String, on: Date },
}

impl Gap {
    pub fn module_id(&self) -> &str {
        match self {
            Gap::Missing { module_id, .. } | Gap::Expired { module_id, .. } => module_id,
        }
    }
    pub fn title(&self) -> &str {
        match self {
            Gap::Missing { title, .. } | Gap::Expired { title, .. } => title,
        }
    }
}

/// Where a volunteer stands with the program (stored; clearance is derived).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Standing {
    Active,
    /// Taking a break until a day (inclusive), after which they are active again.
    Paused {
        until: Date,
    },
    /// No longer volunteering.
    Alumni,
}

/// Why someone is not cleared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotCleared {
    /// The account is disabled, or its owner never set a password.
    AccountInactive,
    Paused {
        until: Date,
    },
    Alumni,
    /// Active, but required modules are missing or expired.
    Training(Vec<Gap>),
}

/// Whether a standing is active on `day` (a pause ends after its last day).
pub fn is_active_on(standing: Standing, day: Date) -> bool {
    match standing {
        Standing::Active => true,
        Standing::Paused { until } => day > until,
        Standing::Alumni => false,
    }
}

/// The clearance rule (see the module's documentation).
pub fn clearance(
    account_in_use: bool,
    standing: Standing,
    modules: &[ModuleRule],
    held: &[Held],
    day: Date,
) -> Result<(), NotCleared> {
    if !account_in_use {
        return Err(NotCleared::AccountInactive);
    }
    match standing {
        Standing::Alumni => return Err(NotCleared::Alumni),
        Standing::Paused { until } if day <= until => return Err(NotCleared::Paused { until }),
        _ => {}
    }
    let gaps = gaps(modules, held, day);
    if gaps.is_empty() { Ok(()) } else { Err(NotCleared::Training(gaps)) }
}

/// The required modules not covered on `day`, in the modules' order.
pub fn gaps(modules: &[ModuleRule], held: &[Held], day: Date) -> Vec<Gap> {
    modules
        .iter()
        .filter(|m| m.required)
        .filter_map(|m| {
            let mine: Vec<&Held> = held.iter().filter(|h| h.module_id == m.id).collect();
            if mine.iter().any(|h| h.valid_on(day)) {
                return None;
            }
            let last_expiry = mine.iter().filter_map(|h| h.expires_on).filter(|e| *e <= day).max();
            Some(match last_expiry {
                Some(on) => Gap::Expired { module_id: m.id.clone(), title: m.title.clone(), on },
                None => Gap::Missing { module_id: m.id.clone(), title: m.title.clone() },
            })
        })
        .collect()
}

/// The qualification a completion on `completed_on` grants, given what the
/// volunteer already holds for that module (for early renewals).
pub fn grant(module: &ModuleRule, held_for_module: &[Held], completed_on: Date) -> Held {
    let current = held_for_module
        .iter()
        .filter(|h| h.module_id == module.id && h.valid_on(completed_on))
        .filter_map(|h| h.expires_on)
        .max();
    let window = (module.renewal_window_days as i64).days();
    let starts_on = match current {
        Some(expiry) if expiry.checked_sub(window).is_ok_and(|opens| completed_on >= opens) => expiry,
        _ => completed_on,
    };
    let expires_on = module.validity_months.map(|m| add_months(starts_on, m));
    Held { module_id: module.id.clone(), starts_on, expires_on }
}

fn add_months(day: Date, months: u32) -> Date {
    day.checked_add(Span::new().months(months as i64)).unwrap_or(Date::MAX)
}

/// The qualifications that expire exactly `days_ahead` days after `today`
/// and have not been renewed (no later qualification for the module): who
/// gets a reminder today. Reminders go at 30 and 7 days.
pub fn due_for_reminder(held: &[Held], today: Date, days_ahead: i64) -> Vec<&Held> {
    let Ok(target) = today.checked_add(days_ahead.days()) else { return vec![] };
    held.iter()
        .filter(|h| h.expires_on == Some(target))
        .filter(|h| !held.iter().any(|o| o.module_id == h.module_id && o.expires_on.is_none_or(|e| e > target)))
        .collect()
}

pub const REMINDER_DAYS: [i64; 2] = [30, 7];

/// The status the directory shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Applicant,
    InTraining,
    Cleared,
    Paused,
    Alumni,
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::Applicant, Status::InTraining, Status::Cleared, Status::Paused, Status::Alumni];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Applicant => "applicant",
            Status::InTraining => "in_training",
            Status::Cleared => "cleared",
            Status::Paused => "paused",
            Status::Alumni => "alumni",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// A volunteer account's status from its clearance.
    pub fn of(clearance: &Result<(), NotCleared>) -> Status {
        match clearance {
            Ok(()) => Status::Cleared,
            Err(NotCleared::Paused { .. }) => Status::Paused,
            Err(NotCleared::Alumni) => Status::Alumni,
            Err(NotCleared::AccountInactive | NotCleared::Training(_)) => Status::InTraining,
        }
    }
}

/// Where an application is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ApplicationStatus {
    New,
    Waitlisted,
    Accepted,
    Declined,
}

impl ApplicationStatus {
    pub const ALL: [ApplicationStatus; 4] = [
        ApplicationStatus::New,
        ApplicationStatus::Waitlisted,
        ApplicationStatus::Accepted,
        ApplicationStatus::Declined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationStatus::New => "new",
            ApplicationStatus::Waitlisted => "waitlisted",
            ApplicationStatus::Accepted => "accepted",
            ApplicationStatus::Declined => "declined",
        }
    }

    pub fn parse(s: &str) -> Option<ApplicationStatus> {
        ApplicationStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The decisions a coordinator may take from here. Accepted and declined
    /// are final (a declined person may apply again, which reopens it).
    pub fn can_become(self, next: ApplicationStatus) -> bool {
        use ApplicationStatus::*;
        matches!((self, next), (New | Waitlisted, Accepted | Declined) | (New, Waitlisted))
    }
}

/// Days of the week and parts of the day, for "usual availability".
pub const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
pub const PARTS: [&str; 3] = ["morning", "afternoon", "evening"];

/// Availability as stored: `fri-morning,sat-afternoon`, only known slots,
/// in a fixed order, each once.
pub fn availability(slots: &[&str]) -> Result<String, String> {
    let mut out = Vec::new();
    for d in DAYS {
        for p in PARTS {
            let slot = format!("{d}-{p}");
            if slots.contains(&slot.as_str()) {
                out.push(slot);
            }
        }
    }
    if let Some(bad) = slots.iter().find(|s| !out.iter().any(|o| o == *s)) {
        return Err((*bad).to_owned());
    }
    Ok(out.join(","))
}

/// "How did you hear of us": a fixed list, so nothing personal hides here.
pub const HEARD_FROM: [&str; 6] = ["friend", "event", "social_media", "newsletter", "inside", "other"];

/// The longest free text on the application (why they want to join).
pub const MAX_WHY_CHARS: usize = 2000;

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn module(id: &str, required: bool, months: Option<u32>) -> ModuleRule {
        ModuleRule {
            id: id.into(),
            title: format!("Module {id}"),
            required,
            validity_months: months,
            renewal_window_days: 30,
        }
    }

    #[test]
    fn a_missing_or_expired_required_module_is_named_and_optional_ones_never_count() {
        let modules = [module("a", true, None), module("b", true, Some(12)), module("c", false, None)];
        let day = date(2026, 12, 2);
        let a = Held { module_id: "a".into(), starts_on: date(2026, 1, 5), expires_on: None };
        let b_old = Held { module_id: "b".into(), starts_on: date(2025, 11, 1), expires_on: Some(date(2026, 11, 1)) };
        assert_eq!(
            clearance(true, Standing::Active, &modules, std::slice::from_ref(&a), day),
            Err(NotCleared::Training(vec![Gap::Missing { module_id: "b".into(), title: "Module b".into() }]))
        );
        assert_eq!(
            clearance(true, Standing::Active, &modules, &[a.clone(), b_old.clone()], day),
            Err(NotCleared::Training(vec![Gap::Expired {
                module_id: "b".into(),
                title: "Module b".into(),
                on: date(2026, 11, 1)
            }]))
        );
        let b_new = grant(&modules[1], std::slice::from_ref(&b_old), day);
        assert_eq!((b_new.starts_on, b_new.expires_on), (day, Some(date(2027, 12, 2))));
        assert_eq!(clearance(true, Standing::Active, &modules, &[a.clone(), b_old, b_new], day), Ok(()));
        assert_eq!(
            clearance(false, Standing::Active, &modules, std::slice::from_ref(&a), day),
            Err(NotCleared::AccountInactive)
        );
        let until = date(2026, 12, 31);
        assert_eq!(clearance(true, Standing::Paused { until }, &modules, &[], day), Err(NotCleared::Paused { until }));
        assert_eq!(clearance(true, Standing::Alumni, &modules, &[], day), Err(NotCleared::Alumni));
        // A pause ends after its last day.
        assert!(!is_active_on(Standing::Paused { until }, until));
        assert!(is_active_on(Standing::Paused { until }, date(2027, 1, 1)));
    }

    #[test]
    fn an_early_renewal_continues_from_the_expiry_and_a_late_one_starts_anew() {
        let m = module("sec", true, Some(12));
        let held =
            [Held { module_id: "sec".into(), starts_on: date(2026, 1, 10), expires_on: Some(date(2027, 1, 10)) }];
        // Inside the 30-day window: continues from the old expiry.
        let early = grant(&m, &held, date(2026, 12, 20));
        assert_eq!((early.starts_on, early.expires_on), (date(2027, 1, 10), Some(date(2028, 1, 10))));
        // Before the window opens: starts on the day, like a first completion.
        let too_early = grant(&m, &held, date(2026, 11, 1));
        assert_eq!(too_early.starts_on, date(2026, 11, 1));
        // After expiry: starts on the day.
        let late = grant(&m, &held, date(2027, 2, 1));
        assert_eq!((late.starts_on, late.expires_on), (date(2027, 2, 1), Some(date(2028, 2, 1))));
        // Forever modules never expire.
        assert_eq!(grant(&module("x", true, None), &[], date(2026, 1, 1)).expires_on, None);
    }

    #[test]
    fn reminders_go_thirty_and_seven_days_ahead_unless_renewed() {
        let old = Held { module_id: "sec".into(), starts_on: date(2026, 1, 1), expires_on: Some(date(2027, 1, 1)) };
        let today = date(2026, 12, 2);
        assert_eq!(due_for_reminder(std::slice::from_ref(&old), today, 30), vec![&old]);
        assert!(due_for_reminder(std::slice::from_ref(&old), today, 7).is_empty());
        let renewed = Held { module_id: "sec".into(), starts_on: date(2027, 1, 1), expires_on: Some(date(2028, 1, 1)) };
        assert!(due_for_reminder(&[old, renewed], today, 30).is_empty(), "a renewal silences the reminder");
    }

    #[test]
    fn applications_move_only_forward() {
        use ApplicationStatus::*;
        assert!(New.can_become(Accepted) && New.can_become(Declined) && New.can_become(Waitlisted));
        assert!(Waitlisted.can_become(Accepted) && Waitlisted.can_become(Declined));
        assert!(!Waitlisted.can_become(Waitlisted) && !Accepted.can_become(Declined) && !Declined.can_become(Accepted));
    }

    #[test]
    fn availability_is_known_slots_in_order() {
        assert_eq!(availability(&["sat-morning", "fri-evening", "sat-morning"]).unwrap(), "fri-evening,sat-morning");
        assert_eq!(availability(&[]).unwrap(), "");
        assert_eq!(availability(&["fri-night"]), Err("fri-night".into()));
    }

    fn arb_date() -> impl Strategy<Value = Date> {
        (2024i16..2029, 1i8..=12, 1i8..=28).prop_map(|(y, m, d)| date(y, m, d))
    }

    proptest! {
        /// The rule as stated: cleared exactly when active and every required
        /// module has a qualification valid today; otherwise the refusal
        /// names exactly the required modules without one.
        #[test]
        fn clearance_agrees_with_the_rule_as_stated(
            specs in proptest::collection::vec((any::<bool>(), proptest::option::of(1u32..36)), 1..6),
            quals in proptest::collection::vec((0usize..6, arb_date(), proptest::option::of(arb_date())), 0..12),
            day in arb_date(),
            in_use in any::<bool>(),
            standing in prop_oneof![
                Just(Standing::Active),
                Just(Standing::Alumni),
                arb_date().prop_map(|until| Standing::Paused { until }),
            ],
        ) {
            let modules: Vec<ModuleRule> =
                specs.iter().enumerate().map(|(i, (req, months))| module(&i.to_string(), *req, *months)).collect();
            let held: Vec<Held> = quals
                .iter()
                .filter(|(i, _, _)| *i < modules.len())
                .map(|(i, start, end)| Held {
                    module_id: i.to_string(),
                    starts_on: *start,
                    expires_on: end.filter(|e| e > start),
                })
                .collect();
            let valid = |m: &ModuleRule| {
                held.iter().any(|h| h.module_id == m.id && h.starts_on <= day && h.expires_on.is_none_or(|e| day < e))
            };
            let active = in_use && match standing {
                Standing::Active => true,
                Standing::Paused { until } => day > until,
                Standing::Alumni => false,
            };
            let lacking: Vec<&str> = modules.iter().filter(|m| m.required && !valid(m)).map(|m| m.id.as_str()).collect();
            let got = clearance(in_use, standing, &modules, &held, day);
            prop_assert_eq!(got.is_ok(), active && lacking.is_empty());
            if let Err(NotCleared::Training(gaps)) = &got {
                prop_assert!(active);
                let named: Vec<&str> = gaps.iter().map(Gap::module_id).collect();
                prop_assert_eq!(named, lacking);
            }
        }

        /// A grant is always valid on the day it is made or from the old
        /// expiry on, and never shortens what the volunteer already held.
        #[test]
        fn a_grant_never_shortens_a_qualification(
            months in proptest::option::of(1u32..36),
            window in 0u32..90,
            start in arb_date(),
            offset in 0i64..800,
        ) {
            let m = ModuleRule { renewal_window_days: window, ..module("m", true, months) };
            let first = grant(&m, &[], start);
            let later = start.checked_add(offset.days()).unwrap();
            let second = grant(&m, std::slice::from_ref(&first), later);
            prop_assert!(second.starts_on >= later || second.starts_on == first.expires_on.unwrap());
            if let (Some(a), Some(b)) = (first.expires_on, second.expires_on) {
                prop_assert!(b >= a);
            }
            prop_assert!(second.valid_on(second.starts_on));
        }
    }
}
