//! Suspicious IP throttling (attack protection): one token bucket per IP address and stage.
//!
//! - `pre-login` counts failed logins from the address (any user: it is what catches one
//!   address trying many accounts), `pre-user-registration` counts every sign-up attempt.
//! - A bucket holds at most the stage's `max_attempts`; one attempt comes back every `rate`
//!   milliseconds. An attempt that finds the bucket empty is answered 429 while the tenant's
//!   `shields` include `block`; the address is "blocked" for `GET /anomaly/blocks/ips/{ip}` as
//!   long as one of its buckets is empty, and `DELETE` there empties nothing but forgets them.
//! - Disabled settings and allow-listed addresses (IPs or CIDR ranges) are never counted.
//! - The moment a bucket runs dry is logged once (`limit_mu`); attempts refused while it stays
//!   dry are not logged again (an attack would flood the log).
//!
//! Buckets are `docs` of kind `ip_throttle` (id `stage|ip`), updated in one transaction with
//! the row locked, so that instances sharing a database count every attempt once.

use serde_json::{Value, json};

use gatehouse_core::{Error, time};
use gatehouse_store::{Exec, atomically, docs};

use crate::{logs::Entry, state::AppState};

const BUCKET: &str = "ip_throttle";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    PreLogin,
    PreUserRegistration,
}

impl Stage {
    const ALL: [Stage; 2] = [Stage::PreLogin, Stage::PreUserRegistration];

    fn key(self) -> &'static str {
        match self {
            Stage::PreLogin => "pre-login",
            Stage::PreUserRegistration => "pre-user-registration",
        }
    }

    /// What an attempt refused at this stage is told (Auth0's prompt texts `ip-blocked` and
    /// `ip-signup-blocked`).
    pub fn refusal(self) -> &'static str {
        match self {
            Stage::PreLogin => {
                "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator."
            }
            Stage::PreUserRegistration => "Too many signups from the same IP",
        }
    }
}

/// A stage's limits as the settings give them for one address (`None`: not counted).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Limits {
    max: f64,
    rate_ms: f64,
    block: bool,
}

fn limits(settings: &Value, stage: Stage, ip: &str) -> Option<Limits> {
    if settings.get("enabled").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    if super::login::allow_listed(settings, ip) {
        return None;
    }
    let st = settings.get("stage").and_then(|s| s.get(stage.key()))?;
    let positive = |k: &str| {
        st.get(k)
            .and_then(Value::as_f64)
            .filter(|n| *n > 0.0 && n.is_finite())
    };
    let block = settings
        .get("shields")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|v| v.as_str() == Some("block")));
    Some(Limits {
        max: positive("max_attempts")?,
        rate_ms: positive("rate")?,
        block,
    })
}

/// The attempts a bucket holds at `now_ms` (a missing bucket is full).
fn available(bucket: Option<&Value>, l: &Limits, now_ms: i64) -> f64 {
    let Some(b) = bucket else {
        return l.max;
    };
    let tokens = b.get("tokens").and_then(Value::as_f64).unwrap_or(l.max);
    let at = b.get("at").and_then(Value::as_i64).unwrap_or(now_ms);
    let refilled = (now_ms.saturating_sub(at).max(0) as f64) / l.rate_ms;
    (tokens + refilled).min(l.max)
}

fn bucket_id(stage: Stage, ip: &str) -> String {
    format!("{}|{ip}", stage.key())
}

