//! The second factor in the hosted login (Universal Login's `mfa-*` prompts), and the
//! enrollment-ticket page.
//!
//! **At login.** After a correct password (`pages::login::after_password`), when
//! `crate::mfa::required` says the tenant's policy asks for a second factor, the login
//! transaction records the user as *pending* (`mfa.user_id`; no session yet) and the browser
//! goes to:
//! - a challenge of a factor the user has confirmed (an enabled one): a TOTP code
//!   (`/u/mfa-otp-challenge`), a code e-mailed through the tenant's provider
//!   (`/u/mfa-email-challenge`), or the recovery code (`/u/mfa-recovery-code-challenge`, which
//!   shows the new code that replaces the used one);
//! - or, when the user has none, the TOTP enrollment (`/u/mfa-otp-enrollment`: the QR code
//!   rendered here as SVG with the `qrcode` crate, and the secret in text); after the user's
//!   first enrollment, when the `recovery-code` factor is enabled, the recovery code is shown
//!   once (`/u/mfa-recovery-code-enrollment`).
//!
//! Only then is the session created (or the user's session renewed) with `pwd` and `mfa`
//! among its `authentication.methods`, and the code issued: the code's `amr` carries `mfa`, and
//! a later `/authorize` finds a session that passed MFA (SSO), unless `prompt=login` or
//! `max_age` asks for a new login. Every form carries the transaction's CSRF token; codes are
//! checked by the MFA core (`crate::mfa`: constant-time, a used TOTP step refused, lockout
//! after repeated failures); wrong codes show Auth0's prompt texts.
//!
//! **Enrollment tickets** (`POST /api/v2/guardian/enrollments/ticket`): `GET /guardian/enroll?
//! ticket=…` lets the ticket's user enroll TOTP without logging in; the ticket (single use,
//! expiring) is consumed in the transaction that confirms the enrollment. The page's state (the
//! pending authenticator, the form's CSRF token hash) is a `docs` row keyed by the ticket's hash.

use std::sync::Arc;

use askama::Template;
use axum::{
    Form, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse as _, Redirect, Response},
    routing::get,
};
use serde::Deserialize;
use serde_json::{Value, json};

use gatehouse_core::{Error, password::secrets_equal, secret, time};
use gatehouse_store::{docs, jobs, mfa as store, mfa::AuthenticatorRow, users, users::UserRow};

use super::{Brand, Tx, login::StateQuery};
use crate::{
    authn::{
        authorize::{device_of, tenant_of},
        session::Device,
    },
    mfa::{self, Verdict},
    state::{AppState, Tenant},
};

pub const OTP_CHALLENGE: &str = "/u/mfa-otp-challenge";
pub const EMAIL_CHALLENGE: &str = "/u/mfa-email-challenge";
pub const RECOVERY_CHALLENGE: &str = "/u/mfa-recovery-code-challenge";
pub const OTP_ENROLLMENT: &str = "/u/mfa-otp-enrollment";
pub const RECOVERY_ENROLLMENT: &str = "/u/mfa-recovery-code-enrollment";
pub const WEBAUTHN_CHALLENGE: &str = "/u/mfa-webauthn-challenge";
pub const WEBAUTHN_ENROLLMENT: &str = "/u/mfa-webauthn-enrollment";
/// The enrollment-ticket page (the path the tickets of `POST /guardian/enrollments/ticket`
/// point to).
pub const ENROLL_PATH: &str = crate::mgmt::guardian::ENROLL_PATH;
/// The tickets' kind in the `tickets` table.
pub const TICKET_KIND: &str = crate::mgmt::guardian::GUARDIAN_ENROLLMENT;
/// The enrollment-ticket page's state (`docs` kind, id = the ticket's hash).
const ENROLL_STATE_KIND: &str = "guardian_enrollment_state";

// Auth0's prompt texts (mfa-otp, mfa-email, mfa-recovery-code).
const VERIFY_TITLE: &str = "Verify Your Identity";
const SECURE_TITLE: &str = "Secure Your Account";
const INVALID_CODE: &str = "The code you entered is invalid";
const BAD_FORMAT: &str = "OTP Code must have 6 numeric characters";
const TOO_MANY: &str = "Too many failed codes. Wait for some minutes before retrying.";
const EXPIRED_CODE: &str = "Invalid or expired user code";
const EMAIL_FAILED: &str = "We couldn't send the email. Please try again later.";
const TOO_MANY_EMAILS: &str =
    "You have exceeded the amount of emails. Wait a few minutes and try again.";
const ALREADY_ENROLLED: &str = "You are already enrolled on MFA.";
const RECOVERY_DESCRIPTION: &str = "Copy this recovery code and keep it somewhere safe. You\u{2019}ll need it if you ever need to log in without your device.";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(OTP_CHALLENGE, get(otp_challenge).post(otp_challenge_submit))
        .route(
            EMAIL_CHALLENGE,
            get(email_challenge).post(email_challenge_submit),
        )
        .route(
            RECOVERY_CHALLENGE,
            get(recovery_challenge).post(recovery_challenge_submit),
        )
        .route(
            OTP_ENROLLMENT,
            get(otp_enrollment).post(otp_enrollment_submit),
        )
        .route(
            RECOVERY_ENROLLMENT,
            get(recovery_enrollment).post(recovery_enrollment_submit),
        )
        .route(
            WEBAUTHN_CHALLENGE,
            get(webauthn_challenge).post(webauthn_challenge_submit),
        )
        .route(
            WEBAUTHN_ENROLLMENT,
            get(webauthn_enrollment).post(webauthn_enrollment_submit),
        )
        .route(ENROLL_PATH, get(ticket_show).post(ticket_submit))
}

// ---- the page ------------------------------------------------------------------------------

/// The one-code input of a page.
pub struct CodeInput<'a> {
    pub label: &'a str,
    pub placeholder: &'a str,
    pub numeric: bool,
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage<'a> {
    brand: &'a Brand,
    title: &'a str,
    description: &'a str,
    error: Option<&'a str>,
    action: &'a str,
    hidden: Vec<(&'a str, &'a str)>,
    input: Option<CodeInput<'a>>,
    /// The enrollment's QR code (SVG markup made here, never from input).
    qr: Option<String>,
    /// The TOTP secret in text (base32), for manual entry.
    secret: Option<String>,
    /// A recovery code shown once.
    code: Option<String>,
    checkbox: Option<&'a str>,
    button: &'a str,
    /// A secondary button in the same form (`action` = its value).
    other: Option<(&'a str, &'a str)>,
    links: Vec<(String, &'a str)>,
    /// WebAuthn: `create` or `get`, and the options (JSON) for `navigator.credentials`.
    webauthn: Option<(&'a str, String)>,
    /// The inline script (WebAuthn only), allowed by its CSP hash.
    script: Option<&'a str>,
}

impl<'a> MfaPage<'a> {
    fn new(brand: &'a Brand, title: &'a str, description: &'a str, action: &'a str) -> Self {
        Self {
            brand,
            title,
            description,
            error: None,
            action,
            hidden: Vec::new(),
            input: None,
            qr: None,
            secret: None,
            code: None,
            checkbox: None,
            button: "Continue",
            other: None,
            links: Vec::new(),
            webauthn: None,
            script: None,
        }
    }
}

fn otp_input() -> CodeInput<'static> {
    CodeInput {
        label: "Enter your one-time code",
        placeholder: "Enter your one-time code",
        numeric: true,
    }
}

