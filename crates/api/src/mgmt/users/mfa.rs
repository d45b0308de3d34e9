//! A user's MFA enrollments through the Management API: the seven `authentication-methods`
//! operations, `DELETE /users/{id}/authenticators`, `GET /users/{id}/enrollments`,
//! `DELETE /users/{id}/multifactor/{provider}`, `POST /users/{id}/recovery-code-regeneration`
//! and `POST /users/{id}/multifactor/actions/invalidate-remember-browser`.
//!
//! Secrets are write-only: a TOTP seed given as `totp_secret` is sealed with the tenant's key
//! and never shown again; a recovery code is shown once, by the regeneration that makes it, and
//! only its hash is kept.

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, time};
use gatehouse_spec::Op;
use gatehouse_store::{atomically, docs, mfa as store, mfa::AuthenticatorRow};

use crate::mfa;
use crate::mgmt::common::user_must_exist;
use crate::spine::{Ctx, Input, Registry, Reply, page::Paging};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetAuthenticationMethods, list);
    reg.add(
        Op::GetAuthenticationMethodsByAuthenticationMethodId,
        get_one,
    );
    reg.add(Op::PostAuthenticationMethods, create);
    reg.add(Op::PutAuthenticationMethods, replace_all);
    reg.add(
        Op::PatchAuthenticationMethodsByAuthenticationMethodId,
        update,
    );
    reg.add(
        Op::DeleteAuthenticationMethodsByAuthenticationMethodId,
        delete_one,
    );
    reg.add(Op::DeleteAuthenticationMethods, delete_all);
    reg.add(Op::DeleteAuthenticators, delete_all);
    reg.add(Op::GetEnrollments, enrollments);
    reg.add(Op::DeleteMultifactorByProvider, delete_provider);
    reg.add(Op::PostRecoveryCodeRegeneration, regenerate_recovery_code);
    reg.add(
        Op::PostInvalidateRememberBrowser,
        invalidate_remember_browser,
    );
}

fn method_not_found() -> Error {
    Error::not_found(
        "inexistent_authentication_method",
        "Authentication method not found",
    )
}

/// The public fields of `data` an authentication method shows.
const PUBLIC: &[&str] = &[
    "email",
    "phone_number",
    "preferred_authentication_method",
    "key_id",
    "public_key",
    "relying_party_identifier",
    "link_id",
    "aaguid",
    "credential_device_type",
    "credential_backed_up",
    "identity_user_id",
    "user_agent",
];

/// An authenticator as `authentication-methods` shows it (never its secret).
pub fn render(a: &AuthenticatorRow) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(a.id));
    o.insert("type".into(), json!(a.kind));
    o.insert("confirmed".into(), json!(a.confirmed));
    if let Some(n) = &a.name {
        o.insert("name".into(), json!(n));
    }
    for k in PUBLIC {
        if let Some(v) = a.data.get(*k).filter(|v| !v.is_null()) {
            o.insert((*k).into(), v.clone());
        }
    }
    if a.kind == "phone" {
        let method = a
            .data
            .get("preferred_authentication_method")
            .and_then(Value::as_str)
            .unwrap_or("sms");
        o.insert(
            "authentication_methods".into(),
            json!([{"id": a.id, "type": method}]),
        );
    }
    o.insert("created_at".into(), json!(a.created_at));
    if let Some(t) = &a.enrolled_at {
        o.insert("enrolled_at".into(), json!(t));
    }
    if let Some(t) = &a.last_auth_at {
        o.insert("last_auth_at".into(), json!(t));
    }
    Value::Object(o)
}

/// The authenticator `id` of the user, or 404.
async fn owned(ctx: &Ctx, user_id: &str, id: &str) -> Result<AuthenticatorRow, Error> {
    store::find(ctx.db(), ctx.tenant_id(), id)
        .await?
        .filter(|a| a.user_id == user_id)
        .ok_or_else(method_not_found)
}

