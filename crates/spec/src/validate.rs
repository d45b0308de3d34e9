//! JSON-schema validation of request bodies and parameters, compiled from the embedded spec on
//! first use of each operation. Messages follow Auth0's (z-schema) wording, e.g.
//! `Expected type string but found type integer`.

use std::sync::{Arc, OnceLock};

use jsonschema::{
    Registry, Resource, Validator,
    error::{TypeKind, ValidationErrorKind},
};
use serde_json::Value;

use crate::{OPERATIONS, Op};

const BASE: &str = "urn:gatehouse:management-api";

/// A validation failure: Auth0's wording and the dotted path of the property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub message: String,
    /// e.g. `jwt_configuration.lifetime_in_seconds` or `callbacks[0]`; empty at the root.
    pub path: String,
}

type Slot = OnceLock<Option<Arc<Validator>>>;

pub struct Validators {
    /// The whole spec (~2 MB parsed) as one registry resource, built once. Each validator is
    /// compiled against a clone of it: a clone shares the parsed document (`Arc`) and copies
    /// only the small index of identified resources, so a validator holds just its compiled
    /// tree, not a copy of the spec (which it used to: 3–4 MB per validator, hundreds after a
    /// fuzz over every operation).
    registry: Registry,
    bodies: Vec<Slot>,
    params: Vec<Vec<Slot>>,
}

impl std::fmt::Debug for Validators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Validators")
    }
}

fn absolute_refs(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if k == "$ref"
                    && let Value::String(s) = child
                    && s.starts_with("#/")
                {
                    *s = format!("{BASE}{s}");
                } else {
                    absolute_refs(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(absolute_refs),
        _ => {}
    }
}

impl Validators {
    /// Parses the embedded spec; fails only if the embedded spec itself is broken.
    pub fn new() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        // Every `$ref` of the spec points into `components/schemas`, and the operations'
        // schemas are compiled from their own text (OPERATIONS): only the components are
        // parsed and kept (the paths were a quarter of the parsed spec, held for good).
        #[derive(serde::Deserialize)]
        struct Components {
            components: Value,
        }
        let parsed: Components = serde_json::from_str(crate::SPEC_JSON)?;
        let mut spec = Value::Object(
            [("components".to_owned(), parsed.components)]
                .into_iter()
                .collect(),
        );
        recorded_corrections(&mut spec);
        drop_descriptions(&mut spec);
        let registry =
            Resource::from_contents(spec).and_then(|resource| Registry::try_new(BASE, resource))?;
        Ok(Self {
            registry,
            bodies: OPERATIONS.iter().map(|_| OnceLock::new()).collect(),
            params: OPERATIONS
                .iter()
                .map(|o| o.params.iter().map(|_| OnceLock::new()).collect())
                .collect(),
        })
    }

    fn compile(&self, schema_json: &str) -> Option<Arc<Validator>> {
        let mut schema: Value = serde_json::from_str(schema_json).ok()?;
        absolute_refs(&mut schema);
        format_only_one_of(&mut schema);
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .with_registry(self.registry.clone())
            .build(&schema)
            .ok()
            .map(Arc::new)
    }

    /// Validates a request body against the operation's schema.
    pub fn body(&self, op: Op, body: &Value) -> Result<(), ValidationError> {
        let info = op.info();
        let Some(schema) = info.body_schema else {
            return Ok(());
        };
        let v = self.bodies[op as usize].get_or_init(|| self.compile(schema));
        check(v.as_deref(), body, "")
    }

    /// Validates parameter `index` of the operation (already converted to its JSON type).
    pub fn param(&self, op: Op, index: usize, value: &Value) -> Result<(), ValidationError> {
        let info = op.info();
        let Some(p) = info.params.get(index) else {
            return Ok(());
        };
        let Some(slot) = self.params[op as usize].get(index) else {
            return Ok(());
        };
        let v = slot.get_or_init(|| self.compile(p.schema));
        check(v.as_deref(), value, p.name)
    }

    /// The declared JSON type of a parameter's schema (`integer`, `boolean`, `array`, …).
    pub fn param_type(op: Op, index: usize) -> Option<&'static str> {
        op.info().params.get(index).and_then(|p| p.ty)
    }
}

