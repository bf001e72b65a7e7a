//! Field encryption: an envelope of XChaCha20-Poly1305 keys.
//!
//! Three kinds of key, each with its own job:
//!
//! * **Key-encryption keys** (KEKs) live outside the database, in the key file.
//!   They only ever encrypt data keys. Rotating a KEK re-wraps the data keys,
//!   which is cheap and touches no field.
//! * **Data keys** (DEKs) encrypt fields. They are stored in the database
//!   *wrapped* (sealed under a KEK), so a copy of the database alone opens
//!   nothing. Each has a version; a new version becomes current for new writes
//!   and old fields are re-sealed to it in the background.
//! * **The blind-index key** makes keyed hashes of normalised values (an ID
//!   number, a surname) for exact-match lookup without decrypting. It is a
//!   separate key so that learning an index tells nothing about ciphertexts.
//!
//! Every sealed field binds, as associated data, the table, column and row id
//! it belongs to and the data-key version. A ciphertext copied to another row or
//! column, or relabelled with another key version, fails to open.
//!
//! Formats (all integers big-endian):
//! * sealed field: `"KLF1"` ‖ dek_version u32 ‖ nonce 24 B ‖ ciphertext+tag
//! * wrapped key: `"KLW1"` ‖ kek_version u32 ‖ dek_version u32 ‖ nonce 24 B ‖ ciphertext+tag
//!
//! Nonces are 192-bit and random, supplied by the caller (this crate does no
//! IO); at that size random nonces never realistically collide.

use std::collections::BTreeMap;
use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

pub const KEY_LEN: usize = 32;
pub const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const FIELD_MAGIC: &[u8; 4] = b"KLF1";
const WRAP_MAGIC: &[u8; 4] = b"KLW1";
const FIELD_HEADER: usize = 4 + 4 + NONCE_LEN;
const WRAP_HEADER: usize = 4 + 4 + 4 + NONCE_LEN;

/// Why something could not be opened. Deliberately coarse: the caller learns
/// that a value is unusable, not which byte was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("no key with version {0} is loaded")]
    UnknownKeyVersion(u32),
    #[error("sealed value failed authentication (tampered, moved, or wrong key)")]
    Forged,
}

/// 32 bytes of key material, wiped from memory when dropped and never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; KEY_LEN]>);

impl SecretKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretKey {
        SecretKey(Zeroizing::new(bytes))
    }

    pub fn from_slice(bytes: &[u8]) -> Option<SecretKey> {
        let arr: [u8; KEY_LEN] = bytes.try_into().ok()?;
        Some(SecretKey::from_bytes(arr))
    }

    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    fn aead(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_slice().into())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// Where a sealed value lives. Bound into the ciphertext as associated data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldContext<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row_id: &'a str,
}

impl<'a> FieldContext<'a> {
    pub fn new(table: &'a str, column: &'a str, row_id: &'a str) -> Self {
        FieldContext { table, column, row_id }
    }

    /// Length-prefixed parts, so that ("ab","c") and ("a","bc") differ.
    fn associated_data(&self, dek_version: u32) -> Vec<u8> {
        let mut aad = Vec::with_capacity(64);
        for part in ["kiteline/field/v1", self.table, self.column, self.row_id] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad.extend_from_slice(&dek_version.to_be_bytes());
        aad
    }
}

/// The key-encryption keys from the key file, by version; the highest is current.
#[derive(Clone, Debug, Default)]
pub struct KekRing {
    keys: BTreeMap<u32, SecretKey>,
}

impl KekRing {
    pub fn new() -> Self {
        KekRing::default()
    }

    pub fn insert(&mut self, version: u32, key: SecretKey) {
        self.keys.insert(version, key);
    }

    pub fn current_version(&self) -> Option<u32> {
        self.keys.keys().next_back().copied()
    }

