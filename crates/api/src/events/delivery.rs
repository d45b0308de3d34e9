//! Delivering events to the streams' webhooks, and the operations on deliveries: the list of a
//! stream's failed deliveries, one delivery's history, redelivery of one or many, test events.
//!
//! A delivery POSTs the CloudEvent (with `a0stream`) as JSON to the stream's endpoint with the
//! stream's authorization: `Authorization: Bearer <token>`, `Authorization: Basic
//! <username:password>`, or the custom header. A 2xx answer delivers it; anything else is a
//! failed attempt, retried with exponential backoff ([`EventsConfig`]: Auth0 retries 12 times)
//! until the attempts run out, when the delivery stays `failed`. Auth0's auto-disable: a stream
//! whose deliveries failed 500 times in a row, or that holds 5000 failed deliveries, is
//! disabled; the Redelivery API still reaches it.
//!
//! [`EventsConfig`]: super::EventsConfig

use std::{future::Future, pin::Pin, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Map, Value, json};

use gatehouse_actions::{Outcome as ActionOutcome, Trigger};
use gatehouse_core::{Error, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    Db, docs,
    event_streams::{self, Attempt, Delivery, DeliveryFilter, Event},
    queue::{self, Item},
};

use super::{KIND as QUEUE_KIND, str_of, streams};
use crate::{
    spine::{Ctx, Input, Registry, Reply},
    state::AppState,
    webhooks::Outcome,
    worker::Kind,
};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetEventDeliveries, list);
    reg.add(Op::GetDeliveriesByEventId, get);
    reg.add(Op::PostRedeliver, redeliver_many);
    reg.add(Op::PostRedeliverByEventId, redeliver_one);
    reg.add(Op::PostTestEvent, test);
}

/// The worker's kind of event deliveries: each item is one event for one stream.
pub const KIND: Kind = Kind {
    name: QUEUE_KIND,
    handler: handle,
    batch: 32,
    lease: Duration::from_secs(60),
};

fn handle(state: AppState, items: Vec<Item>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        futures::future::join_all(items.iter().map(|i| settle(&state, i))).await;
    })
}

/// Delivers one item and settles it; a failure of the server itself puts it back for later.
async fn settle(state: &AppState, item: &Item) {
    if let Err(e) = attempt(state, item).await {
        tracing::warn!(error = %e, stream = %item.target, "an event delivery could not be settled");
        let delay = backoff(state, item.attempts + 1);
        if let Err(e) = queue::retry(&state.db, &item.tenant, &item.id, delay, "server error").await
        {
            tracing::warn!(error = %e, "an event delivery could not be put back");
        }
    }
}

/// The wait before retry number `n` (1 for the first): doubling from the webhooks'
/// `retry_base`, at most an hour.
fn backoff(state: &AppState, n: i64) -> Duration {
    queue::backoff(
        state.webhooks.retry_base(),
        n - 1,
        Duration::from_secs(3600),
    )
}

