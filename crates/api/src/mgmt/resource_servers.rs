//! Tag `resource-servers`: APIs.

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    atomically,
    db::is_unique_violation,
    resource_servers::{self, ResourceServerRow},
    roles,
};

use super::common::order_keys;
use crate::spine::{
    Ctx, Input, Registry, Reply,
    page::{Paging, project},
};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetResourceServers, get_resource_servers);
    reg.add(Op::PostResourceServers, post_resource_servers);
    reg.add(Op::GetResourceServersById, get_resource_servers_by_id);
    reg.add(Op::PatchResourceServersById, patch_resource_servers_by_id);
    reg.add(Op::DeleteResourceServersById, delete_resource_servers_by_id);
}

/// The order Auth0 writes a resource server's keys in; others follow in the order they came.
const KEY_ORDER: &[&str] = &[
    "id",
    "name",
    "identifier",
    "allow_offline_access",
    "skip_consent_for_verifiable_first_party_clients",
    "allow_online_access",
    "allow_online_access_with_ephemeral_sessions",
    "subject_type_authorization",
    "token_lifetime",
    "token_lifetime_for_web",
    "signing_alg",
    "signing_secret",
    "scopes",
    "client_id",
    "enforce_policies",
    "is_system",
    "token_dialect",
    "token_encryption",
    "consent_policy",
    "authorization_details",
    "proof_of_possession",
    "authorization_policy",
];

const ENCRYPTION_KEY_ORDER: &[&str] = &["name", "alg", "kid", "thumbprint_sha256"];

/// Keys of the Management API itself a PATCH may change (as the Terraform provider does).
const SYSTEM_PATCHABLE: &[&str] = &[
    "token_lifetime",
    "skip_consent_for_verifiable_first_party_clients",
    "subject_type_authorization",
];

fn not_found() -> Error {
    Error::not_found(
        "inexistent_resource_server",
        "The resource server does not exist",
    )
}

fn conflict() -> Error {
    Error::conflict(
        "resource_server_conflict",
        "A resource server with the same identifier already exists",
    )
}

fn canonical(obj: Map<String, Value>) -> Map<String, Value> {
    let mut obj = order_keys(obj, KEY_ORDER);
    if let Some(Value::Object(te)) = obj.get_mut("token_encryption") {
        *te = order_keys(std::mem::take(te), &["encryption_key", "format"]);
        if let Some(Value::Object(key)) = te.get_mut("encryption_key") {
            *key = order_keys(std::mem::take(key), ENCRYPTION_KEY_ORDER);
        }
    }
    obj
}

/// A stored body as the API shows it, in Auth0's key order (bodies stored before a key was
/// added to the order, or written by other code, are put in order on the way out).
fn shown(body: Value) -> Value {
    match body {
        Value::Object(o) => Value::Object(canonical(o)),
        other => other,
    }
}

fn default_subject_type_authorization() -> Map<String, Value> {
    let v = json!({"client": {"policy": "require_client_grant"}, "user": {"policy": "allow_all"}});
    v.as_object().cloned().unwrap_or_default()
}

