//! Tag `clients`: applications and their credentials.

mod cimd;
mod credentials;

use anyhow::Context;
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    Locked, Tx, atomically, clients, clients::ClientFilter, clients::ClientRow, resource_servers,
};

use super::common::{deep_merge, merge_object};
use crate::spine::{
    Ctx, Input, Query, Registry, Reply,
    page::{Checkpoint, Paging, project},
};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetClients, get_clients);
    reg.add(Op::PostClients, post_clients);
    reg.add(Op::GetClientsById, get_clients_by_id);
    reg.add(Op::PatchClientsById, patch_clients_by_id);
    reg.allow_null_unset(Op::PatchClientsById);
    reg.add(Op::DeleteClientsById, delete_clients_by_id);
    reg.add(Op::PostRotateSecret, post_rotate_secret);
    reg.add(Op::GetClientConnections, get_client_connections);
    reg.add(Op::PostClientsCimdPreview, cimd::preview);
    reg.add(Op::PostClientsCimdRegister, cimd::register);
    credentials::register(reg);
}

/// Nested settings a PATCH merges into the stored object instead of replacing them.
const MERGED: &[&str] = &[
    "jwt_configuration",
    "mobile",
    "native_social_login",
    "session_transfer",
    "client_metadata",
    "refresh_token",
    // `{"signed_request_object": {"required": true}}` keeps its credentials (recorded:
    // TestAccClientAuthenticationMethodsSignedRequestObject, outside the conformance set).
    "signed_request_object",
];

fn inexistent() -> Error {
    Error::not_found("inexistent_client", "The client does not exist")
}

/// `session_transfer` as Auth0 fills it in once any part of it is set.
fn default_session_transfer() -> Value {
    json!({
        "can_create_session_transfer_token": false,
        "allowed_authentication_methods": [],
        "enforce_device_binding": "ip",
        "allow_refresh_token": false,
        "enforce_online_refresh_tokens": true,
        "enforce_cascade_revocation": true,
    })
}

/// `grant_types` Auth0 gives a new client of this `app_type`; `strict` is a third-party client in
/// `third_party_security_mode: strict` (TestAccClient_ThirdPartySecurityMode). A third-party
/// client in the default `permissive` mode gets its type's grants (TestAccDataClients, `spa`).
fn default_grant_types(app_type: Option<&str>, strict: bool) -> Value {
    match app_type {
        _ if strict => json!(["authorization_code"]),
        Some("spa" | "native") => json!(["authorization_code", "implicit", "refresh_token"]),
        Some("resource_server") => json!([]),
        Some("express_configuration") => json!(["authorization_code", "client_credentials"]),
        _ => json!([
            "authorization_code",
            "implicit",
            "refresh_token",
            "client_credentials"
        ]),
    }
}

