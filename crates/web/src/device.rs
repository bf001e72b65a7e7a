//! The device cookie (OWASP's "device cookies" against account lockout): a
//! browser that signed in to an account carries a signed cookie naming that
//! account. Its later logins are limited on their own (`LOGIN_DEVICE`), so
//! failures from strangers — counted against the address — cannot lock the
//! owner out of an account they have used from this browser before.
//!
//! The cookie holds a random nonce and `HMAC(server key, user id ‖ nonce)`;
//! nothing is stored server-side, and it proves nothing but "this browser
//! signed in to this account once".

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use kiteline_core::crypto::{constant_time_eq, hex};
use kiteline_store::Id;

use crate::AppState;
use crate::locale::cookie as read_cookie;

/// A year: a device is remembered as long as it is used.
const MAX_AGE: i64 = 365 * 24 * 3600;

pub fn cookie_name(https: bool) -> &'static str {
    if https { "__Host-kiteline_device" } else { "kiteline_device" }
}

fn mac(state: &AppState, user: &Id, nonce: &str) -> String {
    hex(&state.vault.derive("device-cookie", format!("{user}:{nonce}").as_bytes()))
}

/// A fresh device cookie for `user`.
pub fn cookie(state: &AppState, user: &Id) -> HeaderValue {
    let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(kiteline_store::random_bytes::<16>());
    let https = state.config.is_https();
    let value = format!("{nonce}.{}", mac(state, user, &nonce));
    crate::security::set_cookie(cookie_name(https), &value, https, Some(MAX_AGE))
}

/// The nonce of this browser's device cookie, if it is one Kiteline signed
/// for `user`.
pub fn recognised(state: &AppState, headers: &HeaderMap, user: &Id) -> Option<String> {
    let raw = read_cookie(headers, cookie_name(state.config.is_https()))?;
    let (nonce, tag) = raw.split_once('.')?;
    let shaped = nonce.len() == 22 && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (shaped && constant_time_eq(tag.as_bytes(), mac(state, user, nonce).as_bytes())).then(|| nonce.to_owned())
}
