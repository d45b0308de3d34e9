//! Tag `event-streams`: the streams themselves (documents of kind [`KIND`]).
//!
//! As recorded (TestAccEventStream*): a new stream is `enabled` unless the body says otherwise,
//! its id is `est_` and 22 characters, a webhook's credentials (`token`, `password`,
//! `header_value`) are written and never shown, an EventBridge destination shows the partner
//! event source Auth0 made for it, and a PATCH replaces each top-level member it sends. A PATCH
//! that sends the same authorization method without its secret keeps the stored one.
//! Deleting a stream whose destination is an action deletes that action too (recorded:
//! TestAccEventStreamAction, where the action is gone once its stream is).

use serde_json::{Value, json};

use gatehouse_core::{Error, ids};
use gatehouse_spec::Op;
use gatehouse_store::{atomically, docs, event_streams, queue};

use super::{EVENT_TYPES, str_of};
use crate::config::collection::{COLLECTION, Collection, Listing};
use crate::spine::{Ctx, Input, Registry, Reply};

pub const KIND: &str = "event_stream";

/// Where a webhook's credentials are kept: written, never shown.
const SECRETS: &[&str] = &[
    "destination.configuration.webhook_authorization.token",
    "destination.configuration.webhook_authorization.password",
    "destination.configuration.webhook_authorization.header_value",
];

pub static STREAMS: Collection = Collection {
    kind: KIND,
    new_id: stream_id,
    list: Some(Op::GetEventStreams),
    get: Some(Op::GetEventStreamsById),
    listing: Listing::Checkpoint,
    list_key: "eventStreams",
    created: Some(|| json!({ "status": "enabled" })),
    check: Some(check),
    order: &[
        "id",
        "status",
        "name",
        "subscriptions",
        "created_at",
        "updated_at",
        "destination",
    ],
    hidden: SECRETS,
    missing: no_stream,
    valid_id: Some(valid_id),
    written: Some(written),
    ..COLLECTION
};

pub fn register(reg: &mut Registry) {
    STREAMS.register(reg);
    reg.add(Op::PostEventStreams, create);
    reg.add(Op::PatchEventStreamsById, patch);
    reg.add(Op::DeleteEventStreamsById, delete);
}

fn stream_id() -> String {
    format!("est_{}", ids::base58(22))
}

fn no_stream() -> Error {
    Error::NotFound("Event stream not found".into())
}

fn written(ctx: &Ctx) {
    ctx.state.events.invalidate(ctx.tenant_id());
}

/// `est_` and 22 letters or digits (recorded: any other id is a 400 `invalid_uri`).
pub fn valid_id(id: &str) -> Result<(), Error> {
    let ok = id
        .strip_prefix("est_")
        .is_some_and(|r| r.len() == 22 && r.chars().all(|c| c.is_ascii_alphanumeric()));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidUri(
            format!(
                "Path validation error: 'Object didn't pass validation for format event-stream-id: {id}' on property id (Unique identifier for the event stream)."
            )
            .into(),
        ))
    }
}

