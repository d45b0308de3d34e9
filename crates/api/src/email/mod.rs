//! E-mail: messages rendered from the tenant's e-mail templates (`/email-templates/{name}`,
//! Liquid) or Auth0's default texts, put in the durable outbox (queue items of kind
//! [`KIND`]) in the caller's transaction, and delivered over SMTP by the worker ([`smtp`]).
//!
//! A message is rendered when it is enqueued: what the user receives is what the template said
//! when the request was acknowledged, and a retry resends the same message. The SMTP settings
//! are read when it is sent (the tenant's `/emails/provider` with name `smtp`, else the server's
//! `--smtp-url`), so a corrected provider applies to the messages still waiting.

pub mod smtp;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use gatehouse_core::Error;
use gatehouse_store::{Exec, docs, tenants};

/// The queue kind of the outbox.
pub const KIND: &str = "email";

/// How long a sender holds a batch of messages before another instance may take them.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(120);

/// The outbox's kind of work for the queue's loops.
pub const WORK: crate::worker::Kind = crate::worker::Kind {
    name: KIND,
    handler: deliver,
    batch: 20,
    lease: LEASE,
};

/// Attempts before a message that keeps failing is given up (logged; ~2 days of retries).
const MAX_ATTEMPTS: i64 = 16;

/// A rendered message, as the outbox keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    /// Empty: the provider's `default_from_address` (or the server's) at send time.
    pub from: String,
    pub to: String,
    pub subject: String,
    pub html: String,
}

/// The templates Gatehouse sends, with Auth0's default subject and text.
fn default_template(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "verify_email" => (
            "Verify your email",
            "<html><body><p>Hello {{ user.name | default: user.email }},</p>\
             <p>Please verify your email address by clicking the link below.</p>\
             <p><a href=\"{{ url }}\">Confirm my account</a></p>\
             <p>If you are having any issues with your account, please don't hesitate to contact us by replying to this mail.</p>\
             <p>Thanks!<br>{{ friendly_name | default: tenant }}</p></body></html>",
        ),
        "reset_email" => (
            "Reset your password",
            "<html><body><p>Hello {{ user.name | default: user.email }},</p>\
             <p>We've received a request to reset the password for this account. Click the link below to reset it.</p>\
             <p><a href=\"{{ url }}\">Reset password</a></p>\
             <p>If you didn't request a password reset, you can ignore this e-mail.</p>\
             <p>Thanks!<br>{{ friendly_name | default: tenant }}</p></body></html>",
        ),
        "welcome_email" => (
            "Welcome to {{ friendly_name | default: tenant }}",
            "<html><body><p>Welcome {{ user.name | default: user.email }}!</p>\
             <p>Thanks for signing up. Your account is ready.</p>\
             <p>{{ friendly_name | default: tenant }}</p></body></html>",
        ),
        "mfa_oob_code" => (
            "Verification code for {{ friendly_name | default: tenant }}",
            "<html><body><p>Hello {{ user.name | default: user.email }},</p>\
             <p>Your verification code is <b>{{ code }}</b>. It expires in 5 minutes.</p>\
             <p>If you did not try to log in, you can ignore this e-mail; someone may know your password.</p>\
             <p>{{ friendly_name | default: tenant }}</p></body></html>",
        ),
        "enrollment_email" => (
            "Set up multi-factor authentication for {{ friendly_name | default: tenant }}",
            "<html><body><p>Hello {{ user.name | default: user.email }},</p>\
             <p>To protect your account, please add a second factor for signing in. Open the link below to set it up.</p>\
             <p><a href=\"{{ link }}\">Set up multi-factor authentication</a></p>\
             <p>The link works once and expires in 5 days. If you did not expect this e-mail, you can ignore it.</p>\
             <p>Thanks!<br>{{ friendly_name | default: tenant }}</p></body></html>",
        ),
        "import_completion" => (
            "Users import job {{ job.id }} {{ job.status }}",
            "<html><body><p>The users import job {{ job.id }} into connection {{ job.connection }} has {{ job.status }}.</p>\
             <p>Total: {{ job.summary.total }}, inserted: {{ job.summary.inserted }}, updated: {{ job.summary.updated }}, failed: {{ job.summary.failed }}.</p></body></html>",
        ),
        _ => return None,
    })
}