    pub fn versions(&self) -> impl Iterator<Item = u32> + '_ {
        self.keys.keys().copied()
    }

    /// Seals a data key under the current KEK.
    ///
    /// # Panics
    /// If the ring is empty; loading a key file guarantees one key.
    pub fn wrap(&self, dek_version: u32, dek: &SecretKey, nonce: [u8; NONCE_LEN]) -> Vec<u8> {
        let kek_version = self.current_version().expect("key ring has at least one key");
        let kek = &self.keys[&kek_version];
        let aad = wrap_aad(kek_version, dek_version);
        let ct = kek
            .aead()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: dek.expose(), aad: &aad })
            .expect("XChaCha20-Poly1305 encryption of 32 bytes cannot fail");
        let mut out = Vec::with_capacity(WRAP_HEADER + ct.len());
        out.extend_from_slice(WRAP_MAGIC);
        out.extend_from_slice(&kek_version.to_be_bytes());
        out.extend_from_slice(&dek_version.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a wrapped data key, returning its version and the key.
    pub fn unwrap(&self, wrapped: &[u8]) -> Result<(u32, SecretKey), CryptoError> {
        if wrapped.len() != WRAP_HEADER + KEY_LEN + TAG_LEN || &wrapped[..4] != WRAP_MAGIC {
            return Err(CryptoError::Malformed);
        }
        let kek_version = u32::from_be_bytes(wrapped[4..8].try_into().unwrap());
        let dek_version = u32::from_be_bytes(wrapped[8..12].try_into().unwrap());
        let kek = self.keys.get(&kek_version).ok_or(CryptoError::UnknownKeyVersion(kek_version))?;
        let aad = wrap_aad(kek_version, dek_version);
        let pt = Zeroizing::new(
            kek.aead()
                .decrypt(
                    XNonce::from_slice(&wrapped[12..WRAP_HEADER]),
                    Payload { msg: &wrapped[WRAP_HEADER..], aad: &aad },
                )
                .map_err(|_| CryptoError::Forged)?,
        );
        let key = SecretKey::from_slice(&pt).ok_or(CryptoError::Malformed)?;
        Ok((dek_version, key))
    }

    /// Re-wraps a data key under the current KEK (KEK rotation).
    pub fn rewrap(&self, wrapped: &[u8], nonce: [u8; NONCE_LEN]) -> Result<Vec<u8>, CryptoError> {
        let (dek_version, dek) = self.unwrap(wrapped)?;
        Ok(self.wrap(dek_version, &dek, nonce))
    }

    /// The KEK version a wrapped key was sealed under.
    pub fn wrapped_under(wrapped: &[u8]) -> Option<u32> {
        (wrapped.len() >= 8 && &wrapped[..4] == WRAP_MAGIC)
            .then(|| u32::from_be_bytes(wrapped[4..8].try_into().unwrap()))
    }
}

fn wrap_aad(kek_version: u32, dek_version: u32) -> Vec<u8> {
    let mut aad = b"kiteline/wrap/v1".to_vec();
    aad.extend_from_slice(&kek_version.to_be_bytes());
    aad.extend_from_slice(&dek_version.to_be_bytes());
    aad
}

/// The data keys and the blind-index key: everything needed to seal and open
/// fields and to compute lookup indexes. Cheap to share behind an `Arc`.
#[derive(Clone, Debug)]
pub struct Keyring {
    data_keys: BTreeMap<u32, SecretKey>,
    current: u32,
    blind: SecretKey,
}

impl Keyring {
    pub fn new(current_version: u32, current: SecretKey, blind: SecretKey) -> Keyring {
        let mut data_keys = BTreeMap::new();
        data_keys.insert(current_version, current);
        Keyring { data_keys, current: current_version, blind }
    }

    /// Adds an older data key, kept so existing fields still open.
    pub fn add_previous(&mut self, version: u32, key: SecretKey) {
        if version != self.current {
            self.data_keys.insert(version, key);
        }
    }

    /// Makes a new data key current (data-key rotation); the old stays for opening.
    pub fn rotate_to(&mut self, version: u32, key: SecretKey) {
        self.data_keys.insert(version, key);
        self.current = version;
    }

    /// Forgets a data key once nothing is sealed with it any more.
    pub fn retire(&mut self, version: u32) {
        if version != self.current {
            self.data_keys.remove(&version);
        }
    }

    pub fn current_version(&self) -> u32 {
        self.current
    }

