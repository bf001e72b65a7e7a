//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps,
//! 6 digits), the base32 their secrets travel in, and the `otpauth://` URI an
//! authenticator app scans.
//!
//! Replay: [`verify`] accepts a code only for a step later than the last one
//! accepted for the account, so each code works once.

use hmac::{Hmac, Mac};
use sha1::Sha1;

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps either side of now that are accepted, for clock drift.
pub const WINDOW: i64 = 1;

/// The HOTP value (RFC 4226) of `secret` at `counter`, with `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = (h[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([h[offset] & 0x7f, h[offset + 1], h[offset + 2], h[offset + 3]]);
    bin % 10u32.pow(digits)
}

pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The step a typed `code` matches near `unix_seconds`, if it is later than
/// `last_step` (the step of the last code accepted), else `None`.
pub fn verify(secret: &[u8], code: &str, unix_seconds: i64, last_step: Option<i64>) -> Option<i64> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let typed: u32 = digits.parse().ok()?;
    let now = step_at(unix_seconds);
    let mut matched = None;
    // Check every step in the window (no early exit) so timing reveals nothing.
    for step in now - WINDOW..=now + WINDOW {
        if step >= 0
            && crate::crypto::constant_time_eq(&hotp(secret, step as u64, DIGITS).to_be_bytes(), &typed.to_be_bytes())
        {
            matched = Some(step);
        }
    }
    matched.filter(|s| last_step.is_none_or(|last| *s > last))
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in s.chars().filter(|c| *c != '=' && !c.is_whitespace()) {
        let v = ALPHABET.iter().position(|a| *a as char == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// The provisioning URI: `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=…`.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(issuer),
        enc(account),
        base32_encode(secret),
        enc(issuer)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc6238_sha1_test_vectors() {
        for (t, expected) in [
            (59i64, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            assert_eq!(hotp(RFC_SECRET, (t / 30) as u64, 8), expected, "T={t}");
        }
    }

    #[test]
    fn a_code_is_accepted_once_and_only_near_its_time() {
        let t = 1_800_000_000;
        let code = format!("{:06}", hotp(RFC_SECRET, step_at(t) as u64, 6));
        let step = verify(RFC_SECRET, &code, t, None).unwrap();
        assert_eq!(verify(RFC_SECRET, &code, t, Some(step)), None, "replay refused");
        assert_eq!(verify(RFC_SECRET, &code, t + 30, None), Some(step), "one step of drift is fine");
        assert_eq!(verify(RFC_SECRET, &code, t + 95, None), None, "three steps later it is stale");
        assert_eq!(verify(RFC_SECRET, &format!("{} {}", &code[..3], &code[3..]), t, None), Some(step));
        for bad in ["", "12345", "1234567", "abcdef"] {
            assert_eq!(verify(RFC_SECRET, bad, t, None), None);
        }
    }

    #[test]
    fn otpauth_uri_is_escaped() {
        let uri = otpauth_uri("Línea K", "ana@example.org", b"hello");
        assert_eq!(
            uri,
            "otpauth://totp/L%C3%ADnea%20K:ana@example.org?secret=NBSWY3DP&issuer=L%C3%ADnea%20K&algorithm=SHA1&digits=6&period=30"
        );
    }

    proptest! {
        #[test]
        fn base32_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(base32_decode(&base32_encode(&bytes)).unwrap(), bytes);
        }
    }

    #[test]
    fn base32_known_values() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("mzxw6ytboi").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZ1"), None);
    }
}
