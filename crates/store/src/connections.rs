//! Connections: where users come from (database, social, enterprise, passwordless), which clients
//! they are enabled for, their signing keys and their SCIM tokens.

use serde_json::Value;

use crate::{DbResult, Exec, Locked, P, Page, Row, Tx, params, sql::Filter, table::Table};

pub const TABLE: Table = Table {
    name: "connections",
    key: "id",
    columns: &["name", "strategy"],
};

/// A stored connection: `body` is the connection as the API shows it (without
/// `enabled_clients`, which live in `connection_clients`).
#[derive(Debug, Clone)]
pub struct ConnectionRow {
    pub id: String,
    pub name: String,
    pub strategy: String,
    pub body: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl ConnectionRow {
    pub fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            name: r.text("name")?,
            strategy: r.text("strategy")?,
            body: r.json("body")?,
            created_at: r.text("created_at")?,
            updated_at: r.text("updated_at")?,
        })
    }

    /// `options` as stored (an empty object when there are none).
    pub fn options(&self) -> &Value {
        static EMPTY: Value = Value::Null;
        self.body.get("options").unwrap_or(&EMPTY)
    }

    fn columns(&self) -> Vec<P> {
        params![&self.name, &self.strategy]
    }
}

pub async fn find(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<ConnectionRow>> {
    TABLE
        .find(x, tenant, id)
        .await?
        .as_ref()
        .map(ConnectionRow::from_row)
        .transpose()
}

/// The connection, locked until the transaction ends (see [`Locked`]).
pub async fn find_for_update(
    tx: &Tx,
    tenant: &str,
    id: &str,
) -> DbResult<Option<Locked<ConnectionRow>>> {
    TABLE
        .find_for_update(tx, tenant, id)
        .await?
        .map(|r| r.try_map(ConnectionRow::from_row))
        .transpose()
}

pub async fn find_by_name(
    x: &impl Exec,
    tenant: &str,
    name: &str,
) -> DbResult<Option<ConnectionRow>> {
    let mut f = crate::sql::Filter::tenant(tenant);
    f.eq("name", name);
    TABLE
        .first(x, &f)
        .await?
        .as_ref()
        .map(ConnectionRow::from_row)
        .transpose()
}

pub async fn insert(x: &impl Exec, tenant: &str, c: &ConnectionRow) -> DbResult<()> {
    TABLE
        .insert(x, tenant, &c.id, c.columns(), &c.body, &c.created_at)
        .await
}

/// Writes back a row read with `find_for_update` in the same transaction.
pub async fn update(x: &Tx, tenant: &str, c: &Locked<ConnectionRow>) -> DbResult<bool> {
    TABLE
        .update(x, tenant, &c.id, c.columns(), &c.body, &c.updated_at)
        .await
}

/// Deletes the connection with its enabled-client rows, keys, SCIM tokens, the organizations'
/// associations with it, the documents kept under its id (`doc_kinds`: SCIM configuration,
/// directory provisioning), and its directory groups with their memberships. Users are the
/// caller's to delete in the same transaction. False when there was no such connection.
pub async fn delete(x: &impl Exec, tenant: &str, id: &str, doc_kinds: &[&str]) -> DbResult<bool> {
    for table in [
        "connection_clients",
        "connection_keys",
        "scim_tokens",
        "organization_connections",
    ] {
        x.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND connection_id = $2"),
            params![tenant, id],
        )
        .await?;
    }
    for kind in doc_kinds {
        crate::docs::delete(x, tenant, kind, id).await?;
    }
    crate::groups::delete_for_connection(x, tenant, id).await?;
    TABLE.delete(x, tenant, id).await
}

#[derive(Debug, Default)]
pub struct ConnectionFilter {
    pub strategies: Option<Vec<String>>,
    pub name: Option<String>,
    /// Only connections enabled for this client.
    pub client_id: Option<String>,
}

