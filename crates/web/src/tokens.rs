//! Single-use link tokens: 256 random bits, URL-safe, stored only as a digest.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// How long a first-admin link printed at start-up stays usable.
pub const FIRST_ADMIN_LINK_HOURS: i64 = 24;
/// How long a set-password link from `kiteline user add` stays usable.
pub const SET_PASSWORD_LINK_HOURS: i64 = 72;

/// A new token and the digest to store for it.
pub fn generate() -> (String, String) {
    let token = URL_SAFE_NO_PAD.encode(kiteline_store::random_bytes::<32>());
    let digest = kiteline_core::crypto::token_digest(&token);
    (token, digest)
}

/// Creates a single-use link valid for `hours` and returns its token (only
/// the digest is stored). A new first-admin link replaces older ones.
pub async fn issue_link(
    store: &dyn kiteline_store::Store,
    purpose: kiteline_store::LinkPurpose,
    user: Option<&kiteline_store::Id>,
    hours: i64,
    now: jiff::Timestamp,
) -> Result<String, kiteline_store::StoreError> {
    let (token, digest) = generate();
    let expires = now + jiff::SignedDuration::from_hours(hours);
    store.create_link(kiteline_store::new_id(now), purpose, user, &digest, expires, now).await?;
    Ok(token)
}

/// Mints an API token for `user` (audited with `actor`, `None` for the
/// command line) and returns its record and the token, which is shown once:
/// only its digest is stored.
pub async fn mint_api_token(
    store: &dyn kiteline_store::Store,
    user: &kiteline_store::Id,
    label: &str,
    scope: kiteline_store::TokenScope,
    actor: Option<&kiteline_store::Id>,
    now: jiff::Timestamp,
) -> Result<(kiteline_store::ApiToken, String), kiteline_store::StoreError> {
    let (secret, _) = generate();
    let token = format!("kl_{secret}");
    let digest = kiteline_core::crypto::token_digest(&token);
    let created = store.create_api_token(kiteline_store::new_id(now), user, label, scope, &digest, now).await?;
    let event = kiteline_store::AuditEvent::new(actor, "api_token.create", "api_token", created.id.as_str());
    store.append_audit(event, now).await?;
    Ok((created, token))
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
        assert_eq!(da, kiteline_core::crypto::token_digest(&a));
        assert!(!super::looks_like_token("../../etc/passwd"));
        assert!(!super::looks_like_token("short"));
    }
}
