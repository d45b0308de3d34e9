//! Event streams' storage: the events a tenant's writes emitted (`events`), each stream's
//! delivery of an event (`event_deliveries`) with its attempts (`event_delivery_attempts`), and
//! each stream's run of consecutive failures (`event_stream_health`). The streams themselves
//! are documents (kind `event_stream`).

use serde_json::Value;

use crate::{DbResult, Exec, P, params, sql::Filter};

/// One emitted event: the CloudEvent as every destination gets it, but for `a0stream`.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    /// When it was emitted, in microseconds since the epoch: the order of events.
    pub seq: i64,
    pub event_type: String,
    pub created_at: String,
    pub body: Value,
}

fn event_of(r: &crate::db::Row) -> DbResult<Event> {
    Ok(Event {
        id: r.text("id")?,
        seq: r.i64("seq")?,
        event_type: r.text("type")?,
        created_at: r.text("created_at")?,
        body: r.json("body")?,
    })
}

pub async fn insert_event(x: &impl Exec, tenant: &str, e: &Event) -> DbResult<()> {
    x.execute(
        "INSERT INTO events (tenant_id, id, seq, type, created_at, body) VALUES ($1, $2, $3, $4, $5, $6)",
        params![tenant, &e.id, e.seq, &e.event_type, &e.created_at, &e.body],
    )
    .await?;
    Ok(())
}

pub async fn find_event(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<Event>> {
    x.query_opt(
        "SELECT id, seq, type, created_at, body FROM events WHERE tenant_id = $1 AND id = $2",
        params![tenant, id],
    )
    .await?
    .map(|r| event_of(&r))
    .transpose()
}

/// Events emitted after the one at `(seq, id)` (an `id` of [`AFTER_ALL`]: after every event of
/// `seq`), oldest first, of `types` (any when empty).
/// Sorts after every event id (`evt_…`).
pub const AFTER_ALL: &str = "~";

pub async fn events_after(
    x: &impl Exec,
    tenant: &str,
    after: (i64, &str),
    types: &[String],
    limit: i64,
) -> DbResult<Vec<Event>> {
    let mut w = Filter::tenant(tenant);
    let (p, q) = (w.bind(after.0), w.bind(after.1));
    w.clause(format!("(seq > {p} OR (seq = {p} AND id > {q}))"));
    if !types.is_empty() {
        w.any_of("type", types.iter().map(P::from).collect());
    }
    let lim = w.bind(limit);
    let rows = x
        .query(
            &format!(
                "SELECT id, seq, type, created_at, body FROM events {} ORDER BY seq, id LIMIT {lim}",
                w.where_sql()
            ),
            w.params,
        )
        .await?;
    rows.iter().map(event_of).collect()
}

/// One attempt to deliver an event to a stream's destination.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// `delivered` or `failed`.
    pub status: String,
    pub at: String,
    pub error_message: Option<String>,
}

/// A stream's delivery of an event.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub stream_id: String,
    pub event_id: String,
    pub seq: i64,
    pub event_type: String,
    pub created_at: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: Vec<Attempt>,
}

/// A delivery of `event` to `stream`, not tried yet.
pub async fn insert_delivery(x: &impl Exec, tenant: &str, stream: &str, e: &Event) -> DbResult<()> {
    x.execute(
        "INSERT INTO event_deliveries (tenant_id, stream_id, event_id, seq, event_type, created_at, status) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending') ON CONFLICT (tenant_id, stream_id, event_id) DO NOTHING",
        params![tenant, stream, &e.id, e.seq, &e.event_type, &e.created_at],
    )
    .await?;
    Ok(())
}

/// Records an attempt and sets the delivery's status to the attempt's.
pub async fn record_attempt(
    x: &impl Exec,
    tenant: &str,
    stream: &str,
    event_id: &str,
    a: &Attempt,
) -> DbResult<()> {
    x.execute(
        "INSERT INTO event_delivery_attempts (tenant_id, stream_id, event_id, seq, status, at, error_message) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![
            tenant,
            stream,
            event_id,
            crate::seq_now(),
            &a.status,
            &a.at,
            a.error_message.clone()
        ],
    )
    .await?;
    x.execute(
        "UPDATE event_deliveries SET status = $4 WHERE tenant_id = $1 AND stream_id = $2 AND event_id = $3",
        params![tenant, stream, event_id, &a.status],
    )
    .await?;
    Ok(())
}

/// Which deliveries a list keeps.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub statuses: Vec<String>,
    pub event_types: Vec<String>,
    /// `seq` bounds (inclusive).
    pub from_seq: Option<i64>,
    pub to_seq: Option<i64>,
    /// Only deliveries after this `seq` (a page's cursor).
    pub after: Option<i64>,
    pub limit: i64,
}

