//! The durable work queue (table `queue`): what must happen after a request was answered —
//! delivering a log entry to a stream, an event to a webhook, an e-mail, running a job.
//!
//! An item is enqueued in the transaction of the write that causes it, so an acknowledged
//! request never loses its work. Any instance claims due items by **leasing** them
//! (`locked_until`); the handler then removes the item ([`done`]) or puts it back for later
//! ([`retry`]). An instance that dies holding a lease loses it when the lease runs out and the
//! item is claimed again: every item is handled at least once. On PostgreSQL concurrent
//! claimers skip each other's rows (`FOR UPDATE SKIP LOCKED`); SQLite has one writer.

use std::time::Duration;

use serde_json::Value;

use crate::{Db, DbResult, Dialect, Exec, params, seq_now};

/// One claimed item.
#[derive(Debug, Clone)]
pub struct Item {
    pub tenant: String,
    pub id: String,
    pub kind: String,
    /// What the item is for (a stream's id, a job's id): lets a handler group its items.
    pub target: String,
    pub payload: Value,
    /// How many times it was put back by [`retry`].
    pub attempts: i64,
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The delay before retrying after `attempts` failed tries: `base` doubled per attempt (none for
/// the first), at most `cap`. Every kind of work backs off this way, from its own base and cap.
pub fn backoff(base: Duration, attempts: i64, cap: Duration) -> Duration {
    let exp = u32::try_from(attempts.clamp(0, 31)).unwrap_or(31);
    base.saturating_mul(1u32 << exp).min(cap)
}

/// Adds an item due after `delay`; its id (sortable: it starts with the time).
pub async fn enqueue(
    x: &impl Exec,
    tenant: &str,
    kind: &str,
    target: &str,
    payload: &Value,
    delay: Duration,
) -> DbResult<String> {
    let now = seq_now();
    let id = format!("{now:016x}{}", gatehouse_core::ids::hex_key(8));
    x.execute(
        "INSERT INTO queue (tenant_id, id, kind, target, payload, run_at) VALUES ($1, $2, $3, $4, $5, $6)",
        params![tenant, &id, kind, target, payload, now.saturating_add(micros(delay))],
    )
    .await?;
    Ok(id)
}

/// Leases up to `limit` due items of `kind` (oldest first) for `lease`.
pub async fn claim(db: &Db, kind: &str, limit: i64, lease: Duration) -> DbResult<Vec<Item>> {
    let now = seq_now();
    let skip = match db.dialect() {
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        Dialect::Sqlite => "",
    };
    let sql = format!(
        "UPDATE queue SET locked_until = $4 WHERE (tenant_id, id) IN (\
         SELECT tenant_id, id FROM queue WHERE kind = $1 AND run_at <= $2 AND locked_until <= $2 \
         ORDER BY run_at LIMIT $3{skip}) \
         RETURNING tenant_id, id, kind, target, payload, attempts"
    );
    let tx = db.begin().await?;
    let rows = tx
        .query(
            &sql,
            params![kind, now, limit, now.saturating_add(micros(lease))],
        )
        .await?;
    tx.commit().await?;
    let mut items = rows
        .iter()
        .map(|r| {
            Ok(Item {
                tenant: r.text("tenant_id")?,
                id: r.text("id")?,
                kind: r.text("kind")?,
                target: r.text("target")?,
                payload: r.json("payload")?,
                attempts: r.i64("attempts")?,
            })
        })
        .collect::<DbResult<Vec<_>>>()?;
    // RETURNING gives no order; the id starts with the time of enqueueing.
    items.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(items)
}

/// The item was handled: it is removed.
pub async fn done(x: &impl Exec, tenant: &str, id: &str) -> DbResult<()> {
    x.execute(
        "DELETE FROM queue WHERE tenant_id = $1 AND id = $2",
        params![tenant, id],
    )
    .await?;
    Ok(())
}

/// Several handled items of one tenant removed at once.
pub async fn done_many(x: &impl Exec, tenant: &str, ids: &[String]) -> DbResult<()> {
    for chunk in ids.chunks(200) {
        let mut ps = vec![crate::P::from(tenant)];
        let mut marks = Vec::with_capacity(chunk.len());
        for id in chunk {
            ps.push(crate::P::from(id));
            marks.push(format!("${}", ps.len()));
        }
        x.execute(
            &format!(
                "DELETE FROM queue WHERE tenant_id = $1 AND id IN ({})",
                marks.join(", ")
            ),
            ps,
        )
        .await?;
    }
    Ok(())
}

/// The item failed this time: due again after `delay`, its attempt counted.
pub async fn retry(
    x: &impl Exec,
    tenant: &str,
    id: &str,
    delay: Duration,
    error: &str,
) -> DbResult<()> {
    x.execute(
        "UPDATE queue SET run_at = $3, locked_until = 0, attempts = attempts + 1, last_error = $4 \
         WHERE tenant_id = $1 AND id = $2",
        params![tenant, id, seq_now().saturating_add(micros(delay)), error],
    )
    .await?;
    Ok(())
}

/// Keeps the lease of an item still being worked on (a long job) for `lease` from now.
pub async fn extend(x: &impl Exec, tenant: &str, id: &str, lease: Duration) -> DbResult<()> {
    x.execute(
        "UPDATE queue SET locked_until = $3 WHERE tenant_id = $1 AND id = $2",
        params![tenant, id, seq_now().saturating_add(micros(lease))],
    )
    .await?;
    Ok(())
}

/// Removes every item of `kind` for `target` (a stream deleted: its deliveries go with it).
pub async fn drop_target(x: &impl Exec, tenant: &str, kind: &str, target: &str) -> DbResult<u64> {
    x.execute(
        "DELETE FROM queue WHERE tenant_id = $1 AND kind = $2 AND target = $3",
        params![tenant, kind, target],
    )
    .await
}

/// How many items of `kind` for `target` wait (due or not).
pub async fn pending(x: &impl Exec, tenant: &str, kind: &str, target: &str) -> DbResult<i64> {
    let row = x
        .query_opt(
            "SELECT COUNT(*) AS n FROM queue WHERE tenant_id = $1 AND kind = $2 AND target = $3",
            params![tenant, kind, target],
        )
        .await?;
    row.map_or(Ok(0), |r| r.i64("n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(5), 0, s(600)), s(5));
        assert_eq!(backoff(s(5), 3, s(600)), s(40));
        assert_eq!(backoff(s(5), 7, s(600)), s(600));
        assert_eq!(backoff(s(1), 1_000, s(600)), s(600));
        assert_eq!(backoff(s(1), -4, s(600)), s(1));
    }
}
