//! Minting a user's tokens, for every grant that ends with a user: the access token (a JWT for
//! an API, or for `/userinfo` when there is none), the ID token when `openid` is granted, and the
//! refresh tokens (random, stored as their SHA-256) when `offline_access` is asked and allowed.
//! The post-login Actions trigger runs before anything is signed: `api.access.deny` refuses,
//! custom claims and scope changes apply.

use gatehouse_core::secret;
use std::sync::Arc;

use axum::http::StatusCode;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use gatehouse_actions::{Command, Trigger};
use gatehouse_core::{Error, ids, time};
use gatehouse_store::{
    Exec,
    clients::ClientRow,
    refresh_tokens::{self, RefreshTokenRow},
    resource_servers, roles,
    users::{self, UserRow},
};

use crate::{
    actions::run::Failure,
    authn::token::OAuthError,
    state::{AppState, Tenant},
};

/// The scopes of OpenID Connect itself: granted when asked, whatever the API.
pub const OIDC_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// Auth0's default lifetime of an access token (and of one for `/userinfo`).
const DEFAULT_ACCESS_LIFETIME: i64 = 86_400;
/// Auth0's default lifetime of an ID token (`jwt_configuration.lifetime_in_seconds`).
const DEFAULT_ID_LIFETIME: i64 = 36_000;

/// Who the tokens are for and what was asked, as a grant knows it.
pub struct Subject<'a> {
    pub tenant: &'a Arc<Tenant>,
    pub client: &'a ClientRow,
    pub user: &'a UserRow,
    /// The grant (`authorization_code`, `refresh_token`, `password`, …), for the Actions' event.
    pub grant_type: &'a str,
    /// The scopes asked (space-separated).
    pub scope: &'a str,
    /// The API (`None`: the tenant's `default_audience` applies, else none).
    pub audience: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub session_id: Option<&'a str>,
    /// Unix seconds of the user's authentication.
    pub auth_time: i64,
    /// `{"id": "org_…", "name": "…"}`.
    pub organization: Option<&'a Value>,
    pub amr: Option<&'a Value>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// What was minted.
#[derive(Debug)]
pub struct Minted {
    pub access_token: String,
    pub id_token: Option<String>,
    /// The scopes granted (space-separated), as the reply's `scope` shows them.
    pub scope: String,
    pub expires_in: i64,
    /// The API the access token is for (`None`: `/userinfo` only).
    pub audience: Option<String>,
    /// Whether a refresh token may be issued: `offline_access` granted (the API allows offline
    /// access, or there is no API).
    pub offline: bool,
}

impl Minted {
    /// The token endpoint's reply, in Auth0's key order.
    pub fn reply(&self, refresh_token: Option<&str>) -> Value {
        let mut m = Map::new();
        m.insert("access_token".into(), json!(self.access_token));
        if let Some(r) = refresh_token {
            m.insert("refresh_token".into(), json!(r));
        }
        if let Some(i) = &self.id_token {
            m.insert("id_token".into(), json!(i));
        }
        m.insert("scope".into(), json!(self.scope));
        m.insert("expires_in".into(), json!(self.expires_in));
        m.insert("token_type".into(), json!("Bearer"));
        Value::Object(m)
    }
}

/// The API a request names, else the tenant's `default_audience` (`None`: no API).
pub async fn resolve_audience(
    x: &impl Exec,
    tenant: &str,
    asked: Option<&str>,
) -> Result<Option<String>, Error> {
    if let Some(a) = asked.filter(|a| !a.is_empty()) {
        return Ok(Some(a.to_owned()));
    }
    Ok(crate::authn::login::tenant_settings(x, tenant)
        .await?
        .get("default_audience")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
        .map(str::to_owned))
}

