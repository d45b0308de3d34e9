//! RS256 JSON Web Tokens: keys are parsed once and kept in memory (aws-lc-rs), since re-parsing an
//! RSA key on every call costs more than the signature itself.

use std::collections::HashMap;

use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    rsa::{KeyPair, KeySize},
    signature::{self, KeyPair as _, ParsedPublicKey},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde_json::{Value, json};

/// A private signing key with its key id.
pub struct SigningKey {
    pub kid: String,
    /// `base64url({"alg":"RS256","typ":"JWT","kid":…})`: the same for every token of this key.
    header_b64: String,
    pair: KeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A new 2048-bit RSA key; returns it with its PKCS#8 DER encoding, for storage.
    pub fn generate(kid: String) -> anyhow::Result<(Self, Vec<u8>)> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
        let der = pair
            .as_der()
            .map_err(|_| anyhow::anyhow!("RSA key encoding failed"))?
            .as_ref()
            .to_vec();
        Ok((Self::new(kid, pair)?, der))
    }

    pub fn from_pkcs8(kid: String, der: &[u8]) -> anyhow::Result<Self> {
        let pair = KeyPair::from_pkcs8(der).map_err(|e| anyhow::anyhow!("bad RSA key: {e}"))?;
        Self::new(kid, pair)
    }

    fn new(kid: String, pair: KeyPair) -> anyhow::Result<Self> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
        Ok(Self {
            header_b64: B64.encode(serde_json::to_vec(&header)?),
            kid,
            pair,
            rng: SystemRandom::new(),
        })
    }

    /// The public half as a JWK (RFC 7517), as served by `/.well-known/jwks.json`.
    pub fn public_jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
            "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// The public key, DER `RSAPublicKey`, for a [`Verifier`].
    pub fn public_der(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// Signs `claims` (a JSON object: a `Value` or any serialisable struct) as an RS256 JWT
    /// with this key's `kid`.
    pub fn sign<C: serde::Serialize + ?Sized>(&self, claims: &C) -> anyhow::Result<String> {
        self.sign_with_header(&self.header_b64, claims)
    }

    /// Like [`sign`](Self::sign), with another `typ` in the header (`at+jwt` for RFC 9068
    /// access tokens).
    pub fn sign_typed<C: serde::Serialize + ?Sized>(
        &self,
        claims: &C,
        typ: &str,
    ) -> anyhow::Result<String> {
        let header = json!({"alg": "RS256", "typ": typ, "kid": self.kid});
        self.sign_with_header(&B64.encode(serde_json::to_vec(&header)?), claims)
    }

    fn sign_with_header<C: serde::Serialize + ?Sized>(
        &self,
        header_b64: &str,
        claims: &C,
    ) -> anyhow::Result<String> {
        let payload = serde_json::to_vec(claims)?;
        let sig_len = self.pair.public_modulus_len();
        let mut token =
            String::with_capacity(header_b64.len() + 2 + (payload.len() + sig_len).div_ceil(3) * 4);
        token.push_str(header_b64);
        token.push('.');
        B64.encode_string(&payload, &mut token);
        let mut sig = vec![0u8; sig_len];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &self.rng,
                token.as_bytes(),
                &mut sig,
            )
            .map_err(|_| anyhow::anyhow!("RS256 signing failed"))?;
        token.push('.');
        B64.encode_string(&sig, &mut token);
        Ok(token)
    }
}

/// Why a token was refused; the messages are Auth0's.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("Bad HTTP authentication header format")]
    Malformed,
    #[error("Invalid token")]
    BadAlgorithm,
    #[error("Invalid token")]
    UnknownKey,
    #[error("Invalid signature received for JSON Web Token validation")]
    BadSignature,
    #[error("Expired token received for JSON Web Token validation")]
    Expired,
    #[error("Bad audience: {0}")]
    BadAudience(String),
    #[error("Invalid token")]
    BadIssuer,
}

/// Public keys by `kid`, parsed once.
#[derive(Default, Clone)]
pub struct Verifier {
    keys: HashMap<String, std::sync::Arc<ParsedPublicKey>>,
}

