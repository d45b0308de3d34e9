//! Tag `custom-domains`: the tenant's custom domains, each a document (`custom_domain`, keyed
//! by its `custom_domain_id`), with real behaviour where Auth0 has it:
//!
//! - a domain name is taken once per tenant (case-insensitive): a `custom_domain_name` document
//!   keyed by the lower-cased name, made in the creation's transaction, says by whom;
//! - verification is honest: `POST /{id}/verify` looks the verification record up in DNS (the
//!   CNAME of the domain for Auth0-managed certificates, the TXT record at
//!   `_cf-custom-hostname.<domain>` for self-managed ones) through the resolver the server is
//!   configured with (`--dns-resolver`, else the system's); only a record found there makes the
//!   domain `ready`;
//! - one verified domain may be the tenant's default (`primary` and `is_default`); the
//!   `custom_domain_default` document names it and is the row that serialises changes of it.
//!
//! Where Auth0's edge would be, Gatehouse names itself: the CNAME target and the origin of a
//! domain are `<tenant>-cd-<id>.edge.tenants.<the issuer's host>`.

use std::{net::SocketAddr, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, ids, time};
use gatehouse_spec::Op;
use gatehouse_store::{Page, atomically, docs};

use crate::spine::{Ctx, Input, Registry, Reply, page::project};

const KIND: &str = "custom_domain";
/// Who holds a domain name: `{custom_domain_id}` under the lower-cased name.
const NAME_KIND: &str = "custom_domain_name";
/// The tenant's default domain: `{custom_domain_id?}`.
const DEFAULT: (&str, &str) = ("custom_domain_default", "default");

const AUTH0_MANAGED: &str = "auth0_managed_certs";
const READY: &str = "ready";

pub fn register(reg: &mut Registry) {
    reg.add(Op::PostCustomDomains, create);
    reg.add(Op::GetCustomDomains, list);
    reg.add(Op::GetCustomDomainsById, get);
    reg.add(Op::PatchCustomDomainsById, patch);
    reg.add(Op::DeleteCustomDomainsById, delete);
    reg.add(Op::PostVerify, verify);
    reg.add(Op::PostTestDomain, test);
    reg.add(Op::GetDefault, get_default);
    reg.add(Op::PatchDefault, set_default);
}

/// Recorded (go-auth0 TestCustomDomainManager_Delete, 2025): the id (or name) in the message.
fn no_domain(which: &str) -> Error {
    Error::not_found(
        "inexistent_custom_domain",
        format!("The custom domain {which} does not exist"),
    )
}

/// The message is Auth0's (auth0-deploy-cli#1210); the errorCode is not recorded.
fn domain_taken() -> Error {
    Error::conflict(
        "custom_domain_conflict",
        "The specified custom domain already exists.",
    )
}

/// Recorded (TestAccCustomDomainDefault#4).
fn not_verified() -> Error {
    Error::bad_body("The domain must be verified before it can be set as default.")
}

fn bad_query(detail: &str) -> Error {
    Error::InvalidQueryString(format!("Query validation error: {detail}").into())
}

/// The keys of a domain in the order Auth0 prints them; `cname_api_key` only in the verify
/// reply of a self-managed domain.
const ORDER: &[&str] = &[
    "custom_domain_id",
    "domain",
    "primary",
    "is_default",
    "status",
    "type",
    "origin_domain_name",
    "cname_api_key",
    "verification",
    "tls_policy",
    "custom_client_ip_header",
    "domain_metadata",
    "certificate",
    "created_at",
    "relying_party_identifier",
];

/// A stored domain as the API shows it.
fn shown(doc: &Value, with_api_key: bool) -> Value {
    let Some(o) = doc.as_object() else {
        return doc.clone();
    };
    Value::Object(
        ORDER
            .iter()
            .filter(|k| with_api_key || **k != "cname_api_key")
            .filter_map(|k| Some(((*k).to_owned(), o.get(*k)?.clone())))
            .collect(),
    )
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// The issuer's host (`id.example.com` of `https://id.example.com:8443/`).
fn issuer_host(ctx: &Ctx) -> String {
    host_of(&authority(&ctx.tenant.issuer)).to_owned()
}

/// The host of a `host[:port]` (`[v6]:port` gives `v6`).
fn host_of(authority: &str) -> &str {
    match authority.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => authority.split(':').next().unwrap_or(authority),
    }
}