/// The OIDC claims of a user that `scopes` release (`profile`, `email`, `phone`), as the ID
/// token and `/userinfo` show them.
pub fn profile_claims(user: &UserRow, scopes: &[&str]) -> Map<String, Value> {
    let mut m = Map::new();
    if scopes.contains(&"profile") {
        for (k, v) in [
            ("given_name", &user.given_name),
            ("family_name", &user.family_name),
            ("nickname", &user.nickname),
            ("name", &user.name),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        if let Some(p) = user.body.get("picture") {
            m.insert("picture".into(), p.clone());
        }
        m.insert("updated_at".into(), json!(user.updated_at));
    }
    if scopes.contains(&"email")
        && let Some(e) = &user.email
    {
        m.insert("email".into(), json!(e));
        m.insert("email_verified".into(), json!(user.email_verified));
    }
    if scopes.contains(&"phone")
        && let Some(p) = &user.phone_number
    {
        m.insert("phone_number".into(), json!(p));
        m.insert("phone_number_verified".into(), json!(user.phone_verified));
    }
    m
}

/// `at_hash`: the left half of the access token's SHA-256, base64url (OIDC Core 3.1.3.6).
pub fn at_hash(access_token: &str) -> String {
    let d = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d[..16])
}

fn denied(reason: String) -> OAuthError {
    OAuthError::new(StatusCode::FORBIDDEN, "access_denied", reason)
}

fn internal(e: Error) -> OAuthError {
    OAuthError::from(e)
}

/// What the API the token is for allows.
struct Api {
    identifier: String,
    scopes: Vec<String>,
    enforce_policies: bool,
    dialect: String,
    lifetime: i64,
    allow_offline_access: bool,
}

async fn api(x: &impl Exec, tenant: &str, audience: &str) -> Result<Option<Api>, Error> {
    let Some(rs) = resource_servers::find_by_identifier(x, tenant, audience).await? else {
        return Ok(None);
    };
    let b = &rs.body;
    Ok(Some(Api {
        identifier: rs.identifier.clone(),
        scopes: resource_servers::scope_values(b),
        enforce_policies: b
            .get("enforce_policies")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        dialect: b
            .get("token_dialect")
            .and_then(Value::as_str)
            .unwrap_or("access_token")
            .to_owned(),
        lifetime: b
            .get("token_lifetime")
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_ACCESS_LIFETIME),
        allow_offline_access: b
            .get("allow_offline_access")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }))
}

/// The user's permissions on one API (direct and through tenant roles).
async fn permissions(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    audience: &str,
) -> Result<Vec<String>, Error> {
    Ok(roles::user_permissions(x, tenant, user_id)
        .await?
        .unwrap_or_default()
        .into_iter()
        .filter(|(p, _)| p.resource_server_identifier == audience)
        .map(|(p, _)| p.permission_name)
        .collect())
}

/// What the post-login actions changed.
#[derive(Default)]
struct ActionResult {
    access_claims: Map<String, Value>,
    id_claims: Map<String, Value>,
    add_scopes: Vec<String>,
    remove_scopes: Vec<String>,
}

async fn post_login(
    state: &AppState,
    s: &Subject<'_>,
    audience: Option<&str>,
    scopes: &[String],
) -> Result<ActionResult, OAuthError> {
    let rt = &state.actions;
    let tenant = s.tenant.id.as_str();
    let bound = rt
        .bound(&state.db, tenant, Trigger::PostLogin)
        .await
        .map_err(internal)?;
    if bound.is_empty() {
        return Ok(ActionResult::default());
    }
    let identities = users::identities(&state.db, tenant, &s.user.user_id)
        .await
        .map_err(|e| internal(e.into()))?;
    let user = crate::mgmt::users::render(s.user, &identities);
    let protocol = match s.grant_type {
        "refresh_token" => "oauth2-refresh-token",
        "password" => "oauth2-password",
        crate::authn::token::REALM_GRANT => "oauth2-resource-owner",
        _ => "oidc-basic-profile",
    };
    let mut event = json!({
        "authentication": {
            "methods": [{"name": "pwd", "timestamp": time::format(
                ::time::OffsetDateTime::from_unix_timestamp(s.auth_time).unwrap_or_else(|_| ::time::OffsetDateTime::now_utc()))}]
        },
        "client": {
            "client_id": s.client.client_id,
            "name": s.client.name,
            "metadata": s.client.body.get("client_metadata").cloned().unwrap_or_else(|| json!({})),
        },
        "connection": {"name": s.user.connection, "id": s.user.connection_id, "strategy": "auth0"},
        "request": {
            "ip": s.ip,
            "user_agent": s.user_agent,
            "hostname": crate::authn::token::tenant_host(&s.tenant.issuer),
            "method": "POST",
        },
        "stats": {"logins_count": s.user.logins_count},
        "tenant": {"id": tenant},
        "transaction": {
            "protocol": protocol,
            "requested_scopes": scopes,
        },
        "user": user,
    });
    if let Value::Object(e) = &mut event {
        if let Some(a) = audience {
            e.insert("resource_server".into(), json!({"identifier": a}));
        }
        if let Some(o) = s.organization {
            e.insert("organization".into(), o.clone());
        }
        if let Some(sid) = s.session_id {
            e.insert("session".into(), json!({"id": sid}));
        }
    }
    let flow = rt
        .execute(&state.db, tenant, Trigger::PostLogin, event)
        .await
        .map_err(internal)?;
    match flow.failure {
        Some(Failure::Denied { reason, .. }) => return Err(denied(reason)),
        Some(Failure::Failed { action_name, .. }) => {
            return Err(denied(format!("The action '{action_name}' failed")));
        }
        None => {}
    }
    let mut out = ActionResult::default();
    for c in flow.commands {
        match c {
            Command::AccessTokenSetCustomClaim { name, value }
                if !crate::authn::token::restricted_claim(&name) =>
            {
                out.access_claims.insert(name, value);
            }
            Command::IdTokenSetCustomClaim { name, value }
                if !crate::authn::token::restricted_claim(&name) && !id_reserved(&name) =>
            {
                out.id_claims.insert(name, value);
            }
            Command::AccessTokenAddScope { scope } => out.add_scopes.push(scope),
            Command::AccessTokenRemoveScope { scope } => out.remove_scopes.push(scope),
            _ => {}
        }
    }
    Ok(out)
}

