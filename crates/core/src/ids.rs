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

/// A ULID (26 characters of Crockford's base32: 48 bits of milliseconds since the epoch, then
/// 80 random bits), as Auth0's hook ids. Ids made later sort after earlier ones.
pub fn ulid() -> String {
    const SET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let random: u128 = OsRng.r#gen::<u128>() & ((1u128 << 80) - 1);
    let value = ((millis & ((1u128 << 48) - 1)) << 80) | random;
    (0..26)
        .rev()
        .map(|i| char::from(SET[((value >> (i * 5)) & 31) as usize]))
        .collect()
}

/// `n` characters of the base58 alphabet (no `0`, `O`, `I`, `l`), as in Auth0's newer ids
/// (`grp_…`).
pub fn base58(n: usize) -> String {
    const SET: &[u8] = b"123456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    (0..n)
        .map(|_| char::from(SET[OsRng.gen_range(0..SET.len())]))
        .collect()
}

/// A random UUID (version 4, RFC 9562), lower-case and hyphenated.
pub fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    OsRng.fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// `n_bytes` random bytes as lower-case hex (`2 * n_bytes` characters).
pub fn hex_key(n_bytes: usize) -> String {
    hex(n_bytes)
}

/// A random key id for signing keys.
pub fn kid() -> String {
    alnum(22)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_sort_by_time() {
        let a = ulid();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = ulid();
        assert_eq!(a.len(), 26);
        assert!(a < b, "{a} < {b}");
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
    }

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
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
        assert!(matches!(u.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert_eq!(u.matches('-').count(), 4);
        assert_eq!(hex_key(64).len(), 128);
    }
}
