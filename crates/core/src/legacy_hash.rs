//! Password hashes brought in by a bulk import (`custom_password_hash` of Auth0's import
//! schema): checked when the password is next verified, then replaced by a bcrypt hash.
//!
//! A database identity's stored hash is either bcrypt (`$2a$`/`$2b$`/`$2y$`) or
//! [`CUSTOM_PREFIX`] followed by the imported `custom_password_hash` object as compact JSON,
//! validated by [`encode`] when it was imported. Supported algorithms, as Auth0 describes them:
//! `bcrypt`, `argon2` (a PHC string), `pbkdf2` (`$pbkdf2-<digest>$i=<iterations>,l=<length>$<salt>$<hash>`,
//! salt and hash in unpadded base64), `md5`, `sha1`, `sha256`, `sha512` (`hash.encoding` hex or
//! base64, an optional salt before or after the password), `hmac` (sha1/sha256/sha512 with
//! `hash.key`) and `ldap` (RFC 2307: `{SHA}`, `{SSHA}`, `{SHA256}`, `{SSHA256}`, `{SHA512}`,
//! `{SSHA512}`, `{MD5}`, `{SMD5}`). The password's bytes follow `password.encoding` (utf8 by
//! default; ascii, latin1/binary, utf16le/ucs2, utf16be).
//!
//! There is no password login yet: whatever checks a password (the login issue's
//! `/oauth/token` password grant and hosted login page) calls [`verify_and_upgrade`] and, on
//! [`Verdict::Upgrade`], stores the new bcrypt hash in the same transaction that read the old one.

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// What a stored imported hash starts with.
pub const CUSTOM_PREFIX: &str = "$gh-custom$";

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Mismatch,
    /// It matches and the stored hash is bcrypt already.
    Match,
    /// It matches an imported hash: store this bcrypt hash instead.
    Upgrade(String),
}

/// Checks `password` against a stored hash (bcrypt or imported) and, when it matches an
/// imported one, computes its bcrypt replacement. CPU-heavy: run it on a blocking pool.
pub fn verify_and_upgrade(password: &SecretString, stored: &str) -> anyhow::Result<Verdict> {
    match stored.strip_prefix(CUSTOM_PREFIX) {
        None => Ok(if crate::password::verify(password, stored) {
            Verdict::Match
        } else {
            Verdict::Mismatch
        }),
        Some(json) => {
            let custom: Value = serde_json::from_str(json)?;
            if verify_custom(password.expose_secret(), &custom)? {
                Ok(Verdict::Upgrade(crate::password::hash(password)?))
            } else {
                Ok(Verdict::Mismatch)
            }
        }
    }
}

/// Whether `password` matches `stored` (bcrypt or imported), without upgrading.
pub fn verify(password: &SecretString, stored: &str) -> bool {
    matches!(verify_and_upgrade_check(password, stored), Ok(true))
}

fn verify_and_upgrade_check(password: &SecretString, stored: &str) -> anyhow::Result<bool> {
    match stored.strip_prefix(CUSTOM_PREFIX) {
        None => Ok(crate::password::verify(password, stored)),
        Some(json) => verify_custom(password.expose_secret(), &serde_json::from_str(json)?),
    }
}

/// Validates an import's `custom_password_hash` and returns what is stored for it; the error
/// says what is wrong, as the job's error for that user.
pub fn encode(custom: &Value) -> Result<String, String> {
    check(custom)?;
    if custom.get("algorithm").and_then(Value::as_str) == Some("bcrypt") {
        // A bcrypt hash is stored as is: nothing to upgrade.
        return Ok(hash_value(custom)?.to_owned());
    }
    Ok(format!("{CUSTOM_PREFIX}{custom}"))
}

/// Whether `h` is a bcrypt hash (`$2a$`, `$2b$`, `$2x$`, `$2y$`).
pub fn is_bcrypt(h: &str) -> bool {
    h.parse::<bcrypt::HashParts>().is_ok()
}

