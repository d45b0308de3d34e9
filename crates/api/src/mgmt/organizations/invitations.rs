//! Invitations to join an organization. The ticket's token is random (32 characters of
//! `[A-Za-z0-9]`, ~190 bits) and only its SHA-256 is stored: the invitation URL that carries it
//! is shown once, in the creation's reply.

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    atomically, clients, connections as conns, docs,
    organizations::{self, InvitationRow},
};

use super::{find, member_roles, not_found};
use crate::spine::{
    Ctx, Input, Registry, Reply,
    page::{Paging, project},
};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetInvitations, get_invitations);
    reg.add(Op::PostInvitations, post_invitations);
    reg.add(
        Op::GetInvitationsByInvitationId,
        get_invitations_by_invitation_id,
    );
    reg.add(
        Op::DeleteInvitationsByInvitationId,
        delete_invitations_by_invitation_id,
    );
}

/// `ttl_sec` when it is absent or 0: 7 days (the schema's maximum is 30 days).
const DEFAULT_TTL: i64 = 604_800;

const KEY_ORDER: &[&str] = &[
    "id",
    "organization_id",
    "inviter",
    "invitee",
    "invitation_url",
    "created_at",
    "expires_at",
    "client_id",
    "connection_id",
    "app_metadata",
    "user_metadata",
    "roles",
    "ticket_id",
];

fn no_invitation() -> Error {
    Error::not_found("inexistent_invitation", "The invitation does not exist.")
}

/// The SHA-256 of a ticket's token, in hex: what is stored and what a ticket is looked up by.
pub(crate) fn ticket_hash(token: &str) -> String {
    gatehouse_core::secret::sha256_hex(token)
}

/// The invitation URL: the application's login route with the ticket, the organization's id
/// and its name.
fn invitation_url(login: &str, token: &str, org_id: &str, org_name: &str) -> String {
    // Everything but RFC 3986's unreserved characters is escaped.
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, SET).to_string();
    let sep = if login.contains('?') { '&' } else { '?' };
    format!(
        "{login}{sep}invitation={}&organization={}&organization_name={}",
        enc(token),
        enc(org_id),
        enc(org_name)
    )
}

fn expires_at(ttl_sec: i64) -> String {
    let ttl = if ttl_sec <= 0 { DEFAULT_TTL } else { ttl_sec };
    time::format(::time::OffsetDateTime::now_utc() + ::time::Duration::seconds(ttl))
}

fn shown(body: Value, q: &crate::spine::Query) -> Value {
    let body = match body {
        Value::Object(o) => Value::Object(super::order_keys(o, KEY_ORDER)),
        other => other,
    };
    project(body, q)
}

