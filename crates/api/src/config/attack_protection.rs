//! Tag `attack-protection`: five tenant-wide settings documents, each read whole and patched.
//! Their defaults are what a new Auth0 tenant has; nested objects (`stage`, provider settings)
//! merge key by key, lists are replaced, and the captcha providers' secrets are never shown.

use serde_json::{Value, json};

use gatehouse_spec::Op;

use super::{DOC, Doc};

pub static DOCS: &[Doc] = &[
    setting(
        "attack_protection_bot_detection",
        Op::GetBotDetection,
        Op::PatchBotDetection,
        bot_detection,
        &[],
    ),
    setting(
        "attack_protection_breached_password_detection",
        Op::GetBreachedPasswordDetection,
        Op::PatchBreachedPasswordDetection,
        breached_password_detection,
        &[],
    ),
    setting(
        "attack_protection_brute_force_protection",
        Op::GetBruteForceProtection,
        Op::PatchBruteForceProtection,
        brute_force_protection,
        &[],
    ),
    setting(
        "attack_protection_captcha",
        Op::GetCaptcha,
        Op::PatchCaptcha,
        captcha,
        &[
            "recaptcha_v2.secret",
            "recaptcha_enterprise.api_key",
            "hcaptcha.secret",
            "friendly_captcha.secret",
            "arkose.secret",
        ],
    ),
    setting(
        "attack_protection_suspicious_ip_throttling",
        Op::GetSuspiciousIpThrottling,
        Op::PatchSuspiciousIpThrottling,
        suspicious_ip_throttling,
        &[],
    ),
];

/// A tenant-wide settings document read with `get` and deep-patched with `patch`.
const fn setting(
    kind: &'static str,
    get: Op,
    patch: Op,
    defaults: fn() -> Value,
    hidden: &'static [&'static str],
) -> Doc {
    Doc {
        kind,
        get: Some(get),
        patch: Some(patch),
        defaults: Some(defaults),
        hidden,
        ..DOC
    }
}

/// Auth0's bot detection of a new tenant: off (`never` challenge), medium level.
fn bot_detection() -> Value {
    json!({
        "challenge_password_policy": "never",
        "challenge_passwordless_policy": "never",
        "challenge_password_reset_policy": "never",
        "allowlist": [],
        "bot_detection_level": "medium",
        "monitoring_mode_enabled": false
    })
}

/// Breached password detection of a new tenant: off, standard method.
fn breached_password_detection() -> Value {
    json!({
        "enabled": false,
        "shields": [],
        "admin_notification_frequency": [],
        "method": "standard",
        "stage": {
            "pre-user-registration": {"shields": []},
            "pre-change-password": {"shields": []}
        }
    })
}

/// Brute-force protection of a new tenant: on, 10 attempts per identifier and IP, block and
/// notify the user.
fn brute_force_protection() -> Value {
    json!({
        "enabled": true,
        "shields": ["block", "user_notification"],
        "mode": "count_per_identifier_and_ip",
        "allowlist": [],
        "max_attempts": 10
    })
}

/// Captcha of a new tenant: Auth0's own challenge ("our default bot detection response"),
/// failing closed; every provider is shown, unconfigured ones with empty keys (as recorded).
fn captcha() -> Value {
    json!({
        "active_provider_id": "auth_challenge",
        "simple_captcha": {},
        "auth_challenge": {"fail_open": false},
        "recaptcha_v2": {"site_key": ""},
        "recaptcha_enterprise": {"site_key": "", "project_id": ""},
        "hcaptcha": {"site_key": ""},
        "friendly_captcha": {"site_key": ""},
        "arkose": {
            "site_key": "",
            "client_subdomain": "client-api",
            "verify_subdomain": "verify-api",
            "fail_open": false
        }
    })
}

/// Suspicious IP throttling of a new tenant: on; 100 login attempts a day and 50 sign-ups a
/// minute per IP, 10 custom token exchanges per 100 minutes (rates: milliseconds per attempt).
fn suspicious_ip_throttling() -> Value {
    json!({
        "enabled": true,
        "shields": ["admin_notification", "block"],
        "allowlist": [],
        "stage": {
            "pre-login": {"max_attempts": 100, "rate": 864_000},
            "pre-user-registration": {"max_attempts": 50, "rate": 1_200},
            "pre-custom-token-exchange": {"max_attempts": 10, "rate": 600_000}
        }
    })
}

/// The tenant's brute-force protection as it applies now (the stored settings over Auth0's
/// defaults): read by every password login.
pub async fn brute_force_settings(
    x: &impl gatehouse_store::Exec,
    tenant: &str,
) -> Result<Value, gatehouse_core::Error> {
    effective(
        x,
        tenant,
        "attack_protection_brute_force_protection",
        brute_force_protection,
    )
    .await
}

/// The tenant's suspicious IP throttling as it applies now: read by every failed login and
/// every sign-up.
pub async fn suspicious_ip_settings(
    x: &impl gatehouse_store::Exec,
    tenant: &str,
) -> Result<Value, gatehouse_core::Error> {
    effective(
        x,
        tenant,
        "attack_protection_suspicious_ip_throttling",
        suspicious_ip_throttling,
    )
    .await
}

/// A settings document as it applies: the stored changes merged over the defaults.
async fn effective(
    x: &impl gatehouse_store::Exec,
    tenant: &str,
    kind: &str,
    defaults: fn() -> Value,
) -> Result<Value, gatehouse_core::Error> {
    let stored =
        gatehouse_store::docs::get(x, tenant, kind, gatehouse_store::tenants::SETTINGS_ID).await?;
    let mut v = defaults();
    if let Some(s) = stored {
        super::merge(&mut v, &s, super::Merge::Deep);
    }
    Ok(v)
}