/// One attempt of the item's delivery, recorded, and the item settled (done, or retried).
async fn attempt(state: &AppState, item: &Item) -> Result<(), Error> {
    let db = &state.db;
    let (tenant, stream_id) = (item.tenant.as_str(), item.target.as_str());
    let event_id = str_of(&item.payload, "event_id");
    let redelivery = item
        .payload
        .get("redelivery")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let stream = docs::get(db, tenant, streams::KIND, stream_id).await?;
    let event = event_streams::find_event(db, tenant, event_id).await?;
    let (Some(stream), Some(event)) = (stream, event) else {
        queue::done(db, tenant, &item.id).await?;
        return Ok(());
    };
    // A disabled stream gets no events; its deliveries stay as they are (the Redelivery API
    // reaches it all the same).
    if str_of(&stream, "status") != "enabled" && !redelivery {
        queue::done(db, tenant, &item.id).await?;
        return Ok(());
    }
    let outcome = send(state, tenant, &stream, &event).await;
    let cfg = &state.events.config;
    let tx = db.begin().await?;
    let now = time::now();
    if outcome.ok() {
        let a = Attempt {
            status: "delivered".into(),
            at: now,
            error_message: None,
        };
        event_streams::record_attempt(&tx, tenant, stream_id, event_id, &a).await?;
        event_streams::note_success(&tx, tenant, stream_id).await?;
        queue::done(&tx, tenant, &item.id).await?;
        tx.commit().await?;
        return Ok(());
    }
    let why = outcome.describe();
    let a = Attempt {
        status: "failed".into(),
        at: now.clone(),
        error_message: Some(why.clone()),
    };
    event_streams::record_attempt(&tx, tenant, stream_id, event_id, &a).await?;
    let attempts = item.attempts + 1;
    if attempts < cfg.max_attempts {
        queue::retry(&tx, tenant, &item.id, backoff(state, attempts), &why).await?;
        tx.commit().await?;
        return Ok(());
    }
    queue::done(&tx, tenant, &item.id).await?;
    let in_a_row = event_streams::note_failure(&tx, tenant, stream_id).await?;
    let failed = event_streams::count_failed(&tx, tenant, stream_id).await?;
    let mut disabled = false;
    if (in_a_row >= cfg.disable_after_consecutive || failed >= cfg.disable_after_total)
        && let Some(mut s) = docs::lock(&tx, tenant, streams::KIND, stream_id).await?
        && str_of(&s, "status") == "enabled"
        && let Value::Object(o) = &mut s
    {
        o.insert("status".into(), json!("disabled"));
        o.insert("updated_at".into(), json!(now));
        docs::put(&tx, tenant, streams::KIND, stream_id, &s, &now).await?;
        disabled = true;
    }
    tx.commit().await?;
    if disabled {
        tracing::warn!(
            tenant,
            stream = stream_id,
            in_a_row,
            failed,
            "an event stream was disabled after failed deliveries"
        );
        state.events.invalidate(tenant);
    }
    Ok(())
}

/// POSTs the event to the stream's webhook with its authorization (never logged), or runs the
/// stream's action.
async fn send(state: &AppState, tenant: &str, stream: &Value, event: &Event) -> Outcome {
    let Some(conf) = stream.pointer("/destination/configuration") else {
        return Outcome::Unreachable("the stream has no destination".into());
    };
    let mut message = event.body.clone();
    if let Value::Object(o) = &mut message {
        o.insert("a0stream".into(), json!(str_of(stream, "id")));
    }
    match streams::destination_type(stream) {
        "webhook" => {}
        "action" => return run_action(state, tenant, conf, message).await,
        other => {
            return Outcome::Unreachable(format!(
                "events are not delivered to {other} destinations by this server"
            ));
        }
    }
    let url = str_of(conf, "webhook_endpoint");
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(auth) = conf.get("webhook_authorization") {
        match str_of(auth, "method") {
            "bearer" => headers.push((
                "authorization".into(),
                format!("Bearer {}", str_of(auth, "token")),
            )),
            "basic" => headers.push((
                "authorization".into(),
                format!(
                    "Basic {}",
                    STANDARD.encode(format!(
                        "{}:{}",
                        str_of(auth, "username"),
                        str_of(auth, "password")
                    ))
                ),
            )),
            "custom_header" => headers.push((
                str_of(auth, "header_key").to_owned(),
                str_of(auth, "header_value").to_owned(),
            )),
            _ => {}
        }
    }
    let bytes = serde_json::to_vec(&message).unwrap_or_default();
    state.webhooks.post(url, &headers, bytes).await
}

/// Runs the destination's action with `event.message` the CloudEvent: it delivered the event
/// unless it threw (or timed out, or had nothing deployed).
async fn run_action(state: &AppState, tenant: &str, conf: &Value, message: Value) -> Outcome {
    let action_id = str_of(conf, "action_id");
    let event = json!({ "message": message });
    let ran = state
        .actions
        .run_deployed(&state.db, tenant, action_id, Trigger::EventStream, event)
        .await;
    match ran {
        Ok(Ok(ex)) => match ex.outcome {
            ActionOutcome::Ok => Outcome::Delivered(200),
            ActionOutcome::Error { name, message, .. } => {
                Outcome::Unreachable(format!("the action failed: {name}: {message}"))
            }
            ActionOutcome::Timeout => Outcome::Unreachable("the action timed out".into()),
            ActionOutcome::OutOfMemory => {
                Outcome::Unreachable("the action ran out of memory".into())
            }
            ActionOutcome::NoHandler => {
                Outcome::Unreachable("the action does not export onExecuteEventStream".into())
            }
        },
        Ok(Err(why)) => Outcome::Unreachable(why),
        Err(e) => Outcome::Unreachable(format!("the action could not run: {e}")),
    }
}

