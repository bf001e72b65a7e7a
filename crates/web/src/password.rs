//! Password hashing: Argon2id with OWASP's parameters (19 MiB, 2 passes, one
//! lane), always on the blocking pool so a burst of logins cannot stall the
//! async workers that serve everyone else.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use kiteline_core::PasswordHash;

use crate::error::AppError;

fn argon() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("static parameters are valid"),
    )
}

pub async fn hash(password: String) -> Result<PasswordHash, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&kiteline_store::random_bytes::<16>()).expect("16 bytes is a valid salt");
        argon().hash_password(password.as_bytes(), &salt).map(|h| PasswordHash::from_phc(h.to_string()))
    })
    .await
    .map_err(|e| AppError::Internal(format!("hashing task failed: {e}")))?
    .map_err(|e| AppError::Internal(format!("hashing failed: {e}")))
}

pub async fn verify(password: String, stored: PasswordHash) -> Result<bool, AppError> {
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
