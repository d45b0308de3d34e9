//! Tag `network-acls`: the tenant's network access control lists, kept as Auth0 keeps them
//! (`acl_` + 22 base58 ids; POST answers 201 with the object; a read by id adds `tenant_id`
//! and `deleted_at: null`; DELETE answers 200 `{"code":204,"object":""}`, as recorded) and
//! enforced on every request by [`crate::acl`].
//!
//! A rule is checked beyond the spec's schema: exactly one action, `redirect` with a
//! `redirect_uri` (recorded wording), a `match` and/or a `not_match` with at least one signal,
//! IP lists of addresses or CIDR blocks, host names, Auth0's curated list names (recorded
//! wording). Two ACLs of a tenant never share a priority (409; Auth0's wording for it is not
//! recorded), so the order of evaluation is never ambiguous.

use serde_json::{Value, json};

use gatehouse_core::{Error, ids};
use gatehouse_spec::Op;

use super::collection::{COLLECTION, Collection, Listing, Unique};
use crate::{
    acl,
    spine::{Ctx, Input, Registry, Reply, page::project},
};

pub static NETWORK_ACLS: Collection = Collection {
    kind: acl::KIND,
    new_id: acl_id,
    list: Some(Op::GetNetworkAcls),
    create: Some(Op::PostNetworkAcls),
    get: Some(Op::GetNetworkAclsById),
    patch: Some(Op::PatchNetworkAclsById),
    put: Some(Op::PutNetworkAclsById),
    delete: Some(Op::DeleteNetworkAclsById),
    listing: Listing::Offset,
    list_key: "network_acls",
    created: Some(new_acl),
    check: Some(check),
    order: &[
        "description",
        "active",
        "priority",
        "rule",
        "created_at",
        "updated_at",
        "id",
    ],
    unique: &[Unique {
        name: "priority",
        of: priority_of,
        taken: priority_taken,
    }],
    missing: no_acl,
    valid_id: Some(valid_id),
    written: Some(written),
    ..COLLECTION
};

pub fn register(reg: &mut Registry) {
    NETWORK_ACLS.register(reg);
    reg.add(Op::GetNetworkAclsById, get_acl);
    reg.add(Op::DeleteNetworkAclsById, delete_acl);
}

/// The curated lists Auth0's API accepts in `auth0_managed` (recorded:
/// TestAccNetworkACLAuth0ManagedAPIRejections).
const CURATED: &[&str] = &["auth0.low_reputation", "auth0.icloud_relay_proxy"];

const BASE58: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn acl_id() -> String {
    format!("acl_{}", ids::base58(22))
}

/// Recorded (TestAccNetworkACLDataSource).
fn valid_id(id: &str) -> Result<(), Error> {
    let ok = id
        .strip_prefix("acl_")
        .is_some_and(|rest| rest.len() == 22 && rest.chars().all(|c| BASE58.contains(c)));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidUri(
            "Network ACL id is not a valid ACL ID in the form 'acl_XXXXXXXXXXXXXXXXXXXXXX'".into(),
        ))
    }
}

/// Recorded by go-auth0 (2025), without an errorCode.
fn no_acl() -> Error {
    Error::NotFound("NetworkACL with this ID was not found".into())
}

/// The spec's default priority.
fn new_acl() -> Value {
    json!({"priority": 50})
}

fn written(ctx: &Ctx) {
    ctx.state.network_acls.invalidate(ctx.tenant_id());
}

fn priority_of(v: &Value) -> Option<String> {
    v.get("priority")
        .and_then(Value::as_f64)
        .map(|p| p.to_string())
}

/// Not recorded: Auth0 documents no error for two ACLs of one priority.
fn priority_taken(v: &Value) -> Error {
    Error::conflict(
        "network_acl_conflict",
        format!(
            "A network ACL with priority {} already exists",
            priority_of(v).unwrap_or_default()
        ),
    )
}

/// The read by id shows the tenant and `deleted_at` too (recorded).
async fn get_acl(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let obj = NETWORK_ACLS.load(&ctx, input.path("id")).await?;
    let mut shown = json!({"tenant_id": ctx.tenant_id()});
    if let (Value::Object(out), Value::Object(o)) = (&mut shown, NETWORK_ACLS.shown(obj)) {
        for (k, v) in o {
            let id = k == "id";
            if id {
                out.insert("deleted_at".into(), Value::Null);
            }
            out.insert(k, v);
        }
    }
    Ok(Reply::json(project(shown, &input.query)))
}

/// Recorded: 200 `{"code":204,"object":""}`.
async fn delete_acl(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    NETWORK_ACLS.remove(&ctx, input.path("id")).await?;
    Ok(Reply::json(json!({"code": 204, "object": ""})))
}

fn invalid(message: impl Into<String>) -> Error {
    Error::bad_body(message.into())
}

/// Checks the rule of an ACL about to be stored (the spec's schema has checked types, enums,
/// list lengths and duplicates).
fn check(acl: &mut Value, _before: Option<&Value>) -> Result<(), Error> {
    let Some(rule) = acl.get("rule") else {
        return Err(invalid(
            "Payload validation error: 'Missing required property: rule'.",
        ));
    };
    check_action(rule.get("action").unwrap_or(&Value::Null))?;
    if rule.get("match").is_none() && rule.get("not_match").is_none() {
        return Err(invalid(
            "Payload validation error: 'Data does not match any schemas from 'anyOf'' on property rule.",
        ));
    }
    for cond in ["match", "not_match"] {
        if let Some(c) = rule.get(cond) {
            check_condition(cond, c)?;
        }
    }
    Ok(())
}

