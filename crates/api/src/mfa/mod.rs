//! The MFA core (issue 13): what the Guardian configuration, the hosted pages, the MFA API and
//! the token grants share. No HTTP here.
//!
//! # API (used by GUARDIAN and PAGES)
//!
//! Configuration, stored by the `guardian` operations (docs):
//! - [`FACTOR_KIND`] (docs id = factor name, body `{"enabled": bool}`), [`POLICIES_KIND`]
//!   (docs id = `tenants::SETTINGS_ID`, body a JSON array such as `["all-applications"]`).
//! - `enabled_factors(x, tenant) -> Vec<String>`, `policies(x, tenant) -> Vec<String>`.
//! - `required(state, tenant, user_id) -> bool`: see [`required`] for the rule.
//! - `factor_of(authenticator type) -> factor name` (`totp` → `otp`, `phone` → `sms`, …).
//!
//! Secrets at rest ([`keys`] explains where the keys live):
//! - `seal(state, tenant, plain) -> String`, `open(state, tenant, sealed) -> Vec<u8>`.
//!
//! Authenticators (rows of `gatehouse_store::mfa`):
//! - `new_authenticator_id(type) -> "{type}|dev_{16 alnum}"`.
//! - `enroll_totp(state, tenant, user_id, name) -> (authenticator id, secret bytes)`: an
//!   unconfirmed `totp` authenticator (a previous unconfirmed one of the user is replaced).
//! - `enroll_email(state, tenant, user_id, email, confirmed) -> authenticator id`.
//! - `confirmed_of_user(x, tenant, user_id) -> Vec<AuthenticatorRow>` (confirmed ones only).
//! - `has_recovery_code(x, tenant, user_id) -> bool`.
//!
//! TOTP (RFC 6238, SHA-1, 6 digits, 30 s, ±1 step; [`totp`]):
//! - `new_totp_secret() -> Vec<u8>` (20 random bytes), `otpauth_uri(secret, issuer, account)`,
//!   `base32(secret)`.
//! - `verify_totp(state, tenant, authenticator_id, code) -> Verdict`: one locked transaction;
//!   lockout, replay refused, constant-time compare; on `Ok` an unconfirmed authenticator
//!   becomes confirmed (the enrollment completes) and `last_step`/`last_auth_at` move on.
//!
//! Recovery codes (24 characters `[A-Z0-9]`, as Auth0 shows them; only the SHA-256 is stored):
//! - `new_recovery_code(state, tx, tenant, user_id) -> String`: replaces the user's code (keeps
//!   the authenticator id when there is one).
//! - `verify_recovery_code(state, tenant, user_id, code) -> (Verdict, Option<String>)`: on `Ok`
//!   the used code is replaced and the new one returned (show it once).
//!
//! E-mail one-time codes (6 digits, [`OOB_TTL`] seconds, sent through the tenant's outbox with
//! the `mfa_oob_code` template):
//! - `send_email_otp(state, tenant, authenticator_id, mfa_token) -> handle` (the handle is a
//!   random bearer secret: the MFA API's `oob_code`),
//! - `verify_email_otp(state, tenant, user_id, handle, code) -> Verdict`.
//!
//! mfa_tokens (the Authentication API's `mfa_required` answers):
//! - `issue_mfa_token(state, tenant, user_id, client_id, context) -> token` ([`MFA_TOKEN_TTL`]),
//! - `find_mfa_token(state, tenant, token) -> Option<ChallengeRow>` (live ones only),
//! - `consume_mfa_token(x, tenant, token)`.
//!
//! Remembered browsers: `remember_browser_valid(x, tenant, user_id, granted_at) -> bool`
//! (false once `invalidate-remember-browser` ran after `granted_at`).
//!
//! Lockout: [`MAX_FAILURES`] consecutive wrong codes on one authenticator lock it for
//! [`LOCK_SECONDS`]; while locked every code (even a right one) answers [`Verdict::Locked`].

pub mod keys;
pub mod totp;

use rand::{Rng, rngs::OsRng};
use serde_json::{Value, json};

