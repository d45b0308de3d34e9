//! Tag `guardian`, its configuration: the MFA factors (one document per factor, `{enabled}`),
//! the tenant's MFA policies (a JSON array), and the settings of the factors' delivery: phone
//! message types, selected SMS/phone and push providers, SMS/phone templates, Twilio, Amazon SNS,
//! APNs, FCM and FCM v1 credentials, DUO settings, and the WebAuthn factors' settings (an
//! undocumented endpoint the official SDKs and the Terraform provider call).
//!
//! What Auth0 shows of each provider's credentials, as recorded by go-auth0's tests against a
//! real tenant (test/data/recordings/TestGuardian): SNS never shows `aws_secret_access_key`,
//! APNs never shows `p12`, FCM and FCM v1 answer `{}` (their key is never shown); Twilio shows
//! `auth_token` and DUO shows `skey` back (the Terraform provider reads both to detect drift), so
//! they are shown here too.
//!
//! The SMS and phone operations are two names for one configuration in Auth0 (the `sms` ones are
//! the older names): they share their documents here.
//!
//! Enrollments and enrollment tickets (real behaviour) are in `mgmt/guardian.rs`.

use axum::{
    Router,
    body::Bytes,
    extract::{Path, Request, State},
    http::{HeaderMap, Method, header},
    response::{IntoResponse, Response},
    routing::any,
};
use serde_json::{Map, Value, json};

use gatehouse_core::{Error, time};
use gatehouse_spec::Op;
use gatehouse_store::{Transient, docs, tenants::SETTINGS_ID};

use super::{DOC, Doc, Merge, merge, without_nulls};
use crate::{
    mfa::{FACTOR_KIND, FACTORS, POLICIES_KIND},
    spine::{self, Ctx, Input, Registry, Reply, auth},
    state::AppState,
};

const MESSAGE_TYPES_KIND: &str = "guardian_phone_message_types";
const PHONE_PROVIDER_KIND: &str = "guardian_phone_selected_provider";
const PHONE_TEMPLATES_KIND: &str = "guardian_phone_templates";
const TWILIO_KIND: &str = "guardian_phone_twilio";
const PUSH_PROVIDER_KIND: &str = "guardian_push_selected_provider";
const SNS_KIND: &str = "guardian_push_sns";
const APNS_KIND: &str = "guardian_push_apns";
const FCM_KIND: &str = "guardian_push_fcm";
const FCMV1_KIND: &str = "guardian_push_fcmv1";
const DUO_KIND: &str = "guardian_duo_settings";
const WEBAUTHN_KIND: &str = "guardian_webauthn_settings";