async fn list(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("id");
    user_must_exist(&ctx, user_id).await?;
    let rows = store::list_for_user(ctx.db(), ctx.tenant_id(), user_id).await?;
    let total = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let paging = Paging::from_query(&input.query);
    let paged = input.query.get("page").is_some() || input.query.get("per_page").is_some();
    let items: Vec<Value> = if paged {
        let p = paging.store_page();
        rows.iter()
            .skip(usize::try_from(p.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(p.limit).unwrap_or(0))
            .map(render)
            .collect()
    } else {
        rows.iter().map(render).collect()
    };
    Ok(Reply::json(paging.reply("authenticators", items, total)))
}

async fn get_one(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("id");
    user_must_exist(&ctx, user_id).await?;
    let a = owned(&ctx, user_id, input.path("authentication_method_id")).await?;
    Ok(Reply::json(render(&a)))
}

fn text<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn required<'a>(body: &'a Value, key: &str, kind: &str) -> Result<&'a str, Error> {
    text(body, key).ok_or_else(|| {
        Error::bad_body(format!(
            "Payload validation error: '{key}' is required for authentication methods of type '{kind}'."
        ))
    })
}

/// Decodes a base32 TOTP seed (RFC 4648, padding and case ignored).
fn decode_base32(s: &str) -> Option<Vec<u8>> {
    const SET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut buf, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in s.trim().trim_end_matches('=').chars() {
        if c == ' ' || c == '-' {
            continue;
        }
        let u = c.to_ascii_uppercase();
        let v = SET.iter().position(|&b| char::from(b) == u)?;
        buf = (buf << 5) | u32::try_from(v).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buf >> bits) & 0xff).ok()?);
        }
    }
    // At least 80 bits, as RFC 4226 requires of a shared secret.
    (out.len() >= 10).then_some(out)
}

/// A confirmed authenticator made from a request body (POST, or one item of PUT).
async fn from_body(ctx: &Ctx, user_id: &str, body: &Value) -> Result<AuthenticatorRow, Error> {
    let kind = text(body, "type").ok_or_else(|| Error::bad_body("'type' is required"))?;
    let now = time::now();
    let mut data = Map::new();
    let mut secret = None;
    match kind {
        "totp" => {
            let seed = required(body, "totp_secret", kind)?;
            let bytes = decode_base32(seed).ok_or_else(|| {
                Error::bad_body("totp_secret must be a base32 secret of at least 16 characters")
            })?;
            secret = Some(mfa::seal(&ctx.state, ctx.tenant_id(), &bytes).await?);
        }
        "email" => {
            let email = required(body, "email", kind)?;
            if !email.contains('@') {
                return Err(Error::bad_body("email must be a valid e-mail address"));
            }
            data.insert("email".into(), json!(email));
        }
        "phone" => {
            let phone = required(body, "phone_number", kind)?;
            data.insert("phone_number".into(), json!(phone));
            data.insert(
                "preferred_authentication_method".into(),
                json!(text(body, "preferred_authentication_method").unwrap_or("sms")),
            );
        }
        "webauthn-roaming" | "passkey" => {
            for k in ["key_id", "public_key", "relying_party_identifier"] {
                data.insert(k.into(), json!(required(body, k, kind)?));
            }
        }
        other => {
            return Err(Error::bad_body(format!(
                "Authentication methods of type '{other}' cannot be created"
            )));
        }
    }
    Ok(AuthenticatorRow {
        id: mfa::new_authenticator_id(kind),
        user_id: user_id.to_owned(),
        kind: kind.to_owned(),
        confirmed: true,
        name: text(body, "name").map(str::to_owned),
        secret,
        data: Value::Object(data),
        created_at: now.clone(),
        enrolled_at: Some(now),
        last_auth_at: None,
        last_step: None,
        failures: 0,
        locked_until: None,
    })
}

/// The reply of a creation: what was stored (the TOTP seed stays write-only).
fn created(a: &AuthenticatorRow) -> Value {
    let mut v = render(a);
    if let Value::Object(o) = &mut v {
        o.remove("confirmed");
        o.remove("enrolled_at");
    }
    v
}

async fn create(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("id");
    user_must_exist(&ctx, user_id).await?;
    let row = from_body(&ctx, user_id, &input.body).await?;
    store::insert(ctx.db(), ctx.tenant_id(), &row).await?;
    Ok(Reply::with_status(201, created(&row)))
}

