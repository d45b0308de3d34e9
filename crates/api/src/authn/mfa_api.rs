//! Auth0's MFA API: `GET /mfa/authenticators`, `DELETE /mfa/authenticators/{id}`,
//! `POST /mfa/associate` and `POST /mfa/challenge`. Callers prove the first factor with the
//! `mfa_token` of a `mfa_required` answer (`Authorization: Bearer …` for the authenticators and
//! associate, the `mfa_token` parameter for challenge). Access tokens for the `/mfa/` audience
//! are not issued by Gatehouse, so the mfa_token is the only credential accepted.
//!
//! An mfa_token proves only the password: it may enroll a factor only while the user has none
//! (else 403 `access_denied` "User is already enrolled."), and it may delete only an unconfirmed
//! enrollment of its user (removing an enrolled factor would need the second factor, which an
//! mfa_token does not prove: 403 `access_denied`).
//!
//! E-mail is the out-of-band channel Gatehouse delivers (through the tenant's e-mail provider).
//! SMS, voice and push cannot be delivered (Gatehouse has no SMS gateway or Guardian push
//! service): they answer `unsupported_challenge_type`, as Auth0 does for a channel it cannot use.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use gatehouse_core::time;
use gatehouse_store::{atomically, mfa as store, mfa::AuthenticatorRow, users};

use super::token::{
    OAuthError, authenticate_client,
    mfa::{expired_token, malformed_token},
};
use crate::{
    mfa,
    state::{AppState, Tenant},
};

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn unauthorized() -> OAuthError {
    OAuthError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "The mfa_token is invalid or has expired.",
    )
}

/// The user (and client) an `Authorization: Bearer <mfa_token>` names.
async fn bearer_user(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Result<(String, Option<String>), OAuthError> {
    let token = bearer(headers).ok_or_else(unauthorized)?;
    let row = mfa::find_mfa_token(state, &tenant.id, token)
        .await?
        .ok_or_else(unauthorized)?;
    Ok((row.user_id, row.client_id))
}

fn tenant_of(state: &AppState, headers: &HeaderMap) -> std::sync::Arc<Tenant> {
    state.tenant_for_host(headers.get(header::HOST).and_then(|h| h.to_str().ok()))
}

/// `****@exam*******`: the local part hidden, the domain's first four characters shown.
fn mask_email(e: &str) -> String {
    let domain = e.rsplit_once('@').map_or("", |(_, d)| d);
    let shown: String = domain.chars().take(4).collect();
    let hidden = domain.chars().count().saturating_sub(4);
    format!("****@{shown}{}", "*".repeat(hidden))
}

/// `XXXXXXXXX9167`: all but the last four characters hidden.
fn mask_phone(p: &str) -> String {
    let n = p.chars().count();
    p.chars()
        .enumerate()
        .map(|(i, c)| if i + 4 < n { 'X' } else { c })
        .collect()
}

/// An authenticator as the MFA API lists it.
fn render(a: &AuthenticatorRow) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(a.id));
    let data = |k: &str| a.data.get(k).and_then(Value::as_str);
    match a.kind.as_str() {
        "totp" => {
            o.insert("authenticator_type".into(), json!("otp"));
            o.insert("active".into(), json!(a.confirmed));
        }
        "email" => {
            o.insert("authenticator_type".into(), json!("oob"));
            o.insert("active".into(), json!(a.confirmed));
            o.insert("oob_channel".into(), json!("email"));
            if let Some(e) = data("email") {
                o.insert("name".into(), json!(mask_email(e)));
            }
        }
        "phone" => {
            o.insert("authenticator_type".into(), json!("oob"));
            o.insert("active".into(), json!(a.confirmed));
            o.insert(
                "oob_channel".into(),
                json!(data("preferred_authentication_method").unwrap_or("sms")),
            );
            if let Some(p) = data("phone_number") {
                o.insert("name".into(), json!(mask_phone(p)));
            }
        }
        "push-notification" | "push" | "guardian" => {
            o.insert("authenticator_type".into(), json!("oob"));
            o.insert("active".into(), json!(a.confirmed));
            o.insert("oob_channel".into(), json!("auth0"));
        }
        other => {
            o.insert("authenticator_type".into(), json!(other));
            o.insert("active".into(), json!(a.confirmed));
        }
    }
    Value::Object(o)
}

fn ok_json(v: Value) -> Response {
    (
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(v),
    )
        .into_response()
}

pub async fn list_authenticators(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let tenant = tenant_of(&state, &headers);
    let run = async {
        let (user_id, _) = bearer_user(&state, &tenant, &headers).await?;
        let rows = store::list_for_user(&state.db, &tenant.id, &user_id).await?;
        Ok::<_, OAuthError>(Value::Array(rows.iter().map(render).collect()))
    };
    match run.await {
        Ok(v) => ok_json(v),
        Err(e) => e.into_response(),
    }
}

