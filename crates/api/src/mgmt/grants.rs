//! Tag `grants`: what users consented to clients for APIs. A grant revoked takes the refresh
//! tokens its user holds for its client with it, in one transaction.

use serde_json::{Value, json};

use gatehouse_core::Error;
use gatehouse_spec::Op;
use gatehouse_store::{
    Page,
    grants::{self, GrantFilter, GrantRow},
    refresh_tokens,
};

use crate::spine::{Ctx, Input, Registry, Reply, page::Paging};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetGrants, get_grants);
    reg.add(Op::DeleteGrantsById, delete_grant);
    reg.add(Op::DeleteGrantsByUserId, delete_grants_of_user);
}

/// A grant as Auth0 shows it (its client under `clientID`).
fn render(g: &GrantRow) -> Value {
    json!({
        "id": g.id,
        "clientID": g.client_id,
        "user_id": g.user_id,
        "audience": g.audience,
        "scope": g.scope,
    })
}

async fn get_grants(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    let paging = Paging::from_query(q);
    let f = GrantFilter {
        user_id: q.get("user_id"),
        client_id: q.get("client_id"),
        audience: q.get("audience"),
    };
    let (rows, total) = grants::list(ctx.db(), ctx.tenant_id(), f, paging.store_page()).await?;
    Ok(Reply::json(paging.reply(
        "grants",
        rows.iter().map(render).collect(),
        total,
    )))
}

/// 204 whether or not the grant existed (the spec lists no 404 for it).
async fn delete_grant(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let tx = ctx.db().begin().await?;
    if let Some(g) = grants::find(&tx, tenant, input.path("id")).await? {
        grants::delete(&tx, tenant, &g.id).await?;
        refresh_tokens::delete_for_user_client(&tx, tenant, &g.user_id, &g.client_id).await?;
    }
    tx.commit().await?;
    Ok(Reply::empty())
}

/// `DELETE /grants?user_id=`: every grant of the user, with its refresh tokens for those
/// clients.
async fn delete_grants_of_user(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let tenant = ctx.tenant_id();
    let user_id = input.query.get("user_id").unwrap_or_default();
    let tx = ctx.db().begin().await?;
    let f = GrantFilter {
        user_id: Some(user_id),
        ..GrantFilter::default()
    };
    let mut clients = Vec::new();
    let mut offset = 0;
    loop {
        let page = Page { offset, limit: 500 };
        let (rows, _) = grants::list(&tx, tenant, f, page).await?;
        let n = rows.len() as i64;
        clients.extend(rows.into_iter().map(|g| g.client_id));
        if n < page.limit {
            break;
        }
        offset += n;
    }
    clients.sort();
    clients.dedup();
    for c in &clients {
        refresh_tokens::delete_for_user_client(&tx, tenant, user_id, c).await?;
    }
    grants::delete_for_user(&tx, tenant, user_id).await?;
    tx.commit().await?;
    Ok(Reply::empty())
}
