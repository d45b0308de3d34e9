//! Tag `guardian`, its real behaviour: a user's MFA enrollments (read and deleted by id, over the
//! MFA core's authenticators) and enrollment tickets. The tag's configuration is in
//! `config/guardian.rs`.
//!
//! An enrollment ticket, as in Auth0, is a single-use link that lets its user enroll a factor
//! without logging in: 256 random bits of which only the SHA-256 is stored (the `tickets` table,
//! kind [`GUARDIAN_ENROLLMENT`]), expiring after 5 days (Auth0's documented lifetime). The hosted
//! page at [`ENROLL_PATH`] (the login pages) consumes it when the enrollment completes. With
//! `send_mail: true` the link is e-mailed (template `enrollment_email`) through the tenant's
//! e-mail provider, in the transaction that stores the ticket.

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, secret, time};
use gatehouse_spec::Op;
use gatehouse_store::{Exec, jobs, mfa::AuthenticatorRow, users};

use crate::spine::{Ctx, Input, Registry, Reply};

/// The `tickets` kind of an enrollment ticket (read by the enrollment page).
pub const GUARDIAN_ENROLLMENT: &str = "guardian_enrollment";
/// Where an enrollment ticket's link goes (served by the login pages).
pub const ENROLL_PATH: &str = "/guardian/enroll";
/// Auth0: "Tickets expire after 5 days and are single-use."
pub const TICKET_TTL_SECS: i64 = 5 * 24 * 3600;

/// The prefixes Auth0 puts before an enrollment's `dev_` id (the path may give the id without).
const PREFIXES: &[&str] = &[
    "totp",
    "sms",
    "voice",
    "phone",
    "push",
    "push-notification",
    "email",
    "recovery-code",
    "webauthn-roaming",
    "webauthn-platform",
];

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetEnrollmentsById, get_enrollment);
    reg.add(Op::DeleteEnrollmentsById, delete_enrollment);
    reg.add(Op::PostTicket, post_ticket);
}

/// Recorded (go-auth0 TestGuardian/Enrollment): both GET and DELETE of an unknown id.
fn enrollment_not_found() -> Error {
    Error::not_found("enrollment_not_found", "Enrollment not found")
}

