//! Tag `tickets`: e-mail verification and password change tickets, and the pages their links
//! open (until the hosted login pages exist: a small server-rendered page per ticket).
//!
//! A ticket is 256 random bits (base64url) of which only the SHA-256 is stored; it expires after
//! `ttl_sec` (Auth0's default 432000 s, 5 days) and works once. `GET` shows a page with a form;
//! only its `POST` acts, consuming the ticket in the transaction that does what it allows (the
//! secret in the form is what makes the `POST` safe from cross-site requests: another site does
//! not know it). After it, the browser goes to `result_url` (with `success`, `message` and, with
//! `includeEmailInRedirect`, `email`) or sees a confirmation.

use axum::{
    Form, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use gatehouse_core::secret;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};

use gatehouse_core::{Error, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    Exec, atomically, connections,
    jobs::{self, TicketRow},
    users,
};

use crate::{
    mgmt::users::password::Policy,
    spine::{Ctx, Input, Registry, Reply},
    state::AppState,
};

pub const EMAIL_VERIFICATION: &str = "email_verification";
pub const PASSWORD_CHANGE: &str = "password_change";
/// The link of the `blocked_account` e-mail: lifts a brute-force block.
pub const ACCOUNT_UNBLOCK: &str = "account_unblock";

/// Auth0's default lifetime of a ticket: 5 days.
pub const DEFAULT_TTL_SECS: i64 = 432_000;

const VERIFY_PATH: &str = "/u/email-verification";
const RESET_PATH: &str = "/u/reset-verify";
const UNBLOCK_PATH: &str = "/u/unblock";

pub fn register(reg: &mut Registry) {
    reg.add(Op::PostEmailVerification, post_email_verification);
    reg.add(Op::PostPasswordChange, post_password_change);
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(VERIFY_PATH, get(show_verify).post(do_verify))
        .route(RESET_PATH, get(show_reset).post(do_reset))
        .route(UNBLOCK_PATH, get(show_unblock).post(do_unblock))
}

/// Stores a new ticket and returns its link.
pub async fn create(
    x: &impl Exec,
    tenant: &str,
    issuer: &str,
    kind: &str,
    user_id: &str,
    body: Value,
    ttl_sec: Option<i64>,
) -> Result<String, Error> {
    let token = secret::random_token();
    let ttl = ttl_sec.filter(|t| *t > 0).unwrap_or(DEFAULT_TTL_SECS);
    let row = TicketRow {
        token_hash: secret::sha256_hex(&token),
        kind: kind.to_owned(),
        user_id: user_id.to_owned(),
        body,
        expires_at: time::unix_now().saturating_add(ttl),
        used_at: None,
        created_at: time::now(),
    };
    jobs::insert_ticket(x, tenant, &row).await?;
    let path = match kind {
        PASSWORD_CHANGE => RESET_PATH,
        ACCOUNT_UNBLOCK => UNBLOCK_PATH,
        _ => VERIFY_PATH,
    };
    Ok(format!(
        "{}{}?ticket={token}#",
        issuer.trim_end_matches('/'),
        path
    ))
}

/// What both ticket requests carry over to the ticket.
fn options(req: &serde_json::Map<String, Value>) -> Value {
    let mut o = serde_json::Map::new();
    for k in [
        "result_url",
        "includeEmailInRedirect",
        "mark_email_as_verified",
        "client_id",
        "organization_id",
    ] {
        if let Some(v) = req.get(k).filter(|v| !v.is_null()) {
            o.insert(k.into(), v.clone());
        }
    }
    Value::Object(o)
}

/// Auth0: `result_url` cannot be given with `client_id` or `organization_id`.
fn exclusive(req: &serde_json::Map<String, Value>) -> Result<(), Error> {
    let has = |k: &str| req.get(k).is_some_and(|v| !v.is_null());
    if has("result_url") && (has("client_id") || has("organization_id")) {
        return Err(Error::bad_body(
            "The result_url parameter cannot be used with client_id or organization_id.",
        ));
    }
    Ok(())
}

