//! The authorization-code grant (Contract 2 of the login issue): a code `/authorize` stored
//! (its SHA-256, single use, 60 s) is redeemed once; a replay answers `invalid_grant` and
//! revokes the refresh tokens the first redemption issued. Confidential clients authenticate
//! with their secret; public ones (`token_endpoint_auth_method: none`) with PKCE alone.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use gatehouse_core::secret;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use gatehouse_core::{password::secrets_equal, time};
use gatehouse_store::{
    refresh_tokens,
    sessions::{self, Redeemed},
};

use super::{Call, Granted, OAuthError, authenticate_client, check_grant_type};
use crate::authn::mint::{self, Family, NewRefresh, Subject};

const GRANT: &str = "authorization_code";

fn invalid_code() -> OAuthError {
    OAuthError::invalid_grant("Invalid authorization code")
}

/// Whether `verifier` answers `challenge` by `method` (RFC 7636; `plain` when none is named).
pub(crate) fn pkce_matches(challenge: &str, method: Option<&str>, verifier: &str) -> bool {
    match method.unwrap_or("plain") {
        "S256" => {
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            secrets_equal(&computed, challenge)
        }
        "plain" => secrets_equal(verifier, challenge),
        _ => false,
    }
}

/// A verifier of RFC 7636's form: 43 to 128 unreserved characters.
fn verifier_well_formed(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

fn str_of<'a>(body: &'a Value, k: &str) -> Option<&'a str> {
    body.get(k).and_then(Value::as_str)
}

pub(super) async fn grant(call: &Call<'_>) -> Result<Granted, OAuthError> {
    let (state, tenant, req) = (call.state, call.tenant, call.req);
    let db = &state.db;
    let code = req
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: code"))?;
    let client = authenticate_client(
        state,
        &tenant.id,
        req.client_id.as_deref(),
        req.client_secret.as_deref(),
        true,
    )
    .await?;
    check_grant_type(&client, GRANT)?;
    let code_hash = secret::sha256_hex(code);
    let now = time::unix_now();
    let family_id = gatehouse_core::ids::base58(22);
    // Redeemed in its own transaction: of two concurrent redemptions only one is `Fresh`.
    let redeemed = {
        let tx = db.begin().await.map_err(OAuthError::from)?;
        let r = sessions::redeem_code(&tx, &tenant.id, &code_hash, now)
            .await
            .map_err(OAuthError::from)?;
        if let Redeemed::Fresh(body) = &r {
            // The refresh-token family it may issue is recorded now, in the redemption, so that
            // a replay, however soon, finds what to revoke.
            let mut recorded = body.clone();
            recorded["issued"] = json!({"refresh_token_family": family_id});
            sessions::set_code_body(&tx, &tenant.id, &code_hash, &recorded)
                .await
                .map_err(OAuthError::from)?;
        }
        if let Redeemed::Spent(body) = &r {
            // A replay (or a late use): what the first redemption issued is revoked.
            if let Some(family) = body
                .pointer("/issued/refresh_token_family")
                .and_then(Value::as_str)
            {
                refresh_tokens::delete_family(&tx, &tenant.id, family)
                    .await
                    .map_err(OAuthError::from)?;
            }
        }
        tx.commit().await.map_err(OAuthError::from)?;
        r
    };
    let body = match redeemed {
        Redeemed::Fresh(b) => b,
        Redeemed::Spent(_) | Redeemed::Unknown => return Err(invalid_code()),
    };
    if str_of(&body, "client_id") != Some(client.client_id.as_str()) {
        return Err(invalid_code());
    }
    // redirect_uri: the one /authorize was given, when it was given.
    if let Some(expected) = str_of(&body, "redirect_uri")
        && req.redirect_uri.as_deref() != Some(expected)
    {
        return Err(OAuthError::invalid_grant(
            "The redirect_uri does not match the one of the authorization request.",
        ));
    }
    let public = req.client_secret.is_none();
    match str_of(&body, "code_challenge") {
        Some(challenge) => {
            let verifier = req.code_verifier.as_deref().ok_or_else(|| {
                OAuthError::invalid_request("Parameter 'code_verifier' is required")
            })?;
            if !verifier_well_formed(verifier)
                || !pkce_matches(challenge, str_of(&body, "code_challenge_method"), verifier)
            {
                return Err(OAuthError::invalid_grant("Failed to verify code verifier"));
            }
        }
        // A public client proves itself by PKCE: without a challenge it has no proof.
        None if public => return Err(OAuthError::unauthorized()),
        None => {}
    }
    let user_id = str_of(&body, "user_id").unwrap_or_default();
    let user = gatehouse_store::users::find(db, &tenant.id, user_id)
        .await
        .map_err(OAuthError::from)?
        .filter(|u| !u.blocked)
        .ok_or_else(invalid_code)?;
    let auth_time = body.get("auth_time").and_then(Value::as_i64).unwrap_or(now);
    let organization = body.get("organization").filter(|o| o.is_object());
    let amr = body.get("amr").filter(|a| a.is_array());
    let session_id = str_of(&body, "session_id");
    let minted = mint::mint(
        state,
        &Subject {
            tenant,
            client: &client,
            user: &user,
            grant_type: GRANT,
            scope: str_of(&body, "scope").unwrap_or_default(),
            audience: str_of(&body, "audience"),
            nonce: str_of(&body, "nonce"),
            session_id,
            auth_time,
            organization,
            amr,
            ip: call.peer,
            user_agent: call.user_agent(),
        },
    )
    .await?;
    let refresh = if minted.offline {
        let (token, _) = mint::new_refresh_token(
            db,
            &tenant.id,
            NewRefresh {
                client: &client,
                user_id: &user.user_id,
                session_id,
                audience: minted.audience.as_deref(),
                scope: &minted.scope,
                body: json!({
                    "auth_time": auth_time,
                    "amr": amr,
                    "organization": organization,
                    "device": {"initial_ip": call.peer, "initial_user_agent": call.user_agent()},
                }),
                family: Family::NewWithId(&family_id),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_example() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(challenge, Some("S256"), verifier));
        assert!(!pkce_matches(challenge, Some("S256"), "x"));
        assert!(pkce_matches(verifier, Some("plain"), verifier));
        assert!(pkce_matches(verifier, None, verifier));
        assert!(!pkce_matches(challenge, Some("S512"), verifier));
        assert!(verifier_well_formed(verifier));
        assert!(!verifier_well_formed("short"));
    }
}
