//! What the token endpoint reads, in one query: the client's secret and grant types, the API's
//! token lifetime and RBAC settings (typed columns), the client's grant to it, and, when the
//! request names an organization, that organization (by id, or by name), whether the grant is
//! associated with it, and whether the tenant lets names be used; without an `audience`, the
//! tenant's `default_audience` stands for it. A whole client or API body is never parsed to
//! issue a token.

use gatehouse_core::json::strings;
use serde_json::Value;

use crate::{DbResult, Exec, params, tenants};

#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The API the token is for: the request's `audience`, else the tenant's `default_audience`
    /// ("" when neither is set).
    pub audience: String,
    pub client_secret: Option<String>,
    /// `None` when the client has no `grant_types` (all are allowed).
    pub grant_types: Option<Vec<String>>,
    /// `None` when no API has this identifier.
    pub api_token_lifetime: Option<i64>,
    pub api_exists: bool,
    /// The API's `enforce_policies` (RBAC).
    pub enforce_policies: bool,
    /// The API's `token_dialect` (`None`: Auth0's default, `access_token`).
    pub token_dialect: Option<String>,
    /// `None` when the client has no client-credentials grant to the API.
    pub granted: Option<Granted>,
    /// The grant's `organization_usage` (`None` when unset: Auth0 then denies organizations).
    pub organization_usage: Option<String>,
    /// The grant's `allow_any_organization`.
    pub allow_any_organization: bool,
    /// The organization the request names, when one has that id, or that name.
    pub organization: Option<OrgMatch>,
    /// The tenant setting `allow_organization_name_in_authentication_api` (false when unset,
    /// and not read when the request names no organization).
    pub organization_names_allowed: bool,
}

#[derive(Debug, Clone)]
pub struct OrgMatch {
    pub id: String,
    pub name: String,
    /// Found by its name (no organization has the given value as its id).
    pub by_name: bool,
    /// The client grant is associated with this organization.
    pub associated: bool,
}

#[derive(Debug, Clone)]
pub enum Granted {
    Scopes(Vec<String>),
    /// `allow_all_scopes`: every scope the API defines.
    AllScopes,
}

/// `None` when the client does not exist. `organization` is the request's `organization`
/// parameter ("" or `None`: none asked for; the organization joins then match nothing).
pub async fn find(
    x: &impl Exec,
    tenant: &str,
    client_id: &str,
    audience: &str,
    organization: Option<&str>,
) -> DbResult<Option<TokenGrant>> {
    let asked_org = organization.unwrap_or_default();
    // Each LEFT JOIN is a primary-key or unique-key lookup. The tenant's settings are read first
    // (only when they are needed: an organization is named, or no audience is); the API is the
    // request's audience or the tenant's default. The organization is looked up by id and by
    // name at once; the association is that of the one found by id, else by name.
    const AUD: &str = "COALESCE(NULLIF($3, ''), NULLIF(ts.body->>'default_audience', ''), '')";
    let row = x
        .query_opt(
            &format!("SELECT {AUD} AS audience, c.client_secret AS client_secret, c.body->'grant_types' AS grant_types, \
             rs.id AS api_id, rs.token_lifetime AS token_lifetime, \
             rs.enforce_policies AS enforce_policies, rs.token_dialect AS token_dialect, \
             g.id AS grant_id, g.body AS grant_body, \
             g.allow_any_organization AS allow_any_organization, \
             oi.id AS org_id, oi.name AS org_id_name, \
             onm.id AS org_name_id, onm.name AS org_name, \
             ocg.grant_id AS org_grant, \
             ts.body->'allow_organization_name_in_authentication_api' AS org_names \
             FROM clients c \
             LEFT JOIN docs ts ON ts.tenant_id = c.tenant_id AND ts.kind = $5 AND ts.id = $6 \
                 AND ($4 <> '' OR $3 = '') \
             LEFT JOIN resource_servers rs ON rs.tenant_id = c.tenant_id AND rs.identifier = {AUD} \
             LEFT JOIN client_grants g ON g.tenant_id = c.tenant_id AND g.client_id = c.client_id \
                 AND g.audience = {AUD} AND g.subject_type = 'client' \
             LEFT JOIN organizations oi ON oi.tenant_id = c.tenant_id AND oi.id = $4 \
             LEFT JOIN organizations onm ON onm.tenant_id = c.tenant_id AND onm.name = $4 \
             LEFT JOIN organization_client_grants ocg ON ocg.tenant_id = c.tenant_id \
                 AND ocg.organization_id = COALESCE(oi.id, onm.id) AND ocg.grant_id = g.id \
             WHERE c.tenant_id = $1 AND c.client_id = $2"),
            params![
                tenant,
                client_id,
                audience,
                asked_org,
                tenants::SETTINGS_KIND,
                tenants::SETTINGS_ID
            ],
        )
        .await?;
    let Some(r) = row else { return Ok(None) };
    let grant_types = r.json("grant_types")?;
    let api_exists = r.opt_text("api_id")?.is_some();
    // The grant's body is parsed here, once: PostgreSQL's `->` on a JSON column would re-parse
    // the whole text for every member taken.
    let (granted, organization_usage) = if r.opt_text("grant_id")?.is_none() {
        (None, None)
    } else {
        let g = r.json("grant_body")?;
        let granted = if g.get("allow_all_scopes").and_then(Value::as_bool) == Some(true) {
            Granted::AllScopes
        } else {
            Granted::Scopes(g.get("scope").map(strings).unwrap_or_default())
        };
        let usage = g
            .get("organization_usage")
            .and_then(Value::as_str)
            .map(str::to_owned);
        (Some(granted), usage)
    };
    let associated = r.opt_text("org_grant")?.is_some();
    let organization = match (r.opt_text("org_id")?, r.opt_text("org_name_id")?) {
        (Some(id), _) => Some(OrgMatch {
            id,
            name: r.text("org_id_name")?,
            by_name: false,
            associated,
        }),
        (None, Some(id)) => Some(OrgMatch {
            id,
            name: r.text("org_name")?,
            by_name: true,
            associated,
        }),
        (None, None) => None,
    };
    Ok(Some(TokenGrant {
        audience: r.text("audience")?,
        client_secret: r.opt_text("client_secret")?,
        grant_types: (!grant_types.is_null()).then(|| strings(&grant_types)),
        api_token_lifetime: r.opt_i64("token_lifetime")?,
        api_exists,
        enforce_policies: r.bool("enforce_policies")?,
        token_dialect: r.opt_text("token_dialect")?,
        granted,
        organization_usage,
        allow_any_organization: r.bool("allow_any_organization")?,
        organization,
        // Only read when an organization is named (the settings are joined for a missing
        // audience too).
        organization_names_allowed: !asked_org.is_empty()
            && r.json("org_names")?.as_bool() == Some(true),
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
