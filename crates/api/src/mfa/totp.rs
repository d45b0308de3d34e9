//! TOTP (RFC 6238 over RFC 4226's HOTP): HMAC-SHA-1, 6 digits, 30-second steps, as every
//! authenticator app (and Auth0's Guardian `otp` factor) uses. HMAC from aws-lc-rs; base32
//! (RFC 4648, no padding) for the `otpauth://` URI.

use aws_lc_rs::hmac;

/// Seconds per step.
pub const STEP: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;

/// The step that `unix` seconds fall in.
pub fn step_at(unix: i64) -> i64 {
    unix.div_euclid(STEP)
}

/// The code of `step` (RFC 4226's dynamic truncation), zero-padded.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let h = tag.as_ref();
    let offset = usize::from(h[h.len() - 1] & 0x0f);
    let bin = (u32::from(h[offset] & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    format!("{:06}", bin % 10u32.pow(DIGITS))
}

/// The step among `now`'s and its neighbours (±1: clock drift) whose code is `code`, comparing
/// every candidate in constant time (no early exit).
pub fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let here = step_at(now);
    let mut found = None;
    for s in [here - 1, here, here + 1] {
        let expected = code_at(secret, s);
        if aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), code.as_bytes())
            .is_ok()
        {
            found = Some(s);
        }
    }
    found
}

/// RFC 4648 base32 without padding (what authenticator apps read from `secret=`).
pub fn base32(bytes: &[u8]) -> String {
    const SET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(SET[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(SET[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B (SHA-1 key "12345678901234567890"), last six digits.
    #[test]
    fn rfc6238_vectors() {
        let key = b"12345678901234567890";
        for (t, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(code_at(key, step_at(t)), code, "t={t}");
        }
    }

    #[test]
    fn window_is_one_step_each_side() {
        let key = b"12345678901234567890";
        let now = 1_111_111_111;
        let here = step_at(now);
        assert_eq!(matching_step(key, &code_at(key, here), now), Some(here));
        assert_eq!(
            matching_step(key, &code_at(key, here - 1), now),
            Some(here - 1)
        );
        assert_eq!(
            matching_step(key, &code_at(key, here + 1), now),
            Some(here + 1)
        );
        assert_eq!(matching_step(key, &code_at(key, here - 2), now), None);
        assert_eq!(matching_step(key, &code_at(key, here + 2), now), None);
        assert_eq!(matching_step(key, "12345", now), None);
        assert_eq!(matching_step(key, "abcdef", now), None);
    }

    #[test]
    fn base32_rfc4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }
}
