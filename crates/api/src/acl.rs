//! Network ACL enforcement: every request is checked against the tenant's active network ACLs
//! (`/api/v2/network-acls`) before it reaches a handler.
//!
//! Rules are evaluated in ascending `priority`; the first rule whose scope covers the request
//! and whose conditions hold decides: `allow` lets the request through (no later rule is
//! looked at), `block` answers 403, `redirect` answers 302 to the rule's `redirect_uri`, and
//! `log` (monitoring mode) only records the match and evaluation goes on.
//!
//! Scopes: `management` covers `/api/v2/*` and `/scim/*`; `authentication` every other path
//! (`/oauth/token`, `/authorize`, `/.well-known/*`, `/oidc/register`, …);
//! `dynamic_client_registration` covers `/oidc/register`; `tenant` covers everything. The
//! server's own probes (`/healthz`, `/readyz`) are never checked.
//!
//! Signals Gatehouse evaluates: the client IP (`ipv4_cidrs`/`ipv6_cidrs`) and the connecting
//! IP (`connecting_ipv4_cidrs`/`connecting_ipv6_cidrs`), both the TCP peer's address (the
//! server knows no trusted proxy, so it never believes `X-Forwarded-For`); `user_agents` (the
//! `User-Agent` header, compared exactly); `hostnames` (the `Host` header without its port,
//! compared without regard to case). Signals it cannot evaluate honestly — geolocation
//! (`geo_country_codes`, `geo_subdivision_codes`), `asns` (no GeoIP/ASN database), TLS
//! fingerprints (`ja3_fingerprints`, `ja4_fingerprints`), Auth0's curated threat lists
//! (`auth0_managed`) or any other key — make the rule that uses them never match (in `match`
//! as in `not_match`): Gatehouse does not guess.
//!
//! The rules of a tenant are cached in memory, parsed, for [`TTL`]; a write through the
//! Management API drops the writing instance's entry at once, and other instances on the same
//! database see the change within the TTL. A tenant without ACLs costs one small query per TTL,
//! not one per request.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use gatehouse_core::{Error, json::strings};
use gatehouse_store::{Db, Page, docs};

use crate::{spine::error_response, state::AppState};

/// The `docs` kind of network ACLs.
pub const KIND: &str = "network_acl";

/// How long a tenant's cached rules are trusted without asking the database again.
pub const TTL: Duration = Duration::from_secs(1);

/// A network (`ipnet`): a bare address is a full-length prefix.
pub type Net = ipnet::IpNet;

/// Whether `net` holds `ip` (an IPv4-mapped IPv6 peer counts as its IPv4 address).
fn holds(net: &Net, ip: IpAddr) -> bool {
    net.contains(&ip.to_canonical())
}

fn split_prefix(s: &str, max: u8) -> Option<(&str, u8)> {
    match s.split_once('/') {
        None => Some((s, max)),
        Some((a, p)) => {
            // Digits only: `+8`, ` 8` or `08x` are not prefix lengths.
            if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let p: u8 = p.parse().ok()?;
            (p <= max).then_some((a, p))
        }
    }
}

/// An IPv4 address or CIDR block (`10.0.0.1`, `10.0.0.0/8`).
pub fn parse_v4(s: &str) -> Option<Net> {
    let (a, prefix) = split_prefix(s, 32)?;
    let addr: Ipv4Addr = a.parse().ok()?;
    ipnet::Ipv4Net::new(addr, prefix).ok().map(Net::V4)
}

/// An IPv6 address or CIDR block (`::1`, `2001:db8::/32`).
pub fn parse_v6(s: &str) -> Option<Net> {
    let (a, prefix) = split_prefix(s, 128)?;
    let addr: Ipv6Addr = a.parse().ok()?;
    ipnet::Ipv6Net::new(addr, prefix).ok().map(Net::V6)
}

/// The match keys Gatehouse can evaluate.
pub const EVALUATED: &[&str] = &[
    "ipv4_cidrs",
    "ipv6_cidrs",
    "connecting_ipv4_cidrs",
    "connecting_ipv6_cidrs",
    "user_agents",
    "hostnames",
];

