//! Password hashing: Argon2id with OWASP's parameters (19 MiB, 2 passes, one
//! lane), always on the blocking pool so a burst of logins cannot stall the
//! async workers that serve everyone else.
//!
//! At most [`MAX_CONCURRENT`] hashes run at once (each holds 19 MiB: a burst
//! of 60 logins once took the server from 149 MB to 1.36 GB). A caller beyond
//! the cap waits up to [`WAIT`], then gets 503 with `Retry-After`.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use kiteline_core::PasswordHash;

use crate::error::AppError;

/// Hashes computed at once: 4 × 19 MiB.
pub const MAX_CONCURRENT: usize = 4;
/// How long a caller waits for a free slot before it is told to come back.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(2);

static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(MAX_CONCURRENT);

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

fn argon() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("static parameters are valid"),
    )
}

pub async fn hash(password: String) -> Result<PasswordHash, AppError> {
    let _slot = slot().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&kiteline_store::random_bytes::<16>()).expect("16 bytes is a valid salt");
        argon().hash_password(password.as_bytes(), &salt).map(|h| PasswordHash::from_phc(h.to_string()))
    })
    .await
    .map_err(|e| AppError::Internal(format!("hashing task failed: {e}")))?
    .map_err(|e| AppError::Internal(format!("hashing failed: {e}")))
}

pub async fn verify(password: String, stored: PasswordHash) -> Result<bool, AppError> {
    let _slot = slot().await?;
    tokio::task::spawn_blocking(move || {
        let parsed = argon2::password_hash::PasswordHash::new(stored.as_str())
            .map_err(|e| AppError::Internal(format!("stored hash unreadable: {e}")))?;
        Ok(argon().verify_password(password.as_bytes(), &parsed).is_ok())
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
