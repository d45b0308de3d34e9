//! Refresh tokens (`refresh-tokens`), found by the SHA-256 of the token. Rotation replaces a
//! token by a new one of the same family and marks the old one `rotated_at`.

use serde_json::Value;

use crate::{DbResult, Exec, Row, params};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RefreshTokenRow {
    pub id: String,
    pub token_hash: String,
    pub family_id: String,
    pub user_id: String,
    pub client_id: String,
    pub session_id: Option<String>,
    pub rotating: bool,
    pub audience: Option<String>,
    /// Space-separated, as granted.
    pub scope: String,
    pub created_at: String,
    pub last_exchanged_at: Option<String>,
    /// Unix seconds; `None`: no absolute / idle expiry.
    pub expires_at: Option<i64>,
    pub idle_expires_at: Option<i64>,
    /// Unix seconds: when rotation replaced it.
    pub rotated_at: Option<i64>,
    /// `device`, `resource_servers`, `refresh_token_metadata`, and what a refresh needs to mint
    /// the same claims again (`organization`, `auth_time`, `amr`).
    pub body: Value,
}

const COLUMNS: &str = "id, token_hash, family_id, user_id, client_id, session_id, rotating, \
     audience, scope, created_at, last_exchanged_at, expires_at, idle_expires_at, rotated_at, body";

impl RefreshTokenRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            token_hash: r.text("token_hash")?,
            family_id: r.text("family_id")?,
            user_id: r.text("user_id")?,
            client_id: r.text("client_id")?,
            session_id: r.opt_text("session_id")?,
            rotating: r.bool("rotating")?,
            audience: r.opt_text("audience")?,
            scope: r.text("scope")?,
            created_at: r.text("created_at")?,
            last_exchanged_at: r.opt_text("last_exchanged_at")?,
            expires_at: r.opt_i64("expires_at")?,
            idle_expires_at: r.opt_i64("idle_expires_at")?,
            rotated_at: r.opt_i64("rotated_at")?,
            body: r.json("body")?,
        })
    }

    /// True while neither lifetime has ended at `now` (unix seconds).
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|e| now < e) && self.idle_expires_at.is_none_or(|e| now < e)
    }
}

pub async fn insert(x: &impl Exec, tenant: &str, t: &RefreshTokenRow) -> DbResult<()> {
    x.execute(
        &format!(
            "INSERT INTO refresh_tokens (tenant_id, {COLUMNS}) VALUES \
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        ),
        params![
            tenant,
            &t.id,
            &t.token_hash,
            &t.family_id,
            &t.user_id,
            &t.client_id,
            t.session_id.as_deref(),
            t.rotating,
            t.audience.as_deref(),
            &t.scope,
            &t.created_at,
            t.last_exchanged_at.as_deref(),
            t.expires_at,
            t.idle_expires_at,
            t.rotated_at,
            &t.body
        ],
    )
    .await?;
    Ok(())
}

pub async fn find(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<RefreshTokenRow>> {
    x.query_opt(
        &format!("SELECT {COLUMNS} FROM refresh_tokens WHERE tenant_id = $1 AND id = $2"),
        params![tenant, id],
    )
    .await?
    .as_ref()
    .map(RefreshTokenRow::from_row)
    .transpose()
}

/// The token with this hash, locked for the caller's transaction (the exchange that rotates or
/// touches it).
pub async fn find_by_hash_for_update(
    x: &crate::Tx,
    tenant: &str,
    token_hash: &str,
) -> DbResult<Option<RefreshTokenRow>> {
    x.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM refresh_tokens WHERE tenant_id = $1 AND token_hash = $2{}",
            x.for_update()
        ),
        params![tenant, token_hash],
    )
    .await?
    .as_ref()
    .map(RefreshTokenRow::from_row)
    .transpose()
}

pub async fn find_by_hash(
    x: &impl Exec,
    tenant: &str,
    token_hash: &str,
) -> DbResult<Option<RefreshTokenRow>> {
    x.query_opt(
        &format!("SELECT {COLUMNS} FROM refresh_tokens WHERE tenant_id = $1 AND token_hash = $2"),
        params![tenant, token_hash],
    )
    .await?
    .as_ref()
    .map(RefreshTokenRow::from_row)
    .transpose()
}

/// Records an exchange: `last_exchanged_at`, the idle expiry, the rotation mark and the body.
pub async fn update(x: &impl Exec, tenant: &str, t: &RefreshTokenRow) -> DbResult<bool> {
    Ok(x.execute(
        "UPDATE refresh_tokens SET last_exchanged_at = $3, idle_expires_at = $4, rotated_at = $5, \
         body = $6 WHERE tenant_id = $1 AND id = $2",
        params![
            tenant,
            &t.id,
            t.last_exchanged_at.as_deref(),
            t.idle_expires_at,
            t.rotated_at,
            &t.body
        ],
    )
    .await?
        == 1)
}

/// A user's refresh tokens still in use (not replaced by rotation), oldest first, after
/// `after` = `(created_at, id)` of the last one seen.
pub async fn list_for_user(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    after: Option<(&str, &str)>,
    limit: i64,
) -> DbResult<Vec<RefreshTokenRow>> {
    let (c, i) = after.unwrap_or(("", ""));
    x.query(
        &format!(
            "SELECT {COLUMNS} FROM refresh_tokens WHERE tenant_id = $1 AND user_id = $2 \
             AND rotated_at IS NULL AND (created_at > $3 OR (created_at = $3 AND id > $4)) \
             ORDER BY created_at, id LIMIT $5"
        ),
        params![tenant, user_id, c, i, limit],
    )
    .await?
    .iter()
    .map(RefreshTokenRow::from_row)
    .collect()
}