/// The tenant's template `name` as stored (`None`: not customised).
pub async fn template(x: &impl Exec, tenant: &str, name: &str) -> Result<Option<Value>, Error> {
    Ok(docs::get(x, tenant, "email_template", name).await?)
}

/// Whether a stored template is switched off (`enabled: false`).
pub fn disabled(t: Option<&Value>) -> bool {
    t.and_then(|t| t.get("enabled")).and_then(Value::as_bool) == Some(false)
}

/// What every template sees: the tenant's names (`friendly_name`, `support_email`, …) and
/// `tenant`, with `extra` (`user`, `url`, `application`, …) on top.
pub async fn variables(x: &impl Exec, tenant: &str, extra: Value) -> Result<Value, Error> {
    let settings = docs::get(x, tenant, tenants::SETTINGS_KIND, tenants::SETTINGS_ID)
        .await?
        .unwrap_or(Value::Null);
    let mut vars = json!({ "tenant": tenant });
    for k in [
        "friendly_name",
        "support_email",
        "support_url",
        "picture_url",
    ] {
        if let Some(v) = settings.get(k) {
            vars[k] = v.clone();
        }
    }
    if let (Value::Object(vars), Value::Object(extra)) = (&mut vars, extra) {
        vars.extend(extra);
    }
    Ok(vars)
}

fn liquid_error(what: &str, e: &liquid::Error) -> Error {
    Error::bad_body(format!(
        "The e-mail template's {what} is not valid Liquid: {e}"
    ))
}

/// The variables Auth0's templates may use, each present (`null` when unknown): the `liquid`
/// crate refuses an unknown variable where Auth0 renders nothing.
const KNOWN: &[&str] = &[
    "application",
    "connection",
    "organization",
    "user",
    "url",
    "tenant",
    "friendly_name",
    "support_email",
    "support_url",
    "picture_url",
    "lang",
    "job",
    "code",
    "link",
];

/// Renders Liquid `source` with `vars` (an object; the known variables it lacks are `null`).
pub fn render_str(source: &str, vars: &Value, what: &str) -> Result<String, Error> {
    let mut vars = vars.clone();
    if let Value::Object(o) = &mut vars {
        for k in KNOWN {
            if !o.contains_key(*k) {
                o.insert((*k).to_owned(), Value::Null);
            }
        }
        for (k, fields) in [
            ("application", &["name", "clientID"][..]),
            ("connection", &["name"][..]),
            ("organization", &["id", "name", "display_name"][..]),
            (
                "user",
                &[
                    "email",
                    "name",
                    "nickname",
                    "given_name",
                    "family_name",
                    "user_metadata",
                    "app_metadata",
                ][..],
            ),
        ] {
            if !o.get(k).is_some_and(Value::is_object) {
                o.insert(k.to_owned(), json!({}));
            }
            if let Some(Value::Object(inner)) = o.get_mut(k) {
                for f in fields {
                    inner.entry((*f).to_owned()).or_insert(Value::Null);
                }
            }
        }
    }
    let vars = &vars;
    let parser = liquid::ParserBuilder::with_stdlib()
        .build()
        .map_err(|e| liquid_error(what, &e))?;
    let tpl = parser.parse(source).map_err(|e| liquid_error(what, &e))?;
    let globals: liquid::Object = match liquid::model::to_value(vars) {
        Ok(liquid::model::Value::Object(o)) => o,
        _ => liquid::Object::new(),
    };
    tpl.render(&globals).map_err(|e| liquid_error(what, &e))
}

