//! PEM keys and certificates sent by callers (client credentials, token encryption keys).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use x509_parser::{
    certificate::X509Certificate, prelude::FromDer, public_key::PublicKey,
    x509::SubjectPublicKeyInfo,
};

use gatehouse_core::Error;

/// What a PEM holds, once parsed.
pub enum Pem {
    Certificate(Vec<u8>),
    PublicKey(Vec<u8>),
}

pub fn parse_pem(text: &str) -> Result<Pem, Error> {
    let p = pem::parse(text.trim())
        .map_err(|_| Error::bad_body("Invalid PEM: the value could not be parsed"))?;
    match p.tag() {
        "CERTIFICATE" => Ok(Pem::Certificate(p.into_contents())),
        "PUBLIC KEY" => Ok(Pem::PublicKey(p.into_contents())),
        other => Err(Error::bad_body(format!(
            "Invalid PEM: expected a CERTIFICATE or a PUBLIC KEY, got {other}"
        ))),
    }
}

pub fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, Error> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|_| Error::bad_body("Invalid PEM: the certificate could not be parsed"))
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|x| *x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    b.get(start..).unwrap_or(b)
}

/// RFC 7638 SHA-256 thumbprint of an RSA public key, base64url without padding.
pub fn jwk_thumbprint(spki: &SubjectPublicKeyInfo<'_>) -> Result<String, Error> {
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let canonical = format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(strip_zeros(rsa.exponent)),
                URL_SAFE_NO_PAD.encode(strip_zeros(rsa.modulus)),
            );
            Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes())))
        }
        _ => Err(Error::bad_body(
            "Invalid PEM: only RSA public keys are supported",
        )),
    }
}

/// RFC 7638 SHA-256 thumbprint, base64url, of the RSA key in a `CERTIFICATE` or `PUBLIC KEY` PEM.
pub fn pem_jwk_thumbprint(text: &str) -> Result<String, Error> {
    match parse_pem(text)? {
        Pem::Certificate(der) => jwk_thumbprint(parse_cert(&der)?.public_key()),
        Pem::PublicKey(der) => {
            let (_, spki) = SubjectPublicKeyInfo::from_der(&der)
                .map_err(|_| Error::bad_body("Invalid PEM: the public key could not be parsed"))?;
            jwk_thumbprint(&spki)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = include_str!("testdata/token_encryption_cert.pem");

    #[test]
    fn thumbprint_of_recorded_certificate() {
        // The value Auth0 returned for this certificate (TestAccResourceServer#11).
        assert_eq!(
            pem_jwk_thumbprint(CERT).unwrap(),
            "w0kIFOc-q7KKK-pa2Uj5b_Cl3f0hAgFeseLg8iEmWu0"
        );
    }

    #[test]
    fn rejects_garbage() {
        assert!(pem_jwk_thumbprint("not a pem").is_err());
        assert!(
            pem_jwk_thumbprint("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .is_err()
        );
        assert!(
            pem_jwk_thumbprint("-----BEGIN PUBLIC KEY-----\n!!\n-----END PUBLIC KEY-----").is_err()
        );
    }
}
