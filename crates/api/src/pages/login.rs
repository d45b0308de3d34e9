//! `/u/login`: the login form; its POST checks the password with the login core
//! (`authn::login::verify_password`), starts a login session and continues the authorization.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::{
    Form,
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use secrecy::SecretString;
use serde::Deserialize;

use gatehouse_core::Error;
use gatehouse_store::{clients, users::UserRow};

use super::{Brand, Tx};
use crate::{
    authn::{
        authorize::{self, Next, device_of, tenant_of},
        login::{self, Credentials, LoginFailure},
        session::{self, Device},
    },
    logs::Entry,
    state::{AppState, Tenant},
};

#[derive(Deserialize)]
pub struct StateQuery {
    #[serde(default)]
    pub state: String,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    brand: &'a Brand,
    app: &'a str,
    state: &'a str,
    csrf: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

pub const WRONG: &str = "Wrong email or password.";
pub const SOMETHING: &str = "Something went wrong, please try again later";

/// The client's name for the pages.
pub async fn app_name(state: &AppState, tenant: &Tenant, client_id: &str) -> String {
    clients::find(&state.db, &tenant.id, client_id)
        .await
        .ok()
        .flatten()
        .map_or_else(|| client_id.to_owned(), |c| c.name)
}

async fn render(
    state: &AppState,
    tenant: &Tenant,
    tx: &Tx,
    status: StatusCode,
    username: &str,
    error: Option<&str>,
) -> Result<Response, Error> {
    let csrf = super::csrf_for(state, tenant, tx).await?;
    let brand = super::brand(state, tenant).await;
    let app = app_name(state, tenant, &tx.params.client_id).await;
    Ok(super::html(
        status,
        &LoginPage {
            brand: &brand,
            app: &app,
            state: &tx.id,
            csrf: &csrf,
            username,
            error,
        },
        super::origin(&tx.params.callback).as_deref(),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StateQuery>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    let r = async {
        let Some(tx) = super::load(&state, &tenant, &headers, &q.state).await? else {
            return Ok(super::expired(&state, &tenant).await);
        };
        let hint = tx.params.login_hint.clone().unwrap_or_default();
        render(&state, &tenant, &tx, StatusCode::OK, &hint, None).await
    }
    .await;
    match r {
        Ok(r) => r,
        Err(e) => super::internal(&state, &tenant, &e).await,
    }
}

pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ext: http::Extensions,
    Query(q): Query<StateQuery>,
    Form(f): Form<LoginForm>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    let mut ip = String::new();
    let device = device_of(&headers, ext.get::<ConnectInfo<SocketAddr>>(), &mut ip);
    let id = if f.state.is_empty() {
        &q.state
    } else {
        &f.state
    };
    match submit_inner(&state, &tenant, &headers, &device, id, &f).await {
        Ok(r) => r,
        Err(e) => super::internal(&state, &tenant, &e).await,
    }
}

async fn submit_inner(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    device: &Device<'_>,
    id: &str,
    f: &LoginForm,
) -> Result<Response, Error> {
    let Some(tx) = super::load(state, tenant, headers, id).await? else {
        return Ok(super::expired(state, tenant).await);
    };
    if !super::csrf_ok(&tx, &f.csrf) {
        return Ok(super::error_page(
            state,
            tenant,
            StatusCode::FORBIDDEN,
            "invalid_request",
            "Invalid CSRF token. Please go back to the application and try again.",
        )
        .await);
    }
    let password = SecretString::from(f.password.clone());
    let creds = Credentials {
        tenant,
        client_id: &tx.params.client_id,
        realm: tx.params.connection.as_deref(),
        username: f.username.trim(),
        password: &password,
        ip: device.ip,
        user_agent: device.user_agent,
    };
    let user = match login::verify_password(state, &creds).await? {
        Ok(u) => u,
        Err(failure) => {
            let status = if failure == LoginFailure::IpThrottled {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::BAD_REQUEST
            };
            let msg = match failure {
                LoginFailure::WrongCredentials => WRONG.to_owned(),
                LoginFailure::Blocked => "user is blocked".to_owned(),
                LoginFailure::TooManyAttempts => {
                    "Your account has been blocked after multiple consecutive login attempts."
                        .to_owned()
                }
                LoginFailure::IpThrottled => failure.description(),
                LoginFailure::NoConnection(_) => SOMETHING.to_owned(),
            };
            return render(state, tenant, &tx, status, &f.username, Some(&msg)).await;
        }
    };
    after_password(state, tenant, headers, device, &tx, &user).await
}

/// After a correct password (login or sign-up): the second factor when the tenant's policy
/// asks for it (`crate::pages::mfa`), else the login completes.
pub async fn after_password(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    device: &Device<'_>,
    tx: &Tx,
    user: &UserRow,
) -> Result<Response, Error> {
    if crate::mfa::required(state, &tenant.id, &user.user_id).await? {
        return super::mfa::start(state, tenant, tx, user).await;
    }
    logged_in(state, tenant, headers, device, tx, user, &["pwd"]).await
}

/// After a successful authentication on a page (`methods`: `pwd`, then `mfa` when a second
/// factor was passed): logs `s`, starts (or renews) the login session, and continues the
/// authorization (consent or code).
pub async fn logged_in(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    device: &Device<'_>,
    tx: &Tx,
    user: &UserRow,
    methods: &[&str],
) -> Result<Response, Error> {
    let db = &state.db;
    let method = methods.first().copied().unwrap_or("pwd");
    let Some(client) = clients::find(db, &tenant.id, &tx.params.client_id).await? else {
        return Ok(super::expired(state, tenant).await);
    };
    // The same user's live session is renewed; another user's is replaced.
    let existing = session::current(db, &tenant.id, headers)
        .await?
        .filter(|s| s.user_id == user.user_id);
    let (sess, new_secret) = match existing {
        Some(s) => {
            // The further methods (a second factor) are recorded now; the first one when the
            // code is issued.
            for m in methods.iter().skip(1) {
                let (t, id, cid) = (tenant.id.as_str(), s.id.as_str(), client.client_id.as_str());
                gatehouse_store::atomically(|| async move {
                    let x = db.begin().await?;
                    session::touch(&x, t, id, cid, device, Some(m)).await?;
                    x.commit().await?;
                    Ok::<_, Error>(())
                })
                .await?;
            }
            (s, None)
        }
        None => {
            let (s, secret) =
                session::create_with(db, &tenant.id, &user.user_id, methods, device).await?;
            (s, Some(secret))
        }
    };
    state
        .logs
        .record(
            &tenant.id,
            Entry::new("s", "Successful login")
                .set("client_id", Some(client.client_id.clone()))
                .set("client_name", Some(client.name.clone()))
                .set("user_id", Some(user.user_id.clone()))
                .set(
                    "user_name",
                    user.email.clone().or_else(|| user.username.clone()),
                )
                .set("connection", Some(user.connection.clone()))
                .set("connection_id", Some(user.connection_id.clone()))
                .set("ip", device.ip)
                .set("user_agent", device.user_agent),
        )
        .await;
    let next = authorize::after_login(
        state,
        tenant,
        &client,
        &tx.params,
        &sess,
        device,
        Some(method),
    )
    .await?;
    let r = match next {
        Next::Done(r) => {
            super::finish(state, tenant, tx).await?;
            r
        }
        Next::Error(e) => {
            super::finish(state, tenant, tx).await?;
            authorize::respond(
                &tx.params.callback,
                &tx.params.response_mode,
                &[("error", e.error), ("error_description", &e.description)],
                tx.params.state.as_deref(),
            )
        }
        Next::Consent => {
            super::set_user(state, tenant, tx, &user.user_id).await?;
            let mut r =
                axum::response::Redirect::to(&format!("{}?state={}", super::CONSENT_PATH, tx.id))
                    .into_response();
            *r.status_mut() = StatusCode::FOUND;
            r
        }
    };
    Ok(match new_secret {
        Some(secret) => super::with_session_cookie(r, tenant, &secret),
        None => r,
    })
}

use axum::response::IntoResponse as _;
