//! Tags `rules` and `rules-configs`: rules are stored, listed and ordered as Auth0 keeps them
//! (a name and an `order` each held by one rule of the tenant; a new rule without an order
//! comes after the others). Gatehouse does not run rule code: rules are Auth0's deprecated
//! extensibility, and the engine that runs customer code is Actions'. Rules-configs are
//! key/value pairs whose values are written and never listed.

use std::cmp::Ordering;

use serde_json::{Value, json};

use gatehouse_core::{Error, ids};
use gatehouse_spec::Op;
use gatehouse_store::docs;

use super::collection::{COLLECTION, Collection, Listing, Unique, name_of};
use crate::spine::{Ctx, Input, Query, Registry, Reply};

pub static RULES: Collection = Collection {
    kind: "rule",
    new_id: rule_id,
    list: Some(Op::GetRules),
    create: Some(Op::PostRules),
    get: Some(Op::GetRulesById),
    patch: Some(Op::PatchRulesById),
    delete: Some(Op::DeleteRulesById),
    listing: Listing::Offset,
    list_key: "rules",
    filter: Some(enabled_filter),
    sort: Some(by_order),
    created: Some(new_rule),
    assign: Some(next_order),
    timestamps: false,
    order: &["id", "enabled", "script", "name", "order", "stage"],
    unique: &[
        Unique {
            name: "name",
            of: name_of,
            taken: name_taken,
        },
        Unique {
            name: "order",
            of: order_of,
            taken: order_taken,
        },
    ],
    missing: no_rule,
    delete_missing_ok: true,
    ..COLLECTION
};

pub fn register(reg: &mut Registry) {
    RULES.register(reg);
    reg.add(Op::GetRulesConfigs, list_configs);
    reg.add(Op::PutRulesConfigsByKey, put_config);
    reg.add(Op::DeleteRulesConfigsByKey, delete_config);
}

fn rule_id() -> String {
    ids::prefixed("rul", 16)
}

fn new_rule() -> Value {
    json!({"enabled": true, "stage": "login_success"})
}

fn no_rule() -> Error {
    Error::not_found("inexistent_rule", "The rule does not exist")
}

fn order_of(v: &Value) -> Option<String> {
    v.get("order")
        .and_then(Value::as_i64)
        .map(|n| n.to_string())
}

fn name_taken(_: &Value) -> Error {
    Error::conflict("rule_conflict", "A rule with the same name already exists")
}

fn order_taken(_: &Value) -> Error {
    Error::conflict("rule_conflict", "A rule with the same order already exists")
}

/// A new rule without an `order` comes after every other rule.
fn next_order(rule: &mut Value, others: &[Value]) {
    if rule.get("order").is_some_and(|o| !o.is_null()) {
        return;
    }
    let last = others
        .iter()
        .filter_map(|r| r.get("order").and_then(Value::as_i64))
        .max()
        .unwrap_or(0);
    if let Value::Object(o) = rule {
        o.insert("order".into(), json!(last + 1));
    }
}

fn enabled_filter(rule: &Value, q: &Query) -> bool {
    q.bool("enabled")
        .is_none_or(|want| rule.get("enabled").and_then(Value::as_bool) == Some(want))
}

fn by_order(a: &Value, b: &Value) -> Ordering {
    let key = |v: &Value| v.get("order").and_then(Value::as_i64).unwrap_or(i64::MAX);
    key(a).cmp(&key(b))
}

const CONFIG: &str = "rules_config";

/// Every key, in the order they were first written; values are never shown.
async fn list_configs(ctx: Ctx, _: Input) -> Result<Reply, Error> {
    let (all, _) = docs::list(
        ctx.db(),
        ctx.tenant_id(),
        CONFIG,
        gatehouse_store::Page::ALL,
    )
    .await?;
    let keys = all
        .iter()
        .filter_map(|v| v.get("key").cloned())
        .map(|k| json!({ "key": k }))
        .collect();
    Ok(Reply::json(Value::Array(keys)))
}

/// Sets a key's value (one atomic upsert); answers the key and the value written.
async fn put_config(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let key = input.path("key");
    let value = input.body.get("value").cloned().unwrap_or(Value::Null);
    let doc = json!({ "key": key, "value": value });
    docs::put(
        ctx.db(),
        ctx.tenant_id(),
        CONFIG,
        key,
        &doc,
        &gatehouse_core::time::now(),
    )
    .await?;
    Ok(Reply::json(doc))
}

/// Removes a key; removing one that is not there is no error.
async fn delete_config(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    docs::delete(ctx.db(), ctx.tenant_id(), CONFIG, input.path("key")).await?;
    Ok(Reply::empty())
}
