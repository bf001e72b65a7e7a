//! Accounts: roles, e-mail addresses and the password policy.

use std::fmt;

/// What a user may do. Ordered by reach: a coordinator can do what a
/// volunteer can, an admin what a coordinator can.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Volunteer,
    Coordinator,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Volunteer, Role::Coordinator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Volunteer => "volunteer",
            Role::Coordinator => "coordinator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An e-mail address, trimmed and lower-cased, with a plausible shape.
///
/// This is not RFC 5322 validation: the only real test of an address is a
/// message that arrives. It rejects what is certainly wrong and what could
/// smuggle headers (spaces, control characters, angle brackets).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Option<EmailAddress> {
        let s = input.trim().to_lowercase();
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c)) {
            return None;
        }
        let (local, domain) = s.rsplit_once('@')?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return None;
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-')) {
            return None;
        }
        Some(EmailAddress(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// E-mail addresses are personal data: keep them out of debug output and logs.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmailAddress(<redacted>)")
    }
}

/// How long a session may sit unused before it ends.
pub fn idle_timeout_seconds(role: Role) -> i64 {
    match role {
        Role::Volunteer => 8 * 3600,
        Role::Coordinator | Role::Admin => 30 * 60,
    }
}

/// How long a session may last at all, however busy.
pub fn absolute_timeout_seconds(role: Role) -> i64 {
    match role {
        Role::Volunteer => 24 * 3600,
        Role::Coordinator | Role::Admin => 12 * 3600,
    }
}

/// Coordinators and admins must have a second factor before anything else.
pub fn requires_second_factor(role: Role) -> bool {
    role >= Role::Coordinator
}

/// Roles an inviter may give: admins invite anyone, coordinators invite
/// volunteers, volunteers invite no one.
pub fn invitable_roles(inviter: Role) -> &'static [Role] {
    match inviter {
        Role::Admin => &[Role::Volunteer, Role::Coordinator, Role::Admin],
        Role::Coordinator => &[Role::Volunteer],
        Role::Volunteer => &[],
    }
}

/// Whether `viewer` (with their chapter) may see and manage an account with
/// `target_role` in `target_chapter`. Admins and coordinators without a
/// chapter (national) reach everyone; a chapter's coordinator reaches only
/// that chapter's people, and at-large volunteers when the organization says
/// so (`at_large_too`); volunteers reach no one.
pub fn manages(
    viewer: Role,
    viewer_chapter: Option<&crate::Id>,
    target_role: Role,
    target_chapter: Option<&crate::Id>,
    at_large_too: bool,
) -> bool {
    match (viewer, viewer_chapter) {
        (Role::Admin, _) | (Role::Coordinator, None) => true,
        (Role::Coordinator, Some(mine)) => {
            target_chapter == Some(mine) || (at_large_too && target_chapter.is_none() && target_role == Role::Volunteer)
        }
        (Role::Volunteer, _) => false,
    }
}

/// How far a signed-in session has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Password accepted; the second factor is still to come.
    NeedsCode,
    /// A coordinator or admin without a second factor: only enrolment is open.
    NeedsEnrolment,
    Full,
}

/// The stage of a session: someone with a second factor must prove it in
/// this session; staff without one must enrol before anything else.
pub fn sign_in_stage(role: Role, has_second_factor: bool, proved_in_session: bool) -> Stage {
    if has_second_factor && !proved_in_session {
        Stage::NeedsCode
    } else if requires_second_factor(role) && !has_second_factor {
        Stage::NeedsEnrolment
    } else {
        Stage::Full
    }
}

/// Why a name (a person's, a chapter's, a token's label) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    /// Too long, or holds a line break or other control character.
    TooLong,
}

