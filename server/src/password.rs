//! Argon2id password hashes in PHC string form; the plain password is never stored.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

/// Hashes with Argon2id and the crate's recommended parameters (19 MiB, 2 passes).
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)?;
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// False for a wrong password and for a hash that cannot be parsed.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_is_argon2id_and_verifies() {
        let phc = super::hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(!phc.contains("correct horse"));
        assert!(super::verify("correct horse", &phc));
        assert!(!super::verify("wrong horse", &phc));
        assert!(!super::verify("x", "not a hash"));
    }
}
