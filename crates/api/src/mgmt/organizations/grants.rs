//! Client grants associated with an organization (`/organizations/{id}/client-grants`).

use serde_json::{Map, Value, json};

use gatehouse_core::Error;
use gatehouse_spec::Op;
use gatehouse_store::{
    atomically, client_grants,
    organizations::{self, OrgGrantFilter},
};

use super::{find, not_found, offset};
use crate::spine::{Ctx, Input, Registry, Reply};

pub fn register(reg: &mut Registry) {
    reg.add(
        Op::GetOrganizationClientGrants,
        get_organization_client_grants,
    );
    reg.add(
        Op::CreateOrganizationClientGrants,
        create_organization_client_grants,
    );
    reg.add(
        Op::DeleteClientGrantsByGrantId,
        delete_client_grants_by_grant_id,
    );
}

fn no_grant() -> Error {
    Error::not_found("inexistent_client_grant", "The grant does not exist.")
}

/// A grant may serve an organization only when its `organization_usage` lets organizations
/// use it (`allow` or `require`).
fn usable_by_organizations(grant: &Value) -> bool {
    matches!(
        grant.get("organization_usage").and_then(Value::as_str),
        Some("allow" | "require")
    )
}

async fn get_organization_client_grants(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let org = find(&ctx, input.path("id")).await?;
    let (paging, page) = offset(&input);
    let f = OrgGrantFilter {
        audience: input.query.get("audience").map(str::to_owned),
        client_id: input.query.get("client_id").map(str::to_owned),
        grant_ids: input.query.list("grant_ids"),
    };
    let (rows, total) = organizations::grants(ctx.db(), ctx.tenant_id(), &org.id, &f, page).await?;
    let items = rows
        .into_iter()
        .map(|g| super::super::client_grants::shown(g.body))
        .collect();
    Ok(Reply::json(paging.reply("client_grants", items, total)))
}

async fn create_organization_client_grants(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let grant_id = input
        .body
        .get("grant_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let (db, tenant, id, grant_id) = (ctx.db(), ctx.tenant_id(), input.path("id"), &grant_id);
    let g = atomically(|| async move {
        let tx = db.begin().await?;
        let org = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        // The grant is locked too, so that it cannot go away under the association.
        let g = client_grants::find_for_update(&tx, tenant, grant_id)
            .await?
            .ok_or_else(no_grant)?;
        if !usable_by_organizations(&g.body) {
            return Err(Error::bad_body(
                "The client grant's organization_usage must be allow or require to associate it with an organization",
            ));
        }
        if !organizations::associate_grant(&tx, tenant, &org.id, &g.id).await? {
            return Err(Error::conflict(
                "organization_client_grant_conflict",
                "The client grant is already associated with this organization",
            ));
        }
        tx.commit().await?;
        Ok(g.into_inner())
    })
    .await?;
    // As recorded: the grant's id as `grant_id`, with what the grant gives.
    let mut out = Map::new();
    out.insert("grant_id".into(), json!(g.id));
    for k in [
        "client_id",
        "audience",
        "scope",
        "organization_usage",
        "allow_any_organization",
    ] {
        if let Some(v) = g.body.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    Ok(Reply::json(Value::Object(out)))
}

async fn delete_client_grants_by_grant_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id, grant_id) = (
        ctx.db(),
        ctx.tenant_id(),
        input.path("id"),
        input.path("grant_id"),
    );
    atomically(|| async move {
        let tx = db.begin().await?;
        let org = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        organizations::dissociate_grant(&tx, tenant, &org.id, grant_id).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_rule() {
        assert!(usable_by_organizations(
            &json!({"organization_usage": "allow"})
        ));
        assert!(usable_by_organizations(
            &json!({"organization_usage": "require"})
        ));
        assert!(!usable_by_organizations(
            &json!({"organization_usage": "deny"})
        ));
        assert!(!usable_by_organizations(&json!({})));
    }
}