/// Connections matching `f`, in case-insensitive name order (as Auth0 lists them), and how many
/// match in all.
pub async fn list(
    x: &impl Exec,
    tenant: &str,
    f: &ConnectionFilter,
    page: Page,
) -> DbResult<(Vec<ConnectionRow>, i64)> {
    let mut w = Filter::tenant(tenant);
    if let Some(s) = &f.strategies {
        w.any_of("strategy", s.iter().map(P::from).collect());
    }
    if let Some(n) = &f.name {
        w.eq("name", n);
    }
    if let Some(c) = &f.client_id {
        let p = w.bind(c);
        w.clause(format!(
            "id IN (SELECT connection_id FROM connection_clients WHERE tenant_id = $1 AND client_id = {p})"
        ));
    }
    let where_sql = w.where_sql();
    let total = x
        .query_opt(
            &format!("SELECT COUNT(*) AS n FROM connections {where_sql}"),
            w.params.clone(),
        )
        .await?
        .map_or(Ok(0), |r| r.i64("n"))?;
    let mut ps = w.params.clone();
    ps.push(P::I64(page.limit));
    ps.push(P::I64(page.offset));
    let n = ps.len();
    let rows = x
        .query(
            &format!(
                "SELECT id, name, strategy, body, created_at, updated_at FROM connections {where_sql} \
                 ORDER BY LOWER(name), id LIMIT ${} OFFSET ${}",
                n - 1,
                n
            ),
            ps,
        )
        .await?;
    Ok((
        rows.iter()
            .map(ConnectionRow::from_row)
            .collect::<DbResult<_>>()?,
        total,
    ))
}

/// The ids of the clients a connection is enabled for, in the order they were enabled.
pub async fn enabled_clients(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
) -> DbResult<Vec<String>> {
    x.query(
        "SELECT client_id FROM connection_clients WHERE tenant_id = $1 AND connection_id = $2 ORDER BY seq, client_id",
        params![tenant, connection_id],
    )
    .await?
    .iter()
    .map(|r| r.text("client_id"))
    .collect()
}

/// [`enabled_clients`] of several connections in one query, by connection id.
pub async fn enabled_clients_of(
    x: &impl Exec,
    tenant: &str,
    connection_ids: &[String],
) -> DbResult<std::collections::HashMap<String, Vec<String>>> {
    let mut out: std::collections::HashMap<String, Vec<String>> = connection_ids
        .iter()
        .map(|id| (id.clone(), Vec::new()))
        .collect();
    if connection_ids.is_empty() {
        return Ok(out);
    }
    let mut w = Filter::tenant(tenant);
    w.any_of(
        "connection_id",
        connection_ids.iter().map(P::from).collect(),
    );
    let rows = x
        .query(
            &format!(
                "SELECT connection_id, client_id FROM connection_clients {} ORDER BY seq, client_id",
                w.where_sql()
            ),
            w.params,
        )
        .await?;
    for r in rows {
        out.entry(r.text("connection_id")?)
            .or_default()
            .push(r.text("client_id")?);
    }
    Ok(out)
}

/// A page of [`enabled_clients`] and how many there are in all.
pub async fn enabled_clients_page(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
    page: Page,
) -> DbResult<(Vec<String>, i64)> {
    let total = x
        .query_opt(
            "SELECT COUNT(*) AS n FROM connection_clients WHERE tenant_id = $1 AND connection_id = $2",
            params![tenant, connection_id],
        )
        .await?
        .map_or(Ok(0), |r| r.i64("n"))?;
    let ids = x
        .query(
            "SELECT client_id FROM connection_clients WHERE tenant_id = $1 AND connection_id = $2 \
             ORDER BY seq, client_id LIMIT $3 OFFSET $4",
            params![tenant, connection_id, page.limit, page.offset],
        )
        .await?
        .iter()
        .map(|r| r.text("client_id"))
        .collect::<DbResult<_>>()?;
    Ok((ids, total))
}

