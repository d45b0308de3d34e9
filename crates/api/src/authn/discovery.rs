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
    // Every endpoint of the Authentication API, as Auth0's document lists them.
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}authorize"),
        "token_endpoint": format!("{iss}oauth/token"),
        "userinfo_endpoint": format!("{iss}userinfo"),
        "jwks_uri": format!("{iss}.well-known/jwks.json"),
        "revocation_endpoint": format!("{iss}oauth/revoke"),
        "end_session_endpoint": format!("{iss}oidc/logout"),
        "scopes_supported": [
            "openid", "profile", "offline_access", "name", "given_name", "family_name",
            "nickname", "email", "email_verified", "picture", "created_at", "identities",
            "phone", "address"
        ],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "response_modes_supported": ["query", "form_post"],
        "subject_types_supported": ["public"],
        "grant_types_supported": [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
            crate::authn::token::REALM_GRANT
        ],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "claims_supported": [
            "aud", "auth_time", "created_at", "email", "email_verified", "exp", "family_name",
            "given_name", "iat", "identities", "iss", "name", "nickname", "phone_number",
            "picture", "sub", "sid", "nonce", "at_hash", "org_id", "org_name", "updated_at"
        ],
        "request_uri_parameter_supported": false,
        "request_parameter_supported": false,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": false,
    }))
}
