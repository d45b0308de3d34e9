//! What the token endpoint reads, in one query: the client's secret and grant types, the API's
//! token lifetime (a typed column), and the client's grant to it. A whole client or API body is
//! never parsed to issue a token.

use serde_json::Value;

use crate::{DbResult, Exec, params};

#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub client_secret: Option<String>,
    /// `None` when the client has no `grant_types` (all are allowed).
    pub grant_types: Option<Vec<String>>,
    /// `None` when no API has this identifier.
    pub api_token_lifetime: Option<i64>,
    pub api_exists: bool,
    /// `None` when the client has no client-credentials grant to the API.
    pub granted: Option<Granted>,
}

#[derive(Debug, Clone)]
pub enum Granted {
    Scopes(Vec<String>),
    /// `allow_all_scopes`: every scope the API defines.
    AllScopes,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `None` when the client does not exist.
pub async fn find(
    x: &impl Exec,
    tenant: &str,
    client_id: &str,
    audience: &str,
) -> DbResult<Option<TokenGrant>> {
    let row = x
        .query_opt(
            "SELECT c.client_secret AS client_secret, c.body->'grant_types' AS grant_types, \
             rs.id AS api_id, rs.token_lifetime AS token_lifetime, \
             g.id AS grant_id, g.body AS grant_body \
             FROM clients c \
             LEFT JOIN resource_servers rs ON rs.tenant_id = c.tenant_id AND rs.identifier = $3 \
             LEFT JOIN client_grants g ON g.tenant_id = c.tenant_id AND g.client_id = c.client_id \
                 AND g.audience = $3 AND g.subject_type = 'client' \
             WHERE c.tenant_id = $1 AND c.client_id = $2",
            params![tenant, client_id, audience],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    let grant_types = r.json("grant_types")?;
    let api_exists = r.opt_text("api_id")?.is_some();
    // The grant's body is parsed here, once: PostgreSQL's `->` on a JSON column would re-parse
    // the whole text for every member taken.
    let granted = if r.opt_text("grant_id")?.is_none() {
        None
    } else {
        let g = r.json("grant_body")?;
        if g.get("allow_all_scopes").and_then(Value::as_bool) == Some(true) {
            Some(Granted::AllScopes)
        } else {
            Some(Granted::Scopes(
                g.get("scope").map(strings).unwrap_or_default(),
            ))
        }
    };
    Ok(Some(TokenGrant {
        client_secret: r.opt_text("client_secret")?,
        grant_types: (!grant_types.is_null()).then(|| strings(&grant_types)),
        api_token_lifetime: r.opt_i64("token_lifetime")?,
        api_exists,
        granted,
    }))
}

/// The scope values an API defines (for `allow_all_scopes` grants).
pub async fn api_scopes(x: &impl Exec, tenant: &str, audience: &str) -> DbResult<Vec<String>> {
    let Some(r) = x
        .query_opt(
            "SELECT body->'scopes' AS scopes FROM resource_servers WHERE tenant_id = $1 AND identifier = $2",
            params![tenant, audience],
        )
        .await?
    else {
        return Ok(Vec::new());
    };
    Ok(r.json("scopes")?
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.get("value").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default())
}
