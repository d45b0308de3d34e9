//! Sign-up into a database connection and password-reset requests, shared by
//! `/dbconnections/*` and the hosted pages. A user is created by the same code as
//! `POST /users` ([`crate::mgmt::users::create_user`]): one set of rules, password policy, unique
//! keys and `user.created` event.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use gatehouse_core::Error;
use gatehouse_spec::Op;
use gatehouse_store::{Exec, atomically, clients, users::UserRow};

use super::throttle::{self, Stage};
use crate::{
    authn::login,
    logs::Entry,
    mgmt::tickets,
    spine::{Ctx, auth::Principal},
    state::{AppState, Tenant},
};

pub struct NewAccount {
    pub connection: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub phone_number: Option<String>,
    pub password: SecretString,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub name: Option<String>,
    pub nickname: Option<String>,
    pub picture: Option<String>,
    pub user_metadata: Option<Value>,
}

/// A request context for the Management API's shared code acting for a client of the
/// Authentication API (no scopes: only code that does not check them may run with it).
fn client_ctx(state: &AppState, tenant: &Arc<Tenant>, client_id: &str, op: Op) -> Ctx {
    Ctx {
        state: state.clone(),
        tenant: tenant.clone(),
        principal: Arc::new(Principal {
            sub: format!("{client_id}@clients"),
            client_id: Some(client_id.to_owned()),
            scopes: Vec::new(),
            exp: 0,
        }),
        op,
    }
}

/// The `application` a template shows.
async fn application(x: &impl Exec, tenant: &str, client_id: &str) -> Result<Value, Error> {
    Ok(clients::find(x, tenant, client_id)
        .await?
        .map(|c| json!({"name": c.name, "clientID": c.client_id}))
        .unwrap_or_else(|| json!({})))
}

