//! Tag `branding`, phone notifications: the tenant's phone provider (one per tenant: a second
//! answers 409; its credentials are written, never shown) and the phone notification templates
//! (one per `tem_` id; `type` is fixed at creation, PATCH merges the content, `reset` restores
//! this server's default content for the type).
//!
//! Gatehouse sends no SMS and places no calls, so the two `try` operations never report a
//! delivery: once the provider or template is found they answer 400 `operation_not_supported`
//! (the spec's error status for a request the server refuses), never a pretended 202.

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{Page, Tx, atomically, docs};

use super::{DOC, Doc, Merge, merge};
use crate::spine::{Ctx, Input, Registry, Reply};

/// The templates are documents keyed by their id, stored as shown (with their tenant): reading
/// one is the descriptor's.
pub static DOCS: &[Doc] = &[Doc {
    kind: TEMPLATE_KIND,
    key: &["id"],
    get: Some(Op::GetPhoneTemplate),
    missing: no_template,
    ..DOC
}];

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetBrandingPhoneProviders, list_providers);
    reg.add(Op::CreatePhoneProvider, create_provider);
    reg.add(Op::GetPhoneProvider, get_provider);
    reg.add(Op::UpdatePhoneProvider, update_provider);
    reg.add(Op::DeletePhoneProvider, delete_provider);
    reg.add(Op::TryPhoneProvider, try_provider);
    reg.add(Op::GetPhoneTemplates, list_templates);
    reg.add(Op::CreatePhoneTemplate, create_template);
    reg.add(Op::UpdatePhoneTemplate, update_template);
    reg.add(Op::DeletePhoneTemplate, delete_template);
    reg.add(Op::ResetPhoneTemplate, reset_template);
    reg.add(Op::TryPhoneTemplate, try_template);
}

/// The answer of both `try` operations: nothing can be delivered from here.
fn no_delivery() -> Error {
    Error::OperationNotSupported(
        "This server does not deliver phone notifications: no test message was sent.".into(),
    )
}

/// Whether `query`'s `disabled` (when given) admits a document.
fn disabled_matches(doc: &Value, input: &Input) -> bool {
    input
        .query
        .bool("disabled")
        .is_none_or(|want| doc.get("disabled").and_then(Value::as_bool) == Some(want))
}

// ---- the provider ---------------------------------------------------------------------------

/// The tenant's one provider, stored with its `pro_` id (one document, so that "one per tenant"
/// is one row to lock).
const PROVIDER: (&str, &str) = ("phone_provider", "provider");

/// Not recorded: Auth0's style for this family (its recorded 400 has no errorCode).
fn no_provider() -> Error {
    Error::NotFound("The phone provider does not exist".into())
}

/// Not recorded; the spec lists 409 for a second provider.
fn provider_exists() -> Error {
    Error::conflict(
        "conflict",
        "A phone provider is already configured for this tenant",
    )
}

/// Recorded (TestAccCheckPhoneProvider#1): Twilio needs a sender, a number or a messaging
/// service; the answer has no errorCode.
fn check_provider(p: &Map<String, Value>) -> Result<(), Error> {
    let has = |k: &str| {
        p.get("configuration")
            .and_then(|c| c.get(k))
            .is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty()))
    };
    if p.get("name").and_then(Value::as_str) == Some("twilio")
        && !has("default_from")
        && !has("mssid")
    {
        return Err(Error::BadRequestPlain(
            "Bad Operation on Notification Resource".into(),
        ));
    }
    Ok(())
}

/// The provider as shown: its tenant added, its credentials taken out.
fn shown_provider(mut p: Value, tenant: &str) -> Value {
    if let Value::Object(o) = &mut p {
        o.remove("credentials");
        o.insert("tenant".into(), json!(tenant));
    }
    p
}

/// The stored provider (`None`: the tenant has none).
async fn provider(ctx: &Ctx) -> Result<Option<Value>, Error> {
    let (kind, key) = PROVIDER;
    Ok(docs::get(ctx.db(), ctx.tenant_id(), kind, key)
        .await?
        .filter(|p| p.get("id").is_some()))
}

/// The stored provider when `id` names it, locked until the transaction ends.
async fn lock_provider(tx: &Tx, tenant: &str, id: &str) -> Result<Map<String, Value>, Error> {
    let (kind, key) = PROVIDER;
    match docs::lock(tx, tenant, kind, key).await? {
        Some(Value::Object(p)) if p.get("id") == Some(&json!(id)) => Ok(p),
        _ => Err(no_provider()),
    }
}

async fn list_providers(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let providers: Vec<Value> = provider(&ctx)
        .await?
        .filter(|p| disabled_matches(p, &input))
        .map(|p| shown_provider(p, ctx.tenant_id()))
        .into_iter()
        .collect();
    Ok(Reply::json(json!({ "providers": providers })))
}

