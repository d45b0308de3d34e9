//! Tags `event-streams` and `events`: the tenant's event streams ([`streams`]), the events its
//! writes emit ([`emit`]), their delivery to the streams' destinations with attempts, retries and
//! redelivery ([`delivery`]), and the subscription over Server-Sent Events ([`subscribe`]).
//!
//! An event is emitted in the transaction of the write that causes it, so a committed change
//! always has its event: the event is stored, and each enabled stream subscribed to its type
//! gets a delivery and a queue item (kind [`KIND`]) that the worker hands to
//! [`delivery::handle`]. Which streams want which types is cached per tenant for
//! [`SUBSCRIPTIONS_TTL`] (dropped at once on this instance when a stream is written), so a
//! write in a tenant without streams costs no query.

pub mod delivery;
pub mod streams;
pub mod subscribe;

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_store::{
    Exec, Page, docs,
    event_streams::{self, Event},
    queue,
};

use crate::spine::{Ctx, Registry};

/// The queue kind of event deliveries.
pub const KIND: &str = "event_delivery";

/// How long a tenant's subscriptions are cached (what another instance wrote shows after it).
pub const SUBSCRIPTIONS_TTL: Duration = Duration::from_secs(2);

/// The event types Auth0 lists (`EventStreamEventTypeEnum`).
pub const EVENT_TYPES: &[&str] = &[
    "group.created",
    "group.deleted",
    "group.member.added",
    "group.member.deleted",
    "group.role.assigned",
    "group.role.deleted",
    "group.updated",
    "organization.connection.added",
    "organization.connection.removed",
    "organization.connection.updated",
    "organization.created",
    "organization.deleted",
    "organization.group.role.assigned",
    "organization.group.role.deleted",
    "organization.member.added",
    "organization.member.deleted",
    "organization.member.role.assigned",
    "organization.member.role.deleted",
    "organization.updated",
    "user.created",
    "user.deleted",
    "user.updated",
];

/// How many times a delivery is tried and when a failing stream is disabled (the wait between
/// attempts doubles from the webhooks' `retry_base`).
#[derive(Debug, Clone)]
pub struct EventsConfig {
    /// Attempts of one delivery before it stays failed (Auth0: the first and 12 retries).
    pub max_attempts: i64,
    /// Consecutive failed deliveries after which the stream is disabled (Auth0: 500).
    pub disable_after_consecutive: i64,
    /// Failed deliveries after which the stream is disabled (Auth0: 5000).
    pub disable_after_total: i64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            max_attempts: 13,
            disable_after_consecutive: 500,
            disable_after_total: 5000,
        }
    }
}

/// One stream's interest, as `emit` needs it; a `stream_id` of `None` is an open subscription
/// (`GET /events`), which wants every type stored and nothing delivered.
#[derive(Debug, Clone)]
struct Subscriber {
    stream_id: Option<String>,
    types: Vec<String>,
}

impl Subscriber {
    fn wants(&self, event_type: &str) -> bool {
        self.stream_id.is_none() || self.types.iter().any(|t| t == event_type)
    }
}

/// The events machinery of a server: its settings and the subscriptions' cache.
pub struct Events {
    pub config: EventsConfig,
    subscribers: moka::sync::Cache<String, Arc<Vec<Subscriber>>>,
}

impl Events {
    pub fn new(config: &EventsConfig) -> Self {
        Self {
            config: config.clone(),
            subscribers: moka::sync::Cache::builder()
                .time_to_live(SUBSCRIPTIONS_TTL)
                .max_capacity(100_000)
                .build(),
        }
    }

    /// A stream of the tenant was written on this instance.
    pub fn invalidate(&self, tenant: &str) {
        self.subscribers.invalidate(tenant);
    }