async fn check_client(ctx: &Ctx, req: &serde_json::Map<String, Value>) -> Result<(), Error> {
    if let Some(c) = req.get("client_id").and_then(Value::as_str)
        && gatehouse_store::clients::find(ctx.db(), ctx.tenant_id(), c)
            .await?
            .is_none()
    {
        return Err(Error::not_found("inexistent_client", "Client not found"));
    }
    Ok(())
}

async fn post_email_verification(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let user_id = req
        .get("user_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = users::find(db, tenant, user_id)
        .await?
        .ok_or_else(crate::mgmt::users::user_not_found)?;
    if user.email.is_none() {
        return Err(Error::bad_body("The user does not have an email address."));
    }
    exclusive(&req)?;
    check_client(&ctx, &req).await?;
    let ticket = create(
        db,
        tenant,
        &ctx.tenant.issuer,
        EMAIL_VERIFICATION,
        &user.user_id,
        options(&req),
        req.get("ttl_sec").and_then(Value::as_i64),
    )
    .await?;
    Ok(Reply::json(json!({ "ticket": ticket })))
}

async fn post_password_change(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let s = |k: &str| req.get(k).and_then(Value::as_str);
    let user_id = match (s("user_id"), s("email"), s("connection_id")) {
        (Some(id), _, _) => id.to_owned(),
        (None, Some(email), Some(conn)) => {
            let email = email.trim().to_lowercase();
            users::find_key(db, tenant, conn, "email", &email)
                .await?
                .map(|(u, _)| u)
                .ok_or_else(crate::mgmt::users::user_not_found)?
        }
        (None, _, _) => match req.get("identity") {
            Some(i) => {
                let provider = i.get("provider").and_then(Value::as_str).unwrap_or("auth0");
                let id = i.get("user_id").and_then(Value::as_str).unwrap_or_default();
                format!("{provider}|{id}")
            }
            None => {
                return Err(Error::bad_body(
                    "Payload validation error: 'One of user_id, email with connection_id, or identity is required'.",
                ));
            }
        },
    };
    exclusive(&req)?;
    let user = users::find(db, tenant, &user_id)
        .await?
        .ok_or_else(crate::mgmt::users::user_not_found)?;
    let identities = users::identities(db, tenant, &user.user_id).await?;
    if !identities.iter().any(|i| i.provider == "auth0") {
        return Err(Error::bad_body(
            "The user does not have a database identity: its password cannot be changed.",
        ));
    }
    check_client(&ctx, &req).await?;
    let ticket = create(
        db,
        tenant,
        &ctx.tenant.issuer,
        PASSWORD_CHANGE,
        &user.user_id,
        options(&req),
        req.get("ttl_sec").and_then(Value::as_i64),
    )
    .await?;
    Ok(Reply::json(json!({ "ticket": ticket })))
}

// ---- pages --------------------------------------------------------------------------------

#[derive(Deserialize)]
struct TicketQuery {
    #[serde(default)]
    ticket: String,
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{t}</title>\
         <style>body{{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}}\
         main{{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002}}\
         h1{{font-size:1.4rem}}label{{display:block;margin:.8rem 0 .3rem}}input{{width:100%;padding:.5rem;box-sizing:border-box}}\
         button{{margin-top:1rem;padding:.6rem 1.2rem;background:#2d5bd7;color:#fff;border:0;border-radius:4px}}\
         .error{{color:#b00020}}</style></head><body><main><h1>{t}</h1>{body}</main></body></html>",
        t = escape(title)
    );
    let mut r = (status, Html(html)).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    h.insert(
        header::HeaderName::from_static("x-frame-options"),
        header::HeaderValue::from_static("DENY"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"),
    );
    r
}

fn invalid() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "Link not valid",
        "<p class=\"error\">This link has expired or was already used.</p>",
    )
}

fn internal(e: &Error) -> Response {
    if let Error::Internal(inner) = e {
        tracing::error!(error = ?inner, "ticket page");
    }
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "<p class=\"error\">Please try again later.</p>",
    )
}

/// The usable ticket behind `token` (of `kind`), if any.
async fn usable(
    state: &AppState,
    tenant: &str,
    token: &str,
    kind: &str,
) -> Result<Option<TicketRow>, Error> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    Ok(
        jobs::find_ticket(&state.db, tenant, &secret::sha256_hex(token))
            .await?
            .filter(|t| t.kind == kind && t.used_at.is_none() && t.expires_at > time::unix_now()),
    )
}

/// The ticket behind `token_hash` if it is of `kind`, consumed in the caller's transaction
/// (`None`: unknown, another kind, used or expired).
async fn take(
    tx: &gatehouse_store::Tx,
    tenant: &str,
    token_hash: &str,
    kind: &str,
) -> Result<Option<TicketRow>, Error> {
    let Some(ticket) = jobs::find_ticket(tx, tenant, token_hash).await? else {
        return Ok(None);
    };
    if ticket.kind != kind
        || !jobs::consume_ticket(tx, tenant, token_hash, time::unix_now(), &time::now()).await?
    {
        return Ok(None);
    }
    Ok(Some(ticket))
}

fn tenant_of(state: &AppState, headers: &HeaderMap) -> std::sync::Arc<crate::state::Tenant> {
    state.tenant_for_host(headers.get(header::HOST).and_then(|h| h.to_str().ok()))
}

fn form(action: &str, token: &str, fields: &str, button: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"ticket\" value=\"{}\">{fields}\
         <button type=\"submit\">{}</button></form>",
        escape(token),
        escape(button)
    )
}

