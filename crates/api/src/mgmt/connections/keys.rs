//! A connection's Private Key JWT signing keys (okta / oidc): real RSA key pairs with a
//! self-signed certificate named after the connection, shown as Auth0 shows them. Private keys
//! never leave the server.

use anyhow::Context;
use aws_lc_rs::digest;
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, jwt::SigningKey, time};
use gatehouse_store::{
    Exec,
    connections::{self, ConnectionRow, KeyRow},
};

use super::{inexistent, options};
use crate::spine::{Ctx, Input, Reply};

const CURRENT: &str = "current";
const NEXT: &str = "next";
const PREVIOUS: &str = "previous";

/// A PEM block with Auth0's CRLF line endings.
fn pem_crlf(tag: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {tag}-----\r\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push_str("\r\n");
    }
    out.push_str(&format!("-----END {tag}-----\r\n"));
    out
}

/// A DER TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// A degenerate PKCS#7 SignedData (RFC 2315) carrying only `cert`: what Auth0 shows as `pkcs`.
fn pkcs7(cert_der: &[u8]) -> Vec<u8> {
    const SIGNED_DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];
    const DATA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01];
    let mut signed = Vec::new();
    signed.extend(tlv(0x02, &[0x01])); // version
    signed.extend(tlv(0x31, &[])); // digestAlgorithms
    signed.extend(tlv(0x30, &tlv(0x06, DATA))); // contentInfo
    signed.extend(tlv(0xA0, cert_der)); // certificates [0] IMPLICIT
    signed.extend(tlv(0x31, &[])); // signerInfos
    let mut info = tlv(0x06, SIGNED_DATA);
    info.extend(tlv(0xA0, &tlv(0x30, &signed)));
    tlv(0x30, &info)
}

/// Upper-case hex bytes joined by `sep`.
fn hex_upper(bytes: &[u8], sep: &str) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(sep)
}

/// A new key pair for `connection_name`, in `state`, shown as Auth0 shows it.
fn generate(connection_name: &str, alg: &str, state: &str, now: &str) -> Result<KeyRow, Error> {
    let (key, der) = SigningKey::generate(String::new()).context("generating an RSA key")?;
    let jwk = key.public_jwk();
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        jwk["e"].as_str().unwrap_or_default(),
        jwk["n"].as_str().unwrap_or_default()
    );
    let kid = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()));

    let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_slice());
    let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256)
        .context("loading the new key")?;
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).context("certificate parameters")?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, connection_name);
    params.not_before = ::time::OffsetDateTime::now_utc();
    params.not_after = params.not_before + ::time::Duration::days(365);
    let cert = params
        .self_signed(&pair)
        .context("self-signing the certificate")?;
    let cert_der = cert.der().to_vec();
    let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der);

    let mut body = Map::new();
    body.insert("kid".into(), json!(kid));
    body.insert("algorithm".into(), json!(alg));
    body.insert("key_use".into(), json!("signing"));
    body.insert("subject_dn".into(), json!(format!("/CN={connection_name}")));
    body.insert("cert".into(), json!(pem_crlf("CERTIFICATE", &cert_der)));
    body.insert("fingerprint".into(), json!(hex_upper(sha1.as_ref(), ":")));
    body.insert("thumbprint".into(), json!(hex_upper(sha1.as_ref(), "")));
    body.insert("pkcs".into(), json!(pem_crlf("PKCS7", &pkcs7(&cert_der))));
    let mut row = KeyRow {
        kid,
        state: String::new(),
        body: Value::Object(body),
        private_der: STANDARD.encode(&der),
        created_at: now.to_owned(),
    };
    set_state(&mut row, state, now);
    Ok(row)
}

/// Moves a key to `state`, with the flags Auth0 shows for it.
fn set_state(k: &mut KeyRow, state: &str, now: &str) {
    k.state = state.to_owned();
    if let Some(b) = k.body.as_object_mut() {
        for flag in ["current", "current_since", "next", "previous"] {
            b.shift_remove(flag);
        }
        b.insert(state.to_owned(), json!(true));
        if state == CURRENT {
            b.insert("current_since".into(), json!(now));
        }
    }
}

/// The signing algorithm asked for (RS256 unless told); only RSA keys are made.
fn algorithm(input: &Input) -> Result<String, Error> {
    let alg = input
        .body
        .get("signing_alg")
        .and_then(Value::as_str)
        .unwrap_or("RS256");
    if alg.starts_with("ES") {
        return Err(Error::bad_body(format!(
            "Payload validation error: signing_alg {alg} is not supported by this server; use an RSA algorithm"
        )));
    }
    Ok(alg.to_owned())
}

fn unavailable() -> Error {
    Error::bad_body("keys are not available for this connection")
}

/// Creates the first keys of a connection (a current key and the next one); what a connection
/// configured for Private Key JWT gets when it is created.
pub async fn provision(
    x: &impl Exec,
    tenant: &str,
    conn: &ConnectionRow,
    alg: &str,
) -> Result<Vec<KeyRow>, Error> {
    let now = time::now();
    let mut out = Vec::new();
    for state in [CURRENT, NEXT] {
        let k = generate(&conn.name, alg, state, &now)?;
        connections::insert_key(x, tenant, &conn.id, &k)
            .await
            .context("storing a connection key")?;
        out.push(k);
    }
    Ok(out)
}

