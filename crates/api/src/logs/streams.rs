//! Tag `log-streams`: log streams, stored on the [`Collection`] descriptor, and their delivery.
//!
//! **Which entries a stream gets.** When entries are written, every *active* stream of the
//! tenant whose `filters` (Auth0's categories, e.g. `auth.token_exchange.success`) take an entry
//! gets it queued, in the same transaction (one queue item per stream and batch). A stream that
//! is paused or suspended gets nothing new; what was queued before waits until it is active again.
//!
//! **Delivery** (queue kind `log_stream`): a batch of entries in one request, in the sink's
//! public format —
//! - `http`: `httpEndpoint`, `Authorization: <httpAuthorization>`, `httpContentType`, the
//!   custom headers; `JSONLINES` (one `{"log_id", "data"}` per line), `JSONARRAY` (an array of
//!   them) or `JSONOBJECT` (one request per entry, the object alone);
//! - `datadog`: Datadog's logs intake of the region with `DD-API-KEY`;
//! - `splunk`: the HTTP Event Collector (`/services/collector/event`, `Authorization: Splunk …`);
//! - `sumo`: the HTTP source address, JSON lines;
//! - `segment`: Segment's batch API (`track` calls; the write key as basic auth);
//! - `mixpanel`: Mixpanel's import API of the region (service account as basic auth);
//! - `eventbridge`, `eventgrid`: not delivered. They hand entries to an AWS partner event source
//!   or an Azure partner topic that only Auth0's own cloud accounts can publish to; such streams
//!   are stored and shown as Auth0 shows them, and no entry is queued for them.
//!
//! `pii_config` is applied before sending (`mask`: each character replaced by `*`; `hash`:
//! xxHash64, hex). A failed delivery is retried with exponential backoff; after
//! [`SUSPEND_AFTER`] failed deliveries in a row the stream becomes `suspended` (Auth0's status
//! for a stream disabled because of errors); a successful one resets the count.

use std::{collections::BTreeMap, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    Tx, atomically, docs, logs,
    queue::{self, Item},
};

use crate::{
    config::{
        Merge,
        collection::{COLLECTION, Collection, Listing},
    },
    spine::{Ctx, Input, Registry, Reply},
    state::AppState,
    webhooks::Outcome,
    worker::Kind,
};

/// The `docs` kind of log streams.
pub const KIND_DOC: &str = "log_stream";
/// The queue kind of deliveries.
pub const QUEUE_KIND: &str = "log_stream";
/// Failed deliveries in a row before a stream is suspended.
pub const SUSPEND_AFTER: i64 = 10;
/// Where a stream keeps what is not shown: its delivery state and write-only secrets.
const PRIVATE: &str = "_private";
/// What a write-only secret shows.
const MASK: &str = "********";

pub static LOG_STREAMS: Collection = Collection {
    kind: KIND_DOC,
    new_id: stream_id,
    list: Some(Op::GetLogStreams),
    get: Some(Op::GetLogStreamsById),
    patch: Some(Op::PatchLogStreamsById),
    delete: Some(Op::DeleteLogStreamsById),
    listing: Listing::Array,
    created: Some(new_stream),
    check: Some(check),
    merge: Merge::Deep,
    timestamps: false,
    order: &[
        "id",
        "name",
        "type",
        "status",
        "sink",
        "filters",
        "isPriority",
        "pii_config",
    ],
    hidden: &[PRIVATE],
    missing: no_stream,
    ..COLLECTION
};

/// The delivery worker's kind.
pub const KIND: Kind = Kind {
    name: QUEUE_KIND,
    handler: |state, items| Box::pin(deliver(state, items)),
    batch: 64,
    lease: Duration::from_secs(60),
};

pub fn register(reg: &mut Registry) {
    LOG_STREAMS.register(reg);
    reg.add(Op::PostLogStreams, create);
}

fn stream_id() -> String {
    let n = u64::from_str_radix(&ids::hex_key(8), 16).unwrap_or(0) % 10_000_000_000_000_000;
    format!("lst_{n:016}")
}

fn new_stream() -> Value {
    json!({"status": "active", "isPriority": false})
}

fn no_stream() -> Error {
    Error::NotFound("The log stream does not exist.".into())
}

