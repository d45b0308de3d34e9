//! Tag `device-credentials`: public keys registered by a user's devices, and the user's refresh
//! tokens seen as device credentials (`refresh_token`, `rotating_refresh_token`: the type Auth0
//! lists when none is asked for, since its listing always pages).

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD},
};
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    clients,
    grants::{self, DeviceCredentialRow, DeviceFilter},
    refresh_tokens::{self, RefreshTokenRow},
    users,
};

use crate::spine::{
    Ctx, Input, Registry, Reply,
    page::{Paging, project},
};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetDeviceCredentials, get_device_credentials);
    reg.add(Op::PostDeviceCredentials, post_device_credential);
    reg.add(Op::DeleteDeviceCredentialsById, delete_device_credential);
}

fn render(d: &DeviceCredentialRow) -> Value {
    json!({
        "id": d.id,
        "device_name": d.device_name,
        "device_id": d.device_id,
        "type": d.kind,
        "user_id": d.user_id,
        "client_id": d.client_id,
    })
}

/// A refresh token as a device credential: its device is the user agent it was issued to (no
/// `device_id`, which Auth0 does not fill for refresh tokens either).
fn render_token(t: &RefreshTokenRow) -> Value {
    let device = t.body.get("device");
    let agent = ["last_user_agent", "initial_user_agent"]
        .iter()
        .find_map(|k| device.and_then(|d| d.get(*k)).and_then(Value::as_str))
        .unwrap_or_default();
    let mut m = Map::new();
    m.insert("id".into(), json!(t.id));
    m.insert("device_name".into(), json!(agent));
    m.insert(
        "type".into(),
        json!(if t.rotating {
            "rotating_refresh_token"
        } else {
            "refresh_token"
        }),
    );
    m.insert("user_id".into(), json!(t.user_id));
    m.insert("client_id".into(), json!(t.client_id));
    Value::Object(m)
}

async fn get_device_credentials(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    let paging = Paging::from_query(q);
    let (user_id, client_id) = (q.get("user_id"), q.get("client_id"));
    let kind = q.get("type").unwrap_or("refresh_token");
    let (items, total) = if kind == "public_key" {
        let f = DeviceFilter {
            user_id,
            client_id,
            kind: Some(kind),
        };
        let (rows, total) =
            grants::list_device_credentials(ctx.db(), ctx.tenant_id(), f, paging.store_page())
                .await?;
        (rows.iter().map(render).collect::<Vec<_>>(), total)
    } else {
        let (rows, total) = refresh_tokens::list_filtered(
            ctx.db(),
            ctx.tenant_id(),
            user_id,
            client_id,
            Some(kind == "rotating_refresh_token"),
            paging.store_page(),
        )
        .await?;
        (rows.iter().map(render_token).collect(), total)
    };
    let items = items.into_iter().map(|v| project(v, q)).collect();
    Ok(Reply::json(paging.reply(
        "device_credentials",
        items,
        total,
    )))
}

fn is_base64(s: &str) -> bool {
    [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .any(|e| e.decode(s).is_ok_and(|b| !b.is_empty()))
}

/// Registers a public key for the user the access token names (the operation's scope is
/// `create:current_user_device_credentials`), for `client_id` or the token's own client.
async fn post_device_credential(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let field = |k: &str| {
        input
            .body
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let value = field("value");
    if !is_base64(value) {
        return Err(Error::bad_body(
            "Payload validation error: 'value' must be a base64 encoded string.",
        ));
    }
    let user = users::find(ctx.db(), tenant, &ctx.principal.sub)
        .await?
        .ok_or_else(|| {
            Error::bad_body("A device credential is created for the user the access token names.")
        })?;
    let client_id = match input.body.get("client_id").and_then(Value::as_str) {
        Some(c) => c.to_owned(),
        None => ctx.principal.client_id.clone().unwrap_or_default(),
    };
    clients::find(ctx.db(), tenant, &client_id)
        .await?
        .ok_or_else(|| Error::bad_request("inexistent_client", "The client does not exist."))?;
    let row = DeviceCredentialRow {
        id: ids::prefixed("dcr", 16),
        user_id: user.user_id,
        client_id,
        kind: "public_key".into(),
        device_name: field("device_name").to_owned(),
        device_id: field("device_id").to_owned(),
        value: Some(value.to_owned()),
        created_at: time::now(),
    };
    grants::insert_device_credential(ctx.db(), tenant, &row).await?;
    Ok(Reply::json(json!({ "id": row.id })))
}

/// 204 whether or not it existed (the spec lists no 404): a public key, or a refresh token
/// (with its rotation family) of that id.
async fn delete_device_credential(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (tenant, id) = (ctx.tenant_id(), input.path("id"));
    let tx = ctx.db().begin().await?;
    // With only `delete:current_user_device_credentials`, the token's user's own.
    if !ctx.has_scope("delete:device_credentials") {
        let owner = match grants::find_device_credential(&tx, tenant, id).await? {
            Some(d) => Some(d.user_id),
            None => refresh_tokens::find(&tx, tenant, id)
                .await?
                .map(|t| t.user_id),
        };
        if owner.is_some_and(|u| u != ctx.principal.sub) {
            return Err(Error::InsufficientScope(
                "Insufficient scope, expected any of: delete:device_credentials".into(),
            ));
        }
    }
    if !grants::delete_device_credential(&tx, tenant, id).await? {
        refresh_tokens::delete_family_of(&tx, tenant, id).await?;
    }
    tx.commit().await?;
    Ok(Reply::empty())
}