/// The issuer's `host[:port]`: the name a client gives this server as its domain.
fn authority(issuer: &str) -> String {
    let rest = issuer.split_once("://").map_or(issuer, |(_, r)| r);
    rest.split('/').next().unwrap_or_default().to_owned()
}

/// Where a domain points: `<tenant>-cd-<id>.edge.tenants.<issuer host>`, as Auth0's
/// `<tenant>-cd-<id>.edge.tenants.<region>.auth0.com`.
fn edge_host(ctx: &Ctx, id: &str) -> String {
    let short = id.strip_prefix("cd_").unwrap_or(id).to_ascii_lowercase();
    format!(
        "{}-cd-{short}.edge.tenants.{}",
        ctx.tenant_id(),
        issuer_host(ctx)
    )
}

/// A new domain from the creation body (validated by the spec: `domain` and `type` present).
fn new_domain(ctx: &Ctx, id: &str, body: &Map<String, Value>) -> Value {
    let body_value = Value::Object(body.clone());
    let domain = str_of(&body_value, "domain");
    let kind = str_of(&body_value, "type");
    let managed = kind == AUTH0_MANAGED;
    let method = if managed {
        json!({"name": "CNAME", "record": edge_host(ctx, id), "domain": domain})
    } else {
        json!({"name": "TXT", "record": ids::uuid_v4(), "domain": format!("_cf-custom-hostname.{domain}")})
    };
    let mut o = Map::new();
    o.insert("custom_domain_id".into(), json!(id));
    o.insert("domain".into(), json!(domain));
    o.insert("primary".into(), json!(false));
    o.insert("is_default".into(), json!(false));
    o.insert("status".into(), json!("pending_verification"));
    o.insert("type".into(), json!(kind));
    o.insert("verification".into(), json!({ "methods": [method] }));
    match body.get("tls_policy") {
        Some(p) => {
            o.insert("tls_policy".into(), p.clone());
        }
        None if managed => {
            o.insert("tls_policy".into(), json!("recommended"));
        }
        None => {}
    }
    match body.get("custom_client_ip_header") {
        Some(h) => {
            o.insert("custom_client_ip_header".into(), h.clone());
        }
        None if !managed => {
            o.insert("custom_client_ip_header".into(), Value::Null);
        }
        None => {}
    }
    if let Some(Value::Object(meta)) = body.get("domain_metadata") {
        let kept: Map<String, Value> = meta
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        o.insert("domain_metadata".into(), Value::Object(kept));
    }
    o.insert("created_at".into(), json!(time::now()));
    if let Some(rp @ Value::String(_)) = body.get("relying_party_identifier") {
        o.insert("relying_party_identifier".into(), rp.clone());
    }
    Value::Object(o)
}