/// Replaces every authentication method of the user by the ones given (one transaction).
async fn replace_all(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("id");
    user_must_exist(&ctx, user_id).await?;
    let items =
        input.body.as_array().cloned().ok_or_else(|| {
            Error::bad_body("The body must be an array of authentication methods")
        })?;
    let mut rows = Vec::with_capacity(items.len());
    for item in &items {
        rows.push(from_body(&ctx, user_id, item).await?);
    }
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let rows = &rows;
    atomically(|| async move {
        let tx = db.begin().await?;
        store::list_for_user_for_update(&tx, tenant, user_id).await?;
        store::delete_for_user(&tx, tenant, user_id, None).await?;
        for r in rows {
            store::insert(&tx, tenant, r).await?;
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::json(Value::Array(
        rows.iter().map(created).collect(),
    )))
}

async fn update(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("id");
    user_must_exist(&ctx, user_id).await?;
    let (db, tenant, id) = (
        ctx.db(),
        ctx.tenant_id(),
        input.path("authentication_method_id"),
    );
    let body = &input.body;
    let row = atomically(|| async move {
        let tx = db.begin().await?;
        let mut a = store::find_for_update(&tx, tenant, id)
            .await?
            .filter(|a| a.user_id == user_id)
            .ok_or_else(method_not_found)?;
        if let Some(n) = body.get("name") {
            a.name = n.as_str().map(str::to_owned);
        }
        if let Some(m) = text(body, "preferred_authentication_method") {
            if a.kind != "phone" {
                return Err(Error::bad_body(
                    "preferred_authentication_method applies to phone authentication methods only",
                ));
            }
            if let Value::Object(d) = &mut a.data {
                d.insert("preferred_authentication_method".into(), json!(m));
            }
        }
        store::update(&tx, tenant, &a).await?;
        tx.commit().await?;
        Ok::<_, Error>(a)
    })
    .await?;
    Ok(Reply::json(render(&row)))
}

async fn delete_one(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("id");
    user_must_exist(&ctx, user_id).await?;
    let a = owned(&ctx, user_id, input.path("authentication_method_id")).await?;
    let tenant = ctx.tenant_id();
    let tx = ctx.db().begin().await?;
    store::delete(&tx, tenant, &a.id).await?;
    // Linked methods go together (Auth0's `link_id`).
    if let Some(link) = a.data.get("link_id").and_then(Value::as_str) {
        store::delete(&tx, tenant, link).await?;
    }
    tx.commit().await?;
    Ok(Reply::empty())
}

/// Every authenticator of the user (and the MFA steps in flight).
async fn delete_all(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("id");
    user_must_exist(&ctx, user_id).await?;
    let tenant = ctx.tenant_id();
    let tx = ctx.db().begin().await?;
    store::delete_for_user(&tx, tenant, user_id, None).await?;
    store::delete_challenges_for_user(&tx, tenant, user_id, Some(mfa::OOB)).await?;
    tx.commit().await?;
    Ok(Reply::empty())
}

/// Guardian's view of an authenticator (`GET /users/{id}/enrollments`,
/// `GET /guardian/enrollments/{id}`): `{id, status, type, name?, identifier?, phone_number?,
/// auth_method, enrolled_at?, last_auth?}`. `None` for recovery codes (not an enrollment).
pub fn enrollment(a: &AuthenticatorRow) -> Option<Value> {
    let (kind, auth_method) = match a.kind.as_str() {
        "totp" => ("authenticator", "authenticator"),
        "phone" => ("sms", "sms"),
        "push-notification" | "push" | "guardian" => ("pn", "guardian"),
        "webauthn-roaming" => ("webauthn-roaming", "webauthn-roaming"),
        "webauthn-platform" => ("webauthn-platform", "webauthn-platform"),
        "email" => ("email", "email"),
        "recovery-code" => return None,
        other => (other, other),
    };
    let mut o = Map::new();
    o.insert("id".into(), json!(a.id));
    o.insert(
        "status".into(),
        json!(if a.confirmed { "confirmed" } else { "pending" }),
    );
    o.insert("type".into(), json!(kind));
    if let Some(n) = &a.name {
        o.insert("name".into(), json!(n));
    }
    if let Some(p) = a.data.get("phone_number").filter(|v| !v.is_null()) {
        o.insert("phone_number".into(), p.clone());
    }
    if let Some(e) = a.data.get("email").filter(|v| !v.is_null()) {
        o.insert("identifier".into(), e.clone());
    }
    o.insert("auth_method".into(), json!(auth_method));
    if let Some(t) = &a.enrolled_at {
        o.insert("enrolled_at".into(), json!(t));
    }
    if let Some(t) = &a.last_auth_at {
        o.insert("last_auth".into(), json!(t));
    }
    Some(Value::Object(o))
}

/// The user's confirmed Guardian enrollments (recovery codes are not enrollments).
async fn enrollments(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("id");
    user_must_exist(&ctx, user_id).await?;
    let rows = mfa::confirmed_of_user(ctx.db(), ctx.tenant_id(), user_id).await?;
    Ok(Reply::json(Value::Array(
        rows.iter().filter_map(enrollment).collect(),
    )))
}

/// `google-authenticator`: the user's TOTP authenticators; `duo`: nothing is enrolled with Duo
/// here (Gatehouse has no Duo integration), so nothing to remove.
async fn delete_provider(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("id");
    user_must_exist(&ctx, user_id).await?;
    match input.path("provider") {
        "google-authenticator" => {
            store::delete_for_user(ctx.db(), ctx.tenant_id(), user_id, Some("totp")).await?;
        }
        "duo" => {}
        other => {
            return Err(Error::bad_body(format!(
                "Path validation error: 'provider' must be one of duo, google-authenticator, got '{other}'"
            )));
        }
    }
    Ok(Reply::empty())
}

/// A new recovery code replaces the user's previous one; it is shown this once.
async fn regenerate_recovery_code(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("id");
    user_must_exist(&ctx, user_id).await?;
    let (state, tenant) = (&ctx.state, ctx.tenant_id());
    let code = atomically(|| async move {
        let tx = state.db.begin().await?;
        let code = mfa::new_recovery_code(state, &tx, tenant, user_id).await?;
        tx.commit().await?;
        Ok::<_, Error>(code)
    })
    .await?;
    Ok(Reply::json(json!({"recovery_code": code})))
}

/// Voids every "remember this browser" the user's MFA granted so far: the next login on any
/// browser asks for the second factor again ([`mfa::remember_browser_valid`]).
async fn invalidate_remember_browser(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("id");
    user_must_exist(&ctx, user_id).await?;
    docs::put(
        ctx.db(),
        ctx.tenant_id(),
        mfa::REMEMBER_BROWSER_KIND,
        user_id,
        &json!({"invalidated_at": time::unix_now()}),
        &time::now(),
    )
    .await?;
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_seeds() {
        let seed = mfa::base32(b"12345678901234567890");
        assert_eq!(
            decode_base32(&seed).as_deref(),
            Some(&b"12345678901234567890"[..])
        );
        assert_eq!(
            decode_base32(&seed.to_lowercase()).as_deref(),
            Some(&b"12345678901234567890"[..])
        );
        assert!(decode_base32("ABC").is_none());
        assert!(decode_base32("not base32 at all!").is_none());
    }

    #[test]
    fn rendering_hides_secrets() {
        let a = AuthenticatorRow {
            id: "totp|dev_x".into(),
            user_id: "auth0|u".into(),
            kind: "totp".into(),
            confirmed: true,
            name: None,
            secret: Some("v1.sealed".into()),
            data: json!({}),
            created_at: "2024-01-01T00:00:00.000Z".into(),
            enrolled_at: None,
            last_auth_at: None,
            last_step: Some(5),
            failures: 1,
            locked_until: None,
        };
        let v = render(&a);
        assert!(!v.to_string().contains("sealed"));
        assert_eq!(v["type"], "totp");
        assert_eq!(enrollment(&a).unwrap()["type"], "authenticator");
    }
}