/// One `match` or `not_match` block, parsed.
#[derive(Debug, Default, Clone)]
struct Cond {
    /// `ipv4_cidrs` and `ipv6_cidrs` together: one signal (either family may match).
    client: Option<Vec<Net>>,
    connecting: Option<Vec<Net>>,
    user_agents: Option<Vec<String>>,
    /// Lower case.
    hostnames: Option<Vec<String>>,
    /// A signal Gatehouse cannot evaluate is there.
    unevaluable: bool,
}

fn nets(v: &Value, parse: fn(&str) -> Option<Net>) -> Vec<Net> {
    strings(v).iter().filter_map(|s| parse(s)).collect()
}

impl Cond {
    fn parse(v: &Value) -> Self {
        let mut c = Cond::default();
        let Some(o) = v.as_object() else {
            c.unevaluable = true;
            return c;
        };
        for (k, list) in o {
            match k.as_str() {
                "ipv4_cidrs" => c
                    .client
                    .get_or_insert_default()
                    .extend(nets(list, parse_v4)),
                "ipv6_cidrs" => c
                    .client
                    .get_or_insert_default()
                    .extend(nets(list, parse_v6)),
                "connecting_ipv4_cidrs" => c
                    .connecting
                    .get_or_insert_default()
                    .extend(nets(list, parse_v4)),
                "connecting_ipv6_cidrs" => c
                    .connecting
                    .get_or_insert_default()
                    .extend(nets(list, parse_v6)),
                "user_agents" => c.user_agents = Some(strings(list)),
                "hostnames" => {
                    c.hostnames = Some(
                        strings(list)
                            .iter()
                            .map(|h| h.to_ascii_lowercase())
                            .collect(),
                    );
                }
                _ => c.unevaluable = true,
            }
        }
        c
    }

