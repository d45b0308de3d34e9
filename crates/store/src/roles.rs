//! Roles, their permissions, and who has them: users' tenant roles (`organization_id` '') and
//! organization members' roles (`organization_id` = the organization) share `user_roles`; users'
//! direct permissions are in `user_permissions`. Permissions are named by the API's identifier
//! and the scope's value.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{DbResult, Exec, Locked, P, Page, Row, Tx, params, table::Table};

pub const TABLE: Table = Table {
    name: "roles",
    key: "id",
    columns: &["name", "owner_id"],
};

const ROLE_COLUMNS: &str = "id, name, owner_id, body, created_at, updated_at";

/// A stored role: `body` is the object as the API shows it (`id`, `name`, `description`, …).
#[derive(Debug, Clone)]
pub struct RoleRow {
    pub id: String,
    pub name: String,
    /// The organization that owns an organization role; empty for a tenant role.
    pub owner_id: String,
    pub body: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl RoleRow {
    /// Whether the role belongs to one organization (Auth0's `type: "organization"`).
    pub fn is_organization_role(&self) -> bool {
        !self.owner_id.is_empty()
    }

    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            id: r.text("id")?,
            name: r.text("name")?,
            owner_id: r.text("owner_id")?,
            body: r.json("body")?,
            created_at: r.text("created_at")?,
            updated_at: r.text("updated_at")?,
        })
    }
}

/// One permission: a scope of an API.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    pub resource_server_identifier: String,
    pub permission_name: String,
}

impl Permission {
    pub fn new(identifier: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            resource_server_identifier: identifier.into(),
            permission_name: name.into(),
        }
    }

    fn from_row(r: &Row) -> DbResult<Self> {
        Ok(Self {
            resource_server_identifier: r.text("resource_server_identifier")?,
            permission_name: r.text("permission_name")?,
        })
    }
}

/// Where a user's permission comes from: given directly, or through a role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    Direct,
    Role { id: String, name: String },
}

/// `$first, $first+1, …` for `n` values.
fn in_list(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `params` followed by `ids`.
fn with_ids(mut ps: Vec<P>, ids: &[String]) -> Vec<P> {
    ps.extend(ids.iter().map(P::from));
    ps
}

// ---- roles -----------------------------------------------------------------------------------

pub async fn insert(x: &impl Exec, tenant: &str, role: &RoleRow) -> DbResult<()> {
    TABLE
        .insert(
            x,
            tenant,
            &role.id,
            params![&role.name, &role.owner_id],
            &role.body,
            &role.created_at,
        )
        .await
}

pub async fn find(x: &impl Exec, tenant: &str, id: &str) -> DbResult<Option<RoleRow>> {
    TABLE
        .find(x, tenant, id)
        .await?
        .as_ref()
        .map(RoleRow::from_row)
        .transpose()
}

/// The role, locked until the transaction ends (see [`Locked`]).
pub async fn find_for_update(tx: &Tx, tenant: &str, id: &str) -> DbResult<Option<Locked<RoleRow>>> {
    TABLE
        .find_for_update(tx, tenant, id)
        .await?
        .map(|r| r.try_map(RoleRow::from_row))
        .transpose()
}

/// The roles with these ids that exist (one query), by id.
pub async fn find_many(x: &impl Exec, tenant: &str, ids: &[String]) -> DbResult<Vec<RoleRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 AND id IN ({}) ORDER BY id",
        in_list(2, ids.len())
    );
    x.query(&sql, with_ids(params![tenant], ids))
        .await?
        .iter()
        .map(RoleRow::from_row)
        .collect()
}

/// The roles with these ids that exist, locked (in id order, so that two transactions locking
/// overlapping sets cannot deadlock) until the transaction ends: a role cannot be deleted
/// while something is being attached to it.
pub async fn lock_many(tx: &Tx, tenant: &str, ids: &[String]) -> DbResult<Vec<RoleRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {ROLE_COLUMNS} FROM roles WHERE tenant_id = $1 AND id IN ({}) ORDER BY id{}",
        in_list(2, ids.len()),
        tx.for_update()
    );
    tx.query(&sql, with_ids(params![tenant], ids))
        .await?
        .iter()
        .map(RoleRow::from_row)
        .collect()
}

