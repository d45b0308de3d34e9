//! The hosted pages (Universal Login's): login, sign-up, password reset request, consent and
//! error, server-rendered with askama templates (`crates/api/templates/`), styled inline, no
//! JavaScript needed.
//!
//! **The login transaction** (between `/authorize` and the forms' POSTs) is kept in the
//! database (a `docs` row of kind `login_transaction`, keyed by a random id that travels as
//! `state` in the pages' URLs), so any instance sharing the database can continue it. It is
//! bound to the browser that started it: `/authorize` sets the `gh_tx` cookie (256 random bits;
//! the transaction stores its SHA-256) and every POST must carry it. Every form also carries a
//! CSRF token (256 random bits; the transaction stores its SHA-256), compared in constant time.
//! A transaction lives 30 minutes.

pub mod consent;
pub mod login;
pub mod mfa;
pub mod reset;
pub mod signup;

use gatehouse_core::secret;
use std::sync::Arc;

use askama::Template;
use axum::{
    Router,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use serde_json::{Value, json};

use gatehouse_core::{Error, password::secrets_equal, time};
use gatehouse_store::{docs, tenants};

use crate::{
    authn::{authorize::Params, session},
    state::{AppState, Tenant},
};

pub const LOGIN_PATH: &str = "/u/login";
pub const SIGNUP_PATH: &str = "/u/signup";
pub const RESET_PATH: &str = "/u/reset-password";
pub const CONSENT_PATH: &str = "/u/consent";

const TX_KIND: &str = "login_transaction";
const TX_COOKIE: &str = "gh_tx";
const TX_TTL: i64 = 1800;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(LOGIN_PATH, get(login::show).post(login::submit))
        .route(SIGNUP_PATH, get(signup::show).post(signup::submit))
        .route(RESET_PATH, get(reset::show).post(reset::submit))
        .route(CONSENT_PATH, get(consent::show).post(consent::submit))
        .merge(mfa::routes())
}

/// The tenant's look: name, logo, colours (branding settings, then tenant settings).
pub struct Brand {
    pub name: String,
    pub logo: Option<String>,
    pub primary: String,
    pub background: String,
}

fn colour(v: Option<&Value>, default: &str) -> String {
    v.and_then(Value::as_str)
        .filter(|c| {
            c.len() <= 9
                && c.starts_with('#')
                && c[1..].chars().all(|ch| ch.is_ascii_hexdigit())
                && matches!(c.len(), 4 | 5 | 7 | 9)
        })
        .unwrap_or(default)
        .to_owned()
}

pub async fn brand(state: &AppState, tenant: &Tenant) -> Brand {
    let db = &state.db;
    let b = docs::get(db, &tenant.id, "branding", "settings")
        .await
        .ok()
        .flatten()
        .unwrap_or(Value::Null);
    let s = docs::get(db, &tenant.id, tenants::SETTINGS_KIND, tenants::SETTINGS_ID)
        .await
        .ok()
        .flatten()
        .unwrap_or(Value::Null);
    let https = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|u| u.starts_with("https://"))
            .map(str::to_owned)
    };
    Brand {
        name: s
            .get("friendly_name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(&tenant.id)
            .to_owned(),
        logo: https(b.get("logo_url")).or_else(|| https(s.get("picture_url"))),
        primary: colour(b.pointer("/colors/primary"), "#635dff"),
        background: colour(b.pointer("/colors/page_background"), "#f4f5f7"),
    }
}

// ---- templates -----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    brand: &'a Brand,
    title: &'a str,
    code: &'a str,
    description: &'a str,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    brand: &'a Brand,
    title: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPost<'a> {
    action: &'a str,
    fields: &'a [(&'a str, &'a str)],
}