const ALGORITHMS: &[&str] = &[
    "argon2", "bcrypt", "hmac", "ldap", "md5", "pbkdf2", "sha1", "sha256", "sha512",
];

fn hash_value(custom: &Value) -> Result<&str, String> {
    custom
        .pointer("/hash/value")
        .and_then(Value::as_str)
        .ok_or_else(|| "custom_password_hash.hash.value is required".to_owned())
}

/// What [`encode`] checks: the algorithm is known and its parameters parse (so that a later
/// login can only fail on the password).
fn check(custom: &Value) -> Result<(), String> {
    let algorithm = custom
        .get("algorithm")
        .and_then(Value::as_str)
        .ok_or_else(|| "custom_password_hash.algorithm is required".to_owned())?;
    if !ALGORITHMS.contains(&algorithm) {
        return Err(format!(
            "custom_password_hash.algorithm {algorithm} is not supported (one of {})",
            ALGORITHMS.join(", ")
        ));
    }
    let value = hash_value(custom)?;
    let salted = custom.pointer("/hash/salt").is_some();
    let utf8_only = |what: &str| -> Result<(), String> {
        match custom.pointer("/hash/encoding").and_then(Value::as_str) {
            None | Some("utf8") if !salted => Ok(()),
            None | Some("utf8") => Err(format!(
                "custom_password_hash.hash.salt is not allowed with {what}"
            )),
            Some(e) => Err(format!(
                "custom_password_hash.hash.encoding must be utf8 with {what}, not {e}"
            )),
        }
    };
    password_bytes("", custom).map_err(|e| e.to_string())?;
    match algorithm {
        "bcrypt" => {
            utf8_only("bcrypt")?;
            value
                .parse::<bcrypt::HashParts>()
                .map(|_| ())
                .map_err(|_| "custom_password_hash.hash.value is not a bcrypt hash".to_owned())
        }
        "argon2" => {
            utf8_only("argon2")?;
            argon2::PasswordHash::new(value)
                .map(|_| ())
                .map_err(|e| format!("custom_password_hash.hash.value is not a PHC string: {e}"))
        }
        "pbkdf2" => {
            utf8_only("pbkdf2")?;
            Pbkdf2::parse(value).map(|_| ())
        }
        "ldap" => {
            utf8_only("ldap")?;
            Ldap::parse(value).map(|_| ())
        }
        _ => {
            let enc = custom
                .pointer("/hash/encoding")
                .and_then(Value::as_str)
                .unwrap_or("hex");
            if !matches!(enc, "hex" | "base64") {
                return Err(format!(
                    "custom_password_hash.hash.encoding must be hex or base64 with {algorithm}"
                ));
            }
            decode(value, enc).map_err(|e| format!("custom_password_hash.hash.value: {e}"))?;
            if let Some(salt) = custom.pointer("/hash/salt") {
                encoded_bytes(salt, "salt")?;
                match salt.get("position").and_then(Value::as_str) {
                    None | Some("prefix" | "suffix") => {}
                    Some(p) => {
                        return Err(format!(
                            "custom_password_hash.hash.salt.position must be prefix or suffix, not {p}"
                        ));
                    }
                }
            }
            if algorithm == "hmac" {
                let key = custom.pointer("/hash/key").ok_or_else(|| {
                    "custom_password_hash.hash.key is required with hmac".to_owned()
                })?;
                encoded_bytes(key, "key")?;
                hmac_algorithm(custom)?;
            }
            Ok(())
        }
    }
}

fn decode(value: &str, encoding: &str) -> Result<Vec<u8>, String> {
    match encoding {
        "hex" => hex::decode(value).map_err(|e| format!("not hex ({e})")),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(value)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(value))
            .map_err(|e| format!("not base64 ({e})")),
        "utf8" => Ok(value.as_bytes().to_vec()),
        other => Err(format!("unknown encoding {other}")),
    }
}

