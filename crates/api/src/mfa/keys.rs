//! Where MFA secrets' keys live (envelope encryption).
//!
//! - Each tenant has a random 256-bit **data key**. TOTP seeds and WebAuthn credentials are
//!   sealed with it (AES-256-GCM, a fresh 96-bit nonce per seal, the tenant id as associated
//!   data so a sealed value copied to another tenant does not open).
//! - The data key is stored in the database (`docs`, kind `gatehouse`, id `mfa_data_key`) only
//!   **wrapped**: sealed under the server's **root key**, with the root key's fingerprint.
//! - The root key comes from the environment variable `GATEHOUSE_ROOT_KEY` (32 bytes, base64 or
//!   hex; `openssl rand -base64 32`). Only the environment, never a command-line flag: flags show
//!   in `ps`. With it, a copy of the database (a backup, a leaked dump) holds no usable secret.
//!   Every instance sharing a database must have the same root key.
//! - Without it, a root key is generated once and persisted in the database (docs row of the
//!   reserved tenant `_server`), so that a single-binary setup works out of the box and every
//!   instance agrees; secrets are then still never in the clear in the tables that hold them,
//!   but the database alone suffices to open them. The server warns at start-up.
//! - Setting `GATEHOUSE_ROOT_KEY` later re-wraps each tenant's data key on its first use (the
//!   data key, hence every sealed secret, stays the same). A root key that changes to one that
//!   did not wrap the data key (and is not the generated one) makes sealed secrets unreadable:
//!   MFA answers an internal error, logged with the cause, instead of guessing.
//!
//! Data keys are cached per tenant in memory once unwrapped.

use std::{collections::HashMap, sync::Arc};

use anyhow::{Context, anyhow};
use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey},
    rand::{SecureRandom, SystemRandom},
};
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::{Value, json};
use tokio::sync::RwLock;

use gatehouse_core::{Error, time};
use gatehouse_store::{Exec, docs};

/// The environment variable of the root key.
pub const ROOT_KEY_ENV: &str = "GATEHOUSE_ROOT_KEY";
const KIND: &str = "gatehouse";
const DATA_KEY_ID: &str = "mfa_data_key";
const ROOT_KEY_ID: &str = "root_key";
/// The reserved tenant id of server-wide documents.
const SERVER_TENANT: &str = "_server";
/// Version prefix of a sealed value: `v1.` + base64url(nonce ‖ ciphertext ‖ tag).
const PREFIX: &str = "v1.";

fn random32() -> Result<[u8; 32], Error> {
    let mut b = [0u8; 32];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| anyhow!("no randomness for a key"))?;
    Ok(b)
}

fn aead_key(bytes: &[u8]) -> Result<LessSafeKey, Error> {
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| anyhow!("a key is not 256 bits"))?,
    ))
}

/// Seals `plain` under `key`, bound to `aad`.
fn seal_with(key: &LessSafeKey, aad: &[u8], plain: &[u8]) -> Result<String, Error> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| anyhow!("no randomness for a nonce"))?;
    let mut buf = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut buf,
    )
    .map_err(|_| anyhow!("sealing failed"))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
}

/// Opens what [`seal_with`] sealed; an error when it was not sealed under `key` for `aad`.
fn open_with(key: &LessSafeKey, aad: &[u8], sealed: &str) -> Result<Vec<u8>, Error> {
    let raw = sealed
        .strip_prefix(PREFIX)
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .filter(|r| r.len() >= NONCE_LEN)
        .ok_or_else(|| anyhow!("a sealed MFA secret is malformed"))?;
    let (nonce, body) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow!("bad nonce"))?;
    let mut body = body.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut body)
        .map_err(|_| anyhow!("a sealed MFA secret does not open with this key"))?;
    Ok(plain.to_vec())
}

/// The first 16 hex digits of the key's SHA-256: names a root key without revealing it.
fn fingerprint(key: &[u8]) -> String {
    let mut h = gatehouse_core::secret::sha256_hex(&hex::encode(key));
    h.truncate(16);
    h
}