/// `POST /log-streams`: the partner source or topic of an EventBridge or Event Grid stream is
/// named as Auth0 names it (`aws.partner/auth0.com/<tenant>-<uuid>/auth0.logs`,
/// `azure.partner/auth0.com/<tenant>-<subscription>/auth0.logs`).
async fn create(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let mut body = Value::Object(input.body_object());
    let tenant = ctx.tenant_id().to_owned();
    let kind = body.get("type").and_then(Value::as_str).unwrap_or("");
    let name = match kind {
        "eventbridge" => Some((
            "awsPartnerEventSource",
            format!(
                "aws.partner/auth0.com/{tenant}-{}/auth0.logs",
                ids::uuid_v4()
            ),
        )),
        "eventgrid" => {
            let sub = body["sink"]["azureSubscriptionId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            Some((
                "azurePartnerTopic",
                format!("azure.partner/auth0.com/{tenant}-{sub}/auth0.logs"),
            ))
        }
        _ => None,
    };
    if let (Some((k, v)), Some(sink)) = (name, body.get_mut("sink").and_then(Value::as_object_mut))
    {
        sink.insert(k.into(), json!(v));
    }
    let obj = LOG_STREAMS.create_object(&ctx, body).await?;
    Ok(Reply::json(LOG_STREAMS.shown(obj)))
}

/// Completes and checks a stream about to be stored (`prev`: the one it replaces).
fn check(v: &mut Value, prev: Option<&Value>) -> Result<(), Error> {
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(p) = prev
        && matches!(kind.as_str(), "eventbridge" | "eventgrid")
        && p.get("sink") != v.get("sink")
    {
        return Err(Error::InvalidBody(
            format!("The sink of a log stream of type {kind} cannot be updated").into(),
        ));
    }
    // A sink holds its own type's settings only (a PATCH may not graft another type's on).
    if let Some(sink) = v.get("sink").and_then(Value::as_object)
        && let Some(bad) = sink.keys().find(|k| !sink_key(&kind, k))
    {
        return Err(Error::InvalidBody(
            format!(
                "Payload validation error: '{bad}' is not a setting of a {kind} log stream's sink"
            )
            .into(),
        ));
    }
    // Auth0's defaults for a PII configuration.
    if let Some(pii) = v.get_mut("pii_config").and_then(Value::as_object_mut) {
        pii.entry("method").or_insert_with(|| json!("hash"));
        pii.entry("algorithm").or_insert_with(|| json!("xxhash"));
    }
    // The Mixpanel password is write-only: kept apart, shown masked.
    let password = v
        .pointer_mut("/sink/mixpanelServiceAccountPassword")
        .map(|p| std::mem::replace(p, json!(MASK)));
    if let Some(Value::String(pw)) = password
        && pw != MASK
        && let Value::Object(o) = v
    {
        let private = o.entry(PRIVATE).or_insert_with(|| json!({}));
        private["mixpanel_password"] = json!(pw);
    }
    // A stream made active again starts counting failures afresh.
    if v.get("status").and_then(Value::as_str) == Some("active")
        && prev.and_then(|p| p.get("status")) != Some(&json!("active"))
        && let Some(p) = v.get_mut(PRIVATE).and_then(Value::as_object_mut)
    {
        p.remove("failures");
    }
    Ok(())
}

/// Whether `key` is a sink setting of streams of type `kind`.
fn sink_key(kind: &str, key: &str) -> bool {
    let prefix = match kind {
        "http" => "http",
        "eventbridge" => "aws",
        "eventgrid" => "azure",
        "datadog" => "datadog",
        "splunk" => "splunk",
        "sumo" => "sumo",
        "segment" => "segment",
        "mixpanel" => "mixpanel",
        _ => return true,
    };
    key.starts_with(prefix)
}

