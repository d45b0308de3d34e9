//! A user's login sessions and refresh tokens (`/users/{user_id}/sessions`,
//! `/users/{user_id}/refresh-tokens`, checkpoint-paged) and `POST /users/{id}/revoke-access`.
//! A session always goes with the refresh tokens issued in it, in one transaction.

use serde_json::Value;

use gatehouse_core::Error;
use gatehouse_spec::Op;
use gatehouse_store::{refresh_tokens, sessions};

use crate::mgmt::common::{Keyset, user_must_exist};
use crate::mgmt::{refresh_tokens as tokens_room, sessions as sessions_room};
use crate::spine::{Ctx, Input, Registry, Reply};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetSessionsForUser, get_sessions);
    reg.add(Op::DeleteSessionsForUser, delete_sessions);
    reg.add(Op::GetRefreshTokensForUser, get_refresh_tokens);
    reg.add(Op::DeleteRefreshTokensForUser, delete_refresh_tokens);
    reg.add(Op::UserRevokeAccess, revoke_access);
}

/// `{sessions: [...], next?}`, oldest first.
async fn get_sessions(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("user_id");
    user_must_exist(&ctx, user_id).await?;
    let page = Keyset::from_query(&input.query)?;
    let rows = sessions::list_for_user(
        ctx.db(),
        ctx.tenant_id(),
        user_id,
        page.after(),
        page.limit(),
    )
    .await?;
    Ok(Reply::json(page.reply(
        "sessions",
        rows,
        |s| (s.created_at.clone(), s.id.clone()),
        sessions_room::render,
    )))
}

/// Every session of the user, with the refresh tokens issued in them.
async fn delete_sessions(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (tenant, user_id) = (ctx.tenant_id(), input.path("user_id"));
    user_must_exist(&ctx, user_id).await?;
    let tx = ctx.db().begin().await?;
    refresh_tokens::delete_for_sessions_of_user(&tx, tenant, user_id).await?;
    sessions::delete_for_user(&tx, tenant, user_id).await?;
    tx.commit().await?;
    Ok(Reply::empty())
}

/// `{tokens: [...], next?}`, oldest first (tokens replaced by rotation are not shown).
async fn get_refresh_tokens(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("user_id");
    user_must_exist(&ctx, user_id).await?;
    let page = Keyset::from_query(&input.query)?;
    let rows = refresh_tokens::list_for_user(
        ctx.db(),
        ctx.tenant_id(),
        user_id,
        page.after(),
        page.limit(),
    )
    .await?;
    Ok(Reply::json(page.reply(
        "tokens",
        rows,
        tokens_room::cursor,
        tokens_room::render,
    )))
}

async fn delete_refresh_tokens(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let user_id = input.path("user_id");
    user_must_exist(&ctx, user_id).await?;
    refresh_tokens::delete_for_user(ctx.db(), ctx.tenant_id(), user_id).await?;
    Ok(Reply::empty())
}

/// Revokes the user's sessions (or the one `session_id` names, when it is the user's) and
/// their refresh tokens — all the user's refresh tokens when no session is named — unless
/// `preserve_refresh_tokens`. 202 also for an unknown user or session (the spec lists no 404).
async fn revoke_access(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (tenant, user_id) = (ctx.tenant_id(), input.path("id"));
    let preserve = input
        .body
        .get("preserve_refresh_tokens")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let tx = ctx.db().begin().await?;
    match input.body.get("session_id").and_then(Value::as_str) {
        Some(sid) => {
            let mine = sessions::find_for_update(&tx, tenant, sid)
                .await?
                .is_some_and(|s| s.user_id == user_id);
            if mine {
                if !preserve {
                    refresh_tokens::delete_for_session(&tx, tenant, sid).await?;
                }
                sessions::delete(&tx, tenant, sid).await?;
            }
        }
        None => {
            if !preserve {
                refresh_tokens::delete_for_user(&tx, tenant, user_id).await?;
            }
            sessions::delete_for_user(&tx, tenant, user_id).await?;
        }
    }
    tx.commit().await?;
    Ok(Reply::empty())
}
