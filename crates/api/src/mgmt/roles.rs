//! Tag `roles`, and the `users` operations on a user's roles and permissions.
//!
//! A permission names an API by its identifier and one of its scopes; both must exist when it is
//! given. What hangs on a role, a user or an API goes with it (see the store's `roles` module).

use std::collections::{BTreeSet, HashMap};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    Page, atomically,
    db::is_unique_violation,
    organizations,
    resource_servers::{self, ResourceServerRow},
    roles::{self, Permission, RoleFilter, RoleRow, Source},
    users,
};

use super::common::order_keys;
use crate::spine::{
    Ctx, Input, Registry, Reply,
    page::{Checkpoint, Paging},
};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetRoles, get_roles);
    reg.add(Op::PostRoles, post_roles);
    reg.add(Op::GetRolesById, get_roles_by_id);
    reg.add(Op::PatchRolesById, patch_roles_by_id);
    reg.add(Op::DeleteRolesById, delete_roles_by_id);
    reg.add(Op::GetRolePermission, get_role_permission);
    reg.add(Op::PostRolePermissionAssignment, post_role_permissions);
    reg.add(Op::DeleteRolePermissionAssignment, delete_role_permissions);
    reg.add(Op::GetRoleUser, get_role_user);
    reg.add(Op::PostRoleUsers, post_role_users);
    reg.add(Op::GetUserRoles, get_user_roles);
    reg.add(Op::PostUserRoles, post_user_roles);
    reg.add(Op::DeleteUserRoles, delete_user_roles);
    reg.add(Op::GetPermissions, get_user_permissions);
    reg.add(Op::PostPermissions, post_user_permissions);
    reg.add(Op::DeletePermissions, delete_user_permissions);
}

// ---- errors -----------------------------------------------------------------------------------

pub(crate) fn role_not_found() -> Error {
    Error::not_found("inexistent_role", "The role does not exist.")
}

pub(crate) fn user_not_found() -> Error {
    Error::not_found("inexistent_user", "The user does not exist.")
}

fn role_conflict() -> Error {
    Error::conflict("role_conflict", "A role with the same name already exists")
}

/// An organization role given where it does not belong: at tenant level, or in another
/// organization than its owner.
fn role_out_of_scope(role: &RoleRow) -> Error {
    Error::bad_request(
        "invalid_role_assignment",
        format!(
            "The role '{}' belongs to the organization '{}' and can only be assigned to its members there.",
            role.id, role.owner_id
        ),
    )
}

/// Tenant roles can be given anywhere; an organization's own roles only in that organization
/// (`organization_id` '' is the tenant level).
pub(crate) fn check_role_scope(found: &[RoleRow], organization_id: &str) -> Result<(), Error> {
    match found
        .iter()
        .find(|r| r.is_organization_role() && r.owner_id != organization_id)
    {
        Some(r) => Err(role_out_of_scope(r)),
        None => Ok(()),
    }
}

fn api_not_found(identifier: &str) -> Error {
    Error::not_found(
        "inexistent_resource_server",
        format!("The resource server does not exist: '{identifier}'"),
    )
}

fn scope_not_found(p: &Permission) -> Error {
    Error::bad_body(format!(
        "Payload validation error: the permission '{}' is not a scope of the resource server '{}'",
        p.permission_name, p.resource_server_identifier
    ))
}

// ---- shapes -------------------------------------------------------------------------------------

const KEY_ORDER: &[&str] = &["id", "name", "description", "type", "owner_id"];

/// A stored role as the API shows it once made: a role without a description shows an empty
/// one.
fn shown(body: Value) -> Value {
    let mut obj = match body {
        Value::Object(o) => o,
        other => return other,
    };
    let description = obj.entry("description").or_insert(Value::Null);
    if description.is_null() {
        *description = json!("");
    }
    Value::Object(order_keys(obj, KEY_ORDER))
}

