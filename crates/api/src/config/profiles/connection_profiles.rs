//! Tag `connection-profiles`: the settings an organization's enterprise connections take
//! (name prefix, organization behaviour, features, connection options). As Auth0 answers,
//! `connection_config` and `strategy_overrides` not given show as `null` (recorded:
//! TestAccClientMyOrganizationConfiguration#0, TestAccConnectionProfileDataSource#0).
//!
//! Templates: no catalogue of Auth0's connection-profile templates is recorded anywhere, so
//! Gatehouse lists none and knows none (rather than invent any).

use serde_json::{Value, json};

use gatehouse_core::Error;
use gatehouse_spec::Op;

use super::super::collection::{COLLECTION, Collection, Listing};
use super::time_ordered_id;
use crate::spine::{Ctx, Input, Registry, Reply};

pub static PROFILES: Collection = Collection {
    kind: "connection_profile",
    new_id,
    list: Some(Op::GetConnectionProfiles),
    create: Some(Op::PostConnectionProfiles),
    get: Some(Op::GetConnectionProfilesById),
    patch: Some(Op::PatchConnectionProfilesById),
    delete: Some(Op::DeleteConnectionProfilesById),
    listing: Listing::Checkpoint,
    list_key: "connection_profiles",
    check: Some(nulls_shown),
    timestamps: false,
    order: &[
        "id",
        "name",
        "organization",
        "connection_name_prefix_template",
        "enabled_features",
        "connection_config",
        "strategy_overrides",
    ],
    missing: no_profile,
    delete_missing_ok: true,
    ..COLLECTION
};

pub fn register(reg: &mut Registry) {
    PROFILES.register(reg);
    reg.add(Op::GetConnectionProfileTemplates, list_templates);
    reg.add(Op::GetConnectionProfileTemplate, get_template);
}

fn new_id() -> String {
    time_ordered_id("cop")
}

/// The message is not recorded (modelled on the user-attribute profiles' recorded one).
fn no_profile() -> Error {
    Error::NotFound("Connection profile not found.".into())
}

/// The members Auth0 shows as `null` when they are not set.
fn nulls_shown(v: &mut Value, _: Option<&Value>) -> Result<(), Error> {
    if let Value::Object(o) = v {
        for k in ["connection_config", "strategy_overrides"] {
            o.entry(k).or_insert(Value::Null);
        }
    }
    Ok(())
}

async fn list_templates(_: Ctx, _: Input) -> Result<Reply, Error> {
    Ok(Reply::json(json!({"connection_profile_templates": []})))
}

/// No template is known (the message is not recorded).
async fn get_template(_: Ctx, _: Input) -> Result<Reply, Error> {
    Err(Error::NotFound(
        "Connection profile template not found.".into(),
    ))
}