/// Deletes one token and the rest of its rotation family; how many rows.
pub async fn delete_family_of(x: &impl Exec, tenant: &str, id: &str) -> DbResult<u64> {
    x.execute(
        "DELETE FROM refresh_tokens WHERE tenant_id = $1 AND family_id IN \
         (SELECT family_id FROM refresh_tokens WHERE tenant_id = $1 AND id = $2)",
        params![tenant, id],
    )
    .await
}

/// Deletes every token of a family (reuse detected, or the token revoked).
pub async fn delete_family(x: &impl Exec, tenant: &str, family_id: &str) -> DbResult<u64> {
    x.execute(
        "DELETE FROM refresh_tokens WHERE tenant_id = $1 AND family_id = $2",
        params![tenant, family_id],
    )
    .await
}

pub async fn delete_for_user(x: &impl Exec, tenant: &str, user_id: &str) -> DbResult<u64> {
    x.execute(
        "DELETE FROM refresh_tokens WHERE tenant_id = $1 AND user_id = $2",
        params![tenant, user_id],
    )
    .await
}

/// Deletes the tokens issued in a session (when the session is revoked).
pub async fn delete_for_session(x: &impl Exec, tenant: &str, session_id: &str) -> DbResult<u64> {
    x.execute(
        "DELETE FROM refresh_tokens WHERE tenant_id = $1 AND session_id = $2",
        params![tenant, session_id],
    )
    .await
}

/// Deletes a user's tokens for one client (a grant revoked, `revoke-access` for a client).
pub async fn delete_for_user_client(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    client_id: &str,
) -> DbResult<u64> {
    x.execute(
        "DELETE FROM refresh_tokens WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3",
        params![tenant, user_id, client_id],
    )
    .await
}

/// The token, locked for the caller's transaction (a metadata update).
pub async fn find_for_update(
    x: &crate::Tx,
    tenant: &str,
    id: &str,
) -> DbResult<Option<RefreshTokenRow>> {
    x.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM refresh_tokens WHERE tenant_id = $1 AND id = $2{}",
            x.for_update()
        ),
        params![tenant, id],
    )
    .await?
    .as_ref()
    .map(RefreshTokenRow::from_row)
    .transpose()
}

/// [`list_for_user`], optionally only the tokens of one client.
pub async fn list_for_user_client(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    client_id: Option<&str>,
    after: Option<(&str, &str)>,
    limit: i64,
) -> DbResult<Vec<RefreshTokenRow>> {
    let Some(client_id) = client_id else {
        return list_for_user(x, tenant, user_id, after, limit).await;
    };
    let (c, i) = after.unwrap_or(("", ""));
    x.query(
        &format!(
            "SELECT {COLUMNS} FROM refresh_tokens WHERE tenant_id = $1 AND user_id = $2 \
             AND client_id = $3 AND rotated_at IS NULL \
             AND (created_at > $4 OR (created_at = $4 AND id > $5)) \
             ORDER BY created_at, id LIMIT $6"
        ),
        params![tenant, user_id, client_id, c, i, limit],
    )
    .await?
    .iter()
    .map(RefreshTokenRow::from_row)
    .collect()
}

/// Deletes every token of a client (`POST /refresh-tokens/revoke` by `client_id`).
pub async fn delete_for_client(x: &impl Exec, tenant: &str, client_id: &str) -> DbResult<u64> {
    x.execute(
        "DELETE FROM refresh_tokens WHERE tenant_id = $1 AND client_id = $2",
        params![tenant, client_id],
    )
    .await
}

/// Deletes the tokens issued in any session of a user (before the sessions themselves go).
pub async fn delete_for_sessions_of_user(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
) -> DbResult<u64> {
    x.execute(
        "DELETE FROM refresh_tokens WHERE tenant_id = $1 AND session_id IN \
         (SELECT id FROM sessions WHERE tenant_id = $1 AND user_id = $2)",
        params![tenant, user_id],
    )
    .await
}

/// Tokens still in use (not replaced by rotation), optionally of one user, one client, and
/// rotating or not, oldest first, offset-paged (`GET /device-credentials?type=…refresh_token`),
/// with their total.
pub async fn list_filtered(
    x: &impl Exec,
    tenant: &str,
    user_id: Option<&str>,
    client_id: Option<&str>,
    rotating: Option<bool>,
    page: crate::Page,
) -> DbResult<(Vec<RefreshTokenRow>, i64)> {
    let mut w = crate::sql::Filter::tenant(tenant);
    if let Some(u) = user_id {
        w.eq("user_id", u);
    }
    if let Some(c) = client_id {
        w.eq("client_id", c);
    }
    if let Some(r) = rotating {
        w.eq("rotating", r);
    }
    w.clause("rotated_at IS NULL".into());
    let wh = w.where_sql();
    let total = x
        .query_opt(
            &format!("SELECT COUNT(*) AS n FROM refresh_tokens {wh}"),
            w.params.clone(),
        )
        .await?
        .map_or(Ok(0), |r| r.i64("n"))?;
    let mut ps = w.params;
    let n = ps.len();
    ps.push(crate::P::I64(page.limit));
    ps.push(crate::P::I64(page.offset));
    let rows = x
        .query(
            &format!(
                "SELECT {COLUMNS} FROM refresh_tokens {wh} ORDER BY created_at, id \
                 LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            ps,
        )
        .await?
        .iter()
        .map(RefreshTokenRow::from_row)
        .collect::<DbResult<Vec<_>>>()?;
    Ok((rows, total))
}