/// Parses a root key: 32 bytes in base64 (standard or url-safe) or hex.
pub fn parse_root_key(s: &str) -> anyhow::Result<[u8; 32]> {
    let s = s.trim();
    let bytes = hex::decode(s)
        .ok()
        .filter(|b| b.len() == 32)
        .or_else(|| STANDARD.decode(s).ok())
        .or_else(|| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
        .context("GATEHOUSE_ROOT_KEY is neither base64 nor hex")?;
    bytes
        .try_into()
        .map_err(|_| anyhow!("GATEHOUSE_ROOT_KEY must be 32 bytes (256 bits)"))
}

struct Root {
    key: LessSafeKey,
    fingerprint: String,
}

/// The server's root key (or where to find it) and the tenants' unwrapped data keys.
pub struct Keys {
    /// From the environment; `None`: the generated one in the database.
    configured: Option<Arc<Root>>,
    generated: RwLock<Option<Arc<Root>>>,
    data: RwLock<HashMap<String, Arc<LessSafeKey>>>,
}

impl Keys {
    /// The root key from `GATEHOUSE_ROOT_KEY`, if set (a malformed one stops the start).
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var(ROOT_KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => Self::with_root(Some(parse_root_key(&v)?)),
            _ => {
                tracing::warn!(
                    "{ROOT_KEY_ENV} is not set: MFA secrets are sealed under a root key kept in the database"
                );
                Self::with_root(None)
            }
        }
    }

    pub fn with_root(root: Option<[u8; 32]>) -> anyhow::Result<Self> {
        let configured = match root {
            Some(k) => Some(Arc::new(Root {
                key: aead_key(&k).map_err(|e| anyhow!("{e}"))?,
                fingerprint: fingerprint(&k),
            })),
            None => None,
        };
        Ok(Self {
            configured,
            generated: RwLock::new(None),
            data: RwLock::new(HashMap::new()),
        })
    }

    /// The generated root key, made and persisted by the first instance that needs it.
    async fn generated_root(&self, x: &impl Exec) -> Result<Arc<Root>, Error> {
        if let Some(r) = self.generated.read().await.clone() {
            return Ok(r);
        }
        let doc = match docs::get(x, SERVER_TENANT, KIND, ROOT_KEY_ID).await? {
            Some(d) => d,
            None => {
                let fresh = json!({"key": STANDARD.encode(random32()?)});
                docs::insert_or_get(x, SERVER_TENANT, KIND, ROOT_KEY_ID, &fresh, &time::now())
                    .await?
            }
        };
        let bytes = doc
            .get("key")
            .and_then(Value::as_str)
            .and_then(|k| STANDARD.decode(k).ok())
            .ok_or_else(|| anyhow!("the generated root key document is unreadable"))?;
        let root = Arc::new(Root {
            key: aead_key(&bytes)?,
            fingerprint: fingerprint(&bytes),
        });
        *self.generated.write().await = Some(root.clone());
        Ok(root)
    }

    async fn root(&self, x: &impl Exec) -> Result<Arc<Root>, Error> {
        match &self.configured {
            Some(r) => Ok(r.clone()),
            None => self.generated_root(x).await,
        }
    }

    /// The tenant's data key: cached, else unwrapped from the database, else made and stored.
    async fn data_key(&self, x: &impl Exec, tenant: &str) -> Result<Arc<LessSafeKey>, Error> {
        if let Some(k) = self.data.read().await.get(tenant) {
            return Ok(k.clone());
        }
        let root = self.root(x).await?;
        let aad = format!("mfa-data-key\u{0}{tenant}");
        let doc = match docs::get(x, tenant, KIND, DATA_KEY_ID).await? {
            Some(d) => d,
            None => {
                let wrapped = seal_with(&root.key, aad.as_bytes(), &random32()?)?;
                let fresh = json!({"wrapped": wrapped, "root": root.fingerprint});
                docs::insert_or_get(x, tenant, KIND, DATA_KEY_ID, &fresh, &time::now()).await?
            }
        };
        let wrapped = doc
            .get("wrapped")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("the MFA data key document is unreadable"))?;
        let by = doc.get("root").and_then(Value::as_str).unwrap_or_default();
        let bytes = if by == root.fingerprint {
            open_with(&root.key, aad.as_bytes(), wrapped)?
        } else {
            // Wrapped under the generated root key before GATEHOUSE_ROOT_KEY was set: unwrap
            // with that one and re-wrap under the configured key.
            let old = self.generated_root(x).await?;
            if old.fingerprint != by {
                return Err(anyhow!(
                    "the tenant's MFA data key was wrapped by root key {by}, which is neither \
                     {ROOT_KEY_ENV} ({}) nor the generated one",
                    root.fingerprint
                )
                .into());
            }
            let bytes = open_with(&old.key, aad.as_bytes(), wrapped)?;
            let rewrapped = seal_with(&root.key, aad.as_bytes(), &bytes)?;
            docs::put(
                x,
                tenant,
                KIND,
                DATA_KEY_ID,
                &json!({"wrapped": rewrapped, "root": root.fingerprint}),
                &time::now(),
            )
            .await?;
            bytes
        };
        let key = Arc::new(aead_key(&bytes)?);
        self.data
            .write()
            .await
            .insert(tenant.to_owned(), key.clone());
        Ok(key)
    }

    /// Seals `plain` with the tenant's data key.
    pub async fn seal(&self, x: &impl Exec, tenant: &str, plain: &[u8]) -> Result<String, Error> {
        let key = self.data_key(x, tenant).await?;
        seal_with(&key, tenant.as_bytes(), plain)
    }

    /// Opens a value [`Keys::seal`] sealed for this tenant.
    pub async fn open(&self, x: &impl Exec, tenant: &str, sealed: &str) -> Result<Vec<u8>, Error> {
        let key = self.data_key(x, tenant).await?;
        open_with(&key, tenant.as_bytes(), sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = aead_key(&[3u8; 32]).unwrap();
        let s = seal_with(&k, b"t1", b"secret seed").unwrap();
        assert!(s.starts_with("v1."));
        assert!(!s.contains("secret"));
        assert_eq!(open_with(&k, b"t1", &s).unwrap(), b"secret seed");
        // Another tenant, another key, a tampered value: none opens.
        assert!(open_with(&k, b"t2", &s).is_err());
        assert!(open_with(&aead_key(&[4u8; 32]).unwrap(), b"t1", &s).is_err());
        let mut t = s.clone();
        t.pop();
        t.push(if s.ends_with('A') { 'B' } else { 'A' });
        assert!(open_with(&k, b"t1", &t).is_err());
        assert!(open_with(&k, b"t1", "garbage").is_err());
        // Two seals of one value differ (fresh nonces).
        assert_ne!(s, seal_with(&k, b"t1", b"secret seed").unwrap());
    }

    #[tokio::test]
    async fn data_keys_are_wrapped_and_rewrapped_when_a_root_key_is_set() {
        let path = std::env::temp_dir().join(format!(
            "gatehouse-mfa-keys-{}.db",
            gatehouse_core::secret::random_token()
        ));
        let url = path.to_string_lossy().into_owned();
        let db = gatehouse_store::Db::connect(&url).await.unwrap();
        gatehouse_store::migrate(&db).await.unwrap();

        let generated = Keys::with_root(None).unwrap();
        let sealed = generated.seal(&db, "t1", b"seed").await.unwrap();
        let doc = docs::get(&db, "t1", KIND, DATA_KEY_ID)
            .await
            .unwrap()
            .unwrap();
        assert!(doc["wrapped"].as_str().unwrap().starts_with(PREFIX));
        // Another instance on the same database (an empty cache) opens it.
        let other = Keys::with_root(None).unwrap();
        assert_eq!(other.open(&db, "t1", &sealed).await.unwrap(), b"seed");

        // GATEHOUSE_ROOT_KEY set later: the data key is re-wrapped under it, secrets still open.
        let configured = Keys::with_root(Some([7u8; 32])).unwrap();
        assert_eq!(configured.open(&db, "t1", &sealed).await.unwrap(), b"seed");
        let doc2 = docs::get(&db, "t1", KIND, DATA_KEY_ID)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(doc2["root"], json!(fingerprint(&[7u8; 32])));
        assert_ne!(doc2["wrapped"], doc["wrapped"]);
        let again = Keys::with_root(Some([7u8; 32])).unwrap();
        assert_eq!(again.open(&db, "t1", &sealed).await.unwrap(), b"seed");
        // A root key that wrapped nothing here: refused, no guessing.
        let wrong = Keys::with_root(Some([8u8; 32])).unwrap();
        assert!(wrong.open(&db, "t1", &sealed).await.is_err());
        // Each tenant its own data key.
        let s2 = configured.seal(&db, "t2", b"seed").await.unwrap();
        assert!(configured.open(&db, "t1", &s2).await.is_err());
        assert_eq!(configured.open(&db, "t2", &s2).await.unwrap(), b"seed");

        drop(db);
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{url}{ext}"));
        }
    }

    #[test]
    fn root_key_formats() {
        let hex32 = "00".repeat(32);
        assert_eq!(parse_root_key(&hex32).unwrap(), [0u8; 32]);
        let b64 = STANDARD.encode([9u8; 32]);
        assert_eq!(parse_root_key(&b64).unwrap(), [9u8; 32]);
        assert!(parse_root_key("short").is_err());
        assert!(parse_root_key(&STANDARD.encode([1u8; 16])).is_err());
    }
}