/// A stream's deliveries, oldest first, with their attempts.
pub async fn list_deliveries(
    x: &impl Exec,
    tenant: &str,
    stream: &str,
    f: &DeliveryFilter,
) -> DbResult<Vec<Delivery>> {
    let mut w = Filter::tenant(tenant);
    w.eq("stream_id", stream);
    if !f.statuses.is_empty() {
        w.any_of("status", f.statuses.iter().map(P::from).collect());
    }
    if !f.event_types.is_empty() {
        w.any_of("event_type", f.event_types.iter().map(P::from).collect());
    }
    for (bound, op) in [(f.from_seq, ">="), (f.to_seq, "<="), (f.after, ">")] {
        if let Some(v) = bound {
            let p = w.bind(v);
            w.clause(format!("seq {op} {p}"));
        }
    }
    let lim = w.bind(f.limit);
    let rows = x
        .query(
            &format!(
                "SELECT stream_id, event_id, seq, event_type, created_at, status FROM event_deliveries {} \
                 ORDER BY seq, event_id LIMIT {lim}",
                w.where_sql()
            ),
            w.params,
        )
        .await?;
    let mut out = rows
        .iter()
        .map(|r| {
            Ok(Delivery {
                stream_id: r.text("stream_id")?,
                event_id: r.text("event_id")?,
                seq: r.i64("seq")?,
                event_type: r.text("event_type")?,
                created_at: r.text("created_at")?,
                status: r.text("status")?,
                attempts: Vec::new(),
            })
        })
        .collect::<DbResult<Vec<_>>>()?;
    if out.is_empty() {
        return Ok(out);
    }
    let mut w = Filter::tenant(tenant);
    w.eq("stream_id", stream);
    w.any_of(
        "event_id",
        out.iter().map(|d| P::from(d.event_id.as_str())).collect(),
    );
    let rows = x
        .query(
            &format!(
                "SELECT event_id, status, at, error_message FROM event_delivery_attempts {} ORDER BY seq",
                w.where_sql()
            ),
            w.params,
        )
        .await?;
    for r in &rows {
        let id = r.text("event_id")?;
        if let Some(d) = out.iter_mut().find(|d| d.event_id == id) {
            d.attempts.push(Attempt {
                status: r.text("status")?,
                at: r.text("at")?,
                error_message: r.opt_text("error_message")?,
            });
        }
    }
    Ok(out)
}

pub async fn find_delivery(
    x: &impl Exec,
    tenant: &str,
    stream: &str,
    event_id: &str,
) -> DbResult<Option<Delivery>> {
    let row = x
        .query_opt(
            "SELECT seq FROM event_deliveries WHERE tenant_id = $1 AND stream_id = $2 AND event_id = $3",
            params![tenant, stream, event_id],
        )
        .await?;
    let Some(seq) = row.map(|r| r.i64("seq")).transpose()? else {
        return Ok(None);
    };
    // The deliveries made in that microsecond (one, but for a coincidence), with attempts.
    let mut out = list_deliveries(
        x,
        tenant,
        stream,
        &DeliveryFilter {
            from_seq: Some(seq),
            to_seq: Some(seq),
            limit: 1000,
            ..DeliveryFilter::default()
        },
    )
    .await?;
    out.retain(|d| d.event_id == event_id);
    Ok(out.into_iter().next())
}

/// A failed delivery: the stream's run of consecutive failures grows; answers its length.
pub async fn note_failure(x: &impl Exec, tenant: &str, stream: &str) -> DbResult<i64> {
    let row = x
        .query_opt(
            "INSERT INTO event_stream_health (tenant_id, stream_id, consecutive_failures) VALUES ($1, $2, 1) \
             ON CONFLICT (tenant_id, stream_id) DO UPDATE \
             SET consecutive_failures = event_stream_health.consecutive_failures + 1 \
             RETURNING consecutive_failures",
            params![tenant, stream],
        )
        .await?;
    row.map_or(Ok(0), |r| r.i64("consecutive_failures"))
}

/// A delivered event ends the stream's run of failures.
pub async fn note_success(x: &impl Exec, tenant: &str, stream: &str) -> DbResult<()> {
    x.execute(
        "UPDATE event_stream_health SET consecutive_failures = 0 WHERE tenant_id = $1 AND stream_id = $2",
        params![tenant, stream],
    )
    .await?;
    Ok(())
}

/// How many of the stream's deliveries are failed.
pub async fn count_failed(x: &impl Exec, tenant: &str, stream: &str) -> DbResult<i64> {
    let row = x
        .query_opt(
            "SELECT COUNT(*) AS n FROM event_deliveries WHERE tenant_id = $1 AND stream_id = $2 AND status = 'failed'",
            params![tenant, stream],
        )
        .await?;
    row.map_or(Ok(0), |r| r.i64("n"))
}

/// Everything kept of a deleted stream's deliveries.
pub async fn delete_stream(x: &impl Exec, tenant: &str, stream: &str) -> DbResult<()> {
    for table in [
        "event_delivery_attempts",
        "event_deliveries",
        "event_stream_health",
    ] {
        x.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND stream_id = $2"),
            params![tenant, stream],
        )
        .await?;
    }
    Ok(())
}