/// A new client from a create request (already validated), with the defaults Auth0 fills in.
pub fn new_client(req: Map<String, Value>, now: &str) -> ClientRow {
    let app_type = req
        .get("app_type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let first_party = req
        .get("is_first_party")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    // A third-party client is `permissive` unless it asks for `strict` (Auth0's docs on
    // third-party applications; recorded: TestAccDataClients shows `permissive` by default).
    let strict = !first_party
        && req.get("third_party_security_mode").and_then(Value::as_str) == Some("strict");
    let permissive = !first_party && !strict;
    let client_id = match req.get("client_id").and_then(Value::as_str) {
        Some(id) => id.to_owned(),
        // Only strict third-party clients get `tpc_` ids; a permissive one's id looks like a
        // first-party client's (TestAccDataClients).
        None if strict => ids::prefixed("tpc", 22),
        None => ids::client_id(),
    };
    let express = app_type.as_deref() == Some("express_configuration");
    let client_secret = match req.get("client_secret").and_then(Value::as_str) {
        Some(s) => Some(s.to_owned()),
        None if express => None,
        None => Some(ids::client_secret()),
    };
    let secret_post = req
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        == Some("client_secret_post");
    let name = req
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (lifetime, idle) = if secret_post {
        (31_557_600, 2_592_000)
    } else {
        (2_592_000, 1_296_000)
    };
    let jwt = match app_type.as_deref() {
        _ if strict => {
            json!({"secret_encoded": false, "alg": "RS256", "lifetime_in_seconds": 3600})
        }
        Some("resource_server" | "express_configuration") => {
            json!({"secret_encoded": false, "alg": "RS256"})
        }
        _ => json!({"secret_encoded": false, "lifetime_in_seconds": 36000}),
    };

    let mut body = Map::new();
    body.insert("tenant".into(), Value::Null);
    body.insert("global".into(), json!(false));
    body.insert("is_token_endpoint_ip_header_trusted".into(), json!(false));
    body.insert("name".into(), json!(name));
    body.insert("is_first_party".into(), json!(first_party));
    // resource_server clients are OIDC-conformant (TestAccClientResourceServer), as are
    // express_configuration and third-party clients.
    let conformant = express || !first_party || app_type.as_deref() == Some("resource_server");
    body.insert("oidc_conformant".into(), json!(conformant));
    body.insert("sso_disabled".into(), json!(false));
    body.insert("cross_origin_authentication".into(), json!(false));
    // First-party: non-rotating, non-expiring. Strict third-party: expiring, no idle expiry
    // (TestAccClient_ThirdPartySecurityMode). Permissive third-party: rotating and expiring
    // (TestAccDataClients).
    body.insert(
        "refresh_token".into(),
        json!({
            "rotation_type": if permissive { "rotating" } else { "non-rotating" },
            "expiration_type": if first_party { "non-expiring" } else { "expiring" },
            "leeway": 0,
            "token_lifetime": lifetime,
            "infinite_token_lifetime": !permissive,
            "infinite_idle_token_lifetime": first_party,
            "idle_token_lifetime": idle,
        }),
    );
    // Holds its place in the key order; shown as the tenant's signing certificate.
    body.insert("signing_keys".into(), json!([]));
    body.insert("client_id".into(), json!(client_id));
    body.insert("callback_url_template".into(), json!(false));
    body.insert("jwt_configuration".into(), jwt.clone());
    body.insert(
        "grant_types".into(),
        default_grant_types(app_type.as_deref(), strict),
    );
    body.insert("custom_login_page_on".into(), json!(true));
    if express {
        body.insert(
            "callbacks".into(),
            json!(["https://system-admin.okta.com/admin/app/generic/oauth20redirect"]),
        );
        body.insert("organization_usage".into(), json!("require"));
        body.insert(
            "organization_require_behavior".into(),
            json!("pre_login_prompt"),
        );
        body.insert(
            "client_authentication_methods".into(),
            json!({"private_key_jwt": {"credentials": []}}),
        );
    }
    if permissive {
        body.insert("third_party_security_mode".into(), json!("permissive"));
    }
    for (k, v) in req {
        match k.as_str() {
            "client_secret" | "client_id" => {}
            _ if v.is_null() => {
                body.shift_remove(&k);
            }
            "initiate_login_uri" if v == "" => {}
            // A sent jwt_configuration replaces the lifetime default but keeps the flags Auth0 adds.
            "jwt_configuration" => {
                let mut base = json!({"secret_encoded": false});
                if let Some(alg) = jwt.get("alg") {
                    base["alg"] = alg.clone();
                }
                deep_merge(&mut base, v);
                body.insert(k, base);
            }
            "session_transfer" => {
                let mut base = default_session_transfer();
                deep_merge(&mut base, v);
                body.insert(k, base);
            }
            "refresh_token" => {
                if let Some(existing) = body.get_mut("refresh_token") {
                    // A non-expiring default switched to `expiring` expires for real: both
                    // `infinite_*` flags become false unless sent (go-auth0
                    // TestClient_CreateWithClientRefreshToken).
                    let to_expiring = existing.get("expiration_type")
                        == Some(&json!("non-expiring"))
                        && v.get("expiration_type") == Some(&json!("expiring"));
                    if to_expiring {
                        existing["infinite_token_lifetime"] = json!(false);
                        existing["infinite_idle_token_lifetime"] = json!(false);
                    }
                    deep_merge(existing, v);
                }
            }
            _ => {
                body.insert(k, v);
            }
        }
    }
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

/// Whether the client authenticates with its secret: Auth0 stops showing the secret once
/// `client_authentication_methods` replaces `token_endpoint_auth_method`.
fn uses_secret(row: &ClientRow) -> bool {
    let methods = row
        .body
        .get("client_authentication_methods")
        .is_some_and(|v| !v.is_null());
    let endpoint = row
        .body
        .get("token_endpoint_auth_method")
        .is_some_and(|v| !v.is_null());
    row.client_secret.is_some() && (endpoint || !methods)
}

/// The client as the API shows it: `tenant` and `global` first, `client_secret` (when shown) after `client_id`.
/// `signing_keys` is the tenant's signing certificate, whatever the stored body holds.
fn render(tenant: &str, signing_keys: &Value, row: &ClientRow, show_secret: bool) -> Value {
    let mut out = Map::new();
    out.insert("tenant".into(), json!(tenant));
    out.insert("global".into(), json!(row.is_global));
    let secret = row
        .client_secret
        .as_deref()
        .filter(|_| show_secret && uses_secret(row));
    if let Some(body) = row.body.as_object() {
        for (k, v) in body {
            if matches!(k.as_str(), "tenant" | "global" | "client_secret") {
                continue;
            }
            if k == "signing_keys" {
                out.insert(k.clone(), signing_keys.clone());
                continue;
            }
            if k == "oidc_logout"
                && !body.contains_key("oidc_backchannel_logout")
                && let Some(urls) = v.get("backchannel_logout_urls")
            {
                // Auth0 mirrors the URLs under the older `oidc_backchannel_logout` (recorded:
                // go-auth0 TestClient_CreateWithOIDCLogout, Terraform TestAccClientOIDCLogout).
                out.insert(
                    "oidc_backchannel_logout".into(),
                    json!({"backchannel_logout_urls": urls}),
                );
            }
            out.insert(k.clone(), v.clone());
            if k == "client_id"
                && let Some(s) = secret
            {
                out.insert("client_secret".into(), json!(s));
            }
        }
    }
    Value::Object(out)
}

/// `fields` projection; Auth0 keeps `tenant` on an inclusive projection.
fn project_client(v: Value, q: &Query) -> Value {
    let inclusive = q.list("fields").is_some() && q.bool("include_fields").unwrap_or(true);
    let tenant = v.get("tenant").cloned();
    let projected = project(v, q);
    match (inclusive, tenant, projected) {
        (true, Some(t), Value::Object(m)) if !m.contains_key("tenant") => {
            let mut out = Map::with_capacity(m.len() + 1);
            out.insert("tenant".into(), t);
            out.extend(m);
            Value::Object(out)
        }
        (_, _, other) => other,
    }
}

async fn find(ctx: &Ctx, id: &str) -> Result<ClientRow, Error> {
    clients::find(ctx.db(), ctx.tenant_id(), id)
        .await
        .context("finding a client")?
        .ok_or_else(inexistent)
}

/// The client, locked for the rest of the transaction (see `atomically`).
async fn find_locked(tx: &Tx, tenant: &str, id: &str) -> Result<Locked<ClientRow>, Error> {
    clients::find_for_update(tx, tenant, id)
        .await
        .context("finding a client")?
        .ok_or_else(inexistent)
}

async fn get_clients(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    let filter = ClientFilter {
        is_global: q.bool("is_global"),
        is_first_party: q.bool("is_first_party"),
        app_types: q.list("app_type"),
        name: None,
    };
    let checkpoint = Checkpoint::from_query(q);
    let paging = Paging::from_query(q);
    let page = checkpoint
        .as_ref()
        .map_or_else(|| paging.store_page(), Checkpoint::store_page);
    let (rows, total) = clients::list(ctx.db(), ctx.tenant_id(), &filter, page)
        .await
        .context("listing clients")?;
    let show = ctx.has_scope("read:client_keys");
    let items: Vec<Value> = rows
        .iter()
        .map(|r| {
            project_client(
                render(
                    ctx.tenant_id(),
                    &ctx.tenant.keys().client_signing_keys,
                    r,
                    show,
                ),
                q,
            )
        })
        .collect();
    Ok(Reply::json(match checkpoint {
        Some(c) => c.reply("clients", items, total),
        None => paging.reply("clients", items, total),
    }))
}

async fn post_clients(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (_, shown) = create(&ctx, input.body_object()).await?;
    Ok(Reply::json(shown))
}

/// Makes a client from a create request (already validated): the stored row and the create
/// reply. Every way of making a client (POST /clients, CIMD registration) goes through here.
pub(crate) async fn create(
    ctx: &Ctx,
    req: Map<String, Value>,
) -> Result<(ClientRow, Value), Error> {
    let now = time::now();
    let mut row = new_client(req, &now);
    let creds = credentials::materialize(&mut row, &now)?;
    let tx = ctx.db().begin().await.context("starting a transaction")?;
    clients::insert(&tx, ctx.tenant_id(), &row)
        .await
        .context("inserting a client")?;
    link_resource_server(&tx, ctx.tenant_id(), &row, true).await?;
    for c in &creds {
        clients::insert_credential(&tx, ctx.tenant_id(), &row.client_id, c, &now)
            .await
            .context("inserting a credential")?;
    }
    // As Auth0 does, a new application is enabled on the connections other clients use.
    gatehouse_store::connections::enable_for_new_client(&tx, ctx.tenant_id(), &row.client_id)
        .await
        .context("enabling the new client on connections")?;
    tx.commit().await.context("committing a new client")?;
    let mut shown = render(
        ctx.tenant_id(),
        &ctx.tenant.keys().client_signing_keys,
        &row,
        true,
    );
    show_created_credentials(&mut shown, &creds);
    Ok((row, shown))
}

/// The create reply shows the credentials it created in full (without their PEM); later
/// replies refer to them by id only (go-auth0 TestClientAuthenticationMethods/*,
/// TestClient_CreateCredential, TestClientSignedRequestObject: POST, then PATCH/GET).
fn show_created_credentials(shown: &mut Value, creds: &[gatehouse_store::clients::CredentialRow]) {
    let full = |item: &mut Value| {
        let id = item.get("id").and_then(Value::as_str);
        if let Some(c) = creds.iter().find(|c| Some(c.id.as_str()) == id) {
            *item = c.body.clone();
        }
    };
    if let Some(methods) = shown
        .get_mut("client_authentication_methods")
        .and_then(Value::as_object_mut)
    {
        for m in methods.values_mut() {
            if let Some(Value::Array(list)) = m.get_mut("credentials") {
                list.iter_mut().for_each(full);
            }
        }
    }
    if let Some(Value::Array(list)) = shown.pointer_mut("/signed_request_object/credentials") {
        list.iter_mut().for_each(full);
    }
}

/// A `resource_server` client belongs to the API named by its `resource_server_identifier`:
/// the API shows the client's id while the client exists.
async fn link_resource_server(
    x: &Tx,
    tenant: &str,
    row: &ClientRow,
    link: bool,
) -> Result<(), Error> {
    let Some(identifier) = row
        .body
        .get("resource_server_identifier")
        .and_then(Value::as_str)
    else {
        return Ok(());
    };
    let Some(mut rs) = resource_servers::find_by_identifier_for_update(x, tenant, identifier)
        .await
        .context("finding the client's resource server")?
    else {
        return Ok(());
    };
    let Some(body) = rs.body.as_object_mut() else {
        return Ok(());
    };
    if link {
        body.insert("client_id".into(), json!(row.client_id));
    } else if body.get("client_id").and_then(Value::as_str) == Some(row.client_id.as_str()) {
        body.shift_remove("client_id");
    } else {
        return Ok(());
    }
    rs.updated_at = time::now();
    resource_servers::update(x, tenant, &rs)
        .await
        .context("linking a resource server to its client")?;
    Ok(())
}

async fn get_clients_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let row = find(&ctx, input.path("id")).await?;
    let v = render(
        ctx.tenant_id(),
        &ctx.tenant.keys().client_signing_keys,
        &row,
        ctx.has_scope("read:client_keys"),
    );
    Ok(Reply::json(project_client(v, &input.query)))
}

/// Applies a PATCH body to a client: top-level keys replace, `MERGED` settings merge, `null` removes.
pub(crate) fn apply_patch(row: &mut ClientRow, req: Map<String, Value>) {
    let Some(body) = row.body.as_object_mut() else {
        return;
    };
    for (k, v) in req {
        match k.as_str() {
            "client_secret" => {
                if let Some(s) = v.as_str() {
                    row.client_secret = Some(s.to_owned());
                }
            }
            "client_id" | "tenant" | "global" => {}
            _ if v.is_null() => {
                body.shift_remove(&k);
            }
            "initiate_login_uri" if v == "" => {
                body.shift_remove(&k);
            }
            "session_transfer" if !body.get(&k).is_some_and(Value::is_object) => {
                let mut base = default_session_transfer();
                deep_merge(&mut base, v);
                body.insert(k, base);
            }
            key if MERGED.contains(&key) => match (body.get_mut(&k), v) {
                (Some(Value::Object(existing)), Value::Object(given)) => {
                    merge_object(existing, given)
                }
                (_, Value::Object(mut given)) => {
                    given.retain(|_, x| !x.is_null());
                    body.insert(k, Value::Object(given));
                }
                (_, other) => {
                    body.insert(k, other);
                }
            },
            _ => {
                body.insert(k, v);
            }
        }
    }
    row.name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    row.app_type = body
        .get("app_type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    row.is_first_party = body
        .get("is_first_party")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    // A client switched (back) to a secret-based method needs a secret.
    let method = body
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str);
    if row.client_secret.is_none()
        && matches!(method, Some("client_secret_post" | "client_secret_basic"))
    {
        row.client_secret = Some(ids::client_secret());
    }
}

async fn patch_clients_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    if req.contains_key("client_secret") && !ctx.has_scope("update:client_keys") {
        return Err(Error::InsufficientScope(
            "Some fields cannot be updated with the permissions granted by the bearer token scopes. \
             client_secret requires update:client_keys"
                .into(),
        ));
    }
    let tenant = ctx.tenant_id();
    let row = update(&ctx, input.path("id"), req).await?;
    let show = ctx.has_scope("read:client_keys") || ctx.has_scope("update:client_keys");
    Ok(Reply::json(render(
        tenant,
        &ctx.tenant.keys().client_signing_keys,
        &row,
        show,
    )))
}