async fn create(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let body = input.body_object();
    let id = ids::prefixed("cd", 16);
    let doc = new_domain(&ctx, &id, &body);
    let name = str_of(&doc, "domain").to_ascii_lowercase();
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let (doc_ref, id_ref, name_ref) = (&doc, id.as_str(), name.as_str());
    atomically(|| async move {
        let tx = db.begin().await?;
        let now = time::now();
        let owner = json!({ "custom_domain_id": id_ref });
        let held = docs::lock_or_create(&tx, tenant, NAME_KIND, name_ref, &owner, &now).await?;
        if held != owner {
            return Err(domain_taken());
        }
        docs::put(&tx, tenant, KIND, id_ref, doc_ref, &now).await?;
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::json(shown(&doc, false)))
}

async fn get(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    let doc = docs::get(ctx.db(), ctx.tenant_id(), KIND, id)
        .await?
        .ok_or_else(|| no_domain(id))?;
    Ok(Reply::json(shown(&doc, false)))
}

/// The writable settings: `tls_policy`, `custom_client_ip_header`, `relying_party_identifier`
/// (`null` removes it) and `domain_metadata` (merged key by key; a `null` removes the key).
fn apply_patch(doc: &mut Value, body: &Map<String, Value>) -> Result<(), Error> {
    let Value::Object(o) = doc else {
        return Ok(());
    };
    for (k, v) in body {
        match (k.as_str(), v) {
            ("domain_metadata", Value::Object(changes)) => {
                let meta = o
                    .entry("domain_metadata")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !meta.is_object() {
                    *meta = Value::Object(Map::new());
                }
                if let Value::Object(m) = meta {
                    for (mk, mv) in changes {
                        if mv.is_null() {
                            m.remove(mk);
                        } else {
                            m.insert(mk.clone(), mv.clone());
                        }
                    }
                    if m.len() > 10 {
                        return Err(Error::bad_body(
                            "Payload validation error: 'Too many properties, properties count must be <= 10' on property domain_metadata.",
                        ));
                    }
                }
            }
            ("relying_party_identifier", Value::Null) => {
                o.remove(k);
            }
            ("tls_policy" | "custom_client_ip_header" | "relying_party_identifier", _) => {
                o.insert(k.clone(), v.clone());
            }
            // The spec refuses anything else before the handler runs.
            _ => {}
        }
    }
    Ok(())
}

async fn patch(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let body = &input.body_object();
    let doc = atomically(|| async move {
        let tx = db.begin().await?;
        let mut doc = docs::lock(&tx, tenant, KIND, id)
            .await?
            .ok_or_else(|| no_domain(id))?;
        apply_patch(&mut doc, body)?;
        docs::put(&tx, tenant, KIND, id, &doc, &time::now()).await?;
        tx.commit().await?;
        Ok::<_, Error>(doc)
    })
    .await?;
    Ok(Reply::json(shown(&doc, false)))
}

/// Deletes the domain, frees its name, and when it was the default, the tenant has none; a
/// domain that is not there is no error.
async fn delete(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    atomically(|| async move {
        let tx = db.begin().await?;
        let now = time::now();
        let (dkind, dkey) = DEFAULT;
        let default = docs::lock_or_create(&tx, tenant, dkind, dkey, &json!({}), &now).await?;
        // Deleting a domain that is not there is no error (recorded: go-auth0
        // TestCustomDomainManager_Delete, a second DELETE answered 204).
        let Some(doc) = docs::lock(&tx, tenant, KIND, id).await? else {
            return Ok(());
        };
        docs::delete(&tx, tenant, KIND, id).await?;
        let name = str_of(&doc, "domain").to_ascii_lowercase();
        let holder = docs::lock(&tx, tenant, NAME_KIND, &name).await?;
        if holder.as_ref().map(|h| str_of(h, "custom_domain_id")) == Some(id) {
            docs::delete(&tx, tenant, NAME_KIND, &name).await?;
        }
        if str_of(&default, "custom_domain_id") == id {
            docs::put(&tx, tenant, dkind, dkey, &json!({}), &now).await?;
        }
        tx.commit().await?;
        Ok::<_, Error>(())
    })
    .await?;
    Ok(Reply::empty())
}

/// Looks the domain's verification record up in DNS; when it is there, the domain is `ready`.
/// When it is not, the domain is answered as it is (Auth0 keeps it `pending_verification`).
async fn verify(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant, id) = (ctx.db(), ctx.tenant_id(), input.path("id"));
    let doc = docs::get(db, tenant, KIND, id)
        .await?
        .ok_or_else(|| no_domain(id))?;
    let method = doc
        .pointer("/verification/methods/0")
        .cloned()
        .unwrap_or(Value::Null);
    let found = dns::has_record(
        ctx.state.dns_resolver,
        str_of(&method, "name"),
        str_of(&method, "domain"),
        str_of(&method, "record"),
    )
    .await;
    let doc = if found {
        let origin = &edge_host(&ctx, id);
        atomically(|| async move {
            let tx = db.begin().await?;
            let mut doc = docs::lock(&tx, tenant, KIND, id)
                .await?
                .ok_or_else(|| no_domain(id))?;
            mark_ready(&mut doc, origin);
            docs::put(&tx, tenant, KIND, id, &doc, &time::now()).await?;
            tx.commit().await?;
            Ok::<_, Error>(doc)
        })
        .await?
    } else {
        doc
    };
    let with_key = str_of(&doc, "type") != AUTH0_MANAGED && str_of(&doc, "status") == READY;
    Ok(Reply::json(shown(&doc, with_key)))
}

/// `ready`, verified now, with its origin; a self-managed domain gets the key its proxy sends
/// to the origin (`cname-api-key`), once.
fn mark_ready(doc: &mut Value, origin: &str) {
    let self_managed = str_of(doc, "type") != AUTH0_MANAGED;
    let Value::Object(o) = doc else { return };
    o.insert("status".into(), json!(READY));
    let now = time::now();
    // Auth0 prints this one to the second.
    let when = format!("{}Z", now.get(..19).unwrap_or(&now));
    if let Some(Value::Object(v)) = o.get_mut("verification") {
        v.insert("status".into(), json!("verified"));
        v.insert("last_verified_at".into(), json!(when));
    }
    o.entry("origin_domain_name")
        .or_insert_with(|| json!(origin));
    if self_managed {
        o.entry("cname_api_key")
            .or_insert_with(|| json!(ids::hex_key(64)));
    }
}

