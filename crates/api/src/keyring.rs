//! A tenant's signing keys as the server holds them in memory: the current key that signs, the
//! verifier of every key not revoked, and the published JWKS. The ring is swapped whole
//! (`arc-swap`): readers never wait, a rotation or revocation replaces it at once on the instance
//! that made it, and every other instance (stateless instances share one database) picks the
//! change up within [`REFRESH_EVERY`] by comparing the tenant's key generation.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use arc_swap::ArcSwap;
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use gatehouse_core::jwt::{SigningKey, Verifier};
use gatehouse_store::{Db, keys, keys::SigningKeyRow};

use crate::spine::auth::TokenCache;

/// How often an instance compares its key generation with the database's: the bound on how
/// long another instance's rotation or revocation takes to apply here.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// One consistent view of a tenant's signing keys.
pub struct KeyRing {
    /// The database's key generation this ring was built from.
    pub generation: i64,
    /// The current key: it signs every new token.
    pub signing: SigningKey,
    /// Every key not revoked (current, next, previous).
    pub verifier: Verifier,
    /// `/.well-known/jwks.json`: the current key, the next, then the previous ones not revoked.
    pub jwks: Value,
    /// `[{"cert": PEM, "subject": "/CN=host"}]`: the current key's certificate, as clients show it.
    pub client_signing_keys: Value,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("generation", &self.generation)
            .field("kid", &self.signing.kid)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Builds the ring from the stored keys; fails without a current key that is not revoked.
    pub fn build(stored: &keys::SigningKeys, issuer: &str) -> anyhow::Result<Self> {
        let current = stored
            .keys
            .iter()
            .find(|k| k.current && !k.revoked)
            .context("no current signing key")?;
        let signing = parse(current)?;
        let mut verifier = Verifier::default();
        let mut published = vec![jwk(&signing, current)];
        verifier.add_key(&signing.kid, &signing.public_der())?;
        // The next key first, then the previous ones, newest first.
        let mut others: Vec<&SigningKeyRow> = stored
            .keys
            .iter()
            .filter(|k| !k.revoked && !k.current)
            .collect();
        others.sort_by(|a, b| {
            b.next
                .cmp(&a.next)
                .then_with(|| b.current_since.cmp(&a.current_since))
                .then_with(|| b.created_at.cmp(&a.created_at))
        });
        for k in others {
            let key = parse(k)?;
            verifier.add_key(&key.kid, &key.public_der())?;
            published.push(jwk(&key, k));
        }
        let cert = current
            .cert_pem
            .as_deref()
            .map(auth0_pem)
            .unwrap_or_default();
        Ok(Self {
            generation: stored.generation,
            signing,
            verifier,
            jwks: json!({ "keys": published }),
            client_signing_keys: json!([{"cert": cert, "subject": format!("/CN={}", issuer_host(issuer))}]),
        })
    }
}

fn parse(row: &SigningKeyRow) -> anyhow::Result<SigningKey> {
    let der = STANDARD
        .decode(&row.private_der)
        .context("a stored signing key")?;
    SigningKey::from_pkcs8(row.kid.clone(), &der)
}

/// The public JWK with `x5c` (the certificate, base64 DER) and `x5t` (its SHA-1), as Auth0
/// publishes them.
fn jwk(key: &SigningKey, row: &SigningKeyRow) -> Value {
    let mut jwk = key.public_jwk();
    if let Some(der) = row.cert_pem.as_deref().and_then(cert_der) {
        jwk["x5c"] = json!([STANDARD.encode(&der)]);
        jwk["x5t"] = json!(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha1(&der)));
    }
    jwk
}

/// A tenant's ring, swappable.
pub struct SharedRing(ArcSwap<KeyRing>);

impl SharedRing {
    pub fn new(ring: KeyRing) -> Self {
        Self(ArcSwap::from_pointee(ring))
    }

    pub fn load(&self) -> arc_swap::Guard<Arc<KeyRing>> {
        self.0.load()
    }

    /// Installs `ring` unless the one in place is as new or newer (two refreshes racing never
    /// put an older generation back).
    pub fn install(&self, ring: KeyRing) -> bool {
        let ring = Arc::new(ring);
        let prev = self.0.rcu(|cur| {
            if cur.generation >= ring.generation {
                cur.clone()
            } else {
                ring.clone()
            }
        });
        prev.generation < ring.generation
    }
}

/// Reloads the tenant's ring from the database when its generation moved; verified tokens
/// cached under an older ring are dropped (a cache hit also checks the generation, so a token
/// of a revoked key is never served from the cache). Returns whether the ring changed.
pub async fn refresh(
    db: &Db,
    tenant: &crate::state::Tenant,
    cache: &TokenCache,
) -> anyhow::Result<bool> {
    let now = keys::generation(db, &tenant.id).await?;
    if now == tenant.keys.load().generation {
        return Ok(false);
    }
    let stored = keys::list_signing_keys(db, &tenant.id).await?;
    apply(tenant, cache, &stored)
}

/// Installs the ring built from `stored` (what a rotation or revocation just committed).
pub fn apply(
    tenant: &crate::state::Tenant,
    cache: &TokenCache,
    stored: &keys::SigningKeys,
) -> anyhow::Result<bool> {
    let ring = KeyRing::build(stored, &tenant.issuer)?;
    let changed = tenant.keys.install(ring);
    if changed {
        cache.invalidate_all();
    }
    Ok(changed)
}

/// Refreshes the default tenant's ring every [`REFRESH_EVERY`] for as long as the server lives.
pub fn spawn_refresher(state: &crate::state::AppState) {
    let weak = Arc::downgrade(&state.0);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REFRESH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { break };
            if let Err(e) = refresh(&inner.db, &inner.default_tenant, &inner.token_cache).await {
                tracing::warn!(error = ?e, "refreshing the signing keys");
            }
        }
    });
}

