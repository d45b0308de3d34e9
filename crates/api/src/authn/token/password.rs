//! The resource-owner password grants: `password` (the tenant's `default_directory`, else the
//! client's only database connection) and Auth0's `password-realm` (the connection named by
//! `realm`), each only when the client's `grant_types` allow it. Failed logins count toward the
//! tenant's brute-force protection (see [`crate::authn::login`]).

use axum::http::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

use gatehouse_core::time;
use gatehouse_store::{clients::ClientRow, users::UserRow};

use super::{Call, Granted, OAuthError, authenticate_client, check_grant_type};
use crate::authn::{
    login::{self, Credentials, LoginFailure},
    mint::{self, Family, NewRefresh, Subject},
};

pub(crate) const REALM_GRANT: &str = "http://auth0.com/oauth/grant-type/password-realm";

/// The scopes of a password grant that asks for none (as Auth0 answers).
pub(super) const DEFAULT_SCOPE: &str = "openid profile email address phone";

fn failure(f: LoginFailure) -> OAuthError {
    match f {
        LoginFailure::WrongCredentials => OAuthError::invalid_grant(f.description()),
        LoginFailure::Blocked => {
            OAuthError::new(StatusCode::UNAUTHORIZED, "unauthorized", f.description())
        }
        LoginFailure::TooManyAttempts => OAuthError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "Your account has been blocked after multiple consecutive login attempts. We've sent you an email with instructions on how to unblock it.",
        ),
        LoginFailure::NoConnection(m) => OAuthError::invalid_request(m),
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
    let param = |v: &Option<String>, name: &str| {
        v.clone().filter(|s| !s.is_empty()).ok_or_else(|| {
            OAuthError::invalid_request(format!("Missing required parameter: {name}"))
        })
    };
    let username = param(&req.username, "username")?;
    let password = SecretString::from(param(&req.password, "password")?);
    let realm = if grant == REALM_GRANT {
        Some(param(&req.realm, "realm")?)
    } else {
        None
    };
    let user = login::verify_password(
        state,
        &Credentials {
            tenant,
            client_id: &client.client_id,
            realm: realm.as_deref(),
            username: &username,
            password: &password,
            ip: call.peer,
            user_agent: call.user_agent(),
        },
    )
    .await?
    .map_err(failure)?;
    // A second factor first, when the tenant's policy or the user's enrollments ask for it.
    if crate::mfa::required(state, &tenant.id, &user.user_id).await? {
        let token = crate::mfa::issue_mfa_token(
            state,
            &tenant.id,
            &user.user_id,
            Some(&client.client_id),
            json!({
                "grant_type": grant,
                "scope": req.scope,
                "audience": req.audience,
                "realm": realm,
                "auth_time": time::unix_now(),
            }),
        )
        .await?;
        return Err(OAuthError::mfa_required(token));
    }
    let scope = req
        .scope
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(DEFAULT_SCOPE);
    issue(
        call,
        &client,
        &user,
        grant,
        scope,
        req.audience.as_deref(),
        time::unix_now(),
        &json!(["pwd"]),
    )
    .await
}

/// Mints the tokens of a user who logged in with a password (and, when `amr` says so, a second
/// factor), with a refresh token when `offline_access` was granted.
#[allow(clippy::too_many_arguments)]
pub(super) async fn issue(
    call: &Call<'_>,
    client: &ClientRow,
    user: &UserRow,
    grant: &str,
    scope: &str,
    audience: Option<&str>,
    auth_time: i64,
    amr: &Value,
) -> Result<Granted, OAuthError> {
    let (state, tenant) = (call.state, call.tenant);
    let minted = mint::mint(
        state,
        &Subject {
            tenant,
            client,
            user,
            grant_type: grant,
            scope,
            audience,
            nonce: None,
            session_id: None,
            auth_time,
            organization: None,
            amr: Some(amr),
            ip: call.peer,
            user_agent: call.user_agent(),
        },
    )
    .await?;
    let refresh = if minted.offline {
        let (token, _) = mint::new_refresh_token(
            &state.db,
            &tenant.id,
            NewRefresh {
                client,
                user_id: &user.user_id,
                session_id: None,
                audience: minted.audience.as_deref(),
                scope: &minted.scope,
                body: json!({
                    "auth_time": auth_time,
                    "amr": amr,
                    "device": {"initial_ip": call.peer, "initial_user_agent": call.user_agent()},
                }),
                family: Family::New,
            },
        )
        .await?;
        Some(token)
    } else {
        None
    };
    Ok(Granted {
        reply: minted.reply(refresh.as_deref()),
        user_id: Some(user.user_id.clone()),
        scope: Some(minted.scope.clone()),
    })
}