fn found(path: &str) -> Response {
    let mut r = Redirect::to(path).into_response();
    *r.status_mut() = StatusCode::FOUND;
    r
}

/// A TOTP / e-mail code's shape: 6 digits (spaces ignored).
fn six_digits(code: &str) -> Option<String> {
    let c: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    (c.len() == 6 && c.chars().all(|d| d.is_ascii_digit())).then_some(c)
}

/// The QR code of `uri` as SVG markup.
pub fn qr_svg(uri: &str) -> Result<String, Error> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| Error::Internal(anyhow::anyhow!("qr code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // Inline in the page: the XML declaration goes.
    Ok(svg
        .find("<svg")
        .map_or(svg.clone(), |i| svg[i..].to_owned()))
}

/// The user's confirmed authenticators of enabled factors.
async fn usable(
    state: &AppState,
    tenant: &str,
    user_id: &str,
) -> Result<Vec<AuthenticatorRow>, Error> {
    let enabled = mfa::enabled_factors(&state.db, tenant).await?;
    Ok(store::list_for_user(&state.db, tenant, user_id)
        .await?
        .into_iter()
        .filter(|a| a.confirmed && enabled.iter().any(|f| f == mfa::factor_of(&a.kind)))
        .collect())
}

fn of_kind<'a>(all: &'a [AuthenticatorRow], kind: &str) -> Option<&'a AuthenticatorRow> {
    all.iter().find(|a| a.kind == kind)
}

/// The account name an authenticator app shows.
fn account_of(u: &UserRow) -> String {
    u.email
        .clone()
        .or_else(|| u.username.clone())
        .unwrap_or_else(|| u.user_id.clone())
}

/// A new unconfirmed TOTP authenticator for `user_id` (replacing an unconfirmed one); returns
/// its id and secret.
async fn new_totp(
    state: &AppState,
    tenant: &str,
    user_id: &str,
) -> Result<(String, Vec<u8>), Error> {
    mfa::enroll_totp(state, tenant, user_id, None).await
}

/// The secret of an unconfirmed TOTP authenticator of `user_id` (an enrollment in progress).
async fn pending_totp(
    state: &AppState,
    tenant: &str,
    user_id: &str,
    id: &str,
) -> Result<Option<Vec<u8>>, Error> {
    let Some(a) = store::find(&state.db, tenant, id).await? else {
        return Ok(None);
    };
    if a.confirmed || a.user_id != user_id || a.kind != "totp" {
        return Ok(None);
    }
    match a.secret {
        Some(s) => Ok(Some(mfa::open(state, tenant, &s).await?)),
        None => Ok(None),
    }
}

/// Marks an enrollment confirmed (the row locked). False when it is gone.
async fn confirm(state: &AppState, tenant: &str, id: &str) -> Result<bool, Error> {
    let db = &state.db;
    gatehouse_store::atomically(|| async move {
        let x = db.begin().await?;
        let Some(mut a) = store::find_for_update(&x, tenant, id).await? else {
            return Ok(false);
        };
        if !a.confirmed {
            a.confirmed = true;
            let now = time::now();
            a.enrolled_at = Some(now.clone());
            a.last_auth_at = Some(now);
            store::update(&x, tenant, &a).await?;
        }
        x.commit().await?;
        Ok::<_, Error>(true)
    })
    .await
}

/// A recovery code for a user's first enrollment, when the factor is enabled and the user has
/// none yet (shown once).
async fn first_recovery_code(
    state: &AppState,
    tenant: &str,
    user_id: &str,
) -> Result<Option<String>, Error> {
    let enabled = mfa::enabled_factors(&state.db, tenant).await?;
    if !enabled.iter().any(|f| f == "recovery-code") {
        return Ok(None);
    }
    let has = store::list_for_user(&state.db, tenant, user_id)
        .await?
        .iter()
        .any(|a| a.kind == "recovery-code" && a.confirmed);
    if has {
        return Ok(None);
    }
    let db = &state.db;
    let code = gatehouse_store::atomically(|| async move {
        let x = db.begin().await?;
        let code = mfa::new_recovery_code(state, &x, tenant, user_id).await?;
        x.commit().await?;
        Ok::<_, Error>(code)
    })
    .await?;
    Ok(Some(code))
}

fn verdict_error(v: &Verdict) -> Option<(StatusCode, &'static str)> {
    match v {
        Verdict::Ok => None,
        Verdict::Locked => Some((StatusCode::TOO_MANY_REQUESTS, TOO_MANY)),
        Verdict::Expired => Some((StatusCode::BAD_REQUEST, EXPIRED_CODE)),
        Verdict::Wrong | Verdict::Replayed => Some((StatusCode::BAD_REQUEST, INVALID_CODE)),
    }
}

// ---- the login transaction's MFA step ------------------------------------------------------

/// Starts the second factor for `user` (who just passed the password): the transaction records
/// them as pending and the browser goes to a challenge, or to the enrollment.
pub async fn start(
    state: &AppState,
    tenant: &Arc<Tenant>,
    tx: &Tx,
    user: &UserRow,
) -> Result<Response, Error> {
    super::set_mfa(state, tenant, tx, &json!({"user_id": user.user_id})).await?;
    let have = usable(state, &tenant.id, &user.user_id).await?;
    let enabled = mfa::enabled_factors(&state.db, &tenant.id).await?;
    let path = if of_kind(&have, "totp").is_some() {
        OTP_CHALLENGE
    } else if has_webauthn(&have) {
        WEBAUTHN_CHALLENGE
    } else if of_kind(&have, "email").is_some() {
        EMAIL_CHALLENGE
    } else if of_kind(&have, "recovery-code").is_some() {
        RECOVERY_CHALLENGE
    } else if enabled.iter().any(|f| f == "otp") {
        OTP_ENROLLMENT
    } else if enabled.iter().any(|f| f == ROAMING) {
        WEBAUTHN_ENROLLMENT
    } else if enabled.iter().any(|f| f == PLATFORM) {
        return Ok(found(&format!(
            "{WEBAUTHN_ENROLLMENT}?state={}&kind=platform",
            tx.id
        )));
    } else {
        return Ok(super::error_page(
            state,
            tenant,
            StatusCode::FORBIDDEN,
            "access_denied",
            "Multi-factor authentication is required, but no factor you can use or enroll here is enabled. Please contact the administrator.",
        )
        .await);
    };
    Ok(found(&format!("{path}?state={}", tx.id)))
}

/// A pending MFA step: the transaction and its user, or the page to show instead.
struct Step {
    tx: Tx,
    user: UserRow,
    brand: Brand,
}