/// What a role list keeps: a case-insensitive part of the name, and the roles of one kind
/// (tenant roles, or organization roles, of one organization when `owner_id` is given).
#[derive(Debug, Clone, Copy, Default)]
pub struct RoleFilter<'a> {
    pub name: Option<&'a str>,
    /// `Some(false)`: tenant roles only; `Some(true)`: organization roles only.
    pub organization: Option<bool>,
    pub owner_id: Option<&'a str>,
}

/// Roles by name (then id) that pass `filter`, and how many match in all.
pub async fn list(
    x: &impl Exec,
    tenant: &str,
    filter: RoleFilter<'_>,
    page: Page,
) -> DbResult<(Vec<RoleRow>, i64)> {
    let mut ps = params![tenant];
    let mut w = String::from("WHERE tenant_id = $1");
    if let Some(f) = filter.name.filter(|f| !f.is_empty()) {
        ps.push(P::from(format!("%{}%", like_escape(&f.to_lowercase()))));
        w.push_str(&format!(" AND LOWER(name) LIKE ${} ESCAPE '\\'", ps.len()));
    }
    match filter.organization {
        Some(false) => w.push_str(" AND owner_id = ''"),
        Some(true) => w.push_str(" AND owner_id <> ''"),
        None => {}
    }
    if let Some(owner) = filter.owner_id.filter(|o| !o.is_empty()) {
        ps.push(P::from(owner));
        w.push_str(&format!(" AND owner_id = ${}", ps.len()));
    }
    let total = x
        .query_opt(&format!("SELECT COUNT(*) AS n FROM roles {w}"), ps.clone())
        .await?
        .map_or(Ok(0), |r| r.i64("n"))?;
    let n = ps.len();
    ps.push(P::I64(page.limit));
    ps.push(P::I64(page.offset));
    let sql = format!(
        "SELECT {ROLE_COLUMNS} FROM roles {w} ORDER BY name, id LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let rows = x
        .query(&sql, ps)
        .await?
        .iter()
        .map(RoleRow::from_row)
        .collect::<DbResult<_>>()?;
    Ok((rows, total))
}

/// `%`, `_` and `\` matched literally by `LIKE … ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Writes back a role read with `find_for_update` in the same transaction.
pub async fn update(x: &Tx, tenant: &str, role: &Locked<RoleRow>) -> DbResult<bool> {
    TABLE
        .update(
            x,
            tenant,
            &role.id,
            params![&role.name, &role.owner_id],
            &role.body,
            &role.updated_at,
        )
        .await
}

/// Deletes the role with its permissions and every assignment of it (tenant and organization
/// members' roles). The role's row goes first, so that a concurrent assignment that locked it
/// is either seen here or finds no role. Run it in a transaction. Returns whether it existed.
pub async fn delete(x: &impl Exec, tenant: &str, id: &str) -> DbResult<bool> {
    let existed = TABLE.delete(x, tenant, id).await?;
    for table in ["role_permissions", "user_roles"] {
        x.execute(
            &format!("DELETE FROM {table} WHERE tenant_id = $1 AND role_id = $2"),
            params![tenant, id],
        )
        .await?;
    }
    Ok(existed)
}

/// Deletes the roles an organization owns, with their permissions and assignments (the
/// organization's deletion, in its transaction).
pub async fn delete_owned_by(x: &impl Exec, tenant: &str, organization_id: &str) -> DbResult<()> {
    for table in ["role_permissions", "user_roles"] {
        x.execute(
            &format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND role_id IN \
                 (SELECT id FROM roles WHERE tenant_id = $1 AND owner_id = $2)"
            ),
            params![tenant, organization_id],
        )
        .await?;
    }
    x.execute(
        "DELETE FROM roles WHERE tenant_id = $1 AND owner_id = $2",
        params![tenant, organization_id],
    )
    .await?;
    Ok(())
}

// ---- permissions of roles and users ------------------------------------------------------------

/// The table and owner column of a permission holder.
#[derive(Debug, Clone, Copy)]
enum Holder {
    Role,
    User,
}

impl Holder {
    fn table(self) -> (&'static str, &'static str) {
        match self {
            Holder::Role => ("role_permissions", "role_id"),
            Holder::User => ("user_permissions", "user_id"),
        }
    }
}