/// Whether the domain is ready to serve: Gatehouse has no edge of its own to probe, so a test
/// succeeds when the domain's DNS record was verified.
async fn test(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    let doc = docs::get(ctx.db(), ctx.tenant_id(), KIND, id)
        .await?
        .ok_or_else(|| no_domain(id))?;
    Ok(Reply::json(if str_of(&doc, "status") == READY {
        json!({"success": true})
    } else {
        json!({"success": false, "message": "The domain must be verified before it can be tested."})
    }))
}

/// The default domain, or the server's own name when there is none.
async fn get_default(ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let (dkind, dkey) = DEFAULT;
    let default = docs::get(db, tenant, dkind, dkey).await?;
    let id = default.as_ref().map(|d| str_of(d, "custom_domain_id"));
    if let Some(id) = id.filter(|id| !id.is_empty())
        && let Some(doc) = docs::get(db, tenant, KIND, id).await?
    {
        return Ok(Reply::json(shown(&doc, false)));
    }
    Ok(Reply::json(
        json!({ "domain": authority(&ctx.tenant.issuer) }),
    ))
}

/// Makes the named (verified) domain the default: `primary` and `is_default`; the previous
/// default loses both.
async fn set_default(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (db, tenant) = (ctx.db(), ctx.tenant_id());
    let name = &str_of(&input.body, "domain").to_ascii_lowercase();
    let doc = atomically(|| async move {
        let tx = db.begin().await?;
        let now = time::now();
        let (dkind, dkey) = DEFAULT;
        let default = docs::lock_or_create(&tx, tenant, dkind, dkey, &json!({}), &now).await?;
        let holder = docs::get(&tx, tenant, NAME_KIND, name)
            .await?
            .ok_or_else(|| no_domain(name))?;
        let id = str_of(&holder, "custom_domain_id");
        let mut doc = docs::lock(&tx, tenant, KIND, id)
            .await?
            .ok_or_else(|| no_domain(name))?;
        if str_of(&doc, "status") != READY {
            return Err(not_verified());
        }
        let previous = str_of(&default, "custom_domain_id");
        if !previous.is_empty()
            && previous != id
            && let Some(mut old) = docs::lock(&tx, tenant, KIND, previous).await?
        {
            set_flags(&mut old, false);
            docs::put(&tx, tenant, KIND, previous, &old, &now).await?;
        }
        set_flags(&mut doc, true);
        docs::put(&tx, tenant, KIND, id, &doc, &now).await?;
        docs::put(
            &tx,
            tenant,
            dkind,
            dkey,
            &json!({ "custom_domain_id": id }),
            &now,
        )
        .await?;
        tx.commit().await?;
        Ok::<_, Error>(doc)
    })
    .await?;
    Ok(Reply::json(shown(&doc, false)))
}

fn set_flags(doc: &mut Value, default: bool) {
    if let Value::Object(o) = doc {
        o.insert("primary".into(), json!(default));
        o.insert("is_default".into(), json!(default));
    }
}

// ---- the list ---------------------------------------------------------------------------------

/// One condition of `q`: `field:value`, `value*` for a prefix.
#[derive(Debug, PartialEq)]
struct Term {
    field: &'static str,
    value: String,
    prefix: bool,
}

impl Term {
    fn matches(&self, doc: &Value) -> bool {
        let have = str_of(doc, self.field).to_ascii_lowercase();
        if self.prefix {
            have.starts_with(&self.value)
        } else {
            have == self.value
        }
    }
}

