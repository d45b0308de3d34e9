//! `GET /v2/logout` (Auth0's) and `GET /oidc/logout` (OpenID Connect RP-initiated logout):
//! both end the browser's login session (the row is deleted, the cookie cleared) and log
//! `slo`. Refresh tokens outlive the logout, as in Auth0 (revoking the session through the
//! Management API removes them). A return URL is followed only when it is allowed (`allowed_logout_urls` of the
//! client, or of the tenant without a client); anything else is refused with the error page,
//! never redirected (no open redirect).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::{
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::Value;

use gatehouse_core::{Error, time};
use gatehouse_store::{clients, docs, sessions, tenants};

use super::{
    authorize::{device_of, tenant_of, url_matches},
    session,
};
use crate::{logs::Entry, pages, state::AppState, state::Tenant};

#[derive(Debug, Default, Deserialize)]
pub struct V2Logout {
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
    client_id: Option<String>,
    federated: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct OidcLogout {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    logout_hint: Option<String>,
    state: Option<String>,
    ui_locales: Option<String>,
}

fn allowed(list: &Value, url: &str) -> bool {
    list.as_array().is_some_and(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .any(|p| url_matches(p, url))
    })
}

/// Ends the browser's session (when `only_sid` is given, only if it is that session) and
/// answers with the redirect (or the logged-out page) and the cleared cookie.
async fn end_session(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    ip: Option<&str>,
    client_id: Option<&str>,
    only_sid: Option<&str>,
    to: Option<String>,
) -> Result<Response, Error> {
    let db = &state.db;
    if let Some(s) = session::current(db, &tenant.id, headers).await?
        && only_sid.is_none_or(|sid| sid == s.id)
    {
        let t = tenant.id.as_str();
        let sid = s.id.clone();
        gatehouse_store::atomically(|| {
            let sid = sid.clone();
            async move {
                let tx = db.begin().await?;
                sessions::delete(&tx, t, &sid).await?;
                tx.commit().await?;
                Ok::<_, Error>(())
            }
        })
        .await?;
        state
            .logs
            .record(
                &tenant.id,
                Entry::new("slo", "User successfully logged out")
                    .set("client_id", client_id)
                    .set("user_id", Some(s.user_id.clone()))
                    .set("ip", ip)
                    .set(
                        "user_agent",
                        headers
                            .get(header::USER_AGENT)
                            .and_then(|v| v.to_str().ok()),
                    ),
            )
            .await;
    }
    let mut r = match to {
        Some(u) => {
            let mut r = Redirect::to(&u).into_response();
            *r.status_mut() = StatusCode::FOUND;
            r
        }
        None => {
            pages::message_page(
                state,
                tenant,
                StatusCode::OK,
                "Logged out",
                "You have been logged out.",
            )
            .await
        }
    };
    let secure = tenant.issuer.starts_with("https://");
    if let Some(c) = session::set_cookie(session::COOKIE, "", Some(0), "Lax", secure) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(r)
}

pub async fn v2_logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: http::Extensions,
    q: Result<Query<V2Logout>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    let Ok(Query(q)) = q else {
        return pages::error_page(
            &state,
            &tenant,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid query string",
        )
        .await;
    };
    let mut ip = String::new();
    let device = device_of(&headers, ext.get::<ConnectInfo<SocketAddr>>(), &mut ip);
    let _ = &q.federated;
    let r = async {
        let to = match q.return_to.as_deref().filter(|u| !u.is_empty()) {
            None => None,
            Some(u) => {
                let list = match q.client_id.as_deref() {
                    Some(cid) => match clients::find(&state.db, &tenant.id, cid).await? {
                        Some(c) => c.body.get("allowed_logout_urls").cloned().unwrap_or(Value::Null),
                        None => {
                            return Ok(pages::error_page(&state, &tenant, StatusCode::BAD_REQUEST, "invalid_request", &format!("Unknown client: {cid}")).await);
                        }
                    },
                    None => docs::get(&state.db, &tenant.id, tenants::SETTINGS_KIND, tenants::SETTINGS_ID)
                        .await?
                        .and_then(|s| s.get("allowed_logout_urls").cloned())
                        .unwrap_or(Value::Null),
                };
                if !allowed(&list, u) {
                    return Ok(pages::error_page(
                        &state,
                        &tenant,
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        &format!("The \"returnTo\" querystring parameter \"{u}\" is not defined as a valid URL in \"Allowed Logout URLs\"."),
                    )
                    .await);
                }
                Some(u.to_owned())
            }
        };
        end_session(&state, &tenant, &headers, device.ip, q.client_id.as_deref(), None, to).await
    }
    .await;
    match r {
        Ok(r) => r,
        Err(e) => pages::internal(&state, &tenant, &e).await,
    }
}