fn check_action(action: &Value) -> Result<(), Error> {
    let on = |k: &str| action.get(k).and_then(Value::as_bool) == Some(true);
    let n = ["block", "allow", "log", "redirect"]
        .iter()
        .filter(|k| on(k))
        .count();
    if on("redirect") && action.get("redirect_uri").is_none() {
        return Err(invalid(
            "Payload validation error: Action type of `redirect` requires a `redirect_uri`",
        ));
    }
    if n != 1 || (!on("redirect") && action.get("redirect_uri").is_some()) {
        return Err(invalid(
            "Payload validation error: 'Data does not match any schemas from 'oneOf'' on property rule.action.",
        ));
    }
    Ok(())
}

fn check_condition(cond: &str, c: &Value) -> Result<(), Error> {
    let Some(o) = c.as_object() else {
        return Ok(());
    };
    if o.is_empty() {
        return Err(invalid(format!(
            "Payload validation error: 'Too few properties defined, minimum 1' on property rule.{cond}."
        )));
    }
    if let Some(names) = o.get("auth0_managed").and_then(Value::as_array) {
        let unknown: Vec<&str> = names
            .iter()
            .filter_map(Value::as_str)
            .filter(|n| !CURATED.contains(n))
            .collect();
        if !unknown.is_empty() {
            return Err(invalid(format!(
                "Invalid curated list name(s): {}. Allowed curated list names are: {}",
                unknown.join(", "),
                CURATED.join(", ")
            )));
        }
    }
    for (key, valid) in [
        ("ipv4_cidrs", is_v4 as fn(&str) -> bool),
        ("connecting_ipv4_cidrs", is_v4),
        ("ipv6_cidrs", is_v6),
        ("connecting_ipv6_cidrs", is_v6),
        ("hostnames", is_hostname),
    ] {
        let Some(items) = o.get(key).and_then(Value::as_array) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let s = item.as_str().unwrap_or_default();
            if !valid(s) {
                let what = if key == "hostnames" {
                    format!("Object didn't pass validation for format hostname: {s}")
                } else {
                    "Data does not match any schemas from 'oneOf'".to_owned()
                };
                return Err(invalid(format!(
                    "Payload validation error: '{what}' on property rule.{cond}.{key}[{i}]."
                )));
            }
        }
    }
    Ok(())
}

fn is_v4(s: &str) -> bool {
    acl::parse_v4(s).is_some()
}

fn is_v6(s: &str) -> bool {
    acl::parse_v6(s).is_some()
}

/// A DNS host name (RFC 1123): dot-separated labels of letters, digits and inner hyphens.
fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(r: Value) -> Result<(), Error> {
        check(&mut json!({"rule": r}), None)
    }

    #[test]
    fn ids() {
        assert!(valid_id(&acl_id()).is_ok());
        assert!(valid_id("acl_og5stNekT7J3mRCbWCsmZT").is_ok());
        for bad in [
            "acl_invalid_id",
            "acl_og5stNekT7J3mRCbWCsmZ0",
            "acl_og5stNekT7J3mRCbWCsmZTx",
            "og5stNekT7J3mRCbWCsmZTabcd",
        ] {
            assert_eq!(valid_id(bad).unwrap_err().status().as_u16(), 400, "{bad}");
        }
    }

    #[test]
    fn rules() {
        let m = json!({"ipv4_cidrs": ["10.0.0.1", "10.0.0.0/8"], "hostnames": ["a.example.com"]});
        assert!(rule(json!({"scope": "tenant", "action": {"block": true}, "match": m})).is_ok());
        let e =
            rule(json!({"scope": "tenant", "action": {"redirect": true}, "match": m})).unwrap_err();
        assert!(e.public_message().contains("requires a `redirect_uri`"));
        assert!(
            rule(json!({"scope": "tenant", "action": {"block": true, "allow": true}, "match": m}))
                .is_err()
        );
        assert!(rule(json!({"scope": "tenant", "action": {}, "match": m})).is_err());
        assert!(rule(json!({"scope": "tenant", "action": {"block": true}})).is_err());
        assert!(rule(json!({"scope": "tenant", "action": {"block": true}, "match": {}})).is_err());
        for bad in [
            json!({"ipv4_cidrs": ["10.0.0.0/40"]}),
            json!({"ipv6_cidrs": ["10.0.0.1"]}),
            json!({"hostnames": ["not a host"]}),
        ] {
            assert!(
                rule(json!({"scope": "tenant", "action": {"block": true}, "not_match": bad}))
                    .is_err()
            );
        }
        let e = rule(json!({"scope": "tenant", "action": {"log": true}, "match": {"auth0_managed": ["auth0.low_reputation", "auth0.x"]}}))
            .unwrap_err();
        assert_eq!(
            e.public_message(),
            "Invalid curated list name(s): auth0.x. Allowed curated list names are: auth0.low_reputation, auth0.icloud_relay_proxy"
        );
    }
}