/// Request properties the real API accepts (as recorded in the cassettes) that the published
/// schemas lack; without them the schemas' `additionalProperties: false` would refuse them.
fn recorded_corrections(spec: &mut Value) {
    // (family, field, its schema in Create{family}RequestContent, in Update{family}RequestContent;
    // "" where the field is not accepted)
    const ADDED: &[(&str, &str, &str, &str)] = &[
        // A rule's execution stage, set when it is made (auth0-deploy-cli sends it on create
        // and strips it from updates: "Fields not allowed in updates").
        (
            "Rule",
            "stage",
            r#"{"type":"string","enum":["login_success","login_failure","pre_authorize"]}"#,
            "",
        ),
        (
            "ResourceServer",
            "token_lifetime_for_web",
            r#"{"type":"integer","minimum":0,"maximum":2592000}"#,
            r#"{"type":"integer","minimum":0,"maximum":2592000}"#,
        ),
        (
            "ResourceServer",
            "allow_online_access_with_ephemeral_sessions",
            r#"{"type":"boolean"}"#,
            r#"{"type":"boolean"}"#,
        ),
        (
            "Client",
            "token_vault_privileged_access",
            r#"{"type":"object"}"#,
            r#"{"type":["object","null"]}"#,
        ),
        // Sent by the Terraform provider (recorded: TestAccClientFedCMLogin,
        // TestAccClientIdentityAssertionAuthorizationGrant) and accepted by Auth0.
        (
            "Client",
            "fedcm_login",
            r#"{"type":"object"}"#,
            r#"{"type":["object","null"]}"#,
        ),
        (
            "Client",
            "identity_assertion_authorization_grant",
            r#"{"type":"object"}"#,
            r#"{"type":["object","null"]}"#,
        ),
        // Sent by the Terraform provider (recorded: TestAccConnectionCrossAppAccessRequestingApp).
        (
            "Connection",
            "cross_app_access_requesting_app",
            r#"{"type":"object"}"#,
            r#"{"type":["object","null"]}"#,
        ),
        // Sent by the Terraform provider (recorded: TestAccConnectionOIDCMetadata, a samlp
        // connection with `{"status": "enabled"}`).
        (
            "Connection",
            "cross_app_access_resource_app",
            r#"{"type":"object"}"#,
            r#"{"type":["object","null"]}"#,
        ),
        // Sent by the Terraform provider and accepted by Auth0 (recorded:
        // TestAccOrganizationIsAppEntitlementActive, TestAccOrganizationThirdPartyClientAccess,
        // TestAccDataSourceClientGrantOrganizations).
        (
            "Organization",
            "is_app_entitlement_active",
            r#"{"type":"boolean"}"#,
            r#"{"type":"boolean"}"#,
        ),
        (
            "Organization",
            "third_party_client_access",
            r#"{"type":"string","enum":["block","allow"]}"#,
            r#"{"type":"string","enum":["block","allow"]}"#,
        ),
        // go-auth0 (v1) `ResourceServer` sends these when set: `VerificationLocation string`
        // and `Options map[string]string`.
        (
            "ResourceServer",
            "verificationLocation",
            r#"{"type":"string"}"#,
            r#"{"type":"string"}"#,
        ),
        (
            "ResourceServer",
            "options",
            r#"{"type":"object","additionalProperties":{"type":"string"}}"#,
            r#"{"type":"object","additionalProperties":{"type":"string"}}"#,
        ),
        // Organization roles (Auth0 early access; recorded: TestAccRoleOrganizationLevel,
        // TestAccDataSourceOrganizationRole; node `auth0` v7's CreateRoleRequestContent). The
        // kind of a role is set at creation only.
        (
            "Role",
            "type",
            r#"{"type":"string","enum":["tenant","organization"]}"#,
            "",
        ),
        ("Role", "owner_id", r#"{"type":"string","minLength":1}"#, ""),
        // Session lifetimes in minutes instead of hours: sent by auth0-deploy-cli (8.x converts
        // the hours of its tenant file) and by go-auth0 v3 (`SessionLifetimeInMinutes`…).
        (
            "TenantSettings",
            "session_lifetime_in_minutes",
            "",
            r#"{"type":"integer","minimum":1}"#,
        ),
        (
            "TenantSettings",
            "idle_session_lifetime_in_minutes",
            "",
            r#"{"type":"integer","minimum":1}"#,
        ),
        (
            "TenantSettings",
            "ephemeral_session_lifetime_in_minutes",
            "",
            r#"{"type":"integer","minimum":1}"#,
        ),
        (
            "TenantSettings",
            "idle_ephemeral_session_lifetime_in_minutes",
            "",
            r#"{"type":"integer","minimum":1}"#,
        ),
        // Shown by GET (recorded: `{}` or `{"colors": {…}}`) and so written back by
        // auth0-deploy-cli, whose list of read-only tenant fields does not have it: Auth0 takes it.
        (
            "TenantSettings",
            "universal_login",
            "",
            r#"{"type":"object","properties":{"colors":{"type":"object","additionalProperties":{"type":"string"}}}}"#,
        ),
        // Sent by the Terraform provider and accepted by Auth0 (recorded:
        // TestAccTenant_CountryCodes, TestAccTenant_DefaultRedirectionURI).
        (
            "TenantSettings",
            "country_codes",
            "",
            r#"{"type":"object","properties":{"list":{"type":"array","items":{"type":"string"}},"mode":{"type":"string"}}}"#,
        ),
    ];
    // Properties of shared schemas (by name), as above.
    const ADDED_NESTED: &[(&str, &str, &str)] = &[
        // Sent by the Terraform provider and accepted by Auth0 (recorded: TestAccTenant_Main).
        (
            "TenantSettingsFlags",
            "use_scope_descriptions_for_consent",
            r#"{"type":"boolean"}"#,
        ),
        // The third stage Auth0 shows (recorded: TestAccAttackProtectionBotDetection and the
        // other attack-protection recordings) and so writes back (auth0-deploy-cli's import).
        (
            "SuspiciousIPThrottlingStage",
            "pre-custom-token-exchange",
            r#"{"type":"object","additionalProperties":false,"properties":{"max_attempts":{"type":"integer","minimum":1},"rate":{"type":"integer","minimum":1}}}"#,
        ),
        // A webhook event stream's credentials: written (recorded: TestAccEventStream,
        // TestAccEventStreamCustomHeader), never shown, so missing from the spec's schemas,
        // which are the replies' as well.
        (
            "EventStreamWebhookBearerAuth",
            "token",
            r#"{"type":"string","minLength":1}"#,
        ),
        (
            "EventStreamWebhookBasicAuth",
            "password",
            r#"{"type":"string","minLength":1}"#,
        ),
        (
            "EventStreamWebhookCustomHeaderAuth",
            "header_value",
            r#"{"type":"string","minLength":1}"#,
        ),
    ];
    for (schema, prop, def) in ADDED_NESTED {
        if let (Some(props), Ok(def)) = (
            spec.pointer_mut(&format!("/components/schemas/{schema}/properties"))
                .and_then(Value::as_object_mut),
            serde_json::from_str::<Value>(def),
        ) {
            props.entry((*prop).to_owned()).or_insert(def);
        }
    }
    network_acl_match(spec);
    format_only_one_of(spec);
    // `html-color` is not a format the validator knows (formats are annotations in draft
    // 2020-12): give it the pattern of the spec's own theme colours (hex, 3, 4, 6 or 8 digits).
    html_colors(spec);
    // A plain IPv4 address is also a CIDR block when `cidr` is not a format the validator
    // knows: the allow-list item's `oneOf` would refuse every address (recorded as accepted:
    // TestAccAttackProtectionBotDetection). Any of the branches will do.
    if let Some(obj) = spec
        .pointer_mut("/components/schemas/BotDetectionIPAddressOrCidrBlock")
        .and_then(Value::as_object_mut)
        && let Some(branches) = obj.remove("oneOf")
    {
        obj.insert("anyOf".into(), branches);
    }
    // Properties that also take `null` (as "not set"), where the schema does not say so.
    const NULLABLE: &[(&str, &str)] = &[
        // A connection profile shows `null` for these when they are not set, and
        // auth0-deploy-cli writes what it exported back (its schema: object or null).
        ("CreateConnectionProfileRequestContent", "connection_config"),
        (
            "CreateConnectionProfileRequestContent",
            "strategy_overrides",
        ),
        ("UpdateConnectionProfileRequestContent", "connection_config"),
        (
            "UpdateConnectionProfileRequestContent",
            "strategy_overrides",
        ),
    ];
    for (schema, prop) in NULLABLE {
        if let Some(def) =
            spec.pointer_mut(&format!("/components/schemas/{schema}/properties/{prop}"))
        {
            let inner = def.take();
            *def = serde_json::json!({"anyOf": [inner, {"type": "null"}]});
        }
    }
    // A rendering filter names a client, domain or organization by `id`, by `metadata`, or by
    // both: Auth0 accepts (and echoes) both together (recorded: go-auth0
    // TestPromptManager_ListRendering, a client filter `{"id": …, "metadata": {…}}`), which the
    // spec's `oneOf` of two closed schemas refuses.
    for kind in ["Client", "Domain", "Organization"] {
        if let Some(def) = spec.pointer_mut(&format!("/components/schemas/Acul{kind}Filter")) {
            *def = serde_json::json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "id": {"type": "string"},
                    "metadata": {"$ref": format!("#/components/schemas/Acul{kind}Metadata")}
                },
                "anyOf": [{"required": ["id"]}, {"required": ["metadata"]}]
            });
        }
    }
    for (family, prop, create, update) in ADDED {
        for (schema, def) in [("Create", create), ("Update", update)] {
            if let (Some(props), Ok(def)) = (
                spec.pointer_mut(&format!(
                    "/components/schemas/{schema}{family}RequestContent/properties"
                ))
                .and_then(Value::as_object_mut),
                serde_json::from_str::<Value>(def),
            ) {
                props.entry((*prop).to_owned()).or_insert(def);
            }
        }
    }
}

