//! Bearer-token authentication and the scope check. Verified tokens are cached by their hash
//! until they expire, since RS256 verification dominates the cost of a cheap read.

use std::{sync::Arc, time::Duration};

use serde_json::Value;

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

/// A verified token: the token itself (compared in full on every hit, so a hash collision is
/// only a miss) and who it names.
#[derive(Clone)]
pub struct Verified {
    token: Arc<str>,
    tenant: Arc<str>,
    /// The key generation it was verified under: a hit under another generation (a key was
    /// rotated or revoked since) is verified again, so a revoked key's token never passes.
    generation: i64,
    principal: Arc<Principal>,
}

/// Keyed by a fast keyed hash of tenant and token (SHA-256 of a 3 KB token cost more than the
/// rest of a cached read); bounded by the bytes it holds: the token and the principal (a
/// Management API token names up to 221 scopes: ~12 KB of token, ~11 KB of parsed scopes).
pub type TokenCache = moka::sync::Cache<u64, Verified>;

/// The cache's bound in (estimated) bytes: ~700 full-scope tokens. Clients reuse a token until
/// it expires, so a few hot tokens are what it serves; a flood of distinct tokens only evicts.
pub const TOKEN_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// Heap bytes a cache entry holds, roughly (a `String` is 24 bytes plus its allocation).
fn weight(v: &Verified) -> u32 {
    let p = &v.principal;
    let scopes: usize = p.scopes.iter().map(|s| s.len() + 40).sum();
    let bytes = v.token.len() + v.tenant.len() + p.sub.len() + scopes + 256;
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

pub fn new_token_cache() -> TokenCache {
    moka::sync::Cache::builder()
        .weigher(|_, v: &Verified| weight(v))
        .max_capacity(TOKEN_CACHE_BYTES)
        .time_to_live(Duration::from_secs(600))
        .build()
}

fn cache_key(tenant: &str, token: &str) -> u64 {
    use std::{
        hash::{BuildHasher, Hasher},
        sync::OnceLock,
    };
    static SEED: OnceLock<foldhash::quality::RandomState> = OnceLock::new();
    let mut h = SEED
        .get_or_init(foldhash::quality::RandomState::default)
        .build_hasher();
    h.write(tenant.as_bytes());
    h.write_u8(0);
    h.write(token.as_bytes());
    h.finish()
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
    let key = cache_key(&tenant.id, token);
    let keys = tenant.keys();
    if let Some(v) = cache.get(&key)
        && *v.token == *token
        && *v.tenant == *tenant.id
        && v.generation == keys.generation
    {
        if v.principal.exp > now {
            return Ok(v.principal);
        }
        cache.invalidate(&key);
    }
    let claims = keys
        .verifier
        .verify(token, &tenant.issuer, &tenant.management_audience(), now)
        .map_err(|e| Error::InvalidToken(e.to_string().into()))?;
    let p = Arc::new(principal_from(&claims));
    cache.insert(
        key,
        Verified {
            token: token.into(),
            tenant: tenant.id.as_str().into(),
            generation: keys.generation,
            principal: p.clone(),
        },
    );
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

    /// A flood of distinct full-scope tokens (12 KB each, 221 scopes) stays within the bound,
    /// counting the parsed scopes as well as the token.
    #[test]
    fn the_token_cache_is_bounded_by_what_it_holds() {
        let cache = new_token_cache();
        let scopes: Vec<String> = (0..221).map(|i| format!("read:scope_number_{i}")).collect();
        for i in 0..2000u32 {
            let token = format!("{i:>12000}");
            let v = Verified {
                token: token.as_str().into(),
                tenant: "default".into(),
                generation: 1,
                principal: Arc::new(Principal {
                    sub: "x@clients".into(),
                    client_id: Some("x".into()),
                    scopes: scopes.clone(),
                    exp: i64::MAX,
                }),
            };
            cache.insert(cache_key("default", &token), v);
        }
        cache.run_pending_tasks();
        let heap_per_entry = 12_000 + scopes.iter().map(|s| s.len() + 24).sum::<usize>();
        let held = cache.entry_count() * heap_per_entry as u64;
        assert!(
            held <= TOKEN_CACHE_BYTES,
            "{} entries, ~{held} bytes",
            cache.entry_count()
        );
        assert!(
            cache.entry_count() > 100,
            "still caches: {}",
            cache.entry_count()
        );
    }

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
