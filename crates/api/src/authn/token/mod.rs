//! `POST /oauth/token`: one module per grant. Errors take OAuth's shape,
//! `{"error":…,"error_description":…}`, with the statuses Auth0 answers; every exchange goes
//! into the tenant's log with Auth0's event type of its grant.

mod authorization_code;
mod client_credentials;
pub(crate) mod mfa;
mod password;
mod refresh_token;

pub(crate) use client_credentials::restricted_claim;
pub(crate) use password::REALM_GRANT;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json,
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Deserialize;
use serde_json::{Value, json};

use gatehouse_core::password::secrets_equal;
use gatehouse_store::clients::{self, ClientRow};

use crate::{
    logs::Entry,
    state::{AppState, Tenant},
};

/// The parameters of every grant (unknown ones are ignored, as Auth0 does).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub audience: Option<String>,
    pub scope: Option<String>,
    /// An organization's id, or its name when the tenant allows names
    /// (`allow_organization_name_in_authentication_api`).
    pub organization: Option<String>,
    pub code: Option<String>,
    pub code_verifier: Option<String>,
    pub redirect_uri: Option<String>,
    pub refresh_token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub realm: Option<String>,
    /// The MFA grants: the `mfa_required` answer's token and the second factor's proof.
    pub mfa_token: Option<String>,
    pub otp: Option<String>,
    pub recovery_code: Option<String>,
    pub oob_code: Option<String>,
    pub binding_code: Option<String>,
    /// Whether the client secret came in the `Authorization` header (client_secret_basic).
    #[serde(skip)]
    pub basic: bool,
}

#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// `mfa_required`: the mfa_token that lets the MFA API finish the login.
    pub mfa_token: Option<String>,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            mfa_token: None,
        }
    }

    /// Auth0's 403 `mfa_required`, with the token the MFA API takes.
    pub fn mfa_required(mfa_token: String) -> Self {
        Self {
            mfa_token: Some(mfa_token),
            ..Self::new(
                StatusCode::FORBIDDEN,
                "mfa_required",
                "Multifactor authentication required",
            )
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized")
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "invalid_grant", description)
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.error, "error_description": self.description});
        if let Some(t) = self.mfa_token {
            body["mfa_token"] = json!(t);
        }
        (
            self.status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(body),
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

impl From<gatehouse_core::Error> for OAuthError {
    fn from(e: gatehouse_core::Error) -> Self {
        match e {
            gatehouse_core::Error::Internal(e) => e.into(),
            gatehouse_core::Error::TooManyRequests(m) => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                m.into_owned(),
            ),
            other => Self::new(other.status(), "invalid_request", other.public_message()),
        }
    }
}

/// The `client_secret_basic` credentials of an `Authorization: Basic` header, if any.
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, OAuthError> {
    let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
    else {
        return Ok(None);
    };
    let decoded = STANDARD
        .decode(basic.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(OAuthError::unauthorized)?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(OAuthError::unauthorized)?;
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    Ok(Some((dec(id), dec(secret))))
}

/// A form or JSON body, as its `Content-Type` says.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        serde_json::from_slice(body)
            .map_err(|_| OAuthError::invalid_request("Invalid request payload JSON format"))
    } else {
        serde_urlencoded::from_bytes(body)
            .map_err(|_| OAuthError::invalid_request("Invalid request payload"))
    }
}

fn parse(headers: &HeaderMap, body: &Bytes) -> Result<TokenRequest, OAuthError> {
    let mut req: TokenRequest = parse_body(headers, body)?;
    if let Some((id, secret)) = basic_credentials(headers)? {
        req.client_id = Some(id);
        req.client_secret = Some(secret);
        req.basic = true;
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
        &req.code,
        &req.code_verifier,
        &req.redirect_uri,
        &req.refresh_token,
        &req.username,
        &req.password,
        &req.realm,
        &req.mfa_token,
        &req.otp,
        &req.recovery_code,
        &req.oob_code,
        &req.binding_code,
    ];
    if fields
        .iter()
        .any(|f| f.as_deref().is_some_and(|v| v.contains('\0')))
    {
        return Err(OAuthError::invalid_request(
            "Parameters must not contain the NUL character (\\u0000)",
        ));
    }
    Ok(req)
}

