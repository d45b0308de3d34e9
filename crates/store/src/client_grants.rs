//! Client grants: which client may get tokens for which audience, with which scopes.

use serde_json::Value;

use crate::{DbResult, Exec, P, Page, Row, params, sql::Filter, table::Table};

pub const TABLE: Table = Table {
    name: "client_grants",
    key: "id",
    columns: &["client_id", "audience"],
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
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            client_id: r.text("client_id")?,
            audience: r.text("audience")?,
            body: r.json("body")?,
            created_at: r.text("created_at")?,
            updated_at: r.text("updated_at")?,
        })
    }

    fn columns(&self) -> Vec<P> {
        params![&self.client_id, &self.audience]
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

#[derive(Debug, Default)]
pub struct GrantFilter {
    pub audience: Option<String>,
    pub client_id: Option<String>,
    /// The filters below look inside the body: a filtered list is paged after reading the rows
    /// the typed columns select.
    pub subject_type: Option<String>,
    pub default_for: Option<String>,
    pub allow_any_organization: Option<bool>,
}

impl GrantFilter {
    fn on_body(&self) -> bool {
        self.subject_type.is_some()
            || self.default_for.is_some()
            || self.allow_any_organization.is_some()
    }

    fn matches(&self, body: &Value) -> bool {
        let s = |k: &str| body.get(k).and_then(Value::as_str);
        self.subject_type
            .as_deref()
            .is_none_or(|t| s("subject_type").unwrap_or("client") == t)
            && self
                .default_for
                .as_deref()
                .is_none_or(|d| s("default_for") == Some(d))
            && self.allow_any_organization.is_none_or(|a| {
                body.get("allow_any_organization")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    == a
            })
    }
}

pub async fn list(
    x: &impl Exec,
    tenant: &str,
    f: &GrantFilter,
    page: Page,
) -> DbResult<(Vec<ClientGrantRow>, i64)> {
    let mut w = Filter::tenant(tenant);
    if let Some(a) = &f.audience {
        w.eq("audience", a);
    }
    if let Some(c) = &f.client_id {
        w.eq("client_id", c);
    }
    if !f.on_body() {
        let (rows, total) = TABLE.list(x, &w, page).await?;
        return Ok((
            rows.iter()
                .map(ClientGrantRow::from_row)
                .collect::<DbResult<_>>()?,
            total,
        ));
    }
    let (rows, _) = TABLE.list(x, &w, Page::ALL).await?;
    let all: Vec<ClientGrantRow> = rows
        .iter()
        .map(ClientGrantRow::from_row)
        .filter(|r| r.as_ref().map_or(true, |g| f.matches(&g.body)))
        .collect::<DbResult<_>>()?;
    let total = i64::try_from(all.len()).unwrap_or(i64::MAX);
    let skip = usize::try_from(page.offset).unwrap_or(usize::MAX);
    let take = usize::try_from(page.limit).unwrap_or(usize::MAX);
    Ok((all.into_iter().skip(skip).take(take).collect(), total))
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
    Ok(list(
        x,
        tenant,
        &f,
        Page {
            offset: 0,
            limit: 1,
        },
    )
    .await?
    .0
    .into_iter()
    .next())
}

/// The grant that lets `client_id` get tokens for `audience` with the client-credentials grant:
/// what the token endpoint checks. A grant for user access (`subject_type: "user"`) does not.
pub async fn find_for(
    x: &impl Exec,
    tenant: &str,
    client_id: &str,
    audience: &str,
) -> DbResult<Option<ClientGrantRow>> {
    let f = GrantFilter {
        audience: Some(audience.to_owned()),
        client_id: Some(client_id.to_owned()),
        subject_type: Some("client".to_owned()),
        ..Default::default()
    };
    Ok(list(
        x,
        tenant,
        &f,
        Page {
            offset: 0,
            limit: 1,
        },
    )
    .await?
    .0
    .into_iter()
    .next())
}

pub async fn update(x: &impl Exec, tenant: &str, g: &ClientGrantRow) -> DbResult<bool> {
    TABLE
        .update(x, tenant, &g.id, g.columns(), &g.body, &g.updated_at)
        .await
}

pub async fn delete(x: &impl Exec, tenant: &str, id: &str) -> DbResult<bool> {
    TABLE.delete(x, tenant, id).await
}