    /// Whether each signal given matches the request (any of its values); `None` when a
    /// signal cannot be evaluated.
    fn signals(&self, req: &Facts) -> Option<Vec<bool>> {
        if self.unevaluable {
            return None;
        }
        let mut out = Vec::new();
        for nets in [&self.client, &self.connecting].into_iter().flatten() {
            let ip = req.peer?;
            out.push(nets.iter().any(|n| holds(n, ip)));
        }
        if let Some(uas) = &self.user_agents {
            out.push(
                req.user_agent
                    .as_deref()
                    .is_some_and(|ua| uas.iter().any(|u| u == ua)),
            );
        }
        if let Some(hosts) = &self.hostnames {
            out.push(
                req.host
                    .as_deref()
                    .is_some_and(|h| hosts.iter().any(|x| x == h)),
            );
        }
        Some(out)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Allow,
    Block,
    Log,
    Redirect(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Management,
    Authentication,
    Tenant,
    Dcr,
}

/// One active network ACL, parsed.
#[derive(Debug, Clone)]
pub struct Rule {
    id: String,
    priority: f64,
    scope: Scope,
    action: Action,
    matches: Option<Cond>,
    not_matches: Option<Cond>,
}

impl Rule {
    /// An active ACL's rule; `None` for an inactive one or one that does not parse (stored
    /// ACLs were validated when written).
    pub fn from_acl(acl: &Value) -> Option<Self> {
        if acl.get("active").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        let rule = acl.get("rule")?;
        let scope = match rule.get("scope")?.as_str()? {
            "management" => Scope::Management,
            "authentication" => Scope::Authentication,
            "tenant" => Scope::Tenant,
            "dynamic_client_registration" => Scope::Dcr,
            _ => return None,
        };
        let a = rule.get("action")?;
        let on = |k: &str| a.get(k).and_then(Value::as_bool) == Some(true);
        let action = if on("block") {
            Action::Block
        } else if on("allow") {
            Action::Allow
        } else if on("log") {
            Action::Log
        } else if on("redirect") {
            Action::Redirect(a.get("redirect_uri")?.as_str()?.to_owned())
        } else {
            return None;
        };
        Some(Rule {
            id: acl.get("id").and_then(Value::as_str)?.to_owned(),
            priority: acl.get("priority").and_then(Value::as_f64).unwrap_or(50.0),
            scope,
            action,
            matches: rule.get("match").map(Cond::parse),
            not_matches: rule.get("not_match").map(Cond::parse),
        })
    }

    fn covers(&self, area: Area) -> bool {
        match self.scope {
            Scope::Tenant => true,
            Scope::Management => area == Area::Management,
            Scope::Authentication => area != Area::Management,
            Scope::Dcr => area == Area::Registration,
        }
    }

    /// Whether the rule's conditions hold for the request (never, when a signal cannot be
    /// evaluated or there is no condition).
    fn holds(&self, req: &Facts) -> bool {
        if self.matches.is_none() && self.not_matches.is_none() {
            return false;
        }
        let matched = match &self.matches {
            None => true,
            Some(c) => match c.signals(req) {
                Some(s) => !s.is_empty() && s.iter().all(|b| *b),
                None => return false,
            },
        };
        let unmatched = match &self.not_matches {
            None => true,
            Some(c) => match c.signals(req) {
                Some(s) => !s.is_empty() && s.iter().all(|b| !*b),
                None => return false,
            },
        };
        matched && unmatched
    }
}

/// Which part of the server a path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Management,
    Authentication,
    Registration,
}

pub fn area_of(path: &str) -> Area {
    let under = |prefix: &str| {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    if under("/api/v2") || under("/scim") {
        Area::Management
    } else if under("/oidc/register") {
        Area::Registration
    } else {
        Area::Authentication
    }
}

/// What the evaluation looks at.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub peer: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// Lower case, without the port.
    pub host: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Block(String),
    Redirect(String),
}

/// The first matching rule's decision; `rules` are sorted by priority.
pub fn evaluate(rules: &[Rule], area: Area, req: &Facts) -> Verdict {
    for r in rules {
        if !r.covers(area) || !r.holds(req) {
            continue;
        }
        match &r.action {
            Action::Log => {
                tracing::info!(network_acl = %r.id, "network ACL matched (monitoring mode)");
            }
            Action::Allow => return Verdict::Pass,
            Action::Block => return Verdict::Block(r.id.clone()),
            Action::Redirect(uri) => return Verdict::Redirect(uri.clone()),
        }
    }
    Verdict::Pass
}

/// The parsed active rules of a stored list, sorted by priority.
pub fn rules_of(acls: &[Value]) -> Vec<Rule> {
    let mut rules: Vec<Rule> = acls.iter().filter_map(Rule::from_acl).collect();
    rules.sort_by(|a, b| a.priority.total_cmp(&b.priority));
    rules
}

type Entry = (Instant, Arc<Vec<Rule>>);

/// Each tenant's parsed rules, with the time they were read.
#[derive(Default)]
pub struct Cache {
    entries: RwLock<HashMap<String, Entry>>,
}

impl Cache {
    /// Forgets a tenant's rules (after a write on this instance).
    pub fn invalidate(&self, tenant: &str) {
        if let Ok(mut e) = self.entries.write() {
            e.remove(tenant);
        }
    }

    fn fresh(&self, tenant: &str) -> Option<Entry> {
        self.entries.read().ok()?.get(tenant).cloned()
    }

