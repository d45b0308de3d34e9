//! Discovery domains of an organization: a domain, its verification (a TXT record to publish
//! at `_ss-verification.{org_id}.{domain}`) and whether it is used for organization discovery.

use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{
    atomically,
    db::is_unique_violation,
    organizations::{self, DomainRow},
};

use super::{cursor, find, not_found};
use crate::spine::{Ctx, Input, Registry, Reply, page::Checkpoint};

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetDiscoveryDomains, get_discovery_domains);
    reg.add(Op::PostDiscoveryDomains, post_discovery_domains);
    reg.add(
        Op::GetDiscoveryDomainsByDiscoveryDomainId,
        get_discovery_domains_by_discovery_domain_id,
    );
    reg.add(Op::GetNameByDiscoveryDomain, get_name_by_discovery_domain);
    reg.add(
        Op::PatchDiscoveryDomainsByDiscoveryDomainId,
        patch_discovery_domains_by_discovery_domain_id,
    );
    reg.add(
        Op::DeleteDiscoveryDomainsByDiscoveryDomainId,
        delete_discovery_domains_by_discovery_domain_id,
    );
}

const KEY_ORDER: &[&str] = &[
    "id",
    "domain",
    "status",
    "verification_host",
    "verification_txt",
    "use_for_organization_discovery",
];

/// Auth0's 404 of a domain (recorded without an errorCode).
fn no_domain() -> Error {
    Error::NotFound("No organization domain found by that id".into())
}

fn conflict() -> Error {
    Error::conflict(
        "organization_discovery_domain_conflict",
        "The domain already exists for this organization",
    )
}

/// A host name as the schema describes a domain: dot-separated labels of letters, digits and
/// inner hyphens.
fn valid_domain(d: &str) -> bool {
    (3..=255).contains(&d.len())
        && d.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn shown(body: Value) -> Value {
    match body {
        Value::Object(o) => Value::Object(super::order_keys(o, KEY_ORDER)),
        other => other,
    }
}

/// 32 hex characters (128 random bits), the TXT record's value.
fn verification_txt() -> String {
    ids::hex24() + &ids::hex24()[..8]
}

async fn get_discovery_domains(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let org = find(&ctx, input.path("id")).await?;
    let cp = Checkpoint::from_query(&input.query).unwrap_or(Checkpoint {
        from: None,
        take: 50,
    });
    let after = cursor::decode_seq(cp.from.as_deref())?;
    let rows = organizations::domains_after(
        ctx.db(),
        ctx.tenant_id(),
        &org.id,
        after.as_ref().map(|(s, i)| (*s, i.as_str())),
        cp.take,
    )
    .await?;
    // A full page may have more after it; a short one is the last.
    let next = (rows.len() as i64 == cp.take)
        .then(|| rows.last().map(|d| cursor::encode_seq(d.seq, &d.id)))
        .flatten();
    let items = rows.into_iter().map(|d| shown(d.body)).collect();
    Ok(Reply::json(cursor::reply("domains", items, next)))
}

async fn post_discovery_domains(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let req = input.body_object();
    let domain = req
        .get("domain")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !valid_domain(&domain) {
        return Err(Error::bad_body(format!(
            "Payload validation error: 'String does not match pattern: {}' on property domain.",
            r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$"
        )));
    }
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let (req, domain) = (&req, &domain);
    let row = atomically(|| async move {
        let tx = db.begin().await?;
        let org = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        if organizations::find_domain_by_name(&tx, tenant, &org.id, domain)
            .await?
            .is_some()
        {
            return Err(conflict());
        }
        let did = ids::prefixed("ord", 22);
        let mut body = Map::new();
        body.insert("id".into(), json!(did));
        body.insert("domain".into(), json!(domain));
        body.insert(
            "status".into(),
            req.get("status").cloned().unwrap_or(json!("pending")),
        );
        body.insert(
            "verification_host".into(),
            json!(format!("_ss-verification.{}.{domain}", org.id)),
        );
        body.insert("verification_txt".into(), json!(verification_txt()));
        body.insert(
            "use_for_organization_discovery".into(),
            req.get("use_for_organization_discovery")
                .cloned()
                .unwrap_or(json!(true)),
        );
        let now = time::now();
        let row = DomainRow {
            id: did,
            domain: domain.clone(),
            body: Value::Object(body),
            seq: 0,
            created_at: now.clone(),
            updated_at: now,
        };
        match organizations::insert_domain(&tx, tenant, &org.id, &row).await {
            Ok(()) => {}
            Err(e) if is_unique_violation(&e) => return Err(conflict()),
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(row)
    })
    .await?;
    Ok(Reply::json(row.body))
}

async fn get_discovery_domains_by_discovery_domain_id(
    ctx: Ctx,
    input: Input,
) -> Result<Reply, Error> {
    let org = find(&ctx, input.path("id")).await?;
    let d = organizations::find_domain(
        ctx.db(),
        ctx.tenant_id(),
        &org.id,
        input.path("discovery_domain_id"),
    )
    .await?
    .ok_or_else(no_domain)?;
    Ok(Reply::json(shown(d.body)))
}

async fn get_name_by_discovery_domain(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let org = find(&ctx, input.path("id")).await?;
    let d = organizations::find_domain_by_name(
        ctx.db(),
        ctx.tenant_id(),
        &org.id,
        &input.path("discovery_domain").to_ascii_lowercase(),
    )
    .await?
    .ok_or_else(no_domain)?;
    Ok(Reply::json(shown(d.body)))
}

async fn patch_discovery_domains_by_discovery_domain_id(
    ctx: Ctx,
    input: Input,
) -> Result<Reply, Error> {
    let req = input.body_object();
    let (db, tenant, id, did, req) = (
        ctx.db(),
        ctx.tenant_id(),
        input.path("id"),
        input.path("discovery_domain_id"),
        &req,
    );
    let d = atomically(|| async move {
        let tx = db.begin().await?;
        let org = organizations::find_for_update(&tx, tenant, id)
            .await?
            .ok_or_else(not_found)?;
        let mut d = organizations::find_domain(&tx, tenant, &org.id, did)
            .await?
            .ok_or_else(no_domain)?;
        let mut body = d.body.as_object().cloned().unwrap_or_default();
        for k in ["status", "use_for_organization_discovery"] {
            if let Some(v) = req.get(k).filter(|v| !v.is_null()) {
                body.insert(k.into(), v.clone());
            }
        }
        d.body = shown(Value::Object(body));
        d.updated_at = time::now();
        organizations::update_domain(&tx, tenant, &org, &d).await?;
        tx.commit().await?;
        Ok::<_, Error>(d)
    })
    .await?;
    Ok(Reply::json(d.body))
}

async fn delete_discovery_domains_by_discovery_domain_id(
    ctx: Ctx,
    input: Input,
) -> Result<Reply, Error> {
    // Deleting a domain that is not (or no longer) there is no error: Auth0 answers 204 to a
    // repeated delete (recorded: TestAccOrgDiscoveryDomainsImport).
    let org = find(&ctx, input.path("id")).await?;
    organizations::delete_domain(
        ctx.db(),
        ctx.tenant_id(),
        &org.id,
        input.path("discovery_domain_id"),
    )
    .await?;
    Ok(Reply::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        for ok in ["example.com", "a-b.example.co", "x1.y2.z3", "localhost"] {
            assert!(valid_domain(ok), "{ok}");
        }
        for bad in [
            "", "ab", "-a.com", "a-.com", "a..com", "a b.com", "a_b.com", ".com",
        ] {
            assert!(!valid_domain(bad), "{bad}");
        }
        let t = verification_txt();
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