/// Enables (`true`) or disables the connection for a client; enabling twice keeps the first
/// position.
pub async fn set_client(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
    client_id: &str,
    enabled: bool,
) -> DbResult<()> {
    if enabled {
        x.execute(
            "INSERT INTO connection_clients (tenant_id, connection_id, client_id, seq) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant_id, connection_id, client_id) DO NOTHING",
            params![tenant, connection_id, client_id, crate::seq_now()],
        )
        .await?;
    } else {
        x.execute(
            "DELETE FROM connection_clients WHERE tenant_id = $1 AND connection_id = $2 AND client_id = $3",
            params![tenant, connection_id, client_id],
        )
        .await?;
    }
    Ok(())
}

/// Replaces the clients a connection is enabled for; clients listed before keep their position.
pub async fn replace_clients(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
    client_ids: &[String],
) -> DbResult<()> {
    let current = enabled_clients(x, tenant, connection_id).await?;
    for c in current.iter().filter(|c| !client_ids.contains(c)) {
        set_client(x, tenant, connection_id, c, false).await?;
    }
    for c in client_ids.iter().filter(|c| !current.contains(c)) {
        set_client(x, tenant, connection_id, c, true).await?;
    }
    Ok(())
}

/// Forgets a deleted client on every connection.
pub async fn remove_client(x: &impl Exec, tenant: &str, client_id: &str) -> DbResult<()> {
    x.execute(
        "DELETE FROM connection_clients WHERE tenant_id = $1 AND client_id = $2",
        params![tenant, client_id],
    )
    .await?;
    Ok(())
}

/// Enables a newly created client on every connection that is enabled for at least one client,
/// which is what Auth0 does for a new application (connections enabled for no client stay so).
pub async fn enable_for_new_client(x: &impl Exec, tenant: &str, client_id: &str) -> DbResult<()> {
    x.execute(
        "INSERT INTO connection_clients (tenant_id, connection_id, client_id, seq) \
         SELECT DISTINCT tenant_id, connection_id, CAST($2 AS TEXT), CAST($3 AS BIGINT) FROM connection_clients \
         WHERE tenant_id = $1 AND client_id <> $2 \
         ON CONFLICT (tenant_id, connection_id, client_id) DO NOTHING",
        params![tenant, client_id, crate::seq_now()],
    )
    .await?;
    Ok(())
}

/// One of a connection's signing keys. `body` is what the API shows; `private_der` (PKCS#8,
/// base64) is never shown.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub kid: String,
    pub state: String,
    pub body: Value,
    pub private_der: String,
    pub created_at: String,
}

/// The connection's keys in the order Auth0 lists them: current, previous, next.
pub async fn keys(x: &impl Exec, tenant: &str, connection_id: &str) -> DbResult<Vec<KeyRow>> {
    let rows = x
        .query(
            "SELECT kid, state, body, private_der, created_at FROM connection_keys \
             WHERE tenant_id = $1 AND connection_id = $2 \
             ORDER BY CASE state WHEN 'current' THEN 0 WHEN 'previous' THEN 1 ELSE 2 END, seq",
            params![tenant, connection_id],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(KeyRow {
                kid: r.text("kid")?,
                state: r.text("state")?,
                body: r.json("body")?,
                private_der: r.text("private_der")?,
                created_at: r.text("created_at")?,
            })
        })
        .collect()
}

pub async fn insert_key(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
    k: &KeyRow,
) -> DbResult<()> {
    x.execute(
        "INSERT INTO connection_keys (tenant_id, connection_id, kid, state, body, private_der, seq, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        params![
            tenant,
            connection_id,
            &k.kid,
            &k.state,
            &k.body,
            &k.private_der,
            crate::seq_now(),
            &k.created_at
        ],
    )
    .await?;
    Ok(())
}