async fn add_permissions(
    x: &impl Exec,
    holder: Holder,
    tenant: &str,
    owner: &str,
    perms: &[Permission],
) -> DbResult<u64> {
    if perms.is_empty() {
        return Ok(0);
    }
    let (table, col) = holder.table();
    let seq = crate::seq_now();
    let mut ps = params![tenant, owner, seq];
    let mut values = Vec::with_capacity(perms.len());
    for p in perms {
        let n = ps.len();
        values.push(format!("($1, $2, ${}, ${}, $3)", n + 1, n + 2));
        ps.push(P::from(&p.resource_server_identifier));
        ps.push(P::from(&p.permission_name));
    }
    let sql = format!(
        "INSERT INTO {table} (tenant_id, {col}, resource_server_identifier, permission_name, seq) VALUES {} ON CONFLICT DO NOTHING",
        values.join(", ")
    );
    x.execute(&sql, ps).await
}

async fn remove_permissions(
    x: &impl Exec,
    holder: Holder,
    tenant: &str,
    owner: &str,
    perms: &[Permission],
) -> DbResult<u64> {
    let (table, col) = holder.table();
    let mut n = 0;
    for p in perms {
        n += x
            .execute(
                &format!(
                    "DELETE FROM {table} WHERE tenant_id = $1 AND {col} = $2 AND resource_server_identifier = $3 AND permission_name = $4"
                ),
                params![
                    tenant,
                    owner,
                    &p.resource_server_identifier,
                    &p.permission_name
                ],
            )
            .await?;
    }
    Ok(n)
}

async fn permissions_of(
    x: &impl Exec,
    holder: Holder,
    tenant: &str,
    owner: &str,
    page: Page,
) -> DbResult<(Vec<Permission>, i64)> {
    let (table, col) = holder.table();
    let w = format!("WHERE tenant_id = $1 AND {col} = $2");
    let total = x
        .query_opt(
            &format!("SELECT COUNT(*) AS n FROM {table} {w}"),
            params![tenant, owner],
        )
        .await?
        .map_or(Ok(0), |r| r.i64("n"))?;
    let rows = x
        .query(
            &format!(
                "SELECT resource_server_identifier, permission_name FROM {table} {w} ORDER BY resource_server_identifier, permission_name LIMIT $3 OFFSET $4"
            ),
            params![tenant, owner, page.limit, page.offset],
        )
        .await?
        .iter()
        .map(Permission::from_row)
        .collect::<DbResult<_>>()?;
    Ok((rows, total))
}

/// Adds permissions to a role; those it has already are left as they are.
pub async fn add_role_permissions(
    x: &impl Exec,
    tenant: &str,
    role_id: &str,
    perms: &[Permission],
) -> DbResult<u64> {
    add_permissions(x, Holder::Role, tenant, role_id, perms).await
}

/// Removes permissions from a role; returns how many it had.
pub async fn remove_role_permissions(
    x: &impl Exec,
    tenant: &str,
    role_id: &str,
    perms: &[Permission],
) -> DbResult<u64> {
    remove_permissions(x, Holder::Role, tenant, role_id, perms).await
}

/// A role's permissions by API identifier and name, and how many it has.
pub async fn role_permissions(
    x: &impl Exec,
    tenant: &str,
    role_id: &str,
    page: Page,
) -> DbResult<(Vec<Permission>, i64)> {
    permissions_of(x, Holder::Role, tenant, role_id, page).await
}

/// Gives a user permissions directly; those it has already are left as they are.
pub async fn add_user_permissions(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    perms: &[Permission],
) -> DbResult<u64> {
    add_permissions(x, Holder::User, tenant, user_id, perms).await
}

/// Removes a user's direct permissions; returns how many it had.
pub async fn remove_user_permissions(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    perms: &[Permission],
) -> DbResult<u64> {
    remove_permissions(x, Holder::User, tenant, user_id, perms).await
}

/// A user's direct permissions by API identifier and name, and how many there are.
pub async fn direct_user_permissions(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    page: Page,
) -> DbResult<(Vec<Permission>, i64)> {
    permissions_of(x, Holder::User, tenant, user_id, page).await
}

