//! Connections: where users come from (database, social, enterprise, passwordless).

use serde_json::Value;

use crate::{DbResult, Exec, Row, params, table::Table};

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
}

pub async fn find(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<ConnectionRow>> {
    TABLE
        .find(x, tenant, id)
        .await?
        .as_ref()
        .map(ConnectionRow::from_row)
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