/// `q`: terms joined by `AND` (`domain:login*`, `domain:login.example.com`,
/// `status:pending_verification`, `type:self_managed_certs`; values may be quoted).
fn parse_q(q: &str) -> Result<Vec<Term>, Error> {
    let mut terms = Vec::new();
    for (i, token) in q.split_whitespace().enumerate() {
        if i % 2 == 1 {
            if !token.eq_ignore_ascii_case("AND") {
                return Err(bad_query(&format!(
                    "'Only AND may join conditions, found {token}' on property q."
                )));
            }
            continue;
        }
        let (field, value) = token
            .split_once(':')
            .ok_or_else(|| bad_query(&format!("'Invalid condition {token}' on property q.")))?;
        let field = match field {
            "domain" => "domain",
            "status" => "status",
            "type" => "type",
            "custom_domain_id" => "custom_domain_id",
            other => {
                return Err(bad_query(&format!(
                    "'Cannot search by {other}' on property q."
                )));
            }
        };
        let value = value.trim_matches('"');
        let (value, prefix) = match value.strip_suffix('*') {
            Some(v) => (v, true),
            None => (value, false),
        };
        if value.is_empty() && !prefix {
            return Err(bad_query(&format!(
                "'Invalid condition {token}' on property q."
            )));
        }
        terms.push(Term {
            field,
            value: value.to_ascii_lowercase(),
            prefix,
        });
    }
    if terms.is_empty() || q.split_whitespace().count().is_multiple_of(2) {
        return Err(bad_query("'Invalid query' on property q."));
    }
    Ok(terms)
}

/// Where a domain sits in the list: its creation time (or its name with `sort=domain:1`), then
/// its id.
fn sort_key(doc: &Value, by_domain: bool) -> (String, String) {
    let first = if by_domain {
        str_of(doc, "domain").to_ascii_lowercase()
    } else {
        str_of(doc, "created_at").to_owned()
    };
    (first, str_of(doc, "custom_domain_id").to_owned())
}

fn encode_cursor(key: &(String, String)) -> String {
    URL_SAFE_NO_PAD.encode(json!([key.0, key.1]).to_string())
}

fn decode_cursor(from: &str) -> Result<(String, String), Error> {
    let bad = || bad_query("'Invalid value for from' on property from.");
    let raw = URL_SAFE_NO_PAD.decode(from).map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    match v.as_array().map(Vec::as_slice) {
        Some([Value::String(a), Value::String(b)]) => Ok((a.clone(), b.clone())),
        _ => Err(bad()),
    }
}

/// The domains: a bare array, or with `q`, `take` or `from` a checkpoint page
/// `{custom_domains, next?}` (`next` only when more follow).
async fn list(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let q = &input.query;
    let terms = match q.get("q").map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => parse_q(s)?,
        None => Vec::new(),
    };
    let by_domain = q.get("sort").is_some();
    let (all, _) = docs::list(ctx.db(), ctx.tenant_id(), KIND, Page::ALL).await?;
    let mut items: Vec<((String, String), Value)> = all
        .into_iter()
        .filter(|d| terms.iter().all(|t| t.matches(d)))
        .map(|d| (sort_key(&d, by_domain), d))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let show = |d: &Value| project(shown(d, false), q);
    let paged = q.get("q").is_some() || q.get("take").is_some() || q.get("from").is_some();
    if !paged {
        return Ok(Reply::json(Value::Array(
            items.iter().map(|(_, d)| show(d)).collect(),
        )));
    }
    let take = usize::try_from(q.i64("take").unwrap_or(50).clamp(1, 100)).unwrap_or(50);
    let after = match q.get("from").filter(|f| !f.is_empty()) {
        Some(f) => Some(decode_cursor(f)?),
        None => None,
    };
    let rest: Vec<&((String, String), Value)> = items
        .iter()
        .filter(|(k, _)| after.as_ref().is_none_or(|a| k > a))
        .collect();
    let page = rest.get(..take).unwrap_or(&rest);
    let mut env = Map::new();
    env.insert(
        "custom_domains".into(),
        Value::Array(page.iter().map(|(_, d)| show(d)).collect()),
    );
    if rest.len() > page.len()
        && let Some((last, _)) = page.last()
    {
        env.insert("next".into(), json!(encode_cursor(last)));
    }
    Ok(Reply::json(Value::Object(env)))
}

// ---- DNS ----------------------------------------------------------------------------------------

mod dns {
    use super::*;

    use hickory_resolver::{
        Resolver, TokioResolver,
        config::{NameServerConfig, ResolveHosts, ResolverConfig},
        net::runtime::TokioRuntimeProvider,
        proto::rr::{RData, RecordType},
    };

    /// How long one verification may wait for DNS.
    const BUDGET: Duration = Duration::from_secs(8);