/// The filter category of a log type code (Auth0's "Log stream filters" table, for the codes
/// Gatehouse writes and their siblings).
pub fn category(code: &str) -> &'static str {
    match code {
        "s" => "auth.login.success",
        "f" | "fp" | "fu" | "fc" | "fco" | "fcoa" | "fd" | "fn" | "fsa" => "auth.login.fail",
        "w" | "sv" => "auth.login.notification",
        "slo" => "auth.logout.success",
        "flo" => "auth.logout.fail",
        "ss" => "auth.signup.success",
        "fs" => "auth.signup.fail",
        "ssa" => "auth.silent_auth.success",
        "seccft" | "sertft" | "seacft" | "secte" | "seoobft" | "seotpft" | "sepft" | "sercft"
        | "sede" | "seccte" => "auth.token_exchange.success",
        "feccft" | "fertft" | "feacft" | "fecte" | "feoobft" | "feotpft" | "fepft" | "fercft"
        | "fede" => "auth.token_exchange.fail",
        "sapi" => "management.success",
        "fapi" => "management.fail",
        "scp" | "scpr" | "sce" | "scpn" | "sui" | "sd" | "svr" | "srrt" => "user.success",
        "fcp" | "fcpr" | "fce" | "fcpn" | "fui" | "fv" | "fvr" => "user.fail",
        "cls" | "cs" | "du" | "ublkdu" => "user.notification",
        "limit_wc" | "limit_mu" | "limit_sul" | "api_limit" | "depnote" => "system.notification",
        "scim" | "sscim" | "fscim" => "scim.event",
        _ => "other",
    }
}

/// Whether a stream's filters let an entry of `code` through (no filters: everything).
fn wants(stream: &Value, code: &str) -> bool {
    let Some(filters) = stream.get("filters").and_then(Value::as_array) else {
        return true;
    };
    if filters.is_empty() {
        return true;
    }
    let cat = category(code);
    filters
        .iter()
        .any(|f| f.get("name").and_then(Value::as_str) == Some(cat))
}

fn deliverable(stream: &Value) -> bool {
    !matches!(
        stream.get("type").and_then(Value::as_str),
        Some("eventbridge" | "eventgrid") | None
    )
}

/// In the writer's transaction: queues each entry for every active stream of its tenant that
/// wants it. Whether anything was queued.
pub async fn enqueue_deliveries(tx: &Tx, rows: &[(String, logs::LogRow)]) -> Result<bool, Error> {
    let mut by_tenant: BTreeMap<&str, Vec<&logs::LogRow>> = BTreeMap::new();
    for (t, r) in rows {
        by_tenant.entry(t.as_str()).or_default().push(r);
    }
    let mut queued = false;
    for (tenant, entries) in by_tenant {
        let (streams, _) = docs::list(tx, tenant, KIND_DOC, gatehouse_store::Page::ALL).await?;
        for s in streams {
            if s.get("status").and_then(Value::as_str) != Some("active") || !deliverable(&s) {
                continue;
            }
            let ids: Vec<&str> = entries
                .iter()
                .filter(|r| wants(&s, r.body.get("type").and_then(Value::as_str).unwrap_or("")))
                .map(|r| r.log_id.as_str())
                .collect();
            if ids.is_empty() {
                continue;
            }
            let id = s.get("id").and_then(Value::as_str).unwrap_or_default();
            queue::enqueue(
                tx,
                tenant,
                QUEUE_KIND,
                id,
                &json!({ "log_ids": ids }),
                Duration::ZERO,
            )
            .await?;
            queued = true;
        }
    }
    Ok(queued)
}

/// The retry delay after `attempts` failed tries: 5 s doubling, at most 10 min (scaled by the
/// server's `retry_base` for tests).
fn backoff(state: &AppState, attempts: i64) -> Duration {
    let base = state.webhooks.retry_base();
    queue::backoff(base, attempts, base * 120)
}

async fn deliver(state: AppState, items: Vec<Item>) {
    let mut by_stream: BTreeMap<(String, String), Vec<Item>> = BTreeMap::new();
    for it in items {
        by_stream
            .entry((it.tenant.clone(), it.target.clone()))
            .or_default()
            .push(it);
    }
    for ((tenant, stream_id), items) in by_stream {
        if let Err(e) = deliver_stream(&state, &tenant, &stream_id, &items).await {
            tracing::warn!(error = %e, "log stream delivery failed");
        }
    }
}