    pub fn seal(&self, ctx: FieldContext<'_>, plaintext: &[u8], nonce: [u8; NONCE_LEN]) -> Vec<u8> {
        let key = &self.data_keys[&self.current];
        let aad = ctx.associated_data(self.current);
        let ct = key
            .aead()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad })
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory input");
        let mut out = Vec::with_capacity(FIELD_HEADER + ct.len());
        out.extend_from_slice(FIELD_MAGIC);
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, ctx: FieldContext<'_>, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let version = sealed_version(sealed).ok_or(CryptoError::Malformed)?;
        if sealed.len() < FIELD_HEADER + TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        let key = self.data_keys.get(&version).ok_or(CryptoError::UnknownKeyVersion(version))?;
        let aad = ctx.associated_data(version);
        key.aead()
            .decrypt(XNonce::from_slice(&sealed[8..FIELD_HEADER]), Payload { msg: &sealed[FIELD_HEADER..], aad: &aad })
            .map_err(|_| CryptoError::Forged)
    }

    /// Opens with whichever key sealed it and seals again with the current key.
    pub fn reseal(&self, ctx: FieldContext<'_>, sealed: &[u8], nonce: [u8; NONCE_LEN]) -> Result<Vec<u8>, CryptoError> {
        let pt = Zeroizing::new(self.open(ctx, sealed)?);
        Ok(self.seal(ctx, &pt, nonce))
    }

    /// True when a sealed value uses an older data key and should be re-sealed.
    pub fn is_stale(&self, sealed: &[u8]) -> bool {
        sealed_version(sealed) != Some(self.current)
    }

    /// A keyed hash of an already-normalised value, for exact-match lookup.
    /// `domain` names what is indexed (e.g. `"person.id_number"`), so equal
    /// values in different columns do not share an index value.
    pub fn blind_index(&self, domain: &str, normalized: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.blind.expose()).expect("HMAC accepts any key length");
        mac.update(b"kiteline/blind/v1");
        mac.update(&(domain.len() as u32).to_be_bytes());
        mac.update(domain.as_bytes());
        mac.update(normalized.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// A key derived from the key file's blind-index key alone, for `label`:
/// available before the database is open, stable across KEK and data-key
/// rotations, and impossible to recompute from the database alone.
pub fn server_key(blind: &SecretKey, label: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(blind.expose()).expect("HMAC accepts any key length");
    mac.update(format!("kiteline/{label}/v1").as_bytes());
    mac.finalize().into_bytes().into()
}

/// The audit chain's key (see [`Keyring::audit_key`]).
pub fn audit_key_of(blind: &SecretKey) -> [u8; 32] {
    server_key(blind, "audit-key")
}

/// The key of the MAC over each user row's security-relevant columns.
pub fn user_row_key_of(blind: &SecretKey) -> [u8; 32] {
    server_key(blind, "user-row-key")
}

/// HMAC-SHA256 under `key` of length-prefixed `parts`, after a `domain`
/// label, as hex.
pub fn keyed_hex(key: &[u8; 32], domain: &str, parts: &[&[u8]]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(domain.as_bytes());
    for p in parts {
        mac.update(&(p.len() as u32).to_be_bytes());
        mac.update(p);
    }
    hex(&mac.finalize().into_bytes())
}

impl Keyring {
    /// The key that seals the audit chain, derived from the blind-index key
    /// (which never rotates), so the chain stays verifiable across KEK and
    /// data-key rotations and cannot be recomputed from the database alone.
    pub fn audit_key(&self) -> [u8; 32] {
        audit_key_of(&self.blind)
    }

    /// The blind-index key, for deriving the server's other keys.
    pub fn blind_key(&self) -> &SecretKey {
        &self.blind
    }

    /// A keyed digest for other server-side secrets (CSRF tokens, keyed
    /// rate-limit keys), separated by `purpose`.
    pub fn derive(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.blind.expose()).expect("HMAC accepts any key length");
        mac.update(b"kiteline/derive/v1");
        mac.update(&(purpose.len() as u32).to_be_bytes());
        mac.update(purpose.as_bytes());
        mac.update(data);
        mac.finalize().into_bytes().into()
    }
}

