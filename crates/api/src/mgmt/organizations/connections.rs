//! Connections of an organization, through both of Auth0's views of one store
//! (`organization_connections`): `/enabled_connections` (the connections enabled for it) and
//! the newer `/connections` (every associated connection, with `is_enabled`,
//! `organization_access_level` and `organization_connection_name`).

use serde_json::{Map, Value, json};

use gatehouse_core::Error;
use gatehouse_spec::Op;
use gatehouse_store::{
    Tx, atomically, connections as conns,
    organizations::{self, OrgConnectionRow},
};

use super::{find, not_found, offset};
use crate::spine::{Ctx, Input, Registry, Reply};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetEnabledConnections, get_enabled_connections);
    reg.add(Op::PostEnabledConnections, post_enabled_connections);
    reg.add(
        Op::GetEnabledConnectionsByConnectionId,
        get_enabled_connections_by_connection_id,
    );
    reg.add(
        Op::PatchEnabledConnectionsByConnectionId,
        patch_enabled_connections_by_connection_id,
    );
    reg.add(
        Op::DeleteEnabledConnectionsByConnectionId,
        delete_enabled_connections_by_connection_id,
    );
    reg.add(Op::GetOrganizationConnections, get_organization_connections);
    reg.add(Op::PostOrganizationConnection, post_organization_connection);
    reg.add(Op::GetOrganizationConnection, get_organization_connection);
    reg.add(
        Op::PatchOrganizationConnection,
        patch_organization_connection,
    );
    reg.add(
        Op::DeleteOrganizationConnection,
        delete_organization_connection,
    );
}

/// Auth0's 404 of a connection the organization does not have (recorded without an errorCode).
fn no_connection() -> Error {
    Error::NotFound("No connection found by that id".into())
}

fn conflict() -> Error {
    Error::conflict(
        "organization_connection_conflict",
        "The connection is already associated with this organization",
    )
}

/// How many connections a create request may enable (Auth0 documents 10).
const MAX_ON_CREATE: usize = 10;

/// Which view of the store a handler answers for.
#[derive(Clone, Copy, PartialEq)]
enum View {
    Enabled,
    All,
}