/// A one-line name: trimmed, 1 to `max` characters, no control characters.
pub fn one_line(raw: &str, max: usize) -> Result<&str, NameProblem> {
    let v = raw.trim();
    if v.is_empty() {
        Err(NameProblem::Empty)
    } else if v.chars().count() > max || v.chars().any(char::is_control) {
        Err(NameProblem::TooLong)
    } else {
        Ok(v)
    }
}

/// The longest display name of a person.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest chapter name or token label.
pub const MAX_LABEL_CHARS: usize = 100;

/// A person's display name.
pub fn display_name(raw: &str) -> Result<&str, NameProblem> {
    one_line(raw, MAX_NAME_CHARS)
}

/// A chapter's name.
pub fn chapter_name(raw: &str) -> Result<&str, NameProblem> {
    one_line(raw, MAX_LABEL_CHARS)
}

/// Why a phone number was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneProblem {
    /// Not digits (with spaces, dots, dashes, brackets), or too few or many.
    Malformed,
    /// No `+` and country code, and the organization set no default country.
    NoCountryCode,
}

/// A phone number as `+` and 7–15 digits (spaces, dots, dashes and brackets
/// dropped). One without `+` takes `default_calling_code` (the
/// organization's country, e.g. `1`), or is refused when there is none —
/// never silently taken as North American.
pub fn normalize_phone(raw: &str, default_calling_code: Option<&str>) -> Result<String, PhoneProblem> {
    let trimmed = raw.trim();
    let plus = trimmed.starts_with('+');
    if trimmed.chars().any(|c| !(c.is_ascii_digit() || " .-()+".contains(c)))
        || trimmed[usize::from(plus)..].contains('+')
    {
        return Err(PhoneProblem::Malformed);
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let full = if plus {
        digits
    } else {
        let code = default_calling_code.ok_or(PhoneProblem::NoCountryCode)?;
        // A national number written with its trunk prefix (`0…`) drops it.
        format!("{code}{}", digits.strip_prefix('0').unwrap_or(&digits))
    };
    if !(7..=15).contains(&full.len()) {
        return Err(PhoneProblem::Malformed);
    }
    Ok(format!("+{full}"))
}

/// A calling code for [`normalize_phone`]: 1 to 3 digits, not starting with 0.
/// What a typed second-factor code looks like, before it is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeShape {
    Missing,
    /// Six digits (spaces allowed), as an authenticator app shows them.
    Totp,
    /// Sixteen letters and digits, dashes and spaces allowed.
    Recovery,
    Malformed,
}

pub fn code_shape(raw: &str) -> CodeShape {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return CodeShape::Missing;
    }
    let digits: String = trimmed.chars().filter(|c| *c != ' ').collect();
    if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        return CodeShape::Totp;
    }
    let allowed = trimmed.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ' ');
    let compact = trimmed.chars().filter(char::is_ascii_alphanumeric).count();
    if allowed && compact == 16 { CodeShape::Recovery } else { CodeShape::Malformed }
}

pub fn is_calling_code(code: &str) -> bool {
    (1..=3).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) && !code.starts_with('0')
}

/// A coarse, human label for the device behind a user agent — a browser
/// family and a system ("Firefox on Android") — kept instead of the user
/// agent string, which is close to a fingerprint.
pub fn device_label(user_agent: &str) -> String {
    let ua = user_agent;
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        "Opera"
    } else if ua.contains("SamsungBrowser/") {
        "Samsung Internet"
    } else if ua.contains("Firefox/") || ua.contains("FxiOS/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") || ua.contains("Chromium/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else {
        "A browser"
    };
    let system = if ua.contains("Android") {
        "Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iOS") {
        "iPhone or iPad"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        "an unknown system"
    };
    format!("{browser} on {system}")
}