async fn step(
    state: &AppState,
    tenant: &Tenant,
    headers: &HeaderMap,
    id: &str,
    csrf: Option<&str>,
) -> Result<Result<Step, Response>, Error> {
    let Some(tx) = super::load(state, tenant, headers, id).await? else {
        return Ok(Err(super::expired(state, tenant).await));
    };
    if let Some(c) = csrf
        && !super::csrf_ok(&tx, c)
    {
        return Ok(Err(super::error_page(
            state,
            tenant,
            StatusCode::FORBIDDEN,
            "invalid_request",
            "Invalid CSRF token. Please go back to the application and try again.",
        )
        .await));
    }
    let Some(uid) = tx.mfa.get("user_id").and_then(Value::as_str) else {
        return Ok(Err(super::expired(state, tenant).await));
    };
    let Some(user) = users::find(&state.db, &tenant.id, uid).await? else {
        return Ok(Err(super::expired(state, tenant).await));
    };
    if user.blocked {
        return Ok(Err(super::error_page(
            state,
            tenant,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "user is blocked",
        )
        .await));
    }
    let brand = super::brand(state, tenant).await;
    Ok(Ok(Step { tx, user, brand }))
}

/// Renders a page of the login transaction (a fresh CSRF token, the state).
async fn show(
    state: &AppState,
    tenant: &Tenant,
    s: &Step,
    status: StatusCode,
    mut page: MfaPage<'_>,
) -> Result<Response, Error> {
    let csrf = super::csrf_for(state, tenant, &s.tx).await?;
    let action = format!("{}?state={}", page.action, s.tx.id);
    page.action = &action;
    page.hidden.push(("state", &s.tx.id));
    page.hidden.push(("csrf", &csrf));
    let hash = page.script.map(super::script_hash);
    Ok(super::html_with_script(
        status,
        &page,
        super::origin(&s.tx.params.callback).as_deref(),
        hash.as_deref(),
    ))
}

/// "Try another method" links: the other challenges this user has.
async fn other_methods(
    state: &AppState,
    tenant: &str,
    s: &Step,
    here: &str,
) -> Result<Vec<(String, &'static str)>, Error> {
    let have = usable(state, tenant, &s.user.user_id).await?;
    let mut links = Vec::new();
    if here != WEBAUTHN_CHALLENGE && has_webauthn(&have) {
        links.push((
            format!("{WEBAUTHN_CHALLENGE}?state={}", s.tx.id),
            "Use your security key",
        ));
    }
    for (kind, path, text) in [
        ("totp", OTP_CHALLENGE, "Use your authenticator app"),
        ("email", EMAIL_CHALLENGE, "Email me a code"),
        ("recovery-code", RECOVERY_CHALLENGE, "Use a recovery code"),
    ] {
        if path != here && of_kind(&have, kind).is_some() {
            links.push((format!("{path}?state={}", s.tx.id), text));
        }
    }
    Ok(links)
}

/// The second factor is done: the session and the code.
async fn passed(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    device: &Device<'_>,
    s: &Step,
) -> Result<Response, Error> {
    super::login::logged_in(
        state,
        tenant,
        headers,
        device,
        &s.tx,
        &s.user,
        &["pwd", "mfa"],
    )
    .await
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    action: String,
    /// WebAuthn: the credential (JSON) the page's script put there.
    #[serde(default)]
    credential: String,
}

/// The handlers' common frame: the tenant, the device, errors as the error page.
macro_rules! page_handler {
    ($name:ident, $inner:ident) => {
        async fn $name(
            State(state): State<AppState>,
            headers: HeaderMap,
            Query(q): Query<StateQuery>,
        ) -> Response {
            let tenant = tenant_of(&state, &headers);
            match $inner(&state, &tenant, &headers, &q.state).await {
                Ok(r) => r,
                Err(e) => super::internal(&state, &tenant, &e).await,
            }
        }
    };
}

macro_rules! form_handler {
    ($name:ident, $inner:ident) => {
        async fn $name(
            State(state): State<AppState>,
            headers: HeaderMap,
            ext: http::Extensions,
            Query(q): Query<StateQuery>,
            Form(f): Form<CodeForm>,
        ) -> Response {
            let tenant = tenant_of(&state, &headers);
            let mut ip = String::new();
            let device = device_of(
                &headers,
                ext.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>(),
                &mut ip,
            );
            let id = if f.state.is_empty() {
                q.state.clone()
            } else {
                f.state.clone()
            };
            match $inner(&state, &tenant, &headers, &device, &id, &f).await {
                Ok(r) => r,
                Err(e) => super::internal(&state, &tenant, &e).await,
            }
        }
    };
}

// ---- TOTP challenge ------------------------------------------------------------------------

page_handler!(otp_challenge, otp_challenge_page);
form_handler!(otp_challenge_submit, otp_challenge_post);

async fn otp_challenge_render(
    state: &AppState,
    tenant: &Tenant,
    s: &Step,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, Error> {
    let links = other_methods(state, &tenant.id, s, OTP_CHALLENGE).await?;
    let mut page = MfaPage::new(
        &s.brand,
        VERIFY_TITLE,
        "Check your preferred one-time password application for a code.",
        OTP_CHALLENGE,
    );
    page.error = error;
    page.input = Some(otp_input());
    page.links = links;
    show(state, tenant, s, status, page).await
}

async fn otp_challenge_page(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    id: &str,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, None).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    otp_challenge_render(state, tenant, &s, StatusCode::OK, None).await
}

async fn otp_challenge_post(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    device: &Device<'_>,
    id: &str,
    f: &CodeForm,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, Some(&f.csrf)).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    let have = usable(state, &tenant.id, &s.user.user_id).await?;
    let Some(a) = of_kind(&have, "totp") else {
        return Ok(super::expired(state, tenant).await);
    };
    let Some(code) = six_digits(&f.code) else {
        return otp_challenge_render(state, tenant, &s, StatusCode::BAD_REQUEST, Some(BAD_FORMAT))
            .await;
    };
    let v = mfa::verify_totp(state, &tenant.id, &a.id, &code).await?;
    if let Some((status, msg)) = verdict_error(&v) {
        return otp_challenge_render(state, tenant, &s, status, Some(msg)).await;
    }
    passed(state, tenant, headers, device, &s).await
}

// ---- e-mail challenge ----------------------------------------------------------------------

page_handler!(email_challenge, email_challenge_page);
form_handler!(email_challenge_submit, email_challenge_post);

/// Sends a new code to the user's e-mail authenticator; the handle goes in the transaction.
/// None when sent, else the message to show (too many codes in flight, or not sent).
async fn send_email(
    state: &AppState,
    tenant: &Tenant,
    s: &Step,
    authenticator_id: &str,
) -> Result<Option<&'static str>, Error> {
    match mfa::send_email_otp(state, &tenant.id, authenticator_id, None).await {
        Ok(handle) => {
            let mut m = s.tx.mfa.clone();
            m["email_handle"] = Value::String(handle);
            super::set_mfa(state, tenant, &s.tx, &m).await?;
            Ok(None)
        }
        Err(Error::TooManyRequests(..)) => Ok(Some(TOO_MANY_EMAILS)),
        Err(e) => {
            tracing::warn!(error = %e, "mfa e-mail code not sent");
            Ok(Some(EMAIL_FAILED))
        }
    }
}