/// ID-token claims an action may not set.
fn id_reserved(name: &str) -> bool {
    ["nonce", "sid", "at_hash", "c_hash", "acr"].contains(&name)
}

/// Mints the access token and (with `openid`) the ID token of a user for a client.
pub async fn mint(state: &AppState, s: &Subject<'_>) -> Result<Minted, OAuthError> {
    let db = &state.db;
    let tenant = s.tenant.id.as_str();
    let audience = resolve_audience(db, tenant, s.audience)
        .await
        .map_err(internal)?;
    let requested: Vec<String> = s.scope.split_whitespace().map(str::to_owned).collect();
    let api = match &audience {
        Some(a) => Some(
            api(db, tenant, a)
                .await
                .map_err(internal)?
                .ok_or_else(|| denied(format!("Service not enabled within domain: {a}")))?,
        ),
        None => None,
    };
    // What the token may carry: OIDC scopes as asked; an API's scopes as asked, as it defines
    // them, and (when it enforces RBAC) as the user's permissions allow.
    let user_permissions = match &api {
        Some(a) if a.enforce_policies => Some(
            permissions(db, tenant, &s.user.user_id, &a.identifier)
                .await
                .map_err(internal)?,
        ),
        _ => None,
    };
    let mut granted: Vec<String> = Vec::new();
    for r in &requested {
        if granted.contains(r) {
            continue;
        }
        let ok = if OIDC_SCOPES.contains(&r.as_str()) {
            r != "offline_access" || api.as_ref().is_none_or(|a| a.allow_offline_access)
        } else {
            match &api {
                Some(a) => {
                    a.scopes.contains(r) && user_permissions.as_ref().is_none_or(|p| p.contains(r))
                }
                None => false,
            }
        };
        if ok {
            granted.push(r.clone());
        }
    }
    let actions = post_login(state, s, audience.as_deref(), &requested).await?;
    granted.retain(|g| !actions.remove_scopes.contains(g));
    for a in actions.add_scopes {
        if !granted.contains(&a) {
            granted.push(a);
        }
    }
    let scope = granted.join(" ");
    let has = |x: &str| granted.iter().any(|g| g == x);
    let now = time::unix_now();
    let issuer = &s.tenant.issuer;
    let userinfo = format!("{issuer}userinfo");
    let lifetime = api.as_ref().map_or(DEFAULT_ACCESS_LIFETIME, |a| a.lifetime);
    let rfc9068 = api
        .as_ref()
        .is_some_and(|a| a.dialect.starts_with("rfc9068_profile"));
    let mut at = Map::new();
    at.insert("iss".into(), json!(issuer));
    at.insert("sub".into(), json!(s.user.user_id));
    let aud = match &audience {
        Some(a) if has("openid") => json!([a, userinfo]),
        Some(a) => json!(a),
        None => json!([userinfo]),
    };
    at.insert("aud".into(), aud);
    at.insert("iat".into(), json!(now));
    at.insert("exp".into(), json!(now + lifetime));
    if rfc9068 {
        at.insert("jti".into(), json!(ids::prefixed("jti", 22)));
        at.insert("client_id".into(), json!(s.client.client_id));
    }
    at.insert("scope".into(), json!(scope));
    if !rfc9068 {
        at.insert("azp".into(), json!(s.client.client_id));
    }
    if let Some(o) = s.organization {
        if let Some(id) = o.get("id") {
            at.insert("org_id".into(), id.clone());
        }
        if let Some(n) = o.get("name").filter(|n| !n.is_null()) {
            at.insert("org_name".into(), n.clone());
        }
    }
    if let (Some(a), Some(p)) = (&api, &user_permissions)
        && matches!(
            a.dialect.as_str(),
            "access_token_authz" | "rfc9068_profile_authz"
        )
    {
        at.insert("permissions".into(), json!(p));
    }
    // `amr: ["mfa"]` once a second factor was passed (Auth0 shows no other method).
    let mfa_done = s
        .amr
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|m| m.as_str() == Some("mfa")));
    if mfa_done {
        at.insert("amr".into(), json!(["mfa"]));
    }
    for (k, v) in actions.access_claims {
        at.entry(k).or_insert(v);
    }
    let access_token = {
        let keys = s.tenant.keys();
        if rfc9068 {
            keys.signing.sign_typed(&at, "at+jwt")?
        } else {
            keys.signing.sign(&at)?
        }
    };
    let id_token = if has("openid") {
        let id_lifetime = s
            .client
            .body
            .pointer("/jwt_configuration/lifetime_in_seconds")
            .and_then(Value::as_i64)
            .unwrap_or(DEFAULT_ID_LIFETIME);
        let scopes: Vec<&str> = granted.iter().map(String::as_str).collect();
        let mut id = profile_claims(s.user, &scopes);
        let mut claims = Map::new();
        claims.append(&mut id);
        claims.insert("iss".into(), json!(issuer));
        claims.insert("aud".into(), json!(s.client.client_id));
        claims.insert("sub".into(), json!(s.user.user_id));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + id_lifetime));
        claims.insert("auth_time".into(), json!(s.auth_time));
        if let Some(sid) = s.session_id {
            claims.insert("sid".into(), json!(sid));
        }
        claims.insert("at_hash".into(), json!(at_hash(&access_token)));
        if let Some(n) = s.nonce {
            claims.insert("nonce".into(), json!(n));
        }
        if let Some(o) = s.organization {
            if let Some(v) = o.get("id") {
                claims.insert("org_id".into(), v.clone());
            }
            if let Some(v) = o.get("name").filter(|n| !n.is_null()) {
                claims.insert("org_name".into(), v.clone());
            }
        }
        if mfa_done {
            claims.insert("amr".into(), json!(["mfa"]));
        }
        for (k, v) in actions.id_claims {
            claims.entry(k).or_insert(v);
        }
        Some(s.tenant.keys().signing.sign(&claims)?)
    } else {
        None
    };
    Ok(Minted {
        access_token,
        id_token,
        offline: has("offline_access"),
        scope,
        expires_in: lifetime,
        audience,
    })
}

