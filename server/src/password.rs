//! Argon2id password hashes in PHC string form; the plain password is never stored.
//!
//! Each hash works in 19 MiB of memory. It is borrowed from a pool instead of allocated per
//! sign-in: a fresh 19 MiB allocation and free for every login made glibc raise its mmap
//! threshold and keep the freed blocks, so a burst of logins left the server tens of MiB larger
//! (measured by W5 in docs/benchmarks.md). The pool holds at most one buffer per hash allowed
//! to run at once.

use std::sync::Mutex;

use argon2::password_hash::{self, Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;

/// Reusable Argon2 working memory for up to `capacity` hashes at once.
pub struct Passwords {
    pool: Mutex<Vec<Vec<Block>>>,
    capacity: usize,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").field("capacity", &self.capacity).finish_non_exhaustive()
    }
}

impl Passwords {
    pub fn new(capacity: usize) -> Self {
        Passwords { pool: Mutex::new(Vec::new()), capacity }
    }

    /// Hashes with Argon2id and the crate's recommended parameters (19 MiB, 2 passes).
    pub fn hash(&self, password: &str) -> Result<String, password_hash::Error> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt)?;
        let params = Params::default();
        let output =
            self.compute(Algorithm::Argon2id, Version::V0x13, &params, password, salt.as_salt())?;
        Ok(PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        }
        .to_string())
    }

    /// False for a wrong password and for a hash that cannot be parsed.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        let check = || -> Result<bool, password_hash::Error> {
            let parsed = PasswordHash::new(phc)?;
            let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
                return Ok(false);
            };
            let algorithm = Algorithm::try_from(parsed.algorithm)?;
            let version = parsed.version.map(Version::try_from).transpose()?.unwrap_or_default();
            let params = Params::try_from(&parsed)?;
            // `Output` compares in constant time.
            Ok(self.compute(algorithm, version, &params, password, salt)? == expected)
        };
        check().unwrap_or(false)
    }

    fn compute(
        &self,
        algorithm: Algorithm,
        version: Version,
        params: &Params,
        password: &str,
        salt: Salt<'_>,
    ) -> Result<Output, password_hash::Error> {
        let mut salt_buf = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_buf)?;
        let argon = Argon2::new(algorithm, version, params.clone());
        let mut memory = self.take(params.block_count());
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = Output::init_with(output_len, |out| {
            Ok(argon.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory)?)
        });
        self.give_back(memory);
        output
    }

    fn take(&self, blocks: usize) -> Vec<Block> {
        let pooled = self.pool.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut memory = pooled.unwrap_or_default();
        memory.resize(blocks, Block::default());
        memory
    }

    fn give_back(&self, memory: Vec<Block>) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < self.capacity {
            pool.push(memory);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::Passwords;
    use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let passwords = Passwords::new(1);
        let phc = passwords.hash("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(passwords.verify("correct horse", &phc));
        assert!(!passwords.verify("wrong horse", &phc));
        assert!(!passwords.verify("x", "not a hash"));
        assert!(!passwords.verify("x", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ"));
    }

    #[test]
    fn hashes_agree_with_the_argon2_crate_both_ways() {
        let passwords = Passwords::new(1);
        // The crate's own hasher made the hashes stored before the pool existed.
        let salt = SaltString::encode_b64(b"somesaltsomesalt").unwrap();
        let theirs = argon2::Argon2::default().hash_password(b"hunter22", &salt).unwrap();
        assert!(passwords.verify("hunter22", &theirs.to_string()));
        assert!(!passwords.verify("hunter23", &theirs.to_string()));
        let ours = passwords.hash("hunter22").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon2::Argon2::default().verify_password(b"hunter22", &parsed).is_ok());
    }

    #[test]
    fn the_pool_keeps_at_most_its_capacity() {
        let passwords = Passwords::new(1);
        let a = passwords.take(8);
        let b = passwords.take(8);
        passwords.give_back(a);
        passwords.give_back(b);
        assert_eq!(passwords.pool.lock().unwrap().len(), 1);
    }
}
