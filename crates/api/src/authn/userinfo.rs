//! `GET/POST /userinfo`: the claims of the user an access token names, by the token's scopes.
//! The token must be one this tenant signed for `{issuer}userinfo`; errors come as RFC 6750's
//! `WWW-Authenticate` challenge.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use gatehouse_core::time;

use crate::{authn::mint, state::AppState};

fn challenge(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    let v = if error == "invalid_request" && description.is_empty() {
        "Bearer".to_owned()
    } else {
        format!("Bearer error=\"{error}\", error_description=\"{description}\"")
    };
    if let Ok(v) = HeaderValue::from_str(&v) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

#[derive(Deserialize, Default)]
struct FormToken {
    access_token: Option<String>,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

pub async fn get_userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    userinfo(&state, &headers, bearer(&headers)).await
}

pub async fn post_userinfo(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(t) = bearer(&headers) {
        return userinfo(&state, &headers, Some(t)).await;
    }
    let form: FormToken = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    userinfo(&state, &headers, form.access_token.as_deref()).await
}

async fn userinfo(state: &AppState, headers: &HeaderMap, token: Option<&str>) -> Response {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return challenge(StatusCode::UNAUTHORIZED, "invalid_request", "");
    };
    let tenant = state.tenant_for_host(headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    let audience = format!("{}userinfo", tenant.issuer);
    let verified =
        tenant
            .keys()
            .verifier
            .verify(token, &tenant.issuer, &audience, time::unix_now());
    let claims = match verified {
        Ok(c) => c,
        Err(_) => {
            return challenge(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "The access token is invalid or has expired.",
            );
        }
    };
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = match gatehouse_store::users::find(&state.db, &tenant.id, sub).await {
        Ok(Some(u)) if !u.blocked => u,
        Ok(_) => {
            return challenge(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "The user of the access token does not exist.",
            );
        }
        Err(e) => {
            tracing::error!(error = ?e, "userinfo");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response();
        }
    };
    let scope = claims
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if !scopes.contains(&"openid") {
        return challenge(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "The access token was not granted the openid scope.",
        );
    }
    let mut out = serde_json::Map::new();
    out.insert("sub".into(), json!(user.user_id));
    out.extend(mint::profile_claims(&user, &scopes));
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(Value::Object(out)),
    )
        .into_response()
}
