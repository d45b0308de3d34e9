//! The login core: a database connection's user and password checked, with Auth0's brute-force
//! protection (failed logins per user and IP, `login_failures`), shared by the password grants
//! of `/oauth/token` and the hosted login page.
//!
//! An unknown user and a wrong password look the same from outside (same answer, and a bcrypt
//! verification is spent either way, so that the time taken does not tell them apart either).

use std::sync::{Arc, OnceLock};

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use gatehouse_core::{Error, legacy_hash, time};
use gatehouse_store::{
    Exec, atomically,
    connections::{self, ConnectionRow},
    docs, grants, tenants,
    users::{self, UserRow},
};

use super::throttle::{self, Stage};
use crate::{logs::Entry, state::AppState, state::Tenant};

pub struct Credentials<'a> {
    pub tenant: &'a Arc<Tenant>,
    pub client_id: &'a str,
    /// The database connection's name (realm); None: the tenant's `default_directory`, else the
    /// client's single enabled database connection.
    pub realm: Option<&'a str>,
    /// E-mail or username, as the user typed it.
    pub username: &'a str,
    pub password: &'a SecretString,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginFailure {
    /// Unknown user or wrong password (never says which): "Wrong email or password."
    WrongCredentials,
    /// The user is `blocked` (by an administrator): "user is blocked"
    Blocked,
    /// Brute-force protection blocked this user for this IP.
    TooManyAttempts,
    /// Suspicious IP throttling: too many failed logins from this IP.
    IpThrottled,
    /// No such database connection, or not enabled for the client.
    NoConnection(String),
}

impl LoginFailure {
    /// The sentence Auth0 answers with.
    pub fn description(&self) -> String {
        match self {
            Self::WrongCredentials => "Wrong email or password.".into(),
            Self::Blocked => "user is blocked".into(),
            Self::TooManyAttempts => {
                "Your account has been blocked after multiple consecutive login attempts.".into()
            }
            Self::IpThrottled => super::throttle::Stage::PreLogin.refusal().into(),
            Self::NoConnection(m) => m.clone(),
        }
    }
}

/// The tenant's settings document (`default_directory`, `friendly_name`, …), `null` when unset.
pub(crate) async fn tenant_settings(x: &impl Exec, tenant: &str) -> Result<Value, Error> {
    Ok(
        docs::get(x, tenant, tenants::SETTINGS_KIND, tenants::SETTINGS_ID)
            .await?
            .unwrap_or(Value::Null),
    )
}

/// The database connection a login or sign-up uses: `realm` by name, else the tenant's
/// `default_directory`, else the client's only enabled database connection. It must be a
/// database connection enabled for the client. `Err(message)`: Auth0's description.
pub(crate) async fn database_connection(
    state: &AppState,
    tenant: &str,
    client_id: &str,
    realm: Option<&str>,
) -> Result<Result<ConnectionRow, String>, Error> {
    let db = &state.db;
    let realm = match realm.filter(|r| !r.is_empty()) {
        Some(r) => Some(r.to_owned()),
        None => tenant_settings(db, tenant)
            .await?
            .get("default_directory")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    };
    if let Some(name) = realm {
        let Some(c) = connections::find_by_name(db, tenant, &name).await? else {
            return Ok(Err("connection not found".into()));
        };
        if c.strategy != "auth0"
            || !connections::is_enabled_for(db, tenant, &c.id, client_id).await?
        {
            return Ok(Err("Connection is not enabled for this client".into()));
        }
        return Ok(Ok(c));
    }
    let mut found = Vec::new();
    for id in connections::enabled_for_client(db, tenant, client_id).await? {
        if let Some(c) = connections::find(db, tenant, &id).await?
            && c.strategy == "auth0"
        {
            found.push(c);
        }
    }
    if found.len() == 1 {
        return Ok(Ok(found.remove(0)));
    }
    Ok(Err(
        "Authorization server not configured with default connection.".into(),
    ))
}

/// The user of `conn` whom `login` names: by e-mail when it has an `@`, else by username
/// (and by e-mail as Auth0 also accepts it).
pub(crate) async fn find_login_user(
    x: &impl Exec,
    tenant: &str,
    conn: &ConnectionRow,
    login: &str,
) -> Result<Option<UserRow>, Error> {
    let login = login.trim();
    if login.is_empty() {
        return Ok(None);
    }
    let email = login.to_lowercase();
    let mut id = None;
    if login.contains('@') {
        id = users::find_key(x, tenant, &conn.id, "email", &email)
            .await?
            .map(|(u, _)| u);
        if id.is_none() {
            id = users::by_connection_email(x, tenant, &conn.id, &email)
                .await?
                .into_iter()
                .next();
        }
    }
    if id.is_none() {
        id = users::find_key(x, tenant, &conn.id, "username", login)
            .await?
            .map(|(u, _)| u);
    }
    match id {
        Some(id) => Ok(users::find(x, tenant, &id).await?),
        None => Ok(None),
    }
}

