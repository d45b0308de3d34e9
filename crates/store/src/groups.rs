//! Directory groups of a connection (filled by inbound SCIM / directory sync) and their members.
//! Tables `directory_groups` and `directory_group_members` (GROUPS is an SQL keyword).

use serde_json::Value;

use crate::{DbResult, Exec, Locked, P, Page, Row, Tx, params, sql::Filter, table::Table};

pub const TABLE: Table = Table {
    name: "directory_groups",
    key: "id",
    columns: &["connection_id", "name", "external_id"],
};

/// A stored group: `body` is the group as the API shows it.
#[derive(Debug, Clone)]
pub struct GroupRow {
    pub id: String,
    pub connection_id: String,
    pub name: String,
    pub external_id: Option<String>,
    pub body: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl GroupRow {
    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            connection_id: r.text("connection_id")?,
            name: r.text("name")?,
            external_id: r.opt_text("external_id")?,
            body: r.json("body")?,
            created_at: r.text("created_at")?,
            updated_at: r.text("updated_at")?,
        })
    }

    fn columns(&self) -> Vec<P> {
        params![&self.connection_id, &self.name, self.external_id.clone()]
    }
}

pub async fn insert(x: &impl Exec, tenant: &str, g: &GroupRow) -> DbResult<()> {
    TABLE
        .insert(x, tenant, &g.id, g.columns(), &g.body, &g.created_at)
        .await
}