/// A new signing key with its certificate, as stored (CPU-heavy: run it off the async workers).
pub fn new_signing_key(issuer: &str, now: &str) -> anyhow::Result<SigningKeyRow> {
    let (key, der) = SigningKey::generate(gatehouse_core::ids::kid())?;
    Ok(SigningKeyRow {
        kid: key.kid.clone(),
        cert_pem: Some(signing_certificate(&der, issuer)?),
        private_der: STANDARD.encode(der),
        current: false,
        next: false,
        revoked: false,
        created_at: now.to_owned(),
        current_since: None,
        current_until: None,
        revoked_at: None,
    })
}

/// A self-signed X.509 certificate (PEM) of an RSA signing key, named after the issuer's host:
/// what Auth0 shows in a client's `signing_keys` and publishes as the JWK's `x5c`.
pub fn signing_certificate(pkcs8: &[u8], issuer: &str) -> anyhow::Result<String> {
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8);
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, issuer_host(issuer));
    params.not_before = ::time::OffsetDateTime::now_utc();
    params.not_after = params.not_before + ::time::Duration::days(365 * 10);
    Ok(params.self_signed(&key)?.pem())
}

/// The host of an issuer URL (`https://host:port/` → `host`).
pub fn issuer_host(issuer: &str) -> &str {
    let rest = issuer.split_once("://").map_or(issuer, |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or(rest);
    match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host_port.split(':').next().unwrap_or(host_port),
    }
}

fn cert_der(pem_text: &str) -> Option<Vec<u8>> {
    pem::parse(pem_text).ok().map(|p| p.contents().to_vec())
}

fn sha1(der: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der)
        .as_ref()
        .to_vec()
}

/// A PEM as Auth0 writes it: CRLF line ends, no final line end.
fn auth0_pem(pem_text: &str) -> String {
    pem_text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str("\r\n");
        out.push_str(&String::from_utf8_lossy(chunk));
    }
    out.push_str(&format!("\r\n-----END {label}-----"));
    out
}

/// DER: one tag-length-value.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A degenerate PKCS #7 SignedData (RFC 2315) carrying only `cert_der`: the `.p7b` form.
fn pkcs7(cert_der: &[u8]) -> Vec<u8> {
    const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    const DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
    let mut signed = tlv(0x02, &[1]);
    signed.extend(tlv(0x31, &[]));
    signed.extend(tlv(0x30, &tlv(0x06, DATA)));
    signed.extend(tlv(0xa0, cert_der));
    signed.extend(tlv(0x31, &[]));
    let mut info = tlv(0x06, SIGNED_DATA);
    info.extend(tlv(0xa0, &tlv(0x30, &signed)));
    tlv(0x30, &info)
}

/// A signing key as the Management API shows it: certificates and fingerprints, never the
/// private key.
pub fn render(row: &SigningKeyRow) -> Value {
    let der = row
        .cert_pem
        .as_deref()
        .and_then(cert_der)
        .unwrap_or_default();
    let hex_upper = hex::encode_upper(sha1(&der));
    let fingerprint = hex_upper
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let mut out = serde_json::Map::new();
    out.insert("kid".into(), json!(row.kid));
    out.insert(
        "cert".into(),
        json!(row.cert_pem.as_deref().map(auth0_pem).unwrap_or_default()),
    );
    out.insert("pkcs7".into(), json!(pem_block("PKCS7", &pkcs7(&der))));
    out.insert("current".into(), json!(row.current));
    out.insert("next".into(), json!(row.next));
    out.insert("previous".into(), json!(row.previous()));
    if let Some(s) = &row.current_since {
        out.insert("current_since".into(), json!(s));
    }
    if let Some(s) = &row.current_until {
        out.insert("current_until".into(), json!(s));
    }
    out.insert("fingerprint".into(), json!(fingerprint));
    out.insert("thumbprint".into(), json!(hex_upper));
    out.insert("revoked".into(), json!(row.revoked));
    if let Some(s) = &row.revoked_at {
        out.insert("revoked_at".into(), json!(s));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs7_wraps_the_certificate_and_parses() {
        let row = new_signing_key("https://example.test/", "2026-01-01T00:00:00.000Z").unwrap();
        let shown = render(&row);
        let p7 = pem::parse(shown["pkcs7"].as_str().unwrap()).unwrap();
        assert_eq!(p7.tag(), "PKCS7");
        let cert = cert_der(row.cert_pem.as_deref().unwrap()).unwrap();
        // The certificate sits whole inside the SignedData.
        assert!(
            p7.contents()
                .windows(cert.len())
                .any(|w| w == cert.as_slice())
        );
        // A well-formed outer SEQUENCE whose length covers the whole encoding.
        let (_, parsed) = x509_parser::der_parser::der::parse_der(p7.contents()).unwrap();
        assert!(parsed.as_sequence().is_ok());
        assert_eq!(shown["thumbprint"].as_str().unwrap().len(), 40);
        assert_eq!(shown["fingerprint"].as_str().unwrap().len(), 59);
        assert!(!shown.to_string().contains(&row.private_der));
        assert!(shown["cert"].as_str().unwrap().contains("\r\n"));
    }

    #[test]
    fn der_lengths() {
        assert_eq!(tlv(0x04, &[0; 3]), vec![4, 3, 0, 0, 0]);
        assert_eq!(&tlv(0x04, &[0; 200])[..3], &[4, 0x81, 200]);
        assert_eq!(&tlv(0x04, &[0; 300])[..4], &[4, 0x82, 1, 44]);
    }
}
