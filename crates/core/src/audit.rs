//! The audit log's hash chain.
//!
//! Each entry carries `hash = HMAC-SHA256(audit key, prev_hash ‖ fields)`, with
//! the key derived from the key file (not stored in the database). Editing an
//! entry breaks its hash; deleting one breaks the next entry's `prev_hash` and
//! the sequence; and because the hash is keyed, someone with only database
//! access cannot recompute a consistent chain after tampering. Retention
//! deletes the oldest entries and records an *anchor* (the sequence number and
//! hash of the last deleted entry, itself keyed), from which verification of
//! what remains starts.
//!
//! Entries hold ids, never plaintext values.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::crypto::{constant_time_eq, hex};

/// The `prev_hash` of the very first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Everything the audit log records, one variant per kind of event. Each
/// action knows the kind of object it is about, so an entry's object type
/// never disagrees with its action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// An account made from the command line (`kiteline user add`).
    UserCreate,
    /// The first administrator, created through the start-up link.
    UserFirstAdmin,
    UserInvite,
    UserProfileUpdate,
    UserRoleChange,
    UserDisable,
    UserEnable,
    UserPasswordChange,
    /// A password set through an invitation or reset link.
    UserPasswordSet,
    UserPasswordResetRequested,
    UserTwoFactorEnable,
    UserTwoFactorDisable,
    /// An admin cleared someone else's second factor.
    UserTwoFactorReset,
    UserRecoveryCodes,
    UserSecondFactorFailed,
    /// A user row failed its integrity check (edited outside Kiteline).
    UserRowTampered,
    SessionLogin,
    SessionLoginFailed,
    SessionSecondFactor,
    SessionLogout,
    SessionEndAll,
    ChapterCreate,
    ApiTokenCreate,
    ApiTokenRevoke,
    /// A new invitation link (and message) for someone who has not set a password yet.
    UserInviteResend,
    /// One of the user's own sessions ended from the account page.
    SessionEnd,
    ChapterRename,
    ChapterRemove,
    OrgProfileUpdate,
    OrgLogoUpdate,
    AuditView,
    /// An application arrived through the public form (or merged into an earlier one).
    ApplicationSubmit,
    ApplicationAccept,
    ApplicationDecline,
    ApplicationWaitlist,
    ModuleCreate,
    ModuleUpdate,
    SessionSchedule,
    /// A volunteer signed up for a training session (the entry's actor).
    SessionSignUp,
    SessionLeave,
    /// A trainer or coordinator marked who attended a session.
    AttendanceMark,
    /// A qualification granted by a coordinator's sign-off or a shadow shift.
    QualificationGrant,
    VolunteerPause,
    VolunteerResume,
    VolunteerAlumni,
    /// A coordinator opened a volunteer's record.
    VolunteerView,
    /// The volunteer directory was exported as CSV.
    VolunteerExport,
    /// The phone line program's public page and messages were edited.
    ProgramUpdate,
    ScheduleUpdate,
    ShiftSignUp,
    ShiftAssign,
    ShiftLeave,
    ShiftCoverRequest,
    ShiftCoverTake,
    ShiftWaitlist,
    ShiftAttendance,
    ShiftLockLift,
    ShiftGapAsk,
    CalendarFeed,
    ReminderSettings,
}

