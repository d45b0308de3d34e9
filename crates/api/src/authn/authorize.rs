//! `GET /authorize`: the authorization-code flow's front door (Auth0's Authentication API).
//!
//! The client and `redirect_uri` are checked first: an unknown client, or a `redirect_uri` that
//! is not one of the client's `callbacks` (a `*` may stand for one leftmost subdomain label, as
//! Auth0 allows), shows the error page and never redirects. Every later error goes back to the
//! callback as an OAuth error (`error`, `error_description`, `state`). With a live login session
//! (and no `prompt=login`, and `max_age` satisfied, and the second factor passed when the MFA
//! policy asks for one) the code is issued at once (SSO); otherwise
//! the browser goes to the hosted login page with a login transaction (see `crate::pages`).
//! Auth0 documents only `GET /authorize`, so only `GET` is routed (a `POST` answers 405).

use gatehouse_core::secret;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::{
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use gatehouse_core::{Error, time};
use gatehouse_store::{
    atomically, clients, clients::ClientRow, docs, grants, organizations, resource_servers,
    sessions, sessions::SessionRow, tenants,
};

use super::session::{self, Device};
use crate::{pages, state::AppState, state::Tenant};

/// `GET /authorize`'s query, every parameter optional (checked here, not by serde).
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeQuery {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    response_mode: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    scope: Option<String>,
    audience: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    connection: Option<String>,
    prompt: Option<String>,
    max_age: Option<String>,
    organization: Option<String>,
    screen_hint: Option<String>,
    login_hint: Option<String>,
}

/// A checked authorization request: what the login transaction keeps between the pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    pub client_id: String,
    /// Where the answer goes (the one given, or the client's first callback).
    pub callback: String,
    /// `redirect_uri` as sent (None when omitted), for the code's body.
    pub redirect_uri: Option<String>,
    pub response_mode: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub scope: String,
    pub audience: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub connection: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<i64>,
    /// `{"id", "name"}`.
    pub organization: Option<Value>,
    pub screen_hint: Option<String>,
    pub login_hint: Option<String>,
}

/// An OAuth error for the callback.
pub struct CallbackError {
    pub error: &'static str,
    pub description: String,
}

fn cb_err(error: &'static str, description: impl Into<String>) -> CallbackError {
    CallbackError {
        error,
        description: description.into(),
    }
}

/// Does `uri` match the allowed callback `pattern`? Exact, or with `*` standing for one label
/// at the start of the host (`https://*.example.com/cb`), never for a dot, a port or a path.
pub fn url_matches(pattern: &str, uri: &str) -> bool {
    if pattern == uri {
        return true;
    }
    let Some((scheme, rest)) = pattern.split_once("://*.") else {
        return false;
    };
    let Some(u) = uri.strip_prefix(scheme).and_then(|u| u.strip_prefix("://")) else {
        return false;
    };
    let Some((label, tail)) = u.split_once('.') else {
        return false;
    };
    !label.is_empty()
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && tail == rest
}

fn list_of(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub fn tenant_of(state: &AppState, headers: &HeaderMap) -> Arc<Tenant> {
    state.tenant_for_host(headers.get(header::HOST).and_then(|h| h.to_str().ok()))
}

pub fn device_of<'a>(
    headers: &'a HeaderMap,
    peer: Option<&'a ConnectInfo<SocketAddr>>,
    ip: &'a mut String,
) -> Device<'a> {
    if let Some(p) = peer {
        *ip = p.0.ip().to_string();
    }
    Device {
        ip: (!ip.is_empty()).then_some(ip.as_str()),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    }
}

pub async fn get_authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: http::Extensions,
    q: Result<Query<AuthorizeQuery>, axum::extract::rejection::QueryRejection>,
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
    match authorize(&state, &tenant, &headers, &device, q).await {
        Ok(r) => r,
        Err(e) => pages::internal(&state, &tenant, &e).await,
    }
}