use gatehouse_core::{
    Error, ids,
    secret::{random_token, sha256_hex},
    time,
};
use gatehouse_store::{
    Exec, Tx, atomically, docs,
    mfa::{self as store, AuthenticatorRow, ChallengeRow},
    tenants,
};

use crate::state::AppState;

/// docs kind of a Guardian factor's state: id = factor name, body `{"enabled": bool}`.
pub const FACTOR_KIND: &str = "guardian_factor";
/// docs kind of the MFA policies: id = `tenants::SETTINGS_ID`, body a JSON array.
pub const POLICIES_KIND: &str = "guardian_policies";

/// Consecutive wrong codes that lock an authenticator.
pub const MAX_FAILURES: i64 = 10;
/// How long a lock lasts (seconds).
pub const LOCK_SECONDS: i64 = 15 * 60;
/// Lifetime of an e-mail / SMS one-time code (seconds).
pub const OOB_TTL: i64 = 5 * 60;
/// Wrong answers one out-of-band challenge takes before it is withdrawn.
pub const OOB_MAX_ATTEMPTS: i64 = 5;
/// Live one-time codes one user may have in flight (each challenge sends one).
pub const OOB_MAX_PENDING: i64 = 5;
/// Lifetime of an mfa_token (seconds; Auth0's are valid for 10 minutes).
pub const MFA_TOKEN_TTL: i64 = 10 * 60;
/// Kind of an mfa_token in `mfa_challenges`.
pub const MFA_TOKEN: &str = "mfa_token";
/// Kind of an out-of-band challenge in `mfa_challenges`.
pub const OOB: &str = "oob";
/// The e-mail template of one-time codes (Auth0's name).
pub const EMAIL_TEMPLATE: &str = "mfa_oob_code";

/// The outcome of checking a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Right: the step is done.
    Ok,
    /// Wrong code (counted toward the lock).
    Wrong,
    /// Too many wrong codes: refused until the lock ends.
    Locked,
    /// A TOTP code of a step already used (or earlier): refused.
    Replayed,
    /// The challenge is unknown, spent or expired (or of another user).
    Expired,
}

// ---- configuration -----------------------------------------------------------------------------

/// The names of the factors the tenant enabled.
pub async fn enabled_factors(x: &impl Exec, tenant: &str) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    for name in FACTORS {
        if docs::get(x, tenant, FACTOR_KIND, name)
            .await?
            .and_then(|b| b.get("enabled").and_then(Value::as_bool))
            == Some(true)
        {
            out.push((*name).to_owned());
        }
    }
    Ok(out)
}

/// Auth0's Guardian factors.
pub const FACTORS: &[&str] = &[
    "sms",
    "push-notification",
    "otp",
    "email",
    "duo",
    "webauthn-roaming",
    "webauthn-platform",
    "recovery-code",
];

/// The tenant's MFA policies (`[]`: "never").
pub async fn policies(x: &impl Exec, tenant: &str) -> Result<Vec<String>, Error> {
    Ok(docs::get(x, tenant, POLICIES_KIND, tenants::SETTINGS_ID)
        .await?
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.as_str().map(str::to_owned))
        .collect())
}

/// The Guardian factor an authenticator type belongs to.
pub fn factor_of(kind: &str) -> &str {
    match kind {
        "totp" | "otp" => "otp",
        "phone" | "sms" | "voice" => "sms",
        "push-notification" | "push" | "guardian" => "push-notification",
        other => other,
    }
}

