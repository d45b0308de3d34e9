//! The roles a member has in an organization (`/organizations/{id}/members/{user_id}/roles`):
//! rows of `user_roles` whose `organization_id` is the organization's.

use serde_json::{Value, json};

use gatehouse_core::Error;
use gatehouse_spec::Op;
use gatehouse_store::{atomically, organizations, roles, users};

use super::{find, not_found, offset};
use crate::mgmt::roles::{check_role_scope, role_not_found, user_not_found};
use crate::spine::{Ctx, Input, Registry, Reply};

pub fn register(reg: &mut Registry) {
    reg.add(
        Op::GetOrganizationMemberRoles,
        get_organization_member_roles,
    );
    reg.add(
        Op::PostOrganizationMemberRoles,
        post_organization_member_roles,
    );
    reg.add(
        Op::DeleteOrganizationMemberRoles,
        delete_organization_member_roles,
    );
}

/// Every role named exists (else Auth0's 404) and may be given in the organization `org`.
pub(super) async fn check_roles_exist(ctx: &Ctx, org: &str, ids: &[String]) -> Result<(), Error> {
    let found = roles::find_many(ctx.db(), ctx.tenant_id(), ids).await?;
    if found.len() != ids.len() {
        return Err(role_not_found());
    }
    check_role_scope(&found, org)
}

async fn get_organization_member_roles(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let org = find(&ctx, input.path("id")).await?;
    let (paging, page) = offset(&input);
    let (rows, total) = roles::roles_of_user(
        ctx.db(),
        ctx.tenant_id(),
        input.path("user_id"),
        &org.id,
        page,
    )
    .await?;
    // A role without a description shows an empty one, as recorded.
    let items = rows
        .into_iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "description": r.body.get("description").and_then(Value::as_str).unwrap_or(""),
            })
        })
        .collect();
    Ok(Reply::json(paging.reply("roles", items, total)))
}

async fn post_organization_member_roles(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let ids = input.body_strings("roles");
    let (db, tenant, id, user_id, ids) = (
        ctx.db(),
        ctx.tenant_id(),
        input.path("id"),
        input.path("user_id"),
        &ids,
    );
    atomically(|| async move {
        let tx = db.begin().await?;
        let org = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        users::find_for_update(&tx, tenant, user_id)
            .await?
            .ok_or_else(user_not_found)?;
        // The roles are locked: none can be deleted under the assignment.
        let found = roles::lock_many(&tx, tenant, ids).await?;
        if found.len() != ids.len() {
            return Err(role_not_found());
        }
        check_role_scope(&found, &org.id)?;
        roles::assign(&tx, tenant, user_id, &org.id, ids).await?;
        tx.commit().await?;
        Ok(())
    })
    .await?;
    Ok(Reply::empty())
}

async fn delete_organization_member_roles(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let ids = input.body_strings("roles");
    let (db, tenant, id, user_id, ids) = (
        ctx.db(),
        ctx.tenant_id(),
        input.path("id"),
        input.path("user_id"),
        &ids,
    );
    atomically(|| async move {
        let tx = db.begin().await?;
        let org = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        roles::unassign(&tx, tenant, user_id, &org.id, ids).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}
