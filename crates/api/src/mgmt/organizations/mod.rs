//! Tag `organizations`: organizations by id and by name, with their members (and members'
//! roles), connections, client grants, invitations and discovery domains; and
//! `GET /users/{id}/organizations`.

mod connections;
pub mod cursor;
mod domains;
mod grants;
mod invitations;
mod member_roles;
mod members;

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    Page, atomically,
    db::is_unique_violation,
    organizations::{self, OrganizationRow, Sort},
};

pub(crate) use super::common::order_keys;
use crate::spine::{
    Ctx, Input, Registry, Reply,
    page::{Checkpoint, Paging},
};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetOrganizations, get_organizations);
    reg.add(Op::PostOrganizations, post_organizations);
    reg.add(Op::GetOrganizationsById, get_organizations_by_id);
    reg.add(Op::GetNameByName, get_name_by_name);
    reg.add(Op::PatchOrganizationsById, patch_organizations_by_id);
    reg.add(Op::DeleteOrganizationsById, delete_organizations_by_id);
    members::register(reg);
    connections::register(reg);
    grants::register(reg);
    invitations::register(reg);
    domains::register(reg);
}

/// The order Auth0 writes an organization's keys in.
const KEY_ORDER: &[&str] = &[
    "id",
    "name",
    "display_name",
    "branding",
    "metadata",
    "token_quota",
    "third_party_client_access",
    "is_app_entitlement_active",
];

/// Auth0's limits on `metadata`: 25 keys (the schema's `maxProperties`), keys and values of at
/// most 255 characters (values: the schema's `maxLength`).
const METADATA_KEY_MAX: usize = 255;

/// Auth0's 404 of an organization (recorded without an errorCode).
pub(crate) fn not_found() -> Error {
    Error::NotFound("No organization found by that id or name".into())
}

fn conflict() -> Error {
    Error::conflict(
        "organization_conflict",
        "An organization with the same name already exists",
    )
}

/// An organization's `name`: 1–50 characters of `[a-z0-9_-]` (Auth0's `organization-name`).
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=50).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn check_name(req: &Map<String, Value>) -> Result<(), Error> {
    if let Some(Value::String(name)) = req.get("name")
        && !valid_name(name)
    {
        return Err(Error::bad_body(format!(
            "Payload validation error: 'Object didn't pass validation for format organization-name: {name}' on property name (The name of this organization)."
        )));
    }
    Ok(())
}

/// `metadata` as stored: `null` values dropped, keys checked against Auth0's limit.
fn metadata(v: &Value) -> Result<Map<String, Value>, Error> {
    let mut out = Map::new();
    if let Value::Object(m) = v {
        for (k, val) in m {
            if k.chars().count() > METADATA_KEY_MAX {
                return Err(Error::bad_body(format!(
                    "Payload validation error: 'String is too long ({} chars), maximum {METADATA_KEY_MAX}' on property metadata (Metadata associated with the organization).",
                    k.chars().count()
                )));
            }
            if !val.is_null() {
                out.insert(k.clone(), val.clone());
            }
        }
    }
    Ok(out)
}

fn token_quota(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(Value::Object(cc)) = v.get_mut("client_credentials") {
        *cc = order_keys(std::mem::take(cc), &["per_hour", "per_day", "enforce"]);
    }
    v
}

