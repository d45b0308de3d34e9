//! Login sessions (`sessions`) and authorization codes. A session is found by the hash of its
//! cookie's secret; a code by the hash of the code. Times that expire are unix seconds.

use serde_json::Value;

use crate::{DbResult, Exec, Row, params};

#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub cookie_hash: String,
    pub created_at: String,
    pub updated_at: String,
    pub authenticated_at: String,
    pub last_interacted_at: String,
    /// Unix seconds: the absolute lifetime's end.
    pub expires_at: i64,
    /// Unix seconds: the end of the idle lifetime, moved on at each use.
    pub idle_expires_at: i64,
    /// `device`, `clients`, `authentication`, `session_metadata`.
    pub body: Value,
}

const COLUMNS: &str = "id, user_id, cookie_hash, created_at, updated_at, authenticated_at, \
     last_interacted_at, expires_at, idle_expires_at, body";

impl SessionRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            user_id: r.text("user_id")?,
            cookie_hash: r.text("cookie_hash")?,
            created_at: r.text("created_at")?,
            updated_at: r.text("updated_at")?,
            authenticated_at: r.text("authenticated_at")?,
            last_interacted_at: r.text("last_interacted_at")?,
            expires_at: r.i64("expires_at")?,
            idle_expires_at: r.i64("idle_expires_at")?,
            body: r.json("body")?,
        })
    }

    /// True while neither lifetime has ended at `now` (unix seconds).
    pub fn is_live(&self, now: i64) -> bool {
        now < self.expires_at && now < self.idle_expires_at
    }
}

pub async fn insert(x: &impl Exec, tenant: &str, s: &SessionRow) -> DbResult<()> {
    x.execute(
        &format!(
            "INSERT INTO sessions (tenant_id, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        ),
        params![
            tenant,
            &s.id,
            &s.user_id,
            &s.cookie_hash,
            &s.created_at,
            &s.updated_at,
            &s.authenticated_at,
            &s.last_interacted_at,
            s.expires_at,
            s.idle_expires_at,
            &s.body
        ],
    )
    .await?;
    Ok(())
}

pub async fn find(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<SessionRow>> {
    x.query_opt(
        &format!("SELECT {COLUMNS} FROM sessions WHERE tenant_id = $1 AND id = $2"),
        params![tenant, id],
    )
    .await?
    .as_ref()
    .map(SessionRow::from_row)
    .transpose()
}

/// The session a cookie names (live or not: the caller checks [`SessionRow::is_live`]).
pub async fn find_by_cookie(
    x: &impl Exec,
    tenant: &str,
    cookie_hash: &str,
) -> DbResult<Option<SessionRow>> {
    x.query_opt(
        &format!("SELECT {COLUMNS} FROM sessions WHERE tenant_id = $1 AND cookie_hash = $2"),
        params![tenant, cookie_hash],
    )
    .await?
    .as_ref()
    .map(SessionRow::from_row)
    .transpose()
}

/// The session, locked for the caller's transaction (`FOR UPDATE` on PostgreSQL).
pub async fn find_for_update(
    x: &crate::Tx,
    tenant: &str,
    id: &str,
) -> DbResult<Option<SessionRow>> {
    x.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM sessions WHERE tenant_id = $1 AND id = $2{}",
            x.for_update()
        ),
        params![tenant, id],
    )
    .await?
    .as_ref()
    .map(SessionRow::from_row)
    .transpose()
}

/// Writes back what changes in a session's life: the interaction times, the idle expiry, the
/// body (clients, device's last ip/agent, authentication methods). False when it is gone.
pub async fn update(x: &impl Exec, tenant: &str, s: &SessionRow) -> DbResult<bool> {
    Ok(x.execute(
        "UPDATE sessions SET updated_at = $3, authenticated_at = $4, last_interacted_at = $5, \
         expires_at = $6, idle_expires_at = $7, body = $8 WHERE tenant_id = $1 AND id = $2",
        params![
            tenant,
            &s.id,
            &s.updated_at,
            &s.authenticated_at,
            &s.last_interacted_at,
            s.expires_at,
            s.idle_expires_at,
            &s.body
        ],
    )
    .await?
        == 1)
}

