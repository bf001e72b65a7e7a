//! Password hashing: Argon2id with OWASP's parameters (19 MiB, 2 passes, one
//! lane), always on the blocking pool so a burst of logins cannot stall the
//! async workers that serve everyone else.
//!
//! At most [`MAX_CONCURRENT`] hashes run at once (each holds 19 MiB: a burst
//! of 60 logins once took the server from 149 MB to 1.36 GB). A caller beyond
//! the cap waits up to [`WAIT`], then gets 503 with `Retry-After`.

use std::sync::Mutex;

use argon2::password_hash::{PasswordHash as Phc, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use kiteline_core::PasswordHash;
use kiteline_core::crypto::constant_time_eq;

use crate::error::AppError;

/// Hashes computed at once: 4 × 19 MiB.
pub const MAX_CONCURRENT: usize = 4;
/// How long a caller waits for a free slot before it is told to come back.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(2);

static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT);

/// The working memory of the hashes in progress, allocated once and reused:
/// at most one buffer per slot. Freed and re-allocated 19 MiB blocks are not
/// given back to the system by the allocator, so allocating per hash let a
/// burst grow the process to near a gigabyte even with the cap.
static MEMORY: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

/// A slot to compute one hash in, or 503 after [`WAIT`].
async fn slot() -> Result<tokio::sync::SemaphorePermit<'static>, AppError> {
    slot_in(&SLOTS).await
}

async fn slot_in(slots: &'static tokio::sync::Semaphore) -> Result<tokio::sync::SemaphorePermit<'static>, AppError> {
    match tokio::time::timeout(WAIT, slots.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(AppError::Busy(WAIT.as_secs().max(1))),
    }
}

fn params() -> Params {
    Params::new(19 * 1024, 2, 1, Some(32)).expect("static parameters are valid")
}

/// Runs Argon2id with `params` in a pooled buffer (call with a slot held).
fn argon2_into(params: Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), AppError> {
    let blocks = params.block_count();
    let mut memory = MEMORY.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default();
    if memory.len() != blocks {
        memory = vec![Block::default(); blocks];
    }
    let result = Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password_into_with_memory(
        password,
        salt,
        out,
        &mut memory,
    );
    let mut pool = MEMORY.lock().unwrap_or_else(|p| p.into_inner());
    if pool.len() < MAX_CONCURRENT {
        pool.push(memory);
    }
    result.map_err(|e| AppError::Internal(format!("hashing failed: {e}")))
}

/// A new hash in PHC form (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
pub async fn hash(password: String) -> Result<PasswordHash, AppError> {
    let _slot = slot().await?;
    tokio::task::spawn_blocking(move || {
        let salt = kiteline_store::random_bytes::<16>();
        let p = params();
        let mut out = [0u8; 32];
        argon2_into(p.clone(), password.as_bytes(), &salt, &mut out)?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| AppError::Internal(format!("salt: {e}")))?;
        Ok(PasswordHash::from_phc(format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            p.m_cost(),
            p.t_cost(),
            p.p_cost(),
            salt.as_str(),
            STANDARD_NO_PAD.encode(out)
        )))
    })
    .await
    .map_err(|e| AppError::Internal(format!("hashing task failed: {e}")))?
}

/// Whether `password` matches a stored PHC hash (any Argon2id parameters).
pub async fn verify(password: String, stored: PasswordHash) -> Result<bool, AppError> {
    let _slot = slot().await?;
    tokio::task::spawn_blocking(move || {
        let unreadable = |e: &dyn std::fmt::Display| AppError::Internal(format!("stored hash unreadable: {e}"));
        let parsed = Phc::new(stored.as_str()).map_err(|e| unreadable(&e))?;
        let p = Params::try_from(&parsed).map_err(|e| unreadable(&e))?;
        let expected = parsed.hash.ok_or_else(|| unreadable(&"no hash"))?;
        let mut salt = [0u8; 64];
        let salt =
            parsed.salt.ok_or_else(|| unreadable(&"no salt"))?.decode_b64(&mut salt).map_err(|e| unreadable(&e))?;
        let mut out = vec![0u8; expected.len()];
        argon2_into(p, password.as_bytes(), salt, &mut out)?;
        Ok(constant_time_eq(&out, expected.as_bytes()))
    })
    .await
    .map_err(|e| AppError::Internal(format!("hashing task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_cap_hash_at_once_and_the_rest_are_told_to_wait() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static RUNNING: AtomicUsize = AtomicUsize::new(0);
        static PEAK: AtomicUsize = AtomicUsize::new(0);
        // The same cap as the real one, apart, so other tests are not held up.
        static CAP: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(super::MAX_CONCURRENT);
        let mut tasks = Vec::new();
        for _ in 0..24 {
            tasks.push(tokio::spawn(async {
                let permit = super::slot_in(&CAP).await;
                if permit.is_ok() {
                    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
                    PEAK.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
                    RUNNING.fetch_sub(1, Ordering::SeqCst);
                }
                permit.map(|_| ()).map_err(|e| matches!(e, crate::error::AppError::Busy(_)))
            }));
        }
        let mut refused = 0;
        for t in tasks {
            if let Err(busy) = t.await.unwrap() {
                assert!(busy, "refused with 503");
                refused += 1;
            }
        }
        assert!(PEAK.load(Ordering::SeqCst) <= super::MAX_CONCURRENT);
        // 24 callers, 4 slots, 700 ms each, 2 s of patience: about 12 get in.
        assert!(refused > 0 && refused < 24, "{refused}");
    }

    /// A hash made by the `password-hash` API (as earlier versions stored)
    /// still verifies, and ours has its exact form.
    #[tokio::test]
    async fn hashes_keep_the_phc_form_and_older_hashes_verify() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, super::params());
        let old = argon.hash_password(b"correct horse battery", &salt).unwrap().to_string();
        let old = kiteline_core::PasswordHash::from_phc(old);
        assert!(super::verify("correct horse battery".into(), old.clone()).await.unwrap());
        assert!(!super::verify("correct horse batterY".into(), old).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let a = super::hash("correct horse battery".into()).await.unwrap();
        let b = super::hash("correct horse battery".into()).await.unwrap();
        assert!(a.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_ne!(a, b, "salted");
        assert!(super::verify("correct horse battery".into(), a.clone()).await.unwrap());
        assert!(!super::verify("correct horse batterY".into(), a).await.unwrap());
    }
}
