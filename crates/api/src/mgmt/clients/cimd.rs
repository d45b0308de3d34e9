//! Client ID Metadata Documents (CIMD): `POST /clients/cimd/preview` and
//! `POST /clients/cimd/register`. The client's `external_client_id` is the HTTPS URL of a JSON
//! document describing it; Gatehouse fetches it, checks it, maps it onto a client and (register)
//! creates or refreshes that client through the clients family's own create and update paths.
//!
//! The fetch is guarded: HTTPS only, 5 s, 5 KB, no redirects, no proxy, and never a private,
//! loopback, link-local or otherwise non-public address: the host is resolved first, every
//! address is vetted, and the connection is pinned to a vetted address (so a second DNS answer
//! cannot point it elsewhere). The TLS certificate is checked against the public web PKI
//! (webpki roots).

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use anyhow::Context;
use serde_json::{Map, Value, json};
use url::Url;

use gatehouse_core::{Error, net::is_public};
use gatehouse_store::{
    Page,
    clients::{self, ClientFilter, ClientRow},
};

use crate::spine::{Ctx, Input, Reply};

const MAX_URL: usize = 120;
const MAX_DOCUMENT: usize = 5 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);

/// Checks the URL of a metadata document (Auth0's documented rules); the parsed URL, or why not.
pub fn url_rules(raw: &str) -> Result<Url, String> {
    if raw.trim() != raw {
        return Err("The URL must not have surrounding whitespace".into());
    }
    if raw.len() > MAX_URL {
        return Err(format!("The URL must be at most {MAX_URL} bytes"));
    }
    let bytes = raw.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'%'
            && !(bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return Err("A '%' must be followed by two hexadecimal digits".into());
        }
    }
    if raw.contains('#') {
        return Err("The URL must not have a fragment".into());
    }
    if raw.contains('?') {
        return Err("The URL must not have a query".into());
    }
    let lower = raw.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("https://") else {
        return Err("The URL must use https".into());
    };
    // Dot segments, also percent-encoded (checked before the parser removes them).
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    if path.split('/').any(|seg| {
        let seg = seg.replace("%2e", ".");
        seg == "." || seg == ".."
    }) {
        return Err("The URL path must not have '.' or '..' segments".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("The URL is not valid: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("The URL must not have user information".into());
    }
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err("The URL must have a host".into());
    }
    if matches!(host, "localhost" | "127.0.0.1" | "[::1]") || host.ends_with(".localhost") {
        return Err("The URL's host must not be localhost".into());
    }
    if url.port() == Some(0) {
        return Err("The URL's port must not be 0".into());
    }
    if url.path() == "/" || url.path().is_empty() {
        return Err("The URL must have a path".into());
    }
    Ok(url)
}

/// The vetted addresses of the URL's host (an IP literal is vetted as it is).
async fn vetted_address(url: &Url) -> Result<SocketAddr, String> {
    let port = url.port_or_known_default().unwrap_or(443);
    let refused = || "The URL's host resolves to an address that is not public".to_owned();
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        Some(url::Host::Domain(d)) => {
            tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((d.to_owned(), port)))
                .await
                .map_err(|_| "The URL's host could not be resolved in time".to_owned())?
                .map_err(|_| "The URL's host could not be resolved".to_owned())?
                .collect()
        }
        None => return Err("The URL must have a host".into()),
    };
    // Every address must be public: a name that also points inward is refused.
    if addrs.is_empty() || addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(refused());
    }
    addrs.first().copied().ok_or_else(refused)
}

/// Why a document could not be had.
enum Fetch {
    /// The URL or its address is refused: nothing was sent.
    Refused(String),
    /// The request was made and failed, or the reply is not a JSON object.
    Failed(String),
}