pub async fn delete_authenticator(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    let run = async {
        let (user_id, _) = bearer_user(&state, &tenant, &headers).await?;
        // U+0000 names nothing (and PostgreSQL's text cannot hold it).
        let found = match id.contains('\0') {
            true => None,
            false => store::find(&state.db, &tenant.id, &id).await?,
        };
        let a = found.filter(|a| a.user_id == user_id).ok_or_else(|| {
            OAuthError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "Authenticator not found",
            )
        })?;
        if a.confirmed {
            return Err(OAuthError::new(
                StatusCode::FORBIDDEN,
                "access_denied",
                "An mfa_token cannot remove an enrolled authenticator: pass the second factor first.",
            ));
        }
        store::delete(&state.db, &tenant.id, &a.id).await?;
        Ok::<_, OAuthError>(())
    };
    match run.await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

/// A form or JSON body as a JSON object (repeated form keys become arrays).
fn body_object(headers: &HeaderMap, body: &Bytes) -> Result<Map<String, Value>, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        return match serde_json::from_slice(body) {
            Ok(Value::Object(o)) => Ok(o),
            _ => Err(OAuthError::invalid_request(
                "Invalid request payload JSON format",
            )),
        };
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("Invalid request payload"))?;
    let mut o = Map::new();
    for (k, v) in pairs {
        match o.get_mut(&k) {
            Some(Value::Array(a)) => a.push(json!(v)),
            Some(prev) => {
                let first = prev.take();
                *prev = json!([first, v]);
            }
            None => {
                o.insert(k, json!(v));
            }
        }
    }
    Ok(o)
}

fn text<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && !s.contains('\0'))
}

/// A list parameter: a JSON array, or a (space-separated) string.
fn list(o: &Map<String, Value>, k: &str) -> Vec<String> {
    match o.get(k) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .flat_map(str::split_whitespace)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn cannot_deliver(channel: &str) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "unsupported_challenge_type",
        format!("The {channel} channel cannot be used: no provider can deliver it."),
    )
}

fn factor_disabled(factor: &str) -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "unsupported_challenge_type",
        format!("The {factor} factor is not enabled."),
    )
}

pub async fn associate(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let tenant = tenant_of(&state, &headers);
    match associate_inner(&state, &tenant, &headers, &body).await {
        Ok(v) => ok_json(v),
        Err(e) => e.into_response(),
    }
}