fn now_ms() -> i64 {
    (::time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Whether an attempt at `stage` from `ip` is refused now (read only).
pub async fn refused(
    state: &AppState,
    tenant: &str,
    stage: Stage,
    ip: Option<&str>,
) -> Result<bool, Error> {
    let Some(ip) = ip else {
        return Ok(false);
    };
    let settings =
        crate::config::attack_protection::suspicious_ip_settings(&state.db, tenant).await?;
    let Some(l) = limits(&settings, stage, ip).filter(|l| l.block) else {
        return Ok(false);
    };
    let b = docs::get(&state.db, tenant, BUCKET, &bucket_id(stage, ip)).await?;
    Ok(available(b.as_ref(), &l, now_ms()) < 1.0)
}

/// Counts one attempt at `stage` from `ip`. `Ok(true)`: the bucket was already empty, the
/// attempt is refused (when the `block` shield is on; otherwise it is only counted).
pub async fn count(
    state: &AppState,
    tenant: &str,
    stage: Stage,
    ip: Option<&str>,
) -> Result<bool, Error> {
    let Some(ip) = ip else {
        return Ok(false);
    };
    let settings =
        crate::config::attack_protection::suspicious_ip_settings(&state.db, tenant).await?;
    let Some(l) = limits(&settings, stage, ip) else {
        return Ok(false);
    };
    let id = bucket_id(stage, ip);
    let db = &state.db;
    let (was_empty, ran_dry) = atomically(|| async {
        let tx = db.begin().await?;
        let now = now_ms();
        let stamp = time::now();
        let b = docs::lock(&tx, tenant, BUCKET, &id).await?;
        let have = available(b.as_ref(), &l, now);
        let left = (have - 1.0).max(0.0);
        docs::put(
            &tx,
            tenant,
            BUCKET,
            &id,
            &json!({"tokens": left, "at": now}),
            &stamp,
        )
        .await?;
        tx.commit().await?;
        Ok::<_, Error>((have < 1.0, have >= 1.0 && left < 1.0))
    })
    .await?;
    if ran_dry {
        let entry = Entry::new(
            "limit_mu",
            match stage {
                Stage::PreLogin => "Too many failed login attempts from this IP address.",
                Stage::PreUserRegistration => "Too many sign-up attempts from this IP address.",
            },
        )
        .set("ip", Some(ip));
        state.logs.record(tenant, entry).await;
    }
    Ok(was_empty && l.block)
}

/// Whether `ip` is blocked now at any stage (`GET /anomaly/blocks/ips/{ip}`).
pub async fn ip_blocked(x: &impl Exec, tenant: &str, ip: &str) -> Result<bool, Error> {
    let settings = crate::config::attack_protection::suspicious_ip_settings(x, tenant).await?;
    let now = now_ms();
    for stage in Stage::ALL {
        let Some(l) = limits(&settings, stage, ip).filter(|l| l.block) else {
            continue;
        };
        let b = docs::get(x, tenant, BUCKET, &bucket_id(stage, ip)).await?;
        if available(b.as_ref(), &l, now) < 1.0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Forgets what `ip` spent at every stage (`DELETE /anomaly/blocks/ips/{ip}`).
pub async fn unblock_ip(x: &impl Exec, tenant: &str, ip: &str) -> Result<(), Error> {
    for stage in Stage::ALL {
        docs::delete(x, tenant, BUCKET, &bucket_id(stage, ip)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Value {
        json!({
            "enabled": true,
            "shields": ["block"],
            "allowlist": ["10.0.0.0/8"],
            "stage": {
                "pre-login": {"max_attempts": 3, "rate": 1000},
                "pre-user-registration": {"max_attempts": 2, "rate": 500}
            }
        })
    }

    #[test]
    fn limits_follow_settings() {
        let s = settings();
        let l = limits(&s, Stage::PreLogin, "1.2.3.4");
        assert_eq!(
            l,
            Some(Limits {
                max: 3.0,
                rate_ms: 1000.0,
                block: true
            })
        );
        assert_eq!(limits(&s, Stage::PreLogin, "10.1.2.3"), None);
        let mut off = s.clone();
        off["enabled"] = json!(false);
        assert_eq!(limits(&off, Stage::PreLogin, "1.2.3.4"), None);
        let mut notify = s.clone();
        notify["shields"] = json!(["admin_notification"]);
        assert!(!limits(&notify, Stage::PreUserRegistration, "1.2.3.4").is_some_and(|l| l.block));
    }

    #[test]
    fn bucket_refills_at_the_rate() {
        let l = Limits {
            max: 3.0,
            rate_ms: 1000.0,
            block: true,
        };
        assert_eq!(available(None, &l, 5_000), 3.0);
        let empty = json!({"tokens": 0.0, "at": 5_000});
        assert!(available(Some(&empty), &l, 5_999) < 1.0);
        assert_eq!(available(Some(&empty), &l, 6_000), 1.0);
        assert_eq!(available(Some(&empty), &l, 60_000), 3.0);
    }
}