pub static DOCS: &[Doc] = &[
    // PUT /guardian/factors/{name}: the spine has checked the name against Auth0's factors.
    Doc {
        kind: FACTOR_KIND,
        key: &["name"],
        put: Some(Op::PutFactorsByName),
        defaults: Some(factor_off),
        ..DOC
    },
    Doc {
        kind: MESSAGE_TYPES_KIND,
        get: Some(Op::GetMessageTypes),
        put: Some(Op::PutMessageTypes),
        defaults: Some(|| json!({"message_types": []})),
        ..DOC
    },
    Doc {
        kind: PHONE_PROVIDER_KIND,
        get: Some(Op::GetGuardianPhoneProviders),
        put: Some(Op::PutPhoneProviders),
        defaults: Some(phone_provider),
        ..DOC
    },
    Doc {
        kind: PHONE_PROVIDER_KIND,
        get: Some(Op::GetSmsProviders),
        put: Some(Op::PutSmsProviders),
        defaults: Some(phone_provider),
        ..DOC
    },
    Doc {
        kind: PHONE_TEMPLATES_KIND,
        get: Some(Op::GetFactorPhoneTemplates),
        put: Some(Op::PutFactorPhoneTemplates),
        defaults: Some(phone_templates),
        ..DOC
    },
    Doc {
        kind: PHONE_TEMPLATES_KIND,
        get: Some(Op::GetFactorSmsTemplates),
        put: Some(Op::PutFactorSmsTemplates),
        defaults: Some(phone_templates),
        ..DOC
    },
    Doc {
        kind: TWILIO_KIND,
        get: Some(Op::GetPhoneTwilioFactorProvider),
        put: Some(Op::PutTwilio),
        defaults: Some(twilio),
        ..DOC
    },
    Doc {
        kind: TWILIO_KIND,
        get: Some(Op::GetSmsTwilioFactorProvider),
        put: Some(Op::PutSmsTwilioFactorProvider),
        defaults: Some(twilio),
        ..DOC
    },
    Doc {
        kind: PUSH_PROVIDER_KIND,
        get: Some(Op::GetPnProviders),
        put: Some(Op::PutPnProviders),
        defaults: Some(|| json!({"provider": "guardian"})),
        ..DOC
    },
    Doc {
        kind: SNS_KIND,
        get: Some(Op::GetSns),
        put: Some(Op::PutSns),
        patch: Some(Op::PatchSns),
        defaults: Some(|| json!({})),
        hidden: &["aws_secret_access_key"],
        ..DOC
    },
    Doc {
        kind: APNS_KIND,
        get: Some(Op::GetApns),
        put: Some(Op::PutApns),
        patch: Some(Op::PatchApns),
        defaults: Some(|| json!({"enabled": false})),
        hidden: &["p12"],
        normalize: Some(apns_enabled),
        ..DOC
    },
    Doc {
        kind: FCM_KIND,
        put: Some(Op::PutFcm),
        patch: Some(Op::PatchFcm),
        defaults: Some(|| json!({})),
        hidden: &["server_key"],
        ..DOC
    },
    Doc {
        kind: FCMV1_KIND,
        put: Some(Op::PutFcmv1),
        patch: Some(Op::PatchFcmv1),
        defaults: Some(|| json!({})),
        hidden: &["server_credentials"],
        ..DOC
    },
    Doc {
        kind: DUO_KIND,
        get: Some(Op::GetFactorDuoSettings),
        put: Some(Op::PutFactorDuoSettings),
        patch: Some(Op::PatchFactorDuoSettings),
        defaults: Some(|| json!({})),
        ..DOC
    },
];

pub fn register(reg: &mut Registry) {
    reg.add(Op::GetFactors, list_factors);
    reg.add(Op::GetPolicies, get_policies);
    reg.add(Op::PutPolicies, put_policies);
}

/// A factor nobody switched on.
fn factor_off() -> Value {
    json!({"enabled": false})
}

/// A new tenant's phone factor sends through Auth0's own provider.
fn phone_provider() -> Value {
    json!({"provider": "auth0"})
}

/// Auth0's default SMS/voice texts (the spec's defaults).
fn phone_templates() -> Value {
    json!({
        "enrollment_message": "{{code}} is your verification code for {{tenant.friendly_name}}. Please enter this code to verify your enrollment.",
        "verification_message": "{{code}} is your verification code for {{tenant.friendly_name}}"
    })
}

/// Twilio's settings show every field, `null` when not set (recorded: a PUT without
/// `messaging_service_sid` reads back `"messaging_service_sid": null`).
fn twilio() -> Value {
    json!({"from": null, "messaging_service_sid": null, "auth_token": null, "sid": null})
}

/// APNs shows `enabled` once it can send: a bundle id and a certificate were given.
fn apns_enabled(v: &mut Value) {
    let has = |k: &str| {
        v.get(k)
            .is_some_and(|x| x.as_str().is_some_and(|s| !s.is_empty()))
    };
    let enabled = has("bundle_id") && has("p12");
    if let Value::Object(o) = v {
        o.insert("enabled".into(), json!(enabled));
    }
}

// ---- factors and policies -------------------------------------------------------------------

