//! Tag `clients`: applications and their credentials.

use serde_json::{Map, Value, json};

use gatehouse_core::ids;
use gatehouse_store::clients::ClientRow;

use crate::spine::Registry;

pub fn register(_reg: &mut Registry) {}

/// `grant_types` Auth0 gives a new client of this `app_type`.
fn default_grant_types(app_type: Option<&str>, first_party: bool) -> Value {
    match app_type {
        _ if !first_party => json!(["authorization_code"]),
        Some("spa" | "native") => json!(["authorization_code", "implicit", "refresh_token"]),
        Some("resource_server") => json!([]),
        Some("express_configuration") => json!(["authorization_code", "client_credentials"]),
        _ => json!(["authorization_code", "implicit", "refresh_token", "client_credentials"]),
    }
}

/// A new client from a create request (already validated), with the defaults Auth0 fills in.
pub fn new_client(req: Map<String, Value>, now: &str) -> ClientRow {
    let app_type = req.get("app_type").and_then(Value::as_str).map(str::to_owned);
    let first_party = req.get("is_first_party").and_then(Value::as_bool).unwrap_or(true);
    let client_id = match req.get("client_id").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        None if !first_party => ids::prefixed("tpc", 22),
        None => ids::client_id(),
    };
    let express = app_type.as_deref() == Some("express_configuration");
    let client_secret = match req.get("client_secret").and_then(Value::as_str) {
        Some(s) => Some(s.to_owned()),
        None if express => None,
        None => Some(ids::client_secret()),
    };
    let secret_post = req.get("token_endpoint_auth_method").and_then(Value::as_str) == Some("client_secret_post");
    let mut body = Map::new();
    body.insert("tenant".into(), Value::Null);
    body.insert("global".into(), json!(false));
    body.insert("is_token_endpoint_ip_header_trusted".into(), json!(false));
    body.insert("is_first_party".into(), json!(first_party));
    body.insert("oidc_conformant".into(), json!(express || !first_party));
    body.insert("sso_disabled".into(), json!(false));
    body.insert("cross_origin_authentication".into(), json!(false));
    body.insert("custom_login_page_on".into(), json!(true));
    body.insert("grant_types".into(), default_grant_types(app_type.as_deref(), first_party));
    let jwt = match app_type.as_deref() {
        _ if !first_party => json!({"secret_encoded": false, "alg": "RS256", "lifetime_in_seconds": 3600}),
        Some("resource_server" | "express_configuration") => json!({"secret_encoded": false, "alg": "RS256"}),
        _ => json!({"secret_encoded": false, "lifetime_in_seconds": 36000}),
    };
    body.insert("jwt_configuration".into(), jwt);
    let (lifetime, idle) = if secret_post { (31_557_600, 2_592_000) } else { (2_592_000, 1_296_000) };
    body.insert(
        "refresh_token".into(),
        json!({
            "rotation_type": "non-rotating",
            "expiration_type": if first_party { "non-expiring" } else { "expiring" },
            "leeway": 0,
            "token_lifetime": lifetime,
            "infinite_token_lifetime": true,
            "infinite_idle_token_lifetime": first_party,
            "idle_token_lifetime": idle,
        }),
    );
    if express {
        body.insert("callbacks".into(), json!(["https://system-admin.okta.com/admin/app/generic/oauth20redirect"]));
        body.insert("organization_usage".into(), json!("require"));
        body.insert("organization_require_behavior".into(), json!("pre_login_prompt"));
        body.insert("client_authentication_methods".into(), json!({"private_key_jwt": {"credentials": []}}));
    }
    for (k, v) in req {
        if k == "client_secret" || k == "client_id" {
            continue;
        }
        match (body.get_mut(&k), v) {
            (Some(Value::Object(existing)), Value::Object(given)) if k != "jwt_configuration" => {
                existing.extend(given);
            }
            (_, Value::Null) => {
                body.remove(&k);
            }
            (_, v) => {
                body.insert(k, v);
            }
        }
    }
    body.insert("client_id".into(), json!(client_id));
    body.insert("signing_keys".into(), json!([{"cert": "", "pkcs7": "", "subject": "deprecated"}]));
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
    ClientRow {
        client_id,
        name,
        app_type,
        is_global: false,
        is_first_party: first_party,
        client_secret,
        body: Value::Object(body),
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
    }
}