/// A password hash in PHC string form (`$argon2id$…`), as made by the
/// password hasher and kept by the store. A type of its own so it cannot be
/// mixed up with a token digest or any other string; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_phc(phc: String) -> PasswordHash {
        PasswordHash(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// The security-relevant columns of a user row: who the account is, what
/// it may do and how it signs in. A MAC over them, under a key from the key
/// file, makes a row edited by hand in the database stop working.
#[derive(Clone, Copy, Debug)]
pub struct UserRowFields<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub role: Role,
    pub password_hash: Option<&'a str>,
    pub totp_secret: Option<&'a [u8]>,
    pub disabled_at_micros: Option<i64>,
    pub chapter_id: Option<&'a str>,
}

/// The MAC a user row carries (hex).
pub fn user_row_mac(key: &[u8; 32], f: &UserRowFields<'_>) -> String {
    let opt = |present: bool| if present { b"1" as &[u8] } else { b"0" };
    let disabled = f.disabled_at_micros.map(|t| t.to_be_bytes());
    crate::crypto::keyed_hex(
        key,
        "kiteline/user-row/v1",
        &[
            f.id.as_bytes(),
            f.email.as_bytes(),
            f.role.as_str().as_bytes(),
            opt(f.password_hash.is_some()),
            f.password_hash.unwrap_or("").as_bytes(),
            opt(f.totp_secret.is_some()),
            f.totp_secret.unwrap_or(b""),
            opt(disabled.is_some()),
            disabled.as_ref().map_or(&[][..], |d| &d[..]),
            opt(f.chapter_id.is_some()),
            f.chapter_id.unwrap_or("").as_bytes(),
        ],
    )
}

/// Why a new password was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort,
    TooLong,
    Mismatch,
    ContainsEmail,
    /// Found in (or trivially built from) the bundled list of common and
    /// breached passwords, or a repeated or sequential pattern.
    Common,
}

pub const MIN_PASSWORD_CHARS: usize = 12;
/// Long enough for any passphrase, short enough that hashing cannot be abused.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The shortest part of an address or name a password may not contain: a
/// one- or two-letter part (`al@…`) is in too many good passphrases to forbid.
const MIN_PERSONAL_PART: usize = 3;

/// True when the password holds the account's e-mail address, its local
/// part, or the account's name (ignoring case and spaces), of any length
/// from three characters.
fn contains_personal(password: &str, email: &str, name: &str) -> bool {
    let squash = |s: &str| -> String { s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase() };
    let pw = squash(password);
    let email = squash(email);
    let local = email.split('@').next().unwrap_or("").to_owned();
    [email.clone(), local, squash(name)]
        .iter()
        .any(|part| part.chars().count() >= MIN_PERSONAL_PART && pw.contains(part.as_str()))
}

/// Checks a new password against the policy: 12 characters at least, counted
/// as Unicode scalar values (so a passphrase in Spanish is not penalised),
/// without the account's address or name in it, and not a common password.
pub fn check_new_password(password: &str, confirm: &str, email: &str, name: &str) -> Result<(), PasswordProblem> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordProblem::TooLong);
    }
    if password != confirm {
        return Err(PasswordProblem::Mismatch);
    }
    if contains_personal(password, email, name) {
        return Err(PasswordProblem::ContainsEmail);
    }
    if is_common_password(password) {
        return Err(PasswordProblem::Common);
    }
    Ok(())
}

const COMMON_PASSWORDS: &str = include_str!("../data/common-passwords.txt");

fn common_passwords() -> &'static std::collections::HashSet<&'static str> {
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> = std::sync::OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect())
}

/// Undoes the usual letter-for-symbol swaps (`p@ssw0rd` → `password`).
fn unleet(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            other => other,
        })
        .collect()
}