/// A `oneOf` whose branches differ only by `format` (`ipv4` or `cidr`, `ipv4` or `ipv6`):
/// formats are annotations to this validator, so every string passes every branch and the
/// `oneOf` refuses it. Any branch will do (the families check the syntax themselves).
fn format_only_one_of(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let format_only = map.get("oneOf").and_then(Value::as_array).is_some_and(|b| {
                b.iter().all(|branch| {
                    branch.as_object().is_some_and(|o| {
                        o.contains_key("format") && o.keys().all(|k| k == "format" || k == "type")
                    })
                })
            });
            if format_only && let Some(branches) = map.remove("oneOf") {
                map.insert("anyOf".into(), branches);
            }
            map.values_mut().for_each(format_only_one_of);
        }
        Value::Array(items) => items.iter_mut().for_each(format_only_one_of),
        _ => {}
    }
}

/// Network ACL conditions as Auth0 checks them: the curated lists (`auth0_managed`, recorded:
/// TestAccNetworkACLAuth0Managed*, missing from the spec), no list with a value twice
/// (recorded: TestAccNetworkACLAuth0ManagedAPIRejections), and at most 10 values per list (20
/// for host names and connecting IPs), the limits of the Terraform provider's schema.
fn network_acl_match(spec: &mut Value) {
    let Some(props) = spec
        .pointer_mut("/components/schemas/NetworkAclMatch/properties")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    props.entry("auth0_managed").or_insert_with(
        || serde_json::json!({"type": "array", "items": {"type": "string"}, "minItems": 1}),
    );
    for (name, list) in props.iter_mut() {
        if let Some(o) = list.as_object_mut() {
            let most = match name.as_str() {
                "hostnames" | "connecting_ipv4_cidrs" | "connecting_ipv6_cidrs" => 20,
                _ => 10,
            };
            o.insert("uniqueItems".into(), Value::Bool(true));
            o.entry("maxItems").or_insert(Value::from(most));
        }
    }
}

