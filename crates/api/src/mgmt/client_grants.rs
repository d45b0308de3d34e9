//! Tag `client-grants`: which client may get tokens for which API, with which scopes.

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    atomically,
    client_grants::{self, ClientGrantRow, GrantFilter},
    clients,
    db::is_unique_violation,
    organizations, resource_servers,
};

use super::common::order_keys;
use crate::spine::{
    Ctx, Input, Query, Registry, Reply,
    page::{Checkpoint, Paging},
};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetClientGrants, get_client_grants);
    reg.add(Op::PostClientGrants, post_client_grants);
    reg.add(Op::GetClientGrant, get_client_grant);
    reg.add(Op::PatchClientGrantsById, patch_client_grants_by_id);
    reg.add(Op::DeleteClientGrantsById, delete_client_grants_by_id);
    reg.add(
        Op::GetClientGrantOrganizations,
        get_client_grant_organizations,
    );
}

/// The order Auth0 writes a grant's keys in.
const KEY_ORDER: &[&str] = &[
    "id",
    "client_id",
    "audience",
    "scope",
    "organization_usage",
    "allow_any_organization",
    "is_system",
    "subject_type",
    "authorization_details_types",
    "default_for",
    "allow_all_scopes",
];

fn not_found(message: &'static str) -> Error {
    Error::not_found("inexistent_client_grant", message)
}

fn conflict() -> Error {
    Error::conflict(
        "client_grant_conflict",
        "A client grant for this client and audience already exists",
    )
}

/// The body in Auth0's key order; a grant that allows all scopes lists none.
fn canonical(mut obj: Map<String, Value>) -> Map<String, Value> {
    if obj.get("allow_all_scopes") == Some(&Value::Bool(true)) {
        obj.remove("scope");
    }
    order_keys(obj, KEY_ORDER)
}

/// A stored body as the API shows it, in Auth0's key order (bodies stored before a key was
/// added to the order, or written by other code, are put in order on the way out).
pub(crate) fn shown(body: Value) -> Value {
    match body {
        Value::Object(o) => Value::Object(canonical(o)),
        other => other,
    }
}

/// A new grant's body from a create request: only `subject_type` is defaulted.
fn new_body(id: &str, req: &Map<String, Value>) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    for (k, v) in req {
        if !v.is_null() {
            body.insert(k.clone(), v.clone());
        }
    }
    body.entry("subject_type").or_insert(json!("client"));
    canonical(body)
}

/// Applies a PATCH: top-level keys replace, `null` removes.
fn patched(current: &Value, req: &Map<String, Value>) -> Map<String, Value> {
    let mut body = current.as_object().cloned().unwrap_or_default();
    for (k, v) in req {
        if v.is_null() {
            body.remove(k);
        } else {
            body.insert(k.clone(), v.clone());
        }
    }
    canonical(body)
}

fn is_system(g: &ClientGrantRow) -> bool {
    g.body.get("is_system").and_then(Value::as_bool) == Some(true)
}

fn filter(q: &Query) -> GrantFilter {
    GrantFilter {
        audience: q.get("audience").map(str::to_owned),
        client_id: q.get("client_id").map(str::to_owned),
        subject_type: q.get("subject_type").map(str::to_owned),
        default_for: q.get("default_for").map(str::to_owned),
        allow_any_organization: q.bool("allow_any_organization"),
    }
}

async fn get_client_grants(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let f = filter(&input.query);
    // With `take`, the checkpoint form wins over `per_page` / `include_totals`.
    if let Some(cp) = Checkpoint::from_query(&input.query) {
        let (rows, total) =
            client_grants::list(ctx.db(), ctx.tenant_id(), &f, cp.store_page()).await?;
        let items = rows.into_iter().map(|g| shown(g.body)).collect();
        return Ok(Reply::json(cp.reply("client_grants", items, total)));
    }
    let paging = Paging::from_query(&input.query);
    let (rows, total) =
        client_grants::list(ctx.db(), ctx.tenant_id(), &f, paging.store_page()).await?;
    let items = rows.into_iter().map(|g| shown(g.body)).collect();
    Ok(Reply::json(paging.reply("client_grants", items, total)))
}

