//! Tag `sessions`: a login session read, its `session_metadata` updated, and the session
//! deleted or revoked — either way with the refresh tokens issued in it, in one transaction.

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    refresh_tokens,
    sessions::{self, SessionRow},
};

use super::common::unix_time;
use crate::spine::{Ctx, Input, Registry, Reply};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetSession, get_session);
    reg.add(Op::PatchSessionsById, patch_session);
    reg.add(Op::DeleteSession, delete_session);
    reg.add(Op::RevokeSession, revoke_session);
}

pub(crate) fn session_not_found() -> Error {
    Error::not_found("inexistent_session", "The session does not exist.")
}

/// A session as the API shows it: the columns, then what its body holds (device, clients,
/// authentication, session_metadata, …).
pub(crate) fn render(s: &SessionRow) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(s.id));
    m.insert("user_id".into(), json!(s.user_id));
    m.insert("created_at".into(), json!(s.created_at));
    m.insert("updated_at".into(), json!(s.updated_at));
    m.insert("authenticated_at".into(), json!(s.authenticated_at));
    m.insert("idle_expires_at".into(), unix_time(s.idle_expires_at));
    m.insert("expires_at".into(), unix_time(s.expires_at));
    m.insert("last_interacted_at".into(), json!(s.last_interacted_at));
    if let Value::Object(b) = &s.body {
        for (k, v) in b {
            if !m.contains_key(k) {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(m)
}

async fn get_session(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let s = sessions::find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?
        .ok_or_else(session_not_found)?;
    Ok(Reply::json(render(&s)))
}

/// `session_metadata` replaces the session's (an empty object, or null, clears it).
async fn patch_session(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let tx = ctx.db().begin().await?;
    let mut s = sessions::find_for_update(&tx, tenant, input.path("id"))
        .await?
        .ok_or_else(session_not_found)?;
    let mut body = match std::mem::take(&mut s.body) {
        Value::Object(b) => b,
        _ => Map::new(),
    };
    match input.body.get("session_metadata") {
        Some(Value::Object(meta)) if !meta.is_empty() => {
            body.insert("session_metadata".into(), Value::Object(meta.clone()));
        }
        _ => {
            body.shift_remove("session_metadata");
        }
    }
    s.body = Value::Object(body);
    s.updated_at = time::now();
    sessions::update(&tx, tenant, &s).await?;
    tx.commit().await?;
    Ok(Reply::json(render(&s)))
}

/// The session and the refresh tokens issued in it, in one transaction; whether it existed.
async fn remove(ctx: &Ctx, id: &str) -> Result<bool, Error> {
    let tenant = ctx.tenant_id();
    let tx = ctx.db().begin().await?;
    refresh_tokens::delete_for_session(&tx, tenant, id).await?;
    let existed = sessions::delete(&tx, tenant, id).await?;
    tx.commit().await?;
    Ok(existed)
}

/// 202 whether or not the session existed (the spec lists no 404 for it).
async fn delete_session(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    remove(&ctx, input.path("id")).await?;
    Ok(Reply::empty())
}

async fn revoke_session(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    if !remove(&ctx, input.path("id")).await? {
        return Err(session_not_found());
    }
    Ok(Reply::empty())
}
