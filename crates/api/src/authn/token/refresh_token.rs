//! The refresh-token grant, by the client's `refresh_token` settings: non-rotating tokens are
//! used again and again (their idle expiry moved on); rotating ones are replaced by a new token
//! of the same family at each exchange, and a replaced token used again after the `leeway`
//! revokes the whole family (reuse detection). The token's row stays locked for the exchange.
//! A narrower `scope` may be asked; a wider one is refused.

use axum::http::StatusCode;
use gatehouse_core::secret;
use serde_json::Value;

use gatehouse_core::time;
use gatehouse_store::{refresh_tokens, users};

use super::{Call, Granted, OAuthError, authenticate_client, check_grant_type};
use crate::authn::mint::{self, Family, NewRefresh, RefreshPolicy, Subject};

const GRANT: &str = "refresh_token";

/// Whether a token may be exchanged at `now`: live, and not replaced by rotation longer ago
/// than the leeway.
fn usable(
    row: &gatehouse_store::refresh_tokens::RefreshTokenRow,
    now: i64,
    policy: &RefreshPolicy,
) -> bool {
    row.is_live(now)
        && row
            .rotated_at
            .is_none_or(|rotated| now <= rotated + policy.leeway)
}

fn invalid_token() -> OAuthError {
    OAuthError::invalid_grant("Unknown or invalid refresh token.")
}

pub(super) async fn grant(call: &Call<'_>) -> Result<Granted, OAuthError> {
    let (state, tenant, req) = (call.state, call.tenant, call.req);
    let db = &state.db;
    let token = req
        .refresh_token
        .as_deref()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: refresh_token"))?;
    let client = authenticate_client(
        state,
        &tenant.id,
        req.client_id.as_deref(),
        req.client_secret.as_deref(),
        true,
    )
    .await?;
    check_grant_type(&client, GRANT)?;
    let policy = RefreshPolicy::of(&client);
    let hash = secret::sha256_hex(token);
    let now = time::unix_now();
    // Checked first without a lock (the tokens are minted outside any transaction: an action
    // may run for seconds), then again on the locked row, which the exchange then writes.
    let Some(row) = refresh_tokens::find_by_hash(db, &tenant.id, &hash)
        .await
        .map_err(OAuthError::from)?
        .filter(|r| r.client_id == client.client_id)
    else {
        return Err(invalid_token());
    };
    if !usable(&row, now, &policy) {
        let tx = db.begin().await.map_err(OAuthError::from)?;
        let locked = refresh_tokens::find_by_hash_for_update(&tx, &tenant.id, &hash)
            .await
            .map_err(OAuthError::from)?;
        if let Some(r) = locked
            && !usable(&r, now, &policy)
        {
            // Expired, or a replaced token used again (reuse): the family goes.
            refresh_tokens::delete_family(&tx, &tenant.id, &r.family_id)
                .await
                .map_err(OAuthError::from)?;
            tracing::info!(family = %r.family_id, "refresh token expired or reused: family revoked");
        }
        tx.commit().await.map_err(OAuthError::from)?;
        return Err(invalid_token());
    }
    let granted: Vec<&str> = row.scope.split_whitespace().collect();
    let scope = match req.scope.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(asked) => {
            if let Some(extra) = asked.split_whitespace().find(|s| !granted.contains(s)) {
                return Err(OAuthError::new(
                    StatusCode::FORBIDDEN,
                    "invalid_scope",
                    format!(
                        "The requested scope \"{extra}\" was not granted to this refresh token."
                    ),
                ));
            }
            asked.to_owned()
        }
        None => row.scope.clone(),
    };
    let user = users::find(db, &tenant.id, &row.user_id)
        .await
        .map_err(OAuthError::from)?
        .filter(|u| !u.blocked)
        .ok_or_else(invalid_token)?;
    let body = row.body.clone();
    let auth_time = body.get("auth_time").and_then(Value::as_i64).unwrap_or(now);
    let organization = body.get("organization").filter(|o| o.is_object());
    let amr = body.get("amr").filter(|a| a.is_array());
    let minted = mint::mint(
        state,
        &Subject {
            tenant,
            client: &client,
            user: &user,
            grant_type: GRANT,
            scope: &scope,
            audience: row.audience.as_deref(),
            nonce: None,
            session_id: row.session_id.as_deref(),
            auth_time,
            organization,
            amr,
            ip: call.peer,
            user_agent: call.user_agent(),
        },
    )
    .await?;
    let tx = db.begin().await.map_err(OAuthError::from)?;
    let Some(mut row) = refresh_tokens::find_by_hash_for_update(&tx, &tenant.id, &hash)
        .await
        .map_err(OAuthError::from)?
        .filter(|r| usable(r, now, &policy))
    else {
        // Revoked or rotated meanwhile.
        return Err(invalid_token());
    };
    row.last_exchanged_at = Some(time::now());
    row.idle_expires_at = policy.idle_lifetime.map(|l| now + l);
    let new_token = if policy.rotating {
        let (t, _) = mint::new_refresh_token(
            &tx,
            &tenant.id,
            NewRefresh {
                client: &client,
                user_id: &row.user_id,
                session_id: row.session_id.as_deref(),
                audience: row.audience.as_deref(),
                scope: &row.scope,
                body: row.body.clone(),
                family: Family::Join(&row.family_id, row.expires_at),
            },
        )
        .await?;
        if row.rotated_at.is_none() {
            row.rotated_at = Some(now);
        }
        Some(t)
    } else {
        None
    };
    refresh_tokens::update(&tx, &tenant.id, &row)
        .await
        .map_err(OAuthError::from)?;
    tx.commit().await.map_err(OAuthError::from)?;
    Ok(Granted {
        reply: minted.reply(new_token.as_deref()),
        user_id: Some(user.user_id.clone()),
        scope: Some(minted.scope.clone()),
    })
}