async fn deliver_stream(
    state: &AppState,
    tenant: &str,
    stream_id: &str,
    items: &[Item],
) -> Result<(), Error> {
    let db = &state.db;
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    let Some(stream) = docs::get(db, tenant, KIND_DOC, stream_id).await? else {
        // The stream is gone: so are its deliveries.
        queue::done_many(db, tenant, &ids).await?;
        return Ok(());
    };
    if stream.get("status").and_then(Value::as_str) != Some("active") {
        for it in items {
            queue::retry(
                db,
                tenant,
                &it.id,
                Duration::from_secs(30),
                "stream not active",
            )
            .await?;
        }
        return Ok(());
    }
    let mut log_ids: Vec<String> = items
        .iter()
        .flat_map(|i| {
            i.payload
                .get("log_ids")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    log_ids.sort();
    log_ids.dedup();
    let entries: Vec<Value> = logs::get_many(db, tenant, &log_ids)
        .await?
        .into_iter()
        .filter(|e| wants(&stream, e.get("type").and_then(Value::as_str).unwrap_or("")))
        .map(|e| apply_pii(&stream, e))
        .collect();
    let outcome = if entries.is_empty() {
        Outcome::Delivered(204)
    } else {
        send(state, &stream, &entries).await
    };
    if outcome.ok() {
        queue::done_many(db, tenant, &ids).await?;
        if stream.pointer(&format!("/{PRIVATE}/failures")).is_some() {
            record_failure(state, tenant, stream_id, None).await?;
        }
    } else {
        let attempts = items.iter().map(|i| i.attempts).max().unwrap_or(0);
        for it in items {
            queue::retry(
                db,
                tenant,
                &it.id,
                backoff(state, attempts),
                &outcome.describe(),
            )
            .await?;
        }
        record_failure(state, tenant, stream_id, Some(outcome.describe())).await?;
    }
    Ok(())
}

/// Counts a failed delivery (suspending the stream at [`SUSPEND_AFTER`]) or, with `None`, resets
/// the count after a success. The stream is locked while its count changes.
async fn record_failure(
    state: &AppState,
    tenant: &str,
    stream_id: &str,
    failure: Option<String>,
) -> Result<(), Error> {
    let db = &state.db;
    atomically(|| {
        let failure = failure.clone();
        async move {
            let tx = db.begin().await?;
            let Some(mut s) = docs::lock(&tx, tenant, KIND_DOC, stream_id).await? else {
                return Ok::<_, Error>(());
            };
            let private = s
                .as_object_mut()
                .map(|o| o.entry(PRIVATE).or_insert_with(|| json!({})));
            let Some(Value::Object(p)) = private else {
                return Ok(());
            };
            match &failure {
                None => {
                    p.remove("failures");
                }
                Some(why) => {
                    let n = p.get("failures").and_then(Value::as_i64).unwrap_or(0) + 1;
                    p.insert("failures".into(), json!(n));
                    p.insert("last_error".into(), json!(why));
                    p.insert("last_error_at".into(), json!(time::now()));
                    if n >= SUSPEND_AFTER {
                        s["status"] = json!("suspended");
                        tracing::warn!(
                            stream = stream_id,
                            "log stream suspended after failed deliveries"
                        );
                    }
                }
            }
            docs::put(&tx, tenant, KIND_DOC, stream_id, &s, &time::now()).await?;
            tx.commit().await?;
            Ok(())
        }
    })
    .await
}

fn text(v: &Value, ptr: &str) -> String {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// `{"log_id", "data"}`: how Auth0's streams carry an entry.
fn wrapped(e: &Value) -> Value {
    json!({"log_id": e.get("log_id").cloned().unwrap_or(Value::Null), "data": e})
}

fn lines(values: impl Iterator<Item = Value>) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        out.extend_from_slice(v.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// Sends the entries to the stream's sink.
async fn send(state: &AppState, stream: &Value, entries: &[Value]) -> Outcome {
    let client = &state.webhooks;
    let json_type = ("content-type".to_owned(), "application/json".to_owned());
    match stream.get("type").and_then(Value::as_str).unwrap_or("") {
        "http" => {
            let url = text(stream, "/sink/httpEndpoint");
            let mut headers = vec![(
                "content-type".to_owned(),
                stream
                    .pointer("/sink/httpContentType")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or("application/json")
                    .to_owned(),
            )];
            let auth = text(stream, "/sink/httpAuthorization");
            if !auth.is_empty() {
                headers.push(("authorization".to_owned(), auth));
            }
            for h in stream
                .pointer("/sink/httpCustomHeaders")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(k), Some(v)) = (
                    h.get("header").and_then(Value::as_str),
                    h.get("value").and_then(Value::as_str),
                ) {
                    headers.push((k.to_owned(), v.to_owned()));
                }
            }
            match stream
                .pointer("/sink/httpContentFormat")
                .and_then(Value::as_str)
                .unwrap_or("JSONLINES")
            {
                "JSONARRAY" => {
                    let body = Value::Array(entries.iter().map(wrapped).collect());
                    client
                        .post(&url, &headers, body.to_string().into_bytes())
                        .await
                }
                "JSONOBJECT" => {
                    for e in entries {
                        let o = client
                            .post(&url, &headers, wrapped(e).to_string().into_bytes())
                            .await;
                        if !o.ok() {
                            return o;
                        }
                    }
                    Outcome::Delivered(200)
                }
                _ => {
                    client
                        .post(&url, &headers, lines(entries.iter().map(wrapped)))
                        .await
                }
            }
        }
        "datadog" => {
            let host = match text(stream, "/sink/datadogRegion").as_str() {
                "eu" => "http-intake.logs.datadoghq.eu",
                "us3" => "http-intake.logs.us3.datadoghq.com",
                "us5" => "http-intake.logs.us5.datadoghq.com",
                _ => "http-intake.logs.datadoghq.com",
            };
            let body: Vec<Value> = entries
                .iter()
                .map(|e| json!({"ddsource": "auth0", "service": "auth0", "message": wrapped(e).to_string()}))
                .collect();
            let headers = vec![
                json_type,
                ("dd-api-key".to_owned(), text(stream, "/sink/datadogApiKey")),
            ];
            client
                .post(
                    &format!("https://{host}/api/v2/logs"),
                    &headers,
                    Value::Array(body).to_string().into_bytes(),
                )
                .await
        }
        "splunk" => {
            let secure = stream
                .pointer("/sink/splunkSecure")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let url = format!(
                "{}://{}:{}/services/collector/event",
                if secure { "https" } else { "http" },
                text(stream, "/sink/splunkDomain"),
                text(stream, "/sink/splunkPort"),
            );
            let headers = vec![
                json_type,
                (
                    "authorization".to_owned(),
                    format!("Splunk {}", text(stream, "/sink/splunkToken")),
                ),
            ];
            let body = lines(
                entries
                    .iter()
                    .map(|e| json!({"event": wrapped(e), "sourcetype": "auth0"})),
            );
            client.post(&url, &headers, body).await
        }
        "sumo" => {
            let addr = text(stream, "/sink/sumoSourceAddress");
            let url = if addr.starts_with("http://") || addr.starts_with("https://") {
                addr
            } else {
                format!("https://{addr}")
            };
            client
                .post(&url, &[json_type], lines(entries.iter().map(wrapped)))
                .await
        }
        "segment" => {
            let batch: Vec<Value> = entries
                .iter()
                .map(|e| {
                    let user = e.get("user_id").and_then(Value::as_str);
                    let mut call = json!({
                        "type": "track",
                        "event": e.get("description").and_then(Value::as_str).unwrap_or("Auth0 log"),
                        "properties": e,
                        "timestamp": e.get("date"),
                        "messageId": e.get("log_id"),
                    });
                    match user {
                        Some(u) => call["userId"] = json!(u),
                        None => call["anonymousId"] = json!("auth0"),
                    }
                    call
                })
                .collect();
            let headers = vec![
                json_type,
                (
                    "authorization".to_owned(),
                    basic(&text(stream, "/sink/segmentWriteKey"), ""),
                ),
            ];
            client
                .post(
                    "https://api.segment.io/v1/batch",
                    &headers,
                    json!({ "batch": batch }).to_string().into_bytes(),
                )
                .await
        }
        "mixpanel" => {
            let host = if text(stream, "/sink/mixpanelRegion") == "eu" {
                "api-eu.mixpanel.com"
            } else {
                "api.mixpanel.com"
            };
            let url = format!(
                "https://{host}/import?strict=1&project_id={}",
                text(stream, "/sink/mixpanelProjectId")
            );
            let events: Vec<Value> = entries
                .iter()
                .map(|e| {
                    let mut props = e.as_object().cloned().unwrap_or_default();
                    let ms = e
                        .get("date")
                        .and_then(Value::as_str)
                        .and_then(|d| {
                            ::time::OffsetDateTime::parse(
                                d,
                                &::time::format_description::well_known::Rfc3339,
                            )
                            .ok()
                        })
                        .map_or(0, |t| (t.unix_timestamp_nanos() / 1_000_000) as i64);
                    props.insert("time".into(), json!(ms));
                    props.insert(
                        "distinct_id".into(),
                        e.get("user_id").cloned().unwrap_or(json!("")),
                    );
                    props.insert(
                        "$insert_id".into(),
                        e.get("log_id").cloned().unwrap_or_default(),
                    );
                    json!({"event": e.get("type"), "properties": props})
                })
                .collect();
            let headers = vec![
                json_type,
                (
                    "authorization".to_owned(),
                    basic(
                        &text(stream, "/sink/mixpanelServiceAccountUsername"),
                        &text(stream, &format!("/{PRIVATE}/mixpanel_password")),
                    ),
                ),
            ];
            client
                .post(
                    &url,
                    &headers,
                    Value::Array(events).to_string().into_bytes(),
                )
                .await
        }
        other => Outcome::Unreachable(format!("log streams of type {other} are not delivered")),
    }
}

/// The keys of an entry that carry each PII field.
fn pii_keys(field: &str) -> &'static [&'static str] {
    match field {
        "first_name" => &["first_name", "given_name"],
        "last_name" => &["last_name", "family_name"],
        "username" => &["username", "user_name", "nickname"],
        "email" => &["email"],
        "phone" => &["phone", "phone_number"],
        "address" => &["address"],
        _ => &[],
    }
}

/// Applies the stream's `pii_config` to an entry, at every depth.
fn apply_pii(stream: &Value, mut entry: Value) -> Value {
    let Some(pii) = stream.get("pii_config") else {
        return entry;
    };
    let keys: Vec<&str> = pii
        .get("log_fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(pii_keys)
        .copied()
        .collect();
    if keys.is_empty() {
        return entry;
    }
    let hash = pii.get("method").and_then(Value::as_str) != Some("mask");
    fn walk(v: &mut Value, keys: &[&str], hash: bool) {
        match v {
            Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    if keys.contains(&k.as_str())
                        && let Value::String(s) = x
                    {
                        *s = if hash {
                            format!("{:016x}", xxhash_rust::xxh64::xxh64(s.as_bytes(), 0))
                        } else {
                            "*".repeat(s.chars().count())
                        };
                    } else {
                        walk(x, keys, hash);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, keys, hash)),
            _ => {}
        }
    }
    walk(&mut entry, &keys, hash);
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_category() {
        let s = json!({"filters": [{"type": "category", "name": "management.success"}]});
        assert!(wants(&s, "sapi"));
        assert!(!wants(&s, "seccft"));
        assert!(wants(&json!({}), "seccft"));
        assert!(wants(&json!({"filters": []}), "fapi"));
    }

    #[test]
    fn pii_is_masked_or_hashed() {
        let e = json!({"user_name": "ann@example.com", "details": {"email": "ann@example.com"}});
        let masked = apply_pii(
            &json!({"pii_config": {"log_fields": ["email", "username"], "method": "mask"}}),
            e.clone(),
        );
        assert_eq!(masked["user_name"], "***************");
        assert_eq!(masked["details"]["email"], "***************");
        let hashed = apply_pii(&json!({"pii_config": {"log_fields": ["email"]}}), e);
        assert_eq!(hashed["details"]["email"].as_str().unwrap().len(), 16);
        assert_eq!(hashed["user_name"], "ann@example.com");
    }

    #[test]
    fn sinks_hold_their_own_settings() {
        let mut v =
            json!({"type": "http", "sink": {"httpEndpoint": "https://x", "datadogApiKey": "k"}});
        assert!(check(&mut v, None).is_err());
        let mut v =
            json!({"type": "datadog", "sink": {"datadogApiKey": "k", "datadogRegion": "us"}});
        assert!(check(&mut v, None).is_ok());
    }

    #[test]
    fn mixpanel_password_is_write_only() {
        let mut v = json!({"type": "mixpanel", "sink": {"mixpanelServiceAccountPassword": "pw"}});
        check(&mut v, None).unwrap();
        assert_eq!(v["sink"]["mixpanelServiceAccountPassword"], MASK);
        assert_eq!(v[PRIVATE]["mixpanel_password"], "pw");
        // Sent back masked, the stored password stays.
        let prev = v.clone();
        check(&mut v, Some(&prev)).unwrap();
        assert_eq!(v[PRIVATE]["mixpanel_password"], "pw");
    }
}