/// Every permission a user has at tenant level, each once with its sources (direct, and each
/// tenant role that carries it), ordered by API identifier and name; `None` when there is no
/// such user. One query over primary keys: the user, its direct permissions, and its roles'
/// permissions.
pub async fn user_permissions(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
) -> DbResult<Option<Vec<(Permission, Vec<Source>)>>> {
    let sql = "\
SELECT 'U' AS kind, '' AS resource_server_identifier, '' AS permission_name, '' AS role_id, '' AS role_name \
  FROM users WHERE tenant_id = $1 AND user_id = $2 \
UNION ALL \
SELECT 'D', resource_server_identifier, permission_name, '', '' \
  FROM user_permissions WHERE tenant_id = $1 AND user_id = $2 \
UNION ALL \
SELECT 'R', rp.resource_server_identifier, rp.permission_name, r.id, r.name \
  FROM user_roles ur \
  JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id \
  JOIN role_permissions rp ON rp.tenant_id = ur.tenant_id AND rp.role_id = ur.role_id \
 WHERE ur.tenant_id = $1 AND ur.user_id = $2 AND ur.organization_id = ''";
    let rows = x.query(sql, params![tenant, user_id]).await?;
    let mut exists = false;
    let mut perms: BTreeMap<Permission, Vec<Source>> = BTreeMap::new();
    for r in &rows {
        let source = match r.text("kind")?.as_str() {
            "U" => {
                exists = true;
                continue;
            }
            "D" => Source::Direct,
            _ => Source::Role {
                id: r.text("role_id")?,
                name: r.text("role_name")?,
            },
        };
        perms
            .entry(Permission::from_row(r)?)
            .or_default()
            .push(source);
    }
    if !exists {
        return Ok(None);
    }
    Ok(Some(
        perms
            .into_iter()
            .map(|(p, mut s)| {
                s.sort();
                s.dedup();
                (p, s)
            })
            .collect(),
    ))
}

/// Removes every role's and user's permission of an API (when the API is deleted).
pub async fn delete_permissions_of_api(
    x: &impl Exec,
    tenant: &str,
    identifier: &str,
) -> DbResult<()> {
    for table in ["role_permissions", "user_permissions"] {
        x.execute(
            &format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND resource_server_identifier = $2"
            ),
            params![tenant, identifier],
        )
        .await?;
    }
    Ok(())
}

/// Removes every role's and user's permission of these scopes of an API (when the API's
/// scopes no longer have them).
pub async fn delete_permissions_of_scopes(
    x: &impl Exec,
    tenant: &str,
    identifier: &str,
    scopes: &[String],
) -> DbResult<()> {
    if scopes.is_empty() {
        return Ok(());
    }
    for table in ["role_permissions", "user_permissions"] {
        x.execute(
            &format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND resource_server_identifier = $2 AND permission_name IN ({})",
                in_list(3, scopes.len())
            ),
            with_ids(params![tenant, identifier], scopes),
        )
        .await?;
    }
    Ok(())
}

// ---- assignments ---------------------------------------------------------------------------------

/// Gives a user roles, at tenant level (`organization_id` '') or as a member of an
/// organization. Roles the user has there already are left as they are (so concurrent
/// overlapping assignments both succeed). Returns how many were added.
pub async fn assign(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    organization_id: &str,
    role_ids: &[String],
) -> DbResult<u64> {
    if role_ids.is_empty() {
        return Ok(0);
    }
    let mut ps = params![tenant, user_id, organization_id, crate::seq_now()];
    let values: Vec<String> = (0..role_ids.len())
        .map(|i| format!("($1, $2, $3, ${}, $4)", i + 5))
        .collect();
    ps.extend(role_ids.iter().map(P::from));
    let sql = format!(
        "INSERT INTO user_roles (tenant_id, user_id, organization_id, role_id, seq) VALUES {} ON CONFLICT DO NOTHING",
        values.join(", ")
    );
    x.execute(&sql, ps).await
}

/// Gives a role to users (at tenant level or in an organization); assignments that exist are
/// left as they are. Returns how many were added.
pub async fn assign_users(
    x: &impl Exec,
    tenant: &str,
    role_id: &str,
    organization_id: &str,
    user_ids: &[String],
) -> DbResult<u64> {
    if user_ids.is_empty() {
        return Ok(0);
    }
    let mut ps = params![tenant, role_id, organization_id, crate::seq_now()];
    let values: Vec<String> = (0..user_ids.len())
        .map(|i| format!("($1, ${}, $3, $2, $4)", i + 5))
        .collect();
    ps.extend(user_ids.iter().map(P::from));
    let sql = format!(
        "INSERT INTO user_roles (tenant_id, user_id, organization_id, role_id, seq) VALUES {} ON CONFLICT DO NOTHING",
        values.join(", ")
    );
    x.execute(&sql, ps).await
}