/// The pages' security headers. `form_to`: an origin forms may post or redirect to beyond
/// `'self'` (the callback's: Chrome applies `form-action` to a form's redirects).
pub fn secure(mut r: Response, form_to: Option<&str>, script: Option<&str>) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let mut csp = String::from(
        "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    );
    if let Some(o) = form_to {
        csp.push(' ');
        csp.push_str(o);
    }
    if let Some(s) = script {
        csp.push_str("; script-src '");
        csp.push_str(s);
        csp.push('\'');
    }
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// The origin of a URL (`https://host:port`), for CSP.
pub fn origin(u: &str) -> Option<String> {
    let u = url::Url::parse(u).ok()?;
    let o = u.origin();
    o.is_tuple().then(|| o.ascii_serialization())
}

pub fn html(status: StatusCode, t: &impl Template, form_to: Option<&str>) -> Response {
    html_with_script(status, t, form_to, None)
}

/// A page with one inline script allowed by its CSP hash (`sha256-…`).
pub fn html_with_script(
    status: StatusCode,
    t: &impl Template,
    form_to: Option<&str>,
    script: Option<&str>,
) -> Response {
    match t.render() {
        Ok(s) => secure((status, Html(s)).into_response(), form_to, script),
        Err(e) => {
            tracing::error!(error = %e, "template");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong, please try again later",
            )
                .into_response()
        }
    }
}

pub async fn error_page(
    state: &AppState,
    tenant: &Tenant,
    status: StatusCode,
    code: &str,
    description: &str,
) -> Response {
    let brand = brand(state, tenant).await;
    html(
        status,
        &ErrorPage {
            brand: &brand,
            title: "Oops!, something went wrong",
            code,
            description,
        },
        None,
    )
}

pub async fn message_page(
    state: &AppState,
    tenant: &Tenant,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    let brand = brand(state, tenant).await;
    html(
        status,
        &MessagePage {
            brand: &brand,
            title,
            message,
        },
        None,
    )
}

pub async fn internal(state: &AppState, tenant: &Tenant, e: &Error) -> Response {
    if let Error::Internal(inner) = e {
        tracing::error!(error = ?inner, "hosted page");
    }
    error_page(
        state,
        tenant,
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "Something went wrong, please try again later",
    )
    .await
}

/// The CSP source (`sha256-…`) that allows an inline script.
pub fn script_hash(script: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script))
    )
}

/// `response_mode=form_post`: a page whose form posts `fields` to the callback, submitted by
/// an inline script allowed by its hash (a button does it without JavaScript).
pub fn form_post(action: &str, fields: &[(&str, &str)]) -> Response {
    const SCRIPT: &str = "document.forms[0].submit()";
    let hash = script_hash(SCRIPT);
    let t = FormPost { action, fields };
    match t.render() {
        Ok(s) => secure(
            (StatusCode::OK, Html(s)).into_response(),
            origin(action).as_deref(),
            Some(&hash),
        ),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong").into_response(),
    }
}

// ---- the login transaction -----------------------------------------------------------------

/// A login transaction as stored.
pub struct Tx {
    pub id: String,
    pub params: Params,
    /// The user, once authenticated (waiting for consent).
    pub user_id: Option<String>,
    /// The multi-factor step in progress (`crate::pages::mfa`): the user who passed the
    /// password, the factor being enrolled, whether the second factor is done. Null before.
    pub mfa: Value,
    csrf_hash: String,
}

/// Starts a login transaction and sends the browser to `path` (login, sign-up or consent).
pub async fn begin(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    params: &Params,
    user_id: Option<&str>,
    path: &str,
) -> Result<Response, Error> {
    let browser = session::cookie(headers, TX_COOKIE)
        .filter(|c| c.len() == 43)
        .unwrap_or_else(secret::random_token);
    let id = gatehouse_core::ids::base58(32);
    let now = time::unix_now();
    let body = json!({
        "params": params,
        "browser": secret::sha256_hex(&browser),
        "csrf": "",
        "user_id": user_id,
        "expires_at": now + TX_TTL,
    });
    docs::put(&state.db, &tenant.id, TX_KIND, &id, &body, &time::now()).await?;
    // Old transactions go (created more than their lifetime ago).
    let before =
        time::format(::time::OffsetDateTime::now_utc() - ::time::Duration::seconds(TX_TTL));
    docs::delete_before(&state.db, &tenant.id, TX_KIND, &before).await?;
    let mut r = Redirect::to(&format!("{path}?state={id}")).into_response();
    *r.status_mut() = StatusCode::FOUND;
    let secure = tenant.issuer.starts_with("https://");
    if let Some(c) = session::set_cookie(TX_COOKIE, &browser, Some(TX_TTL), "Lax", secure) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(r)
}