async fn create_provider(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let body = input.body_object();
    check_provider(&body)?;
    let (kind, key) = PROVIDER;
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let body = &body;
    let made = atomically(|| async move {
        let tx = db.begin().await?;
        let now = time::now();
        // Made as a placeholder when there is none: the lock makes "only one" hold between
        // concurrent creations; a provider already there is a conflict.
        let current = docs::lock_or_create(&tx, tenant, kind, key, &json!({}), &now).await?;
        if current.get("id").is_some() {
            return Err(provider_exists());
        }
        let mut p = Map::new();
        p.insert("id".into(), json!(ids::prefixed("pro", 22)));
        p.insert(
            "name".into(),
            body.get("name").cloned().unwrap_or(Value::Null),
        );
        p.insert("channel".into(), json!("phone"));
        let disabled = body.get("disabled").cloned().unwrap_or(json!(false));
        p.insert("disabled".into(), disabled);
        for k in ["configuration", "credentials"] {
            if let Some(v) = body.get(k) {
                p.insert(k.into(), v.clone());
            }
        }
        p.insert("created_at".into(), json!(now));
        p.insert("updated_at".into(), json!(now));
        let p = Value::Object(p);
        docs::put(&tx, tenant, kind, key, &p, &now).await?;
        tx.commit().await?;
        Ok::<_, Error>(p)
    })
    .await?;
    Ok(Reply::with_status(201, shown_provider(made, tenant)))
}

async fn get_provider(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let p = provider(&ctx)
        .await?
        .filter(|p| p.get("id") == Some(&json!(input.path("id"))))
        .ok_or_else(no_provider)?;
    Ok(Reply::json(shown_provider(p, ctx.tenant_id())))
}

/// PATCH replaces each field it gives, `configuration` and `credentials` whole (recorded:
/// TestAccDataPhoneProvider#8 drops the Twilio settings).
async fn update_provider(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (kind, key) = PROVIDER;
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let body = &input.body_object();
    let p = atomically(|| async move {
        let tx = db.begin().await?;
        let mut p = lock_provider(&tx, tenant, id).await?;
        for k in ["name", "disabled", "configuration", "credentials"] {
            if let Some(v) = body.get(k) {
                p.insert(k.into(), v.clone());
            }
        }
        check_provider(&p)?;
        let now = time::now();
        p.insert("updated_at".into(), json!(now));
        let p = Value::Object(p);
        docs::put(&tx, tenant, kind, key, &p, &now).await?;
        tx.commit().await?;
        Ok::<_, Error>(p)
    })
    .await?;
    Ok(Reply::json(shown_provider(p, tenant)))
}

