//! Password and secret hashing. bcrypt at Auth0's default cost; callers run these on a
//! blocking pool, never on the async workers.

use secrecy::{ExposeSecret, SecretString};

pub const BCRYPT_COST: u32 = 10;

pub fn hash(password: &SecretString) -> anyhow::Result<String> {
    Ok(bcrypt::hash(password.expose_secret(), BCRYPT_COST)?)
}

pub fn verify(password: &SecretString, hash: &str) -> bool {
    bcrypt::verify(password.expose_secret(), hash).unwrap_or(false)
}

/// Constant-time comparison of two secrets (client secrets are compared, not hashed, since
/// Auth0 shows them again to callers with `read:client_keys`).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_round_trip() {
        let pw = SecretString::from("correct horse");
        let h = hash(&pw).unwrap();
        assert!(h.starts_with("$2b$10$"));
        assert!(verify(&pw, &h));
        assert!(!verify(&SecretString::from("wrong"), &h));
    }

    #[test]
    fn secret_compare() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }
}
