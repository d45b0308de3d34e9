//! Tag `connections`: where users come from, which clients may use them, their signing keys,
//! and their inbound provisioning (SCIM, directory).

mod keys;
pub mod options;
mod provisioning;
mod secrets;

use anyhow::Context;
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    Exec, atomically, clients,
    connections::{self, ConnectionFilter, ConnectionRow},
    db::is_unique_violation,
    users,
};

use self::secrets::Secrets;
use super::common::order_keys;

use crate::spine::{
    Ctx, Input, Query, Registry, Reply,
    page::{Checkpoint, Paging, project},
};
/// The SHA-256 (hex) a SCIM bearer secret is stored and looked up by
/// ([`connections::find_scim_token`]).
pub use provisioning::token_hash as scim_token_hash;

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetConnections, get_connections);
    reg.add(Op::PostConnections, post_connections);
    reg.add(Op::GetConnectionsById, get_connections_by_id);
    reg.add(Op::PatchConnectionsById, patch_connections_by_id);
    reg.allow_null_unset(Op::PatchConnectionsById);
    reg.add(Op::DeleteConnectionsById, delete_connections_by_id);
    reg.add(Op::GetStatus, get_status);
    reg.add(Op::GetConnectionClients, get_connection_clients);
    reg.add(Op::PatchClients, patch_clients);
    reg.add(Op::GetKeys, keys::get_keys);
    reg.add(Op::PostKeys, keys::post_keys);
    reg.add(Op::PostRotate, keys::post_rotate);
    reg.add(Op::GetScimConfiguration, provisioning::get_scim);
    reg.add(Op::PostScimConfiguration, provisioning::post_scim);
    reg.add(Op::PatchScimConfiguration, provisioning::patch_scim);
    reg.add(Op::DeleteScimConfiguration, provisioning::delete_scim);
    reg.add(
        Op::GetDefaultMapping,
        provisioning::get_scim_default_mapping,
    );
    reg.add(Op::GetScimTokens, provisioning::get_scim_tokens);
    reg.add(Op::PostScimToken, provisioning::post_scim_token);
    reg.add(Op::DeleteTokensByTokenId, provisioning::delete_scim_token);
    reg.add(
        Op::GetConnectionsScimConfigurations,
        provisioning::get_scim_configurations,
    );
    reg.add(Op::GetDirectoryProvisioning, provisioning::get_directory);
    reg.add(Op::PostDirectoryProvisioning, provisioning::post_directory);
    reg.add(Op::PostSynchronizations, provisioning::post_synchronization);
    reg.add(
        Op::PatchDirectoryProvisioning,
        provisioning::patch_directory,
    );
    reg.add(
        Op::DeleteDirectoryProvisioning,
        provisioning::delete_directory,
    );
    reg.add(
        Op::GetDirectoryProvisioningDefaultMapping,
        provisioning::get_directory_default_mapping,
    );
    reg.add(
        Op::GetSynchronizedGroups,
        provisioning::get_synchronized_groups,
    );
    reg.add(
        Op::PutSynchronizedGroups,
        provisioning::put_synchronized_groups,
    );
    reg.add(
        Op::GetConnectionsDirectoryProvisionings,
        provisioning::get_directory_provisionings,
    );
}

/// The order Auth0 writes a connection's keys in.
const KEY_ORDER: &[&str] = &[
    "id",
    "options",
    "strategy",
    "name",
    "provisioning_ticket_url",
    "is_domain_connection",
    "show_as_button",
    "authentication",
    "connected_accounts",
    "cross_app_access_requesting_app",
    "display_name",
    "enabled_clients",
    "realms",
    "metadata",
];

/// Keys an inclusive `fields` projection keeps anyway, as Auth0 does.
const ALWAYS_SHOWN: &[&str] = &[
    "id",
    "is_domain_connection",
    "authentication",
    "connected_accounts",
];

pub(crate) fn inexistent() -> Error {
    Error::not_found("inexistent_connection", "The connection does not exist")
}

fn client_missing() -> Error {
    Error::not_found("inexistent_client", "The client does not exist")
}

/// The connection as the API shows it, with its enabled clients, in Auth0's key order, its
/// configuration secrets encrypted.
fn render(row: &ConnectionRow, enabled: Vec<String>, secrets: &Secrets) -> Value {
    let mut body = row.body.as_object().cloned().unwrap_or_default();
    if let Some(o) = body.get_mut("options") {
        secrets.hide(&row.id, o);
    }
    body.insert("enabled_clients".into(), json!(enabled));
    Value::Object(order_keys(body, KEY_ORDER))
}