/// Applies a PATCH request (already validated) to a client, atomically; the stored row.
pub(crate) async fn update(
    ctx: &Ctx,
    id: &str,
    req: Map<String, Value>,
) -> Result<ClientRow, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let req = &req;
    atomically(|| async move {
        let tx = db.begin().await.context("starting a transaction")?;
        let mut row = find_locked(&tx, tenant, id).await?;
        apply_patch(&mut row, req.clone());
        credentials::check_references(&tx, tenant, &row).await?;
        row.updated_at = time::now();
        clients::update(&tx, tenant, &row)
            .await
            .context("updating a client")?;
        tx.commit().await.context("committing a client update")?;
        Ok::<_, Error>(row.into_inner())
    })
    .await
}

async fn delete_clients_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tx = ctx.db().begin().await.context("starting a transaction")?;
    let id = input.path("id");
    if let Some(row) = clients::find(&tx, ctx.tenant_id(), id)
        .await
        .context("finding a client")?
    {
        if row.is_global {
            return Err(Error::OperationNotSupported(
                "Global client cannot be deleted.".into(),
            ));
        }
        link_resource_server(&tx, ctx.tenant_id(), &row, false).await?;
        gatehouse_store::connections::remove_client(&tx, ctx.tenant_id(), id)
            .await
            .context("disabling the client's connections")?;
        clients::delete(&tx, ctx.tenant_id(), id)
            .await
            .context("deleting a client")?;
    }
    tx.commit().await.context("committing a client deletion")?;
    Ok(Reply::empty())
}