async fn associate_inner(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, OAuthError> {
    let o = body_object(headers, body)?;
    let (user_id, token_client) = bearer_user(state, tenant, headers).await?;
    if let Some(cid) = text(&o, "client_id") {
        let client = authenticate_client(
            state,
            &tenant.id,
            Some(cid),
            text(&o, "client_secret"),
            true,
        )
        .await?;
        if token_client.as_deref() != Some(client.client_id.as_str()) {
            return Err(unauthorized());
        }
    }
    let user = users::find(&state.db, &tenant.id, &user_id)
        .await?
        .ok_or_else(unauthorized)?;
    let enabled = mfa::enabled_factors(&state.db, &tenant.id).await?;
    // Only a user without a second factor may enroll with an mfa_token.
    let existing = store::list_for_user(&state.db, &tenant.id, &user_id).await?;
    if existing
        .iter()
        .any(|a| a.confirmed && a.kind != "recovery-code")
    {
        return Err(OAuthError::new(
            StatusCode::FORBIDDEN,
            "access_denied",
            "User is already enrolled.",
        ));
    }
    let types = list(&o, "authenticator_types");
    let kind = match types.as_slice() {
        [t] => t.as_str(),
        [] => {
            return Err(OAuthError::invalid_request(
                "Missing required parameter: authenticator_types",
            ));
        }
        _ => {
            return Err(OAuthError::invalid_request(
                "authenticator_types must name one authenticator type",
            ));
        }
    };
    // The first enrollment comes with a recovery code, when that factor is on.
    let first = !existing.iter().any(|a| a.kind == "recovery-code");
    let with_recovery = first && enabled.iter().any(|f| f == "recovery-code");
    let mut reply = Map::new();
    match kind {
        "otp" => {
            if !enabled.iter().any(|f| f == "otp") {
                return Err(factor_disabled("otp"));
            }
            let (_, secret) = mfa::enroll_totp(state, &tenant.id, &user_id, None).await?;
            let settings = super::login::tenant_settings(&state.db, &tenant.id).await?;
            let issuer = settings
                .get("friendly_name")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(tenant.id.as_str())
                .to_owned();
            let account = user
                .email
                .clone()
                .or_else(|| user.username.clone())
                .unwrap_or_else(|| user.user_id.clone());
            reply.insert("authenticator_type".into(), json!("otp"));
            reply.insert("secret".into(), json!(mfa::base32(&secret)));
            reply.insert(
                "barcode_uri".into(),
                json!(mfa::otpauth_uri(&secret, &issuer, &account)),
            );
        }
        "oob" => {
            let channels = list(&o, "oob_channels");
            match channels.first().map(String::as_str) {
                Some("email") => {
                    if !enabled.iter().any(|f| f == "email") {
                        return Err(factor_disabled("email"));
                    }
                    let email = text(&o, "email")
                        .map(str::to_owned)
                        .or_else(|| user.email.clone())
                        .ok_or_else(|| {
                            OAuthError::invalid_request("Missing required parameter: email")
                        })?;
                    if !email.contains('@') {
                        return Err(OAuthError::invalid_request("Invalid email."));
                    }
                    let id = mfa::enroll_email(state, &tenant.id, &user_id, &email, false).await?;
                    let token = bearer(headers).unwrap_or_default();
                    let handle = mfa::send_email_otp(state, &tenant.id, &id, Some(token)).await?;
                    reply.insert("authenticator_type".into(), json!("oob"));
                    reply.insert("binding_method".into(), json!("prompt"));
                    reply.insert("oob_channel".into(), json!("email"));
                    reply.insert("oob_code".into(), json!(handle));
                }
                Some(c @ ("sms" | "voice")) => {
                    if !enabled.iter().any(|f| f == "sms") {
                        return Err(factor_disabled("sms"));
                    }
                    return Err(cannot_deliver(c));
                }
                Some("auth0") => {
                    if !enabled.iter().any(|f| f == "push-notification") {
                        return Err(factor_disabled("push-notification"));
                    }
                    return Err(cannot_deliver("auth0"));
                }
                Some(other) => {
                    return Err(OAuthError::invalid_request(format!(
                        "Unsupported oob_channel: {other}"
                    )));
                }
                None => {
                    return Err(OAuthError::invalid_request(
                        "Missing required parameter: oob_channels",
                    ));
                }
            }
        }
        other => {
            return Err(OAuthError::invalid_request(format!(
                "Unsupported authenticator type: {other}"
            )));
        }
    }
    if with_recovery {
        let db = &state.db;
        let (tid, uid) = (tenant.id.as_str(), user_id.as_str());
        let code = atomically(|| async move {
            let tx = db.begin().await?;
            let code = mfa::new_recovery_code(state, &tx, tid, uid).await?;
            tx.commit().await?;
            Ok::<_, gatehouse_core::Error>(code)
        })
        .await?;
        reply.insert("recovery_codes".into(), json!([code]));
    }
    Ok(Value::Object(reply))
}

pub async fn challenge(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let tenant = tenant_of(&state, &headers);
    match challenge_inner(&state, &tenant, &headers, &body).await {
        Ok(v) => ok_json(v),
        Err(e) => e.into_response(),
    }
}

async fn challenge_inner(
    state: &AppState,
    tenant: &std::sync::Arc<Tenant>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, OAuthError> {
    let o = body_object(headers, body)?;
    let client = authenticate_client(
        state,
        &tenant.id,
        text(&o, "client_id"),
        text(&o, "client_secret"),
        true,
    )
    .await?;
    let token = text(&o, "mfa_token")
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: mfa_token"))?;
    let row = store::find_challenge(
        &state.db,
        &tenant.id,
        &gatehouse_core::secret::sha256_hex(token),
    )
    .await?
    .filter(|r| {
        r.kind == mfa::MFA_TOKEN && r.client_id.as_deref() == Some(client.client_id.as_str())
    })
    .ok_or_else(malformed_token)?;
    if !row.is_live(time::unix_now()) {
        return Err(expired_token());
    }
    let types = list(&o, "challenge_type");
    let wants = |t: &str| types.is_empty() || types.iter().any(|x| x == t);
    let mine = store::list_for_user(&state.db, &tenant.id, &row.user_id).await?;
    let chosen = match text(&o, "authenticator_id") {
        Some(id) => Some(
            mine.iter()
                .find(|a| a.id == id)
                .ok_or_else(|| OAuthError::invalid_request("Invalid authenticator_id"))?,
        ),
        None => mine.iter().find(|a| {
            a.confirmed
                && ((a.kind == "totp" && wants("otp")) || (a.kind == "email" && wants("oob")))
        }),
    };
    let Some(a) = chosen else {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_challenge_type",
            "User is not enrolled with an authenticator of the requested challenge type.",
        ));
    };
    match a.kind.as_str() {
        "totp" if wants("otp") => Ok(json!({"challenge_type": "otp"})),
        "email" if wants("oob") => {
            let handle = mfa::send_email_otp(state, &tenant.id, &a.id, Some(token)).await?;
            Ok(json!({"challenge_type": "oob", "binding_method": "prompt", "oob_code": handle}))
        }
        "phone" => Err(cannot_deliver("sms")),
        "push-notification" | "push" | "guardian" => Err(cannot_deliver("auth0")),
        _ => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_challenge_type",
            "The authenticator does not support the requested challenge type.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_as_auth0() {
        assert_eq!(mask_email("user@example.com"), "****@exam*******");
        assert_eq!(mask_phone("+123456789167"), "XXXXXXXXX9167");
        assert_eq!(mask_phone("12"), "12");
    }
}