    /// The tenant's enabled streams that deliver, from the cache or read with `x`.
    async fn subscribers(
        &self,
        x: &impl Exec,
        tenant: &str,
    ) -> Result<Arc<Vec<Subscriber>>, Error> {
        if let Some(s) = self.subscribers.get(tenant) {
            return Ok(s);
        }
        let all = docs::list(x, tenant, streams::KIND, Page::ALL).await?.0;
        let mut subs: Vec<Subscriber> = all
            .iter()
            .filter(|s| streams::delivers(s))
            .map(|s| Subscriber {
                stream_id: Some(str_of(s, "id").to_owned()),
                types: streams::event_types(s),
            })
            .collect();
        let mark = docs::get(
            x,
            tenant,
            subscribe::LISTENING_KIND,
            subscribe::LISTENING_ID,
        )
        .await?;
        if mark.as_ref().is_some_and(subscribe::listening) {
            subs.push(Subscriber {
                stream_id: None,
                types: Vec::new(),
            });
        }
        let subs = Arc::new(subs);
        self.subscribers.insert(tenant.to_owned(), subs.clone());
        Ok(subs)
    }
}

pub fn register(reg: &mut Registry) {
    streams::register(reg);
    delivery::register(reg);
    subscribe::register(reg);
}

pub(crate) fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Whether an `emit` of `event_type` in this tenant would deliver anywhere (for a write site
/// that has to read what the event shows, e.g. a user about to be deleted).
pub async fn wanted(ctx: &Ctx, x: &impl Exec, event_type: &str) -> Result<bool, Error> {
    let subs = ctx.state.events.subscribers(x, ctx.tenant_id()).await?;
    Ok(subs.iter().any(|s| s.wants(event_type)))
}

/// Emits an event of `event_type` about `object` (the resource as the API shows it) in the
/// caller's transaction `tx`: stored, with a delivery queued for each enabled stream that
/// subscribes to the type (and kept for `GET /events` while a subscription is open). Nothing is
/// written when nothing wants it.
pub async fn emit(ctx: &Ctx, tx: &impl Exec, event_type: &str, object: Value) -> Result<(), Error> {
    let tenant = ctx.tenant_id();
    let subs = ctx.state.events.subscribers(tx, tenant).await?;
    let targets: Vec<&Subscriber> = subs.iter().filter(|s| s.wants(event_type)).collect();
    if targets.is_empty() {
        return Ok(());
    }
    let event = new_event(ctx, event_type, json!({ "object": object }), false);
    event_streams::insert_event(tx, tenant, &event).await?;
    for id in targets.iter().filter_map(|s| s.stream_id.as_deref()) {
        enqueue(tx, tenant, id, &event, Duration::ZERO).await?;
    }
    Ok(())
}

/// A delivery of `event` to a stream and its queue item.
pub(crate) async fn enqueue(
    tx: &impl Exec,
    tenant: &str,
    stream_id: &str,
    event: &Event,
    delay: Duration,
) -> Result<(), Error> {
    event_streams::insert_delivery(tx, tenant, stream_id, event).await?;
    queue::enqueue(
        tx,
        tenant,
        KIND,
        stream_id,
        &json!({ "event_id": event.id }),
        delay,
    )
    .await?;
    Ok(())
}

/// A new CloudEvent (version 1.0) as Auth0 publishes it; `a0stream` is added per delivery.
pub(crate) fn new_event(ctx: &Ctx, event_type: &str, data: Value, test: bool) -> Event {
    let id = format!("evt_{}", ids::base58(22));
    let now = time::now();
    let tenant = ctx.tenant_id();
    let mut body = json!({
        "specversion": "1.0",
        "type": event_type,
        "source": format!("urn:auth0:{}", issuer_host(&ctx.tenant.issuer)),
        "id": id,
        "time": now,
        "data": data,
        "a0tenant": tenant,
    });
    if test && let Value::Object(o) = &mut body {
        o.insert("a0purpose".into(), json!("test"));
    }
    Event {
        id,
        seq: gatehouse_store::seq_now(),
        event_type: event_type.to_owned(),
        created_at: now,
        body,
    }
}

fn issuer_host(issuer: &str) -> &str {
    issuer
        .split("://")
        .nth(1)
        .unwrap_or(issuer)
        .trim_end_matches('/')
}

/// An organization as its events show it (`id`, `name`, `display_name`, `metadata`,
/// `branding`).
pub fn organization(body: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for k in ["id", "name", "display_name", "metadata", "branding"] {
        if let Some(v) = body.get(k) {
            out.insert(k.to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

/// What an organization membership event shows: the organization and the user.
pub fn membership(org_id: &str, org_name: &str, user_id: &str) -> Value {
    json!({
        "organization": { "id": org_id, "name": org_name },
        "user": { "user_id": user_id },
    })
}