impl Action {
    pub const ALL: [Action; 60] = [
        Action::UserCreate,
        Action::UserFirstAdmin,
        Action::UserInvite,
        Action::UserProfileUpdate,
        Action::UserRoleChange,
        Action::UserDisable,
        Action::UserEnable,
        Action::UserPasswordChange,
        Action::UserPasswordSet,
        Action::UserPasswordResetRequested,
        Action::UserTwoFactorEnable,
        Action::UserTwoFactorDisable,
        Action::UserTwoFactorReset,
        Action::UserRecoveryCodes,
        Action::UserSecondFactorFailed,
        Action::UserRowTampered,
        Action::SessionLogin,
        Action::SessionLoginFailed,
        Action::SessionSecondFactor,
        Action::SessionLogout,
        Action::SessionEndAll,
        Action::ChapterCreate,
        Action::ApiTokenCreate,
        Action::ApiTokenRevoke,
        Action::UserInviteResend,
        Action::SessionEnd,
        Action::ChapterRename,
        Action::ChapterRemove,
        Action::OrgProfileUpdate,
        Action::OrgLogoUpdate,
        Action::AuditView,
        Action::ApplicationSubmit,
        Action::ApplicationAccept,
        Action::ApplicationDecline,
        Action::ApplicationWaitlist,
        Action::ModuleCreate,
        Action::ModuleUpdate,
        Action::SessionSchedule,
        Action::SessionSignUp,
        Action::SessionLeave,
        Action::AttendanceMark,
        Action::QualificationGrant,
        Action::VolunteerPause,
        Action::VolunteerResume,
        Action::VolunteerAlumni,
        Action::VolunteerView,
        Action::VolunteerExport,
        Action::ProgramUpdate,
        Action::ScheduleUpdate,
        Action::ShiftSignUp,
        Action::ShiftAssign,
        Action::ShiftLeave,
        Action::ShiftCoverRequest,
        Action::ShiftCoverTake,
        Action::ShiftWaitlist,
        Action::ShiftAttendance,
        Action::ShiftLockLift,
        Action::ShiftGapAsk,
        Action::CalendarFeed,
        Action::ReminderSettings,
    ];

