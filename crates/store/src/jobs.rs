//! Jobs (`users_import`, `users_export`, `verification_email`), their per-user errors and files,
//! and tickets. The work itself runs from the durable queue (`crate::queue`); these rows are what
//! `GET /jobs/{id}` shows and what the worker records as it goes.

use serde_json::Value;

use crate::{DbResult, Exec, Locked, Row, Tx, params};

#[derive(Debug, Clone, PartialEq)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub status: String,
    /// What the request set (`connection_id`, `connection`, `format`, `fields`, …).
    pub body: Value,
    pub summary: Option<Value>,
    pub percentage_done: i64,
    pub time_left_seconds: Option<i64>,
    pub status_details: Option<String>,
    pub location_hash: Option<String>,
    pub expires_at: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, type, status, body, summary, percentage_done, time_left_seconds, status_details, location_hash, expires_at, created_at, updated_at";

impl JobRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            kind: r.text("type")?,
            status: r.text("status")?,
            body: r.json("body")?,
            summary: match r.json("summary")? {
                Value::Null => None,
                v => Some(v),
            },
            percentage_done: r.i64("percentage_done")?,
            time_left_seconds: r.opt_i64("time_left_seconds")?,
            status_details: r.opt_text("status_details")?,
            location_hash: r.opt_text("location_hash")?,
            expires_at: r.opt_i64("expires_at")?,
            created_at: r.text("created_at")?,
            updated_at: r.text("updated_at")?,
        })
    }
}

pub async fn insert(x: &impl Exec, tenant: &str, j: &JobRow) -> DbResult<()> {
    x.execute(
        &format!(
            "INSERT INTO jobs (tenant_id, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ),
        params![
            tenant,
            &j.id,
            &j.kind,
            &j.status,
            &j.body,
            j.summary.as_ref(),
            j.percentage_done,
            j.time_left_seconds,
            j.status_details.as_deref(),
            j.location_hash.as_deref(),
            j.expires_at,
            &j.created_at,
            &j.updated_at
        ],
    )
    .await?;
    Ok(())
}

pub async fn find(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<JobRow>> {
    x.query_opt(
        &format!("SELECT {COLUMNS} FROM jobs WHERE tenant_id = $1 AND id = $2"),
        params![tenant, id],
    )
    .await?
    .as_ref()
    .map(JobRow::from_row)
    .transpose()
}

/// The job, locked until the transaction ends (the worker's progress writes start here).
pub async fn find_for_update(tx: &Tx, tenant: &str, id: &str) -> DbResult<Option<Locked<JobRow>>> {
    tx.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM jobs WHERE tenant_id = $1 AND id = $2{}",
            tx.for_update()
        ),
        params![tenant, id],
    )
    .await?
    .map(|r| Locked::new(r).try_map(JobRow::from_row))
    .transpose()
}

/// Writes back the worker's columns of a locked job.
pub async fn update(x: &impl Exec, tenant: &str, j: &Locked<JobRow>) -> DbResult<()> {
    x.execute(
        "UPDATE jobs SET status = $3, summary = $4, percentage_done = $5, time_left_seconds = $6, \
         status_details = $7, location_hash = $8, expires_at = $9, updated_at = $10 \
         WHERE tenant_id = $1 AND id = $2",
        params![
            tenant,
            &j.id,
            &j.status,
            j.summary.as_ref(),
            j.percentage_done,
            j.time_left_seconds,
            j.status_details.as_deref(),
            j.location_hash.as_deref(),
            j.expires_at,
            &j.updated_at
        ],
    )
    .await?;
    Ok(())
}

/// The export whose download token hashes to `hash`: `(tenant, job)`.
pub async fn find_by_location(x: &impl Exec, hash: &str) -> DbResult<Option<(String, JobRow)>> {
    let row = x
        .query_opt(
            &format!("SELECT tenant_id, {COLUMNS} FROM jobs WHERE location_hash = $1"),
            params![hash],
        )
        .await?;
    match row {
        Some(r) => Ok(Some((r.text("tenant_id")?, JobRow::from_row(&r)?))),
        None => Ok(None),
    }
}

// ---- errors -------------------------------------------------------------------------------

/// Appends per-user errors (`{user, errors}`), numbered after those already there.
pub async fn add_errors(
    x: &impl Exec,
    tenant: &str,
    job: &str,
    errors: Vec<Value>,
) -> DbResult<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let first = x
        .query_opt(
            "SELECT COALESCE(MAX(n), -1) AS n FROM job_errors WHERE tenant_id = $1 AND job_id = $2",
            params![tenant, job],
        )
        .await?
        .map(|r| r.i64("n"))
        .transpose()?
        .unwrap_or(-1)
        + 1;
    let rows = (first..)
        .zip(errors)
        .map(|(n, e)| params![tenant, job, n, e])
        .collect();
    crate::bulk::insert_rows(x, "job_errors", &["tenant_id", "job_id", "n", "body"], rows).await?;
    Ok(())
}

pub async fn errors(x: &impl Exec, tenant: &str, job: &str) -> DbResult<Vec<Value>> {
    x.query(
        "SELECT body FROM job_errors WHERE tenant_id = $1 AND job_id = $2 ORDER BY n",
        params![tenant, job],
    )
    .await?
    .iter()
    .map(|r| r.json("body"))
    .collect()
}

// ---- files --------------------------------------------------------------------------------

