//! Tags `logs` (and `GET /users/{id}/logs`): the tenant's log of what happened, with Auth0's
//! event type codes, and its delivery to log streams ([`streams`]).
//!
//! **Writing.** Code that handles an event builds an [`Entry`] and awaits [`Logs::record`]. One
//! writer task per server takes every entry waiting and writes them in one transaction (group
//! commit): the entries, and one queue item per log stream that wants them. `record` returns
//! once that transaction committed, so an answered request has its log entry on disk and its
//! deliveries queued, while a busy server commits many entries at once.
//!
//! **What is logged** (Auth0's codes): Management API writes (`sapi`; `fapi` when refused after
//! authentication), token requests with client credentials (`seccft`, `feccft`). Management API
//! reads are not logged, as in Auth0. The `details` of an entry never hold a request or reply
//! body, a secret or a token.

pub mod streams;

use std::{sync::Arc, time::Duration};

use serde_json::{Map, Value, json};
use tokio::sync::{Notify, mpsc, oneshot};

use gatehouse_core::{Error, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    Db,
    logs::{self, ListError, ListRequest, LogRow},
};

use crate::spine::{Ctx, Input, Registry, Reply, page::project};

/// Entries waiting for the writer, at most (beyond it, `record` waits for room).
const CHANNEL: usize = 8192;
/// Entries written in one transaction, at most.
const BATCH: usize = 512;
/// How long `record` waits for its entry's commit before answering anyway.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// One log entry before it is written: the fields Auth0 shows (`type`, `description`,
/// `client_id`, …; see [`Entry::set`]).
#[derive(Debug, Clone, Default)]
pub struct Entry {
    fields: Map<String, Value>,
}

impl Entry {
    /// An entry of Auth0's event type `code` (`sapi`, `seccft`, …).
    pub fn new(code: &str, description: impl Into<String>) -> Self {
        let mut fields = Map::new();
        fields.insert("type".into(), json!(code));
        fields.insert("description".into(), json!(description.into()));
        Self { fields }
    }

    /// Sets a field when there is a value (`client_id`, `user_id`, `ip`, `user_agent`, …).
    pub fn set(mut self, key: &str, value: Option<impl Into<Value>>) -> Self {
        if let Some(v) = value {
            self.fields.insert(key.into(), v.into());
        }
        self
    }

    pub fn details(self, details: Value) -> Self {
        self.set("details", Some(details))
    }

    pub fn code(&self) -> &str {
        self.fields
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// A sortable, unique log id: `900` (as Auth0's start), the time in microseconds, random digits.
fn log_id() -> String {
    let r = u64::from_str_radix(&gatehouse_core::ids::hex_key(8), 16).unwrap_or(0);
    format!("900{:020}{r:020}", gatehouse_store::seq_now())
}

struct Pending {
    tenant: String,
    entry: Entry,
    ack: oneshot::Sender<()>,
}

/// The server's settings for the tenant log.
#[derive(Debug, Clone)]
pub struct LogsConfig {
    /// Whether events are logged at all (`--no-tenant-logs` turns it off: nothing is written,
    /// `/logs` is empty and streams get nothing).
    pub enabled: bool,
    /// How long entries are kept (Auth0 keeps them 1 to 30 days, by plan).
    pub retention: Duration,
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            retention: Duration::from_secs(30 * 86_400),
        }
    }
}

/// The log writer's door.
pub struct Logs {
    tx: Option<mpsc::Sender<Pending>>,
}

impl Logs {
    /// Starts the writer task. `deliveries` is rung when entries were queued for streams.
    pub fn start(db: Db, deliveries: Option<Arc<Notify>>, cfg: &LogsConfig) -> Self {
        if !cfg.enabled {
            return Self { tx: None };
        }
        let (tx, rx) = mpsc::channel(CHANNEL);
        tokio::spawn(write_loop(db, rx, deliveries, cfg.retention));
        Self { tx: Some(tx) }
    }

    /// Writes `entry` for `tenant`; returns once it is committed (or the writer failed: the
    /// failure is logged and the request goes on).
    pub async fn record(&self, tenant: &str, entry: Entry) {
        let Some(tx) = &self.tx else { return };
        let (ack, done) = oneshot::channel();
        let p = Pending {
            tenant: tenant.to_owned(),
            entry,
            ack,
        };
        if tx.send(p).await.is_err() {
            return;
        }
        if tokio::time::timeout(ACK_WAIT, done).await.is_err() {
            tracing::warn!("a log entry was not committed in time");
        }
    }
}