pub async fn update_key(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
    k: &KeyRow,
    now: &str,
) -> DbResult<()> {
    x.execute(
        "UPDATE connection_keys SET state = $4, body = $5, updated_at = $6 \
         WHERE tenant_id = $1 AND connection_id = $2 AND kid = $3",
        params![tenant, connection_id, &k.kid, &k.state, &k.body, now],
    )
    .await?;
    Ok(())
}

pub async fn delete_key(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
    kid: &str,
) -> DbResult<()> {
    x.execute(
        "DELETE FROM connection_keys WHERE tenant_id = $1 AND connection_id = $2 AND kid = $3",
        params![tenant, connection_id, kid],
    )
    .await?;
    Ok(())
}

/// A SCIM token as listed (`token_id`, `scopes`, `created_at`, `valid_until`, `last_used_at`);
/// the secret itself is only kept as its SHA-256 (`token_hash`, hex).
pub async fn insert_scim_token(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
    token_id: &str,
    token_hash: &str,
    body: &Value,
    now: &str,
) -> DbResult<()> {
    x.execute(
        "INSERT INTO scim_tokens (tenant_id, connection_id, token_id, token_hash, body, seq, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![
            tenant,
            connection_id,
            token_id,
            token_hash,
            body,
            crate::seq_now(),
            now
        ],
    )
    .await?;
    Ok(())
}

pub async fn scim_tokens(x: &impl Exec, tenant: &str, connection_id: &str) -> DbResult<Vec<Value>> {
    x.query(
        "SELECT body FROM scim_tokens WHERE tenant_id = $1 AND connection_id = $2 ORDER BY seq, token_id",
        params![tenant, connection_id],
    )
    .await?
    .iter()
    .map(|r| r.json("body"))
    .collect()
}

pub async fn delete_scim_token(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
    token_id: &str,
) -> DbResult<bool> {
    Ok(x.execute(
        "DELETE FROM scim_tokens WHERE tenant_id = $1 AND connection_id = $2 AND token_id = $3",
        params![tenant, connection_id, token_id],
    )
    .await?
        > 0)
}

/// Deletes every SCIM token of a connection (its SCIM configuration was deleted).
pub async fn delete_scim_tokens(x: &impl Exec, tenant: &str, connection_id: &str) -> DbResult<()> {
    x.execute(
        "DELETE FROM scim_tokens WHERE tenant_id = $1 AND connection_id = $2",
        params![tenant, connection_id],
    )
    .await?;
    Ok(())
}

/// The connection and token a SCIM bearer secret belongs to, by the secret's SHA-256 (hex):
/// what a SCIM endpoint authenticates with.
pub async fn find_scim_token(
    x: &impl Exec,
    tenant: &str,
    token_hash: &str,
) -> DbResult<Option<(String, Value)>> {
    x.query_opt(
        "SELECT connection_id, body FROM scim_tokens WHERE tenant_id = $1 AND token_hash = $2",
        params![tenant, token_hash],
    )
    .await?
    .map(|r| Ok((r.text("connection_id")?, r.json("body")?)))
    .transpose()
}

/// The ids of the connections enabled for a client, in the order they were enabled.
pub async fn enabled_for_client(
    x: &impl Exec,
    tenant: &str,
    client_id: &str,
) -> DbResult<Vec<String>> {
    x.query(
        "SELECT connection_id FROM connection_clients WHERE tenant_id = $1 AND client_id = $2 \
         ORDER BY seq, connection_id",
        params![tenant, client_id],
    )
    .await?
    .iter()
    .map(|r| r.text("connection_id"))
    .collect()
}

/// Whether a connection is enabled for a client.
pub async fn is_enabled_for(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
    client_id: &str,
) -> DbResult<bool> {
    Ok(x.query_opt(
        "SELECT 1 AS e FROM connection_clients WHERE tenant_id = $1 AND connection_id = $2 \
             AND client_id = $3",
        params![tenant, connection_id, client_id],
    )
    .await?
    .is_some())
}
