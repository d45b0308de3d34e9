//! Members of an organization, the roles they have in it, and `GET /users/{id}/organizations`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    atomically,
    organizations::{self, MemberRow},
    roles,
};

use super::{cursor, find, not_found, offset, shown};
use crate::spine::{Ctx, Input, Registry, Reply, page::Checkpoint};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetOrganizationMembers, get_organization_members);
    reg.add(Op::PostMembers, post_members);
    reg.add(Op::DeleteMembers, delete_members);
    reg.add(Op::GetUserOrganizations, get_user_organizations);
    super::member_roles::register(reg);
}

/// A member as Auth0 shows it: `user_id`, `email`, `picture`, `name` (the keys a user lacks are
/// left out), and `roles` (`[{id, name}]`) when they were asked for.
fn member_json(m: MemberRow, roles: Option<&Vec<Value>>) -> Value {
    let mut o = Map::new();
    o.insert("user_id".into(), json!(m.user_id));
    if let Some(e) = m.email {
        o.insert("email".into(), json!(e));
    }
    if let Some(p) = m.picture {
        o.insert("picture".into(), json!(p));
    }
    if let Some(n) = m.name {
        o.insert("name".into(), json!(n));
    }
    if let Some(r) = roles {
        o.insert("roles".into(), Value::Array(r.clone()));
    }
    Value::Object(o)
}

/// `fields`/`include_fields` over a member's five fields; `roles` only when named (it needs
/// its own scope).
struct Fields {
    names: Option<Vec<String>>,
    include: bool,
}

impl Fields {
    fn from(input: &Input) -> Self {
        Self {
            names: input.query.list("fields"),
            include: input.query.bool("include_fields").unwrap_or(true),
        }
    }

    fn wants_roles(&self) -> bool {
        self.include
            && self
                .names
                .as_ref()
                .is_some_and(|n| n.iter().any(|f| f == "roles"))
    }

    fn apply(&self, v: Value) -> Value {
        let (Some(names), Value::Object(o)) = (&self.names, &v) else {
            return v;
        };
        Value::Object(
            o.iter()
                .filter(|(k, _)| names.contains(k) == self.include)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

async fn members_json(
    ctx: &Ctx,
    org: &str,
    rows: Vec<MemberRow>,
    fields: &Fields,
) -> Result<Vec<Value>, Error> {
    let roles = if fields.wants_roles() {
        if !ctx.has_scope("read:organization_member_roles") {
            return Err(Error::InsufficientScope(
                "Insufficient scope, expected any of: read:organization_member_roles".into(),
            ));
        }
        let ids: Vec<String> = rows.iter().map(|m| m.user_id.clone()).collect();
        let mut by_user: HashMap<String, Vec<Value>> = HashMap::new();
        for (user, id, name) in
            organizations::member_role_names(ctx.db(), ctx.tenant_id(), org, &ids).await?
        {
            by_user
                .entry(user)
                .or_default()
                .push(json!({"id": id, "name": name}));
        }
        Some(by_user)
    } else {
        None
    };
    let empty = Vec::new();
    Ok(rows
        .into_iter()
        .map(|m| {
            let r = roles
                .as_ref()
                .map(|by| by.get(&m.user_id).unwrap_or(&empty));
            fields.apply(member_json(m, r))
        })
        .collect())
}

async fn get_organization_members(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let org = find(&ctx, input.path("id")).await?;
    let fields = Fields::from(&input);
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    // With `take` (or `from`), the checkpoint form wins over `per_page` / `include_totals`.
    if let Some(cp) = Checkpoint::from_query(&input.query) {
        // The cursor carries when the last member of the page joined and its user id (Auth0's
        // order and key), so that a member removed and added again gets a new cursor.
        let after = cursor::decode_seq(cp.from.as_deref())?;
        let rows = organizations::members_after(
            db,
            tenant,
            &org.id,
            after.as_ref().map(|(seq, user)| (*seq, user.as_str())),
            cp.take,
        )
        .await?;
        let next = rows.last().map(|m| cursor::encode_seq(m.seq, &m.user_id));
        let items = members_json(&ctx, &org.id, rows, &fields).await?;
        return Ok(Reply::json(cursor::reply("members", items, next)));
    }
    let (paging, page) = offset(&input);
    let (rows, total) = organizations::members_page(db, tenant, &org.id, page).await?;
    let items = members_json(&ctx, &org.id, rows, &fields).await?;
    Ok(Reply::json(paging.reply("members", items, total)))
}

async fn post_members(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let ids = input.body_strings("members");
    let (db, tenant, id, ids) = (ctx.db(), ctx.tenant_id(), input.path("id"), &ids);
    let ctx = &ctx;
    atomically(|| async move {
        let tx = db.begin().await?;
        let org = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        let found = organizations::existing_users(&tx, tenant, ids).await?;
        if let Some(missing) = ids.iter().find(|u| !found.contains(u)) {
            return Err(Error::bad_body(format!("User {missing} does not exist")));
        }
        organizations::add_members(&tx, tenant, &org.id, ids, &time::now()).await?;
        for u in ids {
            let event = crate::events::membership(&org.id, &org.name, u);
            crate::events::emit(ctx, &tx, "organization.member.added", event).await?;
        }
        tx.commit().await?;
        Ok(())
    })
    .await?;
    Ok(Reply::empty())
}

async fn delete_members(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let ids = input.body_strings("members");
    let (db, tenant, id, ids) = (ctx.db(), ctx.tenant_id(), input.path("id"), &ids);
    let ctx = &ctx;
    atomically(|| async move {
        let tx = db.begin().await?;
        let org = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        // The memberships and the roles they carried go together.
        organizations::remove_members(&tx, tenant, &org.id, ids).await?;
        for user_id in ids {
            roles::unassign_all(&tx, tenant, user_id, &org.id).await?;
            let event = crate::events::membership(&org.id, &org.name, user_id);
            crate::events::emit(ctx, &tx, "organization.member.deleted", event).await?;
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

async fn get_user_organizations(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (paging, page) = offset(&input);
    let (rows, total) =
        organizations::of_user(ctx.db(), ctx.tenant_id(), input.path("id"), page).await?;
    let items = rows.into_iter().map(|o| shown(o.body)).collect();
    Ok(Reply::json(paging.reply("organizations", items, total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> MemberRow {
        MemberRow {
            user_id: "auth0|1".into(),
            seq: 1,
            email: Some("a@b.c".into()),
            name: None,
            picture: Some("https://p".into()),
        }
    }

    #[test]
    fn member_shape_and_fields() {
        assert_eq!(
            member_json(m(), None),
            json!({"user_id": "auth0|1", "email": "a@b.c", "picture": "https://p"})
        );
        let f = Fields {
            names: Some(vec!["user_id".into(), "roles".into()]),
            include: true,
        };
        assert!(f.wants_roles());
        assert_eq!(
            f.apply(member_json(
                m(),
                Some(&vec![json!({"id": "rol_1", "name": "r"})])
            )),
            json!({"user_id": "auth0|1", "roles": [{"id": "rol_1", "name": "r"}]})
        );
        let f = Fields {
            names: Some(vec!["email".into()]),
            include: false,
        };
        assert!(!f.wants_roles());
        assert_eq!(
            f.apply(member_json(m(), None)),
            json!({"user_id": "auth0|1", "picture": "https://p"})
        );
    }
}