/// Whether a connection's options ask for Private Key JWT client authentication.
pub fn wants_keys(strategy: &str, options: &Value) -> bool {
    options::has_keys(strategy)
        && options
            .get("token_endpoint_auth_method")
            .and_then(Value::as_str)
            == Some("private_key_jwt")
}

async fn find_keyed(ctx: &Ctx, id: &str) -> Result<ConnectionRow, Error> {
    let conn = connections::find(ctx.db(), ctx.tenant_id(), id)
        .await
        .context("finding a connection")?
        .ok_or_else(inexistent)?;
    if !options::has_keys(&conn.strategy) {
        return Err(unavailable());
    }
    Ok(conn)
}

pub async fn get_keys(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let conn = find_keyed(&ctx, input.path("id")).await?;
    let keys = connections::keys(ctx.db(), ctx.tenant_id(), &conn.id)
        .await
        .context("listing connection keys")?;
    Ok(Reply::json(Value::Array(
        keys.into_iter().map(|k| k.body).collect(),
    )))
}

pub async fn post_keys(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let alg = algorithm(&input)?;
    let tx = ctx.db().begin().await.context("starting a transaction")?;
    let conn = connections::find_for_update(&tx, ctx.tenant_id(), input.path("id"))
        .await
        .context("finding a connection")?
        .ok_or_else(inexistent)?;
    if !options::has_keys(&conn.strategy) {
        return Err(unavailable());
    }
    if !connections::keys(&tx, ctx.tenant_id(), &conn.id)
        .await
        .context("listing connection keys")?
        .is_empty()
    {
        return Err(Error::conflict(
            "conflict",
            "Keys have already been created for this connection",
        ));
    }
    let keys = provision(&tx, ctx.tenant_id(), &conn, &alg).await?;
    tx.commit().await.context("committing connection keys")?;
    Ok(Reply::json(Value::Array(
        keys.into_iter().map(|k| k.body).collect(),
    )))
}

/// Rotation: the previous key is dropped, the current one becomes previous, the next one
/// becomes current, and a new next key is made and returned.
pub async fn post_rotate(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let alg = algorithm(&input)?;
    let tenant = ctx.tenant_id();
    let tx = ctx.db().begin().await.context("starting a transaction")?;
    let conn = connections::find_for_update(&tx, tenant, input.path("id"))
        .await
        .context("finding a connection")?
        .ok_or_else(inexistent)?;
    if !options::has_keys(&conn.strategy) {
        return Err(Error::bad_body(
            "Key rotation is not supported on this connection",
        ));
    }
    let keys = connections::keys(&tx, tenant, &conn.id)
        .await
        .context("listing connection keys")?;
    if keys.is_empty() && !wants_keys(&conn.strategy, conn.options()) {
        return Err(Error::bad_body(
            "Connection is not configured to use JWT Client Authentication",
        ));
    }
    let now = time::now();
    let has_next = keys.iter().any(|k| k.state == NEXT);
    for mut k in keys {
        match k.state.as_str() {
            CURRENT => set_state(&mut k, PREVIOUS, &now),
            NEXT => set_state(&mut k, CURRENT, &now),
            _ => {
                connections::delete_key(&tx, tenant, &conn.id, &k.kid)
                    .await
                    .context("dropping a previous key")?;
                continue;
            }
        }
        connections::update_key(&tx, tenant, &conn.id, &k, &now)
            .await
            .context("rotating a key")?;
    }
    if !has_next {
        let current = generate(&conn.name, &alg, CURRENT, &now)?;
        connections::insert_key(&tx, tenant, &conn.id, &current)
            .await
            .context("storing a connection key")?;
    }
    let next = generate(&conn.name, &alg, NEXT, &now)?;
    connections::insert_key(&tx, tenant, &conn.id, &next)
        .await
        .context("storing a connection key")?;
    tx.commit().await.context("committing a key rotation")?;
    Ok(Reply::json(next.body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::FromDer;

    #[test]
    fn generated_key_is_shown_as_auth0_shows_it() {
        let k = generate("My-Conn", "RS256", CURRENT, "2026-01-01T00:00:00.000Z").unwrap();
        let b = &k.body;
        assert_eq!(b["subject_dn"], "/CN=My-Conn");
        assert_eq!(b["current"], true);
        assert_eq!(b["kid"].as_str().unwrap().len(), 43);
        let fp = b["fingerprint"].as_str().unwrap();
        assert_eq!(fp.len(), 59);
        assert_eq!(fp.replace(':', ""), b["thumbprint"].as_str().unwrap());
        let cert = b["cert"].as_str().unwrap();
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----\r\n"));
        let der = pem::parse(cert).unwrap().into_contents();
        let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();
        assert_eq!(
            parsed
                .subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "My-Conn"
        );
        // The kid is the key's RFC 7638 thumbprint.
        assert_eq!(
            crate::mgmt::pem::jwk_thumbprint(parsed.public_key()).unwrap(),
            k.kid
        );
        let p7 = pem::parse(b["pkcs"].as_str().unwrap()).unwrap();
        assert_eq!(p7.tag(), "PKCS7");
        assert!(
            p7.contents()
                .windows(der.len())
                .any(|w| w == der.as_slice())
        );
        assert!(b.get("private_der").is_none());
        let mut k = k;
        set_state(&mut k, PREVIOUS, "now");
        assert!(k.body.get("current").is_none());
        assert_eq!(k.body["previous"], true);
    }
}
