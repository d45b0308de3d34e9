//! `POST /oauth/token` with the client-credentials grant. Errors take OAuth's shape,
//! `{"error":…,"error_description":…}`, with the statuses Auth0 answers.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use gatehouse_actions::Command;

use crate::actions::run::Failure;
use crate::logs::Entry;

use gatehouse_core::{ids, password::secrets_equal, time::unix_now};
use gatehouse_store::tokens::{self, Granted, OrgMatch, TokenGrant};

use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    audience: Option<String>,
    scope: Option<String>,
    /// An organization's id, or its name when the tenant allows names
    /// (`allow_organization_name_in_authentication_api`).
    organization: Option<String>,
}

struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response()
    }
}

impl From<anyhow::Error> for OAuthError {
    fn from(e: anyhow::Error) -> Self {
        tracing::error!(error = ?e, "token endpoint failure");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Internal Server Error",
        )
    }
}

fn parse(headers: &HeaderMap, body: &Bytes) -> Result<TokenRequest, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut req: TokenRequest = if ct.starts_with("application/json") {
        serde_json::from_slice(body).map_err(|_| {
            OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid request payload JSON format",
            )
        })?
    } else {
        serde_urlencoded::from_bytes(body).map_err(|_| {
            OAuthError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid request payload",
            )
        })?
    };
    // client_secret_basic
    if let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
    {
        let decoded = STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                OAuthError::new(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized")
            })?;
        let (id, secret) = decoded.split_once(':').ok_or_else(|| {
            OAuthError::new(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized")
        })?;
        let dec = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        req.client_id = Some(dec(id));
        req.client_secret = Some(dec(secret));
    }
    // U+0000 fits no parameter, and PostgreSQL's text cannot hold it: refused here, the same on
    // both backends.
    let fields = [
        &req.grant_type,
        &req.client_id,
        &req.client_secret,
        &req.audience,
        &req.scope,
        &req.organization,
    ];
    if fields
        .iter()
        .any(|f| f.as_deref().is_some_and(|v| v.contains('\0')))
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Parameters must not contain the NUL character (\\u0000)",
        ));
    }
    Ok(req)
}

pub async fn post_token(
    State(state): State<AppState>,
    ext: http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let peer = ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let result = issue(&state, &headers, &body, peer.as_deref()).await;
    // The exchange goes into the tenant's log (`seccft` / `feccft`) before the answer.
    if let Ok(req) = parse(&headers, &body)
        && req.grant_type.as_deref() == Some("client_credentials")
    {
        let tenant = state.tenant_for_host(headers.get(header::HOST).and_then(|h| h.to_str().ok()));
        let entry = match &result {
            Ok(r) => Entry::new("seccft", "Client Credentials for Access Token")
                .set("scope", Some(r.scope.clone())),
            Err(e) => Entry::new("feccft", e.description.clone()),
        };
        let ua = headers
            .get(header::USER_AGENT)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        let entry = entry
            .set("client_id", req.client_id.clone())
            .set("audience", req.audience.clone())
            .set("ip", peer.clone())
            .set("user_agent", ua)
            .set("hostname", tenant_host(&tenant.issuer));
        state.logs.record(&tenant.id, entry).await;
    }
    match result {
        Ok(v) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            Json(v),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The host of an issuer URL (a log entry's `hostname`).
fn tenant_host(issuer: &str) -> Option<String> {
    url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
}

async fn issue(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    peer: Option<&str>,
) -> Result<TokenReply, OAuthError> {
    let req = parse(headers, body)?;
    let tenant = state.tenant_for_host(headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    let grant_type = req.grant_type.as_deref().ok_or_else(|| {
        OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: grant_type",
        )
    })?;
    if grant_type != "client_credentials" {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("Unsupported grant type: {grant_type}"),
        ));
    }
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
        Some(Granted::Scopes(s)) => s.clone(),
        Some(Granted::AllScopes) => tokens::api_scopes(db, &tenant.id, audience).await?,
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
    let token = if rfc9068 {
        tenant.signing_key.sign_typed(&claims, "at+jwt")?
    } else {
        tenant.signing_key.sign(&claims)?
    };
    Ok(TokenReply {
        access_token: token,
        scope,
        expires_in: lifetime,
        token_type: "Bearer",
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
fn restricted_claim(name: &str) -> bool {
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