fn email_status(err: Option<&str>) -> StatusCode {
    match err {
        None => StatusCode::OK,
        Some(TOO_MANY_EMAILS) => StatusCode::TOO_MANY_REQUESTS,
        Some(_) => StatusCode::BAD_GATEWAY,
    }
}

async fn email_challenge_render(
    state: &AppState,
    tenant: &Tenant,
    s: &Step,
    status: StatusCode,
    error: Option<&str>,
    to: &str,
) -> Result<Response, Error> {
    let links = other_methods(state, &tenant.id, s, EMAIL_CHALLENGE).await?;
    let description = format!("We've sent an email with your code to {to}");
    let mut page = MfaPage::new(&s.brand, VERIFY_TITLE, &description, EMAIL_CHALLENGE);
    page.error = error;
    page.input = Some(CodeInput {
        label: "Enter the code",
        placeholder: "Enter the code",
        numeric: true,
    });
    page.other = Some(("resend", "Resend"));
    page.links = links;
    show(state, tenant, s, status, page).await
}

fn email_of(a: &AuthenticatorRow, u: &UserRow) -> String {
    a.data
        .get("email")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| u.email.clone())
        .unwrap_or_default()
}

async fn email_challenge_page(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    id: &str,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, None).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    let have = usable(state, &tenant.id, &s.user.user_id).await?;
    let Some(a) = of_kind(&have, "email") else {
        return Ok(super::expired(state, tenant).await);
    };
    let to = email_of(a, &s.user);
    // The code is sent once per visit of the page without one pending.
    if s.tx.mfa.get("email_handle").is_none()
        && let Some(msg) = send_email(state, tenant, &s, &a.id).await?
    {
        return email_challenge_render(state, tenant, &s, email_status(Some(msg)), Some(msg), &to)
            .await;
    }
    email_challenge_render(state, tenant, &s, StatusCode::OK, None, &to).await
}

async fn email_challenge_post(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    device: &Device<'_>,
    id: &str,
    f: &CodeForm,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, Some(&f.csrf)).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    let have = usable(state, &tenant.id, &s.user.user_id).await?;
    let Some(a) = of_kind(&have, "email") else {
        return Ok(super::expired(state, tenant).await);
    };
    let to = email_of(a, &s.user);
    if f.action == "resend" {
        let err = send_email(state, tenant, &s, &a.id).await?;
        let status = email_status(err);
        return email_challenge_render(state, tenant, &s, status, err, &to).await;
    }
    let Some(code) = six_digits(&f.code) else {
        return email_challenge_render(
            state,
            tenant,
            &s,
            StatusCode::BAD_REQUEST,
            Some(BAD_FORMAT),
            &to,
        )
        .await;
    };
    let Some(handle) = s.tx.mfa.get("email_handle").and_then(Value::as_str) else {
        return email_challenge_render(
            state,
            tenant,
            &s,
            StatusCode::BAD_REQUEST,
            Some(EXPIRED_CODE),
            &to,
        )
        .await;
    };
    let v = mfa::verify_email_otp(state, &tenant.id, &s.user.user_id, handle, &code).await?;
    if let Some((status, msg)) = verdict_error(&v) {
        return email_challenge_render(state, tenant, &s, status, Some(msg), &to).await;
    }
    passed(state, tenant, headers, device, &s).await
}

// ---- recovery code challenge ---------------------------------------------------------------

page_handler!(recovery_challenge, recovery_challenge_page);
form_handler!(recovery_challenge_submit, recovery_challenge_post);

async fn recovery_challenge_render(
    state: &AppState,
    tenant: &Tenant,
    s: &Step,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, Error> {
    let links = other_methods(state, &tenant.id, s, RECOVERY_CHALLENGE).await?;
    let mut page = MfaPage::new(
        &s.brand,
        VERIFY_TITLE,
        "Enter the recovery code you were provided during your initial enrollment.",
        RECOVERY_CHALLENGE,
    );
    page.error = error;
    page.input = Some(CodeInput {
        label: "Enter your recovery code",
        placeholder: "Enter your recovery code",
        numeric: false,
    });
    page.links = links;
    show(state, tenant, s, status, page).await
}

async fn recovery_challenge_page(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    id: &str,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, None).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    recovery_challenge_render(state, tenant, &s, StatusCode::OK, None).await
}

async fn recovery_challenge_post(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    _device: &Device<'_>,
    id: &str,
    f: &CodeForm,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, Some(&f.csrf)).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    let code: String = f
        .code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_uppercase();
    if code.is_empty() || code.len() > 64 {
        return recovery_challenge_render(
            state,
            tenant,
            &s,
            StatusCode::BAD_REQUEST,
            Some(INVALID_CODE),
        )
        .await;
    }
    let (v, new_code) =
        mfa::verify_recovery_code(state, &tenant.id, &s.user.user_id, &code).await?;
    if let Some((status, msg)) = verdict_error(&v) {
        return recovery_challenge_render(state, tenant, &s, status, Some(msg)).await;
    }
    // The used code is replaced: the new one is shown once, then the login completes.
    let mut m = s.tx.mfa.clone();
    m["passed"] = Value::Bool(true);
    super::set_mfa(state, tenant, &s.tx, &m).await?;
    recovery_code_page(state, tenant, &s, new_code).await
}

// ---- recovery code (shown once) ------------------------------------------------------------

page_handler!(recovery_enrollment, recovery_enrollment_page);
form_handler!(recovery_enrollment_submit, recovery_enrollment_post);

async fn recovery_code_page(
    state: &AppState,
    tenant: &Tenant,
    s: &Step,
    code: Option<String>,
) -> Result<Response, Error> {
    let mut page = MfaPage::new(
        &s.brand,
        "Almost There!",
        RECOVERY_DESCRIPTION,
        RECOVERY_ENROLLMENT,
    );
    if code.is_some() {
        page.checkbox = Some("I have safely recorded this number");
    }
    page.code = code;
    show(state, tenant, s, StatusCode::OK, page).await
}

/// A reload of the page never shows the code again: it only offers to continue.
async fn recovery_enrollment_page(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    id: &str,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, None).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    if s.tx.mfa.get("passed") != Some(&Value::Bool(true)) {
        return Ok(super::expired(state, tenant).await);
    }
    recovery_code_page(state, tenant, &s, None).await
}

async fn recovery_enrollment_post(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    device: &Device<'_>,
    id: &str,
    f: &CodeForm,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, Some(&f.csrf)).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    if s.tx.mfa.get("passed") != Some(&Value::Bool(true)) {
        return Ok(super::expired(state, tenant).await);
    }
    passed(state, tenant, headers, device, &s).await
}