/// The verification e-mail of a new user (a ticket and its message in the outbox, in one
/// transaction), unless the tenant switched the `verify_email` template off.
async fn send_verification(
    state: &AppState,
    tenant: &Arc<Tenant>,
    client_id: &str,
    user: &UserRow,
) -> Result<(), Error> {
    let Some(email) = user.email.as_deref().filter(|_| !user.email_verified) else {
        return Ok(());
    };
    let (db, tid) = (&state.db, tenant.id.as_str());
    let template = crate::email::template(db, tid, "verify_email").await?;
    if crate::email::disabled(template.as_ref()) {
        return Ok(());
    }
    atomically(|| async {
        let tx = db.begin().await?;
        let url = tickets::create(
            &tx,
            tid,
            &tenant.issuer,
            tickets::EMAIL_VERIFICATION,
            &user.user_id,
            json!({"client_id": client_id}),
            None,
        )
        .await?;
        let vars = crate::email::variables(
            &tx,
            tid,
            json!({
                "user": crate::email::user_vars(user),
                "url": url,
                "application": application(&tx, tid, client_id).await?,
                "connection": {"name": user.connection},
            }),
        )
        .await?;
        if let Some(msg) = crate::email::render("verify_email", template.as_ref(), email, &vars)? {
            crate::email::enqueue(&tx, tid, &msg).await?;
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await
}

/// Creates the user in a database connection enabled for the client (the same rules and
/// password policy as POST /users: shares its code), sends the verification e-mail through the
/// outbox when the tenant's template is enabled, logs `ss` / `fs`. Errors are Auth0's.
pub async fn sign_up(
    state: &AppState,
    tenant: &Arc<Tenant>,
    client_id: &str,
    a: NewAccount,
    ip: Option<&str>,
) -> Result<UserRow, Error> {
    // Every sign-up attempt counts toward suspicious IP throttling (pre-user-registration).
    let result = if throttle::count(state, &tenant.id, Stage::PreUserRegistration, ip).await? {
        Err(Error::TooManyRequests(
            Stage::PreUserRegistration.refusal().into(),
        ))
    } else {
        create(state, tenant, client_id, &a).await
    };
    let entry = match &result {
        Ok(u) => Entry::new("ss", "Successful signup").set("user_id", Some(u.user_id.clone())),
        Err(e) => Entry::new("fs", e.public_message()),
    };
    let entry = entry
        .set("client_id", Some(client_id))
        .set("ip", ip)
        .set("connection", Some(a.connection.clone()))
        .set(
            "user_name",
            a.email
                .clone()
                .or_else(|| a.username.clone())
                .or_else(|| a.phone_number.clone()),
        )
        .set("strategy", Some("auth0"))
        .set("strategy_type", Some("database"));
    state.logs.record(&tenant.id, entry).await;
    let user = result?;
    send_verification(state, tenant, client_id, &user).await?;
    Ok(user)
}

async fn create(
    state: &AppState,
    tenant: &Arc<Tenant>,
    client_id: &str,
    a: &NewAccount,
) -> Result<UserRow, Error> {
    let conn = login::database_connection(state, &tenant.id, client_id, Some(&a.connection))
        .await?
        .map_err(|m| Error::bad_request("invalid_connection", m))?;
    let mut req = Map::new();
    req.insert("connection".into(), json!(conn.name));
    req.insert("password".into(), json!(a.password.expose_secret()));
    for (k, v) in [
        ("email", &a.email),
        ("username", &a.username),
        ("phone_number", &a.phone_number),
        ("given_name", &a.given_name),
        ("family_name", &a.family_name),
        ("name", &a.name),
        ("nickname", &a.nickname),
        ("picture", &a.picture),
    ] {
        if let Some(v) = v {
            req.insert(k.into(), json!(v));
        }
    }
    if let Some(m) = a.user_metadata.as_ref().filter(|m| m.is_object()) {
        req.insert("user_metadata".into(), m.clone());
    }
    let ctx = client_ctx(state, tenant, client_id, Op::PostUsers);
    let (user, _) = crate::mgmt::users::create_user(&ctx, &req).await?;
    Ok(user)
}

/// E-mails a password-change link to the user of `connection` with this e-mail (a
/// `PASSWORD_CHANGE` ticket, the tenant's `reset_email` template or Auth0's default text, in the
/// outbox). Answers the same whether the user exists or not; logs `scpr` / `fcpr`.
pub async fn request_password_reset(
    state: &AppState,
    tenant: &Arc<Tenant>,
    client_id: &str,
    connection: &str,
    email: &str,
    ip: Option<&str>,
) -> Result<(), Error> {
    let (db, tid) = (&state.db, tenant.id.as_str());
    let conn = login::database_connection(state, tid, client_id, Some(connection))
        .await?
        .map_err(|m| Error::bad_request("invalid_connection", m))?;
    let user = login::find_login_user(db, tid, &conn, &email.trim().to_lowercase()).await?;
    let entry = match &user {
        Some(u) => {
            let template = crate::email::template(db, tid, "reset_email").await?;
            let to = u.email.clone().unwrap_or_default();
            atomically(|| async {
                let tx = db.begin().await?;
                let url = tickets::create(
                    &tx,
                    tid,
                    &tenant.issuer,
                    tickets::PASSWORD_CHANGE,
                    &u.user_id,
                    json!({"client_id": client_id}),
                    None,
                )
                .await?;
                let vars = crate::email::variables(
                    &tx,
                    tid,
                    json!({
                        "user": crate::email::user_vars(u),
                        "url": url,
                        "application": application(&tx, tid, client_id).await?,
                        "connection": {"name": conn.name},
                    }),
                )
                .await?;
                if !to.is_empty()
                    && let Some(msg) =
                        crate::email::render("reset_email", template.as_ref(), &to, &vars)?
                {
                    crate::email::enqueue(&tx, tid, &msg).await?;
                }
                tx.commit().await?;
                Ok::<_, Error>(())
            })
            .await?;
            Entry::new("scpr", "Success Change Password Request")
                .set("user_id", Some(u.user_id.clone()))
        }
        None => Entry::new(
            "fcpr",
            "Failed Change Password Request: user does not exist",
        ),
    };
    let entry = entry
        .set("client_id", Some(client_id))
        .set("ip", ip)
        .set("connection", Some(conn.name.clone()))
        .set("user_name", Some(email))
        .set("strategy", Some("auth0"))
        .set("strategy_type", Some("database"));
    state.logs.record(tid, entry).await;
    Ok(())
}