async fn authorize(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    device: &Device<'_>,
    q: AuthorizeQuery,
) -> Result<Response, Error> {
    let db = &state.db;
    let bad = |d: &str| (StatusCode::BAD_REQUEST, "invalid_request", d.to_owned());
    // 1. The client and the callback: failures here are shown, never redirected.
    let checked: Result<(ClientRow, String), (StatusCode, &str, String)> = async {
        let Some(cid) = q.client_id.as_deref().filter(|c| !c.is_empty()) else {
            return Ok(Err(bad("Missing required parameter: client_id")));
        };
        if cid.contains('\0') || cid.len() > 256 {
            return Ok(Err(bad("Unknown client")));
        }
        let Some(client) = clients::find(db, &tenant.id, cid).await? else {
            return Ok(Err(bad(&format!("Unknown client: {cid}"))));
        };
        let callbacks = list_of(&client.body, "callbacks");
        let callback = match q.redirect_uri.as_deref() {
            Some(r) if callbacks.iter().any(|p| url_matches(p, r)) => r.to_owned(),
            Some(r) => {
                return Ok(Err(bad(&format!(
                    "Callback URL mismatch. {r} is not in the list of allowed callback URLs"
                ))));
            }
            None => match callbacks.first().filter(|c| !c.contains('*')) {
                Some(c) => c.clone(),
                None => return Ok(Err(bad("Missing required parameter: redirect_uri"))),
            },
        };
        Ok::<_, Error>(Ok((client, callback)))
    }
    .await?;
    let (client, callback) = match checked {
        Ok(c) => c,
        Err((status, code, desc)) => {
            return Ok(pages::error_page(state, tenant, status, code, &desc).await);
        }
    };
    let mode = q.response_mode.clone().unwrap_or_else(|| "query".into());
    let mode_ok = matches!(mode.as_str(), "query" | "form_post");
    // Errors from here on go to the callback (in query mode when the mode itself is wrong).
    let reply_mode = if mode_ok {
        mode.clone()
    } else {
        "query".into()
    };
    let fail = |e: CallbackError| {
        respond(
            &callback,
            &reply_mode,
            &[("error", e.error), ("error_description", &e.description)],
            q.state.as_deref(),
        )
    };
    let params = match check(state, tenant, &client, &callback, &mode, mode_ok, &q).await? {
        Ok(p) => p,
        Err(e) => return Ok(fail(e)),
    };
    // 2. A live session (SSO), unless the client asks for a new login.
    let sess = session::current(db, &tenant.id, headers).await?;
    let fresh_enough = |s: &SessionRow| {
        params
            .max_age
            .is_none_or(|m| time::unix_now() - session::auth_time(s) <= m)
    };
    let mut usable = sess.filter(|s| params.prompt.as_deref() != Some("login") && fresh_enough(s));
    // A session that did not pass the second factor the policy now requires is no SSO.
    if let Some(s) = &usable
        && !session::passed_mfa(s)
        && crate::mfa::required(state, &tenant.id, &s.user_id).await?
    {
        usable = None;
    }
    if let Some(s) = usable {
        return match after_login(state, tenant, &client, &params, &s, device, None).await? {
            Next::Done(r) => Ok(r),
            Next::Error(e) => Ok(fail(e)),
            Next::Consent if params.prompt.as_deref() == Some("none") => {
                Ok(fail(cb_err("consent_required", "Consent required")))
            }
            Next::Consent => {
                pages::begin(
                    state,
                    tenant,
                    headers,
                    &params,
                    Some(&s.user_id),
                    pages::CONSENT_PATH,
                )
                .await
            }
        };
    }
    if params.prompt.as_deref() == Some("none") {
        return Ok(fail(cb_err("login_required", "Login required")));
    }
    let path = if params.screen_hint.as_deref() == Some("signup") {
        pages::SIGNUP_PATH
    } else {
        pages::LOGIN_PATH
    };
    pages::begin(state, tenant, headers, &params, None, path).await
}