/// A user's sessions, oldest first, after `after` = `(created_at, id)` of the last one seen.
pub async fn list_for_user(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    after: Option<(&str, &str)>,
    limit: i64,
) -> DbResult<Vec<SessionRow>> {
    let (c, i) = after.unwrap_or(("", ""));
    x.query(
        &format!(
            "SELECT {COLUMNS} FROM sessions WHERE tenant_id = $1 AND user_id = $2 \
             AND (created_at > $3 OR (created_at = $3 AND id > $4)) \
             ORDER BY created_at, id LIMIT $5"
        ),
        params![tenant, user_id, c, i, limit],
    )
    .await?
    .iter()
    .map(SessionRow::from_row)
    .collect()
}

/// Deletes one session; true when it existed.
pub async fn delete(x: &impl Exec, tenant: &str, id: &str) -> DbResult<bool> {
    Ok(x.execute(
        "DELETE FROM sessions WHERE tenant_id = $1 AND id = $2",
        params![tenant, id],
    )
    .await?
        == 1)
}

/// Deletes every session of a user; how many there were.
pub async fn delete_for_user(x: &impl Exec, tenant: &str, user_id: &str) -> DbResult<u64> {
    x.execute(
        "DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2",
        params![tenant, user_id],
    )
    .await
}

// ---- authorization codes ---------------------------------------------------------------------

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq)]
pub enum Redeemed {
    /// Unused and unexpired: now used. Its body.
    Fresh(Value),
    /// Used before (a replay) or expired: its body, so that what it issued can be revoked.
    Spent(Value),
    /// No such code.
    Unknown,
}

pub async fn insert_code(
    x: &impl Exec,
    tenant: &str,
    code_hash: &str,
    client_id: &str,
    body: &Value,
    expires_at: i64,
) -> DbResult<()> {
    x.execute(
        "INSERT INTO auth_codes (tenant_id, code_hash, client_id, body, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
        params![tenant, code_hash, client_id, body, expires_at],
    )
    .await?;
    Ok(())
}

/// Marks the code used, in one statement, if it is unused and unexpired at `now`: only one of
/// two concurrent redemptions gets [`Redeemed::Fresh`]. In a transaction (a write that returns).
pub async fn redeem_code(
    x: &crate::Tx,
    tenant: &str,
    code_hash: &str,
    now: i64,
) -> DbResult<Redeemed> {
    if let Some(r) = x
        .query_opt(
            "UPDATE auth_codes SET used_at = $3 WHERE tenant_id = $1 AND code_hash = $2 \
             AND used_at IS NULL AND expires_at > $3 RETURNING body",
            params![tenant, code_hash, now],
        )
        .await?
    {
        return Ok(Redeemed::Fresh(r.json("body")?));
    }
    Ok(
        match x
            .query_opt(
                "SELECT body FROM auth_codes WHERE tenant_id = $1 AND code_hash = $2",
                params![tenant, code_hash],
            )
            .await?
        {
            Some(r) => Redeemed::Spent(r.json("body")?),
            None => Redeemed::Unknown,
        },
    )
}

/// Records what a redeemed code issued (in its body), for revocation on replay.
pub async fn set_code_body(
    x: &impl Exec,
    tenant: &str,
    code_hash: &str,
    body: &Value,
) -> DbResult<()> {
    x.execute(
        "UPDATE auth_codes SET body = $3 WHERE tenant_id = $1 AND code_hash = $2",
        params![tenant, code_hash, body],
    )
    .await?;
    Ok(())
}

/// Deletes codes that expired before `before` (unix seconds); how many.
pub async fn prune_codes(x: &impl Exec, tenant: &str, before: i64) -> DbResult<u64> {
    x.execute(
        "DELETE FROM auth_codes WHERE tenant_id = $1 AND expires_at < $2",
        params![tenant, before],
    )
    .await
}
