//! Login sessions: the `gh_session` cookie holds a 256-bit secret whose SHA-256 names the
//! `sessions` row (the row's id, shown as `sid`, is a separate random id). Lifetimes come from
//! the tenant's settings (`session_lifetime` / `idle_session_lifetime`, hours; 168 / 72 when
//! unset). A deleted row ends the session at once: every use looks the row up.

use axum::http::{HeaderMap, HeaderValue, header};
use gatehouse_core::secret;
use serde_json::{Value, json};

use gatehouse_core::{Error, time};
use gatehouse_store::{Exec, Tx, docs, sessions, sessions::SessionRow, tenants};

pub const COOKIE: &str = "gh_session";

const DEFAULT_LIFETIME_H: f64 = 168.0;
const DEFAULT_IDLE_H: f64 = 72.0;

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

/// A `Set-Cookie` value: HttpOnly, `SameSite` as given, `Secure` when the issuer is HTTPS.
pub fn set_cookie(
    name: &str,
    value: &str,
    max_age: Option<i64>,
    same_site: &str,
    secure: bool,
) -> Option<HeaderValue> {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
    if let Some(m) = max_age {
        c.push_str(&format!("; Max-Age={m}"));
    }
    if secure || same_site == "None" {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).ok()
}

/// The tenant's session lifetimes in seconds: (absolute, idle).
pub async fn lifetimes(x: &impl Exec, tenant: &str) -> Result<(i64, i64), Error> {
    let s = docs::get(x, tenant, tenants::SETTINGS_KIND, tenants::SETTINGS_ID)
        .await?
        .unwrap_or(Value::Null);
    let hours = |k: &str, d: f64| {
        s.get(k)
            .and_then(Value::as_f64)
            .filter(|h| *h > 0.0)
            .unwrap_or(d)
    };
    #[expect(clippy::cast_possible_truncation, reason = "hours are small")]
    let secs = |h: f64| (h * 3600.0).round() as i64;
    Ok((
        secs(hours("session_lifetime", DEFAULT_LIFETIME_H)),
        secs(hours("idle_session_lifetime", DEFAULT_IDLE_H)),
    ))
}

/// The live session the request's cookie names, if any.
pub async fn current(
    x: &impl Exec,
    tenant: &str,
    headers: &HeaderMap,
) -> Result<Option<SessionRow>, Error> {
    let Some(secret) = cookie(headers, COOKIE) else {
        return Ok(None);
    };
    let now = time::unix_now();
    Ok(
        sessions::find_by_cookie(x, tenant, &secret::sha256_hex(&secret))
            .await?
            .filter(|s| s.is_live(now)),
    )
}

/// Where the request came from, for the session's device record.
pub struct Device<'a> {
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

/// A new session for `user_id` authenticated now by `method` (`pwd`); returns it and the
/// cookie's secret.
pub async fn create(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    method: &str,
    device: &Device<'_>,
) -> Result<(SessionRow, String), Error> {
    create_with(x, tenant, user_id, &[method], device).await
}

/// A new session for `user_id` authenticated now by each of `methods` (`pwd`, then `mfa` when
/// a second factor was passed); returns it and the cookie's secret.
pub async fn create_with(
    x: &impl Exec,
    tenant: &str,
    user_id: &str,
    methods: &[&str],
    device: &Device<'_>,
) -> Result<(SessionRow, String), Error> {
    let (life, idle) = lifetimes(x, tenant).await?;
    let secret = secret::random_token();
    let now = time::unix_now();
    let ts = time::now();
    let row = SessionRow {
        id: gatehouse_core::ids::base58(32),
        user_id: user_id.to_owned(),
        cookie_hash: secret::sha256_hex(&secret),
        created_at: ts.clone(),
        updated_at: ts.clone(),
        authenticated_at: ts.clone(),
        last_interacted_at: ts.clone(),
        expires_at: now.saturating_add(life),
        idle_expires_at: now.saturating_add(idle.min(life)),
        body: json!({
            "device": {
                "initial_ip": device.ip,
                "initial_user_agent": device.user_agent,
                "last_ip": device.ip,
                "last_user_agent": device.user_agent,
            },
            "clients": [],
            "authentication": {"methods": methods
                .iter()
                .map(|m| json!({"name": m, "timestamp": ts}))
                .collect::<Vec<_>>()},
        }),
    };
    sessions::insert(x, tenant, &row).await?;
    Ok((row, secret))
}

/// Records a use of the session by `client_id` (in the caller's transaction, the row locked):
/// the idle lifetime moves on, the client and device are recorded. `reauth`: the user just
/// authenticated again with `method`. None when the session is gone or no longer live.
pub async fn touch(
    tx: &Tx,
    tenant: &str,
    id: &str,
    client_id: &str,
    device: &Device<'_>,
    reauth: Option<&str>,
) -> Result<Option<SessionRow>, Error> {
    let now = time::unix_now();
    let Some(mut s) = sessions::find_for_update(tx, tenant, id).await? else {
        return Ok(None);
    };
    if !s.is_live(now) {
        return Ok(None);
    }
    let (_, idle) = lifetimes(tx, tenant).await?;
    let ts = time::now();
    s.updated_at = ts.clone();
    s.last_interacted_at = ts.clone();
    s.idle_expires_at = now.saturating_add(idle).min(s.expires_at);
    if let Value::Object(body) = &mut s.body {
        if let Some(Value::Object(d)) = body.get_mut("device") {
            d.insert("last_ip".into(), json!(device.ip));
            d.insert("last_user_agent".into(), json!(device.user_agent));
        }
        let clients = body.entry("clients").or_insert_with(|| json!([]));
        if let Value::Array(cs) = clients
            && !cs
                .iter()
                .any(|c| c.get("client_id").and_then(Value::as_str) == Some(client_id))
        {
            cs.push(json!({"client_id": client_id}));
        }
        if let Some(m) = reauth {
            s.authenticated_at = ts.clone();
            let auth = body
                .entry("authentication")
                .or_insert_with(|| json!({"methods": []}));
            if let Some(Value::Array(ms)) = auth.get_mut("methods") {
                ms.retain(|x| x.get("name").and_then(Value::as_str) != Some(m));
                ms.push(json!({"name": m, "timestamp": ts}));
            }
        }
    }
    sessions::update(tx, tenant, &s).await?;
    Ok(Some(s))
}

/// True when the session's user passed a second factor (`mfa` among its methods).
pub fn passed_mfa(s: &SessionRow) -> bool {
    s.body
        .pointer("/authentication/methods")
        .and_then(Value::as_array)
        .is_some_and(|ms| {
            ms.iter()
                .any(|m| m.get("name").and_then(Value::as_str) == Some("mfa"))
        })
}

/// Unix seconds of the session's last authentication.
pub fn auth_time(s: &SessionRow) -> i64 {
    ::time::OffsetDateTime::parse(
        &s.authenticated_at,
        &::time::format_description::well_known::Rfc3339,
    )
    .map_or(0, ::time::OffsetDateTime::unix_timestamp)
}