    /// The code stored in the log (stable: entries already written keep it).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::UserCreate => "user.create",
            Action::UserFirstAdmin => "user.first_admin",
            Action::UserInvite => "user.invite",
            Action::UserProfileUpdate => "user.profile_update",
            Action::UserRoleChange => "user.role_change",
            Action::UserDisable => "user.disable",
            Action::UserEnable => "user.enable",
            Action::UserPasswordChange => "user.password_change",
            Action::UserPasswordSet => "user.password_set",
            Action::UserPasswordResetRequested => "user.password_reset_requested",
            Action::UserTwoFactorEnable => "user.2fa_enable",
            Action::UserTwoFactorDisable => "user.2fa_disable",
            Action::UserTwoFactorReset => "user.2fa_reset",
            Action::UserRecoveryCodes => "user.recovery_codes",
            Action::UserSecondFactorFailed => "user.second_factor_failed",
            Action::UserRowTampered => "user.row_tampered",
            Action::SessionLogin => "session.login",
            Action::SessionLoginFailed => "session.login_failed",
            Action::SessionSecondFactor => "session.second_factor",
            Action::SessionLogout => "session.logout",
            Action::SessionEndAll => "session.end_all",
            Action::ChapterCreate => "chapter.create",
            Action::ApiTokenCreate => "api_token.create",
            Action::ApiTokenRevoke => "api_token.revoke",
            Action::UserInviteResend => "user.invite_resend",
            Action::SessionEnd => "session.end",
            Action::ChapterRename => "chapter.rename",
            Action::ChapterRemove => "chapter.remove",
            Action::OrgProfileUpdate => "org.profile_update",
            Action::OrgLogoUpdate => "org.logo_update",
            Action::AuditView => "audit.view",
            Action::ApplicationSubmit => "application.submit",
            Action::ApplicationAccept => "application.accept",
            Action::ApplicationDecline => "application.decline",
            Action::ApplicationWaitlist => "application.waitlist",
            Action::ModuleCreate => "training.module_create",
            Action::ModuleUpdate => "training.module_update",
            Action::SessionSchedule => "training.session_schedule",
            Action::SessionSignUp => "training.sign_up",
            Action::SessionLeave => "training.leave",
            Action::AttendanceMark => "training.attendance",
            Action::QualificationGrant => "training.qualification_grant",
            Action::VolunteerPause => "volunteer.pause",
            Action::VolunteerResume => "volunteer.resume",
            Action::VolunteerAlumni => "volunteer.alumni",
            Action::VolunteerView => "volunteer.view",
            Action::VolunteerExport => "volunteer.export",
            Action::ProgramUpdate => "org.program_update",
            Action::ScheduleUpdate => "shift.schedule_update",
            Action::ShiftSignUp => "shift.sign_up",
            Action::ShiftAssign => "shift.assign",
            Action::ShiftLeave => "shift.leave",
            Action::ShiftCoverRequest => "shift.cover_request",
            Action::ShiftCoverTake => "shift.cover_take",
            Action::ShiftWaitlist => "shift.waitlist",
            Action::ShiftAttendance => "shift.attendance",
            Action::ShiftLockLift => "shift.lock_lift",
            Action::ShiftGapAsk => "shift.gap_ask",
            Action::CalendarFeed => "calendar.feed",
            Action::ReminderSettings => "shift.reminder_settings",
        }
    }

    pub fn parse(code: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == code)
    }

    /// The kind of object the entry's object id names.
    pub fn object_type(self) -> &'static str {
        match self {
            Action::ChapterCreate | Action::ChapterRename | Action::ChapterRemove => "chapter",
            Action::OrgProfileUpdate | Action::OrgLogoUpdate => "organization",
            Action::ApiTokenCreate | Action::ApiTokenRevoke => "api_token",
            Action::AuditView => "audit_log",
            Action::ApplicationSubmit
            | Action::ApplicationAccept
            | Action::ApplicationDecline
            | Action::ApplicationWaitlist => "application",
            Action::ModuleCreate | Action::ModuleUpdate => "training_module",
            Action::SessionSchedule | Action::SessionSignUp | Action::SessionLeave | Action::AttendanceMark => {
                "training_session"
            }
            Action::VolunteerExport => "volunteer_directory",
            Action::ProgramUpdate => "organization",
            Action::ScheduleUpdate => "shift_schedule",
            Action::ShiftSignUp
            | Action::ShiftAssign
            | Action::ShiftLeave
            | Action::ShiftCoverRequest
            | Action::ShiftCoverTake
            | Action::ShiftWaitlist
            | Action::ShiftAttendance
            | Action::ShiftGapAsk => "shift",
            _ => "user",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry's recorded facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFields<'a> {
    pub seq: i64,
    /// Microseconds since the Unix epoch, UTC.
    pub at_micros: i64,
    /// The acting user's id, or `system`.
    pub actor: &'a str,
    pub action: &'a str,
    pub object_type: &'a str,
    pub object_id: &'a str,
}

fn mac(key: &[u8; 32]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length")
}

fn part(m: &mut Hmac<Sha256>, s: &[u8]) {
    m.update(&(s.len() as u32).to_be_bytes());
    m.update(s);
}

/// The hash of an entry that follows `prev_hash`.
pub fn entry_hash(key: &[u8; 32], prev_hash: &str, f: &AuditFields<'_>) -> String {
    let mut m = mac(key);
    part(&mut m, b"kiteline/audit/v1");
    part(&mut m, prev_hash.as_bytes());
    m.update(&f.seq.to_be_bytes());
    m.update(&f.at_micros.to_be_bytes());
    for s in [f.actor, f.action, f.object_type, f.object_id] {
        part(&mut m, s.as_bytes());
    }
    hex(&m.finalize().into_bytes())
}

/// The keyed seal over an anchor, so it cannot be moved by hand either.
pub fn anchor_mac(key: &[u8; 32], seq: i64, hash: &str) -> String {
    let mut m = mac(key);
    part(&mut m, b"kiteline/audit-anchor/v1");
    m.update(&seq.to_be_bytes());
    part(&mut m, hash.as_bytes());
    hex(&m.finalize().into_bytes())
}

/// A stored entry with its chain fields, as read back for verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainedEntry {
    pub seq: i64,
    pub at_micros: i64,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Where retention cut the chain: the last deleted entry's seq and hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    pub mac: String,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("entry {seq}: its contents do not match its hash (edited)")]
    Edited { seq: i64 },
    #[error("entry {seq}: it does not follow entry {expected_prev} (an entry was removed or reordered)")]
    Broken { seq: i64, expected_prev: i64 },
    #[error("the retention anchor was altered")]
    Anchor,
}

