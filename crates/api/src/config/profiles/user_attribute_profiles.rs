//! Tag `user-attribute-profiles`: how the user attributes of an enterprise connection map to an
//! Auth0 user (used by self-service SSO profiles). A profile's `user_id` mappings have Auth0's
//! defaults for each one not given (recorded: TestAccUserAttributeProfile#0, #5,
//! TestAccUserAttributeProfile_FieldRemoval#15); its attributes come back as sent. The templates
//! are Auth0's fixed catalogue, as recorded (go-auth0 TestUserAttributeProfileManager_ListTemplates).

use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use gatehouse_core::Error;
use gatehouse_spec::Op;

use super::super::collection::{COLLECTION, Collection, Listing};
use super::{ordered, time_ordered_id};
use crate::spine::{Ctx, Input, Registry, Reply};

pub static PROFILES: Collection = Collection {
    kind: "user_attribute_profile",
    new_id,
    list: Some(Op::GetUserAttributeProfiles),
    create: Some(Op::PostUserAttributeProfiles),
    get: Some(Op::GetUserAttributeProfilesById),
    patch: Some(Op::PatchUserAttributeProfilesById),
    delete: Some(Op::DeleteUserAttributeProfilesById),
    listing: Listing::Checkpoint,
    list_key: "user_attribute_profiles",
    check: Some(complete),
    timestamps: false,
    order: &["id", "name", "user_id", "user_attributes"],
    missing: no_profile,
    delete_missing_ok: true,
    ..COLLECTION
};

/// Auth0's catalogue of templates, as recorded in September 2025 (one template,
/// `auth0-generic`), served as stored.
static TEMPLATES: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("user_attribute_profile_templates.json"))
        .unwrap_or_else(|_| json!({"user_attribute_profile_templates": []}))
});

pub fn register(reg: &mut Registry) {
    PROFILES.register(reg);
    reg.add(Op::GetUserAttributeProfileTemplates, list_templates);
    reg.add(Op::GetUserAttributeProfileTemplate, get_template);
}

fn new_id() -> String {
    time_ordered_id("uap")
}

/// Recorded (go-auth0 TestUserAttributeProfileManager_Delete#2); no errorCode.
pub fn no_profile() -> Error {
    Error::NotFound("User attribute profile not found.".into())
}

/// The `user_id` mappings Auth0 gives a profile for each one not sent (recorded:
/// TestAccUserAttributeProfile#0).
fn default_user_id() -> Map<String, Value> {
    let v = json!({
        "oidc_mapping": "sub",
        "saml_mapping": [
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
        ],
        "scim_mapping": "externalId"
    });
    v.as_object().cloned().unwrap_or_default()
}

const USER_ID_ORDER: &[&str] = &[
    "oidc_mapping",
    "saml_mapping",
    "scim_mapping",
    "strategy_overrides",
];

const ATTRIBUTE_ORDER: &[&str] = &[
    "label",
    "description",
    "oidc_mapping",
    "saml_mapping",
    "scim_mapping",
    "auth0_mapping",
    "profile_required",
    "strategy_overrides",
];

/// Fills the `user_id` mappings not given with Auth0's defaults (a PATCH's `user_id` replaces the
/// stored one, then the defaults fill it again: recorded TestAccUserAttributeProfile#5), and puts
/// keys in Auth0's order.
fn complete(v: &mut Value, _: Option<&Value>) -> Result<(), Error> {
    let Value::Object(o) = v else { return Ok(()) };
    let mut user_id = o
        .get("user_id")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (k, d) in default_user_id() {
        user_id.entry(k).or_insert(d);
    }
    ordered(&mut user_id, USER_ID_ORDER);
    o.insert("user_id".into(), Value::Object(user_id));
    if let Some(Value::Object(attrs)) = o.get_mut("user_attributes") {
        for a in attrs.values_mut() {
            if let Value::Object(a) = a {
                ordered(a, ATTRIBUTE_ORDER);
            }
        }
    }
    Ok(())
}

async fn list_templates(_: Ctx, _: Input) -> Result<Reply, Error> {
    Ok(Reply::json(TEMPLATES.clone()))
}

/// A template of the catalogue, as its list shows it (recorded: go-auth0
/// TestUserAttributeProfileManager_GetTemplate#1). The 404's message is not recorded.
async fn get_template(_: Ctx, input: Input) -> Result<Reply, Error> {
    let id = input.path("id");
    TEMPLATES
        .get("user_attribute_profile_templates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|t| t.get("id").and_then(Value::as_str) == Some(id))
        .cloned()
        .map(Reply::json)
        .ok_or_else(|| Error::NotFound("User attribute profile template not found.".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        let list = TEMPLATES["user_attribute_profile_templates"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["id"], "auth0-generic");
        assert_eq!(
            list[0]["template"]["user_attributes"]
                .as_object()
                .map(Map::len),
            Some(48)
        );
    }

    #[test]
    fn user_id_defaults_fill_what_is_missing() {
        let mut v =
            json!({"name": "n", "user_id": {"scim_mapping": "userName"}, "user_attributes": {}});
        complete(&mut v, None).unwrap();
        assert_eq!(v["user_id"]["scim_mapping"], "userName");
        assert_eq!(v["user_id"]["oidc_mapping"], "sub");
        assert_eq!(
            v["user_id"]["saml_mapping"].as_array().map(Vec::len),
            Some(3)
        );
        let mut v = json!({"name": "n", "user_attributes": {}});
        complete(&mut v, None).unwrap();
        assert_eq!(v["user_id"]["scim_mapping"], "externalId");
    }
}