/// The message template `name` makes for `to` with `vars` (see [`variables`]): the tenant's
/// template when customised, Auth0's default text otherwise. `None` when the tenant switched the
/// template off.
pub fn render(
    name: &str,
    stored: Option<&Value>,
    to: &str,
    vars: &Value,
) -> Result<Option<Message>, Error> {
    if disabled(stored) {
        return Ok(None);
    }
    let (default_subject, default_body) = default_template(name).unwrap_or(("", ""));
    let field = |k: &str| {
        stored
            .and_then(|t| t.get(k))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let subject = render_str(field("subject").unwrap_or(default_subject), vars, "subject")?;
    let html = render_str(field("body").unwrap_or(default_body), vars, "body")?;
    let from = match field("from") {
        Some(f) => render_str(f, vars, "from")?,
        None => String::new(),
    };
    Ok(Some(Message {
        from,
        to: to.to_owned(),
        subject,
        html,
    }))
}

/// Puts a message in the outbox, in the caller's transaction: an acknowledged request never
/// loses its mail.
pub async fn enqueue(x: &impl Exec, tenant: &str, msg: &Message) -> Result<String, Error> {
    let payload = serde_json::to_value(msg).map_err(|e| Error::Internal(e.into()))?;
    Ok(gatehouse_store::queue::enqueue(
        x,
        tenant,
        KIND,
        &msg.to,
        &payload,
        std::time::Duration::ZERO,
    )
    .await?)
}

/// The queue handler of [`KIND`]: sends each message; a failure worth retrying puts it back
/// with an exponential delay, a permanent one (or too many attempts) drops it with a warning.
pub fn deliver(
    state: crate::state::AppState,
    items: Vec<gatehouse_store::queue::Item>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
    Box::pin(async move {
        use gatehouse_store::queue;
        for item in items {
            let tenant = item.tenant.as_str();
            let outcome = match serde_json::from_value::<Message>(item.payload.clone()) {
                Err(e) => Err(smtp::SendError {
                    message: format!("unreadable outbox item: {e}"),
                    retry: false,
                }),
                Ok(msg) => match smtp::settings(&state.db, tenant, &state.smtp).await {
                    Ok(Some(s)) => smtp::send(&s, &msg).await,
                    Ok(None) => Err(smtp::SendError {
                        message: "no SMTP e-mail provider is configured".into(),
                        retry: true,
                    }),
                    Err(e) => Err(smtp::SendError {
                        message: format!("SMTP settings: {e}"),
                        retry: true,
                    }),
                },
            };
            let settled = match outcome {
                Ok(()) => queue::done(&state.db, tenant, &item.id).await,
                Err(e) if e.retry && item.attempts + 1 < MAX_ATTEMPTS => {
                    let delay = queue::backoff(
                        std::time::Duration::from_secs(1),
                        item.attempts,
                        std::time::Duration::from_secs(3 * 3600),
                    );
                    tracing::info!(id = %item.id, attempts = item.attempts + 1, error = %e.message, "e-mail not sent yet; will retry");
                    queue::retry(&state.db, tenant, &item.id, delay, &e.message).await
                }
                Err(e) => {
                    tracing::warn!(id = %item.id, error = %e.message, "e-mail given up");
                    queue::done(&state.db, tenant, &item.id).await
                }
            };
            if let Err(e) = settled {
                tracing::warn!(error = %e, "could not settle an outbox item");
            }
        }
    })
}

/// The user fields a template may show (`user.email`, `user.name`, metadata, …).
pub fn user_vars(u: &gatehouse_store::users::UserRow) -> Value {
    json!({
        "user_id": u.user_id,
        "email": u.email,
        "email_verified": u.email_verified,
        "name": u.name,
        "nickname": u.nickname,
        "given_name": u.given_name,
        "family_name": u.family_name,
        "username": u.username,
        "phone_number": u.phone_number,
        "connection": u.connection,
        "user_metadata": u.user_metadata.clone().unwrap_or_else(|| json!({})),
        "app_metadata": u.app_metadata.clone().unwrap_or_else(|| json!({})),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_liquid_and_defaults() {
        let vars = json!({"user": {"email": "a@b.c", "name": null}, "url": "https://x/y?t=1&u=2", "tenant": "t"});
        let m = render("verify_email", None, "a@b.c", &vars)
            .unwrap()
            .unwrap();
        assert_eq!(m.subject, "Verify your email");
        assert!(m.html.contains("https://x/y?t=1&u=2"), "{}", m.html);
        assert!(m.html.contains("Hello a@b.c"));
        let custom = json!({"subject": "Hi {{ user.email | upcase }}", "body": "<a href='{{url}}'>go</a>", "from": "me@x.y", "enabled": true});
        let m = render("verify_email", Some(&custom), "a@b.c", &vars)
            .unwrap()
            .unwrap();
        assert_eq!(
            (m.subject.as_str(), m.from.as_str()),
            ("Hi A@B.C", "me@x.y")
        );
        let off = json!({"enabled": false});
        assert!(
            render("verify_email", Some(&off), "a@b.c", &vars)
                .unwrap()
                .is_none()
        );
        let broken = json!({"body": "{% if %}"});
        assert!(render("verify_email", Some(&broken), "a@b.c", &vars).is_err());
    }
}