/// Adds the hex-colour pattern to every schema of format `html-color` or `html-color-or-null`
/// (a `null` is still allowed where the type says so: a pattern only applies to strings).
fn html_colors(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if matches!(
                map.get("format").and_then(Value::as_str),
                Some("html-color" | "html-color-or-null")
            ) {
                map.entry("pattern").or_insert_with(|| {
                    Value::String("^#(([0-9a-fA-F]{3}){1,2}|([0-9a-fA-F]{4}){1,2})$".to_owned())
                });
            }
            map.values_mut().for_each(html_colors);
        }
        Value::Array(items) => items.iter_mut().for_each(html_colors),
        _ => {}
    }
}

/// Removes the `description` annotations (text for humans; a *property* named `description`
/// is an object schema and stays) and `x-…` extensions: validation reads neither.
fn drop_descriptions(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|k, child| {
                !(k.starts_with("x-") || (k == "description" && child.is_string()))
            });
            map.values_mut().for_each(drop_descriptions);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_descriptions),
        _ => {}
    }
}

fn check(v: Option<&Validator>, instance: &Value, root: &str) -> Result<(), ValidationError> {
    let Some(v) = v else { return Ok(()) };
    match v.validate(instance) {
        Ok(()) => Ok(()),
        Err(e) => {
            let mut path = root.to_owned();
            for seg in e.instance_path.to_string().split('/').skip(1) {
                let seg = seg.replace("~1", "/").replace("~0", "~");
                if seg.parse::<usize>().is_ok() && !path.is_empty() {
                    path.push_str(&format!("[{seg}]"));
                } else {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&seg);
                }
            }
            Err(ValidationError {
                message: message(&e.kind, &e.instance),
                path,
            })
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The indexes of the first two equal items of an array.
fn first_duplicate(v: &Value) -> Option<(usize, usize)> {
    let items = v.as_array()?;
    items
        .iter()
        .enumerate()
        .find_map(|(j, b)| items[..j].iter().position(|a| a == b).map(|i| (i, j)))
}

/// z-schema's wording, which Auth0's messages quote.
fn message(kind: &ValidationErrorKind, instance: &Value) -> String {
    use ValidationErrorKind as K;
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    match kind {
        K::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(set) => set
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            };
            format!(
                "Expected type {expected} but found type {}",
                type_name(instance)
            )
        }
        K::AdditionalProperties { unexpected } | K::UnevaluatedProperties { unexpected } => {
            format!(
                "Additional properties not allowed: {}",
                unexpected.join(",")
            )
        }
        K::Required { property } => {
            format!(
                "Missing required property: {}",
                property.as_str().unwrap_or_default()
            )
        }
        K::MinLength { limit } => format!(
            "String is too short ({} chars), minimum {limit}",
            len(instance)
        ),
        K::MaxLength { limit } => format!(
            "String is too long ({} chars), maximum {limit}",
            len(instance)
        ),
        K::Pattern { pattern } => format!(
            "String does not match pattern {pattern}: {}",
            instance.as_str().unwrap_or_default()
        ),
        K::Enum { .. } | K::Constant { .. } => format!("No enum match for: {instance}"),
        K::Minimum { limit } | K::ExclusiveMinimum { limit } => {
            format!("Value {instance} is less than minimum {limit}")
        }
        K::Maximum { limit } | K::ExclusiveMaximum { limit } => {
            format!("Value {instance} is greater than maximum {limit}")
        }
        K::MinItems { limit } => format!(
            "Array is too short ({}), minimum {limit}",
            instance.as_array().map_or(0, Vec::len)
        ),
        K::MaxItems { limit } => format!(
            "Array is too long ({}), maximum {limit}",
            instance.as_array().map_or(0, Vec::len)
        ),
        K::UniqueItems => match first_duplicate(instance) {
            Some((a, b)) => format!("Array items are not unique (indexes {a} and {b})"),
            None => "Array items are not unique".to_owned(),
        },
        K::MinProperties { limit } => format!("Too few properties defined, minimum {limit}"),
        K::MaxProperties { limit } => format!("Too many properties defined, maximum {limit}"),
        K::Format { format } => format!(
            "Object didn't pass validation for format {format}: {}",
            instance.as_str().unwrap_or_default()
        ),
        K::AnyOf => "Data does not match any schemas from 'anyOf'".to_owned(),
        K::OneOfNotValid => "Data does not match any schemas from 'oneOf'".to_owned(),
        K::OneOfMultipleValid => {
            "Data is valid against more than one schema from 'oneOf'".to_owned()
        }
        K::Not { .. } => "Data matches schema from 'not'".to_owned(),
        K::MultipleOf { multiple_of } => {
            format!("Value {instance} is not a multiple of {multiple_of}")
        }
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn body_errors_name_the_property() {
        let v = Validators::new().unwrap();
        assert!(v.body(Op::PostClients, &json!({"name": "x"})).is_ok());
        let e = v.body(Op::PostClients, &json!({"name": 5})).unwrap_err();
        assert_eq!(e.path, "name");
        assert_eq!(e.message, "Expected type string but found type integer");
        let e = v
            .body(Op::PostClients, &json!({"name": "x", "bogus": 1}))
            .unwrap_err();
        assert_eq!(e.message, "Additional properties not allowed: bogus");
        let e = v
            .body(Op::PostClients, &json!({"name": "x", "callbacks": [1]}))
            .unwrap_err();
        assert_eq!(e.path, "callbacks[0]");
    }

    /// A schema that fails to compile validates nothing (`compile` gives `None`): every body
    /// and parameter schema of the spec must compile against the shared registry.
    #[test]
    fn every_schema_compiles() {
        let v = Validators::new().unwrap();
        let mut failed = Vec::new();
        for info in &OPERATIONS {
            // The branding theme's URL `pattern` (`[\w-\.…]`, a JavaScript regex) is not a
            // valid regex for the validator: known, and these operations are not implemented.
            let known = ["post_branding_theme", "patch_branding_theme"].contains(&info.id);
            if let Some(schema) = info.body_schema
                && !known
                && v.compile(schema).is_none()
            {
                failed.push(format!("{} body", info.id));
            }
            for p in info.params {
                if v.compile(p.schema).is_none() {
                    failed.push(format!("{} {}", info.id, p.name));
                }
            }
        }
        assert!(failed.is_empty(), "not compiled: {failed:?}");
    }

    #[test]
    fn recorded_properties_are_accepted() {
        let v = Validators::new().unwrap();
        let body = json!({"identifier": "https://a", "token_lifetime_for_web": 3600, "allow_online_access_with_ephemeral_sessions": true});
        assert!(v.body(Op::PostResourceServers, &body).is_ok());
        let e = v
            .body(
                Op::PatchResourceServersById,
                &json!({"token_lifetime_for_web": "x"}),
            )
            .unwrap_err();
        assert_eq!(e.path, "token_lifetime_for_web");
        assert!(
            v.body(
                Op::PatchResourceServersById,
                &json!({"identifier": "https://b"})
            )
            .is_err()
        );
    }

    #[test]
    fn sdk_fields_are_accepted_with_their_types() {
        let v = Validators::new().unwrap();
        let ok = |op: Op, body: Value| assert!(v.body(op, &body).is_ok(), "{op:?} {body}");
        let bad = |op: Op, body: Value| assert!(v.body(op, &body).is_err(), "{op:?} {body}");
        let client = json!({"name": "a", "fedcm_login": {"google": {"is_enabled": true}},
            "identity_assertion_authorization_grant": {"active": true}});
        ok(Op::PostClients, client);
        ok(
            Op::PatchClientsById,
            json!({"fedcm_login": null, "identity_assertion_authorization_grant": null}),
        );
        bad(Op::PostClients, json!({"name": "a", "fedcm_login": true}));
        ok(
            Op::PostConnections,
            json!({"name": "a", "strategy": "oidc", "cross_app_access_requesting_app": {"active": true}}),
        );
        ok(
            Op::PatchConnectionsById,
            json!({"cross_app_access_requesting_app": {"active": false}}),
        );
        bad(
            Op::PatchConnectionsById,
            json!({"cross_app_access_requesting_app": "yes"}),
        );
        ok(
            Op::PostConnections,
            json!({"name": "a", "strategy": "samlp", "cross_app_access_resource_app": {"status": "enabled"}}),
        );
        ok(
            Op::PostResourceServers,
            json!({"identifier": "https://a", "verificationLocation": "x", "options": {"k": "v"}}),
        );
        bad(Op::PatchResourceServersById, json!({"options": {"k": 1}}));
    }

    #[test]
    fn param_errors() {
        let v = Validators::new().unwrap();
        let idx = Op::GetClients
            .info()
            .params
            .iter()
            .position(|p| p.name == "per_page")
            .unwrap();
        assert!(v.param(Op::GetClients, idx, &json!(10)).is_ok());
        let e = v.param(Op::GetClients, idx, &json!(-1)).unwrap_err();
        assert_eq!(e.path, "per_page");
    }
}
