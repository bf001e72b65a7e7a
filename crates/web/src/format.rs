//! How values read on a page: moments in the viewer's time zone with the
//! zone named, roles and scopes in the page's language, status tags, and
//! audit actions as words.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use kiteline_core::Role;
use kiteline_store::{Action, TokenScope, User};
use kiteline_templates::pages::{Moment, Tag};
use kiteline_templates::{Lang, Tr};

/// The zone a user reads times in; UTC if theirs is unknown.
pub fn zone_of(user: &User) -> TimeZone {
    TimeZone::get(&user.time_zone).unwrap_or(TimeZone::UTC)
}

const MONTHS_EN: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTHS_ES: [&str; 12] = ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"];

/// `Dec 2, 2026, 8:20 AM PST` / `2 dic 2026, 08:20 PST`: the moment in
/// `zone`, its abbreviation (or offset) named.
pub fn moment(t: Timestamp, zone: &TimeZone, tr: Tr) -> Moment {
    let z = t.to_zoned(zone.clone());
    let abbreviation = z.strftime("%Z").to_string();
    let month = (z.month() - 1) as usize;
    let text = match tr.lang() {
        Lang::En => {
            let (h, ampm) = match z.hour() {
                0 => (12, "AM"),
                h @ 1..=11 => (h, "AM"),
                12 => (12, "PM"),
                h => (h - 12, "PM"),
            };
            format!("{} {}, {}, {h}:{:02} {ampm} {abbreviation}", MONTHS_EN[month], z.day(), z.year(), z.minute())
        }
        Lang::Es => {
            format!("{} {} {}, {:02}:{:02} {abbreviation}", z.day(), MONTHS_ES[month], z.year(), z.hour(), z.minute())
        }
    };
    // Whole seconds: HTML's valid date strings allow at most three decimals.
    Moment { iso: t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(), text }
}

/// The zone's name as shown beside times (`America/Los_Angeles`).
pub fn zone_name(zone: &TimeZone) -> String {
    zone.iana_name().unwrap_or("UTC").to_owned()
}

/// Stored language codes (`en,es`) as their names (`English, Español`).
pub fn languages(codes: &str) -> String {
    codes
        .split(',')
        .filter(|c| !c.is_empty())
        .map(|c| crate::account::LANGUAGES.iter().find(|(code, _)| *code == c).map_or(c, |(_, name)| name))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn role(tr: Tr, role: Role) -> String {
    tr.t(match role {
        Role::Volunteer => "role-volunteer",
        Role::Coordinator => "role-coordinator",
        Role::Admin => "role-admin",
    })
}

pub fn scope(tr: Tr, scope: TokenScope) -> String {
    tr.t(match scope {
        TokenScope::Read => "scope-read",
        TokenScope::Write => "scope-write",
        TokenScope::Admin => "scope-admin",
    })
}

/// Where an account stands: disabled, invited (no password yet), active.
pub fn account_status(tr: Tr, user: &User) -> Tag {
    if user.disabled_at.is_some() {
        Tag::new(tr.t("status-disabled"), "off")
    } else if user.has_password {
        Tag::new(tr.t("status-active"), "ok")
    } else {
        Tag::new(tr.t("status-invited"), "warn")
    }
}

/// An audit action in words; the code itself if it is not one we know
/// (an entry written by a newer version).
pub fn action(tr: Tr, code: &str) -> String {
    match Action::ALL.iter().find(|a| a.as_str() == code) {
        Some(a) => tr.t(&action_key(*a)),
        None => code.to_owned(),
    }
}

/// The message id of an action's label: `user.2fa_enable` → `action-user-2fa-enable`.
pub fn action_key(a: Action) -> String {
    format!("action-{}", a.as_str().replace(['.', '_'], "-"))
}

/// An audit object type in words.
pub fn object_type(tr: Tr, object_type: &str) -> String {
    let key = match object_type {
        "user" => "audit-object-user",
        "chapter" => "audit-object-chapter",
        "organization" => "audit-object-organization",
        "api_token" => "audit-object-token",
        "audit_log" => "audit-object-audit",
        "session" => "audit-object-session",
        "application" => "audit-object-application",
        "training_module" => "audit-object-training-module",
        "training_session" => "audit-object-training-session",
        "volunteer_directory" => "audit-object-volunteer-directory",
        "shift" => "audit-object-shift",
        "shift_schedule" => "audit-object-shift-schedule",
        other => return other.to_owned(),
    };
    tr.t(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_name_their_zone_in_both_languages() {
        let t: Timestamp = "2026-12-02T16:20:00Z".parse().unwrap();
        let la = TimeZone::get("America/Los_Angeles").unwrap();
        assert_eq!(moment(t, &la, Tr::new(Lang::En)).text, "Dec 2, 2026, 8:20 AM PST");
        assert_eq!(moment(t, &la, Tr::new(Lang::Es)).text, "2 dic 2026, 08:20 PST");
        let ny = TimeZone::get("America/New_York").unwrap();
        assert_eq!(moment(t, &ny, Tr::new(Lang::En)).text, "Dec 2, 2026, 11:20 AM EST");
        let noon: Timestamp = "2026-07-01T19:05:00Z".parse().unwrap();
        assert_eq!(moment(noon, &la, Tr::new(Lang::En)).text, "Jul 1, 2026, 12:05 PM PDT");
        assert_eq!(moment(t, &TimeZone::UTC, Tr::new(Lang::En)).text, "Dec 2, 2026, 4:20 PM UTC");
        assert_eq!(moment(t, &la, Tr::new(Lang::En)).iso, "2026-12-02T16:20:00Z");
    }

    #[test]
    fn every_action_has_a_label_in_both_languages() {
        for lang in Lang::ALL {
            let tr = Tr::new(lang);
            for a in Action::ALL {
                let label = action(tr, a.as_str());
                assert_ne!(label, action_key(a), "{} has no {} label", a.as_str(), lang.code());
            }
        }
        assert_eq!(action(Tr::new(Lang::Es), "session.login"), "Inició sesión");
        assert_eq!(action(Tr::new(Lang::En), "future.thing"), "future.thing");
    }

    #[test]
    fn roles_and_scopes_are_translated() {
        assert_eq!(role(Tr::new(Lang::Es), Role::Admin), "Administración");
        assert_eq!(scope(Tr::new(Lang::Es), TokenScope::Read), "Lectura");
        assert_eq!(role(Tr::new(Lang::En), Role::Volunteer), "Volunteer");
    }
}
