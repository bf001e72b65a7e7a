//! The vault: the loaded keyring, plus the OS random source for nonces.
//!
//! At start-up [`Vault::load`] reads the wrapped data keys from the store,
//! creates the first one if there is none, unwraps them with the key file's
//! KEKs, and re-wraps any key still under an older KEK (so rotating a KEK is:
//! add `kek.N+1` to the key file, restart every node, then remove `kek.N`).

use std::sync::Arc;

use jiff::Timestamp;
use kiteline_core::crypto::{CryptoError, FieldContext, KekRing, Keyring, SecretKey};

use crate::{Store, StoreError, StoredDataKey, random_bytes};

/// A field value sealed by the vault (XChaCha20-Poly1305 under a data key,
/// bound to its table, column and row). Only [`Vault::seal`] makes one from
/// plaintext, so a store method that takes `Sealed` cannot be handed
/// plaintext by mistake: the compiler checks "stores never see plaintext".
///
/// Outside this crate there is no other way to make one:
///
/// ```compile_fail
/// let phone = kiteline_store::Sealed(b"+15105550100".to_vec());
/// ```
///
/// ```compile_fail
/// let phone = kiteline_store::Sealed::stored(b"+15105550100".to_vec());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(Vec<u8>);

impl Sealed {
    /// Bytes read back from the database, sealed when they were written.
    pub(crate) fn stored(bytes: Vec<u8>) -> Sealed {
        Sealed(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("data key {version} cannot be unwrapped: {source} (is this the key file that belongs to this database?)")]
    Unwrap { version: u32, source: CryptoError },
    #[error("the key file holds no key-encryption key")]
    NoKek,
}

#[derive(Clone, Debug)]
pub struct Vault {
    ring: Arc<Keyring>,
}

impl Vault {
    pub async fn load(store: &Store, keks: &KekRing, blind: SecretKey, now: Timestamp) -> Result<Vault, VaultError> {
        let current_kek = keks.current_version().ok_or(VaultError::NoKek)?;
        let mut stored = store.data_keys().await?;
        if stored.is_empty() {
            let dek = SecretKey::from_bytes(random_bytes());
            let first = StoredDataKey { version: 1, wrapped: keks.wrap(1, &dek, random_bytes()) };
            match store.insert_data_key(first, now).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {} // another node won the race
                Err(e) => return Err(e.into()),
            }
            stored = store.data_keys().await?;
        }
        let mut ring: Option<Keyring> = None;
        // Highest version last, so it becomes current.
        for key in &stored {
            let (version, dek) =
                keks.unwrap(&key.wrapped).map_err(|source| VaultError::Unwrap { version: key.version, source })?;
            if KekRing::wrapped_under(&key.wrapped) != Some(current_kek) {
                store.rewrap_data_key(version, &keks.wrap(version, &dek, random_bytes())).await?;
                tracing::info!(
                    data_key = version,
                    kek = current_kek,
                    "re-wrapped data key under the newest key-encryption key"
                );
            }
            match ring.as_mut() {
                None => ring = Some(Keyring::new(version, dek, blind.clone())),
                Some(r) => r.rotate_to(version, dek),
            }
        }
        let ring = ring.expect("at least one data key exists");
        store.set_keys(crate::StoreKeys::from_blind(ring.blind_key()));
        Ok(Vault { ring: Arc::new(ring) })
    }

    /// A vault over a given keyring (tests, tools).
    pub fn from_keyring(ring: Keyring) -> Vault {
        Vault { ring: Arc::new(ring) }
    }

    pub fn seal(&self, ctx: FieldContext<'_>, plaintext: &[u8]) -> Sealed {
        Sealed(self.ring.seal(ctx, plaintext, random_bytes()))
    }

    pub fn open(&self, ctx: FieldContext<'_>, sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
        self.ring.open(ctx, &sealed.0)
    }

    pub fn blind_index(&self, domain: &str, normalized: &str) -> [u8; 32] {
        self.ring.blind_index(domain, normalized)
    }

    pub fn derive(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        self.ring.derive(purpose, data)
    }

    pub fn audit_key(&self) -> [u8; 32] {
        self.ring.audit_key()
    }

    pub fn current_data_key(&self) -> u32 {
        self.ring.current_version()
    }
}