/// What brute-force protection does for a login from `ip`: the failures that block (`None`:
/// it does not apply: disabled, no `block` shield, an allow-listed or unknown IP).
fn block_threshold(settings: &Value, ip: Option<&str>) -> Option<i64> {
    let ip = ip?;
    if settings.get("enabled").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    if !has_shield(settings, "block") {
        return None;
    }
    if allow_listed(settings, ip) {
        return None;
    }
    Some(
        settings
            .get("max_attempts")
            .and_then(Value::as_i64)
            .filter(|n| *n > 0)
            .unwrap_or(10),
    )
}

fn has_shield(settings: &Value, shield: &str) -> bool {
    settings
        .get("shields")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v.as_str() == Some(shield)))
}

pub(crate) fn allow_listed(settings: &Value, ip: &str) -> bool {
    let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    settings
        .get("allowlist")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|entry| match entry.parse::<ipnet::IpNet>() {
            Ok(net) => net.contains(&addr),
            Err(_) => entry.parse::<std::net::IpAddr>().is_ok_and(|a| a == addr),
        })
}

/// A bcrypt hash nobody's password matches, checked when the user does not exist so that the
/// answer takes as long as for a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let pw = SecretString::from(gatehouse_core::ids::hex_key(16));
        gatehouse_core::password::hash(&pw).unwrap_or_default()
    })
}

async fn check(
    password: &SecretString,
    stored: Option<String>,
) -> Result<legacy_hash::Verdict, Error> {
    let pw = SecretString::from(password.expose_secret().to_owned());
    tokio::task::spawn_blocking(move || match stored {
        Some(h) => legacy_hash::verify_and_upgrade(&pw, &h),
        None => {
            let _ = gatehouse_core::password::verify(&pw, decoy_hash());
            Ok(legacy_hash::Verdict::Mismatch)
        }
    })
    .await
    .map_err(|e| Error::Internal(e.into()))?
    .map_err(Error::Internal)
}

fn log_entry(
    code: &str,
    description: &str,
    c: &Credentials<'_>,
    conn: Option<&ConnectionRow>,
) -> Entry {
    Entry::new(code, description)
        .set("client_id", Some(c.client_id))
        .set("ip", c.ip)
        .set("user_agent", c.user_agent)
        .set("user_name", Some(c.username))
        .set("connection", conn.map(|k| k.name.clone()))
        .set("connection_id", conn.map(|k| k.id.clone()))
        .set("strategy", conn.map(|_| "auth0"))
        .set("strategy_type", conn.map(|_| "database"))
}

