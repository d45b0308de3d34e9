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
use serde_json::json;

use gatehouse_core::{password::secrets_equal, time::unix_now};
use gatehouse_store::tokens::{self, Granted};

use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    audience: Option<String>,
    scope: Option<String>,
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
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match issue(&state, &headers, &body).await {
        Ok(v) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            Json(v),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn issue(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
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
    let audience = req.audience.as_deref().unwrap_or_default();
    let db = &state.db;
    let found = tokens::find(db, &tenant.id, client_id, audience).await?;
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
    let granted = match found.granted {
        Some(Granted::Scopes(s)) => s,
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
    // Serialised straight from borrowed fields (no `Value` tree holding copies of the ~7 KB
    // scope string), in the order Auth0 writes them.
    let claims = Claims {
        iss: &tenant.issuer,
        sub: &format!("{client_id}@clients"),
        aud: audience,
        iat: now,
        exp: now + lifetime,
        scope: &scope,
        gty: "client-credentials",
        azp: client_id,
    };
    let token = tenant.signing_key.sign(&claims)?;
    Ok(TokenReply {
        access_token: token,
        scope,
        expires_in: lifetime,
        token_type: "Bearer",
    })
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    scope: &'a str,
    gty: &'a str,
    azp: &'a str,
}

#[derive(Serialize)]
struct TokenReply {
    access_token: String,
    scope: String,
    expires_in: i64,
    token_type: &'static str,
}
