//! Clearance for phone shifts, as the server checks it (the rule is
//! `core::volunteer::clearance`): loaded from the store for one person on
//! one day, and said in words that name each missing or expired module.

use jiff::Timestamp;
use jiff::civil::Date;
use kiteline_core::volunteer::{self, Gap, NotCleared};
use kiteline_store::{Module, Qualification, Standing, User};
use kiteline_templates::Tr;
use kiteline_templates::pages::Tag;

/// Today in the person's zone.
pub fn today_for(user: &User, now: Timestamp) -> Date {
    now.to_zoned(crate::format::zone_of(user)).date()
}

/// Whether an account is in use: enabled, intact, with a password.
pub fn in_use(user: &User) -> bool {
    user.disabled_at.is_none() && user.has_password && user.intact
}

/// The rule over what is stored.
pub fn evaluate(
    user: &User,
    standing: Standing,
    modules: &[Module],
    held: &[Qualification],
    day: Date,
    lang: &str,
) -> Result<(), NotCleared> {
    let rules: Vec<_> = modules.iter().map(|m| m.rule(lang)).collect();
    let held: Vec<_> = held.iter().filter(|q| q.user_id == user.id).map(Qualification::held).collect();
    volunteer::clearance(in_use(user), standing, &rules, &held, day)
}

/// The refusal in words, one line per reason (each module named).
pub fn reasons(tr: Tr, c: &Result<(), NotCleared>) -> Vec<String> {
    match c {
        Ok(()) => vec![],
        Err(NotCleared::AccountInactive) => vec![tr.t("clearance-inactive")],
        Err(NotCleared::Alumni) => vec![tr.t("clearance-alumni")],
        Err(NotCleared::Paused { until }) => vec![tr.t_with("clearance-paused", &[("date", &until.to_string())])],
        Err(NotCleared::Training(gaps)) => gaps
            .iter()
            .map(|g| match g {
                Gap::Missing { title, .. } => tr.t_with("clearance-missing", &[("module", title)]),
                Gap::Expired { title, on, .. } => {
                    tr.t_with("clearance-expired", &[("module", title), ("date", &on.to_string())])
                }
            })
            .collect(),
    }
}

pub fn tag(tr: Tr, c: &Result<(), NotCleared>) -> Tag {
    match c {
        Ok(()) => Tag::new(tr.t("clearance-cleared"), "ok"),
        Err(_) => Tag::new(tr.t("clearance-not-cleared"), "warn"),
    }
}