/// Whether a login of this user must pass MFA:
/// - a policy `all-applications` (or `confidence-score`, which Gatehouse treats as "always":
///   it has no risk assessment) and at least one enabled factor other than `recovery-code`; or
/// - the user has a confirmed authenticator of an enabled factor (other than a recovery code),
///   whatever the policy: a user who enrolled a factor is always asked for it (Auth0 asks
///   enrolled users only under a policy or an Action; Gatehouse has no Action API for MFA yet,
///   and an enrolled factor that is never asked for would give a false sense of protection).
pub async fn required(state: &AppState, tenant: &str, user_id: &str) -> Result<bool, Error> {
    let enabled = enabled_factors(&state.db, tenant).await?;
    let usable: Vec<&String> = enabled.iter().filter(|f| *f != "recovery-code").collect();
    if usable.is_empty() {
        return Ok(false);
    }
    let pol = policies(&state.db, tenant).await?;
    if pol
        .iter()
        .any(|p| p == "all-applications" || p == "confidence-score")
    {
        return Ok(true);
    }
    Ok(confirmed_of_user(&state.db, tenant, user_id)
        .await?
        .iter()
        .any(|a| a.kind != "recovery-code" && usable.iter().any(|f| *f == factor_of(&a.kind))))
}

// ---- secrets at rest ---------------------------------------------------------------------------

/// Seals a secret with the tenant's data key (AES-256-GCM; see [`keys`]).
pub async fn seal(state: &AppState, tenant: &str, plain: &[u8]) -> Result<String, Error> {
    state.mfa_keys.seal(&state.db, tenant, plain).await
}

/// Opens a secret [`seal`] sealed.
pub async fn open(state: &AppState, tenant: &str, sealed: &str) -> Result<Vec<u8>, Error> {
    state.mfa_keys.open(&state.db, tenant, sealed).await
}

// ---- authenticators ----------------------------------------------------------------------------

/// Auth0's authenticator id: `{type}|dev_{16 alphanumerics}`.
pub fn new_authenticator_id(kind: &str) -> String {
    format!("{kind}|{}", ids::prefixed("dev", 16))
}

/// A user's confirmed authenticators, oldest first.
pub async fn confirmed_of_user(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
) -> Result<Vec<AuthenticatorRow>, Error> {
    Ok(store::list_for_user(x, tenant, user_id)
        .await?
        .into_iter()
        .filter(|a| a.confirmed)
        .collect())
}

/// Whether the user has a recovery code.
pub async fn has_recovery_code(x: &impl Exec, tenant: &str, user_id: &str) -> Result<bool, Error> {
    Ok(store::list_for_user(x, tenant, user_id)
        .await?
        .iter()
        .any(|a| a.kind == "recovery-code" && a.confirmed))
}

fn new_row(kind: &str, user_id: &str, confirmed: bool, data: Value) -> AuthenticatorRow {
    let now = time::now();
    AuthenticatorRow {
        id: new_authenticator_id(kind),
        user_id: user_id.to_owned(),
        kind: kind.to_owned(),
        confirmed,
        name: None,
        secret: None,
        data,
        created_at: now.clone(),
        enrolled_at: confirmed.then_some(now),
        last_auth_at: None,
        last_step: None,
        failures: 0,
        locked_until: None,
    }
}

/// 20 random bytes: a TOTP seed (RFC 4226's recommended 160 bits).
pub fn new_totp_secret() -> Vec<u8> {
    let mut b = vec![0u8; 20];
    OsRng.fill(b.as_mut_slice());
    b
}

/// Base32 (RFC 4648, no padding) of a TOTP seed: what a user types into an app.
pub fn base32(secret: &[u8]) -> String {
    totp::base32(secret)
}

/// What a URI component keeps unescaped: RFC 3986's unreserved characters.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn uri_part(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}

/// `otpauth://totp/{issuer}:{account}?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`, as
/// Auth0's `barcode_uri`.
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let issuer = uri_part(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={}&period={}",
        uri_part(account),
        base32(secret),
        totp::DIGITS,
        totp::STEP
    )
}