/// The settings of a connection of an organization, with Auth0's defaults.
fn settings(
    strategy: &str,
    req: &Map<String, Value>,
    mut body: Map<String, Value>,
) -> Map<String, Value> {
    for (k, v) in req {
        if matches!(
            k.as_str(),
            "assign_membership_on_login"
                | "show_as_button"
                | "is_signup_enabled"
                | "organization_access_level"
                | "organization_connection_name"
        ) {
            if v.is_null() {
                body.remove(k);
            } else {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    body.entry("assign_membership_on_login")
        .or_insert(json!(false));
    body.entry("show_as_button").or_insert(json!(true));
    body.entry("organization_access_level")
        .or_insert(json!("none"));
    // Sign-up through an organization is a database connection's matter only.
    if strategy == "auth0" {
        body.entry("is_signup_enabled").or_insert(json!(false));
    } else {
        body.remove("is_signup_enabled");
    }
    body
}

/// Auth0's rule: only a database connection that assigns membership on login signs up.
fn check_signup(strategy: &str, body: &Map<String, Value>) -> Result<(), Error> {
    let signup = body.get("is_signup_enabled") == Some(&json!(true));
    let assign = body.get("assign_membership_on_login") == Some(&json!(true));
    if signup && (strategy != "auth0" || !assign) {
        return Err(Error::bad_body(
            "Only database connections with assign_membership_on_login = true support is_signup_enabled = true.",
        ));
    }
    Ok(())
}

/// The requested `is_signup_enabled` of a non-database connection is checked before it is
/// dropped from the settings.
fn check_request(
    strategy: &str,
    req: &Map<String, Value>,
    body: &Map<String, Value>,
) -> Result<(), Error> {
    if strategy != "auth0" && req.get("is_signup_enabled") == Some(&json!(true)) {
        return Err(Error::bad_body(
            "Only database connections with assign_membership_on_login = true support is_signup_enabled = true.",
        ));
    }
    check_signup(strategy, body)
}

/// A connection of an organization as `view` shows it.
fn shown(c: &OrgConnectionRow, view: View) -> Value {
    let mut o = Map::new();
    o.insert("connection_id".into(), json!(c.connection_id));
    let b = c.body.as_object().cloned().unwrap_or_default();
    for k in [
        "is_signup_enabled",
        "assign_membership_on_login",
        "show_as_button",
    ] {
        if let Some(v) = b.get(k) {
            o.insert(k.into(), v.clone());
        }
    }
    if view == View::All {
        o.insert("is_enabled".into(), json!(c.is_enabled));
        for k in ["organization_access_level", "organization_connection_name"] {
            if let Some(v) = b.get(k) {
                o.insert(k.into(), v.clone());
            }
        }
    }
    o.insert(
        "connection".into(),
        json!({"name": c.name, "strategy": c.strategy}),
    );
    Value::Object(o)
}

/// Adds `connection_id` to the organization `org` (locked by the caller's transaction).
async fn add(
    tx: &Tx,
    tenant: &str,
    org: &str,
    req: &Map<String, Value>,
    is_enabled: bool,
) -> Result<OrgConnectionRow, Error> {
    let cid = req
        .get("connection_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let conn = conns::find(tx, tenant, cid)
        .await?
        .ok_or_else(no_connection)?;
    let body = settings(&conn.strategy, req, Map::new());
    check_request(&conn.strategy, req, &body)?;
    let row = OrgConnectionRow {
        connection_id: conn.id,
        body: Value::Object(body),
        is_enabled,
        name: conn.name,
        strategy: conn.strategy,
    };
    if !organizations::insert_connection(tx, tenant, org, &row).await? {
        return Err(conflict());
    }
    Ok(row)
}

/// The `enabled_connections` of a create request, checked before anything is written.
pub(super) fn requested_on_create(
    req: &Map<String, Value>,
) -> Result<Vec<Map<String, Value>>, Error> {
    let list: Vec<Map<String, Value>> = req
        .get("enabled_connections")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|v| v.as_object().cloned()).collect())
        .unwrap_or_default();
    if list.len() > MAX_ON_CREATE {
        return Err(Error::bad_body(format!(
            "Payload validation error: 'Array is too long ({}), maximum {MAX_ON_CREATE}' on property enabled_connections.",
            list.len()
        )));
    }
    Ok(list)
}

/// Enables the requested connections of a new organization, in its creating transaction.
pub(super) async fn add_on_create(
    tx: &Tx,
    tenant: &str,
    org: &str,
    list: &[Map<String, Value>],
) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for req in list {
        let row = add(tx, tenant, org, req, true).await?;
        out.push(shown(&row, View::Enabled));
    }
    Ok(out)
}

async fn list(ctx: Ctx, input: Input, view: View) -> Result<Reply, Error> {
    let org = find(&ctx, input.path("id")).await?;
    let (paging, page) = offset(&input);
    let is_enabled = match view {
        View::Enabled => Some(true),
        View::All => input.query.bool("is_enabled"),
    };
    let (rows, total) =
        organizations::connections(ctx.db(), ctx.tenant_id(), &org.id, is_enabled, page).await?;
    let items = rows.iter().map(|c| shown(c, view)).collect();
    let key = match view {
        View::Enabled => "enabled_connections",
        View::All => "connections",
    };
    Ok(Reply::json(paging.reply(key, items, total)))
}

async fn create(ctx: Ctx, input: Input, view: View) -> Result<Reply, Error> {
    let req = input.body_object();
    let is_enabled = req
        .get("is_enabled")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let (db, tenant, id, req) = (ctx.db(), ctx.tenant_id(), input.path("id"), &req);
    let row = atomically(|| async move {
        let tx = db.begin().await?;
        let org = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        let row = add(&tx, tenant, &org.id, req, is_enabled).await?;
        tx.commit().await?;
        Ok::<_, Error>(row)
    })
    .await?;
    Ok(Reply::json(shown(&row, view)))
}

async fn get_one(ctx: Ctx, input: Input, view: View, key: &str) -> Result<Reply, Error> {
    let org = find(&ctx, input.path("id")).await?;
    let c = organizations::find_connection(ctx.db(), ctx.tenant_id(), &org.id, input.path(key))
        .await?
        .filter(|c| view == View::All || c.is_enabled)
        .ok_or_else(no_connection)?;
    Ok(Reply::json(shown(&c, view)))
}

async fn patch(ctx: Ctx, input: Input, view: View, key: &str) -> Result<Reply, Error> {
    let req = input.body_object();
    let (db, tenant, id, cid, req) = (
        ctx.db(),
        ctx.tenant_id(),
        input.path("id"),
        input.path(key),
        &req,
    );
    let row = atomically(|| async move {
        let tx = db.begin().await?;
        let org = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        let mut c = organizations::find_connection(&tx, tenant, &org.id, cid)
            .await?
            .filter(|c| view == View::All || c.is_enabled)
            .ok_or_else(no_connection)?;
        let body = settings(
            &c.strategy,
            req,
            c.body.as_object().cloned().unwrap_or_default(),
        );
        check_request(&c.strategy, req, &body)?;
        c.body = Value::Object(body);
        match req.get("is_enabled") {
            Some(Value::Bool(b)) => c.is_enabled = *b,
            Some(Value::Null) => c.is_enabled = true,
            _ => {}
        }
        organizations::update_connection(&tx, tenant, &org, &c).await?;
        tx.commit().await?;
        Ok::<_, Error>(c)
    })
    .await?;
    Ok(Reply::json(shown(&row, view)))
}

async fn remove(ctx: Ctx, input: Input, key: &str) -> Result<Reply, Error> {
    let (db, tenant, id, cid) = (ctx.db(), ctx.tenant_id(), input.path("id"), input.path(key));
    atomically(|| async move {
        let tx = db.begin().await?;
        let org = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        // A connection the organization does not have answers 204 too (as recorded).
        organizations::delete_connection(&tx, tenant, &org.id, cid).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

async fn get_enabled_connections(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    list(ctx, input, View::Enabled).await
}

async fn post_enabled_connections(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    create(ctx, input, View::Enabled).await
}

async fn get_enabled_connections_by_connection_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    get_one(ctx, input, View::Enabled, "connectionId").await
}

async fn patch_enabled_connections_by_connection_id(
    ctx: Ctx,
    input: Input,
) -> Result<Reply, Error> {
    patch(ctx, input, View::Enabled, "connectionId").await
}

async fn delete_enabled_connections_by_connection_id(
    ctx: Ctx,
    input: Input,
) -> Result<Reply, Error> {
    remove(ctx, input, "connectionId").await
}

async fn get_organization_connections(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    list(ctx, input, View::All).await
}

async fn post_organization_connection(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    create(ctx, input, View::All).await
}

async fn get_organization_connection(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    get_one(ctx, input, View::All, "connection_id").await
}

async fn patch_organization_connection(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    patch(ctx, input, View::All, "connection_id").await
}

async fn delete_organization_connection(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    remove(ctx, input, "connection_id").await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn defaults_and_signup_rule() {
        let b = settings("auth0", &obj(json!({"connection_id": "c"})), Map::new());
        assert_eq!(
            Value::Object(b.clone()),
            json!({"assign_membership_on_login": false, "show_as_button": true, "organization_access_level": "none", "is_signup_enabled": false})
        );
        let b = settings(
            "okta",
            &obj(json!({"assign_membership_on_login": true})),
            Map::new(),
        );
        assert!(!b.contains_key("is_signup_enabled"));
        let req = obj(json!({"is_signup_enabled": true}));
        let b = settings("auth0", &req, Map::new());
        assert!(
            check_request("auth0", &req, &b).is_err(),
            "needs assign_membership_on_login"
        );
        let req = obj(json!({"is_signup_enabled": true, "assign_membership_on_login": true}));
        let b = settings("auth0", &req, Map::new());
        assert!(check_request("auth0", &req, &b).is_ok());
        let b2 = settings("okta", &req, Map::new());
        assert!(
            check_request("okta", &req, &b2).is_err(),
            "database connections only"
        );
    }
}