/// Appends chunk `n` of a job's `kind` file.
pub async fn put_chunk(
    x: &impl Exec,
    tenant: &str,
    job: &str,
    kind: &str,
    n: i64,
    data: &str,
) -> DbResult<()> {
    x.execute(
        "INSERT INTO job_files (tenant_id, job_id, kind, n, data) VALUES ($1, $2, $3, $4, $5)",
        params![tenant, job, kind, n, data],
    )
    .await?;
    Ok(())
}

/// How many chunks the file has.
pub async fn chunk_count(x: &impl Exec, tenant: &str, job: &str, kind: &str) -> DbResult<i64> {
    x.query_opt(
        "SELECT COUNT(*) AS c FROM job_files WHERE tenant_id = $1 AND job_id = $2 AND kind = $3",
        params![tenant, job, kind],
    )
    .await?
    .map_or(Ok(0), |r| r.i64("c"))
}

pub async fn chunk(
    x: &impl Exec,
    tenant: &str,
    job: &str,
    kind: &str,
    n: i64,
) -> DbResult<Option<String>> {
    x.query_opt(
        "SELECT data FROM job_files WHERE tenant_id = $1 AND job_id = $2 AND kind = $3 AND n = $4",
        params![tenant, job, kind, n],
    )
    .await?
    .map(|r| r.text("data"))
    .transpose()
}

pub async fn delete_file(x: &impl Exec, tenant: &str, job: &str, kind: &str) -> DbResult<()> {
    x.execute(
        "DELETE FROM job_files WHERE tenant_id = $1 AND job_id = $2 AND kind = $3",
        params![tenant, job, kind],
    )
    .await?;
    Ok(())
}

// ---- tickets ------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct TicketRow {
    pub token_hash: String,
    /// `email_verification` or `password_change`.
    pub kind: String,
    pub user_id: String,
    /// `result_url`, `includeEmailInRedirect`, `mark_email_as_verified`, `client_id`, …
    pub body: Value,
    /// Unix seconds.
    pub expires_at: i64,
    pub used_at: Option<String>,
    pub created_at: String,
}

const TICKET_COLUMNS: &str = "token_hash, kind, user_id, body, expires_at, used_at, created_at";

impl TicketRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            token_hash: r.text("token_hash")?,
            kind: r.text("kind")?,
            user_id: r.text("user_id")?,
            body: r.json("body")?,
            expires_at: r.i64("expires_at")?,
            used_at: r.opt_text("used_at")?,
            created_at: r.text("created_at")?,
        })
    }
}

pub async fn insert_ticket(x: &impl Exec, tenant: &str, t: &TicketRow) -> DbResult<()> {
    x.execute(
        &format!(
            "INSERT INTO tickets (tenant_id, {TICKET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ),
        params![
            tenant,
            &t.token_hash,
            &t.kind,
            &t.user_id,
            &t.body,
            t.expires_at,
            t.used_at.as_deref(),
            &t.created_at
        ],
    )
    .await?;
    Ok(())
}

pub async fn find_ticket(x: &impl Exec, tenant: &str, hash: &str) -> DbResult<Option<TicketRow>> {
    x.query_opt(
        &format!("SELECT {TICKET_COLUMNS} FROM tickets WHERE tenant_id = $1 AND token_hash = $2"),
        params![tenant, hash],
    )
    .await?
    .as_ref()
    .map(TicketRow::from_row)
    .transpose()
}

/// Marks the ticket used if it is unused and unexpired at `now` (unix seconds): true for the one
/// caller that consumed it. Run it in the transaction that does what the ticket allows.
pub async fn consume_ticket(
    x: &impl Exec,
    tenant: &str,
    hash: &str,
    now: i64,
    used_at: &str,
) -> DbResult<bool> {
    Ok(x.execute(
        "UPDATE tickets SET used_at = $4 WHERE tenant_id = $1 AND token_hash = $2 \
             AND used_at IS NULL AND expires_at > $3",
        params![tenant, hash, now, used_at],
    )
    .await?
        == 1)
}

// ---- exports ------------------------------------------------------------------------------

/// The next `limit` users after `(seq, user_id)` position `after` (all of the tenant's, or one
/// connection's, by name), in insertion order, with their positions: an export's pages.
pub async fn users_page(
    x: &impl Exec,
    tenant: &str,
    connection: Option<&str>,
    after: &(i64, String),
    limit: i64,
) -> DbResult<Vec<(i64, crate::users::UserRow)>> {
    let cols = crate::users::USER_COLUMNS;
    let mut f = crate::sql::Filter::tenant(tenant);
    if let Some(c) = connection {
        f.eq("connection", c);
    }
    let (a, b, c) = (f.bind(after.0), f.bind(after.0), f.bind(after.1.clone()));
    f.clause(format!("(seq > {a} OR (seq = {b} AND user_id > {c}))"));
    let l = f.bind(limit);
    let rows = x
        .query(
            &format!(
                "SELECT {cols}, seq FROM users {} ORDER BY seq, user_id LIMIT {l}",
                f.where_sql()
            ),
            f.params,
        )
        .await?;
    rows.iter()
        .map(|r| Ok((r.i64("seq")?, crate::users::UserRow::from_row(r)?)))
        .collect()
}

/// How many users an export of the tenant (or of one connection, by name) has.
pub async fn count_users(x: &impl Exec, tenant: &str, connection: Option<&str>) -> DbResult<i64> {
    let row = match connection {
        Some(c) => {
            x.query_opt(
                "SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1 AND connection = $2",
                params![tenant, c],
            )
            .await?
        }
        None => {
            x.query_opt(
                "SELECT COUNT(*) AS n FROM users WHERE tenant_id = $1",
                params![tenant],
            )
            .await?
        }
    };
    row.map_or(Ok(0), |r| r.i64("n"))
}