/// The live transaction `id` of this browser, if any.
pub async fn load(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    id: &str,
) -> Result<Option<Tx>, Error> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let Some(body) = docs::get(&state.db, &tenant.id, TX_KIND, id).await? else {
        return Ok(None);
    };
    if body.get("expires_at").and_then(Value::as_i64).unwrap_or(0) <= time::unix_now() {
        return Ok(None);
    }
    let Some(browser) = session::cookie(headers, TX_COOKIE) else {
        return Ok(None);
    };
    let stored = body.get("browser").and_then(Value::as_str).unwrap_or("");
    if !secrets_equal(&secret::sha256_hex(&browser), stored) {
        return Ok(None);
    }
    let Ok(params) =
        serde_json::from_value::<Params>(body.get("params").cloned().unwrap_or(Value::Null))
    else {
        return Ok(None);
    };
    Ok(Some(Tx {
        id: id.to_owned(),
        params,
        user_id: body
            .get("user_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        mfa: body.get("mfa").cloned().unwrap_or(Value::Null),
        csrf_hash: body
            .get("csrf")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
    }))
}

/// A fresh CSRF token for the transaction's next form (its hash replaces the previous one).
pub async fn csrf_for(state: &AppState, tenant: &Tenant, tx: &Tx) -> Result<String, Error> {
    let token = secret::random_token();
    let db = &state.db;
    let t = tenant.id.as_str();
    let h = secret::sha256_hex(&token);
    gatehouse_store::atomically(|| {
        let h = h.clone();
        async move {
            let x = db.begin().await?;
            if let Some(mut body) = docs::lock(&x, t, TX_KIND, &tx.id).await? {
                body["csrf"] = Value::String(h);
                docs::put(&x, t, TX_KIND, &tx.id, &body, &time::now()).await?;
            }
            x.commit().await?;
            Ok::<_, Error>(())
        }
    })
    .await?;
    Ok(token)
}

/// True when the form's CSRF token is the transaction's.
pub fn csrf_ok(tx: &Tx, token: &str) -> bool {
    !tx.csrf_hash.is_empty() && secrets_equal(&secret::sha256_hex(token), &tx.csrf_hash)
}

/// Records the authenticated user in the transaction (for the consent step).
pub async fn set_user(
    state: &AppState,
    tenant: &Tenant,
    tx: &Tx,
    user_id: &str,
) -> Result<(), Error> {
    let db = &state.db;
    let t = tenant.id.as_str();
    gatehouse_store::atomically(|| async move {
        let x = db.begin().await?;
        if let Some(mut body) = docs::lock(&x, t, TX_KIND, &tx.id).await? {
            body["user_id"] = Value::String(user_id.to_owned());
            docs::put(&x, t, TX_KIND, &tx.id, &body, &time::now()).await?;
        }
        x.commit().await?;
        Ok::<_, Error>(())
    })
    .await
}

/// Records the multi-factor step's state in the transaction (the row locked).
pub async fn set_mfa(state: &AppState, tenant: &Tenant, tx: &Tx, mfa: &Value) -> Result<(), Error> {
    let db = &state.db;
    let t = tenant.id.as_str();
    gatehouse_store::atomically(|| async move {
        let x = db.begin().await?;
        if let Some(mut body) = docs::lock(&x, t, TX_KIND, &tx.id).await? {
            body["mfa"] = mfa.clone();
            docs::put(&x, t, TX_KIND, &tx.id, &body, &time::now()).await?;
        }
        x.commit().await?;
        Ok::<_, Error>(())
    })
    .await
}

/// Ends the transaction (the code was issued or the user refused).
pub async fn finish(state: &AppState, tenant: &Tenant, tx: &Tx) -> Result<(), Error> {
    docs::delete(&state.db, &tenant.id, TX_KIND, &tx.id).await?;
    Ok(())
}

/// The page shown when a form names no live transaction of this browser.
pub async fn expired(state: &AppState, tenant: &Tenant) -> Response {
    error_page(
        state,
        tenant,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "Your login session has expired or is not valid. Please go back to the application and try again.",
    )
    .await
}

/// Adds the session cookie to a response.
pub fn with_session_cookie(mut r: Response, tenant: &Tenant, secret: &str) -> Response {
    let secure = tenant.issuer.starts_with("https://");
    if let Some(c) = session::set_cookie(session::COOKIE, secret, None, "Lax", secure) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}
