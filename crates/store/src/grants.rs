//! Consent grants (`grants`): what a user allowed a client for an API, and device credentials
//! (`device-credentials`).

use serde_json::Value;

use crate::{DbResult, Exec, P, Page, Row, params, sql::Filter};

#[derive(Debug, Clone, PartialEq)]
pub struct GrantRow {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub audience: String,
    pub scope: Vec<String>,
    pub created_at: String,
}

const COLUMNS: &str = "id, user_id, client_id, audience, scope, created_at";

impl GrantRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        let scope = match r.json("scope")? {
            Value::Array(a) => a
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Self {
            id: r.text("id")?,
            user_id: r.text("user_id")?,
            client_id: r.text("client_id")?,
            audience: r.text("audience")?,
            scope,
            created_at: r.text("created_at")?,
        })
    }
}

/// The filters of `GET /grants`.
#[derive(Debug, Default, Clone, Copy)]
pub struct GrantFilter<'a> {
    pub user_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub audience: Option<&'a str>,
}

fn filter(tenant: &str, f: GrantFilter<'_>) -> Filter {
    let mut w = Filter::tenant(tenant);
    for (col, v) in [
        ("user_id", f.user_id),
        ("client_id", f.client_id),
        ("audience", f.audience),
    ] {
        if let Some(v) = v {
            w.eq(col, v);
        }
    }
    w
}

/// The grant of a user to a client for an audience.
pub async fn find_for(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    client_id: &str,
    audience: &str,
) -> DbResult<Option<GrantRow>> {
    x.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM grants WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3 \
             AND audience = $4"
        ),
        params![tenant, user_id, client_id, audience],
    )
    .await?
    .as_ref()
    .map(GrantRow::from_row)
    .transpose()
}

/// Records consent: a new grant, or the existing one's scopes widened to include `scope`, in
/// one statement.
pub async fn upsert(x: &impl Exec, tenant: &str, g: &GrantRow) -> DbResult<()> {
    x.execute(
        &format!(
            "INSERT INTO grants (tenant_id, {COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (tenant_id, user_id, client_id, audience) DO UPDATE SET scope = excluded.scope"
        ),
        params![
            tenant,
            &g.id,
            &g.user_id,
            &g.client_id,
            &g.audience,
            Value::from(g.scope.clone()),
            &g.created_at
        ],
    )
    .await?;
    Ok(())
}

pub async fn list(
    x: &impl Exec,
    tenant: &str,
    f: GrantFilter<'_>,
    page: Page,
) -> DbResult<(Vec<GrantRow>, i64)> {
    let w = filter(tenant, f);
    let wh = w.where_sql();
    let total = x
        .query_opt(
            &format!("SELECT COUNT(*) AS n FROM grants {wh}"),
            w.params.clone(),
        )
        .await?
        .map_or(Ok(0), |r| r.i64("n"))?;
    let mut ps = w.params;
    let n = ps.len();
    ps.push(P::I64(page.limit));
    ps.push(P::I64(page.offset));
    let rows = x
        .query(
            &format!(
                "SELECT {COLUMNS} FROM grants {wh} ORDER BY created_at, id LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            ps,
        )
        .await?
        .iter()
        .map(GrantRow::from_row)
        .collect::<DbResult<Vec<_>>>()?;
    Ok((rows, total))
}

pub async fn find(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<GrantRow>> {
    x.query_opt(
        &format!("SELECT {COLUMNS} FROM grants WHERE tenant_id = $1 AND id = $2"),
        params![tenant, id],
    )
    .await?
    .as_ref()
    .map(GrantRow::from_row)
    .transpose()
}

pub async fn delete(x: &impl Exec, tenant: &str, id: &str) -> DbResult<bool> {
    Ok(x.execute(
        "DELETE FROM grants WHERE tenant_id = $1 AND id = $2",
        params![tenant, id],
    )
    .await?
        == 1)
}

pub async fn delete_for_user(x: &impl Exec, tenant: &str, user_id: &str) -> DbResult<u64> {
    x.execute(
        "DELETE FROM grants WHERE tenant_id = $1 AND user_id = $2",
        params![tenant, user_id],
    )
    .await
}

// ---- device credentials ----------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceCredentialRow {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    /// `public_key` (what `POST /device-credentials` registers).
    pub kind: String,
    pub device_name: String,
    pub device_id: String,
    /// The credential itself (a public key): never shown back.
    pub value: Option<String>,
    pub created_at: String,
}

const DC_COLUMNS: &str = "id, user_id, client_id, type, device_name, device_id, value, created_at";

impl DeviceCredentialRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            user_id: r.text("user_id")?,
            client_id: r.text("client_id")?,
            kind: r.text("type")?,
            device_name: r.text("device_name")?,
            device_id: r.text("device_id")?,
            value: r.opt_text("value")?,
            created_at: r.text("created_at")?,
        })
    }
}