/// Applies the organization properties of a create or update request to a body. `metadata`
/// replaces the stored one (an empty one removes it), as Auth0 does.
fn apply(body: &mut Map<String, Value>, req: &Map<String, Value>) -> Result<(), Error> {
    for (k, v) in req {
        match (k.as_str(), v) {
            ("enabled_connections", _) => {}
            (_, Value::Null) => {
                body.remove(k);
            }
            ("metadata", v) => {
                let m = metadata(v)?;
                if m.is_empty() {
                    body.remove(k);
                } else {
                    body.insert(k.clone(), Value::Object(m));
                }
            }
            ("token_quota", v) => {
                body.insert(k.clone(), token_quota(v));
            }
            _ => {
                body.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

/// A stored body as the API shows it, in Auth0's key order.
pub(crate) fn shown(body: Value) -> Value {
    match body {
        Value::Object(o) => Value::Object(order_keys(o, KEY_ORDER)),
        other => other,
    }
}

/// The organization the path names, by id.
pub(crate) async fn find(ctx: &Ctx, id: &str) -> Result<OrganizationRow, Error> {
    organizations::find(ctx.db(), ctx.tenant_id(), id)
        .await?
        .ok_or_else(not_found)
}

fn sort(q: &crate::spine::Query) -> Sort {
    // The spec's pattern admits only `name`, `display_name` and `created_at`, each `:1` or `:-1`.
    let Some((field, dir)) = q.get("sort").and_then(|s| s.split_once(':')) else {
        return Sort::default();
    };
    let column = match field {
        "name" => "name",
        "display_name" => "display_name",
        "created_at" => "created_at",
        _ => return Sort::default(),
    };
    Sort {
        column,
        ascending: dir != "-1",
    }
}

async fn get_organizations(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    if let Some(cp) = Checkpoint::from_query(&input.query) {
        let after = cursor::decode_seq(cp.from.as_deref())?;
        let rows = organizations::list_after(
            db,
            tenant,
            after.as_ref().map(|(s, i)| (*s, i.as_str())),
            cp.take,
        )
        .await?;
        let next = rows.last().map(|o| cursor::encode_seq(o.seq, &o.id));
        let items = rows.into_iter().map(|o| shown(o.body)).collect();
        return Ok(Reply::json(cursor::reply("organizations", items, next)));
    }
    let paging = Paging::from_query(&input.query);
    let (rows, total) =
        organizations::list(db, tenant, sort(&input.query), paging.store_page()).await?;
    let items = rows.into_iter().map(|o| shown(o.body)).collect();
    Ok(Reply::json(paging.reply("organizations", items, total)))
}

async fn post_organizations(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    check_name(&req)?;
    let name = req
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let id = ids::prefixed("org", 16);
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    apply(&mut body, &req)?;
    // What the newest recordings show on every organization unless set.
    body.entry("third_party_client_access")
        .or_insert(json!("block"));
    body.entry("is_app_entitlement_active")
        .or_insert(json!(false));
    let body = order_keys(body, KEY_ORDER);
    let enabled = connections::requested_on_create(&req)?;
    let now = time::now();
    let row = OrganizationRow {
        id,
        name,
        body: Value::Object(body),
        seq: 0,
        created_at: now.clone(),
        updated_at: now,
    };
    let (db, tenant, ctx) = (ctx.db(), ctx.tenant_id(), &ctx);
    let (row, shown_connections) = (&row, &enabled);
    let created = atomically(|| async move {
        let tx = db.begin().await?;
        if organizations::find_by_name(&tx, tenant, &row.name)
            .await?
            .is_some()
        {
            return Err(conflict());
        }
        match organizations::insert(&tx, tenant, row).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => return Err(conflict()),
            Err(e) => return Err(e.into()),
        }
        let added = connections::add_on_create(&tx, tenant, &row.id, shown_connections).await?;
        let event = crate::events::organization(&row.body);
        crate::events::emit(ctx, &tx, "organization.created", event).await?;
        tx.commit().await?;
        Ok(added)
    })
    .await?;
    let mut out = row.body.clone();
    if !created.is_empty()
        && let Value::Object(o) = &mut out
    {
        o.insert("enabled_connections".into(), Value::Array(created));
    }
    Ok(Reply::json(out))
}

async fn get_organizations_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let o = find(&ctx, input.path("id")).await?;
    Ok(Reply::json(shown(o.body)))
}

async fn get_name_by_name(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let o = organizations::find_by_name(ctx.db(), ctx.tenant_id(), input.path("name"))
        .await?
        .ok_or_else(not_found)?;
    Ok(Reply::json(shown(o.body)))
}

async fn patch_organizations_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    check_name(&req)?;
    let (db, tenant, id, req) = (ctx.db(), ctx.tenant_id(), input.path("id"), &req);
    let ctx = &ctx;
    let o = atomically(|| async move {
        let tx = db.begin().await?;
        let mut o = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        let mut body = o.body.as_object().cloned().unwrap_or_default();
        apply(&mut body, req)?;
        if let Some(Value::String(name)) = req.get("name")
            && *name != o.name
        {
            if organizations::find_by_name(&tx, tenant, name)
                .await?
                .is_some()
            {
                return Err(conflict());
            }
            o.name = name.clone();
        }
        o.body = Value::Object(order_keys(body, KEY_ORDER));
        o.updated_at = time::now();
        match organizations::update(&tx, tenant, &o).await {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(conflict()),
            Err(e) => return Err(e.into()),
        }
        let event = crate::events::organization(&o.body);
        crate::events::emit(ctx, &tx, "organization.updated", event).await?;
        tx.commit().await?;
        Ok(o.into_inner())
    })
    .await?;
    Ok(Reply::json(o.body))
}

async fn delete_organizations_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id, ctx) = (ctx.db(), ctx.tenant_id(), input.path("id"), &ctx);
    atomically(|| async move {
        let tx = db.begin().await?;
        let gone = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        // Members, their roles here, connections, grant associations, invitations and domains
        // go with it, in this one transaction.
        organizations::delete(&tx, tenant, id).await?;
        let event = crate::events::organization(&gone.body);
        crate::events::emit(ctx, &tx, "organization.deleted", event).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

/// An offset page for lists that only take `page`/`per_page`/`include_totals`.
pub(crate) fn offset(input: &Input) -> (Paging, Page) {
    let p = Paging::from_query(&input.query);
    (p, p.store_page())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "acme", "org-1", "x_y", "0start", &"a".repeat(50)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "Acme", "a b", "a.b", "é", &"a".repeat(51), "org/1"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn metadata_replaces_and_empty_removes() {
        let mut b = Map::new();
        apply(
            &mut b,
            json!({"metadata": {"a": "1", "b": null}})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(Value::Object(b.clone()), json!({"metadata": {"a": "1"}}));
        apply(&mut b, json!({"metadata": {"c": "3"}}).as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(b.clone()), json!({"metadata": {"c": "3"}}));
        apply(&mut b, json!({"metadata": {}}).as_object().unwrap()).unwrap();
        assert_eq!(Value::Object(b), json!({}));
        let long = "k".repeat(256);
        let mut b = Map::new();
        let e = apply(
            &mut b,
            json!({"metadata": {long: "v"}}).as_object().unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
    }

    #[test]
    fn token_quota_in_auth0_order() {
        let v = token_quota(
            &json!({"client_credentials": {"enforce": true, "per_day": 2, "per_hour": 1}}),
        );
        assert_eq!(
            v.to_string(),
            r#"{"client_credentials":{"per_hour":1,"per_day":2,"enforce":true}}"#
        );
    }
}