// ---- TOTP enrollment (login) ---------------------------------------------------------------

page_handler!(otp_enrollment, otp_enrollment_page);
form_handler!(otp_enrollment_submit, otp_enrollment_post);

/// The enrollment in progress (the transaction's), or a new one.
async fn enrollment_secret(
    state: &AppState,
    tenant: &Tenant,
    s: &Step,
) -> Result<(String, Vec<u8>), Error> {
    if let Some(id) = s.tx.mfa.get("pending").and_then(Value::as_str)
        && let Some(secret) = pending_totp(state, &tenant.id, &s.user.user_id, id).await?
    {
        return Ok((id.to_owned(), secret));
    }
    let (id, secret) = new_totp(state, &tenant.id, &s.user.user_id).await?;
    let mut m = s.tx.mfa.clone();
    m["pending"] = Value::String(id.clone());
    super::set_mfa(state, tenant, &s.tx, &m).await?;
    Ok((id, secret))
}

async fn otp_enrollment_render(
    state: &AppState,
    tenant: &Tenant,
    s: &Step,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, Error> {
    let (_, secret) = enrollment_secret(state, tenant, s).await?;
    let uri = mfa::otpauth_uri(&secret, &s.brand.name, &account_of(&s.user));
    let mut page = MfaPage::new(
        &s.brand,
        SECURE_TITLE,
        "Scan the QR Code below using your preferred authenticator app and then enter the provided one-time code below.",
        OTP_ENROLLMENT,
    );
    page.error = error;
    page.qr = Some(qr_svg(&uri)?);
    page.secret = Some(mfa::base32(&secret));
    page.input = Some(otp_input());
    let enabled = mfa::enabled_factors(&state.db, &tenant.id).await?;
    for (factor, kind, text) in [
        (ROAMING, "roaming", "Use a security key instead"),
        (
            PLATFORM,
            "platform",
            "Use this device (fingerprint, face or PIN) instead",
        ),
    ] {
        if enabled.iter().any(|f| f == factor) {
            page.links.push((
                format!("{WEBAUTHN_ENROLLMENT}?state={}&kind={kind}", s.tx.id),
                text,
            ));
        }
    }
    show(state, tenant, s, status, page).await
}

async fn otp_enrollment_page(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    id: &str,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, None).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    // A user who has a factor is challenged, never enrolled without it.
    if !usable(state, &tenant.id, &s.user.user_id).await?.is_empty() {
        return Ok(super::message_page(
            state,
            tenant,
            StatusCode::BAD_REQUEST,
            SECURE_TITLE,
            ALREADY_ENROLLED,
        )
        .await);
    }
    otp_enrollment_render(state, tenant, &s, StatusCode::OK, None).await
}

async fn otp_enrollment_post(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    device: &Device<'_>,
    id: &str,
    f: &CodeForm,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, Some(&f.csrf)).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    if !usable(state, &tenant.id, &s.user.user_id).await?.is_empty() {
        return Ok(super::message_page(
            state,
            tenant,
            StatusCode::BAD_REQUEST,
            SECURE_TITLE,
            ALREADY_ENROLLED,
        )
        .await);
    }
    let Some(pending) = s.tx.mfa.get("pending").and_then(Value::as_str) else {
        return Ok(super::expired(state, tenant).await);
    };
    let Some(code) = six_digits(&f.code) else {
        return otp_enrollment_render(state, tenant, &s, StatusCode::BAD_REQUEST, Some(BAD_FORMAT))
            .await;
    };
    let v = mfa::verify_totp(state, &tenant.id, pending, &code).await?;
    if let Some((status, msg)) = verdict_error(&v) {
        return otp_enrollment_render(state, tenant, &s, status, Some(msg)).await;
    }
    if !confirm(state, &tenant.id, pending).await? {
        return Ok(super::expired(state, tenant).await);
    }
    match first_recovery_code(state, &tenant.id, &s.user.user_id).await? {
        Some(code) => {
            let mut m = s.tx.mfa.clone();
            m["passed"] = Value::Bool(true);
            super::set_mfa(state, tenant, &s.tx, &m).await?;
            recovery_code_page(state, tenant, &s, Some(code)).await
        }
        None => passed(state, tenant, headers, device, &s).await,
    }
}

// ---- WebAuthn (security keys and platform authenticators) -----------------------------------

const ROAMING: &str = "webauthn-roaming";
const PLATFORM: &str = "webauthn-platform";
/// The pages' one script: `navigator.credentials` with the server's options, the answer posted
/// back in the form (allowed by its CSP hash; the pages need no other JavaScript).
const WEBAUTHN_JS: &str = include_str!("webauthn.js");
const KEY_FAILED: &str = "We could not verify your security key. Please try again.";

fn has_webauthn(all: &[AuthenticatorRow]) -> bool {
    all.iter().any(|a| a.kind == ROAMING || a.kind == PLATFORM)
}

/// The relying party: the issuer's host (its id) and origin. None when the issuer's host cannot
/// be one (browsers refuse IP addresses as relying party ids).
fn relying_party(issuer: &str, name: &str) -> Option<webauthn_rs::Webauthn> {
    let u = url::Url::parse(issuer).ok()?;
    let host = u.host_str()?.to_owned();
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    let origin = url::Url::parse(&u.origin().ascii_serialization()).ok()?;
    webauthn_rs::WebauthnBuilder::new(&host, &origin)
        .ok()?
        .rp_name(name)
        .build()
        .ok()
}

/// The WebAuthn user handle: stable per user, no personal data (a digest of the user id).
fn user_handle(user_id: &str) -> webauthn_rs::prelude::Uuid {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(user_id.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    webauthn_rs::prelude::Uuid::from_bytes(b)
}

async fn no_relying_party(state: &AppState, tenant: &Tenant) -> Response {
    super::error_page(
        state,
        tenant,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "Security keys need the login pages to be served under a domain name.",
    )
    .await
}

/// The user's security keys (opened), with their authenticator ids.
async fn security_keys(
    state: &AppState,
    tenant: &str,
    have: &[AuthenticatorRow],
) -> Result<Vec<(String, webauthn_rs::prelude::SecurityKey)>, Error> {
    let mut keys = Vec::new();
    for a in have
        .iter()
        .filter(|a| a.kind == ROAMING || a.kind == PLATFORM)
    {
        let Some(sealed) = &a.secret else { continue };
        let plain = mfa::open(state, tenant, sealed).await?;
        if let Ok(k) = serde_json::from_slice(&plain) {
            keys.push((a.id.clone(), k));
        }
    }
    Ok(keys)
}

#[derive(Deserialize)]
pub struct WebauthnQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    kind: String,
}

