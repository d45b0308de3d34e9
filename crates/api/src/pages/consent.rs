//! `/u/consent`: a third-party client (`is_first_party: false`) asks the user to allow the
//! requested scopes; accepting records (or widens) the `grants` row, then the code is issued;
//! declining sends `access_denied` to the callback. The user must still have the login
//! session the transaction was continued with.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::{
    Form,
    extract::{ConnectInfo, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::Deserialize;

use gatehouse_core::{Error, ids, time};
use gatehouse_store::{clients, grants, grants::GrantRow, users};

use super::{Brand, Tx, login::StateQuery};
use crate::{
    authn::{
        authorize::{self, Next, device_of, grant_audience, tenant_of},
        session::{self, Device},
    },
    state::{AppState, Tenant},
};

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    brand: &'a Brand,
    app: &'a str,
    user: &'a str,
    scopes: &'a [&'a str],
    state: &'a str,
    csrf: &'a str,
}

/// The transaction and the live session of its user, or the page to show instead.
async fn context(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    id: &str,
) -> Result<Result<(Tx, gatehouse_store::sessions::SessionRow), Response>, Error> {
    let Some(tx) = super::load(state, tenant, headers, id).await? else {
        return Ok(Err(super::expired(state, tenant).await));
    };
    let sess = session::current(&state.db, &tenant.id, headers)
        .await?
        .filter(|s| Some(&s.user_id) == tx.user_id.as_ref());
    match sess {
        Some(s) => Ok(Ok((tx, s))),
        None => Ok(Err(super::expired(state, tenant).await)),
    }
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StateQuery>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    let r = async {
        let (tx, s) = match context(&state, &tenant, &headers, &q.state).await? {
            Ok(c) => c,
            Err(page) => return Ok(page),
        };
        let csrf = super::csrf_for(&state, &tenant, &tx).await?;
        let brand = super::brand(&state, &tenant).await;
        let app = super::login::app_name(&state, &tenant, &tx.params.client_id).await;
        let user = users::find(&state.db, &tenant.id, &s.user_id)
            .await?
            .and_then(|u| u.email.or(u.username).or(u.name))
            .unwrap_or_default();
        let scopes: Vec<&str> = tx
            .params
            .scope
            .split(' ')
            .filter(|x| !x.is_empty())
            .collect();
        Ok::<_, Error>(super::html(
            StatusCode::OK,
            &ConsentPage {
                brand: &brand,
                app: &app,
                user: &user,
                scopes: &scopes,
                state: &tx.id,
                csrf: &csrf,
            },
            super::origin(&tx.params.callback).as_deref(),
        ))
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
    Form(f): Form<ConsentForm>,
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
    f: &ConsentForm,
) -> Result<Response, Error> {
    let (tx, s) = match context(state, tenant, headers, id).await? {
        Ok(c) => c,
        Err(page) => return Ok(page),
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
    let p = &tx.params;
    let reply_err = |error: &str, description: &str| {
        authorize::respond(
            &p.callback,
            &p.response_mode,
            &[("error", error), ("error_description", description)],
            p.state.as_deref(),
        )
    };
    if f.action != "accept" {
        super::finish(state, tenant, &tx).await?;
        return Ok(reply_err(
            "access_denied",
            "User did not authorize the request",
        ));
    }
    let Some(client) = clients::find(&state.db, &tenant.id, &p.client_id).await? else {
        return Ok(super::expired(state, tenant).await);
    };
    let audience = grant_audience(tenant, p);
    // The grant is created or widened in one transaction, the row locked.
    let (db, t) = (&state.db, tenant.id.as_str());
    let (user_id, client_id, wanted) = (s.user_id.as_str(), p.client_id.as_str(), p.scope.as_str());
    gatehouse_store::atomically(|| {
        let audience = audience.clone();
        async move {
            let x = db.begin().await?;
            let existing = grants::find_for_update(&x, t, user_id, client_id, &audience).await?;
            let (id, created_at, mut scope) = match existing {
                Some(g) => (g.id, g.created_at, g.scope),
                None => (ids::prefixed("cgr", 16), time::now(), Vec::new()),
            };
            for w in wanted.split(' ').filter(|x| !x.is_empty()) {
                if !scope.iter().any(|x| x == w) {
                    scope.push(w.to_owned());
                }
            }
            let row = GrantRow {
                id,
                user_id: user_id.to_owned(),
                client_id: client_id.to_owned(),
                audience,
                scope,
                created_at,
            };
            grants::upsert(&x, t, &row).await?;
            x.commit().await?;
            Ok::<_, Error>(())
        }
    })
    .await?;
    // The consent is recorded: `prompt=consent` asked once is satisfied.
    let mut params = p.clone();
    if params.prompt.as_deref() == Some("consent") {
        params.prompt = None;
    }
    let next = authorize::after_login(state, tenant, &client, &params, &s, device, None).await?;
    super::finish(state, tenant, &tx).await?;
    Ok(match next {
        Next::Done(r) => r,
        Next::Error(e) => reply_err(e.error, &e.description),
        Next::Consent => reply_err("consent_required", "Consent required"),
    })
}