/// `{permission_name, description, resource_server_name, resource_server_identifier}`, with the
/// scope's description and the API's name as they are now.
fn permission_json(
    p: &Permission,
    apis: &HashMap<String, ResourceServerRow>,
) -> Map<String, Value> {
    let api = apis.get(&p.resource_server_identifier);
    let scope_description = api
        .and_then(|a| a.body.get("scopes"))
        .and_then(Value::as_array)
        .and_then(|scopes| {
            scopes.iter().find(|s| {
                s.get("value").and_then(Value::as_str) == Some(p.permission_name.as_str())
            })
        })
        .and_then(|s| s.get("description"))
        .cloned();
    let mut m = Map::new();
    m.insert("permission_name".into(), json!(p.permission_name));
    if let Some(d) = scope_description {
        m.insert("description".into(), d);
    }
    if let Some(name) = api.and_then(|a| a.body.get("name")) {
        m.insert("resource_server_name".into(), name.clone());
    }
    m.insert(
        "resource_server_identifier".into(),
        json!(p.resource_server_identifier),
    );
    m
}

fn source_json(s: &Source) -> Value {
    match s {
        Source::Direct => json!({"source_id": "", "source_name": "", "source_type": "DIRECT"}),
        Source::Role { id, name } => {
            json!({"source_id": id, "source_name": name, "source_type": "ROLE"})
        }
    }
}

/// The APIs these permissions name, by identifier (one query).
async fn apis_of(
    ctx: &Ctx,
    perms: impl Iterator<Item = &Permission>,
) -> Result<HashMap<String, ResourceServerRow>, Error> {
    let ids: Vec<String> = perms
        .map(|p| p.resource_server_identifier.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let (rows, _) =
        resource_servers::list(ctx.db(), ctx.tenant_id(), Some(ids.as_slice()), Page::ALL).await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.identifier.clone(), r))
        .collect())
}

/// The permissions of a request body (`{"permissions": [{resource_server_identifier,
/// permission_name}]}`), each once, in the order given.
fn requested_permissions(input: &Input) -> Vec<Permission> {
    let mut seen = BTreeSet::new();
    input
        .body
        .get("permissions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(Permission::new(
                p.get("resource_server_identifier")?.as_str()?,
                p.get("permission_name")?.as_str()?,
            ))
        })
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

/// Checks that each permission names an existing API and one of its scopes.
async fn check_permissions(ctx: &Ctx, perms: &[Permission]) -> Result<(), Error> {
    let apis = apis_of(ctx, perms.iter()).await?;
    for p in perms {
        let api = apis
            .get(&p.resource_server_identifier)
            .ok_or_else(|| api_not_found(&p.resource_server_identifier))?;
        let has_scope = api
            .body
            .get("scopes")
            .and_then(Value::as_array)
            .is_some_and(|scopes| {
                scopes.iter().any(|s| {
                    s.get("value").and_then(Value::as_str) == Some(p.permission_name.as_str())
                })
            });
        if !has_scope {
            return Err(scope_not_found(p));
        }
    }
    Ok(())
}

// ---- roles --------------------------------------------------------------------------------------

async fn get_roles(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let paging = Paging::from_query(&input.query);
    // `type` and `owner_id` narrow the list to tenant roles or to organization roles (of one
    // organization), as the Terraform provider's role data source asks.
    let filter = RoleFilter {
        name: input.query.get("name_filter"),
        organization: match input.query.get("type") {
            Some("tenant") => Some(false),
            Some("organization") => Some(true),
            _ => None,
        },
        owner_id: input.query.get("owner_id"),
    };
    let (rows, total) = roles::list(ctx.db(), ctx.tenant_id(), filter, paging.store_page()).await?;
    let items = rows.into_iter().map(|r| shown(r.body)).collect();
    Ok(Reply::json(paging.reply("roles", items, total)))
}