pub async fn find(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<GroupRow>> {
    TABLE
        .find(x, tenant, id)
        .await?
        .as_ref()
        .map(GroupRow::from_row)
        .transpose()
}

/// The group, locked until the transaction ends (see [`Locked`]).
pub async fn find_for_update(
    tx: &Tx,
    tenant: &str,
    id: &str,
) -> DbResult<Option<Locked<GroupRow>>> {
    TABLE
        .find_for_update(tx, tenant, id)
        .await?
        .map(|r| r.try_map(GroupRow::from_row))
        .transpose()
}

/// Writes back a row read with `find_for_update` in the same transaction.
pub async fn update(x: &Tx, tenant: &str, g: &Locked<GroupRow>) -> DbResult<bool> {
    TABLE
        .update(x, tenant, &g.id, g.columns(), &g.body, &g.updated_at)
        .await
}

#[derive(Debug, Default)]
pub struct GroupFilter {
    pub connection_id: Option<String>,
    pub name: Option<String>,
    pub external_id: Option<String>,
    /// Case-insensitive substring of the name or the external id.
    pub search: Option<String>,
}

/// `%text%` for LIKE, with LIKE's own characters escaped (`\` is the escape).
fn like_contains(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl GroupFilter {
    fn sql(&self, tenant: &str) -> Filter {
        let mut w = Filter::tenant(tenant);
        if let Some(c) = &self.connection_id {
            w.eq("connection_id", c);
        }
        if let Some(n) = &self.name {
            w.eq("name", n);
        }
        if let Some(e) = &self.external_id {
            w.eq("external_id", e);
        }
        if let Some(s) = &self.search {
            let p = w.bind(like_contains(s));
            w.clause(format!(
                "(LOWER(name) LIKE {p} ESCAPE '\\' OR LOWER(COALESCE(external_id, '')) LIKE {p} ESCAPE '\\')"
            ));
        }
        w
    }
}

/// Groups matching `f`, in creation order, and how many match in all.
pub async fn list(
    x: &impl Exec,
    tenant: &str,
    f: &GroupFilter,
    page: Page,
) -> DbResult<(Vec<GroupRow>, i64)> {
    let (rows, total) = TABLE.list(x, &f.sql(tenant), page).await?;
    Ok((
        rows.iter()
            .map(GroupRow::from_row)
            .collect::<DbResult<_>>()?,
        total,
    ))
}

/// Deletes a group, its memberships and the memberships of other groups in it.
pub async fn delete(x: &impl Exec, tenant: &str, id: &str) -> DbResult<bool> {
    x.execute(
        "DELETE FROM directory_group_members WHERE tenant_id = $1 AND (group_id = $2 OR (member_type = 'group' AND member_id = $2))",
        params![tenant, id],
    )
    .await?;
    TABLE.delete(x, tenant, id).await
}

/// Deletes every group of a connection with their memberships.
pub async fn delete_for_connection(
    x: &impl Exec,
    tenant: &str,
    connection_id: &str,
) -> DbResult<()> {
    let owned = "SELECT id FROM directory_groups WHERE tenant_id = $1 AND connection_id = $2";
    x.execute(
        &format!(
            "DELETE FROM directory_group_members WHERE tenant_id = $1 AND (group_id IN ({owned}) OR (member_type = 'group' AND member_id IN ({owned})))"
        ),
        params![tenant, connection_id],
    )
    .await?;
    x.execute(
        "DELETE FROM directory_groups WHERE tenant_id = $1 AND connection_id = $2",
        params![tenant, connection_id],
    )
    .await?;
    Ok(())
}

/// A member of a group.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub member_id: String,
    pub member_type: String,
    pub created_at: String,
}

/// Adds a member (nothing when it is one already); true when it was added.
pub async fn add_member(
    x: &impl Exec,
    tenant: &str,
    group_id: &str,
    member_id: &str,
    member_type: &str,
    now: &str,
) -> DbResult<bool> {
    let n = x
        .execute(
            "INSERT INTO directory_group_members (tenant_id, group_id, member_id, member_type, seq, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, group_id, member_id) DO NOTHING",
            params![tenant, group_id, member_id, member_type, crate::seq_now(), now],
        )
        .await?;
    Ok(n > 0)
}

/// Removes a member; true when it was one.
pub async fn remove_member(
    x: &impl Exec,
    tenant: &str,
    group_id: &str,
    member_id: &str,
) -> DbResult<bool> {
    let n = x
        .execute(
            "DELETE FROM directory_group_members WHERE tenant_id = $1 AND group_id = $2 AND member_id = $3",
            params![tenant, group_id, member_id],
        )
        .await?;
    Ok(n > 0)
}

/// Removes every member of a group (a SCIM PUT replaces them).
pub async fn clear_members(x: &impl Exec, tenant: &str, group_id: &str) -> DbResult<()> {
    x.execute(
        "DELETE FROM directory_group_members WHERE tenant_id = $1 AND group_id = $2",
        params![tenant, group_id],
    )
    .await?;
    Ok(())
}

/// Members of a group in the order they were added, and how many it has.
pub async fn members(
    x: &impl Exec,
    tenant: &str,
    group_id: &str,
    page: Page,
) -> DbResult<(Vec<MemberRow>, i64)> {
    let total = x
        .query_opt(
            "SELECT COUNT(*) AS n FROM directory_group_members WHERE tenant_id = $1 AND group_id = $2",
            params![tenant, group_id],
        )
        .await?
        .map_or(Ok(0), |r| r.i64("n"))?;
    let rows = x
        .query(
            "SELECT member_id, member_type, created_at FROM directory_group_members \
             WHERE tenant_id = $1 AND group_id = $2 ORDER BY seq, member_id LIMIT $3 OFFSET $4",
            params![tenant, group_id, page.limit, page.offset],
        )
        .await?;
    let members = rows
        .iter()
        .map(|r| {
            Ok(MemberRow {
                member_id: r.text("member_id")?,
                member_type: r.text("member_type")?,
                created_at: r.text("created_at")?,
            })
        })
        .collect::<DbResult<_>>()?;
    Ok((members, total))
}

/// The groups a user is a member of (directly), in the order of their membership, each with the
/// membership's creation time, and how many there are.
pub async fn of_user(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    page: Page,
) -> DbResult<(Vec<(GroupRow, String)>, i64)> {
    let total = x
        .query_opt(
            "SELECT COUNT(*) AS n FROM directory_group_members m \
             JOIN directory_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
             WHERE m.tenant_id = $1 AND m.member_id = $2 AND m.member_type = 'user'",
            params![tenant, user_id],
        )
        .await?
        .map_or(Ok(0), |r| r.i64("n"))?;
    let rows = x
        .query(
            "SELECT g.id AS id, g.connection_id AS connection_id, g.name AS name, \
             g.external_id AS external_id, g.body AS body, g.created_at AS created_at, \
             g.updated_at AS updated_at, m.created_at AS membership_created_at \
             FROM directory_group_members m \
             JOIN directory_groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id \
             WHERE m.tenant_id = $1 AND m.member_id = $2 AND m.member_type = 'user' \
             ORDER BY m.seq, g.id LIMIT $3 OFFSET $4",
            params![tenant, user_id, page.limit, page.offset],
        )
        .await?;
    let groups = rows
        .iter()
        .map(|r| Ok((GroupRow::from_row(r)?, r.text("membership_created_at")?)))
        .collect::<DbResult<_>>()?;
    Ok((groups, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_pattern_escapes_like() {
        assert_eq!(like_contains("Ab_%\\"), "%ab\\_\\%\\\\%");
    }
}
