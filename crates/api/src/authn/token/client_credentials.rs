//! The client-credentials grant: a token for the client itself, as its client grant allows
//! (with the credentials-exchange Actions trigger).

use axum::http::{HeaderMap, StatusCode, header};
use serde::Serialize;
use serde_json::{Map, Value, json};

use gatehouse_actions::Command;

use crate::actions::run::Failure;

use gatehouse_core::{ids, password::secrets_equal, time::unix_now};
use gatehouse_store::tokens::{self, Granted as ClientGranted, OrgMatch, TokenGrant};

use super::{Call, Granted, OAuthError};
use crate::state::AppState;

/// The client-credentials grant: a token for the client itself, as its client grant allows.
pub(super) async fn grant(call: &Call<'_>) -> Result<Granted, OAuthError> {
    let (state, tenant, req, headers, peer) =
        (call.state, call.tenant, call.req, call.headers, call.peer);
    let client_id = req.client_id.as_deref().ok_or_else(|| {
        OAuthError::new(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized")
    })?;
    let asked_audience = req.audience.as_deref().unwrap_or_default();
    let db = &state.db;
    // An empty `organization` is no organization.
    let organization = req.organization.as_deref().filter(|o| !o.is_empty());
    let found = tokens::find(db, &tenant.id, client_id, asked_audience, organization).await?;
    let authenticated = match (&found, req.client_secret.as_deref()) {
        (Some(f), Some(given)) => f
            .client_secret
            .as_deref()
            .is_some_and(|s| secrets_equal(s, given)),
        _ => false,
    };
    let Some(found) = found.filter(|_| authenticated) else {
        return Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "access_denied",
            "Unauthorized",
        ));
    };
    if found
        .grant_types
        .as_ref()
        .is_some_and(|g| !g.iter().any(|t| t == "client_credentials"))
    {
        return Err(OAuthError::new(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            "Grant type 'client_credentials' not allowed for the client.",
        ));
    }
    // The request's audience, else the tenant's `default_audience`.
    let audience = found.audience.as_str();
    if audience.is_empty() {
        return Err(OAuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "No audience parameter was provided, and no default audience has been configured",
        ));
    }
    if !found.api_exists {
        return Err(OAuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!("Service not enabled within domain: {audience}"),
        ));
    }
    let granted = match &found.granted {
        Some(ClientGranted::Scopes(s)) => s.clone(),
        Some(ClientGranted::AllScopes) => tokens::api_scopes(db, &tenant.id, audience).await?,
        None => {
            return Err(OAuthError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                format!(
                    "Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API."
                ),
            ));
        }
    };
    let org = organization_of(&found, organization, audience)?;
    let scopes: Vec<String> = match req.scope.as_deref() {
        Some(asked) if !asked.trim().is_empty() => {
            let asked: Vec<&str> = asked.split_whitespace().collect();
            granted
                .into_iter()
                .filter(|g| asked.contains(&g.as_str()))
                .collect()
        }
        _ => granted,
    };
    let lifetime = found.api_token_lifetime.unwrap_or(86_400);
    let now = unix_now();
    let scope = scopes.join(" ");
    let custom = credentials_exchange(
        state,
        &tenant.id,
        Exchange {
            client_id,
            audience,
            scope: &scope,
            requested: req.scope.as_deref(),
            org,
            headers,
            peer,
        },
    )
    .await?;
    let dialect = found.token_dialect.as_deref().unwrap_or("access_token");
    // RBAC with a dialect that carries permissions: for a client (no user, no roles) the
    // permissions are what its grant gives, the same values as `scope`.
    let permissions = (found.enforce_policies
        && matches!(dialect, "access_token_authz" | "rfc9068_profile_authz"))
    .then_some(scopes.as_slice());
    let rfc9068 = dialect.starts_with("rfc9068_profile");
    let jti = rfc9068.then(|| ids::prefixed("jti", 22));
    // Serialised straight from borrowed fields (no `Value` tree holding copies of the ~7 KB
    // scope string), in the order Auth0 writes them.
    let claims = Claims {
        iss: &tenant.issuer,
        sub: &format!("{client_id}@clients"),
        aud: audience,
        iat: now,
        exp: now + lifetime,
        jti: jti.as_deref(),
        client_id: rfc9068.then_some(client_id),
        scope: &scope,
        org_id: org.map(|o| o.id.as_str()),
        org_name: org
            .filter(|_| found.organization_names_allowed)
            .map(|o| o.name.as_str()),
        gty: (!rfc9068).then_some("client-credentials"),
        azp: (!rfc9068).then_some(client_id),
        permissions,
        custom: custom.as_ref(),
    };
    let token = {
        let keys = tenant.keys();
        if rfc9068 {
            keys.signing.sign_typed(&claims, "at+jwt")?
        } else {
            keys.signing.sign(&claims)?
        }
    };
    let reply = TokenReply {
        access_token: token,
        scope,
        expires_in: lifetime,
        token_type: "Bearer",
    };
    Ok(Granted {
        scope: Some(reply.scope.clone()),
        reply: serde_json::to_value(&reply)
            .map_err(|e| OAuthError::from(anyhow::Error::from(e)))?,
        user_id: None,
    })
}