/// `{value, encoding}` (utf8 by default) as bytes.
fn encoded_bytes(v: &Value, what: &str) -> Result<Vec<u8>, String> {
    let value = v
        .get("value")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("custom_password_hash.hash.{what}.value is required"))?;
    let enc = v.get("encoding").and_then(Value::as_str).unwrap_or("utf8");
    decode(value, enc).map_err(|e| format!("custom_password_hash.hash.{what}.value: {e}"))
}

/// The password's bytes in `password.encoding`.
fn password_bytes(password: &str, custom: &Value) -> anyhow::Result<Vec<u8>> {
    let enc = custom
        .pointer("/password/encoding")
        .and_then(Value::as_str)
        .unwrap_or("utf8");
    Ok(match enc {
        "utf8" | "utf-8" => password.as_bytes().to_vec(),
        "ascii" => {
            anyhow::ensure!(password.is_ascii(), "the password is not ascii");
            password.as_bytes().to_vec()
        }
        "latin1" | "binary" => password
            .chars()
            .map(|c| u8::try_from(u32::from(c)))
            .collect::<Result<_, _>>()
            .map_err(|_| anyhow::anyhow!("the password is not latin1"))?,
        "utf16le" | "ucs2" | "utf16" => {
            password.encode_utf16().flat_map(u16::to_le_bytes).collect()
        }
        "utf16be" => password.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        other => anyhow::bail!("custom_password_hash.password.encoding {other} is not supported"),
    })
}

fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn digest(algorithm: &str, data: &[u8]) -> anyhow::Result<Vec<u8>> {
    use aws_lc_rs::digest;
    let alg = match algorithm {
        "md5" => {
            use md5::Digest;
            return Ok(md5::Md5::digest(data).to_vec());
        }
        "sha1" => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        "sha256" => &digest::SHA256,
        "sha384" => &digest::SHA384,
        "sha512" => &digest::SHA512,
        other => anyhow::bail!("no digest {other}"),
    };
    Ok(digest::digest(alg, data).as_ref().to_vec())
}