/// Fetches the document at the vetted address.
async fn fetch(url: &Url) -> Result<Map<String, Value>, Fetch> {
    let addr = vetted_address(url).await.map_err(Fetch::Refused)?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .resolve(&host, addr)
        .https_only(true)
        .build()
        .map_err(|e| Fetch::Failed(format!("The document could not be fetched: {e}")))?;
    let failed = |why: String| Fetch::Failed(format!("The document could not be fetched: {why}"));
    let mut res = client
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?;
    if !res.status().is_success() {
        return Err(failed(format!(
            "the server answered {}",
            res.status().as_u16()
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT {
            return Err(failed(format!(
                "the document is larger than {MAX_DOCUMENT} bytes"
            )));
        }
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(o)) => Ok(o),
        _ => Err(Fetch::Failed("The document is not a JSON object".into())),
    }
}

/// Properties the mapping reads (others are ignored with a warning).
const KNOWN: &[&str] = &[
    "client_id",
    "client_name",
    "grant_types",
    "redirect_uris",
    "application_type",
    "token_endpoint_auth_method",
    "jwks_uri",
    "jwks",
    "logo_uri",
    "description",
    "response_types",
];

/// What a document maps to: the client's fields, the violations and the warnings.
pub struct Mapped {
    pub fields: Map<String, Value>,
    pub violations: Vec<String>,
    pub warnings: Vec<String>,
}

fn strs(v: Option<&Value>) -> Option<Vec<String>> {
    v?.as_array()?
        .iter()
        .map(|x| x.as_str().map(str::to_owned))
        .collect()
}

fn loopback_host(u: &Url) -> bool {
    matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// Maps a metadata document fetched from `url` onto a client (Auth0's documented rules).
pub fn map_document(url: &str, doc: &Map<String, Value>) -> Mapped {
    let mut v = Vec::new();
    let mut w = Vec::new();
    let mut f = Map::new();
    f.insert("external_client_id".into(), json!(url));
    if doc.get("client_id").and_then(Value::as_str) != Some(url) {
        v.push("client_id must equal the URL of the document".to_owned());
    }
    match doc.get("client_name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => {
            f.insert("name".into(), json!(n));
        }
        _ => v.push("client_name is required".to_owned()),
    }
    let native = match doc.get("application_type").map(Value::as_str) {
        None | Some(Some("web")) => false,
        Some(Some("native")) => true,
        _ => {
            v.push("application_type must be native or web".to_owned());
            false
        }
    };
    let grants = strs(doc.get("grant_types")).unwrap_or_default();
    let kept: Vec<&String> = grants
        .iter()
        .filter(|g| matches!(g.as_str(), "authorization_code" | "refresh_token"))
        .collect();
    if kept.is_empty() {
        v.push("grant_types must include authorization_code or refresh_token".to_owned());
    }
    let dropped: Vec<&str> = grants
        .iter()
        .filter(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
        .map(String::as_str)
        .collect();
    if !dropped.is_empty() {
        w.push(format!(
            "Ignoring unsupported grant types: {}.",
            dropped.join(", ")
        ));
    }
    let code = kept.iter().any(|g| *g == "authorization_code");
    match strs(doc.get("redirect_uris")) {
        Some(uris) if !uris.is_empty() => {
            let mut seen = Vec::new();
            for u in &uris {
                let ok = Url::parse(u).is_ok_and(|p| {
                    p.scheme() == "https" || (native && p.scheme() == "http" && loopback_host(&p))
                });
                if !ok {
                    v.push(format!("redirect_uris: {u} must be an https URL"));
                }
                if seen.contains(&u) {
                    v.push(format!("redirect_uris: {u} is listed twice"));
                }
                seen.push(u);
            }
            f.insert("callbacks".into(), json!(uris));
        }
        Some(_) | None if code => {
            v.push("redirect_uris is required with authorization_code".to_owned());
        }
        _ => {}
    }
    if let Some(logo) = doc.get("logo_uri") {
        match logo.as_str().and_then(|l| Url::parse(l).ok()) {
            Some(u) if matches!(u.scheme(), "https" | "http") => {
                f.insert("logo_uri".into(), logo.clone());
            }
            _ => v.push("logo_uri must be an http(s) URL".to_owned()),
        }
    }
    if let Some(d) = doc.get("description") {
        match d.as_str() {
            Some(s) if s.chars().count() <= 140 => {
                f.insert("description".into(), d.clone());
            }
            _ => v.push("description must be a string of at most 140 characters".to_owned()),
        }
    }
    f.insert("grant_types".into(), json!(kept));
    f.insert(
        "app_type".into(),
        json!(if native { "native" } else { "regular_web" }),
    );
    let method = doc
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .unwrap_or("none");
    match method {
        "none" => {}
        "private_key_jwt" => {
            // Credentials from the JWKS are not built (the JWKS is not fetched): refused rather
            // than registered half-done.
            v.push(
                "token_endpoint_auth_method private_key_jwt is not supported by this server"
                    .to_owned(),
            );
        }
        other => v.push(format!(
            "token_endpoint_auth_method {other} is not allowed (none or private_key_jwt)"
        )),
    }
    f.insert("token_endpoint_auth_method".into(), json!(method));
    if doc.contains_key("jwks") {
        v.push("invalid_client_metadata: jwks must not be inline (use jwks_uri)".to_owned());
    }
    if let Some(rt) = strs(doc.get("response_types"))
        && rt.iter().any(|r| r == "code")
        && !code
    {
        w.push("response_types has code without the authorization_code grant.".to_owned());
    }
    let unknown: Vec<&str> = doc
        .keys()
        .filter(|k| !KNOWN.contains(&k.as_str()))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        w.push(format!(
            "Ignoring unsupported properties: {}. These properties are not validated or mapped to the Auth0 client configuration.",
            unknown.join(", ")
        ));
    }
    Mapped {
        fields: f,
        violations: v,
        warnings: w,
    }
}

/// The client registered from this document, if there is one.
async fn registered(ctx: &Ctx, url: &str) -> Result<Option<ClientRow>, Error> {
    let filter = ClientFilter {
        is_first_party: Some(false),
        ..ClientFilter::default()
    };
    let (rows, _) = clients::list(ctx.db(), ctx.tenant_id(), &filter, Page::ALL)
        .await
        .context("listing clients")?;
    Ok(rows
        .into_iter()
        .find(|r| r.body.get("external_client_id").and_then(Value::as_str) == Some(url)))
}

fn url_of(input: &Input) -> Result<(String, Url), Error> {
    let raw = input
        .body
        .get("external_client_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let url = url_rules(&raw).map_err(|why| {
        Error::bad_body(format!(
            "Payload validation error: {why} on property external_client_id."
        ))
    })?;
    Ok((raw, url))
}

fn validation(m: &Mapped) -> Value {
    json!({"valid": m.violations.is_empty(), "violations": m.violations, "warnings": m.warnings})
}

pub async fn preview(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (raw, url) = url_of(&input)?;
    let doc = match fetch(&url).await {
        Ok(d) => d,
        Err(Fetch::Refused(why)) => return Err(Error::bad_body(why)),
        Err(Fetch::Failed(why)) => {
            return Ok(Reply::json(json!({
                "mapped_fields": {"external_client_id": raw},
                "validation": {"valid": false, "violations": [], "warnings": []},
                "errors": [why],
            })));
        }
    };
    let m = map_document(&raw, &doc);
    let mut out = json!({"mapped_fields": m.fields, "validation": validation(&m)});
    if let Some(row) = registered(&ctx, &raw).await? {
        out["client_id"] = json!(row.client_id);
    }
    Ok(Reply::json(out))
}

pub async fn register(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let (raw, url) = url_of(&input)?;
    let doc = fetch(&url).await.map_err(|e| match e {
        Fetch::Refused(why) | Fetch::Failed(why) => Error::bad_body(why),
    })?;
    let m = map_document(&raw, &doc);
    if !m.violations.is_empty() {
        return Err(Error::bad_body(format!(
            "The client metadata document is not valid: {}",
            m.violations.join("; ")
        )));
    }
    let reply = |id: &str| json!({"client_id": id, "mapped_fields": m.fields, "validation": validation(&m)});
    if let Some(row) = registered(&ctx, &raw).await? {
        // A refresh re-applies what the document says.
        let row = super::update(&ctx, &row.client_id, m.fields.clone()).await?;
        return Ok(Reply::with_status(200, reply(&row.client_id)));
    }
    let mut req = m.fields.clone();
    req.insert("is_first_party".into(), json!(false));
    req.insert("third_party_security_mode".into(), json!("strict"));
    req.insert("oidc_conformant".into(), json!(true));
    req.insert("external_metadata_type".into(), json!("cimd"));
    req.insert("external_metadata_created_by".into(), json!("admin"));
    let (row, _) = super::create(&ctx, req).await?;
    Ok(Reply::with_status(201, reply(&row.client_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules_follow_auth0s() {
        assert!(url_rules("https://tinywiki.xyz/client.json").is_ok());
        assert!(url_rules("https://tinywiki.xyz:8443/a/b%2Fc.json").is_ok());
        for bad in [
            "http://tinywiki.xyz/client.json",
            "https://tinywiki.xyz/",
            "https://tinywiki.xyz",
            " https://tinywiki.xyz/client.json",
            "https://tinywiki.xyz/client.json?x=1",
            "https://tinywiki.xyz/client.json#f",
            "https://user:pw@tinywiki.xyz/client.json",
            "https://tinywiki.xyz/a/../client.json",
            "https://tinywiki.xyz/a/%2E%2e/client.json",
            "https://tinywiki.xyz/./client.json",
            "https://tinywiki.xyz/a%zz",
            "https://tinywiki.xyz:0/client.json",
            "https://localhost/client.json",
            "https://127.0.0.1/client.json",
            "https://[::1]/client.json",
        ] {
            assert!(url_rules(bad).is_err(), "{bad}");
        }
        let long = format!("https://tinywiki.xyz/{}", "a".repeat(120));
        assert!(url_rules(&long).is_err());
    }

    #[test]
    fn a_document_maps_onto_a_client() {
        let url = "https://tinywiki.xyz/client.json";
        let doc = json!({"client_id": url, "client_name": "TinyWiki", "redirect_uris": ["https://tinywiki.xyz/"],
            "logo_uri": "https://tinywiki.xyz/logo.png", "grant_types": ["authorization_code"],
            "application_type": "native", "token_endpoint_auth_method": "none", "client_uri": "https://tinywiki.xyz"});
        let m = map_document(url, doc.as_object().unwrap());
        assert!(m.violations.is_empty(), "{:?}", m.violations);
        assert_eq!(
            Value::Object(m.fields),
            json!({"external_client_id": url, "name": "TinyWiki", "callbacks": ["https://tinywiki.xyz/"],
                "logo_uri": "https://tinywiki.xyz/logo.png", "grant_types": ["authorization_code"],
                "app_type": "native", "token_endpoint_auth_method": "none"})
        );
        assert_eq!(
            m.warnings,
            vec![
                "Ignoring unsupported properties: client_uri. These properties are not validated or mapped to the Auth0 client configuration."
            ]
        );
        let bad = json!({"client_id": "https://other/x.json", "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic", "jwks": {}});
        let m = map_document(url, bad.as_object().unwrap());
        assert!(m.violations.len() >= 4, "{:?}", m.violations);
    }
}