/// The organization the token is for, by the grant's `organization_usage` and
/// `allow_any_organization` (Machine-to-Machine Access for Organizations): `deny` (the default)
/// refuses an `organization`, `require` refuses its absence, and unless the grant allows any
/// organization, the grant must be associated with the one named.
fn organization_of<'a>(
    found: &'a TokenGrant,
    asked: Option<&str>,
    audience: &str,
) -> Result<Option<&'a OrgMatch>, OAuthError> {
    let usage = found.organization_usage.as_deref().unwrap_or("deny");
    let Some(asked) = asked else {
        if usage == "require" {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "parameter organization is required for this client",
            ));
        }
        return Ok(None);
    };
    if usage != "allow" && usage != "require" {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "parameter organization is not allowed for this client",
        ));
    }
    let org = found
        .organization
        .as_ref()
        .filter(|o| !o.by_name || found.organization_names_allowed);
    let Some(org) = org else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            if found.organization_names_allowed {
                "parameter organization is invalid: no organization has this id or name"
            } else {
                "parameter organization must be an organization id"
            },
        ));
    };
    if !found.allow_any_organization && !org.associated {
        return Err(OAuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            format!(
                "Client is not authorized to access \"{audience}\" for organization \"{asked}\". You need to associate its \"client-grant\" with the organization."
            ),
        ));
    }
    Ok(Some(org))
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gty: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    azp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<&'a [String]>,
    /// Claims set by credentials-exchange actions.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    custom: Option<&'a Map<String, Value>>,
}

/// What a credentials-exchange action sees of a token request.
struct Exchange<'a> {
    client_id: &'a str,
    audience: &'a str,
    scope: &'a str,
    requested: Option<&'a str>,
    org: Option<&'a OrgMatch>,
    headers: &'a HeaderMap,
    peer: Option<&'a str>,
}

/// Claims Auth0 does not let an action set (they are ignored): the token's own and Auth0's
/// namespaces.
pub(crate) fn restricted_claim(name: &str) -> bool {
    const OWN: &[&str] = &[
        "iss",
        "sub",
        "aud",
        "iat",
        "exp",
        "nbf",
        "jti",
        "azp",
        "scope",
        "gty",
        "org_id",
        "org_name",
        "permissions",
        "client_id",
        "amr",
        "acr",
        "auth_time",
    ];
    OWN.contains(&name)
        || ["auth0.com", "webtask.io", "webtask.run"]
            .iter()
            .any(|d| name.contains(d))
}

/// Runs the credentials-exchange actions (when any is bound): the custom claims they set, or
/// the refusal of the one that denied or failed.
async fn credentials_exchange(
    state: &AppState,
    tenant: &str,
    x: Exchange<'_>,
) -> Result<Option<Map<String, Value>>, OAuthError> {
    let rt = &state.actions;
    let trigger = gatehouse_actions::Trigger::CredentialsExchange;
    let bound = rt
        .bound(&state.db, tenant, trigger)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if bound.is_empty() {
        return Ok(None);
    }
    let client = rt
        .client(&state.db, tenant, x.client_id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let header = |h: header::HeaderName| {
        x.headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let mut event = json!({
        "accessToken": {"customClaims": {}, "scope": x.scope.split_whitespace().collect::<Vec<_>>()},
        "client": {
            "client_id": x.client_id,
            "name": client.0,
            "metadata": client.1,
        },
        "request": {
            "ip": x.peer,
            "hostname": header(header::HOST),
            "user_agent": header(header::USER_AGENT),
            "method": "POST",
            "body": {"grant_type": "client_credentials", "client_id": x.client_id, "audience": x.audience},
        },
        "resource_server": {"identifier": x.audience},
        "tenant": {"id": tenant},
        "transaction": {"requested_scopes": x.requested.map(|s| s.split_whitespace().collect::<Vec<_>>()).unwrap_or_default()},
    });
    if let (Some(o), Value::Object(e)) = (x.org, &mut event) {
        e.insert("organization".into(), json!({"id": o.id, "name": o.name}));
    }
    let flow = rt
        .execute(&state.db, tenant, trigger, event)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    match flow.failure {
        Some(Failure::Denied { code, reason }) => {
            let (status, error) = match code.as_deref() {
                Some("invalid_request") => (StatusCode::BAD_REQUEST, "invalid_request"),
                Some("invalid_scope") => (StatusCode::BAD_REQUEST, "invalid_scope"),
                Some("server_error") => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
                Some("unauthorized_client") => (StatusCode::FORBIDDEN, "unauthorized_client"),
                _ => (StatusCode::FORBIDDEN, "access_denied"),
            };
            return Err(OAuthError::new(status, error, reason));
        }
        Some(Failure::Failed { action_name, .. }) => {
            return Err(OAuthError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                format!("The action '{action_name}' failed"),
            ));
        }
        None => {}
    }
    let mut claims = Map::new();
    for c in flow.commands {
        if let Command::AccessTokenSetCustomClaim { name, value } = c
            && !restricted_claim(&name)
        {
            claims.insert(name, value);
        }
    }
    Ok((!claims.is_empty()).then_some(claims))
}

#[derive(Serialize)]
struct TokenReply {
    access_token: String,
    scope: String,
    expires_in: i64,
    token_type: &'static str,
}