/// Checks the chain from the anchor (or the beginning) through `entries`,
/// which must be in `seq` order. Returns how many entries were checked.
pub fn verify_chain(key: &[u8; 32], anchor: Option<&Anchor>, entries: &[ChainedEntry]) -> Result<usize, ChainError> {
    let (mut prev_seq, mut prev_hash) = match anchor {
        Some(a) => {
            if !constant_time_eq(anchor_mac(key, a.seq, &a.hash).as_bytes(), a.mac.as_bytes()) {
                return Err(ChainError::Anchor);
            }
            (a.seq, a.hash.clone())
        }
        None => (0, GENESIS.to_owned()),
    };
    for e in entries {
        if e.seq != prev_seq + 1 || e.prev_hash != prev_hash {
            return Err(ChainError::Broken { seq: e.seq, expected_prev: prev_seq });
        }
        let fields = AuditFields {
            seq: e.seq,
            at_micros: e.at_micros,
            actor: &e.actor,
            action: &e.action,
            object_type: &e.object_type,
            object_id: &e.object_id,
        };
        if !constant_time_eq(entry_hash(key, &e.prev_hash, &fields).as_bytes(), e.hash.as_bytes()) {
            return Err(ChainError::Edited { seq: e.seq });
        }
        prev_seq = e.seq;
        prev_hash = e.hash.clone();
    }
    Ok(entries.len())
}

/// The chain's head as seen at some moment, witnessed outside the database
/// (a file beside the key file): its sequence number and hash, keyed so it
/// cannot be forged or moved back by hand. Someone who deletes the newest
/// entries leaves a chain that verifies on its own — but it ends before the
/// witness, and that is caught.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Witness {
    pub seq: i64,
    pub hash: String,
    pub mac: String,
}

impl Witness {
    pub fn new(key: &[u8; 32], seq: i64, hash: &str) -> Witness {
        Witness { seq, hash: hash.to_owned(), mac: witness_mac(key, seq, hash) }
    }

    /// `seq hash mac`, one line.
    pub fn to_line(&self) -> String {
        format!("{} {} {}", self.seq, self.hash, self.mac)
    }

    pub fn parse(line: &str) -> Option<Witness> {
        let mut parts = line.split_whitespace();
        let w =
            Witness { seq: parts.next()?.parse().ok()?, hash: parts.next()?.to_owned(), mac: parts.next()?.to_owned() };
        parts.next().is_none().then_some(w)
    }
}

fn witness_mac(key: &[u8; 32], seq: i64, hash: &str) -> String {
    let mut m = mac(key);
    part(&mut m, b"kiteline/audit-witness/v1");
    m.update(&seq.to_be_bytes());
    part(&mut m, hash.as_bytes());
    hex(&m.finalize().into_bytes())
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    #[error("the witness file was altered (its seal does not match)")]
    Forged,
    #[error("the log ends at entry {head} but entry {witnessed} was witnessed: the newest entries were removed")]
    Truncated { head: i64, witnessed: i64 },
    #[error("entry {seq} is not the entry that was witnessed: it was replaced")]
    Replaced { seq: i64 },
}