/// The checks after the callback is known (their failures go to the callback).
async fn check(
    state: &AppState,
    tenant: &Arc<Tenant>,
    client: &ClientRow,
    callback: &str,
    mode: &str,
    mode_ok: bool,
    q: &AuthorizeQuery,
) -> Result<Result<Params, CallbackError>, Error> {
    let db = &state.db;
    let all = [
        &q.redirect_uri,
        &q.response_type,
        &q.response_mode,
        &q.state,
        &q.nonce,
        &q.scope,
        &q.audience,
        &q.code_challenge,
        &q.code_challenge_method,
        &q.connection,
        &q.prompt,
        &q.max_age,
        &q.organization,
        &q.screen_hint,
        &q.login_hint,
    ];
    if all.iter().any(|f| {
        f.as_deref()
            .is_some_and(|v| v.contains('\0') || v.len() > 4096)
    }) {
        return Ok(Err(cb_err("invalid_request", "Invalid parameter value")));
    }
    match q.response_type.as_deref() {
        None | Some("") => {
            return Ok(Err(cb_err(
                "invalid_request",
                "Missing required parameter: response_type",
            )));
        }
        Some("code") => {}
        Some(other) => {
            return Ok(Err(cb_err(
                "unsupported_response_type",
                format!("Unsupported response type: {other}"),
            )));
        }
    }
    if !mode_ok {
        return Ok(Err(cb_err(
            "invalid_request",
            format!("Unsupported response mode: {mode}"),
        )));
    }
    let method = match (
        q.code_challenge.as_deref(),
        q.code_challenge_method.as_deref(),
    ) {
        (None, None) => None,
        (None, Some(_)) => {
            return Ok(Err(cb_err(
                "invalid_request",
                "Missing required parameter: code_challenge",
            )));
        }
        (Some(c), m) => {
            let m = m.unwrap_or("plain");
            if m != "S256" && m != "plain" {
                return Ok(Err(cb_err(
                    "invalid_request",
                    "Unsupported code_challenge_method: must be S256 or plain",
                )));
            }
            // RFC 7636: 43 to 128 characters of the unreserved set.
            let ok_chars = c
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || "-._~".contains(ch));
            if !(43..=128).contains(&c.len()) || !ok_chars {
                return Ok(Err(cb_err("invalid_request", "Invalid code_challenge")));
            }
            Some(m.to_owned())
        }
    };
    let prompt = q.prompt.clone().filter(|p| !p.is_empty());
    if let Some(p) = &prompt
        && !matches!(p.as_str(), "none" | "login" | "consent" | "select_account")
    {
        return Ok(Err(cb_err(
            "invalid_request",
            format!("Unsupported prompt: {p}"),
        )));
    }
    let max_age = match q.max_age.as_deref() {
        None | Some("") => None,
        Some(m) => match m.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Ok(Err(cb_err(
                    "invalid_request",
                    "max_age must be a non-negative integer",
                )));
            }
        },
    };
    let settings = docs::get(db, &tenant.id, tenants::SETTINGS_KIND, tenants::SETTINGS_ID)
        .await?
        .unwrap_or(Value::Null);
    let audience = match q.audience.clone().filter(|a| !a.is_empty()).or_else(|| {
        settings
            .get("default_audience")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
    }) {
        None => None,
        Some(a) => {
            if resource_servers::find_by_identifier(db, &tenant.id, &a)
                .await?
                .is_none()
            {
                return Ok(Err(cb_err(
                    "access_denied",
                    format!("Service not found: {a}"),
                )));
            }
            Some(a)
        }
    };
    let organization = match q.organization.as_deref().filter(|o| !o.is_empty()) {
        None => None,
        Some(o) => {
            let by_name = settings
                .get("allow_organization_name_in_authentication_api")
                .and_then(Value::as_bool)
                == Some(true);
            let found = if o.starts_with("org_") {
                organizations::find(db, &tenant.id, o).await?
            } else if by_name {
                organizations::find_by_name(db, &tenant.id, &o.to_lowercase()).await?
            } else {
                None
            };
            match found {
                Some(org) => Some(json!({"id": org.id, "name": org.name})),
                None => {
                    return Ok(Err(cb_err(
                        "invalid_request",
                        format!("parameter organization is invalid: {o}"),
                    )));
                }
            }
        }
    };
    let scope = q
        .scope
        .as_deref()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Ok(Ok(Params {
        client_id: client.client_id.clone(),
        callback: callback.to_owned(),
        redirect_uri: q.redirect_uri.clone(),
        response_mode: mode.to_owned(),
        state: q.state.clone(),
        nonce: q.nonce.clone(),
        scope,
        audience,
        code_challenge: q.code_challenge.clone(),
        code_challenge_method: method,
        connection: q.connection.clone().filter(|c| !c.is_empty()),
        prompt,
        max_age,
        organization,
        screen_hint: q.screen_hint.clone(),
        login_hint: q.login_hint.clone(),
    }))
}

/// What comes after the user is known.
pub enum Next {
    /// The code went to the callback.
    Done(Response),
    /// A third-party client needs the user's consent first.
    Consent,
    /// An OAuth error for the callback.
    Error(CallbackError),
}

/// The consent's audience key: the API, or `{issuer}userinfo` for OIDC scopes alone.
pub fn grant_audience(tenant: &Tenant, p: &Params) -> String {
    p.audience
        .clone()
        .unwrap_or_else(|| format!("{}userinfo", tenant.issuer))
}