fn hmac_algorithm(custom: &Value) -> Result<aws_lc_rs::hmac::Algorithm, String> {
    use aws_lc_rs::hmac;
    match custom
        .pointer("/hash/digest")
        .and_then(Value::as_str)
        .unwrap_or("sha256")
    {
        "sha1" => Ok(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
        "sha256" => Ok(hmac::HMAC_SHA256),
        "sha384" => Ok(hmac::HMAC_SHA384),
        "sha512" => Ok(hmac::HMAC_SHA512),
        other => Err(format!(
            "custom_password_hash.hash.digest {other} is not supported with hmac"
        )),
    }
}

fn verify_custom(password: &str, custom: &Value) -> anyhow::Result<bool> {
    check(custom).map_err(anyhow::Error::msg)?;
    let algorithm = custom
        .get("algorithm")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let value = hash_value(custom).map_err(anyhow::Error::msg)?;
    let pw = password_bytes(password, custom)?;
    Ok(match algorithm {
        "bcrypt" => bcrypt::verify(&pw, value).unwrap_or(false),
        "argon2" => {
            use argon2::PasswordVerifier;
            let parsed = argon2::PasswordHash::new(value).map_err(|e| anyhow::anyhow!("{e}"))?;
            argon2::Argon2::default()
                .verify_password(&pw, &parsed)
                .is_ok()
        }
        "pbkdf2" => Pbkdf2::parse(value)
            .map_err(anyhow::Error::msg)?
            .verify(&pw),
        "ldap" => Ldap::parse(value)
            .map_err(anyhow::Error::msg)?
            .verify(&pw)?,
        _ => {
            let enc = custom
                .pointer("/hash/encoding")
                .and_then(Value::as_str)
                .unwrap_or("hex");
            let expected = decode(value, enc).map_err(anyhow::Error::msg)?;
            let mut input = Vec::with_capacity(pw.len() + 32);
            let salt = custom.pointer("/hash/salt");
            let salt_bytes = salt
                .map(|s| encoded_bytes(s, "salt"))
                .transpose()
                .map_err(anyhow::Error::msg)?
                .unwrap_or_default();
            let suffix =
                salt.and_then(|s| s.get("position")).and_then(Value::as_str) == Some("suffix");
            if !suffix {
                input.extend_from_slice(&salt_bytes);
            }
            input.extend_from_slice(&pw);
            if suffix {
                input.extend_from_slice(&salt_bytes);
            }
            let actual = if algorithm == "hmac" {
                let key_v = custom
                    .pointer("/hash/key")
                    .ok_or_else(|| anyhow::anyhow!("no key"))?;
                let key = encoded_bytes(key_v, "key").map_err(anyhow::Error::msg)?;
                let alg = hmac_algorithm(custom).map_err(anyhow::Error::msg)?;
                let k = aws_lc_rs::hmac::Key::new(alg, &key);
                aws_lc_rs::hmac::sign(&k, &input).as_ref().to_vec()
            } else {
                digest(algorithm, &input)?
            };
            equal(&actual, &expected)
        }
    })
}

/// `$pbkdf2-<digest>$i=<iterations>,l=<length>$<salt>$<hash>`.
struct Pbkdf2 {
    algorithm: aws_lc_rs::pbkdf2::Algorithm,
    iterations: std::num::NonZeroU32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Pbkdf2 {
    fn parse(value: &str) -> Result<Self, String> {
        use aws_lc_rs::pbkdf2;
        let bad = |why: &str| {
            format!("custom_password_hash.hash.value is not a pbkdf2 PHC string: {why}")
        };
        let parts: Vec<&str> = value.split('$').collect();
        let [empty, id, params, salt, hash] = parts.as_slice() else {
            return Err(bad("expected $pbkdf2-<digest>$i=…,l=…$<salt>$<hash>"));
        };
        if !empty.is_empty() {
            return Err(bad("it must start with $"));
        }
        let algorithm = match *id {
            "pbkdf2" | "pbkdf2-sha1" => pbkdf2::PBKDF2_HMAC_SHA1,
            "pbkdf2-sha256" => pbkdf2::PBKDF2_HMAC_SHA256,
            "pbkdf2-sha384" => pbkdf2::PBKDF2_HMAC_SHA384,
            "pbkdf2-sha512" => pbkdf2::PBKDF2_HMAC_SHA512,
            other => return Err(bad(&format!("unknown digest {other}"))),
        };
        let mut iterations = None;
        let mut length = None;
        for p in params.split(',') {
            match p.split_once('=') {
                Some(("i", n)) => iterations = n.parse::<u32>().ok(),
                Some(("l", n)) => length = n.parse::<usize>().ok(),
                _ => return Err(bad(&format!("unknown parameter {p}"))),
            }
        }
        let iterations = iterations
            .and_then(std::num::NonZeroU32::new)
            .ok_or_else(|| bad("i must be a positive integer"))?;
        let b64 = |s: &str| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|_| bad("salt and hash must be unpadded base64"))
        };
        let (salt, hash) = (b64(salt)?, b64(hash)?);
        if let Some(l) = length
            && l != hash.len()
        {
            return Err(bad("l is not the hash's length"));
        }
        if hash.is_empty() {
            return Err(bad("empty hash"));
        }
        Ok(Self {
            algorithm,
            iterations,
            salt,
            hash,
        })
    }

    fn verify(&self, password: &[u8]) -> bool {
        aws_lc_rs::pbkdf2::verify(
            self.algorithm,
            self.iterations,
            &self.salt,
            password,
            &self.hash,
        )
        .is_ok()
    }
}

/// RFC 2307 `{SCHEME}base64`; the salted schemes append the salt to the digest.
struct Ldap {
    digest: &'static str,
    salted: bool,
    bytes: Vec<u8>,
}

