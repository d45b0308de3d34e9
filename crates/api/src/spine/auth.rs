//! Bearer-token authentication and the scope check. Verified tokens are cached by their hash
//! until they expire, since RS256 verification dominates the cost of a cheap read.

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use sha2::{Digest, Sha256};

use gatehouse_core::{Error, time::unix_now};

use crate::state::Tenant;

/// Who is calling: from a verified access token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub sub: String,
    pub client_id: Option<String>,
    pub scopes: Vec<String>,
    pub exp: i64,
}

impl Principal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

pub type TokenCache = moka::sync::Cache<([u8; 32], String), Arc<Principal>>;

pub fn new_token_cache() -> TokenCache {
    moka::sync::Cache::builder()
        .max_capacity(100_000)
        .time_to_live(Duration::from_secs(600))
        .build()
}

/// Verifies the `Authorization` header for the tenant's Management API audience.
pub fn authenticate(
    cache: &TokenCache,
    tenant: &Tenant,
    header: Option<&str>,
) -> Result<Arc<Principal>, Error> {
    let Some(header) = header else {
        return Err(Error::InvalidToken("Missing authentication".into()));
    };
    let token = match header.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            t.trim()
        }
        _ => {
            return Err(Error::InvalidToken(
                "Bad HTTP authentication header format".into(),
            ));
        }
    };
    let now = unix_now();
    let key = (Sha256::digest(token.as_bytes()).into(), tenant.id.clone());
    if let Some(p) = cache.get(&key) {
        if p.exp > now {
            return Ok(p);
        }
        cache.invalidate(&key);
    }
    let claims = tenant
        .verifier
        .verify(token, &tenant.issuer, &tenant.management_audience(), now)
        .map_err(|e| Error::InvalidToken(e.to_string().into()))?;
    let p = Arc::new(principal_from(&claims));
    cache.insert(key, p.clone());
    Ok(p)
}

fn principal_from(claims: &Value) -> Principal {
    let s = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
    Principal {
        sub: s("sub").unwrap_or_default(),
        client_id: s("azp"),
        scopes: s("scope")
            .map(|sc| sc.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        exp: claims.get("exp").and_then(Value::as_i64).unwrap_or(0),
    }
}

/// Any one of the operation's scopes allows the call.
pub fn check_scopes(p: &Principal, required: &[&str]) -> Result<(), Error> {
    if required.is_empty() || required.iter().any(|s| p.has_scope(s)) {
        return Ok(());
    }
    Err(Error::InsufficientScope(
        format!(
            "Insufficient scope, expected any of: {}",
            required.join(",")
        )
        .into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let p = Principal {
            sub: "x@clients".into(),
            client_id: None,
            scopes: vec!["read:clients".into()],
            exp: 0,
        };
        assert!(check_scopes(&p, &["read:clients", "read:client_keys"]).is_ok());
        let e = check_scopes(&p, &["create:clients"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Insufficient scope, expected any of: create:clients"
        );
    }
}