async fn post_client_grants(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let audience = req
        .get("audience")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let client_id = req
        .get("client_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let default_for = req.get("default_for").and_then(Value::as_str);
    match (&client_id, default_for) {
        (Some(_), Some(_)) => {
            return Err(Error::bad_body(
                "Payload validation error: 'client_id and default_for are mutually exclusive'.",
            ));
        }
        (None, None) => {
            return Err(Error::bad_body(
                "Payload validation error: 'Missing required property: client_id'.",
            ));
        }
        _ => {}
    }
    let Some(api) = resource_servers::find_by_identifier(db, tenant, &audience).await? else {
        return Err(Error::not_found(
            "inexistent_resource_server",
            format!("No resource with identifier {audience}"),
        ));
    };
    if let Some(cid) = &client_id {
        let client = clients::find(db, tenant, cid)
            .await?
            .ok_or_else(|| Error::not_found("inexistent_client", "Client not found"))?;
        if !client.is_first_party
            && api.is_system
            && api.identifier == ctx.tenant.management_audience()
        {
            return Err(Error::bad_body(
                "Client grants for this API cannot be created for third-party clients",
            ));
        }
    }
    // A default grant has no client; its row's client column is empty.
    let client_key = client_id.clone().unwrap_or_default();
    if client_grants::find_pair(db, tenant, &client_key, &audience)
        .await?
        .is_some()
    {
        return Err(conflict());
    }
    let id = ids::prefixed("cgr", 16);
    let now = time::now();
    let row = ClientGrantRow {
        body: Value::Object(new_body(&id, &req)),
        id,
        client_id: client_key,
        audience,
        created_at: now.clone(),
        updated_at: now,
    };
    match client_grants::insert(db, tenant, &row).await {
        Ok(()) => Ok(Reply::json(row.body)),
        Err(e) if is_unique_violation(&e) => Err(conflict()),
        Err(e) => Err(e.into()),
    }
}

async fn get_client_grant(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let g = client_grants::find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?
        .ok_or_else(|| not_found("The grant does not exist"))?;
    Ok(Reply::json(shown(g.body)))
}

async fn patch_client_grants_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let req = &input.body_object();
    let g = atomically(|| async move {
        let tx = db.begin().await?;
        let mut g = client_grants::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(|| not_found("The client grant does not exist"))?;
        if is_system(&g) {
            return Err(Error::OperationNotSupported(
                "System client grants cannot be modified".into(),
            ));
        }
        g.body = Value::Object(patched(&g.body, req));
        g.updated_at = time::now();
        client_grants::update(&tx, tenant, &g).await?;
        tx.commit().await?;
        Ok(g.into_inner())
    })
    .await?;
    Ok(Reply::json(g.body))
}

async fn delete_client_grants_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    // Deleting a grant that does not exist answers 204, as recorded (TestAccClientGrant#85).
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    atomically(|| async move {
        let tx = db.begin().await?;
        if let Some(g) = client_grants::find_for_update(&tx, tenant, id).await? {
            if is_system(&g) {
                return Err(Error::OperationNotSupported(
                    "System client grants cannot be deleted".into(),
                ));
            }
            // The grant and its associations with organizations go together.
            client_grants::delete(&tx, tenant, &g.id).await?;
        }
        tx.commit().await?;
        Ok(())
    })
    .await?;
    Ok(Reply::empty())
}

/// The organizations a grant is associated with, in the envelope the query asks for.
async fn get_client_grant_organizations(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    client_grants::find(db, tenant, id)
        .await?
        .ok_or_else(|| not_found("The client grant does not exist"))?;
    if let Some(cp) = Checkpoint::from_query(&input.query) {
        let after = super::organizations::cursor::decode_seq(cp.from.as_deref())?;
        let rows = organizations::of_grant_after(
            db,
            tenant,
            id,
            after.as_ref().map(|(s, i)| (*s, i.as_str())),
            cp.take,
        )
        .await?;
        let next = rows
            .last()
            .map(|o| super::organizations::cursor::encode_seq(o.seq, &o.id));
        let items = rows
            .into_iter()
            .map(|o| super::organizations::shown(o.body))
            .collect();
        return Ok(Reply::json(super::organizations::cursor::reply(
            "organizations",
            items,
            next,
        )));
    }
    let paging = Paging::from_query(&input.query);
    let (rows, total) = organizations::of_grant(db, tenant, id, paging.store_page()).await?;
    let items = rows
        .into_iter()
        .map(|o| super::organizations::shown(o.body))
        .collect();
    Ok(Reply::json(paging.reply("organizations", items, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_defaults_subject_type_and_orders_keys() {
        let req = json!({"audience": "https://a", "scope": [], "allow_any_organization": true, "organization_usage": "allow", "client_id": "c"});
        let b = new_body("cgr_1", req.as_object().unwrap());
        assert_eq!(
            Value::Object(b).to_string(),
            r#"{"id":"cgr_1","client_id":"c","audience":"https://a","scope":[],"organization_usage":"allow","allow_any_organization":true,"subject_type":"client"}"#
        );
    }

    #[test]
    fn allow_all_scopes_hides_scope() {
        let cur = json!({"id": "g", "client_id": "c", "audience": "a", "scope": ["x"], "subject_type": "user"});
        let b = patched(&cur, json!({"allow_all_scopes": true}).as_object().unwrap());
        assert_eq!(
            Value::Object(b.clone()).to_string(),
            r#"{"id":"g","client_id":"c","audience":"a","subject_type":"user","allow_all_scopes":true}"#
        );
        let b = patched(
            &Value::Object(b),
            json!({"allow_all_scopes": false, "scope": []})
                .as_object()
                .unwrap(),
        );
        assert_eq!(b["scope"], json!([]));
        assert_eq!(b["allow_all_scopes"], json!(false));
        let b = patched(
            &Value::Object(b),
            json!({"allow_all_scopes": null, "organization_usage": null})
                .as_object()
                .unwrap(),
        );
        assert!(!b.contains_key("allow_all_scopes"));
    }
}