/// Every factor, with its state (`trial_expired` is always false: nothing here is a trial).
async fn list_factors(ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    let mut list = Vec::with_capacity(FACTORS.len());
    for name in FACTORS {
        let enabled = docs::get(ctx.db(), ctx.tenant_id(), FACTOR_KIND, name)
            .await?
            .and_then(|v| v.get("enabled").and_then(Value::as_bool))
            .unwrap_or(false);
        list.push(json!({"name": name, "enabled": enabled, "trial_expired": false}));
    }
    Ok(Reply::json(Value::Array(list)))
}

/// The tenant's policies (none on a new tenant).
async fn get_policies(ctx: Ctx, _input: Input) -> Result<Reply, Error> {
    let stored = docs::get(ctx.db(), ctx.tenant_id(), POLICIES_KIND, SETTINGS_ID).await?;
    Ok(Reply::json(
        stored.filter(Value::is_array).unwrap_or_else(|| json!([])),
    ))
}

/// Replaces the policies (the spine has checked each against Auth0's list); each is kept once.
async fn put_policies(ctx: Ctx, input: Input) -> Result<Reply, Error> {
    let Value::Array(given) = &input.body else {
        return Err(Error::bad_body(
            "Payload validation error: 'Expected type array but found type object'.",
        ));
    };
    let mut list: Vec<Value> = Vec::new();
    for p in given {
        if !list.contains(p) {
            list.push(p.clone());
        }
    }
    let value = Value::Array(list);
    docs::put(
        ctx.db(),
        ctx.tenant_id(),
        POLICIES_KIND,
        SETTINGS_ID,
        &value,
        &time::now(),
    )
    .await?;
    Ok(Reply::json(value))
}

// ---- WebAuthn settings (not in the spec) ----------------------------------------------------

/// `GET`/`PUT /api/v2/guardian/factors/{name}/settings` for the two WebAuthn factors: routed here
/// before the spine (which answers every other path, `duo/settings` included).
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/v2/guardian/factors/{name}/settings",
        any(factor_settings),
    )
}

/// What a WebAuthn factor's settings show before they are written (recorded).
fn webauthn_defaults(name: &str) -> Value {
    if name == "webauthn-roaming" {
        json!({"userVerification": "required", "overrideRelyingParty": false})
    } else {
        json!({"overrideRelyingParty": false})
    }
}

/// The fields each WebAuthn factor's settings take, and what each must be.
fn check_webauthn(name: &str, body: &Value) -> Result<Map<String, Value>, Error> {
    let Value::Object(o) = body else {
        return Err(Error::bad_body(
            "Payload validation error: 'Expected type object'.",
        ));
    };
    for (k, v) in o {
        let ok = match k.as_str() {
            "userVerification" if name == "webauthn-roaming" => v
                .as_str()
                .is_some_and(|s| ["discouraged", "preferred", "required"].contains(&s)),
            "overrideRelyingParty" => v.is_boolean(),
            "relyingPartyIdentifier" => v.is_null() || v.as_str().is_some_and(|s| s.len() <= 1000),
            _ => {
                return Err(Error::bad_body(format!(
                    "Payload validation error: 'Additional properties not allowed: {k}'."
                )));
            }
        };
        if !ok {
            return Err(Error::bad_body(format!(
                "Payload validation error: 'Invalid value for {k}'."
            )));
        }
    }
    Ok(o.clone())
}

async fn factor_settings(
    State(state): State<AppState>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    if name != "webauthn-roaming" && name != "webauthn-platform" {
        return spine::dispatch(State(state), req).await;
    }
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, spine::MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return spine::error_response(&Error::bad_body("Request body too large"));
        }
    };
    match webauthn_settings(&state, &parts.method, &parts.headers, &name, &body).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) if e.is_transient() => spine::error_response(&e.exhausted()),
        Err(e) => spine::error_response(&e),
    }
}