/// Where the browser goes after the ticket was used: `result_url` with Auth0's parameters.
fn after(ticket: &TicketRow, email: Option<&str>, message: &str) -> Option<Response> {
    let url = ticket.body.get("result_url").and_then(Value::as_str)?;
    let mut u = url::Url::parse(url).ok()?;
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("success", "true")
            .append_pair("message", message);
        if ticket
            .body
            .get("includeEmailInRedirect")
            .and_then(Value::as_bool)
            == Some(true)
            && let Some(e) = email
        {
            q.append_pair("email", e);
        }
    }
    Some(Redirect::to(u.as_str()).into_response())
}

async fn show_verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TicketQuery>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    match usable(&state, &tenant.id, &q.ticket, EMAIL_VERIFICATION).await {
        Ok(Some(_)) => page(
            StatusCode::OK,
            "Verify your email",
            &form(
                VERIFY_PATH,
                &q.ticket,
                "<p>Confirm that this email address is yours.</p>",
                "Verify my email",
            ),
        ),
        Ok(None) => invalid(),
        Err(e) => internal(&e),
    }
}

async fn do_verify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<TicketQuery>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    let tenant = tenant.id.as_str();
    let db = &state.db;
    let token_hash = secret::sha256_hex(&f.ticket);
    let result = atomically(|| {
        let token_hash = token_hash.clone();
        async move {
            let tx = db.begin().await?;
            let Some(ticket) = take(&tx, tenant, &token_hash, EMAIL_VERIFICATION).await? else {
                return Ok(None);
            };
            let Some(mut user) = users::find_for_update(&tx, tenant, &ticket.user_id).await? else {
                return Ok(None);
            };
            let newly = !user.email_verified;
            user.email_verified = true;
            user.updated_at = time::now();
            users::update_user(&tx, tenant, &user).await?;
            if newly {
                welcome(&tx, tenant, &user).await?;
            }
            tx.commit().await?;
            Ok::<_, Error>(Some((ticket, user.email.clone(), newly)))
        }
    })
    .await;
    match result {
        Ok(Some((ticket, email, newly))) => {
            if newly {
                state.worker.wake(crate::email::KIND);
            }
            let message = "Your email was verified. You can continue using the application.";
            after(&ticket, email.as_deref(), message).unwrap_or_else(|| {
                page(
                    StatusCode::OK,
                    "Email verified",
                    &format!("<p>{}</p>", escape(message)),
                )
            })
        }
        Ok(None) => invalid(),
        Err(e) => internal(&e),
    }
}