/// The type of a stream's destination (`webhook`, `eventbridge`, `action`).
pub fn destination_type(s: &Value) -> &str {
    s.pointer("/destination/type")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Whether events are delivered to the stream: enabled, with a destination this server reaches
/// (a webhook, or an action it runs). An EventBridge destination is kept and shown, but
/// Gatehouse holds no AWS partner event source to publish to.
pub fn delivers(s: &Value) -> bool {
    str_of(s, "status") == "enabled" && matches!(destination_type(s), "webhook" | "action")
}

/// The event types a stream subscribes to.
pub fn event_types(s: &Value) -> Vec<String> {
    s.get("subscriptions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| x.get("event_type").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

fn bad(message: String) -> Error {
    Error::bad_body(message)
}

/// The secret each webhook authorization method needs.
fn secret_key(method: &str) -> Option<&'static str> {
    match method {
        "bearer" => Some("token"),
        "basic" => Some("password"),
        "custom_header" => Some("header_value"),
        _ => None,
    }
}

/// Checks a stream about to be stored against the one it replaces.
fn check(next: &mut Value, before: Option<&Value>) -> Result<(), Error> {
    for t in event_types(next) {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(bad(format!(
                "Payload validation error: 'No enum match for: \"{t}\"' on property subscriptions[].event_type."
            )));
        }
    }
    if let Some(b) = before
        && destination_type(b) != destination_type(next)
    {
        return Err(bad(
            "The destination type of an event stream cannot be changed.".into(),
        ));
    }
    if destination_type(next) == "webhook" {
        let prior = before
            .and_then(|b| b.pointer("/destination/configuration/webhook_authorization"))
            .cloned();
        if let Some(auth) = next
            .pointer_mut("/destination/configuration/webhook_authorization")
            .and_then(Value::as_object_mut)
        {
            let method = auth
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if let Some(key) = secret_key(&method)
                && !auth.get(key).is_some_and(Value::is_string)
            {
                // The same method again without its secret: the stored secret stays.
                let kept = prior
                    .as_ref()
                    .filter(|p| str_of(p, "method") == method)
                    .and_then(|p| p.get(key))
                    .cloned();
                match kept {
                    Some(v) => {
                        auth.insert(key.to_owned(), v);
                    }
                    None => {
                        return Err(bad(format!(
                            "Payload validation error: 'Missing required property: {key}' on property destination.configuration.webhook_authorization."
                        )));
                    }
                }
            }
        }
    }
    Ok(())
}

/// An action destination's action must exist.
async fn check_action(ctx: &Ctx, body: &Value) -> Result<(), Error> {
    if destination_type(body) != "action" {
        return Ok(());
    }
    let id = body
        .pointer("/destination/configuration/action_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    crate::actions::ACTIONS.load(ctx, id).await.map(|_| ())
}

async fn create(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let mut body = Value::Object(input.body_object());
    check_action(&ctx, &body).await?;
    if destination_type(&body) == "eventbridge"
        && let Some(conf) = body
            .pointer_mut("/destination/configuration")
            .and_then(Value::as_object_mut)
    {
        // The partner event source Auth0 creates in the AWS account for the stream.
        conf.insert(
            "aws_partner_event_source".into(),
            json!(format!(
                "aws.partner/auth0.com/{}-{}/auth0.events",
                ctx.tenant_id(),
                ids::uuid_v4()
            )),
        );
    }
    let obj = STREAMS.create_object(&ctx, body).await?;
    Ok(Reply::json(STREAMS.shown(obj)))
}

async fn patch(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    let body = input.body.clone();
    check_action(&ctx, &body).await?;
    let enabling = str_of(&body, "status") == "enabled";
    let obj = STREAMS.patch_object(&ctx, id, &body).await?;
    if enabling {
        // A stream enabled again starts a new run of failures.
        event_streams::note_success(ctx.db(), ctx.tenant_id(), id).await?;
    }
    Ok(Reply::json(STREAMS.shown(obj)))
}

/// Deletes the stream, its deliveries and queued work, and its action (if it has one), in one
/// transaction.
async fn delete(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    valid_id(id)?;
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let removed = atomically(|| async move {
        let tx = db.begin().await?;
        let before = docs::lock(&tx, tenant, KIND, id)
            .await?
            .ok_or_else(no_stream)?;
        STREAMS.remove_locked(&tx, tenant, id, &before).await?;
        event_streams::delete_stream(&tx, tenant, id).await?;
        queue::drop_target(&tx, tenant, super::KIND, id).await?;
        if destination_type(&before) == "action"
            && let Some(action) = before
                .pointer("/destination/configuration/action_id")
                .and_then(Value::as_str)
        {
            crate::actions::delete_in(&tx, tenant, action, true).await?;
        }
        tx.commit().await?;
        Ok::<_, Error>(before)
    })
    .await?;
    written(&ctx);
    if destination_type(&removed) == "action" {
        ctx.state.actions.invalidate(tenant);
    }
    Ok(Reply::empty())
}
