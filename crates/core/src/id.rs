//! Row identifiers.
//!
//! Ids are made by the application, not the database, because sealed fields
//! bind their row id into the ciphertext's associated data before the row is
//! written. They are UUID version 7 strings: 48 bits of milliseconds then random
//! bits, so they sort by creation time and index well on both engines.

use std::fmt;

/// A UUIDv7 in its canonical lower-case hyphenated form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(String);

impl Id {
    /// Builds an id from a Unix time in milliseconds and ten random bytes.
    pub fn from_parts(unix_ms: u64, random: [u8; 10]) -> Id {
        let mut b = [0u8; 16];
        b[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
        b[6..].copy_from_slice(&random);
        b[6] = 0x70 | (b[6] & 0x0f); // version 7
        b[8] = 0x80 | (b[8] & 0x3f); // RFC 4122 variant
        let h = crate::crypto::hex(&b);
        Id(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
    }

    /// Accepts only the canonical form, so an id can be compared as text.
    pub fn parse(s: &str) -> Option<Id> {
        let b = s.as_bytes();
        if b.len() != 36 {
            return None;
        }
        for (i, c) in b.iter().enumerate() {
            let ok = match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
            };
            if !ok {
                return None;
            }
        }
        Some(Id(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_round_trip() {
        let a = Id::from_parts(1_700_000_000_000, [0xff; 10]);
        let b = Id::from_parts(1_700_000_000_001, [0x00; 10]);
        assert!(a < b);
        assert_eq!(Id::parse(a.as_str()), Some(a.clone()));
        assert_eq!(&a.as_str()[14..15], "7");
    }

    #[test]
    fn parse_rejects_non_canonical_text() {
        assert!(Id::parse("not-an-id").is_none());
        let upper = Id::from_parts(1, [0xab; 10]).as_str().to_uppercase();
        assert!(Id::parse(&upper).is_none());
    }
}