/// The data-key version recorded in a sealed value's header.
pub fn sealed_version(sealed: &[u8]) -> Option<u32> {
    (sealed.len() >= 8 && &sealed[..4] == FIELD_MAGIC).then(|| u32::from_be_bytes(sealed[4..8].try_into().unwrap()))
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// SHA-256 of a high-entropy secret (a token), as hex: what is stored in place
/// of the token. A slow hash is unnecessary for 256-bit random tokens.
pub fn token_digest(token: &str) -> String {
    use sha2::Digest;
    hex(&Sha256::digest(token.as_bytes()))
}

/// What is stored in place of a secret token (a session id, a single-use
/// link, an API token, a recovery code): its SHA-256, as hex.
///
/// A type of its own so a digest cannot be mixed up with a token, a password
/// hash or any other string: the only way to make one is [`TokenDigest::of`]
/// (or, inside the store, from a stored row).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TokenDigest(String);

impl TokenDigest {
    /// The digest of `token`.
    pub fn of(token: &str) -> TokenDigest {
        TokenDigest(token_digest(token))
    }

    /// A digest as read back from storage (64 lower-case hex characters).
    pub fn from_stored(hex_digest: String) -> Option<TokenDigest> {
        (hex_digest.len() == 64 && hex_digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then_some(TokenDigest(hex_digest))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Digests identify sessions and links: keep them out of debug output too.
impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(<redacted>)")
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(b: u8) -> SecretKey {
        SecretKey::from_bytes([b; KEY_LEN])
    }

    fn ring() -> Keyring {
        Keyring::new(1, key(1), key(99))
    }

    fn ctx(row: &str) -> FieldContext<'_> {
        FieldContext::new("people", "name", row)
    }

    proptest! {
        #[test]
        fn seal_then_open_round_trips(pt in proptest::collection::vec(any::<u8>(), 0..512),
                                      row in "[a-z0-9-]{1,40}", nonce in any::<[u8; 24]>()) {
            let r = ring();
            let sealed = r.seal(ctx(&row), &pt, nonce);
            prop_assert_eq!(r.open(ctx(&row), &sealed).unwrap(), pt);
        }

        #[test]
        fn any_flipped_byte_is_detected(pt in proptest::collection::vec(any::<u8>(), 1..128),
                                        nonce in any::<[u8; 24]>(), pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let r = ring();
            let mut sealed = r.seal(ctx("row-1"), &pt, nonce);
            let i = pos.index(sealed.len());
            sealed[i] ^= 1 << bit;
            prop_assert!(r.open(ctx("row-1"), &sealed).is_err());
        }

        #[test]
        fn a_ciphertext_moved_to_another_place_fails(pt in proptest::collection::vec(any::<u8>(), 0..64),
                                                      a in "[a-z0-9]{1,12}", b in "[a-z0-9]{1,12}", nonce in any::<[u8; 24]>()) {
            prop_assume!(a != b);
            let r = ring();
            let sealed = r.seal(FieldContext::new("people", "name", &a), &pt, nonce);
            prop_assert_eq!(r.open(FieldContext::new("people", "name", &b), &sealed), Err(CryptoError::Forged));
            prop_assert_eq!(r.open(FieldContext::new("people", "notes", &a), &sealed), Err(CryptoError::Forged));
            prop_assert_eq!(r.open(FieldContext::new("calls", "name", &a), &sealed), Err(CryptoError::Forged));
        }

        #[test]
        fn data_key_rotation_keeps_old_fields_readable_and_reseals(pt in proptest::collection::vec(any::<u8>(), 0..128),
                                                                    n1 in any::<[u8; 24]>(), n2 in any::<[u8; 24]>()) {
            let mut r = ring();
            let old = r.seal(ctx("r"), &pt, n1);
            r.rotate_to(2, key(2));
            prop_assert!(r.is_stale(&old));
            prop_assert_eq!(r.open(ctx("r"), &old).unwrap(), pt.clone());
            let new = r.reseal(ctx("r"), &old, n2).unwrap();
            prop_assert_eq!(sealed_version(&new), Some(2));
            prop_assert!(!r.is_stale(&new));
            r.retire(1);
            prop_assert_eq!(r.open(ctx("r"), &old), Err(CryptoError::UnknownKeyVersion(1)));
            prop_assert_eq!(r.open(ctx("r"), &new).unwrap(), pt);
        }

        #[test]
        fn kek_rotation_rewraps_data_keys(dek in any::<[u8; 32]>(), n1 in any::<[u8; 24]>(), n2 in any::<[u8; 24]>()) {
            let mut keks = KekRing::new();
            keks.insert(1, key(10));
            let wrapped = keks.wrap(7, &SecretKey::from_bytes(dek), n1);
            keks.insert(2, key(20));
            let rewrapped = keks.rewrap(&wrapped, n2).unwrap();
            prop_assert_eq!(KekRing::wrapped_under(&rewrapped), Some(2));
            let mut only_new = KekRing::new();
            only_new.insert(2, key(20));
            let (v, k) = only_new.unwrap(&rewrapped).unwrap();
            prop_assert_eq!(v, 7);
            prop_assert_eq!(k.expose(), &dek);
            prop_assert_eq!(only_new.unwrap(&wrapped).map(|_| ()), Err(CryptoError::UnknownKeyVersion(1)));
        }

        #[test]
        fn blind_index_is_deterministic_and_separated(v in "[A-Z0-9]{1,16}", w in "[A-Z0-9]{1,16}") {
            let r = ring();
            prop_assert_eq!(r.blind_index("person.id_number", &v), r.blind_index("person.id_number", &v));
            prop_assert_ne!(r.blind_index("person.id_number", &v), r.blind_index("person.surname", &v));
            if v != w {
                prop_assert_ne!(r.blind_index("person.id_number", &v), r.blind_index("person.id_number", &w));
            }
        }
    }

    #[test]
    fn relabelled_key_version_fails() {
        let mut r = ring();
        r.add_previous(2, key(1)); // same key bytes under another version number
        let mut sealed = r.seal(ctx("r"), b"secret", [3; 24]);
        sealed[4..8].copy_from_slice(&2u32.to_be_bytes());
        assert_eq!(r.open(ctx("r"), &sealed), Err(CryptoError::Forged));
    }

    #[test]
    fn wrapped_key_under_wrong_dek_version_fails() {
        let mut keks = KekRing::new();
        keks.insert(1, key(10));
        let mut wrapped = keks.wrap(1, &key(5), [0; 24]);
        wrapped[8..12].copy_from_slice(&9u32.to_be_bytes());
        assert_eq!(keks.unwrap(&wrapped).map(|_| ()), Err(CryptoError::Forged));
    }

    #[test]
    fn blind_key_differs_from_field_keys() {
        let a = Keyring::new(1, key(1), key(2));
        let b = Keyring::new(1, key(1), key(3));
        assert_ne!(a.blind_index("d", "X"), b.blind_index("d", "X"));
        assert_eq!(format!("{:?}", key(1)), "SecretKey(<redacted>)");
    }

    #[test]
    fn truncated_and_foreign_values_are_malformed() {
        let r = ring();
        assert_eq!(r.open(ctx("r"), b""), Err(CryptoError::Malformed));
        assert_eq!(r.open(ctx("r"), b"KLF1\0\0\0\x01short"), Err(CryptoError::Malformed));
        assert_eq!(r.open(ctx("r"), b"plain text that was never sealed"), Err(CryptoError::Malformed));
    }

    #[test]
    fn helpers() {
        assert_eq!(hex(&[0, 255, 16]), "00ff10");
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert_eq!(token_digest("x").len(), 64);
    }

    #[test]
    fn token_digests_are_sha256_hex_and_redacted() {
        let d = TokenDigest::of("abc");
        assert_eq!(d.as_str(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(TokenDigest::from_stored(d.as_str().to_owned()), Some(d.clone()));
        assert_eq!(TokenDigest::from_stored("not hex".into()), None);
        assert_eq!(TokenDigest::from_stored("A".repeat(64)), None);
        assert_eq!(format!("{d:?}"), "TokenDigest(<redacted>)");
    }

    #[test]
    fn server_keys_are_separated_by_label_and_the_audit_key_is_unchanged() {
        let blind = key(9);
        let r = Keyring::new(1, key(1), blind.clone());
        assert_eq!(r.audit_key(), audit_key_of(&blind));
        assert_ne!(audit_key_of(&blind), user_row_key_of(&blind));
        // The audit key's derivation is what existing chains were sealed with.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(blind.expose()).unwrap();
        mac.update(b"kiteline/audit-key/v1");
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(r.audit_key(), expected);
        assert_ne!(keyed_hex(&[1; 32], "d", &[b"ab", b"c"]), keyed_hex(&[1; 32], "d", &[b"a", b"bc"]));
    }
}
