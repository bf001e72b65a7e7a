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

/// Why a new password was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordProblem {
    TooShort,
    TooLong,
    Mismatch,
    ContainsEmail,
}

pub const MIN_PASSWORD_CHARS: usize = 12;
/// Long enough for any passphrase, short enough that hashing cannot be abused.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Checks a new password against the policy: 12 characters at least, counted
/// as Unicode scalar values (so a passphrase in Spanish is not penalised).
pub fn check_new_password(password: &str, confirm: &str, email: &str) -> Result<(), PasswordProblem> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordProblem::TooShort);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordProblem::TooLong);
    }
    if password != confirm {
        return Err(PasswordProblem::Mismatch);
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.len() >= 4 && password.to_lowercase().contains(&local) {
        return Err(PasswordProblem::ContainsEmail);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
        assert_eq!(check_new_password("short", "short", "a@b.org"), Err(PasswordProblem::TooShort));
        assert_eq!(check_new_password("ñandú-ñandú", "ñandú-ñandú", "a@b.org"), Err(PasswordProblem::TooShort));
        assert_eq!(check_new_password("ñandú-ñandú!", "ñandú-ñandú!", "a@b.org"), Ok(()));
        assert_eq!(
            check_new_password("correct horse battery", "correct horse batter", "a@b.org"),
            Err(PasswordProblem::Mismatch)
        );
        assert_eq!(
            check_new_password("my name is marisol!", "my name is marisol!", "Marisol@b.org"),
            Err(PasswordProblem::ContainsEmail)
        );
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(check_new_password(&long, &long, "a@b.org"), Err(PasswordProblem::TooLong));
    }

    #[test]
    fn roles_round_trip_and_order() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert!(Role::Admin > Role::Coordinator && Role::Coordinator > Role::Volunteer);
        assert_eq!(Role::parse("root"), None);
    }
}