/// Checks an intact chain (see [`verify_chain`]) against a witness: the
/// chain must reach the witnessed entry, and that entry must be the one
/// witnessed. Entries pruned by retention (at or before the anchor) are
/// fine as long as the chain goes on past the witness or the anchor is it.
pub fn check_witness(
    key: &[u8; 32],
    witness: &Witness,
    anchor: Option<&Anchor>,
    entries: &[ChainedEntry],
) -> Result<(), WitnessError> {
    if !constant_time_eq(witness.mac.as_bytes(), witness_mac(key, witness.seq, &witness.hash).as_bytes()) {
        return Err(WitnessError::Forged);
    }
    let head = entries.last().map(|e| e.seq).or(anchor.map(|a| a.seq)).unwrap_or(0);
    if head < witness.seq {
        return Err(WitnessError::Truncated { head, witnessed: witness.seq });
    }
    let found = entries.iter().find(|e| e.seq == witness.seq).map(|e| e.hash.as_str());
    let at_anchor = anchor.filter(|a| a.seq == witness.seq).map(|a| a.hash.as_str());
    match found.or(at_anchor) {
        Some(hash) if hash != witness.hash => Err(WitnessError::Replaced { seq: witness.seq }),
        // Pruned since it was witnessed: the intact chain past the anchor vouches.
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [9; 32];

    fn chain(n: i64) -> Vec<ChainedEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let f = AuditFields {
                    seq,
                    at_micros: seq * 1000,
                    actor: "u1",
                    action: "user.role_change",
                    object_type: "user",
                    object_id: "u2",
                };
                let hash = entry_hash(&KEY, &prev, &f);
                let e = ChainedEntry {
                    seq,
                    at_micros: f.at_micros,
                    actor: f.actor.into(),
                    action: f.action.into(),
                    object_type: f.object_type.into(),
                    object_id: f.object_id.into(),
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(&KEY, None, &chain(5)), Ok(5));
        assert_eq!(verify_chain(&KEY, None, &[]), Ok(0));
    }

    #[test]
    fn edits_deletions_and_reorders_are_detected() {
        let mut c = chain(5);
        c[2].object_id = "someone-else".into();
        assert_eq!(verify_chain(&KEY, None, &c), Err(ChainError::Edited { seq: 3 }));
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify_chain(&KEY, None, &c), Err(ChainError::Broken { seq: 3, expected_prev: 1 }));
        let mut c = chain(5);
        c.swap(1, 2);
        assert!(verify_chain(&KEY, None, &c).is_err());
        let c = chain(5);
        assert_eq!(verify_chain(&[8; 32], None, &c), Err(ChainError::Edited { seq: 1 }), "needs the key");
    }

    #[test]
    fn retention_keeps_the_rest_verifiable_from_a_sealed_anchor() {
        let c = chain(6);
        let cut = &c[2];
        let anchor = Anchor { seq: cut.seq, hash: cut.hash.clone(), mac: anchor_mac(&KEY, cut.seq, &cut.hash) };
        assert_eq!(verify_chain(&KEY, Some(&anchor), &c[3..]), Ok(3));
        let moved = Anchor { seq: 4, hash: c[3].hash.clone(), mac: anchor.mac.clone() };
        assert_eq!(verify_chain(&KEY, Some(&moved), &c[4..]), Err(ChainError::Anchor));
        assert!(verify_chain(&KEY, Some(&anchor), &c[4..]).is_err(), "a deletion after the anchor is caught");
    }

    #[test]
    fn actions_round_trip_and_name_their_object() {
        let mut codes = std::collections::HashSet::new();
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            assert!(codes.insert(a.as_str()), "{a} twice");
            let prefix = a.as_str().split('.').next().unwrap();
            assert!(a.object_type().starts_with(prefix) || a.object_type() == "user", "{a}");
        }
        assert_eq!(Action::parse("user.nope"), None);
        assert_eq!(Action::ApiTokenRevoke.object_type(), "api_token");
        assert_eq!(Action::SessionLogin.object_type(), "user");
    }

    #[test]
    fn a_witness_catches_removed_and_replaced_entries() {
        let key = KEY;
        let entries = chain(6);
        let w = Witness::new(&key, 6, &entries[5].hash);
        assert_eq!(Witness::parse(&w.to_line()), Some(w.clone()));
        assert_eq!(check_witness(&key, &w, None, &entries), Ok(()));
        assert_eq!(
            check_witness(&key, &w, None, &entries[..3]),
            Err(WitnessError::Truncated { head: 3, witnessed: 6 }),
            "the newest three removed"
        );
        assert_eq!(check_witness(&key, &w, None, &[]), Err(WitnessError::Truncated { head: 0, witnessed: 6 }));
        let older = Witness::new(&key, 4, &entries[3].hash);
        assert_eq!(check_witness(&key, &older, None, &entries), Ok(()), "the log may grow past a witness");
        let wrong = Witness::new(&key, 4, &entries[2].hash);
        assert_eq!(check_witness(&key, &wrong, None, &entries), Err(WitnessError::Replaced { seq: 4 }));
        let mut forged = w.clone();
        forged.seq = 3;
        assert_eq!(check_witness(&key, &forged, None, &entries[..3]), Err(WitnessError::Forged));
        // Retention pruned the witnessed entry; the anchor and what follows remain.
        let anchor = Anchor { seq: 4, hash: entries[3].hash.clone(), mac: String::new() };
        assert_eq!(check_witness(&key, &older, Some(&anchor), &entries[4..]), Ok(()));
        assert_eq!(Witness::parse("1 2"), None);
    }
}
