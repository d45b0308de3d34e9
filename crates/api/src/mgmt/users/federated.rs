//! `GET /users/{id}/connected-accounts` and `/users/{id}/federated-connections-tokensets`.
//! This server keeps neither connected accounts nor federated token sets (its users sign in
//! with database connections), so the lists are truthfully empty.

use serde_json::json;

use gatehouse_core::Error;
use gatehouse_spec::Op;

use crate::mgmt::common::user_must_exist;
use crate::spine::{Ctx, Input, Registry, Reply};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetConnectedAccounts, get_connected_accounts);
    reg.add(Op::GetFederatedConnectionsTokensets, get_tokensets);
    reg.add(
        Op::DeleteFederatedConnectionsTokensetsByTokensetId,
        delete_tokenset,
    );
}

/// `{connected_accounts: []}` (the spec lists no 404 for it).
async fn get_connected_accounts(_ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    Ok(Reply::json(json!({ "connected_accounts": [] })))
}

/// `[]` for a known user; 404 for an unknown one.
async fn get_tokensets(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    user_must_exist(&ctx, input.path("id")).await?;
    Ok(Reply::json(json!([])))
}

/// No token set exists, so there is nothing to delete: 204 (the spec lists no 404 for it).
async fn delete_tokenset(_ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    Ok(Reply::empty())
}