async fn webauthn_enrollment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<WebauthnQuery>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    let factor = if q.kind == "platform" {
        PLATFORM
    } else {
        ROAMING
    };
    let r = async {
        let s = match step(&state, &tenant, &headers, &q.state, None).await? {
            Ok(s) => s,
            Err(page) => return Ok(page),
        };
        webauthn_enrollment_render(&state, &tenant, &s, factor, StatusCode::OK, None).await
    }
    .await;
    match r {
        Ok(r) => r,
        Err(e) => super::internal(&state, &tenant, &e).await,
    }
}

async fn webauthn_enrollment_render(
    state: &AppState,
    tenant: &Tenant,
    s: &Step,
    factor: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, Error> {
    if !usable(state, &tenant.id, &s.user.user_id).await?.is_empty() {
        return Ok(super::message_page(
            state,
            tenant,
            StatusCode::BAD_REQUEST,
            SECURE_TITLE,
            ALREADY_ENROLLED,
        )
        .await);
    }
    if !mfa::enabled_factors(&state.db, &tenant.id)
        .await?
        .iter()
        .any(|f| f == factor)
    {
        return Ok(super::expired(state, tenant).await);
    }
    let Some(rp) = relying_party(&tenant.issuer, &s.brand.name) else {
        return Ok(no_relying_party(state, tenant).await);
    };
    let account = account_of(&s.user);
    let attachment = if factor == PLATFORM {
        webauthn_rs::prelude::AuthenticatorAttachment::Platform
    } else {
        webauthn_rs::prelude::AuthenticatorAttachment::CrossPlatform
    };
    let Ok((options, reg)) = rp.start_securitykey_registration(
        user_handle(&s.user.user_id),
        &account,
        &account,
        None,
        None,
        Some(attachment),
    ) else {
        return Ok(no_relying_party(state, tenant).await);
    };
    let mut m = s.tx.mfa.clone();
    m["webauthn"] = json!({"factor": factor, "registration": reg});
    super::set_mfa(state, tenant, &s.tx, &m).await?;
    let mut options = serde_json::to_value(&options).map_err(|e| Error::Internal(e.into()))?;
    // webauthn-rs asks for credProtect `userVerificationRequired` (not enforced) with user
    // verification only `preferred` and no discoverable credential; Chromium refuses that
    // combination outright (NotSupportedError). The request is advisory, so it is left out.
    if let Some(Value::Object(x)) = options.pointer_mut("/publicKey/extensions") {
        x.remove("credentialProtectionPolicy");
        x.remove("enforceCredentialProtectionPolicy");
    }
    let options = options.to_string();
    let mut page = MfaPage::new(
        &s.brand,
        SECURE_TITLE,
        if factor == PLATFORM {
            "Use this device's fingerprint, face or screen lock to secure your account."
        } else {
            "Insert your security key and use it to secure your account."
        },
        WEBAUTHN_ENROLLMENT,
    );
    page.error = error;
    page.webauthn = Some(("create", options));
    page.script = Some(WEBAUTHN_JS);
    page.button = if factor == PLATFORM {
        "Use this device"
    } else {
        "Use security key"
    };
    show(state, tenant, s, status, page).await
}

form_handler!(webauthn_enrollment_submit, webauthn_enrollment_post);

async fn webauthn_enrollment_post(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    device: &Device<'_>,
    id: &str,
    f: &CodeForm,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, Some(&f.csrf)).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    let pending = s.tx.mfa.get("webauthn").cloned().unwrap_or(Value::Null);
    let factor = match pending.get("factor").and_then(Value::as_str) {
        Some(PLATFORM) => PLATFORM,
        Some(ROAMING) => ROAMING,
        _ => return Ok(super::expired(state, tenant).await),
    };
    let reg: Option<webauthn_rs::prelude::SecurityKeyRegistration> = pending
        .get("registration")
        .cloned()
        .and_then(|r| serde_json::from_value(r).ok());
    // The registration is single use, whatever comes of it.
    let mut m = s.tx.mfa.clone();
    if let Value::Object(o) = &mut m {
        o.remove("webauthn");
    }
    super::set_mfa(state, tenant, &s.tx, &m).await?;
    let Some(reg) = reg else {
        return Ok(super::expired(state, tenant).await);
    };
    let Some(rp) = relying_party(&tenant.issuer, &s.brand.name) else {
        return Ok(no_relying_party(state, tenant).await);
    };
    let key =
        serde_json::from_str::<webauthn_rs::prelude::RegisterPublicKeyCredential>(&f.credential)
            .ok()
            .and_then(|c| rp.finish_securitykey_registration(&c, &reg).ok());
    let Some(key) = key else {
        let s = match step(state, tenant, headers, id, None).await? {
            Ok(s) => s,
            Err(page) => return Ok(page),
        };
        return webauthn_enrollment_render(
            state,
            tenant,
            &s,
            factor,
            StatusCode::BAD_REQUEST,
            Some(KEY_FAILED),
        )
        .await;
    };
    let plain = serde_json::to_vec(&key).map_err(|e| Error::Internal(e.into()))?;
    let now = time::now();
    let row = AuthenticatorRow {
        id: mfa::new_authenticator_id(factor),
        user_id: s.user.user_id.clone(),
        kind: factor.to_owned(),
        confirmed: true,
        name: None,
        secret: Some(mfa::seal(state, &tenant.id, &plain).await?),
        data: json!({
            "key_id": key_id(&key),
            "public_key": key_of(&key).as_ref().and_then(public_key),
            "relying_party_identifier": rp_id_of(tenant),
        }),
        created_at: now.clone(),
        enrolled_at: Some(now.clone()),
        last_auth_at: Some(now),
        last_step: None,
        failures: 0,
        locked_until: None,
    };
    store::insert(&state.db, &tenant.id, &row).await?;
    match first_recovery_code(state, &tenant.id, &s.user.user_id).await? {
        Some(code) => {
            let mut m = m;
            m["passed"] = Value::Bool(true);
            super::set_mfa(state, tenant, &s.tx, &m).await?;
            recovery_code_page(state, tenant, &s, Some(code)).await
        }
        None => passed(state, tenant, headers, device, &s).await,
    }
}