/// How a client proves itself at the token endpoint: `client_secret_post` /
/// `client_secret_basic` with its secret, or nothing for a public client
/// (`token_endpoint_auth_method: none`), whose grants then need proof of their own (PKCE, a
/// refresh token issued to it). `allow_public`: the grant accepts a public client.
pub(crate) async fn authenticate_client(
    state: &AppState,
    tenant: &str,
    client_id: Option<&str>,
    client_secret: Option<&str>,
    allow_public: bool,
) -> Result<ClientRow, OAuthError> {
    let client_id = client_id
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: client_id"))?;
    let client = clients::find(&state.db, tenant, client_id)
        .await
        .map_err(OAuthError::from)?
        .ok_or_else(OAuthError::unauthorized)?;
    let method = client
        .body
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("client_secret_post");
    match client_secret {
        Some(given) => {
            if !client
                .client_secret
                .as_deref()
                .is_some_and(|s| secrets_equal(s, given))
            {
                return Err(OAuthError::unauthorized());
            }
        }
        None if method == "none" && allow_public => {}
        None => {
            return Err(OAuthError::unauthorized());
        }
    }
    Ok(client)
}

/// Whether the client's `grant_types` allow `grant` (Auth0's 403 `unauthorized_client`).
pub(crate) fn check_grant_type(client: &ClientRow, grant: &str) -> Result<(), OAuthError> {
    let allowed = client
        .body
        .get("grant_types")
        .and_then(Value::as_array)
        .is_none_or(|g| g.iter().any(|t| t.as_str() == Some(grant)));
    if allowed {
        Ok(())
    } else {
        Err(OAuthError::new(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            format!("Grant type '{grant}' not allowed for the client."),
        ))
    }
}

/// What a grant hands back: the reply, and what the tenant's log says of it.
pub(crate) struct Granted {
    pub reply: Value,
    pub user_id: Option<String>,
    pub scope: Option<String>,
}

/// What a grant's handler gets.
pub(crate) struct Call<'a> {
    pub state: &'a AppState,
    pub tenant: &'a Arc<Tenant>,
    pub req: &'a TokenRequest,
    pub headers: &'a HeaderMap,
    pub peer: Option<&'a str>,
}

impl Call<'_> {
    pub fn user_agent(&self) -> Option<&str> {
        self.headers
            .get(header::USER_AGENT)
            .and_then(|h| h.to_str().ok())
    }
}

/// Auth0's log event types of each grant: success and failure.
fn log_types(grant: &str) -> Option<(&'static str, &'static str, &'static str)> {
    Some(match grant {
        "client_credentials" => ("seccft", "feccft", "Client Credentials for Access Token"),
        "authorization_code" => ("seacft", "feacft", "Authorization Code for Access Token"),
        "refresh_token" => ("sertft", "fertft", "Refresh Token for Access Token"),
        "password" | password::REALM_GRANT => ("sepft", "fepft", "Password for Access Token"),
        mfa::OTP_GRANT => ("seotpft", "feotpft", "OTP for Access Token"),
        mfa::RECOVERY_GRANT => ("sercft", "fercft", "Recovery Code for Access Token"),
        mfa::OOB_GRANT => ("seoobft", "feoobft", "OOB for Access Token"),
        _ => return None,
    })
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
    let tenant = state.tenant_for_host(headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    let req = match parse(&headers, &body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let call = Call {
        state: &state,
        tenant: &tenant,
        req: &req,
        headers: &headers,
        peer: peer.as_deref(),
    };
    let grant = req.grant_type.as_deref().unwrap_or_default();
    let result = match grant {
        "" => Err(OAuthError::invalid_request(
            "Missing required parameter: grant_type",
        )),
        "client_credentials" => client_credentials::grant(&call).await,
        "authorization_code" => authorization_code::grant(&call).await,
        "refresh_token" => refresh_token::grant(&call).await,
        "password" | password::REALM_GRANT => password::grant(&call).await,
        mfa::OTP_GRANT | mfa::RECOVERY_GRANT | mfa::OOB_GRANT => mfa::grant(&call).await,
        other => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("Unsupported grant type: {other}"),
        )),
    };
    // The exchange goes into the tenant's log before the answer (never a secret or token).
    if let Some((ok, failed, what)) = log_types(grant) {
        let entry = match &result {
            Ok(g) => Entry::new(ok, what)
                .set("scope", g.scope.clone())
                .set("user_id", g.user_id.clone()),
            Err(e) => Entry::new(failed, e.description.clone()),
        };
        let entry = entry
            .set("client_id", req.client_id.clone())
            .set("audience", req.audience.clone())
            .set("ip", peer.clone())
            .set("user_agent", call.user_agent().map(str::to_owned))
            .set("user_name", req.username.clone())
            .set("hostname", tenant_host(&tenant.issuer));
        state.logs.record(&tenant.id, entry).await;
    }
    match result {
        Ok(g) => (
            StatusCode::OK,
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(g.reply),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The host of an issuer URL (a log entry's `hostname`).
pub(crate) fn tenant_host(issuer: &str) -> Option<String> {
    url::Url::parse(issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
}
