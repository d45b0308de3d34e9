//! The MFA grants that finish a login a password grant answered with `mfa_required`:
//! `http://auth0.com/oauth/grant-type/mfa-otp` (a TOTP code), `…/mfa-recovery-code` (a recovery
//! code; the reply carries the new one) and `…/mfa-oob` (the code of an e-mail challenge made
//! with `POST /mfa/challenge`). Each takes the `mfa_token`, spent once the login completes; the
//! tokens minted carry `amr: ["mfa"]`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use gatehouse_core::time;
use gatehouse_store::{mfa as store, users};

use super::{Call, Granted, OAuthError, authenticate_client, check_grant_type, password};
use crate::mfa::{self, Verdict};

pub(crate) const OTP_GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
pub(crate) const RECOVERY_GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-recovery-code";
pub(crate) const OOB_GRANT: &str = "http://auth0.com/oauth/grant-type/mfa-oob";

/// An mfa_token that is unknown, of another client, or not one at all.
pub(crate) fn malformed_token() -> OAuthError {
    OAuthError::invalid_grant("Malformed mfa_token")
}

pub(crate) fn expired_token() -> OAuthError {
    OAuthError::new(
        StatusCode::FORBIDDEN,
        "expired_token",
        "mfa_token is expired",
    )
}

pub(crate) fn too_many_attempts() -> OAuthError {
    OAuthError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "Too many failed attempts, please try again later.",
    )
}

/// The live mfa_token `token` names for `client_id` (its stored row), or the grant's error.
pub(crate) async fn check_mfa_token(
    call: &Call<'_>,
    token: Option<&str>,
    client_id: &str,
) -> Result<store::ChallengeRow, OAuthError> {
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: mfa_token"))?;
    let row = store::find_challenge(
        &call.state.db,
        &call.tenant.id,
        &gatehouse_core::secret::sha256_hex(token),
    )
    .await?
    .filter(|r| r.kind == mfa::MFA_TOKEN)
    .ok_or_else(malformed_token)?;
    if row.client_id.as_deref() != Some(client_id) {
        return Err(malformed_token());
    }
    if !row.is_live(time::unix_now()) {
        return Err(expired_token());
    }
    Ok(row)
}

fn refused(v: Verdict, what: &str) -> OAuthError {
    match v {
        Verdict::Locked => too_many_attempts(),
        Verdict::Expired => OAuthError::invalid_grant(format!("Invalid {what}.")),
        Verdict::Ok | Verdict::Wrong | Verdict::Replayed => {
            OAuthError::invalid_grant(format!("Invalid {what}."))
        }
    }
}

pub(super) async fn grant(call: &Call<'_>) -> Result<Granted, OAuthError> {
    let (state, tenant, req) = (call.state, call.tenant, call.req);
    let grant = req.grant_type.as_deref().unwrap_or_default();
    let client = authenticate_client(
        state,
        &tenant.id,
        req.client_id.as_deref(),
        req.client_secret.as_deref(),
        true,
    )
    .await?;
    check_grant_type(&client, grant)?;
    let row = check_mfa_token(call, req.mfa_token.as_deref(), &client.client_id).await?;
    let user_id = row.user_id.as_str();
    let param = |v: &Option<String>, name: &str| {
        v.clone().filter(|s| !s.is_empty()).ok_or_else(|| {
            OAuthError::invalid_request(format!("Missing required parameter: {name}"))
        })
    };
    let mut new_recovery = None;
    match grant {
        OTP_GRANT => {
            let otp = param(&req.otp, "otp")?;
            let totps: Vec<_> = store::list_for_user(&state.db, &tenant.id, user_id)
                .await?
                .into_iter()
                .filter(|a| a.kind == "totp")
                .collect();
            if totps.is_empty() {
                return Err(OAuthError::invalid_grant(
                    "User is not enrolled with an otp authenticator.",
                ));
            }
            let mut outcome = Verdict::Wrong;
            for a in &totps {
                outcome = mfa::verify_totp(state, &tenant.id, &a.id, &otp).await?;
                if outcome == Verdict::Ok {
                    break;
                }
            }
            if outcome != Verdict::Ok {
                return Err(refused(outcome, "otp_code"));
            }
        }
        RECOVERY_GRANT => {
            let code = param(&req.recovery_code, "recovery_code")?;
            let (v, fresh) = mfa::verify_recovery_code(state, &tenant.id, user_id, &code).await?;
            if v != Verdict::Ok {
                return Err(refused(v, "recovery_code"));
            }
            new_recovery = fresh;
        }
        _ => {
            let oob = param(&req.oob_code, "oob_code")?;
            let Some(binding) = req.binding_code.clone().filter(|b| !b.is_empty()) else {
                // E-mail and SMS codes are bound to the code the user types: without it the
                // challenge is still waiting for the user.
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "authorization_pending",
                    "Authorization pending: please repeat the request in a few seconds.",
                ));
            };
            let v = mfa::verify_email_otp(state, &tenant.id, user_id, &oob, &binding).await?;
            if v != Verdict::Ok {
                return Err(match v {
                    Verdict::Expired => OAuthError::invalid_grant("Invalid oob_code."),
                    other => refused(other, "binding_code"),
                });
            }
        }
    }
    // The login completes: the mfa_token is spent (a concurrent second use finds it gone).
    if !mfa::consume_mfa_token(
        &state.db,
        &tenant.id,
        req.mfa_token.as_deref().unwrap_or(""),
    )
    .await?
    {
        return Err(malformed_token());
    }
    let user = users::find(&state.db, &tenant.id, user_id)
        .await?
        .filter(|u| !u.blocked)
        .ok_or_else(|| OAuthError::invalid_grant("Malformed mfa_token"))?;
    let ctx = &row.body;
    let text = |k: &str| ctx.get(k).and_then(Value::as_str).map(str::to_owned);
    let scope = text("scope")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| password::DEFAULT_SCOPE.to_owned());
    let audience = req.audience.clone().or_else(|| text("audience"));
    let auth_time = ctx
        .get("auth_time")
        .and_then(Value::as_i64)
        .unwrap_or_else(time::unix_now);
    let mut granted = password::issue(
        call,
        &client,
        &user,
        grant,
        &scope,
        audience.as_deref(),
        auth_time,
        &json!(["pwd", "mfa"]),
    )
    .await?;
    if let (Some(code), Value::Object(o)) = (new_recovery, &mut granted.reply) {
        o.insert("recovery_code".into(), json!(code));
    }
    Ok(granted)
}