impl Verifier {
    pub fn add_key(&mut self, kid: &str, rsa_public_der: &[u8]) -> anyhow::Result<()> {
        let key = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, rsa_public_der)
            .map_err(|e| anyhow::anyhow!("bad public key: {e}"))?;
        self.keys.insert(kid.to_owned(), std::sync::Arc::new(key));
        Ok(())
    }

    /// Checks signature (RS256 only, by `kid`), issuer, audience and expiry; returns the claims.
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now: i64,
    ) -> Result<Value, VerifyError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Malformed);
        };
        let header: Value = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(VerifyError::Malformed)?;
        // Only RS256: refuses `none` and any HMAC algorithm (no HS/RS confusion).
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(VerifyError::BadAlgorithm);
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(VerifyError::UnknownKey)?;
        let key = self.keys.get(kid).ok_or(VerifyError::UnknownKey)?;
        let sig = B64.decode(s).map_err(|_| VerifyError::Malformed)?;
        let signed_len = h.len() + 1 + p.len();
        key.verify_sig(&token.as_bytes()[..signed_len], &sig)
            .map_err(|_| VerifyError::BadSignature)?;
        let claims: Value = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(VerifyError::Malformed)?;
        match claims.get("exp").and_then(Value::as_i64) {
            Some(exp) if exp > now => {}
            _ => return Err(VerifyError::Expired),
        }
        if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err(VerifyError::BadIssuer);
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => a == audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !aud_ok {
            let got = claims.get("aud").map(Value::to_string).unwrap_or_default();
            return Err(VerifyError::BadAudience(got));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (SigningKey, Verifier) {
        let (key, _) = SigningKey::generate("k1".into()).unwrap();
        let mut v = Verifier::default();
        v.add_key("k1", &key.public_der()).unwrap();
        (key, v)
    }

    fn claims(exp: i64) -> Value {
        json!({"iss":"https://x/","aud":"https://x/api/v2/","exp":exp,"sub":"c@clients"})
    }

    #[test]
    fn sign_and_verify() {
        let (key, v) = setup();
        let t = key.sign(&claims(2_000_000_000)).unwrap();
        let c = v
            .verify(&t, "https://x/", "https://x/api/v2/", 1_000)
            .unwrap();
        assert_eq!(c["sub"], "c@clients");
        assert_eq!(
            v.verify(&t, "https://y/", "https://x/api/v2/", 1_000),
            Err(VerifyError::BadIssuer)
        );
        assert!(matches!(
            v.verify(&t, "https://x/", "other", 1_000),
            Err(VerifyError::BadAudience(_))
        ));
        assert_eq!(
            v.verify(&t, "https://x/", "https://x/api/v2/", 2_000_000_001),
            Err(VerifyError::Expired)
        );
    }

    #[test]
    fn pkcs8_round_trip_and_jwk() {
        let (key, der) = SigningKey::generate("k2".into()).unwrap();
        let again = SigningKey::from_pkcs8("k2".into(), &der).unwrap();
        assert_eq!(key.public_jwk(), again.public_jwk());
        assert_eq!(key.public_jwk()["e"], "AQAB");
    }

    #[test]
    fn refuses_tampering_none_and_hs256() {
        let (key, v) = setup();
        let t = key.sign(&claims(2_000_000_000)).unwrap();
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = B64.encode(serde_json::to_vec(&claims(2_100_000_000)).unwrap());
        parts[1] = &forged;
        let tampered = parts.join(".");
        assert_eq!(
            v.verify(&tampered, "https://x/", "https://x/api/v2/", 1),
            Err(VerifyError::BadSignature)
        );
        for alg in ["none", "HS256"] {
            let h = B64.encode(serde_json::to_vec(&json!({"alg":alg,"kid":"k1"})).unwrap());
            let bad = format!("{h}.{}.{}", parts[1], parts[2]);
            assert_eq!(
                v.verify(&bad, "https://x/", "https://x/api/v2/", 1),
                Err(VerifyError::BadAlgorithm)
            );
        }
        assert_eq!(v.verify("abc", "i", "a", 1), Err(VerifyError::Malformed));
        let (other, _) = SigningKey::generate("k9".into()).unwrap();
        let t2 = other.sign(&claims(2_000_000_000)).unwrap();
        assert_eq!(
            v.verify(&t2, "https://x/", "https://x/api/v2/", 1),
            Err(VerifyError::UnknownKey)
        );
    }
}
