//! `POST /oauth/revoke` (RFC 7009): revokes a refresh token and the rest of its rotation family.
//! The client authenticates as at the token endpoint (a public client by its id alone); a token
//! that is unknown or another client's is answered 200 all the same, and left alone.

use gatehouse_core::secret;
use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

use gatehouse_store::refresh_tokens;

use crate::{
    authn::token::{OAuthError, authenticate_client, basic_credentials, parse_body},
    logs::Entry,
    state::AppState,
};

#[derive(Debug, Default, Deserialize)]
struct RevokeRequest {
    client_id: Option<String>,
    client_secret: Option<String>,
    token: Option<String>,
}

pub async fn post_revoke(
    State(state): State<AppState>,
    ext: http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match revoke(&state, &ext, &headers, &body).await {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")], "").into_response(),
        Err(e) => e.into_response(),
    }
}

async fn revoke(
    state: &AppState,
    ext: &http::Extensions,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(), OAuthError> {
    let mut req: RevokeRequest = parse_body(headers, body)?;
    if let Some((id, secret)) = basic_credentials(headers)? {
        req.client_id = Some(id);
        req.client_secret = Some(secret);
    }
    if [&req.client_id, &req.client_secret, &req.token]
        .iter()
        .any(|f| f.as_deref().is_some_and(|v| v.contains('\0')))
    {
        return Err(OAuthError::invalid_request(
            "Parameters must not contain the NUL character (\\u0000)",
        ));
    }
    let tenant = state.tenant_for_host(headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    let token = req
        .token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: token"))?;
    let client = authenticate_client(
        state,
        &tenant.id,
        req.client_id.as_deref(),
        req.client_secret.as_deref(),
        true,
    )
    .await?;
    let db = &state.db;
    let hash = secret::sha256_hex(token);
    let found = refresh_tokens::find_by_hash(db, &tenant.id, &hash)
        .await
        .map_err(OAuthError::from)?
        .filter(|r| r.client_id == client.client_id);
    if let Some(row) = found {
        refresh_tokens::delete_family(db, &tenant.id, &row.family_id)
            .await
            .map_err(OAuthError::from)?;
        let ip = ext
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let entry = Entry::new("srrt", "Successful Refresh Token Revocation")
            .set("client_id", Some(client.client_id.clone()))
            .set("user_id", Some(row.user_id.clone()))
            .set("ip", ip);
        state.logs.record(&tenant.id, entry).await;
    }
    Ok(())
}
