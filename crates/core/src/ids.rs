//! Auth0 id formats, generated from the OS's CSPRNG.

use rand::{Rng, distributions::Alphanumeric, rngs::OsRng};

fn alnum(n: usize) -> String {
    OsRng
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn hex(n_bytes: usize) -> String {
    let mut b = vec![0u8; n_bytes];
    OsRng.fill(b.as_mut_slice());
    hex::encode(b)
}

/// 32 alphanumeric characters, like Auth0's `client_id`.
pub fn client_id() -> String {
    alnum(32)
}

/// 64 characters of `[A-Za-z0-9_-]`, like Auth0's `client_secret`.
pub fn client_secret() -> String {
    const SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..64)
        .map(|_| char::from(SET[OsRng.gen_range(0..SET.len())]))
        .collect()
}

/// 24 lower-case hex characters, like a resource server's or user's id.
pub fn hex24() -> String {
    hex(12)
}

/// `prefix_` followed by `n` alphanumeric characters (`cgr_…`, `cred_…`, `rol_…`).
pub fn prefixed(prefix: &str, n: usize) -> String {
    format!("{prefix}_{}", alnum(n))
}

/// `n` characters of the base58 alphabet (no `0`, `O`, `I`, `l`), as in Auth0's newer ids
/// (`grp_…`).
pub fn base58(n: usize) -> String {
    const SET: &[u8] = b"123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    (0..n)
        .map(|_| char::from(SET[OsRng.gen_range(0..SET.len())]))
        .collect()
}

/// A random key id for signing keys.
pub fn kid() -> String {
    alnum(22)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let c = client_id();
        assert_eq!(c.len(), 32);
        assert!(c.chars().all(|ch| ch.is_ascii_alphanumeric()));
        assert_ne!(client_id(), c);
        assert_eq!(client_secret().len(), 64);
        let h = hex24();
        assert_eq!(h.len(), 24);
        assert!(
            h.chars()
                .all(|ch| ch.is_ascii_hexdigit() && !ch.is_ascii_uppercase())
        );
        assert!(prefixed("cgr", 16).starts_with("cgr_"));
        assert_eq!(prefixed("cgr", 16).len(), 20);
    }
}