/// The credential id as Auth0 shows `key_id`: base64url without padding.
fn key_id(k: &webauthn_rs::prelude::SecurityKey) -> String {
    use base64::Engine as _;
    let id: &[u8] = k.cred_id().as_ref();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// A security key's COSE public key (webauthn-rs shows it only through the credential's
/// serialised form: `cred.cred`).
fn key_of(k: &webauthn_rs::prelude::SecurityKey) -> Option<webauthn_rs::prelude::COSEKey> {
    let v = serde_json::to_value(k).ok()?;
    serde_json::from_value(v.get("cred")?.get("cred")?.clone()).ok()
}

/// The credential's public key as `authentication-methods` shows it (base64): an EC2 key as
/// its uncompressed point (`04 || x || y`), an OKP key as its `x`; None for other key types.
fn public_key(k: &webauthn_rs::prelude::COSEKey) -> Option<String> {
    use base64::Engine as _;
    use webauthn_rs::prelude::COSEKeyType;
    let raw = match &k.key {
        COSEKeyType::EC_EC2(ec) => [&[4u8][..], &ec.x, &ec.y].concat(),
        COSEKeyType::EC_OKP(okp) => okp.x.clone(),
        COSEKeyType::RSA(_) => return None,
    };
    Some(base64::engine::general_purpose::STANDARD.encode(raw))
}

fn rp_id_of(tenant: &Tenant) -> Option<String> {
    url::Url::parse(&tenant.issuer)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
}

page_handler!(webauthn_challenge, webauthn_challenge_page);
form_handler!(webauthn_challenge_submit, webauthn_challenge_post);

async fn webauthn_challenge_render(
    state: &AppState,
    tenant: &Tenant,
    s: &Step,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, Error> {
    let have = usable(state, &tenant.id, &s.user.user_id).await?;
    let keys = security_keys(state, &tenant.id, &have).await?;
    if keys.is_empty() {
        return Ok(super::expired(state, tenant).await);
    }
    let Some(rp) = relying_party(&tenant.issuer, &s.brand.name) else {
        return Ok(no_relying_party(state, tenant).await);
    };
    let only: Vec<_> = keys.into_iter().map(|(_, k)| k).collect();
    let Ok((options, auth)) = rp.start_securitykey_authentication(&only) else {
        return Ok(no_relying_party(state, tenant).await);
    };
    let mut m = s.tx.mfa.clone();
    m["webauthn_auth"] = json!(auth);
    super::set_mfa(state, tenant, &s.tx, &m).await?;
    let options = serde_json::to_string(&options).map_err(|e| Error::Internal(e.into()))?;
    let links = other_methods(state, &tenant.id, s, WEBAUTHN_CHALLENGE).await?;
    let mut page = MfaPage::new(
        &s.brand,
        VERIFY_TITLE,
        "Use your security key, or this device's fingerprint, face or screen lock, to continue.",
        WEBAUTHN_CHALLENGE,
    );
    page.error = error;
    page.webauthn = Some(("get", options));
    page.script = Some(WEBAUTHN_JS);
    page.button = "Use security key";
    page.links = links;
    show(state, tenant, s, status, page).await
}

async fn webauthn_challenge_page(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    id: &str,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, None).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    webauthn_challenge_render(state, tenant, &s, StatusCode::OK, None).await
}

async fn webauthn_challenge_post(
    state: &AppState,
    tenant: &Arc<Tenant>,
    headers: &HeaderMap,
    device: &Device<'_>,
    id: &str,
    f: &CodeForm,
) -> Result<Response, Error> {
    let s = match step(state, tenant, headers, id, Some(&f.csrf)).await? {
        Ok(s) => s,
        Err(page) => return Ok(page),
    };
    let auth: Option<webauthn_rs::prelude::SecurityKeyAuthentication> =
        s.tx.mfa
            .get("webauthn_auth")
            .cloned()
            .and_then(|a| serde_json::from_value(a).ok());
    // The challenge is single use, whatever comes of it.
    let mut m = s.tx.mfa.clone();
    if let Value::Object(o) = &mut m {
        o.remove("webauthn_auth");
    }
    super::set_mfa(state, tenant, &s.tx, &m).await?;
    let Some(auth) = auth else {
        return Ok(super::expired(state, tenant).await);
    };
    let Some(rp) = relying_party(&tenant.issuer, &s.brand.name) else {
        return Ok(no_relying_party(state, tenant).await);
    };
    let result = serde_json::from_str::<webauthn_rs::prelude::PublicKeyCredential>(&f.credential)
        .ok()
        .and_then(|c| rp.finish_securitykey_authentication(&c, &auth).ok());
    let have = usable(state, &tenant.id, &s.user.user_id).await?;
    let keys = security_keys(state, &tenant.id, &have).await?;
    let used = result.as_ref().and_then(|r| {
        keys.into_iter()
            .find(|(_, k)| k.cred_id() == r.cred_id())
            .map(|(id, k)| (id, k, r))
    });
    let Some((aid, mut key, result)) = used else {
        let s = match step(state, tenant, headers, id, None).await? {
            Ok(s) => s,
            Err(page) => return Ok(page),
        };
        return webauthn_challenge_render(
            state,
            tenant,
            &s,
            StatusCode::BAD_REQUEST,
            Some(KEY_FAILED),
        )
        .await;
    };
    // The signature counter moves on (a cloned key shows as a counter going back).
    key.update_credential(result);
    let plain = serde_json::to_vec(&key).map_err(|e| Error::Internal(e.into()))?;
    let sealed = mfa::seal(state, &tenant.id, &plain).await?;
    let db = &state.db;
    let t = tenant.id.as_str();
    let (aid, sealed) = (aid.as_str(), sealed.as_str());
    gatehouse_store::atomically(|| async move {
        let x = db.begin().await?;
        if let Some(mut a) = store::find_for_update(&x, t, aid).await? {
            a.secret = Some(sealed.to_owned());
            a.last_auth_at = Some(time::now());
            store::update(&x, t, &a).await?;
        }
        x.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    passed(state, tenant, headers, device, &s).await
}

// ---- the enrollment-ticket page ------------------------------------------------------------

#[derive(Deserialize)]
pub struct TicketQuery {
    #[serde(default)]
    ticket: String,
}

#[derive(Deserialize)]
pub struct TicketForm {
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

/// A live enrollment ticket: its hash, user and body.
async fn live_ticket(
    state: &AppState,
    tenant: &str,
    ticket: &str,
) -> Result<Option<(String, UserRow, Value)>, Error> {
    if ticket.is_empty() || ticket.len() > 128 {
        return Ok(None);
    }
    let hash = secret::sha256_hex(ticket);
    let Some(t) = jobs::find_ticket(&state.db, tenant, &hash).await? else {
        return Ok(None);
    };
    if t.kind != TICKET_KIND || t.used_at.is_some() || t.expires_at <= time::unix_now() {
        return Ok(None);
    }
    Ok(users::find(&state.db, tenant, &t.user_id)
        .await?
        .map(|u| (hash, u, t.body)))
}

async fn ticket_invalid(state: &AppState, tenant: &Tenant) -> Response {
    super::error_page(
        state,
        tenant,
        StatusCode::BAD_REQUEST,
        "invalid_ticket",
        "This enrollment link is invalid or has expired. Please ask for a new one.",
    )
    .await
}

async fn ticket_show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TicketQuery>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    match ticket_page(&state, &tenant, &q.ticket, StatusCode::OK, None).await {
        Ok(r) => r,
        Err(e) => super::internal(&state, &tenant, &e).await,
    }
}

/// The ticket's TOTP enrollment page: the pending authenticator (kept across reloads) and a
/// fresh CSRF token, both in the ticket's state row.
async fn ticket_page(
    state: &AppState,
    tenant: &Tenant,
    ticket: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, Error> {
    let Some((hash, user, body)) = live_ticket(state, &tenant.id, ticket).await? else {
        return Ok(ticket_invalid(state, tenant).await);
    };
    let t = tenant.id.as_str();
    // Auth0's user-already-enrolled, unless the ticket allows more than one enrollment.
    let multiple = body
        .get("allow_multiple_enrollments")
        .and_then(Value::as_bool)
        == Some(true);
    if !multiple
        && usable(state, t, &user.user_id)
            .await?
            .iter()
            .any(|a| a.kind != "recovery-code")
    {
        return Ok(super::message_page(
            state,
            tenant,
            StatusCode::BAD_REQUEST,
            SECURE_TITLE,
            ALREADY_ENROLLED,
        )
        .await);
    }
    let db = &state.db;
    let body = docs::get(db, t, ENROLL_STATE_KIND, &hash).await?;
    let pending = body
        .as_ref()
        .and_then(|b| b.get("pending"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (id, secret) = match pending {
        Some(id) => match pending_totp(state, t, &user.user_id, &id).await? {
            Some(secret) => (id, secret),
            None => new_totp(state, t, &user.user_id).await?,
        },
        None => new_totp(state, t, &user.user_id).await?,
    };
    let csrf = secret::random_token();
    docs::put(
        db,
        t,
        ENROLL_STATE_KIND,
        &hash,
        &json!({"pending": id, "csrf": secret::sha256_hex(&csrf)}),
        &time::now(),
    )
    .await?;
    let brand = super::brand(state, tenant).await;
    let uri = mfa::otpauth_uri(&secret, &brand.name, &account_of(&user));
    let mut page = MfaPage::new(
        &brand,
        SECURE_TITLE,
        "Scan the QR Code below using your preferred authenticator app and then enter the provided one-time code below.",
        ENROLL_PATH,
    );
    page.error = error;
    page.qr = Some(qr_svg(&uri)?);
    page.secret = Some(mfa::base32(&secret));
    page.input = Some(otp_input());
    page.hidden = vec![("ticket", ticket), ("csrf", &csrf)];
    Ok(super::html(status, &page, None))
}

async fn ticket_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<TicketForm>,
) -> Response {
    let tenant = tenant_of(&state, &headers);
    match ticket_post(&state, &tenant, &f).await {
        Ok(r) => r,
        Err(e) => super::internal(&state, &tenant, &e).await,
    }
}

async fn ticket_post(state: &AppState, tenant: &Tenant, f: &TicketForm) -> Result<Response, Error> {
    let t = tenant.id.as_str();
    let Some((hash, user, _)) = live_ticket(state, t, &f.ticket).await? else {
        return Ok(ticket_invalid(state, tenant).await);
    };
    let body = docs::get(&state.db, t, ENROLL_STATE_KIND, &hash)
        .await?
        .unwrap_or(Value::Null);
    let stored = body.get("csrf").and_then(Value::as_str).unwrap_or("");
    if stored.is_empty() || !secrets_equal(&secret::sha256_hex(&f.csrf), stored) {
        return Ok(super::error_page(
            state,
            tenant,
            StatusCode::FORBIDDEN,
            "invalid_request",
            "Invalid CSRF token. Please open the enrollment link again.",
        )
        .await);
    }
    let Some(pending) = body.get("pending").and_then(Value::as_str) else {
        return Ok(ticket_invalid(state, tenant).await);
    };
    let Some(code) = six_digits(&f.code) else {
        return ticket_page(
            state,
            tenant,
            &f.ticket,
            StatusCode::BAD_REQUEST,
            Some(BAD_FORMAT),
        )
        .await;
    };
    let v = mfa::verify_totp(state, t, pending, &code).await?;
    if let Some((status, msg)) = verdict_error(&v) {
        return ticket_page(state, tenant, &f.ticket, status, Some(msg)).await;
    }
    // The ticket is consumed and the enrollment confirmed together (one use only).
    let db = &state.db;
    let hash = hash.as_str();
    let done = gatehouse_store::atomically(|| async move {
        let x = db.begin().await?;
        let now = time::now();
        if !jobs::consume_ticket(&x, t, hash, time::unix_now(), &now).await? {
            return Ok(false);
        }
        let Some(mut a) = store::find_for_update(&x, t, pending).await? else {
            return Ok(false);
        };
        a.confirmed = true;
        a.enrolled_at = Some(now.clone());
        a.last_auth_at = Some(now);
        store::update(&x, t, &a).await?;
        docs::delete(&x, t, ENROLL_STATE_KIND, hash).await?;
        x.commit().await?;
        Ok::<_, Error>(true)
    })
    .await?;
    if !done {
        return Ok(ticket_invalid(state, tenant).await);
    }
    let code = first_recovery_code(state, t, &user.user_id).await?;
    let brand = super::brand(state, tenant).await;
    let mut page = MfaPage::new(
        &brand,
        "You're All Set!",
        "Your authenticator app is enrolled: the next time you log in, enter the code it shows.",
        "",
    );
    if let Some(c) = code {
        page.title = "Almost There!";
        page.description = RECOVERY_DESCRIPTION;
        page.code = Some(c);
    }
    page.button = "";
    Ok(super::html(StatusCode::OK, &page, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_issuers_domain() {
        assert!(relying_party("http://localhost:8080/", "Demo").is_some());
        assert!(relying_party("https://login.example.com/", "Demo").is_some());
        // Browsers refuse IP addresses as relying party ids.
        assert!(relying_party("http://127.0.0.1:8080/", "Demo").is_none());
        assert!(relying_party("http://[::1]:8080/", "Demo").is_none());
        assert!(relying_party("not a url", "Demo").is_none());
    }

    #[test]
    fn public_keys_show_as_base64() {
        use webauthn_rs::prelude::{COSEAlgorithm, COSEEC2Key, COSEKey, COSEKeyType, ECDSACurve};
        let k = COSEKey {
            type_: COSEAlgorithm::ES256,
            key: COSEKeyType::EC_EC2(COSEEC2Key {
                curve: ECDSACurve::SECP256R1,
                x: vec![1; 32],
                y: vec![2; 32],
            }),
        };
        let shown = public_key(&k).unwrap_or_default();
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(shown)
            .unwrap_or_default();
        assert_eq!(raw.len(), 65);
        assert_eq!((raw[0], raw[1], raw[64]), (4, 1, 2));
    }

    #[test]
    fn user_handles_are_stable_and_opaque() {
        assert_eq!(user_handle("auth0|a"), user_handle("auth0|a"));
        assert_ne!(user_handle("auth0|a"), user_handle("auth0|b"));
        assert!(!user_handle("auth0|a").to_string().contains("auth0"));
    }

    #[test]
    fn codes_have_six_digits() {
        assert_eq!(six_digits("123 456").as_deref(), Some("123456"));
        assert_eq!(six_digits("12345"), None);
        assert_eq!(six_digits("12345a"), None);
        assert_eq!(six_digits("１２３４５６"), None);
    }

    #[test]
    fn qr_is_svg() {
        let svg =
            qr_svg("otpauth://totp/Demo:alice?secret=JBSWY3DPEHPK3PXP&issuer=Demo").expect("qr");
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
    }
}