// ---- the operations ------------------------------------------------------------------------

/// A delivery as the API shows it; the event's `data` as JSON text, as the spec has it.
fn view(d: &Delivery, event: Option<&Event>) -> Value {
    let attempts: Vec<Value> = d
        .attempts
        .iter()
        .map(|a| {
            let mut m = Map::new();
            m.insert("status".into(), json!(a.status));
            m.insert("timestamp".into(), json!(a.at));
            if let Some(e) = &a.error_message {
                m.insert("error_message".into(), json!(e));
            }
            Value::Object(m)
        })
        .collect();
    let mut out = json!({
        "id": d.event_id,
        "event_stream_id": d.stream_id,
        "status": d.status,
        "event_type": d.event_type,
        "attempts": attempts,
    });
    if let (Some(e), Value::Object(o)) = (event, &mut out) {
        let b = &e.body;
        let data = b
            .get("data")
            .map(|d| serde_json::to_string(d).unwrap_or_default())
            .unwrap_or_default();
        o.insert(
            "event".into(),
            json!({
                "id": e.id,
                "source": b.get("source"),
                "specversion": b.get("specversion"),
                "type": e.event_type,
                "time": e.created_at,
                "data": data,
            }),
        );
    }
    out
}

async fn events_of(db: &Db, tenant: &str, ds: &[Delivery]) -> Result<Vec<Option<Event>>, Error> {
    let mut out = Vec::with_capacity(ds.len());
    for d in ds {
        out.push(event_streams::find_event(db, tenant, &d.event_id).await?);
    }
    Ok(out)
}

/// A `date_from`/`date_to` as microseconds since the epoch.
fn micros_of(v: &str, name: &str) -> Result<i64, Error> {
    let t = ::time::OffsetDateTime::parse(v, &::time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            Error::InvalidQueryString(
                format!("Invalid {name}: expected an ISO 8601 date-time.").into(),
            )
        })?;
    i64::try_from(t.unix_timestamp_nanos() / 1000)
        .map_err(|_| Error::InvalidQueryString(format!("Invalid {name}.").into()))
}

/// The filter of a list or a redelivery, from strings (a query's or a body's).
fn filter_of(
    statuses: Vec<String>,
    event_types: Vec<String>,
    date_from: Option<&str>,
    date_to: Option<&str>,
) -> Result<DeliveryFilter, Error> {
    Ok(DeliveryFilter {
        statuses: if statuses.is_empty() {
            vec!["failed".into()]
        } else {
            statuses
        },
        event_types,
        from_seq: date_from.map(|d| micros_of(d, "date_from")).transpose()?,
        to_seq: date_to.map(|d| micros_of(d, "date_to")).transpose()?,
        after: None,
        limit: 50,
    })
}

/// `GET /event-streams/{id}/deliveries`: the stream's failed deliveries, oldest first; `from`
/// is the event id after which a page starts.
async fn list(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    streams::STREAMS.load(&ctx, id).await?;
    let q = &input.query;
    let mut f = filter_of(
        q.list("statuses").unwrap_or_default(),
        q.list("event_types").unwrap_or_default(),
        q.get("date_from"),
        q.get("date_to"),
    )?;
    f.limit = q.i64("take").unwrap_or(50).clamp(1, 100);
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    if let Some(from) = q.get("from") {
        let d = event_streams::find_delivery(db, tenant, id, from)
            .await?
            .ok_or_else(|| Error::InvalidQueryString("Invalid from: no such delivery.".into()))?;
        f.after = Some(d.seq);
    }
    let ds = event_streams::list_deliveries(db, tenant, id, &f).await?;
    let events = events_of(db, tenant, &ds).await?;
    Ok(Reply::json(Value::Array(
        ds.iter()
            .zip(events.iter())
            .map(|(d, e)| view(d, e.as_ref()))
            .collect(),
    )))
}