/// The `blocked_account` e-mail of a user whom brute-force protection just blocked for `ip`
/// (its `user_notification` shield), with a link that lifts the block; queued in the caller's
/// transaction. Nothing when the user has no e-mail or the tenant switched the template off.
pub async fn notify_blocked(
    tx: &gatehouse_store::Tx,
    tenant: &str,
    issuer: &str,
    user: &users::UserRow,
    ip: &str,
) -> Result<bool, Error> {
    let Some(email) = user.email.as_deref() else {
        return Ok(false);
    };
    let template = crate::email::template(tx, tenant, "blocked_account").await?;
    if crate::email::disabled(template.as_ref()) {
        return Ok(false);
    }
    let url = create(
        tx,
        tenant,
        issuer,
        ACCOUNT_UNBLOCK,
        &user.user_id,
        json!({}),
        None,
    )
    .await?;
    let mut user_vars = crate::email::user_vars(user);
    if let Value::Object(m) = &mut user_vars {
        m.insert("source_ip".into(), json!(ip));
    }
    let vars = crate::email::variables(tx, tenant, json!({"user": user_vars, "url": url})).await?;
    match crate::email::render("blocked_account", template.as_ref(), email, &vars)? {
        Some(msg) => {
            crate::email::enqueue(tx, tenant, &msg).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

async fn show_unblock(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TicketQuery>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    match usable(&state, &tenant.id, &q.ticket, ACCOUNT_UNBLOCK).await {
        Ok(Some(_)) => page(
            StatusCode::OK,
            "Unblock your account",
            &form(
                UNBLOCK_PATH,
                &q.ticket,
                "<p>Your account was blocked after too many failed login attempts.</p>",
                "Unblock my account",
            ),
        ),
        Ok(None) => invalid(),
        Err(e) => internal(&e),
    }
}

async fn do_unblock(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<TicketQuery>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    let tenant = tenant.id.as_str();
    let db = &state.db;
    let token_hash = secret::sha256_hex(&f.ticket);
    let result = atomically(|| {
        let token_hash = token_hash.clone();
        async move {
            let tx = db.begin().await?;
            let Some(ticket) = take(&tx, tenant, &token_hash, ACCOUNT_UNBLOCK).await? else {
                return Ok(false);
            };
            gatehouse_store::grants::unblock(&tx, tenant, &ticket.user_id).await?;
            tx.commit().await?;
            Ok::<_, Error>(true)
        }
    })
    .await;
    match result {
        Ok(true) => page(
            StatusCode::OK,
            "Account unblocked",
            "<p>Your account was unblocked. You can log in again.</p>",
        ),
        Ok(false) => invalid(),
        Err(e) => internal(&e),
    }
}

/// The welcome e-mail, when the tenant customised and enabled its `welcome_email` template.
async fn welcome(x: &impl Exec, tenant: &str, user: &users::UserRow) -> Result<(), Error> {
    let template = crate::email::template(x, tenant, "welcome_email").await?;
    let enabled = template
        .as_ref()
        .and_then(|t| t.get("enabled"))
        .and_then(Value::as_bool)
        == Some(true);
    let Some(email) = user.email.as_deref().filter(|_| enabled) else {
        return Ok(());
    };
    let vars =
        crate::email::variables(x, tenant, json!({"user": crate::email::user_vars(user)})).await?;
    if let Some(msg) = crate::email::render("welcome_email", template.as_ref(), email, &vars)? {
        crate::email::enqueue(x, tenant, &msg).await?;
    }
    Ok(())
}

async fn show_reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TicketQuery>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    match usable(&state, &tenant.id, &q.ticket, PASSWORD_CHANGE).await {
        Ok(Some(_)) => reset_page(&state, &tenant, StatusCode::OK, &q.ticket, None).await,
        Ok(None) => invalid(),
        Err(e) => internal(&e),
    }
}

/// The reset form, rendered with the hosted pages' template and the tenant's branding.
async fn reset_page(
    state: &AppState,
    tenant: &crate::state::Tenant,
    status: StatusCode,
    ticket: &str,
    error: Option<&str>,
) -> Response {
    #[derive(askama::Template)]
    #[template(path = "reset_verify.html")]
    struct ResetVerify<'a> {
        brand: &'a crate::pages::Brand,
        ticket: &'a str,
        error: Option<&'a str>,
    }
    let brand = crate::pages::brand(state, tenant).await;
    crate::pages::html(
        status,
        &ResetVerify {
            brand: &brand,
            ticket,
            error,
        },
        None,
    )
}

async fn do_reset(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<ResetForm>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    let tenant = tenant.id.as_str();
    let db = &state.db;
    let ticket = match usable(&state, tenant, &f.ticket, PASSWORD_CHANGE).await {
        Ok(Some(t)) => t,
        Ok(None) => return invalid(),
        Err(e) => return internal(&e),
    };
    let tenant_arc = tenant_of(&state, &headers);
    let retry = async |msg: &str| {
        reset_page(
            &state,
            &tenant_arc,
            StatusCode::BAD_REQUEST,
            &f.ticket,
            Some(msg),
        )
        .await
    };
    if f.password != f.confirm {
        return retry("The passwords do not match.").await;
    }
    // The connection's password policy, as for a password set through the API.
    let user = match users::find(db, tenant, &ticket.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => return invalid(),
        Err(e) => return internal(&e.into()),
    };
    let identities = match users::identities(db, tenant, &user.user_id).await {
        Ok(i) => i,
        Err(e) => return internal(&e.into()),
    };
    let Some(identity) = identities.into_iter().find(|i| i.provider == "auth0") else {
        return invalid();
    };
    let policy = match connections::find(db, tenant, &identity.connection_id).await {
        Ok(Some(c)) => Policy::from_options(c.options()),
        Ok(None) => Policy::from_options(&Value::Null),
        Err(e) => return internal(&e.into()),
    };
    if let Err(e) = crate::mgmt::users::check_password(&policy, &f.password, &user) {
        return retry(&e.to_string()).await;
    }
    let history_size = policy.history_size;
    if history_size > 0 {
        let recent: Vec<String> = identity
            .password_hash
            .iter()
            .cloned()
            .chain(identity.password_history.iter().take(history_size).cloned())
            .collect();
        match crate::mgmt::users::matches_any(&f.password, recent).await {
            Ok(true) => {
                return retry("This password has been used recently. Choose another one.").await;
            }
            Ok(false) => {}
            Err(e) => return internal(&e),
        }
    }
    let pw = SecretString::from(f.password.clone());
    let new_hash =
        match tokio::task::spawn_blocking(move || gatehouse_core::password::hash(&pw)).await {
            Ok(Ok(h)) => h,
            Ok(Err(e)) => return internal(&Error::Internal(e)),
            Err(e) => return internal(&Error::Internal(e.into())),
        };
    let token_hash = secret::sha256_hex(&f.ticket);
    let mark = ticket
        .body
        .get("mark_email_as_verified")
        .and_then(Value::as_bool)
        == Some(true);
    let user_id = ticket.user_id.as_str();
    let result = atomically(|| {
        let (token_hash, new_hash, identity) =
            (token_hash.clone(), new_hash.clone(), identity.clone());
        async move {
            let tx = db.begin().await?;
            if !jobs::consume_ticket(&tx, tenant, &token_hash, time::unix_now(), &time::now())
                .await?
            {
                return Ok(None);
            }
            let Some(mut user) = users::find_for_update(&tx, tenant, user_id).await? else {
                return Ok(None);
            };
            let current = users::identities(&tx, tenant, &user.user_id)
                .await?
                .into_iter()
                .find(|i| {
                    i.connection_id == identity.connection_id
                        && i.identity_user_id == identity.identity_user_id
                });
            let Some(current) = current else {
                return Ok(None);
            };
            let mut history = current.password_history.clone();
            if history_size > 0 {
                if let Some(old) = &current.password_hash {
                    history.insert(0, old.clone());
                }
                history.truncate(history_size);
            } else {
                history.clear();
            }
            users::set_password(&tx, tenant, &current, &new_hash, &history).await?;
            user.updated_at = time::now();
            if mark {
                user.email_verified = true;
            }
            users::update_user(&tx, tenant, &user).await?;
            tx.commit().await?;
            Ok::<_, Error>(Some(user.email.clone()))
        }
    })
    .await;
    match result {
        Ok(Some(email)) => {
            let message = "Your password has been changed successfully.";
            after(&ticket, email.as_deref(), message).unwrap_or_else(|| {
                page(
                    StatusCode::OK,
                    "Password changed",
                    &format!("<p>{}</p>", escape(message)),
                )
            })
        }
        Ok(None) => invalid(),
        Err(e) => internal(&e),
    }
}
