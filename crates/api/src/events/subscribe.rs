//! Tag `events`: `GET /events`, the subscription to the tenant's events over Server-Sent
//! Events, as the spec describes it: each message is `event: message` with data
//! `{"type", "offset", "event"}` (the CloudEvent), an `offset-only` message keeps an idle
//! connection alive and says where it stands, and an `error` message ends it. `from` resumes
//! after an offset a message gave, `from_timestamp` starts at a time, and by default the
//! subscription starts now; `event_type` (repeatable) keeps some types.
//!
//! Events are stored when a stream or a subscription wants them: an open subscription marks
//! the tenant as listened to (a document refreshed while it lasts, read by every instance's
//! `emit` within [`super::SUBSCRIPTIONS_TTL`]), so writes made while nobody listens are not kept
//! for it.

use std::{collections::VecDeque, convert::Infallible, time::Duration};

use axum::body::{Body, Bytes};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::time::Instant;

use gatehouse_core::Error;
use gatehouse_spec::Op;
use gatehouse_store::{
    docs,
    event_streams::{self, AFTER_ALL, Event},
    seq_now,
};

use crate::spine::{Ctx, Input, Registry, Reply};
use crate::state::AppState;

/// The document that marks a tenant as listened to (`{"until": <microseconds>}`).
pub const LISTENING_KIND: &str = "event_subscription";
pub const LISTENING_ID: &str = "sse";
/// How long a mark lasts; an open subscription renews it at a third of that.
const MARK: Duration = Duration::from_secs(30);
/// How often an idle subscription looks for new events.
const POLL: Duration = Duration::from_millis(300);
/// An idle subscription says where it stands this often.
const KEEPALIVE: Duration = Duration::from_secs(15);

pub fn register(reg: &mut Registry) {
    reg.add(Op::SubscribeEvents, subscribe);
}

/// Whether the tenant's mark (as stored) is still running.
pub fn listening(mark: &Value) -> bool {
    mark.get("until")
        .and_then(Value::as_i64)
        .is_some_and(|u| u > seq_now())
}

async fn mark(state: &AppState, tenant: &str) -> Result<(), Error> {
    let until = seq_now().saturating_add(i64::try_from(MARK.as_micros()).unwrap_or(i64::MAX));
    docs::put(
        &state.db,
        tenant,
        LISTENING_KIND,
        LISTENING_ID,
        &json!({ "until": until }),
        &gatehouse_core::time::now(),
    )
    .await?;
    state.events.invalidate(tenant);
    Ok(())
}

/// An offset: `<seq>-<event id>`.
fn offset_of(e: &Event) -> String {
    format!("{}-{}", e.seq, e.id)
}

fn parse_offset(s: &str) -> Option<(i64, String)> {
    let (seq, id) = s.split_once('-')?;
    let seq = seq.parse().ok()?;
    (id == AFTER_ALL || (id.starts_with("evt_") && id.len() <= 40)).then(|| (seq, id.to_owned()))
}

struct Sub {
    state: AppState,
    tenant: String,
    types: Vec<String>,
    pos: (i64, String),
    pending: VecDeque<Event>,
    last_sent: Instant,
    last_mark: Instant,
    done: bool,
}

fn frame(v: &Value) -> Bytes {
    Bytes::from(format!("event: message\ndata: {v}\n\n"))
}

impl Sub {
    fn offset(&self) -> String {
        format!("{}-{}", self.pos.0, self.pos.1)
    }

    /// The next frame to send.
    async fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        loop {
            if let Some(e) = self.pending.pop_front() {
                self.pos = (e.seq, e.id.clone());
                self.last_sent = Instant::now();
                return Some(frame(&json!({
                    "type": e.event_type,
                    "offset": offset_of(&e),
                    "event": e.body,
                })));
            }
            if self.last_mark.elapsed() >= MARK / 3 {
                if let Err(e) = mark(&self.state, &self.tenant).await {
                    return Some(self.fail(&e));
                }
                self.last_mark = Instant::now();
            }
            let after = (self.pos.0, self.pos.1.as_str());
            match event_streams::events_after(&self.state.db, &self.tenant, after, &self.types, 100)
                .await
            {
                Ok(found) if !found.is_empty() => self.pending.extend(found),
                Ok(_) => {
                    if self.last_sent.elapsed() >= KEEPALIVE {
                        self.last_sent = Instant::now();
                        return Some(frame(&json!({
                            "type": "offset-only",
                            "offset": self.offset(),
                        })));
                    }
                    tokio::time::sleep(POLL).await;
                }
                Err(e) => return Some(self.fail(&e.into())),
            }
        }
    }

    fn fail(&mut self, e: &Error) -> Bytes {
        tracing::warn!(error = %e, tenant = %self.tenant, "an event subscription failed");
        self.done = true;
        frame(&json!({
            "type": "error",
            "error": {
                "code": "processing_error",
                "message": "The subscription could not read the events.",
                "offset": self.offset(),
            },
        }))
    }
}

async fn subscribe(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    let types = q.list("event_type").unwrap_or_default();
    let pos = if let Some(from) = q.get("from") {
        parse_offset(from).ok_or_else(|| {
            Error::InvalidQueryString("Invalid from: not an offset of this subscription.".into())
        })?
    } else if let Some(ts) = q.get("from_timestamp") {
        let t = ::time::OffsetDateTime::parse(ts, &::time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                Error::InvalidQueryString(
                    "Invalid from_timestamp: expected an ISO 8601 date-time.".into(),
                )
            })?;
        let micros = i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX);
        (micros.saturating_sub(1), AFTER_ALL.to_owned())
    } else {
        (seq_now(), AFTER_ALL.to_owned())
    };
    mark(&ctx.state, ctx.tenant_id()).await?;
    let sub = Sub {
        state: ctx.state.clone(),
        tenant: ctx.tenant_id().to_owned(),
        types,
        pos,
        pending: VecDeque::new(),
        last_sent: Instant::now(),
        last_mark: Instant::now(),
        done: false,
    };
    // The first frame says where the subscription starts.
    let first = frame(&json!({ "type": "offset-only", "offset": sub.offset() }));
    let stream = futures::stream::once(async move { Ok::<_, Infallible>(first) }).chain(
        futures::stream::unfold(sub, |mut s| async move {
            s.next().await.map(|b| (Ok::<_, Infallible>(b), s))
        }),
    );
    Ok(Reply::streamed(
        "text/event-stream",
        Body::from_stream(stream),
    ))
}