/// The authenticator `id` names, with or without its type prefix; Auth0's prefixes for a phone
/// (`sms|`, `voice|`) and a push device (`push|`) find the `phone|` and `push-notification|`
/// authenticators the MFA core makes.
async fn find(x: &impl Exec, tenant: &str, id: &str) -> Result<Option<AuthenticatorRow>, Error> {
    if let Some(a) = gatehouse_store::mfa::find(x, tenant, id).await? {
        return Ok(Some(a));
    }
    let (given, bare) = match id.split_once('|') {
        Some((p, rest)) => (Some(p), rest),
        None => (None, id),
    };
    let candidates: &[&str] = match given {
        None => PREFIXES,
        Some("sms" | "voice") => &["phone"],
        Some("push") => &["push-notification"],
        Some(_) => &[],
    };
    for p in candidates {
        if let Some(a) = gatehouse_store::mfa::find(x, tenant, &format!("{p}|{bare}")).await? {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

/// An authenticator as Auth0 shows a Guardian enrollment: `id`, `status`, and what is known of
/// `name`, `identifier`, `phone_number`, `enrolled_at`, `last_auth` (never a secret).
pub fn enrollment(a: &AuthenticatorRow) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(a.id));
    let status = if a.confirmed { "confirmed" } else { "pending" };
    o.insert("status".into(), json!(status));
    let data = |k: &str| a.data.get(k).and_then(Value::as_str).map(str::to_owned);
    let fields = [
        ("name", a.name.clone().or_else(|| data("name"))),
        ("identifier", data("identifier")),
        ("phone_number", data("phone_number")),
        ("enrolled_at", a.enrolled_at.clone()),
        ("last_auth", a.last_auth_at.clone()),
    ];
    for (k, v) in fields {
        if let Some(v) = v {
            o.insert(k.into(), json!(v));
        }
    }
    Value::Object(o)
}

async fn get_enrollment(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let a = find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?
        .ok_or_else(enrollment_not_found)?;
    Ok(Reply::json(enrollment(&a)))
}

async fn delete_enrollment(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let a = find(db, tenant, input.path("id"))
        .await?
        .ok_or_else(enrollment_not_found)?;
    if !gatehouse_store::mfa::delete(db, tenant, &a.id).await? {
        return Err(enrollment_not_found());
    }
    Ok(Reply::empty())
}

/// `POST /guardian/enrollments/ticket`: the user must exist; `factor` (checked by the spine
/// against Auth0's list) cannot be `email` (Auth0: users cannot enroll e-mail through a ticket).
/// `send_mail: true` e-mails the link to `email`, else to the user's address.
async fn post_ticket(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let s = |k: &str| req.get(k).and_then(Value::as_str);
    let factor = s("factor");
    if factor == Some("email") {
        return Err(Error::bad_body(
            "Users cannot enroll in email as a factor through enrollment tickets.",
        ));
    }
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let user = users::find(db, tenant, s("user_id").unwrap_or_default())
        .await?
        .ok_or_else(crate::mgmt::users::user_not_found)?;
    let send_mail = req.get("send_mail").and_then(Value::as_bool) == Some(true);
    let to = match (s("email"), user.email.as_deref()) {
        (Some(e), _) | (None, Some(e)) => Some(e.to_owned()),
        (None, None) => None,
    };
    if send_mail && to.is_none() {
        return Err(Error::bad_body(
            "The user does not have an email address to send the enrollment ticket to.",
        ));
    }
    let mut body = Map::new();
    for k in ["factor", "allow_multiple_enrollments", "email"] {
        if let Some(v) = req.get(k).filter(|v| !v.is_null()) {
            body.insert(k.into(), v.clone());
        }
    }
    let token = secret::random_token();
    let row = jobs::TicketRow {
        token_hash: secret::sha256_hex(&token),
        kind: GUARDIAN_ENROLLMENT.to_owned(),
        user_id: user.user_id.clone(),
        body: Value::Object(body),
        expires_at: time::unix_now().saturating_add(TICKET_TTL_SECS),
        used_at: None,
        created_at: time::now(),
    };
    let url = format!(
        "{}{ENROLL_PATH}?ticket={token}",
        ctx.tenant.issuer.trim_end_matches('/')
    );
    let mail = match to.filter(|_| send_mail) {
        Some(to) => {
            let template = crate::email::template(db, tenant, "enrollment_email").await?;
            let vars = crate::email::variables(
                db,
                tenant,
                json!({"user": crate::email::user_vars(&user), "url": url, "link": url}),
            )
            .await?;
            crate::email::render("enrollment_email", template.as_ref(), &to, &vars)?
        }
        None => None,
    };
    let tx = db.begin().await?;
    jobs::insert_ticket(&tx, tenant, &row).await?;
    if let Some(msg) = &mail {
        crate::email::enqueue(&tx, tenant, msg).await?;
    }
    tx.commit().await?;
    if mail.is_some() {
        ctx.state.worker.wake(crate::email::KIND);
    }
    // Auth0's `ticket_id` is the ticket itself ("for internal use").
    Ok(Reply::json(json!({"ticket_id": token, "ticket_url": url})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(confirmed: bool, data: Value) -> AuthenticatorRow {
        AuthenticatorRow {
            id: "phone|dev_abc".into(),
            user_id: "auth0|u".into(),
            kind: "phone".into(),
            confirmed,
            name: None,
            secret: Some("sealed".into()),
            data,
            created_at: "2026-01-01T00:00:00.000Z".into(),
            enrolled_at: confirmed.then(|| "2026-01-01T00:00:01.000Z".to_owned()),
            last_auth_at: None,
            last_step: None,
            failures: 0,
            locked_until: None,
        }
    }

    #[test]
    fn enrollment_shape() {
        let e = enrollment(&row(true, json!({"phone_number": "+15550100"})));
        assert_eq!(
            e,
            json!({"id": "phone|dev_abc", "status": "confirmed", "phone_number": "+15550100",
                   "enrolled_at": "2026-01-01T00:00:01.000Z"})
        );
        let pending = enrollment(&row(false, json!({})));
        assert_eq!(pending, json!({"id": "phone|dev_abc", "status": "pending"}));
        assert!(pending.get("secret").is_none());
    }
}
