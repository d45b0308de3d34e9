//! Generic JSON documents keyed by (tenant, kind, id): the storage of the many simple
//! configuration resources.

use serde_json::Value;

use crate::{DbResult, Exec, Page, Tx, params, sql::Filter};

pub async fn get(x: &impl Exec, tenant: &str, kind: &str, id: &str) -> DbResult<Option<Value>> {
    x.query_opt(
        "SELECT body FROM docs WHERE tenant_id = $1 AND kind = $2 AND id = $3",
        params![tenant, kind, id],
    )
    .await?
    .map(|r| r.json("body"))
    .transpose()
}

/// Inserts or replaces a document.
pub async fn put(
    x: &impl Exec,
    tenant: &str,
    kind: &str,
    id: &str,
    body: &Value,
    now: &str,
) -> DbResult<()> {
    x.execute(
        "INSERT INTO docs (tenant_id, kind, id, body, seq, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (tenant_id, kind, id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        params![tenant, kind, id, body, crate::seq_now(), now],
    )
    .await?;
    Ok(())
}

/// Stores `body` unless a document is there already; the document that is there afterwards
/// (one atomic statement and a read: two concurrent first writers agree on one document).
pub async fn insert_or_get(
    x: &impl Exec,
    tenant: &str,
    kind: &str,
    id: &str,
    body: &Value,
    now: &str,
) -> DbResult<Value> {
    insert_if_absent(x, tenant, kind, id, body, now).await?;
    get(x, tenant, kind, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("document {kind}/{id} vanished after its insert"))
}

/// Stores `body` unless a document is there already (one atomic statement).
async fn insert_if_absent(
    x: &impl Exec,
    tenant: &str,
    kind: &str,
    id: &str,
    body: &Value,
    now: &str,
) -> DbResult<()> {
    x.execute(
        "INSERT INTO docs (tenant_id, kind, id, body, seq, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (tenant_id, kind, id) DO NOTHING",
        params![tenant, kind, id, body, crate::seq_now(), now],
    )
    .await?;
    Ok(())
}

/// The document, locked until the transaction ends; stored as `initial` first when there is
/// none, so that two first writers of a singleton serialise on one row (an atomic insert, then
/// the locking read).
pub async fn lock_or_create(
    tx: &Tx,
    tenant: &str,
    kind: &str,
    id: &str,
    initial: &Value,
    now: &str,
) -> DbResult<Value> {
    insert_if_absent(tx, tenant, kind, id, initial, now).await?;
    lock(tx, tenant, kind, id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("document {kind}/{id} vanished after its insert"))
}

/// The document, locked until the transaction ends (`None` when there is none).
pub async fn lock(tx: &Tx, tenant: &str, kind: &str, id: &str) -> DbResult<Option<Value>> {
    tx.query_opt(
        &format!(
            "SELECT body FROM docs WHERE tenant_id = $1 AND kind = $2 AND id = $3{}",
            tx.for_update()
        ),
        params![tenant, kind, id],
    )
    .await?
    .map(|r| r.json("body"))
    .transpose()
}

pub async fn list(
    x: &impl Exec,
    tenant: &str,
    kind: &str,
    page: Page,
) -> DbResult<(Vec<Value>, i64)> {
    let mut w = Filter::tenant(tenant);
    w.eq("kind", kind);
    let where_sql = w.where_sql();
    let total = x
        .query_opt(
            &format!("SELECT COUNT(*) AS n FROM docs {where_sql}"),
            w.params.clone(),
        )
        .await?
        .map_or(Ok(0), |r| r.i64("n"))?;
    let mut ps = w.params.clone();
    ps.extend(params![page.limit, page.offset]);
    let rows = x
        .query(
            &format!("SELECT body FROM docs {where_sql} ORDER BY seq, id LIMIT $3 OFFSET $4"),
            ps,
        )
        .await?;
    Ok((
        rows.iter()
            .map(|r| r.json("body"))
            .collect::<DbResult<_>>()?,
        total,
    ))
}

pub async fn delete(x: &impl Exec, tenant: &str, kind: &str, id: &str) -> DbResult<bool> {
    Ok(x.execute(
        "DELETE FROM docs WHERE tenant_id = $1 AND kind = $2 AND id = $3",
        params![tenant, kind, id],
    )
    .await?
        > 0)
}

/// Deletes a tenant's documents of `kind` last written before `before` (an RFC 3339 time);
/// how many.
pub async fn delete_before(x: &impl Exec, tenant: &str, kind: &str, before: &str) -> DbResult<u64> {
    x.execute(
        "DELETE FROM docs WHERE tenant_id = $1 AND kind = $2 AND updated_at < $3",
        params![tenant, kind, before],
    )
    .await
}