pub async fn oidc_logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: http::Extensions,
    q: Result<Query<OidcLogout>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    let Ok(Query(q)) = q else {
        return pages::error_page(
            &state,
            &tenant,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid query string",
        )
        .await;
    };
    let mut ip = String::new();
    let device = device_of(&headers, ext.get::<ConnectInfo<SocketAddr>>(), &mut ip);
    let _ = (&q.logout_hint, &q.ui_locales);
    let bad = |d: String| (StatusCode::BAD_REQUEST, d);
    let r = async {
        // The id_token_hint: signed by this tenant (its expiry is not checked, as OIDC allows).
        let mut hint_client: Option<String> = None;
        let mut hint_sid: Option<String> = None;
        if let Some(t) = q.id_token_hint.as_deref().filter(|t| !t.is_empty()) {
            let claims = {
                let ring = tenant.keys();
                verify_hint(&ring.verifier, t, &tenant.issuer)
            };
            let Some(claims) = claims else {
                return Ok(Err(bad("Invalid id_token_hint".into())));
            };
            hint_client = claims.get("aud").and_then(|a| match a {
                Value::String(s) => Some(s.clone()),
                Value::Array(v) => v.first().and_then(Value::as_str).map(str::to_owned),
                _ => None,
            });
            hint_sid = claims.get("sid").and_then(Value::as_str).map(str::to_owned);
        }
        let client_id = match (q.client_id.as_deref(), hint_client.as_deref()) {
            (Some(a), Some(b)) if a != b => {
                return Ok(Err(bad("The client_id does not match the id_token_hint's audience".into())));
            }
            (Some(a), _) => Some(a.to_owned()),
            (None, b) => b.map(str::to_owned),
        };
        let to = match q.post_logout_redirect_uri.as_deref().filter(|u| !u.is_empty()) {
            None => None,
            Some(u) => {
                let Some(cid) = client_id.as_deref() else {
                    return Ok(Err(bad("post_logout_redirect_uri needs client_id or id_token_hint".into())));
                };
                let Some(c) = clients::find(&state.db, &tenant.id, cid).await? else {
                    return Ok(Err(bad(format!("Unknown client: {cid}"))));
                };
                let list = c.body.get("allowed_logout_urls").cloned().unwrap_or(Value::Null);
                if !allowed(&list, u) {
                    return Ok(Err(bad(format!("The post_logout_redirect_uri \"{u}\" is not defined as a valid URL in \"Allowed Logout URLs\"."))));
                }
                let mut url = url::Url::parse(u).map_err(|_| Error::bad_body("bad url"))?;
                if let Some(s) = &q.state {
                    url.query_pairs_mut().append_pair("state", s);
                }
                Some(url.to_string())
            }
        };
        end_session(&state, &tenant, &headers, device.ip, client_id.as_deref(), hint_sid.as_deref(), to)
            .await
            .map(Ok)
    }
    .await;
    match r {
        Ok(Ok(r)) => r,
        Ok(Err((status, d))) => {
            pages::error_page(&state, &tenant, status, "invalid_request", &d).await
        }
        Err(e) => pages::internal(&state, &tenant, &e).await,
    }
}

/// The hint's claims when this tenant signed it (any audience; expiry not checked).
fn verify_hint(v: &gatehouse_core::jwt::Verifier, token: &str, issuer: &str) -> Option<Value> {
    // The verifier checks expiry and audience: ask with the token's own audience, at a time
    // before it expired (OIDC: an expired ID token is an acceptable hint).
    let payload = token.split('.').nth(1)?;
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?,
    )
    .ok()?;
    let aud = match claims.get("aud")? {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.first()?.as_str()?.to_owned(),
        _ => return None,
    };
    let exp = claims.get("exp").and_then(Value::as_i64)?;
    v.verify(
        token,
        issuer,
        &aud,
        exp.saturating_sub(1).min(time::unix_now()),
    )
    .ok()
}
