//! `POST /dbconnections/signup` and `POST /dbconnections/change_password`, with Auth0's reply
//! shapes: the new user's `_id` and identifiers; the reset mail's sentence as `text/html`.
//! Errors of sign-up take Auth0's `{"name","code","description","statusCode"}` shape.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json,
    body::Bytes,
    extract::{ConnectInfo, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use gatehouse_core::Error;

use crate::{
    authn::{
        signup::{self, NewAccount},
        token::{OAuthError, parse_body},
    },
    state::{AppState, Tenant},
};

#[derive(Debug, Default, Deserialize)]
struct SignupRequest {
    client_id: Option<String>,
    connection: Option<String>,
    email: Option<String>,
    password: Option<String>,
    username: Option<String>,
    phone_number: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    name: Option<String>,
    nickname: Option<String>,
    picture: Option<String>,
    user_metadata: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct ChangePasswordRequest {
    client_id: Option<String>,
    connection: Option<String>,
    email: Option<String>,
}

fn peer(ext: &http::Extensions) -> Option<String> {
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

fn tenant_of(state: &AppState, headers: &HeaderMap) -> Arc<Tenant> {
    state.tenant_for_host(headers.get(header::HOST).and_then(|h| h.to_str().ok()))
}

/// Auth0's error shape of `/dbconnections/signup`.
fn signup_error(status: StatusCode, name: &str, code: &str, description: &str) -> Response {
    (
        status,
        Json(json!({
            "name": name,
            "code": code,
            "description": description,
            "statusCode": status.as_u16(),
        })),
    )
        .into_response()
}

fn from_error(e: Error) -> Response {
    if let Error::Internal(inner) = &e {
        tracing::error!(error = ?inner, "sign-up failure");
        return signup_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Error",
            "server_error",
            "Internal Server Error",
        );
    }
    let msg = e.public_message();
    if matches!(e, Error::TooManyRequests(_)) {
        return signup_error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsError",
            "too_many_attempts",
            &msg,
        );
    }
    if matches!(e, Error::Conflict { .. } | Error::ConflictPlain(_)) {
        // Auth0 does not tell who exists (unless the tenant asks it to).
        return signup_error(
            StatusCode::BAD_REQUEST,
            "BadRequestError",
            "invalid_signup",
            "Invalid sign up",
        );
    }
    for (prefix, name) in [
        ("PasswordStrengthError: ", "PasswordStrengthError"),
        ("PasswordDictionaryError: ", "PasswordDictionaryError"),
        ("PasswordNoUserInfoError: ", "PasswordNoUserInfoError"),
        ("PasswordHistoryError: ", "PasswordHistoryError"),
    ] {
        if let Some(m) = msg.strip_prefix(prefix) {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({
                    "name": name,
                    "message": m,
                    "code": "invalid_password",
                    "description": m,
                    "statusCode": 400,
                })),
            )
                .into_response();
        }
    }
    let code = e.error_code().unwrap_or("invalid_signup");
    signup_error(StatusCode::BAD_REQUEST, "BadRequestError", code, &msg)
}

fn missing(what: &str) -> Response {
    signup_error(
        StatusCode::BAD_REQUEST,
        "BadRequestError",
        "invalid_signup",
        &format!("Missing required parameter: {what}"),
    )
}