    /// The tenant's active rules: from memory when read less than [`TTL`] ago, else from the
    /// database. When the database cannot answer, the last rules read still hold (none if
    /// there were never any).
    pub async fn rules(&self, db: &Db, tenant: &str) -> Arc<Vec<Rule>> {
        let cached = self.fresh(tenant);
        if let Some((at, rules)) = &cached
            && at.elapsed() < TTL
        {
            return rules.clone();
        }
        match docs::list(db, tenant, KIND, Page::ALL).await {
            Ok((acls, _)) => {
                let rules = Arc::new(rules_of(&acls));
                if let Ok(mut e) = self.entries.write() {
                    e.insert(tenant.to_owned(), (Instant::now(), rules.clone()));
                }
                rules
            }
            Err(err) => {
                tracing::warn!(error = ?err, "network ACLs could not be read");
                cached.map(|(_, r)| r).unwrap_or_default()
            }
        }
    }
}

fn header_str(req: &Request, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The `Host` header without its port, lower case.
fn host_of(raw: &str) -> String {
    let h = if let Some(rest) = raw.strip_prefix('[') {
        // `[::1]:8080`
        rest.split(']').next().unwrap_or(rest)
    } else {
        raw.rsplit_once(':').map_or(raw, |(h, _)| h)
    };
    h.to_ascii_lowercase()
}

/// The middleware: answers a request the tenant's network ACLs refuse, passes the others on.
pub async fn enforce(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return next.run(req).await;
    }
    let tenant = state.tenant_for_host(header_str(&req, header::HOST));
    let rules = state.network_acls.rules(&state.db, &tenant.id).await;
    if rules.is_empty() {
        return next.run(req).await;
    }
    let facts = Facts {
        peer: req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_canonical()),
        user_agent: header_str(&req, header::USER_AGENT).map(str::to_owned),
        host: header_str(&req, header::HOST).map(host_of),
    };
    let area = area_of(path);
    match evaluate(&rules, area, &facts) {
        Verdict::Pass => next.run(req).await,
        Verdict::Block(id) => {
            tracing::info!(network_acl = %id, "request blocked by a network ACL");
            blocked(area)
        }
        Verdict::Redirect(uri) => match HeaderValue::from_str(&uri) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(_) => blocked(area),
        },
    }
}