pub async fn insert_device_credential(
    x: &impl Exec,
    tenant: &str,
    d: &DeviceCredentialRow,
) -> DbResult<()> {
    x.execute(
        &format!(
            "INSERT INTO device_credentials (tenant_id, {DC_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
        params![
            tenant,
            &d.id,
            &d.user_id,
            &d.client_id,
            &d.kind,
            &d.device_name,
            &d.device_id,
            d.value.as_deref(),
            &d.created_at
        ],
    )
    .await?;
    Ok(())
}

/// The filters of `GET /device-credentials`.
#[derive(Debug, Default, Clone, Copy)]
pub struct DeviceFilter<'a> {
    pub user_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub kind: Option<&'a str>,
}

pub async fn list_device_credentials(
    x: &impl Exec,
    tenant: &str,
    f: DeviceFilter<'_>,
    page: Page,
) -> DbResult<(Vec<DeviceCredentialRow>, i64)> {
    let mut w = Filter::tenant(tenant);
    for (col, v) in [
        ("user_id", f.user_id),
        ("client_id", f.client_id),
        ("type", f.kind),
    ] {
        if let Some(v) = v {
            w.eq(col, v);
        }
    }
    let wh = w.where_sql();
    let total = x
        .query_opt(
            &format!("SELECT COUNT(*) AS n FROM device_credentials {wh}"),
            w.params.clone(),
        )
        .await?
        .map_or(Ok(0), |r| r.i64("n"))?;
    let mut ps = w.params;
    let n = ps.len();
    ps.push(P::I64(page.limit));
    ps.push(P::I64(page.offset));
    let rows = x
        .query(
            &format!(
                "SELECT {DC_COLUMNS} FROM device_credentials {wh} ORDER BY created_at, id \
                 LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            ps,
        )
        .await?
        .iter()
        .map(DeviceCredentialRow::from_row)
        .collect::<DbResult<Vec<_>>>()?;
    Ok((rows, total))
}

pub async fn delete_device_credential(x: &impl Exec, tenant: &str, id: &str) -> DbResult<bool> {
    Ok(x.execute(
        "DELETE FROM device_credentials WHERE tenant_id = $1 AND id = $2",
        params![tenant, id],
    )
    .await?
        == 1)
}

// ---- brute-force protection ------------------------------------------------------------------

/// One failed login of `user_id` from `ip`, counted in one statement; the count is returned
/// with whether the pair is now blocked (`threshold` failures reached; 0: never blocks).
pub async fn record_failure(
    x: &crate::Tx,
    tenant: &str,
    user_id: &str,
    ip: &str,
    threshold: i64,
    now: &str,
) -> DbResult<(i64, bool)> {
    let r = x
        .query_opt(
            "INSERT INTO login_failures (tenant_id, user_id, ip, failures, last_at, blocked_at) \
             VALUES ($1, $2, $3, 1, $5, CASE WHEN $4 > 0 AND 1 >= $4 THEN $5 ELSE NULL END) \
             ON CONFLICT (tenant_id, user_id, ip) DO UPDATE SET \
             failures = login_failures.failures + 1, last_at = excluded.last_at, \
             blocked_at = CASE WHEN login_failures.blocked_at IS NOT NULL THEN login_failures.blocked_at \
             WHEN $4 > 0 AND login_failures.failures + 1 >= $4 THEN excluded.last_at ELSE NULL END \
             RETURNING failures, blocked_at",
            params![tenant, user_id, ip, threshold, now],
        )
        .await?;
    match r {
        Some(r) => Ok((r.i64("failures")?, r.opt_text("blocked_at")?.is_some())),
        None => Ok((0, false)),
    }
}

/// True when `user_id` is blocked for `ip`.
pub async fn is_blocked(x: &impl Exec, tenant: &str, user_id: &str, ip: &str) -> DbResult<bool> {
    Ok(x.query_opt(
        "SELECT 1 AS b FROM login_failures WHERE tenant_id = $1 AND user_id = $2 AND ip = $3 \
             AND blocked_at IS NOT NULL",
        params![tenant, user_id, ip],
    )
    .await?
    .is_some())
}

/// A successful login clears the pair's count (Auth0 resets it on success).
pub async fn clear_failures(x: &impl Exec, tenant: &str, user_id: &str, ip: &str) -> DbResult<()> {
    x.execute(
        "DELETE FROM login_failures WHERE tenant_id = $1 AND user_id = $2 AND ip = $3",
        params![tenant, user_id, ip],
    )
    .await?;
    Ok(())
}

/// The IPs a user is blocked for, with when: `(ip, blocked_at)`.
pub async fn blocks_of(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
) -> DbResult<Vec<(String, String)>> {
    x.query(
        "SELECT ip, blocked_at FROM login_failures WHERE tenant_id = $1 AND user_id = $2 \
         AND blocked_at IS NOT NULL ORDER BY blocked_at, ip",
        params![tenant, user_id],
    )
    .await?
    .iter()
    .map(|r| Ok((r.text("ip")?, r.text("blocked_at")?)))
    .collect()
}

/// Unblocks a user for every IP (`DELETE /user-blocks/{id}`).
pub async fn unblock(x: &impl Exec, tenant: &str, user_id: &str) -> DbResult<u64> {
    x.execute(
        "DELETE FROM login_failures WHERE tenant_id = $1 AND user_id = $2",
        params![tenant, user_id],
    )
    .await
}

/// The users an identifier names, across connections: by e-mail (lower-case), username or
/// phone number (`GET /user-blocks?identifier=`), in creation order.
pub async fn users_by_identifier(
    x: &impl Exec,
    tenant: &str,
    identifier: &str,
) -> DbResult<Vec<String>> {
    x.query(
        "SELECT user_id FROM users WHERE tenant_id = $1 AND (email = $2 OR username = $3 \
         OR phone_number = $3) ORDER BY seq, user_id",
        params![tenant, identifier.to_lowercase(), identifier],
    )
    .await?
    .iter()
    .map(|r| r.text("user_id"))
    .collect()
}

pub async fn find_device_credential(
    x: &impl Exec,
    tenant: &str,
    id: &str,
) -> DbResult<Option<DeviceCredentialRow>> {
    x.query_opt(
        &format!("SELECT {DC_COLUMNS} FROM device_credentials WHERE tenant_id = $1 AND id = $2"),
        params![tenant, id],
    )
    .await?
    .as_ref()
    .map(DeviceCredentialRow::from_row)
    .transpose()
}

/// The grant of a user to a client for an audience, locked for the caller's transaction
/// (`FOR UPDATE` on PostgreSQL): widening a grant's scopes is a read-modify-write.
pub async fn find_for_update(
    x: &crate::Tx,
    tenant: &str,
    user_id: &str,
    client_id: &str,
    audience: &str,
) -> DbResult<Option<GrantRow>> {
    x.query_opt(
        &format!(
            "SELECT {COLUMNS} FROM grants WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3 \
             AND audience = $4{}",
            x.for_update()
        ),
        params![tenant, user_id, client_id, audience],
    )
    .await?
    .as_ref()
    .map(GrantRow::from_row)
    .transpose()
}