async fn post_rotate_secret(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let row = atomically(|| async move {
        let tx = db.begin().await.context("starting a transaction")?;
        let mut row = find_locked(&tx, tenant, id).await?;
        if row
            .body
            .pointer("/client_authentication_methods/private_key_jwt")
            .is_some_and(|v| !v.is_null())
        {
            return Err(Error::bad_body(
                "The client secret cannot be rotated for a client configured with Private Key JWT authentication method.",
            ));
        }
        row.client_secret = Some(ids::client_secret());
        row.updated_at = time::now();
        clients::update(&tx, tenant, &row)
            .await
            .context("rotating a client secret")?;
        tx.commit().await.context("committing a client secret")?;
        Ok(row.into_inner())
    })
    .await?;
    Ok(Reply::json(render(
        tenant,
        &ctx.tenant.keys().client_signing_keys,
        &row,
        true,
    )))
}

/// Connections enabled for the client, checkpoint-paged (the connections family answers).
async fn get_client_connections(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    super::connections::get_client_connections(ctx, input).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn create_defaults_by_type() {
        let c = new_client(obj(json!({"name": "a"})), "now");
        assert_eq!(c.client_id.len(), 32);
        assert!(c.client_secret.is_some());
        assert_eq!(
            c.body["jwt_configuration"],
            json!({"secret_encoded": false, "lifetime_in_seconds": 36000})
        );
        assert_eq!(c.body["refresh_token"]["token_lifetime"], 2_592_000);
        let c = new_client(
            obj(
                json!({"name": "a", "is_first_party": false, "app_type": "regular_web", "third_party_security_mode": "strict"}),
            ),
            "now",
        );
        assert!(c.client_id.starts_with("tpc_"));
        assert_eq!(c.body["grant_types"], json!(["authorization_code"]));
        assert_eq!(c.body["oidc_conformant"], true);
        let c = new_client(
            obj(json!({"name": "a", "app_type": "express_configuration"})),
            "now",
        );
        assert!(c.client_secret.is_none());
        assert!(!uses_secret(&c));
        let c = new_client(
            obj(
                json!({"name": "a", "token_endpoint_auth_method": "client_secret_post", "jwt_configuration": {"alg": "RS256"}, "initiate_login_uri": "", "session_transfer": {"allow_refresh_token": true}}),
            ),
            "now",
        );
        assert_eq!(c.body["refresh_token"]["idle_token_lifetime"], 2_592_000);
        assert_eq!(
            c.body["jwt_configuration"],
            json!({"secret_encoded": false, "alg": "RS256"})
        );
        assert!(c.body.get("initiate_login_uri").is_none());
        assert_eq!(c.body["session_transfer"]["allow_refresh_token"], true);
        assert_eq!(c.body["session_transfer"]["enforce_device_binding"], "ip");
    }

    #[test]
    fn third_party_defaults_follow_the_security_mode() {
        // Terraform provider TestAccDataClients: a third-party spa, mode not sent.
        let c = new_client(
            obj(
                json!({"name": "a", "app_type": "spa", "is_first_party": false, "token_endpoint_auth_method": "none"}),
            ),
            "now",
        );
        assert_eq!(c.client_id.len(), 32);
        assert!(!c.client_id.starts_with("tpc_"));
        assert_eq!(c.body["third_party_security_mode"], "permissive");
        assert_eq!(c.body["oidc_conformant"], true);
        assert_eq!(
            c.body["grant_types"],
            json!(["authorization_code", "implicit", "refresh_token"])
        );
        assert_eq!(
            c.body["jwt_configuration"],
            json!({"secret_encoded": false, "lifetime_in_seconds": 36000})
        );
        assert_eq!(
            c.body["refresh_token"],
            json!({"rotation_type": "rotating", "expiration_type": "expiring", "leeway": 0,
                "token_lifetime": 2_592_000, "infinite_token_lifetime": false,
                "infinite_idle_token_lifetime": false, "idle_token_lifetime": 1_296_000})
        );
        // TestAccClient_ThirdPartySecurityMode: strict.
        let c = new_client(
            obj(
                json!({"name": "a", "app_type": "regular_web", "is_first_party": false, "third_party_security_mode": "strict", "token_endpoint_auth_method": "client_secret_post"}),
            ),
            "now",
        );
        assert!(c.client_id.starts_with("tpc_"));
        assert_eq!(c.body["third_party_security_mode"], "strict");
        assert_eq!(c.body["grant_types"], json!(["authorization_code"]));
        assert_eq!(c.body["refresh_token"]["rotation_type"], "non-rotating");
        assert_eq!(c.body["refresh_token"]["infinite_token_lifetime"], true);
    }

    #[test]
    fn defaults_per_app_type() {
        // Terraform provider recordings: TestAccClientResourceServer, TestAccClientExpressApp*,
        // TestAccClientMobile (native), TestAccClientOIDCLogout (spa), TestAccClientConfig.
        let c = |app_type: &str| {
            new_client(obj(json!({"name": "a", "app_type": app_type})), "now").body
        };
        let rs = c("resource_server");
        assert_eq!(rs["oidc_conformant"], true);
        assert_eq!(rs["grant_types"], json!([]));
        assert_eq!(
            rs["jwt_configuration"],
            json!({"secret_encoded": false, "alg": "RS256"})
        );
        for t in ["spa", "native"] {
            assert_eq!(
                c(t)["grant_types"],
                json!(["authorization_code", "implicit", "refresh_token"])
            );
            assert_eq!(c(t)["oidc_conformant"], false);
        }
        for t in ["regular_web", "non_interactive", "sso_integration"] {
            assert_eq!(
                c(t)["grant_types"],
                json!([
                    "authorization_code",
                    "implicit",
                    "refresh_token",
                    "client_credentials"
                ]),
                "{t}"
            );
        }
        let express = c("express_configuration");
        assert_eq!(express["oidc_conformant"], true);
        assert_eq!(
            express["grant_types"],
            json!(["authorization_code", "client_credentials"])
        );
        assert_eq!(c("spa")["refresh_token"]["expiration_type"], "non-expiring");
    }

    #[test]
    fn expiring_refresh_tokens_and_backchannel_logout() {
        // go-auth0 TestClient_CreateWithClientRefreshToken.
        let c = new_client(
            obj(
                json!({"name": "a", "refresh_token": {"rotation_type": "non-rotating", "expiration_type": "expiring"}}),
            ),
            "now",
        );
        assert_eq!(c.body["refresh_token"]["infinite_token_lifetime"], false);
        assert_eq!(
            c.body["refresh_token"]["infinite_idle_token_lifetime"],
            false
        );
        assert_eq!(c.body["refresh_token"]["token_lifetime"], 2_592_000);
        // Flags sent with it are kept.
        let c = new_client(
            obj(
                json!({"name": "a", "refresh_token": {"expiration_type": "expiring", "infinite_token_lifetime": true}}),
            ),
            "now",
        );
        assert_eq!(c.body["refresh_token"]["infinite_token_lifetime"], true);
        // go-auth0 TestClient_CreateWithOIDCLogout, Terraform TestAccClientOIDCLogout.
        let c = new_client(
            obj(
                json!({"name": "a", "oidc_logout": {"backchannel_logout_urls": ["https://x/logout"], "backchannel_logout_initiators": {"mode": "all"}}}),
            ),
            "now",
        );
        let shown = render("t", &json!([]), &c, true);
        assert_eq!(
            shown["oidc_backchannel_logout"],
            json!({"backchannel_logout_urls": ["https://x/logout"]})
        );
        let plain = render(
            "t",
            &json!([]),
            &new_client(obj(json!({"name": "a"})), "now"),
            true,
        );
        assert!(plain.get("oidc_backchannel_logout").is_none());
    }

    #[test]
    fn create_reply_shows_created_credentials_in_full() {
        use gatehouse_store::clients::CredentialRow;
        let cred = CredentialRow {
            id: "cred_a".into(),
            body: json!({"id": "cred_a", "credential_type": "public_key", "kid": "k", "alg": "RS256"}),
        };
        let mut shown = json!({
            "client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": "cred_a"}, {"id": "cred_other"}]}},
            "signed_request_object": {"credentials": [{"id": "cred_a"}]},
        });
        show_created_credentials(&mut shown, std::slice::from_ref(&cred));
        assert_eq!(
            shown["client_authentication_methods"]["private_key_jwt"]["credentials"],
            json!([cred.body, {"id": "cred_other"}])
        );
        assert_eq!(shown["signed_request_object"]["credentials"][0]["kid"], "k");
    }

    #[test]
    fn patch_merges_and_removes() {
        let mut c = new_client(
            obj(
                json!({"name": "a", "client_metadata": {"foo": "zoo"}, "initiate_login_uri": "https://x/login", "mobile": {"ios": {"team_id": "1"}, "android": {"app_package_name": "a"}}}),
            ),
            "now",
        );
        apply_patch(
            &mut c,
            obj(
                json!({"client_metadata": {"foo": null}, "initiate_login_uri": "", "jwt_configuration": {"alg": "RS256"},
                "mobile": {"android": {"app_package_name": "b"}}, "grant_types": [], "name": "b", "description": ""}),
            ),
        );
        assert_eq!(c.body["client_metadata"], json!({}));
        assert!(c.body.get("initiate_login_uri").is_none());
        assert_eq!(
            c.body["jwt_configuration"],
            json!({"secret_encoded": false, "lifetime_in_seconds": 36000, "alg": "RS256"})
        );
        assert_eq!(
            c.body["mobile"],
            json!({"ios": {"team_id": "1"}, "android": {"app_package_name": "b"}})
        );
        assert_eq!(c.body["grant_types"], json!([]));
        assert_eq!(c.body["description"], "");
        assert_eq!(c.name, "b");
        apply_patch(
            &mut c,
            obj(json!({"session_transfer": {"delegation": null}})),
        );
        assert_eq!(c.body["session_transfer"], default_session_transfer());
    }

    #[test]
    fn secret_hidden_when_authentication_methods_replace_it() {
        let mut c = new_client(
            obj(json!({"name": "a", "token_endpoint_auth_method": "client_secret_post"})),
            "now",
        );
        let shown = render("t", &json!([]), &c, true);
        assert!(shown["client_secret"].is_string());
        let keys: Vec<&String> = shown
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys[0], "tenant");
        assert!(
            render("t", &json!([]), &c, false)
                .get("client_secret")
                .is_none()
        );
        apply_patch(
            &mut c,
            obj(
                json!({"client_authentication_methods": {"private_key_jwt": {"credentials": [{"id": "cred_x"}]}}, "token_endpoint_auth_method": null}),
            ),
        );
        assert!(
            render("t", &json!([]), &c, true)
                .get("client_secret")
                .is_none()
        );
        apply_patch(
            &mut c,
            obj(
                json!({"client_authentication_methods": null, "token_endpoint_auth_method": "client_secret_post"}),
            ),
        );
        assert!(render("t", &json!([]), &c, true)["client_secret"].is_string());
    }
}
