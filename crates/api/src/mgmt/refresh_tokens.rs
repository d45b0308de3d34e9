//! Tag `refresh-tokens`: a user's refresh tokens listed (checkpoint paging), one read, its
//! `refresh_token_metadata` updated, and tokens revoked — a revoked token takes its rotation
//! family with it.

use serde_json::{Map, Value, json};

use gatehouse_core::Error;
use gatehouse_spec::Op;
use gatehouse_store::refresh_tokens::{self, RefreshTokenRow};

use super::common::{Keyset, unix_time, user_must_exist};
use crate::spine::{Ctx, Input, Registry, Reply, page::project};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetRefreshTokens, get_refresh_tokens);
    reg.add(Op::GetRefreshToken, get_refresh_token);
    reg.add(Op::PatchRefreshTokensById, patch_refresh_token);
    reg.add(Op::DeleteRefreshToken, delete_refresh_token);
    reg.add(Op::RevokeRefreshTokens, revoke_refresh_tokens);
}

fn token_not_found() -> Error {
    Error::not_found(
        "inexistent_refresh_token",
        "The refresh token does not exist.",
    )
}

fn opt_time(t: Option<i64>) -> Value {
    t.map_or(Value::Null, unix_time)
}

/// A refresh token as the API shows it (never the token itself).
pub(crate) fn render(t: &RefreshTokenRow) -> Value {
    let body = t.body.as_object().cloned().unwrap_or_default();
    let resource_servers =
        body.get("resource_servers")
            .cloned()
            .unwrap_or_else(|| match &t.audience {
                Some(a) => json!([{ "audience": a, "scopes": t.scope }]),
                None => json!([]),
            });
    let mut m = Map::new();
    m.insert("id".into(), json!(t.id));
    m.insert("user_id".into(), json!(t.user_id));
    m.insert("created_at".into(), json!(t.created_at));
    m.insert("idle_expires_at".into(), opt_time(t.idle_expires_at));
    m.insert("expires_at".into(), opt_time(t.expires_at));
    m.insert(
        "device".into(),
        body.get("device").cloned().unwrap_or_else(|| json!({})),
    );
    m.insert("client_id".into(), json!(t.client_id));
    m.insert("session_id".into(), json!(t.session_id));
    m.insert("rotating".into(), json!(t.rotating));
    m.insert("resource_servers".into(), resource_servers);
    m.insert("last_exchanged_at".into(), json!(t.last_exchanged_at));
    if let Some(meta) = body.get("refresh_token_metadata") {
        m.insert("refresh_token_metadata".into(), meta.clone());
    }
    Value::Object(m)
}

pub(crate) fn cursor(t: &RefreshTokenRow) -> (String, String) {
    (t.created_at.clone(), t.id.clone())
}

/// `GET /refresh-tokens?user_id=…[&client_id=…]`: `{refresh_tokens, next?}`.
async fn get_refresh_tokens(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    let user_id = q.get("user_id").unwrap_or_default();
    user_must_exist(&ctx, user_id).await?;
    let page = Keyset::from_query(q)?;
    let rows = refresh_tokens::list_for_user_client(
        ctx.db(),
        ctx.tenant_id(),
        user_id,
        q.get("client_id"),
        page.after(),
        page.limit(),
    )
    .await?;
    Ok(Reply::json(page.reply(
        "refresh_tokens",
        rows,
        cursor,
        |t| project(render(t), q),
    )))
}

async fn get_refresh_token(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let t = refresh_tokens::find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?
        .ok_or_else(token_not_found)?;
    Ok(Reply::json(render(&t)))
}

/// `refresh_token_metadata` replaces the token's (an empty object, or null, clears it).
async fn patch_refresh_token(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let tx = ctx.db().begin().await?;
    let mut t = refresh_tokens::find_for_update(&tx, tenant, input.path("id"))
        .await?
        .ok_or_else(token_not_found)?;
    let mut body = match std::mem::take(&mut t.body) {
        Value::Object(b) => b,
        _ => Map::new(),
    };
    match input.body.get("refresh_token_metadata") {
        Some(Value::Object(meta)) if !meta.is_empty() => {
            body.insert("refresh_token_metadata".into(), Value::Object(meta.clone()));
        }
        _ => {
            body.shift_remove("refresh_token_metadata");
        }
    }
    t.body = Value::Object(body);
    refresh_tokens::update(&tx, tenant, &t).await?;
    tx.commit().await?;
    Ok(Reply::json(render(&t)))
}

/// 202 whether or not the token existed (the spec lists no 404 for it); its whole rotation
/// family goes.
async fn delete_refresh_token(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    refresh_tokens::delete_family_of(ctx.db(), ctx.tenant_id(), input.path("id")).await?;
    Ok(Reply::empty())
}

/// `POST /refresh-tokens/revoke`: by `ids` (each with its family; only those of `user_id` /
/// `client_id` when given), else every token of `user_id` (for `client_id` when given), else
/// every token of `client_id`. One transaction.
async fn revoke_refresh_tokens(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let ids = input.body_strings("ids");
    let user_id = input.body.get("user_id").and_then(Value::as_str);
    let client_id = input.body.get("client_id").and_then(Value::as_str);
    if ids.is_empty() && user_id.is_none() && client_id.is_none() {
        return Err(Error::bad_body(
            "Payload validation error: one of ids, user_id or client_id is required.",
        ));
    }
    let tx = ctx.db().begin().await?;
    if !ids.is_empty() {
        for id in &ids {
            let Some(t) = refresh_tokens::find(&tx, tenant, id).await? else {
                continue;
            };
            if user_id.is_some_and(|u| u != t.user_id)
                || client_id.is_some_and(|c| c != t.client_id)
            {
                continue;
            }
            refresh_tokens::delete_family(&tx, tenant, &t.family_id).await?;
        }
    } else if let Some(u) = user_id {
        match client_id {
            Some(c) => refresh_tokens::delete_for_user_client(&tx, tenant, u, c).await?,
            None => refresh_tokens::delete_for_user(&tx, tenant, u).await?,
        };
    } else if let Some(c) = client_id {
        refresh_tokens::delete_for_client(&tx, tenant, c).await?;
    }
    tx.commit().await?;
    Ok(Reply::empty())
}