/// `base` with each subject type `req` names replaced; the order of `base` is kept.
fn merge_subject_types(mut base: Map<String, Value>, req: &Value) -> Map<String, Value> {
    if let Value::Object(req) = req {
        for (k, v) in req {
            if v.is_null() {
                base.remove(k);
            } else {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    base
}

/// The stored form of a `token_encryption` request: the key's PEM is replaced by the SHA-256
/// JWK thumbprint of its public key.
fn token_encryption(req: &Value) -> Result<Value, Error> {
    let mut te = req.as_object().cloned().unwrap_or_default();
    if let Some(Value::Object(key)) = te.get_mut("encryption_key")
        && let Some(Value::String(pem)) = key.remove("pem")
    {
        let thumbprint = super::pem::pem_jwk_thumbprint(&pem)?;
        key.insert("thumbprint_sha256".into(), Value::String(thumbprint));
    }
    Ok(Value::Object(te))
}

/// Applies one request property to a stored body: `null` removes it.
fn apply(body: &mut Map<String, Value>, key: &str, value: &Value) -> Result<(), Error> {
    match (key, value) {
        (_, Value::Null) => {
            body.remove(key);
        }
        ("subject_type_authorization", v) => {
            let base = match body.remove(key) {
                Some(Value::Object(o)) => o,
                _ => Map::new(),
            };
            body.insert(key.to_owned(), Value::Object(merge_subject_types(base, v)));
        }
        ("token_encryption", v) => {
            body.insert(key.to_owned(), token_encryption(v)?);
        }
        (_, v) => {
            body.insert(key.to_owned(), v.clone());
        }
    }
    Ok(())
}

/// An HS256 API signs with a secret of its own; Auth0 makes one when none is given.
fn ensure_signing_secret(body: &mut Map<String, Value>) {
    if body.get("signing_alg").and_then(Value::as_str) == Some("HS256")
        && !body.contains_key("signing_secret")
    {
        body.insert("signing_secret".into(), Value::String(ids::client_secret()));
    }
}

/// A new resource server's body from a create request, with Auth0's defaults.
fn new_body(id: &str, req: &Map<String, Value>) -> Result<Map<String, Value>, Error> {
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    body.insert("allow_offline_access".into(), json!(false));
    body.insert(
        "skip_consent_for_verifiable_first_party_clients".into(),
        json!(false),
    );
    body.insert("token_lifetime".into(), json!(86400));
    body.insert("token_lifetime_for_web".into(), json!(7200));
    body.insert("signing_alg".into(), json!("RS256"));
    // A sent `subject_type_authorization` keeps its order; the subject types it omits get defaults.
    let sta = match req.get("subject_type_authorization") {
        Some(v @ Value::Object(_)) => {
            let mut m = merge_subject_types(Map::new(), v);
            for (k, d) in default_subject_type_authorization() {
                m.entry(k).or_insert(d);
            }
            m
        }
        _ => default_subject_type_authorization(),
    };
    body.insert("subject_type_authorization".into(), Value::Object(sta));
    for (k, v) in req {
        if k != "subject_type_authorization" {
            apply(&mut body, k, v)?;
        }
    }
    ensure_signing_secret(&mut body);
    Ok(canonical(body))
}

/// The system "Auth0 My Account API" that a create with identifier `{issuer}me/` brings up:
/// Auth0 ignores the sent name and scopes and uses its own settings.
fn my_account_body(
    id: &str,
    identifier: &str,
    req: &Map<String, Value>,
) -> Result<Map<String, Value>, Error> {
    const SCOPES: &[(&str, &str)] = &[
        ("create:me:connected_accounts", "Create Connected Accounts"),
        ("read:me:connected_accounts", "Read Connected Accounts"),
        ("delete:me:connected_accounts", "Delete Connected Accounts"),
        (
            "read:me:authentication_methods",
            "Read Authentication Methods",
        ),
        (
            "delete:me:authentication_methods",
            "Delete Authentication Methods",
        ),
        (
            "update:me:authentication_methods",
            "Update Authentication Methods",
        ),
        ("read:me:factors", "Read Factors"),
        (
            "create:me:authentication_methods",
            "Create Authentication Methods",
        ),
    ];
    let scopes: Vec<Value> = SCOPES
        .iter()
        .map(|(v, d)| json!({"value": v, "description": d}))
        .collect();
    let mut body = json!({
        "id": id,
        "name": "Auth0 My Account API",
        "identifier": identifier,
        "allow_offline_access": true,
        "skip_consent_for_verifiable_first_party_clients": true,
        "subject_type_authorization": {"client": {"policy": "deny_all"}, "user": {"policy": "require_client_grant"}},
        "token_lifetime": 600,
        "token_lifetime_for_web": 600,
        "signing_alg": "RS256",
        "scopes": scopes,
        "is_system": true,
        "proof_of_possession": {"mechanism": "dpop", "required": false},
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    for (k, v) in req {
        if !matches!(k.as_str(), "name" | "identifier" | "scopes") {
            apply(&mut body, k, v)?;
        }
    }
    Ok(canonical(body))
}

/// A resource server by its id or its identifier (the SDKs send it percent-encoded once or twice).
async fn find(ctx: &Ctx, key: &str) -> Result<Option<ResourceServerRow>, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    if let Some(rs) = resource_servers::find(db, tenant, key).await? {
        return Ok(Some(rs));
    }
    if let Some(rs) = resource_servers::find_by_identifier(db, tenant, key).await? {
        return Ok(Some(rs));
    }
    let twice = percent_encoding::percent_decode_str(key).decode_utf8_lossy();
    if twice != key {
        return Ok(resource_servers::find_by_identifier(db, tenant, &twice).await?);
    }
    Ok(None)
}

fn is_management_api(ctx: &Ctx, rs: &ResourceServerRow) -> bool {
    rs.is_system && rs.identifier == ctx.tenant.management_audience()
}

async fn get_resource_servers(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let paging = Paging::from_query(&input.query);
    let identifiers = input.query.list("identifiers");
    let (rows, total) = resource_servers::list(
        ctx.db(),
        ctx.tenant_id(),
        identifiers.as_deref(),
        paging.store_page(),
    )
    .await?;
    let items = rows
        .into_iter()
        .map(|r| project(shown(r.body), &input.query))
        .collect();
    Ok(Reply::json(paging.reply("resource_servers", items, total)))
}

async fn post_resource_servers(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let identifier = req
        .get("identifier")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if resource_servers::find_by_identifier(ctx.db(), ctx.tenant_id(), &identifier)
        .await?
        .is_some()
    {
        return Err(conflict());
    }
    let id = ids::hex24();
    let my_account = identifier == format!("{}me/", ctx.tenant.issuer);
    let body = if my_account {
        my_account_body(&id, &identifier, &req)?
    } else {
        new_body(&id, &req)?
    };
    let now = time::now();
    let row = ResourceServerRow {
        id,
        identifier,
        is_system: my_account,
        body: Value::Object(body),
        created_at: now.clone(),
        updated_at: now,
    };
    match resource_servers::insert(ctx.db(), ctx.tenant_id(), &row).await {
        Ok(()) => Ok(Reply::json(row.body)),
        Err(e) if is_unique_violation(&e) => Err(conflict()),
        Err(e) => Err(e.into()),
    }
}

async fn get_resource_servers_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let rs = find(&ctx, input.path("id")).await?.ok_or_else(not_found)?;
    Ok(Reply::json(project(shown(rs.body), &input.query)))
}

async fn patch_resource_servers_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    // The path names the API by id or identifier; the id never changes, so it is resolved first
    // and the row is then read again, locked, in the transaction that writes it.
    let id = find(&ctx, input.path("id"))
        .await?
        .ok_or_else(not_found)?
        .id;
    let (db, tenant, ctx) = (ctx.db(), ctx.tenant_id(), &ctx);
    let (id, req) = (id.as_str(), &input.body_object());
    let rs = atomically(|| async move {
        let tx = db.begin().await?;
        let mut rs = resource_servers::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        if is_management_api(ctx, &rs) {
            check_system_patch(&rs.body, req)?;
        }
        let before = resource_servers::scope_values(&rs.body);
        let mut body = rs.body.as_object().cloned().unwrap_or_default();
        for (k, v) in req {
            apply(&mut body, k, v)?;
        }
        ensure_signing_secret(&mut body);
        rs.body = Value::Object(canonical(body));
        rs.updated_at = time::now();
        resource_servers::update(&tx, tenant, &rs).await?;
        // Scopes the API no longer has are no longer anyone's permissions.
        let after = resource_servers::scope_values(&rs.body);
        let removed: Vec<String> = before.into_iter().filter(|s| !after.contains(s)).collect();
        roles::delete_permissions_of_scopes(&tx, tenant, &rs.identifier, &removed).await?;
        tx.commit().await?;
        Ok::<_, Error>(rs.into_inner())
    })
    .await?;
    Ok(Reply::json(rs.body))
}

/// The Management API keeps its name, identifier, scopes and signing settings; only its token
/// lifetime, consent and user access policy may change.
fn check_system_patch(current: &Value, req: &Map<String, Value>) -> Result<(), Error> {
    for (k, v) in req {
        let unchanged = current.get(k) == Some(v);
        let allowed = SYSTEM_PATCHABLE.contains(&k.as_str())
            && (k != "subject_type_authorization"
                || v.get("client").is_none_or(|c| {
                    current.pointer("/subject_type_authorization/client") == Some(c)
                }));
        if !allowed && !unchanged {
            return Err(Error::OperationNotSupported(
                format!("System resource servers cannot be patched: {k} cannot be changed").into(),
            ));
        }
    }
    Ok(())
}

async fn delete_resource_servers_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let Some(rs) = find(&ctx, input.path("id")).await? else {
        // Deleting what does not exist leaves the tenant as asked: Auth0 answers 204.
        return Ok(Reply::empty());
    };
    if is_management_api(&ctx, &rs) {
        return Err(Error::OperationNotSupported(
            "System resource servers cannot be deleted".into(),
        ));
    }
    let tx = ctx.db().begin().await?;
    resource_servers::delete(&tx, ctx.tenant_id(), &rs).await?;
    tx.commit().await?;
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &Map<String, Value>) -> Vec<&str> {
        m.keys().map(String::as_str).collect()
    }

    #[test]
    fn create_defaults_and_order() {
        let req = json!({"identifier": "https://api", "name": "n", "enforce_policies": false, "allow_online_access": true});
        let b = new_body("abc", req.as_object().unwrap()).unwrap();
        assert_eq!(
            keys(&b),
            [
                "id",
                "name",
                "identifier",
                "allow_offline_access",
                "skip_consent_for_verifiable_first_party_clients",
                "allow_online_access",
                "subject_type_authorization",
                "token_lifetime",
                "token_lifetime_for_web",
                "signing_alg",
                "enforce_policies"
            ]
        );
        assert_eq!(
            b["subject_type_authorization"],
            json!({"client": {"policy": "require_client_grant"}, "user": {"policy": "allow_all"}})
        );
    }

    #[test]
    fn sent_subject_types_keep_their_order_on_create_and_place_on_patch() {
        let req = json!({"identifier": "x", "subject_type_authorization": {"user": {"policy": "deny_all"}}});
        let mut b = new_body("abc", req.as_object().unwrap()).unwrap();
        let sta = b["subject_type_authorization"].as_object().unwrap().clone();
        assert_eq!(keys(&sta), ["user", "client"]);
        apply(
            &mut b,
            "subject_type_authorization",
            &json!({"client": {"policy": "deny_all"}, "user": {"policy": "allow_all"}}),
        )
        .unwrap();
        assert_eq!(
            b["subject_type_authorization"].to_string(),
            r#"{"user":{"policy":"allow_all"},"client":{"policy":"deny_all"}}"#
        );
    }

    #[test]
    fn patch_replaces_and_null_removes() {
        let mut b = new_body("abc", json!({"identifier": "x", "proof_of_possession": {"mechanism": "dpop", "required": true, "required_for": "all_clients"}}).as_object().unwrap()).unwrap();
        apply(
            &mut b,
            "proof_of_possession",
            &json!({"mechanism": "mtls", "required": true}),
        )
        .unwrap();
        assert_eq!(
            b["proof_of_possession"],
            json!({"mechanism": "mtls", "required": true})
        );
        apply(&mut b, "proof_of_possession", &Value::Null).unwrap();
        assert!(!b.contains_key("proof_of_possession"));
    }

    #[test]
    fn hs256_gets_a_secret() {
        let b = new_body(
            "abc",
            json!({"identifier": "x", "signing_alg": "HS256"})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert!(b["signing_secret"].as_str().is_some_and(|s| s.len() >= 16));
    }

    #[test]
    fn management_api_patch_rules() {
        let cur = json!({"name": "Auth0 Management API", "token_lifetime": 86400,
            "subject_type_authorization": {"client": {"policy": "require_client_grant"}, "user": {"policy": "allow_all"}}});
        let ok = json!({"token_lifetime": 3600, "name": "Auth0 Management API", "subject_type_authorization": {"user": {"policy": "deny_all"}}});
        assert!(check_system_patch(&cur, ok.as_object().unwrap()).is_ok());
        for bad in [
            json!({"name": "Other"}),
            json!({"scopes": []}),
            json!({"subject_type_authorization": {"client": {"policy": "deny_all"}}}),
        ] {
            assert!(
                check_system_patch(&cur, bad.as_object().unwrap()).is_err(),
                "{bad}"
            );
        }
    }
}
