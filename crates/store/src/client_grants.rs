//! Client grants: which client may get tokens for which audience, with which scopes.

use serde_json::Value;

use crate::{DbResult, Exec, Locked, P, Page, Row, Tx, params, sql::Filter, table::Table};

pub const TABLE: Table = Table {
    name: "client_grants",
    key: "id",
    columns: &[
        "client_id",
        "audience",
        "subject_type",
        "default_for",
        "allow_any_organization",
    ],
};

/// A stored client grant: `body` is the grant as the API shows it.
#[derive(Debug, Clone)]
pub struct ClientGrantRow {
    pub id: String,
    pub client_id: String,
    pub audience: String,
    pub body: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl ClientGrantRow {
    pub fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            client_id: r.text("client_id")?,
            audience: r.text("audience")?,
            body: r.json("body")?,
            created_at: r.text("created_at")?,
            updated_at: r.text("updated_at")?,
        })
    }

    /// The typed columns: the keys and what lists filter on, taken from the body.
    fn columns(&self) -> Vec<P> {
        let b = &self.body;
        params![
            &self.client_id,
            &self.audience,
            b.get("subject_type")
                .and_then(Value::as_str)
                .unwrap_or("client"),
            b.get("default_for").and_then(Value::as_str),
            b.get("allow_any_organization")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        ]
    }
}

pub async fn insert(x: &impl Exec, tenant: &str, g: &ClientGrantRow) -> DbResult<()> {
    TABLE
        .insert(x, tenant, &g.id, g.columns(), &g.body, &g.created_at)
        .await
}

pub async fn find(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<ClientGrantRow>> {
    TABLE
        .find(x, tenant, id)
        .await?
        .as_ref()
        .map(ClientGrantRow::from_row)
        .transpose()
}

/// The client grant, locked until the transaction ends (see [`Locked`]).
pub async fn find_for_update(
    tx: &Tx,
    tenant: &str,
    id: &str,
) -> DbResult<Option<Locked<ClientGrantRow>>> {
    TABLE
        .find_for_update(tx, tenant, id)
        .await?
        .map(|r| r.try_map(ClientGrantRow::from_row))
        .transpose()
}

#[derive(Debug, Default)]
pub struct GrantFilter {
    pub audience: Option<String>,
    pub client_id: Option<String>,
    pub subject_type: Option<String>,
    pub default_for: Option<String>,
    pub allow_any_organization: Option<bool>,
}

impl GrantFilter {
    fn sql(&self, tenant: &str) -> Filter {
        let mut w = Filter::tenant(tenant);
        if let Some(a) = &self.audience {
            w.eq("audience", a);
        }
        if let Some(c) = &self.client_id {
            w.eq("client_id", c);
        }
        if let Some(t) = &self.subject_type {
            w.eq("subject_type", t);
        }
        if let Some(d) = &self.default_for {
            w.eq("default_for", d);
        }
        if let Some(a) = self.allow_any_organization {
            w.eq("allow_any_organization", a);
        }
        w
    }
}

pub async fn list(
    x: &impl Exec,
    tenant: &str,
    f: &GrantFilter,
    page: Page,
) -> DbResult<(Vec<ClientGrantRow>, i64)> {
    let (rows, total) = TABLE.list(x, &f.sql(tenant), page).await?;
    Ok((
        rows.iter()
            .map(ClientGrantRow::from_row)
            .collect::<DbResult<_>>()?,
        total,
    ))
}

async fn first(x: &impl Exec, tenant: &str, f: &GrantFilter) -> DbResult<Option<ClientGrantRow>> {
    TABLE
        .first(x, &f.sql(tenant))
        .await?
        .as_ref()
        .map(ClientGrantRow::from_row)
        .transpose()
}

/// The grant of `client_id` to `audience`, whatever its subject type: at most one exists.
pub async fn find_pair(
    x: &impl Exec,
    tenant: &str,
    client_id: &str,
    audience: &str,
) -> DbResult<Option<ClientGrantRow>> {
    let f = GrantFilter {
        audience: Some(audience.to_owned()),
        client_id: Some(client_id.to_owned()),
        ..Default::default()
    };
    first(x, tenant, &f).await
}

/// Writes back a row read with `find_for_update` in the same transaction.
pub async fn update(x: &Tx, tenant: &str, g: &Locked<ClientGrantRow>) -> DbResult<bool> {
    TABLE
        .update(x, tenant, &g.id, g.columns(), &g.body, &g.updated_at)
        .await
}

/// Deletes the grant and its associations with organizations (run it in one transaction).
pub async fn delete(x: &impl Exec, tenant: &str, id: &str) -> DbResult<bool> {
    x.execute(
        "DELETE FROM organization_client_grants WHERE tenant_id = $1 AND grant_id = $2",
        params![tenant, id],
    )
    .await?;
    TABLE.delete(x, tenant, id).await
}
