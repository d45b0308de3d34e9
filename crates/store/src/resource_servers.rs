//! Resource servers (APIs).

use serde_json::Value;

use crate::{DbResult, Exec, Locked, P, Page, Row, Tx, params, sql::Filter, table::Table};

pub const TABLE: Table = Table {
    name: "resource_servers",
    key: "id",
    columns: &[
        "identifier",
        "is_system",
        "token_lifetime",
        "enforce_policies",
        "token_dialect",
    ],
};

/// A stored resource server: `body` is the object as the API shows it.
#[derive(Debug, Clone)]
pub struct ResourceServerRow {
    pub id: String,
    pub identifier: String,
    pub is_system: bool,
    pub body: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl ResourceServerRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            identifier: r.text("identifier")?,
            is_system: r.bool("is_system")?,
            body: r.json("body")?,
            created_at: r.text("created_at")?,
            updated_at: r.text("updated_at")?,
        })
    }

    /// The typed columns; `token_lifetime`, `enforce_policies` and `token_dialect` are copied
    /// from the body for the token endpoint.
    fn columns(&self) -> Vec<P> {
        let b = &self.body;
        params![
            &self.identifier,
            self.is_system,
            b.get("token_lifetime").and_then(Value::as_i64),
            b.get("enforce_policies")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            b.get("token_dialect")
                .and_then(Value::as_str)
                .map(str::to_owned),
        ]
    }
}

pub async fn insert(x: &impl Exec, tenant: &str, rs: &ResourceServerRow) -> DbResult<()> {
    TABLE
        .insert(x, tenant, &rs.id, rs.columns(), &rs.body, &rs.created_at)
        .await
}

pub async fn find(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<ResourceServerRow>> {
    TABLE
        .find(x, tenant, id)
        .await?
        .as_ref()
        .map(ResourceServerRow::from_row)
        .transpose()
}

/// The resource server, locked until the transaction ends (see [`Locked`]).
pub async fn find_for_update(
    tx: &Tx,
    tenant: &str,
    id: &str,
) -> DbResult<Option<Locked<ResourceServerRow>>> {
    TABLE
        .find_for_update(tx, tenant, id)
        .await?
        .map(|r| r.try_map(ResourceServerRow::from_row))
        .transpose()
}

pub async fn find_by_identifier(
    x: &impl Exec,
    tenant: &str,
    identifier: &str,
) -> DbResult<Option<ResourceServerRow>> {
    let mut w = Filter::tenant(tenant);
    w.eq("identifier", identifier);
    TABLE
        .first(x, &w)
        .await?
        .as_ref()
        .map(ResourceServerRow::from_row)
        .transpose()
}

/// The resource server with this identifier, locked until the transaction ends.
pub async fn find_by_identifier_for_update(
    tx: &Tx,
    tenant: &str,
    identifier: &str,
) -> DbResult<Option<Locked<ResourceServerRow>>> {
    let mut w = Filter::tenant(tenant);
    w.eq("identifier", identifier);
    TABLE
        .first_for_update(tx, &w)
        .await?
        .map(|r| r.try_map(ResourceServerRow::from_row))
        .transpose()
}

/// Resource servers, optionally only those with the given identifiers.
pub async fn list(
    x: &impl Exec,
    tenant: &str,
    identifiers: Option<&[String]>,
    page: Page,
) -> DbResult<(Vec<ResourceServerRow>, i64)> {
    let mut w = Filter::tenant(tenant);
    if let Some(ids) = identifiers {
        w.any_of("identifier", ids.iter().map(P::from).collect());
    }
    let (rows, total) = TABLE.list(x, &w, page).await?;
    Ok((
        rows.iter()
            .map(ResourceServerRow::from_row)
            .collect::<DbResult<_>>()?,
        total,
    ))
}

/// Writes back a row read with `find_for_update` in the same transaction.
pub async fn update(x: &Tx, tenant: &str, rs: &Locked<ResourceServerRow>) -> DbResult<bool> {
    TABLE
        .update(x, tenant, &rs.id, rs.columns(), &rs.body, &rs.updated_at)
        .await
}

/// Deletes the resource server, the client grants to it (with their associations with
/// organizations) and every role's and user's permission of it. Run it in a transaction.
pub async fn delete(x: &impl Exec, tenant: &str, rs: &ResourceServerRow) -> DbResult<bool> {
    x.execute(
        "DELETE FROM organization_client_grants WHERE tenant_id = $1 AND grant_id IN \
         (SELECT id FROM client_grants WHERE tenant_id = $1 AND audience = $2)",
        params![tenant, &rs.identifier],
    )
    .await?;
    x.execute(
        "DELETE FROM client_grants WHERE tenant_id = $1 AND audience = $2",
        params![tenant, &rs.identifier],
    )
    .await?;
    crate::roles::delete_permissions_of_api(x, tenant, &rs.identifier).await?;
    TABLE.delete(x, tenant, &rs.id).await
}

/// The values of a resource server body's `scopes`.
pub fn scope_values(body: &Value) -> Vec<String> {
    body.get("scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("value").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}