pub async fn post_signup(
    State(state): State<AppState>,
    ext: http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: SignupRequest = match parse_body(&headers, &body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let tenant = tenant_of(&state, &headers);
    let Some(client_id) = req.client_id.clone().filter(|c| !c.is_empty()) else {
        return missing("client_id");
    };
    let Some(connection) = req.connection.clone().filter(|c| !c.is_empty()) else {
        return missing("connection");
    };
    let Some(password) = req.password.clone().filter(|c| !c.is_empty()) else {
        return missing("password");
    };
    let strings = [
        &req.email,
        &req.username,
        &req.phone_number,
        &req.given_name,
        &req.family_name,
        &req.name,
        &req.nickname,
        &req.picture,
        &req.client_id,
        &req.connection,
        &req.password,
    ];
    if strings
        .iter()
        .any(|f| f.as_deref().is_some_and(|v| v.contains('\0')))
    {
        return signup_error(
            StatusCode::BAD_REQUEST,
            "BadRequestError",
            "invalid_signup",
            "Parameters must not contain the NUL character (\\u0000)",
        );
    }
    match gatehouse_store::clients::find(&state.db, &tenant.id, &client_id).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return signup_error(
                StatusCode::BAD_REQUEST,
                "BadRequestError",
                "invalid_signup",
                "Unknown client.",
            );
        }
        Err(e) => return from_error(e.into()),
    }
    let account = NewAccount {
        connection,
        email: req.email.clone(),
        username: req.username.clone(),
        phone_number: req.phone_number.clone(),
        password: SecretString::from(password),
        given_name: req.given_name.clone(),
        family_name: req.family_name.clone(),
        name: req.name.clone(),
        nickname: req.nickname.clone(),
        picture: req.picture.clone(),
        user_metadata: req.user_metadata.clone(),
    };
    let ip = peer(&ext);
    match signup::sign_up(&state, &tenant, &client_id, account, ip.as_deref()).await {
        Ok(u) => {
            let id = u
                .user_id
                .split_once('|')
                .map_or(u.user_id.as_str(), |(_, i)| i);
            let mut m = Map::new();
            m.insert("_id".into(), json!(id));
            if let Some(e) = &u.email {
                m.insert("email".into(), json!(e));
            }
            if let Some(n) = &u.username {
                m.insert("username".into(), json!(n));
            }
            if u.email.is_some() {
                m.insert("email_verified".into(), json!(u.email_verified));
            }
            if let Some(p) = &u.phone_number {
                m.insert("phone_number".into(), json!(p));
                m.insert("phone_verified".into(), json!(u.phone_verified));
            }
            for (k, v) in [
                ("given_name", &req.given_name),
                ("family_name", &req.family_name),
                ("name", &req.name),
                ("nickname", &req.nickname),
                ("picture", &req.picture),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), json!(v));
                }
            }
            if let Some(md) = u.user_metadata.as_ref() {
                m.insert("user_metadata".into(), md.clone());
            }
            (StatusCode::OK, Json(Value::Object(m))).into_response()
        }
        Err(e) => from_error(e),
    }
}

pub async fn post_change_password(
    State(state): State<AppState>,
    ext: http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req: ChangePasswordRequest = match parse_body(&headers, &body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let tenant = tenant_of(&state, &headers);
    let need = |v: &Option<String>, what: &str| {
        v.clone()
            .filter(|s| !s.is_empty() && !s.contains('\0'))
            .ok_or_else(|| {
                OAuthError::invalid_request(format!("Missing required parameter: {what}"))
            })
    };
    let (client_id, email, connection) = match (
        need(&req.client_id, "client_id"),
        need(&req.email, "email"),
        need(&req.connection, "connection"),
    ) {
        (Ok(c), Ok(e), Ok(n)) => (c, e, n),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return e.into_response(),
    };
    match gatehouse_store::clients::find(&state.db, &tenant.id, &client_id).await {
        Ok(Some(_)) => {}
        Ok(None) => return OAuthError::unauthorized().into_response(),
        Err(e) => return OAuthError::from(e).into_response(),
    }
    let ip = peer(&ext);
    match signup::request_password_reset(
        &state,
        &tenant,
        &client_id,
        &connection,
        &email,
        ip.as_deref(),
    )
    .await
    {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "We've just sent you an email to reset your password.",
        )
            .into_response(),
        Err(Error::BadRequest { message, .. }) => {
            OAuthError::invalid_request(message.to_string()).into_response()
        }
        Err(e) => OAuthError::from(e).into_response(),
    }
}