async fn write_loop(
    db: Db,
    mut rx: mpsc::Receiver<Pending>,
    deliveries: Option<Arc<Notify>>,
    retention: Duration,
) {
    let mut last_prune: Option<std::time::Instant> = None;
    while let Some(first) = rx.recv().await {
        if last_prune.is_none_or(|t| t.elapsed() > PRUNE_EVERY) {
            last_prune = Some(std::time::Instant::now());
            if let Err(e) = prune(&db, retention).await {
                tracing::warn!(error = %e, "could not remove expired log entries");
            }
        }
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        match write_batch(&db, &batch).await {
            Ok(queued) => {
                if queued && let Some(n) = &deliveries {
                    n.notify_one();
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, n = batch.len(), "could not write log entries");
            }
        }
        for p in batch {
            let _ = p.ack.send(());
        }
    }
}

/// How often expired entries are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Removes the entries older than `retention` (ids start with the time: a range of the key).
async fn prune(db: &Db, retention: Duration) -> anyhow::Result<()> {
    let cutoff = gatehouse_store::seq_now()
        .saturating_sub(i64::try_from(retention.as_micros()).unwrap_or(i64::MAX));
    logs::delete_before(db, &format!("900{cutoff:020}")).await
}

/// Writes the entries and queues their deliveries; whether any delivery was queued.
async fn write_batch(db: &Db, batch: &[Pending]) -> Result<bool, Error> {
    let rows: Vec<(String, LogRow)> = batch
        .iter()
        .map(|p| {
            let id = log_id();
            let date = time::now();
            let mut body = p.entry.fields.clone();
            body.insert("date".into(), json!(date));
            body.insert("log_id".into(), json!(id));
            body.insert("_id".into(), json!(id));
            (
                p.tenant.clone(),
                LogRow {
                    log_id: id,
                    date,
                    body: Value::Object(body),
                },
            )
        })
        .collect();
    gatehouse_store::atomically(|| async {
        let tx = db.begin().await?;
        logs::insert_many(&tx, &rows).await?;
        let queued = streams::enqueue_deliveries(&tx, &rows).await?;
        tx.commit().await?;
        Ok::<_, Error>(queued)
    })
    .await
}

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetLogs, get_logs);
    reg.add(Op::GetLogsById, get_logs_by_id);
    reg.add(Op::GetLogsByUser, get_logs_by_user);
    streams::register(reg);
}

fn sort_of(q: &crate::spine::Query) -> Option<(&str, bool)> {
    let s = q.get("sort")?;
    let (f, dir) = s.split_once(':')?;
    Some((f, dir != "-1"))
}

fn list_error(e: ListError) -> Error {
    match e {
        ListError::Query(s) => Error::InvalidQueryString(s.message.into()),
        ListError::Db(e) => Error::Internal(e),
    }
}

/// Auth0's cap on search paging: the first 1,000 results.
const MAX_RESULTS: i64 = 1000;

async fn list(ctx: &Ctx, input: &Input, user_id: Option<&str>) -> Result<Reply, Error> {
    let q = &input.query;
    let page = q.i64("page").unwrap_or(0).max(0);
    let per_page = q.i64("per_page").unwrap_or(50).clamp(0, 100);
    let include_totals = q.bool("include_totals").unwrap_or(false);
    let offset = page.saturating_mul(per_page);
    if offset.saturating_add(per_page) > MAX_RESULTS {
        return Err(Error::InvalidQueryString(
            "You can only page through the first 1000 records. See https://auth0.com/docs/logs/retrieve-log-events-using-mgmt-api#limitations.".into(),
        ));
    }
    let req = ListRequest {
        q: if user_id.is_some() {
            None
        } else {
            q.get("q").or_else(|| q.get("search"))
        },
        user_id,
        sort: sort_of(q),
        offset,
        limit: per_page,
        with_total: include_totals,
    };
    let (items, total) = logs::list(ctx.db(), ctx.db().dialect(), ctx.tenant_id(), &req)
        .await
        .map_err(list_error)?;
    let items: Vec<Value> = items.into_iter().map(|v| project(v, q)).collect();
    if !include_totals {
        return Ok(Reply::json(Value::Array(items)));
    }
    let n = items.len();
    Ok(Reply::json(json!({
        "start": offset,
        "limit": per_page,
        "length": n,
        "total": total.unwrap_or(0),
        "logs": items,
    })))
}

/// `GET /logs`: by checkpoint (`from`/`take`: every other parameter is ignored, as Auth0
/// documents) or by search.
async fn get_logs(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    if q.get("from").is_some() || q.get("take").is_some() {
        let take = q.i64("take").unwrap_or(50).clamp(1, 100);
        let items = logs::after(ctx.db(), ctx.tenant_id(), q.get("from"), take).await?;
        return Ok(Reply::json(Value::Array(items)));
    }
    list(&ctx, &input, None).await
}

async fn get_logs_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    logs::get(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?
        .map(Reply::json)
        .ok_or_else(|| Error::NotFound("Log event not found".into()))
}

async fn get_logs_by_user(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user = input.path("id").to_owned();
    list(&ctx, &input, Some(&user)).await
}
