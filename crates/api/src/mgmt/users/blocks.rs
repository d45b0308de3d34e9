//! Tag `user-blocks`: the IPs brute-force protection blocked a user for (`login_failures`),
//! found by user id or by an identifier (e-mail, username or phone number, across
//! connections), and unblocked.

use serde_json::{Value, json};

use gatehouse_core::Error;
use gatehouse_spec::Op;
use gatehouse_store::{
    docs, grants,
    tenants::SETTINGS_ID,
    users::{self, UserRow},
};

use super::user_not_found;
use crate::config::attack_protection::DOCS;
use crate::spine::{Ctx, Input, Query, Registry, Reply};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetUserBlocks, get_user_blocks);
    reg.add(Op::DeleteUserBlocks, delete_user_blocks);
    reg.add(Op::GetUserBlocksById, get_user_blocks_by_id);
    reg.add(Op::DeleteUserBlocksById, delete_user_blocks_by_id);
}

const BRUTE_FORCE: &str = "attack_protection_brute_force_protection";

fn identifier(q: &Query) -> Result<&str, Error> {
    q.get("identifier")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Error::InvalidQueryString(
                "Query validation error: 'Missing required property: identifier'.".into(),
            )
        })
}

/// With `consider_brute_force_enablement=true`, blocks count only while brute-force protection
/// is enabled and blocks (its `block` shield).
async fn blocks_shown(ctx: &Ctx, q: &Query) -> Result<bool, Error> {
    if q.bool("consider_brute_force_enablement") != Some(true) {
        return Ok(true);
    }
    let Some(doc) = DOCS.iter().find(|d| d.kind == BRUTE_FORCE) else {
        return Ok(true);
    };
    let stored = docs::get(ctx.db(), ctx.tenant_id(), BRUTE_FORCE, SETTINGS_ID).await?;
    let s = doc.shown(stored)?;
    let enabled = s.get("enabled").and_then(Value::as_bool).unwrap_or(false);
    let blocks = s
        .get("shields")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "block"));
    Ok(enabled && blocks)
}

/// `{identifier, ip, connection}` for each IP the user is blocked for.
async fn blocks_of(ctx: &Ctx, u: &UserRow, shown_as: &str) -> Result<Vec<Value>, Error> {
    Ok(grants::blocks_of(ctx.db(), ctx.tenant_id(), &u.user_id)
        .await?
        .into_iter()
        .map(|(ip, _)| json!({ "identifier": shown_as, "ip": ip, "connection": u.connection }))
        .collect())
}

/// How a user is named in a block found by id: e-mail, else username, else phone number.
fn name_of(u: &UserRow) -> &str {
    u.email
        .as_deref()
        .or(u.username.as_deref())
        .or(u.phone_number.as_deref())
        .unwrap_or(&u.user_id)
}

async fn named(ctx: &Ctx, ident: &str) -> Result<Vec<UserRow>, Error> {
    let mut out = Vec::new();
    for id in grants::users_by_identifier(ctx.db(), ctx.tenant_id(), ident).await? {
        if let Some(u) = users::find(ctx.db(), ctx.tenant_id(), &id).await? {
            out.push(u);
        }
    }
    Ok(out)
}

async fn get_user_blocks(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let ident = identifier(&input.query)?;
    let mut blocked = Vec::new();
    if blocks_shown(&ctx, &input.query).await? {
        for u in named(&ctx, ident).await? {
            blocked.extend(blocks_of(&ctx, &u, ident).await?);
        }
    }
    Ok(Reply::json(json!({ "blocked_for": blocked })))
}

/// Unblocks every user the identifier names (204 also when it names none).
async fn delete_user_blocks(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let ident = identifier(&input.query)?;
    let ids = grants::users_by_identifier(ctx.db(), ctx.tenant_id(), ident).await?;
    let tx = ctx.db().begin().await?;
    for id in &ids {
        grants::unblock(&tx, ctx.tenant_id(), id).await?;
    }
    tx.commit().await?;
    Ok(Reply::empty())
}

async fn get_user_blocks_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let u = users::find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?
        .ok_or_else(user_not_found)?;
    let blocked = match blocks_shown(&ctx, &input.query).await? {
        true => blocks_of(&ctx, &u, name_of(&u)).await?,
        false => Vec::new(),
    };
    Ok(Reply::json(json!({ "blocked_for": blocked })))
}

async fn delete_user_blocks_by_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let u = users::find(ctx.db(), ctx.tenant_id(), input.path("id"))
        .await?
        .ok_or_else(user_not_found)?;
    grants::unblock(ctx.db(), ctx.tenant_id(), &u.user_id).await?;
    Ok(Reply::empty())
}