/// Creates a tenant role, or (`type: "organization"` with `owner_id`) a role of one
/// organization, usable only by its members there. The kind is set at creation only.
async fn post_roles(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let name = req
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let owner_id = role_owner(&ctx, &req).await?;
    let id = ids::prefixed("rol", 16);
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    body.insert("name".into(), json!(name));
    // Not given, the description is null in the reply and empty when read (as recorded).
    body.insert(
        "description".into(),
        req.get("description")
            .filter(|d| d.is_string())
            .cloned()
            .unwrap_or(Value::Null),
    );
    if owner_id.is_empty() {
        body.insert("type".into(), json!("tenant"));
    } else {
        body.insert("type".into(), json!("organization"));
        body.insert("owner_id".into(), json!(owner_id));
    }
    let now = time::now();
    let row = RoleRow {
        id,
        name,
        owner_id,
        body: Value::Object(order_keys(body, KEY_ORDER)),
        created_at: now.clone(),
        updated_at: now,
    };
    match roles::insert(ctx.db(), ctx.tenant_id(), &row).await {
        Ok(()) => Ok(Reply::json(row.body)),
        Err(e) if is_unique_violation(&e) => Err(role_conflict()),
        Err(e) => Err(e.into()),
    }
}

/// The organization a new role belongs to ('' for a tenant role): `owner_id` goes with
/// `type: "organization"` and names an existing organization; a tenant role has none.
async fn role_owner(ctx: &Ctx, req: &Map<String, Value>) -> Result<String, Error> {
    let owner = req.get("owner_id").and_then(Value::as_str);
    match (req.get("type").and_then(Value::as_str), owner) {
        (Some("organization"), Some(org)) => {
            let found = organizations::find(ctx.db(), ctx.tenant_id(), org)
                .await?
                .ok_or_else(super::organizations::not_found)?;
            Ok(found.id)
        }
        (Some("organization"), None) => Err(Error::bad_body(
            "Payload validation error: 'owner_id' is required when 'type' is 'organization'.",
        )),
        (_, Some(_)) => Err(Error::bad_body(
            "Payload validation error: 'owner_id' can only be set when 'type' is 'organization'.",
        )),
        (_, None) => Ok(String::new()),
    }
}

async fn get_roles_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let role = roles::find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?
        .ok_or_else(role_not_found)?;
    Ok(Reply::json(shown(role.body)))
}

async fn patch_roles_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let req = &input.body_object();
    let result = atomically(|| async move {
        let tx = db.begin().await?;
        let mut role = roles::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(role_not_found)?;
        let mut body = role.body.as_object().cloned().unwrap_or_default();
        for key in ["name", "description"] {
            if let Some(v) = req.get(key).filter(|v| v.is_string()) {
                body.insert(key.into(), v.clone());
            }
        }
        if let Some(name) = body.get("name").and_then(Value::as_str) {
            role.name = name.to_owned();
        }
        role.body = Value::Object(order_keys(body, KEY_ORDER));
        role.updated_at = time::now();
        roles::update(&tx, tenant, &role).await?;
        tx.commit().await?;
        Ok::<_, Error>(role.into_inner())
    })
    .await;
    match result {
        Ok(role) => Ok(Reply::json(shown(role.body))),
        Err(Error::Internal(e)) if is_unique_violation(&e) => Err(role_conflict()),
        Err(e) => Err(e),
    }
}