/// A client's `refresh_token` settings, with Auth0's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshPolicy {
    pub rotating: bool,
    /// Absolute lifetime (seconds) of a family; `None`: none.
    pub lifetime: Option<i64>,
    /// Idle lifetime (seconds); `None`: none.
    pub idle_lifetime: Option<i64>,
    /// How long a rotated token may still be used (seconds).
    pub leeway: i64,
}

impl RefreshPolicy {
    pub fn of(client: &ClientRow) -> Self {
        let rt = client.body.get("refresh_token");
        let get = |k: &str| rt.and_then(|r| r.get(k));
        let rotating = get("rotation_type").and_then(Value::as_str) == Some("rotating");
        let expiring = get("expiration_type").and_then(Value::as_str) == Some("expiring");
        let flag = |k: &str| get(k).and_then(Value::as_bool);
        let secs = |k: &str, default: i64| get(k).and_then(Value::as_i64).unwrap_or(default);
        let lifetime = (expiring && flag("infinite_token_lifetime") != Some(true))
            .then(|| secs("token_lifetime", 2_592_000));
        let idle_lifetime = (expiring && flag("infinite_idle_token_lifetime") != Some(true))
            .then(|| secs("idle_token_lifetime", 1_296_000));
        Self {
            rotating,
            lifetime,
            idle_lifetime,
            leeway: secs("leeway", 0).max(0),
        }
    }
}