/// The user of session `s` may now get a code: checks the organization, consent, then issues
/// the code. `reauth`: the method the user just authenticated with (recorded in the session).
pub async fn after_login(
    state: &AppState,
    tenant: &Arc<Tenant>,
    client: &ClientRow,
    p: &Params,
    s: &SessionRow,
    device: &Device<'_>,
    reauth: Option<&str>,
) -> Result<Next, Error> {
    let db = &state.db;
    if let Some(org) = &p.organization {
        let id = org.get("id").and_then(Value::as_str).unwrap_or_default();
        if !organizations::is_member(db, &tenant.id, id, &s.user_id).await? {
            return Ok(Next::Error(cb_err(
                "access_denied",
                format!("user {} is not part of the {id} organization", s.user_id),
            )));
        }
    }
    if !client.is_first_party {
        let wanted: Vec<&str> = p.scope.split(' ').filter(|x| !x.is_empty()).collect();
        let g = grants::find_for(
            db,
            &tenant.id,
            &s.user_id,
            &p.client_id,
            &grant_audience(tenant, p),
        )
        .await?;
        let covered = g.is_some_and(|g| wanted.iter().all(|w| g.scope.iter().any(|x| x == w)));
        if !covered || p.prompt.as_deref() == Some("consent") {
            return Ok(Next::Consent);
        }
    }
    Ok(
        match issue_code(state, tenant, p, s, device, reauth).await? {
            Some(r) => Next::Done(r),
            None => Next::Error(cb_err("login_required", "Login required")),
        },
    )
}

/// Creates the code (256 random bits; only its SHA-256 stored; 60 s; single use) in the
/// transaction that records the client in the session; None when the session ended meanwhile.
async fn issue_code(
    state: &AppState,
    tenant: &Arc<Tenant>,
    p: &Params,
    s: &SessionRow,
    device: &Device<'_>,
    reauth: Option<&str>,
) -> Result<Option<Response>, Error> {
    let db = &state.db;
    let t = tenant.id.as_str();
    let code = secret::random_token();
    let code_hash = secret::sha256_hex(&code);
    let done = atomically(|| {
        let code_hash = code_hash.clone();
        async move {
            let tx = db.begin().await?;
            let Some(s) = session::touch(&tx, t, &s.id, &p.client_id, device, reauth).await? else {
                return Ok(None);
            };
            let amr: Vec<Value> = s
                .body
                .pointer("/authentication/methods")
                .and_then(Value::as_array)
                .map(|ms| ms.iter().filter_map(|m| m.get("name").cloned()).collect())
                .unwrap_or_default();
            let body = json!({
                "client_id": p.client_id,
                "redirect_uri": p.redirect_uri,
                "user_id": s.user_id,
                "scope": p.scope,
                "audience": p.audience,
                "nonce": p.nonce,
                "code_challenge": p.code_challenge,
                "code_challenge_method": p.code_challenge_method,
                "session_id": s.id,
                "auth_time": session::auth_time(&s),
                "organization": p.organization,
                "amr": amr,
            });
            sessions::insert_code(
                &tx,
                t,
                &code_hash,
                &p.client_id,
                &body,
                time::unix_now() + 60,
            )
            .await?;
            tx.commit().await?;
            Ok::<_, Error>(Some(()))
        }
    })
    .await?;
    Ok(done.map(|()| {
        respond(
            &p.callback,
            &p.response_mode,
            &[("code", &code)],
            p.state.as_deref(),
        )
    }))
}

/// The answer to the callback: a 302 with the parameters in the query, or (form_post) a page
/// whose form posts them (submitted by a script allowed by its hash; a button without it).
pub fn respond(
    callback: &str,
    mode: &str,
    fields: &[(&str, &str)],
    state: Option<&str>,
) -> Response {
    let mut all: Vec<(&str, &str)> = fields.to_vec();
    if let Some(s) = state {
        all.push(("state", s));
    }
    if mode == "form_post" {
        return pages::form_post(callback, &all);
    }
    let Ok(mut u) = url::Url::parse(callback) else {
        return (StatusCode::BAD_REQUEST, "invalid callback").into_response();
    };
    {
        let mut qp = u.query_pairs_mut();
        for (k, v) in &all {
            qp.append_pair(k, v);
        }
    }
    let mut r = Redirect::to(u.as_str()).into_response();
    *r.status_mut() = StatusCode::FOUND;
    r
}

#[cfg(test)]
mod tests {
    use super::url_matches;

    #[test]
    fn wildcard_callbacks() {
        assert!(url_matches(
            "https://a.example.com/cb",
            "https://a.example.com/cb"
        ));
        assert!(url_matches(
            "https://*.example.com/cb",
            "https://a.example.com/cb"
        ));
        assert!(!url_matches(
            "https://*.example.com/cb",
            "https://a.b.example.com/cb"
        ));
        assert!(!url_matches(
            "https://*.example.com/cb",
            "https://evil.com/x.example.com/cb"
        ));
        assert!(!url_matches(
            "https://*.example.com/cb",
            "https://example.com/cb"
        ));
        assert!(!url_matches(
            "https://*.example.com/cb",
            "http://a.example.com/cb"
        ));
        assert!(!url_matches(
            "https://*.example.com/cb",
            "https://a.example.com/cb2"
        ));
        assert!(!url_matches(
            "https://a.example.com/cb",
            "https://a.example.com/cb?x=1"
        ));
    }
}