async fn post_invitations(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let org = find(&ctx, input.path("id")).await?;
    let client_id = req
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let client = clients::find(db, tenant, client_id)
        .await?
        .ok_or_else(|| Error::not_found("inexistent_client", "Client not found"))?;
    if !matches!(
        client
            .body
            .get("organization_usage")
            .and_then(Value::as_str),
        Some("allow" | "require")
    ) {
        return Err(Error::bad_body(format!(
            "The specified client_id ({client_id}) does not allow organizations."
        )));
    }
    // The link opens the application's login route, else the tenant's default login route
    // (`default_redirection_uri`; recorded: go-auth0 TestOrganizationManager_CreateInvitation,
    // a client without `initiate_login_uri` on a tenant with one).
    let tenant_route = docs::get(
        db,
        tenant,
        gatehouse_store::tenants::SETTINGS_KIND,
        gatehouse_store::tenants::SETTINGS_ID,
    )
    .await?
    .and_then(|s| {
        s.get("default_redirection_uri")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let login_route = client
        .body
        .get("initiate_login_uri")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(tenant_route)
        .filter(|s| !s.is_empty());
    let Some(login) = login_route.as_deref() else {
        return Err(Error::bad_body(
            "A default login route is required to generate the invitation url.",
        ));
    };
    if let Some(cid) = req.get("connection_id").and_then(Value::as_str)
        && conns::find(db, tenant, cid).await?.is_none()
    {
        return Err(Error::NotFound("No connection found by that id".into()));
    }
    // Every role named exists and may be given in this organization (none named: nothing to check).
    member_roles::check_roles_exist(&ctx, &org.id, &input.body_strings("roles")).await?;
    let token = ids::client_id();
    let id = ids::prefixed("uinv", 16);
    let now = time::now();
    let expires = expires_at(req.get("ttl_sec").and_then(Value::as_i64).unwrap_or(0));
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    body.insert("organization_id".into(), json!(org.id));
    for k in [
        "inviter",
        "invitee",
        "client_id",
        "connection_id",
        "app_metadata",
        "user_metadata",
        "roles",
    ] {
        if let Some(v) = req.get(k).filter(|v| !v.is_null()) {
            body.insert(k.into(), v.clone());
        }
    }
    body.insert("created_at".into(), json!(now));
    body.insert("expires_at".into(), json!(expires));
    body.insert("ticket_id".into(), json!(ids::client_id()));
    let row = InvitationRow {
        id,
        organization_id: org.id.clone(),
        ticket_hash: ticket_hash(&token),
        body: Value::Object(body),
        expires_at: expires,
        created_at: now,
    };
    let (org_id, row_ref) = (org.id.as_str(), &row);
    atomically(|| async move {
        let tx = db.begin().await?;
        // The organization may have gone since it was read: the invitation goes in with it locked.
        organizations::find_for_update(&tx, tenant, org_id)
            .await?
            .ok_or_else(not_found)?;
        organizations::insert_invitation(&tx, tenant, row_ref).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    let mut out = row.body.clone();
    if let Value::Object(o) = &mut out {
        o.insert(
            "invitation_url".into(),
            json!(invitation_url(login, &token, &org.id, &org.name)),
        );
    }
    // Auth0 answers 201 (recorded by go-auth0), whatever the spec says.
    Ok(Reply::with_status(
        201,
        shown(out, &crate::spine::Query::default()),
    ))
}

async fn get_invitations(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let org = find(&ctx, input.path("id")).await?;
    let paging = Paging::from_query(&input.query);
    let newest_first = input.query.get("sort") != Some("created_at:1");
    let (rows, _) = organizations::invitations(
        ctx.db(),
        ctx.tenant_id(),
        &org.id,
        newest_first,
        paging.store_page(),
    )
    .await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|i| shown(i.body, &input.query))
        .collect();
    if !paging.include_totals {
        return Ok(Reply::json(Value::Array(items)));
    }
    // Auth0's envelope of invitations has no `total`.
    Ok(Reply::json(json!({
        "start": paging.store_page().offset,
        "limit": paging.per_page,
        "invitations": items,
    })))
}

async fn get_invitations_by_invitation_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let org = find(&ctx, input.path("id")).await?;
    let i = organizations::find_invitation(
        ctx.db(),
        ctx.tenant_id(),
        &org.id,
        input.path("invitation_id"),
    )
    .await?
    .ok_or_else(no_invitation)?;
    Ok(Reply::json(shown(i.body, &input.query)))
}

async fn delete_invitations_by_invitation_id(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let org = find(&ctx, input.path("id")).await?;
    if !organizations::delete_invitation(
        ctx.db(),
        ctx.tenant_id(),
        &org.id,
        input.path("invitation_id"),
    )
    .await?
    {
        return Err(no_invitation());
    }
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_hash() {
        assert_eq!(
            invitation_url("https://app.example/login", "Tok3n", "org_1", "acme-co"),
            "https://app.example/login?invitation=Tok3n&organization=org_1&organization_name=acme-co"
        );
        assert!(
            invitation_url("https://a/l?x=1", "t", "o", "n")
                .starts_with("https://a/l?x=1&invitation=t")
        );
        let h = ticket_hash("abc");
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn ttl() {
        let now = ::time::OffsetDateTime::now_utc();
        let parse = |s: &str| {
            ::time::OffsetDateTime::parse(s, &::time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let d = parse(&expires_at(0)) - now;
        assert!((d.whole_seconds() - DEFAULT_TTL).abs() <= 2, "{d}");
        let d = parse(&expires_at(60)) - now;
        assert!((d.whole_seconds() - 60).abs() <= 2, "{d}");
    }
}
