//! Secret tokens: 256 random bits, URL-safe, stored only as a digest.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kiteline_core::TokenDigest;

/// How long a first-admin link printed at start-up stays usable.
pub const FIRST_ADMIN_LINK_HOURS: i64 = 24;
/// How long an invitation or a `kiteline user add` link stays usable.
pub const SET_PASSWORD_LINK_HOURS: i64 = 72;
/// How long a password-reset link stays usable.
pub const RESET_LINK_HOURS: i64 = 1;

/// A new token and the digest to store for it.
pub fn generate() -> (String, TokenDigest) {
    let token = URL_SAFE_NO_PAD.encode(kiteline_store::random_bytes::<32>());
    let digest = TokenDigest::of(&token);
    (token, digest)
}

/// Cheap shape check before any database look-up.
pub fn looks_like_token(s: &str) -> bool {
    (32..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_43_url_safe_chars_and_differ() {
        let (a, da) = super::generate();
        let (b, _) = super::generate();
        assert_eq!(a.len(), 43);
        assert!(super::looks_like_token(&a));
        assert_ne!(a, b);
        assert_eq!(da, kiteline_core::TokenDigest::of(&a));
        assert!(!super::looks_like_token("../../etc/passwd"));
        assert!(!super::looks_like_token("short"));
    }
}