fn no_delivery() -> Error {
    Error::NotFound("Event delivery not found".into())
}

async fn get(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    streams::STREAMS.load(&ctx, id).await?;
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let d = event_streams::find_delivery(db, tenant, id, input.path("event_id"))
        .await?
        .ok_or_else(no_delivery)?;
    let e = event_streams::find_event(db, tenant, &d.event_id).await?;
    Ok(Reply::json(view(&d, e.as_ref())))
}

/// Queues deliveries again (whatever the stream's status), each with its attempts anew.
async fn requeue(ctx: &Ctx, stream: &str, event_ids: &[String]) -> Result<(), Error> {
    let tx = ctx.db().begin().await?;
    for e in event_ids {
        queue::enqueue(
            &tx,
            ctx.tenant_id(),
            QUEUE_KIND,
            stream,
            &json!({ "event_id": e, "redelivery": true }),
            Duration::ZERO,
        )
        .await?;
    }
    tx.commit().await?;
    ctx.state.worker.wake(QUEUE_KIND);
    Ok(())
}

/// `POST /event-streams/{id}/redeliver`: every failed delivery the filters keep; answers the
/// filters.
async fn redeliver_many(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    streams::STREAMS.load(&ctx, id).await?;
    let b = &input.body;
    // A date the body gets wrong is the body's error.
    let mut f = filter_of(
        input.body_strings("statuses"),
        input.body_strings("event_types"),
        b.get("date_from").and_then(Value::as_str),
        b.get("date_to").and_then(Value::as_str),
    )
    .map_err(|e| Error::bad_body(e.public_message()))?;
    f.limit = 10_000;
    let ds = event_streams::list_deliveries(ctx.db(), ctx.tenant_id(), id, &f).await?;
    let ids: Vec<String> = ds.into_iter().map(|d| d.event_id).collect();
    requeue(&ctx, id, &ids).await?;
    let mut out = Map::new();
    for k in ["date_from", "date_to", "statuses", "event_types"] {
        if let Some(v) = b.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    Ok(Reply::json(Value::Object(out)))
}

/// `POST /event-streams/{id}/redeliver/{event_id}`.
async fn redeliver_one(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    streams::STREAMS.load(&ctx, id).await?;
    let event_id = input.path("event_id");
    event_streams::find_delivery(ctx.db(), ctx.tenant_id(), id, event_id)
        .await?
        .ok_or_else(no_delivery)?;
    requeue(&ctx, id, &[event_id.to_owned()]).await?;
    Ok(Reply::empty())
}

/// `POST /event-streams/{id}/test`: an event of the type asked (`a0purpose: "test"`, the
/// body's `data` as its data) delivered to this stream only. The first attempt is made before
/// the answer, which shows it; retries follow as for any delivery.
async fn test(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    streams::STREAMS.load(&ctx, id).await?;
    let tenant = ctx.tenant_id();
    let event_type = str_of(&input.body, "event_type").to_owned();
    let data = input
        .body
        .get("data")
        .cloned()
        .unwrap_or_else(|| json!({ "object": {} }));
    let event = super::new_event(&ctx, &event_type, data, true);
    let tx = ctx.db().begin().await?;
    event_streams::insert_event(&tx, tenant, &event).await?;
    event_streams::insert_delivery(&tx, tenant, id, &event).await?;
    // Due only later: the worker leaves it to this request unless the request dies.
    let item_id = queue::enqueue(
        &tx,
        tenant,
        QUEUE_KIND,
        id,
        &json!({ "event_id": event.id }),
        Duration::from_secs(30),
    )
    .await?;
    tx.commit().await?;
    let item = Item {
        tenant: tenant.to_owned(),
        id: item_id,
        kind: QUEUE_KIND.to_owned(),
        target: id.to_owned(),
        payload: json!({ "event_id": event.id }),
        attempts: 0,
    };
    attempt(&ctx.state, &item).await?;
    let d = event_streams::find_delivery(ctx.db(), tenant, id, &event.id)
        .await?
        .ok_or_else(no_delivery)?;
    Ok(Reply::json(view(&d, Some(&event))))
}