impl Ldap {
    fn parse(value: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("custom_password_hash.hash.value is not an LDAP hash: {why}");
        let rest = value.strip_prefix('{').ok_or_else(|| bad("no {SCHEME}"))?;
        let (scheme, b64) = rest.split_once('}').ok_or_else(|| bad("no {SCHEME}"))?;
        let (digest, salted) = match scheme.to_ascii_uppercase().as_str() {
            "SHA" => ("sha1", false),
            "SSHA" => ("sha1", true),
            "SHA256" => ("sha256", false),
            "SSHA256" => ("sha256", true),
            "SHA384" => ("sha384", false),
            "SSHA384" => ("sha384", true),
            "SHA512" => ("sha512", false),
            "SSHA512" => ("sha512", true),
            "MD5" => ("md5", false),
            "SMD5" => ("md5", true),
            other => return Err(bad(&format!("unsupported scheme {other}"))),
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| bad("not base64"))?;
        let len = Self::digest_len(digest);
        if bytes.len() < len || (!salted && bytes.len() != len) {
            return Err(bad("wrong length"));
        }
        Ok(Self {
            digest,
            salted,
            bytes,
        })
    }

    fn digest_len(digest: &str) -> usize {
        match digest {
            "md5" => 16,
            "sha1" => 20,
            "sha256" => 32,
            "sha384" => 48,
            _ => 64,
        }
    }

