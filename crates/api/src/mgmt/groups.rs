//! Tag `groups` and `GET /users/{id}/groups`: the directory groups of enterprise connections.
//! Auth0 fills them from the identity provider's directory (inbound SCIM, directory sync); the
//! Management API only reads and deletes them. Here they are written by the SCIM `Groups`
//! endpoint ([`crate::scim`]).

use anyhow::Context;
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids};
use gatehouse_spec::Op;
use gatehouse_store::{
    Page, atomically,
    groups::{self, GroupFilter, GroupRow},
};

use super::common::order_keys;
use crate::spine::{
    Ctx, Input, Registry, Reply,
    page::{Checkpoint, Paging, project},
};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetGroups, get_groups);
    reg.add(Op::GetGroup, get_group);
    reg.add(Op::DeleteGroup, delete_group);
    reg.add(Op::GetGroupMembers, get_group_members);
    reg.add(Op::GetUserGroups, get_user_groups);
}

/// The order of a group's keys (that of the spec's `fields`).
const KEY_ORDER: &[&str] = &[
    "id",
    "name",
    "external_id",
    "organization_id",
    "connection_id",
    "tenant_name",
    "description",
    "created_at",
    "updated_at",
    "membership_created_at",
];

/// `grp_` and 22 base58 characters (the spec: `^grp_[1-9a-km-zA-HJ-NP-Z]{14,22}$`).
pub fn new_id() -> String {
    format!("grp_{}", ids::base58(22))
}

/// A new group's stored body, in Auth0's key order.
pub fn new_body(
    id: &str,
    name: &str,
    external_id: Option<&str>,
    connection_id: &str,
    tenant_name: &str,
    now: &str,
) -> Value {
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    body.insert("name".into(), json!(name));
    if let Some(e) = external_id {
        body.insert("external_id".into(), json!(e));
    }
    body.insert("connection_id".into(), json!(connection_id));
    body.insert("tenant_name".into(), json!(tenant_name));
    body.insert("created_at".into(), json!(now));
    body.insert("updated_at".into(), json!(now));
    Value::Object(order_keys(body, KEY_ORDER))
}

fn not_found() -> Error {
    Error::not_found("inexistent_group", "The group does not exist.")
}

fn filter(input: &Input) -> GroupFilter {
    let q = &input.query;
    GroupFilter {
        connection_id: q.get("connection_id").map(str::to_owned),
        name: q.get("name").map(str::to_owned),
        external_id: q.get("external_id").map(str::to_owned),
        search: q.get("search").map(str::to_owned),
    }
}

/// `GET /groups`: offset pages (`page`, `per_page`, `include_totals`) or, with `from`/`take`,
/// checkpoint pages; `fields` projects each group.
async fn get_groups(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let f = filter(&input);
    let shown = |rows: Vec<GroupRow>| -> Vec<Value> {
        rows.into_iter()
            .map(|g| project(g.body, &input.query))
            .collect()
    };
    if let Some(cp) = Checkpoint::from_query(&input.query) {
        let (rows, total) = groups::list(ctx.db(), ctx.tenant_id(), &f, cp.store_page())
            .await
            .context("listing groups")?;
        return Ok(Reply::json(cp.reply("groups", shown(rows), total)));
    }
    let paging = Paging::from_query(&input.query);
    let (rows, total) = groups::list(ctx.db(), ctx.tenant_id(), &f, paging.store_page())
        .await
        .context("listing groups")?;
    Ok(Reply::json(paging.reply("groups", shown(rows), total)))
}

async fn get_group(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let g = groups::find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await
        .context("finding a group")?
        .ok_or_else(not_found)?;
    Ok(Reply::json(g.body))
}

/// Deletes the group with its memberships, in one transaction.
async fn delete_group(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    atomically(|| async move {
        let tx = db.begin().await?;
        groups::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        groups::delete(&tx, tenant, id).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

/// `GET /groups/{id}/members`: checkpoint pages (`from`, `take`), `fields`. The spec documents
/// no 404 here: an unknown group has no members.
async fn get_group_members(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let id = input.path("id");
    let cp = Checkpoint::from_query(&input.query).unwrap_or(Checkpoint {
        from: None,
        take: 50,
    });
    let group = groups::find(ctx.db(), tenant, id)
        .await
        .context("finding a group")?;
    let Some(group) = group else {
        return Ok(Reply::json(cp.reply("members", Vec::new(), 0)));
    };
    let (rows, total) = groups::members(ctx.db(), tenant, id, cp.store_page())
        .await
        .context("listing group members")?;
    let items = rows
        .into_iter()
        .map(|m| {
            let v = json!({
                "id": m.member_id,
                "member_type": m.member_type,
                "type": "connection",
                "connection_id": group.connection_id,
                "created_at": m.created_at,
            });
            project(v, &input.query)
        })
        .collect();
    Ok(Reply::json(cp.reply("members", items, total)))
}

/// `GET /users/{id}/groups`: the groups the user is a member of, each with
/// `membership_created_at`; offset or checkpoint pages. An unknown user has none (the spec
/// documents no 404).
async fn get_user_groups(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let user_id = input.path("id");
    let shown = |rows: Vec<(GroupRow, String)>| -> Vec<Value> {
        rows.into_iter()
            .map(|(g, since)| {
                let mut o = g.body.as_object().cloned().unwrap_or_default();
                o.insert("membership_created_at".into(), json!(since));
                project(Value::Object(order_keys(o, KEY_ORDER)), &input.query)
            })
            .collect()
    };
    let page = |p: Page| groups::of_user(ctx.db(), tenant, user_id, p);
    if let Some(cp) = Checkpoint::from_query(&input.query) {
        let (rows, total) = page(cp.store_page())
            .await
            .context("listing a user's groups")?;
        return Ok(Reply::json(cp.reply("groups", shown(rows), total)));
    }
    let paging = Paging::from_query(&input.query);
    let (rows, total) = page(paging.store_page())
        .await
        .context("listing a user's groups")?;
    Ok(Reply::json(paging.reply("groups", shown(rows), total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_spec_pattern() {
        for _ in 0..100 {
            let id = new_id();
            let tail = id.strip_prefix("grp_").unwrap_or_default();
            assert_eq!(tail.len(), 22, "{id}");
            assert!(
                tail.bytes()
                    .all(|b| b.is_ascii_alphanumeric() && !matches!(b, b'0' | b'O' | b'I' | b'l')),
                "{id}"
            );
        }
    }

    #[test]
    fn body_in_key_order() {
        let b = new_body("grp_x", "Eng", Some("ext"), "con_1", "default", "T");
        assert_eq!(
            b.to_string(),
            r#"{"id":"grp_x","name":"Eng","external_id":"ext","connection_id":"con_1","tenant_name":"default","created_at":"T","updated_at":"T"}"#
        );
    }
}