/// The reply to a blocked request (Auth0's wording is not recorded): the Management API's
/// error JSON, or an OAuth-style error for the Authentication API.
fn blocked(area: Area) -> Response {
    const WHY: &str = "Access denied by the tenant's network access control list";
    match area {
        Area::Management => error_response(&Error::Forbidden(WHY.into())),
        Area::Authentication | Area::Registration => (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"error": "access_denied", "error_description": WHY})),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parsing_and_containment() {
        let n = parse_v4("10.0.0.0/8").unwrap();
        assert!(holds(&n, ip("10.200.1.1")));
        assert!(!holds(&n, ip("11.0.0.1")));
        assert!(holds(&parse_v4("10.0.0.1").unwrap(), ip("10.0.0.1")));
        assert!(!holds(&parse_v4("10.0.0.1").unwrap(), ip("10.0.0.2")));
        assert!(holds(&parse_v4("0.0.0.0/0").unwrap(), ip("8.8.8.8")));
        assert!(holds(
            &parse_v4("127.0.0.0/8").unwrap(),
            ip("::ffff:127.0.0.1")
        ));
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "::1",
            "x",
            "",
        ] {
            assert!(parse_v4(bad).is_none(), "{bad}");
        }
        let v6 = parse_v6("2001:0db8:0000:0000:0000:0000:0000:0000/32").unwrap();
        assert!(holds(&v6, ip("2001:db8::1")));
        assert!(!holds(&v6, ip("2001:db9::1")));
        assert!(holds(&parse_v6("::1").unwrap(), ip("::1")));
        assert!(!holds(&parse_v6("::1/128").unwrap(), ip("127.0.0.1")));
        assert!(parse_v6("::/129").is_none());
        assert!(parse_v6("10.0.0.1").is_none());
    }

    fn acl(priority: i64, rule: Value) -> Value {
        json!({"id": format!("acl_{priority}"), "active": true, "priority": priority, "rule": rule})
    }

    fn from(peer: &str) -> Facts {
        Facts {
            peer: Some(ip(peer)),
            user_agent: Some("curl/8".into()),
            host: Some("id.example.com".into()),
        }
    }

    #[test]
    fn first_match_by_priority_decides() {
        let block = acl(
            20,
            json!({"scope": "authentication", "action": {"block": true}, "match": {"ipv4_cidrs": ["127.0.0.0/8"]}}),
        );
        let allow = acl(
            10,
            json!({"scope": "tenant", "action": {"allow": true}, "match": {"user_agents": ["curl/8"]}}),
        );
        let log = acl(
            1,
            json!({"scope": "tenant", "action": {"log": true}, "match": {"ipv4_cidrs": ["0.0.0.0/0"]}}),
        );
        let req = from("127.0.0.1");
        let only_block = rules_of(&[block.clone(), log.clone()]);
        assert_eq!(
            evaluate(&only_block, Area::Authentication, &req),
            Verdict::Block("acl_20".into())
        );
        // Management scope is another area.
        assert_eq!(evaluate(&only_block, Area::Management, &req), Verdict::Pass);
        let with_allow = rules_of(&[block.clone(), allow, log]);
        assert_eq!(
            evaluate(&with_allow, Area::Authentication, &req),
            Verdict::Pass
        );
        let mut inactive = block;
        inactive["active"] = json!(false);
        assert!(rules_of(&[inactive]).is_empty());
    }

    #[test]
    fn signals_combine_and_unknown_signals_never_match() {
        let req = from("::1");
        // v4 and v6 lists together: either may match.
        let either = rules_of(&[acl(
            1,
            json!({"scope": "tenant", "action": {"block": true}, "match": {"ipv4_cidrs": ["10.0.0.0/8"], "ipv6_cidrs": ["::1"]}}),
        )]);
        assert_ne!(evaluate(&either, Area::Management, &req), Verdict::Pass);
        // Different signals: all must match.
        let both = rules_of(&[acl(
            1,
            json!({"scope": "tenant", "action": {"block": true}, "match": {"ipv6_cidrs": ["::1"], "hostnames": ["other.example.com"]}}),
        )]);
        assert_eq!(evaluate(&both, Area::Management, &req), Verdict::Pass);
        // not_match: none of the values.
        let except = rules_of(&[acl(
            1,
            json!({"scope": "tenant", "action": {"redirect": true, "redirect_uri": "https://x"}, "not_match": {"hostnames": ["ID.example.com"]}}),
        )]);
        assert_eq!(evaluate(&except, Area::Management, &req), Verdict::Pass);
        let other = Facts {
            host: Some("else.example.com".into()),
            ..req.clone()
        };
        assert_eq!(
            evaluate(&except, Area::Management, &other),
            Verdict::Redirect("https://x".into())
        );
        // Geolocation cannot be evaluated: the rule never matches, in match or not_match.
        for cond in ["match", "not_match"] {
            let geo = rules_of(&[acl(
                1,
                json!({"scope": "tenant", "action": {"block": true}, cond: {"geo_country_codes": ["FR"], "ipv6_cidrs": ["::1"]}}),
            )]);
            assert_eq!(evaluate(&geo, Area::Management, &req), Verdict::Pass);
        }
        // No peer address (not over TCP): IP signals cannot be evaluated.
        let nobody = Facts { peer: None, ..req };
        assert_eq!(evaluate(&either, Area::Management, &nobody), Verdict::Pass);
    }

    #[test]
    fn areas_and_hosts() {
        assert_eq!(area_of("/api/v2/clients"), Area::Management);
        assert_eq!(area_of("/api/v2"), Area::Management);
        assert_eq!(area_of("/scim/v2/connections/x/Users"), Area::Management);
        assert_eq!(area_of("/api/v2x"), Area::Authentication);
        assert_eq!(area_of("/oauth/token"), Area::Authentication);
        assert_eq!(area_of("/.well-known/jwks.json"), Area::Authentication);
        assert_eq!(area_of("/oidc/register"), Area::Registration);
        assert_eq!(host_of("ID.Example.com:8443"), "id.example.com");
        assert_eq!(host_of("[::1]:80"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
    }
}

#[cfg(test)]
mod recorded_rules {
    use super::*;

    #[test]
    fn new_fields_rule_does_not_match_localhost() {
        let acl = json!({"id": "acl_x", "active": true, "priority": 2, "rule": {"match":{"hostnames":["testA-dev.us.auth0.com","api.example.com"],"connecting_ipv4_cidrs":["192.168.1.0/24","10.0.0.1"],"connecting_ipv6_cidrs":["2001:db8::/32","::1"]},"scope":"tenant","action":{"block":true}}});
        let rules = rules_of(&[acl]);
        let f = Facts {
            peer: Some("127.0.0.1".parse().unwrap()),
            user_agent: None,
            host: Some("127.0.0.1".into()),
        };
        assert_eq!(evaluate(&rules, Area::Management, &f), Verdict::Pass);
    }
}