/// True for a password an attacker would try early: one on the bundled list
/// of 30,000 common passwords (as is, or with leetspeak undone, or once the
/// digits and symbols around it are stripped: `Password2024!`), a repetition
/// of a short unit (`abcabcabcabc`), a run of consecutive characters
/// (`123456789012`, `abcdefghijkl`), or one naming this software.
pub fn is_common_password(password: &str) -> bool {
    let list = common_passwords();
    let lower = password.to_lowercase();
    let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    let core = compact.trim_matches(|c: char| !c.is_alphabetic());
    let candidates = [compact.clone(), unleet(&compact), core.to_owned(), unleet(core)];
    if candidates.iter().any(|c| c.chars().count() >= 4 && list.contains(c.as_str())) {
        return true;
    }
    if compact.contains("kiteline") {
        return true;
    }
    let chars: Vec<char> = compact.chars().collect();
    let n = chars.len();
    // Repetition of a unit of up to half the length.
    if (1..=n / 2).any(|u| n.is_multiple_of(u) && chars.chunks(u).all(|c| c == &chars[..u])) {
        return true;
    }
    // Mostly consecutive: each character next to the previous one in the
    // alphabet, the digits, or along a keyboard row (`qwertyuiop…`).
    const KEYBOARD: &str = "1234567890qwertyuiopasdfghjklzxcvbnm";
    let key_pos = |c: char| KEYBOARD.find(c).map(|p| p as i64);
    let neighbours = |a: char, b: char| {
        (b as i64 - a as i64).abs() == 1
            || (a == '9' && b == '0')
            || matches!((key_pos(a), key_pos(b)), (Some(x), Some(y)) if (x - y).abs() == 1)
    };
    let steps = chars.windows(2).filter(|w| neighbours(w[0], w[1])).count();
    n > 1 && steps * 10 >= (n - 1) * 8
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_told_apart_by_shape() {
        use super::{CodeShape, code_shape};
        assert_eq!(code_shape("  "), CodeShape::Missing);
        assert_eq!(code_shape("123456"), CodeShape::Totp);
        assert_eq!(code_shape("123 456"), CodeShape::Totp);
        assert_eq!(code_shape("abcd-efgh-ijkl-mnop"), CodeShape::Recovery);
        assert_eq!(code_shape("ABCDEFGHIJKLMNOP"), CodeShape::Recovery);
        for bad in ["12345", "1234567", "12345a", "abcd-efgh", "abcd_efgh_ijkl_mnop", "١٢٣٤٥٦"] {
            assert_eq!(code_shape(bad), CodeShape::Malformed, "{bad}");
        }
    }

    use super::*;

    #[test]
    fn email_is_normalised_and_checked() {
        assert_eq!(EmailAddress::parse("  Ana@Example.ORG ").unwrap().as_str(), "ana@example.org");
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.org",
            "ana@localhost",
            "a b@example.org",
            "ana@ex..org",
            "<a>@x.org",
            "a@-x.org",
        ] {
            assert!(EmailAddress::parse(bad).is_none(), "{bad:?} accepted");
        }
        assert_eq!(format!("{:?}", EmailAddress::parse("a@b.org").unwrap()), "EmailAddress(<redacted>)");
    }

    #[test]
    fn password_policy() {
        assert_eq!(check_new_password("short", "short", "a@b.org", ""), Err(PasswordProblem::TooShort));
        assert_eq!(check_new_password("ñandú-ñandú", "ñandú-ñandú", "a@b.org", ""), Err(PasswordProblem::TooShort));
        assert_eq!(check_new_password("ñandú-ñandú!", "ñandú-ñandú!", "a@b.org", ""), Ok(()));
        assert_eq!(
            check_new_password("correct horse battery", "correct horse batter", "a@b.org", ""),
            Err(PasswordProblem::Mismatch)
        );
        assert_eq!(
            check_new_password("my name is marisol!", "my name is marisol!", "Marisol@b.org", ""),
            Err(PasswordProblem::ContainsEmail)
        );
        // Short addresses and the name count too, whatever their length.
        assert_eq!(
            check_new_password("vol@example.orgxx12", "vol@example.orgxx12", "vol@example.org", ""),
            Err(PasswordProblem::ContainsEmail)
        );
        assert_eq!(
            check_new_password("tamales de vol 2024", "tamales de vol 2024", "vol@example.org", ""),
            Err(PasswordProblem::ContainsEmail)
        );
        assert_eq!(
            check_new_password("AnaRuiz correct horse", "AnaRuiz correct horse", "x@b.org", "Ana Ruiz"),
            Err(PasswordProblem::ContainsEmail)
        );
        assert_eq!(
            check_new_password("correct horse battery", "correct horse battery", "al@b.org", "Al"),
            Ok(()),
            "a two-letter part is too common to forbid"
        );
        let long = "xy".repeat(MAX_PASSWORD_BYTES);
        assert_eq!(check_new_password(&long, &long, "a@b.org", ""), Err(PasswordProblem::TooLong));
    }

    #[test]
    fn common_and_patterned_passwords_are_refused() {
        for bad in [
            "qwertyuiopasdfgh",
            "1qaz2wsx3edc",
            "Password2024!",
            "P@ssw0rd123456",
            "!!dragon1234!!",
            "abcabcabcabc",
            "aaaaaaaaaaaa",
            "123456789012",
            "abcdefghijklm",
            "my kiteline login",
            "iloveyou iloveyou",
        ] {
            assert_eq!(
                check_new_password(bad, bad, "x@example.org", ""),
                Err(PasswordProblem::Common),
                "{bad} accepted"
            );
        }
        for good in ["correct horse battery staple", "tamales en la cocina 7", "ñandú-ñandú!", "Vx7#kq2!Lm9@"] {
            assert_eq!(check_new_password(good, good, "x@example.org", ""), Ok(()), "{good} refused");
        }
    }

    #[test]
    fn the_bundled_list_is_loaded() {
        assert!(common_passwords().len() > 29_000);
        assert!(common_passwords().contains("password") && common_passwords().contains("123qweasdzxc"));
    }

    #[test]
    fn roles_round_trip_and_order() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!(Role::Admin > Role::Coordinator && Role::Coordinator > Role::Volunteer);
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn admins_invite_anyone_coordinators_only_volunteers() {
        assert_eq!(invitable_roles(Role::Admin), &Role::ALL);
        assert_eq!(invitable_roles(Role::Coordinator), &[Role::Volunteer]);
        assert!(invitable_roles(Role::Volunteer).is_empty());
    }

    #[test]
    fn the_sign_in_stage_asks_for_the_factor_then_for_enrolment() {
        for role in Role::ALL {
            assert_eq!(sign_in_stage(role, true, false), Stage::NeedsCode, "{role}");
            assert_eq!(sign_in_stage(role, true, true), Stage::Full, "{role}");
        }
        assert_eq!(sign_in_stage(Role::Volunteer, false, false), Stage::Full);
        assert_eq!(sign_in_stage(Role::Coordinator, false, false), Stage::NeedsEnrolment);
        assert_eq!(sign_in_stage(Role::Admin, false, true), Stage::NeedsEnrolment);
    }

    #[test]
    fn names_are_one_trimmed_line_of_bounded_length() {
        assert_eq!(display_name("  Ana Ruiz "), Ok("Ana Ruiz"));
        assert_eq!(display_name("   "), Err(NameProblem::Empty));
        assert_eq!(display_name(&"ñ".repeat(200)).map(|n| n.chars().count()), Ok(200));
        assert_eq!(display_name(&"ñ".repeat(201)), Err(NameProblem::TooLong));
        assert_eq!(display_name("Ana\nRuiz"), Err(NameProblem::TooLong));
        assert_eq!(chapter_name("Bay Area"), Ok("Bay Area"));
        assert_eq!(chapter_name(&"x".repeat(101)), Err(NameProblem::TooLong));
        assert_eq!(chapter_name("Bay\u{7}Area"), Err(NameProblem::TooLong));
    }

    #[test]
    fn phones_are_normalised_or_refused() {
        assert_eq!(normalize_phone("(510) 555-0100", Some("1")).as_deref(), Ok("+15105550100"));
        assert_eq!(normalize_phone("+52 55 1234 5678", None).as_deref(), Ok("+525512345678"));
        assert_eq!(normalize_phone("055 1234 5678", Some("52")).as_deref(), Ok("+525512345678"), "trunk 0 dropped");
        assert_eq!(normalize_phone("(510) 555-0100", None), Err(PhoneProblem::NoCountryCode), "never silently +1");
        for bad in ["555", "call me", "+1 510 555 0100 ext 2", "+1234567890123456", "+1 510+555"] {
            assert_eq!(normalize_phone(bad, Some("1")), Err(PhoneProblem::Malformed), "{bad}");
        }
        assert!(is_calling_code("1") && is_calling_code("52") && is_calling_code("598"));
        assert!(!is_calling_code("01") && !is_calling_code("1234") && !is_calling_code("+1") && !is_calling_code(""));
    }

    #[test]
    fn devices_are_labelled_by_family_never_by_the_whole_user_agent() {
        let cases = [
            ("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", "Firefox on Android"),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari on iPhone or iPad",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A145F) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
                "Samsung Internet on Android",
            ),
            ("curl/8.5.0", "A browser on an unknown system"),
        ];
        for (ua, label) in cases {
            assert_eq!(device_label(ua), label, "{ua}");
        }
    }

    #[test]
    fn password_hashes_are_never_printed() {
        assert_eq!(format!("{:?}", PasswordHash::from_phc("$argon2id$x".into())), "PasswordHash(<redacted>)");
    }

    #[test]
    fn a_user_row_mac_changes_with_every_protected_column() {
        let key = [3; 32];
        let base = UserRowFields {
            id: "u1",
            email: "ana@example.org",
            role: Role::Volunteer,
            password_hash: Some("$argon2id$a"),
            totp_secret: None,
            disabled_at_micros: None,
            chapter_id: None,
        };
        let mac = user_row_mac(&key, &base);
        assert_eq!(mac, user_row_mac(&key, &base));
        let edits = [
            UserRowFields { role: Role::Admin, ..base },
            UserRowFields { password_hash: Some("$argon2id$b"), ..base },
            UserRowFields { password_hash: None, ..base },
            UserRowFields { totp_secret: Some(b""), ..base },
            UserRowFields { disabled_at_micros: Some(0), ..base },
            UserRowFields { chapter_id: Some(""), ..base },
            UserRowFields { email: "eve@example.org", ..base },
            UserRowFields { id: "u2", ..base },
        ];
        for edit in edits {
            assert_ne!(user_row_mac(&key, &edit), mac, "{edit:?}");
        }
        assert_ne!(user_row_mac(&[4; 32], &base), mac, "keyed");
    }

    #[test]
    fn a_chapters_coordinator_reaches_only_that_chapter() {
        let (north, south) = (crate::Id::from_parts(1, [1; 10]), crate::Id::from_parts(1, [2; 10]));
        let (n, s_) = (Some(&north), Some(&south));
        assert!(manages(Role::Admin, None, Role::Admin, s_, false));
        assert!(manages(Role::Coordinator, None, Role::Volunteer, s_, false), "national coordinators see all");
        assert!(manages(Role::Coordinator, n, Role::Volunteer, n, false));
        assert!(manages(Role::Coordinator, n, Role::Coordinator, n, false));
        assert!(!manages(Role::Coordinator, n, Role::Volunteer, s_, true), "another chapter, never");
        assert!(!manages(Role::Coordinator, n, Role::Admin, None, true), "admins are not at-large volunteers");
        assert!(!manages(Role::Coordinator, n, Role::Volunteer, None, false), "at-large only if the setting says so");
        assert!(manages(Role::Coordinator, n, Role::Volunteer, None, true));
        assert!(!manages(Role::Volunteer, None, Role::Volunteer, None, true));
    }
}