async fn delete_provider(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (kind, key) = PROVIDER;
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    atomically(|| async move {
        let tx = db.begin().await?;
        lock_provider(&tx, tenant, id).await?;
        docs::delete(&tx, tenant, kind, key).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

async fn try_provider(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    provider(&ctx)
        .await?
        .filter(|p| p.get("id") == Some(&json!(input.path("id"))))
        .ok_or_else(no_provider)?;
    Err(no_delivery())
}

// ---- the templates --------------------------------------------------------------------------

const TEMPLATE_KIND: &str = "phone_template";

/// Not recorded: Auth0's style for this family.
fn no_template() -> Error {
    Error::NotFound("The phone notification template does not exist".into())
}

/// The content a template of `kind` starts from, and returns to on `reset`. This server's own
/// wording (Auth0's default texts are not reproduced); Liquid, as Auth0's templates are.
fn default_content(kind: &str) -> Value {
    let (text, voice) = match kind {
        "otp_verify" => (
            "{{ code }} is your verification code for {{ friendly_name }}.",
            "Your verification code for {{ friendly_name }} is {{ code }}.",
        ),
        "otp_enroll" => (
            "{{ code }} is your code to finish setting up {{ friendly_name }} sign-in on this phone.",
            "Your code to finish setting up {{ friendly_name }} sign-in on this phone is {{ code }}.",
        ),
        "change_password" => (
            "The password of your {{ friendly_name }} account was just changed.",
            "The password of your {{ friendly_name }} account was just changed.",
        ),
        "blocked_account" => (
            "Your {{ friendly_name }} account is blocked after repeated failed log-ins.",
            "Your {{ friendly_name }} account is blocked after repeated failed log-ins.",
        ),
        _ => (
            "Your {{ friendly_name }} password was found in a data breach. Please change it.",
            "Your {{ friendly_name }} password was found in a data breach. Please change it.",
        ),
    };
    json!({ "syntax": "liquid", "body": { "text": text, "voice": voice } })
}

/// The template, locked until the transaction ends.
async fn lock_template(tx: &Tx, tenant: &str, id: &str) -> Result<Map<String, Value>, Error> {
    match docs::lock(tx, tenant, TEMPLATE_KIND, id).await? {
        Some(Value::Object(t)) => Ok(t),
        _ => Err(no_template()),
    }
}

/// Applies `change` to the locked template `id`, stamps `updated_at` and stores it.
async fn rewrite_template(
    ctx: &Ctx,
    id: &str,
    change: &(dyn Fn(&mut Map<String, Value>) + Sync),
) -> Result<Value, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    atomically(|| async move {
        let tx = db.begin().await?;
        let mut t = lock_template(&tx, tenant, id).await?;
        change(&mut t);
        let now = time::now();
        t.insert("updated_at".into(), json!(now));
        let t = Value::Object(t);
        docs::put(&tx, tenant, TEMPLATE_KIND, id, &t, &now).await?;
        tx.commit().await?;
        Ok::<_, Error>(t)
    })
    .await
}

/// Templates are few (a handful of types); the list has no paging in Auth0.
const MAX_TEMPLATES: i64 = 10_000;

async fn list_templates(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let page = Page {
        offset: 0,
        limit: MAX_TEMPLATES,
    };
    let (all, _) = docs::list(ctx.db(), ctx.tenant_id(), TEMPLATE_KIND, page).await?;
    let templates: Vec<Value> = all
        .into_iter()
        .filter(|t| disabled_matches(t, &input))
        .collect();
    Ok(Reply::json(json!({ "templates": templates })))
}

/// `type` is required (the spec leaves it optional, but a template is of one type); what the
/// content does not give comes from the type's default content; `syntax` is always `liquid`.
async fn create_template(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let body = input.body_object();
    let Some(kind) = body.get("type").and_then(Value::as_str) else {
        return Err(Error::bad_body(
            "Payload validation error: 'Missing required property: type'.",
        ));
    };
    let mut content = default_content(kind);
    if let Some(given) = body.get("content") {
        merge(&mut content, given, Merge::Deep);
    }
    content["syntax"] = json!("liquid");
    let (tenant, now) = (ctx.tenant_id(), time::now());
    let id = ids::prefixed("tem", 22);
    let t = json!({
        "id": id,
        "tenant": tenant,
        "channel": "phone",
        "type": kind,
        "disabled": body.get("disabled").cloned().unwrap_or(json!(false)),
        "created_at": now,
        "updated_at": now,
        "content": content,
    });
    docs::put(ctx.db(), tenant, TEMPLATE_KIND, &id, &t, &now).await?;
    Ok(Reply::with_status(201, t))
}

/// PATCH merges `content` (body texts one by one) and sets `disabled`; `type` cannot change.
async fn update_template(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let body = input.body_object();
    let change = |t: &mut Map<String, Value>| {
        if let Some(given) = body.get("content") {
            let content = t.entry("content").or_insert_with(|| json!({}));
            merge(content, given, Merge::Deep);
        }
        if let Some(d) = body.get("disabled") {
            t.insert("disabled".into(), d.clone());
        }
    };
    let t = rewrite_template(&ctx, input.path("id"), &change).await?;
    Ok(Reply::json(t))
}

/// The default content of the template's type comes back (`from` included: it goes); the
/// template stays enabled or disabled as it was.
async fn reset_template(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let change = |t: &mut Map<String, Value>| {
        let kind = t.get("type").and_then(Value::as_str).unwrap_or_default();
        let content = default_content(kind);
        t.insert("content".into(), content);
    };
    let t = rewrite_template(&ctx, input.path("id"), &change).await?;
    Ok(Reply::json(t))
}

async fn delete_template(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let gone = docs::delete(ctx.db(), ctx.tenant_id(), TEMPLATE_KIND, input.path("id")).await?;
    if !gone {
        return Err(no_template());
    }
    Ok(Reply::empty())
}

async fn try_template(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    docs::get(ctx.db(), ctx.tenant_id(), TEMPLATE_KIND, input.path("id"))
        .await?
        .ok_or_else(no_template)?;
    Err(no_delivery())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_needs_a_sender() {
        let p = |v: Value| v.as_object().cloned().unwrap();
        let no_from = p(json!({"name": "twilio", "configuration": {"sid": "s"}}));
        let err = check_provider(&no_from).unwrap_err();
        assert_eq!(
            err.body(),
            json!({"statusCode": 400, "error": "Bad Request", "message": "Bad Operation on Notification Resource"})
        );
        assert!(
            check_provider(&p(
                json!({"name": "twilio", "configuration": {"mssid": "m"}})
            ))
            .is_ok()
        );
        assert!(check_provider(&p(json!({"name": "custom", "configuration": {}}))).is_ok());
    }

    #[test]
    fn every_type_has_default_content() {
        for kind in [
            "otp_verify",
            "otp_enroll",
            "change_password",
            "blocked_account",
            "password_breach",
        ] {
            let c = default_content(kind);
            assert_eq!(c["syntax"], "liquid");
            assert!(c["body"]["text"].as_str().is_some_and(|s| !s.is_empty()));
            assert!(c["body"]["voice"].as_str().is_some_and(|s| !s.is_empty()));
        }
    }
}
