//! `/u/signup`: the sign-up form; its POST creates the user with the login core
//! (`authn::signup::sign_up`, which logs `ss`/`fs` and sends the verification e-mail), then
//! logs the new user in as `/u/login` does.

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

use super::{Brand, Tx, login::StateQuery};
use crate::{
    authn::{
        authorize::{device_of, tenant_of},
        session::Device,
        signup::{self, NewAccount},
    },
    state::{AppState, Tenant},
};

#[derive(Deserialize)]
pub struct SignupForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    brand: &'a Brand,
    app: &'a str,
    state: &'a str,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

async fn render(
    state: &AppState,
    tenant: &Tenant,
    tx: &Tx,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
) -> Result<Response, Error> {
    let csrf = super::csrf_for(state, tenant, tx).await?;
    let brand = super::brand(state, tenant).await;
    let app = super::login::app_name(state, tenant, &tx.params.client_id).await;
    Ok(super::html(
        status,
        &SignupPage {
            brand: &brand,
            app: &app,
            state: &tx.id,
            csrf: &csrf,
            email,
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
    Form(f): Form<SignupForm>,
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

/// The database connection users sign up to: the transaction's `connection`, else the
/// tenant's `default_directory`, else the client's single enabled database connection (the
/// login core's rule).
async fn connection_for(
    state: &AppState,
    tenant: &Tenant,
    tx: &Tx,
) -> Result<Option<String>, Error> {
    Ok(crate::authn::login::database_connection(
        state,
        &tenant.id,
        &tx.params.client_id,
        tx.params.connection.as_deref(),
    )
    .await?
    .ok()
    .map(|c| c.name))
}

async fn submit_inner(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    device: &Device<'_>,
    id: &str,
    f: &SignupForm,
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
    let Some(connection) = connection_for(state, tenant, &tx).await? else {
        return render(
            state,
            tenant,
            &tx,
            StatusCode::BAD_REQUEST,
            &f.email,
            Some(super::login::SOMETHING),
        )
        .await;
    };
    let account = NewAccount {
        connection,
        email: Some(f.email.trim().to_owned()),
        username: None,
        phone_number: None,
        password: SecretString::from(f.password.clone()),
        given_name: None,
        family_name: None,
        name: None,
        nickname: None,
        picture: None,
        user_metadata: None,
    };
    let user = match signup::sign_up(state, tenant, &tx.params.client_id, account, device.ip).await
    {
        Ok(u) => u,
        Err(Error::Internal(e)) => return Err(Error::Internal(e)),
        Err(e) => {
            let msg = e.public_message();
            return render(
                state,
                tenant,
                &tx,
                StatusCode::BAD_REQUEST,
                &f.email,
                Some(&msg),
            )
            .await;
        }
    };
    super::login::after_password(state, tenant, headers, device, &tx, &user).await
}