    fn verify(&self, password: &[u8]) -> anyhow::Result<bool> {
        let (expected, salt) = self.bytes.split_at(Self::digest_len(self.digest));
        let salt = if self.salted { salt } else { &[] };
        let mut input = password.to_vec();
        input.extend_from_slice(salt);
        Ok(equal(&digest(self.digest, &input)?, expected))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const PW: &str = "Passw0rd!";

    /// The vectors were computed with Python's hashlib/hmac.
    fn ok(custom: Value) {
        let stored = encode(&custom).unwrap_or_else(|e| panic!("{custom}: {e}"));
        let pw = SecretString::from(PW);
        let verdict = verify_and_upgrade(&pw, &stored).unwrap();
        let Verdict::Upgrade(new) = verdict else {
            panic!("{custom}: {verdict:?}");
        };
        assert!(new.starts_with("$2b$10$"));
        assert!(crate::password::verify(&pw, &new));
        assert_eq!(
            verify_and_upgrade(&SecretString::from("Passw0rd?"), &stored).unwrap(),
            Verdict::Mismatch,
            "{custom}"
        );
    }

    #[test]
    fn digests_salted_both_positions() {
        ok(
            json!({"algorithm": "md5", "hash": {"value": "47b7bfb65fa83ac9a71dcb0f6296bb6e", "encoding": "hex"}}),
        );
        ok(
            json!({"algorithm": "md5", "hash": {"value": "f1259ebd432d74be87f2b418043b4056", "encoding": "hex",
            "salt": {"value": "c2FsdA==", "encoding": "base64", "position": "suffix"}}}),
        );
        ok(
            json!({"algorithm": "sha1", "hash": {"value": "339a4b2ab2fb954e9ea0bc517d9b5ab0837ef4f6",
            "salt": {"value": "abc", "position": "prefix"}}}),
        );
        ok(
            json!({"algorithm": "sha256", "hash": {"value": "qpocyxGi7NG5cnHYyHqfZg6gZNVkOXM2kNcycH8i5XQ=", "encoding": "base64",
            "salt": {"value": "xyz", "encoding": "utf8", "position": "suffix"}}}),
        );
        ok(
            json!({"algorithm": "sha512", "hash": {"value": "71d14181459b038539e3b6ef4ed9c9e3d1f1b93a49a787fb8d505fc6f28963aba45a855af6faf47e68560064fd630ff93ceeba1e638f2c6341b5fcd28ddcdd9d",
            "salt": {"value": "0102", "encoding": "hex", "position": "prefix"}}}),
        );
        ok(
            json!({"algorithm": "hmac", "hash": {"value": "8698bb8c5b689c2febb8801b66e09555bf293dcdc7927d8f8ae450d0c72e6023",
            "digest": "sha256", "key": {"value": "k3y"}}}),
        );
    }

    #[test]
    fn pbkdf2_phc() {
        for v in [
            "$pbkdf2-sha1$i=1000,l=32$c2FsdHNhbHQ$I+huthhzL/NoE/tavP2SEx+VxM5iAa0K8ONWweCqJnk",
            "$pbkdf2-sha256$i=1000,l=32$c2FsdHNhbHQ$LplB3fteY7OHnpAZdFK1Pf0Bt/nPaTY2jRj/bXqIydI",
            "$pbkdf2-sha512$i=1000,l=32$c2FsdHNhbHQ$81UW42At4mG0Ob7+mofPmYeqV021r//b9+TrQTB0a/Q",
        ] {
            ok(json!({"algorithm": "pbkdf2", "hash": {"value": v, "encoding": "utf8"}}));
        }
        assert!(
            encode(&json!({"algorithm": "pbkdf2", "hash": {"value": "$pbkdf2-md2$i=1$YQ$YQ"}}))
                .is_err()
        );
    }

    #[test]
    fn ldap_schemes() {
        for v in [
            "{SHA}9KaZc+ewv50WD59g48Os0klL6w0=",
            "{SSHA}vkm9lEJypxEl1MuZu01B6jax6E9zYWx0NDU2Nw==",
            "{SSHA512}BJfWW7T4vYJgm3/LUP5Muf+fGwcBj0wIDnLFS+NYftLTXFKfP6c7KxxXM91WIQTMrzj6Hf/2B3srkY3y8kGImXM0",
            "{MD5}R7e/tl+oOsmnHcsPYpa7bg==",
            "{SMD5}UehxXUl86iuf0JQU4suFZ2Fi",
        ] {
            ok(json!({"algorithm": "ldap", "hash": {"value": v}}));
        }
    }

    #[test]
    fn argon2_reference_vector() {
        // The argon2 reference implementation's README example ("password", salt "somesalt").
        let custom = json!({"algorithm": "argon2", "hash": {"value":
            "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"}});
        let stored = encode(&custom).unwrap();
        assert!(verify(&SecretString::from("password"), &stored));
        assert!(!verify(&SecretString::from("passwore"), &stored));
    }

    #[test]
    fn bcrypt_is_stored_as_is() {
        let h = crate::password::hash(&SecretString::from(PW)).unwrap();
        let stored = encode(&json!({"algorithm": "bcrypt", "hash": {"value": h}})).unwrap();
        assert_eq!(stored, h);
        assert_eq!(
            verify_and_upgrade(&SecretString::from(PW), &stored).unwrap(),
            Verdict::Match
        );
    }

    #[test]
    fn password_encodings() {
        let pw = SecretString::from("pässword");
        let utf16 = encode(
            &json!({"algorithm": "sha1", "password": {"encoding": "utf16le"},
            "hash": {"value": "abc0ad4a961eafe8ca6e6f93f1b9d88aa44e53ee"}}),
        )
        .unwrap();
        assert!(verify(&pw, &utf16));
        let latin1 = encode(
            &json!({"algorithm": "md5", "password": {"encoding": "latin1"},
            "hash": {"value": "0126cf1f6e0dba240af4c5537ca51d0e"}}),
        )
        .unwrap();
        assert!(verify(&pw, &latin1));
    }

    #[test]
    fn refuses_what_cannot_verify() {
        for bad in [
            json!({"algorithm": "md4", "hash": {"value": "00"}}),
            json!({"algorithm": "sha1"}),
            json!({"algorithm": "sha1", "hash": {"value": "zz"}}),
            json!({"algorithm": "sha1", "hash": {"value": "00", "encoding": "utf16"}}),
            json!({"algorithm": "sha1", "hash": {"value": "00", "salt": {"value": "a", "position": "middle"}}}),
            json!({"algorithm": "argon2", "hash": {"value": "nope"}}),
            json!({"algorithm": "bcrypt", "hash": {"value": "nope"}}),
            json!({"algorithm": "ldap", "hash": {"value": "{CRYPT}abc"}}),
            json!({"algorithm": "hmac", "hash": {"value": "00"}}),
        ] {
            assert!(encode(&bad).is_err(), "{bad}");
        }
    }
}
