//! `/u/reset-password`: the password reset request (the form asks for the e-mail address; the
//! login core's `request_password_reset` sends the reset link when the user exists, and the page
//! says the same either way, so it does not reveal who has an account). The link opens
//! `/u/reset-verify` (crates/api/src/mgmt/tickets.rs), rendered with these templates.

use std::net::SocketAddr;

use askama::Template;
use axum::{
    Form,
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::Deserialize;

use gatehouse_core::Error;

use super::{Brand, Tx, login::StateQuery};
use crate::{
    authn::authorize::{device_of, tenant_of},
    state::{AppState, Tenant},
};

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage<'a> {
    brand: &'a Brand,
    app: &'a str,
    state: &'a str,
    csrf: &'a str,
    email: &'a str,
    sent: bool,
    error: Option<&'a str>,
}

async fn render(
    state: &AppState,
    tenant: &Tenant,
    tx: &Tx,
    status: StatusCode,
    email: &str,
    sent: bool,
    error: Option<&str>,
) -> Result<Response, Error> {
    let csrf = super::csrf_for(state, tenant, tx).await?;
    let brand = super::brand(state, tenant).await;
    let app = super::login::app_name(state, tenant, &tx.params.client_id).await;
    Ok(super::html(
        status,
        &ResetPage {
            brand: &brand,
            app: &app,
            state: &tx.id,
            csrf: &csrf,
            email,
            sent,
            error,
        },
        None,
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
        render(&state, &tenant, &tx, StatusCode::OK, "", false, None).await
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
    Form(f): Form<ResetForm>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    let mut ip = String::new();
    let device = device_of(&headers, ext.get::<ConnectInfo<SocketAddr>>(), &mut ip);
    let id = if f.state.is_empty() {
        &q.state
    } else {
        &f.state
    };
    let r = async {
        let Some(tx) = super::load(&state, &tenant, &headers, id).await? else {
            return Ok(super::expired(&state, &tenant).await);
        };
        if !super::csrf_ok(&tx, &f.csrf) {
            return Ok(super::error_page(
                &state,
                &tenant,
                StatusCode::FORBIDDEN,
                "invalid_request",
                "Invalid CSRF token. Please go back to the application and try again.",
            )
            .await);
        }
        let email = f.email.trim();
        if email.is_empty() || !email.contains('@') {
            return render(
                &state,
                &tenant,
                &tx,
                StatusCode::BAD_REQUEST,
                email,
                false,
                Some("Email is not valid."),
            )
            .await;
        }
        let conn = crate::authn::login::database_connection(
            &state,
            &tenant.id,
            &tx.params.client_id,
            tx.params.connection.as_deref(),
        )
        .await?;
        let Ok(conn) = conn else {
            return render(
                &state,
                &tenant,
                &tx,
                StatusCode::BAD_REQUEST,
                email,
                false,
                Some(super::login::SOMETHING),
            )
            .await;
        };
        crate::authn::signup::request_password_reset(
            &state,
            &tenant,
            &tx.params.client_id,
            &conn.name,
            email,
            device.ip,
        )
        .await?;
        state.worker.wake(crate::email::KIND);
        render(&state, &tenant, &tx, StatusCode::OK, email, true, None).await
    }
    .await;
    match r {
        Ok(r) => r,
        Err(e) => super::internal(&state, &tenant, &e).await,
    }
}
