//! Tag `tenants`: the tenant's settings, one document read whole and patched (objects merge key
//! by key, `null` removes a setting). Other families read it through
//! `gatehouse_store::tenants::{SETTINGS_KIND, SETTINGS_ID}` (e.g. the token endpoint's
//! `allow_organization_name_in_authentication_api`).

use serde_json::{Value, json};

use gatehouse_spec::Op;
use gatehouse_store::tenants::SETTINGS_KIND;

use super::{DOC, Doc};

pub static DOCS: &[Doc] = &[Doc {
    kind: SETTINGS_KIND,
    get: Some(Op::TenantSettingsRoute),
    patch: Some(Op::PatchSettings),
    defaults: Some(settings),
    normalize: Some(lifetimes_in_hours),
    ..DOC
}];

/// Lifetimes given in minutes (`session_lifetime_in_minutes`, …) are kept, and shown, in hours
/// (`session_lifetime`, …), as Auth0 shows them: a whole number when the minutes make whole
/// hours, else a fraction.
fn lifetimes_in_hours(doc: &mut Value) {
    let Value::Object(o) = doc else { return };
    for name in [
        "session_lifetime",
        "idle_session_lifetime",
        "ephemeral_session_lifetime",
        "idle_ephemeral_session_lifetime",
    ] {
        let Some(minutes) = o.remove(&format!("{name}_in_minutes")) else {
            continue;
        };
        let Some(m) = minutes.as_i64() else { continue };
        let hours = if m % 60 == 0 {
            json!(m / 60)
        } else {
            // Minutes are at most a few million: exact as a float.
            #[expect(clippy::cast_precision_loss, reason = "small whole numbers")]
            let h = m as f64 / 60.0;
            json!(h)
        };
        o.insert(name.to_owned(), hours);
    }
}

/// The settings of a new tenant, as Auth0 shows them (the most minimal recorded tenant, with the
/// spec's defaults for the session lifetimes, in hours): English only, single sign-on on, the
/// change-password and MFA pages not customised, RP-initiated logout discoverable.
fn settings() -> Value {
    json!({
        "allowed_logout_urls": [],
        "acr_values_supported": [],
        "change_password": {"enabled": false},
        "enabled_locales": ["en"],
        "flags": {
            "allow_changing_enable_sso": false,
            "cannot_change_enforce_client_authentication_on_passwordless_start": true,
            "disable_impersonation": true,
            "enable_sso": true,
            "enforce_client_authentication_on_passwordless_start": true,
            "new_universal_login_experience_enabled": true,
            "universal_login": true,
            "revoke_refresh_token_grant": false,
            "disable_clickjack_protection_headers": false
        },
        "guardian_mfa_page": {"enabled": false},
        "idle_session_lifetime": 72,
        "ephemeral_session_lifetime": 72,
        "idle_ephemeral_session_lifetime": 24,
        "sandbox_version": "22",
        "session_lifetime": 168,
        "oidc_logout": {"rp_logout_end_session_endpoint_discovery": true},
        "universal_login": {},
        "resource_parameter_profile": "audience",
        "phone_consolidated_experience": false,
        "client_id_metadata_document_supported": false,
        "sandbox_versions_available": ["22", "18"]
    })
}