/// Takes roles from a user (at tenant level or in an organization). Returns how many it had.
pub async fn unassign(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    organization_id: &str,
    role_ids: &[String],
) -> DbResult<u64> {
    if role_ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "DELETE FROM user_roles WHERE tenant_id = $1 AND user_id = $2 AND organization_id = $3 AND role_id IN ({})",
        in_list(4, role_ids.len())
    );
    x.execute(
        &sql,
        with_ids(params![tenant, user_id, organization_id], role_ids),
    )
    .await
}

/// Takes every role a user has in an organization (when it leaves the organization).
pub async fn unassign_all(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    organization_id: &str,
) -> DbResult<u64> {
    x.execute(
        "DELETE FROM user_roles WHERE tenant_id = $1 AND user_id = $2 AND organization_id = $3",
        params![tenant, user_id, organization_id],
    )
    .await
}

/// A user's roles (at tenant level or in an organization) by name, and how many there are.
pub async fn roles_of_user(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    organization_id: &str,
    page: Page,
) -> DbResult<(Vec<RoleRow>, i64)> {
    let from = "FROM user_roles ur JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id \
                WHERE ur.tenant_id = $1 AND ur.user_id = $2 AND ur.organization_id = $3";
    let total = x
        .query_opt(
            &format!("SELECT COUNT(*) AS n {from}"),
            params![tenant, user_id, organization_id],
        )
        .await?
        .map_or(Ok(0), |r| r.i64("n"))?;
    let rows = x
        .query(
            &format!(
                "SELECT r.id, r.name, r.owner_id, r.body, r.created_at, r.updated_at {from} ORDER BY r.name, r.id LIMIT $4 OFFSET $5"
            ),
            params![tenant, user_id, organization_id, page.limit, page.offset],
        )
        .await?
        .iter()
        .map(RoleRow::from_row)
        .collect::<DbResult<_>>()?;
    Ok((rows, total))
}

/// The ids of the users who have a role at tenant level, by user id, and how many there are.
pub async fn users_of_role(
    x: &impl Exec,
    tenant: &str,
    role_id: &str,
    page: Page,
) -> DbResult<(Vec<String>, i64)> {
    let w = "WHERE tenant_id = $1 AND role_id = $2 AND organization_id = ''";
    let total = x
        .query_opt(
            &format!("SELECT COUNT(*) AS n FROM user_roles {w}"),
            params![tenant, role_id],
        )
        .await?
        .map_or(Ok(0), |r| r.i64("n"))?;
    let ids = x
        .query(
            &format!("SELECT user_id FROM user_roles {w} ORDER BY user_id LIMIT $3 OFFSET $4"),
            params![tenant, role_id, page.limit, page.offset],
        )
        .await?
        .iter()
        .map(|r| r.text("user_id"))
        .collect::<DbResult<_>>()?;
    Ok((ids, total))
}

/// The ids of at most `take` users who have a role at tenant level, after the user id `after`
/// (keyset: an index range scan, as fast deep in the list as at its start), by user id.
pub async fn users_of_role_after(
    x: &impl Exec,
    tenant: &str,
    role_id: &str,
    after: Option<&str>,
    take: i64,
) -> DbResult<Vec<String>> {
    let (sql, ps) = match after {
        Some(a) => (
            "SELECT user_id FROM user_roles WHERE tenant_id = $1 AND role_id = $2 AND organization_id = '' AND user_id > $3 ORDER BY user_id LIMIT $4",
            params![tenant, role_id, a, take],
        ),
        None => (
            "SELECT user_id FROM user_roles WHERE tenant_id = $1 AND role_id = $2 AND organization_id = '' ORDER BY user_id LIMIT $3",
            params![tenant, role_id, take],
        ),
    };
    x.query(sql, ps)
        .await?
        .iter()
        .map(|r| r.text("user_id"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_is_escaped() {
        assert_eq!(like_escape("a%b_c\\d"), "a\\%b\\_c\\\\d");
        assert_eq!(in_list(3, 2), "$3, $4");
    }
}