async fn webauthn_settings(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    name: &str,
    body: &Bytes,
) -> Result<Value, Error> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let tenant = state.tenant_for_host(host);
    let authz = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok());
    let principal = auth::authenticate(&state.token_cache, &tenant, authz)?;
    let (db, tenant) = (&state.db, tenant.id.as_str());
    let shown = |stored: Option<Value>| {
        let mut v = webauthn_defaults(name);
        if let Some(s) = stored {
            merge(&mut v, &s, Merge::Deep);
        }
        v
    };
    match *method {
        Method::GET => {
            auth::check_scopes(&principal, Op::GetFactors.info().scopes)?;
            Ok(shown(docs::get(db, tenant, WEBAUTHN_KIND, name).await?))
        }
        Method::PUT => {
            let result: Result<Value, Error> = async {
                auth::check_scopes(&principal, Op::PutFactorsByName.info().scopes)?;
                let parsed: Value = serde_json::from_slice(body)
                    .map_err(|e| Error::bad_body(format!("Invalid JSON: {e}")))?;
                let given = without_nulls(&Value::Object(check_webauthn(name, &parsed)?));
                docs::put(db, tenant, WEBAUTHN_KIND, name, &given, &time::now()).await?;
                Ok(shown(Some(given)))
            }
            .await;
            // Logged as the spine logs every other Management API write.
            let (code, status, error) = match &result {
                Ok(_) => ("sapi", 200, None),
                Err(e) => ("fapi", e.status().as_u16(), Some(e.public_message())),
            };
            let mut response = json!({"statusCode": status});
            if let Some(e) = error {
                response["error"] = json!(e);
            }
            let entry = crate::logs::Entry::new(code, "Update a WebAuthn factor's settings")
                .set("client_id", principal.client_id.clone())
                .details(json!({
                    "request": {
                        "method": "put",
                        "path": format!("/api/v2/guardian/factors/{name}/settings"),
                        "channel": "api",
                        "auth": {"strategy": "jwt", "credentials": {"client_id": principal.client_id}},
                    },
                    "response": response,
                }));
            state.logs.record(tenant, entry).await;
            result
        }
        _ => Err(Error::RouteNotFound),
    }
}

/// The tenant's WebAuthn settings for `name` (`webauthn-roaming` or `webauthn-platform`) as they
/// apply now: what was written over the defaults.
pub async fn webauthn(
    x: &impl gatehouse_store::Exec,
    tenant: &str,
    name: &str,
) -> Result<Value, Error> {
    let mut v = webauthn_defaults(name);
    if let Some(s) = docs::get(x, tenant, WEBAUTHN_KIND, name).await? {
        merge(&mut v, &s, Merge::Deep);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apns_is_enabled_with_a_bundle_and_a_certificate() {
        let mut v = json!({"bundle_id": "com.x", "sandbox": true});
        apns_enabled(&mut v);
        assert_eq!(v["enabled"], false);
        v["p12"] = json!("cert");
        apns_enabled(&mut v);
        assert_eq!(v["enabled"], true);
    }

    #[test]
    fn webauthn_settings_are_checked() {
        assert!(
            check_webauthn(
                "webauthn-roaming",
                &json!({"userVerification": "preferred"})
            )
            .is_ok()
        );
        assert!(
            check_webauthn(
                "webauthn-platform",
                &json!({"userVerification": "preferred"})
            )
            .is_err()
        );
        assert!(
            check_webauthn("webauthn-roaming", &json!({"userVerification": "always"})).is_err()
        );
        assert!(
            check_webauthn("webauthn-roaming", &json!({"overrideRelyingParty": "yes"})).is_err()
        );
        assert!(check_webauthn("webauthn-roaming", &json!([])).is_err());
    }

    #[test]
    fn factors_in_auth0s_order() {
        // As every recorded GET /guardian/factors lists them.
        assert_eq!(
            FACTORS,
            [
                "sms",
                "push-notification",
                "otp",
                "email",
                "duo",
                "webauthn-roaming",
                "webauthn-platform",
                "recovery-code"
            ]
        );
    }
}