/// `fields` projection; an inclusive one keeps [`ALWAYS_SHOWN`] keys too.
fn project_connection(v: Value, q: &Query) -> Value {
    let inclusive = q.list("fields").is_some() && q.bool("include_fields").unwrap_or(true);
    if !inclusive {
        return project(v, q);
    }
    let full = v.clone();
    let Value::Object(picked) = project(v, q) else {
        return full;
    };
    let Value::Object(full) = full else {
        return Value::Object(picked);
    };
    let out: Map<String, Value> = full
        .into_iter()
        .filter(|(k, _)| picked.contains_key(k) || ALWAYS_SHOWN.contains(&k.as_str()))
        .map(|(k, v)| {
            let v = picked.get(&k).cloned().unwrap_or(v);
            (k, v)
        })
        .collect();
    Value::Object(out)
}

/// The host of the tenant's issuer (`https://host/` → `host`).
fn issuer_host(issuer: &str) -> String {
    let rest = issuer.split_once("://").map_or(issuer, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// A new connection from a create request (already validated by the spine), with Auth0's
/// defaults. `enabled_clients` is not part of the body.
pub fn new_connection(
    req: &Map<String, Value>,
    issuer: &str,
    now: &str,
) -> Result<ConnectionRow, Error> {
    let name = req
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let strategy = req
        .get("strategy")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let given = req
        .get("options")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    options::validate(&strategy, &given)?;
    // Cross App Access requesting apps are federated connections; a database, passwordless or
    // social connection cannot be one (Terraform provider
    // TestAccConnectionCrossAppAccessRequestingAppNegative: a database connection).
    let requesting = req
        .get("cross_app_access_requesting_app")
        .and_then(|v| v.get("active"));
    if requesting == Some(&Value::Bool(true)) && !options::is_enterprise(&strategy) {
        return Err(Error::OperationNotSupported(
            "Cross App Access Requesting App is not supported for this connection.".into(),
        ));
    }
    let id = ids::prefixed("con", 16);
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    body.insert(
        "options".into(),
        Value::Object(options::on_create(&strategy, given, &issuer_host(issuer))),
    );
    body.insert("strategy".into(), json!(strategy));
    body.insert("name".into(), json!(name));
    if options::has_provisioning_ticket(&strategy) {
        body.insert(
            "provisioning_ticket_url".into(),
            json!(format!("{issuer}p/{strategy}/{}", ids::client_id())),
        );
    }
    body.insert("is_domain_connection".into(), json!(false));
    if options::is_enterprise(&strategy) {
        body.insert("show_as_button".into(), json!(false));
    }
    body.insert("authentication".into(), json!({"active": true}));
    body.insert("connected_accounts".into(), json!({"active": false}));
    if options::defaults_display_name(&strategy) {
        body.insert("display_name".into(), json!(name));
    }
    body.insert("realms".into(), json!([name]));
    for (k, v) in req {
        match k.as_str() {
            "name" | "strategy" | "options" | "enabled_clients" => {}
            _ if v.is_null() => {}
            _ => {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(ConnectionRow {
        id,
        name,
        strategy,
        body: Value::Object(order_keys(body, KEY_ORDER)),
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    })
}

/// The client ids of an `enabled_clients` list; each must exist.
async fn client_ids(x: &impl Exec, tenant: &str, v: &Value) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for id in v.as_array().into_iter().flatten().filter_map(Value::as_str) {
        if clients::find(x, tenant, id)
            .await
            .context("finding a client")?
            .is_none()
        {
            return Err(client_missing());
        }
        if !out.iter().any(|o| o == id) {
            out.push(id.to_owned());
        }
    }
    Ok(out)
}

/// A page of connections (checkpoint form when `from`/`take` are given), rendered and projected.
async fn list_page(
    ctx: &Ctx,
    q: &Query,
    filter: &ConnectionFilter,
    key: &str,
) -> Result<Value, Error> {
    let checkpoint = Checkpoint::from_query(q);
    let paging = Paging::from_query(q);
    let page = checkpoint
        .as_ref()
        .map_or_else(|| paging.store_page(), Checkpoint::store_page);
    let (rows, total) = connections::list(ctx.db(), ctx.tenant_id(), filter, page)
        .await
        .context("listing connections")?;
    let secrets = Secrets::load(ctx.db(), ctx.tenant_id()).await?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut enabled = connections::enabled_clients_of(ctx.db(), ctx.tenant_id(), &ids)
        .await
        .context("listing enabled clients")?;
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            let e = enabled.remove(&r.id).unwrap_or_default();
            project_connection(render(r, e, &secrets), q)
        })
        .collect();
    Ok(match checkpoint {
        Some(c) => c.reply(key, items, total),
        None => paging.reply(key, items, total),
    })
}

async fn get_connections(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    let filter = ConnectionFilter {
        strategies: q.list("strategy"),
        name: q.get("name").map(str::to_owned),
        client_id: None,
    };
    Ok(Reply::json(
        list_page(&ctx, q, &filter, "connections").await?,
    ))
}

/// `GET /clients/{id}/connections`: the connections enabled for a client, checkpoint-paged.
pub async fn get_client_connections(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    clients::find(ctx.db(), ctx.tenant_id(), id)
        .await
        .context("finding a client")?
        .ok_or_else(|| Error::not_found("inexistent_client", "The client does not exist"))?;
    let mut q = input.query.clone();
    if Checkpoint::from_query(&q).is_none() {
        q.0.push(("take".into(), "50".into()));
    }
    let filter = ConnectionFilter {
        strategies: q.list("strategy"),
        name: None,
        client_id: Some(id.to_owned()),
    };
    let mut v = list_page(&ctx, &q, &filter, "connections").await?;
    // The client's view lists connections without their enabled clients.
    if let Some(items) = v.get_mut("connections").and_then(Value::as_array_mut) {
        for c in items.iter_mut().filter_map(Value::as_object_mut) {
            c.shift_remove("enabled_clients");
        }
    }
    Ok(Reply::json(v))
}

async fn post_connections(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let now = time::now();
    let row = new_connection(&req, &ctx.tenant.issuer, &now)?;
    let tenant = ctx.tenant_id();
    let secrets = Secrets::load(ctx.db(), tenant).await?;
    let tx = ctx.db().begin().await.context("starting a transaction")?;
    let enabled = match req.get("enabled_clients") {
        Some(v) => client_ids(&tx, tenant, v).await?,
        None => Vec::new(),
    };
    if connections::find_by_name(&tx, tenant, &row.name)
        .await
        .context("finding a connection by name")?
        .is_some()
    {
        return Err(conflict());
    }
    match connections::insert(&tx, tenant, &row).await {
        Ok(()) => {}
        Err(e) if is_unique_violation(&e) => return Err(conflict()),
        Err(e) => return Err(e.context("inserting a connection").into()),
    }
    connections::replace_clients(&tx, tenant, &row.id, &enabled)
        .await
        .context("enabling clients")?;
    if keys::wants_keys(&row.strategy, row.options()) {
        keys::provision(&tx, tenant, &row, "RS256").await?;
    }
    tx.commit().await.context("committing a new connection")?;
    Ok(Reply::json(render(&row, enabled, &secrets)))
}

fn conflict() -> Error {
    Error::conflict(
        "connection_conflict",
        "A connection with the same name already exists",
    )
}

async fn get_connections_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let row = connections::find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await
        .context("finding a connection")?
        .ok_or_else(inexistent)?;
    let enabled = connections::enabled_clients(ctx.db(), ctx.tenant_id(), &row.id)
        .await
        .context("listing enabled clients")?;
    let secrets = Secrets::load(ctx.db(), ctx.tenant_id()).await?;
    Ok(Reply::json(project_connection(
        render(&row, enabled, &secrets),
        &input.query,
    )))
}

/// Applies a PATCH: top-level keys replace (`null` removes), `options` replaces the stored
/// options the way Auth0 does ([`options::on_patch`]).
fn apply_patch(row: &mut ConnectionRow, req: &Map<String, Value>) -> Result<(), Error> {
    let mut body = row.body.as_object().cloned().unwrap_or_default();
    for (k, v) in req {
        match k.as_str() {
            "id" | "name" | "strategy" | "enabled_clients" => {}
            "options" => {
                let given = v.as_object().cloned().unwrap_or_default();
                options::validate(&row.strategy, &given)?;
                let current = body.get("options").cloned().unwrap_or(Value::Null);
                let opts = options::on_patch(&row.strategy, &current, given);
                body.insert(k.clone(), Value::Object(opts));
            }
            _ if v.is_null() => {
                body.shift_remove(k);
            }
            _ => {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    row.body = Value::Object(order_keys(body, KEY_ORDER));
    Ok(())
}

async fn patch_connections_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let secrets = &Secrets::load(db, tenant).await?;
    let sent = &input.body_object();
    let (row, enabled) = atomically(|| async move {
        let mut req = sent.clone();
        let tx = db.begin().await.context("starting a transaction")?;
        let mut row = connections::find_for_update(&tx, tenant, id)
            .await
            .context("finding a connection")?
            .ok_or_else(inexistent)?;
        if let Some(o) = req.get_mut("options").and_then(Value::as_object_mut) {
            secrets.reveal(&row.id, o);
        }
        apply_patch(&mut row, &req)?;
        row.updated_at = time::now();
        connections::update(&tx, tenant, &row)
            .await
            .context("updating a connection")?;
        if let Some(v) = req.get("enabled_clients").filter(|v| !v.is_null()) {
            let ids = client_ids(&tx, tenant, v).await?;
            connections::replace_clients(&tx, tenant, &row.id, &ids)
                .await
                .context("replacing enabled clients")?;
        }
        if keys::wants_keys(&row.strategy, row.options())
            && connections::keys(&tx, tenant, &row.id)
                .await
                .context("listing connection keys")?
                .is_empty()
        {
            keys::provision(&tx, tenant, &row, "RS256").await?;
        }
        let enabled = connections::enabled_clients(&tx, tenant, &row.id)
            .await
            .context("listing enabled clients")?;
        tx.commit()
            .await
            .context("committing a connection update")?;
        Ok::<_, Error>((row.into_inner(), enabled))
    })
    .await?;
    Ok(Reply::json(render(&row, enabled, secrets)))
}

/// Deletes the connection with everything that hangs off it, its users included, in one
/// transaction: 202 with `deleted_at`, as Auth0 answers; 204 when there was nothing to delete.
async fn delete_connections_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let id = input.path("id");
    let tx = ctx.db().begin().await.context("starting a transaction")?;
    if connections::find(&tx, tenant, id)
        .await
        .context("finding a connection")?
        .is_none()
    {
        return Ok(Reply {
            status: Some(204),
            body: None,
            ..Reply::empty()
        });
    }
    users::delete_for_connection(&tx, tenant, id)
        .await
        .context("deleting the connection's users")?;
    connections::delete(&tx, tenant, id, provisioning::KINDS)
        .await
        .context("deleting a connection")?;
    tx.commit()
        .await
        .context("committing a connection deletion")?;
    Ok(Reply::with_status(202, json!({"deleted_at": time::now()})))
}

/// AD/LDAP connections are online when an AD connector is attached; this server has no AD
/// connector, so they are not. Other connections are always available: `200 OK` with no body, as
/// the spec and node-auth0's `checkStatus` (a void response, "200 OK … when the connection is
/// online, otherwise a 404") say.
async fn get_status(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let row = connections::find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await
        .context("finding a connection")?
        .ok_or_else(inexistent)?;
    if row.strategy == "ad" {
        return Err(Error::NotFound("not connected to any node".into()));
    }
    Ok(Reply {
        status: Some(200),
        body: None,
        ..Reply::empty()
    })
}

async fn get_connection_clients(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let row = connections::find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await
        .context("finding a connection")?
        .ok_or_else(inexistent)?;
    let cp = Checkpoint::from_query(&input.query).unwrap_or(Checkpoint {
        from: None,
        take: 50,
    });
    let (ids, total) =
        connections::enabled_clients_page(ctx.db(), ctx.tenant_id(), &row.id, cp.store_page())
            .await
            .context("listing enabled clients")?;
    let items = ids.into_iter().map(|c| json!({"client_id": c})).collect();
    Ok(Reply::json(cp.reply("clients", items, total)))
}

/// Enables or disables the connection for each listed client; all or nothing.
async fn patch_clients(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id, body) = (ctx.db(), ctx.tenant_id(), input.path("id"), &input.body);
    atomically(|| async move {
        let tx = db.begin().await.context("starting a transaction")?;
        // Locked, so that concurrent changes of one connection's clients apply one after another.
        let row = connections::find_for_update(&tx, tenant, id)
            .await
            .context("finding a connection")?
            .ok_or_else(inexistent)?;
        for item in body.as_array().into_iter().flatten() {
            let client_id = item
                .get("client_id")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let status = item.get("status").and_then(Value::as_bool).unwrap_or(false);
            if status
                && clients::find(&tx, tenant, client_id)
                    .await
                    .context("finding a client")?
                    .is_none()
            {
                return Err(client_missing());
            }
            connections::set_client(&tx, tenant, &row.id, client_id, status)
                .await
                .context("updating an enabled client")?;
        }
        tx.commit().await.context("committing enabled clients")?;
        Ok(())
    })
    .await?;
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_secrets() -> Secrets {
        Secrets::for_tests()
    }

    fn req(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn new_database_connection_as_auth0_shows_it() {
        let c = new_connection(
            &req(json!({"name": "db", "strategy": "auth0", "metadata": {"k": "v"}})),
            "https://t.example/",
            "now",
        )
        .unwrap();
        assert!(c.id.starts_with("con_") && c.id.len() == 20);
        let shown = render(&c, vec!["cl1".into()], &test_secrets());
        let keys: Vec<&str> = shown
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "id",
                "options",
                "strategy",
                "name",
                "is_domain_connection",
                "authentication",
                "connected_accounts",
                "enabled_clients",
                "realms",
                "metadata"
            ]
        );
        assert_eq!(shown["realms"], json!(["db"]));
        assert_eq!(shown["enabled_clients"], json!(["cl1"]));
    }

    #[test]
    fn cross_app_access_only_for_federated_connections() {
        let make = |strategy: &str| {
            new_connection(
                &req(
                    json!({"name": "x", "strategy": strategy, "cross_app_access_requesting_app": {"active": true}}),
                ),
                "https://t/",
                "now",
            )
        };
        let err = make("auth0").unwrap_err();
        assert!(matches!(err, Error::OperationNotSupported(_)));
        assert_eq!(
            err.to_string(),
            "Cross App Access Requesting App is not supported for this connection."
        );
        let c = make("oidc").unwrap();
        assert_eq!(
            c.body["cross_app_access_requesting_app"],
            json!({"active": true})
        );
    }

    #[test]
    fn enterprise_defaults() {
        let c = new_connection(
            &req(json!({"name": "az", "strategy": "waad", "options": {"client_id": "x"}})),
            "https://t.example:8443/",
            "now",
        )
        .unwrap();
        assert_eq!(c.body["show_as_button"], false);
        assert_eq!(c.body["display_name"], "az");
        assert_eq!(c.body["options"]["app_domain"], "t.example:8443");
        let url = c.body["provisioning_ticket_url"].as_str().unwrap();
        assert!(url.starts_with("https://t.example:8443/p/waad/"));
        assert_eq!(url.len(), "https://t.example:8443/p/waad/".len() + 32);
    }

    #[test]
    fn projection_keeps_what_auth0_keeps() {
        let c = new_connection(
            &req(json!({"name": "db", "strategy": "auth0"})),
            "https://t/",
            "now",
        )
        .unwrap();
        let q = Query(vec![
            ("fields".into(), "strategy,name".into()),
            ("include_fields".into(), "true".into()),
        ]);
        let v = project_connection(render(&c, vec![], &test_secrets()), &q);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "strategy",
                "name",
                "is_domain_connection",
                "authentication",
                "connected_accounts"
            ]
        );
    }

    #[test]
    fn patch_keeps_identity_and_replaces_options() {
        let mut c = new_connection(
            &req(json!({"name": "db", "strategy": "auth0", "options": {"validation": {"username": {"min": 1, "max": 5}}}})),
            "https://t/",
            "now",
        )
        .unwrap();
        apply_patch(
            &mut c,
            &req(json!({"name": "other", "options": {"passwordPolicy": "fair"}, "metadata": {"a": "b"}, "display_name": null})),
        )
        .unwrap();
        assert_eq!(c.body["name"], "db");
        assert!(c.body["options"].get("validation").is_none());
        assert_eq!(c.body["options"]["passwordPolicy"], "fair");
        assert_eq!(c.body["metadata"], json!({"a": "b"}));
        let err = apply_patch(
            &mut c,
            &req(json!({"options": {"attributes": {"email": {"identifier": {"active": false}}}}})),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "attributes must contain one active identifier"
        );
    }
}