/// What a new refresh token carries over from the login.
pub struct NewRefresh<'a> {
    pub client: &'a ClientRow,
    pub user_id: &'a str,
    pub session_id: Option<&'a str>,
    pub audience: Option<&'a str>,
    pub scope: &'a str,
    /// `organization`, `auth_time`, `amr`, `device`: what a refresh needs to mint again.
    pub body: Value,
    pub family: Family<'a>,
}

/// The rotation family a new refresh token belongs to.
pub enum Family<'a> {
    /// A new family.
    New,
    /// A new family whose id was chosen beforehand (recorded in an authorization code).
    NewWithId(&'a str),
    /// An existing family (rotation), with its absolute expiry.
    Join(&'a str, Option<i64>),
}

/// Stores a new refresh token; the token itself (shown once) and its row.
pub async fn new_refresh_token(
    x: &impl Exec,
    tenant: &str,
    n: NewRefresh<'_>,
) -> Result<(String, RefreshTokenRow), Error> {
    let policy = RefreshPolicy::of(n.client);
    let now = time::unix_now();
    let token = secret::random_token();
    let (family_id, expires_at) = match n.family {
        Family::Join(f, e) => (f.to_owned(), e),
        Family::NewWithId(f) => (f.to_owned(), policy.lifetime.map(|l| now + l)),
        Family::New => (ids::base58(22), policy.lifetime.map(|l| now + l)),
    };
    let row = RefreshTokenRow {
        id: ids::base58(22),
        token_hash: secret::sha256_hex(&token),
        family_id,
        user_id: n.user_id.to_owned(),
        client_id: n.client.client_id.clone(),
        session_id: n.session_id.map(str::to_owned),
        rotating: policy.rotating,
        audience: n.audience.map(str::to_owned),
        scope: n.scope.to_owned(),
        created_at: time::now(),
        last_exchanged_at: None,
        expires_at,
        idle_expires_at: policy.idle_lifetime.map(|l| now + l),
        rotated_at: None,
        body: n.body,
    };
    refresh_tokens::insert(x, tenant, &row).await?;
    Ok((token, row))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(rt: Value) -> ClientRow {
        ClientRow {
            client_id: "c".into(),
            name: "n".into(),
            app_type: None,
            is_global: false,
            is_first_party: true,
            client_secret: None,
            body: json!({ "refresh_token": rt }),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn refresh_policy_defaults_never_expire() {
        let p = RefreshPolicy::of(&client(Value::Null));
        assert_eq!(
            p,
            RefreshPolicy {
                rotating: false,
                lifetime: None,
                idle_lifetime: None,
                leeway: 0
            }
        );
    }

    #[test]
    fn refresh_policy_expiring_rotating() {
        let p = RefreshPolicy::of(&client(json!({
            "rotation_type": "rotating", "expiration_type": "expiring", "leeway": 5,
            "token_lifetime": 100, "idle_token_lifetime": 50,
            "infinite_token_lifetime": false, "infinite_idle_token_lifetime": true
        })));
        assert!(p.rotating);
        assert_eq!(p.lifetime, Some(100));
        assert_eq!(p.idle_lifetime, None);
        assert_eq!(p.leeway, 5);
    }

    #[test]
    fn at_hash_is_left_half() {
        // OIDC Core's example: the access token "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        // has at_hash "77QmUPtjPfzWtF2AnpK9RQ".
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }

    #[test]
    fn profile_claims_follow_scopes() {
        let u = UserRow {
            user_id: "auth0|1".into(),
            email: Some("a@b.c".into()),
            name: Some("A".into()),
            updated_at: "t".into(),
            ..UserRow::default()
        };
        let c = profile_claims(&u, &["openid"]);
        assert!(c.is_empty());
        let c = profile_claims(&u, &["openid", "email"]);
        assert_eq!(c.get("email"), Some(&json!("a@b.c")));
        assert!(c.get("name").is_none());
        let c = profile_claims(&u, &["profile"]);
        assert_eq!(c.get("name"), Some(&json!("A")));
        assert!(c.get("email").is_none());
    }
}