    /// Whether DNS holds the verification record: a CNAME of `host` to `expected` (`method`
    /// `CNAME`), or a TXT record at `host` reading `expected`. A failed lookup is "not there"
    /// (logged).
    pub async fn has_record(
        resolver: Option<SocketAddr>,
        method: &str,
        host: &str,
        expected: &str,
    ) -> bool {
        if host.is_empty() || expected.is_empty() {
            return false;
        }
        match tokio::time::timeout(BUDGET, lookup(resolver, method, host, expected)).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::info!(error = %e, host, "custom domain verification: DNS lookup failed");
                false
            }
            Err(_) => {
                tracing::info!(host, "custom domain verification: DNS lookup timed out");
                false
            }
        }
    }

    fn resolver(at: Option<SocketAddr>) -> anyhow::Result<TokioResolver> {
        let mut builder = match at {
            Some(addr) => {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut server.connections {
                    c.port = addr.port();
                }
                Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![server]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => Resolver::builder_tokio()?,
        };
        let opts = builder.options_mut();
        opts.timeout = Duration::from_secs(3);
        opts.attempts = 1;
        // Every verification asks again: a record just added must be seen.
        opts.cache_size = 0;
        opts.use_hosts_file = ResolveHosts::Never;
        Ok(builder.build()?)
    }

    fn same_host(a: &str, b: &str) -> bool {
        a.trim_end_matches('.')
            .eq_ignore_ascii_case(b.trim_end_matches('.'))
    }

    async fn lookup(
        at: Option<SocketAddr>,
        method: &str,
        host: &str,
        expected: &str,
    ) -> anyhow::Result<bool> {
        let r = resolver(at)?;
        let fqdn = format!("{}.", host.trim_end_matches('.'));
        let cname = method.eq_ignore_ascii_case("CNAME");
        let kind = if cname {
            RecordType::CNAME
        } else {
            RecordType::TXT
        };
        let found = match r.lookup(fqdn.as_str(), kind).await {
            Ok(found) => found,
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        Ok(found.answers().iter().any(|rec| match &rec.data {
            RData::CNAME(target) if cname => same_host(&target.0.to_ascii(), expected),
            RData::TXT(txt) if !cname => {
                let text: Vec<u8> = txt
                    .txt_data
                    .iter()
                    .flat_map(|s| s.iter().copied())
                    .collect();
                text == expected.as_bytes()
            }
            _ => false,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_terms() {
        let t = parse_q("domain:Demo* AND status:pending_verification").unwrap();
        assert_eq!(
            t,
            vec![
                Term {
                    field: "domain",
                    value: "demo".into(),
                    prefix: true
                },
                Term {
                    field: "status",
                    value: "pending_verification".into(),
                    prefix: false
                }
            ]
        );
        assert!(t[0].matches(&json!({"domain": "demo.example.com"})));
        assert!(!t[0].matches(&json!({"domain": "beacon.example.com"})));
        for bad in [
            "name:x",
            "domain",
            "domain:a OR status:ready",
            "domain:a AND",
            "domain:",
        ] {
            assert_eq!(parse_q(bad).unwrap_err().status().as_u16(), 400, "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip() {
        let k = ("2026-01-01T00:00:00.000Z".to_owned(), "cd_x".to_owned());
        assert_eq!(decode_cursor(&encode_cursor(&k)).unwrap(), k);
        assert!(decode_cursor("!!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("[1]")).is_err());
    }

    #[test]
    fn patch_merges_metadata_and_removes_rp() {
        let mut d = json!({"domain_metadata": {"key1": "value1", "key2": "value2"}, "relying_party_identifier": "x.com"});
        let body = json!({"domain_metadata": {"key1": "value3", "key2": null}, "relying_party_identifier": null, "tls_policy": "recommended"});
        apply_patch(&mut d, body.as_object().unwrap()).unwrap();
        assert_eq!(
            d,
            json!({"domain_metadata": {"key1": "value3"}, "tls_policy": "recommended"})
        );
        let many: Map<String, Value> = (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
        let body = json!({ "domain_metadata": many });
        assert!(apply_patch(&mut d, body.as_object().unwrap()).is_err());
    }

    #[test]
    fn authority_of_issuer() {
        assert_eq!(authority("http://127.0.0.1:3000/"), "127.0.0.1:3000");
        assert_eq!(authority("https://id.example.com/"), "id.example.com");
        assert_eq!(host_of("127.0.0.1:3000"), "127.0.0.1");
        assert_eq!(host_of("[::1]:3000"), "::1");
        assert_eq!(host_of("id.example.com"), "id.example.com");
    }
}
