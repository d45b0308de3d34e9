//! Clients (applications) and their credentials.

use serde_json::Value;

use crate::{DbResult, Exec, Locked, P, Page, Row, Tx, params, sql::Filter, table::Table};

pub const TABLE: Table = Table {
    name: "clients",
    key: "client_id",
    columns: &[
        "name",
        "app_type",
        "is_global",
        "is_first_party",
        "client_secret",
    ],
};

/// A stored client: `body` is the client as the API shows it, without `client_secret`.
#[derive(Debug, Clone)]
pub struct ClientRow {
    pub client_id: String,
    pub name: String,
    pub app_type: Option<String>,
    pub is_global: bool,
    pub is_first_party: bool,
    pub client_secret: Option<String>,
    pub body: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl ClientRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            client_id: r.text("client_id")?,
            name: r.text("name")?,
            app_type: r.opt_text("app_type")?,
            is_global: r.bool("is_global")?,
            is_first_party: r.bool("is_first_party")?,
            client_secret: r.opt_text("client_secret")?,
            body: r.json("body")?,
            created_at: r.text("created_at")?,
            updated_at: r.text("updated_at")?,
        })
    }

    fn columns(&self) -> Vec<P> {
        params![
            &self.name,
            self.app_type.clone(),
            self.is_global,
            self.is_first_party,
            self.client_secret.clone()
        ]
    }
}

pub async fn insert(x: &impl Exec, tenant: &str, c: &ClientRow) -> DbResult<()> {
    TABLE
        .insert(x, tenant, &c.client_id, c.columns(), &c.body, &c.created_at)
        .await
}

pub async fn find(x: &impl Exec, tenant: &str, client_id: &str) -> DbResult<Option<ClientRow>> {
    TABLE
        .find(x, tenant, client_id)
        .await?
        .as_ref()
        .map(ClientRow::from_row)
        .transpose()
}

/// The client, locked until the transaction ends (see [`Locked`]).
pub async fn find_for_update(
    tx: &Tx,
    tenant: &str,
    client_id: &str,
) -> DbResult<Option<Locked<ClientRow>>> {
    TABLE
        .find_for_update(tx, tenant, client_id)
        .await?
        .map(|r| r.try_map(ClientRow::from_row))
        .transpose()
}

#[derive(Debug, Default)]
pub struct ClientFilter {
    pub is_global: Option<bool>,
    pub is_first_party: Option<bool>,
    pub app_types: Option<Vec<String>>,
    pub name: Option<String>,
}

pub async fn list(
    x: &impl Exec,
    tenant: &str,
    f: &ClientFilter,
    page: Page,
) -> DbResult<(Vec<ClientRow>, i64)> {
    let mut w = Filter::tenant(tenant);
    if let Some(g) = f.is_global {
        w.eq("is_global", g);
    }
    if let Some(fp) = f.is_first_party {
        w.eq("is_first_party", fp);
    }
    if let Some(types) = &f.app_types {
        w.any_of("app_type", types.iter().map(P::from).collect());
    }
    if let Some(name) = &f.name {
        w.eq("name", name);
    }
    let (rows, total) = TABLE.list(x, &w, page).await?;
    Ok((
        rows.iter()
            .map(ClientRow::from_row)
            .collect::<DbResult<_>>()?,
        total,
    ))
}

/// Writes back a row read with `find_for_update` in the same transaction.
pub async fn update(x: &Tx, tenant: &str, c: &Locked<ClientRow>) -> DbResult<bool> {
    TABLE
        .update(x, tenant, &c.client_id, c.columns(), &c.body, &c.updated_at)
        .await
}

/// Deletes the client with its credentials, its client grants and their associations with
/// organizations (run it in one transaction).
pub async fn delete(x: &impl Exec, tenant: &str, client_id: &str) -> DbResult<bool> {
    x.execute(
        "DELETE FROM organization_client_grants WHERE tenant_id = $1 AND grant_id IN \
         (SELECT id FROM client_grants WHERE tenant_id = $1 AND client_id = $2)",
        params![tenant, client_id],
    )
    .await?;
    for table in ["client_credentials", "client_grants"] {
        x.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND client_id = $2"),
            params![tenant, client_id],
        )
        .await?;
    }
    TABLE.delete(x, tenant, client_id).await
}

/// A client credential (public key or certificate); `body` as the API shows it.
#[derive(Debug, Clone)]
pub struct CredentialRow {
    pub id: String,
    pub body: Value,
}

pub async fn insert_credential(
    x: &impl Exec,
    tenant: &str,
    client_id: &str,
    c: &CredentialRow,
    now: &str,
) -> DbResult<()> {
    x.execute(
        "INSERT INTO client_credentials (tenant_id, client_id, id, body, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        params![tenant, client_id, &c.id, &c.body, now],
    )
    .await?;
    Ok(())
}

pub async fn list_credentials(
    x: &impl Exec,
    tenant: &str,
    client_id: &str,
) -> DbResult<Vec<CredentialRow>> {
    x.query(
        "SELECT id, body FROM client_credentials WHERE tenant_id = $1 AND client_id = $2 ORDER BY created_at, id",
        params![tenant, client_id],
    )
    .await?
    .iter()
    .map(|r| Ok(CredentialRow { id: r.text("id")?, body: r.json("body")? }))
    .collect()
}

pub async fn find_credential(
    x: &impl Exec,
    tenant: &str,
    client_id: &str,
    id: &str,
) -> DbResult<Option<CredentialRow>> {
    x.query_opt(
        "SELECT id, body FROM client_credentials WHERE tenant_id = $1 AND client_id = $2 AND id = $3",
        params![tenant, client_id, id],
    )
    .await?
    .map(|r| Ok(CredentialRow { id: r.text("id")?, body: r.json("body")? }))
    .transpose()
}

/// The credential, locked until the transaction ends.
pub async fn find_credential_for_update(
    tx: &Tx,
    tenant: &str,
    client_id: &str,
    id: &str,
) -> DbResult<Option<Locked<CredentialRow>>> {
    tx.query_opt(
        &format!(
            "SELECT id, body FROM client_credentials WHERE tenant_id = $1 AND client_id = $2 AND id = $3{}",
            tx.for_update()
        ),
        params![tenant, client_id, id],
    )
    .await?
    .map(|r| Locked::new(r).try_map(|r| Ok(CredentialRow { id: r.text("id")?, body: r.json("body")? })))
    .transpose()
}

/// Writes back a credential read with `find_credential_for_update` in the same transaction.
pub async fn update_credential(
    x: &Tx,
    tenant: &str,
    client_id: &str,
    c: &Locked<CredentialRow>,
    now: &str,
) -> DbResult<bool> {
    Ok(x.execute(
        "UPDATE client_credentials SET body = $4, updated_at = $5 WHERE tenant_id = $1 AND client_id = $2 AND id = $3",
        params![tenant, client_id, &c.id, &c.body, now],
    )
    .await?
        > 0)
}

pub async fn delete_credential(
    x: &impl Exec,
    tenant: &str,
    client_id: &str,
    id: &str,
) -> DbResult<bool> {
    Ok(x.execute(
        "DELETE FROM client_credentials WHERE tenant_id = $1 AND client_id = $2 AND id = $3",
        params![tenant, client_id, id],
    )
    .await?
        > 0)
}