/// Starts a TOTP enrollment: an unconfirmed `totp` authenticator with a new sealed seed (the
/// user's previous unconfirmed TOTP enrollment, if any, is replaced). The seed is returned to
/// be shown once (QR code / `secret`); [`verify_totp`] confirms the enrollment.
pub async fn enroll_totp(
    state: &AppState,
    tenant: &str,
    user_id: &str,
    name: Option<&str>,
) -> Result<(String, Vec<u8>), Error> {
    let secret = new_totp_secret();
    let sealed = seal(state, tenant, &secret).await?;
    let mut row = new_row("totp", user_id, false, json!({}));
    row.secret = Some(sealed);
    row.name = name.map(str::to_owned);
    let id = row.id.clone();
    let db = &state.db;
    atomically(|| async {
        let tx = db.begin().await?;
        for old in store::list_for_user_for_update(&tx, tenant, user_id).await? {
            if old.kind == "totp" && !old.confirmed {
                store::delete(&tx, tenant, &old.id).await?;
            }
        }
        store::insert(&tx, tenant, &row).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok((id, secret))
}

/// An `email` authenticator for `email` (confirmed at once when the address is already proven,
/// e.g. by the Management API; else confirmed by the first code verified).
pub async fn enroll_email(
    state: &AppState,
    tenant: &str,
    user_id: &str,
    email: &str,
    confirmed: bool,
) -> Result<String, Error> {
    let mut row = new_row("email", user_id, confirmed, json!({"email": email}));
    row.name = Some(email.to_owned());
    let id = row.id.clone();
    store::insert(&state.db, tenant, &row).await?;
    Ok(id)
}

/// Counts a wrong code on a locked row: the lock starts at [`MAX_FAILURES`].
fn count_failure(a: &mut AuthenticatorRow, now: i64) -> Verdict {
    a.failures += 1;
    if a.failures >= MAX_FAILURES {
        a.failures = 0;
        a.locked_until = Some(now + LOCK_SECONDS);
        Verdict::Locked
    } else {
        Verdict::Wrong
    }
}

fn is_locked(a: &AuthenticatorRow, now: i64) -> bool {
    a.locked_until.is_some_and(|u| now < u)
}

/// A right code: counters reset, last use noted, the enrollment confirmed.
fn note_success(a: &mut AuthenticatorRow) {
    let now = time::now();
    a.failures = 0;
    a.locked_until = None;
    a.last_auth_at = Some(now.clone());
    if !a.confirmed {
        a.confirmed = true;
        a.enrolled_at = Some(now);
    }
}

/// Checks a TOTP code against an authenticator (confirmed or being enrolled), in one locked
/// transaction. See the module's documentation for the rules.
pub async fn verify_totp(
    state: &AppState,
    tenant: &str,
    authenticator_id: &str,
    code: &str,
) -> Result<Verdict, Error> {
    let db = &state.db;
    atomically(|| async {
        let tx = db.begin().await?;
        let Some(mut a) = store::find_for_update(&tx, tenant, authenticator_id).await? else {
            return Ok(Verdict::Wrong);
        };
        if a.kind != "totp" {
            return Ok(Verdict::Wrong);
        }
        let now = time::unix_now();
        if is_locked(&a, now) {
            return Ok(Verdict::Locked);
        }
        let sealed = a
            .secret
            .clone()
            .ok_or_else(|| anyhow::anyhow!("a totp authenticator without a secret"))?;
        let secret = state.mfa_keys.open(&tx, tenant, &sealed).await?;
        let verdict = match totp::matching_step(&secret, code, now) {
            Some(step) if a.last_step.is_some_and(|last| step <= last) => Verdict::Replayed,
            Some(step) => {
                a.last_step = Some(step);
                note_success(&mut a);
                Verdict::Ok
            }
            None => count_failure(&mut a, now),
        };
        store::update(&tx, tenant, &a).await?;
        tx.commit().await?;
        Ok::<_, Error>(verdict)
    })
    .await
}

// ---- recovery codes ----------------------------------------------------------------------------

/// 24 characters of `[A-Z0-9]` (~124 bits: the format Auth0 shows, guesses being rate-limited
/// by the lock).
fn recovery_code() -> String {
    const SET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..24)
        .map(|_| char::from(SET[OsRng.gen_range(0..SET.len())]))
        .collect()
}

/// What a typed recovery code is compared as: upper case, without spaces or dashes.
fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// Issues the user's recovery code, replacing the previous one, in the caller's transaction.
/// Returns it: the only time it is known.
pub async fn new_recovery_code(
    _state: &AppState,
    tx: &Tx,
    tenant: &str,
    user_id: &str,
) -> Result<String, Error> {
    let code = recovery_code();
    let existing: Vec<AuthenticatorRow> = store::list_for_user_for_update(tx, tenant, user_id)
        .await?
        .into_iter()
        .filter(|a| a.kind == "recovery-code")
        .collect();
    let mut rows = existing.into_iter();
    match rows.next() {
        Some(mut a) => {
            a.secret = Some(sha256_hex(&code));
            a.confirmed = true;
            a.enrolled_at = Some(time::now());
            a.failures = 0;
            a.locked_until = None;
            store::update(tx, tenant, &a).await?;
            for extra in rows {
                store::delete(tx, tenant, &extra.id).await?;
            }
        }
        None => {
            let mut a = new_row("recovery-code", user_id, true, json!({}));
            a.secret = Some(sha256_hex(&code));
            store::insert(tx, tenant, &a).await?;
        }
    }
    Ok(code)
}

/// Checks a recovery code. On [`Verdict::Ok`] the code is spent and a new one is returned.
pub async fn verify_recovery_code(
    state: &AppState,
    tenant: &str,
    user_id: &str,
    code: &str,
) -> Result<(Verdict, Option<String>), Error> {
    let db = &state.db;
    let given = sha256_hex(&normalize_code(code));
    atomically(|| async {
        let tx = db.begin().await?;
        let Some(mut a) = store::list_for_user_for_update(&tx, tenant, user_id)
            .await?
            .into_iter()
            .find(|a| a.kind == "recovery-code" && a.confirmed)
        else {
            return Ok((Verdict::Wrong, None));
        };
        let now = time::unix_now();
        if is_locked(&a, now) {
            return Ok((Verdict::Locked, None));
        }
        let right = a.secret.as_deref().is_some_and(|s| {
            aws_lc_rs::constant_time::verify_slices_are_equal(s.as_bytes(), given.as_bytes())
                .is_ok()
        });
        if !right {
            let v = count_failure(&mut a, now);
            store::update(&tx, tenant, &a).await?;
            tx.commit().await?;
            return Ok((v, None));
        }
        note_success(&mut a);
        store::update(&tx, tenant, &a).await?;
        let fresh = new_recovery_code(state, &tx, tenant, user_id).await?;
        tx.commit().await?;
        Ok::<_, Error>((Verdict::Ok, Some(fresh)))
    })
    .await
}

// ---- e-mail one-time codes ---------------------------------------------------------------------

fn six_digits() -> String {
    format!("{:06}", OsRng.gen_range(0..1_000_000u32))
}

/// Sends a 6-digit code to an `email` authenticator's address through the tenant's e-mail
/// outbox (template [`EMAIL_TEMPLATE`], Auth0's `mfa_oob_code`), and records the challenge.
/// Returns its handle: a random bearer secret (the MFA API's `oob_code`); only hashes are kept.
/// `mfa_token`: the mfa_token the challenge answers to, when it comes from the MFA API.
pub async fn send_email_otp(
    state: &AppState,
    tenant: &str,
    authenticator_id: &str,
    mfa_token: Option<&str>,
) -> Result<String, Error> {
    let db = &state.db;
    let a = store::find(db, tenant, authenticator_id)
        .await?
        .filter(|a| a.kind == "email")
        .ok_or_else(|| Error::not_found("inexistent_authenticator", "Authenticator not found"))?;
    let now = time::unix_now();
    if is_locked(&a, now) {
        return Err(Error::TooManyRequests(
            "Too many failed attempts, try again later".into(),
        ));
    }
    let user = gatehouse_store::users::find(db, tenant, &a.user_id)
        .await?
        .ok_or_else(|| Error::not_found("inexistent_user", "The user does not exist."))?;
    let to = a
        .data
        .get("email")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| user.email.clone())
        .ok_or_else(|| Error::bad_body("The authenticator has no e-mail address"))?;
    let template = crate::email::template(db, tenant, EMAIL_TEMPLATE).await?;
    let handle = random_token();
    let code = six_digits();
    let row = ChallengeRow {
        token_hash: sha256_hex(&handle),
        kind: OOB.to_owned(),
        user_id: a.user_id.clone(),
        client_id: None,
        body: json!({
            "code_hash": sha256_hex(&code),
            "authenticator_id": a.id,
            "binding_method": "prompt",
            "channel": "email",
            "mfa_token_hash": mfa_token.map(sha256_hex),
        }),
        attempts: 0,
        expires_at: now + OOB_TTL,
        created_at: time::now(),
    };
    atomically(|| async {
        let tx = db.begin().await?;
        let vars = crate::email::variables(
            &tx,
            tenant,
            json!({"user": crate::email::user_vars(&user), "code": code}),
        )
        .await?;
        // A template switched off still gets the code out: the login cannot finish without it.
        let stored = template
            .as_ref()
            .filter(|t| !crate::email::disabled(Some(*t)));
        if let Some(msg) = crate::email::render(EMAIL_TEMPLATE, stored, &to, &vars)? {
            crate::email::enqueue(&tx, tenant, &msg).await?;
        }
        // At most OOB_MAX_PENDING codes in flight per user: the mailbox is not a target.
        if store::count_live_challenges(&tx, tenant, &row.user_id, OOB, now).await?
            >= OOB_MAX_PENDING
        {
            return Err(Error::TooManyRequests(
                "Too many verification codes were sent, try again later".into(),
            ));
        }
        store::insert_challenge(&tx, tenant, &row).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    state.worker.wake(crate::email::KIND);
    Ok(handle)
}

/// Checks the code of an e-mail challenge of `user_id`. On `Ok` the challenge is spent and the
/// authenticator confirmed; wrong codes count on the challenge ([`OOB_MAX_ATTEMPTS`]) and on
/// the authenticator's lock.
pub async fn verify_email_otp(
    state: &AppState,
    tenant: &str,
    user_id: &str,
    handle: &str,
    code: &str,
) -> Result<Verdict, Error> {
    let db = &state.db;
    let hash = sha256_hex(handle);
    let given = sha256_hex(code.trim());
    atomically(|| async {
        let tx = db.begin().await?;
        let Some(mut c) = store::find_challenge_for_update(&tx, tenant, &hash).await? else {
            return Ok(Verdict::Expired);
        };
        let now = time::unix_now();
        if c.kind != OOB || c.user_id != user_id {
            return Ok(Verdict::Expired);
        }
        if !c.is_live(now) {
            store::delete_challenge(&tx, tenant, &hash).await?;
            tx.commit().await?;
            return Ok(Verdict::Expired);
        }
        let aid = c
            .body
            .get("authenticator_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let Some(mut a) = store::find_for_update(&tx, tenant, &aid).await? else {
            store::delete_challenge(&tx, tenant, &hash).await?;
            tx.commit().await?;
            return Ok(Verdict::Expired);
        };
        if is_locked(&a, now) {
            return Ok(Verdict::Locked);
        }
        let right = c
            .body
            .get("code_hash")
            .and_then(Value::as_str)
            .is_some_and(|s| {
                aws_lc_rs::constant_time::verify_slices_are_equal(s.as_bytes(), given.as_bytes())
                    .is_ok()
            });
        let verdict = if right {
            note_success(&mut a);
            store::delete_challenge(&tx, tenant, &hash).await?;
            Verdict::Ok
        } else {
            let v = count_failure(&mut a, now);
            c.attempts += 1;
            if c.attempts >= OOB_MAX_ATTEMPTS {
                store::delete_challenge(&tx, tenant, &hash).await?;
            } else {
                store::update_challenge(&tx, tenant, &c).await?;
            }
            v
        };
        store::update(&tx, tenant, &a).await?;
        tx.commit().await?;
        Ok::<_, Error>(verdict)
    })
    .await
}

// ---- remember this browser ---------------------------------------------------------------------

/// docs kind of `POST /users/{id}/multifactor/actions/invalidate-remember-browser`: id = user id,
/// body `{"invalidated_at": unix seconds}`.
pub const REMEMBER_BROWSER_KIND: &str = "mfa_remember_browser";

/// Whether a "remember this browser" granted to the user at `granted_at` (unix seconds) still
/// holds: not when the user's remembered browsers were invalidated since.
pub async fn remember_browser_valid(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    granted_at: i64,
) -> Result<bool, Error> {
    let since = docs::get(x, tenant, REMEMBER_BROWSER_KIND, user_id)
        .await?
        .and_then(|v| v.get("invalidated_at").and_then(Value::as_i64));
    Ok(since.is_none_or(|t| granted_at > t))
}

// ---- mfa_tokens --------------------------------------------------------------------------------

/// Issues an mfa_token for a user who passed the first factor at `client_id`. `context` is
/// what the grant finishing the login needs (audience, scope, realm, …).
pub async fn issue_mfa_token(
    state: &AppState,
    tenant: &str,
    user_id: &str,
    client_id: Option<&str>,
    context: Value,
) -> Result<String, Error> {
    let token = random_token();
    // Expired steps go as new ones come (they are useless once expired).
    store::prune_challenges(&state.db, tenant, time::unix_now()).await?;
    let row = ChallengeRow {
        token_hash: sha256_hex(&token),
        kind: MFA_TOKEN.to_owned(),
        user_id: user_id.to_owned(),
        client_id: client_id.map(str::to_owned),
        body: context,
        attempts: 0,
        expires_at: time::unix_now() + MFA_TOKEN_TTL,
        created_at: time::now(),
    };
    store::insert_challenge(&state.db, tenant, &row).await?;
    Ok(token)
}

/// The live mfa_token `token` names.
pub async fn find_mfa_token(
    state: &AppState,
    tenant: &str,
    token: &str,
) -> Result<Option<ChallengeRow>, Error> {
    Ok(store::find_challenge(&state.db, tenant, &sha256_hex(token))
        .await?
        .filter(|c| c.kind == MFA_TOKEN && c.is_live(time::unix_now())))
}

/// Spends an mfa_token (once its login completed); true when it was there.
pub async fn consume_mfa_token(x: &impl Exec, tenant: &str, token: &str) -> Result<bool, Error> {
    Ok(store::delete_challenge(x, tenant, &sha256_hex(token)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_look_like_auth0s() {
        let c = recovery_code();
        assert_eq!(c.len(), 24);
        assert!(
            c.chars()
                .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit())
        );
        assert_ne!(c, recovery_code());
        assert_eq!(normalize_code(" abcd-efgh "), "ABCDEFGH");
    }

    #[test]
    fn otpauth_uri_as_auth0_writes_it() {
        let u = otpauth_uri(
            b"12345678901234567890",
            "My Test Tenant",
            "user@example.com",
        );
        assert_eq!(
            u,
            "otpauth://totp/My%20Test%20Tenant:user%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=My%20Test%20Tenant&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn lock_after_max_failures() {
        let mut a = new_row("totp", "auth0|u", true, json!({}));
        for _ in 1..MAX_FAILURES {
            assert_eq!(count_failure(&mut a, 100), Verdict::Wrong);
        }
        assert_eq!(count_failure(&mut a, 100), Verdict::Locked);
        assert!(is_locked(&a, 100 + LOCK_SECONDS - 1));
        assert!(!is_locked(&a, 100 + LOCK_SECONDS));
        note_success(&mut a);
        assert_eq!(a.failures, 0);
        assert!(a.locked_until.is_none());
    }

    #[test]
    fn authenticator_ids() {
        let id = new_authenticator_id("totp");
        assert!(id.starts_with("totp|dev_"));
        assert_eq!(id.len(), "totp|dev_".len() + 16);
        assert_eq!(factor_of("totp"), "otp");
        assert_eq!(factor_of("phone"), "sms");
        assert_eq!(factor_of("email"), "email");
    }
}