/// Deletes the role with its permissions and all its assignments, in one transaction.
async fn delete_roles_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    atomically(|| async move {
        let tx = db.begin().await?;
        if !roles::delete(&tx, tenant, id).await? {
            return Err(role_not_found());
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::json(json!({})))
}

// ---- permissions of a role ---------------------------------------------------------------------

async fn get_role_permission(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    roles::find(db, tenant, id)
        .await?
        .ok_or_else(role_not_found)?;
    let paging = Paging::from_query(&input.query);
    let (perms, total) = roles::role_permissions(db, tenant, id, paging.store_page()).await?;
    let apis = apis_of(&ctx, perms.iter()).await?;
    let items = perms
        .iter()
        .map(|p| Value::Object(permission_json(p, &apis)))
        .collect();
    Ok(Reply::json(paging.reply("permissions", items, total)))
}

async fn post_role_permissions(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let perms = &requested_permissions(&input);
    check_permissions(&ctx, perms).await?;
    atomically(|| async move {
        let tx = db.begin().await?;
        roles::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(role_not_found)?;
        roles::add_role_permissions(&tx, tenant, id, perms).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::json(json!({})))
}

async fn delete_role_permissions(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let perms = &requested_permissions(&input);
    atomically(|| async move {
        let tx = db.begin().await?;
        roles::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(role_not_found)?;
        roles::remove_role_permissions(&tx, tenant, id, perms).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

// ---- users of a role -----------------------------------------------------------------------------

/// `{user_id, email, picture, name}` of each user, in the order of `ids` (one query).
async fn role_users(ctx: &Ctx, ids: &[String]) -> Result<Vec<Value>, Error> {
    let found = users::find_many(ctx.db(), ctx.tenant_id(), ids).await?;
    let mut by_id: HashMap<&str, &users::UserRow> =
        found.iter().map(|u| (u.user_id.as_str(), u)).collect();
    Ok(ids
        .iter()
        .filter_map(|id| by_id.remove(id.as_str()))
        .map(|u| {
            let mut m = Map::new();
            m.insert("user_id".into(), json!(u.user_id));
            if let Some(e) = &u.email {
                m.insert("email".into(), json!(e));
            }
            if let Some(p) = u.body.get("picture") {
                m.insert("picture".into(), p.clone());
            }
            if let Some(n) = &u.name {
                m.insert("name".into(), json!(n));
            }
            Value::Object(m)
        })
        .collect())
}

/// A checkpoint cursor: the last user id of a page, opaque to the client.
fn encode_cursor(user_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(user_id)
}

fn decode_cursor(from: &str) -> Result<String, Error> {
    URL_SAFE_NO_PAD
        .decode(from.trim_end_matches('='))
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Error::InvalidQueryString("The 'from' parameter is not a valid checkpoint.".into())
        })
}

async fn get_role_user(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    roles::find(db, tenant, id)
        .await?
        .ok_or_else(role_not_found)?;
    if let Some(cp) = Checkpoint::from_query(&input.query) {
        let after = cp.from.as_deref().map(decode_cursor).transpose()?;
        // One more than asked: whether a next page exists, without counting.
        let mut ids =
            roles::users_of_role_after(db, tenant, id, after.as_deref(), cp.take + 1).await?;
        let more = i64::try_from(ids.len()).unwrap_or(i64::MAX) > cp.take;
        ids.truncate(usize::try_from(cp.take).unwrap_or(0));
        let items = role_users(&ctx, &ids).await?;
        let mut env = Map::new();
        env.insert("users".into(), Value::Array(items));
        if more && let Some(last) = ids.last() {
            env.insert("next".into(), json!(encode_cursor(last)));
        }
        return Ok(Reply::json(Value::Object(env)));
    }
    let paging = Paging::from_query(&input.query);
    let (ids, total) = roles::users_of_role(db, tenant, id, paging.store_page()).await?;
    let items = role_users(&ctx, &ids).await?;
    Ok(Reply::json(paging.reply("users", items, total)))
}

/// Gives the role to users, all or none: every user must exist.
async fn post_role_users(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let user_ids = &input.body_strings("users");
    atomically(|| async move {
        let tx = db.begin().await?;
        let role = roles::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(role_not_found)?;
        check_role_scope(std::slice::from_ref(&role.into_inner()), "")?;
        let found = users::find_many(&tx, tenant, user_ids).await?;
        if found.len() != user_ids.len() {
            return Err(user_not_found());
        }
        roles::assign_users(&tx, tenant, id, "", user_ids).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::json(json!({})))
}

// ---- a user's roles ----------------------------------------------------------------------------

async fn get_user_roles(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, user_id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    users::find(db, tenant, user_id)
        .await?
        .ok_or_else(user_not_found)?;
    let paging = Paging::from_query(&input.query);
    let (rows, total) = roles::roles_of_user(db, tenant, user_id, "", paging.store_page()).await?;
    let items = rows.into_iter().map(|r| shown(r.body)).collect();
    Ok(Reply::json(paging.reply("roles", items, total)))
}

/// Gives a user tenant roles, all or none: every role must exist. The user's row is locked, so a
/// concurrent delete of the user cannot leave assignments behind.
async fn post_user_roles(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, user_id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let role_ids = &input.body_strings("roles");
    atomically(|| async move {
        let tx = db.begin().await?;
        users::find_for_update(&tx, tenant, user_id)
            .await?
            .ok_or_else(user_not_found)?;
        let found = roles::lock_many(&tx, tenant, role_ids).await?;
        if found.len() != role_ids.len() {
            return Err(role_not_found());
        }
        check_role_scope(&found, "")?;
        roles::assign(&tx, tenant, user_id, "", role_ids).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

async fn delete_user_roles(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, user_id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let role_ids = &input.body_strings("roles");
    atomically(|| async move {
        let tx = db.begin().await?;
        users::find_for_update(&tx, tenant, user_id)
            .await?
            .ok_or_else(user_not_found)?;
        roles::unassign(&tx, tenant, user_id, "", role_ids).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

// ---- a user's permissions ------------------------------------------------------------------------

/// Every permission the user has, direct or through its tenant roles, each once with its
/// `sources`, ordered by API identifier and name.
async fn get_user_permissions(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let perms = roles::user_permissions(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?
        .ok_or_else(user_not_found)?;
    let paging = Paging::from_query(&input.query);
    let total = i64::try_from(perms.len()).unwrap_or(i64::MAX);
    let page = paging.store_page();
    let start = usize::try_from(page.offset).unwrap_or(usize::MAX);
    let len = usize::try_from(page.limit).unwrap_or(0);
    let shown_perms: Vec<_> = perms.into_iter().skip(start).take(len).collect();
    let apis = apis_of(&ctx, shown_perms.iter().map(|(p, _)| p)).await?;
    let items = shown_perms
        .iter()
        .map(|(p, sources)| {
            let mut m = permission_json(p, &apis);
            m.insert(
                "sources".into(),
                Value::Array(sources.iter().map(source_json).collect()),
            );
            Value::Object(m)
        })
        .collect();
    Ok(Reply::json(paging.reply("permissions", items, total)))
}

async fn post_user_permissions(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, user_id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let perms = &requested_permissions(&input);
    check_permissions(&ctx, perms).await?;
    atomically(|| async move {
        let tx = db.begin().await?;
        users::find_for_update(&tx, tenant, user_id)
            .await?
            .ok_or_else(user_not_found)?;
        roles::add_user_permissions(&tx, tenant, user_id, perms).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::json(json!({})))
}

async fn delete_user_permissions(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, user_id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let perms = &requested_permissions(&input);
    atomically(|| async move {
        let tx = db.begin().await?;
        users::find_for_update(&tx, tenant, user_id)
            .await?
            .ok_or_else(user_not_found)?;
        roles::remove_user_permissions(&tx, tenant, user_id, perms).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_fills_description_and_orders_keys() {
        let v = shown(json!({"type": "tenant", "name": "n", "id": "rol_1"}));
        assert_eq!(
            v.to_string(),
            r#"{"id":"rol_1","name":"n","description":"","type":"tenant"}"#
        );
        let v = shown(json!({"id": "rol_1", "name": "n", "description": "d"}));
        assert_eq!(v["description"], "d");
    }

    #[test]
    fn cursor_round_trips() {
        for id in ["auth0|abc", "google-oauth2|1234567890", "x"] {
            assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        }
        assert!(decode_cursor("!!!").is_err());
        assert!(decode_cursor("").is_err());
    }

    #[test]
    fn permission_shape() {
        let mut apis = HashMap::new();
        apis.insert(
            "https://api".to_owned(),
            ResourceServerRow {
                id: "1".into(),
                identifier: "https://api".into(),
                is_system: false,
                body: json!({"name": "API", "scopes": [{"value": "read:x", "description": "Read X"}]}),
                created_at: String::new(),
                updated_at: String::new(),
            },
        );
        let m = permission_json(&Permission::new("https://api", "read:x"), &apis);
        assert_eq!(
            Value::Object(m).to_string(),
            r#"{"permission_name":"read:x","description":"Read X","resource_server_name":"API","resource_server_identifier":"https://api"}"#
        );
    }
}