/// Verifies the password (bcrypt or an imported legacy hash, upgraded to bcrypt on success via
/// gatehouse_core::legacy_hash::verify_and_upgrade), counts failures (brute force: login_failures,
/// the tenant's attack-protection settings) and, per IP, toward suspicious IP throttling
/// ([`super::throttle`], checked before anything else), logs failures (`fp`/`fu`/`limit_wc`), and on success
/// clears the counter and updates logins_count / last_login / last_ip. Success is logged by the
/// caller (its own log type).
pub async fn verify_password(
    state: &AppState,
    c: &Credentials<'_>,
) -> Result<Result<UserRow, LoginFailure>, Error> {
    let tenant = c.tenant.id.as_str();
    let db = &state.db;
    let conn = match database_connection(state, tenant, c.client_id, c.realm).await? {
        Ok(conn) => conn,
        Err(m) => {
            let f = LoginFailure::NoConnection(m);
            state
                .logs
                .record(tenant, log_entry("f", &f.description(), c, None))
                .await;
            return Ok(Err(f));
        }
    };
    if throttle::refused(state, tenant, Stage::PreLogin, c.ip).await? {
        return Ok(Err(LoginFailure::IpThrottled));
    }
    let settings = crate::config::attack_protection::brute_force_settings(db, tenant).await?;
    let threshold = block_threshold(&settings, c.ip);
    let user = find_login_user(db, tenant, &conn, c.username).await?;
    if let (Some(u), Some(ip), Some(_)) = (&user, c.ip, threshold)
        && grants::is_blocked(db, tenant, &u.user_id, ip).await?
    {
        let f = LoginFailure::TooManyAttempts;
        let e = log_entry("limit_wc", &f.description(), c, Some(&conn))
            .set("user_id", Some(u.user_id.clone()));
        state.logs.record(tenant, e).await;
        return Ok(Err(f));
    }
    let identity = match &user {
        Some(u) => users::identities(db, tenant, &u.user_id)
            .await?
            .into_iter()
            .find(|i| i.connection_id == conn.id && i.provider == "auth0"),
        None => None,
    };
    let stored = identity.as_ref().and_then(|i| i.password_hash.clone());
    let verdict = check(c.password, stored).await?;
    if verdict == legacy_hash::Verdict::Mismatch || user.is_none() || identity.is_none() {
        throttle::count(state, tenant, Stage::PreLogin, c.ip).await?;
    }
    let (Some(user), Some(identity)) = (user, identity) else {
        let f = LoginFailure::WrongCredentials;
        state
            .logs
            .record(tenant, log_entry("fu", &f.description(), c, Some(&conn)))
            .await;
        return Ok(Err(f));
    };
    if verdict == legacy_hash::Verdict::Mismatch {
        let mut blocked_now = false;
        if let (Some(ip), Some(limit)) = (c.ip, threshold) {
            let now = time::now();
            let user_id = user.user_id.as_str();
            let notify = has_shield(&settings, "user_notification");
            let issuer = c.tenant.issuer.as_str();
            let (blocked, mailed) = atomically(|| async {
                let tx = db.begin().await?;
                let (failures, blocked) =
                    grants::record_failure(&tx, tenant, user_id, ip, limit, &now).await?;
                // The failure that reaches the threshold (exactly one) notifies the user.
                let starts = blocked && failures == limit;
                let mailed = starts
                    && notify
                    && crate::mgmt::tickets::notify_blocked(&tx, tenant, issuer, &user, ip).await?;
                tx.commit().await?;
                Ok::<_, Error>((starts, mailed))
            })
            .await?;
            if mailed {
                state.worker.wake(crate::email::KIND);
            }
            blocked_now = blocked;
        }
        let f = LoginFailure::WrongCredentials;
        let e = log_entry("fp", &f.description(), c, Some(&conn))
            .set("user_id", Some(user.user_id.clone()));
        state.logs.record(tenant, e).await;
        if blocked_now {
            let e = log_entry(
                "limit_wc",
                "User blocked after too many failed login attempts for this IP.",
                c,
                Some(&conn),
            )
            .set("user_id", Some(user.user_id.clone()));
            state.logs.record(tenant, e).await;
        }
        return Ok(Err(f));
    }
    if user.blocked {
        let f = LoginFailure::Blocked;
        let e = log_entry("f", &f.description(), c, Some(&conn))
            .set("user_id", Some(user.user_id.clone()));
        state.logs.record(tenant, e).await;
        return Ok(Err(f));
    }
    let upgrade = match &verdict {
        legacy_hash::Verdict::Upgrade(h) => Some(h.clone()),
        _ => None,
    };
    let user_id = user.user_id.clone();
    let updated = atomically(|| {
        let (upgrade, identity, user_id) = (upgrade.clone(), identity.clone(), user_id.clone());
        async move {
            let tx = db.begin().await?;
            let Some(mut u) = users::find_for_update(&tx, tenant, &user_id).await? else {
                return Ok::<_, Error>(None);
            };
            let now = time::now();
            u.logins_count += 1;
            u.last_login = Some(now.clone());
            if let Some(ip) = c.ip {
                u.last_ip = Some(ip.to_owned());
            }
            users::update_user(&tx, tenant, &u).await?;
            if let Some(h) = &upgrade {
                users::set_password(&tx, tenant, &identity, h, &identity.password_history).await?;
            }
            if let Some(ip) = c.ip {
                grants::clear_failures(&tx, tenant, &user_id, ip).await?;
            }
            tx.commit().await?;
            Ok(Some(u.into_inner()))
        }
    })
    .await?;
    match updated {
        Some(u) => Ok(Ok(u)),
        // Deleted between the check and the update.
        None => Ok(Err(LoginFailure::WrongCredentials)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn threshold_follows_settings() {
        let s = json!({"enabled": true, "shields": ["block"], "allowlist": ["10.0.0.0/8", "192.168.1.1"], "max_attempts": 3});
        assert_eq!(block_threshold(&s, Some("1.2.3.4")), Some(3));
        assert_eq!(block_threshold(&s, Some("10.2.3.4")), None);
        assert_eq!(block_threshold(&s, Some("192.168.1.1")), None);
        assert_eq!(block_threshold(&s, None), None);
        let off = json!({"enabled": false, "shields": ["block"], "max_attempts": 3});
        assert_eq!(block_threshold(&off, Some("1.2.3.4")), None);
        let notify = json!({"enabled": true, "shields": ["user_notification"], "max_attempts": 3});
        assert_eq!(block_threshold(&notify, Some("1.2.3.4")), None);
        let default = json!({"enabled": true, "shields": ["block"]});
        assert_eq!(block_threshold(&default, Some("1.2.3.4")), Some(10));
    }

    #[test]
    fn failures_never_say_which() {
        assert_eq!(
            LoginFailure::WrongCredentials.description(),
            "Wrong email or password."
        );
        assert_eq!(LoginFailure::Blocked.description(), "user is blocked");
    }
}
