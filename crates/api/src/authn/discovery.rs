//! `/.well-known/jwks.json` and `/.well-known/openid-configuration`.

use axum::{Json, extract::State, http::HeaderMap};
use serde_json::{Value, json};

use crate::state::AppState;

fn host(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
}

pub async fn jwks(State(state): State<AppState>, headers: HeaderMap) -> Json<Value> {
    let tenant = state.tenant_for_host(host(&headers));
    // The current key, the next one (published before it signs) and the previous ones not
    // revoked, each with its certificate (`x5c`), as Auth0 publishes them.
    Json(tenant.keys().jwks.clone())
}

pub async fn openid_configuration(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Json<Value> {
    let tenant = state.tenant_for_host(host(&headers));
    let iss = &tenant.issuer;
    Json(json!({
        "issuer": iss,
        "token_endpoint": format!("{iss}oauth/token"),
        "jwks_uri": format!("{iss}.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["aud", "exp", "iat", "iss", "sub"],
    }))
}
